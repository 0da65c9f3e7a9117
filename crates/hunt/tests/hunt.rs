//! Hunts over a lake built from the bundled sample logs: each answer checked against the same question
//! answered directly from the events the lake was written from.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers

use std::collections::BTreeMap;
use std::path::Path;

use secops_event::Event;
use secops_hunt::{HuntError, Output, Planning, RunStats};
use secops_ingest::{read_input, Input, Options};
use secops_lake::{Lake, LakeWriter};

/// A hunt over the lake folder `dir`.
fn run(
    query: &str,
    dir: &Path,
    planning: &Planning,
    output: Output,
    out: &mut dyn std::io::Write,
) -> Result<RunStats, HuntError> {
    secops_hunt::run(query, &Lake::folder(dir), planning, output, out)
}

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
        lenient: false,
        sql: false,
        sets: None,
        tables: None,
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
        "line 2, column 9 (stage 2, WHERE): unknown field proces.name: not a column, not in the field map, not an ECS field and not under a namespace of the query's sources"
    );
    assert_eq!(
        error("FROM events | EVAL x = frobnicate(host.name)"),
        "line 1, column 24 (stage 2, EVAL): unknown function frobnicate"
    );
    assert_eq!(
        error("FROM nowhere"),
        "line 1, column 1 (stage 1, FROM): unknown source \"nowhere\": use events, or an index pattern such as logs-* or logs-system.auth-* (the README lists them)"
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

/// The Elastic corpus queries that do not plan, and why; the README lists them with these reasons.
const UNPLANNED: &[(&str, &str)] = &[
    // Not ES|QL as Elasticsearch reads it either (the hunt-lang corpus test names each reason).
    (
        "servicequotas_discovery_multi_region_get_service_quota_calls.toml",
        "\"=\" assigns",
    ),
    (
        "entra_authentication_attempts_behind_rare_user_agents.toml",
        "expected an expression",
    ),
    (
        "execution_via_windows_scheduled_task_with_low_occurrence_frequency.toml",
        "expected an expression",
    ),
    // COMPLETION sends rows to a language model: refused.
    (
        "command_and_control_curl_activity_auditd_llm_triage.toml",
        "COMPLETION calls a language model",
    ),
    (
        "command_and_control_curl_activity_llm_triage.toml",
        "COMPLETION calls a language model",
    ),
    (
        "command_and_control_wget_activity_auditd_llm_triage.toml",
        "COMPLETION calls a language model",
    ),
    (
        "command_and_control_wget_activity_llm_triage.toml",
        "COMPLETION calls a language model",
    ),
    (
        "multiple_alerts_llm_attack_chain_triage_by_host.toml",
        "COMPLETION calls a language model",
    ),
    (
        "multiple_alerts_llm_by_user_entity.toml",
        "COMPLETION calls a language model",
    ),
    // ENRICH against an enrich policy of the author's own making.
    (
        "detect_dll_hijack_via_masquerading_as_microsoft_native_libraries.toml",
        "ENRICH",
    ),
    // A pattern that is no regular expression (a LIKE pattern written for RLIKE).
    (
        "persistence_web_server_potential_command_injection.toml",
        "is not a regular expression",
    ),
    // Elasticsearch's own metadata: relevance scores and fields ignored at index time.
    (
        "potentially_spoofed_microsoft_authentication_domain.toml",
        "unknown field _score",
    ),
    (
        "defense_evasion_long_base64_encoded_interpreter_command_line.toml",
        "unknown field _ignored",
    ),
    // Data the lake has no source for: host metrics, machine-learning anomaly records.
    (
        "impact_alert_from_a_process_with_cpu_spike.toml",
        "unknown source \"metrics-*\"",
    ),
    (
        "multiple_machine_learning_jobs_by_entity.toml",
        "unknown field influencers.influencer_field_values",
    ),
    // Integration fields outside the namespace rule (the package's fields are not under its name).
    (
        "azure_openai_denial_of_ml_service_detection.toml",
        "unknown field azure.open_ai.operation_name",
    ),
    (
        "collection_onedrive_excessive_file_downloads.toml",
        "unknown field session.id",
    ),
];

#[test]
fn the_elastic_corpus_plans_and_every_planned_query_runs_over_a_lake() {
    use secops_hunt_lang::files::{queries_in, toml_files};
    let Some(root) = secops_testkit::shared("corpus/hunting/elastic") else {
        return;
    };
    let Some(evtx) = secops_testkit::shared("corpus/evtx") else {
        return;
    };
    // A lake of the bundled samples and a few real EVTX attack files.
    let mut events = sample_events();
    let mut files: Vec<_> = walk_evtx(&evtx);
    files.sort();
    for path in files.into_iter().take(12) {
        read_input(&Input::File(path), &Options::default(), &mut |r| {
            events.extend(r.ok())
        })
        .unwrap();
    }
    let dir = tempfile::tempdir().unwrap();
    lake(dir.path(), &events);
    let (mut total, mut planned) = (0usize, 0usize);
    let mut unexpected = Vec::new();
    for file in toml_files(&[root]) {
        let name = file.file_name().unwrap().to_string_lossy().to_string();
        let found = queries_in(&std::fs::read_to_string(&file).unwrap()).unwrap();
        for query in found.esql {
            total += 1;
            match secops_hunt::validate(&query, &now()) {
                Ok(_) => {
                    planned += 1;
                    let mut out = Vec::new();
                    if let Err(e) = run(&query, dir.path(), &now(), Output::Jsonl, &mut out) {
                        unexpected.push(format!("{name}: planned but did not run: {e}"));
                    }
                }
                Err(e) => {
                    let message = e.to_string();
                    let known = UNPLANNED
                        .iter()
                        .any(|(file, reason)| *file == name && message.contains(reason));
                    if !known {
                        unexpected.push(format!("{name}: {message}"));
                    }
                }
            }
        }
    }
    assert!(unexpected.is_empty(), "{}", unexpected.join("\n"));
    assert_eq!(total, 270, "the corpus's ES|QL queries");
    assert!(planned * 10 >= total * 9, "{planned} of {total} planned");
    assert_eq!(
        total - planned,
        UNPLANNED.len() + 1,
        "each unplanned query is listed (one file has two)"
    );
}

fn walk_evtx(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(walk_evtx(&path));
        } else if path.extension().is_some_and(|e| e == "evtx") {
            out.push(path);
        }
    }
    out
}

/// Events as a shipper writes them (ECS JSON lines; Okta fields as Elastic's Okta integration
/// names them), read through the real JSON reader.
const SHIPPED: &str = r#"{"@timestamp":"2024-05-14T09:00:00Z","event":{"dataset":"okta.system","action":"user.session.start","category":["authentication","session"]},"okta":{"actor":{"alternate_id":"alice@corp.example"},"outcome":{"result":"FAILURE","reason":"INVALID_CREDENTIALS"}},"source":{"ip":"203.0.113.7"},"user":{"name":"alice"}}
{"@timestamp":"2024-05-14T09:00:05Z","event":{"dataset":"okta.system","action":"user.session.start","category":["authentication","session"]},"okta":{"actor":{"alternate_id":"alice@corp.example"},"outcome":{"result":"FAILURE","reason":"INVALID_CREDENTIALS"}},"source":{"ip":"203.0.113.7"},"user":{"name":"alice"}}
{"@timestamp":"2024-05-14T09:01:00Z","event":{"dataset":"okta.system","action":"user.session.start","category":["authentication","session"]},"okta":{"actor":{"alternate_id":"alice@corp.example"},"outcome":{"result":"SUCCESS"}},"source":{"ip":"10.1.2.3"},"user":{"name":"alice"}}
{"@timestamp":"2024-05-14T09:02:00Z","event":{"dataset":"okta.system","action":"user.session.start","category":["authentication"]},"okta":{"actor":{"alternate_id":"bob@corp.example"},"outcome":{"result":"FAILURE","reason":"LOCKED_OUT"}},"source":{"ip":"198.51.100.20"},"user":{"name":"bob"},"url":{"original":"https://idp.corp.example/app/salesforce/exk1/sso?next=%2Fhome%20page"}}
"#;

#[test]
fn elastic_names_resolve_through_the_field_map_and_the_sources_namespaces() {
    let (dir, events) = lake_of(SHIPPED);
    // Okta's own fields, read from `_fields` under the source's namespace.
    let got = rows(
        dir.path(),
        "FROM logs-okta.system-* | WHERE okta.outcome.result == \"FAILURE\"\n\
         | STATS n = count(*) BY okta.actor.alternate_id | SORT okta.actor.alternate_id",
    );
    assert_eq!(
        got,
        vec![
            serde_json::json!({"n": 2, "okta.actor.alternate_id": "alice@corp.example"}),
            serde_json::json!({"n": 1, "okta.actor.alternate_id": "bob@corp.example"}),
        ]
    );
    // Windows: `winlog.event_data.*` is the EVTX reader's `Event.EventData.*`; the logon type gets
    // Elastic's name; the OS comes from the source.
    let got = rows(
        dir.path(),
        "FROM logs-system.security-* | WHERE event.code == \"4625\"\n\
         | STATS n = count(*) BY winlog.event_data.TargetUserName, winlog.logon.type, host.os.type\n\
         | SORT winlog.event_data.TargetUserName",
    );
    let mut expected: BTreeMap<String, i64> = BTreeMap::new();
    for e in &events {
        if e.get_str("event.code") == Some("4625") {
            let user = e
                .get("Event.EventData.TargetUserName")
                .map(ToString::to_string)
                .unwrap();
            assert_eq!(
                e.get("Event.EventData.LogonType")
                    .map(ToString::to_string)
                    .as_deref(),
                Some("3")
            );
            *expected.entry(user).or_default() += 1;
        }
    }
    assert!(!expected.is_empty());
    let expected: Vec<serde_json::Value> = expected
        .into_iter()
        .map(|(user, n)| {
            serde_json::json!({"n": n, "winlog.event_data.TargetUserName": user,
                "winlog.logon.type": "Network", "host.os.type": "windows"})
        })
        .collect();
    assert_eq!(got, expected);
    // A field nothing knows is refused even over every source.
    let mut out = Vec::new();
    let e = run(
        "FROM events | WHERE oktaa.actor.id == \"x\"",
        dir.path(),
        &now(),
        Output::Jsonl,
        &mut out,
    )
    .unwrap_err();
    assert!(
        e.to_string().contains("unknown field oktaa.actor.id"),
        "{e}"
    );
}

#[test]
fn kql_cidr_and_private_addresses_filter_as_the_events_say() {
    let (dir, events) = lake_of(SHIPPED);
    let got = rows(
        dir.path(),
        "FROM events | WHERE kql(\"event.dataset:okta.system and not okta.outcome.result:SUCCESS and user.name:(alice or bo*)\")\n\
         | EVAL private = is_private(source.ip), doc = cidr_match(source.ip, \"198.51.100.0/24\", \"203.0.113.0/24\")\n\
         | STATS n = count(*) BY user.name, private, doc | SORT user.name",
    );
    assert_eq!(
        got,
        vec![
            serde_json::json!({"n": 2, "user.name": "alice", "private": true, "doc": true}),
            serde_json::json!({"n": 1, "user.name": "bob", "private": true, "doc": true}),
        ],
        "documentation ranges are special-purpose, so private"
    );
    let internal = rows(
        dir.path(),
        "FROM logs-okta* | WHERE cidr_match(source.ip, \"10.0.0.0/8\") | KEEP user.name, source.ip",
    );
    let direct: Vec<&Event> = events
        .iter()
        .filter(|e| e.get_str("event.dataset") == Some("okta.system"))
        .filter(|e| {
            e.get("source.ip")
                .map(ToString::to_string)
                .is_some_and(|ip| ip.starts_with("10."))
        })
        .collect();
    assert_eq!(internal.len(), direct.len());
    assert_eq!(internal[0]["source.ip"], "10.1.2.3");
}

#[test]
fn dissect_grok_mv_expand_and_inline_stats_give_the_rows_es_ql_gives() {
    let (dir, _) = lake_of(SHIPPED);
    // DISSECT and GROK over the URL; url_decode of its query.
    let got = rows(
        dir.path(),
        "FROM logs-okta.system-* | WHERE url.original IS NOT NULL\n\
         | DISSECT url.original \"%{scheme}://%{host}/app/%{app}/%{?rest}\"\n\
         | GROK url.original \"next=%{GREEDYDATA:next}\"\n\
         | EVAL next = url_decode(next) | KEEP scheme, host, app, next",
    );
    assert_eq!(
        got,
        vec![
            serde_json::json!({"scheme": "https", "host": "idp.corp.example", "app": "salesforce", "next": "/home page"})
        ]
    );
    // MV_EXPAND: one row per category; the two-category events count twice.
    let got = rows(
        dir.path(),
        "FROM logs-okta.system-* | MV_EXPAND event.category\n\
         | STATS n = count(*) BY event.category | SORT event.category",
    );
    assert_eq!(
        got,
        vec![
            serde_json::json!({"n": 4, "event.category": "authentication"}),
            serde_json::json!({"n": 3, "event.category": "session"}),
        ]
    );
    // INLINE STATS keeps every row and adds its group's figure: the share of each user's events.
    let got = rows(
        dir.path(),
        "FROM logs-okta.system-* | STATS n = count(*) BY user.name\n\
         | INLINE STATS total = sum(n) | EVAL pct = 100 * n / total\n\
         | SORT user.name | KEEP user.name, n, total, pct",
    );
    assert_eq!(
        got,
        vec![
            serde_json::json!({"user.name": "alice", "n": 3, "total": 4, "pct": 75}),
            serde_json::json!({"user.name": "bob", "n": 1, "total": 4, "pct": 25}),
        ]
    );
    // VALUES gives distinct values; the mv_ functions read them; date_diff in seconds.
    let got = rows(
        dir.path(),
        "FROM logs-okta.system-* | WHERE user.name == \"alice\"\n\
         | STATS ips = values(source.ip), first = min(@timestamp), last = max(@timestamp) BY user.name\n\
         | EVAL n_ips = mv_count(ips), span = date_diff(\"seconds\", first, last), one = mv_first(mv_sort(ips))\n\
         | KEEP n_ips, span, one",
    );
    assert_eq!(
        got,
        vec![serde_json::json!({"n_ips": 2, "span": 60, "one": "10.1.2.3"})]
    );
}

/// A process chain as an endpoint agent ships it (ECS JSON lines): explorer -> winword -> cmd ->
/// powershell, and an unrelated svchost.
const PROCESSES: &str = r#"{"@timestamp":"2024-05-14T10:00:00Z","event":{"dataset":"endpoint.events.process","category":["process"],"type":["start"]},"host":{"name":"ws1"},"process":{"name":"winword.exe","entity_id":"P2","parent":{"entity_id":"P1","name":"explorer.exe"}}}
{"@timestamp":"2024-05-14T10:00:05Z","event":{"dataset":"endpoint.events.process","category":["process"],"type":["start"]},"host":{"name":"ws1"},"process":{"name":"cmd.exe","entity_id":"P3","parent":{"entity_id":"P2","name":"winword.exe"}}}
{"@timestamp":"2024-05-14T10:00:09Z","event":{"dataset":"endpoint.events.process","category":["process"],"type":["start"]},"host":{"name":"ws1"},"process":{"name":"powershell.exe","entity_id":"P4","parent":{"entity_id":"P3","name":"cmd.exe"}}}
{"@timestamp":"2024-05-14T10:00:10Z","event":{"dataset":"endpoint.events.process","category":["process"],"type":["start"]},"host":{"name":"ws1"},"process":{"name":"svchost.exe","entity_id":"P9","parent":{"entity_id":"P8","name":"services.exe"}}}
{"@timestamp":"2024-05-14T10:00:20Z","event":{"dataset":"endpoint.events.network","category":["network"],"type":["connection"]},"host":{"name":"ws1"},"process":{"name":"powershell.exe","entity_id":"P4"},"destination":{"ip":"198.51.100.9"}}
"#;

fn lake_of(jsonl: &str) -> (tempfile::TempDir, Vec<Event>) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("events.jsonl");
    std::fs::write(&file, jsonl).unwrap();
    let mut events = sample_events();
    read_input(&Input::File(file), &Options::default(), &mut |r| {
        events.push(r.unwrap())
    })
    .unwrap();
    let lake_dir = tempfile::tempdir().unwrap();
    lake(lake_dir.path(), &events);
    (lake_dir, events)
}

#[test]
fn joins_and_in_subqueries_answer_as_set_operations_on_the_events() {
    let (dir, events) = lake_of(SHIPPED);
    let users = |outcome: &str| -> std::collections::BTreeSet<String> {
        events
            .iter()
            .filter(|e| e.get_str("event.dataset") == Some("okta.system"))
            .filter(|e| {
                e.get("okta.outcome.result")
                    .map(ToString::to_string)
                    .as_deref()
                    == Some(outcome)
            })
            .filter_map(|e| e.get_str("user.name").map(str::to_string))
            .collect()
    };
    let (failed, succeeded) = (users("FAILURE"), users("SUCCESS"));
    let names = |rows: Vec<serde_json::Value>| -> Vec<String> {
        rows.iter()
            .map(|r| r["user.name"].as_str().unwrap().to_string())
            .collect()
    };
    // Anti: users who failed and never succeeded (first seen's shape).
    let anti = names(rows(
        dir.path(),
        "FROM logs-okta* | WHERE okta.outcome.result == \"FAILURE\"\n\
         | JOIN kind=anti (FROM logs-okta* | WHERE okta.outcome.result == \"SUCCESS\" | KEEP user.name) ON user.name\n\
         | STATS n = count(*) BY user.name | SORT user.name",
    ));
    assert_eq!(
        anti,
        failed.difference(&succeeded).cloned().collect::<Vec<_>>()
    );
    // Semi and IN (subquery) agree: users who failed and also succeeded.
    let semi = names(rows(
        dir.path(),
        "FROM logs-okta* | WHERE okta.outcome.result == \"FAILURE\"\n\
         | JOIN semi (FROM logs-okta* | WHERE okta.outcome.result == \"SUCCESS\" | KEEP user.name) ON user.name\n\
         | STATS n = count(*) BY user.name | SORT user.name",
    ));
    let within = names(rows(
        dir.path(),
        "FROM logs-okta* | WHERE okta.outcome.result == \"FAILURE\"\n\
         | WHERE user.name IN (FROM logs-okta* | WHERE okta.outcome.result == \"SUCCESS\" | KEEP user.name)\n\
         | STATS n = count(*) BY user.name | SORT user.name",
    ));
    let both: Vec<String> = failed.intersection(&succeeded).cloned().collect();
    assert_eq!(semi, both);
    assert_eq!(within, both);
    // Inner with WITHIN: a failure and a success of one user at most a minute apart; the
    // subquery's own @timestamp comes back as @timestamp1.
    let pairs = rows(
        dir.path(),
        "FROM logs-okta* | WHERE okta.outcome.result == \"FAILURE\"\n\
         | JOIN (FROM logs-okta* | WHERE okta.outcome.result == \"SUCCESS\" | KEEP user.name, @timestamp, source.ip) ON user.name WITHIN 1 minute\n\
         | KEEP user.name, @timestamp, @timestamp1, source.ip1 | SORT @timestamp",
    );
    assert_eq!(pairs.len(), 2, "{pairs:?}");
    assert_eq!(pairs[0]["source.ip1"], "10.1.2.3");
    let none = rows(
        dir.path(),
        "FROM logs-okta* | WHERE okta.outcome.result == \"FAILURE\"\n\
         | JOIN (FROM logs-okta* | WHERE okta.outcome.result == \"SUCCESS\" | KEEP user.name, @timestamp) ON user.name WITHIN 30 seconds",
    );
    assert!(
        none.is_empty(),
        "the failures were 55 and 60 s before: {none:?}"
    );
}

#[test]
fn stream_lag_top_rare_and_dedup_match_the_events_counted_directly() {
    let events = sample_events();
    let dir = tempfile::tempdir().unwrap();
    lake(dir.path(), &events);
    // Gaps between one host's auth events, in seconds, from lag().
    let got = rows(
        dir.path(),
        "FROM logs-system.auth-* | STREAM prev = lag(@timestamp), seen = count(*) BY host.name SORT @timestamp\n\
         | EVAL gap = date_diff(\"seconds\", prev, @timestamp) | WHERE gap IS NOT NULL\n\
         | STATS n = count(*), total = sum(gap), most = max(seen) BY host.name | SORT n DESC, host.name",
    );
    let mut times: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    for e in &events {
        if e.get_str("event.dataset") == Some("system.auth") {
            times
                .entry(e.get_str("host.name").unwrap().to_string())
                .or_default()
                .push(e.timestamp().unwrap().unix_nanos());
        }
    }
    assert_eq!(got.len(), times.values().filter(|t| t.len() > 1).count());
    for row in &got {
        let mut t = times[row["host.name"].as_str().unwrap()].clone();
        t.sort();
        let total: i64 = t.windows(2).map(|w| (w[1] - w[0]) / 1_000_000_000).sum();
        assert_eq!(row["n"], (t.len() - 1) as i64);
        assert_eq!(row["total"], total);
        assert_eq!(
            row["most"],
            t.len() as i64,
            "the running count reaches the host's events"
        );
    }
    // TOP and RARE: counts and shares per value.
    let top = rows(dir.path(), "FROM logs-system.auth-* | TOP 2 user.name");
    let mut counts: BTreeMap<String, i64> = BTreeMap::new();
    for e in &events {
        if e.get_str("event.dataset") == Some("system.auth") {
            if let Some(u) = e.get_str("user.name") {
                *counts.entry(u.to_string()).or_default() += 1;
            }
        }
    }
    let mut ranked: Vec<(String, i64)> = counts.clone().into_iter().collect();
    ranked.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let all: i64 = counts.values().sum();
    assert_eq!(top.len(), 2);
    assert_eq!(top[0]["user.name"], ranked[0].0.as_str());
    assert_eq!(top[0]["count"], ranked[0].1);
    let share = top[0]["percent"].as_f64().unwrap();
    assert!((share - 100.0 * ranked[0].1 as f64 / all as f64).abs() < 1e-9);
    let rare = rows(dir.path(), "FROM logs-system.auth-* | RARE 1 user.name");
    ranked.sort_by(|a, b| a.1.cmp(&b.1).then(a.0.cmp(&b.0)));
    assert_eq!(rare[0]["user.name"], ranked[0].0.as_str());
    // DEDUP: one row per user.
    let dedup = rows(
        dir.path(),
        "FROM logs-system.auth-* | WHERE user.name IS NOT NULL | DEDUP user.name",
    );
    assert_eq!(dedup.len(), counts.len());
}

#[test]
fn process_trees_go_down_and_up_the_entity_ids() {
    let (dir, _) = lake_of(PROCESSES);
    let tree = |query: &str| -> Vec<(String, i64)> {
        let mut got: Vec<(String, i64)> = rows(dir.path(), query)
            .iter()
            .map(|r| {
                (
                    r["process.name"].as_str().unwrap().to_string(),
                    r["tree.depth"].as_i64().unwrap(),
                )
            })
            .collect();
        got.sort_by(|a, b| a.1.cmp(&b.1).then(a.0.cmp(&b.0)));
        got
    };
    assert_eq!(
        tree("FROM logs-endpoint.events.process-* | WHERE process.name == \"winword.exe\" | TREE descendants"),
        vec![("winword.exe".into(), 0), ("cmd.exe".into(), 1), ("powershell.exe".into(), 2)]
    );
    assert_eq!(
        tree("FROM logs-endpoint.events.process-* | WHERE process.name == \"winword.exe\" | TREE descendants DEPTH 1"),
        vec![("winword.exe".into(), 0), ("cmd.exe".into(), 1)]
    );
    // From a network event of powershell up to its ancestors (its own creation event first).
    assert_eq!(
        tree("FROM logs-endpoint.events.network-* | TREE ancestors"),
        vec![
            ("powershell.exe".into(), 0),
            ("cmd.exe".into(), 1),
            ("winword.exe".into(), 2)
        ]
    );
}

/// A question asked of the same lake in the hunt language and, in SQL, of DuckDB (from PyPI).
struct Asked {
    name: &'static str,
    /// The query, or a bundled hunt file (`hunts/...toml`) whose first query is asked.
    hunt: &'static str,
    /// Stages added to the hunt's query (columns DuckDB's JSON cannot give the same way).
    then: &'static str,
    sql: &'static str,
}

/// The hunt's text: inline, or the first query of a bundled hunt file.
fn asked_query(asked: &Asked) -> String {
    if !asked.hunt.ends_with(".toml") {
        return asked.hunt.to_string();
    }
    let text = std::fs::read_to_string(secops_testkit::repo_root().join(asked.hunt)).unwrap();
    let file = secops_hunt_lang::HuntFile::parse(&text).unwrap();
    format!("{}\n{}", file.hunt.query[0].trim(), asked.then)
}

/// Sources and category `logs-endpoint.events.process-*` reads, in DuckDB's terms.
macro_rules! process_events {
    () => {
        "source IN ('windows.sysmon', 'windows.security', 'endpoint.events.process') AND \"event.category\" = 'process'"
    };
}

/// The six hunt families of the bundled library (and one more form of beaconing) on a lake built
/// from `../shared/corpus/evtx` and `../shared/corpus/linux` (syslog read as 2024), `now` pinned to
/// 2024-12-10T12:00:00Z.
const ASKED: &[Asked] = &[
    Asked {
        name: "stacking: executables run on one host at most twice",
        hunt: "hunts/stacking/rare_executables_across_hosts.toml",
        then: "",
        sql: concat!("SELECT count(DISTINCT \"host.name\") AS hosts, count(*) AS n, \"process.executable\"
              FROM lake WHERE ", process_events!(), "
              GROUP BY \"process.executable\"
              HAVING count(DISTINCT \"host.name\") = 1 AND count(*) <= 2"),
    },
    Asked {
        name: "stacking: sources with twenty failed SSH logons or more",
        hunt: "hunts/stacking/ssh_failures_by_source.toml",
        then: "| DROP first, last",
        sql: "SELECT count(*) AS failures, count(DISTINCT \"user.name\") AS accounts, \"source.ip\" FROM lake
              WHERE source = 'system.auth' AND \"event.outcome\" = 'failure' AND \"source.ip\" IS NOT NULL
              GROUP BY \"source.ip\" HAVING count(*) >= 20",
    },
    Asked {
        name: "long tail: each parent's five rarest children with their share",
        hunt: "hunts/long_tail/rare_child_processes_by_parent.toml",
        then: "",
        sql: concat!("WITH c AS (SELECT \"process.parent.name\", \"process.name\", count(*) AS count FROM lake
                WHERE ", process_events!(), " AND \"process.parent.name\" IS NOT NULL AND \"process.name\" IS NOT NULL
                GROUP BY 1, 2),
              r AS (SELECT *, 100.0 * count / sum(count) OVER (PARTITION BY \"process.parent.name\") AS percent,
                row_number() OVER (PARTITION BY \"process.parent.name\" ORDER BY count, \"process.name\") AS rk FROM c)
              SELECT \"process.parent.name\", \"process.name\", count, percent FROM r WHERE rk <= 5"),
    },
    Asked {
        name: "first seen: addresses in the last week never seen before it",
        hunt: "hunts/first_seen/new_ssh_source_addresses.toml",
        then: "",
        sql: "SELECT epoch_ns(min(\"@timestamp\")) AS first, count(*) AS n, \"source.ip\" FROM lake AS r
              WHERE source = 'system.auth' AND \"source.ip\" IS NOT NULL
                AND \"@timestamp\" >= TIMESTAMPTZ '2024-12-10 12:00:00+00' - INTERVAL 7 DAY
                AND NOT EXISTS (SELECT 1 FROM lake AS b WHERE b.source = 'system.auth'
                  AND b.\"@timestamp\" < TIMESTAMPTZ '2024-12-10 12:00:00+00' - INTERVAL 7 DAY
                  AND b.\"source.ip\" = r.\"source.ip\")
              GROUP BY \"source.ip\"",
    },
    Asked {
        name: "beaconing: regular gaps between one address's attempts (lag)",
        hunt: "hunts/beaconing/regular_ssh_attempts.toml",
        then: "",
        sql: "WITH g AS (SELECT \"source.ip\", (epoch_ns(\"@timestamp\") - epoch_ns(lag(\"@timestamp\")
                  OVER (PARTITION BY \"source.ip\" ORDER BY \"@timestamp\"))) // 1000000000 AS gap
                FROM lake WHERE source = 'system.auth' AND \"source.ip\" IS NOT NULL)
              SELECT count(*) AS n, avg(gap) AS mean, stddev_pop(gap) AS sd,
                stddev_pop(gap) / avg(gap) AS cv, \"source.ip\" FROM g
              WHERE gap IS NOT NULL GROUP BY \"source.ip\" HAVING count(*) >= 20 AND avg(gap) > 0",
    },
    Asked {
        name: "beaconing pairs: two back and one ahead per address and account (nulls a group)",
        hunt: "FROM logs-system.auth-*\n\
               | STREAM back2 = lag(@timestamp, 2), next = lead(@timestamp) BY source.ip, user.name SORT @timestamp\n\
               | EVAL b = date_diff(\"seconds\", back2, @timestamp), f = date_diff(\"seconds\", @timestamp, next)\n\
               | STATS n = count(*), nb = count(b), sb = sum(b), nf = count(f), sf = sum(f) BY source.ip, user.name",
        then: "",
        sql: "WITH g AS (SELECT \"source.ip\", \"user.name\",
                  (epoch_ns(\"@timestamp\") - epoch_ns(lag(\"@timestamp\", 2) OVER w)) // 1000000000 AS b,
                  (epoch_ns(lead(\"@timestamp\") OVER w) - epoch_ns(\"@timestamp\")) // 1000000000 AS f
                FROM lake WHERE source = 'system.auth'
                WINDOW w AS (PARTITION BY \"source.ip\", \"user.name\" ORDER BY \"@timestamp\"))
              SELECT count(*) AS n, count(b) AS nb, sum(b) AS sb, count(f) AS nf, sum(f) AS sf,
                \"source.ip\", \"user.name\" FROM g GROUP BY \"source.ip\", \"user.name\"",
    },
    Asked {
        name: "process tree: three levels below shells Office, script hosts or web servers started",
        hunt: "hunts/process_tree/shells_below_office_script_and_web_hosts.toml",
        then: "| DROP @timestamp",
        sql: "WITH RECURSIVE u AS (SELECT * FROM lake
                  WHERE \"process.entity_id\" IS NOT NULL AND \"process.parent.entity_id\" IS NOT NULL),
              ids(id, depth) AS (
                SELECT DISTINCT \"process.entity_id\", 0 FROM lake
                  WHERE source = 'windows.sysmon' AND \"process.entity_id\" IS NOT NULL
                    AND lower(\"process.name\") IN ('cmd.exe', 'powershell.exe', 'pwsh.exe')
                    AND lower(\"process.parent.name\") IN ('winword.exe', 'excel.exe', 'powerpnt.exe', 'outlook.exe',
                      'mshta.exe', 'wscript.exe', 'cscript.exe', 'w3wp.exe', 'httpd.exe', 'tomcat.exe', 'java.exe')
                UNION
                SELECT DISTINCT u.\"process.entity_id\", ids.depth + 1 FROM u JOIN ids
                  ON u.\"process.parent.entity_id\" = ids.id WHERE ids.depth < 3)
              SELECT u.\"host.name\", u.\"process.entity_id\", u.\"process.parent.name\", u.\"process.name\",
                u.\"process.command_line\", ids.depth AS \"tree.depth\"
              FROM ids JOIN u ON u.\"process.entity_id\" = ids.id",
    },
    Asked {
        name: "lateral movement: network and RDP logons per account and source, fanning out over hosts",
        hunt: "hunts/lateral_movement/account_logon_fan_out.toml",
        then: "",
        sql: "SELECT count(DISTINCT \"host.name\") AS hosts, count(*) AS logons, epoch_ns(min(\"@timestamp\")) AS first,
                \"user.name\", \"source.ip\" FROM lake
              WHERE source = 'windows.security' AND \"event.code\" = '4624'
                AND json_extract_string(_fields, '$.Event.EventData.LogonType') IN ('3', '10')
              GROUP BY \"user.name\", \"source.ip\" HAVING count(DISTINCT \"host.name\") >= 1",
    },
];

/// Rows as sorted lists of their values by column name, numbers as f64 (compared with a tolerance).
fn comparable(rows: &[serde_json::Value]) -> Vec<Vec<(String, serde_json::Value)>> {
    let mut out: Vec<Vec<(String, serde_json::Value)>> = rows
        .iter()
        .map(|r| {
            let mut cells: Vec<(String, serde_json::Value)> = r
                .as_object()
                .unwrap()
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            cells.sort_by(|a, b| a.0.cmp(&b.0));
            cells
        })
        .collect();
    out.sort_by_key(|r| serde_json::to_string(r).unwrap());
    out
}

fn same_value(a: &serde_json::Value, b: &serde_json::Value) -> bool {
    match (a.as_f64(), b.as_f64()) {
        (Some(x), Some(y)) => x == y || (x - y).abs() <= 1e-9 * x.abs().max(y.abs()),
        _ => a == b,
    }
}

/// A lake of the logs under `paths` (files or folders), as `ingest --lake` writes it.
fn lake_of_files(paths: &[&Path], options: &Options) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let mut writer = LakeWriter::new(dir.path()).unwrap();
    let names: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
    let (inputs, errors) = secops_ingest::expand(&names);
    assert!(errors.is_empty(), "{errors:?}");
    for input in &inputs {
        let _ = read_input(input, options, &mut |r| {
            if let Ok(e) = r {
                writer.write(&e).unwrap();
            }
        });
    }
    writer.finish().unwrap();
    dir
}

#[test]
fn the_hunt_families_give_exactly_the_rows_duckdb_gives_over_the_same_parquet() {
    let Some(evtx) = secops_testkit::shared("corpus/evtx") else {
        return;
    };
    let Some(linux) = secops_testkit::shared("corpus/linux") else {
        return;
    };
    let duckdb = std::process::Command::new("python3")
        .args(["-c", "import duckdb"])
        .status()
        .is_ok_and(|s| s.success());
    if secops_testkit::require(duckdb.then_some(()), || {
        "python3 with duckdb (pip install duckdb; .ci/run installs it)".into()
    })
    .is_none()
    {
        return;
    }
    let dir = lake_of_files(
        &[evtx.as_path(), linux.as_path()],
        &Options {
            year: Some(2024),
            ..Options::default()
        },
    );
    let planning = Planning {
        now: secops_event::Timestamp::parse_rfc3339("2024-12-10T12:00:00Z")
            .unwrap()
            .unix_nanos(),
        lenient: false,
        sql: false,
        sets: None,
        tables: None,
    };
    let script = secops_testkit::repo_root().join("crates/hunt/tests/ask_duckdb.py");
    for asked in ASKED {
        let mut out = Vec::new();
        run(
            &asked_query(asked),
            dir.path(),
            &planning,
            Output::Jsonl,
            &mut out,
        )
        .unwrap_or_else(|e| panic!("{}: {e}", asked.name));
        let ours: Vec<serde_json::Value> = String::from_utf8(out)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        let answer = std::process::Command::new("python3")
            .arg(&script)
            .arg(dir.path())
            .arg(asked.sql)
            .output()
            .unwrap();
        assert!(
            answer.status.success(),
            "{}: {}",
            asked.name,
            String::from_utf8_lossy(&answer.stderr)
        );
        let theirs: Vec<serde_json::Value> = String::from_utf8(answer.stdout)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert!(!ours.is_empty(), "{}: no rows", asked.name);
        let (a, b) = (comparable(&ours), comparable(&theirs));
        assert_eq!(
            a.len(),
            b.len(),
            "{}: {} rows, DuckDB {}",
            asked.name,
            a.len(),
            b.len()
        );
        for (x, y) in a.iter().zip(&b) {
            let same = x.len() == y.len()
                && x.iter()
                    .zip(y)
                    .all(|((kx, vx), (ky, vy))| kx == ky && same_value(vx, vy));
            assert!(same, "{}:\n ours   {x:?}\n DuckDB {y:?}", asked.name);
        }
    }
    // The same question over the raw EVTX files (no lake) and over the lake of those files.
    let folder = evtx.join("EVTX-ATTACK-SAMPLES/Lateral Movement");
    let raw_dir = lake_of_files(&[folder.as_path()], &Options::default());
    let question = "| WHERE event.code == \"4624\"\n\
        | STATS n = count(*), hosts = count_distinct(host.name) BY user.name, winlog.logon.type\n\
        | SORT n DESC, user.name, winlog.logon.type";
    let over_lake = rows(raw_dir.path(), &format!("FROM events {question}"));
    let mut out = Vec::new();
    secops_hunt::run_over(
        &format!("FROM \"{}\" {question}", folder.display()),
        None,
        &planning,
        Output::Jsonl,
        &mut out,
    )
    .unwrap();
    let over_files: Vec<serde_json::Value> = String::from_utf8(out)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(!over_files.is_empty());
    assert_eq!(over_files, over_lake);
}

#[test]
fn parquet_output_holds_the_rows_json_lines_give_with_lists_kept() {
    let (dir, _) = lake_of(SHIPPED);
    let query = "FROM logs-okta* | STATS n = count(*), ips = values(source.ip) BY user.name | SORT user.name";
    let json = rows(dir.path(), query);
    let mut out = Vec::new();
    let stats = run(query, dir.path(), &now(), Output::Parquet, &mut out).unwrap();
    assert_eq!(stats.rows, json.len() as u64);
    let file = dir.path().join("rows.parquet");
    std::fs::write(&file, &out).unwrap();
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(
        std::fs::File::open(&file).unwrap(),
    )
    .unwrap()
    .build()
    .unwrap();
    let batches: Vec<_> = reader.map(Result::unwrap).collect();
    let total: usize = batches.iter().map(|b| b.num_rows()).sum();
    assert_eq!(total, json.len());
    let schema = batches[0].schema();
    let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    assert_eq!(names, vec!["n", "ips", "user.name"]);
    let ips = format!("{:?}", schema.field(1).data_type());
    assert!(ips.starts_with("List"), "values stay a list: {ips}");
}

/// The lake in a bucket of a real S3-compatible store (SeaweedFS on loopback): written in two runs
/// (the second adds only what the first had not), compacted and pruned there, and read by two query
/// nodes at once (each its own client and engine), each answering exactly as the same lake in a
/// folder does.
#[test]
fn a_lake_in_an_s3_bucket_is_shared_by_query_nodes_and_kept_like_a_folder() {
    let Some(store) = secops_testkit::seaweed("the lake in an S3 bucket") else {
        return;
    };
    let settings = store.env();
    let settings: Vec<(&str, String)> = settings.iter().map(|(k, v)| (*k, v.clone())).collect();
    let open = || Lake::open_with("s3://lake/team/events", &settings).unwrap();
    let events = sample_events();
    let folder = tempfile::tempdir().unwrap();
    let mut writer = LakeWriter::new(folder.path()).unwrap();
    for e in &events {
        writer.write(e).unwrap();
    }
    let in_folder = writer.finish().unwrap();

    let half = events.len() / 2;
    let mut writer = LakeWriter::open(open());
    for e in &events[..half] {
        writer.write(e).unwrap();
    }
    let first = writer.finish().unwrap();
    let mut writer = LakeWriter::open(open());
    for e in &events {
        writer.write(e).unwrap();
    }
    let second = writer.finish().unwrap();
    assert!(first.written > 0);
    assert_eq!(first.written + second.written, in_folder.written);
    assert_eq!(second.duplicates, first.written + first.duplicates);
    let bucket = open();
    assert_eq!(
        bucket.days().unwrap(),
        Lake::folder(folder.path()).days().unwrap()
    );

    let compacted = secops_lake::compact(&bucket).unwrap();
    assert!(
        compacted.files_after < compacted.files_before,
        "{compacted:?}"
    );
    assert_eq!(compacted.rows, in_folder.written);

    let questions = [
        "FROM events | STATS n = count(*), hosts = count_distinct(host.name) BY event.dataset | SORT event.dataset",
        "FROM logs-system.auth-* | WHERE event.outcome == \"failure\" | STATS n = count(*) BY source.ip | SORT n DESC, source.ip",
    ];
    let ask = |query: &str| {
        let mut out = Vec::new();
        secops_hunt::run(query, &open(), &now(), Output::Jsonl, &mut out)
            .unwrap_or_else(|e| panic!("{query}: {e}"));
        String::from_utf8(out)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect::<Vec<serde_json::Value>>()
    };
    for query in questions {
        let expected = rows(folder.path(), query);
        assert!(!expected.is_empty(), "{query}");
        let answers: Vec<Vec<serde_json::Value>> = std::thread::scope(|s| {
            let nodes: Vec<_> = (0..2).map(|_| s.spawn(|| ask(query))).collect();
            nodes.into_iter().map(|n| n.join().unwrap()).collect()
        });
        for answer in answers {
            assert_eq!(answer, expected, "{query}");
        }
    }

    // Retention removes the same days, files aside (the bucket's were compacted), as in the folder.
    let before = "2024-05-14";
    let from_folder = secops_lake::prune(&Lake::folder(folder.path()), before).unwrap();
    let from_bucket = secops_lake::prune(&bucket, before).unwrap();
    assert!(!from_bucket.days.is_empty());
    assert_eq!(from_bucket.days, from_folder.days);
    assert_eq!(from_bucket.rows, from_folder.rows);
    assert_eq!(
        bucket.days().unwrap(),
        Lake::folder(folder.path()).days().unwrap()
    );
    let query = questions[0];
    assert_eq!(ask(query), rows(folder.path(), query));
}

/// A hunt over the lake folder `dir` within `limits`.
fn run_limited(
    query: &str,
    dir: &Path,
    planning: &Planning,
    limits: &secops_hunt::Limits,
) -> (Result<RunStats, HuntError>, Vec<serde_json::Value>) {
    let mut out = Vec::new();
    let result = secops_hunt::run_with(
        query,
        Some(&Lake::folder(dir)),
        planning,
        limits,
        Output::Jsonl,
        &mut out,
    );
    let rows = String::from_utf8(out)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    (result, rows)
}

/// A row cap only when asked for, and always said: the first rows of the uncapped answer, and
/// `capped` only when the query had more.
#[test]
fn a_row_cap_is_applied_only_when_asked_and_always_reported() {
    let dir = tempfile::tempdir().unwrap();
    lake(dir.path(), &sample_events());
    let query = "FROM events | KEEP @timestamp, event.dataset, _id | SORT @timestamp, _id";
    let all = rows(dir.path(), query);
    assert!(all.len() > 10);
    let capped = |max: u64| {
        let limits = secops_hunt::Limits {
            max_rows: Some(max),
            ..Default::default()
        };
        let (stats, rows) = run_limited(query, dir.path(), &now(), &limits);
        (stats.unwrap(), rows)
    };
    let (stats, got) = capped(5);
    assert_eq!((stats.rows, stats.capped), (5, true));
    assert_eq!(got, all[..5]);
    let (stats, got) = capped(all.len() as u64);
    assert_eq!((stats.rows, stats.capped), (all.len() as u64, false));
    assert_eq!(got, all);
    let (stats, _) = run_limited(query, dir.path(), &now(), &Default::default());
    assert!(!stats.unwrap().capped);
}

/// A query that would run for minutes (a self-join of 20,000 events on one key: 400 million rows)
/// stops when its token is set from another thread, and when its time limit passes.
#[test]
fn a_running_query_stops_when_cancelled_or_past_its_time_limit() {
    let lines: String = (0..20_000)
        .map(|i| {
            format!(
                "{{\"@timestamp\":\"2024-05-14T10:{:02}:{:02}Z\",\"event\":{{\"dataset\":\"custom.load\"}},\"host\":{{\"name\":\"h{}\"}}}}\n",
                (i / 60) % 60,
                i % 60,
                i
            )
        })
        .collect();
    let (dir, _) = lake_of(&lines);
    let query = "FROM logs-custom.load-* | JOIN (FROM logs-custom.load-* | KEEP event.dataset) ON event.dataset | STATS n = count(*)";
    let cancel = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let limits = secops_hunt::Limits {
        cancel: Some(cancel.clone()),
        ..Default::default()
    };
    let (result, _) = std::thread::scope(|s| {
        s.spawn(|| {
            std::thread::sleep(std::time::Duration::from_millis(300));
            cancel.store(true, std::sync::atomic::Ordering::Relaxed);
        });
        run_limited(query, dir.path(), &now(), &limits)
    });
    match result {
        Err(HuntError::Stopped(reason)) => assert_eq!(reason, "cancelled"),
        other => panic!("expected the query cancelled, got {other:?}"),
    }
    let limits = secops_hunt::Limits {
        timeout: Some(std::time::Duration::from_millis(300)),
        ..Default::default()
    };
    match run_limited(query, dir.path(), &now(), &limits).0 {
        Err(HuntError::Stopped(reason)) => assert!(reason.contains("time limit"), "{reason}"),
        other => panic!("expected the query stopped by its time limit, got {other:?}"),
    }

    // A sort of a million joined rows in a 16 MB pool spills to disk, says so in EXPLAIN, and gives
    // the rows the roomy pool gives.
    let lake = Lake::folder(dir.path());
    let sort = "FROM logs-custom.load-* | KEEP host.name, event.dataset \
        | JOIN (FROM logs-custom.load-* | KEEP event.dataset, @timestamp | LIMIT 50) ON event.dataset \
        | SORT host.name, @timestamp | KEEP host.name, @timestamp";
    let tight = secops_hunt::Limits {
        memory: Some(16 << 20),
        ..Default::default()
    };
    let cramped = secops_hunt::explain(sort, Some(&lake), &now(), &tight).unwrap();
    let roomy = secops_hunt::explain(sort, Some(&lake), &now(), &Default::default()).unwrap();
    assert_eq!(cramped.rows_out, 1_000_000);
    assert!(
        cramped.spills > 0 && cramped.spilled_bytes > 0,
        "{cramped:?}"
    );
    assert_eq!((roomy.spills, roomy.spilled_bytes), (0, 0), "{roomy:?}");
    let csv = |limits: &secops_hunt::Limits| {
        let mut out = Vec::new();
        secops_hunt::run_with(sort, Some(&lake), &now(), limits, Output::Csv, &mut out).unwrap();
        out
    };
    assert_eq!(csv(&tight), csv(&Default::default()));
}

/// `lenient`: a field nothing resolves is null, with a warning naming it and its place; without it,
/// the query is refused.
#[test]
fn lenient_planning_makes_an_unknown_field_null_with_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    lake(dir.path(), &sample_events());
    let query = "FROM logs-system.auth-* | EVAL odd = nosuch.field | STATS n = count(*) BY odd";
    let strict = run_limited(query, dir.path(), &now(), &Default::default()).0;
    assert!(
        matches!(&strict, Err(HuntError::Plan { message, .. }) if message.contains("nosuch.field")),
        "{strict:?}"
    );
    let lenient = Planning {
        lenient: true,
        ..now()
    };
    let (stats, got) = run_limited(query, dir.path(), &lenient, &Default::default());
    let stats = stats.unwrap();
    assert_eq!(stats.warnings.len(), 1, "{:?}", stats.warnings);
    assert!(stats.warnings[0].contains("unknown field nosuch.field"));
    assert!(stats.warnings[0].contains("line 1, column 38 (stage 2, EVAL)"));
    let auth = rows(dir.path(), "FROM logs-system.auth-* | STATS n = count(*)");
    assert_eq!(got.len(), 1);
    assert_eq!(got[0]["odd"], serde_json::Value::Null);
    assert_eq!(got[0]["n"], auth[0]["n"]);
    assert_eq!(
        secops_hunt::validate(query, &lenient).unwrap(),
        stats.warnings
    );
}

/// EXPLAIN: a day-bounded hunt opens only that day's partitions, counts the rows the query gives,
/// and says what it scanned; nothing spills in the default pool.
#[test]
fn explain_says_what_was_pruned_scanned_and_spilled() {
    let dir = tempfile::tempdir().unwrap();
    let events = sample_events();
    lake(dir.path(), &events);
    let folder = Lake::folder(dir.path());
    let total: usize = folder
        .days()
        .unwrap()
        .iter()
        .map(|d| folder.sources(d).unwrap().len())
        .sum();
    let day = "FROM events | WHERE @timestamp >= \"2024-05-14T00:00:00Z\" AND @timestamp < \"2024-05-15T00:00:00Z\" | STATS n = count(*) BY event.dataset";
    let e = secops_hunt::explain(day, Some(&folder), &now(), &Default::default()).unwrap();
    let in_day = events
        .iter()
        .filter(|e| {
            e.timestamp()
                .is_some_and(|t| t.to_rfc3339().starts_with("2024-05-14"))
        })
        .count() as u64;
    let sources_that_day = folder.sources("2024-05-14").unwrap().len();
    assert_eq!(e.partitions_total, Some(total));
    assert_eq!(e.partitions_read, sources_that_day, "{e:#?}");
    assert!(e.partitions_read < total, "{e:?}");
    assert_eq!(e.rows_scanned, in_day, "{}", e.plan);
    assert_eq!(e.rows_out, rows(dir.path(), day).len() as u64);
    assert!(e.bytes_scanned > 0);
    assert_eq!((e.spills, e.spilled_bytes), (0, 0));
    assert!(e.plan.contains("DataSourceExec"), "{}", e.plan);
    let all = secops_hunt::explain(
        "FROM events | STATS n = count(*) BY event.dataset",
        Some(&folder),
        &now(),
        &Default::default(),
    )
    .unwrap();
    assert_eq!(all.partitions_read, total);
    assert_eq!(all.rows_scanned, events.len() as u64);
}

/// LET names a query for the FROMs after it (a JOIN's subquery too), UNION appends rows matched by
/// column name, and TIMECHART counts per hour and key with every hour from the first to the last
/// present for every key, an empty one counted 0: each checked against the events counted directly.
#[test]
fn let_union_and_timechart_answer_as_the_events_say() {
    let events = sample_events();
    let dir = tempfile::tempdir().unwrap();
    lake(dir.path(), &events);
    let auth: Vec<&Event> = events
        .iter()
        .filter(|e| e.get_str("event.dataset") == Some("system.auth"))
        .collect();
    let outcome = |e: &Event| e.get_str("event.outcome").map(str::to_string);

    // LET, then FROM it: the same rows as the query written out.
    let named = rows(
        dir.path(),
        "LET failed = (FROM logs-system.auth-* | WHERE event.outcome == \"failure\")\n\
         | FROM failed | STATS n = count(*) BY source.ip | SORT n DESC, source.ip",
    );
    let written = rows(
        dir.path(),
        "FROM logs-system.auth-* | WHERE event.outcome == \"failure\"\n\
         | STATS n = count(*) BY source.ip | SORT n DESC, source.ip",
    );
    assert!(!named.is_empty());
    assert_eq!(named, written);
    // A LET read by a JOIN's subquery: failures of users who also succeeded.
    let users = |wanted: &str| -> std::collections::BTreeSet<String> {
        auth.iter()
            .filter(|e| outcome(e).as_deref() == Some(wanted))
            .filter_map(|e| e.get_str("user.name").map(str::to_string))
            .collect()
    };
    let succeeded = users("success");
    let expected = auth
        .iter()
        .filter(|e| outcome(e).as_deref() == Some("failure"))
        .filter(|e| {
            e.get_str("user.name")
                .is_some_and(|u| succeeded.contains(u))
        })
        .count();
    let got = rows(
        dir.path(),
        "LET ok = (FROM logs-system.auth-* | WHERE event.outcome == \"success\" | KEEP user.name)\n\
         | FROM logs-system.auth-* | WHERE event.outcome == \"failure\"\n\
         | JOIN kind=semi (FROM ok) ON user.name | STATS n = count(*)",
    );
    assert_eq!(got, [serde_json::json!({"n": expected})]);

    // UNION: the rows of both, a column one side lacks null there.
    let cloudtrail = events
        .iter()
        .filter(|e| e.get_str("event.dataset") == Some("aws.cloudtrail"))
        .count();
    let got = rows(
        dir.path(),
        "FROM logs-system.auth-* | KEEP user.name, source.ip\n\
         | UNION (FROM logs-aws.cloudtrail-* | KEEP user.name)\n\
         | STATS n = count(*), with_ip = count(source.ip)",
    );
    let with_ip = auth.iter().filter(|e| e.get("source.ip").is_some()).count();
    assert!(cloudtrail > 0 && with_ip > 0);
    assert_eq!(
        got,
        [serde_json::json!({"n": auth.len() + cloudtrail, "with_ip": with_ip})]
    );

    // TIMECHART by hour and outcome.
    let got = rows(
        dir.path(),
        "FROM logs-system.auth-* | TIMECHART SPAN = 1 hour n = count(*) BY event.outcome",
    );
    let hour = |e: &Event| e.timestamp().map(|t| t.unix_nanos() / 3_600_000_000_000);
    let mut counted: BTreeMap<(i64, Option<String>), u64> = BTreeMap::new();
    for e in &auth {
        if let Some(h) = hour(e) {
            *counted.entry((h, outcome(e))).or_default() += 1;
        }
    }
    let first = counted.keys().map(|k| k.0).min().unwrap();
    let last = counted.keys().map(|k| k.0).max().unwrap();
    let outcomes: std::collections::BTreeSet<Option<String>> =
        counted.keys().map(|k| k.1.clone()).collect();
    let mut expected = Vec::new();
    for h in first..=last {
        for o in &outcomes {
            let n = counted.get(&(h, o.clone())).copied().unwrap_or(0);
            let time = secops_event::Timestamp::from_unix_nanos(h * 3_600_000_000_000);
            expected.push((time.unix_nanos(), o.clone(), n));
        }
    }
    assert!(last > first, "the samples span more than an hour");
    assert!(expected.iter().any(|r| r.2 == 0), "an empty hour is there");
    let got: Vec<(i64, Option<String>, u64)> = got
        .iter()
        .map(|r| {
            let time = secops_event::Timestamp::parse_rfc3339(r["@timestamp"].as_str().unwrap())
                .unwrap()
                .unix_nanos();
            (
                time,
                r["event.outcome"].as_str().map(str::to_string),
                r["n"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(got, expected);

    // BUCKET with a count: the smallest usual span giving at most that many buckets over the range
    // (24 over a day: an hour; 10 over 0-65535: 10,000 wide).
    let auto = rows(
        dir.path(),
        "FROM logs-system.auth-* | STATS n = count(*) BY b = BUCKET(@timestamp, 24, \"2024-05-14\", \"2024-05-15\") | SORT b",
    );
    let hourly = rows(
        dir.path(),
        "FROM logs-system.auth-* | STATS n = count(*) BY b = BUCKET(@timestamp, 1 hour) | SORT b",
    );
    assert!(auto.len() > 1);
    assert_eq!(auto, hourly);
    let ports = rows(
        dir.path(),
        "FROM logs-system.auth-* | WHERE source.port IS NOT NULL\n\
         | STATS n = count(*) BY b = BUCKET(source.port, 10, 0, 65535) | SORT b",
    );
    let mut by_width: BTreeMap<i64, u64> = BTreeMap::new();
    for e in &auth {
        if let Some(port) = e
            .get("source.port")
            .and_then(|v| v.to_string().parse::<i64>().ok())
        {
            *by_width.entry(port / 10_000 * 10_000).or_default() += 1;
        }
    }
    assert!(!by_width.is_empty());
    let ports: Vec<(i64, u64)> = ports
        .iter()
        .map(|r| (r["b"].as_f64().unwrap() as i64, r["n"].as_u64().unwrap()))
        .collect();
    assert_eq!(ports, by_width.into_iter().collect::<Vec<_>>());
}

/// A process tree over Security 4688 creations alone (no Sysmon): the ids the reader synthesizes
/// link SQL Server's shells to the script and the payload they started.
#[test]
fn process_trees_follow_security_4688_creations() {
    let Some(file) = secops_testkit::shared(
        "corpus/evtx/EVTX-to-MITRE-Attack/TA0002-Execution/T1059.003-Windows Command Shell/ID4688-SQL Server payload injectection for reverse shell (MSF).evtx",
    ) else {
        return;
    };
    let dir = lake_of_files(&[file.as_path()], &Options::default());
    let got = rows(
        dir.path(),
        "FROM logs-system.security-* | WHERE process.parent.name == \"sqlservr.exe\" | TREE descendants\n\
         | STATS n = count(*) BY tree.depth, process.name | SORT tree.depth, process.name",
    );
    let pairs: Vec<(i64, String)> = got
        .iter()
        .map(|r| {
            (
                r["tree.depth"].as_i64().unwrap(),
                r["process.name"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert!(pairs.contains(&(0, "cmd.exe".into())), "{pairs:?}");
    assert!(pairs.contains(&(1, "cscript.exe".into())), "{pairs:?}");
    assert!(pairs.contains(&(2, "TVupu.exe".into())), "{pairs:?}");
}

/// Plain SQL over `events` gives what the hunt language gives; it is read-only: no DDL (a table over
/// any file), no DML (`COPY ... TO` a file), no statements.
#[test]
fn plain_sql_answers_as_the_language_does_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    lake(dir.path(), &sample_events());
    let sql = Planning { sql: true, ..now() };
    let (stats, got) = run_limited(
        "SELECT \"event.dataset\" AS dataset, count(*) AS n FROM events WHERE \"event.dataset\" IS NOT NULL GROUP BY 1 ORDER BY 1",
        dir.path(),
        &sql,
        &Default::default(),
    );
    stats.unwrap();
    let expected = rows(
        dir.path(),
        "FROM events | WHERE event.dataset IS NOT NULL | STATS n = count(*) BY dataset = event.dataset | SORT dataset",
    );
    assert!(expected.len() > 5);
    let pairs = |rows: &[serde_json::Value]| -> Vec<(String, i64)> {
        rows.iter()
            .map(|r| {
                (
                    r["dataset"].as_str().unwrap().to_string(),
                    r["n"].as_i64().unwrap(),
                )
            })
            .collect()
    };
    assert_eq!(pairs(&got), pairs(&expected));
    let written = dir.path().join("copied.csv");
    for statement in [
        format!("COPY (SELECT 1) TO '{}'", written.display()),
        "CREATE EXTERNAL TABLE etc STORED AS CSV LOCATION '/etc/hostname'".to_string(),
        "SET datafusion.execution.batch_size = 1".to_string(),
    ] {
        let (result, _) = run_limited(&statement, dir.path(), &sql, &Default::default());
        assert!(
            matches!(result, Err(HuntError::Parse(ref m)) if m.starts_with("SQL: ")),
            "{statement}: {result:?}"
        );
    }
    assert!(!written.exists());
    assert!(secops_hunt::validate("SELECT count(*) FROM events", &sql).is_ok());
    assert!(secops_hunt::validate("SELECT nosuch FROM events", &sql).is_err());
}

/// SSH logins as a shipper sends them: three failures then a success from one address within a
/// minute; a failure and a success ten minutes apart from another; a success alone from a third.
const LOGINS: &str = r#"{"@timestamp":"2024-05-14T10:00:00Z","event":{"category":["authentication"],"outcome":"failure","action":"ssh_login"},"source":{"ip":"203.0.113.9"},"user":{"name":"root"},"host":{"name":"web-1"}}
{"@timestamp":"2024-05-14T10:00:10Z","event":{"category":["authentication"],"outcome":"failure","action":"ssh_login"},"source":{"ip":"203.0.113.9"},"user":{"name":"admin"},"host":{"name":"web-1"}}
{"@timestamp":"2024-05-14T10:00:20Z","event":{"category":["authentication"],"outcome":"failure","action":"ssh_login"},"source":{"ip":"203.0.113.9"},"user":{"name":"deploy"},"host":{"name":"web-1"}}
{"@timestamp":"2024-05-14T10:00:40Z","event":{"category":["authentication"],"outcome":"success","action":"ssh_login"},"source":{"ip":"203.0.113.9"},"user":{"name":"deploy"},"host":{"name":"web-1"}}
{"@timestamp":"2024-05-14T10:05:00Z","event":{"category":["authentication"],"outcome":"failure","action":"ssh_login"},"source":{"ip":"198.51.100.4"},"user":{"name":"alice"},"host":{"name":"web-2"}}
{"@timestamp":"2024-05-14T10:15:00Z","event":{"category":["authentication"],"outcome":"success","action":"ssh_login"},"source":{"ip":"198.51.100.4"},"user":{"name":"alice"},"host":{"name":"web-2"}}
{"@timestamp":"2024-05-14T10:20:00Z","event":{"category":["authentication"],"outcome":"success","action":"ssh_login"},"source":{"ip":"192.0.2.77"},"user":{"name":"bob"},"host":{"name":"web-1"}}
"#;

/// SEQUENCE runs the rules' EQL sequences: the latest failure before the success from the same
/// address within the span, the pair ten minutes apart left out; and over real EVTX logs, exactly
/// the sequences the detection engine's matcher finds in the events read directly.
#[test]
fn sequences_are_the_events_the_rules_sequence_matcher_finds() {
    let (dir, _) = lake_of(LOGINS);
    let got = rows(
        dir.path(),
        r#"FROM events | WHERE event.action == "ssh_login"
           | SEQUENCE """by source.ip with maxspan=5m
               [authentication where event.outcome == "failure"]
               [authentication where event.outcome == "success"]"""
           | KEEP sequence.id, sequence.step, source.ip, user.name"#,
    );
    let got: Vec<(i64, i64, String, String)> = got
        .iter()
        .map(|r| {
            (
                r["sequence.id"].as_i64().unwrap(),
                r["sequence.step"].as_i64().unwrap(),
                r["source.ip"].as_str().unwrap().to_string(),
                r["user.name"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            (1, 1, "203.0.113.9".into(), "deploy".into()),
            (1, 2, "203.0.113.9".into(), "deploy".into()),
        ]
    );
    // `until` cancels: a success from the address ends its partial sequences.
    let none = rows(
        dir.path(),
        r#"FROM events | SEQUENCE """sequence by source.ip with maxspan=5m
               [authentication where event.outcome == "failure"] with runs=3
               [authentication where user.name == "nobody"]
             until [authentication where event.outcome == "success"]""""#,
    );
    assert!(none.is_empty(), "{none:?}");
    // Not a sequence, or a field nothing resolves: planning errors naming the stage.
    for (query, says, stage) in [
        (
            r#"FROM events | SEQUENCE "process where true""#,
            "the sequence, line 1, column 1 of its text: a sequence needs at least two steps",
            "stage 2",
        ),
        (
            r#"FROM events | STATS n = count(*) BY host.name | SEQUENCE "by host.name [any where host.name == \"a\"] [any where host.name == \"b\"]""#,
            "_id and @timestamp",
            "stage 3",
        ),
    ] {
        let error = run(query, dir.path(), &now(), Output::Jsonl, &mut Vec::new())
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(error.contains(says), "{query}: {error}");
        assert!(error.contains(stage), "{query}: {error}");
    }

    // Real logs: every sequence the matcher finds over the events themselves, in time order.
    let Some(evtx) = secops_testkit::shared("corpus/evtx/EVTX-ATTACK-SAMPLES") else {
        return;
    };
    let options = Options::default();
    let dir = lake_of_files(&[evtx.as_path()], &options);
    let mut events = Vec::new();
    let (inputs, _) = secops_ingest::expand(&[evtx.display().to_string()]);
    for input in &inputs {
        let _ = read_input(input, &options, &mut |r| events.extend(r.ok()));
    }
    events.retain(|e| e.timestamp().is_some());
    events.sort_by_cached_key(|e| (e.timestamp(), secops_lake::event_id(e)));
    let eql = r#"sequence by host.name with maxspan=1m
        [process where process.name : "cmd.exe"]
        [any where event.code == "3"]"#;
    let secops_rules::eql::EqlQuery::Sequence(sequence) = secops_rules::eql::parse(eql).unwrap()
    else {
        panic!("a sequence")
    };
    let mut state = secops_detect::SequenceState::new(&sequence).unwrap();
    let mut expected = Vec::new();
    for event in &events {
        if let Some(crossing) = state.observe(event) {
            let number = expected.len() as i64 / 2 + 1;
            for (step, e) in crossing.events.iter().enumerate() {
                expected.push((number, step as i64 + 1, secops_lake::event_id(e)));
            }
        }
    }
    assert!(!expected.is_empty(), "the corpus has such sequences");
    let got: Vec<(i64, i64, String)> = rows(
        dir.path(),
        &format!("FROM events | SEQUENCE {eql:?} | KEEP sequence.id, sequence.step, _id"),
    )
    .iter()
    .map(|r| {
        (
            r["sequence.id"].as_i64().unwrap(),
            r["sequence.step"].as_i64().unwrap(),
            r["_id"].as_str().unwrap().to_string(),
        )
    })
    .collect();
    assert_eq!(got, expected);
}

/// Tables as a service gives them: rows from memory in the declared column order.
#[derive(Debug)]
struct Given(Vec<(secops_hunt::TableInfo, Vec<Vec<secops_hunt::Cell>>)>);

impl secops_hunt::Registered for Given {
    fn tables(&self) -> Vec<secops_hunt::TableInfo> {
        self.0.iter().map(|(info, _)| info.clone()).collect()
    }

    fn rows(&self, name: &str) -> Result<secops_hunt::Rows, String> {
        let rows = self
            .0
            .iter()
            .find(|(info, _)| info.name == name)
            .map(|(_, rows)| rows.clone())
            .ok_or("no such table")?;
        Ok(Box::new(rows.into_iter().map(Ok)))
    }
}

/// FROM a registered table reads its rows; LOOKUP JOIN adds the table's columns to every row (one
/// row per matching entry, the table's value replacing the row's); ENRICH adds the first entry's
/// columns by its key (by the table's preference, then its order), folded where the table says,
/// never changing the number of rows.
#[test]
fn registered_tables_are_read_joined_and_enriched_as_their_rows_say() {
    use secops_hunt::{Cell, ColumnType, TableInfo};
    let (dir, events) = lake_of(LOGINS);
    let text = |s: &str| Cell::Text(s.to_string());
    let assets = TableInfo {
        name: "assets",
        columns: vec![
            ("asset.identifier", ColumnType::Text),
            ("asset.criticality", ColumnType::Text),
            ("asset.tags", ColumnType::TextList),
        ],
        key: "asset.identifier",
        folded: true,
        prefer: Vec::new(),
    };
    let alerts = TableInfo {
        name: "alerts",
        columns: vec![
            ("host.name", ColumnType::Text),
            ("rule.name", ColumnType::Text),
            ("rule.risk_score", ColumnType::Integer),
            ("user.name", ColumnType::Text),
        ],
        key: "host.name",
        folded: false,
        prefer: vec![("rule.risk_score", true)],
    };
    let given = Given(vec![
        (
            assets,
            vec![
                vec![
                    text("web-1"),
                    text("high"),
                    Cell::TextList(vec!["dmz".into()]),
                ],
                // A second entry of the key: ENRICH takes the first.
                vec![text("web-1"), text("low"), Cell::Null],
                vec![text("192.0.2.77"), text("medium"), Cell::Null],
            ],
        ),
        (
            alerts,
            vec![
                // Stored first, but ENRICH prefers the higher risk score.
                vec![
                    text("web-1"),
                    text("New admin"),
                    Cell::Integer(47),
                    Cell::Null,
                ],
                vec![
                    text("web-1"),
                    text("SSH brute force"),
                    Cell::Integer(73),
                    text("svc"),
                ],
            ],
        ),
    ]);
    let planning = Planning {
        tables: Some(std::sync::Arc::new(given)),
        ..now()
    };
    let query = |q: &str| -> Vec<serde_json::Value> {
        let mut out = Vec::new();
        run(q, dir.path(), &planning, Output::Jsonl, &mut out)
            .unwrap_or_else(|e| panic!("{q}: {e}"));
        String::from_utf8(out)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    };
    let logins = events
        .iter()
        .filter(|e| e.get_str("event.action") == Some("ssh_login"))
        .count();

    let table =
        query("FROM assets | STATS n = count(*) BY asset.criticality | SORT asset.criticality");
    assert_eq!(
        table,
        vec![
            serde_json::json!({"asset.criticality": "high", "n": 1}),
            serde_json::json!({"asset.criticality": "low", "n": 1}),
            serde_json::json!({"asset.criticality": "medium", "n": 1}),
        ]
    );

    // ENRICH: one row per login; the host's first entry, matched in lower case.
    let enriched = query(
        r#"FROM events | WHERE event.action == "ssh_login" | EVAL host.name = to_upper(host.name)
           | ENRICH assets ON host.name WITH criticality = asset.criticality, asset.tags
           | KEEP host.name, criticality, asset.tags"#,
    );
    assert_eq!(enriched.len(), logins);
    for row in &enriched {
        let (criticality, tags) = match row["host.name"].as_str().unwrap() {
            "WEB-1" => (serde_json::json!("high"), serde_json::json!(["dmz"])),
            _ => (serde_json::Value::Null, serde_json::Value::Null),
        };
        assert_eq!(row["criticality"], criticality, "{row}");
        assert_eq!(row["asset.tags"], tags, "{row}");
    }

    // ENRICH takes the table's preferred entry of a key (the highest risk score here).
    let preferred = query(
        r#"FROM events | WHERE event.action == "ssh_login" AND host.name == "web-1"
           | ENRICH alerts ON host.name WITH rule.name | STATS n = count(*) BY rule.name"#,
    );
    assert_eq!(
        preferred,
        vec![serde_json::json!({"rule.name": "SSH brute force", "n": 5})]
    );

    // LOOKUP JOIN: a row per matching alert; the table's user.name replaces the login's.
    let joined = query(
        r#"FROM events | WHERE event.action == "ssh_login" AND host.name LIKE "web-?"
           | LOOKUP JOIN alerts ON host.name
           | STATS n = count(*), users = count_distinct(user.name) BY host.name, rule.name
           | SORT host.name, rule.name"#,
    );
    let on_web1 = events
        .iter()
        .filter(|e| e.get_str("host.name") == Some("web-1"))
        .count() as i64;
    let on_web2 = events
        .iter()
        .filter(|e| e.get_str("host.name") == Some("web-2"))
        .count() as i64;
    assert_eq!(
        joined,
        vec![
            serde_json::json!({"host.name": "web-1", "rule.name": "New admin", "n": on_web1, "users": 0}),
            serde_json::json!({"host.name": "web-1", "rule.name": "SSH brute force", "n": on_web1, "users": 1}),
            serde_json::json!({"host.name": "web-2", "rule.name": null, "n": on_web2, "users": 0}),
        ]
    );

    // What is not there is said, with the stage.
    for (q, says) in [
        (
            "FROM events | LOOKUP JOIN alerts ON source.ip",
            "source.ip is not a column of alerts",
        ),
        (
            "FROM events | ENRICH assets ON host.name WITH owner",
            "owner is not a column of assets",
        ),
        (
            "FROM cases",
            "the table cases reads the store, and none was given",
        ),
        (
            "FROM events | ENRICH geoip ON source.ip",
            "no table \"geoip\"",
        ),
    ] {
        let error = run(q, dir.path(), &planning, Output::Jsonl, &mut Vec::new())
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(error.contains(says), "{q}: {error}");
    }
}
