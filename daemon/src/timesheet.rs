//! Weekly timesheet validation (`cw_time weekly_validation`): the checks a service manager runs
//! before billing, over raw Manage time entries and the records they point at (work types,
//! tickets, time sheets and periods, agreements and their work-type terms, projects). Every
//! finding names its rule, severity, member (none for an agreement's), entries and a proposed
//! fix; nothing is ever changed here.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc, Weekday};
use serde_json::Value;

use crate::agreements::{self, Bounds};

/// Thresholds, configurable per shop.
#[derive(Debug, Clone, PartialEq)]
pub struct Thresholds {
    /// Flag weekdays a member logged fewer hours than this (0: only days with no time at all).
    pub min_daily_hours: f64,
    /// Flag days over this many hours.
    pub max_daily_hours: f64,
    /// Notes shorter than this (after trimming) count as empty.
    pub min_note_chars: usize,
    /// Agreement utilization: over above `over`, under below `under` (ratios of the limit).
    pub utilization: Bounds,
    /// Agreement utilization is measured over this many days ending on the window's last day
    /// (an agreement's limit is per month; one week of it says little).
    pub utilization_days: i64,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds {
            min_daily_hours: 0.0,
            max_daily_hours: 12.0,
            min_note_chars: 10,
            utilization: Bounds::default(),
            utilization_days: 28,
        }
    }
}

/// Time sheet statuses that still take time; any other (submitted, approved, billed) is closed.
const OPEN_SHEET: [&str; 3] = ["Open", "Rejected", "ErrorsCorrected"];

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Rule {
    MissingDay,
    UnderTarget,
    OverDailyMax,
    Overlap,
    Duplicate,
    EmptyNote,
    BillableMismatch,
    TimeOnClosedTicket,
    OutsideOpenPeriod,
    AgreementBillableMismatch,
    TimeOnClosedProject,
    AgreementOverUtilized,
    AgreementUnderUtilized,
}

impl Rule {
    pub fn as_str(self) -> &'static str {
        match self {
            Rule::MissingDay => "missing_day",
            Rule::UnderTarget => "under_target",
            Rule::OverDailyMax => "over_daily_max",
            Rule::Overlap => "overlap",
            Rule::Duplicate => "duplicate",
            Rule::EmptyNote => "empty_note",
            Rule::BillableMismatch => "billable_mismatch",
            Rule::TimeOnClosedTicket => "time_on_closed_ticket",
            Rule::OutsideOpenPeriod => "outside_open_period",
            Rule::AgreementBillableMismatch => "agreement_billable_mismatch",
            Rule::TimeOnClosedProject => "time_on_closed_project",
            Rule::AgreementOverUtilized => "agreement_over_utilized",
            Rule::AgreementUnderUtilized => "agreement_under_utilized",
        }
    }

    /// `critical` for what would bill a customer wrongly; `warning` for what needs a look.
    pub fn severity(self) -> &'static str {
        match self {
            Rule::Duplicate
            | Rule::BillableMismatch
            | Rule::AgreementBillableMismatch
            | Rule::Overlap => "critical",
            _ => "warning",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Finding {
    pub rule: Rule,
    /// The member whose time it is; `None` for an agreement's utilization.
    pub member_id: Option<i64>,
    /// The agreement a finding is about, for the agreement rules.
    pub agreement_id: Option<i64>,
    pub date: NaiveDate,
    pub entry_ids: Vec<i64>,
    pub detail: String,
    pub proposed_fix: String,
}

/// A member's time sheet for one period.
#[derive(Debug, Clone, PartialEq)]
pub struct Sheet {
    pub id: i64,
    pub member: i64,
    pub start: NaiveDate,
    pub end: NaiveDate,
    /// `Open`, `Rejected`, `PendingApproval`, `ApprovedByTierOne`, ...
    pub status: String,
}

/// What the rules read, beside the entries.
#[derive(Debug, Clone, Default)]
pub struct Context {
    /// Work type id -> its `billTime` (`Billable`, `NoCharge`, `DoNotBill`, `NoDefault`).
    pub work_type_bill_time: BTreeMap<i64, String>,
    /// (agreement id, work type id) -> the agreement's own `billTime` for that work type (its
    /// `/worktypes` terms), which overrides the work type's.
    pub agreement_bill_time: BTreeMap<(i64, i64), String>,
    /// Closed ticket id -> when it was closed.
    pub closed_tickets: BTreeMap<i64, DateTime<Utc>>,
    /// Closed project id -> when it was closed (`actualEnd`).
    pub closed_projects: BTreeMap<i64, DateTime<Utc>>,
    /// Time sheets of the window (empty: the period rule is off).
    pub time_sheets: Vec<Sheet>,
    /// Time periods, first and last day; when any are given, an entry dated in none is flagged.
    pub periods: Vec<(NaiveDate, NaiveDate)>,
    /// Agreements as Manage returns them, for utilization (empty: the utilization rules are off).
    pub agreements: Vec<Value>,
    /// Members expected to log time every weekday of the window.
    pub members: BTreeSet<i64>,
    /// First and last day checked (inclusive).
    pub window: Option<(NaiveDate, NaiveDate)>,
}

/// The raw Manage records a [`Context`] is built from (each list as the API returns it).
#[derive(Debug, Clone, Copy, Default)]
pub struct Records<'a> {
    /// `/time/workTypes`.
    pub work_types: &'a [Value],
    /// `/service/tickets` that are closed (`id`, `closedDate`).
    pub closed_tickets: &'a [Value],
    /// `/time/sheets`.
    pub time_sheets: &'a [Value],
    /// `/time/timePeriodSetups/{id}/periods`, of every setup.
    pub periods: &'a [Value],
    /// `/finance/agreements/{id}/worktypes`, of every agreement read.
    pub agreement_work_types: &'a [Value],
    /// `/project/projects` that are closed (`id`, `actualEnd`).
    pub closed_projects: &'a [Value],
    /// `/finance/agreements`.
    pub agreements: &'a [Value],
}

fn date_of(v: &Value) -> Option<NaiveDate> {
    Some(v.as_str()?.parse::<DateTime<Utc>>().ok()?.date_naive())
}

impl Context {
    /// The context for `window`, read from raw records; `members` are those expected to log time.
    pub fn from_records(
        records: Records<'_>,
        members: BTreeSet<i64>,
        window: Option<(NaiveDate, NaiveDate)>,
    ) -> Context {
        let instant = |v: &Value| v.as_str()?.parse::<DateTime<Utc>>().ok();
        Context {
            work_type_bill_time: records
                .work_types
                .iter()
                .filter_map(|w| Some((w["id"].as_i64()?, w["billTime"].as_str()?.to_owned())))
                .collect(),
            agreement_bill_time: records
                .agreement_work_types
                .iter()
                .filter_map(|w| {
                    Some((
                        (w["agreementId"].as_i64()?, w["workType"]["id"].as_i64()?),
                        w["billTime"]
                            .as_str()
                            .filter(|b| *b != "NoDefault")?
                            .to_owned(),
                    ))
                })
                .collect(),
            closed_tickets: records
                .closed_tickets
                .iter()
                .filter_map(|t| Some((t["id"].as_i64()?, instant(&t["closedDate"])?)))
                .collect(),
            closed_projects: records
                .closed_projects
                .iter()
                .filter_map(|p| Some((p["id"].as_i64()?, instant(&p["actualEnd"])?)))
                .collect(),
            time_sheets: records
                .time_sheets
                .iter()
                .filter_map(|s| {
                    Some(Sheet {
                        id: s["id"].as_i64()?,
                        member: s["member"]["id"].as_i64()?,
                        start: date_of(&s["dateStart"])?,
                        end: date_of(&s["dateEnd"])?,
                        status: s["status"].as_str()?.to_owned(),
                    })
                })
                .collect(),
            periods: records
                .periods
                .iter()
                .filter_map(|p| Some((date_of(&p["startDate"])?, date_of(&p["endDate"])?)))
                .collect(),
            agreements: records.agreements.to_vec(),
            members,
            window,
        }
    }
}

#[derive(Debug, Clone)]
struct Entry {
    id: i64,
    member: i64,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    hours: f64,
    charge: (String, i64),
    notes: String,
    work_type: Option<i64>,
    billable: String,
    status: String,
    time_sheet: Option<i64>,
    agreement: Option<i64>,
    project: Option<i64>,
}

fn entry(raw: &Value) -> Option<Entry> {
    let time = |k: &str| raw.get(k)?.as_str()?.parse::<DateTime<Utc>>().ok();
    let start = time("timeStart")?;
    let end = time("timeEnd")?;
    Some(Entry {
        id: raw.get("id")?.as_i64()?,
        member: raw.get("member")?.get("id")?.as_i64()?,
        start,
        end,
        hours: raw
            .get("actualHours")
            .and_then(Value::as_f64)
            .unwrap_or((end - start).num_minutes() as f64 / 60.0),
        charge: (
            raw.get("chargeToType")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
            raw.get("chargeToId")
                .and_then(Value::as_i64)
                .unwrap_or_default(),
        ),
        notes: raw
            .get("notes")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .trim()
            .to_owned(),
        work_type: raw
            .get("workType")
            .and_then(|w| w.get("id"))
            .and_then(Value::as_i64),
        billable: raw
            .get("billableOption")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned(),
        status: raw
            .get("status")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned(),
        time_sheet: raw["timeSheet"]["id"].as_i64(),
        agreement: raw["agreement"]["id"].as_i64(),
        project: raw["project"]["id"].as_i64(),
    })
}

/// Whether a billable option contradicts the `billTime` that applies to the entry.
fn contradicts(bill_time: &str, option: &str) -> bool {
    match bill_time {
        "Billable" => matches!(option, "NoCharge" | "DoNotBill"),
        "NoCharge" | "DoNotBill" => option == "Billable",
        _ => false,
    }
}

/// Run every rule over `entries` (raw Manage time entries). Entries outside the window are
/// only counted towards agreement utilization (whose period can reach back before the window).
pub fn validate(raw: &[Value], context: &Context, thresholds: &Thresholds) -> Vec<Finding> {
    let entries: Vec<Entry> = raw
        .iter()
        .filter_map(entry)
        .filter(|e| {
            context
                .window
                .is_none_or(|(from, to)| (from..=to).contains(&e.start.date_naive()))
        })
        .collect();
    let mut findings = Vec::new();
    let mut by_day: BTreeMap<(i64, NaiveDate), Vec<&Entry>> = BTreeMap::new();
    for e in &entries {
        by_day
            .entry((e.member, e.start.date_naive()))
            .or_default()
            .push(e);
    }

    // Days: missing, under target, over the maximum.
    if let Some((from, to)) = context.window {
        for &member in &context.members {
            for day in from.iter_days().take_while(|d| *d <= to) {
                if matches!(day.weekday(), Weekday::Sat | Weekday::Sun) {
                    continue;
                }
                let hours: f64 = by_day
                    .get(&(member, day))
                    .map(|v| v.iter().map(|e| e.hours).sum())
                    .unwrap_or(0.0);
                if hours == 0.0 {
                    findings.push(Finding {
                        rule: Rule::MissingDay,
                        member_id: Some(member),
                        agreement_id: None,
                        date: day,
                        entry_ids: vec![],
                        detail: "no time logged on a working day".into(),
                        proposed_fix: "ask the member to log the day's time, or record the leave"
                            .into(),
                    });
                } else if hours < thresholds.min_daily_hours {
                    findings.push(Finding {
                        rule: Rule::UnderTarget,
                        member_id: Some(member),
                        agreement_id: None,
                        date: day,
                        entry_ids: by_day[&(member, day)].iter().map(|e| e.id).collect(),
                        detail: format!(
                            "{hours:.2} h logged, target {:.2} h",
                            thresholds.min_daily_hours
                        ),
                        proposed_fix: "ask the member to complete the day".into(),
                    });
                }
            }
        }
    }
    for ((member, day), day_entries) in &by_day {
        let hours: f64 = day_entries.iter().map(|e| e.hours).sum();
        if hours > thresholds.max_daily_hours {
            findings.push(Finding {
                rule: Rule::OverDailyMax,
                member_id: Some(*member),
                agreement_id: None,
                date: *day,
                entry_ids: day_entries.iter().map(|e| e.id).collect(),
                detail: format!(
                    "{hours:.2} h logged, maximum {:.2} h",
                    thresholds.max_daily_hours
                ),
                proposed_fix: "check for entries on the wrong day or double-counted work".into(),
            });
        }
        // Pairs: exact duplicates, else overlaps.
        for (i, a) in day_entries.iter().enumerate() {
            for b in &day_entries[i + 1..] {
                let (rule, fix) = if a.start == b.start && a.end == b.end && a.charge == b.charge {
                    (
                        Rule::Duplicate,
                        format!(
                            "delete entry {} (a copy of {})",
                            b.id.max(a.id),
                            b.id.min(a.id)
                        ),
                    )
                } else if a.start < b.end && b.start < a.end {
                    (
                        Rule::Overlap,
                        "shorten or move one entry so the times do not overlap".to_owned(),
                    )
                } else {
                    continue;
                };
                findings.push(Finding {
                    rule,
                    member_id: Some(*member),
                    agreement_id: None,
                    date: *day,
                    entry_ids: vec![a.id.min(b.id), a.id.max(b.id)],
                    detail: format!(
                        "{} {}–{} and {} {}–{}",
                        a.id,
                        a.start.format("%H:%M"),
                        a.end.format("%H:%M"),
                        b.id,
                        b.start.format("%H:%M"),
                        b.end.format("%H:%M")
                    ),
                    proposed_fix: fix,
                });
            }
        }
    }

    for e in &entries {
        let day = e.start.date_naive();
        if e.notes.chars().count() < thresholds.min_note_chars {
            findings.push(Finding {
                rule: Rule::EmptyNote,
                member_id: Some(e.member),
                agreement_id: None,
                date: day,
                entry_ids: vec![e.id],
                detail: format!("notes are {} characters", e.notes.chars().count()),
                proposed_fix:
                    "ask the member to describe the work; customers see these notes on invoices"
                        .into(),
            });
        }
        // The agreement's own terms for the work type, where it has any, else the work type's.
        let agreement_terms = e
            .agreement
            .zip(e.work_type)
            .and_then(|key| context.agreement_bill_time.get(&key));
        if let (Some(terms), Some(agreement)) = (agreement_terms, e.agreement) {
            if contradicts(terms, &e.billable) {
                findings.push(Finding {
                    rule: Rule::AgreementBillableMismatch,
                    member_id: Some(e.member),
                    agreement_id: Some(agreement),
                    date: day,
                    entry_ids: vec![e.id],
                    detail: format!(
                        "entry is {} but agreement {agreement} bills its work type as {terms}",
                        e.billable
                    ),
                    proposed_fix: format!(
                        "set billableOption to {terms} as the agreement says, or take the entry off the agreement"
                    ),
                });
            }
        } else {
            let bill_time = e
                .work_type
                .and_then(|w| context.work_type_bill_time.get(&w))
                .map(String::as_str);
            if let Some(bill_time) = bill_time.filter(|b| contradicts(b, &e.billable)) {
                findings.push(Finding {
                    rule: Rule::BillableMismatch,
                    member_id: Some(e.member),
                    agreement_id: None,
                    date: day,
                    entry_ids: vec![e.id],
                    detail: format!(
                        "entry is {} but its work type bills as {bill_time}",
                        e.billable
                    ),
                    proposed_fix: format!(
                        "set billableOption to {bill_time}, or change the work type"
                    ),
                });
            }
        }
        if e.charge.0 == "ServiceTicket"
            && let Some(closed) = context.closed_tickets.get(&e.charge.1)
            && e.start > *closed
        {
            findings.push(Finding {
                rule: Rule::TimeOnClosedTicket,
                member_id: Some(e.member),
                agreement_id: None,
                date: day,
                entry_ids: vec![e.id],
                detail: format!(
                    "ticket {} was closed {}; the work started {}",
                    e.charge.1,
                    closed.to_rfc3339(),
                    e.start.to_rfc3339()
                ),
                proposed_fix: "reopen the ticket or move the time to a new ticket".into(),
            });
        }
        if e.charge.0 == "ProjectTicket"
            && let Some(project) = e.project
            && let Some(closed) = context.closed_projects.get(&project)
            && e.start > *closed
        {
            findings.push(Finding {
                rule: Rule::TimeOnClosedProject,
                member_id: Some(e.member),
                agreement_id: None,
                date: day,
                entry_ids: vec![e.id],
                detail: format!(
                    "project {project} was closed {}; the work on its ticket {} started {}",
                    closed.to_rfc3339(),
                    e.charge.1,
                    e.start.to_rfc3339()
                ),
                proposed_fix:
                    "reopen the project, or move the time to an open project or service ticket"
                        .into(),
            });
        }
        if let Some(finding) = outside_open_period(e, context) {
            findings.push(finding);
        }
    }
    if let Some((_, to)) = context.window {
        findings.extend(utilization(raw, context, thresholds, to));
    }
    findings.sort_by(|a, b| {
        (a.rule, a.member_id, a.date, &a.entry_ids).cmp(&(
            b.rule,
            b.member_id,
            b.date,
            &b.entry_ids,
        ))
    });
    findings
}

/// An entry dated in no time period, or in a period whose time sheet no longer takes time
/// (submitted, approved, billed) while the entry itself is still open: it missed that sheet.
fn outside_open_period(e: &Entry, context: &Context) -> Option<Finding> {
    let day = e.start.date_naive();
    let finding = |detail: String, fix: &str| Finding {
        rule: Rule::OutsideOpenPeriod,
        member_id: Some(e.member),
        agreement_id: None,
        date: day,
        entry_ids: vec![e.id],
        detail,
        proposed_fix: fix.to_owned(),
    };
    if !context.periods.is_empty()
        && !context
            .periods
            .iter()
            .any(|(a, b)| (*a..=*b).contains(&day))
    {
        return Some(finding(
            format!("{day} is in no time period"),
            "add the time period, or move the entry to a date inside one",
        ));
    }
    let sheet = context
        .time_sheets
        .iter()
        .find(|s| s.member == e.member && (s.start..=s.end).contains(&day))
        .or_else(|| {
            context
                .time_sheets
                .iter()
                .find(|s| Some(s.id) == e.time_sheet)
        })?;
    let entry_open = e.status.is_empty() || OPEN_SHEET.contains(&e.status.as_str());
    (!OPEN_SHEET.contains(&sheet.status.as_str()) && entry_open).then(|| {
        finding(
            format!(
                "time sheet {} ({} to {}) is {}, but the entry is still {}",
                sheet.id,
                sheet.start,
                sheet.end,
                sheet.status,
                if e.status.is_empty() { "unsubmitted" } else { &e.status }
            ),
            &format!(
                "reject time sheet {} so the entry is approved with it, or move the work into an open period",
                sheet.id
            ),
        )
    })
}

/// Agreements over or under their limit in the `utilization_days` ending on `to`, as
/// `cw_agreements utilization` classes them, each with the entries charged to it.
fn utilization(
    raw: &[Value],
    context: &Context,
    thresholds: &Thresholds,
    to: NaiveDate,
) -> Vec<Finding> {
    if context.agreements.is_empty() {
        return Vec::new();
    }
    let from = to - Duration::days(thresholds.utilization_days.max(1) - 1);
    let used = agreements::utilization(&context.agreements, raw, from, to, thresholds.utilization);
    let entries: Vec<Entry> = raw
        .iter()
        .filter_map(entry)
        .filter(|e| (from..=to).contains(&e.start.date_naive()))
        .collect();
    used.iter()
        .filter_map(|u| {
            let (rule, fix) = match u.class {
                "over" => (
                    Rule::AgreementOverUtilized,
                    "review the agreement's limit with the client (overage or an upgrade), and check the time charged to it",
                ),
                "under" => (
                    Rule::AgreementUnderUtilized,
                    "check that work for this client is charged to the agreement; raise at renewal if the limit is too high",
                ),
                _ => return None,
            };
            let mut ids: Vec<i64> = entries
                .iter()
                .filter(|e| e.agreement == Some(u.agreement_id))
                .map(|e| e.id)
                .collect();
            ids.sort_unstable();
            Some(Finding {
                rule,
                member_id: None,
                agreement_id: Some(u.agreement_id),
                date: to,
                entry_ids: ids,
                detail: format!(
                    "{:.2} h used of {:.2} h from {from} to {to} (ratio {:.2}; over above {:.2}, under below {:.2})",
                    u.used_hours, u.limit_hours, u.ratio, thresholds.utilization.over, thresholds.utilization.under
                ),
                proposed_fix: fix.to_owned(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn raw(id: i64, start: &str, end: &str, notes: &str, work_type: i64, billable: &str) -> Value {
        json!({"id": id, "member": {"id": 7}, "timeStart": start, "timeEnd": end, "notes": notes,
               "chargeToType": "ServiceTicket", "chargeToId": 1, "workType": {"id": work_type}, "billableOption": billable})
    }

    /// A clean one-hour entry on `day` at `hour`, with `extra` fields set over it.
    fn at(id: i64, day: &str, hour: u32, extra: Value) -> Value {
        let mut v = raw(
            id,
            &format!("{day}T{hour:02}:00:00Z"),
            &format!("{day}T{hour:02}:59:00Z"),
            "Replaced the toner and tested a page",
            1,
            "Billable",
        );
        for (k, x) in extra.as_object().into_iter().flatten() {
            v[k] = x.clone();
        }
        v
    }

    fn day(d: &str) -> NaiveDate {
        d.parse().unwrap()
    }

    /// The findings of one rule, as entry id lists.
    fn of(rule: Rule, entries: &[Value], context: &Context, t: &Thresholds) -> Vec<Vec<i64>> {
        validate(entries, context, t)
            .into_iter()
            .filter(|f| f.rule == rule)
            .map(|f| f.entry_ids)
            .collect()
    }

    #[test]
    fn time_outside_an_open_period() {
        let sheet = |id, start: &str, end: &str, status: &str| Sheet {
            id,
            member: 7,
            start: day(start),
            end: day(end),
            status: status.into(),
        };
        let context = Context {
            time_sheets: vec![
                sheet(50, "2026-11-02", "2026-11-08", "ApprovedByTierOne"),
                sheet(51, "2026-11-09", "2026-11-15", "Open"),
            ],
            periods: vec![
                (day("2026-11-02"), day("2026-11-08")),
                (day("2026-11-09"), day("2026-11-15")),
            ],
            window: Some((day("2026-11-02"), day("2026-11-17"))),
            ..Context::default()
        };
        let entries = [
            // Still open in an approved sheet: fires.
            at(1, "2026-11-03", 9, json!({"status": "Open"})),
            // Approved with its sheet: does not.
            at(2, "2026-11-03", 11, json!({"status": "ApprovedByTierOne"})),
            // Open in an open sheet: does not.
            at(3, "2026-11-10", 9, json!({"status": "Open"})),
            // In no period at all: fires.
            at(4, "2026-11-17", 9, json!({"status": "Open"})),
        ];
        let t = Thresholds::default();
        assert_eq!(
            of(Rule::OutsideOpenPeriod, &entries, &context, &t),
            vec![vec![1], vec![4]]
        );
        // Without sheets or periods the rule has nothing to go on and stays quiet.
        let bare = Context {
            window: context.window,
            ..Context::default()
        };
        assert!(of(Rule::OutsideOpenPeriod, &entries, &bare, &t).is_empty());
    }

    #[test]
    fn billable_flag_against_the_agreements_terms() {
        let context = Context {
            work_type_bill_time: [(1, "Billable".to_owned()), (3, "Billable".to_owned())].into(),
            agreement_bill_time: [((31, 3), "NoCharge".to_owned())].into(),
            window: Some((day("2026-11-02"), day("2026-11-02"))),
            ..Context::default()
        };
        let entries = [
            // After hours on agreement 31, which includes it at no charge, billed: fires.
            at(
                1,
                "2026-11-02",
                9,
                json!({"agreement": {"id": 31}, "workType": {"id": 3}}),
            ),
            // The same, no charge as the agreement says: does not (and the work type, which
            // says Billable, is overridden by the agreement).
            at(
                2,
                "2026-11-02",
                11,
                json!({"agreement": {"id": 31}, "workType": {"id": 3}, "billableOption": "NoCharge"}),
            ),
            // Another agreement without such terms: does not.
            at(
                3,
                "2026-11-02",
                13,
                json!({"agreement": {"id": 32}, "workType": {"id": 3}}),
            ),
            // Agreement 31, a work type it has no terms for: does not.
            at(4, "2026-11-02", 15, json!({"agreement": {"id": 31}})),
        ];
        let t = Thresholds::default();
        assert_eq!(
            of(Rule::AgreementBillableMismatch, &entries, &context, &t),
            vec![vec![1]]
        );
        assert!(of(Rule::BillableMismatch, &entries, &context, &t).is_empty());
        let found = validate(&entries, &context, &t);
        assert_eq!(found[0].agreement_id, Some(31));
        assert_eq!(found[0].rule.severity(), "critical");
    }

    #[test]
    fn time_on_a_closed_project() {
        let context = Context {
            closed_projects: [(299, "2026-11-02T12:00:00Z".parse().unwrap())].into(),
            window: Some((day("2026-11-02"), day("2026-11-03"))),
            ..Context::default()
        };
        let on = |project: i64| json!({"chargeToType": "ProjectTicket", "chargeToId": 69003, "project": {"id": project}});
        let entries = [
            // After the project closed: fires.
            at(1, "2026-11-03", 9, on(299)),
            // Before it closed: does not.
            at(2, "2026-11-02", 9, on(299)),
            // An open project: does not.
            at(3, "2026-11-03", 11, on(201)),
        ];
        assert_eq!(
            of(
                Rule::TimeOnClosedProject,
                &entries,
                &context,
                &Thresholds::default()
            ),
            vec![vec![1]]
        );
    }

    #[test]
    fn agreements_over_and_under_their_limit() {
        let agreements = vec![
            json!({"id": 1, "applicationUnits": "Hours", "applicationLimit": 10.0}),
            json!({"id": 2, "applicationUnits": "Hours", "applicationLimit": 100.0}),
            json!({"id": 3, "applicationUnits": "Hours", "applicationLimit": 10.0}),
        ];
        let context = Context {
            agreements,
            window: Some((day("2026-11-23"), day("2026-11-29"))),
            ..Context::default()
        };
        let on = |a: i64, h: f64| json!({"agreement": {"id": a}, "actualHours": h});
        let entries = [
            at(1, "2026-11-24", 9, on(1, 8.0)),
            at(2, "2026-11-05", 9, on(1, 5.0)),
            // Before the 28 days that end on the window's last day: not counted.
            at(3, "2026-10-30", 9, on(1, 50.0)),
            at(4, "2026-11-25", 9, on(2, 12.0)),
            at(5, "2026-11-26", 9, on(3, 6.0)),
        ];
        let t = Thresholds::default();
        let found = validate(&entries, &context, &t);
        type Row<'a> = (&'a str, Option<i64>, Option<i64>, Vec<i64>);
        let got: Vec<Row> = found
            .iter()
            .map(|f| {
                (
                    f.rule.as_str(),
                    f.member_id,
                    f.agreement_id,
                    f.entry_ids.clone(),
                )
            })
            .collect();
        assert_eq!(
            got,
            vec![
                ("agreement_over_utilized", None, Some(1), vec![1, 2]),
                ("agreement_under_utilized", None, Some(2), vec![4]),
            ]
        );
        // The thresholds move the classes: over above 0.5, agreement 3 (0.6) is over too, and
        // over a one-week period only entry 1 counts towards agreement 1.
        let strict = Thresholds {
            utilization: Bounds {
                over: 0.5,
                under: 0.3,
            },
            utilization_days: 7,
            ..Thresholds::default()
        };
        assert_eq!(
            of(Rule::AgreementOverUtilized, &entries, &context, &strict),
            vec![vec![1], vec![5]]
        );
        // Nothing without agreements.
        let none = Context {
            window: context.window,
            ..Context::default()
        };
        assert!(validate(&entries, &none, &t).is_empty());
    }

    #[test]
    fn each_rule_on_a_hand_made_day() {
        let context = Context {
            work_type_bill_time: [(1, "Billable".to_owned()), (2, "NoCharge".to_owned())].into(),
            closed_tickets: [(1, "2026-11-02T12:00:00Z".parse().unwrap())].into(),
            members: [7].into(),
            window: Some(("2026-11-02".parse().unwrap(), "2026-11-03".parse().unwrap())),
            ..Context::default()
        };
        let entries = [
            raw(
                1,
                "2026-11-02T09:00:00Z",
                "2026-11-02T10:00:00Z",
                "Replaced the toner",
                1,
                "Billable",
            ),
            raw(
                2,
                "2026-11-02T09:00:00Z",
                "2026-11-02T10:00:00Z",
                "Replaced the toner",
                1,
                "Billable",
            ),
            raw(
                3,
                "2026-11-02T09:30:00Z",
                "2026-11-02T09:45:00Z",
                "ok",
                2,
                "Billable",
            ),
            raw(
                4,
                "2026-11-02T13:00:00Z",
                "2026-11-02T14:00:00Z",
                "Checked the backup after closure",
                1,
                "Billable",
            ),
        ];
        let findings = validate(&entries, &context, &Thresholds::default());
        let got: Vec<(&str, Vec<i64>)> = findings
            .iter()
            .map(|f| (f.rule.as_str(), f.entry_ids.clone()))
            .collect();
        assert_eq!(
            got,
            vec![
                ("missing_day", vec![]),
                ("overlap", vec![1, 3]),
                ("overlap", vec![2, 3]),
                ("duplicate", vec![1, 2]),
                ("empty_note", vec![3]),
                ("billable_mismatch", vec![3]),
                ("time_on_closed_ticket", vec![4]),
            ]
        );
        assert_eq!(findings[0].date, "2026-11-03".parse::<NaiveDate>().unwrap());
    }
}
