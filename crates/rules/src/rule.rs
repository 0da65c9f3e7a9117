//! The TOML rule format v1 (shared/reference/detection-as-code.md section 6): one rule per file,
//! Elastic detection-rules' shape (`[metadata]`, `[rule]`, `[[rule.threat]]`) plus `[rule.log_source]`,
//! explicit windows for stateful rules, exceptions with expiry and embedded `[[test]]` cases.
//!
//! [`RuleFile::parse`] deserializes with unknown keys rejected, then [`RuleFile::check`] validates what
//! serde cannot (query syntax, durations, the table each type needs) and returns a [`CheckedRule`].

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};
use toml::Spanned;

use crate::{kql, Duration, Expr, RuleError};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleFile {
    pub metadata: Metadata,
    pub rule: Rule,
    #[serde(default, rename = "test")]
    pub tests: Vec<RuleTest>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Metadata {
    pub creation_date: String,
    pub updated_date: String,
    pub maturity: Maturity,
    pub deprecation_date: Option<String>,
    pub deprecated_reason: Option<String>,
    pub superseded_by: Option<String>,
    pub min_engine_version: Option<String>,
    #[serde(default)]
    pub data_sources: Vec<String>,
    pub source: Option<Source>,
    pub owner: Option<String>,
    pub query_schema_validation: Option<bool>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Maturity {
    Development,
    Experimental,
    Beta,
    Production,
    Deprecated,
}

impl Maturity {
    /// The lifecycle in order: a rule moves forward only, and deprecated is final.
    pub const LIFECYCLE: [Maturity; 5] = [
        Maturity::Development,
        Maturity::Experimental,
        Maturity::Beta,
        Maturity::Production,
        Maturity::Deprecated,
    ];

    /// The maturity as rule files spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            Maturity::Development => "development",
            Maturity::Experimental => "experimental",
            Maturity::Beta => "beta",
            Maturity::Production => "production",
            Maturity::Deprecated => "deprecated",
        }
    }

    /// The maturity a rule file (or the version lock) names.
    pub fn from_name(name: &str) -> Option<Maturity> {
        Maturity::LIFECYCLE.into_iter().find(|m| m.as_str() == name)
    }

    /// Whether a rule at this maturity may become `next`: the same, or a later state
    /// (development -> experimental -> beta -> production -> deprecated; steps may be skipped).
    pub fn may_become(self, next: Maturity) -> bool {
        let rank = |m: Maturity| Maturity::LIFECYCLE.iter().position(|&l| l == m);
        rank(next) >= rank(self)
    }
}

/// Where an imported rule came from (drives licence attribution).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Source {
    pub kind: String,
    pub original_id: Option<String>,
    pub original_path: Option<String>,
    pub original_sha256: Option<String>,
    pub license: Option<String>,
    #[serde(default)]
    pub authors: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    #[serde(alias = "rule_id")]
    pub id: String,
    pub name: String,
    pub description: String,
    pub author: Vec<String>,
    pub license: String,
    #[serde(rename = "type")]
    pub rule_type: RuleType,
    pub language: Option<Language>,
    pub query: Option<Spanned<String>>,
    /// `language = "sigma"`: a Sigma detection verbatim (identifiers as tables or arrays of tables, keys
    /// with their `|modifiers`, `condition`); a null value is written `{ null = true }`.
    pub detection: Option<toml::Table>,
    /// `type = "correlation"`: Sigma 2.1 correlation semantics over other rules' matches (`type`,
    /// `rules` by id or name, `group_by`, `timespan`, `condition`, `aliases`, `generate`).
    pub correlation: Option<toml::Table>,
    #[serde(default)]
    pub log_source: LogSource,
    #[serde(default)]
    pub index: Vec<String>,
    pub severity: Severity,
    pub risk_score: u8,
    pub interval: Option<String>,
    pub from: Option<String>,
    pub max_signals: Option<u32>,
    pub timestamp_override: Option<String>,
    pub building_block: Option<bool>,
    pub building_block_type: Option<String>,
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default)]
    pub references: Vec<String>,
    #[serde(default)]
    pub false_positives: Vec<String>,
    pub note: Option<String>,
    pub setup: Option<String>,
    pub alert_suppression: Option<AlertSuppression>,
    #[serde(default)]
    pub exception_lists: Vec<String>,
    #[serde(default)]
    pub exceptions: Vec<ExceptionItem>,
    #[serde(default)]
    pub threat: Vec<Threat>,
    pub coverage: Option<Coverage>,
    pub threshold: Option<Threshold>,
    pub new_terms: Option<NewTerms>,
    pub anomaly: Option<Anomaly>,
    pub tiebreaker_field: Option<String>,
    #[serde(default)]
    pub threat_index: Vec<String>,
    pub threat_query: Option<String>,
    pub threat_language: Option<Language>,
    pub threat_indicator_path: Option<String>,
    #[serde(default)]
    pub threat_mapping: Vec<ThreatMapping>,
    pub indicator: Option<IndicatorOptions>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RuleType {
    Query,
    Eql,
    Threshold,
    NewTerms,
    Anomaly,
    ThreatMatch,
    Correlation,
}

impl RuleType {
    /// The name used in rule files (`threat_match`, `new_terms`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            RuleType::Query => "query",
            RuleType::Eql => "eql",
            RuleType::Threshold => "threshold",
            RuleType::NewTerms => "new_terms",
            RuleType::Anomaly => "anomaly",
            RuleType::ThreatMatch => "threat_match",
            RuleType::Correlation => "correlation",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Language {
    #[serde(alias = "kuery")]
    Kql,
    Eql,
    Sigma,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Context, not a finding to act on (Sigma's `informational`): below `low`, filtered apart.
    Informational,
    Low,
    Medium,
    High,
    Critical,
}

impl std::fmt::Display for Severity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Severity {
    /// The spelling everywhere: rule files, alert documents, the store, output.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Informational => "informational",
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }

    /// The severity a rule file or command line spells.
    pub fn parse(text: &str) -> Option<Severity> {
        Some(match text.to_ascii_lowercase().as_str() {
            "informational" | "info" => Severity::Informational,
            "low" => Severity::Low,
            "medium" => Severity::Medium,
            "high" => Severity::High,
            "critical" => Severity::Critical,
            _ => return None,
        })
    }

    /// Elastic's risk score band for the severity.
    pub fn risk_band(self) -> std::ops::RangeInclusive<u8> {
        match self {
            Severity::Informational | Severity::Low => 0..=21,
            Severity::Medium => 22..=47,
            Severity::High => 48..=73,
            Severity::Critical => 74..=100,
        }
    }
}

/// The Sigma log-source taxonomy: which events a rule may see.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogSource {
    pub product: Option<String>,
    pub category: Option<String>,
    pub service: Option<String>,
    pub definition: Option<String>,
}

impl LogSource {
    /// `product / category / service` as the rule names them (`any` when it names none).
    pub fn label(&self) -> String {
        let parts: Vec<&str> = [&self.product, &self.category, &self.service]
            .into_iter()
            .flatten()
            .map(String::as_str)
            .collect();
        if parts.is_empty() {
            "any".into()
        } else {
            parts.join(" / ")
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertSuppression {
    pub group_by: Vec<String>,
    pub duration: SuppressionDuration,
    pub missing_fields_strategy: Option<MissingFields>,
}

/// How a rule's repeated alerts fold into one, as the rule declares it (a Sigma rule's
/// `alert_aggregation`; a native rule's `[rule.alert_suppression]` is Elastic's form of the same).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AlertAggregation {
    /// Every match its own alert.
    PerEvent,
    /// Alerts with the same values of these fields within the window (none: the run's) fold into
    /// the first.
    By {
        fields: Vec<String>,
        window: Option<crate::Duration>,
    },
}

/// What suppression does with events that lack a `group_by` field (Elastic's `missing_fields_strategy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
pub enum MissingFields {
    /// Such events are suppressed together, as one group (the default).
    #[serde(rename = "suppress")]
    Suppress,
    /// Each such event alerts on its own.
    #[serde(rename = "doNotSuppress")]
    DoNotSuppress,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SuppressionDuration {
    pub value: u64,
    pub unit: SuppressionUnit,
}

impl SuppressionDuration {
    /// The window in seconds (`None` when it overflows).
    pub fn seconds(&self) -> Option<u64> {
        self.value.checked_mul(self.unit.seconds())
    }
}

/// The unit of an alert suppression window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
pub enum SuppressionUnit {
    #[serde(rename = "s")]
    Seconds,
    #[serde(rename = "m")]
    Minutes,
    #[serde(rename = "h")]
    Hours,
}

impl SuppressionUnit {
    pub fn seconds(self) -> u64 {
        match self {
            SuppressionUnit::Seconds => 1,
            SuppressionUnit::Minutes => 60,
            SuppressionUnit::Hours => 3600,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExceptionItem {
    pub description: String,
    pub comment: Option<String>,
    /// RFC 3339; the item stops applying after it.
    pub expire_time: Option<String>,
    pub entries: Vec<ExceptionEntry>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExceptionEntry {
    pub field: String,
    #[serde(rename = "type")]
    pub entry_type: ExceptionType,
    #[serde(default = "included")]
    pub operator: String,
    pub value: Option<toml::Value>,
}

fn included() -> String {
    "included".into()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExceptionType {
    Match,
    MatchAny,
    Wildcard,
    Exists,
    Cidr,
    List,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Threat {
    pub framework: String,
    pub tactic: AttackRef,
    #[serde(default)]
    pub technique: Vec<Technique>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttackRef {
    pub id: String,
    pub name: String,
    pub reference: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Technique {
    pub id: String,
    pub name: String,
    pub reference: Option<String>,
    #[serde(default)]
    pub subtechnique: Vec<AttackRef>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Coverage {
    pub attack_version: Option<String>,
    #[serde(default)]
    pub detection_strategies: Vec<String>,
    #[serde(default)]
    pub analytics: Vec<String>,
    #[serde(default)]
    pub data_components: Vec<String>,
    #[serde(default)]
    pub platforms: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Threshold {
    #[serde(default)]
    pub field: Vec<String>,
    pub value: u64,
    pub window: Spanned<String>,
    #[serde(default)]
    pub window_mode: WindowMode,
    #[serde(default)]
    pub cardinality: Vec<Cardinality>,
    pub count_field: Option<String>,
    /// Ours: alert only when the counted events are regular in time: the coefficient of variation
    /// (standard deviation / mean) of the gaps between them is at most this (beaconing).
    pub max_interval_cv: Option<f64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WindowMode {
    #[default]
    Sliding,
    Tumbling,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Cardinality {
    pub field: String,
    pub value: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewTerms {
    pub fields: Vec<String>,
    pub history_window_start: Spanned<String>,
    /// Ours: how long the rule learns from the first event it sees before it calls anything new
    /// (`"7d"`; default: the whole history window). A rule promoted from a first-seen hunt learns
    /// for the hunt's own range and remembers the history the hunt compared against.
    #[serde(default)]
    pub learning: Option<Spanned<String>>,
}

/// Per-entity event rate against a learned baseline (ours; not an Elastic type).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Anomaly {
    /// The entity: events are counted per value of these fields.
    pub by: Vec<String>,
    /// The counting bucket (`"1h"`).
    pub bucket: Spanned<String>,
    #[serde(default)]
    pub method: AnomalyMethod,
    /// Buckets of history an entity needs before it can alert.
    pub min_history: u32,
    /// The score above which a bucket is anomalous (robust z-score, or standard deviations for EWMA).
    pub threshold: f64,
    /// Buckets kept in the baseline.
    #[serde(default = "default_history")]
    pub history: u32,
    /// The count a bucket must reach before it is scored at all: against a mostly empty baseline, a
    /// handful of events is a huge score but no finding.
    #[serde(default)]
    pub min_count: u64,
}

/// How an anomaly rule scores a bucket against the entity's baseline.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AnomalyMethod {
    /// Robust z-score: distance from the median in median absolute deviations.
    #[default]
    MedianMad,
    /// Exponentially weighted moving average and deviation.
    Ewma,
}

fn default_history() -> u32 {
    168
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ThreatMapping {
    pub entries: Vec<ThreatMappingEntry>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ThreatMappingEntry {
    pub field: String,
    #[serde(rename = "type")]
    pub entry_type: String,
    pub value: String,
    #[serde(default)]
    pub negate: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IndicatorOptions {
    pub max_age: Option<String>,
    pub min_confidence: Option<String>,
    #[serde(rename = "match")]
    pub match_kind: Option<String>,
}

/// One embedded test case (`[[test]]`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleTest {
    pub name: String,
    #[serde(default = "unit")]
    pub kind: String,
    pub expect: Option<Expectation>,
    pub alerts: Option<u64>,
    pub min_alerts: Option<u64>,
    pub max_alerts: Option<u64>,
    #[serde(default)]
    pub expect_fields: BTreeMap<String, toml::Value>,
    #[serde(default)]
    pub expect_groups: Vec<String>,
    pub start: Option<String>,
    pub now: Option<String>,
    #[serde(default)]
    pub events: Vec<toml::Table>,
    pub events_file: Option<String>,
    #[serde(default)]
    pub raw: Vec<String>,
    pub parser: Option<String>,
    pub corpus: Option<String>,
    pub year: Option<i32>,
    /// More raw lines, each list through its own parser (`[[test.input]]`): a case over several log
    /// sources (a syslog line, then a Zeek record, then a Windows event).
    #[serde(default)]
    pub input: Vec<RawInput>,
    /// An asset and identity inventory (the inventory file's TOML) the case's entities resolve
    /// through, as `detect --inventory` gives one.
    pub inventory: Option<String>,
    #[serde(default)]
    pub indicators: Vec<toml::Table>,
    #[serde(default)]
    pub history: Vec<toml::Table>,
    #[serde(default)]
    pub mocks: Vec<toml::Table>,
    pub reason: Option<String>,
}

/// One `[[test.input]]`: raw lines and the parser (and syslog year) that reads them.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawInput {
    pub parser: String,
    pub raw: Vec<String>,
    pub year: Option<i32>,
}

fn unit() -> String {
    "unit".into()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Expectation {
    Alert,
    NoAlert,
}

/// A rule that passed every check: its query parsed and its windows read.
#[derive(Debug, Clone)]
pub struct CheckedRule {
    pub file: RuleFile,
    /// The parsed KQL query (for `language = "kql"`).
    pub query: Option<Expr>,
    /// The parsed EQL query (for `language = "eql"`).
    pub eql: Option<crate::eql::EqlQuery>,
    /// The Sigma detection (for `language = "sigma"`), its log source the rule's.
    pub sigma: Option<crate::sigma::SigmaRule>,
    /// The correlation (for `type = "correlation"`).
    pub correlation: Option<crate::sigma::SigmaCorrelation>,
    /// The threshold, new-terms history or anomaly bucket window.
    pub window: Option<Duration>,
    /// The rule's version from the version lock (1 until a lock says otherwise).
    pub version: u32,
    /// The file the rule was read from (test fixtures are found relative to it).
    pub path: std::path::PathBuf,
}

impl RuleFile {
    /// Deserializes `text` (the contents of `path`); unknown keys and wrong types are errors naming the
    /// line and key.
    pub fn parse(path: &Path, text: &str) -> Result<RuleFile, RuleError> {
        toml::from_str(text).map_err(|e| {
            let offset = e.span().map(|s| s.start);
            RuleError {
                file: path.to_path_buf(),
                line: offset.map(|o| line_of(text, o)),
                key: offset.and_then(|o| key_at(text, o)),
                message: e.message().trim().to_string(),
            }
        })
    }

    /// Validates what deserialization cannot: the query, windows, per-type tables, risk bands.
    pub fn check(self, path: &Path, text: &str) -> Result<CheckedRule, RuleError> {
        let error = |key: &str, at: Option<usize>, message: String| RuleError {
            file: path.to_path_buf(),
            line: at.map(|o| line_of(text, o)),
            key: Some(key.to_string()),
            message,
        };
        let rule = &self.rule;
        if !rule.severity.risk_band().contains(&rule.risk_score) {
            let band = rule.severity.risk_band();
            return Err(error(
                "rule.risk_score",
                find_key(text, "risk_score"),
                format!(
                    "{} is outside the {:?} band {}..={}",
                    rule.risk_score,
                    rule.severity,
                    band.start(),
                    band.end()
                ),
            ));
        }
        let query = match (rule.language, &rule.query) {
            (Some(Language::Kql) | None, Some(query)) if rule.rule_type != RuleType::Eql => {
                let expr = kql::parse(query.get_ref()).map_err(|e| {
                    let start = query.span().start + query_text_offset(text, query.span().start);
                    error(
                        "rule.query",
                        Some(start + e.span.start),
                        format!("invalid KQL: {}", e.message),
                    )
                })?;
                Some(expr)
            }
            (Some(Language::Eql), Some(_)) => None,
            (Some(Language::Sigma), None) => None,
            (Some(Language::Sigma), Some(_)) => return Err(error(
                "rule.query",
                find_key(text, "query"),
                "language = \"sigma\" rules hold their detection in [rule.detection], not query"
                    .into(),
            )),
            (_, None) if matches!(rule.rule_type, RuleType::Correlation) => None,
            (_, None) if rule.detection.is_some() => {
                return Err(error(
                    "rule.detection",
                    None,
                    "[rule.detection] needs language = \"sigma\"".into(),
                ))
            }
            (_, None) => return Err(error("rule.query", None, "the rule has no query".into())),
            (Some(Language::Kql) | None, Some(_)) => {
                return Err(error(
                    "rule.language",
                    find_key(text, "language"),
                    "eql rules need language = \"eql\"".into(),
                ))
            }
        };
        let eql = match (rule.language, &rule.query) {
            (Some(Language::Eql), Some(query)) => {
                let parsed = crate::eql::parse(query.get_ref()).map_err(|e| {
                    let start = query.span().start + query_text_offset(text, query.span().start);
                    error(
                        "rule.query",
                        Some(start + e.span.start),
                        format!("invalid EQL: {}", e.message),
                    )
                })?;
                if rule.rule_type != RuleType::Eql {
                    return Err(error(
                        "rule.language",
                        find_key(text, "language"),
                        format!(
                            "language = \"eql\" needs type = \"eql\", not {:?}",
                            rule.rule_type
                        ),
                    ));
                }
                Some(parsed)
            }
            _ => None,
        };
        let sigma = match (rule.language, &rule.detection) {
            (Some(Language::Sigma), Some(detection)) => {
                Some(self.sigma_rule(path, text, detection)?)
            }
            (Some(Language::Sigma), None) => {
                return Err(error(
                    "rule.detection",
                    None,
                    "a language = \"sigma\" rule needs a [rule.detection] table".into(),
                ))
            }
            (_, Some(_)) => {
                return Err(error(
                    "rule.detection",
                    None,
                    "[rule.detection] needs language = \"sigma\"".into(),
                ))
            }
            _ => None,
        };
        if sigma.is_some() && matches!(rule.rule_type, RuleType::Eql | RuleType::Correlation) {
            return Err(error(
                "rule.language",
                find_key(text, "language"),
                format!(
                    "language = \"sigma\" selects events for query, threshold, new_terms, anomaly and \
                     threat_match rules, not {}",
                    rule.rule_type.as_str()
                ),
            ));
        }
        let table = |name: &str, present: bool| -> Result<(), RuleError> {
            if !present {
                return Err(error(
                    &format!("rule.{name}"),
                    None,
                    format!("a {name} rule needs a [rule.{name}] table"),
                ));
            }
            Ok(())
        };
        let mut window = None;
        match rule.rule_type {
            RuleType::Threshold => {
                table("threshold", rule.threshold.is_some())?;
                if let Some(t) = &rule.threshold {
                    window = Some(parse_window(
                        &t.window,
                        "rule.threshold.window",
                        path,
                        text,
                    )?);
                    if t.value == 0 {
                        return Err(error(
                            "rule.threshold.value",
                            find_key(text, "value"),
                            "must be at least 1".into(),
                        ));
                    }
                    if t.field.len() > 5 {
                        return Err(error(
                            "rule.threshold.field",
                            find_key(text, "field"),
                            "at most 5 group-by fields".into(),
                        ));
                    }
                }
            }
            RuleType::NewTerms => {
                table("new_terms", rule.new_terms.is_some())?;
                if let Some(n) = &rule.new_terms {
                    let span = n.history_window_start.span();
                    let d = Duration::parse_lookback(n.history_window_start.get_ref()).map_err(
                        |e| {
                            error(
                                "rule.new_terms.history_window_start",
                                Some(span.start),
                                e.to_string(),
                            )
                        },
                    )?;
                    window = Some(d);
                    if let Some(learning) = &n.learning {
                        let l = parse_window(learning, "rule.new_terms.learning", path, text)?;
                        if l.as_nanos() > d.as_nanos() {
                            return Err(error(
                                "rule.new_terms.learning",
                                Some(learning.span().start),
                                "is longer than the history window: the rule would forget what it learnt"
                                    .into(),
                            ));
                        }
                    }
                    if n.fields.is_empty() || n.fields.len() > 3 {
                        return Err(error(
                            "rule.new_terms.fields",
                            find_key(text, "fields"),
                            "1 to 3 fields".into(),
                        ));
                    }
                }
            }
            RuleType::Anomaly => {
                table("anomaly", rule.anomaly.is_some())?;
                if let Some(a) = &rule.anomaly {
                    window = Some(parse_window(&a.bucket, "rule.anomaly.bucket", path, text)?);
                    if a.min_history < 3 || a.history < a.min_history {
                        return Err(error(
                            "rule.anomaly.min_history",
                            find_key(text, "min_history"),
                            "min_history must be at least 3 and at most history".into(),
                        ));
                    }
                }
            }
            RuleType::ThreatMatch => {
                if rule.threat_mapping.is_empty() {
                    return Err(error(
                        "rule.threat_mapping",
                        None,
                        "a threat_match rule needs [[rule.threat_mapping]] entries".into(),
                    ));
                }
            }
            RuleType::Query | RuleType::Eql | RuleType::Correlation => {}
        }
        for (present, name) in [
            (
                rule.threshold.is_some() && rule.rule_type != RuleType::Threshold,
                "threshold",
            ),
            (
                rule.new_terms.is_some() && rule.rule_type != RuleType::NewTerms,
                "new_terms",
            ),
            (
                rule.anomaly.is_some() && rule.rule_type != RuleType::Anomaly,
                "anomaly",
            ),
        ] {
            if present {
                return Err(error(
                    &format!("rule.{name}"),
                    None,
                    format!(
                        "[rule.{name}] does not apply to a {:?} rule",
                        rule.rule_type
                    ),
                ));
            }
        }
        if rule.rule_type != RuleType::Correlation && rule.log_source == LogSource::default() {
            return Err(error(
                "rule.log_source",
                None,
                "the rule needs a [rule.log_source] naming a product, category or service (only \
                 correlation rules, which read other rules' matches, go without)"
                    .into(),
            ));
        }
        let correlation = match (rule.rule_type, &rule.correlation) {
            (RuleType::Correlation, Some(table)) => Some(self.correlation(path, text, table)?),
            (RuleType::Correlation, None) => {
                return Err(error(
                    "rule.correlation",
                    None,
                    "a correlation rule needs a [rule.correlation] table".into(),
                ))
            }
            (other, Some(_)) => {
                return Err(error(
                    "rule.correlation",
                    None,
                    format!(
                        "[rule.correlation] does not apply to a {} rule",
                        other.as_str()
                    ),
                ))
            }
            (_, None) => None,
        };
        Ok(CheckedRule {
            file: self,
            query,
            eql,
            sigma,
            correlation,
            window,
            version: 1,
            path: path.to_path_buf(),
        })
    }
}

impl RuleFile {
    /// The `[rule.correlation]` table as a correlation (`group_by` is Sigma's `group-by`).
    fn correlation(
        &self,
        path: &Path,
        text: &str,
        table: &toml::Table,
    ) -> Result<crate::sigma::SigmaCorrelation, RuleError> {
        use crate::sigma::{self, yaml::Yaml};
        let rule = &self.rule;
        let Yaml::Map(entries) = Yaml::from_toml(&toml::Value::Table(table.clone())) else {
            return Err(RuleError {
                file: path.to_path_buf(),
                line: key_line(text, "rules"),
                key: Some("rule.correlation".into()),
                message: "not a table".into(),
            });
        };
        let entries = entries
            .into_iter()
            .map(|(k, v)| {
                (
                    if k == "group_by" {
                        "group-by".to_string()
                    } else {
                        k
                    },
                    v,
                )
            })
            .collect();
        let meta = sigma::Meta {
            title: rule.name.clone(),
            id: Some(rule.id.clone()),
            name: Some(rule.name.clone()),
            description: Some(rule.description.clone()),
            author: Some(rule.author.join(", ")),
            ..sigma::Meta::default()
        };
        sigma::correlation_from_yaml(path, meta, &Yaml::Map(entries)).map_err(|e| {
            let key = e
                .key
                .map(|k| format!("rule.{}", k.replace("group-by", "group_by")));
            let line = key
                .as_deref()
                .and_then(|k| k.rsplit('.').next())
                .and_then(|last| key_line(text, last));
            RuleError {
                file: path.to_path_buf(),
                line,
                key,
                message: e.message,
            }
        })
    }

    /// The `[rule.detection]` table as a Sigma rule of the rule's log source, with errors located at the
    /// detection key they concern.
    fn sigma_rule(
        &self,
        path: &Path,
        text: &str,
        detection: &toml::Table,
    ) -> Result<crate::sigma::SigmaRule, RuleError> {
        use crate::sigma::{self, yaml::Yaml};
        let rule = &self.rule;
        let meta = sigma::Meta {
            title: rule.name.clone(),
            id: Some(rule.id.clone()),
            description: Some(rule.description.clone()),
            author: Some(rule.author.join(", ")),
            ..sigma::Meta::default()
        };
        let yaml = Yaml::from_toml(&toml::Value::Table(detection.clone()));
        sigma::rule_from_detection(path, meta, rule.log_source.clone(), &yaml).map_err(|e| {
            // `detection.selection.Image|endswith` -> the line of that key under [rule.detection...].
            let key = e.key.map(|k| format!("rule.{k}"));
            let line = key
                .as_deref()
                .and_then(|k| k.rsplit('.').next())
                .and_then(|last| {
                    let last = last.split('[').next().unwrap_or(last);
                    find_key(text, last)
                        .or_else(|| find_key(text, &format!("\"{last}\"")))
                        .or_else(|| find_key(text, &format!("'{last}'")))
                })
                .map(|o| line_of(text, o));
            RuleError {
                file: path.to_path_buf(),
                line,
                key,
                message: e.message,
            }
        })
    }
}

fn parse_window(
    value: &Spanned<String>,
    key: &str,
    path: &Path,
    text: &str,
) -> Result<Duration, RuleError> {
    value.get_ref().parse::<Duration>().map_err(|e| RuleError {
        file: path.to_path_buf(),
        line: Some(line_of(text, value.span().start)),
        key: Some(key.to_string()),
        message: e.to_string(),
    })
}

/// The span of a string value starts at its opening quote(s); the query text starts after them.
fn query_text_offset(text: &str, start: usize) -> usize {
    let rest = &text[start.min(text.len())..];
    let quotes = if rest.starts_with("'''") || rest.starts_with("\"\"\"") {
        3
    } else {
        1
    };
    // A multi-line string's first newline right after the quotes is not part of the value.
    let after = &rest[quotes.min(rest.len())..];
    quotes + usize::from(quotes == 3 && after.starts_with('\n'))
}

/// The 1-based line of the first `key = ...` in a rule's text, for messages about that key.
pub fn key_line(text: &str, key: &str) -> Option<usize> {
    find_key(text, key).map(|offset| line_of(text, offset))
}

fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

fn find_key(text: &str, key: &str) -> Option<usize> {
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        let trimmed = line.trim_start();
        if trimmed
            .strip_prefix(key)
            .is_some_and(|r| r.trim_start().starts_with('='))
        {
            return Some(offset + line.len() - trimmed.len());
        }
        offset += line.len();
    }
    None
}

/// `table.key` for the key at `offset`: the nearest `[table]` header above it and the key on its line
/// (`table.key.inner` inside an inline table, `key = { inner = ... }`).
fn key_at(text: &str, offset: usize) -> Option<String> {
    let before = &text[..offset.min(text.len())];
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let line = text[line_start..].lines().next().unwrap_or("");
    let key = line
        .split('=')
        .next()
        .map(str::trim)
        .filter(|k| !k.is_empty() && !k.starts_with('['))
        .map(|k| match inline_key(&before[line_start..]) {
            Some(inner) => format!("{k}.{inner}"),
            None => k.to_string(),
        });
    let table = before[..line_start]
        .lines()
        .rev()
        .map(str::trim)
        .find(|l| l.starts_with('['))
        .map(|l| l.trim_matches(['[', ']']).trim().to_string());
    match (table, key) {
        (Some(t), Some(k)) => Some(format!("{t}.{}", k.trim_matches('"'))),
        (None, Some(k)) => Some(k),
        (Some(t), None) => Some(t),
        (None, None) => None,
    }
}

/// The key inside an inline table that the end of `line` (a line up to an offset) is in, if any.
fn inline_key(line: &str) -> Option<String> {
    let (_, value) = line.split_once('=')?;
    let inner = value.trim_start().strip_prefix('{')?;
    let assignment = &inner[..inner.rfind('=')?];
    let name = assignment.rsplit(['{', ',']).next()?.trim();
    (!name.is_empty()).then(|| name.trim_matches('"').to_string())
}

#[cfg(test)]
mod tests {
    use super::Maturity;

    #[test]
    fn maturity_moves_forward_only_and_deprecated_is_final() {
        use Maturity::*;
        assert!(Development.may_become(Production));
        assert!(Beta.may_become(Beta));
        assert!(Production.may_become(Deprecated));
        assert!(!Production.may_become(Beta));
        assert!(!Experimental.may_become(Development));
        assert!(!Deprecated.may_become(Production));
        for m in Maturity::LIFECYCLE {
            assert_eq!(Maturity::from_name(m.as_str()), Some(m));
        }
        assert_eq!(Maturity::from_name("stable"), None);
    }
}

#[cfg(test)]
mod correlation_tests {
    use std::path::Path;

    const BASE: &str = r#"
[metadata]
creation_date = "2026-12-01"
updated_date = "2026-12-01"
maturity = "experimental"

[rule]
id = "5e2b7c1d-8f4a-4b3e-9c6d-0a1b2c3d4e5f"
name = "Repeated Failures"
description = "d"
author = ["secops"]
license = "Apache-2.0"
type = "correlation"
severity = "medium"
risk_score = 47

[rule.correlation]
type = "event_count"
rules = ["failure"]
group_by = ["source.ip"]
timespan = "10m"
condition = { gte = 3 }
"#;

    fn load(text: &str) -> Result<super::CheckedRule, crate::RuleError> {
        crate::load::load_text(Path::new("c.toml"), text)
    }

    #[test]
    fn correlation_rules_read_their_table_and_refuse_what_does_not_fit() {
        let rule = load(BASE).unwrap();
        let c = rule.correlation.unwrap();
        assert_eq!(
            (c.group_by.clone(), c.rules.clone()),
            (vec!["source.ip".to_string()], vec!["failure".to_string()])
        );
        assert_eq!(c.timespan.as_nanos(), 600_000_000_000);
        let e = load(&BASE.replace("type = \"event_count\"", "type = \"event_sum\"")).unwrap_err();
        assert_eq!(e.key.as_deref(), Some("rule.correlation.type"), "{e}");
        assert!(e.message.contains("event_sum"), "{e}");
        let e = load(&BASE.replace("timespan = \"10m\"\n", "")).unwrap_err();
        assert_eq!(e.key.as_deref(), Some("rule.correlation.timespan"), "{e}");
        let no_table = BASE
            .split("[rule.correlation]")
            .next()
            .unwrap_or("")
            .to_string();
        assert!(load(&no_table)
            .unwrap_err()
            .message
            .contains("needs a [rule.correlation] table"));
        let on_query = BASE.replace(
            "type = \"correlation\"",
            "type = \"query\"\nlanguage = \"kql\"\nquery = \"a:b\"\nlog_source = { product = \"linux\" }",
        );
        let e = load(&on_query).unwrap_err();
        assert_eq!(e.key.as_deref(), Some("rule.correlation"), "{e}");
        assert!(e.message.contains("does not apply to a query rule"), "{e}");
        let without_source = BASE
            .replace(
                "type = \"correlation\"",
                "type = \"query\"\nlanguage = \"kql\"\nquery = \"a:b\"",
            )
            .split("[rule.correlation]")
            .next()
            .unwrap_or("")
            .to_string();
        let e = load(&without_source).unwrap_err();
        assert_eq!(e.key.as_deref(), Some("rule.log_source"), "{e}");
    }
}
