//! Which store a command uses (`--db FILE`, `--database-url URL`, or the default `secops.db`), who the
//! user is, and alerts as the store records them.

use std::collections::HashMap;
use std::path::PathBuf;

use anyhow::Context;
use secops_detect::Alert;
use secops_rules::CheckedRule;
use secops_store::{NewAlert, Store};

use crate::alerts_out::to_json;

/// The store options shared by `detect`, `alerts`, `case` and `rules stats`.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct StoreArgs {
    /// The SQLite store file, created on first use (default: $SECOPS_DB, else secops.db here).
    #[arg(long = "db", conflicts_with = "database_url", global = true)]
    pub db: Option<PathBuf>,
    /// A PostgreSQL store instead: postgres://user@host:port/database, optionally ending in
    /// ?schema=NAME (default schema: secops). Also $SECOPS_DATABASE_URL.
    #[arg(long = "database-url", global = true)]
    pub database_url: Option<String>,
}

impl StoreArgs {
    /// Opens (and migrates) the store.
    pub fn open(&self) -> anyhow::Result<Store> {
        let target = match (&self.database_url, &self.db) {
            (Some(url), _) => url.clone(),
            (None, Some(path)) => path.display().to_string(),
            (None, None) => std::env::var("SECOPS_DATABASE_URL")
                .or_else(|_| std::env::var("SECOPS_DB"))
                .unwrap_or_else(|_| "secops.db".into()),
        };
        Store::open(&target).context("opening the store")
    }
}

/// The person acting: `--as`, else $SECOPS_USER, else $USER.
pub fn actor(given: Option<&str>) -> String {
    given
        .map(str::to_string)
        .or_else(|| std::env::var("SECOPS_USER").ok())
        .or_else(|| std::env::var("USER").ok())
        .filter(|s| !s.trim().is_empty())
        .unwrap_or_else(|| "cli".into())
}

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
/// (rule, group, first event time). Alerts without group-by fields are grouped by the rule's
/// suppression fields when it has them, else each stands alone (by its id: rule, time and the first
/// event's file and line).
pub fn new_alert(alert: &Alert, suppressions: &HashMap<String, Suppression>) -> NewAlert {
    let rule = &alert.rule;
    let suppression = suppressions.get(&rule.id);
    let pairs: Vec<(String, String)> =
        match (alert.group.is_empty(), suppression, alert.events.first()) {
            (false, ..) => alert.group.clone(),
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
    let group_key = if pairs.is_empty() {
        alert.id.clone()
    } else {
        pairs
            .iter()
            .map(|(f, v)| format!("{f}={v}"))
            .collect::<Vec<_>>()
            .join(" ")
    };
    NewAlert {
        rule_id: rule.id.clone(),
        rule_name: rule.name.clone(),
        rule_version: rule.version,
        severity: format!("{:?}", rule.severity).to_lowercase(),
        risk_score: rule.risk_score,
        group_key,
        first_seen: alert.first.unix_nanos(),
        last_seen: alert.last_seen.unix_nanos(),
        event_count: alert.count + alert.suppressed_count,
        dedupe_window: suppression.map_or(0, |s| s.window),
        document: to_json(alert).to_string(),
    }
}
