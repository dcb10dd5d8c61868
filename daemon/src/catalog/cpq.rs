//! `cw_cpq`: Sell (ConnectWise CPQ) quotes, and the quote shells `cw_agreements renewal_quote` and
//! `cw_sales draft_quote` build.
//!
//! Sell has no "create quote": a new quote is a copy of a template (`POST
//! /api/quotes/copyById/{id}`), then named (PATCH) and given lines (`POST /api/quoteItems`). A
//! quote shell is therefore one plan whose request names the copy and whose body carries, in
//! order, the patch and the lines that follow it ([`Shell`]); [`execute_shell`] sends each once.
//! The preview and the signed digest cover the whole body, so a verdict approves all of it.

use rust_decimal::Decimal;
use schemas::event::Risk;
use schemas::tool::params::{AddLine, Amount, CreateQuote, QuoteId, Quotes, SendQuote};
use serde_json::{Value, json};

use super::{Action, Ctx, Failure, Plan, Planning, clamp_limit};
use crate::calc;
use crate::connector::manage::{Literal, Op, PatchOp, condition};
use crate::connector::{Call, sell::Sell};

/// The path prefix of a quote shell's request.
pub const COPY_PREFIX: &str = "/api/quotes/copyById/";

pub(super) fn actions() -> Vec<Action> {
    vec![
        Action::read(
            "quotes",
            "Quotes, newest first, by status or Manage opportunity.",
            json!({"tool": "cw_cpq", "action": "quotes", "params": {"status": "Sent"}}),
            quotes,
        ),
        Action::read(
            "quote",
            "One quote with its lines and totals.",
            json!({"tool": "cw_cpq", "action": "quote", "params": {"id": "7e3a0000000000000000000000000001"}}),
            quote,
        ),
        Action::write(
            "create_quote",
            "A new draft quote, copied from a template (no lines yet; add them with add_line).",
            Risk::Write,
            json!({"tool": "cw_cpq", "action": "create_quote", "params": {"name": "Firewall replacement", "account_name": "Acme Dental"}, "confirm": true}),
            create_quote,
        ),
        Action::write(
            "add_line",
            "Add a line (description, quantity, unit price, cost) to a quote.",
            Risk::Write,
            json!({"tool": "cw_cpq", "action": "add_line", "params": {"quote_id": "7e3a0000000000000000000000000001", "description": "FortiGate 70G firewall", "quantity": 1, "price": "1250.00", "cost": "940.00"}, "confirm": true}),
            add_line,
        ),
        Action::write(
            "send_quote",
            "Mark a quote sent to the customer (customer-visible).",
            Risk::Hard,
            json!({"tool": "cw_cpq", "action": "send_quote", "params": {"id": "7e3a0000000000000000000000000001"}, "confirm": true}),
            send_quote,
        ),
    ]
}

/// An amount as an exact decimal, or `invalid_params` naming the field.
pub(super) fn decimal(amount: &Amount, field: &str) -> Result<Decimal, Failure> {
    calc::parse(&amount.text()).map_err(|e| Failure::invalid(format!("`{field}`: {e}")))
}

/// A JSON number from ConnectWise as an exact decimal (its printed digits, not a float's).
pub(super) fn decimal_of(value: &Value) -> Option<Decimal> {
    match value {
        Value::Number(n) => calc::parse(&n.to_string()).ok(),
        Value::String(s) => calc::parse(s).ok(),
        _ => None,
    }
}

/// An amount in US dollars as shown: rounded to cents, always two decimals (`"2800.00"`).
pub(super) fn money(d: Decimal) -> Result<String, Failure> {
    let mut r = calc::round(d, "USD").map_err(|e| Failure::invalid(e.to_string()))?;
    r.rescale(2);
    Ok(r.to_string())
}

/// A decimal as a JSON number for the wire (Sell takes doubles).
pub(super) fn number(d: Decimal) -> Value {
    serde_json::from_str(&d.normalize().to_string()).unwrap_or(Value::Null)
}

/// One quote line to add.
#[derive(Debug, Clone)]
pub struct Line {
    pub description: String,
    pub part_number: Option<String>,
    pub quantity: Decimal,
    pub price: Decimal,
    pub cost: Option<Decimal>,
}

impl Line {
    fn body(&self) -> Value {
        let mut out = json!({
            "shortDescription": self.description,
            "quantity": number(self.quantity),
            "quoteItemPrice": number(self.price),
        });
        if let Some(p) = &self.part_number {
            out["manufacturerPartNumber"] = json!(p);
        }
        if let Some(c) = self.cost {
            out["cost"] = number(c);
        }
        out
    }

    fn extended(&self) -> Result<Decimal, Failure> {
        calc::multiply(self.quantity, self.price).map_err(|e| Failure::invalid(e.to_string()))
    }
}

/// A new quote: a template's copy, its fields, its lines.
#[derive(Debug, Clone)]
pub struct Shell {
    pub template_id: String,
    /// Quote fields set after the copy (Sell's wire names), e.g. `name`, `accountName`; sent as
    /// one JSON Patch of `replace` operations.
    pub fields: Vec<(&'static str, Value)>,
    pub lines: Vec<Line>,
}

impl Shell {
    /// The plan: one request, the copy, whose body lists what follows it.
    pub fn plan(&self, summary: String, currency: &str) -> Result<Plan, Failure> {
        let fields: serde_json::Map<String, Value> = self
            .fields
            .iter()
            .map(|(f, v)| ((*f).to_owned(), v.clone()))
            .collect();
        let extended: Vec<Decimal> = self
            .lines
            .iter()
            .map(Line::extended)
            .collect::<Result<_, _>>()?;
        let total = calc::sum(&extended)
            .and_then(|t| calc::round(t, currency))
            .map_err(|e| Failure::invalid(e.to_string()))?;
        let mut total = total;
        total.rescale(calc::minor_units(currency).unwrap_or(2));
        let body = json!({
            "quote": fields,
            "quoteItems": self.lines.iter().map(Line::body).collect::<Vec<_>>(),
        });
        let plan = Plan::new(
            "sell",
            "POST",
            format!("{COPY_PREFIX}{}", self.template_id),
            Some(body),
            summary,
        );
        Ok(if self.lines.is_empty() {
            plan
        } else {
            plan.amount(format!("{total} {currency}"))
        })
    }
}

/// The template to copy: the one given, else the first template Sell lists.
pub(super) async fn template(
    ctx: &Ctx,
    call: &Call,
    given: Option<&str>,
) -> Result<String, Failure> {
    if let Some(id) = given {
        if id.trim().is_empty() {
            return Err(Failure::invalid("`template_id` is empty"));
        }
        return Ok(id.to_owned());
    }
    let templates = ctx
        .connectors()?
        .sell()?
        .get(call, &["api", "templates"], &[])
        .await?;
    templates
        .as_array()
        .and_then(|t| t.first())
        .and_then(|t| t["id"].as_str())
        .map(str::to_owned)
        .ok_or_else(|| Failure::invalid("CPQ has no template to copy a quote from"))
}

/// Sends a quote shell: the copy, then the patch, then each line, each once. A step that fails
/// stops the rest, and the answer says what exists (so nothing is sent twice by a retry).
pub async fn execute_shell(
    sell: &Sell,
    call: &Call,
    path: &str,
    body: Option<&Value>,
) -> Result<(u16, Value), Failure> {
    let template = path.trim_start_matches(COPY_PREFIX);
    let copy = sell
        .post(call, &["api", "quotes", "copyById", template], &json!({}))
        .await?;
    let Some(id) = copy["id"].as_str().map(str::to_owned) else {
        return Err(Failure::invalid(
            "Sell answered the copy without a quote id",
        ));
    };
    let empty = json!({});
    let body = body.unwrap_or(&empty);
    let incomplete = |step: &str, e: crate::connector::Error, lines: &[Value]| {
        Ok((
            207,
            json!({"quote_id": id, "incomplete": {"step": step, "error": e.body()}, "lines_added": lines}),
        ))
    };
    let ops: Vec<PatchOp> = body["quote"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(f, v)| PatchOp::replace(f, v.clone()))
        .collect();
    if !ops.is_empty()
        && let Err(e) = sell.patch(call, &["api", "quotes", &id], &ops).await
    {
        return incomplete("patch", e, &[]);
    }
    let mut added = Vec::new();
    for line in body["quoteItems"].as_array().into_iter().flatten() {
        let mut item = line.clone();
        item["idQuote"] = json!(id);
        match sell.post(call, &["api", "quoteItems"], &item).await {
            Ok(a) => added.push(json!({"id": a["id"], "description": a["shortDescription"]})),
            Err(e) => return incomplete("line", e, &added),
        }
    }
    let quote = sell.quote(call, &id).await.unwrap_or(copy);
    Ok((
        200,
        json!({"quote": compact_quote(&quote), "lines_added": added}),
    ))
}

/// A planned JSON Patch body back as operations (for sending it).
pub fn patch_ops(body: Option<&Value>) -> Vec<PatchOp> {
    body.and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|op| {
            let path = op["path"].as_str()?;
            match op["op"].as_str()? {
                "replace" => Some(PatchOp::replace(path, op["value"].clone())),
                "add" => Some(PatchOp::add(path, op["value"].clone())),
                "remove" => Some(PatchOp::remove(path)),
                _ => None,
            }
        })
        .collect()
}

/// A quote as a reader needs it.
pub(super) fn compact_quote(q: &Value) -> Value {
    let mut out = serde_json::Map::new();
    for (from, to) in [
        ("id", "id"),
        ("quoteNumber", "number"),
        ("quoteVersion", "version"),
        ("name", "name"),
        ("accountName", "account"),
        ("contactName", "contact"),
        ("quoteStatus", "status"),
        ("quoteTotal", "total"),
        ("subtotal", "subtotal"),
        ("quoteCost", "cost"),
        ("grossMargin", "margin_percent"),
        ("expirationDate", "expires"),
        ("expectedCloseDate", "expected_close"),
        ("crmOpportunityId", "opportunity_id"),
        ("primaryRep", "rep"),
    ] {
        if let Some(v) = q.get(from).filter(|v| !v.is_null() && *v != "") {
            out.insert(to.into(), v.clone());
        }
    }
    Value::Object(out)
}

fn compact_line(i: &Value) -> Value {
    json!({
        "id": i["id"],
        "description": i["shortDescription"],
        "part_number": i["manufacturerPartNumber"],
        "quantity": i["quantity"],
        "price": i["quoteItemPrice"],
        "extended": i["extendedPrice"],
        "cost": i["cost"],
        "tab": i["quoteTab"]["name"],
    })
}

fn strip_nulls(mut v: Value) -> Value {
    if let Some(m) = v.as_object_mut() {
        m.retain(|_, v| !v.is_null());
    }
    v
}

async fn quotes(ctx: Ctx, call: Call, p: Quotes) -> Result<Value, Failure> {
    let sell = ctx.connectors()?.sell()?;
    let mut conditions = Vec::new();
    if let Some(s) = &p.status {
        conditions.push(condition("quoteStatus", Op::Eq, s.as_str())?);
    }
    if let Some(o) = p.opportunity_id {
        conditions.push(condition(
            "crmOpportunityId",
            Op::Eq,
            Literal::from(o.to_string().as_str()),
        )?);
    }
    let joined = conditions.join(" and ");
    let limit = clamp_limit(p.limit);
    let rows = sell
        .quotes(
            &call,
            (!joined.is_empty()).then_some(joined.as_str()),
            1,
            limit as u32,
        )
        .await?;
    let mut rows: Vec<Value> = rows.as_array().cloned().unwrap_or_default();
    rows.sort_by(|a, b| b["createDate"].as_str().cmp(&a["createDate"].as_str()));
    Ok(json!({
        "count": rows.len(),
        "quotes": rows.iter().map(compact_quote).collect::<Vec<_>>(),
    }))
}

async fn quote(ctx: Ctx, call: Call, p: QuoteId) -> Result<Value, Failure> {
    let sell = ctx.connectors()?.sell()?;
    let (q, items) = futures::try_join!(sell.quote(&call, &p.id), sell.quote_items(&call, &p.id))?;
    let mut lines: Vec<Value> = items.as_array().cloned().unwrap_or_default();
    lines.sort_by_key(|i| i["sortOrder"].as_i64());
    Ok(json!({
        "quote": compact_quote(&q),
        "lines": lines.iter().map(|l| strip_nulls(compact_line(l))).collect::<Vec<_>>(),
    }))
}

async fn create_quote(ctx: Ctx, call: Call, p: CreateQuote, _: Planning) -> Result<Plan, Failure> {
    let name = p.name.trim();
    let account = p.account_name.trim();
    if name.is_empty() || account.is_empty() {
        return Err(Failure::invalid(
            "`name` and `account_name` must not be empty",
        ));
    }
    // The template's id is in the exact request: a lookup even for a preview.
    let template = template(&ctx, &call, p.template_id.as_deref()).await?;
    let mut fields = vec![("name", json!(name)), ("accountName", json!(account))];
    if let Some(o) = p.opportunity_id {
        fields.push(("crmOpportunityId", json!(o.to_string())));
    }
    Shell {
        template_id: template,
        fields,
        lines: Vec::new(),
    }
    .plan(
        format!("create draft quote \"{name}\" for {account}"),
        "USD",
    )
}

async fn add_line(ctx: Ctx, call: Call, p: AddLine, planning: Planning) -> Result<Plan, Failure> {
    let description = p.description.trim();
    if description.is_empty() {
        return Err(Failure::invalid("`description` is empty"));
    }
    let line = Line {
        description: description.to_owned(),
        part_number: p.part_number.clone(),
        quantity: decimal(&p.quantity, "quantity")?,
        price: decimal(&p.price, "price")?,
        cost: p.cost.as_ref().map(|c| decimal(c, "cost")).transpose()?,
    };
    if line.quantity <= Decimal::ZERO {
        return Err(Failure::invalid("`quantity` must be more than 0"));
    }
    let extended = money(line.extended()?)?;
    let title = if planning.confirmed {
        let q = ctx.connectors()?.sell()?.quote(&call, &p.quote_id).await?;
        format!(" ({})", q["name"].as_str().unwrap_or_default())
    } else {
        String::new()
    };
    let mut body = line.body();
    body["idQuote"] = json!(p.quote_id);
    Ok(Plan::new(
        "sell",
        "POST",
        "/api/quoteItems",
        Some(body),
        format!(
            "add {} × {description} at {} to quote {}{title}",
            line.quantity, line.price, p.quote_id
        ),
    )
    .target("quote", &p.quote_id)
    .amount(format!("{extended} USD")))
}

async fn send_quote(
    ctx: Ctx,
    call: Call,
    p: SendQuote,
    planning: Planning,
) -> Result<Plan, Failure> {
    let q = if planning.confirmed {
        ctx.connectors()?.sell()?.quote(&call, &p.id).await?
    } else {
        Value::Null
    };
    if q["quoteStatus"] == "Won" {
        return Err(Failure::invalid(format!("quote {} is already won", p.id)));
    }
    let ops = [
        PatchOp::replace("/quoteStatus", json!("Sent")),
        PatchOp::replace("/isSent", json!(true)),
    ];
    let name = q["name"]
        .as_str()
        .map(|n| format!(" ({n})"))
        .unwrap_or_default();
    let mut plan = Plan::new(
        "sell",
        "PATCH",
        format!("/api/quotes/{}", p.id),
        Some(serde_json::to_value(ops).unwrap_or(Value::Null)),
        format!("send quote {}{name} to the customer", p.id),
    )
    .target("quote", &p.id)
    .customer_visible(format!("Quote {}{name}", p.id));
    if let Some(total) = q["quoteTotal"].as_f64() {
        plan = plan.amount(format!("{total:.2} USD"));
    }
    Ok(plan)
}
