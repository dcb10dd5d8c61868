//! The catalog: the fourteen tools, each a table of actions, compiled into the binary. An action
//! has a name, a one-line summary, its parameter schema (from the typed params in
//! `schemas::tool::params`), an example, its risk class and its handler.
//!
//! Invariant 2 lives here: the risk of an action is [`Action::risk`] (raised to hard for the night
//! agent where [`Action::hard_for_agent`] says so, or when the plan is customer-visible); the
//! gate takes it from here, never from the caller, and configuration can only raise it.
//!
//! Handlers come in two kinds. A read handler returns the result. A write handler returns a
//! [`Plan`]: the exact upstream request and its effect preview, computed (with reads, if it needs
//! before-values) but not sent; the gate decides whether the plan is previewed, recorded, queued
//! for a verdict or executed, and only the gate executes it ([`execute`]).

mod agreements;
mod api;
mod calc;
mod companies;
mod cpq;
mod dashboards;
mod finance;
mod meta;
mod projects;
mod remote;
mod resolve;
mod rmm;
mod sales;
mod team;
mod tickets;
mod time;

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::{Arc, LazyLock};

use futures::future::BoxFuture;
use reqwest::Method;
use schemars::JsonSchema;
use schemas::event::{ConnectorState, EffectPreview, RecordRef, Risk, UpstreamRequest};
use schemas::tool::{ActionHelp, ActionInfo, FieldError, ToolError};
use schemas::verdict::StoredProposal;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::connector::{self, Call, Connectors};

/// The proposals waiting for a verdict, read-only (`cw_meta pending`).
pub type PendingSource = Arc<dyn Fn() -> Vec<StoredProposal> + Send + Sync>;

/// The ticket history index, shared: `cw_tickets similar` reads it, refreshes write it.
pub type SharedHistory = Arc<tokio::sync::RwLock<crate::history::HistoryIndex>>;

/// What a handler can reach: the connectors (or why ConnectWise is not configured) and the
/// daemon facts `cw_meta` reports. Shared by every call.
pub struct Context {
    pub connectors: Result<Connectors, connector::Error>,
    pub states: Vec<ConnectorState>,
    /// Today in the MSP's calendar (the sandbox's anchored day in the demo and tests).
    pub today: chrono::NaiveDate,
    /// What waits for a verdict: a read of the log's projections and the plan store, never a
    /// way to change them. `None` where no approvals run (some tests and benches).
    pub pending: Option<PendingSource>,
    /// Closed tickets and their final labels (`cw_tickets similar`). `None` where no index was
    /// opened (some tests and benches); the action then says so.
    pub history: Option<SharedHistory>,
}

impl std::fmt::Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context")
            .field("connectors", &self.connectors)
            .field("states", &self.states)
            .field("today", &self.today)
            .field("pending", &self.pending.as_ref().map(|_| "PendingSource"))
            .field("history", &self.history.as_ref().map(|_| "HistoryIndex"))
            .finish()
    }
}

pub type Ctx = Arc<Context>;

impl Context {
    /// A context without a view of pending approvals or a ticket history (add them with
    /// [`Context::with_pending`] and [`Context::with_history`]).
    pub fn new(
        connectors: Result<Connectors, connector::Error>,
        states: Vec<ConnectorState>,
        today: chrono::NaiveDate,
    ) -> Self {
        Context {
            connectors,
            states,
            today,
            pending: None,
            history: None,
        }
    }

    pub fn with_pending(mut self, pending: PendingSource) -> Self {
        self.pending = Some(pending);
        self
    }

    pub fn with_history(mut self, history: SharedHistory) -> Self {
        self.history = Some(history);
        self
    }

    /// The Manage client, or `not_configured`.
    pub fn manage(&self) -> Result<&connector::manage::Manage, Failure> {
        self.connectors
            .as_ref()
            .map(|c| &c.manage)
            .map_err(|e| Failure::Upstream(e.clone()))
    }

    pub fn connectors(&self) -> Result<&Connectors, Failure> {
        self.connectors
            .as_ref()
            .map_err(|e| Failure::Upstream(e.clone()))
    }
}

/// Why a handler did not produce a result.
#[derive(Debug, Clone, PartialEq)]
pub enum Failure {
    /// The parameters do not match the action's schema (or each other); nothing was sent.
    InvalidParams {
        message: String,
        fields: Vec<FieldError>,
    },
    /// An id matched several records across products: the caller must choose.
    Ambiguous {
        message: String,
        candidates: Vec<Value>,
    },
    Upstream(connector::Error),
    /// A part of Nightjar the action needs is not set up (not a ConnectWise product): `kind`
    /// `not_configured` without a product, and what to do about it.
    NotConfigured {
        message: String,
        hint: String,
    },
}

impl From<connector::Error> for Failure {
    fn from(e: connector::Error) -> Self {
        Failure::Upstream(e)
    }
}

impl Failure {
    pub fn invalid(message: impl Into<String>) -> Self {
        Failure::InvalidParams {
            message: message.into(),
            fields: Vec::new(),
        }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            Failure::InvalidParams { .. } => "invalid_params",
            Failure::Ambiguous { .. } => "ambiguous",
            Failure::Upstream(e) => e.kind(),
            Failure::NotConfigured { .. } => "not_configured",
        }
    }

    /// The structured error returned to the caller.
    pub fn to_error(&self) -> ToolError {
        match self {
            Failure::InvalidParams { message, fields } => ToolError {
                kind: self.kind().into(),
                product: None,
                message: message.clone(),
                hint: "Nothing was sent. Fix the parameters (see `action: \"help\"` for the \
                       schema) and call again."
                    .into(),
                status: None,
                retry_after_seconds: None,
                fields: fields.clone(),
                candidates: Vec::new(),
            },
            Failure::Ambiguous {
                message,
                candidates,
            } => ToolError {
                kind: self.kind().into(),
                product: None,
                message: message.clone(),
                hint: "Nothing was sent. Choose one of the candidates and call again with its id; \
                       do not guess."
                    .into(),
                status: None,
                retry_after_seconds: None,
                fields: Vec::new(),
                candidates: candidates.clone(),
            },
            Failure::Upstream(e) => e.body(),
            Failure::NotConfigured { message, hint } => ToolError {
                kind: self.kind().into(),
                product: None,
                message: message.clone(),
                hint: hint.clone(),
                status: None,
                retry_after_seconds: None,
                fields: Vec::new(),
                candidates: Vec::new(),
            },
        }
    }
}

/// A write, planned but not sent: the exact request and what it would change.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub request: UpstreamRequest,
    pub effect: EffectPreview,
    /// A customer will see it (a discussion or resolution note, an email, a quote): hard for the
    /// night agent.
    pub customer_visible: bool,
    /// The record as it was read while planning (confirmed plans): a verdict re-reads it and is
    /// refused if it changed since.
    pub observed: Option<schemas::verdict::ObservedTarget>,
    /// This particular request is hard whoever calls (a raw DELETE, a write to a blocked path):
    /// the catalog's handler says so, never the caller.
    pub hard: bool,
}

/// The `ObservedTarget` of a Manage record read while planning, if it says when it last changed.
pub fn observed(path: &str, record: &Value) -> Option<schemas::verdict::ObservedTarget> {
    let version = record["_info"]["lastUpdated"].as_str()?;
    Some(schemas::verdict::ObservedTarget {
        product: "manage".into(),
        path: path.to_owned(),
        version: version.to_owned(),
    })
}

impl Plan {
    /// A plan of one request with a one-line effect and nothing else set: the builder every
    /// handler starts from (then fills `target`, `amount`, `device`, ...).
    pub fn new(
        product: &str,
        method: &str,
        path: impl Into<String>,
        body: Option<Value>,
        summary: impl Into<String>,
    ) -> Self {
        Plan {
            request: UpstreamRequest {
                product: product.to_owned(),
                method: method.to_owned(),
                path: path.into(),
                body,
            },
            effect: EffectPreview {
                summary: summary.into(),
                target: None,
                changes: Vec::new(),
                amount: None,
                customer_visible_text: None,
                device: None,
            },
            customer_visible: false,
            observed: None,
            hard: false,
        }
    }

    /// The record it touches.
    pub fn target(mut self, kind: &str, id: impl ToString) -> Self {
        self.effect.target = Some(RecordRef {
            kind: kind.to_owned(),
            id: id.to_string(),
        });
        self
    }

    /// The device it reaches (remote execution).
    pub fn device(mut self, device: impl Into<String>) -> Self {
        self.effect.device = Some(device.into());
        self
    }

    /// Text a customer will see.
    pub fn customer_visible(mut self, text: impl Into<String>) -> Self {
        self.effect.customer_visible_text = Some(text.into());
        self.customer_visible = true;
        self
    }

    /// Money it moves or bills (`"1250.00 USD"`).
    pub fn amount(mut self, amount: impl Into<String>) -> Self {
        self.effect.amount = Some(amount.into());
        self
    }

    /// The record the plan touches, if it names one.
    pub fn touches(&self) -> Option<&RecordRef> {
        self.effect.target.as_ref()
    }
}

type ReadFn =
    Arc<dyn Fn(Ctx, Call, Value) -> BoxFuture<'static, Result<Value, Failure>> + Send + Sync>;
type WriteFn = Arc<
    dyn Fn(Ctx, Call, Value, Planning) -> BoxFuture<'static, Result<Plan, Failure>> + Send + Sync,
>;

/// How far a write handler may go while planning.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Planning {
    /// The caller confirmed: read the record's current values for the effect preview. Without
    /// it the plan is built from the parameters alone, so a dry-run preview sends nothing
    /// upstream (only a lookup the exact request cannot be written without, such as a member's
    /// id from an identifier, is read).
    pub confirmed: bool,
}

/// How an action runs.
#[derive(Clone)]
pub enum Handler {
    Read(ReadFn),
    Write(WriteFn),
}

impl std::fmt::Debug for Handler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Handler::Read(_) => "Handler::Read",
            Handler::Write(_) => "Handler::Write",
        })
    }
}

/// One action of a tool.
#[derive(Debug, Clone)]
pub struct Action {
    pub name: &'static str,
    pub summary: &'static str,
    /// The catalog's class: the floor every caller gets.
    pub risk: Risk,
    /// Hard when the caller is the night agent (closing tickets, and, through
    /// [`Plan::customer_visible`], customer-visible notes).
    pub hard_for_agent: bool,
    /// Some of its requests are hard for everyone ([`Plan::hard`]: a raw DELETE, a blocked path).
    pub sometimes_hard: bool,
    pub schema: Value,
    pub example: Value,
    pub handler: Handler,
}

/// Parses `value` as `P`, with the schema's refusal of unknown fields reported per field.
pub fn parse<P: DeserializeOwned>(value: Value) -> Result<P, Failure> {
    let value = match value {
        Value::Null => json!({}),
        v => v,
    };
    serde_json::from_value(value).map_err(|e| {
        let message = e.to_string();
        let field = message
            .strip_prefix("unknown field `")
            .and_then(|rest| rest.split('`').next())
            .unwrap_or_default()
            .to_owned();
        Failure::InvalidParams {
            message: format!("the parameters do not match the action's schema: {message}"),
            fields: vec![FieldError {
                code: if field.is_empty() {
                    "InvalidParameter".into()
                } else {
                    "UnknownField".into()
                },
                message,
                resource: "params".into(),
                field,
            }],
        }
    })
}

fn schema_of<P: JsonSchema>() -> Value {
    serde_json::to_value(schemars::schema_for!(P)).unwrap_or(Value::Null)
}

impl Action {
    /// A read action over params `P`.
    pub fn read<P, F, Fut>(name: &'static str, summary: &'static str, example: Value, f: F) -> Self
    where
        P: DeserializeOwned + JsonSchema + Send + 'static,
        F: Fn(Ctx, Call, P) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Value, Failure>> + Send + 'static,
    {
        let f = Arc::new(f);
        Action {
            name,
            summary,
            risk: Risk::Read,
            hard_for_agent: false,
            sometimes_hard: false,
            schema: schema_of::<P>(),
            example,
            handler: Handler::Read(Arc::new(move |ctx, call, value| {
                let f = Arc::clone(&f);
                Box::pin(async move { f(ctx, call, parse::<P>(value)?).await })
            })),
        }
    }

    /// A write (or hard) action over params `P` whose handler plans the request.
    pub fn write<P, F, Fut>(
        name: &'static str,
        summary: &'static str,
        risk: Risk,
        example: Value,
        f: F,
    ) -> Self
    where
        P: DeserializeOwned + JsonSchema + Send + 'static,
        F: Fn(Ctx, Call, P, Planning) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Plan, Failure>> + Send + 'static,
    {
        let f = Arc::new(f);
        Action {
            name,
            summary,
            risk,
            hard_for_agent: false,
            sometimes_hard: false,
            schema: schema_of::<P>(),
            example,
            handler: Handler::Write(Arc::new(move |ctx, call, value, planning| {
                let f = Arc::clone(&f);
                Box::pin(async move { f(ctx, call, parse::<P>(value)?, planning).await })
            })),
        }
    }

    pub fn hard_for_agent(mut self) -> Self {
        self.hard_for_agent = true;
        self
    }

    pub fn sometimes_hard(mut self) -> Self {
        self.sometimes_hard = true;
        self
    }

    pub fn info(&self) -> ActionInfo {
        ActionInfo {
            name: self.name.to_owned(),
            summary: self.summary.to_owned(),
            risk: self.risk,
            hard_for_agent: self.hard_for_agent,
        }
    }
}

/// One MCP tool: an area of ConnectWise and its actions.
#[derive(Debug)]
pub struct Tool {
    pub name: &'static str,
    pub description: &'static str,
    pub actions: Vec<Action>,
}

impl Tool {
    pub fn action(&self, name: &str) -> Option<&Action> {
        self.actions.iter().find(|a| a.name == name)
    }

    /// Whether every action is a read (MCP `readOnlyHint`).
    pub fn read_only(&self) -> bool {
        self.actions.iter().all(|a| a.risk == Risk::Read)
    }

    /// Whether any action is hard, for any caller (MCP `destructiveHint`).
    pub fn destructive(&self) -> bool {
        self.actions
            .iter()
            .any(|a| a.risk == Risk::Hard || a.hard_for_agent || a.sometimes_hard)
    }

    pub fn help(&self, action: &Action) -> ActionHelp {
        ActionHelp {
            tool: self.name.to_owned(),
            info: action.info(),
            schema: action.schema.clone(),
            example: action.example.clone(),
        }
    }
}

/// The fourteen tools, in the order MCP lists them.
pub const TOOL_NAMES: [&str; 14] = [
    "cw_tickets",
    "cw_time",
    "cw_companies",
    "cw_agreements",
    "cw_projects",
    "cw_sales",
    "cw_finance",
    "cw_team",
    "cw_dashboards",
    "cw_rmm",
    "cw_cpq",
    "cw_api",
    "cw_calc",
    "cw_meta",
];

/// The hard floor of DESIGN, fixed in code: these actions are hard for every caller, whatever
/// their table entry says, and nothing (configuration, prompt, mode) lowers them. Customer-visible
/// notes and closing tickets are hard for the night agent ([`Action::hard_for_agent`],
/// [`Plan::customer_visible`]); `cw_api` DELETEs and blocked paths are hard in its handler.
pub const HARD_FLOOR: &[(&str, &str)] = &[
    ("cw_rmm", "sc_run_command"),
    ("cw_rmm", "sc_send_command"),
    ("cw_rmm", "sc_create_session"),
    ("cw_rmm", "pkg_uninstall"),
    ("cw_rmm", "run_script"),
    ("cw_tickets", "remote_session"),
    ("cw_tickets", "run_remediation"),
    ("cw_finance", "create_invoice"),
    ("cw_finance", "post_invoice"),
    ("cw_finance", "generate_batch"),
    ("cw_finance", "approve_expense"),
    ("cw_finance", "approve_po"),
    ("cw_cpq", "send_quote"),
];

/// Every tool with its actions.
#[derive(Debug)]
pub struct Catalog {
    tools: Vec<Tool>,
}

static CATALOG: LazyLock<Catalog> = LazyLock::new(Catalog::build);

/// The compiled-in catalog.
pub fn catalog() -> &'static Catalog {
    &CATALOG
}

impl Catalog {
    fn build() -> Catalog {
        let mut by_name: BTreeMap<&str, (&'static str, Vec<Action>)> = BTreeMap::new();
        let described = [
            (
                "cw_tickets",
                "Service tickets: list, search, read in full (notes, time, tasks, devices), note, update, assign, create, close; similar closed tickets; the board taxonomy.",
                tickets::actions(),
            ),
            (
                "cw_time",
                "Time entries: read, a member's week, unbilled time, weekly validation, add, correct.",
                time::actions(),
            ),
            (
                "cw_companies",
                "Companies (clients): read, search, their contacts and configurations (devices), fleet health across PSA and RMM.",
                companies::actions(),
            ),
            (
                "cw_agreements",
                "Agreements: what clients are contracted for, renewals and utilization.",
                agreements::actions(),
            ),
            (
                "cw_projects",
                "Projects: status, tickets and budget burn.",
                projects::actions(),
            ),
            (
                "cw_sales",
                "Sales: opportunities, the pipeline valued from CPQ quotes, a draft quote for an opportunity.",
                sales::actions(),
            ),
            (
                "cw_finance",
                "Finance: invoices, receivables aging, unbilled work; every finance write (invoices, posting, batches, expense and PO approval) is hard.",
                finance::actions(),
            ),
            (
                "cw_team",
                "Team: members, schedules, workload and utilization, who is free.",
                team::actions(),
            ),
            (
                "cw_dashboards",
                "Dashboards: my day, dispatch, the daily briefing (SLA, utilization, MRR, unbilled, receivables, at-risk clients), a company brief.",
                dashboards::actions(),
            ),
            (
                "cw_rmm",
                "RMM (Asio) devices, patches and scripts, and ScreenConnect sessions; everything that runs on a machine is hard.",
                rmm::actions(),
            ),
            (
                "cw_cpq",
                "CPQ (Sell) quotes: read, create from a template, add lines; sending one to the customer is hard.",
                cpq::actions(),
            ),
            (
                "cw_api",
                "Raw access to any Manage API path (find it with cw_meta search): reads free, writes confirm-gated, DELETE and security, member, API-key and finance-setup paths hard-gated.",
                api::actions(),
            ),
            (
                "cw_calc",
                "Exact decimal arithmetic for money: never do money math in your head.",
                calc::actions(),
            ),
            (
                "cw_meta",
                "About Nightjar itself: connector status, this catalog, search over all 3,051 Manage API operations, pending approvals (read-only).",
                meta::actions(),
            ),
        ];
        for (name, description, actions) in described {
            by_name.insert(name, (description, actions));
        }
        let tools = TOOL_NAMES
            .iter()
            .map(|name| {
                let (description, mut actions) = by_name.remove(name).unwrap_or(("", Vec::new()));
                for action in &mut actions {
                    if HARD_FLOOR.contains(&(*name, action.name)) {
                        action.risk = Risk::Hard;
                    }
                }
                Tool {
                    name,
                    description,
                    actions,
                }
            })
            .collect();
        Catalog { tools }
    }

    pub fn tools(&self) -> &[Tool] {
        &self.tools
    }

    pub fn tool(&self, name: &str) -> Option<&Tool> {
        self.tools.iter().find(|t| t.name == name)
    }

    /// `tool.action` for every action.
    pub fn action(&self, tool: &str, action: &str) -> Option<&Action> {
        self.tool(tool)?.action(action)
    }
}

/// Sends a plan's request, exactly as previewed, and answers the HTTP status with the body. Only
/// the gate calls this.
pub async fn execute(
    ctx: &Context,
    call: &Call,
    request: &UpstreamRequest,
) -> Result<(u16, Value), Failure> {
    let method = Method::from_bytes(request.method.as_bytes())
        .map_err(|_| Failure::invalid(format!("unknown method {}", request.method)))?;
    let connectors = ctx.connectors()?;
    let segments: Vec<&str> = request
        .path
        .trim_start_matches('/')
        .split('/')
        .filter(|s| !s.is_empty())
        .collect();
    let body = request.body.as_ref();
    let empty = json!({});
    match (request.product.as_str(), &method) {
        ("manage", _) => Ok(connectors
            .manage
            .send_planned(call, method, &request.path, body)
            .await?),
        ("asio", &Method::POST) => Ok((
            200,
            connectors
                .asio()?
                .post(call, &segments, body.unwrap_or(&empty), false)
                .await?,
        )),
        ("sell", &Method::POST) if request.path.starts_with(cpq::COPY_PREFIX) => {
            cpq::execute_shell(connectors.sell()?, call, &request.path, body).await
        }
        ("sell", &Method::PATCH) => Ok((
            200,
            connectors
                .sell()?
                .patch(call, &segments, &cpq::patch_ops(body))
                .await?,
        )),
        ("sell", &Method::POST) => Ok((
            200,
            connectors
                .sell()?
                .post(call, &segments, body.unwrap_or(&empty))
                .await?,
        )),
        ("screenconnect", &Method::POST) => Ok((
            200,
            connectors
                .screenconnect()?
                .post(call, &segments, body.unwrap_or(&empty))
                .await?,
        )),
        (product, method) => Err(Failure::invalid(format!(
            "no executor for {method} on {product}"
        ))),
    }
}

/// A day parameter (`YYYY-MM-DD`), or `invalid_params` naming the field.
pub(crate) fn day(text: &str, field: &str) -> Result<chrono::NaiveDate, Failure> {
    chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d").map_err(|_| {
        Failure::invalid(format!(
            "`{field}` must be a day as YYYY-MM-DD, got {text:?}"
        ))
    })
}

/// The start of a day, UTC (the bound of a date condition).
pub(crate) fn midnight(d: chrono::NaiveDate) -> chrono::DateTime<chrono::Utc> {
    use chrono::TimeZone;
    chrono::Utc.from_utc_datetime(&d.and_time(chrono::NaiveTime::MIN))
}

/// Clamps a caller's row limit to `1..=MAX_LIMIT`.
pub(crate) fn clamp_limit(limit: u32) -> usize {
    limit.clamp(1, schemas::tool::params::MAX_LIMIT) as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn there_are_fourteen_tools_with_unique_action_names_and_valid_examples() {
        let catalog = catalog();
        assert_eq!(catalog.tools().len(), 14);
        for tool in catalog.tools() {
            assert!(
                !tool.description.is_empty(),
                "{} has no description",
                tool.name
            );
            let mut names: Vec<&str> = tool.actions.iter().map(|a| a.name).collect();
            names.sort_unstable();
            let before = names.len();
            names.dedup();
            assert_eq!(before, names.len(), "{}: duplicate action names", tool.name);
            for action in &tool.actions {
                assert_ne!(action.name, "help", "help is answered by the gate");
                assert!(action.schema.is_object(), "{}.{}", tool.name, action.name);
                // Every example is a complete call that the action's own parser accepts.
                assert_eq!(
                    action.example["tool"], tool.name,
                    "{}.{}",
                    tool.name, action.name
                );
                assert_eq!(action.example["action"], action.name);
                let params = action.example["params"].clone();
                let ok = match &action.handler {
                    Handler::Read(_) | Handler::Write(_) => {
                        validate_example(tool.name, action.name, params)
                    }
                };
                assert!(ok.is_ok(), "{}.{}: {ok:?}", tool.name, action.name);
            }
        }
    }

    /// Parses an example's params with the action's own type, by running its handler's parse step
    /// on a context without connectors: parameter errors come back as `invalid_params`, anything
    /// else means the parameters were accepted.
    fn validate_example(tool: &str, action: &str, params: Value) -> Result<(), Failure> {
        let ctx = Arc::new(Context::new(
            Err(connector::Error::NotConfigured {
                product: connector::Product::Manage,
                problem: "test".into(),
            }),
            Vec::new(),
            chrono::NaiveDate::from_ymd_opt(2026, 3, 2).unwrap_or_default(),
        ));
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .map_err(|e| Failure::invalid(e.to_string()))?;
        let found = catalog()
            .action(tool, action)
            .ok_or_else(|| Failure::invalid("missing"))?;
        let result = runtime.block_on(async {
            match &found.handler {
                Handler::Read(f) => f(ctx, Call::default(), params).await.map(drop),
                Handler::Write(f) => f(ctx, Call::default(), params, Planning { confirmed: true })
                    .await
                    .map(drop),
            }
        });
        match result {
            Err(f @ Failure::InvalidParams { .. }) => Err(f),
            _ => Ok(()),
        }
    }

    #[test]
    fn the_hard_floor_holds_for_every_listed_action_and_every_one_exists() {
        for (tool, action) in HARD_FLOOR {
            assert!(TOOL_NAMES.contains(tool), "{tool} is not a tool");
            let a = catalog().action(tool, action).unwrap_or_else(|| {
                panic!("{tool}.{action} is on the floor but not in the catalog")
            });
            assert_eq!(a.risk, Risk::Hard, "{tool}.{action}");
            // Hard in its own table too, not only raised by the floor.
            assert!(matches!(a.handler, Handler::Write(_)), "{tool}.{action}");
        }
        // Every tool has actions now.
        for tool in catalog().tools() {
            assert!(!tool.actions.is_empty(), "{} has no actions", tool.name);
        }
        let close = catalog().action("cw_tickets", "close").unwrap();
        assert!(close.hard_for_agent);
    }

    #[test]
    fn unknown_fields_are_named() {
        let err = parse::<schemas::tool::params::TicketGet>(json!({"id": 1, "priority_id": 1}))
            .unwrap_err();
        let Failure::InvalidParams { fields, .. } = err else {
            panic!("expected invalid params");
        };
        assert_eq!(fields[0].field, "priority_id");
        assert_eq!(fields[0].code, "UnknownField");
    }
}
