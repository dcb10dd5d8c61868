//! Connectors: the only code that talks HTTP to ConnectWise (Manage, and the optional Asio, Sell
//! and ScreenConnect), and only ever on behalf of the gate.
//!
//! What every product client shares lives here: the structured [`Error`] a tool call returns
//! (and its serializable [`ErrorBody`]), the per-logical-call [`Call`] context that meters upstream
//! requests and bytes and enforces the fan-out [`Budget`] (the N+1 guard), and the [`Http`]
//! transport that applies the [`retry::Policy`] (idempotent requests only) and maps answers to
//! errors. Settings come from the `CW_*` environment ([`settings`]).
//!
//! Call shape: the gate makes one [`Call`] per tool call, states a fan-out before starting it
//! ([`Call::project_calls`]), passes `&call` to every client method, and ends with
//! [`Call::finish`], which yields the value with the number of upstream requests and bytes.

pub mod asio;
pub mod manage;
pub mod retry;
pub mod screenconnect;
pub mod sell;
pub mod settings;

use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderValue};
use reqwest::{Method, StatusCode, Url};
use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use retry::{Idempotency, Policy};
pub use settings::{Optional, Secret, Settings, SettingsError};

/// Every connector the daemon has: Manage always; the optional products as clients or as the
/// reason they are off, which [`Connectors::asio`] and friends return as `not_configured`.
#[derive(Debug)]
pub struct Connectors {
    pub manage: manage::Manage,
    asio: Result<asio::Asio, Error>,
    sell: Result<sell::Sell, Error>,
    screenconnect: Result<screenconnect::ScreenConnect, Error>,
    states: Vec<schemas::event::ConnectorState>,
}

impl Connectors {
    pub fn new(settings: &Settings, policy: &Policy) -> Result<Self, Error> {
        fn build<S, T>(
            product: Product,
            o: &Optional<S>,
            make: impl FnOnce(&S) -> Result<T, Error>,
        ) -> Result<T, Error> {
            match o {
                Optional::Configured(s) => make(s),
                Optional::NotConfigured { problem } => Err(Error::NotConfigured {
                    product,
                    problem: problem.clone(),
                }),
            }
        }
        Ok(Connectors {
            manage: manage::Manage::new(&settings.manage, policy.clone())?,
            asio: build(Product::Asio, &settings.asio, |s| {
                asio::Asio::new(s, policy.clone())
            }),
            sell: build(Product::Sell, &settings.sell, |s| {
                sell::Sell::new(s, policy.clone())
            }),
            screenconnect: build(Product::Screenconnect, &settings.screenconnect, |s| {
                screenconnect::ScreenConnect::new(s, policy.clone())
            }),
            states: settings.connector_states(),
        })
    }

    pub fn asio(&self) -> Result<&asio::Asio, Error> {
        self.asio.as_ref().map_err(Clone::clone)
    }

    pub fn sell(&self) -> Result<&sell::Sell, Error> {
        self.sell.as_ref().map_err(Clone::clone)
    }

    pub fn screenconnect(&self) -> Result<&screenconnect::ScreenConnect, Error> {
        self.screenconnect.as_ref().map_err(Clone::clone)
    }

    /// What `ConfigLoaded.connectors` records.
    pub fn states(&self) -> &[schemas::event::ConnectorState] {
        &self.states
    }
}

/// The ConnectWise product a connector talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Product {
    Manage,
    Asio,
    Sell,
    Screenconnect,
}

impl Product {
    /// The name used in `ConnectorState.product`, errors and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Product::Manage => "manage",
            Product::Asio => "asio",
            Product::Sell => "sell",
            Product::Screenconnect => "screenconnect",
        }
    }
}

impl fmt::Display for Product {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One entry of a ConnectWise `errors[]` (`ValidationError`): which field was refused and why.
pub use schemas::tool::FieldError;
/// The serializable form of an [`Error`], what the gate returns to a caller as a tool error.
pub use schemas::tool::ToolError as ErrorBody;

/// Why a connector call failed. Every variant is something a caller (a model, through the gate)
/// can act on; [`Error::kind`] is the stable name and [`Error::body`] the form returned to it.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Error {
    #[error("{product}: not found: {message}")]
    NotFound { product: Product, message: String },
    /// 400 and the other 4xx answers that mean "the request was wrong" (409, 405, 415, ...).
    #[error("{product}: the request was refused as invalid ({status}): {message}")]
    Invalid {
        product: Product,
        status: u16,
        message: String,
        fields: Vec<FieldError>,
    },
    #[error("{product}: the credentials were refused: {message}")]
    Unauthorized { product: Product, message: String },
    #[error("{product}: the API member may not do this: {message}")]
    Forbidden { product: Product, message: String },
    #[error("{product}: rate limited; retry after {retry_after_seconds} s")]
    RateLimited {
        product: Product,
        retry_after_seconds: u64,
    },
    /// 5xx answers and connection failures, after the retries the policy allows.
    #[error("{product}: upstream unavailable: {message}")]
    UpstreamUnavailable {
        product: Product,
        status: Option<u16>,
        message: String,
    },
    #[error("{product}: no answer within {timeout_ms} ms")]
    Timeout { product: Product, timeout_ms: u64 },
    #[error("{product}: the answer was not what the API documents: {message}")]
    MalformedResponse { product: Product, message: String },
    #[error("{product} is not configured: {problem}")]
    NotConfigured { product: Product, problem: String },
    /// The fan-out guard refused before anything was sent.
    #[error(
        "refused: {what} would take {projected} upstream calls, over the budget of {budget} for one call"
    )]
    OverBudget {
        what: String,
        projected: u64,
        budget: u64,
    },
}

impl Error {
    /// The stable name of the kind of failure.
    pub fn kind(&self) -> &'static str {
        match self {
            Error::NotFound { .. } => "not_found",
            Error::Invalid { .. } => "invalid",
            Error::Unauthorized { .. } => "unauthorized",
            Error::Forbidden { .. } => "forbidden",
            Error::RateLimited { .. } => "rate_limited",
            Error::UpstreamUnavailable { .. } => "upstream_unavailable",
            Error::Timeout { .. } => "timeout",
            Error::MalformedResponse { .. } => "malformed_response",
            Error::NotConfigured { .. } => "not_configured",
            Error::OverBudget { .. } => "over_budget",
        }
    }

    pub fn product(&self) -> Option<Product> {
        match self {
            Error::NotFound { product, .. }
            | Error::Invalid { product, .. }
            | Error::Unauthorized { product, .. }
            | Error::Forbidden { product, .. }
            | Error::RateLimited { product, .. }
            | Error::UpstreamUnavailable { product, .. }
            | Error::Timeout { product, .. }
            | Error::MalformedResponse { product, .. }
            | Error::NotConfigured { product, .. } => Some(*product),
            Error::OverBudget { .. } => None,
        }
    }

    /// Whether the same request may succeed later without a change (the caller should still not
    /// loop: the connector already retried what it could).
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            Error::RateLimited { .. } | Error::UpstreamUnavailable { .. } | Error::Timeout { .. }
        )
    }

    /// What to do next, written for the model that made the call.
    pub fn hint(&self) -> String {
        match self {
            Error::NotFound { .. } => "The record does not exist (or is not visible to the API member). \
                 Check the id, for example by searching first; do not guess other ids."
                .into(),
            Error::Invalid { fields, .. } if !fields.is_empty() => {
                "ConnectWise refused the request; fix the listed fields and send it again once.".into()
            }
            Error::Invalid { .. } => {
                "ConnectWise refused the request as invalid; change the request before trying again."
                    .into()
            }
            Error::Unauthorized { .. } => "The API credentials were refused. An operator must fix the \
                 connector's keys; retrying will not help, so stop and report it."
                .into(),
            Error::Forbidden { .. } => "The API member's security role does not allow this. Retrying \
                 will not help; report it so an operator can decide."
                .into(),
            Error::RateLimited {
                retry_after_seconds,
                ..
            } => format!(
                "ConnectWise is rate limiting and the connector already waited and retried. Do not \
                 retry this in a loop: wait at least {retry_after_seconds} seconds, or continue \
                 with other work and come back to this later."
            ),
            Error::UpstreamUnavailable { .. } | Error::Timeout { .. } => {
                "ConnectWise did not answer properly and the connector already retried what was \
                 safe to retry. Do not retry in a loop: continue with other work, or report it. A \
                 write that failed this way may or may not have been applied; check before \
                 repeating it."
                    .into()
            }
            Error::MalformedResponse { .. } => "ConnectWise answered with something that is not the \
                 documented JSON. Do not retry; report it."
                .into(),
            Error::NotConfigured { .. } => "This ConnectWise product is not configured for this \
                 daemon, so no tool can reach it. Do not retry; tell the operator if it is needed."
                .into(),
            Error::OverBudget { .. } => "Nothing was sent. Narrow the request (tighter conditions, \
                 fewer ids, a smaller row budget) so it needs fewer upstream calls."
                .into(),
        }
    }

    /// The serializable form returned to callers.
    pub fn body(&self) -> ErrorBody {
        let (status, retry_after_seconds, fields) = match self {
            // Status 0: refused locally (a condition that could not be built), nothing was sent.
            Error::Invalid { status, fields, .. } => {
                ((*status != 0).then_some(*status), None, fields.clone())
            }
            Error::RateLimited {
                retry_after_seconds,
                ..
            } => (Some(429), Some(*retry_after_seconds), Vec::new()),
            Error::UpstreamUnavailable { status, .. } => (*status, None, Vec::new()),
            Error::NotFound { .. } => (Some(404), None, Vec::new()),
            Error::Unauthorized { .. } => (Some(401), None, Vec::new()),
            Error::Forbidden { .. } => (Some(403), None, Vec::new()),
            _ => (None, None, Vec::new()),
        };
        ErrorBody {
            kind: self.kind().to_owned(),
            product: self.product().map(|p| p.as_str().to_owned()),
            message: self.to_string(),
            hint: self.hint(),
            status,
            retry_after_seconds,
            fields,
            candidates: Vec::new(),
        }
    }

    /// [`Error::body`] as JSON.
    pub fn to_json(&self) -> Value {
        serde_json::to_value(self.body()).unwrap_or(Value::Null)
    }
}

/// How many upstream calls one logical call (one tool call) may make.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    /// Logical upstream requests (retries of one request are not counted again).
    pub max_calls: u64,
}

impl Default for Budget {
    fn default() -> Self {
        Budget { max_calls: 50 }
    }
}

#[derive(Debug, Default)]
struct Tally {
    /// Calls reserved by projections (and by requests made without one).
    reserved: u64,
    /// Logical requests started.
    used: u64,
    /// HTTP requests sent, retries included.
    requests: u64,
    /// Response body bytes received.
    bytes: u64,
}

/// The context of one logical call: meters upstream requests and bytes, and enforces the
/// [`Budget`]. Cheap to clone; clones share the tally, so a fan-out's concurrent tasks can use it.
#[derive(Debug, Clone)]
pub struct Call {
    budget: Budget,
    tally: Arc<Mutex<Tally>>,
}

/// A result with what it cost upstream.
#[derive(Debug, Clone, PartialEq)]
pub struct Metered<T> {
    pub value: T,
    /// HTTP requests sent upstream, retries and token requests included.
    pub requests: u64,
    /// Response body bytes received.
    pub bytes: u64,
}

impl Call {
    pub fn new(budget: Budget) -> Self {
        Call {
            budget,
            tally: Arc::new(Mutex::new(Tally::default())),
        }
    }

    fn tally(&self) -> std::sync::MutexGuard<'_, Tally> {
        self.tally.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// States, before a fan-out, that it will make `calls` more upstream requests. Refuses with
    /// [`Error::OverBudget`] (having sent nothing) when that would pass the budget; otherwise
    /// reserves them, so the requests that follow draw on the reservation.
    ///
    /// A projection made inside a reserved fan-out (each of its listings projects its own pages)
    /// draws on what is reserved and not yet used, rather than reserving again: the fan-out's
    /// projection already counted it. Every request is still charged one by one, so the budget
    /// holds however projections overlap.
    pub fn project_calls(&self, calls: u64, what: &str) -> Result<(), Error> {
        let mut t = self.tally();
        let projected = t.reserved.max(t.used.saturating_add(calls));
        if projected > self.budget.max_calls {
            return Err(Error::OverBudget {
                what: what.to_owned(),
                projected,
                budget: self.budget.max_calls,
            });
        }
        t.reserved = projected;
        Ok(())
    }

    /// Takes one logical request from the reservation, or reserves it if the budget allows.
    fn charge(&self, what: &str) -> Result<(), Error> {
        let mut t = self.tally();
        if t.used >= t.reserved {
            if t.used + 1 > self.budget.max_calls {
                return Err(Error::OverBudget {
                    what: what.to_owned(),
                    projected: t.used + 1,
                    budget: self.budget.max_calls,
                });
            }
            t.reserved = t.used + 1;
        }
        t.used += 1;
        Ok(())
    }

    /// Gives back reserved calls that were not needed (a listing that ended early).
    fn release_unused(&self, calls: u64) {
        let mut t = self.tally();
        t.reserved = t.reserved.saturating_sub(calls).max(t.used);
    }

    fn record(&self, bytes: u64) {
        let mut t = self.tally();
        t.requests += 1;
        t.bytes += bytes;
    }

    /// HTTP requests sent so far.
    pub fn requests(&self) -> u64 {
        self.tally().requests
    }

    /// Response bytes received so far.
    pub fn bytes(&self) -> u64 {
        self.tally().bytes
    }

    /// Upstream calls still allowed.
    pub fn remaining(&self) -> u64 {
        let t = self.tally();
        self.budget.max_calls.saturating_sub(t.reserved.max(t.used))
    }

    /// The value with what the call cost upstream.
    pub fn finish<T>(&self, value: T) -> Metered<T> {
        let t = self.tally();
        Metered {
            value,
            requests: t.requests,
            bytes: t.bytes,
        }
    }
}

impl Default for Call {
    fn default() -> Self {
        Call::new(Budget::default())
    }
}

/// An upstream answer read in full.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Answer {
    /// The body as JSON; an empty body is `null` (204 and friends).
    pub fn json(&self, product: Product) -> Result<Value, Error> {
        if self.body.is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_slice(&self.body).map_err(|e| Error::MalformedResponse {
            product,
            message: format!("{} answered a body that is not JSON ({e})", self.status),
        })
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// One request, described so that it can be sent again (retries build it anew each time).
#[derive(Debug, Clone)]
pub struct Request {
    pub method: Method,
    pub url: Url,
    pub headers: HeaderMap,
    /// JSON body, already serialized.
    pub body: Option<Vec<u8>>,
    pub idempotency: Idempotency,
}

impl Request {
    pub fn new(method: Method, url: Url) -> Self {
        let idempotency = Idempotency::of(&method);
        Request {
            method,
            url,
            headers: HeaderMap::new(),
            body: None,
            idempotency,
        }
    }

    pub fn json(mut self, body: &impl Serialize) -> Self {
        // Serializing a `Value` or a derived struct does not fail.
        self.body = serde_json::to_vec(body).ok();
        self.headers.insert(
            reqwest::header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        self
    }

    pub fn header(mut self, name: &'static str, value: HeaderValue) -> Self {
        self.headers.insert(name, value);
        self
    }

    /// Marks a request whose method is not idempotent as a pure read (a search by POST), so it
    /// may be retried.
    pub fn read_only(mut self) -> Self {
        self.idempotency = Idempotency::Safe;
        self
    }
}

/// The HTTP transport one product client uses: a reqwest client plus the retry policy.
#[derive(Debug, Clone)]
pub struct Http {
    product: Product,
    client: reqwest::Client,
    policy: Policy,
}

impl Http {
    pub fn new(product: Product, policy: Policy) -> Result<Self, Error> {
        let client = reqwest::Client::builder()
            .user_agent(concat!("nightjar/", env!("CARGO_PKG_VERSION")))
            // Credentials travel in headers: never follow a redirect to wherever it points.
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(policy.timeout)
            .build()
            .map_err(|e| Error::NotConfigured {
                product,
                problem: format!("cannot build the HTTP client: {e}"),
            })?;
        Ok(Http {
            product,
            client,
            policy,
        })
    }

    pub fn product(&self) -> Product {
        self.product
    }

    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// Sends `request` (charged to `call` as one logical request), retrying as the policy allows,
    /// and returns the final answer whatever its status; transport failures become errors.
    pub async fn send(&self, call: &Call, request: &Request) -> Result<Answer, Error> {
        call.charge(&format!("{} {}", request.method, request.url.path()))?;
        retry::run(&self.policy, request.idempotency, self.product, || {
            self.attempt(call, request)
        })
        .await
    }

    /// [`Http::send`], then map a non-2xx answer to an [`Error`].
    pub async fn send_ok(&self, call: &Call, request: &Request) -> Result<Answer, Error> {
        let answer = self.send(call, request).await?;
        if answer.status.is_success() {
            Ok(answer)
        } else {
            Err(error_from_answer(self.product, &answer))
        }
    }

    /// One HTTP exchange, body included, under the per-request timeout.
    async fn attempt(&self, call: &Call, request: &Request) -> Result<Answer, Attempt> {
        let mut builder = self
            .client
            .request(request.method.clone(), request.url.clone())
            .headers(request.headers.clone());
        if let Some(body) = &request.body {
            builder = builder.body(body.clone());
        }
        let exchange = async {
            let response = builder.send().await?;
            let status = response.status();
            let headers = response.headers().clone();
            let body = response.bytes().await?.to_vec();
            Ok::<_, reqwest::Error>(Answer {
                status,
                headers,
                body,
            })
        };
        let outcome = tokio::time::timeout(self.policy.timeout, exchange).await;
        match outcome {
            Err(_) => {
                call.record(0);
                Err(Attempt::Timeout)
            }
            Ok(Err(e)) => {
                call.record(0);
                if e.is_timeout() {
                    Err(Attempt::Timeout)
                } else {
                    Err(Attempt::Transport(transport_message(e)))
                }
            }
            Ok(Ok(answer)) => {
                call.record(answer.body.len() as u64);
                Ok(answer)
            }
        }
    }
}

/// Why one attempt produced no answer.
#[derive(Debug, Clone, PartialEq)]
pub enum Attempt {
    Timeout,
    /// Connection refused, reset, DNS, TLS: a message without the URL's query.
    Transport(String),
}

fn transport_message(e: reqwest::Error) -> String {
    // The URL may carry query text (conditions) but never credentials; drop it anyway to keep
    // the message short.
    let e = e.without_url();
    let mut message = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        message.push_str(": ");
        message.push_str(&s.to_string());
        source = s.source();
    }
    message
}

/// The error body shapes the products answer with: Manage's `{code, message, errors[]}`, the
/// others' `{code, message}` or `{message}`, OAuth's `{error, error_description}`.
#[derive(Debug, Default, Deserialize)]
struct UpstreamError {
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    errors: Option<Vec<FieldError>>,
    /// OAuth's error code, or (Asio) an object with a `message`.
    #[serde(default)]
    error: Option<Value>,
    #[serde(default)]
    error_description: Option<String>,
}

/// Maps a non-2xx answer to an [`Error`].
pub fn error_from_answer(product: Product, answer: &Answer) -> Error {
    let parsed: UpstreamError = serde_json::from_slice(&answer.body).unwrap_or_default();
    let fields = parsed.errors.unwrap_or_default();
    let mut message = parsed
        .message
        .or(parsed.error_description)
        .or(parsed.description)
        .or(parsed.error.and_then(|e| match e {
            Value::String(s) => Some(s),
            other => other["message"].as_str().map(str::to_owned),
        }))
        .unwrap_or_else(|| {
            answer
                .status
                .canonical_reason()
                .unwrap_or("error")
                .to_owned()
        });
    if let Some(code) = parsed.code.filter(|c| !c.is_empty()) {
        message = format!("{code}: {message}");
    }
    // A 401 from Manage carries the real reason in errors[] (UserNotAuthenticated, clientId).
    if answer.status == StatusCode::UNAUTHORIZED
        && let Some(detail) = fields.iter().find(|f| !f.message.is_empty())
    {
        message = format!("{message} ({})", detail.message);
    }
    match answer.status.as_u16() {
        401 => Error::Unauthorized { product, message },
        403 => Error::Forbidden { product, message },
        404 => Error::NotFound { product, message },
        429 => Error::RateLimited {
            product,
            retry_after_seconds: answer
                .header("retry-after")
                .and_then(|v| retry::parse_retry_after(v, chrono::Utc::now()))
                .map(|d| d.as_secs().max(1))
                .unwrap_or(retry::FALLBACK_RETRY_AFTER.as_secs()),
        },
        status @ 500..=599 => Error::UpstreamUnavailable {
            product,
            status: Some(status),
            message: format!("HTTP {status}: {message}"),
        },
        status => Error::Invalid {
            product,
            status,
            message,
            fields,
        },
    }
}

/// Joins a base URL (no trailing slash needed) and a path relative to it.
pub(crate) fn join(base: &Url, path: &str) -> Url {
    let mut url = base.clone();
    let joined = format!(
        "{}/{}",
        base.path().trim_end_matches('/'),
        path.trim_start_matches('/')
    );
    url.set_path(&joined);
    url
}

/// Appends path segments to a base URL, each percent-encoded, so an id from a caller cannot add
/// segments (`a/../b`) or a query.
pub(crate) fn join_segments(base: &Url, segments: &[&str]) -> Url {
    let mut url = base.clone();
    if let Ok(mut path) = url.path_segments_mut() {
        path.pop_if_empty();
        path.extend(segments);
    }
    url
}

/// A duration in whole milliseconds, for messages.
pub(crate) fn millis(d: Duration) -> u64 {
    d.as_millis().try_into().unwrap_or(u64::MAX)
}

/// The sandbox tenant on loopback, with connector settings read from its `CW_*` lines.
#[cfg(test)]
pub(crate) mod testing {
    use std::time::Duration;

    use super::{Policy, Settings};

    pub struct Tenant {
        pub running: sandbox::Running,
        pub settings: Settings,
    }

    impl std::ops::Deref for Tenant {
        type Target = sandbox::Running;
        fn deref(&self) -> &sandbox::Running {
            &self.running
        }
    }

    impl Tenant {
        pub async fn start() -> Self {
            Self::start_with(|_| {}).await
        }

        pub async fn start_with(adjust: impl FnOnce(&mut sandbox::Config)) -> Self {
            let mut config = sandbox::Config {
                today: chrono::NaiveDate::from_ymd_opt(2026, 3, 2).unwrap(),
                ..sandbox::Config::default()
            };
            adjust(&mut config);
            let running = sandbox::start(config).await.unwrap();
            let settings = Settings::from_env_lines(&running.env_lines()).unwrap();
            Tenant { running, settings }
        }

        /// Quick retries so tests stay fast; the per-attempt timeout is generous.
        pub fn policy(&self) -> Policy {
            Policy {
                max_attempts: 3,
                max_wait: Duration::from_secs(3),
                base_backoff: Duration::from_millis(10),
                jitter: Duration::from_millis(50),
                timeout: Duration::from_secs(10),
            }
        }

        pub fn faults(&self, spec: &str) {
            self.running
                .add_faults(sandbox::faults::parse_spec(spec).unwrap());
        }

        pub async fn shutdown(self) {
            self.running.shutdown().await;
        }
    }

    /// `METHOD path status` for each journaled request of `product` (`manage`, `rmm`, ...).
    pub fn journal_lines(tenant: &Tenant, product: &str) -> Vec<String> {
        tenant
            .journal()
            .iter()
            .filter(|e| e.product == product)
            .map(|e| format!("{} {} {}", e.method, e.path, e.status))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(status: u16, body: &str, retry_after: Option<&str>) -> Answer {
        let mut headers = HeaderMap::new();
        if let Some(r) = retry_after {
            headers.insert("retry-after", HeaderValue::from_str(r).unwrap());
        }
        Answer {
            status: StatusCode::from_u16(status).unwrap(),
            headers,
            body: body.as_bytes().to_vec(),
        }
    }

    #[test]
    fn answers_map_to_kinds() {
        let cases: &[(u16, &str, Option<&str>, &str)] = &[
            (
                404,
                r#"{"code":"NotFound","message":"Ticket 4078 not found","errors":null}"#,
                None,
                "not_found",
            ),
            (
                400,
                r#"{"code":"InvalidObject","message":"x","errors":[{"code":"MissingRequiredField","message":"m","resource":"ticket","field":"summary"}]}"#,
                None,
                "invalid",
            ),
            (
                409,
                r#"{"code":"Conflict","message":"in use"}"#,
                None,
                "invalid",
            ),
            (401, r#"{"error":"invalid_client"}"#, None, "unauthorized"),
            (403, "", None, "forbidden"),
            (429, "", Some("7"), "rate_limited"),
            (
                500,
                r#"{"code":"ConnectWiseApi"}"#,
                None,
                "upstream_unavailable",
            ),
            (503, "<html>503</html>", None, "upstream_unavailable"),
        ];
        for (status, body, retry_after, kind) in cases {
            let e = error_from_answer(Product::Manage, &answer(*status, body, *retry_after));
            assert_eq!(e.kind(), *kind, "{status} {body}");
        }
    }

    #[test]
    fn validation_fields_and_retry_after_reach_the_body() {
        let e = error_from_answer(
            Product::Manage,
            &answer(
                400,
                r#"{"code":"InvalidObject","message":"ticket object is invalid","errors":[{"code":"MissingRequiredField","message":"The summary field is required.","resource":"ticket","field":"summary"}]}"#,
                None,
            ),
        );
        let body = e.to_json();
        assert_eq!(body["kind"], "invalid");
        assert_eq!(body["fields"][0]["field"], "summary");
        assert_eq!(body["status"], 400);

        let e = error_from_answer(Product::Sell, &answer(429, "", Some("12")));
        let body = e.body();
        assert_eq!(body.retry_after_seconds, Some(12));
        assert!(
            body.hint.contains("Do not retry this in a loop"),
            "{}",
            body.hint
        );
        assert!(body.hint.contains("12 seconds"));
    }

    #[test]
    fn budget_reserves_and_refuses_before_anything_is_sent() {
        let call = Call::new(Budget { max_calls: 5 });
        call.project_calls(3, "three").unwrap();
        // Requests draw on the reservation without reserving more.
        for _ in 0..3 {
            call.charge("x").unwrap();
        }
        assert_eq!(call.remaining(), 2);
        let refused = call.project_calls(3, "fan-out").unwrap_err();
        assert_eq!(refused.kind(), "over_budget");
        assert_eq!(call.remaining(), 2, "a refused projection reserves nothing");
        call.charge("y").unwrap();
        call.charge("z").unwrap();
        assert_eq!(
            call.charge("one too many").unwrap_err().kind(),
            "over_budget"
        );
    }

    #[test]
    fn unconfigured_products_answer_not_configured() {
        let env = [
            ("CW_API_URL", "https://na.myconnectwise.net"),
            ("CW_COMPANY_ID", "acme"),
            ("CW_PUBLIC_KEY", "pub"),
            ("CW_PRIVATE_KEY", "priv"),
            ("CW_CLIENT_ID", "client"),
            ("CW_CPQ_ACCESS_KEY", "ak"),
        ];
        let settings = Settings::from_env(|k| {
            env.iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        })
        .unwrap();
        let connectors = Connectors::new(&settings, &Policy::default()).unwrap();
        let e = connectors.asio().unwrap_err();
        assert_eq!(e.kind(), "not_configured");
        assert!(e.to_string().contains("CW_RMM_CLIENT_ID"), "{e}");
        let e = connectors.sell().unwrap_err();
        assert!(e.to_string().contains("partly configured"), "{e}");
        assert_eq!(e.body().product.as_deref(), Some("sell"));
        assert!(connectors.screenconnect().is_err());
        assert_eq!(connectors.states().len(), 4);
        assert_eq!(
            connectors.manage.root().as_str(),
            "https://na.myconnectwise.net/v4_6_release/apis/3.0"
        );
    }

    #[test]
    fn join_keeps_the_base_path() {
        let base = Url::parse("https://h.example/v4_6_release/apis/3.0").unwrap();
        assert_eq!(
            join(&base, "/service/tickets").as_str(),
            "https://h.example/v4_6_release/apis/3.0/service/tickets"
        );
        let base = Url::parse("https://h.example/").unwrap();
        assert_eq!(
            join(&base, "v1/token").as_str(),
            "https://h.example/v1/token"
        );
        let base = Url::parse("https://h.example/sc").unwrap();
        assert_eq!(
            join_segments(&base, &["api", "v1", "sessions", "../x?y=1"]).as_str(),
            "https://h.example/sc/api/v1/sessions/..%2Fx%3Fy=1"
        );
    }
}
