//! Tuning statistics over alerts already raised (`rules stats`): alerts per rule over time, the
//! noisiest rules, exceptions worth proposing (an entity value behind most of a rule's alerts, in a
//! field the rule does not fix itself), and the rules that never fired.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use secops_alert::AlertDocument;
use secops_detect::LogSourceFilter;
use secops_event::Timestamp;
use secops_rules::CheckedRule;

use crate::validate::condition_fields;

/// Fields that describe what happened rather than who or where: never proposed as exceptions.
const DESCRIPTIVE: &[&str] = &["@timestamp", "message", "tags", "labels"];
const DESCRIPTIVE_PREFIXES: &[&str] = &[
    "event.",
    "log.",
    "ecs.",
    "agent.",
    "winlog.",
    "Event.",
    "rule.",
    "alert.",
    "threat.",
    "threshold.",
];

/// One alert as tuning reads it.
#[derive(Debug, Clone)]
pub struct AlertSample {
    pub rule_id: String,
    pub rule_name: String,
    pub time: Option<Timestamp>,
    /// Text fields of the alert and its first event, for exception suggestions.
    pub fields: Vec<(String, String)>,
}

/// Why a document is not an alert.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotAnAlert {
    #[error("{0}")]
    Json(String),
    #[error("no rule.id")]
    NoRule,
}

impl AlertSample {
    /// Reads an alert document (a line of `secops detect --output jsonl`, or a stored alert's).
    pub fn from_document(text: &str) -> Result<AlertSample, NotAnAlert> {
        let doc = AlertDocument::parse(text).map_err(|e| {
            if e.to_string().contains("rule.id") {
                NotAnAlert::NoRule
            } else {
                NotAnAlert::Json(e.to_string())
            }
        })?;
        // The text and number fields of the group and of the first event, in their order.
        let mut fields = Vec::new();
        for object in doc.objects().take(2) {
            for (key, value) in object {
                let descriptive = DESCRIPTIVE.contains(&key.as_str())
                    || DESCRIPTIVE_PREFIXES.iter().any(|p| key.starts_with(p));
                let text = match value {
                    serde_json::Value::String(s) => s.clone(),
                    serde_json::Value::Number(n) => n.to_string(),
                    _ => continue,
                };
                if !descriptive {
                    fields.push((key.clone(), text));
                }
            }
        }
        Ok(AlertSample {
            time: Timestamp::parse_rfc3339(&doc.timestamp).ok(),
            rule_name: if doc.rule_name.is_empty() {
                doc.rule_id.clone()
            } else {
                doc.rule_name
            },
            rule_id: doc.rule_id,
            fields,
        })
    }
}

/// How to summarize.
#[derive(Debug, Clone, Copy)]
pub struct TuningOptions {
    /// Columns of each rule's alerts-over-time histogram.
    pub buckets: usize,
    /// Rules to look at for suggestions (the noisiest first).
    pub top: usize,
    /// Suggest exceptions only for rules with at least this many alerts.
    pub min_alerts: usize,
}

/// One rule's alerts.
#[derive(Debug, Clone)]
pub struct RuleVolume {
    pub rule_id: String,
    pub rule_name: String,
    pub alerts: usize,
    /// Alerts per equal slice of the period, oldest first.
    pub over_time: Vec<usize>,
}

/// A value behind most of a rule's alerts: an exception to consider.
#[derive(Debug, Clone)]
pub struct Suggestion {
    pub rule_id: String,
    pub rule_name: String,
    pub alerts: usize,
    /// Up to three (field, value, alerts carrying it), most alerts first.
    pub candidates: Vec<(String, String, usize)>,
}

/// What the alerts say about the rules.
#[derive(Debug, Clone)]
pub struct Tuning {
    pub alerts: usize,
    pub start: Timestamp,
    pub end: Timestamp,
    /// Noisiest first (ties by rule id).
    pub rules: Vec<RuleVolume>,
    pub suggestions: Vec<Suggestion>,
    /// Loaded rules without an alert: (name, id), by name.
    pub silent: Vec<(String, String)>,
}

/// A loaded rule, as tuning needs it: its id, name, and (native rules) the rule itself, whose
/// condition and log source fix some fields.
#[derive(Debug, Clone, Copy)]
pub struct KnownRule<'a> {
    pub id: &'a str,
    pub name: &'a str,
    pub rule: Option<&'a CheckedRule>,
}

/// Summarizes `alerts`; `None` when no alert has a time.
pub fn summarize(
    alerts: &[AlertSample],
    known: &[KnownRule<'_>],
    options: &TuningOptions,
) -> Option<Tuning> {
    let times = alerts.iter().filter_map(|a| a.time);
    let (start, end) = (times.clone().min()?, times.max()?);
    let mut by_rule: BTreeMap<&str, Vec<&AlertSample>> = BTreeMap::new();
    for alert in alerts {
        by_rule.entry(&alert.rule_id).or_default().push(alert);
    }
    let mut rows: Vec<(&str, Vec<&AlertSample>)> = by_rule.into_iter().collect();
    rows.sort_by(|a, b| b.1.len().cmp(&a.1.len()).then_with(|| a.0.cmp(b.0)));
    let span = (end.unix_nanos() - start.unix_nanos()).max(1);
    let buckets = options.buckets.max(1);
    let rules = rows
        .iter()
        .map(|(id, list)| {
            let mut over_time = vec![0usize; buckets];
            for t in list.iter().filter_map(|a| a.time) {
                let at = (t.unix_nanos() - start.unix_nanos()) as f64 / span as f64;
                over_time[((at * buckets as f64) as usize).min(buckets - 1)] += 1;
            }
            RuleVolume {
                rule_id: id.to_string(),
                rule_name: list[0].rule_name.clone(),
                alerts: list.len(),
                over_time,
            }
        })
        .collect();
    let fixed: HashMap<&str, Vec<String>> = known
        .iter()
        .filter_map(|k| Some((k.id, fixed_fields(k.rule?))))
        .collect();
    let suggestions = rows
        .iter()
        .take(options.top)
        .filter(|(_, list)| list.len() >= options.min_alerts)
        .filter_map(|(id, list)| {
            suggest(
                id,
                list,
                fixed.get(id).map(Vec::as_slice).unwrap_or_default(),
            )
        })
        .collect();
    let fired: BTreeSet<&str> = rows.iter().map(|(id, _)| *id).collect();
    let mut silent: Vec<(String, String)> = known
        .iter()
        .filter(|k| !fired.contains(k.id))
        .map(|k| (k.name.to_string(), k.id.to_string()))
        .collect();
    silent.sort();
    Some(Tuning {
        alerts: alerts.len(),
        start,
        end,
        rules,
        suggestions,
        silent,
    })
}

/// The fields a rule's own condition or log source fixes (an SSH rule's process.name is sshd by
/// definition): proposing them as exceptions would switch the rule off.
fn fixed_fields(rule: &CheckedRule) -> Vec<String> {
    let mut fields = condition_fields(rule);
    let source = LogSourceFilter::new(&rule.file.rule.log_source);
    fields.extend(source.fields().into_iter().map(str::to_string));
    fields
}

/// The values behind more than half of a rule's alerts, in fields it does not fix.
fn suggest(id: &str, list: &[&AlertSample], fixed: &[String]) -> Option<Suggestion> {
    let mut counts: BTreeMap<(&str, &str), usize> = BTreeMap::new();
    for alert in list {
        let mut seen = BTreeSet::new();
        for (field, value) in alert.fields.iter().filter(|(f, _)| !fixed.contains(f)) {
            if seen.insert((field.as_str(), value.as_str())) {
                *counts.entry((field.as_str(), value.as_str())).or_default() += 1;
            }
        }
    }
    let mut top: Vec<((&str, &str), usize)> = counts
        .into_iter()
        .filter(|(_, n)| *n * 2 > list.len())
        .collect();
    top.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    if top.is_empty() {
        return None;
    }
    Some(Suggestion {
        rule_id: id.to_string(),
        rule_name: list[0].rule_name.clone(),
        alerts: list.len(),
        candidates: top
            .iter()
            .take(3)
            .map(|((f, v), n)| (f.to_string(), v.to_string(), *n))
            .collect(),
    })
}
