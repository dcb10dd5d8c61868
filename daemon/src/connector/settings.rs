//! Connector settings from the `CW_*` environment names MSPs already use (DESIGN "Connectors").
//!
//! Manage (PSA) is required: `CW_API_URL`, `CW_COMPANY_ID`, `CW_PUBLIC_KEY`, `CW_PRIVATE_KEY`,
//! `CW_CLIENT_ID` (plus the optional `CW_AUTH_PREFIX`, `CW_TIMEZONE`). Asio (`CW_RMM_*`), Sell
//! (`CW_CPQ_*`) and ScreenConnect (`CW_SC_*`) are optional: when absent or incomplete they are
//! [`Optional::NotConfigured`] with the reason, and their tools answer `not_configured`.
//!
//! Variables are read through an injectable lookup so tests never touch the process environment.
//! Secrets are [`Secret`]s, whose `Debug` never prints them.

use std::fmt;

use reqwest::Url;
use schemas::event::ConnectorState;

use super::Product;

/// A credential. `Debug` prints `Secret(***)`; there is no `Display`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The value, for building an auth header and nothing else.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// Manage (PSA).
#[derive(Debug, Clone, PartialEq)]
pub struct ManageSettings {
    /// The API root, `https://HOST/CODEBASE/apis/3.0`.
    pub url: Url,
    /// `CW_COMPANY_ID`: the login company.
    pub company: String,
    pub public_key: String,
    pub private_key: Secret,
    /// `CW_AUTH_PREFIX`: what goes before the public key in the Basic user name, `company+` by
    /// default (API-NOTES §3).
    pub auth_prefix: Option<String>,
    /// `CW_CLIENT_ID`: the `clientId` header.
    pub client_id: String,
    /// `CW_TIMEZONE`: the MSP's IANA time zone, for schedules and date conditions.
    pub timezone: Option<String>,
}

impl ManageSettings {
    /// The Basic user name: `{prefix}{publicKey}`, the prefix being `CW_AUTH_PREFIX` (a `+` is
    /// added if it lacks one) or `{company}+`.
    pub fn username(&self) -> String {
        let prefix = match &self.auth_prefix {
            Some(p) if p.ends_with('+') => p.clone(),
            Some(p) => format!("{p}+"),
            None => format!("{}+", self.company),
        };
        format!("{prefix}{}", self.public_key)
    }
}

/// Asio (ConnectWise RMM): OAuth2 client credentials.
#[derive(Debug, Clone, PartialEq)]
pub struct AsioSettings {
    /// API base (the token endpoint is `{url}/v1/token`).
    pub url: Url,
    pub client_id: String,
    pub client_secret: Secret,
}

/// Sell (CPQ): Basic `accessKey+publicKey:privateKey`.
#[derive(Debug, Clone, PartialEq)]
pub struct SellSettings {
    /// API base (`{url}/api/quotes`, ...).
    pub url: Url,
    pub access_key: String,
    pub public_key: String,
    pub private_key: Secret,
}

/// ScreenConnect (Control): the RESTful API Manager extension's shared secret.
#[derive(Debug, Clone, PartialEq)]
pub struct ScreenConnectSettings {
    /// API base (`{url}/api/v1/sessions`, ...).
    pub url: Url,
    pub auth_secret: Secret,
    /// `CW_SC_EXTENSION_ID`: the extension's id, kept for the instance URL shape; the sandbox's
    /// Session Manager API does not need it.
    pub extension_id: Option<String>,
}

/// An optional product: configured, or why not.
#[derive(Debug, Clone, PartialEq)]
pub enum Optional<T> {
    Configured(T),
    NotConfigured { problem: String },
}

impl<T> Optional<T> {
    pub fn configured(&self) -> Option<&T> {
        match self {
            Optional::Configured(t) => Some(t),
            Optional::NotConfigured { .. } => None,
        }
    }

    pub fn problem(&self) -> Option<&str> {
        match self {
            Optional::Configured(_) => None,
            Optional::NotConfigured { problem } => Some(problem),
        }
    }
}

/// Every connector's settings.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    pub manage: ManageSettings,
    pub asio: Optional<AsioSettings>,
    pub sell: Optional<SellSettings>,
    pub screenconnect: Optional<ScreenConnectSettings>,
}

/// Why the required Manage settings are unusable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SettingsError {
    #[error(
        "ConnectWise Manage (PSA) is required and is not configured: set {}. \
         `nightjar-sandbox` prints a working set for the local sandbox tenant.",
        missing.join(", ")
    )]
    Missing { missing: Vec<&'static str> },
    #[error("{var} is not usable: {problem}")]
    Invalid { var: &'static str, problem: String },
}

/// Default Asio API host (North America; EU and AU have their own, API-NOTES §14).
pub const DEFAULT_ASIO_URL: &str = "https://openapi.service.itsupport247.net";
/// Default Sell API host.
pub const DEFAULT_SELL_URL: &str = "https://sellapi.quosalsell.com";

impl Settings {
    /// Every configured credential, for the redactor's literal list: none of them may ever
    /// reach the log or the tracing output, whatever their shape.
    pub fn secrets(&self) -> Vec<String> {
        let mut out = vec![self.manage.private_key.expose().to_owned()];
        if let Some(a) = self.asio.configured() {
            out.push(a.client_secret.expose().to_owned());
        }
        if let Some(s) = self.sell.configured() {
            out.push(s.private_key.expose().to_owned());
            out.push(s.access_key.clone());
        }
        if let Some(sc) = self.screenconnect.configured() {
            out.push(sc.auth_secret.expose().to_owned());
        }
        out
    }

    /// Reads the settings through `get` (a variable's value, or `None`). Blank values count as
    /// absent.
    pub fn from_env(get: impl Fn(&str) -> Option<String>) -> Result<Settings, SettingsError> {
        let get = |name: &str| {
            get(name)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let required = [
            "CW_API_URL",
            "CW_COMPANY_ID",
            "CW_PUBLIC_KEY",
            "CW_PRIVATE_KEY",
            "CW_CLIENT_ID",
        ];
        let missing: Vec<&'static str> = required
            .iter()
            .copied()
            .filter(|n| get(n).is_none())
            .collect();
        if !missing.is_empty() {
            return Err(SettingsError::Missing { missing });
        }
        let value = |n: &str| get(n).unwrap_or_default();
        let url =
            manage_api_root(&value("CW_API_URL")).map_err(|problem| SettingsError::Invalid {
                var: "CW_API_URL",
                problem,
            })?;
        let manage = ManageSettings {
            url,
            company: value("CW_COMPANY_ID"),
            public_key: value("CW_PUBLIC_KEY"),
            private_key: Secret::new(value("CW_PRIVATE_KEY")),
            auth_prefix: get("CW_AUTH_PREFIX"),
            client_id: value("CW_CLIENT_ID"),
            timezone: get("CW_TIMEZONE"),
        };

        let asio = optional(
            &get,
            &["CW_RMM_CLIENT_ID", "CW_RMM_CLIENT_SECRET"],
            &["CW_RMM_API_URL"],
            |v| {
                Ok(AsioSettings {
                    url: base_url(v("CW_RMM_API_URL").as_deref(), DEFAULT_ASIO_URL)
                        .map_err(|p| format!("CW_RMM_API_URL: {p}"))?,
                    client_id: v("CW_RMM_CLIENT_ID").unwrap_or_default(),
                    client_secret: Secret::new(v("CW_RMM_CLIENT_SECRET").unwrap_or_default()),
                })
            },
        );
        let sell = optional(
            &get,
            &[
                "CW_CPQ_ACCESS_KEY",
                "CW_CPQ_PUBLIC_KEY",
                "CW_CPQ_PRIVATE_KEY",
            ],
            &["CW_CPQ_API_URL"],
            |v| {
                Ok(SellSettings {
                    url: base_url(v("CW_CPQ_API_URL").as_deref(), DEFAULT_SELL_URL)
                        .map_err(|p| format!("CW_CPQ_API_URL: {p}"))?,
                    access_key: v("CW_CPQ_ACCESS_KEY").unwrap_or_default(),
                    public_key: v("CW_CPQ_PUBLIC_KEY").unwrap_or_default(),
                    private_key: Secret::new(v("CW_CPQ_PRIVATE_KEY").unwrap_or_default()),
                })
            },
        );
        let screenconnect = optional(
            &get,
            &["CW_SC_URL", "CW_SC_AUTH_SECRET"],
            &["CW_SC_EXTENSION_ID"],
            |v| {
                Ok(ScreenConnectSettings {
                    url: base_url(v("CW_SC_URL").as_deref(), "")
                        .map_err(|p| format!("CW_SC_URL: {p}"))?,
                    auth_secret: Secret::new(v("CW_SC_AUTH_SECRET").unwrap_or_default()),
                    extension_id: v("CW_SC_EXTENSION_ID"),
                })
            },
        );
        Ok(Settings {
            manage,
            asio,
            sell,
            screenconnect,
        })
    }

    /// [`Settings::from_env`] over the process environment.
    pub fn from_process_env() -> Result<Settings, SettingsError> {
        Settings::from_env(|name| std::env::var(name).ok())
    }

    /// [`Settings::from_env`] over `NAME=value` lines, such as the sandbox tenant prints.
    pub fn from_env_lines(lines: &[String]) -> Result<Settings, SettingsError> {
        let env: std::collections::BTreeMap<&str, &str> =
            lines.iter().filter_map(|l| l.split_once('=')).collect();
        Settings::from_env(|name| env.get(name).map(|v| (*v).to_owned()))
    }

    /// What `ConfigLoaded` records about each connector (URLs, never credentials).
    pub fn connector_states(&self) -> Vec<ConnectorState> {
        fn state<T>(product: Product, o: &Optional<T>, url: impl Fn(&T) -> &Url) -> ConnectorState {
            ConnectorState {
                product: product.as_str().to_owned(),
                configured: o.configured().is_some(),
                url: o.configured().map(|t| url(t).to_string()),
                problem: o.problem().map(str::to_owned),
            }
        }
        vec![
            ConnectorState {
                product: Product::Manage.as_str().to_owned(),
                configured: true,
                url: Some(self.manage.url.to_string()),
                problem: None,
            },
            state(Product::Asio, &self.asio, |s| &s.url),
            state(Product::Sell, &self.sell, |s| &s.url),
            state(Product::Screenconnect, &self.screenconnect, |s| &s.url),
        ]
    }
}

/// An optional product: all `required` absent is "not configured"; some absent is "partly
/// configured" (most likely a mistake, so it says which); all present is parsed by `build`.
fn optional<T>(
    get: &dyn Fn(&str) -> Option<String>,
    required: &[&str],
    extra: &[&str],
    build: impl FnOnce(&dyn Fn(&str) -> Option<String>) -> Result<T, String>,
) -> Optional<T> {
    let missing: Vec<&str> = required
        .iter()
        .copied()
        .filter(|n| get(n).is_none())
        .collect();
    if missing.len() == required.len() {
        let mut names = required.to_vec();
        names.extend_from_slice(extra);
        return Optional::NotConfigured {
            problem: format!("not configured (set {})", names.join(", ")),
        };
    }
    if !missing.is_empty() {
        return Optional::NotConfigured {
            problem: format!("partly configured: {} missing", missing.join(", ")),
        };
    }
    match build(get) {
        Ok(t) => Optional::Configured(t),
        Err(problem) => Optional::NotConfigured { problem },
    }
}

fn is_codebase(segment: &str) -> bool {
    if segment.eq_ignore_ascii_case("v4_6_release") {
        return true;
    }
    let Some((year, release)) = segment.strip_prefix("v20").and_then(|r| r.split_once('_')) else {
        return false;
    };
    year.len() == 2
        && year.bytes().all(|b| b.is_ascii_digit())
        && !release.is_empty()
        && release.bytes().all(|b| b.is_ascii_digit())
}

/// Parses a URL, defaulting to https, refusing credentials, queries and plain http to anything
/// but loopback (the keys would cross the network in clear).
fn parse_url(raw: &str) -> Result<Url, String> {
    let raw = raw.trim();
    let with_scheme = if raw.contains("://") {
        raw.to_owned()
    } else {
        format!("https://{raw}")
    };
    let url = Url::parse(&with_scheme).map_err(|e| format!("'{raw}' is not a URL ({e})"))?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err("put credentials in their own variables, not in the URL".into());
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err("the URL must not have a query or fragment".into());
    }
    let Some(host) = url.host_str() else {
        return Err(format!("'{raw}' has no host"));
    };
    let loopback = host.eq_ignore_ascii_case("localhost")
        || host
            .trim_matches(['[', ']'])
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    match url.scheme() {
        "https" => Ok(url),
        "http" if loopback => Ok(url),
        "http" => {
            Err("use https: ConnectWise requires TLS, and the keys must not travel in clear".into())
        }
        other => Err(format!("unsupported scheme '{other}'")),
    }
}

/// The Manage API root from `CW_API_URL`: a site (`https://na.myconnectwise.net`), a site and
/// codebase (`.../v4_6_release`), or the full root (`.../v2025_1/apis/3.0`). A bare site gets the
/// stable `v4_6_release` codebase alias (API-NOTES §2).
pub fn manage_api_root(raw: &str) -> Result<Url, String> {
    let mut url = parse_url(raw)?;
    let path = url.path().trim_matches('/').to_owned();
    let segments: Vec<&str> = if path.is_empty() {
        Vec::new()
    } else {
        path.split('/').collect()
    };
    let root = match segments.as_slice() {
        [] => "/v4_6_release/apis/3.0".to_owned(),
        [codebase] if is_codebase(codebase) => format!("/{codebase}/apis/3.0"),
        [codebase, apis, version]
            if is_codebase(codebase) && apis.eq_ignore_ascii_case("apis") && *version == "3.0" =>
        {
            format!("/{codebase}/apis/3.0")
        }
        _ => {
            return Err(format!(
                "'{raw}' is neither a site (https://na.myconnectwise.net) nor an API root \
                 (https://na.myconnectwise.net/v4_6_release/apis/3.0)"
            ));
        }
    };
    url.set_path(&root);
    Ok(url)
}

/// A product base URL, or `default` when unset (an empty default means required).
fn base_url(raw: Option<&str>, default: &str) -> Result<Url, String> {
    let raw = match raw {
        Some(r) => r,
        None if !default.is_empty() => default,
        None => return Err("required".into()),
    };
    let mut url = parse_url(raw)?;
    let trimmed = url.path().trim_end_matches('/').to_owned();
    url.set_path(&trimmed);
    Ok(url)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: BTreeMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| map.get(k).cloned()
    }

    const PSA: &[(&str, &str)] = &[
        ("CW_API_URL", "https://na.myconnectwise.net"),
        ("CW_COMPANY_ID", "acme"),
        ("CW_PUBLIC_KEY", "pub"),
        ("CW_PRIVATE_KEY", "very-secret-private"),
        ("CW_CLIENT_ID", "0000-client"),
    ];

    #[test]
    fn api_root_table() {
        let cases = [
            (
                "https://na.myconnectwise.net",
                Ok("https://na.myconnectwise.net/v4_6_release/apis/3.0"),
            ),
            (
                "na.myconnectwise.net/",
                Ok("https://na.myconnectwise.net/v4_6_release/apis/3.0"),
            ),
            (
                "https://api-eu.myconnectwise.net/v4_6_release/apis/3.0/",
                Ok("https://api-eu.myconnectwise.net/v4_6_release/apis/3.0"),
            ),
            (
                "https://cw.example.com/v2025_1/apis/3.0",
                Ok("https://cw.example.com/v2025_1/apis/3.0"),
            ),
            (
                "https://cw.example.com/v2025_1",
                Ok("https://cw.example.com/v2025_1/apis/3.0"),
            ),
            (
                "http://127.0.0.1:4000/v4_6_release/apis/3.0",
                Ok("http://127.0.0.1:4000/v4_6_release/apis/3.0"),
            ),
            ("http://na.myconnectwise.net", Err("https")),
            ("https://pub:priv@na.myconnectwise.net", Err("credentials")),
            ("https://na.myconnectwise.net/apis/3.0", Err("neither")),
            ("https://na.myconnectwise.net/?x=1", Err("query")),
            ("ftp://na.myconnectwise.net", Err("scheme")),
        ];
        for (raw, want) in cases {
            match (manage_api_root(raw), want) {
                (Ok(url), Ok(w)) => assert_eq!(url.as_str(), w, "{raw}"),
                (Err(e), Err(w)) => assert!(e.contains(w), "{raw}: {e}"),
                (got, _) => panic!("{raw}: got {got:?}, want {want:?}"),
            }
        }
    }

    #[test]
    fn manage_is_required_and_names_what_is_missing() {
        let err = Settings::from_env(env(&[
            ("CW_API_URL", "https://x.example"),
            ("CW_PUBLIC_KEY", " "),
        ]))
        .unwrap_err();
        let SettingsError::Missing { missing } = &err else {
            panic!("{err:?}")
        };
        assert_eq!(
            missing,
            &vec![
                "CW_COMPANY_ID",
                "CW_PUBLIC_KEY",
                "CW_PRIVATE_KEY",
                "CW_CLIENT_ID"
            ]
        );
        assert!(err.to_string().contains("CW_CLIENT_ID"));
    }

    #[test]
    fn optional_products_say_why_they_are_off() {
        let mut pairs = PSA.to_vec();
        pairs.push(("CW_RMM_CLIENT_ID", "rmm"));
        pairs.push(("CW_SC_URL", "https://sc.example"));
        pairs.push(("CW_SC_AUTH_SECRET", "s"));
        let s = Settings::from_env(env(&pairs)).unwrap();
        assert_eq!(
            s.asio.problem(),
            Some("partly configured: CW_RMM_CLIENT_SECRET missing")
        );
        assert!(
            s.sell
                .problem()
                .unwrap()
                .starts_with("not configured (set CW_CPQ_ACCESS_KEY")
        );
        assert!(s.screenconnect.configured().is_some());
        let states = s.connector_states();
        let names: Vec<_> = states
            .iter()
            .map(|c| (c.product.as_str(), c.configured))
            .collect();
        assert_eq!(
            names,
            [
                ("manage", true),
                ("asio", false),
                ("sell", false),
                ("screenconnect", true)
            ]
        );
    }

    #[test]
    fn username_follows_the_prefix() {
        let base = Settings::from_env(env(PSA)).unwrap().manage;
        let cases = [
            (None, "acme+pub"),
            (Some("acme+"), "acme+pub"),
            (Some("other"), "other+pub"),
        ];
        for (prefix, want) in cases {
            let m = ManageSettings {
                auth_prefix: prefix.map(str::to_owned),
                ..base.clone()
            };
            assert_eq!(m.username(), want, "{prefix:?}");
        }
    }

    #[test]
    fn debug_never_prints_secrets() {
        let mut pairs = PSA.to_vec();
        pairs.extend([
            ("CW_RMM_CLIENT_ID", "rmm"),
            ("CW_RMM_CLIENT_SECRET", "rmm-secret-value"),
            ("CW_CPQ_ACCESS_KEY", "ak"),
            ("CW_CPQ_PUBLIC_KEY", "cpub"),
            ("CW_CPQ_PRIVATE_KEY", "cpq-secret-value"),
            ("CW_SC_URL", "https://sc.example"),
            ("CW_SC_AUTH_SECRET", "sc-secret-value"),
        ]);
        let s = Settings::from_env(env(&pairs)).unwrap();
        let printed = format!("{s:?} {s:#?}");
        for secret in [
            "very-secret-private",
            "rmm-secret-value",
            "cpq-secret-value",
            "sc-secret-value",
        ] {
            assert!(!printed.contains(secret), "{secret} leaked");
        }
        assert!(printed.contains("Secret(***)"));
    }
}
