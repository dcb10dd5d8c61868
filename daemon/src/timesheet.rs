//! Weekly timesheet validation (`cw_time weekly_validation`): the checks a service manager runs
//! before billing, over raw Manage time entries. Every finding names its rule, severity, member,
//! entries and a proposed fix; nothing is ever changed here.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Datelike, NaiveDate, Utc, Weekday};
use serde_json::Value;

/// Thresholds, configurable per shop.
#[derive(Debug, Clone, PartialEq)]
pub struct Thresholds {
    /// Flag weekdays a member logged fewer hours than this (0: only days with no time at all).
    pub min_daily_hours: f64,
    /// Flag days over this many hours.
    pub max_daily_hours: f64,
    /// Notes shorter than this (after trimming) count as empty.
    pub min_note_chars: usize,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds {
            min_daily_hours: 0.0,
            max_daily_hours: 12.0,
            min_note_chars: 10,
        }
    }
}

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
        }
    }

    /// `critical` for what would bill a customer wrongly; `warning` for what needs a look.
    pub fn severity(self) -> &'static str {
        match self {
            Rule::Duplicate | Rule::BillableMismatch | Rule::Overlap => "critical",
            _ => "warning",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Finding {
    pub rule: Rule,
    pub member_id: i64,
    pub date: NaiveDate,
    pub entry_ids: Vec<i64>,
    pub detail: String,
    pub proposed_fix: String,
}

/// What the rules read, beside the entries.
#[derive(Debug, Clone, Default)]
pub struct Context {
    /// Work type id -> its `billTime` (`Billable`, `NoCharge`, `DoNotBill`, `NoDefault`).
    pub work_type_bill_time: BTreeMap<i64, String>,
    /// Closed ticket id -> when it was closed.
    pub closed_tickets: BTreeMap<i64, DateTime<Utc>>,
    /// Members expected to log time every weekday of the window.
    pub members: BTreeSet<i64>,
    /// First and last day checked (inclusive).
    pub window: Option<(NaiveDate, NaiveDate)>,
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
    })
}

/// Run every rule over `entries` (raw Manage time entries).
pub fn validate(entries: &[Value], context: &Context, thresholds: &Thresholds) -> Vec<Finding> {
    let entries: Vec<Entry> = entries
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
                        member_id: member,
                        date: day,
                        entry_ids: vec![],
                        detail: "no time logged on a working day".into(),
                        proposed_fix: "ask the member to log the day's time, or record the leave"
                            .into(),
                    });
                } else if hours < thresholds.min_daily_hours {
                    findings.push(Finding {
                        rule: Rule::UnderTarget,
                        member_id: member,
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
                member_id: *member,
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
                    member_id: *member,
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
                member_id: e.member,
                date: day,
                entry_ids: vec![e.id],
                detail: format!("notes are {} characters", e.notes.chars().count()),
                proposed_fix:
                    "ask the member to describe the work; customers see these notes on invoices"
                        .into(),
            });
        }
        let bill_time = e
            .work_type
            .and_then(|w| context.work_type_bill_time.get(&w))
            .map(String::as_str);
        let billable_entry = e.billable == "Billable";
        let mismatch = match bill_time {
            Some("Billable") => matches!(e.billable.as_str(), "NoCharge" | "DoNotBill"),
            Some("NoCharge" | "DoNotBill") => billable_entry,
            _ => false,
        };
        if mismatch {
            findings.push(Finding {
                rule: Rule::BillableMismatch,
                member_id: e.member,
                date: day,
                entry_ids: vec![e.id],
                detail: format!(
                    "entry is {} but its work type bills as {}",
                    e.billable,
                    bill_time.unwrap_or("?")
                ),
                proposed_fix: format!(
                    "set billableOption to {}, or change the work type",
                    bill_time.unwrap_or("?")
                ),
            });
        }
        if e.charge.0 == "ServiceTicket"
            && let Some(closed) = context.closed_tickets.get(&e.charge.1)
            && e.start > *closed
        {
            findings.push(Finding {
                rule: Rule::TimeOnClosedTicket,
                member_id: e.member,
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn raw(id: i64, start: &str, end: &str, notes: &str, work_type: i64, billable: &str) -> Value {
        json!({"id": id, "member": {"id": 7}, "timeStart": start, "timeEnd": end, "notes": notes,
               "chargeToType": "ServiceTicket", "chargeToId": 1, "workType": {"id": work_type}, "billableOption": billable})
    }

    #[test]
    fn each_rule_on_a_hand_made_day() {
        let context = Context {
            work_type_bill_time: [(1, "Billable".to_owned()), (2, "NoCharge".to_owned())].into(),
            closed_tickets: [(1, "2026-11-02T12:00:00Z".parse().unwrap())].into(),
            members: [7].into(),
            window: Some(("2026-11-02".parse().unwrap(), "2026-11-03".parse().unwrap())),
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
