//! `cw_dashboards`: a technician's day, the dispatch board, the morning briefing and a one-company
//! brief. The analytics (SLA compliance and first response, utilization, agreement health and
//! MRR, unbilled work, receivables, at-risk clients) are computed here, server-side, from a fixed
//! number of reads each, so an answer costs the same whatever the tenant's size (up to the row
//! caps, reported as `truncated`).

use std::collections::BTreeMap;

use chrono::Duration;
use rust_decimal::Decimal;
use schemas::tool::params::{Brief, Dispatch, DispatchScope, MyDay, NoParams, Unbilled};
use serde_json::{Value, json};

use super::cpq::{decimal_of, money};
use super::finance::{aging, unbilled_entries, unbilled_value};
use super::team::{booked, compact_entry, free_on, utilization};
use super::{Action, Ctx, Failure, day, midnight};
use crate::agreements::expiring;
use crate::calc;
use crate::connector::Call;
use crate::connector::manage::{Op, Query, condition};
use crate::view::{self, Kind};

/// Most rows read for one figure.
const MAX_ROWS: usize = 5000;

pub(super) fn actions() -> Vec<Action> {
    vec![
        Action::read(
            "my_day",
            "A member's day: what is booked, open tickets owned (highest priority first), time logged, hours left.",
            json!({"tool": "cw_dashboards", "action": "my_day", "params": {"member": "jsmith"}}),
            my_day,
        ),
        Action::read(
            "dispatch",
            "The dispatch board for today or the week: unassigned tickets oldest first, open tickets per owner, bookings, who is free.",
            json!({"tool": "cw_dashboards", "action": "dispatch", "params": {"scope": "week"}}),
            dispatch,
        ),
        Action::read(
            "daily_briefing",
            "The morning briefing: tickets and SLA (compliance, first response), utilization, agreement health and MRR, unbilled work, receivables, at-risk clients.",
            json!({"tool": "cw_dashboards", "action": "daily_briefing", "params": {}}),
            daily_briefing,
        ),
        Action::read(
            "brief",
            "One company before a call: open tickets, SLA, agreements and their renewal, receivables, unbilled work, devices, open opportunities.",
            json!({"tool": "cw_dashboards", "action": "brief", "params": {"company_id": 250}}),
            brief,
        ),
    ]
}

fn priority_rank(t: &Value) -> i64 {
    t["priority"]["sort"].as_i64().unwrap_or(99)
}

/// SLA figures over tickets: share in SLA, first response (mean and median minutes), open tickets
/// nobody has responded to.
pub(super) fn sla(tickets: &[Value]) -> Value {
    let total = tickets.len();
    let in_sla = tickets.iter().filter(|t| t["isInSla"] != false).count();
    let mut responses: Vec<f64> = tickets
        .iter()
        .filter_map(|t| t["respondMinutes"].as_f64())
        .collect();
    responses.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
    let unresponded = tickets
        .iter()
        .filter(|t| t["closedFlag"] != true && t["dateResponded"].is_null())
        .count();
    let mean = if responses.is_empty() {
        Value::Null
    } else {
        json!((responses.iter().sum::<f64>() / responses.len() as f64 * 10.0).round() / 10.0)
    };
    let median = responses.get(responses.len() / 2).copied();
    json!({
        "tickets": total,
        "in_sla": in_sla,
        "compliance_percent": if total == 0 { 100.0 } else { (in_sla as f64 / total as f64 * 1000.0).round() / 10.0 },
        "first_response_mean_minutes": mean,
        "first_response_median_minutes": median,
        "open_without_response": unresponded,
    })
}

async fn my_day(ctx: Ctx, call: Call, p: MyDay) -> Result<Value, Failure> {
    let on = match &p.day {
        Some(d) => day(d, "day")?,
        None => ctx.today,
    };
    let manage = ctx.manage()?;
    let member = super::tickets::member_by_identifier(&ctx, &call, &p.member).await?;
    let owned = Query::new().conditions("closedFlag = false").and(condition(
        "owner/identifier",
        Op::Eq,
        p.member.as_str(),
    )?);
    let time = Query::new()
        .conditions(condition("member/identifier", Op::Eq, p.member.as_str())?)
        .and(condition("timeStart", Op::Ge, midnight(on))?)
        .and(condition(
            "timeStart",
            Op::Lt,
            midnight(on + Duration::days(1)),
        )?);
    let (mut tickets, entries, bookings) = futures::try_join!(
        async {
            Ok(manage
                .list(&call, "/service/tickets", &owned, 200)
                .await?
                .rows)
        },
        async { Ok(manage.list(&call, "/time/entries", &time, 200).await?.rows) },
        booked(&ctx, &call, on, on, Some(&p.member)),
    )?;
    tickets.sort_by_key(|t| (priority_rank(t), t["id"].as_i64()));
    let logged: f64 = entries
        .iter()
        .filter_map(|e| e["actualHours"].as_f64())
        .sum();
    let capacity = member["dailyCapacity"].as_f64().unwrap_or_default();
    let booked_hours: f64 = bookings.iter().filter_map(|e| e["hours"].as_f64()).sum();
    Ok(json!({
        "member": {"id": member["id"], "name": p.member},
        "day": on.to_string(),
        "capacity_hours": capacity,
        "booked_hours": booked_hours,
        "logged_hours": (logged * 100.0).round() / 100.0,
        "hours_left": ((capacity - logged).max(0.0) * 100.0).round() / 100.0,
        "bookings": bookings.iter().map(compact_entry).collect::<Vec<_>>(),
        "open_tickets": tickets.len(),
        "tickets": view::compact_all(Kind::Ticket, &tickets),
    }))
}

async fn dispatch(ctx: Ctx, call: Call, p: Dispatch) -> Result<Value, Failure> {
    let manage = ctx.manage()?;
    let to = match p.scope {
        DispatchScope::Today => ctx.today,
        DispatchScope::Week => ctx.today + Duration::days(6),
    };
    let open = Query::new()
        .conditions("closedFlag = false")
        .order_by("id asc");
    let (tickets, bookings, free) = futures::try_join!(
        async {
            Ok(manage
                .list(&call, "/service/tickets", &open, MAX_ROWS)
                .await?)
        },
        booked(&ctx, &call, ctx.today, to, None),
        free_on(&ctx, &call, ctx.today),
    )?;
    let mut unassigned: Vec<&Value> = tickets
        .rows
        .iter()
        .filter(|t| t["owner"].is_null())
        .collect();
    unassigned.sort_by_key(|t| (priority_rank(t), t["id"].as_i64()));
    let mut per_owner: BTreeMap<String, usize> = BTreeMap::new();
    for t in &tickets.rows {
        if let Some(o) = t["owner"]["identifier"].as_str() {
            *per_owner.entry(o.to_owned()).or_default() += 1;
        }
    }
    let mut owners: Vec<Value> = per_owner
        .into_iter()
        .map(|(m, n)| json!({"member": m, "open_tickets": n}))
        .collect();
    owners.sort_by_key(|o| std::cmp::Reverse(o["open_tickets"].as_u64()));
    let unassigned_views: Vec<Value> = unassigned
        .iter()
        .take(25)
        .map(|t| view::compact(Kind::Ticket, t))
        .collect();
    Ok(json!({
        "scope": if p.scope == DispatchScope::Week { "week" } else { "today" },
        "from": ctx.today.to_string(),
        "to": to.to_string(),
        "open_tickets": tickets.rows.len(),
        "truncated": tickets.truncated,
        "unassigned": unassigned.len(),
        "unassigned_tickets": unassigned_views,
        "owners": owners,
        "bookings": bookings.iter().map(compact_entry).collect::<Vec<_>>(),
        "free_today": free,
    }))
}

/// Agreement health: active agreements, MRR from their monthly fees, ending within 30 / 90 days.
fn agreement_health(agreements: &[Value], ctx: &Ctx) -> Result<Value, Failure> {
    let active: Vec<&Value> = agreements
        .iter()
        .filter(|a| a["cancelledFlag"] != true && a["agreementStatus"] != "Expired")
        .collect();
    let fees: Vec<Decimal> = active
        .iter()
        .filter(|a| a["billingCycle"]["name"] == "Monthly")
        .filter_map(|a| decimal_of(&a["billAmount"]))
        .collect();
    let ending = expiring(agreements, ctx.today, 90);
    Ok(json!({
        "active": active.len(),
        "mrr": money(calc::sum(&fees).unwrap_or_default())?,
        "ending_within_30_days": ending.iter().filter(|e| e.days_left <= 30).count(),
        "ending_within_90_days": ending.len(),
    }))
}

/// Clients that need a look, each with its reasons: receivables more than 30 days overdue, an
/// agreement ending within 60 days, five or more open tickets, or SLA misses.
fn at_risk(ar: &Value, agreements: &[Value], open: &[Value], ctx: &Ctx) -> Vec<Value> {
    let mut reasons: BTreeMap<i64, (Value, Vec<String>)> = BTreeMap::new();
    let mut add = |id: i64, name: &Value, why: String| {
        reasons
            .entry(id)
            .or_insert_with(|| (name.clone(), Vec::new()))
            .1
            .push(why);
    };
    for c in ar["companies"].as_array().into_iter().flatten() {
        let late: Vec<Decimal> = ["31_60", "61_90", "over_90"]
            .iter()
            .filter_map(|b| decimal_of(&c["aging"][*b]))
            .collect();
        let late = calc::sum(&late).unwrap_or_default();
        if late > Decimal::ZERO {
            add(
                c["company"]["id"].as_i64().unwrap_or_default(),
                &c["company"]["name"],
                format!(
                    "{} USD more than 30 days overdue",
                    money(late).unwrap_or_default()
                ),
            );
        }
    }
    for e in expiring(agreements, ctx.today, 60) {
        let name = agreements
            .iter()
            .find(|a| a["id"] == e.agreement_id)
            .map(|a| a["company"]["name"].clone())
            .unwrap_or_default();
        add(
            e.company_id.unwrap_or_default(),
            &name,
            format!("agreement {} ends in {} days", e.agreement_id, e.days_left),
        );
    }
    let mut per: BTreeMap<i64, (Value, usize, usize)> = BTreeMap::new();
    for t in open {
        let id = t["company"]["id"].as_i64().unwrap_or_default();
        let slot = per
            .entry(id)
            .or_insert_with(|| (t["company"]["name"].clone(), 0, 0));
        slot.1 += 1;
        if t["isInSla"] == false {
            slot.2 += 1;
        }
    }
    for (id, (name, n, missed)) in per {
        if n >= 5 {
            add(id, &name, format!("{n} open tickets"));
        }
        if missed > 0 {
            add(id, &name, format!("{missed} open tickets out of SLA"));
        }
    }
    let mut rows: Vec<Value> = reasons
        .into_iter()
        .map(|(id, (name, why))| json!({"company": {"id": id, "name": name}, "reasons": why}))
        .collect();
    rows.sort_by_key(|r| std::cmp::Reverse(r["reasons"].as_array().map(Vec::len)));
    rows
}

async fn daily_briefing(ctx: Ctx, call: Call, _: NoParams) -> Result<Value, Failure> {
    let manage = ctx.manage()?;
    let since = ctx.today - Duration::days(30);
    let recent = Query::new().conditions(condition("dateEntered", Op::Ge, midnight(since))?);
    let open = Query::new().conditions("closedFlag = false");
    let period = Unbilled {
        from: Some(since.to_string()),
        to: Some(ctx.today.to_string()),
        company_id: None,
        member: None,
    };
    let (recent, open, agreements, team, ar, unbilled) = futures::try_join!(
        async {
            Ok(manage
                .list(&call, "/service/tickets", &recent, MAX_ROWS)
                .await?
                .rows)
        },
        async {
            Ok(manage
                .list(&call, "/service/tickets", &open, MAX_ROWS)
                .await?
                .rows)
        },
        async {
            Ok(manage
                .list(&call, "/finance/agreements", &Query::new(), MAX_ROWS)
                .await?
                .rows)
        },
        utilization(&ctx, &call, ctx.today - Duration::days(13), ctx.today),
        aging(&ctx, &call, None),
        unbilled_entries(&ctx, &call, &period),
    )?;
    let today_start = midnight(ctx.today);
    let new_today = recent
        .iter()
        .filter(|t| {
            t["_info"]["dateEntered"]
                .as_str()
                .and_then(|d| chrono::DateTime::parse_from_rfc3339(d).ok())
                .is_some_and(|d| d >= today_start)
        })
        .count();
    Ok(json!({
        "today": ctx.today.to_string(),
        "tickets": {
            "open": open.len(),
            "unassigned": open.iter().filter(|t| t["owner"].is_null()).count(),
            "entered_last_30_days": recent.len(),
            "entered_today": new_today,
        },
        "sla_last_30_days": sla(&recent),
        "utilization_last_14_days": team,
        "agreements": agreement_health(&agreements, &ctx)?,
        "unbilled_last_30_days": {
            "entries": unbilled.2.len(),
            "value": unbilled_value(&unbilled.2)?,
        },
        "receivables": ar["aging"],
        "at_risk_clients": at_risk(&ar, &agreements, &open, &ctx),
    }))
}

async fn brief(ctx: Ctx, call: Call, p: Brief) -> Result<Value, Failure> {
    let manage = ctx.manage()?;
    let company_path = format!("/company/companies/{}", p.company_id);
    let mine = condition("company/id", Op::Eq, p.company_id)?;
    let since = ctx.today - Duration::days(90);
    let tickets = Query::new().conditions(mine.clone()).and(format!(
        "(closedFlag = false or {})",
        condition("dateEntered", Op::Ge, midnight(since))?
    ));
    let agreements = Query::new().conditions(mine.clone());
    let opportunities = Query::new()
        .conditions(mine.clone())
        .and("status/name = \"Open\"");
    let period = Unbilled {
        from: Some((ctx.today - Duration::days(30)).to_string()),
        to: Some(ctx.today.to_string()),
        company_id: Some(p.company_id),
        member: None,
    };
    let (company, tickets, agreements, opportunities, ar, unbilled) = futures::try_join!(
        async { Ok(manage.get(&call, &company_path, &Query::new()).await?) },
        async {
            Ok(manage
                .list(&call, "/service/tickets", &tickets, MAX_ROWS)
                .await?
                .rows)
        },
        async {
            Ok(manage
                .list(&call, "/finance/agreements", &agreements, 100)
                .await?
                .rows)
        },
        async {
            Ok(manage
                .list(&call, "/sales/opportunities", &opportunities, 100)
                .await?
                .rows)
        },
        aging(&ctx, &call, Some(p.company_id)),
        unbilled_entries(&ctx, &call, &period),
    )?;
    // Devices from the RMM; its absence or failure is reported, not fatal to the brief.
    let devices = match super::rmm::rmm_company(&ctx, &call, p.company_id).await {
        Ok(rmm) => {
            let id = rmm["id"].as_str().unwrap_or_default().to_owned();
            match super::rmm::endpoints(&ctx, &call, &[id.as_str()]).await {
                Ok(eps) => {
                    let ids: Vec<&str> = eps
                        .iter()
                        .filter_map(|e| e["endpointID"].as_str())
                        .collect();
                    let beats = super::resolve::heartbeats(&ctx, &call, &ids)
                        .await
                        .unwrap_or_default();
                    let online = beats.values().filter(|(o, _)| *o).count();
                    json!({"count": ids.len(), "online": online, "offline": ids.len() - online})
                }
                Err(f) => json!({"unavailable": f.to_error()}),
            }
        }
        Err(f) => json!({"unavailable": f.to_error()}),
    };
    let mut open: Vec<&Value> = tickets.iter().filter(|t| t["closedFlag"] != true).collect();
    open.sort_by_key(|t| (priority_rank(t), t["id"].as_i64()));
    let ending: Vec<Value> = expiring(&agreements, ctx.today, 90)
        .iter()
        .map(|e| json!({"agreement_id": e.agreement_id, "name": e.name, "end_date": e.end_date.to_string(), "days_left": e.days_left}))
        .collect();
    Ok(json!({
        "company": view::compact(Kind::Company, &company),
        "open_tickets": open.len(),
        "top_tickets": open.iter().take(5).map(|t| view::compact(Kind::Ticket, t)).collect::<Vec<_>>(),
        "sla_last_90_days": sla(&tickets),
        "agreements": view::compact_all(Kind::Agreement, &agreements),
        "renewals_within_90_days": ending,
        "receivables": ar["aging"],
        "unbilled_last_30_days": {
            "entries": unbilled.2.len(),
            "value": unbilled_value(&unbilled.2)?,
        },
        "devices": devices,
        "open_opportunities": opportunities.iter().map(|o| json!({"id": o["id"], "name": o["name"], "expected_close": o["expectedCloseDate"].as_str().and_then(|d| d.get(..10))})).collect::<Vec<_>>(),
    }))
}
