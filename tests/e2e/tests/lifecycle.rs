//! Daemon lifecycle with the real binaries: single instance, config refused with line and
//! reason, clean shutdown on SIGTERM and SIGINT with a final checkpoint, tail -f, and export
//! identical through the daemon and offline.
#![allow(clippy::unwrap_used, reason = "test helpers abort on any failure")]

use std::io::{BufRead, BufReader};
use std::process::Stdio;

use e2e::{Control, Home, stderr, stdout};
use serde_json::json;

#[test]
fn a_second_daemon_on_the_same_state_is_refused_with_the_pid() {
    let home = Home::new();
    let daemon = home.start_daemon(&[]);
    let second = home.command("nightjard").output().unwrap();
    assert!(!second.status.success());
    let err = stderr(&second);
    assert!(
        err.contains(&format!("already running (pid {})", daemon.child.id())),
        "{err}"
    );
    daemon.stop();
}

#[test]
fn an_invalid_config_file_is_refused_at_start_with_line_and_reason() {
    let home = Home::new();
    std::fs::create_dir_all(home.config_dir()).unwrap();
    std::fs::write(
        home.config_dir().join("config.toml"),
        "[daemon]\nlog_filter = \"info\"\ncheckpoint_evry = 5\n",
    )
    .unwrap();
    let out = home.command("nightjard").output().unwrap();
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("line 3") && err.contains("unknown field `checkpoint_evry`"),
        "{err}"
    );
    assert!(err.contains("nightjarctl config default"), "{err}");

    // The printed default is a valid file.
    let default = home.ctl(&["config", "default"]);
    std::fs::write(home.config_dir().join("config.toml"), &default.stdout).unwrap();
    home.start_daemon(&[]).stop();
}

#[test]
fn sigterm_and_sigint_shut_down_cleanly_with_a_final_checkpoint() {
    for signal in [
        nix::sys::signal::Signal::SIGTERM,
        nix::sys::signal::Signal::SIGINT,
    ] {
        let home = Home::new();
        let mut daemon = home.start_daemon(&[]);
        nix::sys::signal::kill(daemon.pid(), signal).unwrap();
        assert!(daemon.child.wait().unwrap().success(), "{signal}");
        assert!(!home.socket().exists());
        let export = home.ctl(&["log", "export"]);
        let events: Vec<serde_json::Value> = stdout(&export)
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        let types: Vec<&str> = events
            .iter()
            .map(|e| e["event_type"].as_str().unwrap())
            .collect();
        assert_eq!(
            types,
            [
                "DaemonStarted",
                "ConfigLoaded",
                "DaemonStopped",
                "Checkpointed"
            ],
            "{signal}"
        );
        let checkpoint: serde_json::Value = serde_json::from_slice(
            &std::fs::read(home.state_dir().join("checkpoint.json")).unwrap(),
        )
        .unwrap();
        assert_eq!(checkpoint["seq"], 3);
        assert_eq!(checkpoint["head_hash"], events[3]["hash"]);
    }
}

#[test]
fn tail_follow_streams_new_events_and_export_is_the_same_online_and_offline() {
    let home = Home::new();
    let daemon = home.start_daemon(&[]);
    let mut tail = home
        .command("nightjarctl")
        .args(["log", "tail", "-f", "-n", "1"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(tail.stdout.take().unwrap()).lines();
    assert!(lines.next().unwrap().unwrap().contains("ConfigLoaded"));
    let mut control = Control::connect(&home.socket()).unwrap();
    let reply = control.call(json!({"request": "checkpoint"})).unwrap();
    let line = lines.next().unwrap().unwrap();
    assert!(line.contains("Checkpointed"), "{line}");
    assert!(
        line.trim_start()
            .starts_with(&reply["body"]["seq"].to_string()),
        "{line}"
    );
    let _ = tail.kill();
    let _ = tail.wait();

    let online = home.ctl(&["log", "export"]).stdout;
    daemon.stop();
    let offline = home.ctl(&["log", "export"]).stdout;
    assert!(
        offline.starts_with(&online),
        "offline export extends the online one byte for byte"
    );
    assert_eq!(String::from_utf8_lossy(&offline).lines().count(), 5);
}

#[test]
fn sandbox_mode_points_every_connector_at_the_embedded_tenant() {
    let home = Home::new();
    let daemon = home.start_daemon(&["--sandbox", "--seed", "7"]);
    let status: serde_json::Value =
        serde_json::from_slice(&home.ctl(&["status", "--json"]).stdout).unwrap();
    assert_eq!(status["sandbox"], true, "{status}");
    let base = status["sandbox_url"].as_str().unwrap().to_owned();
    assert!(base.starts_with("http://127.0.0.1:"), "{base}");
    let connectors = status["connectors"].as_array().unwrap();
    let products: Vec<&str> = connectors
        .iter()
        .map(|c| c["product"].as_str().unwrap())
        .collect();
    assert_eq!(products, ["manage", "asio", "sell", "screenconnect"]);
    for c in connectors {
        assert_eq!(c["configured"], true, "{c}");
        assert!(c["url"].as_str().unwrap().starts_with(&base), "{c}");
    }

    // The tenant really answers on loopback.
    let addr = base.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    use std::io::{Read, Write};
    write!(
        stream,
        "GET /__sandbox/health HTTP/1.0\r\nHost: {addr}\r\n\r\n"
    )
    .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    assert!(
        answer.starts_with("HTTP/1.0 200") && answer.contains(r#""ok":true"#),
        "{answer}"
    );

    // ConfigLoaded records the connectors, never their credentials.
    let export = stdout(&home.ctl(&["log", "export"]));
    assert!(export.contains(r#""event_type":"ConfigLoaded""#) && export.contains(&base));
    assert!(
        !export.contains("sandbox_priv") && !export.contains("sandbox_rmm_secret"),
        "credentials in the log"
    );
    assert!(daemon.stop().success());
}

#[test]
fn without_configuration_the_psa_connector_says_what_to_set() {
    let home = Home::new();
    let daemon = home.start_daemon(&[]);
    let status: serde_json::Value =
        serde_json::from_slice(&home.ctl(&["status", "--json"]).stdout).unwrap();
    assert_eq!(status["sandbox"], false);
    let manage = &status["connectors"][0];
    assert_eq!(
        (manage["product"].as_str(), manage["configured"].as_bool()),
        (Some("manage"), Some(false))
    );
    let problem = manage["problem"].as_str().unwrap();
    assert!(
        problem.contains("CW_API_URL") && problem.contains("CW_PRIVATE_KEY"),
        "{problem}"
    );
    daemon.stop();
}

#[test]
fn tracing_can_also_go_to_a_file_in_the_state_directory_with_secrets_redacted() {
    let home = Home::new();
    let canary = "zq-canary-private-key-7731";
    let mut cmd = home.command("nightjard");
    cmd.args(["--log-file", "nightjard.log"])
        .env("CW_PRIVATE_KEY", canary)
        .env("NIGHTJAR_LOG", "trace");
    let log = home.root.path().join("stderr.log");
    let mut child = cmd
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    for _ in 0..500 {
        if Control::connect(&home.socket()).is_ok() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    assert!(child.wait().unwrap().success());
    let file = std::fs::read_to_string(home.state_dir().join("nightjard.log")).unwrap();
    assert!(
        file.contains("nightjard ready") && file.contains("shutting down"),
        "{file}"
    );
    assert!(!file.contains('\u{1b}'), "no colour codes in the file");
    let stderr = std::fs::read_to_string(&log).unwrap();
    assert!(
        !file.contains(canary) && !stderr.contains(canary),
        "the configured secret reached tracing output"
    );
}
