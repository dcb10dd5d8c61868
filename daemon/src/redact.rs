//! Redaction: every string bound for an event or the tracing output passes through here first
//! (invariant 6: nothing secret and no unredacted personal data reaches the log or tracing).
//!
//! Two layers:
//! - a **key-based drop** for JSON ([`value`]): a value under a key that names a secret
//!   (`password`, `Authorization`, `clientSecret`, `CTRLAuthHeader`, `x-api-key`, `ssn`, ...) is
//!   replaced whole by `"[redacted:secret]"`, whatever its shape;
//! - a **value scan** for text ([`text`]): recognisable personal data and credentials are replaced
//!   by typed placeholders, [`EMAIL`], [`PHONE`], [`CARD`], [`SSN`], [`IPV4`], [`JWT`],
//!   [`AWS_KEY`] and [`SECRET`], so a reader still sees *what kind* of thing was there.
//!
//! A [`Redactor`] adds the secrets the daemon was configured with (the ConnectWise private key,
//! the RMM client secret, ...) as exact literals: a secret with no recognisable shape is still
//! never written. The daemon holds one `Arc<Redactor>`; there is no global state.
//! [`RedactingWriter`] puts the same scan in front of a `tracing_subscriber` writer.
//!
//! The scan is a fixed sequence of passes, each a `regex` (linear time, compiled once) plus a
//! validator for what a regex cannot say (Luhn, octet ranges, SSN area rules, the characters
//! around a match, since `regex` has no look-around). Order matters: configured literals first
//! (so no later pass can split a secret and leave half of it), then credentials, then personal
//! data, with the longer digit shapes (cards) before the shorter ones (SSN/SIN, phones).
//!
//! It is a heuristic. It errs towards redacting (a lost word in a log line is cheap, a leaked card
//! number is not) but stays off the shapes a technician's log is full of: ticket and record ids,
//! dates, times, money amounts, version numbers, UUIDs. The trade-offs of each pass are noted
//! beside it. Known gaps: JSON numbers are not scanned (a card stored as a number, but also every
//! millisecond timestamp, would look the same); object keys are not scanned; IPv6, postal
//! addresses, names and unformatted 10-digit phone numbers or 9-digit SSNs are not recognised.

use std::borrow::Cow;
use std::io;
use std::sync::{Arc, LazyLock};

use base64::Engine as _;
use regex::{Captures, Regex};
use serde_json::Value;
use tracing_subscriber::fmt::MakeWriter;

/// What a value under a secret-naming key becomes.
pub const REDACTED_SECRET: &str = "[redacted:secret]";
pub const EMAIL: &str = "[email]";
pub const PHONE: &str = "[phone]";
pub const CARD: &str = "[card]";
/// A US Social Security number or a Canadian Social Insurance Number.
pub const SSN: &str = "[ssn]";
pub const IPV4: &str = "[ipv4]";
pub const JWT: &str = "[jwt]";
pub const AWS_KEY: &str = "[aws_key]";
/// Any other credential: a known token shape, a `Bearer`/`Basic` credential, the value after
/// `password=` and the like, or a configured secret.
pub const SECRET: &str = "[secret]";

/// Configured secrets shorter than this are not matched as literals: a 1-3 character "secret"
/// would blank out that substring everywhere and protect nothing anyway.
pub const MIN_LITERAL_LEN: usize = 4;

/// Redacts a JSON value with the built-in rules only: see [`Redactor::value`].
pub fn value(v: &Value) -> Value {
    walk(v, &text)
}

/// Scans a string with the built-in rules only: see [`Redactor::text`].
pub fn text(s: &str) -> Cow<'_, str> {
    scan(Cow::Borrowed(s))
}

/// The redaction rules plus the literal secrets this daemon was configured with.
///
/// Build it once at start with every configured secret and share it (`Arc<Redactor>`).
#[derive(Default)]
pub struct Redactor {
    /// One alternation of every literal (escaped, longest first), `None` when there are none.
    literals: Option<Regex>,
    count: usize,
}

// Hand-written: the derived one would print the literals' regex, that is, the secrets.
impl std::fmt::Debug for Redactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Redactor")
            .field("literal_secrets", &self.count)
            .finish()
    }
}

impl Redactor {
    /// A redactor that also replaces each of `secrets` (exactly, and in its JSON-escaped form)
    /// with [`SECRET`]. Empty secrets and ones shorter than [`MIN_LITERAL_LEN`] are ignored.
    pub fn new<I, S>(secrets: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut forms: Vec<String> = Vec::new();
        let mut count = 0;
        for secret in secrets {
            let secret = secret.as_ref();
            if secret.chars().count() < MIN_LITERAL_LEN {
                continue;
            }
            count += 1;
            forms.push(secret.to_owned());
            // The same secret inside a JSON string or a `{:?}`-formatted field is escaped.
            if let Ok(quoted) = serde_json::to_string(secret) {
                let escaped = &quoted[1..quoted.len() - 1];
                if escaped != secret {
                    forms.push(escaped.to_owned());
                }
            }
        }
        // Longest first, so a secret that contains another is replaced whole.
        forms.sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
        forms.dedup();
        let literals = if forms.is_empty() {
            None
        } else {
            let pattern = forms
                .iter()
                .map(|f| regex::escape(f))
                .collect::<Vec<_>>()
                .join("|");
            // Escaped literals always compile; the size limit is far above any real config.
            Regex::new(&pattern).ok()
        };
        Redactor { literals, count }
    }

    /// How many literal secrets this redactor replaces.
    pub fn literal_secrets(&self) -> usize {
        self.count
    }

    /// The configured literals, then the value scan ([`text`]).
    pub fn text<'a>(&self, s: &'a str) -> Cow<'a, str> {
        let s = match &self.literals {
            Some(re) => re.replace_all(s, SECRET),
            None => Cow::Borrowed(s),
        };
        scan(s)
    }

    /// A copy of `v` with every value under a secret-naming key replaced by
    /// [`REDACTED_SECRET`] (nulls stay null), the `value` of a `{name|caption|key|label: <secret
    /// name>, value}` pair (ConnectWise custom fields, header lists) likewise, a bare number
    /// under a phone key (`contactPhoneNumber: "3125552000"`) by [`PHONE`], and every other
    /// string passed through [`Redactor::text`]. Object keys, numbers and booleans are kept.
    pub fn value(&self, v: &Value) -> Value {
        walk(v, &|s| self.text(s))
    }
}

fn walk(v: &Value, scan: &dyn Fn(&str) -> Cow<'_, str>) -> Value {
    match v {
        Value::String(s) => Value::String(scan(s).into_owned()),
        Value::Array(items) => Value::Array(items.iter().map(|i| walk(i, scan)).collect()),
        Value::Object(map) => {
            let pair_names_secret = ["name", "caption", "key", "label"]
                .iter()
                .filter_map(|k| map.get(*k).and_then(Value::as_str))
                .any(key_names_secret);
            map.iter()
                .map(|(k, child)| {
                    let drop = key_names_secret(k) || (pair_names_secret && k == "value");
                    let redacted = if drop && !child.is_null() {
                        Value::String(REDACTED_SECRET.to_owned())
                    } else if key_names_phone(k) && child.as_str().is_some_and(is_bare_phone) {
                        Value::String(PHONE.to_owned())
                    } else {
                        walk(child, scan)
                    };
                    (k.clone(), redacted)
                })
                .collect()
        }
        other => other.clone(),
    }
}

/// Lower-case ASCII letters and digits only: `X-Api-Key`, `x_api_key` and `xApiKey` are one name.
fn normalise(key: &str) -> String {
    key.chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

/// Names that are secret on their own.
const SECRET_NAMES: &[&str] = &[
    "auth",
    "bearer",
    "cardnumber",
    "ccnumber",
    "creditcard",
    "credential",
    "credentials",
    "cvc",
    "cvv",
    "pin",
    "pwd",
    "sin",
    "ssn",
    "socialinsurancenumber",
    "socialsecuritynumber",
];

/// Endings that make a name secret: `password` covers `db_password`, `secret` covers
/// `clientSecret`, `privatekey` covers `CW_PRIVATE_KEY`. `token` does not cover `tokens`, so
/// token *counts* (`inputTokens`, `max_tokens`) survive; `publicKey` and `keyId` survive too.
const SECRET_SUFFIXES: &[&str] = &[
    "accesskey",
    "apikey",
    "authheader",
    "authorization",
    "cardnumber",
    "cookie",
    "passcode",
    "passphrase",
    "passwd",
    "password",
    "privatekey",
    "secret",
    "secretkey",
    "signature",
    "token",
];

/// Does this object key or field name name a secret?
pub fn key_names_secret(key: &str) -> bool {
    let n = normalise(key);
    SECRET_NAMES.contains(&n.as_str()) || SECRET_SUFFIXES.iter().any(|s| n.ends_with(s))
}

/// Does this key hold a phone number (`contactPhoneNumber`, `defaultPhoneNbr`, `mobile`, `fax`)?
/// Under such a key an unformatted number is taken too, which the text scan leaves alone.
fn key_names_phone(key: &str) -> bool {
    let n = normalise(key);
    n.contains("phone") || n.contains("mobile") || n.ends_with("fax")
}

/// Only digits and phone punctuation, 7 to 15 digits (E.164): `3125552000`, `+1 312-555-2000`.
/// A `mobileGuid` or a `defaultPhoneType` of `Direct` is not one.
fn is_bare_phone(v: &str) -> bool {
    let digits = v.chars().filter(char::is_ascii_digit).count();
    (7..=15).contains(&digits)
        && v.chars()
            .all(|c| c.is_ascii_digit() || matches!(c, '+' | '(' | ')' | '-' | '.' | ' '))
}

/// Names whose value is a password: redacted after `is`, `:` or `=` whatever it looks like.
fn names_password(n: &str) -> bool {
    matches!(n, "pin" | "pwd")
        || ["password", "passwd", "passphrase", "passcode"]
            .iter()
            .any(|s| n.ends_with(s))
}

// ---------------------------------------------------------------------------------------------
// The value scan.

/// Every pass, in order. Each returns `None` when it changed nothing.
fn scan(mut s: Cow<'_, str>) -> Cow<'_, str> {
    let passes: [fn(&str) -> Option<String>; 13] = [
        pem_private_keys,
        url_credentials,
        jwts,
        aws_keys,
        token_shapes,
        auth_schemes,
        named_values,
        emails,
        ipv4s,
        cards,
        ssns,
        nanp_phones,
        international_phones,
    ];
    for pass in passes {
        if let Some(changed) = pass(&s) {
            s = Cow::Owned(changed);
        }
    }
    s
}

/// Compiles a pattern of this module; they are constants, so a failure is a bug caught by the
/// first test that runs the scan.
fn compile(pattern: &str) -> Regex {
    Regex::new(pattern).expect("redaction pattern compiles")
}

/// `re.replace_all`, where `f` returns `None` to keep a match as it was.
fn replace(
    re: &Regex,
    s: &str,
    mut f: impl FnMut(&Captures<'_>) -> Option<Cow<'static, str>>,
) -> Option<String> {
    let mut changed = false;
    let out = re.replace_all(s, |caps: &Captures<'_>| match f(caps) {
        Some(r) => {
            changed = true;
            r.into_owned()
        }
        None => caps[0].to_owned(),
    });
    match out {
        Cow::Owned(o) if changed => Some(o),
        _ => None,
    }
}

fn char_before(s: &str, at: usize) -> Option<char> {
    s[..at].chars().next_back()
}

/// The two characters before `at`, nearest first.
fn two_before(s: &str, at: usize) -> (Option<char>, Option<char>) {
    let mut it = s[..at].chars().rev();
    (it.next(), it.next())
}

fn two_after(s: &str, at: usize) -> (Option<char>, Option<char>) {
    let mut it = s[at..].chars();
    (it.next(), it.next())
}

fn is_alnum(c: Option<char>) -> bool {
    c.is_some_and(|c| c.is_alphanumeric())
}

fn is_digit(c: Option<char>) -> bool {
    c.is_some_and(|c| c.is_ascii_digit())
}

/// True when a number-shaped match is really part of a longer dotted or dashed run
/// (`1.2.3.4.5`, a UUID, `INC-555-010-0199`, `4111111111111111.00`): the character just outside
/// the match is a joiner with a letter or digit beyond it. `/` only counts in front (a path,
/// `/tickets/4111...`): after a card number it starts an expiry date.
fn continues_run(s: &str, start: usize, end: usize) -> bool {
    let joiner = |c: Option<char>| matches!(c, Some('-' | '.' | '_'));
    let (b1, b2) = two_before(s, start);
    let (a1, a2) = two_after(s, end);
    is_alnum(b1)
        || is_alnum(a1)
        || ((joiner(b1) || b1 == Some('/')) && is_alnum(b2))
        || (joiner(a1) && is_alnum(a2))
}

fn digits_of(s: &str) -> Vec<u32> {
    s.chars().filter_map(|c| c.to_digit(10)).collect()
}

fn luhn(digits: &[u32]) -> bool {
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &d)| {
            if i % 2 == 1 {
                let x = d * 2;
                if x > 9 { x - 9 } else { x }
            } else {
                d
            }
        })
        .sum();
    !digits.is_empty() && sum.is_multiple_of(10)
}

/// A token that looks machine-generated rather than like a word: letters and digits mixed, or a
/// long mixed-case run. `expired`, `reset` and `Basic` do not; `a8Fk29xQ` does.
fn looks_random(tok: &str) -> bool {
    let len = tok.chars().count();
    let digit = tok.chars().any(|c| c.is_ascii_digit());
    let alpha = tok.chars().any(|c| c.is_ascii_alphabetic());
    let upper = tok.chars().any(|c| c.is_ascii_uppercase());
    let lower = tok.chars().any(|c| c.is_ascii_lowercase());
    len >= 8 && ((digit && alpha) || (len >= 16 && upper && lower))
}

/// PEM private keys, whole (or to the end of the text when the END line was cut off).
fn pem_private_keys(s: &str) -> Option<String> {
    static RE: LazyLock<Regex> = LazyLock::new(|| {
        compile(
            r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY-----(?:(?s:.)*?-----END (?:[A-Z0-9]+ )*PRIVATE KEY-----|[A-Za-z0-9+/=\s\\]*)",
        )
    });
    replace(&RE, s, |_| Some(SECRET.into()))
}

/// The password in a URL's userinfo (`https://user:pw@host/`); the user name stays.
fn url_credentials(s: &str) -> Option<String> {
    static RE: LazyLock<Regex> =
        LazyLock::new(|| compile(r"([A-Za-z][A-Za-z0-9+.-]*://[^/\s:@]+:)[^/\s@]+@"));
    replace(&RE, s, |caps| {
        Some(Cow::Owned(format!("{}{SECRET}@", &caps[1])))
    })
}

/// JSON Web Tokens: three base64url segments, the first a JSON header (`eyJ` is `{"`). The
/// signature may be empty (`alg: none`).
fn jwts(s: &str) -> Option<String> {
    static RE: LazyLock<Regex> =
        LazyLock::new(|| compile(r"\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]*"));
    replace(&RE, s, |_| Some(JWT.into()))
}

/// AWS access key ids (long-term `AKIA`, temporary `ASIA`). The secret access key has no prefix;
/// it is caught by its name (`aws_secret_access_key=`) in [`named_values`].
fn aws_keys(s: &str) -> Option<String> {
    static RE: LazyLock<Regex> = LazyLock::new(|| compile(r"\b(?:AKIA|ASIA)[A-Z0-9]{16}\b"));
    replace(&RE, s, |_| Some(AWS_KEY.into()))
}

/// Credentials with a published prefix: GitHub (`ghp_`, `gho_`, `ghu_`, `ghs_`, `ghr_`,
/// `github_pat_`), Slack (`xoxb-` ...), Google API keys (`AIza`), Stripe (`sk_live_`),
/// OpenAI-style model keys (`sk-`, which must contain a digit so `sk-learn-...` prose survives).
fn token_shapes(s: &str) -> Option<String> {
    static RE: LazyLock<Regex> = LazyLock::new(|| {
        compile(
            r"\b(?:gh[pousr]_[A-Za-z0-9]{36,255}|github_pat_[A-Za-z0-9_]{22,255}|xox[bpars]-[A-Za-z0-9-]{10,}|AIza[0-9A-Za-z_-]{35,}|[sr]k_(?:live|test)_[0-9A-Za-z]{16,}|(sk-(?:proj-|ant-)?[A-Za-z0-9_-]{20,}))",
        )
    });
    replace(&RE, s, |caps| match caps.get(1) {
        Some(openai) if !openai.as_str().chars().any(|c| c.is_ascii_digit()) => None,
        _ => Some(SECRET.into()),
    })
}

/// `Bearer <token>` and `Basic <base64 user:pass>`, as in an `Authorization` header; the scheme
/// word stays. A Bearer token must look random and a Basic one must decode to `user:pass`, so
/// "bearer of bad news" and "Basic Services" survive.
fn auth_schemes(s: &str) -> Option<String> {
    static RE: LazyLock<Regex> =
        LazyLock::new(|| compile(r"(?i)\b(bearer|basic)(\s+)([A-Za-z0-9._~+/-]+=*)"));
    replace(&RE, s, |caps| {
        let token = &caps[3];
        let credential = if caps[1].eq_ignore_ascii_case("basic") {
            token.len() >= 8
                && base64::engine::general_purpose::STANDARD
                    .decode(token)
                    .is_ok_and(|d| d.contains(&b':'))
        } else {
            looks_random(token) || token.len() >= 24
        };
        credential.then(|| Cow::Owned(format!("{}{}{SECRET}", &caps[1], &caps[2])))
    })
}

/// Words that follow "password is" / "password:" in a sentence about a password rather than in
/// one that gives it. Only these are kept; any other value after a password word is redacted.
/// A password that is one of these words leaks (a false negative accepted for readable tickets).
const NOT_A_PASSWORD: &[&str] = &[
    "a",
    "about",
    "accepted",
    "also",
    "an",
    "and",
    "being",
    "blank",
    "case",
    "changed",
    "correct",
    "different",
    "due",
    "empty",
    "expired",
    "expiring",
    "fine",
    "for",
    "forgotten",
    "in",
    "incorrect",
    "invalid",
    "it",
    "known",
    "locked",
    "lost",
    "missing",
    "needed",
    "new",
    "no",
    "not",
    "now",
    "ok",
    "old",
    "on",
    "rejected",
    "required",
    "reset",
    "same",
    "saved",
    "sent",
    "set",
    "shared",
    "still",
    "stored",
    "strong",
    "that",
    "the",
    "this",
    "to",
    "too",
    "unknown",
    "updated",
    "valid",
    "weak",
    "working",
    "wrong",
];

/// `name=value`, `name: value`, `"name":"value"`, `name is value` where the name names a
/// secret (the same rule as JSON keys, plus bare `key`). The name and separator stay; the value
/// (up to whitespace, a quote, `&`, `,` or `;`) becomes [`SECRET`].
/// - password words (`password`, `passwd`, `pwd`, `pin`, `passphrase`, `passcode`): any value
///   except a few sentence words after `is`/`:` (see [`NOT_A_PASSWORD`]);
/// - other secret names after `=` (a query string, a config line, a tracing field): any value;
/// - otherwise (and always for bare `key`) only a value that [`looks_random`], so "the token is
///   expired" and "Authorization: Basic ..." read as they were.
///
/// Passwords with spaces are cut at the first space: only the first word is redacted.
fn named_values(s: &str) -> Option<String> {
    static RE: LazyLock<Regex> = LazyLock::new(|| {
        compile(
            r#"(?i)([A-Za-z][A-Za-z0-9_.-]*)(\\?"?[ \t]*(?:[:=]|[ \t](?:is|was)[ \t])[ \t]*\\?"?)([^\s"'\\&,;]+)"#,
        )
    });
    replace(&RE, s, |caps| {
        let name = normalise(&caps[1]);
        let sep = &caps[2];
        let value = &caps[3];
        if value == SECRET || value == REDACTED_SECRET {
            return None;
        }
        let redact = if names_password(&name) {
            sep.contains('=') || {
                let word = value
                    .trim_end_matches(|c: char| c.is_ascii_punctuation())
                    .to_ascii_lowercase();
                !NOT_A_PASSWORD.contains(&word.as_str())
            }
        } else if name == "key" {
            looks_random(value)
        } else if key_names_secret(&name) {
            sep.contains('=') || looks_random(value)
        } else {
            false
        };
        redact.then(|| Cow::Owned(format!("{}{sep}{SECRET}", &caps[1])))
    })
}

/// Email addresses. The top-level domain must be letters, so `user:pass@10.0.0.1` is not one.
fn emails(s: &str) -> Option<String> {
    static RE: LazyLock<Regex> = LazyLock::new(|| {
        compile(r"[A-Za-z0-9._%+-]+@(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?\.)+[A-Za-z]{2,}\b")
    });
    replace(&RE, s, |_| Some(EMAIL.into()))
}

/// Dotted-quad IPv4 addresses with octets 0-255 and no leading zeros (`1.02.3.4` is a version,
/// not an address). Not part of a longer dotted run (`1.2.3.4.5`). Kept, because they identify
/// no one and the daemon's own logs need them: `0.x`, loopback `127.x` and netmasks `255.x`.
/// Four-part version numbers whose parts are all <= 255 (`1.2.3.4`) are redacted: a false
/// positive accepted over missing a customer's address.
fn ipv4s(s: &str) -> Option<String> {
    static RE: LazyLock<Regex> =
        LazyLock::new(|| compile(r"\b([0-9]{1,3})\.([0-9]{1,3})\.([0-9]{1,3})\.([0-9]{1,3})\b"));
    replace(&RE, s, |caps| {
        let m = caps.get(0)?;
        if continues_run(s, m.start(), m.end()) {
            return None;
        }
        let mut octets = [0u32; 4];
        for (i, o) in octets.iter_mut().enumerate() {
            let part = &caps[i + 1];
            if part.len() > 1 && part.starts_with('0') {
                return None;
            }
            *o = part.parse().ok().filter(|v| *v <= 255)?;
        }
        (!matches!(octets[0], 0 | 127 | 255)).then_some(Cow::Borrowed(IPV4))
    })
}

/// Payment card numbers: 13-19 digits, optionally grouped by single spaces or dashes, passing
/// the Luhn check, not starting with 0 (no card network does; zero-padded ids do). When the whole
/// run fails but a run of its groups passes (`4111 1111 1111 1111 12` with an expiry month
/// after it), just those groups are replaced. 10% of random 16-digit numbers pass Luhn, so a
/// long formatted id can be taken for a card: accepted.
fn cards(s: &str) -> Option<String> {
    static RE: LazyLock<Regex> = LazyLock::new(|| compile(r"\b[0-9](?:[ -]?[0-9]){12,18}\b"));
    replace(&RE, s, |caps| {
        let m = caps.get(0)?;
        // A '+' in front makes it an international phone number, a joiner a longer id.
        if continues_run(s, m.start(), m.end()) || char_before(s, m.start()) == Some('+') {
            return None;
        }
        let run = m.as_str();
        let is_card = |span: &str| {
            let d = digits_of(span);
            (13..=19).contains(&d.len()) && d[0] != 0 && luhn(&d)
        };
        if is_card(run) {
            return Some(CARD.into());
        }
        // Byte ranges of the digit groups.
        let mut groups: Vec<(usize, usize)> = Vec::new();
        for (i, c) in run.char_indices() {
            match (c.is_ascii_digit(), groups.last_mut()) {
                (true, Some(g)) if g.1 == i => g.1 = i + 1,
                (true, _) => groups.push((i, i + 1)),
                (false, _) => {}
            }
        }
        let mut best: Option<(usize, usize)> = None;
        for i in 0..groups.len() {
            for j in i..groups.len() {
                let span = &run[groups[i].0..groups[j].1];
                let longer = best.is_none_or(|(a, b)| span.len() > b - a);
                if longer && is_card(span) {
                    best = Some((groups[i].0, groups[j].1));
                }
            }
        }
        let (a, b) = best?;
        Some(Cow::Owned(format!("{}{CARD}{}", &run[..a], &run[b..])))
    })
}

/// US Social Security numbers `AAA-GG-SSSS` (area not 000, 666 or 900-999, group not 00, serial
/// not 0000) and Canadian Social Insurance Numbers `NNN-NNN-NNN` (Luhn; any first digit, since
/// the documented example number starts with 0), with dashes or single spaces, the same separator twice. Both become [`SSN`]. Unseparated
/// 9-digit runs are not taken (they are ids far more often): a false negative. One in ten
/// `NNN NNN NNN` numbers passes Luhn, so an amount written with space thousands separators
/// (`123 456 789`) can be taken for a SIN: accepted.
fn ssns(s: &str) -> Option<String> {
    static RE: LazyLock<Regex> =
        LazyLock::new(|| compile(r"\b([0-9]{3})([ -])([0-9]{2,3})([ -])([0-9]{3,4})\b"));
    replace(&RE, s, |caps| {
        let m = caps.get(0)?;
        if caps[2] != caps[4] || continues_run(s, m.start(), m.end()) {
            return None;
        }
        let (area, group, serial) = (&caps[1], &caps[3], &caps[5]);
        let ssn = group.len() == 2
            && serial.len() == 4
            && area != "000"
            && area != "666"
            && !area.starts_with('9')
            && group != "00"
            && serial != "0000";
        let sin = group.len() == 3 && serial.len() == 3 && luhn(&digits_of(m.as_str()));
        (ssn || sin).then_some(Cow::Borrowed(SSN))
    })
}

/// North American numbers: `555-010-0199`, `555.010.0199`, `(555) 010-0199`, `+1 (555)
/// 010-0199`, `1-555-010-0199`. Groups must be separated (or the area code bracketed), so plain
/// 10-digit ids are not taken, and unformatted numbers are a false negative. Dates (`2026-11-23`,
/// 4-2-2), times and amounts never have the 3-3-4 shape. The exchange is not checked against the
/// NANP rules, because the 555-01XX fiction range (`010`) is what tickets and tests use.
fn nanp_phones(s: &str) -> Option<String> {
    static RE: LazyLock<Regex> = LazyLock::new(|| {
        compile(
            r"(?:\+1[ .-]?|\b1[ .-])?(?:\([0-9]{3}\)[ .-]?|\b[0-9]{3}[ .-])[0-9]{3}[ .-][0-9]{4}\b",
        )
    });
    replace(&RE, s, |caps| {
        let m = caps.get(0)?;
        (!continues_run(s, m.start(), m.end())).then_some(Cow::Borrowed(PHONE))
    })
}

/// International numbers written with a leading `+` and a country code (`+44 20 7946 0958`,
/// `+49-30-1234567`): 8 to 15 digits in all (E.164). Without the `+` a run of digit groups is too
/// ambiguous to call a phone number (`00 44 ...` is a false negative). If the groups run on past
/// 15 digits (a number followed by other figures), the longest prefix of whole groups that fits
/// is taken.
fn international_phones(s: &str) -> Option<String> {
    static RE: LazyLock<Regex> =
        LazyLock::new(|| compile(r"\+[2-9][0-9]{0,2}(?:[ .-]?\(?[0-9]{1,4}\)?){2,7}"));
    replace(&RE, s, |caps| {
        let m = caps.get(0)?;
        if is_alnum(char_before(s, m.start())) {
            return None;
        }
        let run = m.as_str();
        let mut digits = 0;
        let mut cut = 0;
        for (i, c) in run.char_indices() {
            if c.is_ascii_digit() {
                digits += 1;
                if digits > 15 {
                    break;
                }
                // Only cut at the end of a group.
                if !is_digit(run[i + 1..].chars().next()) {
                    cut = i + 1;
                }
            }
        }
        let taken = digits_of(&run[..cut]).len();
        if !(8..=15).contains(&taken) {
            return None;
        }
        // A bracket opened inside the phone number and closed outside it stays balanced.
        let (phone, rest) = run.split_at(cut);
        let rest = if rest.starts_with(')') && phone.contains('(') && !phone.contains(')') {
            &rest[1..]
        } else {
            rest
        };
        Some(Cow::Owned(format!("{PHONE}{rest}")))
    })
}

// ---------------------------------------------------------------------------------------------
// Tracing output.

/// A `tracing_subscriber` [`MakeWriter`] that redacts every formatted line before it reaches the
/// inner writer: `fmt().with_writer(RedactingWriter::new(std::io::stderr, redactor))`.
///
/// The fmt layer formats each event into one buffer and writes it with one call, so each write
/// call is redacted on its own. ANSI colour codes are stripped before the scan (they would split
/// `token=` from its value); use `.with_ansi(false)` to not emit them in the first place.
pub struct RedactingWriter<M> {
    inner: M,
    redactor: Arc<Redactor>,
}

impl<M> RedactingWriter<M> {
    pub fn new(inner: M, redactor: Arc<Redactor>) -> Self {
        RedactingWriter { inner, redactor }
    }
}

impl<'a, M: MakeWriter<'a>> MakeWriter<'a> for RedactingWriter<M> {
    type Writer = Redacted<'a, M::Writer>;

    fn make_writer(&'a self) -> Self::Writer {
        Redacted {
            inner: self.inner.make_writer(),
            redactor: &self.redactor,
        }
    }

    fn make_writer_for(&'a self, meta: &tracing::Metadata<'_>) -> Self::Writer {
        Redacted {
            inner: self.inner.make_writer_for(meta),
            redactor: &self.redactor,
        }
    }
}

/// The writer [`RedactingWriter`] hands out for one event.
pub struct Redacted<'a, W> {
    inner: W,
    redactor: &'a Redactor,
}

impl<W: io::Write> io::Write for Redacted<'_, W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        static ANSI: LazyLock<Regex> = LazyLock::new(|| compile(r"\x1b\[[0-9;]*m"));
        let line = String::from_utf8_lossy(buf);
        let line = if line.contains('\x1b') {
            Cow::Owned(ANSI.replace_all(&line, "").into_owned())
        } else {
            line
        };
        self.inner.write_all(self.redactor.text(&line).as_bytes())?;
        // All of `buf` was consumed, even though fewer or more bytes were written.
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Scans `input` with the built-in rules and compares.
    fn check(input: &str, expected: &str) {
        assert_eq!(text(input), expected, "input: {input:?}");
    }

    /// Each input must come out unchanged.
    fn check_kept(inputs: &[&str]) {
        for input in inputs {
            check(input, input);
        }
    }

    #[test]
    fn emails() {
        check(
            "mail jo.private1970@mailbox.example now",
            "mail [email] now",
        );
        check("<a.b+tag@sub.example.co.uk>", "<[email]>");
        check("x@y.io, z@w.org", "[email], [email]");
        check_kept(&["user@localhost", "sandbox+pub:priv@127.0.0.1", "@handle"]);
    }

    #[test]
    fn phones() {
        check("call +1 (555) 010-0199 today", "call [phone] today");
        check("call 555-010-0199.", "call [phone].");
        check("(312) 555-0107", "[phone]");
        check("555.010.0199", "[phone]");
        check("1-800-555-0199", "[phone]");
        check("+1 (312) 555-0107", "[phone]");
        check("+44 20 7946 0958", "[phone]");
        check("ring +49-30-1234567 or", "ring [phone] or");
        check("+44 20 7946 0958 2026-11-23", "[phone] 2026-11-23");
        check("(+44 20 7946 0958)", "([phone])");
    }

    #[test]
    fn cards() {
        check("card 4111 1111 1111 1111, thanks", "card [card], thanks");
        check("4111-1111-1111-1111", "[card]");
        check("4111111111111111", "[card]");
        check("amex 378282246310005", "amex [card]");
        check("4111 1111 1111 1111 12/27", "[card] 12/27");
        check("5500 0000 0000 0004", "[card]");
    }

    #[test]
    fn ssns_and_sins() {
        check("SSN 123-45-6789.", "SSN [ssn].");
        check("ssn: 219 09 9999", "ssn: [ssn]");
        check("SIN 046-454-286", "SIN [ssn]");
        check("SIN 046 454 286", "SIN [ssn]");
        // Invalid areas, group, serial; SIN failing Luhn; mixed separators.
        check_kept(&[
            "000-12-3456",
            "666-12-3456",
            "912-12-3456",
            "123-00-4567",
            "123-45-0000",
            "046-454-287",
            "123-45 6789",
        ]);
    }

    #[test]
    fn ipv4s() {
        check("from 203.0.113.17:443", "from [ipv4]:443");
        check("10.0.0.1 and 192.168.1.254", "[ipv4] and [ipv4]");
        check("client 8.8.8.8.", "client [ipv4].");
        check_kept(&[
            "256.1.1.1",
            "1.2.3.999",
            "127.0.0.1:8080",
            "0.0.0.0",
            "255.255.255.0",
            "1.2.3.4.5",
            "10.0.19045.3803",
            "v1.2.3.4",
            "192.168.01.1",
        ]);
    }

    #[test]
    fn jwts_and_cloud_keys() {
        check(
            "t=eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U end",
            "t=[jwt] end",
        );
        check("eyJhbGciOiJub25lIn0.eyJzdWIiOiIxIn0.", "[jwt]");
        check("AKIAIOSFODNN7EXAMPLE", "[aws_key]");
        check("id ASIAY34FZKBOKMUTVV7A,", "id [aws_key],");
        check(
            "token ghp_aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789 here",
            "token [secret] here",
        );
        check(
            "github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz",
            "[secret]",
        );
        check("xoxb-123456789012-abcdefghijkl", "[secret]");
        check("AIzaSyA1234567890abcdefghijklmnopqrstuv", "[secret]");
        check("sk_live_4eC39HqLyjWDarjtT1zdp7dc", "[secret]");
        check("sk-proj-Ab3dEf6hIj9kLm2nOp5qRs8t", "[secret]");
        check_kept(&[
            "sk-learn-is-a-library-name",
            "AKIA is a prefix",
            "ghp_short",
        ]);
    }

    #[test]
    fn auth_schemes() {
        check(
            "Authorization: Bearer a8Fk29xQz7LmN3pR",
            "Authorization: Bearer [secret]",
        );
        // base64("sandbox+sandbox_pub:sandbox_priv")
        check(
            "authorization: Basic c2FuZGJveCtzYW5kYm94X3B1YjpzYW5kYm94X3ByaXY=",
            "authorization: Basic [secret]",
        );
        check_kept(&[
            "the bearer of bad news",
            "Basic Services plan",
            "basic troubleshooting",
        ]);
    }

    #[test]
    fn named_values() {
        check(
            "My current password is Spring2023!45 if you need it.",
            "My current password is [secret] if you need it.",
        );
        check("password: hunter2", "password: [secret]");
        check("db_password=x", "db_password=[secret]");
        check("PIN is 4821", "PIN is [secret]");
        check(
            "GET /api?token=abc&page=2",
            "GET /api?token=[secret]&page=2",
        );
        check("CW_PRIVATE_KEY=sandbox_priv", "CW_PRIVATE_KEY=[secret]");
        check(
            r#"{"client_secret": "s3cr3tValue"}"#,
            r#"{"client_secret": "[secret]"}"#,
        );
        check(
            r#"body={\"apiKey\":\"k3yK3yK3y\"}"#,
            r#"body={\"apiKey\":\"[secret]\"}"#,
        );
        check("x-api-key: a1b2c3d4e5f6", "x-api-key: [secret]");
        check("key=Zm9vYmFyMTIzNDU2", "key=[secret]");
        check_kept(&[
            "the password is expired",
            "Password was reset yesterday",
            "password: required",
            "the token is expired",
            "key=summary",
            "tokens=1532",
            "summary: printer offline",
        ]);
    }

    #[test]
    fn url_credentials() {
        check(
            "GET https://sandbox+pub:priv@10.0.0.7/apis",
            "GET https://sandbox+pub:[secret]@[ipv4]/apis",
        );
        check_kept(&["https://example.com:8443/a@b", "mailto:x"]);
    }

    #[test]
    fn private_keys() {
        check(
            "k=-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIB\n-----END EC PRIVATE KEY----- done",
            "k=[secret] done",
        );
        check(
            r"-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49",
            "[secret]",
        );
    }

    /// The shapes a technician's log is full of, none of which is personal data.
    #[test]
    fn everyday_values_survive() {
        check_kept(&[
            "Ticket #1234567 updated",
            "ticket 52011, company 19",
            "2026-11-23",
            "2026-11-23T10:30:00Z",
            "10:30:45",
            "14:05 - 15:30",
            "amount 1250.00",
            "$1,250.00 invoiced",
            "EUR 12 500,75",
            "version 1.2.3",
            "build 10.0.19045.3803",
            "KB5034441",
            "4111 1111 1111 1112",
            "1234567890123456",
            "0000 0000 0000 0000",
            "00000000-0000-0000-0000-000000000000",
            "c3d1a0e2-4b7f-4d2e-9a51-1234567890ab",
            "3125550107",
            "Order 123456789",
            "RAM 16 GB, disk 512 GB, 3 monitors",
            "Printer on floor 3 is offline; user says toner is low.",
            "[redacted:secret]",
        ]);
    }

    #[test]
    fn scan_is_idempotent() {
        for input in [
            "card 4111 1111 1111 1111 mail a@b.io call +1 (555) 010-0199 from 203.0.113.9",
            "password is Spring2023!45; SSN 123-45-6789",
        ] {
            let once = text(input).into_owned();
            assert_ne!(once, input);
            assert_eq!(text(&once), once);
        }
    }

    #[test]
    fn unchanged_text_is_borrowed() {
        assert!(matches!(text("nothing to see"), Cow::Borrowed(_)));
        assert!(matches!(text("a@b.io"), Cow::Owned(_)));
    }

    #[test]
    fn secret_keys_are_dropped_at_any_depth() {
        let input = json!({
            "summary": "Reset for a@b.io",
            "Authorization": "Basic abc",
            "headers": [{"name": "X-Api-Key", "value": "whatever"}, {"name": "Accept", "value": "json"}],
            "auth": {"clientSecret": "plain", "client_id": "rmm"},
            "customFields": [{"id": 4, "caption": "Admin Password", "value": "letmein"}],
            "nested": {"deeper": {"private_key": 42, "refresh_token": null, "CTRLAuthHeader": "x"}},
            "set-cookie": ["a=b"],
            "ssn": "123-45-6789",
            "card_number": "4111111111111111",
            "inputTokens": 1200,
            "contactPhoneNumber": "3125552000",
            "phones": {"mobile": "+1 312 555 2000", "defaultPhoneType": "Direct"},
            "mobileGuid": "8c1f2a3b-4d5e-6f70-8192-a3b4c5d6e7f8",
            "fax": "ext 12",
            "publicKey": "pk",
            "keyId": "k1",
            "count": 3,
            "ok": true
        });
        let expected = json!({
            "summary": "Reset for [email]",
            "Authorization": REDACTED_SECRET,
            "headers": [{"name": "X-Api-Key", "value": REDACTED_SECRET}, {"name": "Accept", "value": "json"}],
            "auth": REDACTED_SECRET,
            "customFields": [{"id": 4, "caption": "Admin Password", "value": REDACTED_SECRET}],
            "nested": {"deeper": {"private_key": REDACTED_SECRET, "refresh_token": null, "CTRLAuthHeader": REDACTED_SECRET}},
            "set-cookie": REDACTED_SECRET,
            "ssn": REDACTED_SECRET,
            "card_number": REDACTED_SECRET,
            "inputTokens": 1200,
            "contactPhoneNumber": PHONE,
            "phones": {"mobile": PHONE, "defaultPhoneType": "Direct"},
            "mobileGuid": "8c1f2a3b-4d5e-6f70-8192-a3b4c5d6e7f8",
            "fax": "ext 12",
            "publicKey": "pk",
            "keyId": "k1",
            "count": 3,
            "ok": true
        });
        assert_eq!(value(&input), expected);
    }

    #[test]
    fn key_names() {
        for secret in [
            "password",
            "Passwd",
            "SECRET",
            "token",
            "api_key",
            "apiKey",
            "private_key",
            "privateKey",
            "Authorization",
            "auth",
            "Cookie",
            "Set-Cookie",
            "client_secret",
            "clientSecret",
            "access_token",
            "refresh_token",
            "CTRLAuthHeader",
            "x-api-key",
            "bearer",
            "signature",
            "ssn",
            "card_number",
            "CW_PRIVATE_KEY",
            "rmmClientSecret",
        ] {
            assert!(key_names_secret(secret), "{secret}");
        }
        for plain in [
            "summary",
            "tokens",
            "max_tokens",
            "publicKey",
            "keyId",
            "key",
            "authority",
            "author",
            "name",
            "value",
        ] {
            assert!(!key_names_secret(plain), "{plain}");
        }
    }

    #[test]
    fn redactor_replaces_configured_literals() {
        let r = Redactor::new(["sandbox_priv", "q\"x\\zz", "abc", ""]);
        assert_eq!(
            r.literal_secrets(),
            2,
            "short and empty literals are skipped"
        );
        let cases = [
            ("key sandbox_priv leaked", "key [secret] leaked"),
            // The shapeless secret inside a longer word, and its JSON-escaped form.
            ("xsandbox_privx", "x[secret]x"),
            (r#"{"v":"q\"x\\zz"}"#, r#"{"v":"[secret]"}"#),
            ("abc stays", "abc stays"),
            ("also a@b.io", "also [email]"),
        ];
        for (input, expected) in cases {
            assert_eq!(r.text(input), expected, "input: {input:?}");
        }
        assert_eq!(
            r.value(&json!({"note": "priv is sandbox_priv", "n": [ "q\"x\\zz" ]})),
            json!({"note": "priv is [secret]", "n": ["[secret]"]})
        );
        // The literal wins over a shape that would only cover part of it.
        let r = Redactor::new(["zz555-010-0199zz"]);
        assert_eq!(r.text("s=zz555-010-0199zz"), "s=[secret]");
    }

    #[test]
    fn redactor_debug_hides_the_secrets() {
        let r = Redactor::new(["sandbox_priv"]);
        let shown = format!("{r:?}");
        assert!(!shown.contains("sandbox_priv"), "{shown}");
        assert!(shown.contains("literal_secrets: 1"), "{shown}");
    }

    /// A `MakeWriter` into a shared buffer.
    #[derive(Clone, Default)]
    struct Sink(Arc<std::sync::Mutex<Vec<u8>>>);

    impl io::Write for Sink {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0
                .lock()
                .map_err(|_| io::Error::other("poisoned"))?
                .extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    fn traced(ansi: bool) -> String {
        let sink = Sink::default();
        let redactor = Arc::new(Redactor::new(["sandbox_priv"]));
        let make = {
            let sink = sink.clone();
            move || sink.clone()
        };
        let subscriber = tracing_subscriber::fmt()
            .with_writer(RedactingWriter::new(make, redactor))
            .with_ansi(ansi)
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            tracing::info!(
                private_key = "sandbox_priv",
                token = "short",
                ticket = 52011,
                "contact a@b.io from 203.0.113.9 about ticket 52011"
            );
            tracing::warn!(header = %"Bearer a8Fk29xQz7LmN3pR", "auth failed");
        });
        let bytes = sink.0.lock().map(|b| b.clone()).unwrap_or_default();
        String::from_utf8(bytes).unwrap_or_default()
    }

    #[test]
    fn tracing_output_is_redacted() {
        for ansi in [false, true] {
            let out = traced(ansi);
            for leaked in [
                "sandbox_priv",
                "a@b.io",
                "203.0.113.9",
                "a8Fk29xQz7LmN3pR",
                "short",
            ] {
                assert!(!out.contains(leaked), "ansi={ansi}: {leaked} in {out}");
            }
            for kept in [
                "[email]",
                "[ipv4]",
                "Bearer [secret]",
                "ticket 52011",
                "auth failed",
            ] {
                assert!(out.contains(kept), "ansi={ansi}: no {kept} in {out}");
            }
            assert_eq!(out.lines().count(), 2, "{out}");
        }
    }
}
