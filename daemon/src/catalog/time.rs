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
            "Check a week of time before billing: missing days, under target, over the daily maximum, overlaps, duplicates, empty or too-short notes, billable flag against the work type or the agreement's terms, time on closed tickets or projects, time outside an open time period, agreements over or under their limit; each finding with a proposed fix. Thresholds are optional params.",
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

/// Most time entries, tickets or time sheets read for a validation.
const MAX_ROWS: usize = 5000;
/// Most rows of a lookup table (work types, periods, agreements, closed projects) read for one.
const LOOKUP_ROWS: usize = 1000;

async fn weekly_validation(ctx: Ctx, call: Call, p: WeeklyValidation) -> Result<Value, Failure> {
    use crate::timesheet::{Context, Records, Thresholds};
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
    let defaults = Thresholds::default();
    let thresholds = Thresholds {
        min_daily_hours: p.min_daily_hours.unwrap_or(defaults.min_daily_hours),
        max_daily_hours: p.max_daily_hours.unwrap_or(defaults.max_daily_hours),
        min_note_chars: p
            .min_note_chars
            .map_or(defaults.min_note_chars, |n| n as usize),
        utilization: crate::agreements::Bounds {
            over: p.utilization_over.unwrap_or(defaults.utilization.over),
            under: p.utilization_under.unwrap_or(defaults.utilization.under),
        },
        utilization_days: p
            .utilization_days
            .map_or(defaults.utilization_days, i64::from),
    };
    if !(1..=92).contains(&thresholds.utilization_days) {
        return Err(Failure::invalid("`utilization_days` must be 1 to 92"));
    }
    // Agreement utilization is the whole shop's, so it is left out when one member is asked for.
    let with_agreements = p.member.is_none();
    let utilization_from = to - Duration::days(thresholds.utilization_days - 1);
    let read_from = if with_agreements {
        from.min(utilization_from)
    } else {
        from
    };
    let manage = ctx.manage()?;
    let until = midnight(to + Duration::days(1));
    let mut entry_query = Query::new()
        .conditions(condition("timeStart", Op::Ge, midnight(read_from))?)
        .and(condition("timeStart", Op::Lt, until)?);
    let mut sheet_query = Query::new()
        .conditions(condition("dateEnd", Op::Ge, midnight(from))?)
        .and(condition("dateStart", Op::Lt, until)?);
    if let Some(member) = &p.member {
        entry_query = entry_query.and(condition("member/identifier", Op::Eq, member.as_str())?);
        sheet_query = sheet_query.and(condition("member/identifier", Op::Eq, member.as_str())?);
    }
    let closed_query = Query::new()
        .conditions("closedFlag = true")
        .fields(["id", "closedDate"]);
    let closed_projects_query = Query::new()
        .conditions("closedFlag = true")
        .fields(["id", "actualEnd"]);
    let plain = Query::new();
    let (entries, work_types, closed, sheets, setups, closed_projects, agreements) = futures::try_join!(
        manage.list(&call, "/time/entries", &entry_query, MAX_ROWS),
        manage.list(&call, "/time/workTypes", &plain, LOOKUP_ROWS),
        manage.list(&call, "/service/tickets", &closed_query, MAX_ROWS),
        manage.list(&call, "/time/sheets", &sheet_query, MAX_ROWS),
        manage.list(&call, "/time/timePeriodSetups", &plain, LOOKUP_ROWS),
        manage.list(
            &call,
            "/project/projects",
            &closed_projects_query,
            LOOKUP_ROWS
        ),
        async {
            if with_agreements {
                manage
                    .list(&call, "/finance/agreements", &plain, LOOKUP_ROWS)
                    .await
            } else {
                Ok(crate::connector::manage::Listing {
                    rows: Vec::new(),
                    truncated: false,
                    pages: 0,
                })
            }
        },
    )?;
    let in_window = |e: &&Value| {
        e["timeStart"]
            .as_str()
            .and_then(|t| t.parse::<DateTime<Utc>>().ok())
            .is_some_and(|t| (from..=to).contains(&t.date_naive()))
    };
    // The agreements the window's time is charged to: their work-type terms decide billable
    // flags. One request each, so the fan-out is projected first; past the budget the rule
    // falls back to the work types' own terms, and the answer says so.
    let charged: std::collections::BTreeSet<i64> = entries
        .rows
        .iter()
        .filter(in_window)
        .filter_map(|e| e["agreement"]["id"].as_i64())
        .collect();
    let periods_query = Query::new()
        .conditions(condition("endDate", Op::Ge, midnight(from))?)
        .and(condition("startDate", Op::Le, midnight(to))?);
    let (call_ref, periods_ref, plain_ref) = (&call, &periods_query, &plain);
    let period_lists = futures::future::try_join_all(setups.rows.iter().filter_map(|s| {
        let path = format!("/time/timePeriodSetups/{}/periods", s["id"].as_i64()?);
        Some(async move { manage.list(call_ref, &path, periods_ref, LOOKUP_ROWS).await })
    }))
    .await?;
    let mut skipped = Vec::new();
    let terms = if call
        .project_calls(charged.len() as u64, "agreement work types")
        .is_ok()
    {
        futures::future::try_join_all(charged.iter().map(|id| {
            let path = format!("/finance/agreements/{id}/worktypes");
            async move { manage.list(call_ref, &path, plain_ref, LOOKUP_ROWS).await }
        }))
        .await?
    } else {
        skipped.push(format!(
            "agreement_billable_mismatch: reading the work-type terms of {} agreements would pass the upstream call budget; billable flags were checked against the work types only",
            charged.len()
        ));
        Vec::new()
    };
    let periods: Vec<Value> = period_lists.into_iter().flat_map(|l| l.rows).collect();
    let agreement_work_types: Vec<Value> = terms.into_iter().flat_map(|l| l.rows).collect();
    let members = entries
        .rows
        .iter()
        .filter(in_window)
        .filter_map(|e| e["member"]["id"].as_i64())
        .collect();
    let context = Context::from_records(
        Records {
            work_types: &work_types.rows,
            closed_tickets: &closed.rows,
            time_sheets: &sheets.rows,
            periods: &periods,
            agreement_work_types: &agreement_work_types,
            closed_projects: &closed_projects.rows,
            agreements: &agreements.rows,
        },
        members,
        Some((from, to)),
    );
    let findings = crate::timesheet::validate(&entries.rows, &context, &thresholds);
    let mut by_rule = std::collections::BTreeMap::<&str, usize>::new();
    let rows: Vec<Value> = findings
        .iter()
        .map(|f| {
            *by_rule.entry(f.rule.as_str()).or_default() += 1;
            let mut row = json!({
                "rule": f.rule.as_str(),
                "severity": f.rule.severity(),
                "member_id": f.member_id,
                "date": f.date.to_string(),
                "entry_ids": f.entry_ids,
                "detail": f.detail,
                "proposed_fix": f.proposed_fix,
            });
            if let Some(a) = f.agreement_id {
                row["agreement_id"] = json!(a);
            }
            row
        })
        .collect();
    let mut out = json!({
        "from": from.to_string(),
        "to": to.to_string(),
        "entries_checked": entries.rows.iter().filter(in_window).count(),
        "members": context.members.len(),
        "truncated": entries.truncated || closed.truncated || sheets.truncated || agreements.truncated,
        "counts": by_rule,
        "findings": rows,
    });
    if with_agreements {
        out["utilization_period"] =
            json!({"from": utilization_from.to_string(), "to": to.to_string()});
    }
    if !skipped.is_empty() {
        out["skipped"] = json!(skipped);
    }
    Ok(out)
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
