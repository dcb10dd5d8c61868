//! The night agent: skills (Agent Skills `SKILL.md` folders) and the per-item agent loop that
//! works each ticket, time sheet or agreement as an MCP client of the daemon.
//!
//! Invariant: this crate never touches a connector, the event log or a key. Everything it does to
//! ConnectWise goes through the daemon's MCP server ([`session::Session`]) and so through the
//! gate; what it reports (items started and finished) goes to a [`run::Observer`] the daemon
//! implements.
//!
//! - [`skill`]: parse, validate, list and export `SKILL.md` skills;
//! - [`items`]: cut a run into work items;
//! - [`functions`]: the flattened functions the model sees, argument checks, calls in text;
//! - [`model`]: the OpenAI-compatible model client;
//! - [`run`]: the per-item loop with its budgets;
//! - [`triage`]: the grounded triage decision (constrained decoding, precedents).

pub mod functions;
pub mod items;
pub mod model;
pub mod run;
#[cfg(feature = "scripted-model")]
pub mod scripted;
pub mod session;
pub mod skill;
pub mod triage;

/// Names of the built-in skills, shipped under `agent/skills/<name>/SKILL.md`.
pub const BUILTIN_SKILLS: [&str; 3] = [
    "msp-night-triage",
    "msp-weekly-prebilling",
    "msp-renewal-sweep",
];
