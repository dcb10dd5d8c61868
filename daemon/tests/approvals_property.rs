//! Property test of the pure verdict decision, `approvals::check_verdict` (invariant 3): from
//! fresh valid verdicts, random mutations of every kind a forger or a bad clock can produce are
//! all refused, each for the reason its kind predicts; the fresh ones are accepted; and
//! acceptance consumes (the same verdict, its nonce now spent, is refused as replayed).
//!
//! A seeded loop over `rand`'s `StdRng` rather than proptest: the mutations are hand-made
//! rewrites of one payload, not shrinkable values, and 100,000+ cases through proptest's runner
//! cost more than the signature checks themselves. The seed is printed and can be set with
//! `NIGHTJAR_PROPERTY_SEED`; `NIGHTJAR_PROPERTY_FRESH` sets the fresh verdicts per worker. Two
//! workers (threads) with their own seeds share the keys and the pending proposals.
#![allow(clippy::unwrap_used, reason = "test helpers abort on any failure")]

use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Duration, Utc};
use daemon::approvals::{CLOCK_SKEW_SECS, check_verdict, key_id, public_key_pem, sign};
use p256::ecdsa::SigningKey;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use schemas::event::{Decision, VerdictRejection};
use schemas::projection::{KeyState, Pending};
use schemas::verdict::{MAX_VALIDITY_SECS, Signed, VERDICT_DOMAIN, VerdictPayload};
use serde_json::{Value, json};

const PROPOSALS: usize = 16;
/// Mutations of each fresh verdict.
const MUTATIONS: usize = 25;
const WORKERS: u64 = 2;

/// The world the decision is made in: fixed, as the function is pure.
struct World {
    now: DateTime<Utc>,
    ops: SigningKey,
    ops_id: String,
    revoked: SigningKey,
    revoked_id: String,
    stranger: SigningKey,
    stranger_id: String,
    keys: BTreeMap<String, KeyState>,
    pending: BTreeMap<String, Pending>,
}

/// An operator key from a fixed seed byte, so a seed reproduces a run exactly.
fn key(n: u8) -> SigningKey {
    SigningKey::from_slice(&[n; 32]).unwrap()
}

fn id_of(key: &SigningKey) -> String {
    key_id(&public_key_pem(key)).unwrap()
}

fn world() -> World {
    let (ops, revoked, stranger) = (key(1), key(2), key(3));
    let keys = [(&ops, "ops", false), (&revoked, "old laptop", true)]
        .into_iter()
        .map(|(k, label, revoked)| {
            (
                id_of(k),
                KeyState {
                    public_key: public_key_pem(k),
                    label: label.into(),
                    revoked,
                },
            )
        })
        .collect();
    let pending = (0..PROPOSALS)
        .map(|i| {
            let id = format!("p-{i:016x}");
            let p = Pending {
                proposal_id: id.clone(),
                action_digest: sha256_hex(&id),
                tool: "cw_tickets".into(),
                action: "close".into(),
                run_id: None,
                proposed_seq: i as u64,
            };
            (id, p)
        })
        .collect();
    World {
        now: "2026-12-01T10:00:00Z".parse().unwrap(),
        ops_id: id_of(&ops),
        revoked_id: id_of(&revoked),
        stranger_id: id_of(&stranger),
        ops,
        revoked,
        stranger,
        keys,
        pending,
    }
}

/// SHA-256 of a string (hex), for made-up digests.
fn sha256_hex(text: &str) -> String {
    use sha2::Digest as _;
    hex::encode(sha2::Sha256::digest(text.as_bytes()))
}

/// Every way of getting a verdict wrong that the loop tries, and the reason each must get.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Mutation {
    /// One bit of one byte of the signed text (kept ASCII), not re-signed.
    FlipPayloadBit,
    /// One bit of the 64 signature bytes.
    FlipSignatureBit,
    /// A signature of the wrong length, or not base64url.
    GarbleSignature,
    /// A field changed after signing (proposal, digest, decision, nonce, times, reason).
    EditWithoutResigning,
    /// `v: 2`, signed.
    OtherVersion,
    /// Another domain, signed.
    OtherDomain,
    /// A field the payload does not have, signed.
    UnknownField,
    /// The same fields in a non-canonical text (spacing, key order, `+00:00`, `"reason":null`),
    /// signed.
    NonCanonical,
    /// `key_id` swapped for one nobody enrolled, not re-signed.
    KeyIdUnknown,
    /// `key_id` swapped for the revoked key's, not re-signed.
    KeyIdRevoked,
    /// Signed over another pending proposal's digest.
    DigestOfAnotherProposal,
    /// Signed for another pending proposal, keeping this one's digest.
    ProposalIdOfAnother,
    /// Signed for a proposal id nobody proposed.
    NeverProposed,
    /// The whole window moved to end before now minus the skew, signed.
    ShiftedPast,
    /// The whole window moved to start after now plus the skew, signed.
    ShiftedFuture,
    /// A window longer than 30 s, signed.
    LongWindow,
    /// A window that ends before (or when) it starts, signed.
    EmptyWindow,
    /// A nonce too short or not hex, signed.
    BadNonce,
    /// A denial without a reason, signed.
    DenialWithoutReason,
    /// Signed by the stranger's or the revoked key, claiming the enrolled key's id.
    WrongKeyClaimsOps,
    /// Signed by the revoked key under its own id.
    RevokedKeySigns,
    /// An earlier accepted verdict sent again (its nonce consumed).
    Replay,
}

const ALL: [Mutation; 22] = {
    use Mutation::*;
    [
        FlipPayloadBit,
        FlipSignatureBit,
        GarbleSignature,
        EditWithoutResigning,
        OtherVersion,
        OtherDomain,
        UnknownField,
        NonCanonical,
        KeyIdUnknown,
        KeyIdRevoked,
        DigestOfAnotherProposal,
        ProposalIdOfAnother,
        NeverProposed,
        ShiftedPast,
        ShiftedFuture,
        LongWindow,
        EmptyWindow,
        BadNonce,
        DenialWithoutReason,
        WrongKeyClaimsOps,
        RevokedKeySigns,
        Replay,
    ]
};

/// How often each kind is drawn. The blind edits refused before the signature is checked cost
/// microseconds, the rest a signature and a verification each (about 1 ms in a debug build):
/// drawing the cheap ones four times as often keeps the loop inside its time budget while every
/// kind still runs thousands of times.
fn weight(m: Mutation) -> usize {
    use Mutation::*;
    match m {
        FlipPayloadBit | GarbleSignature | KeyIdUnknown | KeyIdRevoked => 4,
        _ => 1,
    }
}

/// The reasons a mutation may be refused for: exactly one, except a blind bit flip, whose
/// reason depends on where it lands.
fn expected(m: Mutation) -> &'static [VerdictRejection] {
    use Mutation::*;
    use VerdictRejection as R;
    match m {
        FlipPayloadBit => &[R::Malformed, R::UnknownKey, R::BadSignature],
        FlipSignatureBit | GarbleSignature | EditWithoutResigning | WrongKeyClaimsOps => {
            &[R::BadSignature]
        }
        OtherVersion | OtherDomain | UnknownField | NonCanonical | LongWindow | EmptyWindow
        | BadNonce | DenialWithoutReason => &[R::Malformed],
        KeyIdUnknown => &[R::UnknownKey],
        KeyIdRevoked | RevokedKeySigns => &[R::RevokedKey],
        DigestOfAnotherProposal | ProposalIdOfAnother => &[R::DigestMismatch],
        NeverProposed => &[R::NotPending],
        ShiftedPast => &[R::Expired],
        ShiftedFuture => &[R::NotYetValid],
        Replay => &[R::Replayed],
    }
}

fn nonce(rng: &mut StdRng) -> String {
    hex::encode(rng.random::<[u8; 16]>())
}

fn millis(ms: i64) -> Duration {
    Duration::milliseconds(ms)
}

/// A valid verdict on a random pending proposal. Its window holds `now` within the skew,
/// sometimes exactly at an edge of what the skew allows.
fn fresh(w: &World, rng: &mut StdRng) -> VerdictPayload {
    let p = &w.pending[&format!("p-{:016x}", rng.random_range(0..PROPOSALS))];
    let skew = CLOCK_SKEW_SECS * 1000;
    let span = rng.random_range(1_000..=MAX_VALIDITY_SECS * 1000);
    let not_before = match rng.random_range(0..8) {
        // Starts exactly as late as the skew allows.
        0 => w.now + millis(skew),
        // Ends exactly as early as the skew allows.
        1 => w.now - millis(skew + span),
        // Anywhere that holds now.
        _ => w.now - millis(rng.random_range(0..span)),
    };
    let decision = if rng.random_bool(0.3) {
        Decision::Deny
    } else {
        Decision::Approve
    };
    VerdictPayload {
        v: 1,
        domain: VERDICT_DOMAIN.into(),
        proposal_id: p.proposal_id.clone(),
        action_digest: p.action_digest.clone(),
        decision,
        reason: (decision == Decision::Deny).then(|| format!("not now ({})", rng.random::<u16>())),
        not_before,
        expires_at: not_before + millis(span),
        nonce: nonce(rng),
        key_id: w.ops_id.clone(),
    }
}

/// `payload` as a JSON object, to edit fields the type cannot hold.
fn object(payload: &VerdictPayload) -> serde_json::Map<String, Value> {
    match serde_json::to_value(payload).unwrap() {
        Value::Object(map) => map,
        _ => unreachable!(),
    }
}

fn canonical(value: &impl serde::Serialize) -> String {
    String::from_utf8(schemas::canonical::to_vec(value).unwrap()).unwrap()
}

fn sign_text(text: String, key: &SigningKey) -> Signed {
    use p256::ecdsa::signature::Signer as _;
    let signature: p256::ecdsa::Signature = key.sign(text.as_bytes());
    Signed {
        payload: text,
        signature: URL_SAFE_NO_PAD.encode(signature.to_bytes()),
    }
}

/// The same signature with `s` on the other side of n/2: ECDSA's malleability.
fn other_s(signature: &str) -> String {
    let bytes = URL_SAFE_NO_PAD.decode(signature).unwrap();
    let sig = p256::ecdsa::Signature::from_slice(&bytes).unwrap();
    let (r, s) = sig.split_scalars();
    let flipped = p256::ecdsa::Signature::from_scalars(r, -s).unwrap();
    URL_SAFE_NO_PAD.encode(flipped.to_bytes())
}

/// A pending proposal other than `not`.
fn another<'a>(w: &'a World, rng: &mut StdRng, not: &str) -> &'a Pending {
    loop {
        let p = &w.pending[&format!("p-{:016x}", rng.random_range(0..PROPOSALS))];
        if p.proposal_id != not {
            return p;
        }
    }
}

fn mutate(
    w: &World,
    rng: &mut StdRng,
    m: Mutation,
    valid: &VerdictPayload,
    signed: &Signed,
    spent: &[Signed],
) -> Signed {
    use Mutation::*;
    let skew = CLOCK_SKEW_SECS * 1000;
    let resign = |p: &VerdictPayload| sign(p, &w.ops);
    match m {
        FlipPayloadBit => {
            let mut bytes = signed.payload.clone().into_bytes();
            let i = rng.random_range(0..bytes.len());
            bytes[i] ^= 1 << rng.random_range(0..7);
            Signed {
                payload: String::from_utf8(bytes).unwrap(),
                signature: signed.signature.clone(),
            }
        }
        FlipSignatureBit => {
            let mut bytes = URL_SAFE_NO_PAD.decode(&signed.signature).unwrap();
            bytes[rng.random_range(0..64)] ^= 1 << rng.random_range(0..8);
            Signed {
                payload: signed.payload.clone(),
                signature: URL_SAFE_NO_PAD.encode(bytes),
            }
        }
        GarbleSignature => {
            let bytes = URL_SAFE_NO_PAD.decode(&signed.signature).unwrap();
            let signature = match rng.random_range(0..4) {
                0 => URL_SAFE_NO_PAD.encode(&bytes[..rng.random_range(0..64)]),
                1 => URL_SAFE_NO_PAD.encode([bytes.as_slice(), &[0]].concat()),
                2 => format!("{}!", &signed.signature[1..]),
                _ => String::new(),
            };
            Signed {
                payload: signed.payload.clone(),
                signature,
            }
        }
        EditWithoutResigning => {
            let other = another(w, rng, &valid.proposal_id);
            let edited = match rng.random_range(0..7) {
                0 => VerdictPayload {
                    proposal_id: other.proposal_id.clone(),
                    action_digest: other.action_digest.clone(),
                    ..valid.clone()
                },
                1 => VerdictPayload {
                    action_digest: other.action_digest.clone(),
                    ..valid.clone()
                },
                2 => VerdictPayload {
                    decision: match valid.decision {
                        Decision::Approve => Decision::Deny,
                        Decision::Deny => Decision::Approve,
                    },
                    reason: Some("edited".into()),
                    ..valid.clone()
                },
                3 => VerdictPayload {
                    nonce: nonce(rng),
                    ..valid.clone()
                },
                4 => VerdictPayload {
                    not_before: valid.not_before - millis(rng.random_range(1..2000)),
                    ..valid.clone()
                },
                5 => VerdictPayload {
                    expires_at: valid.expires_at - millis(rng.random_range(1..500)),
                    ..valid.clone()
                },
                _ => VerdictPayload {
                    reason: Some(format!(
                        "{} (edited)",
                        valid.reason.as_deref().unwrap_or("")
                    )),
                    ..valid.clone()
                },
            };
            Signed {
                payload: canonical(&edited),
                signature: signed.signature.clone(),
            }
        }
        OtherVersion => resign(&VerdictPayload {
            v: rng.random_range(2..10),
            ..valid.clone()
        }),
        OtherDomain => {
            let domains = [
                "nightjar.mode.v1",
                "nightjar.enroll.v1",
                "nightjar.revoke.v1",
                "nightjar.verdict.v2",
                "",
            ];
            resign(&VerdictPayload {
                domain: domains[rng.random_range(0..domains.len())].into(),
                ..valid.clone()
            })
        }
        UnknownField => {
            let mut map = object(valid);
            let (name, value) = [
                ("admin", json!(true)),
                ("skill", json!("msp-night-triage")),
                ("to", json!("enforce")),
                ("risk", json!("read")),
            ][rng.random_range(0..4)]
            .clone();
            map.insert(name.into(), value);
            sign_text(canonical(&map), &w.ops)
        }
        NonCanonical => {
            let text = canonical(valid);
            let variant = match rng.random_range(0..5) {
                0 => text.replacen(",\"", ", \"", 1),
                1 => format!(" {text}"),
                2 => format!("{text}\n"),
                // Keys in another order: `v` first.
                3 => {
                    let mut map = object(valid);
                    let v = map.remove("v").unwrap();
                    let rest = canonical(&map);
                    format!("{{\"v\":{v},{}", &rest[1..])
                }
                _ => match &valid.reason {
                    None => text.replacen("\"proposal_id\"", "\"reason\":null,\"proposal_id\"", 1),
                    Some(_) => text.replacen("Z\"", "+00:00\"", 1),
                },
            };
            assert_ne!(variant, text);
            sign_text(variant, &w.ops)
        }
        KeyIdUnknown => {
            let id = match rng.random_range(0..3) {
                0 => w.stranger_id.clone(),
                1 => format!("k-{}", hex::encode(rng.random::<[u8; 8]>())),
                _ => String::new(),
            };
            Signed {
                payload: canonical(&VerdictPayload {
                    key_id: id,
                    ..valid.clone()
                }),
                signature: signed.signature.clone(),
            }
        }
        KeyIdRevoked => Signed {
            payload: canonical(&VerdictPayload {
                key_id: w.revoked_id.clone(),
                ..valid.clone()
            }),
            signature: signed.signature.clone(),
        },
        DigestOfAnotherProposal => resign(&VerdictPayload {
            action_digest: another(w, rng, &valid.proposal_id).action_digest.clone(),
            ..valid.clone()
        }),
        ProposalIdOfAnother => resign(&VerdictPayload {
            proposal_id: another(w, rng, &valid.proposal_id).proposal_id.clone(),
            ..valid.clone()
        }),
        NeverProposed => resign(&VerdictPayload {
            proposal_id: format!("p-{:016x}", rng.random_range(PROPOSALS as u64..u64::MAX)),
            ..valid.clone()
        }),
        ShiftedPast | ShiftedFuture => {
            let span = valid.expires_at - valid.not_before;
            // Just past the edge, or anywhere up to a day past it.
            let past_edge = millis(if rng.random_bool(0.3) {
                1
            } else {
                rng.random_range(1..86_400_000)
            });
            let not_before = if m == ShiftedPast {
                w.now - millis(skew) - past_edge - span
            } else {
                w.now + millis(skew) + past_edge
            };
            resign(&VerdictPayload {
                not_before,
                expires_at: not_before + span,
                ..valid.clone()
            })
        }
        LongWindow => resign(&VerdictPayload {
            not_before: w.now - millis(1000),
            expires_at: w.now - millis(1000)
                + millis(MAX_VALIDITY_SECS * 1000 + rng.random_range(1..3_600_000)),
            ..valid.clone()
        }),
        EmptyWindow => resign(&VerdictPayload {
            expires_at: valid.not_before - millis(rng.random_range(0..30_000)),
            ..valid.clone()
        }),
        BadNonce => {
            let bad = match rng.random_range(0..3) {
                0 => valid.nonce[..rng.random_range(0..32)].to_owned(),
                1 => format!("{}g", &valid.nonce[1..]),
                _ => valid
                    .nonce
                    .replacen(|c: char| c.is_ascii_hexdigit(), " ", 1),
            };
            resign(&VerdictPayload {
                nonce: bad,
                ..valid.clone()
            })
        }
        DenialWithoutReason => resign(&VerdictPayload {
            decision: Decision::Deny,
            reason: if rng.random_bool(0.5) {
                None
            } else {
                Some(String::new())
            },
            ..valid.clone()
        }),
        WrongKeyClaimsOps => {
            let wrong = if rng.random_bool(0.5) {
                &w.stranger
            } else {
                &w.revoked
            };
            sign(valid, wrong)
        }
        RevokedKeySigns => sign(
            &VerdictPayload {
                key_id: w.revoked_id.clone(),
                ..valid.clone()
            },
            &w.revoked,
        ),
        Replay => spent[rng.random_range(0..spent.len())].clone(),
    }
}

#[derive(Default)]
struct Counts {
    fresh_accepted: u64,
    other_s_accepted: u64,
    consumed_then_replayed: u64,
    refused: BTreeMap<String, u64>,
    by_mutation: BTreeMap<Mutation, u64>,
}

fn run(w: &World, seed: u64, fresh_verdicts: usize) -> Counts {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut consumed: BTreeSet<String> = (0..1000).map(|_| nonce(&mut rng)).collect();
    let mut counts = Counts::default();
    let mut spent: Vec<Signed> = Vec::new();
    let draws: Vec<Mutation> = ALL
        .iter()
        .flat_map(|&m| std::iter::repeat_n(m, weight(m)))
        .collect();
    let check = |signed: &Signed, consumed: &BTreeSet<String>| {
        check_verdict(signed, &w.keys, &w.pending, consumed, w.now)
    };
    for i in 0..fresh_verdicts {
        let valid = fresh(w, &mut rng);
        let signed = sign(&valid, &w.ops);
        match check(&signed, &consumed) {
            Ok((payload, _)) => assert_eq!(payload, valid),
            Err(refusal) => {
                panic!("seed {seed}: a fresh verdict was refused: {refusal:?}\n{valid:?}")
            }
        }
        counts.fresh_accepted += 1;
        // The other-S form of the same signature is the same approval, not a new one.
        if i % 16 == 0 {
            let same = Signed {
                signature: other_s(&signed.signature),
                ..signed.clone()
            };
            assert!(
                check(&same, &consumed).is_ok(),
                "seed {seed}: other-S refused"
            );
            counts.other_s_accepted += 1;
        }
        for _ in 0..MUTATIONS {
            let m = loop {
                let m = draws[rng.random_range(0..draws.len())];
                // Nothing to replay before the first verdict is spent.
                if m != Mutation::Replay || !spent.is_empty() {
                    break m;
                }
            };
            let mutated = mutate(w, &mut rng, m, &valid, &signed, &spent);
            let Err((reason, detail)) = check(&mutated, &consumed) else {
                panic!(
                    "seed {seed}: {m:?} was accepted:\n{}\n{}",
                    mutated.payload, mutated.signature
                )
            };
            assert!(
                expected(m).contains(&reason),
                "seed {seed}: {m:?} refused as {reason:?} ({detail}), expected {:?}:\n{}",
                expected(m),
                mutated.payload
            );
            *counts.refused.entry(format!("{reason:?}")).or_default() += 1;
            *counts.by_mutation.entry(m).or_default() += 1;
        }
        // Accepting consumes: with its nonce spent, the same verdict (either S) is a replay.
        consumed.insert(valid.nonce.clone());
        let again = Signed {
            signature: if i % 2 == 0 {
                signed.signature.clone()
            } else {
                other_s(&signed.signature)
            },
            ..signed.clone()
        };
        match check(&again, &consumed) {
            Err((VerdictRejection::Replayed, _)) => counts.consumed_then_replayed += 1,
            other => panic!("seed {seed}: a consumed verdict was not a replay: {other:?}"),
        }
        if spent.len() < 256 {
            spent.push(signed);
        } else {
            let slot = rng.random_range(0..spent.len());
            spent[slot] = signed;
        }
    }
    counts
}

#[test]
fn every_mutated_verdict_is_refused_for_its_reason_and_acceptance_consumes() {
    let seed: u64 = std::env::var("NIGHTJAR_PROPERTY_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20_261_201);
    let per_worker: usize = std::env::var("NIGHTJAR_PROPERTY_FRESH")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(2_000);
    let w = world();
    assert_ne!(w.ops_id, w.revoked_id);
    let started = Instant::now();
    let results: Vec<Counts> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..WORKERS)
            .map(|k| {
                let w = &w;
                scope.spawn(move || run(w, seed + k, per_worker))
            })
            .collect();
        workers.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let mut total = Counts::default();
    for c in results {
        total.fresh_accepted += c.fresh_accepted;
        total.other_s_accepted += c.other_s_accepted;
        total.consumed_then_replayed += c.consumed_then_replayed;
        for (k, v) in c.refused {
            *total.refused.entry(k).or_default() += v;
        }
        for (k, v) in c.by_mutation {
            *total.by_mutation.entry(k).or_default() += v;
        }
    }
    let mutations: u64 = total.refused.values().sum();
    let verdicts =
        total.fresh_accepted + total.other_s_accepted + mutations + total.consumed_then_replayed;
    eprintln!(
        "seed {seed} (+0..{WORKERS}), {verdicts} verdicts in {:.1} s: {} fresh accepted, {} other-S \
         forms accepted, {mutations} mutations refused, {} consumed verdicts refused as replayed",
        started.elapsed().as_secs_f64(),
        total.fresh_accepted,
        total.other_s_accepted,
        total.consumed_then_replayed,
    );
    eprintln!("refusals by reason (mutations only):");
    for (reason, n) in &total.refused {
        eprintln!("  {reason:<16} {n:>7}");
    }
    eprintln!("mutations by kind:");
    for (m, n) in &total.by_mutation {
        eprintln!("  {:<24} {n:>7}", format!("{m:?}"));
    }
    assert!(
        mutations >= 100_000 || per_worker < 2_000,
        "{mutations} mutations"
    );
    assert_eq!(total.consumed_then_replayed, total.fresh_accepted);
    // Every kind of mutation ran, and every reason a pure check can give was seen.
    assert_eq!(total.by_mutation.len(), ALL.len());
    for reason in [
        "UnknownKey",
        "RevokedKey",
        "BadSignature",
        "DigestMismatch",
        "Expired",
        "NotYetValid",
        "Replayed",
        "NotPending",
        "Malformed",
    ] {
        assert!(total.refused.contains_key(reason), "no {reason} refusal");
    }
}
