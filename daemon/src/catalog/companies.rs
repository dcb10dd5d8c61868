//! `cw_companies`: the MSP's clients, their contacts and their configurations (devices).

use schemas::tool::params::{CompanyChildren, IdParams, TextSearch};
use serde_json::{Value, json};

use super::{Action, Ctx, Failure, clamp_limit};
use crate::connector::Call;
use crate::connector::manage::{Op, Query, condition};
use crate::view::{self, Kind};

pub(super) fn actions() -> Vec<Action> {
    vec![
        Action::read(
            "get",
            "One company.",
            json!({"tool": "cw_companies", "action": "get", "params": {"id": 2}}),
            get,
        ),
        Action::read(
            "search",
            "Companies whose name or identifier contains the text.",
            json!({"tool": "cw_companies", "action": "search", "params": {"text": "dental"}}),
            search,
        ),
        Action::read(
            "contacts",
            "A company's contacts.",
            json!({"tool": "cw_companies", "action": "contacts", "params": {"company_id": 2}}),
            contacts,
        ),
        Action::read(
            "configurations",
            "A company's configurations (devices), with their RMM device ids.",
            json!({"tool": "cw_companies", "action": "configurations", "params": {"company_id": 2}}),
            configurations,
        ),
    ]
}

async fn get(ctx: Ctx, call: Call, p: IdParams) -> Result<Value, Failure> {
    let raw = p.fields.is_some();
    let company = ctx
        .manage()?
        .get(
            &call,
            &format!("/company/companies/{}", p.id),
            &Query::new().fields(p.fields.unwrap_or_default()),
        )
        .await?;
    Ok(if raw {
        company
    } else {
        view::compact(Kind::Company, &company)
    })
}

async fn search(ctx: Ctx, call: Call, p: TextSearch) -> Result<Value, Failure> {
    let text = p.text.trim();
    if text.is_empty() {
        return Err(Failure::invalid("`text` is empty"));
    }
    let query = Query::new()
        .conditions(format!(
            "{} or {}",
            condition("name", Op::Contains, text)?,
            condition("identifier", Op::Contains, text)?
        ))
        .and("deletedFlag = false")
        .order_by("name asc");
    let listing = ctx
        .manage()?
        .list(&call, "/company/companies", &query, clamp_limit(p.limit))
        .await?;
    Ok(json!({
        "count": listing.rows.len(),
        "truncated": listing.truncated,
        "companies": view::compact_all(Kind::Company, &listing.rows),
    }))
}

async fn children(
    ctx: Ctx,
    call: Call,
    p: CompanyChildren,
    path: &str,
    kind: Kind,
    key: &str,
) -> Result<Value, Failure> {
    let query = Query::new()
        .conditions(condition("company/id", Op::Eq, p.company_id)?)
        .order_by("id asc");
    let listing = ctx
        .manage()?
        .list(&call, path, &query, clamp_limit(p.limit))
        .await?;
    Ok(json!({
        "company_id": p.company_id,
        "count": listing.rows.len(),
        "truncated": listing.truncated,
        key: view::compact_all(kind, &listing.rows),
    }))
}

async fn contacts(ctx: Ctx, call: Call, p: CompanyChildren) -> Result<Value, Failure> {
    children(ctx, call, p, "/company/contacts", Kind::Contact, "contacts").await
}

async fn configurations(ctx: Ctx, call: Call, p: CompanyChildren) -> Result<Value, Failure> {
    children(
        ctx,
        call,
        p,
        "/company/configurations",
        Kind::Configuration,
        "configurations",
    )
    .await
}
