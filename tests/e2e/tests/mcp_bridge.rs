//! `nightjarctl mcp` as MCP clients launch it: a clear error and exit 3 when no daemon answers
//! (nothing on stdout, where the client expects JSON-RPC), answers flushed before it exits when
//! the client closes its side, and `--print-config` snippets naming this binary.
#![allow(clippy::unwrap_used, reason = "test helpers abort on any failure")]

use std::io::Write;
use std::process::Stdio;

use e2e::{Home, bin, stderr, stdout};

#[test]
fn without_a_daemon_the_bridge_says_so_on_stderr_and_exits_3() {
    let home = Home::new();
    let out = home.ctl(&["mcp"]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(stderr(&out).contains("not running"), "{}", stderr(&out));
    assert!(stdout(&out).is_empty(), "stdout carries JSON-RPC only");
}

#[test]
fn the_bridge_flushes_every_answer_when_the_client_closes_stdin() {
    let home = Home::new();
    let daemon = home.start_daemon(&["--sandbox"]);
    let mut child = home
        .command("nightjarctl")
        .arg("mcp")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    // Everything at once, then EOF: the answers must still all arrive.
    let mut lines = vec![
        r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"bridge-test","version":"1"}}}"#.to_owned(),
        r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#.to_owned(),
    ];
    for id in 2..12 {
        lines.push(format!(
            r#"{{"jsonrpc":"2.0","id":{id},"method":"tools/call","params":{{"name":"cw_tickets","arguments":{{"action":"list","params":{{"limit":3}}}}}}}}"#
        ));
    }
    stdin
        .write_all((lines.join("\n") + "\n").as_bytes())
        .unwrap();
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let answers: Vec<serde_json::Value> = stdout(&out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let mut ids: Vec<i64> = answers.iter().filter_map(|a| a["id"].as_i64()).collect();
    ids.sort_unstable();
    assert_eq!(ids, (1..12).collect::<Vec<_>>(), "every request answered");
    assert!(
        answers.iter().all(|a| a.get("error").is_none()),
        "{answers:?}"
    );
    assert_eq!(daemon.stop().code(), Some(0));
}

#[test]
fn print_config_names_this_binary_for_every_client() {
    let home = Home::new();
    let exe = bin("nightjarctl").canonicalize().unwrap();
    for client in ["claude-desktop", "claude-code", "cursor", "opencode"] {
        let out = home.ctl(&["mcp", "--print-config", client]);
        assert!(out.status.success(), "{client}: {}", stderr(&out));
        let text = stdout(&out);
        assert!(
            text.contains(&exe.display().to_string()),
            "{client}: {text}"
        );
        assert!(text.contains("\"mcp\""), "{client}: {text}");
    }
    let bad = home.ctl(&["mcp", "--print-config", "notepad"]);
    assert!(!bad.status.success());
}
