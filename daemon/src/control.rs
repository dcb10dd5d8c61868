//! The control socket: `nightjarctl` talks to the daemon here (newline-delimited JSON, see
//! `schemas::control`).
//!
//! The socket lives in the 0700 runtime directory and is created 0600 (fchmod before bind);
//! every accepted connection's peer uid is checked with SO_PEERCRED and other uids are dropped.
//! Each connection runs in its own task: a panic or error in one never reaches the others or the
//! accept loop.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::StreamExt;
use interprocess::local_socket::tokio::{Listener, Stream, prelude::*};
use interprocess::local_socket::{GenericFilePath, ListenerOptions, ToFsName};
use interprocess::os::unix::local_socket::ListenerOptionsExt;
use schemas::control::{
    ControlError, ControlErrorKind, Hello, HelloReply, PROTOCOL_VERSION, Request, Response,
    StatusReport, Welcome,
};
use tokio::io::AsyncWriteExt;
use tokio::sync::{Semaphore, broadcast};
use tokio::task::JoinSet;
use tokio_util::codec::{FramedRead, LinesCodec};
use tokio_util::sync::CancellationToken;

use crate::log::Store;

/// Longest request line accepted; longer lines get an error and the connection is closed.
pub const MAX_LINE: usize = 64 * 1024;
/// How long a client may take to say hello.
const HELLO_TIMEOUT: Duration = Duration::from_secs(10);
/// Events read from the store per blocking batch when streaming.
const READ_CHUNK: u64 = 2048;

#[derive(Debug, thiserror::Error)]
pub enum BindError {
    #[error("another nightjard is serving on {0}; stop it or use another --runtime-dir")]
    InUse(PathBuf),
    #[error("cannot create the control socket {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Create the listener at `path`, replacing a stale socket file only when nothing answers on it.
pub async fn bind(path: &Path) -> Result<Listener, BindError> {
    if path.exists() && tokio::net::UnixStream::connect(path).await.is_ok() {
        return Err(BindError::InUse(path.to_owned()));
    }
    let io = |source| BindError::Io {
        path: path.to_owned(),
        source,
    };
    let name = path.to_fs_name::<GenericFilePath>().map_err(io)?;
    ListenerOptions::new()
        .name(name)
        .try_overwrite(true)
        .mode(0o600)
        .create_tokio()
        .map_err(io)
}

/// Whether the peer runs as our own effective uid.
pub(crate) fn peer_is_owner(conn: &Stream) -> bool {
    let me = nix::unistd::geteuid().as_raw();
    match conn.peer_creds() {
        Ok(creds) => creds.euid() == Some(me),
        Err(_) => false,
    }
}

/// Accept connections until `cancel`, serving each with `handler` in its own task, at most `max`
/// at once. Returns when every connection task has finished.
pub async fn accept_loop<F, Fut>(
    listener: Listener,
    max: usize,
    cancel: CancellationToken,
    handler: F,
) where
    F: Fn(Stream) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let slots = Arc::new(Semaphore::new(max.max(1)));
    let mut tasks = JoinSet::new();
    loop {
        let permit = tokio::select! {
            _ = cancel.cancelled() => break,
            permit = Arc::clone(&slots).acquire_owned() => match permit {
                Ok(p) => p,
                Err(_) => break,
            },
        };
        let conn = tokio::select! {
            _ = cancel.cancelled() => break,
            Some(done) = tasks.join_next(), if !tasks.is_empty() => {
                report(done);
                continue;
            }
            conn = listener.accept() => conn,
        };
        let conn = match conn {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(error = %e, "control socket accept failed");
                continue;
            }
        };
        if !peer_is_owner(&conn) {
            tracing::warn!(peer = ?conn.peer_creds().ok().map(|c| (c.pid(), c.euid())), "refused a control connection from another user");
            continue;
        }
        let fut = handler(conn);
        tasks.spawn(async move {
            fut.await;
            drop(permit);
        });
    }
    drop(listener);
    while let Some(done) = tasks.join_next().await {
        report(done);
    }
}

fn report(done: Result<(), tokio::task::JoinError>) {
    if let Err(e) = done
        && e.is_panic()
    {
        tracing::error!("a control connection panicked; the daemon carries on: {e}");
    }
}

/// What a control connection can reach.
#[derive(Debug, Clone)]
pub struct Context {
    pub store: Store,
    pub started_at: DateTime<Utc>,
    pub sandbox_url: Option<String>,
    pub connectors: Vec<schemas::event::ConnectorState>,
    pub config_dir: PathBuf,
    pub state_dir: PathBuf,
    pub socket: PathBuf,
    pub cancel: CancellationToken,
    /// Tool calls from `nightjarctl call` go through the same gate as every MCP session.
    pub gate: crate::gate::Gate,
    /// Verdicts, keys and mode changes from `nightjarctl`.
    pub approvals: crate::approvals::Approvals,
    /// `nightjarctl run` and `nightjarctl schedule`.
    pub night: Arc<crate::night::Night>,
    pub timezone: chrono_tz::Tz,
}

fn refused(e: crate::approvals::ActError) -> Response {
    let kind = match e {
        crate::approvals::ActError::Log(_) => ControlErrorKind::Internal,
        _ => ControlErrorKind::Refused,
    };
    error(kind, e.to_string())
}

fn schedule(ctx: &Context) -> Vec<schemas::control::ScheduleEntry> {
    let now = chrono::Utc::now();
    let tz = ctx.timezone;
    crate::night::schedules(&ctx.night)
        .into_iter()
        .map(|(skill, expr)| {
            let parsed = expr.as_deref().map(str::parse::<crate::scheduler::Crontab>);
            let (next, problem) = match (&parsed, ctx.night.config().scheduler.enabled) {
                (_, false) => (
                    Vec::new(),
                    Some("the scheduler is off ([scheduler] enabled = false)".into()),
                ),
                (Some(Ok(tab)), true) => (tab.upcoming(tz, now, 3), None),
                (Some(Err(e)), true) => (Vec::new(), Some(e.to_string())),
                (None, true) => (Vec::new(), Some("not scheduled".into())),
            };
            schemas::control::ScheduleEntry {
                mode: ctx.night.mode_of(&skill),
                running: ctx.night.is_running(&skill),
                next_local: next
                    .iter()
                    .map(|t| t.with_timezone(&tz).to_rfc3339())
                    .collect(),
                next,
                schedule: expr,
                timezone: tz.name().to_owned(),
                problem,
                skill,
            }
        })
        .collect()
}

/// Serve one control connection: handshake, then requests until EOF or shutdown.
pub async fn serve_connection(ctx: Arc<Context>, conn: Stream) {
    if let Err(e) = serve(&ctx, &conn).await {
        tracing::debug!(error = %e, "control connection ended");
    }
}

async fn serve(ctx: &Context, conn: &Stream) -> std::io::Result<()> {
    let mut lines = FramedRead::new(conn, LinesCodec::new_with_max_length(MAX_LINE));
    let mut out = conn;
    let hello = match tokio::time::timeout(HELLO_TIMEOUT, lines.next()).await {
        Ok(Some(Ok(line))) => line,
        _ => return Ok(()),
    };
    let reply = match serde_json::from_str::<Hello>(&hello) {
        Ok(h) if h.protocol_version == PROTOCOL_VERSION => HelloReply::Welcome(Welcome {
            protocol_version: PROTOCOL_VERSION,
            daemon_version: env!("CARGO_PKG_VERSION").to_owned(),
        }),
        Ok(h) => HelloReply::Error(incompatible(&format!(
            "client speaks protocol {}",
            h.protocol_version
        ))),
        Err(e) => HelloReply::Error(incompatible(&format!(
            "the client's hello was not understood ({e})"
        ))),
    };
    let welcomed = matches!(reply, HelloReply::Welcome(_));
    write_line(&mut out, &reply).await?;
    if !welcomed {
        return Ok(());
    }
    loop {
        let line = tokio::select! {
            _ = ctx.cancel.cancelled() => return Ok(()),
            line = lines.next() => line,
        };
        let line = match line {
            None => return Ok(()),
            Some(Ok(line)) => line,
            Some(Err(e)) => {
                let err = error(
                    ControlErrorKind::BadRequest,
                    format!("unreadable request: {e}"),
                );
                write_line(&mut out, &err).await?;
                return Ok(());
            }
        };
        let request = match serde_json::from_str::<Request>(&line) {
            Ok(r) => r,
            Err(e) => {
                write_line(
                    &mut out,
                    &error(ControlErrorKind::BadRequest, format!("bad request: {e}")),
                )
                .await?;
                continue;
            }
        };
        match request {
            Request::Status => {
                write_line(&mut out, &Response::Status(Box::new(status(ctx)))).await?
            }
            Request::VerifyLog => {
                let store = ctx.store.clone();
                let response = match tokio::task::spawn_blocking(move || store.verify_all()).await {
                    Ok(Ok(report)) => Response::Verify(report),
                    Ok(Err(e)) => error(ControlErrorKind::Internal, e.to_string()),
                    Err(e) => error(ControlErrorKind::Internal, e.to_string()),
                };
                write_line(&mut out, &response).await?;
            }
            Request::Call(call) => {
                let caller =
                    crate::gate::Caller::interactive("nightjarctl", ctx.gate.interactive_mode());
                let outcome = ctx.gate.dispatch(&caller, call).await;
                write_line(&mut out, &Response::Outcome(Box::new(outcome))).await?;
            }
            Request::Pending => {
                let pending = ctx.approvals.pending();
                write_line(&mut out, &Response::Pending(pending)).await?;
            }
            Request::Verdict(signed) => {
                let reply = ctx.approvals.verdict(&signed).await;
                write_line(&mut out, &Response::Verdict(Box::new(reply))).await?;
            }
            Request::Enroll {
                public_key,
                label,
                approval,
            } => {
                let response = match ctx
                    .approvals
                    .enroll(&public_key, &label, approval.as_ref())
                    .await
                {
                    Ok(key) => Response::Key(key),
                    Err(e) => refused(e),
                };
                write_line(&mut out, &response).await?;
            }
            Request::Keys => {
                write_line(&mut out, &Response::Keys(ctx.approvals.keys())).await?;
            }
            Request::Revoke(signed) => {
                let response = match ctx.approvals.revoke(&signed).await {
                    Ok(key) => Response::Key(key),
                    Err(e) => refused(e),
                };
                write_line(&mut out, &response).await?;
            }
            Request::SetMode(signed) => {
                let response = match ctx.approvals.set_mode(&signed).await {
                    Ok((skill, from, to)) => Response::ModeSet { skill, from, to },
                    Err(e) => refused(e),
                };
                write_line(&mut out, &response).await?;
            }
            Request::Run { skill } => {
                let response = tokio::select! {
                    _ = ctx.cancel.cancelled() => return Ok(()),
                    r = ctx.night.run(&skill, schemas::event::RunTrigger::Manual, None) => match r {
                        Ok(summary) => Response::Run(Box::new(summary)),
                        Err(e @ crate::night::RunError::AlreadyRunning(_)) => {
                            error(ControlErrorKind::Busy, e.to_string())
                        }
                        Err(e @ crate::night::RunError::Log(_)) => {
                            error(ControlErrorKind::Internal, e.to_string())
                        }
                        Err(e) => error(ControlErrorKind::BadRequest, e.to_string()),
                    },
                };
                write_line(&mut out, &response).await?;
            }
            Request::Schedule => {
                write_line(&mut out, &Response::Schedule(schedule(ctx))).await?;
            }
            Request::EvalTriage {
                since_days,
                limit,
                k,
                model,
            } => {
                let mut config = ctx.night.model().cloned();
                if let (Some(c), Some(m)) = (config.as_mut(), model) {
                    c.model = m;
                }
                let options = crate::eval::Options {
                    since_days,
                    limit,
                    k,
                };
                let response = match crate::eval::triage(&ctx.gate, config, options).await {
                    Ok(b) => Response::Backtest(Box::new(b)),
                    Err(e) => error(ControlErrorKind::Refused, e.to_string()),
                };
                write_line(&mut out, &response).await?;
            }
            Request::Feed { since, run, all } => {
                let store = ctx.store.clone();
                let window = crate::feed::Window { since, run, all };
                let loaded = tokio::task::spawn_blocking(move || {
                    crate::feed::load_until(store.reader(), &window, store.len())
                        .map_err(|e| e.to_string())
                })
                .await
                .unwrap_or_else(|e| Err(e.to_string()));
                match loaded {
                    Ok((events, basis)) => {
                        for envelope in events {
                            write_line(&mut out, &Response::Event(Box::new(envelope))).await?;
                        }
                        write_line(&mut out, &Response::FeedBasis(Box::new(basis))).await?;
                    }
                    Err(e) => {
                        write_line(&mut out, &error(ControlErrorKind::Internal, e)).await?;
                    }
                }
            }
            Request::TrustRefresh => {
                let response = match crate::shadow::refresh(&ctx.gate, Utc::now()).await {
                    Ok(r) => Response::TrustRefreshed(r),
                    Err(e) => error(ControlErrorKind::Internal, e.to_string()),
                };
                write_line(&mut out, &response).await?;
            }
            Request::Checkpoint => {
                let response = match ctx.store.checkpoint().await {
                    Ok(cp) => Response::Checkpoint(cp),
                    Err(e) => error(ControlErrorKind::Internal, e.to_string()),
                };
                write_line(&mut out, &response).await?;
            }
            Request::Tail { from, last, follow } => {
                // Subscribe before reading the backlog so nothing falls between the two.
                let mut live = follow.then(|| ctx.store.subscribe());
                let len = ctx.store.len();
                let start = from.unwrap_or_else(|| len.saturating_sub(last.unwrap_or(20)));
                let mut next = send_range(ctx, &mut out, start, len).await?;
                let Some(live) = live.as_mut() else {
                    write_line(&mut out, &Response::End).await?;
                    continue;
                };
                loop {
                    let event = tokio::select! {
                        _ = ctx.cancel.cancelled() => return Ok(()),
                        // The client closing its side ends the follow.
                        closed = lines.next() => match closed {
                            None | Some(Err(_)) => return Ok(()),
                            Some(Ok(_)) => continue,
                        },
                        event = live.recv() => event,
                    };
                    match event {
                        Ok(envelope) if envelope.seq >= next => {
                            if envelope.seq > next {
                                send_range(ctx, &mut out, next, envelope.seq).await?;
                            }
                            write_line(&mut out, &Response::Event(Box::new((*envelope).clone())))
                                .await?;
                            next = envelope.seq + 1;
                        }
                        Ok(_) => {}
                        Err(broadcast::error::RecvError::Lagged(_)) => {
                            next = send_range(ctx, &mut out, next, ctx.store.len()).await?;
                        }
                        Err(broadcast::error::RecvError::Closed) => return Ok(()),
                    }
                }
            }
        }
    }
}

/// Stream stored events `[from, until)`; returns the next seq to send.
async fn send_range(
    ctx: &Context,
    out: &mut &Stream,
    from: u64,
    until: u64,
) -> std::io::Result<u64> {
    let mut at = from;
    while at < until {
        let store = ctx.store.clone();
        let end = until.min(at + READ_CHUNK);
        let chunk = tokio::task::spawn_blocking(move || store.range(at, end).collect::<Vec<_>>())
            .await
            .map_err(std::io::Error::other)?;
        for item in chunk {
            let response = match item {
                Ok(envelope) => Response::Event(Box::new(envelope)),
                Err(e) => error(ControlErrorKind::Internal, e.to_string()),
            };
            write_line(out, &response).await?;
        }
        at = end;
    }
    Ok(at.max(from))
}

fn status(ctx: &Context) -> StatusReport {
    StatusReport {
        daemon_version: env!("CARGO_PKG_VERSION").to_owned(),
        protocol_version: PROTOCOL_VERSION,
        pid: std::process::id(),
        started_at: ctx.started_at,
        sandbox: ctx.sandbox_url.is_some(),
        sandbox_url: ctx.sandbox_url.clone(),
        connectors: ctx.connectors.clone(),
        config_dir: ctx.config_dir.display().to_string(),
        state_dir: ctx.state_dir.display().to_string(),
        control_socket: ctx.socket.display().to_string(),
        log: ctx.store.status(),
    }
}

fn incompatible(detail: &str) -> ControlError {
    ControlError {
        kind: ControlErrorKind::IncompatibleVersion,
        message: format!(
            "nightjard {} speaks control protocol {PROTOCOL_VERSION}; {detail}",
            env!("CARGO_PKG_VERSION")
        ),
    }
}

fn error(kind: ControlErrorKind, message: String) -> Response {
    Response::Error(ControlError { kind, message })
}

async fn write_line<T: serde::Serialize>(out: &mut &Stream, value: &T) -> std::io::Result<()> {
    let mut bytes = serde_json::to_vec(value).map_err(std::io::Error::other)?;
    bytes.push(b'\n');
    out.write_all(&bytes).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncBufReadExt, BufReader};

    #[tokio::test]
    async fn a_panicking_connection_does_not_stop_the_accept_loop() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.sock");
        let listener = bind(&path).await.unwrap();
        let cancel = CancellationToken::new();
        let served = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = Arc::clone(&served);
        let server = tokio::spawn(accept_loop(
            listener,
            4,
            cancel.clone(),
            move |conn: Stream| {
                let n = counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                async move {
                    assert!(n != 0, "first connection panics on purpose");
                    let mut out = &conn;
                    out.write_all(b"alive\n").await.unwrap();
                }
            },
        ));
        let first = tokio::net::UnixStream::connect(&path).await.unwrap();
        let mut first = BufReader::new(first);
        let mut line = String::new();
        assert_eq!(
            first.read_line(&mut line).await.unwrap(),
            0,
            "panicked connection is closed"
        );
        let second = tokio::net::UnixStream::connect(&path).await.unwrap();
        let mut second = BufReader::new(second);
        second.read_line(&mut line).await.unwrap();
        assert_eq!(line, "alive\n");
        cancel.cancel();
        server.await.unwrap();
        assert_eq!(served.load(std::sync::atomic::Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn binding_refuses_a_live_socket_and_replaces_a_stale_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.sock");
        let live = bind(&path).await.unwrap();
        assert!(matches!(bind(&path).await, Err(BindError::InUse(_))));
        drop(live);
        // A socket file left by a killed process: nothing answers.
        let stale = std::os::unix::net::UnixListener::bind(dir.path().join("stale.sock")).unwrap();
        drop(stale);
        let replaced = bind(&dir.path().join("stale.sock")).await.unwrap();
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join("stale.sock"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o600);
        drop(replaced);
    }
}
