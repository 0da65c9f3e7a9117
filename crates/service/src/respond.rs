//! Response automation over the store: alerts evaluated against the response workflows, requests
//! by hand, approvals by a second person, runs carried out once, holds rolled back when they end,
//! what happened to an alert's actions, and a dry replay of stored alerts.
//!
//! Every evaluation is recorded (fired, stopped by which guard, awaiting approval, a duplicate, a
//! dry run, skipped by a step's condition, or an error such as an alert without the target's field),
//! and every run goes through the store's states, so a process killed at any point leaves a run
//! that the next [`tick`] finishes exactly once: a run approved but not started is simply run; one
//! cut off mid-run is sent again only through a connector whose receiver dedupes (a webhook's id, a
//! set's element), and is otherwise failed with why.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::Arc;

use secops_case::vocabulary::Pap;
use secops_intel::warninglist::Warninglists;
use secops_intel::Tlp;
use secops_respond::action::{severity_rank, ActionDef};
use secops_respond::connector::{deliver, Operation, Prepare};
use secops_respond::template::Context;
use secops_respond::{Config, Guarded, NeverAct, Secrets, Subject, Target, TargetKind, Trigger};
use secops_store::{
    AlertRecord, CaseRecord, Decision, NewResponseRun, ResponseEvaluation, ResponseFilter,
    ResponseRun, Store,
};
use serde::Serialize;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::{Actor, ActorKind, Cancel, Clock, ServiceError};

/// Where a responder's parts come from.
#[derive(Debug, Clone, Default)]
pub struct ResponderSources {
    /// `respond.toml`, or a folder of TOML files.
    pub config: PathBuf,
    /// The connectors' secrets (a file only its owner may read).
    pub secrets: Option<PathBuf>,
    /// MISP warninglists (a folder of `list.json` files).
    pub warninglists: Option<PathBuf>,
    /// The asset and identity inventory (own networks, hosts, VIP accounts).
    pub inventory: Vec<PathBuf>,
}

/// Everything a response decision needs: the configuration, the never-act lists and the secrets.
#[derive(Debug, Clone)]
pub struct Responder {
    pub config: Config,
    pub guards: NeverAct,
    pub secrets: Secrets,
}

fn respond_error(e: secops_respond::RespondError) -> ServiceError {
    ServiceError::invalid("respond", e)
}

impl Responder {
    pub fn load(sources: &ResponderSources) -> Result<Responder, ServiceError> {
        let config = Config::load(&sources.config).map_err(respond_error)?;
        let secrets = match &sources.secrets {
            Some(path) => Secrets::load(path).map_err(respond_error)?,
            None => Secrets::default(),
        };
        let lists = match &sources.warninglists {
            Some(dir) => Some(Arc::new(Warninglists::load(dir)?.0)),
            None => None,
        };
        let inventory = if sources.inventory.is_empty() {
            None
        } else {
            Some(crate::entities::load_inventories(&sources.inventory)?)
        };
        Responder::new(config, secrets, lists, inventory.as_ref())
    }

    /// A responder from parts already read.
    pub fn new(
        config: Config,
        secrets: Secrets,
        warninglists: Option<Arc<Warninglists>>,
        inventory: Option<&secops_entity::Inventory>,
    ) -> Result<Responder, ServiceError> {
        let mut guards = NeverAct::new();
        guards
            .allow(&config.guards.allow)
            .map_err(|m| ServiceError::invalid("[guards] allow", m))?;
        guards
            .never(&config.guards.never)
            .map_err(|m| ServiceError::invalid("[guards] never", m))?;
        if let Some(lists) = warninglists {
            guards.warninglists(lists);
        }
        if let Some(inventory) = inventory {
            guards.inventory(inventory);
        }
        Ok(Responder {
            config,
            guards,
            secrets,
        })
    }

    /// Secrets the connectors name that the secrets file does not hold: (connector, secret).
    pub fn missing_secrets(&self) -> Vec<(String, String)> {
        self.config
            .connectors
            .values()
            .flat_map(|c| {
                c.secrets()
                    .into_iter()
                    .filter(|s| !self.secrets.contains(s))
                    .map(|s| (c.name().to_string(), s.to_string()))
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    fn action(&self, id: &str) -> Result<&ActionDef, ServiceError> {
        self.config
            .actions
            .get(id)
            .ok_or_else(|| ServiceError::Missing(format!("no response action {id:?}")))
    }
}

/// What became of one action for one alert, case or request.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Evaluated {
    pub workflow: Option<String>,
    pub action: String,
    pub target: Option<String>,
    /// `fired` (queued to run), `awaiting_approval`, `stopped` (by `guard`), `duplicate` (run
    /// before for this alert), `in_effect` (a run of the action already holds the target),
    /// `dry_run`, `skipped` (a step's condition), `error`.
    pub outcome: String,
    pub guard: Option<String>,
    pub detail: String,
    #[serde(skip)]
    pub run: Option<ResponseRun>,
}

/// An alert's or a case's values for templates: the alert's document, its first event and its
/// record (`alert.id` is the store's id), the case's fields, the target.
fn context_for(alert: Option<&AlertRecord>, case: Option<&CaseRecord>, target: &Target) -> Context {
    let mut context = Context::new();
    if let Some(a) = alert {
        let doc: Value = serde_json::from_str(&a.document).unwrap_or(Value::Null);
        let first_event = doc
            .get("events")
            .and_then(|e| e.get(0))
            .cloned()
            .unwrap_or(Value::Null);
        context.add("alert", doc).add("alert", first_event).add(
            "alert",
            json!({"id": a.id, "severity": a.severity, "rule_id": a.rule_id,
                       "rule_name": a.rule_name, "group_key": a.group_key,
                       "event_count": a.event_count, "case_id": a.case_id}),
        );
    }
    if let Some(c) = case {
        context.add(
            "case",
            json!({"number": c.number, "title": c.title, "severity": c.severity,
                   "tlp": c.tlp, "pap": c.pap, "state": c.state}),
        );
    }
    context.add("target", Value::String(target.value.clone()));
    context.add(
        "target_kind",
        Value::String(target.kind.as_str().to_string()),
    );
    context
}

/// The receiver's deduplication id of a run: the same for every retry and restart.
fn delivery_id(run_key: &str) -> String {
    let digest = Sha256::digest(run_key.as_bytes());
    let hex: String = digest.iter().take(12).map(|b| format!("{b:02x}")).collect();
    format!("msg_{hex}")
}

/// What a run is about.
struct About<'a> {
    action: &'a ActionDef,
    target: Target,
    alert: Option<&'a AlertRecord>,
    case: Option<&'a CaseRecord>,
    workflow: Option<&'a str>,
    /// None: by hand.
    severity: Option<u8>,
    dry_run: bool,
    run_key: String,
}

fn tlp_pap_guard(action: &ActionDef, case: Option<&CaseRecord>) -> Option<Guarded> {
    let case = case?;
    let tlp = Tlp::parse(&case.tlp);
    let pap = Pap::parse(&case.pap);
    if pap == Some(Pap::Red) {
        return Some(Guarded::new(
            "pap",
            format!("case {} is PAP:RED (no active action)", case.number),
        ));
    }
    if let (Some(max), Some(tlp)) = (action.max_tlp, tlp) {
        if tlp > max {
            return Some(Guarded::new(
                "tlp",
                format!(
                    "case {} is TLP:{tlp}, above the action's {max}",
                    case.number
                ),
            ));
        }
    }
    if let (Some(max), Some(pap)) = (action.max_pap, pap) {
        if pap > max {
            return Some(Guarded::new(
                "pap",
                format!(
                    "case {} is PAP:{pap}, above the action's {max}",
                    case.number
                ),
            ));
        }
    }
    None
}

/// Rate limits and the circuit breaker, from the store's counts.
fn limit_guard(
    store: &mut Store,
    action: &ActionDef,
    target: &Target,
    now: i64,
) -> Result<(Option<Guarded>, u64), ServiceError> {
    let action_window = action.rate_per_action.as_ref().map_or(0, |r| r.per_ns);
    let target_window = action.rate_per_target.as_ref().map_or(0, |r| r.per_ns);
    let counts = store.response_counts(
        &action.id,
        target.kind.as_str(),
        &target.value,
        now - action_window,
        now - target_window,
        action.circuit.failures,
    )?;
    let successes = counts.target_successes;
    let stopped = |guard: &str, detail: String| Ok((Some(Guarded::new(guard, detail)), successes));
    if let Some(rate) = &action.rate_per_action {
        if counts.action_runs >= u64::from(rate.count) {
            let runs = counts.action_runs;
            return stopped(
                "rate limit",
                format!("{runs} runs of {} within {}", action.id, rate.text),
            );
        }
    }
    if let Some(rate) = &action.rate_per_target {
        if counts.target_runs >= u64::from(rate.count) {
            let runs = counts.target_runs;
            return stopped(
                "rate limit",
                format!("{runs} runs on {target} within {}", rate.text),
            );
        }
    }
    let failures = counts
        .latest_outcomes
        .iter()
        .take_while(|(state, _)| state == "failed")
        .count();
    if failures as u64 >= u64::from(action.circuit.failures) {
        let last = counts.latest_outcomes.first().map_or(0, |(_, at)| *at);
        if now - last < action.circuit.cooldown_ns {
            return stopped(
                "circuit breaker",
                format!(
                    "{failures} failed runs in a row; closed again {} s after the last",
                    action.circuit.cooldown_ns / secops_respond::SECOND
                ),
            );
        }
    }
    Ok((None, counts.target_successes))
}

/// Decides and records one action for one target.
fn plan(
    store: &mut Store,
    responder: &Responder,
    about: About<'_>,
    actor: &Actor,
    now: i64,
) -> Result<Evaluated, ServiceError> {
    let action = about.action;
    let target_text = about.target.to_string();
    let evaluated = |outcome: &str, guard: Option<&Guarded>, detail: String| Evaluated {
        workflow: about.workflow.map(str::to_string),
        action: action.id.clone(),
        target: Some(target_text.clone()),
        outcome: outcome.to_string(),
        guard: guard.map(|g| g.guard.clone()),
        detail,
        run: None,
    };
    // An action that holds (it has an inverse) is not run again on a target it already holds or
    // is about to: the alert is noted against the run in effect.
    if action.inverse.is_some() && !about.dry_run {
        if let Some(active) =
            store.active_response(&action.id, about.target.kind.as_str(), &about.target.value)?
        {
            let mut e = evaluated(
                "in_effect",
                None,
                format!(
                    "run {} ({}) already holds {}",
                    active.id, active.state, about.target
                ),
            );
            e.run = Some(active);
            return Ok(e);
        }
    }
    let guard = match responder
        .guards
        .check(&about.target)
        .or_else(|| tlp_pap_guard(action, about.case))
    {
        Some(g) => Some((g, 0)),
        None => {
            let (limit, successes) = limit_guard(store, action, &about.target, now)?;
            match limit {
                Some(g) => Some((g, successes)),
                None => {
                    return queue(store, responder, about, successes, actor, now);
                }
            }
        }
    };
    let (g, _) = guard.ok_or_else(|| ServiceError::Missing("no guard".into()))?;
    Ok(evaluated("stopped", Some(&g), g.detail.clone()))
}

/// Records the run (queued, awaiting approval, or a dry run with its request).
fn queue(
    store: &mut Store,
    responder: &Responder,
    about: About<'_>,
    earlier_successes: u64,
    actor: &Actor,
    now: i64,
) -> Result<Evaluated, ServiceError> {
    let action = about.action;
    let dry_run = about.dry_run || action.dry_run_only;
    let hold_ns = action.duration_for(earlier_successes);
    let mut context = context_for(about.alert, about.case, &about.target);
    context.add(
        "run",
        json!({"alert": about.alert.map(|a| a.id), "case": about.case.map(|c| c.number),
               "workflow": about.workflow, "requested_by": actor.name}),
    );
    let connector = responder
        .config
        .connectors
        .get(&action.connector)
        .ok_or_else(|| ServiceError::Missing(format!("no connector {:?}", action.connector)))?;
    let run_key = if dry_run {
        format!("{}/dry-run/{now}", about.run_key)
    } else {
        about.run_key.clone()
    };
    let prepared = connector.prepare(&Prepare {
        action,
        operation: Operation::Do,
        target: &about.target,
        context: &context,
        delivery_id: &delivery_id(&run_key),
        at_unix: now / secops_respond::SECOND,
        secrets: &responder.secrets,
    });
    let request = match prepared {
        Ok(r) => serde_json::to_string(&r).unwrap_or_default(),
        Err(e) => {
            return Ok(Evaluated {
                workflow: about.workflow.map(str::to_string),
                action: action.id.clone(),
                target: Some(about.target.to_string()),
                outcome: "error".into(),
                guard: None,
                detail: responder.secrets.mask(&e.to_string()),
                run: None,
            })
        }
    };
    let needs_approval = !dry_run && (action.needs_approval(about.severity));
    let state = if dry_run {
        "dry_run"
    } else if needs_approval {
        "awaiting_approval"
    } else {
        "queued"
    };
    let new = NewResponseRun {
        run_key,
        action_id: action.id.clone(),
        operation: "do".into(),
        target_kind: about.target.kind.as_str().into(),
        target: about.target.value.clone(),
        alert_id: about.alert.map(|a| a.id),
        case_number: about.case.map(|c| c.number),
        workflow: about.workflow.map(str::to_string),
        state: state.into(),
        dry_run,
        requested_by: actor.name.clone(),
        approval_due: needs_approval.then(|| now + responder.config.guards.approval_ns),
        request: Some(request),
        hold_ns,
        rollback_of: None,
    };
    let (run, fresh) = store.add_response_run(&new, &actor.name, now)?;
    let (outcome, detail) = if !fresh {
        (
            "duplicate",
            format!("run {} ({}) already made for this", run.id, run.state),
        )
    } else {
        let hold = hold_ns.map_or(String::new(), |h| format!(", held {}", human_duration(h)));
        match state {
            "dry_run" => (
                "dry_run",
                format!("run {}: the request it would send{hold}", run.id),
            ),
            "awaiting_approval" => (
                "awaiting_approval",
                format!("run {} waits for another user's approval{hold}", run.id),
            ),
            _ => ("fired", format!("run {} queued{hold}", run.id)),
        }
    };
    Ok(Evaluated {
        workflow: about.workflow.map(str::to_string),
        action: action.id.clone(),
        target: Some(about.target.to_string()),
        outcome: outcome.into(),
        guard: None,
        detail,
        run: Some(run),
    })
}

fn human_duration(ns: i64) -> String {
    let s = ns / secops_respond::SECOND;
    match s {
        s if s % 86_400 == 0 => format!("{} d", s / 86_400),
        s if s % 3600 == 0 => format!("{} h", s / 3600),
        s if s % 60 == 0 => format!("{} min", s / 60),
        s => format!("{s} s"),
    }
}

fn record(
    store: &mut Store,
    e: &Evaluated,
    alert: Option<i64>,
    case: Option<i64>,
    now: i64,
) -> Result<(), ServiceError> {
    store.add_response_evaluation(&ResponseEvaluation {
        id: 0,
        at: now,
        alert_id: alert,
        case_number: case,
        workflow: e.workflow.clone(),
        action_id: e.action.clone(),
        target: e.target.clone(),
        outcome: e.outcome.clone(),
        guard: e.guard.clone(),
        detail: e.detail.clone(),
        run_id: e.run.as_ref().map(|r| r.id),
    })?;
    Ok(())
}

/// The tags a workflow's `tags` are matched against: the rule's own tags (`rule.tags`), the
/// alert's ATT&CK tactics and techniques, and the labels analysts gave it.
fn alert_tags(alert: &AlertRecord) -> Vec<String> {
    let doc: Value = serde_json::from_str(&alert.document).unwrap_or(Value::Null);
    let mut tags: Vec<String> = ["rule.tags", "threat.tactic.id", "threat.technique.id"]
        .iter()
        .filter_map(|k| doc.get(*k).and_then(Value::as_array))
        .flatten()
        .filter_map(|v| v.as_str().map(str::to_string))
        .collect();
    tags.extend(alert.tags.iter().cloned());
    tags
}

/// What a workflow is matched against for an alert (`tags` from [`alert_tags`]).
fn subject_of<'a>(alert: &'a AlertRecord, tags: &'a [String]) -> Subject<'a> {
    Subject {
        rule_id: &alert.rule_id,
        rule_name: &alert.rule_name,
        severity: &alert.severity,
        tags: tags.iter().map(String::as_str).collect(),
    }
}

/// Why a workflow step has no target for an alert.
enum NoTarget {
    /// A condition of the step does not hold (the field it reads).
    Condition(String),
    /// The target's field is missing or is not a value of the action's kind.
    Unusable(String),
}

/// A workflow step's target for an alert (and its case): the step's conditions checked, the
/// action's `target_value` rendered and checked as its kind.
fn step_target(
    action: &ActionDef,
    step: &secops_respond::WorkflowStep,
    alert: &AlertRecord,
    case: Option<&CaseRecord>,
) -> Result<Target, NoTarget> {
    let placeholder = Target {
        kind: action.target,
        value: String::new(),
    };
    let context = context_for(Some(alert), case, &placeholder);
    if let Some(c) = step.when.iter().find(|c| !c.holds(&context)) {
        return Err(NoTarget::Condition(c.field.clone()));
    }
    let raw = action
        .target_value
        .render_text(&context)
        .map_err(|e| NoTarget::Unusable(format!("no target: {e}")))?;
    Target::parse(action.target, &raw).map_err(|e| NoTarget::Unusable(e.to_string()))
}

/// What one trigger is: which alert, which case, how it started.
fn trigger_of(alert: &AlertRecord) -> Trigger {
    if alert.rule_id == crate::vulns::BREACH_RULE {
        Trigger::VulnSla
    } else {
        Trigger::Alert
    }
}

/// Evaluates an alert against the workflows its rule, tags and severity start; records every
/// evaluation. The case, when the alert is on one, sets the TLP and PAP ceilings.
pub fn evaluate_alert(
    store: &mut Store,
    responder: &Responder,
    alert: &AlertRecord,
    actor: &Actor,
    clock: &dyn Clock,
) -> Result<Vec<Evaluated>, ServiceError> {
    let now = clock.now().unix_nanos();
    let case = case_of(store, alert)?;
    let tags = alert_tags(alert);
    let subject = subject_of(alert, &tags);
    let mut out = Vec::new();
    for workflow in responder.config.workflows_for(trigger_of(alert), &subject) {
        for step in &workflow.steps {
            let action = responder.action(&step.action)?;
            let e = evaluate_step(
                store,
                responder,
                action,
                workflow,
                step,
                alert,
                case.as_ref(),
                actor,
                now,
            )?;
            record(
                store,
                &e,
                Some(alert.id),
                case.as_ref().map(|c| c.number),
                now,
            )?;
            out.push(e);
        }
    }
    Ok(out)
}

fn case_of(store: &mut Store, alert: &AlertRecord) -> Result<Option<CaseRecord>, ServiceError> {
    match alert.case_id {
        Some(case_id) => Ok(Some(store.case_by_id(case_id)?)),
        None => Ok(None),
    }
}

/// The evaluation of a step that has no target for an alert: `skipped` when a condition does not
/// hold, `error` when the target's field is missing or unusable.
fn no_target(workflow: &secops_respond::Workflow, action: &ActionDef, no: NoTarget) -> Evaluated {
    let (outcome, detail) = match no {
        NoTarget::Condition(field) => {
            ("skipped", format!("the condition on {field} does not hold"))
        }
        NoTarget::Unusable(why) => ("error", why),
    };
    Evaluated {
        workflow: Some(workflow.id.clone()),
        action: action.id.clone(),
        target: None,
        outcome: outcome.into(),
        guard: None,
        detail,
        run: None,
    }
}

#[allow(clippy::too_many_arguments)]
fn evaluate_step(
    store: &mut Store,
    responder: &Responder,
    action: &ActionDef,
    workflow: &secops_respond::Workflow,
    step: &secops_respond::WorkflowStep,
    alert: &AlertRecord,
    case: Option<&CaseRecord>,
    actor: &Actor,
    now: i64,
) -> Result<Evaluated, ServiceError> {
    let target = match step_target(action, step, alert, case) {
        Ok(t) => t,
        Err(no) => return Ok(no_target(workflow, action, no)),
    };
    let run_key = format!("{}|{}|alert:{}", action.id, target, alert.id);
    plan(
        store,
        responder,
        About {
            action,
            target,
            alert: Some(alert),
            case,
            workflow: Some(&workflow.id),
            severity: Some(severity_rank(&alert.severity).unwrap_or(0)),
            dry_run: false,
            run_key,
        },
        actor,
        now,
    )
}

/// A request by hand (`secops respond run`, the console).
#[derive(Debug, Clone, Default)]
pub struct HandRequest {
    pub action: String,
    /// The target's value (its kind is the action's).
    pub target: String,
    pub alert_id: Option<i64>,
    pub case_number: Option<i64>,
    /// Only build the request and record it, send nothing.
    pub dry_run: bool,
}

/// Requests an action by hand: the same guards as automatic runs; approval as the action says
/// (an action approved by severity waits whenever no alert gives one).
pub fn request(
    store: &mut Store,
    responder: &Responder,
    hand: &HandRequest,
    actor: &Actor,
    clock: &dyn Clock,
) -> Result<Evaluated, ServiceError> {
    let now = clock.now().unix_nanos();
    let action = responder.action(&hand.action)?;
    if action.undoes.is_some() {
        return Err(ServiceError::invalid(
            "action",
            format!(
                "{} is an inverse: roll back the run it undoes instead",
                action.id
            ),
        ));
    }
    let target = Target::parse(action.target, &hand.target)
        .map_err(|e| ServiceError::invalid("target", e))?;
    let alert = hand.alert_id.map(|id| store.alert(id)).transpose()?;
    let case = match hand.case_number {
        Some(n) => Some(store.case(n)?),
        None => match &alert {
            Some(a) => case_of(store, a)?,
            None => None,
        },
    };
    let run_key = match &alert {
        Some(a) => format!("{}|{}|alert:{}", action.id, target, a.id),
        None => format!("{}|{}|hand:{}:{now}", action.id, target, actor.name),
    };
    let e = plan(
        store,
        responder,
        About {
            action,
            target,
            alert: alert.as_ref(),
            case: case.as_ref(),
            workflow: None,
            severity: alert.as_ref().and_then(|a| severity_rank(&a.severity)),
            dry_run: hand.dry_run,
            run_key,
        },
        actor,
        now,
    )?;
    record(
        store,
        &e,
        alert.as_ref().map(|a| a.id),
        case.as_ref().map(|c| c.number),
        now,
    )?;
    Ok(e)
}

/// Approves or rejects a run awaiting approval. The approver is a person (not a key or the
/// platform) other than the requester.
pub fn decide(
    store: &mut Store,
    id: i64,
    decision: Decision,
    note: Option<&str>,
    actor: &Actor,
    clock: &dyn Clock,
) -> Result<ResponseRun, ServiceError> {
    let run = store.response_run(id)?;
    if decision == Decision::Approve {
        if actor.kind != ActorKind::User {
            return Err(ServiceError::invalid(
                "approver",
                "approvals are given by a signed-in person",
            ));
        }
        if actor.name == run.requested_by {
            return Err(ServiceError::invalid(
                "approver",
                format!(
                    "{} requested run {id} and cannot approve it: another user must",
                    actor.name
                ),
            ));
        }
    }
    if let Some(n) = note {
        if n.chars().count() > 2000 {
            return Err(ServiceError::invalid("note", "at most 2,000 characters"));
        }
    }
    Ok(store.decide_response(id, decision, &actor.name, note, clock.now().unix_nanos())?)
}

/// What one pass of the scheduler did.
#[derive(Debug, Clone, Default)]
pub struct Tick {
    /// Requests nobody decided in time.
    pub expired: Vec<ResponseRun>,
    /// Runs cut off mid-run by a stopped process: queued again or failed.
    pub recovered: Vec<ResponseRun>,
    /// Runs carried out (inverse runs by rollback too), finished.
    pub ran: Vec<ResponseRun>,
    /// Problems that stopped a run before it was sent (a missing action, a secret).
    pub errors: Vec<String>,
}

/// How [`tick`] treats runs left `running`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recover {
    /// Only those running longer than their action could (timeout, retries and backoff) plus a
    /// minute: another process may be running the rest.
    Stale,
    /// All of them: this process has just started and is the only one that runs responses.
    All,
}

fn longest_run_ns(action: Option<&ActionDef>) -> i64 {
    let s = secops_respond::SECOND;
    match action {
        Some(a) => {
            let tries = i64::from(a.retries) + 1;
            let backoff = a.backoff_ns.saturating_mul((1i64 << a.retries.min(20)) - 1);
            a.timeout_ns.saturating_mul(tries).saturating_add(backoff) + 60 * s
        }
        None => 60 * s,
    }
}

/// One pass: approvals past due expire, runs cut off are recovered, holds that ended get their
/// inverse run, and every runnable run is carried out (claimed first: one process runs it).
pub fn tick(
    store: &mut Store,
    responder: &Responder,
    recover: Recover,
    actor: &Actor,
    clock: &dyn Clock,
    cancel: &Cancel,
) -> Result<Tick, ServiceError> {
    let mut tick = Tick::default();
    let now = clock.now().unix_nanos();
    tick.expired = store.expire_responses(now, &actor.name)?;
    for run in store.interrupted_responses()? {
        let action = responder.config.actions.get(&run.action_id);
        let stale = run
            .started_at
            .is_none_or(|s| now - s > longest_run_ns(action));
        if recover == Recover::Stale && !stale {
            continue;
        }
        let idempotent = action
            .and_then(|a| responder.config.connectors.get(&a.connector))
            .is_some_and(|c| c.idempotent());
        let note = if idempotent {
            json!({"status": "interrupted", "response": "cut off mid-run: sent again (the receiver dedupes)"})
        } else {
            json!({"status": "interrupted", "response": "cut off mid-run: whether it took effect is unknown; check, then run it again by hand"})
        };
        tick.recovered.push(store.recover_response(
            run.id,
            idempotent,
            &note.to_string(),
            &actor.name,
            now,
        )?);
    }
    for due in store.rollbacks_due(now)? {
        let Some(inverse) = responder
            .config
            .actions
            .get(&due.action_id)
            .and_then(|a| a.inverse.clone())
        else {
            tick.errors.push(format!(
                "run {}: action {} has no inverse configured now; it cannot be rolled back",
                due.id, due.action_id
            ));
            continue;
        };
        store.add_response_run(
            &NewResponseRun {
                run_key: format!("{}/undo", due.run_key),
                action_id: inverse,
                operation: "undo".into(),
                target_kind: due.target_kind.clone(),
                target: due.target.clone(),
                alert_id: due.alert_id,
                case_number: due.case_number,
                workflow: due.workflow.clone(),
                state: "queued".into(),
                dry_run: false,
                requested_by: actor.name.clone(),
                approval_due: None,
                request: None,
                hold_ns: None,
                rollback_of: Some(due.id),
            },
            &actor.name,
            now,
        )?;
    }
    for id in store.runnable_responses()? {
        if cancel.is_cancelled() {
            break;
        }
        match carry_out(store, responder, id, actor, clock) {
            Ok(Some(run)) => tick.ran.push(run),
            Ok(None) => {}
            Err(e) => tick.errors.push(format!(
                "run {id}: {}",
                responder.secrets.mask(&e.to_string())
            )),
        }
    }
    Ok(tick)
}

/// Rolls a succeeded run back now (by hand), through its action's inverse.
pub fn roll_back(
    store: &mut Store,
    responder: &Responder,
    id: i64,
    actor: &Actor,
    clock: &dyn Clock,
) -> Result<ResponseRun, ServiceError> {
    let now = clock.now().unix_nanos();
    let run = store.response_run(id)?;
    if run.state != "succeeded" || run.operation != "do" {
        return Err(ServiceError::invalid(
            "run",
            format!(
                "run {id} is {} ({}): only a succeeded run is rolled back",
                run.state, run.operation
            ),
        ));
    }
    let inverse = responder
        .action(&run.action_id)?
        .inverse
        .clone()
        .ok_or_else(|| {
            ServiceError::invalid("run", format!("action {} has no inverse", run.action_id))
        })?;
    let (undo, _) = store.add_response_run(
        &NewResponseRun {
            run_key: format!("{}/undo", run.run_key),
            action_id: inverse,
            operation: "undo".into(),
            target_kind: run.target_kind.clone(),
            target: run.target.clone(),
            alert_id: run.alert_id,
            case_number: run.case_number,
            workflow: run.workflow.clone(),
            state: "queued".into(),
            dry_run: false,
            requested_by: actor.name.clone(),
            approval_due: None,
            request: None,
            hold_ns: None,
            rollback_of: Some(run.id),
        },
        &actor.name,
        now,
    )?;
    match carry_out(store, responder, undo.id, actor, clock)? {
        Some(done) => Ok(done),
        None => Ok(store.response_run(undo.id)?),
    }
}

/// Claims, sends and finishes one run; `None` when another process claimed it first.
fn carry_out(
    store: &mut Store,
    responder: &Responder,
    id: i64,
    actor: &Actor,
    clock: &dyn Clock,
) -> Result<Option<ResponseRun>, ServiceError> {
    let run = store.response_run(id)?;
    let now = clock.now().unix_nanos();
    let fail = |store: &mut Store, why: String| -> Result<Option<ResponseRun>, ServiceError> {
        let response = json!({"status": "not sent", "response": why}).to_string();
        match store.claim_response(id, "null", &actor.name, now)? {
            Some(_) => Ok(Some(store.finish_response(
                id,
                false,
                &response,
                None,
                &actor.name,
                now,
            )?)),
            None => Ok(None),
        }
    };
    let Some(action) = responder.config.actions.get(&run.action_id) else {
        return fail(
            store,
            format!("action {} is no longer configured", run.action_id),
        );
    };
    let Some(connector) = responder.config.connectors.get(&action.connector) else {
        return fail(
            store,
            format!("connector {} is no longer configured", action.connector),
        );
    };
    let kind = TargetKind::parse(&run.target_kind).unwrap_or(action.target);
    let target = match Target::parse(kind, &run.target) {
        Ok(t) => t,
        Err(e) => return fail(store, e.to_string()),
    };
    let operation = if run.operation == "undo" {
        Operation::Undo
    } else {
        Operation::Do
    };
    // The never-act lists are checked again: they may have changed while the run waited. An
    // inverse run lifts what was done, and is never stopped.
    if operation == Operation::Do {
        if let Some(g) = responder.guards.check(&target) {
            return fail(store, format!("stopped by {}: {}", g.guard, g.detail));
        }
    }
    let alert = run.alert_id.and_then(|a| store.alert(a).ok());
    let case = match run.case_number {
        Some(n) => store.case(n).ok(),
        None => None,
    };
    let mut context = context_for(alert.as_ref(), case.as_ref(), &target);
    context.add(
        "run",
        json!({"id": run.id, "alert": run.alert_id, "case": run.case_number,
               "workflow": run.workflow, "requested_by": run.requested_by}),
    );
    let request = match connector.prepare(&Prepare {
        action,
        operation,
        target: &target,
        context: &context,
        delivery_id: &delivery_id(&run.run_key),
        at_unix: now / secops_respond::SECOND,
        secrets: &responder.secrets,
    }) {
        Ok(r) => r,
        Err(e) => return fail(store, responder.secrets.mask(&e.to_string())),
    };
    let request_json = serde_json::to_string(&request).unwrap_or_default();
    if store
        .claim_response(id, &request_json, &actor.name, now)?
        .is_none()
    {
        return Ok(None);
    }
    fault_point("claimed");
    let delivery = deliver(connector, &request, &responder.secrets, action);
    fault_point("sent");
    let ended = clock.now().unix_nanos();
    let rollback_at = run.hold_ns.map(|h| ended.saturating_add(h));
    let response = serde_json::to_string(&delivery).unwrap_or_default();
    Ok(Some(store.finish_response(
        id,
        delivery.ok,
        &response,
        rollback_at,
        &actor.name,
        ended,
    )?))
}

/// Test fault injection: `SECOPS_RESPOND_FAULT=claimed` (or `sent`) ends the process at once
/// there, as a kill -9 would, so the tests can check that a restart runs the action once.
fn fault_point(point: &str) {
    if std::env::var("SECOPS_RESPOND_FAULT").is_ok_and(|f| f == point) {
        std::process::abort();
    }
}

/// What happened to an alert's actions.
#[derive(Debug, Clone, Default)]
pub struct Why {
    pub alert: Option<AlertRecord>,
    pub evaluations: Vec<ResponseEvaluation>,
    pub runs: Vec<ResponseRun>,
}

pub fn why(store: &mut Store, alert_id: i64) -> Result<Why, ServiceError> {
    let alert = store.alert(alert_id)?;
    let evaluations = store.response_evaluations(alert_id)?;
    let mut runs = store.response_runs(&ResponseFilter {
        alert_id: Some(alert_id),
        ..ResponseFilter::default()
    })?;
    runs.reverse();
    Ok(Why {
        alert: Some(alert),
        evaluations,
        runs,
    })
}

/// Runs, newest first.
pub fn runs(store: &mut Store, filter: &ResponseFilter) -> Result<Vec<ResponseRun>, ServiceError> {
    Ok(store.response_runs(filter)?)
}

/// Alerts read per page by the evaluator and the simulation.
const PAGE: u32 = 500;

/// Where an evaluator that has never looked starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FirstLook {
    /// Every alert in the store (an evaluation asked for by hand).
    Oldest,
    /// Only alerts recorded from now on (`secops run`: turning automation on never acts on a
    /// store's past).
    Newest,
}

/// Evaluates the alerts recorded since the evaluator `name` last looked (by id), then moves it on.
/// Returns how many alerts were read and what was decided.
pub fn evaluate_new_alerts(
    store: &mut Store,
    responder: &Responder,
    name: &str,
    first: FirstLook,
    actor: &Actor,
    clock: &dyn Clock,
    cancel: &Cancel,
) -> Result<(u64, Vec<Evaluated>), ServiceError> {
    let mut after = match (store.response_cursor_if_any(name)?, first) {
        (Some(at), _) => at,
        (None, FirstLook::Oldest) => 0,
        (None, FirstLook::Newest) => {
            let newest = store.last_alert_id()?;
            store.set_response_cursor(name, newest, clock.now().unix_nanos())?;
            return Ok((0, Vec::new()));
        }
    };
    let mut read = 0u64;
    let mut out = Vec::new();
    loop {
        let page = store.alerts_after_id(after, None, PAGE)?;
        let Some(last) = page.last().map(|a| a.id) else {
            break;
        };
        for alert in &page {
            out.extend(evaluate_alert(store, responder, alert, actor, clock)?);
            read += 1;
        }
        after = last;
        store.set_response_cursor(name, after, clock.now().unix_nanos())?;
        if cancel.is_cancelled() || (page.len() as u32) < PAGE {
            break;
        }
    }
    Ok((read, out))
}

/// Alerts of a case a case workflow takes its targets from, at most.
const CASE_ALERTS: usize = 1000;

/// Evaluates a case that moved to `state` against the workflows `on = "case"` (their
/// `case_states`, `min_severity` against the case's severity, `rules` against its alerts' rules):
/// each step once per distinct target its alerts give (a case's sources blocked when it reaches
/// containment). Every evaluation is recorded, on the alert the target came from and the case.
pub fn evaluate_case_move(
    store: &mut Store,
    responder: &Responder,
    number: i64,
    state: &str,
    actor: &Actor,
    clock: &dyn Clock,
) -> Result<Vec<Evaluated>, ServiceError> {
    let now = clock.now().unix_nanos();
    let case = store.case(number)?;
    let workflows: Vec<&secops_respond::Workflow> = responder
        .config
        .workflows
        .iter()
        .filter(|w| w.starts_on_case(state) && w.takes_severity(&case.severity))
        .collect();
    if workflows.is_empty() {
        return Ok(Vec::new());
    }
    let mut ids = store.case_alert_ids(number)?;
    ids.truncate(CASE_ALERTS);
    let mut alerts = if ids.is_empty() {
        Vec::new()
    } else {
        store.alerts(&secops_store::AlertFilter {
            ids,
            ..secops_store::AlertFilter::default()
        })?
    };
    alerts.sort_by_key(|a| a.id);
    // Each alert's tags read from its document once, whatever the number of workflows.
    let tags: Vec<Vec<String>> = alerts.iter().map(alert_tags).collect();
    let mut out = Vec::new();
    for workflow in workflows {
        let of_rules: Vec<&AlertRecord> = alerts
            .iter()
            .zip(&tags)
            .filter(|(a, tags)| workflow.takes_alert(&subject_of(a, tags)))
            .map(|(a, _)| a)
            .collect();
        for step in &workflow.steps {
            let action = responder.action(&step.action)?;
            let mut seen = BTreeSet::new();
            if of_rules.is_empty() {
                let e = Evaluated {
                    workflow: Some(workflow.id.clone()),
                    action: action.id.clone(),
                    target: None,
                    outcome: "error".into(),
                    guard: None,
                    detail: format!("case {number} has no alerts to take a target from"),
                    run: None,
                };
                record(store, &e, None, Some(number), now)?;
                out.push(e);
                continue;
            }
            for alert in &of_rules {
                // An alert of the case that gives no target leaves it to the others (recorded
                // against that alert, so `why` tells).
                let target = match step_target(action, step, alert, Some(&case)) {
                    Ok(target) => target,
                    Err(no) => {
                        let e = no_target(workflow, action, no);
                        record(store, &e, Some(alert.id), Some(number), now)?;
                        out.push(e);
                        continue;
                    }
                };
                if !seen.insert(target.to_string()) {
                    continue;
                }
                let run_key = format!("{}|{}|case:{number}:{state}", action.id, target);
                let e = plan(
                    store,
                    responder,
                    About {
                        action,
                        target,
                        alert: Some(alert),
                        case: Some(&case),
                        workflow: Some(&workflow.id),
                        severity: severity_rank(&case.severity),
                        dry_run: false,
                        run_key,
                    },
                    actor,
                    now,
                )?;
                record(store, &e, Some(alert.id), Some(number), now)?;
                out.push(e);
            }
        }
    }
    Ok(out)
}

/// Evaluates the cases' moves since the evaluator `name` last looked (its place kept as
/// `<name>:cases`; an evaluator's first look starts from now, not from every move ever made).
pub fn evaluate_case_moves(
    store: &mut Store,
    responder: &Responder,
    name: &str,
    actor: &Actor,
    clock: &dyn Clock,
) -> Result<Vec<Evaluated>, ServiceError> {
    let cursor = format!("{name}:cases");
    let now = clock.now().unix_nanos();
    let mut after = store.response_cursor(&cursor)?;
    if after == 0 {
        after = store.last_case_event_id()?;
        store.set_response_cursor(&cursor, after, now)?;
        return Ok(Vec::new());
    }
    let mut out = Vec::new();
    loop {
        let moves = store.case_moves_after(after, PAGE)?;
        let Some(&(last, _, _)) = moves.last() else {
            break;
        };
        for (_, number, state) in &moves {
            out.extend(evaluate_case_move(
                store, responder, *number, state, actor, clock,
            )?);
        }
        after = last;
        store.set_response_cursor(&cursor, after, now)?;
        if (moves.len() as u32) < PAGE {
            break;
        }
    }
    Ok(out)
}

/// What replaying stored alerts through the workflows found, per action.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Simulated {
    /// Alerts that started a workflow with this action.
    pub alerts: u64,
    /// Runs that would have been sent at once.
    pub would_run: u64,
    /// Runs that would have waited for approval.
    pub awaiting_approval: u64,
    /// Alerts on a target an earlier run of the action still held (no new run).
    pub in_effect: u64,
    /// Distinct targets of those runs.
    pub targets: u64,
    /// Times each guard stopped it.
    pub stopped: BTreeMap<String, u64>,
    /// A step's condition did not hold.
    pub skipped: u64,
    /// No usable target (a field missing, not an address).
    pub errors: u64,
}

/// A replay's result.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Simulation {
    pub since: i64,
    pub alerts_read: u64,
    pub actions: BTreeMap<String, Simulated>,
}

/// Replays the alerts last seen since `since` through the workflows in dry run: nothing is
/// recorded or sent. Never-act lists, rate limits and holds (counted among the replayed runs,
/// by the alerts' last-seen times, a hold lasting from its alert) apply; earlier real runs do
/// not count.
pub fn simulate(
    store: &mut Store,
    responder: &Responder,
    since: i64,
    cancel: &Cancel,
) -> Result<Simulation, ServiceError> {
    let mut sim = Simulation {
        since,
        ..Simulation::default()
    };
    let mut targets: HashMap<String, BTreeSet<String>> = HashMap::new();
    let mut history: HashMap<String, Vec<i64>> = HashMap::new();
    let mut target_history: HashMap<String, Vec<i64>> = HashMap::new();
    // For actions that hold: until when each target is held, and how many holds it had.
    let mut held: HashMap<String, (i64, u64)> = HashMap::new();
    let mut after = 0;
    loop {
        let page = store.alerts_after_id(after, Some(since), PAGE)?;
        let Some(last) = page.last().map(|a| a.id) else {
            break;
        };
        for alert in &page {
            sim.alerts_read += 1;
            let tags = alert_tags(alert);
            let subject = subject_of(alert, &tags);
            for workflow in responder.config.workflows_for(trigger_of(alert), &subject) {
                for step in &workflow.steps {
                    let action = responder.action(&step.action)?;
                    let entry = sim.actions.entry(action.id.clone()).or_default();
                    entry.alerts += 1;
                    let target = match step_target(action, step, alert, None) {
                        Ok(t) => t,
                        Err(NoTarget::Condition(_)) => {
                            entry.skipped += 1;
                            continue;
                        }
                        Err(NoTarget::Unusable(_)) => {
                            entry.errors += 1;
                            continue;
                        }
                    };
                    if let Some(g) = responder.guards.check(&target) {
                        *entry.stopped.entry(g.guard).or_default() += 1;
                        continue;
                    }
                    let at = alert.last_seen;
                    let within = |times: &Vec<i64>, per: i64| {
                        times.iter().filter(|&&t| t > at - per && t <= at).count() as u64
                    };
                    let target_key = format!("{}|{target}", action.id);
                    let holds = action.inverse.is_some();
                    if holds && held.get(&target_key).is_some_and(|(until, _)| at < *until) {
                        entry.in_effect += 1;
                        continue;
                    }
                    if let Some(rate) = &action.rate_per_action {
                        let times = history.entry(action.id.clone()).or_default();
                        if within(times, rate.per_ns) >= u64::from(rate.count) {
                            *entry.stopped.entry("rate limit".into()).or_default() += 1;
                            continue;
                        }
                    }
                    if let Some(rate) = &action.rate_per_target {
                        let times = target_history.entry(target_key.clone()).or_default();
                        if within(times, rate.per_ns) >= u64::from(rate.count) {
                            *entry.stopped.entry("rate limit".into()).or_default() += 1;
                            continue;
                        }
                    }
                    history.entry(action.id.clone()).or_default().push(at);
                    target_history
                        .entry(target_key.clone())
                        .or_default()
                        .push(at);
                    if holds {
                        let (until, count) = held.entry(target_key).or_insert((i64::MIN, 0));
                        *until = action
                            .duration_for(*count)
                            .map_or(i64::MAX, |h| at.saturating_add(h));
                        *count += 1;
                    }
                    if action.needs_approval(Some(severity_rank(&alert.severity).unwrap_or(0))) {
                        entry.awaiting_approval += 1;
                    } else {
                        entry.would_run += 1;
                    }
                    targets
                        .entry(action.id.clone())
                        .or_default()
                        .insert(target.value.clone());
                }
            }
        }
        after = last;
        if cancel.is_cancelled() || (page.len() as u32) < PAGE {
            break;
        }
    }
    for (action, set) in targets {
        if let Some(entry) = sim.actions.get_mut(&action) {
            entry.targets = set.len() as u64;
        }
    }
    Ok(sim)
}
