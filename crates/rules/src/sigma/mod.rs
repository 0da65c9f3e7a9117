//! Sigma rules as they are published: YAML files (one or several documents) holding detection rules and
//! correlation rules, read into a typed AST ([`SigmaRule`], [`SigmaCorrelation`]).
//!
//! Semantics follow the Sigma specification 2.1 (shared/reference/detection-as-code.md section 2): search
//! identifiers are maps (AND of items), lists of maps (OR) or keyword lists; values are case-insensitive
//! wildcard patterns unless a modifier says otherwise ([`value`]); the condition is a boolean expression
//! over identifiers ([`condition`]). A rule that cannot run exactly as written is rejected with the file,
//! the document and the reason ([`SigmaError`]), never loaded half-way: legacy aggregations, `near`,
//! unknown modifiers, unresolved placeholders, invalid regular expressions, `status: unsupported`.

pub mod condition;
pub mod tags;
pub mod value;
pub mod yaml;

use std::fmt;
use std::path::{Path, PathBuf};

use crate::{Duration, LogSource, SIGMA_UNITS};
pub use condition::Condition;
pub use value::{Item, Pattern, Placeholders, Position, TimePart, ValueTest};
use yaml::Yaml;

/// Why a Sigma file (or one of its documents) was not loaded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SigmaError {
    pub file: PathBuf,
    /// 1-based document number in a multi-document file.
    pub document: Option<usize>,
    /// Where in the document (`detection.selection.Image|endswith`).
    pub key: Option<String>,
    /// 1-based line and column in the file, where known (the token at fault in a condition).
    pub line: Option<usize>,
    pub column: Option<usize>,
    pub message: String,
}

impl SigmaError {
    /// An error about the file as a whole (unreadable, not YAML).
    pub fn of_file(file: &Path, message: String) -> SigmaError {
        SigmaError {
            file: file.to_path_buf(),
            document: None,
            key: None,
            line: None,
            column: None,
            message,
        }
    }
}

impl fmt::Display for SigmaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(document) = self.document {
            write!(f, ": document {document}")?;
        }
        if let Some(key) = &self.key {
            write!(f, ": {key}")?;
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for SigmaError {}

/// What every Sigma document may describe about itself.
#[derive(Debug, Clone, Default)]
pub struct Meta {
    pub title: String,
    pub id: Option<String>,
    pub name: Option<String>,
    pub status: Option<String>,
    pub level: Option<String>,
    pub description: Option<String>,
    pub author: Option<String>,
    pub date: Option<String>,
    pub modified: Option<String>,
    pub license: Option<String>,
    pub tags: Vec<String>,
    pub references: Vec<String>,
    pub falsepositives: Vec<String>,
    /// How the rule's repeated alerts fold into one (`alert_aggregation`, a custom attribute as the
    /// specification allows them); none: the run's default.
    pub aggregation: Option<crate::AlertAggregation>,
}

impl Meta {
    /// The authors, split at commas (the Detection Rule License requires them with every match).
    pub fn authors(&self) -> Vec<String> {
        self.author
            .as_deref()
            .map(|a| {
                a.split(',')
                    .map(|s| s.trim().to_string())
                    .filter(|s| !s.is_empty())
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// A Sigma detection rule.
#[derive(Debug, Clone)]
pub struct SigmaRule {
    pub file: PathBuf,
    pub meta: Meta,
    pub logsource: LogSource,
    /// Search identifiers in file order, and what each searches for.
    pub identifiers: Vec<String>,
    pub searches: Vec<Search>,
    pub condition: Condition,
    pub fields: Vec<String>,
}

/// A search identifier: an OR of groups, each an AND of items (a map is one group; a list of maps
/// several; a keyword list one group holding one field-less item).
#[derive(Debug, Clone)]
pub struct Search {
    pub groups: Vec<Vec<Item>>,
}

/// A Sigma correlation rule over the matches of other rules.
#[derive(Debug, Clone)]
pub struct SigmaCorrelation {
    pub file: PathBuf,
    pub meta: Meta,
    pub kind: CorrelationType,
    /// Referenced rules, by id or name, in order (the order matters for `temporal_ordered`).
    pub rules: Vec<String>,
    pub group_by: Vec<String>,
    pub timespan: Duration,
    /// Bounds the aggregate must meet (all of them); empty for temporal types, where every rule must match.
    pub condition: Vec<(CompareTo, f64)>,
    /// The field aggregated by `value_*` types.
    pub field: Option<String>,
    /// `value_percentile`: which percentile (0-100).
    pub percentile: Option<f64>,
    /// Group-by names standing for differently named fields per rule: alias -> [(rule, field)].
    pub aliases: Vec<(String, Vec<(String, String)>)>,
    /// Whether the referenced rules also alert on their own.
    pub generate: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CorrelationType {
    EventCount,
    ValueCount,
    Temporal,
    TemporalOrdered,
    ValueSum,
    ValueAvg,
    ValuePercentile,
}

impl CorrelationType {
    pub fn as_str(self) -> &'static str {
        match self {
            CorrelationType::EventCount => "event_count",
            CorrelationType::ValueCount => "value_count",
            CorrelationType::Temporal => "temporal",
            CorrelationType::TemporalOrdered => "temporal_ordered",
            CorrelationType::ValueSum => "value_sum",
            CorrelationType::ValueAvg => "value_avg",
            CorrelationType::ValuePercentile => "value_percentile",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompareTo {
    Gt,
    Gte,
    Lt,
    Lte,
    Eq,
    Neq,
}

impl CompareTo {
    pub fn holds(self, value: f64, bound: f64) -> bool {
        match self {
            CompareTo::Gt => value > bound,
            CompareTo::Gte => value >= bound,
            CompareTo::Lt => value < bound,
            CompareTo::Lte => value <= bound,
            CompareTo::Eq => value == bound,
            CompareTo::Neq => value != bound,
        }
    }
}

/// One document of a Sigma file.
#[derive(Debug, Clone)]
pub enum SigmaDocument {
    Rule(SigmaRule),
    Correlation(SigmaCorrelation),
}

impl SigmaDocument {
    pub fn meta(&self) -> &Meta {
        match self {
            SigmaDocument::Rule(r) => &r.meta,
            SigmaDocument::Correlation(c) => &c.meta,
        }
    }

    pub fn file(&self) -> &Path {
        match self {
            SigmaDocument::Rule(r) => &r.file,
            SigmaDocument::Correlation(c) => &c.file,
        }
    }
}

/// Parses a Sigma file. The file is one unit: if any document cannot be loaded, none is (a correlation
/// without its rules, or half of an old rule collection, would change what the file means).
pub fn parse_file(
    path: &Path,
    text: &str,
    placeholders: &Placeholders,
) -> Result<Vec<SigmaDocument>, SigmaError> {
    let documents =
        yaml::parse_documents(text).map_err(|e| SigmaError::of_file(path, e.to_string()))?;
    if documents.is_empty() {
        return Err(SigmaError::of_file(
            path,
            "no YAML document in the file".into(),
        ));
    }
    let several = documents.len() > 1;
    let mut out = Vec::with_capacity(documents.len());
    for (index, document) in documents.iter().enumerate() {
        let number = several.then_some(index + 1);
        let parsed = parse_document(path, document, placeholders).map_err(|(key, message)| {
            let (line, column) = if key.as_deref() == Some("detection.condition") {
                condition_position(text, index, document).unzip()
            } else {
                (None, None)
            };
            SigmaError {
                file: path.to_path_buf(),
                document: number,
                key,
                line,
                column,
                message,
            }
        })?;
        out.push(parsed);
    }
    Ok(out)
}

/// Where in the file the token at fault in document `index`'s condition stands (1-based line and
/// column), when the condition is a one-line scalar after `condition:`.
fn condition_position(text: &str, index: usize, document: &Yaml) -> Option<(usize, usize)> {
    let condition = document.get("detection")?.get("condition")?.as_str()?;
    let identifiers: Vec<String> = match document.get("detection")? {
        Yaml::Map(entries) => entries
            .iter()
            .filter(|(k, _)| k != "condition")
            .map(|(k, _)| k.clone())
            .collect(),
        _ => return None,
    };
    let error = condition::parse(condition, &identifiers).err()?;
    // The document's lines: documents are separated by `---` lines.
    let mut document_number = 0;
    let mut seen_content = false;
    for (number, line) in text.lines().enumerate() {
        if line.trim_end() == "---" {
            if seen_content {
                document_number += 1;
            }
            continue;
        }
        seen_content |= !line.trim().is_empty() && !line.trim_start().starts_with('#');
        if document_number != index || !line.starts_with([' ', '\t']) {
            continue;
        }
        let Some(value) = line.trim_start().strip_prefix("condition:") else {
            continue;
        };
        let value_start = line.len() - value.trim_start().len();
        let quoted = value.trim_start().starts_with(['\'', '"']);
        let start = value_start + usize::from(quoted);
        if !line[start..].starts_with(condition) {
            return Some((number + 1, value_start + 1));
        }
        let column = line[..start + error.span.start].chars().count() + 1;
        return Some((number + 1, column));
    }
    None
}

type DocError = (Option<String>, String);

fn at(key: &str) -> impl Fn(String) -> DocError + '_ {
    move |message| (Some(key.to_string()), message)
}

fn parse_document(
    path: &Path,
    document: &Yaml,
    placeholders: &Placeholders,
) -> Result<SigmaDocument, DocError> {
    if !matches!(document, Yaml::Map(_)) {
        return Err((
            None,
            format!("the document is {}, not a mapping", document.kind()),
        ));
    }
    if document.get("action").is_some() {
        return Err((
            Some("action".into()),
            "Sigma 1 rule collections ('action: global/reset/repeat') are not supported".into(),
        ));
    }
    let meta = parse_meta(document)?;
    if meta.status.as_deref() == Some("unsupported") {
        return Err((
            Some("status".into()),
            "status 'unsupported': the rule's authors mark it as not runnable by Sigma backends"
                .into(),
        ));
    }
    if let Some(correlation) = document.get("correlation") {
        return parse_correlation(path, meta, correlation, document)
            .map(SigmaDocument::Correlation);
    }
    if document.get("filter").is_some() {
        return Err((
            Some("filter".into()),
            "Sigma meta-filters are not supported yet; express the exclusion as an exception"
                .into(),
        ));
    }
    let logsource = match document.get("logsource") {
        Some(Yaml::Map(entries)) => {
            let text = |key: &str| -> Result<Option<String>, DocError> {
                match entries.iter().find(|(k, _)| k == key).map(|(_, v)| v) {
                    None | Some(Yaml::Null) => Ok(None),
                    Some(v) => v
                        .scalar_text()
                        .map(|s| Some(s.to_ascii_lowercase()))
                        .ok_or_else(|| (Some(format!("logsource.{key}")), "not a scalar".into())),
                }
            };
            LogSource {
                product: text("product")?,
                category: text("category")?,
                service: text("service")?,
                definition: text("definition")?,
            }
        }
        Some(other) => {
            return Err((
                Some("logsource".into()),
                format!("is {}, not a mapping", other.kind()),
            ))
        }
        None => return Err((Some("logsource".into()), "missing (required)".into())),
    };
    let Some(detection) = document.get("detection") else {
        return Err((Some("detection".into()), "missing (required)".into()));
    };
    let fields = string_list(document, "fields")?;
    detection_rule(path, meta, logsource, detection, placeholders, fields).map(SigmaDocument::Rule)
}

/// A rule from a detection written elsewhere than a Sigma file (a native rule's `[rule.detection]`,
/// `language = "sigma"`): the same identifiers, modifiers and condition, checked the same way.
pub fn rule_from_detection(
    path: &Path,
    meta: Meta,
    logsource: LogSource,
    detection: &Yaml,
) -> Result<SigmaRule, SigmaError> {
    detection_rule(
        path,
        meta,
        logsource,
        detection,
        &Placeholders::new(),
        Vec::new(),
    )
    .map_err(|(key, message)| SigmaError {
        file: path.to_path_buf(),
        document: None,
        key,
        line: None,
        column: None,
        message,
    })
}

fn detection_rule(
    path: &Path,
    meta: Meta,
    logsource: LogSource,
    detection: &Yaml,
    placeholders: &Placeholders,
    fields: Vec<String>,
) -> Result<SigmaRule, DocError> {
    let (identifiers, searches, condition) = parse_detection(detection, placeholders)?;
    Ok(SigmaRule {
        file: path.to_path_buf(),
        meta,
        logsource,
        identifiers,
        searches,
        condition,
        fields,
    })
}

/// The `detection` mapping: search identifiers in order, what each searches for, and the condition.
fn parse_detection(
    detection: &Yaml,
    placeholders: &Placeholders,
) -> Result<(Vec<String>, Vec<Search>, Condition), DocError> {
    let Yaml::Map(detection) = detection else {
        return Err((
            Some("detection".into()),
            format!("is {}, not a mapping", detection.kind()),
        ));
    };
    let mut identifiers = Vec::new();
    let mut searches = Vec::new();
    let mut condition_text = None;
    for (name, value) in detection {
        match name.as_str() {
            "condition" => condition_text = Some(value),
            "timeframe" => {
                return Err((
                    Some("detection.timeframe".into()),
                    "legacy 'timeframe' belongs to aggregations; Sigma 2 uses correlation rules"
                        .into(),
                ))
            }
            _ => {
                let key = format!("detection.{name}");
                let search = parse_search(value, placeholders, &key)?;
                identifiers.push(name.clone());
                searches.push(search);
            }
        }
    }
    let condition = match condition_text {
        Some(Yaml::Str(text)) => condition::parse(text, &identifiers).map_err(|e| e.message),
        // A list of conditions is their OR.
        Some(Yaml::Seq(items)) if !items.is_empty() => items
            .iter()
            .map(|item| match item {
                Yaml::Str(text) => condition::parse(text, &identifiers).map_err(|e| e.message),
                other => Err(format!("a condition is {}", other.kind())),
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Condition::Or),
        Some(other) => Err(format!("is {}, not a string", other.kind())),
        None => Err("missing (required)".into()),
    }
    .map_err(at("detection.condition"))?;
    Ok((identifiers, searches, condition))
}

fn parse_search(value: &Yaml, placeholders: &Placeholders, key: &str) -> Result<Search, DocError> {
    let map_group = |entries: &[(String, Yaml)], key: &str| -> Result<Vec<Item>, DocError> {
        if entries.is_empty() {
            return Err((Some(key.to_string()), "an empty mapping".into()));
        }
        entries
            .iter()
            .map(|(field, value)| {
                let key = format!("{key}.{field}");
                Item::parse(Some(field), value, placeholders).map_err(|e| at(&key)(e.0))
            })
            .collect()
    };
    let groups = match value {
        Yaml::Map(entries) => vec![map_group(entries, key)?],
        Yaml::Seq(items) if items.is_empty() => {
            return Err((Some(key.to_string()), "an empty list".into()))
        }
        Yaml::Seq(items) => {
            let mut groups = Vec::new();
            let mut keywords = Vec::new();
            for (i, item) in items.iter().enumerate() {
                match item {
                    Yaml::Map(entries) => groups.push(map_group(entries, &format!("{key}[{i}]"))?),
                    Yaml::Seq(_) => {
                        return Err((Some(format!("{key}[{i}]")), "a nested list".into()))
                    }
                    scalar => keywords.push(scalar.clone()),
                }
            }
            if !keywords.is_empty() {
                let item = Item::parse(None, &Yaml::Seq(keywords), placeholders)
                    .map_err(|e| at(key)(e.0))?;
                groups.push(vec![item]);
            }
            groups
        }
        scalar @ (Yaml::Str(_) | Yaml::Int(_) | Yaml::Float(_) | Yaml::Bool(_)) => {
            vec![vec![
                Item::parse(None, scalar, placeholders).map_err(|e| at(key)(e.0))?
            ]]
        }
        Yaml::Null => return Err((Some(key.to_string()), "empty (null)".into())),
    };
    Ok(Search { groups })
}

fn parse_meta(document: &Yaml) -> Result<Meta, DocError> {
    let text = |key: &str| -> Result<Option<String>, DocError> {
        match document.get(key) {
            None | Some(Yaml::Null) => Ok(None),
            Some(v) => v
                .scalar_text()
                .map(Some)
                .ok_or_else(|| (Some(key.to_string()), format!("is {}, not text", v.kind()))),
        }
    };
    let title = text("title")?.ok_or((Some("title".into()), "missing (required)".into()))?;
    let level = text("level")?.map(|l| l.to_ascii_lowercase());
    if let Some(level) = &level {
        if !["informational", "low", "medium", "high", "critical"].contains(&level.as_str()) {
            return Err((
                Some("level".into()),
                format!("'{level}' is not one of informational, low, medium, high, critical"),
            ));
        }
    }
    Ok(Meta {
        title,
        id: text("id")?,
        name: text("name")?,
        status: text("status")?.map(|s| s.to_ascii_lowercase()),
        level,
        description: text("description")?,
        author: text("author")?,
        date: text("date")?,
        modified: text("modified")?,
        license: text("license")?,
        tags: string_list(document, "tags")?,
        references: string_list(document, "references")?,
        falsepositives: string_list(document, "falsepositives")?,
        aggregation: parse_aggregation(document)?,
    })
}

/// `alert_aggregation: none` (every match its own alert), or `alert_aggregation: {by: [FIELD, ...],
/// window: 30m}` (matches with the same values of the fields within the window fold into one alert;
/// without `window`, the run's).
fn parse_aggregation(document: &Yaml) -> Result<Option<crate::AlertAggregation>, DocError> {
    const KEY: &str = "alert_aggregation";
    let value = match document.get(KEY) {
        None | Some(Yaml::Null) => return Ok(None),
        Some(value) => value,
    };
    if let Some(text) = value.scalar_text() {
        return match text.as_str() {
            "none" => Ok(Some(crate::AlertAggregation::PerEvent)),
            other => Err((
                Some(KEY.into()),
                format!("'{other}': use 'none' or a mapping with 'by' and 'window'"),
            )),
        };
    }
    let Yaml::Map(entries) = value else {
        return Err((
            Some(KEY.into()),
            format!("is {}, not a mapping", value.kind()),
        ));
    };
    let mut fields = Vec::new();
    let mut window = None;
    for (key, value) in entries {
        match key.as_str() {
            "by" => fields = strings(Some(value), &format!("{KEY}.by"))?,
            "window" => {
                let text = value
                    .scalar_text()
                    .ok_or_else(|| (Some(format!("{KEY}.window")), "not a timespan".to_string()))?;
                window = Some(
                    crate::Duration::parse_in(&text, crate::SIGMA_UNITS)
                        .map_err(|e| (Some(format!("{KEY}.window")), e.to_string()))?,
                );
            }
            other => {
                return Err((
                    Some(format!("{KEY}.{other}")),
                    "unknown key: use 'by' and 'window'".into(),
                ))
            }
        }
    }
    if fields.is_empty() {
        return Err((
            Some(format!("{KEY}.by")),
            "missing: the fields whose values make one entity".into(),
        ));
    }
    Ok(Some(crate::AlertAggregation::By { fields, window }))
}

fn string_list(document: &Yaml, key: &str) -> Result<Vec<String>, DocError> {
    strings(document.get(key), key)
}

/// A scalar or a list of scalars as strings; `key` names it in errors.
fn strings(value: Option<&Yaml>, key: &str) -> Result<Vec<String>, DocError> {
    match value {
        None | Some(Yaml::Null) => Ok(Vec::new()),
        Some(Yaml::Seq(items)) => items
            .iter()
            .filter(|i| !matches!(i, Yaml::Null))
            .map(|i| {
                i.scalar_text()
                    .ok_or_else(|| (Some(key.to_string()), format!("holds {}", i.kind())))
            })
            .collect(),
        Some(other) => other
            .scalar_text()
            .map(|s| vec![s])
            .ok_or_else(|| (Some(key.to_string()), format!("is {}", other.kind()))),
    }
}

/// A correlation written elsewhere than a Sigma file (a native rule's `[rule.correlation]`): the same
/// keys as a Sigma `correlation` section, checked the same way.
pub fn correlation_from_yaml(
    path: &Path,
    meta: Meta,
    correlation: &Yaml,
) -> Result<SigmaCorrelation, SigmaError> {
    parse_correlation(path, meta, correlation, &Yaml::Map(Vec::new())).map_err(|(key, message)| {
        SigmaError {
            file: path.to_path_buf(),
            document: None,
            key,
            line: None,
            column: None,
            message,
        }
    })
}

fn parse_correlation(
    path: &Path,
    meta: Meta,
    correlation: &Yaml,
    document: &Yaml,
) -> Result<SigmaCorrelation, DocError> {
    let key = |k: &str| format!("correlation.{k}");
    let kind = match correlation.get("type").and_then(Yaml::as_str) {
        Some("event_count") => CorrelationType::EventCount,
        Some("value_count") => CorrelationType::ValueCount,
        Some("temporal") => CorrelationType::Temporal,
        Some("temporal_ordered") => CorrelationType::TemporalOrdered,
        Some("value_sum") => CorrelationType::ValueSum,
        Some("value_avg") => CorrelationType::ValueAvg,
        Some("value_percentile") => CorrelationType::ValuePercentile,
        Some(other) => {
            return Err((
                Some(key("type")),
                format!("unknown correlation type '{other}'"),
            ))
        }
        None => return Err((Some(key("type")), "missing (required)".into())),
    };
    let rules = string_list(correlation, "rules").map_err(|(_, m)| (Some(key("rules")), m))?;
    if rules.is_empty() {
        return Err((Some(key("rules")), "missing or empty (required)".into()));
    }
    let group_by =
        string_list(correlation, "group-by").map_err(|(_, m)| (Some(key("group-by")), m))?;
    let timespan_text = correlation
        .get("timespan")
        .and_then(Yaml::scalar_text)
        .ok_or((Some(key("timespan")), "missing (required)".to_string()))?;
    let timespan = parse_timespan(&timespan_text).map_err(at(&key("timespan")))?;
    let mut condition = Vec::new();
    let mut field = None;
    let mut percentile = None;
    match correlation.get("condition") {
        None | Some(Yaml::Null) => {}
        Some(Yaml::Map(entries)) => {
            for (op, value) in entries {
                let number = || -> Result<f64, DocError> {
                    match value {
                        Yaml::Int(i) => Ok(*i as f64),
                        Yaml::Float(f) => Ok(*f),
                        other => Err((
                            Some(format!("correlation.condition.{op}")),
                            format!("is {}, not a number", other.kind()),
                        )),
                    }
                };
                let compare = match op.as_str() {
                    "gt" => CompareTo::Gt,
                    "gte" => CompareTo::Gte,
                    "lt" => CompareTo::Lt,
                    "lte" => CompareTo::Lte,
                    "eq" => CompareTo::Eq,
                    "neq" => CompareTo::Neq,
                    "field" => {
                        field = value.scalar_text();
                        continue;
                    }
                    "percentile" => {
                        percentile = Some(number()?);
                        continue;
                    }
                    other => {
                        return Err((
                            Some(key("condition")),
                            format!(
                                "unknown operator '{other}' (gt, gte, lt, lte, eq, neq, field)"
                            ),
                        ))
                    }
                };
                condition.push((compare, number()?));
            }
        }
        Some(other) => {
            return Err((
                Some(key("condition")),
                format!("is {}, not a mapping", other.kind()),
            ))
        }
    }
    let temporal = matches!(
        kind,
        CorrelationType::Temporal | CorrelationType::TemporalOrdered
    );
    if !temporal && condition.is_empty() {
        return Err((
            Some(key("condition")),
            format!(
                "{} needs a condition (gt, gte, lt, lte, eq, neq)",
                kind.as_str()
            ),
        ));
    }
    let needs_field = matches!(
        kind,
        CorrelationType::ValueCount
            | CorrelationType::ValueSum
            | CorrelationType::ValueAvg
            | CorrelationType::ValuePercentile
    );
    if needs_field && field.is_none() {
        return Err((
            Some(key("condition.field")),
            format!("{} needs the field to aggregate", kind.as_str()),
        ));
    }
    if let Some(p) = percentile {
        if !(0.0..=100.0).contains(&p) {
            return Err((
                Some(key("condition.percentile")),
                "must be between 0 and 100".into(),
            ));
        }
    }
    let mut aliases = Vec::new();
    match correlation.get("aliases") {
        None | Some(Yaml::Null) => {}
        Some(Yaml::Map(entries)) => {
            for (alias, mapping) in entries {
                let Yaml::Map(per_rule) = mapping else {
                    return Err((
                        Some(format!("correlation.aliases.{alias}")),
                        "not a mapping of rule to field".into(),
                    ));
                };
                let pairs = per_rule
                    .iter()
                    .map(|(rule, field)| {
                        field.scalar_text().map(|f| (rule.clone(), f)).ok_or((
                            Some(format!("correlation.aliases.{alias}.{rule}")),
                            "not a field name".to_string(),
                        ))
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                aliases.push((alias.clone(), pairs));
            }
        }
        Some(other) => {
            return Err((
                Some(key("aliases")),
                format!("is {}, not a mapping", other.kind()),
            ))
        }
    }
    let generate = match correlation
        .get("generate")
        .or_else(|| document.get("generate"))
    {
        None | Some(Yaml::Null) => false,
        Some(Yaml::Bool(b)) => *b,
        Some(other) => {
            return Err((
                Some(key("generate")),
                format!("is {}, not true or false", other.kind()),
            ))
        }
    };
    Ok(SigmaCorrelation {
        file: path.to_path_buf(),
        meta,
        kind,
        rules,
        group_by,
        timespan,
        condition,
        field,
        percentile,
        aliases,
        generate,
    })
}

/// A Sigma timespan (`10m`, `1M`), at most a hundred years.
fn parse_timespan(text: &str) -> Result<Duration, String> {
    let span = Duration::parse_in(text, SIGMA_UNITS).map_err(|e| e.to_string())?;
    if span > Duration::from_secs(100 * 365 * 86_400) {
        return Err(format!("{:?} is too long", text.trim()));
    }
    Ok(span)
}
