//! MCP round-trip benchmark (not a test): one read action (`cw_tickets get`, depth summary)
//! through an rmcp client over the daemon's MCP socket, versus the same action through the gate
//! in process, versus a direct HTTP GET of the same ticket from the same sandbox. Prints p50 and
//! p99 of each, and what each layer adds.
//!
//! `cargo bench -p daemon --bench mcp` (release). Figures go in BENCHMARKS.md. Environment knob:
//! `NIGHTJAR_BENCH_CALLS` (default 2,000), the calls of each kind.
#![allow(clippy::print_stdout, reason = "a benchmark prints its figures")]
#![allow(clippy::unwrap_used, reason = "a benchmark aborts on any failure")]

use std::sync::Arc;
use std::time::{Duration, Instant};

use daemon::approvals::Settlements;
use daemon::catalog::Context;
use daemon::connector::manage::ACCEPT_VERSIONED;
use daemon::connector::{Connectors, Policy, Settings};
use daemon::gate::{Caller, Gate};
use daemon::log::{Options, Store};
use daemon::mcp;
use daemon::redact::Redactor;
use rmcp::ServiceExt;
use rmcp::model::CallToolRequestParams;
use schemas::config::{GateConfig, McpConfig};
use schemas::event::Mode;
use schemas::tool::ToolCall;
use serde_json::json;
use tokio_util::sync::CancellationToken;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

fn ms(d: Duration) -> String {
    format!("{:.3} ms", d.as_secs_f64() * 1000.0)
}

fn report(name: &str, mut samples: Vec<Duration>) -> (Duration, Duration) {
    samples.sort();
    let (p50, p99) = (percentile(&samples, 0.5), percentile(&samples, 0.99));
    println!("| {name} | {} | {} |", ms(p50), ms(p99));
    (p50, p99)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let calls: usize = std::env::var("NIGHTJAR_BENCH_CALLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2000);
    let today = chrono::NaiveDate::from_ymd_opt(2026, 3, 2).unwrap();
    let running = sandbox::start(sandbox::Config {
        today,
        ..Default::default()
    })
    .await
    .unwrap();
    let settings = Settings::from_env_lines(&running.env_lines()).unwrap();
    let id = running.truth().untriaged[0].ticket_id;
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = Store::open(
        &dir.path().join("log"),
        &dir.path().join("checkpoint.json"),
        Options::default(),
    )
    .unwrap();
    let ctx = Arc::new(Context::new(
        Connectors::new(&settings, &Policy::default()),
        settings.connector_states(),
        today,
    ));
    let gate = Gate::new(
        store,
        ctx,
        Arc::new(Redactor::new(settings.secrets())),
        GateConfig::default(),
    )
    .unwrap();

    // The MCP socket, served by the daemon's own accept loop.
    let socket = dir.path().join("mcp.sock");
    let listener = daemon::control::bind(&socket).await.unwrap();
    let cancel = CancellationToken::new();
    let shared = mcp::Shared {
        gate: gate.clone(),
        settlements: Arc::new(Settlements::default()),
        approval_wait: Duration::from_secs(90),
    };
    let server = tokio::spawn(mcp::accept_loop(
        listener,
        shared,
        McpConfig::default(),
        cancel.clone(),
    ));
    let stream = tokio::net::UnixStream::connect(&socket).await.unwrap();
    let client = ().serve(stream).await.unwrap();

    let http = reqwest::Client::new();
    let creds = running.credentials();
    let url = format!("{}/service/tickets/{id}", running.manage_url());
    let direct = || {
        http.get(&url)
            .basic_auth(
                format!("{}+{}", creds.company, creds.public_key),
                Some(&creds.private_key),
            )
            .header("clientId", &creds.client_id)
            .header("Accept", ACCEPT_VERSIONED)
            .send()
    };
    let caller = Caller::interactive("bench", Mode::Enforce);
    let call = || ToolCall::new("cw_tickets", "get", json!({"id": id}));
    let mcp_call = || {
        let serde_json::Value::Object(args) = json!({"action": "get", "params": {"id": id}}) else {
            unreachable!()
        };
        CallToolRequestParams::new("cw_tickets").with_arguments(args)
    };

    // Warm every path (connections, caches) before measuring.
    for _ in 0..50 {
        direct().await.unwrap().bytes().await.unwrap();
        gate.dispatch(&caller, call()).await;
        client.call_tool(mcp_call()).await.unwrap();
    }
    let (mut http_t, mut gate_t, mut mcp_t) = (Vec::new(), Vec::new(), Vec::new());
    // Interleaved, so drift on the shared machine hits all three alike.
    for _ in 0..calls {
        let t = Instant::now();
        let body = direct().await.unwrap().bytes().await.unwrap();
        http_t.push(t.elapsed());
        assert!(!body.is_empty());

        let t = Instant::now();
        let outcome = gate.dispatch(&caller, call()).await;
        gate_t.push(t.elapsed());
        assert_eq!(outcome.status(), "ok");

        let t = Instant::now();
        let result = client.call_tool(mcp_call()).await.unwrap();
        mcp_t.push(t.elapsed());
        assert_eq!(result.is_error, Some(false));
    }
    println!(
        "{calls} calls of each kind, sequential, one caller; sandbox, daemon and client share the machine"
    );
    println!();
    println!("| path | p50 | p99 |");
    println!("|---|---:|---:|");
    let (h50, h99) = report("direct HTTP GET of the ticket", http_t);
    let (g50, g99) = report("gate in process (compact view, durable ActionRead)", gate_t);
    let (m50, m99) = report("MCP over the socket (rmcp client -> daemon -> gate)", mcp_t);
    println!();
    println!(
        "gate over direct HTTP: +{} p50, +{} p99",
        ms(g50.saturating_sub(h50)),
        ms(g99.saturating_sub(h99))
    );
    println!(
        "MCP socket over the gate: +{} p50, +{} p99",
        ms(m50.saturating_sub(g50)),
        ms(m99.saturating_sub(g99))
    );
    client.cancel().await.unwrap();
    cancel.cancel();
    server.await.unwrap();
    running.shutdown().await;
}
