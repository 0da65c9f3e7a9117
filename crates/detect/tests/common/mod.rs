//! Fixture rules for the engine tests.
#![allow(dead_code, clippy::panic)]

use std::path::Path;

use secops_rules::{CheckedRule, RuleFile};

/// A `development` rule on `product = "linux"` of type `kind` with `query` in `language`; `rule_keys` go in
/// `[rule]` (before the log source) and `tables` after it.
pub fn fixture(
    kind: &str,
    language: &str,
    query: &str,
    rule_keys: &str,
    tables: &str,
) -> CheckedRule {
    let text = format!(
        r#"
[metadata]
creation_date = "2026-11-22"
updated_date = "2026-11-22"
maturity = "development"

[rule]
id = "00000000-0000-4000-8000-000000000001"
name = "{kind} fixture"
description = "test"
author = ["tests"]
license = "Apache-2.0"
type = "{kind}"
language = "{language}"
query = '''
{query}
'''
severity = "medium"
risk_score = 47
{rule_keys}

[rule.log_source]
product = "linux"

{tables}
"#
    );
    let path = Path::new("fixture.toml");
    RuleFile::parse(path, &text)
        .and_then(|f| f.check(path, &text))
        .unwrap_or_else(|e| panic!("{e}"))
}
