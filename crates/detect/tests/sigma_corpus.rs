//! SigmaHQ's rules and regression samples from `../shared/corpus/sigma` (skipped, with a message,
//! without it): the four rule folders load except rules rejected with a reason, every `unsupported/`
//! rule is rejected, and every regression case whose rule is present matches its EVTX sample and its
//! JSON rendering at least `match_count` times.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use secops_detect::sigma::{self, Mapping};
use secops_detect::{Alert, Engine, IndicatorSet};
use secops_event::Timestamp;
use secops_ingest::{expand, read_input, Options};
use secops_rules::load::load_sigma;
use secops_rules::sigma::yaml::{parse_documents, Yaml};
use secops_rules::sigma::{Placeholders, SigmaDocument, SigmaError};

fn corpus() -> Option<PathBuf> {
    secops_testkit::shared("corpus/sigma")
}

const FOLDERS: [&str; 4] = [
    "rules",
    "rules-emerging-threats",
    "rules-threat-hunting",
    "rules-compliance",
];

fn load_folders(root: &Path, folders: &[&str]) -> (Vec<SigmaDocument>, Vec<SigmaError>) {
    let (mut docs, mut errors) = (Vec::new(), Vec::new());
    for folder in folders {
        let (d, e) = load_sigma(&root.join(folder), &Placeholders::new());
        docs.extend(d);
        errors.extend(e);
    }
    (docs, errors)
}

fn yaml_files(dir: &Path, out: &mut BTreeSet<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            yaml_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "yml" || e == "yaml") {
            out.insert(path);
        }
    }
}

/// Parses and compiles the folders; returns the rules that run, and every rejected file with its
/// reason (parse errors and rules that cannot run alike).
fn load_and_compile(root: &Path, folders: &[&str]) -> (usize, BTreeMap<PathBuf, String>) {
    let (docs, errors) = load_folders(root, folders);
    let compiled = sigma::compile(&docs, &Mapping::bundled());
    let mut rejected = BTreeMap::new();
    for e in errors {
        rejected.insert(e.file.clone(), e.message);
    }
    for r in compiled.rejected {
        rejected.insert(r.file, r.reason);
    }
    (compiled.rules.len() + compiled.correlations.len(), rejected)
}

#[test]
fn sigmahq_rule_folders_load_except_rules_rejected_with_a_reason() {
    let Some(root) = corpus() else { return };
    let (running, rejected) = load_and_compile(&root, &FOLDERS);
    let mut files = BTreeSet::new();
    for folder in FOLDERS {
        yaml_files(&root.join(folder), &mut files);
    }
    let mut by_reason: BTreeMap<&str, usize> = BTreeMap::new();
    for (file, reason) in &rejected {
        assert!(files.contains(file), "{}", file.display());
        assert!(reason.len() > 10, "{}: {reason:?}", file.display());
        eprintln!("rejected: {}: {reason}", file.display());
        *by_reason
            .entry(reason.split(':').next().unwrap_or(reason))
            .or_default() += 1;
    }
    eprintln!(
        "{} files, {running} rules run, {} rejected: {by_reason:#?}",
        files.len(),
        rejected.len()
    );
    // SigmaHQ's folders hold about 3,750 rules; those rejected are for log sources with no mapping
    // (macOS, application logs, ...) and rules needing fields their events never carry.
    assert!(running > 3550, "only {running} rules run");
    assert!(rejected.len() < 200, "{} rejected", rejected.len());
}

#[test]
fn every_unsupported_rule_is_rejected_with_a_reason() {
    let Some(root) = corpus() else { return };
    let (running, rejected) = load_and_compile(&root, &["unsupported"]);
    assert_eq!(running, 0);
    let mut files = BTreeSet::new();
    yaml_files(&root.join("unsupported"), &mut files);
    assert_eq!(files.len(), 87);
    assert_eq!(rejected.keys().cloned().collect::<BTreeSet<_>>(), files);
    // Four are valid Sigma refused only for fields their log source never carries.
    for (name, field) in [
        (
            "file_event_executable_and_script_creation_by_office_using_file_ext.yml",
            "FileMagicBytes, FileName",
        ),
        ("sysmon_non_priv_program_files_move.yml", "IntegrityLevel"),
        (
            "win_suspicious_werfault_connection_outbound.yml",
            "ParentImage",
        ),
        (
            "lnx_auditd_omigod_scx_runasprovider_executescript.yml",
            "cmdline",
        ),
    ] {
        let (_, reason) = rejected
            .iter()
            .find(|(f, _)| f.file_name().is_some_and(|n| n == name))
            .unwrap();
        assert!(
            reason.contains(&format!("carry no {field}")),
            "{name}: {reason}"
        );
    }
}

struct Case {
    rule_id: String,
    match_count: usize,
    evtx: PathBuf,
    json: Option<PathBuf>,
}

fn cases(root: &Path) -> Vec<Case> {
    let mut out = Vec::new();
    let mut stack = vec![root.join("regression_data")];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.file_name().is_some_and(|n| n == "info.yml") {
                let text = std::fs::read_to_string(&path).unwrap();
                let doc = parse_documents(&text).unwrap().remove(0);
                let rule_id = doc
                    .get("rule_metadata")
                    .and_then(|m| match m {
                        Yaml::Seq(items) => items.first().and_then(|i| i.get("id")),
                        _ => None,
                    })
                    .and_then(Yaml::scalar_text)
                    .unwrap();
                let Some(Yaml::Seq(tests)) = doc.get("regression_tests_info") else {
                    continue;
                };
                for test in tests {
                    let Some(rel) = test.get("path").and_then(Yaml::scalar_text) else {
                        continue;
                    };
                    let evtx = root.join(&rel);
                    if !evtx.exists() {
                        continue;
                    }
                    let json = evtx.with_extension("json");
                    out.push(Case {
                        rule_id: rule_id.clone(),
                        match_count: test
                            .get("match_count")
                            .and_then(|c| match c {
                                Yaml::Int(i) => Some(*i as usize),
                                _ => None,
                            })
                            .unwrap_or(1),
                        evtx,
                        json: json.exists().then_some(json),
                    });
                }
            }
        }
    }
    out.sort_by(|a, b| a.evtx.cmp(&b.evtx));
    out
}

fn run(documents: &[SigmaDocument], file: &Path) -> Vec<Alert> {
    let compiled = sigma::compile(documents, &Mapping::bundled());
    assert!(compiled.rejected.is_empty(), "{:?}", compiled.rejected);
    let now = Timestamp::parse_rfc3339("2026-11-22T00:00:00Z").unwrap();
    let (mut engine, _) = Engine::with_sigma(&[], compiled, now, &IndicatorSet::default());
    let (inputs, errors) = expand(&[file.to_string_lossy().into_owned()]);
    assert!(errors.is_empty(), "{errors:?}");
    let mut alerts = Vec::new();
    for input in &inputs {
        let mut events = Vec::new();
        read_input(input, &Options::default(), &mut |r| {
            if let Ok(e) = r {
                events.push(e)
            }
        })
        .unwrap();
        for event in &events {
            engine.process(event, &mut alerts);
        }
    }
    alerts
}

#[test]
fn every_present_regression_case_matches_evtx_and_json() {
    let Some(root) = corpus() else { return };
    let mut by_id: HashMap<String, SigmaDocument> = HashMap::new();
    for doc in load_folders(&root, &FOLDERS).0 {
        if let Some(id) = doc.meta().id.clone() {
            by_id.insert(id, doc);
        }
    }
    let cases = cases(&root);
    assert!(cases.len() > 150, "only {} cases", cases.len());
    let mut failures = Vec::new();
    let mut checked = 0;
    for case in &cases {
        let Some(rule) = by_id.get(&case.rule_id) else {
            failures.push(format!(
                "{}: rule {} not loaded",
                case.evtx.display(),
                case.rule_id
            ));
            continue;
        };
        for file in std::iter::once(&case.evtx).chain(case.json.as_ref()) {
            checked += 1;
            let alerts = run(std::slice::from_ref(rule), file);
            if alerts.len() < case.match_count {
                failures.push(format!(
                    "{}: {} alerts, expected at least {} ({})",
                    file.display(),
                    alerts.len(),
                    case.match_count,
                    rule.meta().title
                ));
            }
        }
    }
    eprintln!("{checked} samples checked, {} failures", failures.len());
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
