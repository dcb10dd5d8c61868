//! The Asio (ConnectWise RMM) partner API client, kept thin (API-NOTES §14): OAuth2 client
//! credentials from `POST {base}/v1/token`, the bearer token cached and fetched again shortly
//! before it expires and, once, when a request is refused with 401 (a read is then sent again, a
//! write is not); a few typed reads (companies, devices, patches, scripts) and raw `get`/`post`.

use std::time::Duration;

use reqwest::header::HeaderValue;
use reqwest::{Method, StatusCode, Url};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::Mutex;
use tokio::time::Instant;

use super::retry::Idempotency;
use super::settings::{AsioSettings, Secret};
use super::{
    Answer, Call, Error, Http, Policy, Product, Request, error_from_answer, join_segments,
};

/// Most time before expiry at which a token is replaced (a tenth of its lifetime if shorter).
const REFRESH_MARGIN: Duration = Duration::from_secs(60);

#[derive(Debug, Clone)]
struct Token {
    /// `Bearer …`, marked sensitive.
    header: HeaderValue,
    /// When to stop using it (expiry less the margin).
    refresh_at: Instant,
}

#[derive(Deserialize)]
struct TokenAnswer {
    access_token: String,
    #[serde(default)]
    expires_in: Option<u64>,
}

/// The Asio client.
#[derive(Debug)]
pub struct Asio {
    http: Http,
    base: Url,
    client_id: String,
    client_secret: Secret,
    token: Mutex<Option<Token>>,
}

impl Asio {
    pub fn new(settings: &AsioSettings, policy: Policy) -> Result<Self, Error> {
        Ok(Asio {
            http: Http::new(Product::Asio, policy)?,
            base: settings.url.clone(),
            client_id: settings.client_id.clone(),
            client_secret: settings.client_secret.clone(),
            token: Mutex::new(None),
        })
    }

    fn url(&self, segments: &[&str]) -> Url {
        join_segments(&self.base, segments)
    }

    /// A token to use: the cached one while it is fresh, else a new one. `rejected` is a token
    /// the server refused: it is replaced unless another request already did so.
    async fn bearer(
        &self,
        call: &Call,
        rejected: Option<&HeaderValue>,
    ) -> Result<HeaderValue, Error> {
        let mut cached = self.token.lock().await;
        if let Some(t) = cached.as_ref() {
            let refused = rejected.is_some_and(|r| r == t.header);
            if !refused && Instant::now() < t.refresh_at {
                return Ok(t.header.clone());
            }
        }
        let fetched_at = Instant::now();
        // Asking for a token changes nothing upstream, so it may be retried like a read.
        let request = Request::new(Method::POST, self.url(&["v1", "token"]))
            .json(&json!({
                "grant_type": "client_credentials",
                "client_id": self.client_id,
                "client_secret": self.client_secret.expose(),
            }))
            .read_only();
        let answer = self.http.send(call, &request).await?;
        if !answer.status.is_success() {
            // 400 invalid_client / 401: the credentials are wrong either way.
            let e = error_from_answer(Product::Asio, &answer);
            return Err(match e {
                Error::Invalid { message, .. } => Error::Unauthorized {
                    product: Product::Asio,
                    message,
                },
                other => other,
            });
        }
        let parsed: TokenAnswer =
            serde_json::from_slice(&answer.body).map_err(|e| Error::MalformedResponse {
                product: Product::Asio,
                message: format!("the token endpoint answered without an access_token ({e})"),
            })?;
        let lifetime = Duration::from_secs(parsed.expires_in.unwrap_or(3599));
        let margin = REFRESH_MARGIN.min(lifetime / 10);
        let mut header = HeaderValue::from_str(&format!("Bearer {}", parsed.access_token))
            .map_err(|_| Error::MalformedResponse {
                product: Product::Asio,
                message: "the access token cannot go in a header".into(),
            })?;
        header.set_sensitive(true);
        let token = Token {
            header: header.clone(),
            refresh_at: fetched_at + lifetime.saturating_sub(margin),
        };
        *cached = Some(token);
        Ok(header)
    }

    /// Sends with a bearer token; on 401 fetches a new token and, for reads only, sends once more.
    /// A write refused with 401 is not sent again (invariant 4 holds to the letter: a write reaches
    /// the API at most once); the renewed token serves the caller's next attempt.
    async fn send(&self, call: &Call, request: Request) -> Result<Answer, Error> {
        let token = self.bearer(call, None).await?;
        let first = request.clone().header("authorization", token.clone());
        let answer = self.http.send(call, &first).await?;
        let answer = if answer.status == StatusCode::UNAUTHORIZED {
            tracing::debug!("asio refused the bearer token; fetching a new one");
            let fresh = self.bearer(call, Some(&token)).await?;
            if request.idempotency != Idempotency::Safe {
                return Err(Error::Unauthorized {
                    product: Product::Asio,
                    message: "the access token was refused and has been renewed; the write was not sent again, so it can be retried".into(),
                });
            }
            self.http
                .send(call, &request.header("authorization", fresh))
                .await?
        } else {
            answer
        };
        if answer.status.is_success() {
            Ok(answer)
        } else {
            Err(error_from_answer(Product::Asio, &answer))
        }
    }

    /// `GET {base}/{segments...}`.
    pub async fn get(&self, call: &Call, segments: &[&str]) -> Result<Value, Error> {
        let request = Request::new(Method::GET, self.url(segments));
        self.send(call, request).await?.json(Product::Asio)
    }

    /// `GET {base}/{segments...}?{query}`.
    pub async fn get_query(
        &self,
        call: &Call,
        segments: &[&str],
        query: &[(&str, &str)],
    ) -> Result<Value, Error> {
        let mut url = self.url(segments);
        url.query_pairs_mut().extend_pairs(query);
        let request = Request::new(Method::GET, url);
        self.send(call, request).await?.json(Product::Asio)
    }

    /// `POST {base}/{segments...}` with a JSON body; sent once unless `read_only` (Asio queries
    /// some collections by POST).
    pub async fn post(
        &self,
        call: &Call,
        segments: &[&str],
        body: &Value,
        read_only: bool,
    ) -> Result<Value, Error> {
        let mut request = Request::new(Method::POST, self.url(segments)).json(body);
        if read_only {
            request = request.read_only();
        }
        self.send(call, request).await?.json(Product::Asio)
    }

    /// All companies (clients) the partner manages.
    pub async fn companies(&self, call: &Call) -> Result<Value, Error> {
        self.get(call, &["api", "platform", "v1", "company", "companies"])
            .await
    }

    /// Devices (endpoints) of up to 4 companies, grouped by company and site.
    pub async fn company_devices(&self, call: &Call, company_ids: &[&str]) -> Result<Value, Error> {
        let body = json!({"resourceType": "company", "resources": company_ids});
        self.post(
            call,
            &[
                "api",
                "platform",
                "v2",
                "device",
                "categories",
                "all",
                "endpoints",
            ],
            &body,
            true,
        )
        .await
    }

    /// Patch status of one device.
    pub async fn patches(&self, call: &Call, endpoint_id: &str) -> Result<Value, Error> {
        self.get(
            call,
            &["api", "platform", "v2", "patching", endpoint_id, "patches"],
        )
        .await
    }

    /// The automation scripts available to run.
    pub async fn scripts(&self, call: &Call) -> Result<Value, Error> {
        self.get(call, &["api", "platform", "v1", "automation", "scripts"])
            .await
    }

    #[cfg(test)]
    async fn trust_cached_token_for(&self, d: Duration) {
        if let Some(t) = self.token.lock().await.as_mut() {
            t.refresh_at = Instant::now() + d;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{Tenant, journal_lines};
    use super::*;

    #[tokio::test]
    async fn token_is_cached_then_refreshed_before_expiry_and_after_a_401() {
        let tenant = Tenant::start_with(|c| c.rmm_token_ttl = Duration::from_secs(1)).await;
        let asio = Asio::new(tenant.settings.asio.configured().unwrap(), tenant.policy()).unwrap();

        let call = Call::default();
        let companies = asio.companies(&call).await.unwrap();
        assert!(companies.as_array().is_some_and(|a| !a.is_empty()));
        asio.scripts(&call).await.unwrap();
        assert_eq!(call.requests(), 3, "one token, two reads");

        // The token lives 1 s: after it, the client asks for a new one before using it.
        tokio::time::sleep(Duration::from_millis(1100)).await;
        asio.scripts(&call).await.unwrap();

        // Now make the client trust a token the server has expired: the 401 makes it fetch a
        // new token and send the request once more.
        tokio::time::sleep(Duration::from_millis(1100)).await;
        asio.trust_cached_token_for(Duration::from_secs(60)).await;
        asio.scripts(&call).await.unwrap();

        assert_eq!(
            journal_lines(&tenant, "rmm"),
            [
                "POST /rmm/v1/token 200",
                "GET /rmm/api/platform/v1/company/companies 200",
                "GET /rmm/api/platform/v1/automation/scripts 200",
                "POST /rmm/v1/token 200",
                "GET /rmm/api/platform/v1/automation/scripts 200",
                "GET /rmm/api/platform/v1/automation/scripts 401",
                "POST /rmm/v1/token 200",
                "GET /rmm/api/platform/v1/automation/scripts 200",
            ]
        );
        tenant.shutdown().await;
    }

    #[tokio::test]
    async fn a_write_refused_with_401_is_renewed_for_next_time_but_not_sent_again() {
        let tenant = Tenant::start_with(|c| c.rmm_token_ttl = Duration::from_secs(1)).await;
        let asio = Asio::new(tenant.settings.asio.configured().unwrap(), tenant.policy()).unwrap();
        let call = Call::default();
        asio.scripts(&call).await.unwrap();
        tokio::time::sleep(Duration::from_millis(1100)).await;
        asio.trust_cached_token_for(Duration::from_secs(60)).await;
        let path = [
            "api",
            "platform",
            "v2",
            "automation",
            "endpoints",
            "schedule-tasks",
        ];
        let e = asio
            .post(&call, &path, &json!({}), false)
            .await
            .unwrap_err();
        assert_eq!(e.kind(), "unauthorized", "{e}");
        assert!(e.to_string().contains("not sent again"), "{e}");
        let lines = journal_lines(&tenant, "rmm");
        let writes = lines
            .iter()
            .filter(|l| {
                l.starts_with("POST /rmm/api/platform/v2/automation/endpoints/schedule-tasks")
            })
            .count();
        assert_eq!(writes, 1, "{lines:?}");
        assert_eq!(
            lines.last().map(String::as_str),
            Some("POST /rmm/v1/token 200"),
            "token renewed"
        );
        tenant.shutdown().await;
    }

    #[tokio::test]
    async fn devices_and_patches_and_bad_credentials() {
        let tenant = Tenant::start().await;
        let settings = tenant.settings.asio.configured().unwrap().clone();
        let asio = Asio::new(&settings, tenant.policy()).unwrap();
        let call = Call::default();
        let companies = asio.companies(&call).await.unwrap();
        let company = companies[0]["id"].as_str().unwrap().to_owned();
        let devices = asio.company_devices(&call, &[&company]).await.unwrap();
        let endpoint = devices["platform"][0]["endpoints"][0]["endpointID"]
            .as_str()
            .unwrap()
            .to_owned();
        let patches = asio.patches(&call, &endpoint).await.unwrap();
        assert!(patches.is_object() || patches.is_array(), "{patches}");
        let missing = asio.patches(&call, "no-such-device").await.unwrap_err();
        assert_eq!(missing.kind(), "not_found");

        let wrong = AsioSettings {
            client_secret: Secret::new("zq-not-the-secret"),
            ..settings
        };
        let asio = Asio::new(&wrong, tenant.policy()).unwrap();
        let e = asio.scripts(&Call::default()).await.unwrap_err();
        assert_eq!(e.kind(), "unauthorized", "{e}");
        assert!(!format!("{e} {e:?}").contains("zq-not-the-secret"));
        tenant.shutdown().await;
    }
}
