//! `nightjarctl approvals`, `approve`, `deny` and `mode`: what waits for a human, shown as its
//! effect, and the signed verdicts and mode changes that settle it.
//!
//! A verdict is signed here, on the operator's machine, over the exact action digest of the
//! pending proposal it was shown (invariant 3), with a window that starts after the human said yes,
//! so a slow answer at the prompt cannot leave a stale verdict. Confirmation prompts are asked
//! only on a terminal: from a script the command line itself is the human's decision.

use std::collections::BTreeMap;
use std::io::{BufRead, IsTerminal, Write};

use chrono::{DateTime, Utc};
use clap::{Args, ValueEnum};
use daemon::paths::Paths;
use schemas::control::{Request, Response};
use schemas::event::{Decision, Mode, Principal};
use schemas::tool::ToolOutcome;
use schemas::verdict::{
    MODE_DOMAIN, ModePayload, StoredProposal, VERDICT_DOMAIN, VerdictPayload, VerdictReply,
};
use serde_json::Value;

use crate::client::{Client, CtlError};
use crate::keys::{KeyArgs, OperatorKey, unexpected, window};

/// The group name of proposals made outside a night-agent run.
const INTERACTIVE: &str = "interactive";

/// `nightjarctl approvals`.
#[derive(Debug, Args)]
pub struct ListArgs {
    /// Only this run's proposals (`interactive` for those made outside a run).
    #[arg(long, value_name = "RUN")]
    pub run: Option<String>,
    /// Print the pending proposals as JSON (the exact stored plans).
    #[arg(long)]
    pub json: bool,
}

/// `nightjarctl approve` and `nightjarctl deny`.
#[derive(Debug, Args)]
pub struct VerdictArgs {
    /// The proposal (see `nightjarctl approvals`).
    #[arg(required_unless_present = "run", conflicts_with = "run")]
    pub id: Option<String>,
    /// Walk this run's pending proposals one by one instead, asking for each (y/n/q).
    #[arg(long, value_name = "RUN")]
    pub run: Option<String>,
    /// Do not ask. Without a terminal on stdin nothing is asked either: the command line is
    /// the decision.
    #[arg(long, short)]
    pub yes: bool,
    #[command(flatten)]
    pub key: KeyArgs,
}

/// `nightjarctl deny`: a verdict that also needs a reason.
#[derive(Debug, Args)]
pub struct DenyArgs {
    #[command(flatten)]
    pub verdict: VerdictArgs,
    /// Why not (required; recorded in the log and shown in the feed and to a waiting client).
    #[arg(long, value_name = "TEXT")]
    pub reason: String,
}

/// A skill mode on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ModeArg {
    Observe,
    Enforce,
    DryRun,
}

impl From<ModeArg> for Mode {
    fn from(m: ModeArg) -> Mode {
        match m {
            ModeArg::Observe => Mode::Observe,
            ModeArg::Enforce => Mode::Enforce,
            ModeArg::DryRun => Mode::DryRun,
        }
    }
}

/// `nightjarctl mode`.
#[derive(Debug, Args)]
pub struct ModeArgs {
    /// The skill, e.g. `msp-night-triage`.
    pub skill: String,
    /// The new mode.
    #[arg(value_enum)]
    pub to: ModeArg,
    #[command(flatten)]
    pub key: KeyArgs,
}

fn mode_name(mode: Mode) -> &'static str {
    match mode {
        Mode::Observe => "observe",
        Mode::Enforce => "enforce",
        Mode::DryRun => "dry-run",
    }
}

fn json_err(e: serde_json::Error) -> CtlError {
    CtlError::Other(e.into())
}

/// The run a proposal belongs to, as grouped and filtered.
fn run_of(p: &StoredProposal) -> &str {
    p.run_id.as_deref().unwrap_or(INTERACTIVE)
}

async fn pending(client: &mut Client) -> Result<Vec<StoredProposal>, CtlError> {
    match client.call(&Request::Pending).await? {
        Response::Pending(list) => Ok(list),
        other => Err(unexpected(&other)),
    }
}

pub async fn list(paths: &Paths, args: ListArgs) -> Result<u8, CtlError> {
    let mut client = Client::connect(&paths.control_socket()).await?;
    let all = pending(&mut client).await?;
    let shown: Vec<StoredProposal> = all
        .into_iter()
        .filter(|p| args.run.as_deref().is_none_or(|r| run_of(p) == r))
        .collect();
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&shown).map_err(json_err)?
        );
    } else {
        print!("{}", render(&shown, Utc::now()));
    }
    Ok(0)
}

/// The whole listing: grouped by run (in order of each run's oldest proposal), oldest first.
pub fn render(pending: &[StoredProposal], now: DateTime<Utc>) -> String {
    if pending.is_empty() {
        return "nothing is waiting for a verdict\n".to_owned();
    }
    let mut order: Vec<&str> = Vec::new();
    let mut groups: BTreeMap<&str, Vec<&StoredProposal>> = BTreeMap::new();
    for p in pending {
        let run = run_of(p);
        if !groups.contains_key(run) {
            order.push(run);
        }
        groups.entry(run).or_default().push(p);
    }
    let mut out = String::new();
    for run in order {
        let items = &groups[run];
        let title = if run == INTERACTIVE {
            "interactive".to_owned()
        } else {
            format!("run {run}")
        };
        out.push_str(&format!(
            "{title}: {} pending\n",
            plural(items.len(), "proposal")
        ));
        for p in items {
            out.push('\n');
            for line in preview(p, now).lines() {
                out.push_str("  ");
                out.push_str(line);
                out.push('\n');
            }
        }
        out.push('\n');
    }
    out
}

fn plural(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

fn principal(p: &Principal) -> String {
    match p {
        Principal::System => "the daemon".to_owned(),
        Principal::Interactive { name } => format!("interactive client {name}"),
        Principal::Skill { skill, run_id } => format!("skill {skill} (run {run_id})"),
        Principal::Operator { key_id: Some(k) } => format!("operator {k}"),
        Principal::Operator { key_id: None } => "operator".to_owned(),
    }
}

fn age(then: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let secs = (now - then).num_seconds();
    match secs {
        i64::MIN..=-1 => "just now".to_owned(),
        0..=59 => format!("{secs} s ago"),
        60..=3599 => format!("{} min ago", secs / 60),
        3600..=86_399 => format!("{} h {} min ago", secs / 3600, secs % 3600 / 60),
        _ => format!("{} days ago", secs / 86_400),
    }
}

/// A before/after value as a technician reads it: plain text for strings, a `{id, name}`
/// reference by its name, compact JSON otherwise.
fn value(v: Option<&Value>) -> String {
    match v {
        None | Some(Value::Null) => "(none)".to_owned(),
        Some(Value::String(s)) => format!("{s:?}"),
        Some(Value::Object(o)) if o.contains_key("name") => {
            let name = o["name"]
                .as_str()
                .map_or_else(|| o["name"].to_string(), str::to_owned);
            match o.get("id") {
                Some(id) => format!("{name:?} (id {id})"),
                None => format!("{name:?}"),
            }
        }
        // A reference given by id alone (the new status of a close): its id.
        Some(Value::Object(o)) if o.len() == 1 && o.contains_key("id") => format!("id {}", o["id"]),
        Some(other) => other.to_string(),
    }
}

/// One proposal: what it is, who asked, and its effect, then the exact request.
pub fn preview(p: &StoredProposal, now: DateTime<Utc>) -> String {
    let risk = serde_json::to_value(p.risk)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default();
    let mut out = format!(
        "{}  {}.{}  ({risk}, {} mode)\n",
        p.proposal_id,
        p.tool,
        p.action,
        mode_name(p.mode)
    );
    let field = |out: &mut String, name: &str, text: &str| {
        out.push_str(&format!("  {name:<14}{text}\n"));
    };
    field(&mut out, "proposed by", &principal(&p.principal));
    field(
        &mut out,
        "when",
        &format!(
            "{} ({})",
            p.proposed_at.format("%Y-%m-%d %H:%M:%S UTC"),
            age(p.proposed_at, now)
        ),
    );
    let e = &p.effect;
    field(&mut out, "effect", &e.summary);
    if let Some(t) = &e.target {
        field(&mut out, "target", &format!("{} {}", t.kind, t.id));
    }
    for c in &e.changes {
        field(
            &mut out,
            "change",
            &format!(
                "{}: {} -> {}",
                c.field,
                value(c.before.as_ref()),
                value(c.after.as_ref())
            ),
        );
    }
    if let Some(a) = &e.amount {
        field(&mut out, "amount", a);
    }
    if let Some(text) = &e.customer_visible_text {
        let mut lines = text.lines();
        field(
            &mut out,
            "customer sees",
            &format!("| {}", lines.next().unwrap_or_default()),
        );
        for line in lines {
            field(&mut out, "", &format!("| {line}"));
        }
    }
    if let Some(d) = &e.device {
        field(&mut out, "device", d);
    }
    let r = &p.request;
    field(
        &mut out,
        "request",
        &format!("{} {} ({})", r.method, r.path, r.product),
    );
    if let Some(body) = &r.body {
        field(&mut out, "body", &body.to_string());
    }
    out
}

/// A human's answer at the prompt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Answer {
    Yes,
    No,
    Quit,
}

/// Asks `question` on a terminal; anything but yes (or quit, where offered) is no. Without a
/// terminal, or with `--yes`, the answer is yes.
fn ask(question: &str, yes: bool, offer_quit: bool) -> Result<Answer, CtlError> {
    if yes || !std::io::stdin().is_terminal() {
        return Ok(Answer::Yes);
    }
    let choices = if offer_quit { "[y/n/q]" } else { "[y/N]" };
    let mut err = std::io::stderr();
    let _ = write!(err, "{question} {choices} ");
    let _ = err.flush();
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|e| CtlError::Other(e.into()))?;
    Ok(parse_answer(&line, offer_quit))
}

fn parse_answer(line: &str, offer_quit: bool) -> Answer {
    match line.trim().to_ascii_lowercase().as_str() {
        "y" | "yes" => Answer::Yes,
        "q" | "quit" if offer_quit => Answer::Quit,
        _ => Answer::No,
    }
}

/// The verdict payload on `p`, made at `now`.
pub fn verdict_payload(
    p: &StoredProposal,
    decision: Decision,
    reason: Option<&str>,
    key_id: &str,
    now: DateTime<Utc>,
) -> VerdictPayload {
    let (not_before, expires_at) = window(now);
    VerdictPayload {
        v: 1,
        domain: VERDICT_DOMAIN.to_owned(),
        proposal_id: p.proposal_id.clone(),
        action_digest: p.action_digest.clone(),
        decision,
        reason: reason.map(str::to_owned),
        not_before,
        expires_at,
        nonce: daemon::approvals::new_nonce(),
        key_id: key_id.to_owned(),
    }
}

fn rejection_name(reply: &VerdictReply) -> String {
    reply
        .rejection
        .and_then(|r| serde_json::to_value(r).ok())
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_else(|| "refused".to_owned())
}

/// Prints a verdict's reply; answers whether it went as asked (accepted, and for an approval,
/// executed without error).
fn report(id: &str, reply: &VerdictReply) -> bool {
    if !reply.accepted {
        eprintln!(
            "{id}: verdict rejected ({}): {}",
            rejection_name(reply),
            reply.detail
        );
        return false;
    }
    println!("{id}: verdict accepted, {}", reply.detail);
    match &reply.outcome {
        None => true,
        Some(ToolOutcome::Executed {
            record,
            upstream_requests,
            ..
        }) => {
            let record = record
                .as_ref()
                .map(|r| format!(", {} {}", r.kind, r.id))
                .unwrap_or_default();
            println!(
                "  outcome: executed ({}{record})",
                plural(*upstream_requests as usize, "upstream request")
            );
            true
        }
        Some(ToolOutcome::Error { error }) => {
            println!("  outcome: error {}: {}", error.kind, error.message);
            if !error.hint.is_empty() {
                println!("  {}", error.hint);
            }
            false
        }
        Some(other) => {
            println!("  outcome: {}", other.status());
            !other.is_error()
        }
    }
}

/// Signs and sends one verdict, and reports the reply.
async fn send(
    client: &mut Client,
    key: &OperatorKey,
    p: &StoredProposal,
    decision: Decision,
    reason: Option<&str>,
) -> Result<bool, CtlError> {
    let payload = verdict_payload(p, decision, reason, &key.key_id, Utc::now());
    let reply = match client.call(&Request::Verdict(key.sign(&payload))).await? {
        Response::Verdict(reply) => reply,
        other => return Err(unexpected(&other)),
    };
    Ok(report(&p.proposal_id, &reply))
}

/// `approve` (no reason) and `deny` (with one): one proposal, or a run walked item by item.
pub async fn verdict(
    paths: &Paths,
    args: VerdictArgs,
    decision: Decision,
    reason: Option<&str>,
) -> Result<u8, CtlError> {
    if decision == Decision::Deny && reason.is_none_or(|r| r.trim().is_empty()) {
        return Err(CtlError::Other(anyhow::anyhow!(
            "a denial needs a reason: --reason TEXT"
        )));
    }
    let (verb, done_verb) = match decision {
        Decision::Approve => ("approve", "approved"),
        Decision::Deny => ("deny", "denied"),
    };
    // The key first: a wrong passphrase should not come after the human has said yes.
    let key = args.key.load(paths)?;
    let mut client = Client::connect(&paths.control_socket()).await?;
    let all = pending(&mut client).await?;
    let now = Utc::now();
    if let Some(id) = &args.id {
        let Some(p) = all.iter().find(|p| &p.proposal_id == id) else {
            return Err(CtlError::Other(anyhow::anyhow!(
                "{id} is not waiting for a verdict (already settled, withdrawn, or never \
                 proposed); `nightjarctl approvals` lists what is"
            )));
        };
        print!("{}", preview(p, now));
        if ask(&format!("{verb}?"), args.yes, false)? != Answer::Yes {
            eprintln!("not {done_verb}; nothing was sent");
            return Ok(1);
        }
        let ok = send(&mut client, &key, p, decision, reason).await?;
        return Ok(if ok { 0 } else { 1 });
    }
    let run = args.run.as_deref().unwrap_or(INTERACTIVE);
    let items: Vec<&StoredProposal> = all.iter().filter(|p| run_of(p) == run).collect();
    if items.is_empty() {
        return Err(CtlError::Other(anyhow::anyhow!(
            "nothing in {run} is waiting for a verdict; `nightjarctl approvals` lists what is"
        )));
    }
    let (mut done, mut skipped, mut failed) = (0, 0, 0);
    for (i, p) in items.iter().enumerate() {
        println!("[{}/{}] {}", i + 1, items.len(), preview(p, now).trim_end());
        match ask(&format!("{verb}?"), args.yes, true)? {
            Answer::Yes => {
                if send(&mut client, &key, p, decision, reason).await? {
                    done += 1;
                } else {
                    failed += 1;
                }
            }
            Answer::No => {
                println!("{}: skipped", p.proposal_id);
                skipped += 1;
            }
            Answer::Quit => {
                skipped += items.len() - i;
                break;
            }
        }
        println!();
    }
    println!("{run}: {done} {done_verb}, {skipped} skipped, {failed} failed");
    Ok(if failed == 0 { 0 } else { 1 })
}

pub async fn mode(paths: &Paths, args: ModeArgs) -> Result<u8, CtlError> {
    let key = args.key.load(paths)?;
    let mut client = Client::connect(&paths.control_socket()).await?;
    let (not_before, expires_at) = window(Utc::now());
    let payload = ModePayload {
        v: 1,
        domain: MODE_DOMAIN.to_owned(),
        skill: args.skill,
        to: args.to.into(),
        not_before,
        expires_at,
        nonce: daemon::approvals::new_nonce(),
        key_id: key.key_id.clone(),
    };
    match client.call(&Request::SetMode(key.sign(&payload))).await? {
        Response::ModeSet { skill, from, to } => {
            let from = from.map_or("(not set)", mode_name);
            println!("{skill}: {from} -> {}", mode_name(to));
            Ok(0)
        }
        other => Err(unexpected(&other)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    use p256::ecdsa::SigningKey;
    use p256::elliptic_curve::Generate;
    use schemas::event::{
        Disposition, EffectPreview, FieldChange, RecordRef, Risk, UpstreamRequest,
    };
    use schemas::projection::{KeyState, Pending};
    use serde_json::json;

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn proposal(id: &str, run: Option<&str>) -> StoredProposal {
        StoredProposal {
            proposal_id: id.into(),
            action_digest: "d".repeat(64),
            tool: "cw_tickets".into(),
            action: "close".into(),
            params: json!({"id": 1042}),
            risk: Risk::Hard,
            mode: Mode::Enforce,
            disposition: Disposition::PendingApproval,
            principal: match run {
                Some(r) => Principal::Skill {
                    skill: "msp-night-triage".into(),
                    run_id: r.into(),
                },
                None => Principal::Interactive {
                    name: "claude-desktop".into(),
                },
            },
            run_id: run.map(str::to_owned),
            request: UpstreamRequest {
                product: "manage".into(),
                method: "PATCH".into(),
                path: "/service/tickets/1042".into(),
                body: Some(json!([{"op": "replace", "path": "status/id", "value": 7}])),
            },
            effect: EffectPreview {
                summary: "close ticket 1042 (Printer offline)".into(),
                target: Some(RecordRef {
                    kind: "ticket".into(),
                    id: "1042".into(),
                }),
                changes: vec![FieldChange {
                    field: "status".into(),
                    before: Some(json!({"id": 1, "name": "New"})),
                    after: Some(json!({"id": 7})),
                }],
                amount: Some("1250.00 USD".into()),
                customer_visible_text: Some("Fixed the printer.\nThanks!".into()),
                device: Some("FRONTDESK-PC".into()),
            },
            observed: None,
            proposed_at: at("2026-03-02T09:58:30Z"),
        }
    }

    #[test]
    fn a_preview_shows_the_effect_and_the_exact_request() {
        let got = preview(&proposal("p-1a", None), at("2026-03-02T10:01:00Z"));
        let expected = "\
p-1a  cw_tickets.close  (hard, enforce mode)
  proposed by   interactive client claude-desktop
  when          2026-03-02 09:58:30 UTC (2 min ago)
  effect        close ticket 1042 (Printer offline)
  target        ticket 1042
  change        status: \"New\" (id 1) -> id 7
  amount        1250.00 USD
  customer sees | Fixed the printer.
                | Thanks!
  device        FRONTDESK-PC
  request       PATCH /service/tickets/1042 (manage)
  body          [{\"op\":\"replace\",\"path\":\"status/id\",\"value\":7}]
";
        assert_eq!(got, expected);
    }

    #[test]
    fn the_listing_groups_by_run_in_order_of_first_appearance() {
        let list = [
            proposal("p-01", Some("r-b")),
            proposal("p-02", None),
            proposal("p-03", Some("r-b")),
        ];
        let text = render(&list, at("2026-03-02T10:00:00Z"));
        let heads: Vec<&str> = text
            .lines()
            .filter(|l| !l.starts_with(' ') && !l.is_empty())
            .collect();
        assert_eq!(
            heads,
            [
                "run r-b: 2 proposals pending",
                "interactive: 1 proposal pending"
            ]
        );
        let order: Vec<usize> = ["p-01", "p-03", "p-02"]
            .iter()
            .map(|id| text.find(&format!("  {id}  ")).unwrap())
            .collect();
        assert!(order.windows(2).all(|w| w[0] < w[1]), "{text}");
        assert!(text.contains("skill msp-night-triage (run r-b)"), "{text}");
        assert_eq!(
            render(&[], at("2026-03-02T10:00:00Z")),
            "nothing is waiting for a verdict\n"
        );
    }

    #[test]
    fn values_read_as_a_technician_reads_them() {
        let check = |v: Option<Value>, expected: &str| assert_eq!(value(v.as_ref()), expected);
        check(None, "(none)");
        check(Some(Value::Null), "(none)");
        check(Some(json!("Closed")), "\"Closed\"");
        check(
            Some(json!({"id": 3, "name": "Closed"})),
            "\"Closed\" (id 3)",
        );
        check(Some(json!({"id": 7})), "id 7");
        check(Some(json!({"id": 7, "x": 1})), "{\"id\":7,\"x\":1}");
        check(Some(json!(12.5)), "12.5");
        check(Some(json!(true)), "true");
    }

    #[test]
    fn answers_default_to_no() {
        let check = |line: &str, quit: bool, expected: Answer| {
            assert_eq!(parse_answer(line, quit), expected, "{line:?}");
        };
        check("y\n", false, Answer::Yes);
        check(" YES ", false, Answer::Yes);
        check("\n", false, Answer::No);
        check("q\n", false, Answer::No);
        check("q\n", true, Answer::Quit);
        check("nope", true, Answer::No);
    }

    #[test]
    fn ages_are_short() {
        let now = at("2026-03-02T10:00:00Z");
        let check = |then: &str, expected: &str| assert_eq!(age(at(then), now), expected);
        check("2026-03-02T10:00:05Z", "just now");
        check("2026-03-02T09:59:50Z", "10 s ago");
        check("2026-03-02T08:30:00Z", "1 h 30 min ago");
        check("2026-02-27T10:00:00Z", "3 days ago");
    }

    /// What this command signs passes the daemon's own check; a denial carries its reason.
    #[test]
    fn a_signed_verdict_passes_the_daemons_check() {
        let signing = SigningKey::generate();
        let public_key = daemon::approvals::public_key_pem(&signing);
        let key_id = daemon::approvals::key_id(&public_key).unwrap();
        let key = OperatorKey {
            signing,
            public_pem: public_key.clone(),
            key_id: key_id.clone(),
            path: "k.pem".into(),
        };
        let p = proposal("p-0abc", None);
        let keys = BTreeMap::from([(
            key_id.clone(),
            KeyState {
                public_key,
                label: "alice".into(),
                revoked: false,
            },
        )]);
        let pending = BTreeMap::from([(
            p.proposal_id.clone(),
            Pending {
                proposal_id: p.proposal_id.clone(),
                action_digest: p.action_digest.clone(),
                tool: p.tool.clone(),
                action: p.action.clone(),
                run_id: None,
                proposed_seq: 3,
            },
        )]);
        let now = Utc::now();
        for (decision, reason) in [(Decision::Approve, None), (Decision::Deny, Some("wrong"))] {
            let payload = verdict_payload(&p, decision, reason, &key_id, now);
            let signed = key.sign(&payload);
            let (checked, _) =
                daemon::approvals::check_verdict(&signed, &keys, &pending, &BTreeSet::new(), now)
                    .unwrap();
            assert_eq!(checked, payload);
            assert_eq!(checked.reason.as_deref(), reason);
        }
    }
}
