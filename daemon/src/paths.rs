//! Where Nightjar keeps things: config, state (the event log, checkpoints, the instance lock) and
//! runtime (sockets). XDG locations by default, each overridable by flag or environment.

use std::io;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Environment variables that override each directory.
pub const CONFIG_DIR_ENV: &str = "NIGHTJAR_CONFIG_DIR";
pub const STATE_DIR_ENV: &str = "NIGHTJAR_STATE_DIR";
pub const RUNTIME_DIR_ENV: &str = "NIGHTJAR_RUNTIME_DIR";

/// The three directories and the files inside them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Paths {
    pub config_dir: PathBuf,
    pub state_dir: PathBuf,
    pub runtime_dir: PathBuf,
}

/// Explicit overrides, usually from command-line flags; `None` falls back to env, then XDG.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    pub config_dir: Option<PathBuf>,
    pub state_dir: Option<PathBuf>,
    pub runtime_dir: Option<PathBuf>,
}

impl Paths {
    /// Resolve from overrides, then `NIGHTJAR_*_DIR`, then the XDG variables, then `$HOME`.
    pub fn resolve(overrides: &Overrides) -> Result<Paths, PathError> {
        Self::resolve_with(overrides, |name| {
            std::env::var_os(name).filter(|v| !v.is_empty())
        })
    }

    /// `resolve` with an injectable environment, for tests.
    pub fn resolve_with(
        overrides: &Overrides,
        env: impl Fn(&str) -> Option<std::ffi::OsString>,
    ) -> Result<Paths, PathError> {
        let home = || env("HOME").map(PathBuf::from).ok_or(PathError::NoHome);
        let pick = |flag: &Option<PathBuf>,
                    own: &str,
                    xdg: &str,
                    fallback: &dyn Fn() -> Result<PathBuf, PathError>| {
            if let Some(p) = flag {
                return Ok(p.clone());
            }
            if let Some(p) = env(own) {
                return Ok(PathBuf::from(p));
            }
            if let Some(p) = env(xdg) {
                return Ok(PathBuf::from(p).join("nightjar"));
            }
            fallback()
        };
        let config_dir = pick(
            &overrides.config_dir,
            CONFIG_DIR_ENV,
            "XDG_CONFIG_HOME",
            &|| Ok(home()?.join(".config").join("nightjar")),
        )?;
        let state_dir = pick(
            &overrides.state_dir,
            STATE_DIR_ENV,
            "XDG_STATE_HOME",
            &|| Ok(home()?.join(".local").join("state").join("nightjar")),
        )?;
        let runtime_dir = pick(
            &overrides.runtime_dir,
            RUNTIME_DIR_ENV,
            "XDG_RUNTIME_DIR",
            &|| {
                let uid = nix::unistd::geteuid();
                Ok(std::env::temp_dir().join(format!("nightjar-{uid}")))
            },
        )?;
        Ok(Paths {
            config_dir,
            state_dir,
            runtime_dir,
        })
    }

    pub fn config_file(&self) -> PathBuf {
        self.config_dir.join("config.toml")
    }
    /// The sled database holding the event log.
    pub fn log_dir(&self) -> PathBuf {
        self.state_dir.join("log")
    }
    /// The newest checkpoint, outside the sled directory.
    pub fn checkpoint_file(&self) -> PathBuf {
        self.state_dir.join("checkpoint.json")
    }
    /// Held (flock) by the running daemon; contains its pid.
    pub fn lock_file(&self) -> PathBuf {
        self.state_dir.join("nightjard.pid")
    }
    pub fn control_socket(&self) -> PathBuf {
        self.runtime_dir.join("control.sock")
    }

    /// Proposals waiting for a verdict, one file each (the exact requests, unredacted).
    pub fn proposals_dir(&self) -> PathBuf {
        self.state_dir.join("proposals")
    }

    /// The ticket history index (`history::HistoryIndex`).
    pub fn history_dir(&self) -> PathBuf {
        self.state_dir.join("history")
    }

    /// The user's own skills, one folder each with its `SKILL.md`.
    pub fn skills_dir(&self) -> PathBuf {
        self.config_dir.join("skills")
    }

    /// The MCP socket `nightjarctl mcp` bridges to.
    pub fn mcp_socket(&self) -> PathBuf {
        self.runtime_dir.join("mcp.sock")
    }

    /// Create the directories the daemon writes to, owner-only (0700).
    pub fn create_private_dirs(&self) -> io::Result<()> {
        for dir in [&self.config_dir, &self.state_dir, &self.runtime_dir] {
            create_private_dir(dir)?;
        }
        Ok(())
    }
}

/// Create `dir` (and parents) and make sure it is 0700, even if it already existed.
pub fn create_private_dir(dir: &Path) -> io::Result<()> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
}

#[derive(Debug, thiserror::Error)]
pub enum PathError {
    #[error("cannot find a home directory: set HOME, or NIGHTJAR_CONFIG_DIR / NIGHTJAR_STATE_DIR")]
    NoHome,
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;
    use std::ffi::OsString;

    fn resolve(flags: Overrides, env: &[(&str, &str)]) -> Paths {
        let env: HashMap<String, OsString> = env
            .iter()
            .map(|(k, v)| (k.to_string(), OsString::from(v)))
            .collect();
        Paths::resolve_with(&flags, |k| env.get(k).cloned()).unwrap()
    }

    #[test]
    fn precedence_is_flag_then_own_env_then_xdg_then_home() {
        let home = resolve(Overrides::default(), &[("HOME", "/h")]);
        assert_eq!(home.config_dir, PathBuf::from("/h/.config/nightjar"));
        assert_eq!(home.state_dir, PathBuf::from("/h/.local/state/nightjar"));

        let xdg = resolve(
            Overrides::default(),
            &[
                ("HOME", "/h"),
                ("XDG_CONFIG_HOME", "/x/c"),
                ("XDG_STATE_HOME", "/x/s"),
                ("XDG_RUNTIME_DIR", "/run/u"),
            ],
        );
        assert_eq!(xdg.config_dir, PathBuf::from("/x/c/nightjar"));
        assert_eq!(xdg.state_dir, PathBuf::from("/x/s/nightjar"));
        assert_eq!(xdg.runtime_dir, PathBuf::from("/run/u/nightjar"));

        let own = resolve(
            Overrides::default(),
            &[
                ("XDG_STATE_HOME", "/x/s"),
                (STATE_DIR_ENV, "/own/s"),
                (CONFIG_DIR_ENV, "/own/c"),
                (RUNTIME_DIR_ENV, "/own/r"),
            ],
        );
        assert_eq!(own.state_dir, PathBuf::from("/own/s"));
        assert_eq!(own.control_socket(), PathBuf::from("/own/r/control.sock"));

        let flag = resolve(
            Overrides {
                state_dir: Some("/flag/s".into()),
                ..Overrides::default()
            },
            &[(STATE_DIR_ENV, "/own/s"), ("HOME", "/h")],
        );
        assert_eq!(flag.state_dir, PathBuf::from("/flag/s"));
        assert_eq!(flag.log_dir(), PathBuf::from("/flag/s/log"));
    }

    #[test]
    fn private_dirs_are_0700_even_when_they_existed() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("a/b");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        create_private_dir(&dir).unwrap();
        let mode = std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700);
    }
}
