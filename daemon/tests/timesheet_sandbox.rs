//! Weekly validation over the sandbox tenant, fetched through the Manage connector: every planted
//! time anomaly in the ground truth is found (100% recall) and nothing else is flagged (no false
//! positive on the clean member-weeks), for every rule, including agreement utilization.
#![allow(clippy::print_stdout, reason = "the test prints what it measured")]

use std::collections::{BTreeMap, BTreeSet};

use daemon::connector::manage::Query;
use daemon::connector::{Budget, Call, Connectors, Settings, retry::Policy};
use daemon::timesheet::{Context, Records, Rule, Thresholds, validate};
use serde_json::Value;

#[tokio::test]
async fn every_planted_time_anomaly_is_found_and_nothing_else() {
    for size in [sandbox::Size::Small, sandbox::Size::Medium] {
        check(size).await;
    }
}

/// What identifies a finding: its rule, its member and day for a missing day, its agreement for
/// an agreement's utilization, and its entries otherwise.
type Key = (&'static str, i64, String, Vec<i64>);

fn sorted(ids: &[i64]) -> Vec<i64> {
    let mut v = ids.to_vec();
    v.sort_unstable();
    v
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
    let call = Call::new(Budget { max_calls: 200 });
    let list = |path: String, conditions: Option<&'static str>| {
        let manage = &manage;
        let call = &call;
        async move {
            let mut query = Query::new();
            query.conditions = conditions.map(str::to_owned);
            manage
                .list(call, &path, &query, 10_000)
                .await
                .expect("list")
                .rows
        }
    };
    let entries = list("/time/entries".into(), None).await;
    let work_types = list("/time/workTypes".into(), None).await;
    let closed = list("/service/tickets".into(), Some("closedFlag = true")).await;
    let sheets = list("/time/sheets".into(), None).await;
    let closed_projects = list("/project/projects".into(), Some("closedFlag = true")).await;
    let agreements = list("/finance/agreements".into(), None).await;
    let mut periods = Vec::new();
    for setup in list("/time/timePeriodSetups".into(), None).await {
        let id = setup["id"].as_i64().expect("id");
        periods.extend(list(format!("/time/timePeriodSetups/{id}/periods"), None).await);
    }
    let mut terms = Vec::new();
    for a in &agreements {
        let id = a["id"].as_i64().expect("id");
        terms.extend(list(format!("/finance/agreements/{id}/worktypes"), None).await);
    }

    let truth = tenant.truth().clone();
    let time = &truth.time;
    let window = (
        time.window_start.parse().expect("date"),
        time.window_end.parse().expect("date"),
    );
    let context = Context::from_records(
        Records {
            work_types: &work_types,
            closed_tickets: &closed,
            time_sheets: &sheets,
            periods: &periods,
            agreement_work_types: &terms,
            closed_projects: &closed_projects,
            agreements: &agreements,
        },
        entries
            .iter()
            .filter_map(|e| e["member"]["id"].as_i64())
            .collect(),
        Some(window),
    );
    assert!(!context.closed_tickets.is_empty() && context.work_type_bill_time.len() > 1);
    assert!(!context.time_sheets.is_empty() && !context.periods.is_empty());
    assert!(!context.agreement_bill_time.is_empty() && !context.closed_projects.is_empty());
    let findings = validate(&entries, &context, &Thresholds::default());

    let found: BTreeSet<Key> = findings
        .iter()
        .map(|f| match f.rule {
            Rule::MissingDay => (
                f.rule.as_str(),
                f.member_id.expect("member"),
                f.date.to_string(),
                vec![],
            ),
            Rule::AgreementOverUtilized | Rule::AgreementUnderUtilized => (
                f.rule.as_str(),
                f.agreement_id.expect("agreement"),
                String::new(),
                vec![],
            ),
            _ => (f.rule.as_str(), 0, String::new(), sorted(&f.entry_ids)),
        })
        .collect();
    let expected = expected(&truth);
    let missed: Vec<&Key> = expected.difference(&found).collect();
    let extra: Vec<&Key> = found.difference(&expected).collect();
    let mut per_rule: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    for k in &expected {
        per_rule.entry(k.0).or_default().0 += 1;
    }
    for k in &found {
        per_rule.entry(k.0).or_default().1 += 1;
    }
    println!(
        "{size:?}: {} entries, {} findings, {} planted; per rule (planted, found): {per_rule:?}",
        entries.len(),
        findings.len(),
        expected.len()
    );
    assert!(missed.is_empty(), "planted but not found: {missed:?}");
    assert!(
        extra.is_empty(),
        "found but not planted (false positives): {extra:?}"
    );
    // Every rule has something planted, so none passes by finding nothing.
    for rule in [
        "missing_day",
        "overlap",
        "duplicate",
        "empty_note",
        "billable_mismatch",
        "time_on_closed_ticket",
        "outside_open_period",
        "agreement_billable_mismatch",
        "time_on_closed_project",
        "agreement_over_utilized",
        "agreement_under_utilized",
    ] {
        assert!(per_rule.contains_key(rule), "nothing planted for {rule}");
    }
    // An agreement's findings list the entries charged to it; the others name a member.
    for f in &findings {
        match f.rule {
            Rule::AgreementOverUtilized => assert!(!f.entry_ids.is_empty(), "{f:?}"),
            Rule::AgreementUnderUtilized => {}
            _ => assert!(f.member_id.is_some(), "{f:?}"),
        }
    }
    let by_id: BTreeMap<i64, &Value> = entries
        .iter()
        .filter_map(|e| Some((e["id"].as_i64()?, e)))
        .collect();
    for p in &time.in_closed_periods {
        assert_eq!(by_id[&p.entry_id]["timeSheet"]["id"], p.time_sheet_id);
    }
    tenant.shutdown().await;
}

/// Every planted anomaly, keyed as [`Key`].
fn expected(truth: &sandbox::Truth) -> BTreeSet<Key> {
    let time = &truth.time;
    let mut expected: BTreeSet<Key> = BTreeSet::new();
    let mut entry = |rule: &'static str, ids: &[i64]| {
        expected.insert((rule, 0, String::new(), sorted(ids)));
    };
    for g in &time.overlapping {
        entry("overlap", &g.entry_ids);
    }
    for g in &time.duplicates {
        entry("duplicate", &g.entry_ids);
    }
    for id in &time.noteless {
        entry("empty_note", &[*id]);
    }
    for b in &time.billable_mismatches {
        entry("billable_mismatch", &[b.entry_id]);
    }
    for c in &time.on_closed_tickets {
        entry("time_on_closed_ticket", &[c.entry_id]);
    }
    for p in &time.in_closed_periods {
        entry("outside_open_period", &[p.entry_id]);
    }
    for b in &time.agreement_billable_mismatches {
        entry("agreement_billable_mismatch", &[b.entry_id]);
    }
    for c in &time.on_closed_projects {
        entry("time_on_closed_project", &[c.entry_id]);
    }
    for m in &time.missing_days {
        expected.insert(("missing_day", m.member_id, m.date.clone(), vec![]));
    }
    for u in &truth.agreements.utilization {
        let rule = match u.class.as_str() {
            "over" => "agreement_over_utilized",
            "under" => "agreement_under_utilized",
            _ => continue,
        };
        expected.insert((rule, u.agreement_id, String::new(), vec![]));
    }
    expected
}
