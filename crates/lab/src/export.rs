//! `sigma export`: a native rule written as Sigma YAML, where its features allow.
//!
//! - `language = "sigma"` rules give their detection back verbatim.
//! - KQL queries and single-event EQL become search identifiers and a condition of the same boolean
//!   shape: the tests of an AND on distinct fields share one identifier, an OR of values of one field
//!   is one list. KQL's `:` is case-sensitive, so its text values carry `|cased`; EQL's `:` and `~`
//!   forms are not. Field names stay as the rule writes them (ECS): our engine reads a dotted name as
//!   the event's own field on every log source; other Sigma backends need an ECS pipeline.
//! - Exceptions become `filter_exception_N` identifiers the condition excludes.
//! - `threshold` rules become a base rule plus an `event_count` (or, with cardinality, `value_count`)
//!   correlation over the same group-by fields and window.
//!
//! What has no Sigma form is refused with the reason: EQL sequences, new_terms, anomaly and
//! threat_match rules, value functions (`length`, `entropy`), exception lists by reference and
//! `excluded` entries. Alert suppression is dropped with a note.

use std::path::Path;

use secops_detect::sigma::{self, Mapping};
use secops_rules::eql::EqlQuery;
use secops_rules::sigma::yaml::Yaml;
use secops_rules::sigma::{parse_file, Placeholders};
use secops_rules::{
    CheckedRule, CompareOp, ExceptionEntry, ExceptionType, Expr, Literal, Piece, RuleType,
};

/// A rule as Sigma.
#[derive(Debug, Clone)]
pub struct Exported {
    /// The YAML: one document, or for threshold rules the base rule and its correlation.
    pub text: String,
    /// What did not carry over.
    pub notes: Vec<String>,
}

/// Why a rule was not exported.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExportError {
    /// The rule uses something Sigma cannot say (the reason names it).
    #[error("{0}")]
    NoSigmaForm(String),
    /// The Sigma written does not load back (a bug of the export).
    #[error("the Sigma written does not load: {0}")]
    DoesNotLoad(String),
    /// The Sigma written loads but cannot run on the bundled mapping.
    #[error("the Sigma written will not run: {0}")]
    WillNotRun(String),
}

/// Writes `rule` as Sigma, and checks that what is written loads and runs as Sigma (`name` is the file
/// name it is checked under).
pub fn to_sigma_checked(rule: &CheckedRule, name: &Path) -> Result<Exported, ExportError> {
    let exported = to_sigma(rule)?;
    let documents = parse_file(name, &exported.text, &Placeholders::new())
        .map_err(|e| ExportError::DoesNotLoad(e.to_string()))?;
    if let Some(rejected) = sigma::compile(&documents, Mapping::shared_bundled())
        .rejected
        .first()
    {
        return Err(ExportError::WillNotRun(rejected.reason.clone()));
    }
    Ok(exported)
}

/// Writes `rule` as Sigma.
pub fn to_sigma(rule: &CheckedRule) -> Result<Exported, ExportError> {
    build(rule).map_err(ExportError::NoSigmaForm)
}

fn build(rule: &CheckedRule) -> Result<Exported, String> {
    let r = &rule.file.rule;
    let mut notes = Vec::new();
    let detection = match (&rule.sigma, &r.detection, &rule.query, &rule.eql) {
        (Some(_), Some(table), ..) => Yaml::from_toml(&toml::Value::Table(table.clone())),
        (_, _, Some(expr), None) => {
            let mut builder = Builder::new(true);
            let condition = builder.condition(expr)?;
            builder.finish(condition)
        }
        (_, _, None, Some(EqlQuery::Event(query))) => {
            let mut builder = Builder::new(false);
            let mut condition = builder.condition(&query.condition)?;
            if let Some(category) = &query.category {
                let id = builder
                    .identifier(vec![("event.category".into(), Yaml::Str(category.clone()))]);
                condition = format!("{id} and {}", wrap(&condition));
            }
            builder.finish(condition)
        }
        (_, _, _, Some(EqlQuery::Sequence(_))) => {
            return Err(
                "EQL sequences have no Sigma form (temporal_ordered correlations lack their \
                        join and until semantics)"
                    .into(),
            )
        }
        _ => return Err("the rule has no query to export".into()),
    };
    let detection = with_exceptions(detection, rule, &mut notes)?;
    if r.alert_suppression.is_some() {
        notes.push("alert suppression has no Sigma form: left out".into());
    }
    let base = base_document(rule, detection);
    let mut text = String::new();
    match r.rule_type {
        RuleType::Query => base.write_yaml(0, &mut text),
        RuleType::Threshold => {
            let mut base = base;
            if let Yaml::Map(entries) = &mut base {
                entries.push(("name".into(), Yaml::Str(base_name(rule))));
            }
            base.write_yaml(0, &mut text);
            text.push_str("---\n");
            threshold_document(rule)?.write_yaml(0, &mut text);
        }
        other => return Err(format!("{} rules have no Sigma form", other.as_str())),
    }
    Ok(Exported { text, notes })
}

/// The Sigma name a threshold rule's base rule gets, for its correlation to reference.
fn base_name(rule: &CheckedRule) -> String {
    format!(
        "{}_events",
        secops_rules::naming::snake_case(&rule.file.rule.name)
    )
}

fn base_document(rule: &CheckedRule, detection: Yaml) -> Yaml {
    let r = &rule.file.rule;
    let m = &rule.file.metadata;
    let text = |s: &str| Yaml::Str(s.to_string());
    let list = |items: &[String]| Yaml::Seq(items.iter().map(|s| text(s)).collect());
    let status = match m.maturity {
        secops_rules::Maturity::Production => "stable",
        secops_rules::Maturity::Beta => "test",
        secops_rules::Maturity::Deprecated => "deprecated",
        secops_rules::Maturity::Experimental | secops_rules::Maturity::Development => {
            "experimental"
        }
    };
    let level = match (r.severity, r.building_block == Some(true)) {
        (_, true) => "informational",
        (severity, false) => severity.as_str(),
    };
    let mut tags = Vec::new();
    for threat in &r.threat {
        let tactic = secops_rules::naming::snake_case(&threat.tactic.name).replace('_', "-");
        tags.push(format!("attack.{tactic}"));
        for technique in &threat.technique {
            tags.push(format!("attack.{}", technique.id.to_ascii_lowercase()));
            for sub in &technique.subtechnique {
                tags.push(format!("attack.{}", sub.id.to_ascii_lowercase()));
            }
        }
    }
    tags.dedup();
    let mut logsource = Vec::new();
    let source = &r.log_source;
    for (key, value) in [
        ("product", &source.product),
        // Our `process` category (ECS event.category) is Sigma's process_creation.
        (
            "category",
            &source.category.as_ref().map(|c| match c.as_str() {
                "process" => "process_creation".to_string(),
                other => other.to_string(),
            }),
        ),
        ("service", &source.service),
        ("definition", &source.definition),
    ] {
        if let Some(v) = value {
            logsource.push((key.to_string(), text(v)));
        }
    }
    let mut entries = vec![
        ("title".to_string(), text(&r.name)),
        ("id".to_string(), text(&r.id)),
        ("status".to_string(), text(status)),
        ("description".to_string(), text(r.description.trim())),
        ("author".to_string(), text(&r.author.join(", "))),
        ("date".to_string(), text(&m.creation_date)),
        ("modified".to_string(), text(&m.updated_date)),
        ("license".to_string(), text(&r.license)),
    ];
    if !r.references.is_empty() {
        entries.push(("references".into(), list(&r.references)));
    }
    if !tags.is_empty() {
        entries.push(("tags".into(), list(&tags)));
    }
    entries.push(("logsource".into(), Yaml::Map(logsource)));
    entries.push(("detection".into(), detection));
    if !r.false_positives.is_empty() {
        entries.push(("falsepositives".into(), list(&r.false_positives)));
    }
    entries.push(("level".into(), text(level)));
    Yaml::Map(entries)
}

fn threshold_document(rule: &CheckedRule) -> Result<Yaml, String> {
    let r = &rule.file.rule;
    let Some(t) = &r.threshold else {
        return Err("a threshold rule without [rule.threshold]".into());
    };
    if t.count_field.is_some() || t.max_interval_cv.is_some() {
        return Err("count_field and max_interval_cv have no Sigma form".into());
    }
    if t.window_mode != secops_rules::WindowMode::Sliding {
        return Err(
            "tumbling windows have no Sigma form (Sigma leaves windows to the backend)".into(),
        );
    }
    let seconds = rule
        .window
        .map(|w| w.as_nanos() / 1_000_000_000)
        .filter(|s| *s > 0)
        .ok_or("the threshold has no window of a second or more")?;
    let timespan = if seconds % 3600 == 0 {
        format!("{}h", seconds / 3600)
    } else if seconds % 60 == 0 {
        format!("{}m", seconds / 60)
    } else {
        format!("{seconds}s")
    };
    let mut correlation = vec![(
        "rules".to_string(),
        Yaml::Seq(vec![Yaml::Str(base_name(rule))]),
    )];
    if !t.field.is_empty() {
        correlation.push((
            "group-by".into(),
            Yaml::Seq(t.field.iter().map(|f| Yaml::Str(f.clone())).collect()),
        ));
    }
    correlation.push(("timespan".into(), Yaml::Str(timespan)));
    let kind =
        match t.cardinality.as_slice() {
            [] => {
                correlation.push((
                    "condition".into(),
                    Yaml::Map(vec![("gte".into(), Yaml::Int(t.value as i64))]),
                ));
                "event_count"
            }
            [one] if t.value <= 1 => {
                correlation.push((
                    "condition".into(),
                    Yaml::Map(vec![
                        ("gte".into(), Yaml::Int(one.value as i64)),
                        ("field".into(), Yaml::Str(one.field.clone())),
                    ]),
                ));
                "value_count"
            }
            _ => return Err(
                "a threshold with both an event count and cardinality, or several cardinalities, \
                 has no single Sigma correlation"
                    .into(),
            ),
        };
    correlation.insert(0, ("type".into(), Yaml::Str(kind.into())));
    let level = r.severity.as_str();
    Ok(Yaml::Map(vec![
        ("title".into(), Yaml::Str(r.name.clone())),
        ("id".into(), Yaml::Str(r.id.clone())),
        ("status".into(), Yaml::Str("experimental".into())),
        ("author".into(), Yaml::Str(r.author.join(", "))),
        ("correlation".into(), Yaml::Map(correlation)),
        ("level".into(), Yaml::Str(level.into())),
    ]))
}

/// Adds the rule's exceptions as `filter_exception_N` identifiers the condition excludes.
fn with_exceptions(
    detection: Yaml,
    rule: &CheckedRule,
    notes: &mut Vec<String>,
) -> Result<Yaml, String> {
    let r = &rule.file.rule;
    if !r.exception_lists.is_empty() {
        return Err("exception lists by reference have no Sigma form".into());
    }
    if r.exceptions.is_empty() {
        return Ok(detection);
    }
    let Yaml::Map(mut entries) = detection else {
        return Err("the detection is not a mapping".into());
    };
    let Some(position) = entries.iter().position(|(k, _)| k == "condition") else {
        return Err("the detection has no condition".into());
    };
    let condition = match &entries[position].1 {
        Yaml::Str(c) => c.clone(),
        _ => return Err("a list of conditions cannot take exceptions".into()),
    };
    let mut names = Vec::new();
    for (i, item) in r.exceptions.iter().enumerate() {
        if item.expire_time.is_some() {
            notes.push(format!(
                "exception {:?}: its expire_time has no Sigma form; it is exported without expiry",
                item.description
            ));
        }
        let map = item
            .entries
            .iter()
            .map(exception_entry)
            .collect::<Result<Vec<_>, String>>()?;
        let name = format!("filter_exception_{}", i + 1);
        entries.insert(position, (name.clone(), Yaml::Map(map)));
        names.push(name);
    }
    let excluded = if names.len() == 1 {
        names[0].clone()
    } else {
        "1 of filter_exception_*".to_string()
    };
    if let Some((_, value)) = entries.iter_mut().find(|(k, _)| k == "condition") {
        *value = Yaml::Str(format!("{} and not {excluded}", wrap(&condition)));
    }
    Ok(Yaml::Map(entries))
}

fn exception_entry(entry: &ExceptionEntry) -> Result<(String, Yaml), String> {
    if entry.operator != "included" {
        return Err(format!(
            "exception entry on {}: operator {:?} has no Sigma form",
            entry.field, entry.operator
        ));
    }
    let values = |v: &Option<toml::Value>| -> Vec<String> {
        match v {
            Some(toml::Value::Array(items)) => items.iter().map(toml_text).collect(),
            Some(other) => vec![toml_text(other)],
            None => Vec::new(),
        }
    };
    let one_or_list = |items: Vec<Yaml>| match <[Yaml; 1]>::try_from(items) {
        Ok([one]) => one,
        Err(items) => Yaml::Seq(items),
    };
    let field = &entry.field;
    Ok(match entry.entry_type {
        ExceptionType::Match | ExceptionType::MatchAny => (
            format!("{field}|cased"),
            one_or_list(
                values(&entry.value)
                    .iter()
                    .map(|v| Yaml::Str(escape(v)))
                    .collect(),
            ),
        ),
        ExceptionType::Wildcard => (
            field.clone(),
            one_or_list(values(&entry.value).into_iter().map(Yaml::Str).collect()),
        ),
        ExceptionType::Cidr => (
            format!("{field}|cidr"),
            one_or_list(values(&entry.value).into_iter().map(Yaml::Str).collect()),
        ),
        ExceptionType::Exists => (format!("{field}|exists"), Yaml::Bool(true)),
        ExceptionType::List => {
            return Err(format!(
                "exception entry on {field}: list entries have no Sigma form"
            ))
        }
    })
}

fn toml_text(value: &toml::Value) -> String {
    match value {
        toml::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Builds search identifiers (`selection_N`) and the condition over them.
struct Builder {
    identifiers: Vec<(String, Yaml)>,
    /// KQL: `:` compares case-sensitively.
    kql: bool,
}

impl Builder {
    fn new(kql: bool) -> Builder {
        Builder {
            identifiers: Vec::new(),
            kql,
        }
    }

    fn identifier(&mut self, entries: Vec<(String, Yaml)>) -> String {
        let name = format!("selection_{}", self.identifiers.len() + 1);
        self.identifiers.push((name.clone(), Yaml::Map(entries)));
        name
    }

    fn finish(self, condition: String) -> Yaml {
        let mut entries = self.identifiers;
        entries.push(("condition".into(), Yaml::Str(condition)));
        Yaml::Map(entries)
    }

    /// The condition text for `expr`, adding the identifiers it uses.
    fn condition(&mut self, expr: &Expr) -> Result<String, String> {
        match expr {
            Expr::And(items) => {
                // Leaf tests on distinct fields share one identifier (a map is an AND).
                let mut merged: Vec<(String, Yaml)> = Vec::new();
                let mut parts = Vec::new();
                for item in items {
                    match self.leaf(item)? {
                        Some((key, value)) if !merged.iter().any(|(k, _)| *k == key) => {
                            merged.push((key, value))
                        }
                        _ => parts.push(wrap(&self.condition(item)?)),
                    }
                }
                if !merged.is_empty() {
                    parts.insert(0, self.identifier(merged));
                }
                Ok(parts.join(" and "))
            }
            Expr::Or(items) => {
                // Values of one field under one modifier form one list (a list is an OR).
                let mut groups: Vec<(String, Vec<Yaml>)> = Vec::new();
                let mut parts = Vec::new();
                for item in items {
                    match self.leaf(item)? {
                        Some((key, value)) if !matches!(value, Yaml::Bool(_)) => {
                            match groups.iter_mut().find(|(k, _)| *k == key) {
                                Some((_, values)) => values.push(value),
                                None => groups.push((key, vec![value])),
                            }
                        }
                        _ => parts.push(wrap(&self.condition(item)?)),
                    }
                }
                let mut names: Vec<String> = groups
                    .into_iter()
                    .map(|(key, mut values)| {
                        let value = if values.len() == 1 {
                            values.remove(0)
                        } else {
                            Yaml::Seq(values)
                        };
                        self.identifier(vec![(key, value)])
                    })
                    .collect();
                names.append(&mut parts);
                Ok(names.join(" or "))
            }
            Expr::Not(inner) => Ok(format!("not {}", wrap(&self.condition(inner)?))),
            leaf => match self.leaf(leaf)? {
                Some(entry) => Ok(self.identifier(vec![entry])),
                None => Err("an empty condition".into()),
            },
        }
    }

    /// A field test as one `field|modifiers: value` entry; `None` for and/or/not.
    fn leaf(&self, expr: &Expr) -> Result<Option<(String, Yaml)>, String> {
        let (field, op, literal) = match expr {
            Expr::Exists { field } => {
                plain_field(field)?;
                return Ok(Some((format!("{}|exists", field.path), Yaml::Bool(true))));
            }
            Expr::Compare { field, op, value } => (field, op, value),
            _ => return Ok(None),
        };
        plain_field(field)?;
        let path = &field.path;
        let cased = |key: String, ci: bool| if ci { key } else { format!("{key}|cased") };
        Ok(Some(match op {
            CompareOp::Match => {
                if let Some(pieces) = &literal.wildcard {
                    (cased(path.clone(), !self.kql), Yaml::Str(pattern(pieces)))
                } else if is_cidr(&literal.text) && !literal.quoted {
                    (format!("{path}|cidr"), Yaml::Str(literal.text.clone()))
                } else if let Some(scalar) = typed(literal) {
                    (path.clone(), scalar)
                } else {
                    (
                        cased(path.clone(), !self.kql),
                        Yaml::Str(escape(&literal.text)),
                    )
                }
            }
            CompareOp::Equals { case_insensitive } => match typed(literal) {
                Some(scalar) => (path.clone(), scalar),
                None => (
                    cased(path.clone(), *case_insensitive),
                    Yaml::Str(escape(&literal.text)),
                ),
            },
            CompareOp::Like { case_insensitive } => {
                let pieces = literal
                    .wildcard
                    .clone()
                    .unwrap_or_else(|| Piece::parse(&literal.text));
                (
                    cased(path.clone(), *case_insensitive),
                    Yaml::Str(pattern(&pieces)),
                )
            }
            CompareOp::StartsWith { case_insensitive } => (
                cased(format!("{path}|startswith"), *case_insensitive),
                Yaml::Str(escape(&literal.text)),
            ),
            CompareOp::EndsWith { case_insensitive } => (
                cased(format!("{path}|endswith"), *case_insensitive),
                Yaml::Str(escape(&literal.text)),
            ),
            CompareOp::Contains { case_insensitive } => (
                cased(format!("{path}|contains"), *case_insensitive),
                Yaml::Str(escape(&literal.text)),
            ),
            CompareOp::InCidr => (format!("{path}|cidr"), Yaml::Str(literal.text.clone())),
            CompareOp::Lt | CompareOp::Le | CompareOp::Gt | CompareOp::Ge => {
                let modifier = match op {
                    CompareOp::Lt => "lt",
                    CompareOp::Le => "lte",
                    CompareOp::Gt => "gt",
                    _ => "gte",
                };
                let number = match literal.text.parse::<i64>() {
                    Ok(i) => Yaml::Int(i),
                    Err(_) => Yaml::Float(literal.text.parse::<f64>().map_err(|_| {
                        format!(
                            "{path}: {:?} is not a number (Sigma compares numbers only)",
                            literal.text
                        )
                    })?),
                };
                (format!("{path}|{modifier}"), number)
            }
        }))
    }
}

fn plain_field(field: &secops_rules::Field) -> Result<(), String> {
    match field.function {
        Some(f) => Err(format!(
            "{}: the value function {f:?} has no Sigma form",
            field.path
        )),
        None => Ok(()),
    }
}

/// Unquoted numbers and booleans keep their type.
fn typed(literal: &Literal) -> Option<Yaml> {
    if literal.quoted {
        return None;
    }
    if let Ok(i) = literal.text.parse::<i64>() {
        return Some(Yaml::Int(i));
    }
    match literal.text.as_str() {
        "true" => Some(Yaml::Bool(true)),
        "false" => Some(Yaml::Bool(false)),
        _ => None,
    }
}

fn is_cidr(text: &str) -> bool {
    text.split_once('/').is_some_and(|(ip, bits)| {
        ip.parse::<std::net::IpAddr>().is_ok() && bits.parse::<u8>().is_ok()
    })
}

/// Literal text as a Sigma value: `*` and `?` escaped, and a backslash doubled where Sigma would read
/// it as an escape (before `*`, `?`, `\` or at the end).
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let chars: Vec<char> = text.chars().collect();
    for (i, &c) in chars.iter().enumerate() {
        match c {
            '*' | '?' => {
                out.push('\\');
                out.push(c);
            }
            '\\' => {
                out.push('\\');
                if matches!(chars.get(i + 1), None | Some('*' | '?' | '\\')) {
                    out.push('\\');
                }
            }
            c => out.push(c),
        }
    }
    out
}

fn pattern(pieces: &[Piece]) -> String {
    pieces
        .iter()
        .map(|p| match p {
            Piece::Text(t) => escape(t),
            Piece::Any => "*".into(),
            Piece::One => "?".into(),
        })
        .collect()
}

/// Parenthesizes a condition unless it is one identifier or already one parenthesized group.
fn wrap(condition: &str) -> String {
    if !condition.contains(' ') || encloses(condition) {
        condition.to_string()
    } else {
        format!("({condition})")
    }
}

/// Whether the condition's first `(` closes at its last character.
fn encloses(condition: &str) -> bool {
    if !condition.starts_with('(') {
        return false;
    }
    let mut depth = 0usize;
    for (i, c) in condition.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    return i == condition.len() - 1;
                }
            }
            _ => {}
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literal_text_escapes_only_what_sigma_would_read() {
        assert_eq!(escape(r"C:\Windows\cmd.exe"), r"C:\Windows\cmd.exe");
        assert_eq!(escape(r"C:\Windows\"), r"C:\Windows\\");
        assert_eq!(escape(r"a*b?c\*"), r"a\*b\?c\\\*");
    }

    #[test]
    fn conditions_are_wrapped_unless_one_group() {
        assert_eq!(wrap("selection_1"), "selection_1");
        assert_eq!(wrap("(a or b)"), "(a or b)");
        assert_eq!(wrap("(a) and (b)"), "((a) and (b))");
        assert_eq!(wrap("a or b"), "(a or b)");
    }
}
