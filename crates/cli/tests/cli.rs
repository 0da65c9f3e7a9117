//! The `secops` binary as a user runs it.

#![allow(clippy::expect_used)] // test helpers outside #[test] functions

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

#[test]
fn ingest_samples_prints_json_lines_and_a_clean_summary() {
    let out = secops(&["ingest", "samples", "--year", "2023"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let stdout = String::from_utf8(out.stdout.clone()).unwrap();
    let lines: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 92);
    assert!(lines.iter().all(|l| l["log.source"]
        .as_str()
        .is_some_and(|s| s.starts_with("samples/"))));
    let err = stderr(&out);
    assert!(
        err.contains("samples/auth.log (syslog): 31 read, 31 parsed, 0 rejected"),
        "{err}"
    );
    assert!(
        err.contains("92 records read, 92 parsed, 0 rejected"),
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
    let alerts: Vec<serde_json::Value> = String::from_utf8(out.stdout.clone())
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    let alert = &alerts[0];
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
    assert_eq!(out.status.code(), Some(3));
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
