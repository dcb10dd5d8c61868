//! `nightjarctl log …`: verify, tail, export and checkpoint the event log, through the daemon when
//! it runs and straight from the state directory when it does not.

use std::io::Write;

use clap::Subcommand;
use daemon::log::{LogError, Reader};
use daemon::paths::Paths;
use schemas::control::{Request, Response, VerifyReport};
use schemas::event::{Envelope, Principal};

use crate::client::{Client, CtlError};

#[derive(Debug, Subcommand)]
pub enum LogCommand {
    /// Verify the hash chain and the checkpoint; exits 2 and names the first bad seq on a problem.
    Verify {
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show the newest events.
    Tail {
        /// How many of the newest events to show.
        #[arg(short = 'n', long, default_value_t = 20)]
        lines: u64,
        /// Start at this seq instead.
        #[arg(long)]
        from: Option<u64>,
        /// Keep following new events (needs the daemon).
        #[arg(short = 'f', long)]
        follow: bool,
    },
    /// Write events as JSON lines (the exact stored records) to stdout, e.g. for a SIEM.
    Export {
        /// First seq to export.
        #[arg(long, default_value_t = 0)]
        from: u64,
    },
    /// Write a checkpoint now (needs the daemon).
    Checkpoint,
}

pub async fn run(paths: &Paths, command: LogCommand) -> Result<u8, CtlError> {
    let daemon = match Client::connect(&paths.control_socket()).await {
        Ok(client) => Some(client),
        Err(CtlError::NotRunning { .. }) if !needs_daemon(&command) => None,
        Err(e) => return Err(e),
    };
    match (command, daemon) {
        (LogCommand::Verify { json }, Some(mut client)) => {
            match client.call(&Request::VerifyLog).await? {
                Response::Verify(report) => print_verify(&report, json, "via nightjard"),
                other => Err(unexpected(&other)),
            }
        }
        (LogCommand::Verify { json }, None) => {
            let reader = open_offline(paths)?;
            let report = reader.verify_all().map_err(other)?;
            print_verify(&report, json, "offline, from the state directory")
        }
        (
            LogCommand::Tail {
                lines,
                from,
                follow,
            },
            Some(mut client),
        ) => {
            client
                .send(&Request::Tail {
                    from,
                    last: Some(lines),
                    follow,
                })
                .await?;
            stream(&mut client, |e| print_line(&summary(&e))).await
        }
        (LogCommand::Tail { lines, from, .. }, None) => {
            let reader = open_offline(paths)?;
            let len = reader.next_seq().map_err(other)?;
            let start = from.unwrap_or(len.saturating_sub(lines));
            for event in reader.range(start, u64::MAX) {
                if !print_line(&summary(&event.map_err(other)?)) {
                    break;
                }
            }
            Ok(0)
        }
        (LogCommand::Export { from }, Some(mut client)) => {
            client
                .send(&Request::Tail {
                    from: Some(from),
                    last: None,
                    follow: false,
                })
                .await?;
            stream(&mut client, |e| print_line(&export_line(&e))).await
        }
        (LogCommand::Export { from }, None) => {
            let reader = open_offline(paths)?;
            for event in reader.range(from, u64::MAX) {
                if !print_line(&export_line(&event.map_err(other)?)) {
                    break;
                }
            }
            Ok(0)
        }
        (LogCommand::Checkpoint, Some(mut client)) => {
            match client.call(&Request::Checkpoint).await? {
                Response::Checkpoint(cp) => {
                    println!(
                        "checkpoint written: seq {} ({} events), head {}",
                        cp.seq, cp.count, cp.head_hash
                    );
                    Ok(0)
                }
                other => Err(unexpected(&other)),
            }
        }
        // `needs_daemon` commands returned "not running" above already.
        (_, None) => Err(CtlError::NotRunning {
            socket: paths.control_socket(),
        }),
    }
}

fn needs_daemon(command: &LogCommand) -> bool {
    matches!(
        command,
        LogCommand::Checkpoint | LogCommand::Tail { follow: true, .. }
    )
}

pub(crate) fn open_offline(paths: &Paths) -> Result<Reader, CtlError> {
    Reader::open(&paths.log_dir(), &paths.checkpoint_file(), 16 * 1024 * 1024).map_err(
        |e| match e {
            LogError::Locked { .. } => CtlError::Other(anyhow::anyhow!(
                "{e}\nThe daemon holds the log but does not answer on {}; check --runtime-dir.",
                paths.control_socket().display()
            )),
            e => other(e),
        },
    )
}

/// Read `Event`s until `End` (or the connection closes), handing each to `each`.
async fn stream(
    client: &mut Client,
    mut each: impl FnMut(Envelope) -> bool,
) -> Result<u8, CtlError> {
    while let Some(response) = client.next().await? {
        match response {
            Response::Event(envelope) => {
                if !each(*envelope) {
                    break;
                }
            }
            Response::End => break,
            Response::Error(e) => {
                return Err(CtlError::Other(anyhow::anyhow!("nightjard: {}", e.message)));
            }
            other => return Err(unexpected(&other)),
        }
    }
    Ok(0)
}

fn print_verify(report: &VerifyReport, json: bool, how: &str) -> Result<u8, CtlError> {
    if json {
        print_line(&serde_json::to_string_pretty(report).map_err(|e| CtlError::Other(e.into()))?);
    } else if let Some(p) = &report.problem {
        print_line(&format!(
            "log verification FAILED ({how}): first bad seq {}: {}",
            p.seq, p.kind
        ));
        print_line(&format!("  {}", p.detail));
        print_line(&format!(
            "  {} events stored, {} verified before the problem",
            report.events, report.verified
        ));
    } else {
        let checkpoint = match &report.checkpoint {
            Some(cp) => format!("checkpoint at seq {} matches", cp.seq),
            None => "no checkpoint yet".to_owned(),
        };
        print_line(&format!(
            "log OK ({how}): {} events verified, head {}, {checkpoint}",
            report.verified,
            &report.head_hash[..report.head_hash.len().min(16)]
        ));
    }
    Ok(if report.ok() { 0 } else { 2 })
}

/// One line per event for a terminal.
fn summary(e: &Envelope) -> String {
    let who = match &e.principal {
        Principal::System => "system".to_owned(),
        Principal::Interactive { name } => format!("mcp:{name}"),
        Principal::Skill { skill, .. } => format!("skill:{skill}"),
        Principal::Operator { key_id } => {
            format!("operator:{}", key_id.as_deref().unwrap_or("console"))
        }
    };
    let payload = serde_json::to_value(&e.event)
        .ok()
        .and_then(|v| v.get("payload").map(|p| p.to_string()))
        .unwrap_or_default();
    let mut payload: String = payload.chars().take(140).collect();
    if payload.len() >= 140 {
        payload.push('…');
    }
    format!(
        "{:>7} {} {:<22} {:<18} {payload}",
        e.seq,
        e.ts.format("%Y-%m-%dT%H:%M:%S%.3fZ"),
        e.event_type(),
        who
    )
}

fn export_line(e: &Envelope) -> String {
    daemon::log::chain::encode(e)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default()
}

/// Print a line; `false` when stdout is closed (e.g. piped into `head`), so callers stop quietly.
fn print_line(line: &str) -> bool {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{line}").is_ok()
}

fn other(e: impl Into<anyhow::Error>) -> CtlError {
    CtlError::Other(e.into())
}

fn unexpected(response: &Response) -> CtlError {
    CtlError::Other(anyhow::anyhow!(
        "unexpected response from nightjard: {response:?}"
    ))
}
