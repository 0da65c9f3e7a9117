//! Snapshots of what a person reads from `secops`: alert tables and exports, summaries, rule
//! validation in its three forms, rule tests, coverage, case reports and metrics, intelligence listings.
//!
//! Recorded on the code before the service-layer refactor (issue 13) and kept unchanged through it, they
//! prove that moving operations below the binary moved no output. Each snapshot is a transcript: the
//! command, its exit code, standard output and standard error (and files it wrote), with what changes
//! from run to run (the temporary folder, the time now) replaced by a marker.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)] // test helpers outside #[test] functions

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use secops_testkit::{repo_root, shared};

/// Runs `secops` in the repository root, with a temporary folder for stores and written files.
struct Session {
    dir: tempfile::TempDir,
    /// Variables every command gets (an object store's address and keys).
    env: Vec<(&'static str, String)>,
}

impl Session {
    fn new() -> Self {
        Session {
            dir: tempfile::tempdir().unwrap(),
            env: Vec::new(),
        }
    }

    fn path(&self, name: &str) -> String {
        self.dir.path().join(name).to_string_lossy().into_owned()
    }

    /// The transcript of one command.
    fn run(&self, args: &[&str]) -> String {
        self.run_with_input(args, None)
    }

    /// The transcript of one command given `input` on standard input (shown as `< input`).
    fn run_with_input(&self, args: &[&str], input: Option<&str>) -> String {
        let mut command = Command::new(env!("CARGO_BIN_EXE_secops"));
        command
            .args(args)
            .current_dir(repo_root())
            .env("SECOPS_USER", "analyst")
            .env_remove("SECOPS_DB")
            .env_remove("SECOPS_DATABASE_URL")
            .env_remove("SECOPS_ATTACK")
            .env_remove("SECOPS_WARNINGLISTS")
            .env_remove("SECOPS_DECAY_MODELS")
            .env_remove("SECOPS_ROLES")
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        let mut child = command.spawn().expect("the secops binary runs");
        if let (Some(text), Some(mut stdin)) = (input, child.stdin.take()) {
            use std::io::Write as _;
            stdin
                .write_all(text.as_bytes())
                .expect("stdin takes the input");
        }
        drop(child.stdin.take());
        let out = child.wait_with_output().expect("the secops binary runs");
        let shown_input = input.map(|_| " < input").unwrap_or_default();
        let mut text = format!("$ secops {}{shown_input}\n", args.join(" "));
        let _ = writeln!(text, "exit: {}", out.status.code().unwrap_or(-1));
        for (name, bytes) in [("stdout", &out.stdout), ("stderr", &out.stderr)] {
            if !bytes.is_empty() {
                let _ = write!(text, "--- {name}\n{}", String::from_utf8_lossy(bytes));
                if !text.ends_with('\n') {
                    text.push_str("⏎ (no newline at the end)\n");
                }
            }
        }
        self.normalize(&text)
    }

    /// The transcript of a command on the store `db` (`--db` added at the end).
    fn run_on(&self, db: &str, args: &[&str]) -> String {
        let mut all: Vec<&str> = args.to_vec();
        all.extend(["--db", db]);
        self.run(&all)
    }

    /// A file the command wrote, under a heading.
    fn file(&self, path: &Path) -> String {
        let text =
            std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        self.normalize(&format!("--- file {}\n{text}", path.display()))
    }

    /// The temporary folder becomes `[TMP]`, times within a few days of now `[NOW]`.
    fn normalize(&self, text: &str) -> String {
        let tmp = self.dir.path().to_string_lossy().into_owned();
        let text = text.replace(&tmp, "[TMP]");
        let text = text.replace(&repo_root().to_string_lossy().into_owned(), "[REPO]");
        let load_time = regex::Regex::new(r"\(\d+\.\d\d s\)").unwrap();
        recent_times(&load_time.replace_all(&text, "([SECONDS] s)"))
    }
}

/// Replaces times near now (RFC 3339, `YYYY-MM-DD HH:MM:SS UTC`, bare dates and 19-digit nanoseconds)
/// with markers; times of the logs and rules (years before) stay.
fn recent_times(text: &str) -> String {
    let now = chrono::Utc::now();
    let near = |t: chrono::DateTime<chrono::Utc>| (t - now).num_days().abs() <= 2;
    let stamp = regex::Regex::new(
        r"\d{4}-\d\d-\d\d(?:[T ]\d\d:\d\d:\d\d(?:\.\d+)?(?:Z| UTC)?)?|\b1[6-9]\d{17}\b",
    )
    .unwrap();
    stamp
        .replace_all(text, |c: &regex::Captures| {
            let m = &c[0];
            if m.len() == 19 && m.bytes().all(|b| b.is_ascii_digit()) {
                let t = m
                    .parse::<i64>()
                    .ok()
                    .and_then(|n| chrono::DateTime::from_timestamp(n / 1_000_000_000, 0));
                return if t.is_some_and(near) {
                    "[NOW_NS]".into()
                } else {
                    m.to_string()
                };
            }
            // The bundled rules' own dates are content, however recent.
            if m.len() == 10 && rule_dates().contains(m) {
                return m.to_string();
            }
            let date = chrono::NaiveDate::parse_from_str(&m[..10], "%Y-%m-%d").ok();
            let t = date
                .and_then(|d| d.and_hms_opt(12, 0, 0))
                .map(|d| d.and_utc());
            match t {
                Some(t) if near(t) && m.len() == 10 => "[TODAY]".into(),
                Some(t) if near(t) => "[NOW]".into(),
                _ => m.to_string(),
            }
        })
        .into_owned()
}

/// The `creation_date` and `updated_date` values of the bundled rules.
fn rule_dates() -> &'static std::collections::HashSet<String> {
    static DATES: std::sync::OnceLock<std::collections::HashSet<String>> =
        std::sync::OnceLock::new();
    DATES.get_or_init(|| {
        let mut dates = std::collections::HashSet::new();
        let rules = walk(&repo_root().join("rules"));
        for path in rules
            .iter()
            .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        {
            let text = std::fs::read_to_string(path).unwrap_or_default();
            for line in text.lines() {
                let value = line
                    .strip_prefix("creation_date = \"")
                    .or_else(|| line.strip_prefix("updated_date = \""));
                if let Some(date) = value.and_then(|v| v.strip_suffix('"')) {
                    dates.insert(date.to_string());
                }
            }
        }
        dates
    })
}

/// Human durations (`1066d 19h`, `4m 2s`) from now-dependent times: `[DURATION]`; the padding after
/// them (which follows their length) becomes one space.
fn durations(text: &str) -> String {
    let duration = regex::Regex::new(r"\b\d+(?:d|h|m|s)(?: \d+(?:h|m|s))?\b").unwrap();
    let padding = regex::Regex::new(r" {2,}").unwrap();
    let text = duration.replace_all(text, "[DURATION]");
    padding.replace_all(&text, " ").into_owned()
}

fn snapshot(name: &str, text: &str) {
    insta::with_settings!({ prepend_module_to_snapshot => false, omit_expression => true }, {
        insta::assert_snapshot!(name, text);
    });
}

// ---- detection ------------------------------------------------------------------------------------

#[test]
fn detect_prints_a_table_and_a_summary() {
    let s = Session::new();
    snapshot(
        "detect_table",
        &s.run(&["detect", "samples", "--year", "2023"]),
    );
    // Each alert once, complete, in time order.
    snapshot(
        "detect_table_time_order",
        &s.run(&["detect", "samples", "--year", "2023", "--order", "time"]),
    );
}

/// Risk-based alerting as an analyst reads it: each alert with its host's and user's risk, and the
/// risk alert when one host's low alerts add up.
#[test]
fn detect_with_risk_shows_each_alerts_entity_risk() {
    let s = Session::new();
    std::fs::create_dir_all(s.path("risk-rules")).unwrap();
    std::fs::write(
        s.path("risk-rules/sudo.yml"),
        "title: Sudo Password Failures\nid: 4a9d2e71-3b5c-4f60-8d1e-2c3b4a5d6e71\nstatus: test\n\
         logsource:\n  product: linux\n  service: sudo\ndetection:\n  keywords:\n    - 'incorrect password attempts'\n  \
         condition: keywords\nlevel: low\ntags:\n  - attack.privilege-escalation\n  - attack.t1548.003\n",
    )
    .unwrap();
    let lines: String = (0..6u32)
        .map(|i| {
            format!(
                "Dec  3 {:02}:00:00 web1 sudo:   user{} : 3 incorrect password attempts ; TTY=pts/0 ; \
                 PWD=/home/user{i} ; USER=root ; COMMAND=/bin/bash\n",
                8 + i,
                i % 2
            )
        })
        .collect();
    std::fs::write(s.path("sudo.log"), lines).unwrap();
    snapshot(
        "detect_risk",
        &s.run(&[
            "detect",
            &s.path("sudo.log"),
            "--rules",
            &s.path("risk-rules"),
            // A year long past: the times stay as they are, whatever day the test runs.
            "--year",
            "2023",
            "--risk",
        ]),
    );
}

#[test]
fn detect_in_time_order_says_what_came_too_late_to_be_placed() {
    let s = Session::new();
    // Ten minutes of `su` to root, then one an hour earlier: by then the alerts up to five minutes
    // before the latest event have been written.
    let mut log = String::new();
    for i in 0..600 {
        log.push_str(&format!(
            "Mar  3 12:{:02}:{:02} bastion su: (to root) deploy on pts/0\n",
            i / 60,
            i % 60
        ));
    }
    log.push_str("Mar  3 11:00:00 bastion su: (to root) late on pts/1\n");
    let path = s.path("su.log");
    std::fs::write(&path, log).unwrap();
    // Only high alerts are printed (none here); the summary still counts the late one.
    snapshot(
        "detect_time_order_late",
        &s.run(&[
            "detect",
            &path,
            "--year",
            "2026",
            "--order",
            "time",
            "--output",
            "csv",
            "--min-severity",
            "high",
            // one alert per match: aggregation would fold the late one into the open alert
            "--aggregate",
            "none",
        ]),
    );
}

#[test]
fn detect_names_the_event_record_id_of_an_exported_evtx_record() {
    let Some(evtx) = shared("corpus/evtx/EVTX-ATTACK-SAMPLES/Credential Access") else {
        return;
    };
    let s = Session::new();
    // Security 4794: an attempt was made to set the DSRM administrator password.
    let rules = s.dir.path().join("sigma");
    std::fs::create_dir(&rules).unwrap();
    std::fs::write(
        rules.join("dsrm.yml"),
        "title: DSRM Administrator Password Set\nid: 3c1e7a52-6d0b-4e8f-9a31-5b2d7c4e8f10\nstatus: test\n\
         logsource:\n  product: windows\n  service: security\ndetection:\n  selection:\n    \
         EventID: 4794\n  condition: selection\nlevel: high\n",
    )
    .unwrap();
    let file = evtx.join("4794_DSRM_password_change_t1098.evtx");
    let (file, rules) = (file.to_string_lossy(), rules.to_string_lossy());
    let mut text = String::new();
    for output in ["table", "csv"] {
        text += &s.run(&["detect", &file, "--rules", &rules, "--output", output]);
    }
    // The alert id hashes the file's full path, which depends on where the repository is.
    let id = regex::Regex::new(r",[0-9a-f]{16}\n").unwrap();
    snapshot(
        "detect_evtx_record_ids",
        &id.replace_all(&text, ",[ALERT ID]\n"),
    );
}

#[test]
fn detect_exports_csv_timeline_and_json_lines() {
    let s = Session::new();
    for output in ["csv", "timeline", "jsonl"] {
        snapshot(
            &format!("detect_{output}"),
            &s.run(&["detect", "samples", "--year", "2023", "--output", output]),
        );
    }
}

#[test]
fn detect_filters_by_time_and_severity() {
    let s = Session::new();
    snapshot(
        "detect_filtered",
        &s.run(&[
            "detect",
            "samples",
            "--year",
            "2023",
            "--min-severity",
            "high",
            "--since",
            "2024-05-14T08:00:00Z",
            "--until",
            "2024-05-14T09:30:00Z",
        ]),
    );
}

#[test]
fn detect_reports_unreadable_inputs_and_rejected_records() {
    let s = Session::new();
    let bad = s.path("mixed.jsonl");
    std::fs::write(
        &bad,
        "{\"@timestamp\": \"2024-05-14T08:00:00Z\", \"event.module\": \"system\"}\n{broken\n",
    )
    .unwrap();
    snapshot(
        "detect_rejections",
        &s.run(&[
            "detect",
            &bad,
            "no/such/file.log",
            "samples/auth.log",
            "--year",
            "2023",
        ]),
    );
}

// ---- ingest and formats -----------------------------------------------------------------------------

#[test]
fn damaged_evtx_reports_what_it_lost_and_recovered() {
    let Some(evtx) = shared("corpus/evtx") else {
        return;
    };
    let s = Session::new();
    let original =
        std::fs::read(evtx.join(
            "EVTX-ATTACK-SAMPLES/AutomatedTestingTools/PanacheSysmon_vs_AtomicRedTeam01.evtx",
        ))
        .unwrap();
    // cut 6,080 bytes into chunk 9, and chunk 3's stored header checksum damaged
    let mut damaged = original[..4096 + 9 * 65536 + 6080].to_vec();
    damaged[4096 + 3 * 65536 + 124] ^= 0xFF;
    let file = s.path("damaged.evtx");
    std::fs::write(&file, &damaged).unwrap();
    snapshot(
        "ingest_damaged_evtx",
        &s.run(&["ingest", &file, "--output", "none"]),
    );
    snapshot(
        "ingest_damaged_evtx_recovered",
        &s.run(&["ingest", &file, "--output", "none", "--evtx-recover"]),
    );
}

#[test]
fn ingest_prints_events_and_a_summary_per_input() {
    let s = Session::new();
    snapshot(
        "ingest_table",
        &s.run(&[
            "ingest",
            "samples/auth.log",
            "samples/access.log",
            "--year",
            "2023",
            "--output",
            "table",
            "--ordered",
        ]),
    );
    snapshot(
        "ingest_summary",
        &s.run(&["ingest", "samples", "--year", "2023", "--output", "none"]),
    );
}

/// `hunt explain` (the plan, partitions and row groups pruned, rows scanned, spill), a row cap said
/// when it cut rows, and `--lenient` naming the field it planned as null.
#[test]
fn hunt_explain_max_rows_and_lenient() {
    let s = Session::new();
    let lake = s.path("lake");
    s.run(&["ingest", "samples", "--year", "2024", "--lake", &lake]);
    let day = "FROM events | WHERE @timestamp >= \"2024-05-14T00:00:00Z\" AND @timestamp < \"2024-05-15T00:00:00Z\"\n\
        | STATS n = count(*) BY event.dataset | SORT event.dataset";
    let mut text = s.run(&["hunt", "explain", day, "--lake", &lake]);
    let by_dataset = "FROM events | STATS n = count(*) BY event.dataset | SORT event.dataset";
    for max in ["3", "100"] {
        text += &s.run(&[
            "hunt",
            "run",
            by_dataset,
            "--lake",
            &lake,
            "--output",
            "csv",
            "--max-rows",
            max,
        ]);
    }
    text += &s.run(&[
        "hunt",
        "run",
        "FROM logs-system.auth-* | STATS n = count(*) BY source.geo.contry",
        "--lake",
        &lake,
        "--lenient",
    ]);
    let time = regex::Regex::new(r"time: \d+\.\d\d s").unwrap();
    snapshot(
        "hunt_explain",
        &time.replace_all(&text, "time: [SECONDS] s"),
    );
}

/// `in_set(value, "list")` over MISP warninglists: the RFC 1918 list answers as `cidr_match` over its
/// three blocks; an unknown list is refused with the lists there are.
#[test]
fn hunt_in_set_reads_warninglists() {
    let Some(lists) = shared("corpus/intel/warninglists") else {
        return;
    };
    let lists = lists.to_string_lossy().into_owned();
    let s = Session::new();
    let lake = s.path("lake");
    s.run(&["ingest", "samples", "--year", "2024", "--lake", &lake]);
    let ask = |test: &str| {
        let query = format!(
            "FROM events | WHERE source.ip IS NOT NULL | EVAL inside = {test} | STATS n = count(*) BY inside | SORT inside"
        );
        s.run(&[
            "hunt",
            "run",
            &query,
            "--lake",
            &lake,
            "--warninglists",
            &lists,
            "--output",
            "csv",
        ])
    };
    let listed = ask("in_set(source.ip, \"List of RFC 1918 CIDR blocks\")");
    let blocks =
        ask("cidr_match(source.ip, \"10.0.0.0/8\", \"172.16.0.0/12\", \"192.168.0.0/16\")");
    let answer = |t: &str| t.split("--- stdout\n").nth(1).map(str::to_string);
    assert!(
        answer(&listed).is_some_and(|a| a.contains("true") && a.contains("false")),
        "{listed}"
    );
    assert_eq!(answer(&listed), answer(&blocks));
    let unknown = s.run(&[
        "hunt",
        "run",
        "FROM events | WHERE in_set(source.ip, \"no such list\")",
        "--lake",
        &lake,
        "--warninglists",
        &lists,
    ]);
    snapshot("hunt_in_set", &format!("{listed}{unknown}"));
}

/// Logs into the event lake at `lake`, twice (the second run finds every event already there); two
/// runs into one partition, merged by compaction; then retention.
fn lake_transcript(s: &Session, lake: &str) -> String {
    let args = [
        "ingest",
        "samples/auth.log",
        "samples/windows.jsonl",
        "--year",
        "2023",
        "--lake",
        lake,
    ];
    let mut text = s.run(&args);
    text += &s.run(&args);
    text += &s.run(&["ingest", "samples/cloudtrail.json", "--lake", lake]);
    text += &s.run(&["ingest", "samples/cloudtrail.jsonl", "--lake", lake]);
    text += &s.run(&["lake", "compact", lake]);
    text += &s.run(&[
        "lake",
        "prune",
        lake,
        "--older-than",
        "30d",
        "--now",
        "2024-06-01T00:00:00Z",
    ]);
    text
}

#[test]
fn ingest_into_the_lake_writes_each_event_once() {
    let s = Session::new();
    let lake = s.path("lake");
    snapshot("ingest_lake", &lake_transcript(&s, &lake));
    let partitions = secops_lake::lake_files(std::path::Path::new(&lake)).unwrap();
    assert!(partitions
        .iter()
        .all(|p| p.to_string_lossy().contains("dt=2024-05-14/")));
    let cloudtrail = partitions
        .iter()
        .filter(|p| p.to_string_lossy().contains("source=aws.cloudtrail"))
        .count();
    assert_eq!(cloudtrail, 1, "the two runs' files merged");
}

/// The same commands on a lake in an S3 bucket (SeaweedFS on loopback) say exactly what they say on a
/// folder; two `hunt run` processes at once (two query nodes) answer as the folder's lake does.
#[test]
fn the_lake_in_an_s3_bucket_answers_as_a_folder_does() {
    let Some(store) = secops_testkit::seaweed("secops on a lake in an S3 bucket") else {
        return;
    };
    let folder = Session::new();
    let on_folder = lake_transcript(&folder, &folder.path("lake"));
    let mut bucket = Session::new();
    bucket.env = store.env();
    let on_bucket = lake_transcript(&bucket, "s3://lake/cli/events")
        .replace("s3://lake/cli/events", "[TMP]/lake");
    assert_eq!(on_bucket, on_folder);

    let stacking = "FROM events | STATS events = count(*), hosts = count_distinct(host.name) BY event.dataset | SORT event.dataset";
    let expected = folder.run(&[
        "hunt",
        "run",
        stacking,
        "--lake",
        &folder.path("lake"),
        "--output",
        "csv",
    ]);
    assert!(expected.contains("aws.cloudtrail"), "{expected}");
    let answers: Vec<String> = std::thread::scope(|scope| {
        let nodes: Vec<_> = (0..2)
            .map(|_| {
                scope.spawn(|| {
                    bucket
                        .run(&[
                            "hunt",
                            "run",
                            stacking,
                            "--lake",
                            "s3://lake/cli/events",
                            "--output",
                            "csv",
                        ])
                        .replace("s3://lake/cli/events", "[TMP]/lake")
                })
            })
            .collect();
        nodes.into_iter().map(|n| n.join().unwrap()).collect()
    });
    for answer in answers {
        assert_eq!(answer, expected);
    }
}

/// A hunt over a lake of the bundled samples: stacking as a table and as CSV, and a planning error
/// that names the field and where it is.
#[test]
fn hunt_run_answers_from_the_lake_and_names_unknown_fields() {
    let s = Session::new();
    let lake = s.path("lake");
    s.run(&["ingest", "samples", "--year", "2024", "--lake", &lake]);
    let stacking = "FROM events | WHERE user.name IS NOT NULL\n\
        | STATS events = count(*), hosts = count_distinct(host.name) BY event.dataset\n\
        | SORT events DESC, event.dataset";
    let mut text = s.run(&["hunt", "run", stacking, "--lake", &lake]);
    text += &s.run(&[
        "hunt",
        "run",
        "FROM logs-system.auth-* | WHERE @timestamp > now() - 1 day | STATS n = count(*) BY user.name | SORT n DESC, user.name | LIMIT 3",
        "--lake",
        &lake,
        "--now",
        "2025-01-01T12:00:00Z",
        "--output",
        "csv",
    ]);
    text += &s.run(&[
        "hunt",
        "run",
        "FROM events\n| WHERE proces.name == \"cmd.exe\"",
        "--lake",
        &lake,
    ]);
    snapshot("hunt_run", &text);
}

/// `detect --lake`: the events read and each alert go into the lake once (a second run adds nothing),
/// and a hunt over `.alerts-security.*` reads the alerts by their Kibana names.
#[test]
fn detect_lake_writes_events_and_alerts_once_and_hunts_read_the_alerts() {
    let s = Session::new();
    let lake = s.path("lake");
    let first = s.run(&[
        "detect", "samples", "--year", "2024", "--lake", &lake, "--output", "jsonl",
    ]);
    // Each alert once (an alert opened for repeats is written again when it closes).
    let alerts = first
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["alert.id"].to_string())
        .collect::<std::collections::BTreeSet<_>>()
        .len();
    assert!(alerts > 10, "{first}");
    let mut text = String::new();
    for line in first.lines().filter(|l| l.starts_with("lake ")) {
        text += line;
        text += "\n";
    }
    let again = s.run(&[
        "detect", "samples", "--year", "2024", "--lake", &lake, "--output", "jsonl",
    ]);
    for line in again.lines().filter(|l| l.starts_with("lake ")) {
        text += line;
        text += "\n";
    }
    let by_rule = s.run(&[
        "hunt",
        "run",
        "FROM .alerts-security.* | STATS alerts = count(*) BY kibana.alert.severity | SORT kibana.alert.severity",
        "--lake",
        &lake,
    ]);
    text += &by_rule;
    let counted = s.run(&[
        "hunt",
        "run",
        "FROM .alerts-security.* | STATS n = count(*)",
        "--lake",
        &lake,
        "--output",
        "csv",
    ]);
    assert!(
        counted.contains(&format!("\n{alerts}\n")),
        "{counted} vs {alerts} alerts"
    );
    snapshot("detect_lake", &text);
}

/// `hunt validate` over hunt files in Elastic's shapes and ours: one line per query that fails to
/// parse or plan, EQL beside ES|QL skipped and counted, and our files' own problems.
#[test]
fn hunt_validate_reports_each_failing_query_and_the_counts() {
    let s = Session::new();
    std::fs::create_dir_all(s.path("hunts/queries")).unwrap();
    std::fs::write(
        s.path("hunts/queries/rare_users.toml"),
        "[hunt]\nname = \"Rare users\"\nlanguage = [\"ES|QL\", \"EQL\"]\nquery = [\n'''\nfrom logs-system.auth-*\n| where @timestamp > now() - 7 days\n| stats n = count(*) by user.name\n| where n <= 2\n''',\n'''\nfrom logs-*\n| where process.integrity == \"high\"\n''',\n'''\nprocess where process.name == \"cmd.exe\"\n'''\n]\n",
    )
    .unwrap();
    std::fs::write(
        s.path("hunts/rule.toml"),
        "[rule]\nname = \"Broken\"\nlanguage = \"esql\"\nquery = '''\nfrom logs-*\n| where event.action = \"x\"\n'''\n",
    )
    .unwrap();
    // One of ours: its query plans, its technique id and its test do not hold.
    std::fs::write(
        s.path("hunts/ours.toml"),
        "[hunt]\nuuid = \"5b0f3d7e-8a51-4c55-9a43-0c9c2a8f6a11\"\nname = \"Failed logons by source\"\n\
         description = \"Sources failing to log on.\"\nmitre = [\"T1110\", \"T111\"]\nlanguage_version = 1\n\
         query = ['''\nFROM logs-system.auth-* | WHERE event.outcome == \"failure\" | STATS n = count(*) BY source.ip\n''']\n\n\
         [[test]]\nname = \"three failures\"\nnow = \"2024-12-10T12:00:00Z\"\nquery = 1\nraw = [\"x\"]\nexpect_count = 1\n",
    )
    .unwrap();
    // Ours with a misspelt key: unreadable, with the line.
    std::fs::write(
        s.path("hunts/misspelt.toml"),
        "[hunt]\nuuid = \"5b0f3d7e-8a51-4c55-9a43-0c9c2a8f6a12\"\nname = \"n\"\ndescription = \"d\"\nlanguage_version = 1\nquerys = []\n",
    )
    .unwrap();
    snapshot(
        "hunt_validate",
        &s.run(&["hunt", "validate", &s.path("hunts")]),
    );
}

/// `hunt list`: the bundled library, one line per hunt with its id, file, techniques and tests.
#[test]
fn hunt_list_shows_the_bundled_library() {
    snapshot("hunt_list", &Session::new().run(&["hunt", "list"]));
}

/// `hunt show`: a hunt as an analyst reads it before running it, found by its file name.
#[test]
fn hunt_show_prints_the_hypothesis_queries_and_notes() {
    snapshot(
        "hunt_show",
        &Session::new().run(&["hunt", "show", "event_logs_cleared"]),
    );
}

/// `hunt test`: a case that passes, and two that fail (a count, a row), each failure with what
/// differs and the rows the query gave; log text in rows escaped.
#[test]
fn hunt_test_reports_what_differs_and_the_rows() {
    let s = Session::new();
    std::fs::create_dir_all(s.path("hunts")).unwrap();
    let line = |second: u32, user: &str, ip: &str| {
        format!("\"Dec 09 08:00:{second:02} LabSZ sshd[1]: Failed password for {user} from {ip} port 5000{second} ssh2\"")
    };
    // The last account name carries an escape sequence, as a hostile client can send.
    let raw = [
        line(1, "root", "192.0.2.10"),
        line(2, "root", "192.0.2.10"),
        line(3, "adm\\u001b[31min", "198.51.100.7"),
    ]
    .join(", ");
    let case = |name: &str, expect: &str| {
        format!("\n[[test]]\nname = \"{name}\"\nnow = \"2024-12-10T12:00:00Z\"\nparser = \"syslog\"\nraw = [{raw}]\n{expect}\n")
    };
    let text = [
        r#"[hunt]
uuid = "5b0f3d7e-8a51-4c55-9a43-0c9c2a8f6a11"
name = "Failed logons by source"
description = "Sources failing to log on."
mitre = ["T1110"]
language_version = 1
query = ['''
FROM logs-system.auth-* | WHERE event.outcome == "failure"
| STATS n = count(*) BY source.ip, user.name | SORT n DESC, source.ip
''']
"#
        .to_string(),
        case(
            "two sources",
            r#"expect_rows = [{ "source.ip" = "192.0.2.10", n = 2 }, { "source.ip" = "198.51.100.7", n = 1 }]"#,
        ),
        case("a count that is wrong", "expect_count = 3"),
        case(
            "a row that is wrong",
            "ordered = true\nexpect_rows = [{ \"source.ip\" = \"192.0.2.10\", n = 2 }, { \"source.ip\" = \"198.51.100.7\", n = 5 }]",
        ),
    ]
    .concat();
    std::fs::write(s.path("hunts/failures.toml"), text).unwrap();
    snapshot(
        "hunt_test_failures",
        &s.run(&["hunt", "test", &s.path("hunts")]),
    );
}

/// `hunt promote --dry-run`: the rule a filter hunt becomes (its id fresh each time, shown as a
/// marker), the notes on what the translation decided, the carried case run; then a refusal.
#[test]
fn hunt_promote_prints_the_rule_and_runs_the_carried_cases() {
    let s = Session::new();
    let fresh_id = regex::Regex::new(r#"(?m)^id = "[0-9a-f-]{36}""#).unwrap();
    let promoted = s.run(&["hunt", "promote", "event_logs_cleared", "--dry-run"]);
    let refused = s.run(&[
        "hunt",
        "promote",
        "rare_executables_across_hosts",
        "--dry-run",
    ]);
    snapshot(
        "hunt_promote",
        &format!(
            "{}{refused}",
            fresh_id.replace_all(&promoted, "id = \"[FRESH UUID]\"")
        ),
    );
}

/// The session's `lake/`, of these auth log lines (as 2024).
fn auth_lake(s: &Session, lines: &str) {
    std::fs::write(s.path("auth.log"), lines).unwrap();
    let ingest = s.run(&[
        "ingest",
        &s.path("auth.log"),
        "--year",
        "2024",
        "--lake",
        &s.path("lake"),
    ]);
    assert!(ingest.contains("exit: 0"), "{ingest}");
}

/// `hunt schedule --once`: the range each hunt covered and what it raised, a second run with
/// nothing due, a run after downtime naming the gap it filled; `--status`: each hunt's record.
#[test]
fn hunt_schedule_reports_ranges_alerts_and_gaps() {
    let s = Session::new();
    auth_lake(
        &s,
        "Dec 10 07:10:00 web1 sshd[100]: Failed password for root from 192.0.2.10 port 50000 ssh2\n\
         Dec 10 07:20:00 web1 sshd[101]: Accepted password for deploy from 198.51.100.7 port 50001 ssh2\n\
         Dec 10 09:40:00 web1 sshd[102]: Failed password for admin from 203.0.113.5 port 50002 ssh2\n",
    );
    let (lake, db) = (s.path("lake"), s.path("s.db"));
    let run = |now: &str| {
        s.run(&[
            "hunt",
            "schedule",
            "new_ssh_source_addresses",
            "event_logs_cleared",
            "--once",
            "--lake",
            &lake,
            "--db",
            &db,
            "--look-back",
            "1h",
            "--now",
            now,
        ])
    };
    let transcript = [
        run("2024-12-10T08:00:00Z"),
        run("2024-12-10T08:00:00Z"),
        run("2024-12-10T10:00:00Z"),
        s.run(&["hunt", "schedule", "--status", "--db", &db]),
    ]
    .concat();
    snapshot("hunt_schedule", &transcript);
}

/// `hunt run --case`: the rows as a CSV file of evidence on the case (its SHA-256, the query, the
/// row count), a timeline entry; `case show` and the report list the evidence.
#[test]
fn hunt_rows_become_evidence_on_a_case() {
    let s = Session::new();
    auth_lake(
        &s,
        "Dec 10 07:10:00 web1 sshd[100]: Failed password for root from 192.0.2.10 port 50000 ssh2\n\
         Dec 10 07:20:00 web1 sshd[101]: Accepted password for deploy from 198.51.100.7 port 50001 ssh2\n",
    );
    let db = s.path("c.db");
    let transcript = [
        s.run(&["case", "--db", &db, "new", "--title", "Odd SSH sources"]),
        s.run(&[
            "hunt",
            "run",
            "new_ssh_source_addresses",
            "--lake",
            &s.path("lake"),
            "--now",
            "2024-12-10T12:00:00Z",
            "--case",
            "1",
            "--db",
            &db,
            "--evidence-dir",
            &s.path("evidence"),
        ]),
        s.run(&["case", "--db", &db, "show", "1"]),
    ]
    .concat();
    snapshot("hunt_evidence", &transcript);
    let file = std::fs::read_dir(s.path("evidence/case-1"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let text = std::fs::read_to_string(&file).unwrap();
    assert_eq!(text.lines().count(), 3, "a header and two rows: {text}");
    // A changed evidence file is called out.
    std::fs::write(&file, text.replace("192.0.2.10", "192.0.2.11")).unwrap();
    let shown = s.run(&["case", "--db", &db, "show", "1"]);
    assert!(shown.contains("CHANGED since it was attached"), "{shown}");
    std::fs::remove_file(&file).unwrap();
    assert!(s
        .run(&["case", "--db", &db, "show", "1"])
        .contains("  MISSING"));
}

/// `hunt sigma`: a Sigma rule over the lake of the bundled samples, a match per row (time, rule,
/// host, event code, where the event was read), a rule that cannot run named, and the counts.
#[test]
fn hunt_sigma_runs_sigma_rules_over_the_lake() {
    let s = Session::new();
    let ingest = s.run(&[
        "ingest",
        "samples",
        "--year",
        "2024",
        "--lake",
        &s.path("lake"),
    ]);
    assert!(ingest.contains("exit: 0"), "{ingest}");
    std::fs::create_dir_all(s.path("sigma")).unwrap();
    std::fs::write(
        s.path("sigma/powershell.yml"),
        "title: PowerShell Started\nid: 6b8b3c1e-2d4a-4f6b-9c7e-1a2b3c4d5e60\nstatus: test\nlevel: low\n\
         logsource:\n  product: windows\n  category: process_creation\n\
         detection:\n  selection:\n    Image|endswith: '\\powershell.exe'\n  condition: selection\n",
    )
    .unwrap();
    std::fs::write(
        s.path("sigma/rename.yml"),
        "title: Renamed To DLL\nid: 6b8b3c1e-2d4a-4f6b-9c7e-1a2b3c4d5e61\nstatus: test\nlevel: low\n\
         logsource:\n  product: windows\n  category: file_rename\n\
         detection:\n  selection:\n    TargetFilename|endswith: '.dll'\n  condition: selection\n",
    )
    .unwrap();
    snapshot(
        "hunt_sigma",
        &s.run(&["hunt", "sigma", &s.path("sigma"), "--lake", &s.path("lake")]),
    );
}

/// `user`, `key` and `role`: a user added with a password from standard input, refusals (short
/// password, unknown role, taken name), the list; a key made (printed once), listed, revoked; the
/// roles, built in and custom by inheritance.
#[test]
fn users_keys_and_roles() {
    let s = Session::new();
    let db = s.path("u.db");
    let mut transcript = [
        s.run_with_input(
            &[
                "user",
                "add",
                "ana",
                "--role",
                "admin",
                "--password-stdin",
                "--db",
                &db,
            ],
            Some("a long passphrase\n"),
        ),
        s.run_with_input(
            &["user", "add", "bob", "--password-stdin", "--db", &db],
            Some("short\n"),
        ),
        s.run_with_input(
            &[
                "user",
                "add",
                "bob",
                "--role",
                "wizard",
                "--password-stdin",
                "--db",
                &db,
            ],
            Some("a long passphrase\n"),
        ),
        s.run_with_input(
            &["user", "add", "ana", "--password-stdin", "--db", &db],
            Some("a long passphrase\n"),
        ),
        s.run(&["user", "disable", "ana", "--db", &db]),
        s.run(&["user", "list", "--db", &db]),
        s.run(&[
            "key",
            "create",
            "--name",
            "soar",
            "--role",
            "analyst",
            "--expires",
            "1d",
            "--db",
            &db,
        ]),
    ]
    .concat();
    let key = regex::Regex::new(r"secops_([0-9a-f]{8})_[0-9a-f]{64}").unwrap();
    let id = key.captures(&transcript).expect("a key printed")[1].to_string();
    transcript = key
        .replace_all(&transcript, "secops_[KEY ID]_[SECRET]")
        .into_owned();
    transcript.push_str(&s.run(&["key", "list", "--db", &db]));
    transcript.push_str(&s.run(&["key", "revoke", &id, "--db", &db]));
    transcript.push_str(&s.run(&["key", "list", "--db", &db]));
    std::fs::write(
        s.path("roles.toml"),
        "[role.tier1]\ndescription = \"first-line analysts\"\ninherits = [\"viewer\"]\npermissions = [\"alerts:triage\"]\n",
    )
    .unwrap();
    transcript.push_str(&s.run(&["role", "list", "--roles", &s.path("roles.toml")]));
    // Each change above is in the audit log, chained.
    transcript.push_str(&s.run(&["audit", "verify", "--db", &db]));
    // The head goes to a file and to syslog (a UDP listener here).
    let listener = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    listener
        .set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    let to = listener.local_addr().unwrap().to_string();
    let head = s.run(&[
        "audit",
        "head",
        "--db",
        &db,
        "--write",
        &s.path("head"),
        "--syslog",
        &to,
    ]);
    assert!(head.contains("exit: 0"), "{head}");
    let mut datagram = [0u8; 2048];
    let n = listener.recv(&mut datagram).unwrap();
    let message = String::from_utf8_lossy(&datagram[..n]).into_owned();
    let written = std::fs::read_to_string(s.path("head")).unwrap();
    assert!(message.starts_with("<109>1 "), "{message}");
    assert!(
        message.ends_with(&format!(" audit-head - audit head {}", written.trim())),
        "{message}"
    );
    transcript.push_str(&s.run(&["audit", "verify", "--db", &db, "--head", &s.path("head")]));
    let export = s.run(&["audit", "export", "--db", &db]);
    assert_eq!(
        export.matches("\"event.dataset\":\"secops.audit\"").count(),
        4,
        "{export}"
    );
    snapshot("users_keys_roles", &transcript.replace(&id, "[KEY ID]"));
}

#[test]
fn serve_lists_its_routes_and_their_permissions() {
    snapshot("serve_routes", &Session::new().run(&["serve", "--routes"]));
}

#[test]
fn formats_lists_every_reader() {
    snapshot("formats", &Session::new().run(&["formats"]));
}

// ---- rules --------------------------------------------------------------------------------------------

#[test]
fn rules_list_shows_the_bundled_pack() {
    snapshot("rules_list", &Session::new().run(&["rules", "list"]));
}

#[test]
fn rules_list_names_rejected_files_and_why() {
    let s = Session::new();
    let dir = s.dir.path().join("rules");
    std::fs::create_dir(&dir).unwrap();
    std::fs::write(dir.join("not_toml.toml"), "[rule\nid = 1\n").unwrap();
    std::fs::write(
        dir.join("bad_sigma.yml"),
        "title: Bad\nlogsource:\n  product: windows\ndetection:\n  sel:\n    Image|nosuchmodifier: x\n  condition: sel\n",
    )
    .unwrap();
    let dir = dir.to_string_lossy().into_owned();
    snapshot(
        "rules_list_rejected",
        &s.run(&["rules", "list", "--rules", &dir, "--rejected"]),
    );
}

#[test]
fn rules_test_runs_every_bundled_case() {
    snapshot(
        "rules_test",
        &Session::new().run(&["rules", "test", "--now", "2026-11-22T00:00:00Z"]),
    );
}

/// One bundled rule broken three ways: a technique of another tactic, an expired exception, a failing
/// case.
fn broken_rule(s: &Session) -> String {
    let broken = secops_testkit::broken_brute_force_rule();
    let dir = s.dir.path().join("broken");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("credential_access_broken.toml"), broken).unwrap();
    dir.to_string_lossy().into_owned()
}

#[test]
fn rules_validate_reports_for_people_scripts_and_code_annotations() {
    let s = Session::new();
    let dir = broken_rule(&s);
    for format in ["human", "json", "sarif"] {
        snapshot(
            &format!("rules_validate_{format}"),
            &s.run(&[
                "rules",
                "validate",
                &dir,
                "--attack",
                "crates/attack/tests/data",
                "--now",
                "2026-11-22T00:00:00Z",
                "--format",
                format,
            ]),
        );
    }
}

#[test]
fn rules_validate_passes_the_bundled_pack_against_real_attack_data() {
    let Some(attack) = shared("corpus/attack") else {
        return;
    };
    let s = Session::new();
    snapshot(
        "rules_validate_pack",
        &s.run(&[
            "rules",
            "validate",
            "--attack",
            &attack.to_string_lossy(),
            "--now",
            "2026-11-22T00:00:00Z",
            "--no-tests",
            "--fields-from",
            "samples",
            "--year",
            "2023",
        ])
        .replace(&attack.to_string_lossy().into_owned(), "[ATTACK]"),
    );
}

#[test]
fn rules_fp_charts_alerts_per_million_events() {
    snapshot(
        "rules_fp",
        &Session::new().run(&[
            "rules", "fp", "--benign", "samples", "--year", "2023", "--budget", "50000",
        ]),
    );
}

#[test]
fn rules_stats_reads_alert_files() {
    let s = Session::new();
    let out = Command::new(env!("CARGO_BIN_EXE_secops"))
        .args(["detect", "samples", "--year", "2023", "--output", "jsonl"])
        .current_dir(repo_root())
        .output()
        .unwrap();
    let alerts = s.path("alerts.jsonl");
    std::fs::write(&alerts, &out.stdout).unwrap();
    snapshot(
        "rules_stats",
        &s.run(&["rules", "stats", &alerts, "--min-alerts", "1"]),
    );
}

#[test]
fn rules_new_writes_a_scaffold() {
    let s = Session::new();
    let dir = s.path("new");
    let transcript = s.run(&[
        "rules",
        "new",
        "--name",
        "Suspicious Thing",
        "--type",
        "threshold",
        "--tactic",
        "credential-access",
        "--dir",
        &dir,
        "--category",
        "authentication",
    ]);
    let written: Vec<PathBuf> = walk(Path::new(&dir));
    let mut text = transcript;
    for file in &written {
        text.push_str(&s.file(file));
    }
    let uuid =
        regex::Regex::new(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")
            .unwrap();
    // The new rule is dated today (a date the bundled rules may share, which the normalizing keeps).
    let today = chrono::Utc::now().format("%Y-%m-%d").to_string();
    let text = text.replace(&format!("\"{today}\""), "\"[TODAY]\"");
    snapshot("rules_new", &uuid.replace_all(&text, "[UUID]"));
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

// ---- coverage ---------------------------------------------------------------------------------------

#[test]
fn coverage_prints_the_matrix_and_writes_layer_heatmap_and_table() {
    let Some(attack) = shared("corpus/attack") else {
        return;
    };
    let s = Session::new();
    let out = s.path("coverage");
    let mut text = s.run(&[
        "coverage",
        "--attack",
        &attack.to_string_lossy(),
        "--out",
        &out,
        "--platform",
        "Linux",
        "--gaps",
        "--logs",
        "samples/auth.log",
        "--year",
        "2023",
    ]);
    for file in walk(Path::new(&out)) {
        text.push_str(&s.file(&file));
    }
    snapshot(
        "coverage",
        &text.replace(&attack.to_string_lossy().into_owned(), "[ATTACK]"),
    );
}

// ---- sigma --------------------------------------------------------------------------------------------

#[test]
fn sigma_export_prints_native_rules_as_sigma() {
    snapshot(
        "sigma_export",
        &Session::new().run(&[
            "sigma",
            "export",
            "rules/credential_access/credential_access_ssh_password_brute_force.toml",
            "rules/execution/execution_windows_encoded_powershell.toml",
        ]),
    );
}

#[test]
fn sigma_convert_prints_a_native_rule() {
    let Some(sigma) = shared("corpus/sigma") else {
        return;
    };
    let attack = shared("corpus/attack").unwrap_or_default();
    let rule =
        sigma.join("rules/windows/process_creation/proc_creation_win_whoami_all_execution.yml");
    let s = Session::new();
    snapshot(
        "sigma_convert",
        &s.run(&[
            "sigma",
            "convert",
            &rule.to_string_lossy(),
            "--attack",
            &attack.to_string_lossy(),
        ])
        .replace(&sigma.to_string_lossy().into_owned(), "[SIGMA]")
        .replace(&attack.to_string_lossy().into_owned(), "[ATTACK]"),
    );
}

// ---- store, alerts, cases -----------------------------------------------------------------------------

#[test]
fn alerts_and_cases_as_an_analyst_works_them() {
    let s = Session::new();
    let db = s.path("secops.db");
    let with_db = |args: &[&str]| s.run_on(&db, args);
    let mut text = with_db(&["detect", "samples", "--year", "2023", "--store"]);
    text += &with_db(&["alerts", "list", "--limit", "8"]);
    text += &with_db(&["alerts", "list", "--output", "jsonl", "--limit", "2"]);
    text += &with_db(&["alerts", "show", "2"]);
    text += &with_db(&["alerts", "ack", "1", "2", "--as", "tester"]);
    text += &with_db(&["alerts", "close", "27", "--resolution", "false_positive"]);
    snapshot("alerts", &text);

    let mut text = with_db(&["case", "new", "--from-alerts", "1,2", "--as", "tester"]);
    text += &with_db(&[
        "case",
        "new",
        "--title",
        "Phishing <script>alert(1)</script> | report",
        "--severity",
        "low",
        "--assignee",
        "bob",
    ]);
    text += &with_db(&["case", "group", "--window", "2h"]);
    text += &with_db(&["case", "move", "1", "recovery"]);
    text += &with_db(&["case", "move", "1", "triage"]);
    text += &with_db(&["case", "assign", "1", "carol"]);
    text += &with_db(&["case", "task", "1", "--add", "Reset the account's password"]);
    text += &with_db(&["case", "task", "1", "40", "in_progress"]);
    text += &with_db(&["case", "note", "1", "Seen from the bastion only."]);
    text += &with_db(&["case", "observable", "1", "ip-src", "203.0.113[.]44"]);
    text += &with_db(&[
        "case",
        "timeline",
        "1",
        "2024-01-01T00:00:00Z",
        "First access",
        "--technique",
        "T1078",
    ]);
    text += &with_db(&[
        "case",
        "close",
        "1",
        "--resolution",
        "true_positive_with_impact",
    ]);
    text += &with_db(&["case", "task", "1", "40", "done"]);
    text += &with_db(&[
        "case",
        "close",
        "1",
        "--resolution",
        "true_positive_with_impact",
        "--root-cause",
        "A weak password on svc-backup",
        "--lessons",
        "Lock service accounts out of interactive logins",
    ]);
    text += &with_db(&["case", "reopen", "1", "--reason", "The attacker came back"]);
    text += &with_db(&["case", "list"]);
    text += &with_db(&["case", "show", "1"]);
    snapshot("cases", &text);

    let report = with_db(&["case", "report", "1"]);
    snapshot("case_report_markdown", &report);
    let html = with_db(&["case", "report", "2", "--format", "html"]);
    snapshot("case_report_html", &html);
    let metrics =
        with_db(&["case", "metrics"]) + &with_db(&["case", "metrics", "--format", "json"]);
    let seconds = regex::Regex::new(r#"_seconds":\d+"#).unwrap();
    snapshot(
        "case_metrics",
        &seconds.replace_all(&durations(&metrics), r#"_seconds":[N]"#),
    );
}

// ---- intelligence -------------------------------------------------------------------------------------

#[test]
fn intel_imports_lists_and_exports_indicators() {
    let Some(intel) = shared("corpus/intel") else {
        return;
    };
    let s = Session::new();
    let db = s.path("secops.db");
    let with_db = |args: &[&str]| s.run_on(&db, args);
    let feodo = intel.join("abusech/feodo-ipblocklist-2024-04-04.csv");
    let stix = intel.join("stix/indicator-for-c2-ip-address.json");
    let mut text = with_db(&["intel", "import", &feodo.to_string_lossy()]);
    text += &with_db(&["intel", "import", &stix.to_string_lossy()]);
    text += &with_db(&["intel", "list", "--limit", "6"]);
    text += &with_db(&["intel", "search", "85.239"]);
    text += &with_db(&["intel", "show", "2"]);
    text += &with_db(&["intel", "stats"]);
    text += &with_db(&["intel", "export", "--format", "csv"]);
    text += &with_db(&[
        "intel",
        "retro-hunt",
        "samples",
        "--year",
        "2023",
        "--since",
        "1d",
    ]);
    snapshot(
        "intel",
        &text.replace(&intel.to_string_lossy().into_owned(), "[INTEL]"),
    );
}

#[test]
fn rules_validate_points_sarif_at_the_token_of_a_bad_sigma_condition() {
    let s = Session::new();
    let dir = s.dir.path().join("sigma");
    std::fs::create_dir(&dir).unwrap();
    std::fs::write(
        dir.join("bad_condition.yml"),
        "title: Bad condition\nid: 5b8f3c1e-2d4a-4f6b-9c7e-1a2b3c4d5e6f\nstatus: test\nlogsource:\n  \
         product: windows\n  category: process_creation\ndetection:\n  selection:\n    \
         Image|endswith: '\\whoami.exe'\n  condition: selection and not filter\nlevel: low\n",
    )
    .unwrap();
    let dir = dir.to_string_lossy().into_owned();
    for format in ["human", "sarif"] {
        snapshot(
            &format!("rules_validate_sigma_{format}"),
            &s.run(&[
                "rules",
                "validate",
                &dir,
                "--no-tests",
                "--now",
                "2026-11-22T00:00:00Z",
                "--format",
                format,
            ]),
        );
    }
}

#[test]
fn entity_check_and_show_explain_each_mapping() {
    let s = Session::new();
    let inventory = s.path("inventory.toml");
    std::fs::write(
        &inventory,
        "format = 1\n\n[[host]]\nid = \"ws-0042\"\nnames = [\"ws-0042.corp.example\"]\ncriticality = \"high\"\n\
         owner = \"alice\"\ntags = [\"workstation\"]\n\n[[host]]\nid = \"dc01\"\nnames = [\"DC01.corp.example\"]\n\
         addresses = [{ ip = \"10.0.0.10\" }]\ncriticality = \"critical\"\nexposure = \"internal\"\n\n[[user]]\n\
         id = \"alice.smith\"\naliases = ['CORP\\alice', \"alice@corp.example\"]\nvip = true\n\n[[network]]\n\
         name = \"office\"\ncidr = \"10.0.0.0/24\"\n",
    )
    .unwrap();
    let broken = s.path("broken.toml");
    std::fs::write(
        &broken,
        "[[host]]\nid = \"web1\"\naddresses = [{ ip = \"10.0.0.300\" }]\n\n[[host]]\nid = \"web1\"\n",
    )
    .unwrap();
    // Zeek DHCP: 10.0.0.5 leased to WS-A for an hour, later to ws-b.
    std::fs::write(
        s.path("dhcp.log"),
        "{\"_path\":\"dhcp\",\"ts\":\"2026-12-01T09:00:00Z\",\"uids\":[\"C1\"],\"client_addr\":\"10.0.0.5\",\"server_addr\":\"10.0.0.1\",\"mac\":\"00:11:22:33:44:55\",\"host_name\":\"WS-A\",\"assigned_addr\":\"10.0.0.5\",\"lease_time\":3600.0,\"msg_types\":[\"REQUEST\",\"ACK\"]}\n\
         {\"_path\":\"dhcp\",\"ts\":\"2026-12-01T10:30:00Z\",\"uids\":[\"C2\"],\"client_addr\":\"10.0.0.5\",\"server_addr\":\"10.0.0.1\",\"mac\":\"66:77:88:99:aa:bb\",\"host_name\":\"ws-b\",\"assigned_addr\":\"10.0.0.5\",\"lease_time\":3600.0,\"msg_types\":[\"REQUEST\",\"ACK\"]}\n",
    )
    .unwrap();
    // Security 4624 from WS-0042 at 10.0.0.7, and a Kerberos service ticket (4769) for alice from there.
    let security = |id: u32, record: u32, time: &str, data: &str| {
        format!(
            "{{\"Event\":{{\"System\":{{\"Provider\":{{\"#attributes\":{{\"Name\":\"Microsoft-Windows-Security-Auditing\"}}}},\"EventID\":{id},\"TimeCreated\":{{\"#attributes\":{{\"SystemTime\":\"{time}\"}}}},\"EventRecordID\":{record},\"Channel\":\"Security\",\"Computer\":\"DC01.corp.example\"}},\"EventData\":{{{data}}}}}}}\n"
        )
    };
    std::fs::write(
        s.path("security.jsonl"),
        security(4624, 1, "2026-12-01T09:05:00Z", "\"TargetUserName\":\"alice\",\"TargetDomainName\":\"CORP\",\"LogonType\":3,\"WorkstationName\":\"WS-0042\",\"IpAddress\":\"::ffff:10.0.0.7\",\"IpPort\":\"49712\"")
            + &security(4769, 2, "2026-12-01T09:06:00Z", "\"TargetUserName\":\"alice@CORP.EXAMPLE\",\"ServiceName\":\"cifs/dc01\",\"IpAddress\":\"::ffff:10.0.0.7\",\"Status\":\"0x0\""),
    )
    .unwrap();
    // The same kind of inventory as CSV exports, one kind per file; a folder of them reads as one.
    std::fs::create_dir_all(s.path("inventory.d")).unwrap();
    std::fs::write(
        s.path("inventory.d/hosts.csv"),
        "host,names,ip,from,until,owner,criticality,exposure,vip,tags\n\
         ws-0042,ws-0042.corp.example,,,,alice,high,,,workstation\n\
         dc01,DC01.corp.example,10.0.0.10,,,,critical,internal,,\n",
    )
    .unwrap();
    std::fs::write(
        s.path("inventory.d/users.csv"),
        "user,aliases,criticality,vip,tags\nalice.smith,CORP\\alice|alice@corp.example,,true,\n",
    )
    .unwrap();
    std::fs::write(
        s.path("more-users.csv"),
        "user,aliases,criticality,vip,tags\nasmith,alice@CORP.example,highest,maybe,\n",
    )
    .unwrap();
    let mut text = s.run(&["entity", "check", &inventory]);
    text += &s.run(&["entity", "check", &broken]);
    text += &s.run(&["entity", "check", &s.path("inventory.d")]);
    text += &s.run(&[
        "entity",
        "check",
        &s.path("inventory.d"),
        &s.path("more-users.csv"),
    ]);
    text += &s.run(&[
        "entity",
        "show",
        "alice@corp.example",
        "10.0.0.10",
        "--inventory",
        &s.path("inventory.d"),
    ]);
    text += &s.run(&[
        "entity",
        "show",
        "10.0.0.5",
        "WS-0042",
        "CORP\\alice",
        "alice",
        "10.0.0.10",
        "--inventory",
        &inventory,
        "--logs",
        &s.path("dhcp.log"),
        "--logs",
        &s.path("security.jsonl"),
        "--at",
        "2026-12-01T10:45:00Z",
    ]);
    snapshot("entity", &text);
}

/// Hunts read what the store keeps besides events (alerts, indicators), the inventory's assets and
/// the warninglists, as tables for FROM, LOOKUP JOIN and ENRICH; a table with nothing to read it
/// from is an error saying so.
#[test]
fn hunts_read_the_store_the_inventory_and_the_lists_as_tables() {
    let s = Session::new();
    let db = s.path("secops.db");
    let lake = s.path("lake");
    s.run(&["detect", "samples", "--year", "2024", "--db", &db]);
    s.run(&["ingest", "samples", "--year", "2024", "--lake", &lake]);
    let inventory = s.path("inventory.toml");
    std::fs::write(
        &inventory,
        "format = 1\n\n[[host]]\nid = \"bastion\"\nnames = [\"bastion.corp.example\"]\ncriticality = \"high\"\n\
         owner = \"platform\"\ntags = [\"ssh\"]\n\n[[host]]\nid = \"dc01\"\nnames = [\"DC01.corp.example.com\"]\n\
         criticality = \"critical\"\nexposure = \"internal\"\n",
    )
    .unwrap();
    let listed = s.path("listed.txt");
    std::fs::write(&listed, "198.51.100.23\n203.0.113.61\n").unwrap();
    let mut text = s.run(&["intel", "import", &listed, "--db", &db]);
    let hunt = |query: &str, extra: &[&str]| {
        let mut args = vec!["hunt", "run", query, "--lake", &lake, "--db", &db];
        args.extend_from_slice(extra);
        s.run(&args)
    };
    let by_severity = hunt(
        "FROM alerts | STATS alerts = count(*), rules = count_distinct(rule.id) BY rule.severity | SORT rule.severity",
        &[],
    );
    // As many alerts as the store lists.
    let stored = s
        .run(&[
            "alerts", "list", "--db", &db, "--limit", "10000", "--output", "jsonl",
        ])
        .lines()
        .filter(|l| l.starts_with('{'))
        .count();
    let counted = hunt("FROM alerts | STATS n = count(*)", &["--output", "csv"]);
    assert!(
        counted.contains(&format!("\nn\n{stored}\n")),
        "{counted} vs {stored}"
    );
    text += &by_severity;
    // The rules' own tags, one row per tag.
    text += &hunt(
        "FROM alerts | MV_EXPAND rule.tags | WHERE rule.tags LIKE \"Data Source: *\"\n\
         | STATS alerts = count(*) BY rule.tags | SORT rule.tags",
        &[],
    );
    text += &hunt(
        "FROM events | WHERE host.name IS NOT NULL\n\
         | ENRICH assets ON host.name WITH criticality = asset.criticality, asset.owner\n\
         | STATS events = count(*) BY host.name, criticality, asset.owner | SORT host.name",
        &["--inventory", &inventory],
    );
    text += &hunt(
        "FROM events | WHERE source.ip IS NOT NULL\n\
         | ENRICH indicators ON source.ip WITH threat.indicator.type, threat.indicator.state\n\
         | WHERE threat.indicator.state IS NOT NULL\n\
         | STATS events = count(*) BY source.ip, threat.indicator.type, threat.indicator.state | SORT source.ip",
        &[],
    );
    text += &hunt(
        "FROM events | WHERE host.name == \"bastion\" | LOOKUP JOIN alerts ON host.name\n\
         | STATS pairs = count(*), events = count_distinct(_id) BY rule.name | SORT rule.name",
        &[],
    );
    text += &hunt(
        "FROM assets | KEEP asset.identifier, asset.kind, asset.id, asset.criticality | SORT asset.identifier",
        &["--inventory", &inventory],
    );
    text += &hunt("FROM assets | KEEP asset.identifier", &[]);
    text += &s.run(&[
        "hunt",
        "run",
        "FROM cases | KEEP case.number",
        "--lake",
        &lake,
        "--db",
        &s.path("missing.db"),
    ]);
    snapshot("hunt_tables", &text);
}

/// `secops status`: what a `secops run` process last wrote, as a person reads it.
#[test]
fn live_status() {
    let session = Session::new();
    let state = session.dir.path().join("state");
    std::fs::create_dir(&state).unwrap();
    let source = |name: &str, kind: &str, received: u64, dropped: u64, refused: u64| {
        serde_json::json!({
            "name": name, "kind": kind, "received": received, "events": received - refused,
            "rejected": 0, "received_per_second": received as f64 / 10.0,
            "events_per_second": received as f64 / 10.0, "oversize": refused, "malformed": 0,
            "dropped_full": dropped, "dropped_eps": 0, "refused_senders": 0, "kernel_drops": 0,
            "connections_open": 2, "connections_refused": 0, "idle_closed": 0, "items_refused": 0,
            "spool_bytes": 4096, "torn_records": 0
        })
    };
    let status = serde_json::json!({
        "name": "edge", "pid": 4242, "started_at": 1_735_689_600_000_000_000i64,
        "written_at": 1_735_693_200_000_000_000i64, "events": 1_250_000,
        "events_per_second": 48_211.5, "late": 12, "alerts": 311, "commits": 14_400,
        "commit_failures": 1, "checkpoint_at": 1_735_693_199_750_000_000i64,
        "checkpoint_age_seconds": 0.25, "checkpoint_bytes": 183_224, "latency_p50_ms": 256,
        "latency_p99_ms": 512, "latency_samples": 311,
        "sources": [
            source("edge-udp", "syslog-udp", 800_000, 120, 3),
            source("shippers \u{1b}[31mred", "http", 400_000, 0, 7),
            source("auth", "tail", 50_000, 0, 0)
        ],
        "listeners": [["edge-udp", "0.0.0.0:5514"]],
        "late_rules": [
            ["Successful su to root", 3], ["SSH brute force \u{1b}[2J", 12], ["a", 1], ["b", 1],
            ["c", 1], ["d", 1]
        ]
    });
    std::fs::write(state.join("status.json"), status.to_string()).unwrap();
    let state = state.to_string_lossy().into_owned();
    insta::assert_snapshot!(session.run(&["status", "--state", &state]));
}

/// `secops status` with `[bus]` (a status saved with `--json`, shown again with `--saved`): the
/// ingest process's publishing, every unit's owner, lag and checkpoint age, every worker's rates and
/// the bus's share of its time; a worker name with terminal escapes shown inert.
#[test]
fn bus_status() {
    let session = Session::new();
    // Frames out and in; events published to the events and re-key partitions (ingest), re-keyed
    // events run (a worker); seconds in the bus's work and in rules (ingest: selecting).
    let bus_counters = |frames: (u64, u64),
                        sent: (u64, u64),
                        rekeyed: u64,
                        seconds: (f64, f64),
                        units: &[&str]| {
        serde_json::json!({
            "frames_out": frames.0, "bytes_out": frames.0 * 9_000, "frames_in": frames.1,
            "bytes_in": frames.1 * 9_000, "rekeyed": rekeyed, "published": sent.0,
            "forwarded": sent.1, "held": 0, "retries": 1, "bus_seconds": seconds.0,
            "rules_seconds": seconds.1, "commit_seconds": 1.5,
            "rekeyed_per_second": rekeyed as f64 / 100.0, "units": units
        })
    };
    let status = |name: &str, events: u64, alerts: u64, bus: serde_json::Value| {
        serde_json::json!({
            "name": name, "pid": 4242, "started_at": 1_735_689_600_000_000_000i64,
            "written_at": 1_735_693_200_000_000_000i64, "events": events,
            "events_per_second": events as f64 / 100.0, "late": 0, "alerts": alerts,
            "commits": 720, "commit_failures": 0, "checkpoint_at": 1_735_693_199_750_000_000i64,
            "checkpoint_age_seconds": 0.25, "checkpoint_bytes": 2_048, "latency_p50_ms": 128,
            "latency_p99_ms": 512, "latency_samples": alerts, "sources": [], "listeners": [],
            "bus": bus
        })
    };
    let unit = |unit: &str, owner: Option<&str>, pending: Option<u64>, age: Option<f64>| {
        serde_json::json!({
            "unit": unit, "owner": owner, "pending": pending, "unacknowledged": pending.map(|_| 0),
            "checkpoint_age_seconds": age, "checkpoints": age.map(|_| 240)
        })
    };
    let report = serde_json::json!({
        "process": status(
            "edge", 1_000_000, 0,
            bus_counters((6_200, 0), (600_000, 90_000), 0, (4.0, 12.0), &[])
        ),
        "bus": {
            "name": "SECOPS", "servers": ["nats://10.0.0.5:4222", "nats://10.0.0.6:4222"],
            "partitions": 2, "key": "host.name",
            "events_stream": [5_000, 45_000_000, 5_000], "rekey_stream": [1_200, 3_000_000, 1_200],
            "units": [
                unit("events.0", Some("w1"), Some(3), Some(0.4)),
                unit("events.1", Some("w2\u{1b}[31m"), Some(0), Some(0.2)),
                unit("rekey.0", Some("w1"), Some(0), Some(0.4)),
                unit("rekey.1", None, None, None)
            ],
            "workers": [
                ["w1", status("w1", 360_000, 40, bus_counters(
                    (0, 4_200), (0, 0), 90_000, (6.0, 30.0), &["events.0", "rekey.0"]
                ))],
                ["w2\u{1b}[31m", status("w2", 240_000, 25, bus_counters(
                    (0, 2_000), (0, 0), 0, (3.0, 20.0), &["events.1"]
                ))],
                ["w3", null]
            ]
        }
    });
    let path = session.path("status.json");
    std::fs::write(&path, report.to_string()).unwrap();
    insta::assert_snapshot!(session.run(&["status", "--saved", &path]));
}

#[test]
fn vuln_imports_prioritises_and_works_findings() {
    let Some(vuln) = shared("corpus/vuln") else {
        return;
    };
    let s = Session::new();
    let db = s.path("secops.db");
    // A fixed time long past: no date in the transcript is near the day the test runs.
    let with_db = |args: &[&str]| {
        let mut all = args.to_vec();
        all.extend(["--now", "2025-06-01T00:00:00Z"]);
        s.run_on(&db, &all)
    };
    let file = |name: &str| vuln.join(name).to_string_lossy().into_owned();
    let inventory = s.path("inventory.toml");
    std::fs::write(
        &inventory,
        "format = 1\n\n[[host]]\nid = \"testphp\"\nnames = [\"testphp.vulnweb.com\"]\n\
         criticality = \"high\"\nexposure = \"internet\"\nowner = \"web team\"\n\n\
         [[image]]\nname = \"ghcr.io/aquasecurity/trivy-test-images\"\ncriticality = \"low\"\nowner = \"platform team\"\n",
    )
    .unwrap();
    // A Trivy report with one damaged entry (no package name) and a value made to look like a
    // terminal escape: rejected with its place, the rest imported, the text inert.
    let mut damaged: serde_json::Value =
        serde_json::from_slice(&std::fs::read(vuln.join("trivy/alpine-310.json")).unwrap())
            .unwrap();
    let entries = damaged["Results"][0]["Vulnerabilities"]
        .as_array_mut()
        .unwrap();
    entries[1].as_object_mut().unwrap().remove("PkgName");
    entries[2]["Title"] = serde_json::Value::from("evil \u{1b}[31mred\u{1b}[0m title");
    let damaged_path = s.path("damaged.json");
    std::fs::write(&damaged_path, serde_json::to_vec(&damaged).unwrap()).unwrap();
    let mut text = with_db(&[
        "vuln",
        "import",
        &file("trivy/alpine-310.json"),
        &file("grype/dd-many_vulns_with_epss_values.json"),
        &file("sarif/dd-gitleaks_7.5.0.sarif"),
        &file("nessus/dd-nessus_with_cvssv3.nessus"),
        "--inventory",
        &inventory,
    ]);
    text += &with_db(&[
        "vuln",
        "refresh",
        &file("kev/known_exploited_vulnerabilities.json"),
        &file("ssvc/cisa_bod_26_04_1_0_0.csv"),
        "--inventory",
        &inventory,
    ]);
    text += &with_db(&["vuln", "list", "--limit", "8"]);
    text += &with_db(&["vuln", "list", "--kev"]);
    text += &with_db(&["vuln", "show", "45"]);
    text += &with_db(&[
        "vuln",
        "accept",
        "5",
        "--owner",
        "platform team",
        "--reason",
        "not exposed",
        "--until",
        "30d",
    ]);
    text += &with_db(&[
        "vuln",
        "close",
        "6",
        "7",
        "--as",
        "false-positive",
        "--note",
        "test data",
    ]);
    text += &with_db(&["vuln", "close", "6", "--as", "fixed"]);
    text += &with_db(&[
        "vuln", "list", "--status", "all", "--output", "jsonl", "--limit", "2",
    ]);
    text += &with_db(&[
        "vuln",
        "list",
        "--tool",
        "sarif:gitleaks",
        "--output",
        "csv",
        "--limit",
        "2",
    ]);
    text += &with_db(&["vuln", "import", &damaged_path]);
    text += &with_db(&["vuln", "list", "--id", "CVE-2019-1549"]);
    text += &with_db(&["vuln", "show", "3"]);
    let vex = s.path("vex.json");
    std::fs::write(
        &vex,
        r#"{"@context": "https://openvex.dev/ns/v0.2.0", "@id": "https://example.org/vex/1",
            "author": "platform team", "timestamp": "2025-06-01T00:00:00Z", "version": 1,
            "statements": [{"vulnerability": {"name": "CVE-2019-1549"},
              "products": [{"@id": "pkg:apk/alpine/libcrypto1.1"}], "status": "not_affected",
              "justification": "vulnerable_code_not_in_execute_path"}]}"#,
    )
    .unwrap();
    text += &with_db(&["vuln", "import", &vex]);
    text += &with_db(&["vuln", "sla", "--inventory", &inventory, "--raise"]);
    text += &with_db(&["vuln", "sla", "--raise"]);
    text += &with_db(&[
        "vuln",
        "report",
        "--top",
        "5",
        "--days",
        "3",
        "--inventory",
        &inventory,
    ]);
    let html = s.path("report.html");
    text += &with_db(&[
        "vuln", "report", "--format", "html", "--top", "3", "--days", "3", "-o", &html,
    ]);
    text += &s.file(std::path::Path::new(&html));
    text += &s.run_on(&db, &["case", "new", "--from-finding", "45"]);
    text += &s.run_on(&db, &["case", "new", "--from-finding", "45"]);
    text += &s.run_on(&db, &["case", "show", "1"]);
    // Findings are a table hunts read (here with an empty lake: no events needed).
    let lake = s.path("lake");
    std::fs::create_dir_all(&lake).unwrap();
    text += &s.run(&[
        "hunt",
        "run",
        "FROM findings | WHERE finding.status == \"open\"\n\
         | STATS findings = count(*) BY vulnerability.severity, vulnerability.kev\n\
         | SORT vulnerability.severity, vulnerability.kev",
        "--lake",
        &lake,
        "--db",
        &db,
    ]);
    snapshot(
        "vuln",
        &text.replace(&vuln.to_string_lossy().into_owned(), "[VULN]"),
    );
}

#[test]
fn respond_evaluates_guards_runs_and_explains() {
    let Some(linux) = shared("corpus/linux") else {
        return;
    };
    let s = Session::new();
    let db = s.path("secops.db");
    let config = s.path("respond.toml");
    std::fs::write(
        &config,
        r#"[guards]
never = ["112.95.230.3"]

[[connector]]
name = "firewall-ticket"
kind = "command"
program = "/usr/bin/python3"
args = ["-c", "import sys; print(' '.join(sys.argv[1:]))"]

[[action]]
id = "block-source"
name = "Ask the firewall team to block the source"
target = "ip"
connector = "firewall-ticket"
params = { options = ["--queue=soc"], args = ["block", "{{ target }}", "{{ alert.rule.name }}"] }
inverse = "unblock-source"
duration = "1h"
rate_per_action = "3/h"

[[action]]
id = "unblock-source"
target = "ip"
connector = "firewall-ticket"
params = { args = ["unblock", "{{ target }}"] }

[[workflow]]
id = "contain-ssh-brute-force"
on = "alert"
rules = ["SSH Password Brute Force from a Single Source"]
steps = [{ action = "block-source" }]
"#,
    )
    .unwrap();
    let log = linux.join("OpenSSH_2k.log").to_string_lossy().into_owned();
    let mut text = s
        .run_on(
            &db,
            &[
                "detect", &log, "--year", "2015", "--store", "--output", "jsonl",
            ],
        )
        .lines()
        .take(2)
        .map(|l| format!("{l}\n"))
        .collect::<String>();
    let respond = |args: &[&str], now: &str| {
        let mut all = vec!["respond"];
        all.extend_from_slice(args);
        all.extend(["--config", &config, "--now", now]);
        s.run_on(&db, &all)
    };
    let t0 = "2025-06-01T00:00:00Z";
    text += &respond(&["check"], t0);
    text += &respond(&["simulate", "--since", "5000d"], t0);
    text += &respond(&["evaluate"], t0);
    text += &respond(&["tick"], t0);
    text += &respond(&["show", "1"], t0);
    text += &respond(&["why", "3"], t0);
    text += &respond(&["run", "block-source", "--target", "10.1.2.3"], t0);
    text += &respond(&["rollback", "1"], t0);
    let later = "2025-06-01T01:00:30Z";
    text += &respond(&["tick"], later);
    text += &respond(
        &[
            "run",
            "block-source",
            "--target",
            "45.33.32.156",
            "--alert",
            "3",
            "--dry-run",
        ],
        later,
    );
    text += &respond(&["list", "--limit", "8"], later);
    // How long a program took varies from run to run.
    let took = regex::Regex::new(r#""duration_ms": \d+"#).unwrap();
    snapshot("respond", &took.replace_all(&text, "\"duration_ms\": [MS]"));
}
