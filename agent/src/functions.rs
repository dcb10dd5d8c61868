//! What the model sees: one function per action the skill allows, with the action's own
//! parameters flattened (`tickets_update {id, priority_id}`), mapped back to the MCP call
//! `{tool, action, params}` by the agent. Small models pick the right flat function far more
//! reliably than the nested `{action, params}` form of fourteen tools.
//!
//! Arguments are checked against the action's schema before anything is sent: unknown fields
//! are refused (a small model likes to add an unasked `priority_id`), `"1002"` becomes 1002 only
//! where the schema says integer, and where the item names the valid ids (boards, priorities,
//! ...) they are enums the value must be one of.

use std::collections::BTreeMap;

use schemas::event::Risk;
use schemas::tool::ActionHelp;
use serde_json::{Map, Value, json};

/// One function offered to the model.
#[derive(Debug, Clone, PartialEq)]
pub struct Function {
    /// `tickets_update`: the tool without `cw_`, then the action.
    pub name: String,
    pub tool: String,
    pub action: String,
    pub risk: Risk,
    pub description: String,
    /// JSON Schema of the arguments (the action's params), with the run's enums added.
    pub schema: Value,
    /// Values an argument must take for this item, checked but not shown (the ticket's own id):
    /// the schema the model sees stays the same across items, so the server's prompt cache
    /// keeps the whole tool section.
    pub pins: BTreeMap<String, Vec<Value>>,
}

impl Function {
    pub fn from_help(help: &ActionHelp) -> Function {
        let mut schema = help.schema.clone();
        strip_schema_noise(&mut schema);
        let mut description = help.info.summary.clone();
        if help.info.risk != Risk::Read {
            description.push_str(" (a change: the gate decides whether it runs)");
        }
        Function {
            name: function_name(&help.tool, &help.info.name),
            tool: help.tool.clone(),
            action: help.info.name.clone(),
            risk: help.info.risk,
            description,
            schema,
            pins: BTreeMap::new(),
        }
    }

    /// Requires `field`, if the action has it, to be one of `values`, without showing it.
    pub fn pin(&mut self, field: &str, values: &[Value]) {
        if self.schema["properties"].get(field).is_some() {
            self.pins.insert(field.to_owned(), values.to_vec());
        }
    }

    /// Restricts `field` to `values` (the valid taxonomy ids for this item), if the action has it.
    pub fn restrict(&mut self, field: &str, values: &[Value]) {
        if let Some(prop) = self.schema["properties"].get_mut(field) {
            let described = prop
                .get("description")
                .cloned()
                .unwrap_or(Value::String(String::new()));
            let ty = match values.first() {
                Some(Value::Number(_)) => "integer",
                _ => "string",
            };
            *prop = json!({"type": ty, "enum": values, "description": described});
        }
    }

    /// Removes `field` from what the model may set (for this item, e.g. a ticket's status).
    pub fn forbid(&mut self, field: &str) {
        if let Some(props) = self.schema["properties"].as_object_mut() {
            props.remove(field);
        }
    }

    /// The OpenAI `tools[]` entry.
    pub fn tool_spec(&self) -> Value {
        json!({
            "type": "function",
            "function": {
                "name": self.name,
                "description": self.description,
                "parameters": self.schema,
            }
        })
    }

    /// Checks and normalises the model's arguments; the errors are fed back to it.
    pub fn validate(&self, args: &Value) -> Result<Value, Vec<String>> {
        let empty = Map::new();
        let object = match args {
            Value::Object(o) => o,
            Value::Null => &empty,
            other => {
                return Err(vec![format!(
                    "arguments must be a JSON object, got {other}"
                )]);
            }
        };
        let props = self.schema["properties"]
            .as_object()
            .cloned()
            .unwrap_or_default();
        let mut errors = Vec::new();
        let mut out = Map::new();
        for (key, value) in object {
            let Some(prop) = props.get(key) else {
                let known: Vec<&str> = props.keys().map(String::as_str).collect();
                errors.push(format!(
                    "unknown field `{key}`; {} takes only: {}",
                    self.name,
                    known.join(", ")
                ));
                continue;
            };
            if value.is_null() {
                continue;
            }
            match coerce(prop, value) {
                Ok(v) => match self.pins.get(key) {
                    Some(allowed) if !allowed.contains(&v) => {
                        let list: Vec<String> = allowed.iter().map(Value::to_string).collect();
                        errors.push(format!(
                            "`{key}`: {v} is not this item's; use {}",
                            list.join(" or ")
                        ));
                    }
                    _ => {
                        out.insert(key.clone(), v);
                    }
                },
                Err(e) => errors.push(format!("`{key}`: {e}")),
            }
        }
        for required in self.schema["required"].as_array().into_iter().flatten() {
            if let Some(r) = required.as_str()
                && !out.contains_key(r)
                && !errors.iter().any(|e| e.starts_with(&format!("`{r}`")))
            {
                errors.push(format!("`{r}` is required"));
            }
        }
        if errors.is_empty() {
            Ok(Value::Object(out))
        } else {
            Err(errors)
        }
    }
}

/// `cw_tickets` + `update` -> `tickets_update`.
pub fn function_name(tool: &str, action: &str) -> String {
    format!("{}_{action}", tool.strip_prefix("cw_").unwrap_or(tool))
}

/// Drops what only confuses a small model: `$schema`, `title`, and the `fields` escape hatch
/// (raw ConnectWise fields are for interactive callers).
fn strip_schema_noise(schema: &mut Value) {
    if let Some(o) = schema.as_object_mut() {
        o.remove("$schema");
        o.remove("title");
        if let Some(props) = o.get_mut("properties").and_then(Value::as_object_mut) {
            props.remove("fields");
        }
        if let Some(req) = o.get_mut("required").and_then(Value::as_array_mut) {
            req.retain(|r| r != "fields");
        }
    }
}

/// The types a property allows (`"type": "integer"` or `["integer", "null"]`), and whether it
/// refers elsewhere (`$ref`, `anyOf`: accepted as given, the gate validates fully).
fn types(prop: &Value) -> Vec<&str> {
    match &prop["type"] {
        Value::String(t) => vec![t.as_str()],
        Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    }
}

fn coerce(prop: &Value, value: &Value) -> Result<Value, String> {
    let allowed = types(prop);
    let value = match (allowed.as_slice(), value) {
        (t, Value::String(s)) if t.contains(&"integer") && !t.contains(&"string") => s
            .trim()
            .parse::<i64>()
            .map(Value::from)
            .map_err(|_| format!("must be a whole number, got {s:?}"))?,
        (t, Value::String(s)) if t.contains(&"number") && !t.contains(&"string") => s
            .trim()
            .parse::<f64>()
            .ok()
            .and_then(|f| serde_json::Number::from_f64(f).map(Value::Number))
            .ok_or_else(|| format!("must be a number, got {s:?}"))?,
        (t, Value::String(s)) if t.contains(&"boolean") && !t.contains(&"string") => {
            match s.as_str() {
                "true" => Value::Bool(true),
                "false" => Value::Bool(false),
                _ => return Err(format!("must be true or false, got {s:?}")),
            }
        }
        (t, Value::Number(n)) if t.contains(&"integer") && !n.is_i64() && !n.is_u64() => {
            return Err(format!("must be a whole number, got {n}"));
        }
        (t, v) if !t.is_empty() && !t.iter().any(|ty| matches_type(ty, v)) => {
            return Err(format!("must be {}, got {v}", t.join(" or ")));
        }
        (_, v) => v.clone(),
    };
    if let Some(options) = prop["enum"].as_array()
        && !options.contains(&value)
    {
        let list: Vec<String> = options.iter().map(Value::to_string).collect();
        return Err(format!(
            "{value} is not one of the valid values: {}",
            list.join(", ")
        ));
    }
    Ok(value)
}

fn matches_type(ty: &str, v: &Value) -> bool {
    match ty {
        "integer" => v.is_i64() || v.is_u64(),
        "number" => v.is_number(),
        "string" => v.is_string(),
        "boolean" => v.is_boolean(),
        "array" => v.is_array(),
        "object" => v.is_object(),
        "null" => v.is_null(),
        _ => true,
    }
}

/// Tool calls written into the text instead of `tool_calls` (servers without native tool
/// calling, or a model that ignored the template): fenced ```json blocks or a bare JSON object
/// with `name` and `arguments`. Only names in `known` count.
pub fn recover_calls(content: &str, known: &BTreeMap<String, Function>) -> Vec<(String, Value)> {
    let mut found = Vec::new();
    let mut candidates: Vec<&str> = Vec::new();
    let mut rest = content;
    while let Some(start) = rest.find("```") {
        let after = &rest[start + 3..];
        let body_start = after.find('\n').map_or(0, |n| n + 1);
        let Some(end) = after[body_start..].find("```") else {
            break;
        };
        candidates.push(&after[body_start..body_start + end]);
        rest = &after[body_start + end + 3..];
    }
    if candidates.is_empty() {
        candidates.push(content);
    }
    for text in candidates {
        for value in json_objects(text) {
            let call = match &value {
                Value::Object(o) if o.contains_key("name") => Some(value.clone()),
                Value::Object(o) if o.contains_key("function") => Some(o["function"].clone()),
                _ => None,
            };
            let Some(call) = call else { continue };
            let Some(name) = call["name"].as_str().filter(|n| known.contains_key(*n)) else {
                continue;
            };
            let args = match &call["arguments"] {
                Value::String(s) => serde_json::from_str(s).unwrap_or(Value::Null),
                Value::Null => call.get("parameters").cloned().unwrap_or(Value::Null),
                other => other.clone(),
            };
            found.push((name.to_owned(), args));
        }
    }
    found
}

/// Every top-level JSON object in `text` (balanced braces outside strings).
fn json_objects(text: &str) -> Vec<Value> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'{' {
            i += 1;
            continue;
        }
        let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
        let mut end = None;
        for (j, &b) in bytes.iter().enumerate().skip(i) {
            if in_string {
                match (escaped, b) {
                    (true, _) => escaped = false,
                    (false, b'\\') => escaped = true,
                    (false, b'"') => in_string = false,
                    _ => {}
                }
                continue;
            }
            match b {
                b'"' => in_string = true,
                b'{' => depth += 1,
                b'}' => {
                    depth -= 1;
                    if depth == 0 {
                        end = Some(j);
                        break;
                    }
                }
                _ => {}
            }
        }
        match end.and_then(|e| serde_json::from_str(&text[i..=e]).ok().map(|v| (e, v))) {
            Some((e, v)) => {
                out.push(v);
                i = e + 1;
            }
            None => i += 1,
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use schemas::tool::ActionInfo;

    fn update() -> Function {
        Function::from_help(&ActionHelp {
            tool: "cw_tickets".into(),
            info: ActionInfo {
                name: "update".into(),
                summary: "Change fields.".into(),
                risk: Risk::Write,
                hard_for_agent: false,
            },
            schema: json!({
                "$schema": "x", "title": "TicketUpdate", "type": "object",
                "properties": {
                    "id": {"type": "integer"},
                    "priority_id": {"type": ["integer", "null"]},
                    "board_id": {"type": ["integer", "null"]},
                    "fields": {"type": ["array", "null"]},
                },
                "required": ["id"], "additionalProperties": false
            }),
            example: json!({}),
        })
    }

    #[test]
    fn arguments_are_checked_coerced_and_restricted() {
        let mut f = update();
        assert_eq!(f.name, "tickets_update");
        assert!(f.schema.get("$schema").is_none());
        assert!(f.schema["properties"].get("fields").is_none());
        assert_eq!(
            f.validate(&json!({"id": "1002", "priority_id": 3})),
            Ok(json!({"id": 1002, "priority_id": 3}))
        );
        let errors = f
            .validate(&json!({"priority_id": "high", "owner": 5}))
            .unwrap_err();
        assert!(
            errors.iter().any(|e| e.contains("unknown field `owner`")),
            "{errors:?}"
        );
        assert!(
            errors
                .iter()
                .any(|e| e.contains("`priority_id`: must be a whole number"))
        );
        assert!(errors.iter().any(|e| e == "`id` is required"), "{errors:?}");
        f.restrict("board_id", &[json!(1), json!(4)]);
        assert!(f.validate(&json!({"id": 1, "board_id": 4})).is_ok());
        let errors = f.validate(&json!({"id": 1, "board_id": 9})).unwrap_err();
        assert!(
            errors[0].contains("not one of the valid values: 1, 4"),
            "{errors:?}"
        );
        assert!(f.validate(&json!("nope")).is_err());
        f.pin("id", &[json!(7)]);
        assert!(
            f.schema["properties"]["id"].get("enum").is_none(),
            "pins are not shown"
        );
        assert!(f.validate(&json!({"id": 7})).is_ok());
        let errors = f.validate(&json!({"id": 8})).unwrap_err();
        assert_eq!(errors, ["`id`: 8 is not this item's; use 7"]);
        assert!(f.validate(&json!({"id": 1.5})).is_err());
    }

    #[test]
    fn calls_are_recovered_from_fenced_and_bare_json_in_content() {
        let known: BTreeMap<String, Function> = [("tickets_update".to_string(), update())].into();
        let fenced = "I will update it.\n```json\n{\"name\": \"tickets_update\", \"arguments\": {\"id\": 7}}\n```";
        assert_eq!(
            recover_calls(fenced, &known),
            vec![("tickets_update".to_string(), json!({"id": 7}))]
        );
        let bare =
            r#"{"name":"tickets_update","arguments":"{\"id\": 8, \"note\": \"a } brace\"}"}"#;
        assert_eq!(
            recover_calls(bare, &known)[0].1,
            json!({"id": 8, "note": "a } brace"})
        );
        let nested =
            r#"{"type":"function","function":{"name":"tickets_update","arguments":{"id":9}}}"#;
        assert_eq!(recover_calls(nested, &known)[0].1, json!({"id": 9}));
        assert!(recover_calls(r#"{"name": "rm_rf", "arguments": {}}"#, &known).is_empty());
        assert!(recover_calls("Done: set priority 3.", &known).is_empty());
    }
}
