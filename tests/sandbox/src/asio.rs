//! Asio (ConnectWise RMM) partner API subset under `/rmm`, following
//! `asio-partner-api-2.2.8.openapi.yaml`: OAuth2 client-credentials tokens that expire, companies
//! and sites, devices (endpoints) with health and patch status, scripts and script runs.

use axum::http::StatusCode;
use chrono::Duration;
use serde_json::{Value, json};

use crate::auth::TokenState;
use crate::server::{Reply, Req, Shared};
use crate::tenant::ts;

fn error(status: StatusCode, code: &str, message: &str) -> Reply {
    Reply::json(status, &json!({"code": code, "message": message}))
}

fn not_found(what: &str) -> Reply {
    error(
        StatusCode::NOT_FOUND,
        "NotFound",
        &format!("{what} not found"),
    )
}

pub fn handle(s: &Shared, req: &Req) -> Reply {
    let path = req
        .path
        .trim_start_matches("/rmm")
        .trim_end_matches('/')
        .to_string();
    let segs: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let method = req.method.as_str();
    if method == "POST" && path == "/v1/token" {
        return token(s, req);
    }
    match s.tokens.check(&req.headers) {
        TokenState::Valid => {}
        TokenState::Expired => {
            return error(
                StatusCode::UNAUTHORIZED,
                "TokenExpired",
                "The access token has expired; request a new one from /v1/token.",
            );
        }
        TokenState::Missing | TokenState::Unknown => {
            return error(
                StatusCode::UNAUTHORIZED,
                "Unauthorized",
                "A valid bearer token from /v1/token is required.",
            );
        }
    }
    match (method, segs.as_slice()) {
        ("GET", ["v1", "rate_limits"]) => rate_limits(),
        ("GET", ["api", "platform", "v1", "company", "companies"]) => all(s, "companies"),
        ("GET", ["api", "platform", "v1", "company", "companies", id]) => {
            one(s, "companies", id, "Company")
        }
        ("GET", ["api", "platform", "v1", "company", "companies", id, "sites"]) => sites(s, id),
        ("GET", ["api", "platform", "v1", "automation", "scripts"]) => all(s, "scripts"),
        (
            "POST",
            [
                "api",
                "platform",
                "v2",
                "device",
                "categories",
                category,
                "endpoints",
            ],
        ) => endpoints(s, req, category),
        (
            "GET",
            [
                "api",
                "platform",
                "v2",
                "device",
                "companies",
                c,
                "sites",
                site,
                "endpoints",
                e,
            ],
        ) => endpoint(s, c, site, e),
        ("GET", ["api", "platform", "v2", "device", "endpoints", "heartbeat"]) => heartbeat(s, req),
        ("GET", ["api", "platform", "v2", "device", "endpoints", e, metric]) => usage(s, e, metric),
        ("GET", ["api", "platform", "v2", "patching", e, "patches"]) => patches(s, e),
        (
            "POST",
            [
                "api",
                "platform",
                "v2",
                "automation",
                "endpoints",
                "schedule-tasks",
            ],
        ) => schedule(s, req),
        (
            "GET",
            [
                "api",
                "platform",
                "v2",
                "automation",
                "endpoints",
                e,
                "tasks",
                "summary",
            ],
        ) => task_summary(s, e),
        (
            "GET",
            [
                "api",
                "platform",
                "v2",
                "automation",
                "tasks",
                task,
                "instances",
                instance,
                "results",
            ],
        ) => results(s, task, instance),
        _ => not_found("Resource"),
    }
}

/// `POST /v1/token` with `{grant_type, client_id, client_secret, scope}` as JSON or a form.
fn token(s: &Shared, req: &Req) -> Reply {
    let body: Value = serde_json::from_slice(&req.body).unwrap_or_else(|_| {
        let text = String::from_utf8_lossy(&req.body).to_string();
        let uri: Result<axum::http::Uri, _> = format!("/?{text}").parse();
        let pairs = uri
            .ok()
            .and_then(|u| axum::extract::Query::<Vec<(String, String)>>::try_from_uri(&u).ok())
            .map(|q| q.0)
            .unwrap_or_default();
        Value::Object(pairs.into_iter().map(|(k, v)| (k, json!(v))).collect())
    });
    let field = |k: &str| body.get(k).and_then(Value::as_str).unwrap_or_default();
    if field("grant_type") != "client_credentials" {
        return Reply::json(
            StatusCode::BAD_REQUEST,
            &json!({"error": "unsupported_grant_type", "error_description": "grant_type must be client_credentials"}),
        );
    }
    if field("client_id") != s.creds.rmm_client_id
        || field("client_secret") != s.creds.rmm_client_secret
    {
        return Reply::json(
            StatusCode::UNAUTHORIZED,
            &json!({"error": "invalid_client", "error_description": "Unknown client_id or wrong client_secret"}),
        );
    }
    let scope = if field("scope").is_empty() {
        "platform.companies.read platform.devices.read platform.automation.create platform.patching.read"
    } else {
        field("scope")
    };
    Reply::json(
        StatusCode::OK,
        &json!({"access_token": s.tokens.issue(), "token_type": "Bearer", "expires_in": s.tokens.ttl().as_secs(), "scope": scope}),
    )
}

fn rate_limits() -> Reply {
    let family =
        |name: &str| json!({name: {"limit": 500, "remaining": 499, "reset": 1_893_456_000}});
    Reply::json(
        StatusCode::OK,
        &json!({"resources": {"asset": family("partner-asset-endpoints-details"), "automation": family("partner-automation-tasks"), "company": family("partner-companies")}}),
    )
}

fn all(s: &Shared, kind: &'static str) -> Reply {
    let t = s.read();
    let rows: Vec<Value> = t
        .rmm
        .get(kind)
        .map(|m| m.values().cloned().collect())
        .unwrap_or_default();
    Reply::json(StatusCode::OK, &Value::Array(rows))
}

fn one(s: &Shared, kind: &'static str, id: &str, label: &str) -> Reply {
    match s.read().rmm.get(kind).and_then(|m| m.get(id)) {
        Some(v) => Reply::json(StatusCode::OK, v),
        None => not_found(label),
    }
}

fn sites(s: &Shared, company: &str) -> Reply {
    let t = s.read();
    if !t
        .rmm
        .get("companies")
        .is_some_and(|m| m.contains_key(company))
    {
        return not_found("Company");
    }
    let rows: Vec<Value> = t
        .rmm
        .get("sites")
        .map(|m| {
            m.values()
                .filter(|s| s["company"]["id"] == company)
                .cloned()
                .collect()
        })
        .unwrap_or_default();
    Reply::json(StatusCode::OK, &Value::Array(rows))
}

/// The stored device without the sandbox's private keys (`health`, `patch`).
fn public(device: &Value) -> Value {
    let mut out = device.clone();
    if let Some(map) = out.as_object_mut() {
        map.remove("health");
        map.remove("patch");
    }
    out
}

/// `POST .../device/categories/{category}/endpoints`: devices of the given companies, sites or
/// endpoints, grouped by company and site, `limit`/`cursor` paged with a `Link: rel="next"`.
fn endpoints(s: &Shared, req: &Req, category: &str) -> Reply {
    if !["platform", "network", "cloud", "all"].contains(&category) {
        return error(
            StatusCode::BAD_REQUEST,
            "BadRequest",
            "category must be platform, network, cloud or all",
        );
    }
    let body = match req.json_body() {
        Ok(b) => b,
        Err(e) => return error(StatusCode::BAD_REQUEST, "BadRequest", &e),
    };
    let resource_type = body["resourceType"].as_str().unwrap_or_default();
    let resources: Vec<&str> = body["resources"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let max = match resource_type {
        "company" => 4,
        "site" => 10,
        "endpoint" => 500,
        _ => {
            return error(
                StatusCode::BAD_REQUEST,
                "BadRequest",
                "resourceType must be company, site or endpoint",
            );
        }
    };
    if resources.is_empty() || resources.len() > max {
        return error(
            StatusCode::BAD_REQUEST,
            "BadRequest",
            &format!("resources must hold 1 to {max} ids for resourceType {resource_type}"),
        );
    }
    let limit = req
        .param("limit")
        .and_then(|l| l.parse::<usize>().ok())
        .unwrap_or(500)
        .clamp(1, 500);
    let cursor = req
        .param("cursor")
        .and_then(|c| c.parse::<usize>().ok())
        .unwrap_or(0);
    let fields: Vec<String> = req
        .param("field")
        .map(|f| f.split(',').map(|x| x.trim().to_string()).collect())
        .unwrap_or_default();
    let t = s.read();
    let matching: Vec<&Value> = t
        .rmm
        .get("endpoints")
        .map(|m| {
            m.values()
                .filter(|d| {
                    let key = match resource_type {
                        "company" => &d["companyID"],
                        "site" => &d["siteID"],
                        _ => &d["endpointID"],
                    };
                    key.as_str().is_some_and(|k| resources.contains(&k))
                })
                .collect()
        })
        .unwrap_or_default();
    let page: Vec<&&Value> = matching.iter().skip(cursor).take(limit).collect();
    let mut groups: Vec<Value> = Vec::new();
    for d in page {
        let p = &d["platform"];
        let mut e = json!({
            "endpointID": d["endpointID"], "friendlyName": p["friendlyName"], "deviceName": p["deviceName"],
            "resourceType": p["resourceType"], "endpointType": p["endpointType"],
            "createdAt": p["createdAt"], "modifiedAt": p["modifiedAt"],
        });
        for f in &fields {
            if let Some(v) = p.get(f.as_str()) {
                e[f.as_str()] = v.clone();
            }
        }
        match groups
            .iter_mut()
            .find(|g| g["companyID"] == d["companyID"] && g["siteID"] == d["siteID"])
        {
            Some(g) => {
                if let Some(list) = g["endpoints"].as_array_mut() {
                    list.push(e);
                }
            }
            None => groups.push(
                json!({"companyID": d["companyID"], "siteID": d["siteID"], "endpoints": [e]}),
            ),
        }
    }
    let mut reply = Reply::json(StatusCode::OK, &json!({ "platform": groups }));
    if cursor + limit < matching.len() {
        let next = format!(
            "{}{}?cursor={}&limit={limit}",
            req.origin,
            req.path,
            cursor + limit
        );
        reply
            .headers
            .push(("link", format!("<{next}>; rel=\"next\"")));
    }
    reply
}

fn device<'a>(t: &'a crate::tenant::Tenant, id: &str) -> Option<&'a Value> {
    t.rmm.get("endpoints").and_then(|m| m.get(id))
}

fn endpoint(s: &Shared, company: &str, site: &str, id: &str) -> Reply {
    let t = s.read();
    match device(&t, id).filter(|d| d["companyID"] == company && d["siteID"] == site) {
        Some(d) => {
            let mut out = public(d);
            out["clientId"] = d["companyID"].clone();
            out["siteId"] = d["siteID"].clone();
            out["endpointId"] = d["endpointID"].clone();
            Reply::json(StatusCode::OK, &out)
        }
        None => not_found("Endpoint"),
    }
}

/// Availability of one or more endpoints (`resourceType=endpoint&resources=a,b`).
fn heartbeat(s: &Shared, req: &Req) -> Reply {
    let ids: Vec<&str> = req
        .param("resources")
        .map(|r| {
            r.split(',')
                .map(str::trim)
                .filter(|x| !x.is_empty())
                .collect()
        })
        .unwrap_or_default();
    if ids.is_empty() {
        return Reply::json(
            StatusCode::BAD_REQUEST,
            &json!({"code": "BadRequest", "description": "resources is required"}),
        );
    }
    let t = s.read();
    let mut ok: Vec<Value> = Vec::new();
    let mut failed: Vec<Value> = Vec::new();
    for id in ids {
        match device(&t, id) {
            Some(d) => {
                let beat = json!({"EndpointID": id, "DcDateTimeUTC": d["health"]["lastSeen"], "Availability": d["health"]["online"]});
                match ok.iter_mut().find(|g| g["clientID"] == d["companyID"] && g["siteID"] == d["siteID"]) {
                    Some(g) => {
                        if let Some(list) = g["endpoints"].as_array_mut() {
                            list.push(beat);
                        }
                    }
                    None => ok.push(json!({"clientID": d["companyID"], "siteID": d["siteID"], "endpoints": [beat]})),
                }
            }
            None => failed
                .push(json!({"resourceType": "Endpoint", "resource": id, "error": "Not Found"})),
        }
    }
    let status = match (ok.is_empty(), failed.is_empty()) {
        (_, true) => "success",
        (true, false) => "failed",
        _ => "partial_success",
    };
    Reply::json(
        StatusCode::OK,
        &json!({"status": status, "successfulRecords": ok, "failedRecords": failed}),
    )
}

/// Latest disk, CPU or memory figures of an endpoint.
fn usage(s: &Shared, id: &str, metric: &str) -> Reply {
    let t = s.read();
    let Some(d) = device(&t, id) else {
        return not_found("Endpoint");
    };
    let when = d["health"]["lastSeen"].clone();
    let h = &d["health"];
    let body = match metric {
        "disk-usage" => {
            let total: i64 = if d["endpointType"] == "Server" {
                254_870_000_000
            } else {
                511_100_000_000
            };
            let used =
                (total as f64 * h["diskPercentUsed"].as_f64().unwrap_or_default() / 100.0) as i64;
            json!([{"createTimeUTC": when, "endpointID": id, "storages": [{
                "index": 0, "name": "Disk 0",
                "metric": {"freeSpaceBytes": total - used, "usedSpaceBytes": used, "totalSpaceBytes": total},
                "partitions": [{"index": 0, "name": "C:", "type": "Partition", "fileSystem": "NTFS", "mounted": true, "mountPoint": "C:\\", "driveType": 3,
                    "metric": {"freeSpaceBytes": total - used, "usedSpaceBytes": used, "totalSpaceBytes": total}}],
            }]}])
        }
        "cpu-usage" => {
            let util = h["cpuPercent"].as_f64().unwrap_or_default();
            json!([{"createTimeUTC": when, "endpointID": id, "metric": {"numOfProcesses": 182, "percentIdleTime": 100.0 - util, "percentSystemTime": util / 3.0, "percentUserTime": util * 2.0 / 3.0, "percentUtil": util}}])
        }
        "memory-usage" => {
            let total: i64 = 17_179_869_184;
            let used =
                (total as f64 * h["memoryPercent"].as_f64().unwrap_or_default() / 100.0) as i64;
            json!([{"createTimeUTC": when, "endpointID": id, "clientID": d["companyID"], "siteID": d["siteID"], "physicalTotalBytes": total, "physicalInUseBytes": used, "physicalAvailableBytes": total - used}])
        }
        _ => return not_found("Resource"),
    };
    Reply::json(StatusCode::OK, &body)
}

fn patches(s: &Shared, id: &str) -> Reply {
    match device(&s.read(), id) {
        Some(d) => Reply::json(StatusCode::OK, &d["patch"]),
        None => Reply::json(
            StatusCode::NOT_FOUND,
            &json!({"error": {"message": "Endpoint patches not found"}}),
        ),
    }
}

/// Runs a script on endpoints. The run completes at once: online endpoints succeed, offline ones
/// fail; clearing temp files really frees disk space on the device.
fn schedule(s: &Shared, req: &Req) -> Reply {
    let body = match req.json_body() {
        Ok(b) => b,
        Err(e) => return error(StatusCode::BAD_REQUEST, "BadRequest", &e),
    };
    let template = body["templateID"].as_str().unwrap_or_default().to_string();
    let targets: Vec<String> = body["targets"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    let mut t = s.write();
    let Some(script) = t.rmm.get("scripts").and_then(|m| m.get(&template)).cloned() else {
        return error(
            StatusCode::BAD_REQUEST,
            "BadRequest",
            "templateID is not a known script",
        );
    };
    if targets.is_empty() {
        return error(
            StatusCode::BAD_REQUEST,
            "BadRequest",
            "targets must list at least one endpoint id",
        );
    }
    if let Some(missing) = targets.iter().find(|id| device(&t, id).is_none()) {
        return error(
            StatusCode::BAD_REQUEST,
            "BadRequest",
            &format!("unknown endpoint {missing}"),
        );
    }
    let now = t.tick();
    let n = t.rmm.get("tasks").map(|m| m.len()).unwrap_or_default();
    let task_id = format!("7a5c0000-0000-4000-8000-{:012x}", n + 1);
    let instance_id = format!("7a5c1000-0000-4000-8000-{:012x}", n + 1);
    let name = body["name"]
        .as_str()
        .map(str::to_string)
        .unwrap_or_else(|| script["name"].as_str().unwrap_or_default().to_string());
    let mut results = Vec::new();
    for id in &targets {
        let online = device(&t, id).is_some_and(|d| d["health"]["online"] == true);
        let (status, details, err) = match (online, script["name"].as_str()) {
            (false, _) => ("Failed", String::new(), "Endpoint is offline".to_string()),
            (true, Some("Clear temporary files")) => {
                if let Some(d) = t.rmm.get_mut("endpoints").and_then(|m| m.get_mut(id)) {
                    let before = d["health"]["diskPercentUsed"].as_f64().unwrap_or_default();
                    d["health"]["diskPercentUsed"] = json!((before - 30.0).max(20.0));
                }
                (
                    "Success",
                    "Removed 4380 MB of temporary files.".to_string(),
                    String::new(),
                )
            }
            (true, Some(other)) => ("Success", format!("{other} completed."), String::new()),
            (true, None) => ("Success", String::new(), String::new()),
        };
        let mut r = json!({"endpointId": id, "completionStatus": status, "executiontime": "12s", "createdOn": ts(now), "taskId": task_id, "taskInstanceId": instance_id});
        if !details.is_empty() {
            r["resultDetails"] = json!(details);
        }
        if !err.is_empty() {
            r["errorDetails"] = json!(err);
        }
        results.push(r);
    }
    let task = json!({
        "taskId": task_id, "templateId": template, "templateType": "script", "name": name,
        "createdOn": ts(now), "modifiedOn": ts(now), "stateToBeSubmitted": "Active",
        "targets": targets, "instanceId": instance_id, "results": results,
    });
    t.rmm
        .entry("tasks")
        .or_default()
        .insert(task_id.clone(), task);
    Reply::json(
        StatusCode::CREATED,
        &json!({"taskId": task_id, "templateId": template, "templateType": "script", "name": name, "createdOn": ts(now), "modifiedOn": ts(now), "stateToBeSubmitted": "Active"}),
    )
}

fn task_summary(s: &Shared, endpoint: &str) -> Reply {
    let t = s.read();
    if device(&t, endpoint).is_none() {
        return not_found("Endpoint");
    }
    let rows: Vec<Value> = t
        .rmm
        .get("tasks")
        .map(|m| {
            m.values()
                .filter(|task| task["targets"].as_array().is_some_and(|a| a.iter().any(|x| x == endpoint)))
                .map(|task| {
                    let result = task["results"].as_array().and_then(|r| r.iter().find(|x| x["endpointId"] == endpoint)).cloned().unwrap_or(Value::Null);
                    let created = task["createdOn"].as_str().and_then(crate::query::parse_datetime);
                    json!({
                        "canBeCancelled": false, "canBePostponed": false, "createdOn": task["createdOn"],
                        "description": task["name"], "executedOn": created.map(|c| ts(c + Duration::seconds(12))),
                        "taskID": task["taskId"], "modifiedOn": task["modifiedOn"], "name": task["name"],
                        "EndpointID": endpoint, "regularity": "OneTime", "state": "Completed",
                        "executionStatus": result["completionStatus"], "scheduleType": "RunNow",
                        "TemplateType": "script", "TemplateID": task["templateId"], "taskInstanceID": task["instanceId"],
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    Reply::json(StatusCode::OK, &Value::Array(rows))
}

fn results(s: &Shared, task: &str, instance: &str) -> Reply {
    let t = s.read();
    match t
        .rmm
        .get("tasks")
        .and_then(|m| m.get(task))
        .filter(|x| x["instanceId"] == instance)
    {
        Some(x) => {
            let list = x["results"].clone();
            let count = list.as_array().map(Vec::len).unwrap_or_default();
            Reply::json(StatusCode::OK, &json!({"Result": list, "Count": count}))
        }
        None => error(
            StatusCode::NOT_FOUND,
            "NotFound",
            "Task Instance does not exist",
        ),
    }
}
