//! The gate: [`Gate::dispatch`] is the only way an action runs. Every MCP session, the night
//! agent and `nightjarctl call` come through here.
//!
//! What it decides, in order:
//! 1. which action (the compiled-in catalog; unknown tools and actions are refused with the list
//!    of valid ones), and whether the caller may use it (a skill's allowed set);
//! 2. the risk class: the catalog's, raised to hard for the night agent where the catalog says
//!    so (closing tickets) or when the plan is customer-visible, then raised by configuration;
//!    never lowered by anything ([`Gate::risk`]);
//! 3. what happens to a write, from the caller's mode, the risk and `confirm`
//!    ([`disposition`]): a dry-run preview, a proposal recorded for review (observe), a proposal
//!    queued for a signed verdict (hard), or execution.
//!
//! Every step is appended to the event log before the caller hears of it: `ActionRead`,
//! `ActionProposed`, `ApprovalRequested`, `ActionExecuting` (durable before the request
//! leaves), `ActionExecuted` / `ActionFailed`, `ActionDenied`. If the log cannot take a record, the
//! step does not happen (fail closed). Parameters, requests and previews are redacted before they
//! are logged; the caller gets the real result.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Instant;

use schemas::config::GateConfig;
use schemas::event::{
    DenialReason, Disposition, EffectPreview, Event, Mode, Principal, RecordRef, Risk,
    UpstreamRequest,
};
use schemas::tool::params::HelpParams;
use schemas::tool::{ToolCall, ToolError, ToolOutcome};
use schemas::verdict::StoredProposal;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::approvals::PlanStore;
use crate::catalog::{self, Action, Ctx, Failure, Handler, Plan, Planning, Tool, catalog};
use crate::connector::{self, Budget};
use crate::log::{Draft, Store};
use crate::redact::Redactor;

/// Who is calling, in which mode, allowed to do what.
#[derive(Debug, Clone, PartialEq)]
pub struct Caller {
    pub principal: Principal,
    pub mode: Mode,
    /// `tool.action` names the caller may use; `None` allows every action (interactive sessions).
    pub allowed: Option<BTreeSet<String>>,
}

impl Caller {
    /// An interactive principal (an MCP client, `nightjarctl`).
    pub fn interactive(name: &str, mode: Mode) -> Self {
        Caller {
            principal: Principal::Interactive {
                name: name.to_owned(),
            },
            mode,
            allowed: None,
        }
    }

    fn run_id(&self) -> Option<&str> {
        match &self.principal {
            Principal::Skill { run_id, .. } => Some(run_id),
            _ => None,
        }
    }

    fn is_agent(&self) -> bool {
        matches!(self.principal, Principal::Skill { .. })
    }
}

/// Why a gate cannot be built from the configuration.
#[derive(Debug, thiserror::Error)]
pub enum GateError {
    #[error(
        "[gate.stricter] names {name:?}, which is not an action; use \"tool.action\" as listed by \
         `cw_meta catalog`"
    )]
    UnknownAction { name: String },
    #[error(
        "[gate.stricter] would make {name} {wanted:?}, below the catalog's {catalog:?}; \
         configuration can only make an action stricter"
    )]
    Looser {
        name: String,
        wanted: Risk,
        catalog: Risk,
    },
}

/// What happens to a planned write.
pub fn disposition(mode: Mode, risk: Risk, confirm: bool) -> Disposition {
    match (mode, risk, confirm) {
        (Mode::DryRun, _, _) => Disposition::DryRun,
        (_, _, false) => Disposition::Previewed,
        (Mode::Observe, _, true) => Disposition::RecordedForReview,
        (Mode::Enforce, Risk::Hard, true) => Disposition::PendingApproval,
        (Mode::Enforce, _, true) => Disposition::Accepted,
    }
}

/// SHA-256 over the canonical semantic action: what a verdict signs.
pub fn action_digest(
    tool: &str,
    action: &str,
    params: &Value,
    request: &UpstreamRequest,
) -> String {
    let semantic = json!({
        "domain": "nightjar.action.v1",
        "tool": tool,
        "action": action,
        "params": params,
        "request": request,
    });
    let bytes = schemas::canonical::to_vec(&semantic).unwrap_or_default();
    hex::encode(Sha256::digest(bytes))
}

/// SHA-256 of a result's canonical JSON (what `ActionRead` and `ActionExecuted` record).
fn digest(value: &Value) -> String {
    hex::encode(Sha256::digest(
        schemas::canonical::to_vec(value).unwrap_or_default(),
    ))
}

fn new_id(prefix: &str) -> String {
    format!("{prefix}-{:016x}", rand::random::<u64>())
}

fn millis(since: Instant) -> u64 {
    since.elapsed().as_millis().try_into().unwrap_or(u64::MAX)
}

fn tool_error(kind: &str, message: String, hint: &str) -> ToolOutcome {
    ToolOutcome::Error {
        error: ToolError {
            kind: kind.to_owned(),
            product: None,
            message,
            hint: hint.to_owned(),
            status: None,
            retry_after_seconds: None,
            fields: Vec::new(),
            candidates: Vec::new(),
        },
    }
}

fn log_unavailable(e: &crate::log::LogError) -> ToolOutcome {
    ToolOutcome::Denied {
        reason: DenialReason::LogUnavailable,
        detail: format!("the event log could not record this step, so it did not run: {e}"),
        mode: None,
    }
}

/// The gate. One per daemon, shared by every session.
#[derive(Debug, Clone)]
pub struct Gate {
    store: Store,
    ctx: Ctx,
    redactor: Arc<Redactor>,
    config: GateConfig,
    /// Proposals that wait for a verdict, with their exact (unredacted) requests.
    plans: PlanStore,
}

impl Gate {
    /// Checks `[gate.stricter]` against the catalog: every name must be an action and may only
    /// raise its class.
    pub fn new(
        store: Store,
        ctx: Ctx,
        redactor: Arc<Redactor>,
        config: GateConfig,
    ) -> Result<Gate, GateError> {
        for (name, wanted) in &config.stricter {
            let found = name
                .split_once('.')
                .and_then(|(tool, action)| catalog().action(tool, action));
            let Some(action) = found else {
                return Err(GateError::UnknownAction { name: name.clone() });
            };
            if *wanted < action.risk {
                return Err(GateError::Looser {
                    name: name.clone(),
                    wanted: *wanted,
                    catalog: action.risk,
                });
            }
        }
        Ok(Gate {
            store,
            ctx,
            redactor,
            config,
            plans: PlanStore::in_memory(),
        })
    }

    /// Keeps waiting proposals in `plans` (the daemon's is on disk, so they outlive a restart).
    pub fn with_plans(mut self, plans: PlanStore) -> Self {
        self.plans = plans;
        self
    }

    pub fn plans(&self) -> &PlanStore {
        &self.plans
    }

    pub fn redactor(&self) -> &Redactor {
        &self.redactor
    }

    /// Executes a stored proposal a human approved: `ActionExecuting` (durable first), the exact
    /// request once, then its outcome; the operator's key is the principal.
    pub async fn execute_approved(&self, key_id: &str, stored: &StoredProposal) -> ToolOutcome {
        let caller = Caller {
            principal: Principal::Operator {
                key_id: Some(key_id.to_owned()),
            },
            mode: Mode::Enforce,
            allowed: None,
        };
        let Some((tool, action)) = catalog()
            .tool(&stored.tool)
            .and_then(|t| Some((t, t.action(&stored.action)?)))
        else {
            return tool_error(
                "unknown_action",
                format!(
                    "{}.{} is no longer in the catalog",
                    stored.tool, stored.action
                ),
                "Nothing was sent.",
            );
        };
        let meter = connector::Call::new(Budget {
            max_calls: self.config.max_upstream_calls,
        });
        self.execute(
            &caller,
            new_id("c"),
            stored.proposal_id.clone(),
            tool,
            action,
            stored.request.clone(),
            stored.effect.clone(),
            meter,
            Instant::now(),
        )
        .await
    }

    pub fn context(&self) -> &Ctx {
        &self.ctx
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The mode of interactive sessions.
    pub fn interactive_mode(&self) -> Mode {
        self.config.interactive_mode
    }

    /// The effective risk class of a planned action for this caller: the catalog's, raised to
    /// hard for the night agent where the catalog says so or when a customer would see it, then
    /// raised by configuration. Nothing lowers it.
    pub fn risk(&self, caller: &Caller, tool: &Tool, action: &Action, plan: Option<&Plan>) -> Risk {
        let mut risk = action.risk;
        let customer_visible = plan.is_some_and(|p| p.customer_visible);
        if caller.is_agent() && (action.hard_for_agent || customer_visible) {
            risk = Risk::Hard;
        }
        if plan.is_some_and(|p| p.hard) {
            risk = Risk::Hard;
        }
        if let Some(stricter) = self
            .config
            .stricter
            .get(&format!("{}.{}", tool.name, action.name))
        {
            risk = risk.max(*stricter);
        }
        risk
    }

    /// Appends `event` as `caller` (with its run), the one way the gate and its sessions record.
    pub(crate) async fn append(
        &self,
        caller: &Caller,
        event: Event,
    ) -> Result<(), crate::log::LogError> {
        let mut draft = Draft::new(caller.principal.clone(), event);
        if let Some(run) = caller.run_id() {
            draft = draft.with_run(run);
        }
        self.store.append(draft).await.map(drop)
    }

    fn redact_request(&self, request: &UpstreamRequest) -> UpstreamRequest {
        UpstreamRequest {
            product: request.product.clone(),
            method: request.method.clone(),
            path: self.redactor.text(&request.path).into_owned(),
            body: request.body.as_ref().map(|b| self.redactor.value(b)),
        }
    }

    fn redact_effect(&self, effect: &EffectPreview) -> EffectPreview {
        serde_json::to_value(effect)
            .map(|v| self.redactor.value(&v))
            .and_then(serde_json::from_value)
            .unwrap_or_else(|_| EffectPreview {
                summary: "[unredactable preview dropped]".into(),
                ..EffectPreview::default()
            })
    }

    /// Runs one tool call for `caller`. Never panics on bad input: every refusal is an outcome.
    pub async fn dispatch(&self, caller: &Caller, call: ToolCall) -> ToolOutcome {
        let (tool, action) = (call.tool.clone(), call.action.clone());
        let outcome = self.dispatch_inner(caller, call).await;
        tracing::info!(
            tool = %tool,
            action = action.as_deref().unwrap_or("-"),
            status = outcome.status(),
            "tool call"
        );
        outcome
    }

    async fn dispatch_inner(&self, caller: &Caller, call: ToolCall) -> ToolOutcome {
        let Some(tool) = catalog().tool(&call.tool) else {
            return tool_error(
                "unknown_tool",
                format!("there is no tool {:?}", call.tool),
                &format!("The tools are: {}.", catalog::TOOL_NAMES.join(", ")),
            );
        };
        let Some(name) = call.action.as_deref() else {
            return actions_table(tool);
        };
        if name == "help" {
            return help(tool, call.params);
        }
        let Some(action) = tool.action(name) else {
            let names: Vec<&str> = tool.actions.iter().map(|a| a.name).collect();
            return tool_error(
                "unknown_action",
                format!("{} has no action {name:?}", tool.name),
                &format!(
                    "Its actions are: {}. Call the tool without an action for the table.",
                    names.join(", ")
                ),
            );
        };
        let call_id = new_id("c");
        let qualified = format!("{}.{}", tool.name, action.name);
        if caller
            .allowed
            .as_ref()
            .is_some_and(|allowed| !allowed.contains(&qualified))
        {
            return self
                .deny(
                    caller,
                    &call_id,
                    None,
                    tool,
                    action,
                    DenialReason::NotAllowed,
                    format!("{qualified} is not among the actions this skill may use"),
                )
                .await;
        }
        let started = Instant::now();
        let meter = connector::Call::new(Budget {
            max_calls: self.config.max_upstream_calls,
        });
        match &action.handler {
            Handler::Read(run) => {
                let result = run(Arc::clone(&self.ctx), meter.clone(), call.params.clone()).await;
                match result {
                    Ok(value) => {
                        let logged = self
                            .append(
                                caller,
                                Event::ActionRead {
                                    call_id,
                                    tool: tool.name.into(),
                                    action: action.name.into(),
                                    params: self.redactor.value(&call.params),
                                    upstream_requests: meter
                                        .requests()
                                        .try_into()
                                        .unwrap_or(u32::MAX),
                                    bytes: meter.bytes(),
                                    result_digest: digest(&value),
                                    duration_ms: millis(started),
                                },
                            )
                            .await;
                        match logged {
                            Ok(()) => ToolOutcome::Ok {
                                result: value,
                                upstream_requests: meter.requests(),
                            },
                            Err(e) => log_unavailable(&e),
                        }
                    }
                    Err(failure) => {
                        self.failed(caller, &call_id, None, tool, action, failure)
                            .await
                    }
                }
            }
            Handler::Write(plan_fn) => {
                let planning = Planning {
                    confirmed: call.confirm && caller.mode != Mode::DryRun,
                };
                let planned = plan_fn(
                    Arc::clone(&self.ctx),
                    meter.clone(),
                    call.params.clone(),
                    planning,
                )
                .await;
                match planned {
                    Ok(plan) => {
                        self.write(caller, call_id, tool, action, &call, plan, meter, started)
                            .await
                    }
                    Err(failure) => {
                        self.failed(caller, &call_id, None, tool, action, failure)
                            .await
                    }
                }
            }
        }
    }

    #[allow(
        clippy::too_many_arguments,
        reason = "one private step of dispatch, named once"
    )]
    async fn write(
        &self,
        caller: &Caller,
        call_id: String,
        tool: &Tool,
        action: &Action,
        call: &ToolCall,
        plan: Plan,
        meter: connector::Call,
        started: Instant,
    ) -> ToolOutcome {
        let risk = self.risk(caller, tool, action, Some(&plan));
        let disposition = disposition(caller.mode, risk, call.confirm);
        let proposal_id = new_id("p");
        let action_digest = action_digest(tool.name, action.name, &call.params, &plan.request);
        let proposed = Event::ActionProposed {
            proposal_id: proposal_id.clone(),
            call_id: call_id.clone(),
            tool: tool.name.into(),
            action: action.name.into(),
            params: self.redactor.value(&call.params),
            risk,
            mode: caller.mode,
            request: self.redact_request(&plan.request),
            effect: self.redact_effect(&plan.effect),
            action_digest: action_digest.clone(),
            disposition,
            observed: plan.observed.clone(),
        };
        // A proposal that will wait for a human is kept, exact and unredacted, before anyone hears
        // of it: so it can be approved later, also after a restart.
        if matches!(
            disposition,
            Disposition::PendingApproval | Disposition::RecordedForReview
        ) {
            let stored = StoredProposal {
                proposal_id: proposal_id.clone(),
                action_digest: action_digest.clone(),
                tool: tool.name.into(),
                action: action.name.into(),
                params: call.params.clone(),
                risk,
                mode: caller.mode,
                disposition,
                principal: caller.principal.clone(),
                run_id: caller.run_id().map(str::to_owned),
                request: plan.request.clone(),
                effect: plan.effect.clone(),
                observed: plan.observed.clone(),
                proposed_at: chrono::Utc::now(),
            };
            if let Err(e) = self.plans.put(&stored) {
                return ToolOutcome::Denied {
                    reason: DenialReason::LogUnavailable,
                    detail: format!("the proposal could not be kept, so it was not made: {e}"),
                    mode: Some(caller.mode),
                };
            }
        }
        if let Err(e) = self.append(caller, proposed).await {
            return log_unavailable(&e);
        }
        let Plan {
            request, effect, ..
        } = plan;
        match disposition {
            Disposition::Previewed | Disposition::DryRun => ToolOutcome::Preview {
                proposal_id,
                risk,
                hint: match (disposition, risk) {
                    (Disposition::DryRun, _) => {
                        "Dry-run mode: nothing was sent, and nothing will be.".into()
                    }
                    (_, Risk::Hard) => "Nothing was sent. This action is hard-gated: call again \
                        with confirm: true to queue it for a signed human approval."
                        .into(),
                    _ => "Nothing was sent. Call again with the same parameters and confirm: true \
                        to send exactly this request."
                        .into(),
                },
                request,
                effect,
            },
            Disposition::RecordedForReview => ToolOutcome::RecordedForReview {
                proposal_id,
                risk,
                request,
                effect,
                hint: "Observe mode: recorded for review; nothing was sent. Move on to the next \
                       step."
                    .into(),
            },
            Disposition::PendingApproval => {
                let requested = Event::ApprovalRequested {
                    proposal_id: proposal_id.clone(),
                    action_digest: action_digest.clone(),
                };
                if let Err(e) = self.append(caller, requested).await {
                    return log_unavailable(&e);
                }
                ToolOutcome::PendingApproval {
                    proposal_id,
                    action_digest,
                    request,
                    effect,
                    hint: "Nothing was sent. This action needs a human's signed approval \
                           (`nightjarctl approvals`); it runs only if one is given."
                        .into(),
                }
            }
            Disposition::Accepted => {
                self.execute(
                    caller,
                    call_id,
                    proposal_id,
                    tool,
                    action,
                    request,
                    effect,
                    meter,
                    started,
                )
                .await
            }
        }
    }

    /// Invariant 4: `ActionExecuting` is durable before the request leaves, and the request is
    /// sent once (the connector never retries a write).
    #[allow(
        clippy::too_many_arguments,
        reason = "one private step of dispatch, named once"
    )]
    async fn execute(
        &self,
        caller: &Caller,
        call_id: String,
        proposal_id: String,
        tool: &Tool,
        action: &Action,
        request: UpstreamRequest,
        effect: EffectPreview,
        meter: connector::Call,
        started: Instant,
    ) -> ToolOutcome {
        let executing = Event::ActionExecuting {
            call_id: call_id.clone(),
            proposal_id: Some(proposal_id.clone()),
            tool: tool.name.into(),
            action: action.name.into(),
            request: self.redact_request(&request),
        };
        if let Err(e) = self.append(caller, executing).await {
            return log_unavailable(&e);
        }
        match catalog::execute(&self.ctx, &meter, &request).await {
            Ok((status, value)) => {
                let record = created_record(&request, &value).or(effect.target);
                let executed = Event::ActionExecuted {
                    call_id,
                    proposal_id: Some(proposal_id.clone()),
                    status,
                    result_digest: digest(&value),
                    record: record.clone(),
                    duration_ms: millis(started),
                };
                if let Err(e) = self.append(caller, executed).await {
                    // The write happened; its outcome will read as unknown after a restart,
                    // which is the truth the log can tell.
                    tracing::error!(error = %e, "an executed action's outcome could not be logged");
                }
                ToolOutcome::Executed {
                    proposal_id,
                    result: value,
                    record,
                    upstream_requests: meter.requests(),
                }
            }
            Err(failure) => {
                self.failed(caller, &call_id, Some(proposal_id), tool, action, failure)
                    .await
            }
        }
    }

    /// Withdraws a pending proposal whose caller stopped waiting for a verdict (a timeout or a
    /// cancellation, recorded as such and never as a human denial): it leaves the pending set,
    /// so a verdict that arrives later finds nothing to approve.
    pub async fn withdraw(
        &self,
        caller: &Caller,
        call: &ToolCall,
        proposal_id: &str,
        reason: DenialReason,
        detail: &str,
    ) -> ToolOutcome {
        let event = Event::ActionDenied {
            call_id: new_id("c"),
            proposal_id: Some(proposal_id.to_owned()),
            tool: call.tool.clone(),
            action: call.action.clone().unwrap_or_default(),
            reason,
            detail: detail.to_owned(),
        };
        if let Err(e) = self.append(caller, event).await {
            return log_unavailable(&e);
        }
        ToolOutcome::Denied {
            reason,
            detail: format!("{detail}; the proposal {proposal_id} was withdrawn and did not run"),
            mode: Some(caller.mode),
        }
    }

    #[allow(clippy::too_many_arguments, reason = "the fields of ActionDenied")]
    async fn deny(
        &self,
        caller: &Caller,
        call_id: &str,
        proposal_id: Option<String>,
        tool: &Tool,
        action: &Action,
        reason: DenialReason,
        detail: String,
    ) -> ToolOutcome {
        let event = Event::ActionDenied {
            call_id: call_id.to_owned(),
            proposal_id,
            tool: tool.name.into(),
            action: action.name.into(),
            reason,
            detail: self.redactor.text(&detail).into_owned(),
        };
        if let Err(e) = self.append(caller, event).await {
            return log_unavailable(&e);
        }
        ToolOutcome::Denied {
            reason,
            detail,
            mode: Some(caller.mode),
        }
    }

    async fn failed(
        &self,
        caller: &Caller,
        call_id: &str,
        proposal_id: Option<String>,
        tool: &Tool,
        action: &Action,
        failure: Failure,
    ) -> ToolOutcome {
        let error = failure.to_error();
        let event = match &failure {
            Failure::InvalidParams { message, .. } => Event::ActionDenied {
                call_id: call_id.to_owned(),
                proposal_id,
                tool: tool.name.into(),
                action: action.name.into(),
                reason: DenialReason::InvalidParams,
                detail: self.redactor.text(message).into_owned(),
            },
            Failure::Upstream(connector::Error::OverBudget { .. }) => Event::ActionDenied {
                call_id: call_id.to_owned(),
                proposal_id,
                tool: tool.name.into(),
                action: action.name.into(),
                reason: DenialReason::OverBudget,
                detail: self.redactor.text(&error.message).into_owned(),
            },
            Failure::Upstream(connector::Error::NotConfigured { .. })
            | Failure::NotConfigured { .. } => Event::ActionDenied {
                call_id: call_id.to_owned(),
                proposal_id,
                tool: tool.name.into(),
                action: action.name.into(),
                reason: DenialReason::NotConfigured,
                detail: self.redactor.text(&error.message).into_owned(),
            },
            _ => Event::ActionFailed {
                call_id: call_id.to_owned(),
                proposal_id,
                error: error.kind.clone(),
                message: self.redactor.text(&error.message).into_owned(),
                status: error.status,
            },
        };
        if let Err(e) = self.append(caller, event).await {
            return log_unavailable(&e);
        }
        ToolOutcome::Error { error }
    }
}

fn actions_table(tool: &Tool) -> ToolOutcome {
    ToolOutcome::Actions {
        tool: tool.name.into(),
        description: tool.description.into(),
        actions: tool.actions.iter().map(Action::info).collect(),
    }
}

fn help(tool: &Tool, params: Value) -> ToolOutcome {
    let wanted = match catalog::parse::<HelpParams>(params) {
        Ok(p) => p.for_action,
        Err(_) => return actions_table(tool),
    };
    match tool.action(&wanted) {
        Some(action) => ToolOutcome::Help(Box::new(tool.help(action))),
        None => tool_error(
            "unknown_action",
            format!("{} has no action {wanted:?}", tool.name),
            "Call the tool without an action for its table.",
        ),
    }
}

/// The record a POST created, from its answer's `id` and the collection it was posted to.
fn created_record(request: &UpstreamRequest, result: &Value) -> Option<RecordRef> {
    if request.method != "POST" {
        return None;
    }
    let id = result.get("id")?;
    let collection = request.path.rsplit('/').next().unwrap_or_default();
    let kind = match collection {
        "tickets" => "ticket",
        "notes" => "ticket_note",
        "entries" => "time_entry",
        other => other,
    };
    Some(RecordRef {
        kind: kind.to_owned(),
        id: match id {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dispositions_follow_mode_risk_and_confirm() {
        use Disposition::*;
        let cases = [
            (Mode::Enforce, Risk::Write, false, Previewed),
            (Mode::Enforce, Risk::Write, true, Accepted),
            (Mode::Enforce, Risk::Hard, false, Previewed),
            (Mode::Enforce, Risk::Hard, true, PendingApproval),
            (Mode::Observe, Risk::Write, true, RecordedForReview),
            (Mode::Observe, Risk::Hard, true, RecordedForReview),
            (Mode::Observe, Risk::Write, false, Previewed),
            (Mode::DryRun, Risk::Write, true, DryRun),
            (Mode::DryRun, Risk::Hard, true, DryRun),
        ];
        for (mode, risk, confirm, expected) in cases {
            assert_eq!(
                disposition(mode, risk, confirm),
                expected,
                "{mode:?} {risk:?} confirm={confirm}"
            );
        }
    }

    #[test]
    fn the_digest_covers_params_and_the_exact_request() {
        let request = UpstreamRequest {
            product: "manage".into(),
            method: "PATCH".into(),
            path: "/service/tickets/1".into(),
            body: Some(json!([{"op": "replace", "path": "/priority/id", "value": 2}])),
        };
        let a = action_digest(
            "cw_tickets",
            "update",
            &json!({"id": 1, "priority_id": 2}),
            &request,
        );
        // Key order does not matter; any change of meaning does.
        let same = action_digest(
            "cw_tickets",
            "update",
            &json!({"priority_id": 2, "id": 1}),
            &request,
        );
        assert_eq!(a, same);
        let mut other = request.clone();
        other.body = Some(json!([{"op": "replace", "path": "/priority/id", "value": 3}]));
        assert_ne!(
            a,
            action_digest(
                "cw_tickets",
                "update",
                &json!({"id": 1, "priority_id": 2}),
                &other
            )
        );
        assert_ne!(
            a,
            action_digest(
                "cw_tickets",
                "assign",
                &json!({"id": 1, "priority_id": 2}),
                &request
            )
        );
        assert_eq!(a.len(), 64);
    }
}
