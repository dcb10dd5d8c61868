//! `cw_calc`: exact decimal money arithmetic (`crate::calc`), so a model never does money math in
//! its head. Amounts go in and come out as decimal strings.

use rust_decimal::Decimal;
use schemas::tool::params::{Amount, CalcPair, CalcPercent, CalcRound, CalcSplit, CalcSum};
use serde_json::{Value, json};

use super::{Action, Ctx, Failure};
use crate::calc::{self, CalcError};
use crate::connector::Call;

pub(super) fn actions() -> Vec<Action> {
    vec![
        Action::read(
            "sum",
            "Add amounts exactly; optionally round to a currency.",
            json!({"tool": "cw_calc", "action": "sum", "params": {"values": ["1250.10", "99.90", "0.05"], "currency": "USD"}}),
            sum,
        ),
        Action::read(
            "multiply",
            "a × b exactly (hours × rate, quantity × price).",
            json!({"tool": "cw_calc", "action": "multiply", "params": {"a": "7.5", "b": "145.00", "currency": "USD"}}),
            multiply,
        ),
        Action::read(
            "divide",
            "a ÷ b (refuses division by zero).",
            json!({"tool": "cw_calc", "action": "divide", "params": {"a": "1000", "b": "3", "currency": "USD"}}),
            divide,
        ),
        Action::read(
            "percent",
            "percent % of value.",
            json!({"tool": "cw_calc", "action": "percent", "params": {"value": "1250.00", "percent": "8.25", "currency": "USD"}}),
            percent,
        ),
        Action::read(
            "uplift",
            "value raised by percent % (a renewal uplift; negative for a discount).",
            json!({"tool": "cw_calc", "action": "uplift", "params": {"value": "1250.00", "percent": "5", "currency": "USD"}}),
            uplift,
        ),
        Action::read(
            "round",
            "Round to a currency's minor unit (half away from zero).",
            json!({"tool": "cw_calc", "action": "round", "params": {"value": "10.005", "currency": "USD"}}),
            round,
        ),
        Action::read(
            "split",
            "Split a total into parts that add up to it exactly (no cent lost).",
            json!({"tool": "cw_calc", "action": "split", "params": {"total": "100.00", "parts": 3, "currency": "USD"}}),
            split,
        ),
    ]
}

fn fail(e: CalcError) -> Failure {
    Failure::invalid(e.to_string())
}

fn amount(a: &Amount) -> Result<Decimal, Failure> {
    calc::parse(&a.text()).map_err(fail)
}

/// The answer: the exact value, and rounded when a currency was given.
fn answer(exact: Decimal, currency: Option<&str>) -> Result<Value, Failure> {
    let mut out = json!({"exact": exact.normalize().to_string()});
    if let Some(c) = currency {
        let rounded = calc::round(exact, c).map_err(fail)?;
        let dp = calc::minor_units(c).map_err(fail)?;
        out["result"] = json!(format!("{:.*}", dp as usize, rounded));
        out["currency"] = json!(c.to_uppercase());
    } else {
        out["result"] = out["exact"].clone();
    }
    Ok(out)
}

async fn sum(_: Ctx, _: Call, p: CalcSum) -> Result<Value, Failure> {
    let values: Result<Vec<Decimal>, Failure> = p.values.iter().map(amount).collect();
    answer(calc::sum(&values?).map_err(fail)?, p.currency.as_deref())
}

async fn multiply(_: Ctx, _: Call, p: CalcPair) -> Result<Value, Failure> {
    let exact = calc::multiply(amount(&p.a)?, amount(&p.b)?).map_err(fail)?;
    answer(exact, p.currency.as_deref())
}

async fn divide(_: Ctx, _: Call, p: CalcPair) -> Result<Value, Failure> {
    let exact = calc::divide(amount(&p.a)?, amount(&p.b)?).map_err(fail)?;
    answer(exact, p.currency.as_deref())
}

async fn percent(_: Ctx, _: Call, p: CalcPercent) -> Result<Value, Failure> {
    let exact = calc::percent_of(amount(&p.value)?, amount(&p.percent)?).map_err(fail)?;
    answer(exact, p.currency.as_deref())
}

async fn uplift(_: Ctx, _: Call, p: CalcPercent) -> Result<Value, Failure> {
    let exact = calc::uplift(amount(&p.value)?, amount(&p.percent)?).map_err(fail)?;
    answer(exact, p.currency.as_deref())
}

async fn round(_: Ctx, _: Call, p: CalcRound) -> Result<Value, Failure> {
    answer(amount(&p.value)?, Some(&p.currency))
}

async fn split(_: Ctx, _: Call, p: CalcSplit) -> Result<Value, Failure> {
    let parts = calc::split(amount(&p.total)?, p.parts, &p.currency).map_err(fail)?;
    let dp = calc::minor_units(&p.currency).map_err(fail)? as usize;
    let texts: Vec<String> = parts.iter().map(|d| format!("{d:.dp$}")).collect();
    let check = calc::sum(&parts).map_err(fail)?;
    Ok(json!({
        "parts": texts,
        "sum": format!("{check:.dp$}"),
        "currency": p.currency.to_uppercase(),
    }))
}
