//! The HTTP front: one axum router with the sandbox-only endpoints under `/__sandbox/` and every
//! other request treated as ConnectWise traffic (journaled, exposed to faults, then dispatched to
//! the product it addresses).

use std::sync::{Arc, RwLock};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chrono::{SecondsFormat, Utc};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use crate::auth::{Credentials, Tokens};
use crate::error::{CwError, JSON};
use crate::faults::{self, FaultKind, Faults};
use crate::journal::{self, Journal};
use crate::tenant::Tenant;
use crate::truth::Truth;
use crate::{asio, manage, screenconnect, sell};

/// Largest request body accepted (ConnectWise bodies are small; this only bounds memory).
const MAX_BODY: usize = 8 * 1024 * 1024;

/// State shared by every connection.
pub struct Shared {
    pub tenant: RwLock<Tenant>,
    pub truth: Truth,
    pub journal: Journal,
    pub faults: Faults,
    pub creds: Credentials,
    pub tokens: Tokens,
    pub shutdown: CancellationToken,
}

impl Shared {
    pub fn read(&self) -> std::sync::RwLockReadGuard<'_, Tenant> {
        self.tenant.read().unwrap_or_else(|e| e.into_inner())
    }

    pub fn write(&self) -> std::sync::RwLockWriteGuard<'_, Tenant> {
        self.tenant.write().unwrap_or_else(|e| e.into_inner())
    }
}

/// One ConnectWise request, as the product handlers see it.
pub struct Req {
    pub method: Method,
    pub path: String,
    pub raw_query: Option<String>,
    pub query: Vec<(String, String)>,
    pub headers: HeaderMap,
    pub body: Bytes,
    /// `http://host[:port]` as the client addressed us (links in answers point back there).
    pub origin: String,
    /// Journal sequence number of this request.
    pub seq: u64,
}

impl Req {
    /// The first value of a query parameter, matched without regard to case.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn json_body(&self) -> Result<Value, String> {
        if self.body.is_empty() {
            return Err("The request body is empty.".into());
        }
        serde_json::from_slice(&self.body)
            .map_err(|e| format!("The request body is not valid JSON: {e}"))
    }
}

/// An answer before it becomes an HTTP response (kept plain so faults can mangle the body).
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: StatusCode,
    pub content_type: &'static str,
    pub headers: Vec<(&'static str, String)>,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn json(status: StatusCode, value: &Value) -> Self {
        Reply {
            status,
            content_type: JSON,
            headers: vec![],
            body: serde_json::to_vec(value).unwrap_or_default(),
        }
    }

    pub fn empty(status: StatusCode) -> Self {
        Reply {
            status,
            content_type: JSON,
            headers: vec![],
            body: vec![],
        }
    }

    pub fn with_header(mut self, name: &'static str, value: String) -> Self {
        self.headers.push((name, value));
        self
    }

    fn into_response(self) -> Response {
        let mut response = Response::new(Body::from(self.body));
        *response.status_mut() = self.status;
        let headers = response.headers_mut();
        if self.status != StatusCode::NO_CONTENT {
            headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static(self.content_type),
            );
        }
        for (name, value) in self.headers {
            if let Ok(v) = HeaderValue::from_str(&value) {
                headers.append(HeaderName::from_static(name), v);
            }
        }
        response
    }
}

impl From<CwError> for Reply {
    fn from(e: CwError) -> Self {
        Reply {
            status: e.status,
            content_type: JSON,
            headers: vec![],
            body: e.body().into_bytes(),
        }
    }
}

/// Which product a path addresses.
pub fn product(path: &str) -> &'static str {
    let lower = path.to_ascii_lowercase();
    if lower.starts_with("/login/companyinfo/") || lower.contains("/apis/3.0/") {
        "manage"
    } else if lower.starts_with("/rmm/") {
        "rmm"
    } else if lower.starts_with("/cpq/") {
        "cpq"
    } else if lower.starts_with("/sc/") {
        "sc"
    } else {
        "unknown"
    }
}

pub fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/__sandbox/truth", get(truth))
        .route("/__sandbox/health", get(health))
        .route("/__sandbox/journal", get(journal_get).delete(journal_clear))
        .route(
            "/__sandbox/faults",
            get(faults_get).post(faults_add).delete(faults_clear),
        )
        .fallback(upstream)
        .with_state(shared)
}

async fn truth(State(s): State<Arc<Shared>>) -> Response {
    axum::Json(&s.truth).into_response()
}

async fn health() -> Response {
    axum::Json(json!({"ok": true})).into_response()
}

#[derive(serde::Deserialize)]
struct Since {
    since: Option<u64>,
}

async fn journal_get(State(s): State<Arc<Shared>>, q: axum::extract::Query<Since>) -> Response {
    axum::Json(s.journal.snapshot(q.since.unwrap_or(0))).into_response()
}

async fn journal_clear(State(s): State<Arc<Shared>>) -> StatusCode {
    s.journal.clear();
    StatusCode::NO_CONTENT
}

async fn faults_get(State(s): State<Arc<Shared>>) -> Response {
    let rules = s.faults.rules();
    let spec: Vec<String> = rules.iter().map(ToString::to_string).collect();
    axum::Json(json!({"rules": rules, "spec": spec.join("; ")})).into_response()
}

/// Adds rules: a JSON body `{"spec": "..."}` or `{"rules": [FaultRule...]}`, or a SPEC as text.
async fn faults_add(State(s): State<Arc<Shared>>, body: Bytes) -> Response {
    let text = String::from_utf8_lossy(&body).to_string();
    let parsed: Result<Vec<faults::FaultRule>, String> = match serde_json::from_str::<Value>(&text)
    {
        Ok(Value::Object(map)) => {
            if let Some(spec) = map.get("spec").and_then(Value::as_str) {
                faults::parse_spec(spec).map_err(|e| e.to_string())
            } else if let Some(rules) = map.get("rules") {
                serde_json::from_value(rules.clone()).map_err(|e| e.to_string())
            } else {
                Err("expected {\"spec\": \"...\"} or {\"rules\": [...]}".into())
            }
        }
        _ => faults::parse_spec(&text).map_err(|e| e.to_string()),
    };
    match parsed {
        Ok(rules) => {
            s.faults.add(rules);
            faults_get(State(s)).await
        }
        Err(e) => (StatusCode::BAD_REQUEST, axum::Json(json!({"error": e}))).into_response(),
    }
}

async fn faults_clear(State(s): State<Arc<Shared>>) -> StatusCode {
    s.faults.clear();
    StatusCode::NO_CONTENT
}

/// Every ConnectWise request: journal, faults, dispatch.
async fn upstream(State(s): State<Arc<Shared>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let body = match axum::body::to_bytes(body, MAX_BODY).await {
        Ok(b) => b,
        Err(_) => return (StatusCode::PAYLOAD_TOO_LARGE, "request body too large").into_response(),
    };
    let path = parts.uri.path().to_string();
    let raw_query = parts.uri.query().map(str::to_string);
    let product = product(&path);
    let seq = s.journal.open(journal::Entry {
        seq: 0,
        time: Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true),
        product: product.into(),
        method: parts.method.to_string(),
        path: path.clone(),
        query: raw_query.clone(),
        body: if body.is_empty() {
            None
        } else {
            Some(String::from_utf8_lossy(&body).into_owned())
        },
        status: 0,
        faults: vec![],
    });

    let decision = s.faults.decide(parts.method.as_str(), &path);
    let names: Vec<String> = decision.names().into_iter().map(str::to_string).collect();
    if decision.latency_ms > 0 {
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(decision.latency_ms)) => {}
            _ = s.shutdown.cancelled() => {}
        }
    }
    let early = match decision.terminal {
        Some(FaultKind::Hang) => {
            s.journal.close(seq, 0, names.clone());
            // Held until the client gives up (the connection drops this future) or shutdown.
            s.shutdown.cancelled().await;
            Some(Reply::empty(StatusCode::SERVICE_UNAVAILABLE))
        }
        Some(FaultKind::RateLimit { retry_after }) => Some(rate_limited(product, retry_after)),
        Some(FaultKind::ServerError { status }) => Some(server_error(product, status)),
        _ => None,
    };
    let reply = match early {
        Some(r) => r,
        None => {
            let query: Vec<(String, String)> = raw_query
                .as_deref()
                .and_then(serde_urlencoded_pairs)
                .unwrap_or_default();
            let host = parts
                .headers
                .get(header::HOST)
                .and_then(|h| h.to_str().ok())
                .unwrap_or("127.0.0.1")
                .to_string();
            let req = Req {
                method: parts.method.clone(),
                path: path.clone(),
                raw_query,
                query,
                headers: parts.headers,
                body,
                origin: format!("http://{host}"),
                seq,
            };
            let mut reply = match product {
                "manage" => manage::handle(&s, &req),
                "rmm" => asio::handle(&s, &req),
                "cpq" => sell::handle(&s, &req),
                "sc" => screenconnect::handle(&s, &req),
                _ => CwError::no_route(&path).into(),
            };
            match decision.terminal {
                Some(FaultKind::Truncate) => reply.body = faults::truncate(&reply.body),
                Some(FaultKind::Malformed) => reply.body = faults::malform(&reply.body),
                _ => {}
            }
            reply
        }
    };
    s.journal.close(seq, reply.status.as_u16(), names);
    reply.into_response()
}

/// Query pairs, percent-decoded (`+` as space, as form encoding has it).
fn serde_urlencoded_pairs(q: &str) -> Option<Vec<(String, String)>> {
    let uri: axum::http::Uri = format!("/?{q}").parse().ok()?;
    axum::extract::Query::<Vec<(String, String)>>::try_from_uri(&uri)
        .ok()
        .map(|q| q.0)
}

fn rate_limited(product: &str, retry_after: u64) -> Reply {
    let reply = match product {
        "manage" => CwError::too_many_requests().into(),
        _ => Reply::json(
            StatusCode::TOO_MANY_REQUESTS,
            &json!({"code": "TooManyRequests", "message": "Rate limit exceeded; retry after the Retry-After seconds."}),
        ),
    };
    reply.with_header("retry-after", retry_after.to_string())
}

/// 500 answers with the product's error body; 502/503/504 come from the edge in front of it, as
/// an HTML page, the way a CDN or load balancer answers.
fn server_error(product: &str, status: u16) -> Reply {
    let code = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    if code == StatusCode::INTERNAL_SERVER_ERROR {
        return match product {
            "manage" => CwError::internal().into(),
            _ => Reply::json(
                code,
                &json!({"code": "InternalServerError", "message": "Internal server error"}),
            ),
        };
    }
    let reason = code.canonical_reason().unwrap_or("Error");
    Reply {
        status: code,
        content_type: "text/html; charset=utf-8",
        headers: vec![],
        body: format!("<html><head><title>{status} {reason}</title></head><body><h1>{status} {reason}</h1></body></html>")
            .into_bytes(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn products_by_path() {
        let cases = [
            ("/v4_6_release/apis/3.0/service/tickets", "manage"),
            ("/login/companyinfo/sandbox", "manage"),
            ("/rmm/v1/token", "rmm"),
            ("/cpq/api/quotes", "cpq"),
            ("/sc/api/v1/sessions", "sc"),
            ("/favicon.ico", "unknown"),
        ];
        for (path, want) in cases {
            assert_eq!(product(path), want, "{path}");
        }
    }

    #[test]
    fn query_pairs_are_decoded() {
        let pairs =
            serde_urlencoded_pairs("conditions=summary%20like%20%22%25x%25%22&pageSize=2").unwrap();
        assert_eq!(
            pairs[0],
            ("conditions".to_string(), "summary like \"%x%\"".to_string())
        );
        assert_eq!(pairs[1].1, "2");
    }
}
