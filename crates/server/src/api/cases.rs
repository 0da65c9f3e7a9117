//! Cases: listed (newest first, by number), shown whole (tasks, observables, timeline, notes, alerts,
//! evidence, history), opened by hand or from alerts, given more alerts (merging them into an
//! existing case), moved through the lifecycle, assigned, noted, closed with what closing needs, and
//! reopened. The lifecycle's rules are the case crate's; a refused move is `409`.

use axum::extract::State;
use axum::{Extension, Json};
use secops_store::{CaseFilter, CaseRecord};

use super::alerts::Alert;
use super::{actor, as_caller, opt_time, time, Body, Path, Query};
use crate::auth::Caller;
use crate::error::ApiError;
use crate::state::AppState;

/// A closed vocabulary of the API, spelled as the store spells it, read into the case crate's own.
macro_rules! vocabulary {
    ($(#[$doc:meta])* $name:ident => $inner:ty { $($variant:ident),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
        #[serde(rename_all = "snake_case")]
        pub enum $name { $($variant),+ }

        impl From<$name> for $inner {
            fn from(v: $name) -> $inner {
                match v { $($name::$variant => <$inner>::$variant),+ }
            }
        }
    };
}

vocabulary!(
    /// How bad the incident is.
    Severity => secops_case::Severity { Low, Medium, High, Critical }
);
vocabulary!(
    /// A case's place in the NIST 800-61 lifecycle.
    CaseState => secops_case::CaseState {
        New, Triage, InProgress, Containment, Eradication, Recovery, PostIncident, Closed
    }
);
vocabulary!(
    /// How a case ended.
    Resolution => secops_case::Resolution {
        TruePositiveWithImpact, TruePositiveWithoutImpact, FalsePositive, Benign, Duplicate,
        Indeterminate
    }
);
vocabulary!(
    /// Traffic Light Protocol 2.0.
    Tlp => secops_case::Tlp { Clear, Green, Amber, AmberStrict, Red }
);

/// A case as lists show it.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Case {
    /// The number people know it by.
    pub number: i64,
    /// The store's id (alerts name their case by it).
    pub id: i64,
    pub title: String,
    pub description: String,
    pub severity: String,
    pub tlp: String,
    pub pap: String,
    pub state: String,
    pub resolution: Option<String>,
    pub assignee: Option<String>,
    pub playbook: Option<String>,
    pub tags: Vec<String>,
    pub created_at: String,
    pub updated_at: String,
    pub closed_at: Option<String>,
}

impl From<&CaseRecord> for Case {
    fn from(c: &CaseRecord) -> Self {
        Case {
            number: c.number,
            id: c.id,
            title: c.title.clone(),
            description: c.description.clone(),
            severity: c.severity.clone(),
            tlp: c.tlp.clone(),
            pap: c.pap.clone(),
            state: c.state.clone(),
            resolution: c.resolution.clone(),
            assignee: c.assignee.clone(),
            playbook: c.playbook.clone(),
            tags: c.tags.clone(),
            created_at: time(c.created_at),
            updated_at: time(c.updated_at),
            closed_at: opt_time(c.closed_at),
        }
    }
}

#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CasePage {
    pub cases: Vec<Case>,
    /// Pass as `before` for the next page; absent on the last.
    pub next: Option<i64>,
}

#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct CaseQuery {
    pub state: Option<CaseState>,
    pub assignee: Option<String>,
    /// Leave out closed cases.
    pub open: Option<bool>,
    /// Cases numbered below this (the `next` of the page before).
    pub before: Option<i64>,
    /// Cases per page, 1 to 500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
}

#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Task {
    pub id: i64,
    pub group: String,
    pub title: String,
    pub description: String,
    pub status: String,
    pub assignee: Option<String>,
}

#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Observable {
    pub id: i64,
    pub kind: String,
    pub value: String,
    pub is_ioc: bool,
    pub tlp: String,
    pub description: String,
}

#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TimelineEntry {
    pub at: String,
    pub title: String,
    pub body: String,
    pub source: String,
    pub tactic: Option<String>,
    pub technique: Option<String>,
}

#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Note {
    pub id: i64,
    pub author: String,
    pub body: String,
    pub created_at: String,
}

#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Evidence {
    pub id: i64,
    pub kind: String,
    pub title: String,
    pub query: String,
    pub rows: u64,
    pub path: String,
    pub sha256: String,
    pub added_by: String,
    pub added_at: String,
}

#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CaseDetail {
    pub case: Case,
    pub alerts: Vec<Alert>,
    pub tasks: Vec<Task>,
    pub observables: Vec<Observable>,
    pub timeline: Vec<TimelineEntry>,
    pub evidence: Vec<Evidence>,
    pub notes: Vec<Note>,
    pub history: Vec<super::alerts::HistoryLine>,
}

/// A case to open: by hand (a title), or from alerts (their ids; the rest from them and the
/// best-fitting playbook).
#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OpenCase {
    pub title: Option<String>,
    pub description: Option<String>,
    /// Alerts to open the case from (in no other case).
    #[serde(default)]
    pub alert_ids: Vec<i64>,
    pub severity: Option<Severity>,
    pub tlp: Option<Tlp>,
    /// A playbook by name.
    pub playbook: Option<String>,
    pub assignee: Option<String>,
}

#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddAlerts {
    /// Alerts to merge into the case (none may be in another case).
    pub alert_ids: Vec<i64>,
}

#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MoveCase {
    pub state: CaseState,
}

#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Assign {
    /// The user; absent or null unassigns.
    pub assignee: Option<String>,
}

#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddNote {
    pub text: String,
}

#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CloseCase {
    pub resolution: Resolution,
    pub root_cause: String,
    pub lessons_learned: String,
}

#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Reopen {
    pub reason: String,
}

/// Cases newest first.
#[utoipa::path(get, path = "/api/v1/cases", tag = "cases", security(("api_key" = ["cases:read"])),
    params(CaseQuery),
    responses((status = 200, description = "A page of cases", body = CasePage)))]
pub async fn list(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Query(query): Query<CaseQuery>,
) -> Result<Json<CasePage>, ApiError> {
    let limit = query.limit.unwrap_or(50);
    if !(1..=500).contains(&limit) {
        return Err(ApiError::invalid("limit: 1 to 500"));
    }
    let filter = CaseFilter {
        state: query
            .state
            .map(|s| secops_case::CaseState::from(s).as_str().to_string()),
        assignee: query.assignee,
        open_only: query.open.unwrap_or(false),
        before_number: query.before,
        limit: Some(limit + 1),
    };
    let mut cases = as_caller(&state, &caller, move |store| Ok(store.cases(&filter)?)).await?;
    let more = cases.len() > limit as usize;
    cases.truncate(limit as usize);
    Ok(Json(CasePage {
        next: if more {
            cases.last().map(|c| c.number)
        } else {
            None
        },
        cases: cases.iter().map(Case::from).collect(),
    }))
}

/// A case with everything on it.
#[utoipa::path(get, path = "/api/v1/cases/{number}", tag = "cases",
    security(("api_key" = ["cases:read"])),
    params(("number" = i64, Path, description = "The case's number")),
    responses((status = 200, description = "The case", body = CaseDetail),
              (status = 404, description = "No such case", body = crate::error::Problem)))]
pub async fn show(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(number): Path<i64>,
) -> Result<Json<CaseDetail>, ApiError> {
    let file = as_caller(&state, &caller, move |store| {
        Ok(secops_service::cases::file(store, number)?)
    })
    .await?;
    Ok(Json(CaseDetail {
        case: Case::from(&file.case),
        alerts: file.alerts.iter().map(Alert::from).collect(),
        tasks: file
            .tasks
            .into_iter()
            .map(|t| Task {
                id: t.id,
                group: t.group,
                title: t.title,
                description: t.description,
                status: t.status,
                assignee: t.assignee,
            })
            .collect(),
        observables: file
            .observables
            .into_iter()
            .map(|o| Observable {
                id: o.id,
                kind: o.kind,
                value: o.value,
                is_ioc: o.is_ioc,
                tlp: o.tlp,
                description: o.description,
            })
            .collect(),
        timeline: file
            .timeline
            .into_iter()
            .map(|t| TimelineEntry {
                at: time(t.at),
                title: t.title,
                body: t.body,
                source: t.source,
                tactic: t.tactic,
                technique: t.technique,
            })
            .collect(),
        evidence: file
            .evidence
            .into_iter()
            .map(|e| Evidence {
                id: e.id,
                kind: e.evidence.kind,
                title: e.evidence.title,
                query: e.evidence.query,
                rows: e.evidence.rows,
                path: e.evidence.path,
                sha256: e.evidence.sha256,
                added_by: e.added_by,
                added_at: time(e.added_at),
            })
            .collect(),
        notes: file
            .comments
            .into_iter()
            .map(|c| Note {
                id: c.id,
                author: c.author,
                body: c.body,
                created_at: time(c.created_at),
            })
            .collect(),
        history: file
            .events
            .into_iter()
            .map(|l| super::alerts::HistoryLine {
                at: time(l.at),
                actor: l.actor,
                kind: l.kind,
                before: l.before,
                after: l.after,
            })
            .collect(),
    }))
}

/// Runs case work at a desk as the caller.
async fn at_desk<T, F>(state: &AppState, caller: &Caller, work: F) -> Result<T, ApiError>
where
    T: Send + 'static,
    F: FnOnce(
            &mut secops_service::cases::Desk<'_>,
            &secops_case::playbook::Playbooks,
        ) -> Result<T, secops_service::ServiceError>
        + Send
        + 'static,
{
    let who = actor(caller);
    let clock = state.clock.clone();
    let playbooks = state.playbooks.clone();
    as_caller(state, caller, move |store| {
        let mut desk = secops_service::cases::Desk {
            store,
            actor: &who,
            clock: clock.as_ref(),
        };
        Ok(work(&mut desk, &playbooks)?)
    })
    .await
}

/// Opens a case by hand or from alerts.
#[utoipa::path(post, path = "/api/v1/cases", tag = "cases", security(("api_key" = ["cases:write"])),
    request_body = OpenCase,
    responses((status = 201, description = "Opened", body = Case)))]
pub async fn open(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Body(body): Body<OpenCase>,
) -> Result<(axum::http::StatusCode, Json<Case>), ApiError> {
    let case = at_desk(&state, &caller, move |desk, playbooks| {
        if body.alert_ids.is_empty() {
            let title = body.title.clone().unwrap_or_default();
            desk.open(
                playbooks,
                &secops_service::cases::NewCase {
                    case: secops_case::ByHand {
                        title,
                        description: body.description.clone().unwrap_or_default(),
                        severity: body.severity.map(Into::into),
                        tlp: body.tlp.map(Into::into),
                        playbook: body.playbook.clone(),
                    },
                    assignee: body.assignee.clone(),
                },
            )
        } else {
            desk.open_from_alerts(
                playbooks,
                &secops_case::FromAlerts {
                    alert_ids: body.alert_ids.clone(),
                    title: body.title.clone(),
                    playbook: body.playbook.clone(),
                    severity: body.severity.map(Into::into),
                    assignee: body.assignee.clone(),
                },
            )
        }
    })
    .await?;
    Ok((axum::http::StatusCode::CREATED, Json(Case::from(&case))))
}

/// Merges alerts into an existing case.
#[utoipa::path(post, path = "/api/v1/cases/{number}/alerts", tag = "cases",
    security(("api_key" = ["cases:write"])), request_body = AddAlerts,
    params(("number" = i64, Path, description = "The case's number")),
    responses((status = 200, description = "The case", body = Case),
              (status = 404, description = "No such case or alert", body = crate::error::Problem)))]
pub async fn add_alerts(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(number): Path<i64>,
    Body(body): Body<AddAlerts>,
) -> Result<Json<Case>, ApiError> {
    if body.alert_ids.is_empty() || body.alert_ids.len() > super::alerts::BULK_MAX {
        return Err(ApiError::invalid(format!(
            "alert_ids: 1 to {} alert ids",
            super::alerts::BULK_MAX
        )));
    }
    let case = at_desk(&state, &caller, move |desk, _| {
        desk.add_alerts(number, &body.alert_ids)
    })
    .await?;
    Ok(Json(Case::from(&case)))
}

/// Moves a case along its lifecycle (closing and reopening have their own routes).
#[utoipa::path(post, path = "/api/v1/cases/{number}/state", tag = "cases",
    security(("api_key" = ["cases:write"])), request_body = MoveCase,
    params(("number" = i64, Path, description = "The case's number")),
    responses((status = 200, description = "Moved", body = Case),
              (status = 409, description = "Not a move the lifecycle allows", body = crate::error::Problem)))]
pub async fn move_to(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(number): Path<i64>,
    Body(body): Body<MoveCase>,
) -> Result<Json<Case>, ApiError> {
    let case = at_desk(&state, &caller, move |desk, _| {
        desk.move_to(number, body.state.into())
    })
    .await?;
    Ok(Json(Case::from(&case)))
}

/// Assigns a case (or, with no assignee, unassigns it).
#[utoipa::path(post, path = "/api/v1/cases/{number}/assign", tag = "cases",
    security(("api_key" = ["cases:write"])), request_body = Assign,
    params(("number" = i64, Path, description = "The case's number")),
    responses((status = 200, description = "Assigned", body = Case)))]
pub async fn assign(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(number): Path<i64>,
    Body(body): Body<Assign>,
) -> Result<Json<Case>, ApiError> {
    let case = at_desk(&state, &caller, move |desk, _| {
        desk.assign(number, body.assignee.as_deref())
    })
    .await?;
    Ok(Json(Case::from(&case)))
}

/// Adds a note.
#[utoipa::path(post, path = "/api/v1/cases/{number}/notes", tag = "cases",
    security(("api_key" = ["cases:write"])), request_body = AddNote,
    params(("number" = i64, Path, description = "The case's number")),
    responses((status = 201, description = "Added", body = Note)))]
pub async fn add_note(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(number): Path<i64>,
    Body(body): Body<AddNote>,
) -> Result<(axum::http::StatusCode, Json<Note>), ApiError> {
    let note = at_desk(&state, &caller, move |desk, _| {
        desk.add_note(number, &body.text)
    })
    .await?;
    Ok((
        axum::http::StatusCode::CREATED,
        Json(Note {
            id: note.id,
            author: note.author,
            body: note.body,
            created_at: time(note.created_at),
        }),
    ))
}

/// Closes a case: a resolution, the root cause, the lessons learned, every task finished.
#[utoipa::path(post, path = "/api/v1/cases/{number}/close", tag = "cases",
    security(("api_key" = ["cases:close"])), request_body = CloseCase,
    params(("number" = i64, Path, description = "The case's number")),
    responses((status = 200, description = "Closed", body = Case),
              (status = 409, description = "What closing still needs", body = crate::error::Problem)))]
pub async fn close(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(number): Path<i64>,
    Body(body): Body<CloseCase>,
) -> Result<Json<Case>, ApiError> {
    let case = at_desk(&state, &caller, move |desk, _| {
        desk.close(
            number,
            &secops_case::Closing {
                resolution: body.resolution.into(),
                root_cause: body.root_cause.clone(),
                lessons_learned: body.lessons_learned.clone(),
            },
        )
    })
    .await?;
    Ok(Json(Case::from(&case)))
}

/// Reopens a closed case, with the reason.
#[utoipa::path(post, path = "/api/v1/cases/{number}/reopen", tag = "cases",
    security(("api_key" = ["cases:close"])), request_body = Reopen,
    params(("number" = i64, Path, description = "The case's number")),
    responses((status = 200, description = "Reopened", body = Case)))]
pub async fn reopen(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(number): Path<i64>,
    Body(body): Body<Reopen>,
) -> Result<Json<Case>, ApiError> {
    let case = at_desk(&state, &caller, move |desk, _| {
        desk.reopen(number, &body.reason)
    })
    .await?;
    Ok(Json(Case::from(&case)))
}
