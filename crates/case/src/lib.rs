//! Incident response on top of the store: cases opened from alerts with a playbook's tasks, moved
//! through the NIST 800-61 lifecycle ([`lifecycle`]), worked (tasks, observables, timeline, notes) and
//! closed only with a resolution, a root cause and lessons learned. Every change goes through the store
//! in one transaction with its line in the case event log, from which [`metrics`] computes MTTD, MTTA,
//! MTTC and MTTR, and [`report`] writes the case up.
//!
//! Read in this order: `vocabulary.rs` (severity, TLP, PAP, resolution, task status), `lifecycle.rs`,
//! `observable.rs`, `playbook.rs`, this file (the operations), `grouping.rs`, `metrics.rs`, `report.rs`.

pub mod grouping;
pub mod lifecycle;
pub mod metrics;
pub mod observable;
pub mod playbook;
pub mod report;
pub mod vocabulary;

use secops_alert::AlertDocument;
use secops_store::{
    AlertFilter, AlertRecord, CaseRecord, CaseUpdate, CommentRecord, NewCase, NewObservable,
    NewTask, NewTimelineEntry, ObservableRecord, Store, StoreError, TaskRecord, TimelineRecord,
};

pub use lifecycle::CaseState;
use playbook::{Playbook, Playbooks};
pub use secops_intel::Tlp;
pub use vocabulary::{Pap, Resolution, Severity, TaskStatus};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CaseError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{0}")]
    Invalid(String),
    #[error("case {number} cannot move from {from} to {to}: from {from} it may move to {allowed}")]
    IllegalMove {
        number: i64,
        from: CaseState,
        to: CaseState,
        allowed: String,
    },
    #[error("case {number} cannot be closed: {missing}")]
    NotClosable { number: i64, missing: String },
    #[error("playbook {file}: {message}")]
    Playbook { file: String, message: String },
}

/// Who acts, and when (UTC nanoseconds): every change is logged with both.
#[derive(Debug, Clone, Copy)]
pub struct Actor<'a> {
    pub name: &'a str,
    pub now: i64,
}

/// What to open a case from alerts with; unset fields come from the playbook and the alerts.
#[derive(Debug, Clone, Default)]
pub struct FromAlerts {
    pub alert_ids: Vec<i64>,
    pub title: Option<String>,
    /// A playbook by name; without it, the best fit for the alerts' rules and techniques.
    pub playbook: Option<String>,
    pub severity: Option<Severity>,
    pub assignee: Option<String>,
}

/// What closing needs.
#[derive(Debug, Clone)]
pub struct Closing {
    pub resolution: Resolution,
    pub root_cause: String,
    pub lessons_learned: String,
}

/// Opens a case from stored alerts: linked alerts, the playbook's tasks and defaults, the alerts'
/// observables, one timeline entry per alert (with its ATT&CK tactic and technique), `detected_at` =
/// when the first alert was recorded and `incident_start` = its earliest event.
pub fn open_from_alerts(
    store: &mut Store,
    playbooks: &Playbooks,
    request: &FromAlerts,
    actor: Actor<'_>,
) -> Result<CaseRecord, CaseError> {
    if request.alert_ids.is_empty() {
        return Err(CaseError::Invalid("name at least one alert".into()));
    }
    let alerts = store.alerts(&AlertFilter {
        ids: request.alert_ids.clone(),
        ..AlertFilter::default()
    })?;
    if let Some(missing) = request
        .alert_ids
        .iter()
        .find(|id| !alerts.iter().any(|a| a.id == **id))
    {
        return Err(StoreError::NotFound {
            what: "alert",
            id: missing.to_string(),
        }
        .into());
    }
    // A document that does not read contributes nothing but its store fields.
    let documents: Vec<Option<AlertDocument>> = alerts
        .iter()
        .map(|a| AlertDocument::parse(&a.document).ok())
        .collect();
    let rules: Vec<(&str, &str)> = alerts
        .iter()
        .map(|a| (a.rule_id.as_str(), a.rule_name.as_str()))
        .collect();
    let techniques: Vec<&str> = documents
        .iter()
        .flatten()
        .flat_map(|d| d.techniques.iter().map(String::as_str))
        .collect();
    let playbook: Option<&Playbook> = match &request.playbook {
        Some(name) => Some(named(playbooks, name)?),
        None => playbooks.select(&rules, &techniques),
    };
    let alert_severity = alerts
        .iter()
        .filter_map(|a| match a.severity.as_str() {
            // a case has no informational severity: its least is low
            "informational" => Some(Severity::Low),
            other => Severity::parse(other),
        })
        .max();
    let severity = request
        .severity
        .or(alert_severity.max(playbook.map(|p| p.severity)))
        .unwrap_or(Severity::Medium);
    let tlp = playbook.map_or(Tlp::Amber, |p| p.tlp);
    let title = request
        .title
        .clone()
        .unwrap_or_else(|| default_title(&alerts, playbook));
    let mut observables = Vec::new();
    for document in documents.iter().flatten() {
        for (kind, value) in observable::from_alert(document) {
            if !observables
                .iter()
                .any(|o: &NewObservable| o.kind == kind && o.value == value)
            {
                observables.push(NewObservable {
                    is_ioc: observable::is_ioc_kind(&kind),
                    kind,
                    value,
                    tlp: tlp.as_str().into(),
                    description: "from the case's alerts".into(),
                });
            }
        }
    }
    let timeline = alerts
        .iter()
        .zip(&documents)
        .map(|(a, d)| NewTimelineEntry {
            at: a.first_seen,
            title: format!("{} ({} events)", a.rule_name, a.event_count),
            body: format!("alert {}: {}", a.id, a.group_key),
            source: "alert".into(),
            tactic: d.as_ref().and_then(|d| d.tactics.first()).cloned(),
            technique: d.as_ref().and_then(|d| d.techniques.first()).cloned(),
        })
        .collect();
    let case = NewCase {
        title,
        description: playbook.map_or_else(
            || format!("Opened from {} alert(s).", alerts.len()),
            |p| p.description.clone(),
        ),
        severity: severity.as_str().into(),
        tlp: tlp.as_str().into(),
        pap: playbook.map_or(Pap::Amber, |p| p.pap).as_str().into(),
        state: CaseState::New.as_str().into(),
        assignee: request.assignee.clone(),
        playbook: playbook.map(|p| p.name.clone()),
        tags: playbook.map(|p| p.tags.clone()).unwrap_or_default(),
        incident_start: alerts.iter().map(|a| a.first_seen).min(),
        detected_at: alerts.iter().map(|a| a.created_at).min(),
        alert_ids: request.alert_ids.clone(),
        tasks: playbook.map(tasks_of).unwrap_or_default(),
        observables,
        timeline,
    };
    Ok(store.create_case(&case, actor.name, actor.now)?)
}

fn default_title(alerts: &[AlertRecord], playbook: Option<&Playbook>) -> String {
    let what = playbook.map_or_else(
        || {
            alerts
                .first()
                .map(|a| a.rule_name.clone())
                .unwrap_or_default()
        },
        |p| p.title.clone(),
    );
    let mut groups: Vec<&str> = alerts
        .iter()
        .map(|a| a.group_key.as_str())
        .filter(|g| g.contains('='))
        .collect();
    groups.sort_unstable();
    groups.dedup();
    match groups.as_slice() {
        [] => what,
        [one] => format!("{what}: {one}"),
        [first, rest @ ..] => format!("{what}: {first} and {} more", rest.len()),
    }
}

/// A case opened by hand: what is not given comes from the playbook, if one is named, else medium
/// severity and TLP amber.
#[derive(Debug, Clone, Default)]
pub struct ByHand {
    pub title: String,
    pub description: String,
    pub severity: Option<Severity>,
    pub tlp: Option<Tlp>,
    /// A playbook by name: its tasks, tags, PAP and defaults come with it; an unknown name is refused.
    pub playbook: Option<String>,
}

/// Opens a case by hand.
pub fn open(
    store: &mut Store,
    playbooks: &Playbooks,
    request: &ByHand,
    actor: Actor<'_>,
) -> Result<CaseRecord, CaseError> {
    let playbook = request
        .playbook
        .as_deref()
        .map(|name| named(playbooks, name))
        .transpose()?;
    let case = NewCase {
        title: request.title.clone(),
        description: request.description.clone(),
        severity: request
            .severity
            .or(playbook.map(|p| p.severity))
            .unwrap_or(Severity::Medium)
            .as_str()
            .into(),
        tlp: request
            .tlp
            .or(playbook.map(|p| p.tlp))
            .unwrap_or(Tlp::Amber)
            .as_str()
            .into(),
        pap: playbook.map_or(Pap::Amber, |p| p.pap).as_str().into(),
        state: CaseState::New.as_str().into(),
        playbook: playbook.map(|p| p.name.clone()),
        tags: playbook.map(|p| p.tags.clone()).unwrap_or_default(),
        tasks: playbook.map(tasks_of).unwrap_or_default(),
        detected_at: Some(actor.now),
        ..NewCase::default()
    };
    Ok(store.create_case(&case, actor.name, actor.now)?)
}

/// A playbook by name, or why not (naming those there are).
fn named<'p>(playbooks: &'p Playbooks, name: &str) -> Result<&'p Playbook, CaseError> {
    playbooks.get(name).ok_or_else(|| {
        CaseError::Invalid(format!(
            "no playbook {name:?}; there are {}",
            playbooks
                .list
                .iter()
                .map(|p| p.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ))
    })
}

/// A playbook's tasks, for a new case.
fn tasks_of(playbook: &Playbook) -> Vec<NewTask> {
    playbook
        .tasks
        .iter()
        .map(|t| NewTask {
            group: t.group.clone(),
            title: t.title.clone(),
            description: t.description.clone(),
        })
        .collect()
}

/// Runs a change whose checks happen inside the store's transaction, keeping the domain error.
fn change(
    store: &mut Store,
    number: i64,
    actor: Actor<'_>,
    mut decide: impl FnMut(&CaseRecord) -> Result<(String, CaseUpdate), CaseError>,
) -> Result<CaseRecord, CaseError> {
    let mut refusal = None;
    let result = store.update_case(number, actor.name, actor.now, |case| {
        decide(case).map_err(|e| {
            let message = e.to_string();
            refusal = Some(e);
            StoreError::Invalid(message)
        })
    });
    match (result, refusal) {
        (Ok(case), _) => Ok(case),
        (Err(_), Some(refusal)) => Err(refusal),
        (Err(e), None) => Err(e.into()),
    }
}

fn state_of(case: &CaseRecord) -> Result<CaseState, CaseError> {
    CaseState::parse(&case.state).ok_or_else(|| {
        CaseError::Store(StoreError::Corrupt(format!("case state {:?}", case.state)))
    })
}

/// Moves a case along its lifecycle; a move the lifecycle does not allow is refused with the moves
/// it does.
pub fn move_to(
    store: &mut Store,
    number: i64,
    to: CaseState,
    actor: Actor<'_>,
) -> Result<CaseRecord, CaseError> {
    change(store, number, actor, |case| {
        let from = state_of(case)?;
        if to == CaseState::Closed {
            return Err(CaseError::Invalid(format!(
                "case {number}: close it with `case close` (a resolution, root cause and lessons learned)"
            )));
        }
        if !from.next().contains(&to) {
            let mut allowed: Vec<String> = from.next().iter().map(|s| s.to_string()).collect();
            if from.may_close() {
                allowed.push("closed (with `case close`)".into());
            }
            if from == CaseState::Closed {
                allowed.push("in_progress (with `case reopen`)".into());
            }
            return Err(CaseError::IllegalMove {
                number,
                from,
                to,
                allowed: if allowed.is_empty() {
                    "nowhere".into()
                } else {
                    allowed.join(", ")
                },
            });
        }
        Ok((
            "state_changed".into(),
            CaseUpdate {
                state: Some(to.as_str().into()),
                ..CaseUpdate::default()
            },
        ))
    })
}

/// Assigns a case (or, with `None`, unassigns it).
pub fn assign(
    store: &mut Store,
    number: i64,
    assignee: Option<&str>,
    actor: Actor<'_>,
) -> Result<CaseRecord, CaseError> {
    change(store, number, actor, |case| {
        if state_of(case)? == CaseState::Closed {
            return Err(CaseError::Invalid(format!(
                "case {number} is closed: reopen it first"
            )));
        }
        Ok((
            "assignee_changed".into(),
            CaseUpdate {
                assignee: Some(assignee.map(str::to_string)),
                ..CaseUpdate::default()
            },
        ))
    })
}

/// Closes a case: from triage, in progress or post-incident, with every task done or cancelled, a
/// resolution, a root cause and lessons learned. Its open alerts close with it.
pub fn close(
    store: &mut Store,
    number: i64,
    closing: &Closing,
    actor: Actor<'_>,
) -> Result<CaseRecord, CaseError> {
    let open_tasks: Vec<String> = store
        .tasks(number)?
        .into_iter()
        .filter(|t| !TaskStatus::parse(&t.status).is_some_and(TaskStatus::finished))
        .map(|t| format!("task {} {:?} is {}", t.id, t.title, t.status))
        .collect();
    let closed = change(store, number, actor, |case| {
        let from = state_of(case)?;
        let mut missing = Vec::new();
        if !from.may_close() {
            missing.push(format!(
                "it is in {from}; close from triage, in_progress or post_incident"
            ));
        }
        if closing.root_cause.trim().is_empty() {
            missing.push("the root cause is missing".into());
        }
        if closing.lessons_learned.trim().is_empty() {
            missing.push("the lessons learned are missing".into());
        }
        missing.extend(open_tasks.iter().cloned());
        if !missing.is_empty() {
            return Err(CaseError::NotClosable {
                number,
                missing: missing.join("; "),
            });
        }
        Ok((
            "case_closed".into(),
            CaseUpdate {
                state: Some(CaseState::Closed.as_str().into()),
                resolution: Some(Some(closing.resolution.as_str().into())),
                root_cause: Some(Some(closing.root_cause.trim().into())),
                lessons_learned: Some(Some(closing.lessons_learned.trim().into())),
                closed_at: Some(Some(actor.now)),
                ..CaseUpdate::default()
            },
        ))
    })?;
    for id in store.case_alert_ids(number)? {
        let alert = store.alert(id)?;
        if alert.status != secops_store::AlertStatus::Closed {
            store.close_alert(id, actor.name, closing.resolution.as_str(), actor.now)?;
        }
    }
    Ok(closed)
}

/// Reopens a closed case into in_progress, with the reason as a comment.
pub fn reopen(
    store: &mut Store,
    number: i64,
    reason: &str,
    actor: Actor<'_>,
) -> Result<CaseRecord, CaseError> {
    if reason.trim().is_empty() {
        return Err(CaseError::Invalid("reopening needs a reason".into()));
    }
    let case = change(store, number, actor, |case| {
        if state_of(case)? != CaseState::Closed {
            return Err(CaseError::Invalid(format!("case {number} is not closed")));
        }
        Ok((
            "case_reopened".into(),
            CaseUpdate {
                state: Some(CaseState::InProgress.as_str().into()),
                resolution: Some(None),
                closed_at: Some(None),
                ..CaseUpdate::default()
            },
        ))
    })?;
    store.add_comment(
        number,
        &format!("Reopened: {}", reason.trim()),
        actor.name,
        actor.now,
    )?;
    Ok(case)
}

/// Sets a task's status; the tasks of a closed case do not change.
pub fn set_task(
    store: &mut Store,
    number: i64,
    task_id: i64,
    status: TaskStatus,
    assignee: Option<&str>,
    actor: Actor<'_>,
) -> Result<TaskRecord, CaseError> {
    let mut refusal = None;
    let result = store.update_task(number, task_id, actor.name, actor.now, |case, _| {
        if case.state == CaseState::Closed.as_str() {
            let e = CaseError::Invalid(format!("case {number} is closed: reopen it first"));
            let message = e.to_string();
            refusal = Some(e);
            return Err(StoreError::Invalid(message));
        }
        Ok((status.as_str().into(), assignee.map(str::to_string)))
    });
    match (result, refusal) {
        (Ok(task), _) => Ok(task),
        (Err(_), Some(e)) => Err(e),
        (Err(e), None) => Err(e.into()),
    }
}

/// Adds a normalized observable (IoC by its kind unless said otherwise); returns it and whether it
/// was new to the case.
pub fn add_observable(
    store: &mut Store,
    number: i64,
    kind: &str,
    value: &str,
    is_ioc: Option<bool>,
    description: &str,
    actor: Actor<'_>,
) -> Result<(ObservableRecord, bool), CaseError> {
    let value = observable::normalize(kind, value)?;
    let case = store.case(number)?;
    let new = NewObservable {
        kind: kind.into(),
        is_ioc: is_ioc.unwrap_or_else(|| observable::is_ioc_kind(kind)),
        value,
        tlp: case.tlp,
        description: description.into(),
    };
    Ok(store.add_observable(number, &new, actor.name, actor.now)?)
}

/// Adds a task to a case.
pub fn add_task(
    store: &mut Store,
    number: i64,
    task: &NewTask,
    actor: Actor<'_>,
) -> Result<TaskRecord, CaseError> {
    Ok(store.add_task(number, task, actor.name, actor.now)?)
}

/// Adds a note (a comment) to a case.
pub fn add_note(
    store: &mut Store,
    number: i64,
    text: &str,
    actor: Actor<'_>,
) -> Result<CommentRecord, CaseError> {
    Ok(store.add_comment(number, text, actor.name, actor.now)?)
}

/// Adds an entry to a case's timeline.
pub fn add_timeline_entry(
    store: &mut Store,
    number: i64,
    entry: &NewTimelineEntry,
    actor: Actor<'_>,
) -> Result<TimelineRecord, CaseError> {
    Ok(store.add_timeline_entry(number, entry, actor.name, actor.now)?)
}
