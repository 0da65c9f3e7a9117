//! What analysts hand back to detection engineering from the queue, and what they keep for
//! themselves: exceptions to a rule (a field's value that should not alert, until an expiry),
//! tuning tickets ("this rule is noisy"), and each user's default view of a page. Every change is
//! audited in the transaction that makes it.

use crate::backend::{Change, Row, Value};
use crate::{Store, StoreError};

/// An exception to a rule: events whose `field` equals `value` do not alert, until `expires_at`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExceptionRecord {
    pub id: i64,
    pub rule_id: String,
    pub field: String,
    pub value: String,
    pub reason: String,
    /// The alert it was made from.
    pub alert_id: Option<i64>,
    pub created_by: String,
    pub created_at: i64,
    /// It stops applying then (UTC nanoseconds); none: until removed.
    pub expires_at: Option<i64>,
    pub removed_at: Option<i64>,
}

/// An exception to add.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewException {
    pub rule_id: String,
    pub field: String,
    pub value: String,
    pub reason: String,
    pub alert_id: Option<i64>,
    pub expires_at: Option<i64>,
}

/// A request to detection engineering to tune a rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TuningTicket {
    pub id: i64,
    pub rule_id: String,
    pub rule_name: String,
    pub alert_id: Option<i64>,
    pub reason: String,
    pub opened_by: String,
    pub opened_at: i64,
    /// `open` or `closed`.
    pub state: String,
    pub closed_by: Option<String>,
    pub closed_at: Option<i64>,
    /// What the engineers did about it.
    pub outcome: Option<String>,
}

/// A ticket to open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewTicket {
    pub rule_id: String,
    pub rule_name: String,
    pub alert_id: Option<i64>,
    pub reason: String,
}

const EXCEPTION_COLUMNS: &str =
    "id, rule_id, field, value, reason, alert_id, created_by, created_at, expires_at, removed_at";

fn exception_of(row: &Row) -> Result<ExceptionRecord, StoreError> {
    Ok(ExceptionRecord {
        id: row.int(0)?,
        rule_id: row.text(1)?,
        field: row.text(2)?,
        value: row.text(3)?,
        reason: row.text(4)?,
        alert_id: row.opt_int(5)?,
        created_by: row.text(6)?,
        created_at: row.int(7)?,
        expires_at: row.opt_int(8)?,
        removed_at: row.opt_int(9)?,
    })
}

const TICKET_COLUMNS: &str = "id, rule_id, rule_name, alert_id, reason, opened_by, opened_at, \
    state, closed_by, closed_at, outcome";

fn ticket_of(row: &Row) -> Result<TuningTicket, StoreError> {
    Ok(TuningTicket {
        id: row.int(0)?,
        rule_id: row.text(1)?,
        rule_name: row.text(2)?,
        alert_id: row.opt_int(3)?,
        reason: row.text(4)?,
        opened_by: row.text(5)?,
        opened_at: row.int(6)?,
        state: row.text(7)?,
        closed_by: row.opt_text(8)?,
        closed_at: row.opt_int(9)?,
        outcome: row.opt_text(10)?,
    })
}

fn exception_json(e: &ExceptionRecord) -> String {
    serde_json::json!({
        "rule_id": e.rule_id, "field": e.field, "value": e.value, "reason": e.reason,
        "alert_id": e.alert_id, "expires_at": e.expires_at, "removed_at": e.removed_at,
    })
    .to_string()
}

fn ticket_json(t: &TuningTicket) -> String {
    serde_json::json!({
        "rule_id": t.rule_id, "alert_id": t.alert_id, "reason": t.reason, "state": t.state,
        "outcome": t.outcome,
    })
    .to_string()
}

impl Store {
    /// Adds an exception to a rule.
    pub fn add_exception(
        &mut self,
        new: &NewException,
        by: &str,
        now: i64,
    ) -> Result<ExceptionRecord, StoreError> {
        self.transaction(true, |tx| {
            let row = tx
                .query_one(
                    &format!(
                        "INSERT INTO rule_exceptions (rule_id, field, value, reason, alert_id,
                             created_by, created_at, expires_at)
                         VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING {EXCEPTION_COLUMNS}"
                    ),
                    &[
                        Value::from(new.rule_id.as_str()),
                        Value::from(new.field.as_str()),
                        Value::from(new.value.as_str()),
                        Value::from(new.reason.as_str()),
                        Value::from(new.alert_id),
                        Value::from(by),
                        Value::Int(now),
                        Value::from(new.expires_at),
                    ],
                )?
                .ok_or_else(|| StoreError::Database("INSERT returned nothing".into()))?;
            let added = exception_of(&row)?;
            tx.changed(Change {
                object: "rule_exception",
                id: added.id.to_string(),
                kind: "added".into(),
                at: now,
                before: None,
                after: Some(exception_json(&added)),
            });
            Ok(added)
        })
    }

    /// The exceptions not removed, of one rule or of all, oldest first; with `in_force_at`, only
    /// those not expired then.
    pub fn exceptions(
        &mut self,
        rule_id: Option<&str>,
        in_force_at: Option<i64>,
    ) -> Result<Vec<ExceptionRecord>, StoreError> {
        self.transaction(false, |tx| {
            let mut sql =
                format!("SELECT {EXCEPTION_COLUMNS} FROM rule_exceptions WHERE removed_at IS NULL");
            let mut params = Vec::new();
            if let Some(rule) = rule_id {
                sql.push_str(" AND rule_id = ?");
                params.push(Value::from(rule));
            }
            if let Some(at) = in_force_at {
                sql.push_str(" AND (expires_at IS NULL OR expires_at > ?)");
                params.push(Value::Int(at));
            }
            sql.push_str(" ORDER BY id");
            tx.query(&sql, &params)?.iter().map(exception_of).collect()
        })
    }

    /// Removes an exception (it stays on record, marked removed).
    pub fn remove_exception(&mut self, id: i64, now: i64) -> Result<ExceptionRecord, StoreError> {
        self.transaction(true, |tx| {
            let before = crate::alerts::fetch_one(
                tx,
                &format!(
                    "SELECT {EXCEPTION_COLUMNS} FROM rule_exceptions WHERE id = ? AND removed_at IS NULL"
                ),
                id,
                "exception",
                exception_of,
            )?;
            tx.execute(
                "UPDATE rule_exceptions SET removed_at = ? WHERE id = ?",
                &[Value::Int(now), Value::Int(id)],
            )?;
            let after = ExceptionRecord {
                removed_at: Some(now),
                ..before.clone()
            };
            tx.changed(Change {
                object: "rule_exception",
                id: id.to_string(),
                kind: "removed".into(),
                at: now,
                before: Some(exception_json(&before)),
                after: Some(exception_json(&after)),
            });
            Ok(after)
        })
    }

    /// Opens a tuning ticket on a rule.
    pub fn open_ticket(
        &mut self,
        new: &NewTicket,
        by: &str,
        now: i64,
    ) -> Result<TuningTicket, StoreError> {
        self.transaction(true, |tx| {
            let row = tx
                .query_one(
                    &format!(
                        "INSERT INTO tuning_tickets (rule_id, rule_name, alert_id, reason, opened_by,
                             opened_at, state)
                         VALUES (?, ?, ?, ?, ?, ?, 'open') RETURNING {TICKET_COLUMNS}"
                    ),
                    &[
                        Value::from(new.rule_id.as_str()),
                        Value::from(new.rule_name.as_str()),
                        Value::from(new.alert_id),
                        Value::from(new.reason.as_str()),
                        Value::from(by),
                        Value::Int(now),
                    ],
                )?
                .ok_or_else(|| StoreError::Database("INSERT returned nothing".into()))?;
            let ticket = ticket_of(&row)?;
            tx.changed(Change {
                object: "tuning_ticket",
                id: ticket.id.to_string(),
                kind: "opened".into(),
                at: now,
                before: None,
                after: Some(ticket_json(&ticket)),
            });
            Ok(ticket)
        })
    }

    /// Tuning tickets, newest first: the open ones, or all.
    pub fn tickets(&mut self, open_only: bool) -> Result<Vec<TuningTicket>, StoreError> {
        self.transaction(false, |tx| {
            let filter = if open_only {
                "WHERE state = 'open'"
            } else {
                ""
            };
            tx.query(
                &format!("SELECT {TICKET_COLUMNS} FROM tuning_tickets {filter} ORDER BY id DESC"),
                &[],
            )?
            .iter()
            .map(ticket_of)
            .collect()
        })
    }

    /// Closes a tuning ticket with what was done about it.
    pub fn close_ticket(
        &mut self,
        id: i64,
        outcome: &str,
        by: &str,
        now: i64,
    ) -> Result<TuningTicket, StoreError> {
        self.transaction(true, |tx| {
            let before = crate::alerts::fetch_one(
                tx,
                &format!(
                    "SELECT {TICKET_COLUMNS} FROM tuning_tickets WHERE id = ? AND state = 'open'"
                ),
                id,
                "open tuning ticket",
                ticket_of,
            )?;
            tx.execute(
                "UPDATE tuning_tickets SET state = 'closed', closed_by = ?, closed_at = ?,
                     outcome = ? WHERE id = ?",
                &[
                    Value::from(by),
                    Value::Int(now),
                    Value::from(outcome),
                    Value::Int(id),
                ],
            )?;
            let after = TuningTicket {
                state: "closed".into(),
                closed_by: Some(by.to_string()),
                closed_at: Some(now),
                outcome: Some(outcome.to_string()),
                ..before.clone()
            };
            tx.changed(Change {
                object: "tuning_ticket",
                id: id.to_string(),
                kind: "closed".into(),
                at: now,
                before: Some(ticket_json(&before)),
                after: Some(ticket_json(&after)),
            });
            Ok(after)
        })
    }

    /// Keeps `query` as `user`'s default view of `page` (`alerts`); an empty query forgets it.
    pub fn save_view(
        &mut self,
        user: &str,
        page: &str,
        query: &str,
        now: i64,
    ) -> Result<(), StoreError> {
        self.transaction(true, |tx| {
            let before = tx
                .query_one(
                    "SELECT query FROM user_views WHERE user_name = ? AND page = ?",
                    &[Value::from(user), Value::from(page)],
                )?
                .map(|row| row.text(0))
                .transpose()?;
            if query.is_empty() {
                tx.execute(
                    "DELETE FROM user_views WHERE user_name = ? AND page = ?",
                    &[Value::from(user), Value::from(page)],
                )?;
            } else {
                tx.execute(
                    "INSERT INTO user_views (user_name, page, query, updated_at) VALUES (?, ?, ?, ?)
                     ON CONFLICT (user_name, page) DO UPDATE SET query = excluded.query,
                         updated_at = excluded.updated_at",
                    &[
                        Value::from(user),
                        Value::from(page),
                        Value::from(query),
                        Value::Int(now),
                    ],
                )?;
            }
            tx.changed(Change {
                object: "user_view",
                id: format!("{user} {page}"),
                kind: if query.is_empty() {
                    "forgotten"
                } else {
                    "saved"
                }
                .into(),
                at: now,
                before,
                after: (!query.is_empty()).then(|| query.to_string()),
            });
            Ok(())
        })
    }

    /// `user`'s default view of `page`, if they saved one.
    pub fn view(&mut self, user: &str, page: &str) -> Result<Option<String>, StoreError> {
        self.transaction(false, |tx| {
            tx.query_one(
                "SELECT query FROM user_views WHERE user_name = ? AND page = ?",
                &[Value::from(user), Value::from(page)],
            )?
            .map(|row| row.text(0))
            .transpose()
        })
    }
}
