//! Manage writes: POST validated against required fields, types, max lengths, enums and
//! references; PATCH as a JSON Patch array (`add | replace | remove`); DELETE. Failures answer 400
//! `{code: "InvalidObject", message: "<resource> object is invalid", errors: [...]}` like the real
//! API, e.g. `"Service Status 17 not found for Service Board 21"` on field `status/id`.

use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};

use super::{Params, find, render};
use crate::catalog::{self, Model};
use crate::error::{CwError, ValidationError};
use crate::query::parse_datetime;
use crate::server::{Reply, Req, Shared};
use crate::tenant::{Kind, Tenant, ts};

type Record = Map<String, Value>;

/// The member the API keys belong to: writes are recorded as made by it.
const ACTOR: &str = "SandboxAPI";

/// Reference fields of each writable kind and what they point at.
fn references(kind: Kind) -> &'static [(&'static str, Kind)] {
    match kind {
        Kind::Ticket => &[
            ("company", Kind::Company),
            ("board", Kind::Board),
            ("status", Kind::BoardStatus),
            ("type", Kind::BoardType),
            ("subType", Kind::BoardSubType),
            ("item", Kind::BoardItem),
            ("priority", Kind::Priority),
            ("contact", Kind::Contact),
            ("owner", Kind::Member),
            ("agreement", Kind::Agreement),
            ("workType", Kind::WorkType),
            ("workRole", Kind::WorkRole),
        ],
        Kind::TimeEntry => &[
            ("company", Kind::Company),
            ("member", Kind::Member),
            ("workType", Kind::WorkType),
            ("workRole", Kind::WorkRole),
            ("agreement", Kind::Agreement),
        ],
        Kind::Note => &[("member", Kind::Member), ("contact", Kind::Contact)],
        Kind::Invoice => &[
            ("company", Kind::Company),
            ("billToCompany", Kind::Company),
            ("shipToCompany", Kind::Company),
            ("agreement", Kind::Agreement),
        ],
        _ => &[],
    }
}

fn invalid(kind: Kind, errors: Vec<ValidationError>) -> CwError {
    CwError::invalid(kind.resource(), errors)
}

/// Keeps the fields the model has, drops nulls (null means "unset") and read-only fields, and
/// checks types, max lengths and enums.
fn clean(model: &Model, kind: Kind, body: Record) -> Result<Record, CwError> {
    let resource = kind.resource();
    let mut errors = Vec::new();
    let mut out = Record::new();
    for (key, value) in body {
        let Some(field) = model.field(&key).or_else(|| model.field_ci(&key)) else {
            continue;
        };
        if value.is_null() || field.name == "id" || field.name == "_info" {
            continue;
        }
        if let Some(e) = check_value(field, &value, resource) {
            errors.push(e);
            continue;
        }
        out.insert(field.name.to_string(), value);
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(invalid(kind, errors))
    }
}

fn check_value(field: &catalog::Field, value: &Value, resource: &str) -> Option<ValidationError> {
    let bad = |what: &str| {
        Some(ValidationError::new(
            "InvalidField",
            format!("The field {} must be {what}.", field.name),
            resource,
            field.name,
        ))
    };
    match field.ty {
        "string" | "string/date-time" => {
            let Some(text) = value.as_str() else {
                return bad("a string");
            };
            if field.ty == "string/date-time" && parse_datetime(text).is_none() {
                return bad("a date-time (yyyy-MM-ddTHH:mm:ssZ)");
            }
            if let Some(max) = field.max_len
                && text.chars().count() > max as usize
            {
                return Some(ValidationError::new(
                    "MaxLengthField",
                    format!(
                        "The field {} must be a string with a maximum length of {max}.",
                        field.name
                    ),
                    resource,
                    field.name,
                ));
            }
            if !field.enum_values.is_empty() && !field.enum_values.contains(&text) {
                return bad(&format!("one of {}", field.enum_values.join(", ")));
            }
            None
        }
        "integer/int32" if value.as_i64().is_none() => bad("an integer"),
        "number/double" if !value.is_number() => bad("a number"),
        "boolean" if !value.is_boolean() => bad("true or false"),
        ty if catalog::model(ty).is_some() && !value.is_object() => {
            bad("an object, such as {\"id\": 1}")
        }
        _ => None,
    }
}

/// Resolves a reference written as `{id}` (or `{identifier}` / `{name}`) to the full reference.
fn resolve(
    t: &Tenant,
    kind: Kind,
    value: &Value,
    resource: &str,
    field: &str,
) -> Result<Value, ValidationError> {
    let id = match value.get("id").and_then(Value::as_i64) {
        Some(id) => Some(id),
        None => {
            let by = |key: &str| value.get(key).and_then(Value::as_str);
            let wanted = by("identifier")
                .map(|v| ("identifier", v))
                .or_else(|| by("name").map(|v| ("name", v)));
            match wanted {
                Some((key, text)) => t
                    .table(kind)
                    .rows
                    .values()
                    .find(|r| {
                        r[key]
                            .as_str()
                            .is_some_and(|v| v.eq_ignore_ascii_case(text))
                    })
                    .and_then(|r| r["id"].as_i64()),
                None => {
                    return Err(ValidationError::new(
                        "MissingRequiredField",
                        format!("{field}/id is required."),
                        resource,
                        &format!("{field}/id"),
                    ));
                }
            }
        }
    };
    id.and_then(|id| t.reference(kind, id)).ok_or_else(|| {
        ValidationError::new(
            "NotFound",
            format!(
                "{} {} not found",
                kind.label(),
                id.map(|i| i.to_string()).unwrap_or_default()
            ),
            resource,
            &format!("{field}/id"),
        )
    })
}

fn resolve_all(t: &Tenant, kind: Kind, rec: &mut Record) -> Vec<ValidationError> {
    let mut errors = Vec::new();
    for (field, target) in references(kind) {
        if let Some(v) = rec.get(*field).cloned() {
            match resolve(t, *target, &v, kind.resource(), field) {
                Ok(r) => {
                    rec.insert(field.to_string(), r);
                }
                Err(e) => errors.push(e),
            }
        }
    }
    errors
}

fn id_of(rec: &Record, field: &str) -> Option<i64> {
    rec.get(field).and_then(|v| v["id"].as_i64())
}

/// Whole-second UTC in Manage's format, as time entries require.
fn whole_second(text: &str) -> bool {
    let b = text.as_bytes();
    b.len() == 20
        && b[19] == b'Z'
        && b[10] == b'T'
        && [4, 7].iter().all(|&i| b[i] == b'-')
        && [13, 16].iter().all(|&i| b[i] == b':')
        && parse_datetime(text).is_some()
}

fn info(rec: &mut Record, now: DateTime<Utc>, created: bool) {
    let entry = rec.entry("_info").or_insert_with(|| json!({}));
    if created {
        entry["dateEntered"] = json!(ts(now));
        entry["enteredBy"] = json!(ACTOR);
    }
    entry["lastUpdated"] = json!(ts(now));
    entry["updatedBy"] = json!(ACTOR);
}

fn normalize_ticket(
    t: &Tenant,
    rec: &mut Record,
    existing: Option<&Value>,
    id: i64,
    now: DateTime<Utc>,
) -> Result<(), CwError> {
    let kind = Kind::Ticket;
    let mut errors = Vec::new();
    if rec
        .get("summary")
        .and_then(Value::as_str)
        .is_none_or(|s| s.trim().is_empty())
    {
        errors.push(ValidationError::missing("ticket", "summary"));
    }
    if !rec.contains_key("company") {
        errors.push(ValidationError::missing("ticket", "company"));
    }
    if !rec.contains_key("board") {
        rec.insert("board".into(), json!({"id": 1}));
    }
    errors.extend(resolve_all(t, kind, rec));
    if !errors.is_empty() {
        return Err(invalid(kind, errors));
    }
    let board = id_of(rec, "board").unwrap_or(1);
    let board_name = rec["board"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    if !rec.contains_key("status") {
        let default = t
            .children(Kind::BoardStatus, Some(board))
            .find(|s| s["defaultFlag"] == true)
            .and_then(|s| s["id"].as_i64());
        if let Some(r) = default.and_then(|id| t.reference(Kind::BoardStatus, id)) {
            rec.insert("status".into(), r);
        }
    }
    if !rec.contains_key("priority") {
        let default = t
            .table(Kind::Priority)
            .rows
            .values()
            .find(|p| p["defaultFlag"] == true)
            .and_then(|p| p["id"].as_i64());
        if let Some(r) = default.and_then(|id| t.reference(Kind::Priority, id)) {
            rec.insert("priority".into(), r);
        }
    }
    // Status, type, subtype and item belong to a board: they must be the board's own.
    for (field, child) in [
        ("status", Kind::BoardStatus),
        ("type", Kind::BoardType),
        ("subType", Kind::BoardSubType),
        ("item", Kind::BoardItem),
    ] {
        if let Some(cid) = id_of(rec, field) {
            let on_board = t.get(child, cid).and_then(|r| r["board"]["id"].as_i64()) == Some(board);
            if !on_board {
                errors.push(ValidationError::new(
                    "NotFound",
                    format!(
                        "{} {cid} not found for Service Board {board}",
                        child.label()
                    ),
                    "ticket",
                    &format!("{field}/id"),
                ));
            }
        }
    }
    if let (Some(contact), Some(company)) = (id_of(rec, "contact"), id_of(rec, "company"))
        && t.get(Kind::Contact, contact)
            .and_then(|c| c["company"]["id"].as_i64())
            != Some(company)
    {
        errors.push(ValidationError::new(
            "InvalidField",
            format!("Contact {contact} does not belong to Company {company}"),
            "ticket",
            "contact/id",
        ));
    }
    if !errors.is_empty() {
        return Err(invalid(kind, errors));
    }
    let status = id_of(rec, "status").and_then(|s| t.get(Kind::BoardStatus, s));
    let closed = status.is_some_and(|s| s["closedStatus"] == true);
    let was_closed = existing.is_some_and(|e| e["closedFlag"] == true);
    rec.insert("closedFlag".into(), json!(closed));
    if closed && !was_closed {
        rec.insert("closedDate".into(), json!(ts(now)));
        rec.insert("closedBy".into(), json!(ACTOR));
    } else if !closed {
        rec.remove("closedDate");
        rec.remove("closedBy");
    }
    if let Some(owner) = rec.get("owner") {
        let ident = owner["identifier"].clone();
        rec.insert("resources".into(), ident);
    }
    let _ = board_name;
    for (k, v) in [
        ("recordType", json!("ServiceTicket")),
        ("severity", json!("Medium")),
        ("impact", json!("Medium")),
        ("allowAllClientsPortalView", json!(false)),
        ("customerUpdatedFlag", json!(false)),
        ("automaticEmailContactFlag", json!(false)),
        ("automaticEmailResourceFlag", json!(false)),
        ("automaticEmailCcFlag", json!(false)),
        ("actualHours", json!(0.0)),
        ("approved", json!(true)),
        ("billingMethod", json!("ActualRates")),
        ("hasChildTicket", json!(false)),
        ("billTime", json!("NoDefault")),
        ("billExpenses", json!("NoDefault")),
        ("billProducts", json!("NoDefault")),
        ("isInSla", json!(true)),
        ("minutesWaiting", json!(0)),
    ] {
        rec.entry(k).or_insert(v);
    }
    if let Some(company) = id_of(rec, "company").and_then(|c| t.get(Kind::Company, c)) {
        for (from, to) in [
            ("site", "site"),
            ("city", "city"),
            ("addressLine1", "addressLine1"),
            ("zip", "zip"),
            ("state", "stateIdentifier"),
            ("country", "country"),
        ] {
            if let Some(v) = company.get(from) {
                rec.entry(to).or_insert(v.clone());
            }
        }
        if let Some(name) = rec
            .get("site")
            .and_then(|s| s["name"].as_str())
            .map(str::to_string)
        {
            rec.entry("siteName").or_insert(json!(name));
        }
    }
    info(rec, now, existing.is_none());
    if let Some(Value::Object(i)) = rec.get_mut("_info") {
        for child in crate::tenant::TICKET_CHILDREN {
            i.insert(
                format!("{child}_href"),
                json!(format!("/service/tickets/{id}/{child}")),
            );
        }
    }
    Ok(())
}

fn normalize_time(
    t: &Tenant,
    rec: &mut Record,
    existing: Option<&Value>,
    now: DateTime<Utc>,
) -> Result<(), CwError> {
    let kind = Kind::TimeEntry;
    let mut errors = Vec::new();
    for field in ["timeStart", "timeEnd"] {
        if let Some(text) = rec.get(field).and_then(Value::as_str)
            && !whole_second(text)
        {
            errors.push(ValidationError::new(
                    "InvalidField",
                    format!("{field} must be a UTC date-time with whole seconds, formatted yyyy-MM-ddTHH:mm:ssZ."),
                    "timeEntry",
                    field,
                ));
        }
    }
    if !rec.contains_key("timeStart") {
        errors.push(ValidationError::missing("timeEntry", "timeStart"));
    }
    if !errors.is_empty() {
        return Err(invalid(kind, errors));
    }
    let start = rec
        .get("timeStart")
        .and_then(Value::as_str)
        .and_then(parse_datetime);
    let end = rec
        .get("timeEnd")
        .and_then(Value::as_str)
        .and_then(parse_datetime);
    if let (Some(s), Some(e)) = (start, end) {
        if e <= s {
            return Err(invalid(
                kind,
                vec![ValidationError::new(
                    "InvalidField",
                    "timeEnd must be after timeStart.",
                    "timeEntry",
                    "timeEnd",
                )],
            ));
        }
        rec.insert(
            "actualHours".into(),
            json!(((e - s).num_seconds() as f64 / 3600.0 * 100.0).round() / 100.0),
        );
    }
    let charge_type = rec
        .get("chargeToType")
        .and_then(Value::as_str)
        .map(str::to_string)
        .unwrap_or_else(|| {
            if rec.contains_key("chargeToId") {
                "ServiceTicket".into()
            } else {
                "Company".into()
            }
        });
    rec.insert("chargeToType".into(), json!(charge_type));
    let charge_changed = existing.is_none_or(|e| e.get("chargeToId") != rec.get("chargeToId"));
    if charge_type == "ServiceTicket" {
        let Some(ticket_id) = rec.get("chargeToId").and_then(Value::as_i64) else {
            return Err(invalid(
                kind,
                vec![ValidationError::missing("timeEntry", "chargeToId")],
            ));
        };
        let Some(ticket) = t.get(Kind::Ticket, ticket_id) else {
            return Err(invalid(
                kind,
                vec![ValidationError::new(
                    "NotFound",
                    format!("Ticket {ticket_id} not found"),
                    "timeEntry",
                    "chargeToId",
                )],
            ));
        };
        let status = ticket["status"]["id"]
            .as_i64()
            .and_then(|s| t.get(Kind::BoardStatus, s));
        if charge_changed && status.is_some_and(|s| s["timeEntryNotAllowed"] == true) {
            return Err(invalid(
                kind,
                vec![ValidationError::new(
                    "InvalidField",
                    format!(
                        "Time entries are not allowed for ticket {ticket_id} in status {}.",
                        ticket["status"]["name"].as_str().unwrap_or_default()
                    ),
                    "timeEntry",
                    "chargeToId",
                )],
            ));
        }
        rec.insert("company".into(), ticket["company"].clone());
        rec.insert(
            "ticket".into(),
            t.reference(Kind::Ticket, ticket_id).unwrap_or(Value::Null),
        );
        for (from, to) in [
            ("board", "ticketBoard"),
            ("status", "ticketStatus"),
            ("type", "ticketType"),
            ("subType", "ticketSubType"),
        ] {
            if let Some(name) = ticket.get(from).and_then(|v| v.get("name")) {
                rec.insert(to.into(), name.clone());
            }
        }
        if let Some(a) = ticket.get("agreement") {
            rec.entry("agreement").or_insert(a.clone());
        }
    } else if !rec.contains_key("company") {
        return Err(invalid(
            kind,
            vec![ValidationError::missing("timeEntry", "company")],
        ));
    }
    if !rec.contains_key("member") {
        let api = t
            .table(Kind::Member)
            .rows
            .values()
            .find(|m| m["identifier"] == ACTOR)
            .and_then(|m| m["id"].as_i64());
        rec.insert("member".into(), json!({"id": api.unwrap_or_default()}));
    }
    let member = id_of(rec, "member")
        .and_then(|m| t.get(Kind::Member, m))
        .cloned();
    if !rec.contains_key("workType") {
        let wt = member
            .as_ref()
            .and_then(|m| m["workType"]["id"].as_i64())
            .unwrap_or(1);
        rec.insert("workType".into(), json!({"id": wt}));
    }
    if !rec.contains_key("workRole") {
        let wr = member
            .as_ref()
            .and_then(|m| m["workRole"]["id"].as_i64())
            .unwrap_or(1);
        rec.insert("workRole".into(), json!({"id": wr}));
    }
    let errors = resolve_all(t, kind, rec);
    if !errors.is_empty() {
        return Err(invalid(kind, errors));
    }
    let work_type = id_of(rec, "workType").and_then(|w| t.get(Kind::WorkType, w));
    if !rec.contains_key("billableOption") {
        let bill = work_type
            .and_then(|w| w["billTime"].as_str())
            .unwrap_or("Billable");
        rec.insert("billableOption".into(), json!(bill));
    }
    let hours = rec
        .get("actualHours")
        .and_then(Value::as_f64)
        .unwrap_or_default();
    let billable = rec["billableOption"] == "Billable";
    let rate = id_of(rec, "workRole")
        .and_then(|r| t.get(Kind::WorkRole, r))
        .and_then(|r| r["hourlyRate"].as_f64())
        .unwrap_or_default();
    for (k, v) in [
        ("hoursBilled", json!(if billable { hours } else { 0.0 })),
        ("invoiceHours", json!(if billable { hours } else { 0.0 })),
        ("invoiceFlag", json!(billable)),
        ("hourlyRate", json!(rate)),
        (
            "extendedInvoiceAmount",
            json!(if billable {
                (hours * rate * 100.0).round() / 100.0
            } else {
                0.0
            }),
        ),
    ] {
        rec.insert(k.into(), v);
    }
    for (k, v) in [
        ("companyType", json!("Client")),
        ("hoursDeduct", json!(0.0)),
        ("addToDetailDescriptionFlag", json!(false)),
        ("addToInternalAnalysisFlag", json!(false)),
        ("addToResolutionFlag", json!(false)),
        ("emailResourceFlag", json!(false)),
        ("emailContactFlag", json!(false)),
        ("emailCcFlag", json!(false)),
        ("status", json!("Open")),
        ("locationId", json!(1)),
        ("businessUnitId", json!(10)),
    ] {
        rec.entry(k).or_insert(v);
    }
    if existing.is_none() {
        rec.insert("enteredBy".into(), json!(ACTOR));
        rec.insert("dateEntered".into(), json!(ts(now)));
    }
    info(rec, now, false);
    Ok(())
}

fn normalize_note(
    t: &Tenant,
    rec: &mut Record,
    ticket: i64,
    existing: Option<&Value>,
    now: DateTime<Utc>,
) -> Result<(), CwError> {
    if rec
        .get("text")
        .and_then(Value::as_str)
        .is_none_or(|s| s.trim().is_empty())
    {
        return Err(invalid(
            Kind::Note,
            vec![ValidationError::missing("ticketNote", "text")],
        ));
    }
    let errors = resolve_all(t, Kind::Note, rec);
    if !errors.is_empty() {
        return Err(invalid(Kind::Note, errors));
    }
    rec.insert("ticketId".into(), json!(ticket));
    for flag in [
        "detailDescriptionFlag",
        "internalAnalysisFlag",
        "resolutionFlag",
        "issueFlag",
        "customerUpdatedFlag",
        "processNotifications",
    ] {
        rec.entry(flag).or_insert(json!(false));
    }
    let internal = rec["internalAnalysisFlag"] == true;
    rec.entry("internalFlag").or_insert(json!(internal));
    rec.entry("externalFlag").or_insert(json!(!internal));
    if existing.is_none() {
        if !rec.contains_key("member")
            && !rec.contains_key("contact")
            && let Some(api) = t
                .table(Kind::Member)
                .rows
                .values()
                .find(|m| m["identifier"] == ACTOR)
                .and_then(|m| m["id"].as_i64())
        {
            rec.insert(
                "member".into(),
                t.reference(Kind::Member, api).unwrap_or(Value::Null),
            );
        }
        rec.insert("dateCreated".into(), json!(ts(now)));
        rec.insert("createdBy".into(), json!(ACTOR));
    }
    info(rec, now, false);
    Ok(())
}

fn normalize_addition(
    t: &Tenant,
    rec: &mut Record,
    agreement: i64,
    now: DateTime<Utc>,
) -> Result<(), CwError> {
    let mut errors = Vec::new();
    if !rec.contains_key("billCustomer") {
        errors.push(ValidationError::missing("addition", "billCustomer"));
    }
    let product = match rec.get("product") {
        None => {
            errors.push(ValidationError::missing("addition", "product"));
            None
        }
        Some(p) => {
            let found = p["id"]
                .as_i64()
                .and_then(|id| t.products.get(&id))
                .or_else(|| {
                    p["identifier"]
                        .as_str()
                        .and_then(|ident| t.products.values().find(|x| x["identifier"] == ident))
                });
            if found.is_none() {
                errors.push(ValidationError::new(
                    "NotFound",
                    format!("Product {} not found", p["id"]),
                    "addition",
                    "product/id",
                ));
            }
            found.cloned()
        }
    };
    if !errors.is_empty() {
        return Err(invalid(Kind::Addition, errors));
    }
    if let Some(p) = product {
        let pid = p["id"].as_i64().unwrap_or_default();
        rec.insert("product".into(), json!({"id": pid, "identifier": p["identifier"], "serializedFlag": false, "_info": {"ivItem_href": format!("/procurement/catalog/{pid}")}}));
        rec.entry("unitPrice").or_insert(p["price"].clone());
        rec.entry("unitCost").or_insert(p["cost"].clone());
        rec.entry("description").or_insert(p["description"].clone());
        rec.entry("invoiceDescription")
            .or_insert(p["description"].clone());
    }
    let qty = rec.get("quantity").and_then(Value::as_f64).unwrap_or(1.0);
    let price = rec
        .get("unitPrice")
        .and_then(Value::as_f64)
        .unwrap_or_default();
    let cost = rec
        .get("unitCost")
        .and_then(Value::as_f64)
        .unwrap_or_default();
    let round = |x: f64| (x * 100.0).round() / 100.0;
    rec.insert("quantity".into(), json!(qty));
    rec.insert("extPrice".into(), json!(round(price * qty)));
    rec.insert("extCost".into(), json!(round(cost * qty)));
    rec.insert("margin".into(), json!(round((price - cost) * qty)));
    rec.insert("agreementId".into(), json!(agreement));
    let status = t
        .get(Kind::Agreement, agreement)
        .map(|a| a["agreementStatus"].clone())
        .unwrap_or(json!("Active"));
    rec.insert("agreementStatus".into(), status);
    for (k, v) in [
        ("lessIncluded", json!(0.0)),
        ("taxableFlag", json!(false)),
        ("uom", json!("Each")),
        ("billedQuantity", json!(qty)),
        ("effectiveDate", json!(ts(now))),
    ] {
        rec.entry(k).or_insert(v);
    }
    info(rec, now, false);
    Ok(())
}

fn normalize_invoice(
    t: &Tenant,
    rec: &mut Record,
    id: i64,
    now: DateTime<Utc>,
) -> Result<(), CwError> {
    let mut errors = Vec::new();
    for field in ["type", "company"] {
        if !rec.contains_key(field) {
            errors.push(ValidationError::missing("invoice", field));
        }
    }
    errors.extend(resolve_all(t, Kind::Invoice, rec));
    if !errors.is_empty() {
        return Err(invalid(Kind::Invoice, errors));
    }
    let company = rec["company"].clone();
    rec.entry("billToCompany").or_insert(company.clone());
    rec.entry("shipToCompany").or_insert(company);
    rec.insert("invoiceNumber".into(), json!(format!("INV-{id}")));
    rec.entry("status").or_insert(json!({"id": 1, "name": "New", "isClosed": false, "_info": {"status_href": "/finance/billingStatuses/1"}}));
    let date = rec
        .get("date")
        .and_then(Value::as_str)
        .and_then(parse_datetime)
        .unwrap_or(now);
    rec.entry("date").or_insert(json!(ts(date)));
    rec.entry("dueDate")
        .or_insert(json!(ts(date + chrono::Duration::days(30))));
    rec.entry("applyToType").or_insert(json!("All"));
    for k in [
        "serviceTotal",
        "expenseTotal",
        "productTotal",
        "subtotal",
        "total",
        "salesTax",
        "payments",
        "credits",
        "balance",
    ] {
        rec.entry(k).or_insert(json!(0.0));
    }
    rec.entry("taxableFlag").or_insert(json!(false));
    info(rec, now, true);
    Ok(())
}

fn object(value: Value, kind: Kind) -> Result<Record, CwError> {
    match value {
        Value::Object(map) => Ok(map),
        _ => Err(CwError::bad_body(format!(
            "{} object is invalid: expected a JSON object",
            kind.resource()
        ))),
    }
}

/// Recomputes a ticket's `actualHours` from its time entries.
fn refresh_ticket_hours(t: &mut Tenant, ticket: Option<i64>) {
    let Some(ticket) = ticket else { return };
    let hours: f64 = t
        .table(Kind::TimeEntry)
        .rows
        .values()
        .filter(|e| {
            e["chargeToId"].as_i64() == Some(ticket) && e["chargeToType"] == "ServiceTicket"
        })
        .filter_map(|e| e["actualHours"].as_f64())
        .sum();
    if let Some(r) = t.table_mut(Kind::Ticket).rows.get_mut(&ticket) {
        r["actualHours"] = json!((hours * 100.0).round() / 100.0);
    }
}

/// Runs the kind's normalization on a record about to be stored.
fn normalize(
    t: &Tenant,
    kind: Kind,
    rec: &mut Record,
    existing: Option<&Value>,
    id: i64,
    parent: Option<i64>,
    now: DateTime<Utc>,
) -> Result<(), CwError> {
    match kind {
        Kind::Ticket => normalize_ticket(t, rec, existing, id, now),
        Kind::TimeEntry => normalize_time(t, rec, existing, now),
        Kind::Note => normalize_note(t, rec, parent.unwrap_or_default(), existing, now),
        Kind::Addition => normalize_addition(t, rec, parent.unwrap_or_default(), now),
        Kind::Invoice => normalize_invoice(t, rec, id, now),
        Kind::PurchaseOrder => {
            let mut info = existing
                .and_then(|e| e.get("_info"))
                .cloned()
                .unwrap_or_else(|| json!({}));
            info["lastUpdated"] = json!(ts(now));
            info["updatedBy"] = json!("SandboxAPI");
            rec.insert("_info".into(), info);
            Ok(())
        }
        _ => Err(CwError::method_not_allowed("POST")),
    }
}

pub fn create(
    s: &Shared,
    req: &Req,
    kind: Kind,
    parent: Option<i64>,
    base: &str,
) -> Result<Reply, CwError> {
    let body = object(req.json_body().map_err(CwError::bad_body)?, kind)?;
    let model = super::model_of(kind)?;
    // POST-only fields (not part of the stored record).
    let initial: Vec<(String, [bool; 3])> = [
        ("initialDescription", [true, false, false]),
        ("initialInternalAnalysis", [false, true, false]),
        ("initialResolution", [false, false, true]),
    ]
    .iter()
    .filter_map(|(k, flags)| {
        body.get(*k)
            .and_then(Value::as_str)
            .map(|t| (t.to_string(), *flags))
    })
    .collect();
    let mut rec = clean(model, kind, body)?;
    for k in [
        "initialDescription",
        "initialInternalAnalysis",
        "initialResolution",
    ] {
        rec.remove(k);
    }
    let mut t = s.write();
    if let Some(pid) = parent {
        let parent_kind = if kind == Kind::Addition {
            Kind::Agreement
        } else {
            Kind::Ticket
        };
        t.get(parent_kind, pid)
            .ok_or_else(|| CwError::not_found(parent_kind.label(), pid))?;
    }
    let id = t.table(kind).next_id.max(1);
    let now = t.tick();
    normalize(&t, kind, &mut rec, None, id, parent, now)?;
    rec.insert("id".into(), json!(id));
    let charge = rec.get("chargeToId").and_then(Value::as_i64);
    let created = Value::Object(rec);
    t.table_mut(kind).insert(created.clone());
    if kind == Kind::Ticket {
        for (text, flags) in initial {
            let note_id = t.table(Kind::Note).next_id.max(1);
            let mut note = Record::new();
            note.insert("text".into(), json!(text));
            note.insert("detailDescriptionFlag".into(), json!(flags[0]));
            note.insert("internalAnalysisFlag".into(), json!(flags[1]));
            note.insert("resolutionFlag".into(), json!(flags[2]));
            normalize_note(&t, &mut note, id, None, now)?;
            note.insert("id".into(), json!(note_id));
            t.table_mut(Kind::Note).insert(Value::Object(note));
        }
    }
    if kind == Kind::TimeEntry {
        refresh_ticket_hours(&mut t, charge);
    }
    Ok(Reply::json(
        StatusCode::CREATED,
        &render(&created, &None, base),
    ))
}

/// Applies one JSON Patch operation; the path may be written with or without the leading `/`.
fn apply_op(rec: &mut Value, model: &Model, kind: Kind, op: &Value) -> Result<(), CwError> {
    let resource = kind.resource();
    let fail = |field: &str, message: String| {
        invalid(
            kind,
            vec![ValidationError::new(
                "InvalidField",
                message,
                resource,
                field,
            )],
        )
    };
    let name = op
        .get("op")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_ascii_lowercase();
    let path = op.get("path").and_then(Value::as_str).unwrap_or_default();
    let segments: Vec<&str> = path
        .trim_start_matches('/')
        .split('/')
        .filter(|s| !s.is_empty())
        .collect();
    let Some(first) = segments.first() else {
        return Err(fail("path", "Each operation needs a path.".into()));
    };
    let field = model.field_ci(first).ok_or_else(|| {
        fail(
            first,
            format!("Cannot find a field named {first} on {}.", model.name),
        )
    })?;
    if field.name == "id" || field.name == "_info" {
        return Err(fail(
            field.name,
            format!("The field {} cannot be updated.", field.name),
        ));
    }
    let mut keys: Vec<String> = vec![field.name.to_string()];
    keys.extend(segments[1..].iter().map(|s| s.to_string()));
    match name.as_str() {
        "remove" => {
            let mut target = &mut *rec;
            for k in &keys[..keys.len() - 1] {
                target = &mut target[k.as_str()];
            }
            if let Some(map) = target.as_object_mut() {
                map.remove(&keys[keys.len() - 1]);
            }
            Ok(())
        }
        "add" | "replace" => {
            let value = op.get("value").cloned().unwrap_or(Value::Null);
            if keys.len() == 1 {
                if value.is_null() {
                    if let Some(map) = rec.as_object_mut() {
                        map.remove(&keys[0]);
                    }
                    return Ok(());
                }
                if let Some(e) = check_value(field, &value, resource) {
                    return Err(invalid(kind, vec![e]));
                }
                // A reference set by id keeps only the id, so it is resolved afresh.
                if catalog::model(field.ty).is_some() && value.is_object() {
                    rec[keys[0].as_str()] = value;
                    return Ok(());
                }
                rec[keys[0].as_str()] = value;
                return Ok(());
            }
            // `status/id` = 42: replace the whole reference by {id: 42}.
            if catalog::model(field.ty).is_some() && keys.len() == 2 {
                rec[keys[0].as_str()] = json!({ keys[1].as_str(): value });
                return Ok(());
            }
            let mut target = &mut *rec;
            for k in &keys {
                target = &mut target[k.as_str()];
            }
            *target = value;
            Ok(())
        }
        other => Err(fail(
            "op",
            format!("The operation '{other}' is not supported; use add, replace or remove."),
        )),
    }
}

pub fn patch(
    s: &Shared,
    req: &Req,
    kind: Kind,
    params: Params,
    base: &str,
) -> Result<Reply, CwError> {
    let body = req.json_body().map_err(CwError::bad_body)?;
    let Value::Array(ops) = body else {
        return Err(CwError::bad_body(
            "PATCH takes a JSON array of operations: [{\"op\": \"replace\", \"path\": \"/summary\", \"value\": \"...\"}]",
        ));
    };
    let model = super::model_of(kind)?;
    let mut t = s.write();
    let existing = find(&t, kind, params)?.clone();
    let id = params.id.unwrap_or_default();
    let mut working = existing.clone();
    for op in &ops {
        apply_op(&mut working, model, kind, op)?;
    }
    let Value::Object(map) = working else {
        return Err(CwError::internal());
    };
    // Re-clean: drops what the patch nulled and checks the types of everything left.
    let mut rec = clean(model, kind, map)?;
    if let Some(i) = existing.get("_info") {
        rec.insert("_info".into(), i.clone());
    }
    let now = t.tick();
    normalize(&t, kind, &mut rec, Some(&existing), id, params.parent, now)?;
    rec.insert("id".into(), json!(id));
    let old_charge = existing.get("chargeToId").and_then(Value::as_i64);
    let new_charge = rec.get("chargeToId").and_then(Value::as_i64);
    let updated = Value::Object(rec);
    t.table_mut(kind).insert(updated.clone());
    if kind == Kind::TimeEntry {
        refresh_ticket_hours(&mut t, old_charge);
        refresh_ticket_hours(&mut t, new_charge);
    }
    Ok(Reply::json(StatusCode::OK, &render(&updated, &None, base)))
}

pub fn delete(s: &Shared, kind: Kind, params: Params) -> Result<Reply, CwError> {
    let mut t = s.write();
    let existing = find(&t, kind, params)?.clone();
    let id = params.id.unwrap_or_default();
    t.table_mut(kind).rows.remove(&id);
    match kind {
        Kind::Ticket => {
            for child in [Kind::Note, Kind::Task] {
                t.table_mut(child)
                    .rows
                    .retain(|_, r| r["ticketId"].as_i64() != Some(id));
            }
            t.ticket_configs.remove(&id);
        }
        Kind::TimeEntry => {
            refresh_ticket_hours(&mut t, existing.get("chargeToId").and_then(Value::as_i64))
        }
        _ => {}
    }
    Ok(Reply::empty(StatusCode::NO_CONTENT))
}

/// `POST /service/tickets/{id}/configurations` with `{id}` or `{deviceIdentifier}`.
pub fn attach_config(
    s: &Shared,
    req: &Req,
    ticket: Option<i64>,
    base: &str,
) -> Result<Reply, CwError> {
    let body = req.json_body().map_err(CwError::bad_body)?;
    let mut t = s.write();
    let ticket = ticket.unwrap_or_default();
    t.get(Kind::Ticket, ticket)
        .ok_or_else(|| CwError::not_found("Ticket", ticket))?;
    let by_id = body.get("id").and_then(Value::as_i64);
    let by_device = body.get("deviceIdentifier").and_then(Value::as_str);
    let config = match (by_id, by_device) {
        (Some(id), _) => t.get(Kind::Configuration, id).map(|_| id),
        (None, Some(dev)) => t
            .table(Kind::Configuration)
            .rows
            .values()
            .find(|c| c["deviceIdentifier"] == dev)
            .and_then(|c| c["id"].as_i64()),
        (None, None) => {
            // The exact answer the real API gives (christaylorcodes/ConnectWiseManageAPI#30).
            return Err(CwError::invalid(
                "configuration",
                vec![ValidationError::new(
                    "MissingRequiredField",
                    "id or deviceIdentifier is required.",
                    "configuration",
                    "id",
                )],
            ));
        }
    };
    let Some(config) = config else {
        return Err(CwError::invalid(
            "configuration",
            vec![ValidationError::new(
                "NotFound",
                "Configuration not found",
                "configuration",
                "id",
            )],
        ));
    };
    let list = t.ticket_configs.entry(ticket).or_default();
    if !list.contains(&config) {
        list.push(config);
    }
    let reference = t
        .reference(Kind::Configuration, config)
        .unwrap_or(Value::Null);
    Ok(Reply::json(
        StatusCode::CREATED,
        &render(&reference, &None, base),
    ))
}

pub fn detach_config(s: &Shared, params: Params) -> Result<Reply, CwError> {
    let mut t = s.write();
    let ticket = params.parent.unwrap_or_default();
    t.get(Kind::Ticket, ticket)
        .ok_or_else(|| CwError::not_found("Ticket", ticket))?;
    let id = params.id.unwrap_or_default();
    let list = t.ticket_configs.entry(ticket).or_default();
    let before = list.len();
    list.retain(|c| *c != id);
    if list.len() == before {
        return Err(CwError::not_found("Configuration", id));
    }
    Ok(Reply::empty(StatusCode::NO_CONTENT))
}

/// `POST /expense/reports/{id}/approve` (`ExpenseReportTierUpdate` body): the report is
/// approved; answers `SuccessResponse`.
pub fn approve_expense_report(s: &Shared, params: Params) -> Result<Reply, CwError> {
    let mut t = s.write();
    let id = params.id.unwrap_or_default();
    let now = t.tick();
    let report = t
        .table_mut(Kind::ExpenseReport)
        .rows
        .get_mut(&id)
        .ok_or_else(|| CwError::not_found(Kind::ExpenseReport.label(), id))?;
    report["status"] = json!("ApprovedByTierOne");
    report["_info"]["lastUpdated"] = json!(ts(now));
    Ok(Reply::json(
        StatusCode::OK,
        &json!({"success": true, "message": format!("Expense report {id} approved.")}),
    ))
}

/// `POST /finance/accounting/batches` (`CreateAccountingBatchRequest`): the listed unposted
/// invoices leave the unposted queue; answers a `GLExport` with one transaction each.
pub fn create_batch(s: &Shared, req: &Req) -> Result<Reply, CwError> {
    let body = req.json_body().map_err(CwError::bad_body)?;
    let ids: Vec<i64> = body["processedRecordIds"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_i64).collect())
        .unwrap_or_default();
    if ids.is_empty() {
        return Err(CwError::bad_body(
            "processedRecordIds is required and must list at least one record id.",
        ));
    }
    let mut t = s.write();
    if let Some(missing) = ids
        .iter()
        .find(|id| t.get(Kind::UnpostedInvoice, **id).is_none())
    {
        return Err(CwError::not_found(Kind::UnpostedInvoice.label(), *missing));
    }
    let mut transactions = Vec::new();
    for id in &ids {
        if let Some(inv) = t.table_mut(Kind::UnpostedInvoice).rows.remove(id) {
            transactions.push(json!({
                "documentNumber": inv["invoiceNumber"], "documentDate": inv["invoiceDate"],
                "documentType": "Invoice", "total": inv["total"], "company": inv["company"],
            }));
        }
    }
    Ok(Reply::json(
        StatusCode::OK,
        &json!({"exportSettings": {"batchIdentifier": body["batchIdentifier"]}, "transactions": transactions}),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_second_table() {
        for (text, ok) in [
            ("2026-03-02T01:05:00Z", true),
            ("2026-03-02T01:05:00.500Z", false),
            ("2026-03-02T01:05Z", false),
            ("2026-03-02 01:05:00Z", false),
            ("2026-03-02T01:05:00+00:00", false),
            ("2026-13-02T01:05:00Z", false),
        ] {
            assert_eq!(whole_second(text), ok, "{text}");
        }
    }
}
