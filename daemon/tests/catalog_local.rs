//! The actions that need no ConnectWise: `cw_calc` (exact money arithmetic, through the gate and
//! on record like any read) and `cw_meta search` (the compiled-in index of all Manage
//! operations), on a daemon whose connectors are not configured.
#![allow(clippy::unwrap_used, reason = "test helpers abort on any failure")]

mod support;

use daemon::gate::{Caller, Gate};
use schemas::event::{Event, Mode};
use schemas::tool::{ToolCall, ToolOutcome};
use serde_json::{Value, json};
use support::offline_gate;

async fn run(gate: &Gate, tool: &str, action: &str, params: Value) -> ToolOutcome {
    gate.dispatch(
        &Caller::interactive("t", Mode::Enforce),
        ToolCall::new(tool, action, params),
    )
    .await
}

async fn ok(gate: &Gate, tool: &str, action: &str, params: Value) -> Value {
    match run(gate, tool, action, params.clone()).await {
        ToolOutcome::Ok {
            result,
            upstream_requests,
        } => {
            assert_eq!(upstream_requests, 0);
            result
        }
        other => panic!("{tool}.{action} {params}: {other:?}"),
    }
}

#[tokio::test]
async fn money_arithmetic_is_exact_and_refuses_what_it_cannot_read() {
    let dir = tempfile::tempdir().unwrap();
    let g = offline_gate(dir.path());
    let cases = [
        ("sum", json!({"values": ["0.1", "0.2"]}), "0.3"),
        (
            "sum",
            json!({"values": ["1250.10", 99.9, "0.005"], "currency": "USD"}),
            "1350.01",
        ),
        (
            "multiply",
            json!({"a": "7.5", "b": "145.00", "currency": "USD"}),
            "1087.50",
        ),
        (
            "divide",
            json!({"a": "1000", "b": "3", "currency": "USD"}),
            "333.33",
        ),
        (
            "percent",
            json!({"value": "1250.00", "percent": "8.25", "currency": "USD"}),
            "103.13",
        ),
        (
            "uplift",
            json!({"value": "1250.00", "percent": "5", "currency": "USD"}),
            "1312.50",
        ),
        (
            "uplift",
            json!({"value": "1000", "percent": "-12.5", "currency": "EUR"}),
            "875.00",
        ),
        (
            "round",
            json!({"value": "10.005", "currency": "USD"}),
            "10.01",
        ),
        (
            "round",
            json!({"value": "1234.5", "currency": "JPY"}),
            "1235",
        ),
    ];
    for (action, params, expected) in cases {
        let r = ok(&g, "cw_calc", action, params.clone()).await;
        assert_eq!(r["result"], expected, "{action} {params}: {r}");
    }
    let split = ok(
        &g,
        "cw_calc",
        "split",
        json!({"total": "100.00", "parts": 3, "currency": "USD"}),
    )
    .await;
    assert_eq!(split["parts"], json!(["33.34", "33.33", "33.33"]));
    assert_eq!(split["sum"], "100.00");

    for (action, params) in [
        ("sum", json!({"values": ["$1,200"]})),
        ("divide", json!({"a": "1", "b": "0"})),
        ("round", json!({"value": "1", "currency": "XYZ"})),
        (
            "split",
            json!({"total": "1", "parts": 0, "currency": "USD"}),
        ),
    ] {
        let out = run(&g, "cw_calc", action, params.clone()).await;
        let ToolOutcome::Error { error } = out else {
            panic!("{action} {params}: {out:?}")
        };
        assert_eq!(error.kind, "invalid_params", "{action} {params}");
    }
    // Reads like any other: on record, the parameters with them.
    let reads = g
        .store()
        .range(0, u64::MAX)
        .filter(|e| matches!(&e.as_ref().unwrap().event, Event::ActionRead { tool, .. } if tool == "cw_calc"))
        .count();
    assert_eq!(reads, 10);
}

#[tokio::test]
async fn endpoint_search_finds_the_operation_for_a_task() {
    let dir = tempfile::tempdir().unwrap();
    let g = offline_gate(dir.path());
    let cases = [
        (
            "add a note to a ticket",
            "POST",
            "/service/tickets/{parentId}/notes",
        ),
        (
            "agreement additions",
            "GET",
            "/finance/agreements/{parentId}/additions",
        ),
        ("change a time entry", "PATCH", "/time/entries/{id}"),
    ];
    for (query, method, path) in cases {
        let r = ok(&g, "cw_meta", "search", json!({"query": query, "limit": 5})).await;
        assert_eq!(r["operations"], 3051);
        let hits = r["hits"].as_array().unwrap();
        assert!(
            hits.iter()
                .any(|h| h["method"] == method && h["path"] == path),
            "{query}: {method} {path} not in the top 5: {hits:?}"
        );
    }
    let empty = run(&g, "cw_meta", "search", json!({"query": "  "})).await;
    assert_eq!(empty.status(), "error");
}
