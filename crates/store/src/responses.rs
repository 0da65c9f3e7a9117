//! Response automation's records (migration 20): each run of an action or of its inverse, and
//! each evaluation of an action against an alert, case or request. A run is keyed (`run_key`: the
//! action, the target and what asked for it), so the same alert evaluated twice, or again after a
//! restart, finds its run instead of making another. A run moves
//! `awaiting_approval → approved | rejected | expired`, `queued | approved → running` (claimed by
//! one process, in one statement) `→ succeeded | failed`, and a succeeded one with a hold
//! `→ rolled_back` when its inverse has run. Every change is a line in the alert's and the
//! case's event logs, in its transaction, and so in the audit log.

use crate::alerts::{append_event, EventLog};
use crate::backend::{Row, Tx, Value};
use crate::{Store, StoreError};

/// One run, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResponseRun {
    pub id: i64,
    pub run_key: String,
    pub action_id: String,
    /// `do`, or `undo` for an inverse run by rollback.
    pub operation: String,
    pub target_kind: String,
    pub target: String,
    pub alert_id: Option<i64>,
    pub case_number: Option<i64>,
    pub workflow: Option<String>,
    /// `awaiting_approval`, `approved`, `rejected`, `expired`, `queued`, `running`, `succeeded`,
    /// `failed`, `rolled_back`, `dry_run`.
    pub state: String,
    pub dry_run: bool,
    pub requested_by: String,
    pub requested_at: i64,
    pub approval_due: Option<i64>,
    pub decided_by: Option<String>,
    pub decided_at: Option<i64>,
    pub decision_note: Option<String>,
    /// The exact request (JSON, secrets named): as it would be sent while waiting, as sent after.
    pub request: Option<String>,
    /// What came back (JSON: status, response, attempts, duration).
    pub response: Option<String>,
    pub attempts: i64,
    pub started_at: Option<i64>,
    pub ended_at: Option<i64>,
    /// How long the effect holds (nanoseconds) before its inverse runs.
    pub hold_ns: Option<i64>,
    pub rollback_at: Option<i64>,
    /// For an inverse run: the run it undoes.
    pub rollback_of: Option<i64>,
    /// For a run undone: its inverse run.
    pub rolled_back_by: Option<i64>,
    pub updated_at: i64,
}

/// A run to record.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NewResponseRun {
    pub run_key: String,
    pub action_id: String,
    pub operation: String,
    pub target_kind: String,
    pub target: String,
    pub alert_id: Option<i64>,
    pub case_number: Option<i64>,
    pub workflow: Option<String>,
    pub state: String,
    pub dry_run: bool,
    pub requested_by: String,
    pub approval_due: Option<i64>,
    pub request: Option<String>,
    pub hold_ns: Option<i64>,
    pub rollback_of: Option<i64>,
}

/// One evaluation of an action.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ResponseEvaluation {
    pub id: i64,
    pub at: i64,
    pub alert_id: Option<i64>,
    pub case_number: Option<i64>,
    pub workflow: Option<String>,
    pub action_id: String,
    pub target: Option<String>,
    /// `fired`, `awaiting_approval`, `stopped` (by a guard), `duplicate`, `dry_run`, `skipped`
    /// (a step's condition), `error` (no target, a template that could not render).
    pub outcome: String,
    pub guard: Option<String>,
    pub detail: String,
    pub run_id: Option<i64>,
}

/// Which runs to list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResponseFilter {
    pub states: Vec<String>,
    pub alert_id: Option<i64>,
    pub case_number: Option<i64>,
    pub action_id: Option<String>,
    /// Requested at or after.
    pub since: Option<i64>,
    pub limit: Option<u32>,
}

/// What rate limits, the circuit breaker and escalation read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResponseCounts {
    /// Runs of the action (not dry runs, not refused) requested since the action's window start.
    pub action_runs: u64,
    /// Runs of the action on the target since the target's window start.
    pub target_runs: u64,
    /// Earlier runs of the action on the target that succeeded (for escalating holds).
    pub target_successes: u64,
    /// The states of the action's latest finished runs, newest first.
    pub latest_outcomes: Vec<(String, i64)>,
}

const COLUMNS: &str =
    "id, run_key, action_id, operation, target_kind, target, alert_id, case_number, \
    workflow, state, dry_run, requested_by, requested_at, approval_due, decided_by, decided_at, \
    decision_note, request, response, attempts, started_at, ended_at, hold_ns, rollback_at, \
    rollback_of, rolled_back_by, updated_at";

fn run_of(row: &Row) -> Result<ResponseRun, StoreError> {
    Ok(ResponseRun {
        id: row.int(0)?,
        run_key: row.text(1)?,
        action_id: row.text(2)?,
        operation: row.text(3)?,
        target_kind: row.text(4)?,
        target: row.text(5)?,
        alert_id: row.opt_int(6)?,
        case_number: row.opt_int(7)?,
        workflow: row.opt_text(8)?,
        state: row.text(9)?,
        dry_run: row.int(10)? != 0,
        requested_by: row.text(11)?,
        requested_at: row.int(12)?,
        approval_due: row.opt_int(13)?,
        decided_by: row.opt_text(14)?,
        decided_at: row.opt_int(15)?,
        decision_note: row.opt_text(16)?,
        request: row.opt_text(17)?,
        response: row.opt_text(18)?,
        attempts: row.int(19)?,
        started_at: row.opt_int(20)?,
        ended_at: row.opt_int(21)?,
        hold_ns: row.opt_int(22)?,
        rollback_at: row.opt_int(23)?,
        rollback_of: row.opt_int(24)?,
        rolled_back_by: row.opt_int(25)?,
        updated_at: row.int(26)?,
    })
}

const EVALUATION_COLUMNS: &str =
    "id, at, alert_id, case_number, workflow, action_id, target, outcome, guard, detail, run_id";

fn evaluation_of(row: &Row) -> Result<ResponseEvaluation, StoreError> {
    Ok(ResponseEvaluation {
        id: row.int(0)?,
        at: row.int(1)?,
        alert_id: row.opt_int(2)?,
        case_number: row.opt_int(3)?,
        workflow: row.opt_text(4)?,
        action_id: row.text(5)?,
        target: row.opt_text(6)?,
        outcome: row.text(7)?,
        guard: row.opt_text(8)?,
        detail: row.text(9)?,
        run_id: row.opt_int(10)?,
    })
}

fn summary(run: &ResponseRun) -> String {
    serde_json::json!({
        "run": run.id, "action": run.action_id, "operation": run.operation,
        "target": format!("{} {}", run.target_kind, run.target), "state": run.state,
        "dry_run": run.dry_run, "decided_by": run.decided_by, "note": run.decision_note,
        "rollback_at": run.rollback_at, "rollback_of": run.rollback_of,
    })
    .to_string()
}

/// The row id of case `number` (none when there is no such case).
fn case_id(tx: &mut dyn Tx, number: i64) -> Result<Option<i64>, StoreError> {
    tx.query_one(
        "SELECT id FROM cases WHERE number = ?",
        &[Value::Int(number)],
    )?
    .map(|row| row.int(0))
    .transpose()
}

/// The run's line in its alert's and case's event logs.
fn log_run(
    tx: &mut dyn Tx,
    run: &ResponseRun,
    before: Option<&ResponseRun>,
    actor: &str,
    now: i64,
) -> Result<(), StoreError> {
    let kind = format!("response.{}", run.state);
    if let Some(alert) = run.alert_id {
        let exists = tx
            .query_one("SELECT id FROM alerts WHERE id = ?", &[Value::Int(alert)])?
            .is_some();
        if exists {
            append_event(
                tx,
                EventLog::Alert,
                alert,
                actor,
                now,
                &kind,
                before.map(summary),
                Some(summary(run)),
            )?;
        }
    }
    if let Some(number) = run.case_number {
        if let Some(case_id) = case_id(tx, number)? {
            append_event(
                tx,
                EventLog::Case,
                case_id,
                actor,
                now,
                &kind,
                before.map(summary),
                Some(summary(run)),
            )?;
        }
    }
    Ok(())
}

/// An evaluation that made no run (a guard stopped it, it was rate-limited, it had no usable
/// target...) as a line in its case's event log (`response.<outcome>`); one that made or found a
/// run is told by the run's own lines, and a step whose condition did not hold by none.
fn log_evaluation(tx: &mut dyn Tx, e: &ResponseEvaluation) -> Result<(), StoreError> {
    if e.run_id.is_some() || e.outcome == "skipped" {
        return Ok(());
    }
    let Some(case_id) = e.case_number.map(|n| case_id(tx, n)).transpose()?.flatten() else {
        return Ok(());
    };
    let line = serde_json::json!({
        "action": e.action_id, "workflow": e.workflow, "target": e.target, "alert": e.alert_id,
        "outcome": e.outcome, "guard": e.guard, "detail": e.detail,
    })
    .to_string();
    append_event(
        tx,
        EventLog::Case,
        case_id,
        "secops-respond",
        e.at,
        &format!("response.{}", e.outcome),
        None,
        Some(line),
    )
}

fn fetch(tx: &mut dyn Tx, id: i64) -> Result<ResponseRun, StoreError> {
    crate::alerts::fetch_one(
        tx,
        &format!("SELECT {COLUMNS} FROM response_runs WHERE id = ?"),
        id,
        "response run",
        run_of,
    )
}

/// What [`Store::decide_response`] decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Approve,
    Reject,
}

impl Store {
    /// Records a run unless one with its key exists: `Ok((run, true))` when recorded now, `Ok((the
    /// existing run, false))` otherwise.
    pub fn add_response_run(
        &mut self,
        new: &NewResponseRun,
        actor: &str,
        now: i64,
    ) -> Result<(ResponseRun, bool), StoreError> {
        self.transaction(true, |tx| {
            if let Some(row) = tx.query_one(
                &format!("SELECT {COLUMNS} FROM response_runs WHERE run_key = ?"),
                &[Value::from(new.run_key.as_str())],
            )? {
                return Ok((run_of(&row)?, false));
            }
            let row = tx
                .query_one(
                    &format!(
                        "INSERT INTO response_runs (run_key, action_id, operation, target_kind, target,
                             alert_id, case_number, workflow, state, dry_run, requested_by, requested_at,
                             approval_due, request, hold_ns, rollback_of, updated_at)
                         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING {COLUMNS}"
                    ),
                    &[
                        Value::from(new.run_key.as_str()),
                        Value::from(new.action_id.as_str()),
                        Value::from(new.operation.as_str()),
                        Value::from(new.target_kind.as_str()),
                        Value::from(new.target.as_str()),
                        Value::from(new.alert_id),
                        Value::from(new.case_number),
                        Value::from(new.workflow.clone()),
                        Value::from(new.state.as_str()),
                        Value::Int(i64::from(new.dry_run)),
                        Value::from(new.requested_by.as_str()),
                        Value::Int(now),
                        Value::from(new.approval_due),
                        Value::from(new.request.clone()),
                        Value::from(new.hold_ns),
                        Value::from(new.rollback_of),
                        Value::Int(now),
                    ],
                )?
                .ok_or_else(|| StoreError::Database("INSERT returned nothing".into()))?;
            let run = run_of(&row)?;
            log_run(tx, &run, None, actor, now)?;
            Ok((run, true))
        })
    }

    pub fn response_run(&mut self, id: i64) -> Result<ResponseRun, StoreError> {
        self.transaction(false, |tx| fetch(tx, id))
    }

    /// Runs, newest first.
    pub fn response_runs(
        &mut self,
        filter: &ResponseFilter,
    ) -> Result<Vec<ResponseRun>, StoreError> {
        self.transaction(false, |tx| {
            let mut sql = format!("SELECT {COLUMNS} FROM response_runs WHERE 1 = 1");
            let mut params = Vec::new();
            if !filter.states.is_empty() {
                sql.push_str(&format!(
                    " AND state IN ({})",
                    vec!["?"; filter.states.len()].join(", ")
                ));
                params.extend(filter.states.iter().map(|s| Value::from(s.as_str())));
            }
            if let Some(a) = filter.alert_id {
                sql.push_str(" AND alert_id = ?");
                params.push(Value::Int(a));
            }
            if let Some(c) = filter.case_number {
                sql.push_str(" AND case_number = ?");
                params.push(Value::Int(c));
            }
            if let Some(a) = &filter.action_id {
                sql.push_str(" AND action_id = ?");
                params.push(Value::from(a.as_str()));
            }
            if let Some(s) = filter.since {
                sql.push_str(" AND requested_at >= ?");
                params.push(Value::Int(s));
            }
            sql.push_str(" ORDER BY id DESC");
            if let Some(limit) = filter.limit {
                sql.push_str(&format!(" LIMIT {limit}"));
            }
            tx.query(&sql, &params)?.iter().map(run_of).collect()
        })
    }

    /// Records an evaluation.
    pub fn add_response_evaluation(&mut self, e: &ResponseEvaluation) -> Result<i64, StoreError> {
        self.transaction(true, |tx| {
            let row = tx
                .query_one(
                    "INSERT INTO response_evaluations (at, alert_id, case_number, workflow, action_id,
                         target, outcome, guard, detail, run_id)
                     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
                    &[
                        Value::Int(e.at),
                        Value::from(e.alert_id),
                        Value::from(e.case_number),
                        Value::from(e.workflow.clone()),
                        Value::from(e.action_id.as_str()),
                        Value::from(e.target.clone()),
                        Value::from(e.outcome.as_str()),
                        Value::from(e.guard.clone()),
                        Value::from(e.detail.as_str()),
                        Value::from(e.run_id),
                    ],
                )?
                .ok_or_else(|| StoreError::Database("INSERT returned nothing".into()))?;
            let id = row.int(0)?;
            log_evaluation(tx, e)?;
            Ok(id)
        })
    }

    /// An alert's evaluations, oldest first.
    pub fn response_evaluations(
        &mut self,
        alert_id: i64,
    ) -> Result<Vec<ResponseEvaluation>, StoreError> {
        self.transaction(false, |tx| {
            tx.query(
                &format!(
                    "SELECT {EVALUATION_COLUMNS} FROM response_evaluations WHERE alert_id = ? ORDER BY id"
                ),
                &[Value::Int(alert_id)],
            )?
            .iter()
            .map(evaluation_of)
            .collect()
        })
    }

    /// Approves or rejects a run awaiting approval (the caller has checked who may). A run no
    /// longer waiting, or whose approval is past due, is refused with its state.
    pub fn decide_response(
        &mut self,
        id: i64,
        decision: Decision,
        by: &str,
        note: Option<&str>,
        now: i64,
    ) -> Result<ResponseRun, StoreError> {
        self.transaction(true, |tx| {
            let before = fetch(tx, id)?;
            if before.state != "awaiting_approval" {
                return Err(StoreError::Invalid(format!(
                    "response run {id} is {}, not awaiting approval",
                    before.state
                )));
            }
            if before.approval_due.is_some_and(|due| due <= now) {
                return Err(StoreError::Invalid(format!(
                    "response run {id}: its approval expired"
                )));
            }
            let state = match decision {
                Decision::Approve => "approved",
                Decision::Reject => "rejected",
            };
            tx.execute(
                "UPDATE response_runs SET state = ?, decided_by = ?, decided_at = ?, decision_note = ?,
                     updated_at = ? WHERE id = ?",
                &[
                    Value::from(state),
                    Value::from(by),
                    Value::Int(now),
                    Value::from(note),
                    Value::Int(now),
                    Value::Int(id),
                ],
            )?;
            let after = fetch(tx, id)?;
            log_run(tx, &after, Some(&before), by, now)?;
            Ok(after)
        })
    }

    /// Runs awaiting approval past their due time become `expired`; returns them.
    pub fn expire_responses(
        &mut self,
        now: i64,
        actor: &str,
    ) -> Result<Vec<ResponseRun>, StoreError> {
        self.transaction(true, |tx| {
            let due = tx
                .query(
                    &format!(
                        "SELECT {COLUMNS} FROM response_runs
                         WHERE state = 'awaiting_approval' AND approval_due <= ? ORDER BY id"
                    ),
                    &[Value::Int(now)],
                )?
                .iter()
                .map(run_of)
                .collect::<Result<Vec<_>, _>>()?;
            let mut expired = Vec::new();
            for before in due {
                tx.execute(
                    "UPDATE response_runs SET state = 'expired', updated_at = ? WHERE id = ?",
                    &[Value::Int(now), Value::Int(before.id)],
                )?;
                let after = fetch(tx, before.id)?;
                log_run(tx, &after, Some(&before), actor, now)?;
                expired.push(after);
            }
            Ok(expired)
        })
    }

    /// The ids of runs ready to run (`queued`, `approved`), oldest first.
    pub fn runnable_responses(&mut self) -> Result<Vec<i64>, StoreError> {
        self.transaction(false, |tx| {
            tx.query(
                "SELECT id FROM response_runs WHERE state IN ('queued', 'approved') ORDER BY id",
                &[],
            )?
            .iter()
            .map(|r| r.int(0))
            .collect()
        })
    }

    /// Claims a run for this process: `queued` or `approved` becomes `running` in one statement;
    /// `None` when another process took it (or it is no longer runnable).
    pub fn claim_response(
        &mut self,
        id: i64,
        request: &str,
        actor: &str,
        now: i64,
    ) -> Result<Option<ResponseRun>, StoreError> {
        self.transaction(true, |tx| {
            let before = fetch(tx, id)?;
            let changed = tx.execute(
                "UPDATE response_runs SET state = 'running', attempts = attempts + 1, started_at = ?,
                     request = ?, updated_at = ? WHERE id = ? AND state IN ('queued', 'approved')",
                &[
                    Value::Int(now),
                    Value::from(request),
                    Value::Int(now),
                    Value::Int(id),
                ],
            )?;
            if changed == 0 {
                return Ok(None);
            }
            let after = fetch(tx, id)?;
            log_run(tx, &after, Some(&before), actor, now)?;
            Ok(Some(after))
        })
    }

    /// Ends a running run: `succeeded` (with its rollback time when it holds) or `failed`; for an
    /// inverse run that succeeded, the run it undoes becomes `rolled_back`.
    pub fn finish_response(
        &mut self,
        id: i64,
        ok: bool,
        response: &str,
        rollback_at: Option<i64>,
        actor: &str,
        now: i64,
    ) -> Result<ResponseRun, StoreError> {
        self.transaction(true, |tx| {
            let before = fetch(tx, id)?;
            if before.state != "running" {
                return Err(StoreError::Invalid(format!(
                    "response run {id} is {}, not running",
                    before.state
                )));
            }
            tx.execute(
                "UPDATE response_runs SET state = ?, response = ?, ended_at = ?, rollback_at = ?,
                     updated_at = ? WHERE id = ?",
                &[
                    Value::from(if ok { "succeeded" } else { "failed" }),
                    Value::from(response),
                    Value::Int(now),
                    Value::from(if ok { rollback_at } else { None }),
                    Value::Int(now),
                    Value::Int(id),
                ],
            )?;
            let after = fetch(tx, id)?;
            log_run(tx, &after, Some(&before), actor, now)?;
            if let (true, Some(undone)) = (ok, after.rollback_of) {
                let prior = fetch(tx, undone)?;
                tx.execute(
                    "UPDATE response_runs SET state = 'rolled_back', rolled_back_by = ?, updated_at = ?
                     WHERE id = ?",
                    &[Value::Int(id), Value::Int(now), Value::Int(undone)],
                )?;
                let rolled = fetch(tx, undone)?;
                log_run(tx, &rolled, Some(&prior), actor, now)?;
            }
            Ok(after)
        })
    }

    /// Runs left `running` (their process stopped mid-run).
    pub fn interrupted_responses(&mut self) -> Result<Vec<ResponseRun>, StoreError> {
        self.response_runs(&ResponseFilter {
            states: vec!["running".into()],
            ..ResponseFilter::default()
        })
    }

    /// Puts a run cut off mid-run back in the queue (its connector dedupes a second send) or marks
    /// it failed with why.
    pub fn recover_response(
        &mut self,
        id: i64,
        requeue: bool,
        note: &str,
        actor: &str,
        now: i64,
    ) -> Result<ResponseRun, StoreError> {
        self.transaction(true, |tx| {
            let before = fetch(tx, id)?;
            if before.state != "running" {
                return Ok(before);
            }
            let state = if requeue { "queued" } else { "failed" };
            tx.execute(
                "UPDATE response_runs SET state = ?, response = ?, updated_at = ? WHERE id = ?",
                &[
                    Value::from(state),
                    Value::from(note),
                    Value::Int(now),
                    Value::Int(id),
                ],
            )?;
            let after = fetch(tx, id)?;
            log_run(tx, &after, Some(&before), actor, now)?;
            Ok(after)
        })
    }

    /// Succeeded runs whose hold is over and that no inverse run has undone yet.
    pub fn rollbacks_due(&mut self, now: i64) -> Result<Vec<ResponseRun>, StoreError> {
        self.transaction(false, |tx| {
            tx.query(
                &format!(
                    "SELECT {COLUMNS} FROM response_runs
                     WHERE state = 'succeeded' AND rollback_at IS NOT NULL AND rollback_at <= ?
                       AND rolled_back_by IS NULL
                     ORDER BY rollback_at, id"
                ),
                &[Value::Int(now)],
            )?
            .iter()
            .map(run_of)
            .collect()
        })
    }

    /// Counts for an action's guards: runs of the action since `action_since`, runs on the target
    /// since `target_since`, the target's earlier successes, and the latest `latest` finished runs'
    /// states. Dry runs and refused requests do not count.
    pub fn response_counts(
        &mut self,
        action_id: &str,
        target_kind: &str,
        target: &str,
        action_since: i64,
        target_since: i64,
        latest: u32,
    ) -> Result<ResponseCounts, StoreError> {
        self.transaction(false, |tx| {
            let counted = "dry_run = 0 AND operation = 'do' \
                AND state NOT IN ('rejected', 'expired', 'awaiting_approval')";
            let count = |tx: &mut dyn Tx, sql: &str, params: &[Value]| -> Result<u64, StoreError> {
                Ok(tx
                    .query_one(sql, params)?
                    .map(|r| r.int(0))
                    .transpose()?
                    .map_or(0, |n| u64::try_from(n).unwrap_or(0)))
            };
            let action_runs = count(
                tx,
                &format!(
                    "SELECT COUNT(*) FROM response_runs WHERE action_id = ? AND requested_at >= ? AND {counted}"
                ),
                &[Value::from(action_id), Value::Int(action_since)],
            )?;
            let target_runs = count(
                tx,
                &format!(
                    "SELECT COUNT(*) FROM response_runs WHERE target_kind = ? AND target = ?
                     AND action_id = ? AND requested_at >= ? AND {counted}"
                ),
                &[
                    Value::from(target_kind),
                    Value::from(target),
                    Value::from(action_id),
                    Value::Int(target_since),
                ],
            )?;
            let target_successes = count(
                tx,
                "SELECT COUNT(*) FROM response_runs WHERE target_kind = ? AND target = ?
                 AND action_id = ? AND dry_run = 0 AND operation = 'do'
                 AND state IN ('succeeded', 'rolled_back')",
                &[
                    Value::from(target_kind),
                    Value::from(target),
                    Value::from(action_id),
                ],
            )?;
            let latest_outcomes = tx
                .query(
                    &format!(
                        "SELECT state, ended_at FROM response_runs
                         WHERE action_id = ? AND dry_run = 0 AND ended_at IS NOT NULL
                           AND state IN ('succeeded', 'failed', 'rolled_back')
                         ORDER BY ended_at DESC, id DESC LIMIT {latest}"
                    ),
                    &[Value::from(action_id)],
                )?
                .iter()
                .map(|r| Ok((r.text(0)?, r.int(1)?)))
                .collect::<Result<Vec<_>, StoreError>>()?;
            Ok(ResponseCounts {
                action_runs,
                target_runs,
                target_successes,
                latest_outcomes,
            })
        })
    }

    /// Where the evaluator `name` has read up to (an alert's or a case event's id; 0 before its
    /// first).
    pub fn response_cursor(&mut self, name: &str) -> Result<i64, StoreError> {
        Ok(self.response_cursor_if_any(name)?.unwrap_or(0))
    }

    /// Where the evaluator `name` has read up to; `None` before its first look.
    pub fn response_cursor_if_any(&mut self, name: &str) -> Result<Option<i64>, StoreError> {
        self.transaction(false, |tx| {
            tx.query_one(
                "SELECT position FROM response_cursors WHERE name = ?",
                &[Value::from(name)],
            )?
            .map(|r| r.int(0))
            .transpose()
        })
    }

    /// The newest alert's id (0 with none).
    pub fn last_alert_id(&mut self) -> Result<i64, StoreError> {
        self.transaction(false, |tx| {
            Ok(tx
                .query_one("SELECT MAX(id) FROM alerts", &[])?
                .map(|r| r.opt_int(0))
                .transpose()?
                .flatten()
                .unwrap_or(0))
        })
    }

    /// Moves the evaluator `name` on to `position`.
    pub fn set_response_cursor(
        &mut self,
        name: &str,
        position: i64,
        now: i64,
    ) -> Result<(), StoreError> {
        self.transaction(true, |tx| {
            tx.execute(
                "INSERT INTO response_cursors (name, position, updated_at) VALUES (?, ?, ?)
                 ON CONFLICT (name) DO UPDATE SET position = excluded.position,
                     updated_at = excluded.updated_at",
                &[Value::from(name), Value::Int(position), Value::Int(now)],
            )?;
            Ok(())
        })
    }

    /// Cases' moves along their lifecycle after the case event `after_id`, oldest first: (the
    /// event's id, the case's number, the state it moved to).
    pub fn case_moves_after(
        &mut self,
        after_id: i64,
        limit: u32,
    ) -> Result<Vec<(i64, i64, String)>, StoreError> {
        self.transaction(false, |tx| {
            let rows = tx.query(
                &format!(
                    "SELECT e.id, c.number, e.after FROM case_events e JOIN cases c ON c.id = e.case_id
                     WHERE e.id > ? AND e.kind = 'state_changed' ORDER BY e.id LIMIT {limit}"
                ),
                &[Value::Int(after_id)],
            )?;
            let mut moves = Vec::new();
            for row in rows {
                let after: serde_json::Value =
                    serde_json::from_str(&row.opt_text(2)?.unwrap_or_default())
                        .unwrap_or(serde_json::Value::Null);
                let state = after
                    .get("state")
                    .and_then(|v| v.as_str())
                    .unwrap_or_default()
                    .to_string();
                moves.push((row.int(0)?, row.int(1)?, state));
            }
            Ok(moves)
        })
    }

    /// The newest case event's id (where an evaluator that starts now begins).
    pub fn last_case_event_id(&mut self) -> Result<i64, StoreError> {
        self.transaction(false, |tx| {
            Ok(tx
                .query_one("SELECT MAX(id) FROM case_events", &[])?
                .map(|r| r.opt_int(0))
                .transpose()?
                .flatten()
                .unwrap_or(0))
        })
    }

    /// Alerts by id after `after_id`, oldest first, up to `limit`; with `since`, only those last
    /// seen then or later.
    pub fn alerts_after_id(
        &mut self,
        after_id: i64,
        since: Option<i64>,
        limit: u32,
    ) -> Result<Vec<crate::AlertRecord>, StoreError> {
        let ids: Vec<i64> = self.transaction(false, |tx| {
            let mut sql = "SELECT id FROM alerts WHERE id > ?".to_string();
            let mut params = vec![Value::Int(after_id)];
            if let Some(s) = since {
                sql.push_str(" AND last_seen >= ?");
                params.push(Value::Int(s));
            }
            sql.push_str(&format!(" ORDER BY id LIMIT {limit}"));
            tx.query(&sql, &params)?.iter().map(|r| r.int(0)).collect()
        })?;
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut alerts = self.alerts(&crate::AlertFilter {
            ids,
            ..crate::AlertFilter::default()
        })?;
        alerts.sort_by_key(|a| a.id);
        Ok(alerts)
    }

    /// A run of the action on the target still pending or in effect (waiting, queued, running, or
    /// succeeded with a hold not yet rolled back), if any: the newest.
    pub fn active_response(
        &mut self,
        action_id: &str,
        target_kind: &str,
        target: &str,
    ) -> Result<Option<ResponseRun>, StoreError> {
        self.transaction(false, |tx| {
            tx.query_one(
                &format!(
                    "SELECT {COLUMNS} FROM response_runs
                     WHERE target_kind = ? AND target = ? AND action_id = ? AND operation = 'do'
                       AND dry_run = 0
                       AND (state IN ('awaiting_approval', 'approved', 'queued', 'running')
                            OR (state = 'succeeded' AND rollback_at IS NOT NULL
                                AND rolled_back_by IS NULL))
                     ORDER BY id DESC LIMIT 1"
                ),
                &[
                    Value::from(target_kind),
                    Value::from(target),
                    Value::from(action_id),
                ],
            )?
            .map(|r| run_of(&r))
            .transpose()
        })
    }
}
