//! In-memory projections rebuilt at start by replaying the log: pending approvals, skill modes,
//! run state, consumed verdict nonces, enrolled keys and actions left executing.
//!
//! Each is a pure fold over events (`apply(&mut self, &Envelope)`), so the state after a restart
//! is exactly the state the log describes. The log keeps them current as it appends and writes a
//! [`Snapshot`] with every checkpoint, so start-up folds only the events after the newest one.

use std::collections::{BTreeMap, BTreeSet};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::config::TrustCriteria;
use crate::event::{Backtest, Envelope, Event, Mode};

/// The projections as of the event at `seq` (a `Checkpointed` event whose hash is `head_hash`),
/// stored beside the checkpoint file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Snapshot {
    /// [`SNAPSHOT_VERSION`] when written; a snapshot of another version is not used (start-up
    /// replays the whole log once instead).
    #[serde(default)]
    pub version: u32,
    pub seq: u64,
    pub head_hash: String,
    pub projections: Projections,
}

/// The version of [`Projections`] a snapshot holds. 2: with the trust tally.
pub const SNAPSHOT_VERSION: u32 = 2;

/// A hard (or observe-recorded) proposal waiting for a human verdict.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Pending {
    pub proposal_id: String,
    pub action_digest: String,
    pub tool: String,
    pub action: String,
    pub run_id: Option<String>,
    pub proposed_seq: u64,
}

/// Where a night-agent run stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct RunState {
    pub skill: String,
    pub started_seq: u64,
    pub finished: bool,
    /// Items that started, with whether they finished.
    pub items: BTreeMap<String, bool>,
    /// The run this one resumes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resumes: Option<String>,
    /// The item being worked (started, not finished).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current: Option<String>,
    /// Items during which a change was sent upstream (`ActionExecuting`): never redone on resume.
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub wrote: BTreeSet<String>,
}

/// An enrolled operator key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct KeyState {
    pub public_key: String,
    pub label: String,
    pub revoked: bool,
}

/// An `ActionExecuting` with no outcome yet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct InFlight {
    pub executing_seq: u64,
    pub proposal_id: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Projections {
    pub pending: BTreeMap<String, Pending>,
    /// Modes from the newest `ConfigLoaded`.
    pub config_modes: BTreeMap<String, Mode>,
    /// Modes set by signed `ModeChanged` events; these win over configuration.
    pub signed_modes: BTreeMap<String, Mode>,
    pub runs: BTreeMap<String, RunState>,
    /// Per skill, the newest schedule slot a run was started for (catch-up after a restart).
    #[serde(default)]
    pub last_scheduled: BTreeMap<String, chrono::DateTime<chrono::Utc>>,
    pub consumed_nonces: BTreeSet<String>,
    pub keys: BTreeMap<String, KeyState>,
    pub in_flight: BTreeMap<String, InFlight>,
    /// Observe-mode proposals of skills whose record no human has been seen to touch yet, by
    /// record (`ticket/1042`): the newest proposal per record, which shadow metrics re-read.
    #[serde(default)]
    pub awaiting_outcome: BTreeMap<String, Awaiting>,
    /// Shadow metrics so far, which the feed's trust section judges.
    #[serde(default)]
    pub trust: TrustTally,
}

/// Shadow metrics folded from the whole log: per skill, what became of its observe-mode
/// proposals (the `HumanOutcomeObserved` events), and its newest backtest. Kept with the
/// projections, so the morning feed reads it from the newest snapshot instead of walking the
/// whole log.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct TrustTally {
    /// The flip criteria of the newest `ConfigLoaded` that names them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub criteria: Option<TrustCriteria>,
    pub skills: BTreeMap<String, SkillTally>,
}

/// One skill's shadow metrics so far.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct SkillTally {
    /// Observe-mode proposals recorded.
    pub recorded: u32,
    /// Proposals whose record a human has since changed.
    pub acted_on: BTreeSet<String>,
    /// By action class (`cw_tickets.update`).
    pub classes: BTreeMap<String, ClassTrust>,
    /// Every critical miss, oldest first.
    pub misses: Vec<CriticalMiss>,
    /// The newest backtest (`nightjarctl eval triage`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backtest: Option<Backtest>,
}

/// One action class of a skill (`cw_tickets.update`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ClassTrust {
    pub class: String,
    /// Decisions (fields) a human has since acted on.
    pub observations: u32,
    /// Of those, the human left what the agent proposed.
    pub agreed: u32,
    /// Would-have-changed decisions (the proposal differed from the record) a human later made
    /// the same way.
    pub confirmed: u32,
    /// Would-have-changed decisions a human made differently.
    pub contradicted: u32,
    pub critical: u32,
}

/// A miss that would have been a wrong billing or a customer-visible change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct CriticalMiss {
    pub seq: u64,
    pub at: chrono::DateTime<chrono::Utc>,
    pub proposal_id: String,
    /// `time_entry 7`.
    pub record: String,
    pub field: String,
    pub proposed: String,
    pub observed: String,
}

/// Two field values are the same decision: numbers by value (`3` and `3.0`), the rest as JSON.
pub fn same(a: &serde_json::Value, b: &serde_json::Value) -> bool {
    match (a.as_f64(), b.as_f64()) {
        (Some(x), Some(y)) => x == y,
        _ => a == b,
    }
}

fn short(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

impl TrustTally {
    /// Folds one event; only `ConfigLoaded`, observe-mode `ActionProposed` of a skill,
    /// `HumanOutcomeObserved` and `BacktestRecorded` count.
    pub fn apply(&mut self, e: &Envelope) {
        use crate::event::{Disposition, Principal};
        match &e.event {
            Event::ConfigLoaded { trust: Some(c), .. } => self.criteria = Some(*c),
            Event::ActionProposed {
                disposition: Disposition::RecordedForReview,
                ..
            } => {
                if let Principal::Skill { skill, .. } = &e.principal {
                    self.skills.entry(skill.clone()).or_default().recorded += 1;
                }
            }
            Event::HumanOutcomeObserved {
                proposal_id,
                skill,
                class,
                record,
                field,
                before,
                proposed,
                observed,
                agrees,
                critical,
            } => {
                let class = class.clone().unwrap_or_else(|| "unknown".into());
                let acc = self.skills.entry(skill.clone()).or_default();
                acc.acted_on.insert(proposal_id.clone());
                let c = acc.classes.entry(class.clone()).or_insert(ClassTrust {
                    class,
                    ..ClassTrust::default()
                });
                c.observations += 1;
                if *agrees {
                    c.agreed += 1;
                }
                let would_have_changed = before.as_ref().is_none_or(|b| !same(b, proposed));
                match (would_have_changed, *agrees) {
                    (true, true) => c.confirmed += 1,
                    (true, false) => c.contradicted += 1,
                    _ => {}
                }
                if *critical {
                    c.critical += 1;
                    acc.misses.push(CriticalMiss {
                        seq: e.seq,
                        at: e.ts,
                        proposal_id: proposal_id.clone(),
                        record: format!("{} {}", record.kind, record.id),
                        field: field.clone(),
                        proposed: short(proposed),
                        observed: short(observed),
                    });
                }
            }
            Event::BacktestRecorded { backtest } => {
                self.skills
                    .entry(backtest.skill.clone())
                    .or_default()
                    .backtest = Some(backtest.clone());
            }
            _ => {}
        }
    }

    /// Whether [`TrustTally::apply`] reads events of this type.
    pub fn wants(event_type: &str) -> bool {
        matches!(
            event_type,
            "ConfigLoaded" | "ActionProposed" | "HumanOutcomeObserved" | "BacktestRecorded"
        )
    }
}

/// An observe-mode proposal waiting to be compared with what a human did to its record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Awaiting {
    pub proposal_id: String,
    pub skill: String,
    pub proposed_seq: u64,
    pub proposed_at: chrono::DateTime<chrono::Utc>,
}

impl Projections {
    pub fn apply(&mut self, envelope: &Envelope) {
        self.trust.apply(envelope);
        match &envelope.event {
            Event::ConfigLoaded { skill_modes, .. } => {
                self.config_modes.clone_from(skill_modes);
            }
            Event::ModeChanged {
                skill, to, nonce, ..
            } => {
                self.signed_modes.insert(skill.clone(), *to);
                self.consumed_nonces.insert(nonce.clone());
            }
            Event::ApprovalRequested {
                proposal_id,
                action_digest,
            } => {
                // The proposal event precedes the request; take tool and action from the id map.
                let entry = self
                    .pending
                    .entry(proposal_id.clone())
                    .or_insert_with(|| Pending {
                        proposal_id: proposal_id.clone(),
                        action_digest: action_digest.clone(),
                        tool: String::new(),
                        action: String::new(),
                        run_id: envelope.run_id.clone(),
                        proposed_seq: envelope.seq,
                    });
                entry.action_digest.clone_from(action_digest);
            }
            Event::ActionProposed {
                proposal_id,
                tool,
                action,
                action_digest,
                disposition,
                effect,
                observed,
                request,
                ..
            } => {
                use crate::event::{Disposition, Principal};
                // Field changes (PATCH) of a known record: what a human can later agree with.
                if let (
                    Disposition::RecordedForReview,
                    Principal::Skill { skill, .. },
                    Some(_),
                    Some(t),
                ) = (disposition, &envelope.principal, observed, &effect.target)
                    && request.method == "PATCH"
                {
                    self.awaiting_outcome.insert(
                        format!("{}/{}", t.kind, t.id),
                        Awaiting {
                            proposal_id: proposal_id.clone(),
                            skill: skill.clone(),
                            proposed_seq: envelope.seq,
                            proposed_at: envelope.ts,
                        },
                    );
                }
                if matches!(
                    disposition,
                    Disposition::PendingApproval | Disposition::RecordedForReview
                ) {
                    self.pending.insert(
                        proposal_id.clone(),
                        Pending {
                            proposal_id: proposal_id.clone(),
                            action_digest: action_digest.clone(),
                            tool: tool.clone(),
                            action: action.clone(),
                            run_id: envelope.run_id.clone(),
                            proposed_seq: envelope.seq,
                        },
                    );
                }
            }
            Event::VerdictAccepted {
                proposal_id, nonce, ..
            } => {
                self.pending.remove(proposal_id);
                self.consumed_nonces.insert(nonce.clone());
            }
            Event::ActionExecuting {
                call_id,
                proposal_id,
                ..
            } => {
                self.in_flight.insert(
                    call_id.clone(),
                    InFlight {
                        executing_seq: envelope.seq,
                        proposal_id: proposal_id.clone(),
                    },
                );
                if let Some(run) = envelope.run_id.as_ref().and_then(|r| self.runs.get_mut(r))
                    && let Some(item) = run.current.clone()
                {
                    run.wrote.insert(item);
                }
            }
            Event::ActionExecuted { call_id, .. }
            | Event::ActionFailed { call_id, .. }
            | Event::ActionOutcomeUnknown { call_id, .. } => {
                self.in_flight.remove(call_id);
            }
            Event::ActionDenied {
                proposal_id: Some(proposal_id),
                ..
            } => {
                self.pending.remove(proposal_id);
            }
            Event::RunStarted {
                run_id,
                skill,
                resumes,
                scheduled_for,
                ..
            } => {
                if let Some(slot) = scheduled_for {
                    let last = self.last_scheduled.entry(skill.clone()).or_insert(*slot);
                    *last = (*last).max(*slot);
                }
                // A resumed run supersedes the one it resumes.
                if let Some(old) = resumes.as_ref().and_then(|r| self.runs.get_mut(r)) {
                    old.finished = true;
                    old.current = None;
                }
                self.runs.insert(
                    run_id.clone(),
                    RunState {
                        skill: skill.clone(),
                        started_seq: envelope.seq,
                        finished: false,
                        items: BTreeMap::new(),
                        resumes: resumes.clone(),
                        current: None,
                        wrote: BTreeSet::new(),
                    },
                );
            }
            Event::RunFinished { run_id, .. } => {
                if let Some(run) = self.runs.get_mut(run_id) {
                    run.finished = true;
                }
            }
            Event::ItemStarted {
                run_id, item_id, ..
            } => {
                if let Some(run) = self.runs.get_mut(run_id) {
                    run.items.entry(item_id.clone()).or_insert(false);
                    run.current = Some(item_id.clone());
                }
            }
            Event::ItemFinished {
                run_id, item_id, ..
            } => {
                if let Some(run) = self.runs.get_mut(run_id) {
                    run.items.insert(item_id.clone(), true);
                    if run.current.as_ref() == Some(item_id) {
                        run.current = None;
                    }
                }
            }
            Event::KeyEnrolled {
                key_id,
                public_key,
                label,
                nonce,
                ..
            } => {
                if let Some(nonce) = nonce {
                    self.consumed_nonces.insert(nonce.clone());
                }
                self.keys.insert(
                    key_id.clone(),
                    KeyState {
                        public_key: public_key.clone(),
                        label: label.clone(),
                        revoked: false,
                    },
                );
            }
            Event::HumanOutcomeObserved {
                proposal_id,
                record,
                ..
            } => {
                let key = format!("{}/{}", record.kind, record.id);
                if self
                    .awaiting_outcome
                    .get(&key)
                    .is_some_and(|a| &a.proposal_id == proposal_id)
                {
                    self.awaiting_outcome.remove(&key);
                }
            }
            Event::KeyRevoked { key_id, nonce, .. } => {
                if let Some(nonce) = nonce {
                    self.consumed_nonces.insert(nonce.clone());
                }
                if let Some(key) = self.keys.get_mut(key_id) {
                    key.revoked = true;
                }
            }
            _ => {}
        }
    }

    /// Whether `apply` does anything with events of this type (replay skips the others).
    pub fn wants(event_type: &str) -> bool {
        !matches!(
            event_type,
            "ActionRead"
                | "DaemonStarted"
                | "DaemonStopped"
                | "SessionOpened"
                | "SessionClosed"
                | "VerdictRejected"
                | "Checkpointed"
        )
    }

    /// The mode in effect for a skill: a signed change wins over configuration; observe otherwise.
    pub fn mode_of(&self, skill: &str) -> Mode {
        self.signed_modes
            .get(skill)
            .or_else(|| self.config_modes.get(skill))
            .copied()
            .unwrap_or(Mode::Observe)
    }

    /// Runs that started and never finished (interrupted by a crash or shutdown).
    pub fn unfinished_runs(&self) -> impl Iterator<Item = (&String, &RunState)> {
        self.runs.iter().filter(|(_, r)| !r.finished)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{
        Decision, Disposition, EVENT_VERSION, EffectPreview, Principal, Risk, UpstreamRequest,
    };

    fn envelope(seq: u64, event: Event) -> Envelope {
        Envelope {
            seq,
            ts: "2026-11-23T02:00:00Z".parse().unwrap(),
            event_version: EVENT_VERSION,
            principal: Principal::System,
            run_id: None,
            prev_hash: String::new(),
            hash: String::new(),
            event,
        }
    }

    fn given(events: Vec<Event>) -> Projections {
        let mut p = Projections::default();
        for (i, e) in events.into_iter().enumerate() {
            p.apply(&envelope(i as u64, e));
        }
        p
    }

    fn proposed(id: &str, disposition: Disposition) -> Event {
        Event::ActionProposed {
            proposal_id: id.into(),
            call_id: format!("c-{id}"),
            tool: "cw_rmm".into(),
            action: "run_script".into(),
            params: serde_json::json!({}),
            risk: Risk::Hard,
            mode: Mode::Enforce,
            request: UpstreamRequest {
                product: "asio".into(),
                method: "POST".into(),
                path: "/x".into(),
                body: None,
            },
            effect: EffectPreview::default(),
            action_digest: format!("d-{id}"),
            disposition,
            observed: None,
        }
    }

    #[test]
    fn skipped_event_types_leave_the_projections_unchanged() {
        let skipped = [
            Event::DaemonStopped { reason: "x".into() },
            Event::SessionClosed {
                session_id: "s".into(),
                reason: "eof".into(),
                calls: 1,
            },
            Event::Checkpointed {
                covers_seq: None,
                head_hash: "h".into(),
                count: 0,
            },
        ];
        for event in skipped {
            assert!(!Projections::wants(event.event_type()));
            assert_eq!(given(vec![event]), Projections::default());
        }
        assert!(Projections::wants("ActionExecuting"));
    }

    #[test]
    fn pending_approvals_come_and_go_with_verdicts_and_denials() {
        let p = given(vec![
            proposed("p1", Disposition::PendingApproval),
            proposed("p2", Disposition::PendingApproval),
            proposed("p3", Disposition::Previewed),
            Event::VerdictAccepted {
                proposal_id: "p1".into(),
                key_id: "k".into(),
                decision: Decision::Approve,
                nonce: "n1".into(),
                signature: "s".into(),
                reason: None,
            },
        ]);
        assert_eq!(p.pending.keys().collect::<Vec<_>>(), vec!["p2"]);
        assert!(p.consumed_nonces.contains("n1"));
    }

    #[test]
    fn executing_without_outcome_stays_in_flight() {
        let executing = |call: &str| Event::ActionExecuting {
            call_id: call.into(),
            proposal_id: None,
            tool: "cw_tickets".into(),
            action: "update".into(),
            request: UpstreamRequest {
                product: "manage".into(),
                method: "PATCH".into(),
                path: "/t".into(),
                body: None,
            },
        };
        let p = given(vec![
            executing("a"),
            executing("b"),
            Event::ActionExecuted {
                call_id: "a".into(),
                proposal_id: None,
                status: 200,
                result_digest: "x".into(),
                record: None,
                duration_ms: 3,
            },
        ]);
        assert_eq!(p.in_flight.keys().collect::<Vec<_>>(), vec!["b"]);
        assert_eq!(p.in_flight["b"].executing_seq, 1);
    }

    #[test]
    fn signed_mode_changes_override_config_and_runs_track_items() {
        let p = given(vec![
            Event::ConfigLoaded {
                sources: vec![],
                digest: "d".into(),
                connectors: vec![],
                skill_modes: [("triage".to_string(), Mode::Observe)].into(),
                trust: None,
            },
            Event::ModeChanged {
                skill: "triage".into(),
                from: Mode::Observe,
                to: Mode::Enforce,
                key_id: "k".into(),
                nonce: "n".into(),
                signature: "s".into(),
            },
            Event::ConfigLoaded {
                sources: vec![],
                digest: "d".into(),
                connectors: vec![],
                skill_modes: [("triage".to_string(), Mode::Observe)].into(),
                trust: None,
            },
            Event::RunStarted {
                run_id: "r1".into(),
                skill: "triage".into(),
                mode: Mode::Enforce,
                model: "m".into(),
                budgets: Default::default(),
                trigger: crate::event::RunTrigger::Manual,
                scheduled_for: Some("2026-11-23T02:00:00Z".parse().unwrap()),
                resumes: None,
            },
            Event::ItemStarted {
                run_id: "r1".into(),
                item_id: "t1".into(),
                kind: "ticket".into(),
                subject: "1".into(),
            },
            Event::ItemStarted {
                run_id: "r1".into(),
                item_id: "t2".into(),
                kind: "ticket".into(),
                subject: "2".into(),
            },
            Event::ItemFinished {
                run_id: "r1".into(),
                item_id: "t1".into(),
                outcome: crate::event::ItemOutcome::Done,
                reason: None,
                steps: 2,
                tokens: Default::default(),
                summary: "ok".into(),
                calls: vec![],
            },
        ]);
        assert_eq!(p.mode_of("triage"), Mode::Enforce);
        assert_eq!(
            p.last_scheduled
                .get("triage")
                .map(|t| t.to_rfc3339())
                .as_deref(),
            Some("2026-11-23T02:00:00+00:00")
        );
        assert_eq!(p.mode_of("renewals"), Mode::Observe);
        let run = &p.runs["r1"];
        assert!(!run.finished);
        assert_eq!(run.items.get("t1"), Some(&true));
        assert_eq!(run.items.get("t2"), Some(&false));
        assert_eq!(p.unfinished_runs().count(), 1);
        assert_eq!(run.current.as_deref(), Some("t2"));
    }

    #[test]
    fn a_write_inside_an_item_marks_it_and_a_resume_supersedes_the_run() {
        let mut p = Projections::default();
        let started = |run: &str, resumes: Option<&str>| Event::RunStarted {
            run_id: run.into(),
            skill: "triage".into(),
            mode: Mode::Enforce,
            model: "m".into(),
            budgets: Default::default(),
            trigger: crate::event::RunTrigger::Manual,
            scheduled_for: None,
            resumes: resumes.map(Into::into),
        };
        let item = Event::ItemStarted {
            run_id: "r1".into(),
            item_id: "t1".into(),
            kind: "ticket".into(),
            subject: "1".into(),
        };
        let executing = Event::ActionExecuting {
            call_id: "c1".into(),
            proposal_id: None,
            tool: "cw_tickets".into(),
            action: "update".into(),
            request: UpstreamRequest {
                product: "manage".into(),
                method: "PATCH".into(),
                path: "/service/tickets/1".into(),
                body: None,
            },
        };
        for (seq, event) in [started("r1", None), item, executing]
            .into_iter()
            .enumerate()
        {
            let mut e = envelope(seq as u64, event);
            e.run_id = Some("r1".into());
            p.apply(&e);
        }
        assert!(p.runs["r1"].wrote.contains("t1"));
        p.apply(&envelope(3, started("r2", Some("r1"))));
        assert!(p.runs["r1"].finished, "superseded by its resume");
        assert_eq!(p.runs["r2"].resumes.as_deref(), Some("r1"));
        assert_eq!(
            p.unfinished_runs()
                .map(|(id, _)| id.as_str())
                .collect::<Vec<_>>(),
            ["r2"]
        );
    }
}
