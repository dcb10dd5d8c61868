//! The Manage (PSA) REST API 3.0 client (API-NOTES §2–§10): Basic `prefix+publicKey:privateKey`,
//! the `clientId` header, a pinned `Accept` version, the query parameters as a typed [`Query`],
//! paging with a row budget separate from the page size, JSON Patch, and ConnectWise error bodies
//! mapped to [`Error`].
//!
//! Paths are relative to the API root (`/service/tickets/12`). The client never follows a URL
//! from a response (a `Link` header only tells it whether there is a next page; it builds that
//! request itself), so credentials only ever go to the configured host.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, SecondsFormat, Utc};
use reqwest::header::HeaderValue;
use reqwest::{Method, Url};
use serde::Serialize;
use serde_json::Value;

use super::settings::ManageSettings;
use super::{Call, Error, Http, Policy, Product, Request, join};

/// The release the client pins its response contract to (the sandbox's and the models
/// catalogue's version).
pub const API_VERSION: &str = "2025.1";
/// The `Accept` header: the ConnectWise media type pinned to [`API_VERSION`].
pub const ACCEPT_VERSIONED: &str = "application/vnd.connectwise.com+json; version=2025.1";
/// ConnectWise's hard limit on `pageSize`.
pub const MAX_PAGE_SIZE: u32 = 1000;

/// `conditions`, `childConditions`, `customFieldConditions`, `orderBy`, `fields`, `page` and
/// `pageSize` (API-NOTES §6–§7). Build condition text with [`condition`] and [`in_list`] when it
/// contains values that come from a caller.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Query {
    pub conditions: Option<String>,
    pub child_conditions: Option<String>,
    pub custom_field_conditions: Option<String>,
    pub order_by: Option<String>,
    pub fields: Vec<String>,
    /// 1-based.
    pub page: Option<u32>,
    /// 1..=1000 (clamped).
    pub page_size: Option<u32>,
}

impl Query {
    pub fn new() -> Self {
        Query::default()
    }

    pub fn conditions(mut self, conditions: impl Into<String>) -> Self {
        self.conditions = Some(conditions.into());
        self
    }

    /// Adds a condition with `and` (parenthesised, so `or`s inside stay grouped).
    pub fn and(mut self, condition: impl Into<String>) -> Self {
        let condition = condition.into();
        self.conditions = Some(match self.conditions.take() {
            None => condition,
            Some(existing) => format!("({existing}) and ({condition})"),
        });
        self
    }

    pub fn child_conditions(mut self, conditions: impl Into<String>) -> Self {
        self.child_conditions = Some(conditions.into());
        self
    }

    pub fn custom_field_conditions(mut self, conditions: impl Into<String>) -> Self {
        self.custom_field_conditions = Some(conditions.into());
        self
    }

    /// `field asc|desc[, ...]`.
    pub fn order_by(mut self, order_by: impl Into<String>) -> Self {
        self.order_by = Some(order_by.into());
        self
    }

    /// Property paths to return (`id`, `board/name`, `_info/lastUpdated`).
    pub fn fields<S: Into<String>>(mut self, fields: impl IntoIterator<Item = S>) -> Self {
        self.fields = fields.into_iter().map(Into::into).collect();
        self
    }

    pub fn page(mut self, page: u32) -> Self {
        self.page = Some(page.max(1));
        self
    }

    pub fn page_size(mut self, size: u32) -> Self {
        self.page_size = Some(size.clamp(1, MAX_PAGE_SIZE));
        self
    }

    /// The query string pairs, in a stable order.
    pub fn pairs(&self) -> Vec<(&'static str, String)> {
        let mut pairs = Vec::new();
        let mut text = |name: &'static str, value: &Option<String>| {
            if let Some(v) = value.as_deref().map(str::trim).filter(|v| !v.is_empty()) {
                pairs.push((name, v.to_owned()));
            }
        };
        text("conditions", &self.conditions);
        text("childConditions", &self.child_conditions);
        text("customFieldConditions", &self.custom_field_conditions);
        text("orderBy", &self.order_by);
        if !self.fields.is_empty() {
            pairs.push(("fields", self.fields.join(",")));
        }
        if let Some(p) = self.page {
            pairs.push(("page", p.to_string()));
        }
        if let Some(s) = self.page_size {
            pairs.push(("pageSize", s.clamp(1, MAX_PAGE_SIZE).to_string()));
        }
        pairs
    }
}

/// A value in a condition.
#[derive(Debug, Clone, PartialEq)]
pub enum Literal {
    Str(String),
    Int(i64),
    Num(f64),
    Bool(bool),
    Null,
    DateTime(DateTime<Utc>),
}

impl From<&str> for Literal {
    fn from(s: &str) -> Self {
        Literal::Str(s.to_owned())
    }
}
impl From<String> for Literal {
    fn from(s: String) -> Self {
        Literal::Str(s)
    }
}
impl From<i64> for Literal {
    fn from(n: i64) -> Self {
        Literal::Int(n)
    }
}
impl From<bool> for Literal {
    fn from(b: bool) -> Self {
        Literal::Bool(b)
    }
}
impl From<DateTime<Utc>> for Literal {
    fn from(d: DateTime<Utc>) -> Self {
        Literal::DateTime(d)
    }
}

/// Comparison operators of the condition grammar.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Contains,
    Like,
    NotContains,
    NotLike,
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Op::Eq => "=",
            Op::Ne => "!=",
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Gt => ">",
            Op::Ge => ">=",
            Op::Contains => "contains",
            Op::Like => "like",
            Op::NotContains => "not contains",
            Op::NotLike => "not like",
        })
    }
}

fn invalid(message: String) -> Error {
    Error::Invalid {
        product: Product::Manage,
        status: 0,
        message,
        fields: Vec::new(),
    }
}

/// A field path (`board/name`, `_info/lastUpdated`).
fn check_path(path: &str) -> Result<(), Error> {
    let ok = !path.is_empty()
        && path.split('/').all(|seg| {
            !seg.is_empty() && seg.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        });
    if ok {
        Ok(())
    } else {
        Err(invalid(format!("'{path}' is not a field path")))
    }
}

/// Renders a literal. Strings are quoted with `"` (or `'` when they contain `"`); a string with
/// both quotes or a backslash is refused, because how ConnectWise escapes inside a string is not
/// documented and a wrong guess would let the value rewrite the condition.
pub fn literal(value: &Literal) -> Result<String, Error> {
    Ok(match value {
        Literal::Str(s) => {
            if s.contains('\\') || (s.contains('"') && s.contains('\'')) {
                return Err(invalid(format!(
                    "the value {s:?} cannot be put in a condition (it has a backslash, or both quote kinds)"
                )));
            }
            if s.contains('"') {
                format!("'{s}'")
            } else {
                format!("\"{s}\"")
            }
        }
        Literal::Int(n) => n.to_string(),
        Literal::Num(x) if x.is_finite() => x.to_string(),
        Literal::Num(x) => return Err(invalid(format!("{x} is not a number ConnectWise takes"))),
        Literal::Bool(b) => b.to_string(),
        Literal::Null => "null".into(),
        Literal::DateTime(d) => format!("[{}]", d.to_rfc3339_opts(SecondsFormat::Secs, true)),
    })
}

/// `path op value`, e.g. `condition("board/name", Op::Eq, "Help Desk")` → `board/name = "Help Desk"`.
pub fn condition(path: &str, op: Op, value: impl Into<Literal>) -> Result<String, Error> {
    check_path(path)?;
    Ok(format!("{path} {op} {}", literal(&value.into())?))
}

/// `path in (v1, v2, ...)`.
pub fn in_list(path: &str, values: &[Literal]) -> Result<String, Error> {
    check_path(path)?;
    if values.is_empty() {
        return Err(invalid(format!("an empty list for {path} in (...)")));
    }
    let rendered: Result<Vec<String>, Error> = values.iter().map(literal).collect();
    Ok(format!("{path} in ({})", rendered?.join(",")))
}

/// One JSON Patch operation (`add | replace | remove`, API-NOTES §8).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PatchOp {
    pub op: &'static str,
    /// With a leading `/`: `/summary`, `/status`.
    pub path: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<Value>,
}

fn patch_path(path: &str) -> String {
    format!("/{}", path.trim_start_matches('/'))
}

impl PatchOp {
    pub fn replace(path: &str, value: Value) -> Self {
        PatchOp {
            op: "replace",
            path: patch_path(path),
            value: Some(value),
        }
    }

    pub fn add(path: &str, value: Value) -> Self {
        PatchOp {
            op: "add",
            path: patch_path(path),
            value: Some(value),
        }
    }

    pub fn remove(path: &str) -> Self {
        PatchOp {
            op: "remove",
            path: patch_path(path),
            value: None,
        }
    }
}

/// The rows of a paged read.
#[derive(Debug, Clone, PartialEq)]
pub struct Listing {
    pub rows: Vec<Value>,
    /// More rows matched than the row budget allowed.
    pub truncated: bool,
    /// Pages requested.
    pub pages: u32,
}

/// Whether a `Link` header has a `rel="next"` entry.
fn has_next(link: &str) -> bool {
    link.split('<').skip(1).any(|entry| {
        entry
            .split_once('>')
            .map(|(_, params)| params)
            .unwrap_or_default()
            .split([';', ','])
            .map(str::trim)
            .any(|p| p.eq_ignore_ascii_case("rel=\"next\"") || p.eq_ignore_ascii_case("rel=next"))
    })
}

/// The Manage client. Cheap to share behind an `Arc`; one per daemon.
#[derive(Debug)]
pub struct Manage {
    http: Http,
    root: Url,
    authorization: HeaderValue,
    client_id: HeaderValue,
    accept: HeaderValue,
}

fn header_value(product: Product, what: &str, value: &str) -> Result<HeaderValue, Error> {
    HeaderValue::from_str(value).map_err(|_| Error::NotConfigured {
        product,
        problem: format!("{what} has characters that cannot go in an HTTP header"),
    })
}

/// `Basic base64(user:password)`, marked sensitive so it is never printed.
pub(crate) fn basic_auth(
    product: Product,
    user: &str,
    password: &str,
) -> Result<HeaderValue, Error> {
    let encoded = STANDARD.encode(format!("{user}:{password}"));
    let mut value = header_value(product, "the credentials", &format!("Basic {encoded}"))?;
    value.set_sensitive(true);
    Ok(value)
}

impl Manage {
    pub fn new(settings: &ManageSettings, policy: Policy) -> Result<Self, Error> {
        let product = Product::Manage;
        Ok(Manage {
            http: Http::new(product, policy)?,
            root: settings.url.clone(),
            authorization: basic_auth(
                product,
                &settings.username(),
                settings.private_key.expose(),
            )?,
            client_id: header_value(product, "CW_CLIENT_ID", &settings.client_id)?,
            accept: HeaderValue::from_static(ACCEPT_VERSIONED),
        })
    }

    /// The API root requests go to.
    pub fn root(&self) -> &Url {
        &self.root
    }

    fn request(&self, method: Method, path: &str, query: &Query) -> Request {
        let mut url = join(&self.root, path);
        let pairs = query.pairs();
        if !pairs.is_empty() {
            let mut q = url.query_pairs_mut();
            for (k, v) in &pairs {
                q.append_pair(k, v);
            }
        }
        Request::new(method, url)
            .header("authorization", self.authorization.clone())
            .header("clientid", self.client_id.clone())
            .header("accept", self.accept.clone())
    }

    async fn json(&self, call: &Call, request: &Request) -> Result<Value, Error> {
        self.http
            .send_ok(call, request)
            .await?
            .json(Product::Manage)
    }

    /// `GET path` (a record or any other single answer); `fields` in `query` narrow it.
    pub async fn get(&self, call: &Call, path: &str, query: &Query) -> Result<Value, Error> {
        self.json(call, &self.request(Method::GET, path, query))
            .await
    }

    /// Reads up to `max_rows` rows of the collection at `path`, page by page. The page size is
    /// the query's (default: the row budget, up to 1000); the pages needed for the row budget are
    /// projected against the call's budget before the first request.
    pub async fn list(
        &self,
        call: &Call,
        path: &str,
        query: &Query,
        max_rows: usize,
    ) -> Result<Listing, Error> {
        let mut listing = Listing {
            rows: Vec::new(),
            truncated: false,
            pages: 0,
        };
        if max_rows == 0 {
            return Ok(listing);
        }
        let size = query
            .page_size
            .unwrap_or_else(|| u32::try_from(max_rows).unwrap_or(MAX_PAGE_SIZE))
            .clamp(1, MAX_PAGE_SIZE);
        let pages_needed = (max_rows as u64).div_ceil(u64::from(size));
        call.project_calls(pages_needed, &format!("listing {path}"))?;
        let mut page = query.page.unwrap_or(1).max(1);
        loop {
            let q = query.clone().page(page).page_size(size);
            let answer = self
                .http
                .send_ok(call, &self.request(Method::GET, path, &q))
                .await?;
            listing.pages += 1;
            let Value::Array(rows) = answer.json(Product::Manage)? else {
                return Err(Error::MalformedResponse {
                    product: Product::Manage,
                    message: format!("GET {path} answered something other than a JSON array"),
                });
            };
            let got = rows.len();
            let next = answer.header("link").map(has_next);
            let room = max_rows - listing.rows.len();
            listing.rows.extend(rows.into_iter().take(room));
            let full_page = got >= size as usize;
            if listing.rows.len() >= max_rows {
                listing.truncated = got > room || next.unwrap_or(full_page);
                break;
            }
            // A short page is the last; so is a Link header without `next`. Without any Link
            // header (not every endpoint sends one), a full page means there may be more.
            if !full_page || next == Some(false) {
                break;
            }
            page += 1;
        }
        call.release_unused(pages_needed.saturating_sub(u64::from(listing.pages)));
        Ok(listing)
    }

    /// `GET path/count` with the same conditions.
    pub async fn count(&self, call: &Call, path: &str, query: &Query) -> Result<u64, Error> {
        let count_path = format!("{}/count", path.trim_end_matches('/'));
        let q = Query {
            fields: Vec::new(),
            order_by: None,
            page: None,
            page_size: None,
            ..query.clone()
        };
        let value = self.get(call, &count_path, &q).await?;
        value["count"]
            .as_u64()
            .ok_or_else(|| Error::MalformedResponse {
                product: Product::Manage,
                message: format!("GET {count_path} answered without a numeric count"),
            })
    }

    /// `POST path` with a JSON body (a create, or an action). Sent once, never retried.
    pub async fn post(&self, call: &Call, path: &str, body: &Value) -> Result<Value, Error> {
        self.json(
            call,
            &self.request(Method::POST, path, &Query::new()).json(body),
        )
        .await
    }

    /// `PATCH path` with a JSON Patch array. Sent once, never retried.
    pub async fn patch(&self, call: &Call, path: &str, ops: &[PatchOp]) -> Result<Value, Error> {
        self.json(
            call,
            &self.request(Method::PATCH, path, &Query::new()).json(&ops),
        )
        .await
    }

    /// `DELETE path`. Sent once, never retried.
    pub async fn delete(&self, call: &Call, path: &str) -> Result<(), Error> {
        self.http
            .send_ok(call, &self.request(Method::DELETE, path, &Query::new()))
            .await
            .map(drop)
    }

    /// Sends a request exactly as the gate planned and previewed it: `method` on `path_and_query`
    /// (relative to the API root, its query already encoded) with an optional JSON body; answers
    /// the status and the body. Only GETs are retried.
    pub async fn send_planned(
        &self,
        call: &Call,
        method: Method,
        path_and_query: &str,
        body: Option<&Value>,
    ) -> Result<(u16, Value), Error> {
        let (path, query) = match path_and_query.split_once('?') {
            Some((p, q)) => (p, Some(q)),
            None => (path_and_query, None),
        };
        let mut request = self.request(method, path, &Query::new());
        request.url.set_query(query);
        if let Some(body) = body {
            request = request.json(body);
        }
        let answer = self.http.send_ok(call, &request).await?;
        Ok((answer.status.as_u16(), answer.json(Product::Manage)?))
    }

    /// `GET /system/info`: the usual connectivity and credentials probe.
    pub async fn system_info(&self, call: &Call) -> Result<Value, Error> {
        self.get(call, "/system/info", &Query::new()).await
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use serde_json::json;

    use super::super::settings::Secret;
    use super::super::testing::{Tenant, journal_lines};
    use super::super::{Budget, Policy};
    use super::*;

    fn client(tenant: &Tenant) -> Manage {
        Manage::new(&tenant.settings.manage, tenant.policy()).unwrap()
    }

    fn with_policy(tenant: &Tenant, adjust: impl FnOnce(&mut Policy)) -> Manage {
        let mut policy = tenant.policy();
        adjust(&mut policy);
        Manage::new(&tenant.settings.manage, policy).unwrap()
    }

    /// The decoded query of each journaled Manage request.
    fn journal_queries(tenant: &Tenant) -> Vec<Vec<(String, String)>> {
        tenant
            .journal()
            .iter()
            .map(|e| {
                let url = Url::parse(&format!(
                    "http://x/?{}",
                    e.query.clone().unwrap_or_default()
                ))
                .unwrap();
                url.query_pairs()
                    .map(|(k, v)| (k.into_owned(), v.into_owned()))
                    .collect()
            })
            .collect()
    }

    #[tokio::test]
    async fn auth_success_and_refusals() {
        let tenant = Tenant::start().await;
        let good = tenant.settings.manage.clone();
        let info = client(&tenant).system_info(&Call::default()).await.unwrap();
        assert!(info["version"].is_string(), "{info}");

        let cases: Vec<(ManageSettings, &str, &str)> = vec![
            (
                ManageSettings {
                    private_key: Secret::new("zq-not-the-key"),
                    ..good.clone()
                },
                "unauthorized",
                "not authenticated",
            ),
            (
                ManageSettings {
                    auth_prefix: Some("othercompany+".into()),
                    ..good.clone()
                },
                "unauthorized",
                "not authenticated",
            ),
            (
                ManageSettings {
                    client_id: "11111111-1111-1111-1111-111111111111".into(),
                    ..good.clone()
                },
                "unauthorized",
                "clientId",
            ),
        ];
        for (settings, kind, says) in cases {
            let manage = Manage::new(&settings, tenant.policy()).unwrap();
            let e = manage.system_info(&Call::default()).await.unwrap_err();
            assert_eq!(e.kind(), kind, "{e}");
            assert!(e.to_string().contains(says), "{e}");
            assert!(!format!("{e:?} {}", e.to_json()).contains("zq-not-the-key"));
        }
        // Refusals are not retried: one request each.
        assert_eq!(journal_lines(&tenant, "manage").len(), 4);
        tenant.shutdown().await;
    }

    #[tokio::test]
    async fn list_pages_up_to_the_row_budget() {
        let tenant = Tenant::start().await;
        let manage = client(&tenant);
        let call = Call::default();
        let q = Query::new().page_size(25).order_by("id asc");
        let listing = manage
            .list(&call, "/service/tickets", &q, 30)
            .await
            .unwrap();
        assert_eq!(listing.rows.len(), 30);
        assert!(listing.truncated);
        assert_eq!(listing.pages, 2);
        assert_eq!(call.requests(), 2);
        let pages: Vec<(String, String)> = journal_queries(&tenant)
            .into_iter()
            .map(|pairs| {
                let get = |k: &str| pairs.iter().find(|(n, _)| n == k).unwrap().1.clone();
                (get("page"), get("pageSize"))
            })
            .collect();
        assert_eq!(
            pages,
            [("1".into(), "25".into()), ("2".into(), "25".into())]
        );
        let ids: Vec<i64> = listing
            .rows
            .iter()
            .map(|r| r["id"].as_i64().unwrap())
            .collect();
        let mut sorted = ids.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(ids, sorted, "ascending and without repeats across pages");

        // Everything, when the budget is larger than the collection: stops on the short page.
        tenant.clear_journal();
        let total = manage
            .count(&call, "/service/tickets", &Query::new())
            .await
            .unwrap();
        let all = manage
            .list(
                &call,
                "/service/tickets",
                &Query::new().page_size(100),
                1000,
            )
            .await
            .unwrap();
        assert_eq!(all.rows.len() as u64, total);
        assert!(!all.truncated);
        assert_eq!(all.pages as u64, total.div_ceil(100));
        tenant.shutdown().await;
    }

    #[tokio::test]
    async fn query_parameters_reach_the_api_verbatim() {
        let tenant = Tenant::start().await;
        let manage = client(&tenant);
        let conditions = format!(
            "{} and {}",
            condition("closedFlag", Op::Eq, false).unwrap(),
            in_list("board/name", &["Help Desk".into(), "Projects".into()]).unwrap()
        );
        let q = Query::new()
            .conditions(conditions.clone())
            .order_by("priority/id asc, id desc")
            .fields(["id", "summary", "board/name"])
            .page_size(10);
        let rows = manage
            .list(&Call::default(), "/service/tickets", &q, 10)
            .await
            .unwrap();
        assert!(rows.rows.iter().all(|r| r.as_object().unwrap().len() <= 3));
        let sent = &journal_queries(&tenant)[0];
        let want: Vec<(String, String)> = [
            ("conditions", conditions.as_str()),
            ("orderBy", "priority/id asc, id desc"),
            ("fields", "id,summary,board/name"),
            ("page", "1"),
            ("pageSize", "10"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        assert_eq!(sent, &want);

        // The sandbox applied them: every row is open and on one of the boards.
        let count = manage
            .count(
                &Call::default(),
                "/service/tickets",
                &Query::new().conditions(conditions),
            )
            .await
            .unwrap();
        assert_eq!(rows.rows.len() as u64, count.min(10));
        tenant.shutdown().await;
    }

    #[tokio::test]
    async fn rate_limit_is_honoured_then_succeeds() {
        let tenant = Tenant::start().await;
        let manage = client(&tenant);
        let id = manage
            .list(&Call::default(), "/service/tickets", &Query::new(), 1)
            .await
            .unwrap()
            .rows[0]["id"]
            .as_i64()
            .unwrap();
        tenant.clear_journal();
        tenant.faults("GET */service/tickets*=429:1,times=1");
        let started = Instant::now();
        let call = Call::default();
        let ticket = manage
            .get(&call, &format!("/service/tickets/{id}"), &Query::new())
            .await
            .unwrap();
        assert_eq!(ticket["id"], id);
        assert!(
            started.elapsed() >= Duration::from_secs(1),
            "{:?}",
            started.elapsed()
        );
        assert_eq!(call.requests(), 2);
        let path = format!("/v4_6_release/apis/3.0/service/tickets/{id}");
        assert_eq!(
            journal_lines(&tenant, "manage"),
            [format!("GET {path} 429"), format!("GET {path} 200")]
        );

        // A Retry-After beyond the cap is not waited for: the caller hears at once.
        tenant.clear_journal();
        tenant.faults("GET */service/tickets*=429:30,times=1");
        let started = Instant::now();
        let e = manage
            .get(
                &Call::default(),
                &format!("/service/tickets/{id}"),
                &Query::new(),
            )
            .await
            .unwrap_err();
        assert!(started.elapsed() < Duration::from_secs(3));
        let body = e.body();
        assert_eq!(body.kind, "rate_limited");
        assert_eq!(body.retry_after_seconds, Some(30));
        assert!(body.hint.contains("Do not retry this in a loop"));
        assert_eq!(journal_lines(&tenant, "manage").len(), 1);
        tenant.shutdown().await;
    }

    #[tokio::test]
    async fn server_errors_retry_reads_and_never_writes() {
        let tenant = Tenant::start().await;
        let manage = client(&tenant);
        let call = Call::default();
        let ticket = manage
            .list(&call, "/service/tickets", &Query::new(), 1)
            .await
            .unwrap()
            .rows
            .remove(0);
        let id = ticket["id"].as_i64().unwrap();
        let one = format!("/service/tickets/{id}");

        // A read gets through after two 503s.
        tenant.clear_journal();
        tenant.faults("GET */service/tickets/*=503,times=2");
        manage.get(&call, &one, &Query::new()).await.unwrap();
        assert_eq!(
            journal_lines(&tenant, "manage")
                .iter()
                .map(|l| l.rsplit(' ').next().unwrap().to_owned())
                .collect::<Vec<_>>(),
            ["503", "503", "200"]
        );

        // A read that keeps failing gives up after max_attempts.
        tenant.clear_journal();
        tenant.clear_faults();
        tenant.faults("GET */service/tickets/*=502");
        let e = manage.get(&call, &one, &Query::new()).await.unwrap_err();
        assert_eq!(e.kind(), "upstream_unavailable");
        assert_eq!(e.body().status, Some(502));
        assert_eq!(journal_lines(&tenant, "manage").len(), 3);

        tenant.shutdown().await;
    }

    #[tokio::test]
    async fn each_write_is_sent_exactly_once_under_503() {
        for (method, spec) in [
            ("POST", "POST */service/tickets=503"),
            ("PATCH", "PATCH */service/tickets/*=503"),
            ("DELETE", "DELETE */service/tickets/*=503"),
        ] {
            let tenant = Tenant::start().await;
            let manage = client(&tenant);
            tenant.faults(spec);
            let call = Call::default();
            let result = match method {
                "POST" => {
                    manage
                        .post(&call, "/service/tickets", &json!({"summary": "x"}))
                        .await
                }
                "PATCH" => {
                    manage
                        .patch(
                            &call,
                            "/service/tickets/1",
                            &[PatchOp::replace("summary", json!("y"))],
                        )
                        .await
                }
                _ => manage
                    .delete(&call, "/service/tickets/1")
                    .await
                    .map(|()| Value::Null),
            };
            let e = result.unwrap_err();
            assert_eq!(e.kind(), "upstream_unavailable", "{method}");
            assert!(e.body().hint.contains("may or may not have been applied"));
            let lines = journal_lines(&tenant, "manage");
            assert_eq!(lines.len(), 1, "{method}: {lines:?}");
            assert!(
                lines[0].starts_with(method) && lines[0].ends_with(" 503"),
                "{lines:?}"
            );
            assert_eq!(call.requests(), 1);
            tenant.shutdown().await;
        }
    }

    #[tokio::test]
    async fn hangs_time_out_reads_retried_writes_once() {
        let tenant = Tenant::start().await;
        let manage = with_policy(&tenant, |p| p.timeout = Duration::from_millis(300));
        tenant.faults("*/service/tickets*=hang");
        let started = Instant::now();
        let e = manage
            .get(&Call::default(), "/service/tickets/1", &Query::new())
            .await
            .unwrap_err();
        assert_eq!(e.kind(), "timeout", "{e}");
        assert!(started.elapsed() >= Duration::from_millis(900));
        assert_eq!(journal_lines(&tenant, "manage").len(), 3);

        tenant.clear_journal();
        let e = manage
            .post(
                &Call::default(),
                "/service/tickets",
                &json!({"summary": "x"}),
            )
            .await
            .unwrap_err();
        assert_eq!(e.kind(), "timeout");
        let lines = journal_lines(&tenant, "manage");
        assert_eq!(lines.len(), 1, "{lines:?}");
        assert!(lines[0].starts_with("POST"));
        tenant.shutdown().await;
    }

    #[tokio::test]
    async fn mangled_bodies_are_malformed_responses() {
        let tenant = Tenant::start().await;
        let manage = client(&tenant);
        for spec in [
            "GET */system/info=malformed,times=1",
            "GET */system/info=truncate,times=1",
        ] {
            tenant.clear_journal();
            tenant.faults(spec);
            let e = manage.system_info(&Call::default()).await.unwrap_err();
            assert_eq!(e.kind(), "malformed_response", "{spec}: {e}");
            assert_eq!(journal_lines(&tenant, "manage").len(), 1, "{spec}");
        }
        tenant.shutdown().await;
    }

    #[tokio::test]
    async fn writes_round_trip_and_validation_errors_carry_fields() {
        let tenant = Tenant::start().await;
        let manage = client(&tenant);
        let call = Call::default();

        let e = manage
            .post(&call, "/service/tickets", &json!({}))
            .await
            .unwrap_err();
        assert_eq!(e.kind(), "invalid");
        let body = e.body();
        assert_eq!(body.status, Some(400));
        assert!(
            body.fields.iter().any(|f| f.field == "summary"),
            "{:?}",
            body.fields
        );

        let company = manage
            .list(&call, "/company/companies", &Query::new(), 1)
            .await
            .unwrap()
            .rows
            .remove(0);
        let board = manage
            .list(&call, "/service/boards", &Query::new(), 1)
            .await
            .unwrap()
            .rows
            .remove(0);
        let created = manage
            .post(
                &call,
                "/service/tickets",
                &json!({"summary": "Printer offline", "company": {"id": company["id"]}, "board": {"id": board["id"]}}),
            )
            .await
            .unwrap();
        let path = format!("/service/tickets/{}", created["id"]);
        let patched = manage
            .patch(
                &call,
                &path,
                &[PatchOp::replace("summary", json!("Printer back online"))],
            )
            .await
            .unwrap();
        assert_eq!(patched["summary"], "Printer back online");
        let e = manage
            .patch(
                &call,
                &path,
                &[PatchOp::replace("status", json!({"id": 999_999}))],
            )
            .await
            .unwrap_err();
        assert_eq!(e.kind(), "invalid", "{e}");
        assert!(!e.body().fields.is_empty());
        manage.delete(&call, &path).await.unwrap();
        let gone = manage.get(&call, &path, &Query::new()).await.unwrap_err();
        assert_eq!(gone.kind(), "not_found");
        assert!(gone.body().hint.contains("do not guess"));
        tenant.shutdown().await;
    }

    #[tokio::test]
    async fn over_budget_fan_outs_send_nothing() {
        let tenant = Tenant::start().await;
        let manage = client(&tenant);

        // A fan-out stated up front is refused whole.
        let call = Call::new(Budget { max_calls: 5 });
        let e = call.project_calls(10, "reading 10 tickets").unwrap_err();
        assert_eq!(e.kind(), "over_budget");
        assert!(e.to_string().contains("10"));
        // A listing whose row budget needs more pages than the call allows.
        let e = manage
            .list(&call, "/service/tickets", &Query::new().page_size(25), 200)
            .await
            .unwrap_err();
        assert_eq!(e.kind(), "over_budget");
        assert!(tenant.journal().is_empty(), "nothing may be sent");

        // Requests made without a projection still stop at the budget.
        let call = Call::new(Budget { max_calls: 2 });
        for _ in 0..2 {
            manage.system_info(&call).await.unwrap();
        }
        assert_eq!(
            manage.system_info(&call).await.unwrap_err().kind(),
            "over_budget"
        );
        assert_eq!(journal_lines(&tenant, "manage").len(), 2);
        let metered = call.finish(());
        assert_eq!(metered.requests, 2);
        assert!(metered.bytes > 0);
        tenant.shutdown().await;
    }

    #[test]
    fn accept_pins_the_api_version() {
        assert!(ACCEPT_VERSIONED.ends_with(&format!("version={API_VERSION}")));
    }

    #[test]
    fn pairs_are_stable_and_clamped() {
        let q = Query::new()
            .conditions("closedFlag = false")
            .and("board/id = 1 or board/id = 2")
            .child_conditions("communicationItems/value like \"x\"")
            .order_by("id desc")
            .fields(["id", "summary"])
            .page(0)
            .page_size(5000);
        assert_eq!(
            q.pairs(),
            vec![
                (
                    "conditions",
                    "(closedFlag = false) and (board/id = 1 or board/id = 2)".to_owned()
                ),
                (
                    "childConditions",
                    "communicationItems/value like \"x\"".to_owned()
                ),
                ("orderBy", "id desc".to_owned()),
                ("fields", "id,summary".to_owned()),
                ("page", "1".to_owned()),
                ("pageSize", "1000".to_owned()),
            ]
        );
    }

    #[test]
    fn conditions_table() {
        let date = DateTime::parse_from_rfc3339("2026-03-02T01:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let cases: Vec<(Result<String, Error>, Option<&str>)> = vec![
            (
                condition("board/name", Op::Eq, "Help Desk"),
                Some("board/name = \"Help Desk\""),
            ),
            (
                condition("summary", Op::Contains, "say \"hi\""),
                Some("summary contains 'say \"hi\"'"),
            ),
            (condition("summary", Op::Like, "a\"b'c"), None),
            (condition("summary", Op::Eq, "trailing\\"), None),
            (condition("id", Op::Gt, 5i64), Some("id > 5")),
            (
                condition("closedFlag", Op::Eq, false),
                Some("closedFlag = false"),
            ),
            (
                condition("lastUpdated", Op::Ge, date),
                Some("lastUpdated >= [2026-03-02T01:00:00Z]"),
            ),
            (
                condition("parentTicketId", Op::Eq, Literal::Null),
                Some("parentTicketId = null"),
            ),
            (condition("x or 1", Op::Eq, 1i64), None),
            (condition("a//b", Op::Eq, 1i64), None),
            (
                in_list("status/name", &["New".into(), "Open".into()]),
                Some("status/name in (\"New\",\"Open\")"),
            ),
            (in_list("id", &[]), None),
        ];
        for (got, want) in cases {
            match (got, want) {
                (Ok(g), Some(w)) => assert_eq!(g, w),
                (Err(e), None) => assert_eq!(e.kind(), "invalid"),
                (got, want) => panic!("got {got:?}, want {want:?}"),
            }
        }
    }

    #[test]
    fn link_next_table() {
        let cases = [
            (
                "<https://h/x?pageSize=25&page=2>; rel=\"next\", <https://h/x?pageSize=25&page=4>; rel=\"last\"",
                true,
            ),
            (
                "<https://h/x?page=1>; rel=\"first\", <https://h/x?page=3>; rel=\"prev\"",
                false,
            ),
            ("<https://h/x?pageId=9>; rel=next", true),
            ("", false),
        ];
        for (link, want) in cases {
            assert_eq!(has_next(link), want, "{link}");
        }
    }

    #[test]
    fn patch_paths_get_a_leading_slash() {
        let ops = [
            PatchOp::replace("status", serde_json::json!({"id": 42})),
            PatchOp::remove("/budgetHours"),
        ];
        assert_eq!(
            serde_json::to_value(ops).unwrap(),
            serde_json::json!([
                {"op": "replace", "path": "/status", "value": {"id": 42}},
                {"op": "remove", "path": "/budgetHours"}
            ])
        );
    }
}
