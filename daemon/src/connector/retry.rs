//! The retry policy: which requests may be sent again, when, and how long to wait.
//!
//! Only idempotent requests are retried (GET, and reads sent as POST that are marked so). POST,
//! PATCH, PUT and DELETE change ConnectWise and are sent at most once (invariant 4), whatever the
//! answer. A 429 is retried after its `Retry-After` (seconds or an HTTP date) plus jitter, unless
//! that is longer than [`Policy::max_wait`], in which case the caller gets `rate_limited` at once;
//! 500/502/503/504, timeouts and connection failures are retried with exponential backoff and
//! jitter. After the last attempt the final answer or failure is returned for mapping to a
//! structured error. Waits use tokio time.
//!
//! The decision is a pure function ([`next_step`]) so it is table-tested without waiting.

use std::future::Future;
use std::time::Duration;

use chrono::{DateTime, Utc};
use rand::Rng;
use reqwest::{Method, StatusCode};

use super::{Answer, Attempt, Error, Product, millis};

/// Wait assumed for a 429 without a usable `Retry-After`.
pub const FALLBACK_RETRY_AFTER: Duration = Duration::from_secs(5);

/// How hard to try.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// Attempts per request, the first included (1 = never retry).
    pub max_attempts: u32,
    /// Longest single wait before a retry; a `Retry-After` beyond it is not waited for.
    pub max_wait: Duration,
    /// First backoff after a 5xx or a failure; doubled each attempt.
    pub base_backoff: Duration,
    /// Most random time added to a `Retry-After` wait.
    pub jitter: Duration,
    /// Per attempt: connect, send, and read the whole answer.
    pub timeout: Duration,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            max_attempts: 3,
            max_wait: Duration::from_secs(10),
            base_backoff: Duration::from_millis(250),
            jitter: Duration::from_millis(250),
            timeout: Duration::from_secs(30),
        }
    }
}

/// Whether a request may be sent more than once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Idempotency {
    /// A read: sending it again changes nothing.
    Safe,
    /// A write: sent at most once.
    Unsafe,
}

impl Idempotency {
    /// GET, HEAD and OPTIONS are safe; everything else (DELETE included: it is a write, and a
    /// write reaches ConnectWise at most once) is not.
    pub fn of(method: &Method) -> Self {
        if matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS) {
            Idempotency::Safe
        } else {
            Idempotency::Unsafe
        }
    }
}

/// What one attempt came to, as far as retrying is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// 429, with the parsed `Retry-After` if there was one.
    RateLimited(Option<Duration>),
    /// 500, 502, 503, 504.
    ServerError,
    Timeout,
    /// Connection refused or reset, DNS, TLS.
    Transport,
    /// Anything else: success, or an error that the same request would get again.
    Final,
}

/// What to do after an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    Retry(Duration),
    Stop,
}

/// Decides whether attempt number `attempt` (1-based) is followed by another, and after what
/// wait. `unit` is a random number in `[0, 1)` for the jitter.
pub fn next_step(
    policy: &Policy,
    idempotency: Idempotency,
    attempt: u32,
    outcome: Outcome,
    unit: f64,
) -> Step {
    if idempotency == Idempotency::Unsafe || attempt >= policy.max_attempts {
        return Step::Stop;
    }
    let unit = unit.clamp(0.0, 1.0);
    match outcome {
        Outcome::Final => Step::Stop,
        Outcome::RateLimited(retry_after) => {
            let wait = retry_after.unwrap_or_else(|| backoff(policy, attempt));
            if wait > policy.max_wait {
                // Waiting that long inside one tool call is worse than telling the caller.
                Step::Stop
            } else {
                // Never earlier than asked; the jitter spreads concurrent callers out.
                Step::Retry(wait + policy.jitter.mul_f64(unit))
            }
        }
        Outcome::ServerError | Outcome::Timeout | Outcome::Transport => {
            // "Equal jitter": half the backoff fixed, half random.
            let b = backoff(policy, attempt);
            Step::Retry(b.mul_f64(0.5 + 0.5 * unit))
        }
    }
}

/// `base_backoff * 2^(attempt-1)`, capped at `max_wait`.
fn backoff(policy: &Policy, attempt: u32) -> Duration {
    let factor = 2u32.saturating_pow(attempt.saturating_sub(1).min(16));
    policy
        .base_backoff
        .saturating_mul(factor)
        .min(policy.max_wait)
}

/// Parses `Retry-After`: delay seconds, or an HTTP date (RFC 9110 IMF-fixdate, which RFC 2822
/// parsing accepts) relative to `now`. A date in the past is zero.
pub fn parse_retry_after(value: &str, now: DateTime<Utc>) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let date = DateTime::parse_from_rfc2822(value).ok()?;
    let delta = date.with_timezone(&Utc) - now;
    Some(delta.to_std().unwrap_or(Duration::ZERO))
}

/// Classifies an attempt's result.
pub fn outcome_of(result: &Result<Answer, Attempt>) -> Outcome {
    match result {
        Err(Attempt::Timeout) => Outcome::Timeout,
        Err(Attempt::Transport(_)) => Outcome::Transport,
        Ok(answer) => match answer.status {
            StatusCode::TOO_MANY_REQUESTS => Outcome::RateLimited(
                answer
                    .header("retry-after")
                    .and_then(|v| parse_retry_after(v, Utc::now())),
            ),
            StatusCode::INTERNAL_SERVER_ERROR
            | StatusCode::BAD_GATEWAY
            | StatusCode::SERVICE_UNAVAILABLE
            | StatusCode::GATEWAY_TIMEOUT => Outcome::ServerError,
            _ => Outcome::Final,
        },
    }
}

/// Runs `attempt` until the policy says stop; returns the last answer (whatever its status), or
/// the last failure as an error.
pub async fn run<F, Fut>(
    policy: &Policy,
    idempotency: Idempotency,
    product: Product,
    mut attempt: F,
) -> Result<Answer, Error>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Answer, Attempt>>,
{
    let mut n = 0;
    loop {
        n += 1;
        let result = attempt().await;
        let outcome = outcome_of(&result);
        let unit: f64 = rand::rng().random();
        match next_step(policy, idempotency, n, outcome, unit) {
            Step::Retry(wait) => {
                tracing::debug!(
                    %product,
                    attempt = n,
                    ?outcome,
                    wait_ms = millis(wait),
                    "retrying an upstream request"
                );
                tokio::time::sleep(wait).await;
            }
            Step::Stop => {
                return match result {
                    Ok(answer) => Ok(answer),
                    Err(Attempt::Timeout) => Err(Error::Timeout {
                        product,
                        timeout_ms: millis(policy.timeout),
                    }),
                    Err(Attempt::Transport(message)) => Err(Error::UpstreamUnavailable {
                        product,
                        status: None,
                        message,
                    }),
                };
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Idempotency = Idempotency::Safe;
    const U: Idempotency = Idempotency::Unsafe;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn steps_table() {
        let p = Policy {
            max_attempts: 3,
            max_wait: Duration::from_secs(10),
            base_backoff: ms(100),
            jitter: ms(200),
            timeout: Duration::from_secs(1),
        };
        let one = Some(Duration::from_secs(1));
        let cases: &[(Idempotency, u32, Outcome, f64, Step)] = &[
            // 429: at least Retry-After, plus up to `jitter`.
            (S, 1, Outcome::RateLimited(one), 0.0, Step::Retry(ms(1000))),
            (S, 1, Outcome::RateLimited(one), 0.5, Step::Retry(ms(1100))),
            (S, 2, Outcome::RateLimited(one), 0.0, Step::Retry(ms(1000))),
            // The last attempt is the last.
            (S, 3, Outcome::RateLimited(one), 0.0, Step::Stop),
            // Longer than max_wait: tell the caller instead of waiting.
            (
                S,
                1,
                Outcome::RateLimited(Some(Duration::from_secs(11))),
                0.0,
                Step::Stop,
            ),
            // No Retry-After: backoff.
            (S, 1, Outcome::RateLimited(None), 0.0, Step::Retry(ms(100))),
            // 5xx and failures: equal-jitter exponential backoff.
            (S, 1, Outcome::ServerError, 0.0, Step::Retry(ms(50))),
            (S, 1, Outcome::ServerError, 1.0, Step::Retry(ms(100))),
            (S, 2, Outcome::Timeout, 0.0, Step::Retry(ms(100))),
            (S, 2, Outcome::Transport, 1.0, Step::Retry(ms(200))),
            (S, 3, Outcome::ServerError, 0.0, Step::Stop),
            (S, 1, Outcome::Final, 0.0, Step::Stop),
            // Writes are never sent twice, whatever happened.
            (U, 1, Outcome::RateLimited(one), 0.0, Step::Stop),
            (U, 1, Outcome::ServerError, 0.0, Step::Stop),
            (U, 1, Outcome::Timeout, 0.0, Step::Stop),
            (U, 1, Outcome::Transport, 0.0, Step::Stop),
        ];
        for (idem, attempt, outcome, unit, want) in cases {
            assert_eq!(
                next_step(&p, *idem, *attempt, *outcome, *unit),
                *want,
                "{idem:?} attempt {attempt} {outcome:?} unit {unit}"
            );
        }
    }

    #[test]
    fn backoff_is_capped() {
        let p = Policy {
            max_attempts: 40,
            base_backoff: Duration::from_secs(1),
            max_wait: Duration::from_secs(10),
            ..Policy::default()
        };
        assert_eq!(
            next_step(&p, S, 30, Outcome::ServerError, 1.0),
            Step::Retry(Duration::from_secs(10))
        );
    }

    #[test]
    fn idempotency_by_method() {
        for (m, want) in [
            (Method::GET, S),
            (Method::HEAD, S),
            (Method::POST, U),
            (Method::PATCH, U),
            (Method::PUT, U),
            (Method::DELETE, U),
        ] {
            assert_eq!(Idempotency::of(&m), want, "{m}");
        }
    }

    #[test]
    fn retry_after_forms() {
        let now = DateTime::parse_from_rfc3339("2015-10-21T07:27:50Z")
            .unwrap()
            .with_timezone(&Utc);
        let cases = [
            ("3", Some(Duration::from_secs(3))),
            (" 0 ", Some(Duration::ZERO)),
            (
                "Wed, 21 Oct 2015 07:28:00 GMT",
                Some(Duration::from_secs(10)),
            ),
            ("Wed, 21 Oct 2015 07:00:00 GMT", Some(Duration::ZERO)),
            ("soon", None),
            ("-1", None),
        ];
        for (value, want) in cases {
            assert_eq!(parse_retry_after(value, now), want, "{value}");
        }
    }
}
