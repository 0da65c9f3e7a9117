//! Incident response end to end, as an analyst drives it from the command line, on SQLite and on
//! PostgreSQL: detect brute force in the real OpenSSH log into the store, open a case from the alerts
//! with the brute-force playbook, work it through the lifecycle (an illegal move refused), finish its
//! tasks, try to close it without a root cause (refused), close it, and write the report and metrics.
//! The case event log holds every change and nothing that was refused.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn openssh() -> Option<PathBuf> {
    secops_testkit::shared("corpus/linux/OpenSSH_2k.log")
}

/// Runs secops against one store; `--db FILE` or `--database-url URL` comes first.
struct Secops {
    store: Vec<String>,
    dir: tempfile::TempDir,
}

impl Secops {
    /// Against a SQLite store in a folder of its own.
    fn sqlite() -> Secops {
        let dir = tempfile::tempdir().unwrap();
        Secops {
            store: vec![
                "--db".into(),
                dir.path().join("secops.db").display().to_string(),
            ],
            dir,
        }
    }

    fn run(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_secops"))
            .args(args)
            .args(&self.store)
            .env("SECOPS_USER", "ana")
            .env_remove("SECOPS_DB")
            .env_remove("SECOPS_DATABASE_URL")
            .current_dir(self.dir.path())
            .output()
            .unwrap()
    }

    /// Runs and expects success; returns standard output.
    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert_eq!(
            out.status.code(),
            Some(0),
            "secops {args:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// Runs and expects a refusal (exit 1); returns standard error.
    fn refused(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert_eq!(
            out.status.code(),
            Some(1),
            "secops {args:?} was not refused"
        );
        String::from_utf8(out.stderr).unwrap()
    }
}

fn incident_response(secops: &Secops, log: &Path) {
    // Detection into the store; a second run adds nothing.
    let log = log.to_str().unwrap();
    let first = secops.run(&[
        "detect", log, "--year", "2023", "--store", "--output", "jsonl",
    ]);
    assert_eq!(
        first.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let err = String::from_utf8_lossy(&first.stderr);
    assert!(
        err.contains("store: ") && err.contains("new alerts"),
        "{err}"
    );
    let again = secops.run(&[
        "detect", log, "--year", "2023", "--store", "--output", "jsonl",
    ]);
    assert!(
        String::from_utf8_lossy(&again.stderr)
            .contains("store: 0 new alerts, 0 folded into open alerts"),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
    let alerts: Vec<serde_json::Value> = secops
        .ok(&["alerts", "list", "--output", "jsonl", "--limit", "500"])
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let brute: Vec<String> = alerts
        .iter()
        .filter(|a| a["rule.name"] == "SSH Password Brute Force from a Single Source")
        .map(|a| a["store.id"].to_string())
        .collect();
    assert!(brute.len() >= 3, "{alerts:?}");

    // A case from the brute-force alerts, with the brute-force playbook picked from their technique.
    let opened = secops.ok(&["case", "new", "--from-alerts", &brute.join(",")]);
    assert!(
        opened.starts_with("case 1: Password guessing against remote logins"),
        "{opened}"
    );
    assert!(opened.contains("playbook brute_force"), "{opened}");
    let shown = secops.ok(&["case", "show", "1"]);
    assert!(
        shown.contains("Look for a successful login from the same sources"),
        "{shown}"
    );
    assert!(
        shown.contains("ip-src           183.62.140.253  (IoC)"),
        "{shown}"
    );

    // Triage and response, with an illegal move refused along the way.
    secops.ok(&["case", "assign", "1", "bob"]);
    secops.ok(&["case", "move", "1", "triage"]);
    let skip = secops.refused(&["case", "move", "1", "recovery"]);
    assert!(
        skip.contains("case 1 cannot move from triage to recovery: from triage it may move to in_progress, closed (with `case close`)"),
        "{skip}"
    );
    secops.ok(&["case", "move", "1", "in_progress"]);
    secops.ok(&["case", "move", "1", "containment"]);
    secops.ok(&[
        "case",
        "observable",
        "1",
        "ip-src",
        "203[.]0.113.9",
        "--description",
        "seen in firewall logs",
    ]);
    secops.ok(&[
        "case",
        "timeline",
        "1",
        "2023-12-10T11:10:00Z",
        "Sources blocked at the firewall",
        "--tactic",
        "TA0006",
        "--technique",
        "T1110.001",
    ]);
    secops.ok(&[
        "case",
        "note",
        "1",
        "No accepted login from the sources in auth logs.",
    ]);
    let tasks: Vec<String> = shown
        .lines()
        .skip_while(|l| !l.starts_with("tasks:"))
        .skip(1)
        .take_while(|l| !l.is_empty())
        .map(|l| l.split_whitespace().next().unwrap().to_string())
        .collect();
    assert_eq!(tasks.len(), 7, "{shown}");
    // Closing now is refused: wrong state, no root cause, open tasks, all named.
    let early = secops.refused(&[
        "case",
        "close",
        "1",
        "--resolution",
        "true_positive_without_impact",
        "--lessons",
        "x",
    ]);
    assert!(early.contains("it is in containment"), "{early}");
    assert!(early.contains("the root cause is missing"), "{early}");
    assert!(early.contains("is todo"), "{early}");
    for id in &tasks {
        secops.ok(&["case", "task", "1", id, "done"]);
    }
    for state in ["eradication", "recovery", "post_incident"] {
        secops.ok(&["case", "move", "1", state]);
    }
    let no_root_cause = secops.refused(&[
        "case",
        "close",
        "1",
        "--resolution",
        "true_positive_without_impact",
        "--lessons",
        "Rate-limit SSH and move it behind the VPN.",
    ]);
    assert!(
        no_root_cause.contains("case 1 cannot be closed: the root cause is missing"),
        "{no_root_cause}"
    );
    let closed = secops.ok(&[
        "case",
        "close",
        "1",
        "--resolution",
        "true_positive_without_impact",
        "--root-cause",
        "SSH with password logins was reachable from the internet.",
        "--lessons",
        "Key-only SSH, reachable only through the VPN; alert on the first burst.",
    ]);
    assert!(
        closed.contains("closed (true_positive_without_impact)"),
        "{closed}"
    );
    // The case's alerts closed with it.
    let still_open = secops.ok(&[
        "alerts", "list", "--status", "open", "--output", "jsonl", "--limit", "500",
    ]);
    assert!(
        brute
            .iter()
            .all(|id| !still_open.contains(&format!("\"store.id\":{id},"))),
        "{still_open}"
    );
    // A closed case takes no task changes.
    let late = secops.refused(&["case", "task", "1", &tasks[0], "todo"]);
    assert!(late.contains("case 1 is closed: reopen it first"), "{late}");

    // The event log: every change, in order, and nothing that was refused.
    let log = secops.ok(&["case", "show", "1"]);
    let kinds: Vec<&str> = log
        .lines()
        .skip_while(|l| !l.starts_with("log:"))
        .skip(1)
        .filter_map(|l| l.split_whitespace().nth(2))
        .collect();
    let count = |k: &str| kinds.iter().filter(|x| **x == k).count();
    assert_eq!(kinds.first(), Some(&"case_created"));
    assert_eq!(count("task_created"), 7);
    assert_eq!(count("alert_linked"), brute.len());
    assert_eq!(count("assignee_changed"), 1);
    assert_eq!(count("state_changed"), 6, "{log}");
    assert_eq!(count("task_status_changed"), 7);
    assert_eq!(count("comment_created"), 1);
    assert_eq!(count("timeline_entry_added"), brute.len() + 1);
    assert_eq!(kinds.last(), Some(&"case_closed"));
    assert!(
        log.contains("{\"state\":\"triage\"} -> {\"state\":\"in_progress\"}"),
        "{log}"
    );

    // The report, in Markdown and HTML.
    let md = secops.ok(&["case", "report", "1"]);
    for part in [
        "# Case 1: Password guessing against remote logins",
        "| State | closed |",
        "| Resolution | true_positive_without_impact |",
        "## Root cause\n\nSSH with password logins was reachable from the internet.",
        "| TA0006 | T1110 |",
        "Sources blocked at the firewall",
        "| 7 | post_incident | Record root cause and lessons learned | done |",
        "| ip-src | `203.0.113.9` | yes | seen in firewall logs |",
        "## Change log",
    ] {
        assert!(md.contains(part), "{part:?} missing from\n{md}");
    }
    secops.ok(&[
        "case",
        "report",
        "1",
        "--format",
        "html",
        "-o",
        "case1.html",
    ]);
    let html = std::fs::read_to_string(secops.dir.path().join("case1.html")).unwrap();
    assert!(html.starts_with("<!doctype html>"));
    assert!(html.contains("<h2>Lessons learned</h2><p class=\"text\">Key-only SSH, reachable only through the VPN; alert on the first burst.</p>"));
    assert!(html.contains("@media print"));

    // Metrics from the event log.
    let metrics: serde_json::Value =
        serde_json::from_str(&secops.ok(&["case", "metrics", "--format", "json"])).unwrap();
    let playbook = &metrics["playbook=brute_force"];
    assert_eq!(playbook["cases"], 1, "{metrics}");
    for metric in ["mttd", "mtta", "mttc", "mttr"] {
        assert_eq!(playbook[metric]["n"], 1, "{metric}: {metrics}");
        assert!(playbook[metric]["median_seconds"].as_i64().unwrap() >= 0);
    }
    // MTTD: from the first brute-force event (2023) to detection (now): years.
    assert!(playbook["mttd"]["median_seconds"].as_i64().unwrap() > 365 * 86_400);
    let table = secops.ok(&["case", "metrics"]);
    assert!(
        table.contains("severity=medium") && table.contains("MTTR"),
        "{table}"
    );

    // Reopened with a reason, and closable again.
    secops.ok(&[
        "case",
        "reopen",
        "1",
        "--reason",
        "The source came back from a new address.",
    ]);
    assert!(secops
        .ok(&["case", "list", "--open"])
        .contains("in_progress"));

    // Every change above is in the audit log, as the user who made it, and the chain holds.
    let verify = secops.ok(&["audit", "verify"]);
    assert!(verify.contains("the chain holds"), "{verify}");
    let export = secops.ok(&["audit", "export"]);
    let records: Vec<serde_json::Value> = export
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let actions: Vec<&str> = records
        .iter()
        .map(|r| r["event.action"].as_str().unwrap())
        .collect();
    for wanted in [
        "alert.created",
        "case.case_created",
        "alert.linked_to_case",
        "case.state_changed",
        "case.comment_created",
    ] {
        assert!(
            actions.iter().any(|a| a.contains(wanted)),
            "{wanted} not audited: {actions:#?}"
        );
    }
    assert!(records
        .iter()
        .all(|r| r["user.name"] == "ana" && r["source.address"] == "cli"));
    // A second detection run changed nothing, so it left no record.
    assert_eq!(
        actions
            .iter()
            .filter(|a| a.starts_with("alert.created"))
            .count(),
        1,
        "{actions:#?}"
    );
}

#[test]
fn incident_response_on_sqlite() {
    let Some(log) = openssh() else {
        return;
    };
    let secops = Secops::sqlite();
    incident_response(&secops, &log);
}

#[test]
fn incident_response_on_postgres() {
    let Some(log) = openssh() else {
        return;
    };
    let Some(url) = secops_testkit::postgres_url("incident response") else {
        return;
    };
    let mut client = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    let schema = format!("e2e_{}", std::process::id());
    let dir = tempfile::tempdir().unwrap();
    let secops = Secops {
        store: vec![
            "--database-url".into(),
            format!("{url}?schema={schema}"),
            "--audit-key".into(),
            dir.path().join("audit-key").display().to_string(),
        ],
        dir,
    };
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        incident_response(&secops, &log)
    }));
    client
        .batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
        .unwrap();
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}

#[test]
fn detect_can_open_cases_for_related_alerts_and_stats_read_the_store() {
    let Some(log) = openssh() else {
        return;
    };
    let secops = Secops::sqlite();
    let log = log.to_str().unwrap();
    let out = secops.run(&[
        "detect",
        log,
        "--year",
        "2023",
        "--open-cases",
        "--output",
        "jsonl",
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    // The log is one host's: its alerts fall into one case per burst (more than an hour apart).
    assert!(
        err.contains("store: 2 case(s) opened from related alerts"),
        "{err}"
    );
    let cases = secops.ok(&["case", "list"]);
    assert_eq!(
        cases
            .matches("Password guessing against remote logins")
            .count(),
        2,
        "{cases}"
    );
    // Every alert is in a case now, so grouping again opens nothing.
    let again = secops.run(&["case", "group"]);
    assert!(String::from_utf8_lossy(&again.stderr).contains("0 case(s) opened"));
    // Tuning statistics from the stored alerts.
    let stats = secops.ok(&["rules", "stats"]);
    assert!(stats.starts_with("22 alerts from 4 rules"), "{stats}");
    assert!(
        stats.contains("SSH Password Brute Force from a Single Source"),
        "{stats}"
    );
    // Suggestions leave out what the rule's own query fixes.
    assert!(stats.contains("host.name = \"LabSZ\""), "{stats}");
    assert!(!stats.contains("process.name = \"sshd\""), "{stats}");
    // Mistakes are named.
    let missing = secops.refused(&["alerts", "show", "9999"]);
    assert!(missing.contains("alert 9999 does not exist"), "{missing}");
    let state = secops.refused(&["case", "move", "1", "resolved"]);
    assert!(
        state.contains("unknown state \"resolved\": the states are new, triage"),
        "{state}"
    );
    let resolution = secops.run(&["case", "close", "1", "--resolution", "fixed"]);
    assert_eq!(resolution.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&resolution.stderr).contains("use true_positive_with_impact"));
}
