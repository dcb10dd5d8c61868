//! `cw_projects`: projects, their tickets, and budget burn (hours used against the budget, set
//! beside how far along the project says it is).

use schemas::tool::params::{BudgetBurn, IdParams, ProjectList, ProjectTickets};
use serde_json::{Value, json};

use super::{Action, Ctx, Failure, clamp_limit};
use crate::connector::Call;
use crate::connector::manage::{Op, Query, condition};
use crate::view::{self, Kind};

/// Most projects or project tickets read for a burn report.
const MAX_ROWS: usize = 1000;

pub(super) fn actions() -> Vec<Action> {
    vec![
        Action::read(
            "list",
            "Projects, open by default: status, manager, dates, budget and actual hours.",
            json!({"tool": "cw_projects", "action": "list", "params": {"company_id": 250}}),
            list,
        ),
        Action::read(
            "get",
            "One project with its ticket counts.",
            json!({"tool": "cw_projects", "action": "get", "params": {"id": 201}}),
            get,
        ),
        Action::read(
            "tickets",
            "A project's tickets (phase, status, owner, budget and actual hours).",
            json!({"tool": "cw_projects", "action": "tickets", "params": {"project_id": 201}}),
            tickets,
        ),
        Action::read(
            "budget_burn",
            "Hours used against budget per project, beside percent complete: over, at risk (burning faster than progress) or on track.",
            json!({"tool": "cw_projects", "action": "budget_burn", "params": {}}),
            budget_burn,
        ),
    ]
}

fn r(v: &Value) -> Value {
    json!({"id": v["id"], "name": v["name"].as_str().or(v["identifier"].as_str())})
}

fn compact(p: &Value) -> Value {
    let mut out = json!({
        "id": p["id"],
        "name": p["name"],
        "company": r(&p["company"]),
        "status": p["status"]["name"],
        "manager": r(&p["manager"]),
        "type": p["type"]["name"],
        "billing_method": p["billingMethod"],
        "estimated_start": p["estimatedStart"].as_str().and_then(|d| d.get(..10)),
        "estimated_end": p["estimatedEnd"].as_str().and_then(|d| d.get(..10)),
        "budget_hours": p["budgetHours"],
        "actual_hours": p["actualHours"],
        "percent_complete": p["percentComplete"].as_f64().map(|f| (f * 1000.0).round() / 10.0),
        "closed": p["closedFlag"],
    });
    if let Some(m) = out.as_object_mut() {
        m.retain(|_, v| !v.is_null());
    }
    out
}

fn compact_ticket(t: &Value) -> Value {
    let mut v = view::compact(Kind::Ticket, t);
    if !t["phase"].is_null() {
        v["phase"] = r(&t["phase"]);
    }
    v
}

async fn list(ctx: Ctx, call: Call, p: ProjectList) -> Result<Value, Failure> {
    let mut query = Query::new().order_by("id asc");
    if !p.include_closed {
        query = query.and("closedFlag = false");
    }
    if let Some(c) = p.company_id {
        query = query.and(condition("company/id", Op::Eq, c)?);
    }
    let listing = ctx
        .manage()?
        .list(&call, "/project/projects", &query, clamp_limit(p.limit))
        .await?;
    Ok(json!({
        "count": listing.rows.len(),
        "truncated": listing.truncated,
        "projects": listing.rows.iter().map(compact).collect::<Vec<_>>(),
    }))
}

async fn get(ctx: Ctx, call: Call, p: IdParams) -> Result<Value, Failure> {
    let manage = ctx.manage()?;
    let path = format!("/project/projects/{}", p.id);
    let tickets = Query::new()
        .conditions(condition("project/id", Op::Eq, p.id)?)
        .fields(["id", "closedFlag"]);
    let raw = p.fields.is_some();
    let query = Query::new().fields(p.fields.unwrap_or_default());
    let (project, tickets) = futures::try_join!(
        manage.get(&call, &path, &query),
        manage.list(&call, "/project/tickets", &tickets, MAX_ROWS),
    )?;
    if raw {
        return Ok(project);
    }
    let open = tickets
        .rows
        .iter()
        .filter(|t| t["closedFlag"] != true)
        .count();
    let mut out = compact(&project);
    out["tickets"] = json!({"total": tickets.rows.len(), "open": open});
    Ok(out)
}

async fn tickets(ctx: Ctx, call: Call, p: ProjectTickets) -> Result<Value, Failure> {
    let query = Query::new()
        .conditions(condition("project/id", Op::Eq, p.project_id)?)
        .order_by("id asc");
    let listing = ctx
        .manage()?
        .list(&call, "/project/tickets", &query, clamp_limit(p.limit))
        .await?;
    Ok(json!({
        "project_id": p.project_id,
        "count": listing.rows.len(),
        "truncated": listing.truncated,
        "tickets": listing.rows.iter().map(compact_ticket).collect::<Vec<_>>(),
    }))
}

/// How a project burns: `over` past its budget, `at_risk` when the share of the budget used runs
/// more than 20 points ahead of the share of the work done, else `on_track`.
pub(super) fn burn_class(budget: f64, actual: f64, complete_percent: f64) -> &'static str {
    if budget <= 0.0 {
        return "no_budget";
    }
    let used = actual / budget * 100.0;
    if used > 100.0 {
        "over"
    } else if used > complete_percent + 20.0 {
        "at_risk"
    } else {
        "on_track"
    }
}

async fn budget_burn(ctx: Ctx, call: Call, p: BudgetBurn) -> Result<Value, Failure> {
    let manage = ctx.manage()?;
    let mut query = Query::new().order_by("id asc");
    let mut tickets = Query::new().fields(["id", "project", "budgetHours", "actualHours"]);
    match p.project_id {
        Some(id) => {
            query = query.conditions(condition("id", Op::Eq, id)?);
            tickets = tickets.conditions(condition("project/id", Op::Eq, id)?);
        }
        None => query = query.conditions("closedFlag = false"),
    }
    let (projects, tickets) = futures::try_join!(
        manage.list(&call, "/project/projects", &query, MAX_ROWS),
        manage.list(&call, "/project/tickets", &tickets, MAX_ROWS),
    )?;
    if projects.rows.is_empty() {
        return Err(Failure::invalid(match p.project_id {
            Some(id) => format!("no project has the id {id}"),
            None => "there are no open projects".to_owned(),
        }));
    }
    let rows: Vec<Value> = projects
        .rows
        .iter()
        .map(|pr| {
            let id = &pr["id"];
            let mine = tickets.rows.iter().filter(|t| t["project"]["id"] == *id);
            let (mut tb, mut ta) = (0.0, 0.0);
            for t in mine {
                tb += t["budgetHours"].as_f64().unwrap_or_default();
                ta += t["actualHours"].as_f64().unwrap_or_default();
            }
            let budget = pr["budgetHours"].as_f64().unwrap_or_default();
            let actual = pr["actualHours"].as_f64().unwrap_or_default();
            let complete = pr["percentComplete"].as_f64().unwrap_or_default() * 100.0;
            let used = if budget > 0.0 {
                (actual / budget * 1000.0).round() / 10.0
            } else {
                0.0
            };
            json!({
                "project": {"id": id, "name": pr["name"]},
                "company": r(&pr["company"]),
                "budget_hours": budget,
                "actual_hours": actual,
                "budget_used_percent": used,
                "percent_complete": (complete * 10.0).round() / 10.0,
                "remaining_hours": ((budget - actual) * 100.0).round() / 100.0,
                "ticket_budget_hours": tb,
                "ticket_actual_hours": ta,
                "class": burn_class(budget, actual, complete),
            })
        })
        .collect();
    Ok(json!({"count": rows.len(), "projects": rows}))
}
