//! Morning feed benchmark (not a test): the time `nightjarctl feed` takes from a state
//! directory (open the log, verify it, decode, fold, render), for one night of 10,000 events and
//! for a log of 1,000,000 events (a hundred such nights), in each format.
//!
//! `cargo bench -p daemon --bench feed` (release). Figures go in BENCHMARKS.md.
#![allow(clippy::print_stdout, reason = "a benchmark prints its figures")]
#![allow(clippy::unwrap_used, reason = "a benchmark aborts on any failure")]

use std::path::Path;
use std::time::{Duration, Instant};

use daemon::feed::{Format, Window, fold_window, load, render};
use daemon::log::{Draft, Options, Reader, Store};
use schemas::event::{
    Budgets, Disposition, EffectPreview, Event, FieldChange, ItemOutcome, Mode, Principal,
    RecordRef, Risk, RunOutcome, RunTrigger, TokenUsage, UpstreamRequest,
};
use schemas::verdict::ObservedTarget;
use serde_json::json;

const NIGHT: u64 = 10_000;

/// One item of a triage night: started, six reads, a recorded proposal, finished (10 events);
/// every fourth item also a human outcome observed later.
fn item(night: u64, i: u64) -> Vec<Event> {
    let run_id = format!("run-{night}");
    let ticket = 40_000 + i;
    let mut events = vec![Event::ItemStarted {
        run_id: run_id.clone(),
        item_id: format!("ticket:{ticket}"),
        kind: "ticket".into(),
        subject: format!("#{ticket} Outlook keeps asking for the password"),
    }];
    for r in 0..6 {
        events.push(Event::ActionRead {
            call_id: format!("c-{night}-{i}-{r}"),
            tool: "cw_tickets".into(),
            action: "get".into(),
            params: json!({"id": ticket}),
            upstream_requests: 2,
            bytes: 1800,
            result_digest: "ab".repeat(32),
            duration_ms: 4,
        });
    }
    let proposal_id = format!("p-{night}-{i}");
    events.push(Event::ActionProposed {
        proposal_id: proposal_id.clone(),
        call_id: format!("c-{night}-{i}-p"),
        tool: "cw_tickets".into(),
        action: "update".into(),
        params: json!({"id": ticket, "priority_id": 2}),
        risk: Risk::Write,
        mode: Mode::Observe,
        request: UpstreamRequest {
            product: "manage".into(),
            method: "PATCH".into(),
            path: format!("/service/tickets/{ticket}"),
            body: Some(json!([{"op": "replace", "path": "priority/id", "value": 2}])),
        },
        effect: EffectPreview {
            summary: format!("change priority on ticket {ticket}"),
            target: Some(RecordRef {
                kind: "ticket".into(),
                id: ticket.to_string(),
            }),
            changes: vec![FieldChange {
                field: "priority".into(),
                before: Some(json!({"id": 3, "name": "Priority 3 - Normal Response"})),
                after: Some(json!({"id": 2})),
            }],
            ..EffectPreview::default()
        },
        action_digest: "cd".repeat(32),
        disposition: Disposition::RecordedForReview,
        observed: Some(ObservedTarget {
            product: "manage".into(),
            path: format!("/service/tickets/{ticket}"),
            version: "2026-03-02T01:00:00Z".into(),
        }),
    });
    events.push(Event::ItemFinished {
        run_id,
        item_id: format!("ticket:{ticket}"),
        outcome: ItemOutcome::Done,
        reason: None,
        steps: 3,
        tokens: TokenUsage {
            prompt: 2400,
            completion: 60,
        },
        summary: "priority 2, internal note left".into(),
        calls: Vec::new(),
    });
    if i.is_multiple_of(4) {
        events.push(Event::HumanOutcomeObserved {
            proposal_id,
            skill: "msp-night-triage".into(),
            class: Some("cw_tickets.update".into()),
            record: RecordRef {
                kind: "ticket".into(),
                id: ticket.to_string(),
            },
            field: "priority/id".into(),
            before: Some(json!(3)),
            proposed: json!(2),
            observed: json!(if i.is_multiple_of(20) { 4 } else { 2 }),
            agrees: !i.is_multiple_of(20),
            critical: false,
        });
    }
    events
}

/// Appends `nights` nights of about 10,000 events each, a checkpoint after each.
async fn fill(dir: &Path, nights: u64) -> u64 {
    let (store, _) = Store::open(
        &dir.join("log"),
        &dir.join("checkpoint.json"),
        Options {
            checkpoint_every: 0,
            ..Options::default()
        },
    )
    .unwrap();
    for night in 0..nights {
        let run_id = format!("run-{night}");
        let principal = || Principal::Skill {
            skill: "msp-night-triage".into(),
            run_id: run_id.clone(),
        };
        let mut events = vec![Event::RunStarted {
            run_id: run_id.clone(),
            skill: "msp-night-triage".into(),
            mode: Mode::Observe,
            model: "qwen2.5-coder-0.5b".into(),
            budgets: Budgets::default(),
            trigger: RunTrigger::Schedule,
            scheduled_for: None,
            resumes: None,
        }];
        let mut i = 0;
        while events.len() < (NIGHT - 2) as usize {
            events.extend(item(night, i));
            i += 1;
        }
        events.push(Event::RunFinished {
            run_id: run_id.clone(),
            skill: "msp-night-triage".into(),
            outcome: RunOutcome::Completed,
            reason: None,
            items_done: i as u32,
            items_skipped: 0,
            items_failed: 0,
            tokens: TokenUsage::default(),
            duration_ms: 3_600_000,
        });
        for chunk in events.chunks(4096) {
            let appends: Vec<_> = chunk
                .iter()
                .map(|e| store.append(Draft::new(principal(), e.clone()).with_run(&run_id)))
                .collect();
            for r in futures::future::join_all(appends).await {
                r.unwrap();
            }
        }
        store.checkpoint().await.unwrap();
    }
    let n = store.len();
    store.close().await;
    n
}

/// What `nightjarctl feed` does without a daemon, timed step by step: open the log, load the
/// window (verify since the checkpoint, the snapshot's trust tally, decode), fold, render.
fn feed(dir: &Path, window: &Window, format: Format) -> (u64, [Duration; 4], usize) {
    let started = Instant::now();
    let reader = Reader::open(&dir.join("log"), &dir.join("checkpoint.json"), 64 << 20).unwrap();
    let opened = started.elapsed();
    let (events, basis) = load(&reader, window).unwrap();
    assert!(basis.report.problem.is_none());
    let loaded = started.elapsed();
    let feed = fold_window(&events, &basis);
    assert!(feed.trust[0].observations > 0, "the whole log's trust");
    let folded = started.elapsed();
    let out = render(&feed, format);
    let rendered = started.elapsed();
    (
        feed.events,
        [opened, loaded - opened, folded - loaded, rendered - folded],
        out.len(),
    )
}

/// The windows a morning asks for: the last night by `--since` (its first event's time) and by
/// `--run`; the whole log.
fn windows(dir: &Path, nights: u64) -> Vec<(&'static str, Window)> {
    let reader = Reader::open(&dir.join("log"), &dir.join("checkpoint.json"), 64 << 20).unwrap();
    let end = reader.next_seq().unwrap();
    // Every night is the same number of events: the last one starts here.
    let first = end / nights * (nights - 1);
    let since = reader.range(first, end).next().unwrap().unwrap().ts;
    let mut windows = vec![
        (
            "--since the last night",
            Window {
                since: Some(since),
                ..Window::default()
            },
        ),
        (
            "--run the last night",
            Window {
                run: Some(format!("run-{}", nights - 1)),
                ..Window::default()
            },
        ),
    ];
    if nights == 1 {
        // The 24 hours up to the newest event: the whole night.
        windows.push(("no window given", Window::default()));
    } else {
        // Every night of the bench is written within minutes, so here the default window would
        // be the whole log too.
        windows.push((
            "--all",
            Window {
                all: true,
                ..Window::default()
            },
        ));
    }
    windows
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

#[tokio::main]
async fn main() {
    let formats = [
        (
            "text",
            Format::Text {
                colour: false,
                width: 0,
            },
        ),
        ("md", Format::Markdown),
        ("html", Format::Html),
        ("json", Format::Json),
    ];
    // `NIGHTJAR_BENCH_NIGHTS=1` measures the one-night log only.
    let most: u64 = std::env::var("NIGHTJAR_BENCH_NIGHTS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(100);
    for (label, nights, target) in [
        ("one night", 1, Duration::from_millis(100)),
        ("a long log", 100, Duration::from_secs(2)),
    ] {
        if nights > most {
            continue;
        }
        let dir = tempfile::tempdir().unwrap();
        let filled = Instant::now();
        let n = fill(dir.path(), nights).await;
        println!(
            "{label}: {n} events written in {:.1} s",
            filled.elapsed().as_secs_f64()
        );
        for (case, window) in windows(dir.path(), nights) {
            // Warm the page cache the way a second look at the feed would find it.
            let _ = feed(dir.path(), &window, formats[0].1);
            let target = if window.all { None } else { Some(target) };
            for (name, format) in formats {
                let (shown, steps, bytes) = (0..3)
                    .map(|_| feed(dir.path(), &window, format))
                    .min_by_key(|r| r.1.iter().sum::<Duration>())
                    .unwrap();
                let total: Duration = steps.iter().sum();
                let verdict = match target {
                    Some(t) if total <= t => format!("target {} met", ms(t)),
                    Some(t) => format!("target {} MISSED", ms(t)),
                    None => "no target".into(),
                };
                println!(
                    "  {case}, {name:>4}: {} ({shown} events shown; open {}, load {}, fold {}, render {}); {} KiB out; {verdict}",
                    ms(total),
                    ms(steps[0]),
                    ms(steps[1]),
                    ms(steps[2]),
                    ms(steps[3]),
                    bytes / 1024,
                );
            }
        }
    }
}
