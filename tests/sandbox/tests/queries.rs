//! The query grammar over HTTP: tables of conditions, orderBy, fields and paging cases with
//! expected results (computed from the full collection client-side), malformed queries, the
//! `Link` header and forward-only paging.

#![allow(
    clippy::unwrap_used,
    reason = "helpers in a test file fail loudly, like the tests"
)]
#![allow(clippy::type_complexity, reason = "case tables are tuples by design")]

#[path = "support/client.rs"]
mod client;

use std::cmp::Ordering;

use client::{Cw, ids, link, start};
use reqwest::StatusCode;
use serde_json::Value;

type Pred = fn(&Value) -> bool;

fn s<'a>(v: &'a Value, path: &[&str]) -> &'a Value {
    path.iter().fold(v, |v, k| &v[*k])
}

#[tokio::test]
async fn conditions_table() {
    let running = start().await;
    let cw = Cw::new(&running);
    let tickets = cw.all("/service/tickets").await;
    // 150 regular tickets and 320 of closed history (small).
    assert_eq!(tickets.len(), 150 + 320);
    let cases: &[(&str, Pred)] = &[
        ("closedFlag = false", |t| t["closedFlag"] == false),
        ("closedFlag=true AND board/name = \"Alerts\"", |t| {
            t["closedFlag"] == true && s(t, &["board", "name"]) == "Alerts"
        }),
        ("board/id = 2 or board/id = 3", |t| {
            matches!(s(t, &["board", "id"]).as_i64(), Some(2 | 3))
        }),
        ("board/id in (1,3) and status/name != \"Closed\"", |t| {
            matches!(s(t, &["board", "id"]).as_i64(), Some(1 | 3))
                && s(t, &["status", "name"]) != "Closed"
        }),
        ("status/name in (\"New\", \"Assigned\")", |t| {
            matches!(s(t, &["status", "name"]).as_str(), Some("New" | "Assigned"))
        }),
        ("status/name not in (\"Closed\")", |t| {
            s(t, &["status", "name"]) != "Closed"
        }),
        ("summary like \"%disk%\"", |t| {
            t["summary"]
                .as_str()
                .unwrap()
                .to_lowercase()
                .contains("disk")
        }),
        ("summary not like '%disk%'", |t| {
            !t["summary"]
                .as_str()
                .unwrap()
                .to_lowercase()
                .contains("disk")
        }),
        ("summary contains \"VPN\"", |t| {
            t["summary"]
                .as_str()
                .unwrap()
                .to_lowercase()
                .contains("vpn")
        }),
        ("owner/identifier = null", |t| t.get("owner").is_none()),
        ("owner != null AND type = null", |t| {
            t.get("owner").is_some() && t.get("type").is_none()
        }),
        ("type = null and status/name = \"New\"", |t| {
            t.get("type").is_none() && s(t, &["status", "name"]) == "New"
        }),
        ("company/id = 250", |t| s(t, &["company", "id"]) == 250),
        ("id >= 41100 and id < 41110", |t| {
            (41100..41110).contains(&t["id"].as_i64().unwrap())
        }),
        (
            "(board/name = \"Help Desk\" or board/name = \"Alerts\") and priority/level = \"High\"",
            |t| {
                matches!(
                    s(t, &["board", "name"]).as_str(),
                    Some("Help Desk" | "Alerts")
                ) && s(t, &["priority", "level"]) == "High"
            },
        ),
        ("dateEntered > [2026-03-15T00:00:00Z]", |t| {
            s(t, &["_info", "dateEntered"]).as_str().unwrap() > "2026-03-15T00:00:00Z"
        }),
        ("lastUpdated < [2026-01-01]", |t| {
            s(t, &["_info", "lastUpdated"]).as_str().unwrap() < "2026-01-01T00:00:00Z"
        }),
        ("actualHours > 1.5", |t| {
            t["actualHours"].as_f64().unwrap() > 1.5
        }),
        ("BOARD/NAME = 'help desk'", |t| {
            s(t, &["board", "name"]) == "Help Desk"
        }),
    ];
    for (conditions, pred) in cases {
        let a = cw
            .get_q(
                "/service/tickets",
                &[("conditions", conditions), ("pageSize", "1000")],
            )
            .await;
        assert_eq!(a.status, StatusCode::OK, "{conditions}: {}", a.text);
        let got = ids(a.json().as_array().unwrap());
        let want: Vec<i64> = ids(&tickets
            .iter()
            .filter(|t| pred(t))
            .cloned()
            .collect::<Vec<_>>());
        assert_eq!(got, want, "{conditions}");
        let count = cw
            .get_q("/service/tickets/count", &[("conditions", conditions)])
            .await
            .json();
        assert_eq!(
            count["count"].as_u64().unwrap() as usize,
            want.len(),
            "count of {conditions}"
        );
    }
    // Child conditions search arrays; custom field conditions search customFields.
    let contacts = cw.all("/company/contacts").await;
    let email = contacts[3]["communicationItems"][0]["value"]
        .as_str()
        .unwrap()
        .to_string();
    let child = format!(
        "communicationItems/value like \"{email}\" AND communicationItems/communicationType = \"Email\""
    );
    let a = cw
        .get_q("/company/contacts", &[("childConditions", child.as_str())])
        .await;
    assert_eq!(
        ids(a.json().as_array().unwrap()),
        vec![contacts[3]["id"].as_i64().unwrap()]
    );
    let a = cw
        .get_q(
            "/company/contacts",
            &[("customFieldConditions", "caption = \"Asset Tag\"")],
        )
        .await;
    assert_eq!(a.json().as_array().unwrap().len(), 0);
    running.shutdown().await;
}

#[tokio::test]
async fn malformed_and_unknown_are_400_with_the_error_shape() {
    let running = start().await;
    let cw = Cw::new(&running);
    let cases: &[(&str, &str, &str)] = &[
        ("conditions", "summary = ", "conditions"),
        ("conditions", "summary = \"unterminated", "conditions"),
        ("conditions", "(board/id = 1", "conditions"),
        ("conditions", "board/id = 1 and", "conditions"),
        ("conditions", "summary = printer", "conditions"),
        ("conditions", "nosuchfield = 1", "nosuchfield"),
        ("conditions", "board/nosuch = 1", "board/nosuch"),
        ("conditions", "dateEntered > [not a date]", "conditions"),
        (
            "childConditions",
            "communicationItems/value = ",
            "childConditions",
        ),
        ("orderBy", "summary sideways", "orderBy"),
        ("orderBy", "nosuchfield asc", "nosuchfield"),
        ("page", "two", "page"),
        ("pageSize", "many", "pageSize"),
    ];
    for (param, value, field) in cases {
        let a = cw.get_q("/service/tickets", &[(param, value)]).await;
        assert_eq!(
            a.status,
            StatusCode::BAD_REQUEST,
            "{param}={value}: {}",
            a.text
        );
        let body = a.json();
        assert_eq!(body["code"], "InvalidObject", "{param}={value}");
        assert!(body["message"].as_str().unwrap().contains("is invalid"));
        assert_eq!(
            body["errors"][0]["field"], *field,
            "{param}={value}: {body}"
        );
    }
    running.shutdown().await;
}

#[tokio::test]
async fn order_by_and_fields_table() {
    let running = start().await;
    let cw = Cw::new(&running);
    let entries = cw.all("/time/entries").await;
    let key = |v: &Value, path: &str| -> Value { path.split('/').fold(v, |v, k| &v[k]).clone() };
    let cmp = |a: &Value, b: &Value| -> Ordering {
        match (a, b) {
            (Value::String(x), Value::String(y)) => x.to_lowercase().cmp(&y.to_lowercase()),
            (Value::Number(x), Value::Number(y)) => x
                .as_f64()
                .unwrap()
                .partial_cmp(&y.as_f64().unwrap())
                .unwrap(),
            _ => Ordering::Equal,
        }
    };
    let cases: &[(&str, &[(&str, bool)])] = &[
        ("timeStart desc", &[("timeStart", true)]),
        (
            "member/identifier asc, timeStart desc",
            &[("member/identifier", false), ("timeStart", true)],
        ),
        (
            "actualHours desc,id",
            &[("actualHours", true), ("id", false)],
        ),
        ("workType/name", &[("workType/name", false)]),
    ];
    for (order, keys) in cases {
        let a = cw
            .get_q("/time/entries", &[("orderBy", order), ("pageSize", "1000")])
            .await;
        assert_eq!(a.status, StatusCode::OK, "{order}: {}", a.text);
        let mut want = entries.clone();
        want.sort_by(|x, y| {
            for (path, desc) in keys.iter() {
                let o = cmp(&key(x, path), &key(y, path));
                let o = if *desc { o.reverse() } else { o };
                if o != Ordering::Equal {
                    return o;
                }
            }
            Ordering::Equal
        });
        assert_eq!(ids(a.json().as_array().unwrap()), ids(&want), "{order}");
    }
    let a = cw
        .get_q(
            "/service/tickets/41001",
            &[("fields", "id,summary,board/name,_info/lastUpdated")],
        )
        .await;
    let body = a.json();
    let keys: Vec<&String> = body.as_object().unwrap().keys().collect();
    assert_eq!(keys.len(), 4, "{body}");
    assert_eq!(body["board"].as_object().unwrap().len(), 1);
    assert_eq!(body["_info"].as_object().unwrap().len(), 1);
    let a = cw
        .get_q(
            "/company/contacts",
            &[("fields", "id,communicationItems/value"), ("pageSize", "1")],
        )
        .await;
    let first = &a.json()[0];
    assert!(
        first["communicationItems"][0]
            .as_object()
            .unwrap()
            .keys()
            .all(|k| k == "value"),
        "{first}"
    );
    running.shutdown().await;
}

#[tokio::test]
async fn paging_and_link_headers() {
    let running = start().await;
    let cw = Cw::new(&running);
    let all = cw.all("/service/tickets").await;
    // Default page size is 25; the Link header points at the next and last pages.
    let a = cw
        .get("/service/tickets?conditions=closedFlag%3Dfalse")
        .await;
    let open: Vec<&Value> = all.iter().filter(|t| t["closedFlag"] == false).collect();
    assert_eq!(a.json().as_array().unwrap().len(), 25.min(open.len()));
    let header = a.header("link").unwrap();
    let next = link(&header, "next").unwrap();
    let last = link(&header, "last").unwrap();
    assert!(next.starts_with(&running.base_url()), "absolute: {next}");
    assert!(
        next.contains("conditions=closedFlag%3Dfalse") && next.contains("pageSize=25&page=2"),
        "{next}"
    );
    assert!(
        last.ends_with(&format!("page={}", open.len().div_ceil(25))),
        "{last}"
    );
    assert!(link(&header, "prev").is_none() && link(&header, "first").is_none());
    // Following next from page 2 onwards gives first and prev, and the pages add up.
    let page2 = cw.get(&next).await;
    let h2 = page2.header("link").unwrap();
    assert!(link(&h2, "first").unwrap().ends_with("page=1"));
    assert!(link(&h2, "prev").unwrap().ends_with("page=1"));
    // 470 tickets: full pages, a short last page, a page past the end, a clamped page size.
    let total = all.len();
    assert_eq!(total, 470);
    let cases: &[(&str, &str, usize)] = &[
        ("1", "40", 40),
        ("12", "40", 30),
        ("13", "40", 0),
        ("1", "1000", 470),
        ("2", "5000", 0),
    ];
    for (page, size, n) in cases {
        let a = cw
            .get_q("/service/tickets", &[("page", page), ("pageSize", size)])
            .await;
        let rows = a.json().as_array().unwrap().clone();
        assert_eq!(rows.len(), *n, "page {page} size {size}");
        let start = (page.parse::<usize>().unwrap() - 1) * size.parse::<usize>().unwrap().min(1000);
        assert_eq!(
            ids(&rows),
            ids(&all[start.min(total)..(start + n).min(total)]),
            "page {page} size {size}"
        );
    }
    // pageSize is clamped to 1000: the links of an out-of-range page say so.
    let a = cw
        .get_q("/service/tickets", &[("page", "2"), ("pageSize", "5000")])
        .await;
    assert!(
        link(&a.header("link").unwrap(), "first")
            .unwrap()
            .contains("pageSize=1000&page=1")
    );
    // The last page has no next link; a single page has no Link at all.
    assert!(
        cw.get_q("/service/tickets", &[("page", "12"), ("pageSize", "40")])
            .await
            .header("link")
            .is_none_or(|l| link(&l, "next").is_none())
    );
    assert!(
        cw.get_q("/service/priorities", &[])
            .await
            .header("link")
            .is_none()
    );
    running.shutdown().await;
}

#[tokio::test]
async fn forward_only_paging_walks_ids_with_page_id() {
    let running = start().await;
    let cw = Cw::new(&running);
    let all = cw.all("/time/entries").await;
    let mut seen = Vec::new();
    let mut url = Some(format!(
        "{}/time/entries?pageSize=100&orderBy=timeStart%20desc",
        cw.base
    ));
    let mut calls = 0;
    while let Some(u) = url {
        let a = cw
            .send(
                cw.request(reqwest::Method::GET, &u)
                    .header("pagination-type", "forward-only"),
            )
            .await;
        assert_eq!(a.status, StatusCode::OK, "{}", a.text);
        seen.extend(ids(a.json().as_array().unwrap()));
        url = a.header("link").and_then(|l| link(&l, "next"));
        if let Some(u) = &url {
            assert!(
                u.contains(&format!("pageId={}", seen.last().unwrap())),
                "{u}"
            );
        }
        calls += 1;
    }
    let mut want = ids(&all);
    want.sort_unstable();
    assert_eq!(
        seen, want,
        "forward-only returns every row once, by id, ignoring orderBy"
    );
    assert_eq!(calls, all.len().div_ceil(100));
    running.shutdown().await;
}
