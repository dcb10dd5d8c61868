//! `nightjarctl demo`: the whole night on the built-in sandbox tenant, on a fresh machine.
//!
//! It starts a model (the user's, from NIGHTJAR_MODEL_URL / NIGHTJAR_MODEL, or the project's
//! own llama.cpp route), `nightjard --sandbox` on a temporary state directory, runs the three
//! built-in skills once in observe mode while printing each item as it happens, then prints the
//! night's summary from the log and how to attach Claude to the same daemon.

use std::path::PathBuf;
use std::time::Duration;

use daemon::paths::Paths;
use schemas::control::{Request, Response};
use schemas::event::{Envelope, Event};

use crate::client::{Client, CtlError};
use crate::model_cmd;

#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// Work at most this many items per skill (a small model on 2 cores takes 10-40 s an item).
    #[arg(long, default_value_t = 4)]
    pub items: usize,
    /// Model size for the built-in route (ignored when NIGHTJAR_MODEL_URL is set).
    #[arg(long, value_enum, default_value = "0.5b")]
    pub size: model_cmd::Size,
    /// Only these skills (default: all three).
    #[arg(long = "skill", value_name = "NAME")]
    pub skills: Vec<String>,
    /// Keep the daemon running afterwards (until Ctrl-C), to attach Claude to it. The default
    /// when stdout is a terminal.
    #[arg(long, conflicts_with = "exit")]
    pub stay: bool,
    /// Stop the daemon and the model when the night is done.
    #[arg(long)]
    pub exit: bool,
}

fn other(e: impl std::fmt::Display) -> CtlError {
    CtlError::Other(anyhow::anyhow!("{e}"))
}

/// The `nightjard` binary beside this one (cargo puts both in the same target directory).
fn daemon_binary() -> PathBuf {
    let exe = std::env::current_exe().unwrap_or_else(|_| PathBuf::from("nightjarctl"));
    let beside = exe.with_file_name("nightjard");
    if beside.exists() {
        beside
    } else {
        PathBuf::from("nightjard")
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or(8091)
}

struct Stopper {
    daemon: Option<tokio::process::Child>,
    model_port: Option<u16>,
}

impl Stopper {
    async fn stop(&mut self) {
        if let Some(mut child) = self.daemon.take() {
            if let Some(pid) = child.id() {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(pid as i32),
                    nix::sys::signal::Signal::SIGTERM,
                );
            }
            if tokio::time::timeout(Duration::from_secs(20), child.wait())
                .await
                .is_err()
            {
                let _ = child.kill().await;
            }
        }
        if let Some(port) = self.model_port.take() {
            model_cmd::stop(port).await;
        }
    }
}

pub async fn run(args: DemoArgs) -> Result<u8, CtlError> {
    let skills: Vec<String> = if args.skills.is_empty() {
        agent::BUILTIN_SKILLS
            .iter()
            .map(|s| (*s).to_owned())
            .collect()
    } else {
        args.skills.clone()
    };
    eprintln!("Nightjar demo: the built-in sandbox tenant (a simulated ConnectWise), a temporary");
    eprintln!(
        "state directory, a local model, and {} skill(s) run once in observe mode.",
        skills.len()
    );
    eprintln!("Nothing leaves this machine, and observe mode changes nothing: every change the");
    eprintln!("agent wants is recorded for review.\n");

    let mut stopper = Stopper {
        daemon: None,
        model_port: None,
    };
    let (url, model) = match (
        std::env::var("NIGHTJAR_MODEL_URL"),
        std::env::var("NIGHTJAR_MODEL"),
    ) {
        (Ok(url), Ok(model)) => {
            eprintln!("model: {model} at {url} (from NIGHTJAR_MODEL_URL / NIGHTJAR_MODEL)");
            (url, model)
        }
        _ => {
            eprintln!(
                "model: none configured, so using Nightjar's own local route (llama.cpp + Qwen2.5-Coder {}).",
                match args.size {
                    model_cmd::Size::Small => "0.5B",
                    model_cmd::Size::Medium => "1.5B",
                }
            );
            eprintln!(
                "       The first time this builds llama-server and downloads the model: several minutes."
            );
            let port = free_port();
            let served = model_cmd::serve(args.size, port).await?;
            stopper.model_port = Some(port);
            eprintln!("model: {} serving at {}", served.model, served.url);
            (served.url, served.model)
        }
    };

    let home = tempfile::Builder::new()
        .prefix("nightjar-demo-")
        .tempdir()
        .map_err(other)?
        .keep();
    let paths = Paths {
        config_dir: home.join("config"),
        state_dir: home.join("state"),
        runtime_dir: home.join("run"),
    };
    std::fs::create_dir_all(&paths.config_dir).map_err(other)?;
    std::fs::write(
        paths.config_file(),
        format!(
            "# The demo's configuration: no schedule (the demo runs each skill itself).\n\
             [scheduler]\nenabled = false\n\n[agent]\nmax_items = {}\n",
            args.items
        ),
    )
    .map_err(other)?;
    let log_file = home.join("nightjard.log");
    eprintln!(
        "daemon: starting nightjard --sandbox (state in {})",
        home.display()
    );
    let out = std::fs::File::create(&log_file).map_err(other)?;
    let child = tokio::process::Command::new(daemon_binary())
        .arg("--sandbox")
        .env("NIGHTJAR_CONFIG_DIR", &paths.config_dir)
        .env("NIGHTJAR_STATE_DIR", &paths.state_dir)
        .env("NIGHTJAR_RUNTIME_DIR", &paths.runtime_dir)
        .env("NIGHTJAR_MODEL_URL", &url)
        .env("NIGHTJAR_MODEL", &model)
        .stdin(std::process::Stdio::null())
        .stdout(out.try_clone().map_err(other)?)
        .stderr(out)
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| {
            other(format!(
                "cannot start nightjard ({e}); build it with `cargo build`"
            ))
        })?;
    stopper.daemon = Some(child);

    let result = night(&paths, &skills).await;
    if let Err(e) = &result {
        eprintln!(
            "\nthe demo stopped: {e}\n(the daemon's own log: {})",
            log_file.display()
        );
        stopper.stop().await;
        return result;
    }

    let runtime = paths.runtime_dir.display().to_string();
    println!("\nPoint nightjarctl at the demo daemon (in another terminal):");
    println!(
        "  export NIGHTJAR_CONFIG_DIR={} NIGHTJAR_STATE_DIR={} NIGHTJAR_RUNTIME_DIR={runtime}",
        paths.config_dir.display(),
        paths.state_dir.display()
    );
    println!("  nightjarctl approvals           what waits for a human");
    println!("  nightjarctl log tail -n 40     the night, event by event");
    println!("  nightjarctl log verify          the hash chain and the checkpoint");
    println!("Attach Claude to the same daemon (same gate, same log):");
    println!("  claude mcp add nightjar -- nightjarctl --runtime-dir {runtime} mcp");
    println!("  nightjarctl --runtime-dir {runtime} mcp --print-config claude-desktop");
    let stay = args.stay || (!args.exit && std::io::IsTerminal::is_terminal(&std::io::stdout()));
    if stay {
        println!("\nThe demo daemon keeps running; press Ctrl-C to stop it.");
        let _ = tokio::signal::ctrl_c().await;
    }
    stopper.stop().await;
    result
}

async fn connect(paths: &Paths) -> Result<Client, CtlError> {
    for _ in 0..300 {
        if let Ok(c) = Client::connect(&paths.control_socket()).await {
            return Ok(c);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Err(other("nightjard did not come up within 30 s"))
}

/// Runs each skill, printing items live from the log, then the night's summary.
async fn night(paths: &Paths, skills: &[String]) -> Result<u8, CtlError> {
    let mut control = connect(paths).await?;
    let mut tail = connect(paths).await?;
    tail.send(&Request::Tail {
        from: None,
        last: Some(0),
        follow: true,
    })
    .await?;
    let printer = tokio::spawn(async move {
        let mut events = Vec::new();
        while let Ok(Some(Response::Event(e))) = tail.next().await {
            print_live(&e);
            events.push(*e);
        }
        events
    });
    let mut code = 0;
    for skill in skills {
        println!("\n== {skill} ==");
        match control
            .call(&Request::Run {
                skill: skill.clone(),
            })
            .await?
        {
            Response::Run(summary) => {
                crate::night_cmd::print_summary(&summary);
                if summary.outcome != schemas::event::RunOutcome::Completed {
                    code = 1;
                }
            }
            other_response => {
                return Err(other(format!(
                    "unexpected answer to run: {other_response:?}"
                )));
            }
        }
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    printer.abort();
    println!("\n== the morning after ==");
    summary(paths).await?;
    Ok(code)
}

fn print_live(e: &Envelope) {
    match &e.event {
        Event::ItemStarted { subject, .. } => println!("  item: {subject}"),
        Event::ItemFinished {
            outcome,
            summary,
            calls,
            steps,
            ..
        } => {
            let calls: Vec<String> = calls
                .iter()
                .map(|c| format!("{} -> {}", c.function, c.status))
                .collect();
            let calls = if calls.is_empty() {
                "no calls".to_owned()
            } else {
                calls.join(", ")
            };
            println!("    {outcome:?} in {steps} step(s): {calls}");
            if !summary.is_empty() {
                println!("    {summary}");
            }
        }
        _ => {}
    }
}

/// What the night left: the morning feed, replayed from the daemon's log.
async fn summary(paths: &Paths) -> Result<(), CtlError> {
    let whole_log = daemon::feed::Window {
        all: true,
        ..daemon::feed::Window::default()
    };
    let (events, basis) = crate::feed_cmd::load(paths, &whole_log).await?;
    let feed = daemon::feed::fold_window(&events, &basis);
    print!(
        "{}",
        daemon::feed::render(&feed, crate::feed_cmd::terminal())
    );
    println!("(nightjarctl feed --format md|html|json gives the same in other forms)");
    Ok(())
}
