//! The control socket's protection: 0600 in a 0700 directory, and connections from another uid
//! refused (by the file permissions, and by the SO_PEERCRED check when the permissions are opened).
#![allow(clippy::unwrap_used, reason = "test helpers abort on any failure")]

use std::os::unix::fs::PermissionsExt;
use std::process::Command;

use e2e::{Home, bin, stderr};

fn mode(path: &std::path::Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn socket_is_0600_in_a_0700_directory() {
    let home = Home::new();
    let daemon = home.start_daemon(&[]);
    assert_eq!(mode(&home.socket()), 0o600);
    assert_eq!(mode(&home.runtime_dir()), 0o700);
    assert_eq!(mode(&home.state_dir()), 0o700);
    assert_eq!(mode(&home.state_dir().join("nightjard.pid")), 0o600);
    let status = daemon.stop();
    assert!(status.success());
    assert!(!home.socket().exists(), "socket file removed at shutdown");
}

#[test]
fn another_uid_is_refused() {
    if !nix::unistd::geteuid().is_root() {
        println!("skipped: needs root to run a client as another uid (setpriv)");
        return;
    }
    if Command::new("setpriv").arg("--version").output().is_err() {
        println!("skipped: setpriv (util-linux) is not installed");
        return;
    }
    let home = Home::new();
    let daemon = home.start_daemon(&[]);
    // A copy of nightjarctl that uid 65534 can execute.
    let shared = tempfile::Builder::new()
        .prefix("njbin")
        .tempdir_in("/tmp")
        .unwrap();
    std::fs::set_permissions(shared.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let ctl = shared.path().join("nightjarctl");
    std::fs::copy(bin("nightjarctl"), &ctl).unwrap();
    std::fs::set_permissions(&ctl, std::fs::Permissions::from_mode(0o755)).unwrap();
    let as_nobody = || {
        Command::new("setpriv")
            .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
            .arg(&ctl)
            .args(["status", "--runtime-dir"])
            .arg(home.runtime_dir())
            .env("HOME", shared.path())
            .output()
            .unwrap()
    };

    // 1. As created: the 0700 directory keeps the other user out.
    let denied = as_nobody();
    assert!(!denied.status.success());
    assert!(
        stderr(&denied).contains("ermission denied"),
        "{}",
        stderr(&denied)
    );

    // 2. Even with every permission opened, the daemon's peer-uid check refuses the connection.
    for dir in [home.root.path().to_owned(), home.runtime_dir()] {
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    std::fs::set_permissions(home.socket(), std::fs::Permissions::from_mode(0o666)).unwrap();
    let refused = as_nobody();
    assert!(!refused.status.success());
    assert!(
        stderr(&refused).contains("serves only its own user"),
        "{}",
        stderr(&refused)
    );
    assert!(
        daemon
            .stderr()
            .contains("refused a control connection from another user"),
        "{}",
        daemon.stderr()
    );

    // The owner is still served.
    assert!(home.ctl(&["status"]).status.success());
    daemon.stop();
}
