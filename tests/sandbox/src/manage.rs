//! Manage (PSA) REST API 3.0: routing, auth, reads with the full query grammar and paging links.
//! Writes (POST, PATCH, DELETE) live in `manage/write.rs`.

mod write;

use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::auth::{self, ManageAuthError};
use crate::catalog;
use crate::error::CwError;
use crate::query::{self, Expr, Paging, QueryError, SortKey};
use crate::server::{Reply, Req, Shared};
use crate::tenant::{Kind, Tenant, absolutize};

/// The release the sandbox reports (`api-current-version`), matching the models catalogue.
pub const API_VERSION: &str = "2025.1";

/// What a route does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    List,
    Count,
    Get,
    Create,
    Patch,
    Delete,
    Search,
    SystemInfo,
    TicketConfigs,
    TicketConfigsCount,
    TicketConfig,
    TicketConfigAdd,
    TicketConfigRemove,
    ExpenseReportApprove,
    AccountingBatchCreate,
}

/// One served operation. `pattern` is written exactly as in `manage-endpoints-2025.1.json`, so a
/// test can check every route against it.
#[derive(Debug, Clone, Copy)]
pub struct Route {
    pub method: &'static str,
    pub pattern: &'static str,
    pub kind: Option<Kind>,
    pub action: Action,
}

const fn r(method: &'static str, pattern: &'static str, kind: Kind, action: Action) -> Route {
    Route {
        method,
        pattern,
        kind: Some(kind),
        action,
    }
}

const fn special(method: &'static str, pattern: &'static str, action: Action) -> Route {
    Route {
        method,
        pattern,
        kind: None,
        action,
    }
}

/// Every Manage operation the sandbox serves, in matching order.
pub static ROUTES: &[Route] = &[
    special("GET", "/system/info", Action::SystemInfo),
    r("GET", "/system/members", Kind::Member, Action::List),
    r("GET", "/system/members/count", Kind::Member, Action::Count),
    r("GET", "/system/members/{id}", Kind::Member, Action::Get),
    r("GET", "/service/boards", Kind::Board, Action::List),
    r("GET", "/service/boards/count", Kind::Board, Action::Count),
    r("GET", "/service/boards/{id}", Kind::Board, Action::Get),
    r(
        "GET",
        "/service/boards/{parentId}/statuses",
        Kind::BoardStatus,
        Action::List,
    ),
    r(
        "GET",
        "/service/boards/{parentId}/statuses/count",
        Kind::BoardStatus,
        Action::Count,
    ),
    r(
        "GET",
        "/service/boards/{parentId}/statuses/{id}",
        Kind::BoardStatus,
        Action::Get,
    ),
    r(
        "GET",
        "/service/boards/{parentId}/types",
        Kind::BoardType,
        Action::List,
    ),
    r(
        "GET",
        "/service/boards/{parentId}/types/count",
        Kind::BoardType,
        Action::Count,
    ),
    r(
        "GET",
        "/service/boards/{parentId}/types/{id}",
        Kind::BoardType,
        Action::Get,
    ),
    r(
        "GET",
        "/service/boards/{parentId}/subtypes",
        Kind::BoardSubType,
        Action::List,
    ),
    r(
        "GET",
        "/service/boards/{parentId}/subtypes/count",
        Kind::BoardSubType,
        Action::Count,
    ),
    r(
        "GET",
        "/service/boards/{parentId}/subtypes/{id}",
        Kind::BoardSubType,
        Action::Get,
    ),
    r(
        "GET",
        "/service/boards/{parentId}/items",
        Kind::BoardItem,
        Action::List,
    ),
    r(
        "GET",
        "/service/boards/{parentId}/items/count",
        Kind::BoardItem,
        Action::Count,
    ),
    r(
        "GET",
        "/service/boards/{parentId}/items/{id}",
        Kind::BoardItem,
        Action::Get,
    ),
    r("GET", "/service/priorities", Kind::Priority, Action::List),
    r(
        "GET",
        "/service/priorities/count",
        Kind::Priority,
        Action::Count,
    ),
    r(
        "GET",
        "/service/priorities/{id}",
        Kind::Priority,
        Action::Get,
    ),
    r("GET", "/service/tickets", Kind::Ticket, Action::List),
    r("GET", "/service/tickets/count", Kind::Ticket, Action::Count),
    r("GET", "/service/tickets/{id}", Kind::Ticket, Action::Get),
    r("POST", "/service/tickets", Kind::Ticket, Action::Create),
    r(
        "PATCH",
        "/service/tickets/{id}",
        Kind::Ticket,
        Action::Patch,
    ),
    r(
        "DELETE",
        "/service/tickets/{id}",
        Kind::Ticket,
        Action::Delete,
    ),
    r(
        "POST",
        "/service/tickets/search",
        Kind::Ticket,
        Action::Search,
    ),
    r(
        "GET",
        "/service/tickets/{parentId}/notes",
        Kind::Note,
        Action::List,
    ),
    r(
        "GET",
        "/service/tickets/{parentId}/notes/count",
        Kind::Note,
        Action::Count,
    ),
    r(
        "GET",
        "/service/tickets/{parentId}/notes/{id}",
        Kind::Note,
        Action::Get,
    ),
    r(
        "POST",
        "/service/tickets/{parentId}/notes",
        Kind::Note,
        Action::Create,
    ),
    r(
        "GET",
        "/service/tickets/{parentId}/tasks",
        Kind::Task,
        Action::List,
    ),
    r(
        "GET",
        "/service/tickets/{parentId}/tasks/count",
        Kind::Task,
        Action::Count,
    ),
    r(
        "GET",
        "/service/tickets/{parentId}/tasks/{id}",
        Kind::Task,
        Action::Get,
    ),
    special(
        "GET",
        "/service/tickets/{parentId}/configurations",
        Action::TicketConfigs,
    ),
    special(
        "GET",
        "/service/tickets/{parentId}/configurations/count",
        Action::TicketConfigsCount,
    ),
    special(
        "GET",
        "/service/tickets/{parentId}/configurations/{id}",
        Action::TicketConfig,
    ),
    special(
        "POST",
        "/service/tickets/{parentId}/configurations",
        Action::TicketConfigAdd,
    ),
    special(
        "DELETE",
        "/service/tickets/{parentId}/configurations/{id}",
        Action::TicketConfigRemove,
    ),
    r("GET", "/company/companies", Kind::Company, Action::List),
    r(
        "GET",
        "/company/companies/count",
        Kind::Company,
        Action::Count,
    ),
    r("GET", "/company/companies/{id}", Kind::Company, Action::Get),
    r("GET", "/company/contacts", Kind::Contact, Action::List),
    r(
        "GET",
        "/company/contacts/count",
        Kind::Contact,
        Action::Count,
    ),
    r("GET", "/company/contacts/{id}", Kind::Contact, Action::Get),
    r(
        "GET",
        "/company/configurations",
        Kind::Configuration,
        Action::List,
    ),
    r(
        "GET",
        "/company/configurations/count",
        Kind::Configuration,
        Action::Count,
    ),
    r(
        "GET",
        "/company/configurations/{id}",
        Kind::Configuration,
        Action::Get,
    ),
    r("GET", "/time/entries", Kind::TimeEntry, Action::List),
    r("GET", "/time/entries/count", Kind::TimeEntry, Action::Count),
    r("GET", "/time/entries/{id}", Kind::TimeEntry, Action::Get),
    r("POST", "/time/entries", Kind::TimeEntry, Action::Create),
    r(
        "PATCH",
        "/time/entries/{id}",
        Kind::TimeEntry,
        Action::Patch,
    ),
    r(
        "DELETE",
        "/time/entries/{id}",
        Kind::TimeEntry,
        Action::Delete,
    ),
    r(
        "GET",
        "/time/timePeriodSetups",
        Kind::TimePeriodSetup,
        Action::List,
    ),
    r(
        "GET",
        "/time/timePeriodSetups/count",
        Kind::TimePeriodSetup,
        Action::Count,
    ),
    r(
        "GET",
        "/time/timePeriodSetups/{id}",
        Kind::TimePeriodSetup,
        Action::Get,
    ),
    r(
        "GET",
        "/time/timePeriodSetups/{parentId}/periods",
        Kind::TimePeriod,
        Action::List,
    ),
    r(
        "GET",
        "/time/timePeriodSetups/{parentId}/periods/count",
        Kind::TimePeriod,
        Action::Count,
    ),
    r(
        "GET",
        "/time/timePeriodSetups/{parentId}/periods/{id}",
        Kind::TimePeriod,
        Action::Get,
    ),
    r("GET", "/time/sheets", Kind::TimeSheet, Action::List),
    r("GET", "/time/sheets/count", Kind::TimeSheet, Action::Count),
    r("GET", "/time/sheets/{id}", Kind::TimeSheet, Action::Get),
    r("GET", "/time/workTypes", Kind::WorkType, Action::List),
    r("GET", "/time/workTypes/{id}", Kind::WorkType, Action::Get),
    r("GET", "/time/workRoles", Kind::WorkRole, Action::List),
    r("GET", "/time/workRoles/{id}", Kind::WorkRole, Action::Get),
    r("GET", "/finance/agreements", Kind::Agreement, Action::List),
    r(
        "GET",
        "/finance/agreements/count",
        Kind::Agreement,
        Action::Count,
    ),
    r(
        "GET",
        "/finance/agreements/{id}",
        Kind::Agreement,
        Action::Get,
    ),
    r(
        "GET",
        "/finance/agreements/{parentId}/additions",
        Kind::Addition,
        Action::List,
    ),
    r(
        "GET",
        "/finance/agreements/{parentId}/additions/count",
        Kind::Addition,
        Action::Count,
    ),
    r(
        "GET",
        "/finance/agreements/{parentId}/additions/{id}",
        Kind::Addition,
        Action::Get,
    ),
    r(
        "POST",
        "/finance/agreements/{parentId}/additions",
        Kind::Addition,
        Action::Create,
    ),
    r(
        "PATCH",
        "/finance/agreements/{parentId}/additions/{id}",
        Kind::Addition,
        Action::Patch,
    ),
    r(
        "GET",
        "/finance/agreements/{parentId}/worktypes",
        Kind::AgreementWorkType,
        Action::List,
    ),
    r(
        "GET",
        "/finance/agreements/{parentId}/worktypes/count",
        Kind::AgreementWorkType,
        Action::Count,
    ),
    r(
        "GET",
        "/finance/agreements/{parentId}/worktypes/{id}",
        Kind::AgreementWorkType,
        Action::Get,
    ),
    r("GET", "/finance/invoices", Kind::Invoice, Action::List),
    r(
        "GET",
        "/finance/invoices/count",
        Kind::Invoice,
        Action::Count,
    ),
    r("GET", "/finance/invoices/{id}", Kind::Invoice, Action::Get),
    r("POST", "/finance/invoices", Kind::Invoice, Action::Create),
    r(
        "GET",
        "/schedule/entries",
        Kind::ScheduleEntry,
        Action::List,
    ),
    r(
        "GET",
        "/schedule/entries/{id}",
        Kind::ScheduleEntry,
        Action::Get,
    ),
    r(
        "GET",
        "/sales/opportunities",
        Kind::Opportunity,
        Action::List,
    ),
    r(
        "GET",
        "/sales/opportunities/{id}",
        Kind::Opportunity,
        Action::Get,
    ),
    r(
        "GET",
        "/time/workTypes/count",
        Kind::WorkType,
        Action::Count,
    ),
    r(
        "GET",
        "/time/workRoles/count",
        Kind::WorkRole,
        Action::Count,
    ),
    r(
        "GET",
        "/schedule/entries/count",
        Kind::ScheduleEntry,
        Action::Count,
    ),
    r(
        "GET",
        "/sales/opportunities/count",
        Kind::Opportunity,
        Action::Count,
    ),
    r("GET", "/project/projects", Kind::Project, Action::List),
    r(
        "GET",
        "/project/projects/count",
        Kind::Project,
        Action::Count,
    ),
    r("GET", "/project/projects/{id}", Kind::Project, Action::Get),
    r("GET", "/project/tickets", Kind::ProjectTicket, Action::List),
    r(
        "GET",
        "/project/tickets/count",
        Kind::ProjectTicket,
        Action::Count,
    ),
    r(
        "GET",
        "/project/tickets/{id}",
        Kind::ProjectTicket,
        Action::Get,
    ),
    r(
        "GET",
        "/finance/accounting/unpostedinvoices",
        Kind::UnpostedInvoice,
        Action::List,
    ),
    r(
        "GET",
        "/finance/accounting/unpostedinvoices/{id}",
        Kind::UnpostedInvoice,
        Action::Get,
    ),
    special(
        "POST",
        "/finance/accounting/batches",
        Action::AccountingBatchCreate,
    ),
    r(
        "GET",
        "/procurement/purchaseorders",
        Kind::PurchaseOrder,
        Action::List,
    ),
    r(
        "GET",
        "/procurement/purchaseorders/{id}",
        Kind::PurchaseOrder,
        Action::Get,
    ),
    r(
        "PATCH",
        "/procurement/purchaseorders/{id}",
        Kind::PurchaseOrder,
        Action::Patch,
    ),
    r(
        "GET",
        "/procurement/purchaseorderstatuses",
        Kind::PurchaseOrderStatus,
        Action::List,
    ),
    r("GET", "/expense/reports", Kind::ExpenseReport, Action::List),
    r(
        "GET",
        "/expense/reports/{id}",
        Kind::ExpenseReport,
        Action::Get,
    ),
    special(
        "POST",
        "/expense/reports/{id}/approve",
        Action::ExpenseReportApprove,
    ),
];

/// All routes, in matching order.
pub fn routes() -> impl Iterator<Item = &'static Route> {
    ROUTES.iter()
}

/// Path parameters captured by a match.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Params {
    pub parent: Option<i64>,
    pub id: Option<i64>,
}

/// Matches a path (below `/apis/3.0`) against a pattern; literals ignore case (IIS does), ids
/// must be integers.
fn matches(pattern: &str, path: &str) -> Option<Params> {
    let pat: Vec<&str> = pattern.trim_matches('/').split('/').collect();
    let got: Vec<&str> = path
        .trim_end_matches('/')
        .trim_start_matches('/')
        .split('/')
        .collect();
    if pat.len() != got.len() {
        return None;
    }
    let mut params = Params::default();
    for (p, g) in pat.iter().zip(got.iter()) {
        match *p {
            "{id}" => params.id = Some(g.parse().ok()?),
            "{parentId}" => params.parent = Some(g.parse().ok()?),
            lit if lit.eq_ignore_ascii_case(g) => {}
            _ => return None,
        }
    }
    Some(params)
}

/// Whether a codebase segment is one Manage accepts: `v4_6_release` or `v20NN_N`.
pub fn valid_codebase(codebase: &str) -> bool {
    if codebase.eq_ignore_ascii_case("v4_6_release") {
        return true;
    }
    let Some(rest) = codebase.strip_prefix("v20") else {
        return false;
    };
    let Some((year, release)) = rest.split_once('_') else {
        return false;
    };
    year.len() == 2
        && year.bytes().all(|b| b.is_ascii_digit())
        && !release.is_empty()
        && release.bytes().all(|b| b.is_ascii_digit())
}

/// Handles every Manage request.
pub fn handle(s: &Shared, req: &Req) -> Reply {
    let mut reply = route(s, req);
    reply
        .headers
        .push(("api-current-version", API_VERSION.into()));
    reply.headers.push(("x-server-name", "SANDBOX".into()));
    reply.headers.push((
        "x-cw-request-id",
        format!("00000000-0000-4000-8000-{:012x}", req.seq),
    ));
    reply
}

fn route(s: &Shared, req: &Req) -> Reply {
    if let Some(company) = req.path.strip_prefix("/login/companyinfo/") {
        return company_info(s, req, company);
    }
    let trimmed = req.path.trim_start_matches('/');
    let (codebase, rest) = trimmed.split_once('/').unwrap_or((trimmed, ""));
    let Some(sub) = rest
        .get(..9)
        .filter(|p| p.eq_ignore_ascii_case("apis/3.0/"))
        .map(|_| &rest[8..])
    else {
        return CwError::no_route(&req.path).into();
    };
    if !valid_codebase(codebase) {
        return CwError::no_route(&req.path).into();
    }
    if let Err(e) = auth::check_manage(&req.headers, &s.creds) {
        tracing::debug!(reason = %e, "manage request refused");
        let detail = match e {
            ManageAuthError::NoClientId | ManageAuthError::BadClientId => e.to_string(),
            _ => "User not authenticated.".to_string(),
        };
        return CwError::unauthorized(&detail).into();
    }
    let base = format!("{}/{codebase}/apis/3.0", req.origin);
    let mut path_matched = false;
    for route in routes() {
        let Some(params) = matches(route.pattern, sub) else {
            continue;
        };
        path_matched = true;
        if !route.method.eq_ignore_ascii_case(req.method.as_str()) {
            continue;
        }
        let result = match (route.action, route.kind) {
            (Action::SystemInfo, _) => Ok(Reply::json(StatusCode::OK, &system_info())),
            (Action::List, Some(kind)) => list(s, req, kind, params.parent, &base, None),
            (Action::Search, Some(kind)) => search(s, req, kind, &base),
            (Action::Count, Some(kind)) => count(s, req, kind, params.parent),
            (Action::Get, Some(kind)) => get_one(s, req, kind, params, &base),
            (Action::Create, Some(kind)) => write::create(s, req, kind, params.parent, &base),
            (Action::Patch, Some(kind)) => write::patch(s, req, kind, params, &base),
            (Action::Delete, Some(kind)) => write::delete(s, kind, params),
            (Action::TicketConfigs, _) => ticket_configs(s, req, params.parent, &base, false),
            (Action::TicketConfigsCount, _) => ticket_configs(s, req, params.parent, &base, true),
            (Action::TicketConfig, _) => ticket_config(s, params, &base),
            (Action::TicketConfigAdd, _) => write::attach_config(s, req, params.parent, &base),
            (Action::TicketConfigRemove, _) => write::detach_config(s, params),
            (Action::ExpenseReportApprove, _) => write::approve_expense_report(s, params),
            (Action::AccountingBatchCreate, _) => write::create_batch(s, req),
            _ => Err(CwError::internal()),
        };
        return result.unwrap_or_else(Reply::from);
    }
    if path_matched {
        return CwError::method_not_allowed(req.method.as_str()).into();
    }
    CwError::no_route(&req.path).into()
}

fn system_info() -> Value {
    json!({
        "version": "v2025.1.94382",
        "isCloud": false,
        "serverTimeZone": "Eastern Standard Time",
        "licenseBits": [
            {"name": "ServiceDesk", "activeFlag": true},
            {"name": "TimeAndExpense", "activeFlag": true},
            {"name": "Finance", "activeFlag": true},
            {"name": "Sales", "activeFlag": true},
            {"name": "Project", "activeFlag": true},
        ],
        "maxWorkFlowRecordsAllowed": 500,
    })
}

/// The unauthenticated codebase lookup clients call first.
fn company_info(s: &Shared, req: &Req, company: &str) -> Reply {
    if !company
        .trim_end_matches('/')
        .eq_ignore_ascii_case(&s.creds.company)
    {
        return CwError::new(
            StatusCode::NOT_FOUND,
            "NotFound",
            format!("Company {company} not found"),
        )
        .into();
    }
    let site = req.origin.trim_start_matches("http://");
    Reply::json(
        StatusCode::OK,
        &json!({
            "CompanyName": "Nightjar Sandbox MSP",
            "Codebase": "v2025_1/",
            "VersionCode": "v2025.1",
            "VersionNumber": "v4.6.94382",
            "CompanyID": s.creds.company,
            "IsCloud": false,
            "SiteUrl": site,
        }),
    )
}

/// Parsed read parameters.
struct Query {
    conditions: Option<Expr>,
    child: Option<Expr>,
    custom: Option<Expr>,
    order: Vec<SortKey>,
    fields: Option<Vec<Vec<String>>>,
    paging: Paging,
    /// Forward-only paging: rows with id greater than this.
    page_id: Option<i64>,
    forward_only: bool,
}

fn parse_expr(
    text: Option<&str>,
    model: &catalog::Model,
    param: &str,
) -> Result<Option<Expr>, CwError> {
    match text.map(str::trim).filter(|t| !t.is_empty()) {
        None => Ok(None),
        Some(src) => {
            let mut expr =
                query::parse_conditions(src).map_err(|e| CwError::bad_query(param, &e))?;
            query::canonicalize(&mut expr, model).map_err(|e| CwError::bad_query(param, &e))?;
            Ok(Some(expr))
        }
    }
}

fn model_of(kind: Kind) -> Result<&'static catalog::Model, CwError> {
    catalog::model(kind.model()).ok_or_else(CwError::internal)
}

/// Reads the query parameters; `overrides` carries a `/search` body (`FilterValues`).
fn parse_query(req: &Req, kind: Kind, overrides: Option<&Value>) -> Result<Query, CwError> {
    let model = model_of(kind)?;
    let pick = |name: &str, lower: &str| -> Option<String> {
        overrides
            .and_then(|o| o.get(lower).or_else(|| o.get(name)))
            .and_then(Value::as_str)
            .map(str::to_string)
            .or_else(|| req.param(name).map(str::to_string))
    };
    let conditions = parse_expr(
        pick("conditions", "conditions").as_deref(),
        model,
        "conditions",
    )?;
    let child = parse_expr(
        pick("childConditions", "childconditions").as_deref(),
        model,
        "childConditions",
    )?;
    let custom_model = catalog::model("CustomFieldValue").ok_or_else(CwError::internal)?;
    let custom = parse_expr(
        pick("customFieldConditions", "customfieldconditions").as_deref(),
        custom_model,
        "customFieldConditions",
    )?;
    let mut order = match pick("orderBy", "orderBy") {
        Some(src) if !src.trim().is_empty() => {
            query::parse_order_by(&src).map_err(|e| CwError::bad_query("orderBy", &e))?
        }
        _ => Vec::new(),
    };
    for key in order.iter_mut() {
        query::canonical_path(&mut key.path, model)
            .map_err(|e| CwError::bad_query("orderBy", &e))?;
    }
    let fields = req
        .param("fields")
        .filter(|f| !f.trim().is_empty())
        .map(|f| {
            let mut paths = query::parse_fields(f);
            for p in paths.iter_mut() {
                // Unknown fields are simply absent from the answer.
                let _ = query::canonical_path(p, model);
            }
            paths
        });
    let paging = Paging::parse(req.param("page"), req.param("pageSize"))
        .map_err(|e| CwError::bad_query("page", &e))?;
    let forward_only = req
        .headers
        .get("pagination-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("forward-only"));
    let page_id = match req.param("pageId").map(str::trim).filter(|p| !p.is_empty()) {
        None => None,
        Some(p) => Some(p.parse::<i64>().map_err(|_| {
            CwError::bad_query(
                "pageId",
                &QueryError::BadParameter {
                    name: "pageId",
                    expected: "an integer",
                    got: p.to_string(),
                },
            )
        })?),
    };
    Ok(Query {
        conditions,
        child,
        custom,
        order,
        fields,
        paging,
        page_id,
        forward_only,
    })
}

fn parent_exists(t: &Tenant, kind: Kind, parent: Option<i64>) -> Result<(), CwError> {
    let Some(pid) = parent else { return Ok(()) };
    let parent_kind = match kind {
        Kind::BoardStatus | Kind::BoardType | Kind::BoardSubType | Kind::BoardItem => Kind::Board,
        Kind::Note | Kind::Task => Kind::Ticket,
        Kind::Addition | Kind::AgreementWorkType => Kind::Agreement,
        Kind::TimePeriod => Kind::TimePeriodSetup,
        _ => return Ok(()),
    };
    if t.get(parent_kind, pid).is_none() {
        return Err(CwError::not_found(parent_kind.label(), pid));
    }
    Ok(())
}

/// The matching rows in order (before paging).
fn select<'a>(t: &'a Tenant, kind: Kind, parent: Option<i64>, q: &Query) -> Vec<&'a Value> {
    let mut rows: Vec<&Value> = t
        .children(kind, parent)
        .filter(|r| q.conditions.as_ref().is_none_or(|e| e.matches(r)))
        .filter(|r| q.child.as_ref().is_none_or(|e| e.matches(r)))
        .filter(|r| q.custom.as_ref().is_none_or(|e| e.matches_custom_fields(r)))
        .filter(|r| {
            q.page_id
                .is_none_or(|pid| r["id"].as_i64().is_some_and(|id| id > pid))
        })
        .collect();
    // Forward-only paging walks ids in order and ignores orderBy.
    if !q.forward_only && !q.order.is_empty() {
        rows.sort_by(|a, b| query::compare_records(a, b, &q.order));
    }
    rows
}

fn render(row: &Value, fields: &Option<Vec<Vec<String>>>, base: &str) -> Value {
    let mut out = match fields {
        Some(f) => query::project(row, f),
        None => row.clone(),
    };
    absolutize(&mut out, base);
    out
}

fn list(
    s: &Shared,
    req: &Req,
    kind: Kind,
    parent: Option<i64>,
    base: &str,
    search: Option<&Value>,
) -> Result<Reply, CwError> {
    let q = parse_query(req, kind, search)?;
    let (page, total) = {
        let t = s.read();
        parent_exists(&t, kind, parent)?;
        let rows = select(&t, kind, parent, &q);
        let total = rows.len();
        let range = if q.forward_only {
            0..q.paging.page_size.min(total)
        } else {
            q.paging.range(total)
        };
        let page: Vec<Value> = rows[range].iter().map(|r| (*r).clone()).collect();
        (page, total)
    };
    let last_id = page.last().and_then(|r| r["id"].as_i64());
    let body: Vec<Value> = page.iter().map(|r| render(r, &q.fields, base)).collect();
    let mut reply = Reply::json(StatusCode::OK, &Value::Array(body));
    if let Some(link) = link_header(req, &q, total, last_id) {
        reply.headers.push(("link", link));
    }
    Ok(reply)
}

fn search(s: &Shared, req: &Req, kind: Kind, base: &str) -> Result<Reply, CwError> {
    let filter = if req.body.is_empty() {
        json!({})
    } else {
        req.json_body().map_err(CwError::bad_body)?
    };
    list(s, req, kind, None, base, Some(&filter))
}

/// The `Link` header: navigable paging gets first/prev/next/last as they apply; forward-only
/// paging gets `next` with `pageId` of the last row while rows remain. URLs are absolute and keep
/// the other query parameters.
fn link_header(req: &Req, q: &Query, total: usize, last_id: Option<i64>) -> Option<String> {
    let kept: Vec<&str> = req
        .raw_query
        .as_deref()
        .unwrap_or_default()
        .split('&')
        .filter(|p| !p.is_empty())
        .filter(|p| {
            let key = p.split('=').next().unwrap_or_default();
            !["page", "pagesize", "pageid"].contains(&key.to_ascii_lowercase().as_str())
        })
        .collect();
    let url = |extra: String| {
        let mut parts: Vec<String> = kept.iter().map(|s| s.to_string()).collect();
        parts.push(extra);
        format!("{}{}?{}", req.origin, req.path, parts.join("&"))
    };
    let size = q.paging.page_size;
    if q.forward_only {
        let shown = size.min(total);
        if total > shown {
            let id = last_id?;
            return Some(format!(
                "<{}>; rel=\"next\"",
                url(format!("pageSize={size}&pageId={id}"))
            ));
        }
        return None;
    }
    let page = q.paging.page;
    let last = q.paging.last_page(total);
    let mut links = Vec::new();
    if page > 1 {
        links.push(format!(
            "<{}>; rel=\"first\"",
            url(format!("pageSize={size}&page=1"))
        ));
        links.push(format!(
            "<{}>; rel=\"prev\"",
            url(format!("pageSize={size}&page={}", (page - 1).min(last)))
        ));
    }
    if page < last {
        links.push(format!(
            "<{}>; rel=\"next\"",
            url(format!("pageSize={size}&page={}", page + 1))
        ));
        links.push(format!(
            "<{}>; rel=\"last\"",
            url(format!("pageSize={size}&page={last}"))
        ));
    }
    if links.is_empty() {
        None
    } else {
        Some(links.join(", "))
    }
}

fn count(s: &Shared, req: &Req, kind: Kind, parent: Option<i64>) -> Result<Reply, CwError> {
    let q = parse_query(req, kind, None)?;
    let t = s.read();
    parent_exists(&t, kind, parent)?;
    let n = select(&t, kind, parent, &q).len();
    Ok(Reply::json(StatusCode::OK, &json!({"count": n})))
}

/// A record by id, checked against its parent for nested routes.
pub(crate) fn find(t: &Tenant, kind: Kind, params: Params) -> Result<&Value, CwError> {
    parent_exists(t, kind, params.parent)?;
    let id = params.id.unwrap_or_default();
    let row = t
        .get(kind, id)
        .ok_or_else(|| CwError::not_found(kind.label(), id))?;
    if let (Some(pid), Some(path)) = (params.parent, kind.parent_field()) {
        let mut v = row;
        for p in path {
            v = &v[*p];
        }
        if v.as_i64() != Some(pid) {
            return Err(CwError::not_found(kind.label(), id));
        }
    }
    Ok(row)
}

fn get_one(
    s: &Shared,
    req: &Req,
    kind: Kind,
    params: Params,
    base: &str,
) -> Result<Reply, CwError> {
    let q = parse_query(req, kind, None)?;
    let row = find(&s.read(), kind, params)?.clone();
    Ok(Reply::json(StatusCode::OK, &render(&row, &q.fields, base)))
}

fn config_refs(t: &Tenant, ticket: i64) -> Vec<Value> {
    t.ticket_configs
        .get(&ticket)
        .map(|ids| {
            ids.iter()
                .filter_map(|id| t.reference(Kind::Configuration, *id))
                .collect()
        })
        .unwrap_or_default()
}

fn ticket_configs(
    s: &Shared,
    req: &Req,
    ticket: Option<i64>,
    base: &str,
    count_only: bool,
) -> Result<Reply, CwError> {
    let model = catalog::model("ConfigurationReference").ok_or_else(CwError::internal)?;
    let conditions = parse_expr(req.param("conditions"), model, "conditions")?;
    let paging = Paging::parse(req.param("page"), req.param("pageSize"))
        .map_err(|e| CwError::bad_query("page", &e))?;
    let t = s.read();
    let id = ticket.unwrap_or_default();
    t.get(Kind::Ticket, id)
        .ok_or_else(|| CwError::not_found("Ticket", id))?;
    let rows: Vec<Value> = config_refs(&t, id)
        .into_iter()
        .filter(|r| conditions.as_ref().is_none_or(|e| e.matches(r)))
        .collect();
    if count_only {
        return Ok(Reply::json(StatusCode::OK, &json!({"count": rows.len()})));
    }
    let range = paging.range(rows.len());
    let body: Vec<Value> = rows[range].iter().map(|r| render(r, &None, base)).collect();
    Ok(Reply::json(StatusCode::OK, &Value::Array(body)))
}

fn ticket_config(s: &Shared, params: Params, base: &str) -> Result<Reply, CwError> {
    let t = s.read();
    let ticket = params.parent.unwrap_or_default();
    t.get(Kind::Ticket, ticket)
        .ok_or_else(|| CwError::not_found("Ticket", ticket))?;
    let id = params.id.unwrap_or_default();
    let found = config_refs(&t, ticket)
        .into_iter()
        .find(|r| r["id"].as_i64() == Some(id))
        .ok_or_else(|| CwError::not_found("Configuration", id))?;
    Ok(Reply::json(StatusCode::OK, &render(&found, &None, base)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn route_matching_table() {
        let cases: &[(&str, &str, Option<Params>)] = &[
            (
                "/service/tickets",
                "service/tickets",
                Some(Params::default()),
            ),
            (
                "/service/tickets",
                "Service/Tickets/",
                Some(Params::default()),
            ),
            (
                "/service/tickets/{id}",
                "service/tickets/41001",
                Some(Params {
                    parent: None,
                    id: Some(41001),
                }),
            ),
            ("/service/tickets/{id}", "service/tickets/count", None),
            (
                "/service/tickets/{parentId}/notes/{id}",
                "service/tickets/5/notes/7",
                Some(Params {
                    parent: Some(5),
                    id: Some(7),
                }),
            ),
            (
                "/service/tickets/{parentId}/notes",
                "service/tickets/5/tasks",
                None,
            ),
        ];
        for (pattern, path, want) in cases {
            assert_eq!(matches(pattern, path), *want, "{pattern} vs {path}");
        }
    }

    #[test]
    fn codebases() {
        for (cb, ok) in [
            ("v4_6_release", true),
            ("v2025_1", true),
            ("v2026_4", true),
            ("v2025", false),
            ("v19_1", false),
            ("apis", false),
            ("v2025_x", false),
        ] {
            assert_eq!(valid_codebase(cb), ok, "{cb}");
        }
    }

    #[test]
    fn routes_are_unique() {
        let mut seen = std::collections::BTreeSet::new();
        for r in routes() {
            assert!(
                seen.insert((r.method, r.pattern)),
                "{} {} twice",
                r.method,
                r.pattern
            );
        }
    }
}
