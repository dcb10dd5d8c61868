//! The Manage endpoint index (all 3,051 operations, compiled in) and the ranked search behind
//! `cw_meta search`: BM25 over path, summary, tag and model names, with MSP synonyms ("ticket" /
//! "service request", "technician" / "member", ...) and the intent of the verb ("add" prefers
//! POST, "change" PATCH, "remove" DELETE, "list" and "who" GET).

pub mod bm25;

use std::collections::HashMap;
use std::sync::LazyLock;

use serde::Deserialize;

use self::bm25::{STOP, words};

/// One Manage operation.
#[derive(Debug, Clone, Deserialize)]
pub struct Operation {
    pub tag: String,
    pub method: String,
    pub path: String,
    pub summary: String,
    #[serde(default)]
    pub query: Vec<serde_json::Value>,
    #[serde(default, rename = "requestBody")]
    pub request_body: Option<String>,
    #[serde(default)]
    pub response: Option<String>,
}

#[derive(Deserialize)]
struct IndexFile {
    operations: Vec<Operation>,
}

static INDEX: LazyLock<Index> = LazyLock::new(|| {
    let file: IndexFile = serde_json::from_str(include_str!(
        "../data/manage-endpoints-2025.1.json"
    ))
    .unwrap_or(IndexFile {
        operations: Vec::new(),
    });
    Index::new(file.operations)
});

/// The compiled-in index.
pub fn index() -> &'static Index {
    &INDEX
}

/// A search result.
#[derive(Debug, Clone)]
pub struct Hit<'a> {
    pub operation: &'a Operation,
    pub score: f64,
}

/// BM25 over the operations' words.
#[derive(Debug)]
pub struct Index {
    operations: Vec<Operation>,
    docs: Vec<HashMap<String, f64>>,
    lengths: Vec<f64>,
    average_length: f64,
    document_frequency: HashMap<String, usize>,
}

/// Words with the same meaning in an MSP's mouth and in Manage's paths; each group's first word
/// is the one Manage uses.
const SYNONYMS: &[&[&str]] = &[
    &["ticket", "service", "request", "issue", "case", "incident"],
    &["company", "client", "customer", "account"],
    &[
        "member",
        "technician",
        "tech",
        "employee",
        "engineer",
        "user",
        "staff",
    ],
    &["time", "timesheet", "hours", "worked"],
    &["agreement", "contract", "subscription"],
    &["addition", "add-on", "addon", "line"],
    &[
        "configuration",
        "device",
        "asset",
        "computer",
        "machine",
        "config",
    ],
    &["opportunity", "deal", "pipeline"],
    &["invoice", "bill", "billing"],
    &["expense", "expenses", "reimbursement"],
    &["purchaseorder", "po"],
    &["schedule", "calendar", "appointment", "dispatch"],
    &["contact", "person", "people"],
    &["note", "comment"],
    &["audit", "history", "approved", "changed", "who"],
    &["board", "queue"],
    &["priority", "urgency"],
    &["status", "state"],
];

const WRITE_WORDS: &[(&str, &str)] = &[
    ("add", "POST"),
    ("create", "POST"),
    ("new", "POST"),
    ("post", "POST"),
    ("log", "POST"),
    ("update", "PATCH"),
    ("change", "PATCH"),
    ("edit", "PATCH"),
    ("modify", "PATCH"),
    ("set", "PATCH"),
    ("rename", "PATCH"),
    ("delete", "DELETE"),
    ("remove", "DELETE"),
];

const READ_WORDS: &[&str] = &[
    "list", "get", "show", "find", "search", "who", "what", "which", "view", "count", "how",
];

fn canonical(word: &str) -> &str {
    SYNONYMS
        .iter()
        .find(|group| group.contains(&word))
        .map(|group| group[0])
        .unwrap_or(word)
}

impl Index {
    pub fn new(operations: Vec<Operation>) -> Index {
        let mut docs = Vec::with_capacity(operations.len());
        let mut lengths = Vec::with_capacity(operations.len());
        let mut document_frequency: HashMap<String, usize> = HashMap::new();
        for op in &operations {
            let mut terms: HashMap<String, f64> = HashMap::new();
            // The path says what an operation touches; it weighs most.
            let fields: [(&str, f64); 5] = [
                (op.path.as_str(), 2.0),
                (op.summary.as_str(), 1.0),
                (op.tag.as_str(), 1.0),
                (op.request_body.as_deref().unwrap_or(""), 0.5),
                (op.response.as_deref().unwrap_or(""), 0.5),
            ];
            for (text, weight) in fields {
                for word in words(text) {
                    // Path placeholders (`{parentId}`) say nothing about what is touched.
                    if matches!(word.as_str(), "id" | "parent" | "grandparent") {
                        continue;
                    }
                    *terms.entry(canonical(&word).to_owned()).or_default() += weight;
                }
            }
            for term in terms.keys() {
                *document_frequency.entry(term.clone()).or_default() += 1;
            }
            lengths.push(terms.values().sum());
            docs.push(terms);
        }
        let average_length = lengths.iter().sum::<f64>() / lengths.len().max(1) as f64;
        Index {
            operations,
            docs,
            lengths,
            average_length,
            document_frequency,
        }
    }

    pub fn len(&self) -> usize {
        self.operations.len()
    }

    pub fn is_empty(&self) -> bool {
        self.operations.is_empty()
    }

    pub fn operations(&self) -> &[Operation] {
        &self.operations
    }

    /// The `limit` best operations for a plain-language query.
    pub fn search(&self, query: &str, limit: usize) -> Vec<Hit<'_>> {
        let raw: Vec<String> = words(query);
        let method = raw
            .iter()
            .find_map(|w| WRITE_WORDS.iter().find(|(k, _)| k == w).map(|(_, m)| *m));
        let reads = raw.iter().any(|w| READ_WORDS.contains(&w.as_str()));
        let wants_count = raw.iter().any(|w| w == "count" || w == "how");
        let wants_one = raw
            .iter()
            .any(|w| w == "one" || w == "single" || w == "detail" || w == "details");
        let terms: Vec<&str> = raw
            .iter()
            .filter(|w| !STOP.contains(&w.as_str()))
            .filter(|w| {
                !WRITE_WORDS.iter().any(|(k, _)| k == w) && !READ_WORDS.contains(&w.as_str())
                    || *w == "who"
            })
            .map(|w| canonical(w))
            .collect();
        let n = self.operations.len() as f64;
        let mut hits: Vec<Hit<'_>> = self
            .operations
            .iter()
            .enumerate()
            .map(|(i, op)| {
                let doc = &self.docs[i];
                let mut score = 0.0;
                for term in &terms {
                    let Some(tf) = doc.get(*term) else { continue };
                    let df = *self.document_frequency.get(*term).unwrap_or(&0) as f64;
                    score +=
                        bm25::idf(n, df) * bm25::weight(*tf, self.lengths[i], self.average_length);
                }
                if score > 0.0 {
                    score += intent_bonus(op, method, reads, wants_count, wants_one);
                }
                Hit {
                    operation: op,
                    score,
                }
            })
            .filter(|h| h.score > 0.0)
            .collect();
        hits.sort_by(|a, b| {
            b.score
                .total_cmp(&a.score)
                .then_with(|| a.operation.path.len().cmp(&b.operation.path.len()))
        });
        hits.truncate(limit);
        hits
    }
}

/// Prefer the method the verb asks for, collections for lists, `/count` only when counting.
fn intent_bonus(
    op: &Operation,
    method: Option<&str>,
    reads: bool,
    wants_count: bool,
    wants_one: bool,
) -> f64 {
    let mut bonus = 0.0;
    match method {
        Some(m) if op.method == m || (m == "PATCH" && op.method == "PUT") => {
            bonus += if op.method == m { 3.0 } else { 1.0 }
        }
        Some(_) => {}
        None if op.method == "GET" => bonus += if reads { 3.0 } else { 1.5 },
        None => {}
    }
    let is_count = op.path.ends_with("/count");
    if is_count != wants_count {
        bonus -= 2.0;
    }
    let is_item = op.path.ends_with("{id}");
    if op.method == "GET" && is_item != wants_one {
        bonus -= 1.0;
    }
    // Bulk, merge and info variants are rarely what a plain question means.
    if ["/bulk", "/info", "/merge", "/usages", "/copy"]
        .iter()
        .any(|s| op.path.contains(s))
    {
        bonus -= 1.5;
    }
    bonus
}

/// The naive baseline the tests compare with: operations ranked by how many query words occur as
/// substrings of their path and summary.
pub fn substring_search<'a>(
    operations: &'a [Operation],
    query: &str,
    limit: usize,
) -> Vec<&'a Operation> {
    let words: Vec<String> = query
        .to_lowercase()
        .split_whitespace()
        .filter(|w| !STOP.contains(w))
        .map(str::to_owned)
        .collect();
    let mut scored: Vec<(usize, &Operation)> = operations
        .iter()
        .map(|op| {
            let text = format!("{} {}", op.path, op.summary).to_lowercase();
            (
                words.iter().filter(|w| text.contains(w.as_str())).count(),
                op,
            )
        })
        .filter(|(s, _)| *s > 0)
        .collect();
    scored.sort_by_key(|s| std::cmp::Reverse(s.0));
    scored.into_iter().take(limit).map(|(_, op)| op).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (query, expected method, expected path): what an MSP would type, and the operation meant.
    const CASES: &[(&str, &str, &str)] = &[
        (
            "add a note to a ticket",
            "POST",
            "/service/tickets/{parentId}/notes",
        ),
        (
            "list notes on a service request",
            "GET",
            "/service/tickets/{parentId}/notes",
        ),
        (
            "who approved this expense",
            "GET",
            "/expense/entries/{parentId}/audits",
        ),
        (
            "list agreement additions",
            "GET",
            "/finance/agreements/{parentId}/additions",
        ),
        (
            "add an addition to an agreement",
            "POST",
            "/finance/agreements/{parentId}/additions",
        ),
        ("create a ticket", "POST", "/service/tickets"),
        ("update a ticket", "PATCH", "/service/tickets/{id}"),
        ("delete a ticket", "DELETE", "/service/tickets/{id}"),
        ("how many tickets", "GET", "/service/tickets/count"),
        ("list time entries", "GET", "/time/entries"),
        ("log time", "POST", "/time/entries"),
        ("list companies", "GET", "/company/companies"),
        ("find a client", "GET", "/company/companies"),
        ("list contacts", "GET", "/company/contacts"),
        ("list technicians", "GET", "/system/members"),
        ("list configurations", "GET", "/company/configurations"),
        ("list devices", "GET", "/company/configurations"),
        ("list invoices", "GET", "/finance/invoices"),
        ("create an invoice", "POST", "/finance/invoices"),
        ("list opportunities", "GET", "/sales/opportunities"),
        ("list schedule entries", "GET", "/schedule/entries"),
        ("list projects", "GET", "/project/projects"),
        ("list service boards", "GET", "/service/boards"),
        (
            "list board statuses",
            "GET",
            "/service/boards/{parentId}/statuses",
        ),
        ("list priorities", "GET", "/service/priorities"),
        ("list expense entries", "GET", "/expense/entries"),
        ("approve a time sheet", "POST", "/time/sheets/{id}/approve"),
        (
            "list purchase order line items",
            "GET",
            "/procurement/purchaseorders/{parentId}/lineitems",
        ),
        ("list agreements", "GET", "/finance/agreements"),
        ("list work types", "GET", "/time/workTypes"),
        (
            "list ticket tasks",
            "GET",
            "/service/tickets/{parentId}/tasks",
        ),
        ("change a contact", "PATCH", "/company/contacts/{id}"),
    ];

    #[test]
    fn plain_language_queries_find_the_operation_in_the_top_three_better_than_substrings() {
        let index = index();
        assert_eq!(index.len(), 3051);
        let mut ranked = 0;
        let mut naive = 0;
        let mut misses = Vec::new();
        for (query, method, path) in CASES {
            let hit = |m: &str, p: &str| m == *method && p == *path;
            if index
                .search(query, 3)
                .iter()
                .any(|h| hit(&h.operation.method, &h.operation.path))
            {
                ranked += 1;
            } else {
                let top: Vec<String> = index
                    .search(query, 3)
                    .iter()
                    .map(|h| format!("{} {}", h.operation.method, h.operation.path))
                    .collect();
                misses.push(format!("{query}: {top:?}"));
            }
            if substring_search(index.operations(), query, 3)
                .iter()
                .any(|op| hit(&op.method, &op.path))
            {
                naive += 1;
            }
        }
        let total = CASES.len();
        println!("cw_meta search top-3: ranked {ranked}/{total}, substring {naive}/{total}");
        assert!(total >= 30);
        assert!(
            ranked * 10 >= total * 9,
            "ranked search {ranked}/{total}; misses:\n{}",
            misses.join("\n")
        );
        assert!(ranked > naive, "ranked {ranked} vs substring {naive}");
    }
}
