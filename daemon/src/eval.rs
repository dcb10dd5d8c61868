//! The triage backtest (`nightjarctl eval triage`): before an MSP flips triage to enforce, run
//! the night agent's decision ([`agent::triage::decide`]) over tickets the team already closed,
//! their final labels hidden, and score it side by side with and without the shop's history.
//!
//! No peeking: a ticket's precedents come only from tickets closed strictly before it
//! ([`precedents`]), never the ticket itself. It reads only: the taxonomy through the gate (an
//! `ActionRead` like any other), the tickets from the history index; nothing is written
//! upstream, and the result is logged as `BacktestRecorded` for the feed and `nightjarctl trust`.

use std::time::{Duration, Instant};

use agent::model::{Model, ModelConfig};
use agent::triage::{self, Precedent, Taxonomy, Ticket};
use chrono::{DateTime, Utc};
use schemas::event::{Backtest, BacktestArm, Event, Mode};
use schemas::tool::{ToolCall, ToolOutcome};

use crate::gate::{Caller, Gate};
use crate::history::{Doc, HistoryIndex};

/// The skill whose decision is tested.
pub const SKILL: &str = "msp-night-triage";

/// Why a backtest did not run.
#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    #[error(
        "no model is configured: set NIGHTJAR_MODEL_URL and NIGHTJAR_MODEL (or [agent] in config.toml), or run `nightjarctl model serve`"
    )]
    NoModel,
    #[error("the daemon keeps no ticket history index")]
    NoHistory,
    #[error("cannot read the taxonomy: {0}")]
    Taxonomy(String),
    #[error("no closed ticket in the last {0} days to test on")]
    NoTickets(u32),
    #[error("the model could not be reached: {0}")]
    Model(String),
    #[error("the event log refused the result: {0}")]
    Log(#[from] crate::log::LogError),
}

/// What to test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Options {
    pub since_days: u32,
    pub limit: u32,
    pub k: u32,
}

/// The precedents of `doc`: the `k` most similar tickets closed strictly before it.
pub fn precedents(index: &HistoryIndex, doc: &Doc, k: usize) -> Vec<Precedent> {
    index
        .similar(
            &format!("{} {}", doc.summary, doc.description),
            k,
            Some(doc.closed),
            Some(doc.id),
        )
        .into_iter()
        .filter_map(|p| serde_json::to_value(&p).ok())
        .filter_map(|v| Precedent::from_read(&v))
        .collect()
}

/// The closed tickets to test: the newest `limit` closed within `since_days` of `today`.
fn chosen(index: &HistoryIndex, today: DateTime<Utc>, o: &Options) -> Vec<Doc> {
    let from = today - chrono::Duration::days(i64::from(o.since_days));
    let mut docs: Vec<Doc> = index
        .ids()
        .filter_map(|id| index.get(id))
        .filter(|d| d.closed >= from && d.closed <= today && d.board.is_some())
        .cloned()
        .collect();
    docs.sort_by(|a, b| b.closed.cmp(&a.closed).then(b.id.cmp(&a.id)));
    docs.truncate(o.limit as usize);
    docs
}

fn score(arm: &mut BacktestArm, taxonomy: &Taxonomy, doc: &Doc, decided: &triage::Decided) {
    arm.tokens.prompt += decided.tokens.prompt;
    arm.tokens.completion += decided.tokens.completion;
    arm.tickets += 1;
    let d = match &decided.decision {
        Ok(d) => d,
        Err(_) => {
            arm.invalid += 1;
            return;
        }
    };
    let id = |l: &Option<crate::history::Label>| l.as_ref().map(|l| l.id);
    arm.board += u32::from(id(&doc.board) == Some(d.board_id));
    arm.kind += u32::from(id(&doc.kind) == d.type_id);
    arm.subtype += u32::from(id(&doc.sub_type) == d.subtype_id);
    arm.priority += u32::from(id(&doc.priority) == Some(d.priority_id));
    let level = |p: Option<i64>| taxonomy.priorities.iter().position(|(i, _)| Some(*i) == p);
    if let (Some(a), Some(b)) = (level(id(&doc.priority)), level(Some(d.priority_id))) {
        arm.priority_within_one += u32::from(a.abs_diff(b) <= 1);
    }
}

/// Runs the backtest and logs it. `today` anchors `since_days` (the tenant's calendar).
pub async fn triage(
    gate: &Gate,
    model: Option<ModelConfig>,
    options: Options,
) -> Result<Backtest, EvalError> {
    let model = Model::new(model.ok_or(EvalError::NoModel)?);
    let history = gate.context().history.clone().ok_or(EvalError::NoHistory)?;
    // The newest closed tickets first (reads only).
    crate::history::refresh(gate.context()).await;
    let caller = Caller::interactive("nightjarctl eval", Mode::DryRun);
    let taxonomy = match gate
        .dispatch(
            &caller,
            ToolCall::new("cw_tickets", "taxonomy", serde_json::json!({})),
        )
        .await
    {
        ToolOutcome::Ok { result, .. } => Taxonomy::from_read(&result),
        other => return Err(EvalError::Taxonomy(format!("{other:?}"))),
    };
    let today = gate
        .context()
        .today
        .and_hms_opt(23, 59, 59)
        .map_or_else(Utc::now, |t| t.and_utc());
    let index = history.read().await;
    let docs = chosen(&index, today, &options);
    if docs.is_empty() {
        return Err(EvalError::NoTickets(options.since_days));
    }
    let mut result = Backtest {
        skill: SKILL.into(),
        model: model.config().model.clone(),
        k: options.k,
        since_days: options.since_days,
        ..Backtest::default()
    };
    let timeout = Duration::from_secs(120);
    for doc in &docs {
        let ticket = Ticket {
            id: doc.id,
            summary: doc.summary.clone(),
            description: doc.description.clone(),
        };
        let grounded = precedents(&index, doc, options.k as usize);
        for (arm, shown) in [
            (&mut result.with_history, grounded.as_slice()),
            (&mut result.without_history, &[][..]),
        ] {
            let started = Instant::now();
            match triage::decide(&model, &ticket, &taxonomy, shown, timeout).await {
                Ok(decided) => score(arm, &taxonomy, doc, &decided),
                Err(e) if e.is_fatal() => return Err(EvalError::Model(e.to_string())),
                Err(_) => arm.failed += 1,
            }
            arm.milliseconds += started.elapsed().as_millis() as u64;
        }
    }
    drop(index);
    gate.store()
        .append_system(Event::BacktestRecorded {
            backtest: result.clone(),
        })
        .await?;
    Ok(result)
}
