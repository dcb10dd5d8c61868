//! Compact views over the sandbox tenant's real records, fetched through the Manage connector:
//! no `_info`, no nulls, references as `{id, name}`, kept values unchanged, and the size each view
//! saves (printed; each view must stay under its bound, a quarter of the raw bytes for tickets).

use daemon::connector::manage::Query;
use daemon::connector::{Budget, Call, Connectors, Settings, retry::Policy};
use daemon::view::{Kind, compact};
use serde_json::Value;

fn check_clean(path: &str, value: &Value, problems: &mut Vec<String>) {
    match value {
        Value::Null => problems.push(format!("{path}: null")),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .for_each(|(i, v)| check_clean(&format!("{path}[{i}]"), v, problems)),
        Value::Object(map) => {
            for (k, v) in map {
                if k.starts_with('_') {
                    problems.push(format!("{path}.{k}: link object kept"));
                }
                check_clean(&format!("{path}.{k}"), v, problems);
            }
        }
        _ => {}
    }
}

#[tokio::test]
async fn compact_views_of_every_core_record_are_clean_and_small() {
    let tenant = sandbox::start(sandbox::Config::default())
        .await
        .expect("sandbox");
    let settings = Settings::from_env_lines(&tenant.env_lines()).expect("settings");
    let connectors = Connectors::new(&settings, &Policy::default()).expect("connectors");
    let call = Call::new(Budget { max_calls: 1000 });

    let ticket_id = tenant.truth().untriaged[0].ticket_id;
    let notes_path = format!("/service/tickets/{ticket_id}/notes");
    let cases = [
        (Kind::Ticket, "/service/tickets", 0.25),
        (Kind::Note, notes_path.as_str(), 0.7),
        (Kind::TimeEntry, "/time/entries", 0.3),
        (Kind::Company, "/company/companies", 0.25),
        (Kind::Contact, "/company/contacts", 0.3),
        (Kind::Member, "/system/members", 0.25),
        (Kind::Configuration, "/company/configurations", 0.35),
        (Kind::Agreement, "/finance/agreements", 0.25),
    ];
    for (kind, path, max_ratio) in cases {
        let listing = connectors
            .manage
            .list(&call, path, &Query::new(), 1000)
            .await
            .expect("list");
        assert!(!listing.rows.is_empty(), "{path}: no rows");
        let (mut raw_bytes, mut view_bytes) = (0usize, 0usize);
        let mut problems = Vec::new();
        for raw in &listing.rows {
            let view = compact(kind, raw);
            check_clean(path, &view, &mut problems);
            assert_eq!(view["id"], raw["id"], "{path}: id kept");
            for (field, value) in view.as_object().expect("object") {
                match (value, raw.get(field)) {
                    (Value::Object(r), Some(Value::Object(orig))) if r.contains_key("id") => {
                        assert_eq!(r.get("id"), orig.get("id"), "{path}.{field}: reference id");
                        assert!(
                            r.keys().all(|k| k == "id" || k == "name"),
                            "{path}.{field}: {value}"
                        );
                    }
                    (Value::String(_) | Value::Number(_) | Value::Bool(_), Some(orig)) => {
                        assert_eq!(value, orig, "{path}.{field}: value changed");
                    }
                    _ => {}
                }
            }
            raw_bytes += raw.to_string().len();
            view_bytes += view.to_string().len();
        }
        assert!(problems.is_empty(), "{problems:?}");
        let ratio = view_bytes as f64 / raw_bytes as f64;
        println!(
            "{kind:?}: {} records, raw {raw_bytes} B, compact {view_bytes} B ({:.0}%)",
            listing.rows.len(),
            ratio * 100.0
        );
        assert!(
            ratio <= max_ratio,
            "{kind:?}: compact is {:.0}% of raw",
            ratio * 100.0
        );
    }
    tenant.shutdown().await;
}
