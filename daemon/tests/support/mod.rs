//! The harness the sandbox-backed catalog tests share: a sandbox tenant anchored on 2026-03-02,
//! a gate over real HTTP with an in-memory plan store that `cw_meta pending` reads, optionally a
//! ticket history index, and helpers to call actions and read the request journal; and a gate
//! with no connector at all, for what needs none.
#![allow(dead_code, reason = "each test binary uses part of the harness")]

use std::sync::Arc;
use std::time::Duration;

use daemon::approvals::PlanStore;
use daemon::catalog::{Context, SharedHistory};
use daemon::connector::{Connectors, Policy, Settings};
use daemon::gate::{Caller, Gate};
use daemon::log::{Options, Store};
use daemon::redact::Redactor;
use schemas::config::GateConfig;
use schemas::event::Mode;
use schemas::tool::{ToolCall, ToolOutcome};
use serde_json::Value;

pub struct World {
    pub tenant: sandbox::Running,
    pub gate: Gate,
    pub store: Store,
    /// The ticket history index, when the world was made with [`world_with_history`].
    pub history: Option<SharedHistory>,
    _dir: tempfile::TempDir,
}

pub fn today() -> chrono::NaiveDate {
    chrono::NaiveDate::from_ymd_opt(2026, 3, 2).unwrap()
}

pub async fn world() -> World {
    build(false).await
}

/// A world whose context holds a ticket history index (in its temporary directory), refreshed
/// from the sandbox as the daemon does at start.
pub async fn world_with_history() -> World {
    let w = build(true).await;
    let stats = daemon::history::refresh(w.gate.context()).await.unwrap();
    assert!(!stats.more && stats.tickets > 0, "{stats:?}");
    w
}

async fn build(with_history: bool) -> World {
    let tenant = sandbox::start(sandbox::Config {
        today: today(),
        ..sandbox::Config::default()
    })
    .await
    .unwrap();
    let settings = Settings::from_env_lines(&tenant.env_lines()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = Store::open(
        &dir.path().join("log"),
        &dir.path().join("checkpoint.json"),
        Options::default(),
    )
    .unwrap();
    let policy = Policy {
        max_attempts: 2,
        max_wait: Duration::from_secs(2),
        base_backoff: Duration::from_millis(10),
        jitter: Duration::from_millis(10),
        timeout: Duration::from_secs(5),
    };
    let plans = PlanStore::in_memory();
    let pending = {
        let (store, plans) = (store.clone(), plans.clone());
        Arc::new(move || daemon::approvals::pending(&store, &plans))
    };
    let redactor = Arc::new(Redactor::new(settings.secrets()));
    let mut ctx = Context::new(
        Connectors::new(&settings, &policy),
        settings.connector_states(),
        today(),
    )
    .with_pending(pending);
    let history = with_history.then(|| {
        let (index, _) =
            daemon::history::HistoryIndex::open(&dir.path().join("history"), redactor.clone())
                .unwrap();
        Arc::new(tokio::sync::RwLock::new(index))
    });
    if let Some(h) = &history {
        ctx = ctx.with_history(h.clone());
    }
    let gate = Gate::new(
        store.clone(),
        Arc::new(ctx),
        redactor,
        GateConfig::default(),
    )
    .unwrap()
    .with_plans(plans);
    World {
        tenant,
        gate,
        store,
        history,
        _dir: dir,
    }
}

/// A gate whose connectors are not configured, logging under `dir`: for the actions that need
/// no ConnectWise (`cw_calc`, `cw_meta search`), `help` and the action tables.
pub fn offline_gate(dir: &std::path::Path) -> Gate {
    let (store, _) =
        Store::open(&dir.join("log"), &dir.join("cp.json"), Options::default()).unwrap();
    let ctx = Arc::new(Context::new(
        Err(daemon::connector::Error::NotConfigured {
            product: daemon::connector::Product::Manage,
            problem: "not needed here".into(),
        }),
        Vec::new(),
        today(),
    ));
    Gate::new(
        store,
        ctx,
        Arc::new(Redactor::default()),
        GateConfig::default(),
    )
    .unwrap()
}

pub fn human() -> Caller {
    Caller::interactive("test-client", Mode::Enforce)
}

impl World {
    pub async fn call(
        &self,
        tool: &str,
        action: &str,
        params: Value,
        confirm: bool,
    ) -> ToolOutcome {
        let mut call = ToolCall::new(tool, action, params);
        if confirm {
            call = call.confirmed();
        }
        self.gate.dispatch(&human(), call).await
    }

    pub async fn read(&self, tool: &str, action: &str, params: Value) -> Value {
        match self.call(tool, action, params.clone(), false).await {
            ToolOutcome::Ok { result, .. } => result,
            other => panic!("{tool}.{action} {params}: {other:?}"),
        }
    }

    /// A technician's slip last week (2026-02-23 to 03-01): billable work marked "do not bill",
    /// which pre-billing finds. Returns the time entry's id.
    pub async fn plant_billing_slip(&self) -> i64 {
        let last_week = self
            .read(
                "cw_time",
                "entries",
                serde_json::json!({"from": "2026-02-23", "to": "2026-03-01", "limit": 50}),
            )
            .await;
        let slip = last_week["entries"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["billableOption"] == "Billable" && e["workType"]["id"] == 1)
            .unwrap()["id"]
            .as_i64()
            .unwrap();
        let out = self
            .call(
                "cw_time",
                "update",
                serde_json::json!({"id": slip, "billable": "DoNotBill"}),
                true,
            )
            .await;
        assert!(matches!(out, ToolOutcome::Executed { .. }), "{out:?}");
        slip
    }

    /// `METHOD product path` of every request that was not a read.
    pub fn writes(&self) -> Vec<String> {
        self.tenant
            .journal()
            .iter()
            .filter(|e| e.method != "GET" && !is_read_by_post(&e.path))
            .map(|e| format!("{} {} {}", e.method, e.product, e.path))
            .collect()
    }

    /// Which products the journal saw since it was last cleared.
    pub fn products(&self) -> std::collections::BTreeSet<String> {
        self.tenant
            .journal()
            .iter()
            .map(|e| e.product.clone())
            .collect()
    }
}

/// The name given most often, ties to the first given (the best-ranked precedent); empty for
/// none. How the tests turn precedents into one predicted label.
pub fn majority<'a>(names: impl IntoIterator<Item = &'a str>) -> String {
    let names: Vec<&str> = names.into_iter().collect();
    let mut counts: std::collections::BTreeMap<&str, usize> = Default::default();
    for n in &names {
        *counts.entry(n).or_default() += 1;
    }
    let best = counts.values().copied().max().unwrap_or(0);
    names
        .into_iter()
        .find(|n| counts[n] == best)
        .unwrap_or_default()
        .to_owned()
}

/// Asio answers some reads by POST (device queries) and issues tokens by POST.
pub fn is_read_by_post(path: &str) -> bool {
    path.ends_with("/v1/token") || path.contains("/device/categories/")
}

pub fn error_of(outcome: &ToolOutcome) -> &schemas::tool::ToolError {
    match outcome {
        ToolOutcome::Error { error, .. } => error,
        other => panic!("expected an error, got {other:?}"),
    }
}

/// The night shift over this world's gate, with the built-in skills.
pub fn night(
    gate: &Gate,
    config: schemas::config::Config,
    model: Option<agent::model::ModelConfig>,
) -> daemon::night::Night {
    let shared = daemon::mcp::Shared {
        gate: gate.clone(),
        settlements: Arc::new(daemon::approvals::Settlements::default()),
        approval_wait: Duration::from_secs(5),
    };
    daemon::night::Night::new(
        shared,
        agent::skill::builtin(),
        config,
        model,
        tokio_util::sync::CancellationToken::new(),
    )
}
