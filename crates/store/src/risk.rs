//! Risk contributions per entity, kept across runs: each alert's part in a host's or user's risk,
//! recorded once (by entity and alert id), so a run over newer logs starts from what earlier runs
//! added and a second run over the same logs adds nothing.

use crate::backend::{Change, Value};
use crate::{Store, StoreError};

/// One alert's part in an entity's risk.
#[derive(Debug, Clone, PartialEq)]
pub struct RiskContribution {
    /// `host` or `user`.
    pub kind: String,
    pub entity: String,
    pub alert_id: String,
    pub rule: String,
    /// Points added at `at` (kept to a thousandth).
    pub points: f64,
    /// Event time, UTC nanoseconds.
    pub at: i64,
    pub tactics: Vec<String>,
    /// The log sources of the alert's events (`zeek.conn`).
    pub sources: Vec<String>,
}

impl Store {
    /// Records contributions in one transaction; one already recorded (same entity and alert) is left
    /// as it is. Returns how many were new.
    pub fn record_risk(&mut self, items: &[RiskContribution]) -> Result<u64, StoreError> {
        self.transaction(true, |tx| {
            let mut added = 0;
            for c in items {
                added += tx.execute(
                    "INSERT INTO risk_contributions (entity_kind, entity, alert_id, rule, points_milli, at, tactics, sources)
                     VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                     ON CONFLICT (entity_kind, entity, alert_id) DO NOTHING",
                    &[
                        Value::from(c.kind.as_str()),
                        Value::from(c.entity.as_str()),
                        Value::from(c.alert_id.as_str()),
                        Value::from(c.rule.as_str()),
                        Value::Int((c.points * 1000.0).round() as i64),
                        Value::Int(c.at),
                        Value::from(c.tactics.join(",")),
                        Value::from(c.sources.join(",")),
                    ],
                )?;
            }
            if added > 0 {
                let mut entities: Vec<String> =
                    items.iter().map(|c| format!("{} {}", c.kind, c.entity)).collect();
                entities.sort_unstable();
                entities.dedup();
                tx.changed(Change {
                    object: "risk",
                    id: entities.join(", "),
                    kind: "recorded".into(),
                    at: items.iter().map(|c| c.at).max().unwrap_or_default(),
                    before: None,
                    after: Some(serde_json::json!({ "contributions": added }).to_string()),
                });
            }
            Ok(added)
        })
    }

    /// An entity's contributions from `since` up to (not including) `before`, oldest first.
    pub fn risk_contributions(
        &mut self,
        kind: &str,
        entity: &str,
        since: i64,
        before: i64,
    ) -> Result<Vec<RiskContribution>, StoreError> {
        self.transaction(false, |tx| {
            tx.query(
                "SELECT alert_id, rule, points_milli, at, tactics, sources FROM risk_contributions
                 WHERE entity_kind = ? AND entity = ? AND at >= ? AND at < ? ORDER BY at, id",
                &[
                    Value::from(kind),
                    Value::from(entity),
                    Value::Int(since),
                    Value::Int(before),
                ],
            )?
            .iter()
            .map(|row| {
                let list = |text: String| -> Vec<String> {
                    text.split(',')
                        .filter(|t| !t.is_empty())
                        .map(str::to_string)
                        .collect()
                };
                let (tactics, sources) = (row.text(4)?, row.text(5)?);
                Ok(RiskContribution {
                    kind: kind.to_string(),
                    entity: entity.to_string(),
                    alert_id: row.text(0)?,
                    rule: row.text(1)?,
                    points: row.int(2)? as f64 / 1000.0,
                    at: row.int(3)?,
                    tactics: list(tactics),
                    sources: list(sources),
                })
            })
            .collect()
        })
    }

    /// The entities of a kind (`host`, `user`) with the most points recorded from `since` on, most
    /// first, at most `limit`: candidates for a ranking by decayed risk (points as recorded, not
    /// decayed).
    pub fn risk_leaders(
        &mut self,
        kind: &str,
        since: i64,
        limit: u32,
    ) -> Result<Vec<RiskLeader>, StoreError> {
        self.transaction(false, |tx| {
            tx.query(
                "SELECT entity, CAST(SUM(points_milli) AS BIGINT) AS points, COUNT(*), MAX(at)
                 FROM risk_contributions WHERE entity_kind = ? AND at >= ?
                 GROUP BY entity ORDER BY points DESC, entity LIMIT ?",
                &[
                    Value::from(kind),
                    Value::Int(since),
                    Value::Int(limit.into()),
                ],
            )?
            .iter()
            .map(|row| {
                Ok(RiskLeader {
                    entity: row.text(0)?,
                    points: row.int(1)? as f64 / 1000.0,
                    contributions: row.int(2)?,
                    latest: row.int(3)?,
                })
            })
            .collect()
        })
    }
}

/// An entity's recorded points over a period.
#[derive(Debug, Clone, PartialEq)]
pub struct RiskLeader {
    pub entity: String,
    pub points: f64,
    pub contributions: i64,
    /// Its latest contribution's time.
    pub latest: i64,
}
