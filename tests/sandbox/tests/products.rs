//! Asio (RMM), Sell (CPQ) and ScreenConnect over HTTP: their auth schemes, devices linked to Manage
//! configurations, health and patch status, script runs, quotes and lines, sessions and commands.

#![allow(
    clippy::unwrap_used,
    reason = "helpers in a test file fail loudly, like the tests"
)]
#![allow(clippy::type_complexity, reason = "case tables are tuples by design")]

#[path = "support/client.rs"]
mod client;

use std::time::Duration;

use client::{Cw, config, start};
use reqwest::StatusCode;
use serde_json::{Value, json};

async fn token(http: &reqwest::Client, base: &str) -> String {
    let r: Value = http
        .post(format!("{base}/rmm/v1/token"))
        .json(&json!({"grant_type": "client_credentials", "client_id": "sandbox_rmm", "client_secret": "sandbox_rmm_secret", "scope": "platform.devices.read"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(r["token_type"], "Bearer");
    r["access_token"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn asio_tokens_expire_and_must_be_refreshed() {
    let mut cfg = config(42);
    cfg.rmm_token_ttl = Duration::from_millis(400);
    let running = sandbox::start(cfg).await.unwrap();
    let http = reqwest::Client::new();
    let base = running.base_url();
    let cases = [
        (
            json!({"grant_type": "client_credentials", "client_id": "sandbox_rmm", "client_secret": "nope"}),
            StatusCode::UNAUTHORIZED,
        ),
        (
            json!({"grant_type": "password", "client_id": "sandbox_rmm", "client_secret": "sandbox_rmm_secret"}),
            StatusCode::BAD_REQUEST,
        ),
    ];
    for (body, status) in cases {
        assert_eq!(
            http.post(format!("{base}/rmm/v1/token"))
                .json(&body)
                .send()
                .await
                .unwrap()
                .status(),
            status,
            "{body}"
        );
    }
    // Form-encoded works too, as OAuth clients send it.
    let form = http
        .post(format!("{base}/rmm/v1/token"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(
            "grant_type=client_credentials&client_id=sandbox_rmm&client_secret=sandbox_rmm_secret",
        )
        .send()
        .await
        .unwrap();
    assert_eq!(form.status(), StatusCode::OK);
    let scripts = format!("{base}/rmm/api/platform/v1/automation/scripts");
    assert_eq!(
        http.get(&scripts).send().await.unwrap().status(),
        StatusCode::UNAUTHORIZED
    );
    let t = token(&http, &base).await;
    assert_eq!(
        http.get(&scripts)
            .bearer_auth(&t)
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
    tokio::time::sleep(Duration::from_millis(450)).await;
    let expired = http.get(&scripts).bearer_auth(&t).send().await.unwrap();
    assert_eq!(expired.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        expired.json::<Value>().await.unwrap()["code"],
        "TokenExpired"
    );
    let fresh = token(&http, &base).await;
    assert_eq!(
        http.get(&scripts)
            .bearer_auth(&fresh)
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
    running.shutdown().await;
}

#[tokio::test]
async fn asio_devices_link_to_manage_configurations_and_scripts_run() {
    let running = start().await;
    let cw = Cw::new(&running);
    let http = reqwest::Client::new();
    let base = running.base_url();
    let t = token(&http, &base).await;
    let get = |path: String| {
        let http = http.clone();
        let t = t.clone();
        let url = format!("{base}/rmm/api/platform{path}");
        async move { http.get(url).bearer_auth(t).send().await.unwrap() }
    };
    let truth = running.truth().clone();
    let endpoint = truth.recurring_issue.endpoint_id.clone();
    let config = cw
        .get(&format!(
            "/company/configurations/{}",
            truth.recurring_issue.configuration_id
        ))
        .await
        .json();
    assert_eq!(config["deviceIdentifier"], endpoint.as_str());

    let companies: Value = get("/v1/company/companies".into())
        .await
        .json()
        .await
        .unwrap();
    let company = companies
        .as_array()
        .unwrap()
        .iter()
        .find(|c| {
            c["externalIds"][0]["externalId"].as_str()
                == Some(truth.recurring_issue.company_id.to_string().as_str())
        })
        .unwrap()
        .clone();
    let company_id = company["id"].as_str().unwrap().to_string();
    let listed: Value = http
        .post(format!(
            "{base}/rmm/api/platform/v2/device/categories/platform/endpoints?limit=2"
        ))
        .bearer_auth(&t)
        .json(&json!({"resourceType": "company", "resources": [company_id]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let group = &listed["platform"][0];
    assert_eq!(group["companyID"], company_id.as_str());
    assert!(!group["endpoints"].as_array().unwrap().is_empty());
    let site = group["siteID"].as_str().unwrap().to_string();
    let detail: Value = get(format!(
        "/v2/device/companies/{company_id}/sites/{site}/endpoints/{endpoint}"
    ))
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(
        detail["endpointMapping"][0]["vendorID"],
        truth.recurring_issue.configuration_id.to_string()
    );
    assert_eq!(detail["platform"]["friendlyName"], config["name"]);
    assert!(
        detail.get("health").is_none(),
        "sandbox-private keys are not served"
    );

    let beat: Value = get(format!(
        "/v2/device/endpoints/heartbeat?resourceType=endpoint&resources={endpoint},nope"
    ))
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(beat["status"], "partial_success");
    assert_eq!(
        beat["successfulRecords"][0]["endpoints"][0]["Availability"],
        true
    );
    let patches: Value = get(format!("/v2/patching/{endpoint}/patches"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(patches["summary"]["missingCount"], 7);
    assert_eq!(patches["patches"].as_array().unwrap().len(), 7);
    let disk = |v: &Value| {
        let m = &v[0]["storages"][0]["metric"];
        m["usedSpaceBytes"].as_f64().unwrap() / m["totalSpaceBytes"].as_f64().unwrap()
    };
    let before: Value = get(format!("/v2/device/endpoints/{endpoint}/disk-usage"))
        .await
        .json()
        .await
        .unwrap();
    assert!(disk(&before) > 0.9, "the recurring device is nearly full");

    // The recurring issue's history: temp files were cleared after each earlier ticket.
    let history: Value = get(format!("/v2/automation/endpoints/{endpoint}/tasks/summary"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(history.as_array().unwrap().len(), 4);
    let scripts: Value = get("/v1/automation/scripts".into())
        .await
        .json()
        .await
        .unwrap();
    let clear = scripts
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "Clear temporary files")
        .unwrap()["id"]
        .clone();
    let run = http
        .post(format!("{base}/rmm/api/platform/v2/automation/endpoints/schedule-tasks"))
        .bearer_auth(&t)
        .json(&json!({"templateID": clear, "name": "Clear temp", "targets": [endpoint], "targetType": "MANAGED_ENDPOINT"}))
        .send()
        .await
        .unwrap();
    assert_eq!(run.status(), StatusCode::CREATED);
    let run: Value = run.json().await.unwrap();
    let summary: Value = get(format!("/v2/automation/endpoints/{endpoint}/tasks/summary"))
        .await
        .json()
        .await
        .unwrap();
    let latest = summary
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["taskID"] == run["taskId"])
        .unwrap()
        .clone();
    assert_eq!(latest["executionStatus"], "Success");
    let results: Value = get(format!(
        "/v2/automation/tasks/{}/instances/{}/results",
        run["taskId"].as_str().unwrap(),
        latest["taskInstanceID"].as_str().unwrap()
    ))
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(results["Count"], 1);
    let after: Value = get(format!("/v2/device/endpoints/{endpoint}/disk-usage"))
        .await
        .json()
        .await
        .unwrap();
    assert!(
        disk(&after) < disk(&before),
        "clearing temp files frees space"
    );
    running.shutdown().await;
}

#[tokio::test]
async fn sell_quotes_and_lines() {
    let running = start().await;
    let http = reqwest::Client::new();
    let base = format!("{}/cpq/api", running.base_url());
    let auth =
        |b: reqwest::RequestBuilder| b.basic_auth("sandbox+sandbox_cpq", Some("sandbox_cpq_priv"));
    assert_eq!(
        http.get(format!("{base}/quotes"))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::UNAUTHORIZED
    );
    let quotes: Value = auth(http.get(format!("{base}/quotes")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let quotes = quotes.as_array().unwrap();
    assert!(!quotes.is_empty());
    let opportunities = Cw::new(&running).all("/sales/opportunities").await;
    assert!(quotes.iter().all(|q| {
        opportunities
            .iter()
            .any(|o| Some(o["id"].to_string().as_str()) == q["crmOpportunityId"].as_str())
    }));
    let won: Value = auth(http.get(format!("{base}/quotes")).query(&[
        ("conditions", "quoteStatus = \"Won\""),
        ("includeFields", "id,quoteStatus"),
    ]))
    .send()
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    assert!(
        won.as_array()
            .unwrap()
            .iter()
            .all(|q| q["quoteStatus"] == "Won" && q.as_object().unwrap().len() == 2)
    );
    let quote = quotes[0]["id"].as_str().unwrap();
    let total_before = quotes[0]["quoteTotal"].as_f64().unwrap();
    let line: Value = auth(http.post(format!("{base}/quoteItems")))
        .json(&json!({"idQuote": quote, "shortDescription": "Extra switch", "quantity": 2, "quoteItemPrice": 400.0, "cost": 300.0}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(line["extendedPrice"], 800.0);
    let q: Value = auth(http.get(format!("{base}/quotes/{quote}")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(q["quoteTotal"].as_f64().unwrap(), total_before + 800.0);
    let patched: Value = auth(http.patch(format!(
        "{base}/quoteItems/{}",
        line["id"].as_str().unwrap()
    )))
    .json(&json!([{"op": "replace", "path": "/quantity", "value": 1}]))
    .send()
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    assert_eq!(patched["extendedPrice"], 400.0);
    let lines: Value = auth(
        http.get(format!("{base}/quoteItems"))
            .query(&[("conditions", format!("idQuote = \"{quote}\""))]),
    )
    .send()
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    assert!(lines.as_array().unwrap().len() >= 3);
    running.shutdown().await;
}

#[tokio::test]
async fn screenconnect_sessions_and_commands() {
    let running = start().await;
    let http = reqwest::Client::new();
    let base = format!("{}/sc/api/v1", running.base_url());
    let auth = |b: reqwest::RequestBuilder| b.header("CTRLAuthHeader", "sandbox_sc_secret");
    assert_eq!(
        http.get(format!("{base}/sessions"))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::UNAUTHORIZED
    );
    let device = running.truth().recurring_issue.device_name.clone();
    let found: Value = auth(
        http.get(format!("{base}/sessions"))
            .query(&[("sessionFilter", format!("Name = '{device}'"))]),
    )
    .send()
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let session = found.as_array().unwrap()[0].clone();
    assert_eq!(session["sessionType"], "Access");
    assert_eq!(session["guestInfo"]["machineName"], device.as_str());
    let id = session["sessionID"].as_str().unwrap();
    let sent = auth(http.post(format!("{base}/sessions/{id}/events")))
        .json(&json!({"eventType": "QueuedCommand", "data": "hostname"}))
        .send()
        .await
        .unwrap();
    assert_eq!(sent.status(), StatusCode::NO_CONTENT);
    let details: Value = auth(http.get(format!("{base}/sessions/{id}/details")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let events = details["events"].as_array().unwrap();
    let ran = events
        .iter()
        .find(|e| e["eventType"] == "RanCommand")
        .unwrap();
    assert_eq!(ran["data"], device.as_str());
    let created = auth(http.post(format!("{base}/sessions")))
        .json(&json!({"sessionType": "Support", "name": "Call with Fred", "host": "mlee"}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), StatusCode::CREATED);
    let bad = auth(http.post(format!("{base}/sessions")))
        .json(&json!({"sessionType": "Access", "name": "x", "host": "y"}))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
    let journal = running.journal();
    assert!(journal.iter().all(|e| e.product == "sc"), "{journal:?}");
    running.shutdown().await;
}
