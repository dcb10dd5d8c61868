//! Conformance with the spec files in `shared/connectwise/`: every served route exists with the
//! same method in the endpoint index; every field emitted for the core entities exists in the
//! models catalogue with a compatible type; enum values match the 2026.4 GET subset; nulls are
//! omitted.

#![allow(
    clippy::unwrap_used,
    reason = "helpers in a test file fail loudly, like the tests"
)]
#![allow(clippy::type_complexity, reason = "case tables are tuples by design")]

#[path = "support/client.rs"]
mod client;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use client::{Cw, start};
use reqwest::StatusCode;
use serde_json::{Value, json};

fn shared(file: &str) -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/connectwise")
        .join(file);
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

#[test]
fn every_route_exists_with_its_method_in_the_endpoint_index() {
    let index = shared("manage-endpoints-2025.1.json");
    let ops: BTreeSet<(String, String)> = index["operations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| {
            (
                o["method"].as_str().unwrap().to_string(),
                o["path"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let routes: Vec<_> = sandbox::manage_routes().collect();
    assert!(routes.len() > 70, "only {} routes", routes.len());
    let missing: Vec<_> = routes
        .iter()
        .filter(|(m, p)| !ops.contains(&(m.to_string(), p.to_string())))
        .collect();
    assert!(
        missing.is_empty(),
        "routes not in manage-endpoints-2025.1.json: {missing:?}"
    );
}

/// Checks a value against a model of the catalogue, collecting every problem.
struct Checker {
    models: Value,
    enums: Value,
    problems: BTreeSet<String>,
    seen: BTreeMap<String, usize>,
}

impl Checker {
    fn new() -> Self {
        Checker {
            models: shared("manage-models-2025.1.json")["models"].clone(),
            enums: shared("manage-get-subset-2026.4.openapi.json")["components"]["schemas"].clone(),
            problems: BTreeSet::new(),
            seen: BTreeMap::new(),
        }
    }

    fn check(&mut self, model: &str, value: &Value, at: &str) {
        *self.seen.entry(model.to_string()).or_default() += 1;
        let Some(props) = self.models[model]["properties"].as_object().cloned() else {
            self.problems
                .insert(format!("{at}: model {model} not in the catalogue"));
            return;
        };
        let Some(obj) = value.as_object() else {
            self.problems
                .insert(format!("{at}: {model} is not an object"));
            return;
        };
        for (key, v) in obj {
            let here = format!("{at}.{key}");
            let Some(prop) = props.get(key) else {
                self.problems
                    .insert(format!("{model}.{key} is not a field of {model}"));
                continue;
            };
            let ty = prop["type"].as_str().unwrap().to_string();
            self.check_type(&ty, v, &here, model, key);
            if let Some(allowed) = self.enums[model]["properties"][key]["enum"].as_array()
                && !allowed.contains(v)
            {
                self.problems
                    .insert(format!("{model}.{key} = {v} is not one of {allowed:?}"));
            }
        }
    }

    fn check_type(&mut self, ty: &str, v: &Value, at: &str, model: &str, key: &str) {
        let ok = match ty {
            _ if v.is_null() => false,
            "string" => v.is_string(),
            "string/date-time" => v
                .as_str()
                .is_some_and(|s| chrono::DateTime::parse_from_rfc3339(s).is_ok()),
            "integer/int32" => v.as_i64().is_some_and(|n| i32::try_from(n).is_ok()),
            "integer/int64" => v.is_i64(),
            "number/double" | "number/float" => v.is_number(),
            "boolean" => v.is_boolean(),
            "object" => true,
            "object<string,string>" => v
                .as_object()
                .is_some_and(|m| m.values().all(Value::is_string)),
            t if t.starts_with("array<") => {
                let inner = &t[6..t.len() - 1];
                match v.as_array() {
                    Some(items) => {
                        for (i, item) in items.iter().enumerate() {
                            self.check_type(inner, item, &format!("{at}[{i}]"), model, key);
                        }
                        true
                    }
                    None => false,
                }
            }
            t if self.models.get(t).is_some() => {
                self.check(t, v, at);
                true
            }
            _ => false,
        };
        if !ok {
            self.problems
                .insert(format!("{model}.{key}: {v} is not a {ty} (at {at})"));
        }
    }
}

#[tokio::test]
async fn emitted_fields_exist_with_compatible_types_and_enums() {
    let running = start().await;
    let cw = Cw::new(&running);
    let mut checker = Checker::new();
    let collections = [
        ("/service/tickets", "Ticket"),
        ("/time/entries", "TimeEntry"),
        ("/finance/agreements", "Agreement"),
        ("/company/companies", "Company"),
        ("/company/contacts", "Contact"),
        ("/system/members", "Member"),
        ("/service/boards", "Board"),
        ("/service/priorities", "Priority"),
        ("/company/configurations", "Company.Configuration"),
        ("/finance/invoices", "Invoice"),
        ("/time/workTypes", "WorkType"),
        ("/time/workRoles", "WorkRole"),
        ("/schedule/entries", "ScheduleEntry"),
        ("/sales/opportunities", "Opportunity"),
        ("/project/projects", "Project"),
    ];
    for (path, model) in collections {
        let rows = cw.all(path).await;
        assert!(!rows.is_empty(), "{path} is empty");
        for row in &rows {
            checker.check(model, row, path);
        }
    }
    for board in cw.all("/service/boards").await {
        let id = board["id"].as_i64().unwrap();
        for (child, model) in [
            ("statuses", "BoardStatus"),
            ("types", "BoardType"),
            ("subtypes", "BoardSubType"),
            ("items", "BoardItem"),
        ] {
            for row in cw.all(&format!("/service/boards/{id}/{child}")).await {
                checker.check(model, &row, child);
            }
        }
    }
    for agreement in cw.all("/finance/agreements").await {
        let id = agreement["id"].as_i64().unwrap();
        for row in cw.all(&format!("/finance/agreements/{id}/additions")).await {
            checker.check("Addition", &row, "additions");
        }
    }
    for ticket in cw.all("/service/tickets").await.iter().step_by(3) {
        let id = ticket["id"].as_i64().unwrap();
        for (child, model) in [
            ("notes", "ServiceNote"),
            ("tasks", "ServiceTask"),
            ("configurations", "ConfigurationReference"),
        ] {
            for row in cw.all(&format!("/service/tickets/{id}/{child}")).await {
                checker.check(model, &row, child);
            }
        }
    }
    checker.check("Info", &cw.get("/system/info").await.json(), "info");
    checker.check(
        "Count",
        &cw.get("/service/tickets/count").await.json(),
        "count",
    );

    // Records the sandbox creates conform too.
    let truth = running.truth().clone();
    let ticket = truth.untriaged[0].ticket_id;
    let created = cw
        .post(
            "/service/tickets",
            &json!({"summary": "Conformance", "company": {"id": 250}, "initialDescription": "x"}),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    checker.check("Ticket", &created.json(), "created ticket");
    let note = cw
        .post(
            &format!("/service/tickets/{ticket}/notes"),
            &json!({"text": "hi", "internalAnalysisFlag": true}),
        )
        .await;
    checker.check("ServiceNote", &note.json(), "created note");
    let time = cw
        .post("/time/entries", &json!({"chargeToId": ticket, "chargeToType": "ServiceTicket", "member": {"id": 102}, "timeStart": "2026-03-16T09:00:00Z", "timeEnd": "2026-03-16T09:30:00Z", "notes": "x"}))
        .await;
    assert_eq!(time.status, StatusCode::CREATED, "{}", time.text);
    checker.check("TimeEntry", &time.json(), "created time entry");
    let invoice = cw
        .post(
            "/finance/invoices",
            &json!({"type": "Standard", "company": {"id": 250}}),
        )
        .await;
    checker.check("Invoice", &invoice.json(), "created invoice");
    let addition = cw
        .post(
            "/finance/agreements/31/additions",
            &json!({"product": {"id": 501}, "billCustomer": "Billable", "quantity": 3}),
        )
        .await;
    assert_eq!(addition.status, StatusCode::CREATED, "{}", addition.text);
    checker.check("Addition", &addition.json(), "created addition");

    for model in [
        "Ticket",
        "ServiceNote",
        "TimeEntry",
        "Agreement",
        "Addition",
        "Company",
        "Contact",
        "Member",
        "Board",
        "BoardStatus",
        "Priority",
        "Company.Configuration",
        "Invoice",
    ] {
        assert!(
            checker.seen.get(model).copied().unwrap_or_default() > 0,
            "{model} never checked"
        );
    }
    assert!(
        checker.problems.is_empty(),
        "{} problems:\n{}",
        checker.problems.len(),
        checker
            .problems
            .iter()
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
    running.shutdown().await;
}

#[tokio::test]
async fn unknown_paths_and_methods_get_connectwise_errors() {
    let running = start().await;
    let cw = Cw::new(&running);
    let cases: &[(reqwest::Method, &str, StatusCode)] = &[
        (
            reqwest::Method::GET,
            "/service/tickets/41001/activities",
            StatusCode::NOT_FOUND,
        ),
        (
            reqwest::Method::GET,
            "/procurement/products",
            StatusCode::NOT_FOUND,
        ),
        (
            reqwest::Method::PUT,
            "/service/tickets/41001",
            StatusCode::METHOD_NOT_ALLOWED,
        ),
        (
            reqwest::Method::DELETE,
            "/company/companies/250",
            StatusCode::METHOD_NOT_ALLOWED,
        ),
        (
            reqwest::Method::GET,
            "/service/tickets/999999",
            StatusCode::NOT_FOUND,
        ),
        (
            reqwest::Method::GET,
            "/service/boards/99/statuses",
            StatusCode::NOT_FOUND,
        ),
    ];
    for (method, path, status) in cases {
        let a = cw.send(cw.request(method.clone(), path)).await;
        assert_eq!(a.status, *status, "{method} {path}: {}", a.text);
        let body = a.json();
        assert!(
            body["code"].is_string() && body["message"].is_string(),
            "{path}: {body}"
        );
        assert!(
            body.get("errors").is_some(),
            "errors key present (null) as the real API sends it"
        );
    }
    let a = cw.get("/service/tickets/999999").await;
    assert_eq!(
        a.text,
        r#"{"code":"NotFound","message":"Ticket 999999 not found","errors":null}"#
    );
    // Another codebase alias reaches the same API; a bogus one does not.
    let other = format!("{}/v2025_1/apis/3.0/system/info", running.base_url());
    assert_eq!(cw.get(&other).await.status, StatusCode::OK);
    let bogus = format!("{}/release9/apis/3.0/system/info", running.base_url());
    assert_eq!(cw.get(&bogus).await.status, StatusCode::NOT_FOUND);
    running.shutdown().await;
}
