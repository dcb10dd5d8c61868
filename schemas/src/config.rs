//! The configuration file (`config.toml` in the config directory).
//!
//! Layering (lowest first): built-in defaults, this file, environment variables, command-line
//! flags. Unknown keys are refused so a typo is an error at start, not a silently ignored setting.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The whole file.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub daemon: DaemonConfig,
    pub gate: GateConfig,
    pub mcp: McpConfig,
    pub agent: AgentConfig,
    pub scheduler: SchedulerConfig,
    /// Per skill, by name: `[skills.msp-night-triage]`.
    pub skills: std::collections::BTreeMap<String, SkillConfig>,
    pub trust: TrustCriteria,
}

/// `[trust]`: when a skill has earned enforce mode, judged from its shadow metrics (what humans
/// later did to the records its observe-mode proposals touched).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct TrustCriteria {
    /// At least this many observed decisions.
    pub min_observations: u32,
    /// At least this share of them agreeing with the humans, in percent.
    pub min_agreement_percent: u32,
    /// No critical miss (a wrong billing or customer-visible change) in this many days.
    pub critical_window_days: u32,
}

impl Default for TrustCriteria {
    fn default() -> Self {
        Self {
            min_observations: 25,
            min_agreement_percent: 90,
            critical_window_days: 7,
        }
    }
}

/// `[agent]`: the night agent's model and budgets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct AgentConfig {
    /// OpenAI-compatible base URL with `/v1` (Ollama, llama.cpp, vLLM, LM Studio). Overridden by
    /// `NIGHTJAR_MODEL_URL`.
    pub model_url: Option<String>,
    /// The model's name on that server. Overridden by `NIGHTJAR_MODEL`.
    pub model: Option<String>,
    /// Most tokens one model reply may have (always sent to the server).
    pub max_tokens: u32,
    /// Most model turns for one work item.
    pub steps_per_item: u32,
    pub tokens_per_item: u64,
    pub seconds_per_item: u64,
    pub tokens_per_run: u64,
    pub seconds_per_run: u64,
    /// Most work items in one run; the rest wait for the next.
    pub max_items: usize,
}

impl Default for AgentConfig {
    fn default() -> Self {
        Self {
            model_url: None,
            model: None,
            max_tokens: 384,
            steps_per_item: 8,
            tokens_per_item: 24_000,
            seconds_per_item: 180,
            tokens_per_run: 600_000,
            seconds_per_run: 4 * 3600,
            max_items: 50,
        }
    }
}

/// `[scheduler]`: when skills run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct SchedulerConfig {
    /// Runs skills on their schedules (off: only `nightjarctl run`).
    pub enabled: bool,
    /// IANA time zone the schedules are in, e.g. `America/Chicago`. Default: `CW_TIMEZONE`, or
    /// UTC.
    pub timezone: Option<String>,
    /// A run missed while the daemon was down is caught up once, if the daemon starts within
    /// this many minutes of the missed time.
    pub catch_up_minutes: u64,
}

impl Default for SchedulerConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            timezone: None,
            catch_up_minutes: 360,
        }
    }
}

/// `[skills.NAME]`: one skill's schedule, mode and scope.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct SkillConfig {
    /// Standard 5-field crontab (`minute hour day-of-month month day-of-week`, Sunday 0 or 7)
    /// or `@daily`, `@weekly`, `@hourly`, `@monthly`, `@yearly`. Default: the skill's own; `""`:
    /// never scheduled.
    pub schedule: Option<String>,
    /// `observe` (the default for every skill), `enforce` or `dry-run`. A signed
    /// `nightjarctl mode` change wins over this.
    pub mode: Option<crate::event::Mode>,
    /// Triage only these boards (ids); default every board.
    pub boards: Vec<i64>,
    /// Renewal sweep: agreements ending within this many days (default: the skill's).
    pub expiring_days: Option<u32>,
    /// Triage: the most similar closed tickets shown with each decision (default 6; 0: no
    /// grounded decisions, the model works the ticket as a conversation).
    pub precedents: Option<u32>,
}

/// A built-in skill's schedule when the configuration names none.
pub fn default_schedule(skill: &str) -> Option<&'static str> {
    match skill {
        "msp-night-triage" => Some("0 2 * * *"),
        "msp-weekly-prebilling" => Some("0 5 * * 1"),
        "msp-renewal-sweep" => Some("0 4 * * 1"),
        _ => None,
    }
}

/// `[mcp]`: the MCP socket that Claude and other MCP clients attach to (through
/// `nightjarctl mcp`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct McpConfig {
    /// Most MCP sessions at once; one more is refused with a JSON-RPC error.
    pub max_sessions: usize,
    /// Longest JSON-RPC message accepted, in bytes; a longer one is dropped.
    pub max_message_bytes: usize,
    /// How long an interactive call of a hard action waits for a signed verdict, in seconds,
    /// sending progress notifications; then it answers "timed out (not executed)".
    pub approval_wait_secs: u64,
}

impl Default for McpConfig {
    fn default() -> Self {
        Self {
            max_sessions: 16,
            max_message_bytes: 1024 * 1024,
            approval_wait_secs: 90,
        }
    }
}

/// `[gate]`: how tool calls are classified and bounded. Configuration can only make an action
/// stricter than the catalog says, never looser.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct GateConfig {
    /// Mode of interactive sessions (MCP clients, `nightjarctl call`): `enforce` (default),
    /// `observe` or `dry-run`.
    pub interactive_mode: crate::event::Mode,
    /// Actions to treat as stricter than the catalog, as `"tool.action" = "write" | "hard"`,
    /// e.g. `"cw_tickets.update" = "hard"`. A class below the catalog's is refused at start.
    pub stricter: std::collections::BTreeMap<String, crate::event::Risk>,
    /// Most upstream requests one tool call may make (the fan-out guard).
    pub max_upstream_calls: u64,
}

impl Default for GateConfig {
    fn default() -> Self {
        Self {
            interactive_mode: crate::event::Mode::Enforce,
            stricter: Default::default(),
            max_upstream_calls: 50,
        }
    }
}

/// `[daemon]`: the process itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct DaemonConfig {
    /// Tracing filter (`RUST_LOG` syntax), e.g. `info` or `info,daemon::log=debug`.
    /// Overridden by `NIGHTJAR_LOG`.
    pub log_filter: String,
    /// Also write tracing output to this file (relative paths are under the state directory).
    pub log_file: Option<String>,
    /// Write a checkpoint every this many events (besides at shutdown and at the end of a run).
    pub checkpoint_every: u64,
    /// Most control connections served at once; more wait for a free slot.
    pub max_connections: usize,
}

impl Default for DaemonConfig {
    fn default() -> Self {
        Self {
            log_filter: "info".into(),
            log_file: None,
            checkpoint_every: 1000,
            max_connections: 64,
        }
    }
}

/// What `nightjarctl config default` prints: the defaults, commented. A test checks that it
/// parses to `Config::default()`.
pub const DEFAULT_TOML: &str = r#"# Nightjar configuration: config.toml in the config directory
# (default ~/.config/nightjar, or $NIGHTJAR_CONFIG_DIR).
# Layering, lowest first: these defaults, this file, environment variables, command-line flags.
# Unknown keys are refused at start, with the line and the reason.

[daemon]
# Tracing filter (RUST_LOG syntax). Overridden by NIGHTJAR_LOG.
log_filter = "info"

# Also write tracing output to a file (relative paths are under the state directory).
# log_file = "nightjard.log"

# Write a checkpoint of the event log every this many events. Checkpoints are also written at
# shutdown, at the end of every run and on `nightjarctl log checkpoint`.
checkpoint_every = 1000

# Most control connections served at once.
max_connections = 64

[gate]
# Mode of interactive sessions (MCP clients, `nightjarctl call`): "enforce", "observe" or "dry-run".
interactive_mode = "enforce"

# Most upstream ConnectWise requests one tool call may make (the fan-out guard).
max_upstream_calls = 50

# Make actions stricter than the catalog: "tool.action" = "write" or "hard". Configuration can
# never make an action looser; a class below the catalog's is refused at start.
[gate.stricter]
# "cw_tickets.update" = "hard"

[mcp]
# Most MCP sessions (Claude Desktop, Claude Code, ...) at once.
max_sessions = 16

# Longest JSON-RPC message accepted, in bytes.
max_message_bytes = 1048576

# How long an interactive call of a hard action waits for a signed approval, in seconds.
approval_wait_secs = 90

[agent]
# The night agent's model: any OpenAI-compatible server (Ollama, llama.cpp, vLLM, LM Studio).
# NIGHTJAR_MODEL_URL and NIGHTJAR_MODEL override these; `nightjarctl model serve` prints them.
# model_url = "http://127.0.0.1:11434/v1"
# model = "qwen2.5-coder:1.5b"

# Most tokens one model reply may have (always sent: a small model can otherwise run for minutes).
max_tokens = 384

# Budgets: per work item, and per run.
steps_per_item = 8
tokens_per_item = 24000
seconds_per_item = 180
tokens_per_run = 600000
seconds_per_run = 14400

# Most work items in one run; the rest wait for the next run.
max_items = 50

[scheduler]
# Run skills on their schedules (false: only `nightjarctl run SKILL`).
enabled = true

# IANA time zone of the schedules. Default: CW_TIMEZONE, or UTC.
# timezone = "America/Chicago"

# A run missed while the daemon was down is caught up once, within this many minutes.
catch_up_minutes = 360

# Per skill: schedule (5-field crontab, Sunday = 0 or 7), mode ("observe", the default,
# "enforce" or "dry-run"; `nightjarctl mode` changes it with a signed verdict), and scope.
# The built-in schedules: triage 02:00 daily, renewal sweep Mondays 04:00, pre-billing
# Mondays 05:00.
# [skills.msp-night-triage]
# schedule = "0 2 * * *"
# mode = "observe"
# boards = [1]
#
# precedents = 6      # similar closed tickets shown per triage decision; 0 turns it off
#
# [skills.msp-renewal-sweep]
# expiring_days = 90

[trust]
# When `nightjarctl trust` and the feed call a skill ready for enforce mode: enough observed
# decisions, enough of them agreeing with what your team did later, and no critical miss (a
# wrong billing or customer-visible change) in the window.
min_observations = 25
min_agreement_percent = 90
critical_window_days = 7
"#;
