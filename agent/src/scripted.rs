//! A scripted OpenAI-compatible chat server for tests and benchmarks: every request is answered
//! by a closure, as a real server would stream it (SSE chunks, tool-call arguments in pieces,
//! usage in the last chunk), or with the failures local servers really produce: an error inside
//! an HTTP 200 stream, an error status, a hang.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};

/// One scripted answer.
#[derive(Debug, Clone, PartialEq)]
pub enum Script {
    /// Native tool calls: (function name, arguments as text, possibly not JSON).
    Calls(Vec<(String, String)>),
    /// Plain content (a closing line, or a call written as JSON in the text).
    Text(String),
    /// HTTP 200, a first chunk, then `{"error": ...}` inside the stream.
    StreamError(String),
    /// An HTTP error status with an OpenAI-style error body.
    Status(u16, String),
    /// Never answers.
    Hang,
    /// Waits, then answers.
    After(Duration, Box<Script>),
}

impl Script {
    /// One native call with JSON arguments.
    pub fn call(name: &str, arguments: Value) -> Script {
        Script::Calls(vec![(name.to_owned(), arguments.to_string())])
    }
}

type Responder = dyn Fn(&Value) -> Script + Send + Sync;

#[derive(Clone)]
struct Shared {
    respond: Arc<Responder>,
    requests: Arc<Mutex<Vec<Value>>>,
}

/// A running scripted server.
pub struct ScriptedModel {
    url: String,
    requests: Arc<Mutex<Vec<Value>>>,
    task: tokio::task::JoinHandle<()>,
}

impl std::fmt::Debug for ScriptedModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScriptedModel")
            .field("url", &self.url)
            .finish()
    }
}

impl Drop for ScriptedModel {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl ScriptedModel {
    /// Serves on 127.0.0.1 (a free port), answering each request with `respond(request)`.
    pub async fn start(
        respond: impl Fn(&Value) -> Script + Send + Sync + 'static,
    ) -> ScriptedModel {
        let shared = Shared {
            respond: Arc::new(respond),
            requests: Arc::default(),
        };
        let requests = Arc::clone(&shared.requests);
        let app = Router::new()
            .route("/v1/chat/completions", post(chat))
            .with_state(shared);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a loopback port");
        let url = format!("http://{}/v1", listener.local_addr().expect("local addr"));
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        ScriptedModel {
            url,
            requests,
            task,
        }
    }

    /// Base URL, with `/v1`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Every request received so far.
    pub fn requests(&self) -> Vec<Value> {
        self.requests.lock().map(|r| r.clone()).unwrap_or_default()
    }
}

async fn chat(State(shared): State<Shared>, body: axum::body::Bytes) -> Response {
    let request: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    if let Ok(mut r) = shared.requests.lock() {
        r.push(request.clone());
    }
    let mut script = (shared.respond)(&request);
    loop {
        match script {
            Script::After(wait, next) => {
                tokio::time::sleep(wait).await;
                script = *next;
            }
            Script::Hang => {
                tokio::time::sleep(Duration::from_secs(3600)).await;
                return StatusCode::GATEWAY_TIMEOUT.into_response();
            }
            Script::Status(status, message) => {
                let status =
                    StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
                let body = json!({"error": {"message": message, "type": "server_error", "param": null, "code": null}});
                return (status, axum::Json(body)).into_response();
            }
            other => return sse(&request, other),
        }
    }
}

fn chunk(delta: Value, finish: Option<&str>) -> String {
    let c = json!({
        "id": "chatcmpl-scripted", "object": "chat.completion.chunk", "created": 0,
        "model": "scripted",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    });
    format!("data: {c}\n\n")
}

fn sse(request: &Value, script: Script) -> Response {
    let prompt = request["messages"].to_string().len() as u64 / 4;
    let mut body = chunk(json!({"role": "assistant", "content": ""}), None);
    let (finish, completion) = match script {
        Script::Calls(calls) => {
            let mut size = 0;
            for (index, (name, args)) in calls.iter().enumerate() {
                // The arguments in two pieces, as llama.cpp streams them.
                let mid = (0..=args.len() / 2)
                    .rev()
                    .find(|&i| args.is_char_boundary(i))
                    .unwrap_or(0);
                body.push_str(&chunk(
                    json!({"tool_calls": [{"index": index, "id": format!("call_{index}"), "type": "function",
                        "function": {"name": name, "arguments": &args[..mid]}}]}),
                    None,
                ));
                body.push_str(&chunk(
                    json!({"tool_calls": [{"index": index, "function": {"arguments": &args[mid..]}}]}),
                    None,
                ));
                size += name.len() + args.len();
            }
            ("tool_calls", size as u64 / 4)
        }
        Script::Text(text) => {
            body.push_str(&chunk(json!({"content": text}), None));
            ("stop", text.len() as u64 / 4)
        }
        Script::StreamError(message) => {
            let e = json!({"error": {"code": 500, "message": message, "type": "server_error"}});
            body.push_str(&format!("data: {e}\n\n"));
            return ([("content-type", "text/event-stream")], body).into_response();
        }
        _ => unreachable!("handled before"),
    };
    body.push_str(&chunk(json!({}), Some(finish)));
    let usage = json!({
        "id": "chatcmpl-scripted", "object": "chat.completion.chunk", "created": 0, "model": "scripted",
        "choices": [], "usage": {"prompt_tokens": prompt, "completion_tokens": completion.max(1),
        "total_tokens": prompt + completion.max(1)},
    });
    body.push_str(&format!("data: {usage}\n\ndata: [DONE]\n\n"));
    ([("content-type", "text/event-stream")], body).into_response()
}

/// The ticket a triage request is about (its user message names `Work item: #41115 ...`).
pub fn ticket_of(request: &Value) -> Option<i64> {
    let user = request["messages"][1]["content"].as_str()?;
    user.split("Work item: #")
        .nth(1)?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// How many model turns of this conversation came before (its assistant messages).
pub fn turn(request: &Value) -> usize {
    request["messages"]
        .as_array()
        .map(|m| m.iter().filter(|m| m["role"] == "assistant").count())
        .unwrap_or(0)
}

/// What the agent gave back for the model's earlier calls (tool results, or results in text).
pub fn feedback(request: &Value) -> String {
    request["messages"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|m| {
            m["role"] == "tool"
                || m["content"]
                    .as_str()
                    .is_some_and(|c| c.starts_with("Result of"))
        })
        .filter_map(|m| m["content"].as_str())
        .collect::<Vec<_>>()
        .join("\n")
}

/// The first number after `word ` in `text`.
fn number_after(text: &str, word: &str) -> Option<i64> {
    text.split(&format!("{word} "))
        .nth(1)?
        .split(|c: char| !c.is_ascii_digit())
        .next()?
        .parse()
        .ok()
}

/// A dispatcher for triage decisions ([`crate::triage`]): copies the first precedent's labels;
/// with none, takes the first board's first type and subtype and the least urgent priority.
pub fn follow_precedent(req: &Value) -> Script {
    let user = req["messages"][1]["content"].as_str().unwrap_or_default();
    let source = match user.split("\n1. #").nth(1) {
        Some(first) => first.lines().next().unwrap_or_default().to_owned(),
        None => {
            let board = user.split("Board ").nth(1).unwrap_or_default();
            let priorities = user
                .split("Priorities (most urgent first): ")
                .nth(1)
                .unwrap_or("");
            let last = priorities
                .trim_end_matches(['.', '\n'])
                .rsplit("; ")
                .next()
                .unwrap_or("");
            format!(
                "board {}; type {}; subtype {}; priority {}",
                board.split(' ').next().unwrap_or("0"),
                number_after(board, "types").unwrap_or(0),
                number_after(board, "subtypes").unwrap_or(0),
                last.split(' ').next().unwrap_or("0")
            )
        }
    };
    Script::Text(
        json!({
            "board_id": number_after(&source, "board"),
            "type_id": number_after(&source, "type"),
            "subtype_id": number_after(&source, "subtype"),
            "priority_id": number_after(&source, "priority"),
            "plan": "as before", "note": "seen this one",
        })
        .to_string(),
    )
}
