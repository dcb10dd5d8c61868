//! Signed human acts: verdicts on proposals, mode changes, key enrolments and revocations.
//!
//! Each is a payload in canonical JSON (keys sorted, no whitespace; [`crate::canonical`]) with a
//! `domain` naming what it is, so a signature over one kind can never be replayed as another; the
//! operator's P-256 key signs those exact bytes with ES256 (SHA-256, 64-byte `r||s`, base64url).
//! The daemon verifies the bytes it is sent, never a re-encoding: [`Signed::payload`] is kept as
//! the text that was signed. The verifier works on a byte payload and an ES256 signature only, so
//! a WebAuthn (passkey) front end can reuse it.

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::event::{
    Decision, Disposition, EffectPreview, Mode, Principal, Risk, UpstreamRequest, VerdictRejection,
};
use crate::tool::ToolOutcome;

/// Domain of a verdict on a proposal.
pub const VERDICT_DOMAIN: &str = "nightjar.verdict.v1";
/// Domain of a signed mode change.
pub const MODE_DOMAIN: &str = "nightjar.mode.v1";
/// Domain of a key enrolment approved by an enrolled key.
pub const ENROLL_DOMAIN: &str = "nightjar.enroll.v1";
/// Domain of a key revocation.
pub const REVOKE_DOMAIN: &str = "nightjar.revoke.v1";

/// Longest window a signed act may be valid for.
pub const MAX_VALIDITY_SECS: i64 = 30;

/// A verdict: approve or deny one proposal, bound to its action digest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct VerdictPayload {
    pub v: u32,
    /// [`VERDICT_DOMAIN`].
    pub domain: String,
    pub proposal_id: String,
    /// The proposal's `action_digest`: what exactly is approved.
    pub action_digest: String,
    pub decision: Decision,
    /// Why (required for a denial, shown in the feed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub not_before: DateTime<Utc>,
    /// At most [`MAX_VALIDITY_SECS`] after `not_before`.
    pub expires_at: DateTime<Utc>,
    /// Random, never used twice (hex, at least 16 bytes).
    pub nonce: String,
    pub key_id: String,
}

/// A signed mode change for a skill.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ModePayload {
    pub v: u32,
    /// [`MODE_DOMAIN`].
    pub domain: String,
    pub skill: String,
    pub to: Mode,
    pub not_before: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub nonce: String,
    pub key_id: String,
}

/// An enrolled key's approval of a new key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EnrollPayload {
    pub v: u32,
    /// [`ENROLL_DOMAIN`].
    pub domain: String,
    /// SPKI PEM of the new key.
    pub public_key: String,
    pub label: String,
    pub not_before: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub nonce: String,
    /// The approving (already enrolled) key.
    pub key_id: String,
}

/// A revocation, signed by an enrolled key (possibly the one revoked).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RevokePayload {
    pub v: u32,
    /// [`REVOKE_DOMAIN`].
    pub domain: String,
    /// The key to revoke.
    pub revoke: String,
    pub reason: String,
    pub not_before: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub nonce: String,
    /// The signing key.
    pub key_id: String,
}

/// A payload as signed: the exact canonical JSON text and its ES256 signature.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Signed {
    /// The canonical JSON text that was signed.
    pub payload: String,
    /// ES256 signature over the payload's UTF-8 bytes: 64-byte `r||s`, base64url without padding.
    pub signature: String,
}

/// The record a proposal was planned against, as it was then: re-read before a verdict executes,
/// and a change refuses the verdict (`target_changed`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ObservedTarget {
    pub product: String,
    /// Path to GET it, relative to the product's base URL.
    pub path: String,
    /// Its `_info.lastUpdated` when planned.
    pub version: String,
}

/// A proposal waiting for a verdict, kept in the state directory (`proposals/`) so it can be
/// approved after a restart: the exact request, unredacted (the log holds the redacted one).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StoredProposal {
    pub proposal_id: String,
    pub action_digest: String,
    pub tool: String,
    pub action: String,
    pub params: serde_json::Value,
    pub risk: Risk,
    pub mode: Mode,
    pub disposition: Disposition,
    pub principal: Principal,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_id: Option<String>,
    pub request: UpstreamRequest,
    pub effect: EffectPreview,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed: Option<ObservedTarget>,
    pub proposed_at: DateTime<Utc>,
}

/// The answer to a verdict.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct VerdictReply {
    pub accepted: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rejection: Option<VerdictRejection>,
    pub detail: String,
    /// For an accepted approval: how the execution went.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<ToolOutcome>,
}

/// An enrolled operator key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct KeyInfo {
    pub key_id: String,
    pub label: String,
    pub revoked: bool,
}

/// The id of a P-256 key: `k-` and the first 16 hex digits of SHA-256 over its SPKI DER. A
/// function of the key, so the same key always has the same id.
pub fn key_id_from_spki_sha256(spki_sha256_hex: &str) -> String {
    format!("k-{}", &spki_sha256_hex[..spki_sha256_hex.len().min(16)])
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests abort on any failure")]
    use super::*;

    #[test]
    fn payloads_refuse_unknown_fields_and_serialize_canonically() {
        let p = VerdictPayload {
            v: 1,
            domain: VERDICT_DOMAIN.into(),
            proposal_id: "p-1".into(),
            action_digest: "ab".into(),
            decision: Decision::Approve,
            reason: None,
            not_before: "2026-12-01T10:00:00Z".parse().unwrap(),
            expires_at: "2026-12-01T10:00:30Z".parse().unwrap(),
            nonce: "00".into(),
            key_id: "k-1".into(),
        };
        let text = String::from_utf8(crate::canonical::to_vec(&p).unwrap()).unwrap();
        assert!(
            text.starts_with(r#"{"action_digest":"ab","decision":"approve","domain":"#),
            "{text}"
        );
        let back: VerdictPayload = serde_json::from_str(&text).unwrap();
        assert_eq!(back, p);
        let extra = text.replacen('{', r#"{"admin":true,"#, 1);
        assert!(serde_json::from_str::<VerdictPayload>(&extra).is_err());
    }
}
