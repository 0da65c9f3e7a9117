//! Running a rule's embedded `[[test]]` cases (detection-as-code.md section 6.6): events come from inline
//! tables (`repeat`, `every`, `at`), raw log lines through a parser, or a corpus file; the rule runs alone;
//! the alert count, groups and fields are checked. Inline events that set no `event.module` are taken to
//! come from the rule's log source; events from parsers are routed like any other. `[[test.history]]`
//! tables (usually with a negative `at`, such as `"-10d"`) come before the events; `[[test.indicators]]`
//! tables give `threat_match` rules their indicators (indicator field = value or list of values).
//! `events_file` names an NDJSON fixture of ECS events, relative to the rule's file (or under
//! `shared/`).

use std::path::{Path, PathBuf};

use secops_event::{Event, Location, Object, Provenance, Timestamp, Value};
use secops_ingest::{read_bytes, read_input, Format, Input, Options};
use secops_rules::{CheckedRule, Duration, Expectation, RuleTest};

use secops_detect::Alert;
use secops_detect::CompiledRule;
use secops_detect::IndicatorSet;

/// The default base time of test events.
pub const DEFAULT_START: &str = "2026-01-01T00:00:00Z";

/// The result of one test case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestOutcome {
    pub rule: String,
    pub test: String,
    pub result: TestResult,
    /// The alerts the case raised, one line each (group, count, time of the first event), for the
    /// expected-against-actual report of a failure.
    pub actual: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TestResult {
    Passed,
    Failed(Vec<String>),
    /// The case needs data that is not present (a shared corpus), with the reason.
    Skipped(String),
}

/// Runs every test case of `rule`. `shared` is the folder that `corpus = "shared/..."` paths start from
/// (the parent of `shared/`); `now` decides which exceptions have expired.
pub fn run_tests(rule: &CheckedRule, shared: &Path, now: Timestamp) -> Vec<TestOutcome> {
    run_tests_in(rule, &[], shared, now)
}

/// Like [`run_tests`], with the other rules loaded beside it: a correlation rule's cases run with the
/// rules it references (by id or name), through an engine, and only its own alerts count.
pub fn run_tests_in(
    rule: &CheckedRule,
    rules: &[CheckedRule],
    shared: &Path,
    now: Timestamp,
) -> Vec<TestOutcome> {
    rule.file
        .tests
        .iter()
        .map(|test| {
            let (result, alerts) = run_one(rule, rules, test, shared, now);
            TestOutcome {
                rule: rule.file.rule.name.clone(),
                test: test.name.clone(),
                result,
                actual: alerts.iter().map(alert_line).collect(),
            }
        })
        .collect()
}

/// One alert as a failure report shows it.
fn alert_line(alert: &Alert) -> String {
    let group = if alert.group.is_empty() {
        String::new()
    } else {
        let fields: Vec<String> = alert
            .group
            .iter()
            .map(|(f, v)| format!("{f}={v}"))
            .collect();
        format!("{} ", fields.join(" "))
    };
    let at = alert
        .events
        .first()
        .and_then(Event::timestamp)
        .map(|t| t.to_rfc3339())
        .unwrap_or_default();
    format!("{group}count={} first={at}", alert.count)
}

/// Names of scaffolded cases not yet written (`secops rules new`): they fail until renamed.
pub const STUB_PREFIX: &str = "TODO";

fn run_one(
    rule: &CheckedRule,
    rules: &[CheckedRule],
    test: &RuleTest,
    shared: &Path,
    now: Timestamp,
) -> (TestResult, Vec<Alert>) {
    if test.name.starts_with(STUB_PREFIX) {
        return (
            TestResult::Failed(vec![
                "an unwritten stub: give it real events and a name that says what it shows".into(),
            ]),
            Vec::new(),
        );
    }
    if test.kind == "benign" && test.max_alerts.unwrap_or(0) > 0 && test.reason.is_none() {
        return (
            TestResult::Failed(vec![
                "a benign case that allows alerts needs a reason (the reviewed known false positive)"
                    .into(),
            ]),
            Vec::new(),
        );
    }
    let rule_dir = rule.path.parent().unwrap_or(Path::new(""));
    let (history, events) = match test_events(test, shared, rule_dir) {
        Ok(Some(both)) => both,
        Ok(None) => {
            return (
                TestResult::Skipped(format!(
                    "{} is not present",
                    test.corpus.as_deref().unwrap_or("the corpus")
                )),
                Vec::new(),
            )
        }
        Err(e) => return (TestResult::Failed(vec![e]), Vec::new()),
    };
    let now = test
        .now
        .as_deref()
        .and_then(|t| Timestamp::parse_rfc3339(t).ok())
        .unwrap_or(now);
    let mut indicators = IndicatorSet::new();
    for table in &test.indicators {
        for (field, value) in table {
            for text in toml_strings(value) {
                if let Err(e) = indicators.add(field, &text) {
                    return (
                        TestResult::Failed(vec![format!("indicator {field}: {e}")]),
                        Vec::new(),
                    );
                }
            }
        }
    }
    let mut runner = match Runner::new(rule, rules, now, &indicators) {
        Ok(r) => r,
        Err(e) => return (TestResult::Failed(vec![e]), Vec::new()),
    };
    // Entities resolve as `detect --entities` resolves them (from what the case's own events say):
    // rules select on the events as read, and their state (joins, groups) sees the resolved ones.
    let mut resolver = match &test.inventory {
        None => secops_entity::Resolver::default(),
        Some(text) => match secops_entity::Inventory::parse("test.inventory", text) {
            Ok(inventory) => secops_entity::Resolver::new(inventory),
            Err(errors) => {
                let errors = errors.iter().map(|e| e.to_string()).collect();
                return (TestResult::Failed(errors), Vec::new());
            }
        },
    };
    let mut resolve = |event: &Event| {
        let mut event = event.clone();
        if secops_entity::Resolver::carries_evidence(&event) {
            resolver.learn(&event);
        }
        resolver.enrich(&mut event);
        event
    };
    // History is baseline only: it feeds the rule's state, and its alerts are not the test's.
    let mut alerts = Vec::new();
    for event in &history {
        runner.process(event, &resolve(event), &mut alerts);
    }
    alerts.clear();
    for event in &events {
        runner.process(event, &resolve(event), &mut alerts);
    }
    // Suppression windows still open close now; a history alert's window is not the test's.
    let mut closing = Vec::new();
    runner.finish(&mut closing);
    for closed in closing {
        if let Some(raised) = alerts.iter_mut().find(|a| a.id == closed.id) {
            *raised = closed;
        }
    }
    alerts.retain(|a| a.rule.id == rule.file.rule.id);
    let failures = check(test, &alerts);
    let result = if failures.is_empty() {
        TestResult::Passed
    } else {
        TestResult::Failed(failures)
    };
    (result, alerts)
}

/// What a case's events go through: the rule alone, or (a correlation) an engine with the rules it
/// references.
enum Runner {
    Rule(Box<CompiledRule>),
    Engine(Box<secops_detect::Engine>),
}

impl Runner {
    fn new(
        rule: &CheckedRule,
        rules: &[CheckedRule],
        now: Timestamp,
        indicators: &IndicatorSet,
    ) -> Result<Runner, String> {
        let Some(correlation) = &rule.correlation else {
            return CompiledRule::compile_with(rule, now, indicators)
                .map(|c| Runner::Rule(Box::new(c)))
                .map_err(|e| e.to_string());
        };
        let mut set: Vec<CheckedRule> = Vec::new();
        for reference in &correlation.rules {
            let found = rules.iter().find(|r| {
                let r = &r.file.rule;
                (r.id == *reference || r.name == *reference) && r.id != rule.file.rule.id
            });
            match found {
                Some(r) => set.push(r.clone()),
                None => {
                    return Err(format!(
                    "the correlation references {reference:?}, which is not among the rules loaded"
                ))
                }
            }
        }
        set.push(rule.clone());
        let (engine, errors) = secops_detect::Engine::with_indicators(&set, now, indicators);
        match errors.first() {
            Some((id, e)) => Err(format!("rule {id}: {e}")),
            None => Ok(Runner::Engine(Box::new(engine))),
        }
    }

    /// Selects on `event`; the state sees `resolved`. Inline events that name no module stand for the
    /// rule's own log source.
    fn process(&mut self, event: &Event, resolved: &Event, alerts: &mut Vec<Alert>) {
        match self {
            Runner::Rule(rule) => rule.process_resolved(event, resolved, alerts),
            Runner::Engine(engine) => engine.process_resolved(event, resolved, alerts),
        }
    }

    fn finish(&mut self, alerts: &mut Vec<Alert>) {
        match self {
            Runner::Rule(rule) => rule.finish(alerts),
            Runner::Engine(engine) => engine.finish(alerts),
        }
    }
}

fn check(test: &RuleTest, alerts: &[Alert]) -> Vec<String> {
    let mut failures = Vec::new();
    let n = alerts.len() as u64;
    let exact = test.alerts.or(match test.expect {
        Some(Expectation::Alert) => Some(1),
        Some(Expectation::NoAlert) => Some(0),
        None => None,
    });
    if let Some(want) = exact.filter(|&w| w != n) {
        failures.push(format!(
            "expected {want} alert(s), got {n}{}",
            describe(alerts)
        ));
    }
    if let Some(min) = test.min_alerts.filter(|&m| n < m) {
        failures.push(format!("expected at least {min} alert(s), got {n}"));
    }
    if let Some(max) = test.max_alerts.filter(|&m| n > m) {
        failures.push(format!(
            "expected at most {max} alert(s), got {n}{}",
            describe(alerts)
        ));
    }
    for group in &test.expect_groups {
        if !alerts
            .iter()
            .any(|a| a.group.iter().any(|(_, v)| v == group) || a.group_key() == *group)
        {
            failures.push(format!("no alert for group {group:?}{}", describe(alerts)));
        }
    }
    if let Some(first) = alerts.first() {
        for (path, want) in &test.expect_fields {
            let want = toml_text(want);
            match alert_field(first, path) {
                Some(got) if got == want => {}
                got => failures.push(format!("{path}: expected {want:?}, got {got:?}")),
            }
        }
    } else if !test.expect_fields.is_empty() {
        failures.push("expect_fields given but no alert was raised".into());
    }
    failures
}

fn describe(alerts: &[Alert]) -> String {
    if alerts.is_empty() {
        return String::new();
    }
    let groups: Vec<String> = alerts
        .iter()
        .take(5)
        .map(|a| format!("{}({})", a.group_key(), a.count))
        .collect();
    format!(" [{}]", groups.join(", "))
}

/// A field of an alert as tests name it: `threshold.count`, `rule.*`, a group-by field, or a field of the
/// first event.
pub fn alert_field(alert: &Alert, path: &str) -> Option<String> {
    match path {
        "threshold.count" => return Some(alert.count.to_string()),
        "alert.suppressed" => return Some(alert.suppressed.to_string()),
        "alert.suppressed_count" => return Some(alert.suppressed_count.to_string()),
        "rule.id" => return Some(alert.rule.id.clone()),
        "rule.name" => return Some(alert.rule.name.clone()),
        "rule.severity" => return Some(alert.rule.severity.as_str().to_string()),
        "rule.risk_score" => return Some(alert.rule.risk_score.to_string()),
        _ => {}
    }
    if let Some((_, v)) = alert.group.iter().find(|(f, _)| f == path) {
        return Some(v.clone());
    }
    alert
        .events
        .first()
        .and_then(|e| e.get_value(path))
        .map(|v| v.to_string())
}

fn toml_strings(value: &toml::Value) -> Vec<String> {
    match value {
        toml::Value::Array(items) => items.iter().flat_map(toml_strings).collect(),
        toml::Value::String(s) => vec![s.clone()],
        other => vec![other.to_string()],
    }
}

fn toml_text(value: &toml::Value) -> String {
    match value {
        toml::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The case's history and events, each in time order, or `None` when its corpus is absent.
/// A case's baseline events and its own events.
type HistoryAndEvents = (Vec<Event>, Vec<Event>);

fn test_events(
    test: &RuleTest,
    shared: &Path,
    rule_dir: &Path,
) -> Result<Option<HistoryAndEvents>, String> {
    let start = Timestamp::parse_rfc3339(test.start.as_deref().unwrap_or(DEFAULT_START))
        .map_err(|e| format!("start: {e}"))?;
    let mut history = Vec::new();
    for (index, table) in test.history.iter().enumerate() {
        expand_table(table, index, start, &mut history)
            .map_err(|e| e.replace("test.events", "test.history"))?;
    }
    history.sort_by_key(|e| e.timestamp());
    let mut events = Vec::new();
    for (index, table) in test.events.iter().enumerate() {
        expand_table(table, index, start, &mut events)?;
    }
    if !test.raw.is_empty() {
        read_raw(
            parser_format(test)?,
            test.year,
            &test.raw,
            "raw",
            &mut events,
        )?;
    }
    for (index, input) in test.input.iter().enumerate() {
        let format = input
            .parser
            .parse::<Format>()
            .map_err(|e| format!("test.input[{index}].parser: {e}"))?;
        read_raw(
            format,
            input.year,
            &input.raw,
            &format!("test.input[{index}]"),
            &mut events,
        )?;
    }
    if let Some(corpus) = &test.corpus {
        let path = resolve_corpus(shared, corpus);
        if !path.exists() {
            return Ok(None);
        }
        let options = options(parser_format(test)?, test.year);
        read_input(&Input::File(path.clone()), &options, &mut |r| {
            events.extend(r.ok())
        })
        .map_err(|e| e.to_string())?;
    }
    if let Some(file) = &test.events_file {
        let path = match file.strip_prefix("shared/") {
            Some(_) => resolve_corpus(shared, file),
            None => rule_dir.join(file),
        };
        if !path.exists() {
            if file.starts_with("shared/") {
                return Ok(None);
            }
            return Err(format!("events_file {}: no such file", path.display()));
        }
        let options = options(Format::Json, None);
        let mut rejected = None;
        read_input(&Input::File(path.clone()), &options, &mut |r| match r {
            Ok(event) => events.push(event),
            Err(e) => {
                rejected.get_or_insert(e.to_string());
            }
        })
        .map_err(|e| e.to_string())?;
        if let Some(reason) = rejected {
            return Err(format!("events_file {}: {reason}", path.display()));
        }
    }
    // Stable: events at the same time keep their order of writing.
    events.sort_by_key(|e| e.timestamp());
    Ok(Some((history, events)))
}

/// How a case's inputs are read: one parser, a year for syslog, no recovery of damaged EVTX.
fn options(format: Format, year: Option<i32>) -> Options {
    Options {
        format: Some(format),
        year,
        timezone: None,
        evtx_recover: false,
        counters: None,
    }
}

/// Raw lines through one parser; any line that does not parse fails the case, naming it.
fn read_raw(
    format: Format,
    year: Option<i32>,
    raw: &[String],
    name: &str,
    events: &mut Vec<Event>,
) -> Result<(), String> {
    let options = options(format, year);
    let text = raw.join("\n");
    let summary = read_bytes(format, name, text.as_bytes(), &options, &mut |r| {
        events.extend(r.ok())
    });
    if summary.rejected > 0 {
        return Err(format!(
            "{name}: {} raw line(s) did not parse: {}",
            summary.rejected, summary.rejections[0].first
        ));
    }
    Ok(())
}

fn parser_format(test: &RuleTest) -> Result<Format, String> {
    test.parser
        .as_deref()
        .unwrap_or("syslog")
        .parse::<Format>()
        .map_err(|e| e.to_string())
}

/// `shared/corpus/...` is read from the shared folder given; other paths as they are.
fn resolve_corpus(shared: &Path, corpus: &str) -> PathBuf {
    match corpus.strip_prefix("shared/") {
        Some(rest) => shared.join(rest),
        None => PathBuf::from(corpus),
    }
}

/// One `[[test.events]]` table: `repeat` events `every` apart, from `start + at` (or `@timestamp`).
fn expand_table(
    table: &toml::Table,
    index: usize,
    start: Timestamp,
    out: &mut Vec<Event>,
) -> Result<(), String> {
    let context = |m: String| format!("test.events[{index}]: {m}");
    let repeat = match table.get("repeat") {
        Some(toml::Value::Integer(n)) if *n >= 1 => *n as u64,
        Some(other) => {
            return Err(context(format!(
                "repeat must be a positive integer, not {other}"
            )))
        }
        None => 1,
    };
    let every = match table.get("every") {
        Some(toml::Value::String(s)) => s
            .parse::<Duration>()
            .map_err(|e| context(e.to_string()))?
            .as_nanos() as i64,
        Some(other) => {
            return Err(context(format!(
                "every must be a duration string, not {other}"
            )))
        }
        None => 0,
    };
    let base = match (table.get("@timestamp"), table.get("at")) {
        (Some(toml::Value::String(t)), _) => {
            Timestamp::parse_rfc3339(t).map_err(|e| context(e.to_string()))?
        }
        (_, Some(toml::Value::String(at))) if at.starts_with('-') => {
            let nanos = at[1..]
                .parse::<Duration>()
                .map_err(|e| context(e.to_string()))?
                .as_nanos() as i64;
            Timestamp::from_unix_nanos(start.unix_nanos() - nanos)
        }
        (_, Some(toml::Value::String(at))) => {
            let offset = at.strip_prefix('+').unwrap_or(at);
            let nanos = if offset.trim_end_matches(|c: char| c.is_ascii_alphabetic()) == "0" {
                0
            } else {
                offset
                    .parse::<Duration>()
                    .map_err(|e| context(e.to_string()))?
                    .as_nanos() as i64
            };
            Timestamp::from_unix_nanos(start.unix_nanos() + nanos)
        }
        (Some(other), _) | (_, Some(other)) => {
            return Err(context(format!(
                "@timestamp and at must be strings, not {other}"
            )))
        }
        (None, None) => start,
    };
    for i in 0..repeat {
        let mut event = Event::new(Provenance::new(
            format!("test.events[{index}]"),
            Location::Ordinal(i + 1),
        ));
        event.set_timestamp(Timestamp::from_unix_nanos(
            base.unix_nanos() + every * i as i64,
        ));
        for (key, value) in table {
            if !matches!(key.as_str(), "repeat" | "every" | "at" | "@timestamp") {
                event.insert(key.as_str(), from_toml(value));
            }
        }
        out.push(event);
    }
    Ok(())
}

fn from_toml(value: &toml::Value) -> Value {
    match value {
        toml::Value::String(s) => Value::from(s.as_str()),
        toml::Value::Integer(i) => Value::Int(*i),
        toml::Value::Float(f) => Value::Float(*f),
        toml::Value::Boolean(b) => Value::Bool(*b),
        toml::Value::Datetime(d) => Value::from(d.to_string()),
        toml::Value::Array(items) => Value::Array(items.iter().map(from_toml).collect()),
        toml::Value::Table(t) => Value::Object(
            t.iter()
                .map(|(k, v)| (k.as_str(), from_toml(v)))
                .collect::<Object>(),
        ),
    }
}
