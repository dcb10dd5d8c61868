//! `cw_finance`: invoices, receivables aging, unbilled work, and the finance writes, every one of
//! them on the hard floor (creating and posting invoices, accounting batches, approving expenses
//! and purchase orders). Money is summed with exact decimals (`crate::calc`).

use std::collections::BTreeMap;

use chrono::{Duration, NaiveDate};
use rust_decimal::Decimal;
use schemas::event::Risk;
use schemas::tool::params::{
    ApproveExpense, ApprovePo, ArAging, CreateInvoice, GenerateBatch, IdParams, InvoiceState,
    InvoiceType, Invoices, PostInvoice, Unbilled,
};
use serde_json::{Value, json};

use super::cpq::{decimal_of, money};
use super::{Action, Ctx, Failure, Plan, Planning, clamp_limit, day, midnight};
use crate::calc;
use crate::connector::Call;
use crate::connector::manage::{Op, PatchOp, Query, condition};

/// Most invoices or time entries read for an analysis.
const MAX_ROWS: usize = 5000;

pub(super) fn actions() -> Vec<Action> {
    vec![
        Action::read(
            "invoices",
            "Invoices, open (a balance left) by default, newest first, with days overdue.",
            json!({"tool": "cw_finance", "action": "invoices", "params": {"company_id": 250}}),
            invoices,
        ),
        Action::read(
            "invoice",
            "One invoice.",
            json!({"tool": "cw_finance", "action": "invoice", "params": {"id": 7701}}),
            invoice,
        ),
        Action::read(
            "ar_aging",
            "Receivables by age past due (current, 1-30, 31-60, 61-90, 90+), in total and per company.",
            json!({"tool": "cw_finance", "action": "ar_aging", "params": {}}),
            ar_aging,
        ),
        Action::read(
            "unbilled",
            "Billable time not yet invoiced in a period, valued at its rates, per company (hours charged to an agreement shown too).",
            json!({"tool": "cw_finance", "action": "unbilled", "params": {"from": "2026-02-01", "to": "2026-02-28"}}),
            unbilled,
        ),
        Action::write(
            "create_invoice",
            "Create an invoice for a company.",
            Risk::Hard,
            json!({"tool": "cw_finance", "action": "create_invoice", "params": {"company_id": 250, "description": "February project work"}, "confirm": true}),
            create_invoice,
        ),
        Action::write(
            "post_invoice",
            "Post one invoice to accounting (an accounting batch of that invoice).",
            Risk::Hard,
            json!({"tool": "cw_finance", "action": "post_invoice", "params": {"id": 7703}, "confirm": true}),
            post_invoice,
        ),
        Action::write(
            "generate_batch",
            "Create an accounting batch of every unposted invoice dated up to a day.",
            Risk::Hard,
            json!({"tool": "cw_finance", "action": "generate_batch", "params": {"through": "2026-02-28"}, "confirm": true}),
            generate_batch,
        ),
        Action::write(
            "approve_expense",
            "Approve an expense report.",
            Risk::Hard,
            json!({"tool": "cw_finance", "action": "approve_expense", "params": {"report_id": 88}, "confirm": true}),
            approve_expense,
        ),
        Action::write(
            "approve_po",
            "Move a purchase order to the Approved status (or another one given).",
            Risk::Hard,
            json!({"tool": "cw_finance", "action": "approve_po", "params": {"id": 412}, "confirm": true}),
            approve_po,
        ),
    ]
}

fn date_of(v: &Value) -> Option<NaiveDate> {
    v.as_str()?.get(..10)?.parse().ok()
}

fn reference(v: &Value) -> Value {
    json!({"id": v["id"], "name": v["name"].as_str().or(v["identifier"].as_str())})
}

/// An invoice as a reader needs it, with days overdue as of `today`.
fn compact_invoice(i: &Value, today: NaiveDate) -> Value {
    let mut out = json!({
        "id": i["id"],
        "number": i["invoiceNumber"],
        "type": i["type"],
        "company": reference(&i["company"]),
        "status": i["status"]["name"],
        "date": i["date"].as_str().and_then(|d| d.get(..10)),
        "due": i["dueDate"].as_str().and_then(|d| d.get(..10)),
        "total": i["total"],
        "balance": i["balance"],
    });
    if !i["agreement"].is_null() {
        out["agreement"] = reference(&i["agreement"]);
    }
    if let Some(due) = date_of(&i["dueDate"])
        && i["balance"].as_f64().unwrap_or_default() > 0.0
        && today > due
    {
        out["days_overdue"] = json!((today - due).num_days());
    }
    out
}

async fn invoices(ctx: Ctx, call: Call, p: Invoices) -> Result<Value, Failure> {
    let mut query = Query::new().order_by("date desc");
    match p.state {
        InvoiceState::Open => query = query.and("balance > 0"),
        InvoiceState::Paid => query = query.and("balance = 0"),
        InvoiceState::Any => {}
    }
    if let Some(c) = p.company_id {
        query = query.and(condition("company/id", Op::Eq, c)?);
    }
    let listing = ctx
        .manage()?
        .list(&call, "/finance/invoices", &query, clamp_limit(p.limit))
        .await?;
    let balance: Vec<Decimal> = listing
        .rows
        .iter()
        .filter_map(|i| decimal_of(&i["balance"]))
        .collect();
    Ok(json!({
        "count": listing.rows.len(),
        "truncated": listing.truncated,
        "balance": money(calc::sum(&balance).unwrap_or_default())?,
        "invoices": listing.rows.iter().map(|i| compact_invoice(i, ctx.today)).collect::<Vec<_>>(),
    }))
}

async fn invoice(ctx: Ctx, call: Call, p: IdParams) -> Result<Value, Failure> {
    let raw = p.fields.is_some();
    let i = ctx
        .manage()?
        .get(
            &call,
            &format!("/finance/invoices/{}", p.id),
            &Query::new().fields(p.fields.unwrap_or_default()),
        )
        .await?;
    Ok(if raw {
        i
    } else {
        compact_invoice(&i, ctx.today)
    })
}

/// The aging bucket of a balance due on `due`, as of `today`.
pub(super) fn bucket(due: NaiveDate, today: NaiveDate) -> &'static str {
    match (today - due).num_days() {
        d if d <= 0 => "current",
        1..=30 => "1_30",
        31..=60 => "31_60",
        61..=90 => "61_90",
        _ => "over_90",
    }
}

const BUCKETS: [&str; 5] = ["current", "1_30", "31_60", "61_90", "over_90"];

/// Receivables aging over every invoice with a balance (one read).
pub(super) async fn aging(ctx: &Ctx, call: &Call, company: Option<i64>) -> Result<Value, Failure> {
    let mut query = Query::new().conditions("balance > 0");
    if let Some(c) = company {
        query = query.and(condition("company/id", Op::Eq, c)?);
    }
    let open = ctx
        .manage()?
        .list(call, "/finance/invoices", &query, MAX_ROWS)
        .await?;
    let mut totals: BTreeMap<&str, Vec<Decimal>> = BTreeMap::new();
    let mut per_company: BTreeMap<i64, (Value, BTreeMap<&str, Vec<Decimal>>)> = BTreeMap::new();
    for i in &open.rows {
        let (Some(due), Some(balance)) = (date_of(&i["dueDate"]), decimal_of(&i["balance"])) else {
            continue;
        };
        let b = bucket(due, ctx.today);
        totals.entry(b).or_default().push(balance);
        let c = i["company"]["id"].as_i64().unwrap_or_default();
        per_company
            .entry(c)
            .or_insert_with(|| (reference(&i["company"]), BTreeMap::new()))
            .1
            .entry(b)
            .or_default()
            .push(balance);
    }
    let shape = |m: &BTreeMap<&str, Vec<Decimal>>| -> Result<Value, Failure> {
        let mut out = serde_json::Map::new();
        let mut all = Vec::new();
        for b in BUCKETS {
            let s = calc::sum(m.get(b).map(Vec::as_slice).unwrap_or_default()).unwrap_or_default();
            all.push(s);
            out.insert(b.into(), json!(money(s)?));
        }
        out.insert(
            "total".into(),
            json!(money(calc::sum(&all).unwrap_or_default())?),
        );
        Ok(Value::Object(out))
    };
    let mut companies = per_company
        .values()
        .map(|(c, m)| Ok(json!({"company": c, "aging": shape(m)?})))
        .collect::<Result<Vec<Value>, Failure>>()?;
    companies.sort_by(|a, b| {
        let t = |v: &Value| {
            v["aging"]["total"]
                .as_str()
                .and_then(|s| s.parse::<f64>().ok())
        };
        t(b).partial_cmp(&t(a)).unwrap_or(std::cmp::Ordering::Equal)
    });
    Ok(json!({
        "as_of": ctx.today.to_string(),
        "currency": "USD",
        "invoices": open.rows.len(),
        "truncated": open.truncated,
        "aging": shape(&totals)?,
        "companies": companies,
    }))
}

async fn ar_aging(ctx: Ctx, call: Call, p: ArAging) -> Result<Value, Failure> {
    aging(&ctx, &call, p.company_id).await
}

/// The period of an `unbilled` call: `from`..=`to`, 30 days back from today by default.
pub(super) fn period(
    ctx: &Ctx,
    from: Option<&str>,
    to: Option<&str>,
    days_back: i64,
) -> Result<(NaiveDate, NaiveDate), Failure> {
    let to = match to {
        Some(t) => day(t, "to")?,
        None => ctx.today,
    };
    let from = match from {
        Some(f) => day(f, "from")?,
        None => to - Duration::days(days_back),
    };
    if from > to {
        return Err(Failure::invalid("`from` is after `to`"));
    }
    Ok((from, to))
}

/// Billable time with no invoice in a period: the entries, each valued at hours × rate.
pub(super) async fn unbilled_entries(
    ctx: &Ctx,
    call: &Call,
    p: &Unbilled,
) -> Result<(NaiveDate, NaiveDate, Vec<Value>, bool), Failure> {
    let (from, to) = period(ctx, p.from.as_deref(), p.to.as_deref(), 30)?;
    let mut query = Query::new()
        .conditions("billableOption = \"Billable\" and invoice/id = null")
        .and(condition("timeStart", Op::Ge, midnight(from))?)
        .and(condition(
            "timeStart",
            Op::Lt,
            midnight(to + Duration::days(1)),
        )?)
        .order_by("timeStart asc");
    if let Some(c) = p.company_id {
        query = query.and(condition("company/id", Op::Eq, c)?);
    }
    if let Some(m) = &p.member {
        query = query.and(condition("member/identifier", Op::Eq, m.as_str())?);
    }
    let listing = ctx
        .manage()?
        .list(call, "/time/entries", &query, MAX_ROWS)
        .await?;
    Ok((from, to, listing.rows, listing.truncated))
}

/// An unbilled entry's value: hours × hourly rate, exact.
pub(super) fn entry_value(e: &Value) -> Decimal {
    let hours = decimal_of(&e["actualHours"]).unwrap_or_default();
    let rate = decimal_of(&e["hourlyRate"]).unwrap_or_default();
    calc::multiply(hours, rate).unwrap_or_default()
}

/// The value of unbilled entries, in cents.
pub(super) fn unbilled_value(entries: &[Value]) -> Result<String, Failure> {
    let values: Vec<Decimal> = entries.iter().map(entry_value).collect();
    money(calc::sum(&values).unwrap_or_default())
}

/// Unbilled work per company: hours and value, agreement-covered time apart.
pub(super) fn unbilled_by_company(entries: &[Value]) -> Result<Vec<Value>, Failure> {
    #[derive(Default)]
    struct Sums {
        name: Value,
        hours: Vec<Decimal>,
        value: Vec<Decimal>,
        covered_hours: Vec<Decimal>,
        entries: usize,
    }
    let mut by: BTreeMap<i64, Sums> = BTreeMap::new();
    for e in entries {
        let c = e["company"]["id"].as_i64().unwrap_or_default();
        let s = by.entry(c).or_default();
        s.name = e["company"]["name"].clone();
        s.entries += 1;
        let hours = decimal_of(&e["actualHours"]).unwrap_or_default();
        s.hours.push(hours);
        s.value.push(entry_value(e));
        if !e["agreement"].is_null() {
            s.covered_hours.push(hours);
        }
    }
    let mut rows = by
        .into_iter()
        .map(|(id, s)| {
            let value = calc::sum(&s.value).unwrap_or_default();
            Ok(json!({
                "company": {"id": id, "name": s.name},
                "entries": s.entries,
                "hours": calc::sum(&s.hours).unwrap_or_default().normalize().to_string(),
                "value": money(value)?,
                "agreement_hours": calc::sum(&s.covered_hours).unwrap_or_default().normalize().to_string(),
            }))
        })
        .collect::<Result<Vec<Value>, Failure>>()?;
    rows.sort_by(|a, b| {
        let v = |x: &Value| x["value"].as_str().and_then(|s| s.parse::<f64>().ok());
        v(b).partial_cmp(&v(a)).unwrap_or(std::cmp::Ordering::Equal)
    });
    Ok(rows)
}

async fn unbilled(ctx: Ctx, call: Call, p: Unbilled) -> Result<Value, Failure> {
    let (from, to, entries, truncated) = unbilled_entries(&ctx, &call, &p).await?;
    let rows = unbilled_by_company(&entries)?;
    Ok(json!({
        "from": from.to_string(),
        "to": to.to_string(),
        "currency": "USD",
        "entries": entries.len(),
        "truncated": truncated,
        "value": unbilled_value(&entries)?,
        "companies": rows,
    }))
}

async fn create_invoice(
    ctx: Ctx,
    call: Call,
    p: CreateInvoice,
    planning: Planning,
) -> Result<Plan, Failure> {
    let date = match &p.date {
        Some(d) => day(d, "date")?,
        None => ctx.today,
    };
    let kind = match p.invoice_type {
        InvoiceType::Standard => "Standard",
        InvoiceType::Agreement => "Agreement",
        InvoiceType::Miscellaneous => "Miscellaneous",
        InvoiceType::CreditMemo => "CreditMemo",
    };
    let mut body = json!({
        "type": kind,
        "company": {"id": p.company_id},
        "date": format!("{date}T00:00:00Z"),
        "applyToType": "All",
    });
    match (p.invoice_type, p.agreement_id) {
        (InvoiceType::Agreement, Some(a)) => {
            body["applyToType"] = json!("Agreement");
            body["applyToId"] = json!(a);
        }
        (InvoiceType::Agreement, None) => {
            return Err(Failure::invalid(
                "an `Agreement` invoice needs `agreement_id`",
            ));
        }
        (_, Some(_)) => {
            return Err(Failure::invalid("`agreement_id` is for type `Agreement`"));
        }
        _ => {}
    }
    if let Some(d) = &p.description {
        body["description"] = json!(d);
    }
    let name = if planning.confirmed {
        let c = ctx
            .manage()?
            .get(
                &call,
                &format!("/company/companies/{}", p.company_id),
                &Query::new().fields(["id", "name"]),
            )
            .await?;
        c["name"].as_str().unwrap_or_default().to_owned()
    } else {
        format!("company {}", p.company_id)
    };
    Ok(Plan::new(
        "manage",
        "POST",
        "/finance/invoices",
        Some(body),
        format!("create a {kind} invoice for {name} dated {date}"),
    )
    .target("company", p.company_id))
}

/// An accounting batch of these invoices (`CreateAccountingBatchRequest`).
fn batch_plan(identifier: String, invoice_ids: &[i64], summary: String) -> Plan {
    Plan::new(
        "manage",
        "POST",
        "/finance/accounting/batches",
        Some(json!({
            "batchIdentifier": identifier,
            "exportInvoicesFlag": true,
            "exportExpensesFlag": false,
            "exportProductsFlag": false,
            "processedRecordIds": invoice_ids,
        })),
        summary,
    )
}

async fn post_invoice(
    ctx: Ctx,
    call: Call,
    p: PostInvoice,
    planning: Planning,
) -> Result<Plan, Failure> {
    let mut plan = batch_plan(
        format!("NJ-INV-{}", p.id),
        &[p.id],
        format!("post invoice {} to accounting", p.id),
    )
    .target("invoice", p.id);
    if planning.confirmed {
        let i = ctx
            .manage()?
            .get(&call, &format!("/finance/invoices/{}", p.id), &Query::new())
            .await?;
        plan.effect.summary = format!(
            "post invoice {} ({}, {}) to accounting",
            i["invoiceNumber"].as_str().unwrap_or_default(),
            i["company"]["name"].as_str().unwrap_or_default(),
            i["date"]
                .as_str()
                .and_then(|d| d.get(..10))
                .unwrap_or_default(),
        );
        if let Some(total) = decimal_of(&i["total"]) {
            plan = plan.amount(format!("{} USD", money(total)?));
        }
        plan.observed = super::observed(&format!("/finance/invoices/{}", p.id), &i);
    }
    Ok(plan)
}

async fn generate_batch(
    ctx: Ctx,
    call: Call,
    p: GenerateBatch,
    _: Planning,
) -> Result<Plan, Failure> {
    let through = match &p.through {
        Some(d) => day(d, "through")?,
        None => ctx.today,
    };
    // The invoice ids are the exact request: the unposted queue is read even for a preview.
    let unposted = ctx
        .manage()?
        .list(
            &call,
            "/finance/accounting/unpostedinvoices",
            &Query::new()
                .conditions(condition(
                    "invoiceDate",
                    Op::Lt,
                    midnight(through + Duration::days(1)),
                )?)
                .order_by("id asc"),
            MAX_ROWS,
        )
        .await?
        .rows;
    if unposted.is_empty() {
        return Err(Failure::invalid(format!(
            "no unposted invoice is dated on or before {through}: there is nothing to batch"
        )));
    }
    let ids: Vec<i64> = unposted.iter().filter_map(|i| i["id"].as_i64()).collect();
    let totals: Vec<Decimal> = unposted
        .iter()
        .filter_map(|i| decimal_of(&i["total"]))
        .collect();
    let identifier = p
        .batch_identifier
        .unwrap_or_else(|| format!("NJ-{}", ctx.today.format("%Y%m%d")));
    Ok(batch_plan(
        identifier.clone(),
        &ids,
        format!(
            "create accounting batch {identifier} of {} unposted invoices dated up to {through}",
            ids.len()
        ),
    )
    .amount(format!(
        "{} USD",
        money(calc::sum(&totals).unwrap_or_default())?
    )))
}

async fn approve_expense(
    ctx: Ctx,
    call: Call,
    p: ApproveExpense,
    planning: Planning,
) -> Result<Plan, Failure> {
    // `ExpenseReportTierUpdate`: the approval, with an optional note.
    let mut body = json!({});
    if let Some(n) = p.notes.as_ref().filter(|n| !n.trim().is_empty()) {
        body["notes"] = json!(n);
    }
    let path = format!("/expense/reports/{}", p.report_id);
    let mut plan = Plan::new(
        "manage",
        "POST",
        format!("{path}/approve"),
        Some(body),
        format!("approve expense report {}", p.report_id),
    )
    .target("expense_report", p.report_id);
    if planning.confirmed {
        let report = ctx.manage()?.get(&call, &path, &Query::new()).await?;
        if report["status"]
            .as_str()
            .is_some_and(|s| s.starts_with("Approved"))
        {
            return Err(Failure::invalid(format!(
                "expense report {} is already approved",
                p.report_id
            )));
        }
        plan.effect.summary = format!(
            "approve expense report {} of {} ({} to {})",
            p.report_id,
            report["member"]["identifier"].as_str().unwrap_or_default(),
            report["dateStart"]
                .as_str()
                .and_then(|d| d.get(..10))
                .unwrap_or_default(),
            report["dateEnd"]
                .as_str()
                .and_then(|d| d.get(..10))
                .unwrap_or_default(),
        );
        if let Some(total) = decimal_of(&report["total"]) {
            plan = plan.amount(format!("{} USD", money(total)?));
        }
        plan.observed = super::observed(&path, &report);
    }
    Ok(plan)
}

async fn approve_po(
    ctx: Ctx,
    call: Call,
    p: ApprovePo,
    planning: Planning,
) -> Result<Plan, Failure> {
    let manage = ctx.manage()?;
    // The status id is in the exact request: without one, the "Approved" status is looked up.
    let status_id = match p.status_id {
        Some(id) => id,
        None => manage
            .list(
                &call,
                "/procurement/purchaseorderstatuses",
                &Query::new().conditions("name = \"Approved\""),
                5,
            )
            .await?
            .rows
            .first()
            .and_then(|s| s["id"].as_i64())
            .ok_or_else(|| {
                Failure::invalid("no purchase order status is named Approved; give `status_id`")
            })?,
    };
    let path = format!("/procurement/purchaseorders/{}", p.id);
    let ops = [PatchOp::replace("status/id", json!(status_id))];
    let mut plan = Plan::new(
        "manage",
        "PATCH",
        path.clone(),
        Some(serde_json::to_value(ops).unwrap_or(Value::Null)),
        format!("approve purchase order {} (status {status_id})", p.id),
    )
    .target("purchase_order", p.id);
    if planning.confirmed {
        let po = manage.get(&call, &path, &Query::new()).await?;
        if po["status"]["id"] == status_id {
            return Err(Failure::invalid(format!(
                "purchase order {} already has status {status_id}",
                p.id
            )));
        }
        plan.effect.summary = format!(
            "approve purchase order {} ({} from {})",
            po["poNumber"].as_str().unwrap_or_default(),
            po["internalNotes"].as_str().unwrap_or_default(),
            po["vendorCompany"]["name"].as_str().unwrap_or_default(),
        );
        plan.effect.changes = vec![schemas::event::FieldChange {
            field: "status".into(),
            before: Some(json!({"id": po["status"]["id"], "name": po["status"]["name"]})),
            after: Some(json!({"id": status_id})),
        }];
        if let Some(total) = decimal_of(&po["total"]) {
            plan = plan.amount(format!("{} USD", money(total)?));
        }
        plan.observed = super::observed(&path, &po);
    }
    Ok(plan)
}
