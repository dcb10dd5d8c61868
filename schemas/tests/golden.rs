//! Golden JSON Schema files: the generated schema of every wire and disk type must equal the file
//! under `schemas/json/`. Run with `UPDATE_SCHEMAS=1` to rewrite them after an intended change.
#![allow(clippy::unwrap_used, reason = "test helpers abort on any failure")]

use std::path::PathBuf;

use schemars::{JsonSchema, schema_for};

fn check<T: JsonSchema>(name: &str) -> Option<String> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("json")
        .join(format!("{name}.schema.json"));
    let generated = serde_json::to_string_pretty(&schema_for!(T)).unwrap() + "\n";
    if std::env::var_os("UPDATE_SCHEMAS").is_some() {
        std::fs::write(&path, &generated).unwrap();
        return None;
    }
    match std::fs::read_to_string(&path) {
        Ok(stored) if stored == generated => None,
        Ok(_) => Some(format!("{name}: schema drifted from {}", path.display())),
        Err(e) => Some(format!("{name}: cannot read {}: {e}", path.display())),
    }
}

#[test]
fn golden_schemas_match() {
    let drift: Vec<String> = [
        check::<schemas::event::Envelope>("envelope"),
        check::<schemas::event::Checkpoint>("checkpoint"),
        check::<schemas::control::Hello>("control-hello"),
        check::<schemas::control::HelloReply>("control-hello-reply"),
        check::<schemas::control::Request>("control-request"),
        check::<schemas::control::Response>("control-response"),
        check::<schemas::config::Config>("config"),
        check::<schemas::projection::Snapshot>("snapshot"),
        check::<schemas::tool::ToolCall>("tool-call"),
        check::<schemas::tool::ToolOutcome>("tool-outcome"),
        check::<schemas::verdict::VerdictPayload>("verdict-payload"),
        check::<schemas::verdict::ModePayload>("mode-payload"),
        check::<schemas::verdict::EnrollPayload>("enroll-payload"),
        check::<schemas::verdict::RevokePayload>("revoke-payload"),
        check::<schemas::verdict::Signed>("signed"),
        check::<schemas::verdict::StoredProposal>("stored-proposal"),
    ]
    .into_iter()
    .flatten()
    .collect();
    assert!(
        drift.is_empty(),
        "{}\nIf the change is intended, rerun with UPDATE_SCHEMAS=1 and review the diff.",
        drift.join("\n")
    );
}

#[test]
fn default_config_text_parses_to_the_defaults() {
    let parsed: schemas::config::Config = toml::from_str(schemas::config::DEFAULT_TOML).unwrap();
    assert_eq!(parsed, schemas::config::Config::default());
}
