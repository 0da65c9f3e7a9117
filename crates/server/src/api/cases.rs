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
    #[schema(min_items = 1, max_items = 10000)]
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
    #[schema(min_length = 1)]
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
    #[schema(min_length = 1)]
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
        ..CaseFilter::default()
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
        tasks: file.tasks.into_iter().map(Task::from).collect(),
        observables: file.observables.into_iter().map(Observable::from).collect(),
        timeline: file.timeline.into_iter().map(TimelineEntry::from).collect(),
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
        notes: file.comments.into_iter().map(Note::from).collect(),
        history: file
            .events
            .into_iter()
            .map(super::alerts::HistoryLine::from)
            .collect(),
    }))
}

/// Runs case work at a desk as the caller (the API's and the console's).
pub(crate) async fn at_desk<T, F>(state: &AppState, caller: &Caller, work: F) -> Result<T, ApiError>
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
    Ok((axum::http::StatusCode::CREATED, Json(Note::from(note))))
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

/// Where a task stands.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum TaskStatus {
    Todo,
    InProgress,
    Blocked,
    Done,
    Cancelled,
}

impl From<TaskStatus> for secops_case::TaskStatus {
    fn from(s: TaskStatus) -> Self {
        match s {
            TaskStatus::Todo => secops_case::TaskStatus::Todo,
            TaskStatus::InProgress => secops_case::TaskStatus::InProgress,
            TaskStatus::Blocked => secops_case::TaskStatus::Blocked,
            TaskStatus::Done => secops_case::TaskStatus::Done,
            TaskStatus::Cancelled => secops_case::TaskStatus::Cancelled,
        }
    }
}

#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddTask {
    /// The phase it belongs to (`identification`, `containment`, ...).
    #[schema(min_length = 1)]
    pub group: String,
    #[schema(min_length = 1)]
    pub title: String,
    #[serde(default)]
    pub description: String,
}

#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetTask {
    pub status: TaskStatus,
    pub assignee: Option<String>,
}

#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddObservable {
    /// A MISP kind: `ip-src`, `ip-dst`, `domain`, `url`, `md5`, `sha256`, `email`, `filename`, ...
    #[schema(min_length = 1)]
    pub kind: String,
    /// The value (defanged values are accepted).
    #[schema(min_length = 1)]
    pub value: String,
    /// An indicator of compromise (default: as the kind suggests).
    pub ioc: Option<bool>,
    #[serde(default)]
    pub description: String,
}

#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddedObservable {
    pub observable: Observable,
    /// False when the case had it already.
    pub new: bool,
}

#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddTimelineEntry {
    /// When it happened (RFC 3339).
    pub at: String,
    #[schema(min_length = 1)]
    pub title: String,
    #[serde(default)]
    pub body: String,
    /// An ATT&CK tactic (`TA0006`).
    pub tactic: Option<String>,
    /// An ATT&CK technique (`T1110.003`).
    pub technique: Option<String>,
}

#[derive(Debug, Clone, Copy, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReportFormat {
    Markdown,
    Html,
}

#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ReportQuery {
    /// `markdown` (default) or `html`.
    pub format: Option<ReportFormat>,
}

/// Durations of one group of cases: how many, median and 90th percentile, in seconds.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Durations {
    pub n: usize,
    pub median_seconds: Option<i64>,
    pub p90_seconds: Option<i64>,
}

#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MetricsGroup {
    /// `all`, `severity=high`, `playbook=brute_force`.
    pub group: String,
    pub cases: usize,
    /// Mean time to detect: incident start to detection.
    pub mttd: Durations,
    /// To acknowledge: detection to the first move out of `new`.
    pub mtta: Durations,
    /// To contain.
    pub mttc: Durations,
    /// To resolve.
    pub mttr: Durations,
}

#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Metrics {
    pub groups: Vec<MetricsGroup>,
}

impl From<secops_store::TaskRecord> for Task {
    fn from(t: secops_store::TaskRecord) -> Self {
        Task {
            id: t.id,
            group: t.group,
            title: t.title,
            description: t.description,
            status: t.status,
            assignee: t.assignee,
        }
    }
}

impl From<secops_store::ObservableRecord> for Observable {
    fn from(o: secops_store::ObservableRecord) -> Self {
        Observable {
            id: o.id,
            kind: o.kind,
            value: o.value,
            is_ioc: o.is_ioc,
            tlp: o.tlp,
            description: o.description,
        }
    }
}

impl From<secops_store::TimelineRecord> for TimelineEntry {
    fn from(t: secops_store::TimelineRecord) -> Self {
        TimelineEntry {
            at: time(t.at),
            title: t.title,
            body: t.body,
            source: t.source,
            tactic: t.tactic,
            technique: t.technique,
        }
    }
}

impl From<secops_store::CommentRecord> for Note {
    fn from(c: secops_store::CommentRecord) -> Self {
        Note {
            id: c.id,
            author: c.author,
            body: c.body,
            created_at: time(c.created_at),
        }
    }
}

/// Adds a task.
#[utoipa::path(post, path = "/api/v1/cases/{number}/tasks", tag = "cases",
    security(("api_key" = ["cases:write"])), request_body = AddTask,
    params(("number" = i64, Path, description = "The case's number")),
    responses((status = 201, description = "Added", body = Task)))]
pub async fn add_task(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(number): Path<i64>,
    Body(body): Body<AddTask>,
) -> Result<(axum::http::StatusCode, Json<Task>), ApiError> {
    let task = at_desk(&state, &caller, move |desk, _| {
        desk.add_task(
            number,
            &secops_store::NewTask {
                group: body.group.clone(),
                title: body.title.clone(),
                description: body.description.clone(),
            },
        )
    })
    .await?;
    Ok((axum::http::StatusCode::CREATED, Json(Task::from(task))))
}

/// Sets a task's status (and assignee).
#[utoipa::path(post, path = "/api/v1/cases/{number}/tasks/{task}", tag = "cases",
    security(("api_key" = ["cases:write"])), request_body = SetTask,
    params(("number" = i64, Path, description = "The case's number"),
           ("task" = i64, Path, description = "The task's id")),
    responses((status = 200, description = "Set", body = Task)))]
pub async fn set_task(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path((number, task)): Path<(i64, i64)>,
    Body(body): Body<SetTask>,
) -> Result<Json<Task>, ApiError> {
    let task = at_desk(&state, &caller, move |desk, _| {
        desk.set_task(number, task, body.status.into(), body.assignee.as_deref())
    })
    .await?;
    Ok(Json(Task::from(task)))
}

/// Adds an observable (defanged values are accepted and kept refanged).
#[utoipa::path(post, path = "/api/v1/cases/{number}/observables", tag = "cases",
    security(("api_key" = ["cases:write"])), request_body = AddObservable,
    params(("number" = i64, Path, description = "The case's number")),
    responses((status = 200, description = "Added, or there already", body = AddedObservable)))]
pub async fn add_observable(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(number): Path<i64>,
    Body(body): Body<AddObservable>,
) -> Result<Json<AddedObservable>, ApiError> {
    let (o, new) = at_desk(&state, &caller, move |desk, _| {
        desk.add_observable(number, &body.kind, &body.value, body.ioc, &body.description)
    })
    .await?;
    Ok(Json(AddedObservable {
        observable: Observable::from(o),
        new,
    }))
}

/// Adds an entry to the case's timeline.
#[utoipa::path(post, path = "/api/v1/cases/{number}/timeline", tag = "cases",
    security(("api_key" = ["cases:write"])), request_body = AddTimelineEntry,
    params(("number" = i64, Path, description = "The case's number")),
    responses((status = 201, description = "Added", body = TimelineEntry)))]
pub async fn add_timeline_entry(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(number): Path<i64>,
    Body(body): Body<AddTimelineEntry>,
) -> Result<(axum::http::StatusCode, Json<TimelineEntry>), ApiError> {
    let at = super::parse_time("at", &body.at)?;
    let source = format!("api:{}", caller.principal.name);
    let entry = at_desk(&state, &caller, move |desk, _| {
        desk.add_timeline_entry(
            number,
            &secops_store::NewTimelineEntry {
                at,
                title: body.title.clone(),
                body: body.body.clone(),
                source: source.clone(),
                tactic: body.tactic.clone(),
                technique: body.technique.clone(),
            },
        )
    })
    .await?;
    Ok((
        axum::http::StatusCode::CREATED,
        Json(TimelineEntry::from(entry)),
    ))
}

/// The case's report, as a download: Markdown, or HTML (every value escaped).
#[utoipa::path(get, path = "/api/v1/cases/{number}/report", tag = "cases",
    security(("api_key" = ["cases:read"])),
    params(("number" = i64, Path, description = "The case's number"), ReportQuery),
    responses((status = 200, description = "The report",
        content((String = "text/markdown"), (String = "text/html")))))]
pub async fn report(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(number): Path<i64>,
    Query(query): Query<ReportQuery>,
) -> Result<impl axum::response::IntoResponse, ApiError> {
    let format = query.format.unwrap_or(ReportFormat::Markdown);
    let file = as_caller(&state, &caller, move |store| {
        Ok(secops_service::cases::file(store, number)?)
    })
    .await?;
    let (text, kind, extension) = match format {
        ReportFormat::Markdown => (
            secops_case::report::markdown(&file),
            "text/markdown; charset=utf-8",
            "md",
        ),
        ReportFormat::Html => (
            secops_case::report::html(&file),
            "text/html; charset=utf-8",
            "html",
        ),
    };
    // The name is ours (the case's number), never the case's title.
    let disposition = format!("attachment; filename=\"case-{number}.{extension}\"");
    Ok((
        [
            (axum::http::header::CONTENT_TYPE, kind.to_string()),
            (axum::http::header::CONTENT_DISPOSITION, disposition),
        ],
        text,
    ))
}

/// MTTD, MTTA, MTTC and MTTR from the case event logs: overall, per severity, per playbook.
#[utoipa::path(get, path = "/api/v1/cases/metrics", tag = "cases",
    security(("api_key" = ["cases:read"])),
    responses((status = 200, description = "The metrics", body = Metrics)))]
pub async fn metrics(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
) -> Result<Json<Metrics>, ApiError> {
    let groups = as_caller(&state, &caller, |store| {
        Ok(secops_service::cases::metrics(store)?)
    })
    .await?;
    let seconds = |stat: secops_case::metrics::Stat| Durations {
        n: stat.n,
        median_seconds: stat.median.map(|n| n / 1_000_000_000),
        p90_seconds: stat.p90.map(|n| n / 1_000_000_000),
    };
    Ok(Json(Metrics {
        groups: groups
            .into_iter()
            .map(|(group, s)| MetricsGroup {
                group,
                cases: s.cases,
                mttd: seconds(s.detect),
                mtta: seconds(s.acknowledge),
                mttc: seconds(s.contain),
                mttr: seconds(s.resolve),
            })
            .collect(),
    }))
}
