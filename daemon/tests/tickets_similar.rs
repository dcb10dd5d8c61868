//! `cw_tickets similar` through the gate against the sandbox over real HTTP: precedents by
//! ticket (never the ticket itself, labelled as the ticket was for most closed tickets) and by
//! free text, refused parameters, the answer without an index, the record in the log, and the
//! refresh before a triage run.
#![allow(clippy::unwrap_used, reason = "test helpers abort on any failure")]

use schemas::config::Config;
use schemas::event::{DenialReason, Event, RunTrigger};
use schemas::tool::ToolOutcome;
use serde_json::{Value, json};

mod support;

/// The name most precedents carry under `key`.
fn majority(precedents: &[Value], key: &str) -> String {
    support::majority(precedents.iter().filter_map(|p| p[key]["name"].as_str()))
}

#[tokio::test]
async fn precedents_by_id_never_include_the_ticket_and_carry_its_labels() {
    let w = support::world_with_history().await;
    let closed = w.tenant.truth().closed.clone();
    assert!(closed.len() >= 300, "{} closed tickets", closed.len());
    let (mut board, mut kind, mut priority) = (0, 0, 0);
    for c in &closed {
        let got = w
            .read("cw_tickets", "similar", json!({"id": c.ticket_id, "k": 5}))
            .await;
        assert_eq!(got["query"]["id"], c.ticket_id);
        let precedents = got["precedents"].as_array().unwrap();
        assert_eq!(precedents.len(), 5, "{got}");
        assert!(
            precedents.iter().all(|p| p["id"] != c.ticket_id),
            "ticket {} is its own precedent: {got}",
            c.ticket_id
        );
        let scores: Vec<f64> = precedents
            .iter()
            .map(|p| p["score"].as_f64().unwrap())
            .collect();
        assert!(scores.windows(2).all(|s| s[0] >= s[1]), "{scores:?}");
        board += usize::from(majority(precedents, "board") == c.labels.board.name);
        kind += usize::from(majority(precedents, "type") == c.labels.kind.name);
        priority += usize::from(majority(precedents, "priority") == c.labels.priority.name);
    }
    let rate = |hits: usize| hits as f64 / closed.len() as f64;
    println!(
        "similar by id over {} closed tickets, majority of 5: board {:.0}%, type {:.0}%, priority {:.0}%",
        closed.len(),
        100.0 * rate(board),
        100.0 * rate(kind),
        100.0 * rate(priority)
    );
    assert!(rate(board) >= 0.9, "board {:.2}", rate(board));
    assert!(rate(kind) >= 0.9, "type {:.2}", rate(kind));
    assert!(rate(priority) >= 0.9, "priority {:.2}", rate(priority));

    // Compact: labels as {id, name}, the day it closed, a score; no nulls.
    let first = &w
        .read(
            "cw_tickets",
            "similar",
            json!({"id": closed[0].ticket_id, "k": 1}),
        )
        .await["precedents"][0];
    let keys: Vec<&str> = first
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        [
            "board",
            "closed",
            "id",
            "priority",
            "resolution",
            "score",
            "subtype",
            "summary",
            "type"
        ]
    );
    assert!(first["board"]["id"].is_i64() && first["board"]["name"].is_string());
    assert_eq!(first["closed"].as_str().unwrap().len(), "2026-01-01".len());
    w.tenant.shutdown().await;
}

#[tokio::test]
async fn precedents_by_text_rank_the_matching_ticket_first_and_are_logged_as_reads() {
    let w = support::world_with_history().await;
    let id = w.tenant.truth().closed[7].ticket_id;
    let summary = w
        .history
        .as_ref()
        .unwrap()
        .read()
        .await
        .get(id)
        .unwrap()
        .summary
        .clone();
    w.tenant.clear_journal();
    let got = w
        .read("cw_tickets", "similar", json!({"text": summary}))
        .await;
    assert_eq!(got["query"]["text"], summary.as_str());
    assert!(got["query"].get("id").is_none());
    let precedents = got["precedents"].as_array().unwrap();
    assert_eq!(precedents.len(), 6, "the default k");
    // Free text excludes nothing: the ticket with exactly these words is among the first.
    assert!(
        precedents.iter().take(3).any(|p| p["id"] == id),
        "{id} not in the top 3: {got}"
    );
    assert!(
        w.tenant.journal().is_empty(),
        "text needs nothing from ConnectWise"
    );

    let events: Vec<Event> = w
        .store
        .range(0, u64::MAX)
        .map(|e| e.unwrap().event)
        .collect();
    let read = events.iter().rev().find_map(|e| match e {
        Event::ActionRead {
            tool,
            action,
            params,
            ..
        } => Some((tool.as_str(), action.as_str(), params.clone())),
        _ => None,
    });
    let (tool, action, params) = read.unwrap();
    assert_eq!((tool, action), ("cw_tickets", "similar"));
    assert!(params["text"].is_string(), "{params}");
    w.tenant.shutdown().await;
}

#[tokio::test]
async fn refused_parameters_are_invalid_and_send_nothing() {
    let w = support::world_with_history().await;
    let id = w.tenant.truth().closed[0].ticket_id;
    w.tenant.clear_journal();
    let cases = [
        ("both id and text", json!({"id": id, "text": "printer"})),
        ("neither", json!({})),
        ("empty text", json!({"text": "  "})),
        ("k = 0", json!({"id": id, "k": 0})),
        ("k = 500", json!({"id": id, "k": 500})),
        ("unknown field", json!({"id": id, "limit": 5})),
        ("id as text", json!({"id": "the printer one"})),
    ];
    for (what, params) in cases {
        let out = w.call("cw_tickets", "similar", params, false).await;
        let error = support::error_of(&out);
        assert_eq!(error.kind, "invalid_params", "{what}: {error:?}");
        assert!(!error.hint.is_empty(), "{what}");
        if what == "unknown field" {
            assert_eq!(error.fields[0].field, "limit");
        }
        if what.starts_with("k =") {
            assert!(
                error.message.contains("1 to 20"),
                "{what}: {}",
                error.message
            );
        }
    }
    assert!(w.tenant.journal().is_empty(), "{:?}", w.tenant.journal());
    let denied = w
        .store
        .range(0, u64::MAX)
        .filter(|e| {
            matches!(
                &e.as_ref().unwrap().event,
                Event::ActionDenied { action, reason: DenialReason::InvalidParams, .. } if action == "similar"
            )
        })
        .count();
    assert_eq!(denied, 7);
    w.tenant.shutdown().await;
}

#[tokio::test]
async fn without_an_index_the_answer_says_so_and_what_to_do() {
    let w = support::world().await;
    let id = w.tenant.truth().closed[0].ticket_id;
    w.tenant.clear_journal();
    let out = w
        .call("cw_tickets", "similar", json!({"id": id}), false)
        .await;
    let error = support::error_of(&out);
    assert_eq!(error.kind, "not_configured", "{error:?}");
    assert_eq!(error.product, None, "not a ConnectWise product");
    assert!(
        error.message.contains("ticket history"),
        "{}",
        error.message
    );
    assert!(error.hint.contains("history/"), "{}", error.hint);
    assert!(w.tenant.journal().is_empty());
    // Parameters are still checked first.
    let out = w.call("cw_tickets", "similar", json!({}), false).await;
    assert_eq!(support::error_of(&out).kind, "invalid_params");
    let last = w.store.range(0, u64::MAX).map(|e| e.unwrap().event);
    let not_configured = last
        .filter(|e| {
            matches!(
                e,
                Event::ActionDenied {
                    reason: DenialReason::NotConfigured,
                    ..
                }
            )
        })
        .count();
    assert_eq!(not_configured, 1);
    w.tenant.shutdown().await;
}

#[tokio::test]
async fn a_triage_run_refreshes_the_history_first_and_other_runs_do_not() {
    let w = support::world_with_history().await;
    let history = w.history.clone().unwrap();
    // A technician closes a ticket during the day.
    let id = w.tenant.truth().untriaged[0].ticket_id;
    let out = w.call("cw_tickets", "close", json!({"id": id}), true).await;
    assert!(matches!(out, ToolOutcome::Executed { .. }), "{out:?}");
    assert!(history.read().await.get(id).is_none());

    let night = support::night(&w.gate, Config::default(), None);
    night
        .run("msp-weekly-prebilling", RunTrigger::Manual, None)
        .await
        .unwrap();
    assert!(
        history.read().await.get(id).is_none(),
        "only triage grounds itself in the history"
    );
    night
        .run("msp-night-triage", RunTrigger::Manual, None)
        .await
        .unwrap();
    let index = history.read().await;
    assert!(
        index.get(id).is_some(),
        "the ticket closed today is a precedent tonight"
    );
    drop(index);
    w.tenant.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daemon_builds_its_history_in_the_state_directory_at_start() {
    let root = tempfile::tempdir().unwrap();
    let paths = daemon::paths::Paths {
        config_dir: root.path().join("c"),
        state_dir: root.path().join("s"),
        runtime_dir: root.path().join("r"),
    };
    let settings = daemon::Settings {
        paths: paths.clone(),
        config: Config::default(),
        config_sources: vec!["test".into()],
        sandbox: Some(42),
        allow_broken_log: false,
    };
    let shutdown = tokio_util::sync::CancellationToken::new();
    let daemon = tokio::spawn(daemon::run(settings, shutdown.clone()));
    // The refresh runs in the background after start and persists what it read.
    let file = paths.history_dir().join(daemon::history::FILE_NAME);
    for _ in 0..600 {
        if file.exists() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    shutdown.cancel();
    daemon.await.unwrap().unwrap();
    let redactor = std::sync::Arc::new(daemon::redact::Redactor::new(Vec::<String>::new()));
    let (_, opened) = daemon::history::HistoryIndex::open(&paths.history_dir(), redactor).unwrap();
    match opened {
        daemon::history::Opened::Loaded { tickets } => assert!(tickets >= 300, "{tickets}"),
        other => panic!("{other:?}"),
    }
}
