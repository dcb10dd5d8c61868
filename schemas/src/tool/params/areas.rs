//! Parameters of the areas beyond tickets and time: finance, sales, projects, team, dashboards,
//! RMM and ScreenConnect, CPQ, and the cross-product actions (remote sessions, renewal quotes,
//! fleet health). Same rules as the rest of `params`: unknown fields refused, every field
//! documented for the model that reads the schema.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{Amount, default_limit};

/// A period with optional narrowing, for `unbilled` (time and finance).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Unbilled {
    /// First day (`YYYY-MM-DD`; default 30 days before today).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// Last day (`YYYY-MM-DD`; default today).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
    /// Only this company (id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub company_id: Option<i64>,
    /// Only this member (identifier, e.g. `jsmith`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub member: Option<String>,
}

/// `cw_agreements renewals`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Renewals {
    /// Agreements ending within this many days (default 90).
    #[serde(default = "default_ninety")]
    pub days: u32,
}

fn default_ninety() -> u32 {
    90
}

/// `cw_agreements renewal_quote`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RenewalQuote {
    /// The expiring agreement (id).
    pub agreement_id: i64,
    /// Price increase in percent applied to every line, e.g. `"5"` or `3.5` (default 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uplift_percent: Option<Amount>,
    /// The CPQ template to copy the quote shell from (id; default: the first template).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template_id: Option<String>,
}

/// Which invoices.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum InvoiceState {
    /// With a balance left to pay.
    #[default]
    Open,
    Paid,
    Any,
}

/// `cw_finance invoices`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Invoices {
    /// Only this company's invoices (id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub company_id: Option<i64>,
    /// `open` (a balance left, the default), `paid` or `any`.
    #[serde(default)]
    pub state: InvoiceState,
    /// Most invoices to return (default 25, at most 200).
    #[serde(default = "default_limit")]
    pub limit: u32,
}

/// `cw_finance ar_aging`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ArAging {
    /// Only this company (id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub company_id: Option<i64>,
}

/// The kind of a new invoice.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum InvoiceType {
    #[default]
    Standard,
    Agreement,
    Miscellaneous,
    CreditMemo,
}

/// `cw_finance create_invoice` (hard: a human signs it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateInvoice {
    /// The company billed (id).
    pub company_id: i64,
    /// `Standard` (default), `Agreement`, `Miscellaneous` or `CreditMemo`.
    #[serde(default, rename = "type")]
    pub invoice_type: InvoiceType,
    /// The agreement the invoice applies to (id), for type `Agreement`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agreement_id: Option<i64>,
    /// What the invoice is for, printed on it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Invoice date (`YYYY-MM-DD`; default today).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date: Option<String>,
}

/// `cw_finance post_invoice` (hard).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PostInvoice {
    /// The invoice to post to accounting (id).
    pub id: i64,
}

/// `cw_finance generate_batch` (hard).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GenerateBatch {
    /// The batch's name in the accounting package (default `NJ-<today>`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch_identifier: Option<String>,
    /// Only unposted invoices dated on or before this day (`YYYY-MM-DD`; default today).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub through: Option<String>,
}

/// `cw_finance approve_expense` (hard).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ApproveExpense {
    /// The expense report (id) to approve.
    pub report_id: i64,
    /// Why, recorded with the approval.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notes: Option<String>,
}

/// `cw_finance approve_po` (hard).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ApprovePo {
    /// The purchase order (id).
    pub id: i64,
    /// The status to move it to (id, from `/procurement/purchaseorderstatuses`); default the
    /// one named `Approved`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_id: Option<i64>,
}

/// Which opportunities.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum OpportunityState {
    #[default]
    Open,
    Won,
    Lost,
    Any,
}

/// `cw_sales opportunities`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Opportunities {
    /// Only this company (id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub company_id: Option<i64>,
    /// `open` (default), `won`, `lost` or `any`.
    #[serde(default)]
    pub state: OpportunityState,
    /// Most to return (default 25, at most 200).
    #[serde(default = "default_limit")]
    pub limit: u32,
}

/// `cw_sales draft_quote`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DraftQuote {
    /// The opportunity to quote (id).
    pub opportunity_id: i64,
    /// The CPQ template to copy (id; default: the first template).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template_id: Option<String>,
}

/// `cw_projects list`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ProjectList {
    /// Only this company's projects (id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub company_id: Option<i64>,
    /// Also closed projects.
    #[serde(default)]
    pub include_closed: bool,
    /// Most to return (default 25, at most 200).
    #[serde(default = "default_limit")]
    pub limit: u32,
}

/// `cw_projects tickets`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ProjectTickets {
    /// The project (id).
    pub project_id: i64,
    /// Most to return (default 25, at most 200).
    #[serde(default = "default_limit")]
    pub limit: u32,
}

/// `cw_projects budget_burn`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BudgetBurn {
    /// One project (id); default every open project.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project_id: Option<i64>,
}

/// `cw_team members`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Members {
    /// Also inactive members.
    #[serde(default)]
    pub include_inactive: bool,
    /// Most to return (default 25, at most 200).
    #[serde(default = "default_limit")]
    pub limit: u32,
}

/// `cw_team schedule`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Schedule {
    /// Only this member (identifier, e.g. `jsmith`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub member: Option<String>,
    /// First day (`YYYY-MM-DD`; default today).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// Last day (`YYYY-MM-DD`; default 6 days after `from`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
}

/// `cw_team workload`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Workload {
    /// First day of the utilization period (`YYYY-MM-DD`; default 13 days before `to`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// Last day (`YYYY-MM-DD`; default today).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
}

/// `cw_team who_is_free`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WhoIsFree {
    /// The day (`YYYY-MM-DD`; default today).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub day: Option<String>,
    /// Free hours needed that day (default 1).
    #[serde(default = "default_one_hour")]
    pub hours: f64,
}

fn default_one_hour() -> f64 {
    1.0
}

/// `cw_dashboards my_day`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MyDay {
    /// The member (identifier, e.g. `jsmith`).
    pub member: String,
    /// The day (`YYYY-MM-DD`; default today).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub day: Option<String>,
}

/// The window of the dispatch board.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum DispatchScope {
    #[default]
    Today,
    Week,
}

/// `cw_dashboards dispatch`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Dispatch {
    /// `today` (default) or `week`.
    #[serde(default)]
    pub scope: DispatchScope,
}

/// `cw_dashboards brief`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Brief {
    /// The company (id).
    pub company_id: i64,
}

/// A device, by its Manage configuration or its RMM endpoint: exactly one of the two (`cw_rmm
/// device`; the same pair of fields is in every action that targets a device).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DeviceRef {
    /// The Manage configuration (id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub configuration_id: Option<i64>,
    /// The Asio endpoint id (a configuration's `deviceIdentifier`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint_id: Option<String>,
}

/// `cw_rmm devices` and `cw_companies fleet_health`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CompanyScope {
    /// The company (Manage id); for `fleet_health`, default every company.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub company_id: Option<i64>,
}

/// `cw_rmm run_script` (hard).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RunScript {
    /// The script (id, from `scripts`).
    pub script_id: String,
    /// The device's Manage configuration (id); or give `endpoint_id`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub configuration_id: Option<i64>,
    /// The device's Asio endpoint id; or give `configuration_id`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint_id: Option<String>,
    /// The script's parameters, by name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parameters: Option<serde_json::Map<String, serde_json::Value>>,
}

/// The kind of a new ScreenConnect session.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum SessionType {
    /// One-off attended support: the user joins with the code.
    #[default]
    Support,
    Meeting,
}

/// `cw_rmm sc_create_session` (hard).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ScCreateSession {
    /// The session's name, e.g. `Ticket 1042 - Outlook`.
    pub name: String,
    /// The technician hosting it (ScreenConnect user name).
    pub host: String,
    /// `Support` (default) or `Meeting`.
    #[serde(default)]
    pub session_type: SessionType,
}

/// `cw_rmm sc_send_command` (hard).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ScSendCommand {
    /// The ScreenConnect session (id).
    pub session_id: String,
    /// The command line to queue on the guest, e.g. `ipconfig /flushdns`.
    pub command: String,
}

/// `cw_rmm sc_run_command` (hard).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ScRunCommand {
    /// The device's Manage configuration (id); or give `endpoint_id`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub configuration_id: Option<i64>,
    /// The device's Asio endpoint id; or give `configuration_id`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint_id: Option<String>,
    /// The command line to run on the device.
    pub command: String,
    /// When the device has several sessions: the one to use (id, from the ambiguity's candidates).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_id: Option<String>,
}

/// `cw_rmm pkg_uninstall` (hard).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PkgUninstall {
    /// The device's Manage configuration (id); or give `endpoint_id`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub configuration_id: Option<i64>,
    /// The device's Asio endpoint id; or give `configuration_id`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint_id: Option<String>,
    /// The package to remove, as installed (e.g. `7-Zip 23.01 (x64)`).
    pub package: String,
}

/// `cw_cpq quotes`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Quotes {
    /// Only quotes in this status (`Draft`, `Sent`, `Won`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// Only quotes of this Manage opportunity (id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub opportunity_id: Option<i64>,
    /// Most to return (default 25, at most 200).
    #[serde(default = "default_limit")]
    pub limit: u32,
}

/// A CPQ quote by id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct QuoteId {
    /// The quote (CPQ id, a 32-digit hex string).
    pub id: String,
}

/// `cw_cpq create_quote`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateQuote {
    /// The quote's name.
    pub name: String,
    /// The customer (account name as CPQ shows it).
    pub account_name: String,
    /// The template to copy (id; default: the first template).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template_id: Option<String>,
    /// The Manage opportunity it belongs to (id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub opportunity_id: Option<i64>,
}

/// `cw_cpq add_line`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AddLine {
    /// The quote (id).
    pub quote_id: String,
    /// What is sold, as printed.
    pub description: String,
    /// How many, e.g. `"2"` or `12`.
    pub quantity: Amount,
    /// Unit price, e.g. `"149.00"`.
    pub price: Amount,
    /// Unit cost, for the margin.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost: Option<Amount>,
    /// Manufacturer part number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub part_number: Option<String>,
}

/// `cw_cpq send_quote` (hard: it goes to the customer).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SendQuote {
    /// The quote (id).
    pub id: String,
}

/// `cw_tickets remote_session` (hard).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RemoteSession {
    /// The ticket (id); its device and that device's ScreenConnect session are found for you.
    pub ticket_id: i64,
    /// When the ticket has several devices: the one (configuration id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub configuration_id: Option<i64>,
    /// When the device has several sessions: the one (id, from the ambiguity's candidates).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_id: Option<String>,
    /// The message the user sees before a technician connects.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// `cw_tickets run_remediation` (hard).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RunRemediation {
    /// The ticket (id) whose device is fixed.
    pub ticket_id: i64,
    /// An RMM script to run (id, from `cw_rmm scripts`); or give `command`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub script_id: Option<String>,
    /// A command line to run through ScreenConnect; or give `script_id`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
    /// When the ticket has several devices: the one (configuration id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub configuration_id: Option<i64>,
    /// When the device has several sessions: the one (id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_id: Option<String>,
}

/// The actions whose params name a device by configuration or endpoint.
pub trait TargetsDevice {
    fn device(&self) -> DeviceRef;
}

macro_rules! targets_device {
    ($($t:ty),*) => {$(
        impl TargetsDevice for $t {
            fn device(&self) -> DeviceRef {
                DeviceRef {
                    configuration_id: self.configuration_id,
                    endpoint_id: self.endpoint_id.clone(),
                }
            }
        }
    )*};
}

targets_device!(DeviceRef, RunScript, ScRunCommand, PkgUninstall);
