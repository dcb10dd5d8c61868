//! `nightjard`: parse flags, set up tracing, load the configuration, run the daemon until SIGINT
//! or SIGTERM.

use std::path::PathBuf;
use std::process::ExitCode;

use std::sync::Arc;

use clap::Parser;
use daemon::paths::{Overrides, Paths};
use daemon::redact::{RedactingWriter, Redactor};
use tokio_util::sync::CancellationToken;
use tracing_subscriber::{EnvFilter, Layer, layer::SubscriberExt, util::SubscriberInitExt};

/// The Nightjar daemon: ConnectWise behind a gate, an event log, and a night shift.
#[derive(Debug, Parser)]
#[command(name = "nightjard", version)]
struct Args {
    /// Configuration directory (default: $NIGHTJAR_CONFIG_DIR, $XDG_CONFIG_HOME/nightjar, ~/.config/nightjar).
    #[arg(long, value_name = "DIR")]
    config_dir: Option<PathBuf>,
    /// State directory: the event log and checkpoints (default: $NIGHTJAR_STATE_DIR, $XDG_STATE_HOME/nightjar).
    #[arg(long, value_name = "DIR")]
    state_dir: Option<PathBuf>,
    /// Runtime directory: the sockets (default: $NIGHTJAR_RUNTIME_DIR, $XDG_RUNTIME_DIR/nightjar).
    #[arg(long, value_name = "DIR")]
    runtime_dir: Option<PathBuf>,
    /// Also write tracing output to this file (overrides `daemon.log_file`).
    #[arg(long, value_name = "FILE")]
    log_file: Option<PathBuf>,
    /// Serve the built-in sandbox tenant (a simulated ConnectWise on loopback) and point every
    /// connector at it.
    #[arg(long)]
    sandbox: bool,
    /// Seed of the sandbox tenant's data (same seed, same tenant).
    #[arg(long, default_value_t = 42, requires = "sandbox")]
    seed: u64,
    /// Start even if the event log fails verification; the anomaly is recorded.
    #[arg(long)]
    allow_broken_log: bool,
}

fn main() -> ExitCode {
    let args = Args::parse();
    // Everything the daemon creates is private to its user.
    nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o077));
    match start(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("nightjard: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn start(args: Args) -> anyhow::Result<()> {
    let paths = Paths::resolve(&Overrides {
        config_dir: args.config_dir,
        state_dir: args.state_dir,
        runtime_dir: args.runtime_dir,
    })?;
    let loaded = daemon::config::load(&paths.config_file(), |k| std::env::var(k).ok())?;
    let mut config = loaded.config;
    let mut sources = loaded.sources;
    if let Some(file) = args.log_file {
        config.daemon.log_file = Some(file.display().to_string());
        sources.push("flags".into());
    }
    init_tracing(
        &config.daemon.log_filter,
        config.daemon.log_file.as_deref(),
        &paths,
    )?;

    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async move {
        let shutdown = CancellationToken::new();
        let signals = tokio::spawn(on_signal(shutdown.clone()));
        let settings = daemon::Settings {
            paths,
            config,
            config_sources: sources,
            sandbox: args.sandbox.then_some(args.seed),
            allow_broken_log: args.allow_broken_log,
        };
        let result = daemon::run(settings, shutdown.clone()).await;
        signals.abort();
        result.map_err(anyhow::Error::from)
    })
}

/// Cancel `shutdown` on the first SIGINT or SIGTERM.
async fn on_signal(shutdown: CancellationToken) {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut int), Ok(mut term)) = (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) else {
        tracing::error!("cannot install signal handlers");
        return;
    };
    tokio::select! {
        _ = int.recv() => tracing::info!("SIGINT received"),
        _ = term.recv() => tracing::info!("SIGTERM received"),
    }
    shutdown.cancel();
}

/// Environment variables holding credentials: their values are redacted from tracing output
/// wherever they appear, whatever their shape.
const SECRET_ENV: [&str; 5] = [
    "CW_PRIVATE_KEY",
    "CW_RMM_CLIENT_SECRET",
    "CW_CPQ_PRIVATE_KEY",
    "CW_CPQ_ACCESS_KEY",
    "CW_SC_AUTH_SECRET",
];

/// Tracing to stderr (never stdout), and to a file when configured, both through the redactor.
fn init_tracing(filter: &str, file: Option<&str>, paths: &Paths) -> anyhow::Result<()> {
    let filter = || EnvFilter::try_new(filter).unwrap_or_else(|_| EnvFilter::new("info"));
    use std::io::IsTerminal;
    let redactor = Arc::new(Redactor::new(
        SECRET_ENV
            .iter()
            .filter_map(|name| std::env::var(name).ok()),
    ));
    let stderr = tracing_subscriber::fmt::layer()
        .with_writer(RedactingWriter::new(std::io::stderr, Arc::clone(&redactor)))
        .with_ansi(std::io::stderr().is_terminal())
        .with_filter(filter());
    let file_layer = match file {
        Some(name) => {
            let path = paths.state_dir.join(name);
            daemon::paths::create_private_dir(path.parent().unwrap_or(&paths.state_dir))?;
            let file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)?;
            Some(
                tracing_subscriber::fmt::layer()
                    .with_ansi(false)
                    .with_writer(RedactingWriter::new(std::sync::Mutex::new(file), redactor))
                    .with_filter(filter()),
            )
        }
        None => None,
    };
    tracing_subscriber::registry()
        .with(stderr)
        .with(file_layer)
        .try_init()?;
    Ok(())
}
