//! Loading the configuration: built-in defaults, then `config.toml`, then environment variables.
//! (Command-line flags are applied by the binary on top.)

use std::path::{Path, PathBuf};

use schemas::config::Config;
use sha2::{Digest, Sha256};

/// Environment variable overriding `daemon.log_filter`.
pub const LOG_ENV: &str = "NIGHTJAR_LOG";

/// The effective configuration and where it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Loaded {
    pub config: Config,
    /// Layers that contributed, lowest first: `defaults`, the file path, `env:NAME`.
    pub sources: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The message carries the line, the column and the reason (from the TOML parser).
    #[error(
        "invalid configuration file {path}:\n{message}\nFix the file, or print a fresh one with `nightjarctl config default`."
    )]
    Invalid { path: PathBuf, message: String },
    #[error("cannot read configuration file {path}: {source}")]
    Unreadable {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Load `path` (if it exists) over the defaults, then apply the environment.
pub fn load(path: &Path, env: impl Fn(&str) -> Option<String>) -> Result<Loaded, ConfigError> {
    let mut sources = vec!["defaults".to_owned()];
    let mut config = match std::fs::read_to_string(path) {
        Ok(text) => {
            sources.push(path.display().to_string());
            parse(&text).map_err(|message| ConfigError::Invalid {
                path: path.to_owned(),
                message,
            })?
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Config::default(),
        Err(source) => {
            return Err(ConfigError::Unreadable {
                path: path.to_owned(),
                source,
            });
        }
    };
    if let Some(filter) = env(LOG_ENV) {
        config.daemon.log_filter = filter;
        sources.push(format!("env:{LOG_ENV}"));
    }
    Ok(Loaded { config, sources })
}

/// Parse a configuration text; the error is the parser's message with line and reason.
pub fn parse(text: &str) -> Result<Config, String> {
    toml::from_str(text).map_err(|e| e.to_string())
}

/// SHA-256 of the canonical JSON of the configuration (it holds no secrets).
pub fn digest(config: &Config) -> String {
    let bytes = schemas::canonical::to_vec(config).unwrap_or_default();
    hex::encode(Sha256::digest(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(text: &str, expected_fragments: &[&str]) {
        let err = parse(text).unwrap_err();
        for fragment in expected_fragments {
            assert!(err.contains(fragment), "missing {fragment:?} in:\n{err}");
        }
    }

    #[test]
    fn bad_files_are_refused_with_line_and_reason() {
        check(
            "[daemon]\ncheckpoint_every = \"often\"\n",
            &["line 2", "invalid type"],
        );
        check(
            "[daemon]\nlog_filter = \"info\"\nmax_conections = 3\n",
            &["line 3", "unknown field `max_conections`"],
        );
        check("[deamon]\n", &["line 1", "unknown field `deamon`"]);
        check("[daemon\n", &["line 1"]);
    }

    #[test]
    fn file_then_env_layering() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        let none = load(&path, |_| None).unwrap();
        assert_eq!(none.config, Config::default());
        assert_eq!(none.sources, vec!["defaults"]);

        std::fs::write(
            &path,
            "[daemon]\ncheckpoint_every = 10\nlog_filter = \"debug\"\n",
        )
        .unwrap();
        let loaded = load(&path, |k| (k == LOG_ENV).then(|| "trace".to_owned())).unwrap();
        assert_eq!(loaded.config.daemon.checkpoint_every, 10);
        assert_eq!(loaded.config.daemon.log_filter, "trace");
        assert_eq!(loaded.sources.len(), 3);
        assert_ne!(digest(&loaded.config), digest(&Config::default()));
    }
}
