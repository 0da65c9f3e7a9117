//! Vulnerability findings (migration 18). One row per finding merged across tools and scans (by its
//! `identity`), one per tool's sighting of it in a scope (`vuln_detections`, by the tool's own key):
//! an import marks the detections it saw, and finishing it closes (status `mitigated`) the findings
//! whose every detection in the imported scopes is gone, and reopens those that came back. Each
//! change to a finding appends to its history in the same transaction. The store takes findings as
//! plain columns and a JSON document: the vuln crate defines them, the service computes priorities.

use std::collections::BTreeMap;

use crate::backend::{Change, Row, Tx, Value};
use crate::{Store, StoreError};

const DAY: i64 = 86_400 * 1_000_000_000;

/// A finding's priority as stored (the service computes it; see `secops_vuln::risk`).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PriorityColumns {
    pub risk: f64,
    pub vuln_risk: f64,
    pub epss: Option<f64>,
    pub in_kev: bool,
    /// BOD 26-04 timeline's key (`3D`, `14D`...), when its inputs are known.
    pub timeline: Option<String>,
    /// Days from the SLA's start to the deadline.
    pub sla_days: Option<i64>,
    /// KEV due date (UTC nanoseconds): the deadline when earlier.
    pub kev_due: Option<i64>,
    /// The priority with its inputs, as JSON.
    pub detail: String,
    /// The asset's owner in the inventory it was prioritised with.
    pub owner: Option<String>,
}

/// A finding as an import offers it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct NewFinding {
    pub identity: String,
    pub detection_key: String,
    pub kind: String,
    pub primary_id: String,
    pub vuln_id: String,
    pub cves: Vec<String>,
    pub title: String,
    pub severity: String,
    pub fix_state: String,
    pub asset_kind: String,
    pub asset_name: String,
    pub asset_address: Option<String>,
    pub package: Option<String>,
    pub package_version: Option<String>,
    pub location: Option<String>,
    pub tool: String,
    pub scope: String,
    /// Where in the report (for `vuln show`).
    pub record: String,
    /// The vendor says not affected: stored as such, never open.
    pub not_affected: bool,
    pub priority: PriorityColumns,
    /// The finding's own fields, a JSON object.
    pub document: String,
    /// The advisory's fields, a JSON object stored once per `advisory_digest`; read back joined to
    /// `document` (`FindingRecord::document` is the whole finding).
    pub advisory: String,
    pub advisory_digest: String,
}

/// What an import did with one finding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Imported {
    New(i64),
    /// Known already (from an earlier scan, another tool, or earlier in the same report).
    Merged(i64),
    /// Known and closed as gone from its scans: open again.
    Reopened(i64),
}

impl Imported {
    pub fn id(self) -> i64 {
        match self {
            Imported::New(id) | Imported::Merged(id) | Imported::Reopened(id) => id,
        }
    }
}

/// An import's counts, recorded when it finishes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ImportCounts {
    pub read: u64,
    pub new: u64,
    pub merged: u64,
    pub rejected: u64,
    pub reopened: u64,
}

/// A recorded import.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportRecord {
    pub id: i64,
    pub at: i64,
    pub actor: String,
    pub file: String,
    pub format: String,
    pub counts: ImportCounts,
    pub closed: u64,
    pub scopes: Vec<(String, String)>,
}

/// A stored finding.
#[derive(Debug, Clone, PartialEq)]
pub struct FindingRecord {
    pub id: i64,
    pub kind: String,
    pub primary_id: String,
    pub vuln_id: String,
    pub title: String,
    pub severity: String,
    pub fix_state: String,
    pub asset_kind: String,
    pub asset_name: String,
    pub asset_address: Option<String>,
    pub package: Option<String>,
    pub package_version: Option<String>,
    pub location: Option<String>,
    pub tools: Vec<String>,
    /// `open`, `mitigated`, `accepted`, `false_positive`, `not_affected`.
    pub status: String,
    pub resolution: Option<String>,
    pub first_seen: i64,
    pub last_seen: i64,
    pub closed_at: Option<i64>,
    pub sla_start: i64,
    /// Time the SLA was paused by risk acceptances (nanoseconds).
    pub paused: i64,
    pub accepted_until: Option<i64>,
    pub due_at: Option<i64>,
    pub priority: PriorityColumns,
    pub case_id: Option<i64>,
    pub document: String,
    pub updated_at: i64,
}

/// A host's open findings, summed (`Store::vuln_host_risk`).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct HostVulnRisk {
    pub open: u64,
    /// Their risk (as the queue ranks them), summed.
    pub risk: f64,
    /// The primary ids of the riskiest three.
    pub riskiest: Vec<String>,
}

/// One line of a finding's history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FindingEvent {
    pub at: i64,
    pub actor: String,
    pub kind: String,
    pub before: Option<String>,
    pub after: Option<String>,
}

/// A tool's sighting of a finding in a scope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DetectionRecord {
    pub tool: String,
    pub scope: String,
    pub present: bool,
    pub first_seen: i64,
    pub last_seen: i64,
    pub record: String,
}

/// A risk acceptance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcceptanceRecord {
    pub id: i64,
    pub finding_id: i64,
    pub owner: String,
    pub reason: String,
    pub expires_at: i64,
    pub created_by: String,
    pub created_at: i64,
    pub ended_at: Option<i64>,
}

/// A finding's history, its tools' detections and its risk acceptances.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FindingTrail {
    pub events: Vec<FindingEvent>,
    pub detections: Vec<DetectionRecord>,
    pub acceptances: Vec<AcceptanceRecord>,
}

/// Which findings to list.
#[derive(Debug, Clone, Default)]
pub struct FindingFilter {
    pub statuses: Vec<String>,
    pub kinds: Vec<String>,
    /// Severities to include (`critical`, `high`...).
    pub severities: Vec<String>,
    pub asset: Option<String>,
    pub tool: Option<String>,
    /// Findings naming this id (primary, or any CVE).
    pub vuln_id: Option<String>,
    pub in_kev: Option<bool>,
    /// Only those whose deadline is before this time (and not accepted).
    pub due_before: Option<i64>,
    /// Order by deadline instead of risk.
    pub by_due: bool,
    /// Only findings after this id (`by id` order: an export's pages).
    pub after_id: Option<i64>,
    pub by_id: bool,
    pub limit: Option<u32>,
}

/// The EPSS probability from which an open finding counts as exposed (with every KEV finding).
pub const EXPOSURE_EPSS: f64 = 0.1;

/// Exposed open findings, written as the partial index of migration 19 is (so the planner uses
/// it); the literal is `EXPOSURE_EPSS`.
const EXPOSED: &str = "status = 'open' AND (in_kev = 1 OR epss >= 0.1)";

const COLUMNS: &str = "id, kind, primary_id, vuln_id, title, severity, fix_state, asset_kind, \
    asset_name, asset_address, package, package_version, location, tools, status, resolution, \
    first_seen, last_seen, closed_at, sla_start, paused, accepted_until, due_at, risk, vuln_risk, \
    epss, in_kev, timeline, sla_days, kev_due, priority, case_id, document, updated_at, \
    (SELECT a.document FROM vuln_advisories a WHERE a.digest = vuln_findings.advisory), owner";

fn record_of(row: &Row) -> Result<FindingRecord, StoreError> {
    Ok(FindingRecord {
        id: row.int(0)?,
        kind: row.text(1)?,
        primary_id: row.text(2)?,
        vuln_id: row.text(3)?,
        title: row.text(4)?,
        severity: row.text(5)?,
        fix_state: row.text(6)?,
        asset_kind: row.text(7)?,
        asset_name: row.text(8)?,
        asset_address: row.opt_text(9)?,
        package: row.opt_text(10)?,
        package_version: row.opt_text(11)?,
        location: row.opt_text(12)?,
        tools: row
            .text(13)?
            .split(',')
            .filter(|t| !t.is_empty())
            .map(str::to_string)
            .collect(),
        status: row.text(14)?,
        resolution: row.opt_text(15)?,
        first_seen: row.int(16)?,
        last_seen: row.int(17)?,
        closed_at: row.opt_int(18)?,
        sla_start: row.int(19)?,
        paused: row.int(20)?,
        accepted_until: row.opt_int(21)?,
        due_at: row.opt_int(22)?,
        priority: PriorityColumns {
            risk: row.float(23)?,
            vuln_risk: row.float(24)?,
            epss: row.opt_float(25)?,
            in_kev: row.int(26)? != 0,
            timeline: row.opt_text(27)?,
            sla_days: row.opt_int(28)?,
            kev_due: row.opt_int(29)?,
            detail: row.text(30)?,
            owner: row.opt_text(35)?,
        },
        case_id: row.opt_int(31)?,
        document: joined(row.text(32)?, row.opt_text(34)?),
        updated_at: row.int(33)?,
    })
}

/// A finding's whole document: the JSON object of its own fields joined with its advisory's (the
/// two never share a key). A finding stored before advisories were kept apart has no advisory.
pub(crate) fn joined(document: String, advisory: Option<String>) -> String {
    let Some(advisory) = advisory else {
        return document;
    };
    let own = document.trim_end();
    let other = advisory.trim_start();
    match (own.strip_suffix('}'), other.strip_prefix('{')) {
        (Some(head), Some(tail)) if head.trim() == "{" => format!("{{{tail}"),
        (Some(_), Some(tail)) if tail.trim() == "}" => document,
        (Some(head), Some(tail)) => format!("{head},{tail}"),
        _ => document,
    }
}

/// The deadline: the SLA's days from its start, moved on by the time acceptances paused it, or the
/// KEV due date when earlier.
pub fn due_at(
    sla_start: i64,
    paused: i64,
    sla_days: Option<i64>,
    kev_due: Option<i64>,
) -> Option<i64> {
    let by_days = sla_days.map(|d| {
        sla_start
            .saturating_add(d.saturating_mul(DAY))
            .saturating_add(paused)
    });
    match (by_days, kev_due) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

pub(crate) fn event(
    tx: &mut dyn Tx,
    finding: i64,
    actor: &str,
    now: i64,
    kind: &str,
    before: Option<String>,
    after: Option<String>,
) -> Result<(), StoreError> {
    tx.execute(
        "INSERT INTO vuln_finding_events (finding_id, at, actor, kind, before, after) \
         VALUES (?, ?, ?, ?, ?, ?)",
        &[
            Value::Int(finding),
            Value::Int(now),
            Value::from(actor),
            Value::from(kind),
            Value::from(before.clone()),
            Value::from(after.clone()),
        ],
    )?;
    tx.changed(Change {
        object: "finding",
        id: finding.to_string(),
        kind: kind.to_string(),
        at: now,
        before,
        after,
    });
    Ok(())
}

impl Store {
    /// Starts recording an import: its id marks the detections it sees.
    pub fn begin_vuln_import(
        &mut self,
        file: &str,
        format: &str,
        actor: &str,
        now: i64,
    ) -> Result<i64, StoreError> {
        self.transaction(true, |tx| {
            tx.execute(
                "INSERT INTO vuln_imports (at, actor, file, format, read, new, merged, rejected, \
                 closed, reopened, scopes) VALUES (?, ?, ?, ?, 0, 0, 0, 0, 0, 0, '[]')",
                &[
                    Value::Int(now),
                    Value::from(actor),
                    Value::from(file),
                    Value::from(format),
                ],
            )?;
            let row = tx
                .query_one("SELECT MAX(id) FROM vuln_imports", &[])?
                .ok_or_else(|| StoreError::Corrupt("an import without an id".into()))?;
            row.int(0)
        })
    }

    /// Stores a batch of an import's findings in one transaction: each is new, merged into the one
    /// of its identity (its detection added or refreshed), or reopened when it had been closed as
    /// gone from its scans.
    pub fn import_findings(
        &mut self,
        import: i64,
        findings: &[NewFinding],
        actor: &str,
        now: i64,
    ) -> Result<Vec<Imported>, StoreError> {
        self.transaction(true, |tx| {
            crate::vuln_import::import_batch(tx, import, findings, actor, now)
        })
    }

    /// Finishes an import: in each scope it covered, the detections it did not see are marked
    /// gone, and the open findings left with no detection present are closed as `mitigated`.
    /// Returns how many were closed.
    pub fn finish_vuln_import(
        &mut self,
        import: i64,
        scopes: &[(String, String)],
        counts: ImportCounts,
        actor: &str,
        now: i64,
    ) -> Result<u64, StoreError> {
        self.transaction(true, |tx| {
            let mut closed = 0u64;
            for (tool, scope) in scopes {
                let gone = tx.query(
                    "SELECT id, finding_id FROM vuln_detections \
                     WHERE tool = ? AND scope = ? AND last_import <> ? AND present = 1",
                    &[Value::from(tool.as_str()), Value::from(scope.as_str()), Value::Int(import)],
                )?;
                for row in gone {
                    let (detection, finding) = (row.int(0)?, row.int(1)?);
                    tx.execute(
                        "UPDATE vuln_detections SET present = 0 WHERE id = ?",
                        &[Value::Int(detection)],
                    )?;
                    let left = tx
                        .query_one(
                            "SELECT COUNT(*) FROM vuln_detections WHERE finding_id = ? AND present = 1",
                            &[Value::Int(finding)],
                        )?
                        .map(|r| r.int(0))
                        .transpose()?
                        .unwrap_or(0);
                    if left > 0 {
                        continue;
                    }
                    let changed = tx.execute(
                        "UPDATE vuln_findings SET status = 'mitigated', resolution = 'gone from scan', \
                         closed_at = ?, updated_at = ? WHERE id = ? AND status = 'open'",
                        &[Value::Int(now), Value::Int(now), Value::Int(finding)],
                    )?;
                    if changed > 0 {
                        closed += 1;
                        event(
                            tx,
                            finding,
                            actor,
                            now,
                            "mitigated",
                            Some("open".into()),
                            Some(format!("gone from {tool} scan of {scope}")),
                        )?;
                    }
                }
            }
            let scopes_json = serde_json::to_string(scopes)
                .map_err(|e| StoreError::Invalid(e.to_string()))?;
            tx.execute(
                "UPDATE vuln_imports SET read = ?, new = ?, merged = ?, rejected = ?, closed = ?, \
                 reopened = ?, scopes = ?, finished_at = ? WHERE id = ?",
                &[
                    Value::Int(counts.read as i64),
                    Value::Int(counts.new as i64),
                    Value::Int(counts.merged as i64),
                    Value::Int(counts.rejected as i64),
                    Value::Int(closed as i64),
                    Value::Int(counts.reopened as i64),
                    Value::from(scopes_json),
                    Value::Int(now),
                    Value::Int(import),
                ],
            )?;
            tx.changed(Change {
                object: "vuln_import",
                id: import.to_string(),
                kind: "imported".into(),
                at: now,
                before: None,
                after: Some(
                    serde_json::json!({"read": counts.read, "new": counts.new,
                        "merged": counts.merged, "rejected": counts.rejected,
                        "closed": closed, "reopened": counts.reopened})
                    .to_string(),
                ),
            });
            Ok(closed)
        })
    }

    /// Findings, by risk (highest first), by deadline, or by id.
    pub fn vuln_findings(
        &mut self,
        filter: &FindingFilter,
    ) -> Result<Vec<FindingRecord>, StoreError> {
        let mut sql = format!("SELECT {COLUMNS} FROM vuln_findings WHERE 1 = 1");
        let mut params = Vec::new();
        let mut any_of = |sql: &mut String, column: &str, values: &[String]| {
            if values.is_empty() {
                return;
            }
            let marks = vec!["?"; values.len()].join(", ");
            sql.push_str(&format!(" AND {column} IN ({marks})"));
            params.extend(values.iter().map(|v| Value::from(v.as_str())));
        };
        any_of(&mut sql, "status", &filter.statuses);
        any_of(&mut sql, "kind", &filter.kinds);
        any_of(&mut sql, "severity", &filter.severities);
        if let Some(asset) = &filter.asset {
            sql.push_str(" AND (LOWER(asset_name) = ? OR asset_address = ?)");
            params.push(Value::from(asset.to_lowercase()));
            params.push(Value::from(asset.as_str()));
        }
        if let Some(tool) = &filter.tool {
            // Tools are kept as `,a,b,`: a whole name matches.
            sql.push_str(" AND tools LIKE ?");
            params.push(Value::from(format!(
                "%,{},%",
                tool.replace(['%', '_', ','], "")
            )));
        }
        if let Some(id) = &filter.vuln_id {
            sql.push_str(
                " AND (primary_id = ? OR vuln_id = ? OR id IN \
                 (SELECT finding_id FROM vuln_finding_cves WHERE cve = ?))",
            );
            for _ in 0..3 {
                params.push(Value::from(id.as_str()));
            }
        }
        if let Some(kev) = filter.in_kev {
            sql.push_str(" AND in_kev = ?");
            params.push(Value::Int(kev.into()));
        }
        if let Some(before) = filter.due_before {
            sql.push_str(" AND due_at IS NOT NULL AND due_at < ? AND status = 'open'");
            params.push(Value::Int(before));
        }
        if let Some(after) = filter.after_id {
            sql.push_str(" AND id > ?");
            params.push(Value::Int(after));
        }
        sql.push_str(if filter.by_id {
            " ORDER BY id"
        } else if filter.by_due {
            " ORDER BY due_at, risk DESC, id"
        } else {
            " ORDER BY risk DESC, id"
        });
        if let Some(limit) = filter.limit {
            sql.push_str(" LIMIT ?");
            params.push(Value::Int(limit.into()));
        }
        self.transaction(false, |tx| {
            tx.query(&sql, &params)?.iter().map(record_of).collect()
        })
    }

    pub fn vuln_finding(&mut self, id: i64) -> Result<FindingRecord, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM vuln_findings WHERE id = ?");
        self.transaction(false, |tx| {
            crate::alerts::fetch_one(tx, &sql, id, "finding", record_of)
        })
    }

    /// A finding's history, detections and acceptances.
    pub fn vuln_finding_trail(&mut self, id: i64) -> Result<FindingTrail, StoreError> {
        self.transaction(false, |tx| {
            let events = tx
                .query(
                    "SELECT at, actor, kind, before, after FROM vuln_finding_events \
                     WHERE finding_id = ? ORDER BY id",
                    &[Value::Int(id)],
                )?
                .iter()
                .map(|r| {
                    Ok(FindingEvent {
                        at: r.int(0)?,
                        actor: r.text(1)?,
                        kind: r.text(2)?,
                        before: r.opt_text(3)?,
                        after: r.opt_text(4)?,
                    })
                })
                .collect::<Result<Vec<_>, StoreError>>()?;
            let detections = tx
                .query(
                    "SELECT tool, scope, present, first_seen, last_seen, record FROM vuln_detections \
                     WHERE finding_id = ? ORDER BY id",
                    &[Value::Int(id)],
                )?
                .iter()
                .map(|r| {
                    Ok(DetectionRecord {
                        tool: r.text(0)?,
                        scope: r.text(1)?,
                        present: r.int(2)? != 0,
                        first_seen: r.int(3)?,
                        last_seen: r.int(4)?,
                        record: r.text(5)?,
                    })
                })
                .collect::<Result<Vec<_>, StoreError>>()?;
            let acceptances = acceptances(tx, Some(id))?;
            Ok(FindingTrail {
                events,
                detections,
                acceptances,
            })
        })
    }

    /// Accepts a finding's risk until `expires_at`: its SLA pauses until then.
    pub fn accept_finding(
        &mut self,
        id: i64,
        owner: &str,
        reason: &str,
        expires_at: i64,
        actor: &str,
        now: i64,
    ) -> Result<FindingRecord, StoreError> {
        if expires_at <= now {
            return Err(StoreError::Invalid(
                "an acceptance must expire in the future".into(),
            ));
        }
        let sql = format!("SELECT {COLUMNS} FROM vuln_findings WHERE id = ?");
        self.transaction(true, |tx| {
            let before = crate::alerts::fetch_one(tx, &sql, id, "finding", record_of)?;
            if before.status != "open" {
                return Err(StoreError::Invalid(format!(
                    "finding {id} is {}: only an open finding's risk is accepted",
                    before.status
                )));
            }
            tx.execute(
                "INSERT INTO vuln_acceptances (finding_id, owner, reason, expires_at, created_by, \
                 created_at) VALUES (?, ?, ?, ?, ?, ?)",
                &[
                    Value::Int(id),
                    Value::from(owner),
                    Value::from(reason),
                    Value::Int(expires_at),
                    Value::from(actor),
                    Value::Int(now),
                ],
            )?;
            tx.execute(
                "UPDATE vuln_findings SET status = 'accepted', accepted_until = ?, updated_at = ? \
                 WHERE id = ?",
                &[Value::Int(expires_at), Value::Int(now), Value::Int(id)],
            )?;
            event(
                tx,
                id,
                actor,
                now,
                "accepted",
                Some("open".into()),
                Some(
                    serde_json::json!({"owner": owner, "reason": reason, "expires_at": expires_at})
                        .to_string(),
                ),
            )?;
            crate::alerts::fetch_one(tx, &sql, id, "finding", record_of)
        })
    }

    /// Ends the acceptances past their expiry: each finding opens again, its deadline moved on by
    /// the time it was paused. Returns the findings reopened.
    pub fn expire_acceptances(&mut self, actor: &str, now: i64) -> Result<Vec<i64>, StoreError> {
        self.transaction(true, |tx| {
            let due = tx.query(
                "SELECT id, finding_id, created_at, expires_at FROM vuln_acceptances \
                 WHERE ended_at IS NULL AND expires_at <= ? ORDER BY id",
                &[Value::Int(now)],
            )?;
            let mut reopened = Vec::new();
            for row in due {
                let (acceptance, finding) = (row.int(0)?, row.int(1)?);
                let (created, expires) = (row.int(2)?, row.int(3)?);
                end_pause(tx, acceptance, finding, created, expires, now)?;
                let changed = tx.execute(
                    "UPDATE vuln_findings SET status = 'open', accepted_until = NULL, updated_at = ? \
                     WHERE id = ? AND status = 'accepted'",
                    &[Value::Int(now), Value::Int(finding)],
                )?;
                if changed > 0 {
                    event(tx, finding, actor, now, "acceptance expired", Some("accepted".into()), Some("open".into()))?;
                    reopened.push(finding);
                }
            }
            Ok(reopened)
        })
    }

    /// Closes a finding by hand: `fixed` or `mitigated` (status mitigated), `false_positive`.
    pub fn close_finding(
        &mut self,
        id: i64,
        resolution: &str,
        note: &str,
        actor: &str,
        now: i64,
    ) -> Result<FindingRecord, StoreError> {
        let status = match resolution {
            "fixed" | "mitigated" => "mitigated",
            "false_positive" => "false_positive",
            other => {
                return Err(StoreError::Invalid(format!(
                    "resolution {other:?}: fixed, mitigated or false_positive"
                )))
            }
        };
        let sql = format!("SELECT {COLUMNS} FROM vuln_findings WHERE id = ?");
        self.transaction(true, |tx| {
            let before = crate::alerts::fetch_one(tx, &sql, id, "finding", record_of)?;
            if !matches!(before.status.as_str(), "open" | "accepted") {
                return Err(StoreError::Invalid(format!(
                    "finding {id} is {} already",
                    before.status
                )));
            }
            // Closing an accepted finding ends its acceptance now.
            for a in acceptances(tx, Some(id))? {
                if a.ended_at.is_none() {
                    end_pause(tx, a.id, id, a.created_at, now.min(a.expires_at), now)?;
                }
            }
            tx.execute(
                "UPDATE vuln_findings SET status = ?, resolution = ?, closed_at = ?, \
                 accepted_until = NULL, updated_at = ? WHERE id = ?",
                &[
                    Value::from(status),
                    Value::from(resolution),
                    Value::Int(now),
                    Value::Int(now),
                    Value::Int(id),
                ],
            )?;
            let after = if note.is_empty() {
                resolution.to_string()
            } else {
                format!("{resolution}: {note}")
            };
            event(
                tx,
                id,
                actor,
                now,
                "closed",
                Some(before.status),
                Some(after),
            )?;
            crate::alerts::fetch_one(tx, &sql, id, "finding", record_of)
        })
    }

    /// Marks findings not affected (a VEX statement): open or accepted ones leave the queue, with
    /// the statement's justification in their history. Returns how many changed.
    pub fn mark_not_affected(
        &mut self,
        ids: &[i64],
        why: &str,
        actor: &str,
        now: i64,
    ) -> Result<u64, StoreError> {
        self.transaction(true, |tx| {
            let mut changed = 0;
            for id in ids {
                let before = tx
                    .query_one("SELECT status FROM vuln_findings WHERE id = ?", &[Value::Int(*id)])?
                    .map(|r| r.text(0))
                    .transpose()?;
                let Some(before) = before.filter(|s| s == "open" || s == "accepted") else {
                    continue;
                };
                tx.execute(
                    "UPDATE vuln_findings SET status = 'not_affected', fix_state = 'not_affected', \
                     resolution = ?, closed_at = ?, accepted_until = NULL, updated_at = ? WHERE id = ?",
                    &[Value::from(why), Value::Int(now), Value::Int(now), Value::Int(*id)],
                )?;
                event(tx, *id, actor, now, "not affected", Some(before), Some(why.to_string()))?;
                changed += 1;
            }
            Ok(changed)
        })
    }

    /// Whether any open finding is exposed (in KEV, or an EPSS probability of at least
    /// `EXPOSURE_EPSS`): one look at a partial index, so a commit of alerts skips the rest when
    /// none is.
    pub fn any_vuln_exposure(&mut self) -> Result<bool, StoreError> {
        let rows = self.transaction(false, |tx| {
            tx.query(
                &format!("SELECT 1 FROM vuln_findings WHERE {EXPOSED} LIMIT 1"),
                &[],
            )
        })?;
        Ok(!rows.is_empty())
    }

    /// The exposed open findings (see `any_vuln_exposure`) on these hosts or addresses (compared
    /// in lower case), riskiest first, at most `per_asset` each.
    pub fn vuln_exposure(
        &mut self,
        assets: &[String],
        per_asset: usize,
    ) -> Result<Vec<FindingRecord>, StoreError> {
        let mut out: Vec<FindingRecord> = Vec::new();
        let mut seen = std::collections::BTreeSet::new();
        for chunk in assets.chunks(400) {
            let marks = vec!["?"; chunk.len()].join(", ");
            let params: Vec<Value> = chunk
                .iter()
                .map(|a| Value::from(a.to_lowercase()))
                .collect();
            // By name, then by address: each through its own index.
            for column in ["LOWER(asset_name)", "asset_address"] {
                let sql = format!(
                    "SELECT {COLUMNS} FROM vuln_findings WHERE {EXPOSED} AND {column} IN ({marks})"
                );
                let rows = self.transaction(false, |tx| tx.query(&sql, &params))?;
                for row in &rows {
                    let record = record_of(row)?;
                    if seen.insert(record.id) {
                        out.push(record);
                    }
                }
            }
        }
        out.sort_by(|a, b| {
            b.priority
                .risk
                .total_cmp(&a.priority.risk)
                .then(a.id.cmp(&b.id))
        });
        let mut counts: BTreeMap<String, usize> = BTreeMap::new();
        out.retain(|f| {
            let n = counts.entry(f.asset_name.to_lowercase()).or_default();
            *n += 1;
            *n <= per_asset
        });
        Ok(out)
    }

    /// A host's open findings (by its name, in lower case, or its address): how many, their
    /// summed risk, and the ids of the riskiest three. What they add to its entity risk.
    pub fn vuln_host_risk(&mut self, host: &str) -> Result<HostVulnRisk, StoreError> {
        let key = host.to_lowercase();
        let params = [Value::from(key.as_str()), Value::from(key.as_str())];
        let on_host = "status = 'open' AND (LOWER(asset_name) = ? OR asset_address = ?)";
        let (totals, top) = self.transaction(false, |tx| {
            let totals = tx.query(
                &format!(
                    "SELECT COUNT(*), COALESCE(SUM(risk), 0) FROM vuln_findings WHERE {on_host}"
                ),
                &params,
            )?;
            let top = tx.query(
                &format!(
                    "SELECT primary_id FROM vuln_findings WHERE {on_host} \
                     ORDER BY risk DESC, id LIMIT 3"
                ),
                &params,
            )?;
            Ok((totals, top))
        })?;
        let mut out = HostVulnRisk::default();
        if let Some(row) = totals.first() {
            out.open = u64::try_from(row.int(0)?).unwrap_or(0);
            out.risk = row.float(1)?;
        }
        for row in &top {
            out.riskiest.push(row.text(0)?);
        }
        Ok(out)
    }

    /// Records that a case was opened for a finding (a finding belongs to one case).
    pub fn link_finding_case(
        &mut self,
        id: i64,
        case_number: i64,
        actor: &str,
        now: i64,
    ) -> Result<(), StoreError> {
        self.transaction(true, |tx| {
            let changed = tx.execute(
                "UPDATE vuln_findings SET case_id = ?, updated_at = ? WHERE id = ? AND case_id IS NULL",
                &[Value::Int(case_number), Value::Int(now), Value::Int(id)],
            )?;
            if changed == 0 {
                return Err(StoreError::Invalid(format!(
                    "finding {id} does not exist or is in a case already"
                )));
            }
            event(tx, id, actor, now, "case opened", None, Some(format!("case {case_number}")))
        })
    }

    /// New priorities for findings (after `vuln refresh` loaded new catalogs); each deadline
    /// recomputed from its SLA start.
    pub fn reprioritise_findings(
        &mut self,
        priorities: &[(i64, PriorityColumns)],
        now: i64,
    ) -> Result<(), StoreError> {
        self.transaction(true, |tx| {
            for (id, p) in priorities {
                let row = tx.query_one(
                    "SELECT sla_start, paused FROM vuln_findings WHERE id = ?",
                    &[Value::Int(*id)],
                )?;
                let Some(row) = row else { continue };
                let due = due_at(row.int(0)?, row.int(1)?, p.sla_days, p.kev_due);
                tx.execute(
                    "UPDATE vuln_findings SET risk = ?, vuln_risk = ?, epss = ?, in_kev = ?, \
                     timeline = ?, sla_days = ?, kev_due = ?, due_at = ?, priority = ?, owner = ?, \
                     updated_at = ? WHERE id = ?",
                    &priority_params(p, due, now, *id),
                )?;
            }
            Ok(())
        })
    }

    /// The imports, newest first.
    pub fn vuln_imports(&mut self, limit: u32) -> Result<Vec<ImportRecord>, StoreError> {
        self.transaction(false, |tx| {
            tx.query(
                "SELECT id, at, actor, file, format, read, new, merged, rejected, closed, reopened, \
                 scopes FROM vuln_imports ORDER BY id DESC LIMIT ?",
                &[Value::Int(limit.into())],
            )?
            .iter()
            .map(|r| {
                Ok(ImportRecord {
                    id: r.int(0)?,
                    at: r.int(1)?,
                    actor: r.text(2)?,
                    file: r.text(3)?,
                    format: r.text(4)?,
                    counts: ImportCounts {
                        read: r.int(5)? as u64,
                        new: r.int(6)? as u64,
                        merged: r.int(7)? as u64,
                        rejected: r.int(8)? as u64,
                        reopened: r.int(10)? as u64,
                    },
                    closed: r.int(9)? as u64,
                    scopes: serde_json::from_str(&r.text(11)?).unwrap_or_default(),
                })
            })
            .collect()
        })
    }

    /// Findings counted by status and severity.
    pub fn vuln_counts(&mut self) -> Result<BTreeMap<(String, String), i64>, StoreError> {
        self.transaction(false, |tx| {
            let mut out = BTreeMap::new();
            for r in tx.query(
                "SELECT status, severity, COUNT(*) FROM vuln_findings GROUP BY status, severity",
                &[],
            )? {
                out.insert((r.text(0)?, r.text(1)?), r.int(2)?);
            }
            Ok(out)
        })
    }
}

/// One line of a finding's history, as the burn-down replays it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusChange {
    pub at: i64,
    pub finding: i64,
    /// `created`, `mitigated`, `reopened`, `accepted`, `acceptance expired`, `closed`, `not affected`.
    pub kind: String,
    pub after: Option<String>,
}

/// What the SLA report reads of a finding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlaRow {
    pub id: i64,
    pub kind: String,
    pub severity: String,
    pub status: String,
    pub resolution: Option<String>,
    pub asset_kind: String,
    pub asset_name: String,
    pub asset_address: Option<String>,
    pub first_seen: i64,
    pub closed_at: Option<i64>,
    pub due_at: Option<i64>,
    pub in_kev: bool,
    /// The asset's owner when it was last prioritised (`PriorityColumns::owner`).
    pub owner: Option<String>,
}

impl Store {
    /// Every finding's SLA columns (light rows: for reports over all findings).
    pub fn vuln_sla_rows(&mut self) -> Result<Vec<SlaRow>, StoreError> {
        self.transaction(false, |tx| {
            tx.query(
                "SELECT id, kind, severity, status, resolution, asset_kind, asset_name, \
                 asset_address, first_seen, closed_at, due_at, in_kev, owner FROM vuln_findings \
                 ORDER BY id",
                &[],
            )?
            .iter()
            .map(|r| {
                Ok(SlaRow {
                    id: r.int(0)?,
                    kind: r.text(1)?,
                    severity: r.text(2)?,
                    status: r.text(3)?,
                    resolution: r.opt_text(4)?,
                    asset_kind: r.text(5)?,
                    asset_name: r.text(6)?,
                    asset_address: r.opt_text(7)?,
                    first_seen: r.int(8)?,
                    closed_at: r.opt_int(9)?,
                    due_at: r.opt_int(10)?,
                    in_kev: r.int(11)? != 0,
                    owner: r.opt_text(12)?,
                })
            })
            .collect()
        })
    }

    /// Every line of the findings' history, oldest first: what counting the open findings at any
    /// time replays.
    pub fn vuln_status_changes(&mut self) -> Result<Vec<StatusChange>, StoreError> {
        self.transaction(false, |tx| {
            tx.query(
                "SELECT at, finding_id, kind, after FROM vuln_finding_events ORDER BY at, id",
                &[],
            )?
            .iter()
            .map(|r| {
                Ok(StatusChange {
                    at: r.int(0)?,
                    finding: r.int(1)?,
                    kind: r.text(2)?,
                    after: r.opt_text(3)?,
                })
            })
            .collect()
        })
    }
}

pub(crate) fn priority_params(
    p: &PriorityColumns,
    due: Option<i64>,
    now: i64,
    id: i64,
) -> Vec<Value> {
    vec![
        Value::Float(p.risk),
        Value::Float(p.vuln_risk),
        p.epss.map_or(Value::Null, Value::Float),
        Value::Int(p.in_kev.into()),
        Value::from(p.timeline.clone()),
        Value::from(p.sla_days),
        Value::from(p.kev_due),
        Value::from(due),
        Value::from(p.detail.as_str()),
        Value::from(p.owner.clone()),
        Value::Int(now),
        Value::Int(id),
    ]
}

/// Ends an acceptance at `end`: the finding's SLA pause grows by the time it lasted.
fn end_pause(
    tx: &mut dyn Tx,
    acceptance: i64,
    finding: i64,
    created: i64,
    end: i64,
    now: i64,
) -> Result<(), StoreError> {
    tx.execute(
        "UPDATE vuln_acceptances SET ended_at = ? WHERE id = ?",
        &[Value::Int(end), Value::Int(acceptance)],
    )?;
    let row = tx
        .query_one(
            "SELECT sla_start, paused, sla_days, kev_due FROM vuln_findings WHERE id = ?",
            &[Value::Int(finding)],
        )?
        .ok_or(StoreError::NotFound {
            what: "finding",
            id: finding.to_string(),
        })?;
    let paused = row.int(1)?.saturating_add((end - created).max(0));
    let due = due_at(row.int(0)?, paused, row.opt_int(2)?, row.opt_int(3)?);
    tx.execute(
        "UPDATE vuln_findings SET paused = ?, due_at = ?, updated_at = ? WHERE id = ?",
        &[
            Value::Int(paused),
            Value::from(due),
            Value::Int(now),
            Value::Int(finding),
        ],
    )?;
    Ok(())
}

fn acceptances(tx: &mut dyn Tx, finding: Option<i64>) -> Result<Vec<AcceptanceRecord>, StoreError> {
    let (sql, params) = match finding {
        Some(id) => (
            "SELECT id, finding_id, owner, reason, expires_at, created_by, created_at, ended_at \
             FROM vuln_acceptances WHERE finding_id = ? ORDER BY id",
            vec![Value::Int(id)],
        ),
        None => (
            "SELECT id, finding_id, owner, reason, expires_at, created_by, created_at, ended_at \
             FROM vuln_acceptances ORDER BY id",
            vec![],
        ),
    };
    tx.query(sql, &params)?
        .iter()
        .map(|r| {
            Ok(AcceptanceRecord {
                id: r.int(0)?,
                finding_id: r.int(1)?,
                owner: r.text(2)?,
                reason: r.text(3)?,
                expires_at: r.int(4)?,
                created_by: r.text(5)?,
                created_at: r.int(6)?,
                ended_at: r.opt_int(7)?,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::{joined, EXPOSED, EXPOSURE_EPSS};

    #[test]
    fn the_exposure_condition_names_the_exposure_threshold() {
        assert!(EXPOSED.ends_with(&format!("epss >= {EXPOSURE_EPSS})")));
    }

    #[test]
    fn a_document_and_its_advisory_join_into_one_object() {
        let whole = joined(
            r#"{"id":"CVE-1","package":null}"#.into(),
            Some(r#"{"title":"t","cvss":[]}"#.into()),
        );
        let value: serde_json::Value = serde_json::from_str(&whole).unwrap();
        assert_eq!(
            value,
            serde_json::json!({"id": "CVE-1", "package": null, "title": "t", "cvss": []})
        );
        assert_eq!(joined("{}".into(), Some(r#"{"a":1}"#.into())), r#"{"a":1}"#);
        assert_eq!(
            joined(r#"{"a":1}"#.into(), Some("{ }".into())),
            r#"{"a":1}"#
        );
        // Stored before advisories were kept apart: the document is whole already.
        assert_eq!(joined(r#"{"a":1}"#.into(), None), r#"{"a":1}"#);
    }
}
