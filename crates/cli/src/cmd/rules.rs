//! `secops rules list`: the loaded rules with type, severity, ATT&CK ids and (for Sigma) authors;
//! `--rejected` lists the rule files that will not run, each with the reason.
//! `secops rules test`: every rule's embedded `[[test]]` cases, pass or fail, with expected against
//! actual alerts for each failure, ending with `N passed, N failed`.
//! `secops rules validate`: the CI checks of detection-as-code.md section 6.11, for people (one line per
//! finding), scripts (`--format json`) and code annotations (`--format sarif`); exit 1 on any error.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::Arc;

use secops_detect::sigma::{self, Mapping};
use secops_detect::RuleInfo;
use secops_event::Timestamp;
use secops_lab::testing::{run_tests_in, TestResult};
use secops_lab::validate::{self, Finding, Level};
use secops_rules::load::{files_with, load_sigma_file};
use secops_rules::lock::{rule_hash, Lock, LockInput};
use secops_rules::sigma::Placeholders;

use crate::Outcome;

#[derive(Debug, clap::Subcommand)]
pub enum Rules {
    /// List the rules that would run.
    List(ListArgs),
    /// Run every rule's embedded `[[test]]` cases.
    Test(TestArgs),
    /// Check rule files as CI does: schema, ids and names, file names, dates, ATT&CK, exceptions, tests.
    Validate(ValidateArgs),
    /// Measure false positives: run the rules over benign logs and report alerts per rule per million
    /// events.
    Fp(FpArgs),
    /// Record each rule's hash in the version lock, bumping the version of changed rules.
    Lock(LockArgs),
    /// Write a new rule file: a fresh id, today's dates, the type's tables, and test stubs that fail
    /// until written.
    New(NewArgs),
    /// Tuning: alerts per rule over time, the noisiest rules, suggested exceptions, rules that never
    /// fired, from alerts written by `secops detect --output jsonl`.
    Stats(StatsArgs),
}

#[derive(Debug, clap::Args)]
pub struct StatsArgs {
    /// Alert files (JSON lines from `secops detect --output jsonl`), or `-` for standard input.
    #[arg(required_unless_present_any = ["store", "db", "database_url"])]
    alerts: Vec<String>,
    /// Read the alerts recorded in the store (`detect --store`) instead of files.
    #[arg(long, conflicts_with = "alerts")]
    store: bool,
    #[command(flatten)]
    store_at: crate::store::StoreArgs,
    /// The rules to report as never fired (default: the bundled pack).
    #[command(flatten)]
    rules: crate::args::RuleArgs,
    /// How many rules to show.
    #[arg(long, default_value_t = 20)]
    top: usize,
    /// Suggest exceptions only for rules with at least this many alerts.
    #[arg(long = "min-alerts", default_value_t = 3)]
    min_alerts: usize,
}

#[derive(Debug, clap::Args)]
pub struct NewArgs {
    /// The rule's name.
    #[arg(long)]
    name: String,
    /// query, eql, threshold, new_terms, anomaly or threat_match.
    #[arg(long = "type", default_value = "query")]
    rule_type: String,
    /// The primary ATT&CK tactic, by shortname (credential-access): the rule's folder and file prefix.
    #[arg(long)]
    tactic: Option<String>,
    /// The folder rules live in.
    #[arg(long, default_value = "rules")]
    dir: PathBuf,
    /// The log source's product (Sigma taxonomy).
    #[arg(long, default_value = "linux")]
    product: String,
    /// The log source's category.
    #[arg(long)]
    category: Option<String>,
    /// The log source's service.
    #[arg(long)]
    service: Option<String>,
}

#[derive(Debug, clap::Args)]
pub struct FpArgs {
    /// Benign logs: files, folders or glob patterns.
    #[arg(long = "benign", required = true)]
    benign: Vec<String>,
    #[command(flatten)]
    rules: crate::args::RuleArgs,
    /// Year of the first line of syslog files without years.
    #[arg(long)]
    year: Option<i32>,
    /// The most alerts per million events a rule may raise; rules above it fail (exit 1).
    #[arg(long)]
    budget: Option<f64>,
}

#[derive(Debug, clap::Args)]
pub struct ValidateArgs {
    /// Rule folders or files (default: the bundled pack).
    paths: Vec<PathBuf>,
    #[command(flatten)]
    attack: crate::cmd::coverage::AttackArgs,
    /// How to print the findings.
    #[arg(long, value_enum, default_value = "human")]
    format: ValidateFormat,
    /// The folder `corpus = "shared/..."` test paths start from (default: the parent of the current folder).
    #[arg(long = "data-root", default_value = "..")]
    data_root: PathBuf,
    /// The evaluation time for exception expiry and test cases (default: now).
    #[arg(long)]
    now: Option<String>,
    /// Do not run the rules' test cases (static checks only).
    #[arg(long)]
    no_tests: bool,
    /// The version lock to check against (default: etc/rules.lock.json when it exists).
    #[arg(long)]
    lock: Option<PathBuf>,
    /// Sample logs (files, folders, globs): every field a rule reads must occur in an event of its log
    /// source there.
    #[arg(long = "fields-from")]
    fields_from: Vec<String>,
    /// Year of the first line of syslog files without years (with --fields-from).
    #[arg(long)]
    year: Option<i32>,
}

#[derive(Debug, clap::Args)]
pub struct LockArgs {
    /// Rule folders or files (default: the bundled pack).
    paths: Vec<PathBuf>,
    /// The lock file to update.
    #[arg(long, default_value = DEFAULT_LOCK)]
    lock: PathBuf,
}

/// Where the version lock lives, relative to the rules repository's root.
const DEFAULT_LOCK: &str = "etc/rules.lock.json";

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum ValidateFormat {
    /// One line per finding, then a summary.
    Human,
    /// A JSON document: findings, error and warning counts.
    Json,
    /// SARIF 2.1.0, for CI code annotations.
    Sarif,
}

#[derive(Debug, clap::Args)]
pub struct TestArgs {
    /// Rule folders or files (added to --rules; default: the bundled pack).
    paths: Vec<PathBuf>,
    #[command(flatten)]
    rules: crate::args::RuleArgs,
    /// Only rules or cases whose name contains this (case-insensitive).
    #[arg(long)]
    filter: Option<String>,
    /// The folder `corpus = "shared/..."` paths start from (default: the parent of the current folder).
    #[arg(long = "data-root", default_value = "..")]
    data_root: PathBuf,
    /// The evaluation time: exceptions that expired before it no longer apply (default: now).
    #[arg(long)]
    now: Option<String>,
}

#[derive(Debug, clap::Args)]
pub struct ListArgs {
    #[command(flatten)]
    rules: crate::args::RuleArgs,
    /// List the rejected rule files and why, instead of the loaded rules.
    #[arg(long)]
    rejected: bool,
}

pub fn run(command: Rules) -> anyhow::Result<Outcome> {
    match command {
        Rules::List(args) => list(args),
        Rules::Test(args) => test(args),
        Rules::Validate(args) => validate(args),
        Rules::Fp(args) => fp(args),
        Rules::Lock(args) => lock(args),
        Rules::New(args) => new_rule(args),
        Rules::Stats(args) => stats(args),
    }
}

/// Sparkline levels, low to high.
const SPARK: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
/// Columns of a rule's alerts-over-time sparkline.
const SPAN: usize = 24;
/// Fields that describe what happened rather than who or where: never proposed as exceptions.
const DESCRIPTIVE: &[&str] = &["@timestamp", "message", "tags", "labels"];
const DESCRIPTIVE_PREFIXES: &[&str] = &["event.", "log.", "ecs.", "agent.", "winlog.", "Event."];

/// One alert as `rules stats` reads it.
struct AlertRecord {
    rule_id: String,
    rule_name: String,
    time: Option<Timestamp>,
    /// Text fields of the first event and the group fields, for exception suggestions.
    fields: Vec<(String, String)>,
}

fn stats(args: StatsArgs) -> anyhow::Result<Outcome> {
    let from_store =
        args.store || args.store_at.db.is_some() || args.store_at.database_url.is_some();
    let (inputs, errors) = if from_store {
        (Vec::new(), Vec::new())
    } else {
        secops_ingest::expand(&args.alerts)
    };
    if let Some(e) = errors.first() {
        anyhow::bail!("{e}");
    }
    let mut alerts = Vec::new();
    let mut bad = 0usize;
    if from_store {
        let mut store = args.store_at.open()?;
        for stored in store.alerts(&secops_store::AlertFilter::default())? {
            match alert_record(&stored.document) {
                Ok(record) => alerts.push(record),
                Err(reason) => {
                    bad += 1;
                    eprintln!("stored alert {}: not an alert: {reason}", stored.id);
                }
            }
        }
    }
    for input in &inputs {
        let name = input.name();
        let text = match input {
            secops_ingest::Input::Stdin => {
                let mut text = String::new();
                std::io::Read::read_to_string(&mut std::io::stdin(), &mut text)?;
                text
            }
            _ => std::fs::read_to_string(&name)
                .map_err(|e| anyhow::anyhow!("reading {name}: {e}"))?,
        };
        for (number, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            match alert_record(line) {
                Ok(record) => alerts.push(record),
                Err(reason) => {
                    bad += 1;
                    eprintln!("{name}:{}: not an alert: {reason}", number + 1);
                }
            }
        }
    }
    let loaded = args.rules.load()?;
    let times: Vec<Timestamp> = alerts.iter().filter_map(|a| a.time).collect();
    let (start, end) = match (times.iter().min(), times.iter().max()) {
        (Some(s), Some(e)) => (*s, *e),
        _ => {
            println!(
                "no alerts with a time in {} inputs ({bad} lines rejected)",
                inputs.len()
            );
            return Ok(if bad > 0 {
                Outcome::Rejections
            } else {
                Outcome::Clean
            });
        }
    };
    let mut by_rule: BTreeMap<&str, Vec<&AlertRecord>> = BTreeMap::new();
    for alert in &alerts {
        by_rule.entry(&alert.rule_id).or_default().push(alert);
    }
    let mut rows: Vec<(&str, Vec<&AlertRecord>)> = by_rule.into_iter().collect();
    rows.sort_by(|a, b| b.1.len().cmp(&a.1.len()).then_with(|| a.0.cmp(b.0)));
    let span = (end.unix_nanos() - start.unix_nanos()).max(1);
    println!(
        "{} alerts from {} rules, {} to {}",
        alerts.len(),
        rows.len(),
        start.to_rfc3339(),
        end.to_rfc3339()
    );
    println!("{:>7}  {:<SPAN$}  RULE", "ALERTS", "OVER TIME");
    for (_, list) in rows.iter().take(args.top) {
        let mut buckets = [0usize; SPAN];
        for alert in list {
            if let Some(t) = alert.time {
                let at = (t.unix_nanos() - start.unix_nanos()) as f64 / span as f64;
                buckets[((at * SPAN as f64) as usize).min(SPAN - 1)] += 1;
            }
        }
        let most = buckets.iter().copied().max().unwrap_or(0).max(1);
        let line: String = buckets
            .iter()
            .map(|&n| match n {
                0 => ' ',
                n => SPARK[((n * (SPARK.len() - 1)) / most).min(SPARK.len() - 1)],
            })
            .collect();
        println!("{:>7}  {line}  {}", list.len(), list[0].rule_name);
    }
    if rows.len() > args.top {
        println!("        ... and {} more rules", rows.len() - args.top);
    }
    // Suggested exceptions for the noisiest rules: entity values behind most of their alerts, except
    // in fields the rule's own condition or log source fixes (an SSH rule's process.name is sshd by
    // definition).
    println!("\nSuggested exceptions (a value behind most of a rule's alerts):");
    let tested: std::collections::HashMap<&str, Vec<String>> = loaded
        .native
        .iter()
        .map(|r| {
            let mut fields = validate::condition_fields(r);
            let source = secops_detect::LogSourceFilter::new(&r.file.rule.log_source);
            fields.extend(source.fields().into_iter().map(str::to_string));
            (r.file.rule.id.as_str(), fields)
        })
        .collect();
    let mut suggested = 0;
    for (id, list) in rows.iter().take(args.top) {
        if list.len() < args.min_alerts {
            continue;
        }
        let own = tested.get(id).map(Vec::as_slice).unwrap_or_default();
        let mut counts: BTreeMap<(&str, &str), usize> = BTreeMap::new();
        for alert in list {
            let mut seen = std::collections::BTreeSet::new();
            for (field, value) in alert.fields.iter().filter(|(f, _)| !own.contains(f)) {
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
        let Some(((field, value), _)) = top.first() else {
            continue;
        };
        suggested += 1;
        let candidates: Vec<String> = top
            .iter()
            .take(3)
            .map(|((f, v), n)| format!("{f} = {v:?} in {n} of {}", list.len()))
            .collect();
        println!("  {} ({id}): {}", list[0].rule_name, candidates.join("; "));
        println!(
            "    [[rule.exceptions]]\n    description = \"TODO: why {field} {value} is benign\"\n    \
             [[rule.exceptions.entries]]\n    field = {}\n    type = \"match\"\n    value = {}",
            toml_string(field),
            toml_string(value)
        );
    }
    if suggested == 0 {
        println!(
            "  none: no value lies behind most alerts of a rule with {} or more",
            args.min_alerts
        );
    }
    // Rules that never fired in this period.
    let fired: std::collections::BTreeSet<&str> = rows.iter().map(|(id, _)| *id).collect();
    let mut silent: Vec<(String, String)> = loaded
        .native
        .iter()
        .map(|r| (r.file.rule.name.clone(), r.file.rule.id.clone()))
        .chain(
            loaded
                .sigma
                .rules
                .iter()
                .map(|i| (i.name.clone(), i.id.clone())),
        )
        .filter(|(_, id)| !fired.contains(id.as_str()))
        .collect();
    silent.sort();
    println!(
        "\n{} of {} loaded rules never fired:",
        silent.len(),
        loaded.rule_count()
    );
    for (name, id) in silent.iter().take(args.top) {
        println!("  {name} ({id})");
    }
    if silent.len() > args.top {
        println!("  ... and {} more", silent.len() - args.top);
    }
    if bad > 0 {
        println!("{bad} lines were not alerts");
    }
    Ok(if bad > 0 {
        Outcome::Rejections
    } else {
        Outcome::Clean
    })
}

/// Reads one JSON line written by `secops detect --output jsonl`.
fn alert_record(line: &str) -> Result<AlertRecord, String> {
    let value: serde_json::Value = serde_json::from_str(line).map_err(|e| e.to_string())?;
    let text = |key: &str| value.get(key).and_then(|v| v.as_str()).map(str::to_string);
    let rule_id = text("rule.id").ok_or("no rule.id")?;
    let rule_name = text("rule.name").unwrap_or_else(|| rule_id.clone());
    let time = text("@timestamp").and_then(|t| Timestamp::parse_rfc3339(&t).ok());
    let mut fields = Vec::new();
    let mut add = |key: &str, v: &serde_json::Value| {
        let descriptive = DESCRIPTIVE.contains(&key)
            || DESCRIPTIVE_PREFIXES.iter().any(|p| key.starts_with(p))
            || key.starts_with("rule.")
            || key.starts_with("alert.")
            || key.starts_with("threat.")
            || key.starts_with("threshold.");
        let text = match v {
            serde_json::Value::String(s) => s.clone(),
            serde_json::Value::Number(n) => n.to_string(),
            _ => return,
        };
        if !descriptive {
            fields.push((key.to_string(), text));
        }
    };
    if let Some(object) = value.as_object() {
        for (key, v) in object {
            add(key, v);
        }
    }
    if let Some(first) = value
        .get("events")
        .and_then(|e| e.as_array())
        .and_then(|e| e.first())
        .and_then(|e| e.as_object())
    {
        for (key, v) in first {
            add(key, v);
        }
    }
    Ok(AlertRecord {
        rule_id,
        rule_name,
        time,
        fields,
    })
}

fn new_rule(args: NewArgs) -> anyhow::Result<Outcome> {
    const TODO: &str = "event.action:\"TODO\"";
    let (language, query, table) = match args.rule_type.as_str() {
        "query" => ("kql", TODO, String::new()),
        "eql" => ("eql", "process where process.name == \"TODO\"", String::new()),
        "threshold" => (
            "kql",
            TODO,
            "\n[rule.threshold]\nfield = [\"source.ip\"]\nvalue = 10\nwindow = \"5m\"\n".to_string(),
        ),
        "new_terms" => (
            "kql",
            TODO,
            "\n[rule.new_terms]\nfields = [\"user.name\"]\nhistory_window_start = \"now-14d\"\n"
                .to_string(),
        ),
        "anomaly" => (
            "kql",
            TODO,
            "\n[rule.anomaly]\nby = [\"host.name\"]\nbucket = \"1h\"\nmin_history = 24\nthreshold = 3.5\n"
                .to_string(),
        ),
        "threat_match" => (
            "kql",
            "destination.ip:*",
            "\n[[rule.threat_mapping]]\n[[rule.threat_mapping.entries]]\nfield = \"destination.ip\"\n\
             type = \"mapping\"\nvalue = \"threat.indicator.ip\"\n"
                .to_string(),
        ),
        other => anyhow::bail!(
            "unknown rule type {other:?}: use query, eql, threshold, new_terms, anomaly or threat_match"
        ),
    };
    let (folder, threat, tag) = match &args.tactic {
        Some(shortname) => {
            let id = secops_rules::sigma::tags::tactic_id(shortname)
                .filter(|id| id.starts_with("TA"))
                .ok_or_else(|| {
                    anyhow::anyhow!(
                        "unknown ATT&CK tactic {shortname:?} (use a shortname such as credential-access)"
                    )
                })?;
            let name = tactic_name(shortname);
            (
                shortname.replace('-', "_"),
                format!(
                    "\n[[rule.threat]]\nframework = \"MITRE ATT&CK\"\n[rule.threat.tactic]\nid = \"{id}\"\n\
                     name = \"{name}\"\nreference = \"https://attack.mitre.org/tactics/{id}/\"\n"
                ),
                format!("\"Tactic: {name}\", "),
            )
        }
        None => (String::new(), String::new(), String::new()),
    };
    let stem = secops_rules::naming::snake_case(&args.name);
    if stem.is_empty() {
        anyhow::bail!("the name {:?} gives an empty file name", args.name);
    }
    let file_name = if folder.is_empty() {
        format!("{stem}.toml")
    } else {
        format!("{folder}_{stem}.toml")
    };
    let path = args.dir.join(&folder).join(file_name);
    if path.exists() {
        anyhow::bail!("{} exists already", path.display());
    }
    let today = chrono::Utc::now().format("%Y-%m-%d");
    let mut log_source = format!("product = {}\n", toml_string(&args.product));
    for (key, value) in [("category", &args.category), ("service", &args.service)] {
        if let Some(v) = value {
            log_source.push_str(&format!("{key} = {}\n", toml_string(v)));
        }
    }
    let id = uuid::Uuid::new_v4();
    let name = toml_string(&args.name);
    let rule_type = &args.rule_type;
    let text = format!(
        r#"[metadata]
creation_date = "{today}"
updated_date = "{today}"
maturity = "development"

[rule]
id = "{id}"
name = {name}
description = "TODO: what the rule detects and why it matters."
author = ["TODO"]
license = "Apache-2.0"
type = "{rule_type}"
language = "{language}"
query = '''
{query}
'''
severity = "medium"
risk_score = 47
tags = [{tag}"Use Case: Threat Detection"]

[rule.log_source]
{log_source}{table}{threat}
[[test]]
name = "TODO: events that must alert"
expect = "alert"

[[test]]
name = "TODO: similar events that must not alert"
expect = "no_alert"
"#
    );
    // What is written must load.
    secops_rules::load::load_text(&path, &text).map_err(|e| anyhow::anyhow!("{e}"))?;
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(&path, text).map_err(|e| anyhow::anyhow!("writing {}: {e}", path.display()))?;
    println!("{}", path.display());
    Ok(Outcome::Clean)
}

/// `command-and-control` -> `Command and Control`.
fn tactic_name(shortname: &str) -> String {
    shortname
        .split('-')
        .enumerate()
        .map(|(i, word)| match word {
            "and" if i > 0 => "and".to_string(),
            _ => {
                let mut chars = word.chars();
                chars
                    .next()
                    .map(|c| c.to_uppercase().chain(chars).collect())
                    .unwrap_or_default()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// A TOML basic string.
fn toml_string(text: &str) -> String {
    toml::Value::String(text.to_string()).to_string()
}

/// Rule files found for a command.
struct RuleTexts {
    /// TOML rules as (path, text).
    files: Vec<(PathBuf, String)>,
    sigma_files: Vec<PathBuf>,
    /// Files that could not be read.
    findings: Vec<Finding>,
}

/// The bundled pack without paths, else every rule file below them.
fn rule_texts(paths: &[PathBuf]) -> anyhow::Result<RuleTexts> {
    if paths.is_empty() {
        return Ok(RuleTexts {
            files: secops_service::ruleset::bundled_texts(),
            sigma_files: Vec::new(),
            findings: Vec::new(),
        });
    }
    let (mut files, mut sigma_files, mut findings) = (Vec::new(), Vec::new(), Vec::new());
    for path in paths {
        if !path.exists() {
            anyhow::bail!("rules path {} does not exist", path.display());
        }
        let mut walk_errors = Vec::new();
        for file in files_with(path, &["toml", "yml", "yaml"], &mut walk_errors) {
            if file.extension().is_some_and(|e| e == "toml") {
                match std::fs::read_to_string(&file) {
                    Ok(text) => files.push((file, text)),
                    Err(e) => walk_errors.push(secops_rules::RuleError {
                        file,
                        line: None,
                        key: None,
                        message: e.to_string(),
                    }),
                }
            } else {
                sigma_files.push(file);
            }
        }
        findings.extend(walk_errors.into_iter().map(|e| Finding {
            level: Level::Error,
            check: "schema",
            file: e.file,
            line: e.line,
            message: e.message,
        }));
    }
    Ok(RuleTexts {
        files,
        sigma_files,
        findings,
    })
}

/// Every event in the sample logs.
fn read_events(paths: &[String], year: Option<i32>) -> anyhow::Result<Vec<secops_event::Event>> {
    let mut events = Vec::new();
    let counts = crate::cmd::each_event(paths, year, &mut |event| events.push(event))?;
    eprintln!(
        "sample logs: {} events, {} records rejected, from {} inputs",
        counts.events, counts.rejected, counts.inputs
    );
    Ok(events)
}

fn read_lock(path: &std::path::Path) -> anyhow::Result<Lock> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| anyhow::anyhow!("reading {}: {e}", path.display()))?;
    Lock::parse(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
}

fn lock(args: LockArgs) -> anyhow::Result<Outcome> {
    let RuleTexts {
        files, findings, ..
    } = rule_texts(&args.paths)?;
    if let Some(f) = findings.first() {
        anyhow::bail!("{}: {}", f.file.display(), f.message);
    }
    let mut lock = if args.lock.exists() {
        read_lock(&args.lock)?
    } else {
        Lock::default()
    };
    let mut inputs = Vec::new();
    for (path, text) in &files {
        let rule = secops_rules::load::load_text(path, text)
            .map_err(|e| anyhow::anyhow!("{e} (fix it before locking)"))?;
        let sha256 = rule_hash(text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        inputs.push(LockInput {
            id: rule.file.rule.id.clone(),
            name: rule.file.rule.name.clone(),
            rule_type: rule.file.rule.rule_type.as_str().to_string(),
            maturity: rule.file.metadata.maturity.as_str().to_string(),
            updated_date: rule.file.metadata.updated_date.clone(),
            sha256,
        });
    }
    let changes = lock.update(&inputs);
    for change in &changes {
        println!("{change}");
    }
    if let Some(parent) = args.lock.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(&args.lock, lock.to_text())
        .map_err(|e| anyhow::anyhow!("writing {}: {e}", args.lock.display()))?;
    println!(
        "{}: {} rules locked, {} changed",
        args.lock.display(),
        lock.entries.len(),
        changes.len()
    );
    Ok(Outcome::Clean)
}

/// Width of the bars in `rules fp`.
const BAR: usize = 30;

fn fp(args: FpArgs) -> anyhow::Result<Outcome> {
    let loaded = args.rules.load()?;
    for rejection in &loaded.rejected {
        eprintln!("rejected: {rejection}");
    }
    let now = parse_now(None)?;
    let rule_count = loaded.rule_count();
    let (mut engine, compile_errors) = secops_detect::Engine::with_sigma(
        &loaded.native,
        loaded.sigma,
        now,
        &secops_detect::IndicatorSet::default(),
    );
    for (id, error) in &compile_errors {
        eprintln!("error: rule {id}: {error}");
    }
    let (inputs, input_errors) = secops_ingest::expand(&args.benign);
    if let Some(e) = input_errors.first() {
        anyhow::bail!("{e}");
    }
    let options = secops_ingest::Options {
        format: None,
        year: args.year,
    };
    let run = crate::cmd::run_pipeline(
        &mut engine,
        &inputs,
        &options,
        std::io::stderr().is_terminal(),
    );
    let mut per_rule: BTreeMap<(String, String), u64> = BTreeMap::new();
    for alert in &run.alerts {
        *per_rule
            .entry((alert.rule.name.clone(), alert.rule.id.clone()))
            .or_default() += 1;
    }
    let mut rows: Vec<((String, String), u64)> = per_rule.into_iter().collect();
    rows.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    let per_million = |n: u64| n as f64 * 1_000_000.0 / run.events.max(1) as f64;
    let most = rows.first().map_or(1, |r| r.1).max(1);
    let mut over = 0;
    if !rows.is_empty() {
        println!("{:>8} {:>12}  {:<BAR$}  RULE", "ALERTS", "PER MILLION", "");
    }
    for ((name, id), n) in &rows {
        let rate = per_million(*n);
        let bar = "█".repeat(((*n as f64 / most as f64) * BAR as f64).ceil() as usize);
        let flag = match args.budget {
            Some(budget) if rate > budget => {
                over += 1;
                "  OVER BUDGET"
            }
            _ => "",
        };
        println!("{n:>8} {rate:>12.1}  {bar:<BAR$}  {name} ({id}){flag}");
    }
    println!(
        "{} events ({} rejected) from {} inputs; {} of {rule_count} rules raised {} alerts",
        run.events,
        run.rejected,
        inputs.len(),
        rows.len(),
        run.alerts.len()
    );
    if let Some(budget) = args.budget {
        println!("{over} rules over the budget of {budget} alerts per million events");
    }
    Ok(if over > 0 {
        Outcome::Failures
    } else if run.rejected > 0 || !loaded.rejected.is_empty() {
        Outcome::Rejections
    } else {
        Outcome::Clean
    })
}

fn parse_now(text: Option<&str>) -> anyhow::Result<Timestamp> {
    match text {
        Some(text) => {
            Timestamp::parse_rfc3339(text).map_err(|e| anyhow::anyhow!("--now {text:?}: {e}"))
        }
        None => crate::cmd::clock_now(),
    }
}

fn validate(args: ValidateArgs) -> anyhow::Result<Outcome> {
    let catalogue = match args.attack.path() {
        Some(_) => Some(args.attack.load()?),
        None => None,
    };
    let now = parse_now(args.now.as_deref())?;
    let RuleTexts {
        files,
        sigma_files,
        mut findings,
    } = rule_texts(&args.paths)?;
    let lock_path = args
        .lock
        .clone()
        .or_else(|| Some(PathBuf::from(DEFAULT_LOCK)).filter(|p| p.exists()));
    let lock = lock_path.as_deref().map(read_lock).transpose()?;
    let events = if args.fields_from.is_empty() {
        None
    } else {
        Some(read_events(&args.fields_from, args.year)?)
    };
    let options = validate::Options {
        attack: catalogue.as_ref(),
        now,
        data_root: &args.data_root,
        run_tests: !args.no_tests,
        lock: lock.as_ref(),
        events: events.as_deref(),
    };
    let (valid, rule_findings) = validate::validate(&files, &options);
    findings.extend(rule_findings);
    // Sigma files: they must load and be able to run.
    let sigma_count = sigma_files.len();
    let mut documents = Vec::new();
    for file in &sigma_files {
        match load_sigma_file(file, &Placeholders::new()) {
            Ok(docs) => documents.extend(docs),
            Err(e) => findings.push(Finding {
                level: Level::Error,
                check: "sigma",
                file: e.file.clone(),
                line: None,
                message: e.to_string(),
            }),
        }
    }
    for rejected in sigma::compile(&documents, &Mapping::bundled()).rejected {
        findings.push(Finding {
            level: Level::Error,
            check: "sigma",
            file: rejected.file,
            line: None,
            message: rejected.reason,
        });
    }
    let errors = findings.iter().filter(|f| f.level == Level::Error).count();
    let warnings = findings.len() - errors;
    let checked = files.len() + sigma_count;
    match args.format {
        ValidateFormat::Human => {
            for f in &findings {
                let place = match (f.file.as_os_str().is_empty(), f.line) {
                    (true, _) => String::new(),
                    (false, Some(line)) => format!("{}:{line}: ", f.file.display()),
                    (false, None) => format!("{}: ", f.file.display()),
                };
                println!("{}[{}] {place}{}", f.level.as_str(), f.check, f.message);
            }
            println!(
                "{checked} rule files checked ({valid} TOML rules loaded, {sigma_count} Sigma files): {errors} errors, {warnings} warnings"
            );
        }
        ValidateFormat::Json => {
            let list: Vec<serde_json::Value> = findings
                .iter()
                .map(|f| {
                    serde_json::json!({
                        "level": f.level.as_str(),
                        "check": f.check,
                        "file": f.file.display().to_string(),
                        "line": f.line,
                        "message": f.message,
                    })
                })
                .collect();
            let doc = serde_json::json!({
                "files": checked,
                "errors": errors,
                "warnings": warnings,
                "findings": list,
            });
            println!("{}", serde_json::to_string_pretty(&doc)?);
        }
        ValidateFormat::Sarif => println!("{}", serde_json::to_string_pretty(&sarif(&findings))?),
    }
    Ok(if errors > 0 {
        Outcome::Failures
    } else {
        Outcome::Clean
    })
}

/// Findings as a SARIF 2.1.0 log: one run, one reporting rule per check.
fn sarif(findings: &[Finding]) -> serde_json::Value {
    let rules: Vec<serde_json::Value> = validate::CHECKS
        .iter()
        .chain(&[(
            "sigma",
            "Sigma rules load and can run on the mapped log sources",
        )])
        .map(|(id, text)| serde_json::json!({"id": id, "shortDescription": {"text": text}}))
        .collect();
    let results: Vec<serde_json::Value> = findings
        .iter()
        .map(|f| {
            let mut location = serde_json::json!({
                "artifactLocation": {"uri": f.file.to_string_lossy().replace('\\', "/")}
            });
            if let Some(line) = f.line {
                location["region"] = serde_json::json!({"startLine": line});
            }
            let mut result = serde_json::json!({
                "ruleId": f.check,
                "level": f.level.as_str(),
                "message": {"text": f.message},
            });
            if !f.file.as_os_str().is_empty() {
                result["locations"] = serde_json::json!([{"physicalLocation": location}]);
            }
            result
        })
        .collect();
    serde_json::json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": "secops",
                "version": env!("CARGO_PKG_VERSION"),
                "informationUri": "https://github.com/secops/secops",
                "rules": rules,
            }},
            "results": results,
        }],
    })
}

fn test(mut args: TestArgs) -> anyhow::Result<Outcome> {
    args.rules.rules.append(&mut args.paths);
    let loaded = args.rules.load()?;
    for rejection in &loaded.rejected {
        println!("ERROR {rejection}");
    }
    let now = match &args.now {
        Some(text) => {
            Timestamp::parse_rfc3339(text).map_err(|e| anyhow::anyhow!("--now {text:?}: {e}"))?
        }
        None => Timestamp::from_datetime(&chrono::Utc::now())
            .ok_or_else(|| anyhow::anyhow!("the clock is out of range"))?,
    };
    let filter = args.filter.as_deref().map(str::to_lowercase);
    let (mut passed, mut failed, mut skipped) = (0usize, 0usize, 0usize);
    for rule in &loaded.native {
        let name = &rule.file.rule.name;
        for outcome in run_tests_in(rule, &loaded.native, &args.data_root, now) {
            if let Some(f) = &filter {
                if !name.to_lowercase().contains(f) && !outcome.test.to_lowercase().contains(f) {
                    continue;
                }
            }
            match &outcome.result {
                TestResult::Passed => {
                    passed += 1;
                    println!("ok    {name} / {}", outcome.test);
                }
                TestResult::Skipped(why) => {
                    skipped += 1;
                    println!("skip  {name} / {}: {why}", outcome.test);
                }
                TestResult::Failed(why) => {
                    failed += 1;
                    println!("FAIL  {name} / {}", outcome.test);
                    for line in why {
                        println!("      {line}");
                    }
                    if outcome.actual.is_empty() {
                        println!("      actual: no alerts");
                    } else {
                        println!("      actual: {} alert(s)", outcome.actual.len());
                        for line in outcome.actual.iter().take(10) {
                            println!("        {line}");
                        }
                    }
                }
            }
        }
    }
    if skipped > 0 {
        println!("{skipped} skipped (their data is not present)");
    }
    let rejected = loaded.rejected.len();
    if rejected > 0 {
        println!("{rejected} rule files did not load");
    }
    println!("{passed} passed, {failed} failed");
    Ok(if failed > 0 || rejected > 0 {
        Outcome::Failures
    } else {
        Outcome::Clean
    })
}

fn list(args: ListArgs) -> anyhow::Result<Outcome> {
    let loaded = args.rules.load()?;
    if args.rejected {
        for rejection in &loaded.rejected {
            println!("{rejection}");
        }
    } else {
        println!(
            "{:<36}  {:<12} {:<8} {:<22} NAME",
            "ID", "TYPE", "SEVERITY", "ATT&CK"
        );
        let mut infos: Vec<Arc<RuleInfo>> = Vec::new();
        infos.extend(
            loaded
                .native
                .iter()
                .map(|rule| Arc::new(RuleInfo::of_rule(rule))),
        );
        infos.extend(loaded.sigma.rules.iter().cloned());
        infos.extend(loaded.sigma.correlations.iter().map(|c| c.info.clone()));
        for info in &infos {
            let severity = info.severity.as_str();
            println!(
                "{:<36}  {:<12} {:<8} {:<22} {}",
                info.id,
                info.rule_type.as_str(),
                severity,
                info.techniques().join(","),
                info.name
            );
        }
    }
    eprintln!(
        "{} rules loaded, {} rejected, {} left out by --status/--level/--tag ({:.2} s)",
        loaded.rule_count(),
        loaded.rejected.len(),
        loaded.filtered,
        loaded.load_seconds
    );
    Ok(if loaded.rejected.is_empty() {
        Outcome::Clean
    } else {
        Outcome::Rejections
    })
}
