//! Ground truth for what the seed planted, served at `GET /__sandbox/truth`, so tests and
//! backtests can score the skills (triage, pre-billing, renewal) and the redaction and gate
//! layers. Field names are snake_case: this is the sandbox's own API, not ConnectWise's.

use serde::{Deserialize, Serialize};

/// An id with its display name.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Named {
    pub id: i64,
    pub name: String,
}

/// The classification a good dispatcher would give a ticket.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Classification {
    pub board: Named,
    #[serde(rename = "type")]
    pub kind: Named,
    pub sub_type: Named,
    pub item: Named,
    pub priority: Named,
}

/// A new ticket nobody has triaged yet (status New, no owner, no type).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Untriaged {
    pub ticket_id: i64,
    pub summary: String,
    pub expected: Classification,
}

/// A closed ticket with the labels the team finally gave it (the ticket itself carries them
/// too, as in Manage): what a triage backtest scores against.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClosedTicket {
    pub ticket_id: i64,
    pub closed_date: String,
    /// The issue family the ticket was written from (its template summary): tickets of one
    /// family share their final labels, whatever their wording.
    pub family: String,
    pub labels: Classification,
}

/// One device with the same problem again and again.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecurringIssue {
    pub configuration_id: i64,
    pub device_name: String,
    /// The Asio endpoint id (also the configuration's `deviceIdentifier`).
    pub endpoint_id: String,
    pub company_id: i64,
    pub ticket_ids: Vec<i64>,
    pub problem: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MissingDay {
    pub member_id: i64,
    pub member_identifier: String,
    /// A weekday inside the time window with no time entered.
    pub date: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EntryGroup {
    pub member_id: i64,
    pub date: String,
    pub entry_ids: Vec<i64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BillableMismatch {
    pub entry_id: i64,
    pub work_type: String,
    /// The work type's `billTime`.
    pub work_type_bill_time: String,
    /// The entry's `billableOption`, which contradicts it.
    pub billable_option: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TimeOnClosed {
    pub entry_id: i64,
    pub ticket_id: i64,
    pub closed_date: String,
    pub time_start: String,
}

/// Time entered into a period whose time sheet is no longer open (submitted or approved): the
/// entry is still `Open`, so it missed that sheet's approval.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InClosedPeriod {
    pub entry_id: i64,
    pub member_id: i64,
    pub date: String,
    pub time_sheet_id: i64,
    /// The time sheet's `status`.
    pub sheet_status: String,
}

/// An entry whose billable option contradicts its agreement's own terms for its work type (the
/// agreement's `/worktypes` override of `billTime`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgreementBillable {
    pub entry_id: i64,
    pub agreement_id: i64,
    pub work_type: String,
    /// The agreement work type's `billTime`.
    pub agreement_bill_time: String,
    /// The entry's `billableOption`, which contradicts it.
    pub billable_option: String,
}

/// Work logged on a project ticket after its project was closed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TimeOnClosedProject {
    pub entry_id: i64,
    pub project_id: i64,
    pub project_ticket_id: i64,
    /// The project's `actualEnd`.
    pub closed_date: String,
    pub time_start: String,
}

/// Pre-billing anomalies in the time window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TimeTruth {
    /// First and last day (inclusive) of the four weeks of time entries.
    pub window_start: String,
    pub window_end: String,
    pub missing_days: Vec<MissingDay>,
    pub overlapping: Vec<EntryGroup>,
    pub duplicates: Vec<EntryGroup>,
    /// Entries without notes.
    pub noteless: Vec<i64>,
    pub billable_mismatches: Vec<BillableMismatch>,
    pub on_closed_tickets: Vec<TimeOnClosed>,
    pub in_closed_periods: Vec<InClosedPeriod>,
    pub agreement_billable_mismatches: Vec<AgreementBillable>,
    pub on_closed_projects: Vec<TimeOnClosedProject>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Expiring {
    pub agreement_id: i64,
    pub company_id: i64,
    pub end_date: String,
    pub days_left: i64,
    /// 30, 60 or 90: the smallest window the end date falls in.
    pub window_days: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Utilization {
    pub agreement_id: i64,
    pub company_id: i64,
    /// `applicationLimit` (hours per calendar month).
    pub limit_hours: f64,
    /// Hours of time entries charged to the agreement inside the time window.
    pub used_hours: f64,
    pub ratio: f64,
    /// `over` (ratio > 1.2), `under` (ratio < 0.3) or `normal`.
    pub class: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgreementTruth {
    pub expiring: Vec<Expiring>,
    /// Every hours-based agreement with its utilization.
    pub utilization: Vec<Utilization>,
}

/// Where a planted value sits.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Location {
    /// `Ticket` or `ServiceNote`.
    pub entity: String,
    pub id: i64,
    pub ticket_id: i64,
    /// `summary` or `text`.
    pub field: String,
}

/// A planted piece of personal or secret data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Pii {
    /// `email`, `phone`, `card`, `ssn`, `ip`, `token` or `password`.
    pub kind: String,
    /// The exact text as planted (search logs for it).
    pub value: String,
    pub location: Location,
}

/// A planted prompt injection.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Injection {
    pub text: String,
    pub location: Location,
}

/// How a ticket reaches a remote session: ticket → configuration (Manage) → RMM endpoint (Asio,
/// the configuration's `deviceIdentifier`) → ScreenConnect sessions of that device.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RemoteMapping {
    pub ticket_id: i64,
    pub configuration_id: i64,
    pub endpoint_id: String,
    /// Every ScreenConnect session of the device, sorted: one for a clean mapping, two for the
    /// planted ambiguous one (a machine imaged from another kept both agents).
    pub session_ids: Vec<String>,
}

/// The planted cross-product mappings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RemoteTruth {
    /// An open ticket whose device has exactly one session.
    pub clean: RemoteMapping,
    /// An open ticket whose device has two online sessions: a resolver must ask, not guess.
    pub ambiguous: RemoteMapping,
}

/// Fleet health of one company, as its RMM devices and open tickets say.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FleetCompany {
    pub company_id: i64,
    /// The Asio company id (`externalIds[].externalId` is the Manage id).
    pub rmm_company_id: String,
    pub devices: usize,
    pub online: usize,
    pub offline: usize,
    /// Missing patches summed over the devices.
    pub missing_patches: i64,
    /// Devices with at least one missing patch.
    pub devices_missing_patches: usize,
    pub pending_reboot: usize,
    /// Open service tickets of the company.
    pub open_tickets: usize,
}

/// Everything planted, with enough to score a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Truth {
    pub seed: u64,
    pub size: String,
    pub today: String,
    pub untriaged: Vec<Untriaged>,
    pub recurring_issue: RecurringIssue,
    pub time: TimeTruth,
    pub agreements: AgreementTruth,
    pub pii: Vec<Pii>,
    pub prompt_injections: Vec<Injection>,
    /// Every closed service ticket with its final labels, by id. Some of their descriptions carry
    /// planted personal data (listed in `pii`).
    pub closed: Vec<ClosedTicket>,
    pub remote: RemoteTruth,
    pub fleet: Vec<FleetCompany>,
}
