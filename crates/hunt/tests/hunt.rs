//! Hunts over a lake built from the bundled sample logs: each answer checked against the same question
//! answered directly from the events the lake was written from.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers

use std::collections::BTreeMap;
use std::path::Path;

use secops_event::Event;
use secops_hunt::{run, HuntError, Output, Planning};
use secops_ingest::{read_input, Input, Options};
use secops_lake::LakeWriter;

fn sample_events() -> Vec<Event> {
    let root = secops_testkit::repo_root().join("samples");
    let mut events = Vec::new();
    let mut files: Vec<_> = std::fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    for path in files {
        let options = Options {
            year: Some(2024),
            ..Options::default()
        };
        read_input(&Input::File(path), &options, &mut |r| events.extend(r.ok())).unwrap();
    }
    events
}

fn lake(dir: &Path, events: &[Event]) {
    let mut writer = LakeWriter::new(dir).unwrap();
    for e in events {
        writer.write(e).unwrap();
    }
    writer.finish().unwrap();
}

fn now() -> Planning {
    Planning {
        now: secops_event::Timestamp::parse_rfc3339("2025-01-02T00:00:00Z")
            .unwrap()
            .unix_nanos(),
    }
}

fn rows(dir: &Path, query: &str) -> Vec<serde_json::Value> {
    let mut out = Vec::new();
    run(query, dir, &now(), Output::Jsonl, &mut out).unwrap_or_else(|e| panic!("{query}: {e}"));
    String::from_utf8(out)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn stacking_counts_match_the_events_counted_directly() {
    let events = sample_events();
    let dir = tempfile::tempdir().unwrap();
    lake(dir.path(), &events);
    // Users by number of auth events, fewest first (the stacking shape), ties by name.
    let got = rows(
        dir.path(),
        "FROM logs-system.auth-* | WHERE user.name IS NOT NULL\n\
         | STATS n = count(*), hosts = count_distinct(host.name) BY user.name\n\
         | SORT n ASC, user.name ASC",
    );
    let mut expected: BTreeMap<String, (u64, std::collections::BTreeSet<String>)> = BTreeMap::new();
    for e in &events {
        if e.get_str("event.dataset") != Some("system.auth") {
            continue;
        }
        let Some(user) = e.get_str("user.name") else {
            continue;
        };
        let entry = expected.entry(user.to_string()).or_default();
        entry.0 += 1;
        if let Some(h) = e.get_str("host.name") {
            entry.1.insert(h.to_string());
        }
    }
    let mut expected: Vec<(u64, String, u64)> = expected
        .into_iter()
        .map(|(u, (n, hosts))| (n, u, hosts.len() as u64))
        .collect();
    expected.sort();
    let got: Vec<(u64, String, u64)> = got
        .iter()
        .map(|r| {
            (
                r["n"].as_u64().unwrap(),
                r["user.name"].as_str().unwrap().to_string(),
                r["hosts"].as_u64().unwrap(),
            )
        })
        .collect();
    assert!(!got.is_empty());
    assert_eq!(got, expected);
}

#[test]
fn a_time_bounded_lookup_with_eval_keep_and_limit() {
    let events = sample_events();
    let dir = tempfile::tempdir().unwrap();
    lake(dir.path(), &events);
    let got = rows(
        dir.path(),
        "from events\n\
         | where @timestamp > now() - 400 days and to_lower(process.name) == \"sshd\" and source.ip is not null\n\
         | eval who = concat(user.name, \"@\", source.ip)\n\
         | keep @timestamp, who, source.port\n\
         | sort @timestamp desc | limit 2",
    );
    let mut expected: Vec<(i64, Option<String>)> = events
        .iter()
        .filter(|e| {
            e.get_str("process.name").map(str::to_lowercase).as_deref() == Some("sshd")
                && e.get("source.ip").is_some()
                && e.timestamp()
                    .is_some_and(|t| t.unix_nanos() > now().now - 400 * 86_400 * 1_000_000_000)
        })
        .map(|e| {
            (
                e.timestamp().unwrap().unix_nanos(),
                // CONCAT is null when a part is.
                e.get_str("user.name")
                    .map(|u| format!("{u}@{}", e.get("source.ip").unwrap())),
            )
        })
        .collect();
    expected.sort_by_key(|e| std::cmp::Reverse(e.0));
    assert_eq!(got.len(), 2.min(expected.len()));
    assert!(!got.is_empty());
    for (row, (_, who)) in got.iter().zip(&expected) {
        assert_eq!(row["who"].as_str(), who.as_deref(), "{row}");
        assert_eq!(
            row.as_object().unwrap().len(),
            3,
            "KEEP keeps three columns: {row}"
        );
    }
}

#[test]
fn unknown_fields_and_functions_are_planning_errors_with_their_place() {
    let dir = tempfile::tempdir().unwrap();
    lake(dir.path(), &sample_events());
    let error = |query: &str| -> String {
        let mut out = Vec::new();
        match run(query, dir.path(), &now(), Output::Jsonl, &mut out) {
            Err(e @ (HuntError::Plan { .. } | HuntError::Parse(_))) => e.to_string(),
            other => panic!("{query}: {other:?}"),
        }
    };
    assert_eq!(
        error("FROM events\n| WHERE proces.name == \"x\""),
        "line 2, column 9 (stage 2, WHERE): unknown field proces.name: not a column here"
    );
    assert_eq!(
        error("FROM events | EVAL x = frobnicate(host.name)"),
        "line 1, column 24 (stage 2, EVAL): unknown function frobnicate"
    );
    assert_eq!(
        error("FROM nowhere"),
        "line 1, column 1 (stage 1, FROM): unknown source \"nowhere\": use events, or an index pattern such as logs-* or logs-system.auth-*"
    );
    assert!(error("FROM events | WHERE").starts_with("line 1, column 20 (stage 2, WHERE)"));
}

#[test]
fn log_text_is_escaped_in_tables_and_csv_and_exact_in_json() {
    let mut event = Event::new(secops_event::Provenance::new(
        "evil.log",
        secops_event::Location::Line(1),
    ));
    event.set_timestamp(secops_event::Timestamp::parse_rfc3339("2024-05-14T00:00:00Z").unwrap());
    event.insert("event.dataset", "custom.app");
    event.insert("user.name", "\u{1b}[31m=cmd|'/c calc'!A1");
    let dir = tempfile::tempdir().unwrap();
    lake(dir.path(), &[event]);
    let query = "FROM events | KEEP user.name";
    let text = |output| {
        let mut out = Vec::new();
        run(query, dir.path(), &now(), output, &mut out).unwrap();
        String::from_utf8(out).unwrap()
    };
    let table = text(Output::Table);
    assert!(
        !table.contains('\u{1b}') && table.contains("\\x1b[31m"),
        "{table}"
    );
    let csv = text(Output::Csv);
    assert!(
        !csv.contains('\u{1b}') && csv.contains("\\x1b[31m=cmd"),
        "{csv}"
    );
    assert_eq!(
        csv_first_cell(&text_of_csv("=1+1")),
        "'=1+1",
        "a formula is neutralized"
    );
    let json = rows(dir.path(), query);
    assert_eq!(json[0]["user.name"], "\u{1b}[31m=cmd|'/c calc'!A1");
}

fn text_of_csv(value: &str) -> String {
    let mut event = Event::new(secops_event::Provenance::new(
        "sheet.log",
        secops_event::Location::Line(1),
    ));
    event.set_timestamp(secops_event::Timestamp::parse_rfc3339("2024-05-14T00:00:00Z").unwrap());
    event.insert("event.dataset", "custom.app");
    event.insert("user.name", value);
    let dir = tempfile::tempdir().unwrap();
    lake(dir.path(), &[event]);
    let mut out = Vec::new();
    run(
        "FROM events | KEEP user.name",
        dir.path(),
        &now(),
        Output::Csv,
        &mut out,
    )
    .unwrap();
    String::from_utf8(out).unwrap()
}

fn csv_first_cell(csv: &str) -> String {
    csv.lines().nth(1).unwrap_or("").to_string()
}
