//! `nightjarctl eval triage`: the night agent's triage decision run over tickets the team
//! already closed, labels hidden, with and without the shop's history, side by side
//! (`daemon::eval`). It reads only; the result is logged for the feed and `nightjarctl trust`.

use clap::ValueEnum;
use daemon::paths::Paths;
use schemas::control::{Request, Response};
use schemas::event::{Backtest, BacktestArm};

use crate::client::{Client, CtlError};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum EvalFormat {
    Text,
    Json,
}

#[derive(Debug, clap::Subcommand)]
pub enum EvalCommand {
    /// Backtest triage on closed tickets: per-field accuracy with and without history.
    Triage(TriageArgs),
}

#[derive(Debug, clap::Args)]
pub struct TriageArgs {
    /// Tickets closed within this many days (`90d`, or a number of days).
    #[arg(long, default_value = "90d")]
    pub since: String,
    /// Most tickets to test (the newest closed first).
    #[arg(long, default_value_t = 40)]
    pub limit: u32,
    /// Another model on the configured server.
    #[arg(long)]
    pub model: Option<String>,
    /// Past tickets shown per decision in the "with history" arm.
    #[arg(long, default_value_t = 6)]
    pub k: u32,
    #[arg(long, value_enum, default_value = "text")]
    pub format: EvalFormat,
}

fn days(text: &str) -> Result<u32, CtlError> {
    text.trim_end_matches('d').parse().map_err(|_| {
        CtlError::Other(anyhow::anyhow!(
            "--since {text:?}: give a number of days, such as 90d"
        ))
    })
}

pub async fn run(paths: &Paths, command: EvalCommand) -> Result<u8, CtlError> {
    let EvalCommand::Triage(args) = command;
    if args.k == 0 || args.k > 20 || args.limit == 0 {
        return Err(CtlError::Other(anyhow::anyhow!(
            "--k takes 1 to 20 and --limit at least 1"
        )));
    }
    let request = Request::EvalTriage {
        since_days: days(&args.since)?,
        limit: args.limit,
        k: args.k,
        model: args.model,
    };
    let mut client = Client::connect(&paths.control_socket()).await?;
    eprintln!(
        "nightjar eval: deciding each closed ticket twice (with and without history) on the local model; this takes a while"
    );
    let backtest = match client.call(&request).await? {
        Response::Backtest(b) => *b,
        Response::Error(e) => return Err(CtlError::Other(anyhow::anyhow!("{}", e.message))),
        other => {
            return Err(CtlError::Other(anyhow::anyhow!(
                "unexpected reply: {other:?}"
            )));
        }
    };
    match args.format {
        EvalFormat::Json => println!(
            "{}",
            serde_json::to_string_pretty(&backtest).map_err(|e| CtlError::Other(e.into()))?
        ),
        EvalFormat::Text => print!("{}", table(&backtest)),
    }
    Ok(0)
}

/// A row of the table: its label and the count it shows.
type Row = (&'static str, fn(&BacktestArm) -> u32);

/// The side-by-side table.
pub fn table(b: &Backtest) -> String {
    let (w, o) = (&b.with_history, &b.without_history);
    let share = |a: &BacktestArm, n: u32| format!("{n}/{} {:.1}%", a.tickets, a.percent(n));
    let per = |a: &BacktestArm, x: f64| {
        if a.tickets == 0 {
            0.0
        } else {
            x / f64::from(a.tickets)
        }
    };
    let mut out = format!(
        "Triage backtest: {} closed tickets (last {} days), model {}, {} precedents each\n",
        w.tickets.max(o.tickets),
        b.since_days,
        b.model,
        b.k
    );
    out.push_str(&format!(
        "{:<22}{:>18}{:>18}\n",
        "", "with history", "without history"
    ));
    let rows: [Row; 5] = [
        ("board", |a| a.board),
        ("type", |a| a.kind),
        ("subtype", |a| a.subtype),
        ("priority", |a| a.priority),
        ("priority within one", |a| a.priority_within_one),
    ];
    for (name, f) in rows {
        out.push_str(&format!(
            "{name:<22}{:>18}{:>18}\n",
            share(w, f(w)),
            share(o, f(o))
        ));
    }
    let counts: [Row; 3] = [
        ("invalid ids", |a| a.invalid),
        ("unasked changes", |a| a.unasked),
        ("model failures", |a| a.failed),
    ];
    for (name, f) in counts {
        out.push_str(&format!("{name:<22}{:>18}{:>18}\n", f(w), f(o)));
    }
    out.push_str(&format!(
        "{:<22}{:>18}{:>18}\n",
        "tokens per ticket",
        format!(
            "{:.0} + {:.0}",
            per(w, w.tokens.prompt as f64),
            per(w, w.tokens.completion as f64)
        ),
        format!(
            "{:.0} + {:.0}",
            per(o, o.tokens.prompt as f64),
            per(o, o.tokens.completion as f64)
        )
    ));
    out.push_str(&format!(
        "{:<22}{:>18}{:>18}\n",
        "seconds per ticket",
        format!("{:.1}", per(w, w.milliseconds as f64 / 1000.0)),
        format!("{:.1}", per(o, o.milliseconds as f64 / 1000.0))
    ));
    out
}
