//! When skills run: standard crontab schedules in an IANA time zone, DST-safe, with one catch-up
//! of a run missed while the daemon was down.
//!
//! The arithmetic is pure ([`Crontab::next_after`], [`catch_up`]) and table-tested; the loop in
//! [`run`] only sleeps on the wall clock (in chunks, so a clock jump or a suspend is noticed) and
//! asks the night shift to start runs.
//!
//! Crontab, not the `cron` crate's own dialect: five fields (minute hour day-of-month month
//! day-of-week), Sunday as 0 or 7, and day-of-month OR day-of-week when both are restricted (as
//! Vixie cron does; the crate ANDs them and numbers Sunday 1). Schedules are evaluated in local
//! wall time: a time that falls in the spring-forward gap fires at the first instant after it
//! (never silently skipped); a time that occurs twice at fall-back fires once, at the first.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, LocalResult, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;
use tokio_util::sync::CancellationToken;

/// A parsed crontab line.
#[derive(Debug, Clone)]
pub struct Crontab {
    /// As written.
    pub expr: String,
    /// One schedule, or two (day-of-month OR day-of-week) whose fire times are merged.
    schedules: Vec<cron::Schedule>,
}

/// Why a schedule or time zone was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("schedule `{expr}`: {problem}")]
pub struct ScheduleError {
    pub expr: String,
    pub problem: String,
}

const DAYS: [&str; 7] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];

impl FromStr for Crontab {
    type Err = ScheduleError;

    fn from_str(expr: &str) -> Result<Crontab, ScheduleError> {
        let fail = |problem: String| ScheduleError {
            expr: expr.to_owned(),
            problem,
        };
        let trimmed = expr.trim();
        let expanded = match trimmed.to_ascii_lowercase().as_str() {
            "@yearly" | "@annually" => "0 0 1 1 *".to_owned(),
            "@monthly" => "0 0 1 * *".to_owned(),
            "@weekly" => "0 0 * * 0".to_owned(),
            "@daily" | "@midnight" => "0 0 * * *".to_owned(),
            "@hourly" => "0 * * * *".to_owned(),
            s if s.starts_with('@') => {
                return Err(fail(
                    "unknown shorthand; use @hourly, @daily, @weekly, @monthly or @yearly".into(),
                ));
            }
            _ => trimmed.to_owned(),
        };
        let fields: Vec<&str> = expanded.split_whitespace().collect();
        let [minute, hour, dom, month, dow] = fields[..] else {
            return Err(fail(format!(
                "expected 5 fields (minute hour day-of-month month day-of-week), found {}",
                fields.len()
            )));
        };
        let days = weekdays(dow).map_err(|p| fail(format!("day-of-week: {p}")))?;
        let dow = if days.iter().all(|d| *d) {
            "*".to_owned()
        } else {
            DAYS.iter()
                .zip(days)
                .filter(|(_, on)| *on)
                .map(|(d, _)| *d)
                .collect::<Vec<_>>()
                .join(",")
        };
        let build = |dom: &str, dow: &str| {
            cron::Schedule::from_str(&format!("0 {minute} {hour} {dom} {month} {dow}"))
                .map_err(|e| fail(e.to_string()))
        };
        let schedules = if dom != "*" && dow != "*" {
            vec![build(dom, "*")?, build("*", &dow)?]
        } else {
            vec![build(dom, &dow)?]
        };
        Ok(Crontab {
            expr: expr.to_owned(),
            schedules,
        })
    }
}

/// The crontab day-of-week field as a set of days, Sunday first (0 and 7 are Sunday).
fn weekdays(field: &str) -> Result<[bool; 7], String> {
    let day = |s: &str| -> Result<u32, String> {
        let lower = s.to_ascii_lowercase();
        if let Some(i) = DAYS.iter().position(|d| d.eq_ignore_ascii_case(&lower)) {
            return Ok(i as u32);
        }
        match s.parse::<u32>() {
            Ok(n) if n <= 7 => Ok(n),
            _ => Err(format!("`{s}` is not a day (0-7 or sun-sat)")),
        }
    };
    let mut on = [false; 7];
    for part in field.split(',') {
        let (range, step) = match part.split_once('/') {
            Some((r, s)) => (
                r,
                s.parse::<u32>()
                    .ok()
                    .filter(|s| *s > 0)
                    .ok_or_else(|| format!("`{s}` is not a step"))?,
            ),
            None => (part, 1),
        };
        let (lo, hi) = match range {
            "*" => (0, 6),
            r => match r.split_once('-') {
                Some((a, b)) => (day(a)?, day(b)?),
                None if step > 1 => (day(r)?, 6),
                None => (day(r)?, day(r)?),
            },
        };
        if lo > hi {
            return Err(format!("`{range}` runs backwards"));
        }
        for d in (lo..=hi).step_by(step as usize) {
            on[(d % 7) as usize] = true;
        }
    }
    Ok(on)
}

/// A local wall time as an instant: the earlier of a repeated time, and for a time inside a
/// gap the first instant after the gap.
fn resolve(tz: Tz, local: NaiveDateTime) -> Option<DateTime<Utc>> {
    for minutes in 0..=24 * 60 {
        let t = local + chrono::Duration::minutes(minutes);
        match tz.from_local_datetime(&t) {
            LocalResult::Single(t) => return Some(t.with_timezone(&Utc)),
            LocalResult::Ambiguous(first, _) => return Some(first.with_timezone(&Utc)),
            // Inside a gap (gaps end on a whole minute): try the next minute.
            LocalResult::None => {}
        }
    }
    None
}

impl Crontab {
    /// The first fire time strictly after `after`, in `tz`'s wall time.
    pub fn next_after(&self, tz: Tz, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.schedules
            .iter()
            .filter_map(|s| next_of(s, tz, after))
            .min()
    }

    /// The next `n` fire times after `after`.
    pub fn upcoming(&self, tz: Tz, after: DateTime<Utc>, n: usize) -> Vec<DateTime<Utc>> {
        let mut out = Vec::with_capacity(n);
        let mut t = after;
        while out.len() < n {
            match self.next_after(tz, t) {
                Some(next) => {
                    out.push(next);
                    t = next;
                }
                None => break,
            }
        }
        out
    }
}

fn next_of(schedule: &cron::Schedule, tz: Tz, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
    // Walk the schedule over naive local wall time (the crate's UTC stands in for "local").
    let local_after = Utc.from_utc_datetime(&after.with_timezone(&tz).naive_local());
    schedule
        .after(&local_after)
        .take(1000)
        .filter_map(|candidate| resolve(tz, candidate.naive_utc()))
        .find(|t| *t > after)
}

/// The slot to catch up at start, if any: the newest fire time in `(now - window, now]` that no
/// run has filled (`last_slot` is the newest slot a run started for) and that came after the
/// daemon was first installed (`since`: a fresh install catches nothing up).
pub fn catch_up(
    tab: &Crontab,
    tz: Tz,
    last_slot: Option<DateTime<Utc>>,
    since: DateTime<Utc>,
    now: DateTime<Utc>,
    window: chrono::Duration,
) -> Option<DateTime<Utc>> {
    let mut t = now - window;
    let mut missed = None;
    while let Some(next) = tab.next_after(tz, t) {
        if next > now {
            break;
        }
        missed = Some(next);
        t = next;
    }
    missed.filter(|slot| *slot > since && last_slot.is_none_or(|last| last < *slot))
}

/// The time zone: the configured one, else `CW_TIMEZONE`, else UTC.
pub fn timezone(configured: Option<&str>) -> Result<Tz, ScheduleError> {
    let name = configured
        .map(str::to_owned)
        .or_else(|| std::env::var("CW_TIMEZONE").ok())
        .filter(|n| !n.trim().is_empty())
        .unwrap_or_else(|| "UTC".into());
    name.trim().parse::<Tz>().map_err(|_| ScheduleError {
        expr: name.clone(),
        problem: "not an IANA time zone (e.g. America/Chicago, Europe/Berlin, UTC)".into(),
    })
}

/// Something that can start a skill's run and say whether one is going.
pub trait Runs: Send + Sync + 'static {
    fn is_running(&self, skill: &str) -> bool;
    fn start(
        &self,
        skill: &str,
        slot: DateTime<Utc>,
        catch_up: bool,
    ) -> impl std::future::Future<Output = ()> + Send;
}

/// Fires one skill's schedule until `cancel`: sleeps on the wall clock in chunks of at most a
/// minute, never overlaps a run of the same skill, and skips slots that passed during a run
/// (one run per slot, no burst after a long run).
pub async fn run<R: Runs>(
    runs: Arc<R>,
    skill: String,
    tab: Crontab,
    tz: Tz,
    catch_up_slot: Option<DateTime<Utc>>,
    cancel: CancellationToken,
) {
    if let Some(slot) = catch_up_slot {
        tracing::info!(%skill, %slot, "catching up a run missed while the daemon was down");
        runs.start(&skill, slot, true).await;
    }
    let mut after = Utc::now();
    loop {
        let Some(next) = tab.next_after(tz, after) else {
            tracing::warn!(%skill, schedule = %tab.expr, "the schedule has no future fire time");
            return;
        };
        loop {
            let wait = (next - Utc::now()).to_std().unwrap_or_default();
            if wait.is_zero() {
                break;
            }
            tokio::select! {
                _ = cancel.cancelled() => return,
                _ = tokio::time::sleep(wait.min(Duration::from_secs(60))) => {}
            }
        }
        if runs.is_running(&skill) {
            tracing::warn!(%skill, slot = %next, "skipped a scheduled run: the previous run of this skill is still going");
        } else {
            tokio::select! {
                _ = cancel.cancelled() => return,
                _ = runs.start(&skill, next, false) => {}
            }
        }
        after = next.max(Utc::now());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s)
            .expect("rfc3339")
            .with_timezone(&Utc)
    }

    fn tab(expr: &str) -> Crontab {
        expr.parse().expect("valid crontab")
    }

    fn next(expr: &str, tz: &str, after: &str) -> String {
        let tz: Tz = tz.parse().expect("tz");
        tab(expr)
            .next_after(tz, utc(after))
            .expect("a next fire")
            .with_timezone(&tz)
            .to_rfc3339()
    }

    #[test]
    fn crontab_translation_table() {
        // (expression, zone, after, expected next fire in local time)
        let cases = [
            // 1-5 is Monday-Friday in crontab (the cron crate alone would read Sunday-Thursday).
            (
                "0 2 * * 1-5",
                "UTC",
                "2026-12-04T03:00:00Z",
                "2026-12-07T02:00:00+00:00",
            ), // Fri 03:00 -> Mon
            (
                "0 2 * * 1-5",
                "UTC",
                "2026-12-06T12:00:00Z",
                "2026-12-07T02:00:00+00:00",
            ), // Sun -> Mon
            (
                "0 2 * * 0",
                "UTC",
                "2026-12-01T00:00:00Z",
                "2026-12-06T02:00:00+00:00",
            ), // Sunday as 0
            (
                "0 2 * * 7",
                "UTC",
                "2026-12-01T00:00:00Z",
                "2026-12-06T02:00:00+00:00",
            ), // Sunday as 7
            (
                "0 2 * * sat,sun",
                "UTC",
                "2026-12-01T00:00:00Z",
                "2026-12-05T02:00:00+00:00",
            ),
            (
                "0 2 * * */2",
                "UTC",
                "2026-12-01T03:00:00Z",
                "2026-12-03T02:00:00+00:00",
            ), // Sun,Tue,Thu,Sat
            (
                "*/15 * * * *",
                "UTC",
                "2026-12-01T10:07:00Z",
                "2026-12-01T10:15:00+00:00",
            ),
            (
                "30 4 1 * *",
                "UTC",
                "2026-12-01T05:00:00Z",
                "2027-01-01T04:30:00+00:00",
            ),
            // Both day fields restricted: day 15 OR a Monday (Vixie semantics).
            (
                "0 9 15 * 1",
                "UTC",
                "2026-12-01T10:00:00Z",
                "2026-12-07T09:00:00+00:00",
            ),
            (
                "0 9 15 * 1",
                "UTC",
                "2026-12-14T10:00:00Z",
                "2026-12-15T09:00:00+00:00",
            ),
            (
                "@daily",
                "UTC",
                "2026-12-01T10:00:00Z",
                "2026-12-02T00:00:00+00:00",
            ),
            (
                "@weekly",
                "UTC",
                "2026-12-01T10:00:00Z",
                "2026-12-06T00:00:00+00:00",
            ),
            // Time zones: 02:00 in Chicago is 08:00 UTC in winter.
            (
                "0 2 * * *",
                "America/Chicago",
                "2026-12-01T07:00:00Z",
                "2026-12-01T02:00:00-06:00",
            ),
            (
                "0 2 * * *",
                "Asia/Kolkata",
                "2026-12-01T00:00:00Z",
                "2026-12-02T02:00:00+05:30",
            ),
        ];
        for (expr, tz, after, want) in cases {
            assert_eq!(next(expr, tz, after), want, "{expr} in {tz} after {after}");
        }
    }

    #[test]
    fn bad_schedules_are_refused_with_the_reason() {
        let cases = [
            ("0 2 * *", "expected 5 fields"),
            ("0 0 2 * * Mon", "expected 5 fields"),
            ("0 2 * * 8", "not a day"),
            ("0 2 * * fri-mon", "backwards"),
            ("@reboot", "unknown shorthand"),
            ("61 2 * * *", "schedule `61 2 * * *`"),
        ];
        for (expr, want) in cases {
            let err = expr.parse::<Crontab>().expect_err(expr).to_string();
            assert!(err.contains(want), "{expr}: {err}");
        }
        assert!(timezone(Some("Mars/Olympus")).is_err());
        assert_eq!(
            timezone(Some("Europe/Berlin")),
            Ok(chrono_tz::Europe::Berlin)
        );
    }

    #[test]
    fn spring_forward_fires_once_at_the_end_of_the_gap_never_skipping_the_day() {
        // Europe/Berlin, 2027-03-28: 02:00 CET jumps to 03:00 CEST; 02:30 does not exist.
        let tz = chrono_tz::Europe::Berlin;
        let fires = tab("30 2 * * *").upcoming(tz, utc("2027-03-26T12:00:00Z"), 4);
        let local: Vec<String> = fires
            .iter()
            .map(|t| t.with_timezone(&tz).to_rfc3339())
            .collect();
        assert_eq!(
            local,
            [
                "2027-03-27T02:30:00+01:00",
                "2027-03-28T03:00:00+02:00", // the gap's end, not skipped
                "2027-03-29T02:30:00+02:00",
                "2027-03-30T02:30:00+02:00",
            ]
        );
        // America/New_York, 2027-03-14, 02:00 -> 03:00.
        let ny = chrono_tz::America::New_York;
        let t = tab("15 2 * * *").next_after(ny, utc("2027-03-13T12:00:00Z"));
        assert_eq!(
            t.map(|t| t.with_timezone(&ny).to_rfc3339()).as_deref(),
            Some("2027-03-14T03:00:00-04:00")
        );
    }

    #[test]
    fn fall_back_fires_once_in_the_repeated_hour() {
        // Europe/Berlin, 2027-10-31: 03:00 CEST falls back to 02:00 CET; 02:30 happens twice.
        let tz = chrono_tz::Europe::Berlin;
        let fires = tab("30 2 * * *").upcoming(tz, utc("2027-10-29T12:00:00Z"), 3);
        let local: Vec<String> = fires
            .iter()
            .map(|t| t.with_timezone(&tz).to_rfc3339())
            .collect();
        assert_eq!(
            local,
            [
                "2027-10-30T02:30:00+02:00",
                "2027-10-31T02:30:00+02:00", // the first 02:30 only
                "2027-11-01T02:30:00+01:00",
            ]
        );
        // Asked from inside the second 02:xx hour (02:10 CET), the next fire is the next day.
        let inside = utc("2027-10-31T01:10:00Z");
        assert_eq!(
            tab("30 2 * * *")
                .next_after(tz, inside)
                .map(|t| t.with_timezone(&tz).to_rfc3339())
                .as_deref(),
            Some("2027-11-01T02:30:00+01:00")
        );
        // An hourly schedule keeps firing every real hour around the change, once per wall time.
        let hourly = tab("0 * * * *").upcoming(tz, utc("2027-10-30T23:30:00Z"), 3);
        assert_eq!(
            hourly,
            [
                utc("2027-10-31T00:00:00Z"), // 02:00 CEST
                utc("2027-10-31T02:00:00Z"), // 03:00 CET (02:00 CET repeats a wall time)
                utc("2027-10-31T03:00:00Z"),
            ]
        );
    }

    #[test]
    fn a_missed_run_is_caught_up_once_within_the_window() {
        let tz = chrono_tz::UTC;
        let daily = tab("0 2 * * *");
        let since = utc("2026-11-01T00:00:00Z");
        let window = chrono::Duration::hours(6);
        let now = utc("2026-12-01T05:00:00Z");
        // Down over 02:00, back at 05:00: catch up the 02:00 slot.
        assert_eq!(
            catch_up(
                &daily,
                tz,
                Some(utc("2026-11-30T02:00:00Z")),
                since,
                now,
                window
            ),
            Some(utc("2026-12-01T02:00:00Z"))
        );
        // Already ran for that slot (a restart after the catch-up): nothing.
        assert_eq!(
            catch_up(
                &daily,
                tz,
                Some(utc("2026-12-01T02:00:00Z")),
                since,
                now,
                window
            ),
            None
        );
        // Back too late (after the window): nothing; the next slot runs as scheduled.
        let late = utc("2026-12-01T09:00:00Z");
        assert_eq!(catch_up(&daily, tz, None, since, late, window), None);
        // Several slots missed: only the newest, once.
        let hourly = tab("0 * * * *");
        assert_eq!(
            catch_up(&hourly, tz, None, since, now, window),
            Some(utc("2026-12-01T05:00:00Z"))
        );
        // A fresh install catches nothing up.
        assert_eq!(
            catch_up(&daily, tz, None, utc("2026-12-01T04:00:00Z"), now, window),
            None
        );
    }

    struct Recorder {
        started: std::sync::Mutex<Vec<(String, DateTime<Utc>, bool)>>,
    }

    impl Runs for Recorder {
        fn is_running(&self, _: &str) -> bool {
            false
        }
        async fn start(&self, skill: &str, slot: DateTime<Utc>, catch_up: bool) {
            if let Ok(mut s) = self.started.lock() {
                s.push((skill.to_owned(), slot, catch_up));
            }
        }
    }

    #[tokio::test]
    async fn the_loop_catches_up_the_missed_slot_before_anything_else() {
        let runs = Arc::new(Recorder {
            started: Default::default(),
        });
        let cancel = CancellationToken::new();
        let slot = utc("2026-12-01T02:00:00Z");
        let task = tokio::spawn(run(
            Arc::clone(&runs),
            "msp-night-triage".into(),
            tab("* * * * *"),
            chrono_tz::UTC,
            Some(slot),
            cancel.clone(),
        ));
        // The catch-up runs first, before any scheduled slot. (The loop sleeps on the wall
        // clock, so scheduled fires are covered by the pure tables above; overlap of runs is
        // refused by the night shift itself, see daemon/tests/night.rs.)
        for _ in 0..100 {
            if !runs.started.lock().map(|s| s.is_empty()).unwrap_or(true) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        cancel.cancel();
        task.await.expect("the loop ends on cancel");
        let started = runs.started.lock().map(|s| s.clone()).unwrap_or_default();
        assert_eq!(started, [("msp-night-triage".to_string(), slot, true)]);
    }
}
