//! The night shift: runs of a skill by the night agent, inside the daemon.
//!
//! A run is: `RunStarted` (skill, mode in effect, model, budgets, trigger) -> an in-process MCP
//! session bound to the run's `skill` principal, its mode, and the skill's allowed actions ->
//! the agent cuts the run into items and works each in its own conversation, reporting
//! `ItemStarted` / `ItemFinished` through [`LogObserver`] -> `RunFinished` and a checkpoint.
//! The agent holds nothing but the MCP session: every read and write it makes is a gate call.
//!
//! One run of a skill at a time. A run interrupted by a crash or a shutdown (a `RunStarted`
//! without `RunFinished`) is resumed at the next start: items that finished are not redone, and
//! an item that was cut off after it sent a change is closed as skipped rather than redone, so
//! no item's writes are sent twice.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;
use std::time::Instant;

use agent::items::{ItemOptions, WorkItem};
use agent::model::{Model, ModelConfig};
use agent::run::{Agent, ItemReport, Observer};
use agent::skill::Skill;
use chrono::{DateTime, Utc};
use schemas::config::{AgentConfig, Config};
use schemas::control::RunSummary;
use schemas::event::{
    Budgets, Event, ItemOutcome, Mode, Principal, RunOutcome, RunTrigger, TokenUsage,
};
use tokio_util::sync::CancellationToken;

use crate::gate::Caller;
use crate::log::{Draft, LogError, Store};
use crate::mcp;

/// Why a run did not start.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("there is no skill `{0}`; `nightjarctl skills list` shows them")]
    UnknownSkill(String),
    #[error(
        "skill `{0}` has no `metadata.nightjar-work-items`, so the night agent cannot cut it into items"
    )]
    NotSchedulable(String),
    #[error("skill `{0}` is already running; one run of a skill at a time")]
    AlreadyRunning(String),
    #[error("the event log refused the run: {0}")]
    Log(#[from] LogError),
}

/// The model settings in effect: environment over configuration.
pub fn model_config(config: &AgentConfig) -> Option<ModelConfig> {
    let from_env = ModelConfig::from_env();
    let mut model = match (from_env, &config.model_url, &config.model) {
        (Some(m), _, _) => m,
        (None, Some(url), Some(name)) => ModelConfig {
            url: url.clone(),
            model: name.clone(),
            ..ModelConfig::default()
        },
        _ => return None,
    };
    model.max_tokens = config.max_tokens;
    Some(model)
}

fn budgets(config: &AgentConfig) -> Budgets {
    Budgets {
        steps_per_item: config.steps_per_item,
        tokens_per_item: config.tokens_per_item,
        seconds_per_item: config.seconds_per_item,
        tokens_per_run: config.tokens_per_run,
        seconds_per_run: config.seconds_per_run,
    }
}

/// The night shift: skills, model, and the runs going on.
#[derive(Debug)]
pub struct Night {
    shared: mcp::Shared,
    skills: Vec<Skill>,
    config: Config,
    model: Option<ModelConfig>,
    running: Mutex<BTreeSet<String>>,
    cancel: CancellationToken,
}

/// Clears a skill's running flag however the run ends.
struct RunningGuard<'a> {
    night: &'a Night,
    skill: String,
}

impl Drop for RunningGuard<'_> {
    fn drop(&mut self) {
        if let Ok(mut r) = self.night.running.lock() {
            r.remove(&self.skill);
        }
    }
}

/// What a resumed run inherits from the one it resumes.
#[derive(Debug, Clone)]
struct Resume {
    run_id: String,
    /// Items not to work again.
    skip: BTreeSet<String>,
}

impl Night {
    pub fn new(
        shared: mcp::Shared,
        skills: Vec<Skill>,
        config: Config,
        model: Option<ModelConfig>,
        cancel: CancellationToken,
    ) -> Night {
        Night {
            shared,
            skills,
            config,
            model,
            running: Mutex::new(BTreeSet::new()),
            cancel,
        }
    }

    pub fn skills(&self) -> &[Skill] {
        &self.skills
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The night agent's model, if one is configured.
    pub fn model(&self) -> Option<&ModelConfig> {
        self.model.as_ref()
    }

    pub fn is_running(&self, skill: &str) -> bool {
        self.running
            .lock()
            .map(|r| r.contains(skill))
            .unwrap_or(true)
    }

    fn store(&self) -> &Store {
        self.shared.gate.store()
    }

    /// The mode in effect for `skill`: a signed change, else configuration, else observe.
    pub fn mode_of(&self, skill: &str) -> Mode {
        let projections = self.store().projections();
        match projections.signed_modes.get(skill) {
            Some(m) => *m,
            None => self
                .config
                .skills
                .get(skill)
                .and_then(|s| s.mode)
                .unwrap_or(Mode::Observe),
        }
    }

    /// Runs `skill` now and waits for it to end.
    pub async fn run(
        &self,
        skill: &str,
        trigger: RunTrigger,
        scheduled_for: Option<DateTime<Utc>>,
    ) -> Result<RunSummary, RunError> {
        self.execute(skill, trigger, scheduled_for, None).await
    }

    /// Resumes every run that started and never finished (a crash or a shutdown), one after
    /// another. Called once at start.
    pub async fn resume_interrupted(&self) {
        let projections = self.store().projections();
        let open: Vec<(String, schemas::projection::RunState)> = projections
            .unfinished_runs()
            .map(|(id, r)| (id.clone(), r.clone()))
            .collect();
        for (run_id, state) in open {
            // Items finished in this run and in every run it resumed.
            let mut skip = BTreeSet::new();
            let mut link = Some(run_id.clone());
            while let Some(id) = link {
                let Some(r) = projections.runs.get(&id) else {
                    break;
                };
                skip.extend(
                    r.items
                        .iter()
                        .filter(|(_, done)| **done)
                        .map(|(i, _)| i.clone()),
                );
                link = r.resumes.clone();
            }
            let cut_off_after_write: Vec<String> = state
                .items
                .iter()
                .filter(|(item, done)| !**done && state.wrote.contains(*item))
                .map(|(i, _)| i.clone())
                .collect();
            skip.extend(cut_off_after_write.iter().cloned());
            tracing::info!(run = %run_id, skill = %state.skill, finished = skip.len(), "resuming an interrupted run");
            let resume = Resume {
                run_id: run_id.clone(),
                skip,
            };
            // Close the cut-off items on the old run, as skipped, with the reason, before the
            // resumed run starts (so a crash during it cannot leave them open).
            for item in cut_off_after_write {
                let event = Event::ItemFinished {
                    run_id: run_id.clone(),
                    item_id: item,
                    outcome: ItemOutcome::Skipped,
                    reason: Some(
                        "interrupted after a change was sent upstream; not redone (review it)"
                            .into(),
                    ),
                    steps: 0,
                    tokens: TokenUsage::default(),
                    summary: String::new(),
                    calls: Vec::new(),
                };
                if let Err(e) = self.append(&state.skill, &run_id, event).await {
                    tracing::warn!(run = %run_id, error = %e, "could not close a cut-off item; not resuming");
                    return;
                }
            }
            match self
                .execute(&state.skill, RunTrigger::Resume, None, Some(resume))
                .await
            {
                Ok(summary) => {
                    tracing::info!(run = %summary.run_id, outcome = ?summary.outcome, "resumed run ended");
                }
                Err(e) => tracing::warn!(run = %run_id, error = %e, "could not resume a run"),
            }
        }
    }

    async fn append(&self, skill: &str, run_id: &str, event: Event) -> Result<(), LogError> {
        let principal = Principal::Skill {
            skill: skill.to_owned(),
            run_id: run_id.to_owned(),
        };
        self.store()
            .append(Draft::new(principal, event).with_run(run_id))
            .await
            .map(drop)
    }

    async fn execute(
        &self,
        skill_name: &str,
        trigger: RunTrigger,
        scheduled_for: Option<DateTime<Utc>>,
        resume: Option<Resume>,
    ) -> Result<RunSummary, RunError> {
        let skill = self
            .skills
            .iter()
            .find(|s| s.name == skill_name)
            .ok_or_else(|| RunError::UnknownSkill(skill_name.to_owned()))?;
        let kind = skill
            .work_items()
            .ok_or_else(|| RunError::NotSchedulable(skill_name.to_owned()))?;
        {
            let mut running = self
                .running
                .lock()
                .map_err(|_| RunError::AlreadyRunning(skill_name.to_owned()))?;
            if !running.insert(skill_name.to_owned()) {
                return Err(RunError::AlreadyRunning(skill_name.to_owned()));
            }
        }
        let _guard = RunningGuard {
            night: self,
            skill: skill_name.to_owned(),
        };

        // Before each run: what humans did since to the records earlier proposals touched (the
        // shadow metrics the feed judges enforce mode by).
        crate::shadow::refresh(&self.shared.gate, Utc::now()).await?;
        // Triage is grounded in the shop's closed tickets: read what closed since the last
        // refresh, so tonight's precedents include today's.
        if kind == agent::skill::WorkItems::NewTickets {
            crate::history::refresh(self.shared.gate.context()).await;
        }

        let started = Instant::now();
        let run_id = new_run_id();
        let mode = self.mode_of(skill_name);
        let budgets = budgets(&self.config.agent);
        let model_name = self
            .model
            .as_ref()
            .map_or_else(|| "none".to_owned(), |m| m.model.clone());
        self.append(
            skill_name,
            &run_id,
            Event::RunStarted {
                run_id: run_id.clone(),
                skill: skill_name.to_owned(),
                mode,
                model: model_name.clone(),
                budgets,
                trigger,
                scheduled_for,
                resumes: resume.as_ref().map(|r| r.run_id.clone()),
            },
        )
        .await?;
        if let Some(old) = &resume {
            self.append(
                skill_name,
                &old.run_id,
                Event::RunFinished {
                    run_id: old.run_id.clone(),
                    skill: skill_name.to_owned(),
                    outcome: RunOutcome::Stopped,
                    reason: Some(format!("interrupted; resumed as run {run_id}")),
                    items_done: 0,
                    items_skipped: 0,
                    items_failed: 0,
                    tokens: TokenUsage::default(),
                    duration_ms: 0,
                },
            )
            .await?;
        }

        let report = match &self.model {
            None => agent::run::RunReport {
                outcome: RunOutcome::Stopped,
                reason: Some(
                    "no model configured: set NIGHTJAR_MODEL_URL and NIGHTJAR_MODEL, or [agent] \
                     model_url and model in config.toml (`nightjarctl model serve` starts one)"
                        .into(),
                ),
                done: 0,
                skipped: 0,
                failed: 0,
                tokens: TokenUsage::default(),
                interrupted: false,
            },
            Some(model) => {
                self.work(skill, kind, &run_id, mode, budgets, model, resume.as_ref())
                    .await
            }
        };
        let duration_ms = started.elapsed().as_millis() as u64;
        if report.interrupted {
            // Left open on purpose: the next start resumes it.
            tracing::info!(run = %run_id, "run interrupted by shutdown; it resumes at the next start");
        } else {
            self.append(
                skill_name,
                &run_id,
                Event::RunFinished {
                    run_id: run_id.clone(),
                    skill: skill_name.to_owned(),
                    outcome: report.outcome,
                    reason: report.reason.clone(),
                    items_done: report.done,
                    items_skipped: report.skipped,
                    items_failed: report.failed,
                    tokens: report.tokens,
                    duration_ms,
                },
            )
            .await?;
            self.store().checkpoint().await?;
        }
        Ok(RunSummary {
            run_id,
            skill: skill_name.to_owned(),
            mode,
            model: model_name,
            outcome: report.outcome,
            reason: report.reason,
            items_done: report.done,
            items_skipped: report.skipped,
            items_failed: report.failed,
            tokens: report.tokens,
            duration_ms,
        })
    }

    #[allow(
        clippy::too_many_arguments,
        reason = "one call site; the run's parts are all distinct"
    )]
    async fn work(
        &self,
        skill: &Skill,
        kind: agent::skill::WorkItems,
        run_id: &str,
        mode: Mode,
        budgets: Budgets,
        model: &ModelConfig,
        resume: Option<&Resume>,
    ) -> agent::run::RunReport {
        let stopped = |reason: String| agent::run::RunReport {
            outcome: RunOutcome::Failed,
            reason: Some(reason),
            done: 0,
            skipped: 0,
            failed: 0,
            tokens: TokenUsage::default(),
            interrupted: false,
        };
        let mut allowed: BTreeSet<String> = skill.actions().unwrap_or_default();
        if skill.actions().is_none() {
            // Every action of the allowed tools: the gate checks the tool part.
            for tool in skill.tools() {
                if let Some(t) = crate::catalog::catalog().tool(&tool) {
                    allowed.extend(t.actions.iter().map(|a| format!("{tool}.{}", a.name)));
                }
            }
        }
        allowed.extend(agent::items::reads(kind).iter().map(|s| (*s).to_owned()));
        let caller = Caller {
            principal: Principal::Skill {
                skill: skill.name.clone(),
                run_id: run_id.to_owned(),
            },
            mode,
            allowed: Some(allowed),
        };
        let session_cancel = self.cancel.child_token();
        let (stream, server) = mcp::in_process(self.shared.clone(), caller, session_cancel.clone());
        let session = match agent::session::Session::connect(stream).await {
            Ok(s) => s,
            Err(e) => return stopped(e.to_string()),
        };
        let options = ItemOptions {
            boards: self
                .config
                .skills
                .get(&skill.name)
                .map(|c| c.boards.clone())
                .unwrap_or_default(),
            expiring_days: self
                .config
                .skills
                .get(&skill.name)
                .and_then(|c| c.expiring_days)
                .unwrap_or_else(|| skill.expiring_days()),
            max_items: self.config.agent.max_items,
            precedents: self
                .config
                .skills
                .get(&skill.name)
                .and_then(|c| c.precedents)
                .unwrap_or(6),
        };
        let report = async {
            let items = agent::items::enumerate(kind, &session, &options)
                .await
                .map_err(|e| format!("could not list the run's work items: {e}"))?;
            let functions = agent::run::functions(&session, skill)
                .await
                .map_err(|e| format!("could not read the skill's actions: {e}"))?;
            let model = Model::new(model.clone());
            let agent = Agent {
                model: &model,
                session: &session,
                skill,
                functions,
                budgets,
            };
            let observer = LogObserver {
                night: self,
                skill: &skill.name,
                run_id,
            };
            let skip = resume.map(|r| r.skip.clone()).unwrap_or_default();
            Ok::<_, String>(agent.run(&items, &skip, &observer, &self.cancel).await)
        }
        .await
        .unwrap_or_else(stopped);
        session.close().await;
        // The server ends on the client's close; the cancel is only a backstop.
        let _ = tokio::time::timeout(std::time::Duration::from_secs(5), server).await;
        session_cancel.cancel();
        report
    }
}

/// Records the agent's progress as `ItemStarted` / `ItemFinished`, redacted like every other
/// event (a ticket's summary can hold a phone number).
struct LogObserver<'a> {
    night: &'a Night,
    skill: &'a str,
    run_id: &'a str,
}

impl Observer for LogObserver<'_> {
    async fn item_started(&self, item: &WorkItem) -> Result<(), String> {
        let redactor = self.night.shared.gate.redactor();
        let event = Event::ItemStarted {
            run_id: self.run_id.to_owned(),
            item_id: item.id.clone(),
            kind: item.kind.clone(),
            subject: redactor.text(&item.subject).into_owned(),
        };
        self.night
            .append(self.skill, self.run_id, event)
            .await
            .map_err(|e| e.to_string())
    }

    async fn item_finished(&self, item: &WorkItem, report: &ItemReport) -> Result<(), String> {
        let redactor = self.night.shared.gate.redactor();
        let event = Event::ItemFinished {
            run_id: self.run_id.to_owned(),
            item_id: item.id.clone(),
            outcome: report.outcome,
            reason: report
                .reason
                .as_deref()
                .map(|r| redactor.text(r).into_owned()),
            steps: report.steps,
            tokens: report.tokens,
            summary: redactor.text(&report.summary).into_owned(),
            calls: report.calls.clone(),
        };
        self.night
            .append(self.skill, self.run_id, event)
            .await
            .map_err(|e| e.to_string())
    }
}

fn new_run_id() -> String {
    use rand::Rng;
    let stamp = Utc::now().format("%Y%m%dT%H%M%S");
    let tail: u32 = rand::rng().random();
    format!("run-{stamp}-{tail:08x}")
}

/// The scheduler's handle on the night shift.
impl crate::scheduler::Runs for Night {
    fn is_running(&self, skill: &str) -> bool {
        Night::is_running(self, skill)
    }

    async fn start(&self, skill: &str, slot: DateTime<Utc>, catch_up: bool) {
        let trigger = if catch_up {
            RunTrigger::CatchUp
        } else {
            RunTrigger::Schedule
        };
        match self.run(skill, trigger, Some(slot)).await {
            Ok(s) => {
                tracing::info!(%skill, run = %s.run_id, outcome = ?s.outcome, "scheduled run ended")
            }
            Err(e) => tracing::warn!(%skill, error = %e, "scheduled run did not start"),
        }
    }
}

/// Each skill's schedule as configured: (skill, crontab text or `None` when not scheduled).
pub fn schedules(night: &Night) -> BTreeMap<String, Option<String>> {
    night
        .skills
        .iter()
        .filter(|s| s.work_items().is_some())
        .map(|s| {
            let configured = night
                .config
                .skills
                .get(&s.name)
                .and_then(|c| c.schedule.clone());
            let expr = match configured {
                Some(e) if e.trim().is_empty() => None,
                Some(e) => Some(e),
                None => schemas::config::default_schedule(&s.name).map(str::to_owned),
            };
            (s.name.clone(), expr)
        })
        .collect()
}
