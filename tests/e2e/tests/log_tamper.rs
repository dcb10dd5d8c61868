//! Tamper tests on a log written by the real daemon: each kind of tampering is reported by
//! `nightjarctl log verify` with the first bad seq, the daemon refuses to start on it, and a clean
//! log verifies.
#![allow(clippy::unwrap_used, reason = "test helpers abort on any failure")]

use std::path::Path;

use e2e::{Control, Home, stdout};
use serde_json::json;

/// A stopped daemon's home with 14 events: DaemonStarted, ConfigLoaded, 10 Checkpointed,
/// DaemonStopped, Checkpointed (the checkpoint file points at seq 13).
fn written_log() -> Home {
    let home = Home::new();
    let daemon = home.start_daemon(&[]);
    let mut control = Control::connect(&home.socket()).unwrap();
    for _ in 0..10 {
        let response = control.call(json!({"request": "checkpoint"})).unwrap();
        assert_eq!(response["response"], "checkpoint", "{response}");
    }
    assert!(daemon.stop().success());
    home
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

fn with_events(home: &Home, f: impl FnOnce(&sled::Tree)) {
    let db = sled::open(home.log_dir()).unwrap();
    let tree = db.open_tree("events").unwrap();
    f(&tree);
    db.flush().unwrap();
}

fn key(seq: u64) -> [u8; 8] {
    seq.to_be_bytes()
}

#[test]
fn every_kind_of_tampering_is_reported_with_the_first_bad_seq() {
    let original = written_log();
    let clean = original.ctl(&["log", "verify"]);
    assert_eq!(clean.status.code(), Some(0), "{}", stdout(&clean));
    assert!(
        stdout(&clean).contains("14 events verified"),
        "{}",
        stdout(&clean)
    );

    type Tamper = fn(&sled::Tree);
    let cases: [(&str, Tamper, u64, &str); 5] = [
        (
            "change one byte",
            |t| {
                let mut value = t.get(key(5)).unwrap().unwrap().to_vec();
                let at = value.windows(7).position(|w| w == b"\"count\"").unwrap() + 8;
                value[at] = if value[at] == b'9' { b'8' } else { b'9' };
                t.insert(key(5), value).unwrap();
            },
            5,
            "hash mismatch",
        ),
        (
            "delete one in the middle",
            |t| {
                t.remove(key(6)).unwrap();
            },
            6,
            "missing event",
        ),
        (
            "reorder two",
            |t| {
                let a = t.get(key(7)).unwrap().unwrap();
                let b = t.get(key(8)).unwrap().unwrap();
                t.insert(key(7), b).unwrap();
                t.insert(key(8), a).unwrap();
            },
            7,
            "seq out of place",
        ),
        (
            "delete the newest (tail truncation)",
            |t| {
                for seq in 10..14 {
                    t.remove(key(seq)).unwrap();
                }
            },
            10,
            "log truncated before checkpoint",
        ),
        (
            "delete only the newest one",
            |t| {
                t.remove(key(13)).unwrap();
            },
            13,
            "log truncated before checkpoint",
        ),
    ];
    for (name, tamper, first_bad, kind) in cases {
        let home = Home::new();
        copy_dir(&original.state_dir(), &home.state_dir());
        with_events(&home, tamper);

        let verify = home.ctl(&["log", "verify"]);
        let text = stdout(&verify);
        assert_eq!(verify.status.code(), Some(2), "{name}: {text}");
        assert!(
            text.contains(&format!("first bad seq {first_bad}: {kind}")),
            "{name}: {text}"
        );

        let json = home.ctl(&["log", "verify", "--json"]);
        let report: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
        assert_eq!(report["problem"]["seq"], first_bad, "{name}: {report}");

        // Start-up verifies from the newest checkpoint (DESIGN), so it catches what happened to
        // the tail: the daemon will not build on it unless told to.
        if first_bad >= 10 {
            let refused = home.command("nightjard").output().unwrap();
            assert!(
                !refused.status.success(),
                "{name}: daemon started on a truncated log"
            );
            let err = e2e::stderr(&refused);
            assert!(
                err.contains("failed verification") && err.contains(&format!("seq {first_bad}")),
                "{name}: {err}"
            );
        }
    }
}

#[test]
fn a_daemon_allowed_to_start_on_a_broken_log_records_the_anomaly() {
    let home = written_log();
    with_events(&home, |t| {
        t.remove(key(13)).unwrap();
    });
    let daemon = home.start_daemon(&["--allow-broken-log"]);
    let export = home.ctl(&["log", "export", "--from", "13"]);
    let first: serde_json::Value =
        serde_json::from_str(stdout(&export).lines().next().unwrap()).unwrap();
    assert_eq!(first["event_type"], "DaemonStarted");
    let anomaly = first["payload"]["log_anomaly"].as_str().unwrap();
    assert!(
        anomaly.contains("log truncated before checkpoint at seq 13"),
        "{anomaly}"
    );
    // Through the daemon, verification still names the break.
    let verify = home.ctl(&["log", "verify"]);
    assert_eq!(verify.status.code(), Some(2));
    assert!(stdout(&verify).contains("via nightjard"));
    assert!(
        stdout(&verify).contains("first bad seq 13"),
        "{}",
        stdout(&verify)
    );
    daemon.stop();
}
