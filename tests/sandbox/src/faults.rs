//! Fault injection: per path pattern, added latency, 429 with `Retry-After`, 5xx, hangs, and
//! truncated or malformed bodies; deterministic for a given seed and request order.
//!
//! SPEC grammar (the `--faults` flag and `POST /__sandbox/faults` with a text body):
//! ```text
//! SPEC    := RULE (";" RULE)*
//! RULE    := [METHOD " "] PATTERN "=" FAULT ("," OPTION)*
//! PATTERN := a path glob; "*" matches any run of characters, "/" included; case-insensitive
//! FAULT   := "latency:" MILLIS | "429" [":" RETRY_AFTER_SECS] | "500" | "502" | "503" | "504"
//!          | "hang" | "truncate" | "malformed"
//! OPTION  := "p=" PROBABILITY (0..1, default 1) | "times=" N (fire at most N times)
//! ```
//! Example: `GET */service/tickets*=429:2,times=1; */company/*=latency:300; *=503,p=0.05`.
//! Latency rules add up and let the request go on; the first other rule that fires decides the answer.

use std::fmt;
use std::sync::Mutex;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

/// What a rule does to a matching request.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum FaultKind {
    /// Wait this long, then answer normally.
    Latency { ms: u64 },
    /// 429 with `Retry-After: retry_after` seconds.
    RateLimit { retry_after: u64 },
    /// A 5xx status.
    ServerError { status: u16 },
    /// Never answer (until the client gives up or the sandbox shuts down).
    Hang,
    /// The real answer with its body cut in half.
    Truncate,
    /// The real status with a body that is not valid JSON.
    Malformed,
}

impl FaultKind {
    /// Short name, as recorded in the journal.
    pub fn name(&self) -> &'static str {
        match self {
            FaultKind::Latency { .. } => "latency",
            FaultKind::RateLimit { .. } => "rate_limit",
            FaultKind::ServerError { .. } => "server_error",
            FaultKind::Hang => "hang",
            FaultKind::Truncate => "truncate",
            FaultKind::Malformed => "malformed",
        }
    }
}

/// One fault rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FaultRule {
    /// Upper-case HTTP method, or any method when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    pub pattern: String,
    pub fault: FaultKind,
    #[serde(default = "one")]
    pub probability: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub times: Option<u64>,
}

fn one() -> f64 {
    1.0
}

/// A SPEC that does not follow the grammar in this module's documentation.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error(
    "rule '{rule}': {reason} (grammar: [METHOD ]PATTERN=FAULT[,p=P][,times=N], FAULT one of latency:MS, 429[:SECS], 500, 502, 503, 504, hang, truncate, malformed)"
)]
pub struct SpecError {
    pub rule: String,
    pub reason: String,
}

/// Parses a SPEC; empty rules (`;;`) are skipped.
pub fn parse_spec(spec: &str) -> Result<Vec<FaultRule>, SpecError> {
    spec.split(';')
        .map(str::trim)
        .filter(|r| !r.is_empty())
        .map(parse_rule)
        .collect()
}

fn parse_rule(rule: &str) -> Result<FaultRule, SpecError> {
    let fail = |reason: &str| SpecError {
        rule: rule.to_string(),
        reason: reason.to_string(),
    };
    let (target, action) = rule.split_once('=').ok_or_else(|| fail("missing '='"))?;
    let target = target.trim();
    let (method, pattern) = match target.split_once(char::is_whitespace) {
        Some((m, p)) => (Some(m.trim().to_ascii_uppercase()), p.trim()),
        None => (None, target),
    };
    if pattern.is_empty() {
        return Err(fail("empty path pattern"));
    }
    if let Some(m) = &method
        && !["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"].contains(&m.as_str())
    {
        return Err(fail("unknown method"));
    }
    let mut parts = action.split(',').map(str::trim);
    let fault_text = parts.next().unwrap_or_default();
    let number = |text: &str| {
        text.parse::<u64>()
            .map_err(|_| fail("expected a whole number"))
    };
    let fault = match fault_text.split_once(':') {
        Some(("latency", ms)) => FaultKind::Latency { ms: number(ms)? },
        Some(("429", secs)) => FaultKind::RateLimit {
            retry_after: number(secs)?,
        },
        None if fault_text == "429" => FaultKind::RateLimit { retry_after: 1 },
        None if matches!(fault_text, "500" | "502" | "503" | "504") => FaultKind::ServerError {
            status: number(fault_text)? as u16,
        },
        None if fault_text == "hang" => FaultKind::Hang,
        None if fault_text == "truncate" => FaultKind::Truncate,
        None if fault_text == "malformed" => FaultKind::Malformed,
        _ => return Err(fail("unknown fault")),
    };
    let mut parsed = FaultRule {
        method,
        pattern: pattern.to_string(),
        fault,
        probability: 1.0,
        times: None,
    };
    for option in parts {
        match option.split_once('=') {
            Some(("p", p)) => {
                parsed.probability = p
                    .parse::<f64>()
                    .ok()
                    .filter(|p| (0.0..=1.0).contains(p))
                    .ok_or_else(|| fail("p must be between 0 and 1"))?;
            }
            Some(("times", n)) => parsed.times = Some(number(n)?),
            _ => return Err(fail("unknown option")),
        }
    }
    Ok(parsed)
}

impl fmt::Display for FaultRule {
    /// The rule in SPEC form (parses back to itself).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(m) = &self.method {
            write!(f, "{m} ")?;
        }
        write!(f, "{}=", self.pattern)?;
        match self.fault {
            FaultKind::Latency { ms } => write!(f, "latency:{ms}")?,
            FaultKind::RateLimit { retry_after } => write!(f, "429:{retry_after}")?,
            FaultKind::ServerError { status } => write!(f, "{status}")?,
            FaultKind::Hang => write!(f, "hang")?,
            FaultKind::Truncate => write!(f, "truncate")?,
            FaultKind::Malformed => write!(f, "malformed")?,
        }
        if self.probability < 1.0 {
            write!(f, ",p={}", self.probability)?;
        }
        if let Some(n) = self.times {
            write!(f, ",times={n}")?;
        }
        Ok(())
    }
}

/// Glob match with `*` as "any run of characters", ignoring ASCII case.
pub fn glob(pattern: &str, text: &str) -> bool {
    let p: Vec<u8> = pattern.bytes().map(|b| b.to_ascii_lowercase()).collect();
    let t: Vec<u8> = text.bytes().map(|b| b.to_ascii_lowercase()).collect();
    let (mut pi, mut ti) = (0, 0);
    let mut backtrack: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && p[pi] == b'*' {
            backtrack = Some((pi, ti));
            pi += 1;
        } else if pi < p.len() && p[pi] == t[ti] {
            pi += 1;
            ti += 1;
        } else if let Some((bp, bt)) = backtrack {
            pi = bp + 1;
            ti = bt + 1;
            backtrack = Some((bp, bt + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&b| b == b'*')
}

struct Active {
    rule: FaultRule,
    rng: ChaCha8Rng,
    fired: u64,
}

/// What the rules decided for one request.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Decision {
    pub latency_ms: u64,
    pub terminal: Option<FaultKind>,
}

impl Decision {
    /// Names of the faults applied, for the journal.
    pub fn names(&self) -> Vec<&'static str> {
        let mut names = Vec::new();
        if self.latency_ms > 0 {
            names.push("latency");
        }
        if let Some(t) = &self.terminal {
            names.push(t.name());
        }
        names
    }
}

/// The live rule set.
pub struct Faults {
    seed: u64,
    added: Mutex<(u64, Vec<Active>)>,
}

impl Faults {
    pub fn new(seed: u64, rules: Vec<FaultRule>) -> Self {
        let faults = Faults {
            seed,
            added: Mutex::new((0, Vec::new())),
        };
        faults.add(rules);
        faults
    }

    /// Appends rules; each gets its own random stream from (seed, how many rules came before), so
    /// a run with the same seed and the same requests sees the same faults.
    pub fn add(&self, rules: Vec<FaultRule>) {
        let mut guard = self.added.lock().unwrap_or_else(|e| e.into_inner());
        for rule in rules {
            guard.0 += 1;
            let stream = self.seed ^ guard.0.wrapping_mul(0x9E37_79B9_7F4A_7C15);
            guard.1.push(Active {
                rule,
                rng: ChaCha8Rng::seed_from_u64(stream),
                fired: 0,
            });
        }
    }

    pub fn clear(&self) {
        self.added
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .1
            .clear();
    }

    pub fn rules(&self) -> Vec<FaultRule> {
        let guard = self.added.lock().unwrap_or_else(|e| e.into_inner());
        guard.1.iter().map(|a| a.rule.clone()).collect()
    }

    /// Applies the rules to one request.
    pub fn decide(&self, method: &str, path: &str) -> Decision {
        let mut decision = Decision::default();
        let mut guard = self.added.lock().unwrap_or_else(|e| e.into_inner());
        if guard.1.is_empty() {
            return decision;
        }
        for active in guard.1.iter_mut() {
            let rule = &active.rule;
            if rule
                .method
                .as_deref()
                .is_some_and(|m| !m.eq_ignore_ascii_case(method))
                || !glob(&rule.pattern, path)
                || rule.times.is_some_and(|n| active.fired >= n)
            {
                continue;
            }
            // Drawn for every matching request, so one rule's stream does not depend on the others.
            let roll: f64 = active.rng.random();
            let terminal = !matches!(rule.fault, FaultKind::Latency { .. });
            if (terminal && decision.terminal.is_some()) || roll >= rule.probability {
                continue;
            }
            active.fired += 1;
            match rule.fault {
                FaultKind::Latency { ms } => decision.latency_ms += ms,
                other => decision.terminal = Some(other),
            }
        }
        decision
    }
}

/// Cuts a body in half (the `truncate` fault).
pub fn truncate(body: &[u8]) -> Vec<u8> {
    body[..body.len() / 2].to_vec()
}

/// A body that is not valid JSON (the `malformed` fault): the real one with its quotes broken.
pub fn malform(body: &[u8]) -> Vec<u8> {
    let mut out = b"{\"".to_vec();
    out.extend(body.iter().map(|&b| if b == b'"' { b'\'' } else { b }));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_table() {
        let cases: &[(&str, FaultRule)] = &[
            (
                "GET */service/tickets*=429:2,times=1",
                FaultRule {
                    method: Some("GET".into()),
                    pattern: "*/service/tickets*".into(),
                    fault: FaultKind::RateLimit { retry_after: 2 },
                    probability: 1.0,
                    times: Some(1),
                },
            ),
            (
                "*/company/*=latency:300",
                FaultRule {
                    method: None,
                    pattern: "*/company/*".into(),
                    fault: FaultKind::Latency { ms: 300 },
                    probability: 1.0,
                    times: None,
                },
            ),
            (
                "post /x=503,p=0.25",
                FaultRule {
                    method: Some("POST".into()),
                    pattern: "/x".into(),
                    fault: FaultKind::ServerError { status: 503 },
                    probability: 0.25,
                    times: None,
                },
            ),
            (
                "*=hang",
                FaultRule {
                    method: None,
                    pattern: "*".into(),
                    fault: FaultKind::Hang,
                    probability: 1.0,
                    times: None,
                },
            ),
        ];
        for (spec, want) in cases {
            let got = parse_spec(spec).unwrap();
            assert_eq!(got, vec![want.clone()], "{spec}");
            assert_eq!(
                parse_spec(&got[0].to_string()).unwrap(),
                got,
                "round trip of {spec}"
            );
        }
        for bad in [
            "*",
            "*=418",
            "*=latency:soon",
            "*=429,p=2",
            "FETCH /x=500",
            "=500",
            "*=500,retries=3",
        ] {
            assert!(parse_spec(bad).is_err(), "{bad}");
        }
        assert_eq!(parse_spec(" a=hang ; ; b=truncate ").unwrap().len(), 2);
    }

    #[test]
    fn glob_table() {
        let cases = [
            ("*", "/anything/at/all", true),
            (
                "*/service/tickets*",
                "/v4_6_release/apis/3.0/service/tickets/12",
                true,
            ),
            (
                "*/service/tickets",
                "/v4_6_release/apis/3.0/service/tickets/12",
                false,
            ),
            ("/rmm/*/token", "/rmm/v1/token", true),
            ("*/COMPANY/*", "/v2025_1/apis/3.0/company/companies", true),
            ("*a*b*c", "xxaxxbxxc", true),
            ("*a*b*c", "xxaxxcxxb", false),
        ];
        for (pattern, path, want) in cases {
            assert_eq!(glob(pattern, path), want, "{pattern} vs {path}");
        }
    }

    #[test]
    fn decisions_are_deterministic_and_respect_times_and_probability() {
        let rules = parse_spec("GET /a=429:3,times=2; /a=latency:10; /a*=500,p=0.5").unwrap();
        let run = |seed| {
            let faults = Faults::new(seed, rules.clone());
            (0..40)
                .map(|_| faults.decide("GET", "/a"))
                .collect::<Vec<_>>()
        };
        let first = run(7);
        assert_eq!(first, run(7));
        assert_eq!(
            first[0].terminal,
            Some(FaultKind::RateLimit { retry_after: 3 })
        );
        assert_eq!(
            first[1].terminal,
            Some(FaultKind::RateLimit { retry_after: 3 })
        );
        assert!(first.iter().all(|d| d.latency_ms == 10));
        let server_errors = first[2..]
            .iter()
            .filter(|d| d.terminal == Some(FaultKind::ServerError { status: 500 }))
            .count();
        assert!(
            (8..=30).contains(&server_errors),
            "p=0.5 fired {server_errors} of 38"
        );
        let faults = Faults::new(7, rules);
        assert_eq!(faults.decide("POST", "/b"), Decision::default());
    }

    #[test]
    fn mangled_bodies_are_not_json() {
        let body = br#"{"id":1,"summary":"x"}"#;
        assert!(serde_json::from_slice::<serde_json::Value>(&truncate(body)).is_err());
        assert!(serde_json::from_slice::<serde_json::Value>(&malform(body)).is_err());
    }
}
