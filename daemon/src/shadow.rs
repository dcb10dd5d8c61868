//! Shadow metrics: what humans later did to the records that observe-mode proposals touched.
//!
//! An observe-mode proposal of a skill is recorded, never executed. Later a human works the
//! record. [`refresh`] re-reads each record still awaited (the projection
//! `awaiting_outcome`: the newest such proposal per record), and when a human has changed it
//! since the proposal (its `_info.lastUpdated` moved), logs one `HumanOutcomeObserved` per
//! decision field: what the agent proposed, what the human left there, whether they agree and
//! whether a miss would have been critical. The feed and `nightjarctl trust` then judge trust
//! from the log alone ([`crate::feed`]).
//!
//! It runs before each night run and on `nightjarctl trust --refresh`.

use chrono::{DateTime, Utc};
use schemas::control::ShadowRefresh;
use schemas::event::{EffectPreview, Event, RecordRef, UpstreamRequest};
use serde_json::Value;

use crate::connector::Call;
use crate::connector::manage::Query;
use crate::gate::Gate;
use crate::log::LogError;

/// The fields that carry a decision a human can agree or disagree with (JSON Patch paths' first
/// segment). Free text (notes, summaries) is not compared: it is redacted in the log, and two
/// good notes rarely match word for word.
const DECISIONS: &[&str] = &[
    "board",
    "priority",
    "type",
    "subType",
    "item",
    "owner",
    "status",
    "billableOption",
    "workType",
    "agreement",
    "timeStart",
    "timeEnd",
];

/// Fields whose miss is a wrong billing.
const BILLING: &[&str] = &[
    "billableOption",
    "workType",
    "agreement",
    "timeStart",
    "timeEnd",
];

/// Proposals older than this are no longer re-read: what a human did a month later says little
/// about the agent's proposal.
const AWAIT_DAYS: i64 = 30;

/// Most records re-read by one refresh (the fan-out bound); the oldest go first.
const MAX_REREADS: usize = 200;

/// What a human did to one field a proposal would have changed.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldOutcome {
    /// The JSON Patch path without its slash, e.g. `priority/id`.
    pub field: String,
    pub before: Option<Value>,
    pub proposed: Value,
    pub observed: Value,
    pub agrees: bool,
    /// A miss that would have been a wrong billing or a customer-visible change.
    pub critical: bool,
}

/// Compares a proposal's PATCH with the record as a human has left it. Pure.
///
/// Each replaced decision field is one outcome. A status is compared only when the proposal
/// asked for it (`status_id` in its parameters): a board move sets the new board's default
/// status as a side effect, and a human moving the ticket on is no disagreement.
pub fn compare(
    params: &Value,
    request: &UpstreamRequest,
    effect: &EffectPreview,
    now: &Value,
) -> Vec<FieldOutcome> {
    let Some(ops) = request.body.as_ref().and_then(Value::as_array) else {
        return Vec::new();
    };
    let visible = effect.amount.is_some() || effect.customer_visible_text.is_some();
    ops.iter()
        .filter(|op| matches!(op["op"].as_str(), Some("replace" | "add")))
        .filter_map(|op| {
            let field = op["path"].as_str()?.trim_start_matches('/');
            let top = field.split('/').next().unwrap_or(field);
            if !DECISIONS.contains(&top) || (top == "status" && params.get("status_id").is_none()) {
                return None;
            }
            let proposed = op["value"].clone();
            let observed = now
                .pointer(&format!("/{field}"))
                .cloned()
                .unwrap_or(Value::Null);
            let before = effect
                .changes
                .iter()
                .find(|c| c.field == top)
                .and_then(|c| c.before.clone())
                .map(|b| match (field.strip_prefix(top), &b) {
                    (Some("/id"), Value::Object(o)) => o.get("id").cloned().unwrap_or(Value::Null),
                    _ => b,
                });
            let agrees = same(&observed, &proposed);
            Some(FieldOutcome {
                field: field.to_owned(),
                before,
                proposed,
                observed,
                agrees,
                critical: !agrees && (visible || BILLING.contains(&top)),
            })
        })
        .collect()
}

/// JSON equality that takes `3` and `3.0` as the same number (shared with the trust tally).
use schemas::projection::same;

/// One refresh at a time (a night run's and `nightjarctl trust --refresh` could otherwise both
/// observe the same proposal).
static REFRESH: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Re-reads the awaited records and logs what humans did to them. A record that cannot be read
/// now is left for the next refresh; only a log failure is an error.
pub async fn refresh(gate: &Gate, now: DateTime<Utc>) -> Result<ShadowRefresh, LogError> {
    let _one_at_a_time = REFRESH.lock().await;
    let store = gate.store();
    let mut awaiting: Vec<_> = store
        .projections()
        .awaiting_outcome
        .into_values()
        .filter(|a| now - a.proposed_at <= chrono::Duration::days(AWAIT_DAYS))
        .collect();
    awaiting.sort_by_key(|a| a.proposed_seq);
    awaiting.truncate(MAX_REREADS);
    let mut report = ShadowRefresh::default();
    for awaited in awaiting {
        let Some(Ok(envelope)) = store
            .range(awaited.proposed_seq, awaited.proposed_seq + 1)
            .next()
        else {
            report.unreadable += 1;
            continue;
        };
        let Event::ActionProposed {
            proposal_id,
            tool,
            action,
            params,
            request,
            effect,
            observed: Some(target),
            ..
        } = &envelope.event
        else {
            report.unreadable += 1;
            continue;
        };
        let Some(record) = effect.target.clone() else {
            report.unreadable += 1;
            continue;
        };
        report.checked += 1;
        let Ok(current) = read(gate, &target.path).await else {
            report.unreadable += 1;
            continue;
        };
        if current["_info"]["lastUpdated"].as_str() == Some(target.version.as_str()) {
            report.untouched += 1;
            continue;
        }
        let outcomes = compare(params, request, effect, &current);
        if outcomes.is_empty() {
            report.untouched += 1;
            continue;
        }
        report.observed += 1;
        let class = format!("{tool}.{action}");
        for o in outcomes {
            append(gate, proposal_id, &awaited.skill, &class, &record, o).await?;
            report.fields += 1;
        }
    }
    if report.checked > 0 {
        tracing::info!(
            checked = report.checked,
            observed = report.observed,
            fields = report.fields,
            untouched = report.untouched,
            unreadable = report.unreadable,
            "shadow metrics refreshed"
        );
    }
    Ok(report)
}

async fn read(gate: &Gate, path: &str) -> Result<Value, String> {
    let manage = gate
        .context()
        .manage()
        .map_err(|f| format!("{:?}", f.kind()))?;
    manage
        .get(&Call::default(), path, &Query::new())
        .await
        .map_err(|e| e.to_string())
}

async fn append(
    gate: &Gate,
    proposal_id: &str,
    skill: &str,
    class: &str,
    record: &RecordRef,
    o: FieldOutcome,
) -> Result<(), LogError> {
    let redact = |v: Value| gate.redactor().value(&v);
    gate.store()
        .append_system(Event::HumanOutcomeObserved {
            proposal_id: proposal_id.to_owned(),
            skill: skill.to_owned(),
            class: Some(class.to_owned()),
            record: record.clone(),
            field: o.field,
            before: o.before.map(redact),
            proposed: redact(o.proposed),
            observed: redact(o.observed),
            agrees: o.agrees,
            critical: o.critical,
        })
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use schemas::event::FieldChange;
    use serde_json::json;

    fn patch(ops: Value) -> UpstreamRequest {
        UpstreamRequest {
            product: "manage".into(),
            method: "PATCH".into(),
            path: "/service/tickets/1042".into(),
            body: Some(ops),
        }
    }

    fn effect(changes: &[(&str, Value)]) -> EffectPreview {
        EffectPreview {
            summary: "change".into(),
            changes: changes
                .iter()
                .map(|(f, before)| FieldChange {
                    field: (*f).into(),
                    before: Some(before.clone()),
                    after: None,
                })
                .collect(),
            ..EffectPreview::default()
        }
    }

    #[test]
    fn each_decision_field_is_compared_with_what_the_human_left() {
        let ops = json!([
            {"op": "replace", "path": "priority/id", "value": 2},
            {"op": "replace", "path": "board/id", "value": 3},
            {"op": "replace", "path": "status/id", "value": 7},
        ]);
        let before = effect(&[
            ("priority", json!({"id": 4, "name": "Low"})),
            ("board", json!({"id": 1, "name": "Help Desk"})),
        ]);
        let now = json!({"priority": {"id": 2.0}, "board": {"id": 5}, "status": {"id": 9}});
        let got = compare(
            &json!({"id": 1042, "priority_id": 2, "board_id": 3}),
            &patch(ops),
            &before,
            &now,
        );
        // The status came with the board move, not from the agent: not compared.
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].field, "priority/id");
        assert_eq!(got[0].before, Some(json!(4)));
        assert!(got[0].agrees, "2 and 2.0 are the same priority");
        assert_eq!(got[1].field, "board/id");
        assert!(!got[1].agrees);
        assert!(!got[1].critical, "a board is no billing");
    }

    #[test]
    fn a_missed_billing_field_is_critical_and_free_text_is_not_compared() {
        let ops = json!([
            {"op": "replace", "path": "billableOption", "value": "DoNotBill"},
            {"op": "replace", "path": "notes", "value": "[redacted]"},
        ]);
        let now = json!({"billableOption": "Billable", "notes": "Replaced the switch."});
        let got = compare(
            &json!({"id": 7, "billable": "DoNotBill", "notes": "x"}),
            &patch(ops.clone()),
            &effect(&[("billableOption", json!("Billable"))]),
            &now,
        );
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].field, "billableOption");
        assert!(!got[0].agrees);
        assert!(got[0].critical);
        let agreed = compare(
            &json!({}),
            &patch(ops),
            &EffectPreview::default(),
            &json!({"billableOption": "DoNotBill"}),
        );
        assert!(agreed[0].agrees && !agreed[0].critical);
    }

    #[test]
    fn a_status_the_agent_asked_for_is_compared_and_a_customer_visible_miss_is_critical() {
        let ops = json!([{"op": "replace", "path": "status/id", "value": 7}]);
        let visible = EffectPreview {
            customer_visible_text: Some("We are on it".into()),
            ..EffectPreview::default()
        };
        let got = compare(
            &json!({"status_id": 7}),
            &patch(ops),
            &visible,
            &json!({"status": {"id": 8}}),
        );
        assert_eq!(got.len(), 1);
        assert!(!got[0].agrees && got[0].critical);
        assert_eq!(got[0].before, None);
    }
}
