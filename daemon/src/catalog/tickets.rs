//! `cw_tickets`: service tickets, the core of a technician's day.

use chrono::{Duration, Utc};
use schemas::event::{EffectPreview, FieldChange, RecordRef, Risk, UpstreamRequest};
use schemas::tool::params::{
    AddNote, Depth, OpenState, RecurringOnDevice, Taxonomy, TextSearch, TicketAssign, TicketClose,
    TicketCreate, TicketGet, TicketList, TicketNotes, TicketSimilar, TicketUpdate,
};
use serde_json::{Value, json};

use super::{Action, Ctx, Failure, Plan, Planning, clamp_limit};
use crate::connector::manage::{Literal, Op, PatchOp, Query, condition, in_list};
use crate::connector::{Call, Error};
use crate::view::{self, Kind};

pub(super) fn actions() -> Vec<Action> {
    vec![
        Action::read(
            "list",
            "Tickets by board, status, company, owner, age; open by default, newest first.",
            json!({"tool": "cw_tickets", "action": "list", "params": {"board_id": 1, "unassigned": true, "limit": 10}}),
            list,
        ),
        Action::read(
            "search",
            "Tickets whose summary contains the words given.",
            json!({"tool": "cw_tickets", "action": "search", "params": {"text": "printer", "state": "any"}}),
            search,
        ),
        Action::read(
            "get",
            "One ticket; depth `full` adds notes, time, tasks, configurations and RMM device health in one call.",
            json!({"tool": "cw_tickets", "action": "get", "params": {"id": 1042, "depth": "full"}}),
            get,
        ),
        Action::read(
            "notes",
            "A ticket's notes, oldest first, flagged internal / discussion / resolution.",
            json!({"tool": "cw_tickets", "action": "notes", "params": {"id": 1042}}),
            notes,
        ),
        Action::write(
            "add_note",
            "Add a note: internal by default; discussion or resolution notes are customer-visible.",
            Risk::Write,
            json!({"tool": "cw_tickets", "action": "add_note", "params": {"id": 1042, "text": "Checked the print spooler; restarted it."}, "confirm": true}),
            add_note,
        ),
        Action::write(
            "update",
            "Change status, priority, board, type, subtype, item or owner; only the fields given change.",
            Risk::Write,
            json!({"tool": "cw_tickets", "action": "update", "params": {"id": 1042, "priority_id": 2}, "confirm": true}),
            update,
        ),
        Action::write(
            "assign",
            "Make a member (by identifier) the ticket's owner.",
            Risk::Write,
            json!({"tool": "cw_tickets", "action": "assign", "params": {"id": 1042, "member": "jsmith"}, "confirm": true}),
            assign,
        ),
        Action::write(
            "create",
            "Open a new ticket for a company on a board.",
            Risk::Write,
            json!({"tool": "cw_tickets", "action": "create", "params": {"company_id": 2, "board_id": 1, "summary": "Outlook asks for the password again"}, "confirm": true}),
            create,
        ),
        Action::write(
            "close",
            "Close a ticket with the board's closed status (hard for the night agent).",
            Risk::Write,
            json!({"tool": "cw_tickets", "action": "close", "params": {"id": 1042}, "confirm": true}),
            close,
        )
        .hard_for_agent(),
        Action::read(
            "recurring_on_device",
            "Tickets in the last N days on the same device (configuration), to spot a recurring problem.",
            json!({"tool": "cw_tickets", "action": "recurring_on_device", "params": {"ticket_id": 1042, "days": 90}}),
            recurring_on_device,
        ),
        Action::write(
            "remote_session",
            "Open a ScreenConnect session on the ticket's device (ticket → configuration → RMM endpoint → session; asks when several match).",
            Risk::Hard,
            json!({"tool": "cw_tickets", "action": "remote_session", "params": {"ticket_id": 1042}, "confirm": true}),
            super::remote::remote_session,
        ),
        Action::write(
            "run_remediation",
            "Run an RMM script or a ScreenConnect command on the ticket's device, resolved across products.",
            Risk::Hard,
            json!({"tool": "cw_tickets", "action": "run_remediation", "params": {"ticket_id": 1042, "command": "ipconfig /flushdns"}, "confirm": true}),
            super::remote::run_remediation,
        ),
        Action::read(
            "similar",
            "Closed tickets most like a ticket or free text, with the labels the team gave them and how they were resolved: precedent for triage.",
            json!({"tool": "cw_tickets", "action": "similar", "params": {"id": 1042, "k": 6}}),
            similar,
        ),
        Action::read(
            "taxonomy",
            "Boards with their statuses, types, subtypes and items, and the priorities: the valid ids to choose from.",
            json!({"tool": "cw_tickets", "action": "taxonomy", "params": {}}),
            taxonomy,
        ),
    ]
}

fn open_condition(state: OpenState) -> Option<&'static str> {
    match state {
        OpenState::Open => Some("closedFlag = false"),
        OpenState::Closed => Some("closedFlag = true"),
        OpenState::Any => None,
    }
}

fn days_ago(ctx: &Ctx, days: u32) -> chrono::DateTime<Utc> {
    super::midnight(ctx.today - Duration::days(i64::from(days)))
}

/// Rows as the caller asked: raw when `fields` was given, compact otherwise.
fn shape(kind: Kind, rows: Vec<Value>, raw: bool) -> Vec<Value> {
    if raw {
        rows
    } else {
        view::compact_all(kind, &rows)
    }
}

async fn list(ctx: Ctx, call: Call, p: TicketList) -> Result<Value, Failure> {
    let mut query = Query::new().order_by("id desc");
    let mut add = |c: Result<String, Error>| -> Result<(), Failure> {
        let c = c?;
        query = std::mem::take(&mut query).and(c);
        Ok(())
    };
    if let Some(c) = open_condition(p.state) {
        add(Ok(c.to_owned()))?;
    }
    if let Some(board) = p.board_id {
        add(condition("board/id", Op::Eq, board))?;
    }
    if let Some(status) = &p.status {
        add(condition("status/name", Op::Eq, status.as_str()))?;
    }
    if let Some(company) = p.company_id {
        add(condition("company/id", Op::Eq, company))?;
    }
    if let Some(owner) = &p.owner {
        add(condition("owner/identifier", Op::Eq, owner.as_str()))?;
    }
    if p.unassigned {
        add(Ok("owner/id = null".to_owned()))?;
    }
    if let Some(days) = p.older_than_days {
        add(condition("dateEntered", Op::Le, days_ago(&ctx, days)))?;
    }
    if let Some(days) = p.newer_than_days {
        add(condition("dateEntered", Op::Ge, days_ago(&ctx, days)))?;
    }
    let raw = p.fields.is_some();
    if let Some(fields) = p.fields {
        query = query.fields(fields);
    }
    let listing = ctx
        .manage()?
        .list(&call, "/service/tickets", &query, clamp_limit(p.limit))
        .await?;
    Ok(json!({
        "count": listing.rows.len(),
        "truncated": listing.truncated,
        "tickets": shape(Kind::Ticket, listing.rows, raw),
    }))
}

async fn search(ctx: Ctx, call: Call, p: TextSearch) -> Result<Value, Failure> {
    let words: Vec<&str> = p.text.split_whitespace().collect();
    if words.is_empty() {
        return Err(Failure::invalid("`text` has no words to search for"));
    }
    let mut query = Query::new().order_by("id desc");
    if let Some(c) = open_condition(p.state) {
        query = query.and(c);
    }
    for word in words {
        query = query.and(condition("summary", Op::Contains, word)?);
    }
    let listing = ctx
        .manage()?
        .list(&call, "/service/tickets", &query, clamp_limit(p.limit))
        .await?;
    Ok(json!({
        "count": listing.rows.len(),
        "truncated": listing.truncated,
        "tickets": view::compact_all(Kind::Ticket, &listing.rows),
    }))
}

fn ticket_path(id: i64) -> String {
    format!("/service/tickets/{id}")
}

async fn get(ctx: Ctx, call: Call, p: TicketGet) -> Result<Value, Failure> {
    let manage = ctx.manage()?;
    if p.depth == Depth::Summary {
        let raw = p.fields.is_some();
        let query = Query::new().fields(p.fields.unwrap_or_default());
        let ticket = manage.get(&call, &ticket_path(p.id), &query).await?;
        return Ok(if raw {
            ticket
        } else {
            view::compact(Kind::Ticket, &ticket)
        });
    }
    if p.fields.is_some() {
        return Err(Failure::invalid(
            "`fields` is for depth `summary`; depth `full` returns compact views",
        ));
    }
    // Everything that hangs off the ticket id at once: one round trip for five reads.
    let base = ticket_path(p.id);
    let time_query = Query::new()
        .conditions(format!(
            "chargeToType = \"ServiceTicket\" and chargeToId = {}",
            p.id
        ))
        .order_by("timeStart asc");
    let plain = Query::new();
    let (notes_path, tasks_path, configurations_path) = (
        format!("{base}/notes"),
        format!("{base}/tasks"),
        format!("{base}/configurations"),
    );
    let (ticket, notes, time, tasks, configurations) = futures::try_join!(
        manage.get(&call, &base, &plain),
        manage.list(&call, &notes_path, &plain, 100),
        manage.list(&call, "/time/entries", &time_query, 100),
        manage.list(&call, &tasks_path, &plain, 100),
        manage.list(&call, &configurations_path, &plain, 25),
    )?;
    let devices = device_health(&ctx, &call, &configurations.rows).await;
    Ok(json!({
        "ticket": view::compact(Kind::Ticket, &ticket),
        "notes": notes.rows.iter().map(embedded_note).collect::<Vec<_>>(),
        "time": time.rows.iter().map(embedded_time).collect::<Vec<_>>(),
        "tasks": tasks.rows.iter().map(compact_task).collect::<Vec<_>>(),
        "configurations": view::compact_all(Kind::Configuration, &configurations.rows),
        "devices": devices,
    }))
}

/// A note inside a full ticket: the compact view with its three visibility flags folded into one
/// list of the ones that are set, and without what the ticket already says.
fn embedded_note(note: &Value) -> Value {
    let mut v = view::compact(Kind::Note, note);
    if let Some(map) = v.as_object_mut() {
        let mut flags = Vec::new();
        for (field, name) in [
            ("internalAnalysisFlag", "internal"),
            ("detailDescriptionFlag", "discussion"),
            ("resolutionFlag", "resolution"),
        ] {
            if map.remove(field).and_then(|f| f.as_bool()) == Some(true) {
                flags.push(name);
            }
        }
        map.insert("flags".into(), json!(flags));
        // `createdBy` repeats the member's or contact's name.
        for redundant in ["ticketId", "entered", "updated", "createdBy"] {
            map.remove(redundant);
        }
    }
    v
}

/// A time entry inside a full ticket: who, when, how long, billable how, and what was done (the
/// end is the start plus the hours).
fn embedded_time(entry: &Value) -> Value {
    let mut v = view::compact(Kind::TimeEntry, entry);
    if let Some(map) = v.as_object_mut() {
        for redundant in [
            "timeEnd",
            "chargeToType",
            "chargeToId",
            "company",
            "agreement",
            "workRole",
            "status",
            "entered",
            "updated",
        ] {
            map.remove(redundant);
        }
    }
    v
}

fn compact_task(task: &Value) -> Value {
    let mut out = serde_json::Map::new();
    for field in ["id", "notes", "closedFlag", "priority", "resolution"] {
        if let Some(v) = task.get(field).filter(|v| !v.is_null()) {
            out.insert(field.into(), v.clone());
        }
    }
    Value::Object(out)
}

/// RMM health of the devices behind `configurations` (their `deviceIdentifier` is the Asio
/// endpoint id): availability for all of them in one heartbeat request, then disk per device.
/// RMM being off or failing is reported in the answer, not as a failure of the ticket read.
async fn device_health(ctx: &Ctx, call: &Call, configurations: &[Value]) -> Value {
    let endpoints: Vec<(i64, String)> = configurations
        .iter()
        .filter_map(|c| {
            let ep = c["deviceIdentifier"].as_str().filter(|s| !s.is_empty())?;
            Some((c["id"].as_i64().unwrap_or_default(), ep.to_owned()))
        })
        .collect();
    if endpoints.is_empty() {
        return json!([]);
    }
    let asio = match ctx.connectors().and_then(|c| Ok(c.asio()?)) {
        Ok(a) => a,
        Err(e) => return json!({"unavailable": e.to_error()}),
    };
    let ids: Vec<&str> = endpoints.iter().map(|(_, e)| e.as_str()).collect();
    let resources = ids.join(",");
    // Availability for every device in one request, and each device's disk, all at once.
    let query = [
        ("resourceType", "endpoint"),
        ("resources", resources.as_str()),
    ];
    let heartbeat = asio.get_query(
        call,
        &["api", "platform", "v2", "device", "endpoints", "heartbeat"],
        &query,
    );
    let disks = futures::future::join_all(
        ids.iter()
            .map(|ep| async move { asio.get(call, &super::resolve::disk_path(ep)).await }),
    );
    let (beat, disks) = futures::join!(heartbeat, disks);
    let beats: Vec<Value> = match &beat {
        Ok(b) => b["successfulRecords"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|g| g["endpoints"].as_array().cloned().unwrap_or_default())
            .collect(),
        Err(_) => Vec::new(),
    };
    endpoints
        .iter()
        .zip(disks)
        .map(|((configuration_id, ep), disk)| {
            let b = beats.iter().find(|b| b["EndpointID"] == ep.as_str());
            let mut out = json!({"configuration_id": configuration_id, "endpoint_id": ep});
            match (b, &beat) {
                (Some(b), _) => {
                    out["online"] = b["Availability"].clone();
                    out["last_seen"] = b["DcDateTimeUTC"].clone();
                }
                (None, Err(e)) => out["heartbeat_error"] = json!(e.kind()),
                (None, Ok(_)) => out["heartbeat_error"] = json!("not_found"),
            }
            match disk {
                Ok(d) => {
                    if let Some((used_percent, free_gb)) = super::resolve::disk_figures(&d) {
                        out["disk_used_percent"] = json!(used_percent);
                        out["disk_free_gb"] = json!(free_gb);
                    }
                }
                Err(e) => out["disk_error"] = json!(e.kind()),
            }
            out
        })
        .collect()
}

async fn notes(ctx: Ctx, call: Call, p: TicketNotes) -> Result<Value, Failure> {
    let listing = ctx
        .manage()?
        .list(
            &call,
            &format!("{}/notes", ticket_path(p.id)),
            &Query::new().order_by("id asc"),
            clamp_limit(p.limit),
        )
        .await?;
    Ok(json!({
        "count": listing.rows.len(),
        "truncated": listing.truncated,
        "notes": view::compact_all(Kind::Note, &listing.rows),
    }))
}

fn ticket_ref(id: i64) -> Option<RecordRef> {
    Some(RecordRef {
        kind: "ticket".into(),
        id: id.to_string(),
    })
}

fn manage_request(method: &str, path: String, body: Value) -> UpstreamRequest {
    UpstreamRequest {
        product: "manage".into(),
        method: method.into(),
        path,
        body: Some(body),
    }
}

async fn add_note(ctx: Ctx, call: Call, p: AddNote, planning: Planning) -> Result<Plan, Failure> {
    if p.text.trim().is_empty() {
        return Err(Failure::invalid("`text` is empty"));
    }
    if !p.internal && !p.discussion && !p.resolution {
        return Err(Failure::invalid(
            "a note must be internal, discussion or resolution (or several)",
        ));
    }
    // Confirmed: the ticket must exist, and the preview names it.
    let ticket = if planning.confirmed {
        ctx.manage()?
            .get(
                &call,
                &ticket_path(p.id),
                &Query::new().fields(["id", "summary"]),
            )
            .await?
    } else {
        Value::Null
    };
    let customer_visible = p.discussion || p.resolution;
    let body = json!({
        "text": p.text,
        "internalAnalysisFlag": p.internal,
        "detailDescriptionFlag": p.discussion,
        "resolutionFlag": p.resolution,
    });
    let kinds: Vec<&str> = [
        (p.internal, "internal"),
        (p.discussion, "discussion"),
        (p.resolution, "resolution"),
    ]
    .iter()
    .filter(|(on, _)| *on)
    .map(|(_, k)| *k)
    .collect();
    Ok(Plan {
        request: manage_request("POST", format!("{}/notes", ticket_path(p.id)), body),
        effect: EffectPreview {
            summary: format!(
                "add {} {} note to ticket {}{}",
                if kinds.first() == Some(&"internal") {
                    "an"
                } else {
                    "a"
                },
                kinds.join(" + "),
                p.id,
                titled(&ticket)
            ),
            target: ticket_ref(p.id),
            changes: Vec::new(),
            amount: None,
            customer_visible_text: customer_visible.then(|| p.text.clone()),
            device: None,
        },
        customer_visible,
        observed: None,
        hard: false,
    })
}

/// A reference field a ticket update can change: parameter, ConnectWise field, what to call it.
const UPDATABLE: [(&str, &str); 7] = [
    ("status_id", "status"),
    ("priority_id", "priority"),
    ("board_id", "board"),
    ("type_id", "type"),
    ("subtype_id", "subType"),
    ("item_id", "item"),
    ("owner_id", "owner"),
];

fn reference_summary(v: &Value) -> Value {
    if v.is_null() {
        return Value::Null;
    }
    let mut out = json!({"id": v["id"]});
    if let Some(name) = v["name"].as_str().or(v["identifier"].as_str()) {
        out["name"] = json!(name);
    }
    out
}

/// ` (summary)` of a ticket that was read, nothing when it was not.
fn titled(ticket: &Value) -> String {
    ticket["summary"]
        .as_str()
        .map(|s| format!(" ({s})"))
        .unwrap_or_default()
}

/// Plans a PATCH of reference fields; confirmed, with before-values from the current ticket.
async fn plan_ticket_patch(
    ctx: &Ctx,
    call: &Call,
    id: i64,
    changes: &[(&str, i64)],
    summary: String,
    planning: Planning,
) -> Result<Plan, Failure> {
    let current = if planning.confirmed {
        ctx.manage()?
            .get(call, &ticket_path(id), &Query::new())
            .await?
    } else {
        Value::Null
    };
    let ops: Vec<PatchOp> = changes
        .iter()
        .map(|(field, value)| PatchOp::replace(&format!("{field}/id"), json!(value)))
        .collect();
    let preview = changes
        .iter()
        .map(|(field, value)| FieldChange {
            field: (*field).to_owned(),
            before: planning
                .confirmed
                .then(|| reference_summary(&current[*field])),
            after: Some(json!({"id": value})),
        })
        .collect();
    Ok(Plan {
        request: manage_request(
            "PATCH",
            ticket_path(id),
            serde_json::to_value(&ops).unwrap_or(Value::Null),
        ),
        effect: EffectPreview {
            summary: format!("{summary} on ticket {id}{}", titled(&current)),
            target: ticket_ref(id),
            changes: preview,
            amount: None,
            customer_visible_text: None,
            device: None,
        },
        customer_visible: false,
        observed: super::observed(&ticket_path(id), &current),
        hard: false,
    })
}

async fn update(
    ctx: Ctx,
    call: Call,
    p: TicketUpdate,
    planning: Planning,
) -> Result<Plan, Failure> {
    // ConnectWise refuses a board move whose status is not one of the new board's: without a
    // status, the move takes the new board's default open status (a lookup, even for a preview).
    let mut status_id = p.status_id;
    let mut status_note = "";
    if let (Some(board), None) = (p.board_id, p.status_id) {
        status_id = Some(default_status(&ctx, &call, board).await?);
        status_note = " (status: the new board's default, which a board move needs)";
    }
    let given = [
        status_id,
        p.priority_id,
        p.board_id,
        p.type_id,
        p.subtype_id,
        p.item_id,
        p.owner_id,
    ];
    let changes: Vec<(&str, i64)> = UPDATABLE
        .iter()
        .zip(given)
        .filter_map(|((_, field), v)| v.map(|v| (*field, v)))
        .collect();
    if changes.is_empty() {
        return Err(Failure::invalid(format!(
            "nothing to change: give at least one of {}",
            UPDATABLE.map(|(p, _)| p).join(", ")
        )));
    }
    let names: Vec<&str> = changes.iter().map(|(f, _)| *f).collect();
    plan_ticket_patch(
        &ctx,
        &call,
        p.id,
        &changes,
        format!("change {}{status_note}", names.join(", ")),
        planning,
    )
    .await
}

/// A board's default open status: the one flagged default, else the first open one by order.
async fn default_status(ctx: &Ctx, call: &Call, board: i64) -> Result<i64, Failure> {
    let statuses = ctx
        .manage()?
        .list(
            call,
            &format!("/service/boards/{board}/statuses"),
            &Query::new().order_by("sortOrder asc"),
            200,
        )
        .await?
        .rows;
    let open = |s: &&Value| s["closedStatus"].as_bool() != Some(true);
    statuses
        .iter()
        .filter(open)
        .find(|s| s["defaultFlag"].as_bool() == Some(true))
        .or_else(|| statuses.iter().find(open))
        .and_then(|s| s["id"].as_i64())
        .ok_or_else(|| Failure::invalid(format!("board {board} has no open status to move to")))
}

pub(super) async fn member_by_identifier(
    ctx: &Ctx,
    call: &Call,
    identifier: &str,
) -> Result<Value, Failure> {
    let rows = ctx
        .manage()?
        .list(
            call,
            "/system/members",
            &Query::new().conditions(condition("identifier", Op::Eq, identifier)?),
            2,
        )
        .await?
        .rows;
    rows.into_iter().next().ok_or_else(|| {
        Failure::invalid(format!(
            "no member has the identifier {identifier:?}; `cw_team members` lists them"
        ))
    })
}

async fn assign(
    ctx: Ctx,
    call: Call,
    p: TicketAssign,
    planning: Planning,
) -> Result<Plan, Failure> {
    // The exact request carries the member's id: a lookup even for a preview (a read, never a
    // write).
    let member = member_by_identifier(&ctx, &call, &p.member).await?;
    let member_id = member["id"].as_i64().unwrap_or_default();
    plan_ticket_patch(
        &ctx,
        &call,
        p.id,
        &[("owner", member_id)],
        format!("assign to {}", p.member),
        planning,
    )
    .await
}

async fn create(
    ctx: Ctx,
    call: Call,
    p: TicketCreate,
    planning: Planning,
) -> Result<Plan, Failure> {
    if p.summary.trim().is_empty() {
        return Err(Failure::invalid("`summary` is empty"));
    }
    if p.summary.chars().count() > 100 {
        return Err(Failure::invalid(
            "`summary` is longer than ConnectWise's 100 characters",
        ));
    }
    let company = if planning.confirmed {
        ctx.manage()?
            .get(
                &call,
                &format!("/company/companies/{}", p.company_id),
                &Query::new().fields(["id", "name", "identifier"]),
            )
            .await?
    } else {
        json!({"name": format!("company {}", p.company_id)})
    };
    let mut body = json!({
        "summary": p.summary,
        "board": {"id": p.board_id},
        "company": {"id": p.company_id},
    });
    let refs = [
        ("priority", p.priority_id),
        ("type", p.type_id),
        ("subType", p.subtype_id),
        ("contact", p.contact_id),
    ];
    for (field, id) in refs {
        if let Some(id) = id {
            body[field] = json!({"id": id});
        }
    }
    if let Some(d) = &p.description {
        body["initialDescription"] = json!(d);
    }
    Ok(Plan {
        request: manage_request("POST", "/service/tickets".into(), body),
        effect: EffectPreview {
            summary: format!(
                "open a ticket for {} on board {}: {}",
                company["name"].as_str().unwrap_or_default(),
                p.board_id,
                p.summary
            ),
            target: Some(RecordRef {
                kind: "company".into(),
                id: p.company_id.to_string(),
            }),
            changes: Vec::new(),
            amount: None,
            customer_visible_text: None,
            device: None,
        },
        customer_visible: false,
        observed: None,
        hard: false,
    })
}

async fn close(ctx: Ctx, call: Call, p: TicketClose, planning: Planning) -> Result<Plan, Failure> {
    if let (Some(status_id), false) = (p.status_id, planning.confirmed) {
        // The request is known from the parameters; the status is checked when confirmed.
        return Ok(close_plan(p.id, &Value::Null, status_id));
    }
    let manage = ctx.manage()?;
    let ticket = manage.get(&call, &ticket_path(p.id), &Query::new()).await?;
    if ticket["closedFlag"].as_bool() == Some(true) {
        return Err(Failure::invalid(format!(
            "ticket {} is already closed",
            p.id
        )));
    }
    let board = ticket["board"]["id"].as_i64().unwrap_or_default();
    let statuses = manage
        .list(
            &call,
            &format!("/service/boards/{board}/statuses"),
            &Query::new().order_by("sortOrder asc"),
            200,
        )
        .await?
        .rows;
    let closed: Vec<&Value> = statuses
        .iter()
        .filter(|s| s["closedStatus"].as_bool() == Some(true))
        .collect();
    let status_id = match p.status_id {
        Some(id) if closed.iter().any(|s| s["id"] == id) => id,
        Some(id) => {
            return Err(Failure::invalid(format!(
                "status {id} is not a closed status of board {board}; closed statuses: {}",
                closed
                    .iter()
                    .map(|s| format!("{} ({})", s["id"], s["name"].as_str().unwrap_or_default()))
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
        None => closed
            .first()
            .and_then(|s| s["id"].as_i64())
            .ok_or_else(|| Failure::invalid(format!("board {board} has no closed status")))?,
    };
    Ok(close_plan(p.id, &ticket, status_id))
}

fn close_plan(id: i64, ticket: &Value, status_id: i64) -> Plan {
    let ops = [PatchOp::replace("status/id", json!(status_id))];
    Plan {
        request: manage_request(
            "PATCH",
            ticket_path(id),
            serde_json::to_value(ops).unwrap_or(Value::Null),
        ),
        effect: EffectPreview {
            summary: format!("close ticket {id}{}", titled(ticket)),
            target: ticket_ref(id),
            changes: vec![FieldChange {
                field: "status".into(),
                before: Some(reference_summary(&ticket["status"])).filter(|v| !v.is_null()),
                after: Some(json!({"id": status_id})),
            }],
            amount: None,
            customer_visible_text: None,
            device: None,
        },
        customer_visible: false,
        observed: super::observed(&ticket_path(id), ticket),
        hard: false,
    }
}

/// The query `similar` shows back, in characters.
const SHOWN_QUERY: usize = 300;

async fn similar(ctx: Ctx, call: Call, p: TicketSimilar) -> Result<Value, Failure> {
    use schemas::tool::params::MAX_SIMILAR;
    if !(1..=MAX_SIMILAR).contains(&p.k) {
        return Err(Failure::invalid(format!(
            "`k` must be 1 to {MAX_SIMILAR}, got {}",
            p.k
        )));
    }
    let text = match (p.id, p.text) {
        (Some(_), None) => None,
        (None, Some(text)) if !text.trim().is_empty() => Some(text),
        (None, Some(_)) => return Err(Failure::invalid("`text` is empty")),
        _ => {
            return Err(Failure::invalid(
                "give exactly one of `id` (a ticket) or `text`",
            ));
        }
    };
    let Some(history) = &ctx.history else {
        return Err(Failure::NotConfigured {
            message: "this daemon has no ticket history index".into(),
            hint: "Nothing was sent. The index lives in `history/` in the daemon's state \
                   directory and is built from ConnectWise at start; an operator should check \
                   the daemon's log for why it is missing. Decide without precedents meanwhile."
                .into(),
        });
    };
    let text = match text {
        Some(text) => text,
        None => ticket_text(&ctx, &call, p.id.unwrap_or_default()).await?,
    };
    let index = history.read().await;
    let precedents = index.similar(&text, p.k as usize, None, p.id);
    let mut query = json!({"text": crate::history::cut(text.trim(), SHOWN_QUERY)});
    if let Some(id) = p.id {
        query["id"] = json!(id);
    }
    Ok(json!({
        "query": query,
        "indexed": index.len(),
        "precedents": precedents.iter().map(precedent).collect::<Vec<_>>(),
    }))
}

/// A ticket as `similar` matches it: its summary and initial description (two reads).
async fn ticket_text(ctx: &Ctx, call: &Call, id: i64) -> Result<String, Failure> {
    let manage = ctx.manage()?;
    let (path, notes_path) = (ticket_path(id), format!("{}/notes", ticket_path(id)));
    let (summary, notes) = (
        Query::new().fields(["id", "summary"]),
        crate::history::notes_query(),
    );
    let (ticket, notes) = futures::try_join!(
        manage.get(call, &path, &summary),
        manage.get(call, &notes_path, &notes),
    )?;
    Ok(format!(
        "{}\n{}",
        ticket["summary"].as_str().unwrap_or_default(),
        crate::history::initial_description(&notes)
    ))
}

/// A precedent as `similar` shows it: labels as `{id, name}`, the day it closed, no nulls.
fn precedent(p: &crate::history::Precedent) -> Value {
    let mut v = json!({
        "id": p.id,
        "closed": p.closed.date_naive().to_string(),
        "summary": p.summary,
        "score": (p.score * 100.0).round() / 100.0,
    });
    let labels = [
        ("board", &p.board),
        ("type", &p.kind),
        ("subtype", &p.sub_type),
        ("priority", &p.priority),
    ];
    for (key, label) in labels {
        if let Some(l) = label {
            v[key] = json!({"id": l.id, "name": l.name});
        }
    }
    if !p.resolution.is_empty() {
        v["resolution"] = json!(p.resolution);
    }
    v
}

async fn recurring_on_device(ctx: Ctx, call: Call, p: RecurringOnDevice) -> Result<Value, Failure> {
    let manage = ctx.manage()?;
    let configuration_id = match (p.configuration_id, p.ticket_id) {
        (Some(c), None) => c,
        (None, Some(t)) => {
            let linked = manage
                .list(
                    &call,
                    &format!("{}/configurations", ticket_path(t)),
                    &Query::new(),
                    25,
                )
                .await?
                .rows;
            match linked.as_slice() {
                [] => {
                    return Err(Failure::invalid(format!(
                        "ticket {t} has no configuration (device) linked"
                    )));
                }
                [one] => one["id"].as_i64().unwrap_or_default(),
                many => {
                    return Err(Failure::Ambiguous {
                        message: format!(
                            "ticket {t} has {} configurations linked; say which device",
                            many.len()
                        ),
                        candidates: view::compact_all(Kind::Configuration, many),
                    });
                }
            }
        }
        _ => {
            return Err(Failure::invalid(
                "give exactly one of `configuration_id` or `ticket_id`",
            ));
        }
    };
    let device = manage
        .get(
            &call,
            &format!("/company/configurations/{configuration_id}"),
            &Query::new(),
        )
        .await?;
    let company = device["company"]["id"].as_i64().unwrap_or_default();
    // The company's tickets in the window, then each one's linked configurations: a fan-out,
    // projected against the call's budget before it starts.
    let candidates = manage
        .list(
            &call,
            "/service/tickets",
            &Query::new()
                .conditions(condition("company/id", Op::Eq, company)?)
                .and(condition("dateEntered", Op::Ge, days_ago(&ctx, p.days))?)
                .order_by("id desc")
                .fields(["id"]),
            200,
        )
        .await?
        .rows;
    let ids: Vec<i64> = candidates.iter().filter_map(|t| t["id"].as_i64()).collect();
    // One request per ticket, and one to read the matches in full.
    call.project_calls(
        ids.len() as u64 + 1,
        &format!("checking the devices of {} tickets", ids.len()),
    )?;
    let links = futures::future::try_join_all(ids.iter().map(|id| {
        let path = format!("{}/configurations", ticket_path(*id));
        let manage = &manage;
        let call = &call;
        async move {
            let rows = manage
                .list(call, &path, &Query::new().fields(["id"]), 25)
                .await?
                .rows;
            Ok::<_, Error>((*id, rows))
        }
    }))
    .await?;
    let on_device: Vec<Literal> = links
        .into_iter()
        .filter(|(_, rows)| rows.iter().any(|r| r["id"] == configuration_id))
        .map(|(id, _)| Literal::Int(id))
        .collect();
    let tickets = if on_device.is_empty() {
        Vec::new()
    } else {
        manage
            .list(
                &call,
                "/service/tickets",
                &Query::new()
                    .conditions(in_list("id", &on_device)?)
                    .order_by("id desc"),
                on_device.len(),
            )
            .await?
            .rows
    };
    let count = tickets.len();
    Ok(json!({
        "device": view::compact(Kind::Configuration, &device),
        "days": p.days,
        "count": count,
        "recurring": count >= 3,
        "tickets": view::compact_all(Kind::Ticket, &tickets),
    }))
}

fn named(rows: &[Value], extra: &[&str]) -> Vec<Value> {
    rows.iter()
        .filter(|r| r["inactiveFlag"].as_bool() != Some(true))
        .map(|r| {
            let mut out = json!({"id": r["id"], "name": r["name"]});
            for field in extra {
                if let Some(v) = r.get(*field).filter(|v| !v.is_null()) {
                    out[*field] = v.clone();
                }
            }
            out
        })
        .collect()
}

async fn taxonomy(ctx: Ctx, call: Call, p: Taxonomy) -> Result<Value, Failure> {
    let manage = ctx.manage()?;
    let mut board_query = Query::new().order_by("id asc");
    if let Some(id) = p.board_id {
        board_query = board_query.conditions(condition("id", Op::Eq, id)?);
    } else {
        board_query = board_query.conditions("inactiveFlag = false");
    }
    let by_order = Query::new().order_by("sortOrder asc");
    let (boards, priorities) = futures::try_join!(
        manage.list(&call, "/service/boards", &board_query, 100),
        manage.list(&call, "/service/priorities", &by_order, 100),
    )?;
    if boards.rows.is_empty() {
        return Err(Failure::invalid(match p.board_id {
            Some(id) => format!("no active board has the id {id}"),
            None => "there are no active boards".to_owned(),
        }));
    }
    call.project_calls(
        4 * boards.rows.len() as u64,
        "reading every board's statuses, types, subtypes and items",
    )?;
    let per_board = futures::future::try_join_all(boards.rows.iter().map(|b| {
        let id = b["id"].as_i64().unwrap_or_default();
        let manage = &manage;
        let call = &call;
        async move {
            let path = |child: &str| format!("/service/boards/{id}/{child}");
            let (sorted, plain) = (Query::new().order_by("sortOrder asc"), Query::new());
            let paths = [
                path("statuses"),
                path("types"),
                path("subtypes"),
                path("items"),
            ];
            let (statuses, types, subtypes, items) = futures::try_join!(
                manage.list(call, &paths[0], &sorted, 200),
                manage.list(call, &paths[1], &plain, 200),
                manage.list(call, &paths[2], &plain, 200),
                manage.list(call, &paths[3], &plain, 200),
            )?;
            Ok::<_, Error>(json!({
                "id": id,
                "name": b["name"],
                "statuses": named(&statuses.rows, &["closedStatus"]),
                "types": named(&types.rows, &[]),
                "subtypes": named(&subtypes.rows, &[]),
                "items": named(&items.rows, &[]),
            }))
        }
    }))
    .await?;
    Ok(json!({
        "boards": per_board,
        "priorities": named(&priorities.rows, &["sortOrder"]),
    }))
}
