//! Approvals: operator keys, signed verdicts, and where a proposal waiting for one is settled.
//!
//! Invariant 3 lives here. [`verify_es256`] checks an ES256 signature over a byte payload (and
//! nothing else, so a WebAuthn front end can reuse it); [`check_verdict`] is the whole decision
//! on a verdict as a pure function of the signed bytes, the enrolled keys, the pending
//! proposals, the consumed nonces and the time, each refusal with its own reason.
//! [`Approvals`] records the decision and, for an approval, executes the stored plan exactly once
//! through the gate (`VerdictAccepted` -> `ActionExecuting` -> outcome). Everything fails closed:
//! a verdict that cannot be recorded does not run.
//!
//! [`Settlements`] connects the two sides of a wait: an interactive MCP call of a hard action
//! subscribes to its proposal and waits; the verdict path calls [`Settlements::settle`], and
//! every waiter hears how it ended. A proposal nobody waits for (the night agent queues and moves
//! on) settles just the same, with no one to tell.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use p256::ecdsa::signature::Verifier as _;
use p256::ecdsa::{Signature, VerifyingKey};
use p256::pkcs8::DecodePublicKey;
use schemas::event::{Decision, DenialReason, Event, Mode, Principal, VerdictRejection};
use schemas::projection::{KeyState, Pending};
use schemas::tool::{ToolError, ToolOutcome};
use schemas::verdict::{
    ENROLL_DOMAIN, EnrollPayload, KeyInfo, MAX_VALIDITY_SECS, MODE_DOMAIN, ModePayload,
    REVOKE_DOMAIN, RevokePayload, Signed, StoredProposal, VERDICT_DOMAIN, VerdictPayload,
    VerdictReply,
};
use serde::de::DeserializeOwned;
use serde_json::Value;
use sha2::{Digest, Sha256};
use tokio::sync::oneshot;

use crate::gate::Gate;
use crate::log::{Draft, Store};

/// How far a verdict's window may sit from the daemon's clock (machines disagree a little).
pub const CLOCK_SKEW_SECS: i64 = 5;

/// Why an ES256 signature does not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the public key is not a P-256 SPKI PEM: {0}")]
    Key(String),
    #[error("the signature is not 64 bytes of base64url r||s")]
    Encoding,
    #[error("the signature does not verify")]
    Invalid,
}

/// Checks an ES256 signature (SHA-256, P-256, 64-byte `r||s` base64url) over `payload` with the
/// SPKI PEM `public_key`. Answers the low-S normalized signature (hex), the form kept for audit;
/// a high-S signature is the same signature and verifies the same.
pub fn verify_es256(
    payload: &[u8],
    signature: &str,
    public_key: &str,
) -> Result<String, SignatureError> {
    let key = VerifyingKey::from_public_key_pem(public_key)
        .map_err(|e| SignatureError::Key(e.to_string()))?;
    let bytes = URL_SAFE_NO_PAD
        .decode(signature.trim())
        .map_err(|_| SignatureError::Encoding)?;
    let sig = Signature::from_slice(&bytes).map_err(|_| SignatureError::Encoding)?;
    let sig = sig.normalize_s();
    key.verify(payload, &sig)
        .map_err(|_| SignatureError::Invalid)?;
    Ok(hex::encode(sig.to_bytes()))
}

/// Signs `payload`'s canonical JSON with ES256: what `nightjarctl` sends (and tests forge).
pub fn sign<T: serde::Serialize>(payload: &T, key: &p256::ecdsa::SigningKey) -> Signed {
    use p256::ecdsa::signature::Signer as _;
    let text = String::from_utf8(schemas::canonical::to_vec(payload).unwrap_or_default())
        .unwrap_or_default();
    let signature: Signature = key.sign(text.as_bytes());
    Signed {
        payload: text,
        signature: URL_SAFE_NO_PAD.encode(signature.to_bytes()),
    }
}

/// A fresh nonce: 16 random bytes, hex.
pub fn new_nonce() -> String {
    hex::encode(rand::random::<[u8; 16]>())
}

/// The SPKI PEM of a signing key's public half.
pub fn public_key_pem(key: &p256::ecdsa::SigningKey) -> String {
    use p256::pkcs8::{EncodePublicKey, LineEnding};
    key.verifying_key()
        .to_public_key_pem(LineEnding::LF)
        .unwrap_or_default()
}

/// The id of a public key: `k-` and 16 hex digits of SHA-256 over its SPKI DER.
pub fn key_id(public_key: &str) -> Result<String, SignatureError> {
    use p256::pkcs8::EncodePublicKey;
    let key = VerifyingKey::from_public_key_pem(public_key)
        .map_err(|e| SignatureError::Key(e.to_string()))?;
    let der = key
        .to_public_key_der()
        .map_err(|e| SignatureError::Key(e.to_string()))?;
    Ok(schemas::verdict::key_id_from_spki_sha256(&hex::encode(
        Sha256::digest(der.as_bytes()),
    )))
}

/// A refusal: its reason and what exactly was wrong.
pub type Refusal = (VerdictRejection, String);

fn refuse(reason: VerdictRejection, detail: impl Into<String>) -> Refusal {
    (reason, detail.into())
}

/// What every signed act shares.
trait SignedAct: DeserializeOwned + serde::Serialize {
    const DOMAIN: &'static str;
    fn v(&self) -> u32;
    fn domain(&self) -> &str;
    fn window(&self) -> (DateTime<Utc>, DateTime<Utc>);
    fn key_id(&self) -> &str;
}

macro_rules! signed_act {
    ($t:ty, $domain:expr) => {
        impl SignedAct for $t {
            const DOMAIN: &'static str = $domain;
            fn v(&self) -> u32 {
                self.v
            }
            fn domain(&self) -> &str {
                &self.domain
            }
            fn window(&self) -> (DateTime<Utc>, DateTime<Utc>) {
                (self.not_before, self.expires_at)
            }
            fn key_id(&self) -> &str {
                &self.key_id
            }
        }
    };
}
signed_act!(VerdictPayload, VERDICT_DOMAIN);
signed_act!(ModePayload, MODE_DOMAIN);
signed_act!(EnrollPayload, ENROLL_DOMAIN);
signed_act!(RevokePayload, REVOKE_DOMAIN);

/// The checks every signed act gets, in order: well-formed canonical payload of the right domain,
/// an enrolled and unrevoked key, a valid signature, a window of at most 30 s around now (with
/// bounded skew), a nonce never seen. Answers the payload and the normalized signature.
fn check_signed<T: SignedAct>(
    signed: &Signed,
    keys: &BTreeMap<String, KeyState>,
    consumed: &BTreeSet<String>,
    now: DateTime<Utc>,
) -> Result<(T, String), Refusal> {
    use VerdictRejection::*;
    let payload: T = serde_json::from_str(&signed.payload).map_err(|e| {
        refuse(
            Malformed,
            format!("the payload is not a {}: {e}", T::DOMAIN),
        )
    })?;
    if payload.domain() != T::DOMAIN || payload.v() != 1 {
        return Err(refuse(
            Malformed,
            format!(
                "domain {:?} v{}, expected {} v1",
                payload.domain(),
                payload.v(),
                T::DOMAIN
            ),
        ));
    }
    // The signed bytes must be the canonical form: one payload, one byte string.
    let canonical = schemas::canonical::to_vec(&payload).unwrap_or_default();
    if canonical != signed.payload.as_bytes() {
        return Err(refuse(Malformed, "the payload is not in canonical form"));
    }
    let key = keys
        .get(payload.key_id())
        .ok_or_else(|| refuse(UnknownKey, format!("no enrolled key {}", payload.key_id())))?;
    if key.revoked {
        return Err(refuse(
            RevokedKey,
            format!("key {} is revoked", payload.key_id()),
        ));
    }
    let signature = verify_es256(
        signed.payload.as_bytes(),
        &signed.signature,
        &key.public_key,
    )
    .map_err(|e| refuse(BadSignature, e.to_string()))?;
    let (not_before, expires_at) = payload.window();
    // Durations, not whole seconds: 30.5 s is more than 30 s.
    let span = expires_at - not_before;
    if expires_at <= not_before || span > chrono::Duration::seconds(MAX_VALIDITY_SECS) {
        return Err(refuse(
            Malformed,
            format!(
                "a window of {} ms; at most {MAX_VALIDITY_SECS} s",
                span.num_milliseconds()
            ),
        ));
    }
    let skew = chrono::Duration::seconds(CLOCK_SKEW_SECS);
    if now + skew < not_before {
        return Err(refuse(NotYetValid, format!("valid from {not_before}")));
    }
    if now - skew > expires_at {
        return Err(refuse(Expired, format!("expired at {expires_at}")));
    }
    let nonce = nonce_of(&signed.payload);
    if nonce.len() < 32 || !nonce.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(refuse(
            Malformed,
            "the nonce must be at least 16 random bytes in hex",
        ));
    }
    if consumed.contains(&nonce) {
        return Err(refuse(Replayed, "this nonce was already used"));
    }
    Ok((payload, signature))
}

fn nonce_of(payload: &str) -> String {
    serde_json::from_str::<Value>(payload)
        .ok()
        .and_then(|v| v["nonce"].as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// The whole decision on a verdict, as a pure function: the checks of every signed act, then the
/// proposal must still be pending and the signed digest must be its digest.
pub fn check_verdict(
    signed: &Signed,
    keys: &BTreeMap<String, KeyState>,
    pending: &BTreeMap<String, Pending>,
    consumed: &BTreeSet<String>,
    now: DateTime<Utc>,
) -> Result<(VerdictPayload, String), Refusal> {
    let (payload, signature) = check_signed::<VerdictPayload>(signed, keys, consumed, now)?;
    let Some(proposal) = pending.get(&payload.proposal_id) else {
        return Err(refuse(
            VerdictRejection::NotPending,
            format!("{} is not waiting for a verdict", payload.proposal_id),
        ));
    };
    if proposal.action_digest != payload.action_digest {
        return Err(refuse(
            VerdictRejection::DigestMismatch,
            format!(
                "the verdict signs {}, the proposal is {}",
                payload.action_digest, proposal.action_digest
            ),
        ));
    }
    if payload.decision == Decision::Deny && payload.reason.as_deref().is_none_or(str::is_empty) {
        return Err(refuse(
            VerdictRejection::Malformed,
            "a denial needs a reason",
        ));
    }
    Ok((payload, signature))
}

/// Proposals waiting for a verdict, oldest first, with their stored plans: the log's projection
/// of what is pending, read against the plan store. Read-only.
pub fn pending(store: &crate::log::Store, plans: &PlanStore) -> Vec<StoredProposal> {
    let mut pending: Vec<Pending> = store.projections().pending.into_values().collect();
    pending.sort_by_key(|p| p.proposed_seq);
    pending
        .iter()
        .filter_map(|p| match plans.get(&p.proposal_id) {
            Ok(found) => found,
            Err(e) => {
                tracing::error!(error = %e, "a pending proposal's plan is unreadable");
                None
            }
        })
        .collect()
}

/// Where proposals waiting for a verdict are kept between their proposal and their verdict:
/// one JSON file each under `proposals/` in the state directory (or in memory, for tests).
#[derive(Debug, Clone, Default)]
pub struct PlanStore {
    dir: Option<PathBuf>,
    memory: Arc<Mutex<BTreeMap<String, StoredProposal>>>,
}

/// Why a stored proposal could not be kept or read.
#[derive(Debug, thiserror::Error)]
pub enum PlanStoreError {
    #[error("proposal id {0:?} is not of the form p-<hex>")]
    BadId(String),
    #[error("cannot keep proposal {id}: {source}")]
    Io { id: String, source: std::io::Error },
    #[error("proposal {id} is unreadable: {message}")]
    Corrupt { id: String, message: String },
}

fn valid_id(id: &str) -> bool {
    id.strip_prefix("p-")
        .is_some_and(|h| !h.is_empty() && h.len() <= 32 && h.bytes().all(|b| b.is_ascii_hexdigit()))
}

impl PlanStore {
    pub fn in_memory() -> Self {
        PlanStore::default()
    }

    /// Proposals kept as files in `dir` (created 0700).
    pub fn at(dir: PathBuf) -> Result<Self, std::io::Error> {
        crate::paths::create_private_dir(&dir)?;
        Ok(PlanStore {
            dir: Some(dir),
            memory: Arc::default(),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, StoredProposal>> {
        self.memory.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Keeps `proposal` durably (write, fsync, rename) before the proposal is announced.
    pub fn put(&self, proposal: &StoredProposal) -> Result<(), PlanStoreError> {
        let id = &proposal.proposal_id;
        if !valid_id(id) {
            return Err(PlanStoreError::BadId(id.clone()));
        }
        if let Some(dir) = &self.dir {
            let io = |source| PlanStoreError::Io {
                id: id.clone(),
                source,
            };
            let bytes = serde_json::to_vec_pretty(proposal).map_err(|e| io(e.into()))?;
            let tmp = dir.join(format!("{id}.json.tmp"));
            {
                use std::io::Write;
                let mut f = std::fs::File::create(&tmp).map_err(io)?;
                f.write_all(&bytes).map_err(io)?;
                f.sync_all().map_err(io)?;
            }
            std::fs::rename(&tmp, dir.join(format!("{id}.json"))).map_err(io)?;
        }
        self.lock().insert(id.clone(), proposal.clone());
        Ok(())
    }

    pub fn get(&self, id: &str) -> Result<Option<StoredProposal>, PlanStoreError> {
        if !valid_id(id) {
            return Err(PlanStoreError::BadId(id.to_owned()));
        }
        if let Some(p) = self.lock().get(id) {
            return Ok(Some(p.clone()));
        }
        let Some(dir) = &self.dir else {
            return Ok(None);
        };
        match std::fs::read(dir.join(format!("{id}.json"))) {
            Ok(bytes) => {
                serde_json::from_slice(&bytes)
                    .map(Some)
                    .map_err(|e| PlanStoreError::Corrupt {
                        id: id.to_owned(),
                        message: e.to_string(),
                    })
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(PlanStoreError::Io {
                id: id.to_owned(),
                source,
            }),
        }
    }

    /// Forgets a settled proposal.
    pub fn remove(&self, id: &str) {
        self.lock().remove(id);
        if let (Some(dir), true) = (&self.dir, valid_id(id)) {
            let _ = std::fs::remove_file(dir.join(format!("{id}.json")));
        }
    }
}

/// How a pending proposal ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Settlement {
    /// Approved with a valid verdict and executed once.
    Executed {
        result: Value,
        key_id: String,
        upstream_requests: u64,
    },
    /// Approved, executed, and the upstream request failed.
    Failed { error: ToolError, key_id: String },
    /// A human denied it with a signed verdict.
    Denied { reason: String, key_id: String },
}

/// Waiters for pending proposals, by proposal id.
#[derive(Debug, Default)]
pub struct Settlements {
    waiters: Mutex<HashMap<String, Vec<oneshot::Sender<Settlement>>>>,
}

impl Settlements {
    /// Hear how `proposal_id` ends. Dropping the receiver stops waiting.
    pub fn subscribe(&self, proposal_id: &str) -> oneshot::Receiver<Settlement> {
        let (tx, rx) = oneshot::channel();
        self.lock()
            .entry(proposal_id.to_owned())
            .or_default()
            .push(tx);
        rx
    }

    /// Tell every waiter of `proposal_id` how it ended; returns how many were still listening.
    pub fn settle(&self, proposal_id: &str, settlement: Settlement) -> usize {
        let waiters = self.lock().remove(proposal_id).unwrap_or_default();
        waiters
            .into_iter()
            .map(|w| w.send(settlement.clone()).is_ok())
            .filter(|sent| *sent)
            .count()
    }

    /// Forget the waiters of a proposal that was withdrawn (timed out, cancelled).
    pub fn forget(&self, proposal_id: &str) {
        self.lock().remove(proposal_id);
    }

    /// Proposals someone is waiting on.
    pub fn waiting(&self) -> Vec<String> {
        let mut ids: Vec<String> = self.lock().keys().cloned().collect();
        ids.sort();
        ids
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Vec<oneshot::Sender<Settlement>>>> {
        self.waiters.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn every_waiter_hears_the_settlement_once() {
        let s = Settlements::default();
        let a = s.subscribe("p-1");
        let b = s.subscribe("p-1");
        let other = s.subscribe("p-2");
        assert_eq!(s.waiting(), vec!["p-1".to_owned(), "p-2".to_owned()]);
        let denied = Settlement::Denied {
            reason: "wrong client".into(),
            key_id: "k1".into(),
        };
        assert_eq!(s.settle("p-1", denied.clone()), 2);
        assert_eq!(a.await.ok(), Some(denied.clone()));
        assert_eq!(b.await.ok(), Some(denied.clone()));
        assert_eq!(s.settle("p-1", denied), 0, "settled once");
        s.forget("p-2");
        assert!(
            other.await.is_err(),
            "a forgotten wait ends without a settlement"
        );
    }
}

/// Why a signed act other than a verdict (enrolment, revocation, mode change) was refused.
#[derive(Debug, thiserror::Error)]
pub enum ActError {
    #[error("refused ({reason:?}): {detail}")]
    Refused {
        reason: VerdictRejection,
        detail: String,
    },
    #[error("{0}")]
    Invalid(String),
    #[error("the event log could not record it, so it did not happen: {0}")]
    Log(#[from] crate::log::LogError),
}

impl From<Refusal> for ActError {
    fn from((reason, detail): Refusal) -> Self {
        ActError::Refused { reason, detail }
    }
}

/// The verdict path: verifies signed acts, records them, executes approved proposals once.
#[derive(Debug, Clone)]
pub struct Approvals {
    gate: Gate,
    settlements: Arc<Settlements>,
    /// Verdicts are checked and recorded one at a time, so two copies of one verdict cannot both
    /// pass the nonce and pending checks.
    serial: Arc<tokio::sync::Mutex<()>>,
    clock: Clock,
}

/// Where "now" comes from (tests shift it).
#[derive(Clone)]
pub struct Clock(Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>);

impl std::fmt::Debug for Clock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Clock")
    }
}

impl Default for Clock {
    fn default() -> Self {
        Clock(Arc::new(Utc::now))
    }
}

impl Clock {
    pub fn fixed_offset(offset: chrono::Duration) -> Self {
        Clock(Arc::new(move || Utc::now() + offset))
    }

    fn now(&self) -> DateTime<Utc> {
        (self.0)()
    }
}

impl Approvals {
    pub fn new(gate: Gate, settlements: Arc<Settlements>) -> Self {
        Approvals {
            gate,
            settlements,
            serial: Arc::default(),
            clock: Clock::default(),
        }
    }

    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    pub fn settlements(&self) -> &Arc<Settlements> {
        &self.settlements
    }

    fn store(&self) -> &Store {
        self.gate.store()
    }

    async fn record(&self, principal: Principal, event: Event) -> Result<(), crate::log::LogError> {
        self.store()
            .append(Draft::new(principal, event))
            .await
            .map(drop)
    }

    /// Proposals waiting for a verdict, oldest first, with their stored plans.
    pub fn pending(&self) -> Vec<StoredProposal> {
        pending(self.store(), self.gate.plans())
    }

    /// Decides a verdict and acts on it. Every refusal is a `VerdictRejected` with its reason.
    pub async fn verdict(&self, signed: &Signed) -> VerdictReply {
        let _one_at_a_time = self.serial.lock().await;
        let projections = self.store().projections();
        let decided = check_verdict(
            signed,
            &projections.keys,
            &projections.pending,
            &projections.consumed_nonces,
            self.clock.now(),
        );
        let (payload, signature) = match decided {
            Ok(ok) => ok,
            Err((reason, detail)) => return self.reject(signed, reason, detail).await,
        };
        let stored = match self.gate.plans().get(&payload.proposal_id) {
            Ok(Some(s)) => s,
            Ok(None) | Err(_) => {
                return self
                    .reject(
                        signed,
                        VerdictRejection::NotPending,
                        "the proposal's plan is gone".into(),
                    )
                    .await;
            }
        };
        // Approving what was recorded against a record that changed since would approve
        // something nobody reviewed: re-read it.
        if payload.decision == Decision::Approve
            && let Some(observed) = &stored.observed
            && let Err(detail) = self.unchanged(observed).await
        {
            return self
                .reject(signed, VerdictRejection::TargetChanged, detail)
                .await;
        }
        let accepted = Event::VerdictAccepted {
            proposal_id: payload.proposal_id.clone(),
            key_id: payload.key_id.clone(),
            decision: payload.decision,
            nonce: payload.nonce.clone(),
            signature,
            reason: payload
                .reason
                .as_deref()
                .map(|r| self.gate.redactor().text(r).into_owned()),
        };
        let operator = Principal::Operator {
            key_id: Some(payload.key_id.clone()),
        };
        if let Err(e) = self.record(operator.clone(), accepted).await {
            return VerdictReply {
                accepted: false,
                rejection: Some(VerdictRejection::LogUnavailable),
                detail: format!("the verdict could not be recorded, so nothing ran: {e}"),
                outcome: None,
            };
        }
        match payload.decision {
            Decision::Deny => {
                let reason = payload.reason.clone().unwrap_or_default();
                let denied = Event::ActionDenied {
                    call_id: format!("c-{:016x}", rand::random::<u64>()),
                    proposal_id: Some(payload.proposal_id.clone()),
                    tool: stored.tool.clone(),
                    action: stored.action.clone(),
                    reason: DenialReason::HumanDenied,
                    detail: self.gate.redactor().text(&reason).into_owned(),
                };
                if let Err(e) = self.record(operator, denied).await {
                    tracing::error!(error = %e, "a denial could not be recorded after its verdict");
                }
                self.gate.plans().remove(&payload.proposal_id);
                self.settlements.settle(
                    &payload.proposal_id,
                    Settlement::Denied {
                        reason: reason.clone(),
                        key_id: payload.key_id.clone(),
                    },
                );
                VerdictReply {
                    accepted: true,
                    rejection: None,
                    detail: format!("denied: {reason}"),
                    outcome: None,
                }
            }
            Decision::Approve => {
                let outcome = self.gate.execute_approved(&payload.key_id, &stored).await;
                self.gate.plans().remove(&payload.proposal_id);
                let settlement = match &outcome {
                    ToolOutcome::Executed {
                        result,
                        upstream_requests,
                        ..
                    } => Settlement::Executed {
                        result: result.clone(),
                        key_id: payload.key_id.clone(),
                        upstream_requests: *upstream_requests,
                    },
                    ToolOutcome::Error { error } => Settlement::Failed {
                        error: error.clone(),
                        key_id: payload.key_id.clone(),
                    },
                    other => Settlement::Failed {
                        error: ToolError {
                            kind: other.status().into(),
                            product: None,
                            message: format!("the approved action did not run: {}", other.status()),
                            hint: "Nothing was sent.".into(),
                            status: None,
                            retry_after_seconds: None,
                            fields: Vec::new(),
                            candidates: Vec::new(),
                        },
                        key_id: payload.key_id.clone(),
                    },
                };
                self.settlements.settle(&payload.proposal_id, settlement);
                VerdictReply {
                    accepted: true,
                    rejection: None,
                    detail: format!("approved: {}", outcome.status()),
                    outcome: Some(outcome),
                }
            }
        }
    }

    async fn reject(
        &self,
        signed: &Signed,
        reason: VerdictRejection,
        detail: String,
    ) -> VerdictReply {
        let parsed: Option<Value> = serde_json::from_str(&signed.payload).ok();
        let field = |name: &str| {
            parsed.as_ref().and_then(|v| v[name].as_str()).map(|s| {
                self.gate
                    .redactor()
                    .text(&s.chars().take(80).collect::<String>())
                    .into_owned()
            })
        };
        let event = Event::VerdictRejected {
            proposal_id: field("proposal_id"),
            key_id: field("key_id"),
            nonce: field("nonce"),
            reason,
            detail: self.gate.redactor().text(&detail).into_owned(),
        };
        let (reason, detail) = match self
            .record(Principal::Operator { key_id: None }, event)
            .await
        {
            Ok(()) => (reason, detail),
            Err(e) => (
                VerdictRejection::LogUnavailable,
                format!("{detail}; and the refusal could not be recorded: {e}"),
            ),
        };
        tracing::warn!(?reason, "verdict refused");
        VerdictReply {
            accepted: false,
            rejection: Some(reason),
            detail,
            outcome: None,
        }
    }

    /// Re-reads the record a proposal was planned against.
    async fn unchanged(&self, observed: &schemas::verdict::ObservedTarget) -> Result<(), String> {
        let manage = self
            .gate
            .context()
            .manage()
            .map_err(|f| format!("cannot re-read {}: {:?}", observed.path, f.kind()))?;
        let call = crate::connector::Call::default();
        let now = manage
            .get(
                &call,
                &observed.path,
                &crate::connector::manage::Query::new().fields(["_info/lastUpdated"]),
            )
            .await
            .map_err(|e| format!("cannot re-read {}: {e}", observed.path))?;
        let version = now["_info"]["lastUpdated"].as_str().unwrap_or_default();
        if version == observed.version {
            Ok(())
        } else {
            Err(format!(
                "{} changed since it was proposed (last updated {} then, {version} now); propose again",
                observed.path, observed.version
            ))
        }
    }

    /// Enrols a key: the first one with no approval; later ones with an enrolment signed by an
    /// enrolled key.
    pub async fn enroll(
        &self,
        public_key: &str,
        label: &str,
        approval: Option<&Signed>,
    ) -> Result<KeyInfo, ActError> {
        let _one_at_a_time = self.serial.lock().await;
        let id = key_id(public_key).map_err(|e| ActError::Invalid(e.to_string()))?;
        let label = label.trim();
        if label.is_empty() || label.chars().count() > 64 {
            return Err(ActError::Invalid(
                "a key needs a label of 1 to 64 characters".into(),
            ));
        }
        let projections = self.store().projections();
        if projections.keys.contains_key(&id) {
            return Err(ActError::Invalid(format!("key {id} is already enrolled")));
        }
        // Replaying an approval finds its key already enrolled (revoked keys stay enrolled).
        let (approved_by, nonce, signature) = match approval {
            None if projections.keys.is_empty() => (None, None, None),
            None => {
                return Err(ActError::Invalid(
                    "keys are already enrolled: a new key must be approved by one of them \
                     (on that operator's machine: nightjarctl enroll --public-key NEW.pem --label NAME)"
                        .into(),
                ));
            }
            Some(signed) => {
                let (payload, signature) = check_signed::<EnrollPayload>(
                    signed,
                    &projections.keys,
                    &projections.consumed_nonces,
                    self.clock.now(),
                )?;
                if payload.public_key.trim() != public_key.trim() {
                    return Err(ActError::Invalid("the approval is for another key".into()));
                }
                (Some(payload.key_id), Some(payload.nonce), Some(signature))
            }
        };
        let event = Event::KeyEnrolled {
            key_id: id.clone(),
            public_key: public_key.trim().to_owned() + "\n",
            label: label.to_owned(),
            approved_by: approved_by.clone(),
            nonce,
            signature,
        };
        self.record(
            Principal::Operator {
                key_id: approved_by,
            },
            event,
        )
        .await?;
        Ok(KeyInfo {
            key_id: id,
            label: label.to_owned(),
            revoked: false,
        })
    }

    pub fn keys(&self) -> Vec<KeyInfo> {
        self.store()
            .projections()
            .keys
            .into_iter()
            .map(|(key_id, k)| KeyInfo {
                key_id,
                label: k.label,
                revoked: k.revoked,
            })
            .collect()
    }

    /// Revokes a key, with a revocation signed by an enrolled key (the revoked one included).
    pub async fn revoke(&self, signed: &Signed) -> Result<KeyInfo, ActError> {
        let _one_at_a_time = self.serial.lock().await;
        let projections = self.store().projections();
        let (payload, signature) = check_signed::<RevokePayload>(
            signed,
            &projections.keys,
            &projections.consumed_nonces,
            self.clock.now(),
        )?;
        let Some(target) = projections.keys.get(&payload.revoke) else {
            return Err(ActError::Invalid(format!(
                "no enrolled key {}",
                payload.revoke
            )));
        };
        if target.revoked {
            return Err(ActError::Invalid(format!(
                "{} is already revoked",
                payload.revoke
            )));
        }
        let event = Event::KeyRevoked {
            key_id: payload.revoke.clone(),
            by: Some(payload.key_id.clone()),
            reason: self.gate.redactor().text(&payload.reason).into_owned(),
            nonce: Some(payload.nonce.clone()),
            signature: Some(signature),
        };
        self.record(
            Principal::Operator {
                key_id: Some(payload.key_id.clone()),
            },
            event,
        )
        .await?;
        Ok(KeyInfo {
            key_id: payload.revoke,
            label: target.label.clone(),
            revoked: true,
        })
    }

    /// Changes a skill's mode with a signed mode change (`ModeChanged`).
    pub async fn set_mode(
        &self,
        signed: &Signed,
    ) -> Result<(String, Option<Mode>, Mode), ActError> {
        let _one_at_a_time = self.serial.lock().await;
        let projections = self.store().projections();
        let (payload, signature) = check_signed::<ModePayload>(
            signed,
            &projections.keys,
            &projections.consumed_nonces,
            self.clock.now(),
        )?;
        let skill = payload.skill.trim();
        let valid = !skill.is_empty()
            && skill.len() <= 64
            && skill
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if !valid {
            return Err(ActError::Invalid(format!("{skill:?} is not a skill name")));
        }
        // A skill nobody set a mode for runs in observe, the safe default.
        let from = projections
            .signed_modes
            .get(skill)
            .or(projections.config_modes.get(skill))
            .copied()
            .unwrap_or(Mode::Observe);
        let event = Event::ModeChanged {
            skill: skill.to_owned(),
            from,
            to: payload.to,
            key_id: payload.key_id.clone(),
            nonce: payload.nonce.clone(),
            signature,
        };
        self.record(
            Principal::Operator {
                key_id: Some(payload.key_id.clone()),
            },
            event,
        )
        .await?;
        Ok((skill.to_owned(), Some(from), payload.to))
    }
}
