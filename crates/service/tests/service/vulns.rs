//! Vulnerability findings through the service into a real store: a re-import closes exactly what
//! the scan no longer reports and reopens what came back, another image's findings are never
//! touched, a risk acceptance pauses the SLA and ends at its expiry, and tools merge on one CVE.

use std::path::{Path, PathBuf};

use secops_event::Timestamp;
use secops_service::vulns::{self, ImportOptions};
use secops_service::{Actor, FixedClock, NoProgress};
use secops_store::{FindingFilter, Store};
use serde_json::Value;

const DAY: i64 = 86_400 * 1_000_000_000;

fn clock(day: i64) -> FixedClock {
    FixedClock(Timestamp::from_unix_nanos(
        Timestamp::parse_rfc3339("2026-12-01T00:00:00Z")
            .unwrap()
            .unix_nanos()
            + day * DAY,
    ))
}

/// The real Trivy report of alpine 3.10, its artifact renamed and its vulnerabilities replaced by
/// those `keep` selects (by index) from the original.
fn trivy_variant(dir: &Path, name: &str, artifact: &str, keep: &[usize]) -> PathBuf {
    let corpus = secops_testkit::shared("corpus/vuln").unwrap();
    let mut report: Value =
        serde_json::from_slice(&std::fs::read(corpus.join("trivy/alpine-310.json")).unwrap())
            .unwrap();
    let all = report["Results"][0]["Vulnerabilities"]
        .as_array()
        .unwrap()
        .clone();
    report["ArtifactName"] = Value::from(artifact);
    report["Metadata"]["RepoTags"] = Value::from(vec![artifact]);
    report["Metadata"]["Reference"] = Value::from(artifact);
    report["Results"][0]["Vulnerabilities"] =
        Value::from(keep.iter().map(|i| all[*i].clone()).collect::<Vec<_>>());
    let path = dir.join(name);
    std::fs::write(&path, serde_json::to_vec(&report).unwrap()).unwrap();
    path
}

/// The CVE ids of the original report's vulnerabilities, by index.
fn cves() -> Vec<String> {
    let corpus = secops_testkit::shared("corpus/vuln").unwrap();
    let report: Value =
        serde_json::from_slice(&std::fs::read(corpus.join("trivy/alpine-310.json")).unwrap())
            .unwrap();
    report["Results"][0]["Vulnerabilities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["VulnerabilityID"].as_str().unwrap().to_string())
        .collect()
}

fn sorted(ids: &[&String]) -> Vec<String> {
    let mut out: Vec<String> = ids.iter().map(|s| s.to_string()).collect();
    out.sort();
    out
}

fn import(store: &mut Store, files: &[PathBuf], day: i64) -> vulns::ImportReport {
    vulns::import(
        store,
        &ImportOptions {
            files: files.to_vec(),
            ..ImportOptions::default()
        },
        &Actor::user("analyst"),
        &clock(day),
        &NoProgress,
    )
    .unwrap()
}

/// The corpus's KEV catalog loaded on day 1 (the open findings prioritised again).
fn refresh_kev(store: &mut Store, corpus: &Path) {
    secops_service::vuln_refresh::refresh(
        store,
        &corpus
            .join("kev/known_exploited_vulnerabilities.json")
            .display()
            .to_string(),
        None,
        &Default::default(),
        &clock(1),
    )
    .unwrap();
}

fn open_ids(store: &mut Store, asset: &str) -> Vec<String> {
    let mut ids: Vec<String> = store
        .vuln_findings(&FindingFilter {
            statuses: vec!["open".into()],
            asset: Some(asset.into()),
            ..FindingFilter::default()
        })
        .unwrap()
        .into_iter()
        .map(|f| f.primary_id)
        .collect();
    ids.sort();
    ids
}

#[test]
fn a_reimport_closes_and_reopens_exactly_what_changed_in_its_own_scope_only() {
    if secops_testkit::shared("corpus/vuln").is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(&dir.path().join("s.db").display().to_string()).unwrap();
    let a = "registry.example/app-a:1";
    let b = "registry.example/app-b:1";
    // Day 0: image A with vulnerabilities 0, 1, 2; image B with 0, 1, 2, 3.
    let first = import(
        &mut store,
        &[
            trivy_variant(dir.path(), "a0.json", a, &[0, 1, 2]),
            trivy_variant(dir.path(), "b0.json", b, &[0, 1, 2, 3]),
        ],
        0,
    );
    let totals = first.totals();
    assert_eq!(
        (totals.read, totals.new, totals.merged, totals.rejected),
        (7, 7, 0, 0)
    );
    let cve = cves();
    assert_eq!(
        open_ids(&mut store, a),
        sorted(&[&cve[0], &cve[1], &cve[2]])
    );
    let b_before = open_ids(&mut store, b);
    assert_eq!(b_before, sorted(&[&cve[0], &cve[1], &cve[2], &cve[3]]));
    // Day 1: A rescanned without 0 and 2 and with 3 added: exactly 0 and 2 close, 3 is new; B is
    // untouched although its scan was not imported again.
    let second = import(
        &mut store,
        &[trivy_variant(dir.path(), "a1.json", a, &[1, 3])],
        1,
    );
    assert_eq!(second.closed(), 2);
    assert_eq!((second.files[0].new, second.files[0].merged), (1, 1));
    assert_eq!(open_ids(&mut store, a), sorted(&[&cve[1], &cve[3]]));
    assert_eq!(
        open_ids(&mut store, b),
        b_before,
        "image B's findings never close"
    );
    let closed: Vec<_> = store
        .vuln_findings(&FindingFilter {
            statuses: vec!["mitigated".into()],
            ..FindingFilter::default()
        })
        .unwrap();
    let closed_ids: Vec<&String> = closed.iter().map(|f| &f.primary_id).collect();
    assert_eq!(sorted(&closed_ids), sorted(&[&cve[0], &cve[2]]));
    assert!(closed
        .iter()
        .all(|f| f.asset_name == a && f.closed_at.is_some()));
    // Day 2: 0 comes back: reopened (not new), with its history kept; 2 stays closed.
    let third = import(
        &mut store,
        &[trivy_variant(dir.path(), "a2.json", a, &[0, 1, 3])],
        2,
    );
    assert_eq!(third.totals().reopened, 1);
    assert_eq!((third.files[0].new, third.files[0].merged), (0, 3));
    assert_eq!(third.closed(), 0);
    assert_eq!(
        open_ids(&mut store, a),
        sorted(&[&cve[0], &cve[1], &cve[3]])
    );
    let reopened = closed.iter().find(|f| f.primary_id == cve[0]).unwrap();
    let trail = store.vuln_finding_trail(reopened.id).unwrap();
    let kinds: Vec<&str> = trail.events.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(kinds, ["created", "mitigated", "reopened"]);
    // The SLA clock did not restart: the deadline still counts from day 0.
    let now = store.vuln_finding(reopened.id).unwrap();
    assert_eq!(now.sla_start, clock(0).0.unix_nanos());
    // An empty rescan of B closes all of B and nothing of A.
    let fourth = import(
        &mut store,
        &[trivy_variant(dir.path(), "b1.json", b, &[])],
        3,
    );
    assert_eq!(fourth.closed(), 4);
    assert_eq!(open_ids(&mut store, b), Vec::<String>::new());
    assert_eq!(open_ids(&mut store, a).len(), 3);
}

#[test]
fn two_tools_on_one_image_merge_and_acceptance_pauses_the_sla_until_it_expires() {
    if secops_testkit::shared("corpus/vuln").is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(&dir.path().join("s.db").display().to_string()).unwrap();
    let corpus = secops_testkit::shared("corpus/vuln").unwrap();
    // Trivy's JSON and Trivy's SARIF of the same image: four CVEs in the same packages, merged.
    let report = import(
        &mut store,
        &[
            corpus.join("trivy/alpine-310.json"),
            corpus.join("sarif/trivy-alpine-310.sarif"),
        ],
        0,
    );
    assert_eq!(report.files[0].new, 4);
    let sarif = &report.files[1];
    assert_eq!((sarif.new, sarif.merged), (0, 4), "{:?}", report.files);
    let findings = store.vuln_findings(&FindingFilter::default()).unwrap();
    assert_eq!(findings.len(), 4);
    assert!(findings.iter().all(|f| f.tools == ["trivy", "sarif:trivy"]));
    // Accept one for 10 days on day 1: it leaves the open queue and its deadline moves on by the
    // time it was paused once the acceptance expires (on day 11).
    let f = &findings[0];
    let due = f.due_at.unwrap();
    vulns::accept(
        &mut store,
        &[f.id],
        "platform team",
        "compensating WAF rule",
        clock(11).0.unix_nanos(),
        &Actor::user("analyst"),
        &clock(1),
    )
    .unwrap()
    .remove(0)
    .unwrap();
    let open = vulns::list(
        &mut store,
        &FindingFilter {
            statuses: vec!["open".into()],
            ..FindingFilter::default()
        },
        &Actor::user("analyst"),
        &clock(5),
    )
    .unwrap();
    assert_eq!(open.len(), 3);
    let open = vulns::list(
        &mut store,
        &FindingFilter {
            statuses: vec!["open".into()],
            ..FindingFilter::default()
        },
        &Actor::user("analyst"),
        &clock(12),
    )
    .unwrap();
    assert_eq!(open.len(), 4, "the acceptance expired on day 11");
    let after = store.vuln_finding(f.id).unwrap();
    assert_eq!(after.paused, 10 * DAY);
    assert_eq!(after.due_at, Some(due + 10 * DAY));
    // Closing as a false positive keeps it closed when a later scan reports it again.
    vulns::close(
        &mut store,
        &[f.id],
        "false_positive",
        "not reachable",
        &Actor::user("analyst"),
        &clock(13),
    )
    .unwrap()
    .remove(0)
    .unwrap();
    import(&mut store, &[corpus.join("trivy/alpine-310.json")], 14);
    assert_eq!(store.vuln_finding(f.id).unwrap().status, "false_positive");
    // The requester's refusal is answered per finding: a closed finding cannot be accepted.
    let refused = vulns::accept(
        &mut store,
        &[f.id],
        "x",
        "y",
        clock(30).0.unix_nanos(),
        &Actor::user("analyst"),
        &clock(14),
    )
    .unwrap();
    assert!(refused[0].is_err());
}

#[test]
fn vex_statements_mark_exactly_the_findings_they_name_not_affected() {
    if secops_testkit::shared("corpus/vuln").is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(&dir.path().join("s.db").display().to_string()).unwrap();
    let corpus = secops_testkit::shared("corpus/vuln").unwrap();
    import(&mut store, &[corpus.join("trivy/alpine-310.json")], 0);
    // OpenVEX (openvex.dev spec 0.2.0): CVE-2019-1549 does not affect libcrypto1.1 (any version);
    // it still affects libssl1.1. A statement without a vulnerability is rejected, with its place.
    let openvex = dir.path().join("vex.json");
    std::fs::write(
        &openvex,
        r#"{"@context": "https://openvex.dev/ns/v0.2.0", "@id": "https://example.org/vex/1",
            "author": "platform team", "timestamp": "2026-12-01T00:00:00Z", "version": 1,
            "statements": [
              {"vulnerability": {"name": "CVE-2019-1549"},
               "products": [{"@id": "pkg:apk/alpine/libcrypto1.1"}],
               "status": "not_affected", "justification": "vulnerable_code_not_in_execute_path"},
              {"vulnerability": {"name": "CVE-2019-1551"}, "products": [], "status": "affected"},
              {"products": [], "status": "not_affected"}
            ]}"#,
    )
    .unwrap();
    let report = import(&mut store, &[openvex], 1);
    let vex = report.files[0].vex.clone().unwrap();
    assert_eq!((vex.statements, vex.not_affected, vex.marked), (2, 1, 1));
    assert_eq!(report.files[0].tally.rejected.len(), 1);
    assert_eq!(report.totals().read, 0);
    let marked = store
        .vuln_findings(&FindingFilter {
            statuses: vec!["not_affected".into()],
            ..FindingFilter::default()
        })
        .unwrap();
    assert_eq!(marked.len(), 1);
    assert_eq!(
        (marked[0].primary_id.as_str(), marked[0].package.as_deref()),
        ("CVE-2019-1549", Some("libcrypto1.1"))
    );
    assert_eq!(
        open_ids(
            &mut store,
            "ghcr.io/aquasecurity/trivy-test-images:alpine-310"
        )
        .len(),
        3
    );
    // CycloneDX VEX naming the exact package URL of libssl1.1.
    let cdx = dir.path().join("bom.json");
    std::fs::write(
        &cdx,
        r#"{"bomFormat": "CycloneDX", "specVersion": "1.5", "version": 1,
            "vulnerabilities": [{"id": "CVE-2019-1549",
              "analysis": {"state": "not_affected", "justification": "code_not_reachable"},
              "affects": [{"ref": "pkg:apk/alpine/libssl1.1@1.1.1c-r0?arch=x86_64&distro=3.10.2"}]}]}"#,
    )
    .unwrap();
    let report = import(&mut store, &[cdx], 2);
    assert_eq!(report.files[0].vex.as_ref().unwrap().marked, 1);
    assert_eq!(
        open_ids(
            &mut store,
            "ghcr.io/aquasecurity/trivy-test-images:alpine-310"
        )
        .len(),
        2
    );
}

#[test]
fn the_report_counts_the_sla_and_replays_the_open_findings_per_day() {
    if secops_testkit::shared("corpus/vuln").is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(&dir.path().join("s.db").display().to_string()).unwrap();
    let a = "registry.example/app-a:1";
    // Day 0: four findings; day 2: two gone (closed); day 40: the report.
    import(
        &mut store,
        &[trivy_variant(dir.path(), "a0.json", a, &[0, 1, 2, 3])],
        0,
    );
    import(
        &mut store,
        &[trivy_variant(dir.path(), "a1.json", a, &[1, 3])],
        2,
    );
    let report = secops_service::vuln_report::report(
        &mut store,
        None,
        10,
        45,
        &Actor::user("analyst"),
        &clock(40),
    )
    .unwrap();
    let burn: Vec<i64> = report.burn.iter().map(|p| p.open).collect();
    assert_eq!(burn.len(), 41, "day 0 to day 40");
    assert_eq!(&burn[..4], &[4, 4, 2, 2]);
    assert_eq!(*burn.last().unwrap(), 2);
    let (open, overdue, _, _) = report.totals();
    assert_eq!(open, 2);
    // Medium findings on an unlisted image: 60 days by SSVC (automatable, partial impact) or 90 by
    // severity; none overdue on day 40. Both closed ones closed on day 2, in time.
    assert_eq!(overdue, 0);
    let closed: u64 = report.severities.iter().map(|l| l.closed_in_time).sum();
    assert_eq!(closed, 2);
    let median = report
        .severities
        .iter()
        .find_map(|l| l.remediation.median)
        .unwrap();
    assert_eq!(median, 2 * DAY);
    assert_eq!(report.top.len(), 2);
    let html = secops_vuln::report::html(&report);
    assert!(html.contains("<svg") && html.matches("<circle").count() == 41);
    let md = secops_vuln::report::markdown(&report);
    assert!(md.contains("| severity | open | overdue |"));
}

#[test]
fn alerts_carry_their_hosts_kev_and_likely_exploited_findings() {
    let Some(corpus) = secops_testkit::shared("corpus/vuln") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(&dir.path().join("s.db").display().to_string()).unwrap();
    import(
        &mut store,
        &[corpus.join("nessus/dd-nessus_with_cvssv3.nessus")],
        0,
    );
    let mut on_host =
        r#"{"rule.id":"r1","host.name":"TESTPHP.vulnweb.com","events":[]}"#.to_string();
    let mut elsewhere = r#"{"rule.id":"r1","host.name":"other.example","events":[]}"#.to_string();
    let untouched = elsewhere.clone();
    // Nothing in KEV yet, no EPSS: nothing to carry.
    vulns::add_exposure(&mut store, [&mut on_host, &mut elsewhere]).unwrap();
    assert!(!on_host.contains("secops.vulnerabilities"));
    refresh_kev(&mut store, &corpus);
    vulns::add_exposure(&mut store, [&mut on_host, &mut elsewhere]).unwrap();
    let doc = secops_alert::AlertDocument::parse(&on_host).unwrap();
    assert_eq!(doc.vulnerabilities.len(), 1, "{on_host}");
    let carried = &doc.vulnerabilities[0];
    assert_eq!((carried.id.as_str(), carried.kev), ("CVE-2012-1823", true));
    assert_eq!(carried.host, "testphp.vulnweb.com");
    assert_eq!(elsewhere, untouched);
}

#[test]
fn findings_past_their_deadline_raise_one_alert_each() {
    if secops_testkit::shared("corpus/vuln").is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(&dir.path().join("s.db").display().to_string()).unwrap();
    let a = "registry.example/app-a:1";
    import(
        &mut store,
        &[trivy_variant(dir.path(), "a0.json", a, &[0, 1, 2, 3])],
        0,
    );
    let actor = Actor::user("analyst");
    // Day 10: nothing is due yet.
    let early = vulns::raise_breaches(&mut store, &actor, &clock(10)).unwrap();
    assert_eq!((early.overdue, early.raised), (0, 0));
    // Day 200: every open finding is past its deadline (60 or 90 days): one alert each, once.
    let late = vulns::raise_breaches(&mut store, &actor, &clock(200)).unwrap();
    assert_eq!((late.overdue, late.raised, late.known), (4, 4, 0));
    let again = vulns::raise_breaches(&mut store, &actor, &clock(201)).unwrap();
    assert_eq!((again.overdue, again.raised, again.known), (4, 0, 4));
    let alerts = store
        .alerts(&secops_store::AlertFilter {
            rule: Some(vulns::BREACH_RULE.into()),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(alerts.len(), 4);
    let doc = secops_alert::AlertDocument::parse(&alerts[0].document).unwrap();
    assert_eq!(doc.group["container.image.name"], a);
    assert!(doc.group.contains_key("vulnerability.id"));
}

#[test]
fn a_hosts_open_findings_stand_in_its_risk_score() {
    let Some(corpus) = secops_testkit::shared("corpus/vuln") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(&dir.path().join("s.db").display().to_string()).unwrap();
    import(
        &mut store,
        &[corpus.join("nessus/dd-nessus_with_cvssv3.nessus")],
        0,
    );
    let model = secops_entity::RiskModel::default();
    let at = Some(clock(1).0.unix_nanos());
    let risk = |store: &mut Store, host: &str| {
        secops_service::entities::stored_risk(store, "host", host, at, &model).unwrap()
    };
    // Without a KEV entry or an EPSS score every finding's risk is 0: nothing stands.
    assert_eq!(risk(&mut store, "testphp.vulnweb.com"), None);
    refresh_kev(&mut store, &corpus);
    let open = store
        .vuln_findings(&FindingFilter {
            statuses: vec!["open".into()],
            asset: Some("testphp.vulnweb.com".into()),
            ..FindingFilter::default()
        })
        .unwrap();
    let summed: f64 = open.iter().map(|f| f.priority.risk).sum();
    assert!(summed > 0.0);
    // In any case of spelling, by its name.
    let stood = risk(&mut store, "TESTPHP.vulnweb.com").expect("a score");
    let vulnerabilities = stood.vulnerabilities.expect("the findings' part");
    assert_eq!(vulnerabilities.points, (summed / 2.0).min(50.0));
    assert_eq!(
        stood.score, vulnerabilities.points,
        "no alerts: the findings alone"
    );
    assert_eq!(stood.alerts, 0);
    assert!(
        vulnerabilities
            .rule
            .starts_with(&format!("{} open vulnerabilit", open.len()))
            && vulnerabilities.rule.contains("CVE-2012-1823"),
        "{}",
        vulnerabilities.rule
    );
    assert_eq!(risk(&mut store, "other.example"), None);
}
