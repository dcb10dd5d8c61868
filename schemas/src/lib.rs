//! Wire and disk types of Nightjar: the event log record, the ctl <-> daemon control protocol, the
//! configuration file, and tool calls (typed parameters and outcomes). Only this crate knows serialization; it does no IO.
//!
//! Every public type derives `JsonSchema`, and the golden files under `schemas/json/` are compared
//! with the generated schemas by a test (`UPDATE_SCHEMAS=1 cargo test -p schemas` rewrites them),
//! so a change to anything on the wire shows up as a diff in review.

pub mod canonical;
pub mod config;
pub mod control;
pub mod event;
pub mod projection;
pub mod tool;
pub mod verdict;

pub use event::{Envelope, Event, Principal};
