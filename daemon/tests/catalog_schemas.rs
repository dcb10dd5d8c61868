//! The catalog against JSON Schema itself, not only our own parsers: every action's params schema
//! and every tool's MCP input schema is a valid schema, every example validates against both, a
//! broken one does not, and what the gate answers for the action table and for `help` validates
//! against the golden `ToolOutcome` schema (the help's embedded example against its embedded
//! schema). One walk over the whole catalog, offline.
#![allow(clippy::unwrap_used, reason = "test helpers abort on any failure")]

mod support;

use daemon::catalog::{TOOL_NAMES, catalog};
use daemon::gate::{Caller, Gate};
use daemon::mcp;
use jsonschema::Validator;
use schemas::event::Mode;
use schemas::tool::{ToolCall, ToolOutcome};
use serde_json::{Map, Value, json};

/// The golden wire schemas, as a reviewer sees them.
const TOOL_CALL_SCHEMA: &str = include_str!("../../schemas/json/tool-call.schema.json");
const TOOL_OUTCOME_SCHEMA: &str = include_str!("../../schemas/json/tool-outcome.schema.json");

/// A validator for `schema`, after checking it against its draft's meta-schema. Known formats are
/// checked (`date-time`, `email`); the ones it does not know (schemars' `int64`, `uint32`) pass.
fn validator(what: &str, schema: &Value) -> Validator {
    if let Err(e) = jsonschema::meta::validate(schema) {
        panic!("{what}: not a valid JSON Schema: {e}");
    }
    jsonschema::options()
        .should_validate_formats(true)
        .build(schema)
        .unwrap_or_else(|e| panic!("{what}: the schema does not compile: {e}"))
}

fn assert_valid(what: &str, validator: &Validator, instance: &Value) {
    let errors: Vec<String> = validator
        .iter_errors(instance)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "{what}: {instance} is invalid: {errors:?}"
    );
}

fn assert_invalid(what: &str, validator: &Validator, instance: &Value) {
    assert!(
        !validator.is_valid(instance),
        "{what}: {instance} should not validate"
    );
}

/// `params` with its first required, typed field set to a value of another JSON type, if the
/// schema has such a field.
fn wrong_type(schema: &Value, params: &Value) -> Option<Value> {
    let required = schema["required"].as_array()?;
    for field in required.iter().filter_map(Value::as_str) {
        let types: Vec<&str> = match &schema["properties"][field]["type"] {
            Value::String(t) => vec![t.as_str()],
            Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
            _ => continue,
        };
        let accepts = |t: &str| types.contains(&t) || (t == "integer" && types.contains(&"number"));
        let wrong = [
            ("array", json!([])),
            ("object", json!({})),
            ("boolean", json!(true)),
            ("string", json!("x")),
        ]
        .into_iter()
        .find(|(t, _)| !accepts(t))?
        .1;
        let mut broken = params.clone();
        broken[field] = wrong;
        return Some(broken);
    }
    None
}

/// The arguments an MCP client sends for a complete call: the call less its `tool`.
fn arguments(call: &Value) -> Value {
    let mut args: Map<String, Value> = call.as_object().cloned().unwrap_or_default();
    args.remove("tool");
    Value::Object(args)
}

async fn answer(gate: &Gate, tool: &str, action: Option<&str>, params: Value) -> Value {
    let call = ToolCall {
        tool: tool.to_owned(),
        action: action.map(str::to_owned),
        params,
        confirm: false,
    };
    let outcome: ToolOutcome = gate
        .dispatch(&Caller::interactive("schemas", Mode::Enforce), call)
        .await;
    serde_json::to_value(outcome).unwrap()
}

#[tokio::test]
async fn every_schema_example_and_help_in_the_catalog_validates() {
    let dir = tempfile::tempdir().unwrap();
    let gate = support::offline_gate(dir.path());
    let tool_call = validator("ToolCall", &serde_json::from_str(TOOL_CALL_SCHEMA).unwrap());
    let tool_outcome = validator(
        "ToolOutcome",
        &serde_json::from_str(TOOL_OUTCOME_SCHEMA).unwrap(),
    );

    let tools = catalog().tools();
    let names: Vec<&str> = tools.iter().map(|t| t.name).collect();
    assert_eq!(
        names, TOOL_NAMES,
        "the catalog is the fourteen tools, in order"
    );
    let listed: Vec<&str> = mcp::tools().iter().map(|t| t.name.as_ref()).collect();
    assert_eq!(listed, TOOL_NAMES, "MCP lists the fourteen tools, in order");

    let (mut actions, mut examples, mut wrong_types) = (0, 0, 0);
    for (tool, listed) in tools.iter().zip(mcp::tools()) {
        let input_schema = Value::Object((*listed.input_schema).clone());
        let input = validator(&format!("{} input schema", tool.name), &input_schema);
        assert_valid(tool.name, &input, &json!({}));
        assert_invalid(tool.name, &input, &json!({"action": "no_such_action"}));

        let table = answer(&gate, tool.name, None, json!({})).await;
        assert_eq!(table["status"], "actions", "{}: {table}", tool.name);
        assert_valid(
            &format!("{} action table", tool.name),
            &tool_outcome,
            &table,
        );
        let rows: Vec<&str> = table["actions"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|row| row["name"].as_str())
            .collect();
        let own: Vec<&str> = tool.actions.iter().map(|a| a.name).collect();
        assert_eq!(rows, own, "{}: the table lists every action", tool.name);

        for action in &tool.actions {
            let what = format!("{}.{}", tool.name, action.name);
            actions += 1;

            // The params schema, the example against it, and two broken examples.
            let params = validator(&what, &action.schema);
            let example = &action.example["params"];
            assert_valid(&what, &params, example);
            let mut unknown = example.clone();
            unknown["not_a_parameter"] = json!(true);
            assert_invalid(&format!("{what} (unknown field)"), &params, &unknown);
            if let Some(broken) = wrong_type(&action.schema, example) {
                assert_invalid(&format!("{what} (wrong type)"), &params, &broken);
                wrong_types += 1;
            }

            // The example as a whole call, on the wire and as MCP arguments.
            assert_valid(&what, &tool_call, &action.example);
            let call = arguments(&action.example);
            assert_valid(&format!("{what} as MCP arguments"), &input, &call);
            assert_valid(
                &format!("{what} help as MCP arguments"),
                &input,
                &json!({"action": "help", "params": {"for": action.name}}),
            );
            examples += 1;

            // What `help` answers: a valid outcome whose example fits its own schema.
            let help = answer(&gate, tool.name, Some("help"), json!({"for": action.name})).await;
            assert_eq!(help["status"], "help", "{what}: {help}");
            assert_valid(&format!("{what} help"), &tool_outcome, &help);
            let embedded = validator(&format!("{what} help schema"), &help["schema"]);
            assert_valid(
                &format!("{what} help example"),
                &embedded,
                &help["example"]["params"],
            );
            assert_eq!(help["example"], action.example, "{what}");
        }
    }
    println!(
        "catalog schemas: {} tools, {actions} actions, {examples} examples validated \
         ({wrong_types} wrong-type variants refused)",
        tools.len()
    );
}
