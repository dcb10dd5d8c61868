//! Tool calls and their outcomes: what an MCP client (or `nightjarctl call`) sends to the gate and
//! what it gets back, plus the typed parameters of every action ([`params`]).
//!
//! Every tool takes the same envelope, [`ToolCall`] `{action, params, confirm}`; the action's
//! parameter type (from [`params`]) is its manual: the doc comments on each field become the JSON
//! Schema descriptions a model reads through `action:"help"`.

pub mod params;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::event::{DenialReason, EffectPreview, Mode, RecordRef, Risk, UpstreamRequest};

/// One call of one of the fourteen tools.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ToolCall {
    /// The tool, e.g. `cw_tickets`.
    pub tool: String,
    /// The action; omitted, the tool answers its action table. `help` with `params.for` answers
    /// one action's schema and example.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
    /// The action's parameters (see its schema).
    #[serde(default = "empty_object")]
    pub params: Value,
    /// Writes run only with `confirm: true`; without it the answer is a dry-run preview of the
    /// exact request, and nothing is sent.
    #[serde(default)]
    pub confirm: bool,
}

fn empty_object() -> Value {
    Value::Object(Default::default())
}

impl ToolCall {
    pub fn new(tool: &str, action: &str, params: Value) -> Self {
        ToolCall {
            tool: tool.to_owned(),
            action: Some(action.to_owned()),
            params,
            confirm: false,
        }
    }

    pub fn confirmed(mut self) -> Self {
        self.confirm = true;
        self
    }
}

/// One row of a tool's action table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ActionInfo {
    pub name: String,
    pub summary: String,
    pub risk: Risk,
    /// Hard (needs a signed human verdict) when the caller is the night agent, e.g. closing a
    /// ticket or a customer-visible note.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub hard_for_agent: bool,
}

/// `action:"help"`: one action's manual.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ActionHelp {
    pub tool: String,
    #[serde(flatten)]
    pub info: ActionInfo,
    /// JSON Schema of `params`.
    pub schema: Value,
    /// A complete example call.
    pub example: Value,
}

/// A structured error a caller can act on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ToolError {
    /// Stable name: `not_found`, `invalid`, `unauthorized`, `forbidden`, `rate_limited`,
    /// `upstream_unavailable`, `timeout`, `malformed_response`, `not_configured`, `over_budget`,
    /// `invalid_params`, `unknown_tool`, `unknown_action`, `ambiguous`.
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub product: Option<String>,
    /// What happened, in one sentence.
    pub message: String,
    /// What to do next (written for a model: in particular, whether to retry).
    pub hint: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after_seconds: Option<u64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<FieldError>,
    /// For `ambiguous`: the candidates to choose from.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub candidates: Vec<Value>,
}

/// One entry of a ConnectWise `errors[]` (`ValidationError`), or one parameter a schema refused.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
pub struct FieldError {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub code: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub resource: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub field: String,
}

/// What the gate answers to a tool call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum ToolOutcome {
    /// The tool's action table (a call without `action`).
    Actions {
        tool: String,
        description: String,
        actions: Vec<ActionInfo>,
    },
    /// `action:"help"`.
    Help(Box<ActionHelp>),
    /// A read's result.
    Ok {
        result: Value,
        /// HTTP requests sent upstream for this call.
        upstream_requests: u64,
    },
    /// A write without `confirm: true` (or in dry-run mode): the exact request it would send.
    /// Nothing was sent.
    Preview {
        proposal_id: String,
        risk: Risk,
        request: UpstreamRequest,
        effect: EffectPreview,
        hint: String,
    },
    /// Observe mode: recorded for a human to review in the morning; nothing was sent.
    RecordedForReview {
        proposal_id: String,
        risk: Risk,
        request: UpstreamRequest,
        effect: EffectPreview,
        hint: String,
    },
    /// A hard action: queued for a signed human verdict; nothing was sent.
    PendingApproval {
        proposal_id: String,
        action_digest: String,
        request: UpstreamRequest,
        effect: EffectPreview,
        hint: String,
    },
    /// A write that was executed (once).
    Executed {
        proposal_id: String,
        result: Value,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        record: Option<RecordRef>,
        upstream_requests: u64,
    },
    /// The gate refused; nothing was sent.
    Denied {
        reason: DenialReason,
        detail: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        mode: Option<Mode>,
    },
    /// The call failed (upstream or on validation).
    Error { error: ToolError },
}

impl ToolOutcome {
    /// The `status` tag, e.g. `ok`, `preview`, `executed`.
    pub fn status(&self) -> &'static str {
        match self {
            ToolOutcome::Actions { .. } => "actions",
            ToolOutcome::Help(_) => "help",
            ToolOutcome::Ok { .. } => "ok",
            ToolOutcome::Preview { .. } => "preview",
            ToolOutcome::RecordedForReview { .. } => "recorded_for_review",
            ToolOutcome::PendingApproval { .. } => "pending_approval",
            ToolOutcome::Executed { .. } => "executed",
            ToolOutcome::Denied { .. } => "denied",
            ToolOutcome::Error { .. } => "error",
        }
    }

    /// Whether a caller should treat this as a failure (MCP `isError`).
    pub fn is_error(&self) -> bool {
        matches!(self, ToolOutcome::Denied { .. } | ToolOutcome::Error { .. })
    }
}
