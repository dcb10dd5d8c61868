//! `cw_time`: time entries, read and corrected.

use chrono::{DateTime, Duration, Utc};
use schemas::event::{EffectPreview, FieldChange, RecordRef, Risk, UpstreamRequest};
use schemas::tool::params::{
    IdParams, MyWeek, TimeAdd, TimeEntries, TimeUpdate, Unbilled, WeeklyValidation,
};
use serde_json::{Value, json};

use super::{Action, Ctx, Failure, Plan, Planning, clamp_limit, day, midnight};
use crate::connector::Call;
use crate::connector::manage::{Op, PatchOp, Query, condition};
use crate::view::{self, Kind};

pub(super) fn actions() -> Vec<Action> {
    vec![
        Action::read(
            "entries",
            "Time entries by member, ticket and date range, newest first.",
            json!({"tool": "cw_time", "action": "entries", "params": {"member": "jsmith", "from": "2026-02-23", "to": "2026-02-27"}}),
            entries,
        ),
        Action::read(
            "get",
            "One time entry.",
            json!({"tool": "cw_time", "action": "get", "params": {"id": 301}}),
            get,
        ),
        Action::read(
            "my_week",
            "A member's week (Monday to Sunday): hours per day, billable and not, and each entry.",
            json!({"tool": "cw_time", "action": "my_week", "params": {"member": "jsmith", "week_of": "2026-02-25"}}),
            my_week,
        ),
        Action::read(
            "weekly_validation",
            "Check a week of time before billing: missing days, under target, over the daily maximum, overlaps, duplicates, empty notes, billable flag against the work type, time on closed tickets; each finding with a proposed fix.",
            json!({"tool": "cw_time", "action": "weekly_validation", "params": {"from": "2026-02-23", "to": "2026-03-01"}}),
            weekly_validation,
        ),
        Action::read(
            "unbilled",
            "Billable time not yet invoiced (default the last 30 days): hours and value per member, and each entry.",
            json!({"tool": "cw_time", "action": "unbilled", "params": {"member": "jsmith", "from": "2026-02-01"}}),
            unbilled,
        ),
        Action::write(
            "add",
            "Log time on a ticket for a member (start plus end or hours, with notes).",
            Risk::Write,
            json!({"tool": "cw_time", "action": "add", "params": {"ticket_id": 1042, "member": "jsmith", "time_start": "2026-03-02T14:00:00Z", "hours": 0.5, "notes": "Reset the user's MFA and verified sign-in."}, "confirm": true}),
            add,
        ),
        Action::write(
            "update",
            "Correct a time entry's notes, times, billable option or work type; only the fields given change.",
            Risk::Write,
            json!({"tool": "cw_time", "action": "update", "params": {"id": 301, "billable": "DoNotBill"}, "confirm": true}),
            update,
        ),
    ]
}

fn instant(text: &str, field: &str) -> Result<DateTime<Utc>, Failure> {
    DateTime::parse_from_rfc3339(text)
        .map(|d| d.with_timezone(&Utc))
        .map_err(|_| {
            Failure::invalid(format!(
                "`{field}` must be an RFC 3339 time such as 2026-03-02T14:00:00Z, got {text:?}"
            ))
        })
}

fn wire(d: DateTime<Utc>) -> String {
    d.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

async fn entries(ctx: Ctx, call: Call, p: TimeEntries) -> Result<Value, Failure> {
    let mut query = Query::new().order_by("timeStart desc");
    if let Some(member) = &p.member {
        query = query.and(condition("member/identifier", Op::Eq, member.as_str())?);
    }
    if let Some(ticket) = p.ticket_id {
        query = query.and("chargeToType = \"ServiceTicket\"").and(condition(
            "chargeToId",
            Op::Eq,
            ticket,
        )?);
    }
    if let Some(from) = &p.from {
        query = query.and(condition(
            "timeStart",
            Op::Ge,
            midnight(day(from, "from")?),
        )?);
    }
    if let Some(to) = &p.to {
        let end = midnight(day(to, "to")? + Duration::days(1));
        query = query.and(condition("timeStart", Op::Lt, end)?);
    }
    let listing = ctx
        .manage()?
        .list(&call, "/time/entries", &query, clamp_limit(p.limit))
        .await?;
    let hours: f64 = listing
        .rows
        .iter()
        .filter_map(|e| e["actualHours"].as_f64())
        .sum();
    Ok(json!({
        "count": listing.rows.len(),
        "truncated": listing.truncated,
        "hours": (hours * 100.0).round() / 100.0,
        "entries": view::compact_all(Kind::TimeEntry, &listing.rows),
    }))
}

async fn get(ctx: Ctx, call: Call, p: IdParams) -> Result<Value, Failure> {
    let raw = p.fields.is_some();
    let entry = ctx
        .manage()?
        .get(
            &call,
            &format!("/time/entries/{}", p.id),
            &Query::new().fields(p.fields.unwrap_or_default()),
        )
        .await?;
    Ok(if raw {
        entry
    } else {
        view::compact(Kind::TimeEntry, &entry)
    })
}

fn entry_ref(id: impl ToString) -> Option<RecordRef> {
    Some(RecordRef {
        kind: "time_entry".into(),
        id: id.to_string(),
    })
}

async fn add(ctx: Ctx, call: Call, p: TimeAdd, planning: Planning) -> Result<Plan, Failure> {
    if p.notes.trim().is_empty() {
        return Err(Failure::invalid(
            "`notes` is empty: say what was done (empty notes fail billing review)",
        ));
    }
    let start = instant(&p.time_start, "time_start")?;
    let end = match (&p.time_end, p.hours) {
        (Some(end), None) => instant(end, "time_end")?,
        (None, Some(h)) if h > 0.0 && h <= 24.0 => {
            start + Duration::seconds((h * 3600.0).round() as i64)
        }
        (None, Some(h)) => {
            return Err(Failure::invalid(format!(
                "`hours` must be above 0 and at most 24, got {h}"
            )));
        }
        _ => {
            return Err(Failure::invalid(
                "give exactly one of `time_end` or `hours`",
            ));
        }
    };
    if end <= start {
        return Err(Failure::invalid("`time_end` must be after `time_start`"));
    }
    let ticket = if planning.confirmed {
        ctx.manage()?
            .get(
                &call,
                &format!("/service/tickets/{}", p.ticket_id),
                &Query::new().fields(["id", "summary", "company"]),
            )
            .await?
    } else {
        Value::Null
    };
    let hours = (end - start).num_seconds() as f64 / 3600.0;
    let mut body = json!({
        "chargeToType": "ServiceTicket",
        "chargeToId": p.ticket_id,
        "member": {"identifier": p.member},
        "timeStart": wire(start),
        "timeEnd": wire(end),
        "notes": p.notes,
    });
    if let Some(id) = p.work_type_id {
        body["workType"] = json!({"id": id});
    }
    if let Some(b) = p.billable {
        body["billableOption"] = json!(b.as_str());
    }
    Ok(Plan {
        request: UpstreamRequest {
            product: "manage".into(),
            method: "POST".into(),
            path: "/time/entries".into(),
            body: Some(body),
        },
        effect: EffectPreview {
            summary: format!(
                "log {:.2} h for {} on ticket {}{}",
                hours,
                p.member,
                p.ticket_id,
                ticket["summary"]
                    .as_str()
                    .map(|s| format!(" ({s})"))
                    .unwrap_or_default()
            ),
            target: Some(RecordRef {
                kind: "ticket".into(),
                id: p.ticket_id.to_string(),
            }),
            changes: Vec::new(),
            amount: None,
            customer_visible_text: None,
            device: None,
        },
        customer_visible: false,
        observed: None,
        hard: false,
    })
}

async fn update(ctx: Ctx, call: Call, p: TimeUpdate, planning: Planning) -> Result<Plan, Failure> {
    let path = format!("/time/entries/{}", p.id);
    let current = if planning.confirmed {
        ctx.manage()?.get(&call, &path, &Query::new()).await?
    } else {
        Value::Null
    };
    let mut ops = Vec::new();
    let mut changes = Vec::new();
    let mut change = |field: &str, patch_value: Value, shown: Value| {
        changes.push(FieldChange {
            field: field.to_owned(),
            before: Some(current[field].clone()).filter(|v| !v.is_null()),
            after: Some(shown),
        });
        ops.push(PatchOp::replace(field, patch_value));
    };
    if let Some(notes) = &p.notes {
        change("notes", json!(notes), json!(notes));
    }
    if let Some(t) = &p.time_start {
        let t = wire(instant(t, "time_start")?);
        change("timeStart", json!(t), json!(t));
    }
    if let Some(t) = &p.time_end {
        let t = wire(instant(t, "time_end")?);
        change("timeEnd", json!(t), json!(t));
    }
    if let Some(b) = p.billable {
        change("billableOption", json!(b.as_str()), json!(b.as_str()));
    }
    if let Some(id) = p.work_type_id {
        changes.push(FieldChange {
            field: "workType".into(),
            before: Some(
                json!({"id": current["workType"]["id"], "name": current["workType"]["name"]}),
            ),
            after: Some(json!({"id": id})),
        });
        ops.push(PatchOp::replace("workType/id", json!(id)));
    }
    if ops.is_empty() {
        return Err(Failure::invalid(
            "nothing to change: give at least one of notes, time_start, time_end, billable, work_type_id",
        ));
    }
    let observed = super::observed(&path, &current);
    Ok(Plan {
        request: UpstreamRequest {
            product: "manage".into(),
            method: "PATCH".into(),
            path,
            body: Some(serde_json::to_value(&ops).unwrap_or(Value::Null)),
        },
        effect: EffectPreview {
            summary: match current["member"]["identifier"].as_str() {
                Some(member) => format!(
                    "correct time entry {} of {member} ({} h)",
                    p.id, current["actualHours"]
                ),
                None => format!("correct time entry {}", p.id),
            },
            target: entry_ref(p.id),
            changes,
            amount: None,
            customer_visible_text: None,
            device: None,
        },
        customer_visible: false,
        observed,
        hard: false,
    })
}

/// Most time entries, tickets or work types read for a validation.
const MAX_ROWS: usize = 5000;

async fn weekly_validation(ctx: Ctx, call: Call, p: WeeklyValidation) -> Result<Value, Failure> {
    use chrono::Datelike;
    let from = match &p.from {
        Some(f) => day(f, "from")?,
        None => {
            let monday =
                ctx.today - Duration::days(i64::from(ctx.today.weekday().num_days_from_monday()));
            monday - Duration::days(7)
        }
    };
    let to = match &p.to {
        Some(t) => day(t, "to")?,
        None => from + Duration::days(6),
    };
    if from > to || (to - from).num_days() > 31 {
        return Err(Failure::invalid(
            "`from`..`to` must be a period of at most 31 days, `from` first",
        ));
    }
    let manage = ctx.manage()?;
    let mut entry_query = Query::new()
        .conditions(condition("timeStart", Op::Ge, midnight(from))?)
        .and(condition(
            "timeStart",
            Op::Lt,
            midnight(to + Duration::days(1)),
        )?);
    if let Some(member) = &p.member {
        entry_query = entry_query.and(condition("member/identifier", Op::Eq, member.as_str())?);
    }
    let closed_query = Query::new()
        .conditions("closedFlag = true")
        .fields(["id", "closedDate"]);
    let plain = Query::new();
    let (entries, work_types, closed) = futures::try_join!(
        manage.list(&call, "/time/entries", &entry_query, MAX_ROWS),
        manage.list(&call, "/time/workTypes", &plain, MAX_ROWS),
        manage.list(&call, "/service/tickets", &closed_query, MAX_ROWS),
    )?;
    let context = crate::timesheet::Context {
        work_type_bill_time: work_types
            .rows
            .iter()
            .filter_map(|w| Some((w["id"].as_i64()?, w["billTime"].as_str()?.to_owned())))
            .collect(),
        closed_tickets: closed
            .rows
            .iter()
            .filter_map(|t| Some((t["id"].as_i64()?, t["closedDate"].as_str()?.parse().ok()?)))
            .collect(),
        members: entries
            .rows
            .iter()
            .filter_map(|e| e["member"]["id"].as_i64())
            .collect(),
        window: Some((from, to)),
    };
    let findings = crate::timesheet::validate(
        &entries.rows,
        &context,
        &crate::timesheet::Thresholds::default(),
    );
    let mut by_rule = std::collections::BTreeMap::<&str, usize>::new();
    let rows: Vec<Value> = findings
        .iter()
        .map(|f| {
            *by_rule.entry(f.rule.as_str()).or_default() += 1;
            json!({
                "rule": f.rule.as_str(),
                "severity": f.rule.severity(),
                "member_id": f.member_id,
                "date": f.date.to_string(),
                "entry_ids": f.entry_ids,
                "detail": f.detail,
                "proposed_fix": f.proposed_fix,
            })
        })
        .collect();
    Ok(json!({
        "from": from.to_string(),
        "to": to.to_string(),
        "entries_checked": entries.rows.len(),
        "members": context.members.len(),
        "truncated": entries.truncated || closed.truncated,
        "counts": by_rule,
        "findings": rows,
    }))
}

async fn my_week(ctx: Ctx, call: Call, p: MyWeek) -> Result<Value, Failure> {
    use chrono::Datelike;
    let anchor = match &p.week_of {
        Some(d) => day(d, "week_of")?,
        None => ctx.today,
    };
    let monday = anchor - Duration::days(i64::from(anchor.weekday().num_days_from_monday()));
    let sunday = monday + Duration::days(6);
    let query = Query::new()
        .conditions(condition("member/identifier", Op::Eq, p.member.as_str())?)
        .and(condition("timeStart", Op::Ge, midnight(monday))?)
        .and(condition(
            "timeStart",
            Op::Lt,
            midnight(sunday + Duration::days(1)),
        )?)
        .order_by("timeStart asc");
    let listing = ctx
        .manage()?
        .list(&call, "/time/entries", &query, MAX_ROWS)
        .await?;
    let round2 = |h: f64| (h * 100.0).round() / 100.0;
    let mut days: Vec<Value> = Vec::new();
    let (mut total, mut billable) = (0.0, 0.0);
    for offset in 0..7 {
        let date = monday + Duration::days(offset);
        let of_day: Vec<&Value> = listing
            .rows
            .iter()
            .filter(|e| {
                e["timeStart"]
                    .as_str()
                    .and_then(|t| t.parse::<DateTime<Utc>>().ok())
                    .is_some_and(|t| t.date_naive() == date)
            })
            .collect();
        let hours: f64 = of_day
            .iter()
            .filter_map(|e| e["actualHours"].as_f64())
            .sum();
        let billed: f64 = of_day
            .iter()
            .filter(|e| e["billableOption"] == "Billable")
            .filter_map(|e| e["actualHours"].as_f64())
            .sum();
        total += hours;
        billable += billed;
        days.push(json!({
            "date": date.to_string(),
            "weekday": date.format("%A").to_string(),
            "hours": round2(hours),
            "billable_hours": round2(billed),
            "entries": of_day.len(),
        }));
    }
    Ok(json!({
        "member": p.member,
        "week": {"from": monday.to_string(), "to": sunday.to_string()},
        "hours": round2(total),
        "billable_hours": round2(billable),
        "days": days,
        "entries": view::compact_all(Kind::TimeEntry, &listing.rows),
        "truncated": listing.truncated,
    }))
}

async fn unbilled(ctx: Ctx, call: Call, p: Unbilled) -> Result<Value, Failure> {
    use super::cpq::money;
    use super::finance::{entry_value, unbilled_entries};
    let (from, to, entries, truncated) = unbilled_entries(&ctx, &call, &p).await?;
    let mut by_member: std::collections::BTreeMap<String, (f64, Vec<rust_decimal::Decimal>)> =
        Default::default();
    for e in &entries {
        let m = e["member"]["identifier"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let slot = by_member.entry(m).or_default();
        slot.0 += e["actualHours"].as_f64().unwrap_or_default();
        slot.1.push(entry_value(e));
    }
    let members = by_member
        .into_iter()
        .map(|(m, (hours, values))| {
            Ok(json!({
                "member": m,
                "hours": (hours * 100.0).round() / 100.0,
                "value": money(crate::calc::sum(&values).unwrap_or_default())?,
            }))
        })
        .collect::<Result<Vec<Value>, Failure>>()?;
    let rows: Vec<Value> = entries
        .iter()
        .map(|e| {
            let mut v = view::compact(Kind::TimeEntry, e);
            v["value"] = json!(money(entry_value(e)).unwrap_or_default());
            v
        })
        .collect();
    Ok(json!({
        "from": from.to_string(),
        "to": to.to_string(),
        "count": rows.len(),
        "truncated": truncated,
        "members": members,
        "entries": rows,
    }))
}
