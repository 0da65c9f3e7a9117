//! SigmaHQ's regression samples (`../shared/corpus/sigma/regression_data`): every case whose rule is
//! present must match its EVTX sample and its JSON rendering at least `match_count` times. Skipped, with
//! a message, without `../shared`.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use secops_detect::sigma::{self, Mapping};
use secops_detect::{Alert, Engine, IndicatorSet};
use secops_event::Timestamp;
use secops_ingest::{expand, read_input, Options};
use secops_rules::load::load_sigma;
use secops_rules::sigma::yaml::{parse_documents, Yaml};
use secops_rules::sigma::{Placeholders, SigmaDocument};

fn corpus() -> Option<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpus/sigma");
    if dir.is_dir() {
        Some(dir)
    } else {
        eprintln!("SKIPPED: ../shared/corpus/sigma is not present");
        None
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
    for folder in [
        "rules",
        "rules-emerging-threats",
        "rules-threat-hunting",
        "rules-compliance",
    ] {
        let (docs, _) = load_sigma(&root.join(folder), &Placeholders::new());
        for doc in docs {
            if let Some(id) = doc.meta().id.clone() {
                by_id.insert(id, doc);
            }
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
