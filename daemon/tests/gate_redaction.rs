//! Invariant 6 through the gate: after reading and writing every ticket the sandbox laced with
//! personal data (its ground truth says which, and what), no planted value appears anywhere in
//! the event log or in the tracing output, and neither do the canary credentials the connectors
//! were configured with; while the caller itself got the real data back.
#![allow(clippy::unwrap_used, reason = "test helpers abort on any failure")]

use std::io::Write;
use std::sync::{Arc, Mutex};

use daemon::catalog::Context;
use daemon::connector::{Connectors, Policy, Settings};
use daemon::gate::{Caller, Gate};
use daemon::log::{Options, Store};
use daemon::redact::{RedactingWriter, Redactor};
use schemas::config::GateConfig;
use schemas::event::Mode;
use schemas::tool::{ToolCall, ToolOutcome};
use serde_json::json;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// Everything tracing wrote, after the redacting writer.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Captured {
    type Writer = Captured;
    fn make_writer(&'a self) -> Captured {
        self.clone()
    }
}

const CANARIES: [&str; 3] = [
    "canary-manage-private-7f3a9c1e5b2d",
    "canary-rmm-secret-0d4be8a2c6f1",
    "canary-sc-secret-93e1b7d05a4c",
];

#[tokio::test]
async fn no_planted_personal_data_or_credential_reaches_the_log_or_tracing() {
    let credentials = sandbox::auth::Credentials {
        private_key: CANARIES[0].into(),
        rmm_client_secret: CANARIES[1].into(),
        sc_auth_secret: CANARIES[2].into(),
        ..sandbox::auth::Credentials::default()
    };
    let tenant = sandbox::start(sandbox::Config {
        today: chrono::NaiveDate::from_ymd_opt(2026, 3, 2).unwrap(),
        credentials,
        ..sandbox::Config::default()
    })
    .await
    .unwrap();
    let settings = Settings::from_env_lines(&tenant.env_lines()).unwrap();
    let redactor = Arc::new(Redactor::new(settings.secrets()));
    assert_eq!(redactor.literal_secrets(), settings.secrets().len());

    // Tracing at its most talkative, through the same redacting writer the daemon uses.
    let captured = Captured::default();
    tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .with_ansi(false)
                .with_writer(RedactingWriter::new(
                    captured.clone(),
                    Arc::clone(&redactor),
                )),
        )
        .with(tracing_subscriber::EnvFilter::new("trace"))
        .init();

    let dir = tempfile::tempdir().unwrap();
    let (store, _) = Store::open(
        &dir.path().join("log"),
        &dir.path().join("checkpoint.json"),
        Options::default(),
    )
    .unwrap();
    let ctx = Arc::new(Context::new(
        Connectors::new(&settings, &Policy::default()),
        settings.connector_states(),
        chrono::NaiveDate::from_ymd_opt(2026, 3, 2).unwrap(),
    ));
    let gate = Gate::new(store.clone(), ctx, redactor, GateConfig::default()).unwrap();
    let human = Caller::interactive("redaction-test", Mode::Enforce);

    let planted = tenant.truth().pii.clone();
    assert!(planted.len() >= 10, "the sandbox plants personal data");
    let mut tickets: Vec<i64> = planted.iter().map(|p| p.location.ticket_id).collect();
    tickets.sort_unstable();
    tickets.dedup();

    let mut returned = String::new();
    let mut note_texts = std::collections::BTreeMap::new();
    for id in &tickets {
        for call in [
            ToolCall::new("cw_tickets", "get", json!({"id": id, "depth": "full"})),
            ToolCall::new("cw_tickets", "notes", json!({"id": id})),
            ToolCall::new(
                "cw_tickets",
                "get",
                json!({"id": id, "fields": ["id", "summary", "initialDescription"]}),
            ),
        ] {
            let outcome = gate.dispatch(&human, call).await;
            let ToolOutcome::Ok { result, .. } = &outcome else {
                panic!("{outcome:?}")
            };
            for note in result["notes"].as_array().into_iter().flatten() {
                note_texts.insert(
                    note["id"].as_i64().unwrap(),
                    note["text"].as_str().unwrap_or_default().to_owned(),
                );
            }
            returned.push_str(&serde_json::to_string(&outcome).unwrap());
        }
    }
    // Personal data in parameters, previews and executed writes: a technician searches for it,
    // and quotes the customer's note in a new internal note (preview, then confirmed).
    let mut quoted = 0;
    for p in &planted {
        let id = p.location.ticket_id;
        if p.kind != "password" {
            // A bare password has no shape to recognise; in a sentence it has ("password is").
            let search = gate
                .dispatch(
                    &human,
                    ToolCall::new(
                        "cw_tickets",
                        "search",
                        json!({"text": p.value, "state": "any"}),
                    ),
                )
                .await;
            assert!(!search.is_error(), "{search:?}");
        }
        let Some(original) = note_texts.get(&p.location.id) else {
            continue;
        };
        let text = format!("Customer wrote: \"{original}\"");
        let preview = gate
            .dispatch(
                &human,
                ToolCall::new("cw_tickets", "add_note", json!({"id": id, "text": text})),
            )
            .await;
        assert_eq!(preview.status(), "preview");
        let executed = gate
            .dispatch(
                &human,
                ToolCall::new("cw_tickets", "add_note", json!({"id": id, "text": text}))
                    .confirmed(),
            )
            .await;
        let ToolOutcome::Executed { .. } = executed else {
            panic!("{executed:?}")
        };
        quoted += 1;
    }
    assert!(quoted >= 5, "only {quoted} planted notes were quoted back");

    // The caller got the real data: the check below is not vacuous.
    let seen = planted
        .iter()
        .filter(|p| returned.contains(&p.value))
        .count();
    assert!(
        seen * 2 >= planted.len(),
        "only {seen} of {} planted values came back",
        planted.len()
    );

    let log: String = store
        .range(0, u64::MAX)
        .map(|e| serde_json::to_string(&e.unwrap()).unwrap())
        .collect::<Vec<_>>()
        .join("\n");
    assert!(log.contains("ActionRead") && log.contains("ActionExecuted"));
    let tracing = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(tracing.contains("tool call"), "tracing captured nothing");
    for (name, text) in [("event log", &log), ("tracing output", &tracing)] {
        for p in &planted {
            assert!(
                !text.contains(&p.value),
                "{name} holds planted {} {:?} (from {} {})",
                p.kind,
                p.value,
                p.location.entity,
                p.location.id
            );
        }
        for canary in CANARIES {
            assert!(
                !text.contains(canary),
                "{name} holds the credential {canary}"
            );
        }
    }
    store.close().await;
    tenant.shutdown().await;
}
