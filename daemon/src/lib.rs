//! `nightjard`, the Nightjar daemon, as a library: the binary parses flags and calls [`run`], and
//! tests run the same daemon in process.
//!
//! Subsystems: [`log`] (the event log), [`projection`] (state rebuilt from it), [`control`] (the
//! ctl socket), [`connector`] (ConnectWise clients), [`catalog`] (the fourteen tools and their
//! actions), [`gate`] (the one path every action takes), [`mcp`] (the MCP server on its socket
//! and in process), [`approvals`] (settling what waits for a verdict), [`redact`], [`config`], [`paths`],
//! [`instance`] (single-instance lock), [`view`] (compact records). Library pieces the catalog
//! will expose: [`calc`], [`endpoints`], [`timesheet`], [`agreements`].

pub mod agreements;
pub mod approvals;
pub mod calc;
pub mod catalog;
pub mod config;
pub mod connector;
pub mod control;
pub mod endpoints;
pub mod eval;
pub mod feed;
pub mod gate;
pub mod history;
pub mod instance;
pub mod log;
pub mod mcp;
pub mod night;
pub mod paths;
pub mod redact;
pub mod scheduler;
pub mod shadow;
pub mod timesheet;
pub mod view;
/// The projections are defined (and snapshotted) in `schemas`; the log keeps them current.
pub use schemas::projection;

use std::sync::Arc;

use schemas::config::Config;
use schemas::event::Event;
use tokio_util::sync::CancellationToken;

use crate::log::Store;
use crate::paths::Paths;

/// Everything `run` needs, resolved by the caller.
#[derive(Debug, Clone)]
pub struct Settings {
    pub paths: Paths,
    pub config: Config,
    /// Configuration layers, lowest first (for `ConfigLoaded`).
    pub config_sources: Vec<String>,
    /// Serve the built-in sandbox tenant with this seed and point every connector at it.
    pub sandbox: Option<u64>,
    /// Start even when the log fails verification (the anomaly is recorded in `DaemonStarted`).
    pub allow_broken_log: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error("cannot create directories: {0}")]
    Dirs(std::io::Error),
    #[error(transparent)]
    Lock(#[from] instance::LockError),
    #[error(transparent)]
    Log(#[from] log::LogError),
    #[error(
        "the event log failed verification: {kind} at seq {seq} ({detail}).\n\
         Inspect it with `nightjarctl log verify` and `nightjarctl log export`; to keep running on it \
         anyway (the break stays on record), start with --allow-broken-log."
    )]
    BrokenLog {
        seq: u64,
        kind: schemas::control::ChainProblemKind,
        detail: String,
    },
    #[error(transparent)]
    Bind(#[from] control::BindError),
    #[error("a start-up task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
    #[error("cannot start the sandbox tenant: {0}")]
    Sandbox(#[from] sandbox::StartError),
    #[error("the configuration is refused: {0}")]
    Gate(#[from] gate::GateError),
}

/// The connectors, from the sandbox's `CW_*` settings or the process environment. A missing PSA
/// configuration is recorded (and answered as "not configured" by the tools), not fatal: the log,
/// the control socket and the feed work without ConnectWise.
fn connectors(
    tenant: Option<&sandbox::Running>,
) -> (
    Result<connector::Connectors, connector::Error>,
    Vec<schemas::event::ConnectorState>,
    Vec<String>,
) {
    let settings = match tenant {
        Some(t) => connector::Settings::from_env_lines(&t.env_lines()),
        None => connector::Settings::from_process_env(),
    };
    match settings {
        Ok(s) => {
            let built = connector::Connectors::new(&s, &connector::Policy::default());
            (built, s.connector_states(), s.secrets())
        }
        Err(e) => {
            tracing::warn!(error = %e, "ConnectWise PSA is not configured; run with --sandbox to try Nightjar on the built-in tenant");
            let problem = e.to_string();
            (
                Err(connector::Error::NotConfigured {
                    product: connector::Product::Manage,
                    problem: problem.clone(),
                }),
                vec![schemas::event::ConnectorState {
                    product: "manage".into(),
                    configured: false,
                    url: None,
                    problem: Some(problem),
                }],
                Vec::new(),
            )
        }
    }
}

/// The ticket history index in the state directory, loaded or started empty (and why, in the
/// log). `None` only when its directory cannot be created: `cw_tickets similar` then says so and
/// everything else runs.
fn open_history(paths: &Paths, redactor: Arc<redact::Redactor>) -> Option<history::HistoryIndex> {
    match history::HistoryIndex::open(&paths.history_dir(), redactor) {
        Ok((index, history::Opened::Loaded { tickets })) => {
            tracing::info!(tickets, "ticket history loaded");
            Some(index)
        }
        Ok((index, history::Opened::Rebuilt { reason })) => {
            tracing::info!(%reason, "ticket history starts empty and is rebuilt from ConnectWise");
            Some(index)
        }
        Err(e) => {
            tracing::warn!(error = %e, "no ticket history: similar tickets are unavailable");
            None
        }
    }
}

/// Run the daemon until `shutdown` is cancelled. Returns once every connection has finished, a
/// final checkpoint is written, and the socket file is removed.
pub async fn run(settings: Settings, shutdown: CancellationToken) -> Result<(), DaemonError> {
    let paths = &settings.paths;
    paths.create_private_dirs().map_err(DaemonError::Dirs)?;
    let lock = instance::InstanceLock::acquire(&paths.lock_file())?;

    let options = log::Options {
        checkpoint_every: settings.config.daemon.checkpoint_every,
        ..log::Options::default()
    };
    let (log_dir, checkpoint_file) = (paths.log_dir(), paths.checkpoint_file());
    // Opening verifies and rebuilds the projections: blocking work, off the async threads.
    let (store, report) =
        tokio::task::spawn_blocking(move || Store::open(&log_dir, &checkpoint_file, options))
            .await
            .map_err(DaemonError::Task)??;
    let anomaly = match (&report.problem, settings.allow_broken_log) {
        (None, _) => None,
        (Some(p), true) => Some(format!("{} at seq {}: {}", p.kind, p.seq, p.detail)),
        (Some(p), false) => {
            store.close().await;
            return Err(DaemonError::BrokenLog {
                seq: p.seq,
                kind: p.kind,
                detail: p.detail.clone(),
            });
        }
    };
    let projections = store.projections();

    let tenant = match settings.sandbox {
        Some(seed) => match sandbox::start(sandbox::Config {
            seed,
            ..sandbox::Config::default()
        })
        .await
        {
            Ok(t) => {
                tracing::info!(url = %t.base_url(), seed, "sandbox tenant serving");
                Some(t)
            }
            Err(e) => {
                store.close().await;
                return Err(e.into());
            }
        },
        None => None,
    };
    let (clients, connectors, secrets) = self::connectors(tenant.as_ref());
    let today = tenant
        .as_ref()
        .and_then(|t| t.truth().today.parse().ok())
        .unwrap_or_else(|| chrono::Utc::now().date_naive());
    let plans = match approvals::PlanStore::at(paths.proposals_dir()) {
        Ok(p) => p,
        Err(e) => {
            store.close().await;
            return Err(DaemonError::Dirs(e));
        }
    };
    let pending: catalog::PendingSource = {
        let (store, plans) = (store.clone(), plans.clone());
        Arc::new(move || approvals::pending(&store, &plans))
    };
    let redactor = Arc::new(redact::Redactor::new(secrets));
    let mut context =
        catalog::Context::new(clients, connectors.clone(), today).with_pending(pending);
    if let Some(index) = open_history(paths, Arc::clone(&redactor)) {
        context = context.with_history(Arc::new(tokio::sync::RwLock::new(index)));
    }
    let context = Arc::new(context);
    let gate = match gate::Gate::new(
        store.clone(),
        Arc::clone(&context),
        redactor,
        settings.config.gate.clone(),
    ) {
        Ok(g) => g.with_plans(plans),
        Err(e) => {
            store.close().await;
            return Err(e.into());
        }
    };

    let started = store
        .append_system(Event::DaemonStarted {
            version: env!("CARGO_PKG_VERSION").to_owned(),
            pid: std::process::id(),
            sandbox: tenant.is_some(),
            recovered_in_flight: projections.in_flight.len() as u32,
            log_anomaly: anomaly,
        })
        .await?;
    // Invariant 4: an action that was executing when the daemon stopped is never retried; it is
    // recorded as having an unknown outcome for a human to check.
    for (call_id, flight) in &projections.in_flight {
        store
            .append_system(Event::ActionOutcomeUnknown {
                call_id: call_id.clone(),
                proposal_id: flight.proposal_id.clone(),
                executing_seq: flight.executing_seq,
                reason: "the daemon stopped after the request was sent and before its outcome was recorded".into(),
            })
            .await?;
    }
    store
        .append_system(Event::ConfigLoaded {
            sources: settings.config_sources.clone(),
            digest: config::digest(&settings.config),
            connectors: connectors.clone(),
            skill_modes: settings
                .config
                .skills
                .iter()
                .filter_map(|(name, s)| s.mode.map(|m| (name.clone(), m)))
                .collect(),
            trust: Some(settings.config.trust),
        })
        .await?;

    let socket = paths.control_socket();
    let listener = match control::bind(&socket).await {
        Ok(l) => l,
        Err(e) => {
            store.close().await;
            return Err(e.into());
        }
    };
    let mcp_socket = paths.mcp_socket();
    let mcp_listener = match control::bind(&mcp_socket).await {
        Ok(l) => l,
        Err(e) => {
            drop(listener);
            let _ = std::fs::remove_file(&socket);
            store.close().await;
            return Err(e.into());
        }
    };
    let settlements = Arc::new(approvals::Settlements::default());
    let approvals = approvals::Approvals::new(gate.clone(), Arc::clone(&settlements));
    let mcp_shared = mcp::Shared {
        gate: gate.clone(),
        settlements,
        approval_wait: std::time::Duration::from_secs(settings.config.mcp.approval_wait_secs),
    };
    let (skills, skill_errors) = agent::skill::all(Some(&paths.skills_dir()));
    for e in &skill_errors {
        tracing::warn!(error = %e, "a user skill was refused");
    }
    let night = Arc::new(night::Night::new(
        mcp_shared.clone(),
        skills,
        settings.config.clone(),
        night::model_config(&settings.config.agent),
        shutdown.clone(),
    ));
    let timezone = match scheduler::timezone(settings.config.scheduler.timezone.as_deref()) {
        Ok(tz) => tz,
        Err(e) => {
            tracing::warn!(error = %e, "the scheduler's time zone is refused; using UTC");
            chrono_tz::UTC
        }
    };
    let mut night_tasks = tokio::task::JoinSet::new();
    {
        let night = Arc::clone(&night);
        night_tasks.spawn(async move { night.resume_interrupted().await });
    }
    // The ticket history catches up in the background (ConnectWise may be slow or down); a
    // shutdown drops it between its writes, so the file stays whole.
    {
        let (context, shutdown) = (Arc::clone(&context), shutdown.clone());
        night_tasks.spawn(async move {
            tokio::select! {
                _ = history::refresh(&context) => {}
                () = shutdown.cancelled() => {}
            }
        });
    }
    if settings.config.scheduler.enabled {
        let since = store
            .range(0, 1)
            .next()
            .and_then(Result::ok)
            .map_or(started.ts, |e| e.ts);
        let projections = store.projections();
        let window = chrono::Duration::minutes(settings.config.scheduler.catch_up_minutes as i64);
        for (skill, expr) in night::schedules(&night) {
            let Some(expr) = expr else { continue };
            let tab: scheduler::Crontab = match expr.parse() {
                Ok(t) => t,
                Err(e) => {
                    tracing::warn!(%skill, error = %e, "skill not scheduled");
                    continue;
                }
            };
            let slot = scheduler::catch_up(
                &tab,
                timezone,
                projections.last_scheduled.get(&skill).copied(),
                since,
                chrono::Utc::now(),
                window,
            );
            night_tasks.spawn(scheduler::run(
                Arc::clone(&night),
                skill,
                tab,
                timezone,
                slot,
                shutdown.clone(),
            ));
        }
    }
    tracing::info!(
        socket = %socket.display(),
        mcp_socket = %mcp_socket.display(),
        events = store.len(),
        pid = std::process::id(),
        "nightjard ready"
    );

    let ctx = Arc::new(control::Context {
        store: store.clone(),
        started_at: started.ts,
        sandbox_url: tenant.as_ref().map(|t| t.base_url()),
        connectors,
        config_dir: paths.config_dir.clone(),
        state_dir: paths.state_dir.clone(),
        socket: socket.clone(),
        cancel: shutdown.clone(),
        gate,
        approvals,
        night: Arc::clone(&night),
        timezone,
    });
    // Both sockets serve until shutdown; each loop returns once its connections have ended.
    tokio::join!(
        control::accept_loop(
            listener,
            settings.config.daemon.max_connections,
            shutdown.clone(),
            move |conn| control::serve_connection(Arc::clone(&ctx), conn),
        ),
        mcp::accept_loop(
            mcp_listener,
            mcp_shared,
            settings.config.mcp.clone(),
            shutdown.clone(),
        ),
    );

    tracing::info!("shutting down");
    // Runs see the shutdown through the same token; they stop at the next step and stay open
    // in the log, to resume at the next start.
    while night_tasks.join_next().await.is_some() {}
    let _ = std::fs::remove_file(&socket);
    let _ = std::fs::remove_file(&mcp_socket);
    let stopped = store
        .append_system(Event::DaemonStopped {
            reason: "shutdown requested".into(),
        })
        .await;
    let checkpoint = store.checkpoint().await;
    store.close().await;
    if let Some(tenant) = tenant {
        tenant.shutdown().await;
    }
    if let Err(e) = stopped.and(checkpoint) {
        tracing::error!(error = %e, "could not record the shutdown");
    }
    drop(lock);
    Ok(())
}
