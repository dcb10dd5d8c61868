//! Loopback load generator: simple Manage GETs per second against an in-process sandbox.
//!
//! Run with `cargo bench -p sandbox --bench requests` (release build). The sandbox must never be
//! the bottleneck of the project's own benchmarks; the target is at least 5,000 GETs/s here.
//! Client and server share the machine, so the figures are a floor for the server alone.

#![allow(
    clippy::print_stdout,
    reason = "a benchmark reports its figures on stdout"
)]
#![allow(clippy::unwrap_used, reason = "a benchmark fails loudly")]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use chrono::NaiveDate;
use sandbox::Config;

const CONCURRENCY: usize = 32;
const DURATION: Duration = Duration::from_secs(5);

async fn run(label: &str, urls: Vec<String>) -> f64 {
    let stop = Arc::new(AtomicBool::new(false));
    let urls = Arc::new(urls);
    let mut tasks = Vec::new();
    let started = Instant::now();
    for worker in 0..CONCURRENCY {
        let stop = stop.clone();
        let urls = urls.clone();
        tasks.push(tokio::spawn(async move {
            let http = reqwest::Client::new();
            let mut latencies = Vec::new();
            let mut i = worker;
            while !stop.load(Ordering::Relaxed) {
                let t = Instant::now();
                let r = http
                    .get(&urls[i % urls.len()])
                    .basic_auth("sandbox+sandbox_pub", Some("sandbox_priv"))
                    .header("clientId", "00000000-0000-0000-0000-000000000000")
                    .send()
                    .await
                    .unwrap();
                assert!(r.status().is_success());
                r.bytes().await.unwrap();
                latencies.push(t.elapsed());
                i += CONCURRENCY;
            }
            latencies
        }));
    }
    tokio::time::sleep(DURATION).await;
    stop.store(true, Ordering::Relaxed);
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    let elapsed = started.elapsed().as_secs_f64();
    all.sort();
    let pct =
        |p: f64| all[((all.len() as f64 * p) as usize).min(all.len() - 1)].as_secs_f64() * 1000.0;
    let rate = all.len() as f64 / elapsed;
    println!(
        "{label:<40} {:>8} requests  {:>9.0} req/s  p50 {:>6.2} ms  p99 {:>6.2} ms",
        all.len(),
        rate,
        pct(0.50),
        pct(0.99)
    );
    rate
}

#[tokio::main]
async fn main() {
    let running = sandbox::start(Config {
        today: NaiveDate::from_ymd_opt(2026, 3, 16).unwrap(),
        ..Config::default()
    })
    .await
    .unwrap();
    let base = running.manage_url();
    println!(
        "sandbox bench: {CONCURRENCY} keep-alive clients, {}s per case, client and server on one machine ({} cores)",
        DURATION.as_secs(),
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    );
    let info = run("GET /system/info", vec![format!("{base}/system/info")]).await;
    let ids: Vec<String> = (41_001..41_151)
        .map(|id| format!("{base}/service/tickets/{id}"))
        .collect();
    let ticket = run("GET /service/tickets/{id}", ids).await;
    let list = run(
        "GET /service/tickets?conditions=..&pageSize=25",
        vec![format!(
            "{base}/service/tickets?conditions=closedFlag%3Dfalse%20and%20board/id%3D1&pageSize=25"
        )],
    )
    .await;
    println!(
        "target 5000 req/s for simple GETs: /system/info {:.1}x, ticket by id {:.1}x (list query {:.0} req/s)",
        info / 5000.0,
        ticket / 5000.0,
        list
    );
    running.shutdown().await;
}
