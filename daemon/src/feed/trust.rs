//! Trust: per skill, how the agent's observe-mode proposals compare with what humans later did
//! (the `HumanOutcomeObserved` events [`crate::shadow`] logs), and whether the skill has earned
//! enforce mode under the flip criteria in effect (the newest `ConfigLoaded`, else the
//! defaults). A fold over the whole log: the window for critical misses ends at the log's last
//! event, not at a clock, so the same log always gives the same verdict.

use chrono::{DateTime, Duration, Utc};
use schemas::config::TrustCriteria;
use schemas::projection::TrustTally;
pub use schemas::projection::{ClassTrust, CriticalMiss};
use serde::Serialize;

/// One skill's shadow metrics and flip verdict.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SkillTrust {
    pub skill: String,
    /// Observe-mode proposals recorded.
    pub recorded: u32,
    /// Of those, proposals whose record a human has since changed.
    pub acted_on: u32,
    pub observations: u32,
    pub agreed: u32,
    /// `agreed / observations`, in percent to one decimal (absent with no observation).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agreement_percent: Option<f64>,
    pub confirmed: u32,
    pub contradicted: u32,
    pub classes: Vec<ClassTrust>,
    /// Critical misses inside the criteria's window.
    pub recent_critical: Vec<CriticalMiss>,
    /// Critical misses in the whole log.
    pub critical_total: u32,
    /// The newest backtest of the skill (`nightjarctl eval triage`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backtest: Option<schemas::event::Backtest>,
    /// Every criterion met: the numbers say the agent agrees with the team.
    pub ready: bool,
    /// The criteria not met, in words.
    pub unmet: Vec<String>,
}

/// Judges a tally of the whole log. `last` is the time of the log's newest event: the window
/// for critical misses ends there.
pub(super) fn judge(
    tally: TrustTally,
    last: Option<DateTime<Utc>>,
) -> (TrustCriteria, Vec<SkillTrust>) {
    let criteria = tally.criteria.unwrap_or_default();
    let window_start = last.map(|l| l - Duration::days(i64::from(criteria.critical_window_days)));
    let skills = tally
        .skills
        .into_iter()
        .map(|(skill, acc)| {
            let classes: Vec<ClassTrust> = acc.classes.into_values().collect();
            let sum = |f: fn(&ClassTrust) -> u32| classes.iter().map(f).sum::<u32>();
            let observations = sum(|c| c.observations);
            let agreed = sum(|c| c.agreed);
            let agreement_percent = (observations > 0)
                .then(|| (f64::from(agreed) * 1000.0 / f64::from(observations)).round() / 10.0);
            let recent_critical: Vec<CriticalMiss> = acc
                .misses
                .iter()
                .filter(|m| window_start.is_some_and(|w| m.at >= w))
                .cloned()
                .collect();
            let mut unmet = Vec::new();
            if observations < criteria.min_observations {
                unmet.push(format!(
                    "{} of the {} needed",
                    plural(observations, "observation"),
                    criteria.min_observations
                ));
            }
            match agreement_percent {
                Some(p) if p < f64::from(criteria.min_agreement_percent) => unmet.push(format!(
                    "agreement {p:.1}% is under {}%",
                    criteria.min_agreement_percent
                )),
                _ => {}
            }
            if !recent_critical.is_empty() {
                unmet.push(format!(
                    "{} critical miss{} in the last {} days",
                    recent_critical.len(),
                    if recent_critical.len() == 1 { "" } else { "es" },
                    criteria.critical_window_days
                ));
            }
            SkillTrust {
                skill,
                recorded: acc.recorded,
                acted_on: acc.acted_on.len() as u32,
                observations,
                agreed,
                agreement_percent,
                confirmed: sum(|c| c.confirmed),
                contradicted: sum(|c| c.contradicted),
                classes,
                recent_critical,
                critical_total: acc.misses.len() as u32,
                backtest: acc.backtest,
                ready: unmet.is_empty(),
                unmet,
            }
        })
        .collect();
    (criteria, skills)
}

/// The verdict in words.
pub fn verdict(t: &SkillTrust) -> String {
    if t.ready {
        "ready for enforce".into()
    } else {
        format!("not yet: {}", t.unmet.join("; "))
    }
}

/// The criteria in words.
pub fn criteria_line(c: &TrustCriteria) -> String {
    format!(
        "flip at {}+ observations, {}%+ agreement, no critical miss in {} days",
        c.min_observations, c.min_agreement_percent, c.critical_window_days
    )
}

/// One skill's figures in one line.
pub fn figures(t: &SkillTrust) -> String {
    let agreement = t
        .agreement_percent
        .map_or("no agreement yet".to_owned(), |p| format!("{p:.1}% agree"));
    format!(
        "{} recorded, {} acted on by a human; {} decisions, {} agree ({agreement}); would have changed: {} confirmed, {} contradicted; {} critical in all",
        plural(t.recorded, "proposal"),
        t.acted_on,
        t.observations,
        t.agreed,
        t.confirmed,
        t.contradicted,
        t.critical_total
    )
}

fn plural(n: u32, word: &str) -> String {
    if n == 1 {
        format!("1 {word}")
    } else {
        format!("{n} {word}s")
    }
}

/// The newest backtest in one line.
pub fn backtest_line(b: &schemas::event::Backtest) -> String {
    let (w, o) = (&b.with_history, &b.without_history);
    format!(
        "backtest on {} closed tickets ({}): board {:.1}% with history vs {:.1}% without; priority {:.1}% vs {:.1}%; {} invalid",
        w.tickets,
        b.model,
        w.percent(w.board),
        o.percent(o.board),
        w.percent(w.priority),
        o.percent(o.priority),
        w.invalid + o.invalid
    )
}

/// One class in one line.
pub fn class_line(c: &ClassTrust) -> String {
    format!(
        "{}: {} decisions, {} agree, {} confirmed, {} contradicted, {} critical",
        c.class, c.observations, c.agreed, c.confirmed, c.contradicted, c.critical
    )
}

/// One critical miss in one line.
pub fn miss_line(m: &CriticalMiss) -> String {
    format!(
        "critical miss: {} {}: proposed {}, a human made it {} (seq {})",
        m.record, m.field, m.proposed, m.observed, m.seq
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use schemas::event::{
        Backtest, Disposition, EVENT_VERSION, EffectPreview, Envelope, Event, Mode, Principal,
        RecordRef, Risk, UpstreamRequest,
    };
    use serde_json::json;

    fn at(seq: u64, ts: &str, principal: Principal, event: Event) -> Envelope {
        Envelope {
            seq,
            ts: ts.parse().unwrap_or_default(),
            event_version: EVENT_VERSION,
            principal,
            run_id: None,
            prev_hash: String::new(),
            hash: String::new(),
            event,
        }
    }

    fn proposal(id: &str) -> Event {
        Event::ActionProposed {
            proposal_id: id.into(),
            call_id: format!("c-{id}"),
            tool: "cw_time".into(),
            action: "update".into(),
            params: json!({}),
            risk: Risk::Write,
            mode: Mode::Observe,
            request: UpstreamRequest {
                product: "manage".into(),
                method: "PATCH".into(),
                path: "/time/entries/1".into(),
                body: None,
            },
            effect: EffectPreview::default(),
            action_digest: "d".into(),
            disposition: Disposition::RecordedForReview,
            observed: None,
        }
    }

    fn miss(id: &str) -> Event {
        Event::HumanOutcomeObserved {
            proposal_id: id.into(),
            skill: "s".into(),
            class: Some("cw_time.update".into()),
            record: RecordRef {
                kind: "time_entry".into(),
                id: "1".into(),
            },
            field: "billableOption".into(),
            before: Some(json!("DoNotBill")),
            proposed: json!("Billable"),
            observed: json!("NoCharge"),
            agrees: false,
            critical: true,
        }
    }

    #[test]
    fn a_critical_miss_holds_a_skill_back_only_inside_the_window_ending_at_the_last_event() {
        let skill = || Principal::Skill {
            skill: "s".into(),
            run_id: "r".into(),
        };
        let events = |last: &str| {
            vec![
                at(0, "2026-11-01T02:00:00Z", skill(), proposal("p1")),
                at(1, "2026-11-02T09:00:00Z", Principal::System, miss("p1")),
                at(
                    2,
                    last,
                    Principal::System,
                    Event::DaemonStopped { reason: "r".into() },
                ),
            ]
        };
        let judge = |last: &str| {
            let mut tally = TrustTally::default();
            for e in &events(last) {
                tally.apply(e);
            }
            judge(tally, last.parse().ok()).1.remove(0)
        };
        let soon = judge("2026-11-05T00:00:00Z");
        assert_eq!(soon.recent_critical.len(), 1);
        assert!(soon.unmet.iter().any(|u| u.contains("critical miss")));
        let later = judge("2026-11-10T00:00:00Z");
        assert!(later.recent_critical.is_empty());
        assert_eq!(later.critical_total, 1);
        assert_eq!(
            (later.observations, later.agreed, later.contradicted),
            (1, 0, 1)
        );
        assert_eq!(later.agreement_percent, Some(0.0));
        assert_eq!(later.classes[0].class, "cw_time.update");
    }

    #[test]
    fn the_newest_backtest_of_a_skill_is_shown_even_before_any_observation() {
        let backtest = |model: &str| Backtest {
            skill: "msp-night-triage".into(),
            model: model.into(),
            ..Backtest::default()
        };
        let mut tally = TrustTally::default();
        for (seq, model) in [(0, "old"), (1, "new")] {
            tally.apply(&at(
                seq,
                "2026-11-01T02:00:00Z",
                Principal::System,
                Event::BacktestRecorded {
                    backtest: backtest(model),
                },
            ));
        }
        let (_, skills) = judge(tally, None);
        assert_eq!(skills.len(), 1);
        assert_eq!(skills[0].backtest, Some(backtest("new")));
        assert!(!skills[0].ready, "a backtest is not an observation");
    }
}
