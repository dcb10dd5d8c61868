//! The morning feed: a pure fold of the event log into what a service manager reads over coffee.
//!
//! [`fold`] takes the events (and the log's own verification report) and nothing else: no clock,
//! no environment, so the same log bytes always give the same feed, and [`render`] turns a feed
//! into text, Markdown or JSON the same way every time.
//!
//! Per skill, the trust section ([`trust`]) judges from the shadow metrics in the log whether the
//! agent has earned enforce mode.

mod trust;

use std::collections::BTreeMap;
use std::fmt::Write as _;

use chrono::{DateTime, Utc};
use schemas::config::TrustCriteria;
use schemas::control::{FeedBasis, VerifyReport};
use schemas::event::{
    Disposition, Envelope, Event, ItemOutcome, Mode, Principal, RunOutcome, TokenUsage,
    VerdictRejection,
};
use schemas::projection::TrustTally;
use serde::Serialize;

pub use trust::{ClassTrust, CriticalMiss, SkillTrust};

/// Which part of the log to show.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    /// Only events at or after this time.
    pub since: Option<DateTime<Utc>>,
    /// Only this run, from its `RunStarted` on (and nothing interactive).
    pub run: Option<String>,
}

/// Something a reader must see first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Anomaly {
    /// `chain_break`, `no_checkpoint`, `run_without_checkpoint`, `outcome_unknown`,
    /// `run_unfinished`, `verdict_refused`.
    pub kind: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seq: Option<u64>,
    pub detail: String,
}

/// One proposal and what became of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Proposal {
    pub proposal_id: String,
    pub seq: u64,
    pub tool: String,
    pub action: String,
    pub summary: String,
    /// `field: before -> after`.
    pub changes: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub amount: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub customer_visible_text: Option<String>,
    /// `recorded` (observe), `previewed`, `queued` (waits for a verdict), `executed`, `failed`,
    /// `denied`, `outcome_unknown`, `withdrawn`.
    pub state: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// The key whose verdict settled it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub settled_by: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Item {
    pub item_id: String,
    pub subject: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outcome: Option<ItemOutcome>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub summary: String,
    pub steps: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Run {
    pub run_id: String,
    pub skill: String,
    pub mode: Mode,
    pub model: String,
    pub started: DateTime<Utc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finished: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outcome: Option<RunOutcome>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub items: Vec<Item>,
    pub reads: u32,
    pub upstream_requests: u64,
    pub proposals: Vec<Proposal>,
    pub errors: Vec<String>,
    pub tokens: TokenUsage,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Session {
    pub session_id: String,
    pub client: String,
    pub opened: DateTime<Utc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub closed: Option<DateTime<Utc>>,
    pub reads: u32,
    pub proposals: Vec<Proposal>,
}

/// The whole feed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Feed {
    pub events: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last: Option<DateTime<Utc>>,
    pub anomalies: Vec<Anomaly>,
    /// Proposals still waiting for a human verdict, oldest first.
    pub pending: Vec<Proposal>,
    pub runs: Vec<Run>,
    pub sessions: Vec<Session>,
    /// The flip criteria in effect (the newest `ConfigLoaded`'s, else the defaults).
    pub criteria: TrustCriteria,
    /// Per skill, shadow metrics and the flip verdict, over the whole log whatever the filter.
    pub trust: Vec<SkillTrust>,
}

/// Where a proposal lives while folding.
#[derive(Debug, Clone, Copy)]
enum Owner {
    Run(usize),
    Session(usize),
}

fn verdict_refusal_is_anomalous(reason: VerdictRejection) -> bool {
    matches!(
        reason,
        VerdictRejection::Replayed
            | VerdictRejection::BadSignature
            | VerdictRejection::UnknownKey
            | VerdictRejection::RevokedKey
            | VerdictRejection::DigestMismatch
            | VerdictRejection::Malformed
    )
}

/// Folds `events` (the whole log, in seq order) into a feed. `report` is the log's
/// verification, whose problem (if any) heads the anomalies. This is the feed's definition;
/// [`fold_window`] gives the same feed from a window and a [`FeedBasis`].
pub fn fold<'a>(
    events: impl IntoIterator<Item = &'a Envelope>,
    report: Option<&VerifyReport>,
    filter: &Filter,
) -> Feed {
    fold_inner(events, report, filter, None)
}

/// The feed of what [`load`] read: the events of a window (everything from its first seq on)
/// and the trust tally of the whole log.
pub fn fold_window(events: &[Envelope], basis: &FeedBasis) -> Feed {
    let filter = Filter {
        since: basis.since,
        run: basis.run.clone(),
    };
    fold_inner(
        events,
        Some(&basis.report),
        &filter,
        Some((basis.trust.clone(), basis.last)),
    )
}

fn fold_inner<'a>(
    events: impl IntoIterator<Item = &'a Envelope>,
    report: Option<&VerifyReport>,
    filter: &Filter,
    whole_log: Option<(TrustTally, Option<DateTime<Utc>>)>,
) -> Feed {
    let mut feed = Feed {
        events: 0,
        first: None,
        last: None,
        anomalies: Vec::new(),
        pending: Vec::new(),
        runs: Vec::new(),
        sessions: Vec::new(),
        criteria: TrustCriteria::default(),
        trust: Vec::new(),
    };
    let mut tally = TrustTally::default();
    let mut last = None;
    if let Some(problem) = report.and_then(|r| r.problem.as_ref()) {
        feed.anomalies.push(Anomaly {
            kind: "chain_break".into(),
            seq: Some(problem.seq),
            detail: format!("{}: {}", problem.kind, problem.detail),
        });
    }
    let mut runs: BTreeMap<String, usize> = BTreeMap::new();
    let mut sessions_by_client: BTreeMap<String, usize> = BTreeMap::new();
    let mut proposals: BTreeMap<String, (Owner, usize)> = BTreeMap::new();
    let mut calls: BTreeMap<String, String> = BTreeMap::new(); // call id -> proposal id
    let mut checkpointed_after_run: Vec<(usize, bool)> = Vec::new();
    let mut seen_checkpoint = false;
    let mut run_started = false;

    for e in events {
        if whole_log.is_none() {
            tally.apply(e);
        }
        last = Some(e.ts);
        if filter.since.is_some_and(|s| e.ts < s) {
            continue;
        }
        if let Some(run) = &filter.run {
            // A run's feed starts at its RunStarted.
            if !run_started {
                match &e.event {
                    Event::RunStarted { run_id, .. } if run_id == run => run_started = true,
                    _ => continue,
                }
            }
        }
        if let Some(run) = &filter.run
            && e.run_id.as_deref() != Some(run.as_str())
            && !matches!(
                e.event,
                Event::Checkpointed { .. } | Event::VerdictAccepted { .. }
            )
        {
            continue;
        }
        feed.events += 1;
        feed.first.get_or_insert(e.ts);
        feed.last = Some(e.ts);
        let owner = match (&e.run_id, &e.principal) {
            (Some(r), _) => runs.get(r).map(|i| Owner::Run(*i)),
            (None, Principal::Interactive { name }) => {
                sessions_by_client.get(name).map(|i| Owner::Session(*i))
            }
            _ => None,
        };
        match &e.event {
            Event::RunStarted {
                run_id,
                skill,
                mode,
                model,
                ..
            } => {
                runs.insert(run_id.clone(), feed.runs.len());
                feed.runs.push(Run {
                    run_id: run_id.clone(),
                    skill: skill.clone(),
                    mode: *mode,
                    model: model.clone(),
                    started: e.ts,
                    finished: None,
                    outcome: None,
                    reason: None,
                    items: Vec::new(),
                    reads: 0,
                    upstream_requests: 0,
                    proposals: Vec::new(),
                    errors: Vec::new(),
                    tokens: TokenUsage::default(),
                });
            }
            Event::RunFinished {
                run_id,
                outcome,
                reason,
                tokens,
                ..
            } => {
                if let Some(&i) = runs.get(run_id) {
                    let run = &mut feed.runs[i];
                    run.finished = Some(e.ts);
                    run.outcome = Some(*outcome);
                    run.reason.clone_from(reason);
                    run.tokens = *tokens;
                    checkpointed_after_run.push((i, false));
                }
            }
            Event::Checkpointed { .. } => {
                seen_checkpoint = true;
                for c in &mut checkpointed_after_run {
                    c.1 = true;
                }
            }
            Event::ItemStarted {
                run_id,
                item_id,
                subject,
                ..
            } => {
                if let Some(&i) = runs.get(run_id) {
                    feed.runs[i].items.push(Item {
                        item_id: item_id.clone(),
                        subject: subject.clone(),
                        outcome: None,
                        reason: None,
                        summary: String::new(),
                        steps: 0,
                    });
                }
            }
            Event::ItemFinished {
                run_id,
                item_id,
                outcome,
                reason,
                summary,
                steps,
                ..
            } => {
                if let Some(&i) = runs.get(run_id) {
                    let items = &mut feed.runs[i].items;
                    let at = match items.iter().rposition(|it| &it.item_id == item_id) {
                        Some(at) => at,
                        None => {
                            items.push(Item {
                                item_id: item_id.clone(),
                                subject: String::new(),
                                outcome: None,
                                reason: None,
                                summary: String::new(),
                                steps: 0,
                            });
                            items.len() - 1
                        }
                    };
                    let item = &mut items[at];
                    item.outcome = Some(*outcome);
                    item.reason.clone_from(reason);
                    item.summary.clone_from(summary);
                    item.steps = *steps;
                }
            }
            Event::SessionOpened {
                session_id,
                client_name,
                transport,
                ..
            } if transport != "in_process" => {
                sessions_by_client.insert(client_name.clone(), feed.sessions.len());
                feed.sessions.push(Session {
                    session_id: session_id.clone(),
                    client: client_name.clone(),
                    opened: e.ts,
                    closed: None,
                    reads: 0,
                    proposals: Vec::new(),
                });
            }
            Event::SessionClosed { session_id, .. } => {
                if let Some(s) = feed
                    .sessions
                    .iter_mut()
                    .find(|s| &s.session_id == session_id)
                {
                    s.closed = Some(e.ts);
                }
            }
            Event::ActionRead {
                upstream_requests, ..
            } => match owner {
                Some(Owner::Run(i)) => {
                    feed.runs[i].reads += 1;
                    feed.runs[i].upstream_requests += u64::from(*upstream_requests);
                }
                Some(Owner::Session(i)) => feed.sessions[i].reads += 1,
                None => {}
            },
            Event::ActionProposed {
                proposal_id,
                call_id,
                tool,
                action,
                effect,
                disposition,
                ..
            } => {
                calls.insert(call_id.clone(), proposal_id.clone());
                let state = match disposition {
                    Disposition::RecordedForReview => "recorded",
                    Disposition::Previewed | Disposition::DryRun => "previewed",
                    Disposition::PendingApproval => "queued",
                    Disposition::Accepted => "accepted",
                };
                let p = Proposal {
                    proposal_id: proposal_id.clone(),
                    seq: e.seq,
                    tool: tool.clone(),
                    action: action.clone(),
                    summary: effect.summary.clone(),
                    changes: effect
                        .changes
                        .iter()
                        .map(|c| {
                            format!("{}: {} -> {}", c.field, shown(&c.before), shown(&c.after))
                        })
                        .collect(),
                    amount: effect.amount.clone(),
                    customer_visible_text: effect.customer_visible_text.clone(),
                    state: state.into(),
                    detail: None,
                    settled_by: None,
                };
                let list = match owner {
                    Some(Owner::Run(i)) => Some((Owner::Run(i), &mut feed.runs[i].proposals)),
                    Some(Owner::Session(i)) => {
                        Some((Owner::Session(i), &mut feed.sessions[i].proposals))
                    }
                    None => None,
                };
                if let Some((o, list)) = list {
                    // A proposal recorded again (previewed, then confirmed) replaces itself.
                    match list.iter().position(|x| x.proposal_id == *proposal_id) {
                        Some(at) => list[at] = p,
                        None => {
                            proposals.insert(proposal_id.clone(), (o, list.len()));
                            list.push(p);
                        }
                    }
                }
            }
            Event::VerdictAccepted {
                proposal_id,
                key_id,
                decision,
                ..
            } => {
                if let Some(p) = proposal_mut(&mut feed, &proposals, proposal_id) {
                    p.settled_by = Some(key_id.clone());
                    if matches!(decision, schemas::event::Decision::Deny) {
                        p.state = "denied".into();
                        p.detail = Some("denied by a human".into());
                    }
                }
            }
            Event::VerdictRejected {
                proposal_id,
                reason,
                detail,
                ..
            } if verdict_refusal_is_anomalous(*reason) => {
                feed.anomalies.push(Anomaly {
                    kind: "verdict_refused".into(),
                    seq: Some(e.seq),
                    detail: format!(
                        "{reason:?} for {}: {detail}",
                        proposal_id.as_deref().unwrap_or("no proposal")
                    ),
                });
            }
            Event::ActionExecuted {
                call_id,
                proposal_id,
                ..
            }
            | Event::ActionFailed {
                call_id,
                proposal_id,
                ..
            }
            | Event::ActionOutcomeUnknown {
                call_id,
                proposal_id,
                ..
            } => {
                let id = proposal_id.clone().or_else(|| calls.get(call_id).cloned());
                let (state, detail) = match &e.event {
                    Event::ActionExecuted { .. } => ("executed", None),
                    Event::ActionFailed { error, message, .. } => {
                        ("failed", Some(format!("{error}: {message}")))
                    }
                    Event::ActionOutcomeUnknown { reason, .. } => {
                        ("outcome_unknown", Some(reason.clone()))
                    }
                    _ => unreachable!("matched above"),
                };
                if let Event::ActionOutcomeUnknown { executing_seq, .. } = &e.event {
                    feed.anomalies.push(Anomaly {
                        kind: "outcome_unknown".into(),
                        seq: Some(*executing_seq),
                        detail: format!(
                            "a change was sent and its outcome never recorded ({}); it is not retried, check the record",
                            id.as_deref().unwrap_or(call_id)
                        ),
                    });
                }
                if let Some(p) = id.and_then(|id| proposal_mut(&mut feed, &proposals, &id)) {
                    p.state = state.into();
                    p.detail = detail.clone();
                }
                if let (Some(Owner::Run(i)), Some(d)) = (owner, detail)
                    && state == "failed"
                {
                    feed.runs[i].errors.push(d);
                }
            }
            Event::ActionDenied {
                call_id,
                proposal_id,
                tool,
                action,
                reason,
                detail,
            } => {
                let id = proposal_id.clone().or_else(|| calls.get(call_id).cloned());
                match id.and_then(|id| proposal_mut(&mut feed, &proposals, &id)) {
                    Some(p) => {
                        p.state = "denied".into();
                        p.detail = Some(format!("{reason:?}: {detail}"));
                    }
                    None => {
                        if let Some(Owner::Run(i)) = owner {
                            feed.runs[i]
                                .errors
                                .push(format!("{tool} {action} denied ({reason:?}): {detail}"));
                        }
                    }
                }
            }
            _ => {}
        }
    }

    if feed.events > 0 && !seen_checkpoint && report.is_some_and(|r| r.checkpoint.is_none()) {
        feed.anomalies.push(Anomaly {
            kind: "no_checkpoint".into(),
            seq: None,
            detail: "the log has no checkpoint: deleting its newest events would go unnoticed"
                .into(),
        });
    }
    for (i, checkpointed) in checkpointed_after_run {
        if !checkpointed {
            feed.anomalies.push(Anomaly {
                kind: "run_without_checkpoint".into(),
                seq: None,
                detail: format!(
                    "run {} ended with no checkpoint after it",
                    feed.runs[i].run_id
                ),
            });
        }
    }
    for run in &feed.runs {
        if run.outcome.is_none() {
            feed.anomalies.push(Anomaly {
                kind: "run_unfinished".into(),
                seq: None,
                detail: format!(
                    "run {} ({}) has no RunFinished: still running, or cut off and not yet resumed",
                    run.run_id, run.skill
                ),
            });
        }
    }
    feed.pending = feed
        .runs
        .iter()
        .flat_map(|r| r.proposals.iter())
        .chain(feed.sessions.iter().flat_map(|s| s.proposals.iter()))
        .filter(|p| p.state == "queued" && p.settled_by.is_none())
        .cloned()
        .collect();
    feed.pending.sort_by_key(|p| p.seq);
    let (tally, last) = whole_log.unwrap_or((tally, last));
    (feed.criteria, feed.trust) = trust::judge(tally, last);
    feed
}

/// A before or after value as a person reads it: a reference by its name (else `#id`), text
/// quoted, anything else as JSON.
fn shown(v: &Option<serde_json::Value>) -> String {
    use serde_json::Value;
    match v {
        None | Some(Value::Null) => "(none)".to_owned(),
        Some(Value::Object(o)) => match (o.get("name").and_then(Value::as_str), o.get("id")) {
            (Some(name), _) => name.to_owned(),
            (None, Some(id)) if o.len() == 1 => format!("#{id}"),
            _ => Value::Object(o.clone()).to_string(),
        },
        Some(other) => other.to_string(),
    }
}

fn proposal_mut<'f>(
    feed: &'f mut Feed,
    index: &BTreeMap<String, (Owner, usize)>,
    id: &str,
) -> Option<&'f mut Proposal> {
    match index.get(id)? {
        (Owner::Run(r), at) => feed.runs.get_mut(*r)?.proposals.get_mut(*at),
        (Owner::Session(s), at) => feed.sessions.get_mut(*s)?.proposals.get_mut(*at),
    }
}

/// Which part of the log a feed shows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Window {
    /// Events at or after this time.
    pub since: Option<DateTime<Utc>>,
    /// Only this run.
    pub run: Option<String>,
    /// The whole log. With none of the three, the 24 hours up to the log's newest event: last
    /// night, found from the log alone.
    pub all: bool,
}

/// The default window: this long before the log's newest event.
pub const DEFAULT_WINDOW_HOURS: i64 = 24;

/// What [`fold_window`] needs for `window`, straight from a log (`nightjarctl feed` without a
/// daemon, or the daemon answering `Request::Feed`): the events from the window's first seq to
/// the end, and a [`FeedBasis`] with the trust tally of the whole log. Nothing before the window
/// is decoded: the tally starts from the projection snapshot of the newest checkpoint (when it
/// matches the stored event it names), and only the trust events after the snapshot and before
/// the window are decoded, found by their canonical prefix. The window's first seq is found by a
/// binary search on event time (events are appended in time order), or from the run's start.
/// The log is verified since its checkpoint (`nightjarctl log verify` walks the whole chain).
pub fn load(
    reader: &crate::log::Reader,
    window: &Window,
) -> Result<(Vec<Envelope>, FeedBasis), crate::log::LogError> {
    load_until(reader, window, reader.next_seq()?)
}

/// [`load`] of the events before `end` (the daemon passes its durable head).
pub fn load_until(
    reader: &crate::log::Reader,
    window: &Window,
    end: u64,
) -> Result<(Vec<Envelope>, FeedBasis), crate::log::LogError> {
    let report = reader.verify_since_checkpoint()?;
    let snapshot = reader.snapshot().filter(|s| s.seq < end);
    let last = match end.checked_sub(1) {
        Some(seq) => reader.range(seq, end).next().transpose()?.map(|e| e.ts),
        None => None,
    };
    let since = match (window.all, window.since, &window.run) {
        (true, ..) => None,
        (false, Some(since), _) => Some(since),
        (false, None, Some(_)) => None,
        (false, None, None) => last.map(|l| l - chrono::Duration::hours(DEFAULT_WINDOW_HOURS)),
    };
    let run = if window.all { None } else { window.run.clone() };
    let by_time = match since {
        None => 0,
        Some(since) => first_at_or_after(reader, since, end)?,
    };
    // A run starts at its RunStarted: known to the snapshot, else after it.
    let by_run = match (&run, &snapshot) {
        (Some(run), Some(s)) => s
            .projections
            .runs
            .get(run)
            .map_or(s.seq + 1, |r| r.started_seq),
        _ => 0,
    };
    let start = by_time.max(by_run);
    let (mut trust, tally_from) = match snapshot {
        Some(s) => (s.projections.trust, s.seq + 1),
        None => (TrustTally::default(), 0),
    };
    if tally_from < start {
        reader.replay_range(tally_from, start, TrustTally::wants, |e| trust.apply(&e))?;
    }
    let events = decode(reader, start, end)?;
    for e in events.iter().filter(|e| e.seq >= tally_from) {
        trust.apply(e);
    }
    let basis = FeedBasis {
        since,
        run,
        trust,
        last,
        report,
    };
    Ok((events, basis))
}

/// The events `[start, end)`, decoded on every core: decoding is most of a feed's time.
fn decode(
    reader: &crate::log::Reader,
    start: u64,
    end: u64,
) -> Result<Vec<Envelope>, crate::log::LogError> {
    const CHUNK_MIN: u64 = 2048;
    let n = end.saturating_sub(start);
    let threads = std::thread::available_parallelism()
        .map_or(1, |t| t.get() as u64)
        .clamp(1, 8)
        .min(n.div_ceil(CHUNK_MIN).max(1));
    if threads == 1 {
        return reader.range(start, end).collect();
    }
    let step = n.div_ceil(threads);
    let parts: Vec<Result<Vec<Envelope>, crate::log::LogError>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|i| {
                let (from, until) = (start + i * step, (start + (i + 1) * step).min(end));
                scope.spawn(move || reader.range(from, until).collect())
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or(Err(crate::log::LogError::Unavailable)))
            .collect()
    });
    let mut events = Vec::with_capacity(n as usize);
    for part in parts {
        events.extend(part?);
    }
    Ok(events)
}

/// The first seq before `end` whose event is at or after `since` (`end` if none is).
fn first_at_or_after(
    reader: &crate::log::Reader,
    since: DateTime<Utc>,
    end: u64,
) -> Result<u64, crate::log::LogError> {
    let (mut lo, mut hi) = (0, end);
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        let before = reader
            .range(mid, mid + 1)
            .next()
            .transpose()?
            .is_some_and(|e| e.ts < since);
        if before {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    Ok(lo)
}

/// Output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// For a terminal: `colour` adds ANSI colours; lines are cut at `width`.
    Text {
        colour: bool,
        width: usize,
    },
    Markdown,
    /// One self-contained HTML file (no external assets): the timeline of the night, what waits
    /// for a human first.
    Html,
    Json,
}

/// Renders a feed; the same feed always gives the same bytes.
pub fn render(feed: &Feed, format: Format) -> String {
    match format {
        Format::Json => serde_json::to_string_pretty(feed).unwrap_or_default() + "\n",
        Format::Markdown => markdown(feed),
        Format::Html => html(feed),
        Format::Text { colour, width } => text(feed, colour, width),
    }
}

fn ts(t: &DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

fn duration(run: &Run) -> String {
    match run.finished {
        Some(f) => {
            let s = (f - run.started).num_seconds().max(0);
            format!("{}m{:02}s", s / 60, s % 60)
        }
        None => "unfinished".into(),
    }
}

fn counts(run: &Run) -> (usize, usize, usize) {
    let n = |o: ItemOutcome| run.items.iter().filter(|i| i.outcome == Some(o)).count();
    (
        n(ItemOutcome::Done),
        n(ItemOutcome::Skipped),
        n(ItemOutcome::Failed),
    )
}

fn proposal_line(p: &Proposal) -> String {
    format!("[{}] {}", p.state, proposal_body(p))
}

/// A proposal in one line, without its state.
fn proposal_body(p: &Proposal) -> String {
    let mut line = format!("{} {}: {}", p.tool, p.action, p.summary);
    if !p.changes.is_empty() {
        let _ = write!(line, " ({})", p.changes.join("; "));
    }
    if let Some(a) = &p.amount {
        let _ = write!(line, " amount {a}");
    }
    if let Some(t) = &p.customer_visible_text {
        let _ = write!(line, " customer sees: \"{t}\"");
    }
    if let Some(k) = &p.settled_by {
        let _ = write!(line, " settled by key {k}");
    }
    if let Some(d) = &p.detail {
        let _ = write!(line, " - {d}");
    }
    line
}

fn cut(line: &str, width: usize) -> String {
    if width == 0 || line.chars().count() <= width {
        line.to_owned()
    } else {
        let mut s: String = line.chars().take(width.saturating_sub(1)).collect();
        s.push('…');
        s
    }
}

fn text(feed: &Feed, colour: bool, width: usize) -> String {
    let paint = |code: &str, s: &str| {
        if colour {
            format!("\x1b[{code}m{s}\x1b[0m")
        } else {
            s.to_owned()
        }
    };
    let mut out = String::new();
    let mut line = |s: String| {
        out.push_str(&cut(&s, width));
        out.push('\n');
    };
    line(paint(
        "1",
        &format!(
            "Nightjar feed: {} events{}",
            feed.events,
            match (&feed.first, &feed.last) {
                (Some(a), Some(b)) => format!(", {} to {}", ts(a), ts(b)),
                _ => String::new(),
            }
        ),
    ));
    if !feed.anomalies.is_empty() {
        line(String::new());
        line(paint(
            "1;31",
            &format!("ANOMALIES ({})", feed.anomalies.len()),
        ));
        for a in &feed.anomalies {
            let at = a.seq.map(|s| format!(" at seq {s}")).unwrap_or_default();
            line(paint("31", &format!("  ! {}{at}: {}", a.kind, a.detail)));
        }
    }
    if !feed.pending.is_empty() {
        line(String::new());
        line(paint(
            "1;33",
            &format!("WAITING FOR A HUMAN ({})", feed.pending.len()),
        ));
        for p in &feed.pending {
            line(format!("  {} {}", p.proposal_id, proposal_line(p)));
        }
    }
    if !feed.trust.is_empty() {
        line(String::new());
    }
    for l in trust_text(feed, None, colour) {
        line(l);
    }
    for run in &feed.runs {
        let (done, skipped, failed) = counts(run);
        line(String::new());
        line(paint(
            "1",
            &format!(
                "RUN {} {} ({:?}, {}) {} {}",
                run.skill,
                run.run_id,
                run.mode,
                run.model,
                ts(&run.started),
                duration(run)
            ),
        ));
        line(format!(
            "  {} items: {done} done, {skipped} skipped, {failed} failed; {} reads ({} upstream requests); tokens {} prompt / {} completion",
            run.items.len(),
            run.reads,
            run.upstream_requests,
            run.tokens.prompt,
            run.tokens.completion
        ));
        if let (Some(o), r) = (&run.outcome, &run.reason) {
            line(format!(
                "  ended {o:?}{}",
                r.as_ref().map(|r| format!(": {r}")).unwrap_or_default()
            ));
        }
        for item in &run.items {
            let outcome = item
                .outcome
                .map_or("unfinished".to_owned(), |o| format!("{o:?}").to_lowercase());
            let why = item
                .reason
                .as_ref()
                .map(|r| format!(" ({r})"))
                .unwrap_or_default();
            line(format!(
                "  - {} [{outcome}{why}] {}",
                item.subject, item.summary
            ));
        }
        for p in &run.proposals {
            line(format!("    {}", proposal_line(p)));
        }
        for e in &run.errors {
            line(paint("31", &format!("    error: {e}")));
        }
    }
    for s in &feed.sessions {
        line(String::new());
        line(paint(
            "1",
            &format!(
                "SESSION {} ({}) {} to {}",
                s.client,
                s.session_id,
                ts(&s.opened),
                s.closed.as_ref().map_or("open".to_owned(), ts)
            ),
        ));
        line(format!(
            "  {} reads, {} changes",
            s.reads,
            s.proposals.len()
        ));
        for p in &s.proposals {
            line(format!("    {}", proposal_line(p)));
        }
    }
    out
}

impl Feed {
    /// The trust of every skill, or of one.
    pub fn trust_of(&self, skill: Option<&str>) -> Vec<&SkillTrust> {
        self.trust
            .iter()
            .filter(|t| skill.is_none_or(|s| s == t.skill))
            .collect()
    }
}

/// The trust section as terminal lines (all skills, or one).
fn trust_text(feed: &Feed, skill: Option<&str>, colour: bool) -> Vec<String> {
    let paint = |code: &str, s: &str| {
        if colour {
            format!("\x1b[{code}m{s}\x1b[0m")
        } else {
            s.to_owned()
        }
    };
    let shown = feed.trust_of(skill);
    if shown.is_empty() {
        return Vec::new();
    }
    let mut lines = vec![paint(
        "1",
        &format!("TRUST ({})", trust::criteria_line(&feed.criteria)),
    )];
    for t in shown {
        let code = if t.ready { "1;32" } else { "1;33" };
        lines.push(paint(
            code,
            &format!("  {}: {}", t.skill, trust::verdict(t)),
        ));
        lines.push(format!("    {}", trust::figures(t)));
        if let Some(b) = &t.backtest {
            lines.push(format!("    {}", trust::backtest_line(b)));
        }
        for c in &t.classes {
            lines.push(format!("    {}", trust::class_line(c)));
        }
        for m in &t.recent_critical {
            lines.push(paint("31", &format!("    {}", trust::miss_line(m))));
        }
    }
    lines
}

fn trust_markdown(feed: &Feed, skill: Option<&str>) -> String {
    let mut out = String::new();
    let shown = feed.trust_of(skill);
    if shown.is_empty() {
        return out;
    }
    let _ = writeln!(
        out,
        "## Trust\n\nShadow metrics: the agent's observe-mode proposals against what humans later did ({}).\n",
        trust::criteria_line(&feed.criteria)
    );
    for t in shown {
        let _ = writeln!(
            out,
            "### {}: {}\n\n{}.\n",
            t.skill,
            trust::verdict(t),
            trust::figures(t)
        );
        if let Some(b) = &t.backtest {
            let _ = writeln!(out, "{}.\n", trust::backtest_line(b));
        }
        if !t.classes.is_empty() {
            out.push_str("| action | decisions | agree | confirmed | contradicted | critical |\n|---|---|---|---|---|---|\n");
            for c in &t.classes {
                let _ = writeln!(
                    out,
                    "| {} | {} | {} | {} | {} | {} |",
                    c.class, c.observations, c.agreed, c.confirmed, c.contradicted, c.critical
                );
            }
            out.push('\n');
        }
        for m in &t.recent_critical {
            let _ = writeln!(out, "- **{}**", trust::miss_line(m));
        }
        if !t.recent_critical.is_empty() {
            out.push('\n');
        }
    }
    out
}

fn trust_html(feed: &Feed, skill: Option<&str>) -> String {
    let mut out = String::new();
    let shown = feed.trust_of(skill);
    if shown.is_empty() {
        return out;
    }
    let _ = write!(
        out,
        "<h2 id=\"trust\">Trust</h2><p class=\"meta\">Shadow metrics: the agent's observe-mode proposals against what humans later did ({}).</p>",
        esc(&trust::criteria_line(&feed.criteria))
    );
    for t in shown {
        let class = if t.ready { "ready" } else { "notyet" };
        let _ = write!(
            out,
            "<div class=\"trust {class}\" data-skill=\"{}\"><b>{}</b>: {}<br><span class=\"meta\">{}</span>",
            esc(&t.skill),
            esc(&t.skill),
            esc(&trust::verdict(t)),
            esc(&trust::figures(t))
        );
        if let Some(b) = &t.backtest {
            let _ = write!(
                out,
                "<br><span class=\"meta\">{}</span>",
                esc(&trust::backtest_line(b))
            );
        }
        if !t.classes.is_empty() {
            out.push_str("<table><tr><th>action</th><th>decisions</th><th>agree</th><th>confirmed</th><th>contradicted</th><th>critical</th></tr>");
            for c in &t.classes {
                let _ = write!(
                    out,
                    "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                    esc(&c.class),
                    c.observations,
                    c.agreed,
                    c.confirmed,
                    c.contradicted,
                    c.critical
                );
            }
            out.push_str("</table>");
        }
        for m in &t.recent_critical {
            let _ = write!(
                out,
                "<div class=\"anomaly\">{}</div>",
                esc(&trust::miss_line(m))
            );
        }
        out.push_str("</div>");
    }
    out
}

/// The trust section alone (`nightjarctl trust [SKILL]`), for every skill or one.
pub fn render_trust(feed: &Feed, format: Format, skill: Option<&str>) -> String {
    match format {
        Format::Json => {
            let shown = feed.trust_of(skill);
            serde_json::to_string_pretty(&serde_json::json!({
                "criteria": feed.criteria,
                "skills": shown,
            }))
            .unwrap_or_default()
                + "\n"
        }
        Format::Markdown => trust_markdown(feed, skill),
        Format::Html => format!(
            "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">{CSP}<title>Nightjar trust</title><style>{STYLE}</style></head><body>{}</body></html>\n",
            trust_html(feed, skill)
        ),
        Format::Text { colour, width } => {
            let mut out = String::new();
            for l in trust_text(feed, skill, colour) {
                out.push_str(&cut(&l, width));
                out.push('\n');
            }
            out
        }
    }
}

fn markdown(feed: &Feed) -> String {
    let mut out = String::from("# Nightjar feed\n\n");
    let _ = writeln!(
        out,
        "{} events{}.\n",
        feed.events,
        match (&feed.first, &feed.last) {
            (Some(a), Some(b)) => format!(", {} to {}", ts(a), ts(b)),
            _ => String::new(),
        }
    );
    if !feed.anomalies.is_empty() {
        out.push_str("## Anomalies\n\n");
        for a in &feed.anomalies {
            let at = a.seq.map(|s| format!(" (seq {s})")).unwrap_or_default();
            let _ = writeln!(out, "- **{}**{at}: {}", a.kind, a.detail);
        }
        out.push('\n');
    }
    if !feed.pending.is_empty() {
        out.push_str("## Waiting for a human\n\n");
        for p in &feed.pending {
            let _ = writeln!(out, "- `{}` {}", p.proposal_id, proposal_line(p));
        }
        out.push('\n');
    }
    out.push_str(&trust_markdown(feed, None));
    for run in &feed.runs {
        let (done, skipped, failed) = counts(run);
        let _ = writeln!(
            out,
            "## {} — {:?} mode, {}\n\nRun `{}`, {} ({}). {} items: {done} done, {skipped} skipped, {failed} failed. {} reads, {} upstream requests, {} + {} tokens.\n",
            run.skill,
            run.mode,
            run.model,
            run.run_id,
            ts(&run.started),
            duration(run),
            run.items.len(),
            run.reads,
            run.upstream_requests,
            run.tokens.prompt,
            run.tokens.completion
        );
        if let Some(r) = &run.reason {
            let _ = writeln!(out, "Ended: {r}\n");
        }
        if !run.items.is_empty() {
            out.push_str("| item | outcome | summary |\n|---|---|---|\n");
            for item in &run.items {
                let outcome = item
                    .outcome
                    .map_or("unfinished".to_owned(), |o| format!("{o:?}").to_lowercase());
                let summary = item.reason.as_ref().unwrap_or(&item.summary);
                let _ = writeln!(
                    out,
                    "| {} | {outcome} | {} |",
                    item.subject.replace('|', "\\|"),
                    summary.replace('|', "\\|")
                );
            }
            out.push('\n');
        }
        for p in &run.proposals {
            let _ = writeln!(out, "- {}", proposal_line(p));
        }
        if !run.proposals.is_empty() {
            out.push('\n');
        }
    }
    for s in &feed.sessions {
        let _ = writeln!(
            out,
            "## Session: {}\n\n{} to {}; {} reads.\n",
            s.client,
            ts(&s.opened),
            s.closed.as_ref().map_or("open".to_owned(), ts),
            s.reads
        );
        for p in &s.proposals {
            let _ = writeln!(out, "- {}", proposal_line(p));
        }
    }
    out
}

fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The page may load nothing and run nothing: a self-contained file, whatever a ticket's text
/// tries.
const CSP: &str = "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">";

const STYLE: &str = "body{font:14px/1.45 system-ui,sans-serif;margin:2rem auto;max-width:60rem;color:#1b1f24;padding:0 1rem}\
h1{font-size:1.5rem}h2{font-size:1.15rem;margin-top:2rem}\
.anomaly{background:#fde8e8;border-left:4px solid #c0262d;padding:.4rem .8rem;margin:.3rem 0}\
.pending{background:#fff5d6;border-left:4px solid #b7791f;padding:.4rem .8rem;margin:.3rem 0}\
.timeline{list-style:none;padding-left:0;border-left:2px solid #c9d1d9;margin-left:.5rem}\
.timeline li{position:relative;padding:.2rem 0 .2rem 1rem}\
.timeline li::before{content:'';position:absolute;left:-.42rem;top:.55rem;width:.7rem;height:.7rem;border-radius:50%;background:#57606a}\
.timeline li.run::before{background:#0969da}.timeline li.session::before{background:#8250df}\
.proposal{font-family:ui-monospace,monospace;font-size:12px;background:#f6f8fa;padding:.2rem .5rem;margin:.2rem 0}\
.trust{border-left:4px solid #b7791f;padding:.4rem .8rem;margin:.3rem 0}.trust.ready{border-color:#1a7f37}\
.state{font-weight:600}.meta{color:#57606a}table{border-collapse:collapse}td,th{border:1px solid #d0d7de;padding:.2rem .5rem;text-align:left}";

fn html_proposal(p: &Proposal) -> String {
    format!(
        "<div class=\"proposal\" data-proposal=\"{}\"><span class=\"state\">{}</span> {}</div>",
        esc(&p.proposal_id),
        esc(&p.state),
        esc(&proposal_body(p))
    )
}

fn html(feed: &Feed) -> String {
    let mut out = format!("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">{CSP}");
    let _ = write!(
        out,
        "<title>Nightjar feed</title><style>{STYLE}</style></head><body>"
    );
    let _ = write!(
        out,
        "<h1>Nightjar feed</h1><p class=\"meta\">{} events",
        feed.events
    );
    if let (Some(a), Some(b)) = (&feed.first, &feed.last) {
        let _ = write!(out, ", {} to {}", esc(&ts(a)), esc(&ts(b)));
    }
    out.push_str("</p>");
    if !feed.anomalies.is_empty() {
        let _ = write!(
            out,
            "<h2 id=\"anomalies\">Anomalies ({})</h2>",
            feed.anomalies.len()
        );
        for a in &feed.anomalies {
            let at = a.seq.map(|s| format!(" at seq {s}")).unwrap_or_default();
            let _ = write!(
                out,
                "<div class=\"anomaly\"><b>{}</b>{}: {}</div>",
                esc(&a.kind),
                esc(&at),
                esc(&a.detail)
            );
        }
    }
    if !feed.pending.is_empty() {
        let _ = write!(
            out,
            "<h2 id=\"pending\">Waiting for a human ({})</h2>",
            feed.pending.len()
        );
        for p in &feed.pending {
            let _ = write!(out, "<div class=\"pending\">{}</div>", html_proposal(p));
        }
    }
    out.push_str(&trust_html(feed, None));
    out.push_str("<h2>Timeline</h2><ol class=\"timeline\" id=\"timeline\">");
    let mut entries: Vec<(DateTime<Utc>, String)> = Vec::new();
    for run in &feed.runs {
        let (done, skipped, failed) = counts(run);
        let mut li = format!(
            "<li class=\"run\" data-run=\"{}\"><b>{}</b> <span class=\"meta\">{} · {:?} · {} · {}</span><br>{} items: {done} done, {skipped} skipped, {failed} failed; {} reads, {} upstream requests; {} + {} tokens",
            esc(&run.run_id),
            esc(&run.skill),
            esc(&ts(&run.started)),
            run.mode,
            esc(&run.model),
            esc(&duration(run)),
            run.items.len(),
            run.reads,
            run.upstream_requests,
            run.tokens.prompt,
            run.tokens.completion
        );
        if let Some(r) = &run.reason {
            let _ = write!(li, "<br><span class=\"meta\">ended: {}</span>", esc(r));
        }
        if !run.items.is_empty() {
            li.push_str("<table><tr><th>item</th><th>outcome</th><th>summary</th></tr>");
            for item in &run.items {
                let outcome = item
                    .outcome
                    .map_or("unfinished".to_owned(), |o| format!("{o:?}").to_lowercase());
                let _ = write!(
                    li,
                    "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
                    esc(&item.subject),
                    esc(&outcome),
                    esc(item.reason.as_ref().unwrap_or(&item.summary))
                );
            }
            li.push_str("</table>");
        }
        for p in &run.proposals {
            li.push_str(&html_proposal(p));
        }
        for e in &run.errors {
            let _ = write!(li, "<div class=\"meta\">error: {}</div>", esc(e));
        }
        li.push_str("</li>");
        entries.push((run.started, li));
    }
    for s in &feed.sessions {
        let mut li = format!(
            "<li class=\"session\"><b>{}</b> <span class=\"meta\">{} to {}</span><br>{} reads",
            esc(&s.client),
            esc(&ts(&s.opened)),
            esc(&s.closed.as_ref().map_or("open".to_owned(), ts)),
            s.reads
        );
        for p in &s.proposals {
            li.push_str(&html_proposal(p));
        }
        li.push_str("</li>");
        entries.push((s.opened, li));
    }
    entries.sort_by_key(|e| e.0);
    for (_, li) in entries {
        out.push_str(&li);
    }
    out.push_str("</ol></body></html>\n");
    out
}
