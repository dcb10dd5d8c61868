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
"#;
