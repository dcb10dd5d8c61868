//! Cross-product actions through the gate over real HTTP to the sandbox tenant's four products:
//! `remote_session` and `run_remediation` (Manage ticket → configuration → Asio endpoint →
//! ScreenConnect session), `renewal_quote` (Manage agreement and additions → Sell quote shell) and
//! `fleet_health` (Asio devices and patches with Manage tickets). The planted ambiguous mapping
//! comes back with its candidates; hard actions wait for a verdict and the journal shows nothing
//! sent.
#![allow(clippy::unwrap_used, reason = "test helpers abort on any failure")]

mod support;

use schemas::tool::ToolOutcome;
use serde_json::{Value, json};
use support::{error_of, world};

#[tokio::test]
async fn remote_session_resolves_across_products_and_waits_for_a_verdict() {
    let w = world().await;
    let truth = w.tenant.truth().clone();
    let clean = &truth.remote.clean;
    w.tenant.clear_journal();

    // Without confirm: the preview already names the one session (the resolution is reads only).
    let preview = w
        .call(
            "cw_tickets",
            "remote_session",
            json!({"ticket_id": clean.ticket_id}),
            false,
        )
        .await;
    let ToolOutcome::Preview { request, .. } = &preview else {
        panic!("{preview:?}")
    };
    assert_eq!(request.product, "screenconnect");
    assert_eq!(
        request.path,
        format!("/api/v1/sessions/{}/events", clean.session_ids[0])
    );
    assert_eq!(request.body.as_ref().unwrap()["eventType"], "QueuedMessage");
    // Manage (ticket → configuration), Asio (the endpoint's heartbeat), ScreenConnect (sessions).
    let products = w.products();
    for product in ["manage", "rmm", "sc"] {
        assert!(products.contains(product), "{products:?}");
    }

    // Confirmed: hard, so it waits for a human; nothing reaches ScreenConnect.
    let queued = w
        .call(
            "cw_tickets",
            "remote_session",
            json!({"ticket_id": clean.ticket_id}),
            true,
        )
        .await;
    let ToolOutcome::PendingApproval {
        effect, request, ..
    } = &queued
    else {
        panic!("{queued:?}")
    };
    assert!(
        effect
            .device
            .as_deref()
            .unwrap()
            .contains(&clean.endpoint_id),
        "{effect:?}"
    );
    assert!(effect.customer_visible_text.is_some());
    assert_eq!(
        request.path,
        format!("/api/v1/sessions/{}/events", clean.session_ids[0])
    );
    assert_eq!(w.writes(), Vec::<String>::new());

    // cw_meta pending shows it, read-only, with what it would do.
    let pending = w.read("cw_meta", "pending", json!({})).await;
    assert_eq!(pending["count"], 1, "{pending}");
    assert_eq!(pending["pending"][0]["action"], "remote_session");
    assert_eq!(pending["pending"][0]["risk"], "hard");
    assert!(
        pending["pending"][0]["effect"]["device"]
            .as_str()
            .unwrap()
            .contains(&clean.endpoint_id)
    );

    // The planted ambiguous device: two sessions, both returned as candidates, nothing chosen.
    let ambiguous = &truth.remote.ambiguous;
    assert_eq!(ambiguous.session_ids.len(), 2);
    let outcome = w
        .call(
            "cw_tickets",
            "remote_session",
            json!({"ticket_id": ambiguous.ticket_id}),
            true,
        )
        .await;
    let error = error_of(&outcome);
    assert_eq!(error.kind, "ambiguous", "{error:?}");
    let mut candidates: Vec<&str> = error
        .candidates
        .iter()
        .map(|c| c["session_id"].as_str().unwrap())
        .collect();
    candidates.sort_unstable();
    assert_eq!(candidates, ambiguous.session_ids);
    // Choosing one of the candidates settles it (and waits for a verdict again).
    let chosen = w
        .call(
            "cw_tickets",
            "remote_session",
            json!({"ticket_id": ambiguous.ticket_id, "session_id": ambiguous.session_ids[1]}),
            true,
        )
        .await;
    assert_eq!(chosen.status(), "pending_approval", "{chosen:?}");
    // A session of another device is not a choice.
    let wrong = w
        .call(
            "cw_tickets",
            "remote_session",
            json!({"ticket_id": ambiguous.ticket_id, "session_id": clean.session_ids[0]}),
            true,
        )
        .await;
    assert_eq!(error_of(&wrong).kind, "ambiguous");
    assert_eq!(w.writes(), Vec::<String>::new());
    w.tenant.shutdown().await;
}

#[tokio::test]
async fn run_remediation_plans_a_script_or_a_command_and_never_sends_without_a_verdict() {
    let w = world().await;
    let truth = w.tenant.truth().clone();
    let clean = &truth.remote.clean;
    let scripts = w.read("cw_rmm", "scripts", json!({})).await;
    let flush = scripts["scripts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "Flush DNS cache")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    w.tenant.clear_journal();

    let script = w
        .call(
            "cw_tickets",
            "run_remediation",
            json!({"ticket_id": clean.ticket_id, "script_id": flush}),
            true,
        )
        .await;
    let ToolOutcome::PendingApproval {
        request, effect, ..
    } = &script
    else {
        panic!("{script:?}")
    };
    assert_eq!(request.product, "asio");
    assert_eq!(
        request.body.as_ref().unwrap(),
        &json!({"templateID": flush, "targets": [clean.endpoint_id]})
    );
    assert!(
        effect
            .summary
            .contains(&format!("ticket {}", clean.ticket_id))
    );

    let command = w
        .call(
            "cw_tickets",
            "run_remediation",
            json!({"ticket_id": clean.ticket_id, "command": "ipconfig /flushdns"}),
            true,
        )
        .await;
    let ToolOutcome::PendingApproval { request, .. } = &command else {
        panic!("{command:?}")
    };
    assert_eq!(
        request.body.as_ref().unwrap(),
        &json!({"eventType": "QueuedCommand", "data": "ipconfig /flushdns"})
    );

    // Both or neither: refused before anything is resolved.
    let both = w
        .call(
            "cw_tickets",
            "run_remediation",
            json!({"ticket_id": clean.ticket_id, "command": "x", "script_id": flush}),
            true,
        )
        .await;
    assert_eq!(error_of(&both).kind, "invalid_params");
    // The ambiguous device through a command asks too.
    let ambiguous = w
        .call(
            "cw_tickets",
            "run_remediation",
            json!({"ticket_id": truth.remote.ambiguous.ticket_id, "command": "hostname"}),
            true,
        )
        .await;
    assert_eq!(error_of(&ambiguous).kind, "ambiguous");
    assert_eq!(w.writes(), Vec::<String>::new());
    w.tenant.shutdown().await;
}

#[tokio::test]
async fn fleet_health_matches_the_sandbox_for_every_company() {
    let w = world().await;
    let truth = w.tenant.truth().clone();
    w.tenant.clear_journal();
    let fleet = w.read("cw_companies", "fleet_health", json!({})).await;
    assert_eq!(fleet["companies"], truth.fleet.len());
    let products = w.products();
    assert!(
        products.contains("manage") && products.contains("rmm"),
        "{products:?}"
    );
    for expected in &truth.fleet {
        let row = fleet["fleet"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["company"]["id"] == expected.company_id)
            .unwrap_or_else(|| panic!("company {} missing", expected.company_id));
        assert_eq!(row["rmm_company_id"], expected.rmm_company_id.as_str());
        assert_eq!(row["devices"], expected.devices, "{row}");
        assert_eq!(row["online"], expected.online, "{row}");
        assert_eq!(row["offline"], expected.offline, "{row}");
        assert_eq!(row["missing_patches"], expected.missing_patches, "{row}");
        assert_eq!(
            row["devices_missing_patches"], expected.devices_missing_patches,
            "{row}"
        );
        assert_eq!(row["pending_reboot"], expected.pending_reboot, "{row}");
        assert_eq!(row["open_tickets"], expected.open_tickets, "{row}");
    }
    assert!(
        truth
            .fleet
            .iter()
            .any(|f| f.offline > 0 && f.missing_patches > 0)
    );

    // One company alone gives the same figures.
    let one = &truth.fleet[0];
    let single = w
        .read(
            "cw_companies",
            "fleet_health",
            json!({"company_id": one.company_id}),
        )
        .await;
    assert_eq!(single["companies"], 1);
    assert_eq!(single["fleet"][0]["open_tickets"], one.open_tickets);
    assert_eq!(single["fleet"][0]["missing_patches"], one.missing_patches);
    // A company the RMM does not know is a parameter error, not an empty answer.
    let outcome = w
        .call(
            "cw_companies",
            "fleet_health",
            json!({"company_id": 999_999}),
            false,
        )
        .await;
    assert_eq!(error_of(&outcome).kind, "invalid_params");
    assert_eq!(w.writes(), Vec::<String>::new());
    w.tenant.shutdown().await;
}

/// `a × b` to cents, as the catalog's exact decimals print it.
fn cents(x: f64) -> String {
    format!("{:.2}", (x * 100.0).round() / 100.0)
}

#[tokio::test]
async fn renewals_and_renewal_quote_go_from_manage_to_a_cpq_quote_with_exact_prices() {
    let w = world().await;
    let truth = w.tenant.truth().clone();

    // renewals: every planted expiring agreement, valued at its fee plus billable additions.
    let renewals = w
        .read("cw_agreements", "renewals", json!({"days": 90}))
        .await;
    assert_eq!(renewals["count"], truth.agreements.expiring.len());
    let mut total = 0.0;
    for planted in &truth.agreements.expiring {
        let got = w
            .read("cw_agreements", "get", json!({"id": planted.agreement_id}))
            .await;
        let fee = got["agreement"]["billAmount"].as_f64().unwrap_or_default();
        let additions: f64 = got["additions"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|a| a["billCustomer"] == "Billable" && a.get("cancelledDate").is_none())
            .map(|a| a["quantity"].as_f64().unwrap() * a["unitPrice"].as_f64().unwrap())
            .sum();
        let row = renewals["renewals"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["agreement"]["id"] == planted.agreement_id)
            .unwrap();
        assert_eq!(row["monthly_value"], cents(fee + additions), "{row}");
        assert_eq!(
            row["yearly_value"],
            cents((fee + additions) * 12.0),
            "{row}"
        );
        assert_eq!(row["window_days"], planted.window_days);
        total += fee + additions;
    }
    assert_eq!(renewals["monthly_value_at_stake"], cents(total));

    // renewal_quote: preview first (reads Manage and CPQ, writes nothing).
    let planted = &truth.agreements.expiring[0];
    let got = w
        .read("cw_agreements", "get", json!({"id": planted.agreement_id}))
        .await;
    let billable: Vec<&Value> = got["additions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["billCustomer"] == "Billable" && a.get("cancelledDate").is_none())
        .collect();
    assert!(!billable.is_empty());
    w.tenant.clear_journal();
    let params = json!({"agreement_id": planted.agreement_id, "uplift_percent": "5"});
    let preview = w
        .call("cw_agreements", "renewal_quote", params.clone(), false)
        .await;
    let ToolOutcome::Preview {
        request, effect, ..
    } = &preview
    else {
        panic!("{preview:?}")
    };
    assert_eq!(request.product, "sell");
    assert!(
        request.path.starts_with("/api/quotes/copyById/"),
        "{request:?}"
    );
    let lines = request.body.as_ref().unwrap()["quoteItems"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(lines.len(), billable.len());
    let mut expected_total = 0.0;
    for (line, addition) in lines.iter().zip(&billable) {
        let raised = cents(addition["unitPrice"].as_f64().unwrap() * 1.05);
        assert_eq!(cents(line["quoteItemPrice"].as_f64().unwrap()), raised);
        assert_eq!(line["quantity"].as_f64(), addition["quantity"].as_f64());
        expected_total += addition["quantity"].as_f64().unwrap() * raised.parse::<f64>().unwrap();
    }
    assert_eq!(
        effect.amount.as_deref(),
        Some(format!("{} USD", cents(expected_total)).as_str())
    );
    let products = w.products();
    assert!(
        products.contains("manage") && products.contains("cpq"),
        "{products:?}"
    );
    assert_eq!(w.writes(), Vec::<String>::new());

    // Confirmed (a write for a human in enforce mode): the copy, the patch, one POST per line.
    let done = w.call("cw_agreements", "renewal_quote", params, true).await;
    let ToolOutcome::Executed { result, .. } = &done else {
        panic!("{done:?}")
    };
    let quote_id = result["quote"]["id"].as_str().unwrap().to_owned();
    let writes = w.writes();
    assert_eq!(writes.len(), 2 + lines.len(), "{writes:#?}");
    assert!(writes[0].starts_with("POST cpq /cpq/api/quotes/copyById/"));
    assert_eq!(writes[1], format!("PATCH cpq /cpq/api/quotes/{quote_id}"));
    let quote = w.read("cw_cpq", "quote", json!({"id": quote_id})).await;
    assert_eq!(quote["lines"].as_array().unwrap().len(), lines.len());
    assert_eq!(
        quote["quote"]["name"],
        format!("Renewal: {}", got["agreement"]["name"].as_str().unwrap())
    );
    assert_eq!(
        cents(quote["quote"]["total"].as_f64().unwrap()),
        cents(expected_total)
    );

    // Sending it to the customer is hard: it waits, and nothing more is sent.
    w.tenant.clear_journal();
    let send = w
        .call("cw_cpq", "send_quote", json!({"id": quote_id}), true)
        .await;
    assert_eq!(send.status(), "pending_approval", "{send:?}");
    assert_eq!(w.writes(), Vec::<String>::new());

    // Bad input is named, nothing is read.
    let bad = w
        .call(
            "cw_agreements",
            "renewal_quote",
            json!({"agreement_id": planted.agreement_id, "uplift_percent": "$5"}),
            false,
        )
        .await;
    assert_eq!(error_of(&bad).kind, "invalid_params");
    w.tenant.shutdown().await;
}

#[tokio::test]
async fn draft_quote_create_quote_and_add_line_build_a_cpq_quote() {
    let w = world().await;
    let opportunities = w.read("cw_sales", "opportunities", json!({})).await;
    let opp = &opportunities["opportunities"][0];
    let opp_id = opp["id"].as_i64().unwrap();

    // draft_quote: the opportunity's name and customer on a template copy, linked back to it.
    let draft = w
        .call(
            "cw_sales",
            "draft_quote",
            json!({"opportunity_id": opp_id}),
            true,
        )
        .await;
    let ToolOutcome::Executed { result, .. } = &draft else {
        panic!("{draft:?}")
    };
    let quote_id = result["quote"]["id"].as_str().unwrap().to_owned();
    assert_eq!(result["quote"]["name"], opp["name"]);
    assert_eq!(result["quote"]["account"], opp["company"]["name"]);
    assert_eq!(result["quote"]["opportunity_id"], opp_id.to_string());
    let linked = w
        .read("cw_cpq", "quotes", json!({"opportunity_id": opp_id}))
        .await;
    assert!(
        linked["quotes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|q| q["id"] == quote_id.as_str())
    );

    // add_line: exact extended amount in the preview, then the line on the quote.
    let line = json!({"quote_id": quote_id, "description": "FortiGate 70G firewall", "quantity": "3", "price": "1250.10", "cost": "940"});
    let preview = w.call("cw_cpq", "add_line", line.clone(), false).await;
    let ToolOutcome::Preview { effect, .. } = &preview else {
        panic!("{preview:?}")
    };
    assert_eq!(effect.amount.as_deref(), Some("3750.30 USD"));
    let added = w.call("cw_cpq", "add_line", line, true).await;
    assert_eq!(added.status(), "executed", "{added:?}");
    let quote = w.read("cw_cpq", "quote", json!({"id": quote_id})).await;
    assert_eq!(quote["lines"].as_array().unwrap().len(), 1);
    assert_eq!(quote["quote"]["total"], 3750.3);

    // create_quote: a named shell without lines; an empty name is refused before any read.
    let created = w
        .call(
            "cw_cpq",
            "create_quote",
            json!({"name": "Wi-Fi survey", "account_name": "Acme Dental"}),
            true,
        )
        .await;
    let ToolOutcome::Executed { result, .. } = &created else {
        panic!("{created:?}")
    };
    assert_eq!(result["quote"]["name"], "Wi-Fi survey");
    assert_eq!(result["quote"]["status"], "Draft");
    let empty = w
        .call(
            "cw_cpq",
            "create_quote",
            json!({"name": " ", "account_name": "Acme Dental"}),
            false,
        )
        .await;
    assert_eq!(error_of(&empty).kind, "invalid_params");
    w.tenant.shutdown().await;
}

/// Approves a waiting proposal with an enrolled operator key, as `nightjarctl approve` would.
async fn approve(
    w: &support::World,
    proposal_id: &str,
    digest: &str,
) -> schemas::verdict::VerdictReply {
    use daemon::approvals::{Approvals, Settlements, new_nonce, public_key_pem, sign};
    let approvals = Approvals::new(w.gate.clone(), std::sync::Arc::new(Settlements::default()));
    let key = p256::ecdsa::SigningKey::from_slice(&[7; 32]).unwrap();
    let enrolled = approvals
        .enroll(&public_key_pem(&key), "ops", None)
        .await
        .unwrap();
    let now = chrono::Utc::now();
    let payload = schemas::verdict::VerdictPayload {
        v: 1,
        domain: schemas::verdict::VERDICT_DOMAIN.into(),
        proposal_id: proposal_id.to_owned(),
        action_digest: digest.to_owned(),
        decision: schemas::event::Decision::Approve,
        reason: None,
        not_before: now - chrono::Duration::seconds(1),
        expires_at: now + chrono::Duration::seconds(29),
        nonce: new_nonce(),
        key_id: enrolled.key_id,
    };
    approvals.verdict(&sign(&payload, &key)).await
}

#[tokio::test]
async fn an_approved_remediation_runs_once_on_the_resolved_session() {
    let w = world().await;
    let clean = w.tenant.truth().remote.clean.clone();
    let queued = w
        .call(
            "cw_tickets",
            "run_remediation",
            json!({"ticket_id": clean.ticket_id, "command": "hostname"}),
            true,
        )
        .await;
    let ToolOutcome::PendingApproval {
        proposal_id,
        action_digest,
        ..
    } = &queued
    else {
        panic!("{queued:?}")
    };
    assert!(w.writes().is_empty());
    w.tenant.clear_journal();
    let reply = approve(&w, proposal_id, action_digest).await;
    assert!(reply.accepted, "{reply:?}");
    assert_eq!(
        reply.outcome.as_ref().map(ToolOutcome::status),
        Some("executed"),
        "{reply:?}"
    );
    // Exactly one request reached ScreenConnect: the command on the device's one session.
    assert_eq!(
        w.writes(),
        [format!(
            "POST sc /sc/api/v1/sessions/{}/events",
            clean.session_ids[0]
        )]
    );
    // ... and the guest answered it (the sandbox runs queued commands at once).
    let settings = daemon::connector::Settings::from_env_lines(&w.tenant.env_lines()).unwrap();
    let direct =
        daemon::connector::Connectors::new(&settings, &daemon::connector::Policy::default())
            .unwrap();
    let details = direct
        .screenconnect()
        .unwrap()
        .session_details(&daemon::connector::Call::default(), &clean.session_ids[0])
        .await
        .unwrap();
    let last = details["events"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(last["eventType"], "RanCommand");
    let device = w
        .read(
            "cw_rmm",
            "device",
            json!({"configuration_id": clean.configuration_id}),
        )
        .await;
    assert_eq!(last["data"], device["name"]);
    w.tenant.shutdown().await;
}
