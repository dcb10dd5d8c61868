//! `cw_meta`: about Nightjar itself. Read-only: nothing here reaches ConnectWise except the
//! connectivity probe of `status`, and `pending` only reads what waits for a verdict (no MCP tool
//! can approve anything).

use schemas::tool::params::{EndpointSearch, NoParams};
use serde_json::{Value, json};

use super::{Action, Ctx, Failure, catalog};
use crate::connector::Call;

pub(super) fn actions() -> Vec<Action> {
    vec![
        Action::read(
            "status",
            "Which ConnectWise connectors are configured, which answer, and what is misconfigured.",
            json!({"tool": "cw_meta", "action": "status", "params": {}}),
            status,
        ),
        Action::read(
            "search",
            "Find Manage API operations (of all 3,051) for a task in words: method, path, summary, parameters; call them with cw_api.",
            json!({"tool": "cw_meta", "action": "search", "params": {"query": "add a note to a ticket"}}),
            search,
        ),
        Action::read(
            "pending",
            "Proposals waiting for a human's signed verdict, oldest first: what each would do (read-only; approve with nightjarctl).",
            json!({"tool": "cw_meta", "action": "pending", "params": {}}),
            pending,
        ),
        Action::read(
            "catalog",
            "Every tool with its actions and their risk classes.",
            json!({"tool": "cw_meta", "action": "catalog", "params": {}}),
            catalog_table,
        ),
    ]
}

async fn status(ctx: Ctx, call: Call, _: NoParams) -> Result<Value, Failure> {
    // Manage is probed; the optional products are reported as configured or not.
    let manage = match ctx.manage() {
        Ok(m) => match m.system_info(&call).await {
            Ok(info) => json!({"reachable": true, "version": info["version"]}),
            Err(e) => json!({"reachable": false, "error": e.body()}),
        },
        Err(f) => json!({"reachable": false, "error": f.to_error()}),
    };
    Ok(json!({
        "connectors": ctx.states,
        "manage": manage,
    }))
}

async fn catalog_table(_: Ctx, _: Call, _: NoParams) -> Result<Value, Failure> {
    let tools: Vec<Value> = catalog()
        .tools()
        .iter()
        .map(|t| {
            json!({
                "tool": t.name,
                "description": t.description,
                "actions": t.actions.iter().map(|a| a.info()).collect::<Vec<_>>(),
            })
        })
        .collect();
    Ok(json!({"tools": tools}))
}

async fn search(_: Ctx, _: Call, p: EndpointSearch) -> Result<Value, Failure> {
    if p.query.trim().is_empty() {
        return Err(Failure::invalid(
            "`query` is empty: say what you want to do",
        ));
    }
    let limit = p.limit.clamp(1, 50) as usize;
    let hits: Vec<Value> = crate::endpoints::index()
        .search(&p.query, limit)
        .into_iter()
        .map(|h| {
            let op = h.operation;
            let params: Vec<&str> = op
                .query
                .iter()
                .filter_map(|q| q["name"].as_str().or(q.as_str()))
                .collect();
            json!({
                "method": op.method,
                "path": op.path,
                "summary": op.summary,
                "tag": op.tag,
                "query_parameters": params,
                "body": op.request_body,
                "score": (h.score * 100.0).round() / 100.0,
            })
        })
        .collect();
    Ok(json!({"operations": crate::endpoints::index().len(), "hits": hits}))
}

async fn pending(ctx: Ctx, _: Call, _: NoParams) -> Result<Value, Failure> {
    let Some(source) = &ctx.pending else {
        return Ok(json!({"available": false, "count": 0, "pending": []}));
    };
    // The effect preview is what a human approves; the exact request stays in the plan store.
    let rows: Vec<Value> = source()
        .iter()
        .map(|p| {
            json!({
                "proposal_id": p.proposal_id,
                "tool": p.tool,
                "action": p.action,
                "risk": p.risk,
                "principal": p.principal,
                "run_id": p.run_id,
                "proposed_at": p.proposed_at,
                "effect": p.effect,
            })
        })
        .map(|mut v| {
            if let Some(m) = v.as_object_mut() {
                m.retain(|_, v| !v.is_null());
            }
            v
        })
        .collect();
    Ok(json!({
        "available": true,
        "count": rows.len(),
        "pending": rows,
        "hint": "Approve or deny with `nightjarctl approvals` / `nightjarctl approve <id>` (a signed verdict); no tool here can.",
    }))
}
