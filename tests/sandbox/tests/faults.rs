//! Fault injection over HTTP: every fault kind is observable by a client and counted in the
//! journal; rules can be set at start and changed at run time.

#![allow(
    clippy::unwrap_used,
    reason = "helpers in a test file fail loudly, like the tests"
)]
#![allow(clippy::type_complexity, reason = "case tables are tuples by design")]

#[path = "support/client.rs"]
mod client;

use std::time::{Duration, Instant};

use client::{Cw, config};
use reqwest::StatusCode;
use sandbox::faults::parse_spec;
use serde_json::{Value, json};

#[tokio::test]
async fn each_fault_kind_is_observable_and_journaled() {
    let mut cfg = config(42);
    cfg.faults = parse_spec(
        "GET */service/priorities=429:7,times=1; */service/boards=500; */time/workRoles=503; */time/workTypes=latency:300; */company/companies=truncate; */company/contacts=malformed; */schedule/entries=hang",
    )
    .unwrap();
    let running = sandbox::start(cfg).await.unwrap();
    let cw = Cw::new(&running);

    let a = cw.get("/service/priorities").await;
    assert_eq!(a.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(a.header("retry-after").as_deref(), Some("7"));
    assert_eq!(a.json()["code"], "TooManyRequests");
    assert_eq!(
        cw.get("/service/priorities").await.status,
        StatusCode::OK,
        "times=1 fires once"
    );

    let a = cw.get("/service/boards").await;
    assert_eq!(a.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(
        a.json()["message"].is_string(),
        "500 carries a ConnectWise body"
    );
    let a = cw.get("/time/workRoles").await;
    assert_eq!(a.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(
        a.text.contains("<html>"),
        "the edge answers 503 with a page, not JSON"
    );

    let started = Instant::now();
    let a = cw.get("/time/workTypes").await;
    assert_eq!(a.status, StatusCode::OK);
    assert!(
        started.elapsed() >= Duration::from_millis(300),
        "latency added"
    );

    let a = cw.get("/company/companies").await;
    assert_eq!(a.status, StatusCode::OK);
    assert!(
        serde_json::from_str::<Value>(&a.text).is_err(),
        "truncated body does not parse"
    );
    assert!(a.text.starts_with("[{"));
    let a = cw.get("/company/contacts").await;
    assert!(
        serde_json::from_str::<Value>(&a.text).is_err(),
        "malformed body does not parse"
    );

    let timed_out = cw
        .request(reqwest::Method::GET, "/schedule/entries")
        .timeout(Duration::from_millis(300))
        .send()
        .await;
    assert!(
        timed_out.unwrap_err().is_timeout(),
        "a hang is seen as a timeout"
    );

    let journal = running.journal();
    let faults_of = |path: &str| -> Vec<(u16, Vec<String>)> {
        journal
            .iter()
            .filter(|e| e.path.ends_with(path))
            .map(|e| (e.status, e.faults.clone()))
            .collect()
    };
    assert_eq!(
        faults_of("/service/priorities"),
        vec![(429, vec!["rate_limit".to_string()]), (200, vec![])]
    );
    assert_eq!(
        faults_of("/service/boards"),
        vec![(500, vec!["server_error".to_string()])]
    );
    assert_eq!(
        faults_of("/time/workRoles"),
        vec![(503, vec!["server_error".to_string()])]
    );
    assert_eq!(
        faults_of("/time/workTypes"),
        vec![(200, vec!["latency".to_string()])]
    );
    assert_eq!(
        faults_of("/company/companies"),
        vec![(200, vec!["truncate".to_string()])]
    );
    assert_eq!(
        faults_of("/company/contacts"),
        vec![(200, vec!["malformed".to_string()])]
    );
    assert_eq!(
        faults_of("/schedule/entries"),
        vec![(0, vec!["hang".to_string()])]
    );
    // Shutdown ends the hanging request instead of waiting for it.
    tokio::time::timeout(Duration::from_secs(5), running.shutdown())
        .await
        .unwrap();
}

#[tokio::test]
async fn faults_change_at_run_time_and_apply_to_every_product() {
    let running = sandbox::start(config(42)).await.unwrap();
    let cw = Cw::new(&running);
    let http = reqwest::Client::new();
    let faults_url = format!("{}/__sandbox/faults", running.base_url());
    assert_eq!(cw.get("/system/info").await.status, StatusCode::OK);
    let set = http
        .post(&faults_url)
        .body("*/system/info=502; /rmm/*=429:3")
        .send()
        .await
        .unwrap();
    assert_eq!(set.status(), StatusCode::OK);
    let listed: Value = set.json().await.unwrap();
    assert_eq!(listed["rules"].as_array().unwrap().len(), 2);
    assert_eq!(listed["spec"], "*/system/info=502; /rmm/*=429:3");
    assert_eq!(cw.get("/system/info").await.status, StatusCode::BAD_GATEWAY);
    let token = http
        .post(format!("{}/rmm/v1/token", running.base_url()))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(token.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(token.headers()["retry-after"], "3");
    let bad = http
        .post(&faults_url)
        .json(&json!({"spec": "*=teapot"}))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        http.delete(&faults_url).send().await.unwrap().status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(cw.get("/system/info").await.status, StatusCode::OK);
    let rule = http.post(&faults_url).json(&json!({"rules": [{"pattern": "*/system/info", "fault": {"kind": "server_error", "status": 500}, "times": 1}]})).send().await.unwrap();
    assert_eq!(rule.status(), StatusCode::OK);
    assert_eq!(
        cw.get("/system/info").await.status,
        StatusCode::INTERNAL_SERVER_ERROR
    );
    assert_eq!(cw.get("/system/info").await.status, StatusCode::OK);
    let statuses: Vec<u16> = running.journal().iter().map(|e| e.status).collect();
    assert_eq!(statuses, vec![200, 502, 429, 200, 500, 200]);
    running.shutdown().await;
}

#[tokio::test]
async fn probabilistic_faults_repeat_with_the_seed() {
    async fn run(seed: u64) -> Vec<StatusCode> {
        let mut cfg = config(seed);
        cfg.faults = parse_spec("*/system/info=500,p=0.5").unwrap();
        let running = sandbox::start(cfg).await.unwrap();
        let cw = Cw::new(&running);
        let mut out = vec![];
        for _ in 0..24 {
            out.push(cw.get("/system/info").await.status);
        }
        running.shutdown().await;
        out
    }
    let a = run(11).await;
    assert_eq!(a, run(11).await);
    let failures = a
        .iter()
        .filter(|s| **s == StatusCode::INTERNAL_SERVER_ERROR)
        .count();
    assert!((4..=20).contains(&failures), "{failures} of 24 at p=0.5");
}
