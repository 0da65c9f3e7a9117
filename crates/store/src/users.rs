//! Users and API keys as the store keeps them. The rules (which role, when a user is locked out, when
//! a key has expired) are the service's; here each change is one transaction.

use crate::audit::{append, Audited};
use crate::backend::{Row, Tx, Value};
use crate::{Store, StoreError};

/// Appends the audit record of a change, when one is asked for, with what the change did.
fn audit(
    tx: &mut dyn Tx,
    audited: Option<&Audited<'_>>,
    before: Option<String>,
    after: Option<String>,
) -> Result<(), StoreError> {
    if let Some(a) = audited {
        let mut record = a.record.clone();
        record.before = before;
        record.after = after;
        append(tx, a.key, &record)?;
    }
    Ok(())
}

/// A user as the audit log shows it (no password hash).
fn user_json(u: &UserRecord) -> String {
    serde_json::json!({
        "name": u.name, "role": u.role, "disabled": u.disabled,
        "failed_logins": u.failed_logins, "locked_until": u.locked_until,
        "password_changed": u.updated_at,
        "totp": if u.totp_secret.is_some() { "on" } else if u.totp_pending.is_some() { "pending" } else { "off" },
    })
    .to_string()
}

/// A key as the audit log shows it.
fn key_json(k: &ApiKeyRecord) -> String {
    serde_json::json!({
        "key_id": k.key_id, "name": k.name, "role": k.role, "owner": k.owner,
        "expires_at": k.expires_at, "revoked_at": k.revoked_at,
    })
    .to_string()
}

/// A user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRecord {
    pub name: String,
    pub role: String,
    /// Argon2id PHC string; empty: no password (cannot sign in).
    pub password_hash: String,
    pub disabled: bool,
    /// Failed logins since the last successful one.
    pub failed_logins: i64,
    /// Sign-in refused until then (UTC nanoseconds).
    pub locked_until: Option<i64>,
    pub last_login: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
    /// The TOTP secret (base32) sign-in also needs a code of; none: a password is enough.
    pub totp_secret: Option<String>,
    /// A TOTP secret given out and not yet confirmed with a code (sign-in does not need it yet).
    pub totp_pending: Option<String>,
    /// The last TOTP step a code was accepted for (a code is good once).
    pub totp_last_step: Option<i64>,
}

/// An API key (its digest apart: see [`Store::api_key_digest`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKeyRecord {
    /// The visible id (`secops_<id>_...`).
    pub key_id: String,
    pub name: String,
    pub role: String,
    /// The user who made it.
    pub owner: String,
    pub created_at: i64,
    pub expires_at: Option<i64>,
    pub revoked_at: Option<i64>,
    pub last_used_at: Option<i64>,
    pub last_used_from: Option<String>,
}

const USER_COLUMNS: &str = "name, role, password_hash, disabled, failed_logins, locked_until, \
    last_login, created_at, updated_at, totp_secret, totp_pending, totp_last_step";
const KEY_COLUMNS: &str =
    "key_id, name, role, owner, created_at, expires_at, revoked_at, last_used_at, last_used_from";

fn user_of(row: &Row) -> Result<UserRecord, StoreError> {
    Ok(UserRecord {
        name: row.text(0)?,
        role: row.text(1)?,
        password_hash: row.text(2)?,
        disabled: row.int(3)? != 0,
        failed_logins: row.int(4)?,
        locked_until: row.opt_int(5)?,
        last_login: row.opt_int(6)?,
        created_at: row.int(7)?,
        updated_at: row.int(8)?,
        totp_secret: row.opt_text(9)?,
        totp_pending: row.opt_text(10)?,
        totp_last_step: row.opt_int(11)?,
    })
}

fn key_of(row: &Row) -> Result<ApiKeyRecord, StoreError> {
    Ok(ApiKeyRecord {
        key_id: row.text(0)?,
        name: row.text(1)?,
        role: row.text(2)?,
        owner: row.text(3)?,
        created_at: row.int(4)?,
        expires_at: row.opt_int(5)?,
        revoked_at: row.opt_int(6)?,
        last_used_at: row.opt_int(7)?,
        last_used_from: row.opt_text(8)?,
    })
}

impl Store {
    /// Adds a user; a name already taken is refused.
    pub fn add_user(
        &mut self,
        name: &str,
        role: &str,
        password_hash: &str,
        now: i64,
        audited: Option<&Audited<'_>>,
    ) -> Result<UserRecord, StoreError> {
        self.transaction(true, |tx| {
            if tx
                .query_one(
                    "SELECT name FROM users WHERE name = ?",
                    &[Value::from(name)],
                )?
                .is_some()
            {
                return Err(StoreError::Invalid(format!("the user {name} exists")));
            }
            tx.execute(
                "INSERT INTO users (name, display_name, created_at, role, password_hash, updated_at)
                 VALUES (?, ?, ?, ?, ?, ?)",
                &[
                    Value::from(name),
                    Value::from(name),
                    Value::Int(now),
                    Value::from(role),
                    Value::from(password_hash),
                    Value::Int(now),
                ],
            )?;
            let after = serde_json::json!({"name": name, "role": role}).to_string();
            audit(tx, audited, None, Some(after))
        })?;
        self.user(name)?.ok_or_else(|| StoreError::NotFound {
            what: "user",
            id: name.to_string(),
        })
    }

    pub fn user(&mut self, name: &str) -> Result<Option<UserRecord>, StoreError> {
        self.transaction(false, |tx| {
            tx.query_one(
                &format!("SELECT {USER_COLUMNS} FROM users WHERE name = ?"),
                &[Value::from(name)],
            )?
            .map(|row| user_of(&row))
            .transpose()
        })
    }

    /// Every user, by name.
    pub fn users(&mut self) -> Result<Vec<UserRecord>, StoreError> {
        self.transaction(false, |tx| {
            tx.query(
                &format!("SELECT {USER_COLUMNS} FROM users ORDER BY name"),
                &[],
            )?
            .iter()
            .map(user_of)
            .collect()
        })
    }

    /// Changes a user: `change` sees the user as stored and returns it changed, inside the
    /// transaction; the new state is written and returned.
    pub fn update_user(
        &mut self,
        name: &str,
        now: i64,
        change: impl Fn(&mut UserRecord),
        audited: Option<&Audited<'_>>,
    ) -> Result<UserRecord, StoreError> {
        self.transaction(true, |tx| {
            let mut user = tx
                .query_one(
                    &format!("SELECT {USER_COLUMNS} FROM users WHERE name = ?"),
                    &[Value::from(name)],
                )?
                .map(|row| user_of(&row))
                .transpose()?
                .ok_or_else(|| StoreError::NotFound {
                    what: "user",
                    id: name.to_string(),
                })?;
            let before = user_json(&user);
            change(&mut user);
            user.updated_at = now;
            tx.execute(
                "UPDATE users SET role = ?, password_hash = ?, disabled = ?, failed_logins = ?,
                    locked_until = ?, last_login = ?, updated_at = ?, totp_secret = ?,
                    totp_pending = ?, totp_last_step = ? WHERE name = ?",
                &[
                    Value::from(user.role.as_str()),
                    Value::from(user.password_hash.as_str()),
                    Value::Int(i64::from(user.disabled)),
                    Value::Int(user.failed_logins),
                    Value::from(user.locked_until),
                    Value::from(user.last_login),
                    Value::Int(now),
                    Value::from(user.totp_secret.clone()),
                    Value::from(user.totp_pending.clone()),
                    Value::from(user.totp_last_step),
                    Value::from(name),
                ],
            )?;
            audit(tx, audited, Some(before), Some(user_json(&user)))?;
            Ok(user)
        })
    }

    /// Keeps a new API key (its digest, never the key).
    pub fn add_api_key(
        &mut self,
        key: &ApiKeyRecord,
        digest: &str,
        audited: Option<&Audited<'_>>,
    ) -> Result<(), StoreError> {
        self.transaction(true, |tx| {
            tx.execute(
                &format!(
                    "INSERT INTO api_keys ({KEY_COLUMNS}, digest) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
                ),
                &[
                    Value::from(key.key_id.as_str()),
                    Value::from(key.name.as_str()),
                    Value::from(key.role.as_str()),
                    Value::from(key.owner.as_str()),
                    Value::Int(key.created_at),
                    Value::from(key.expires_at),
                    Value::from(key.revoked_at),
                    Value::from(key.last_used_at),
                    Value::from(key.last_used_from.clone()),
                    Value::from(digest),
                ],
            )?;
            audit(tx, audited, None, Some(key_json(key)))
        })
    }

    /// The key with this id and the digest it was kept as.
    pub fn api_key_digest(
        &mut self,
        key_id: &str,
    ) -> Result<Option<(ApiKeyRecord, String)>, StoreError> {
        self.transaction(false, |tx| {
            tx.query_one(
                &format!("SELECT {KEY_COLUMNS}, digest FROM api_keys WHERE key_id = ?"),
                &[Value::from(key_id)],
            )?
            .map(|row| Ok((key_of(&row)?, row.text(9)?)))
            .transpose()
        })
    }

    /// Every key, newest first.
    pub fn api_keys(&mut self) -> Result<Vec<ApiKeyRecord>, StoreError> {
        self.transaction(false, |tx| {
            tx.query(
                &format!("SELECT {KEY_COLUMNS} FROM api_keys ORDER BY created_at DESC, key_id"),
                &[],
            )?
            .iter()
            .map(key_of)
            .collect()
        })
    }

    /// Revokes a key at `now` (a key revoked before keeps its first time).
    pub fn revoke_api_key(
        &mut self,
        key_id: &str,
        now: i64,
        audited: Option<&Audited<'_>>,
    ) -> Result<ApiKeyRecord, StoreError> {
        self.transaction(true, |tx| {
            let changed = tx.execute(
                "UPDATE api_keys SET revoked_at = COALESCE(revoked_at, ?) WHERE key_id = ?",
                &[Value::Int(now), Value::from(key_id)],
            )?;
            if changed == 0 {
                return Err(StoreError::NotFound {
                    what: "API key",
                    id: key_id.to_string(),
                });
            }
            let after = serde_json::json!({"key_id": key_id, "revoked_at": now}).to_string();
            audit(tx, audited, None, Some(after))
        })?;
        self.api_key_digest(key_id)?
            .map(|(k, _)| k)
            .ok_or_else(|| StoreError::NotFound {
                what: "API key",
                id: key_id.to_string(),
            })
    }

    /// Records a key's use: when and from where.
    pub fn touch_api_key(&mut self, key_id: &str, now: i64, from: &str) -> Result<(), StoreError> {
        self.transaction(true, |tx| {
            tx.execute(
                "UPDATE api_keys SET last_used_at = ?, last_used_from = ? WHERE key_id = ?",
                &[Value::Int(now), Value::from(from), Value::from(key_id)],
            )?;
            Ok(())
        })
    }
}
