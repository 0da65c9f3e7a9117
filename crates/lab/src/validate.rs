//! `rules validate`: the checks of detection-as-code.md section 6.11 over TOML rule files, each finding
//! with its file, line, check and a message a rule author can act on.
//!
//! Per rule: the schema (unknown keys rejected) and queries (through loading), the id's form, the file
//! name and its primary-tactic prefix, building blocks in their folder, dates, the risk band (loading),
//! the `Tactic:` tag, ATT&CK ids against the loaded release (existence, revocation, deprecation, the
//! technique's tactic, duplicate tactics, coverage ids), exceptions (entries, expiry), the test cases a
//! maturity requires, benign cases' reasons, every case run, and the version lock (a changed rule bumps
//! `updated_date`, keeps its type, is not demoted). Across rules: unique ids and names, locked rules
//! present.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use secops_attack::{Catalogue, Mapping};
use secops_event::{Event, Object, Timestamp, Value};
use secops_rules::eql::EqlQuery;
use secops_rules::lock::{rule_hash, Lock};
use secops_rules::Expr;
use secops_rules::{
    key_line, CheckedRule, ExceptionType, Expectation, Maturity, RuleFile, RuleTest, RuleType,
};

use crate::testing::{run_tests_in, TestResult};
use secops_detect::matcher::Cidr;
use secops_detect::LogSourceFilter;
use secops_rules::naming::{is_uuid, snake_case};

/// How bad a finding is: errors fail validation, warnings do not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Warning,
    Error,
}

impl Level {
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Warning => "warning",
            Level::Error => "error",
        }
    }
}

/// One problem found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub level: Level,
    /// The check that found it (`attack`, `tests`, `file-name`, ...).
    pub check: &'static str,
    pub file: PathBuf,
    pub line: Option<usize>,
    /// 1-based, when the check knows it (the token of a Sigma condition).
    pub column: Option<usize>,
    pub message: String,
}

/// Every check, with what it covers (for SARIF's rule list and the documentation).
pub const CHECKS: &[(&str, &str)] = &[
    (
        "schema",
        "the file parses, with unknown keys rejected, and its queries and windows are valid",
    ),
    (
        "id",
        "the rule id is a lowercase UUID, unique across the rules",
    ),
    ("name", "the rule name is unique across the rules"),
    (
        "file-name",
        "the file name matches ^[a-z0-9_]+\\.toml$ and starts with the primary tactic",
    ),
    (
        "building-block",
        "building blocks live in rules_building_block/, and only they do",
    ),
    (
        "dates",
        "dates are YYYY-MM-DD, updated_date is not before creation_date, deprecation is explained",
    ),
    (
        "tags",
        "a rule mapped to ATT&CK carries the Tactic: tag of its primary tactic",
    ),
    (
        "attack",
        "ATT&CK tactics and techniques exist in the loaded release, are live, and belong together",
    ),
    (
        "exceptions",
        "exception entries are complete and valid, and none has expired",
    ),
    (
        "tests",
        "the cases the maturity requires exist, benign allowances have reasons, every case passes",
    ),
    (
        "lock",
        "changed rules bump updated_date, locked rules keep their type and are not demoted",
    ),
    (
        "note",
        "production rules carry an investigation guide (note) for the analyst who gets the alert",
    ),
    (
        "fields",
        "every field a rule reads occurs in the given sample events of its log source",
    ),
];

/// What the checks need besides the rules.
#[derive(Debug, Clone, Copy)]
pub struct Options<'a> {
    /// ATT&CK data; without it the ATT&CK checks are skipped with a warning.
    pub attack: Option<&'a Catalogue>,
    /// Exceptions that expired before this fail; test cases run at it.
    pub now: Timestamp,
    /// Where `corpus = "shared/..."` test paths start.
    pub data_root: &'a Path,
    /// Run every rule's test cases.
    pub run_tests: bool,
    /// The version lock to check rules against.
    pub lock: Option<&'a Lock>,
    /// Events of the log sources the rules are for (sample logs): a field a rule reads must occur in an
    /// event of its log source. `None` skips the field check.
    pub events: Option<&'a [Event]>,
}

/// Validates rule files given as (path, text).
pub fn validate(files: &[(PathBuf, String)], options: &Options<'_>) -> (usize, Vec<Finding>) {
    let mut findings = Vec::new();
    if options.attack.is_none() {
        findings.push(Finding {
            level: Level::Warning,
            check: "attack",
            file: PathBuf::new(),
            line: None,
            column: None,
            message:
                "ATT&CK checks skipped: no ATT&CK data (pass --attack PATH or set SECOPS_ATTACK)"
                    .into(),
        });
    }
    let mut ids: HashMap<String, Vec<&Path>> = HashMap::new();
    let mut names: HashMap<String, Vec<&Path>> = HashMap::new();
    // Every rule first: a correlation's cases run with the rules it references.
    let mut loaded: Vec<(&PathBuf, &String, CheckedRule)> = Vec::new();
    for (path, text) in files {
        match RuleFile::parse(path, text).and_then(|f| f.check(path, text)) {
            Ok(rule) => loaded.push((path, text, rule)),
            Err(e) => findings.push(Finding {
                level: Level::Error,
                check: "schema",
                file: path.clone(),
                line: e.line,
                column: None,
                message: match &e.key {
                    Some(key) => format!("{key}: {}", e.message),
                    None => e.message.clone(),
                },
            }),
        }
    }
    let all: Vec<CheckedRule> = loaded.iter().map(|(_, _, r)| r.clone()).collect();
    let mut valid = 0;
    for (path, text, rule) in &loaded {
        valid += 1;
        ids.entry(rule.file.rule.id.clone()).or_default().push(path);
        names
            .entry(rule.file.rule.name.clone())
            .or_default()
            .push(path);
        let mut check = Checker {
            path,
            text,
            findings: &mut findings,
            rules: &all,
        };
        check.rule(rule, options);
    }
    for (kind, map) in [("id", &ids), ("name", &names)] {
        for (value, paths) in map {
            if paths.len() > 1 {
                for path in paths {
                    let others: Vec<String> = paths
                        .iter()
                        .filter(|p| *p != path)
                        .map(|p| p.display().to_string())
                        .collect();
                    findings.push(Finding {
                        level: Level::Error,
                        check: if kind == "id" { "id" } else { "name" },
                        file: path.to_path_buf(),
                        line: None,
                        column: None,
                        message: format!(
                            "rule {kind} {value:?} is also used by {}",
                            others.join(", ")
                        ),
                    });
                }
            }
        }
    }
    if let Some(lock) = options.lock {
        let missing: Vec<&str> = lock
            .entries
            .iter()
            .filter(|(id, _)| !ids.contains_key(*id))
            .map(|(_, entry)| entry.name.as_str())
            .collect();
        if let Some(first) = missing.first() {
            findings.push(Finding {
                level: Level::Warning,
                check: "lock",
                file: PathBuf::new(),
                line: None,
                column: None,
                message: format!(
                    "{} locked rules are not among the rules checked (first: {first:?}); deprecate rules \
                     rather than delete them",
                    missing.len()
                ),
            });
        }
    }
    findings.sort_by(|a, b| {
        (&a.file, a.line, a.check, &a.message).cmp(&(&b.file, b.line, b.check, &b.message))
    });
    (valid, findings)
}

struct Checker<'a> {
    path: &'a Path,
    text: &'a str,
    findings: &'a mut Vec<Finding>,
    /// Every rule being validated (a correlation's cases need the rules it references).
    rules: &'a [CheckedRule],
}

impl Checker<'_> {
    fn push(&mut self, level: Level, check: &'static str, key: Option<&str>, message: String) {
        self.findings.push(Finding {
            level,
            check,
            file: self.path.to_path_buf(),
            line: key.and_then(|k| key_line(self.text, k)),
            column: None,
            message,
        });
    }

    fn error(&mut self, check: &'static str, key: Option<&str>, message: String) {
        self.push(Level::Error, check, key, message);
    }

    fn rule(&mut self, rule: &CheckedRule, options: &Options<'_>) {
        self.identity(rule);
        self.dates(rule);
        self.note(rule);
        self.attack(rule, options.attack);
        self.exceptions(rule, options.now);
        self.tests(rule, options);
        if let Some(lock) = options.lock {
            self.lock(rule, lock);
        }
        if let Some(events) = options.events {
            self.fields(rule, events);
        }
    }

    fn fields(&mut self, rule: &CheckedRule, events: &[Event]) {
        let r = &rule.file.rule;
        if rule.file.metadata.query_schema_validation == Some(false) {
            return;
        }
        let filter = LogSourceFilter::new(&r.log_source);
        let mut seen: HashSet<String> = HashSet::new();
        let mut matched = 0;
        for event in events.iter().filter(|e| filter.matches(e)) {
            matched += 1;
            field_paths(event.fields(), "", &mut seen);
        }
        if matched == 0 {
            self.push(
                Level::Warning,
                "fields",
                Some("product"),
                "no sample event is of this rule's log source: its fields were not checked".into(),
            );
            return;
        }
        // `secops.entity.*` is what entity resolution adds (from the inventory and other events),
        // not a field logs carry.
        let mut missing: Vec<String> = rule_fields(rule)
            .into_iter()
            .filter(|f| !seen.contains(f.as_str()) && !f.starts_with("secops.entity."))
            .collect();
        missing.sort();
        missing.dedup();
        for field in missing {
            let line = line_of_text(self.text, &field);
            self.findings.push(Finding {
                level: Level::Error,
                check: "fields",
                file: self.path.to_path_buf(),
                line,
                column: None,
                message: format!(
                    "field {field} occurs in none of the {matched} sample events of the rule's log source \
                     (a typo, or a field its logs lack; set query_schema_validation = false to skip)"
                ),
            });
        }
    }

    fn lock(&mut self, rule: &CheckedRule, lock: &Lock) {
        let r = &rule.file.rule;
        let m = &rule.file.metadata;
        let Ok(hash) = rule_hash(self.text) else {
            return;
        };
        let Some(entry) = lock.entries.get(&r.id) else {
            let level = if m.maturity == Maturity::Deprecated {
                Level::Error
            } else {
                Level::Warning
            };
            self.push(
                level,
                "lock",
                Some("id"),
                "the rule is not in the lock: run `secops rules lock`".into(),
            );
            return;
        };
        if entry.rule_type != r.rule_type.as_str() {
            self.error(
                "lock",
                Some("type"),
                format!(
                    "type changed from {} to {}: a locked rule keeps its type (write a new rule)",
                    entry.rule_type,
                    r.rule_type.as_str()
                ),
            );
        }
        match Maturity::from_name(&entry.maturity) {
            Some(locked) if !locked.may_become(m.maturity) => self.error(
                "lock",
                Some("maturity"),
                format!(
                    "a locked {} rule cannot be demoted to {}: maturity moves forward only \
                     (development, experimental, beta, production, deprecated)",
                    locked.as_str(),
                    m.maturity.as_str()
                ),
            ),
            Some(_) => {}
            None => self.error(
                "lock",
                None,
                format!("the lock records an unknown maturity {:?}", entry.maturity),
            ),
        }
        if entry.sha256 != hash && entry.maturity == Maturity::Deprecated.as_str() {
            self.error(
                "lock",
                None,
                "the rule changed after it was deprecated: a deprecated rule is frozen (write a new \
                 rule, and name it in superseded_by)"
                    .into(),
            );
        } else if entry.sha256 != hash {
            if entry.updated_date == m.updated_date {
                self.error(
                    "lock",
                    Some("updated_date"),
                    format!(
                        "the rule changed since the lock (version {}) but updated_date is still {}",
                        entry.version, m.updated_date
                    ),
                );
            } else {
                self.push(
                    Level::Warning,
                    "lock",
                    None,
                    format!(
                        "changed since the lock: `secops rules lock` will make it version {}",
                        entry.version + 1
                    ),
                );
            }
        }
    }

    fn identity(&mut self, rule: &CheckedRule) {
        let r = &rule.file.rule;
        if !is_uuid(&r.id) {
            self.error(
                "id",
                Some("id"),
                format!("rule id {:?} is not a lowercase UUID", r.id),
            );
        }
        let file_name = self
            .path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let well_formed = file_name.strip_suffix(".toml").is_some_and(|stem| {
            !stem.is_empty()
                && stem
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        });
        if !well_formed {
            self.error(
                "file-name",
                None,
                format!("file name {file_name:?} does not match ^[a-z0-9_]+\\.toml$"),
            );
        }
        if let Some(primary) = r.threat.first() {
            let prefix = snake_case(&primary.tactic.name);
            if well_formed && !file_name.starts_with(&format!("{prefix}_")) {
                self.error(
                    "file-name",
                    None,
                    format!(
                        "file name {file_name:?} does not start with the primary tactic: {prefix}_"
                    ),
                );
            }
            let tag = format!("Tactic: {}", primary.tactic.name);
            if !r.tags.iter().any(|t| t.eq_ignore_ascii_case(&tag)) {
                self.error(
                    "tags",
                    Some("tags"),
                    format!("the rule maps to ATT&CK but lacks the tag {tag:?}"),
                );
            }
        }
        let in_bbr_folder = self
            .path
            .components()
            .any(|c| c.as_os_str() == "rules_building_block");
        let building_block = r.building_block == Some(true) || r.building_block_type.is_some();
        if building_block && !in_bbr_folder {
            self.error(
                "building-block",
                Some("building_block"),
                "a building-block rule belongs in rules_building_block/".into(),
            );
        }
        if in_bbr_folder && !building_block {
            self.error(
                "building-block",
                None,
                "rules in rules_building_block/ must set building_block = true".into(),
            );
        }
    }

    fn note(&mut self, rule: &CheckedRule) {
        let guide = rule.file.rule.note.as_deref().map(str::trim);
        if rule.file.metadata.maturity == Maturity::Production && guide.is_none_or(str::is_empty) {
            self.push(
                Level::Warning,
                "note",
                Some("maturity"),
                "a production rule should carry an investigation guide (note): what the alert means, \
                 what to check, how to respond"
                    .into(),
            );
        }
    }

    fn dates(&mut self, rule: &CheckedRule) {
        let m = &rule.file.metadata;
        let created = self.date("creation_date", &m.creation_date);
        let updated = self.date("updated_date", &m.updated_date);
        if let (Some(c), Some(u)) = (created, updated) {
            if u < c {
                self.error(
                    "dates",
                    Some("updated_date"),
                    format!(
                        "updated_date {} is before creation_date {}",
                        m.updated_date, m.creation_date
                    ),
                );
            }
        }
        if let Some(d) = &m.deprecation_date {
            self.date("deprecation_date", d);
        }
        if m.maturity == Maturity::Deprecated {
            if m.deprecated_reason.is_none() {
                self.error(
                    "dates",
                    Some("maturity"),
                    "a deprecated rule needs a deprecated_reason".into(),
                );
            }
            if m.deprecation_date.is_none() {
                self.error(
                    "dates",
                    Some("maturity"),
                    "a deprecated rule needs a deprecation_date".into(),
                );
            }
        } else if m.deprecation_date.is_some() || m.deprecated_reason.is_some() {
            self.push(
                Level::Warning,
                "dates",
                Some("maturity"),
                format!(
                    "deprecation_date or deprecated_reason on a {} rule: set maturity = \"deprecated\" \
                     or remove them",
                    m.maturity.as_str()
                ),
            );
        }
    }

    fn date(&mut self, key: &str, text: &str) -> Option<(u32, u32, u32)> {
        let parsed = parse_date(text);
        if parsed.is_none() {
            self.error(
                "dates",
                Some(key),
                format!("{key} {text:?} is not a date (YYYY-MM-DD)"),
            );
        }
        parsed
    }

    fn attack(&mut self, rule: &CheckedRule, catalogue: Option<&Catalogue>) {
        let r = &rule.file.rule;
        if r.threat.is_empty() {
            if rule.file.metadata.maturity == Maturity::Production {
                self.error(
                    "attack",
                    None,
                    "a production rule needs an ATT&CK mapping ([[rule.threat]])".into(),
                );
            }
            return;
        }
        let mut seen: Vec<&str> = Vec::new();
        for threat in &r.threat {
            if seen.contains(&threat.tactic.id.as_str()) {
                self.error(
                    "attack",
                    Some("framework"),
                    format!(
                        "tactic {} is mapped twice; put its techniques under one [[rule.threat]]",
                        threat.tactic.id
                    ),
                );
            }
            seen.push(&threat.tactic.id);
            if threat.framework != "MITRE ATT&CK" {
                self.error(
                    "attack",
                    Some("framework"),
                    format!("framework {:?} is not \"MITRE ATT&CK\"", threat.framework),
                );
            }
            let Some(catalogue) = catalogue else {
                continue;
            };
            let mut techniques = Vec::new();
            for t in &threat.technique {
                techniques.push((t.id.as_str(), t.name.as_str(), None));
                for s in &t.subtechnique {
                    techniques.push((s.id.as_str(), s.name.as_str(), Some(t.id.as_str())));
                }
            }
            let mapping = Mapping {
                tactic_id: &threat.tactic.id,
                tactic_name: &threat.tactic.name,
                techniques,
            };
            for message in catalogue.check(&mapping) {
                let key = message
                    .split_whitespace()
                    .nth(1)
                    .map(|id| format!("id = \"{id}\""));
                let line = key.as_deref().and_then(|k| line_of_text(self.text, k));
                self.findings.push(Finding {
                    level: Level::Error,
                    check: "attack",
                    file: self.path.to_path_buf(),
                    line,
                    column: None,
                    message,
                });
            }
        }
        if let (Some(coverage), Some(catalogue)) = (&r.coverage, catalogue) {
            if let (Some(want), Some(have)) = (&coverage.attack_version, &catalogue.version) {
                if want != have {
                    self.push(
                        Level::Warning,
                        "attack",
                        Some("attack_version"),
                        format!("the mapping is for ATT&CK {want}; the loaded data is {have}"),
                    );
                }
            }
            let ids = coverage
                .detection_strategies
                .iter()
                .chain(&coverage.analytics)
                .chain(&coverage.data_components);
            for id in ids {
                if !catalogue.has_detection_id(id) {
                    self.error(
                        "attack",
                        None,
                        format!(
                            "coverage id {id} does not exist in ATT&CK {}",
                            catalogue.version.as_deref().unwrap_or("data")
                        ),
                    );
                }
            }
        }
    }

    fn exceptions(&mut self, rule: &CheckedRule, now: Timestamp) {
        for item in &rule.file.rule.exceptions {
            if let Some(expiry) = &item.expire_time {
                match Timestamp::parse_rfc3339(expiry) {
                    Ok(t) if t <= now => self.error(
                        "exceptions",
                        Some("expire_time"),
                        format!(
                            "exception {:?} expired on {expiry}: remove it, or renew it with a new expire_time",
                            item.description
                        ),
                    ),
                    Ok(_) => {}
                    Err(e) => self.error(
                        "exceptions",
                        Some("expire_time"),
                        format!("exception {:?}: expire_time {e}", item.description),
                    ),
                }
            }
            if item.entries.is_empty() {
                self.error(
                    "exceptions",
                    None,
                    format!(
                        "exception {:?} has no entries (it would suppress every alert)",
                        item.description
                    ),
                );
            }
            for entry in &item.entries {
                let values: Vec<String> = match &entry.value {
                    Some(toml::Value::Array(items)) => items.iter().map(value_text).collect(),
                    Some(v) => vec![value_text(v)],
                    None => Vec::new(),
                };
                let needs_value = !matches!(entry.entry_type, ExceptionType::Exists);
                if needs_value && values.is_empty() {
                    self.error(
                        "exceptions",
                        None,
                        format!(
                            "exception {:?}: entry on {} needs a value",
                            item.description, entry.field
                        ),
                    );
                }
                if !matches!(entry.operator.as_str(), "included" | "excluded") {
                    self.error(
                        "exceptions",
                        Some("operator"),
                        format!(
                            "exception {:?}: operator {:?} is neither included nor excluded",
                            item.description, entry.operator
                        ),
                    );
                }
                if entry.entry_type == ExceptionType::Cidr {
                    for v in values.iter().filter(|v| Cidr::parse(v).is_none()) {
                        self.error(
                            "exceptions",
                            None,
                            format!(
                                "exception {:?}: {v:?} is not a CIDR block",
                                item.description
                            ),
                        );
                    }
                }
            }
        }
    }

    fn tests(&mut self, rule: &CheckedRule, options: &Options<'_>) {
        let file = &rule.file;
        let positive = file.tests.iter().filter(|t| expects_alerts(t)).count();
        let negative = file
            .tests
            .iter()
            .filter(|t| t.kind != "benign" && expects_none(t))
            .count();
        if file.metadata.maturity == Maturity::Production {
            if positive == 0 {
                self.error(
                    "tests",
                    None,
                    "a production rule needs a case that alerts (expect = \"alert\")".into(),
                );
            }
            if negative == 0 {
                self.error(
                    "tests",
                    None,
                    "a production rule needs a case that does not alert (expect = \"no_alert\")"
                        .into(),
                );
            }
            let aggregating = match file.rule.rule_type {
                RuleType::Threshold | RuleType::Correlation => true,
                RuleType::Eql => matches!(rule.eql, Some(EqlQuery::Sequence(_))),
                _ => false,
            };
            if aggregating && negative < 2 {
                self.error(
                    "tests",
                    None,
                    format!(
                        "a production {} rule needs boundary cases that do not alert (one event short, events \
                         spread outside the window): {negative} found",
                        file.rule.rule_type.as_str()
                    ),
                );
            }
        }
        for test in &file.tests {
            let allows = test.max_alerts.unwrap_or(0) > 0;
            if test.kind == "benign" && allows && test.reason.is_none() {
                self.error(
                    "tests",
                    None,
                    format!(
                        "benign case {:?} allows {} alert(s) without a reason",
                        test.name,
                        test.max_alerts.unwrap_or(0)
                    ),
                );
            }
            if !matches!(test.kind.as_str(), "unit" | "replay" | "benign") {
                self.error(
                    "tests",
                    None,
                    format!(
                        "case {:?}: kind {:?} is not unit, replay or benign",
                        test.name, test.kind
                    ),
                );
            }
        }
        if !options.run_tests {
            return;
        }
        for outcome in run_tests_in(rule, self.rules, options.data_root, options.now) {
            let line = line_of_text(self.text, &format!("name = \"{}\"", outcome.test));
            let (level, message) = match outcome.result {
                TestResult::Passed => continue,
                TestResult::Failed(why) => (
                    Level::Error,
                    format!("case {:?} fails: {}", outcome.test, why.join("; ")),
                ),
                TestResult::Skipped(why) => (
                    Level::Warning,
                    format!("case {:?} skipped: {why}", outcome.test),
                ),
            };
            self.findings.push(Finding {
                level,
                check: "tests",
                file: self.path.to_path_buf(),
                line,
                column: None,
                message,
            });
        }
    }
}

/// Every dotted path in an object: keys, and keys under nested objects (also inside arrays).
fn field_paths(object: &Object, prefix: &str, out: &mut HashSet<String>) {
    for (key, value) in object.iter() {
        let path = format!("{prefix}{key}");
        let mut nested = |v: &Value| {
            if let Value::Object(o) = v {
                field_paths(o, &format!("{path}."), out);
            }
        };
        match value {
            Value::Array(items) => items.iter().for_each(&mut nested),
            other => nested(other),
        }
        out.insert(path);
    }
}

/// The fields a native rule's condition (KQL or EQL) tests: values there are what the rule is about,
/// not noise to except.
pub fn condition_fields(rule: &CheckedRule) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(query) = &rule.query {
        expr_fields(query, &mut out);
    }
    match &rule.eql {
        Some(EqlQuery::Event(q)) => expr_fields(&q.condition, &mut out),
        Some(EqlQuery::Sequence(s)) => {
            for step in s.steps.iter().chain(&s.until) {
                expr_fields(&step.query.condition, &mut out);
            }
        }
        None => {}
    }
    out
}

/// The event fields a native rule reads: its query, group-by, counting and entity fields, exception
/// entries and indicator mappings.
fn rule_fields(rule: &CheckedRule) -> Vec<String> {
    let r = &rule.file.rule;
    let mut out = condition_fields(rule);
    if let Some(EqlQuery::Sequence(s)) = &rule.eql {
        for step in s.steps.iter().chain(&s.until) {
            out.extend(step.by.iter().map(|f| f.path.clone()));
        }
    }
    if let Some(t) = &r.threshold {
        out.extend(t.field.iter().cloned());
        out.extend(t.cardinality.iter().map(|c| c.field.clone()));
        out.extend(t.count_field.iter().cloned());
    }
    if let Some(n) = &r.new_terms {
        out.extend(n.fields.iter().cloned());
    }
    if let Some(a) = &r.anomaly {
        out.extend(a.by.iter().cloned());
    }
    if let Some(s) = &r.alert_suppression {
        out.extend(s.group_by.iter().cloned());
    }
    for item in &r.exceptions {
        out.extend(item.entries.iter().map(|e| e.field.clone()));
    }
    for mapping in &r.threat_mapping {
        out.extend(mapping.entries.iter().map(|e| e.field.clone()));
    }
    out
}

fn expr_fields(expr: &Expr, out: &mut Vec<String>) {
    match expr {
        Expr::And(items) | Expr::Or(items) => items.iter().for_each(|e| expr_fields(e, out)),
        Expr::Not(inner) => expr_fields(inner, out),
        Expr::Exists { field } | Expr::Compare { field, .. } => out.push(field.path.clone()),
    }
}

fn expects_alerts(test: &RuleTest) -> bool {
    test.expect == Some(Expectation::Alert)
        || test.alerts.is_some_and(|n| n > 0)
        || test.min_alerts.is_some_and(|n| n > 0)
}

fn expects_none(test: &RuleTest) -> bool {
    test.expect == Some(Expectation::NoAlert)
        || test.alerts == Some(0)
        || (test.max_alerts == Some(0) && test.expect.is_none())
}

fn value_text(value: &toml::Value) -> String {
    match value {
        toml::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The 1-based line of the first line containing `needle`.
fn line_of_text(text: &str, needle: &str) -> Option<usize> {
    text.lines().position(|l| l.contains(needle)).map(|i| i + 1)
}

/// `YYYY-MM-DD` with a real month and day.
fn parse_date(text: &str) -> Option<(u32, u32, u32)> {
    let mut parts = text.split('-');
    let (y, m, d) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || y.len() != 4 || m.len() != 2 || d.len() != 2 {
        return None;
    }
    let (y, m, d): (u32, u32, u32) = (y.parse().ok()?, m.parse().ok()?, d.parse().ok()?);
    chrono::NaiveDate::from_ymd_opt(i32::try_from(y).ok()?, m, d)?;
    Some((y, m, d))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_real_calendar_days() {
        assert_eq!(parse_date("2026-02-28"), Some((2026, 2, 28)));
        assert_eq!(parse_date("2026-02-30"), None);
        assert_eq!(parse_date("2026/02/28"), None);
    }
}
