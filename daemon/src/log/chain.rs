//! The hash chain: sealing a new event onto the head, and verifying a stored sequence.
//!
//! Both are pure functions over values and bytes so the tamper cases can be table-tested without
//! a database; `log::Store` feeds them from sled.

use chrono::{DateTime, Utc};
use schemas::control::{ChainProblem, ChainProblemKind, VerifyReport};
use schemas::event::{
    Checkpoint, EVENT_VERSION, Envelope, Event, GENESIS_HASH, HASH_DOMAIN, Principal,
};
use sha2::{Digest, Sha256};

/// An event before the log gives it a place: who and what, but no seq, time or hashes.
#[derive(Debug, Clone, PartialEq)]
pub struct Draft {
    pub principal: Principal,
    pub run_id: Option<String>,
    pub event: Event,
}

impl Draft {
    pub fn new(principal: Principal, event: Event) -> Draft {
        Draft {
            principal,
            run_id: None,
            event,
        }
    }

    pub fn with_run(mut self, run_id: impl Into<String>) -> Draft {
        self.run_id = Some(run_id.into());
        self
    }
}

/// Give `draft` its place after `prev_hash` at `seq`, and compute its hash.
pub fn seal(
    draft: Draft,
    seq: u64,
    prev_hash: &str,
    ts: DateTime<Utc>,
) -> Result<Envelope, serde_json::Error> {
    let mut envelope = Envelope {
        seq,
        ts,
        event_version: EVENT_VERSION,
        principal: draft.principal,
        run_id: draft.run_id,
        prev_hash: prev_hash.to_owned(),
        hash: String::new(),
        event: draft.event,
    };
    envelope.hash = compute_hash(&envelope)?;
    Ok(envelope)
}

/// `SHA-256(HASH_DOMAIN || prev_hash || canonical JSON of everything but the hash)`, hex.
pub fn compute_hash(envelope: &Envelope) -> Result<String, serde_json::Error> {
    let body = schemas::canonical::to_vec(&envelope.unsealed())?;
    let mut hasher = Sha256::new();
    hasher.update(HASH_DOMAIN.as_bytes());
    hasher.update(envelope.prev_hash.as_bytes());
    hasher.update(&body);
    Ok(hex::encode(hasher.finalize()))
}

/// The bytes an envelope is stored as: its canonical JSON.
pub fn encode(envelope: &Envelope) -> Result<Vec<u8>, serde_json::Error> {
    schemas::canonical::to_vec(envelope)
}

/// Decode stored bytes.
pub fn decode(bytes: &[u8]) -> Result<Envelope, serde_json::Error> {
    serde_json::from_slice(bytes)
}

/// The `event_type` of a stored record, read from its canonical prefix without decoding it.
/// `None` when the record does not start as a canonical record does (then decode it fully).
pub fn peek_event_type(bytes: &[u8]) -> Option<&str> {
    let rest = bytes.strip_prefix(br#"{"event_type":""#)?;
    let end = rest.iter().position(|&b| b == b'"')?;
    std::str::from_utf8(&rest[..end]).ok()
}

/// Where verification starts: from genesis, or from a checkpointed event whose hash is known.
#[derive(Debug, Clone)]
pub enum Start {
    Genesis,
    /// Start at `checkpoint.seq`, whose stored hash must equal `checkpoint.head_hash`.
    Checkpoint(Checkpoint),
}

/// Walks stored `(key seq, bytes)` pairs in key order and reports the first bad seq.
///
/// Checks, per record: the key sequence has no gap; the bytes decode; the seq inside equals the
/// key; `prev_hash` links to the previous record; the hash matches the contents; the bytes are the
/// canonical encoding (so a byte flip that happens to decode to the same value is still caught).
/// After the walk, a log that ends before the checkpoint is reported as truncated.
#[derive(Debug)]
pub struct Verifier {
    checkpoint: Option<Checkpoint>,
    expected_seq: u64,
    prev_hash: Option<String>,
    verified: u64,
    events: u64,
    problem: Option<ChainProblem>,
}

impl Verifier {
    /// `checkpoint` is the newest known checkpoint (for the truncation and hash checks), whatever
    /// the start.
    pub fn new(start: &Start, checkpoint: Option<Checkpoint>) -> Verifier {
        let (expected_seq, prev_hash) = match start {
            Start::Genesis => (0, Some(GENESIS_HASH.to_owned())),
            // The first record's link cannot be checked without its predecessor; its own hash is
            // checked against the checkpoint instead.
            Start::Checkpoint(cp) => (cp.seq, None),
        };
        Verifier {
            checkpoint,
            expected_seq,
            prev_hash,
            verified: 0,
            events: expected_seq,
            problem: None,
        }
    }

    /// Feed the next stored record. Returns `false` once a problem is found (stop feeding).
    pub fn feed(&mut self, key: u64, bytes: &[u8]) -> bool {
        if self.problem.is_some() {
            return false;
        }
        self.events = key + 1;
        if key != self.expected_seq {
            let detail = format!("expected seq {}, next stored is {key}", self.expected_seq);
            return self.fail(self.expected_seq, ChainProblemKind::Missing, detail);
        }
        let envelope = match decode(bytes) {
            Ok(e) => e,
            Err(e) => return self.fail(key, ChainProblemKind::Undecodable, e.to_string()),
        };
        if envelope.seq != key {
            let detail = format!("stored at {key} but records seq {}", envelope.seq);
            return self.fail(key, ChainProblemKind::SeqMismatch, detail);
        }
        if let Some(prev) = &self.prev_hash
            && envelope.prev_hash != *prev
        {
            let detail = format!(
                "prev_hash {} does not match the previous event's hash {prev}",
                envelope.prev_hash
            );
            return self.fail(key, ChainProblemKind::BrokenLink, detail);
        }
        match compute_hash(&envelope) {
            Ok(h) if h == envelope.hash => {}
            Ok(h) => {
                let detail = format!("stored hash {} but contents hash to {h}", envelope.hash);
                return self.fail(key, ChainProblemKind::HashMismatch, detail);
            }
            Err(e) => return self.fail(key, ChainProblemKind::Undecodable, e.to_string()),
        }
        if encode(&envelope).ok().as_deref() != Some(bytes) {
            let detail = "stored bytes are not the canonical encoding of the event".to_owned();
            return self.fail(key, ChainProblemKind::HashMismatch, detail);
        }
        if let Some(cp) = &self.checkpoint
            && cp.seq == key
            && cp.head_hash != envelope.hash
        {
            let detail = format!(
                "checkpoint recorded hash {} for seq {key}, log has {}",
                cp.head_hash, envelope.hash
            );
            return self.fail(key, ChainProblemKind::CheckpointMismatch, detail);
        }
        self.prev_hash = Some(envelope.hash);
        self.expected_seq = key + 1;
        self.verified += 1;
        true
    }

    fn fail(&mut self, seq: u64, kind: ChainProblemKind, detail: String) -> bool {
        self.problem = Some(ChainProblem { seq, kind, detail });
        false
    }

    /// Finish: check the tail against the checkpoint and produce the report.
    pub fn finish(mut self) -> VerifyReport {
        if self.problem.is_none()
            && let Some(cp) = &self.checkpoint
            && self.expected_seq <= cp.seq
        {
            let detail = format!(
                "checkpoint covers {} events (up to seq {}) but the log ends at {}",
                cp.count, cp.seq, self.expected_seq
            );
            self.problem = Some(ChainProblem {
                seq: self.expected_seq,
                kind: ChainProblemKind::Truncated,
                detail,
            });
        }
        VerifyReport {
            events: self.events,
            verified: self.verified,
            head_hash: self.prev_hash.unwrap_or_default(),
            checkpoint: self.checkpoint,
            problem: self.problem,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain(n: u64) -> Vec<(u64, Vec<u8>)> {
        let mut prev = GENESIS_HASH.to_owned();
        let ts: DateTime<Utc> = "2026-11-23T02:00:00Z".parse().unwrap();
        (0..n)
            .map(|seq| {
                let draft = Draft::new(
                    Principal::System,
                    Event::DaemonStopped {
                        reason: format!("r{seq}"),
                    },
                );
                let env = seal(draft, seq, &prev, ts).unwrap();
                prev = env.hash.clone();
                (seq, encode(&env).unwrap())
            })
            .collect()
    }

    fn checkpoint_at(records: &[(u64, Vec<u8>)], seq: u64) -> Checkpoint {
        let env = decode(&records[seq as usize].1).unwrap();
        Checkpoint {
            seq,
            count: seq + 1,
            head_hash: env.hash,
            time: env.ts,
        }
    }

    fn verify(records: &[(u64, Vec<u8>)], start: Start, cp: Option<Checkpoint>) -> VerifyReport {
        let mut v = Verifier::new(&start, cp);
        for (k, b) in records {
            if !v.feed(*k, b) {
                break;
            }
        }
        v.finish()
    }

    /// (what was done to a clean 10-event chain with a checkpoint at 9, first bad seq, kind)
    #[test]
    fn tampering_is_reported_at_the_first_bad_seq() {
        let clean = chain(10);
        let cp = checkpoint_at(&clean, 9);
        type Tamper = fn(&mut Vec<(u64, Vec<u8>)>);
        type Expected = Option<(u64, ChainProblemKind)>;
        let cases: Vec<(&str, Tamper, Expected)> = vec![
            ("untouched", |_| {}, None),
            (
                "flip a byte in a string",
                |r| flip(&mut r[4].1, b"r4", b"x4"),
                Some((4, ChainProblemKind::HashMismatch)),
            ),
            (
                "break the JSON",
                |r| r[6].1[0] = b'[',
                Some((6, ChainProblemKind::Undecodable)),
            ),
            (
                "delete in the middle",
                |r| {
                    r.remove(3);
                },
                Some((3, ChainProblemKind::Missing)),
            ),
            (
                "swap two values",
                |r| {
                    let a = r[5].1.clone();
                    r[5].1 = r[6].1.clone();
                    r[6].1 = a;
                },
                Some((5, ChainProblemKind::SeqMismatch)),
            ),
            (
                "truncate the tail",
                |r| r.truncate(7),
                Some((7, ChainProblemKind::Truncated)),
            ),
            (
                "replace the newest with a re-sealed event",
                |r| {
                    let prev = decode(&r[8].1).unwrap().hash;
                    let forged = seal(
                        Draft::new(
                            Principal::System,
                            Event::DaemonStopped {
                                reason: "forged".into(),
                            },
                        ),
                        9,
                        &prev,
                        Utc::now(),
                    )
                    .unwrap();
                    r[9].1 = encode(&forged).unwrap();
                },
                Some((9, ChainProblemKind::CheckpointMismatch)),
            ),
            (
                "re-link a middle event",
                |r| {
                    let mut env = decode(&r[2].1).unwrap();
                    env.prev_hash = GENESIS_HASH.into();
                    env.hash = compute_hash(&env).unwrap();
                    r[2].1 = encode(&env).unwrap();
                },
                Some((2, ChainProblemKind::BrokenLink)),
            ),
        ];
        for (name, tamper, expected) in cases {
            let mut records = clean.clone();
            tamper(&mut records);
            let report = verify(&records, Start::Genesis, Some(cp.clone()));
            let got = report.problem.as_ref().map(|p| (p.seq, p.kind));
            assert_eq!(got, expected, "{name}: {:?}", report.problem);
        }
    }

    #[test]
    fn verifying_from_a_checkpoint_checks_the_checkpointed_hash_and_what_follows() {
        let records = chain(6);
        let cp = checkpoint_at(&records, 3);
        let report = verify(
            &records[3..],
            Start::Checkpoint(cp.clone()),
            Some(cp.clone()),
        );
        assert!(report.ok(), "{:?}", report.problem);
        assert_eq!((report.events, report.verified), (6, 3));

        let mut tampered = records.clone();
        flip(&mut tampered[5].1, b"r5", b"q5");
        let report = verify(&tampered[3..], Start::Checkpoint(cp.clone()), Some(cp));
        assert_eq!(report.problem.map(|p| p.seq), Some(5));
    }

    #[test]
    fn event_type_is_read_from_the_canonical_prefix() {
        let records = chain(1);
        assert_eq!(peek_event_type(&records[0].1), Some("DaemonStopped"));
        assert_eq!(peek_event_type(br#"{"hash":"x"}"#), None);
    }

    fn flip(bytes: &mut [u8], from: &[u8], to: &[u8]) {
        let at = bytes.windows(from.len()).position(|w| w == from).unwrap();
        bytes[at..at + to.len()].copy_from_slice(to);
    }
}
