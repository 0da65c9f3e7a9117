//! Where alerts and cases live: one [`Store`] over SQLite (the embedded default: one file, created on
//! first use) or PostgreSQL (for a team that outgrows one machine).
//!
//! Read in this order: `backend.rs` (what each database provides: statements in a transaction),
//! `sqlite.rs` and `postgres.rs` (the two implementations), `migrate.rs` (versioned schema), then the
//! operations, written once over the backend: `alerts.rs` (recorded from detection, deduplicated,
//! acknowledged and closed), `cases.rs` (cases and their event log) and `work.rs` (tasks,
//! observables, timeline, comments). Every change to an alert or a case appends to its event log in
//! the same transaction as the change itself: nothing is updated without a trace, and a crash leaves
//! either both or neither.
//!
//! ```
//! use secops_store::{Store, NewAlert, Recorded};
//! let dir = tempfile::tempdir().unwrap();
//! let mut store = Store::open(&dir.path().join("secops.db").display().to_string()).unwrap();
//! let alert = NewAlert {
//!     rule_id: "r1".into(), rule_name: "SSH brute force".into(), rule_version: 1,
//!     severity: "medium".into(), risk_score: 47, group_key: "203.0.113.7".into(),
//!     first_seen: 1_000, last_seen: 2_000, event_count: 12, dedupe_window: 0,
//!     document: "{}".into(),
//! };
//! let first = store.record_alerts(&[alert.clone()], "detect", 5_000).unwrap();
//! assert!(matches!(first[0], Recorded::Inserted(_)));
//! // The same alert from a second run over the same logs is recognised.
//! let again = store.record_alerts(&[alert], "detect", 6_000).unwrap();
//! assert!(matches!(again[0], Recorded::Duplicate(_)));
//! ```

mod alerts;
mod audit;
pub mod backend;
mod cases;
mod evidence;
mod hunts;
mod indicators;
mod live;
pub mod migrate;
mod postgres;
mod responses;
mod risk;
mod sessions;
mod sqlite;
mod tuning;
mod users;
mod vuln_catalogs;
mod vuln_import;
mod vulns;
mod work;

use std::path::Path;

pub use alerts::{
    AlertCursor, AlertField, AlertFilter, AlertFold, AlertGroup, AlertRecord, AlertStatus,
    BulkChange, BulkChanged, EventLine, NewAlert, Recorded, VolumeCount,
};
pub use audit::{AuditBreak, AuditCheck, AuditKey, AuditRecord, Audited, Auditor, NewAudit};
pub use backend::{Backend, Change, Dialect, Row, Tx, Value};
pub use cases::{CaseEvent, CaseFilter, CaseRecord, CaseUpdate, NewCase};
pub use evidence::{EvidenceRecord, NewEvidence};
pub use hunts::{HuntSchedule, SavedHunt};
pub use indicators::{
    IndicatorCount, IndicatorFilter, IndicatorRecord, IndicatorState, NewIndicator, Stored,
};
pub use live::Checkpoint;
pub use postgres::Postgres;
pub use responses::{
    Decision, NewResponseRun, ResponseCounts, ResponseEvaluation, ResponseFilter, ResponseRun,
};
pub use risk::{RiskContribution, RiskLeader};
pub use sessions::SessionRecord;
pub use sqlite::Sqlite;
pub use tuning::{ExceptionRecord, NewException, NewTicket, TuningTicket};
pub use users::{ApiKeyRecord, UserRecord};
pub use vuln_catalogs::{EpssRow, KevRow};
pub use vulns::{
    due_at, AcceptanceRecord, DetectionRecord, FindingEvent, FindingFilter, FindingRecord,
    FindingTrail, HostVulnRisk, ImportCounts, ImportRecord, Imported, NewFinding, PriorityColumns,
    SlaRow, StatusChange, EXPOSURE_EPSS,
};
pub use work::{
    CommentRecord, NewObservable, NewTask, NewTimelineEntry, ObservableRecord, TaskRecord,
    TimelineRecord,
};

/// What went wrong, with the database or record it concerns.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    #[error("cannot open {target}: {message}")]
    Open { target: String, message: String },
    #[error("database: {0}")]
    Database(String),
    #[error("schema migration {version}: {message}")]
    Migration { version: i64, message: String },
    #[error(
        "the database has schema version {found}, newer than this program knows ({known}): upgrade secops"
    )]
    Newer { found: i64, known: i64 },
    #[error("{what} {id} does not exist")]
    NotFound { what: &'static str, id: String },
    #[error("unexpected data in the database: {0}")]
    Corrupt(String),
    #[error("{0}")]
    Invalid(String),
}

/// The store: a migrated database and the operations on it.
pub struct Store {
    backend: Box<dyn Backend>,
    /// Who acts and with which key their changes are chained: set, every transaction that changes
    /// something appends one audit record before it commits.
    auditor: Option<Auditor>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("dialect", &self.backend.dialect())
            .finish_non_exhaustive()
    }
}

/// The PostgreSQL schema used unless a URL's `?schema=` names another.
pub const DEFAULT_SCHEMA: &str = "secops";

/// Whether a store target names PostgreSQL (a `postgres://` or `postgresql://` URL) rather than a
/// SQLite file.
pub fn is_postgres(target: &str) -> bool {
    target.starts_with("postgres://") || target.starts_with("postgresql://")
}

impl Store {
    /// Whether there is a store at `target` to open without making one: a SQLite file that exists,
    /// or any PostgreSQL URL (its schema is made on first use, as by [`Store::open`]).
    pub fn exists(target: &str) -> bool {
        is_postgres(target) || Path::new(target).is_file()
    }

    /// Opens `target`: a `postgres://` or `postgresql://` URL (optionally with a `schema=NAME` query
    /// parameter beside the driver's own), or
    /// else the path of a SQLite file (created when missing; its folder must exist). Other URL schemes
    /// and key=value connection strings are refused. Brings the schema up to date.
    pub fn open(target: &str) -> Result<Store, StoreError> {
        refuse_unknown(target)?;
        let backend: Box<dyn Backend> = if is_postgres(target) {
            let (url, schema) = split_schema(target);
            Box::new(Postgres::connect(&url, &schema)?)
        } else {
            Box::new(Sqlite::open(Path::new(target))?)
        };
        Store::with_backend(backend)
    }

    /// Opens a store that must exist already: for commands that only read, so a mistyped `--db` is an
    /// error, not a new empty store. (A PostgreSQL target is opened as by [`Store::open`].)
    pub fn open_existing(target: &str) -> Result<Store, StoreError> {
        refuse_unknown(target)?;
        if !Store::exists(target) {
            return Err(StoreError::Open {
                target: target.to_string(),
                message: "no store there (record alerts with `secops detect --store`, or name the \
                          store with --db or --database-url)"
                    .into(),
            });
        }
        Store::open(target)
    }

    /// A store over a backend opened by the caller; migrates it.
    pub fn with_backend(mut backend: Box<dyn Backend>) -> Result<Store, StoreError> {
        migrate::migrate(
            backend.as_mut(),
            secops_event::Timestamp::now().unix_nanos(),
        )?;
        Ok(Store {
            backend,
            auditor: None,
        })
    }

    /// Audits every change from now on as `auditor` (or, with `None`, no longer).
    pub fn set_auditor(&mut self, auditor: Option<Auditor>) {
        self.auditor = auditor;
    }

    pub fn auditor(&self) -> Option<&Auditor> {
        self.auditor.as_ref()
    }

    pub fn dialect(&self) -> Dialect {
        self.backend.dialect()
    }

    /// Runs `work` in one transaction; with an auditor, the changes it made are one audit record,
    /// appended before the commit (so the change and its record are kept together or not at all).
    fn transaction<T>(
        &mut self,
        exclusive: bool,
        mut work: impl FnMut(&mut dyn Tx) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut out = None;
        let auditor = self.auditor.as_ref();
        self.backend.transaction(exclusive, &mut |tx| {
            let Some(auditor) = auditor else {
                out = Some(work(tx)?);
                return Ok(());
            };
            let mut recording = audit::Recording::new(tx);
            out = Some(work(&mut recording)?);
            recording.finish(auditor)
        })?;
        out.ok_or_else(|| StoreError::Database("the transaction returned nothing".into()))
    }
}

/// A PostgreSQL URL without its `schema=` query parameter, and the schema it names (default
/// [`DEFAULT_SCHEMA`]); other parameters stay with the URL.
fn split_schema(target: &str) -> (String, String) {
    let Some((base, query)) = target.split_once('?') else {
        return (target.to_string(), DEFAULT_SCHEMA.to_string());
    };
    let mut schema = DEFAULT_SCHEMA.to_string();
    let rest: Vec<&str> = query
        .split('&')
        .filter(|p| match p.strip_prefix("schema=") {
            Some(s) => {
                schema = s.to_string();
                false
            }
            None => !p.is_empty(),
        })
        .collect();
    let url = if rest.is_empty() {
        base.to_string()
    } else {
        format!("{base}?{}", rest.join("&"))
    };
    (url, schema)
}

/// Targets that name another database or a connection string this program does not take: refused,
/// not read as a SQLite file name.
fn refuse_unknown(target: &str) -> Result<(), StoreError> {
    let refuse = |message: String| {
        Err(StoreError::Open {
            target: target.to_string(),
            message,
        })
    };
    if let Some((scheme, _)) = target.split_once("://") {
        if !matches!(scheme, "postgres" | "postgresql") {
            return refuse(format!(
                "unknown scheme {scheme:?}: a store is a SQLite file path or a postgres:// URL"
            ));
        }
    } else if target.contains('=') && target.contains(' ') {
        return refuse(
            "a key=value connection string: give PostgreSQL as a postgres:// URL".to_string(),
        );
    }
    Ok(())
}

/// A database's message, cut to a readable length (some quote whole statements).
pub(crate) fn bounded(message: String) -> String {
    const MAX: usize = 500;
    match message.char_indices().nth(MAX) {
        Some((cut, _)) => format!("{}…", &message[..cut]),
        None => message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_schema_parameter_is_taken_out_of_the_url() {
        assert_eq!(
            split_schema("postgres://u@h/db"),
            ("postgres://u@h/db".to_string(), "secops".to_string())
        );
        assert_eq!(
            split_schema("postgres://u@h/db?schema=team_a"),
            ("postgres://u@h/db".to_string(), "team_a".to_string())
        );
        assert_eq!(
            split_schema("postgres://u@h/db?connect_timeout=5&schema=x&application_name=secops"),
            (
                "postgres://u@h/db?connect_timeout=5&application_name=secops".to_string(),
                "x".to_string()
            )
        );
    }
}
