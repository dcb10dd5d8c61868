//! The night agent: skills (Agent Skills `SKILL.md` folders) and the per-item agent loop that
//! works each ticket, time sheet or agreement as an MCP client of the daemon.
//!
//! Invariant: this crate never touches a connector, the event log or a key. Everything it does to
//! ConnectWise goes through the daemon's MCP server and so through the gate. The loop itself
//! arrives with the night-shift work; this crate exists now so the workspace shape is settled.

/// Names of the built-in skills, shipped under `agent/skills/<name>/SKILL.md`.
pub const BUILTIN_SKILLS: [&str; 3] = [
    "msp-night-triage",
    "msp-weekly-prebilling",
    "msp-renewal-sweep",
];
