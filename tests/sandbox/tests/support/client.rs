//! Shared test helpers: start a sandbox with a fixed `today`, and talk to it like a connector would.

#![allow(
    dead_code,
    reason = "each test binary uses a different subset of the helpers"
)]
#![allow(
    clippy::unwrap_used,
    reason = "test helpers fail loudly, like the tests"
)]

use chrono::NaiveDate;
use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode};
use sandbox::{Config, Running};
use serde_json::Value;

pub const TODAY: (i32, u32, u32) = (2026, 3, 16);

pub fn today() -> NaiveDate {
    NaiveDate::from_ymd_opt(TODAY.0, TODAY.1, TODAY.2).unwrap()
}

pub fn config(seed: u64) -> Config {
    Config {
        seed,
        today: today(),
        ..Config::default()
    }
}

pub async fn start() -> Running {
    sandbox::start(config(42)).await.unwrap()
}

/// A response, read whole.
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub text: String,
}

impl Answer {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text))
    }
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .map(|v| v.to_str().unwrap().to_string())
    }
}

/// A Manage client with the sandbox's default credentials.
pub struct Cw {
    pub http: reqwest::Client,
    pub base: String,
    pub origin: String,
}

impl Cw {
    pub fn new(running: &Running) -> Self {
        Cw {
            http: reqwest::Client::new(),
            base: running.manage_url(),
            origin: running.base_url(),
        }
    }

    pub fn request(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        let url = if path.starts_with("http") {
            path.to_string()
        } else {
            format!("{}{path}", self.base)
        };
        self.http
            .request(method, url)
            .basic_auth("sandbox+sandbox_pub", Some("sandbox_priv"))
            .header("clientId", "00000000-0000-0000-0000-000000000000")
            .header(
                "Accept",
                "application/vnd.connectwise.com+json; version=2025.1",
            )
    }

    pub async fn send(&self, builder: reqwest::RequestBuilder) -> Answer {
        let response = builder.send().await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let text = response.text().await.unwrap();
        Answer {
            status,
            headers,
            text,
        }
    }

    pub async fn get(&self, path: &str) -> Answer {
        self.send(self.request(Method::GET, path)).await
    }

    pub async fn get_q(&self, path: &str, query: &[(&str, &str)]) -> Answer {
        self.send(self.request(Method::GET, path).query(query))
            .await
    }

    pub async fn post(&self, path: &str, body: &Value) -> Answer {
        self.send(self.request(Method::POST, path).json(body)).await
    }

    pub async fn patch(&self, path: &str, body: &Value) -> Answer {
        self.send(self.request(Method::PATCH, path).json(body))
            .await
    }

    pub async fn delete(&self, path: &str) -> Answer {
        self.send(self.request(Method::DELETE, path)).await
    }

    /// Every record of a collection (pageSize 1000, following `Link: rel="next"`).
    pub async fn all(&self, path: &str) -> Vec<Value> {
        let mut out = Vec::new();
        let mut next = Some(format!(
            "{}{path}{}pageSize=1000",
            self.base,
            if path.contains('?') { "&" } else { "?" }
        ));
        while let Some(url) = next {
            let a = self.get(&url).await;
            assert_eq!(a.status, StatusCode::OK, "{url}: {}", a.text);
            out.extend(a.json().as_array().unwrap().iter().cloned());
            next = a.header("link").and_then(|l| link(&l, "next"));
        }
        out
    }
}

/// The URL with `rel` in a `Link` header.
pub fn link(header: &str, rel: &str) -> Option<String> {
    header
        .split(", <")
        .find(|p| p.ends_with(&format!("rel=\"{rel}\"")))
        .map(|p| {
            p.trim_start_matches('<')
                .split('>')
                .next()
                .unwrap()
                .to_string()
        })
}

pub fn ids(rows: &[Value]) -> Vec<i64> {
    rows.iter().map(|r| r["id"].as_i64().unwrap()).collect()
}
