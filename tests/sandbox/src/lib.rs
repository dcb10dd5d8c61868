//! The sandbox tenant: a simulated ConnectWise (Manage/PSA, Asio/RMM, Sell/CPQ and
//! ScreenConnect) on loopback, with seeded deterministic data, planted anomalies and their ground
//! truth, fault injection and a request journal. Every test that talks to "ConnectWise", and
//! `nightjard --sandbox`, goes through it; it follows `shared/connectwise/API-NOTES.md` and the
//! spec files beside it.
//!
//! # Running it
//!
//! ```text
//! nightjar-sandbox [--port 0] [--seed 42] [--size small|medium|large] [--today YYYY-MM-DD]
//!                  [--faults SPEC] [--company sandbox] [--public-key sandbox_pub]
//!                  [--private-key sandbox_priv] [--client-id 00000000-0000-0000-0000-000000000000]
//!                  [--token-ttl-secs 3599]
//! ```
//! On start it prints its base URL and credentials as `CW_*` environment lines (`eval`-able), then
//! serves until SIGINT/SIGTERM. `--port 0` (the default) takes any free port. `--today` anchors the
//! data (default: today's UTC date); the same seed, size and today give byte-identical answers.
//! In process: [`start`] with a [`Config`], then [`Running`].
//!
//! # Products and credentials
//!
//! | product | base URL | auth (defaults) |
//! |---|---|---|
//! | Manage | `{base}/v4_6_release/apis/3.0` (any `v20NN_N` codebase too) and `{base}/login/companyinfo/{company}` | Basic `sandbox+sandbox_pub:sandbox_priv`, header `clientId: 00000000-0000-0000-0000-000000000000` |
//! | Asio (RMM) | `{base}/rmm` | `POST /rmm/v1/token` with `client_id=sandbox_rmm`, `client_secret=sandbox_rmm_secret` (JSON or form); bearer tokens expire after `expires_in` (3599 s) |
//! | Sell (CPQ) | `{base}/cpq` | Basic `sandbox+sandbox_cpq:sandbox_cpq_priv` |
//! | ScreenConnect | `{base}/sc` | header `CTRLAuthHeader: sandbox_sc_secret` |
//!
//! Manage serves: `/system/info`, `/system/members[/{id}|/count]`, `/service/boards[/{id}|/count]`
//! and their `statuses`, `types`, `subtypes`, `items`; `/service/priorities`; `/service/tickets`
//! (GET, `/count`, `/{id}`, POST, PATCH, DELETE, POST `/search`) with `/notes` (GET, POST),
//! `/tasks`, `/configurations` (GET, POST, DELETE); `/company/companies`, `/company/contacts`,
//! `/company/configurations`; `/time/entries` (GET, POST, PATCH, DELETE), `/time/workTypes`,
//! `/time/workRoles`; `/finance/agreements` with `/additions` (GET, POST, PATCH);
//! `/finance/invoices` (GET, POST); `/schedule/entries`; `/sales/opportunities`;
//! `/project/projects`, `/project/tickets`; `/finance/accounting/unpostedinvoices`, `POST
//! /finance/accounting/batches`; `/procurement/purchaseorders` (GET, PATCH) and
//! `/procurement/purchaseorderstatuses`; `/expense/reports` and `POST /expense/reports/{id}/approve`. Anything else answers 404 (405 for a known path with another method) with a
//! ConnectWise error body. The query grammar (`conditions`, `childConditions`,
//! `customFieldConditions`, `orderBy`, `fields`, `page`/`pageSize`, forward-only paging with
//! `pagination-type: forward-only` and `pageId`) is documented in [`query`].
//!
//! Asio serves `POST /rmm/v1/token`, `GET /rmm/v1/rate_limits`, companies and sites
//! (`/rmm/api/platform/v1/company/...`), devices (`POST .../v2/device/categories/{category}/endpoints`,
//! `GET .../v2/device/companies/{c}/sites/{s}/endpoints/{e}`, `GET .../v2/device/endpoints/heartbeat`,
//! `GET .../v2/device/endpoints/{e}/disk-usage|cpu-usage|memory-usage`), patch status
//! (`GET .../v2/patching/{e}/patches`), scripts (`GET .../v1/automation/scripts`) and script runs
//! (`POST .../v2/automation/endpoints/schedule-tasks`, `GET .../v2/automation/endpoints/{e}/tasks/summary`,
//! `GET .../v2/automation/tasks/{t}/instances/{i}/results`). Sell serves `/cpq/api/quotes`,
//! `/cpq/api/quotes/{id}`, `/cpq/api/quoteItems`, `/cpq/api/quoteItems/{id}`, `/cpq/api/quoteTabs`,
//! `/cpq/api/quoteTabs/{id}/quoteItems`, `/cpq/api/templates` and `POST /cpq/api/quotes/copyById/{id}`
//! (a new quote from a quote or template, tabs and items copied). ScreenConnect serves `/sc/api/v1/sessions` (GET, POST),
//! `/sc/api/v1/sessions/{id}`, `/{id}/details` and `POST /{id}/events` (commands: an event of type
//! `QueuedCommand` whose `data` is the command; the sandbox answers it with a `RanCommand` event).
//!
//! # Sandbox-only endpoints (never journaled)
//!
//! - `GET /__sandbox/truth`: the planted ground truth ([`truth::Truth`]).
//! - `GET /__sandbox/journal[?since=SEQ]`: `{"entries": [Entry...], "dropped": N}`
//!   ([`journal::Entry`]: `seq, time, product, method, path, query?, body?, status, faults[]`);
//!   `DELETE /__sandbox/journal` clears it.
//! - `GET /__sandbox/faults`: `{"rules": [FaultRule...], "spec": "..."}`; `POST` adds rules (a SPEC
//!   as text, or JSON `{"spec": "..."}` or `{"rules": [...]}`); `DELETE` removes them all.
//! - `GET /__sandbox/health`: `{"ok": true}`.
//!
//! # Faults
//!
//! The SPEC grammar is in [`faults`]; example:
//! `--faults "GET */service/tickets*=429:2,times=1; */company/*=latency:300; *=503,p=0.05"`.
//! Fault decisions come from the seed, so a run with the same requests sees the same faults.

#![recursion_limit = "256"]

pub mod auth;
pub mod catalog;
pub mod error;
pub mod faults;
pub mod journal;
pub mod query;
pub mod seed;
pub mod tenant;
pub mod truth;

mod asio;
mod manage;
mod screenconnect;
mod sell;
mod server;

use std::fmt;
use std::net::SocketAddr;
use std::str::FromStr;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use chrono::{NaiveDate, Utc};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub use auth::Credentials;
pub use error::StartError;
pub use faults::{FaultKind, FaultRule};
pub use journal::Entry;
pub use truth::Truth;

/// Every Manage operation the sandbox serves, as `(METHOD, path pattern)` with the pattern written
/// exactly as in `manage-endpoints-2025.1.json` (relative to `/apis/3.0`).
pub fn manage_routes() -> impl Iterator<Item = (&'static str, &'static str)> {
    manage::routes().map(|r| (r.method, r.pattern))
}

/// How much data to generate. Even `small` contains every planted anomaly.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Size {
    /// 8 companies, 6 technicians, 150 tickets plus 320 closed ones of history: quick to start,
    /// for tests.
    #[default]
    Small,
    /// 24 companies, 12 technicians, 700 tickets plus 640 of history.
    Medium,
    /// 60 companies, 30 technicians, 3000 tickets plus 1280 of history.
    Large,
}

impl FromStr for Size {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "small" => Ok(Size::Small),
            "medium" => Ok(Size::Medium),
            "large" => Ok(Size::Large),
            other => Err(format!(
                "unknown size '{other}': use small, medium or large"
            )),
        }
    }
}

impl fmt::Display for Size {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Size::Small => "small",
            Size::Medium => "medium",
            Size::Large => "large",
        })
    }
}

/// Everything a sandbox needs to start.
#[derive(Debug, Clone)]
pub struct Config {
    pub seed: u64,
    pub size: Size,
    /// The date the data is anchored to.
    pub today: NaiveDate,
    pub faults: Vec<FaultRule>,
    pub credentials: Credentials,
    /// Port on 127.0.0.1; 0 picks a free one.
    pub port: u16,
    /// Lifetime of Asio bearer tokens (`expires_in`).
    pub rmm_token_ttl: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            seed: 42,
            size: Size::Small,
            today: Utc::now().date_naive(),
            faults: Vec::new(),
            credentials: Credentials::default(),
            port: 0,
            rmm_token_ttl: Duration::from_secs(3599),
        }
    }
}

/// A running sandbox. Dropping it without [`Running::shutdown`] stops the server too, but only
/// `shutdown` waits for it.
pub struct Running {
    addr: SocketAddr,
    shared: Arc<server::Shared>,
    task: Option<JoinHandle<()>>,
}

/// Generates the tenant, binds 127.0.0.1:`port` and serves until [`Running::shutdown`].
pub async fn start(config: Config) -> Result<Running, StartError> {
    let (tenant, truth) = seed::generate(config.seed, config.size, config.today);
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", config.port))
        .await
        .map_err(|source| StartError::Bind {
            port: config.port,
            source,
        })?;
    let addr = listener.local_addr().map_err(|source| StartError::Bind {
        port: config.port,
        source,
    })?;
    let shutdown = CancellationToken::new();
    let shared = Arc::new(server::Shared {
        tenant: RwLock::new(tenant),
        truth,
        journal: journal::Journal::default(),
        faults: faults::Faults::new(config.seed, config.faults),
        creds: config.credentials,
        tokens: auth::Tokens::new(config.seed, config.rmm_token_ttl),
        shutdown: shutdown.clone(),
    });
    let app = server::router(shared.clone());
    let task = tokio::spawn(async move {
        let served = axum::serve(listener, app)
            .with_graceful_shutdown(async move { shutdown.cancelled().await })
            .await;
        if let Err(e) = served {
            tracing::error!(error = %e, "sandbox server stopped with an error");
        }
    });
    tracing::info!(%addr, "sandbox tenant listening");
    Ok(Running {
        addr,
        shared,
        task: Some(task),
    })
}

impl Running {
    /// `http://127.0.0.1:PORT`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The Manage API root, `http://127.0.0.1:PORT/v4_6_release/apis/3.0`.
    pub fn manage_url(&self) -> String {
        format!("{}/v4_6_release/apis/3.0", self.base_url())
    }

    pub fn rmm_url(&self) -> String {
        format!("{}/rmm", self.base_url())
    }

    pub fn cpq_url(&self) -> String {
        format!("{}/cpq", self.base_url())
    }

    pub fn sc_url(&self) -> String {
        format!("{}/sc", self.base_url())
    }

    pub fn credentials(&self) -> &Credentials {
        &self.shared.creds
    }

    /// The `CW_*` variables a connector needs, as `NAME=value` lines.
    pub fn env_lines(&self) -> Vec<String> {
        let c = &self.shared.creds;
        vec![
            format!("CW_API_URL={}", self.manage_url()),
            format!("CW_COMPANY_ID={}", c.company),
            format!("CW_PUBLIC_KEY={}", c.public_key),
            format!("CW_PRIVATE_KEY={}", c.private_key),
            format!("CW_AUTH_PREFIX={}+", c.company),
            format!("CW_CLIENT_ID={}", c.client_id),
            format!("CW_RMM_API_URL={}", self.rmm_url()),
            format!("CW_RMM_CLIENT_ID={}", c.rmm_client_id),
            format!("CW_RMM_CLIENT_SECRET={}", c.rmm_client_secret),
            format!("CW_CPQ_API_URL={}", self.cpq_url()),
            format!("CW_CPQ_ACCESS_KEY={}", c.cpq_access_key),
            format!("CW_CPQ_PUBLIC_KEY={}", c.cpq_public_key),
            format!("CW_CPQ_PRIVATE_KEY={}", c.cpq_private_key),
            format!("CW_SC_URL={}", self.sc_url()),
            format!("CW_SC_AUTH_SECRET={}", c.sc_auth_secret),
            format!("CW_SC_EXTENSION_ID={}", c.sc_extension_id),
        ]
    }

    /// Every ConnectWise request received so far (sandbox-only endpoints excluded).
    pub fn journal(&self) -> Vec<Entry> {
        self.shared.journal.snapshot(0).entries
    }

    pub fn clear_journal(&self) {
        self.shared.journal.clear();
    }

    /// The planted ground truth.
    pub fn truth(&self) -> &Truth {
        &self.shared.truth
    }

    /// Adds fault rules at run time.
    pub fn add_faults(&self, rules: Vec<FaultRule>) {
        self.shared.faults.add(rules);
    }

    pub fn clear_faults(&self) {
        self.shared.faults.clear();
    }

    /// Stops accepting connections, ends hanging requests, and waits for the server task.
    pub async fn shutdown(mut self) {
        self.shared.shutdown.cancel();
        if let Some(task) = self.task.take()
            && let Err(e) = task.await
        {
            tracing::error!(error = %e, "sandbox server task failed");
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.shared.shutdown.cancel();
    }
}
