//! Skills in the Agent Skills format: a folder named after the skill holding `SKILL.md`, YAML
//! front matter (`name`, `description`, optional `license`, `compatibility`, `allowed-tools`,
//! `metadata`) and Markdown instructions. The same files import into Claude unchanged and drive
//! the night agent.
//!
//! Nightjar reads two things beyond the specification, both inside `metadata` (string to string,
//! as the specification requires), so Claude ignores them:
//! - `nightjar-work-items`: how a run is cut into items: `new-tickets`, `member-weeks` or
//!   `expiring-agreements` (a skill without it can be exported and shown, not scheduled);
//! - `nightjar-actions`: the `tool.action` names the skill may call, each inside a tool that
//!   `allowed-tools` lists. Without it, every action of the allowed tools.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// The MCP server name Claude gives Nightjar's tools (`mcp__nightjar__cw_tickets`).
pub const MCP_SERVER: &str = "nightjar";

/// The built-in skills, compiled in from `agent/skills/<name>/SKILL.md`.
const BUILTIN: [(&str, &str); 3] = [
    (
        "msp-night-triage",
        include_str!("../skills/msp-night-triage/SKILL.md"),
    ),
    (
        "msp-weekly-prebilling",
        include_str!("../skills/msp-weekly-prebilling/SKILL.md"),
    ),
    (
        "msp-renewal-sweep",
        include_str!("../skills/msp-renewal-sweep/SKILL.md"),
    ),
];

/// How a run of a skill is cut into work items.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum WorkItems {
    /// Each new, unassigned ticket on the configured boards.
    NewTickets,
    /// Each member-week with validation findings, and each agreement over or under its hours.
    MemberWeeks,
    /// Each agreement that ends within N days (`nightjar-expiring-days`, default 90).
    ExpiringAgreements,
}

impl WorkItems {
    pub fn as_str(self) -> &'static str {
        match self {
            WorkItems::NewTickets => "new-tickets",
            WorkItems::MemberWeeks => "member-weeks",
            WorkItems::ExpiringAgreements => "expiring-agreements",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        [
            WorkItems::NewTickets,
            WorkItems::MemberWeeks,
            WorkItems::ExpiringAgreements,
        ]
        .into_iter()
        .find(|w| w.as_str() == s)
    }
}

/// Where a skill came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    Builtin,
    /// A `SKILL.md` in the user's skills directory.
    User(PathBuf),
}

/// A parsed, validated skill.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Skill {
    pub name: String,
    pub description: String,
    pub license: Option<String>,
    pub compatibility: Option<String>,
    /// As written: tool names, bare (`cw_tickets`) or as Claude names them
    /// (`mcp__nightjar__cw_tickets`).
    pub allowed_tools: Vec<String>,
    pub metadata: BTreeMap<String, String>,
    /// The Markdown instructions after the front matter.
    pub body: String,
    /// The whole file, as read (what `export` writes back).
    pub text: String,
    pub source: Source,
}

/// Why a `SKILL.md` was refused. Each names the file and what to change.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}: {problem}")]
pub struct SkillError {
    pub file: String,
    pub problem: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FrontMatter {
    name: Option<String>,
    description: Option<String>,
    license: Option<String>,
    compatibility: Option<String>,
    #[serde(rename = "allowed-tools")]
    allowed_tools: Option<String>,
    metadata: Option<BTreeMap<String, serde_yaml_ng::Value>>,
}

impl Skill {
    /// Parses and validates `text` as the `SKILL.md` of the folder `folder`.
    pub fn parse(folder: &str, text: &str, source: Source) -> Result<Skill, SkillError> {
        let file = match &source {
            Source::Builtin => format!("built-in skill {folder}/SKILL.md"),
            Source::User(p) => p.display().to_string(),
        };
        let fail = |problem: String| SkillError {
            file: file.clone(),
            problem,
        };
        let rest = text
            .strip_prefix("---\n")
            .or_else(|| text.strip_prefix("---\r\n"))
            .ok_or_else(|| {
                fail(
                    "does not start with YAML front matter (a line `---`, the fields, `---`)"
                        .into(),
                )
            })?;
        let end = rest
            .find("\n---\n")
            .or_else(|| rest.find("\n---\r\n"))
            .or_else(|| rest.strip_suffix("\n---").map(str::len))
            .ok_or_else(|| fail("the front matter is not closed by a line `---`".into()))?;
        let (yaml, body) = (&rest[..end], &rest[end..]);
        let body = body
            .trim_start_matches('\n')
            .trim_start_matches("---")
            .trim_start()
            .to_owned();
        let front: FrontMatter = serde_yaml_ng::from_str(yaml).map_err(|e| {
            fail(format!(
                "front matter: {e} (allowed fields: name, description, license, compatibility, allowed-tools, metadata)"
            ))
        })?;

        let name = front.name.ok_or_else(|| fail("`name` is missing".into()))?;
        check_name(&name).map_err(|p| fail(format!("`name` {p}")))?;
        if name != folder {
            return Err(fail(format!(
                "`name` is `{name}` but the folder is `{folder}`; they must be the same"
            )));
        }
        let description = front
            .description
            .map(|d| d.trim().to_owned())
            .filter(|d| !d.is_empty())
            .ok_or_else(|| {
                fail(
                    "`description` is missing or empty: say what the skill does and when to use it"
                        .into(),
                )
            })?;
        if description.chars().count() > 1024 {
            return Err(fail(format!(
                "`description` is {} characters; at most 1024",
                description.chars().count()
            )));
        }
        if let Some(c) = &front.compatibility
            && (c.is_empty() || c.chars().count() > 500)
        {
            return Err(fail("`compatibility` must be 1 to 500 characters".into()));
        }
        let mut metadata = BTreeMap::new();
        for (key, value) in front.metadata.unwrap_or_default() {
            let value = match value {
                serde_yaml_ng::Value::String(s) => s,
                serde_yaml_ng::Value::Number(n) => n.to_string(),
                serde_yaml_ng::Value::Bool(b) => b.to_string(),
                _ => {
                    return Err(fail(format!(
                        "`metadata.{key}` must be a string (metadata maps strings to strings)"
                    )));
                }
            };
            metadata.insert(key, value);
        }
        let allowed_tools: Vec<String> = front
            .allowed_tools
            .unwrap_or_default()
            .split_whitespace()
            .map(str::to_owned)
            .collect();
        let skill = Skill {
            name,
            description,
            license: front.license,
            compatibility: front.compatibility,
            allowed_tools,
            metadata,
            body,
            text: text.to_owned(),
            source,
        };
        if let Some(w) = skill.metadata.get("nightjar-work-items")
            && WorkItems::parse(w).is_none()
        {
            return Err(fail(format!(
                "`metadata.nightjar-work-items` is `{w}`; one of new-tickets, member-weeks, expiring-agreements"
            )));
        }
        if let Some(days) = skill.metadata.get("nightjar-expiring-days")
            && !days.parse::<u32>().is_ok_and(|d| (1..=3660).contains(&d))
        {
            return Err(fail(format!(
                "`metadata.nightjar-expiring-days` is `{days}`; a whole number of days, 1 to 3660"
            )));
        }
        let tools = skill.tools();
        if let Some(actions) = skill.metadata.get("nightjar-actions") {
            for a in actions.split_whitespace() {
                let Some((tool, action)) = a.split_once('.') else {
                    return Err(fail(format!(
                        "`metadata.nightjar-actions` entry `{a}` is not `tool.action`"
                    )));
                };
                if action.is_empty() || !tools.contains(tool) {
                    return Err(fail(format!(
                        "`metadata.nightjar-actions` entry `{a}`: its tool is not in `allowed-tools` ({})",
                        skill.allowed_tools.join(" ")
                    )));
                }
            }
        }
        Ok(skill)
    }

    /// The Nightjar tools the skill may use (`cw_tickets`, ...), from `allowed-tools`.
    pub fn tools(&self) -> BTreeSet<String> {
        let prefix = format!("mcp__{MCP_SERVER}__");
        self.allowed_tools
            .iter()
            .filter_map(|t| {
                let bare = t.strip_prefix(&prefix).unwrap_or(t);
                bare.starts_with("cw_").then(|| bare.to_owned())
            })
            .collect()
    }

    /// The `tool.action` names from `metadata.nightjar-actions`, or `None` for "every action of
    /// the allowed tools".
    pub fn actions(&self) -> Option<BTreeSet<String>> {
        self.metadata
            .get("nightjar-actions")
            .map(|a| a.split_whitespace().map(str::to_owned).collect())
    }

    /// How a run is cut into items; `None` for a skill the night agent cannot schedule.
    pub fn work_items(&self) -> Option<WorkItems> {
        self.metadata
            .get("nightjar-work-items")
            .and_then(|w| WorkItems::parse(w))
    }

    /// `nightjar-expiring-days` (default 90).
    pub fn expiring_days(&self) -> u32 {
        self.metadata
            .get("nightjar-expiring-days")
            .and_then(|d| d.parse().ok())
            .unwrap_or(90)
    }
}

fn check_name(name: &str) -> Result<(), String> {
    if name.is_empty() || name.chars().count() > 64 {
        return Err("must be 1 to 64 characters".into());
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    {
        return Err(format!(
            "`{name}` may hold only lowercase letters, digits and hyphens"
        ));
    }
    if name.starts_with('-') || name.ends_with('-') || name.contains("--") {
        return Err(format!(
            "`{name}` must not start or end with a hyphen or hold two in a row"
        ));
    }
    Ok(())
}

/// The built-in skills.
pub fn builtin() -> Vec<Skill> {
    BUILTIN
        .iter()
        .map(|(name, text)| {
            Skill::parse(name, text, Source::Builtin).unwrap_or_else(|e| {
                panic!("a built-in skill is invalid (a test catches this): {e}")
            })
        })
        .collect()
}

/// The skills in `dir` (each a folder with `SKILL.md`), with the errors of those refused. A
/// missing directory holds no skills.
pub fn load_dir(dir: &Path) -> (Vec<Skill>, Vec<SkillError>) {
    let mut skills = Vec::new();
    let mut errors = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return (skills, errors);
    };
    let mut folders: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    folders.sort();
    for folder in folders {
        let file = folder.join("SKILL.md");
        let name = folder
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        match std::fs::read_to_string(&file) {
            Ok(text) => match Skill::parse(&name, &text, Source::User(file)) {
                Ok(s) => skills.push(s),
                Err(e) => errors.push(e),
            },
            Err(e) => errors.push(SkillError {
                file: file.display().to_string(),
                problem: format!("cannot read: {e}"),
            }),
        }
    }
    (skills, errors)
}

/// Built-in skills, then the user's from `dir`; a user skill with a built-in's name replaces it.
pub fn all(dir: Option<&Path>) -> (Vec<Skill>, Vec<SkillError>) {
    let mut skills = builtin();
    let (user, errors) = dir.map(load_dir).unwrap_or_default();
    for s in user {
        skills.retain(|b| b.name != s.name);
        skills.push(s);
    }
    (skills, errors)
}

/// Writes each skill as `dir/<name>/SKILL.md` (the layout `~/.claude/skills/` expects).
pub fn export(skills: &[Skill], dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut written = Vec::new();
    for s in skills {
        let folder = dir.join(&s.name);
        std::fs::create_dir_all(&folder)?;
        let file = folder.join("SKILL.md");
        std::fs::write(&file, &s.text)?;
        written.push(file);
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn skill(front: &str) -> Result<Skill, SkillError> {
        Skill::parse(
            "my-skill",
            &format!("---\n{front}\n---\n# Body\n"),
            Source::Builtin,
        )
    }

    #[test]
    fn the_builtin_skills_are_valid_and_name_their_items_and_actions() {
        let skills = builtin();
        let names: Vec<&str> = skills.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, crate::BUILTIN_SKILLS);
        for s in &skills {
            assert!(s.work_items().is_some(), "{}", s.name);
            let actions = s.actions().expect("built-ins list their actions");
            assert!(!actions.is_empty());
            assert!(
                s.body.starts_with('#'),
                "{}: body {:?}",
                s.name,
                &s.body[..20]
            );
            assert!(
                s.allowed_tools
                    .iter()
                    .all(|t| t.starts_with("mcp__nightjar__cw_"))
            );
        }
        assert_eq!(skills[2].expiring_days(), 90);
    }

    #[test]
    fn front_matter_is_validated_with_clear_errors() {
        let ok = "name: my-skill\ndescription: Does a thing. Use it when.";
        assert!(skill(ok).is_ok());
        let cases = [
            ("description: x", "`name` is missing"),
            ("name: other\ndescription: x", "the folder is `my-skill`"),
            ("name: My-Skill\ndescription: x", "lowercase"),
            ("name: my--skill\ndescription: x", "two in a row"),
            ("name: my-skill", "`description` is missing"),
            (
                "name: my-skill\ndescription: x\ncolour: red",
                "unknown field `colour`",
            ),
            (
                "name: my-skill\ndescription: x\nmetadata:\n  a: [1]",
                "`metadata.a` must be a string",
            ),
            (
                "name: my-skill\ndescription: x\nmetadata:\n  nightjar-work-items: tickets",
                "one of new-tickets",
            ),
            (
                "name: my-skill\ndescription: x\nallowed-tools: cw_time\nmetadata:\n  nightjar-actions: cw_tickets.update",
                "not in `allowed-tools`",
            ),
        ];
        for (front, want) in cases {
            let err = skill(front).expect_err(front).to_string();
            assert!(err.contains(want), "{front:?}: {err}");
        }
        let long = format!("name: my-skill\ndescription: {}", "x".repeat(1025));
        assert!(skill(&long).unwrap_err().problem.contains("1024"));
        let unclosed = Skill::parse("my-skill", "---\nname: my-skill\n", Source::Builtin);
        assert!(unclosed.unwrap_err().problem.contains("not closed"));
    }

    #[test]
    fn allowed_tools_accept_claude_names_and_bare_names() {
        let s = skill(
            "name: my-skill\ndescription: x\nallowed-tools: mcp__nightjar__cw_tickets cw_time Read",
        )
        .expect("valid");
        assert_eq!(
            s.tools().into_iter().collect::<Vec<_>>(),
            ["cw_tickets", "cw_time"]
        );
        assert_eq!(s.actions(), None);
    }

    #[test]
    fn user_skills_load_replace_builtins_and_export_round_trips() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mine = dir.path().join("msp-night-triage");
        std::fs::create_dir_all(&mine).expect("mkdir");
        std::fs::write(
            mine.join("SKILL.md"),
            "---\nname: msp-night-triage\ndescription: Our own triage.\nallowed-tools: cw_tickets\nmetadata:\n  nightjar-work-items: new-tickets\n---\nBody\n",
        )
        .expect("write");
        let bad = dir.path().join("broken");
        std::fs::create_dir_all(&bad).expect("mkdir");
        std::fs::write(bad.join("SKILL.md"), "no front matter").expect("write");
        let (skills, errors) = all(Some(dir.path()));
        assert_eq!(skills.len(), 3);
        let triage = skills
            .iter()
            .find(|s| s.name == "msp-night-triage")
            .expect("present");
        assert_eq!(triage.description, "Our own triage.");
        assert!(matches!(triage.source, Source::User(_)));
        assert_eq!(errors.len(), 1);
        assert!(errors[0].file.ends_with("broken/SKILL.md"), "{}", errors[0]);

        let out = tempfile::tempdir().expect("tempdir");
        let written = export(&builtin(), out.path()).expect("export");
        assert_eq!(written.len(), 3);
        let (again, errors) = load_dir(out.path());
        assert!(errors.is_empty(), "{errors:?}");
        let bodies = |skills: &[Skill]| {
            let mut b: Vec<(String, String)> = skills
                .iter()
                .map(|s| (s.name.clone(), s.body.clone()))
                .collect();
            b.sort();
            b
        };
        assert_eq!(bodies(&again), bodies(&builtin()));
    }
}
