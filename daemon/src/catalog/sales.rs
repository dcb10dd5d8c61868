//! `cw_sales`: opportunities, the pipeline valued from their CPQ quotes, and a draft quote shell
//! for an opportunity (Manage opportunity → Sell quote).

use std::collections::BTreeMap;

use rust_decimal::Decimal;
use schemas::event::Risk;
use schemas::tool::params::{DraftQuote, NoParams, Opportunities, OpportunityState};
use serde_json::{Value, json};

use super::cpq::{Shell, decimal_of, money, template};
use super::{Action, Ctx, Failure, Plan, Planning, clamp_limit};
use crate::calc;
use crate::connector::Call;
use crate::connector::manage::{Op, Query, condition};

/// Most opportunities or quotes read for the pipeline.
const MAX_ROWS: usize = 1000;

pub(super) fn actions() -> Vec<Action> {
    vec![
        Action::read(
            "opportunities",
            "Opportunities (open by default), soonest expected close first.",
            json!({"tool": "cw_sales", "action": "opportunities", "params": {"state": "open"}}),
            opportunities,
        ),
        Action::read(
            "pipeline",
            "Open opportunities valued at their latest CPQ quote, weighted by probability, by stage and by month of expected close.",
            json!({"tool": "cw_sales", "action": "pipeline", "params": {}}),
            pipeline,
        ),
        Action::write(
            "draft_quote",
            "Draft a CPQ quote for an opportunity: a template copy named for it and linked to it.",
            Risk::Write,
            json!({"tool": "cw_sales", "action": "draft_quote", "params": {"opportunity_id": 3001}, "confirm": true}),
            draft_quote,
        ),
    ]
}

fn compact(o: &Value) -> Value {
    let r =
        |v: &Value| json!({"id": v["id"], "name": v["name"].as_str().or(v["identifier"].as_str())});
    let mut out = json!({
        "id": o["id"],
        "name": o["name"],
        "company": r(&o["company"]),
        "stage": o["stage"]["name"],
        "status": o["status"]["name"],
        "probability_percent": o["probability"]["name"].as_str().and_then(|p| p.parse::<u32>().ok()),
        "expected_close": o["expectedCloseDate"].as_str().and_then(|d| d.get(..10)),
        "rep": r(&o["primarySalesRep"]),
    });
    if let Some(m) = out.as_object_mut() {
        m.retain(|_, v| !v.is_null());
    }
    out
}

async fn opportunities(ctx: Ctx, call: Call, p: Opportunities) -> Result<Value, Failure> {
    let mut query = Query::new().order_by("expectedCloseDate asc");
    let status = match p.state {
        OpportunityState::Open => Some("Open"),
        OpportunityState::Won => Some("Won"),
        OpportunityState::Lost => Some("Lost"),
        OpportunityState::Any => None,
    };
    if let Some(s) = status {
        query = query.and(condition("status/name", Op::Eq, s)?);
    }
    if let Some(c) = p.company_id {
        query = query.and(condition("company/id", Op::Eq, c)?);
    }
    let listing = ctx
        .manage()?
        .list(&call, "/sales/opportunities", &query, clamp_limit(p.limit))
        .await?;
    Ok(json!({
        "count": listing.rows.len(),
        "truncated": listing.truncated,
        "opportunities": listing.rows.iter().map(compact).collect::<Vec<_>>(),
    }))
}

async fn pipeline(ctx: Ctx, call: Call, _: NoParams) -> Result<Value, Failure> {
    let manage = ctx.manage()?;
    let sell = ctx.connectors()?.sell()?;
    let query = Query::new().conditions("status/name = \"Open\"");
    let (open, quotes) = futures::try_join!(
        manage.list(&call, "/sales/opportunities", &query, MAX_ROWS),
        sell.quotes(&call, None, 1, MAX_ROWS as u32),
    )?;
    // The latest version of each opportunity's quotes.
    let mut latest: BTreeMap<String, &Value> = BTreeMap::new();
    for q in quotes.as_array().into_iter().flatten() {
        let Some(o) = q["crmOpportunityId"].as_str() else {
            continue;
        };
        let newer = latest
            .get(o)
            .is_none_or(|l| q["modifyDate"].as_str() > l["modifyDate"].as_str());
        if newer {
            latest.insert(o.to_owned(), q);
        }
    }
    #[derive(Default)]
    struct Sum {
        count: usize,
        value: Vec<Decimal>,
        weighted: Vec<Decimal>,
    }
    let mut by_stage: BTreeMap<String, Sum> = BTreeMap::new();
    let mut by_month: BTreeMap<String, Sum> = BTreeMap::new();
    let mut rows = Vec::new();
    let mut unquoted = 0;
    for o in &open.rows {
        let id = o["id"].to_string();
        let value = latest.get(&id).and_then(|q| decimal_of(&q["quoteTotal"]));
        if value.is_none() {
            unquoted += 1;
        }
        let value = value.unwrap_or_default();
        let probability = o["probability"]["name"]
            .as_str()
            .and_then(|p| calc::parse(p).ok())
            .unwrap_or_default();
        let weighted = calc::percent_of(value, probability).unwrap_or_default();
        let stage = o["stage"]["name"].as_str().unwrap_or("None").to_owned();
        let month = o["expectedCloseDate"]
            .as_str()
            .and_then(|d| d.get(..7))
            .unwrap_or("none")
            .to_owned();
        for slot in [
            by_stage.entry(stage).or_default(),
            by_month.entry(month).or_default(),
        ] {
            slot.count += 1;
            slot.value.push(value);
            slot.weighted.push(weighted);
        }
        let mut row = compact(o);
        row["value"] = json!(money(value)?);
        row["weighted"] = json!(money(weighted)?);
        if let Some(q) = latest.get(&id) {
            row["quote"] =
                json!({"id": q["id"], "number": q["quoteNumber"], "status": q["quoteStatus"]});
        }
        rows.push(row);
    }
    let shape = |m: BTreeMap<String, Sum>, key: &str| -> Result<Vec<Value>, Failure> {
        m.into_iter()
            .map(|(k, s)| {
                Ok(json!({
                    key: k,
                    "count": s.count,
                    "value": money(calc::sum(&s.value).unwrap_or_default())?,
                    "weighted": money(calc::sum(&s.weighted).unwrap_or_default())?,
                }))
            })
            .collect()
    };
    let all: Vec<Decimal> = rows
        .iter()
        .filter_map(|r| decimal_of(&r["value"]))
        .collect();
    let weighted: Vec<Decimal> = rows
        .iter()
        .filter_map(|r| decimal_of(&r["weighted"]))
        .collect();
    Ok(json!({
        "currency": "USD",
        "open": rows.len(),
        "without_quote": unquoted,
        "value": money(calc::sum(&all).unwrap_or_default())?,
        "weighted": money(calc::sum(&weighted).unwrap_or_default())?,
        "by_stage": shape(by_stage, "stage")?,
        "by_close_month": shape(by_month, "month")?,
        "opportunities": rows,
    }))
}

async fn draft_quote(ctx: Ctx, call: Call, p: DraftQuote, _: Planning) -> Result<Plan, Failure> {
    // Name, customer and template are in the exact request: read even for a preview.
    let path = format!("/sales/opportunities/{}", p.opportunity_id);
    let (o, template_id) = futures::try_join!(
        async { Ok::<_, Failure>(ctx.manage()?.get(&call, &path, &Query::new()).await?) },
        template(&ctx, &call, p.template_id.as_deref()),
    )?;
    if o["status"]["name"] != "Open" {
        return Err(Failure::invalid(format!(
            "opportunity {} is {}, not open",
            p.opportunity_id,
            o["status"]["name"].as_str().unwrap_or("closed")
        )));
    }
    let name = o["name"].as_str().unwrap_or_default();
    let company = o["company"]["name"].as_str().unwrap_or_default();
    let mut fields = vec![
        ("name", json!(name)),
        ("accountName", json!(company)),
        ("crmOpportunityId", json!(p.opportunity_id.to_string())),
    ];
    if let Some(c) = o["contact"]["name"].as_str() {
        fields.push(("contactName", json!(c)));
    }
    if let Some(d) = o["expectedCloseDate"].as_str() {
        fields.push(("expectedCloseDate", json!(d)));
    }
    let plan = Shell {
        template_id,
        fields,
        lines: Vec::new(),
    }
    .plan(
        format!(
            "draft a quote for opportunity {} ({name}, {company})",
            p.opportunity_id
        ),
        "USD",
    )?;
    Ok(plan.target("opportunity", p.opportunity_id))
}
