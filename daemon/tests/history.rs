//! The ticket history index against the sandbox over real HTTP: a full build, an incremental
//! refresh that reads only what changed, rebuilds of a missing or corrupt file, no planted
//! personal data in the files, and precedents that predict a held-out ticket's board.
#![allow(clippy::unwrap_used, reason = "test helpers abort on any failure")]

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use daemon::connector::manage::{Manage, Op, PatchOp, Query, condition};
use daemon::connector::{Budget, Call, Connectors, Policy, Settings};
use daemon::history::{FILE_NAME, HistoryIndex, Opened};
use daemon::redact::Redactor;
use serde_json::json;

mod support;

struct Sandbox {
    running: sandbox::Running,
    connectors: Connectors,
    redactor: Arc<Redactor>,
}

async fn sandbox() -> Sandbox {
    let running = sandbox::start(sandbox::Config {
        today: chrono::NaiveDate::from_ymd_opt(2026, 3, 2).unwrap(),
        ..sandbox::Config::default()
    })
    .await
    .unwrap();
    let settings = Settings::from_env_lines(&running.env_lines()).unwrap();
    let policy = Policy {
        max_attempts: 2,
        max_wait: Duration::from_secs(2),
        base_backoff: Duration::from_millis(10),
        jitter: Duration::from_millis(10),
        timeout: Duration::from_secs(5),
    };
    let connectors = Connectors::new(&settings, &policy).unwrap();
    let redactor = Arc::new(Redactor::new(settings.secrets()));
    Sandbox {
        running,
        connectors,
        redactor,
    }
}

impl Sandbox {
    fn manage(&self) -> &Manage {
        &self.connectors.manage
    }

    /// Opens the index in `dir` and refreshes it until nothing is left to read.
    async fn build(&self, dir: &Path) -> (HistoryIndex, Opened) {
        let (mut index, opened) = HistoryIndex::open(dir, self.redactor.clone()).unwrap();
        refresh_all(&mut index, self.manage()).await;
        (index, opened)
    }

    fn closed_ids(&self) -> BTreeSet<i64> {
        self.running
            .truth()
            .closed
            .iter()
            .map(|c| c.ticket_id)
            .collect()
    }
}

async fn refresh_all(index: &mut HistoryIndex, manage: &Manage) {
    for _ in 0..10 {
        let call = Call::new(Budget { max_calls: 2000 });
        let stats = index.refresh(manage, &call).await.unwrap();
        if !stats.more {
            return;
        }
    }
    panic!("the refresh never finished");
}

#[tokio::test]
async fn a_refresh_reads_only_what_changed_picks_up_a_newly_closed_ticket_and_drops_nothing() {
    let s = sandbox().await;
    let dir = tempfile::tempdir().unwrap();
    let (mut index, opened) = s.build(dir.path()).await;
    assert!(matches!(opened, Opened::Rebuilt { .. }), "{opened:?}");
    let closed = s.closed_ids();
    assert!(closed.len() >= 300);
    let before: BTreeSet<i64> = index.ids().collect();
    assert_eq!(before, closed, "every closed ticket, nothing else");
    // The final labels come along, as the truth has them.
    let truth = &s.running.truth().closed[0];
    let doc = index.get(truth.ticket_id).unwrap();
    assert_eq!(doc.board.as_ref().unwrap().name, truth.labels.board.name);
    assert_eq!(doc.priority.as_ref().unwrap().id, truth.labels.priority.id);
    assert!(!doc.description.is_empty() && !doc.resolution.is_empty());

    // A human closes an open ticket: its board's closed status, by PATCH.
    let call = Call::default();
    let open = s
        .manage()
        .list(
            &call,
            "/service/tickets",
            &Query::new().conditions("closedFlag = false and owner/id != null"),
            1,
        )
        .await
        .unwrap()
        .rows
        .remove(0);
    let id = open["id"].as_i64().unwrap();
    let board = open["board"]["id"].as_i64().unwrap();
    let statuses = s
        .manage()
        .get(
            &call,
            &format!("/service/boards/{board}/statuses"),
            &Query::new().conditions("closedStatus = true"),
        )
        .await
        .unwrap();
    let closed_status = statuses[0]["id"].clone();
    s.manage()
        .patch(
            &call,
            &format!("/service/tickets/{id}"),
            &[PatchOp::replace("status/id", closed_status)],
        )
        .await
        .unwrap();

    // Tickets last written in the cursor's second are read again (`>=`), nothing else is.
    let at_cursor = condition("lastUpdated", Op::Eq, index.cursor().unwrap()).unwrap();
    let ties = s
        .manage()
        .count(
            &call,
            "/service/tickets",
            &Query::new().conditions(at_cursor),
        )
        .await
        .unwrap() as usize;
    s.running.clear_journal();
    let stats = index
        .refresh(s.manage(), &Call::new(Budget { max_calls: 100 }))
        .await
        .unwrap();
    let after: BTreeSet<i64> = index.ids().collect();
    assert_eq!(after.len(), before.len() + 1, "{stats:?}");
    assert!(after.is_superset(&before) && after.contains(&id));
    assert_eq!(index.get(id).unwrap().summary, open["summary"]);
    // Only the changed tickets were asked for: one listing on lastUpdated, and notes for the
    // closed ones it returned.
    let journal = s.running.journal();
    let listings: Vec<_> = journal
        .iter()
        .filter(|e| e.path.ends_with("/service/tickets"))
        .collect();
    assert_eq!(listings.len(), 1, "{journal:?}");
    let query = listings[0].query.as_deref().unwrap_or_default();
    assert!(query.contains("lastUpdated"), "{query}");
    assert_eq!(stats.listed, 1 + ties, "{stats:?}");
    assert!(ties <= 3, "{ties} tickets share the cursor's second");
    let notes = journal
        .iter()
        .filter(|e| e.path.ends_with("/notes"))
        .count();
    assert!(
        (1..=1 + ties).contains(&notes),
        "{notes} notes reads, {ties} ties"
    );

    // Reopened, it leaves the index; the rest stays.
    let new_status = s
        .manage()
        .get(
            &call,
            &format!("/service/boards/{board}/statuses"),
            &Query::new().conditions("name = \"In Progress\""),
        )
        .await
        .unwrap()[0]["id"]
        .clone();
    s.manage()
        .patch(
            &call,
            &format!("/service/tickets/{id}"),
            &[PatchOp::replace("status/id", new_status)],
        )
        .await
        .unwrap();
    let stats = index
        .refresh(s.manage(), &Call::new(Budget { max_calls: 100 }))
        .await
        .unwrap();
    assert_eq!(stats.removed, 1, "{stats:?}");
    assert_eq!(index.ids().collect::<BTreeSet<_>>(), before);

    // What was refreshed was persisted.
    let (reopened, opened) = HistoryIndex::open(dir.path(), s.redactor.clone()).unwrap();
    assert_eq!(
        opened,
        Opened::Loaded {
            tickets: before.len()
        }
    );
    assert_eq!(reopened.cursor(), index.cursor());
    s.running.shutdown().await;
}

#[tokio::test]
async fn a_deleted_or_corrupt_index_is_detected_and_rebuilt() {
    let s = sandbox().await;
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("history");
    let (index, _) = s.build(&dir).await;
    let full = index.len();
    let file = dir.join(FILE_NAME);
    let intact = std::fs::read(&file).unwrap();

    let mut flipped = intact.clone();
    let middle = flipped.len() / 2;
    flipped[middle] ^= 0x20;
    let cases: [(&str, Option<Vec<u8>>, &str); 4] = [
        ("deleted", None, "cannot be read"),
        ("flipped", Some(flipped), "checksum"),
        (
            "truncated",
            Some(intact[..intact.len() - 100].to_vec()),
            "bytes",
        ),
        ("emptied", Some(Vec::new()), "header"),
    ];
    for (what, bytes, reason) in cases {
        match bytes {
            None => std::fs::remove_dir_all(&dir).unwrap(),
            Some(b) => std::fs::write(&file, b).unwrap(),
        }
        let (mut index, opened) = HistoryIndex::open(&dir, s.redactor.clone()).unwrap();
        match &opened {
            Opened::Rebuilt { reason: r } => assert!(r.contains(reason), "{what}: {r}"),
            other => panic!("{what}: {other:?}"),
        }
        assert!(
            index.is_empty(),
            "{what}: nothing trusted from the damaged file"
        );
        refresh_all(&mut index, s.manage()).await;
        assert_eq!(index.len(), full, "{what}");
        let (_, opened) = HistoryIndex::open(&dir, s.redactor.clone()).unwrap();
        assert_eq!(opened, Opened::Loaded { tickets: full }, "{what}");
    }
    s.running.shutdown().await;
}

#[tokio::test]
async fn no_planted_personal_data_reaches_the_index_files() {
    let s = sandbox().await;
    let dir = tempfile::tempdir().unwrap();
    let (index, _) = s.build(dir.path()).await;
    let truth = s.running.truth();
    // Some of the planted values sit in indexed descriptions, so the check can fail.
    let indexed: Vec<_> = truth
        .pii
        .iter()
        .filter(|p| index.get(p.location.ticket_id).is_some())
        .collect();
    assert!(
        indexed.len() >= 4,
        "{} planted values in closed tickets",
        indexed.len()
    );
    let mut bytes = Vec::new();
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        bytes.extend(std::fs::read(entry.unwrap().path()).unwrap());
    }
    let text = String::from_utf8_lossy(&bytes);
    assert!(
        text.contains("[email]") && text.contains("[phone]"),
        "redacted, not dropped"
    );
    for p in &truth.pii {
        assert!(
            !text.contains(&p.value),
            "{} {:?} in the index",
            p.kind,
            p.value
        );
    }
    s.running.shutdown().await;
}

#[tokio::test]
async fn precedents_predict_the_board_and_priority_of_held_out_tickets() {
    let s = sandbox().await;
    let dir = tempfile::tempdir().unwrap();
    let (index, _) = s.build(dir.path()).await;
    let truth = &s.running.truth().closed;
    let (mut scored, mut board_hits, mut priority_hits) = (0, 0, 0);
    for c in truth {
        let doc = index.get(c.ticket_id).unwrap();
        let text = format!("{} {}", doc.summary, doc.description);
        // Only what was closed before it, and never itself: the backtest's rule.
        let precedents = index.similar(&text, 5, Some(doc.closed), Some(doc.id));
        if precedents.len() < 3 {
            continue; // the first tickets of the history have too little before them
        }
        assert!(
            precedents
                .iter()
                .all(|p| p.closed < doc.closed && p.id != doc.id)
        );
        scored += 1;
        let board = support::majority(
            precedents
                .iter()
                .filter_map(|p| p.board.as_ref().map(|b| b.name.as_str())),
        );
        let priority = support::majority(
            precedents
                .iter()
                .filter_map(|p| p.priority.as_ref().map(|b| b.name.as_str())),
        );
        board_hits += usize::from(board == c.labels.board.name);
        priority_hits += usize::from(priority == c.labels.priority.name);
    }
    let rate = |hits: usize| hits as f64 / scored.max(1) as f64;
    println!(
        "history retrieval, majority of top 5 over {scored} held-out tickets: board {:.0}%, priority {:.0}%",
        100.0 * rate(board_hits),
        100.0 * rate(priority_hits)
    );
    assert!(scored >= 250, "{scored} scored");
    assert!(rate(board_hits) >= 0.7, "board {:.2}", rate(board_hits));
    assert!(
        rate(priority_hits) >= 0.6,
        "priority {:.2}",
        rate(priority_hits)
    );
    s.running.shutdown().await;
}

#[test]
fn precedents_serialise_with_their_labels_as_id_and_name() {
    let index = HistoryIndex::from_docs(
        [daemon::history::Doc {
            id: 7,
            closed: chrono::Utc::now(),
            updated: chrono::Utc::now(),
            summary: "Printer offline".into(),
            description: "Call me on +1 (415) 555-0160.".into(),
            resolution: "Re-added the port.".into(),
            board: Some(daemon::history::Label {
                id: 4,
                name: "Field Services".into(),
            }),
            kind: None,
            sub_type: None,
            item: None,
            priority: None,
        }],
        Arc::new(Redactor::new(Vec::<String>::new())),
    );
    assert_eq!(index.get(7).unwrap().description, "Call me on [phone].");
    let hit = &index.similar("printer", 1, None, None)[0];
    let v = serde_json::to_value(hit).unwrap();
    assert_eq!(v["board"], json!({"id": 4, "name": "Field Services"}));
    assert_eq!(v["id"], 7);
}
