//! Approvals: where a proposal waiting for a human's signed verdict is settled.
//!
//! [`Settlements`] connects the two sides of a wait: an interactive MCP call of a hard action
//! subscribes to its proposal and waits (with progress notifications, up to a timeout); whatever
//! settles the proposal (the verdict path: verify, execute once, record) calls
//! [`Settlements::settle`], and every waiter hears how it ended. A proposal nobody waits for
//! (the night agent queues and moves on) settles just the same, with no one to tell.

use std::collections::HashMap;
use std::sync::Mutex;

use schemas::tool::ToolError;
use serde_json::Value;
use tokio::sync::oneshot;

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
