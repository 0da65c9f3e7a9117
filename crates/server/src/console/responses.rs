//! Response automation in the console: the runs (filtered by state or alert, with an alert's
//! evaluations above them: what fired, what a guard stopped and which), a request by hand (the
//! guards apply as to automatic runs), approval and rejection by another person, one run whole
//! (the exact request and what came back), rollback, and a replay of past alerts in dry run.

use askama::Template;
use axum::extract::State;
use axum::http::Uri;
use axum::response::Response;
use axum::Extension;
use secops_auth::role;
use secops_service::respond::HandRequest;
use secops_store::{Decision, ResponseFilter, ResponseRun};

use super::form::{query_fields, Fields};
use super::view::{html, may, see_other, shown, when, Chrome};
use super::PageError;
use crate::api::{actor, as_caller};
use crate::auth::Caller;
use crate::state::AppState;

const PAGE: u32 = 200;
const STATES: [&str; 11] = [
    "all",
    "awaiting_approval",
    "approved",
    "queued",
    "running",
    "succeeded",
    "failed",
    "rolled_back",
    "rejected",
    "expired",
    "dry_run",
];

/// One run in a table.
pub struct RunRow {
    pub id: i64,
    pub action: String,
    pub operation: String,
    pub target: String,
    pub state: String,
    pub requested_by: String,
    pub requested: String,
    pub alert: String,
    pub due: String,
    pub awaiting: bool,
}

fn row(r: &ResponseRun) -> RunRow {
    RunRow {
        id: r.id,
        action: shown(&r.action_id).into_owned(),
        operation: r.operation.clone(),
        target: shown(&format!("{} {}", r.target_kind, r.target)).into_owned(),
        state: r.state.clone(),
        requested_by: shown(&r.requested_by).into_owned(),
        requested: when(r.requested_at),
        alert: r.alert_id.map(|a| a.to_string()).unwrap_or_default(),
        due: r.approval_due.map(when).unwrap_or_default(),
        awaiting: r.state == "awaiting_approval",
    }
}

/// One evaluation of an action for an alert.
pub struct EvaluationRow {
    pub at: String,
    pub workflow: String,
    pub action: String,
    pub target: String,
    pub outcome: String,
    pub guard: String,
    pub detail: String,
}

#[derive(Template)]
#[template(path = "responses.html")]
struct ListPage {
    chrome: Chrome,
    states: Vec<(&'static str, bool)>,
    alert: String,
    evaluations: Vec<EvaluationRow>,
    rows: Vec<RunRow>,
    notice: String,
    can_approve: bool,
    /// The actions a person may request by hand (none when automation is not configured here or
    /// the caller may not request).
    actions: Vec<ActionChoice>,
}

/// An action offered in the request form.
pub struct ActionChoice {
    pub id: String,
    pub label: String,
}

/// The actions `caller` may request by hand on this server (inverses are not requested: their
/// runs are rolled back).
fn choices(state: &AppState, caller: &Caller) -> Vec<ActionChoice> {
    match &state.responder {
        Some(responder) if may(state, caller, role::RESPONSES_REQUEST) => responder
            .config
            .actions
            .values()
            .filter(|a| a.undoes.is_none())
            .map(|a| ActionChoice {
                id: shown(&a.id).into_owned(),
                label: shown(&format!("{} ({}, {})", a.name, a.id, a.target.as_str())).into_owned(),
            })
            .collect(),
        _ => Vec::new(),
    }
}

fn notice(fields: &Fields) -> String {
    match fields.get("done").as_deref() {
        Some("requested") => "Requested: secops run carries it out at its next round.".into(),
        Some("awaiting") => "Requested: it waits for another person's approval.".into(),
        Some("dry_run") => {
            "Dry run: the request below was built and recorded, nothing sent.".into()
        }
        Some("in_effect") => "Not run again: an earlier run on this target still holds.".into(),
        Some("stopped") => format!(
            "Not run: {}",
            shown(
                &fields
                    .get("why")
                    .unwrap_or_else(|| "a guard stopped it".into())
            )
        ),
        Some("approved") => "Approved: secops run carries it out at its next round.".into(),
        Some("rejected") => "Rejected: it will not run.".into(),
        Some("rolled_back") => "Rolled back: the inverse action ran.".into(),
        _ => String::new(),
    }
}

/// `GET /responses?state=&alert=`: runs, newest first; with `alert`, its evaluations too.
pub async fn list(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    uri: Uri,
) -> Result<Response, PageError> {
    let fields = query_fields(uri.query());
    let chosen = fields.get("state").unwrap_or_else(|| "all".into());
    if !STATES.contains(&chosen.as_str()) {
        return Err(PageError::invalid(format!(
            "state: {chosen:?} is not a run's state"
        )));
    }
    let alert = fields.number("alert")?;
    let filter = ResponseFilter {
        states: if chosen == "all" {
            Vec::new()
        } else {
            vec![chosen.clone()]
        },
        alert_id: alert,
        limit: Some(PAGE),
        ..ResponseFilter::default()
    };
    let (runs, evaluations) = as_caller(&state, &caller, move |store| {
        let runs = secops_service::respond::runs(store, &filter)?;
        let evaluations = match alert {
            Some(id) => secops_service::respond::why(store, id)?.evaluations,
            None => Vec::new(),
        };
        Ok((runs, evaluations))
    })
    .await?;
    Ok(html(&ListPage {
        chrome: Chrome::new(&state, &caller, "/responses", "Responses"),
        states: STATES.iter().map(|s| (*s, *s == chosen)).collect(),
        alert: alert.map(|a| a.to_string()).unwrap_or_default(),
        evaluations: evaluations
            .iter()
            .map(|e| EvaluationRow {
                at: when(e.at),
                workflow: shown(e.workflow.as_deref().unwrap_or("(by hand)")).into_owned(),
                action: shown(&e.action_id).into_owned(),
                target: shown(e.target.as_deref().unwrap_or("")).into_owned(),
                outcome: e.outcome.clone(),
                guard: shown(e.guard.as_deref().unwrap_or("")).into_owned(),
                detail: shown(&e.detail).into_owned(),
            })
            .collect(),
        rows: runs.iter().map(row).collect(),
        notice: notice(&fields),
        can_approve: may(&state, &caller, role::RESPONSES_APPROVE),
        actions: choices(&state, &caller),
    }))
}

/// `POST /responses`: an action by hand (`action`, `target`, `alert`, `case`, `dry_run`); on to
/// its run, or back to the runs saying what stopped it.
pub async fn request(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    fields: Fields,
) -> Result<Response, PageError> {
    let responder = state.responder.clone().ok_or_else(|| {
        PageError::invalid("response automation is not configured on this server")
    })?;
    let hand = HandRequest {
        action: fields
            .get("action")
            .ok_or_else(|| PageError::invalid("action: choose one"))?,
        target: fields
            .get("target")
            .ok_or_else(|| PageError::invalid("target: give the value to act on"))?,
        alert_id: fields.number("alert")?,
        case_number: fields.number("case")?,
        dry_run: fields.get("dry_run").is_some(),
    };
    let who = actor(&caller);
    let clock = state.clock.clone();
    let e = as_caller(&state, &caller, move |store| {
        Ok(secops_service::respond::request(
            store,
            &responder,
            &hand,
            &who,
            clock.as_ref(),
        )?)
    })
    .await?;
    let done = match e.outcome.as_str() {
        "fired" => "requested",
        "awaiting_approval" => "awaiting",
        "dry_run" => "dry_run",
        "in_effect" => "in_effect",
        _ => "stopped",
    };
    Ok(match &e.run {
        Some(run) => see_other(&format!("/responses/{}?done={done}", run.id)),
        None => {
            let why = match &e.guard {
                Some(guard) => format!("the {guard} guard: {}", e.detail),
                None => e.detail.clone(),
            };
            let why: String = why.chars().take(300).collect();
            see_other(&format!(
                "/responses?{}",
                super::view::query([("done", done), ("why", why.as_str())])
            ))
        }
    })
}

/// One action's row of a replay.
pub struct SimulatedRow {
    pub action: String,
    pub alerts: u64,
    pub would_run: u64,
    pub awaiting: u64,
    pub in_effect: u64,
    pub stopped: u64,
    /// Each guard that stopped it, with how often.
    pub guards: String,
    /// A step's condition did not hold, or the alert gave no usable target.
    pub no_target: u64,
    pub targets: u64,
    /// The stacked bar's segments (x, width, class), out of 100.
    pub segments: Vec<(u32, u32, &'static str)>,
}

#[derive(Template)]
#[template(path = "responses_simulate.html")]
struct SimulatePage {
    chrome: Chrome,
    since: String,
    from: String,
    alerts_read: u64,
    rows: Vec<SimulatedRow>,
}

/// The segments of a stacked bar of `parts` (each a count and its class), 100 wide in all.
fn segments(parts: &[(u64, &'static str)]) -> Vec<(u32, u32, &'static str)> {
    let total: u64 = parts.iter().map(|(n, _)| n).sum();
    let mut out = Vec::new();
    if total == 0 {
        return out;
    }
    let mut x = 0u32;
    let mut sum = 0u64;
    for (n, class) in parts.iter().filter(|(n, _)| *n > 0) {
        sum += n;
        // Rounded at each running total, so the segments always end at 100.
        let end = u32::try_from(sum * 100 / total).unwrap_or(100);
        out.push((x, end.saturating_sub(x).max(1), *class));
        x = end;
    }
    out
}

/// `GET /responses/simulate?since=30d`: the alerts of a period replayed through the workflows in
/// dry run: per action, what would have run, against how many targets, and what stopped it.
pub async fn simulate(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    uri: Uri,
) -> Result<Response, PageError> {
    let responder = state.responder.clone().ok_or_else(|| {
        PageError::invalid("response automation is not configured on this server")
    })?;
    let fields = query_fields(uri.query());
    let since_text = fields.get("since").unwrap_or_else(|| "30d".into());
    let span = secops_respond::action::parse_duration(&since_text)
        .map_err(|m| PageError::invalid(format!("since: {m}")))?;
    let from = state.now().saturating_sub(span);
    let sim = as_caller(&state, &caller, move |store| {
        Ok(secops_service::respond::simulate(
            store,
            &responder,
            from,
            &secops_service::Cancel::new(),
        )?)
    })
    .await?;
    let rows = sim
        .actions
        .iter()
        .map(|(action, s)| {
            let stopped: u64 = s.stopped.values().sum();
            let no_target = s.skipped + s.errors;
            SimulatedRow {
                action: shown(action).into_owned(),
                alerts: s.alerts,
                would_run: s.would_run,
                awaiting: s.awaiting_approval,
                in_effect: s.in_effect,
                stopped,
                guards: shown(
                    &s.stopped
                        .iter()
                        .map(|(g, n)| format!("{g} {n}"))
                        .collect::<Vec<_>>()
                        .join(", "),
                )
                .into_owned(),
                no_target,
                targets: s.targets,
                segments: segments(&[
                    (s.would_run, "run"),
                    (s.awaiting_approval, "awaiting"),
                    (s.in_effect, "held"),
                    (stopped, "stopped"),
                    (no_target, "skipped"),
                ]),
            }
        })
        .collect();
    Ok(html(&SimulatePage {
        chrome: Chrome::new(&state, &caller, "/responses", "Response replay"),
        since: shown(&since_text).into_owned(),
        from: when(from),
        alerts_read: sim.alerts_read,
        rows,
    }))
}

pub struct FactRow {
    pub label: &'static str,
    pub value: String,
}

#[derive(Template)]
#[template(path = "response.html")]
struct DetailPage {
    chrome: Chrome,
    id: i64,
    title: String,
    facts: Vec<FactRow>,
    request: Vec<String>,
    response: Vec<String>,
    notice: String,
    awaiting: bool,
    can_approve: bool,
    can_roll_back: bool,
}

/// A JSON record as indented lines, each shown inert.
fn lines(json: Option<&str>) -> Vec<String> {
    let pretty = json
        .and_then(|j| serde_json::from_str::<serde_json::Value>(j).ok())
        .and_then(|v| serde_json::to_string_pretty(&v).ok())
        .unwrap_or_default();
    pretty.lines().map(|l| shown(l).into_owned()).collect()
}

/// `GET /responses/{id}`: one run whole.
pub async fn detail(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    axum::extract::Path(id): axum::extract::Path<i64>,
    uri: Uri,
) -> Result<Response, PageError> {
    let fields = query_fields(uri.query());
    let r = as_caller(&state, &caller, move |store| Ok(store.response_run(id)?)).await?;
    let mut facts = vec![
        FactRow {
            label: "State",
            value: format!("{}{}", r.state, if r.dry_run { " (dry run)" } else { "" }),
        },
        FactRow {
            label: "Target",
            value: shown(&format!("{} {}", r.target_kind, r.target)).into_owned(),
        },
        FactRow {
            label: "Requested",
            value: format!("{} by {}", when(r.requested_at), shown(&r.requested_by)),
        },
    ];
    let mut add = |label: &'static str, value: Option<String>| {
        if let Some(value) = value {
            facts.push(FactRow { label, value });
        }
    };
    add(
        "Workflow",
        r.workflow.as_deref().map(|w| shown(w).into_owned()),
    );
    add("Alert", r.alert_id.map(|a| a.to_string()));
    add("Case", r.case_number.map(|c| c.to_string()));
    add("Approve by", r.approval_due.map(when));
    add(
        "Decided",
        r.decided_at.map(|at| {
            format!(
                "{} by {}{}",
                when(at),
                shown(r.decided_by.as_deref().unwrap_or("")),
                r.decision_note
                    .as_deref()
                    .map(|n| format!(": {}", shown(n)))
                    .unwrap_or_default()
            )
        }),
    );
    add(
        "Holds",
        r.hold_ns
            .map(|h| format!("{} s", h / secops_respond::SECOND)),
    );
    add("Rolled back at", r.rollback_at.map(when));
    add("Undoes run", r.rollback_of.map(|i| i.to_string()));
    add("Undone by run", r.rolled_back_by.map(|i| i.to_string()));
    Ok(html(&DetailPage {
        chrome: Chrome::new(&state, &caller, "/responses", format!("Run {id}")),
        id,
        title: format!(
            "{} {} on {}",
            shown(&r.action_id),
            r.operation,
            shown(&r.target)
        ),
        facts,
        request: lines(r.request.as_deref()),
        response: lines(r.response.as_deref()),
        notice: notice(&fields),
        awaiting: r.state == "awaiting_approval",
        can_approve: may(&state, &caller, role::RESPONSES_APPROVE),
        can_roll_back: r.state == "succeeded"
            && r.operation == "do"
            && state.responder.is_some()
            && may(&state, &caller, role::RESPONSES_REQUEST),
    }))
}

/// `POST /responses/{id}/decide`: approve or reject (`decision`, `note`); back to the run.
pub async fn decide(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    axum::extract::Path(id): axum::extract::Path<i64>,
    fields: Fields,
) -> Result<Response, PageError> {
    let (decision, done) = match fields.get("decision").as_deref() {
        Some("approve") => (Decision::Approve, "approved"),
        Some("reject") => (Decision::Reject, "rejected"),
        _ => return Err(PageError::invalid("decision: approve or reject")),
    };
    let note = fields.get("note").filter(|n| !n.trim().is_empty());
    let who = actor(&caller);
    let clock = state.clock.clone();
    as_caller(&state, &caller, move |store| {
        Ok(secops_service::respond::decide(
            store,
            id,
            decision,
            note.as_deref(),
            &who,
            clock.as_ref(),
        )?)
    })
    .await?;
    Ok(see_other(&format!("/responses/{id}?done={done}")))
}

/// `POST /responses/{id}/rollback`: the inverse action now; on to the inverse run.
pub async fn rollback(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    axum::extract::Path(id): axum::extract::Path<i64>,
) -> Result<Response, PageError> {
    let responder = state.responder.clone().ok_or_else(|| {
        PageError::invalid("response automation is not configured on this server")
    })?;
    let who = actor(&caller);
    let clock = state.clock.clone();
    let undo = as_caller(&state, &caller, move |store| {
        Ok(secops_service::respond::roll_back(
            store,
            &responder,
            id,
            &who,
            clock.as_ref(),
        )?)
    })
    .await?;
    Ok(see_other(&format!(
        "/responses/{}?done=rolled_back",
        undo.id
    )))
}
