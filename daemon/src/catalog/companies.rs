//! `cw_companies`: the MSP's clients, their contacts and their configurations (devices).

use std::collections::BTreeMap;

use schemas::tool::params::{CompanyChildren, CompanyScope, IdParams, TextSearch};
use serde_json::{Value, json};

use super::rmm::{patch_states, patch_summary, scoped_endpoints};
use super::{Action, Ctx, Failure, clamp_limit, resolve};
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
        Action::read(
            "fleet_health",
            "Per company: RMM devices online and offline, missing patches, pending reboots, open tickets (one company, or all), worst first.",
            json!({"tool": "cw_companies", "action": "fleet_health", "params": {"company_id": 2}}),
            fleet_health,
        ),
    ]
}

/// Most open tickets read to count them per company.
const MAX_OPEN_TICKETS: usize = 5000;

async fn fleet_health(ctx: Ctx, call: Call, p: CompanyScope) -> Result<Value, Failure> {
    let manage = ctx.manage()?;
    let mut tickets_query = Query::new()
        .conditions("closedFlag = false")
        .fields(["id", "company"]);
    if let Some(id) = p.company_id {
        tickets_query = tickets_query.and(condition("company/id", Op::Eq, id)?);
    }
    // Devices (Asio) and open tickets (Manage) at once; then each device's patches.
    let (scoped, open) = futures::join!(
        scoped_endpoints(&ctx, &call, p.company_id),
        manage.list(&call, "/service/tickets", &tickets_query, MAX_OPEN_TICKETS),
    );
    let ((companies, devices), open) = (scoped?, open?);
    let ids: Vec<String> = devices
        .iter()
        .filter_map(|e| e["endpointID"].as_str().map(str::to_owned))
        .collect();
    let id_refs: Vec<&str> = ids.iter().map(String::as_str).collect();
    let (beats, patches) = futures::join!(
        resolve::heartbeats(&ctx, &call, &id_refs),
        patch_states(&ctx, &call, &ids),
    );
    let (beats, patches) = (beats?, patches?);
    let mut open_by_company: BTreeMap<i64, usize> = BTreeMap::new();
    for t in &open.rows {
        if let Some(c) = t["company"]["id"].as_i64() {
            *open_by_company.entry(c).or_default() += 1;
        }
    }
    let mut rows: Vec<Value> = companies
        .iter()
        .map(|(company_id, company)| {
            let mine: Vec<&Value> = devices
                .iter()
                .filter(|d| d["companyID"] == company["id"])
                .collect();
            let mut online = 0;
            let mut missing = 0;
            let mut missing_devices = 0;
            let mut reboot = 0;
            let mut attention = Vec::new();
            for d in &mine {
                let id = d["endpointID"].as_str().unwrap_or_default();
                let up = beats.get(id).is_some_and(|(o, _)| *o);
                online += usize::from(up);
                let summary = patches.get(id).map(patch_summary).unwrap_or_default();
                let m = summary["missing"].as_i64().unwrap_or_default();
                missing += m;
                missing_devices += usize::from(m > 0);
                let r = summary["pending_reboot"] == true;
                reboot += usize::from(r);
                if !up || m > 0 || r {
                    let mut why = Vec::new();
                    if !up {
                        why.push("offline".to_owned());
                    }
                    if m > 0 {
                        why.push(format!("{m} patches missing"));
                    }
                    if r {
                        why.push("reboot pending".to_owned());
                    }
                    attention
                        .push(json!({"endpoint_id": id, "name": d["friendlyName"], "why": why}));
                }
            }
            json!({
                "company": {"id": company_id, "name": company["name"]},
                "rmm_company_id": company["id"],
                "devices": mine.len(),
                "online": online,
                "offline": mine.len() - online,
                "missing_patches": missing,
                "devices_missing_patches": missing_devices,
                "pending_reboot": reboot,
                "open_tickets": open_by_company.get(company_id).copied().unwrap_or_default(),
                "attention": attention,
            })
        })
        .collect();
    // Worst first: offline devices, then missing patches, then open tickets.
    rows.sort_by_key(|r| {
        std::cmp::Reverse((
            r["offline"].as_u64(),
            r["missing_patches"].as_i64(),
            r["open_tickets"].as_u64(),
        ))
    });
    Ok(json!({
        "companies": rows.len(),
        "devices": ids.len(),
        "open_tickets_truncated": open.truncated,
        "fleet": rows,
    }))
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
