//! Every bundled rule loads, compiles, and passes its own embedded `[[test]]` cases.

#![allow(clippy::unwrap_used, clippy::panic)] // test helpers outside #[test] functions

use std::path::{Path, PathBuf};

use secops_detect::testing::{run_tests, TestResult};
use secops_event::Timestamp;
use secops_rules::{CheckedRule, RuleFile};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

pub fn bundled_rules() -> Vec<(PathBuf, CheckedRule)> {
    let mut files = Vec::new();
    let mut stack = vec![repo().join("rules")];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "toml") {
                files.push(path);
            }
        }
    }
    files.sort();
    files
        .into_iter()
        .map(|path| {
            let text = std::fs::read_to_string(&path).unwrap();
            let checked = RuleFile::parse(&path, &text)
                .and_then(|f| f.check(&path, &text))
                .unwrap_or_else(|e| panic!("{e}"));
            (path, checked)
        })
        .collect()
}

#[test]
fn every_bundled_rule_passes_its_embedded_tests() {
    let rules = bundled_rules();
    assert!(!rules.is_empty());
    let now = Timestamp::parse_rfc3339("2026-11-22T00:00:00Z").unwrap();
    let (mut passed, mut failed, mut skipped) = (0, Vec::new(), 0);
    for (path, rule) in &rules {
        assert!(
            !rule.file.tests.is_empty(),
            "{} has no [[test]] cases",
            path.display()
        );
        for outcome in run_tests(rule, &repo().join(".."), now) {
            match outcome.result {
                TestResult::Passed => passed += 1,
                TestResult::Failed(why) => failed.push(format!(
                    "{} / {}: {}",
                    path.display(),
                    outcome.test,
                    why.join("; ")
                )),
                TestResult::Skipped(why) => {
                    eprintln!("SKIPPED: {} / {}: {why}", path.display(), outcome.test);
                    skipped += 1;
                }
            }
        }
    }
    eprintln!(
        "rule tests: {passed} passed, {} failed, {skipped} skipped",
        failed.len()
    );
    assert!(
        failed.is_empty(),
        "failing rule tests:\n{}",
        failed.join("\n")
    );
}
