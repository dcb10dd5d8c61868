//! The ScreenConnect (ConnectWise Control) client, kept thin (API-NOTES §14): the RESTful API
//! Manager extension's shared secret in the `CTRLAuthHeader` header; sessions, their details and
//! events, and commands sent as `QueuedCommand` events (the sandbox answers with a `RanCommand`).

use reqwest::header::HeaderValue;
use reqwest::{Method, Url};
use serde_json::{Value, json};

use super::settings::ScreenConnectSettings;
use super::{Call, Error, Http, Policy, Product, Request, join_segments};

/// The ScreenConnect client.
#[derive(Debug)]
pub struct ScreenConnect {
    http: Http,
    base: Url,
    auth: HeaderValue,
}

impl ScreenConnect {
    pub fn new(settings: &ScreenConnectSettings, policy: Policy) -> Result<Self, Error> {
        let mut auth = HeaderValue::from_str(settings.auth_secret.expose()).map_err(|_| {
            Error::NotConfigured {
                product: Product::Screenconnect,
                problem: "CW_SC_AUTH_SECRET has characters that cannot go in an HTTP header".into(),
            }
        })?;
        auth.set_sensitive(true);
        Ok(ScreenConnect {
            http: Http::new(Product::Screenconnect, policy)?,
            base: settings.url.clone(),
            auth,
        })
    }

    fn request(&self, method: Method, segments: &[&str], query: &[(&str, &str)]) -> Request {
        let mut url = join_segments(&self.base, segments);
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(query);
        }
        Request::new(method, url).header("ctrlauthheader", self.auth.clone())
    }

    async fn json(&self, call: &Call, request: &Request) -> Result<Value, Error> {
        self.http
            .send_ok(call, request)
            .await?
            .json(Product::Screenconnect)
    }

    /// `GET {base}/{segments...}`.
    pub async fn get(
        &self,
        call: &Call,
        segments: &[&str],
        query: &[(&str, &str)],
    ) -> Result<Value, Error> {
        self.json(call, &self.request(Method::GET, segments, query))
            .await
    }

    /// `POST` with a JSON body, sent once.
    pub async fn post(&self, call: &Call, segments: &[&str], body: &Value) -> Result<Value, Error> {
        self.json(call, &self.request(Method::POST, segments, &[]).json(body))
            .await
    }

    /// Sessions, optionally narrowed by a session filter (`Name LIKE '%X%'`).
    pub async fn sessions(&self, call: &Call, filter: Option<&str>) -> Result<Value, Error> {
        let query: Vec<(&str, &str)> = filter.map(|f| ("sessionFilter", f)).into_iter().collect();
        self.get(call, &["api", "v1", "sessions"], &query).await
    }

    pub async fn session(&self, call: &Call, id: &str) -> Result<Value, Error> {
        self.get(call, &["api", "v1", "sessions", id], &[]).await
    }

    /// A session's events (commands and their output included) and connections.
    pub async fn session_details(&self, call: &Call, id: &str) -> Result<Value, Error> {
        self.get(call, &["api", "v1", "sessions", id, "details"], &[])
            .await
    }

    /// Queues a command on the session's guest. Sent once; the output arrives as a later
    /// `RanCommand` event in [`ScreenConnect::session_details`].
    pub async fn send_command(&self, call: &Call, id: &str, command: &str) -> Result<(), Error> {
        let body = json!({"eventType": "QueuedCommand", "data": command});
        self.post(call, &["api", "v1", "sessions", id, "events"], &body)
            .await
            .map(drop)
    }
}

#[cfg(test)]
mod tests {
    use super::super::settings::Secret;
    use super::super::testing::{Tenant, journal_lines};
    use super::*;

    #[tokio::test]
    async fn sessions_commands_and_auth() {
        let tenant = Tenant::start().await;
        let settings = tenant.settings.screenconnect.configured().unwrap().clone();
        let sc = ScreenConnect::new(&settings, tenant.policy()).unwrap();
        let call = Call::default();

        let sessions = sc.sessions(&call, None).await.unwrap();
        let sessions = sessions.as_array().unwrap();
        let online = sessions
            .iter()
            .find(|s| s["guestConnectedCount"].as_i64().unwrap_or_default() > 0)
            .expect("an online session");
        let id = online["sessionID"].as_str().unwrap();
        let name = online["name"].as_str().unwrap();

        let filtered = sc
            .sessions(&call, Some(&format!("Name = '{name}'")))
            .await
            .unwrap();
        assert_eq!(filtered.as_array().unwrap().len(), 1);

        sc.send_command(&call, id, "hostname").await.unwrap();
        let details = sc.session_details(&call, id).await.unwrap();
        let events = details["events"].as_array().unwrap();
        let ran = events.last().unwrap();
        assert_eq!(ran["eventType"], "RanCommand");
        assert_eq!(ran["data"], name);

        assert_eq!(
            sc.session(&call, "nope").await.unwrap_err().kind(),
            "not_found"
        );

        let wrong = ScreenConnectSettings {
            auth_secret: Secret::new("wrong"),
            ..settings
        };
        let e = ScreenConnect::new(&wrong, tenant.policy())
            .unwrap()
            .sessions(&Call::default(), None)
            .await
            .unwrap_err();
        assert_eq!(e.kind(), "unauthorized");

        let lines = journal_lines(&tenant, "sc");
        assert_eq!(
            lines.iter().filter(|l| l.starts_with("POST")).count(),
            1,
            "{lines:#?}"
        );
        tenant.shutdown().await;
    }
}
