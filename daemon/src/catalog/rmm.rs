//! `cw_rmm`: Asio devices, patches and scripts, and the ScreenConnect bridge. Every action that
//! runs something on a machine (`run_script`, `pkg_uninstall`, the `sc_*` writes) is on the hard
//! floor: a human signs it, whoever asks.

use std::collections::BTreeMap;

use schemas::event::Risk;
use schemas::tool::params::{
    CompanyScope, DeviceRef, NoParams, PkgUninstall, RunScript, ScCreateSession, ScRunCommand,
    ScSendCommand, TargetsDevice,
};
use serde_json::{Value, json};

use super::resolve::{self, Device};
use super::{Action, Ctx, Failure, Plan, Planning};
use crate::connector::Call;

/// The script `pkg_uninstall` runs, by name in the RMM's script library.
pub const UNINSTALL_SCRIPT: &str = "Uninstall software package";

/// Where a script run is scheduled (Asio automation).
pub const SCHEDULE_TASKS: &str = "/api/platform/v2/automation/endpoints/schedule-tasks";

pub(super) fn actions() -> Vec<Action> {
    vec![
        Action::read(
            "devices",
            "A company's RMM devices with online state and last check-in.",
            json!({"tool": "cw_rmm", "action": "devices", "params": {"company_id": 2}}),
            devices,
        ),
        Action::read(
            "device",
            "One device: online state, disk, patch summary and missing patches, ScreenConnect sessions.",
            json!({"tool": "cw_rmm", "action": "device", "params": {"configuration_id": 1201}}),
            device,
        ),
        Action::read(
            "failed_patches",
            "Devices with missing or failed patches (one company, or every company), worst first.",
            json!({"tool": "cw_rmm", "action": "failed_patches", "params": {"company_id": 2}}),
            failed_patches,
        ),
        Action::read(
            "scripts",
            "The RMM's automation scripts (ids for run_script).",
            json!({"tool": "cw_rmm", "action": "scripts", "params": {}}),
            scripts,
        ),
        Action::write(
            "run_script",
            "Run an RMM script on a device.",
            Risk::Hard,
            json!({"tool": "cw_rmm", "action": "run_script", "params": {"script_id": "5c817000-0000-4000-8000-000000000001", "configuration_id": 1201}, "confirm": true}),
            run_script,
        ),
        Action::write(
            "sc_create_session",
            "Create a ScreenConnect support or meeting session.",
            Risk::Hard,
            json!({"tool": "cw_rmm", "action": "sc_create_session", "params": {"name": "Ticket 1042 - Outlook", "host": "jsmith"}, "confirm": true}),
            sc_create_session,
        ),
        Action::write(
            "sc_send_command",
            "Queue a command on a ScreenConnect session by id; its output arrives in the session's events.",
            Risk::Hard,
            json!({"tool": "cw_rmm", "action": "sc_send_command", "params": {"session_id": "5c5e0000-0000-4000-8000-000000000001", "command": "ipconfig /flushdns"}, "confirm": true}),
            sc_send_command,
        ),
        Action::write(
            "sc_run_command",
            "Run a command on a device through its ScreenConnect session, found from the configuration or endpoint.",
            Risk::Hard,
            json!({"tool": "cw_rmm", "action": "sc_run_command", "params": {"configuration_id": 1201, "command": "hostname"}, "confirm": true}),
            sc_run_command,
        ),
        Action::write(
            "pkg_uninstall",
            "Uninstall a software package from a device with the RMM's uninstall script.",
            Risk::Hard,
            json!({"tool": "cw_rmm", "action": "pkg_uninstall", "params": {"configuration_id": 1201, "package": "7-Zip 23.01 (x64)"}, "confirm": true}),
            pkg_uninstall,
        ),
    ]
}

/// The Asio company of a Manage company (its `externalIds` name the PSA id).
pub(super) async fn rmm_company(ctx: &Ctx, call: &Call, company_id: i64) -> Result<Value, Failure> {
    let companies = ctx.connectors()?.asio()?.companies(call).await?;
    let key = company_id.to_string();
    companies
        .as_array()
        .into_iter()
        .flatten()
        .find(|c| {
            c["externalIds"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|x| x["externalId"] == key.as_str())
        })
        .cloned()
        .ok_or_else(|| {
            Failure::invalid(format!(
                "company {company_id} is not linked to an RMM company (no Asio externalId names it)"
            ))
        })
}

/// Every RMM company with the Manage company id it maps to.
pub(super) async fn rmm_companies(ctx: &Ctx, call: &Call) -> Result<Vec<(i64, Value)>, Failure> {
    let companies = ctx.connectors()?.asio()?.companies(call).await?;
    Ok(companies
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| {
            let id = c["externalIds"]
                .as_array()?
                .iter()
                .find_map(|x| x["externalId"].as_str()?.parse::<i64>().ok())?;
            Some((id, c.clone()))
        })
        .collect())
}

/// The endpoints of RMM companies (four per request, as Asio allows), flattened.
pub(super) async fn endpoints(
    ctx: &Ctx,
    call: &Call,
    rmm_ids: &[&str],
) -> Result<Vec<Value>, Failure> {
    let asio = ctx.connectors()?.asio()?;
    let chunks: Vec<&[&str]> = rmm_ids.chunks(4).collect();
    let pages =
        futures::future::try_join_all(chunks.iter().map(|chunk| asio.company_devices(call, chunk)))
            .await?;
    Ok(pages
        .iter()
        .flat_map(|page| {
            page["platform"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .flat_map(|g| {
                    let company = g["companyID"].clone();
                    g["endpoints"]
                        .as_array()
                        .cloned()
                        .unwrap_or_default()
                        .into_iter()
                        .map(move |mut e| {
                            e["companyID"] = company.clone();
                            e
                        })
                })
        })
        .collect())
}

/// Patch status of each endpoint, one request each, projected against the call's budget first.
pub(super) async fn patch_states(
    ctx: &Ctx,
    call: &Call,
    endpoint_ids: &[String],
) -> Result<BTreeMap<String, Value>, Failure> {
    let asio = ctx.connectors()?.asio()?;
    call.project_calls(
        endpoint_ids.len() as u64,
        &format!("reading the patch state of {} devices", endpoint_ids.len()),
    )?;
    let states = futures::future::join_all(
        endpoint_ids
            .iter()
            .map(|e| async move { (e.clone(), asio.patches(call, e).await) }),
    )
    .await;
    Ok(states
        .into_iter()
        .map(|(e, r)| (e, r.unwrap_or_else(|err| json!({"error": err.kind()}))))
        .collect())
}

/// A patch summary without the RMM's noise: missing, pending reboot, compliance.
pub(super) fn patch_summary(state: &Value) -> Value {
    if let Some(e) = state.get("error") {
        return json!({"error": e});
    }
    let s = &state["summary"];
    json!({
        "missing": s["missingCount"].as_i64().unwrap_or_default(),
        "pending_reboot": s["pendingReboot"].as_bool().unwrap_or(false),
        "compliance_percent": s["compliance"],
        "assessed": s["assessedAt"],
    })
}

fn missing_patches(state: &Value) -> Vec<Value> {
    state["patches"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| {
            json!({
                "kb": p["kbArticleID"],
                "classification": p["classification"],
                "severity": p["msrcSeverity"],
            })
        })
        .collect()
}

async fn devices(ctx: Ctx, call: Call, p: CompanyScope) -> Result<Value, Failure> {
    let company_id = p
        .company_id
        .ok_or_else(|| Failure::invalid("`company_id` is required"))?;
    let company = rmm_company(&ctx, &call, company_id).await?;
    let rmm_id = company["id"].as_str().unwrap_or_default().to_owned();
    let found = endpoints(&ctx, &call, &[rmm_id.as_str()]).await?;
    let ids: Vec<&str> = found
        .iter()
        .filter_map(|e| e["endpointID"].as_str())
        .collect();
    let beats = resolve::heartbeats(&ctx, &call, &ids).await?;
    let rows: Vec<Value> = found
        .iter()
        .map(|e| {
            let id = e["endpointID"].as_str().unwrap_or_default();
            let (online, seen) = beats.get(id).cloned().unwrap_or((false, Value::Null));
            json!({
                "endpoint_id": id,
                "name": e["friendlyName"],
                "type": e["endpointType"],
                "online": online,
                "last_seen": seen,
            })
        })
        .collect();
    Ok(json!({
        "company": {"id": company_id, "name": company["name"]},
        "rmm_company_id": rmm_id,
        "count": rows.len(),
        "online": rows.iter().filter(|r| r["online"] == true).count(),
        "devices": rows,
    }))
}

async fn device(ctx: Ctx, call: Call, p: DeviceRef) -> Result<Value, Failure> {
    let found = resolve::device(&ctx, &call, &p).await?;
    let asio = ctx.connectors()?.asio()?;
    let ep = found.endpoint_id.as_str();
    let disk_path = resolve::disk_path(ep);
    let one = [ep];
    let (beats, patches, disk, sessions) = futures::join!(
        resolve::heartbeats(&ctx, &call, &one),
        asio.patches(&call, ep),
        asio.get(&call, &disk_path),
        resolve::sessions(&ctx, &call, &found),
    );
    let beats = beats?;
    let patches = patches?;
    let mut out = found.summary();
    if let Some(c) = &found.configuration {
        out["company"] = json!({"id": c["company"]["id"], "name": c["company"]["name"]});
    }
    match beats.get(ep) {
        Some((online, seen)) => {
            out["online"] = json!(online);
            out["last_seen"] = seen.clone();
        }
        None => out["online"] = json!(false),
    }
    if let Some((used_percent, free_gb)) = disk.ok().as_ref().and_then(resolve::disk_figures) {
        out["disk_used_percent"] = json!(used_percent);
        out["disk_free_gb"] = json!(free_gb);
    }
    out["patches"] = patch_summary(&patches);
    out["missing_patches"] = json!(missing_patches(&patches));
    out["sessions"] = match sessions {
        Ok(s) => json!(s.iter().map(resolve::session_view).collect::<Vec<_>>()),
        Err(f) => json!({"unavailable": f.to_error()}),
    };
    Ok(out)
}

/// The RMM companies in scope (one Manage company, or all) and all their endpoints.
pub(super) async fn scoped_endpoints(
    ctx: &Ctx,
    call: &Call,
    company_id: Option<i64>,
) -> Result<(Vec<(i64, Value)>, Vec<Value>), Failure> {
    let companies: Vec<(i64, Value)> = match company_id {
        Some(id) => vec![(id, rmm_company(ctx, call, id).await?)],
        None => rmm_companies(ctx, call).await?,
    };
    let rmm_ids: Vec<&str> = companies
        .iter()
        .filter_map(|(_, c)| c["id"].as_str())
        .collect();
    let found = endpoints(ctx, call, &rmm_ids).await?;
    Ok((companies, found))
}

async fn failed_patches(ctx: Ctx, call: Call, p: CompanyScope) -> Result<Value, Failure> {
    let (companies, found) = scoped_endpoints(&ctx, &call, p.company_id).await?;
    let ids: Vec<String> = found
        .iter()
        .filter_map(|e| e["endpointID"].as_str().map(str::to_owned))
        .collect();
    let states = patch_states(&ctx, &call, &ids).await?;
    let manage_id = |rmm: &Value| {
        companies
            .iter()
            .find(|(_, c)| c["id"] == *rmm)
            .map(|(id, c)| json!({"id": id, "name": c["name"]}))
    };
    let mut rows: Vec<Value> = found
        .iter()
        .filter_map(|e| {
            let id = e["endpointID"].as_str()?;
            let state = states.get(id)?;
            let summary = patch_summary(state);
            (summary["missing"].as_i64().unwrap_or_default() > 0).then(|| {
                json!({
                    "endpoint_id": id,
                    "name": e["friendlyName"],
                    "company": manage_id(&e["companyID"]),
                    "patches": summary,
                    "missing_patches": missing_patches(state),
                })
            })
        })
        .collect();
    rows.sort_by_key(|r| std::cmp::Reverse(r["patches"]["missing"].as_i64()));
    Ok(json!({
        "devices_checked": ids.len(),
        "count": rows.len(),
        "devices": rows,
    }))
}

async fn scripts(ctx: Ctx, call: Call, _: NoParams) -> Result<Value, Failure> {
    let all = ctx.connectors()?.asio()?.scripts(&call).await?;
    let rows: Vec<Value> = all
        .as_array()
        .into_iter()
        .flatten()
        .map(|s| {
            json!({
                "id": s["id"],
                "name": s["name"],
                "category": s["scriptCategory"],
                "description": s["description"],
                "has_parameters": s["hasParameters"],
            })
        })
        .collect();
    Ok(json!({"count": rows.len(), "scripts": rows}))
}

/// A script run on one endpoint, as Asio schedules it.
pub(super) fn script_plan(
    script_id: &str,
    script_name: Option<&str>,
    device: &Device,
    parameters: Option<&serde_json::Map<String, Value>>,
) -> Plan {
    let mut body = json!({"templateID": script_id, "targets": [device.endpoint_id]});
    if let Some(name) = script_name {
        body["name"] = json!(name);
    }
    if let Some(p) = parameters {
        body["parameters"] = Value::Object(p.clone());
    }
    let what = script_name.map_or_else(
        || format!("script {script_id}"),
        |n| format!("script \"{n}\""),
    );
    Plan::new(
        "asio",
        "POST",
        SCHEDULE_TASKS,
        Some(body),
        format!("run {what} on {}", device_label(device)),
    )
    .target("device", &device.endpoint_id)
    .device(device_label(device))
}

pub(super) fn device_label(device: &Device) -> String {
    match (device.name.is_empty(), device.configuration_id) {
        (false, Some(id)) => format!(
            "{} (configuration {id}, endpoint {})",
            device.name, device.endpoint_id
        ),
        (false, None) => format!("{} (endpoint {})", device.name, device.endpoint_id),
        _ => format!("endpoint {}", device.endpoint_id),
    }
}

/// The script's name, checked against the library when the caller confirmed.
async fn script_name(
    ctx: &Ctx,
    call: &Call,
    script_id: &str,
    planning: Planning,
) -> Result<Option<String>, Failure> {
    if !planning.confirmed {
        return Ok(None);
    }
    let all = ctx.connectors()?.asio()?.scripts(call).await?;
    all.as_array()
        .into_iter()
        .flatten()
        .find(|s| s["id"] == script_id)
        .map(|s| s["name"].as_str().map(str::to_owned))
        .ok_or_else(|| {
            Failure::invalid(format!(
                "no RMM script has the id {script_id}; `cw_rmm scripts` lists them"
            ))
        })
}

async fn run_script(
    ctx: Ctx,
    call: Call,
    p: RunScript,
    planning: Planning,
) -> Result<Plan, Failure> {
    if p.script_id.trim().is_empty() {
        return Err(Failure::invalid("`script_id` is empty"));
    }
    let target = resolve::device(&ctx, &call, &p.device()).await?;
    let name = script_name(&ctx, &call, &p.script_id, planning).await?;
    Ok(script_plan(
        &p.script_id,
        name.as_deref(),
        &target,
        p.parameters.as_ref(),
    ))
}

/// A command queued on a ScreenConnect session (the guest runs it; the output is a later
/// `RanCommand` event of the session).
pub(super) fn command_plan(session_id: &str, command: &str, on: &str) -> Plan {
    Plan::new(
        "screenconnect",
        "POST",
        format!("/api/v1/sessions/{session_id}/events"),
        Some(json!({"eventType": "QueuedCommand", "data": command})),
        format!("run `{command}` on {on} through ScreenConnect"),
    )
    .target("session", session_id)
    .device(on.to_owned())
}

fn non_empty<'a>(text: &'a str, field: &str) -> Result<&'a str, Failure> {
    let t = text.trim();
    if t.is_empty() {
        return Err(Failure::invalid(format!("`{field}` is empty")));
    }
    Ok(t)
}

async fn sc_create_session(
    _: Ctx,
    _: Call,
    p: ScCreateSession,
    _: Planning,
) -> Result<Plan, Failure> {
    let name = non_empty(&p.name, "name")?;
    let host = non_empty(&p.host, "host")?;
    let kind = match p.session_type {
        schemas::tool::params::SessionType::Support => "Support",
        schemas::tool::params::SessionType::Meeting => "Meeting",
    };
    Ok(Plan::new(
        "screenconnect",
        "POST",
        "/api/v1/sessions",
        Some(json!({"name": name, "host": host, "sessionType": kind, "isPublic": false})),
        format!("create a ScreenConnect {kind} session \"{name}\" hosted by {host}"),
    ))
}

async fn sc_send_command(_: Ctx, _: Call, p: ScSendCommand, _: Planning) -> Result<Plan, Failure> {
    let session = non_empty(&p.session_id, "session_id")?;
    let command = non_empty(&p.command, "command")?;
    Ok(command_plan(
        session,
        command,
        &format!("session {session}"),
    ))
}

async fn sc_run_command(
    ctx: Ctx,
    call: Call,
    p: ScRunCommand,
    _: Planning,
) -> Result<Plan, Failure> {
    let command = non_empty(&p.command, "command")?.to_owned();
    // The session id is part of the exact request: resolving it is a lookup even for a preview.
    let target = resolve::device(&ctx, &call, &p.device()).await?;
    let session = resolve::session(&ctx, &call, &target, p.session_id.as_deref()).await?;
    let id = session["sessionID"].as_str().unwrap_or_default();
    Ok(command_plan(id, &command, &device_label(&target)))
}

async fn pkg_uninstall(
    ctx: Ctx,
    call: Call,
    p: PkgUninstall,
    _: Planning,
) -> Result<Plan, Failure> {
    let package = non_empty(&p.package, "package")?.to_owned();
    let target = resolve::device(&ctx, &call, &p.device()).await?;
    // The uninstall script's id goes into the request: looked up by name.
    let all = ctx.connectors()?.asio()?.scripts(&call).await?;
    let script = all
        .as_array()
        .into_iter()
        .flatten()
        .find(|s| s["name"] == UNINSTALL_SCRIPT)
        .and_then(|s| s["id"].as_str())
        .ok_or_else(|| {
            Failure::invalid(format!(
                "the RMM has no \"{UNINSTALL_SCRIPT}\" script to uninstall with"
            ))
        })?
        .to_owned();
    let mut parameters = serde_json::Map::new();
    parameters.insert("package".into(), json!(package));
    let mut plan = script_plan(&script, Some(UNINSTALL_SCRIPT), &target, Some(&parameters));
    plan.effect.summary = format!("uninstall \"{package}\" from {}", device_label(&target));
    Ok(plan)
}
