//! `secops rules validate`: the CI checks of detection-as-code.md section 6.11, for people (one line per
//! finding), scripts (`--format json`) and code annotations (`--format sarif`); exit 1 on any error.

use std::path::PathBuf;

use secops_lab::files::validate_files;
use secops_lab::validate::{self, Finding};

use crate::Outcome;

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

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum ValidateFormat {
    /// One line per finding, then a summary.
    Human,
    /// A JSON document: findings, error and warning counts.
    Json,
    /// SARIF 2.1.0, for CI code annotations.
    Sarif,
}

pub fn run(args: ValidateArgs) -> anyhow::Result<Outcome> {
    let catalogue = match args.attack.path() {
        Some(_) => Some(args.attack.load()?),
        None => None,
    };
    let now = super::parse_now(args.now.as_deref())?;
    let files = super::rule_files(&args.paths)?;
    let lock_path = args
        .lock
        .clone()
        .or_else(|| Some(PathBuf::from(super::DEFAULT_LOCK)).filter(|p| p.exists()));
    let lock = lock_path.as_deref().map(super::read_lock).transpose()?;
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
    let mut report = validate_files(&files, &options);
    let hunts = hunt_findings(&args, &files, now)?;
    report.checked += hunts.0;
    report.findings.extend(hunts.1);
    let (findings, errors, warnings) = (&report.findings, report.errors(), report.warnings());
    let (checked, valid, sigma_count) = (report.checked, report.valid, report.sigma_files);
    match args.format {
        ValidateFormat::Human => {
            for f in findings {
                let place = match (f.file.as_os_str().is_empty(), f.line) {
                    (true, _) => String::new(),
                    (false, Some(line)) => format!("{}:{line}: ", f.file.display()),
                    (false, None) => format!("{}: ", f.file.display()),
                };
                println!("{}[{}] {place}{}", f.level.as_str(), f.check, f.message);
            }
            println!(
                "{checked} rule files checked ({valid} TOML rules loaded, {sigma_count} Sigma files, {} hunt files): {errors} errors, {warnings} warnings",
                hunts.0
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
        ValidateFormat::Sarif => println!("{}", serde_json::to_string_pretty(&sarif(findings))?),
    }
    Ok(if errors > 0 {
        Outcome::Failures
    } else {
        Outcome::Clean
    })
}

/// The hunt files beside the rules (the bundled library with the bundled pack), checked as `hunt
/// validate` checks them and, unless `--no-tests`, their cases run: how many, and the findings.
fn hunt_findings(
    args: &ValidateArgs,
    files: &secops_lab::files::RuleFiles,
    now: secops_event::Timestamp,
) -> anyhow::Result<(usize, Vec<Finding>)> {
    let texts = if args.paths.is_empty() {
        secops_service::hunt_library::bundled_texts()
    } else {
        files.hunts.clone()
    };
    let count = texts.len();
    let finding = |check: &'static str, file: PathBuf, message: String| Finding {
        level: validate::Level::Error,
        check,
        file,
        line: None,
        column: None,
        message,
    };
    let mut findings = Vec::new();
    let checked = secops_service::hunt::validate_texts(
        texts
            .iter()
            .map(|(p, t)| (p.clone(), Ok(t.clone())))
            .collect(),
        now,
        false,
    );
    for line in checked.unreadable.iter().chain(&checked.problems) {
        findings.push(finding("hunt", PathBuf::new(), line.clone()));
    }
    for c in &checked.checked {
        if let Some(error) = &c.error {
            findings.push(finding(
                "hunt",
                c.file.clone(),
                format!("query {}: {error}", c.number),
            ));
        }
    }
    if !args.no_tests {
        let library = secops_service::hunt_library::Library::read(texts);
        for entry in &library.hunts {
            for case in secops_service::hunt_library::run_tests(entry, &args.data_root) {
                if !case.passed() {
                    findings.push(finding(
                        "hunt-test",
                        entry.path.clone(),
                        format!("{}: {}", case.test, case.failures.join("; ")),
                    ));
                }
            }
        }
    }
    Ok((count, findings))
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

/// Findings as a SARIF 2.1.0 log: one run, one reporting rule per check.
fn sarif(findings: &[Finding]) -> serde_json::Value {
    let rules: Vec<serde_json::Value> = validate::CHECKS
        .iter()
        .chain(&[
            (
                "sigma",
                "Sigma rules load and can run on the mapped log sources",
            ),
            (
                "hunt",
                "Hunt files read, name their ids, techniques and tests rightly, and their queries plan",
            ),
            ("hunt-test", "Hunt files' test cases give the rows they expect"),
        ])
        .map(|(id, text)| serde_json::json!({"id": id, "shortDescription": {"text": text}}))
        .collect();
    let results: Vec<serde_json::Value> = findings
        .iter()
        .map(|f| {
            let mut location = serde_json::json!({
                "artifactLocation": {"uri": f.file.to_string_lossy().replace('\\', "/")}
            });
            match (f.line, f.column) {
                (Some(line), Some(column)) => {
                    location["region"] =
                        serde_json::json!({"startLine": line, "startColumn": column});
                }
                (Some(line), None) => location["region"] = serde_json::json!({"startLine": line}),
                _ => {}
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
