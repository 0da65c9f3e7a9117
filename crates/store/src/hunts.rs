//! Scheduled hunts: for each hunt (and query) run on a schedule, the end of the event time its runs
//! have covered, the look-back of its first run, when it last ran, and what it raised. The next run
//! starts where the last one ended, so downtime leaves no gap.

use crate::backend::{Change, Row, Value};
use crate::{Store, StoreError};

/// A scheduled hunt's record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HuntSchedule {
    /// The hunt's id and query (`<uuid>#1`).
    pub hunt: String,
    /// Event time (UTC nanoseconds) up to which the runs have covered.
    pub covered_to: i64,
    /// The look-back of a run without an earlier one, nanoseconds.
    pub look_back: i64,
    /// When it last ran (wall clock, UTC nanoseconds).
    pub last_run: i64,
    pub runs: i64,
    /// Alerts raised over all runs (new ones, not repeats).
    pub alerts: i64,
}

const COLUMNS: &str = "hunt, covered_to, look_back, last_run, runs, alerts";

fn schedule_of(row: &Row) -> Result<HuntSchedule, StoreError> {
    Ok(HuntSchedule {
        hunt: row.text(0)?,
        covered_to: row.int(1)?,
        look_back: row.int(2)?,
        last_run: row.int(3)?,
        runs: row.int(4)?,
        alerts: row.int(5)?,
    })
}

impl Store {
    /// The record of a scheduled hunt, if it has run.
    pub fn hunt_schedule(&mut self, hunt: &str) -> Result<Option<HuntSchedule>, StoreError> {
        self.transaction(false, |tx| {
            tx.query_one(
                &format!("SELECT {COLUMNS} FROM hunt_schedule WHERE hunt = ?"),
                &[Value::from(hunt)],
            )?
            .map(|row| schedule_of(&row))
            .transpose()
        })
    }

    /// Every scheduled hunt's record, by hunt.
    pub fn hunt_schedules(&mut self) -> Result<Vec<HuntSchedule>, StoreError> {
        self.transaction(false, |tx| {
            tx.query(
                &format!("SELECT {COLUMNS} FROM hunt_schedule ORDER BY hunt"),
                &[],
            )?
            .iter()
            .map(schedule_of)
            .collect()
        })
    }

    /// Records a run that covered event time up to `covered_to` and raised `alerts` new alerts. The
    /// covered end never moves back (a run over an earlier range, asked for by hand, leaves it).
    pub fn record_hunt_run(
        &mut self,
        hunt: &str,
        covered_to: i64,
        look_back: i64,
        now: i64,
        alerts: i64,
    ) -> Result<HuntSchedule, StoreError> {
        self.transaction(true, |tx| {
            tx.execute(
                "INSERT INTO hunt_schedule (hunt, covered_to, look_back, last_run, runs, alerts)
                 VALUES (?, ?, ?, ?, 1, ?)
                 ON CONFLICT (hunt) DO UPDATE SET
                   covered_to = CASE WHEN excluded.covered_to > hunt_schedule.covered_to
                                THEN excluded.covered_to ELSE hunt_schedule.covered_to END,
                   look_back = excluded.look_back,
                   last_run = excluded.last_run,
                   runs = hunt_schedule.runs + 1,
                   alerts = hunt_schedule.alerts + excluded.alerts",
                &[
                    Value::from(hunt),
                    Value::Int(covered_to),
                    Value::Int(look_back),
                    Value::Int(now),
                    Value::Int(alerts),
                ],
            )?;
            tx.changed(Change {
                object: "hunt",
                id: hunt.to_string(),
                kind: "scheduled_run".into(),
                at: now,
                before: None,
                after: Some(
                    serde_json::json!({"covered_to": covered_to, "alerts": alerts}).to_string(),
                ),
            });
            Ok(())
        })?;
        self.hunt_schedule(hunt)?
            .ok_or_else(|| StoreError::Database("the hunt's run was not recorded".into()))
    }
}

/// A query kept by name to run again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SavedHunt {
    pub id: i64,
    pub name: String,
    pub query: String,
    pub description: String,
    /// Who saved it last.
    pub owner: String,
    pub created_at: i64,
    pub updated_at: i64,
}

const SAVED_COLUMNS: &str = "id, name, query, description, owner, created_at, updated_at";

fn saved_of(row: &Row) -> Result<SavedHunt, StoreError> {
    Ok(SavedHunt {
        id: row.int(0)?,
        name: row.text(1)?,
        query: row.text(2)?,
        description: row.text(3)?,
        owner: row.text(4)?,
        created_at: row.int(5)?,
        updated_at: row.int(6)?,
    })
}

impl Store {
    /// Saves a query under `name`, replacing the query of that name if there is one (its id and
    /// creation time stay).
    pub fn save_hunt(
        &mut self,
        name: &str,
        query: &str,
        description: &str,
        owner: &str,
        now: i64,
    ) -> Result<SavedHunt, StoreError> {
        self.transaction(true, |tx| {
            let before = tx
                .query_one(
                    &format!("SELECT {SAVED_COLUMNS} FROM saved_hunts WHERE name = ?"),
                    &[Value::from(name)],
                )?
                .map(|row| saved_of(&row))
                .transpose()?;
            let row = tx
                .query_one(
                    &format!(
                        "INSERT INTO saved_hunts (name, query, description, owner, created_at, updated_at)
                         VALUES (?, ?, ?, ?, ?, ?)
                         ON CONFLICT (name) DO UPDATE SET query = excluded.query,
                             description = excluded.description, owner = excluded.owner,
                             updated_at = excluded.updated_at
                         RETURNING {SAVED_COLUMNS}"
                    ),
                    &[
                        Value::from(name),
                        Value::from(query),
                        Value::from(description),
                        Value::from(owner),
                        Value::Int(now),
                        Value::Int(now),
                    ],
                )?
                .ok_or_else(|| StoreError::Database("INSERT returned nothing".into()))?;
            let saved = saved_of(&row)?;
            let text = |h: &SavedHunt| {
                serde_json::json!({"name": h.name, "query": h.query, "description": h.description})
                    .to_string()
            };
            tx.changed(Change {
                object: "saved_hunt",
                id: saved.id.to_string(),
                kind: if before.is_some() { "replaced" } else { "saved" }.into(),
                at: now,
                before: before.as_ref().map(text),
                after: Some(text(&saved)),
            });
            Ok(saved)
        })
    }

    /// The saved hunts, by name.
    pub fn saved_hunts(&mut self) -> Result<Vec<SavedHunt>, StoreError> {
        self.transaction(false, |tx| {
            tx.query(
                &format!("SELECT {SAVED_COLUMNS} FROM saved_hunts ORDER BY name"),
                &[],
            )?
            .iter()
            .map(saved_of)
            .collect()
        })
    }

    /// Deletes a saved hunt; an unknown id is `NotFound`.
    pub fn delete_saved_hunt(&mut self, id: i64, now: i64) -> Result<(), StoreError> {
        self.transaction(true, |tx| {
            let before = crate::alerts::fetch_one(
                tx,
                &format!("SELECT {SAVED_COLUMNS} FROM saved_hunts WHERE id = ?"),
                id,
                "saved hunt",
                saved_of,
            )?;
            tx.execute("DELETE FROM saved_hunts WHERE id = ?", &[Value::Int(id)])?;
            tx.changed(Change {
                object: "saved_hunt",
                id: id.to_string(),
                kind: "deleted".into(),
                at: now,
                before: Some(
                    serde_json::json!({"name": before.name, "query": before.query}).to_string(),
                ),
                after: None,
            });
            Ok(())
        })
    }
}
