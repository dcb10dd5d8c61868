//! The gate over real HTTP to the sandbox tenant: each core action returns what the sandbox
//! holds; writes without `confirm` send nothing, with it exactly once, in observe mode never;
//! the hard floor and configuration raise risk but never lower it; faults come back as
//! structured errors with nothing written twice; every step is in the log in order.
#![allow(clippy::unwrap_used, reason = "test helpers abort on any failure")]

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use daemon::catalog::Context;
use daemon::connector::manage::Query;
use daemon::connector::{Budget, Call, Connectors, Policy, Settings};
use daemon::gate::{Caller, Gate, GateError};
use daemon::log::{Options, Store};
use daemon::redact::Redactor;
use schemas::config::GateConfig;
use schemas::event::{DenialReason, Disposition, Envelope, Event, Mode, Principal, Risk};
use schemas::tool::{ToolCall, ToolOutcome};
use serde_json::{Value, json};

struct World {
    tenant: sandbox::Running,
    gate: Gate,
    store: Store,
    /// A second client, outside the gate, to read what the sandbox holds.
    direct: Connectors,
    _dir: tempfile::TempDir,
}

fn fast_policy() -> Policy {
    Policy {
        max_attempts: 3,
        max_wait: Duration::from_secs(3),
        base_backoff: Duration::from_millis(10),
        jitter: Duration::from_millis(20),
        timeout: Duration::from_secs(2),
    }
}

async fn world_with(config: GateConfig) -> World {
    let tenant = sandbox::start(sandbox::Config {
        today: chrono::NaiveDate::from_ymd_opt(2026, 3, 2).unwrap(),
        ..sandbox::Config::default()
    })
    .await
    .unwrap();
    let settings = Settings::from_env_lines(&tenant.env_lines()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = Store::open(
        &dir.path().join("log"),
        &dir.path().join("checkpoint.json"),
        Options::default(),
    )
    .unwrap();
    let ctx = Arc::new(Context::new(
        Connectors::new(&settings, &fast_policy()),
        settings.connector_states(),
        chrono::NaiveDate::from_ymd_opt(2026, 3, 2).unwrap(),
    ));
    let gate = Gate::new(
        store.clone(),
        ctx,
        Arc::new(Redactor::new(settings.secrets())),
        config,
    )
    .unwrap();
    let direct = Connectors::new(&settings, &fast_policy()).unwrap();
    World {
        tenant,
        gate,
        store,
        direct,
        _dir: dir,
    }
}

async fn world() -> World {
    world_with(GateConfig::default()).await
}

fn human() -> Caller {
    Caller::interactive("test-client", Mode::Enforce)
}

fn agent(mode: Mode) -> Caller {
    Caller {
        principal: Principal::Skill {
            skill: "msp-night-triage".into(),
            run_id: "r-test".into(),
        },
        mode,
        allowed: None,
    }
}

impl World {
    async fn run(&self, caller: &Caller, tool: &str, action: &str, params: Value) -> ToolOutcome {
        self.gate
            .dispatch(caller, ToolCall::new(tool, action, params))
            .await
    }

    async fn confirm(
        &self,
        caller: &Caller,
        tool: &str,
        action: &str,
        params: Value,
    ) -> ToolOutcome {
        self.gate
            .dispatch(caller, ToolCall::new(tool, action, params).confirmed())
            .await
    }

    /// The `result` of an `ok` outcome.
    async fn read(&self, tool: &str, action: &str, params: Value) -> Value {
        match self.run(&human(), tool, action, params.clone()).await {
            ToolOutcome::Ok { result, .. } => result,
            other => panic!("{tool}.{action} {params}: {other:?}"),
        }
    }

    /// Requests other than GET that reached the sandbox: `METHOD path`.
    fn writes(&self) -> Vec<String> {
        self.tenant
            .journal()
            .iter()
            .filter(|e| e.method != "GET")
            .map(|e| format!("{} {}", e.method, e.path))
            .collect()
    }

    fn events(&self) -> Vec<Envelope> {
        self.store.range(0, u64::MAX).map(|e| e.unwrap()).collect()
    }

    async fn raw(&self, path: &str) -> Value {
        self.direct
            .manage
            .get(&Call::new(Budget { max_calls: 100 }), path, &Query::new())
            .await
            .unwrap()
    }

    async fn raw_list(&self, path: &str, query: Query) -> Vec<Value> {
        self.direct
            .manage
            .list(&Call::new(Budget { max_calls: 100 }), path, &query, 1000)
            .await
            .unwrap()
            .rows
    }
}

fn ids(rows: &Value) -> Vec<i64> {
    rows.as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_i64().unwrap())
        .collect()
}

#[tokio::test]
async fn ticket_reads_return_what_the_sandbox_holds() {
    let w = world().await;
    // list: the board filter, open only, newest first, and the limit.
    let listed = w
        .read("cw_tickets", "list", json!({"board_id": 1, "limit": 200}))
        .await;
    let raw = w
        .raw_list(
            "/service/tickets",
            Query::new()
                .conditions("closedFlag = false and board/id = 1")
                .order_by("id desc"),
        )
        .await;
    let expected: Vec<i64> = raw
        .iter()
        .take(200)
        .map(|r| r["id"].as_i64().unwrap())
        .collect();
    assert!(!expected.is_empty());
    assert_eq!(ids(&listed["tickets"]), expected);
    assert!(listed["tickets"][0].get("_info").is_none(), "compact view");

    // Unassigned tickets have no owner; the planted untriaged ones are among them.
    let unassigned = w
        .read(
            "cw_tickets",
            "list",
            json!({"unassigned": true, "limit": 200}),
        )
        .await;
    let unassigned_ids = ids(&unassigned["tickets"]);
    assert!(
        unassigned["tickets"]
            .as_array()
            .unwrap()
            .iter()
            .all(|t| t.get("owner").is_none())
    );
    for u in &w.tenant.truth().untriaged {
        assert!(
            unassigned_ids.contains(&u.ticket_id),
            "untriaged {} not listed",
            u.ticket_id
        );
    }

    // search: every hit's summary has the word.
    let word = "printer";
    let found = w
        .read(
            "cw_tickets",
            "search",
            json!({"text": word, "state": "any"}),
        )
        .await;
    let hits = found["tickets"].as_array().unwrap();
    assert!(!hits.is_empty());
    for t in hits {
        assert!(
            t["summary"].as_str().unwrap().to_lowercase().contains(word),
            "{t}"
        );
    }

    // get summary: the compact view of the stored ticket.
    let id = w.tenant.truth().untriaged[0].ticket_id;
    let got = w.read("cw_tickets", "get", json!({"id": id})).await;
    let stored = w.raw(&format!("/service/tickets/{id}")).await;
    assert_eq!(got["summary"], stored["summary"]);
    assert_eq!(
        got["board"],
        json!({"id": stored["board"]["id"], "name": stored["board"]["name"]})
    );
    assert_eq!(got["status"]["id"], stored["status"]["id"]);
    // ... and raw fields on request.
    let raw_fields = w
        .read(
            "cw_tickets",
            "get",
            json!({"id": id, "fields": ["id", "summary"]}),
        )
        .await;
    assert_eq!(raw_fields, json!({"id": id, "summary": stored["summary"]}));

    // notes: all of them, oldest first.
    let notes = w.read("cw_tickets", "notes", json!({"id": id})).await;
    let raw_notes = w
        .raw_list(
            &format!("/service/tickets/{id}/notes"),
            Query::new().order_by("id asc"),
        )
        .await;
    assert_eq!(
        ids(&notes["notes"]),
        raw_notes
            .iter()
            .map(|n| n["id"].as_i64().unwrap())
            .collect::<Vec<_>>()
    );
    w.tenant.shutdown().await;
}

#[tokio::test]
async fn get_full_returns_ticket_notes_time_configuration_and_device_health_in_one_call() {
    let w = world().await;
    let recurring = w.tenant.truth().recurring_issue.clone();
    let id = recurring.ticket_ids[0];
    let outcome = w
        .run(
            &human(),
            "cw_tickets",
            "get",
            json!({"id": id, "depth": "full"}),
        )
        .await;
    let ToolOutcome::Ok {
        result,
        upstream_requests,
    } = outcome
    else {
        panic!("{outcome:?}");
    };
    assert_eq!(result["ticket"]["id"], id);
    let raw_notes = w
        .raw_list(&format!("/service/tickets/{id}/notes"), Query::new())
        .await;
    assert_eq!(result["notes"].as_array().unwrap().len(), raw_notes.len());
    let raw_time = w
        .raw_list(
            "/time/entries",
            Query::new().conditions(format!(
                "chargeToType = \"ServiceTicket\" and chargeToId = {id}"
            )),
        )
        .await;
    assert_eq!(result["time"].as_array().unwrap().len(), raw_time.len());
    assert_eq!(
        result["configurations"][0]["id"],
        recurring.configuration_id
    );
    let device = &result["devices"][0];
    assert_eq!(device["endpoint_id"], recurring.endpoint_id.as_str());
    assert_eq!(device["configuration_id"], recurring.configuration_id);
    assert!(device["online"].is_boolean(), "{device}");
    // The recurring problem is a full disk: the health shows it.
    assert!(
        device["disk_used_percent"].as_f64().unwrap() > 90.0,
        "{device}"
    );
    assert!(upstream_requests >= 5, "{upstream_requests}");

    // A ticket with time entries shows them.
    let with_time = w.tenant.truth().time.on_closed_tickets[0].ticket_id;
    let full = w
        .read(
            "cw_tickets",
            "get",
            json!({"id": with_time, "depth": "full"}),
        )
        .await;
    assert!(!full["time"].as_array().unwrap().is_empty(), "{full}");
    w.tenant.shutdown().await;
}

#[tokio::test]
async fn taxonomy_recurring_time_companies_and_meta_reads() {
    let w = world().await;
    let taxonomy = w.read("cw_tickets", "taxonomy", json!({})).await;
    let boards = w
        .raw_list(
            "/service/boards",
            Query::new().conditions("inactiveFlag = false"),
        )
        .await;
    assert_eq!(taxonomy["boards"].as_array().unwrap().len(), boards.len());
    // The planted classification's ids are all valid choices in the taxonomy.
    let expected = &w.tenant.truth().untriaged[0].expected;
    let board = taxonomy["boards"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["id"] == expected.board.id)
        .unwrap();
    assert!(
        board["types"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["id"] == expected.kind.id)
    );
    assert!(
        board["subtypes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["id"] == expected.sub_type.id)
    );
    assert!(
        board["statuses"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["closedStatus"] == true)
    );
    assert!(
        taxonomy["priorities"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["id"] == expected.priority.id)
    );

    // recurring_on_device finds the planted recurring tickets on that device.
    let recurring = w.tenant.truth().recurring_issue.clone();
    let found = w
        .read(
            "cw_tickets",
            "recurring_on_device",
            json!({"configuration_id": recurring.configuration_id}),
        )
        .await;
    let found_ids = ids(&found["tickets"]);
    for id in &recurring.ticket_ids {
        assert!(found_ids.contains(id), "{id} missing from {found_ids:?}");
    }
    assert_eq!(found["recurring"], true);

    // Time entries of a member on a day.
    let day = &w.tenant.truth().time.duplicates[0];
    let member = w.raw(&format!("/system/members/{}", day.member_id)).await;
    let entries = w
        .read(
            "cw_time",
            "entries",
            json!({"member": member["identifier"], "from": day.date, "to": day.date}),
        )
        .await;
    let entry_ids = ids(&entries["entries"]);
    for id in &day.entry_ids {
        assert!(entry_ids.contains(id), "{id} not in {entry_ids:?}");
    }

    // Companies: get, search, contacts, configurations.
    let company_id = recurring.company_id;
    let company = w
        .read("cw_companies", "get", json!({"id": company_id}))
        .await;
    let stored = w.raw(&format!("/company/companies/{company_id}")).await;
    assert_eq!(company["name"], stored["name"]);
    let name_word = stored["name"]
        .as_str()
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap();
    let searched = w
        .read("cw_companies", "search", json!({"text": name_word}))
        .await;
    assert!(ids(&searched["companies"]).contains(&company_id));
    let contacts = w
        .read(
            "cw_companies",
            "contacts",
            json!({"company_id": company_id, "limit": 200}),
        )
        .await;
    let raw_contacts = w
        .raw_list(
            "/company/contacts",
            Query::new().conditions(format!("company/id = {company_id}")),
        )
        .await;
    assert_eq!(
        contacts["count"].as_u64().unwrap() as usize,
        raw_contacts.len().min(200)
    );
    let configurations = w
        .read(
            "cw_companies",
            "configurations",
            json!({"company_id": company_id, "limit": 200}),
        )
        .await;
    assert!(ids(&configurations["configurations"]).contains(&recurring.configuration_id));

    // Meta: connectors and the catalog.
    let status = w.read("cw_meta", "status", json!({})).await;
    assert_eq!(status["manage"]["reachable"], true);
    assert_eq!(status["connectors"].as_array().unwrap().len(), 4);
    let catalog = w.read("cw_meta", "catalog", json!({})).await;
    assert_eq!(catalog["tools"].as_array().unwrap().len(), 14);
    w.tenant.shutdown().await;
}

#[tokio::test]
async fn tables_help_and_bad_input_are_structured_and_send_nothing() {
    let w = world().await;
    let table = w
        .gate
        .dispatch(
            &human(),
            ToolCall {
                tool: "cw_tickets".into(),
                action: None,
                params: json!({}),
                confirm: false,
            },
        )
        .await;
    let ToolOutcome::Actions { actions, .. } = table else {
        panic!("{table:?}")
    };
    assert!(
        actions
            .iter()
            .any(|a| a.name == "get" && a.risk == Risk::Read)
    );
    assert!(
        actions
            .iter()
            .any(|a| a.name == "close" && a.hard_for_agent)
    );

    let help = w
        .run(&human(), "cw_tickets", "help", json!({"for": "update"}))
        .await;
    let ToolOutcome::Help(help) = help else {
        panic!("{help:?}")
    };
    assert_eq!(help.info.risk, Risk::Write);
    assert!(help.schema["properties"]["priority_id"]["description"].is_string());
    assert_eq!(help.example["action"], "update");

    w.tenant.clear_journal();
    let cases = [
        ("cw_nope", "list", json!({}), "unknown_tool"),
        ("cw_tickets", "explode", json!({}), "unknown_action"),
        (
            "cw_tickets",
            "get",
            json!({"id": "forty"}),
            "invalid_params",
        ),
        (
            "cw_tickets",
            "update",
            json!({"id": 1, "priority": 2}),
            "invalid_params",
        ),
        ("cw_tickets", "update", json!({"id": 1}), "invalid_params"),
        (
            "cw_time",
            "add",
            json!({"ticket_id": 1, "member": "x", "time_start": "yesterday", "hours": 1.0, "notes": "n"}),
            "invalid_params",
        ),
    ];
    for (tool, action, params, kind) in cases {
        let outcome = w
            .gate
            .dispatch(
                &human(),
                ToolCall::new(tool, action, params.clone()).confirmed(),
            )
            .await;
        let ToolOutcome::Error { error } = &outcome else {
            panic!("{tool}.{action} {params}: {outcome:?}")
        };
        assert_eq!(error.kind, kind, "{tool}.{action} {params}");
        assert!(!error.hint.is_empty());
    }
    assert!(
        w.tenant.journal().is_empty(),
        "bad input reached the sandbox"
    );
    // Invalid parameters are on record as denials.
    let denied = w
        .events()
        .iter()
        .filter(|e| {
            matches!(
                e.event,
                Event::ActionDenied {
                    reason: DenialReason::InvalidParams,
                    ..
                }
            )
        })
        .count();
    assert_eq!(denied, 4);
    w.tenant.shutdown().await;
}

#[tokio::test]
async fn a_write_without_confirm_sends_nothing_with_confirm_once_and_in_observe_never() {
    let w = world().await;
    let id = w.tenant.truth().untriaged[1].ticket_id;
    let params = json!({"id": id, "priority_id": 1});
    let priority_before = w.raw(&format!("/service/tickets/{id}")).await["priority"]["id"].clone();

    // No confirm: the exact request, and nothing reaches the sandbox.
    w.tenant.clear_journal();
    let preview = w
        .run(&human(), "cw_tickets", "update", params.clone())
        .await;
    let ToolOutcome::Preview { request, risk, .. } = &preview else {
        panic!("{preview:?}")
    };
    assert_eq!(*risk, Risk::Write);
    assert_eq!(request.method, "PATCH");
    assert_eq!(request.path, format!("/service/tickets/{id}"));
    assert_eq!(
        request.body,
        Some(json!([{"op": "replace", "path": "/priority/id", "value": 1}]))
    );
    assert!(w.tenant.journal().is_empty(), "{:?}", w.tenant.journal());

    // Observe mode (the night agent in shadow): recorded, never sent.
    let recorded = w
        .confirm(
            &agent(Mode::Observe),
            "cw_tickets",
            "update",
            params.clone(),
        )
        .await;
    let ToolOutcome::RecordedForReview {
        request: observed,
        effect,
        ..
    } = &recorded
    else {
        panic!("{recorded:?}")
    };
    assert_eq!(observed, request, "observe records the same exact request");
    // Confirmed plans carry before-values for the morning review.
    assert_eq!(
        effect.changes[0].before.as_ref().unwrap()["id"],
        priority_before
    );
    assert!(w.writes().is_empty(), "{:?}", w.writes());

    // Dry-run mode: a preview, even with confirm.
    let dry = w
        .confirm(&agent(Mode::DryRun), "cw_tickets", "update", params.clone())
        .await;
    assert_eq!(dry.status(), "preview");
    assert!(w.writes().is_empty());

    // Confirmed in enforce mode: executed once, and the sandbox holds the change.
    let executed = w
        .confirm(&human(), "cw_tickets", "update", params.clone())
        .await;
    let ToolOutcome::Executed { record, .. } = &executed else {
        panic!("{executed:?}")
    };
    assert_eq!(record.as_ref().unwrap().id, id.to_string());
    assert_eq!(
        w.writes(),
        vec![format!("PATCH /v4_6_release/apis/3.0/service/tickets/{id}")]
    );
    let stored = w.raw(&format!("/service/tickets/{id}")).await;
    assert_eq!(stored["priority"]["id"], 1);

    // The log tells the story in order, every step before the caller heard of it.
    let trail: Vec<(String, Option<Disposition>)> = w
        .events()
        .iter()
        .filter(|e| e.event_type().starts_with("Action") && e.event_type() != "ActionRead")
        .map(|e| {
            let d = match &e.event {
                Event::ActionProposed { disposition, .. } => Some(*disposition),
                _ => None,
            };
            (e.event_type().to_owned(), d)
        })
        .collect();
    assert_eq!(
        trail,
        vec![
            ("ActionProposed".into(), Some(Disposition::Previewed)),
            (
                "ActionProposed".into(),
                Some(Disposition::RecordedForReview)
            ),
            ("ActionProposed".into(), Some(Disposition::DryRun)),
            ("ActionProposed".into(), Some(Disposition::Accepted)),
            ("ActionExecuting".into(), None),
            ("ActionExecuted".into(), None),
        ]
    );
    // The observe proposal is pending review; the preview is not.
    let pending = w.store.projections().pending;
    assert_eq!(pending.len(), 1);

    // A board move without a status takes the new board's default open status, which
    // ConnectWise requires; the preview shows it (a lookup read, still no write).
    w.tenant.clear_journal();
    let moved = w
        .run(
            &human(),
            "cw_tickets",
            "update",
            json!({"id": id, "board_id": 2}),
        )
        .await;
    let ToolOutcome::Preview { request, .. } = &moved else {
        panic!("{moved:?}")
    };
    let ops = request.body.as_ref().unwrap().as_array().unwrap().clone();
    assert_eq!(ops[0]["path"], "/status/id");
    assert_eq!(
        ops[1],
        json!({"op": "replace", "path": "/board/id", "value": 2})
    );
    assert!(w.writes().is_empty());
    let moved = w
        .confirm(
            &human(),
            "cw_tickets",
            "update",
            json!({"id": id, "board_id": 2}),
        )
        .await;
    assert_eq!(moved.status(), "executed", "{moved:?}");
    let stored = w.raw(&format!("/service/tickets/{id}")).await;
    assert_eq!(stored["board"]["id"], 2);
    assert_eq!(stored["status"]["id"], ops[0]["value"]);
    w.tenant.shutdown().await;
}

#[tokio::test]
async fn notes_creates_time_and_close_plan_exact_requests_and_the_agent_hits_the_floor() {
    let w = world().await;
    let id = w.tenant.truth().untriaged[2].ticket_id;

    // An internal note, confirmed: one POST with the flags ConnectWise expects.
    w.tenant.clear_journal();
    let note = w
        .confirm(
            &human(),
            "cw_tickets",
            "add_note",
            json!({"id": id, "text": "Spooler restarted."}),
        )
        .await;
    let ToolOutcome::Executed { record, .. } = &note else {
        panic!("{note:?}")
    };
    assert_eq!(record.as_ref().unwrap().kind, "ticket_note");
    let posted = w
        .tenant
        .journal()
        .into_iter()
        .find(|e| e.method == "POST")
        .unwrap();
    let body: Value = serde_json::from_str(posted.body.as_deref().unwrap()).unwrap();
    assert_eq!(body["internalAnalysisFlag"], true);
    assert_eq!(body["detailDescriptionFlag"], false);
    let notes = w
        .raw_list(&format!("/service/tickets/{id}/notes"), Query::new())
        .await;
    assert!(notes.iter().any(|n| n["text"] == "Spooler restarted."));

    // A customer-visible note is hard for the night agent, write for a human.
    let visible = json!({"id": id, "text": "We fixed it.", "internal": false, "discussion": true});
    let queued = w
        .confirm(
            &agent(Mode::Enforce),
            "cw_tickets",
            "add_note",
            visible.clone(),
        )
        .await;
    let ToolOutcome::PendingApproval {
        effect,
        proposal_id,
        ..
    } = &queued
    else {
        panic!("{queued:?}")
    };
    assert_eq!(
        effect.customer_visible_text.as_deref(),
        Some("We fixed it.")
    );
    assert!(w.store.projections().pending.contains_key(proposal_id));
    let preview = w.run(&human(), "cw_tickets", "add_note", visible).await;
    let ToolOutcome::Preview { risk, .. } = preview else {
        panic!("{preview:?}")
    };
    assert_eq!(risk, Risk::Write);

    // Closing is hard for the night agent: queued, not sent.
    let before = w.writes().len();
    let close = w
        .confirm(
            &agent(Mode::Enforce),
            "cw_tickets",
            "close",
            json!({"id": id}),
        )
        .await;
    assert_eq!(close.status(), "pending_approval", "{close:?}");
    assert_eq!(w.writes().len(), before, "a hard action was sent");
    // A human closes it (confirmed): the board's closed status.
    let closed = w
        .confirm(&human(), "cw_tickets", "close", json!({"id": id}))
        .await;
    assert_eq!(closed.status(), "executed", "{closed:?}");
    let stored = w.raw(&format!("/service/tickets/{id}")).await;
    assert_eq!(stored["closedFlag"], true);

    // Create and assign.
    let company = w.tenant.truth().recurring_issue.company_id;
    let created = w
        .confirm(
            &human(),
            "cw_tickets",
            "create",
            json!({"company_id": company, "board_id": 1, "summary": "Scanner offline", "priority_id": 3}),
        )
        .await;
    let ToolOutcome::Executed { record, result, .. } = &created else {
        panic!("{created:?}")
    };
    let new_id: i64 = record.as_ref().unwrap().id.parse().unwrap();
    assert_eq!(result["summary"], "Scanner offline");
    let member = w.raw_list("/system/members", Query::new()).await[0].clone();
    let assigned = w
        .confirm(
            &human(),
            "cw_tickets",
            "assign",
            json!({"id": new_id, "member": member["identifier"]}),
        )
        .await;
    assert_eq!(assigned.status(), "executed", "{assigned:?}");
    let stored = w.raw(&format!("/service/tickets/{new_id}")).await;
    assert_eq!(stored["owner"]["id"], member["id"]);

    // Time: add then correct.
    let added = w
        .confirm(
            &human(),
            "cw_time",
            "add",
            json!({"ticket_id": new_id, "member": member["identifier"], "time_start": "2026-03-02T14:00:00Z", "hours": 0.5, "notes": "Power-cycled the scanner."}),
        )
        .await;
    let ToolOutcome::Executed { record, .. } = &added else {
        panic!("{added:?}")
    };
    let entry: i64 = record.as_ref().unwrap().id.parse().unwrap();
    let stored = w.raw(&format!("/time/entries/{entry}")).await;
    assert_eq!(stored["actualHours"].as_f64(), Some(0.5));
    let fixed = w
        .confirm(
            &human(),
            "cw_time",
            "update",
            json!({"id": entry, "billable": "NoCharge"}),
        )
        .await;
    let ToolOutcome::Executed { .. } = fixed else {
        panic!("{fixed:?}")
    };
    let stored = w.raw(&format!("/time/entries/{entry}")).await;
    assert_eq!(stored["billableOption"], "NoCharge");
    w.tenant.shutdown().await;
}

#[tokio::test]
async fn configuration_only_raises_risk_and_skills_keep_to_their_allowed_set() {
    // Stricter: an update needs a verdict, for humans too.
    let mut config = GateConfig::default();
    config
        .stricter
        .insert("cw_tickets.update".into(), Risk::Hard);
    let w = world_with(config).await;
    let id = w.tenant.truth().untriaged[0].ticket_id;
    let outcome = w
        .confirm(
            &human(),
            "cw_tickets",
            "update",
            json!({"id": id, "priority_id": 2}),
        )
        .await;
    assert_eq!(outcome.status(), "pending_approval", "{outcome:?}");
    assert!(w.writes().is_empty());

    // A skill may use only its allowed actions.
    let mut triage = agent(Mode::Enforce);
    triage.allowed = Some(BTreeSet::from(["cw_tickets.get".to_owned()]));
    let denied = w.run(&triage, "cw_tickets", "list", json!({})).await;
    let ToolOutcome::Denied { reason, .. } = denied else {
        panic!("{denied:?}")
    };
    assert_eq!(reason, DenialReason::NotAllowed);
    let allowed = w.run(&triage, "cw_tickets", "get", json!({"id": id})).await;
    assert_eq!(allowed.status(), "ok");
    // The agent's events carry its run.
    let last = w.events().pop().unwrap();
    assert_eq!(last.run_id.as_deref(), Some("r-test"));
    w.tenant.shutdown().await;

    // Lowering is refused at start, and so is a name that is not an action.
    let refuse = |name: &str, risk: Risk| {
        let mut c = GateConfig::default();
        c.stricter.insert(name.into(), risk);
        c
    };
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = Store::open(
        &dir.path().join("l"),
        &dir.path().join("c.json"),
        Options::default(),
    )
    .unwrap();
    let ctx = Arc::new(Context::new(
        Err(daemon::connector::Error::NotConfigured {
            product: daemon::connector::Product::Manage,
            problem: "test".into(),
        }),
        Vec::new(),
        chrono::NaiveDate::from_ymd_opt(2026, 3, 2).unwrap(),
    ));
    let r = Arc::new(Redactor::default());
    let looser = Gate::new(
        store.clone(),
        Arc::clone(&ctx),
        Arc::clone(&r),
        refuse("cw_tickets.update", Risk::Read),
    );
    assert!(
        matches!(looser, Err(GateError::Looser { .. })),
        "{looser:?}"
    );
    let unknown = Gate::new(
        store.clone(),
        ctx,
        r,
        refuse("cw_tickets.explode", Risk::Hard),
    );
    assert!(
        matches!(unknown, Err(GateError::UnknownAction { .. })),
        "{unknown:?}"
    );
    store.close().await;
}

#[tokio::test]
async fn faults_are_structured_and_no_write_is_sent_twice() {
    let w = world().await;
    let id = w.tenant.truth().untriaged[0].ticket_id;
    let add = |spec: &str| {
        w.tenant
            .add_faults(sandbox::faults::parse_spec(spec).unwrap())
    };

    // 429 with Retry-After on a read: honoured, retried, answered.
    add(&format!("GET */service/tickets/{id}=429:1,times=1"));
    w.tenant.clear_journal();
    let started = std::time::Instant::now();
    let ok = w
        .run(&human(), "cw_tickets", "get", json!({"id": id}))
        .await;
    assert_eq!(ok.status(), "ok", "{ok:?}");
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "Retry-After not honoured"
    );
    assert_eq!(w.tenant.journal().len(), 2);

    // A 429 that does not clear: rate_limited with the wait and a do-not-loop hint.
    w.tenant.clear_faults();
    add(&format!("GET */service/tickets/{id}=429:2"));
    let limited = w
        .run(&human(), "cw_tickets", "get", json!({"id": id}))
        .await;
    let ToolOutcome::Error { error } = limited else {
        panic!("{limited:?}")
    };
    assert_eq!(error.kind, "rate_limited");
    assert_eq!(error.retry_after_seconds, Some(2));
    assert!(error.hint.contains("Do not retry"), "{}", error.hint);

    // 5xx on a read: retried; on a write: sent once, structured error, on record as failed.
    w.tenant.clear_faults();
    add(&format!("GET */service/tickets/{id}=503,times=2"));
    w.tenant.clear_journal();
    let ok = w
        .run(&human(), "cw_tickets", "get", json!({"id": id}))
        .await;
    assert_eq!(ok.status(), "ok", "{ok:?}");
    assert_eq!(w.tenant.journal().len(), 3, "a GET is retried");
    w.tenant.clear_faults();
    add(&format!("PATCH */service/tickets/{id}=503"));
    add(&format!("POST */service/tickets/{id}/notes=500"));
    w.tenant.clear_journal();
    let failed = w
        .confirm(
            &human(),
            "cw_tickets",
            "update",
            json!({"id": id, "priority_id": 2}),
        )
        .await;
    let ToolOutcome::Error { error } = failed else {
        panic!("{failed:?}")
    };
    assert_eq!(error.kind, "upstream_unavailable");
    assert_eq!(error.status, Some(503));
    let failed = w
        .confirm(
            &human(),
            "cw_tickets",
            "add_note",
            json!({"id": id, "text": "x"}),
        )
        .await;
    assert_eq!(failed.status(), "error");
    assert_eq!(
        w.writes(),
        vec![
            format!("PATCH /v4_6_release/apis/3.0/service/tickets/{id}"),
            format!("POST /v4_6_release/apis/3.0/service/tickets/{id}/notes"),
        ],
        "a write was sent twice"
    );
    let failures = w
        .events()
        .iter()
        .filter(|e| matches!(&e.event, Event::ActionFailed { error, .. } if error == "upstream_unavailable"))
        .count();
    assert_eq!(failures, 2);

    // A timeout: reads retried, writes not; both structured.
    w.tenant.clear_faults();
    add(&format!("GET */service/tickets/{id}=hang,times=1"));
    add(&format!("PATCH */service/tickets/{id}=hang"));
    w.tenant.clear_journal();
    let ok = w
        .run(&human(), "cw_tickets", "get", json!({"id": id}))
        .await;
    assert_eq!(ok.status(), "ok", "a hung GET is retried: {ok:?}");
    let timed_out = w
        .confirm(
            &human(),
            "cw_tickets",
            "update",
            json!({"id": id, "priority_id": 4}),
        )
        .await;
    let ToolOutcome::Error { error } = timed_out else {
        panic!("{timed_out:?}")
    };
    assert_eq!(error.kind, "timeout");
    assert_eq!(w.writes().len(), 1, "{:?}", w.writes());

    // A fan-out past the budget is refused before it starts.
    w.tenant.clear_faults();
    drop(w);
    let tight = GateConfig {
        max_upstream_calls: 5,
        ..GateConfig::default()
    };
    let w = world_with(tight).await;
    w.tenant.clear_journal();
    let refused = w.run(&human(), "cw_tickets", "taxonomy", json!({})).await;
    let ToolOutcome::Error { error } = refused else {
        panic!("{refused:?}")
    };
    assert_eq!(error.kind, "over_budget");
    assert!(
        w.tenant.journal().len() <= 2,
        "only the board and priority lists were read"
    );
    w.tenant.shutdown().await;
}

#[tokio::test]
async fn the_raw_api_reads_freely_gates_writes_and_holds_deletes_and_blocked_paths_for_a_verdict() {
    let w = world().await;
    let id = w.tenant.truth().untriaged[0].ticket_id;
    // Raw reads: the record as ConnectWise sends it, and collections with conditions.
    let raw = w
        .read(
            "cw_api",
            "get",
            json!({"path": format!("/service/tickets/{id}")}),
        )
        .await;
    assert_eq!(raw["result"]["id"], id);
    assert!(raw["result"]["_info"].is_object(), "raw, not compact");
    let open = w
        .read(
            "cw_api",
            "get",
            json!({"path": "/service/tickets", "conditions": "closedFlag = false", "fields": ["id", "closedFlag"], "limit": 5}),
        )
        .await;
    let rows = open["result"].as_array().unwrap();
    assert_eq!(rows.len(), 5);
    assert!(rows.iter().all(|r| r["closedFlag"] == false));

    // A raw write: a preview, then sent once with confirm.
    w.tenant.clear_journal();
    let note = json!({"method": "POST", "path": format!("/service/tickets/{id}/notes"),
        "body": {"text": "Raw note.", "internalAnalysisFlag": true}});
    let preview = w.run(&human(), "cw_api", "write", note.clone()).await;
    let ToolOutcome::Preview { risk, request, .. } = &preview else {
        panic!("{preview:?}")
    };
    assert_eq!(*risk, Risk::Write);
    assert_eq!(request.method, "POST");
    assert!(w.tenant.journal().is_empty());
    let sent = w.confirm(&human(), "cw_api", "write", note).await;
    assert_eq!(sent.status(), "executed", "{sent:?}");
    assert_eq!(w.writes().len(), 1);

    // A DELETE and a write to a blocked path are hard for everyone: queued, never sent.
    w.tenant.clear_journal();
    for (method, path, body) in [
        ("DELETE", format!("/service/tickets/{id}"), None),
        (
            "PATCH",
            "/system/members/1".to_owned(),
            Some(json!([{"op": "replace", "path": "/inactiveFlag", "value": true}])),
        ),
        (
            "POST",
            "/finance/taxCodes".to_owned(),
            Some(json!({"identifier": "X"})),
        ),
    ] {
        let mut params = json!({"method": method, "path": path});
        if let Some(b) = body {
            params["body"] = b;
        }
        let queued = w.confirm(&human(), "cw_api", "write", params.clone()).await;
        assert_eq!(queued.status(), "pending_approval", "{params}: {queued:?}");
    }
    assert!(w.tenant.journal().is_empty(), "{:?}", w.tenant.journal());

    // Paths that could leave the API root are refused before anything else.
    for path in [
        "/service/../system/members",
        "service/tickets",
        "/service/tickets?pageSize=1000",
    ] {
        let out = w
            .run(&human(), "cw_api", "get", json!({"path": path}))
            .await;
        let ToolOutcome::Error { error } = out else {
            panic!("{path}: {out:?}")
        };
        assert_eq!(error.kind, "invalid_params", "{path}");
    }
    assert!(w.tenant.journal().is_empty());
    w.tenant.shutdown().await;
}

#[tokio::test]
async fn agreements_expiring_and_utilization_match_what_the_sandbox_planted() {
    let w = world().await;
    let truth = w.tenant.truth().clone();
    let expiring = w
        .read("cw_agreements", "expiring", json!({"days": 90}))
        .await;
    let found: Vec<(i64, i64, i64)> = expiring["expiring"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["agreement_id"].as_i64().unwrap(),
                e["days_left"].as_i64().unwrap(),
                e["window_days"].as_i64().unwrap(),
            )
        })
        .collect();
    let mut planted: Vec<(i64, i64, i64)> = truth
        .agreements
        .expiring
        .iter()
        .map(|e| (e.agreement_id, e.days_left, e.window_days))
        .collect();
    planted.sort_by_key(|p| p.1);
    assert!(!planted.is_empty());
    assert_eq!(found, planted);

    let used = w
        .read(
            "cw_agreements",
            "utilization",
            json!({"from": truth.time.window_start, "to": truth.time.window_end}),
        )
        .await;
    assert_eq!(used["truncated"], false);
    let classes: std::collections::BTreeMap<i64, String> = used["agreements"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| {
            (
                u["agreement_id"].as_i64().unwrap(),
                u["class"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let expected: std::collections::BTreeMap<i64, String> = truth
        .agreements
        .utilization
        .iter()
        .map(|u| (u.agreement_id, u.class.clone()))
        .collect();
    assert!(expected.values().any(|c| c == "over") && expected.values().any(|c| c == "under"));
    assert_eq!(classes, expected);

    // One agreement with its additions, and the active list of its company.
    let first = &truth.agreements.expiring[0];
    let one = w
        .read("cw_agreements", "get", json!({"id": first.agreement_id}))
        .await;
    assert_eq!(one["agreement"]["id"], first.agreement_id);
    let raw_additions = w
        .raw_list(
            &format!("/finance/agreements/{}/additions", first.agreement_id),
            Query::new(),
        )
        .await;
    assert_eq!(
        one["additions"].as_array().unwrap().len(),
        raw_additions.len()
    );
    let listed = w
        .read(
            "cw_agreements",
            "list",
            json!({"company_id": first.company_id, "limit": 200}),
        )
        .await;
    assert!(ids(&listed["agreements"]).contains(&first.agreement_id));
    let bad = w
        .run(
            &human(),
            "cw_agreements",
            "utilization",
            json!({"from": "March"}),
        )
        .await;
    assert_eq!(bad.status(), "error");
    w.tenant.shutdown().await;
}

#[tokio::test]
async fn weekly_validation_finds_every_planted_time_anomaly_and_nothing_else() {
    let w = world().await;
    let truth = w.tenant.truth().time.clone();
    let out = w
        .read(
            "cw_time",
            "weekly_validation",
            json!({"from": truth.window_start, "to": truth.window_end}),
        )
        .await;
    assert_eq!(out["truncated"], false);
    type Key = (String, i64, String, Vec<i64>);
    let found: BTreeSet<Key> = out["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            let rule = f["rule"].as_str().unwrap().to_owned();
            if rule.starts_with("agreement_") && rule.ends_with("_utilized") {
                let id = f["agreement_id"].as_i64().unwrap();
                return (rule, id, String::new(), vec![]);
            }
            let missing = rule == "missing_day";
            let mut ids: Vec<i64> = f["entry_ids"]
                .as_array()
                .unwrap()
                .iter()
                .map(|i| i.as_i64().unwrap())
                .collect();
            ids.sort_unstable();
            (
                rule,
                if missing {
                    f["member_id"].as_i64().unwrap()
                } else {
                    0
                },
                if missing {
                    f["date"].as_str().unwrap().to_owned()
                } else {
                    String::new()
                },
                ids,
            )
        })
        .collect();
    let sorted = |ids: &[i64]| {
        let mut v = ids.to_vec();
        v.sort_unstable();
        v
    };
    let mut expected: BTreeSet<Key> = BTreeSet::new();
    for m in &truth.missing_days {
        expected.insert(("missing_day".into(), m.member_id, m.date.clone(), vec![]));
    }
    for g in &truth.overlapping {
        expected.insert(("overlap".into(), 0, String::new(), sorted(&g.entry_ids)));
    }
    for g in &truth.duplicates {
        expected.insert(("duplicate".into(), 0, String::new(), sorted(&g.entry_ids)));
    }
    for id in &truth.noteless {
        expected.insert(("empty_note".into(), 0, String::new(), vec![*id]));
    }
    for b in &truth.billable_mismatches {
        expected.insert((
            "billable_mismatch".into(),
            0,
            String::new(),
            vec![b.entry_id],
        ));
    }
    for c in &truth.on_closed_tickets {
        expected.insert((
            "time_on_closed_ticket".into(),
            0,
            String::new(),
            vec![c.entry_id],
        ));
    }
    for (rule, id) in truth
        .in_closed_periods
        .iter()
        .map(|p| ("outside_open_period", p.entry_id))
        .chain(
            truth
                .agreement_billable_mismatches
                .iter()
                .map(|b| ("agreement_billable_mismatch", b.entry_id)),
        )
        .chain(
            truth
                .on_closed_projects
                .iter()
                .map(|c| ("time_on_closed_project", c.entry_id)),
        )
    {
        expected.insert((rule.into(), 0, String::new(), vec![id]));
    }
    for u in &w.tenant.truth().agreements.utilization {
        if u.class != "normal" {
            expected.insert((
                format!("agreement_{}_utilized", u.class),
                u.agreement_id,
                String::new(),
                vec![],
            ));
        }
    }
    let missed: Vec<&Key> = expected.difference(&found).collect();
    let extra: Vec<&Key> = found.difference(&expected).collect();
    assert!(missed.is_empty(), "planted but not found: {missed:?}");
    assert!(extra.is_empty(), "found but not planted: {extra:?}");
    // Every finding says what to do about it.
    assert!(
        out["findings"]
            .as_array()
            .unwrap()
            .iter()
            .all(|f| !f["proposed_fix"].as_str().unwrap().is_empty())
    );
    w.tenant.shutdown().await;
}

#[tokio::test]
async fn my_week_adds_up_a_members_week_day_by_day() {
    let w = world().await;
    let truth = w.tenant.truth().time.clone();
    let member_id = truth.duplicates[0].member_id;
    let member = w.raw(&format!("/system/members/{member_id}")).await;
    let identifier = member["identifier"].as_str().unwrap();
    let week = w
        .read(
            "cw_time",
            "my_week",
            json!({"member": identifier, "week_of": truth.duplicates[0].date}),
        )
        .await;
    let from = week["week"]["from"].as_str().unwrap().to_owned();
    let monday: chrono::NaiveDate = from.parse().unwrap();
    assert_eq!(monday.format("%A").to_string(), "Monday");
    let to = week["week"]["to"].as_str().unwrap();
    let raw = w
        .raw_list(
            "/time/entries",
            Query::new().conditions(format!(
                "member/id = {member_id} and timeStart >= [{from}T00:00:00Z] and timeStart < [{}T00:00:00Z]",
                monday + chrono::Duration::days(7)
            )),
        )
        .await;
    let hours: f64 = raw.iter().filter_map(|e| e["actualHours"].as_f64()).sum();
    assert!(!raw.is_empty());
    assert!((week["hours"].as_f64().unwrap() - (hours * 100.0).round() / 100.0).abs() < 1e-9);
    assert_eq!(week["entries"].as_array().unwrap().len(), raw.len());
    let per_day: f64 = week["days"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["hours"].as_f64().unwrap())
        .sum();
    assert!(
        (per_day - week["hours"].as_f64().unwrap()).abs() < 0.05,
        "{per_day} vs {}",
        week["hours"]
    );
    assert_eq!(week["days"].as_array().unwrap().len(), 7);
    assert!(to > from.as_str());
    w.tenant.shutdown().await;
}
