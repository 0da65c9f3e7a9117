//! Indicators of compromise, one row per kind, value and source: imported again, an indicator is
//! updated in place (seen later, trusted more, kept longer), never duplicated. Each row keeps when it
//! stops matching (`expires_at`, from its validity and decay) and the warninglists that cover it.

use secops_intel::{Indicator, Kind, Tlp};

use crate::alerts::fetch_one;
use crate::backend::{Change, Row, Tx, Value};
use crate::{Store, StoreError};

/// A stored indicator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndicatorRecord {
    pub id: i64,
    pub indicator: Indicator,
    pub updated_at: i64,
    /// UTC nanoseconds after which it no longer matches.
    pub expires_at: i64,
    /// Names of the warninglists that cover its value (then it never matches).
    pub warninglists: Vec<String>,
}

/// Whether a stored indicator matches now, and if not why.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum IndicatorState {
    /// A warninglist covers its value: it never matches.
    Listed,
    /// Past its expiry.
    Expired,
    /// Context only, not meant for detection (MISP `to_ids` false).
    Context,
    /// Matches.
    Active,
}

impl IndicatorState {
    pub fn as_str(self) -> &'static str {
        match self {
            IndicatorState::Listed => "listed",
            IndicatorState::Expired => "expired",
            IndicatorState::Context => "context",
            IndicatorState::Active => "active",
        }
    }
}

impl IndicatorRecord {
    /// Its state at `now` (UTC nanoseconds).
    pub fn state(&self, now: i64) -> IndicatorState {
        if !self.warninglists.is_empty() {
            IndicatorState::Listed
        } else if self.expires_at <= now {
            IndicatorState::Expired
        } else if !self.indicator.to_ids {
            IndicatorState::Context
        } else {
            IndicatorState::Active
        }
    }
}

/// How many indicators of a kind from a source are in a state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndicatorCount {
    pub kind: String,
    pub source: String,
    /// `listed`, `expired`, `context` or `active` (as [`IndicatorState`]).
    pub state: String,
    pub count: i64,
}

/// An indicator to store, with the warninglists that cover it.
#[derive(Debug, Clone)]
pub struct NewIndicator {
    pub indicator: Indicator,
    pub warninglists: Vec<String>,
}

/// When an indicator stops matching (UTC nanoseconds), from its validity and decay: the store asks it
/// of each indicator as stored, after a refresh merged the old and the new.
pub type Expiry<'a> = &'a dyn Fn(&Indicator) -> i64;

/// Whether storing added or refreshed a row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stored {
    Added(i64),
    Updated(i64),
}

/// Which indicators to list.
#[derive(Debug, Clone, Default)]
pub struct IndicatorFilter {
    pub kind: Option<Kind>,
    pub source: Option<String>,
    /// Values containing this text.
    pub search: Option<String>,
    /// Only those that match at this time: for detection, unexpired, not warninglisted.
    pub active_at: Option<i64>,
    /// Only those that became known (imported or updated) at or after this time.
    pub changed_since: Option<i64>,
    /// Only those stored after this one (by id, the listing's order): the next page.
    pub after_id: Option<i64>,
    pub limit: Option<u32>,
}

const COLUMNS: &str = "id, kind, value, source, native_id, confidence, tlp, tags, description, \
    first_seen, last_seen, valid_until, imported_at, updated_at, to_ids, expires_at, warninglists, \
    source_date";

impl Store {
    /// Stores indicators in one transaction: new ones added, known ones (same kind, value and source)
    /// refreshed: first seen the earliest; last seen, the source's date and validity the latest (so
    /// none moves backwards); confidence the highest; tags merged; the expiry `expiry` gives for
    /// the result.
    pub fn store_indicators(
        &mut self,
        indicators: &[NewIndicator],
        now: i64,
        expiry: Expiry<'_>,
    ) -> Result<Vec<Stored>, StoreError> {
        self.transaction(true, |tx| {
            let stored = indicators
                .iter()
                .map(|n| store_one(tx, n, now, expiry))
                .collect::<Result<Vec<_>, _>>()?;
            let added = stored
                .iter()
                .filter(|s| matches!(s, Stored::Added(_)))
                .count();
            let mut sources: Vec<&str> = indicators
                .iter()
                .map(|n| n.indicator.source.as_str())
                .collect();
            sources.sort_unstable();
            sources.dedup();
            if !stored.is_empty() {
                tx.changed(Change {
                    object: "indicators",
                    id: format!("from {}", sources.join(", ")),
                    kind: "stored".into(),
                    at: now,
                    before: None,
                    after: Some(
                        serde_json::json!({"added": added, "refreshed": stored.len() - added})
                            .to_string(),
                    ),
                });
            }
            Ok(stored)
        })
    }

    pub fn indicators(
        &mut self,
        filter: &IndicatorFilter,
    ) -> Result<Vec<IndicatorRecord>, StoreError> {
        let mut sql = format!("SELECT {COLUMNS} FROM indicators WHERE 1 = 1");
        let mut params = Vec::new();
        if let Some(kind) = filter.kind {
            sql.push_str(" AND kind = ?");
            params.push(Value::from(kind.as_str()));
        }
        if let Some(source) = &filter.source {
            sql.push_str(" AND source = ?");
            params.push(Value::from(source.as_str()));
        }
        if let Some(search) = &filter.search {
            // Literal text: LIKE's wildcards in it are escaped.
            let escaped = search
                .to_lowercase()
                .replace('\\', "\\\\")
                .replace('%', "\\%")
                .replace('_', "\\_");
            sql.push_str(" AND LOWER(value) LIKE ? ESCAPE '\\'");
            params.push(Value::from(format!("%{escaped}%")));
        }
        if let Some(at) = filter.active_at {
            sql.push_str(" AND expires_at > ? AND to_ids = 1 AND warninglists = ''");
            params.push(Value::Int(at));
        }
        if let Some(since) = filter.changed_since {
            sql.push_str(" AND updated_at >= ?");
            params.push(Value::Int(since));
        }
        if let Some(after) = filter.after_id {
            sql.push_str(" AND id > ?");
            params.push(Value::Int(after));
        }
        sql.push_str(" ORDER BY id");
        if let Some(limit) = filter.limit {
            sql.push_str(" LIMIT ?");
            params.push(Value::Int(limit.into()));
        }
        self.transaction(false, |tx| {
            tx.query(&sql, &params)?.iter().map(record_of).collect()
        })
    }

    pub fn indicator(&mut self, id: i64) -> Result<IndicatorRecord, StoreError> {
        self.transaction(false, |tx| {
            fetch_one(
                tx,
                &format!("SELECT {COLUMNS} FROM indicators WHERE id = ?"),
                id,
                "indicator",
                record_of,
            )
        })
    }

    /// Indicators counted by kind, source and state at `now` (listed, expired, context, active).
    pub fn indicator_counts(&mut self, now: i64) -> Result<Vec<IndicatorCount>, StoreError> {
        self.transaction(false, |tx| {
            tx.query(
                "SELECT kind, source,
                     CASE WHEN warninglists <> '' THEN 'listed'
                          WHEN expires_at <= ? THEN 'expired'
                          WHEN to_ids = 0 THEN 'context'
                          ELSE 'active' END AS state,
                     COUNT(*)
                 FROM indicators GROUP BY kind, source, state ORDER BY kind, source, state",
                &[Value::Int(now)],
            )?
            .iter()
            .map(|row| {
                Ok(IndicatorCount {
                    kind: row.text(0)?,
                    source: row.text(1)?,
                    state: row.text(2)?,
                    count: row.int(3)?,
                })
            })
            .collect()
        })
    }

    /// Deletes indicators that expired before `before`; returns how many.
    pub fn prune_indicators(&mut self, before: i64) -> Result<u64, StoreError> {
        self.transaction(true, |tx| {
            let pruned = tx.execute(
                "DELETE FROM indicators WHERE expires_at <= ?",
                &[Value::Int(before)],
            )?;
            if pruned > 0 {
                tx.changed(Change {
                    object: "indicators",
                    id: "expired".into(),
                    kind: "pruned".into(),
                    at: before,
                    before: None,
                    after: Some(serde_json::json!({ "deleted": pruned }).to_string()),
                });
            }
            Ok(pruned)
        })
    }

    /// A value kept by name (the last `added_after` of a TAXII collection).
    pub fn intel_state(&mut self, name: &str) -> Result<Option<String>, StoreError> {
        self.transaction(false, |tx| {
            tx.query_one(
                "SELECT value FROM intel_state WHERE name = ?",
                &[Value::from(name)],
            )?
            .map(|r| r.text(0))
            .transpose()
        })
    }

    pub fn set_intel_state(&mut self, name: &str, value: &str) -> Result<(), StoreError> {
        self.transaction(true, |tx| {
            tx.execute(
                "INSERT INTO intel_state (name, value) VALUES (?, ?)
                 ON CONFLICT (name) DO UPDATE SET value = excluded.value",
                &[Value::from(name), Value::from(value)],
            )?;
            tx.changed(Change {
                object: "intel_state",
                id: name.to_string(),
                kind: "set".into(),
                at: secops_event::Timestamp::now().unix_nanos(),
                before: None,
                after: Some(value.to_string()),
            });
            Ok(())
        })
    }
}

fn store_one(
    tx: &mut dyn Tx,
    new: &NewIndicator,
    now: i64,
    expiry: Expiry<'_>,
) -> Result<Stored, StoreError> {
    let i = &new.indicator;
    let existing = tx.query_one(
        &format!("SELECT {COLUMNS} FROM indicators WHERE kind = ? AND value = ? AND source = ?"),
        &[
            Value::from(i.kind.as_str()),
            Value::from(i.value.as_str()),
            Value::from(i.source.as_str()),
        ],
    )?;
    let lists = new.warninglists.join(",");
    match existing {
        Some(row) => {
            let old = record_of(&row)?;
            let o = &old.indicator;
            let earliest = |a: Option<i64>, b: Option<i64>| match (a, b) {
                (Some(x), Some(y)) => Some(x.min(y)),
                (x, y) => x.or(y),
            };
            let latest = |a: Option<i64>, b: Option<i64>| a.max(b);
            let mut tags = o.tags.clone();
            tags.extend(i.tags.iter().filter(|t| !o.tags.contains(t)).cloned());
            let merged = Indicator {
                confidence: o.confidence.max(i.confidence),
                tlp: i.tlp,
                tags,
                description: if i.description.is_empty() {
                    o.description.clone()
                } else {
                    i.description.clone()
                },
                first_seen: earliest(o.first_seen, i.first_seen),
                last_seen: latest(o.last_seen, i.last_seen),
                valid_until: latest(o.valid_until, i.valid_until),
                source_date: latest(o.source_date, i.source_date),
                to_ids: o.to_ids || i.to_ids,
                ..o.clone()
            };
            tx.execute(
                "UPDATE indicators SET confidence = ?, tlp = ?, tags = ?, description = ?, first_seen = ?,
                    last_seen = ?, valid_until = ?, updated_at = ?, to_ids = ?, expires_at = ?, warninglists = ?,
                    source_date = ?
                 WHERE id = ?",
                &[
                    Value::from(merged.confidence.map(i64::from)),
                    Value::from(merged.tlp.as_str()),
                    Value::from(serde_json::json!(merged.tags).to_string()),
                    Value::from(merged.description.as_str()),
                    Value::from(merged.first_seen),
                    Value::from(merged.last_seen),
                    Value::from(merged.valid_until),
                    Value::Int(now),
                    Value::Int(i64::from(merged.to_ids)),
                    Value::Int(expiry(&merged)),
                    Value::from(lists),
                    Value::from(merged.source_date),
                    Value::Int(old.id),
                ],
            )?;
            Ok(Stored::Updated(old.id))
        }
        None => {
            let imported = Indicator {
                imported_at: if i.imported_at == 0 {
                    now
                } else {
                    i.imported_at
                },
                ..i.clone()
            };
            let id = tx
                .query_one(
                    "INSERT INTO indicators (kind, value, source, native_id, confidence, tlp, tags, description,
                        first_seen, last_seen, valid_until, imported_at, updated_at, to_ids, expires_at, warninglists,
                        source_date)
                     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
                    &[
                        Value::from(i.kind.as_str()),
                        Value::from(i.value.as_str()),
                        Value::from(i.source.as_str()),
                        Value::from(i.native_id.clone()),
                        Value::from(i.confidence.map(i64::from)),
                        Value::from(i.tlp.as_str()),
                        Value::from(serde_json::json!(i.tags).to_string()),
                        Value::from(i.description.as_str()),
                        Value::from(i.first_seen),
                        Value::from(i.last_seen),
                        Value::from(i.valid_until),
                        Value::Int(imported.imported_at),
                        Value::Int(now),
                        Value::Int(i64::from(i.to_ids)),
                        Value::Int(expiry(&imported)),
                        Value::from(lists),
                        Value::from(i.source_date),
                    ],
                )?
                .ok_or_else(|| StoreError::Database("INSERT returned no id".into()))?
                .int(0)?;
            Ok(Stored::Added(id))
        }
    }
}

fn record_of(row: &Row) -> Result<IndicatorRecord, StoreError> {
    let kind_text = row.text(1)?;
    let kind = Kind::parse(&kind_text)
        .ok_or_else(|| StoreError::Corrupt(format!("indicator kind {kind_text:?}")))?;
    let tags = row.text(7)?;
    let lists = row.text(16)?;
    let tlp_text = row.text(6)?;
    let tlp = Tlp::parse(&tlp_text)
        .ok_or_else(|| StoreError::Corrupt(format!("indicator TLP {tlp_text:?}")))?;
    Ok(IndicatorRecord {
        id: row.int(0)?,
        indicator: Indicator {
            kind,
            value: row.text(2)?,
            source: row.text(3)?,
            native_id: row.opt_text(4)?,
            confidence: row.opt_int(5)?.map(|c| c.clamp(0, 100) as u8),
            tlp,
            tags: serde_json::from_str(&tags)
                .map_err(|e| StoreError::Corrupt(format!("indicator tags {tags:?}: {e}")))?,
            description: row.text(8)?,
            first_seen: row.opt_int(9)?,
            last_seen: row.opt_int(10)?,
            valid_until: row.opt_int(11)?,
            source_date: row.opt_int(17)?,
            imported_at: row.int(12)?,
            to_ids: row.int(14)? != 0,
        },
        updated_at: row.int(13)?,
        expires_at: row.int(15)?,
        warninglists: lists
            .split(',')
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect(),
    })
}
