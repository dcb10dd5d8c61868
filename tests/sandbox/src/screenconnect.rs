//! ScreenConnect (ConnectWise Control) Session Manager API subset under `/sc`, following the
//! unofficial `screenconnect-session-manager-api-1.0.0.unofficial.openapi.yaml`: sessions (one
//! Access session per managed device) and commands sent as session events. Auth is the RESTful
//! API Manager extension's shared secret in the `CTRLAuthHeader` header.

use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::auth;
use crate::server::{Reply, Req, Shared};
use crate::tenant::{Tenant, ts};

fn error(status: StatusCode, message: &str) -> Reply {
    Reply::json(
        status,
        &json!({"message": message, "code": status.canonical_reason().unwrap_or("Error").replace(' ', "")}),
    )
}

pub fn handle(s: &Shared, req: &Req) -> Reply {
    if !auth::check_sc(&req.headers, &s.creds) {
        return error(
            StatusCode::UNAUTHORIZED,
            "Unauthorized: the CTRLAuthHeader secret is missing or wrong.",
        );
    }
    let path = req
        .path
        .trim_start_matches("/sc")
        .trim_end_matches('/')
        .to_string();
    let segs: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    match (req.method.as_str(), segs.as_slice()) {
        ("GET", ["api", "v1", "sessions"]) => sessions(s, req),
        ("POST", ["api", "v1", "sessions"]) => create(s, req),
        ("GET", ["api", "v1", "sessions", id]) => session(s, id),
        ("GET", ["api", "v1", "sessions", id, "details"]) => details(s, id),
        ("POST", ["api", "v1", "sessions", id, "events"]) => event(s, req, id),
        _ => error(StatusCode::NOT_FOUND, "Not found"),
    }
}

/// A `sessionFilter` of the simple forms `Name = 'X'`, `Name LIKE '%X%'`, or
/// `GuestConnectedCount > 0` (the SQL-like session-group syntax, reduced to what tools use).
fn filter_matches(session: &Value, filter: &str) -> bool {
    let f = filter.trim();
    let lower = f.to_ascii_lowercase();
    let value = |rest: &str| rest.trim().trim_matches('\'').trim_matches('"').to_string();
    if let Some(rest) = lower.strip_prefix("name like").map(|_| &f[9..]) {
        let pattern = value(rest).to_lowercase().replace('%', "");
        return session["name"]
            .as_str()
            .is_some_and(|n| n.to_lowercase().contains(&pattern));
    }
    if let Some(rest) = lower.strip_prefix("name =").map(|_| &f[6..]) {
        return session["name"]
            .as_str()
            .is_some_and(|n| n.eq_ignore_ascii_case(&value(rest)));
    }
    if lower.starts_with("guestconnectedcount > 0") {
        return session["guestConnectedCount"].as_i64().unwrap_or_default() > 0;
    }
    true
}

fn sessions(s: &Shared, req: &Req) -> Reply {
    let t = s.read();
    let filter = req.param("sessionFilter").unwrap_or_default();
    let since = req
        .param("lastAlteredSinceVersion")
        .and_then(|v| v.parse::<i64>().ok());
    let rows: Vec<Value> = t
        .sc
        .get("sessions")
        .map(|m| {
            m.values()
                .filter(|x| filter.is_empty() || filter_matches(x, filter))
                .filter(|x| {
                    since.is_none_or(|v| x["lastAlteredVersion"].as_i64().unwrap_or_default() > v)
                })
                .cloned()
                .collect()
        })
        .unwrap_or_default();
    Reply::json(StatusCode::OK, &Value::Array(rows))
}

fn session(s: &Shared, id: &str) -> Reply {
    match s.read().sc.get("sessions").and_then(|m| m.get(id)) {
        Some(v) => Reply::json(StatusCode::OK, v),
        None => error(StatusCode::NOT_FOUND, "Session not found"),
    }
}

fn events_of(t: &Tenant, id: &str) -> Vec<Value> {
    t.sc.get("events")
        .map(|m| {
            m.range(format!("{id}/")..format!("{id}0"))
                .map(|(_, e)| {
                    let mut e = e.clone();
                    if let Some(map) = e.as_object_mut() {
                        map.remove("sessionID");
                    }
                    e
                })
                .collect()
        })
        .unwrap_or_default()
}

fn details(s: &Shared, id: &str) -> Reply {
    let t = s.read();
    let Some(session) = t.sc.get("sessions").and_then(|m| m.get(id)) else {
        return error(StatusCode::NOT_FOUND, "Session not found");
    };
    Reply::json(
        StatusCode::OK,
        &json!({"sessionID": id, "events": events_of(&t, id), "connections": session["activeConnections"]}),
    )
}

fn create(s: &Shared, req: &Req) -> Reply {
    let body = match req.json_body() {
        Ok(b) => b,
        Err(e) => return error(StatusCode::BAD_REQUEST, &e),
    };
    let kind = body["sessionType"].as_str().unwrap_or_default();
    if !["Support", "Meeting"].contains(&kind) {
        return error(
            StatusCode::BAD_REQUEST,
            "sessionType must be Support or Meeting.",
        );
    }
    let (Some(name), Some(host)) = (body["name"].as_str(), body["host"].as_str()) else {
        return error(StatusCode::BAD_REQUEST, "name and host are required.");
    };
    let mut t = s.write();
    let n = t.sc.get("sessions").map(|m| m.len()).unwrap_or_default();
    let id = format!("5c5e0000-0000-4000-8000-{:012x}", n + 1);
    let version = 5000 + n as i64;
    let session = json!({
        "sessionID": id, "name": name, "sessionType": kind, "host": host,
        "isPublic": body["isPublic"].as_bool().unwrap_or(false),
        "code": body["code"].as_str().map(str::to_string).unwrap_or_else(|| format!("{:06}", 100_000 + n)),
        "customPropertyValues": body.get("customPropertyValues").cloned().unwrap_or(json!(["", "", "", "", "", "", "", ""])),
        "activeConnections": [], "lastAlteredVersion": version,
        "hostConnectedCount": 0, "guestConnectedCount": 0,
    });
    t.sc.entry("sessions")
        .or_default()
        .insert(id, session.clone());
    Reply::json(StatusCode::CREATED, &session)
}

/// What a command prints on the simulated guest.
fn command_output(command: &str, machine: &str) -> String {
    let c = command.trim().to_ascii_lowercase();
    if c.starts_with("hostname") {
        machine.to_string()
    } else if c.starts_with("ipconfig") {
        "Windows IP Configuration\n\nEthernet adapter Ethernet:\n   IPv4 Address. . . . . . . . . . . : 10.10.1.20".into()
    } else if c.starts_with("whoami") {
        format!("{}\\user", machine.split('-').next().unwrap_or("WORKGROUP"))
    } else {
        format!("Command '{}' completed with exit code 0.", command.trim())
    }
}

/// Adds an event; a `QueuedCommand` runs on the guest at once and adds its `RanCommand` output.
fn event(s: &Shared, req: &Req, id: &str) -> Reply {
    let body = match req.json_body() {
        Ok(b) => b,
        Err(e) => return error(StatusCode::BAD_REQUEST, &e),
    };
    let Some(event_type) = body["eventType"].as_str().map(str::to_string) else {
        return error(StatusCode::BAD_REQUEST, "eventType is required.");
    };
    let mut t = s.write();
    let Some(session) = t.sc.get("sessions").and_then(|m| m.get(id)).cloned() else {
        return error(StatusCode::NOT_FOUND, "Session not found");
    };
    let now = t.tick();
    let data = body["data"].as_str().unwrap_or_default().to_string();
    let count = events_of(&t, id).len();
    let events = t.sc.entry("events").or_default();
    events.insert(
        format!("{id}/{count:06}"),
        json!({"sessionID": id, "eventType": event_type, "data": data, "host": body["host"].as_str().unwrap_or("SandboxAPI"), "time": ts(now)}),
    );
    if event_type == "QueuedCommand" {
        let online = session["guestConnectedCount"].as_i64().unwrap_or_default() > 0;
        let output = if online {
            command_output(&data, session["name"].as_str().unwrap_or_default())
        } else {
            "The guest is offline; the command stays queued.".to_string()
        };
        if online {
            events.insert(
                format!("{id}/{:06}", count + 1),
                json!({"sessionID": id, "eventType": "RanCommand", "data": output, "host": "", "time": ts(now)}),
            );
        }
    }
    Reply::empty(StatusCode::NO_CONTENT)
}
