//! `cw_agreements`: what clients are contracted for; which agreements end soon; which hour-based
//! agreements are used over or under their limit (`crate::agreements`).

use chrono::Duration;
use schemas::tool::params::{AgreementList, AgreementsExpiring, AgreementsUtilization, IdParams};
use serde_json::{Value, json};

use super::{Action, Ctx, Failure, clamp_limit, day, midnight};
use crate::agreements::{Bounds, expiring as find_expiring, utilization as find_utilization};
use crate::connector::Call;
use crate::connector::manage::{Op, Query, condition};
use crate::view::{self, Kind};

/// Most agreements or time entries read for an analysis.
const MAX_ROWS: usize = 5000;

pub(super) fn actions() -> Vec<Action> {
    vec![
        Action::read(
            "list",
            "Agreements, active by default, optionally of one company.",
            json!({"tool": "cw_agreements", "action": "list", "params": {"company_id": 250}}),
            list,
        ),
        Action::read(
            "get",
            "One agreement with its additions (the products and services it bills).",
            json!({"tool": "cw_agreements", "action": "get", "params": {"id": 31}}),
            get,
        ),
        Action::read(
            "expiring",
            "Active agreements ending within N days (default 90), soonest first, bucketed 30/60/90.",
            json!({"tool": "cw_agreements", "action": "expiring", "params": {"days": 60}}),
            expiring,
        ),
        Action::read(
            "utilization",
            "Hour-based agreements over (>120%) or under (<30%) their limit in a period.",
            json!({"tool": "cw_agreements", "action": "utilization", "params": {"from": "2026-02-01", "to": "2026-02-28"}}),
            utilization,
        ),
    ]
}

async fn list(ctx: Ctx, call: Call, p: AgreementList) -> Result<Value, Failure> {
    let mut query = Query::new().order_by("id asc");
    if !p.include_inactive {
        query = query.and("cancelledFlag = false and agreementStatus != \"Expired\"");
    }
    if let Some(company) = p.company_id {
        query = query.and(condition("company/id", Op::Eq, company)?);
    }
    let listing = ctx
        .manage()?
        .list(&call, "/finance/agreements", &query, clamp_limit(p.limit))
        .await?;
    Ok(json!({
        "count": listing.rows.len(),
        "truncated": listing.truncated,
        "agreements": view::compact_all(Kind::Agreement, &listing.rows),
    }))
}

async fn get(ctx: Ctx, call: Call, p: IdParams) -> Result<Value, Failure> {
    let manage = ctx.manage()?;
    let path = format!("/finance/agreements/{}", p.id);
    let additions_path = format!("{path}/additions");
    let plain = Query::new();
    let (agreement, additions) = futures::try_join!(
        manage.get(&call, &path, &plain),
        manage.list(&call, &additions_path, &plain, 200),
    )?;
    let additions: Vec<Value> = additions
        .rows
        .iter()
        .map(|a| {
            let mut out = serde_json::Map::new();
            for field in [
                "id",
                "product",
                "description",
                "quantity",
                "unitPrice",
                "unitCost",
                "billCustomer",
                "effectiveDate",
                "cancelledDate",
            ] {
                if let Some(v) = a.get(field).filter(|v| !v.is_null()) {
                    let v = match v {
                        Value::Object(m) => json!({"id": m.get("id"), "name": m.get("identifier").or(m.get("name"))}),
                        other => other.clone(),
                    };
                    out.insert(field.into(), v);
                }
            }
            Value::Object(out)
        })
        .collect();
    Ok(json!({
        "agreement": view::compact(Kind::Agreement, &agreement),
        "additions": additions,
    }))
}

async fn expiring(ctx: Ctx, call: Call, p: AgreementsExpiring) -> Result<Value, Failure> {
    if p.days == 0 || p.days > 3660 {
        return Err(Failure::invalid("`days` must be between 1 and 3660"));
    }
    let agreements = ctx
        .manage()?
        .list(&call, "/finance/agreements", &Query::new(), MAX_ROWS)
        .await?
        .rows;
    let found: Vec<Value> = find_expiring(&agreements, ctx.today, i64::from(p.days))
        .into_iter()
        .map(|e| {
            json!({
                "agreement_id": e.agreement_id,
                "company_id": e.company_id,
                "name": e.name,
                "end_date": e.end_date.to_string(),
                "days_left": e.days_left,
                "window_days": e.window_days,
            })
        })
        .collect();
    Ok(
        json!({"today": ctx.today.to_string(), "days": p.days, "count": found.len(), "expiring": found}),
    )
}

async fn utilization(ctx: Ctx, call: Call, p: AgreementsUtilization) -> Result<Value, Failure> {
    let to = match &p.to {
        Some(t) => day(t, "to")?,
        None => ctx.today,
    };
    let from = match &p.from {
        Some(f) => day(f, "from")?,
        None => to - Duration::days(30),
    };
    if from > to {
        return Err(Failure::invalid("`from` is after `to`"));
    }
    let manage = ctx.manage()?;
    let time_query = Query::new()
        .conditions(condition("timeStart", Op::Ge, midnight(from))?)
        .and(condition(
            "timeStart",
            Op::Lt,
            midnight(to + Duration::days(1)),
        )?);
    let plain = Query::new();
    let (agreements, entries) = futures::try_join!(
        manage.list(&call, "/finance/agreements", &plain, MAX_ROWS),
        manage.list(&call, "/time/entries", &time_query, MAX_ROWS),
    )?;
    let bounds = Bounds::default();
    let rows: Vec<Value> = find_utilization(&agreements.rows, &entries.rows, from, to, bounds)
        .into_iter()
        .map(|u| {
            json!({
                "agreement_id": u.agreement_id,
                "company_id": u.company_id,
                "limit_hours": u.limit_hours,
                "used_hours": u.used_hours,
                "ratio": u.ratio,
                "class": u.class,
            })
        })
        .collect();
    Ok(json!({
        "from": from.to_string(),
        "to": to.to_string(),
        "over_above": bounds.over,
        "under_below": bounds.under,
        "time_entries_read": entries.rows.len(),
        "truncated": entries.truncated || agreements.truncated,
        "agreements": rows,
    }))
}
