//! The night shift through the real binaries: a run killed mid-item (SIGKILL) resumes at the
//! next start without sending any item's writes twice; and the triage skill on the real local
//! model (when CI has set one up), with every call it made in the log as gated events.
#![allow(clippy::unwrap_used, reason = "test helpers abort on any failure")]

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use agent::scripted::{Script, ScriptedModel, ticket_of, turn};
use e2e::{Home, Sandbox, stdout};
use serde_json::{Value, json};

fn export(home: &Home) -> Vec<Value> {
    let out = home.ctl(&["log", "export"]);
    assert!(out.status.success(), "log export: {}", e2e::stderr(&out));
    stdout(&out)
        .lines()
        .map(|l| serde_json::from_str(l).expect("an exported event"))
        .collect()
}

fn patches(sandbox: &Sandbox) -> Vec<String> {
    sandbox
        .journal()
        .into_iter()
        .filter(|e| e["method"] != "GET")
        .map(|e| {
            format!(
                "{} {}",
                e["method"].as_str().unwrap_or(""),
                e["path"].as_str().unwrap_or("")
            )
        })
        .collect()
}

fn wait_for(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn write_config(home: &Home, extra: &str) {
    std::fs::create_dir_all(home.config_dir()).unwrap();
    std::fs::write(
        home.config_dir().join("config.toml"),
        format!("[scheduler]\nenabled = false\n\n[agent]\nmax_items = 5\n\n{extra}"),
    )
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_run_killed_mid_item_resumes_without_sending_any_write_twice() {
    let order = Arc::new(Mutex::new(Vec::<i64>::new()));
    let hung = Arc::new(AtomicBool::new(false));
    let (seen, hang) = (Arc::clone(&order), Arc::clone(&hung));
    let model = ScriptedModel::start(move |req: &Value| {
        let id = ticket_of(req).unwrap();
        let rank = {
            let mut s = seen.lock().unwrap();
            if !s.contains(&id) {
                s.push(id);
            }
            s.iter().position(|t| *t == id).unwrap()
        };
        match turn(req) {
            0 => Script::call("tickets_update", json!({"id": id, "priority_id": 2})),
            // The third ticket: its change is sent, then the model hangs and the daemon dies.
            _ if rank == 2 && !hang.swap(true, Ordering::SeqCst) => Script::Hang,
            _ => Script::Text(format!("#{id} set to priority 2")),
        }
    })
    .await;

    let home = Home::new();
    // The conversation loop's resume (no grounded decisions: those are one call, nothing to
    // cut off mid-item).
    write_config(
        &home,
        "[skills.msp-night-triage]\nmode = \"enforce\"\nprecedents = 0\n",
    );
    let sandbox = Sandbox::start(&[]);
    let mut env = sandbox.env().to_vec();
    env.push(("NIGHTJAR_MODEL_URL".into(), model.url().to_owned()));
    env.push(("NIGHTJAR_MODEL".into(), "scripted".into()));
    let daemon = home.start_daemon_with_env(&[], &env);
    sandbox.clear_journal();

    let run = home
        .command("nightjarctl")
        .args(["run", "msp-night-triage"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    wait_for(
        "the third ticket's change and the hang",
        Duration::from_secs(60),
        || hung.load(Ordering::SeqCst) && patches(&sandbox).len() == 3,
    );
    daemon.kill();
    let mut run = run;
    let _ = run.wait();
    let before: Vec<String> = patches(&sandbox);
    assert_eq!(before.len(), 3, "{before:?}");

    // Restart: the interrupted run resumes by itself.
    let daemon = home.start_daemon_with_env(&[], &env);
    wait_for(
        "the resumed run to send the last two changes",
        Duration::from_secs(60),
        || patches(&sandbox).len() >= 5,
    );
    // Let it record its end, then stop and read the log from disk.
    std::thread::sleep(Duration::from_millis(1500));
    let out = home.ctl(&["schedule"]);
    assert!(
        stdout(&out).contains("msp-night-triage"),
        "{}",
        stdout(&out)
    );
    assert!(
        stdout(&out).contains("the scheduler is off"),
        "{}",
        stdout(&out)
    );
    // The morning feed of the resumed run, through the daemon (`Request::Feed`) and then, with
    // the daemon stopped, straight from the state directory: the same run either way.
    let resumed = export(&home)
        .into_iter()
        .filter(|e| e["event_type"] == "RunStarted")
        .map(|e| e["payload"]["run_id"].as_str().unwrap().to_owned())
        .next_back()
        .unwrap();
    let feed_json = |home: &Home, window: &[&str]| -> Value {
        let mut args = vec!["feed", "--format", "json"];
        args.extend_from_slice(window);
        let out = home.ctl(&args);
        assert!(
            matches!(out.status.code(), Some(0 | 2)),
            "{}",
            e2e::stderr(&out)
        );
        serde_json::from_str(&stdout(&out)).unwrap()
    };
    let live = feed_json(&home, &["--run", &resumed]);
    let runs = live["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 1, "{live}");
    assert_eq!(runs[0]["run_id"], resumed.as_str());
    assert_eq!(runs[0]["items"].as_array().unwrap().len(), 2);
    let night = feed_json(&home, &[]);
    assert_eq!(
        night["runs"].as_array().unwrap().len(),
        2,
        "the default window holds both runs: {night}"
    );
    daemon.stop();
    let offline = feed_json(&home, &["--run", &resumed]);
    assert_eq!(offline["runs"], live["runs"]);
    assert_eq!(offline["trust"], live["trust"]);

    let sent = patches(&sandbox);
    let mut per_path = BTreeMap::<&str, usize>::new();
    for p in &sent {
        *per_path.entry(p.as_str()).or_default() += 1;
    }
    assert_eq!(per_path.len(), 5, "five tickets changed: {sent:?}");
    assert!(
        per_path.values().all(|n| *n == 1),
        "no ticket changed twice: {sent:?}"
    );

    let log = export(&home);
    let runs: Vec<&Value> = log
        .iter()
        .filter(|e| e["event_type"] == "RunStarted")
        .collect();
    assert_eq!(runs.len(), 2);
    let (old, new) = (&runs[0]["payload"], &runs[1]["payload"]);
    assert_eq!(new["trigger"], "resume");
    assert_eq!(new["resumes"], old["run_id"]);
    let order = order.lock().unwrap().clone();
    let started_in = |run: &Value| -> Vec<String> {
        log.iter()
            .filter(|e| e["event_type"] == "ItemStarted" && e["payload"]["run_id"] == run["run_id"])
            .map(|e| e["payload"]["item_id"].as_str().unwrap().to_owned())
            .collect()
    };
    let item = |rank: usize| format!("ticket:{}", order[rank]);
    assert_eq!(started_in(old), [item(0), item(1), item(2)]);
    assert_eq!(
        started_in(new),
        [item(3), item(4)],
        "resumed at the next unfinished item"
    );
    let cut_off = log
        .iter()
        .find(|e| e["event_type"] == "ItemFinished" && e["payload"]["item_id"] == item(2).as_str())
        .expect("the cut-off item is closed");
    assert_eq!(cut_off["payload"]["outcome"], "skipped");
    assert!(
        cut_off["payload"]["reason"]
            .as_str()
            .unwrap()
            .contains("not redone")
    );
    let finished: Vec<&Value> = log
        .iter()
        .filter(|e| e["event_type"] == "RunFinished")
        .collect();
    assert!(
        finished
            .iter()
            .any(|f| f["payload"]["run_id"] == new["run_id"]
                && f["payload"]["outcome"] == "completed"
                && f["payload"]["items_done"] == 2)
    );
    assert!(finished.iter().any(|f| {
        f["payload"]["run_id"] == old["run_id"]
            && f["payload"]["reason"]
                .as_str()
                .unwrap_or("")
                .contains("resumed as run")
    }));
    let verify = home.ctl(&["log", "verify"]);
    assert!(verify.status.success(), "{}", stdout(&verify));
}

/// The real local model CI set up (NIGHTJAR_TEST_MODEL_URL / NIGHTJAR_TEST_MODEL after
/// `nightjarctl model setup` and `serve`), a sandbox, and the daemon on it with `config`;
/// `None` (the test says why and stops) without a model: registries unreachable, or a developer
/// machine without one.
fn on_the_real_model(test: &str, config: &str) -> Option<(Home, Sandbox, e2e::Daemon, String)> {
    let (Ok(url), Ok(name)) = (
        std::env::var("NIGHTJAR_TEST_MODEL_URL"),
        std::env::var("NIGHTJAR_TEST_MODEL"),
    ) else {
        eprintln!(
            "SKIPPED {test}: NIGHTJAR_TEST_MODEL_URL / NIGHTJAR_TEST_MODEL are not set \
             (`nightjarctl model setup` did not run or could not reach the package registries)"
        );
        return None;
    };
    let home = Home::new();
    write_config(&home, config);
    let sandbox = Sandbox::start(&[]);
    let mut env = sandbox.env().to_vec();
    env.push(("NIGHTJAR_MODEL_URL".into(), url));
    env.push(("NIGHTJAR_MODEL".into(), name.clone()));
    let daemon = home.start_daemon_with_env(&[], &env);
    sandbox.clear_journal();
    Some((home, sandbox, daemon, name))
}

/// The triage skill on the real local model.
#[test]
fn triage_on_the_real_local_model_is_gated_logged_and_within_budget() {
    let Some((home, sandbox, daemon, name)) = on_the_real_model(
        "triage_on_the_real_local_model",
        "[skills.msp-night-triage]\nmode = \"observe\"\n",
    ) else {
        return;
    };
    let started = Instant::now();
    let out = home.ctl(&["run", "msp-night-triage", "--json"]);
    let took = started.elapsed();
    let summary: Value = serde_json::from_str(&stdout(&out))
        .unwrap_or_else(|e| panic!("run summary ({e}): {} {}", stdout(&out), e2e::stderr(&out)));
    daemon.stop();
    eprintln!("real model {name}: {summary} in {took:?}");

    assert_eq!(summary["outcome"], "completed", "{summary}");
    let items = summary["items_done"].as_u64().unwrap()
        + summary["items_skipped"].as_u64().unwrap()
        + summary["items_failed"].as_u64().unwrap();
    assert_eq!(items, 5, "{summary}");
    assert!(took < Duration::from_secs(4 * 3600));
    assert_eq!(
        patches(&sandbox),
        Vec::<String>::new(),
        "observe: nothing written"
    );

    let log = export(&home);
    let run_id = summary["run_id"].as_str().unwrap();
    let of_run: Vec<&Value> = log.iter().filter(|e| e["run_id"] == run_id).collect();
    let finished: Vec<&Value> = of_run
        .iter()
        .copied()
        .filter(|e| e["event_type"] == "ItemFinished")
        .collect();
    assert_eq!(finished.len(), 5, "per-item outcomes in the log");
    assert!(
        of_run.iter().all(|e| e["event_type"] != "ActionExecuted"),
        "nothing executed"
    );
    // Every call the model made that reached the gate is there as a gated event of this run.
    let gated = |tool: &str, action: &str, kinds: &[&str]| {
        of_run.iter().any(|e| {
            kinds.contains(&e["event_type"].as_str().unwrap_or(""))
                && e["payload"]["tool"] == tool
                && e["payload"]["action"] == action
        })
    };
    let mut calls = 0;
    for f in &finished {
        for c in f["payload"]["calls"].as_array().into_iter().flatten() {
            let (tool, action) = (c["tool"].as_str().unwrap(), c["action"].as_str().unwrap());
            let kinds: &[&str] = match c["status"].as_str().unwrap() {
                "ok" | "error" => &["ActionRead", "ActionFailed", "ActionDenied"],
                "recorded_for_review" | "pending_approval" | "preview" => &["ActionProposed"],
                "denied" => &["ActionDenied"],
                _ => continue, // refused by the agent before sending: invalid, duplicate
            };
            assert!(
                gated(tool, action, kinds),
                "{tool} {action} {c} not in the log"
            );
            calls += 1;
        }
    }
    eprintln!("real model made {calls} gated calls over 5 items");
}

#[test]
fn skills_list_show_export_and_refuse_a_broken_user_skill() {
    let home = Home::new();
    let out = home.ctl(&["skills", "list"]);
    assert!(out.status.success(), "{}", e2e::stderr(&out));
    for name in [
        "msp-night-triage",
        "msp-weekly-prebilling",
        "msp-renewal-sweep",
    ] {
        assert!(stdout(&out).contains(name), "{}", stdout(&out));
    }
    assert!(stdout(&out).contains("new-tickets"));

    let out = home.ctl(&["skills", "show", "msp-renewal-sweep"]);
    assert!(
        stdout(&out).starts_with("---\nname: msp-renewal-sweep\n"),
        "{}",
        stdout(&out)
    );

    let dir = home.config_dir().join("exported");
    let out = home.ctl(&["skills", "export", dir.to_str().unwrap()]);
    assert!(out.status.success(), "{}", e2e::stderr(&out));
    let triage = std::fs::read_to_string(dir.join("msp-night-triage/SKILL.md")).unwrap();
    assert!(triage.contains("allowed-tools: mcp__nightjar__cw_tickets"));

    let out = home.ctl(&["skills", "show", "msp-nope"]);
    assert!(!out.status.success());
    assert!(
        e2e::stderr(&out).contains("the skills are: msp-night-triage"),
        "{}",
        e2e::stderr(&out)
    );

    // A user skill with a bad name is refused with the file and the reason; the rest still list.
    let bad = home.config_dir().join("skills/Bad_Skill");
    std::fs::create_dir_all(&bad).unwrap();
    std::fs::write(
        bad.join("SKILL.md"),
        "---\nname: Bad_Skill\ndescription: x\n---\n",
    )
    .unwrap();
    let out = home.ctl(&["skills", "list"]);
    assert_eq!(out.status.code(), Some(1));
    let err = e2e::stderr(&out);
    assert!(
        err.contains("Bad_Skill/SKILL.md") && err.contains("lowercase letters"),
        "{err}"
    );
    assert!(stdout(&out).contains("msp-night-triage"));
}

/// The triage backtest on the real local model, over the sandbox's closed tickets: the table's
/// figures side by side, history winning by at least 15 points on board and on priority, no
/// invalid id, nothing written upstream.
#[test]
fn triage_backtest_on_the_real_local_model_is_better_with_history() {
    let Some((home, sandbox, daemon, name)) =
        on_the_real_model("triage_backtest_on_the_real_local_model", "")
    else {
        return;
    };
    let started = Instant::now();
    let table = home.ctl(&["eval", "triage", "--limit", "20", "--k", "6"]);
    assert!(table.status.success(), "{}", e2e::stderr(&table));
    eprintln!("{}", stdout(&table));
    assert!(stdout(&table).contains("with history"));
    daemon.stop();
    let log = export(&home);
    let recorded: Vec<&Value> = log
        .iter()
        .filter(|e| e["event_type"] == "BacktestRecorded")
        .collect();
    assert_eq!(recorded.len(), 1);
    let b = &recorded[0]["payload"]["backtest"];
    eprintln!("real model {name}: backtest in {:?}", started.elapsed());
    let pct = |arm: &str, field: &str| {
        let a = &b[arm];
        a[field].as_f64().unwrap() * 100.0 / a["tickets"].as_f64().unwrap().max(1.0)
    };
    for field in ["board", "priority"] {
        assert!(
            pct("with_history", field) >= pct("without_history", field) + 15.0,
            "{field}: {b}"
        );
    }
    assert_eq!(b["with_history"]["invalid"], 0, "{b}");
    assert_eq!(b["without_history"]["invalid"], 0, "{b}");
    assert_eq!(b["with_history"]["unasked"], 0, "{b}");
    assert_eq!(
        patches(&sandbox),
        Vec::<String>::new(),
        "a backtest writes nothing"
    );
}
