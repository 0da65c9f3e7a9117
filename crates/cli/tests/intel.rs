//! Threat intelligence end to end, as a user runs it: the shared samples import with counts and
//! reasons; a threat_match rule fires on a log line holding an imported indicator, and not when a
//! warninglist covers the value, nor after the indicator expired; a TAXII 2.1 collection is pulled
//! page by page from a real server (OASIS's medallion on loopback) and its indicators match a test
//! log; a retro-hunt finds past sightings of new indicators.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers

use secops_testkit::shared;
use std::io::Write as _;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};

fn secops(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_secops"))
        .args(args)
        .env_remove("SECOPS_DB")
        .env_remove("SECOPS_DATABASE_URL")
        .env_remove("SECOPS_WARNINGLISTS")
        .current_dir(dir)
        .output()
        .unwrap()
}

fn text(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn the_shared_samples_import_with_counts_and_reasons() {
    let Some(intel) = shared("corpus/intel") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let out = secops(
        dir.path(),
        &[
            "intel",
            "import",
            intel.join("stix").to_str().unwrap(),
            intel.join("misp-events").to_str().unwrap(),
            intel.join("misp-feed").to_str().unwrap(),
            intel.join("abusech").to_str().unwrap(),
            "--db",
            "intel.db",
            "--warninglists",
            intel.join("warninglists").to_str().unwrap(),
        ],
    );
    let (stdout, stderr) = text(&out);
    // Records that are not indicators make the exit status 3, as for logs.
    assert_eq!(out.status.code(), Some(3), "{stdout}{stderr}");
    for line in [
        "stix: 14 indicator(s) (ip 7, domain 3, md5 3, sha256 1)",
        "misp-feed: 130 indicator(s) (ip 17, domain 94, url 5, sha256 14)",
        "misp-events: 16 indicator(s) (domain 3, md5 4, sha1 5, sha256 4)",
        "abusech: 28 indicator(s) (ip 28)",
    ] {
        assert!(stdout.contains(line), "{line:?} missing from\n{stdout}");
    }
    assert!(
        stdout.contains("comparisons joined by AND: a compound indicator"),
        "{stdout}"
    );
    assert!(
        stdout.contains("the comparison MATCHES is not an equality"),
        "{stdout}"
    );
    assert!(stdout.contains("lacks part 2"), "{stdout}");
    assert!(
        stdout.contains(
            "warninglisted (kept, never matched): ip 10.0.0.0: List of RFC 1918 CIDR blocks"
        ),
        "{stdout}"
    );
    assert!(stdout.contains("file skipped in a folder walk"), "{stdout}");
    let stats = text(&secops(dir.path(), &["intel", "stats", "--db", "intel.db"])).0;
    assert!(stats.starts_with("169 indicator(s)"), "{stats}");
    let export = text(&secops(
        dir.path(),
        &["intel", "export", "--format", "csv", "--db", "intel.db"],
    ))
    .0;
    assert_eq!(export.lines().count(), 170);
}

const BUNDLE: &str = r#"{"type": "bundle", "id": "bundle--5d0092c5-5f74-4287-9642-33f4c354e56d", "objects": [
 {"type": "indicator", "spec_version": "2.1", "id": "indicator--a1c0a6b4-8b63-4f4b-9d3b-4c0ad0b1e001",
  "created": "2026-11-30T00:00:00Z", "modified": "2026-11-30T00:00:00Z", "pattern_type": "stix",
  "pattern": "[ipv4-addr:value = '185.220.101.47']", "valid_from": "2026-11-30T00:00:00Z", "confidence": 85,
  "name": "C2 server"},
 {"type": "indicator", "spec_version": "2.1", "id": "indicator--a1c0a6b4-8b63-4f4b-9d3b-4c0ad0b1e002",
  "created": "2026-11-30T00:00:00Z", "modified": "2026-11-30T00:00:00Z", "pattern_type": "stix",
  "pattern": "[ipv4-addr:value = '8.8.8.0/24']", "valid_from": "2026-11-30T00:00:00Z"},
 {"type": "indicator", "spec_version": "2.1", "id": "indicator--a1c0a6b4-8b63-4f4b-9d3b-4c0ad0b1e003",
  "created": "2026-11-30T00:00:00Z", "modified": "2026-11-30T00:00:00Z", "pattern_type": "stix",
  "pattern": "[ipv4-addr:value = '10.0.0.5']", "valid_from": "2026-11-30T00:00:00Z"},
 {"type": "indicator", "spec_version": "2.1", "id": "indicator--a1c0a6b4-8b63-4f4b-9d3b-4c0ad0b1e004",
  "created": "2019-01-01T00:00:00Z", "modified": "2019-01-01T00:00:00Z", "pattern_type": "stix",
  "pattern": "[ipv4-addr:value = '91.92.109.126']", "valid_from": "2019-01-01T00:00:00Z",
  "valid_until": "2020-01-01T00:00:00Z"},
 {"type": "indicator", "spec_version": "2.1", "id": "indicator--a1c0a6b4-8b63-4f4b-9d3b-4c0ad0b1e005",
  "created": "2026-11-30T00:00:00Z", "modified": "2026-11-30T00:00:00Z", "pattern_type": "stix",
  "pattern": "[domain-name:value = 'evil-c2.example']", "valid_from": "2026-11-30T00:00:00Z"}
]}"#;

/// Zeek JSON: connections from 10.0.0.5 to the indicator, to a public resolver inside an indicator's
/// network, to an expired indicator; and a DNS query under the indicator domain.
const ZEEK: &str = r#"{"_path":"conn","ts":"2026-11-30T10:00:00Z","uid":"C1","id.orig_h":"10.0.0.5","id.orig_p":50001,"id.resp_h":"185.220.101.47","id.resp_p":443,"proto":"tcp","conn_state":"SF"}
{"_path":"conn","ts":"2026-11-30T10:00:05Z","uid":"C2","id.orig_h":"10.0.0.5","id.orig_p":50002,"id.resp_h":"8.8.8.8","id.resp_p":53,"proto":"udp","conn_state":"SF"}
{"_path":"conn","ts":"2026-11-30T10:00:10Z","uid":"C3","id.orig_h":"10.0.0.5","id.orig_p":50003,"id.resp_h":"91.92.109.126","id.resp_p":8080,"proto":"tcp","conn_state":"SF"}
{"_path":"dns","ts":"2026-11-30T10:00:15Z","uid":"D1","id.orig_h":"10.0.0.5","id.orig_p":50004,"id.resp_h":"10.0.0.2","id.resp_p":53,"proto":"udp","query":"cdn.evil-c2.example","qtype_name":"A","rcode_name":"NOERROR"}
"#;

/// The clock of the tests that judge indicators: the samples' indicators are dated 2026-11-30.
const NOW: &str = "2026-12-01T00:00:00Z";

#[test]
fn threat_match_fires_on_an_indicator_but_not_on_warninglisted_or_expired_ones() {
    let Some(warninglists) = shared("corpus/intel/warninglists") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("bundle.json"), BUNDLE).unwrap();
    std::fs::write(dir.path().join("zeek.json"), ZEEK).unwrap();
    let lists = warninglists.to_str().unwrap();
    let import = secops(
        dir.path(),
        &[
            "intel",
            "import",
            "bundle.json",
            "--db",
            "x.db",
            "--now",
            NOW,
            "--warninglists",
            lists,
        ],
    );
    let (stdout, stderr) = text(&import);
    assert_eq!(import.status.code(), Some(0), "{stdout}{stderr}");
    assert!(
        stdout.contains("5 indicator(s) (ip 4, domain 1); 5 new"),
        "{stdout}"
    );
    assert!(
        stdout.contains(
            "warninglisted (kept, never matched): ip 10.0.0.5: List of RFC 1918 CIDR blocks"
        ),
        "{stdout}"
    );
    assert!(stdout.contains("1 already expired"), "{stdout}");
    let active = text(&secops(
        dir.path(),
        &["intel", "list", "--active", "--db", "x.db", "--now", NOW],
    ))
    .0;
    assert_eq!(
        active.lines().count(),
        4,
        "header and three active indicators:\n{active}"
    );
    let detect = secops(
        dir.path(),
        &[
            "detect",
            "zeek.json",
            "--db",
            "x.db",
            "--now",
            NOW,
            "--warninglists",
            lists,
            "--output",
            "jsonl",
        ],
    );
    let (alerts, stderr) = text(&detect);
    assert_eq!(detect.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("indicators: 3 for matching (3 from the store"),
        "{stderr}"
    );
    let alerts: Vec<serde_json::Value> = alerts
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let matched: Vec<(String, String)> = alerts
        .iter()
        .flat_map(|a| {
            a["threat.enrichments"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .map(|e| {
            (
                e["matched.field"].as_str().unwrap().to_string(),
                e["matched.atomic"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        matched,
        vec![
            ("destination.ip".to_string(), "185.220.101.47".to_string()),
            (
                "dns.question.name".to_string(),
                "cdn.evil-c2.example".to_string()
            ),
        ],
        "{alerts:#?}"
    );
    let first = &alerts[0]["threat.enrichments"][0];
    assert_eq!(first["indicator.provider"], "bundle.json");
    assert_eq!(first["indicator.confidence"], "High");
    assert_eq!(first["indicator.ip"], "185.220.101.47");
    assert_eq!(
        first["indicator.id"],
        "indicator--a1c0a6b4-8b63-4f4b-9d3b-4c0ad0b1e001"
    );
    assert!(
        stderr.contains("warninglists: 1 indicator match(es) suppressed"),
        "{stderr}"
    );
    // Matches are sightings: the indicator's last-seen time is the connection's.
    assert!(stderr.contains("intel: 2 indicator(s) sighted"), "{stderr}");
    let shown = text(&secops(
        dir.path(),
        &["intel", "show", "1", "--db", "x.db", "--now", NOW],
    ))
    .0;
    assert!(
        shown.contains("last seen    2026-11-30T10:00:00Z"),
        "{shown}"
    );
    // Without the warninglists at match time, the public resolver inside the /24 would alert.
    let unlisted = secops(
        dir.path(),
        &[
            "detect",
            "zeek.json",
            "--db",
            "x.db",
            "--output",
            "jsonl",
            "--now",
            NOW,
        ],
    );
    assert!(text(&unlisted).0.contains("\"matched.atomic\":\"8.8.8.8\""));
    // Straight from the file, without a store, the same judgement applies.
    let direct = secops(
        dir.path(),
        &[
            "detect",
            "zeek.json",
            "--intel",
            "bundle.json",
            "--warninglists",
            lists,
            "--output",
            "jsonl",
            "--now",
            NOW,
        ],
    );
    let (direct_alerts, direct_err) = text(&direct);
    assert_eq!(direct_alerts.lines().count(), 2, "{direct_alerts}");
    assert!(
        direct_err.contains("2 expired, warninglisted or not for detection left out"),
        "{direct_err}"
    );
}

const RULE: &str = r#"
[metadata]
creation_date = "2026-12-01"
updated_date = "2026-12-01"
maturity = "experimental"

[rule]
id = "a3a0d7f5-1f0e-4f53-9a57-1f3f2c4b6e01"
name = "Proxy Request or Download Matching an Indicator"
description = "A proxied URL or a downloaded file's hash is on an indicator list."
author = ["secops"]
license = "Apache-2.0"
type = "threat_match"
language = "kql"
query = "url.full:* or file.hash.sha256:*"
severity = "high"
risk_score = 73

[rule.log_source]
product = "proxy"

[[rule.threat_mapping]]
[[rule.threat_mapping.entries]]
field = "url.full"
type = "mapping"
value = "threat.indicator.url.full"

[[rule.threat_mapping]]
[[rule.threat_mapping.entries]]
field = "file.hash.sha256"
type = "mapping"
value = "threat.indicator.file.hash.sha256"
"#;

const PROXY: &str = r#"{"@timestamp":"2026-11-30T11:00:00Z","event.module":"proxy","source.ip":"10.0.0.7","url.full":"http://x4z9arb.cn/4712"}
{"@timestamp":"2026-11-30T11:00:01Z","event.module":"proxy","source.ip":"10.0.0.7","url.full":"http://benign.example/"}
{"@timestamp":"2026-11-30T11:00:02Z","event.module":"proxy","source.ip":"10.0.0.7","file.hash.sha256":"EF537F25C895BFA782526529A9B63D97AA631564D5D789C2B765448C8635FB6C"}
"#;

/// medallion, OASIS's reference TAXII 2.1 server, on a free loopback port; killed when dropped.
struct Medallion(Child, u16);

impl Drop for Medallion {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn medallion(data: &Path, dir: &Path) -> Option<Medallion> {
    let found = Command::new("medallion")
        .arg("--help")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    secops_testkit::require(found.is_ok_and(|s| s.success()).then_some(()), || {
        "the TAXII test needs medallion (pip install medallion)".into()
    })?;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let config = dir.join("medallion.json");
    let mut file = std::fs::File::create(&config).unwrap();
    // Two objects a page: the pull must follow `next`.
    write!(
        file,
        r#"{{"backend": {{"module": "medallion.backends.memory_backend", "module_class": "MemoryBackend", "filename": {}}}, "users": {{"admin": "Password0"}}, "taxii": {{"max_page_size": 2}}}}"#,
        serde_json::json!(data.to_str().unwrap())
    )
    .unwrap();
    let child = Command::new("medallion")
        .args([
            "--host",
            "127.0.0.1",
            "--port",
            &port.to_string(),
            config.to_str().unwrap(),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let server = Medallion(child, port);
    // Python and Flask take a few seconds to start on a busy machine.
    for _ in 0..300 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Some(server);
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    panic!("medallion did not start on port {port}");
}

#[test]
fn a_taxii_collection_is_pulled_with_paging_and_its_indicators_match() {
    let Some(data) = shared("corpus/intel/taxii/medallion-default_data.json") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let Some(server) = medallion(&data, dir.path()) else {
        return;
    };
    let url = format!("http://127.0.0.1:{}", server.1);
    let pull = |extra: &[&str]| {
        let mut args = vec![
            "intel",
            "taxii",
            "pull",
            url.as_str(),
            "--user",
            "admin",
            "--password",
            "Password0",
            "--collection",
            "91a7b528-80eb-42ed-a74d-c6fbd5a26116",
            "--api-root",
            "/trustgroup1/",
            "--db",
            "t.db",
        ];
        args.extend_from_slice(extra);
        text(&secops(dir.path(), &args))
    };
    let (first, err) = pull(&[]);
    assert!(first.contains("collection 91a7b528-80eb-42ed-a74d-c6fbd5a26116: 5 object(s) in 3 page(s) since the beginning"), "{first}{err}");
    assert!(
        first.contains("2 indicator(s) (url 1, sha256 1); 2 new"),
        "{first}"
    );
    // The next pull asks only for what was added since.
    let (second, _) = pull(&[]);
    assert!(
        second.contains("0 object(s) in 1 page(s) since 2017-"),
        "{second}"
    );
    // A wrong password is a clear error.
    let denied = secops(
        dir.path(),
        &[
            "intel",
            "taxii",
            "pull",
            &url,
            "--user",
            "admin",
            "--password",
            "nope",
            "--db",
            "t.db",
        ],
    );
    assert_eq!(denied.status.code(), Some(1));
    assert!(text(&denied).1.contains("HTTP 401"), "{}", text(&denied).1);
    // The pulled indicators match a proxy log.
    std::fs::create_dir(dir.path().join("rules")).unwrap();
    std::fs::write(
        dir.path()
            .join("rules/command_and_control_proxy_indicator.toml"),
        RULE,
    )
    .unwrap();
    std::fs::write(dir.path().join("proxy.jsonl"), PROXY).unwrap();
    let detect = secops(
        dir.path(),
        &[
            "detect",
            "proxy.jsonl",
            "--rules",
            "rules",
            "--db",
            "t.db",
            "--output",
            "jsonl",
            // The collection's indicators date from 2014-2017: judged as of then.
            "--now",
            "2015-01-01T00:00:00Z",
        ],
    );
    let (alerts, stderr) = text(&detect);
    assert_eq!(alerts.lines().count(), 2, "{alerts}{stderr}");
    assert!(
        alerts.contains("\"matched.atomic\":\"http://x4z9arb.cn/4712\""),
        "{alerts}"
    );
    assert!(alerts.contains("\"indicator.provider\":\"taxii:/trustgroup1/collections/91a7b528-80eb-42ed-a74d-c6fbd5a26116\""), "{alerts}");
    assert!(
        alerts.contains("\"matched.field\":\"file.hash.sha256\""),
        "{alerts}"
    );
}

#[test]
fn a_retro_hunt_finds_past_sightings_of_new_indicators() {
    let dir = tempfile::tempdir().unwrap();
    // Last month's connections, and an indicator list that arrives today.
    std::fs::write(
        dir.path().join("old.json"),
        "{\"_path\":\"conn\",\"ts\":\"2026-10-02T08:00:00Z\",\"uid\":\"C9\",\"id.orig_h\":\"10.0.0.9\",\"id.orig_p\":50100,\"id.resp_h\":\"192.0.2.77\",\"id.resp_p\":443,\"proto\":\"tcp\",\"conn_state\":\"SF\"}\n\
         {\"_path\":\"conn\",\"ts\":\"2026-10-02T08:05:00Z\",\"uid\":\"C10\",\"id.orig_h\":\"10.0.0.9\",\"id.orig_p\":50101,\"id.resp_h\":\"192.0.2.80\",\"id.resp_p\":443,\"proto\":\"tcp\",\"conn_state\":\"SF\"}\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("new.txt"), "# C2 list\n192.0.2.77\n").unwrap();
    let import = secops(dir.path(), &["intel", "import", "new.txt", "--db", "h.db"]);
    assert_eq!(import.status.code(), Some(0), "{:?}", text(&import));
    let hunt = secops(
        dir.path(),
        &[
            "intel",
            "retro-hunt",
            "old.json",
            "--since",
            "1d",
            "--db",
            "h.db",
            "--record",
        ],
    );
    let (stdout, stderr) = text(&hunt);
    assert_eq!(hunt.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("retro-hunt: 1 indicator(s) new or updated since"),
        "{stderr}"
    );
    assert!(stdout.contains("2026-10-02T08:00:00Z  Network Connection to an Address on an Indicator List  destination.ip=192.0.2.77 (ip 192.0.2.77, new.txt)"), "{stdout}");
    assert_eq!(stdout.lines().count(), 1, "{stdout}");
    assert!(
        stderr.contains("2 event(s) searched, 1 past sighting(s)"),
        "{stderr}"
    );
    assert!(stderr.contains("store: 1 alert(s) recorded"), "{stderr}");
    // Indicators older than --since are not part of the hunt.
    let later = secops(
        dir.path(),
        &[
            "intel",
            "retro-hunt",
            "old.json",
            "--since",
            "2099-01-01T00:00:00Z",
            "--db",
            "h.db",
        ],
    );
    assert!(
        text(&later).1.contains("0 past sighting(s)"),
        "{}",
        text(&later).1
    );
}

/// STIX 2.1 indicators with their producer's dates: an address last modified in 2015, and a file
/// named by two hashes AND-ed in one observation (STIX 2.1 section 9: each hash names the file).
const DATED: &str = r#"{"type": "bundle", "id": "bundle--7a1c4f7e-0c5e-4d33-9d1a-2f1f6a9b0c01", "objects": [
 {"type": "indicator", "spec_version": "2.1", "id": "indicator--7a1c4f7e-0c5e-4d33-9d1a-2f1f6a9b0c02",
  "created": "2015-03-01T00:00:00Z", "modified": "2015-03-02T00:00:00Z", "pattern_type": "stix",
  "pattern": "[ipv4-addr:value = '198.51.100.23']", "valid_from": "2015-03-01T00:00:00Z"},
 {"type": "indicator", "spec_version": "2.1", "id": "indicator--7a1c4f7e-0c5e-4d33-9d1a-2f1f6a9b0c03",
  "created": "2026-11-20T00:00:00Z", "modified": "2026-11-20T00:00:00Z", "pattern_type": "stix",
  "pattern": "[file:hashes.'SHA-256' = 'aec070645fe53ee3b3763059376134f058cc337247c978add178b6ccdfb0019f' AND file:hashes.MD5 = '3773a88f65a5e780c8dff9cdc3a056f3']",
  "valid_from": "2026-11-20T00:00:00Z"}
]}"#;

/// A MISP event whose attribute was last changed on 2015-03-01 (`timestamp`, Unix seconds).
const MISP_DATED: &str = r#"{"Event": {"info": "Old C2", "date": "2015-03-01", "uuid": "5c1d3e0a-8f1e-4b8e-9d4a-0b6f2e1d7c01",
 "Attribute": [{"type": "ip-dst", "category": "Network activity", "value": "198.51.100.24", "to_ids": true,
  "uuid": "5c1d3e0a-8f1e-4b8e-9d4a-0b6f2e1d7c02", "timestamp": "1425168000"}]}}"#;

#[test]
fn decay_runs_from_the_sources_dates_and_a_reimport_does_not_revive() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("dated.json"), DATED).unwrap();
    std::fs::write(dir.path().join("event.json"), MISP_DATED).unwrap();
    let run = |args: &[&str], now: &str| {
        let mut all = args.to_vec();
        all.extend(["--db", "d.db", "--now", now]);
        text(&secops(dir.path(), &all))
    };
    let (first, err) = run(&["intel", "import", "dated.json", "event.json"], NOW);
    assert!(
        first.contains("dated.json: 3 indicator(s) (ip 1, md5 1, sha256 1); 3 new"),
        "{first}{err}"
    );
    assert!(first.contains("  split: dated.json: indicator--7a1c4f7e-0c5e-4d33-9d1a-2f1f6a9b0c03: one file's hashes AND-ed, one indicator per hash"), "{first}");
    // Both 2015 addresses are dated by their sources: decayed long before the import.
    assert_eq!(first.matches("1 already expired").count(), 2, "{first}");
    let active = |now: &str| run(&["intel", "list", "--active"], now).0;
    let listed = active(NOW);
    assert_eq!(
        listed.lines().count(),
        3,
        "header and the two hashes:\n{listed}"
    );
    assert!(!listed.contains("198.51.100.2"), "{listed}");
    // Importing them again does not bring them back.
    run(&["intel", "import", "dated.json", "event.json"], NOW);
    assert_eq!(active(NOW), listed);
    let shown = run(&["intel", "show", "1"], NOW).0;
    assert!(shown.contains("state        expired"), "{shown}");
    assert!(shown.contains("score now 0.0"), "{shown}");
    // As of a week after their sources dated them, both matched.
    let then = "2015-03-08T00:00:00Z";
    let listed = active(then);
    assert!(
        listed.contains("198.51.100.23") && listed.contains("198.51.100.24"),
        "{listed}"
    );
    let shown = run(&["intel", "show", "1"], then).0;
    assert!(shown.contains("state        active"), "{shown}");
    assert!(!shown.contains("score now 0.0"), "{shown}");
}

#[test]
fn a_retro_hunt_over_old_logs_never_turns_an_indicators_clock_back() {
    let dir = tempfile::tempdir().unwrap();
    let conn = |name: &str, ts: &str| {
        std::fs::write(
            dir.path().join(name),
            format!("{{\"_path\":\"conn\",\"ts\":\"{ts}\",\"uid\":\"C1\",\"id.orig_h\":\"10.0.0.9\",\"id.orig_p\":50100,\"id.resp_h\":\"192.0.2.77\",\"id.resp_p\":443,\"proto\":\"tcp\",\"conn_state\":\"SF\"}}\n"),
        )
        .unwrap();
    };
    conn("2015.json", "2015-06-01T08:00:00Z");
    conn("2014.json", "2014-06-01T08:00:00Z");
    conn("today.json", "2026-11-30T10:00:00Z");
    // A list without dates: its decay clock starts at the import.
    std::fs::write(dir.path().join("c2.txt"), "192.0.2.77\n").unwrap();
    let run = |args: &[&str]| {
        let mut all = args.to_vec();
        all.extend(["--db", "r.db", "--now", NOW]);
        text(&secops(dir.path(), &all))
    };
    run(&["intel", "import", "c2.txt"]);
    let hunt = |file: &str| {
        let (out, err) = run(&["intel", "retro-hunt", file, "--since", "30d", "--record"]);
        assert!(err.contains("1 past sighting(s)"), "{out}{err}");
    };
    let show = || run(&["intel", "show", "1"]).0;
    // A sighting in 2015 is recorded, but the indicator imported today stays fresh: score, state
    // and matching agree.
    hunt("2015.json");
    let shown = show();
    assert!(
        shown.contains("last seen    2015-06-01T08:00:00Z"),
        "{shown}"
    );
    assert!(shown.contains("state        active"), "{shown}");
    assert!(shown.contains("score now 80.0"), "{shown}");
    assert!(run(&["intel", "list", "--active"]).0.contains("192.0.2.77"));
    // An older sighting leaves the later one.
    hunt("2014.json");
    assert!(
        show().contains("last seen    2015-06-01T08:00:00Z"),
        "{}",
        show()
    );
    // Matched today, then found again in 2015's logs: last seen stays today's.
    let (alerts, err) = run(&["detect", "today.json", "--output", "jsonl"]);
    assert_eq!(alerts.lines().count(), 1, "{alerts}{err}");
    assert!(
        show().contains("last seen    2026-11-30T10:00:00Z"),
        "{}",
        show()
    );
    hunt("2015.json");
    let shown = show();
    assert!(
        shown.contains("last seen    2026-11-30T10:00:00Z"),
        "{shown}"
    );
    assert!(shown.contains("state        active"), "{shown}");
}
