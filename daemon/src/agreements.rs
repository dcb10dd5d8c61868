//! Agreement analytics behind `cw_agreements expiring` and `utilization`: which agreements end
//! within a horizon (bucketed 30/60/90 days), and which hour-based agreements are used over or
//! under their limit in a period. Pure functions over raw Manage records.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use serde_json::Value;

/// An agreement ending within the horizon.
#[derive(Debug, Clone, PartialEq)]
pub struct Expiring {
    pub agreement_id: i64,
    pub company_id: Option<i64>,
    pub name: String,
    pub end_date: NaiveDate,
    pub days_left: i64,
    /// The smallest of 30, 60, 90 (or the horizon) that contains `days_left`.
    pub window_days: i64,
}

/// Active agreements (not cancelled, not expired, with an end date) ending within `horizon_days`
/// of `today`, soonest first.
pub fn expiring(agreements: &[Value], today: NaiveDate, horizon_days: i64) -> Vec<Expiring> {
    let mut out: Vec<Expiring> = agreements
        .iter()
        .filter(|a| !a["cancelledFlag"].as_bool().unwrap_or(false))
        .filter(|a| !matches!(a["agreementStatus"].as_str(), Some("Expired" | "Cancelled")))
        .filter_map(|a| {
            let end = a["endDate"]
                .as_str()?
                .parse::<DateTime<Utc>>()
                .ok()?
                .date_naive();
            let days_left = (end - today).num_days();
            (0..=horizon_days).contains(&days_left).then(|| Expiring {
                agreement_id: a["id"].as_i64().unwrap_or_default(),
                company_id: a["company"]["id"].as_i64(),
                name: a["name"].as_str().unwrap_or_default().to_owned(),
                end_date: end,
                days_left,
                window_days: [30, 60, 90]
                    .into_iter()
                    .find(|w| days_left <= *w)
                    .unwrap_or(horizon_days),
            })
        })
        .collect();
    out.sort_by_key(|e| (e.days_left, e.agreement_id));
    out
}

/// How an hour-based agreement was used in a period.
#[derive(Debug, Clone, PartialEq)]
pub struct Utilization {
    pub agreement_id: i64,
    pub company_id: Option<i64>,
    pub limit_hours: f64,
    pub used_hours: f64,
    /// `used / limit`, two decimals.
    pub ratio: f64,
    /// `over`, `under` or `normal`.
    pub class: &'static str,
}

/// Classification bounds: over above `over`, under below `under` (ratios of the limit).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bounds {
    pub over: f64,
    pub under: f64,
}

impl Default for Bounds {
    fn default() -> Self {
        Bounds {
            over: 1.2,
            under: 0.3,
        }
    }
}

/// Utilization of every hour-based agreement from the time entries charged to it in
/// `[from, to]` (inclusive days).
pub fn utilization(
    agreements: &[Value],
    entries: &[Value],
    from: NaiveDate,
    to: NaiveDate,
    bounds: Bounds,
) -> Vec<Utilization> {
    let mut used: BTreeMap<i64, f64> = BTreeMap::new();
    for e in entries {
        let (Some(agreement), Some(start)) = (
            e["agreement"]["id"].as_i64(),
            e["timeStart"]
                .as_str()
                .and_then(|s| s.parse::<DateTime<Utc>>().ok()),
        ) else {
            continue;
        };
        if (from..=to).contains(&start.date_naive()) {
            *used.entry(agreement).or_default() += e["actualHours"].as_f64().unwrap_or_default();
        }
    }
    let round2 = |v: f64| (v * 100.0).round() / 100.0;
    agreements
        .iter()
        .filter(|a| a["applicationUnits"] == "Hours")
        .filter_map(|a| {
            let id = a["id"].as_i64()?;
            let limit = a["applicationLimit"].as_f64().unwrap_or_default();
            let hours = round2(used.get(&id).copied().unwrap_or_default());
            let ratio = if limit > 0.0 {
                round2(hours / limit)
            } else {
                0.0
            };
            let class = if ratio > bounds.over {
                "over"
            } else if ratio < bounds.under {
                "under"
            } else {
                "normal"
            };
            Some(Utilization {
                agreement_id: id,
                company_id: a["company"]["id"].as_i64(),
                limit_hours: limit,
                used_hours: hours,
                ratio,
                class,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn expiring_buckets_and_skips_cancelled_expired_and_open_ended() {
        let today: NaiveDate = "2026-11-23".parse().unwrap();
        let agreements = [
            json!({"id": 1, "name": "MSP Gold", "endDate": "2026-12-14T00:00:00Z", "company": {"id": 9}}),
            json!({"id": 2, "endDate": "2027-01-07T00:00:00Z"}),
            json!({"id": 3, "endDate": "2027-02-11T00:00:00Z"}),
            json!({"id": 4, "endDate": "2027-06-11T00:00:00Z"}),
            json!({"id": 5, "endDate": "2026-12-01T00:00:00Z", "cancelledFlag": true}),
            json!({"id": 6, "endDate": "2026-11-11T00:00:00Z", "agreementStatus": "Expired"}),
            json!({"id": 7, "noEndingDateFlag": true}),
        ];
        let got: Vec<(i64, i64, i64)> = expiring(&agreements, today, 90)
            .iter()
            .map(|e| (e.agreement_id, e.days_left, e.window_days))
            .collect();
        assert_eq!(got, vec![(1, 21, 30), (2, 45, 60), (3, 80, 90)]);
    }

    #[test]
    fn utilization_counts_hours_in_the_period_only() {
        let agreements = [
            json!({"id": 1, "applicationUnits": "Hours", "applicationLimit": 10.0}),
            json!({"id": 2, "applicationUnits": "Hours", "applicationLimit": 100.0}),
            json!({"id": 3, "applicationUnits": "Amount", "applicationLimit": 500.0}),
        ];
        let entry = |a: i64, day: &str, h: f64| json!({"agreement": {"id": a}, "timeStart": format!("{day}T09:00:00Z"), "actualHours": h});
        let entries = [
            entry(1, "2026-11-02", 8.0),
            entry(1, "2026-11-03", 5.0),
            entry(1, "2026-10-01", 50.0),
            entry(2, "2026-11-02", 12.0),
        ];
        let got = utilization(
            &agreements,
            &entries,
            "2026-11-01".parse().unwrap(),
            "2026-11-30".parse().unwrap(),
            Bounds::default(),
        );
        let summary: Vec<(i64, f64, &str)> = got
            .iter()
            .map(|u| (u.agreement_id, u.ratio, u.class))
            .collect();
        assert_eq!(summary, vec![(1, 1.3, "over"), (2, 0.12, "under")]);
    }
}
