//! The audit log: one record per action (who, when, from where, what, on what, before and after, the
//! outcome), each carrying an HMAC-SHA256 over itself and the previous record's HMAC, keyed by a
//! secret kept outside the database. Editing a record, deleting one, or recomputing the chain without
//! the key breaks the chain at that record; deleting the newest records is found against the head
//! exported earlier (`secops audit head`).

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::backend::{Row, Tx, Value};
use crate::{Store, StoreError};

/// The secret the chain is keyed by: 32 bytes, kept in a file as 64 hex digits.
#[derive(Clone)]
pub struct AuditKey([u8; 32]);

impl std::fmt::Debug for AuditKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AuditKey(..)")
    }
}

impl AuditKey {
    /// The key in `path`, or a new random one written there (readable by its owner alone).
    pub fn load_or_create(path: &std::path::Path) -> Result<AuditKey, StoreError> {
        let io =
            |e: std::io::Error| StoreError::Invalid(format!("audit key {}: {e}", path.display()));
        match std::fs::read_to_string(path) {
            Ok(text) => AuditKey::from_hex(text.trim())
                .map_err(|why| StoreError::Invalid(format!("audit key {}: {why}", path.display()))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let mut bytes = [0u8; 32];
                getrandom::fill(&mut bytes).map_err(|e| {
                    StoreError::Invalid(format!("audit key: no random numbers: {e}"))
                })?;
                let key = AuditKey(bytes);
                write_private(path, &hex(&key.0)).map_err(io)?;
                Ok(key)
            }
            Err(e) => Err(io(e)),
        }
    }

    /// The key in `path`, which must exist (verifying never makes a key).
    pub fn load(path: &std::path::Path) -> Result<AuditKey, StoreError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| StoreError::Invalid(format!("audit key {}: {e}", path.display())))?;
        AuditKey::from_hex(text.trim())
            .map_err(|why| StoreError::Invalid(format!("audit key {}: {why}", path.display())))
    }

    pub fn from_hex(text: &str) -> Result<AuditKey, String> {
        if text.len() != 64 || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err("not 64 hex digits".into());
        }
        let mut bytes = [0u8; 32];
        for (i, byte) in bytes.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&text[2 * i..2 * i + 2], 16).map_err(|e| e.to_string())?;
        }
        Ok(AuditKey(bytes))
    }

    /// The HMAC of a record's fields after the previous record's HMAC.
    fn mac(&self, previous: &str, record: &NewAudit) -> String {
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(&self.0) else {
            return String::new();
        };
        // Each field length-prefixed: no two records share an encoding.
        let mut field = |bytes: &[u8]| {
            mac.update(&(bytes.len() as u64).to_be_bytes());
            mac.update(bytes);
        };
        field(previous.as_bytes());
        field(&record.at.to_be_bytes());
        for text in [
            &record.actor,
            &record.source,
            &record.action,
            &record.target,
            &record.outcome,
        ] {
            field(text.as_bytes());
        }
        for text in [&record.before, &record.after] {
            match text {
                Some(t) => field(t.as_bytes()),
                None => field(&[0xff]),
            }
        }
        hex(&mac.finalize().into_bytes())
    }
}

#[cfg(unix)]
fn write_private(path: &std::path::Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(text.as_bytes())
}

#[cfg(not(unix))]
fn write_private(path: &std::path::Path, text: &str) -> std::io::Result<()> {
    std::fs::write(path, text)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// One action to record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAudit {
    /// UTC nanoseconds.
    pub at: i64,
    pub actor: String,
    /// Where from: `cli`, an address.
    pub source: String,
    /// `user.add`, `key.revoke`, `login`.
    pub action: String,
    /// What it acted on: `user ana`, `key 0a1b2c3d`.
    pub target: String,
    /// `success` or `failure`.
    pub outcome: String,
    pub before: Option<String>,
    pub after: Option<String>,
}

/// An action to record in the same transaction as the change it is about.
#[derive(Debug, Clone)]
pub struct Audited<'a> {
    pub key: &'a AuditKey,
    pub record: NewAudit,
}

/// A record as kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRecord {
    pub id: i64,
    pub record: NewAudit,
    pub prev_mac: String,
    pub mac: String,
}

/// Where the chain breaks.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuditBreak {
    #[error("audit record {id}: {reason}")]
    Record { id: i64, reason: String },
    #[error("the exported head (record {id}) is not in the log as exported: records from {id} on were deleted or changed")]
    Head { id: i64 },
}

/// What a verification found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditCheck {
    pub records: u64,
    /// The newest record: its id and HMAC.
    pub head: Option<(i64, String)>,
    pub broken: Option<AuditBreak>,
}

const COLUMNS: &str =
    "id, at, actor, source, action, target, outcome, before, after, prev_mac, mac";

fn record_of(row: &Row) -> Result<AuditRecord, StoreError> {
    Ok(AuditRecord {
        id: row.int(0)?,
        record: NewAudit {
            at: row.int(1)?,
            actor: row.text(2)?,
            source: row.text(3)?,
            action: row.text(4)?,
            target: row.text(5)?,
            outcome: row.text(6)?,
            before: row.opt_text(7)?,
            after: row.opt_text(8)?,
        },
        prev_mac: row.text(9)?,
        mac: row.text(10)?,
    })
}

/// Appends a record inside the caller's transaction (which holds the write lock), chained to the
/// newest.
pub(crate) fn append(
    tx: &mut dyn Tx,
    key: &AuditKey,
    record: &NewAudit,
) -> Result<AuditRecord, StoreError> {
    let previous = tx
        .query_one("SELECT mac FROM audit_log ORDER BY id DESC LIMIT 1", &[])?
        .map(|row| row.text(0))
        .transpose()?
        .unwrap_or_default();
    let mac = key.mac(&previous, record);
    let row = tx
        .query_one(
            &format!(
                "INSERT INTO audit_log (at, actor, source, action, target, outcome, before, after, prev_mac, mac)
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING {COLUMNS}"
            ),
            &[
                Value::Int(record.at),
                Value::from(record.actor.as_str()),
                Value::from(record.source.as_str()),
                Value::from(record.action.as_str()),
                Value::from(record.target.as_str()),
                Value::from(record.outcome.as_str()),
                Value::from(record.before.clone()),
                Value::from(record.after.clone()),
                Value::from(previous),
                Value::from(mac),
            ],
        )?
        .ok_or_else(|| StoreError::Database("INSERT returned nothing".into()))?;
    record_of(&row)
}

impl AuditRecord {
    /// The record as an ECS event (one JSON line of `audit export`), so `secops` can run rules over
    /// its own audit trail.
    pub fn to_ecs(&self) -> serde_json::Value {
        let r = &self.record;
        let category = if r.action.starts_with("user.")
            || r.action.starts_with("key.")
            || r.action.starts_with("login")
        {
            "iam"
        } else {
            "configuration"
        };
        serde_json::json!({
            "@timestamp": secops_event::Timestamp::from_unix_nanos(r.at).to_rfc3339(),
            "event.kind": "event",
            "event.module": "secops",
            "event.dataset": "secops.audit",
            "event.category": [category],
            "event.action": r.action,
            "event.outcome": r.outcome,
            "user.name": r.actor,
            "source.address": r.source,
            "secops.audit.id": self.id,
            "secops.audit.target": r.target,
            "secops.audit.before": r.before,
            "secops.audit.after": r.after,
            "secops.audit.mac": self.mac,
        })
    }
}

/// Records read per query while verifying or exporting.
const PAGE: i64 = 1000;

impl Store {
    /// Appends a record on its own (a login, a refusal: actions that change nothing else).
    pub fn audit(&mut self, key: &AuditKey, record: &NewAudit) -> Result<AuditRecord, StoreError> {
        self.transaction(true, |tx| append(tx, key, record))
    }

    /// Records after `after_id`, oldest first, at most `limit`.
    pub fn audit_records(
        &mut self,
        after_id: i64,
        limit: i64,
    ) -> Result<Vec<AuditRecord>, StoreError> {
        self.transaction(false, |tx| {
            tx.query(
                &format!("SELECT {COLUMNS} FROM audit_log WHERE id > ? ORDER BY id LIMIT ?"),
                &[Value::Int(after_id), Value::Int(limit)],
            )?
            .iter()
            .map(record_of)
            .collect()
        })
    }

    /// The newest record's id and HMAC.
    pub fn audit_head(&mut self) -> Result<Option<(i64, String)>, StoreError> {
        self.transaction(false, |tx| {
            tx.query_one(
                "SELECT id, mac FROM audit_log ORDER BY id DESC LIMIT 1",
                &[],
            )?
            .map(|row| Ok((row.int(0)?, row.text(1)?)))
            .transpose()
        })
    }

    /// Walks the chain from the first record: each record's HMAC recomputed with the key and its
    /// link to the one before checked; then the exported head, when given, must be in the log with
    /// its HMAC. The first break is named.
    pub fn verify_audit(
        &mut self,
        key: &AuditKey,
        exported: Option<(i64, &str)>,
    ) -> Result<AuditCheck, StoreError> {
        let mut check = AuditCheck {
            records: 0,
            head: None,
            broken: None,
        };
        let mut previous = String::new();
        let mut after = 0;
        let mut exported_seen = false;
        loop {
            let page = self.audit_records(after, PAGE)?;
            if page.is_empty() {
                break;
            }
            for r in &page {
                after = r.id;
                check.records += 1;
                let broken = |reason: &str| AuditBreak::Record {
                    id: r.id,
                    reason: reason.to_string(),
                };
                if r.prev_mac != previous {
                    check.broken = Some(broken(
                        "its link to the record before does not hold: a record before it was deleted or changed",
                    ));
                    return Ok(check);
                }
                if key.mac(&previous, &r.record) != r.mac {
                    check.broken = Some(broken(
                        "its HMAC does not match its contents: the record was changed (or the chain recomputed without the key)",
                    ));
                    return Ok(check);
                }
                if let Some((id, mac)) = exported {
                    if r.id == id {
                        exported_seen = r.mac == mac;
                    }
                }
                previous = r.mac.clone();
                check.head = Some((r.id, r.mac.clone()));
            }
        }
        if let Some((id, _)) = exported {
            if !exported_seen {
                check.broken = Some(AuditBreak::Head { id });
            }
        }
        Ok(check)
    }
}
