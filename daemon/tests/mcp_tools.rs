//! The surface a model sees, under review: the MCP tool list (names, descriptions, input schemas,
//! annotations), the server's instructions and every action's help (schema and example) are
//! snapshotted, so any change to them shows up as a diff. Rewrite with `INSTA_UPDATE=always`
//! (or `cargo insta review`) after an intended change.

use daemon::catalog::catalog;
use daemon::mcp;
use serde_json::Value;

#[test]
fn the_tool_list_a_model_sees() {
    let tools: Vec<Value> = mcp::tools()
        .iter()
        .map(|t| serde_json::to_value(t).unwrap_or(Value::Null))
        .collect();
    insta::assert_json_snapshot!("mcp_tools", tools);
    insta::assert_snapshot!("mcp_instructions", mcp::INSTRUCTIONS);
}

#[test]
fn every_action_help_a_model_reads() {
    let help: Vec<Value> = catalog()
        .tools()
        .iter()
        .flat_map(|t| t.actions.iter().map(move |a| (t, a)))
        .map(|(t, a)| serde_json::to_value(t.help(a)).unwrap_or(Value::Null))
        .collect();
    insta::assert_json_snapshot!("action_help", help);
}
