//! The Sell (ConnectWise CPQ) API client, kept thin (API-NOTES §14): Basic
//! `accessKey+publicKey:privateKey`, `conditions`/`page`/`pageSize` on lists, JSON Patch; quotes
//! and quote items.

use reqwest::header::HeaderValue;
use reqwest::{Method, Url};
use serde_json::Value;

use super::manage::{Literal, Op, PatchOp, basic_auth, condition};
use super::settings::SellSettings;
use super::{Call, Error, Http, Policy, Product, Request, join_segments};

/// Sell's largest page.
pub const MAX_PAGE_SIZE: u32 = 1000;

/// The Sell client.
#[derive(Debug)]
pub struct Sell {
    http: Http,
    base: Url,
    authorization: HeaderValue,
}

impl Sell {
    pub fn new(settings: &SellSettings, policy: Policy) -> Result<Self, Error> {
        let user = format!("{}+{}", settings.access_key, settings.public_key);
        Ok(Sell {
            http: Http::new(Product::Sell, policy)?,
            base: settings.url.clone(),
            authorization: basic_auth(Product::Sell, &user, settings.private_key.expose())?,
        })
    }

    fn request(&self, method: Method, segments: &[&str], query: &[(&str, String)]) -> Request {
        let mut url = join_segments(&self.base, segments);
        if !query.is_empty() {
            let mut q = url.query_pairs_mut();
            for (k, v) in query {
                q.append_pair(k, v);
            }
        }
        Request::new(method, url).header("authorization", self.authorization.clone())
    }

    async fn json(&self, call: &Call, request: &Request) -> Result<Value, Error> {
        self.http.send_ok(call, request).await?.json(Product::Sell)
    }

    /// `GET {base}/{segments...}?{query}`.
    pub async fn get(
        &self,
        call: &Call,
        segments: &[&str],
        query: &[(&str, String)],
    ) -> Result<Value, Error> {
        self.json(call, &self.request(Method::GET, segments, query))
            .await
    }

    /// `POST` with a JSON body, sent once.
    pub async fn post(&self, call: &Call, segments: &[&str], body: &Value) -> Result<Value, Error> {
        self.json(call, &self.request(Method::POST, segments, &[]).json(body))
            .await
    }

    /// `PATCH` with a JSON Patch array, sent once.
    pub async fn patch(
        &self,
        call: &Call,
        segments: &[&str],
        ops: &[PatchOp],
    ) -> Result<Value, Error> {
        self.json(call, &self.request(Method::PATCH, segments, &[]).json(&ops))
            .await
    }

    /// One page of quotes matching `conditions` (Sell's grammar is Manage's).
    pub async fn quotes(
        &self,
        call: &Call,
        conditions: Option<&str>,
        page: u32,
        page_size: u32,
    ) -> Result<Value, Error> {
        let mut query = vec![
            ("page", page.max(1).to_string()),
            ("pageSize", page_size.clamp(1, MAX_PAGE_SIZE).to_string()),
        ];
        if let Some(c) = conditions {
            query.push(("conditions", c.to_owned()));
        }
        self.get(call, &["api", "quotes"], &query).await
    }

    pub async fn quote(&self, call: &Call, id: &str) -> Result<Value, Error> {
        self.get(call, &["api", "quotes", id], &[]).await
    }

    /// The lines (quote items) of one quote.
    pub async fn quote_items(&self, call: &Call, quote_id: &str) -> Result<Value, Error> {
        let conditions = condition("idQuote", Op::Eq, Literal::from(quote_id))?;
        let query = [
            ("conditions", conditions),
            ("pageSize", MAX_PAGE_SIZE.to_string()),
        ];
        self.get(call, &["api", "quoteItems"], &query).await
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::settings::Secret;
    use super::super::testing::{Tenant, journal_lines};
    use super::*;

    #[tokio::test]
    async fn quotes_items_patch_and_auth() {
        let tenant = Tenant::start().await;
        let settings = tenant.settings.sell.configured().unwrap().clone();
        let sell = Sell::new(&settings, tenant.policy()).unwrap();
        let call = Call::default();

        let quotes = sell.quotes(&call, None, 1, 5).await.unwrap();
        let quotes = quotes.as_array().unwrap();
        assert!(!quotes.is_empty() && quotes.len() <= 5);
        let id = quotes[0]["id"].as_str().unwrap();
        assert_eq!(sell.quote(&call, id).await.unwrap()["id"], id);
        let items = sell.quote_items(&call, id).await.unwrap();
        let items = items.as_array().unwrap();
        assert!(!items.is_empty());
        assert!(items.iter().all(|i| i["idQuote"] == id));

        let item = items[0]["id"].as_str().unwrap();
        let patched = sell
            .patch(
                &call,
                &["api", "quoteItems", item],
                &[PatchOp::replace("quantity", json!(3))],
            )
            .await
            .unwrap();
        assert_eq!(patched["quantity"], 3.0);

        let missing = sell.quote(&call, "nope").await.unwrap_err();
        assert_eq!(missing.kind(), "not_found");

        let wrong = SellSettings {
            private_key: Secret::new("wrong"),
            ..settings
        };
        let e = Sell::new(&wrong, tenant.policy())
            .unwrap()
            .quote(&Call::default(), id)
            .await
            .unwrap_err();
        assert_eq!(e.kind(), "unauthorized");

        let lines = journal_lines(&tenant, "cpq");
        assert_eq!(lines.len(), 6, "{lines:#?}");
        assert!(
            lines[3].starts_with("PATCH /cpq/api/quoteItems/"),
            "{lines:#?}"
        );
        tenant.shutdown().await;
    }
}
