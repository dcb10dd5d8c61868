//! The event log record: the envelope every event is stored in, and the full event catalog.
//!
//! Events are facts, named in the past tense. The whole catalog is defined here, including the
//! events that later subsystems (gate, approvals, agent, feed) emit, so the log format is settled
//! once. `EVENT_VERSION` is bumped when a payload changes incompatibly.

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Version of the event payload formats written by this build.
pub const EVENT_VERSION: u32 = 1;

/// Domain tag prepended to every event hash input, so a hash of an event can never be confused
/// with a hash of anything else Nightjar signs or digests.
pub const HASH_DOMAIN: &str = "nightjar.event.v1";

/// The `prev_hash` of the first event (seq 0): 64 hex zeros.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// One stored event: the envelope fields plus the event itself.
///
/// `hash = SHA-256(HASH_DOMAIN || prev_hash || canonical JSON of every other field)`, hex encoded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Envelope {
    /// Position in the log: contiguous from 0.
    pub seq: u64,
    /// When the daemon appended the event (UTC).
    pub ts: DateTime<Utc>,
    /// Payload format version (`EVENT_VERSION` at the time of writing).
    pub event_version: u32,
    /// Who caused the event.
    pub principal: Principal,
    /// The night-agent run this event belongs to, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_id: Option<String>,
    /// Hash of the previous event (hex); `GENESIS_HASH` for seq 0.
    pub prev_hash: String,
    /// Hash of this event (hex).
    pub hash: String,
    /// The event: `event_type` names it, `payload` holds its fields.
    #[serde(flatten)]
    pub event: Event,
}

/// Everything in an envelope but its own hash: what `hash` is computed over (with `prev_hash`).
#[derive(Debug, Serialize)]
pub struct Unsealed<'a> {
    pub seq: u64,
    pub ts: &'a DateTime<Utc>,
    pub event_version: u32,
    pub principal: &'a Principal,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub run_id: &'a Option<String>,
    pub prev_hash: &'a str,
    #[serde(flatten)]
    pub event: &'a Event,
}

impl Envelope {
    /// The fields the hash covers.
    pub fn unsealed(&self) -> Unsealed<'_> {
        Unsealed {
            seq: self.seq,
            ts: &self.ts,
            event_version: self.event_version,
            principal: &self.principal,
            run_id: &self.run_id,
            prev_hash: &self.prev_hash,
            event: &self.event,
        }
    }

    /// The event's type name as stored in `event_type`, e.g. `ActionProposed`.
    pub fn event_type(&self) -> &'static str {
        self.event.event_type()
    }
}

/// Who is acting.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Principal {
    /// The daemon itself (start-up, checkpoints, recovery).
    System,
    /// An MCP client on the local socket; `name` comes from the MCP handshake.
    Interactive { name: String },
    /// A night-agent run of a skill.
    Skill { skill: String, run_id: String },
    /// A human at the console (`nightjarctl`), identified by an enrolled key when one signed.
    Operator {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        key_id: Option<String>,
    },
}

/// Risk class of an action, from the compiled-in catalog. Ordered: `Read < Write < Hard`, so
/// "stricter" is `max`.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Risk {
    /// Never gated.
    Read,
    /// Needs `confirm: true`; without it a dry-run preview and no upstream request.
    Write,
    /// Needs a signed human verdict.
    Hard,
}

/// How a principal's writes are treated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    /// Reads run; writes and hard actions are recorded as proposals, never executed.
    Observe,
    /// Allowed writes execute with confirm; hard actions are queued for a verdict.
    Enforce,
    /// Reads and previews only.
    DryRun,
}

/// The exact request an action sends (or would send) upstream.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UpstreamRequest {
    /// Which product: `manage`, `asio`, `sell`, `screenconnect`.
    pub product: String,
    pub method: String,
    /// Path and query, relative to the product's base URL.
    pub path: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<Value>,
}

/// A field-level before/after for an effect preview.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FieldChange {
    pub field: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<Value>,
}

/// What a human needs to judge a proposal: what changes, how much money, what a customer sees.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EffectPreview {
    /// One line: what the action does, in words.
    pub summary: String,
    /// The record it touches, e.g. `ticket 1042`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<RecordRef>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub changes: Vec<FieldChange>,
    /// Money moved or billed, as a decimal string with currency, e.g. `"1250.00 USD"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amount: Option<String>,
    /// Text a customer will see (notes flagged discussion/resolution, quotes, emails).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer_visible_text: Option<String>,
    /// A device or endpoint the action reaches (remote execution).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device: Option<String>,
}

/// A ConnectWise record: kind and id.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RecordRef {
    /// e.g. `ticket`, `time_entry`, `agreement`, `invoice`, `device`.
    pub kind: String,
    pub id: String,
}

/// What the gate did with a proposal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Disposition {
    /// A write without `confirm: true`: a dry-run preview, nothing sent.
    Previewed,
    /// Observe mode: recorded for review, never executed.
    RecordedForReview,
    /// Dry-run mode: previewed only.
    DryRun,
    /// Hard action: waits for a signed verdict.
    PendingApproval,
    /// Allowed and confirmed: about to execute.
    Accepted,
}

/// A verdict's decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    Approve,
    Deny,
}

/// Why a verdict was refused. Each reason is distinct so the feed can tell forgery from lateness.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum VerdictRejection {
    UnknownKey,
    RevokedKey,
    BadSignature,
    DigestMismatch,
    Expired,
    NotYetValid,
    Replayed,
    NotPending,
    TargetChanged,
    LogUnavailable,
    Malformed,
    /// Nobody decided in time. Recorded as a timeout, never as a human denial.
    TimedOut,
}

/// Why the gate refused an action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum DenialReason {
    /// The action is not in the skill's allowed set.
    NotAllowed,
    /// A human denied it with a signed verdict.
    HumanDenied,
    /// Parameters failed validation.
    InvalidParams,
    /// The connector for the product is not configured.
    NotConfigured,
    /// A budget (upstream calls, steps, tokens) would be exceeded.
    OverBudget,
    /// Unknown tool or action.
    UnknownAction,
    /// The approval wait ended without a verdict (a timeout, never a human denial).
    ApprovalTimedOut,
    /// The caller cancelled the call while it waited for a verdict.
    Cancelled,
    /// The log could not record the step, so the step did not run (fail closed).
    LogUnavailable,
}

/// Token usage of a model conversation.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenUsage {
    pub prompt: u64,
    pub completion: u64,
}

/// Budgets a run is held to.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Budgets {
    pub steps_per_item: u32,
    pub tokens_per_item: u64,
    pub seconds_per_item: u64,
    pub tokens_per_run: u64,
    pub seconds_per_run: u64,
}

/// One call the night agent's model made while working an item, and what became of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ItemCall {
    /// The function the model called (`tickets_update`).
    pub function: String,
    pub tool: String,
    pub action: String,
    /// The gate's answer (`ok`, `recorded_for_review`, `pending_approval`, `executed`,
    /// `preview`, `denied`, `error`), or the agent's own refusal before sending: `invalid`
    /// (arguments failed the schema), `duplicate` (identical to an earlier call),
    /// `unknown_function`.
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proposal_id: Option<String>,
}

/// What started a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RunTrigger {
    Schedule,
    CatchUp,
    Manual,
    Resume,
}

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RunOutcome {
    Completed,
    /// Stopped early: budget, model unreachable, shutdown.
    Stopped,
    Failed,
}

/// How a work item ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ItemOutcome {
    Done,
    Skipped,
    Failed,
}

/// A connector's state at start.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ConnectorState {
    /// `manage`, `asio`, `sell`, `screenconnect`.
    pub product: String,
    pub configured: bool,
    /// Base URL (never credentials).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// What is missing or wrong, when not configured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
}

/// The event catalog. Serialized adjacently: `"event_type": "ActionRead", "payload": {...}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "event_type", content = "payload")]
#[allow(
    clippy::large_enum_variant,
    reason = "events are built once and moved into the log; boxing variants would only add indirection"
)]
pub enum Event {
    DaemonStarted {
        version: String,
        pid: u32,
        /// Serving the built-in sandbox tenant instead of a real ConnectWise.
        sandbox: bool,
        /// Actions found `Executing` without an outcome at start (each gets `ActionOutcomeUnknown`).
        #[serde(default)]
        recovered_in_flight: u32,
        /// Set when the daemon was started on a log that failed verification.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        log_anomaly: Option<String>,
    },
    DaemonStopped {
        reason: String,
    },
    ConfigLoaded {
        /// Files and layers that contributed, in order (paths, `env`, `flags`).
        sources: Vec<String>,
        /// SHA-256 of the effective configuration (secrets excluded).
        digest: String,
        connectors: Vec<ConnectorState>,
        #[serde(default)]
        skill_modes: std::collections::BTreeMap<String, Mode>,
        /// The flip criteria in effect, so the feed judges trust from the log alone.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        trust: Option<crate::config::TrustCriteria>,
    },
    SessionOpened {
        session_id: String,
        client_name: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        client_version: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        protocol_version: Option<String>,
        /// `socket` or `in_process`.
        transport: String,
    },
    SessionClosed {
        session_id: String,
        reason: String,
        calls: u64,
    },
    ActionRead {
        call_id: String,
        tool: String,
        action: String,
        /// Parameters after redaction.
        params: Value,
        upstream_requests: u32,
        bytes: u64,
        /// SHA-256 of the result returned to the caller.
        result_digest: String,
        duration_ms: u64,
    },
    ActionProposed {
        proposal_id: String,
        call_id: String,
        tool: String,
        action: String,
        params: Value,
        risk: Risk,
        mode: Mode,
        request: UpstreamRequest,
        effect: EffectPreview,
        /// SHA-256 over the canonical semantic action (what a verdict signs).
        action_digest: String,
        disposition: Disposition,
        /// The record as it was read while planning: its path and version (`lastUpdated`).
        /// Shadow metrics re-read it later to see what a human did.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        observed: Option<crate::verdict::ObservedTarget>,
    },
    ApprovalRequested {
        proposal_id: String,
        action_digest: String,
    },
    VerdictAccepted {
        proposal_id: String,
        key_id: String,
        decision: Decision,
        nonce: String,
        /// Low-S normalized signature (hex), kept for audit.
        signature: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    VerdictRejected {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        proposal_id: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        key_id: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        nonce: Option<String>,
        reason: VerdictRejection,
        detail: String,
    },
    ActionExecuting {
        call_id: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        proposal_id: Option<String>,
        tool: String,
        action: String,
        request: UpstreamRequest,
    },
    ActionExecuted {
        call_id: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        proposal_id: Option<String>,
        status: u16,
        result_digest: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        record: Option<RecordRef>,
        duration_ms: u64,
    },
    ActionFailed {
        call_id: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        proposal_id: Option<String>,
        /// Structured error kind, e.g. `invalid`, `rate_limited`, `upstream_unavailable`.
        error: String,
        message: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        status: Option<u16>,
    },
    ActionOutcomeUnknown {
        call_id: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        proposal_id: Option<String>,
        /// Seq of the `ActionExecuting` event left without an outcome.
        executing_seq: u64,
        reason: String,
    },
    ActionDenied {
        call_id: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        proposal_id: Option<String>,
        tool: String,
        action: String,
        reason: DenialReason,
        detail: String,
    },
    RunStarted {
        run_id: String,
        skill: String,
        mode: Mode,
        model: String,
        budgets: Budgets,
        trigger: RunTrigger,
        /// The schedule slot this run fills (scheduled and catch-up runs).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        scheduled_for: Option<DateTime<Utc>>,
        /// Set when this run resumes an interrupted one.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        resumes: Option<String>,
    },
    RunFinished {
        run_id: String,
        skill: String,
        outcome: RunOutcome,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
        items_done: u32,
        items_skipped: u32,
        items_failed: u32,
        tokens: TokenUsage,
        duration_ms: u64,
    },
    ItemStarted {
        run_id: String,
        item_id: String,
        /// e.g. `ticket`, `member_week`, `agreement`.
        kind: String,
        subject: String,
    },
    ItemFinished {
        run_id: String,
        item_id: String,
        outcome: ItemOutcome,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
        steps: u32,
        tokens: TokenUsage,
        summary: String,
        /// Every call the model made for the item, and what became of it.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        calls: Vec<ItemCall>,
    },
    ModeChanged {
        skill: String,
        from: Mode,
        to: Mode,
        key_id: String,
        nonce: String,
        signature: String,
    },
    KeyEnrolled {
        key_id: String,
        /// SPKI PEM of the operator's P-256 public key.
        public_key: String,
        label: String,
        /// The enrolled key that approved this one; `None` for the first key (console enrolment).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        approved_by: Option<String>,
        /// The approval's nonce (consumed) and low-S signature (hex), when one approved it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        nonce: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        signature: Option<String>,
    },
    KeyRevoked {
        key_id: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        by: Option<String>,
        reason: String,
        /// The revocation's nonce (consumed) and low-S signature (hex).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        nonce: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        signature: Option<String>,
    },
    HumanOutcomeObserved {
        proposal_id: String,
        skill: String,
        /// The proposal's action class (`cw_tickets.update`), so trust can be folded without
        /// the proposal itself (absent in logs written before it was recorded).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        class: Option<String>,
        record: RecordRef,
        field: String,
        /// The value before the proposal (absent when it was not read).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        before: Option<Value>,
        proposed: Value,
        observed: Value,
        agrees: bool,
        /// A miss that would have been a wrong billing or customer-visible change.
        critical: bool,
    },
    /// A triage backtest (`nightjarctl eval triage`): its side-by-side scores.
    BacktestRecorded {
        backtest: Backtest,
    },
    Checkpointed {
        /// Seq of the last event before this one (`None` in an empty log).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        covers_seq: Option<u64>,
        head_hash: String,
        count: u64,
    },
}

impl Event {
    /// The `event_type` tag this event is stored under.
    pub fn event_type(&self) -> &'static str {
        match self {
            Event::DaemonStarted { .. } => "DaemonStarted",
            Event::DaemonStopped { .. } => "DaemonStopped",
            Event::ConfigLoaded { .. } => "ConfigLoaded",
            Event::SessionOpened { .. } => "SessionOpened",
            Event::SessionClosed { .. } => "SessionClosed",
            Event::ActionRead { .. } => "ActionRead",
            Event::ActionProposed { .. } => "ActionProposed",
            Event::ApprovalRequested { .. } => "ApprovalRequested",
            Event::VerdictAccepted { .. } => "VerdictAccepted",
            Event::VerdictRejected { .. } => "VerdictRejected",
            Event::ActionExecuting { .. } => "ActionExecuting",
            Event::ActionExecuted { .. } => "ActionExecuted",
            Event::ActionFailed { .. } => "ActionFailed",
            Event::ActionOutcomeUnknown { .. } => "ActionOutcomeUnknown",
            Event::ActionDenied { .. } => "ActionDenied",
            Event::RunStarted { .. } => "RunStarted",
            Event::RunFinished { .. } => "RunFinished",
            Event::ItemStarted { .. } => "ItemStarted",
            Event::ItemFinished { .. } => "ItemFinished",
            Event::ModeChanged { .. } => "ModeChanged",
            Event::KeyEnrolled { .. } => "KeyEnrolled",
            Event::KeyRevoked { .. } => "KeyRevoked",
            Event::HumanOutcomeObserved { .. } => "HumanOutcomeObserved",
            Event::BacktestRecorded { .. } => "BacktestRecorded",
            Event::Checkpointed { .. } => "Checkpointed",
        }
    }
}

/// One arm of a triage backtest: the same decision with or without the shop's history.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BacktestArm {
    /// Tickets decided (a model that could not be asked counts in `failed`, not here).
    pub tickets: u32,
    pub board: u32,
    #[serde(rename = "type")]
    pub kind: u32,
    pub subtype: u32,
    pub priority: u32,
    /// Priority right or one level off.
    pub priority_within_one: u32,
    /// Answers that were not a valid decision (an id outside the taxonomy, a type not on the
    /// board, not JSON).
    pub invalid: u32,
    /// Fields set that the decision does not ask for.
    pub unasked: u32,
    /// Decisions the model could not be asked for (timeouts, errors).
    pub failed: u32,
    pub tokens: TokenUsage,
    /// Wall time of the decisions, all tickets together.
    pub milliseconds: u64,
}

impl BacktestArm {
    /// `n` out of the tickets decided, in percent to one decimal.
    pub fn percent(&self, n: u32) -> f64 {
        if self.tickets == 0 {
            0.0
        } else {
            (f64::from(n) * 1000.0 / f64::from(self.tickets)).round() / 10.0
        }
    }
}

/// A triage backtest over closed tickets, their final labels hidden, history drawn only from
/// tickets closed before each one.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Backtest {
    pub skill: String,
    pub model: String,
    /// Precedents shown per ticket in the "with history" arm.
    pub k: u32,
    /// Tickets closed within this many days before the tenant's today.
    pub since_days: u32,
    pub with_history: BacktestArm,
    pub without_history: BacktestArm,
}

/// A checkpoint: kept outside the log so deleting the newest events is detectable.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Checkpoint {
    /// Seq of the newest event covered.
    pub seq: u64,
    /// Number of events covered (`seq + 1`).
    pub count: u64,
    /// Hash of the event at `seq`.
    pub head_hash: String,
    pub time: DateTime<Utc>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_type_matches_the_serialized_tag() {
        let event = Event::Checkpointed {
            covers_seq: Some(1),
            head_hash: "ab".into(),
            count: 2,
        };
        let value = serde_json::to_value(&event).unwrap();
        assert_eq!(value["event_type"], event.event_type());
        assert_eq!(value["payload"]["covers_seq"], 1);
    }

    #[test]
    fn envelope_round_trips_with_flattened_event() {
        let envelope = Envelope {
            seq: 7,
            ts: "2026-11-23T01:02:03Z".parse().unwrap(),
            event_version: EVENT_VERSION,
            principal: Principal::Skill {
                skill: "msp-night-triage".into(),
                run_id: "r1".into(),
            },
            run_id: Some("r1".into()),
            prev_hash: GENESIS_HASH.into(),
            hash: "ff".into(),
            event: Event::DaemonStopped {
                reason: "signal".into(),
            },
        };
        let text = serde_json::to_string(&envelope).unwrap();
        assert!(text.contains(r#""event_type":"DaemonStopped""#), "{text}");
        let back: Envelope = serde_json::from_str(&text).unwrap();
        assert_eq!(back, envelope);
    }
}
