//! The triage backtest over the sandbox with a scripted model that follows precedent when it is
//! shown some: the side-by-side scores, no peeking (every precedent closed before the ticket it
//! grounds, never the ticket itself), nothing written upstream, the result logged.
#![allow(clippy::unwrap_used, reason = "test helpers abort on any failure")]

use std::sync::{Arc, Mutex};

use agent::model::ModelConfig;
use agent::scripted::{ScriptedModel, follow_precedent};
use daemon::eval::{Options, triage};
use schemas::event::Event;
use serde_json::Value;

mod support;

#[tokio::test]
async fn the_backtest_scores_both_arms_reads_only_and_never_peeks() {
    let w = support::world_with_history().await;
    let seen: Arc<Mutex<Vec<Value>>> = Arc::default();
    let log = seen.clone();
    let model = ScriptedModel::start(Box::new(move |req: &Value| {
        log.lock().unwrap().push(req.clone());
        follow_precedent(req)
    }))
    .await;
    let config = ModelConfig {
        url: model.url().to_owned(),
        model: "scripted".into(),
        ..ModelConfig::default()
    };
    let before = w.writes().len();
    let options = Options {
        since_days: 90,
        limit: 20,
        k: 6,
    };
    let b = triage(&w.gate, Some(config), options).await.unwrap();
    let (with, without) = (&b.with_history, &b.without_history);
    println!("with history {with:?}\nwithout {without:?}");
    assert_eq!((with.tickets, without.tickets), (20, 20));
    assert_eq!((with.invalid, without.invalid, with.failed), (0, 0, 0));
    assert!(
        with.percent(with.board) >= without.percent(without.board) + 15.0,
        "{with:?} {without:?}"
    );
    assert!(with.percent(with.priority) >= without.percent(without.priority) + 15.0);
    assert_eq!(
        w.writes().len(),
        before,
        "a backtest writes nothing upstream"
    );

    // No peeking: every precedent shown closed strictly before the ticket it grounds.
    let requests = seen.lock().unwrap().clone();
    assert_eq!(requests.len(), 40, "two decisions per ticket");
    let index = w.history.as_ref().unwrap().read().await;
    let mut shown = 0;
    for req in &requests {
        assert!(req["response_format"]["json_schema"]["schema"].is_object());
        let user = req["messages"][1]["content"].as_str().unwrap();
        let ticket: i64 = user
            .split("New ticket #")
            .nth(1)
            .and_then(|t| t.split(':').next())
            .unwrap()
            .parse()
            .unwrap();
        let closed = index.get(ticket).unwrap().closed;
        for line in user.lines().filter(|l| l.contains(". #")) {
            let id: i64 = line
                .split(". #")
                .nth(1)
                .and_then(|t| t.split(' ').next())
                .unwrap()
                .parse()
                .unwrap();
            assert_ne!(id, ticket, "a ticket is never its own precedent");
            assert!(
                index.get(id).unwrap().closed < closed,
                "precedent #{id} closed after ticket #{ticket}"
            );
            shown += 1;
        }
    }
    assert!(shown >= 20 * 3, "precedents were shown ({shown})");
    drop(index);

    let logged: Vec<_> = w
        .store
        .range(0, w.store.len())
        .filter_map(|e| match e.unwrap().event {
            Event::BacktestRecorded { backtest } => Some(backtest),
            _ => None,
        })
        .collect();
    assert_eq!(logged, [b]);
}
