//! `nightjarctl feed`: the log replayed into the morning feed (through the daemon when it runs,
//! straight from the state directory when it does not). What is read is `daemon::feed::load`
//! either way; the replay itself is `daemon::feed::fold_window`, a pure function of the log.

use std::io::IsTerminal;

use chrono::{DateTime, Utc};
use clap::ValueEnum;
use daemon::feed::{self, Format, Window};
use daemon::paths::Paths;
use schemas::control::{FeedBasis, Request, Response};
use schemas::event::Envelope;

use crate::client::{Client, CtlError};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FeedFormat {
    Text,
    Md,
    Html,
    Json,
}

#[derive(Debug, clap::Args)]
pub struct FeedArgs {
    /// Only events since this time: RFC 3339 (`2026-12-01T18:00:00Z`) or an age (`12h`, `7d`).
    /// Without `--since`, `--run` or `--all`: the 24 hours up to the log's newest event.
    #[arg(long, value_name = "TIME", conflicts_with = "all")]
    pub since: Option<String>,
    /// Only this run.
    #[arg(long, value_name = "RUN", conflicts_with = "all")]
    pub run: Option<String>,
    /// The whole log.
    #[arg(long)]
    pub all: bool,
    #[arg(long, value_enum, default_value = "text")]
    pub format: FeedFormat,
}

#[derive(Debug, clap::Args)]
pub struct TrustArgs {
    /// Only this skill.
    pub skill: Option<String>,
    /// First have the daemon re-read the records observe-mode proposals touched and log what
    /// humans did to them (needs the daemon running).
    #[arg(long)]
    pub refresh: bool,
    #[arg(long, value_enum, default_value = "text")]
    pub format: FeedFormat,
}

impl FeedFormat {
    fn format(self) -> Format {
        match self {
            FeedFormat::Json => Format::Json,
            FeedFormat::Md => Format::Markdown,
            FeedFormat::Html => Format::Html,
            FeedFormat::Text => terminal(),
        }
    }
}

fn other(e: impl std::fmt::Display) -> CtlError {
    CtlError::Other(anyhow::anyhow!("{e}"))
}

/// `--since`: an instant, or an age back from now.
fn since(text: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>, CtlError> {
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Ok(t.with_timezone(&Utc));
    }
    let (number, unit) = text.split_at(text.trim_end_matches(char::is_alphabetic).len());
    let n: i64 = number.parse().map_err(|_| {
        other(format!(
            "--since {text:?}: give RFC 3339 or an age such as 12h or 7d"
        ))
    })?;
    let age = match unit {
        "m" => chrono::Duration::minutes(n),
        "h" => chrono::Duration::hours(n),
        "d" => chrono::Duration::days(n),
        _ => return Err(other(format!("--since {text:?}: the unit is m, h or d"))),
    };
    Ok(now - age)
}

pub async fn run(paths: &Paths, args: FeedArgs) -> Result<u8, CtlError> {
    let window = Window {
        since: args
            .since
            .as_deref()
            .map(|s| since(s, Utc::now()))
            .transpose()?,
        run: args.run,
        all: args.all,
    };
    let (events, basis) = load(paths, &window).await?;
    let feed = feed::fold_window(&events, &basis);
    print!("{}", feed::render(&feed, args.format.format()));
    Ok(if feed.anomalies.is_empty() { 0 } else { 2 })
}

/// `nightjarctl trust [SKILL] [--refresh]`.
pub async fn trust(paths: &Paths, args: TrustArgs) -> Result<u8, CtlError> {
    if args.refresh {
        let mut client = Client::connect(&paths.control_socket()).await?;
        match client.call(&Request::TrustRefresh).await? {
            Response::TrustRefreshed(r) => eprintln!(
                "re-read {} records: {} changed by a human ({} decisions logged), {} untouched, {} unreadable",
                r.checked, r.observed, r.fields, r.untouched, r.unreadable
            ),
            Response::Error(e) => return Err(other(e.message)),
            other_reply => return Err(other(format!("unexpected reply: {other_reply:?}"))),
        }
    }
    let (events, basis) = load(paths, &Window::default()).await?;
    let feed = feed::fold_window(&events, &basis);
    let shown = feed.trust_of(args.skill.as_deref());
    if shown.is_empty() {
        eprintln!(
            "no observe-mode proposals{} in the log yet: run a skill in observe mode, and let your team work the tickets",
            args.skill
                .as_deref()
                .map(|s| format!(" of {s}"))
                .unwrap_or_default()
        );
        return Ok(3);
    }
    let ready = shown.iter().all(|t| t.ready);
    print!(
        "{}",
        feed::render_trust(&feed, args.format.format(), args.skill.as_deref())
    );
    Ok(if ready { 0 } else { 3 })
}

/// The events of the feed's window and what it folds beside them ([`feed::load`]): through
/// the daemon when it runs, else straight from the state directory.
pub async fn load(paths: &Paths, window: &Window) -> Result<(Vec<Envelope>, FeedBasis), CtlError> {
    match Client::connect(&paths.control_socket()).await {
        Ok(mut client) => {
            client
                .send(&Request::Feed {
                    since: window.since,
                    run: window.run.clone(),
                    all: window.all,
                })
                .await?;
            let mut events: Vec<Envelope> = Vec::new();
            loop {
                match client.next().await? {
                    Some(Response::Event(e)) => events.push(*e),
                    Some(Response::FeedBasis(basis)) => return Ok((events, *basis)),
                    Some(Response::Error(e)) => return Err(other(e.message)),
                    Some(reply) => return Err(other(format!("unexpected reply: {reply:?}"))),
                    None => return Err(other("the daemon closed the connection mid-feed")),
                }
            }
        }
        Err(CtlError::NotRunning { .. }) => {
            let reader = crate::log_cmd::open_offline(paths)?;
            feed::load(&reader, window).map_err(other)
        }
        Err(e) => Err(e),
    }
}

/// Text for this terminal: colour and its width on a TTY (`COLUMNS`, else 120), plain when piped.
pub fn terminal() -> Format {
    let tty = std::io::stdout().is_terminal();
    let width = std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(if tty { 120 } else { 0 });
    Format::Text { colour: tty, width }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_takes_an_instant_or_an_age() {
        let now: DateTime<Utc> = "2026-12-02T08:00:00Z".parse().unwrap();
        assert_eq!(
            since("12h", now).unwrap(),
            "2026-12-01T20:00:00Z".parse::<DateTime<Utc>>().unwrap()
        );
        assert_eq!(
            since("7d", now).unwrap(),
            "2026-11-25T08:00:00Z".parse::<DateTime<Utc>>().unwrap()
        );
        assert_eq!(
            since("2026-12-01T18:00:00Z", now).unwrap(),
            "2026-12-01T18:00:00Z".parse::<DateTime<Utc>>().unwrap()
        );
        assert!(since("yesterday", now).is_err());
        assert!(since("3w", now).is_err());
    }
}
