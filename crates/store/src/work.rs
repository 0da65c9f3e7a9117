//! The work on a case: tasks, observables, timeline entries and notes, each added or changed with its
//! line in the case event log (through `cases.rs`), in one transaction.

use serde_json::json;

use crate::alerts::fetch_one;
use crate::backend::{Row, Tx, Value};
use crate::cases::{case_by_number, case_log, CaseRecord};
use crate::{Store, StoreError};

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NewTask {
    pub group: String,
    pub title: String,
    pub description: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewObservable {
    pub kind: String,
    /// Normalized by the caller (lower-cased domains, canonical addresses).
    pub value: String,
    pub is_ioc: bool,
    pub tlp: String,
    pub description: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewTimelineEntry {
    pub at: i64,
    pub title: String,
    pub body: String,
    pub source: String,
    pub tactic: Option<String>,
    pub technique: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskRecord {
    pub id: i64,
    pub case_id: i64,
    pub position: i64,
    pub group: String,
    pub title: String,
    pub description: String,
    pub status: String,
    pub assignee: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObservableRecord {
    pub id: i64,
    pub case_id: i64,
    pub kind: String,
    pub value: String,
    pub is_ioc: bool,
    pub tlp: String,
    pub description: String,
    pub created_at: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimelineRecord {
    pub id: i64,
    pub case_id: i64,
    pub at: i64,
    pub title: String,
    pub body: String,
    pub source: String,
    pub tactic: Option<String>,
    pub technique: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommentRecord {
    pub id: i64,
    pub case_id: i64,
    pub author: String,
    pub body: String,
    pub created_at: i64,
}

const TASK_COLUMNS: &str =
    "id, case_id, position, task_group, title, description, status, assignee, created_at, updated_at";

impl Store {
    pub fn add_task(
        &mut self,
        number: i64,
        task: &NewTask,
        actor: &str,
        now: i64,
    ) -> Result<TaskRecord, StoreError> {
        self.on_case(number, |tx, case| {
            insert_task(tx, case.id, task, actor, now)
        })
    }

    pub fn tasks(&mut self, number: i64) -> Result<Vec<TaskRecord>, StoreError> {
        self.case_rows(
            number,
            &format!("SELECT {TASK_COLUMNS} FROM tasks WHERE case_id = ? ORDER BY position, id"),
            task_of,
        )
    }

    /// Sets a task's status (and assignee, when given); `decide` sees the task and may refuse.
    pub fn update_task(
        &mut self,
        number: i64,
        task_id: i64,
        actor: &str,
        now: i64,
        mut decide: impl FnMut(&CaseRecord, &TaskRecord) -> Result<(String, Option<String>), StoreError>,
    ) -> Result<TaskRecord, StoreError> {
        self.transaction(true, |tx| {
            let case = case_by_number(tx, number)?;
            let before = fetch_task(tx, task_id)?;
            if before.case_id != case.id {
                return Err(StoreError::NotFound {
                    what: "task",
                    id: format!("{task_id} of case {number}"),
                });
            }
            let (status, assignee) = decide(&case, &before)?;
            tx.execute(
                "UPDATE tasks SET status = ?, assignee = COALESCE(?, assignee), updated_at = ? WHERE id = ?",
                &[
                    Value::from(status.as_str()),
                    Value::from(assignee.clone()),
                    Value::Int(now),
                    Value::Int(task_id),
                ],
            )?;
            let after = fetch_task(tx, task_id)?;
            case_log(
                tx,
                case.id,
                actor,
                now,
                "task_status_changed",
                Some(json!({"task": task_id, "title": before.title, "status": before.status}).to_string()),
                Some(json!({"task": task_id, "title": after.title, "status": after.status}).to_string()),
            )?;
            Ok(after)
        })
    }

    /// Adds an observable; one already on the case (same kind and value) is returned as it is.
    pub fn add_observable(
        &mut self,
        number: i64,
        observable: &NewObservable,
        actor: &str,
        now: i64,
    ) -> Result<(ObservableRecord, bool), StoreError> {
        self.on_case(number, |tx, case| {
            insert_observable(tx, case.id, observable, actor, now)
        })
    }

    pub fn observables(&mut self, number: i64) -> Result<Vec<ObservableRecord>, StoreError> {
        self.case_rows(
            number,
            "SELECT id, case_id, kind, value, is_ioc, tlp, description, created_at FROM observables
             WHERE case_id = ? ORDER BY kind, value",
            observable_of,
        )
    }

    pub fn add_timeline_entry(
        &mut self,
        number: i64,
        entry: &NewTimelineEntry,
        actor: &str,
        now: i64,
    ) -> Result<TimelineRecord, StoreError> {
        self.on_case(number, |tx, case| {
            insert_timeline_entry(tx, case.id, entry, actor, now)
        })
    }

    /// The case's timeline, in event time order.
    pub fn timeline(&mut self, number: i64) -> Result<Vec<TimelineRecord>, StoreError> {
        self.case_rows(
            number,
            "SELECT id, case_id, at, title, body, source, tactic, technique FROM timeline
             WHERE case_id = ? ORDER BY at, id",
            timeline_of,
        )
    }

    pub fn add_comment(
        &mut self,
        number: i64,
        body: &str,
        actor: &str,
        now: i64,
    ) -> Result<CommentRecord, StoreError> {
        if body.trim().is_empty() {
            return Err(StoreError::Invalid("an empty comment".into()));
        }
        self.transaction(true, |tx| {
            let case = case_by_number(tx, number)?;
            let row = tx
                .query_one(
                    "INSERT INTO comments (case_id, author, body, created_at) VALUES (?, ?, ?, ?)
                     RETURNING id, case_id, author, body, created_at",
                    &[
                        Value::Int(case.id),
                        Value::from(actor),
                        Value::from(body),
                        Value::Int(now),
                    ],
                )?
                .ok_or_else(|| StoreError::Database("INSERT returned nothing".into()))?;
            let record = comment_of(&row)?;
            case_log(
                tx,
                case.id,
                actor,
                now,
                "comment_created",
                None,
                Some(json!({"comment": record.id}).to_string()),
            )?;
            Ok(record)
        })
    }

    pub fn comments(&mut self, number: i64) -> Result<Vec<CommentRecord>, StoreError> {
        self.case_rows(
            number,
            "SELECT id, case_id, author, body, created_at FROM comments WHERE case_id = ? ORDER BY id",
            comment_of,
        )
    }
}

pub(crate) fn insert_task(
    tx: &mut dyn Tx,
    case_id: i64,
    task: &NewTask,
    actor: &str,
    now: i64,
) -> Result<TaskRecord, StoreError> {
    if task.title.trim().is_empty() {
        return Err(StoreError::Invalid("a task needs a title".into()));
    }
    let position = tx
        .query_one(
            "SELECT COUNT(*) FROM tasks WHERE case_id = ?",
            &[Value::Int(case_id)],
        )?
        .map(|r| r.int(0))
        .transpose()?
        .unwrap_or(0)
        + 1;
    let id = tx
        .query_one(
            "INSERT INTO tasks (case_id, position, task_group, title, description, status, created_at, updated_at)
             VALUES (?, ?, ?, ?, ?, 'todo', ?, ?) RETURNING id",
            &[
                Value::Int(case_id),
                Value::Int(position),
                Value::from(task.group.as_str()),
                Value::from(task.title.as_str()),
                Value::from(task.description.as_str()),
                Value::Int(now),
                Value::Int(now),
            ],
        )?
        .ok_or_else(|| StoreError::Database("INSERT returned no id".into()))?
        .int(0)?;
    let record = fetch_task(tx, id)?;
    case_log(
        tx,
        case_id,
        actor,
        now,
        "task_created",
        None,
        Some(json!({"task": id, "group": record.group, "title": record.title}).to_string()),
    )?;
    Ok(record)
}

/// Adds an observable unless the case has it (same kind and value); says whether it was added.
pub(crate) fn insert_observable(
    tx: &mut dyn Tx,
    case_id: i64,
    observable: &NewObservable,
    actor: &str,
    now: i64,
) -> Result<(ObservableRecord, bool), StoreError> {
    let existing = tx.query_one(
        "SELECT id, case_id, kind, value, is_ioc, tlp, description, created_at FROM observables
         WHERE case_id = ? AND kind = ? AND value = ?",
        &[
            Value::Int(case_id),
            Value::from(observable.kind.as_str()),
            Value::from(observable.value.as_str()),
        ],
    )?;
    if let Some(row) = existing {
        return Ok((observable_of(&row)?, false));
    }
    let row = tx
        .query_one(
            "INSERT INTO observables (case_id, kind, value, is_ioc, tlp, description, created_at)
             VALUES (?, ?, ?, ?, ?, ?, ?)
             RETURNING id, case_id, kind, value, is_ioc, tlp, description, created_at",
            &[
                Value::Int(case_id),
                Value::from(observable.kind.as_str()),
                Value::from(observable.value.as_str()),
                Value::Int(observable.is_ioc.into()),
                Value::from(observable.tlp.as_str()),
                Value::from(observable.description.as_str()),
                Value::Int(now),
            ],
        )?
        .ok_or_else(|| StoreError::Database("INSERT returned nothing".into()))?;
    let record = observable_of(&row)?;
    case_log(
        tx,
        case_id,
        actor,
        now,
        "observable_added",
        None,
        Some(json!({"kind": record.kind, "value": record.value, "ioc": record.is_ioc}).to_string()),
    )?;
    Ok((record, true))
}

pub(crate) fn insert_timeline_entry(
    tx: &mut dyn Tx,
    case_id: i64,
    entry: &NewTimelineEntry,
    actor: &str,
    now: i64,
) -> Result<TimelineRecord, StoreError> {
    let row = tx
        .query_one(
            "INSERT INTO timeline (case_id, at, title, body, source, tactic, technique, created_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?)
             RETURNING id, case_id, at, title, body, source, tactic, technique",
            &[
                Value::Int(case_id),
                Value::Int(entry.at),
                Value::from(entry.title.as_str()),
                Value::from(entry.body.as_str()),
                Value::from(entry.source.as_str()),
                Value::from(entry.tactic.clone()),
                Value::from(entry.technique.clone()),
                Value::Int(now),
            ],
        )?
        .ok_or_else(|| StoreError::Database("INSERT returned nothing".into()))?;
    let record = timeline_of(&row)?;
    case_log(
        tx,
        case_id,
        actor,
        now,
        "timeline_entry_added",
        None,
        Some(json!({"at": record.at, "title": record.title}).to_string()),
    )?;
    Ok(record)
}

fn fetch_task(tx: &mut dyn Tx, id: i64) -> Result<TaskRecord, StoreError> {
    fetch_one(
        tx,
        &format!("SELECT {TASK_COLUMNS} FROM tasks WHERE id = ?"),
        id,
        "task",
        task_of,
    )
}

fn task_of(row: &Row) -> Result<TaskRecord, StoreError> {
    Ok(TaskRecord {
        id: row.int(0)?,
        case_id: row.int(1)?,
        position: row.int(2)?,
        group: row.text(3)?,
        title: row.text(4)?,
        description: row.text(5)?,
        status: row.text(6)?,
        assignee: row.opt_text(7)?,
        created_at: row.int(8)?,
        updated_at: row.int(9)?,
    })
}

fn observable_of(row: &Row) -> Result<ObservableRecord, StoreError> {
    Ok(ObservableRecord {
        id: row.int(0)?,
        case_id: row.int(1)?,
        kind: row.text(2)?,
        value: row.text(3)?,
        is_ioc: row.int(4)? != 0,
        tlp: row.text(5)?,
        description: row.text(6)?,
        created_at: row.int(7)?,
    })
}

fn comment_of(row: &Row) -> Result<CommentRecord, StoreError> {
    Ok(CommentRecord {
        id: row.int(0)?,
        case_id: row.int(1)?,
        author: row.text(2)?,
        body: row.text(3)?,
        created_at: row.int(4)?,
    })
}

fn timeline_of(row: &Row) -> Result<TimelineRecord, StoreError> {
    Ok(TimelineRecord {
        id: row.int(0)?,
        case_id: row.int(1)?,
        at: row.int(2)?,
        title: row.text(3)?,
        body: row.text(4)?,
        source: row.text(5)?,
        tactic: row.opt_text(6)?,
        technique: row.opt_text(7)?,
    })
}
