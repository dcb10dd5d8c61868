//! Cross-product resolution: a ticket to its device (Manage configuration), the device to its RMM
//! endpoint (Asio, the configuration's `deviceIdentifier`) and to its ScreenConnect session. Each
//! hop that finds more than one answer comes back as [`Failure::Ambiguous`] with the candidates:
//! the caller chooses, Nightjar never guesses which machine to touch.

use schemas::tool::params::DeviceRef;
use serde_json::{Value, json};

use super::{Ctx, Failure};
use crate::connector::Call;
use crate::connector::manage::{Op, Query, condition};
use crate::view::{self, Kind};

/// A device as both products know it.
#[derive(Debug, Clone)]
pub struct Device {
    /// The Manage configuration (raw), when the device was found through Manage.
    pub configuration: Option<Value>,
    pub configuration_id: Option<i64>,
    pub endpoint_id: String,
    /// The configuration's name (also the ScreenConnect session's name).
    pub name: String,
}

impl Device {
    /// `{configuration: {id, name}, endpoint_id}` for previews and answers.
    pub fn summary(&self) -> Value {
        let mut out = json!({"endpoint_id": self.endpoint_id, "name": self.name});
        if let Some(id) = self.configuration_id {
            out["configuration_id"] = json!(id);
        }
        out
    }
}

fn from_configuration(configuration: Value) -> Result<Device, Failure> {
    let id = configuration["id"].as_i64();
    let name = configuration["name"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let endpoint = configuration["deviceIdentifier"]
        .as_str()
        .filter(|s| !s.is_empty())
        .ok_or_else(|| {
            Failure::invalid(format!(
                "configuration {} ({name}) is not managed by the RMM: it has no device identifier",
                id.unwrap_or_default()
            ))
        })?
        .to_owned();
    Ok(Device {
        configuration: Some(configuration),
        configuration_id: id,
        endpoint_id: endpoint,
        name,
    })
}

/// A configuration by id, as a device.
pub async fn configuration(ctx: &Ctx, call: &Call, id: i64) -> Result<Device, Failure> {
    let configuration = ctx
        .manage()?
        .get(
            call,
            &format!("/company/configurations/{id}"),
            &Query::new(),
        )
        .await?;
    from_configuration(configuration)
}

/// A device from `configuration_id` or `endpoint_id` (exactly one). An endpoint id is looked up in
/// Manage by `deviceIdentifier`, so the answer can name the configuration too; two
/// configurations claiming one endpoint are an ambiguity.
pub async fn device(ctx: &Ctx, call: &Call, by: &DeviceRef) -> Result<Device, Failure> {
    match (by.configuration_id, by.endpoint_id.as_deref()) {
        (Some(id), None) => configuration(ctx, call, id).await,
        (None, Some(endpoint)) if !endpoint.trim().is_empty() => {
            let rows = ctx
                .manage()?
                .list(
                    call,
                    "/company/configurations",
                    &Query::new().conditions(condition("deviceIdentifier", Op::Eq, endpoint)?),
                    5,
                )
                .await?
                .rows;
            match rows.len() {
                0 => Ok(Device {
                    configuration: None,
                    configuration_id: None,
                    endpoint_id: endpoint.to_owned(),
                    name: String::new(),
                }),
                1 => from_configuration(rows.into_iter().next().unwrap_or_default()),
                n => Err(Failure::Ambiguous {
                    message: format!(
                        "{n} configurations claim RMM endpoint {endpoint}; say which with configuration_id"
                    ),
                    candidates: view::compact_all(Kind::Configuration, &rows),
                }),
            }
        }
        _ => Err(Failure::invalid(
            "give exactly one of `configuration_id` or `endpoint_id`",
        )),
    }
}

/// The ticket's device: its one linked configuration, or the one the caller chose among them.
pub async fn ticket_device(
    ctx: &Ctx,
    call: &Call,
    ticket_id: i64,
    chosen: Option<i64>,
) -> Result<Device, Failure> {
    let linked = ctx
        .manage()?
        .list(
            call,
            &format!("/service/tickets/{ticket_id}/configurations"),
            &Query::new(),
            25,
        )
        .await?
        .rows;
    let id = match (chosen, linked.as_slice()) {
        (_, []) => {
            return Err(Failure::invalid(format!(
                "ticket {ticket_id} has no configuration (device) linked; link one or use cw_rmm with a device"
            )));
        }
        (Some(c), rows) if rows.iter().any(|r| r["id"] == c) => c,
        (Some(c), rows) => {
            return Err(Failure::Ambiguous {
                message: format!(
                    "configuration {c} is not linked to ticket {ticket_id}; choose one that is"
                ),
                candidates: view::compact_all(Kind::Configuration, rows),
            });
        }
        (None, [one]) => one["id"].as_i64().unwrap_or_default(),
        (None, many) => {
            return Err(Failure::Ambiguous {
                message: format!(
                    "ticket {ticket_id} has {} devices linked; say which with configuration_id",
                    many.len()
                ),
                candidates: view::compact_all(Kind::Configuration, many),
            });
        }
    };
    configuration(ctx, call, id).await
}

/// The device's ScreenConnect sessions: those named like it whose PSA configuration property (the
/// fifth custom property, set by the Manage integration) is the device's configuration.
pub async fn sessions(ctx: &Ctx, call: &Call, device: &Device) -> Result<Vec<Value>, Failure> {
    let sc = ctx.connectors()?.screenconnect()?;
    if device.name.is_empty() {
        return Ok(Vec::new());
    }
    let filter = format!("Name = '{}'", device.name.replace('\'', "''"));
    let found = sc.sessions(call, Some(&filter)).await?;
    let key = device.configuration_id.map(|id| id.to_string());
    Ok(found
        .as_array()
        .into_iter()
        .flatten()
        .filter(|s| match &key {
            Some(k) => s["customPropertyValues"][4] == k.as_str(),
            None => true,
        })
        .cloned()
        .collect())
}

/// A session as a candidate: enough to tell two apart.
pub fn session_view(session: &Value) -> Value {
    let mut out = json!({
        "session_id": session["sessionID"],
        "name": session["name"],
        "online": session["guestConnectedCount"].as_i64().unwrap_or_default() > 0,
    });
    for (from, to) in [
        (&session["guestInfo"]["machineName"], "machine"),
        (&session["guestLastActivityTime"], "last_activity"),
        (&session["sessionType"], "type"),
    ] {
        if !from.is_null() {
            out[to] = from.clone();
        }
    }
    out
}

/// The device's one session, or the one the caller chose; several are an ambiguity.
pub async fn session(
    ctx: &Ctx,
    call: &Call,
    device: &Device,
    chosen: Option<&str>,
) -> Result<Value, Failure> {
    let found = sessions(ctx, call, device).await?;
    match (chosen, found.as_slice()) {
        (_, []) => Err(Failure::invalid(format!(
            "device {} ({}) has no ScreenConnect session: is the agent installed?",
            device.name, device.endpoint_id
        ))),
        (Some(c), rows) => rows
            .iter()
            .find(|s| s["sessionID"] == c)
            .cloned()
            .ok_or_else(|| Failure::Ambiguous {
                message: format!(
                    "session {c} is not one of device {}'s sessions; choose one that is",
                    device.name
                ),
                candidates: rows.iter().map(session_view).collect(),
            }),
        (None, [one]) => Ok(one.clone()),
        (None, many) => Err(Failure::Ambiguous {
            message: format!(
                "device {} has {} ScreenConnect sessions; say which with session_id",
                device.name,
                many.len()
            ),
            candidates: many.iter().map(session_view).collect(),
        }),
    }
}

/// Online state of endpoints from one Asio heartbeat request: endpoint id to (online, last seen).
pub async fn heartbeats(
    ctx: &Ctx,
    call: &Call,
    endpoints: &[&str],
) -> Result<std::collections::BTreeMap<String, (bool, Value)>, Failure> {
    let mut out = std::collections::BTreeMap::new();
    if endpoints.is_empty() {
        return Ok(out);
    }
    let asio = ctx.connectors()?.asio()?;
    for chunk in endpoints.chunks(100) {
        let resources = chunk.join(",");
        let beat = asio
            .get_query(
                call,
                &["api", "platform", "v2", "device", "endpoints", "heartbeat"],
                &[
                    ("resourceType", "endpoint"),
                    ("resources", resources.as_str()),
                ],
            )
            .await?;
        for group in beat["successfulRecords"].as_array().into_iter().flatten() {
            for b in group["endpoints"].as_array().into_iter().flatten() {
                if let Some(id) = b["EndpointID"].as_str() {
                    out.insert(
                        id.to_owned(),
                        (
                            b["Availability"].as_bool().unwrap_or(false),
                            b["DcDateTimeUTC"].clone(),
                        ),
                    );
                }
            }
        }
    }
    Ok(out)
}

/// The Asio path of an endpoint's disk figures.
pub fn disk_path(endpoint: &str) -> [&str; 7] {
    [
        "api",
        "platform",
        "v2",
        "device",
        "endpoints",
        endpoint,
        "disk-usage",
    ]
}

/// (percent used, GB free) of the first disk in an Asio `disk-usage` answer, one decimal each.
pub fn disk_figures(answer: &Value) -> Option<(f64, f64)> {
    let m = &answer[0]["storages"][0]["metric"];
    let (used, total) = (
        m["usedSpaceBytes"].as_f64()?,
        m["totalSpaceBytes"].as_f64()?,
    );
    (total > 0.0).then(|| {
        (
            (used / total * 1000.0).round() / 10.0,
            ((total - used) / 1e9 * 10.0).round() / 10.0,
        )
    })
}
