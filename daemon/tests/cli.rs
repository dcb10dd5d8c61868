//! `nightjard`'s flags, through the real binary (this test also makes cargo build `nightjard`
//! before the end-to-end suite runs).

use std::process::Command;

#[test]
fn version_and_help_describe_the_flags() {
    let bin = env!("CARGO_BIN_EXE_nightjard");
    let version = Command::new(bin)
        .arg("--version")
        .output()
        .expect("run nightjard");
    assert_eq!(
        String::from_utf8_lossy(&version.stdout).trim(),
        format!("nightjard {}", env!("CARGO_PKG_VERSION"))
    );
    let help = Command::new(bin)
        .arg("--help")
        .output()
        .expect("run nightjard");
    let text = String::from_utf8_lossy(&help.stdout);
    for flag in [
        "--config-dir",
        "--state-dir",
        "--runtime-dir",
        "--log-file",
        "--allow-broken-log",
    ] {
        assert!(text.contains(flag), "{flag} missing from:\n{text}");
    }
}

#[test]
fn an_unknown_flag_is_refused_without_starting() {
    let out = Command::new(env!("CARGO_BIN_EXE_nightjard"))
        .arg("--frobnicate")
        .output()
        .expect("run nightjard");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--frobnicate"));
}
