//! Credentials and their checks, one scheme per product as its spec describes:
//! Manage and Sell use Basic `prefix+public:private` (Manage also needs a `clientId` header),
//! Asio uses OAuth2 client credentials with expiring bearer tokens, ScreenConnect's RESTful API
//! Manager extension uses a shared secret in the `CTRLAuthHeader` header.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::http::HeaderMap;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};

/// Every credential the sandbox accepts; the defaults are documented in the crate docs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Credentials {
    /// Manage login company (the auth prefix before `+`).
    pub company: String,
    pub public_key: String,
    pub private_key: String,
    /// Manage `clientId` header value.
    pub client_id: String,
    pub rmm_client_id: String,
    pub rmm_client_secret: String,
    pub cpq_access_key: String,
    pub cpq_public_key: String,
    pub cpq_private_key: String,
    pub sc_auth_secret: String,
    pub sc_extension_id: String,
}

impl Default for Credentials {
    fn default() -> Self {
        Credentials {
            company: "sandbox".into(),
            public_key: "sandbox_pub".into(),
            private_key: "sandbox_priv".into(),
            client_id: "00000000-0000-0000-0000-000000000000".into(),
            rmm_client_id: "sandbox_rmm".into(),
            rmm_client_secret: "sandbox_rmm_secret".into(),
            cpq_access_key: "sandbox".into(),
            cpq_public_key: "sandbox_cpq".into(),
            cpq_private_key: "sandbox_cpq_priv".into(),
            sc_auth_secret: "sandbox_sc_secret".into(),
            sc_extension_id: "00000000-0000-0000-0000-00000000c0de".into(),
        }
    }
}

/// The `user:password` of a Basic `Authorization` header, if there is a well-formed one.
pub fn basic(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get("authorization")?.to_str().ok()?.trim();
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = String::from_utf8(STANDARD.decode(encoded.trim()).ok()?).ok()?;
    let (user, pass) = decoded.split_once(':')?;
    Some((user.to_string(), pass.to_string()))
}

/// Why a Manage request was refused (all answered 401).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ManageAuthError {
    #[error("An Authorization header with Basic company+publicKey:privateKey is required.")]
    Missing,
    #[error("The company, public key or private key is not valid.")]
    BadKeys,
    #[error("A clientId header is required; register one at developer.connectwise.com/ClientID.")]
    NoClientId,
    #[error("The clientId is not valid.")]
    BadClientId,
}

/// Checks a Manage request's Basic credentials and `clientId` header.
pub fn check_manage(headers: &HeaderMap, creds: &Credentials) -> Result<(), ManageAuthError> {
    let (user, pass) = basic(headers).ok_or(ManageAuthError::Missing)?;
    let expected_user = format!("{}+{}", creds.company, creds.public_key);
    // The company part is matched without regard to case, as the login screen does.
    let user_ok = user.len() == expected_user.len()
        && user
            .split_once('+')
            .is_some_and(|(c, k)| c.eq_ignore_ascii_case(&creds.company) && k == creds.public_key);
    if !user_ok || pass != creds.private_key {
        return Err(ManageAuthError::BadKeys);
    }
    match headers.get("clientid").and_then(|v| v.to_str().ok()) {
        None => Err(ManageAuthError::NoClientId),
        Some(id) if id.trim().eq_ignore_ascii_case(&creds.client_id) => Ok(()),
        Some(_) => Err(ManageAuthError::BadClientId),
    }
}

/// Checks Sell's Basic `accessKey+username:password`.
pub fn check_cpq(headers: &HeaderMap, creds: &Credentials) -> bool {
    basic(headers).is_some_and(|(user, pass)| {
        user == format!("{}+{}", creds.cpq_access_key, creds.cpq_public_key)
            && pass == creds.cpq_private_key
    })
}

/// Checks ScreenConnect's `CTRLAuthHeader`.
pub fn check_sc(headers: &HeaderMap, creds: &Credentials) -> bool {
    headers
        .get("ctrlauthheader")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v == creds.sc_auth_secret)
}

/// Asio bearer tokens: issued by `POST /v1/token`, valid for `ttl`.
pub struct Tokens {
    ttl: Duration,
    seed: u64,
    issued: Mutex<(u64, BTreeMap<String, Instant>)>,
}

/// Why a bearer token was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenState {
    Valid,
    Missing,
    Unknown,
    Expired,
}

impl Tokens {
    pub fn new(seed: u64, ttl: Duration) -> Self {
        Tokens {
            ttl,
            seed,
            issued: Mutex::new((0, BTreeMap::new())),
        }
    }

    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// Issues a new token.
    pub fn issue(&self) -> String {
        let mut guard = self.issued.lock().unwrap_or_else(|e| e.into_inner());
        guard.0 += 1;
        let token = STANDARD.encode(format!("sandbox:{:016x}:{:08}", self.seed, guard.0));
        let token = token.trim_end_matches('=').to_string();
        guard.1.insert(token.clone(), Instant::now());
        token
    }

    /// Checks `Authorization: Bearer <token>`.
    pub fn check(&self, headers: &HeaderMap) -> TokenState {
        let Some(token) = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            })
        else {
            return TokenState::Missing;
        };
        let guard = self.issued.lock().unwrap_or_else(|e| e.into_inner());
        match guard.1.get(token.trim()) {
            None => TokenState::Unknown,
            Some(at) if at.elapsed() >= self.ttl => TokenState::Expired,
            Some(_) => TokenState::Valid,
        }
    }
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn headers(auth: Option<&str>, client: Option<&str>) -> HeaderMap {
        let mut h = HeaderMap::new();
        if let Some(a) = auth {
            h.insert("authorization", HeaderValue::from_str(a).unwrap());
        }
        if let Some(c) = client {
            h.insert("clientId", HeaderValue::from_str(c).unwrap());
        }
        h
    }

    fn basic_of(s: &str) -> String {
        format!("Basic {}", STANDARD.encode(s))
    }

    #[test]
    fn manage_auth_table() {
        let creds = Credentials::default();
        let id = creds.client_id.clone();
        let ok = basic_of("sandbox+sandbox_pub:sandbox_priv");
        type Case<'a> = (Option<String>, Option<&'a str>, Result<(), ManageAuthError>);
        let cases: Vec<Case> = vec![
            (Some(ok.clone()), Some(&id), Ok(())),
            (
                Some(basic_of("SANDBOX+sandbox_pub:sandbox_priv")),
                Some(&id),
                Ok(()),
            ),
            (Some(ok.replace("Basic", "basic")), Some(&id), Ok(())),
            (None, Some(&id), Err(ManageAuthError::Missing)),
            (
                Some("Bearer abc".into()),
                Some(&id),
                Err(ManageAuthError::Missing),
            ),
            (
                Some(basic_of("sandbox+sandbox_pub:wrong")),
                Some(&id),
                Err(ManageAuthError::BadKeys),
            ),
            (
                Some(basic_of("sandbox_pub:sandbox_priv")),
                Some(&id),
                Err(ManageAuthError::BadKeys),
            ),
            (
                Some(basic_of("other+sandbox_pub:sandbox_priv")),
                Some(&id),
                Err(ManageAuthError::BadKeys),
            ),
            (Some(ok.clone()), None, Err(ManageAuthError::NoClientId)),
            (
                Some(ok),
                Some("11111111-1111-1111-1111-111111111111"),
                Err(ManageAuthError::BadClientId),
            ),
        ];
        for (auth, client, want) in cases {
            assert_eq!(
                check_manage(&headers(auth.as_deref(), client), &creds),
                want,
                "{auth:?} {client:?}"
            );
        }
    }

    #[test]
    fn tokens_expire() {
        let tokens = Tokens::new(1, Duration::from_millis(0));
        let t = tokens.issue();
        assert_eq!(
            tokens.check(&headers(Some(&format!("Bearer {t}")), None)),
            TokenState::Expired
        );
        let tokens = Tokens::new(1, Duration::from_secs(60));
        let t = tokens.issue();
        assert_ne!(t, tokens.issue());
        assert_eq!(
            tokens.check(&headers(Some(&format!("Bearer {t}")), None)),
            TokenState::Valid
        );
        assert_eq!(
            tokens.check(&headers(Some("Bearer nope"), None)),
            TokenState::Unknown
        );
        assert_eq!(tokens.check(&headers(None, None)), TokenState::Missing);
    }
}
