//! The gate against the standalone sandbox tenant with the real binaries: a daemon killed between
//! `ActionExecuting` and the answer leaves the action `ActionOutcomeUnknown` after restart and
//! the write reached ConnectWise at most once (invariant 4); a write without `confirm` previews
//! the exact request and sends nothing, with `confirm` it is sent exactly once.
#![allow(clippy::unwrap_used, reason = "test helpers abort on any failure")]

use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use e2e::{Home, Sandbox, stderr, stdout};
use serde_json::{Value, json};

/// A fixed anchor date, so the seeded tenant (and its untriaged tickets) is the same every run.
const TODAY: &str = "2026-03-02";

/// Polls `probe` until it yields a value; panics with `what` after 30 s.
fn wait_for<T>(what: &str, mut probe: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(found) = probe() {
            return found;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The whole log as JSON envelopes (through the daemon when it runs, from disk otherwise).
fn events(home: &Home) -> Vec<Value> {
    let export = home.ctl(&["log", "export"]);
    assert_eq!(export.status.code(), Some(0), "{}", stderr(&export));
    stdout(&export)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn of_type<'a>(events: &'a [Value], event_type: &str) -> Vec<&'a Value> {
    events
        .iter()
        .filter(|e| e["event_type"] == event_type)
        .collect()
}

/// An open ticket nobody has touched: the first planted untriaged one.
fn open_ticket(sandbox: &Sandbox) -> i64 {
    let truth = sandbox.get_json("/__sandbox/truth");
    assert_eq!(truth["today"], TODAY, "--today anchors the data");
    truth["untriaged"][0]["ticket_id"].as_i64().unwrap()
}

/// The PATCHes of one ticket in the sandbox's journal (the GET of its before-values excluded).
fn patches(sandbox: &Sandbox, ticket: i64) -> Vec<Value> {
    let path = format!("/service/tickets/{ticket}");
    sandbox
        .journal()
        .into_iter()
        .filter(|e| e["method"] == "PATCH" && e["path"].as_str().unwrap().ends_with(&path))
        .collect()
}

/// `nightjarctl call cw_tickets update`, not waited for.
fn spawn_update(home: &Home, ticket: i64, priority: i64, confirm: bool) -> Child {
    let params = json!({"id": ticket, "priority_id": priority}).to_string();
    let mut cmd = home.command("nightjarctl");
    cmd.args(["call", "cw_tickets", "update", "--params", &params]);
    if confirm {
        cmd.arg("--confirm");
    }
    cmd.stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Runs the update to completion and returns the outcome it printed.
fn update(home: &Home, ticket: i64, priority: i64, confirm: bool) -> Value {
    let out = spawn_update(home, ticket, priority, confirm)
        .wait_with_output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    serde_json::from_str(&stdout(&out)).unwrap_or_else(|e| panic!("{e}: {}", stdout(&out)))
}

/// Waits at most 30 s for a child to exit, killing it after that.
fn finish(mut child: Child) -> std::process::Output {
    let deadline = Instant::now() + Duration::from_secs(30);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() >= deadline {
            let _ = child.kill();
            panic!("nightjarctl call did not end within 30 s of the daemon's death");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

/// The JSON Patch body of `cw_tickets update` with a new priority.
fn priority_patch(priority: i64) -> Value {
    json!([{"op": "replace", "path": "/priority/id", "value": priority}])
}

#[test]
fn a_daemon_killed_while_a_write_is_in_flight_records_an_unknown_outcome_and_never_resends_it() {
    let sandbox = Sandbox::start(&["--today", TODAY]);
    let ticket = open_ticket(&sandbox);
    // The PATCH is received (and journaled on arrival) but never answered, so the daemon is
    // certainly between `ActionExecuting` and the outcome when it is killed.
    sandbox.add_faults("PATCH */service/tickets/*=hang");
    let home = Home::new();
    let daemon = home.start_daemon_with_env(&[], sandbox.env());

    let call = spawn_update(&home, ticket, 1, true);
    let executing = wait_for("ActionExecuting of cw_tickets.update in the log", || {
        events(&home).into_iter().find(|e| {
            e["event_type"] == "ActionExecuting"
                && e["payload"]["tool"] == "cw_tickets"
                && e["payload"]["action"] == "update"
        })
    });
    let call_id = executing["payload"]["call_id"].as_str().unwrap().to_owned();
    assert_eq!(
        executing["payload"]["request"]["path"],
        format!("/service/tickets/{ticket}")
    );
    let sent = wait_for("the PATCH to reach the sandbox", || {
        patches(&sandbox, ticket).into_iter().next()
    });
    assert_eq!(
        (sent["status"].as_u64(), &sent["faults"]),
        (Some(0), &json!(["hang"])),
        "the PATCH must still be open, unanswered: {sent}"
    );
    let body: Value = serde_json::from_str(sent["body"].as_str().unwrap()).unwrap();
    assert_eq!(body, priority_patch(1));
    let executing_seq = executing["seq"].as_u64().unwrap();
    let later: Vec<Value> = events(&home)
        .into_iter()
        .filter(|e| {
            e["payload"]["call_id"] == call_id.as_str() && e["seq"].as_u64() > Some(executing_seq)
        })
        .collect();
    assert!(
        later.is_empty(),
        "an outcome while the request still hangs: {later:?}"
    );

    daemon.kill();
    let interrupted = finish(call);
    assert!(
        !interrupted.status.success() && !stdout(&interrupted).contains("\"executed\""),
        "a killed daemon cannot have answered: {}",
        stdout(&interrupted)
    );

    let daemon = home.start_daemon_with_env(&[], sandbox.env());
    // A retry, were there one, would come from the restarted daemon on its own; give it time to
    // reach the sandbox before counting. Absence cannot be awaited, only given a fair chance.
    std::thread::sleep(Duration::from_millis(1500));
    let after = patches(&sandbox, ticket);
    assert_eq!(
        after.len(),
        1,
        "the write was sent again after the restart: {after:?}"
    );
    assert_eq!(after[0]["seq"], sent["seq"]);

    let log = events(&home);
    let unknown: Vec<&Value> = of_type(&log, "ActionOutcomeUnknown")
        .into_iter()
        .filter(|e| e["payload"]["call_id"] == call_id.as_str())
        .collect();
    assert_eq!(unknown.len(), 1, "{unknown:?}");
    assert_eq!(
        unknown[0]["payload"]["executing_seq"].as_u64(),
        Some(executing_seq)
    );
    assert_eq!(
        unknown[0]["payload"]["proposal_id"],
        executing["payload"]["proposal_id"]
    );
    assert_eq!(
        of_type(&log, "ActionOutcomeUnknown").len(),
        1,
        "only this action was in flight"
    );
    for outcome in ["ActionExecuted", "ActionFailed"] {
        assert!(
            of_type(&log, outcome)
                .iter()
                .all(|e| e["payload"]["call_id"] != call_id.as_str()),
            "{outcome} recorded for a call whose answer never came"
        );
    }
    let starts = of_type(&log, "DaemonStarted");
    assert_eq!(starts.len(), 2);
    assert_eq!(starts[1]["payload"]["recovered_in_flight"], 1);
    assert!(
        unknown[0]["seq"].as_u64() > starts[1]["seq"].as_u64(),
        "recorded by the restarted daemon"
    );

    assert!(daemon.stop().success());
    let verify = home.ctl(&["log", "verify"]);
    assert_eq!(verify.status.code(), Some(0), "{}", stdout(&verify));
}

#[test]
fn without_confirm_a_write_previews_the_exact_request_and_sends_nothing_with_confirm_it_is_sent_once()
 {
    let sandbox = Sandbox::start(&["--today", TODAY]);
    let ticket = open_ticket(&sandbox);
    let home = Home::new();
    let daemon = home.start_daemon_with_env(&[], sandbox.env());
    daemon.wait_for_history();
    sandbox.clear_journal();

    let preview = update(&home, ticket, 2, false);
    assert_eq!(preview["status"], "preview", "{preview}");
    let request = &preview["request"];
    assert_eq!(
        (&request["product"], &request["method"], &request["path"]),
        (
            &json!("manage"),
            &json!("PATCH"),
            &json!(format!("/service/tickets/{ticket}"))
        ),
        "{preview}"
    );
    assert_eq!(request["body"], priority_patch(2), "{preview}");
    let journal = sandbox.journal();
    assert!(
        journal.is_empty(),
        "a preview reached ConnectWise: {journal:?}"
    );

    let executed = update(&home, ticket, 2, true);
    assert_eq!(executed["status"], "executed", "{executed}");
    let sent = patches(&sandbox, ticket);
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(sent[0]["status"], 200, "{sent:?}");
    let body: Value = serde_json::from_str(sent[0]["body"].as_str().unwrap()).unwrap();
    assert_eq!(body, priority_patch(2));

    assert!(daemon.stop().success());
}
