//! The command line's own surface, through the real binary (this test also makes cargo build
//! `nightjarctl` before the end-to-end suite runs).

use std::process::Command;

fn ctl(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_nightjarctl"))
        .args(args)
        .env_clear()
        .env("NIGHTJAR_CONFIG_DIR", "/nonexistent/c")
        .env("NIGHTJAR_STATE_DIR", "/nonexistent/s")
        .env("NIGHTJAR_RUNTIME_DIR", "/nonexistent/r")
        .output()
        .expect("run nightjarctl")
}

#[test]
fn config_default_prints_a_file_that_parses_to_the_defaults() {
    let out = ctl(&["config", "default"]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).expect("utf-8");
    assert_eq!(text, schemas::config::DEFAULT_TOML);
}

#[test]
fn paths_follow_the_environment_and_help_lists_the_commands() {
    let out = ctl(&["config", "paths"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("/nonexistent/c/config.toml") && text.contains("/nonexistent/r/control.sock"),
        "{text}"
    );
    let help = ctl(&["log", "--help"]);
    let text = String::from_utf8_lossy(&help.stdout);
    for command in ["verify", "tail", "export", "checkpoint"] {
        assert!(text.contains(command), "{command} missing from:\n{text}");
    }
}
