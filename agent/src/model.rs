//! The model: any OpenAI-compatible chat-completions server (Ollama, llama.cpp, vLLM, LM Studio),
//! through async-openai's raw-JSON (`byot`) streaming API.
//!
//! Raw JSON rather than the typed API because local servers break its closed enums (an
//! unknown `finish_reason`, a tool call without `type`) and the whole reply would be lost.
//! Streaming because llama.cpp can answer HTTP 200 and then put an error inside the stream: each
//! chunk is checked for an `error` object, and a broken stream is an error, not an empty reply.

use std::collections::BTreeMap;
use std::time::Duration;

use async_openai::Client;
use async_openai::config::OpenAIConfig;
use async_openai::error::OpenAIError;
use futures::StreamExt;
use serde_json::{Value, json};

/// Where the model is and how to ask it.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelConfig {
    /// Base URL including `/v1`, e.g. `http://127.0.0.1:11434/v1` (`NIGHTJAR_MODEL_URL`).
    pub url: String,
    /// Model name as the server knows it (`NIGHTJAR_MODEL`).
    pub model: String,
    /// Sent as `Authorization: Bearer`; local servers ignore it. Never read from `OPENAI_API_KEY`.
    pub api_key: String,
    /// Always sent: without it a small model can run to the full context for minutes.
    pub max_tokens: u32,
    pub temperature: f32,
}

impl ModelConfig {
    /// From `NIGHTJAR_MODEL_URL` / `NIGHTJAR_MODEL` (and `NIGHTJAR_MODEL_KEY`), if both are set.
    pub fn from_env() -> Option<ModelConfig> {
        let url = std::env::var("NIGHTJAR_MODEL_URL").ok()?;
        let model = std::env::var("NIGHTJAR_MODEL").ok()?;
        Some(ModelConfig {
            url,
            model,
            api_key: std::env::var("NIGHTJAR_MODEL_KEY").unwrap_or_else(|_| "local".into()),
            ..ModelConfig::default()
        })
    }
}

impl Default for ModelConfig {
    fn default() -> Self {
        ModelConfig {
            url: "http://127.0.0.1:8091/v1".into(),
            model: "qwen2.5-coder-0.5b-instruct".into(),
            api_key: "local".into(),
            max_tokens: 384,
            temperature: 0.0,
        }
    }
}

/// A tool call as the model made it: a name and its arguments as text (possibly not JSON).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawCall {
    pub id: String,
    pub name: String,
    pub arguments: String,
}

/// One assistant turn.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Reply {
    pub content: String,
    pub calls: Vec<RawCall>,
    pub finish_reason: Option<String>,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    /// True when the server reported usage; otherwise the counts are estimates (4 bytes a token).
    pub usage_reported: bool,
}

/// Why the model gave no reply.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ModelError {
    /// No connection (refused, DNS, reset before a status line).
    #[error("the model server at {url} is unreachable: {detail}")]
    Unreachable { url: String, detail: String },
    /// An HTTP error status.
    #[error("the model server answered HTTP {status}: {message}")]
    Http { status: u16, message: String },
    /// HTTP 200, then an error inside the stream (or a stream that broke).
    #[error("the model's stream failed after HTTP 200: {0}")]
    Stream(String),
    #[error("the model did not answer within {0} s")]
    Timeout(u64),
}

impl ModelError {
    /// Whether the run should stop (the server is gone) rather than just this item.
    pub fn is_fatal(&self) -> bool {
        matches!(self, ModelError::Unreachable { .. })
    }
}

/// A client for one model.
#[derive(Debug, Clone)]
pub struct Model {
    config: ModelConfig,
    client: Client<OpenAIConfig>,
}

impl Model {
    pub fn new(config: ModelConfig) -> Model {
        // Both set explicitly: `OpenAIConfig::new()` would read OPENAI_API_KEY and OPENAI_BASE_URL
        // from the environment and could send a developer's real key elsewhere.
        let openai = OpenAIConfig::new()
            .with_api_base(config.url.trim_end_matches('/'))
            .with_api_key(config.api_key.clone());
        Model {
            client: Client::with_config(openai),
            config,
        }
    }

    pub fn config(&self) -> &ModelConfig {
        &self.config
    }

    /// One chat turn. `tools` are OpenAI function tools; `response_format` asks for constrained
    /// decoding where the server supports it. Gives up after `timeout`.
    pub async fn chat(
        &self,
        messages: &[Value],
        tools: &[Value],
        response_format: Option<&Value>,
        timeout: Duration,
    ) -> Result<Reply, ModelError> {
        let mut request = json!({
            "model": self.config.model,
            "messages": messages,
            "max_tokens": self.config.max_tokens,
            "temperature": self.config.temperature,
            "stream": true,
            "stream_options": {"include_usage": true},
        });
        if !tools.is_empty() {
            request["tools"] = Value::Array(tools.to_vec());
        }
        if let Some(format) = response_format {
            request["response_format"] = format.clone();
        }
        let prompt_bytes = serde_json::to_string(messages).map_or(0, |s| s.len() as u64);
        let attempt = || tokio::time::timeout(timeout, self.stream(request.clone()));
        let mut outcome = attempt().await;
        // A pooled connection the server closed while idle fails before any answer: asking
        // again once is safe (a completion changes nothing) and tells a stale connection from a
        // server that is gone.
        if let Ok(Err(ModelError::Unreachable { .. })) = &outcome {
            tokio::time::sleep(Duration::from_millis(500)).await;
            outcome = attempt().await;
        }
        match outcome {
            Ok(Ok(mut reply)) => {
                if !reply.usage_reported {
                    reply.prompt_tokens = prompt_bytes.div_ceil(4);
                    let out = reply.content.len()
                        + reply
                            .calls
                            .iter()
                            .map(|c| c.name.len() + c.arguments.len())
                            .sum::<usize>();
                    reply.completion_tokens = (out as u64).div_ceil(4);
                }
                Ok(reply)
            }
            Ok(Err(e)) => Err(e),
            Err(_) => Err(ModelError::Timeout(timeout.as_secs())),
        }
    }

    async fn stream(&self, request: Value) -> Result<Reply, ModelError> {
        let mut stream = self
            .client
            .chat()
            .create_stream_byot::<Value, Value>(request)
            .await
            .map_err(|e| self.error(e))?;
        let mut reply = Reply::default();
        // Per tool-call index: (id, name, arguments), as llama.cpp and vLLM send them in pieces.
        let mut calls: BTreeMap<u64, (String, String, String)> = BTreeMap::new();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| match self.error(e) {
                ModelError::Unreachable { detail, .. } => ModelError::Stream(detail),
                other => other,
            })?;
            if let Some(error) = chunk.get("error") {
                let message = error
                    .get("message")
                    .and_then(Value::as_str)
                    .map_or_else(|| error.to_string(), str::to_owned);
                return Err(ModelError::Stream(message));
            }
            if let Some(usage) = chunk.get("usage").filter(|u| u.is_object()) {
                reply.prompt_tokens = usage["prompt_tokens"].as_u64().unwrap_or(0);
                reply.completion_tokens = usage["completion_tokens"].as_u64().unwrap_or(0);
                reply.usage_reported = true;
            }
            for choice in chunk["choices"].as_array().into_iter().flatten() {
                let delta = &choice["delta"];
                if let Some(text) = delta["content"].as_str() {
                    reply.content.push_str(text);
                }
                for (n, tc) in delta["tool_calls"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .enumerate()
                {
                    let index = tc["index"].as_u64().unwrap_or(n as u64);
                    let entry = calls.entry(index).or_default();
                    if let Some(id) = tc["id"].as_str() {
                        entry.0 = id.to_owned();
                    }
                    if let Some(name) = tc["function"]["name"].as_str() {
                        entry.1.push_str(name);
                    }
                    if let Some(args) = tc["function"]["arguments"].as_str() {
                        entry.2.push_str(args);
                    }
                }
                if let Some(reason) = choice["finish_reason"].as_str().filter(|r| !r.is_empty()) {
                    reply.finish_reason = Some(reason.to_owned());
                }
            }
        }
        reply.calls = calls
            .into_iter()
            .map(|(index, (id, name, arguments))| RawCall {
                id: if id.is_empty() {
                    format!("call_{index}")
                } else {
                    id
                },
                name,
                arguments,
            })
            .collect();
        Ok(reply)
    }

    fn error(&self, e: OpenAIError) -> ModelError {
        match e {
            OpenAIError::Reqwest(e) if e.status().is_none() && !e.is_decode() => {
                ModelError::Unreachable {
                    url: self.config.url.clone(),
                    detail: root_cause(&e),
                }
            }
            OpenAIError::ApiError(api) => ModelError::Http {
                status: api.status_code.as_u16(),
                message: api.api_error.message,
            },
            OpenAIError::StreamError(e) => stream_error(&e.to_string()),
            other => ModelError::Stream(other.to_string()),
        }
    }
}

/// A stream error's text, with the HTTP status when async-openai reports a bad status that way.
fn stream_error(text: &str) -> ModelError {
    let status = text
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|w| w.parse::<u16>().ok())
        .find(|s| (400..600).contains(s));
    match status {
        Some(status) if text.contains("status") || text.contains("Status") => ModelError::Http {
            status,
            message: text.to_owned(),
        },
        _ => ModelError::Stream(text.to_owned()),
    }
}

fn root_cause(e: &dyn std::error::Error) -> String {
    let mut cause = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        cause = s.to_string();
        source = s.source();
    }
    cause
}
