//! MCP with a real rmcp client: over the daemon's socket (the daemon run in process on the
//! built-in sandbox) and over the in-process duplex session the night agent uses. Lists the
//! tools, calls a read, a write without and with confirm (the sandbox journal shows what was
//! sent), and a hard action that waits with progress and ends approved, denied, cancelled or
//! timed out.
#![allow(clippy::unwrap_used, reason = "test helpers abort on any failure")]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use daemon::approvals::{Settlement, Settlements};
use daemon::catalog::Context;
use daemon::connector::{Connectors, Policy, Settings};
use daemon::gate::{Caller, Gate};
use daemon::log::{Options, Store};
use daemon::mcp;
use daemon::redact::Redactor;
use rmcp::model::{
    CallToolRequestParams, ClientCapabilities, ClientConfig, ClientRequest, Implementation,
    ProgressNotificationParam, Request, ServerResult,
};
use rmcp::service::{NotificationContext, PeerRequestOptions, RunningService};
use rmcp::{ClientHandler, RoleClient, ServiceExt};
use schemas::config::GateConfig;
use schemas::event::{DenialReason, Event, Mode, Principal, Risk};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio_util::sync::CancellationToken;

/// A client that records the progress notifications it receives.
#[derive(Clone, Default)]
struct Recorder {
    progress: Arc<Mutex<Vec<ProgressNotificationParam>>>,
}

impl ClientHandler for Recorder {
    fn get_info(&self) -> ClientConfig {
        ClientConfig::new(
            ClientCapabilities::default(),
            Implementation::new("nightjar-test-client", "1.0"),
        )
    }

    async fn on_progress(
        &self,
        params: ProgressNotificationParam,
        _context: NotificationContext<RoleClient>,
    ) {
        self.progress.lock().unwrap().push(params);
    }
}

fn args(action: &str, params: Value, confirm: bool) -> CallToolRequestParams {
    let Value::Object(map) = json!({"action": action, "params": params, "confirm": confirm}) else {
        unreachable!()
    };
    CallToolRequestParams::new("cw_tickets").with_arguments(map)
}

async fn call(
    client: &RunningService<RoleClient, Recorder>,
    action: &str,
    params: Value,
    confirm: bool,
) -> Value {
    let result = client
        .call_tool(args(action, params, confirm))
        .await
        .unwrap();
    result.structured_content.unwrap()
}

/// Sends a call with a progress token and returns its handle.
async fn start_call(
    client: &RunningService<RoleClient, Recorder>,
    action: &str,
    params: Value,
) -> rmcp::service::RequestHandle<RoleClient> {
    client
        .send_cancellable_request(
            ClientRequest::CallToolRequest(Request::new(args(action, params, true))),
            PeerRequestOptions::with_timeout(Duration::from_secs(30)),
        )
        .await
        .unwrap()
}

fn text_of(result: &ServerResult) -> (String, Value) {
    let ServerResult::CallToolResult(r) = result else {
        panic!("not a tool result: {result:?}")
    };
    let first = r.content[0]
        .as_text()
        .map(|t| t.text.clone())
        .unwrap_or_default();
    (first, r.structured_content.clone().unwrap_or(Value::Null))
}

/// The status line of a control-socket `status`, for the embedded sandbox's URL.
async fn sandbox_url(control: &std::path::Path) -> String {
    let stream = tokio::net::UnixStream::connect(control).await.unwrap();
    let (read, mut write) = stream.into_split();
    write
        .write_all(b"{\"protocol_version\":1,\"client\":\"mcp-test\"}\n{\"request\":\"status\"}\n")
        .await
        .unwrap();
    let mut lines = BufReader::new(read).lines();
    lines.next_line().await.unwrap();
    let status: Value = serde_json::from_str(&lines.next_line().await.unwrap().unwrap()).unwrap();
    status["body"]["sandbox_url"].as_str().unwrap().to_owned()
}

async fn journal(http: &reqwest::Client, url: &str) -> Vec<Value> {
    let body: Value = http
        .get(format!("{url}/__sandbox/journal"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    body["entries"].as_array().unwrap().clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_rmcp_client_over_the_socket_lists_reads_previews_writes_and_times_out_on_hard() {
    let root = tempfile::tempdir().unwrap();
    let paths = daemon::paths::Paths {
        config_dir: root.path().join("c"),
        state_dir: root.path().join("s"),
        runtime_dir: root.path().join("r"),
    };
    let mut config = schemas::config::Config::default();
    // Closing is hard for everyone here, so an interactive call waits for a verdict.
    config
        .gate
        .stricter
        .insert("cw_tickets.close".into(), Risk::Hard);
    config.mcp.approval_wait_secs = 3;
    let settings = daemon::Settings {
        paths: paths.clone(),
        config,
        config_sources: vec!["test".into()],
        sandbox: Some(42),
        allow_broken_log: false,
    };
    let shutdown = CancellationToken::new();
    let daemon = tokio::spawn(daemon::run(settings, shutdown.clone()));
    let socket = paths.mcp_socket();
    for _ in 0..1000 {
        if tokio::net::UnixStream::connect(&socket).await.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let url = sandbox_url(&paths.control_socket()).await;
    let http = reqwest::Client::new();
    let truth: Value = http
        .get(format!("{url}/__sandbox/truth"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = truth["untriaged"][0]["ticket_id"].as_i64().unwrap();

    let recorder = Recorder::default();
    let stream = tokio::net::UnixStream::connect(&socket).await.unwrap();
    let client = recorder.clone().serve(stream).await.unwrap();
    let info = client.peer_info().unwrap();
    assert_eq!(info.server_info.clone().unwrap().name, "nightjard");
    assert!(
        info.instructions
            .as_deref()
            .unwrap()
            .contains("action table")
    );

    // Fourteen tools with annotations and schemas.
    let tools = client.list_all_tools().await.unwrap();
    assert_eq!(tools.len(), 14);
    for t in &tools {
        assert!(t.annotations.is_some(), "{} has no annotations", t.name);
        assert_eq!(t.input_schema["type"], "object", "{}", t.name);
    }
    let meta = tools.iter().find(|t| t.name == "cw_meta").unwrap();
    assert_eq!(
        meta.annotations.as_ref().unwrap().read_only_hint,
        Some(true)
    );

    // A read.
    let got = call(&client, "get", json!({"id": id}), false).await;
    assert_eq!(got["status"], "ok");
    assert_eq!(got["result"]["id"], id);

    // A write without confirm: the exact request, nothing sent.
    http.delete(format!("{url}/__sandbox/journal"))
        .send()
        .await
        .unwrap();
    let preview = call(
        &client,
        "update",
        json!({"id": id, "priority_id": 2}),
        false,
    )
    .await;
    assert_eq!(preview["status"], "preview");
    assert_eq!(preview["request"]["method"], "PATCH");
    // Nothing sent: the journal may hold only reads (the daemon's history index catches up in
    // the background at start).
    assert!(
        journal(&http, &url)
            .await
            .iter()
            .all(|e| e["method"] == "GET"),
        "a preview sent a write"
    );

    // With confirm: executed, one PATCH.
    let executed = call(&client, "update", json!({"id": id, "priority_id": 2}), true).await;
    assert_eq!(executed["status"], "executed", "{executed}");
    let patches: Vec<Value> = journal(&http, &url)
        .await
        .into_iter()
        .filter(|e| e["method"] == "PATCH")
        .collect();
    assert_eq!(patches.len(), 1);

    // A hard action: waits, reports progress, times out without running.
    http.delete(format!("{url}/__sandbox/journal"))
        .send()
        .await
        .unwrap();
    let handle = start_call(&client, "close", json!({"id": id})).await;
    let answer = handle.await_response().await.unwrap();
    let (headline, outcome) = text_of(&answer);
    assert!(
        headline.starts_with("timed out (not executed)"),
        "{headline}"
    );
    assert_eq!(outcome["reason"], "approval_timed_out");
    assert!(
        recorder.progress.lock().unwrap().len() >= 2,
        "progress while waiting: {:?}",
        recorder.progress.lock().unwrap()
    );
    assert!(
        journal(&http, &url)
            .await
            .iter()
            .all(|e| e["method"] == "GET"),
        "a hard action was sent"
    );
    client.cancel().await.unwrap();

    shutdown.cancel();
    daemon.await.unwrap().unwrap();
    // The session, its principal, and the withdrawn proposal are on record.
    let reader =
        daemon::log::Reader::open(&paths.log_dir(), &paths.checkpoint_file(), 1 << 20).unwrap();
    let events: Vec<_> = reader.range(0, u64::MAX).map(|e| e.unwrap()).collect();
    let opened = events
        .iter()
        .find(|e| matches!(e.event, Event::SessionOpened { .. }))
        .unwrap();
    assert_eq!(
        opened.principal,
        Principal::Interactive {
            name: "nightjar-test-client".into()
        }
    );
    assert!(events.iter().any(|e| matches!(
        e.event,
        Event::ActionDenied {
            reason: DenialReason::ApprovalTimedOut,
            ..
        }
    )));
    assert!(
        events
            .iter()
            .any(|e| matches!(&e.event, Event::SessionClosed { calls, .. } if *calls == 4))
    );
    assert!(reader.verify_all().unwrap().problem.is_none());
}

struct InProcess {
    tenant: sandbox::Running,
    shared: mcp::Shared,
    store: Store,
    _dir: tempfile::TempDir,
}

async fn in_process_world() -> InProcess {
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
        Connectors::new(&settings, &Policy::default()),
        settings.connector_states(),
        chrono::NaiveDate::from_ymd_opt(2026, 3, 2).unwrap(),
    ));
    let mut config = GateConfig::default();
    config
        .stricter
        .insert("cw_tickets.close".into(), Risk::Hard);
    let gate = Gate::new(
        store.clone(),
        ctx,
        Arc::new(Redactor::new(settings.secrets())),
        config,
    )
    .unwrap();
    InProcess {
        tenant,
        shared: mcp::Shared {
            gate,
            settlements: Arc::new(Settlements::default()),
            approval_wait: Duration::from_secs(20),
        },
        store,
        _dir: dir,
    }
}

async fn connect(
    w: &InProcess,
    caller: Caller,
) -> (RunningService<RoleClient, Recorder>, Recorder) {
    let (stream, _task) = mcp::in_process(w.shared.clone(), caller, CancellationToken::new());
    let recorder = Recorder::default();
    let client = recorder.clone().serve(stream).await.unwrap();
    (client, recorder)
}

/// Waits until a call is waiting on a proposal, and returns its id.
async fn waiting_proposal(settlements: &Settlements) -> String {
    for _ in 0..500 {
        if let Some(id) = settlements.waiting().into_iter().next() {
            return id;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("no call started waiting for a verdict");
}

#[tokio::test]
async fn a_waiting_hard_call_ends_approved_denied_or_cancelled_as_the_verdict_source_says() {
    let w = in_process_world().await;
    let ids: Vec<i64> = w
        .tenant
        .truth()
        .untriaged
        .iter()
        .map(|u| u.ticket_id)
        .collect();
    let (client, recorder) = connect(&w, Caller::interactive("claude-code", Mode::Enforce)).await;

    // Approved: the verdict path executed it and says so.
    let handle = start_call(&client, "close", json!({"id": ids[0]})).await;
    let proposal = waiting_proposal(&w.shared.settlements).await;
    assert!(w.store.projections().pending.contains_key(&proposal));
    w.shared.settlements.settle(
        &proposal,
        Settlement::Executed {
            result: json!({"id": ids[0], "closedFlag": true}),
            key_id: "k-ops".into(),
            upstream_requests: 1,
        },
    );
    let (headline, outcome) = text_of(&handle.await_response().await.unwrap());
    assert!(headline.starts_with("approved and executed"), "{headline}");
    assert_eq!(outcome["status"], "executed");
    // The first report is sent before the wait can end; the client's handler may run a moment
    // after the answer arrives.
    for _ in 0..200 {
        if !recorder.progress.lock().unwrap().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(
        !recorder.progress.lock().unwrap().is_empty(),
        "progress while waiting"
    );

    // Denied, with the human's reason.
    let handle = start_call(&client, "close", json!({"id": ids[1]})).await;
    let proposal = waiting_proposal(&w.shared.settlements).await;
    w.shared.settlements.settle(
        &proposal,
        Settlement::Denied {
            reason: "customer still has the problem".into(),
            key_id: "k-ops".into(),
        },
    );
    let (headline, outcome) = text_of(&handle.await_response().await.unwrap());
    assert_eq!(headline, "denied (customer still has the problem)");
    assert_eq!(outcome["reason"], "human_denied");

    // Cancelled by the client: the proposal is withdrawn, recorded as a cancellation.
    let handle = start_call(&client, "close", json!({"id": ids[2]})).await;
    let proposal = waiting_proposal(&w.shared.settlements).await;
    handle
        .cancel(Some("user pressed stop".into()))
        .await
        .unwrap();
    let mut withdrawn = false;
    for _ in 0..500 {
        withdrawn = w.store.range(0, u64::MAX).any(|e| {
            matches!(e.unwrap().event, Event::ActionDenied { reason: DenialReason::Cancelled, proposal_id: Some(ref p), .. } if *p == proposal)
        });
        if withdrawn {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(
        withdrawn,
        "the cancelled wait did not withdraw its proposal"
    );
    assert!(!w.store.projections().pending.contains_key(&proposal));
    // Nothing hard reached the sandbox in any of this.
    assert!(
        w.tenant.journal().iter().all(|e| e.method == "GET"),
        "{:?}",
        w.tenant.journal()
    );
    client.cancel().await.unwrap();
    w.tenant.shutdown().await;
}

#[tokio::test]
async fn an_in_process_skill_session_is_the_skill_principal_and_never_waits() {
    let w = in_process_world().await;
    let id = w.tenant.truth().untriaged[0].ticket_id;
    let skill = Caller {
        principal: Principal::Skill {
            skill: "msp-night-triage".into(),
            run_id: "r-1".into(),
        },
        mode: Mode::Enforce,
        allowed: None,
    };
    let (client, _) = connect(&w, skill.clone()).await;
    // The night agent queues a hard action and moves on at once.
    let queued = call(&client, "close", json!({"id": id}), true).await;
    assert_eq!(queued["status"], "pending_approval", "{queued}");
    assert!(w.shared.settlements.waiting().is_empty());
    client.cancel().await.unwrap();
    let opened = w
        .store
        .range(0, u64::MAX)
        .map(|e| e.unwrap())
        .find(|e| matches!(e.event, Event::SessionOpened { .. }))
        .unwrap();
    assert_eq!(opened.principal, skill.principal);
    assert_eq!(opened.run_id.as_deref(), Some("r-1"));
    let Event::SessionOpened { transport, .. } = &opened.event else {
        unreachable!()
    };
    assert_eq!(transport, "in_process");
    w.tenant.shutdown().await;
}
