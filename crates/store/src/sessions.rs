//! Sessions: a signed-in browser, kept as the SHA-256 of its cookie's secret (the secret itself is
//! never stored). Whether a session still holds (idle and absolute limits, the user's state) is the
//! service's decision; here each change is one transaction, noted for the audit log.

use crate::backend::{Change, Row, Value};
use crate::{Store, StoreError, UserRecord};

/// A session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRecord {
    pub id: i64,
    pub user: String,
    pub created_at: i64,
    pub last_seen: i64,
    /// The absolute end (UTC nanoseconds).
    pub expires_at: i64,
    /// The address it was opened from.
    pub source: String,
    pub revoked_at: Option<i64>,
}

const COLUMNS: &str = "id, user_name, created_at, last_seen, expires_at, source, revoked_at";

fn session_of(row: &Row) -> Result<SessionRecord, StoreError> {
    Ok(SessionRecord {
        id: row.int(0)?,
        user: row.text(1)?,
        created_at: row.int(2)?,
        last_seen: row.int(3)?,
        expires_at: row.int(4)?,
        source: row.text(5)?,
        revoked_at: row.opt_int(6)?,
    })
}

impl Store {
    /// Opens a session for `user`, kept by the digest of its secret.
    pub fn add_session(
        &mut self,
        digest: &str,
        user: &str,
        now: i64,
        expires_at: i64,
        source: &str,
    ) -> Result<SessionRecord, StoreError> {
        self.transaction(true, |tx| {
            let row = tx
                .query_one(
                    &format!(
                        "INSERT INTO sessions (digest, user_name, created_at, last_seen, expires_at, source)
                         VALUES (?, ?, ?, ?, ?, ?) RETURNING {COLUMNS}"
                    ),
                    &[
                        Value::from(digest),
                        Value::from(user),
                        Value::Int(now),
                        Value::Int(now),
                        Value::Int(expires_at),
                        Value::from(source),
                    ],
                )?
                .ok_or_else(|| StoreError::Database("INSERT returned nothing".into()))?;
            let session = session_of(&row)?;
            tx.changed(Change {
                object: "session",
                id: session.id.to_string(),
                kind: "opened".into(),
                at: now,
                before: None,
                after: Some(
                    serde_json::json!({"user": user, "expires_at": expires_at, "source": source})
                        .to_string(),
                ),
            });
            Ok(session)
        })
    }

    /// The session kept by this digest and its user (none when either is gone).
    pub fn session_by_digest(
        &mut self,
        digest: &str,
    ) -> Result<Option<(SessionRecord, UserRecord)>, StoreError> {
        let Some(session) = self.transaction(false, |tx| {
            tx.query_one(
                &format!("SELECT {COLUMNS} FROM sessions WHERE digest = ?"),
                &[Value::from(digest)],
            )?
            .map(|row| session_of(&row))
            .transpose()
        })?
        else {
            return Ok(None);
        };
        Ok(self.user(&session.user)?.map(|user| (session, user)))
    }

    /// Records that a session was used at `now`.
    pub fn touch_session(&mut self, id: i64, now: i64) -> Result<(), StoreError> {
        self.transaction(true, |tx| {
            tx.execute(
                "UPDATE sessions SET last_seen = ? WHERE id = ? AND last_seen < ?",
                &[Value::Int(now), Value::Int(id), Value::Int(now)],
            )?;
            Ok(())
        })
    }

    /// Sessions not revoked that end after `now`, of one user or of all, newest first.
    pub fn sessions(
        &mut self,
        user: Option<&str>,
        now: i64,
    ) -> Result<Vec<SessionRecord>, StoreError> {
        let mut sql =
            format!("SELECT {COLUMNS} FROM sessions WHERE revoked_at IS NULL AND expires_at > ?");
        let mut params = vec![Value::Int(now)];
        if let Some(user) = user {
            sql.push_str(" AND user_name = ?");
            params.push(Value::from(user));
        }
        sql.push_str(" ORDER BY id DESC");
        self.transaction(false, |tx| {
            tx.query(&sql, &params)?.iter().map(session_of).collect()
        })
    }

    /// Revokes one session (`Some(id)`) or every session of `user` (`None`); returns how many were
    /// open. A revoked session stops working at the next request.
    pub fn revoke_sessions(
        &mut self,
        user: &str,
        id: Option<i64>,
        now: i64,
    ) -> Result<u64, StoreError> {
        self.transaction(true, |tx| {
            let mut sql =
                "UPDATE sessions SET revoked_at = ? WHERE user_name = ? AND revoked_at IS NULL"
                    .to_string();
            let mut params = vec![Value::Int(now), Value::from(user)];
            if let Some(id) = id {
                sql.push_str(" AND id = ?");
                params.push(Value::Int(id));
            }
            let revoked = tx.execute(&sql, &params)?;
            if revoked > 0 {
                tx.changed(Change {
                    object: "session",
                    id: id.map_or_else(|| format!("all of {user}"), |id| id.to_string()),
                    kind: "revoked".into(),
                    at: now,
                    before: None,
                    after: Some(
                        serde_json::json!({ "user": user, "revoked": revoked }).to_string(),
                    ),
                });
            }
            Ok(revoked)
        })
    }
}
