//! `cw_agreements`: what clients are contracted for; which agreements end soon; which hour-based
//! agreements are used over or under their limit (`crate::agreements`).

use chrono::Duration;
use rust_decimal::Decimal;
use schemas::event::Risk;
use schemas::tool::params::{
    AgreementList, AgreementsExpiring, AgreementsUtilization, IdParams, RenewalQuote, Renewals,
};
use serde_json::{Value, json};

use super::cpq::{Line, Shell, decimal, decimal_of, money as round_usd, template};
use super::{Action, Ctx, Failure, Plan, Planning, clamp_limit, day, midnight};
use crate::agreements::{Bounds, expiring as find_expiring, utilization as find_utilization};
use crate::calc;
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
            "renewals",
            "Revenue at stake in agreements ending within N days (default 90): monthly and yearly value of each (fee plus billable additions), by 30/60/90 bucket.",
            json!({"tool": "cw_agreements", "action": "renewals", "params": {"days": 90}}),
            renewals,
        ),
        Action::write(
            "renewal_quote",
            "Draft a CPQ renewal quote for an agreement: a template copy named for it, its billable additions as lines, prices raised by an uplift %.",
            Risk::Write,
            json!({"tool": "cw_agreements", "action": "renewal_quote", "params": {"agreement_id": 31, "uplift_percent": "5"}, "confirm": true}),
            renewal_quote,
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

/// An agreement's money: its fee and its billable, uncancelled additions, per month.
#[derive(Debug, Clone)]
pub(super) struct Monthly {
    pub fee: Decimal,
    pub additions: Decimal,
}

fn live_additions(additions: &[Value]) -> impl Iterator<Item = &Value> {
    additions.iter().filter(|a| {
        a["billCustomer"] == "Billable"
            && a["cancelledDate"].is_null()
            && a["agreementStatus"] != "Cancelled"
    })
}

/// Monthly value of an agreement from its fee and additions, exact.
pub(super) fn monthly(agreement: &Value, additions: &[Value]) -> Result<Monthly, Failure> {
    let fee = decimal_of(&agreement["billAmount"]).unwrap_or_default();
    let mut lines = Vec::new();
    for a in live_additions(additions) {
        let qty = decimal_of(&a["quantity"]).unwrap_or(Decimal::ONE);
        let price = decimal_of(&a["unitPrice"]).unwrap_or_default();
        lines.push(calc::multiply(qty, price).map_err(|e| Failure::invalid(e.to_string()))?);
    }
    let additions = calc::sum(&lines).map_err(|e| Failure::invalid(e.to_string()))?;
    Ok(Monthly { fee, additions })
}

async fn renewals(ctx: Ctx, call: Call, p: Renewals) -> Result<Value, Failure> {
    if p.days == 0 || p.days > 3660 {
        return Err(Failure::invalid("`days` must be between 1 and 3660"));
    }
    let manage = ctx.manage()?;
    let agreements = manage
        .list(&call, "/finance/agreements", &Query::new(), MAX_ROWS)
        .await?
        .rows;
    let ending = find_expiring(&agreements, ctx.today, i64::from(p.days));
    call.project_calls(
        ending.len() as u64,
        &format!("reading the additions of {} agreements", ending.len()),
    )?;
    let additions = futures::future::try_join_all(ending.iter().map(|e| {
        let path = format!("/finance/agreements/{}/additions", e.agreement_id);
        let (manage, call) = (&manage, &call);
        async move { manage.list(call, &path, &Query::new(), 200).await }
    }))
    .await?;
    let mut rows = Vec::new();
    let mut buckets: std::collections::BTreeMap<i64, Vec<Decimal>> = Default::default();
    let mut all = Vec::new();
    for (e, adds) in ending.iter().zip(additions) {
        let agreement = agreements
            .iter()
            .find(|a| a["id"] == e.agreement_id)
            .cloned()
            .unwrap_or_default();
        let v = monthly(&agreement, &adds.rows)?;
        let mrr = v.fee + v.additions;
        let yearly =
            calc::multiply(mrr, Decimal::from(12)).map_err(|e| Failure::invalid(e.to_string()))?;
        buckets.entry(e.window_days).or_default().push(mrr);
        all.push(mrr);
        rows.push(json!({
            "agreement": {"id": e.agreement_id, "name": e.name},
            "company": {"id": e.company_id, "name": agreement["company"]["name"]},
            "end_date": e.end_date.to_string(),
            "days_left": e.days_left,
            "window_days": e.window_days,
            "monthly_fee": round_usd(v.fee)?,
            "monthly_additions": round_usd(v.additions)?,
            "monthly_value": round_usd(mrr)?,
            "yearly_value": round_usd(yearly)?,
        }));
    }
    let total = calc::sum(&all).map_err(|e| Failure::invalid(e.to_string()))?;
    let by_window: Vec<Value> = buckets
        .iter()
        .map(|(w, v)| {
            let s = calc::sum(v).unwrap_or_default();
            Ok(json!({"window_days": w, "agreements": v.len(), "monthly_value": round_usd(s)?}))
        })
        .collect::<Result<_, Failure>>()?;
    Ok(json!({
        "today": ctx.today.to_string(),
        "days": p.days,
        "count": rows.len(),
        "currency": "USD",
        "monthly_value_at_stake": round_usd(total)?,
        "yearly_value_at_stake": round_usd(calc::multiply(total, Decimal::from(12)).unwrap_or_default())?,
        "by_window": by_window,
        "renewals": rows,
    }))
}

async fn renewal_quote(
    ctx: Ctx,
    call: Call,
    p: RenewalQuote,
    _: Planning,
) -> Result<Plan, Failure> {
    let uplift = match &p.uplift_percent {
        Some(u) => decimal(u, "uplift_percent")?,
        None => Decimal::ZERO,
    };
    if uplift < Decimal::from(-50) || uplift > Decimal::from(100) {
        return Err(Failure::invalid(
            "`uplift_percent` must be between -50 and 100",
        ));
    }
    // The lines are the exact request: the agreement and its additions are read even for a
    // preview (reads only; nothing is written before a confirmed, gated execution).
    let manage = ctx.manage()?;
    let path = format!("/finance/agreements/{}", p.agreement_id);
    let additions_path = format!("{path}/additions");
    let plain = Query::new();
    let (agreement, additions, template_id) = futures::try_join!(
        async { Ok::<_, Failure>(manage.get(&call, &path, &plain).await?) },
        async { Ok::<_, Failure>(manage.list(&call, &additions_path, &plain, 200).await?) },
        template(&ctx, &call, p.template_id.as_deref()),
    )?;
    if agreement["cancelledFlag"] == true {
        return Err(Failure::invalid(format!(
            "agreement {} is cancelled: there is nothing to renew",
            p.agreement_id
        )));
    }
    let end = agreement["endDate"]
        .as_str()
        .and_then(|d| d.get(..10))
        .ok_or_else(|| {
            Failure::invalid(format!(
                "agreement {} has no end date, so it does not come up for renewal",
                p.agreement_id
            ))
        })?
        .to_owned();
    let mut lines = Vec::new();
    let mut changes = Vec::new();
    for a in live_additions(&additions.rows) {
        let price = decimal_of(&a["unitPrice"]).unwrap_or_default();
        let raised = calc::uplift(price, uplift)
            .and_then(|d| calc::round(d, "USD"))
            .map_err(|e| Failure::invalid(e.to_string()))?;
        let part = a["product"]["identifier"].as_str().map(str::to_owned);
        let description = a["description"]
            .as_str()
            .or(part.as_deref())
            .unwrap_or("Agreement addition")
            .to_owned();
        changes.push(schemas::event::FieldChange {
            field: format!("{description} unit price"),
            before: Some(json!(round_usd(price)?)),
            after: Some(json!(raised.to_string())),
        });
        lines.push(Line {
            description,
            part_number: part,
            quantity: decimal_of(&a["quantity"]).unwrap_or(Decimal::ONE),
            price: raised,
            cost: decimal_of(&a["unitCost"]),
        });
    }
    let name = agreement["name"].as_str().unwrap_or_default();
    let company = agreement["company"]["name"].as_str().unwrap_or_default();
    let shell = Shell {
        template_id,
        fields: vec![
            ("name", json!(format!("Renewal: {name}"))),
            ("accountName", json!(company)),
            ("expectedCloseDate", json!(format!("{end}T00:00:00Z"))),
        ],
        lines,
    };
    let mut plan = shell.plan(
        format!(
            "draft a renewal quote for agreement {} ({name}, {company}, ends {end}): {} lines, uplift {uplift}%",
            p.agreement_id,
            shell.lines.len()
        ),
        "USD",
    )?;
    plan = plan.target("agreement", p.agreement_id);
    plan.effect.changes = changes;
    Ok(plan)
}
