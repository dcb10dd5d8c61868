//! The night shift over the sandbox tenant with a scripted OpenAI-compatible model: the loop's
//! mechanics (tool calls, malformed arguments, repeats, calls written in the text, an error
//! inside an HTTP 200 stream, a hang, an unreachable model), budgets, modes (observe sends
//! nothing; enforce executes allowed writes and queues hard ones), and one run at a time.
#![allow(clippy::unwrap_used, reason = "test helpers abort on any failure")]

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use agent::model::ModelConfig;
use agent::scripted::{Script, ScriptedModel, feedback, ticket_of, turn};
use daemon::log::Store;
use daemon::night::{Night, RunError};
use schemas::config::{Config, SkillConfig};
use schemas::event::{Envelope, Event, ItemOutcome, Mode, RunOutcome, RunTrigger};
use serde_json::{Value, json};

const TRIAGE: &str = "msp-night-triage";

mod support;

struct World {
    base: support::World,
    night: Night,
    model: Option<ScriptedModel>,
}

type Respond = Box<dyn Fn(&Value) -> Script + Send + Sync>;

async fn world(mode: Mode, tweak: impl FnOnce(&mut Config), respond: Option<Respond>) -> World {
    let w = support::world().await;
    let mut config = Config::default();
    config.agent.max_items = 5;
    config.skills.insert(
        TRIAGE.into(),
        SkillConfig {
            mode: Some(mode),
            ..SkillConfig::default()
        },
    );
    tweak(&mut config);
    let model = match respond {
        Some(r) => Some(ScriptedModel::start(r).await),
        None => None,
    };
    let model_config = model.as_ref().map(|m| ModelConfig {
        url: m.url().to_owned(),
        model: "scripted".into(),
        ..ModelConfig::default()
    });
    World {
        night: support::night(&w.gate, config, model_config),
        model,
        base: w,
    }
}

fn events(store: &Store) -> Vec<Envelope> {
    store
        .range(0, store.len())
        .collect::<Result<_, _>>()
        .unwrap()
}

fn writes(tenant: &sandbox::Running) -> Vec<String> {
    tenant
        .journal()
        .into_iter()
        .filter(|e| e.method != "GET")
        .map(|e| format!("{} {}", e.method, e.path))
        .collect()
}

fn item_finished(store: &Store) -> BTreeMap<String, (ItemOutcome, Option<String>, Vec<String>)> {
    events(store)
        .into_iter()
        .filter_map(|e| match e.event {
            Event::ItemFinished {
                item_id,
                outcome,
                reason,
                calls,
                ..
            } => Some((
                item_id,
                (
                    outcome,
                    reason,
                    calls
                        .into_iter()
                        .map(|c| format!("{}:{}", c.function, c.status))
                        .collect(),
                ),
            )),
            _ => None,
        })
        .collect()
}

/// Update the priority and leave a note, then close: a well-behaved dispatcher.
fn dispatcher(discussion: bool) -> Respond {
    Box::new(move |req: &Value| {
        let id = ticket_of(req).unwrap();
        if turn(req) == 0 {
            Script::Calls(vec![
                (
                    "tickets_update".into(),
                    json!({"id": id, "priority_id": 2}).to_string(),
                ),
                (
                    "tickets_add_note".into(),
                    json!({"id": id, "text": "Likely a mapped-drive permission; check the group.",
                           "internal": !discussion, "discussion": discussion})
                    .to_string(),
                ),
            ])
        } else {
            Script::Text(format!("#{id}: priority 2, note left."))
        }
    })
}

#[tokio::test]
async fn observe_runs_every_item_records_every_change_and_sends_nothing() {
    let w = world(Mode::Observe, |_| {}, Some(dispatcher(false))).await;
    w.base.tenant.clear_journal();
    let summary = w.night.run(TRIAGE, RunTrigger::Manual, None).await.unwrap();
    assert_eq!(summary.outcome, RunOutcome::Completed, "{summary:?}");
    assert_eq!(summary.mode, Mode::Observe);
    assert_eq!(summary.items_done, 5);
    assert!(summary.tokens.prompt > 0);
    assert_eq!(
        writes(&w.base.tenant),
        Vec::<String>::new(),
        "observe sends no write"
    );

    let log = events(&w.base.store);
    let started = log
        .iter()
        .find_map(|e| match &e.event {
            Event::RunStarted { mode, model, .. } => Some((*mode, model.clone())),
            _ => None,
        })
        .unwrap();
    assert_eq!(started, (Mode::Observe, "scripted".to_string()));
    let recorded = log
        .iter()
        .filter(|e| {
            matches!(&e.event, Event::ActionProposed { disposition, .. }
                if format!("{disposition:?}").contains("Recorded"))
        })
        .count();
    assert_eq!(
        recorded, 10,
        "an update and a note per item, each recorded for review"
    );
    for (item, (outcome, _, calls)) in item_finished(&w.base.store) {
        assert_eq!(outcome, ItemOutcome::Done, "{item}");
        assert_eq!(
            calls,
            [
                "tickets_update:recorded_for_review",
                "tickets_add_note:recorded_for_review"
            ]
        );
    }
    // Every event of the run carries its run id and the skill principal.
    assert!(
        log.iter()
            .filter(|e| matches!(e.event, Event::ActionProposed { .. }))
            .all(|e| e.run_id.as_deref() == Some(summary.run_id.as_str()))
    );

    // What the model was sent: max_tokens always, and only the skill's functions.
    let requests = w.model.as_ref().unwrap().requests();
    assert_eq!(requests.len(), 10, "two turns per item");
    for r in &requests {
        assert!(r["max_tokens"].as_u64().is_some_and(|t| t > 0));
        let mut names: Vec<&str> = r["tools"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["function"]["name"].as_str().unwrap())
            .collect();
        names.sort();
        assert_eq!(
            names,
            [
                "companies_get",
                "tickets_add_note",
                "tickets_get",
                "tickets_notes",
                "tickets_similar",
                "tickets_update"
            ]
        );
        // Triage may not set a status; the priorities are the tenant's own.
        let update = r["tools"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["function"]["name"] == "tickets_update")
            .unwrap();
        let props = &update["function"]["parameters"]["properties"];
        assert!(props.get("status_id").is_none());
        // The same functions and system prompt for every item, so a server's prompt cache
        // keeps them.
        assert_eq!(r["tools"], requests[0]["tools"]);
        assert_eq!(r["messages"][0], requests[0]["messages"][0]);
        assert!(
            props["priority_id"]["enum"]
                .as_array()
                .is_some_and(|e| !e.is_empty())
        );
    }
}

#[tokio::test]
async fn enforce_executes_allowed_writes_and_queues_hard_ones() {
    // A customer-visible (discussion) note is hard for the night agent.
    let w = world(Mode::Enforce, |_| {}, Some(dispatcher(true))).await;
    w.base.tenant.clear_journal();
    let summary = w.night.run(TRIAGE, RunTrigger::Manual, None).await.unwrap();
    assert_eq!(summary.outcome, RunOutcome::Completed, "{summary:?}");
    let sent = writes(&w.base.tenant);
    assert_eq!(sent.len(), 5, "one PATCH per ticket: {sent:?}");
    assert!(
        sent.iter()
            .all(|s| s.starts_with("PATCH ") && s.contains("/service/tickets/"))
    );
    for (_, (_, _, calls)) in item_finished(&w.base.store) {
        assert_eq!(
            calls,
            [
                "tickets_update:executed",
                "tickets_add_note:pending_approval"
            ]
        );
    }
    let pending = w.base.store.projections().pending;
    assert_eq!(pending.len(), 5, "every hard note waits for a human");
    assert!(
        pending
            .values()
            .all(|p| p.action == "add_note" && p.run_id.is_some())
    );
}

#[tokio::test]
async fn the_loop_survives_what_small_models_and_local_servers_do() {
    let tenant_ids = Arc::new(Mutex::new(Vec::<i64>::new()));
    let ids = Arc::clone(&tenant_ids);
    let respond: Respond = Box::new(move |req: &Value| {
        let id = ticket_of(req).unwrap();
        // Items are worked one after another: a ticket's rank is the order it first appeared.
        let rank = {
            let mut seen = ids.lock().unwrap();
            match seen.iter().position(|t| *t == id) {
                Some(r) => r,
                None => {
                    seen.push(id);
                    seen.len() - 1
                }
            }
        };
        let update = |extra: Value| {
            let mut args = json!({"id": id, "priority_id": 3});
            if let (Some(a), Some(e)) = (args.as_object_mut(), extra.as_object()) {
                a.extend(e.clone());
            }
            ("tickets_update".to_string(), args.to_string())
        };
        match (rank, turn(req)) {
            // 0: malformed JSON, then an unknown field and a string id, then right.
            (0, 0) => Script::Calls(vec![("tickets_update".into(), "{\"id\": ".into())]),
            (0, 1) => Script::Calls(vec![
                update(json!({"owner": 7})),
                (
                    "tickets_update".into(),
                    json!({"id": 1, "priority_id": 3}).to_string(),
                ),
            ]),
            (0, 2) => Script::Calls(vec![(
                "tickets_update".into(),
                json!({"id": id.to_string(), "priority_id": 3}).to_string(),
            )]),
            (0, _) => Script::Text("done".into()),
            // 1: the same call again and again.
            (1, _) => Script::Calls(vec![update(json!({}))]),
            // 2: the call written as fenced JSON in the text (no native tool call).
            (2, 0) => Script::Text(format!(
                "I will set the priority.\n```json\n{{\"name\": \"tickets_update\", \"arguments\": {{\"id\": {id}, \"priority_id\": 3}}}}\n```"
            )),
            (2, _) => Script::Text("Priority set.".into()),
            // 3: HTTP 200, then an error inside the stream.
            (3, _) => Script::StreamError("failed to parse tool call".into()),
            // 4: never answers.
            _ => Script::Hang,
        }
    });
    let w = world(
        Mode::Observe,
        |c| c.agent.seconds_per_item = 3,
        Some(respond),
    )
    .await;
    let summary = w.night.run(TRIAGE, RunTrigger::Manual, None).await.unwrap();
    let untriaged = tenant_ids.lock().unwrap().clone();
    assert_eq!(untriaged.len(), 5);
    let items = item_finished(&w.base.store);
    let item = |rank: usize| &items[&format!("ticket:{}", untriaged[rank])];

    // 0: the bad calls were refused before sending and explained; the last went through.
    assert_eq!(item(0).0, ItemOutcome::Done);
    assert_eq!(
        item(0).2,
        [
            "tickets_update:invalid",
            "tickets_update:invalid",
            "tickets_update:invalid",
            "tickets_update:recorded_for_review"
        ]
    );
    let requests = w.model.as_ref().unwrap().requests();
    let of = |rank: usize, turn_no: usize| {
        requests
            .iter()
            .find(|r| ticket_of(r).unwrap() == untriaged[rank] && turn(r) == turn_no)
            .map(feedback)
            .unwrap_or_default()
    };
    assert!(of(0, 1).contains("not valid JSON"), "{}", of(0, 1));
    assert!(of(0, 2).contains("unknown field `owner`"), "{}", of(0, 2));
    // Another ticket than the item's is refused before anything is sent.
    assert!(of(0, 2).contains("1 is not this item's"), "{}", of(0, 2));
    // The string "id" was coerced to the integer the schema asks for.
    let proposed: Vec<Value> = events(&w.base.store)
        .into_iter()
        .filter_map(|e| match e.event {
            Event::ActionProposed { params, .. } => Some(params),
            _ => None,
        })
        .collect();
    assert!(proposed.contains(&json!({"id": untriaged[0], "priority_id": 3})));

    // 1: sent once; the repeats were answered from memory, then the item was ended.
    assert_eq!(
        item(1).2,
        [
            "tickets_update:recorded_for_review",
            "tickets_update:duplicate",
            "tickets_update:duplicate"
        ]
    );
    assert_eq!(item(1).1.as_deref(), Some("loop: repeated identical calls"));
    assert!(of(1, 2).contains("You already made exactly this call"));

    // 2: recovered from the text.
    assert_eq!(item(2).2, ["tickets_update:recorded_for_review"]);
    assert_eq!(item(2).0, ItemOutcome::Done);

    // 3: the stream error is the item's failure, with the server's words.
    assert_eq!(item(3).0, ItemOutcome::Failed);
    assert!(
        item(3)
            .1
            .as_deref()
            .unwrap()
            .contains("failed to parse tool call"),
        "{:?}",
        item(3)
    );

    // 4: the hang ends at the item's wall-time budget.
    assert_eq!(item(4).0, ItemOutcome::Failed);
    assert!(
        item(4)
            .1
            .as_deref()
            .unwrap()
            .contains("did not answer within"),
        "{:?}",
        item(4)
    );

    // Two model failures in a row stop the run, with the reason recorded.
    assert_eq!(summary.outcome, RunOutcome::Stopped);
    assert!(
        summary
            .reason
            .as_deref()
            .unwrap()
            .contains("two items in a row"),
        "{summary:?}"
    );
    let finished = events(&w.base.store)
        .into_iter()
        .find_map(|e| match e.event {
            Event::RunFinished {
                reason, outcome, ..
            } => Some((outcome, reason)),
            _ => None,
        })
        .unwrap();
    assert_eq!(finished.0, RunOutcome::Stopped);
    assert_eq!(writes(&w.base.tenant), Vec::<String>::new());
}

#[tokio::test]
async fn budgets_hold_per_item_and_per_run() {
    // Always another read, never a closing line: the step budget ends each item.
    let respond: Respond = Box::new(|req: &Value| {
        let depth = if turn(req).is_multiple_of(2) {
            "summary"
        } else {
            "full"
        };
        Script::call(
            "tickets_get",
            json!({"id": ticket_of(req).unwrap(), "depth": depth}),
        )
    });
    let w = world(
        Mode::Observe,
        |c| {
            c.agent.steps_per_item = 2;
            c.agent.max_items = 2;
        },
        Some(respond),
    )
    .await;
    let summary = w.night.run(TRIAGE, RunTrigger::Manual, None).await.unwrap();
    assert_eq!(summary.items_failed, 2, "{summary:?}");
    for (_, (outcome, reason, calls)) in item_finished(&w.base.store) {
        assert_eq!(outcome, ItemOutcome::Failed);
        assert_eq!(
            reason.as_deref(),
            Some("budget: 2 steps used without a closing answer")
        );
        assert_eq!(calls, ["tickets_get:ok", "tickets_get:ok"]);
    }

    // A run's token budget stops the run between items.
    let w = world(
        Mode::Observe,
        |c| c.agent.tokens_per_run = 1,
        Some(dispatcher(false)),
    )
    .await;
    let summary = w.night.run(TRIAGE, RunTrigger::Manual, None).await.unwrap();
    assert_eq!(summary.outcome, RunOutcome::Stopped);
    assert_eq!(summary.items_done, 1, "{summary:?}");
    assert!(
        summary.reason.as_deref().unwrap().starts_with("budget:"),
        "{summary:?}"
    );
}

#[tokio::test]
async fn an_item_the_model_only_loops_on_is_skipped_not_done() {
    // The same read again and again, never a change: what the 0.5b model did to pre-billing
    // items in the demo. Nothing was worked, so the feed must not count the items as done.
    let respond: Respond =
        Box::new(|req: &Value| Script::call("tickets_get", json!({"id": ticket_of(req).unwrap()})));
    let w = world(Mode::Observe, |c| c.agent.max_items = 2, Some(respond)).await;
    let summary = w.night.run(TRIAGE, RunTrigger::Manual, None).await.unwrap();
    assert_eq!(
        (summary.items_done, summary.items_skipped),
        (0, 2),
        "{summary:?}"
    );
    for (_, (outcome, reason, calls)) in item_finished(&w.base.store) {
        assert_eq!(outcome, ItemOutcome::Skipped);
        assert_eq!(reason.as_deref(), Some("loop: repeated identical calls"));
        assert_eq!(
            calls,
            [
                "tickets_get:ok",
                "tickets_get:duplicate",
                "tickets_get:duplicate"
            ]
        );
    }
}

#[tokio::test]
async fn an_unreachable_or_missing_model_stops_the_run_with_the_reason() {
    // A port nothing listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut w = world(Mode::Observe, |_| {}, None).await;
    let summary = w.night.run(TRIAGE, RunTrigger::Manual, None).await.unwrap();
    assert_eq!(summary.outcome, RunOutcome::Stopped);
    assert!(
        summary
            .reason
            .as_deref()
            .unwrap()
            .contains("no model configured")
    );

    // The same gate and log, with a model URL that refuses connections.
    w.night = support::night(
        &w.base.gate,
        Config::default(),
        Some(ModelConfig {
            url: format!("http://127.0.0.1:{port}/v1"),
            model: "gone".into(),
            ..ModelConfig::default()
        }),
    );
    let summary = w.night.run(TRIAGE, RunTrigger::Manual, None).await.unwrap();
    assert_eq!(summary.outcome, RunOutcome::Stopped, "{summary:?}");
    let reason = summary.reason.unwrap();
    assert!(
        reason.contains("model unreachable") && reason.contains(&port.to_string()),
        "{reason}"
    );
    // The item that met the dead model is not recorded as finished: a resume would redo it.
    let stopped_runs = events(&w.base.store)
        .iter()
        .filter(|e| {
            matches!(
                &e.event,
                Event::RunFinished {
                    outcome: RunOutcome::Stopped,
                    ..
                }
            )
        })
        .count();
    assert_eq!(stopped_runs, 2);
}

#[tokio::test]
async fn one_run_of_a_skill_at_a_time_and_unknown_skills_are_named() {
    let respond: Respond = Box::new(|_| {
        Script::After(
            Duration::from_millis(1500),
            Box::new(Script::Text("ok".into())),
        )
    });
    let w = world(Mode::Observe, |c| c.agent.max_items = 1, Some(respond)).await;
    let (first, second) = tokio::join!(w.night.run(TRIAGE, RunTrigger::Manual, None), async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        w.night.run(TRIAGE, RunTrigger::Schedule, None).await
    });
    assert_eq!(first.unwrap().outcome, RunOutcome::Completed);
    assert!(
        matches!(second, Err(RunError::AlreadyRunning(ref s)) if s == TRIAGE),
        "{second:?}"
    );
    assert!(!w.night.is_running(TRIAGE));
    let err = w
        .night
        .run("msp-nope", RunTrigger::Manual, None)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("no skill `msp-nope`"));
}

#[tokio::test]
async fn dry_run_previews_every_change_and_the_mode_is_in_run_started() {
    let w = world(Mode::DryRun, |_| {}, Some(dispatcher(false))).await;
    w.base.tenant.clear_journal();
    let summary = w.night.run(TRIAGE, RunTrigger::Manual, None).await.unwrap();
    assert_eq!(summary.mode, Mode::DryRun);
    assert_eq!(writes(&w.base.tenant), Vec::<String>::new());
    for (_, (_, _, calls)) in item_finished(&w.base.store) {
        assert_eq!(
            calls,
            ["tickets_update:preview", "tickets_add_note:preview"]
        );
    }
    let mode = events(&w.base.store)
        .into_iter()
        .find_map(|e| match e.event {
            Event::RunStarted { mode, .. } => Some(mode),
            _ => None,
        });
    assert_eq!(mode, Some(Mode::DryRun));
}

#[tokio::test]
async fn a_signed_mode_change_wins_over_the_configured_mode() {
    // Configured observe; a ModeChanged (as `nightjarctl mode` records it once the verdict is
    // verified) flips the skill to enforce for the next run.
    let w = world(
        Mode::Observe,
        |c| c.agent.max_items = 1,
        Some(dispatcher(false)),
    )
    .await;
    w.base
        .store
        .append(daemon::log::Draft::new(
            schemas::event::Principal::Operator {
                key_id: Some("k1".into()),
            },
            Event::ModeChanged {
                skill: TRIAGE.into(),
                from: Mode::Observe,
                to: Mode::Enforce,
                key_id: "k1".into(),
                nonce: "n1".into(),
                signature: "00".into(),
            },
        ))
        .await
        .unwrap();
    w.base.tenant.clear_journal();
    let summary = w.night.run(TRIAGE, RunTrigger::Manual, None).await.unwrap();
    assert_eq!(summary.mode, Mode::Enforce);
    let sent = writes(&w.base.tenant);
    assert_eq!(
        sent.len(),
        2,
        "the update and the internal note executed: {sent:?}"
    );
    assert!(
        sent[0].starts_with("PATCH ") && sent[1].starts_with("POST "),
        "{sent:?}"
    );
}

#[tokio::test]
async fn the_feed_replays_the_night_the_same_way_every_time_anomalies_first() {
    use daemon::feed::{Filter, Format, fold, render};
    let w = world(
        Mode::Enforce,
        |c| c.agent.max_items = 2,
        Some(dispatcher(true)),
    )
    .await;
    let summary = w.night.run(TRIAGE, RunTrigger::Manual, None).await.unwrap();
    let log = events(&w.base.store);
    let report = w.base.store.verify_all().unwrap();
    let feed = fold(&log, Some(&report), &Filter::default());
    assert!(feed.anomalies.is_empty(), "{:?}", feed.anomalies);
    assert_eq!(feed.runs.len(), 1);
    let run = &feed.runs[0];
    assert_eq!(
        (run.skill.as_str(), run.mode, run.items.len()),
        (TRIAGE, Mode::Enforce, 2)
    );
    let states: Vec<&str> = run.proposals.iter().map(|p| p.state.as_str()).collect();
    assert_eq!(states, ["executed", "queued", "executed", "queued"]);
    assert_eq!(
        feed.pending.len(),
        2,
        "the customer-visible notes wait for a human"
    );
    assert!(
        feed.pending
            .iter()
            .all(|p| p.customer_visible_text.is_some())
    );
    let formats = [
        Format::Text {
            colour: false,
            width: 0,
        },
        Format::Text {
            colour: true,
            width: 100,
        },
        Format::Markdown,
        Format::Html,
        Format::Json,
    ];
    for f in formats {
        let once = render(&fold(&log, Some(&report), &Filter::default()), f);
        let again = render(&fold(&log, Some(&report), &Filter::default()), f);
        assert_eq!(once, again, "{f:?}");
        assert!(once.contains(&summary.run_id), "{f:?}");
    }
    let text = render(
        &feed,
        Format::Text {
            colour: false,
            width: 0,
        },
    );
    assert!(text.find("WAITING FOR A HUMAN").unwrap() < text.find("RUN msp-night-triage").unwrap());

    // Anomalies, made on purpose, head every format.
    w.base
        .store
        .append_system(Event::ActionOutcomeUnknown {
            call_id: "c-lost".into(),
            proposal_id: None,
            executing_seq: 3,
            reason: "the daemon stopped after the request was sent".into(),
        })
        .await
        .unwrap();
    w.base
        .store
        .append(
            daemon::log::Draft::new(
                schemas::event::Principal::Skill {
                    skill: TRIAGE.into(),
                    run_id: "r-cut".into(),
                },
                Event::RunStarted {
                    run_id: "r-cut".into(),
                    skill: TRIAGE.into(),
                    mode: Mode::Observe,
                    model: "m".into(),
                    budgets: Default::default(),
                    trigger: RunTrigger::Manual,
                    scheduled_for: None,
                    resumes: None,
                },
            )
            .with_run("r-cut"),
        )
        .await
        .unwrap();
    let log = events(&w.base.store);
    let feed = fold(
        &log,
        Some(&w.base.store.verify_all().unwrap()),
        &Filter::default(),
    );
    let kinds: Vec<&str> = feed.anomalies.iter().map(|a| a.kind.as_str()).collect();
    assert_eq!(kinds, ["outcome_unknown", "run_unfinished"]);
    let text = render(
        &feed,
        Format::Text {
            colour: false,
            width: 0,
        },
    );
    assert!(
        text.lines().nth(2).unwrap().starts_with("ANOMALIES (2)"),
        "{text}"
    );
    let md = render(&feed, Format::Markdown);
    assert!(md.find("## Anomalies").unwrap() < md.find("## msp-night-triage").unwrap());
    let page = render(&feed, Format::Html);
    assert!(page.find("id=\"anomalies\"").unwrap() < page.find("id=\"timeline\"").unwrap());
    let json: Value = serde_json::from_str(&render(&feed, Format::Json)).unwrap();
    assert_eq!(json["anomalies"][0]["kind"], "outcome_unknown");
    // One run alone.
    let only = fold(
        &log,
        None,
        &Filter {
            since: None,
            run: Some("r-cut".into()),
        },
    );
    assert_eq!(only.runs.len(), 1);
    assert_eq!(only.runs[0].run_id, "r-cut");
}

/// The first time entry a pre-billing item names: `"entry_ids": [N, ...]` in its data.
fn entry_of(req: &Value) -> Option<i64> {
    let user = req["messages"][1]["content"].as_str()?;
    user.split("\"entry_ids\": [").skip(1).find_map(|after| {
        after
            .trim_start()
            .split(|c: char| !c.is_ascii_digit())
            .next()?
            .parse()
            .ok()
    })
}

#[tokio::test]
async fn shadow_metrics_count_what_humans_did_after_an_observe_night() {
    use daemon::feed::{Filter, fold};
    // Triage proposes priority 2 for each of five tickets; pre-billing proposes "billable" for
    // the first entry it is shown. All in observe mode: nothing is sent.
    let w = world(
        Mode::Observe,
        |c| {
            c.agent.max_items = 5;
            c.skills.insert(
                "msp-weekly-prebilling".into(),
                SkillConfig {
                    mode: Some(Mode::Observe),
                    ..SkillConfig::default()
                },
            );
        },
        Some(Box::new(|req: &Value| {
            if turn(req) > 0 {
                return Script::Text("done".into());
            }
            if let Some(id) = ticket_of(req) {
                return Script::Calls(vec![(
                    "tickets_update".into(),
                    json!({"id": id, "priority_id": 2}).to_string(),
                )]);
            }
            match entry_of(req) {
                Some(entry) => Script::Calls(vec![(
                    "time_update".into(),
                    json!({"id": entry, "billable": "Billable"}).to_string(),
                )]),
                None => Script::Text("nothing to change".into()),
            }
        })),
    )
    .await;
    let slip = w.base.plant_billing_slip().await;
    let before_night = writes(&w.base.tenant).len();

    w.night.run(TRIAGE, RunTrigger::Manual, None).await.unwrap();
    w.night
        .run("msp-weekly-prebilling", RunTrigger::Manual, None)
        .await
        .unwrap();
    assert_eq!(
        writes(&w.base.tenant).len(),
        before_night,
        "observe sends nothing"
    );
    let proposed = |tool: &str| -> Vec<(i64, Value)> {
        events(&w.base.store)
            .into_iter()
            .filter(|e| matches!(e.principal, schemas::event::Principal::Skill { .. }))
            .filter_map(|e| match e.event {
                Event::ActionProposed {
                    tool: t,
                    params,
                    effect,
                    ..
                } if t == tool => Some((
                    params["id"].as_i64().unwrap(),
                    effect.changes[0].before.clone().unwrap(),
                )),
                _ => None,
            })
            .collect()
    };
    let tickets = proposed("cw_tickets");
    assert_eq!(tickets.len(), 5, "one proposal per ticket");
    let entries = proposed("cw_time");
    assert!(
        !entries.is_empty(),
        "pre-billing proposed a billing change: {:?}",
        item_finished(&w.base.store)
    );
    let (entry, entry_before) = entries[0].clone();
    assert_eq!((entry, entry_before), (slip, json!("DoNotBill")));

    // Nothing was touched yet: a refresh re-reads every record and observes nothing.
    let quiet = daemon::shadow::refresh(&w.base.gate, chrono::Utc::now())
        .await
        .unwrap();
    assert_eq!(
        (
            quiet.checked as usize,
            quiet.observed,
            quiet.untouched as usize
        ),
        (
            tickets.len() + entries.len(),
            0,
            tickets.len() + entries.len()
        )
    );

    // The team works the tickets in the morning: three as the agent proposed, one otherwise,
    // one not yet; and bills the entry the agent would have written off.
    for (i, (id, _)) in tickets.iter().take(4).enumerate() {
        let priority = if i < 3 { 2 } else { 4 };
        let out = w
            .base
            .call(
                "cw_tickets",
                "update",
                json!({"id": id, "priority_id": priority}),
                true,
            )
            .await;
        assert!(
            matches!(out, schemas::tool::ToolOutcome::Executed { .. }),
            "{out:?}"
        );
    }
    let out = w
        .base
        .call(
            "cw_time",
            "update",
            json!({"id": entry, "billable": "NoCharge"}),
            true,
        )
        .await;
    assert!(
        matches!(out, schemas::tool::ToolOutcome::Executed { .. }),
        "{out:?}"
    );

    let refreshed = daemon::shadow::refresh(&w.base.gate, chrono::Utc::now())
        .await
        .unwrap();
    assert_eq!(refreshed.observed, 5, "{refreshed:?}");
    assert_eq!(refreshed.fields, 5, "{refreshed:?}");
    assert_eq!(refreshed.untouched as usize, entries.len(), "{refreshed:?}");
    // Observed records are not re-read again.
    let again = daemon::shadow::refresh(&w.base.gate, chrono::Utc::now())
        .await
        .unwrap();
    assert_eq!((again.observed, again.fields), (0, 0));
    assert_eq!(again.checked as usize, entries.len());

    let feed = fold(
        &events(&w.base.store),
        Some(&w.base.store.verify_all().unwrap()),
        &Filter::default(),
    );
    let trust = |skill: &str| feed.trust.iter().find(|t| t.skill == skill).unwrap();
    let triage = trust(TRIAGE);
    // Would-have-changed: the tickets whose priority was not 2 already.
    let changes: Vec<bool> = tickets
        .iter()
        .take(4)
        .map(|(_, before)| before["id"] != json!(2))
        .collect();
    let confirmed = changes[..3].iter().filter(|c| **c).count() as u32;
    assert_eq!(
        (
            triage.recorded,
            triage.acted_on,
            triage.observations,
            triage.agreed
        ),
        (5, 4, 4, 3)
    );
    assert_eq!(triage.agreement_percent, Some(75.0));
    assert_eq!(triage.confirmed, confirmed);
    assert_eq!(triage.contradicted, u32::from(changes[3]));
    assert_eq!(triage.critical_total, 0);
    assert!(!triage.ready);
    assert_eq!(
        triage.unmet,
        [
            "4 observations of the 25 needed",
            "agreement 75.0% is under 90%"
        ]
    );
    assert_eq!(triage.classes[0].class, "cw_tickets.update");

    let billing = trust("msp-weekly-prebilling");
    assert_eq!((billing.observations, billing.agreed), (1, 0));
    assert_eq!(billing.contradicted, 1);
    assert_eq!(billing.critical_total, 1);
    assert_eq!(billing.recent_critical.len(), 1);
    assert_eq!(billing.recent_critical[0].field, "billableOption");
    assert_eq!(billing.recent_critical[0].observed, "NoCharge");
    assert!(
        billing
            .unmet
            .contains(&"1 critical miss in the last 7 days".to_owned())
    );

    // Configured criteria (recorded in ConfigLoaded) decide the flip: triage now qualifies, the
    // critical miss still holds pre-billing back.
    w.base
        .store
        .append_system(Event::ConfigLoaded {
            sources: vec![],
            digest: "d".into(),
            connectors: vec![],
            skill_modes: BTreeMap::new(),
            trust: Some(schemas::config::TrustCriteria {
                min_observations: 4,
                min_agreement_percent: 75,
                critical_window_days: 7,
            }),
        })
        .await
        .unwrap();
    let feed = fold(&events(&w.base.store), None, &Filter::default());
    let ready: Vec<(&str, bool)> = feed
        .trust
        .iter()
        .map(|t| (t.skill.as_str(), t.ready))
        .collect();
    assert_eq!(
        ready,
        [("msp-night-triage", true), ("msp-weekly-prebilling", false)]
    );
    // The daemon keeps the same tally live in its projections (and so in every snapshot), which
    // is what lets the feed skip the log before its window.
    let mut tally = schemas::projection::TrustTally::default();
    for e in &events(&w.base.store) {
        tally.apply(e);
    }
    assert_eq!(w.base.store.projections().trust, tally);
    assert_eq!(tally.skills[TRIAGE].acted_on.len(), 4);
}

#[tokio::test]
async fn with_the_shops_history_triage_is_one_grounded_decision_that_changes_only_its_fields() {
    let base = support::world_with_history().await;
    // The customer marked one new ticket urgent; the team's precedent says otherwise.
    let new = base
        .read(
            "cw_tickets",
            "list",
            json!({"status": "New", "unassigned": true, "limit": 200}),
        )
        .await;
    let first = new["tickets"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|t| t["id"].as_i64())
        .min()
        .unwrap();
    let out = base
        .call(
            "cw_tickets",
            "update",
            json!({"id": first, "priority_id": 1}),
            true,
        )
        .await;
    assert!(
        matches!(out, schemas::tool::ToolOutcome::Executed { .. }),
        "{out:?}"
    );
    let before_night = writes(&base.tenant).len();
    let requests: Arc<Mutex<Vec<Value>>> = Arc::default();
    let seen = requests.clone();
    let model = ScriptedModel::start(Box::new(move |req: &Value| {
        seen.lock().unwrap().push(req.clone());
        agent::scripted::follow_precedent(req)
    }))
    .await;
    let mut config = Config::default();
    config.agent.max_items = 3;
    let night = support::night(
        &base.gate,
        config,
        Some(ModelConfig {
            url: model.url().to_owned(),
            model: "scripted".into(),
            ..ModelConfig::default()
        }),
    );
    let summary = night.run(TRIAGE, RunTrigger::Manual, None).await.unwrap();
    assert_eq!(summary.items_done, 3, "{summary:?}");
    // One decision per item, constrained to the tenant's ids, with precedents in the prompt.
    let requests = requests.lock().unwrap().clone();
    assert_eq!(requests.len(), 3);
    for r in &requests {
        let schema = &r["response_format"]["json_schema"]["schema"];
        // One alternative per board: a type or subtype of another board cannot be decoded.
        let boards = schema["anyOf"].as_array().unwrap();
        assert!(boards.len() > 1);
        assert!(
            boards
                .iter()
                .all(|b| b["properties"]["board_id"]["const"].is_i64())
        );
        assert!(
            r["messages"][1]["content"]
                .as_str()
                .unwrap()
                .contains("\n1. #")
        );
    }
    let log = events(&base.store);
    let updates: Vec<&Value> = log
        .iter()
        .filter(|e| matches!(e.principal, schemas::event::Principal::Skill { .. }))
        .filter_map(|e| match &e.event {
            Event::ActionProposed { action, params, .. } if action == "update" => Some(params),
            _ => None,
        })
        .collect();
    assert_eq!(
        updates,
        [&json!({"id": first, "priority_id": 3})],
        "only the field that differs from the team's precedent"
    );
    assert!(
        !updates.is_empty(),
        "the decisions changed something: {:?}",
        item_finished(&base.store)
    );
    for params in updates {
        let keys: Vec<&String> = params.as_object().unwrap().keys().collect();
        assert!(
            keys.iter().all(
                |k| ["id", "board_id", "type_id", "subtype_id", "priority_id"]
                    .contains(&k.as_str())
            ),
            "an unasked field: {params}"
        );
    }
    let finished = item_finished(&base.store);
    assert!(finished.values().all(|(outcome, _, calls)| {
        *outcome == ItemOutcome::Done
            && calls
                .last()
                .is_some_and(|c| c == "tickets_add_note:recorded_for_review")
    }));
    assert_eq!(
        writes(&base.tenant).len(),
        before_night,
        "observe sends nothing"
    );
}
