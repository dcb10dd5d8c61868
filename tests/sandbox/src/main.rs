//! `nightjar-sandbox`: runs the simulated ConnectWise tenant on loopback and prints its `CW_*`
//! environment lines; see the `sandbox` crate docs for the endpoints, faults and credentials.

use std::time::Duration;

use anyhow::Context;
use chrono::NaiveDate;
use clap::Parser;
use sandbox::{Config, Credentials, Size};

/// A simulated ConnectWise tenant (Manage, Asio, Sell, ScreenConnect) on 127.0.0.1.
#[derive(Debug, Parser)]
#[command(name = "nightjar-sandbox", version)]
struct Args {
    /// Port on 127.0.0.1 (0 = any free port).
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// Seed for the generated data and fault decisions.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Amount of data: small, medium or large.
    #[arg(long, default_value = "small")]
    size: Size,
    /// Date the data is anchored to (YYYY-MM-DD; default: today, UTC).
    #[arg(long)]
    today: Option<NaiveDate>,
    /// Fault rules, e.g. "GET */service/tickets*=429:2,times=1; *=latency:50" (see crate docs).
    #[arg(long, default_value = "")]
    faults: String,
    #[arg(long, default_value = "sandbox")]
    company: String,
    #[arg(long, default_value = "sandbox_pub")]
    public_key: String,
    #[arg(long, default_value = "sandbox_priv")]
    private_key: String,
    #[arg(long, default_value = "00000000-0000-0000-0000-000000000000")]
    client_id: String,
    /// Lifetime of Asio bearer tokens in seconds.
    #[arg(long, default_value_t = 3599)]
    token_ttl_secs: u64,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    let faults = sandbox::faults::parse_spec(&args.faults).context("--faults")?;
    let mut config = Config {
        seed: args.seed,
        size: args.size,
        faults,
        port: args.port,
        rmm_token_ttl: Duration::from_secs(args.token_ttl_secs),
        credentials: Credentials {
            company: args.company,
            public_key: args.public_key,
            private_key: args.private_key,
            client_id: args.client_id,
            ..Credentials::default()
        },
        ..Config::default()
    };
    if let Some(today) = args.today {
        config.today = today;
    }
    let running = sandbox::start(config)
        .await
        .context("starting the sandbox tenant")?;
    print_env(&running.env_lines());
    shutdown_signal().await;
    running.shutdown().await;
    Ok(())
}

#[allow(
    clippy::print_stdout,
    reason = "the binary's contract is to print its CW_* lines on stdout"
)]
fn print_env(lines: &[String]) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    for line in lines {
        println!("{line}");
    }
    // Callers read the lines through a pipe: make them visible at once.
    let _ = out.flush();
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
}
