//! Invariant 4 at start-up: an action left `ActionExecuting` without an outcome (the daemon died
//! after the request left) is recorded as `ActionOutcomeUnknown` once, and never retried.

use std::time::Duration;

use daemon::log::{Draft, Options, Reader, Store};
use daemon::paths::Paths;
use schemas::event::{Event, Principal, UpstreamRequest};
use tokio_util::sync::CancellationToken;

fn settings(root: &std::path::Path) -> daemon::Settings {
    daemon::Settings {
        paths: Paths {
            config_dir: root.join("c"),
            state_dir: root.join("s"),
            runtime_dir: root.join("r"),
        },
        config: Default::default(),
        config_sources: vec!["test".into()],
        sandbox: None,
        allow_broken_log: false,
    }
}

/// Run the daemon in process until its socket answers, then stop it.
async fn start_and_stop(root: &std::path::Path) {
    let settings = settings(root);
    let socket = settings.paths.control_socket();
    let shutdown = CancellationToken::new();
    let daemon = tokio::spawn(daemon::run(settings, shutdown.clone()));
    for _ in 0..500 {
        if tokio::net::UnixStream::connect(&socket).await.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    shutdown.cancel();
    daemon.await.expect("daemon task").expect("daemon run");
}

fn unknown_outcomes(root: &std::path::Path) -> Vec<(String, u64)> {
    let paths = settings(root).paths;
    let reader =
        Reader::open(&paths.log_dir(), &paths.checkpoint_file(), 1 << 20).expect("open log");
    reader
        .range(0, u64::MAX)
        .filter_map(|e| match e.expect("event").event {
            Event::ActionOutcomeUnknown {
                call_id,
                executing_seq,
                ..
            } => Some((call_id, executing_seq)),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn an_action_executing_at_a_crash_becomes_outcome_unknown_once() {
    let root = tempfile::tempdir().expect("temp dir");
    let paths = settings(root.path()).paths;
    paths.create_private_dirs().expect("dirs");
    // What a crash between `ActionExecuting` and the response leaves behind.
    let executing_seq = {
        let (store, _) = Store::open(
            &paths.log_dir(),
            &paths.checkpoint_file(),
            Options::default(),
        )
        .expect("open");
        let request = |path: &str| UpstreamRequest {
            product: "manage".into(),
            method: "PATCH".into(),
            path: path.into(),
            body: Some(serde_json::json!([{"op": "replace", "path": "status/id", "value": 17}])),
        };
        let executing = |call: &str, path: &str| {
            Draft::new(
                Principal::Interactive {
                    name: "claude-code".into(),
                },
                Event::ActionExecuting {
                    call_id: call.into(),
                    proposal_id: None,
                    tool: "cw_tickets".into(),
                    action: "update".into(),
                    request: request(path),
                },
            )
        };
        store
            .append(executing("done", "/service/tickets/1"))
            .await
            .expect("append");
        store
            .append(Draft::new(
                Principal::Interactive {
                    name: "claude-code".into(),
                },
                Event::ActionExecuted {
                    call_id: "done".into(),
                    proposal_id: None,
                    status: 200,
                    result_digest: "ab".repeat(32),
                    record: None,
                    duration_ms: 12,
                },
            ))
            .await
            .expect("append");
        let seq = store
            .append(executing("lost", "/service/tickets/2"))
            .await
            .expect("append")
            .seq;
        store.close().await;
        seq
    };

    start_and_stop(root.path()).await;
    assert_eq!(
        unknown_outcomes(root.path()),
        vec![("lost".to_owned(), executing_seq)]
    );

    // The next start finds nothing in flight: recorded once, never retried.
    start_and_stop(root.path()).await;
    assert_eq!(unknown_outcomes(root.path()).len(), 1);
}
