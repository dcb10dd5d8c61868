//! Signed-approvals benchmark (not a test): how many verdicts per second one thread can decide
//! (`check_verdict` on valid verdicts, `verify_es256` alone, the bare p256 verification under
//! it, and a forged verdict refused before its signature is checked); and what a human approval
//! adds to a write: the time from a verdict sent through `Approvals::verdict` to its executed
//! reply, against the same close sent as a confirmed write straight through the gate.
//!
//! `cargo bench -p daemon --bench approvals` (release). Figures go in BENCHMARKS.md. Environment
//! knobs: `NIGHTJAR_BENCH_VERDICTS` (default 5,000) for the throughput part,
//! `NIGHTJAR_BENCH_PROPOSALS` (default 300) for the latency part.
#![allow(clippy::print_stdout, reason = "a benchmark prints its figures")]
#![allow(clippy::unwrap_used, reason = "a benchmark aborts on any failure")]

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use daemon::approvals::{
    Approvals, PlanStore, Settlements, check_verdict, key_id, new_nonce, public_key_pem, sign,
    verify_es256,
};
use daemon::catalog::Context;
use daemon::connector::manage::{PatchOp, Query};
use daemon::connector::{Budget, Call, Connectors, Policy, Settings};
use daemon::gate::{Caller, Gate};
use daemon::log::{Options, Store};
use daemon::redact::Redactor;
use p256::ecdsa::SigningKey;
use schemas::config::GateConfig;
use schemas::event::{Decision, Mode, Risk};
use schemas::projection::{KeyState, Pending};
use schemas::tool::{ToolCall, ToolOutcome};
use schemas::verdict::{Signed, VERDICT_DOMAIN, VerdictPayload};
use serde_json::json;

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

fn ms(d: Duration) -> String {
    format!("{:.3} ms", d.as_secs_f64() * 1000.0)
}

fn report(name: &str, mut samples: Vec<Duration>) -> (Duration, Duration) {
    samples.sort();
    let (p50, p99) = (percentile(&samples, 0.5), percentile(&samples, 0.99));
    println!("| {name} | {} | {} |", ms(p50), ms(p99));
    (p50, p99)
}

/// Percentiles of signed differences in milliseconds.
fn report_ms(name: &str, mut samples: Vec<f64>) {
    samples.sort_by(f64::total_cmp);
    let at = |p: f64| samples[((samples.len() as f64 - 1.0) * p).round() as usize];
    println!("| {name} | {:+.3} ms | {:+.3} ms |", at(0.5), at(0.99));
}

fn rate(name: &str, n: usize, took: Duration) {
    println!(
        "| {name} | {:.0} | {:.1} µs |",
        n as f64 / took.as_secs_f64(),
        took.as_secs_f64() * 1e6 / n as f64
    );
}

fn verdict(proposal_id: &str, digest: &str, key_id: &str) -> VerdictPayload {
    let now = Utc::now();
    VerdictPayload {
        v: 1,
        domain: VERDICT_DOMAIN.into(),
        proposal_id: proposal_id.to_owned(),
        action_digest: digest.to_owned(),
        decision: Decision::Approve,
        reason: None,
        not_before: now - chrono::Duration::seconds(1),
        expires_at: now + chrono::Duration::seconds(29),
        nonce: new_nonce(),
        key_id: key_id.to_owned(),
    }
}

/// Verdicts decided per second on one thread, over the pure decision and its parts.
fn throughput(ops: &SigningKey, n: usize) {
    let pem = public_key_pem(ops);
    let ops_id = key_id(&pem).unwrap();
    let keys = BTreeMap::from([(
        ops_id.clone(),
        KeyState {
            public_key: pem.clone(),
            label: "ops".into(),
            revoked: false,
        },
    )]);
    // A busy morning: 300 proposals waiting, 10,000 nonces already spent.
    let pending: BTreeMap<String, Pending> = (0..300)
        .map(|i| {
            let id = format!("p-{i:016x}");
            let p = Pending {
                proposal_id: id.clone(),
                action_digest: format!("{i:064x}"),
                tool: "cw_tickets".into(),
                action: "close".into(),
                run_id: None,
                proposed_seq: i,
            };
            (id, p)
        })
        .collect();
    let consumed: BTreeSet<String> = (0..10_000).map(|_| new_nonce()).collect();
    let signed: Vec<Signed> = (0..n)
        .map(|i| {
            let p = &pending[&format!("p-{:016x}", i % 300)];
            sign(&verdict(&p.proposal_id, &p.action_digest, &ops_id), ops)
        })
        .collect();
    let now = Utc::now();

    println!("| measure (one thread, {n} verdicts) | per second | each |");
    println!("|---|---:|---:|");
    let t = Instant::now();
    for s in &signed {
        assert!(check_verdict(s, &keys, &pending, &consumed, now).is_ok());
    }
    rate("`check_verdict`, valid verdicts (accepted)", n, t.elapsed());

    let t = Instant::now();
    for s in &signed {
        assert!(verify_es256(s.payload.as_bytes(), &s.signature, &pem).is_ok());
    }
    rate(
        "`verify_es256` alone (PEM decode + ES256 verify)",
        n,
        t.elapsed(),
    );

    let raw: Vec<(Vec<u8>, p256::ecdsa::Signature)> = signed
        .iter()
        .map(|s| {
            use base64::Engine as _;
            let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(&s.signature)
                .unwrap();
            (
                s.payload.as_bytes().to_vec(),
                p256::ecdsa::Signature::from_slice(&bytes).unwrap(),
            )
        })
        .collect();
    let verifying = *ops.verifying_key();
    let t = Instant::now();
    for (payload, sig) in &raw {
        use p256::ecdsa::signature::Verifier as _;
        assert!(verifying.verify(payload, sig).is_ok());
    }
    rate(
        "p256 `VerifyingKey::verify`, key parsed once",
        n,
        t.elapsed(),
    );

    // Forged verdicts naming a key nobody enrolled: refused before any curve arithmetic.
    let stranger = SigningKey::from_slice(&[9; 32]).unwrap();
    let stranger_id = key_id(&public_key_pem(&stranger)).unwrap();
    let forged: Vec<Signed> = signed[..n.min(1000)]
        .iter()
        .map(|s| {
            let payload: VerdictPayload = serde_json::from_str(&s.payload).unwrap();
            sign(
                &VerdictPayload {
                    key_id: stranger_id.clone(),
                    ..payload
                },
                &stranger,
            )
        })
        .collect();
    let rounds = 20;
    let t = Instant::now();
    for _ in 0..rounds {
        for s in &forged {
            assert!(check_verdict(s, &keys, &pending, &consumed, now).is_err());
        }
    }
    rate(
        "`check_verdict`, unknown key (refused before the signature)",
        forged.len() * rounds,
        t.elapsed(),
    );
}

/// Approve -> executed, against the same close as a confirmed write through the gate.
async fn latency(ops: &SigningKey, proposals: usize) {
    let today = chrono::NaiveDate::from_ymd_opt(2026, 3, 2).unwrap();
    let running = sandbox::start(sandbox::Config {
        today,
        ..Default::default()
    })
    .await
    .unwrap();
    let settings = Settings::from_env_lines(&running.env_lines()).unwrap();
    let ticket = running.truth().untriaged[0].ticket_id;
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
    let redactor = Arc::new(Redactor::new(settings.secrets()));
    let mut hard = GateConfig::default();
    hard.stricter.insert("cw_tickets.close".into(), Risk::Hard);
    // As the daemon has it: plans on disk (written and fsynced before the proposal is logged).
    let gate = Gate::new(store.clone(), Arc::clone(&ctx), Arc::clone(&redactor), hard)
        .unwrap()
        .with_plans(PlanStore::at(dir.path().join("proposals")).unwrap());
    // The same daemon state without the stricter rule: close is a plain write.
    let plain = Gate::new(
        store.clone(),
        Arc::clone(&ctx),
        redactor,
        GateConfig::default(),
    )
    .unwrap();
    let approvals = Approvals::new(gate.clone(), Arc::new(Settlements::default()));
    let ops_id = approvals
        .enroll(&public_key_pem(ops), "ops", None)
        .await
        .unwrap()
        .key_id;

    let direct = Connectors::new(&settings, &Policy::default()).unwrap();
    let path = format!("/service/tickets/{ticket}");
    let call = || Call::new(Budget { max_calls: 5 });
    let open_status = direct
        .manage
        .get(&call(), &path, &Query::new())
        .await
        .unwrap()["status"]["id"]
        .clone();
    // Untimed: put the ticket back to its open status, so the next close has work to do.
    let reopen = || async {
        direct
            .manage
            .patch(
                &call(),
                &path,
                &[PatchOp::replace("status/id", open_status.clone())],
            )
            .await
            .unwrap();
    };
    let caller = Caller::interactive("bench", Mode::Enforce);
    let close = || ToolCall::new("cw_tickets", "close", json!({"id": ticket})).confirmed();

    let (mut direct_t, mut propose_t, mut verdict_t) = (Vec::new(), Vec::new(), Vec::new());
    let warmup = 20;
    for i in 0..warmup + proposals {
        // Alternate which goes first, so drift on the shared machine hits both alike.
        for is_direct in [i % 2 == 0, i % 2 != 0] {
            if is_direct {
                let t = Instant::now();
                let outcome = plain.dispatch(&caller, close()).await;
                let took = t.elapsed();
                assert_eq!(outcome.status(), "executed", "{outcome:?}");
                if i >= warmup {
                    direct_t.push(took);
                }
            } else {
                let t = Instant::now();
                let outcome = gate.dispatch(&caller, close()).await;
                let proposed = t.elapsed();
                let ToolOutcome::PendingApproval {
                    proposal_id,
                    action_digest,
                    ..
                } = outcome
                else {
                    panic!("{outcome:?}")
                };
                // Signing is the operator's machine's work, not the daemon's: untimed.
                let signed = sign(&verdict(&proposal_id, &action_digest, &ops_id), ops);
                let t = Instant::now();
                let reply = approvals.verdict(&signed).await;
                let decided = t.elapsed();
                assert!(
                    matches!(reply.outcome, Some(ToolOutcome::Executed { .. })),
                    "{reply:?}"
                );
                if i >= warmup {
                    propose_t.push(proposed);
                    verdict_t.push(decided);
                }
            }
            reopen().await;
        }
    }
    // Differences per pair, signed: the verdict path can be the faster one (it reads less).
    let diff = |a: Duration, b: Duration| (a.as_secs_f64() - b.as_secs_f64()) * 1000.0;
    let added: Vec<f64> = verdict_t
        .iter()
        .zip(&direct_t)
        .map(|(v, d)| diff(*v, *d))
        .collect();
    let whole: Vec<f64> = propose_t
        .iter()
        .zip(&verdict_t)
        .zip(&direct_t)
        .map(|((p, v), d)| diff(*p + *v, *d))
        .collect();
    println!();
    println!(
        "{proposals} closes of each kind after {warmup} warm-up pairs, one sequential caller; \
         sandbox and daemon share the machine"
    );
    println!();
    println!("| path | p50 | p99 |");
    println!("|---|---:|---:|");
    report(
        "confirmed write through the gate (plan: 2 GETs; 3 durable appends; PATCH)",
        direct_t,
    );
    report(
        "hard proposal through the gate (plan: 2 GETs; plan file fsynced; 2 durable appends)",
        propose_t,
    );
    report(
        "verdict -> executed via `Approvals::verdict` (verify; re-read GET; 3 durable appends; PATCH)",
        verdict_t,
    );
    report_ms("added by approval, per pair (verdict - direct)", added);
    report_ms(
        "added by the whole hard path, per pair (proposal + verdict - direct)",
        whole,
    );
    running.shutdown().await;
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let ops = SigningKey::from_slice(&[1; 32]).unwrap();
    let verdicts = env("NIGHTJAR_BENCH_VERDICTS", 5_000);
    let proposals = env("NIGHTJAR_BENCH_PROPOSALS", 300);
    // The pure part on a plain thread, off the runtime.
    let key = ops.clone();
    std::thread::spawn(move || throughput(&key, verdicts))
        .join()
        .unwrap();
    latency(&ops, proposals).await;
}
