//! Cases: opened (with tasks, observables, timeline and linked alerts at once), listed, changed, and
//! the append-only case event log; the work on a case is in `work.rs`. The store keeps the records and
//! the log; what a change may be (the lifecycle, closing requirements) is decided by `secops-case`,
//! inside the same transaction through [`Store::update_case`], so two people changing one case cannot
//! both act on a stale state.

use serde_json::json;

use crate::alerts::{append_event, event_line, fetch_one, EventLine, EventLog};
use crate::backend::{Row, Tx, Value};
use crate::work::{
    insert_observable, insert_task, insert_timeline_entry, NewObservable, NewTask, NewTimelineEntry,
};
use crate::{Store, StoreError};

/// A case to open.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct NewCase {
    pub title: String,
    pub description: String,
    pub severity: String,
    pub tlp: String,
    pub pap: String,
    pub state: String,
    pub assignee: Option<String>,
    pub playbook: Option<String>,
    pub tags: Vec<String>,
    /// Earliest malicious activity known (UTC nanoseconds), for MTTD.
    pub incident_start: Option<i64>,
    /// When detection first saw it (the earliest linked alert), for MTTD and MTTC.
    pub detected_at: Option<i64>,
    pub alert_ids: Vec<i64>,
    pub tasks: Vec<NewTask>,
    pub observables: Vec<NewObservable>,
    pub timeline: Vec<NewTimelineEntry>,
}

/// A stored case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaseRecord {
    pub id: i64,
    pub number: i64,
    pub title: String,
    pub description: String,
    pub severity: String,
    pub tlp: String,
    pub pap: String,
    pub state: String,
    pub resolution: Option<String>,
    pub root_cause: Option<String>,
    pub lessons_learned: Option<String>,
    pub assignee: Option<String>,
    pub playbook: Option<String>,
    pub tags: Vec<String>,
    pub incident_start: Option<i64>,
    pub detected_at: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
    pub closed_at: Option<i64>,
}

/// The fields of a case a change may set; `None` leaves a field as it is.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CaseUpdate {
    pub title: Option<String>,
    pub description: Option<String>,
    pub severity: Option<String>,
    pub tlp: Option<String>,
    pub pap: Option<String>,
    pub state: Option<String>,
    pub resolution: Option<Option<String>>,
    pub root_cause: Option<Option<String>>,
    pub lessons_learned: Option<Option<String>>,
    pub assignee: Option<Option<String>>,
    pub tags: Option<Vec<String>>,
    pub incident_start: Option<Option<i64>>,
    pub closed_at: Option<Option<i64>>,
}

/// A line of a case's event log, with its case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaseEvent {
    pub case_id: i64,
    pub line: EventLine,
}

/// Which cases to list (newest first).
#[derive(Debug, Clone, Default)]
pub struct CaseFilter {
    pub state: Option<String>,
    pub assignee: Option<String>,
    /// Leave out closed cases.
    pub open_only: bool,
    /// Only cases numbered below this one (the listing is newest first): the next page.
    pub before_number: Option<i64>,
    pub limit: Option<u32>,
    /// Only these cases (by their store ids); empty: any.
    pub ids: Vec<i64>,
}

const CASE_COLUMNS: &str = "id, number, title, description, severity, tlp, pap, state, resolution, \
    root_cause, lessons_learned, assignee, playbook, tags, incident_start, detected_at, created_at, \
    updated_at, closed_at";
impl Store {
    /// Runs `work` on a case (by number) in one write transaction.
    pub(crate) fn on_case<T>(
        &mut self,
        number: i64,
        mut work: impl FnMut(&mut dyn Tx, &CaseRecord) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        self.transaction(true, |tx| {
            let case = case_by_number(tx, number)?;
            work(tx, &case)
        })
    }

    /// The rows a query selects for a case (its id is the one parameter), each read by `read`.
    pub(crate) fn case_rows<T>(
        &mut self,
        number: i64,
        sql: &str,
        read: fn(&Row) -> Result<T, StoreError>,
    ) -> Result<Vec<T>, StoreError> {
        self.transaction(false, |tx| {
            let case = case_by_number(tx, number)?;
            tx.query(sql, &[Value::Int(case.id)])?
                .iter()
                .map(read)
                .collect()
        })
    }
}

impl Store {
    /// Opens a case with its tasks and linked alerts, in one transaction; the case gets the next number.
    pub fn create_case(
        &mut self,
        case: &NewCase,
        actor: &str,
        now: i64,
    ) -> Result<CaseRecord, StoreError> {
        if case.title.trim().is_empty() {
            return Err(StoreError::Invalid("a case needs a title".into()));
        }
        self.transaction(true, |tx| {
            let number = tx
                .query_one(
                    "UPDATE counters SET value = value + 1 WHERE name = 'case_number' RETURNING value",
                    &[],
                )?
                .ok_or_else(|| StoreError::Corrupt("the case_number counter is missing".into()))?
                .int(0)?;
            let id = tx
                .query_one(
                    "INSERT INTO cases (number, title, description, severity, tlp, pap, state, assignee,
                        playbook, tags, incident_start, detected_at, created_at, updated_at)
                     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
                    &[
                        Value::Int(number),
                        Value::from(case.title.as_str()),
                        Value::from(case.description.as_str()),
                        Value::from(case.severity.as_str()),
                        Value::from(case.tlp.as_str()),
                        Value::from(case.pap.as_str()),
                        Value::from(case.state.as_str()),
                        Value::from(case.assignee.clone()),
                        Value::from(case.playbook.clone()),
                        Value::from(json!(case.tags).to_string()),
                        Value::from(case.incident_start),
                        Value::from(case.detected_at),
                        Value::Int(now),
                        Value::Int(now),
                    ],
                )?
                .ok_or_else(|| StoreError::Database("INSERT returned no id".into()))?
                .int(0)?;
            let created = fetch_case(tx, id)?;
            case_log(
                tx,
                id,
                actor,
                now,
                "case_created",
                None,
                Some(case_json(&created)),
            )?;
            for task in &case.tasks {
                insert_task(tx, id, task, actor, now)?;
            }
            for observable in &case.observables {
                insert_observable(tx, id, observable, actor, now)?;
            }
            for entry in &case.timeline {
                insert_timeline_entry(tx, id, entry, actor, now)?;
            }
            Store::link_alerts_in(tx, &case.alert_ids, id, actor, now)?;
            for alert in &case.alert_ids {
                case_log(
                    tx,
                    id,
                    actor,
                    now,
                    "alert_linked",
                    None,
                    Some(alert.to_string()),
                )?;
            }
            Ok(created)
        })
    }

    /// A case by its number.
    pub fn case(&mut self, number: i64) -> Result<CaseRecord, StoreError> {
        self.transaction(false, |tx| case_by_number(tx, number))
    }

    /// A case by its row id (what an alert's `case_id` holds).
    pub fn case_by_id(&mut self, id: i64) -> Result<CaseRecord, StoreError> {
        self.transaction(false, |tx| {
            crate::alerts::fetch_one(
                tx,
                &format!("SELECT {CASE_COLUMNS} FROM cases WHERE id = ?"),
                id,
                "case",
                case_of,
            )
        })
    }

    /// Cases matching the filter, newest first.
    pub fn cases(&mut self, filter: &CaseFilter) -> Result<Vec<CaseRecord>, StoreError> {
        let mut sql = format!("SELECT {CASE_COLUMNS} FROM cases WHERE 1 = 1");
        let mut params = Vec::new();
        if let Some(state) = &filter.state {
            sql.push_str(" AND state = ?");
            params.push(Value::from(state.as_str()));
        }
        if let Some(assignee) = &filter.assignee {
            sql.push_str(" AND assignee = ?");
            params.push(Value::from(assignee.as_str()));
        }
        if filter.open_only {
            sql.push_str(" AND closed_at IS NULL");
        }
        if !filter.ids.is_empty() {
            sql.push_str(" AND id IN (");
            for (i, id) in filter.ids.iter().enumerate() {
                sql.push_str(if i == 0 { "?" } else { ", ?" });
                params.push(Value::Int(*id));
            }
            sql.push(')');
        }
        if let Some(number) = filter.before_number {
            sql.push_str(" AND number < ?");
            params.push(Value::Int(number));
        }
        sql.push_str(" ORDER BY number DESC");
        if let Some(limit) = filter.limit {
            sql.push_str(" LIMIT ?");
            params.push(Value::Int(limit.into()));
        }
        self.transaction(false, |tx| {
            tx.query(&sql, &params)?.iter().map(case_of).collect()
        })
    }

    /// Changes a case: `decide` sees the case as it is now (inside the transaction) and returns the
    /// event kind and the fields to set, or refuses. The change and its log line are one write.
    pub fn update_case(
        &mut self,
        number: i64,
        actor: &str,
        now: i64,
        mut decide: impl FnMut(&CaseRecord) -> Result<(String, CaseUpdate), StoreError>,
    ) -> Result<CaseRecord, StoreError> {
        self.transaction(true, |tx| {
            let before = case_by_number(tx, number)?;
            let (kind, update) = decide(&before)?;
            let (sets, mut params) = update_sql(&update);
            if sets.is_empty() {
                return Ok(before);
            }
            params.push(Value::Int(now));
            params.push(Value::Int(before.id));
            tx.execute(
                &format!(
                    "UPDATE cases SET {}, updated_at = ? WHERE id = ?",
                    sets.join(", ")
                ),
                &params,
            )?;
            let after = fetch_case(tx, before.id)?;
            let (was, is) = changed_fields(&before, &after);
            case_log(tx, before.id, actor, now, &kind, Some(was), Some(is))?;
            Ok(after)
        })
    }

    /// Links more alerts to a case.
    pub fn link_alerts(
        &mut self,
        number: i64,
        alert_ids: &[i64],
        actor: &str,
        now: i64,
    ) -> Result<(), StoreError> {
        self.transaction(true, |tx| {
            let case = case_by_number(tx, number)?;
            Store::link_alerts_in(tx, alert_ids, case.id, actor, now)?;
            for alert in alert_ids {
                case_log(
                    tx,
                    case.id,
                    actor,
                    now,
                    "alert_linked",
                    None,
                    Some(alert.to_string()),
                )?;
            }
            Ok(())
        })
    }

    /// The ids of the alerts linked to a case.
    pub fn case_alert_ids(&mut self, number: i64) -> Result<Vec<i64>, StoreError> {
        self.case_rows(
            number,
            "SELECT id FROM alerts WHERE case_id = ? ORDER BY first_seen, id",
            |r| r.int(0),
        )
    }

    /// A case's event log, oldest first.
    pub fn case_events(&mut self, number: i64) -> Result<Vec<EventLine>, StoreError> {
        self.case_rows(
            number,
            "SELECT at, actor, kind, before, after FROM case_events WHERE case_id = ? ORDER BY id",
            event_line,
        )
    }

    /// Every case's event log (for metrics), in order.
    pub fn all_case_events(&mut self) -> Result<Vec<CaseEvent>, StoreError> {
        self.transaction(false, |tx| {
            tx.query(
                "SELECT case_id, at, actor, kind, before, after FROM case_events ORDER BY case_id, id",
                &[],
            )?
            .iter()
            .map(|row| {
                Ok(CaseEvent {
                    case_id: row.int(0)?,
                    line: event_line(&Row(row.0[1..].to_vec()))?,
                })
            })
            .collect()
        })
    }
}

fn update_sql(update: &CaseUpdate) -> (Vec<&'static str>, Vec<Value>) {
    let mut sets = Vec::new();
    let mut params = Vec::new();
    let mut text = |column: &'static str, value: &Option<String>| {
        if let Some(v) = value {
            sets.push(column);
            params.push(Value::from(v.as_str()));
        }
    };
    text("title = ?", &update.title);
    text("description = ?", &update.description);
    text("severity = ?", &update.severity);
    text("tlp = ?", &update.tlp);
    text("pap = ?", &update.pap);
    text("state = ?", &update.state);
    let mut optional = |column: &'static str, value: &Option<Option<String>>| {
        if let Some(v) = value {
            sets.push(column);
            params.push(Value::from(v.clone()));
        }
    };
    optional("resolution = ?", &update.resolution);
    optional("root_cause = ?", &update.root_cause);
    optional("lessons_learned = ?", &update.lessons_learned);
    optional("assignee = ?", &update.assignee);
    if let Some(tags) = &update.tags {
        sets.push("tags = ?");
        params.push(Value::from(json!(tags).to_string()));
    }
    for (column, value) in [
        ("incident_start = ?", &update.incident_start),
        ("closed_at = ?", &update.closed_at),
    ] {
        if let Some(v) = value {
            sets.push(column);
            params.push(Value::from(*v));
        }
    }
    (sets, params)
}

/// The fields that differ between two versions of a case, as two JSON objects.
fn changed_fields(before: &CaseRecord, after: &CaseRecord) -> (String, String) {
    let (b, a) = (case_value(before), case_value(after));
    let mut was = serde_json::Map::new();
    let mut is = serde_json::Map::new();
    if let (serde_json::Value::Object(b), serde_json::Value::Object(a)) = (b, a) {
        for (key, new) in a {
            let old = b.get(&key).cloned().unwrap_or(serde_json::Value::Null);
            if key != "updated_at" && old != new {
                was.insert(key.clone(), old);
                is.insert(key, new);
            }
        }
    }
    (
        serde_json::Value::Object(was).to_string(),
        serde_json::Value::Object(is).to_string(),
    )
}

fn case_value(case: &CaseRecord) -> serde_json::Value {
    json!({
        "number": case.number,
        "title": case.title,
        "description": case.description,
        "severity": case.severity,
        "tlp": case.tlp,
        "pap": case.pap,
        "state": case.state,
        "resolution": case.resolution,
        "root_cause": case.root_cause,
        "lessons_learned": case.lessons_learned,
        "assignee": case.assignee,
        "playbook": case.playbook,
        "tags": case.tags,
        "incident_start": case.incident_start,
        "detected_at": case.detected_at,
        "closed_at": case.closed_at,
        "updated_at": case.updated_at,
    })
}

fn case_json(case: &CaseRecord) -> String {
    case_value(case).to_string()
}

pub(crate) fn case_log(
    tx: &mut dyn Tx,
    case_id: i64,
    actor: &str,
    now: i64,
    kind: &str,
    before: Option<String>,
    after: Option<String>,
) -> Result<(), StoreError> {
    append_event(tx, EventLog::Case, case_id, actor, now, kind, before, after)
}

pub(crate) fn case_by_number(tx: &mut dyn Tx, number: i64) -> Result<CaseRecord, StoreError> {
    fetch_one(
        tx,
        &format!("SELECT {CASE_COLUMNS} FROM cases WHERE number = ?"),
        number,
        "case",
        case_of,
    )
}

fn fetch_case(tx: &mut dyn Tx, id: i64) -> Result<CaseRecord, StoreError> {
    fetch_one(
        tx,
        &format!("SELECT {CASE_COLUMNS} FROM cases WHERE id = ?"),
        id,
        "case id",
        case_of,
    )
}

fn case_of(row: &Row) -> Result<CaseRecord, StoreError> {
    let tags = row.text(13)?;
    Ok(CaseRecord {
        id: row.int(0)?,
        number: row.int(1)?,
        title: row.text(2)?,
        description: row.text(3)?,
        severity: row.text(4)?,
        tlp: row.text(5)?,
        pap: row.text(6)?,
        state: row.text(7)?,
        resolution: row.opt_text(8)?,
        root_cause: row.opt_text(9)?,
        lessons_learned: row.opt_text(10)?,
        assignee: row.opt_text(11)?,
        playbook: row.opt_text(12)?,
        tags: serde_json::from_str(&tags)
            .map_err(|e| StoreError::Corrupt(format!("case tags {tags:?}: {e}")))?,
        incident_start: row.opt_int(14)?,
        detected_at: row.opt_int(15)?,
        created_at: row.int(16)?,
        updated_at: row.int(17)?,
        closed_at: row.opt_int(18)?,
    })
}
