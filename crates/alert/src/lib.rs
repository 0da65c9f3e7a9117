//! The alert document: what `secops detect --output jsonl` prints and a stored alert carries, the JSON
//! contract scripts read. Keys are ECS-style (`rule.id`, `threat.technique.id`), named once here; the
//! detection engine writes documents, the store keeps them, and cases and tuning read them back
//! through [`AlertDocument::parse`].
//!
//! Also here, because every writer and reader must agree on them: an alert's identity (rule, group,
//! first event; [`alert_id`], [`group_key`]) and how a repeat of an open alert folds into it ([`fold`]).
//!
//! Aggregation (alert suppression) in the document: an alert opened under aggregation names the
//! entity it folds repeats by (`alert.suppression.terms`, field and value per slot, and the window in
//! seconds, `alert.suppression.duration`) from its first writing on. Its identity stays the first
//! match's (`alert.id`); each later writing of the same id carries everything folded so far
//! (`alert.suppression.docs_count` alerts, `alert.suppression.events` events, `alert.last_seen`, and
//! the provenance of every event) and supersedes the earlier. The store keys such an alert by its
//! group, else its entity ([`group_key`]), so folding there and in a run agree.
//!
//! ```
//! use secops_alert::AlertDocument;
//!
//! let line = r#"{"@timestamp":"2024-05-14T09:21:13Z","alert.id":"a1","alert.first":"2024-05-14T09:21:13Z",
//!   "rule.id":"r1","rule.name":"Web Shell","rule.author":["secops"],"rule.version":1,"rule.type":"query",
//!   "rule.severity":"high","rule.risk_score":73,"threat.tactic.id":["TA0003"],
//!   "threat.technique.id":["T1505","T1505.003"],"event.provenance":["access.log:7"],
//!   "events":[{"source.ip":"198.51.100.77"}]}"#;
//! let doc = AlertDocument::parse(line)?;
//! assert_eq!(doc.schema_version, 1);
//! assert_eq!(doc.techniques, ["T1505", "T1505.003"]);
//! assert!(doc.fields().any(|(k, v)| k == "source.ip" && v == "198.51.100.77"));
//! # Ok::<(), serde_json::Error>(())
//! ```

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The version of the document's shape. Documents written before versions were numbered carry none:
/// they are version 1.
pub const SCHEMA_VERSION: u32 = 1;

/// One alert as a JSON document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertDocument {
    /// The time of the last event that made the alert (RFC 3339).
    #[serde(rename = "@timestamp", default)]
    pub timestamp: String,
    #[serde(rename = "alert.id", default)]
    pub id: String,
    /// The time of the first event.
    #[serde(rename = "alert.first", default)]
    pub first: String,
    /// The one key a document must have.
    #[serde(rename = "rule.id")]
    pub rule_id: String,
    #[serde(rename = "rule.name", default)]
    pub rule_name: String,
    /// Kept for licence attribution (Sigma rules' authors).
    #[serde(rename = "rule.author", default)]
    pub rule_author: Vec<String>,
    #[serde(rename = "rule.version", default)]
    pub rule_version: u32,
    #[serde(rename = "rule.type", default)]
    pub rule_type: String,
    /// `informational`, `low`, `medium`, `high` or `critical`.
    #[serde(rename = "rule.severity", default)]
    pub severity: String,
    #[serde(rename = "rule.risk_score", default)]
    pub risk_score: u8,
    #[serde(rename = "threat.tactic.id", default)]
    pub tactics: Vec<String>,
    /// Techniques and sub-techniques.
    #[serde(rename = "threat.technique.id", default)]
    pub techniques: Vec<String>,
    /// The rule's own tags, as its file writes them (what response workflows trigger on by tag).
    #[serde(rename = "rule.tags", skip_serializing_if = "Vec::is_empty", default)]
    pub rule_tags: Vec<String>,
    /// Events counted, for alerts over a group (threshold and correlation rules).
    #[serde(
        rename = "threshold.count",
        skip_serializing_if = "Option::is_none",
        default
    )]
    pub threshold_count: Option<u64>,
    #[serde(
        rename = "threshold.terms",
        skip_serializing_if = "Vec::is_empty",
        default
    )]
    pub terms: Vec<Term>,
    /// The group's fields with their values (`source.ip`: `203.0.113.9`), as top-level keys; on reading,
    /// any key this struct does not name lands here.
    #[serde(flatten)]
    pub group: Map<String, Value>,
    /// Later alerts of the same group folded into this one by the rule's alert suppression.
    #[serde(
        rename = "alert.suppression.docs_count",
        skip_serializing_if = "Option::is_none",
        default
    )]
    pub suppressed_alerts: Option<u64>,
    /// Their events.
    #[serde(
        rename = "alert.suppression.events",
        skip_serializing_if = "Option::is_none",
        default
    )]
    pub suppressed_events: Option<u64>,
    /// The entity repeats fold by (an alert opened under aggregation).
    #[serde(
        rename = "alert.suppression.terms",
        skip_serializing_if = "Vec::is_empty",
        default
    )]
    pub suppression_terms: Vec<Term>,
    /// The aggregation window, seconds of event time.
    #[serde(
        rename = "alert.suppression.duration",
        skip_serializing_if = "Option::is_none",
        default
    )]
    pub suppression_duration: Option<u64>,
    /// The last event, suppressed ones included (set when some were suppressed).
    #[serde(
        rename = "alert.last_seen",
        skip_serializing_if = "Option::is_none",
        default
    )]
    pub last_seen: Option<String>,
    /// Indicator matches, as ECS and Elastic's indicator-match alerts write them.
    #[serde(
        rename = "threat.enrichments",
        skip_serializing_if = "Vec::is_empty",
        default
    )]
    pub enrichments: Vec<Enrichment>,
    /// The risk of the alert's host and user as it stood with this alert counted (`detect --risk`).
    #[serde(rename = "secops.risk", skip_serializing_if = "Vec::is_empty", default)]
    pub risk: Vec<EntityRisk>,
    /// The same, under ECS's entity risk fields (as Elastic writes them on alerts).
    #[serde(
        rename = "host.risk.calculated_level",
        skip_serializing_if = "Option::is_none",
        default
    )]
    pub host_risk_level: Option<String>,
    #[serde(
        rename = "host.risk.calculated_score_norm",
        skip_serializing_if = "Option::is_none",
        default
    )]
    pub host_risk_norm: Option<f64>,
    #[serde(
        rename = "user.risk.calculated_level",
        skip_serializing_if = "Option::is_none",
        default
    )]
    pub user_risk_level: Option<String>,
    #[serde(
        rename = "user.risk.calculated_score_norm",
        skip_serializing_if = "Option::is_none",
        default
    )]
    pub user_risk_norm: Option<f64>,
    /// The open vulnerability findings the alert's hosts carry that attackers are known or likely
    /// to exploit (in CISA's KEV catalog, or an EPSS probability of at least 0.1), riskiest first.
    #[serde(
        rename = "secops.vulnerabilities",
        skip_serializing_if = "Vec::is_empty",
        default
    )]
    pub vulnerabilities: Vec<HostFinding>,
    /// Where every counted event came from (`file:line`, `file:record 7`).
    #[serde(rename = "event.provenance", default)]
    pub provenance: Vec<String>,
    /// The first events, whole, as normalized events.
    #[serde(default)]
    pub events: Vec<Value>,
    /// Written from version 2 on; absent means 1.
    #[serde(skip_serializing_if = "is_first_version", default = "first_version")]
    pub schema_version: u32,
}

fn first_version() -> u32 {
    1
}

/// An empty document of the current version: what alerts raised outside the engine (a scheduled
/// hunt, a vulnerability past its deadline) start from, naming only what they set.
impl Default for AlertDocument {
    fn default() -> AlertDocument {
        AlertDocument {
            timestamp: String::new(),
            id: String::new(),
            first: String::new(),
            rule_id: String::new(),
            rule_name: String::new(),
            rule_author: Vec::new(),
            rule_version: 1,
            rule_type: String::new(),
            severity: String::new(),
            risk_score: 0,
            tactics: Vec::new(),
            techniques: Vec::new(),
            rule_tags: Vec::new(),
            threshold_count: None,
            terms: Vec::new(),
            group: Map::new(),
            suppressed_alerts: None,
            suppressed_events: None,
            suppression_terms: Vec::new(),
            suppression_duration: None,
            last_seen: None,
            enrichments: Vec::new(),
            risk: Vec::new(),
            host_risk_level: None,
            host_risk_norm: None,
            user_risk_level: None,
            user_risk_norm: None,
            vulnerabilities: Vec::new(),
            provenance: Vec::new(),
            events: Vec::new(),
            schema_version: SCHEMA_VERSION,
        }
    }
}

fn is_first_version(version: &u32) -> bool {
    *version == 1
}

/// A vulnerability finding on a host an alert names (`secops vuln`), as the alert carries it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HostFinding {
    /// The host or address as the finding names it.
    pub host: String,
    /// The finding's id in the store.
    pub finding: i64,
    /// The vulnerability (a CVE when there is one).
    pub id: String,
    pub severity: String,
    pub kev: bool,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub epss: Option<f64>,
    pub risk: f64,
}

/// A host's or user's risk score when an alert was raised: the decayed sum of what its alerts added,
/// that sum as a share of the risk threshold (0-100, capped), and the level Elastic's entity risk bands
/// give that share ([`risk_level`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EntityRisk {
    /// `host` or `user`.
    pub kind: String,
    /// The resolved id (`secops.entity.host`, `secops.entity.user`).
    pub id: String,
    pub score: f64,
    pub score_norm: f64,
    pub level: String,
}

impl EntityRisk {
    /// An entity's risk from its score and the threshold at which it alerts (scores to one decimal).
    pub fn new(kind: &str, id: &str, score: f64, threshold: f64) -> EntityRisk {
        let norm = if threshold > 0.0 {
            (score / threshold * 100.0).clamp(0.0, 100.0)
        } else {
            100.0
        };
        let round = |v: f64| (v * 10.0).round() / 10.0;
        EntityRisk {
            kind: kind.to_string(),
            id: id.to_string(),
            score: round(score),
            score_norm: round(norm),
            level: risk_level(norm).to_string(),
        }
    }
}

/// Elastic's entity risk levels on a 0-100 score: Unknown below 20, Low below 40, Moderate below 70,
/// High below 90, Critical from 90.
pub fn risk_level(norm: f64) -> &'static str {
    match norm {
        n if n >= 90.0 => "Critical",
        n if n >= 70.0 => "High",
        n if n >= 40.0 => "Moderate",
        n if n >= 20.0 => "Low",
        _ => "Unknown",
    }
}

/// A group-by field and its value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Term {
    pub field: String,
    pub value: String,
}

/// An indicator match.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Enrichment {
    /// The event's value that matched.
    #[serde(rename = "matched.atomic")]
    pub atomic: String,
    /// The event field it was in.
    #[serde(rename = "matched.field")]
    pub field: String,
    #[serde(rename = "matched.type")]
    pub match_type: String,
    /// STIX-style: `ipv4-addr`, `domain-name`, `url`, `file`, `email-addr`.
    #[serde(rename = "indicator.type")]
    pub indicator_type: String,
    /// The indicator's value under its ECS name (`indicator.ip`, `indicator.url.domain`); on reading,
    /// any key this struct does not name.
    #[serde(flatten)]
    pub value: Map<String, Value>,
    #[serde(rename = "indicator.provider")]
    pub provider: String,
    /// `High`, `Medium`, `Low`, `None` or `Not Specified`.
    #[serde(rename = "indicator.confidence")]
    pub confidence: String,
    #[serde(
        rename = "indicator.confidence_score",
        skip_serializing_if = "Option::is_none",
        default
    )]
    pub confidence_score: Option<u8>,
    /// Upper case: `AMBER+STRICT`.
    #[serde(rename = "indicator.marking.tlp")]
    pub tlp: String,
    #[serde(
        rename = "indicator.id",
        skip_serializing_if = "Option::is_none",
        default
    )]
    pub id: Option<String>,
    #[serde(
        rename = "indicator.description",
        skip_serializing_if = "Option::is_none",
        default
    )]
    pub description: Option<String>,
    #[serde(
        rename = "indicator.first_seen",
        skip_serializing_if = "Option::is_none",
        default
    )]
    pub first_seen: Option<String>,
    #[serde(
        rename = "indicator.last_seen",
        skip_serializing_if = "Option::is_none",
        default
    )]
    pub last_seen: Option<String>,
}

impl AlertDocument {
    /// Reads a document (a line of `detect --output jsonl`, a stored alert's).
    pub fn parse(text: &str) -> Result<AlertDocument, serde_json::Error> {
        serde_json::from_str(text)
    }

    /// The document as one line of JSON.
    pub fn to_line(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Where the alert names entities: its group, then each of its events.
    pub fn objects(&self) -> impl Iterator<Item = &Map<String, Value>> {
        std::iter::once(&self.group).chain(self.events.iter().filter_map(Value::as_object))
    }

    /// The fields the alert names, as text: its group's values, then its events' fields (strings and
    /// numbers; lists give each element).
    pub fn fields(&self) -> impl Iterator<Item = (&str, String)> {
        self.objects()
            .flat_map(|object| object.iter())
            .flat_map(|(k, v)| texts(v).into_iter().map(move |t| (k.as_str(), t)))
    }
}

/// Most entities kept for one alert (its group's first, then its events' in order).
pub const MAX_ENTITIES: usize = 100;

/// The ECS fields an alert's entities are read from, and the kind each gives.
const ENTITY_FIELDS: &[(&str, &str)] = &[
    ("host.name", "host"),
    ("host.hostname", "host"),
    ("user.name", "user"),
    ("user.target.name", "user"),
    ("source.ip", "ip"),
    ("destination.ip", "ip"),
    ("client.ip", "ip"),
];

impl AlertDocument {
    /// The hosts, users and addresses the alert names (its group's, then its events'), each once,
    /// at most [`MAX_ENTITIES`]; host and user names lower-cased, as entity resolution compares them.
    pub fn entities(&self) -> Vec<(&'static str, String)> {
        let mut out: Vec<(&'static str, String)> = Vec::new();
        for (field, value) in self.fields() {
            let Some((_, kind)) = ENTITY_FIELDS.iter().find(|(f, _)| *f == field) else {
                continue;
            };
            let value = match *kind {
                "ip" => value.trim().to_string(),
                _ => value.trim().to_lowercase(),
            };
            if value.is_empty() || value == "-" || out.iter().any(|(k, v)| k == kind && *v == value)
            {
                continue;
            }
            out.push((kind, value));
            if out.len() == MAX_ENTITIES {
                break;
            }
        }
        out
    }
}

/// A value's text: a string or number, or the strings and numbers of a list.
fn texts(value: &Value) -> Vec<String> {
    match value {
        Value::String(s) => vec![s.clone()],
        Value::Number(n) => vec![n.to_string()],
        Value::Array(items) => items
            .iter()
            .filter_map(|v| match v {
                Value::String(s) => Some(s.clone()),
                Value::Number(n) => Some(n.to_string()),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// An alert's id: the same rule, group, first event time and first event's source give the same id,
/// whichever run raised it.
pub fn alert_id(
    rule_id: &str,
    group: &[(String, String)],
    first: i64,
    source: Option<&str>,
) -> String {
    let mut hash = Fnv::new();
    hash.write(rule_id.as_bytes());
    for (k, v) in group {
        hash.write(k.as_bytes());
        hash.write(v.as_bytes());
    }
    hash.write(&first.to_le_bytes());
    if let Some(source) = source {
        hash.write(source.as_bytes());
    }
    format!("{:016x}", hash.finish())
}

/// What identifies an alert's group across runs: `field=value` pairs (`user.name=alice
/// source.ip=203.0.113.9`), or the alert's own id when it has no group.
pub fn group_key(pairs: &[(String, String)], alert_id: &str) -> String {
    if pairs.is_empty() {
        return alert_id.to_string();
    }
    pairs
        .iter()
        .map(|(f, v)| format!("{f}={v}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// An open alert's counts after a repeat within its rule's suppression window folds into it: the later
/// last-seen time and the events added up. Times in UTC nanoseconds.
pub fn fold(open: (i64, i64), repeat: (i64, i64)) -> (i64, i64) {
    let ((last, events), (repeat_last, repeat_events)) = (open, repeat);
    (last.max(repeat_last), events.saturating_add(repeat_events))
}

/// FNV-1a, 64 bits: small, stable across runs and platforms (alert ids, the bus's partitions and
/// message ids, rule-set digests).
#[derive(Debug, Clone, Copy)]
pub struct Fnv(u64);

impl Default for Fnv {
    fn default() -> Self {
        Fnv::new()
    }
}

impl Fnv {
    pub fn new() -> Self {
        Fnv(0xcbf2_9ce4_8422_2325)
    }

    pub fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 ^= u64::from(*b);
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
    }

    pub fn finish(&self) -> u64 {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeats_fold_into_the_later_time_and_the_sum() {
        assert_eq!(fold((100, 3), (90, 2)), (100, 5));
        assert_eq!(fold((100, 3), (150, 1)), (150, 4));
        assert_eq!(fold((100, i64::MAX), (150, 1)), (150, i64::MAX));
    }

    #[test]
    fn identity_depends_on_rule_group_time_and_source() {
        let group = vec![("source.ip".to_string(), "203.0.113.9".to_string())];
        let id = alert_id("r", &group, 1, Some("auth.log:3"));
        assert_eq!(id, alert_id("r", &group, 1, Some("auth.log:3")));
        assert_eq!(id.len(), 16);
        for other in [
            alert_id("s", &group, 1, Some("auth.log:3")),
            alert_id("r", &[], 1, Some("auth.log:3")),
            alert_id("r", &group, 2, Some("auth.log:3")),
            alert_id("r", &group, 1, Some("auth.log:4")),
        ] {
            assert_ne!(id, other);
        }
        assert_eq!(group_key(&group, &id), "source.ip=203.0.113.9");
        assert_eq!(group_key(&[], &id), id);
    }

    #[test]
    fn version_one_documents_carry_no_version_and_read_back_whole() {
        let text = r#"{"@timestamp":"t","alert.id":"a","alert.first":"t","rule.id":"r","rule.name":"n","user.name":"alice","events":[{"source.ip":"10.0.0.5","tags":["x",2]}]}"#;
        let doc = AlertDocument::parse(text).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(doc.schema_version, 1);
        assert!(!doc.to_line().contains("schema_version"));
        let fields: Vec<(&str, String)> = doc.fields().collect();
        assert_eq!(
            fields,
            [
                ("user.name", "alice".to_string()),
                ("source.ip", "10.0.0.5".to_string()),
                ("tags", "x".to_string()),
                ("tags", "2".to_string())
            ]
        );
        let mut v2 = doc.clone();
        v2.schema_version = 2;
        assert!(v2.to_line().contains("\"schema_version\":2"));
        assert_eq!(
            AlertDocument::parse(&v2.to_line())
                .map(|d| d.schema_version)
                .ok(),
            Some(2)
        );
    }
}
