//! Work items: a run cut into pieces small enough for one short conversation each. The items are
//! found with reads over the same MCP session the model's calls use (the gate logs them like
//! any other read).

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::session::Session;
use crate::skill::WorkItems;

/// One item: what the model is given, and the values it may choose from.
#[derive(Debug, Clone, PartialEq)]
pub struct WorkItem {
    /// Stable across a resume: `ticket:1234`, `member_week:7:2026-02-23`, `agreement:12`.
    pub id: String,
    /// `ticket`, `member_week`, `agreement_utilization`, `agreement`.
    pub kind: String,
    /// One line for the feed (a ticket's summary, a member and week).
    pub subject: String,
    /// The item's record(s), shown to the model as quoted data.
    pub data: Value,
    /// Valid values of an argument, as (tool or `*`, argument, values): `cw_tickets` `id` -> this
    /// ticket only, `*` `board_id` -> the active boards. Enforced before a call leaves the agent.
    pub enums: Vec<(String, String, Vec<Value>)>,
    /// Like `enums`, but checked without being shown to the model (the item's own ids): the
    /// functions the model sees stay identical across items.
    pub pins: Vec<(String, String, Vec<Value>)>,
    /// Arguments the model may not set for this item at all (triage never sets the status).
    pub forbidden: Vec<String>,
    /// The valid choices in words, for the prompt (`board 1 = Help Desk`, ...).
    pub choices: String,
    /// Triage: the tenant's taxonomy and the most similar closed tickets. With precedents, the
    /// item is one grounded decision ([`crate::triage`]) instead of a conversation.
    pub grounding: Option<Grounding>,
}

/// What a grounded triage decision needs besides the ticket.
#[derive(Debug, Clone, PartialEq)]
pub struct Grounding {
    pub taxonomy: crate::triage::Taxonomy,
    /// The ticket's summary and initial description, as the history index read them.
    pub description: String,
    pub precedents: Vec<crate::triage::Precedent>,
}

/// Settings that shape a run's items.
#[derive(Debug, Clone, PartialEq)]
pub struct ItemOptions {
    /// Triage only these boards (ids); empty: every board.
    pub boards: Vec<i64>,
    /// Renewal: agreements ending within this many days.
    pub expiring_days: u32,
    /// At most this many items per run (the rest wait for the next run).
    pub max_items: usize,
    /// Triage: the similar closed tickets shown per decision (0: no grounded decisions).
    pub precedents: u32,
}

impl Default for ItemOptions {
    fn default() -> Self {
        ItemOptions {
            boards: Vec::new(),
            expiring_days: 90,
            max_items: 50,
            precedents: 6,
        }
    }
}

/// The reads [`enumerate`] makes, which the run's session must allow besides the skill's own
/// actions.
pub fn reads(kind: WorkItems) -> &'static [&'static str] {
    match kind {
        WorkItems::NewTickets => &[
            "cw_tickets.list",
            "cw_tickets.taxonomy",
            "cw_tickets.similar",
        ],
        WorkItems::MemberWeeks => &["cw_time.weekly_validation", "cw_agreements.utilization"],
        WorkItems::ExpiringAgreements => &["cw_agreements.expiring"],
    }
}

/// The run's items, in a stable order.
pub async fn enumerate(
    kind: WorkItems,
    session: &Session,
    options: &ItemOptions,
) -> Result<Vec<WorkItem>, String> {
    let mut items = match kind {
        WorkItems::NewTickets => new_tickets(session, options).await?,
        WorkItems::MemberWeeks => member_weeks(session).await?,
        WorkItems::ExpiringAgreements => expiring(session, options).await?,
    };
    items.truncate(options.max_items);
    Ok(items)
}

fn enumerate_of(tool: &str, field: &str, values: Vec<Value>) -> (String, String, Vec<Value>) {
    (tool.to_owned(), field.to_owned(), values)
}

fn ids(rows: &Value) -> Vec<Value> {
    rows.as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| r.get("id").cloned())
        .collect()
}

fn named(rows: &Value) -> String {
    rows.as_array()
        .into_iter()
        .flatten()
        .map(|r| format!("{} {}", r["id"], r["name"].as_str().unwrap_or("")))
        .collect::<Vec<_>>()
        .join("; ")
}

async fn new_tickets(session: &Session, options: &ItemOptions) -> Result<Vec<WorkItem>, String> {
    let taxonomy = session.read("cw_tickets", "taxonomy", json!({})).await?;
    let boards = &taxonomy["boards"];
    let board_ids = ids(boards);
    let wanted: Vec<Value> = if options.boards.is_empty() {
        vec![Value::Null]
    } else {
        options.boards.iter().map(|b| json!(b)).collect()
    };
    let mut tickets: Vec<Value> = Vec::new();
    for board in wanted {
        let mut params = json!({"status": "New", "unassigned": true, "limit": 200});
        if !board.is_null() {
            params["board_id"] = board;
        }
        let found = session.read("cw_tickets", "list", params).await?;
        tickets.extend(found["tickets"].as_array().cloned().unwrap_or_default());
    }
    tickets.sort_by_key(|t| t["id"].as_i64().unwrap_or_default());
    tickets.dedup_by_key(|t| t["id"].as_i64().unwrap_or_default());

    let mut types = Vec::new();
    let mut subtypes = Vec::new();
    let mut items = Vec::new();
    let mut choices = format!("Boards: {}.\n", named(boards));
    for b in boards.as_array().into_iter().flatten() {
        choices.push_str(&format!(
            "On board {} ({}): types {}; subtypes {}; items {}.\n",
            b["id"],
            b["name"].as_str().unwrap_or(""),
            named(&b["types"]),
            named(&b["subtypes"]),
            named(&b["items"]),
        ));
        types.extend(ids(&b["types"]));
        subtypes.extend(ids(&b["subtypes"]));
        items.extend(ids(&b["items"]));
    }
    choices.push_str(&format!(
        "Priorities (first is the most urgent): {}.",
        named(&taxonomy["priorities"])
    ));
    let priorities = ids(&taxonomy["priorities"]);
    for list in [&mut types, &mut subtypes, &mut items] {
        list.sort_by_key(|v| v.as_i64());
        list.dedup();
    }
    let grounding_taxonomy = crate::triage::Taxonomy::from_read(&taxonomy);
    tickets.truncate(options.max_items);
    let mut grounded = Vec::with_capacity(tickets.len());
    // Without a history (no index on this daemon) the first read says so; the rest are not
    // asked.
    let mut history = options.precedents > 0;
    for t in &tickets {
        grounded.push(match history {
            true => match ground(session, t, &grounding_taxonomy, options.precedents).await {
                Ok(g) => g,
                Err(()) => {
                    history = false;
                    None
                }
            },
            false => None,
        });
    }
    Ok(tickets
        .into_iter()
        .zip(grounded)
        .map(|(t, grounding)| {
            let id = t["id"].as_i64().unwrap_or_default();
            WorkItem {
                id: format!("ticket:{id}"),
                kind: "ticket".into(),
                subject: format!("#{id} {}", t["summary"].as_str().unwrap_or("")),
                pins: vec![
                    enumerate_of("cw_tickets", "id", vec![json!(id)]),
                    enumerate_of("cw_companies", "id", vec![t["company"]["id"].clone()]),
                ],
                enums: vec![
                    enumerate_of("*", "board_id", board_ids.clone()),
                    enumerate_of("*", "type_id", types.clone()),
                    enumerate_of("*", "subtype_id", subtypes.clone()),
                    enumerate_of("*", "item_id", items.clone()),
                    enumerate_of("*", "priority_id", priorities.clone()),
                ],
                forbidden: vec!["status_id".into(), "owner_id".into()],
                choices: choices.clone(),
                grounding,
                data: t,
            }
        })
        .collect())
}

/// The precedents of a new ticket from the shop's history (`cw_tickets similar`). `Ok(None)`
/// when there is nothing to ground in (no similar ticket), `Err` when the history cannot be read
/// at all: the item is then a conversation.
async fn ground(
    session: &Session,
    ticket: &Value,
    taxonomy: &crate::triage::Taxonomy,
    k: u32,
) -> Result<Option<Grounding>, ()> {
    let Some(id) = ticket["id"].as_i64() else {
        return Ok(None);
    };
    let found = session
        .read("cw_tickets", "similar", json!({"id": id, "k": k}))
        .await
        .map_err(|_| ())?;
    let precedents: Vec<crate::triage::Precedent> = found["precedents"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(crate::triage::Precedent::from_read)
        .collect();
    if precedents.is_empty() || taxonomy.boards.is_empty() {
        return Ok(None);
    }
    let description = found["query"]["text"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    Ok(Some(Grounding {
        taxonomy: taxonomy.clone(),
        description,
        precedents,
    }))
}

async fn member_weeks(session: &Session) -> Result<Vec<WorkItem>, String> {
    let report = session
        .read("cw_time", "weekly_validation", json!({}))
        .await?;
    let from = report["from"].as_str().unwrap_or("").to_owned();
    let to = report["to"].as_str().unwrap_or("").to_owned();
    let mut by_member: BTreeMap<i64, Vec<Value>> = BTreeMap::new();
    for f in report["findings"].as_array().into_iter().flatten() {
        // An agreement's findings (no member) are the utilization items below.
        let Some(member) = f["member_id"].as_i64() else {
            continue;
        };
        by_member.entry(member).or_default().push(f.clone());
    }
    let mut out: Vec<WorkItem> = by_member
        .into_iter()
        .map(|(member, findings)| {
            let mut entries: Vec<Value> = findings
                .iter()
                .flat_map(|f| f["entry_ids"].as_array().cloned().unwrap_or_default())
                .collect();
            entries.sort_by_key(Value::as_i64);
            entries.dedup();
            WorkItem {
                id: format!("member_week:{member}:{from}"),
                kind: "member_week".into(),
                subject: format!(
                    "member {member}, week {from} to {to}: {} findings",
                    findings.len()
                ),
                data: json!({"member_id": member, "from": from, "to": to, "findings": findings}),
                enums: Vec::new(),
                pins: vec![enumerate_of("cw_time", "id", entries)],
                forbidden: vec!["time_start".into(), "time_end".into()],
                choices: String::new(),
                grounding: None,
            }
        })
        .collect();

    let utilization = session
        .read("cw_agreements", "utilization", json!({}))
        .await?;
    for a in utilization["agreements"].as_array().into_iter().flatten() {
        let class = a["class"].as_str().unwrap_or("normal");
        if class == "normal" {
            continue;
        }
        let id = a["agreement_id"].as_i64().unwrap_or_default();
        out.push(WorkItem {
            id: format!("agreement_utilization:{id}:{from}"),
            kind: "agreement_utilization".into(),
            subject: format!(
                "agreement {id}: {class} its hours ({} of {})",
                a["used_hours"], a["limit_hours"]
            ),
            data: json!({"agreement": a, "window": {"from": utilization["from"], "to": utilization["to"]}}),
            enums: Vec::new(),
            pins: vec![enumerate_of("cw_agreements", "id", vec![json!(id)])],
            forbidden: Vec::new(),
            choices: String::new(),
            grounding: None,
        });
    }
    Ok(out)
}

async fn expiring(session: &Session, options: &ItemOptions) -> Result<Vec<WorkItem>, String> {
    let found = session
        .read(
            "cw_agreements",
            "expiring",
            json!({"days": options.expiring_days}),
        )
        .await?;
    Ok(found["expiring"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|a| {
            let id = a["agreement_id"].as_i64().unwrap_or_default();
            WorkItem {
                id: format!("agreement:{id}"),
                kind: "agreement".into(),
                subject: format!(
                    "agreement {id} {} ends {} ({} days)",
                    a["name"].as_str().unwrap_or(""),
                    a["end_date"].as_str().unwrap_or(""),
                    a["days_left"]
                ),
                enums: Vec::new(),
                pins: vec![
                    enumerate_of("cw_agreements", "id", vec![json!(id)]),
                    enumerate_of("cw_companies", "id", vec![a["company_id"].clone()]),
                    enumerate_of("*", "company_id", vec![a["company_id"].clone()]),
                ],
                forbidden: Vec::new(),
                choices: String::new(),
                grounding: None,
                data: a.clone(),
            }
        })
        .collect())
}
