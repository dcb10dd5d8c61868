//! `nightjarctl mcp`: the stdio <-> socket bridge that MCP clients (Claude Desktop, Claude Code,
//! Cursor, opencode) launch, and `--print-config`, the snippet each of them needs.
//!
//! The bridge is a byte pump in both directions (MCP's stdio framing is one JSON message per
//! line on both sides, so nothing is parsed or buffered whole). It connects first and starts only
//! when the daemon answers; when stdin ends it half-closes the socket, so the daemon answers what
//! is in flight and closes, and the bridge exits after flushing those answers to stdout. It never
//! writes anything but the daemon's bytes to stdout.

use std::path::{Path, PathBuf};

use clap::ValueEnum;
use tokio::io::AsyncWriteExt;
use tokio::net::UnixStream;

use crate::client::CtlError;

/// The MCP clients `--print-config` knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ClientKind {
    ClaudeDesktop,
    ClaudeCode,
    Cursor,
    Opencode,
}

/// The command line a client should launch: this binary, `mcp`, and any directory override the
/// user gave, so the bridge finds the same daemon.
fn launch(exe: &Path, runtime_dir: Option<&Path>) -> Vec<String> {
    let mut args = vec![exe.display().to_string()];
    if let Some(dir) = runtime_dir {
        args.push("--runtime-dir".into());
        args.push(dir.display().to_string());
    }
    args.push("mcp".into());
    args
}

/// The configuration snippet for `kind`, as printed.
pub fn config_snippet(kind: ClientKind, exe: &Path, runtime_dir: Option<&Path>) -> String {
    let line = launch(exe, runtime_dir);
    let command = &line[0];
    let args: Vec<&String> = line[1..].iter().collect();
    let pretty = |v: serde_json::Value| serde_json::to_string_pretty(&v).unwrap_or_default();
    match kind {
        ClientKind::ClaudeDesktop => format!(
            "// Add to claude_desktop_config.json (Settings > Developer > Edit Config), then restart Claude Desktop:\n{}\n",
            pretty(
                serde_json::json!({"mcpServers": {"nightjar": {"command": command, "args": args}}})
            )
        ),
        ClientKind::ClaudeCode => format!(
            "# Run once (add --scope user to use it in every project):\nclaude mcp add nightjar -- {}\n\n# or put this in the project's .mcp.json:\n{}\n",
            line.iter()
                .map(|a| shell_quote(a))
                .collect::<Vec<_>>()
                .join(" "),
            pretty(
                serde_json::json!({"mcpServers": {"nightjar": {"type": "stdio", "command": command, "args": args}}})
            )
        ),
        ClientKind::Cursor => format!(
            "// Add to ~/.cursor/mcp.json (or .cursor/mcp.json in a project):\n{}\n",
            pretty(
                serde_json::json!({"mcpServers": {"nightjar": {"command": command, "args": args}}})
            )
        ),
        ClientKind::Opencode => format!(
            "// Add to opencode.json (project) or ~/.config/opencode/opencode.json:\n{}\n",
            pretty(serde_json::json!({
                "$schema": "https://opencode.ai/config.json",
                "mcp": {"nightjar": {"type": "local", "command": line, "enabled": true}}
            }))
        ),
    }
}

fn shell_quote(s: &str) -> String {
    if !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/._-+=:,@".contains(&b))
    {
        s.to_owned()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

/// Pumps stdin to the socket and the socket to stdout until the daemon closes.
pub async fn bridge(socket: &Path) -> Result<u8, CtlError> {
    let stream = UnixStream::connect(socket)
        .await
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused => {
                CtlError::NotRunning {
                    socket: socket.to_owned(),
                }
            }
            _ => CtlError::Other(anyhow::anyhow!(
                "cannot connect to {}: {e}",
                socket.display()
            )),
        })?;
    let (mut from_daemon, mut to_daemon) = stream.into_split();
    let up = tokio::spawn(async move {
        let copied = tokio::io::copy(&mut tokio::io::stdin(), &mut to_daemon).await;
        // Half-close: the daemon sees the end, answers what is in flight, then closes.
        let _ = to_daemon.shutdown().await;
        copied
    });
    let mut stdout = tokio::io::stdout();
    let down = tokio::io::copy(&mut from_daemon, &mut stdout).await;
    let _ = stdout.flush().await;
    up.abort();
    let code = match down {
        Ok(_) => 0,
        Err(e) => {
            eprintln!("nightjarctl mcp: the connection to nightjard failed: {e}");
            1
        }
    };
    // tokio's stdin read sits on a blocking thread that cannot be cancelled; a normal return
    // would wait for it (for the client to close stdin) before the process ends.
    std::process::exit(code)
}

/// The path of this binary, for the snippets.
pub fn current_exe() -> PathBuf {
    std::env::current_exe()
        .and_then(|p| p.canonicalize())
        .unwrap_or_else(|_| PathBuf::from("nightjarctl"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_snippet_names_this_binary_and_the_mcp_subcommand() {
        let exe = Path::new("/opt/nightjar/bin/nightjarctl");
        for kind in [
            ClientKind::ClaudeDesktop,
            ClientKind::ClaudeCode,
            ClientKind::Cursor,
            ClientKind::Opencode,
        ] {
            let text = config_snippet(kind, exe, None);
            assert!(
                text.contains("/opt/nightjar/bin/nightjarctl"),
                "{kind:?}: {text}"
            );
            assert!(text.contains("\"mcp\""), "{kind:?}: {text}");
            // The JSON part parses.
            let json = &text[text.find('{').unwrap_or(0)..];
            let json = &json[..=json.rfind('}').unwrap_or(0)];
            assert!(
                serde_json::from_str::<serde_json::Value>(json).is_ok(),
                "{kind:?}: {json}"
            );
        }
        let code = config_snippet(
            ClientKind::ClaudeCode,
            exe,
            Some(Path::new("/run/user/1000/my nj")),
        );
        assert!(code.contains("claude mcp add nightjar -- /opt/nightjar/bin/nightjarctl --runtime-dir '/run/user/1000/my nj' mcp"), "{code}");
    }
}
