//! Redaction against the sandbox tenant: every ticket and note is fetched over real HTTP from the
//! Manage API, redacted with `redact::value`, and checked against the personal data the seed
//! planted (its ground truth): none of it may survive, each kind must leave its typed
//! placeholder, and ordinary ticket content must come through untouched.

use std::collections::{BTreeMap, BTreeSet};

use daemon::redact;
use serde_json::Value;

const CLIENT_ID: &str = "00000000-0000-0000-0000-000000000000";
const PAGE_SIZE: usize = 1000;

/// Every record of a Manage list endpoint, page by page.
async fn get_all(http: &reqwest::Client, url: &str) -> Vec<Value> {
    let mut all = Vec::new();
    for page in 1.. {
        let response = http
            .get(format!("{url}?page={page}&pageSize={PAGE_SIZE}"))
            .basic_auth("sandbox+sandbox_pub", Some("sandbox_priv"))
            .header("clientId", CLIENT_ID)
            .send()
            .await
            .expect("the sandbox answers");
        assert!(
            response.status().is_success(),
            "{url}: {}",
            response.status()
        );
        let rows: Vec<Value> = response.json().await.expect("a JSON array");
        let n = rows.len();
        all.extend(rows);
        if n < PAGE_SIZE {
            break;
        }
    }
    all
}

/// Every string leaf that differs between `raw` and `redacted`, as (path, raw, redacted).
fn changed(raw: &Value, redacted: &Value, path: &str, out: &mut Vec<(String, String, String)>) {
    match (raw, redacted) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, v) in a {
                changed(v, &b[k], &format!("{path}.{k}"), out);
            }
        }
        (Value::Array(a), Value::Array(b)) => {
            for (i, (x, y)) in a.iter().zip(b).enumerate() {
                changed(x, y, &format!("{path}[{i}]"), out);
            }
        }
        (a, b) if a != b => out.push((path.to_owned(), a.to_string(), b.to_string())),
        _ => {}
    }
}

/// The placeholder each planted kind must leave behind.
fn placeholder(kind: &str) -> &'static str {
    match kind {
        "email" => redact::EMAIL,
        "phone" => redact::PHONE,
        "card" => redact::CARD,
        "ssn" => redact::SSN,
        "ip" => redact::IPV4,
        "token" | "password" => redact::SECRET,
        other => panic!("the sandbox plants a kind this test does not know: {other}"),
    }
}

#[tokio::test]
async fn planted_personal_data_never_survives_redaction() {
    let running = sandbox::start(sandbox::Config::default()).await.unwrap();
    let truth = running.truth().clone();
    let kinds: BTreeSet<&str> = truth.pii.iter().map(|p| p.kind.as_str()).collect();
    assert_eq!(
        kinds,
        BTreeSet::from(["card", "email", "ip", "password", "phone", "ssn", "token"]),
        "the sandbox should plant every kind"
    );

    let http = reqwest::Client::new();
    let base = running.manage_url();
    let tickets = get_all(&http, &format!("{base}/service/tickets")).await;
    assert!(tickets.len() >= 100, "only {} tickets", tickets.len());

    // (ticket id, raw ticket, raw notes)
    let mut bodies: Vec<(i64, Value, Vec<Value>)> = Vec::new();
    for ticket in tickets {
        let id = ticket["id"].as_i64().unwrap();
        let notes = get_all(&http, &format!("{base}/service/tickets/{id}/notes")).await;
        bodies.push((id, ticket, notes));
    }
    running.shutdown().await;

    let raw_all = serde_json::to_string(&bodies).unwrap();
    let redacted: Vec<(i64, Value, Vec<Value>)> = bodies
        .iter()
        .map(|(id, t, notes)| {
            (
                *id,
                redact::value(t),
                notes.iter().map(redact::value).collect(),
            )
        })
        .collect();
    let redacted_all = serde_json::to_string(&redacted).unwrap();

    // Nothing planted survives, though all of it was really served.
    for p in &truth.pii {
        assert!(
            raw_all.contains(&p.value),
            "{} {:?} not served",
            p.kind,
            p.value
        );
        assert!(
            !redacted_all.contains(&p.value),
            "{} {:?} survived redaction",
            p.kind,
            p.value
        );
    }

    // Each planted value left the placeholder of its kind in the note it was planted in.
    let notes_by_id: BTreeMap<i64, (&Value, &Value)> = bodies
        .iter()
        .zip(&redacted)
        .flat_map(|((_, _, raw), (_, _, red))| raw.iter().zip(red))
        .map(|(raw, red)| (raw["id"].as_i64().unwrap(), (raw, red)))
        .collect();
    let planted_notes: BTreeSet<i64> = truth.pii.iter().map(|p| p.location.id).collect();
    for p in &truth.pii {
        assert_eq!(p.location.entity, "ServiceNote");
        let (_, red) = notes_by_id[&p.location.id];
        let text = red[&p.location.field].as_str().unwrap();
        assert!(
            text.contains(placeholder(&p.kind)),
            "{} in note {}: {text}",
            p.kind,
            p.location.id
        );
    }

    // The ticket's contact fields are personal data too: the email has a shape, the phone number
    // is an unformatted 10-digit run that only its key gives away.
    let mut contacts = 0;
    for ((id, raw, _), (_, red, _)) in bodies.iter().zip(&redacted) {
        for (field, expected) in [
            ("contactEmailAddress", redact::EMAIL),
            ("contactPhoneNumber", redact::PHONE),
        ] {
            if raw[field].as_str().is_some_and(|v| !v.is_empty()) {
                contacts += 1;
                assert_eq!(red[field], expected, "ticket {id}: {field} {}", raw[field]);
            }
        }
    }
    assert!(contacts > 0, "no ticket carries contact details");

    // Ordinary content comes through: every summary word for word, and every field outside the
    // planted notes except the ones that hold a contact's personal data.
    let mut false_positives = Vec::new();
    for ((id, raw_ticket, raw_notes), (_, red_ticket, red_notes)) in bodies.iter().zip(&redacted) {
        assert_eq!(
            raw_ticket["summary"], red_ticket["summary"],
            "ticket {id}: the summary changed"
        );
        let mut diffs = Vec::new();
        changed(raw_ticket, red_ticket, &format!("ticket {id}"), &mut diffs);
        for (raw, red) in raw_notes.iter().zip(red_notes) {
            let note = raw["id"].as_i64().unwrap();
            if !planted_notes.contains(&note) {
                changed(raw, red, &format!("ticket {id} note {note}"), &mut diffs);
            }
        }
        false_positives.extend(diffs.into_iter().filter(|(path, _, _)| {
            !path.ends_with(".contactEmailAddress") && !path.ends_with(".contactPhoneNumber")
        }));
    }
    assert!(
        false_positives.is_empty(),
        "redaction changed ordinary content:\n{}",
        false_positives
            .iter()
            .map(|(p, a, b)| format!("{p}: {a} -> {b}"))
            .collect::<Vec<_>>()
            .join("\n")
    );
}
