//! The agent's only handle on ConnectWise: an MCP client session with the daemon. In the daemon
//! it runs over an in-memory duplex stream bound to the run's `skill` principal; the same code
//! runs over the local socket.

use rmcp::model::CallToolRequestParams;
use rmcp::service::RunningService;
use rmcp::{RoleClient, ServiceExt};
use schemas::tool::{ActionHelp, ToolOutcome};
use serde_json::{Value, json};

/// An open MCP session.
pub struct Session {
    client: RunningService<RoleClient, ()>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Session")
    }
}

/// Why a call got no outcome (the session itself failed; a refused call is an outcome).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the MCP session with the daemon failed: {0}")]
pub struct SessionError(pub String);

impl Session {
    /// Handshakes over any byte stream (the in-process duplex, a Unix socket).
    pub async fn connect<S>(stream: S) -> Result<Session, SessionError>
    where
        S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + 'static,
    {
        let client = ().serve(stream).await.map_err(|e| SessionError(e.to_string()))?;
        Ok(Session { client })
    }

    /// One tool call; the daemon's answer as a [`ToolOutcome`].
    pub async fn call(
        &self,
        tool: &str,
        action: &str,
        params: Value,
        confirm: bool,
    ) -> Result<ToolOutcome, SessionError> {
        let arguments = json!({"action": action, "params": params, "confirm": confirm});
        let Value::Object(map) = arguments else {
            unreachable!("a json! object literal is an object")
        };
        let result = self
            .client
            .call_tool(CallToolRequestParams::new(tool.to_owned()).with_arguments(map))
            .await
            .map_err(|e| SessionError(e.to_string()))?;
        let content = result
            .structured_content
            .ok_or_else(|| SessionError("a tool result without structured content".into()))?;
        serde_json::from_value(content)
            .map_err(|e| SessionError(format!("unreadable outcome: {e}")))
    }

    /// A read's result, or the outcome that was not one as an error text.
    pub async fn read(&self, tool: &str, action: &str, params: Value) -> Result<Value, String> {
        match self.call(tool, action, params, false).await {
            Ok(ToolOutcome::Ok { result, .. }) => Ok(result),
            Ok(other) => Err(format!(
                "{tool} {action}: {}",
                serde_json::to_string(&other).unwrap_or_default()
            )),
            Err(e) => Err(e.to_string()),
        }
    }

    /// An action's manual (schema, example).
    pub async fn help(&self, tool: &str, action: &str) -> Result<ActionHelp, String> {
        match self.call(tool, "help", json!({"for": action}), false).await {
            Ok(ToolOutcome::Help(help)) => Ok(*help),
            Ok(other) => Err(format!(
                "{tool} help {action}: {}",
                serde_json::to_string(&other).unwrap_or_default()
            )),
            Err(e) => Err(e.to_string()),
        }
    }

    /// Ends the session.
    pub async fn close(self) {
        let _ = self.client.cancel().await;
    }
}
