//! `nightjarctl skills`, `run` and `schedule`: the night shift from the console.

use std::path::PathBuf;

use agent::skill::{self, Skill, Source};
use clap::Subcommand;
use daemon::paths::Paths;
use schemas::control::{Request, Response, RunSummary};

use crate::client::{Client, CtlError};

#[derive(Debug, Subcommand)]
pub enum SkillsCommand {
    /// The skills: built-in and the user's (config dir `skills/`), with what each works on.
    List,
    /// One skill's SKILL.md, as the model and Claude read it.
    Show { name: String },
    /// Write the skills as DIR/<name>/SKILL.md, the layout Claude reads (e.g. ~/.claude/skills).
    Export {
        dir: PathBuf,
        /// Only these skills (default: all).
        #[arg(long = "skill", value_name = "NAME")]
        only: Vec<String>,
    },
}

fn load(paths: &Paths) -> (Vec<Skill>, Vec<skill::SkillError>) {
    skill::all(Some(&paths.skills_dir()))
}

pub fn skills(paths: &Paths, command: SkillsCommand) -> Result<u8, CtlError> {
    let (skills, errors) = load(paths);
    for e in &errors {
        eprintln!("refused: {e}");
    }
    match command {
        SkillsCommand::List => {
            for s in &skills {
                let source = match &s.source {
                    Source::Builtin => "built-in".to_owned(),
                    Source::User(p) => p.display().to_string(),
                };
                let items = s.work_items().map_or("not schedulable", |w| w.as_str());
                let first = s.description.split(". ").next().unwrap_or(&s.description);
                println!("{:<24} {:<20} {source}", s.name, items);
                println!("  {}", first.trim_end_matches('.'));
            }
            Ok(if errors.is_empty() { 0 } else { 1 })
        }
        SkillsCommand::Show { name } => match skills.iter().find(|s| s.name == name) {
            Some(s) => {
                print!("{}", s.text);
                Ok(0)
            }
            None => Err(unknown(&name, &skills)),
        },
        SkillsCommand::Export { dir, only } => {
            for name in &only {
                if !skills.iter().any(|s| &s.name == name) {
                    return Err(unknown(name, &skills));
                }
            }
            let chosen: Vec<Skill> = skills
                .into_iter()
                .filter(|s| only.is_empty() || only.contains(&s.name))
                .collect();
            let written = skill::export(&chosen, &dir).map_err(|e| {
                CtlError::Other(anyhow::anyhow!("cannot write to {}: {e}", dir.display()))
            })?;
            for w in written {
                println!("wrote {}", w.display());
            }
            Ok(0)
        }
    }
}

fn unknown(name: &str, skills: &[Skill]) -> CtlError {
    let names: Vec<&str> = skills.iter().map(|s| s.name.as_str()).collect();
    CtlError::Other(anyhow::anyhow!(
        "there is no skill `{name}`; the skills are: {}",
        names.join(", ")
    ))
}

/// Prints a finished run in a few lines.
pub fn print_summary(s: &RunSummary) {
    let secs = s.duration_ms as f64 / 1000.0;
    println!(
        "{} {} ({:?} mode, model {}): {:?} in {secs:.1} s",
        s.skill, s.run_id, s.mode, s.model, s.outcome
    );
    println!(
        "  items: {} done, {} skipped, {} failed; tokens: {} prompt, {} completion",
        s.items_done, s.items_skipped, s.items_failed, s.tokens.prompt, s.tokens.completion
    );
    if let Some(reason) = &s.reason {
        println!("  reason: {reason}");
    }
}

pub async fn run(paths: &Paths, skill: String, json: bool) -> Result<u8, CtlError> {
    let mut client = Client::connect(&paths.control_socket()).await?;
    eprintln!(
        "running {skill} (this waits until the run ends; `nightjarctl log tail -f` shows it live)"
    );
    let Response::Run(summary) = client.call(&Request::Run { skill }).await? else {
        return Err(CtlError::Other(anyhow::anyhow!(
            "unexpected response to run"
        )));
    };
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&summary).map_err(|e| CtlError::Other(e.into()))?
        );
    } else {
        print_summary(&summary);
    }
    Ok(match summary.outcome {
        schemas::event::RunOutcome::Completed => 0,
        _ => 1,
    })
}

pub async fn schedule(paths: &Paths, json: bool) -> Result<u8, CtlError> {
    let mut client = Client::connect(&paths.control_socket()).await?;
    let Response::Schedule(entries) = client.call(&Request::Schedule).await? else {
        return Err(CtlError::Other(anyhow::anyhow!(
            "unexpected response to schedule"
        )));
    };
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&entries).map_err(|e| CtlError::Other(e.into()))?
        );
        return Ok(0);
    }
    for e in &entries {
        let running = if e.running { ", running now" } else { "" };
        println!(
            "{} ({:?} mode{running}): {} [{}]",
            e.skill,
            e.mode,
            e.schedule.as_deref().unwrap_or("not scheduled"),
            e.timezone
        );
        if let Some(p) = &e.problem {
            println!("  {p}");
        }
        for t in &e.next_local {
            println!("  next: {t}");
        }
    }
    Ok(0)
}
