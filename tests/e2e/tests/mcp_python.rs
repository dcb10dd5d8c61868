//! An independent MCP client (the official Python SDK, `mcp` from PyPI; `.ci/run` installs it)
//! launches `nightjarctl mcp` over stdio like Claude Desktop does, and drives the daemon through
//! the same scenario as the rmcp test: tools, a read, a preview that sends nothing, a confirmed
//! write sent once, a hard action that waits with progress and times out; with both the
//! `initialize` handshake and the `server/discover` style.
#![allow(clippy::unwrap_used, reason = "test helpers abort on any failure")]

use std::process::Command;

use e2e::{Home, Sandbox, bin, stderr, stdout};
use serde_json::Value;

/// A Python with the `mcp` SDK: `NIGHTJAR_TEST_PYTHON`, else `python3` if it has it.
fn python() -> Option<String> {
    let candidates = std::env::var("NIGHTJAR_TEST_PYTHON")
        .into_iter()
        .chain(["python3".to_owned()]);
    for python in candidates {
        let ok = Command::new(&python)
            .args(["-c", "import mcp"])
            .output()
            .is_ok_and(|o| o.status.success());
        if ok {
            return Some(python);
        }
    }
    None
}

#[test]
fn the_python_sdk_drives_nightjarctl_mcp_over_stdio() {
    let Some(python) = python() else {
        // CI installs the SDK, so there a missing one is a failure, not a skip.
        assert!(
            std::env::var_os("CI").is_none(),
            "the Python MCP SDK is missing: pip install mcp==2.3.0 and set NIGHTJAR_TEST_PYTHON"
        );
        eprintln!(
            "skipped: no Python with the `mcp` SDK (pip install mcp==2.3.0, or set NIGHTJAR_TEST_PYTHON)"
        );
        return;
    };
    let sandbox = Sandbox::start(&["--today", "2026-03-02"]);
    let truth = sandbox.get_json("/__sandbox/truth");
    let ticket = truth["untriaged"][0]["ticket_id"].as_i64().unwrap();
    let api = sandbox.var("CW_API_URL").unwrap();
    let base = api.split("/v4_6_release").next().unwrap().to_owned();

    let home = Home::new();
    std::fs::create_dir_all(home.config_dir()).unwrap();
    std::fs::write(
        home.config_dir().join("config.toml"),
        "[gate.stricter]\n\"cw_tickets.close\" = \"hard\"\n\n[mcp]\napproval_wait_secs = 3\n",
    )
    .unwrap();
    let daemon = home.start_daemon_with_env(&[], sandbox.env());

    // What the MCP client's child (nightjarctl mcp) needs to find this daemon.
    let env = serde_json::json!({
        "NIGHTJAR_CONFIG_DIR": home.config_dir(),
        "NIGHTJAR_STATE_DIR": home.state_dir(),
        "NIGHTJAR_RUNTIME_DIR": home.runtime_dir(),
        "HOME": home.root.path().join("home"),
    });
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("mcp_client.py");
    let out = Command::new(&python)
        .arg(&script)
        .arg(bin("nightjarctl"))
        .arg(&base)
        .arg(ticket.to_string())
        .arg(env.to_string())
        .env_remove("NIGHTJAR_CONFIG_DIR")
        .env_remove("NIGHTJAR_STATE_DIR")
        .env_remove("NIGHTJAR_RUNTIME_DIR")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "the Python client failed:\n{}\n{}\ndaemon:\n{}",
        stdout(&out),
        stderr(&out),
        daemon.stderr()
    );
    let findings: Vec<Value> = serde_json::from_str(stdout(&out).trim()).unwrap();
    assert_eq!(findings.len(), 2);
    assert_eq!(findings[0]["style"], "initialize");
    assert_eq!(findings[0]["tools"], 14);
    assert!(findings[0]["progress"].as_u64().unwrap() >= 2);
    assert_eq!(findings[0]["protocol"], "2025-11-25");
    assert_eq!(findings[1]["style"], "discover");
    assert!(
        findings[1]["protocol"].as_str().unwrap() >= "2026-07-28",
        "the discovery style negotiates the newest protocol: {}",
        findings[1]
    );
    assert_eq!(findings[1]["tools"], 14);

    // Both sessions are on record under the names their handshakes gave.
    let export = home.ctl(&["log", "export"]);
    let events: Vec<Value> = stdout(&export)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let opened: Vec<&Value> = events
        .iter()
        .filter(|e| e["event_type"] == "SessionOpened")
        .collect();
    let names: Vec<&str> = opened
        .iter()
        .map(|e| e["principal"]["name"].as_str().unwrap())
        .collect();
    assert!(names.contains(&"python-sdk-initialize"), "{names:?}");
    assert!(names.contains(&"python-sdk-discover"), "{names:?}");
    let closed = events
        .iter()
        .filter(|e| e["event_type"] == "SessionClosed")
        .count();
    assert_eq!(closed, 2, "each bridge session ended cleanly");
    assert_eq!(daemon.stop().code(), Some(0));
}
