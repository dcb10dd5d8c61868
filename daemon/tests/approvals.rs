//! Signed approvals against the sandbox tenant (invariants 3 and 7): every way a verdict can be
//! wrong is refused with its own reason, recorded as `VerdictRejected`, and sends nothing; a valid
//! approval executes the stored plan exactly once and a denial sends nothing; a waiter hears how
//! its proposal ended; and accepted verdicts, pending proposals and consumed nonces outlive a
//! daemon restart.
#![allow(clippy::unwrap_used, reason = "test helpers abort on any failure")]

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::Utc;
use daemon::approvals::{
    Approvals, Clock, PlanStore, Settlement, Settlements, key_id, new_nonce, public_key_pem, sign,
};
use daemon::catalog::Context;
use daemon::connector::manage::{PatchOp, Query};
use daemon::connector::{Budget, Call, Connectors, Policy, Settings};
use daemon::gate::{Caller, Gate};
use daemon::log::{Options, Store};
use daemon::redact::Redactor;
use p256::ecdsa::SigningKey;
use schemas::config::GateConfig;
use schemas::event::VerdictRejection as R;
use schemas::event::{Decision, DenialReason, Envelope, Event, Mode, Principal, Risk};
use schemas::tool::{ToolCall, ToolOutcome};
use schemas::verdict::{
    ENROLL_DOMAIN, EnrollPayload, MODE_DOMAIN, ModePayload, REVOKE_DOMAIN, RevokePayload, Signed,
    VERDICT_DOMAIN, VerdictPayload, VerdictReply,
};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio_util::sync::CancellationToken;

/// An operator key from a fixed seed byte, so key ids (and failures) are the same on every run.
fn key(n: u8) -> SigningKey {
    SigningKey::from_slice(&[n; 32]).unwrap()
}

fn id_of(key: &SigningKey) -> String {
    key_id(&public_key_pem(key)).unwrap()
}

/// Signs `text` as it is (`sign` canonicalizes first, which a forger need not do).
fn sign_text(text: &str, key: &SigningKey) -> Signed {
    use p256::ecdsa::signature::Signer as _;
    let signature: p256::ecdsa::Signature = key.sign(text.as_bytes());
    Signed {
        payload: text.to_owned(),
        signature: URL_SAFE_NO_PAD.encode(signature.to_bytes()),
    }
}

/// A hard proposal waiting for a verdict.
#[derive(Debug, Clone)]
struct Proposal {
    id: String,
    digest: String,
    ticket: i64,
}

/// A verdict on `p`, valid from a second ago for 30 s, by `key_id`.
fn verdict(p: &Proposal, decision: Decision, key_id: &str) -> VerdictPayload {
    let now = Utc::now();
    VerdictPayload {
        v: 1,
        domain: VERDICT_DOMAIN.into(),
        proposal_id: p.id.clone(),
        action_digest: p.digest.clone(),
        decision,
        reason: (decision == Decision::Deny).then(|| "the customer still has the problem".into()),
        not_before: now - chrono::Duration::seconds(1),
        expires_at: now + chrono::Duration::seconds(29),
        nonce: new_nonce(),
        key_id: key_id.to_owned(),
    }
}

struct World {
    tenant: sandbox::Running,
    gate: Gate,
    store: Store,
    approvals: Approvals,
    settlements: Arc<Settlements>,
    /// A client outside the gate: reads what the sandbox holds, and changes it behind the gate's
    /// back.
    direct: Connectors,
    /// The enrolled operator key, "ops".
    ops: SigningKey,
    ops_id: String,
    proposals_dir: PathBuf,
    /// Open tickets, one per case so the journal of each is its own.
    open: Vec<i64>,
    _dir: tempfile::TempDir,
}

async fn world() -> World {
    let today = chrono::NaiveDate::from_ymd_opt(2026, 3, 2).unwrap();
    let tenant = sandbox::start(sandbox::Config {
        today,
        ..sandbox::Config::default()
    })
    .await
    .unwrap();
    let settings = Settings::from_env_lines(&tenant.env_lines()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = Store::open(
        &dir.path().join("log"),
        &dir.path().join("checkpoint.json"),
        Options::default(),
    )
    .unwrap();
    let ctx = Arc::new(Context::new(
        Connectors::new(&settings, &Policy::default()),
        settings.connector_states(),
        today,
    ));
    let mut config = GateConfig::default();
    // Closing is hard for everyone here, so an interactive close waits for a verdict.
    config
        .stricter
        .insert("cw_tickets.close".into(), Risk::Hard);
    // On disk, as the daemon keeps them, so removal of a settled plan is visible.
    let proposals_dir = dir.path().join("proposals");
    let gate = Gate::new(
        store.clone(),
        ctx,
        Arc::new(Redactor::new(settings.secrets())),
        config,
    )
    .unwrap()
    .with_plans(PlanStore::at(proposals_dir.clone()).unwrap());
    let settlements = Arc::new(Settlements::default());
    let approvals = Approvals::new(gate.clone(), Arc::clone(&settlements));
    let ops = key(1);
    let enrolled = approvals
        .enroll(&public_key_pem(&ops), "ops", None)
        .await
        .unwrap();
    assert_eq!(enrolled.key_id, id_of(&ops));
    let direct = Connectors::new(&settings, &Policy::default()).unwrap();
    let open: Vec<i64> = direct
        .manage
        .list(
            &Call::new(Budget { max_calls: 20 }),
            "/service/tickets",
            &Query::new()
                .conditions("closedFlag = false")
                .order_by("id asc"),
            1000,
        )
        .await
        .unwrap()
        .rows
        .iter()
        .map(|t| t["id"].as_i64().unwrap())
        .collect();
    assert!(
        open.len() >= 40,
        "the sandbox has {} open tickets",
        open.len()
    );
    World {
        tenant,
        gate,
        store,
        approvals,
        settlements,
        direct,
        ops_id: enrolled.key_id,
        ops,
        proposals_dir,
        open,
        _dir: dir,
    }
}

impl World {
    /// An interactive, enforce-mode, confirmed close of `ticket`: hard, so it waits.
    async fn propose(&self, ticket: i64) -> Proposal {
        let outcome = self
            .gate
            .dispatch(
                &Caller::interactive("t", Mode::Enforce),
                ToolCall::new("cw_tickets", "close", json!({"id": ticket})).confirmed(),
            )
            .await;
        let ToolOutcome::PendingApproval {
            proposal_id,
            action_digest,
            ..
        } = outcome
        else {
            panic!("closing {ticket}: {outcome:?}")
        };
        Proposal {
            id: proposal_id,
            digest: action_digest,
            ticket,
        }
    }

    fn signed(&self, p: &Proposal, decision: Decision) -> Signed {
        sign(&verdict(p, decision, &self.ops_id), &self.ops)
    }

    /// Requests other than GET that reached the sandbox for `ticket` (or anything under it).
    fn writes_to(&self, ticket: i64) -> Vec<String> {
        let exact = format!("/service/tickets/{ticket}");
        let under = format!("{exact}/");
        self.tenant
            .journal()
            .iter()
            .filter(|e| e.method != "GET" && (e.path.ends_with(&exact) || e.path.contains(&under)))
            .map(|e| format!("{} {}", e.method, e.path))
            .collect()
    }

    fn events_since(&self, seq: u64) -> Vec<Envelope> {
        self.store
            .range(seq, u64::MAX)
            .map(|e| e.unwrap())
            .collect()
    }

    fn is_pending(&self, proposal_id: &str) -> bool {
        self.store.projections().pending.contains_key(proposal_id)
    }

    fn plan_file(&self, proposal_id: &str) -> PathBuf {
        self.proposals_dir.join(format!("{proposal_id}.json"))
    }

    async fn ticket(&self, id: i64) -> Value {
        self.direct
            .manage
            .get(
                &Call::new(Budget { max_calls: 5 }),
                &format!("/service/tickets/{id}"),
                &Query::new(),
            )
            .await
            .unwrap()
    }
}

/// Ways to get a verdict wrong, each refused for one reason.
#[derive(Debug, Clone, Copy)]
enum Forgery {
    /// Signed by a key nobody enrolled, naming itself.
    UnknownKey,
    /// Signed by a key that was enrolled (approved by "ops") and then revoked.
    RevokedKey,
    /// Signed by another key, claiming to be "ops".
    ForeignKeyClaimsEnrolledId,
    /// A valid verdict with one bit of its signature flipped.
    FlippedSignatureBit,
    /// A valid verdict whose approved request, one hex digit of the digest, was changed after
    /// signing.
    EditedAfterSigning,
    /// Signed over another pending proposal's digest.
    DigestSwapped,
    /// A window that ended a minute ago.
    Expired,
    /// A window that starts in a minute.
    NotYetValid,
    /// A verdict valid now, checked by a daemon whose clock runs a minute ahead.
    ClockAhead,
    /// A verdict valid now, checked by a daemon whose clock runs a minute behind.
    ClockBehind,
    /// An approval accepted (and executed) once, sent again.
    ReplayedApproval,
    /// A denial accepted once, sent again.
    ReplayedDenial,
    /// A proposal id nobody proposed.
    NeverProposed,
    /// An approval of a proposal already denied.
    AlreadyDenied,
    /// An observe-mode proposal approved after its ticket changed directly in the sandbox.
    TargetChanged,
    /// The right fields, signed, with whitespace: not the canonical bytes.
    NonCanonicalText,
    /// A verdict payload of another domain.
    WrongDomain,
    /// A signed mode change sent as a verdict.
    ModeChangeAsVerdict,
    /// A 60 s window (at most 30 s).
    LongWindow,
    /// A denial without a reason.
    DenialWithoutReason,
}

/// What a forgery sends, against which ticket, through which `Approvals` (one with a shifted
/// clock, or the world's), about which proposal.
struct Attempt {
    signed: Signed,
    ticket: i64,
    approvals: Approvals,
    proposal_id: Option<String>,
}

/// `ticket` is the case's own; `spare` another open ticket, for a second proposal.
async fn forge(w: &World, forgery: Forgery, ticket: i64, spare: i64) -> Attempt {
    use Forgery::*;
    let attempt = |signed, approvals: Option<Approvals>, p: &Proposal| Attempt {
        signed,
        ticket: p.ticket,
        approvals: approvals.unwrap_or_else(|| w.approvals.clone()),
        proposal_id: Some(p.id.clone()),
    };
    let stranger = key(9);
    match forgery {
        UnknownKey => {
            let p = w.propose(ticket).await;
            let signed = sign(
                &verdict(&p, Decision::Approve, &id_of(&stranger)),
                &stranger,
            );
            attempt(signed, None, &p)
        }
        RevokedKey => {
            let second = key(2);
            let now = Utc::now();
            let window = (
                now - chrono::Duration::seconds(1),
                now + chrono::Duration::seconds(29),
            );
            let approval = sign(
                &EnrollPayload {
                    v: 1,
                    domain: ENROLL_DOMAIN.into(),
                    public_key: public_key_pem(&second),
                    label: "laptop".into(),
                    not_before: window.0,
                    expires_at: window.1,
                    nonce: new_nonce(),
                    key_id: w.ops_id.clone(),
                },
                &w.ops,
            );
            w.approvals
                .enroll(&public_key_pem(&second), "laptop", Some(&approval))
                .await
                .unwrap();
            let revocation = sign(
                &RevokePayload {
                    v: 1,
                    domain: REVOKE_DOMAIN.into(),
                    revoke: id_of(&second),
                    reason: "laptop lost".into(),
                    not_before: window.0,
                    expires_at: window.1,
                    nonce: new_nonce(),
                    key_id: w.ops_id.clone(),
                },
                &w.ops,
            );
            let revoked = w.approvals.revoke(&revocation).await.unwrap();
            assert!(revoked.revoked);
            assert!(
                w.approvals
                    .keys()
                    .iter()
                    .any(|k| k.key_id == id_of(&second) && k.revoked)
            );
            let p = w.propose(ticket).await;
            let signed = sign(&verdict(&p, Decision::Approve, &id_of(&second)), &second);
            attempt(signed, None, &p)
        }
        ForeignKeyClaimsEnrolledId => {
            let p = w.propose(ticket).await;
            let signed = sign(&verdict(&p, Decision::Approve, &w.ops_id), &stranger);
            attempt(signed, None, &p)
        }
        FlippedSignatureBit => {
            let p = w.propose(ticket).await;
            let mut signed = w.signed(&p, Decision::Approve);
            let mut bytes = URL_SAFE_NO_PAD.decode(&signed.signature).unwrap();
            bytes[40] ^= 0x04;
            signed.signature = URL_SAFE_NO_PAD.encode(bytes);
            attempt(signed, None, &p)
        }
        EditedAfterSigning => {
            let p = w.propose(ticket).await;
            let mut signed = w.signed(&p, Decision::Approve);
            let digit = if p.digest.ends_with('0') { "1" } else { "0" };
            let edited = format!("{}{digit}", &p.digest[..63]);
            signed.payload = signed.payload.replace(&p.digest, &edited);
            attempt(signed, None, &p)
        }
        DigestSwapped => {
            let p = w.propose(ticket).await;
            // Another real pending proposal: its digest.
            let other = w.propose(spare).await;
            assert_ne!(p.digest, other.digest);
            let payload = VerdictPayload {
                action_digest: other.digest.clone(),
                ..verdict(&p, Decision::Approve, &w.ops_id)
            };
            attempt(sign(&payload, &w.ops), None, &p)
        }
        Expired | NotYetValid | LongWindow => {
            let p = w.propose(ticket).await;
            let now = Utc::now();
            let (from, until) = match forgery {
                // Past the 5 s skew on either side.
                Expired => (-60, -36),
                NotYetValid => (36, 60),
                _ => (-1, 59),
            };
            let payload = VerdictPayload {
                not_before: now + chrono::Duration::seconds(from),
                expires_at: now + chrono::Duration::seconds(until),
                ..verdict(&p, Decision::Approve, &w.ops_id)
            };
            attempt(sign(&payload, &w.ops), None, &p)
        }
        ClockAhead | ClockBehind => {
            let p = w.propose(ticket).await;
            let offset = if matches!(forgery, ClockAhead) {
                60
            } else {
                -60
            };
            let shifted = Approvals::new(w.gate.clone(), Arc::clone(&w.settlements))
                .with_clock(Clock::fixed_offset(chrono::Duration::seconds(offset)));
            attempt(w.signed(&p, Decision::Approve), Some(shifted), &p)
        }
        ReplayedApproval | ReplayedDenial => {
            let p = w.propose(ticket).await;
            let decision = if matches!(forgery, ReplayedApproval) {
                Decision::Approve
            } else {
                Decision::Deny
            };
            let signed = w.signed(&p, decision);
            let first = w.approvals.verdict(&signed).await;
            assert!(first.accepted, "{first:?}");
            attempt(signed, None, &p)
        }
        NeverProposed => {
            let p = Proposal {
                id: "p-00000000deadbeef".into(),
                digest: "ab".repeat(32),
                ticket,
            };
            attempt(w.signed(&p, Decision::Approve), None, &p)
        }
        AlreadyDenied => {
            let p = w.propose(ticket).await;
            let denied = w.approvals.verdict(&w.signed(&p, Decision::Deny)).await;
            assert!(denied.accepted, "{denied:?}");
            attempt(w.signed(&p, Decision::Approve), None, &p)
        }
        TargetChanged => {
            // The night agent in shadow records a change for the morning review...
            let shadow = Caller {
                principal: Principal::Skill {
                    skill: "msp-night-triage".into(),
                    run_id: "r-1".into(),
                },
                mode: Mode::Observe,
                allowed: None,
            };
            let recorded = w
                .gate
                .dispatch(
                    &shadow,
                    ToolCall::new(
                        "cw_tickets",
                        "update",
                        json!({"id": ticket, "priority_id": 2}),
                    )
                    .confirmed(),
                )
                .await;
            let ToolOutcome::RecordedForReview { proposal_id, .. } = recorded else {
                panic!("{recorded:?}")
            };
            let digest = w
                .approvals
                .pending()
                .into_iter()
                .find(|s| s.proposal_id == proposal_id)
                .unwrap()
                .action_digest;
            // ...and a technician changes the ticket before anyone approves it.
            w.direct
                .manage
                .patch(
                    &Call::new(Budget { max_calls: 1 }),
                    &format!("/service/tickets/{ticket}"),
                    &[PatchOp::replace(
                        "summary",
                        json!("Changed by a technician"),
                    )],
                )
                .await
                .unwrap();
            let p = Proposal {
                id: proposal_id,
                digest,
                ticket,
            };
            attempt(w.signed(&p, Decision::Approve), None, &p)
        }
        NonCanonicalText => {
            let p = w.propose(ticket).await;
            let canonical = w.signed(&p, Decision::Approve).payload;
            let spaced = canonical.replace(",\"", ", \"");
            assert_ne!(spaced, canonical);
            attempt(sign_text(&spaced, &w.ops), None, &p)
        }
        WrongDomain => {
            let p = w.propose(ticket).await;
            let payload = VerdictPayload {
                domain: MODE_DOMAIN.into(),
                ..verdict(&p, Decision::Approve, &w.ops_id)
            };
            attempt(sign(&payload, &w.ops), None, &p)
        }
        ModeChangeAsVerdict => {
            let p = w.propose(ticket).await;
            let now = Utc::now();
            let mode = ModePayload {
                v: 1,
                domain: MODE_DOMAIN.into(),
                skill: "msp-night-triage".into(),
                to: Mode::Enforce,
                not_before: now,
                expires_at: now + chrono::Duration::seconds(20),
                nonce: new_nonce(),
                key_id: w.ops_id.clone(),
            };
            Attempt {
                proposal_id: None,
                ..attempt(sign(&mode, &w.ops), None, &p)
            }
        }
        DenialWithoutReason => {
            let p = w.propose(ticket).await;
            let payload = VerdictPayload {
                reason: None,
                ..verdict(&p, Decision::Deny, &w.ops_id)
            };
            attempt(sign(&payload, &w.ops), None, &p)
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_wrong_verdict_is_refused_for_its_reason_recorded_and_sends_nothing() {
    use Forgery::*;
    let w = world().await;
    // (forgery, reason, non-GET requests to its ticket before the refused verdict: an accepted
    // approval that ran, or the technician's own change)
    let cases = [
        (UnknownKey, R::UnknownKey, 0),
        (RevokedKey, R::RevokedKey, 0),
        (ForeignKeyClaimsEnrolledId, R::BadSignature, 0),
        (FlippedSignatureBit, R::BadSignature, 0),
        (EditedAfterSigning, R::BadSignature, 0),
        (DigestSwapped, R::DigestMismatch, 0),
        (Expired, R::Expired, 0),
        (NotYetValid, R::NotYetValid, 0),
        (ClockAhead, R::Expired, 0),
        (ClockBehind, R::NotYetValid, 0),
        (ReplayedApproval, R::Replayed, 1),
        (ReplayedDenial, R::Replayed, 0),
        (NeverProposed, R::NotPending, 0),
        (AlreadyDenied, R::NotPending, 0),
        (TargetChanged, R::TargetChanged, 1),
        (NonCanonicalText, R::Malformed, 0),
        (WrongDomain, R::Malformed, 0),
        (ModeChangeAsVerdict, R::Malformed, 0),
        (LongWindow, R::Malformed, 0),
        (DenialWithoutReason, R::Malformed, 0),
    ];
    for (i, (forgery, expected, prior_writes)) in cases.into_iter().enumerate() {
        let attempt = forge(&w, forgery, w.open[2 * i], w.open[2 * i + 1]).await;
        let sent_before = w.writes_to(attempt.ticket);
        assert_eq!(
            sent_before.len(),
            prior_writes,
            "{forgery:?}: {sent_before:?}"
        );
        let was_pending = attempt
            .proposal_id
            .as_deref()
            .is_some_and(|p| w.is_pending(p));
        let waiter = attempt
            .proposal_id
            .as_deref()
            .map(|p| w.settlements.subscribe(p));
        let seq = w.store.len();

        let reply = attempt.approvals.verdict(&attempt.signed).await;

        assert!(!reply.accepted, "{forgery:?}: {reply:?}");
        assert_eq!(
            reply.rejection,
            Some(expected),
            "{forgery:?}: {}",
            reply.detail
        );
        assert!(reply.outcome.is_none(), "{forgery:?}");
        let new = w.events_since(seq);
        let rejected: Vec<_> = new
            .iter()
            .filter_map(|e| match &e.event {
                Event::VerdictRejected {
                    reason,
                    proposal_id,
                    ..
                } => Some((*reason, proposal_id.clone())),
                _ => None,
            })
            .collect();
        assert_eq!(
            rejected,
            vec![(expected, attempt.proposal_id.clone())],
            "{forgery:?}"
        );
        assert_eq!(
            new.len(),
            1,
            "{forgery:?}: a refusal records only itself: {:?}",
            new.iter().map(Envelope::event_type).collect::<Vec<_>>()
        );
        assert_eq!(
            w.writes_to(attempt.ticket),
            sent_before,
            "{forgery:?} sent something"
        );
        if let Some(p) = &attempt.proposal_id {
            assert_eq!(w.is_pending(p), was_pending, "{forgery:?} changed {p}");
            assert_eq!(
                w.plan_file(p).exists(),
                was_pending,
                "{forgery:?}: plan of {p}"
            );
        }
        if let Some(mut waiter) = waiter {
            assert!(
                waiter.try_recv().is_err(),
                "{forgery:?}: a refusal settled the proposal"
            );
        }
    }
    w.tenant.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_verdict_the_log_cannot_record_is_refused_and_nothing_runs() {
    let w = world().await;
    let ticket = w.open[0];
    let p = w.propose(ticket).await;
    let valid = w.signed(&p, Decision::Approve);
    let foreign = sign(&verdict(&p, Decision::Approve, &w.ops_id), &key(9));
    w.store.close().await;
    // Valid, but `VerdictAccepted` cannot be made durable: it does not happen.
    let reply = w.approvals.verdict(&valid).await;
    assert!(!reply.accepted, "{reply:?}");
    assert_eq!(reply.rejection, Some(R::LogUnavailable), "{}", reply.detail);
    assert!(reply.outcome.is_none());
    // A refusal that cannot be recorded says so rather than its own reason.
    let reply = w.approvals.verdict(&foreign).await;
    assert_eq!(reply.rejection, Some(R::LogUnavailable), "{}", reply.detail);
    assert!(
        reply.detail.contains("could not be recorded"),
        "{}",
        reply.detail
    );
    assert!(w.writes_to(ticket).is_empty(), "{:?}", w.writes_to(ticket));
    assert!(w.is_pending(&p.id));
    assert!(w.plan_file(&p.id).exists());
    assert_eq!(w.ticket(ticket).await["closedFlag"], false);
    w.tenant.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_approval_executes_once_and_a_denial_sends_nothing_and_waiters_hear_both() {
    let w = world().await;

    // Approve.
    let ticket = w.open[0];
    let p = w.propose(ticket).await;
    assert!(w.is_pending(&p.id));
    assert!(w.plan_file(&p.id).exists(), "kept on disk while it waits");
    assert!(w.approvals.pending().iter().any(|s| s.proposal_id == p.id));
    let waiter = w.settlements.subscribe(&p.id);
    let seq = w.store.len();
    let reply = w.approvals.verdict(&w.signed(&p, Decision::Approve)).await;
    assert!(reply.accepted, "{reply:?}");
    assert_eq!(reply.rejection, None);
    let Some(ToolOutcome::Executed {
        proposal_id,
        upstream_requests,
        ..
    }) = &reply.outcome
    else {
        panic!("{reply:?}")
    };
    assert_eq!(proposal_id, &p.id);
    assert_eq!(*upstream_requests, 1);
    let new = w.events_since(seq);
    assert_eq!(
        new.iter().map(Envelope::event_type).collect::<Vec<_>>(),
        vec!["VerdictAccepted", "ActionExecuting", "ActionExecuted"]
    );
    for e in &new {
        let about = match &e.event {
            Event::VerdictAccepted { proposal_id, .. } => Some(proposal_id),
            Event::ActionExecuting { proposal_id, .. }
            | Event::ActionExecuted { proposal_id, .. } => proposal_id.as_ref(),
            _ => None,
        };
        assert_eq!(about, Some(&p.id), "{e:?}");
    }
    assert_eq!(
        new[0].principal,
        Principal::Operator {
            key_id: Some(w.ops_id.clone())
        }
    );
    assert_eq!(
        w.writes_to(ticket),
        vec![format!(
            "PATCH /v4_6_release/apis/3.0/service/tickets/{ticket}"
        )]
    );
    assert_eq!(w.ticket(ticket).await["closedFlag"], true);
    assert!(!w.is_pending(&p.id));
    assert!(w.approvals.pending().iter().all(|s| s.proposal_id != p.id));
    assert!(!w.plan_file(&p.id).exists(), "a settled plan is removed");
    match tokio::time::timeout(Duration::from_secs(5), waiter).await {
        Ok(Ok(Settlement::Executed {
            key_id,
            upstream_requests,
            result,
        })) => {
            assert_eq!(key_id, w.ops_id);
            assert_eq!(upstream_requests, 1);
            assert_eq!(result["id"], ticket);
        }
        other => panic!("the waiter heard {other:?}"),
    }

    // Deny, with a reason.
    let ticket = w.open[1];
    let p = w.propose(ticket).await;
    let waiter = w.settlements.subscribe(&p.id);
    let seq = w.store.len();
    let reply: VerdictReply = w.approvals.verdict(&w.signed(&p, Decision::Deny)).await;
    assert!(reply.accepted, "{reply:?}");
    assert_eq!(reply.detail, "denied: the customer still has the problem");
    assert!(reply.outcome.is_none());
    let new = w.events_since(seq);
    assert_eq!(
        new.iter().map(Envelope::event_type).collect::<Vec<_>>(),
        vec!["VerdictAccepted", "ActionDenied"]
    );
    assert!(matches!(
        &new[0].event,
        Event::VerdictAccepted { decision: Decision::Deny, proposal_id, .. } if *proposal_id == p.id
    ));
    assert!(matches!(
        &new[1].event,
        Event::ActionDenied {
            reason: DenialReason::HumanDenied,
            proposal_id: Some(proposal_id),
            detail,
            ..
        } if *proposal_id == p.id && detail == "the customer still has the problem"
    ));
    assert!(w.writes_to(ticket).is_empty(), "{:?}", w.writes_to(ticket));
    assert_eq!(w.ticket(ticket).await["closedFlag"], false);
    assert!(!w.is_pending(&p.id));
    assert!(!w.plan_file(&p.id).exists());
    match tokio::time::timeout(Duration::from_secs(5), waiter).await {
        Ok(Ok(Settlement::Denied { reason, key_id })) => {
            assert_eq!(reason, "the customer still has the problem");
            assert_eq!(key_id, w.ops_id);
        }
        other => panic!("the waiter heard {other:?}"),
    }
    // Both nonces are spent.
    assert_eq!(w.store.projections().consumed_nonces.len(), 2);
    w.tenant.shutdown().await;
}

/// A control-socket client speaking raw JSON lines.
struct Control {
    lines: tokio::io::Lines<BufReader<tokio::net::unix::OwnedReadHalf>>,
    write: tokio::net::unix::OwnedWriteHalf,
}

impl Control {
    async fn connect(socket: &Path) -> Control {
        let stream = tokio::net::UnixStream::connect(socket).await.unwrap();
        let (read, write) = stream.into_split();
        let mut control = Control {
            lines: BufReader::new(read).lines(),
            write,
        };
        let welcome = control
            .request(json!({"protocol_version": 1, "client": "t"}))
            .await;
        assert_eq!(welcome["welcome"]["protocol_version"], 1, "{welcome}");
        control
    }

    async fn request(&mut self, request: Value) -> Value {
        let mut line = serde_json::to_vec(&request).unwrap();
        line.push(b'\n');
        self.write.write_all(&line).await.unwrap();
        let answer = self.lines.next_line().await.unwrap().unwrap();
        serde_json::from_str(&answer).unwrap()
    }

    /// A response's body, checking its kind.
    async fn body(&mut self, request: Value, kind: &str) -> Value {
        let response = self.request(request.clone()).await;
        assert_eq!(response["response"], kind, "{request} -> {response}");
        response["body"].clone()
    }

    async fn verdict(&mut self, signed: &Signed) -> Value {
        self.body(
            json!({"request": "verdict", "payload": signed.payload, "signature": signed.signature}),
            "verdict",
        )
        .await
    }

    async fn pending(&mut self) -> Vec<String> {
        self.body(json!({"request": "pending"}), "pending")
            .await
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["proposal_id"].as_str().unwrap().to_owned())
            .collect()
    }
}

struct Running {
    shutdown: CancellationToken,
    task: tokio::task::JoinHandle<Result<(), daemon::DaemonError>>,
    control: Control,
    /// The embedded sandbox's base URL (a fresh tenant, seed 42, on every start).
    sandbox_url: String,
}

async fn start(paths: &daemon::paths::Paths) -> Running {
    let mut config = schemas::config::Config::default();
    config
        .gate
        .stricter
        .insert("cw_tickets.close".into(), Risk::Hard);
    let settings = daemon::Settings {
        paths: paths.clone(),
        config,
        config_sources: vec!["test".into()],
        sandbox: Some(42),
        allow_broken_log: false,
    };
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(daemon::run(settings, shutdown.clone()));
    let socket = paths.control_socket();
    for _ in 0..1000 {
        if tokio::net::UnixStream::connect(&socket).await.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let mut control = Control::connect(&socket).await;
    let status = control.body(json!({"request": "status"}), "status").await;
    let sandbox_url = status["sandbox_url"].as_str().unwrap().to_owned();
    Running {
        shutdown,
        task,
        control,
        sandbox_url,
    }
}

impl Running {
    async fn stop(self) {
        drop(self.control);
        self.shutdown.cancel();
        self.task.await.unwrap().unwrap();
    }

    /// Non-GET requests the sandbox received: `METHOD path`.
    async fn writes(&self) -> Vec<String> {
        let body: Value = reqwest::get(format!("{}/__sandbox/journal", self.sandbox_url))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        body["entries"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["method"] != "GET")
            .map(|e| {
                format!(
                    "{} {}",
                    e["method"].as_str().unwrap(),
                    e["path"].as_str().unwrap()
                )
            })
            .collect()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accepted_verdicts_stay_spent_and_pending_proposals_stay_approvable_across_a_restart() {
    let root = tempfile::tempdir().unwrap();
    let paths = daemon::paths::Paths {
        config_dir: root.path().join("c"),
        state_dir: root.path().join("s"),
        runtime_dir: root.path().join("r"),
    };
    let ops = key(1);
    let ops_id = id_of(&ops);

    let mut first = start(&paths).await;
    let enrolled = first
        .control
        .body(
            json!({"request": "enroll", "public_key": public_key_pem(&ops), "label": "ops"}),
            "key",
        )
        .await;
    assert_eq!(enrolled["key_id"], ops_id.as_str());
    let truth: Value = reqwest::get(format!("{}/__sandbox/truth", first.sandbox_url))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let tickets: Vec<i64> = truth["untriaged"]
        .as_array()
        .unwrap()
        .iter()
        .take(2)
        .map(|u| u["ticket_id"].as_i64().unwrap())
        .collect();
    let mut proposals = Vec::new();
    for &ticket in &tickets {
        let outcome = first
            .control
            .body(
                json!({"request": "call", "tool": "cw_tickets", "action": "close",
                       "params": {"id": ticket}, "confirm": true}),
                "outcome",
            )
            .await;
        assert_eq!(outcome["status"], "pending_approval", "{outcome}");
        proposals.push(Proposal {
            id: outcome["proposal_id"].as_str().unwrap().to_owned(),
            digest: outcome["action_digest"].as_str().unwrap().to_owned(),
            ticket,
        });
    }
    assert_eq!(
        first.control.pending().await,
        vec![proposals[0].id.clone(), proposals[1].id.clone()]
    );
    let approval = sign(&verdict(&proposals[0], Decision::Approve, &ops_id), &ops);
    let reply = first.control.verdict(&approval).await;
    assert_eq!(reply["accepted"], true, "{reply}");
    assert_eq!(reply["outcome"]["status"], "executed", "{reply}");
    assert_eq!(
        first.writes().await,
        vec![format!(
            "PATCH /v4_6_release/apis/3.0/service/tickets/{}",
            tickets[0]
        )]
    );
    first.stop().await;

    // The same state directory, a new process's worth of daemon (and a fresh sandbox tenant).
    let mut second = start(&paths).await;
    // Still inside its 30 s window: only the consumed nonce, rebuilt from the log, refuses it.
    let replay = second.control.verdict(&approval).await;
    assert_eq!(replay["accepted"], false, "{replay}");
    assert_eq!(replay["rejection"], "replayed", "{replay}");
    assert_eq!(
        second.control.pending().await,
        vec![proposals[1].id.clone()]
    );
    let reply = second
        .control
        .verdict(&sign(
            &verdict(&proposals[1], Decision::Approve, &ops_id),
            &ops,
        ))
        .await;
    assert_eq!(reply["accepted"], true, "{reply}");
    assert_eq!(reply["outcome"]["status"], "executed", "{reply}");
    assert!(second.control.pending().await.is_empty());
    assert_eq!(
        second.writes().await,
        vec![format!(
            "PATCH /v4_6_release/apis/3.0/service/tickets/{}",
            tickets[1]
        )],
        "the replay sent nothing; the approval after the restart sent its one PATCH"
    );
    second.stop().await;

    let reader =
        daemon::log::Reader::open(&paths.log_dir(), &paths.checkpoint_file(), 1 << 20).unwrap();
    let events: Vec<Event> = reader
        .range(0, u64::MAX)
        .map(|e| e.unwrap().event)
        .collect();
    let executed: Vec<Option<String>> = events
        .iter()
        .filter_map(|e| match e {
            Event::ActionExecuted { proposal_id, .. } => Some(proposal_id.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(
        executed,
        vec![Some(proposals[0].id.clone()), Some(proposals[1].id.clone())]
    );
    assert!(events.iter().any(|e| matches!(
        e,
        Event::VerdictRejected { reason: R::Replayed, proposal_id: Some(p), .. } if *p == proposals[0].id
    )));
    assert!(reader.verify_all().unwrap().problem.is_none());
}
