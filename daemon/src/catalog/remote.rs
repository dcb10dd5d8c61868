//! `cw_tickets remote_session` and `run_remediation`: from a ticket to the machine it is about,
//! across three products (the ticket's configuration in Manage, its endpoint in Asio, its session
//! in ScreenConnect), then one hard request. Every hop that has more than one answer stops with
//! the candidates ([`super::resolve`]); the ids the caller passes back choose.

use schemas::tool::params::{RemoteSession, RunRemediation};
use serde_json::json;

use super::resolve::{self, Device};
use super::rmm::{command_plan, device_label, script_plan};
use super::{Ctx, Failure, Plan, Planning};
use crate::connector::Call;

/// The ticket's device, checked against the RMM: an endpoint the RMM does not know is refused
/// rather than reached through a stale mapping.
async fn ticket_endpoint(
    ctx: &Ctx,
    call: &Call,
    ticket_id: i64,
    configuration_id: Option<i64>,
) -> Result<(Device, bool), Failure> {
    let device = resolve::ticket_device(ctx, call, ticket_id, configuration_id).await?;
    let beats = resolve::heartbeats(ctx, call, &[device.endpoint_id.as_str()]).await?;
    let online = beats
        .get(&device.endpoint_id)
        .map(|(online, _)| *online)
        .ok_or_else(|| {
            Failure::invalid(format!(
                "the RMM does not know endpoint {} of configuration {}: the mapping is stale",
                device.endpoint_id,
                device.configuration_id.unwrap_or_default()
            ))
        })?;
    Ok((device, online))
}

fn state(online: bool) -> &'static str {
    if online { "online" } else { "offline" }
}

pub(super) async fn remote_session(
    ctx: Ctx,
    call: Call,
    p: RemoteSession,
    _: Planning,
) -> Result<Plan, Failure> {
    // The session id is in the exact request, so the resolution runs even for a preview (reads
    // only).
    let (device, online) = ticket_endpoint(&ctx, &call, p.ticket_id, p.configuration_id).await?;
    let session = resolve::session(&ctx, &call, &device, p.session_id.as_deref()).await?;
    let id = session["sessionID"].as_str().unwrap_or_default();
    let message = p.message.unwrap_or_else(|| {
        format!(
            "A technician is connecting to this computer for ticket #{}.",
            p.ticket_id
        )
    });
    if message.trim().is_empty() {
        return Err(Failure::invalid("`message` is empty"));
    }
    let label = device_label(&device);
    Ok(Plan::new(
        "screenconnect",
        "POST",
        format!("/api/v1/sessions/{id}/events"),
        Some(json!({"eventType": "QueuedMessage", "data": message})),
        format!(
            "open remote session {id} on {label} ({} in the RMM) for ticket {}: the user is told first",
            state(online),
            p.ticket_id
        ),
    )
    .target("ticket", p.ticket_id)
    .device(label)
    .customer_visible(message))
}

pub(super) async fn run_remediation(
    ctx: Ctx,
    call: Call,
    p: RunRemediation,
    _: Planning,
) -> Result<Plan, Failure> {
    let (device, online) = ticket_endpoint(&ctx, &call, p.ticket_id, p.configuration_id).await?;
    let label = device_label(&device);
    let mut plan = match (p.script_id.as_deref(), p.command.as_deref()) {
        (Some(script), None) if !script.trim().is_empty() => {
            script_plan(script, None, &device, None)
        }
        (None, Some(command)) if !command.trim().is_empty() => {
            let session = resolve::session(&ctx, &call, &device, p.session_id.as_deref()).await?;
            let id = session["sessionID"].as_str().unwrap_or_default();
            command_plan(id, command.trim(), &label)
        }
        _ => {
            return Err(Failure::invalid(
                "give exactly one of `script_id` (an RMM script) or `command` (through ScreenConnect)",
            ));
        }
    };
    plan.effect.summary = format!(
        "for ticket {}: {} ({} in the RMM)",
        p.ticket_id,
        plan.effect.summary,
        state(online)
    );
    Ok(plan.target("ticket", p.ticket_id))
}
