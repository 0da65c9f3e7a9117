//! The loaded rules as an interface shows them: a line per rule (type, severity, ATT&CK ids, what
//! the field check says), the results of their embedded tests, and their ATT&CK coverage as a
//! Navigator layer.

use std::path::Path;
use std::sync::Arc;

use secops_attack::coverage::{Coverage, Layer};
use secops_attack::Catalogue;
use secops_detect::sigma::FieldCheck;
use secops_detect::RuleInfo;
use secops_event::Timestamp;
use secops_lab::testing::{run_tests_in, TestResult};

use crate::ruleset::Loaded;

/// One loaded rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleSummary {
    pub id: String,
    pub name: String,
    /// The rule's type (`query`, `threshold`, `eql`, ..., a Sigma rule's `sigma`).
    pub rule_type: String,
    pub severity: String,
    pub risk_score: u8,
    pub version: u32,
    pub techniques: Vec<String>,
    /// `proven` or `unverified` (the mapping lists no fields for some of those it needs).
    pub field_check: String,
    /// Test cases embedded in the rule (Sigma rules carry none).
    pub tests: usize,
}

/// Every loaded rule in listing order: native rules, Sigma rules, Sigma correlations.
pub fn summaries(loaded: &Loaded) -> Vec<RuleSummary> {
    let mut infos: Vec<(Arc<RuleInfo>, usize)> = Vec::new();
    infos.extend(
        loaded
            .native
            .iter()
            .map(|rule| (Arc::new(RuleInfo::of_rule(rule)), rule.file.tests.len())),
    );
    infos.extend(loaded.sigma.rules.iter().map(|info| (info.clone(), 0)));
    infos.extend(
        loaded
            .sigma
            .correlations
            .iter()
            .map(|c| (c.info.clone(), 0)),
    );
    infos
        .into_iter()
        .zip(loaded.field_checks())
        .map(|((info, tests), (_, check))| RuleSummary {
            id: info.id.clone(),
            name: info.name.clone(),
            rule_type: info.rule_type.as_str().to_string(),
            severity: info.severity.as_str().to_string(),
            risk_score: info.risk_score,
            version: info.version,
            techniques: info.techniques().iter().map(|t| t.to_string()).collect(),
            field_check: match check {
                FieldCheck::Proven => "proven",
                FieldCheck::Unverified(_) => "unverified",
            }
            .to_string(),
            tests,
        })
        .collect()
}

/// One test case's result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestCase {
    pub rule_id: String,
    pub rule: String,
    pub test: String,
    /// `passed`, `failed` or `skipped`.
    pub result: &'static str,
    /// Why it failed (expected against actual) or was skipped.
    pub details: Vec<String>,
    /// The alerts the case raised, a line each (at most ten).
    pub actual: Vec<String>,
}

/// Runs every native rule's embedded test cases. `shared` is the folder `corpus = "shared/..."`
/// paths start from; `now` decides which exceptions have expired.
pub fn test_results(loaded: &Loaded, shared: &Path, now: Timestamp) -> Vec<TestCase> {
    let mut out = Vec::new();
    for rule in &loaded.native {
        for outcome in run_tests_in(rule, &loaded.native, shared, now) {
            let (result, details) = match outcome.result {
                TestResult::Passed => ("passed", Vec::new()),
                TestResult::Failed(why) => ("failed", why),
                TestResult::Skipped(why) => ("skipped", vec![why]),
            };
            out.push(TestCase {
                rule_id: rule.file.rule.id.clone(),
                rule: outcome.rule,
                test: outcome.test,
                result,
                details,
                actual: outcome.actual.into_iter().take(10).collect(),
            });
        }
    }
    out
}

/// The rules' ATT&CK coverage as a Navigator layer (format 4.5): a technique's score is the number
/// of rules that map it.
pub fn coverage_layer(catalogue: &Catalogue, loaded: &Loaded) -> Layer {
    let coverage = Coverage::new(
        catalogue,
        secops_lab::coverage::mappings(&loaded.native, &loaded.sigma),
    );
    coverage.layer(
        "secops coverage",
        &format!(
            "ATT&CK techniques covered by {} loaded rules",
            loaded.rule_count()
        ),
    )
}

/// What an analyst reads about a rule while triaging its alerts (native rules carry it; Sigma
/// rules are known here by their id and name only).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Guide {
    pub description: String,
    /// The investigation guide (the rule's `note`).
    pub note: Option<String>,
    pub false_positives: Vec<String>,
    pub references: Vec<String>,
}

/// The guide of the loaded rule `id`, if it is a native rule.
pub fn guide(loaded: &Loaded, id: &str) -> Option<Guide> {
    loaded
        .native
        .iter()
        .map(|checked| &checked.file.rule)
        .find(|rule| rule.id == id)
        .map(|rule| Guide {
            description: rule.description.trim().to_string(),
            note: rule.note.as_ref().map(|n| n.trim().to_string()),
            false_positives: rule.false_positives.clone(),
            references: rule.references.clone(),
        })
}

/// The exceptions analysts keep in the store, added to the native rules they name (as
/// `[[exceptions]]` items of the rule, with their expiry), so detection skips such events from the
/// rules' next load. Returns how many were applied and the ids of the rules named that are not
/// loaded native rules (a Sigma rule takes its filters in its own file).
pub fn apply_exceptions(
    loaded: &mut Loaded,
    records: &[secops_store::ExceptionRecord],
) -> (usize, Vec<String>) {
    let mut applied = 0;
    let mut missing = Vec::new();
    for record in records {
        match loaded
            .native
            .iter_mut()
            .find(|checked| checked.file.rule.id == record.rule_id)
        {
            Some(checked) => {
                checked.file.rule.exceptions.push(exception_item(record));
                applied += 1;
            }
            None => {
                if !missing.contains(&record.rule_id) {
                    missing.push(record.rule_id.clone());
                }
            }
        }
    }
    (applied, missing)
}

/// A stored exception as a rule's exception item.
fn exception_item(record: &secops_store::ExceptionRecord) -> secops_rules::ExceptionItem {
    secops_rules::ExceptionItem {
        description: record.reason.clone(),
        comment: Some(comment(record)),
        expire_time: record
            .expires_at
            .map(|at| secops_event::Timestamp::from_unix_nanos(at).to_rfc3339()),
        entries: vec![secops_rules::ExceptionEntry {
            field: record.field.clone(),
            entry_type: secops_rules::ExceptionType::Match,
            operator: "included".into(),
            value: Some(toml::Value::String(record.value.clone())),
        }],
    }
}

fn comment(record: &secops_store::ExceptionRecord) -> String {
    let mut text = format!(
        "added by {} on {}",
        record.created_by,
        secops_event::Timestamp::from_unix_nanos(record.created_at).to_rfc3339()
    );
    if let Some(alert) = record.alert_id {
        text.push_str(&format!(" from alert {alert}"));
    }
    text
}

/// Stored exceptions as rule TOML: for each rule, a comment naming it and its `[[exceptions]]`
/// items, ready to paste into the rule's file (where they then travel with the rule as code).
pub fn exceptions_toml(
    records: &[secops_store::ExceptionRecord],
) -> Result<String, crate::ServiceError> {
    let mut out = String::new();
    let mut rules: Vec<&str> = records.iter().map(|r| r.rule_id.as_str()).collect();
    rules.sort_unstable();
    rules.dedup();
    for rule in rules {
        if !out.is_empty() {
            out.push('\n');
        }
        // A rule id is ours to print, but a comment line ends at a line break: keep it on one.
        let shown: String = rule.chars().filter(|c| !c.is_control()).collect();
        out.push_str(&format!("# rule {shown}\n"));
        for record in records.iter().filter(|r| r.rule_id == rule) {
            let mut item = toml::Table::new();
            item.insert("description".into(), record.reason.clone().into());
            item.insert("comment".into(), comment(record).into());
            if let Some(at) = record.expires_at {
                item.insert(
                    "expire_time".into(),
                    secops_event::Timestamp::from_unix_nanos(at)
                        .to_rfc3339()
                        .into(),
                );
            }
            let mut entry = toml::Table::new();
            entry.insert("field".into(), record.field.clone().into());
            entry.insert("type".into(), "match".into());
            entry.insert("value".into(), record.value.clone().into());
            item.insert(
                "entries".into(),
                toml::Value::Array(vec![toml::Value::Table(entry)]),
            );
            let mut document = toml::Table::new();
            document.insert(
                "exceptions".into(),
                toml::Value::Array(vec![toml::Value::Table(item)]),
            );
            out.push_str(
                &toml::to_string(&document)
                    .map_err(|e| crate::ServiceError::invalid("exception", e))?,
            );
        }
    }
    Ok(out)
}

/// A technique of the coverage matrix and how many loaded rules cover it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MatrixCell {
    pub id: String,
    pub name: String,
    pub rules: usize,
}

/// The ATT&CK matrix (tactics in order, each with its live techniques) with the number of loaded
/// rules covering each technique: what a heatmap shows.
pub fn coverage_matrix(catalogue: &Catalogue, loaded: &Loaded) -> Vec<(String, Vec<MatrixCell>)> {
    let coverage = Coverage::new(
        catalogue,
        secops_lab::coverage::mappings(&loaded.native, &loaded.sigma),
    );
    coverage
        .matrix(&[])
        .into_iter()
        .map(|(tactic, cells)| {
            (
                tactic.name.clone(),
                cells
                    .into_iter()
                    .map(|(technique, rules)| MatrixCell {
                        id: technique.id.clone(),
                        name: technique.name.clone(),
                        rules,
                    })
                    .collect(),
            )
        })
        .collect()
}
