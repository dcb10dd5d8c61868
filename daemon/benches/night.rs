//! Night-shift benchmark (not a test): the agent's own overhead per work item against a model
//! of fixed latency, and items per minute on a real model.
//!
//! `cargo bench -p daemon --bench night` (release). Part 1 always runs: triage over the sandbox
//! with a scripted model that answers every turn after exactly `NIGHTJAR_BENCH_LATENCY_MS`
//! (default 200 ms); an item is two turns (an update and a note, then a closing line), so the
//! agent's overhead is the item's wall time minus the model's. Part 2 runs when
//! `NIGHTJAR_BENCH_MODEL_URL` / `NIGHTJAR_BENCH_MODEL` name a real server (e.g. from
//! `nightjarctl model serve`): the same run on that model, items per minute.
#![allow(clippy::print_stdout, reason = "a benchmark prints its figures")]
#![allow(clippy::unwrap_used, reason = "a benchmark aborts on any failure")]

use std::sync::Arc;
use std::time::{Duration, Instant};

use agent::model::ModelConfig;
use agent::scripted::{Script, ScriptedModel, ticket_of};
use daemon::approvals::Settlements;
use daemon::catalog::Context;
use daemon::connector::{Connectors, Policy, Settings};
use daemon::gate::Gate;
use daemon::log::{Options, Store};
use daemon::mcp;
use daemon::night::Night;
use daemon::redact::Redactor;
use schemas::config::{Config, SkillConfig};
use schemas::event::{Event, Mode, RunTrigger};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

async fn night(
    model: ModelConfig,
    items: usize,
) -> (Night, Store, sandbox::Running, tempfile::TempDir) {
    let tenant = sandbox::start(sandbox::Config {
        size: sandbox::Size::Medium,
        ..sandbox::Config::default()
    })
    .await
    .unwrap();
    let settings = Settings::from_env_lines(&tenant.env_lines()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = Store::open(
        &dir.path().join("log"),
        &dir.path().join("cp.json"),
        Options::default(),
    )
    .unwrap();
    let ctx = Arc::new(Context::new(
        Connectors::new(&settings, &Policy::default()),
        settings.connector_states(),
        tenant.truth().today.parse().unwrap(),
    ));
    let mut config = Config::default();
    config.agent.max_items = items;
    config.skills.insert(
        "msp-night-triage".into(),
        SkillConfig {
            mode: Some(Mode::Observe),
            ..SkillConfig::default()
        },
    );
    let gate = Gate::new(
        store.clone(),
        ctx,
        Arc::new(Redactor::new(settings.secrets())),
        config.gate.clone(),
    )
    .unwrap();
    let shared = mcp::Shared {
        gate,
        settlements: Arc::new(Settlements::default()),
        approval_wait: Duration::from_secs(5),
    };
    let night = Night::new(
        shared,
        agent::skill::builtin(),
        config,
        Some(model),
        CancellationToken::new(),
    );
    (night, store, tenant, dir)
}

/// Wall time of each item, from its `ItemStarted` to its `ItemFinished`.
fn item_times(store: &Store) -> Vec<Duration> {
    let mut started = std::collections::BTreeMap::new();
    let mut out = Vec::new();
    for e in store.range(0, store.len()).map(Result::unwrap) {
        match e.event {
            Event::ItemStarted { item_id, .. } => {
                started.insert(item_id, e.ts);
            }
            Event::ItemFinished { item_id, .. } => {
                if let Some(t) = started.get(&item_id) {
                    out.push((e.ts - *t).to_std().unwrap_or_default());
                }
            }
            _ => {}
        }
    }
    out
}

#[tokio::main]
async fn main() {
    let latency = Duration::from_millis(env("NIGHTJAR_BENCH_LATENCY_MS", 200));
    let items = env("NIGHTJAR_BENCH_ITEMS", 12) as usize;
    let model = ScriptedModel::start(move |req: &Value| {
        let id = ticket_of(req).unwrap();
        let answer = if req["messages"].as_array().is_some_and(|m| m.len() > 2) {
            Script::Text(format!("#{id}: priority 2, note left."))
        } else {
            Script::Calls(vec![
                (
                    "tickets_update".into(),
                    json!({"id": id, "priority_id": 2}).to_string(),
                ),
                (
                    "tickets_add_note".into(),
                    json!({"id": id, "text": "Check the mapped drive.", "internal": true})
                        .to_string(),
                ),
            ])
        };
        Script::After(latency, Box::new(answer))
    })
    .await;
    let config = ModelConfig {
        url: model.url().to_owned(),
        model: "scripted".into(),
        ..ModelConfig::default()
    };
    let (night, store, _tenant, _dir) = self::night(config, items).await;
    let started = Instant::now();
    let summary = night
        .run("msp-night-triage", RunTrigger::Manual, None)
        .await
        .unwrap();
    let wall = started.elapsed();
    let turns = model.requests().len() as u32;
    let per_item = item_times(&store);
    let model_time = latency * turns;
    let item_wall: Duration = per_item.iter().sum();
    let overhead = item_wall.saturating_sub(model_time);
    println!(
        "## Agent overhead, scripted model at {} ms a turn",
        latency.as_millis()
    );
    println!("| measure | value |\n|---|---|");
    println!(
        "| items worked | {} ({} done) |",
        per_item.len(),
        summary.items_done
    );
    println!("| model turns | {turns} |");
    println!("| run wall time | {:.2} s |", wall.as_secs_f64());
    println!("| items' wall time | {:.3} s |", item_wall.as_secs_f64());
    println!(
        "| model time (turns x latency) | {:.3} s |",
        model_time.as_secs_f64()
    );
    println!(
        "| agent overhead per item | {:.1} ms |",
        overhead.as_secs_f64() * 1000.0 / per_item.len().max(1) as f64
    );
    println!(
        "| overhead share of item wall time | {:.2}% (target <= 5%) |",
        100.0 * overhead.as_secs_f64() / item_wall.as_secs_f64().max(1e-9)
    );
    println!(
        "| set-up before the first item (taxonomy, list, help) | {:.1} ms |",
        (wall.saturating_sub(item_wall)).as_secs_f64() * 1000.0
    );

    if let (Ok(url), Ok(name)) = (
        std::env::var("NIGHTJAR_BENCH_MODEL_URL"),
        std::env::var("NIGHTJAR_BENCH_MODEL"),
    ) {
        let real_items = env("NIGHTJAR_BENCH_REAL_ITEMS", 5) as usize;
        let config = ModelConfig {
            url,
            model: name.clone(),
            ..ModelConfig::default()
        };
        let (night, store, _tenant, _dir) = self::night(config, real_items).await;
        let started = Instant::now();
        let summary = night
            .run("msp-night-triage", RunTrigger::Manual, None)
            .await
            .unwrap();
        let wall = started.elapsed();
        let per_item = item_times(&store);
        let mut sorted = per_item.clone();
        sorted.sort();
        println!("\n## Real model: {name}");
        println!("| measure | value |\n|---|---|");
        println!(
            "| items | {} ({} done, {} failed) |",
            per_item.len(),
            summary.items_done,
            summary.items_failed
        );
        println!("| run wall time | {:.1} s |", wall.as_secs_f64());
        println!(
            "| items per minute | {:.2} |",
            per_item.len() as f64 * 60.0 / wall.as_secs_f64()
        );
        println!(
            "| item wall time p50 / max | {:.1} s / {:.1} s |",
            sorted[sorted.len() / 2].as_secs_f64(),
            sorted.last().unwrap().as_secs_f64()
        );
        println!(
            "| tokens (prompt / completion) | {} / {} |",
            summary.tokens.prompt, summary.tokens.completion
        );
    } else {
        println!(
            "\n(real model part skipped: set NIGHTJAR_BENCH_MODEL_URL and NIGHTJAR_BENCH_MODEL)"
        );
    }
}
