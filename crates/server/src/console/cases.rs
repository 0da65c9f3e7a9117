//! Cases: the list, and a case's page with everything on it (tasks, observables, timeline, notes,
//! alerts, evidence, history), each part with the form that changes it; the lifecycle's moves, the
//! closing form with what closing needs, and the report to download. The rules are the case
//! crate's: a refused move comes back as a page saying why.

use askama::Template;
use axum::extract::State;
use axum::http::Uri;
use axum::response::Response;
use axum::Extension;
use secops_auth::role;
use secops_case::{CaseState, Resolution, Severity, TaskStatus};
use secops_store::CaseFilter;

use super::alerts::Row;
use super::form::{query_fields, Fields};
use super::view::{self, html, may, shown, when, Chrome};
use super::PageError;
use crate::api::as_caller;
use crate::api::cases::at_desk;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::state::AppState;

/// Cases a page lists.
const PAGE: u32 = 50;

/// A case as the list shows it.
pub struct CaseRow {
    pub number: i64,
    pub href: String,
    pub title: String,
    pub severity: String,
    pub state: String,
    pub assignee: String,
    pub updated: String,
}

impl CaseRow {
    fn of(c: &secops_store::CaseRecord) -> CaseRow {
        CaseRow {
            number: c.number,
            href: format!("/cases/{}", c.number),
            title: shown(&c.title).into_owned(),
            severity: c.severity.clone(),
            state: c.state.clone(),
            assignee: c
                .assignee
                .as_deref()
                .map(shown)
                .unwrap_or_default()
                .into_owned(),
            updated: when(c.updated_at),
        }
    }
}

pub struct CaseList {
    pub rows: Vec<CaseRow>,
    pub state: String,
    pub states: Vec<(&'static str, bool)>,
    pub open_only: bool,
    pub next_href: String,
    pub can_open: bool,
    pub csrf: String,
}

#[derive(Template)]
#[template(path = "cases.html")]
struct CasesPage<'a> {
    chrome: Chrome,
    l: &'a CaseList,
}

/// `GET /cases`.
pub async fn list(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    uri: Uri,
) -> Result<Response, PageError> {
    let fields = query_fields(uri.query());
    let wanted = fields.get("state").unwrap_or_default();
    let state_filter = if wanted.is_empty() {
        None
    } else {
        Some(
            CaseState::parse(&wanted)
                .ok_or_else(|| PageError::invalid(format!("state: {wanted:?} is no case state")))?
                .as_str()
                .to_string(),
        )
    };
    // Open cases by default; `all=1` lists the closed too.
    let open_only = fields.get("all").is_none() && state_filter.is_none();
    let before = fields.number("before")?;
    let filter = CaseFilter {
        state: state_filter,
        open_only,
        before_number: before,
        limit: Some(PAGE + 1),
        ..CaseFilter::default()
    };
    let mut cases = as_caller(&state, &caller, move |store| Ok(store.cases(&filter)?)).await?;
    let more = cases.len() > PAGE as usize;
    cases.truncate(PAGE as usize);
    let mut base = fields.query_without("before");
    if base.is_empty() {
        base = "all=".into();
    }
    let list = CaseList {
        next_href: if more {
            cases
                .last()
                .map(|c| format!("/cases?{base}&before={}", c.number))
                .unwrap_or_default()
        } else {
            String::new()
        },
        rows: cases.iter().map(CaseRow::of).collect(),
        states: CaseState::ALL
            .iter()
            .map(|s| (s.as_str(), s.as_str() == wanted))
            .collect(),
        state: wanted,
        open_only,
        can_open: may(&state, &caller, role::CASES_WRITE),
        csrf: caller.csrf.clone().unwrap_or_default(),
    };
    Ok(html(&CasesPage {
        chrome: Chrome::new(&state, &caller, "/cases", "Cases"),
        l: &list,
    }))
}

/// `GET /cases/id/{id}`: a case by its store id (alerts name their case so), on to its page.
pub async fn by_id(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    axum::extract::Path(id): axum::extract::Path<i64>,
) -> Result<Response, PageError> {
    let found = as_caller(&state, &caller, move |store| {
        Ok(store.cases(&CaseFilter {
            ids: vec![id],
            ..CaseFilter::default()
        })?)
    })
    .await?;
    let case = found
        .first()
        .ok_or_else(|| PageError(ApiError::not_found(format!("no case with id {id}"))))?;
    Ok(view::see_other(&format!("/cases/{}", case.number)))
}

/// `POST /cases`: a case opened by hand.
pub async fn open(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    fields: Fields,
) -> Result<Response, PageError> {
    let title = fields
        .get("title")
        .ok_or_else(|| PageError::invalid("a case needs a title"))?;
    let severity = fields
        .get("severity")
        .map(|s| Severity::parse(&s).ok_or_else(|| PageError::invalid(format!("severity: {s:?}"))))
        .transpose()?;
    let description = fields.text("description");
    let case = at_desk(&state, &caller, move |desk, playbooks| {
        desk.open(
            playbooks,
            &secops_service::cases::NewCase {
                case: secops_case::ByHand {
                    title,
                    description,
                    severity,
                    tlp: None,
                    playbook: None,
                },
                assignee: None,
            },
        )
    })
    .await?;
    Ok(view::see_other(&format!("/cases/{}", case.number)))
}

pub struct TaskRow {
    pub id: i64,
    pub group: String,
    pub title: String,
    pub description: String,
    pub status: String,
    pub assignee: String,
    pub statuses: Vec<(&'static str, bool)>,
}

pub struct ObservableRow {
    pub kind: String,
    pub value: String,
    pub ioc: bool,
    pub description: String,
    pub hunt: String,
}

pub struct TimelineRow {
    pub at: String,
    pub title: String,
    pub body: String,
    pub source: String,
    pub attack: String,
}

pub struct NoteRow {
    pub author: String,
    pub at: String,
    pub body: String,
}

pub struct EvidenceRow {
    pub title: String,
    pub kind: String,
    pub rows: String,
    pub sha256: String,
    pub query: String,
    pub by: String,
    pub at: String,
}

pub struct HistoryRow {
    pub at: String,
    pub actor: String,
    pub kind: String,
    pub after: String,
}

/// Everything a case's page shows.
pub struct CaseView {
    pub number: i64,
    pub title: String,
    pub description: String,
    pub severity: String,
    pub tlp: String,
    pub pap: String,
    pub state: String,
    pub closed: bool,
    pub resolution: String,
    pub root_cause: String,
    pub lessons: String,
    pub assignee: String,
    pub playbook: String,
    pub tags: String,
    pub created: String,
    pub updated: String,
    pub moves: Vec<&'static str>,
    pub tasks: Vec<TaskRow>,
    pub unfinished: usize,
    pub observables: Vec<ObservableRow>,
    pub timeline: Vec<TimelineRow>,
    pub notes: Vec<NoteRow>,
    pub alerts: Vec<Row>,
    pub evidence: Vec<EvidenceRow>,
    pub history: Vec<HistoryRow>,
    pub resolutions: Vec<&'static str>,
    pub can_write: bool,
    pub can_close: bool,
    pub notice: String,
    pub csrf: String,
}

#[derive(Template)]
#[template(path = "case.html")]
struct CasePage<'a> {
    chrome: Chrome,
    c: &'a CaseView,
}

fn case_notice(fields: &Fields) -> String {
    match fields.get("done").as_deref() {
        Some("moved") => "The case moved on".into(),
        Some("assigned") => "The case is assigned".into(),
        Some("task") => "Task saved".into(),
        Some("observable") => "Observable added".into(),
        Some("timeline") => "Timeline entry added".into(),
        Some("note") => "Note added".into(),
        Some("alerts") => "Alerts merged into the case".into(),
        Some("closed") => "The case is closed".into(),
        Some("reopened") => "The case is open again".into(),
        Some("evidence") => "The hunt's result is attached as evidence".into(),
        _ => String::new(),
    }
}

/// `GET /cases/{number}`.
pub async fn show(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    axum::extract::Path(number): axum::extract::Path<i64>,
    uri: Uri,
) -> Result<Response, PageError> {
    let file = as_caller(&state, &caller, move |store| {
        Ok(secops_service::cases::file(store, number)?)
    })
    .await?;
    let fields = query_fields(uri.query());
    let c = &file.case;
    let current = CaseState::parse(&c.state);
    let opt = |v: &Option<String>| v.as_deref().map(shown).unwrap_or_default().into_owned();
    let view = CaseView {
        number: c.number,
        title: shown(&c.title).into_owned(),
        description: shown(&c.description).into_owned(),
        severity: c.severity.clone(),
        tlp: c.tlp.clone(),
        pap: c.pap.clone(),
        state: c.state.clone(),
        closed: c.closed_at.is_some(),
        resolution: opt(&c.resolution),
        root_cause: opt(&c.root_cause),
        lessons: opt(&c.lessons_learned),
        assignee: opt(&c.assignee),
        playbook: opt(&c.playbook),
        tags: shown(&c.tags.join(", ")).into_owned(),
        created: when(c.created_at),
        updated: when(c.updated_at),
        moves: current
            .map(|s| {
                s.next()
                    .iter()
                    .filter(|n| **n != CaseState::Closed)
                    .map(|n| n.as_str())
                    .collect()
            })
            .unwrap_or_default(),
        unfinished: file
            .tasks
            .iter()
            .filter(|t| TaskStatus::parse(&t.status).is_none_or(|s| !s.finished()))
            .count(),
        tasks: file
            .tasks
            .iter()
            .map(|t| TaskRow {
                id: t.id,
                group: shown(&t.group).into_owned(),
                title: shown(&t.title).into_owned(),
                description: shown(&t.description).into_owned(),
                status: t.status.clone(),
                assignee: opt(&t.assignee),
                statuses: TaskStatus::ALL
                    .iter()
                    .map(|s| (s.as_str(), s.as_str() == t.status))
                    .collect(),
            })
            .collect(),
        observables: file
            .observables
            .iter()
            .map(|o| ObservableRow {
                kind: shown(&o.kind).into_owned(),
                value: shown(&o.value).into_owned(),
                ioc: o.is_ioc,
                description: shown(&o.description).into_owned(),
                hunt: format!("/intel?{}", view::query([("value", o.value.as_str())])),
            })
            .collect(),
        timeline: file
            .timeline
            .iter()
            .map(|t| TimelineRow {
                at: when(t.at),
                title: shown(&t.title).into_owned(),
                body: shown(&t.body).into_owned(),
                source: shown(&t.source).into_owned(),
                attack: [t.tactic.as_deref(), t.technique.as_deref()]
                    .into_iter()
                    .flatten()
                    .map(|s| shown(s).into_owned())
                    .collect::<Vec<_>>()
                    .join(" "),
            })
            .collect(),
        notes: file
            .comments
            .iter()
            .map(|n| NoteRow {
                author: shown(&n.author).into_owned(),
                at: when(n.created_at),
                body: shown(&n.body).into_owned(),
            })
            .collect(),
        alerts: file.alerts.iter().map(|a| Row::of(a, false)).collect(),
        evidence: file
            .evidence
            .iter()
            .map(|e| EvidenceRow {
                title: shown(&e.evidence.title).into_owned(),
                kind: shown(&e.evidence.kind).into_owned(),
                rows: e.evidence.rows.to_string(),
                sha256: e.evidence.sha256.clone(),
                query: shown(&e.evidence.query).into_owned(),
                by: shown(&e.added_by).into_owned(),
                at: when(e.added_at),
            })
            .collect(),
        history: file
            .events
            .iter()
            .map(|e| HistoryRow {
                at: when(e.at),
                actor: shown(&e.actor).into_owned(),
                kind: shown(&e.kind).into_owned(),
                after: e
                    .after
                    .as_deref()
                    .map(shown)
                    .unwrap_or_default()
                    .into_owned(),
            })
            .collect(),
        resolutions: Resolution::ALL.iter().map(|r| r.as_str()).collect(),
        can_write: may(&state, &caller, role::CASES_WRITE),
        can_close: may(&state, &caller, role::CASES_CLOSE),
        notice: case_notice(&fields),
        csrf: caller.csrf.clone().unwrap_or_default(),
    };
    let title = format!("Case #{number}");
    Ok(html(&CasePage {
        chrome: Chrome::new(&state, &caller, "/cases", title),
        c: &view,
    }))
}

fn done(number: i64, what: &str) -> Response {
    view::see_other(&format!("/cases/{number}?done={what}"))
}

type Number = axum::extract::Path<i64>;

/// `POST /cases/{number}/state`.
pub async fn move_to(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    axum::extract::Path(number): Number,
    fields: Fields,
) -> Result<Response, PageError> {
    let to = fields.get("state").unwrap_or_default();
    let to = CaseState::parse(&to)
        .ok_or_else(|| PageError::invalid(format!("state: {to:?} is no case state")))?;
    at_desk(&state, &caller, move |desk, _| desk.move_to(number, to)).await?;
    Ok(done(number, "moved"))
}

/// `POST /cases/{number}/assign`.
pub async fn assign(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    axum::extract::Path(number): Number,
    fields: Fields,
) -> Result<Response, PageError> {
    let user = fields.get("assignee");
    at_desk(&state, &caller, move |desk, _| {
        desk.assign(number, user.as_deref())
    })
    .await?;
    Ok(done(number, "assigned"))
}

/// `POST /cases/{number}/tasks`: a task added.
pub async fn add_task(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    axum::extract::Path(number): Number,
    fields: Fields,
) -> Result<Response, PageError> {
    let title = fields
        .get("title")
        .ok_or_else(|| PageError::invalid("a task needs a title"))?;
    let task = secops_store::NewTask {
        group: fields
            .get("group")
            .unwrap_or_else(|| "identification".into()),
        title,
        description: fields.text("description"),
    };
    at_desk(&state, &caller, move |desk, _| desk.add_task(number, &task)).await?;
    Ok(done(number, "task"))
}

/// `POST /cases/{number}/tasks/{task}`: a task's status and assignee.
pub async fn set_task(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    axum::extract::Path((number, task)): axum::extract::Path<(i64, i64)>,
    fields: Fields,
) -> Result<Response, PageError> {
    let status = fields.get("status").unwrap_or_default();
    let status = TaskStatus::parse(&status)
        .ok_or_else(|| PageError::invalid(format!("status: {status:?} is no task status")))?;
    let assignee = fields.get("assignee");
    at_desk(&state, &caller, move |desk, _| {
        desk.set_task(number, task, status, assignee.as_deref())
    })
    .await?;
    Ok(done(number, "task"))
}

/// `POST /cases/{number}/observables`.
pub async fn add_observable(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    axum::extract::Path(number): Number,
    fields: Fields,
) -> Result<Response, PageError> {
    let kind = fields.get("kind").ok_or_else(|| {
        PageError::invalid("an observable needs a kind (ip-src, domain, sha256, ...)")
    })?;
    let value = fields
        .get("value")
        .ok_or_else(|| PageError::invalid("an observable needs a value"))?;
    let ioc = fields
        .get("ioc")
        .map(|v| v == "1" || v == "on" || v == "true");
    let description = fields.text("description");
    at_desk(&state, &caller, move |desk, _| {
        desk.add_observable(number, &kind, &value, ioc, &description)
    })
    .await?;
    Ok(done(number, "observable"))
}

/// `POST /cases/{number}/timeline`: an entry at a time (`2026-12-06T09:00:00Z` or
/// `2026-12-06 09:00`, UTC).
pub async fn add_timeline_entry(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    axum::extract::Path(number): Number,
    fields: Fields,
) -> Result<Response, PageError> {
    let at_text = fields
        .get("at")
        .ok_or_else(|| PageError::invalid("a timeline entry needs its time"))?;
    let at = parse_when(&at_text)?;
    let title = fields
        .get("title")
        .ok_or_else(|| PageError::invalid("a timeline entry needs a title"))?;
    let entry = secops_store::NewTimelineEntry {
        at,
        title,
        body: fields.text("body"),
        source: format!("console ({})", caller.principal.name),
        tactic: fields.get("tactic"),
        technique: fields.get("technique"),
    };
    at_desk(&state, &caller, move |desk, _| {
        desk.add_timeline_entry(number, &entry)
    })
    .await?;
    Ok(done(number, "timeline"))
}

/// A time as a person types it: RFC 3339, or `YYYY-MM-DD HH:MM[:SS]` (a browser's
/// `datetime-local`, `YYYY-MM-DDTHH:MM`) in UTC.
fn parse_when(text: &str) -> Result<i64, PageError> {
    let text = text.trim();
    let mut candidates = vec![text.to_string()];
    let spaced = text.replacen(' ', "T", 1);
    if !spaced.ends_with('Z') && !spaced.contains('+') {
        let with_seconds = if spaced.len() == 16 {
            format!("{spaced}:00Z")
        } else {
            format!("{spaced}Z")
        };
        candidates.push(with_seconds);
    }
    candidates
        .iter()
        .find_map(|c| secops_event::Timestamp::parse_rfc3339(c).ok())
        .map(secops_event::Timestamp::unix_nanos)
        .ok_or_else(|| {
            PageError::invalid(format!(
                "{text:?} is not a time (2026-12-06T09:00:00Z, or 2026-12-06 09:00 in UTC)"
            ))
        })
}

/// `POST /cases/{number}/notes`.
pub async fn add_note(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    axum::extract::Path(number): Number,
    fields: Fields,
) -> Result<Response, PageError> {
    let text = fields
        .get("text")
        .ok_or_else(|| PageError::invalid("an empty note"))?;
    at_desk(&state, &caller, move |desk, _| desk.add_note(number, &text)).await?;
    Ok(done(number, "note"))
}

/// `POST /cases/{number}/alerts`: alerts merged in by id (`12, 13 14`).
pub async fn add_alerts(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    axum::extract::Path(number): Number,
    fields: Fields,
) -> Result<Response, PageError> {
    let text = fields.text("ids");
    let ids = text
        .split([',', ' ', '\n', '\t'])
        .filter(|s| !s.trim().is_empty())
        .map(|s| {
            s.trim()
                .parse::<i64>()
                .map_err(|_| PageError::invalid(format!("ids: {s:?} is not an alert id")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    if ids.is_empty() {
        return Err(PageError::invalid("ids: which alerts?"));
    }
    at_desk(&state, &caller, move |desk, _| {
        desk.add_alerts(number, &ids)
    })
    .await?;
    Ok(done(number, "alerts"))
}

/// `POST /cases/{number}/close`: a resolution, the root cause and the lessons learned; every task
/// finished (the case crate says what is missing).
pub async fn close(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    axum::extract::Path(number): Number,
    fields: Fields,
) -> Result<Response, PageError> {
    let resolution = fields.get("resolution").unwrap_or_default();
    let resolution = Resolution::parse(&resolution).ok_or_else(|| {
        PageError::invalid(format!(
            "resolution: choose one ({})",
            Resolution::choices()
        ))
    })?;
    let closing = secops_case::Closing {
        resolution,
        root_cause: fields.text("root_cause"),
        lessons_learned: fields.text("lessons_learned"),
    };
    at_desk(&state, &caller, move |desk, _| desk.close(number, &closing)).await?;
    Ok(done(number, "closed"))
}

/// `POST /cases/{number}/reopen`: with the reason.
pub async fn reopen(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    axum::extract::Path(number): Number,
    fields: Fields,
) -> Result<Response, PageError> {
    let reason = fields
        .get("reason")
        .ok_or_else(|| PageError::invalid("reopening needs the reason"))?;
    at_desk(&state, &caller, move |desk, _| desk.reopen(number, &reason)).await?;
    Ok(done(number, "reopened"))
}
