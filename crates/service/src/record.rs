//! Alerts into the store: each alert's identity across runs (rule, group, first event) and its rule's
//! suppression window, within which a repeat folds into the stored alert.

use std::collections::HashMap;

use secops_detect::Alert;
use secops_rules::CheckedRule;
use secops_store::{NewAlert, Recorded, Store};

use crate::{Actor, ServiceError};

/// A native rule's alert suppression: the window within which repeats fold into one stored alert,
/// and the fields whose values make a repeat.
#[derive(Debug, Clone)]
pub struct Suppression {
    window: i64,
    fields: Vec<String>,
}

/// The suppression of each native rule that has one, by rule id.
pub fn suppressions(rules: &[CheckedRule]) -> HashMap<String, Suppression> {
    rules
        .iter()
        .filter_map(|rule| {
            let s = rule.file.rule.alert_suppression.as_ref()?;
            let window = i64::try_from(s.duration.seconds()?)
                .ok()?
                .checked_mul(1_000_000_000)?;
            let suppression = Suppression {
                window,
                fields: s.group_by.clone(),
            };
            Some((rule.file.rule.id.clone(), suppression))
        })
        .collect()
}

/// An alert as the store records it: the whole alert document, and what identifies it across runs
/// (rule, group, first event time). Alerts without group-by fields are grouped by the entity they
/// aggregate by, else the rule's suppression fields when it has them, else each stands alone (by its
/// id: rule, time and the first event's file and line); the window a repeat folds within is the
/// alert's aggregation window, else the rule's suppression's.
pub fn new_alert(alert: &Alert, suppressions: &HashMap<String, Suppression>) -> NewAlert {
    let rule = &alert.rule;
    let suppression = suppressions.get(&rule.id);
    let pairs: Vec<(String, String)> =
        match (alert.group.is_empty(), suppression, alert.events.first()) {
            (false, ..) => alert.group.clone(),
            // aggregated: by the entity it folds repeats by
            (true, ..) if alert.window.is_some() => alert.entity.clone(),
            (true, Some(s), Some(event)) => s
                .fields
                .iter()
                .map(|f| {
                    (
                        f.clone(),
                        event.get(f).map(|v| v.to_string()).unwrap_or_default(),
                    )
                })
                .collect(),
            _ => Vec::new(),
        };
    let group_key = secops_alert::group_key(&pairs, &alert.id);
    NewAlert {
        rule_id: rule.id.clone(),
        rule_name: rule.name.clone(),
        rule_version: rule.version,
        severity: rule.severity.as_str().to_string(),
        risk_score: rule.risk_score,
        group_key,
        first_seen: alert.first.unix_nanos(),
        last_seen: alert.last_seen.unix_nanos(),
        event_count: alert.count + alert.suppressed_count,
        dedupe_window: alert.window.or(suppression.map(|s| s.window)).unwrap_or(0),
        document: alert.document().to_line(),
    }
}

/// What became of recorded alerts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RecordSummary {
    /// New stored alerts.
    pub inserted: usize,
    /// Repeats folded into an open alert within its rule's suppression window.
    pub merged: usize,
    /// Alerts the store already had (the same logs read again).
    pub known: usize,
}

impl RecordSummary {
    pub fn total(&self) -> usize {
        self.inserted + self.merged + self.known
    }
}

/// Records `alerts` in one transaction, under the actor's name, at `now` (UTC nanoseconds).
pub fn record(
    store: &mut Store,
    alerts: &[Alert],
    suppressions: &HashMap<String, Suppression>,
    actor: &Actor,
    now: i64,
) -> Result<RecordSummary, ServiceError> {
    record_each(store, alerts, suppressions, actor, now).map(|(summary, _)| summary)
}

/// [`record`], also saying what became of each alert, in order.
pub fn record_each(
    store: &mut Store,
    alerts: &[Alert],
    suppressions: &HashMap<String, Suppression>,
    actor: &Actor,
    now: i64,
) -> Result<(RecordSummary, Vec<Recorded>), ServiceError> {
    let mut new: Vec<NewAlert> = alerts.iter().map(|a| new_alert(a, suppressions)).collect();
    crate::vulns::add_exposure(store, new.iter_mut().map(|a| &mut a.document))?;
    let mut summary = RecordSummary::default();
    let results = store.record_alerts(&new, &actor.name, now)?;
    for r in &results {
        match r {
            Recorded::Inserted(_) => summary.inserted += 1,
            Recorded::Merged(_) => summary.merged += 1,
            Recorded::Duplicate(_) => summary.known += 1,
        }
    }
    Ok((summary, results))
}
