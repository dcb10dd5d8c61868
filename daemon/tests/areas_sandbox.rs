//! Every new read action against what the sandbox holds: the expected figures are computed here
//! from the tenant the sandbox generated (same seed, size and day), and the action's answer,
//! fetched through the gate over HTTP, must match them.
#![allow(clippy::unwrap_used, reason = "test helpers abort on any failure")]

mod support;

use std::collections::BTreeMap;

use sandbox::tenant::{Kind, Tenant};
use serde_json::{Value, json};
use support::{World, error_of, today, world};

fn tenant() -> Tenant {
    let config = sandbox::Config::default();
    sandbox::seed::generate(config.seed, config.size, today()).0
}

fn rows(t: &Tenant, kind: Kind) -> Vec<&Value> {
    t.table(kind).rows.values().collect()
}

fn cents(x: f64) -> String {
    format!("{:.2}", (x * 100.0).round() / 100.0)
}

fn unbilled(t: &Tenant, from: &str, to: &str) -> Vec<Value> {
    rows(t, Kind::TimeEntry)
        .into_iter()
        .filter(|e| e["billableOption"] == "Billable" && e.get("invoice").is_none())
        .filter(|e| {
            let d = &e["timeStart"].as_str().unwrap()[..10];
            d >= from && d <= to
        })
        .cloned()
        .collect()
}

async fn checked(w: &World, tool: &str, action: &str, params: Value) -> Value {
    w.read(tool, action, params).await
}

#[tokio::test]
async fn time_and_finance_reads_match_the_tenant() {
    let w = world().await;
    let t = tenant();
    let (from, to) = ("2026-02-01", "2026-02-28");

    // cw_time unbilled and cw_finance unbilled: the same entries, valued at hours × rate.
    let expected = unbilled(&t, from, to);
    assert!(!expected.is_empty());
    let time = checked(&w, "cw_time", "unbilled", json!({"from": from, "to": to})).await;
    assert_eq!(time["count"], expected.len());
    let finance = checked(
        &w,
        "cw_finance",
        "unbilled",
        json!({"from": from, "to": to}),
    )
    .await;
    assert_eq!(finance["entries"], expected.len());
    let value: f64 = expected
        .iter()
        .map(|e| e["actualHours"].as_f64().unwrap() * e["hourlyRate"].as_f64().unwrap())
        .sum();
    assert!(value > 0.0);
    assert_eq!(finance["value"], cents(value));
    let member_value: f64 = time["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["value"].as_str().unwrap().parse::<f64>().unwrap())
        .sum();
    assert_eq!(cents(member_value), cents(value));

    // invoices: open ones are those with a balance; the balance sums exactly.
    let invoices = rows(&t, Kind::Invoice);
    let open: Vec<&&Value> = invoices
        .iter()
        .filter(|i| i["balance"].as_f64().unwrap() > 0.0)
        .collect();
    let listed = checked(&w, "cw_finance", "invoices", json!({"limit": 200})).await;
    assert_eq!(listed["count"], open.len());
    let balance: f64 = open.iter().map(|i| i["balance"].as_f64().unwrap()).sum();
    assert_eq!(listed["balance"], cents(balance));
    let first = open[0];
    let one = checked(&w, "cw_finance", "invoice", json!({"id": first["id"]})).await;
    assert_eq!(one["number"], first["invoiceNumber"]);
    assert_eq!(one["balance"], first["balance"]);
    assert!(one.get("_info").is_none());

    // ar_aging: every open balance in the bucket its due date puts it in.
    let aging = checked(&w, "cw_finance", "ar_aging", json!({})).await;
    let mut buckets: BTreeMap<&str, f64> = BTreeMap::new();
    for i in &open {
        let due =
            chrono::NaiveDate::parse_from_str(&i["dueDate"].as_str().unwrap()[..10], "%Y-%m-%d")
                .unwrap();
        let days = (today() - due).num_days();
        let b = match days {
            d if d <= 0 => "current",
            1..=30 => "1_30",
            31..=60 => "31_60",
            61..=90 => "61_90",
            _ => "over_90",
        };
        *buckets.entry(b).or_default() += i["balance"].as_f64().unwrap();
    }
    for (b, v) in &buckets {
        assert_eq!(aging["aging"][*b], cents(*v), "{b}: {aging}");
    }
    assert_eq!(aging["aging"]["total"], cents(balance));

    // generate_batch plans the whole unposted queue (a hard action: previewed, never sent).
    let unposted = rows(&t, Kind::UnpostedInvoice);
    let preview = w
        .call("cw_finance", "generate_batch", json!({}), false)
        .await;
    let schemas::tool::ToolOutcome::Preview { request, .. } = &preview else {
        panic!("{preview:?}")
    };
    assert_eq!(request.path, "/finance/accounting/batches");
    assert_eq!(
        request.body.as_ref().unwrap()["processedRecordIds"]
            .as_array()
            .unwrap()
            .len(),
        unposted.len()
    );
    // The finance writes are hard: each waits for a signed verdict, with its amount read from
    // the record, and nothing is sent.
    let po = rows(&t, Kind::PurchaseOrder)[0];
    let report = rows(&t, Kind::ExpenseReport)[0];
    for (action, params, amount) in [
        (
            "approve_po",
            json!({"id": po["id"]}),
            cents(po["total"].as_f64().unwrap()),
        ),
        (
            "approve_expense",
            json!({"report_id": report["id"]}),
            cents(report["total"].as_f64().unwrap()),
        ),
        (
            "post_invoice",
            json!({"id": first["id"]}),
            cents(first["total"].as_f64().unwrap()),
        ),
    ] {
        let outcome = w.call("cw_finance", action, params, true).await;
        let schemas::tool::ToolOutcome::PendingApproval {
            effect, request, ..
        } = &outcome
        else {
            panic!("{action}: {outcome:?}")
        };
        assert_eq!(
            effect.amount.as_deref(),
            Some(format!("{amount} USD").as_str()),
            "{action}"
        );
        if action == "approve_po" {
            // The Approved status was looked up (id 2 in the sandbox).
            assert_eq!(request.body.as_ref().unwrap()[0]["value"], 2);
        }
    }
    let created = w
        .call(
            "cw_finance",
            "create_invoice",
            json!({"company_id": first["company"]["id"], "type": "Agreement"}),
            true,
        )
        .await;
    assert_eq!(
        error_of(&created).kind,
        "invalid_params",
        "an agreement invoice names its agreement"
    );
    let bad = w
        .call("cw_finance", "invoices", json!({"state": "overdue"}), false)
        .await;
    assert_eq!(error_of(&bad).kind, "invalid_params");
    assert!(w.writes().is_empty(), "{:?}", w.writes());
    w.tenant.shutdown().await;
}

#[tokio::test]
async fn sales_projects_and_cpq_reads_match_the_tenant() {
    let w = world().await;
    let t = tenant();

    let opps = rows(&t, Kind::Opportunity);
    let open: Vec<&&Value> = opps
        .iter()
        .filter(|o| o["status"]["name"] == "Open")
        .collect();
    let listed = checked(&w, "cw_sales", "opportunities", json!({})).await;
    assert_eq!(listed["count"], open.len());
    // pipeline: each open opportunity valued at its CPQ quote, weighted by its probability.
    let pipeline = checked(&w, "cw_sales", "pipeline", json!({})).await;
    assert_eq!(pipeline["open"], open.len());
    let mut value = 0.0;
    let mut weighted = 0.0;
    for o in &open {
        let id = o["id"].to_string();
        let quote = t
            .cpq
            .get("quotes")
            .unwrap()
            .values()
            .find(|q| q["crmOpportunityId"] == id.as_str())
            .unwrap();
        let v = quote["quoteTotal"].as_f64().unwrap();
        value += v;
        weighted += v * o["probability"]["name"]
            .as_str()
            .unwrap()
            .parse::<f64>()
            .unwrap()
            / 100.0;
    }
    assert_eq!(pipeline["value"], cents(value));
    assert_eq!(pipeline["weighted"], cents(weighted));

    // cpq quotes: all of them (the template is not a quote).
    let quotes = checked(&w, "cw_cpq", "quotes", json!({"limit": 200})).await;
    assert_eq!(quotes["count"], t.cpq.get("quotes").unwrap().len());

    // projects: list, get with its tickets, tickets, budget burn.
    let projects = rows(&t, Kind::Project);
    // Open projects by default (the planted closed project is not listed).
    let listed = checked(&w, "cw_projects", "list", json!({})).await;
    let open = projects.iter().filter(|p| p["closedFlag"] != true).count();
    assert!(open < projects.len());
    assert_eq!(listed["count"], open);
    let p = projects[0];
    let tickets: Vec<&Value> = rows(&t, Kind::ProjectTicket)
        .into_iter()
        .filter(|x| x["project"]["id"] == p["id"])
        .collect();
    let got = checked(&w, "cw_projects", "get", json!({"id": p["id"]})).await;
    assert_eq!(got["tickets"]["total"], tickets.len());
    assert_eq!(
        got["tickets"]["open"],
        tickets.iter().filter(|x| x["closedFlag"] != true).count()
    );
    let listed = checked(&w, "cw_projects", "tickets", json!({"project_id": p["id"]})).await;
    assert_eq!(listed["count"], tickets.len());
    assert!(listed["tickets"][0]["phase"]["name"].is_string());
    let burn = checked(
        &w,
        "cw_projects",
        "budget_burn",
        json!({"project_id": p["id"]}),
    )
    .await;
    let row = &burn["projects"][0];
    let budget = p["budgetHours"].as_f64().unwrap();
    let actual = p["actualHours"].as_f64().unwrap();
    assert_eq!(
        row["budget_used_percent"],
        (actual / budget * 1000.0).round() / 10.0
    );
    assert_eq!(
        row["ticket_actual_hours"],
        tickets
            .iter()
            .map(|x| x["actualHours"].as_f64().unwrap())
            .sum::<f64>()
    );
    // 12.5 of 40 hours used at 30% complete: on track.
    assert_eq!(row["class"], "on_track");
    let none = w
        .call(
            "cw_projects",
            "budget_burn",
            json!({"project_id": 999_999}),
            false,
        )
        .await;
    assert_eq!(error_of(&none).kind, "invalid_params");
    w.tenant.shutdown().await;
}

#[tokio::test]
async fn team_and_dashboard_reads_match_the_tenant() {
    let w = world().await;
    let t = tenant();
    let techs: Vec<&Value> = rows(&t, Kind::Member)
        .into_iter()
        .filter(|m| m["dailyCapacity"].as_f64().unwrap_or_default() > 0.0)
        .collect();
    let members = checked(&w, "cw_team", "members", json!({})).await;
    assert_eq!(members["count"], rows(&t, Kind::Member).len());

    // schedule: the next 7 days' bookings.
    let (from, to) = (today(), today() + chrono::Duration::days(6));
    let booked: Vec<&Value> = rows(&t, Kind::ScheduleEntry)
        .into_iter()
        .filter(|e| {
            let d: chrono::NaiveDate = e["dateStart"].as_str().unwrap()[..10].parse().unwrap();
            d >= from && d <= to
        })
        .collect();
    let schedule = checked(&w, "cw_team", "schedule", json!({})).await;
    assert_eq!(schedule["count"], booked.len());

    // who_is_free tomorrow: capacity less bookings, for every technician with an hour free.
    let tomorrow = today() + chrono::Duration::days(1);
    let free = checked(
        &w,
        "cw_team",
        "who_is_free",
        json!({"day": tomorrow.to_string()}),
    )
    .await;
    for m in &techs {
        let ident = m["identifier"].as_str().unwrap();
        let taken: f64 = rows(&t, Kind::ScheduleEntry)
            .iter()
            .filter(|e| {
                e["member"]["identifier"] == ident
                    && e["dateStart"]
                        .as_str()
                        .unwrap()
                        .starts_with(&tomorrow.to_string())
            })
            .map(|e| e["hours"].as_f64().unwrap())
            .sum();
        let row = free["free"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["member"]["name"] == ident)
            .unwrap();
        assert_eq!(row["free_hours"], 8.0 - taken, "{ident}");
    }

    // workload: open tickets owned and utilization over the last 14 days.
    let workload = checked(&w, "cw_team", "workload", json!({})).await;
    assert_eq!(workload["members"].as_array().unwrap().len(), techs.len());
    let open: Vec<&Value> = rows(&t, Kind::Ticket)
        .into_iter()
        .filter(|x| x["closedFlag"] == false)
        .collect();
    for m in &techs {
        let row = workload["members"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["member"]["id"] == m["id"])
            .unwrap();
        let owned = open.iter().filter(|x| x["owner"]["id"] == m["id"]).count();
        assert_eq!(row["open_tickets"], owned);
    }

    // my_day: a technician's open tickets, highest priority first.
    let ident = techs[1]["identifier"].as_str().unwrap();
    let day = checked(&w, "cw_dashboards", "my_day", json!({"member": ident})).await;
    let owned = open
        .iter()
        .filter(|x| x["owner"]["identifier"] == ident)
        .count();
    assert_eq!(day["open_tickets"], owned);
    let unknown = w
        .call(
            "cw_dashboards",
            "my_day",
            json!({"member": "nobody"}),
            false,
        )
        .await;
    assert_eq!(error_of(&unknown).kind, "invalid_params");

    // dispatch: every open ticket without an owner.
    let dispatch = checked(&w, "cw_dashboards", "dispatch", json!({"scope": "week"})).await;
    assert_eq!(dispatch["open_tickets"], open.len());
    assert_eq!(
        dispatch["unassigned"],
        open.iter().filter(|x| x.get("owner").is_none()).count()
    );
    assert_eq!(dispatch["bookings"].as_array().unwrap().len(), booked.len());

    // daily_briefing: the SLA and MRR figures from the tenant.
    let briefing = checked(&w, "cw_dashboards", "daily_briefing", json!({})).await;
    assert_eq!(briefing["tickets"]["open"], open.len());
    let since = (today() - chrono::Duration::days(30)).to_string();
    let recent: Vec<&Value> = rows(&t, Kind::Ticket)
        .into_iter()
        .filter(|x| x["_info"]["dateEntered"].as_str().unwrap() >= since.as_str())
        .collect();
    assert_eq!(briefing["sla_last_30_days"]["tickets"], recent.len());
    let responded: Vec<f64> = recent
        .iter()
        .filter_map(|x| x["respondMinutes"].as_f64())
        .collect();
    if !responded.is_empty() {
        assert_eq!(
            briefing["sla_last_30_days"]["first_response_median_minutes"],
            15.0
        );
    }
    let mrr: f64 = rows(&t, Kind::Agreement)
        .iter()
        .filter(|a| a["cancelledFlag"] != true && a["agreementStatus"] != "Expired")
        .filter(|a| a["billingCycle"]["name"] == "Monthly")
        .filter_map(|a| a["billAmount"].as_f64())
        .sum();
    assert_eq!(briefing["agreements"]["mrr"], cents(mrr));
    assert!(!briefing["at_risk_clients"].as_array().unwrap().is_empty());

    // brief: one company's open tickets and devices.
    let company = rows(&t, Kind::Company)[0]["id"].as_i64().unwrap();
    let brief = checked(&w, "cw_dashboards", "brief", json!({"company_id": company})).await;
    assert_eq!(
        brief["open_tickets"],
        open.iter()
            .filter(|x| x["company"]["id"] == company)
            .count()
    );
    let fleet = w
        .tenant
        .truth()
        .fleet
        .iter()
        .find(|f| f.company_id == company)
        .unwrap()
        .clone();
    assert_eq!(brief["devices"]["count"], fleet.devices);
    assert_eq!(brief["devices"]["online"], fleet.online);
    assert!(w.writes().is_empty(), "{:?}", w.writes());
    w.tenant.shutdown().await;
}

#[tokio::test]
async fn rmm_reads_match_the_tenant() {
    let w = world().await;
    let t = tenant();
    let truth = w.tenant.truth().clone();
    let fleet = &truth.fleet[0];
    let devices = checked(
        &w,
        "cw_rmm",
        "devices",
        json!({"company_id": fleet.company_id}),
    )
    .await;
    assert_eq!(devices["count"], fleet.devices);
    assert_eq!(devices["online"], fleet.online);

    // device: the recurring device, full disk and seven missing patches, one session.
    let recurring = &truth.recurring_issue;
    let device = checked(
        &w,
        "cw_rmm",
        "device",
        json!({"configuration_id": recurring.configuration_id}),
    )
    .await;
    assert_eq!(device["endpoint_id"], recurring.endpoint_id.as_str());
    assert_eq!(device["online"], true);
    assert_eq!(device["disk_used_percent"], 96.5);
    assert_eq!(device["patches"]["missing"], 7);
    assert_eq!(device["missing_patches"].as_array().unwrap().len(), 7);
    assert_eq!(device["sessions"].as_array().unwrap().len(), 1);
    // by endpoint id: the same device, its configuration found in Manage.
    let by_endpoint = checked(
        &w,
        "cw_rmm",
        "device",
        json!({"endpoint_id": recurring.endpoint_id}),
    )
    .await;
    assert_eq!(by_endpoint["configuration_id"], recurring.configuration_id);
    let neither = w.call("cw_rmm", "device", json!({}), false).await;
    assert_eq!(error_of(&neither).kind, "invalid_params");

    // failed_patches: every device with a missing patch, worst first.
    let failed = checked(&w, "cw_rmm", "failed_patches", json!({})).await;
    let expected = t
        .rmm
        .get("endpoints")
        .unwrap()
        .values()
        .filter(|d| d["patch"]["summary"]["missingCount"].as_i64().unwrap() > 0)
        .count();
    assert_eq!(failed["count"], expected);
    assert_eq!(failed["devices"][0]["patches"]["missing"], 7);

    let scripts = checked(&w, "cw_rmm", "scripts", json!({})).await;
    assert_eq!(scripts["count"], t.rmm.get("scripts").unwrap().len());

    // pkg_uninstall and sc_run_command plan against the resolved device, and wait for a human.
    let uninstall = w
        .call(
            "cw_rmm",
            "pkg_uninstall",
            json!({"configuration_id": recurring.configuration_id, "package": "7-Zip 23.01 (x64)"}),
            true,
        )
        .await;
    let schemas::tool::ToolOutcome::PendingApproval { request, .. } = &uninstall else {
        panic!("{uninstall:?}")
    };
    let body = request.body.as_ref().unwrap();
    assert_eq!(body["targets"], json!([recurring.endpoint_id]));
    assert_eq!(body["parameters"]["package"], "7-Zip 23.01 (x64)");
    let run = w
        .call(
            "cw_rmm",
            "sc_run_command",
            json!({"configuration_id": truth.remote.ambiguous.configuration_id, "command": "hostname"}),
            true,
        )
        .await;
    assert_eq!(error_of(&run).kind, "ambiguous");
    assert!(w.writes().is_empty(), "{:?}", w.writes());
    w.tenant.shutdown().await;
}
