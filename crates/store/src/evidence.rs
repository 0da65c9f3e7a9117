//! Evidence on a case: what produced it (a hunt's query, the `now` it ran with, the span of data it
//! read), how many rows, and the file that holds them with its SHA-256. Adding evidence adds its
//! timeline entry and its line in the case's event log, in one transaction.

use serde_json::json;

use crate::backend::{Row, Value};
use crate::cases::case_log;
use crate::work::{insert_timeline_entry, NewTimelineEntry};
use crate::{Store, StoreError};

/// Evidence to add.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEvidence {
    /// `hunt`.
    pub kind: String,
    pub title: String,
    /// The query that produced the rows.
    pub query: String,
    /// The span of event time the data held (UTC nanoseconds), when known.
    pub data_from: Option<i64>,
    pub data_to: Option<i64>,
    /// What `now()` meant for the query.
    pub query_now: i64,
    pub rows: u64,
    /// Where the rows are (a file path).
    pub path: String,
    /// `csv` or `parquet`.
    pub format: String,
    pub sha256: String,
}

/// Evidence as the case holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EvidenceRecord {
    pub id: i64,
    pub case_id: i64,
    pub evidence: NewEvidence,
    pub added_by: String,
    pub added_at: i64,
}

const COLUMNS: &str = "id, case_id, kind, title, query, data_from, data_to, query_now, row_count, \
    path, format, sha256, added_by, added_at";

impl Store {
    /// Adds evidence to case `number` with `entry` on its timeline.
    pub fn add_evidence(
        &mut self,
        number: i64,
        evidence: &NewEvidence,
        entry: &NewTimelineEntry,
        actor: &str,
        now: i64,
    ) -> Result<EvidenceRecord, StoreError> {
        self.on_case(number, |tx, case| {
            let row = tx
                .query_one(
                    &format!(
                        "INSERT INTO evidence (case_id, kind, title, query, data_from, data_to, query_now,
                            row_count, path, format, sha256, added_by, added_at)
                         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING {COLUMNS}"
                    ),
                    &[
                        Value::Int(case.id),
                        Value::from(evidence.kind.as_str()),
                        Value::from(evidence.title.as_str()),
                        Value::from(evidence.query.as_str()),
                        Value::from(evidence.data_from),
                        Value::from(evidence.data_to),
                        Value::Int(evidence.query_now),
                        Value::Int(i64::try_from(evidence.rows).unwrap_or(i64::MAX)),
                        Value::from(evidence.path.as_str()),
                        Value::from(evidence.format.as_str()),
                        Value::from(evidence.sha256.as_str()),
                        Value::from(actor),
                        Value::Int(now),
                    ],
                )?
                .ok_or_else(|| StoreError::Database("INSERT returned nothing".into()))?;
            let record = evidence_of(&row)?;
            case_log(
                tx,
                case.id,
                actor,
                now,
                "evidence_added",
                None,
                Some(
                    json!({"kind": record.evidence.kind, "title": record.evidence.title,
                           "rows": record.evidence.rows, "path": record.evidence.path,
                           "sha256": record.evidence.sha256})
                    .to_string(),
                ),
            )?;
            insert_timeline_entry(tx, case.id, entry, actor, now)?;
            Ok(record)
        })
    }

    /// The case's evidence, oldest first.
    pub fn evidence(&mut self, number: i64) -> Result<Vec<EvidenceRecord>, StoreError> {
        self.case_rows(
            number,
            &format!("SELECT {COLUMNS} FROM evidence WHERE case_id = ? ORDER BY id"),
            evidence_of,
        )
    }
}

fn evidence_of(row: &Row) -> Result<EvidenceRecord, StoreError> {
    Ok(EvidenceRecord {
        id: row.int(0)?,
        case_id: row.int(1)?,
        evidence: NewEvidence {
            kind: row.text(2)?,
            title: row.text(3)?,
            query: row.text(4)?,
            data_from: row.opt_int(5)?,
            data_to: row.opt_int(6)?,
            query_now: row.int(7)?,
            rows: u64::try_from(row.int(8)?).unwrap_or(0),
            path: row.text(9)?,
            format: row.text(10)?,
            sha256: row.text(11)?,
        },
        added_by: row.text(12)?,
        added_at: row.int(13)?,
    })
}
