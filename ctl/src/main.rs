//! `nightjarctl`: the operator's command line. Talks to `nightjard` over the control socket, and
//! reads the log directly from the state directory when no daemon runs.
#![allow(
    clippy::print_stdout,
    reason = "a command-line tool prints its results"
)]

mod approvals_cmd;
mod client;
mod demo;
mod eval_cmd;
mod feed_cmd;
mod keys;
mod log_cmd;
mod mcp_cmd;
mod model_cmd;
mod night_cmd;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use client::{Client, CtlError};
use daemon::paths::{Overrides, Paths};
use schemas::control::{Request, Response};

/// Nightjar's control tool.
#[derive(Debug, Parser)]
#[command(name = "nightjarctl", version)]
struct Args {
    /// Configuration directory (default: $NIGHTJAR_CONFIG_DIR, $XDG_CONFIG_HOME/nightjar).
    #[arg(long, global = true, value_name = "DIR")]
    config_dir: Option<PathBuf>,
    /// State directory (default: $NIGHTJAR_STATE_DIR, $XDG_STATE_HOME/nightjar).
    #[arg(long, global = true, value_name = "DIR")]
    state_dir: Option<PathBuf>,
    /// Runtime directory holding the sockets (default: $NIGHTJAR_RUNTIME_DIR, $XDG_RUNTIME_DIR/nightjar).
    #[arg(long, global = true, value_name = "DIR")]
    runtime_dir: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Is the daemon running, and how is its log.
    Status {
        /// Print the status as JSON.
        #[arg(long)]
        json: bool,
    },
    /// The event log: verify, tail, export, checkpoint.
    Log {
        #[command(subcommand)]
        command: log_cmd::LogCommand,
    },
    /// Run one tool call through the daemon's gate, as the interactive principal `nightjarctl`
    /// (the same path, log and confirmations as an MCP client). Without an action: the tool's
    /// action table.
    Call {
        /// The tool, e.g. `cw_tickets`.
        tool: String,
        /// The action, e.g. `get`; `help` with `--params '{"for":"get"}'` explains one.
        action: Option<String>,
        /// The action's parameters as a JSON object, e.g. '{"id": 1042}'.
        #[arg(long, short, value_name = "JSON", default_value = "{}")]
        params: String,
        /// Send a write for real (without it a write answers a dry-run preview).
        #[arg(long)]
        confirm: bool,
    },
    /// The stdio bridge MCP clients (Claude Desktop, Claude Code, Cursor, opencode) launch: it
    /// forwards to the daemon's MCP socket. With --print-config, the snippet for a client.
    Mcp {
        /// Print the configuration snippet for this client (with this binary's path) and exit.
        #[arg(long, value_enum, value_name = "CLIENT")]
        print_config: Option<mcp_cmd::ClientKind>,
    },
    /// Create this operator's P-256 signing key (PKCS#8 PEM, mode 0600) in the config
    /// directory, and its public half beside it (operator-key.pub.pem) to hand to another
    /// operator. Prints the key id.
    Keygen(keys::KeygenArgs),
    /// Register a public key with the daemon: this machine's own (the first key needs no
    /// approval), or with --public-key another operator's, approved by signing with this
    /// machine's enrolled key.
    Enroll(keys::EnrollArgs),
    /// List the enrolled operator keys.
    Keys {
        /// Print the keys as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Revoke an enrolled key with a signed revocation.
    Revoke(keys::RevokeArgs),
    /// What waits for a signed verdict, grouped by run, each with its effect (before/after
    /// values, amounts, customer-visible text) and the exact request.
    Approvals(approvals_cmd::ListArgs),
    /// Approve a pending proposal with a signed verdict; it then executes once. Shows the
    /// preview and asks `approve? [y/N]` when stdin is a terminal and --yes is not given;
    /// without a terminal it does not ask (the command line is the decision). With --run,
    /// walks that run's proposals one by one (y/n/q).
    Approve(approvals_cmd::VerdictArgs),
    /// Deny a pending proposal with a signed verdict and a reason; asks like `approve`.
    Deny(approvals_cmd::DenyArgs),
    /// Change a skill's mode (observe, enforce, dry-run) with a signed mode change.
    Mode(approvals_cmd::ModeArgs),
    /// The whole night on the built-in sandbox tenant: a local model, the daemon on a temporary
    /// state directory, the three skills once in observe mode, the night's summary, and how to
    /// attach Claude.
    Demo(demo::DemoArgs),
    /// The morning feed: the log replayed into what happened (runs, items, proposals and their
    /// state, sessions), anomalies first. Exits 2 when there are anomalies.
    Feed(feed_cmd::FeedArgs),
    /// Whether each skill has earned enforce mode: its observe-mode proposals against what
    /// humans later did (shadow metrics), and the flip verdict. Exits 0 when every skill shown
    /// is ready, 3 otherwise.
    Trust(feed_cmd::TrustArgs),
    /// Measure a skill on your own tenant before trusting it: `eval triage` backtests the
    /// triage decision on closed tickets, with and without the shop's history. Reads only.
    Eval {
        #[command(subcommand)]
        command: eval_cmd::EvalCommand,
    },
    /// The skills: list, show, export (to import into Claude: ~/.claude/skills).
    Skills {
        #[command(subcommand)]
        command: night_cmd::SkillsCommand,
    },
    /// Run a skill now (as the night agent, in the skill's mode) and wait for it to end.
    Run {
        skill: String,
        /// Print the run's summary as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Each skill's schedule, mode, and next fire times.
    Schedule {
        #[arg(long)]
        json: bool,
    },
    /// A local model for the night agent: setup, serve, stop, status.
    Model {
        #[command(subcommand)]
        command: model_cmd::ModelCommand,
    },
    /// Configuration helpers.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
}

#[derive(Debug, Subcommand)]
enum ConfigCommand {
    /// Print a commented default config.toml.
    Default,
    /// Print where the configuration, state and sockets are.
    Paths,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("nightjarctl: cannot start: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(dispatch(args)) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("nightjarctl: {e:#}");
            ExitCode::from(e.exit_code())
        }
    }
}

async fn dispatch(args: Args) -> Result<u8, CtlError> {
    let runtime_override = args.runtime_dir.clone();
    let paths = Paths::resolve(&Overrides {
        config_dir: args.config_dir,
        state_dir: args.state_dir,
        runtime_dir: args.runtime_dir,
    })
    .map_err(|e| CtlError::Other(e.into()))?;
    match args.command {
        Command::Status { json } => status(&paths, json).await,
        Command::Log { command } => log_cmd::run(&paths, command).await,
        Command::Mcp {
            print_config: Some(kind),
        } => {
            let runtime = runtime_override.map(|d| std::path::absolute(&d).unwrap_or(d));
            print!(
                "{}",
                mcp_cmd::config_snippet(kind, &mcp_cmd::current_exe(), runtime.as_deref())
            );
            Ok(0)
        }
        Command::Mcp { print_config: None } => mcp_cmd::bridge(&paths.mcp_socket()).await,
        Command::Call {
            tool,
            action,
            params,
            confirm,
        } => call(&paths, tool, action, &params, confirm).await,
        Command::Keygen(a) => keys::keygen(&paths, a),
        Command::Enroll(a) => keys::enroll(&paths, a).await,
        Command::Keys { json } => keys::keys(&paths, json).await,
        Command::Revoke(a) => keys::revoke(&paths, a).await,
        Command::Approvals(a) => approvals_cmd::list(&paths, a).await,
        Command::Approve(a) => {
            approvals_cmd::verdict(&paths, a, schemas::event::Decision::Approve, None).await
        }
        Command::Deny(a) => {
            let reason = a.reason;
            approvals_cmd::verdict(
                &paths,
                a.verdict,
                schemas::event::Decision::Deny,
                Some(&reason),
            )
            .await
        }
        Command::Mode(a) => approvals_cmd::mode(&paths, a).await,
        Command::Demo(a) => demo::run(a).await,
        Command::Feed(a) => feed_cmd::run(&paths, a).await,
        Command::Trust(a) => feed_cmd::trust(&paths, a).await,
        Command::Eval { command } => eval_cmd::run(&paths, command).await,
        Command::Skills { command } => night_cmd::skills(&paths, command),
        Command::Run { skill, json } => night_cmd::run(&paths, skill, json).await,
        Command::Schedule { json } => night_cmd::schedule(&paths, json).await,
        Command::Model { command } => model_cmd::run(command).await,
        Command::Config {
            command: ConfigCommand::Default,
        } => {
            print!("{}", schemas::config::DEFAULT_TOML);
            Ok(0)
        }
        Command::Config {
            command: ConfigCommand::Paths,
        } => {
            println!("config file:    {}", paths.config_file().display());
            println!("state dir:      {}", paths.state_dir.display());
            println!("control socket: {}", paths.control_socket().display());
            Ok(0)
        }
    }
}

async fn status(paths: &Paths, json: bool) -> Result<u8, CtlError> {
    let mut client = Client::connect(&paths.control_socket()).await?;
    let Response::Status(report) = client.call(&Request::Status).await? else {
        return Err(CtlError::Other(anyhow::anyhow!(
            "unexpected response to status"
        )));
    };
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&report).map_err(|e| CtlError::Other(e.into()))?
        );
        return Ok(0);
    }
    println!(
        "nightjard {} running (pid {}) since {}",
        report.daemon_version,
        report.pid,
        report.started_at.to_rfc3339()
    );
    match &report.sandbox_url {
        Some(url) => println!("  tenant:     built-in sandbox at {url}"),
        None => println!("  tenant:     ConnectWise"),
    }
    for c in &report.connectors {
        let state = match (&c.url, &c.problem) {
            (Some(url), _) if c.configured => format!("configured, {url}"),
            (_, Some(problem)) => format!("not configured: {problem}"),
            _ => "not configured".to_owned(),
        };
        println!("  {:<16}{state}", format!("{}:", c.product));
    }
    println!("  state dir:  {}", report.state_dir);
    println!("  socket:     {}", report.control_socket);
    println!(
        "  log:        {} events, head {}",
        report.log.events,
        short(&report.log.head_hash)
    );
    match &report.log.last_checkpoint {
        Some(cp) => println!("  checkpoint: seq {} at {}", cp.seq, cp.time.to_rfc3339()),
        None => println!("  checkpoint: none yet"),
    }
    Ok(0)
}

async fn call(
    paths: &Paths,
    tool: String,
    action: Option<String>,
    params: &str,
    confirm: bool,
) -> Result<u8, CtlError> {
    let params: serde_json::Value = serde_json::from_str(params).map_err(|e| {
        CtlError::Other(anyhow::anyhow!(
            "--params is not JSON ({e}); give an object such as '{{\"id\": 1042}}'"
        ))
    })?;
    let mut client = Client::connect(&paths.control_socket()).await?;
    let request = Request::Call(schemas::tool::ToolCall {
        tool,
        action,
        params,
        confirm,
    });
    let Response::Outcome(outcome) = client.call(&request).await? else {
        return Err(CtlError::Other(anyhow::anyhow!(
            "unexpected response to a tool call"
        )));
    };
    println!(
        "{}",
        serde_json::to_string_pretty(&outcome).map_err(|e| CtlError::Other(e.into()))?
    );
    // A refused or failed call is a failure of the command, for scripts.
    Ok(if outcome.is_error() { 1 } else { 0 })
}

fn short(hash: &str) -> &str {
    &hash[..hash.len().min(12)]
}
