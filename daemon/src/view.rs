//! Compact views of ConnectWise records: what a technician (or a model) reads, at a fraction of
//! the tokens. A raw Manage ticket carries ~50 top-level fields and `_info` link objects on every
//! reference; its compact view keeps the fields a technician reads, drops `_info` and nulls, and
//! flattens every reference to `{id, name}`. Callers who want raw records ask with `fields`.

use serde_json::{Map, Value};

/// The record kinds with a compact view.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Ticket,
    Note,
    TimeEntry,
    Company,
    Contact,
    Member,
    Configuration,
    Agreement,
}

impl Kind {
    /// The fields kept, in output order (ConnectWise wire names).
    fn fields(self) -> &'static [&'static str] {
        match self {
            Kind::Ticket => &[
                "id",
                "summary",
                "board",
                "status",
                "type",
                "subType",
                "item",
                "priority",
                "company",
                "contact",
                "owner",
                "team",
                "severity",
                "impact",
                "agreement",
                "closedFlag",
                "closedDate",
                "requiredDate",
                "budgetHours",
                "actualHours",
            ],
            Kind::Note => &[
                "id",
                "ticketId",
                "text",
                "detailDescriptionFlag",
                "internalAnalysisFlag",
                "resolutionFlag",
                "member",
                "contact",
                "createdBy",
                "dateCreated",
            ],
            Kind::TimeEntry => &[
                "id",
                "chargeToType",
                "chargeToId",
                "member",
                "company",
                "timeStart",
                "timeEnd",
                "actualHours",
                "billableOption",
                "workType",
                "workRole",
                "agreement",
                "notes",
                "status",
            ],
            Kind::Company => &[
                "id",
                "identifier",
                "name",
                "status",
                "types",
                "phoneNumber",
                "website",
                "addressLine1",
                "city",
                "state",
                "zip",
                "territory",
                "market",
                "defaultContact",
                "deletedFlag",
            ],
            Kind::Contact => &[
                "id",
                "firstName",
                "lastName",
                "company",
                "title",
                "communicationItems",
                "inactiveFlag",
            ],
            Kind::Member => &[
                "id",
                "identifier",
                "firstName",
                "lastName",
                "title",
                "emailAddress",
                "inactiveFlag",
                "timeZone",
            ],
            Kind::Configuration => &[
                "id",
                "name",
                "type",
                "status",
                "company",
                "contact",
                "serialNumber",
                "modelNumber",
                "osType",
                "osInfo",
                "ipAddress",
                "macAddress",
                "lastLoginName",
                "deviceIdentifier",
                "activeFlag",
            ],
            Kind::Agreement => &[
                "id",
                "name",
                "type",
                "company",
                "contact",
                "agreementStatus",
                "startDate",
                "endDate",
                "noEndingDateFlag",
                "cancelledFlag",
                "billAmount",
                "billingCycle",
                "applicationUnits",
                "applicationLimit",
                "applicationCycle",
            ],
        }
    }
}

/// The compact view of one raw record.
pub fn compact(kind: Kind, raw: &Value) -> Value {
    let Some(record) = raw.as_object() else {
        return raw.clone();
    };
    let mut out = Map::new();
    for field in kind.fields() {
        if let Some(value) = record.get(*field).and_then(slim) {
            out.insert((*field).to_owned(), value);
        }
    }
    // When it was entered and last changed live in `_info`; they are worth keeping.
    if let Some(info) = record.get("_info").and_then(Value::as_object) {
        for (from, to) in [("dateEntered", "entered"), ("lastUpdated", "updated")] {
            if let Some(value) = info.get(from).filter(|v| !v.is_null()) {
                out.insert(to.to_owned(), value.clone());
            }
        }
    }
    Value::Object(out)
}

/// Compact views of a list of raw records.
pub fn compact_all(kind: Kind, raw: &[Value]) -> Vec<Value> {
    raw.iter().map(|r| compact(kind, r)).collect()
}

/// A value without `_info`, nulls and empties; references become `{id, name}`.
fn slim(value: &Value) -> Option<Value> {
    match value {
        Value::Null => None,
        Value::String(s) if s.is_empty() => None,
        Value::Array(items) => {
            let items: Vec<Value> = items.iter().filter_map(slim).collect();
            (!items.is_empty()).then_some(Value::Array(items))
        }
        Value::Object(map) => Some(reference(map).unwrap_or_else(|| {
            Value::Object(
                map.iter()
                    .filter(|(k, _)| !k.starts_with('_'))
                    .filter_map(|(k, v)| slim(v).map(|v| (k.clone(), v)))
                    .collect(),
            )
        })),
        other => Some(other.clone()),
    }
}

/// A reference object (anything with an `id`) flattened to `{id, name}`; a contact's
/// communication item (`{type: {…}, value}`) to `{type, value}`.
fn reference(map: &Map<String, Value>) -> Option<Value> {
    if let (Some(kind), true) = (
        map.get("type").and_then(|t| t.get("name")),
        map.contains_key("value"),
    ) {
        let mut item = Map::new();
        item.insert("type".into(), kind.clone());
        if let Some(value) = map.get("value").and_then(slim) {
            item.insert("value".into(), value);
        }
        return Some(Value::Object(item));
    }
    let id = map.get("id")?;
    // Nested records in Manage's wire format are references (`MemberReference` also carries
    // `dailyCapacity`, `CompanyReference` `identifier`...): the id and one name are what a reader
    // needs, the rest is a fetch away.
    let name = ["name", "identifier", "summary", "title"]
        .iter()
        .find_map(|k| map.get(*k).filter(|v| !v.is_null()));
    let mut out = Map::new();
    out.insert("id".into(), id.clone());
    if let Some(name) = name {
        out.insert("name".into(), name.clone());
    }
    Some(Value::Object(out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn references_flatten_and_info_nulls_and_unlisted_fields_go() {
        let raw = json!({
            "id": 41030,
            "summary": "Second monitor not detected",
            "board": {"id": 1, "name": "Help Desk", "_info": {"board_href": "http://x/service/boards/1"}},
            "company": {"id": 19, "identifier": "ACME", "name": "Acme Dental", "_info": {}},
            "owner": null,
            "siteName": "Main",
            "billTime": "Billable",
            "contactName": "",
            "resources": "jdoe",
            "severity": "Low",
            "_info": {"dateEntered": "2026-10-10T09:41:00Z", "lastUpdated": "2026-10-11T10:00:00Z", "updatedBy": "admin"}
        });
        assert_eq!(
            compact(Kind::Ticket, &raw),
            json!({
                "id": 41030,
                "summary": "Second monitor not detected",
                "board": {"id": 1, "name": "Help Desk"},
                "company": {"id": 19, "name": "Acme Dental"},
                "severity": "Low",
                "entered": "2026-10-10T09:41:00Z",
                "updated": "2026-10-11T10:00:00Z"
            })
        );
    }

    #[test]
    fn communication_items_become_type_and_value() {
        let raw = json!({
            "id": 7,
            "firstName": "Alice",
            "communicationItems": [
                {"id": 1, "type": {"id": 1, "name": "Email", "_info": {}}, "value": "alice@example.com", "defaultFlag": true},
                {"id": 2, "type": {"id": 2, "name": "Direct"}, "value": null}
            ]
        });
        let view = compact(Kind::Contact, &raw);
        assert_eq!(
            view["communicationItems"][0],
            json!({"type": "Email", "value": "alice@example.com"})
        );
        assert_eq!(view["communicationItems"][1], json!({"type": "Direct"}));
    }
}
