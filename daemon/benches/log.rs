//! Event log benchmark (not a test): durable appends per second with 1, 16 and 256 concurrent
//! writers (group commit), and replay speed over 1,000,000 events.
//!
//! `cargo bench -p daemon --bench log` (release). Figures go in BENCHMARKS.md.
#![allow(clippy::print_stdout, reason = "a benchmark prints its figures")]
#![allow(clippy::unwrap_used, reason = "a benchmark aborts on any failure")]

use std::time::{Duration, Instant};

use daemon::log::{Draft, Options, Store};
use schemas::event::{
    Disposition, EffectPreview, Event, ItemOutcome, Mode, Principal, Risk, TokenUsage,
    UpstreamRequest,
};

/// A night's mix: 60% reads, then proposals, executions and item outcomes.
fn sample(i: u64) -> Draft {
    let call_id = format!("call-{i}");
    let request = || UpstreamRequest {
        product: "manage".into(),
        method: "PATCH".into(),
        path: format!("/service/tickets/{}", 1000 + i % 500),
        body: Some(serde_json::json!([{"op": "replace", "path": "priority/id", "value": 3}])),
    };
    let event = match i % 10 {
        0..=5 => Event::ActionRead {
            call_id,
            tool: "cw_tickets".into(),
            action: "get".into(),
            params: serde_json::json!({"id": 1000 + i % 500, "depth": "summary"}),
            upstream_requests: 1,
            bytes: 1432,
            result_digest: "9f2c4a1be0d377e15b8c0a6f1d2e3c4b5a69788766554433221100ffeeddccbb"
                .into(),
            duration_ms: 3,
        },
        6 => Event::ActionProposed {
            proposal_id: format!("p-{i}"),
            call_id,
            tool: "cw_tickets".into(),
            action: "update".into(),
            params: serde_json::json!({"id": 1000 + i % 500, "priority_id": 3}),
            risk: Risk::Write,
            mode: Mode::Observe,
            request: request(),
            effect: EffectPreview {
                summary: "priority Medium -> High".into(),
                ..EffectPreview::default()
            },
            action_digest: "ab".repeat(32),
            disposition: Disposition::RecordedForReview,
            observed: None,
        },
        7 => Event::ActionExecuting {
            call_id,
            proposal_id: None,
            tool: "cw_tickets".into(),
            action: "update".into(),
            request: request(),
        },
        8 => Event::ActionExecuted {
            call_id: format!("call-{}", i - 1),
            proposal_id: None,
            status: 200,
            result_digest: "cd".repeat(32),
            record: None,
            duration_ms: 40,
        },
        _ => Event::ItemFinished {
            run_id: "run-1".into(),
            item_id: format!("ticket-{i}"),
            outcome: ItemOutcome::Done,
            reason: None,
            steps: 4,
            tokens: TokenUsage {
                prompt: 1800,
                completion: 120,
            },
            summary: "triaged to Help Desk / Email / High".into(),
            calls: Vec::new(),
        },
    };
    Draft::new(
        Principal::Skill {
            skill: "msp-night-triage".into(),
            run_id: "run-1".into(),
        },
        event,
    )
}

async fn durable_appends(writers: usize, duration: Duration) -> (f64, u64) {
    let dir = tempfile::tempdir().unwrap();
    let options = Options {
        checkpoint_every: 0,
        ..Options::default()
    };
    let (store, _) = Store::open(
        &dir.path().join("log"),
        &dir.path().join("cp.json"),
        options,
    )
    .unwrap();
    let started = Instant::now();
    let tasks: Vec<_> = (0..writers)
        .map(|w| {
            let store = store.clone();
            tokio::spawn(async move {
                let mut n = 0u64;
                while started.elapsed() < duration {
                    store
                        .append(sample(w as u64 * 1_000_000 + n))
                        .await
                        .unwrap();
                    n += 1;
                }
                n
            })
        })
        .collect();
    let mut total = 0;
    for t in tasks {
        total += t.await.unwrap();
    }
    let rate = total as f64 / started.elapsed().as_secs_f64();
    store.close().await;
    (rate, total)
}

async fn replay(events: u64) {
    let dir = tempfile::tempdir().unwrap();
    let cache_bytes = std::env::var("NIGHTJAR_BENCH_CACHE_MB")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
        .map(|mb| mb << 20);
    let mut options = Options {
        checkpoint_every: 0,
        ..Options::default()
    };
    if let Some(bytes) = cache_bytes {
        options.cache_bytes = bytes;
    }
    let (store, _) = Store::open(
        &dir.path().join("log"),
        &dir.path().join("cp.json"),
        options.clone(),
    )
    .unwrap();
    let fill = Instant::now();
    let batch = 4096;
    let mut i = 0;
    while i < events {
        let n = batch.min(events - i);
        let appends: Vec<_> = (i..i + n).map(|k| store.append(sample(k))).collect();
        for r in futures::future::join_all(appends).await {
            r.unwrap();
        }
        i += n;
    }
    store.checkpoint().await.unwrap();
    store.close().await;
    println!(
        "  wrote {events} events in {:.1} s",
        fill.elapsed().as_secs_f64()
    );
    drop(store);

    // What the daemon does at start: open, verify since the checkpoint, rebuild the projections
    // (from the snapshot written with the checkpoint), first with and then without the snapshot.
    let log_dir = dir.path().join("log");
    let cp = dir.path().join("cp.json");
    let started = Instant::now();
    let (store, report) = Store::open(&log_dir, &cp, options.clone()).unwrap();
    assert!(report.ok());
    let with_snapshot = started.elapsed();
    let pending = store.projections().pending.len();
    store.close().await;
    drop(store);
    std::fs::remove_file(dir.path().join("projections.json")).unwrap();
    let started = Instant::now();
    let (store, report) = Store::open(&log_dir, &cp, options).unwrap();
    assert!(report.ok());
    let full = started.elapsed();
    assert_eq!(store.projections().pending.len(), pending);
    println!(
        "  start-up over {events} events (open + verify since checkpoint + projections): {:.3} s with the checkpoint's snapshot",
        with_snapshot.as_secs_f64()
    );
    println!(
        "  replay of all {events} events into the projections (no snapshot): {:.2} s ({:.0} events/s)",
        full.as_secs_f64(),
        events as f64 / full.as_secs_f64()
    );
    let started = Instant::now();
    let mut all = 0u64;
    for e in store.range(0, u64::MAX) {
        e.unwrap();
        all += 1;
    }
    println!(
        "  decoding every one of {all} events: {:.2} s",
        started.elapsed().as_secs_f64()
    );
    let started = Instant::now();
    let full = store.verify_all().unwrap();
    assert!(full.ok());
    println!(
        "  full chain verification of {} events: {:.2} s",
        full.verified,
        started.elapsed().as_secs_f64()
    );
    store.close().await;
}

#[tokio::main]
async fn main() {
    let events: u64 = std::env::var("NIGHTJAR_BENCH_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    println!(
        "event log benchmark ({} cores)",
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    );
    if std::env::var_os("NIGHTJAR_BENCH_SKIP_APPENDS").is_none() {
        let (one, _) = durable_appends(1, Duration::from_secs(3)).await;
        println!("  durable appends, 1 writer:    {one:>9.0} /s");
        for writers in [16, 256] {
            let (rate, _) = durable_appends(writers, Duration::from_secs(3)).await;
            println!(
                "  durable appends, {writers:>3} writers: {rate:>9.0} /s  ({:.1}x one writer)",
                rate / one
            );
        }
    }
    replay(events).await;
}
