//! Every bundled rule loads, compiles, and passes its own embedded `[[test]]` cases.

#![allow(clippy::unwrap_used, clippy::panic)] // test helpers outside #[test] functions

use std::path::{Path, PathBuf};

use secops_event::Timestamp;
use secops_lab::testing::{run_tests, run_tests_in, TestResult};
use secops_rules::{CheckedRule, RuleFile};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

pub fn bundled_rules() -> Vec<CheckedRule> {
    let (rules, errors) = secops_rules::load::load_dir(&repo().join("rules"));
    assert!(
        errors.is_empty(),
        "{}",
        errors
            .iter()
            .map(|e| e.to_string())
            .collect::<Vec<_>>()
            .join("\n")
    );
    rules
}

#[test]
fn every_bundled_rule_passes_its_embedded_tests() {
    let rules = bundled_rules();
    assert!(!rules.is_empty());
    let now = Timestamp::parse_rfc3339("2026-11-22T00:00:00Z").unwrap();
    let (mut passed, mut failed, mut skipped) = (0, Vec::new(), 0);
    for rule in &rules {
        let name = &rule.file.rule.name;
        assert!(!rule.file.tests.is_empty(), "{name} has no [[test]] cases");
        for outcome in run_tests_in(rule, &rules, &repo().join(".."), now) {
            match outcome.result {
                TestResult::Passed => passed += 1,
                TestResult::Failed(why) => {
                    failed.push(format!("{} / {}: {}", name, outcome.test, why.join("; ")))
                }
                TestResult::Skipped(why) => {
                    // Data from ../shared: CI provides it, so there a skip is a failure.
                    let case = format!("{} / {}: {why}", name, outcome.test);
                    secops_testkit::require(None::<()>, || case);
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

#[test]
fn embedded_tests_can_fail() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../rules/credential_access/credential_access_ssh_password_brute_force.toml");
    let text = std::fs::read_to_string(&path)
        .unwrap()
        .replacen("value = 10", "value = 11", 1);
    let checked = RuleFile::parse(&path, &text)
        .and_then(|f| f.check(&path, &text))
        .unwrap();
    let outcomes = run_tests(
        &checked,
        Path::new("/nonexistent"),
        Timestamp::parse_rfc3339("2026-11-22T00:00:00Z").unwrap(),
    );
    let failed: Vec<&str> = outcomes
        .iter()
        .filter(|o| matches!(o.result, TestResult::Failed(_)))
        .map(|o| o.test.as_str())
        .collect();
    assert_eq!(
        failed,
        [
            "ten failures in three minutes from one address alert",
            "a long attack from one address is one alert that counts every failure",
            "'message repeated' lines count with their multiplicity"
        ]
    );
}
