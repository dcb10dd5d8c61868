//! Typed parameters of every action. Each struct refuses unknown fields, so a model that invents
//! a parameter (`priority_id` on an action that has none) is told so instead of being ignored;
//! the doc comments are the descriptions a model reads in the action's schema.

mod areas;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub use areas::*;

/// Default number of rows a list action returns.
pub const DEFAULT_LIMIT: u32 = 25;
/// Most rows any list action returns in one call.
pub const MAX_LIMIT: u32 = 200;

fn default_limit() -> u32 {
    DEFAULT_LIMIT
}

fn yes() -> bool {
    true
}

/// Parameters of an action that takes none.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NoParams {}

/// `help`: which action to explain.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HelpParams {
    /// The action's name, e.g. `get`.
    #[serde(rename = "for")]
    pub for_action: String,
}

/// A record by id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct IdParams {
    /// The record's id.
    pub id: i64,
    /// Raw ConnectWise fields to return instead of the compact view, e.g. `["id","summary","_info"]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fields: Option<Vec<String>>,
}

/// Open or closed tickets.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum OpenState {
    #[default]
    Open,
    Closed,
    Any,
}

/// `cw_tickets list`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TicketList {
    /// Only tickets on this service board (id, see `taxonomy`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub board_id: Option<i64>,
    /// Only tickets in this status, by name (e.g. `New`), on any board.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// Only tickets of this company (id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub company_id: Option<i64>,
    /// Only tickets owned by this member (identifier, e.g. `jsmith`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    /// Only tickets without an owner.
    #[serde(default)]
    pub unassigned: bool,
    /// Only tickets entered at least this many days ago.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub older_than_days: Option<u32>,
    /// Only tickets entered at most this many days ago.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub newer_than_days: Option<u32>,
    /// `open` (default), `closed` or `any`.
    #[serde(default)]
    pub state: OpenState,
    /// Most tickets to return (default 25, at most 200), newest first.
    #[serde(default = "default_limit")]
    pub limit: u32,
    /// Raw ConnectWise fields to return instead of the compact view.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fields: Option<Vec<String>>,
}

/// `cw_tickets search` and `cw_companies search`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TextSearch {
    /// Words to look for (in a ticket's summary, a company's name or identifier).
    pub text: String,
    /// `open` (default), `closed` or `any` (tickets only).
    #[serde(default)]
    pub state: OpenState,
    /// Most rows to return (default 25, at most 200).
    #[serde(default = "default_limit")]
    pub limit: u32,
}

/// How much of a ticket `get` returns.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Depth {
    /// The ticket alone (compact).
    #[default]
    Summary,
    /// The ticket with its notes, time entries, tasks, configurations and the RMM health of each
    /// linked device, in one call.
    Full,
}

/// `cw_tickets get`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TicketGet {
    /// The ticket's id.
    pub id: i64,
    /// `summary` (default) or `full`.
    #[serde(default)]
    pub depth: Depth,
    /// Raw ConnectWise ticket fields to return instead of the compact view (depth `summary`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fields: Option<Vec<String>>,
}

/// `cw_tickets notes`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TicketNotes {
    /// The ticket's id.
    pub id: i64,
    /// Most notes to return (default 25, at most 200), oldest first.
    #[serde(default = "default_limit")]
    pub limit: u32,
}

/// `cw_tickets add_note`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AddNote {
    /// The ticket's id.
    pub id: i64,
    /// The note's text.
    pub text: String,
    /// Internal analysis note, not visible to the customer (default true).
    #[serde(default = "yes")]
    pub internal: bool,
    /// A discussion note: visible to the customer.
    #[serde(default)]
    pub discussion: bool,
    /// A resolution note: visible to the customer.
    #[serde(default)]
    pub resolution: bool,
}

/// `cw_tickets update`: only the fields given change.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TicketUpdate {
    /// The ticket's id.
    pub id: i64,
    /// New status (id, from the ticket's board; see `taxonomy`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_id: Option<i64>,
    /// New priority (id; see `taxonomy`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority_id: Option<i64>,
    /// Move to this board (id; see `taxonomy`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub board_id: Option<i64>,
    /// New type (id, from the board's types).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub type_id: Option<i64>,
    /// New subtype (id, from the board's subtypes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subtype_id: Option<i64>,
    /// New item (id, from the board's items).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub item_id: Option<i64>,
    /// New owner (member id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner_id: Option<i64>,
}

/// `cw_tickets assign`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TicketAssign {
    /// The ticket's id.
    pub id: i64,
    /// The member to own it (identifier, e.g. `jsmith`).
    pub member: String,
}

/// `cw_tickets create`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TicketCreate {
    /// The company the ticket is for (id).
    pub company_id: i64,
    /// One-line summary (at most 100 characters).
    pub summary: String,
    /// The service board (id; see `taxonomy`).
    pub board_id: i64,
    /// The initial description (becomes the ticket's first note).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Priority (id; see `taxonomy`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority_id: Option<i64>,
    /// Type (id, from the board's types).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub type_id: Option<i64>,
    /// Subtype (id, from the board's subtypes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subtype_id: Option<i64>,
    /// The contact who reported it (id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contact_id: Option<i64>,
}

/// `cw_tickets close`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TicketClose {
    /// The ticket's id.
    pub id: i64,
    /// The closed status to use (id); default: the board's first closed status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_id: Option<i64>,
}

/// `cw_tickets similar`: closed tickets like this one, with the labels the team gave them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TicketSimilar {
    /// A ticket: its summary and initial description are the query, and it is never among the
    /// answers. Give this or `text`, not both.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<i64>,
    /// Free text to match instead of a ticket (a problem in a few words).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// How many precedents to return, best first (default 6, 1 to 20).
    #[serde(default = "default_similar")]
    #[schemars(range(min = 1, max = 20))]
    pub k: u32,
}

/// Precedents `cw_tickets similar` returns by default.
pub const DEFAULT_SIMILAR: u32 = 6;
/// Precedents `cw_tickets similar` returns at most.
pub const MAX_SIMILAR: u32 = 20;

fn default_similar() -> u32 {
    DEFAULT_SIMILAR
}

/// `cw_tickets recurring_on_device`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RecurringOnDevice {
    /// The device, as its ConnectWise configuration (id). Give this or `ticket_id`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub configuration_id: Option<i64>,
    /// A ticket whose linked configuration is the device.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ticket_id: Option<i64>,
    /// How far back to look, in days (default 90).
    #[serde(default = "default_days")]
    pub days: u32,
}

fn default_days() -> u32 {
    90
}

/// `cw_tickets taxonomy`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Taxonomy {
    /// Only this board (id); default: every active board.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub board_id: Option<i64>,
}

/// `cw_time entries`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TimeEntries {
    /// Only this member's entries (identifier, e.g. `jsmith`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub member: Option<String>,
    /// Only entries charged to this ticket.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ticket_id: Option<i64>,
    /// Only entries starting on or after this day (`YYYY-MM-DD`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// Only entries starting before the end of this day (`YYYY-MM-DD`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
    /// Most entries to return (default 25, at most 200), newest first.
    #[serde(default = "default_limit")]
    pub limit: u32,
}

/// Billable option of a time entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum Billable {
    Billable,
    DoNotBill,
    NoCharge,
    NoDefault,
}

impl Billable {
    /// The ConnectWise wire value.
    pub fn as_str(self) -> &'static str {
        match self {
            Billable::Billable => "Billable",
            Billable::DoNotBill => "DoNotBill",
            Billable::NoCharge => "NoCharge",
            Billable::NoDefault => "NoDefault",
        }
    }
}

/// `cw_time add`: a time entry on a ticket.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TimeAdd {
    /// The ticket the time is charged to.
    pub ticket_id: i64,
    /// Who worked (member identifier, e.g. `jsmith`).
    pub member: String,
    /// Start, RFC 3339 UTC (`2026-03-02T14:00:00Z`).
    pub time_start: String,
    /// End, RFC 3339 UTC; give this or `hours`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_end: Option<String>,
    /// Hours worked (e.g. 1.5); give this or `time_end`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hours: Option<f64>,
    /// What was done (required: empty notes fail billing review).
    pub notes: String,
    /// Work type (id); default: the board's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub work_type_id: Option<i64>,
    /// `Billable`, `DoNotBill`, `NoCharge` or `NoDefault`; default: the work type's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub billable: Option<Billable>,
}

/// `cw_time update`: only the fields given change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TimeUpdate {
    /// The time entry's id.
    pub id: i64,
    /// New notes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notes: Option<String>,
    /// New start, RFC 3339 UTC.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_start: Option<String>,
    /// New end, RFC 3339 UTC.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_end: Option<String>,
    /// New billable option.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub billable: Option<Billable>,
    /// New work type (id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub work_type_id: Option<i64>,
}

/// `cw_companies contacts` and `configurations`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CompanyChildren {
    /// The company's id.
    pub company_id: i64,
    /// Most rows to return (default 25, at most 200).
    #[serde(default = "default_limit")]
    pub limit: u32,
}

/// A decimal amount: a string such as `"1250.10"` (preferred: exact), or a JSON number.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum Amount {
    Text(String),
    Number(serde_json::Number),
}

impl Amount {
    /// The amount as the text it was given in.
    pub fn text(&self) -> String {
        match self {
            Amount::Text(s) => s.clone(),
            Amount::Number(n) => n.to_string(),
        }
    }
}

/// `cw_calc sum`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CalcSum {
    /// The amounts to add, e.g. `["1250.10", "99.90"]`.
    pub values: Vec<Amount>,
    /// Round the result to this currency's minor unit (ISO 4217, e.g. `USD`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub currency: Option<String>,
}

/// `cw_calc multiply` and `divide`: `a` times (or divided by) `b`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CalcPair {
    pub a: Amount,
    pub b: Amount,
    /// Round the result to this currency's minor unit (ISO 4217).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub currency: Option<String>,
}

/// `cw_calc percent` (`percent` % of `value`) and `uplift` (`value` raised by `percent` %).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CalcPercent {
    pub value: Amount,
    /// A percentage, e.g. `"5"` for 5 %; negative for a discount.
    pub percent: Amount,
    /// Round the result to this currency's minor unit (ISO 4217).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub currency: Option<String>,
}

/// `cw_calc round`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CalcRound {
    pub value: Amount,
    /// ISO 4217 code: the minor unit to round to (half away from zero).
    pub currency: String,
}

/// `cw_calc split`: a total into parts that add up to it exactly.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CalcSplit {
    pub total: Amount,
    /// How many parts (at least 1).
    pub parts: u32,
    /// ISO 4217 code: parts are in its minor unit; leftover cents go to the first parts.
    pub currency: String,
}

/// `cw_meta search`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EndpointSearch {
    /// What to do, in words, e.g. `add a note to a ticket` or `agreement additions`.
    pub query: String,
    /// Most operations to return (default 10, at most 50).
    #[serde(default = "default_hits")]
    pub limit: u32,
}

fn default_hits() -> u32 {
    10
}

/// `cw_api get`: any Manage GET.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawGet {
    /// The path under the API root, e.g. `/service/tickets/1042/allNotes` (find it with
    /// `cw_meta search`). No query string: use the fields below.
    pub path: String,
    /// ConnectWise `conditions`, e.g. `closedFlag = false and board/id = 1`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conditions: Option<String>,
    /// ConnectWise `orderBy`, e.g. `id desc`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order_by: Option<String>,
    /// Fields to return, e.g. `["id", "summary"]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fields: Option<Vec<String>>,
    /// For a collection: most rows (default 25, at most 200).
    #[serde(default = "default_limit")]
    pub limit: u32,
}

/// A raw write's method.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum RawMethod {
    Post,
    Put,
    Patch,
    Delete,
}

impl RawMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            RawMethod::Post => "POST",
            RawMethod::Put => "PUT",
            RawMethod::Patch => "PATCH",
            RawMethod::Delete => "DELETE",
        }
    }
}

/// `cw_api write`: any Manage write, gated.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawWrite {
    /// `POST`, `PUT`, `PATCH` (a JSON Patch array) or `DELETE` (hard-gated).
    pub method: RawMethod,
    /// The path under the API root, e.g. `/service/tickets/1042/notes`.
    pub path: String,
    /// The JSON body (none for DELETE).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<serde_json::Value>,
}

/// `cw_agreements list`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AgreementList {
    /// Only this company's agreements (id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub company_id: Option<i64>,
    /// Also cancelled and expired agreements.
    #[serde(default)]
    pub include_inactive: bool,
    /// Most agreements to return (default 25, at most 200).
    #[serde(default = "default_limit")]
    pub limit: u32,
}

/// `cw_agreements expiring`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AgreementsExpiring {
    /// Agreements ending within this many days (default 90), bucketed 30 / 60 / 90.
    #[serde(default = "default_horizon")]
    pub days: u32,
}

fn default_horizon() -> u32 {
    90
}

/// `cw_agreements utilization`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AgreementsUtilization {
    /// First day of the period (`YYYY-MM-DD`; default 30 days before today).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// Last day of the period (`YYYY-MM-DD`; default today).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
}

/// `cw_time weekly_validation`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WeeklyValidation {
    /// First day checked (`YYYY-MM-DD`; default: the Monday of last week).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// Last day checked (`YYYY-MM-DD`; default: the Sunday after `from`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
    /// Only this member (identifier, e.g. `jsmith`); agreement utilization is then left out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub member: Option<String>,
    /// Flag weekdays with fewer hours than this (default 0: only days with no time at all).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_daily_hours: Option<f64>,
    /// Flag days with more hours than this (default 12).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_daily_hours: Option<f64>,
    /// Notes shorter than this many characters count as empty (default 10).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_note_chars: Option<u32>,
    /// An agreement is over-utilized above this ratio of its limit (default 1.2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub utilization_over: Option<f64>,
    /// An agreement is under-utilized below this ratio of its limit (default 0.3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub utilization_under: Option<f64>,
    /// Agreement utilization is measured over this many days ending on `to` (default 28, 1 to 92).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub utilization_days: Option<u32>,
}

/// `cw_time my_week`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MyWeek {
    /// The member (identifier, e.g. `jsmith`).
    pub member: String,
    /// Any day of the week to show (`YYYY-MM-DD`; default: this week).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub week_of: Option<String>,
}
