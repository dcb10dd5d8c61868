//! The tenant's state: every record of every product, held as the JSON the API returns (wire
//! names, nulls omitted), with `_info` links stored relative and made absolute per response.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde_json::{Map, Value, json};

/// The Manage record kinds the sandbox serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    Member,
    Company,
    Contact,
    Board,
    BoardStatus,
    BoardType,
    BoardSubType,
    BoardItem,
    Priority,
    Ticket,
    Note,
    Task,
    Configuration,
    TimeEntry,
    WorkType,
    WorkRole,
    Agreement,
    Addition,
    Invoice,
    ScheduleEntry,
    Opportunity,
    Project,
    ProjectTicket,
    UnpostedInvoice,
    PurchaseOrder,
    PurchaseOrderStatus,
    ExpenseReport,
    TimePeriodSetup,
    TimePeriod,
    TimeSheet,
    AgreementWorkType,
}

impl Kind {
    /// The model name in the spec files.
    pub fn model(self) -> &'static str {
        match self {
            Kind::Member => "Member",
            Kind::Company => "Company",
            Kind::Contact => "Contact",
            Kind::Board => "Board",
            Kind::BoardStatus => "BoardStatus",
            Kind::BoardType => "BoardType",
            Kind::BoardSubType => "BoardSubType",
            Kind::BoardItem => "BoardItem",
            Kind::Priority => "Priority",
            Kind::Ticket => "Ticket",
            Kind::Note => "ServiceNote",
            Kind::Task => "ServiceTask",
            Kind::Configuration => "Company.Configuration",
            Kind::TimeEntry => "TimeEntry",
            Kind::WorkType => "WorkType",
            Kind::WorkRole => "WorkRole",
            Kind::Agreement => "Agreement",
            Kind::Addition => "Addition",
            Kind::Invoice => "Invoice",
            Kind::ScheduleEntry => "ScheduleEntry",
            Kind::Opportunity => "Opportunity",
            Kind::Project => "Project",
            Kind::ProjectTicket => "ProjectTicket",
            Kind::UnpostedInvoice => "UnpostedInvoice",
            Kind::PurchaseOrder => "PurchaseOrder",
            Kind::PurchaseOrderStatus => "PurchaseOrderStatus",
            Kind::ExpenseReport => "ExpenseReport",
            Kind::TimePeriodSetup => "TimePeriodSetup",
            Kind::TimePeriod => "TimePeriod",
            Kind::TimeSheet => "TimeSheet",
            Kind::AgreementWorkType => "AgreementWorkType",
        }
    }

    /// The noun in "X 12 not found".
    pub fn label(self) -> &'static str {
        match self {
            Kind::Member => "Member",
            Kind::Company => "Company",
            Kind::Contact => "Contact",
            Kind::Board => "Service Board",
            Kind::BoardStatus => "Service Status",
            Kind::BoardType => "Service Type",
            Kind::BoardSubType => "Service SubType",
            Kind::BoardItem => "Service Item",
            Kind::Priority => "Priority",
            Kind::Ticket => "Ticket",
            Kind::Note => "Ticket Note",
            Kind::Task => "Ticket Task",
            Kind::Configuration => "Configuration",
            Kind::TimeEntry => "Time Entry",
            Kind::WorkType => "Work Type",
            Kind::WorkRole => "Work Role",
            Kind::Agreement => "Agreement",
            Kind::Addition => "Addition",
            Kind::Invoice => "Invoice",
            Kind::ScheduleEntry => "Schedule Entry",
            Kind::Opportunity => "Opportunity",
            Kind::Project => "Project",
            Kind::ProjectTicket => "Project Ticket",
            Kind::UnpostedInvoice => "Unposted Invoice",
            Kind::PurchaseOrder => "Purchase Order",
            Kind::PurchaseOrderStatus => "Purchase Order Status",
            Kind::ExpenseReport => "Expense Report",
            Kind::TimePeriodSetup => "Time Period Setup",
            Kind::TimePeriod => "Time Period",
            Kind::TimeSheet => "Time Sheet",
            Kind::AgreementWorkType => "Agreement Work Type",
        }
    }

    /// The `resource` of validation errors ("ticket object is invalid").
    pub fn resource(self) -> &'static str {
        match self {
            Kind::Note => "ticketNote",
            Kind::TimeEntry => "timeEntry",
            Kind::Addition => "addition",
            Kind::Invoice => "invoice",
            Kind::Ticket => "ticket",
            Kind::Configuration => "configuration",
            _ => "record",
        }
    }

    /// The field of a child record holding its parent's id, for nested collections.
    pub fn parent_field(self) -> Option<&'static [&'static str]> {
        match self {
            Kind::BoardStatus | Kind::BoardType | Kind::BoardSubType | Kind::BoardItem => {
                Some(&["board", "id"])
            }
            Kind::Note | Kind::Task => Some(&["ticketId"]),
            Kind::Addition | Kind::AgreementWorkType => Some(&["agreementId"]),
            Kind::TimePeriod => Some(&["timePeriodSetup", "id"]),
            _ => None,
        }
    }

    /// The collection path of a record (relative to `/apis/3.0`).
    pub fn href(self, record: &Value) -> String {
        let id = record["id"].as_i64().unwrap_or_default();
        let parent = |path: &[&str]| {
            let mut v = record;
            for p in path {
                v = &v[*p];
            }
            v.as_i64().unwrap_or_default()
        };
        match self {
            Kind::Member => format!("/system/members/{id}"),
            Kind::Company => format!("/company/companies/{id}"),
            Kind::Contact => format!("/company/contacts/{id}"),
            Kind::Board => format!("/service/boards/{id}"),
            Kind::BoardStatus => {
                format!("/service/boards/{}/statuses/{id}", parent(&["board", "id"]))
            }
            Kind::BoardType => format!("/service/boards/{}/types/{id}", parent(&["board", "id"])),
            Kind::BoardSubType => {
                format!("/service/boards/{}/subtypes/{id}", parent(&["board", "id"]))
            }
            Kind::BoardItem => format!("/service/boards/{}/items/{id}", parent(&["board", "id"])),
            Kind::Priority => format!("/service/priorities/{id}"),
            Kind::Ticket => format!("/service/tickets/{id}"),
            Kind::Note => format!("/service/tickets/{}/notes/{id}", parent(&["ticketId"])),
            Kind::Task => format!("/service/tickets/{}/tasks/{id}", parent(&["ticketId"])),
            Kind::Configuration => format!("/company/configurations/{id}"),
            Kind::TimeEntry => format!("/time/entries/{id}"),
            Kind::WorkType => format!("/time/workTypes/{id}"),
            Kind::WorkRole => format!("/time/workRoles/{id}"),
            Kind::Agreement => format!("/finance/agreements/{id}"),
            Kind::Addition => format!(
                "/finance/agreements/{}/additions/{id}",
                parent(&["agreementId"])
            ),
            Kind::Invoice => format!("/finance/invoices/{id}"),
            Kind::ScheduleEntry => format!("/schedule/entries/{id}"),
            Kind::Opportunity => format!("/sales/opportunities/{id}"),
            Kind::Project => format!("/project/projects/{id}"),
            Kind::ProjectTicket => format!("/project/tickets/{id}"),
            Kind::UnpostedInvoice => format!("/finance/accounting/unpostedinvoices/{id}"),
            Kind::PurchaseOrder => format!("/procurement/purchaseorders/{id}"),
            Kind::PurchaseOrderStatus => format!("/procurement/purchaseorderstatuses/{id}"),
            Kind::ExpenseReport => format!("/expense/reports/{id}"),
            Kind::TimePeriodSetup => format!("/time/timePeriodSetups/{id}"),
            Kind::TimePeriod => format!(
                "/time/timePeriodSetups/{}/periods/{id}",
                parent(&["timePeriodSetup", "id"])
            ),
            Kind::TimeSheet => format!("/time/sheets/{id}"),
            Kind::AgreementWorkType => format!(
                "/finance/agreements/{}/worktypes/{id}",
                parent(&["agreementId"])
            ),
        }
    }
}

/// One collection, ordered by id.
#[derive(Debug, Clone, Default)]
pub struct Table {
    pub rows: BTreeMap<i64, Value>,
    pub next_id: i64,
}

impl Table {
    pub fn insert(&mut self, mut record: Value) -> i64 {
        let id = match record.get("id").and_then(Value::as_i64) {
            Some(id) => id,
            None => {
                let id = self.next_id.max(1);
                record["id"] = json!(id);
                id
            }
        };
        self.next_id = self.next_id.max(id + 1);
        self.rows.insert(id, record);
        id
    }
}

/// The whole tenant: Manage tables plus the other products' records.
#[derive(Debug, Clone, Default)]
pub struct Tenant {
    pub today: NaiveDate,
    /// The tenant's clock for writes: starts at noon of `today` and moves one second per write,
    /// so runs with the same requests produce the same bytes.
    pub clock: DateTime<Utc>,
    pub tables: BTreeMap<Kind, Table>,
    /// Ticket id to the configuration ids attached to it.
    pub ticket_configs: BTreeMap<i64, Vec<i64>>,
    /// Catalogue items that agreement additions point at (`IvItemReference`), by id.
    pub products: BTreeMap<i64, Value>,
    /// Asio (RMM) records by kind then id.
    pub rmm: BTreeMap<&'static str, BTreeMap<String, Value>>,
    /// Sell (CPQ) records by kind then id.
    pub cpq: BTreeMap<&'static str, BTreeMap<String, Value>>,
    /// ScreenConnect records by kind then id.
    pub sc: BTreeMap<&'static str, BTreeMap<String, Value>>,
}

/// A ticket's child collections, each an `_info` `*_href` link.
pub const TICKET_CHILDREN: &[&str] = &[
    "activities",
    "timeentries",
    "scheduleentries",
    "documents",
    "products",
    "configurations",
    "tasks",
    "notes",
];

/// `yyyy-MM-ddTHH:mm:ssZ`, the format Manage uses.
pub fn ts(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

impl Tenant {
    pub fn new(today: NaiveDate) -> Self {
        let noon = today.and_hms_opt(12, 0, 0).unwrap_or_default().and_utc();
        Tenant {
            today,
            clock: noon,
            ..Tenant::default()
        }
    }

    pub fn table(&self, kind: Kind) -> &Table {
        static EMPTY: std::sync::OnceLock<Table> = std::sync::OnceLock::new();
        self.tables
            .get(&kind)
            .unwrap_or_else(|| EMPTY.get_or_init(Table::default))
    }

    pub fn table_mut(&mut self, kind: Kind) -> &mut Table {
        self.tables.entry(kind).or_default()
    }

    pub fn get(&self, kind: Kind, id: i64) -> Option<&Value> {
        self.table(kind).rows.get(&id)
    }

    /// Advances the write clock and returns the new time.
    pub fn tick(&mut self) -> DateTime<Utc> {
        self.clock += Duration::seconds(1);
        self.clock
    }

    /// The reference object other records embed for this record (`CompanyReference`, ...).
    pub fn reference(&self, kind: Kind, id: i64) -> Option<Value> {
        let r = self.get(kind, id)?;
        let href = kind.href(r);
        let mut out = Map::new();
        out.insert("id".into(), json!(id));
        let copy = |out: &mut Map<String, Value>, from: &str, to: &str| {
            if let Some(v) = r.get(from) {
                out.insert(to.into(), v.clone());
            }
        };
        let info_key = match kind {
            Kind::Company => {
                copy(&mut out, "identifier", "identifier");
                copy(&mut out, "name", "name");
                "company_href"
            }
            Kind::Member => {
                copy(&mut out, "identifier", "identifier");
                if let (Some(f), Some(l)) = (r["firstName"].as_str(), r["lastName"].as_str()) {
                    out.insert("name".into(), json!(format!("{f} {l}")));
                }
                copy(&mut out, "dailyCapacity", "dailyCapacity");
                "member_href"
            }
            Kind::Contact => {
                let name = format!(
                    "{} {}",
                    r["firstName"].as_str().unwrap_or_default(),
                    r["lastName"].as_str().unwrap_or_default()
                );
                out.insert("name".into(), json!(name.trim()));
                "contact_href"
            }
            Kind::Board => {
                copy(&mut out, "name", "name");
                "board_href"
            }
            Kind::BoardStatus => {
                copy(&mut out, "name", "name");
                copy(&mut out, "sortOrder", "sort");
                "status_href"
            }
            Kind::BoardType => {
                copy(&mut out, "name", "name");
                "type_href"
            }
            Kind::BoardSubType => {
                copy(&mut out, "name", "name");
                "subType_href"
            }
            Kind::BoardItem => {
                copy(&mut out, "name", "name");
                "item_href"
            }
            Kind::Priority => {
                copy(&mut out, "name", "name");
                copy(&mut out, "sortOrder", "sort");
                copy(&mut out, "level", "level");
                "priority_href"
            }
            Kind::Ticket => {
                copy(&mut out, "summary", "summary");
                "ticket_href"
            }
            Kind::Configuration => {
                copy(&mut out, "deviceIdentifier", "deviceIdentifier");
                "configuration_href"
            }
            Kind::WorkType => {
                copy(&mut out, "name", "name");
                copy(&mut out, "utilizationFlag", "utilizationFlag");
                "workType_href"
            }
            Kind::WorkRole => {
                copy(&mut out, "name", "name");
                "workRole_href"
            }
            Kind::Agreement => {
                copy(&mut out, "name", "name");
                if let Some(t) = r["type"]["name"].as_str() {
                    out.insert("type".into(), json!(t));
                }
                "agreement_href"
            }
            Kind::Invoice => {
                copy(&mut out, "invoiceNumber", "identifier");
                copy(&mut out, "type", "billingType");
                copy(&mut out, "applyToType", "applyToType");
                copy(&mut out, "date", "invoiceDate");
                "invoice_href"
            }
            Kind::Opportunity | Kind::Project => {
                copy(&mut out, "name", "name");
                if kind == Kind::Opportunity {
                    "opportunity_href"
                } else {
                    "project_href"
                }
            }
            Kind::Note
            | Kind::Task
            | Kind::TimeEntry
            | Kind::Addition
            | Kind::ScheduleEntry
            | Kind::ProjectTicket
            | Kind::UnpostedInvoice
            | Kind::PurchaseOrder
            | Kind::PurchaseOrderStatus
            | Kind::ExpenseReport
            | Kind::TimePeriodSetup
            | Kind::TimePeriod
            | Kind::TimeSheet
            | Kind::AgreementWorkType => {
                return None;
            }
        };
        out.insert("_info".into(), json!({ info_key: href }));
        Some(Value::Object(out))
    }

    /// Records of `kind` under a parent (statuses of a board, notes of a ticket, ...), or all.
    pub fn children(&self, kind: Kind, parent: Option<i64>) -> impl Iterator<Item = &Value> {
        let path = kind.parent_field();
        self.table(kind)
            .rows
            .values()
            .filter(move |r| match (parent, path) {
                (Some(pid), Some(path)) => {
                    let mut v = *r;
                    for p in path {
                        v = &v[*p];
                    }
                    v.as_i64() == Some(pid)
                }
                _ => true,
            })
    }
}

/// A plain named reference for lookup tables the sandbox does not serve as routes (locations,
/// departments, sites, ...): `{id, name, _info: {<key>: <href>}}`.
pub fn named(id: i64, name: &str, info_key: &str, href: String) -> Value {
    json!({"id": id, "name": name, "_info": {info_key: href}})
}

/// Rewrites every relative `*_href` under `_info` to an absolute URL below `base`
/// (`http://host/{codebase}/apis/3.0`), in place.
pub fn absolutize(value: &mut Value, base: &str) {
    match value {
        Value::Object(map) => {
            for (key, v) in map.iter_mut() {
                if key == "_info" {
                    if let Value::Object(info) = v {
                        for (k, href) in info.iter_mut() {
                            if let Value::String(s) = href
                                && k.ends_with("_href")
                                && s.starts_with('/')
                            {
                                *s = format!("{base}{s}");
                            }
                        }
                    }
                } else {
                    absolutize(v, base);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|v| absolutize(v, base)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_and_links() {
        let mut t = Tenant::new(NaiveDate::from_ymd_opt(2026, 3, 2).unwrap());
        t.table_mut(Kind::Board)
            .insert(json!({"id": 1, "name": "Help Desk"}));
        t.table_mut(Kind::BoardStatus)
            .insert(json!({"id": 17, "name": "New", "sortOrder": 0, "board": {"id": 1}}));
        let mut status = t.reference(Kind::BoardStatus, 17).unwrap();
        assert_eq!(
            status,
            json!({"id": 17, "name": "New", "sort": 0, "_info": {"status_href": "/service/boards/1/statuses/17"}})
        );
        absolutize(&mut status, "http://h/v4_6_release/apis/3.0");
        assert_eq!(
            status["_info"]["status_href"],
            "http://h/v4_6_release/apis/3.0/service/boards/1/statuses/17"
        );
        assert_eq!(t.children(Kind::BoardStatus, Some(1)).count(), 1);
        assert_eq!(t.children(Kind::BoardStatus, Some(2)).count(), 0);
        assert!(t.reference(Kind::Board, 9).is_none());
        assert_eq!(ts(t.tick()), "2026-03-02T12:00:01Z");
    }
}
