//! The audit log: one record per action (who, when, from where, what, on what, before and after, the
//! outcome), each carrying an HMAC-SHA256 over itself and the previous record's HMAC, keyed by a
//! secret kept outside the database. Editing a record, deleting one, or recomputing the chain without
//! the key breaks the chain at that record; deleting the newest records is found against the head
//! exported earlier (`secops audit head`).

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::backend::{Change, Row, Tx, Value};
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
    /// The key in `path`, or a new random one written there (readable by its owner alone). Two
    /// processes making it at once end with the same key: it is written whole to a file of its own
    /// and linked into place, so the first link wins and the other reads it.
    pub fn load_or_create(path: &std::path::Path) -> Result<AuditKey, StoreError> {
        let io =
            |e: std::io::Error| StoreError::Invalid(format!("audit key {}: {e}", path.display()));
        match std::fs::read_to_string(path) {
            Ok(text) => AuditKey::parse(path, &text),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let mut bytes = [0u8; 32];
                getrandom::fill(&mut bytes).map_err(|e| {
                    StoreError::Invalid(format!("audit key: no random numbers: {e}"))
                })?;
                let mut name = path.as_os_str().to_owned();
                name.push(format!(".{}-{}.new", std::process::id(), hex(&bytes[..4])));
                let fresh = std::path::PathBuf::from(name);
                write_private(&fresh, &hex(&bytes)).map_err(io)?;
                let linked = std::fs::hard_link(&fresh, path);
                let _ = std::fs::remove_file(&fresh);
                match linked {
                    Ok(()) => Ok(AuditKey(bytes)),
                    Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => AuditKey::load(path),
                    Err(e) => Err(io(e)),
                }
            }
            Err(e) => Err(io(e)),
        }
    }

    /// The key in `path`, which must exist (verifying never makes a key).
    pub fn load(path: &std::path::Path) -> Result<AuditKey, StoreError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| StoreError::Invalid(format!("audit key {}: {e}", path.display())))?;
        AuditKey::parse(path, &text)
    }

    fn parse(path: &std::path::Path, text: &str) -> Result<AuditKey, StoreError> {
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

/// Who is acting on a store, from where, and the key their changes are chained with: set on a
/// [`Store`] (by the CLI for a command, by the server for a request), each transaction that changes
/// something appends one record naming every target it changed (a bulk action is one record).
#[derive(Debug, Clone)]
pub struct Auditor {
    pub key: AuditKey,
    pub actor: String,
    /// Where from: `cli`, a client's address.
    pub source: String,
}

/// Changes listed in a record's before and after, at most; beyond, the record names the targets
/// and each alert's and case's own event log holds the detail.
const DETAILED: usize = 1000;

/// A transaction that notes its changes (see [`Tx::changed`]).
pub(crate) struct Recording<'a> {
    tx: &'a mut dyn Tx,
    changes: Vec<Change>,
}

impl<'a> Recording<'a> {
    pub(crate) fn new(tx: &'a mut dyn Tx) -> Self {
        Recording {
            tx,
            changes: Vec::new(),
        }
    }

    /// Appends the record of what changed, if anything did.
    pub(crate) fn finish(self, auditor: &Auditor) -> Result<(), StoreError> {
        if self.changes.is_empty() {
            return Ok(());
        }
        let record = summarize(auditor, &self.changes);
        append(self.tx, &auditor.key, &record).map(|_| ())
    }
}

impl Tx for Recording<'_> {
    fn execute(&mut self, sql: &str, params: &[Value]) -> Result<u64, StoreError> {
        self.tx.execute(sql, params)
    }

    fn query(&mut self, sql: &str, params: &[Value]) -> Result<Vec<Row>, StoreError> {
        self.tx.query(sql, params)
    }

    fn changed(&mut self, change: Change) {
        self.changes.push(change);
    }

    fn recording(&self) -> bool {
        true
    }
}

/// One record for a transaction's changes: the actions in the order they first happened
/// (`alert.closed`), the targets by kind (`alerts 3-5, 9; case 2`), and before and after as JSON
/// lists of `{target, action, value}` (one change: its own before and after).
fn summarize(auditor: &Auditor, changes: &[Change]) -> NewAudit {
    let mut actions: Vec<String> = Vec::new();
    let mut objects: Vec<(&'static str, Vec<&str>)> = Vec::new();
    for c in changes {
        let action = format!("{}.{}", c.object, c.kind);
        if !actions.contains(&action) {
            actions.push(action);
        }
        // Repeats are removed by `id_ranges`, which sorts (a bulk change names thousands).
        match objects.iter_mut().find(|(o, _)| *o == c.object) {
            Some((_, ids)) => ids.push(&c.id),
            None => objects.push((c.object, vec![&c.id])),
        }
    }
    let target = objects
        .iter()
        .map(|(object, ids)| {
            let (count, ranges) = id_ranges(ids);
            let plural = if count == 1 { "" } else { "s" };
            format!("{object}{plural} {ranges}")
        })
        .collect::<Vec<_>>()
        .join("; ");
    let (before, after) = match changes {
        [one] => (one.before.clone(), one.after.clone()),
        many if many.len() <= DETAILED => {
            let list = |side: fn(&Change) -> &Option<String>| {
                let items: Vec<serde_json::Value> = many
                    .iter()
                    .filter_map(|c| {
                        side(c).as_ref().map(|v| {
                            serde_json::json!({
                                "target": format!("{} {}", c.object, c.id),
                                "action": c.kind,
                                "value": v,
                            })
                        })
                    })
                    .collect();
                (!items.is_empty()).then(|| serde_json::Value::from(items).to_string())
            };
            (list(|c| &c.before), list(|c| &c.after))
        }
        many => (
            None,
            Some(
                serde_json::json!({
                    "changes": many.len(),
                    "detail": "in each alert's and case's event log",
                })
                .to_string(),
            ),
        ),
    };
    NewAudit {
        at: changes.iter().map(|c| c.at).max().unwrap_or_default(),
        actor: auditor.actor.clone(),
        source: auditor.source.clone(),
        action: actions.join(", "),
        target,
        outcome: "success".into(),
        before,
        after,
    }
}

/// Ids as runs: `1-3, 7`; ids that are not numbers after them, sorted; each id once. Also how many
/// distinct ids there were.
fn id_ranges(ids: &[&str]) -> (usize, String) {
    let mut numbers: Vec<i64> = Vec::new();
    let mut others: Vec<&str> = Vec::new();
    for id in ids {
        match id.parse::<i64>() {
            Ok(n) => numbers.push(n),
            Err(_) => others.push(id),
        }
    }
    numbers.sort_unstable();
    numbers.dedup();
    others.sort_unstable();
    others.dedup();
    let count = numbers.len() + others.len();
    let mut parts: Vec<String> = Vec::new();
    let mut i = 0;
    while i < numbers.len() {
        let start = numbers[i];
        let mut end = start;
        while i + 1 < numbers.len() && numbers[i + 1] == end + 1 {
            i += 1;
            end = numbers[i];
        }
        parts.push(if end == start {
            start.to_string()
        } else {
            format!("{start}-{end}")
        });
        i += 1;
    }
    parts.extend(others.iter().map(|s| s.to_string()));
    (count, parts.join(", "))
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

    /// Records an action that changes nothing in the store (a hunt query, a refused request) as the
    /// store's auditor; without one, nothing is recorded.
    pub fn audit_action(
        &mut self,
        at: i64,
        action: &str,
        target: &str,
        outcome: &str,
        detail: Option<String>,
    ) -> Result<(), StoreError> {
        let Some(auditor) = self.auditor.clone() else {
            return Ok(());
        };
        let record = NewAudit {
            at,
            actor: auditor.actor.clone(),
            source: auditor.source.clone(),
            action: action.to_string(),
            target: target.to_string(),
            outcome: outcome.to_string(),
            before: None,
            after: detail,
        };
        // The transaction notes no change, so this is its one record.
        self.transaction(true, |tx| append(tx, &auditor.key, &record))
            .map(|_| ())
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
