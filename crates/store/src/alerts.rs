//! Alerts as detection records them: deduplicated, then acknowledged, closed with a resolution, or
//! attached to a case, each change in the alert's event log.
//!
//! Deduplication: an alert is known by its rule, group key and first event time (its fingerprint), so
//! running detection again over the same logs adds nothing. Within the rule's suppression window
//! (`dedupe_window`), a new alert for the same rule and group folds into the open alert it repeats: the
//! count grows and the last-seen time moves on.

use sha2::{Digest, Sha256};

use crate::backend::{Change, Row, Tx, Value};
use crate::{Store, StoreError};

/// An alert to record.
#[derive(Debug, Clone, PartialEq)]
pub struct NewAlert {
    pub rule_id: String,
    pub rule_name: String,
    pub rule_version: u32,
    pub severity: String,
    pub risk_score: u8,
    /// The values the rule grouped by (`source.ip=203.0.113.7`), empty for single-event alerts.
    pub group_key: String,
    /// Event times, UTC nanoseconds.
    pub first_seen: i64,
    pub last_seen: i64,
    pub event_count: u64,
    /// Nanoseconds within which a repeat folds into the open alert (0: only exact repeats).
    pub dedupe_window: i64,
    /// The whole alert as JSON (what `detect --output jsonl` prints).
    pub document: String,
}

/// Repeats folded into a recorded alert after it was recorded (its suppression window closed).
#[derive(Debug, Clone, PartialEq)]
pub struct AlertFold {
    pub id: i64,
    /// The last repeat's event time, UTC nanoseconds.
    pub last_seen: i64,
    /// Events the repeats add.
    pub events: u64,
    /// The alert's document with the repeats in it, when the alert was recorded from this one (an alert
    /// that merged into an earlier one keeps that one's document).
    pub document: Option<String>,
}

/// What became of an alert given to [`Store::record_alerts`], with the stored alert's id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recorded {
    Inserted(i64),
    /// Folded into an open alert of the same rule and group within the window.
    Merged(i64),
    /// Already recorded (a re-run over the same events).
    Duplicate(i64),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlertStatus {
    Open,
    Acknowledged,
    Closed,
}

impl AlertStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            AlertStatus::Open => "open",
            AlertStatus::Acknowledged => "acknowledged",
            AlertStatus::Closed => "closed",
        }
    }

    pub fn parse(text: &str) -> Option<AlertStatus> {
        [
            AlertStatus::Open,
            AlertStatus::Acknowledged,
            AlertStatus::Closed,
        ]
        .into_iter()
        .find(|s| s.as_str() == text)
    }
}

/// A stored alert.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertRecord {
    pub id: i64,
    pub rule_id: String,
    pub rule_name: String,
    pub rule_version: u32,
    pub severity: String,
    pub risk_score: u8,
    pub group_key: String,
    pub first_seen: i64,
    pub last_seen: i64,
    pub event_count: u64,
    pub status: AlertStatus,
    pub resolution: Option<String>,
    pub case_id: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
    pub document: String,
    /// The user working it.
    pub assignee: Option<String>,
    /// Labels analysts gave it, sorted.
    pub tags: Vec<String>,
}

/// Which alerts to list (all conditions hold; newest first).
#[derive(Debug, Clone, Default)]
pub struct AlertFilter {
    pub status: Option<AlertStatus>,
    pub rule: Option<String>,
    pub ids: Vec<i64>,
    /// Last seen at or after (UTC nanoseconds).
    pub since: Option<i64>,
    /// Only alerts after this one in the listing's order (newest first): the next page.
    pub after: Option<AlertCursor>,
    pub limit: Option<u32>,
    pub severity: Option<String>,
    /// Assigned to this user; `Some("")`: assigned to no one.
    pub assignee: Option<String>,
    pub tag: Option<String>,
    /// Naming this entity: its kind (`host`, `user`, `ip`) and value.
    pub entity: Option<(String, String)>,
}

/// A position in the alert listing (newest first, by last seen then id): where a page ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AlertCursor {
    pub last_seen: i64,
    pub id: i64,
}

impl AlertRecord {
    /// The cursor that lists the alerts after this one.
    pub fn cursor(&self) -> AlertCursor {
        AlertCursor {
            last_seen: self.last_seen,
            id: self.id,
        }
    }
}

/// A line of an alert's or a case's event log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventLine {
    pub at: i64,
    pub actor: String,
    pub kind: String,
    pub before: Option<String>,
    pub after: Option<String>,
}

const COLUMNS: &str = "id, rule_id, rule_name, rule_version, severity, risk_score, group_key, \
    first_seen, last_seen, event_count, status, resolution, case_id, created_at, updated_at, document, \
    assignee";

impl Store {
    /// Records alerts in one transaction (all or none), deduplicating as the module says.
    pub fn record_alerts(
        &mut self,
        alerts: &[NewAlert],
        actor: &str,
        now: i64,
    ) -> Result<Vec<Recorded>, StoreError> {
        self.transaction(true, |tx| record_in(tx, alerts, actor, now))
    }

    /// Folds repeats into recorded alerts in one transaction: last seen moves on, the count grows, the
    /// document is replaced when given; each change is in the alert's event log.
    pub fn fold_into_alerts(
        &mut self,
        folds: &[AlertFold],
        actor: &str,
        now: i64,
    ) -> Result<(), StoreError> {
        self.transaction(true, |tx| fold_in(tx, folds, actor, now))
    }

    /// Alerts matching the filter, newest first. Any number of `ids` (an incident of 60,000 alerts):
    /// they are asked for in chunks the databases' parameter limits allow.
    pub fn alerts(&mut self, filter: &AlertFilter) -> Result<Vec<AlertRecord>, StoreError> {
        const CHUNK: usize = 1000;
        if filter.ids.len() <= CHUNK {
            return self.alerts_in(filter);
        }
        let mut all = Vec::new();
        for ids in filter.ids.chunks(CHUNK) {
            all.extend(self.alerts_in(&AlertFilter {
                ids: ids.to_vec(),
                limit: None,
                ..filter.clone()
            })?);
        }
        all.sort_by(|a, b| b.last_seen.cmp(&a.last_seen).then(b.id.cmp(&a.id)));
        all.dedup_by_key(|a| a.id);
        if let Some(limit) = filter.limit {
            all.truncate(limit as usize);
        }
        Ok(all)
    }

    fn alerts_in(&mut self, filter: &AlertFilter) -> Result<Vec<AlertRecord>, StoreError> {
        let mut sql = format!("SELECT {COLUMNS} FROM alerts WHERE 1 = 1");
        let mut params = Vec::new();
        conditions(filter, &mut sql, &mut params);
        sql.push_str(" ORDER BY last_seen DESC, id DESC");
        if let Some(limit) = filter.limit {
            sql.push_str(" LIMIT ?");
            params.push(Value::Int(limit.into()));
        }
        self.transaction(false, |tx| {
            let rows = tx.query(&sql, &params)?;
            alerts_of(tx, &rows)
        })
    }

    /// The ids of the alerts matching the filter, newest first (what a bulk change over a filter
    /// changes), at most `filter.limit`.
    pub fn alert_ids(&mut self, filter: &AlertFilter) -> Result<Vec<i64>, StoreError> {
        let mut sql = String::from("SELECT id FROM alerts WHERE 1 = 1");
        let mut params = Vec::new();
        conditions(filter, &mut sql, &mut params);
        sql.push_str(" ORDER BY last_seen DESC, id DESC");
        if let Some(limit) = filter.limit {
            sql.push_str(" LIMIT ?");
            params.push(Value::Int(limit.into()));
        }
        self.transaction(false, |tx| {
            tx.query(&sql, &params)?
                .iter()
                .map(|row| row.int(0))
                .collect()
        })
    }

    /// Adds a comment to an alert's history.
    pub fn comment_alert(
        &mut self,
        id: i64,
        text: &str,
        actor: &str,
        now: i64,
    ) -> Result<(), StoreError> {
        if text.trim().is_empty() {
            return Err(StoreError::Invalid("an empty comment".into()));
        }
        self.transaction(true, |tx| {
            fetch(tx, id)?;
            log(
                tx,
                id,
                actor,
                now,
                "commented",
                None,
                Some(text.to_string()),
            )
        })
    }

    /// One alert by id.
    pub fn alert(&mut self, id: i64) -> Result<AlertRecord, StoreError> {
        self.transaction(false, |tx| fetch(tx, id))
    }

    /// Marks an open alert as seen by someone who is on it.
    pub fn acknowledge_alert(
        &mut self,
        id: i64,
        actor: &str,
        now: i64,
    ) -> Result<AlertRecord, StoreError> {
        self.change_alert(id, actor, now, "acknowledged", |alert| {
            if alert.status != AlertStatus::Open {
                return Err(StoreError::Invalid(format!(
                    "alert {id} is {}: only open alerts can be acknowledged",
                    alert.status.as_str()
                )));
            }
            Ok(("status = ?", vec![Value::from("acknowledged")]))
        })
    }

    /// Closes an alert with a resolution (`false_positive`, `true_positive`, `benign`, `duplicate`...).
    pub fn close_alert(
        &mut self,
        id: i64,
        actor: &str,
        resolution: &str,
        now: i64,
    ) -> Result<AlertRecord, StoreError> {
        if resolution.trim().is_empty() {
            return Err(StoreError::Invalid(
                "closing an alert needs a resolution".into(),
            ));
        }
        self.change_alert(id, actor, now, "closed", |alert| {
            if alert.status == AlertStatus::Closed {
                return Err(StoreError::Invalid(format!("alert {id} is closed already")));
            }
            Ok((
                "status = ?, resolution = ?",
                vec![Value::from("closed"), Value::from(resolution)],
            ))
        })
    }

    /// Attaches alerts to a case (an alert belongs to one case at a time).
    pub(crate) fn link_alerts_in(
        tx: &mut dyn Tx,
        ids: &[i64],
        case_id: i64,
        actor: &str,
        now: i64,
    ) -> Result<(), StoreError> {
        for &id in ids {
            let alert = fetch(tx, id)?;
            if let Some(other) = alert.case_id.filter(|&c| c != case_id) {
                return Err(StoreError::Invalid(format!(
                    "alert {id} belongs to another case (id {other})"
                )));
            }
            tx.execute(
                "UPDATE alerts SET case_id = ?, updated_at = ? WHERE id = ?",
                &[Value::Int(case_id), Value::Int(now), Value::Int(id)],
            )?;
            log(
                tx,
                id,
                actor,
                now,
                "linked_to_case",
                alert.case_id.map(|c| c.to_string()),
                Some(case_id.to_string()),
            )?;
        }
        Ok(())
    }

    /// The entities an alert names (kind, value), as kept when it was recorded.
    pub fn alert_entities(&mut self, id: i64) -> Result<Vec<(String, String)>, StoreError> {
        self.transaction(false, |tx| {
            tx.query(
                "SELECT kind, value FROM alert_entities WHERE alert_id = ? ORDER BY kind, value",
                &[Value::Int(id)],
            )?
            .iter()
            .map(|r| Ok((r.text(0)?, r.text(1)?)))
            .collect()
        })
    }

    /// The alert's event log, oldest first.
    pub fn alert_events(&mut self, id: i64) -> Result<Vec<EventLine>, StoreError> {
        self.transaction(false, |tx| {
            fetch(tx, id)?;
            tx.query(
                "SELECT at, actor, kind, before, after FROM alert_events WHERE alert_id = ? ORDER BY id",
                &[Value::Int(id)],
            )?
            .iter()
            .map(event_line)
            .collect()
        })
    }

    /// Acknowledges or closes many alerts in one transaction (one audit record): each alert is
    /// checked as [`Store::acknowledge_alert`] and [`Store::close_alert`] check one, those refused are
    /// answered with the reason and left as they are, the rest changed by set-based statements (a
    /// thousand alerts are a few statements, not thousands).
    pub fn bulk_change_alerts(
        &mut self,
        ids: &[i64],
        change: BulkChange<'_>,
        actor: &str,
        now: i64,
    ) -> Result<BulkChanged, StoreError> {
        const CHUNK: usize = 500;
        let kind = match change {
            BulkChange::Acknowledge => "acknowledged",
            BulkChange::Close { resolution } => {
                if resolution.trim().is_empty() {
                    return Err(StoreError::Invalid(
                        "closing an alert needs a resolution".into(),
                    ));
                }
                "closed"
            }
            BulkChange::Assign { .. } => "assigned",
            BulkChange::Tag { add, remove } => {
                if add.is_empty() && remove.is_empty() {
                    return Err(StoreError::Invalid("no tag to add or remove".into()));
                }
                if add.len() + remove.len() > MAX_TAG_CHANGES {
                    return Err(StoreError::Invalid(format!(
                        "at most {MAX_TAG_CHANGES} tags added and removed at once"
                    )));
                }
                for tag in add.iter().chain(remove) {
                    check_tag(tag)?;
                }
                "tagged"
            }
        };
        let mut wanted: Vec<i64> = ids.to_vec();
        wanted.sort_unstable();
        wanted.dedup();
        self.transaction(true, |tx| {
            let mut outcome = BulkChanged::default();
            for chunk in wanted.chunks(CHUNK) {
                let marks = vec!["?"; chunk.len()].join(", ");
                let params: Vec<Value> = chunk.iter().map(|&id| Value::Int(id)).collect();
                let rows = tx.query(
                    &format!("SELECT {COLUMNS} FROM alerts WHERE id IN ({marks})"),
                    &params,
                )?;
                let found = alerts_of(tx, &rows)?;
                let mut eligible: Vec<&AlertRecord> = Vec::new();
                for &id in chunk {
                    let Some(alert) = found.iter().find(|a| a.id == id) else {
                        outcome
                            .refused
                            .push((id, format!("alert {id} does not exist")));
                        continue;
                    };
                    match bulk_refusal(change, alert) {
                        Some(why) => outcome.refused.push((id, why)),
                        None => eligible.push(alert),
                    }
                }
                if eligible.is_empty() {
                    continue;
                }
                let marks = vec!["?"; eligible.len()].join(", ");
                let ids: Vec<Value> = eligible.iter().map(|a| Value::Int(a.id)).collect();
                let mut params = vec![Value::Int(now)];
                let set = match change {
                    BulkChange::Acknowledge => {
                        params.push(Value::from("acknowledged"));
                        ", status = ?"
                    }
                    BulkChange::Close { resolution } => {
                        params.push(Value::from("closed"));
                        params.push(Value::from(resolution));
                        ", status = ?, resolution = ?"
                    }
                    BulkChange::Assign { assignee: Some(user) } => {
                        params.push(Value::from(user));
                        ", assignee = ?"
                    }
                    BulkChange::Assign { assignee: None } => ", assignee = NULL",
                    BulkChange::Tag { add, remove } => {
                        retag(tx, &ids, add, remove)?;
                        ""
                    }
                };
                params.extend(ids.iter().cloned());
                tx.execute(
                    &format!("UPDATE alerts SET updated_at = ?{set} WHERE id IN ({marks})"),
                    &params,
                )?;
                let mut rows = Vec::with_capacity(eligible.len());
                let mut values = Vec::with_capacity(eligible.len() * 6);
                for before in eligible {
                    let after = changed(before, change, now);
                    let (was, is) = match change {
                        BulkChange::Tag { .. } => (
                            serde_json::json!({ "tags": before.tags }).to_string(),
                            serde_json::json!({ "tags": after.tags }).to_string(),
                        ),
                        _ => (state_json(before), state_json(&after)),
                    };
                    rows.push("(?, ?, ?, ?, ?, ?)");
                    values.extend([
                        Value::Int(before.id),
                        Value::Int(now),
                        Value::from(actor),
                        Value::from(kind),
                        Value::from(was.clone()),
                        Value::from(is.clone()),
                    ]);
                    tx.changed(Change {
                        object: "alert",
                        id: before.id.to_string(),
                        kind: kind.to_string(),
                        at: now,
                        before: Some(was),
                        after: Some(is),
                    });
                    outcome.changed.push(after);
                }
                tx.execute(
                    &format!(
                        "INSERT INTO alert_events (alert_id, at, actor, kind, before, after) VALUES {}",
                        rows.join(", ")
                    ),
                    &values,
                )?;
            }
            Ok(outcome)
        })
    }

    /// One change to one alert: checked against its current state, applied and logged together.
    fn change_alert(
        &mut self,
        id: i64,
        actor: &str,
        now: i64,
        kind: &str,
        mut change: impl FnMut(&AlertRecord) -> Result<(&'static str, Vec<Value>), StoreError>,
    ) -> Result<AlertRecord, StoreError> {
        self.transaction(true, |tx| {
            let before = fetch(tx, id)?;
            let (set, mut params) = change(&before)?;
            params.push(Value::Int(now));
            params.push(Value::Int(id));
            tx.execute(
                &format!("UPDATE alerts SET {set}, updated_at = ? WHERE id = ?"),
                &params,
            )?;
            let after = fetch(tx, id)?;
            log(
                tx,
                id,
                actor,
                now,
                kind,
                Some(state_json(&before)),
                Some(state_json(&after)),
            )?;
            Ok(after)
        })
    }
}

fn record_one(
    tx: &mut dyn Tx,
    alert: &NewAlert,
    actor: &str,
    now: i64,
    entities: &mut Entities,
) -> Result<Recorded, StoreError> {
    let fingerprint = fingerprint(alert);
    if let Some(row) = tx.query_one(
        "SELECT alert_id FROM alert_fingerprints WHERE fingerprint = ?",
        &[Value::from(fingerprint.as_str())],
    )? {
        return Ok(Recorded::Duplicate(row.int(0)?));
    }
    let open = if alert.dedupe_window > 0 {
        tx.query_one(
            "SELECT id, last_seen, event_count FROM alerts
             WHERE rule_id = ? AND group_key = ? AND status <> 'closed'
               AND last_seen >= ? AND first_seen <= ?
             ORDER BY last_seen DESC LIMIT 1",
            &[
                Value::from(alert.rule_id.as_str()),
                Value::from(alert.group_key.as_str()),
                Value::Int(alert.first_seen.saturating_sub(alert.dedupe_window)),
                Value::Int(alert.last_seen.saturating_add(alert.dedupe_window)),
            ],
        )?
    } else {
        None
    };
    let count = i64::try_from(alert.event_count).unwrap_or(i64::MAX);
    let recorded = match open {
        Some(row) => {
            let id = row.int(0)?;
            let (last, events) = (row.int(1)?, row.int(2)?);
            let (new_last, new_count) =
                secops_alert::fold((last, events), (alert.last_seen, count));
            tx.execute(
                "UPDATE alerts SET last_seen = ?, event_count = ?, updated_at = ? WHERE id = ?",
                &[
                    Value::Int(new_last),
                    Value::Int(new_count),
                    Value::Int(now),
                    Value::Int(id),
                ],
            )?;
            log(
                tx,
                id,
                actor,
                now,
                "merged",
                Some(format!("{{\"last_seen\":{last},\"event_count\":{events}}}")),
                Some(format!(
                    "{{\"last_seen\":{new_last},\"event_count\":{new_count}}}"
                )),
            )?;
            Recorded::Merged(id)
        }
        None => {
            let row = tx
                .query_one(
                    "INSERT INTO alerts (rule_id, rule_name, rule_version, severity, risk_score, group_key,
                        first_seen, last_seen, event_count, status, created_at, updated_at, document)
                     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'open', ?, ?, ?) RETURNING id",
                    &[
                        Value::from(alert.rule_id.as_str()),
                        Value::from(alert.rule_name.as_str()),
                        Value::Int(alert.rule_version.into()),
                        Value::from(alert.severity.as_str()),
                        Value::Int(alert.risk_score.into()),
                        Value::from(alert.group_key.as_str()),
                        Value::Int(alert.first_seen),
                        Value::Int(alert.last_seen),
                        Value::Int(count),
                        Value::Int(now),
                        Value::Int(now),
                        Value::from(alert.document.as_str()),
                    ],
                )?
                .ok_or_else(|| StoreError::Database("INSERT returned no id".into()))?;
            let id = row.int(0)?;
            entities.add(id, &alert.document);
            log(tx, id, actor, now, "created", None, None)?;
            Recorded::Inserted(id)
        }
    };
    let id = match recorded {
        Recorded::Inserted(id) | Recorded::Merged(id) | Recorded::Duplicate(id) => id,
    };
    tx.execute(
        "INSERT INTO alert_fingerprints (fingerprint, alert_id) VALUES (?, ?)",
        &[Value::from(fingerprint), Value::Int(id)],
    )?;
    Ok(recorded)
}

/// Rule, group and first event time identify an alert across runs.
fn fingerprint(alert: &NewAlert) -> String {
    let mut hash = Sha256::new();
    hash.update(alert.rule_id.as_bytes());
    hash.update([0]);
    hash.update(alert.group_key.as_bytes());
    hash.update([0]);
    hash.update(alert.first_seen.to_be_bytes());
    hash.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

fn fetch(tx: &mut dyn Tx, id: i64) -> Result<AlertRecord, StoreError> {
    let row = tx
        .query_one(
            &format!("SELECT {COLUMNS} FROM alerts WHERE id = ?"),
            &[Value::Int(id)],
        )?
        .ok_or_else(|| StoreError::NotFound {
            what: "alert",
            id: id.to_string(),
        })?;
    alerts_of(tx, &[row])?
        .pop()
        .ok_or_else(|| StoreError::Database("an alert read as nothing".into()))
}

/// The one row `sql` selects by `key`, read by `read`; `NotFound` naming `what` when there is none.
/// The conditions of a filter (all but its limit) after a `WHERE`, over the `alerts` table's own
/// column names.
fn conditions(filter: &AlertFilter, sql: &mut String, params: &mut Vec<Value>) {
    if let Some(status) = filter.status {
        sql.push_str(" AND status = ?");
        params.push(Value::from(status.as_str()));
    }
    if let Some(rule) = &filter.rule {
        sql.push_str(" AND (rule_id = ? OR rule_name = ?)");
        params.push(Value::from(rule.as_str()));
        params.push(Value::from(rule.as_str()));
    }
    if let Some(since) = filter.since {
        sql.push_str(" AND last_seen >= ?");
        params.push(Value::Int(since));
    }
    if let Some(after) = filter.after {
        // A row comparison: both databases read it as a range of the (…, last_seen, id)
        // indexes, so a deep page starts where the last ended instead of counting up to it.
        sql.push_str(" AND (last_seen, id) < (?, ?)");
        params.extend([Value::Int(after.last_seen), Value::Int(after.id)]);
    }
    if let Some(severity) = &filter.severity {
        sql.push_str(" AND severity = ?");
        params.push(Value::from(severity.as_str()));
    }
    match filter.assignee.as_deref() {
        Some("") => sql.push_str(" AND assignee IS NULL"),
        Some(user) => {
            sql.push_str(" AND assignee = ?");
            params.push(Value::from(user));
        }
        None => {}
    }
    if let Some(tag) = &filter.tag {
        sql.push_str(" AND id IN (SELECT alert_id FROM alert_tags WHERE tag = ?)");
        params.push(Value::from(tag.as_str()));
    }
    if let Some((kind, value)) = &filter.entity {
        sql.push_str(
            " AND id IN (SELECT alert_id FROM alert_entities WHERE kind = ? AND value = ?)",
        );
        params.push(Value::from(kind.as_str()));
        params.push(Value::from(value.as_str()));
    }
    if !filter.ids.is_empty() {
        sql.push_str(" AND id IN (");
        sql.push_str(&vec!["?"; filter.ids.len()].join(", "));
        sql.push(')');
        params.extend(filter.ids.iter().map(|&id| Value::Int(id)));
    }
}

/// A field alerts are grouped by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlertField {
    Rule,
    Severity,
    Status,
    Assignee,
    Tag,
    Host,
    User,
    Ip,
}

/// Alerts sharing values of the fields grouped by (`None`: the alert has none).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertGroup {
    pub values: Vec<Option<String>>,
    pub alerts: i64,
}

impl Store {
    /// The alerts matching `filter` grouped by up to three fields, biggest group first, at most
    /// `limit` groups. An alert with several values of a field (tags, hosts) counts in each of
    /// their groups; one with none counts in the group of no value.
    pub fn alert_groups(
        &mut self,
        filter: &AlertFilter,
        by: &[AlertField],
        limit: u32,
    ) -> Result<Vec<AlertGroup>, StoreError> {
        if by.is_empty() || by.len() > 3 {
            return Err(StoreError::Invalid(
                "alerts are grouped by one to three fields".into(),
            ));
        }
        let mut joins = String::new();
        let mut columns: Vec<String> = Vec::new();
        for (i, field) in by.iter().enumerate() {
            // Kinds are the enum's own words, never the caller's text.
            let entity = |kind: &str, joins: &mut String| {
                joins.push_str(&format!(
                    " LEFT JOIN alert_entities g{i} ON g{i}.alert_id = alerts.id AND g{i}.kind = '{kind}'"
                ));
                format!("g{i}.value")
            };
            columns.push(match field {
                AlertField::Rule => "alerts.rule_name".into(),
                AlertField::Severity => "alerts.severity".into(),
                AlertField::Status => "alerts.status".into(),
                AlertField::Assignee => "alerts.assignee".into(),
                AlertField::Tag => {
                    joins.push_str(&format!(
                        " LEFT JOIN alert_tags g{i} ON g{i}.alert_id = alerts.id"
                    ));
                    format!("g{i}.tag")
                }
                AlertField::Host => entity("host", &mut joins),
                AlertField::User => entity("user", &mut joins),
                AlertField::Ip => entity("ip", &mut joins),
            });
        }
        let list = columns.join(", ");
        let order = columns
            .iter()
            .map(|c| format!("({c} IS NULL), {c}"))
            .collect::<Vec<_>>()
            .join(", ");
        // An alert is one row unless a join gives it several (tags, entities): then it is counted
        // once per group, by its id.
        let count = if joins.is_empty() {
            "COUNT(*)"
        } else {
            "COUNT(DISTINCT alerts.id)"
        };
        let mut sql = format!("SELECT {list}, {count} AS n FROM alerts{joins} WHERE 1 = 1");
        let mut params = Vec::new();
        conditions(filter, &mut sql, &mut params);
        sql.push_str(&format!(
            " GROUP BY {list} ORDER BY n DESC, {order} LIMIT ?"
        ));
        params.push(Value::Int(limit.into()));
        let width = by.len();
        self.transaction(false, |tx| {
            tx.query(&sql, &params)?
                .iter()
                .map(|row| {
                    Ok(AlertGroup {
                        values: (0..width)
                            .map(|i| row.opt_text(i))
                            .collect::<Result<_, _>>()?,
                        alerts: row.int(width)?,
                    })
                })
                .collect()
        })
    }
}

/// Alerts of one rule that began in one period.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VolumeCount {
    pub rule_id: String,
    pub rule_name: String,
    /// The period's start (UTC nanoseconds, a multiple of the period's length).
    pub start: i64,
    pub alerts: i64,
}

impl Store {
    /// Alerts counted per rule and per period of `bucket` nanoseconds, by when they began (first
    /// seen), from `since` up to (not including) `until`; by period, then rule.
    pub fn alert_volume(
        &mut self,
        since: i64,
        until: i64,
        bucket: i64,
    ) -> Result<Vec<VolumeCount>, StoreError> {
        if bucket <= 0 {
            return Err(StoreError::Invalid(
                "a period must be longer than zero".into(),
            ));
        }
        self.transaction(false, |tx| {
            // Periods start at multiples of the length (floor division of times before 1970 too).
            tx.query(
                "SELECT rule_id, MAX(rule_name), start, COUNT(*) FROM (
                     SELECT rule_id, rule_name,
                         (first_seen - ((first_seen % ?) + ?) % ?) AS start
                     FROM alerts WHERE first_seen >= ? AND first_seen < ?
                 ) AS periods GROUP BY start, rule_id ORDER BY start, rule_id",
                &[
                    Value::Int(bucket),
                    Value::Int(bucket),
                    Value::Int(bucket),
                    Value::Int(since),
                    Value::Int(until),
                ],
            )?
            .iter()
            .map(|row| {
                Ok(VolumeCount {
                    rule_id: row.text(0)?,
                    rule_name: row.text(1)?,
                    start: row.int(2)?,
                    alerts: row.int(3)?,
                })
            })
            .collect()
        })
    }
}

pub(crate) fn fetch_one<T>(
    tx: &mut dyn Tx,
    sql: &str,
    key: i64,
    what: &'static str,
    read: fn(&Row) -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    let row = tx
        .query_one(sql, &[Value::Int(key)])?
        .ok_or(StoreError::NotFound {
            what,
            id: key.to_string(),
        })?;
    read(&row)
}

fn alert_of(row: &Row) -> Result<AlertRecord, StoreError> {
    let status = row.text(10)?;
    Ok(AlertRecord {
        id: row.int(0)?,
        rule_id: row.text(1)?,
        rule_name: row.text(2)?,
        rule_version: u32::try_from(row.int(3)?).unwrap_or(u32::MAX),
        severity: row.text(4)?,
        risk_score: u8::try_from(row.int(5)?).unwrap_or(u8::MAX),
        group_key: row.text(6)?,
        first_seen: row.int(7)?,
        last_seen: row.int(8)?,
        event_count: u64::try_from(row.int(9)?).unwrap_or(0),
        status: AlertStatus::parse(&status)
            .ok_or_else(|| StoreError::Corrupt(format!("alert status {status:?}")))?,
        resolution: row.opt_text(11)?,
        case_id: row.opt_int(12)?,
        created_at: row.int(13)?,
        updated_at: row.int(14)?,
        document: row.text(15)?,
        assignee: row.opt_text(16)?,
        tags: Vec::new(),
    })
}

/// Reads the rows into alerts with their tags (one more query for all of them).
fn alerts_of(tx: &mut dyn Tx, rows: &[Row]) -> Result<Vec<AlertRecord>, StoreError> {
    let mut alerts: Vec<AlertRecord> = rows.iter().map(alert_of).collect::<Result<_, _>>()?;
    for chunk in alerts.chunks_mut(500) {
        let marks = vec!["?"; chunk.len()].join(", ");
        let ids: Vec<Value> = chunk.iter().map(|a| Value::Int(a.id)).collect();
        for row in tx.query(
            &format!(
                "SELECT alert_id, tag FROM alert_tags WHERE alert_id IN ({marks}) ORDER BY tag"
            ),
            &ids,
        )? {
            let id = row.int(0)?;
            if let Some(alert) = chunk.iter_mut().find(|a| a.id == id) {
                alert.tags.push(row.text(1)?);
            }
        }
    }
    Ok(alerts)
}

/// Entities of alerts to keep, written in multi-row statements.
#[derive(Default)]
struct Entities(Vec<Value>);

impl Entities {
    /// Rows per statement (three parameters each, well under either database's limit).
    const ROWS: usize = 300;

    /// The entities an alert's document names; a document that is not an alert document names
    /// none (it is kept as it is).
    fn add(&mut self, id: i64, document: &str) {
        let Ok(doc) = secops_alert::AlertDocument::parse(document) else {
            return;
        };
        for (kind, value) in doc.entities() {
            self.0
                .extend([Value::Int(id), Value::from(kind), Value::from(value)]);
        }
    }

    /// Writes them (any already kept stay).
    fn write(self, tx: &mut dyn Tx) -> Result<(), StoreError> {
        for chunk in self.0.chunks(3 * Self::ROWS) {
            tx.execute(
                &format!(
                    "INSERT INTO alert_entities (alert_id, kind, value) VALUES {} ON CONFLICT DO NOTHING",
                    vec!["(?, ?, ?)"; chunk.len() / 3].join(", ")
                ),
                chunk,
            )?;
        }
        Ok(())
    }
}

/// Keeps the entities an alert's document names (any already kept stay).
fn keep_entities(tx: &mut dyn Tx, id: i64, document: &str) -> Result<(), StoreError> {
    let mut entities = Entities::default();
    entities.add(id, document);
    entities.write(tx)
}

/// Reads the entities of every alert recorded before alerts kept them (migration 13).
pub(crate) fn backfill_entities(tx: &mut dyn Tx) -> Result<(), StoreError> {
    let mut after = 0;
    loop {
        let rows = tx.query(
            "SELECT id, document FROM alerts WHERE id > ? ORDER BY id LIMIT 1000",
            &[Value::Int(after)],
        )?;
        let Some(last) = rows.last() else {
            return Ok(());
        };
        after = last.int(0)?;
        let mut entities = Entities::default();
        for row in &rows {
            entities.add(row.int(0)?, &row.text(1)?);
        }
        entities.write(tx)?;
    }
}

/// The parts of an alert people change, as JSON for the event log.
fn state_json(alert: &AlertRecord) -> String {
    let mut state = serde_json::json!({
        "status": alert.status.as_str(),
        "resolution": alert.resolution,
        "case_id": alert.case_id,
    });
    if let (Some(user), Some(map)) = (&alert.assignee, state.as_object_mut()) {
        map.insert("assignee".into(), user.as_str().into());
    }
    state.to_string()
}

/// Tags one change may add and remove.
pub const MAX_TAG_CHANGES: usize = 16;

/// A tag as kept: 1 to 64 characters, none of them control characters.
pub fn check_tag(tag: &str) -> Result<(), StoreError> {
    if tag.is_empty() || tag.chars().count() > 64 || tag.chars().any(char::is_control) {
        return Err(StoreError::Invalid(format!(
            "tag {tag:?}: 1 to 64 characters, none of them control characters"
        )));
    }
    Ok(())
}

fn log(
    tx: &mut dyn Tx,
    id: i64,
    actor: &str,
    now: i64,
    kind: &str,
    before: Option<String>,
    after: Option<String>,
) -> Result<(), StoreError> {
    append_event(tx, EventLog::Alert, id, actor, now, kind, before, after)
}

/// Why an alert cannot take a bulk change, if it cannot.
fn bulk_refusal(change: BulkChange<'_>, alert: &AlertRecord) -> Option<String> {
    let id = alert.id;
    match (change, alert.status) {
        (BulkChange::Acknowledge, AlertStatus::Open) => None,
        (BulkChange::Acknowledge, other) => Some(format!(
            "alert {id} is {}: only open alerts can be acknowledged",
            other.as_str()
        )),
        (BulkChange::Close { .. }, AlertStatus::Closed) => {
            Some(format!("alert {id} is closed already"))
        }
        (BulkChange::Assign { .. }, AlertStatus::Closed) => Some(format!(
            "alert {id} is closed: reopen work in a case instead"
        )),
        (BulkChange::Assign { assignee }, _) if alert.assignee.as_deref() == assignee => {
            Some(format!("alert {id} is assigned so already"))
        }
        _ => None,
    }
}

/// An alert as a bulk change leaves it.
fn changed(before: &AlertRecord, change: BulkChange<'_>, now: i64) -> AlertRecord {
    let mut after = before.clone();
    after.updated_at = now;
    match change {
        BulkChange::Acknowledge => after.status = AlertStatus::Acknowledged,
        BulkChange::Close { resolution } => {
            after.status = AlertStatus::Closed;
            after.resolution = Some(resolution.to_string());
        }
        BulkChange::Assign { assignee } => after.assignee = assignee.map(str::to_string),
        BulkChange::Tag { add, remove } => {
            after.tags.extend(add.iter().cloned());
            after.tags.retain(|t| !remove.contains(t));
            after.tags.sort();
            after.tags.dedup();
        }
    }
    after
}

/// Adds and removes tags on alerts.
fn retag(
    tx: &mut dyn Tx,
    ids: &[Value],
    add: &[String],
    remove: &[String],
) -> Result<(), StoreError> {
    if !remove.is_empty() {
        let mut params = ids.to_vec();
        params.extend(remove.iter().map(|t| Value::from(t.as_str())));
        tx.execute(
            &format!(
                "DELETE FROM alert_tags WHERE alert_id IN ({}) AND tag IN ({})",
                vec!["?"; ids.len()].join(", "),
                vec!["?"; remove.len()].join(", ")
            ),
            &params,
        )?;
    }
    let add: Vec<&String> = add.iter().filter(|t| !remove.contains(t)).collect();
    if !add.is_empty() {
        let mut params = Vec::with_capacity(ids.len() * add.len() * 2);
        for id in ids {
            for tag in &add {
                params.push(id.clone());
                params.push(Value::from(tag.as_str()));
            }
        }
        tx.execute(
            &format!(
                "INSERT INTO alert_tags (alert_id, tag) VALUES {} ON CONFLICT DO NOTHING",
                vec!["(?, ?)"; ids.len() * add.len()].join(", ")
            ),
            &params,
        )?;
    }
    Ok(())
}

/// A change made to many alerts at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BulkChange<'a> {
    Acknowledge,
    Close {
        resolution: &'a str,
    },
    /// To a user, or (`None`) to no one.
    Assign {
        assignee: Option<&'a str>,
    },
    Tag {
        add: &'a [String],
        remove: &'a [String],
    },
}

/// What a bulk change did: the alerts changed (as they are now) and those refused, with why.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BulkChanged {
    pub changed: Vec<AlertRecord>,
    pub refused: Vec<(i64, String)>,
}

/// The two append-only event logs.
#[derive(Debug, Clone, Copy)]
pub(crate) enum EventLog {
    Alert,
    Case,
}

/// Appends a line to an alert's or a case's event log.
#[allow(clippy::too_many_arguments)]
pub(crate) fn append_event(
    tx: &mut dyn Tx,
    log: EventLog,
    owner: i64,
    actor: &str,
    now: i64,
    kind: &str,
    before: Option<String>,
    after: Option<String>,
) -> Result<(), StoreError> {
    // Fixed table names: nothing from outside reaches the statement text.
    let sql = match log {
        EventLog::Alert => {
            "INSERT INTO alert_events (alert_id, at, actor, kind, before, after) VALUES (?, ?, ?, ?, ?, ?)"
        }
        EventLog::Case => {
            "INSERT INTO case_events (case_id, at, actor, kind, before, after) VALUES (?, ?, ?, ?, ?, ?)"
        }
    };
    // The audit record's copies, only when there is one to write.
    let recording = tx.recording();
    let noted = recording.then(|| (before.clone(), after.clone()));
    tx.execute(
        sql,
        &[
            Value::Int(owner),
            Value::Int(now),
            Value::from(actor),
            Value::from(kind),
            Value::from(before),
            Value::from(after),
        ],
    )?;
    let Some((before, after)) = noted else {
        return Ok(());
    };
    let (object, id) = match log {
        EventLog::Alert => ("alert", owner.to_string()),
        // A case is named by the number people know it by.
        EventLog::Case => (
            "case",
            tx.query_one(
                "SELECT number FROM cases WHERE id = ?",
                &[Value::Int(owner)],
            )?
            .map(|row| row.int(0))
            .transpose()?
            .unwrap_or(owner)
            .to_string(),
        ),
    };
    tx.changed(Change {
        object,
        id,
        kind: kind.to_string(),
        at: now,
        before,
        after,
    });
    Ok(())
}

pub(crate) fn event_line(row: &Row) -> Result<EventLine, StoreError> {
    Ok(EventLine {
        at: row.int(0)?,
        actor: row.text(1)?,
        kind: row.text(2)?,
        before: row.opt_text(3)?,
        after: row.opt_text(4)?,
    })
}

/// [`Store::fold_into_alerts`] inside a transaction.
pub(crate) fn fold_in(
    tx: &mut dyn Tx,
    folds: &[AlertFold],
    actor: &str,
    now: i64,
) -> Result<(), StoreError> {
    for fold in folds {
        let before = fetch(tx, fold.id)?;
        let count = i64::try_from(fold.events).unwrap_or(i64::MAX);
        let (last, events) = secops_alert::fold(
            (
                before.last_seen,
                i64::try_from(before.event_count).unwrap_or(i64::MAX),
            ),
            (fold.last_seen, count),
        );
        let mut params = vec![Value::Int(last), Value::Int(events), Value::Int(now)];
        let set_document = match &fold.document {
            Some(document) => {
                params.push(Value::from(document.as_str()));
                keep_entities(tx, fold.id, document)?;
                ", document = ?"
            }
            None => "",
        };
        params.push(Value::Int(fold.id));
        tx.execute(
                &format!(
                    "UPDATE alerts SET last_seen = ?, event_count = ?, updated_at = ?{set_document} WHERE id = ?"
                ),
                &params,
            )?;
        log(
            tx,
            fold.id,
            actor,
            now,
            "merged",
            Some(format!(
                "{{\"last_seen\":{},\"event_count\":{}}}",
                before.last_seen, before.event_count
            )),
            Some(format!("{{\"last_seen\":{last},\"event_count\":{events}}}")),
        )?;
    }
    Ok(())
}

/// [`Store::record_alerts`] inside a transaction.
pub(crate) fn record_in(
    tx: &mut dyn Tx,
    alerts: &[NewAlert],
    actor: &str,
    now: i64,
) -> Result<Vec<Recorded>, StoreError> {
    // The entities of the new alerts are written together at the end: one statement per few hundred
    // alerts rather than one each (a network round trip each on PostgreSQL).
    let mut entities = Entities::default();
    let recorded = alerts
        .iter()
        .map(|alert| record_one(tx, alert, actor, now, &mut entities))
        .collect::<Result<Vec<_>, _>>()?;
    entities.write(tx)?;
    Ok(recorded)
}
