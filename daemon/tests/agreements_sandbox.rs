//! Agreement analytics over the sandbox tenant, fetched through the Manage connector: `expiring`
//! finds exactly the planted 30/60/90-day agreements (not the expired, cancelled or open-ended
//! distractors), and `utilization` classes every hour-based agreement as the ground truth does.

use std::collections::BTreeMap;

use daemon::agreements::{Bounds, expiring, utilization};
use daemon::connector::manage::Query;
use daemon::connector::{Budget, Call, Connectors, Settings, retry::Policy};

#[tokio::test]
async fn expiring_and_utilization_find_every_planted_agreement() {
    let config = sandbox::Config::default();
    let today = config.today;
    let tenant = sandbox::start(config).await.expect("sandbox");
    let settings = Settings::from_env_lines(&tenant.env_lines()).expect("settings");
    let manage = Connectors::new(&settings, &Policy::default())
        .expect("connectors")
        .manage;
    let call = Call::new(Budget { max_calls: 100 });
    let agreements = manage
        .list(&call, "/finance/agreements", &Query::new(), 10_000)
        .await
        .expect("list")
        .rows;
    let entries = manage
        .list(&call, "/time/entries", &Query::new(), 10_000)
        .await
        .expect("list")
        .rows;
    let truth = tenant.truth().clone();

    let found: Vec<(i64, i64, i64)> = expiring(&agreements, today, 90)
        .iter()
        .map(|e| (e.agreement_id, e.days_left, e.window_days))
        .collect();
    let mut planted: Vec<(i64, i64, i64)> = truth
        .agreements
        .expiring
        .iter()
        .map(|e| (e.agreement_id, e.days_left, e.window_days))
        .collect();
    planted.sort_by_key(|p| p.1);
    assert_eq!(found, planted);

    let window = (
        truth.time.window_start.parse().expect("date"),
        truth.time.window_end.parse().expect("date"),
    );
    let classes: BTreeMap<i64, (&str, f64)> =
        utilization(&agreements, &entries, window.0, window.1, Bounds::default())
            .iter()
            .map(|u| (u.agreement_id, (u.class, u.ratio)))
            .collect();
    let expected: BTreeMap<i64, (&str, f64)> = truth
        .agreements
        .utilization
        .iter()
        .map(|u| (u.agreement_id, (u.class.as_str(), u.ratio)))
        .collect();
    assert!(
        expected.values().any(|(c, _)| *c == "over")
            && expected.values().any(|(c, _)| *c == "under")
    );
    assert_eq!(classes, expected);
    tenant.shutdown().await;
}
