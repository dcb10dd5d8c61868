//! `cw_api`: raw access to the whole Manage API, for what the other tools do not cover (find the
//! operation with `cw_meta search`). Reads are free; writes are confirm-gated like any write; a
//! DELETE, and any write to a path that controls security, members, API keys or the company's
//! finance setup, is hard whoever calls.

use schemas::event::{EffectPreview, RecordRef, Risk, UpstreamRequest};
use schemas::tool::params::{RawGet, RawMethod, RawWrite};
use serde_json::{Value, json};

use super::{Action, Ctx, Failure, Plan, Planning, clamp_limit};
use crate::connector::Call;
use crate::connector::manage::Query;

pub(super) fn actions() -> Vec<Action> {
    vec![
        Action::read(
            "get",
            "GET any Manage path with conditions, orderBy, fields and a row limit; raw records.",
            json!({"tool": "cw_api", "action": "get", "params": {"path": "/service/tickets/1042/allNotes", "limit": 10}}),
            get,
        ),
        Action::write(
            "write",
            "POST, PUT, PATCH or DELETE any Manage path: a preview without confirm; DELETE and blocked paths need a signed approval.",
            Risk::Write,
            json!({"tool": "cw_api", "action": "write", "params": {"method": "POST", "path": "/service/tickets/1042/notes", "body": {"text": "Called the user back.", "internalAnalysisFlag": true}}, "confirm": true}),
            write,
        )
        .sometimes_hard(),
    ]
}

/// Paths whose writes are hard for every caller: security roles and settings, members and their
/// API keys and logins, single sign-on and directory setup, and the finance setup (GL, tax,
/// billing, accounting packages, currencies).
pub const BLOCKED_PREFIXES: &[&str] = &[
    "/system/securityroles",
    "/system/mysecurity",
    "/system/members",
    "/system/mymembers",
    "/system/apimembers",
    "/system/myaccount",
    "/system/ssoconfigurations",
    "/system/ssousers",
    "/system/ldapconfigurations",
    "/system/authanvils",
    "/system/integratorlogins",
    "/system/settings",
    "/system/managementnetworksecurities",
    "/finance/accounting",
    "/finance/accountingpackages",
    "/finance/accountingpackagesetup",
    "/finance/billingsetups",
    "/finance/glaccounts",
    "/finance/glpaths",
    "/finance/taxcodes",
    "/finance/taxintegrations",
    "/finance/currencies",
    "/finance/companyfinance",
];

/// Whether a write to `path` is on the block-list (ConnectWise paths are case-insensitive).
pub fn blocked(path: &str) -> bool {
    let lower = path.to_ascii_lowercase();
    BLOCKED_PREFIXES.iter().any(|prefix| {
        lower == *prefix
            || lower
                .strip_prefix(prefix)
                .is_some_and(|rest| rest.starts_with('/'))
    })
}

/// A path under the API root: `/segment/segment...`, nothing that could leave it.
fn checked_path(path: &str) -> Result<String, Failure> {
    let ok = path.starts_with('/')
        && path.len() <= 300
        && path.split('/').skip(1).all(|seg| {
            !seg.is_empty()
                && seg != "."
                && seg != ".."
                && seg
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.')
        });
    if ok {
        Ok(path.to_owned())
    } else {
        Err(Failure::invalid(format!(
            "{path:?} is not a Manage API path: write it like /service/tickets/1042/notes, with no \
             query string, host or '..' (conditions, orderBy and fields are parameters)"
        )))
    }
}

async fn get(ctx: Ctx, call: Call, p: RawGet) -> Result<Value, Failure> {
    let path = checked_path(&p.path)?;
    let mut query = Query::new().page_size(clamp_limit(p.limit) as u32);
    query.conditions = p.conditions;
    query.order_by = p.order_by;
    if let Some(fields) = p.fields {
        query = query.fields(fields);
    }
    let result = ctx.manage()?.get(&call, &path, &query).await?;
    Ok(json!({"path": path, "result": result}))
}

async fn write(_: Ctx, _: Call, p: RawWrite, _: Planning) -> Result<Plan, Failure> {
    let path = checked_path(&p.path)?;
    match (p.method, &p.body) {
        (RawMethod::Delete, Some(_)) => {
            return Err(Failure::invalid("a DELETE takes no body"));
        }
        (RawMethod::Patch, Some(b)) if !b.is_array() => {
            return Err(Failure::invalid(
                "a PATCH body is a JSON Patch array: [{\"op\": \"replace\", \"path\": \"/field\", \"value\": ...}]",
            ));
        }
        (RawMethod::Post | RawMethod::Put | RawMethod::Patch, None) => {
            return Err(Failure::invalid(format!(
                "a {} needs a body",
                p.method.as_str()
            )));
        }
        _ => {}
    }
    let is_blocked = blocked(&path);
    let hard = p.method == RawMethod::Delete || is_blocked;
    let mut summary = format!("{} {path}", p.method.as_str());
    if is_blocked {
        summary.push_str(" (a security, member, API-key or finance-setup path)");
    }
    // `/kind/id` and `/kind/id/child/...`: name the record the path addresses, if it does.
    let segments: Vec<&str> = path.split('/').skip(1).collect();
    let target = segments
        .iter()
        .rposition(|s| s.bytes().all(|b| b.is_ascii_digit()))
        .map(|at| RecordRef {
            kind: segments[at.saturating_sub(1)].to_owned(),
            id: segments[at].to_owned(),
        });
    Ok(Plan {
        request: UpstreamRequest {
            product: "manage".into(),
            method: p.method.as_str().into(),
            path,
            body: p.body,
        },
        effect: EffectPreview {
            summary,
            target,
            ..EffectPreview::default()
        },
        customer_visible: false,
        observed: None,
        hard,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_block_list_matches_whole_segments_whatever_the_case() {
        let cases = [
            ("/system/members/12/tokens", true),
            ("/system/Members", true),
            ("/System/SecurityRoles/3", true),
            ("/finance/glAccounts", true),
            ("/system/membertemplates", false),
            ("/service/tickets/1/notes", false),
            ("/finance/invoices", false),
        ];
        for (path, expected) in cases {
            assert_eq!(blocked(path), expected, "{path}");
        }
    }

    #[test]
    fn paths_cannot_leave_the_api_root() {
        for bad in [
            "service/tickets",
            "/service/../system",
            "/a//b",
            "/x?y=1",
            "http://h/x",
            "/a b",
        ] {
            assert!(checked_path(bad).is_err(), "{bad}");
        }
        assert!(checked_path("/service/tickets/1042/allNotes").is_ok());
    }
}
