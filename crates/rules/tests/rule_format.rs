//! The TOML rule format: the bundled rules load; broken rules fail naming file, line, key and reason.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers outside #[test] functions

use std::path::{Path, PathBuf};

use secops_rules::{CompareOp, Expr, RuleError, RuleFile, RuleType, WindowMode};

fn bundled(name: &str) -> (PathBuf, String) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../rules")
        .join(name);
    let text = std::fs::read_to_string(&path).unwrap();
    (path, text)
}

fn load(path: &Path, text: &str) -> Result<secops_rules::CheckedRule, RuleError> {
    RuleFile::parse(path, text)?.check(path, text)
}

const BRUTE_FORCE: &str = "credential_access/credential_access_ssh_password_brute_force.toml";

#[test]
fn bundled_threshold_rule_loads_with_every_part() {
    let (path, text) = bundled(BRUTE_FORCE);
    let checked = load(&path, &text).unwrap();
    let rule = &checked.file.rule;
    assert_eq!(rule.rule_type, RuleType::Threshold);
    assert_eq!(checked.window.map(|w| w.to_string()).as_deref(), Some("5m"));
    let threshold = rule.threshold.as_ref().unwrap();
    assert_eq!(
        (threshold.value, threshold.window_mode),
        (10, WindowMode::Sliding)
    );
    assert_eq!(threshold.count_field.as_deref(), Some("event.count"));
    assert_eq!(rule.threat[0].technique[0].subtechnique[0].id, "T1110.001");
    assert_eq!(rule.exceptions[0].entries[0].field, "source.ip");
    assert_eq!(checked.file.tests.len(), 7);
    assert_eq!(checked.file.tests[5].raw.len(), 6);
    let Some(Expr::And(parts)) = &checked.query else {
        panic!("query is an and: {:?}", checked.query)
    };
    assert_eq!(parts.len(), 5);
    assert!(
        matches!(&parts[0], Expr::Compare { field, op: CompareOp::Match, value } if field.path == "event.category" && value.text == "authentication")
    );
}

fn broken(replace: &str, with: &str) -> RuleError {
    let (path, text) = bundled(BRUTE_FORCE);
    assert!(text.contains(replace), "fixture lacks {replace:?}");
    let text = text.replacen(replace, with, 1);
    load(&path, &text).expect_err("the broken rule must not load")
}

#[test]
fn unknown_key_names_file_line_and_key() {
    let err = broken(
        "severity = \"medium\"",
        "severity = \"medium\"\nseverety = \"high\"",
    );
    assert!(err.file.ends_with(BRUTE_FORCE));
    assert_eq!(err.line, Some(24));
    assert_eq!(err.key.as_deref(), Some("rule.severety"));
    assert!(err.message.contains("unknown field `severety`"), "{err}");
}

#[test]
fn bad_query_points_at_the_line_inside_the_query() {
    let err = broken("source.ip:*", "source.ip:");
    assert_eq!(err.key.as_deref(), Some("rule.query"));
    assert!(
        err.message
            .starts_with("invalid KQL: expected a value for field source.ip"),
        "{err}"
    );
    assert_eq!(err.line, Some(22), "{err}");
}

#[test]
fn bad_window_and_missing_tables_are_named() {
    let err = broken("window = \"5m\"", "window = \"5 minutes\"");
    assert_eq!(
        (err.key.as_deref(), err.line),
        (Some("rule.threshold.window"), Some(46))
    );
    assert!(
        err.message.contains("invalid duration \"5 minutes\""),
        "{err}"
    );

    let err = broken("[rule.threshold]\nfield = [\"source.ip\"]\nvalue = 10\nwindow = \"5m\"\ncount_field = \"event.count\"\n", "");
    assert_eq!(err.key.as_deref(), Some("rule.threshold"));
    assert!(
        err.message
            .contains("a threshold rule needs a [rule.threshold] table"),
        "{err}"
    );
}

#[test]
fn wrong_types_and_bands_are_named() {
    let err = broken("risk_score = 47", "risk_score = 90");
    assert_eq!(err.key.as_deref(), Some("rule.risk_score"));
    assert!(
        err.message.contains("outside the Medium band 22..=47"),
        "{err}"
    );

    let err = broken("value = 10", "value = \"ten\"");
    assert_eq!(err.key.as_deref(), Some("rule.threshold.value"));
    assert!(err.message.contains("invalid type"), "{err}");

    let err = broken("type = \"threshold\"", "type = \"thresold\"");
    assert!(err.message.contains("unknown variant `thresold`"), "{err}");
}

#[test]
fn unknown_field_type_in_exceptions_is_rejected() {
    let err = broken("type = \"cidr\"", "type = \"regex\"");
    assert_eq!(err.key.as_deref(), Some("rule.exceptions.entries.type"));
    assert!(err.message.contains("unknown variant `regex`"), "{err}");
}

#[test]
fn misspelt_suppression_unit_and_missing_fields_strategy_name_file_line_and_key() {
    let (path, text) = bundled("persistence/persistence_windows_service_installed.toml");
    let line_of =
        |text: &str, needle: &str| text.lines().position(|l| l.contains(needle)).map(|n| n + 1);
    let unit = text.replacen("unit = \"h\"", "unit = \"hours\"", 1);
    let err = load(&path, &unit).expect_err("an unknown unit must not load");
    assert!(err
        .file
        .ends_with("persistence_windows_service_installed.toml"));
    assert_eq!(err.line, line_of(&unit, "unit = \"hours\""), "{err}");
    assert_eq!(
        err.key.as_deref(),
        Some("rule.alert_suppression.duration.unit"),
        "{err}"
    );
    assert!(err.message.contains("unknown variant `hours`"), "{err}");

    let strategy = text.replacen(
        "duration = { value = 1, unit = \"h\" }",
        "duration = { value = 1, unit = \"h\" }\nmissing_fields_strategy = \"doNotSupress\"",
        1,
    );
    let err = load(&path, &strategy).expect_err("an unknown strategy must not load");
    assert_eq!(
        err.line,
        line_of(&strategy, "missing_fields_strategy"),
        "{err}"
    );
    assert_eq!(
        err.key.as_deref(),
        Some("rule.alert_suppression.missing_fields_strategy"),
        "{err}"
    );
    assert!(
        err.message.contains("unknown variant `doNotSupress`"),
        "{err}"
    );
    assert!(err.message.contains("doNotSuppress"), "{err}");
}

#[test]
fn a_bad_sigma_condition_is_located_at_its_token_in_each_document() {
    use secops_rules::sigma::{parse_file, Placeholders};
    let text = "title: Fine\nlogsource:\n  product: linux\ndetection:\n  a:\n    x: 1\n  condition: a\n\
                ---\n# the second document\ntitle: Broken\nlogsource:\n  product: linux\ndetection:\n  \
                sel:\n    x: 1\n  condition: \"sel or (other\"\n";
    let err = parse_file(Path::new("two.yml"), text, &Placeholders::new()).unwrap_err();
    assert_eq!(err.document, Some(2));
    assert_eq!(err.key.as_deref(), Some("detection.condition"));
    assert_eq!((err.line, err.column), (Some(16), Some(23)), "{err}");
    let line = text.lines().nth(15).unwrap();
    assert_eq!(&line[22..27], "other");
}
