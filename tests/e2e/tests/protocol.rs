//! The control protocol's edges: another protocol version is told "incompatible version" (by the
//! daemon to a raw client, and by nightjarctl to its user), never a hang or a panic; bad requests
//! get structured errors and the connection lives on.
#![allow(clippy::unwrap_used, reason = "test helpers abort on any failure")]

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixListener;
use std::time::{Duration, Instant};

use e2e::{Control, Home, stderr, stdout};
use serde_json::json;

#[test]
fn daemon_answers_another_protocol_version_with_incompatible_version_and_closes() {
    let home = Home::new();
    let daemon = home.start_daemon(&[]);
    for hello in [
        json!({"protocol_version": 999, "client": "future"}).to_string(),
        "not json at all".to_owned(),
    ] {
        let mut raw = Control::raw(&home.socket()).unwrap();
        raw.send_line(&hello).unwrap();
        let reply = raw.read_json().unwrap();
        assert_eq!(reply["error"]["kind"], "incompatible_version", "{reply}");
        assert!(
            reply["error"]["message"]
                .as_str()
                .unwrap()
                .contains("control protocol 1"),
            "{reply}"
        );
        assert!(
            raw.read_json().is_err(),
            "connection closed after the refusal"
        );
    }
    // The daemon is unharmed.
    assert!(home.ctl(&["status"]).status.success());
    daemon.stop();
}

#[test]
fn bad_requests_get_structured_errors_and_the_connection_continues() {
    let home = Home::new();
    let daemon = home.start_daemon(&[]);
    let mut control = Control::connect(&home.socket()).unwrap();
    for bad in [
        "{",
        r#"{"request":"launch_missiles"}"#,
        r#"{"request":"tail","from":"x"}"#,
        "[]",
    ] {
        control.send_line(bad).unwrap();
        let reply = control.read_json().unwrap();
        assert_eq!(reply["response"], "error", "{bad}: {reply}");
        assert_eq!(reply["body"]["kind"], "bad_request", "{bad}: {reply}");
    }
    let status = control.call(json!({"request": "status"})).unwrap();
    assert_eq!(status["response"], "status");
    assert_eq!(status["body"]["protocol_version"], 1);

    // An oversized line is refused and that connection closed; others are unaffected.
    // The daemon may close while the client is still writing (a broken pipe for the client, and
    // its error line may be lost to the reset); either way that connection ends with a
    // bad_request or nothing, and never with a success.
    let mut big = Control::connect(&home.socket()).unwrap();
    let sent = big.send_line(&"x".repeat(200 * 1024));
    match big.read_json() {
        Ok(reply) => assert_eq!(reply["body"]["kind"], "bad_request", "{reply}"),
        Err(e) => assert!(
            sent.is_err() || e.kind() != std::io::ErrorKind::WouldBlock,
            "{e}"
        ),
    }
    assert!(
        big.read_json().is_err(),
        "the oversized connection is closed"
    );
    assert!(control.call(json!({"request": "status"})).is_ok());
    daemon.stop();
}

/// A fake daemon on a socket that answers the hello with `reply` (or never answers).
fn fake_daemon(home: &Home, reply: Option<serde_json::Value>) -> std::thread::JoinHandle<String> {
    std::fs::create_dir_all(home.runtime_dir()).unwrap();
    let listener = UnixListener::bind(home.socket()).unwrap();
    std::thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let mut hello = String::new();
        reader.read_line(&mut hello).unwrap();
        match reply {
            Some(reply) => {
                let mut stream = stream;
                writeln!(stream, "{reply}").unwrap();
            }
            None => std::thread::sleep(Duration::from_secs(8)),
        }
        hello
    })
}

#[test]
fn nightjarctl_reports_an_incompatible_daemon_with_the_next_step() {
    let home = Home::new();
    let fake = fake_daemon(
        &home,
        Some(
            json!({"error": {"kind": "incompatible_version", "message": "nightjard 9.0.0 speaks control protocol 7"}}),
        ),
    );
    let out = home.ctl(&["status"]);
    let hello: serde_json::Value = serde_json::from_str(&fake.join().unwrap()).unwrap();
    assert_eq!(hello["protocol_version"], 1);
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("incompatible version") && err.contains("protocol 7"),
        "{err}"
    );
    assert!(
        err.contains("use the nightjarctl that came with the running nightjard"),
        "{err}"
    );
}

#[test]
fn nightjarctl_gives_up_on_a_silent_daemon_instead_of_hanging() {
    let home = Home::new();
    let _fake = fake_daemon(&home, None);
    let started = Instant::now();
    let out = home.ctl(&["status"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("did not answer"), "{}", stderr(&out));
    assert!(started.elapsed() < Duration::from_secs(8));
}

#[test]
fn nightjarctl_says_not_running_with_the_next_step() {
    let home = Home::new();
    let out = home.ctl(&["status"]);
    assert_eq!(out.status.code(), Some(3));
    assert!(
        stderr(&out).contains("nightjard is not running")
            && stderr(&out).contains("Start it with `nightjard`")
    );
    // Commands that need the daemon say so with the same exit code.
    for args in [&["log", "checkpoint"][..], &["log", "tail", "-f"][..]] {
        let out = home.ctl(args);
        assert_eq!(out.status.code(), Some(3), "{args:?}: {}", stderr(&out));
    }
    // Without a daemon, verification reads the state directory directly.
    let verify = home.ctl(&["log", "verify"]);
    assert_eq!(verify.status.code(), Some(0), "{}", stderr(&verify));
    assert!(stdout(&verify).contains("offline"));
}
