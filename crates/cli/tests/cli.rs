//! The `secops` binary as a user runs it.

#![allow(clippy::expect_used, clippy::panic)] // test helpers outside #[test] functions

use secops_testkit::shared;

#[path = "cli/bus.rs"]
mod bus;
#[path = "cli/live.rs"]
mod live;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn secops(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_secops"))
        .args(args)
        .current_dir(repo())
        .output()
        .expect("the secops binary runs")
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Runs `secops` with `args`, which must exit 0, and reads its JSON lines (`detect --output jsonl`).
fn detect_alerts(args: &[&str]) -> Vec<serde_json::Value> {
    let out = secops(args);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    String::from_utf8(out.stdout)
        .expect("JSON lines are UTF-8")
        .lines()
        .map(|l| serde_json::from_str(l).expect("each line a JSON document"))
        .collect()
}

#[test]
fn ingest_samples_prints_json_lines_and_a_clean_summary() {
    let out = secops(&["ingest", "samples", "--year", "2023"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let stdout = String::from_utf8(out.stdout.clone()).unwrap();
    let lines: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 93);
    assert!(lines.iter().all(|l| l["log.source"]
        .as_str()
        .is_some_and(|s| s.starts_with("samples/"))));
    let err = stderr(&out);
    assert!(
        err.contains("samples/auth.log (syslog): 31 read, 31 parsed, 0 rejected"),
        "{err}"
    );
    assert!(
        err.contains("93 records read, 93 parsed, 0 rejected"),
        "{err}"
    );
}

#[test]
fn rejected_records_set_exit_code_3_and_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("mixed.jsonl");
    std::fs::write(&bad, "{\"a\": 1}\n{broken\n{\"b\": 2}\n").unwrap();
    let out = secops(&[
        "ingest",
        bad.to_str().unwrap(),
        "--output",
        "none",
        "--show-rejects",
    ]);
    assert_eq!(out.status.code(), Some(3));
    let err = stderr(&out);
    assert!(err.contains("mixed.jsonl:2: invalid JSON"), "{err}");
    assert!(err.contains("3 read, 2 parsed, 1 rejected"), "{err}");
}

#[test]
fn missing_file_and_forced_format_on_binary_are_reported_and_others_still_read() {
    let dir = tempfile::tempdir().unwrap();
    let blob = dir.path().join("blob.bin");
    std::fs::write(&blob, [0u8, 1, 2, 3, b'\n', 0xff, 0xfe, b'\n']).unwrap();
    let out = secops(&[
        "ingest",
        "samples/access.log",
        "no/such/file.log",
        "--output",
        "none",
    ]);
    assert_eq!(out.status.code(), Some(3));
    let err = stderr(&out);
    assert!(err.contains("no/such/file.log"), "{err}");
    assert!(
        err.contains("samples/access.log (apache_access): 9 read, 9 parsed"),
        "{err}"
    );
    let out = secops(&[
        "ingest",
        blob.to_str().unwrap(),
        "--format",
        "syslog",
        "--output",
        "none",
    ]);
    assert_eq!(out.status.code(), Some(3));
    assert!(
        stderr(&out).contains("2 read, 0 parsed, 2 rejected"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn stdin_is_read_with_format_detection() {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_secops"))
        .args(["ingest", "-", "--year", "2016"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"Dec 10 07:07:38 LabSZ sshd[24206]: Failed password for invalid user test9 from 52.80.34.196 port 36060 ssh2\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let event: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(event["user.name"], "test9");
    assert_eq!(event["source.ip"], "52.80.34.196");
    assert_eq!(event["log.source"], "-:1");
}

#[test]
fn table_output_and_formats_listing() {
    let out = secops(&["ingest", "samples/windows.jsonl", "--output", "table"]);
    let stdout = String::from_utf8(out.stdout.clone()).unwrap();
    assert!(stdout.starts_with("TIME"), "{stdout}");
    assert!(
        stdout.contains("logon-failed") && stdout.contains("user=administrator"),
        "{stdout}"
    );
    let out = secops(&["formats"]);
    let stdout = String::from_utf8(out.stdout.clone()).unwrap();
    for name in [
        "evtx",
        "json",
        "syslog",
        "apache_access",
        "apache_error",
        "cloudtrail",
        "zeek",
        "cef",
    ] {
        assert!(
            stdout.lines().any(|l| l.starts_with(name)),
            "{name} missing from\n{stdout}"
        );
    }
}

#[test]
fn unknown_format_name_is_a_usage_error_listing_known_ones() {
    let out = secops(&["ingest", "samples", "--format", "windows"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("known formats: evtx, json"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn detect_with_the_bundled_pack_folds_an_attack_into_one_alert() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("auth.log");
    let mut lines = String::new();
    for i in 0..25 {
        lines.push_str(&format!("Mar  3 10:{:02}:{:02} web sshd[77]: Failed password for root from 198.51.100.23 port 4{i:04} ssh2\n", i / 6, (i % 6) * 10));
    }
    for i in 0..5 {
        lines.push_str(&format!("Mar  3 11:00:0{i} web sshd[78]: Failed password for admin from 192.0.2.8 port 5{i:04} ssh2\n"));
    }
    std::fs::write(&log, lines).unwrap();
    let out = secops(&[
        "detect",
        log.to_str().unwrap(),
        "--year",
        "2026",
        "--output",
        "jsonl",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let lines: Vec<serde_json::Value> = String::from_utf8(out.stdout.clone())
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    // Written when the threshold is crossed, and again, with the same id, when the suppression
    // window closes with the second crossing folded in: the later line supersedes.
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert_eq!(lines[0]["alert.id"], lines[1]["alert.id"]);
    assert!(lines[0].get("alert.suppression.events").is_none());
    let alert = &lines[1];
    assert_eq!(alert["source.ip"], "198.51.100.23");
    assert_eq!(alert["threshold.count"], 10);
    assert_eq!(
        alert["alert.suppression.events"], 10,
        "the second crossing is folded in"
    );
    assert_eq!(alert["rule.author"][0], "secops");
    assert_eq!(alert["threat.technique.id"][1], "T1110.001");
    assert!(alert["event.provenance"][0]
        .as_str()
        .unwrap()
        .ends_with("auth.log:1"));
    let err = stderr(&out);
    assert!(err.contains("alerts: 1 [medium 1]"), "{err}");
}

#[test]
fn detect_reports_a_bad_rule_and_runs_the_others_unless_strict() {
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("rules");
    std::fs::create_dir(&rules).unwrap();
    let good = std::fs::read_to_string(
        repo().join("rules/credential_access/credential_access_ssh_password_brute_force.toml"),
    )
    .unwrap();
    std::fs::write(rules.join("good.toml"), &good).unwrap();
    std::fs::write(
        rules.join("bad.toml"),
        good.replacen("window = \"5m\"", "window = \"soon\"", 1),
    )
    .unwrap();
    let rules_arg = rules.to_str().unwrap();
    let out = secops(&[
        "detect",
        "samples/auth.log",
        "--rules",
        rules_arg,
        "--year",
        "2023",
    ]);
    // Every record was read and every rule that could run ran: 0, with the bad rule reported (3 is
    // for records rejected or lost).
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("bad.toml:46: rule.threshold.window: invalid duration \"soon\""),
        "{err}"
    );
    assert!(err.contains("rules: 1 loaded, 1 not running"), "{err}");
    let out = secops(&[
        "detect",
        "samples/auth.log",
        "--rules",
        rules_arg,
        "--strict",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("--strict"), "{}", stderr(&out));
    // The same for a Sigma rule whose log source has no mapping (as many SigmaHQ rules): reported,
    // counted as not running, exit 0.
    let sigma = dir.path().join("sigma");
    std::fs::create_dir(&sigma).unwrap();
    std::fs::write(
        sigma.join("mac.yml"),
        "title: Mac shell\nid: 22222222-2222-4222-8222-222222222222\nlogsource:\n    product: macos\n    category: process_creation\ndetection:\n    selection:\n        Image|endswith: '/sh'\n    condition: selection\nlevel: low\n",
    )
    .unwrap();
    std::fs::write(sigma.join("good.toml"), &good).unwrap();
    let out = secops(&[
        "detect",
        "samples/auth.log",
        "--rules",
        sigma.to_str().unwrap(),
        "--year",
        "2023",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains(
            "mac.yml: no log source is mapped for category 'process_creation' of product 'macos'"
        ),
        "{err}"
    );
    assert!(err.contains("rules: 1 loaded, 1 not running"), "{err}");
}

#[test]
fn rules_list_shows_type_severity_and_attack_ids() {
    let out = secops(&["rules", "list"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(
        stdout.lines().any(|l| l.contains("threshold")
            && l.contains("medium")
            && l.contains("T1110,T1110.001")),
        "{stdout}"
    );
}

fn failed_login(minute: u32, second: u32, ip: &str) -> String {
    format!("Mar  3 10:{minute:02}:{second:02} web sshd[77]: Failed password for root from {ip} port 40000 ssh2\n")
}

#[test]
fn a_threshold_spanning_two_files_counts_both_in_time_order() {
    let dir = tempfile::tempdir().unwrap();
    // five failures in each file, interleaved in time: only together do they reach the threshold of 10
    let (mut a, mut b) = (String::new(), String::new());
    for i in 0..5 {
        a.push_str(&failed_login(0, i * 10, "198.51.100.23"));
        b.push_str(&failed_login(0, i * 10 + 5, "198.51.100.23"));
    }
    std::fs::write(dir.path().join("a.log"), a).unwrap();
    std::fs::write(dir.path().join("b.log"), b).unwrap();
    let dir_arg = dir.path().to_str().unwrap();
    let out = secops(&["detect", dir_arg, "--year", "2026", "--output", "jsonl"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let stdout = String::from_utf8(out.stdout.clone()).unwrap();
    let brute: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|a| a["rule.name"] == "SSH Password Brute Force from a Single Source")
        .collect();
    assert_eq!(brute.len(), 1, "{stdout}");
    let sources: Vec<&str> = brute[0]["event.provenance"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap())
        .collect();
    assert!(
        sources.iter().any(|p| p.ends_with("a.log:1"))
            && sources.iter().any(|p| p.ends_with("b.log:1")),
        "{sources:?}"
    );
}

#[test]
fn time_window_and_severity_filters() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("auth.log");
    let mut text = String::new();
    for i in 0..10 {
        text.push_str(&failed_login(0, i * 5, "198.51.100.23"));
    }
    text.push_str("Mar  3 11:00:00 web useradd[5]: new user: name==cmd|calc, UID=1002, GID=1002, home=/home/x, shell=/bin/sh\n");
    std::fs::write(&log, text).unwrap();
    let log = log.to_str().unwrap();
    let csv = |extra: &[&str]| {
        let mut args = vec!["detect", log, "--year", "2026", "--output", "csv"];
        args.extend_from_slice(extra);
        let out = secops(&args);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        String::from_utf8(out.stdout).unwrap()
    };
    let all = csv(&[]);
    assert!(
        all.contains("SSH Password Brute Force") && all.contains("Local Account Created"),
        "{all}"
    );
    let late = csv(&["--since", "2026-03-03T10:30:00Z"]);
    assert!(
        !late.contains("SSH Password Brute Force") && late.contains("Local Account Created"),
        "{late}"
    );
    let early = csv(&["--until", "2026-03-03T10:30:00Z"]);
    assert!(
        early.contains("SSH Password Brute Force") && !early.contains("Local Account Created"),
        "{early}"
    );
    let high = csv(&["--min-severity", "high"]);
    assert_eq!(
        high.lines().count(),
        1,
        "only the header: both alerts are medium\n{high}"
    );
}

#[test]
fn sequences_across_two_files_see_events_in_time_order() {
    let dir = tempfile::tempdir().unwrap();
    let ok = |time: &str| {
        format!("Mar  3 {time} web sshd[78]: Accepted password for root from 198.51.100.23 port 40001 ssh2\n")
    };
    let mut failures = String::new();
    for i in 0..5 {
        failures.push_str(&failed_login(0, i * 5, "198.51.100.23"));
    }
    std::fs::write(dir.path().join("a.log"), failures).unwrap();
    // b holds a success before the failures and one after them
    std::fs::write(dir.path().join("b.log"), ok("09:59:00") + &ok("10:01:00")).unwrap();
    let dir_arg = dir.path().to_str().unwrap();
    let out = secops(&["detect", dir_arg, "--year", "2026", "--output", "jsonl"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let stdout = String::from_utf8(out.stdout.clone()).unwrap();
    let sequence: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|a| a["rule.name"] == "SSH Brute Force Followed by a Successful Login")
        .collect();
    assert_eq!(sequence.len(), 1, "{stdout}");
    assert_eq!(
        sequence[0]["@timestamp"], "2026-03-03T10:01:00Z",
        "completed by the later success"
    );
}

#[test]
fn coverage_writes_a_navigator_layer_and_heatmap_that_agree_with_the_rules() {
    let out_dir = tempfile::tempdir().unwrap();
    let out_arg = out_dir.path().to_string_lossy().into_owned();
    // The small bundle written for the attack crate's tests: only some of the pack's techniques exist.
    let out = secops(&[
        "coverage",
        "--attack",
        "crates/attack/tests/data",
        "--out",
        &out_arg,
        "--gaps",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(stdout.contains("Credential Access (TA0006)"), "{stdout}");
    assert!(stdout.contains("Techniques no rule covers:"), "{stdout}");
    assert!(stdout.contains("T1566 Phishing"), "{stdout}");
    assert!(stdout.contains("not live in ATT&CK 18.1"), "{stdout}");

    // Visibility: on SSH logs alone, the Windows and cloud rules see nothing; on every sample, all see some.
    let visibility = |logs: &str| {
        let out = secops(&[
            "coverage",
            "--attack",
            "crates/attack/tests/data",
            "--out",
            &out_arg,
            "--logs",
            logs,
            "--year",
            "2023",
        ]);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let ssh_only = visibility("samples/auth.log");
    assert!(
        ssh_only.contains("Visibility: 31 events from 1 inputs;"),
        "{ssh_only}"
    );
    assert!(ssh_only.contains("  windows / security: "), "{ssh_only}");
    assert!(ssh_only.contains("  aws / cloudtrail: "), "{ssh_only}");
    assert!(!ssh_only.contains("linux / sshd"), "{ssh_only}");
    let all = visibility("samples");
    let line = all.lines().find(|l| l.starts_with("Visibility:")).unwrap();
    assert!(
        line.contains("; 0 of ") && line.ends_with(" rules see none of them"),
        "{all}"
    );

    let Some(attack) = shared("corpus/attack") else {
        return;
    };
    let Some(sigma) = shared("corpus/sigma/rules") else {
        return;
    };
    let out = secops(&[
        "coverage",
        "--attack",
        &attack.to_string_lossy(),
        "--out",
        &out_arg,
        "--rules",
        "rules",
        "--rules",
        &sigma.to_string_lossy(),
    ]);
    assert!(
        out.status.code() == Some(0) || out.status.code() == Some(3),
        "{}",
        stderr(&out)
    );
    let layer: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out_dir.path().join("layer.json")).unwrap()).unwrap();
    assert_eq!(layer["versions"]["layer"], "4.5");
    assert_eq!(layer["domain"], "enterprise-attack");
    assert!(layer["name"].is_string());
    let entries = layer["techniques"].as_array().unwrap();
    assert!(entries.len() > 300, "{}", entries.len());
    for entry in entries {
        let id = entry["techniqueID"].as_str().unwrap();
        assert!(
            id.starts_with('T') && entry["tactic"].is_string(),
            "{entry}"
        );
        assert!(entry["score"].as_u64().unwrap() >= 1, "{entry}");
    }
    // The matrix agrees with the rules: every technique of the bundled SSH brute-force rule is scored
    // under its tactic, and the score counts the rules naming it.
    let score = |technique: &str, tactic: &str| {
        entries
            .iter()
            .find(|e| e["techniqueID"] == technique && e["tactic"] == tactic)
            .map(|e| e["score"].as_u64().unwrap())
    };
    let listed = secops(&["rules", "list", "--rules", "rules"]);
    let listing = String::from_utf8_lossy(&listed.stdout).into_owned();
    let t1110 = listing.lines().filter(|l| l.contains("T1110")).count() as u64;
    assert!(t1110 >= 1);
    assert!(score("T1110", "credential-access").unwrap() >= t1110);
    let html = std::fs::read_to_string(out_dir.path().join("coverage.html")).unwrap();
    assert!(html.starts_with("<!DOCTYPE html>") && html.contains("Credential Access"));
}

#[test]
fn rules_test_reports_each_case_and_ends_with_the_counts() {
    let out = secops(&["rules", "test"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let last = stdout.lines().last().unwrap();
    assert!(last.ends_with("passed, 0 failed"), "{last}");
    assert!(stdout.contains("ok    SSH Password Brute Force from a Single Source / nine failures"));

    // A rule whose threshold was lowered fails its own boundary case, with expected against actual.
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(
        repo().join("rules/credential_access/credential_access_ssh_password_brute_force.toml"),
    )
    .unwrap();
    let broken = text.replacen("value = 10\n", "value = 9\n", 1);
    assert_ne!(broken, text);
    std::fs::write(dir.path().join("broken.toml"), broken).unwrap();
    let out = secops(&[
        "rules",
        "test",
        &dir.path().to_string_lossy(),
        "--filter",
        "nine",
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        stdout.contains("FAIL  SSH Password Brute Force from a Single Source / nine failures stay below the threshold"),
        "{stdout}"
    );
    assert!(stdout.contains("expected 0 alert(s), got 1"), "{stdout}");
    assert!(stdout.contains("actual: 1 alert(s)"), "{stdout}");
    assert!(stdout.contains("source.ip="), "{stdout}");
    assert_eq!(stdout.lines().last(), Some("0 passed, 1 failed"));
}

#[test]
fn rules_validate_passes_the_pack_and_names_each_problem_of_a_broken_rule() {
    let attack = "crates/attack/tests/data";
    let out = secops(&[
        "rules",
        "validate",
        "--attack",
        attack,
        "--now",
        "2026-11-22T00:00:00Z",
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    // The small ATT&CK bundle lacks most of the pack's techniques: only ATT&CK findings are allowed.
    assert!(
        stdout
            .lines()
            .filter(|l| l.starts_with("error["))
            .all(|l| l.starts_with("error[attack]")),
        "{stdout}"
    );
    if let Some(real) = shared("corpus/attack") {
        let out = secops(&["rules", "validate", "--attack", &real.to_string_lossy()]);
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert_eq!(out.status.code(), Some(0), "{stdout}{}", stderr(&out));
        assert!(stdout.ends_with("0 errors, 0 warnings\n"), "{stdout}");
    }

    // One rule broken three ways: a technique of another tactic, an expired exception, a failing case.
    let dir = tempfile::tempdir().unwrap();
    let broken = secops_testkit::broken_brute_force_rule();
    let file = dir.path().join("credential_access_broken.toml");
    std::fs::write(&file, &broken).unwrap();
    let dir_arg = dir.path().to_string_lossy().into_owned();
    let args = [
        "rules",
        "validate",
        &dir_arg,
        "--attack",
        attack,
        "--now",
        "2026-11-22T00:00:00Z",
    ];
    let out = secops(&args);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let line_of = |needle: &str| broken.lines().position(|l| l.contains(needle)).unwrap() + 1;
    let file_text = file.display().to_string();
    for expected in [
        format!(
            "error[attack] {file_text}:{}: technique T1566 (Phishing) does not belong to tactic Credential Access (TA0006); it serves Initial Access (TA0001)",
            line_of("id = \"T1566\"")
        ),
        format!(
            "error[attack] {file_text}:{}: sub-technique T1110.001 is not a sub-technique of T1566",
            line_of("id = \"T1110.001\"")
        ),
        format!(
            "error[exceptions] {file_text}:{}: exception \"Internal vulnerability scanner\" expired on 2026-01-01T00:00:00Z: remove it, or renew it with a new expire_time",
            line_of("expire_time")
        ),
        format!(
            "error[tests] {file_text}:{}: case \"nine failures stay below the threshold\" fails: expected 0 alert(s), got 1",
            line_of("name = \"nine failures")
        ),
    ] {
        assert!(stdout.contains(&expected), "missing {expected:?} in\n{stdout}");
    }

    // The same findings for CI: JSON, and SARIF 2.1.0 with locations.
    let json = secops(&[&args[..], &["--format", "json"]].concat());
    let doc: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert!(doc["errors"].as_u64().unwrap() >= 4);
    let sarif = secops(&[&args[..], &["--format", "sarif"]].concat());
    assert_eq!(sarif.status.code(), Some(1));
    let log: serde_json::Value = serde_json::from_slice(&sarif.stdout).unwrap();
    assert_eq!(log["version"], "2.1.0");
    let results = log["runs"][0]["results"].as_array().unwrap();
    let expired = results
        .iter()
        .find(|r| r["ruleId"] == "exceptions")
        .unwrap();
    assert_eq!(expired["level"], "error");
    assert_eq!(
        expired["locations"][0]["physicalLocation"]["region"]["startLine"],
        line_of("expire_time")
    );
    let rule_ids: Vec<&str> = log["runs"][0]["tool"]["driver"]["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert!(rule_ids.contains(&"attack") && rule_ids.contains(&"tests"));
}

#[test]
fn rules_fp_reports_alerts_per_million_events_and_fails_rules_over_budget() {
    let out = secops(&[
        "rules", "fp", "--benign", "samples", "--year", "2023", "--budget", "0",
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(stdout.starts_with("  ALERTS  PER MILLION"), "{stdout}");
    let over = stdout
        .lines()
        .filter(|l| l.ends_with("OVER BUDGET"))
        .count();
    assert!(over > 0, "{stdout}");
    assert!(
        stdout.ends_with(&format!(
            "{over} rules over the budget of 0 alerts per million events\n"
        )),
        "{stdout}"
    );
    // Every listed rate is the rule's alerts over the events counted.
    let events: f64 = stdout
        .lines()
        .find(|l| l.contains(" events ("))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap();
    for line in stdout.lines().filter(|l| l.ends_with("OVER BUDGET")) {
        let mut words = line.split_whitespace();
        let alerts: f64 = words.next().unwrap().parse().unwrap();
        let rate: f64 = words.next().unwrap().parse().unwrap();
        assert!((rate - alerts * 1e6 / events).abs() < 0.1, "{line}");
    }
    let out = secops(&[
        "rules", "fp", "--benign", "samples", "--year", "2023", "--budget", "1000000",
    ]);
    assert_ne!(out.status.code(), Some(1), "{}", stderr(&out));
}

#[test]
fn the_version_lock_bumps_changed_rules_and_validate_holds_rules_to_it() {
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("rules");
    std::fs::create_dir(&rules).unwrap();
    let original = std::fs::read_to_string(
        repo().join("rules/credential_access/credential_access_ssh_password_brute_force.toml"),
    )
    .unwrap();
    let file = rules.join("credential_access_ssh_password_brute_force.toml");
    std::fs::write(&file, &original).unwrap();
    let lock = dir.path().join("rules.lock.json");
    let (rules_arg, lock_arg) = (
        rules.to_string_lossy().into_owned(),
        lock.to_string_lossy().into_owned(),
    );
    let locked = secops(&["rules", "lock", &rules_arg, "--lock", &lock_arg]);
    assert_eq!(locked.status.code(), Some(0), "{}", stderr(&locked));
    let entry = |lock: &Path| -> serde_json::Value {
        let doc: serde_json::Value = serde_json::from_slice(&std::fs::read(lock).unwrap()).unwrap();
        doc["5b8f3c1e-2d4a-4f6b-9c7e-1a2b3c4d5e6f"].clone()
    };
    assert_eq!(entry(&lock)["version"], 1);
    let validate = || {
        let out = secops(&[
            "rules",
            "validate",
            &rules_arg,
            "--lock",
            &lock_arg,
            "--no-tests",
        ]);
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    };
    assert_eq!(validate().0, Some(0));

    // The logic changes but updated_date does not: an error on the updated_date line.
    let changed = original.replacen("value = 10\n", "value = 12\n", 1);
    std::fs::write(&file, &changed).unwrap();
    let (code, stdout) = validate();
    assert_eq!(code, Some(1), "{stdout}");
    let line = changed
        .lines()
        .position(|l| l.starts_with("updated_date"))
        .unwrap()
        + 1;
    let updated = changed
        .lines()
        .find_map(|l| l.strip_prefix("updated_date = \""))
        .and_then(|d| d.strip_suffix('"'))
        .unwrap();
    assert!(
        stdout.contains(&format!(
            "error[lock] {}:{line}: the rule changed since the lock (version 1) but updated_date is still {updated}",
            file.display()
        )),
        "{stdout}"
    );
    // With the date bumped it is a warning until the lock is updated, which makes it version 2.
    let dated = changed.replacen(
        &format!("updated_date = \"{updated}\""),
        "updated_date = \"2026-11-30\"",
        1,
    );
    std::fs::write(&file, &dated).unwrap();
    let (code, stdout) = validate();
    assert_eq!(code, Some(0), "{stdout}");
    assert!(
        stdout.contains("warning[lock]") && stdout.contains("will make it version 2"),
        "{stdout}"
    );
    let relocked = secops(&["rules", "lock", &rules_arg, "--lock", &lock_arg]);
    assert!(String::from_utf8_lossy(&relocked.stdout).contains("changed, version 1 -> 2"));
    assert_eq!(entry(&lock)["version"], 2);
    assert_eq!(validate().0, Some(0));
    // A locked rule may not change its type, nor leave production for a lower maturity.
    let demoted = dated.replacen("maturity = \"production\"", "maturity = \"beta\"", 1);
    std::fs::write(&file, &demoted).unwrap();
    let (code, stdout) = validate();
    assert_eq!(code, Some(1));
    assert!(
        stdout.contains(
            "a locked production rule cannot be demoted to beta: maturity moves forward only"
        ),
        "{stdout}"
    );
    // Deprecation: a reason and a date, then the rule is frozen.
    let deprecated = dated.replacen("maturity = \"production\"", "maturity = \"deprecated\"", 1);
    std::fs::write(&file, &deprecated).unwrap();
    let (code, stdout) = validate();
    assert_eq!(code, Some(1), "{stdout}");
    assert!(
        stdout.contains("a deprecated rule needs a deprecated_reason"),
        "{stdout}"
    );
    assert!(
        stdout.contains("a deprecated rule needs a deprecation_date"),
        "{stdout}"
    );
    let explained = deprecated.replacen(
        "maturity = \"deprecated\"\n",
        "maturity = \"deprecated\"\ndeprecation_date = \"2026-11-23\"\ndeprecated_reason = \"superseded\"\n",
        1,
    );
    std::fs::write(&file, &explained).unwrap();
    assert_eq!(validate().0, Some(0));
    let relocked = secops(&["rules", "lock", &rules_arg, "--lock", &lock_arg]);
    assert_eq!(relocked.status.code(), Some(0), "{}", stderr(&relocked));
    assert_eq!(entry(&lock)["maturity"], "deprecated");
    // Revived, or changed after deprecation: both refused.
    std::fs::write(&file, &dated).unwrap();
    let (code, stdout) = validate();
    assert_eq!(code, Some(1));
    assert!(
        stdout.contains("a locked deprecated rule cannot be demoted to production"),
        "{stdout}"
    );
    let edited = explained
        .replacen("value = 12\n", "value = 14\n", 1)
        .replacen(
            "updated_date = \"2026-11-23\"",
            "updated_date = \"2026-11-24\"",
            1,
        );
    std::fs::write(&file, &edited).unwrap();
    let (code, stdout) = validate();
    assert_eq!(code, Some(1));
    assert!(
        stdout.contains("the rule changed after it was deprecated: a deprecated rule is frozen"),
        "{stdout}"
    );
}

#[test]
fn rules_new_scaffolds_a_loading_rule_whose_stub_cases_fail_until_written() {
    let dir = tempfile::tempdir().unwrap();
    let dir_arg = dir.path().to_string_lossy().into_owned();
    let out = secops(&[
        "rules",
        "new",
        "--name",
        "Brute Force Then Sudo",
        "--type",
        "threshold",
        "--tactic",
        "privilege-escalation",
        "--service",
        "sudo",
        "--dir",
        &dir_arg,
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let path = dir
        .path()
        .join("privilege_escalation/privilege_escalation_brute_force_then_sudo.toml");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        path.to_string_lossy()
    );
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(
        text.contains("id = \"TA0004\"") && text.contains("[rule.threshold]"),
        "{text}"
    );
    // A second rule gets another id; the same name again is refused.
    let again = secops(&[
        "rules",
        "new",
        "--name",
        "Brute Force Then Sudo",
        "--dir",
        &dir_arg,
    ]);
    assert_eq!(again.status.code(), Some(0));
    let other = std::fs::read_to_string(dir.path().join("brute_force_then_sudo.toml")).unwrap();
    let id = |t: &str| {
        t.lines()
            .find(|l| l.starts_with("id = "))
            .unwrap()
            .to_string()
    };
    assert_ne!(id(&text), id(&other));
    let clash = secops(&[
        "rules",
        "new",
        "--name",
        "Brute Force Then Sudo",
        "--dir",
        &dir_arg,
    ]);
    assert_eq!(clash.status.code(), Some(1));
    assert!(stderr(&clash).contains("exists already"));

    let tested = secops(&["rules", "test", &dir_arg]);
    assert_eq!(tested.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&tested.stdout).into_owned();
    assert!(stdout.contains("an unwritten stub"), "{stdout}");
    assert_eq!(stdout.lines().last(), Some("0 passed, 4 failed"));
    let validated = secops(&["rules", "validate", &dir_arg]);
    assert_eq!(validated.status.code(), Some(1));
}

#[test]
fn rules_stats_reads_alerts_and_reports_volume_suggestions_and_silent_rules() {
    let detected = secops(&["detect", "samples", "--year", "2023", "--output", "jsonl"]);
    let mut alerts = String::from_utf8_lossy(&detected.stdout).into_owned();
    let lines = alerts.lines().count();
    // A later line with an alert's id supersedes the earlier: alerts are counted once.
    let count = alerts
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["alert.id"].to_string())
        .collect::<std::collections::HashSet<_>>()
        .len();
    assert!(
        lines > count,
        "some alert was written again with repeats folded in"
    );
    assert!(count > 10);
    alerts.push_str("{\"not\": \"an alert\"}\n");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("alerts.jsonl");
    std::fs::write(&file, &alerts).unwrap();
    let out = secops(&[
        "rules",
        "stats",
        &file.to_string_lossy(),
        "--top",
        "100",
        "--min-alerts",
        "1",
    ]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(&format!(
            "alerts.jsonl:{}: not an alert: no rule.id",
            lines + 1
        )),
        "{}",
        stderr(&out)
    );
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        stdout.starts_with(&format!("{count} alerts from ")),
        "{stdout}"
    );
    // Every rule line's count adds up to the alerts read.
    let listed: usize = stdout
        .lines()
        .skip(2)
        .take_while(|l| !l.is_empty())
        .filter_map(|l| l.split_whitespace().next()?.parse::<usize>().ok())
        .sum();
    assert_eq!(listed, count, "{stdout}");
    assert!(stdout.contains("Suggested exceptions"), "{stdout}");
    assert!(stdout.contains("[[rule.exceptions.entries]]"), "{stdout}");
    assert!(stdout.contains("loaded rules never fired:"), "{stdout}");
    assert!(stdout.ends_with("1 lines were not alerts\n"), "{stdout}");
}

/// A cut EVTX file is not a clean run: every command that reads it names the chunks, offsets and record
/// ids it lost and exits 3, whether the file is named, gzipped or piped.
#[test]
fn a_cut_evtx_file_reports_its_lost_records_and_exits_3() {
    let Some(evtx) = shared("corpus/evtx") else {
        return;
    };
    let original =
        std::fs::read(evtx.join(
            "EVTX-ATTACK-SAMPLES/AutomatedTestingTools/PanacheSysmon_vs_AtomicRedTeam01.evtx",
        ))
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    // cut 6,080 bytes into chunk 9
    let cut_bytes = &original[..4096 + 9 * 65536 + 6080];
    let cut = dir.path().join("cut.evtx");
    std::fs::write(&cut, cut_bytes).unwrap();
    let gz = dir.path().join("cut.evtx.gz");
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut encoder, cut_bytes).unwrap();
    std::fs::write(&gz, encoder.finish().unwrap()).unwrap();
    let lost = [
        "358 read, 358 parsed, 0 rejected, 207 lost",
        "  lost: chunk 9 (file offset 0x91000): records 359-397 lost (39): the file ends inside this chunk (6080 of 65536 bytes present)",
        "  lost: chunks 10-14 (file offset 0xa1000): records 398-565 lost (168): not in the file, which ends early",
    ];
    for path in [&cut, &gz] {
        let path = path.to_string_lossy();
        let out = secops(&["ingest", &path, "--output", "none"]);
        assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
        for line in lost {
            assert!(stderr(&out).contains(line), "{path}: {}", stderr(&out));
        }
        assert!(
            stderr(&out).contains("358 parsed, 0 rejected, 207 lost [evtx"),
            "{}",
            stderr(&out)
        );
        let out = secops(&["detect", &path, "--output", "jsonl"]);
        assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
        assert!(stderr(&out).contains(lost[1]), "{}", stderr(&out));
        assert!(
            stderr(&out).contains("events: 358 read, 0 rejected, 207 lost"),
            "{}",
            stderr(&out)
        );
    }
    // asking for recovery changes nothing here (a cut chunk cannot be parsed), and says so
    let cut_arg = cut.to_string_lossy();
    let out = secops(&["ingest", &cut_arg, "--evtx-recover", "--output", "none"]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(stderr(&out).contains(lost[2]), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("note: 0 records recovered"),
        "{}",
        stderr(&out)
    );
    // through a pipe
    let mut child = Command::new(env!("CARGO_BIN_EXE_secops"))
        .args(["ingest", "-", "--format", "evtx", "--output", "none"])
        .stdin(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(child.stdin.as_mut().unwrap(), cut_bytes).unwrap();
    drop(child.stdin.take());
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(stderr(&out).contains(lost[2]), "{}", stderr(&out));
}

/// `bench generate` writes the inputs the detection benchmarks read: the brute force raises two alerts
/// per source (brute force and password spraying), the OpenSSH copies run a day apart, the EVTX corpus is
/// copied whole.
#[test]
fn bench_generate_writes_the_detection_benchmark_inputs() {
    let Some(corpus) = shared("corpus") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let out = secops(&[
        "bench",
        "generate",
        &dir.path().to_string_lossy(),
        "--corpus",
        &corpus.to_string_lossy(),
        "--openssh-bytes",
        "500000",
        "--sources",
        "50",
        "--evtx-copies",
        "2",
        "--windows-events",
        "100",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let openssh = std::fs::read_to_string(dir.path().join("openssh-days.log")).unwrap();
    assert!(openssh.len() >= 500_000);
    let days: std::collections::BTreeSet<&str> = openssh.lines().map(|l| &l[..6]).collect();
    assert_eq!(days.len(), 3, "three copies a day apart: {days:?}");
    let brute = dir.path().join("bruteforce.log");
    let detected = secops(&[
        "detect",
        &brute.to_string_lossy(),
        "--year",
        "2016",
        "--output",
        "jsonl",
        "--order",
        "time",
    ]);
    let alerts = String::from_utf8_lossy(&detected.stdout).lines().count();
    assert_eq!(alerts, 100, "{}", stderr(&detected));
    let copies = walk(&dir.path().join("evtx-copies")).len();
    assert_eq!(copies, 2 * 453);
    let windows = std::fs::read_to_string(dir.path().join("windows.jsonl")).unwrap();
    assert_eq!(
        windows.lines().count(),
        16_181,
        "every record once at least"
    );
}

/// A brute force's alerts all carry the attacked host: excepting it would blind the rule where it
/// matters, so it is shown with a warning and never proposed (the real OpenSSH log of LabSZ).
#[test]
fn rules_stats_never_proposes_excepting_the_host_a_brute_force_attacks() {
    let Some(linux) = shared("corpus/linux") else {
        return;
    };
    let log = linux.join("OpenSSH_2k.log");
    let detected = secops(&[
        "detect",
        &log.to_string_lossy(),
        "--year",
        "2016",
        "--output",
        "jsonl",
    ]);
    assert_eq!(detected.status.code(), Some(0), "{}", stderr(&detected));
    let dir = tempfile::tempdir().unwrap();
    let alerts = dir.path().join("alerts.jsonl");
    std::fs::write(&alerts, &detected.stdout).unwrap();
    let out = secops(&[
        "rules",
        "stats",
        &alerts.to_string_lossy(),
        "--min-alerts",
        "1",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let lines: Vec<&str> = stdout.lines().collect();
    let at = lines
        .iter()
        .position(|l| l.starts_with("  SSH Password Brute Force from a Single Source ("))
        .unwrap_or_else(|| panic!("no suggestion for the brute-force rule:\n{stdout}"));
    assert!(
        lines[at].contains(
            "host.name = \"LabSZ\" in 7 of 7 (the monitored side: excepting it would silence the rule there)"
        ),
        "{}",
        lines[at]
    );
    assert_eq!(
        lines[at + 1],
        "    no exception proposed: the only common value is the monitored side"
    );
    assert!(!stdout.contains("field = \"host."), "{stdout}");
}

/// Every file under `dir`.
#[allow(clippy::unwrap_used)] // a test helper
fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                files.push(path);
            }
        }
    }
    files
}

#[test]
fn alerts_carry_the_version_the_lock_beside_the_rules_records() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("rules")).unwrap();
    std::fs::create_dir_all(dir.path().join("etc")).unwrap();
    let name = "privilege_escalation_linux_su_to_root.toml";
    std::fs::copy(
        repo().join("rules/privilege_escalation").join(name),
        dir.path().join("rules").join(name),
    )
    .unwrap();
    let rules = dir.path().join("rules").to_string_lossy().into_owned();
    let lock = dir.path().join("etc/rules.lock.json");
    let locked = secops(&["rules", "lock", &rules, "--lock", &lock.to_string_lossy()]);
    assert_eq!(locked.status.code(), Some(0), "{}", stderr(&locked));
    // As if the rule had changed six times since it was first locked.
    let text = std::fs::read_to_string(&lock)
        .unwrap()
        .replace("\"version\": 1", "\"version\": 7");
    std::fs::write(&lock, text).unwrap();
    let out = secops(&[
        "detect",
        "samples/auth.log",
        "--year",
        "2023",
        "--rules",
        &rules,
        "--output",
        "jsonl",
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let alert: serde_json::Value = serde_json::from_str(stdout.lines().next().unwrap()).unwrap();
    assert_eq!(alert["rule.name"], "Successful su to root");
    assert_eq!(alert["rule.version"], 7);
    // The bundled pack carries its own lock.
    let bundled = secops(&[
        "detect",
        "samples/auth.log",
        "--year",
        "2023",
        "--output",
        "jsonl",
    ]);
    let first = String::from_utf8_lossy(&bundled.stdout)
        .lines()
        .next()
        .unwrap()
        .to_string();
    let alert: serde_json::Value = serde_json::from_str(&first).unwrap();
    let lock: serde_json::Value =
        serde_json::from_slice(&std::fs::read(repo().join("etc/rules.lock.json")).unwrap())
            .unwrap();
    let id = alert["rule.id"].as_str().unwrap();
    assert_eq!(alert["rule.version"], lock[id]["version"]);
}

#[test]
fn rules_validate_finds_fields_the_log_source_never_carries() {
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(
        repo().join("rules/privilege_escalation/privilege_escalation_linux_su_to_root.toml"),
    )
    .unwrap();
    let typo = text.replacen("user.effective.name:root", "user.efective.name:root", 1);
    assert_ne!(typo, text);
    let file = dir
        .path()
        .join("privilege_escalation_linux_su_to_root.toml");
    std::fs::write(&file, &typo).unwrap();
    let dir_arg = dir.path().to_string_lossy().into_owned();
    let validate = |logs: &str| {
        let out = secops(&[
            "rules",
            "validate",
            &dir_arg,
            "--no-tests",
            "--fields-from",
            logs,
            "--year",
            "2023",
        ]);
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    };
    let (code, stdout) = validate("samples/auth.log");
    assert_eq!(code, Some(1), "{stdout}");
    let line = typo
        .lines()
        .position(|l| l.contains("user.efective.name"))
        .unwrap()
        + 1;
    assert!(
        stdout.contains(&format!(
            "error[fields] {}:{line}: field user.efective.name occurs in none of the",
            file.display()
        )),
        "{stdout}"
    );
    // The correct field is carried: no fields finding for the original rule.
    std::fs::write(&file, &text).unwrap();
    let (_, stdout) = validate("samples/auth.log");
    assert!(!stdout.contains("error[fields]"), "{stdout}");
    // Logs without events of the rule's source: a warning, not a verdict.
    let (_, stdout) = validate("samples/access.log");
    assert!(stdout.contains("warning[fields]"), "{stdout}");
}

#[test]
fn rule_cases_read_ndjson_fixtures_beside_the_rule_and_benign_allowances_need_reasons() {
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(
        repo().join("rules/privilege_escalation/privilege_escalation_linux_su_to_root.toml"),
    )
    .unwrap();
    // The rule's own cases give way to fixture-based ones.
    let head = &text[..text.find("[[test]]").unwrap()];
    let cases = r#"
[[test]]
name = "su to root from the fixture alerts"
expect = "alert"
events_file = "fixtures/su_root.ndjson"

[[test]]
name = "su to another user does not alert"
expect = "no_alert"
events_file = "fixtures/su_other.ndjson"

[[test]]
name = "a missing fixture fails"
expect = "alert"
events_file = "fixtures/nowhere.ndjson"

[[test]]
name = "a benign allowance without a reason fails"
kind = "benign"
max_alerts = 2
events_file = "fixtures/su_other.ndjson"
"#;
    std::fs::write(
        dir.path()
            .join("privilege_escalation_linux_su_to_root.toml"),
        format!("{head}{cases}"),
    )
    .unwrap();
    std::fs::create_dir(dir.path().join("fixtures")).unwrap();
    let event = |user: &str| {
        format!(
            "{{\"@timestamp\":\"2026-01-01T00:00:0{}Z\",\"event.module\":\"system\",\"event.dataset\":\"system.auth\",\"process.name\":\"su\",\"event.action\":\"su\",\"event.outcome\":\"success\",\"user.name\":\"alice\",\"user.effective.name\":\"{user}\"}}\n",
            user.len()
        )
    };
    std::fs::write(dir.path().join("fixtures/su_root.ndjson"), event("root")).unwrap();
    std::fs::write(dir.path().join("fixtures/su_other.ndjson"), event("backup")).unwrap();
    let out = secops(&["rules", "test", &dir.path().to_string_lossy()]);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("ok    Successful su to root / su to root from the fixture alerts"),
        "{stdout}"
    );
    assert!(
        stdout.contains("ok    Successful su to root / su to another user does not alert"),
        "{stdout}"
    );
    assert!(
        stdout.contains("FAIL  Successful su to root / a missing fixture fails"),
        "{stdout}"
    );
    assert!(stdout.contains("nowhere.ndjson: no such file"), "{stdout}");
    assert!(stdout.contains("needs a reason"), "{stdout}");
    assert_eq!(stdout.lines().last(), Some("2 passed, 2 failed"));
}

#[test]
fn sigma_convert_writes_native_rules_that_pass_their_regression_samples() {
    let Some(sigma) = shared("corpus/sigma") else {
        return;
    };
    let Some(attack) = shared("corpus/attack") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let folder = sigma.join("rules/windows/process_creation");
    let out = secops(&[
        "sigma",
        "convert",
        folder.to_str().unwrap(),
        "--out",
        dir.path().to_str().unwrap(),
        "--attack",
        attack.to_str().unwrap(),
    ]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{err}");
    let converted: usize = err
        .lines()
        .find_map(|l| l.strip_prefix("converted "))
        .and_then(|l| l.split(' ').next())
        .and_then(|n| n.parse().ok())
        .expect("a summary line");
    assert!(converted > 1_000, "{converted}");
    // An encoded-PowerShell rule lands under its tactic with Sigma's provenance, ATT&CK names from the
    // bundle and its regression sample beside it.
    let file = dir
        .path()
        .join("execution/execution_suspicious_encoded_powershell_command_line.toml");
    let text = std::fs::read_to_string(&file).expect("the converted rule");
    assert!(text.contains("language = \"sigma\""), "{text}");
    assert!(text.contains("kind = \"sigma\""), "{text}");
    assert!(text.contains("license = \"DRL-1.1\""), "{text}");
    assert!(text.contains("name = \"PowerShell\""), "{text}");
    assert!(
        text.contains("[rule.detection.selection]") || text.contains("[[rule.detection."),
        "{text}"
    );
    // The converted folder tests green: every regression sample matches its converted rule.
    let test = secops(&["rules", "test", dir.path().to_str().unwrap()]);
    let report = String::from_utf8_lossy(&test.stdout).into_owned();
    assert_eq!(test.status.code(), Some(0), "{report}{}", stderr(&test));
    let last = report.lines().last().unwrap_or("");
    assert!(last.ends_with("passed, 0 failed"), "{last}");
    assert!(!last.starts_with("0 passed"), "{last}");
    // Converting again does not overwrite without --force.
    let again = secops(&[
        "sigma",
        "convert",
        sigma
            .join("rules/windows/process_creation/proc_creation_win_powershell_base64_encoded_cmd.yml")
            .to_str()
            .unwrap(),
        "--out",
        dir.path().to_str().unwrap(),
    ]);
    assert_eq!(again.status.code(), Some(1));
    assert!(
        stderr(&again).contains("exists (--force replaces it)"),
        "{}",
        stderr(&again)
    );
}

#[test]
fn sigma_convert_refuses_a_rule_that_cannot_run_and_names_why() {
    let dir = tempfile::tempdir().unwrap();
    let rule = dir.path().join("mac.yml");
    std::fs::write(
        &rule,
        "title: Mac rule\nlogsource:\n    product: macos\n    category: process_creation\n\
         detection:\n    selection:\n        Image|endswith: /osascript\n    condition: selection\n",
    )
    .unwrap();
    let broken = dir.path().join("broken.yml");
    std::fs::write(
        &broken,
        "title: Broken\nlogsource:\n    product: windows\n    category: process_creation\n\
         detection:\n    selection:\n        Image|sideways: x\n    condition: selection\n",
    )
    .unwrap();
    let out = secops(&[
        "sigma",
        "convert",
        dir.path().to_str().unwrap(),
        "--out",
        dir.path().join("out").to_str().unwrap(),
    ]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("mac.yml: will not run, so not converted: no log source is mapped for category 'process_creation' of product 'macos'"),
        "{err}"
    );
    assert!(
        err.contains("broken.yml: detection.selection.Image|sideways: unknown modifier 'sideways'"),
        "{err}"
    );
    assert!(
        err.contains("converted 0 rule(s), 2 file(s) failed"),
        "{err}"
    );
}

#[test]
fn sigma_export_writes_the_pack_as_sigma_that_loads_back_and_names_what_has_no_sigma_form() {
    let dir = tempfile::tempdir().unwrap();
    let out = secops(&["sigma", "export", "--out", dir.path().to_str().unwrap()]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(
        err.contains(
            "credential_access_ssh_brute_force_then_success.toml: EQL sequences have no Sigma form"
        ),
        "{err}"
    );
    assert!(err.contains("new_terms rules have no Sigma form"), "{err}");
    let yaml = std::fs::read_to_string(dir.path().join("execution_windows_encoded_powershell.yml"))
        .expect("the exported rule");
    assert!(yaml.contains("category: process_creation"), "{yaml}");
    assert!(yaml.contains("- attack.t1059.001"), "{yaml}");
    // A threshold rule becomes a base rule and an event_count correlation.
    let burst = std::fs::read_to_string(
        dir.path()
            .join("credential_access_windows_logon_failure_burst.yml"),
    )
    .expect("the exported threshold rule");
    assert!(burst.contains("type: event_count"), "{burst}");
    // The exported folder runs as Sigma: attacks in the sample logs of Windows, Linux and AWS still
    // alert.
    let detect = secops(&[
        "detect",
        "samples",
        "--rules",
        dir.path().to_str().unwrap(),
        "--output",
        "jsonl",
    ]);
    let alerts = String::from_utf8_lossy(&detect.stdout).into_owned();
    for title in [
        "PowerShell Run with an Encoded Command",
        "Windows Security Log Cleared",
        "Local Account Created on a Linux Host",
        "AWS Security Group Opened to the Internet",
    ] {
        assert!(
            alerts.contains(title),
            "{title}: {alerts}{}",
            stderr(&detect)
        );
    }
}

const SSH_FAILURE: &str = r#"
[metadata]
creation_date = "2026-12-01"
updated_date = "2026-12-01"
maturity = "experimental"

[rule]
id = "1f0c9d3a-6a0e-4d8e-9a44-2b7f5b9c0a01"
name = "SSH Authentication Failure"
description = "One failed SSH authentication."
author = ["secops"]
license = "Apache-2.0"
type = "query"
language = "kql"
query = "event.category:authentication and event.outcome:failure"
severity = "low"
risk_score = 21

[rule.log_source]
product = "linux"
service = "sshd"
"#;

const REPEATED_FAILURES: &str = r#"
[metadata]
creation_date = "2026-12-01"
updated_date = "2026-12-01"
maturity = "experimental"

[rule]
id = "5e2b7c1d-8f4a-4b3e-9c6d-0a1b2c3d4e5f"
name = "Repeated SSH Failures from One Source"
description = "Three failed SSH authentications from one address within ten minutes."
author = ["secops"]
license = "Apache-2.0"
type = "correlation"
severity = "medium"
risk_score = 47

[rule.correlation]
type = "event_count"
rules = ["SSH Authentication Failure"]
group_by = ["source.ip"]
timespan = "10m"
condition = { gte = 3 }

[[test]]
name = "three failures from one source alert"
expect = "alert"
parser = "syslog"
year = 2026
raw = [
  "Jan  1 00:00:01 bastion sshd[100]: Failed password for root from 203.0.113.9 port 4000 ssh2",
  "Jan  1 00:01:01 bastion sshd[101]: Failed password for root from 203.0.113.9 port 4001 ssh2",
  "Jan  1 00:02:01 bastion sshd[102]: Failed password for admin from 203.0.113.9 port 4002 ssh2",
]
expect_groups = ["203.0.113.9"]

[[test]]
name = "three failures from three sources do not"
expect = "no_alert"
parser = "syslog"
year = 2026
raw = [
  "Jan  1 00:00:01 bastion sshd[100]: Failed password for root from 203.0.113.9 port 4000 ssh2",
  "Jan  1 00:01:01 bastion sshd[101]: Failed password for root from 203.0.113.10 port 4001 ssh2",
  "Jan  1 00:02:01 bastion sshd[102]: Failed password for root from 203.0.113.11 port 4002 ssh2",
]

[[test]]
name = "three failures spread over half an hour do not"
expect = "no_alert"
parser = "syslog"
year = 2026
raw = [
  "Jan  1 00:00:01 bastion sshd[100]: Failed password for root from 203.0.113.9 port 4000 ssh2",
  "Jan  1 00:15:01 bastion sshd[101]: Failed password for root from 203.0.113.9 port 4001 ssh2",
  "Jan  1 00:30:01 bastion sshd[102]: Failed password for root from 203.0.113.9 port 4002 ssh2",
]
"#;

#[test]
fn native_correlation_rules_test_run_and_silence_the_rules_they_read() {
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("rules");
    std::fs::create_dir(&rules).unwrap();
    std::fs::write(
        rules.join("credential_access_ssh_failure.toml"),
        SSH_FAILURE,
    )
    .unwrap();
    std::fs::write(
        rules.join("credential_access_repeated_ssh_failures.toml"),
        REPEATED_FAILURES,
    )
    .unwrap();
    let rules_arg = rules.to_str().unwrap();
    let tested = secops(&["rules", "test", rules_arg]);
    let report = String::from_utf8_lossy(&tested.stdout).into_owned();
    assert_eq!(tested.status.code(), Some(0), "{report}{}", stderr(&tested));
    assert!(report.ends_with("3 passed, 0 failed\n"), "{report}");
    // Detection over a log: one correlation alert, and the failures it reads do not alert alone.
    let log = dir.path().join("auth.log");
    std::fs::write(
        &log,
        "Jan  1 00:00:01 bastion sshd[100]: Failed password for root from 203.0.113.9 port 4000 ssh2\n\
         Jan  1 00:01:01 bastion sshd[101]: Failed password for root from 203.0.113.9 port 4001 ssh2\n\
         Jan  1 00:02:01 bastion sshd[102]: Failed password for admin from 203.0.113.9 port 4002 ssh2\n\
         Jan  1 00:03:01 bastion sshd[103]: Failed password for admin from 198.51.100.4 port 4003 ssh2\n",
    )
    .unwrap();
    let out = secops(&[
        "detect",
        log.to_str().unwrap(),
        "--rules",
        rules_arg,
        "--year",
        "2026",
        "--output",
        "jsonl",
    ]);
    let alerts = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(alerts.lines().count(), 1, "{alerts}{}", stderr(&out));
    assert!(
        alerts.contains("\"rule.name\":\"Repeated SSH Failures from One Source\""),
        "{alerts}"
    );
    assert!(alerts.contains("\"source.ip\":\"203.0.113.9\""), "{alerts}");
    // A correlation over a rule that is not loaded is reported, and the rest runs.
    let lonely = dir.path().join("lonely");
    std::fs::create_dir(&lonely).unwrap();
    std::fs::write(
        lonely.join("credential_access_repeated_ssh_failures.toml"),
        REPEATED_FAILURES,
    )
    .unwrap();
    let out = secops(&[
        "detect",
        log.to_str().unwrap(),
        "--rules",
        lonely.to_str().unwrap(),
        "--year",
        "2026",
    ]);
    assert!(
        stderr(&out).contains("correlation: SSH Authentication Failure not a loaded rule"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn sigma_correlations_convert_to_native_correlations_that_alert_alike() {
    let dir = tempfile::tempdir().unwrap();
    let sigma = dir.path().join("sigma");
    std::fs::create_dir(&sigma).unwrap();
    std::fs::write(
        sigma.join("ssh_failures.yml"),
        "title: SSH Authentication Failure\nid: 0f0e0d0c-0b0a-4909-8807-060504030201\nname: ssh_failure\n\
         status: test\nlogsource:\n    product: linux\n    service: sshd\ndetection:\n    keywords:\n\
         \x20       - 'Failed password'\n    condition: keywords\nlevel: low\n---\n\
         title: Repeated SSH Failures from One Source\nid: 1a2b3c4d-5e6f-4a0b-8c1d-2e3f4a5b6c7d\n\
         status: test\ncorrelation:\n    type: event_count\n    rules:\n        - ssh_failure\n\
         \x20   group-by:\n        - source.ip\n    timespan: 10m\n    condition:\n        gte: 3\n\
         tags:\n    - attack.credential-access\n    - attack.t1110\nlevel: medium\n",
    )
    .unwrap();
    let out_dir = dir.path().join("native");
    let converted = secops(&[
        "sigma",
        "convert",
        sigma.to_str().unwrap(),
        "--out",
        out_dir.to_str().unwrap(),
    ]);
    let err = stderr(&converted);
    assert_eq!(converted.status.code(), Some(0), "{err}");
    assert!(
        err.contains("converted 2 rule(s), 0 file(s) failed"),
        "{err}"
    );
    let correlation = std::fs::read_to_string(
        out_dir
            .join("credential_access/credential_access_repeated_ssh_failures_from_one_source.toml"),
    )
    .expect("the converted correlation");
    assert!(
        correlation.contains("type = \"correlation\""),
        "{correlation}"
    );
    assert!(
        correlation.contains("group_by = [\"source.ip\"]"),
        "{correlation}"
    );
    // The reference now names the converted rule by its id.
    assert!(
        correlation.contains("rules = [\"0f0e0d0c-0b0a-4909-8807-060504030201\"]"),
        "{correlation}"
    );
    let log = dir.path().join("auth.log");
    std::fs::write(
        &log,
        "Jan  1 00:00:01 bastion sshd[100]: Failed password for root from 203.0.113.9 port 4000 ssh2\n\
         Jan  1 00:01:01 bastion sshd[101]: Failed password for root from 203.0.113.9 port 4001 ssh2\n\
         Jan  1 00:02:01 bastion sshd[102]: Failed password for admin from 203.0.113.9 port 4002 ssh2\n\
         Jan  1 00:03:01 bastion sshd[103]: Failed password for admin from 198.51.100.4 port 4003 ssh2\n",
    )
    .unwrap();
    let run = |rules: &Path| {
        let out = secops(&[
            "detect",
            log.to_str().unwrap(),
            "--rules",
            rules.to_str().unwrap(),
            "--year",
            "2026",
            "--output",
            "jsonl",
        ]);
        let alerts: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        alerts
            .iter()
            .map(|a| {
                (
                    a["rule.name"].to_string(),
                    a["source.ip"].to_string(),
                    a["threshold.count"].to_string(),
                )
            })
            .collect::<Vec<_>>()
    };
    let from_yaml = run(&sigma);
    assert_eq!(from_yaml.len(), 1, "{from_yaml:?}");
    assert_eq!(run(&out_dir), from_yaml);
}

/// Control characters, escape sequences and bidi overrides that no human-readable output may carry raw
/// (newlines only as line ends).
fn raw_controls(text: &str) -> Vec<char> {
    text.chars()
        .filter(|&c| {
            (c.is_control() && c != '\n')
                || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{200e}' | '\u{200f}')
        })
        .collect()
}

#[test]
fn hostile_log_text_reaches_no_terminal_output_raw() {
    // A user name carries a window-title escape, a screen clear, and a bidi override; the sudo rule
    // groups by host and user, so it reaches alert groups and case titles.
    let hostile = "in\u{1b}]0;owned\u{7}\u{1b}[2Jtern\u{202e}gpj.exe";
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("auth.log");
    let text = std::fs::read_to_string(repo().join("samples/auth.log")).unwrap();
    std::fs::write(&log, text.replace("intern", hostile)).unwrap();
    let db = dir.path().join("secops.db");
    let (log, db) = (log.to_string_lossy(), db.to_string_lossy());
    let mut outputs = Vec::new();
    for args in [
        vec!["detect", &log, "--year", "2023", "--db", &db],
        vec!["detect", &log, "--year", "2023", "--output", "csv"],
        vec!["detect", &log, "--year", "2023", "--output", "timeline"],
        vec!["ingest", &log, "--year", "2023", "--output", "table"],
        vec!["alerts", "list", "--db", &db],
        vec!["case", "group", "--db", &db],
        vec!["case", "list", "--db", &db],
        vec!["case", "show", "1", "--db", &db],
        vec!["case", "report", "1", "--db", &db],
    ] {
        let out = secops(&args);
        let all = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let raw = raw_controls(&all);
        assert!(raw.is_empty(), "{args:?} printed {raw:?} raw:\n{all}");
        outputs.push(all);
    }
    // The text is shown, visibly and in full, where a person reads it.
    let shown = r"in\x1b]0;owned\x07\x1b[2Jtern\u{202e}gpj.exe";
    assert!(
        outputs[4].contains("user.name=in\\x1b]0;owned"),
        "{}",
        outputs[4]
    );
    assert!(outputs[7].contains(shown), "{}", outputs[7]);
    for id in 1..=3 {
        let out = secops(&["alerts", "show", &id.to_string(), "--db", &db]);
        let all = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(raw_controls(&all).is_empty(), "{all}");
    }
}

/// Random log text (controls, C1, bidi formatting, escape look-alikes, wide and combining characters)
/// in a user name and a user agent goes through every command a person reads: nothing reaches an output
/// raw, and where the value is shown whole it reads back exactly. A megabyte-long user name is cut in
/// tables and kept whole in JSON lines.
#[test]
fn random_log_text_never_reaches_an_output_raw_and_reads_back_exactly() {
    const ALPHABET: &[char] = &[
        'a', 'Z', '0', '\\', 'n', 'x', 'u', '{', '}', '1', 'b', '[', ']', '<', '|', '*', '=', ',',
        '\u{0}', '\u{7}', '\u{8}', '\t', '\u{b}', '\u{c}', '\u{1b}', '\u{1f}', '\u{7f}', '\u{80}',
        '\u{85}', '\u{9b}', '\u{9f}', '\u{61c}', '\u{200e}', '\u{200f}', '\u{202a}', '\u{202e}',
        '\u{2066}', '\u{2069}', 'é', '漢', '\u{301}', '✓', '\u{feff}',
    ];
    let auth = std::fs::read_to_string(repo().join("samples/auth.log")).unwrap();
    let access = std::fs::read_to_string(repo().join("samples/access.log")).unwrap();
    let mut rng = secops_testkit::mutate::Rng::new(0x0dd_1095);
    for round in 0..3 {
        let random: String = (0..8 + rng.below(32))
            .map(|_| ALPHABET[rng.below(ALPHABET.len())])
            .collect();
        let user = format!("u{random}");
        let dir = tempfile::tempdir().unwrap();
        let (auth_log, access_log) = (dir.path().join("auth.log"), dir.path().join("access.log"));
        std::fs::write(&auth_log, auth.replace("intern", &user)).unwrap();
        std::fs::write(&access_log, access.replace("(https://sqlmap.org)", &user)).unwrap();
        let db = dir.path().join("secops.db");
        let (auth_log, access_log, db) = (
            auth_log.to_string_lossy(),
            access_log.to_string_lossy(),
            db.to_string_lossy(),
        );
        // (named formats: a NUL in the first lines makes a file look binary to format detection)
        let mut commands: Vec<Vec<&str>> = Vec::new();
        for (log, format) in [(&auth_log, "syslog"), (&access_log, "apache_access")] {
            let read = ["--year", "2023", "--format", format];
            for args in [
                vec!["detect", log],
                vec!["detect", log, "--output", "csv"],
                vec!["detect", log, "--output", "timeline"],
                vec!["ingest", log, "--output", "table"],
                vec!["detect", log, "--db", &db, "--open-cases"],
            ] {
                commands.push(args.into_iter().chain(read).collect());
            }
        }
        commands.extend([
            vec!["alerts", "list", "--db", &db],
            vec!["alerts", "show", "1", "--db", &db],
            vec!["alerts", "show", "2", "--db", &db],
            vec!["case", "list", "--db", &db],
            vec!["case", "show", "1", "--db", &db],
            vec!["case", "show", "2", "--db", &db],
            vec!["case", "report", "1", "--db", &db],
            vec!["case", "report", "2", "--db", &db],
        ]);
        let mut everything = String::new();
        for args in &commands {
            let out = secops(args);
            let all = format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            let raw = raw_controls(&all);
            assert!(
                raw.is_empty(),
                "round {round}: {args:?} printed {raw:?} raw:\n{all}"
            );
            everything.push_str(&all);
        }
        // Shown whole somewhere (a case, an alert), escaped so that it reads back exactly (the user
        // name as syslog parses it: up to the first white space).
        let parsed: String = user.chars().take_while(|c| !c.is_whitespace()).collect();
        let shown = secops_event::escape::terminal(&parsed);
        assert!(
            everything.contains(shown.as_ref()),
            "round {round}: {parsed:?} as {shown:?}"
        );
        assert_eq!(secops_event::escape::unescape(&shown), parsed);
    }

    // A megabyte-long user name: tables cut it, JSON lines keep it whole.
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("auth.log");
    let huge = "x".repeat(1 << 20);
    std::fs::write(&log, auth.replace("intern", &huge)).unwrap();
    let log = log.to_string_lossy();
    for args in [
        vec!["detect", &log, "--year", "2023"],
        vec!["ingest", &log, "--year", "2023", "--output", "table"],
    ] {
        let out = secops(&args);
        let longest = String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|l| l.chars().count())
            .max()
            .unwrap_or(0);
        assert!(longest < 400, "{args:?}: a line of {longest} characters");
    }
    let out = secops(&["detect", &log, "--year", "2023", "--output", "jsonl"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains(&huge));
}

/// A CloudTrail user name written as markup (script, a link, a tracking image) reaches the case report
/// as text: the Markdown report rendered by a CommonMark renderer (pulldown-cmark) and the HTML report
/// hold no element, link or image from it.
#[test]
fn markup_in_log_text_stays_text_in_rendered_case_reports() {
    let hostile = "<img src=x onerror=alert(1)>[click](http://evil.example/)![](http://track.example/p.gif)<script>alert(2)</script>";
    let json_text = serde_json::to_string(hostile).unwrap();
    let text = std::fs::read_to_string(repo().join("samples/cloudtrail.jsonl")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("cloudtrail.jsonl");
    std::fs::write(
        &log,
        text.replace("\"maria\"", &json_text)
            .replace("user/maria", "user/x"),
    )
    .unwrap();
    let db = dir.path().join("secops.db").to_string_lossy().into_owned();
    let out = secops(&[
        "detect",
        &log.to_string_lossy(),
        "--db",
        &db,
        "--open-cases",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let mut reports = 0;
    for case in 1..=10 {
        let md = secops(&["case", "report", &case.to_string(), "--db", &db]);
        if md.status.code() != Some(0) {
            break;
        }
        let md = String::from_utf8_lossy(&md.stdout).into_owned();
        if !md.contains("onerror") {
            continue;
        }
        let mut html = String::new();
        pulldown_cmark::html::push_html(&mut html, pulldown_cmark::Parser::new(&md));
        for forbidden in ["<img", "<a ", "<script", "<iframe"] {
            assert!(
                !html.contains(forbidden),
                "case {case}: {forbidden} in\n{html}"
            );
        }
        // shown as it was written, in a code span and in text
        assert!(
            html.contains(&format!(
                "<code>{}</code>",
                secops_event::escape::html(hostile).replace("&#39;", "'")
            )),
            "{html}"
        );
        assert!(
            html.contains("&lt;img src=x onerror=alert(1)&gt;[click]"),
            "{html}"
        );
        let page = secops(&[
            "case",
            "report",
            &case.to_string(),
            "--format",
            "html",
            "--db",
            &db,
        ]);
        let page = String::from_utf8_lossy(&page.stdout).into_owned();
        assert!(
            !page.contains("<img src=x") && !page.contains("<script>alert"),
            "{page}"
        );
        reports += 1;
    }
    assert!(reports > 0, "no case report carried the user name");
}

#[test]
fn store_location_mistakes_are_refused_and_create_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("typo.db");
    let missing_arg = missing.to_string_lossy().into_owned();
    // A read-only command on a store that is not there: an error, and no new store.
    for args in [
        vec!["alerts", "list", "--db", &missing_arg],
        vec!["case", "list", "--db", &missing_arg],
        vec!["intel", "list", "--db", &missing_arg],
        vec!["rules", "stats", "--db", &missing_arg],
    ] {
        let out = secops(&args);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        assert!(
            stderr(&out).contains("no store there"),
            "{args:?}: {}",
            stderr(&out)
        );
        assert!(!missing.exists(), "{args:?} created {}", missing.display());
    }
    // No folders are created for a mistyped path, even by a command that records.
    let nested = dir.path().join("no/such/folder/secops.db");
    let out = secops(&[
        "detect",
        "samples/auth.log",
        "--db",
        &nested.to_string_lossy(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("does not exist"), "{}", stderr(&out));
    assert!(!dir.path().join("no").exists());
    // Other databases and connection strings are refused, not taken for file names.
    for url in [
        "mysql://root@127.0.0.1/test",
        "host=127.0.0.1 dbname=test user=postgres",
    ] {
        let out = secops(&["alerts", "list", "--database-url", url]);
        assert_eq!(out.status.code(), Some(1), "{url}");
        let err = stderr(&out);
        assert!(
            err.contains("unknown scheme") || err.contains("key=value"),
            "{err}"
        );
    }
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[test]
fn detect_with_no_rule_that_can_run_fails_instead_of_reporting_clean_logs() {
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().to_string_lossy().into_owned();
    let out = secops(&["detect", "samples/auth.log", "--rules", &empty]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("no rule can run"), "{}", stderr(&out));
    std::fs::write(dir.path().join("broken.toml"), "[rule\n").unwrap();
    let out = secops(&["detect", "samples/auth.log", "--rules", &empty]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("rejected: "), "{}", stderr(&out));
}

#[test]
fn a_case_opened_by_hand_takes_the_playbook_it_names_and_refuses_an_unknown_one() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("secops.db").to_string_lossy().into_owned();
    let out = secops(&[
        "case",
        "new",
        "--title",
        "Reported mail",
        "--playbook",
        "phishing",
        "--db",
        &db,
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let said = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(said.contains("playbook phishing"), "{said}");
    let shown =
        String::from_utf8_lossy(&secops(&["case", "show", "1", "--db", &db]).stdout).into_owned();
    let tasks = shown
        .lines()
        .skip_while(|l| *l != "tasks:")
        .skip(1)
        .take_while(|l| !l.is_empty())
        .count();
    assert!(tasks > 0, "the playbook's tasks: {shown}");
    let out = secops(&[
        "case",
        "new",
        "--title",
        "x",
        "--playbook",
        "nosuch",
        "--db",
        &db,
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("no playbook \"nosuch\""),
        "{}",
        stderr(&out)
    );
}

/// Ten `detect` runs start together on a store none of them finds: every one succeeds, and together
/// they record each alert once. Twenty rounds, each on a new store.
#[allow(clippy::unwrap_used)] // a test helper
fn concurrent_first_use(store_args: &dyn Fn(usize) -> Vec<String>, rounds: usize) {
    for round in 0..rounds {
        let children: Vec<std::process::Child> = (0..10)
            .map(|_| {
                Command::new(env!("CARGO_BIN_EXE_secops"))
                    .args([
                        "detect",
                        "samples/auth.log",
                        "--year",
                        "2023",
                        "--output",
                        "jsonl",
                    ])
                    .args(store_args(round))
                    .current_dir(repo())
                    .stdout(std::process::Stdio::null())
                    .stderr(std::process::Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        for child in children {
            let out = child.wait_with_output().unwrap();
            let err = stderr(&out);
            assert_eq!(out.status.code(), Some(0), "round {round}: {err}");
            // Each run accounts for all six alerts: new, folded or already recorded.
            let line = err
                .lines()
                .find(|l| l.starts_with("store: "))
                .unwrap_or_default();
            let counts: Vec<u64> = line
                .split(|c: char| !c.is_ascii_digit())
                .filter_map(|n| n.parse().ok())
                .collect();
            assert_eq!(counts.iter().sum::<u64>(), 6, "round {round}: {line}");
        }
        let mut list = vec![
            "alerts".to_string(),
            "list".into(),
            "--output".into(),
            "jsonl".into(),
        ];
        list.extend(store_args(round));
        let list: Vec<&str> = list.iter().map(String::as_str).collect();
        let out = secops(&list);
        let stored = String::from_utf8_lossy(&out.stdout).lines().count();
        assert_eq!(stored, 6, "round {round}: {}", stderr(&out));
    }
}

#[test]
fn ten_first_uses_of_a_new_sqlite_store_at_once_all_succeed() {
    let dir = tempfile::tempdir().unwrap();
    let path = |round: usize| dir.path().join(format!("store{round}.db"));
    concurrent_first_use(
        &|round| vec!["--db".into(), path(round).to_string_lossy().into_owned()],
        20,
    );
}

#[test]
fn ten_first_uses_of_a_new_postgres_schema_at_once_all_succeed() {
    let Some(url) = secops_testkit::postgres_url("concurrent first use") else {
        return;
    };
    let tag = std::process::id();
    let schema = |round: usize| format!("first_use_{tag}_{round}");
    let keys = tempfile::tempdir().unwrap();
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        concurrent_first_use(
            &|round| {
                vec![
                    "--database-url".into(),
                    format!("{url}?schema={}", schema(round)),
                    "--audit-key".into(),
                    keys.path()
                        .join(format!("key-{round}"))
                        .display()
                        .to_string(),
                ]
            },
            20,
        )
    }));
    if let Ok(mut client) = postgres::Client::connect(&url, postgres::NoTls) {
        for round in 0..20 {
            let _ =
                client.batch_execute(&format!("DROP SCHEMA IF EXISTS {} CASCADE", schema(round)));
        }
    }
    if let Err(panic) = result {
        std::panic::resume_unwind(panic);
    }
}

#[test]
fn a_fifo_named_directly_is_refused_instead_of_waiting_for_ever() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("pipe");
    let made = Command::new("mkfifo").arg(&fifo).status();
    if !made.is_ok_and(|s| s.success()) {
        panic!("mkfifo is part of coreutils: it must run here");
    }
    // Nothing writes to the pipe: reading it would block; the run must end on its own.
    let mut child = Command::new(env!("CARGO_BIN_EXE_secops"))
        .args(["ingest", &fifo.to_string_lossy()])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let started = std::time::Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > std::time::Duration::from_secs(20) {
            let _ = child.kill();
            panic!("secops ingest blocked on a FIFO");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("not a regular file"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn hostile_indicator_values_and_rule_titles_reach_no_terminal_output_raw() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("secops.db").to_string_lossy().into_owned();
    let bundle = dir.path().join("bundle.json");
    std::fs::write(
        &bundle,
        r#"{"type": "bundle", "id": "bundle--1", "objects": [{"type": "indicator", "id": "indicator--1",
            "pattern_type": "stix", "valid_from": "2026-01-01T00:00:00Z",
            "description": "see \u001b]8;;http://attacker.example\u0007here\u001b]8;;\u0007",
            "pattern": "[url:value = 'http://evil.example/\u001b[2J\u202eexe.txt']"}]}"#,
    )
    .unwrap();
    let rules = dir.path().join("rules");
    std::fs::create_dir(&rules).unwrap();
    std::fs::write(
        rules.join("title.yml"),
        "title: \"Looks fine\\e]0;owned\\a\\u202e\"\nlogsource:\n  product: linux\ndetection:\n  \
         sel:\n    user.name: root\n  condition: sel\nlevel: low\n",
    )
    .unwrap();
    let (bundle, rules) = (bundle.to_string_lossy(), rules.to_string_lossy());
    for args in [
        vec!["intel", "import", &bundle, "--db", &db],
        vec!["intel", "list", "--db", &db],
        vec!["intel", "show", "1", "--db", &db],
        vec!["intel", "search", "evil", "--db", &db],
        vec!["intel", "export", "--format", "csv", "--db", &db],
        vec!["rules", "list", "--rules", &rules],
    ] {
        let out = secops(&args);
        let all = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.status.success(), "{args:?}: {all}");
        let raw = raw_controls(&all);
        assert!(raw.is_empty(), "{args:?} printed {raw:?} raw:\n{all}");
        if args[1] != "import" {
            assert!(
                all.contains(r"\x1b"),
                "{args:?} shows the escape visibly:\n{all}"
            );
        }
    }
}

/// Every alert the bundled pack raises on the shared Linux and EVTX corpora is listed, with the attack it
/// points at, in `rules/CORPUS_ALERTS.md`; and every listed alert is raised, as often as listed.
#[test]
fn bundled_pack_alerts_on_the_shared_corpora_are_the_listed_ones() {
    let Some(corpus) = shared("corpus") else {
        return;
    };
    let prefix = format!("{}/", corpus.display());
    let mut raised: std::collections::BTreeMap<(String, String), u64> = Default::default();
    for input in ["linux", "evtx"] {
        let path = corpus.join(input);
        let out = secops(&[
            "detect",
            path.to_str().unwrap(),
            "--output",
            "jsonl",
            "--order",
            "time",
        ]);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        // In time order each alert is written once, complete: every event it stands for is in its
        // provenance.
        for line in String::from_utf8(out.stdout).unwrap().lines() {
            let alert: serde_json::Value = serde_json::from_str(line).unwrap();
            let rule = alert["rule.name"].as_str().unwrap().to_string();
            // The labs behind these samples share addresses (10.0.2.x) and account names: no
            // lateral-movement alert may join events of different hosts.
            let lateral = alert["threat.tactic.id"]
                .as_array()
                .is_some_and(|t| t.iter().any(|t| t == "TA0008"));
            if lateral {
                let hosts: std::collections::BTreeSet<String> = alert["events"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .filter_map(|e| e["host.name"].as_str())
                    .map(|h| h.split('.').next().unwrap_or(h).to_ascii_lowercase())
                    .collect();
                assert!(hosts.len() <= 1, "{rule} joined hosts {hosts:?}: {line}");
            }
            for place in alert["event.provenance"].as_array().unwrap() {
                let (source, _) = place.as_str().unwrap().rsplit_once(':').unwrap();
                let source = source.strip_prefix(&prefix).unwrap_or(source).to_string();
                *raised.entry((rule.clone(), source)).or_default() += 1;
            }
        }
    }
    let listing = std::fs::read_to_string(repo().join("rules/CORPUS_ALERTS.md")).unwrap();
    let mut listed: std::collections::BTreeMap<(String, String), u64> = Default::default();
    for row in listing.lines().filter(|l| l.starts_with("| ")) {
        let cells: Vec<&str> = row.trim_matches('|').split(" | ").map(str::trim).collect();
        let [rule, input, count, reason] = cells.as_slice() else {
            panic!("a row of four cells: {row}");
        };
        if *rule == "rule" || rule.starts_with("---") {
            continue;
        }
        assert!(reason.len() > 20, "a reason for {rule} on {input}");
        let count: u64 = count.parse().unwrap_or_else(|_| panic!("a count: {row}"));
        let previous = listed.insert((rule.to_string(), input.to_string()), count);
        assert!(previous.is_none(), "listed twice: {row}");
    }
    let unlisted: Vec<_> = raised
        .iter()
        .filter(|(key, n)| listed.get(*key) != Some(n))
        .collect();
    let gone: Vec<_> = listed
        .iter()
        .filter(|(key, n)| raised.get(*key) != Some(n))
        .collect();
    assert!(
        unlisted.is_empty() && gone.is_empty(),
        "raised but not listed so: {unlisted:#?}\nlisted but not raised so: {gone:#?}"
    );
    assert!(listed
        .keys()
        .any(|(rule, input)| rule == "SSH Brute Force Seen Through PAM"
            && input == "linux/Linux_2k.log"));
}

/// The bundled lateral-movement rules on the shared corpus's lateral-movement samples, each file run on
/// its own: per file, the technique, target host and account an alert must name (remote service
/// creation, PsExec-style share and pipe use, WMI and scheduled-task execution on a target).
#[test]
fn lateral_movement_samples_alert_with_technique_host_and_account() {
    let Some(evtx) = shared("corpus/evtx") else {
        return;
    };
    let attack = "EVTX-ATTACK-SAMPLES/Lateral Movement";
    let mitre = "EVTX-to-MITRE-Attack/TA0008-Lateral Movement/T1021.002-SMB Windows Admin Shares";
    let expected: &[(&str, &str, &str, &str, &str)] = &[
        // Remote service creation.
        (
            attack,
            "LM_Remote_Service01_5145_svcctl.evtx",
            "T1569.002",
            "WIN-77LTAPHIQ1R.example.corp",
            "Administrator",
        ),
        (
            mitre,
            "ID4688,4697,5140-5145 PSexec remote execution + admin share.evtx",
            "T1569.002",
            "srvdefender01.offsec.lan",
            "admmig",
        ),
        // PsExec-style share and pipe use.
        (
            mitre,
            "ID4688,4697,5140-5145 PSexec remote execution + admin share.evtx",
            "T1570",
            "srvdefender01.offsec.lan",
            "admmig",
        ),
        (
            attack,
            "LM_renamed_psexecsvc_5145.evtx",
            "T1570",
            "IEWIN7",
            "IEUser",
        ),
        (
            attack,
            "LM_REMCOM_5145_TargetHost.evtx",
            "T1570",
            "PC01.example.corp",
            "IEUser",
        ),
        (
            mitre,
            "ID5145-remote shell execution via SMB admin share.evtx",
            "T1021.002",
            "srvdefender01.offsec.lan",
            "admmig",
        ),
        // WMI execution on a target.
        (
            attack,
            "LM_WMI_4624_4688_TargetHost.evtx",
            "T1047",
            "WIN-77LTAPHIQ1R.example.corp",
            "Administrator",
        ),
        (
            attack,
            "LM_wmiexec_impacket_sysmon_whoami.evtx",
            "T1047",
            "IEWIN7",
            "IEUser",
        ),
        // Scheduled-task execution on a target.
        (
            attack,
            "LM_ScheduledTask_ATSVC_target_host.evtx",
            "T1053.005",
            "WIN-77LTAPHIQ1R.example.corp",
            "Administrator",
        ),
        (
            attack,
            "remote task update 4624 4702 same logonid.evtx",
            "T1053.005",
            "01566s-win16-ir.threebeesco.com",
            "a-jbrown",
        ),
    ];
    let mut missing = Vec::new();
    for (folder, file, technique, host, account) in expected {
        let path = evtx.join(folder).join(file);
        let alerts = detect_alerts(&[
            "detect",
            path.to_str().expect("a UTF-8 path"),
            "--output",
            "jsonl",
        ]);
        let found = alerts.iter().any(|a| {
            let techniques = a["threat.technique.id"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            techniques.iter().any(|t| t == technique)
                && a["threat.tactic.id"]
                    .as_array()
                    .is_some_and(|t| t.iter().any(|t| t == "TA0008"))
                && a["events"].as_array().is_some_and(|events| {
                    events
                        .iter()
                        .any(|e| e["host.name"] == *host && e["user.name"] == *account)
                })
        });
        if !found {
            let raised: Vec<_> = alerts.iter().map(|a| a["rule.name"].clone()).collect();
            missing.push(format!(
                "{file}: ({technique}, {host}, {account}); raised {raised:?}"
            ));
        }
    }
    assert!(missing.is_empty(), "{missing:#?}");
}

/// The static field check: a Sigma rule reading a field that no event it runs on carries is rejected
/// with the field named; one on events whose fields the mapping lists is proven; one on events whose
/// fields it does not list is unverified, and says where. `rules list` and `coverage` give the counts.
#[test]
fn the_field_check_proves_rejects_or_flags_every_sigma_rule() {
    let dir = tempfile::tempdir().unwrap();
    let rule = |name: &str, logsource: &str, selection: &str| {
        std::fs::write(
            dir.path().join(format!("{name}.yml")),
            format!(
                "title: {name}\nid: {}\nstatus: test\nlogsource:\n{logsource}detection:\n  selection:\n{selection}  condition: selection\nlevel: medium\n",
                match name {
                    "whoami" => "0f6e2a41-7c3b-4d58-9e1f-2a3b4c5d6e01",
                    "typo" => "0f6e2a41-7c3b-4d58-9e1f-2a3b4c5d6e02",
                    _ => "0f6e2a41-7c3b-4d58-9e1f-2a3b4c5d6e03",
                }
            ),
        )
        .unwrap();
    };
    let process_creation = "  product: windows\n  category: process_creation\n";
    // Sysmon 1 and Security 4688 both carry Image (4688 as NewProcessName).
    rule(
        "whoami",
        process_creation,
        "    Image|endswith: '\\whoami.exe'\n",
    );
    // Neither carries ImagePath (a service-install field).
    rule(
        "typo",
        process_creation,
        "    ImagePath|endswith: '\\whoami.exe'\n",
    );
    // The mapping lists no fields for the Security channel as a whole.
    rule(
        "cleared",
        "  product: windows\n  service: security\n",
        "    EventID: 1102\n",
    );
    let rules = dir.path().to_string_lossy().into_owned();
    let run = |extra: &[&str]| {
        let mut args = vec!["rules", "list", "--rules", rules.as_str()];
        args.extend_from_slice(extra);
        let out = secops(&args);
        assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
        (
            String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr(&out),
        )
    };
    let (listing, summary) = run(&[]);
    assert!(
        summary.contains("field check: 1 proven, 1 unverified, 1 rejected"),
        "{summary}"
    );
    let line = |name: &str| {
        listing
            .lines()
            .find(|l| l.ends_with(name))
            .unwrap_or_else(|| panic!("{name} not in\n{listing}"))
            .to_string()
    };
    assert!(line("whoami").contains(" proven "), "{listing}");
    assert!(line("cleared").contains(" unverified "), "{listing}");
    let (rejected, _) = run(&["--rejected"]);
    assert!(
        rejected.contains("typo.yml: can never match:") && rejected.contains("carry no ImagePath"),
        "{rejected}"
    );
    let (unverified, _) = run(&["--unverified"]);
    assert_eq!(unverified.lines().count(), 2, "{unverified}");
    assert!(
        unverified.contains("cleared  (no field list: Windows security)"),
        "{unverified}"
    );
    let (by_source, _) = run(&["--by-logsource"]);
    for row in [
        "windows / process_creation                             1          0        1",
        "windows / security                                     0          1        0",
        "total                                                  1          1        1",
    ] {
        assert!(by_source.contains(row), "{row:?} not in\n{by_source}");
    }
}

/// Over all of SigmaHQ, a log source whose mapping lists its events' fields has no unverified rule:
/// each is proven or rejected with the field named.
#[test]
fn sigmahq_rules_on_sources_with_field_lists_are_proven_or_rejected() {
    let Some(sigma) = shared("corpus/sigma") else {
        return;
    };
    let mut args = vec!["rules".to_string(), "list".into(), "--by-logsource".into()];
    for folder in [
        "rules",
        "rules-emerging-threats",
        "rules-threat-hunting",
        "rules-compliance",
    ] {
        args.push("--rules".into());
        args.push(sigma.join(folder).to_string_lossy().into_owned());
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = secops(&args);
    let table = String::from_utf8_lossy(&out.stdout).into_owned();
    let rows: Vec<(String, [usize; 3])> = table
        .lines()
        .skip(1)
        .map(|l| {
            let words: Vec<&str> = l.split_whitespace().collect();
            let (label, counts) = words.split_at(words.len() - 3);
            let n = |i: usize| counts[i].parse::<usize>().unwrap();
            (label.join(" "), [n(0), n(1), n(2)])
        })
        .collect();
    let listed = [
        "windows / process_creation",
        "windows / registry_set",
        "windows / image_load",
        "linux / process_creation",
        "windows / file_event",
    ];
    for (source, [proven, unverified, _]) in &rows {
        if listed.contains(&source.as_str()) {
            assert!(*proven > 0 && *unverified == 0, "{source}: {table}");
        }
        // No source is half listed: its rules are all checked or none (correlations, under
        // `any`, are proven when the rules they count are).
        if source != "total" && source != "any" {
            assert!(*proven == 0 || *unverified == 0, "{source}: {table}");
        }
    }
    let (_, total) = rows.last().unwrap();
    assert!(stderr(&out).contains(&format!(
        "field check: {} proven, {} unverified, {} rejected",
        total[0], total[1], total[2]
    )));
}

/// Alert aggregation: a burst of one Sigma rule's matches from one source against one host folds into
/// a handful of alerts that keep every event's provenance; the first is written at once and updated
/// later under the same id; `--aggregate none` gives one alert per match; a rule's own
/// `alert_aggregation` and `--aggregate FIELDS` override the default entity. `informational` stays
/// its own severity.
#[test]
fn repeated_alerts_of_a_rule_fold_by_entity_without_losing_a_match() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = String::new();
    for i in 0..3000u32 {
        log.push_str(&format!(
            "Dec  3 10:{:02}:{:02} web1 sshd[{}]: Failed password for root from 203.0.113.9 port {} ssh2\n",
            i / 60,
            i % 60,
            2000 + i,
            40000 + i
        ));
    }
    for i in 0..5u32 {
        log.push_str(&format!(
            "Dec  3 11:30:0{i} web1 sshd[9{i}]: Failed password for admin from 198.51.100.4 port 5100{i} ssh2\n"
        ));
    }
    std::fs::write(dir.path().join("auth.log"), log).unwrap();
    let rules = dir.path().join("rules");
    std::fs::create_dir(&rules).unwrap();
    let sigma = |name: &str, id: &str, level: &str, extra: &str| {
        std::fs::write(
            rules.join(format!("{name}.yml")),
            format!(
                "title: {name}\nid: {id}\nstatus: test\nlogsource:\n  product: linux\n  service: sshd\n\
                 detection:\n  keywords:\n    - 'Failed password'\n  condition: keywords\nlevel: {level}\n{extra}"
            ),
        )
        .unwrap();
    };
    sigma("failed", "7d4e1c2a-5b3f-4a6e-8c9d-0e1f2a3b4c01", "high", "");
    let (log, rules) = (
        dir.path().join("auth.log").to_string_lossy().into_owned(),
        rules.to_string_lossy().into_owned(),
    );
    let detect = |extra: &[&str]| {
        let mut args = vec![
            "detect", &log, "--rules", &rules, "--year", "2026", "--output", "jsonl",
        ];
        args.extend_from_slice(extra);
        let out = secops(&args);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        let lines: Vec<serde_json::Value> = String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        // The last writing of each id is the alert.
        let mut alerts: Vec<serde_json::Value> = Vec::new();
        for line in &lines {
            match alerts
                .iter_mut()
                .find(|a| a["alert.id"] == line["alert.id"])
            {
                Some(a) => *a = line.clone(),
                None => alerts.push(line.clone()),
            }
        }
        (lines, alerts)
    };
    let events = |alerts: &[serde_json::Value]| -> usize {
        alerts
            .iter()
            .map(|a| a["event.provenance"].as_array().unwrap().len())
            .sum()
    };
    let (lines, alerts) = detect(&[]);
    // 3,000 from one source: three alerts of 1,000 events' provenance; 5 from another: one.
    assert_eq!(
        alerts.len(),
        4,
        "{:#?}",
        &alerts
            .iter()
            .map(|a| &a["alert.suppression.terms"])
            .collect::<Vec<_>>()
    );
    assert_eq!(events(&alerts), 3005);
    let first = &alerts[0];
    assert_eq!(
        first["alert.suppression.terms"],
        serde_json::json!([{"field": "host.name", "value": "web1"}, {"field": "source.ip", "value": "203.0.113.9"}])
    );
    assert_eq!(first["alert.suppression.duration"], 3600);
    assert_eq!(first["alert.suppression.docs_count"], 999);
    assert_eq!(first["alert.last_seen"], "2026-12-03T10:16:39Z");
    assert_eq!(first["events"].as_array().unwrap().len(), 10);
    // Raised at once, the first line is the first match, written before any repeat folded in.
    assert_eq!(lines[0]["alert.id"], first["alert.id"]);
    assert!(lines[0].get("alert.suppression.docs_count").is_none());
    assert_eq!(lines[0]["event.provenance"].as_array().unwrap().len(), 1);
    // Per match.
    let (_, each) = detect(&["--aggregate", "none"]);
    assert_eq!((each.len(), events(&each)), (3005, 3005));
    // By the user alone, over ten minutes: the root burst in five windows, admin in one.
    let (_, by_user) = detect(&["--aggregate", "user.name", "--aggregate-window", "10m"]);
    assert_eq!((by_user.len(), events(&by_user)), (6, 3005));
    // A rule's own aggregation wins over the default; informational is its own severity.
    std::fs::remove_file(dir.path().join("rules/failed.yml")).unwrap();
    let rules_dir = dir.path().join("rules");
    std::fs::write(
        rules_dir.join("info.yml"),
        "title: info\nid: 7d4e1c2a-5b3f-4a6e-8c9d-0e1f2a3b4c02\nstatus: test\nlogsource:\n  product: linux\n  \
         service: sshd\ndetection:\n  keywords:\n    - 'Failed password'\n  condition: keywords\nlevel: informational\n\
         alert_aggregation:\n  by: [user.name]\n  window: 1d\n",
    )
    .unwrap();
    let (_, own) = detect(&[]);
    assert_eq!(
        (own.len(), events(&own)),
        (4, 3005),
        "root in three alerts of 1,000, admin in one"
    );
    assert!(own.iter().all(|a| a["rule.severity"] == "informational"));
    assert_eq!(own[0]["alert.suppression.duration"], 86400);
    let (_, low) = detect(&["--min-severity", "low"]);
    assert!(low.is_empty());
    let (_, info) = detect(&["--min-severity", "informational"]);
    assert_eq!(info.len(), 4);
    // A bad aggregation is a clear error naming the rule's key.
    std::fs::write(
        rules_dir.join("bad.yml"),
        "title: bad\nid: 7d4e1c2a-5b3f-4a6e-8c9d-0e1f2a3b4c03\nstatus: test\nlogsource:\n  product: linux\n\
         detection:\n  keywords:\n    - 'x'\n  condition: keywords\nalert_aggregation:\n  window: 1h\n",
    )
    .unwrap();
    let listed = secops(&["rules", "list", "--rules", &rules, "--rejected"]);
    let text = String::from_utf8_lossy(&listed.stdout).into_owned();
    assert!(
        text.contains("bad.yml") && text.contains("alert_aggregation.by"),
        "{text}"
    );
}

/// Entity resolution while detecting: an address that changes hands mid-log (Zeek DHCP) names each
/// connection's host as it was at the connection's time, and the inventory names the server.
#[test]
fn detect_resolves_each_connection_to_the_host_that_held_its_address_then() {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, text: &str| std::fs::write(dir.path().join(name), text).unwrap();
    write(
        "dhcp.log",
        "{\"_path\":\"dhcp\",\"ts\":\"2026-12-01T09:00:00Z\",\"uids\":[\"C1\"],\"client_addr\":\"10.0.0.5\",\"server_addr\":\"10.0.0.1\",\"mac\":\"00:11:22:33:44:55\",\"host_name\":\"WS-A\",\"assigned_addr\":\"10.0.0.5\",\"lease_time\":3600.0,\"msg_types\":[\"REQUEST\",\"ACK\"]}\n\
         {\"_path\":\"dhcp\",\"ts\":\"2026-12-01T10:30:00Z\",\"uids\":[\"C2\"],\"client_addr\":\"10.0.0.5\",\"server_addr\":\"10.0.0.1\",\"mac\":\"66:77:88:99:aa:bb\",\"host_name\":\"ws-b\",\"assigned_addr\":\"10.0.0.5\",\"lease_time\":3600.0,\"msg_types\":[\"REQUEST\",\"ACK\"]}\n",
    );
    let conn = |time: &str, uid: &str| {
        format!("{{\"_path\":\"conn\",\"ts\":\"{time}\",\"uid\":\"{uid}\",\"id.orig_h\":\"10.0.0.5\",\"id.orig_p\":49712,\"id.resp_h\":\"10.0.0.10\",\"id.resp_p\":445,\"proto\":\"tcp\",\"conn_state\":\"SF\"}}\n")
    };
    write(
        "conn.log",
        &(conn("2026-12-01T09:30:00Z", "C3")
            + &conn("2026-12-01T10:15:00Z", "C4")
            + &conn("2026-12-01T10:45:00Z", "C5")),
    );
    write(
        "inventory.toml",
        "[[host]]\nid = \"dc01\"\nnames = [\"DC01.corp.example\"]\naddresses = [{ ip = \"10.0.0.10\" }]\n",
    );
    std::fs::create_dir(dir.path().join("rules")).unwrap();
    write(
        "rules/smb.yml",
        "title: SMB Connection\nid: 2b7c9e41-0d3a-4f5e-8a6b-7c8d9e0f1a21\nstatus: test\nlogsource:\n  product: zeek\n  \
         service: conn\ndetection:\n  selection:\n    id.resp_p: 445\n  condition: selection\nlevel: low\n",
    );
    let path = |name: &str| dir.path().join(name).to_string_lossy().into_owned();
    let run = |extra: &[&str]| {
        let (dhcp, conn, rules) = (path("dhcp.log"), path("conn.log"), path("rules"));
        let mut args = vec![
            "detect",
            &dhcp,
            &conn,
            "--rules",
            &rules,
            "--aggregate",
            "none",
            "--output",
            "jsonl",
        ];
        args.extend_from_slice(extra);
        detect_alerts(&args)
    };
    let inventory = path("inventory.toml");
    let alerts = run(&["--inventory", &inventory]);
    let hosts: Vec<(serde_json::Value, serde_json::Value)> = alerts
        .iter()
        .map(|a| {
            let e = &a["events"][0];
            (
                e["secops.entity.source.host"].clone(),
                e["secops.entity.destination.host"].clone(),
            )
        })
        .collect();
    use serde_json::{json, Value::Null};
    assert_eq!(
        hosts,
        [
            (json!("ws-a"), json!("dc01")),
            (Null, json!("dc01")),
            (json!("ws-b"), json!("dc01"))
        ],
        "the lease ran out at 10:00; ws-b leased it at 10:30"
    );
    let related = &alerts[0]["events"][0]["related.hosts"];
    assert_eq!(related, &json!(["ws-a", "dc01"]));
    assert_eq!(
        alerts[0]["events"][0]["related.ip"],
        json!(["10.0.0.5", "10.0.0.10"])
    );
    // ECS fields stay as the log wrote them.
    assert_eq!(alerts[0]["events"][0]["source.ip"], "10.0.0.5");
    // Without --entities nothing is added.
    let plain = run(&[]);
    assert!(plain[0]["events"][0]
        .get("secops.entity.source.host")
        .is_none());
}

/// A low-level Sigma rule on sudo's password failures (one ATT&CK tactic), for the risk tests.
const SUDO_FAILURES: &str = "title: Sudo Password Failures\nid: 4a9d2e71-3b5c-4f60-8d1e-2c3b4a5d6e71\nstatus: test\n\
    logsource:\n  product: linux\n  service: sudo\ndetection:\n  keywords:\n    - 'incorrect password attempts'\n  \
    condition: keywords\nlevel: low\ntags:\n  - attack.privilege-escalation\n  - attack.t1548.003\n";

/// One sudo line (as sudo writes it) of three wrong passwords by `user<user>` on `host`, at `hour`:00
/// on 3 December.
fn sudo_failure(hour: u32, host: &str, user: u32) -> String {
    format!(
        "Dec  3 {hour:02}:00:00 {host} sudo:   user{user} : 3 incorrect password attempts ; TTY=pts/0 ; \
         PWD=/home/user{user} ; USER=root ; COMMAND=/bin/bash\n"
    )
}

/// Risk-based alerting: ten low alerts on one host within a day raise one risk alert naming them;
/// the same ten spread over ten hosts raise none.
#[test]
fn ten_low_alerts_on_one_host_raise_one_risk_alert_and_ten_hosts_raise_none() {
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("rules");
    std::fs::create_dir(&rules).unwrap();
    std::fs::write(rules.join("sudo.yml"), SUDO_FAILURES).unwrap();
    let log = |host: &dyn Fn(u32) -> String| -> String {
        (0..10u32)
            .map(|i| sudo_failure(8 + i, &host(i), i))
            .collect()
    };
    std::fs::write(dir.path().join("one.log"), log(&|_| "web1".to_string())).unwrap();
    std::fs::write(dir.path().join("ten.log"), log(&|i| format!("web{i}"))).unwrap();
    let run = |file: &str| {
        let path = dir.path().join(file).to_string_lossy().into_owned();
        let rules = rules.to_string_lossy().into_owned();
        detect_alerts(&[
            "detect", &path, "--rules", &rules, "--year", "2026", "--risk", "--output", "jsonl",
        ])
    };
    let one = run("one.log");
    let risk: Vec<&serde_json::Value> = one
        .iter()
        .filter(|a| a["rule.name"] == "Entity Risk Threshold Reached")
        .collect();
    assert_eq!(risk.len(), 1, "{one:#?}");
    assert_eq!(risk[0]["secops.entity.host"], "web1");
    assert_eq!(risk[0]["rule.severity"], "high");
    let named: Vec<&serde_json::Value> = risk[0]["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["risk.contributor.rule"])
        .collect();
    // 21 points each, halving every 24 hours: five hour-apart alerts make 99.2, the sixth 100+.
    assert_eq!(named.len(), 6, "{:#?}", risk[0]);
    assert!(named.iter().all(|r| *r == "Sudo Password Failures"));
    assert_eq!(one.len(), 11, "ten alerts and the risk alert");
    // Each alert carries its host's and user's risk with it counted, as Elastic shows entity risk on
    // alerts: the host's rises alert by alert, each user (user0..user9) has one alert's worth.
    let host_risk: Vec<(f64, String)> = one
        .iter()
        .filter(|a| a["rule.name"] == "Sudo Password Failures")
        .map(|a| {
            let host = a["secops.risk"]
                .as_array()
                .unwrap()
                .iter()
                .find(|r| r["kind"] == "host")
                .unwrap_or_else(|| panic!("{a:#?}"));
            assert_eq!(host["id"], "web1");
            assert_eq!(a["host.risk.calculated_level"], host["level"]);
            assert_eq!(a["user.risk.calculated_level"], "Low", "{a:#?}");
            (
                host["score"].as_f64().unwrap(),
                host["level"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(host_risk.len(), 10);
    assert_eq!(host_risk[0], (21.0, "Low".to_string()));
    assert_eq!(host_risk[4], (99.2, "Critical".to_string()));
    assert!(
        host_risk.windows(2).all(|w| w[1].0 > w[0].0),
        "{host_risk:?}"
    );
    assert_eq!(risk[0]["host.risk.calculated_level"], "Critical");
    assert_eq!(risk[0]["host.risk.calculated_score_norm"], 100.0);
    let ten = run("ten.log");
    assert_eq!(ten.len(), 10);
    assert!(ten
        .iter()
        .all(|a| a["rule.name"] == "Sudo Password Failures"));
}

/// Risk by distinct log sources: three low alerts on one host, from its auth log, its kernel log and
/// its Windows Security log, raise a risk alert for the host although their score (63) is under the
/// threshold and they share one tactic; the same host with two of the sources raises none.
#[test]
fn alerts_from_three_log_sources_on_one_host_raise_a_risk_alert() {
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("rules");
    std::fs::create_dir(&rules).unwrap();
    std::fs::write(rules.join("sudo.yml"), SUDO_FAILURES).unwrap();
    std::fs::write(
        rules.join("kernel.yml"),
        "title: Kernel Refused a Privileged Operation\nid: 5b0e3f82-4c6d-4a71-9e2f-3d4c5b6e7f82\nstatus: test\n\
         logsource:\n  product: linux\ndetection:\n  keywords:\n    - 'operation not permitted'\n  condition: keywords\n\
         level: low\ntags:\n  - attack.privilege-escalation\n",
    )
    .unwrap();
    std::fs::write(
        rules.join("privileges.yml"),
        "title: Special Privileges Assigned to a New Logon\nid: 6c1f4093-5d7e-4b82-8f30-4e5d6c7f8093\nstatus: test\n\
         logsource:\n  product: windows\n  service: security\ndetection:\n  selection:\n    EventID: 4672\n  \
         condition: selection\nlevel: low\ntags:\n  - attack.privilege-escalation\n",
    )
    .unwrap();
    let write = |name: &str, text: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path.to_string_lossy().into_owned()
    };
    let sudo = write("auth.log", &sudo_failure(8, "web1", 1));
    let kernel = write(
        "kern.log",
        "Dec  3 09:00:00 web1 kernel: [ 812.339201] audit: operation not permitted for pid 4242 (insmod)\n",
    );
    let security = write(
        "security.jsonl",
        "{\"Event\":{\"System\":{\"Provider\":{\"#attributes\":{\"Name\":\"Microsoft-Windows-Security-Auditing\"}},\"EventID\":4672,\"TimeCreated\":{\"#attributes\":{\"SystemTime\":\"2026-12-03T10:00:00Z\"}},\"EventRecordID\":77,\"Channel\":\"Security\",\"Computer\":\"web1.corp.example\"},\"EventData\":{\"SubjectUserName\":\"svc_backup\",\"SubjectDomainName\":\"CORP\",\"SubjectLogonId\":\"0x3e7\",\"PrivilegeList\":\"SeBackupPrivilege\"}}}\n",
    );
    let rules = rules.to_string_lossy().into_owned();
    let risk = |inputs: &[&str]| {
        let mut args = vec!["detect"];
        args.extend_from_slice(inputs);
        args.extend([
            "--rules", &rules, "--year", "2026", "--risk", "--output", "jsonl",
        ]);
        detect_alerts(&args)
            .into_iter()
            .filter(|a| a["rule.name"] == "Entity Risk Threshold Reached")
            .collect::<Vec<_>>()
    };
    let three = risk(&[&sudo, &kernel, &security]);
    assert_eq!(three.len(), 1, "{three:#?}");
    assert_eq!(three[0]["secops.entity.host"], "web1");
    let events = three[0]["events"].as_array().unwrap();
    assert_eq!(
        events[0]["risk.reason"], "alerts from 3 log sources within 24 hours",
        "{events:#?}"
    );
    let mut sources: Vec<String> = events
        .iter()
        .flat_map(|e| e["risk.contributor.sources"].as_array().unwrap().clone())
        .map(|s| s.as_str().unwrap().to_string())
        .collect();
    sources.sort();
    assert_eq!(
        sources,
        ["system.auth", "system.syslog", "windows.security"]
    );
    assert!(risk(&[&sudo, &kernel]).is_empty());
    // Off when asked.
    let mut args = vec!["detect", &sudo, &kernel, &security];
    args.extend([
        "--rules",
        &rules,
        "--year",
        "2026",
        "--risk",
        "--risk-sources",
        "0",
    ]);
    args.extend(["--output", "jsonl"]);
    assert!(detect_alerts(&args)
        .iter()
        .all(|a| a["rule.name"] != "Entity Risk Threshold Reached"));
}

/// A rule across sources joins on resolved entities, not raw strings: an SMB session seen by Zeek
/// (to 10.0.0.10) and a service installed on DC01.corp.example (System 7045) are one host only
/// through the inventory.
#[test]
fn a_cross_source_correlation_joins_on_resolved_entities() {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, text: &str| std::fs::write(dir.path().join(name), text).unwrap();
    std::fs::create_dir(dir.path().join("rules")).unwrap();
    write(
        "rules/smb.yml",
        "title: SMB Session\nid: 6c1d2e3f-4a5b-4c6d-8e7f-0a1b2c3d4e51\nname: smb_session\nstatus: test\n\
         logsource:\n  product: zeek\n  service: conn\ndetection:\n  selection:\n    id.resp_p: 445\n  \
         condition: selection\nlevel: low\n---\n\
         title: Service Installed\nid: 6c1d2e3f-4a5b-4c6d-8e7f-0a1b2c3d4e52\nname: service_installed\nstatus: test\n\
         logsource:\n  product: windows\n  service: system\ndetection:\n  selection:\n    EventID: 7045\n  \
         condition: selection\nlevel: low\n---\n\
         title: SMB Session Then a Service Installed on the Target\nid: 6c1d2e3f-4a5b-4c6d-8e7f-0a1b2c3d4e53\n\
         status: test\ncorrelation:\n  type: temporal_ordered\n  rules:\n    - smb_session\n    - service_installed\n  \
         group-by:\n    - target\n  aliases:\n    target:\n      smb_session: secops.entity.destination.host\n      \
         service_installed: secops.entity.host\n  timespan: 10m\nlevel: high\ntags:\n  - attack.lateral-movement\n  \
         - attack.t1021.002\n  - attack.t1569.002\n",
    );
    write(
        "conn.log",
        "{\"_path\":\"conn\",\"ts\":\"2026-12-01T10:00:00Z\",\"uid\":\"C1\",\"id.orig_h\":\"10.0.0.5\",\"id.orig_p\":49712,\"id.resp_h\":\"10.0.0.10\",\"id.resp_p\":445,\"proto\":\"tcp\",\"conn_state\":\"SF\"}\n",
    );
    let service = |time: &str, computer: &str, record: u32| {
        format!("{{\"Event\":{{\"System\":{{\"Provider\":{{\"#attributes\":{{\"Name\":\"Service Control Manager\"}}}},\"EventID\":7045,\"TimeCreated\":{{\"#attributes\":{{\"SystemTime\":\"{time}\"}}}},\"EventRecordID\":{record},\"Channel\":\"System\",\"Computer\":\"{computer}\"}},\"EventData\":{{\"ServiceName\":\"PSEXESVC\",\"ImagePath\":\"%SystemRoot%\\\\PSEXESVC.exe\",\"ServiceType\":\"user mode service\",\"StartType\":\"demand start\",\"AccountName\":\"LocalSystem\"}}}}}}\n")
    };
    write(
        "system.jsonl",
        &(service("2026-12-01T10:02:00Z", "DC01.corp.example", 1)
            + &service("2026-12-01T10:03:00Z", "WS-9.corp.example", 2)),
    );
    write(
        "inventory.toml",
        "[[host]]\nid = \"dc01\"\nnames = [\"DC01.corp.example\"]\naddresses = [{ ip = \"10.0.0.10\" }]\n",
    );
    let path = |name: &str| dir.path().join(name).to_string_lossy().into_owned();
    let run = |extra: &[&str]| {
        let (conn, system, rules) = (path("conn.log"), path("system.jsonl"), path("rules"));
        let mut args = vec![
            "detect", &conn, &system, "--rules", &rules, "--output", "jsonl",
        ];
        args.extend_from_slice(extra);
        detect_alerts(&args)
            .into_iter()
            .filter(|a| a["rule.name"] == "SMB Session Then a Service Installed on the Target")
            .collect::<Vec<_>>()
    };
    let inventory = path("inventory.toml");
    let joined = run(&["--inventory", &inventory]);
    assert_eq!(joined.len(), 1, "{joined:#?}");
    assert_eq!(joined[0]["target"], "dc01");
    // Raw strings (10.0.0.10, DC01.corp.example) never meet.
    assert!(run(&[]).is_empty());
    // Coverage over the Zeek log alone names the source the rule misses.
    let Some(attack) = shared("corpus/attack") else {
        return;
    };
    let out = secops(&[
        "coverage",
        "--attack",
        &attack.to_string_lossy(),
        "--out",
        &path("coverage"),
        "--rules",
        &path("rules"),
        "--logs",
        &path("conn.log"),
    ]);
    let report = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        report.contains(
            "Rules across sources missing one of their sources in these logs:\n  \
             SMB Session Then a Service Installed on the Target: no events for windows / system"
        ),
        "{report}{}",
        stderr(&out)
    );
}

/// `rules test` resolves entities as `detect --entities` does: rules select on events as read, and
/// their state groups by what the case's own events resolve (two addresses of one workstation, each
/// named by a Windows logon, are one group).
#[test]
fn rule_cases_resolve_entities_from_their_own_events() {
    let logon = |time: &str, ip: &str| {
        format!(
            r##"{{\"Event\":{{\"System\":{{\"Provider\":{{\"#attributes\":{{\"Name\":\"Microsoft-Windows-Security-Auditing\"}}}},\"EventID\":4624,\"TimeCreated\":{{\"#attributes\":{{\"SystemTime\":\"{time}\"}}}},\"EventRecordID\":1,\"Channel\":\"Security\",\"Computer\":\"DC01.corp.example\"}},\"EventData\":{{\"TargetUserName\":\"alice\",\"TargetDomainName\":\"CORP\",\"LogonType\":3,\"WorkstationName\":\"WS-0042\",\"IpAddress\":\"{ip}\"}}}}}}"##
        )
    };
    let conn = |time: &str, ip: &str| {
        format!(
            r#"{{\"_path\":\"conn\",\"ts\":\"{time}\",\"uid\":\"C1\",\"id.orig_h\":\"{ip}\",\"id.orig_p\":49800,\"id.resp_h\":\"198.51.100.9\",\"id.resp_p\":4444,\"proto\":\"tcp\",\"conn_state\":\"SF\"}}"#
        )
    };
    let both = [
        logon("2026-12-01T09:00:00Z", "10.0.0.7"),
        conn("2026-12-01T09:05:00Z", "10.0.0.7"),
        logon("2026-12-01T09:10:00Z", "10.0.0.8"),
        conn("2026-12-01T09:15:00Z", "10.0.0.8"),
    ]
    .map(|e| format!("\"{e}\""))
    .join(", ");
    let bare = [
        conn("2026-12-01T09:05:00Z", "10.0.0.7"),
        conn("2026-12-01T09:15:00Z", "10.0.0.8"),
    ]
    .map(|e| format!("\"{e}\""))
    .join(", ");
    let rule = format!(
        r#"[metadata]
creation_date = "2026-12-01"
updated_date = "2026-12-01"
maturity = "experimental"

[rule]
id = "3e4f5a6b-7c8d-4e9f-a0b1-c2d3e4f5a601"
name = "Repeated Connections to Port 4444 From One Workstation"
description = "Two connections to port 4444 from one workstation within an hour, whichever address it had."
author = ["secops"]
license = "Apache-2.0"
type = "threshold"
language = "kql"
query = "destination.port:4444"
severity = "low"
risk_score = 21

[rule.threshold]
field = ["secops.entity.source.host"]
value = 2
window = "1h"

[rule.log_source]
product = "zeek"

[[test]]
name = "logons name both addresses, so both connections are the workstation's"
expect = "alert"
expect_groups = ["ws-0042"]
parser = "json"
raw = [{both}]

[[test]]
name = "without the logons the addresses name nobody"
expect = "no_alert"
parser = "json"
raw = [{bare}]
"#
    );
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("command_and_control_from_ws.toml"), rule).unwrap();
    let out = secops(&["rules", "test", dir.path().to_str().unwrap()]);
    let report = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(out.status.code(), Some(0), "{report}{}", stderr(&out));
    assert!(report.ends_with("2 passed, 0 failed\n"), "{report}");
    // `detect` resolves entities unasked when a loaded rule reads them, and says so.
    let events = dir.path().join("events.jsonl");
    let lines: Vec<String> = [
        logon("2026-12-01T09:00:00Z", "10.0.0.7"),
        conn("2026-12-01T09:05:00Z", "10.0.0.7"),
        logon("2026-12-01T09:10:00Z", "10.0.0.8"),
        conn("2026-12-01T09:15:00Z", "10.0.0.8"),
    ]
    .iter()
    .map(|e| e.replace("\\\"", "\""))
    .collect();
    std::fs::write(&events, lines.join("\n") + "\n").unwrap();
    let out = secops(&[
        "detect",
        events.to_str().unwrap(),
        "--rules",
        dir.path().to_str().unwrap(),
        "--output",
        "jsonl",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("entities: resolved, since a loaded rule reads secops.entity.*"),
        "{}",
        stderr(&out)
    );
    let alerts = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(alerts.lines().count(), 1, "{alerts}");
    assert!(
        alerts.contains("\"secops.entity.source.host\":\"ws-0042\""),
        "{alerts}"
    );
}

/// Risk kept in the store: a run over newer logs starts from what earlier runs added, and a second run
/// over the same logs adds nothing.
#[test]
fn risk_carries_over_from_earlier_runs_through_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("rules");
    std::fs::create_dir(&rules).unwrap();
    std::fs::write(rules.join("sudo.yml"), SUDO_FAILURES).unwrap();
    let lines = |hours: std::ops::Range<u32>| -> String {
        hours.map(|h| sudo_failure(h, "web1", h)).collect()
    };
    std::fs::write(dir.path().join("morning.log"), lines(8..12)).unwrap();
    std::fs::write(dir.path().join("noon.log"), lines(12..14)).unwrap();
    let db = dir.path().join("r.db").to_string_lossy().into_owned();
    let rules = rules.to_string_lossy().into_owned();
    let risk_alerts = |file: &str, store: bool| {
        let path = dir.path().join(file).to_string_lossy().into_owned();
        let mut args = vec![
            "detect", &path, "--rules", &rules, "--year", "2026", "--risk", "--output", "jsonl",
        ];
        if store {
            args.extend(["--db", &db]);
        }
        detect_alerts(&args)
            .into_iter()
            .filter(|a| a["rule.name"] == "Entity Risk Threshold Reached")
            .collect::<Vec<_>>()
    };
    // Four lows: about 82 points, under the threshold.
    assert!(risk_alerts("morning.log", true).is_empty());
    // Again: the same alerts, already counted; still nothing.
    assert!(risk_alerts("morning.log", true).is_empty());
    // Two more at noon: alone they are 42 points; with the morning's, past 100.
    assert!(risk_alerts("noon.log", false).is_empty());
    let crossed = risk_alerts("noon.log", true);
    assert_eq!(crossed.len(), 1, "{crossed:#?}");
    let named: Vec<&str> = crossed[0]["event.provenance"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap())
        .collect();
    assert_eq!(named.len(), 6, "{named:?}");
    assert_eq!(
        named
            .iter()
            .filter(|p| p.starts_with("earlier run:"))
            .count(),
        4,
        "the morning's four come from the store: {named:?}"
    );
    // The risk alert's host risk shows where analysts work: on the stored alert and on a case
    // opened from it (the highest each entity reached among the case's alerts).
    let listed = secops(&["alerts", "list", "--db", &db, "--output", "jsonl"]);
    let stored: Vec<serde_json::Value> = String::from_utf8_lossy(&listed.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let ids: Vec<String> = stored.iter().map(|a| a["store.id"].to_string()).collect();
    let risk_id = stored
        .iter()
        .find(|a| a["rule.name"] == "Entity Risk Threshold Reached")
        .map(|a| a["store.id"].to_string())
        .unwrap();
    let shown = secops(&["alerts", "show", &risk_id, "--db", &db]);
    let text = String::from_utf8_lossy(&shown.stdout).into_owned();
    assert!(
        text.contains("  risk       host web1 117.4 Critical\n"),
        "{text}"
    );
    let opened = secops(&["case", "new", "--from-alerts", &ids.join(","), "--db", &db]);
    assert_eq!(opened.status.code(), Some(0), "{}", stderr(&opened));
    let case =
        String::from_utf8_lossy(&secops(&["case", "show", "1", "--db", &db]).stdout).into_owned();
    let risk_lines: Vec<&str> = case
        .lines()
        .skip_while(|l| !l.starts_with("risk "))
        .skip(1)
        .take_while(|l| !l.is_empty())
        .collect();
    assert_eq!(
        risk_lines
            .first()
            .map(|l| l.split_whitespace().collect::<Vec<_>>()),
        Some(vec!["host", "web1", "117.4", "Critical"]),
        "{case}"
    );
    assert_eq!(risk_lines.len(), 7, "web1 and the six users: {case}");
    let report =
        String::from_utf8_lossy(&secops(&["case", "report", "1", "--db", &db]).stdout).into_owned();
    assert!(
        report.contains("## Entity risk\n\n| kind | entity | peak score | of threshold (%) | level |\n| --- | --- | --- | --- | --- |\n| host | web1 | 117.4 | 100 | Critical |\n"),
        "{report}"
    );
    // The host's stored risk, as `entity show` reads it.
    let shown = secops(&[
        "entity",
        "show",
        "web1",
        "--db",
        &db,
        "--at",
        "2026-12-03T13:00:00Z",
    ]);
    let text = String::from_utf8_lossy(&shown.stdout).into_owned();
    assert!(
        text.contains("  risk         117.4 at 2026-12-03T13:00:00Z from 6 alert(s)"),
        "{text}{}",
        stderr(&shown)
    );
}

/// `hunt run` of a library hunt over a lake, as JSON rows.
fn hunt_rows(hunt: &str, lake: &str) -> Vec<serde_json::Value> {
    detect_alerts(&[
        "hunt",
        "run",
        hunt,
        "--lake",
        lake,
        "--now",
        "2024-12-10T12:00:00Z",
        "--output",
        "jsonl",
    ])
}

/// The values of `field` in `rows`, as a sorted set of text.
fn values_of(rows: &[serde_json::Value], field: &str) -> std::collections::BTreeSet<String> {
    rows.iter()
        .filter_map(|r| r.get(field).and_then(|v| v.as_str()).map(str::to_string))
        .collect()
}

/// The acceptance of hunt-to-rule: the stacking, first-seen and filter hunts of the library become a
/// threshold, a new_terms and a query rule that load, pass the cases carried from the hunt, and on
/// the shared corpora raise the alerts the hunt's rows predict: one threshold group per stacked
/// source, one new term per source first seen in the hunt's week, one alert per log clearing.
#[test]
fn promoted_hunts_raise_on_the_corpora_the_alerts_their_rows_predict() {
    let (Some(linux), Some(evtx), Some(attack)) = (
        shared("corpus/linux"),
        shared("corpus/evtx"),
        shared("corpus/attack"),
    ) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let path = |p: &str| dir.path().join(p).display().to_string();
    let (ssh, syslog) = (
        linux.join("OpenSSH_2k.log").display().to_string(),
        linux.join("Linux_2k.log").display().to_string(),
    );
    let evtx = evtx.display().to_string();
    let attack = attack.display().to_string();
    for hunt in [
        "ssh_failures_by_source",
        "new_ssh_source_addresses",
        "event_logs_cleared",
    ] {
        let out = secops(&[
            "hunt",
            "promote",
            hunt,
            "--to",
            &path("rules"),
            "--attack",
            &attack,
        ]);
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        assert_eq!(out.status.code(), Some(0), "{hunt}: {text}{}", stderr(&out));
        assert!(text.contains("1 passed, 0 failed"), "{hunt}: {text}");
    }
    // The rules load and their carried cases pass where the rules are tested.
    let out = secops(&["rules", "test", "--rules", &path("rules")]);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(out.status.code(), Some(0), "{text}{}", stderr(&out));
    assert!(text.ends_with("3 passed, 0 failed\n"), "{text}");
    let stacked = std::fs::read_to_string(path(
        "rules/credential_access/credential_access_sources_with_many_failed_ssh_logons.toml",
    ))
    .unwrap();
    assert!(stacked.contains("type = \"threshold\""));
    assert!(stacked.contains("original_id = \"619f438e-2259-4e2f-8619-d760f1cc7469\""));

    // The hunts' answers over a lake of the corpora.
    let out = secops(&[
        "ingest",
        &ssh,
        &syslog,
        &evtx,
        "--year",
        "2024",
        "--lake",
        &path("lake"),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let lake = path("lake");
    let stacks = hunt_rows("ssh_failures_by_source", &lake);
    let new_sources = hunt_rows("new_ssh_source_addresses", &lake);
    let clearings = hunt_rows("event_logs_cleared", &lake);
    assert!(stacks.len() >= 5 && new_sources.len() >= 5 && clearings.len() >= 5);

    // The rules' alerts over the same logs.
    let alerts = detect_alerts(&[
        "detect",
        &ssh,
        &syslog,
        &evtx,
        "--year",
        "2024",
        "--rules",
        &path("rules"),
        "--output",
        "jsonl",
        "--aggregate",
        "none",
    ]);
    let of = |name: &str| -> Vec<serde_json::Value> {
        alerts
            .iter()
            .filter(|a| a["rule.name"] == name)
            .cloned()
            .collect()
    };
    // Every stacked source, and only those, crosses the threshold.
    assert_eq!(
        values_of(&of("Sources with many failed SSH logons"), "source.ip"),
        values_of(&stacks, "source.ip")
    );
    // Within the hunt's week, one alert per source first seen, each once.
    let week: Vec<serde_json::Value> = of("SSH sources first seen in the last week")
        .into_iter()
        .filter(|a| {
            a["@timestamp"]
                .as_str()
                .is_some_and(|t| t >= "2024-12-03T12:00:00")
        })
        .collect();
    assert_eq!(week.len(), new_sources.len());
    assert_eq!(
        values_of(&week, "source.ip"),
        values_of(&new_sources, "source.ip")
    );
    // One alert per clearing: the same hosts at the same times (a log exported twice in the corpus
    // is one event in the lake and two in the files, hence sets).
    // The host and time of a row, or of an alert's first event.
    let at = |rows: &[serde_json::Value]| -> std::collections::BTreeSet<(String, String)> {
        rows.iter()
            .map(|r| r.get("events").and_then(|e| e.get(0)).unwrap_or(r))
            .map(|r| {
                (
                    r["host.name"].as_str().unwrap_or("").to_string(),
                    r["@timestamp"].as_str().unwrap_or("").to_string(),
                )
            })
            .collect()
    };
    let cleared = of("Windows event logs cleared");
    assert!(
        cleared.len() >= clearings.len(),
        "{} alerts, {} rows",
        cleared.len(),
        clearings.len()
    );
    assert_eq!(at(&cleared), at(&clearings));

    // SigmaHQ's threat-hunting rules run as hunts over the same lake: each match a row, the same
    // matches detection finds in the files (by rule and where the event was read).
    let Some(hunting) = shared("corpus/sigma/rules-threat-hunting/windows") else {
        return;
    };
    let hunting = hunting.display().to_string();
    let rows = detect_alerts(&[
        "hunt", "sigma", &hunting, "--lake", &lake, "--output", "jsonl",
    ]);
    let alerts = detect_alerts(&[
        "detect",
        &evtx,
        "--rules",
        &hunting,
        "--output",
        "jsonl",
        "--aggregate",
        "none",
    ]);
    let matches = |docs: &[serde_json::Value]| -> std::collections::BTreeSet<(String, String)> {
        docs.iter()
            .map(|d| {
                let at = match &d["event.provenance"] {
                    serde_json::Value::Array(places) => places[0].as_str().unwrap_or(""),
                    other => other.as_str().unwrap_or(""),
                };
                (
                    d["rule.name"].as_str().unwrap_or("").to_string(),
                    at.to_string(),
                )
            })
            .collect()
    };
    assert!(rows.len() >= 100, "{} matches", rows.len());
    assert_eq!(matches(&rows), matches(&alerts));
}

/// A hunt whose shape has no rule form is refused with the stage and the reason, and nothing is
/// written.
#[test]
fn hunt_promote_refuses_a_shape_without_a_rule_form() {
    let dir = tempfile::tempdir().unwrap();
    let to = dir.path().join("rules").display().to_string();
    let out = secops(&[
        "hunt",
        "promote",
        "rare_executables_across_hosts",
        "--to",
        &to,
    ]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("does not become a rule: WHERE (stage 3) hosts == 1: an upper bound"),
        "{err}"
    );
    assert!(!dir.path().join("rules").exists());
    let out = secops(&["hunt", "promote", "lsass_memory_access", "--to", &to]);
    assert!(
        stderr(&out).contains("the function ends_with() has no KQL form"),
        "{}",
        stderr(&out)
    );
}

/// Scheduled hunts: a run covers its look-back the first time; the same range again raises nothing
/// new (nothing is due, and a range run again by hand finds its alerts already raised); after
/// downtime the next run starts where the last ended, so the gap is covered: a source active only in
/// the gap is raised.
#[test]
fn a_scheduled_hunt_raises_once_per_range_and_fills_a_gap() {
    let Some(linux) = shared("corpus/linux") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let path = |p: &str| dir.path().join(p).display().to_string();
    let ssh = linux.join("OpenSSH_2k.log").display().to_string();
    let out = secops(&["ingest", &ssh, "--year", "2024", "--lake", &path("lake")]);
    assert!(out.status.success(), "{}", stderr(&out));
    let (lake, db) = (path("lake"), path("hunts.db"));
    let schedule = |extra: &[&str]| -> String {
        let mut args = vec![
            "hunt",
            "schedule",
            "ssh_failures_by_source",
            "--once",
            "--lake",
            &lake,
            "--db",
            &db,
            "--look-back",
            "2h",
        ];
        args.extend_from_slice(extra);
        let out = secops(&args);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let stored = || -> Vec<serde_json::Value> {
        detect_alerts(&[
            "alerts", "list", "--db", &db, "--output", "jsonl", "--limit", "1000",
        ])
    };
    let first = schedule(&["--now", "2024-12-10T08:00:00Z"]);
    assert!(
        first.contains("2024-12-10T06:00:00Z to 2024-12-10T08:00:00Z: 1 row(s), 1 new alert(s)"),
        "{first}"
    );
    assert_eq!(stored().len(), 1);
    let again = schedule(&["--now", "2024-12-10T08:00:00Z"]);
    assert!(
        again.contains("nothing due (covered to 2024-12-10T08:00:00Z)"),
        "{again}"
    );
    let by_hand = schedule(&[
        "--now",
        "2024-12-10T08:00:00Z",
        "--from",
        "2024-12-10T06:00:00Z",
    ]);
    assert!(
        by_hand.contains("0 new alert(s), 1 already raised"),
        "{by_hand}"
    );
    assert_eq!(stored().len(), 1);
    // Down from 08:00 to 11:30: the run covers all of it, not only its last two hours.
    let after = schedule(&["--now", "2024-12-10T11:30:00Z"]);
    assert!(
        after.contains(
            "2024-12-10T08:00:00Z to 2024-12-10T11:30:00Z (a gap of 90m since the last run filled)"
        ),
        "{after}"
    );
    let alerts = stored();
    let sources: std::collections::BTreeSet<String> = alerts
        .iter()
        .filter_map(|a| a["source.ip"].as_str().map(str::to_string))
        .collect();
    // Active 09:12-09:20 only: inside the gap, before the last two hours.
    assert!(sources.contains("187.141.143.180"), "{sources:?}");
    assert_eq!(sources.len(), alerts.len(), "each source raised once");
    let status = secops(&["hunt", "schedule", "--status", "--db", &db]);
    let status = String::from_utf8_lossy(&status.stdout);
    assert!(
        status.contains(
            "619f438e-2259-4e2f-8619-d760f1cc7469#1  covered to 2024-12-10T11:30:00Z  look-back 2h"
        ),
        "{status}"
    );
    // A run with nothing due is not counted.
    assert!(
        status.contains(&format!("3 run(s), {} alert(s)", alerts.len())),
        "{status}"
    );
}

/// A library hunt runs over raw logs (read into a lake of their own) as over a lake of them, and a
/// hunt whose sources the lake lacks says so: a visibility gap, not a silent empty answer.
#[test]
fn hunts_run_over_raw_logs_and_name_the_sources_a_lake_lacks() {
    let Some(linux) = shared("corpus/linux") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake").display().to_string();
    let ssh = linux.join("OpenSSH_2k.log").display().to_string();
    let out = secops(&["ingest", &ssh, "--year", "2024", "--lake", &lake]);
    assert!(out.status.success(), "{}", stderr(&out));
    let over_lake = hunt_rows("ssh_failures_by_source", &lake);
    let over_logs = detect_alerts(&[
        "hunt",
        "run",
        "ssh_failures_by_source",
        "--logs",
        &ssh,
        "--year",
        "2024",
        "--now",
        "2024-12-10T12:00:00Z",
        "--output",
        "jsonl",
    ]);
    assert!(over_lake.len() >= 5);
    assert_eq!(over_logs, over_lake);
    let out = secops(&[
        "hunt",
        "run",
        "aws_iam_changes_by_identity",
        "--lake",
        &lake,
    ]);
    assert_eq!(out.status.code(), Some(0));
    let err = stderr(&out);
    assert!(
        err.contains(
            "visibility: the lake holds no events of logs-aws.cloudtrail-* (source aws.cloudtrail)"
        ),
        "{err}"
    );
    assert!(err.contains("0 row(s)"), "{err}");
}

/// `user totp`: the secret and its URI printed, a code of it read from standard input turns it on
/// (the secret never in the audit log); `hunt run` on an existing store records the query in its
/// audit log, as the API does.
#[test]
fn a_one_time_password_is_set_up_with_a_code_and_hunt_queries_are_audited() {
    use std::io::{BufRead, Write};
    use std::process::Stdio;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("secops.db").display().to_string();
    let run_with_input = |args: &[&str], input: &str| {
        let mut child = Command::new(env!("CARGO_BIN_EXE_secops"))
            .args(args)
            .current_dir(repo())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .as_mut()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
        drop(child.stdin.take());
        child.wait_with_output().unwrap()
    };
    let added = run_with_input(
        &[
            "user",
            "add",
            "ana",
            "--role",
            "analyst",
            "--password-stdin",
            "--db",
            &db,
        ],
        "a long passphrase\n",
    );
    assert_eq!(added.status.code(), Some(0), "{}", stderr(&added));
    let mut child = Command::new(env!("CARGO_BIN_EXE_secops"))
        .args(["user", "totp", "ana", "--db", &db])
        .current_dir(repo())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut secret = String::new();
    lines.read_line(&mut secret).unwrap();
    let secret = secret.trim().strip_prefix("secret: ").unwrap().to_string();
    let mut uri = String::new();
    lines.read_line(&mut uri).unwrap();
    assert!(
        uri.starts_with(&format!("uri: otpauth://totp/secops:ana?secret={secret}&")),
        "{uri}"
    );
    let totp = secops_auth::TotpSecret::from_base32(&secret).unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    writeln!(child.stdin.as_mut().unwrap(), "{}", totp.code_at(now)).unwrap();
    drop(child.stdin.take());
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut lines, &mut rest).unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        rest.contains("one-time password of ana turned on"),
        "{rest}"
    );
    let hunted = secops(&[
        "hunt",
        "run",
        "FROM logs-* | STATS n = COUNT(*)",
        "--logs",
        "samples/auth.log",
        "--year",
        "2023",
        "--db",
        &db,
    ]);
    assert_eq!(hunted.status.code(), Some(0), "{}", stderr(&hunted));
    let export = secops(&["audit", "export", "--db", &db]);
    let text = String::from_utf8(export.stdout).unwrap();
    assert!(!text.contains(&secret));
    assert_eq!(text.matches("\"user.totp\"").count(), 2, "{text}");
    let hunt = text
        .lines()
        .find(|l| l.contains("\"hunt.run\""))
        .expect("the hunt in the audit log");
    assert!(hunt.contains("FROM logs-* | STATS n = COUNT(*)"), "{hunt}");
    assert!(hunt.contains("success"), "{hunt}");
    let verify = secops(&["audit", "verify", "--db", &db]);
    assert_eq!(verify.status.code(), Some(0), "{}", stderr(&verify));
}
