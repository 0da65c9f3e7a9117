//! Response automation: runs listed and shown (with the exact request and what came back), an action
//! requested by hand, approved or rejected by another signed-in person, rolled back; what happened to
//! an alert's actions; a dry replay of stored alerts. Requests, rollbacks and replays need the
//! server's response configuration (`secops serve --respond-config`, or `[respond]` beside `[server]`
//! in `secops run`); the runs themselves are carried out by `secops run`.

use std::sync::Arc;

use axum::extract::State;
use axum::{Extension, Json};
use secops_service::respond::{self, HandRequest, Responder};
use secops_store::{Decision, ResponseFilter, ResponseRun};

use super::{actor, as_caller, opt_time, time, Body, Path, Query};
use crate::auth::Caller;
use crate::error::ApiError;
use crate::state::AppState;

/// One run of an action (or of its inverse, by rollback).
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Run {
    pub id: i64,
    pub action: String,
    /// `do`, or `undo` for an inverse run.
    pub operation: String,
    /// `ip`, `domain`, `user`, `host`, `hash`, `url`.
    pub target_kind: String,
    pub target: String,
    /// `awaiting_approval`, `approved`, `rejected`, `expired`, `queued`, `running`, `succeeded`,
    /// `failed`, `rolled_back`, `dry_run`.
    pub state: String,
    pub dry_run: bool,
    pub alert: Option<i64>,
    pub case: Option<i64>,
    pub workflow: Option<String>,
    pub requested_by: String,
    pub requested_at: String,
    /// A request waiting for approval expires unrun then.
    pub approval_due: Option<String>,
    pub decided_by: Option<String>,
    pub decided_at: Option<String>,
    pub decision_note: Option<String>,
    /// The exact request (secrets named, never shown): as it would be sent while it waits, as sent
    /// after.
    #[schema(value_type = Option<Object>)]
    pub request: Option<serde_json::Value>,
    /// What came back: status, response, attempts, duration.
    #[schema(value_type = Option<Object>)]
    pub response: Option<serde_json::Value>,
    pub attempts: i64,
    pub started_at: Option<String>,
    pub ended_at: Option<String>,
    /// How long the effect holds, seconds.
    pub hold_seconds: Option<i64>,
    pub rollback_at: Option<String>,
    pub rollback_of: Option<i64>,
    pub rolled_back_by: Option<i64>,
}

fn json_of(text: Option<&str>) -> Option<serde_json::Value> {
    text.and_then(|t| serde_json::from_str(t).ok())
}

pub fn run(r: &ResponseRun) -> Run {
    Run {
        id: r.id,
        action: r.action_id.clone(),
        operation: r.operation.clone(),
        target_kind: r.target_kind.clone(),
        target: r.target.clone(),
        state: r.state.clone(),
        dry_run: r.dry_run,
        alert: r.alert_id,
        case: r.case_number,
        workflow: r.workflow.clone(),
        requested_by: r.requested_by.clone(),
        requested_at: time(r.requested_at),
        approval_due: opt_time(r.approval_due),
        decided_by: r.decided_by.clone(),
        decided_at: opt_time(r.decided_at),
        decision_note: r.decision_note.clone(),
        request: json_of(r.request.as_deref()),
        response: json_of(r.response.as_deref()),
        attempts: r.attempts,
        started_at: opt_time(r.started_at),
        ended_at: opt_time(r.ended_at),
        hold_seconds: r.hold_ns.map(|h| h / secops_respond::SECOND),
        rollback_at: opt_time(r.rollback_at),
        rollback_of: r.rollback_of,
        rolled_back_by: r.rolled_back_by,
    }
}

#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RunPage {
    pub runs: Vec<Run>,
}

const STATES: &[&str] = &[
    "awaiting_approval",
    "approved",
    "rejected",
    "expired",
    "queued",
    "running",
    "succeeded",
    "failed",
    "rolled_back",
    "dry_run",
];

#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct RunQuery {
    /// States, comma-separated (default: all).
    pub state: Option<String>,
    /// Runs for this alert.
    pub alert: Option<i64>,
    /// Runs for this case.
    pub case: Option<i64>,
    /// Runs of this action.
    pub action: Option<String>,
    /// Runs per page, 1 to 500 (default 100), newest first.
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
}

/// Runs, newest first.
#[utoipa::path(get, path = "/api/v1/responses", tag = "responses", security(("api_key" = ["alerts:read"])),
    params(RunQuery),
    responses((status = 200, description = "Runs", body = RunPage)))]
pub async fn list(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Query(query): Query<RunQuery>,
) -> Result<Json<RunPage>, ApiError> {
    let limit = query.limit.unwrap_or(100);
    if !(1..=500).contains(&limit) {
        return Err(ApiError::invalid("limit: 1 to 500"));
    }
    let states: Vec<String> = match query.state.as_deref() {
        None => Vec::new(),
        Some(text) => text
            .split(',')
            .map(str::trim)
            .filter(|w| !w.is_empty())
            .map(|w| {
                if STATES.contains(&w) {
                    Ok(w.to_string())
                } else {
                    Err(ApiError::invalid(format!(
                        "state: {w:?} is not one of {}",
                        STATES.join(", ")
                    )))
                }
            })
            .collect::<Result<_, _>>()?,
    };
    let filter = ResponseFilter {
        states,
        alert_id: query.alert,
        case_number: query.case,
        action_id: query.action,
        since: None,
        limit: Some(limit),
    };
    let runs = as_caller(&state, &caller, move |store| {
        Ok(respond::runs(store, &filter)?)
    })
    .await?;
    Ok(Json(RunPage {
        runs: runs.iter().map(run).collect(),
    }))
}

/// One run whole: the exact request, the response, who decided.
#[utoipa::path(get, path = "/api/v1/responses/{id}", tag = "responses", security(("api_key" = ["alerts:read"])),
    params(("id" = i64, Path, description = "The run's id")),
    responses((status = 200, description = "The run", body = Run),
        (status = 404, description = "No such run", body = crate::error::Problem)))]
pub async fn show(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<i64>,
) -> Result<Json<Run>, ApiError> {
    let r = as_caller(&state, &caller, move |store| Ok(store.response_run(id)?)).await?;
    Ok(Json(run(&r)))
}

fn responder(state: &AppState) -> Result<Arc<Responder>, ApiError> {
    state.responder.clone().ok_or_else(|| {
        ApiError::new(
            axum::http::StatusCode::CONFLICT,
            "not_configured",
            "response automation is not configured on this server (secops serve --respond-config)",
        )
    })
}

/// An action requested by hand.
#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RunRequest {
    /// The action's id.
    pub action: String,
    /// The target's value (its kind is the action's).
    pub target: String,
    /// The alert it answers: its fields fill the action's templates.
    pub alert: Option<i64>,
    pub case: Option<i64>,
    /// Only build the exact request and record it; send nothing.
    #[serde(default)]
    pub dry_run: bool,
}

/// What became of a request.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Evaluation {
    pub workflow: Option<String>,
    pub action: String,
    pub target: Option<String>,
    /// `fired`, `awaiting_approval`, `stopped`, `duplicate`, `in_effect`, `dry_run`, `skipped`,
    /// `error`.
    pub outcome: String,
    /// The guard that stopped it (`special range`, `warninglist`, `asset`, `vip`, `rate limit`...).
    pub guard: Option<String>,
    pub detail: String,
    pub run: Option<Run>,
}

/// Requests an action by hand: the guards apply as for automatic runs; an action that needs
/// approval waits for another person's.
#[utoipa::path(post, path = "/api/v1/responses", tag = "responses", security(("api_key" = ["responses:request"])),
    request_body = RunRequest,
    responses((status = 200, description = "What became of it", body = Evaluation),
        (status = 404, description = "No such alert or case", body = crate::error::Problem)))]
pub async fn request(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Body(body): Body<RunRequest>,
) -> Result<Json<Evaluation>, ApiError> {
    let responder = responder(&state)?;
    let who = actor(&caller);
    let clock = state.clock.clone();
    let e = as_caller(&state, &caller, move |store| {
        Ok(respond::request(
            store,
            &responder,
            &HandRequest {
                action: body.action,
                target: body.target,
                alert_id: body.alert,
                case_number: body.case,
                dry_run: body.dry_run,
            },
            &who,
            clock.as_ref(),
        )?)
    })
    .await?;
    Ok(Json(Evaluation {
        workflow: e.workflow.clone(),
        action: e.action.clone(),
        target: e.target.clone(),
        outcome: e.outcome.clone(),
        guard: e.guard.clone(),
        detail: e.detail.clone(),
        run: e.run.as_ref().map(run),
    }))
}

#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DecisionRequest {
    /// Why (at most 2,000 characters).
    pub note: Option<String>,
}

async fn decide(
    state: AppState,
    caller: Caller,
    id: i64,
    decision: Decision,
    note: Option<String>,
) -> Result<Json<Run>, ApiError> {
    let who = actor(&caller);
    let clock = state.clock.clone();
    let r = as_caller(&state, &caller, move |store| {
        Ok(respond::decide(
            store,
            id,
            decision,
            note.as_deref(),
            &who,
            clock.as_ref(),
        )?)
    })
    .await?;
    Ok(Json(run(&r)))
}

/// Approves a run awaiting approval: a signed-in person other than the one who asked (an API key
/// cannot). `secops run` carries it out at its next round.
#[utoipa::path(post, path = "/api/v1/responses/{id}/approve", tag = "responses", security(("api_key" = ["responses:approve"])),
    params(("id" = i64, Path, description = "The run's id")),
    request_body = DecisionRequest,
    responses((status = 200, description = "The run, approved", body = Run),
        (status = 404, description = "No such run", body = crate::error::Problem)))]
pub async fn approve(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<i64>,
    Body(body): Body<DecisionRequest>,
) -> Result<Json<Run>, ApiError> {
    decide(state, caller, id, Decision::Approve, body.note).await
}

/// Rejects a run awaiting approval: it never runs.
#[utoipa::path(post, path = "/api/v1/responses/{id}/reject", tag = "responses", security(("api_key" = ["responses:approve"])),
    params(("id" = i64, Path, description = "The run's id")),
    request_body = DecisionRequest,
    responses((status = 200, description = "The run, rejected", body = Run),
        (status = 404, description = "No such run", body = crate::error::Problem)))]
pub async fn reject(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<i64>,
    Body(body): Body<DecisionRequest>,
) -> Result<Json<Run>, ApiError> {
    decide(state, caller, id, Decision::Reject, body.note).await
}

/// Rolls a succeeded run back now through its action's inverse (sent from this server).
#[utoipa::path(post, path = "/api/v1/responses/{id}/rollback", tag = "responses", security(("api_key" = ["responses:request"])),
    params(("id" = i64, Path, description = "The run's id")),
    responses((status = 200, description = "The inverse run", body = Run),
        (status = 404, description = "No such run", body = crate::error::Problem)))]
pub async fn rollback(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<i64>,
) -> Result<Json<Run>, ApiError> {
    let responder = responder(&state)?;
    let who = actor(&caller);
    let clock = state.clock.clone();
    let r = as_caller(&state, &caller, move |store| {
        Ok(respond::roll_back(
            store,
            &responder,
            id,
            &who,
            clock.as_ref(),
        )?)
    })
    .await?;
    Ok(Json(run(&r)))
}

/// One evaluation of an action for an alert.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AlertEvaluation {
    pub at: String,
    pub workflow: Option<String>,
    pub action: String,
    pub target: Option<String>,
    pub outcome: String,
    pub guard: Option<String>,
    pub detail: String,
    pub run: Option<i64>,
}

#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AlertResponses {
    pub evaluations: Vec<AlertEvaluation>,
    pub runs: Vec<Run>,
}

/// What happened to an alert's actions: each evaluation (fired, stopped by which guard, awaiting
/// approval, in effect) and each run, oldest first.
#[utoipa::path(get, path = "/api/v1/alerts/{id}/responses", tag = "responses", security(("api_key" = ["alerts:read"])),
    params(("id" = i64, Path, description = "The alert's id")),
    responses((status = 200, description = "Evaluations and runs", body = AlertResponses),
        (status = 404, description = "No such alert", body = crate::error::Problem)))]
pub async fn why(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<i64>,
) -> Result<Json<AlertResponses>, ApiError> {
    let w = as_caller(&state, &caller, move |store| Ok(respond::why(store, id)?)).await?;
    Ok(Json(AlertResponses {
        evaluations: w
            .evaluations
            .iter()
            .map(|e| AlertEvaluation {
                at: time(e.at),
                workflow: e.workflow.clone(),
                action: e.action_id.clone(),
                target: e.target.clone(),
                outcome: e.outcome.clone(),
                guard: e.guard.clone(),
                detail: e.detail.clone(),
                run: e.run_id,
            })
            .collect(),
        runs: w.runs.iter().map(run).collect(),
    }))
}

#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SimulateRequest {
    /// How far back: `30d`, `12h` (default `30d`).
    pub since: Option<String>,
}

#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SimulatedAction {
    pub action: String,
    pub alerts: u64,
    pub would_run: u64,
    pub awaiting_approval: u64,
    pub in_effect: u64,
    pub targets: u64,
    /// Times each guard stopped it.
    pub stopped: Vec<GuardCount>,
    pub skipped: u64,
    pub errors: u64,
}

#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GuardCount {
    pub guard: String,
    pub count: u64,
}

#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Simulation {
    pub since: String,
    pub alerts_read: u64,
    pub actions: Vec<SimulatedAction>,
}

/// Replays the alerts of a period through the workflows in dry run: what would have run, against
/// how many targets, how often each guard stopped it. Nothing is sent or recorded.
#[utoipa::path(post, path = "/api/v1/responses/simulate", tag = "responses", security(("api_key" = ["responses:request"])),
    request_body = SimulateRequest,
    responses((status = 200, description = "Per action", body = Simulation)))]
pub async fn simulate(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Body(body): Body<SimulateRequest>,
) -> Result<Json<Simulation>, ApiError> {
    let responder = responder(&state)?;
    let since_text = body.since.unwrap_or_else(|| "30d".into());
    let span = secops_respond::action::parse_duration(&since_text)
        .map_err(|m| ApiError::invalid(format!("since: {m}")))?;
    let since = state.now().saturating_sub(span);
    let sim = as_caller(&state, &caller, move |store| {
        Ok(respond::simulate(
            store,
            &responder,
            since,
            &secops_service::Cancel::new(),
        )?)
    })
    .await?;
    Ok(Json(Simulation {
        since: time(sim.since),
        alerts_read: sim.alerts_read,
        actions: sim
            .actions
            .into_iter()
            .map(|(action, s)| SimulatedAction {
                action,
                alerts: s.alerts,
                would_run: s.would_run,
                awaiting_approval: s.awaiting_approval,
                in_effect: s.in_effect,
                targets: s.targets,
                stopped: s
                    .stopped
                    .into_iter()
                    .map(|(guard, count)| GuardCount { guard, count })
                    .collect(),
                skipped: s.skipped,
                errors: s.errors,
            })
            .collect(),
    }))
}
