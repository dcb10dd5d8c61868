//! `cw_team`: members, their schedules, workload (utilization, open tickets, what is booked) and
//! who has time free on a day. Each answer is a fixed handful of list reads, whatever the size of
//! the team.

use std::collections::BTreeMap;

use chrono::{Datelike, Duration, NaiveDate, Weekday};
use schemas::tool::params::{Members, Schedule, WhoIsFree, Workload};
use serde_json::{Value, json};

use super::finance::period;
use super::{Action, Ctx, Failure, clamp_limit, day, midnight};
use crate::connector::Call;
use crate::connector::manage::{Op, Query, condition};
use crate::view::{self, Kind};

/// Most rows read for a team-wide figure.
const MAX_ROWS: usize = 5000;

pub(super) fn actions() -> Vec<Action> {
    vec![
        Action::read(
            "members",
            "Active members (technicians) with their role and daily capacity.",
            json!({"tool": "cw_team", "action": "members", "params": {}}),
            members,
        ),
        Action::read(
            "schedule",
            "Schedule entries (default the next 7 days), optionally of one member.",
            json!({"tool": "cw_team", "action": "schedule", "params": {"member": "jsmith"}}),
            schedule,
        ),
        Action::read(
            "workload",
            "Per member: hours logged and billable, utilization against capacity (default the last 14 days), open tickets owned, hours booked in the next 7 days.",
            json!({"tool": "cw_team", "action": "workload", "params": {}}),
            workload,
        ),
        Action::read(
            "who_is_free",
            "Members with at least N hours not booked on a day (default today, 1 hour), most free first.",
            json!({"tool": "cw_team", "action": "who_is_free", "params": {"day": "2026-03-03", "hours": 2}}),
            who_is_free,
        ),
    ]
}

/// Technicians: active members with a daily capacity (the API member has none).
pub(super) async fn technicians(ctx: &Ctx, call: &Call) -> Result<Vec<Value>, Failure> {
    Ok(ctx
        .manage()?
        .list(
            call,
            "/system/members",
            &Query::new()
                .conditions("inactiveFlag = false")
                .order_by("id asc"),
            MAX_ROWS,
        )
        .await?
        .rows
        .into_iter()
        .filter(|m| m["dailyCapacity"].as_f64().unwrap_or_default() > 0.0)
        .collect())
}

/// Schedule entries starting in `from..=to`.
pub(super) async fn booked(
    ctx: &Ctx,
    call: &Call,
    from: NaiveDate,
    to: NaiveDate,
    member: Option<&str>,
) -> Result<Vec<Value>, Failure> {
    let mut query = Query::new()
        .conditions(condition("dateStart", Op::Ge, midnight(from))?)
        .and(condition(
            "dateStart",
            Op::Lt,
            midnight(to + Duration::days(1)),
        )?)
        .order_by("dateStart asc");
    if let Some(m) = member {
        query = query.and(condition("member/identifier", Op::Eq, m)?);
    }
    Ok(ctx
        .manage()?
        .list(call, "/schedule/entries", &query, MAX_ROWS)
        .await?
        .rows)
}

pub(super) fn compact_entry(e: &Value) -> Value {
    json!({
        "id": e["id"],
        "member": e["member"]["identifier"],
        "name": e["name"],
        "start": e["dateStart"],
        "end": e["dateEnd"],
        "hours": e["hours"],
        "ticket_id": e["objectId"],
        "status": e["status"]["name"],
        "done": e["doneFlag"],
    })
}

/// Hours booked per member identifier.
pub(super) fn hours_by_member(entries: &[Value]) -> BTreeMap<String, f64> {
    let mut out = BTreeMap::new();
    for e in entries {
        if e["doneFlag"] == true {
            continue;
        }
        let m = e["member"]["identifier"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        *out.entry(m).or_default() += e["hours"].as_f64().unwrap_or_default();
    }
    out
}

fn weekdays(from: NaiveDate, to: NaiveDate) -> i64 {
    from.iter_days()
        .take_while(|d| *d <= to)
        .filter(|d| !matches!(d.weekday(), Weekday::Sat | Weekday::Sun))
        .count() as i64
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

async fn members(ctx: Ctx, call: Call, p: Members) -> Result<Value, Failure> {
    let mut query = Query::new().order_by("id asc");
    if !p.include_inactive {
        query = query.conditions("inactiveFlag = false");
    }
    let listing = ctx
        .manage()?
        .list(&call, "/system/members", &query, clamp_limit(p.limit))
        .await?;
    let rows: Vec<Value> = listing
        .rows
        .iter()
        .map(|m| {
            let mut v = view::compact(Kind::Member, m);
            v["daily_capacity"] = m["dailyCapacity"].clone();
            if !m["workRole"].is_null() {
                v["work_role"] = m["workRole"]["name"].clone();
            }
            v
        })
        .collect();
    Ok(json!({"count": rows.len(), "truncated": listing.truncated, "members": rows}))
}

async fn schedule(ctx: Ctx, call: Call, p: Schedule) -> Result<Value, Failure> {
    let from = match &p.from {
        Some(f) => day(f, "from")?,
        None => ctx.today,
    };
    let to = match &p.to {
        Some(t) => day(t, "to")?,
        None => from + Duration::days(6),
    };
    if from > to {
        return Err(Failure::invalid("`from` is after `to`"));
    }
    let entries = booked(&ctx, &call, from, to, p.member.as_deref()).await?;
    Ok(json!({
        "from": from.to_string(),
        "to": to.to_string(),
        "count": entries.len(),
        "hours": round2(entries.iter().filter_map(|e| e["hours"].as_f64()).sum()),
        "entries": entries.iter().map(compact_entry).collect::<Vec<_>>(),
    }))
}

/// Utilization per technician over a period: billable hours over capacity (daily capacity ×
/// weekdays), with hours logged, open tickets owned and hours booked in the next 7 days.
pub(super) async fn utilization(
    ctx: &Ctx,
    call: &Call,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<Vec<Value>, Failure> {
    let manage = ctx.manage()?;
    let time = Query::new()
        .conditions(condition("timeStart", Op::Ge, midnight(from))?)
        .and(condition(
            "timeStart",
            Op::Lt,
            midnight(to + Duration::days(1)),
        )?)
        .fields(["id", "member", "actualHours", "billableOption"]);
    let open = Query::new()
        .conditions("closedFlag = false and owner/id != null")
        .fields(["id", "owner"]);
    let (techs, entries, tickets, booked) = futures::try_join!(
        technicians(ctx, call),
        async {
            Ok(manage
                .list(call, "/time/entries", &time, MAX_ROWS)
                .await?
                .rows)
        },
        async {
            Ok(manage
                .list(call, "/service/tickets", &open, MAX_ROWS)
                .await?
                .rows)
        },
        booked(ctx, call, ctx.today, ctx.today + Duration::days(6), None),
    )?;
    let booked = hours_by_member(&booked);
    let days = weekdays(from, to);
    Ok(techs
        .iter()
        .map(|m| {
            let id = &m["id"];
            let ident = m["identifier"].as_str().unwrap_or_default();
            let mine = entries.iter().filter(|e| e["member"]["id"] == *id);
            let (mut logged, mut billable) = (0.0, 0.0);
            for e in mine {
                let h = e["actualHours"].as_f64().unwrap_or_default();
                logged += h;
                if e["billableOption"] == "Billable" {
                    billable += h;
                }
            }
            let capacity = m["dailyCapacity"].as_f64().unwrap_or_default() * days as f64;
            let utilization = if capacity > 0.0 {
                (billable / capacity * 1000.0).round() / 10.0
            } else {
                0.0
            };
            json!({
                "member": {"id": id, "name": ident},
                "logged_hours": round2(logged),
                "billable_hours": round2(billable),
                "capacity_hours": round2(capacity),
                "utilization_percent": utilization,
                "open_tickets": tickets.iter().filter(|t| t["owner"]["id"] == *id).count(),
                "booked_hours_next_7_days": round2(booked.get(ident).copied().unwrap_or_default()),
            })
        })
        .collect())
}

async fn workload(ctx: Ctx, call: Call, p: Workload) -> Result<Value, Failure> {
    let (from, to) = period(&ctx, p.from.as_deref(), p.to.as_deref(), 13)?;
    let mut rows = utilization(&ctx, &call, from, to).await?;
    rows.sort_by_key(|r| std::cmp::Reverse(r["open_tickets"].as_u64()));
    Ok(json!({"from": from.to_string(), "to": to.to_string(), "members": rows}))
}

/// Free hours per technician on a day: capacity less what is booked, most free first.
pub(super) async fn free_on(ctx: &Ctx, call: &Call, on: NaiveDate) -> Result<Vec<Value>, Failure> {
    let (techs, entries) =
        futures::try_join!(technicians(ctx, call), booked(ctx, call, on, on, None))?;
    let booked = hours_by_member(&entries);
    let mut rows: Vec<Value> = techs
        .iter()
        .map(|m| {
            let ident = m["identifier"].as_str().unwrap_or_default();
            let capacity = m["dailyCapacity"].as_f64().unwrap_or_default();
            let taken = booked.get(ident).copied().unwrap_or_default();
            json!({
                "member": {"id": m["id"], "name": ident},
                "capacity_hours": capacity,
                "booked_hours": round2(taken),
                "free_hours": round2((capacity - taken).max(0.0)),
            })
        })
        .collect();
    rows.sort_by(|a, b| {
        b["free_hours"]
            .as_f64()
            .partial_cmp(&a["free_hours"].as_f64())
            .unwrap_or(std::cmp::Ordering::Equal)
    });
    Ok(rows)
}

async fn who_is_free(ctx: Ctx, call: Call, p: WhoIsFree) -> Result<Value, Failure> {
    if !(0.0..=24.0).contains(&p.hours) {
        return Err(Failure::invalid("`hours` must be between 0 and 24"));
    }
    let on = match &p.day {
        Some(d) => day(d, "day")?,
        None => ctx.today,
    };
    let free: Vec<Value> = free_on(&ctx, &call, on)
        .await?
        .into_iter()
        .filter(|r| r["free_hours"].as_f64().unwrap_or_default() >= p.hours)
        .collect();
    Ok(json!({"day": on.to_string(), "hours": p.hours, "count": free.len(), "free": free}))
}
