//! Tuning statistics over alerts already raised (`rules stats`): alerts per rule over time, the
//! noisiest rules, exceptions worth proposing (an entity value behind most of a rule's alerts, in a
//! field the rule does not fix itself), and the rules that never fired.
//!
//! An exception is safe on who or what acts (a scanner's address, a backup job's process), not on what
//! is acted on: the host a brute force hammers is behind all of its alerts, and excepting it would blind
//! the rule where it matters. Candidates are ranked by [`Role`], sources first, and a target is never
//! the one proposed; it is shown with a warning.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use secops_alert::AlertDocument;
use secops_detect::LogSourceFilter;
use secops_event::Timestamp;
use secops_rules::CheckedRule;

use crate::validate::condition_fields;

/// Fields that describe what happened rather than who or where: never proposed as exceptions.
const DESCRIPTIVE: &[&str] = &[
    "@timestamp",
    "message",
    "tags",
    "labels",
    "system.auth.ssh.event",
    "system.auth.ssh.method",
];
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
    /// The alert's id (`alert.id`; empty when the document has none). In a stream of alert documents a
    /// later one with the same id supersedes the earlier (an alert raised again when its suppression
    /// window closed).
    pub id: String,
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
            id: doc.id,
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

/// What an entity field says about the alert: who acts, or what is acted on (ECS's source/destination
/// and actor/target split).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    /// The acting side: a source address, a client, a user agent, the process that ran, a cloud caller.
    Source,
    /// Neither clearly (a user name, a file, a destination, which is the remote side of an outbound
    /// connection and the attacked side of an inbound one): a candidate, after sources.
    Other,
    /// What the rule watches over: the host the logs come from, the server, a targeted account or cloud
    /// account. Excepting it silences the rule for the thing it protects; never proposed.
    Target,
}

impl Role {
    pub fn of(field: &str) -> Role {
        const SOURCE: &[&str] = &[
            "source.",
            "client.",
            "user_agent.",
            "process.",
            "aws.cloudtrail.user_identity.",
            "userIdentity.",
            "sourceIPAddress",
            "cef.extensions.src",
            "cef.extensions.suser",
            "secops.entity.source.",
        ];
        const TARGET: &[&str] = &[
            "host.",
            "server.",
            "observer.",
            "user.target.",
            "cloud.account.",
            "cloud.instance.",
            "url.domain",
            "Computer",
            // What the host fields resolve to: the same monitored side.
            "secops.entity.host",
            "secops.entity.destination.",
            "related.hosts",
        ];
        if TARGET.iter().any(|p| field.starts_with(p)) {
            Role::Target
        } else if SOURCE.iter().any(|p| field.starts_with(p)) {
            Role::Source
        } else {
            Role::Other
        }
    }
}

/// A field value behind many of a rule's alerts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    pub field: String,
    pub value: String,
    /// Alerts carrying it.
    pub alerts: usize,
    pub role: Role,
}

/// Values behind most of a rule's alerts: exceptions to consider.
#[derive(Debug, Clone)]
pub struct Suggestion {
    pub rule_id: String,
    pub rule_name: String,
    pub alerts: usize,
    /// Up to three, sources first, then by alerts carrying them; targets last.
    pub candidates: Vec<Candidate>,
}

impl Suggestion {
    /// The candidate to propose as an exception: the first that is not the rule's target.
    pub fn proposed(&self) -> Option<&Candidate> {
        self.candidates.iter().find(|c| c.role != Role::Target)
    }
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

/// Fields whose values change from one event to the next (ports, process ids, byte counts): never a
/// sound exception, even when one value happens to be behind most alerts.
fn volatile(field: &str) -> bool {
    const SUFFIXES: &[&str] = &[
        ".port",
        ".pid",
        ".ppid",
        ".bytes",
        ".packets",
        ".duration",
        ".size",
        ".sequence",
    ];
    // Zeek's own names, kept beside the ECS ones
    const NAMES: &[&str] = &[
        "duration",
        "orig_bytes",
        "resp_bytes",
        "orig_pkts",
        "resp_pkts",
        "orig_ip_bytes",
        "resp_ip_bytes",
        "id.orig_p",
        "id.resp_p",
        "missed_bytes",
    ];
    SUFFIXES.iter().any(|s| field.ends_with(s)) || NAMES.contains(&field)
}

/// The values behind more than half of a rule's alerts, in fields it does not fix.
fn suggest(id: &str, list: &[&AlertSample], fixed: &[String]) -> Option<Suggestion> {
    let mut counts: BTreeMap<(&str, &str), usize> = BTreeMap::new();
    for alert in list {
        let mut seen = BTreeSet::new();
        for (field, value) in alert
            .fields
            .iter()
            .filter(|(f, _)| !fixed.contains(f) && !volatile(f))
        {
            if seen.insert((field.as_str(), value.as_str())) {
                *counts.entry((field.as_str(), value.as_str())).or_default() += 1;
            }
        }
    }
    let mut top: Vec<Candidate> = counts
        .into_iter()
        .filter(|(_, n)| *n * 2 > list.len())
        .map(|((field, value), alerts)| Candidate {
            role: Role::of(field),
            field: field.to_string(),
            value: value.to_string(),
            alerts,
        })
        .collect();
    top.sort_by(|a, b| {
        (a.role, std::cmp::Reverse(a.alerts), &a.field, &a.value).cmp(&(
            b.role,
            std::cmp::Reverse(b.alerts),
            &b.field,
            &b.value,
        ))
    });
    if top.is_empty() {
        return None;
    }
    // Three at most, but a target is always shown when there is one: it is what to keep away from.
    let target = top.iter().position(|c| c.role == Role::Target);
    let mut candidates: Vec<Candidate> = top.iter().take(3).cloned().collect();
    if let Some(at) = target.filter(|&at| at >= 3) {
        candidates[2] = top[at].clone();
    }
    Some(Suggestion {
        rule_id: id.to_string(),
        rule_name: list[0].rule_name.clone(),
        alerts: list.len(),
        candidates,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alert(source: &str) -> AlertSample {
        AlertSample {
            id: String::new(),
            rule_id: "r".into(),
            rule_name: "SSH brute force".into(),
            time: Some(Timestamp::from_unix_nanos(0)),
            fields: vec![
                ("host.name".into(), "LabSZ".into()),
                ("source.ip".into(), source.into()),
                ("user.name".into(), "root".into()),
            ],
        }
    }

    #[test]
    fn the_attacked_host_is_never_proposed_and_sources_come_first() {
        // the host is behind every alert, the scanner behind three of four
        let alerts = [
            alert("5.36.59.76"),
            alert("5.36.59.76"),
            alert("5.36.59.76"),
            alert("1.2.3.4"),
        ];
        let list: Vec<&AlertSample> = alerts.iter().collect();
        let s = suggest("r", &list, &[]).unwrap();
        let order: Vec<(&str, Role)> = s
            .candidates
            .iter()
            .map(|c| (c.field.as_str(), c.role))
            .collect();
        assert_eq!(
            order,
            [
                ("source.ip", Role::Source),
                ("user.name", Role::Other),
                ("host.name", Role::Target)
            ]
        );
        assert_eq!(s.proposed().map(|c| c.value.as_str()), Some("5.36.59.76"));
    }

    #[test]
    fn a_rule_whose_only_common_value_is_its_target_proposes_nothing() {
        let alerts = [alert("5.36.59.76"), alert("1.2.3.4"), alert("9.9.9.9")];
        let list: Vec<&AlertSample> = alerts.iter().collect();
        let s = suggest("r", &list, &["user.name".to_string()]).unwrap();
        assert_eq!(s.candidates.len(), 1);
        assert_eq!(s.candidates[0].role, Role::Target);
        assert_eq!(s.proposed(), None);
    }

    #[test]
    fn roles_follow_ecs_source_and_target_fields() {
        assert_eq!(Role::of("source.ip"), Role::Source);
        assert_eq!(Role::of("process.executable"), Role::Source);
        assert_eq!(Role::of("aws.cloudtrail.user_identity.arn"), Role::Source);
        assert_eq!(Role::of("destination.ip"), Role::Other);
        assert_eq!(Role::of("host.name"), Role::Target);
        assert_eq!(Role::of("user.target.name"), Role::Target);
        assert_eq!(Role::of("user.name"), Role::Other);
    }

    #[test]
    fn ports_pids_and_counters_are_never_candidates() {
        let mut a = alert("5.36.59.76");
        a.fields.push(("source.port".into(), "42393".into()));
        a.fields.push(("process.pid".into(), "24227".into()));
        let alerts = [a.clone(), a];
        let list: Vec<&AlertSample> = alerts.iter().collect();
        let s = suggest("r", &list, &[]).unwrap();
        assert!(
            s.candidates.iter().all(|c| !volatile(&c.field)),
            "{:?}",
            s.candidates
        );
    }
}
