//! The shop's ticket history: a full-text index of closed tickets and their final labels, the
//! precedent a triage decision is grounded in (issue 10).
//!
//! What is indexed per closed ticket: its summary, initial description (the first note with
//! `detailDescriptionFlag`, since Manage never returns `initialDescription`), resolution (the
//! newest note with `resolutionFlag`), and the final board, type, subtype, item and priority.
//! Every text passes through the daemon's [`Redactor`] before it is indexed or written, so the
//! index file holds no personal data the redactor recognises.
//!
//! Ranking is BM25 ([`crate::endpoints::bm25`], shared with the endpoint search) over an
//! inverted index held in memory; the summary weighs double, the resolution and the label
//! names half. A few hundred thousand tickets fit comfortably (BENCHMARKS.md, "History index"),
//! which is why this is not tantivy: the scale is small, and the dependency is not.
//!
//! On disk: one file, `tickets.idx`, in the directory given to [`HistoryIndex::open`] (the
//! daemon's state directory): a header line with the format version, the body's length and its
//! SHA-256, then the body (JSON: the refresh cursor and the redacted documents). It is replaced
//! atomically ([`crate::log::checkpoint::write_atomic`]). A missing file, another version, a
//! wrong length or checksum, or a body that does not parse: the index starts empty and says so
//! ([`Opened::Rebuilt`]), and the next [`HistoryIndex::refresh`] reads every closed ticket again.
//!
//! Refresh is incremental: the cursor is the newest `_info/lastUpdated` seen (the server's clock,
//! never ours); a refresh lists the tickets with `lastUpdated >= cursor` (every ticket the first
//! time; `>=`: a ticket written in the same second as the cursor after the last read is not
//! lost, and re-reading one is harmless), oldest first, upserts the closed ones by id (their
//! notes are one request each) and drops the ones that were reopened.
//! Known gap: a ticket deleted in Manage stays until the index is rebuilt.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use futures::StreamExt as _;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest as _, Sha256};

use crate::connector::manage::{Manage, Op, Query, condition};
use crate::connector::{self, Call};
use crate::endpoints::bm25::{self, STOP, words};
use crate::redact::Redactor;

/// The index file's name inside its directory.
pub const FILE_NAME: &str = "tickets.idx";
/// The first word of the header line; a different one is another format.
const FORMAT: &str = "nightjar.history.v1";
/// Changed tickets one refresh lists at most (one Manage page); [`RefreshStats::more`] says when
/// there were more.
pub const MAX_ROWS_PER_REFRESH: usize = 1000;
/// Notes reads in flight at once during a refresh.
const CONCURRENCY: usize = 4;
/// Stored lengths, in characters: enough to rank on and to show, not a copy of the ticket.
const MAX_DESCRIPTION: usize = 2000;
const MAX_RESOLUTION: usize = 500;
/// The resolution a [`Precedent`] shows.
const SHORT_RESOLUTION: usize = 200;

/// A reference as views show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Label {
    pub id: i64,
    pub name: String,
}

/// One closed ticket as the index holds it (already redacted when it is in an index).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Doc {
    pub id: i64,
    pub closed: DateTime<Utc>,
    /// `_info/lastUpdated` when it was read.
    pub updated: DateTime<Utc>,
    pub summary: String,
    pub description: String,
    pub resolution: String,
    pub board: Option<Label>,
    #[serde(rename = "type")]
    pub kind: Option<Label>,
    pub sub_type: Option<Label>,
    pub item: Option<Label>,
    pub priority: Option<Label>,
}

/// A past ticket like the one at hand, with the labels the team finally gave it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Precedent {
    pub id: i64,
    pub closed: DateTime<Utc>,
    pub summary: String,
    pub board: Option<Label>,
    #[serde(rename = "type")]
    pub kind: Option<Label>,
    pub sub_type: Option<Label>,
    pub priority: Option<Label>,
    /// The resolution, cut to about 200 characters.
    pub resolution: String,
    pub score: f64,
}

/// How [`HistoryIndex::open`] found the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Opened {
    /// Read and verified, with this many tickets.
    Loaded { tickets: usize },
    /// Started empty; the next refresh reads every closed ticket. `reason` is for the log.
    Rebuilt { reason: String },
}

/// What one refresh did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RefreshStats {
    /// Changed tickets Manage listed.
    pub listed: usize,
    /// Closed tickets added or replaced.
    pub upserted: usize,
    /// Tickets dropped because they were reopened.
    pub removed: usize,
    /// HTTP requests sent upstream.
    pub requests: u64,
    /// Changes remain (more than one page changed, or the call's budget ran out): refresh again.
    pub more: bool,
    /// Tickets in the index afterwards.
    pub tickets: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    #[error("cannot write the ticket history index {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("reading the ticket history from ConnectWise failed: {0}")]
    Upstream(#[from] connector::Error),
}

/// What is persisted.
#[derive(Debug, Serialize, Deserialize)]
struct Stored {
    cursor: Option<DateTime<Utc>>,
    docs: Vec<Doc>,
}

/// The ranked part, rebuilt from the documents.
#[derive(Debug, Default)]
struct Postings {
    /// Slot -> ticket id, in id order.
    ids: Vec<i64>,
    lengths: Vec<f64>,
    average_length: f64,
    /// Term -> (slot, weighted frequency).
    terms: HashMap<String, Vec<(u32, f64)>>,
}

/// Summary, description, resolution and label names with their weights.
fn weighted_fields(doc: &Doc) -> [(&str, f64); 7] {
    fn name(l: &Option<Label>) -> &str {
        l.as_ref().map_or("", |l| l.name.as_str())
    }
    [
        (doc.summary.as_str(), 2.0),
        (doc.description.as_str(), 1.0),
        (doc.resolution.as_str(), 0.5),
        (name(&doc.board), 0.5),
        (name(&doc.kind), 0.5),
        (name(&doc.sub_type), 0.5),
        (name(&doc.priority), 0.5),
    ]
}

fn terms_of(text: &str) -> impl Iterator<Item = String> {
    words(text)
        .into_iter()
        .filter(|w| !STOP.contains(&w.as_str()))
}

impl Postings {
    fn build(docs: &BTreeMap<i64, Doc>) -> Postings {
        let mut p = Postings::default();
        for (slot, doc) in docs.values().enumerate() {
            let mut tf: HashMap<String, f64> = HashMap::new();
            for (text, weight) in weighted_fields(doc) {
                for term in terms_of(text) {
                    *tf.entry(term).or_default() += weight;
                }
            }
            p.ids.push(doc.id);
            p.lengths.push(tf.values().sum());
            let slot = u32::try_from(slot).unwrap_or(u32::MAX);
            for (term, f) in tf {
                p.terms.entry(term).or_default().push((slot, f));
            }
        }
        p.average_length = p.lengths.iter().sum::<f64>() / p.lengths.len().max(1) as f64;
        p
    }

    /// (slot, score) of every document sharing a term with `text`.
    fn scores(&self, text: &str) -> Vec<(usize, f64)> {
        let mut query: Vec<String> = terms_of(text).collect();
        query.sort_unstable();
        query.dedup();
        let n = self.ids.len() as f64;
        let mut scores = vec![0.0f64; self.ids.len()];
        for term in &query {
            let Some(postings) = self.terms.get(term) else {
                continue;
            };
            let idf = bm25::idf(n, postings.len() as f64);
            for &(slot, tf) in postings {
                let slot = slot as usize;
                scores[slot] += idf * bm25::weight(tf, self.lengths[slot], self.average_length);
            }
        }
        scores
            .into_iter()
            .enumerate()
            .filter(|(_, s)| *s > 0.0)
            .collect()
    }
}

/// The index. The daemon holds one (behind an `Arc<tokio::sync::RwLock<_>>`), refreshes it at
/// start and before each triage run, and answers `similar` from it.
#[derive(Debug)]
pub struct HistoryIndex {
    /// Where it is persisted; `None` for an in-memory index ([`HistoryIndex::from_docs`]).
    file: Option<PathBuf>,
    redactor: Arc<Redactor>,
    docs: BTreeMap<i64, Doc>,
    cursor: Option<DateTime<Utc>>,
    postings: Postings,
    /// The file does not hold what is in memory (it was missing or corrupt).
    dirty: bool,
}

/// `text` cut to `max` characters, with an ellipsis when it was longer.
pub(crate) fn cut(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_owned(),
    }
}

/// The header line for `body`.
fn header(body: &[u8]) -> String {
    format!(
        "{FORMAT} {} {}\n",
        body.len(),
        hex::encode(Sha256::digest(body))
    )
}

/// The stored index in `bytes`, or why it cannot be trusted.
fn decode(bytes: &[u8]) -> Result<Stored, String> {
    let newline = bytes
        .iter()
        .position(|&b| b == b'\n')
        .ok_or("no header line")?;
    let (head, body) = (&bytes[..newline], &bytes[newline + 1..]);
    let head = std::str::from_utf8(head).map_err(|_| "the header is not text")?;
    let mut parts = head.split(' ');
    let format = parts.next().unwrap_or_default();
    if format != FORMAT {
        return Err(format!("format {format:?}, expected {FORMAT}"));
    }
    let length: usize = parts
        .next()
        .and_then(|l| l.parse().ok())
        .ok_or("no body length in the header")?;
    if length != body.len() {
        return Err(format!(
            "the body is {} bytes, the header says {length}",
            body.len()
        ));
    }
    if header(body) != format!("{head}\n") {
        return Err("checksum mismatch".into());
    }
    serde_json::from_slice(body).map_err(|e| format!("the body does not parse: {e}"))
}

fn label(value: &Value) -> Option<Label> {
    Some(Label {
        id: value["id"].as_i64()?,
        name: value["name"].as_str().unwrap_or_default().to_owned(),
    })
}

fn time(value: &Value) -> Option<DateTime<Utc>> {
    value
        .as_str()
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        .map(|t| t.with_timezone(&Utc))
}

/// The fields a refresh reads of each changed ticket.
const TICKET_FIELDS: &[&str] = &[
    "id",
    "summary",
    "closedFlag",
    "closedDate",
    "board/id",
    "board/name",
    "type/id",
    "type/name",
    "subType/id",
    "subType/name",
    "item/id",
    "item/name",
    "priority/id",
    "priority/name",
    "_info/lastUpdated",
];

impl HistoryIndex {
    /// Opens the index in `dir` (created if needed), or starts an empty one when the file is
    /// missing or cannot be trusted, saying why.
    pub fn open(
        dir: &Path,
        redactor: Arc<Redactor>,
    ) -> Result<(HistoryIndex, Opened), HistoryError> {
        std::fs::create_dir_all(dir).map_err(|source| HistoryError::Io {
            path: dir.to_owned(),
            source,
        })?;
        let file = dir.join(FILE_NAME);
        let (stored, opened) = match std::fs::read(&file) {
            Ok(bytes) => match decode(&bytes) {
                Ok(stored) => {
                    let tickets = stored.docs.len();
                    (stored, Opened::Loaded { tickets })
                }
                Err(reason) => (
                    Stored {
                        cursor: None,
                        docs: Vec::new(),
                    },
                    Opened::Rebuilt {
                        reason: format!("{} is corrupt ({reason})", file.display()),
                    },
                ),
            },
            Err(e) => (
                Stored {
                    cursor: None,
                    docs: Vec::new(),
                },
                Opened::Rebuilt {
                    reason: format!("{} cannot be read ({e})", file.display()),
                },
            ),
        };
        let dirty = matches!(opened, Opened::Rebuilt { .. });
        let docs: BTreeMap<i64, Doc> = stored.docs.into_iter().map(|d| (d.id, d)).collect();
        let index = HistoryIndex {
            file: Some(file),
            redactor,
            postings: Postings::build(&docs),
            docs,
            cursor: stored.cursor,
            dirty,
        };
        Ok((index, opened))
    }

    /// An in-memory index of `docs` (redacted here), for benchmarks, tests and backtests. It is
    /// persisted only by [`HistoryIndex::save_to`].
    pub fn from_docs(docs: impl IntoIterator<Item = Doc>, redactor: Arc<Redactor>) -> HistoryIndex {
        let docs: BTreeMap<i64, Doc> = docs
            .into_iter()
            .map(|d| {
                let d = redacted(&redactor, d);
                (d.id, d)
            })
            .collect();
        HistoryIndex {
            file: None,
            redactor,
            postings: Postings::build(&docs),
            docs,
            cursor: None,
            dirty: true,
        }
    }

    /// Persists this index to `dir` from now on, and writes it there.
    pub fn save_to(&mut self, dir: &Path) -> Result<(), HistoryError> {
        std::fs::create_dir_all(dir).map_err(|source| HistoryError::Io {
            path: dir.to_owned(),
            source,
        })?;
        self.file = Some(dir.join(FILE_NAME));
        self.persist()
    }

    /// The index file, when there is one.
    pub fn file(&self) -> Option<&Path> {
        self.file.as_deref()
    }

    pub fn len(&self) -> usize {
        self.docs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.docs.is_empty()
    }

    /// The indexed ticket ids, ascending.
    pub fn ids(&self) -> impl Iterator<Item = i64> + '_ {
        self.docs.keys().copied()
    }

    pub fn get(&self, id: i64) -> Option<&Doc> {
        self.docs.get(&id)
    }

    /// The newest `_info/lastUpdated` seen; `None` before the first refresh.
    pub fn cursor(&self) -> Option<DateTime<Utc>> {
        self.cursor
    }

    /// Reads the tickets changed since the last refresh (every ticket the first time),
    /// upserts the closed ones, drops the reopened ones and persists the result. Reads at most
    /// [`MAX_ROWS_PER_REFRESH`] changed tickets and what `call`'s budget allows (one request
    /// per closed ticket, for its notes); [`RefreshStats::more`] says whether to call again.
    pub async fn refresh(
        &mut self,
        manage: &Manage,
        call: &Call,
    ) -> Result<RefreshStats, HistoryError> {
        let requests_before = call.requests();
        // Open tickets are listed too (a row each, no notes read): a reopened ticket is seen,
        // and the cursor passes every write, not only the closing ones.
        let mut query = Query::new()
            .order_by("lastUpdated asc, id asc")
            .fields(TICKET_FIELDS.iter().copied());
        if let Some(cursor) = self.cursor {
            query = query.conditions(condition("lastUpdated", Op::Ge, cursor)?);
        }
        let listing = manage
            .list(call, "/service/tickets", &query, MAX_ROWS_PER_REFRESH)
            .await?;
        let mut stats = RefreshStats {
            listed: listing.rows.len(),
            more: listing.truncated,
            ..RefreshStats::default()
        };

        // Oldest first: the prefix the budget allows is what the cursor moves past.
        let mut take = listing.rows.len();
        let mut room = call.remaining();
        for (i, row) in listing.rows.iter().enumerate() {
            if row["closedFlag"] == true {
                if room == 0 {
                    take = i;
                    stats.more = true;
                    break;
                }
                room -= 1;
            }
        }
        let rows = &listing.rows[..take];
        let closed: Vec<&Value> = rows.iter().filter(|r| r["closedFlag"] == true).collect();
        call.project_calls(closed.len() as u64, "reading the notes of closed tickets")?;
        // By id, not by row reference: a closure over borrowed rows is not `Send` for every
        // lifetime, and the daemon refreshes from spawned tasks.
        let ids: Vec<i64> = closed
            .iter()
            .map(|r| r["id"].as_i64().unwrap_or(0))
            .collect();
        let notes: Vec<Result<Value, connector::Error>> = futures::stream::iter(ids)
            .map(|id| {
                let path = format!("/service/tickets/{id}/notes");
                let q = notes_query();
                async move { manage.get(call, &path, &q).await }
            })
            .buffered(CONCURRENCY)
            .collect()
            .await;
        let mut notes = closed.iter().zip(notes);

        let mut changed = false;
        for row in rows {
            let Some(id) = row["id"].as_i64() else {
                continue;
            };
            if let Some(updated) = time(&row["_info"]["lastUpdated"]) {
                self.cursor = Some(self.cursor.map_or(updated, |c| c.max(updated)));
            }
            if row["closedFlag"] != true {
                if self.docs.remove(&id).is_some() {
                    stats.removed += 1;
                    changed = true;
                }
                continue;
            }
            let Some((_, ticket_notes)) = notes.next() else {
                break;
            };
            let doc = doc_of(row, &ticket_notes?);
            let doc = redacted(&self.redactor, doc);
            if self.docs.get(&id) != Some(&doc) {
                self.docs.insert(id, doc);
                changed = true;
            }
            stats.upserted += 1;
        }
        if changed {
            self.postings = Postings::build(&self.docs);
        }
        if changed || self.dirty || !rows.is_empty() {
            self.persist()?;
        }
        stats.requests = call.requests() - requests_before;
        stats.tickets = self.docs.len();
        Ok(stats)
    }

    /// The `k` indexed tickets most like `text`, best first: only tickets closed strictly
    /// before `before` when given (a backtest must not see the future), never `exclude`.
    pub fn similar(
        &self,
        text: &str,
        k: usize,
        before: Option<DateTime<Utc>>,
        exclude: Option<i64>,
    ) -> Vec<Precedent> {
        let mut hits: Vec<(&Doc, f64)> = self
            .postings
            .scores(text)
            .into_iter()
            .filter_map(|(slot, score)| {
                let doc = self.docs.get(&self.postings.ids[slot])?;
                let allowed = Some(doc.id) != exclude && before.is_none_or(|b| doc.closed < b);
                allowed.then_some((doc, score))
            })
            .collect();
        // Ties: the more recent precedent first (conventions drift), then the id for stability.
        hits.sort_by(|a, b| {
            b.1.total_cmp(&a.1)
                .then_with(|| b.0.closed.cmp(&a.0.closed))
                .then_with(|| a.0.id.cmp(&b.0.id))
        });
        hits.truncate(k);
        hits.into_iter()
            .map(|(doc, score)| Precedent {
                id: doc.id,
                closed: doc.closed,
                summary: doc.summary.clone(),
                board: doc.board.clone(),
                kind: doc.kind.clone(),
                sub_type: doc.sub_type.clone(),
                priority: doc.priority.clone(),
                resolution: cut(&doc.resolution, SHORT_RESOLUTION),
                score,
            })
            .collect()
    }

    /// Writes the file (nothing for an in-memory index).
    fn persist(&mut self) -> Result<(), HistoryError> {
        let Some(file) = &self.file else {
            return Ok(());
        };
        let stored = StoredRef {
            cursor: self.cursor,
            docs: self.docs.values().collect(),
        };
        let body = serde_json::to_vec(&stored).map_err(|e| HistoryError::Io {
            path: file.clone(),
            source: std::io::Error::other(e),
        })?;
        let mut bytes = header(&body).into_bytes();
        bytes.extend_from_slice(&body);
        crate::log::checkpoint::write_atomic(file, &bytes).map_err(|source| HistoryError::Io {
            path: file.clone(),
            source,
        })?;
        self.dirty = false;
        Ok(())
    }
}

/// Rounds of [`HistoryIndex::refresh`] one [`refresh`] runs at most: 10,000 changed tickets.
/// Enough for every nightly change; a first build of a large shop continues at the next refresh
/// (each start and each triage run) instead of holding a run back for an hour.
pub const MAX_ROUNDS: usize = 10;

/// Refreshes the daemon's shared index (`Context::history`) until nothing is left or
/// [`MAX_ROUNDS`] have run; the write lock is held one round at a time, so `similar` waits at
/// most one round. `None` when there is no index, ConnectWise is not configured, or a refresh
/// failed: that is logged as a warning and never fatal (the index answers from what it holds).
/// The daemon calls this at start and before each triage run.
pub async fn refresh(ctx: &crate::catalog::Context) -> Option<RefreshStats> {
    let history = ctx.history.as_ref()?;
    let Ok(manage) = ctx.manage() else {
        tracing::debug!("ConnectWise is not configured; the ticket history is not refreshed");
        return None;
    };
    let mut total = RefreshStats::default();
    for _ in 0..MAX_ROUNDS {
        // One listing page and the notes of every closed ticket on it.
        let call = Call::new(connector::Budget {
            max_calls: MAX_ROWS_PER_REFRESH as u64 + 10,
        });
        let round = history.write().await.refresh(manage, &call).await;
        let stats = match round {
            Ok(stats) => stats,
            Err(e) => {
                tracing::warn!(
                    error = %e,
                    upserted = total.upserted,
                    "the ticket history was not refreshed; similar tickets come from what it holds"
                );
                return None;
            }
        };
        total.listed += stats.listed;
        total.upserted += stats.upserted;
        total.removed += stats.removed;
        total.requests += stats.requests;
        total.more = stats.more;
        total.tickets = stats.tickets;
        if !stats.more {
            break;
        }
    }
    tracing::info!(
        listed = total.listed,
        upserted = total.upserted,
        removed = total.removed,
        requests = total.requests,
        tickets = total.tickets,
        more = total.more,
        "ticket history refreshed"
    );
    Some(total)
}

/// [`Stored`] by reference, for writing without a copy.
#[derive(Serialize)]
struct StoredRef<'a> {
    cursor: Option<DateTime<Utc>>,
    docs: Vec<&'a Doc>,
}

/// The notes a document is made of, oldest first, in one page (`/service/tickets/{id}/notes`).
pub(crate) fn notes_query() -> Query {
    Query::new()
        .fields(["id", "text", "detailDescriptionFlag", "resolutionFlag"])
        .order_by("id asc")
        .page_size(connector::manage::MAX_PAGE_SIZE)
}

/// A ticket's initial description: the first note flagged `detailDescriptionFlag` in `notes`
/// (read with [`notes_query`]), empty when there is none.
pub(crate) fn initial_description(notes: &Value) -> &str {
    notes
        .as_array()
        .and_then(|n| n.iter().find(|n| n["detailDescriptionFlag"] == true))
        .and_then(|n| n["text"].as_str())
        .unwrap_or_default()
}

/// A closed ticket's document from its row and notes (not yet redacted).
fn doc_of(row: &Value, notes: &Value) -> Doc {
    let updated = time(&row["_info"]["lastUpdated"]).unwrap_or_default();
    Doc {
        id: row["id"].as_i64().unwrap_or_default(),
        closed: time(&row["closedDate"]).unwrap_or(updated),
        updated,
        summary: row["summary"].as_str().unwrap_or_default().to_owned(),
        description: initial_description(notes).to_owned(),
        resolution: notes
            .as_array()
            .and_then(|n| n.iter().rev().find(|n| n["resolutionFlag"] == true))
            .and_then(|n| n["text"].as_str())
            .unwrap_or_default()
            .to_owned(),
        board: label(&row["board"]),
        kind: label(&row["type"]),
        sub_type: label(&row["subType"]),
        item: label(&row["item"]),
        priority: label(&row["priority"]),
    }
}

/// `doc` with its texts redacted and cut to the stored lengths.
fn redacted(redactor: &Redactor, doc: Doc) -> Doc {
    Doc {
        summary: redactor.text(&doc.summary).into_owned(),
        description: cut(&redactor.text(&doc.description), MAX_DESCRIPTION),
        resolution: cut(&redactor.text(&doc.resolution), MAX_RESOLUTION),
        ..doc
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(id: i64, summary: &str, board: &str, closed_day: u32) -> Doc {
        let at = |d: u32| {
            DateTime::parse_from_rfc3339(&format!("2026-01-{d:02}T10:00:00Z"))
                .unwrap()
                .with_timezone(&Utc)
        };
        Doc {
            id,
            closed: at(closed_day),
            updated: at(closed_day),
            summary: summary.into(),
            description: String::new(),
            resolution: "Fixed.".into(),
            board: Some(Label {
                id: 1,
                name: board.into(),
            }),
            kind: None,
            sub_type: None,
            item: None,
            priority: None,
        }
    }

    fn index() -> HistoryIndex {
        HistoryIndex::from_docs(
            [
                doc(1, "Printer offline on the 2nd floor", "Field Services", 3),
                doc(2, "Printer jams every few pages", "Field Services", 5),
                doc(3, "VPN drops every few minutes", "Network", 7),
                doc(4, "Outlook keeps asking for the password", "Help Desk", 9),
            ],
            Arc::new(Redactor::new(Vec::<String>::new())),
        )
    }

    #[test]
    fn similar_ranks_by_shared_words_and_honours_before_and_exclude() {
        let index = index();
        let ids = |hits: Vec<Precedent>| hits.iter().map(|p| p.id).collect::<Vec<_>>();
        assert_eq!(
            ids(index.similar("printer says offline", 2, None, None)),
            [1, 2]
        );
        assert_eq!(
            ids(index.similar("printer says offline", 5, None, Some(1))),
            [2]
        );
        let before = index.get(2).unwrap().closed;
        assert_eq!(
            ids(index.similar("printer jams", 5, Some(before), None)),
            [1],
            "ticket 2 closed at `before`, not strictly before it"
        );
        assert!(
            index
                .similar("quantum entanglement", 5, None, None)
                .is_empty()
        );
    }

    #[test]
    fn a_tampered_body_is_refused_and_an_intact_one_decodes() {
        let body = br#"{"cursor":null,"docs":[]}"#;
        let mut bytes = header(body).into_bytes();
        bytes.extend_from_slice(body);
        assert!(decode(&bytes).is_ok());
        let mut flipped = bytes.clone();
        let last = flipped.len() - 3;
        flipped[last] ^= 0x01;
        assert!(decode(&flipped).unwrap_err().contains("checksum"));
        assert!(
            decode(&bytes[..bytes.len() - 1])
                .unwrap_err()
                .contains("bytes")
        );
        assert!(
            decode(b"nightjar.history.v0 2 00\n{}")
                .unwrap_err()
                .contains("format")
        );
    }
}
