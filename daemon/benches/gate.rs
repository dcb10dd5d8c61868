//! Gate, catalog and compact-view benchmark (not a test): what `cw_tickets get depth:full` costs
//! in bytes and BPE tokens against the raw Manage and Asio answers it replaces, how many upstream
//! requests and sequential round trips it takes, and what the gate and the durable log add to a
//! call over a direct HTTP request.
//!
//! `cargo bench -p daemon --bench gate` (release). Figures go in BENCHMARKS.md. Environment knob:
//! `NIGHTJAR_BENCH_CALLS` (default 2,000), the calls of each kind in the overhead measurement.
#![allow(clippy::print_stdout, reason = "a benchmark prints its figures")]
#![allow(clippy::unwrap_used, reason = "a benchmark aborts on any failure")]

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use daemon::catalog::Context;
use daemon::connector::manage::{ACCEPT_VERSIONED, Query};
use daemon::connector::{Budget, Call, Connectors, Policy, Settings};
use daemon::gate::{Caller, Gate};
use daemon::log::{Options, Store};
use daemon::redact::Redactor;
use schemas::config::GateConfig;
use schemas::event::Mode;
use schemas::tool::{ToolCall, ToolOutcome};
use serde_json::{Value, json};
use tiktoken_rs::CoreBPE;

/// Latency added to every sandbox request while counting round trips: large against the
/// sandbox's own answer time (about 1 ms), so the rounds stand apart in the journal's timestamps.
const ROUND_TRIP: Duration = Duration::from_millis(40);

struct Bench {
    running: sandbox::Running,
    settings: Settings,
    today: chrono::NaiveDate,
    gate: Gate,
    /// Keeps the log's temp directory alive until the end.
    _dir: tempfile::TempDir,
    http: reqwest::Client,
    ids: Vec<i64>,
    o200k: CoreBPE,
    cl100k: CoreBPE,
}

fn context(settings: &Settings, today: chrono::NaiveDate) -> Arc<Context> {
    Arc::new(Context::new(
        Connectors::new(settings, &Policy::default()),
        settings.connector_states(),
        today,
    ))
}

async fn setup() -> Bench {
    let today = chrono::NaiveDate::from_ymd_opt(2026, 3, 2).unwrap();
    let running = sandbox::start(sandbox::Config {
        today,
        ..Default::default()
    })
    .await
    .unwrap();
    let settings = Settings::from_env_lines(&running.env_lines()).unwrap();
    let ctx = context(&settings, today);
    let manage = &ctx.connectors.as_ref().unwrap().manage;
    let listing = manage
        .list(
            &Call::new(Budget::default()),
            "/service/tickets",
            &Query::new().order_by("id asc"),
            1000,
        )
        .await
        .unwrap();
    assert!(!listing.truncated, "more tickets than one listing holds");
    let ids: Vec<i64> = listing
        .rows
        .iter()
        .map(|t| t["id"].as_i64().unwrap())
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let (store, report) = Store::open(
        &dir.path().join("log"),
        &dir.path().join("checkpoint.json"),
        Options::default(),
    )
    .unwrap();
    assert!(report.ok());
    let gate = Gate::new(
        store,
        ctx,
        Arc::new(Redactor::new(settings.secrets())),
        GateConfig::default(),
    )
    .unwrap();
    Bench {
        running,
        settings,
        today,
        gate,
        _dir: dir,
        http: reqwest::Client::new(),
        ids,
        o200k: tiktoken_rs::o200k_base().unwrap(),
        cl100k: tiktoken_rs::cl100k_base().unwrap(),
    }
}

fn caller() -> Caller {
    Caller::interactive("bench", Mode::Enforce)
}

fn get(id: i64, depth: &str) -> ToolCall {
    ToolCall::new("cw_tickets", "get", json!({"id": id, "depth": depth}))
}

/// A read's result and its `upstream_requests`; anything else aborts the bench.
async fn read(gate: &Gate, call: ToolCall) -> (Value, u64) {
    match gate.dispatch(&caller(), call).await {
        ToolOutcome::Ok {
            result,
            upstream_requests,
        } => (result, upstream_requests),
        other => panic!("expected a result, got {other:?}"),
    }
}

/// Nearest-rank percentile of sorted values.
fn pct(sorted: &[f64], p: f64) -> f64 {
    let rank = (p * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn sorted(mut v: Vec<f64>) -> Vec<f64> {
    v.sort_by(f64::total_cmp);
    v
}

/// Bytes and tokens of some JSON text.
#[derive(Debug, Clone, Copy, Default)]
struct Size {
    bytes: usize,
    o200k: usize,
    cl100k: usize,
}

impl Size {
    fn of(bench: &Bench, text: &str) -> Size {
        Size {
            bytes: text.len(),
            o200k: bench.o200k.encode_ordinary(text).len(),
            cl100k: bench.cl100k.encode_ordinary(text).len(),
        }
    }

    fn add(&mut self, other: Size) {
        self.bytes += other.bytes;
        self.o200k += other.o200k;
        self.cl100k += other.cl100k;
    }
}

/// One ticket's `get depth:full` against the raw answers behind it.
struct Ticket {
    upstream_requests: u64,
    journaled: usize,
    token_requests: usize,
    devices: usize,
    compact: Size,
    raw: Size,
}

/// Totals by part, raw (by the request that fetched it) and compact (by the result's field).
struct Parts {
    raw: BTreeMap<&'static str, Size>,
    compact: BTreeMap<String, Size>,
}

/// Which part of the raw answers a journaled request was, for the breakdown.
fn part(product: &str, path: &str) -> &'static str {
    match product {
        "rmm" if path.ends_with("/heartbeat") => "asio heartbeat",
        "rmm" if path.ends_with("/disk-usage") => "asio disk-usage",
        "rmm" => "asio other",
        _ if path.ends_with("/notes") => "notes",
        _ if path.ends_with("/time/entries") => "time entries",
        _ if path.ends_with("/tasks") => "tasks",
        _ if path.ends_with("/configurations") => "configurations",
        _ => "ticket",
    }
}

/// An Asio bearer token for replaying RMM reads, got the way the connector gets one.
async fn asio_bearer(bench: &Bench) -> String {
    let creds = bench.running.credentials();
    let answer: Value = bench
        .http
        .post(format!("{}/v1/token", bench.running.rmm_url()))
        .json(&json!({
            "grant_type": "client_credentials",
            "client_id": creds.rmm_client_id,
            "client_secret": creds.rmm_client_secret,
        }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    format!("Bearer {}", answer["access_token"].as_str().unwrap())
}

/// The Manage headers the connector sends: Basic `company+public:private`, `clientId`, the
/// versioned `Accept`.
fn manage_get(bench: &Bench, url: &str) -> reqwest::RequestBuilder {
    let creds = bench.running.credentials();
    bench
        .http
        .get(url)
        .basic_auth(
            format!("{}+{}", creds.company, creds.public_key),
            Some(&creds.private_key),
        )
        .header("clientId", &creds.client_id)
        .header("accept", ACCEPT_VERSIONED)
}

/// (a) and the request counts of (b): every ticket through the gate at depth `full`, then every
/// GET it caused replayed as-is to read the raw answers (the same paths and queries, so the same
/// information).
async fn compact_vs_raw(bench: &Bench) -> (Vec<Ticket>, Parts) {
    let bearer = asio_bearer(bench).await;
    let base = bench.running.base_url();
    let mut tickets = Vec::new();
    let mut parts: BTreeMap<&'static str, Size> = BTreeMap::new();
    let mut compact_parts: BTreeMap<String, Size> = BTreeMap::new();
    for &id in &bench.ids {
        bench.running.clear_journal();
        let (result, upstream_requests) = read(&bench.gate, get(id, "full")).await;
        let journal = bench.running.journal();
        let compact = Size::of(bench, &serde_json::to_string(&result).unwrap());
        for (name, value) in result.as_object().unwrap() {
            // Each part alone, for the breakdown (the whole also has its keys and braces).
            compact_parts
                .entry(name.clone())
                .or_default()
                .add(Size::of(bench, &serde_json::to_string(value).unwrap()));
        }
        let mut raw = Size::default();
        let mut token_requests = 0;
        for entry in &journal {
            assert!(
                (200..300).contains(&entry.status),
                "{} {} answered {}",
                entry.method,
                entry.path,
                entry.status
            );
            if entry.method == "POST" && entry.path.ends_with("/v1/token") {
                // Authentication, not information: counted as a request, not as raw content.
                token_requests += 1;
                continue;
            }
            assert_eq!(entry.method, "GET", "a read sent {}", entry.path);
            let url = match &entry.query {
                Some(q) => format!("{base}{}?{q}", entry.path),
                None => format!("{base}{}", entry.path),
            };
            let request = match entry.product.as_str() {
                "manage" => manage_get(bench, &url),
                "rmm" => bench.http.get(&url).header("authorization", &bearer),
                other => panic!("unexpected product {other}"),
            };
            let answer = request.send().await.unwrap();
            assert!(answer.status().is_success(), "replay of {url}");
            let size = Size::of(bench, &answer.text().await.unwrap());
            raw.add(size);
            parts
                .entry(part(&entry.product, &entry.path))
                .or_default()
                .add(size);
        }
        tickets.push(Ticket {
            upstream_requests,
            journaled: journal.len(),
            token_requests,
            devices: result["devices"].as_array().map_or(0, Vec::len),
            compact,
            raw,
        });
    }
    (
        tickets,
        Parts {
            raw: parts,
            compact: compact_parts,
        },
    )
}

fn report_sizes(tickets: &[Ticket], parts: &Parts) {
    let mut total = (Size::default(), Size::default());
    for t in tickets {
        total.0.add(t.compact);
        total.1.add(t.raw);
    }
    let with_devices = tickets.iter().filter(|t| t.devices > 0).count();
    println!(
        "(a) compact vs raw, cw_tickets get depth:full, {} tickets ({} with RMM devices)",
        tickets.len(),
        with_devices
    );
    let ratio = |c: usize, r: usize| c as f64 / r as f64;
    let line = |label: &str, c: usize, r: usize| {
        println!(
            "  total {label:<13} compact {c:>10}  raw {r:>10}  compact/raw {:>6.1}%  (target <= 15%)",
            100.0 * ratio(c, r)
        );
    };
    line("bytes", total.0.bytes, total.1.bytes);
    line("o200k tokens", total.0.o200k, total.1.o200k);
    line("cl100k tokens", total.0.cl100k, total.1.cl100k);
    let per_ticket = |label: &str, f: &dyn Fn(&Size) -> usize| {
        let r = sorted(
            tickets
                .iter()
                .map(|t| 100.0 * ratio(f(&t.compact), f(&t.raw)))
                .collect(),
        );
        println!(
            "  per ticket {label:<13} median {:>5.1}%  p90 {:>5.1}%  min {:>5.1}%  max {:>5.1}%",
            pct(&r, 0.5),
            pct(&r, 0.9),
            r[0],
            r[r.len() - 1]
        );
    };
    per_ticket("bytes", &|s| s.bytes);
    per_ticket("o200k tokens", &|s| s.o200k);
    per_ticket("cl100k tokens", &|s| s.cl100k);
    let mean = |f: &dyn Fn(&Ticket) -> usize| {
        tickets.iter().map(f).sum::<usize>() as f64 / tickets.len() as f64
    };
    println!(
        "  mean per ticket: compact {:.0} o200k tokens ({:.0} bytes), raw {:.0} o200k tokens ({:.0} bytes)",
        mean(&|t| t.compact.o200k),
        mean(&|t| t.compact.bytes),
        mean(&|t| t.raw.o200k),
        mean(&|t| t.raw.bytes)
    );
    println!("  raw by part (all tickets):");
    for (name, s) in &parts.raw {
        println!(
            "    {name:<16} {:>10} bytes  {:>9} o200k tokens  ({:>4.1}% of raw tokens)",
            s.bytes,
            s.o200k,
            100.0 * ratio(s.o200k, total.1.o200k)
        );
    }
    println!("  compact by field of the result (all tickets):");
    for (name, s) in &parts.compact {
        println!(
            "    {name:<16} {:>10} bytes  {:>9} o200k tokens  ({:>4.1}% of compact tokens)",
            s.bytes,
            s.o200k,
            100.0 * ratio(s.o200k, total.0.o200k)
        );
    }
}

/// `key: count, ...` in key order.
fn histogram<K: std::fmt::Display>(m: &BTreeMap<K, usize>) -> String {
    m.iter()
        .map(|(k, v)| format!("{k}: {v}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn report_requests(tickets: &[Ticket]) {
    let counts = sorted(tickets.iter().map(|t| t.upstream_requests as f64).collect());
    let agree = tickets
        .iter()
        .filter(|t| t.journaled as u64 == t.upstream_requests)
        .count();
    let tokens: usize = tickets.iter().map(|t| t.token_requests).sum();
    println!(
        "(b) upstream requests per get depth:full: min {}  median {}  max {}  (target <= 3)",
        counts[0],
        pct(&counts, 0.5),
        counts[counts.len() - 1]
    );
    println!(
        "  outcome's upstream_requests equals the sandbox journal's count for {agree} of {} tickets; {tokens} Asio token request(s) in all (the first RMM read only)",
        tickets.len()
    );
    let mut by_count: BTreeMap<u64, usize> = BTreeMap::new();
    for t in tickets {
        *by_count.entry(t.upstream_requests).or_default() += 1;
    }
    let within = tickets.iter().filter(|t| t.upstream_requests <= 3).count();
    println!(
        "  distribution (requests: tickets): {}; within target: {within} of {}",
        histogram(&by_count),
        tickets.len()
    );
    let mut devices: BTreeMap<usize, usize> = BTreeMap::new();
    for t in tickets {
        *devices.entry(t.devices).or_default() += 1;
    }
    println!(
        "  RMM devices per ticket (devices: tickets): {}",
        histogram(&devices)
    );
}

/// Sequential round trips of one call: with [`ROUND_TRIP`] added to every request, requests sent
/// together arrive within a few milliseconds of each other and the next round a full delay later.
fn rounds(journal: &[sandbox::Entry]) -> usize {
    let mut times: Vec<i64> = journal
        .iter()
        .map(|e| {
            chrono::DateTime::parse_from_rfc3339(&e.time)
                .unwrap()
                .timestamp_millis()
        })
        .collect();
    times.sort_unstable();
    let gap = (ROUND_TRIP.as_millis() / 2) as i64;
    1 + times.windows(2).filter(|w| w[1] - w[0] > gap).count()
}

/// (b), the critical path: every ticket again with a fixed delay on every sandbox request.
async fn critical_path(bench: &Bench) {
    let delay = ROUND_TRIP.as_millis();
    bench
        .running
        .add_faults(sandbox::faults::parse_spec(&format!("*=latency:{delay}")).unwrap());
    // A gate with fresh connectors for the first call: its Asio token is not cached yet.
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = Store::open(
        &dir.path().join("log"),
        &dir.path().join("checkpoint.json"),
        Options::default(),
    )
    .unwrap();
    let cold = Gate::new(
        store.clone(),
        context(&bench.settings, bench.today),
        Arc::new(Redactor::new(bench.settings.secrets())),
        GateConfig::default(),
    )
    .unwrap();
    let mut depths: BTreeMap<usize, usize> = BTreeMap::new();
    let mut by_elapsed: BTreeMap<u128, usize> = BTreeMap::new();
    let mut cold_depth = None;
    for &id in &bench.ids {
        bench.running.clear_journal();
        let started = Instant::now();
        let (result, _) = read(&cold, get(id, "full")).await;
        let elapsed = started.elapsed().as_millis();
        let journal = bench.running.journal();
        let depth = rounds(&journal);
        let has_devices = result["devices"].as_array().is_some_and(|d| !d.is_empty());
        if cold_depth.is_none() && has_devices {
            // The first RMM read of this gate: it fetched the Asio token first.
            cold_depth = Some((id, depth, elapsed));
            continue;
        }
        *depths.entry(depth).or_default() += 1;
        *by_elapsed.entry(elapsed / delay).or_default() += 1;
    }
    bench.running.clear_faults();
    store.close().await;
    println!(
        "  critical path with {delay} ms per request, warm token (round trips: tickets): {}",
        histogram(&depths)
    );
    println!(
        "    cross-check, floor(call time / {delay} ms): {}",
        histogram(&by_elapsed)
    );
    if let Some((id, depth, elapsed)) = cold_depth {
        println!(
            "    first RMM read of a new connector (ticket {id}, token fetched): {depth} round trips, {elapsed} ms"
        );
    }
}

/// (c): gate + durable log versus the same GET sent directly, interleaved so drift in the
/// machine's load hits both alike; one caller at a time.
async fn overhead(bench: &Bench, calls: usize) {
    let manage_url = bench.running.manage_url();
    let direct = |id: i64| {
        let request = manage_get(bench, &format!("{manage_url}/service/tickets/{id}"));
        async move {
            let started = Instant::now();
            let answer = request.send().await.unwrap();
            assert!(answer.status().is_success());
            answer.bytes().await.unwrap();
            started.elapsed()
        }
    };
    let through_gate = |id: i64| async move {
        let started = Instant::now();
        let (result, requests) = read(&bench.gate, get(id, "summary")).await;
        let elapsed = started.elapsed();
        assert_eq!(requests, 1);
        assert_eq!(result["id"], id);
        elapsed
    };
    let id = |i: usize| bench.ids[i % bench.ids.len()];
    for i in 0..200 {
        direct(id(i)).await;
        through_gate(id(i)).await;
    }
    let before = bench.gate.store().range(0, u64::MAX).count();
    let (mut g, mut d, mut diff) = (Vec::new(), Vec::new(), Vec::new());
    let started = Instant::now();
    for i in 0..calls {
        let (gate_time, direct_time) = if i % 2 == 0 {
            let dt = direct(id(i)).await;
            (through_gate(id(i)).await, dt)
        } else {
            let gt = through_gate(id(i)).await;
            (gt, direct(id(i)).await)
        };
        let ms = |t: Duration| t.as_secs_f64() * 1000.0;
        g.push(ms(gate_time));
        d.push(ms(direct_time));
        diff.push(ms(gate_time) - ms(direct_time));
    }
    let wall = started.elapsed().as_secs_f64();
    let logged = bench.gate.store().range(0, u64::MAX).count() - before;
    assert!(logged >= calls, "every gate call appends an ActionRead");
    let (g, d, diff) = (sorted(g), sorted(d), sorted(diff));
    println!(
        "(c) cw_tickets get depth:summary through Gate::dispatch vs a direct GET /service/tickets/{{id}}, {calls} calls each, one sequential caller"
    );
    let line = |label: &str, v: &[f64]| {
        println!(
            "  {label:<30} p50 {:>6.3} ms  p90 {:>6.3} ms  p99 {:>6.3} ms  mean {:>6.3} ms",
            pct(v, 0.5),
            pct(v, 0.9),
            pct(v, 0.99),
            v.iter().sum::<f64>() / v.len() as f64
        );
    };
    line("direct reqwest GET", &d);
    line("gate + log (durable append)", &g);
    line("per-pair overhead", &diff);
    println!(
        "  overhead p50(gate) - p50(direct) {:.3} ms, p99(gate) - p99(direct) {:.3} ms  (target <= 1 ms p50); {logged} events appended durably; {:.0} pairs/s",
        pct(&g, 0.5) - pct(&d, 0.5),
        pct(&g, 0.99) - pct(&d, 0.99),
        calls as f64 / wall
    );
}

#[tokio::main]
async fn main() {
    let calls: usize = std::env::var("NIGHTJAR_BENCH_CALLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2000);
    let bench = setup().await;
    println!(
        "gate benchmark ({} cores, sandbox size small, seed 42, {} tickets)",
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1),
        bench.ids.len()
    );
    let (tickets, parts) = compact_vs_raw(&bench).await;
    report_sizes(&tickets, &parts);
    report_requests(&tickets);
    critical_path(&bench).await;
    overhead(&bench, calls).await;
    bench.gate.store().close().await;
    bench.running.shutdown().await;
}
