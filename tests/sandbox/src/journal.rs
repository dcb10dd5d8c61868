//! The request journal: every request that reached "ConnectWise" (any product), in arrival order,
//! so tests can assert exactly what went upstream. Sandbox-only endpoints are never recorded.

use std::collections::VecDeque;
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

/// Entries kept before the oldest are dropped (a long benchmark must not grow memory without end).
pub const CAPACITY: usize = 100_000;

/// One request as received, and how it was answered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    /// 0-based arrival number, never reused (also after `clear`).
    pub seq: u64,
    /// Arrival time, UTC, RFC 3339 with milliseconds.
    pub time: String,
    /// `manage`, `rmm`, `cpq`, `sc` or `unknown`.
    pub product: String,
    pub method: String,
    pub path: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query: Option<String>,
    /// The request body as text (lossy UTF-8), absent when empty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    /// The status answered; 0 while the request is still open (a hang).
    pub status: u16,
    /// Injected faults applied to this request (`latency`, `rate_limit`, `server_error`, `hang`,
    /// `truncate`, `malformed`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub faults: Vec<String>,
}

#[derive(Default)]
struct Inner {
    next_seq: u64,
    dropped: u64,
    entries: VecDeque<Entry>,
}

/// The journal, shared by all connections.
#[derive(Default)]
pub struct Journal {
    inner: Mutex<Inner>,
}

/// What `GET /__sandbox/journal` returns.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    pub entries: Vec<Entry>,
    /// Entries lost to the capacity limit since the last clear.
    pub dropped: u64,
}

impl Journal {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Records a request on arrival (status 0) and returns its sequence number.
    pub fn open(&self, mut entry: Entry) -> u64 {
        let mut inner = self.lock();
        entry.seq = inner.next_seq;
        inner.next_seq += 1;
        if inner.entries.len() >= CAPACITY {
            inner.entries.pop_front();
            inner.dropped += 1;
        }
        let seq = entry.seq;
        inner.entries.push_back(entry);
        seq
    }

    /// Sets the answer of an open entry (a no-op if it was cleared or dropped meanwhile).
    pub fn close(&self, seq: u64, status: u16, faults: Vec<String>) {
        let mut inner = self.lock();
        let Some(first) = inner.entries.front().map(|e| e.seq) else {
            return;
        };
        if let Some(entry) = seq
            .checked_sub(first)
            .and_then(|i| inner.entries.get_mut(i as usize))
        {
            entry.status = status;
            entry.faults = faults;
        }
    }

    /// Entries with `seq >= since`.
    pub fn snapshot(&self, since: u64) -> Snapshot {
        let inner = self.lock();
        Snapshot {
            entries: inner
                .entries
                .iter()
                .filter(|e| e.seq >= since)
                .cloned()
                .collect(),
            dropped: inner.dropped,
        }
    }

    pub fn clear(&self) {
        let mut inner = self.lock();
        inner.entries.clear();
        inner.dropped = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(path: &str) -> Entry {
        Entry {
            seq: 0,
            time: String::new(),
            product: "manage".into(),
            method: "GET".into(),
            path: path.into(),
            query: None,
            body: None,
            status: 0,
            faults: vec![],
        }
    }

    #[test]
    fn open_close_clear() {
        let journal = Journal::default();
        let a = journal.open(entry("/a"));
        let b = journal.open(entry("/b"));
        journal.close(b, 429, vec!["rate_limit".into()]);
        let snap = journal.snapshot(0);
        assert_eq!(snap.entries.len(), 2);
        assert_eq!((snap.entries[0].seq, snap.entries[0].status), (a, 0));
        assert_eq!(snap.entries[1].status, 429);
        assert_eq!(snap.entries[1].faults, vec!["rate_limit".to_string()]);
        assert_eq!(journal.snapshot(1).entries.len(), 1);
        journal.clear();
        assert!(journal.snapshot(0).entries.is_empty());
        journal.close(a, 200, vec![]);
        let c = journal.open(entry("/c"));
        assert_eq!(c, 2, "sequence numbers are never reused");
    }
}
