//! The control protocol between `nightjarctl` and `nightjard`: newline-delimited JSON over the
//! control socket.
//!
//! A connection starts with the client's [`Hello`]; the daemon answers [`Welcome`] or an error of
//! kind `incompatible_version` and closes. `Hello` and the error shape are the stable part of the
//! protocol: they must stay decodable by every version, so a mismatch is reported, not a hang.
//! After the handshake the client sends [`Request`]s, one per line, and reads [`Response`]s.

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::event::{Checkpoint, Envelope};

/// Version of this protocol. Bumped on any incompatible change to `Request` or `Response`.
pub const PROTOCOL_VERSION: u32 = 1;

/// First line a client sends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Hello {
    pub protocol_version: u32,
    /// Client name and version, e.g. `nightjarctl 0.1.0`.
    pub client: String,
}

/// The daemon's answer to a compatible `Hello`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Welcome {
    pub protocol_version: u32,
    pub daemon_version: String,
}

/// The daemon's first line: welcome or refusal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum HelloReply {
    Welcome(Welcome),
    Error(ControlError),
}

/// A request after the handshake.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "request", rename_all = "snake_case", deny_unknown_fields)]
pub enum Request {
    /// Daemon and log status.
    Status,
    /// Verify the whole hash chain and the checkpoint.
    VerifyLog,
    /// Events from `from` (default: the last `last` events). With `follow`, keep streaming new
    /// events as they are appended until the client disconnects.
    Tail {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        from: Option<u64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        last: Option<u64>,
        #[serde(default)]
        follow: bool,
    },
    /// Write a checkpoint now.
    Checkpoint,
    /// Run one tool call through the gate, as the interactive principal `nightjarctl`.
    Call(crate::tool::ToolCall),
    /// Proposals waiting for a verdict, oldest first, with their effect previews.
    Pending,
    /// A signed verdict (`VerdictPayload`) on a pending proposal.
    Verdict(crate::verdict::Signed),
    /// Enrol an operator key: the first one from the console with no approval; any later one
    /// with an `EnrollPayload` signed by an enrolled key.
    Enroll {
        /// SPKI PEM of the P-256 public key.
        public_key: String,
        label: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        approval: Option<crate::verdict::Signed>,
    },
    /// The enrolled keys.
    Keys,
    /// Revoke a key (a signed `RevokePayload`).
    Revoke(crate::verdict::Signed),
    /// Change a skill's mode (a signed `ModePayload`).
    SetMode(crate::verdict::Signed),
    /// Run a skill now; answered when the run ends.
    Run { skill: String },
    /// Each skill's schedule, mode and next fire times.
    Schedule,
    /// Re-read the records observe-mode proposals touched and log what humans did to them
    /// (`nightjarctl trust --refresh`).
    TrustRefresh,
    /// The events of a feed window and what the feed folds beside them (`nightjarctl feed`,
    /// `nightjarctl trust`): zero or more `Event`s, then one `FeedBasis`. With nothing given,
    /// the window is the 24 hours up to the log's newest event.
    Feed {
        /// Events at or after this time.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        since: Option<DateTime<Utc>>,
        /// Only this run.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        run: Option<String>,
        /// The whole log.
        #[serde(default)]
        all: bool,
    },
    /// The triage backtest over closed tickets (`nightjarctl eval triage`); reads only.
    EvalTriage {
        since_days: u32,
        limit: u32,
        k: u32,
        /// Another model on the same server than the configured one.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        model: Option<String>,
    },
}

/// What the morning feed folds beside the events of its window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct FeedBasis {
    /// The window as resolved: events before `since` are not shown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<DateTime<Utc>>,
    /// Only this run is shown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run: Option<String>,
    /// Shadow metrics over the whole log, whatever the window.
    pub trust: crate::projection::TrustTally,
    /// Time of the log's newest event, where the trust window ends.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last: Option<DateTime<Utc>>,
    /// The log verified since its checkpoint.
    pub report: VerifyReport,
}

/// What one shadow-metrics refresh did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ShadowRefresh {
    /// Records re-read.
    pub checked: u32,
    /// Records a human had changed since the proposal: their fields are now observed.
    pub observed: u32,
    /// Fields logged as `HumanOutcomeObserved`.
    pub fields: u32,
    /// Records still as the proposal found them.
    pub untouched: u32,
    /// Records that could not be read (gone, or ConnectWise unreachable), left for next time.
    pub unreadable: u32,
}

/// How a run ended (`nightjarctl run`, `nightjarctl demo`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct RunSummary {
    pub run_id: String,
    pub skill: String,
    pub mode: crate::event::Mode,
    pub model: String,
    pub outcome: crate::event::RunOutcome,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub items_done: u32,
    pub items_skipped: u32,
    pub items_failed: u32,
    pub tokens: crate::event::TokenUsage,
    pub duration_ms: u64,
}

/// One skill in `nightjarctl schedule`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ScheduleEntry {
    pub skill: String,
    /// The crontab as configured (`None`: not scheduled).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule: Option<String>,
    pub timezone: String,
    pub mode: crate::event::Mode,
    /// The next fire times, UTC.
    pub next: Vec<DateTime<Utc>>,
    /// The same in the schedule's time zone, RFC 3339 with offset.
    pub next_local: Vec<String>,
    pub running: bool,
    /// Why the skill cannot be scheduled, if it cannot.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
}

/// A response line. A request gets exactly one response, except `Tail`, which gets zero or more
/// `Event`s followed by `End` (or, with `follow`, events until disconnect), and `Feed`, which
/// gets zero or more `Event`s followed by `FeedBasis`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "response", content = "body", rename_all = "snake_case")]
pub enum Response {
    Status(Box<StatusReport>),
    Verify(VerifyReport),
    Event(Box<Envelope>),
    End,
    Checkpoint(Checkpoint),
    Outcome(Box<crate::tool::ToolOutcome>),
    Pending(Vec<crate::verdict::StoredProposal>),
    Verdict(Box<crate::verdict::VerdictReply>),
    Key(crate::verdict::KeyInfo),
    Keys(Vec<crate::verdict::KeyInfo>),
    ModeSet {
        skill: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        from: Option<crate::event::Mode>,
        to: crate::event::Mode,
    },
    Run(Box<RunSummary>),
    Schedule(Vec<ScheduleEntry>),
    TrustRefreshed(ShadowRefresh),
    Backtest(Box<crate::event::Backtest>),
    FeedBasis(Box<FeedBasis>),
    Error(ControlError),
}

/// A structured error; `kind` tells the client what to do next.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ControlError {
    pub kind: ControlErrorKind,
    pub message: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ControlErrorKind {
    IncompatibleVersion,
    BadRequest,
    Busy,
    Internal,
    /// A signed act (enrolment, revocation, mode change) was refused.
    Refused,
}

/// `nightjarctl status`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct StatusReport {
    pub daemon_version: String,
    pub protocol_version: u32,
    pub pid: u32,
    pub started_at: DateTime<Utc>,
    pub sandbox: bool,
    pub config_dir: String,
    pub state_dir: String,
    pub control_socket: String,
    /// Base URL of the embedded sandbox tenant, when serving one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sandbox_url: Option<String>,
    /// Each ConnectWise product: configured or why not (URLs, never credentials).
    pub connectors: Vec<crate::event::ConnectorState>,
    pub log: LogStatus,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct LogStatus {
    pub events: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub head_seq: Option<u64>,
    pub head_hash: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_checkpoint: Option<Checkpoint>,
}

/// The result of verifying the log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct VerifyReport {
    /// Events found in the store.
    pub events: u64,
    /// Events whose hash and link were checked.
    pub verified: u64,
    pub head_hash: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checkpoint: Option<Checkpoint>,
    /// The first problem found, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub problem: Option<ChainProblem>,
}

impl VerifyReport {
    pub fn ok(&self) -> bool {
        self.problem.is_none()
    }
}

/// The first bad place in the chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ChainProblem {
    /// The first bad seq.
    pub seq: u64,
    pub kind: ChainProblemKind,
    pub detail: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ChainProblemKind {
    /// The stored bytes do not decode as an event.
    Undecodable,
    /// The event's hash does not match its contents.
    HashMismatch,
    /// The event does not link to the previous event's hash.
    BrokenLink,
    /// The seq inside the record differs from its position (reordered or moved).
    SeqMismatch,
    /// A seq is missing between two present ones (deleted in the middle).
    Missing,
    /// The log ends before the last checkpoint (newest events deleted).
    Truncated,
    /// The event at the checkpoint's seq has a different hash than the checkpoint recorded.
    CheckpointMismatch,
}

impl std::fmt::Display for ChainProblemKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let text = match self {
            ChainProblemKind::Undecodable => "undecodable record",
            ChainProblemKind::HashMismatch => "hash mismatch",
            ChainProblemKind::BrokenLink => "broken link to previous event",
            ChainProblemKind::SeqMismatch => "seq out of place",
            ChainProblemKind::Missing => "missing event",
            ChainProblemKind::Truncated => "log truncated before checkpoint",
            ChainProblemKind::CheckpointMismatch => "checkpoint hash mismatch",
        };
        f.write_str(text)
    }
}
