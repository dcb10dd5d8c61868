//! The event log: append-only, hash-chained, durable before acknowledged, group-committed.
//!
//! Storage is one sled 0.34 tree `events`, key = big-endian `seq` (contiguous from 0), value =
//! the canonical JSON of the [`Envelope`]. One writer thread owns the head of the chain: it drains
//! every append waiting in its queue, seals them onto the chain, applies them as one sled batch
//! and flushes once, then acknowledges each. Concurrent writers therefore share a flush instead of
//! queueing for one each (group commit), and an acknowledged append is always on disk.
//!
//! Durability caveat: sled 0.34 flushes with `sync_file_range` on Linux. That survives a killed
//! process (tested), not provably a power loss; the checkpoint file makes such a loss detectable.
//!
//! This is the one place an event is appended: [`Store::append`].

pub mod chain;
pub mod checkpoint;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use chrono::Utc;
use schemas::control::{LogStatus, VerifyReport};
use schemas::event::{Checkpoint, Envelope, Event, GENESIS_HASH, Principal};
use schemas::projection::{Projections, SNAPSHOT_VERSION, Snapshot};
use tokio::sync::{broadcast, mpsc, oneshot};

pub use chain::{Draft, Start};

/// Tuning knobs.
#[derive(Debug, Clone)]
pub struct Options {
    /// Write a checkpoint every this many events (0: only when asked).
    pub checkpoint_every: u64,
    /// sled page cache (sled's default is 1 GiB, far more than a log needs).
    pub cache_bytes: u64,
    /// Most appends committed in one batch.
    pub max_batch: usize,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            checkpoint_every: 1000,
            cache_bytes: 64 * 1024 * 1024,
            max_batch: 4096,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum LogError {
    #[error(
        "the event log at {path} is in use by another process; is nightjard running? ({source})"
    )]
    Locked { path: PathBuf, source: sled::Error },
    #[error("event log storage failed: {0}")]
    Storage(#[from] sled::Error),
    #[error(
        "the event log is unavailable after an earlier write failure; nothing more is recorded or run"
    )]
    Unavailable,
    #[error("the event log is closed")]
    Closed,
    #[error("cannot encode event: {0}")]
    Encode(#[from] serde_json::Error),
    #[error("checkpoint file: {0}")]
    Checkpoint(#[from] std::io::Error),
    #[error("stored event at key {seq} does not decode: {source}")]
    Corrupt { seq: u64, source: serde_json::Error },
}

/// Read access to a log directory: verification, iteration. Used by the daemon's store and, when
/// no daemon runs, directly by `nightjarctl`.
#[derive(Debug)]
pub struct Reader {
    db: sled::Db,
    events: sled::Tree,
    checkpoint_path: PathBuf,
}

impl Reader {
    /// Open the sled database at `log_dir` (creating it if missing).
    pub fn open(
        log_dir: &Path,
        checkpoint_path: &Path,
        cache_bytes: u64,
    ) -> Result<Reader, LogError> {
        let db = sled::Config::new()
            .path(log_dir)
            .cache_capacity(cache_bytes)
            .mode(sled::Mode::HighThroughput)
            .open()
            .map_err(|source| match &source {
                sled::Error::Io(io)
                    if io.kind() == std::io::ErrorKind::WouldBlock
                        || io.to_string().contains("lock") =>
                {
                    LogError::Locked {
                        path: log_dir.to_owned(),
                        source,
                    }
                }
                _ => LogError::Storage(source),
            })?;
        let events = db.open_tree("events")?;
        Ok(Reader {
            db,
            events,
            checkpoint_path: checkpoint_path.to_owned(),
        })
    }

    /// The newest checkpoint on disk.
    pub fn checkpoint(&self) -> Result<Option<Checkpoint>, LogError> {
        Ok(checkpoint::read(&self.checkpoint_path)?)
    }

    /// Where the projection snapshot of the newest checkpoint is kept.
    pub fn snapshot_path(&self) -> PathBuf {
        self.checkpoint_path.with_file_name("projections.json")
    }

    /// The projection snapshot, when it is of this version and matches the stored event it
    /// names; `None` otherwise (missing, unreadable, stale or forged: the caller folds from the
    /// start instead).
    pub fn snapshot(&self) -> Option<Snapshot> {
        let snapshot = match checkpoint::read_snapshot(&self.snapshot_path()) {
            Ok(s) => s?,
            Err(e) => {
                tracing::warn!(error = %e, "ignoring an unreadable projection snapshot");
                return None;
            }
        };
        let matches = snapshot.version == SNAPSHOT_VERSION
            && self
                .range(snapshot.seq, snapshot.seq + 1)
                .next()
                .and_then(Result::ok)
                .is_some_and(|e| e.hash == snapshot.head_hash);
        matches.then_some(snapshot)
    }

    /// Verify from `start` to the end, against the newest checkpoint.
    pub fn verify(&self, start: &Start) -> Result<VerifyReport, LogError> {
        let checkpoint = self.checkpoint()?;
        let from = match start {
            Start::Genesis => 0,
            Start::Checkpoint(cp) => cp.seq,
        };
        let mut verifier = chain::Verifier::new(start, checkpoint);
        for item in self.events.range(from.to_be_bytes()..) {
            let (key, value) = item?;
            if !verifier.feed(key_seq(&key), &value) {
                break;
            }
        }
        Ok(verifier.finish())
    }

    /// Verify the whole chain from genesis.
    pub fn verify_all(&self) -> Result<VerifyReport, LogError> {
        self.verify(&Start::Genesis)
    }

    /// Verify from the newest checkpoint when its event is present, else from genesis: what the
    /// daemon does at start.
    pub fn verify_since_checkpoint(&self) -> Result<VerifyReport, LogError> {
        let start = match self.checkpoint()? {
            Some(cp) if self.events.contains_key(cp.seq.to_be_bytes())? => Start::Checkpoint(cp),
            _ => Start::Genesis,
        };
        self.verify(&start)
    }

    /// Stored events from `from` (inclusive) to `until` (exclusive), decoded.
    pub fn range(
        &self,
        from: u64,
        until: u64,
    ) -> impl Iterator<Item = Result<Envelope, LogError>> + '_ {
        self.events
            .range(from.to_be_bytes()..until.to_be_bytes())
            .map(|item| {
                let (key, value) = item?;
                chain::decode(&value).map_err(|source| LogError::Corrupt {
                    seq: key_seq(&key),
                    source,
                })
            })
    }

    /// Fold stored events `[from, ..)` into `f`, decoding only those whose type `wanted` accepts.
    ///
    /// The canonical encoding sorts keys, so every record starts with `{"event_type":"…"`: the
    /// type is read from the prefix without decoding the record. Replay at start uses this to skip
    /// the bulk of a log (reads, sessions, checkpoints) that no projection needs.
    pub fn replay(
        &self,
        from: u64,
        wanted: impl Fn(&str) -> bool,
        f: impl FnMut(Envelope),
    ) -> Result<u64, LogError> {
        self.replay_range(from, u64::MAX, wanted, f)
    }

    /// [`Reader::replay`] of the events before `until`.
    pub fn replay_range(
        &self,
        from: u64,
        until: u64,
        wanted: impl Fn(&str) -> bool,
        mut f: impl FnMut(Envelope),
    ) -> Result<u64, LogError> {
        let mut decoded = 0;
        for item in self.events.range(from.to_be_bytes()..until.to_be_bytes()) {
            let (key, value) = item?;
            if let Some(event_type) = chain::peek_event_type(&value)
                && !wanted(event_type)
            {
                continue;
            }
            match chain::decode(&value) {
                Ok(envelope) => {
                    f(envelope);
                    decoded += 1;
                }
                // Verification reports it; the daemon only gets here with --allow-broken-log.
                Err(e) => {
                    tracing::warn!(seq = key_seq(&key), error = %e, "skipping an undecodable event")
                }
            }
        }
        Ok(decoded)
    }

    /// The newest stored event.
    pub fn last(&self) -> Result<Option<Envelope>, LogError> {
        match self.events.last()? {
            Some((key, value)) => {
                chain::decode(&value)
                    .map(Some)
                    .map_err(|source| LogError::Corrupt {
                        seq: key_seq(&key),
                        source,
                    })
            }
            None => Ok(None),
        }
    }

    /// Number of the next seq (one past the newest stored key).
    pub fn next_seq(&self) -> Result<u64, LogError> {
        Ok(self
            .events
            .last()?
            .map(|(k, _)| key_seq(&k) + 1)
            .unwrap_or(0))
    }
}

fn key_seq(key: &[u8]) -> u64 {
    let mut buf = [0u8; 8];
    let n = key.len().min(8);
    buf[8 - n..].copy_from_slice(&key[key.len() - n..]);
    u64::from_be_bytes(buf)
}

#[allow(
    clippy::large_enum_variant,
    reason = "nearly every job is an append; boxing it would allocate per event"
)]
enum Job {
    Append(Draft, oneshot::Sender<Result<Arc<Envelope>, LogError>>),
    Checkpoint(oneshot::Sender<Result<Checkpoint, LogError>>),
    Close,
}

/// State shared between handles and the writer thread.
#[derive(Debug)]
struct Shared {
    reader: Reader,
    /// Events durable on disk: readers never see past this.
    durable: AtomicU64,
    head_hash: Mutex<String>,
    last_checkpoint: Mutex<Option<Checkpoint>>,
    /// Kept current by the writer as events become durable.
    projections: Mutex<Projections>,
    /// Where a projection snapshot is written with each checkpoint.
    snapshot_path: PathBuf,
    failed: AtomicBool,
    feed: broadcast::Sender<Arc<Envelope>>,
    writer: Mutex<Option<std::thread::JoinHandle<()>>>,
}

/// A handle on the open log. Cheap to clone; every clone appends through the same writer.
#[derive(Debug, Clone)]
pub struct Store {
    shared: Arc<Shared>,
    jobs: mpsc::Sender<Job>,
}

impl std::fmt::Debug for Job {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Job::Append(..) => "Append",
            Job::Checkpoint(_) => "Checkpoint",
            Job::Close => "Close",
        })
    }
}

impl Store {
    /// Open the log, verify it from the newest checkpoint, and start the writer thread.
    ///
    /// The report is returned rather than acted on: the caller decides whether a broken chain
    /// stops it.
    pub fn open(
        log_dir: &Path,
        checkpoint_path: &Path,
        options: Options,
    ) -> Result<(Store, VerifyReport), LogError> {
        let reader = Reader::open(log_dir, checkpoint_path, options.cache_bytes)?;
        let report = reader.verify_since_checkpoint()?;
        let next = reader.next_seq()?;
        let head_hash = match reader.last() {
            Ok(Some(e)) => e.hash,
            Ok(None) => GENESIS_HASH.to_owned(),
            // A corrupt newest record: keep appending after it; verification reports it.
            Err(_) => report.head_hash.clone(),
        };
        let last_checkpoint = reader.checkpoint()?;
        let snapshot_path = reader.snapshot_path();
        let projections = rebuild_projections(&reader)?;
        let (feed, _) = broadcast::channel(4096);
        let shared = Arc::new(Shared {
            reader,
            durable: AtomicU64::new(next),
            head_hash: Mutex::new(head_hash.clone()),
            last_checkpoint: Mutex::new(last_checkpoint.clone()),
            projections: Mutex::new(projections),
            snapshot_path,
            failed: AtomicBool::new(false),
            feed,
            writer: Mutex::new(None),
        });
        let (jobs, rx) = mpsc::channel(options.max_batch.max(1) * 2);
        let writer = Writer {
            shared: Arc::clone(&shared),
            next,
            head_hash,
            since_checkpoint: next - last_checkpoint.map(|c| c.count.min(next)).unwrap_or(0),
            options,
        };
        let handle = std::thread::Builder::new()
            .name("nightjar-log-writer".into())
            .spawn(move || writer.run(rx))
            .map_err(LogError::Checkpoint)?;
        *lock(&shared.writer) = Some(handle);
        Ok((Store { shared, jobs }, report))
    }

    /// Append one event. Returns once it is durable, with its seq and hash.
    pub async fn append(&self, draft: Draft) -> Result<Arc<Envelope>, LogError> {
        if self.shared.failed.load(Ordering::Acquire) {
            return Err(LogError::Unavailable);
        }
        let (tx, rx) = oneshot::channel();
        self.jobs
            .send(Job::Append(draft, tx))
            .await
            .map_err(|_| LogError::Closed)?;
        rx.await.map_err(|_| LogError::Closed)?
    }

    /// Shorthand for an event by the daemon itself.
    pub async fn append_system(&self, event: Event) -> Result<Arc<Envelope>, LogError> {
        self.append(Draft::new(Principal::System, event)).await
    }

    /// Write a checkpoint now: appends a `Checkpointed` event and records it in the checkpoint
    /// file.
    pub async fn checkpoint(&self) -> Result<Checkpoint, LogError> {
        let (tx, rx) = oneshot::channel();
        self.jobs
            .send(Job::Checkpoint(tx))
            .await
            .map_err(|_| LogError::Closed)?;
        rx.await.map_err(|_| LogError::Closed)?
    }

    /// New events as they become durable. A receiver that lags gets `Lagged` and should re-read
    /// from the store with [`Store::range`].
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Envelope>> {
        self.shared.feed.subscribe()
    }

    /// Number of durable events (= the next seq).
    pub fn len(&self) -> u64 {
        self.shared.durable.load(Ordering::Acquire)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Durable events from `from` to `until` (exclusive; capped at the durable head).
    pub fn range(
        &self,
        from: u64,
        until: u64,
    ) -> impl Iterator<Item = Result<Envelope, LogError>> + '_ {
        self.shared.reader.range(from, until.min(self.len()))
    }

    /// Read access to the stored log (what `nightjarctl feed` reads when no daemon runs).
    /// Readers must not look past [`Store::len`].
    pub fn reader(&self) -> &Reader {
        &self.shared.reader
    }

    /// The projections as of the newest durable event.
    pub fn projections(&self) -> Projections {
        lock(&self.shared.projections).clone()
    }

    /// Verify the whole chain (reads every event).
    pub fn verify_all(&self) -> Result<VerifyReport, LogError> {
        self.shared.reader.verify_all()
    }

    pub fn status(&self) -> LogStatus {
        let events = self.len();
        LogStatus {
            events,
            head_seq: events.checked_sub(1),
            head_hash: lock(&self.shared.head_hash).clone(),
            last_checkpoint: lock(&self.shared.last_checkpoint).clone(),
        }
    }

    /// Stop the writer after everything queued so far, and wait for it. Later appends fail with
    /// `Closed`.
    pub async fn close(&self) {
        let _ = self.jobs.send(Job::Close).await;
        let handle = lock(&self.shared.writer).take();
        if let Some(handle) = handle {
            let _ = tokio::task::spawn_blocking(move || handle.join()).await;
        }
    }
}

/// Projections at the end of the stored log: from the snapshot when it matches the stored event it
/// names, then folding only the events after it (skipping types no projection needs).
fn rebuild_projections(reader: &Reader) -> Result<Projections, LogError> {
    let started = std::time::Instant::now();
    let (mut projections, from) = match reader.snapshot() {
        Some(s) => (s.projections, s.seq + 1),
        None => (Projections::default(), 0),
    };
    let decoded = reader.replay(from, Projections::wants, |e| projections.apply(&e))?;
    tracing::info!(
        from,
        decoded,
        elapsed_ms = started.elapsed().as_millis() as u64,
        "projections rebuilt"
    );
    Ok(projections)
}

/// Lock a mutex, recovering from poisoning: the data behind these locks stays consistent even if
/// a holder panicked (they only hold plain values).
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The writer thread: sole owner of the chain's head.
struct Writer {
    shared: Arc<Shared>,
    next: u64,
    head_hash: String,
    since_checkpoint: u64,
    options: Options,
}

impl Writer {
    fn run(mut self, mut rx: mpsc::Receiver<Job>) {
        while let Some(first) = rx.blocking_recv() {
            let mut appends = Vec::new();
            let mut checkpoints = Vec::new();
            let mut close = false;
            let mut next_job = Some(first);
            while let Some(job) = next_job.take() {
                match job {
                    Job::Append(draft, ack) => appends.push((draft, ack)),
                    Job::Checkpoint(ack) => checkpoints.push(ack),
                    Job::Close => close = true,
                }
                if !close && appends.len() < self.options.max_batch {
                    next_job = rx.try_recv().ok();
                }
            }
            if !appends.is_empty() {
                let (drafts, acks): (Vec<Draft>, Vec<_>) = appends.into_iter().unzip();
                match self.commit(drafts) {
                    Ok(sealed) => {
                        for (envelope, ack) in sealed.into_iter().zip(acks) {
                            let _ = self.shared.feed.send(Arc::clone(&envelope));
                            let _ = ack.send(Ok(envelope));
                        }
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "event log write failed; the log is now unavailable");
                        self.shared.failed.store(true, Ordering::Release);
                        for ack in acks {
                            let _ = ack.send(Err(LogError::Unavailable));
                        }
                    }
                }
            }
            let due = self.options.checkpoint_every > 0
                && self.since_checkpoint >= self.options.checkpoint_every;
            if !checkpoints.is_empty() || due {
                let result = self.write_checkpoint();
                if let Err(e) = &result {
                    tracing::error!(error = %e, "checkpoint failed");
                }
                for ack in checkpoints {
                    let _ = ack.send(match &result {
                        Ok(cp) => Ok(cp.clone()),
                        Err(_) => Err(LogError::Unavailable),
                    });
                }
            }
            if close {
                break;
            }
        }
    }

    /// Seal, store as one batch, flush; only then advance the head.
    fn commit(&mut self, drafts: Vec<Draft>) -> Result<Vec<Arc<Envelope>>, LogError> {
        if self.shared.failed.load(Ordering::Acquire) {
            return Err(LogError::Unavailable);
        }
        let ts = Utc::now();
        let mut batch = sled::Batch::default();
        let mut sealed = Vec::with_capacity(drafts.len());
        let mut next = self.next;
        let mut prev = self.head_hash.clone();
        for draft in drafts {
            let envelope = chain::seal(draft, next, &prev, ts)?;
            batch.insert(&next.to_be_bytes(), chain::encode(&envelope)?);
            prev.clone_from(&envelope.hash);
            next += 1;
            sealed.push(Arc::new(envelope));
        }
        self.shared.reader.events.apply_batch(batch)?;
        self.shared.reader.db.flush()?;
        {
            let mut projections = lock(&self.shared.projections);
            for envelope in &sealed {
                projections.apply(envelope);
            }
        }
        self.since_checkpoint += next - self.next;
        self.next = next;
        self.head_hash.clone_from(&prev);
        *lock(&self.shared.head_hash) = prev;
        self.shared.durable.store(next, Ordering::Release);
        Ok(sealed)
    }

    fn write_checkpoint(&mut self) -> Result<Checkpoint, LogError> {
        let event = Event::Checkpointed {
            covers_seq: self.next.checked_sub(1),
            head_hash: self.head_hash.clone(),
            count: self.next,
        };
        let sealed = self.commit(vec![Draft::new(Principal::System, event)])?;
        let envelope = sealed.into_iter().next().ok_or(LogError::Unavailable)?;
        let checkpoint = Checkpoint {
            seq: envelope.seq,
            count: envelope.seq + 1,
            head_hash: envelope.hash.clone(),
            time: envelope.ts,
        };
        checkpoint::write(&self.shared.reader.checkpoint_path, &checkpoint)?;
        let snapshot = Snapshot {
            version: SNAPSHOT_VERSION,
            seq: checkpoint.seq,
            head_hash: checkpoint.head_hash.clone(),
            projections: lock(&self.shared.projections).clone(),
        };
        // A missing or stale snapshot only costs a longer replay at the next start.
        if let Err(e) = checkpoint::write_snapshot(&self.shared.snapshot_path, &snapshot) {
            tracing::warn!(error = %e, "could not write the projection snapshot");
        }
        let _ = self.shared.feed.send(envelope);
        self.since_checkpoint = 0;
        *lock(&self.shared.last_checkpoint) = Some(checkpoint.clone());
        Ok(checkpoint)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use schemas::control::ChainProblemKind;

    fn open(dir: &Path, options: Options) -> (Store, VerifyReport) {
        Store::open(&dir.join("log"), &dir.join("checkpoint.json"), options).unwrap()
    }

    fn note(i: u64) -> Draft {
        Draft::new(
            Principal::Interactive {
                name: format!("w{i}"),
            },
            Event::DaemonStopped {
                reason: format!("n{i}"),
            },
        )
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_appends_get_contiguous_seqs_and_a_valid_chain() {
        let dir = tempfile::tempdir().unwrap();
        let (store, report) = open(dir.path(), Options::default());
        assert!(report.ok());
        let mut tasks = Vec::new();
        for w in 0..16u64 {
            let store = store.clone();
            tasks.push(tokio::spawn(async move {
                let mut seqs = Vec::new();
                for i in 0..50 {
                    seqs.push(store.append(note(w * 1000 + i)).await.unwrap().seq);
                }
                seqs
            }));
        }
        let mut all: Vec<u64> = Vec::new();
        for t in tasks {
            all.extend(t.await.unwrap());
        }
        all.sort_unstable();
        assert_eq!(all, (0..800).collect::<Vec<_>>());
        let report = store.verify_all().unwrap();
        assert!(report.ok(), "{:?}", report.problem);
        assert_eq!(report.verified, 800);
        store.close().await;
        assert!(matches!(store.append(note(0)).await, Err(LogError::Closed)));
    }

    #[tokio::test]
    async fn reopen_continues_the_chain_and_detects_tail_truncation() {
        let dir = tempfile::tempdir().unwrap();
        {
            let (store, _) = open(dir.path(), Options::default());
            for i in 0..10 {
                store.append(note(i)).await.unwrap();
            }
            let cp = store.checkpoint().await.unwrap();
            assert_eq!((cp.seq, cp.count), (10, 11));
            store.close().await;
        }
        {
            let (store, report) = open(dir.path(), Options::default());
            assert!(report.ok(), "{:?}", report.problem);
            assert_eq!(store.append(note(99)).await.unwrap().seq, 11);
            assert!(store.verify_all().unwrap().ok());
            store.close().await;
        }
        // Delete the newest events, checkpointed one included, straight in sled.
        {
            let db = sled::open(dir.path().join("log")).unwrap();
            let tree = db.open_tree("events").unwrap();
            for seq in 8..12u64 {
                tree.remove(seq.to_be_bytes()).unwrap();
            }
            db.flush().unwrap();
        }
        let (store, report) = open(dir.path(), Options::default());
        let problem = report.problem.unwrap();
        assert_eq!(
            (problem.seq, problem.kind),
            (8, ChainProblemKind::Truncated)
        );
        store.close().await;
    }

    #[tokio::test]
    async fn projections_are_the_same_from_a_snapshot_and_from_a_full_replay() {
        use schemas::event::{Disposition, EffectPreview, Mode, Risk, UpstreamRequest};
        let dir = tempfile::tempdir().unwrap();
        let proposal = |id: u64| {
            Draft::new(
                Principal::System,
                Event::ActionProposed {
                    proposal_id: format!("p{id}"),
                    call_id: format!("c{id}"),
                    tool: "cw_rmm".into(),
                    action: "run_script".into(),
                    params: serde_json::json!({}),
                    risk: Risk::Hard,
                    mode: Mode::Enforce,
                    request: UpstreamRequest {
                        product: "asio".into(),
                        method: "POST".into(),
                        path: "/x".into(),
                        body: None,
                    },
                    effect: EffectPreview::default(),
                    action_digest: format!("d{id}"),
                    disposition: Disposition::PendingApproval,
                    observed: None,
                },
            )
        };
        let live = {
            let (store, _) = open(dir.path(), Options::default());
            for i in 0..5 {
                store.append(proposal(i)).await.unwrap();
            }
            store.checkpoint().await.unwrap();
            for i in 5..8 {
                store.append(proposal(i)).await.unwrap();
            }
            let live = store.projections();
            store.close().await;
            live
        };
        assert_eq!(live.pending.len(), 8);
        let snapshot = checkpoint::read_snapshot(&dir.path().join("projections.json"))
            .unwrap()
            .unwrap();
        assert_eq!((snapshot.seq, snapshot.projections.pending.len()), (5, 5));
        let (store, _) = open(dir.path(), Options::default());
        assert_eq!(store.projections(), live, "from the snapshot plus the tail");
        store.close().await;
        drop(store);
        std::fs::remove_file(dir.path().join("projections.json")).unwrap();
        let (store, _) = open(dir.path(), Options::default());
        assert_eq!(store.projections(), live, "from a full replay");
        store.close().await;
        drop(store);
        // A snapshot that does not match the stored event is ignored, not trusted.
        let mut forged = snapshot.clone();
        forged.projections.pending.clear();
        forged.head_hash = "00".repeat(32);
        checkpoint::write_snapshot(&dir.path().join("projections.json"), &forged).unwrap();
        let (store, _) = open(dir.path(), Options::default());
        assert_eq!(
            store.projections(),
            live,
            "a mismatching snapshot is ignored"
        );
        store.close().await;
        drop(store);
        // So is a snapshot of another version, even at the right event.
        let mut old = snapshot.clone();
        old.version = SNAPSHOT_VERSION - 1;
        old.projections.pending.clear();
        checkpoint::write_snapshot(&dir.path().join("projections.json"), &old).unwrap();
        let (store, _) = open(dir.path(), Options::default());
        assert_eq!(store.projections(), live, "an older snapshot is ignored");
        store.close().await;
    }

    #[tokio::test]
    async fn automatic_checkpoints_every_n_events_and_subscribers_see_durable_events() {
        let dir = tempfile::tempdir().unwrap();
        let (store, _) = open(
            dir.path(),
            Options {
                checkpoint_every: 5,
                ..Options::default()
            },
        );
        let mut sub = store.subscribe();
        for i in 0..12 {
            store.append(note(i)).await.unwrap();
        }
        let first = sub.recv().await.unwrap();
        assert_eq!(first.seq, 0);
        let cp = checkpoint::read(&dir.path().join("checkpoint.json"))
            .unwrap()
            .unwrap();
        assert!(cp.seq >= 5, "{cp:?}");
        let checkpoints = store
            .range(0, u64::MAX)
            .filter(|e| matches!(e.as_ref().unwrap().event, Event::Checkpointed { .. }))
            .count();
        assert!(checkpoints >= 2, "{checkpoints}");
        store.close().await;
    }
}
