//! Weekly validation over the sandbox tenant, fetched through the Manage connector: every planted
//! time anomaly in the ground truth is found (100% recall) and nothing else is flagged (no false
//! positive on the clean member-weeks).
#![allow(clippy::print_stdout, reason = "the test prints what it measured")]

use std::collections::BTreeSet;

use daemon::connector::manage::Query;
use daemon::connector::{Budget, Call, Connectors, Settings, retry::Policy};
use daemon::timesheet::{Context, Rule, Thresholds, validate};

#[tokio::test]
async fn every_planted_time_anomaly_is_found_and_nothing_else() {
    for size in [sandbox::Size::Small, sandbox::Size::Medium] {
        check(size).await;
    }
}

async fn check(size: sandbox::Size) {
    let tenant = sandbox::start(sandbox::Config {
        size,
        ..sandbox::Config::default()
    })
    .await
    .expect("sandbox");
    let settings = Settings::from_env_lines(&tenant.env_lines()).expect("settings");
    let manage = Connectors::new(&settings, &Policy::default())
        .expect("connectors")
        .manage;
    let call = Call::new(Budget { max_calls: 100 });
    let list = |path: &'static str, conditions: Option<&'static str>| {
        let manage = &manage;
        let call = &call;
        async move {
            let mut query = Query::new();
            query.conditions = conditions.map(str::to_owned);
            manage
                .list(call, path, &query, 10_000)
                .await
                .expect("list")
                .rows
        }
    };
    let entries = list("/time/entries", None).await;
    let work_types = list("/time/workTypes", None).await;
    let closed = list("/service/tickets", Some("closedFlag = true")).await;

    let truth = tenant.truth().time.clone();
    let window = (
        truth.window_start.parse().expect("date"),
        truth.window_end.parse().expect("date"),
    );
    let context = Context {
        work_type_bill_time: work_types
            .iter()
            .filter_map(|w| Some((w["id"].as_i64()?, w["billTime"].as_str()?.to_owned())))
            .collect(),
        closed_tickets: closed
            .iter()
            .filter_map(|t| Some((t["id"].as_i64()?, t["closedDate"].as_str()?.parse().ok()?)))
            .collect(),
        members: entries
            .iter()
            .filter_map(|e| e["member"]["id"].as_i64())
            .collect(),
        window: Some(window),
    };
    assert!(!context.closed_tickets.is_empty() && context.work_type_bill_time.len() > 1);
    let findings = validate(&entries, &context, &Thresholds::default());

    type Key = (&'static str, i64, String, Vec<i64>);
    let found: BTreeSet<Key> = findings
        .iter()
        .map(|f| {
            let who = if f.rule == Rule::MissingDay {
                f.member_id
            } else {
                0
            };
            let day = if f.rule == Rule::MissingDay {
                f.date.to_string()
            } else {
                String::new()
            };
            (f.rule.as_str(), who, day, f.entry_ids.clone())
        })
        .collect();
    let mut expected: BTreeSet<Key> = BTreeSet::new();
    for m in &truth.missing_days {
        expected.insert(("missing_day", m.member_id, m.date.clone(), vec![]));
    }
    let sorted = |ids: &[i64]| {
        let mut v = ids.to_vec();
        v.sort_unstable();
        v
    };
    for g in &truth.overlapping {
        expected.insert(("overlap", 0, String::new(), sorted(&g.entry_ids)));
    }
    for g in &truth.duplicates {
        expected.insert(("duplicate", 0, String::new(), sorted(&g.entry_ids)));
    }
    for id in &truth.noteless {
        expected.insert(("empty_note", 0, String::new(), vec![*id]));
    }
    for b in &truth.billable_mismatches {
        expected.insert(("billable_mismatch", 0, String::new(), vec![b.entry_id]));
    }
    for c in &truth.on_closed_tickets {
        expected.insert(("time_on_closed_ticket", 0, String::new(), vec![c.entry_id]));
    }
    let missed: Vec<&Key> = expected.difference(&found).collect();
    let extra: Vec<&Key> = found.difference(&expected).collect();
    println!(
        "{size:?}: {} entries, {} findings, {} planted",
        entries.len(),
        findings.len(),
        expected.len()
    );
    assert!(missed.is_empty(), "planted but not found: {missed:?}");
    assert!(
        extra.is_empty(),
        "found but not planted (false positives): {extra:?}"
    );
    tenant.shutdown().await;
}
