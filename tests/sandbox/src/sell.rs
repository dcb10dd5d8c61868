//! Sell (ConnectWise CPQ) API subset under `/cpq`, following `sell-cpq-api-1.0.swagger.json`:
//! quotes and quote lines (quote items) and tabs, Basic `accessKey+username:password` auth,
//! `conditions`/`includeFields`/`page`/`pageSize` (default 50, max 1000) and JSON Patch; templates
//! and `quotes/copyById/{id}`, the API's only way to a new quote.

use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::auth;
use crate::query::{self, Paging};
use crate::server::{Reply, Req, Shared};
use crate::tenant::{Tenant, ts};

const DEFAULT_PAGE_SIZE: &str = "50";

fn error(status: StatusCode, message: &str) -> Reply {
    Reply::json(
        status,
        &json!({"code": status.canonical_reason().unwrap_or("Error").replace(' ', ""), "message": message}),
    )
}

pub fn handle(s: &Shared, req: &Req) -> Reply {
    if !auth::check_cpq(&req.headers, &s.creds) {
        return error(
            StatusCode::UNAUTHORIZED,
            "Authorization has been denied for this request.",
        );
    }
    let path = req
        .path
        .trim_start_matches("/cpq")
        .trim_end_matches('/')
        .to_string();
    let segs: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    match (req.method.as_str(), segs.as_slice()) {
        ("GET", ["api", "quotes"]) => list(s, req, "quotes", None),
        ("GET", ["api", "quotes", id]) => one(s, "quotes", id),
        ("PATCH", ["api", "quotes", id]) => patch(s, req, "quotes", id),
        ("DELETE", ["api", "quotes", id]) => delete(s, "quotes", id),
        ("GET", ["api", "quoteItems"]) => list(s, req, "quoteItems", None),
        ("POST", ["api", "quoteItems"]) => add_item(s, req),
        ("GET", ["api", "quoteItems", id]) => one(s, "quoteItems", id),
        ("PATCH", ["api", "quoteItems", id]) => patch(s, req, "quoteItems", id),
        ("DELETE", ["api", "quoteItems", id]) => delete(s, "quoteItems", id),
        ("GET", ["api", "quoteTabs"]) => list(s, req, "quoteTabs", None),
        ("GET", ["api", "templates"]) => list(s, req, "templates", None),
        ("POST", ["api", "quotes", "copyById", id]) => copy(s, id),
        ("GET", ["api", "quoteTabs", id, "quoteItems"]) => {
            list(s, req, "quoteItems", Some(("idQuoteTabs", id)))
        }
        _ => error(
            StatusCode::NOT_FOUND,
            "No HTTP resource was found that matches the request URI.",
        ),
    }
}

fn list(s: &Shared, req: &Req, kind: &'static str, parent: Option<(&str, &str)>) -> Reply {
    let conditions = match req
        .param("conditions")
        .filter(|c| !c.trim().is_empty())
        .map(query::parse_conditions)
    {
        Some(Err(e)) => {
            return error(
                StatusCode::BAD_REQUEST,
                &format!("conditions is invalid: {e}"),
            );
        }
        Some(Ok(e)) => Some(e),
        None => None,
    };
    let paging = match Paging::parse(
        req.param("page"),
        Some(req.param("pageSize").unwrap_or(DEFAULT_PAGE_SIZE)),
    ) {
        Ok(p) => p,
        Err(e) => return error(StatusCode::BAD_REQUEST, &e.to_string()),
    };
    let fields = req
        .param("includeFields")
        .filter(|f| !f.trim().is_empty())
        .map(query::parse_fields);
    let t = s.read();
    let rows: Vec<&Value> = t
        .cpq
        .get(kind)
        .map(|m| {
            m.values()
                .filter(|r| parent.is_none_or(|(k, v)| r[k] == v))
                .filter(|r| conditions.as_ref().is_none_or(|c| c.matches(r)))
                .collect()
        })
        .unwrap_or_default();
    let range = paging.range(rows.len());
    let page: Vec<Value> = rows[range]
        .iter()
        .map(|r| match &fields {
            Some(f) => query::project(r, f),
            None => (*r).clone(),
        })
        .collect();
    Reply::json(StatusCode::OK, &Value::Array(page))
}

fn one(s: &Shared, kind: &'static str, id: &str) -> Reply {
    match s.read().cpq.get(kind).and_then(|m| m.get(id)) {
        Some(v) => Reply::json(StatusCode::OK, v),
        None => error(
            StatusCode::NOT_FOUND,
            &format!("{kind} {id} was not found."),
        ),
    }
}

/// Recomputes a quote's totals from its lines.
fn retotal(t: &mut Tenant, quote: &str) {
    let (mut subtotal, mut cost) = (0.0, 0.0);
    if let Some(items) = t.cpq.get("quoteItems") {
        for i in items
            .values()
            .filter(|i| i["idQuote"] == quote && i["isOptional"] != true)
        {
            subtotal += i["extendedPrice"].as_f64().unwrap_or_default();
            cost += i["extendedCost"].as_f64().unwrap_or_default();
        }
    }
    let round = |x: f64| (x * 100.0).round() / 100.0;
    if let Some(q) = t.cpq.get_mut("quotes").and_then(|m| m.get_mut(quote)) {
        q["subtotal"] = json!(round(subtotal));
        q["quoteTotal"] = json!(round(subtotal));
        q["quoteCost"] = json!(round(cost));
        q["grossMarginAmount"] = json!(round(subtotal - cost));
        q["grossMargin"] = json!(round((subtotal - cost) / subtotal.max(1.0) * 100.0));
    }
}

fn price_line(item: &mut Value) {
    let qty = item["quantity"].as_f64().unwrap_or(1.0);
    let price = item["quoteItemPrice"].as_f64().unwrap_or_default();
    let cost = item["cost"].as_f64().unwrap_or_default();
    item["quantity"] = json!(qty);
    item["extendedPrice"] = json!((price * qty * 100.0).round() / 100.0);
    item["extendedCost"] = json!((cost * qty * 100.0).round() / 100.0);
}

/// `POST /api/quotes/copyById/{id}`: a new quote from a quote or a template, with copies of its
/// tabs and items ("also copies tabs, items and quote customers"), as a draft at version 1.
fn copy(s: &Shared, id: &str) -> Reply {
    let mut t = s.write();
    let source = t
        .cpq
        .get("quotes")
        .and_then(|m| m.get(id))
        .or_else(|| t.cpq.get("templates").and_then(|m| m.get(id)))
        .cloned();
    let Some(source) = source else {
        return error(
            StatusCode::NOT_FOUND,
            &format!("quotes {id} was not found."),
        );
    };
    let n = t.cpq.get("quotes").map(|m| m.len()).unwrap_or_default();
    let new_id = format!(
        "{:032x}",
        0xc09e_0000_0000_0000_0000_0000_0000_0000u128 + n as u128 + 1
    );
    let number = 20_000 + n as i64;
    let now = t.tick();
    let mut quote = source.clone();
    quote["id"] = json!(new_id);
    quote["quoteNumber"] = json!(number);
    quote["quoteVersion"] = json!(1);
    quote["quoteStatus"] = json!("Draft");
    quote["isSent"] = json!(false);
    quote["isAccepted"] = json!(false);
    quote["createDate"] = json!(ts(now));
    quote["modifyDate"] = json!(ts(now));
    if let Some(map) = quote.as_object_mut() {
        map.remove("isTemplate");
    }
    let tabs: Vec<Value> = t
        .cpq
        .get("quoteTabs")
        .map(|m| m.values().filter(|x| x["idQuote"] == id).cloned().collect())
        .unwrap_or_default();
    let items: Vec<Value> = t
        .cpq
        .get("quoteItems")
        .map(|m| m.values().filter(|x| x["idQuote"] == id).cloned().collect())
        .unwrap_or_default();
    for (k, mut tab) in tabs.into_iter().enumerate() {
        let old = tab["id"].as_str().unwrap_or_default().to_string();
        let tab_id = format!(
            "{:032x}",
            0x7ab0_0000_0000_0000_0000_0000_0000_0000u128 + (n * 16 + k) as u128 + 1
        );
        tab["id"] = json!(tab_id);
        tab["idQuote"] = json!(new_id);
        for (j, mut item) in items
            .iter()
            .filter(|i| i["idQuoteTabs"] == old.as_str())
            .cloned()
            .enumerate()
        {
            let item_id = format!(
                "{:032x}",
                0x17e0_0000_0000_0000_0000_0000_0000_0000u128
                    + ((n * 16 + k) * 256 + j) as u128
                    + 1
            );
            item["id"] = json!(item_id);
            item["idQuote"] = json!(new_id);
            item["idQuoteTabs"] = json!(tab_id);
            item["quote"] = json!({"id": new_id, "name": quote["name"]});
            t.cpq.entry("quoteItems").or_default().insert(item_id, item);
        }
        t.cpq.entry("quoteTabs").or_default().insert(tab_id, tab);
    }
    t.cpq
        .entry("quotes")
        .or_default()
        .insert(new_id.clone(), quote);
    retotal(&mut t, &new_id);
    let copied = t
        .cpq
        .get("quotes")
        .and_then(|m| m.get(&new_id))
        .cloned()
        .unwrap_or_default();
    Reply::json(StatusCode::OK, &copied)
}

fn add_item(s: &Shared, req: &Req) -> Reply {
    let mut item = match req.json_body() {
        Ok(v @ Value::Object(_)) => v,
        Ok(_) => {
            return error(
                StatusCode::BAD_REQUEST,
                "The request body must be a quote item object.",
            );
        }
        Err(e) => return error(StatusCode::BAD_REQUEST, &e),
    };
    let mut t = s.write();
    let quote = item["idQuote"].as_str().unwrap_or_default().to_string();
    let Some(q) = t.cpq.get("quotes").and_then(|m| m.get(&quote)).cloned() else {
        return error(
            StatusCode::BAD_REQUEST,
            "idQuote must name an existing quote.",
        );
    };
    if item["shortDescription"]
        .as_str()
        .is_none_or(|d| d.trim().is_empty())
    {
        return error(StatusCode::BAD_REQUEST, "shortDescription is required.");
    }
    let n = t.cpq.get("quoteItems").map(|m| m.len()).unwrap_or_default();
    let id = format!(
        "{:032x}",
        0x5a4d_0000_0000_0000_0000_0000_0000_0000u128 + n as u128 + 1
    );
    let now = t.tick();
    item["id"] = json!(id);
    item["quote"] = json!({"id": quote, "name": q["name"]});
    item["quoteName"] = q["name"].clone();
    item["modifyDate"] = json!(ts(now));
    if item.get("idQuoteTabs").is_none() {
        let tab = t
            .cpq
            .get("quoteTabs")
            .and_then(|m| m.values().find(|tab| tab["idQuote"] == quote.as_str()))
            .map(|tab| tab["id"].clone());
        if let Some(tab) = tab {
            item["idQuoteTabs"] = tab.clone();
            item["quoteTab"] = json!({"id": tab, "name": "Proposal"});
        }
    }
    price_line(&mut item);
    t.cpq
        .entry("quoteItems")
        .or_default()
        .insert(id, item.clone());
    retotal(&mut t, &quote);
    Reply::json(StatusCode::OK, &item)
}

fn patch(s: &Shared, req: &Req, kind: &'static str, id: &str) -> Reply {
    let ops = match req.json_body() {
        Ok(Value::Array(ops)) => ops,
        Ok(_) => return error(StatusCode::BAD_REQUEST, "PATCH takes a JSON Patch array."),
        Err(e) => return error(StatusCode::BAD_REQUEST, &e),
    };
    let mut t = s.write();
    let Some(mut record) = t.cpq.get(kind).and_then(|m| m.get(id)).cloned() else {
        return error(
            StatusCode::NOT_FOUND,
            &format!("{kind} {id} was not found."),
        );
    };
    for op in &ops {
        let path = op["path"]
            .as_str()
            .unwrap_or_default()
            .trim_start_matches('/');
        if path.is_empty() || path.contains('/') || path == "id" {
            return error(
                StatusCode::BAD_REQUEST,
                &format!("The path '{path}' cannot be patched."),
            );
        }
        match op["op"].as_str().unwrap_or_default() {
            "add" | "replace" => record[path] = op["value"].clone(),
            "remove" => {
                if let Some(map) = record.as_object_mut() {
                    map.remove(path);
                }
            }
            other => {
                return error(
                    StatusCode::BAD_REQUEST,
                    &format!("The operation '{other}' is not supported."),
                );
            }
        }
    }
    let now = t.tick();
    record["modifyDate"] = json!(ts(now));
    if kind == "quoteItems" {
        price_line(&mut record);
    }
    let quote = if kind == "quoteItems" {
        record["idQuote"].as_str().map(str::to_string)
    } else {
        None
    };
    t.cpq
        .entry(kind)
        .or_default()
        .insert(id.to_string(), record.clone());
    if let Some(q) = quote {
        retotal(&mut t, &q);
        if let Some(updated) = t.cpq.get(kind).and_then(|m| m.get(id)) {
            record = updated.clone();
        }
    }
    Reply::json(StatusCode::OK, &record)
}

fn delete(s: &Shared, kind: &'static str, id: &str) -> Reply {
    let mut t = s.write();
    let Some(removed) = t.cpq.get_mut(kind).and_then(|m| m.remove(id)) else {
        return error(
            StatusCode::NOT_FOUND,
            &format!("{kind} {id} was not found."),
        );
    };
    if kind == "quoteItems"
        && let Some(q) = removed["idQuote"].as_str()
    {
        retotal(&mut t, q);
    }
    Reply::empty(StatusCode::NO_CONTENT)
}
