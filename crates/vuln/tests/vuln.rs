//! The vulnerability crate over the real reports in `../shared/corpus/vuln`: every report imports
//! with nothing rejected and as many findings read as the format itself lists (counted here
//! independently of the importers), Grype's own `risk` is reproduced, the built-in BOD 26-04 table
//! is CERT/CC's, the catalogs load, and damaged copies of every report never panic.

#![allow(clippy::unwrap_used, clippy::panic)] // test helpers

use std::path::{Path, PathBuf};

use secops_testkit::mutate::{self, Rng};
use secops_vuln::catalog::{read_epss, read_kev};
use secops_vuln::cvss::CvssVersion;
use secops_vuln::import::{import_path, import_reader, Collect};
use secops_vuln::risk::{self, AssetContext, Exploit, SlaPolicy, Weights};
use secops_vuln::ssvc::{bod_26_04, DecisionTable, Inputs, Timeline};
use secops_vuln::{FindingKind, FixState, Format, Severity};
use serde_json::Value;

fn corpus() -> Option<PathBuf> {
    secops_testkit::shared("corpus/vuln")
}

fn json(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

fn arr<'a>(v: &'a Value, key: &str) -> &'a [Value] {
    v.get(key)
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

/// The format's own count of vulnerability findings, read without the importers.
fn own_count(path: &Path) -> u64 {
    let name = path.to_string_lossy();
    let text = std::fs::read_to_string(path).unwrap();
    if name.ends_with(".nessus") {
        // ReportItems of severity above 0.
        return text
            .match_indices("<ReportItem ")
            .filter(|(i, _)| {
                let tag = &text[*i..*i + text[*i..].find('>').unwrap()];
                !tag.contains("severity=\"0\"")
            })
            .count() as u64;
    }
    if name.contains("openvas") {
        // <result> elements with an <nvt>.
        return text
            .split("<result ")
            .skip(1)
            .filter(|r| r[..r.find("</result>").unwrap()].contains("<nvt"))
            .count() as u64;
    }
    let v = json(path);
    if v.get("ClusterName").is_some() {
        let mut n = 0;
        for key in ["Resources", "Vulnerabilities", "Misconfigurations"] {
            for resource in arr(&v, key) {
                for r in arr(resource, "Results") {
                    n += arr(r, "Vulnerabilities").len();
                }
            }
        }
        return n as u64;
    }
    if v.get("SchemaVersion").is_some() {
        return arr(&v, "Results")
            .iter()
            .map(|r| arr(r, "Vulnerabilities").len())
            .sum::<usize>() as u64;
    }
    if v.get("matches").is_some() {
        return arr(&v, "matches").len() as u64;
    }
    if v.get("runs").is_some() {
        return arr(&v, "runs")
            .iter()
            .map(|r| arr(r, "results").len())
            .sum::<usize>() as u64;
    }
    arr(&v, "results")
        .iter()
        .flat_map(|r| arr(r, "packages"))
        .map(|p| arr(p, "vulnerabilities").len())
        .sum::<usize>() as u64
}

const REPORTS: &[(&str, Format)] = &[
    ("trivy/alpine-310.json", Format::Trivy),
    ("trivy/npm.json", Format::Trivy),
    ("trivy/dd-kubernetes.json", Format::Trivy),
    ("trivy/dd-misconfigurations_and_secrets.json", Format::Trivy),
    ("trivy/dd-all_statuses.json", Format::Trivy),
    ("grype/dd-many_vulns4.json", Format::Grype),
    ("grype/dd-many_vulns_with_epss_values.json", Format::Grype),
    ("grype/dd-check_all_fields.json", Format::Grype),
    ("sarif/trivy-alpine-310.sarif", Format::Sarif),
    ("sarif/dd-dependency_check.sarif", Format::Sarif),
    ("sarif/dd-gitleaks_7.5.0.sarif", Format::Sarif),
    ("osv/osv-scanner-results-debian.json", Format::OsvScanner),
    ("osv/dd-some_findings.json", Format::OsvScanner),
    ("nessus/dd-nessus_with_cvssv3.nessus", Format::Nessus),
    ("nessus/dd-nessus_many_vuln.nessus", Format::Nessus),
    ("openvas/dd-many_vuln.xml", Format::OpenVas),
];

#[test]
fn every_report_imports_whole_with_the_formats_own_count() {
    let Some(dir) = corpus() else { return };
    // Every report file of the corpus is in the table: a new sample cannot be skipped unnoticed.
    for sub in ["trivy", "grype", "sarif", "osv", "nessus", "openvas"] {
        for entry in std::fs::read_dir(dir.join(sub)).unwrap() {
            let path = entry.unwrap().path();
            if path.is_file() {
                let rel = format!("{sub}/{}", path.file_name().unwrap().to_string_lossy());
                assert!(
                    REPORTS.iter().any(|(r, _)| *r == rel),
                    "{rel} is not tested"
                );
            }
        }
    }
    for (file, format) in REPORTS {
        let path = dir.join(file);
        let mut found = Collect::default();
        let tally = import_path(&path, None, &mut found).unwrap();
        assert_eq!(tally.format, Some(*format), "{file}: detected format");
        assert_eq!(tally.rejected, vec![], "{file}: rejected");
        assert_eq!(tally.read, own_count(&path), "{file}: read");
        let vulnerabilities = found
            .findings
            .iter()
            .filter(|f| matches!(f.kind, FindingKind::Vulnerability | FindingKind::Malicious))
            .count() as u64;
        // SARIF's results are all read; the rest keep misconfigurations and secrets apart.
        if *format != Format::Sarif {
            assert_eq!(vulnerabilities, tally.read, "{file}: findings kept");
        }
        assert!(!found.scopes.is_empty(), "{file}: declares its scopes");
        for f in &found.findings {
            assert!(
                found
                    .scopes
                    .iter()
                    .any(|(t, s)| *t == f.tool && *s == f.scope),
                "{file}: {} in an undeclared scope",
                f.record
            );
            assert!(
                !f.id.is_empty() && !f.title.is_empty(),
                "{file}: {}",
                f.record
            );
            // Stored apart, the finding's and the advisory's fields are disjoint and together the
            // whole finding.
            let docs = f.documents();
            let mut whole: serde_json::Map<String, Value> =
                serde_json::from_str(&docs.finding).unwrap();
            let advisory: serde_json::Map<String, Value> =
                serde_json::from_str(&docs.advisory).unwrap();
            for (key, value) in advisory {
                assert!(
                    whole.insert(key.clone(), value).is_none(),
                    "{file}: {key} twice"
                );
            }
            // Every field is in one part or the other (an omitted one would read back as its
            // default and could still compare equal).
            let mut stored: Vec<&String> = whole.keys().collect();
            let own = serde_json::to_value(f).unwrap();
            let mut all: Vec<&String> = own.as_object().unwrap().keys().collect();
            stored.sort();
            all.sort();
            assert_eq!(stored, all, "{file}");
            let back: secops_vuln::Finding = serde_json::from_value(Value::Object(whole)).unwrap();
            assert_eq!(&back, f, "{file}: {}", f.record);
        }
    }
}

#[test]
fn trivy_statuses_misconfigurations_and_secrets() {
    let Some(dir) = corpus() else { return };
    let mut found = Collect::default();
    import_path(&dir.join("trivy/dd-all_statuses.json"), None, &mut found).unwrap();
    let states: Vec<FixState> = found.findings.iter().map(|f| f.fix_state).collect();
    assert_eq!(
        states,
        [
            FixState::Unknown,
            FixState::NotAffected,
            FixState::Affected,
            FixState::Fixed,
            FixState::UnderInvestigation,
            FixState::WillNotFix,
            FixState::FixDeferred,
            FixState::EndOfLife
        ]
    );
    let mut found = Collect::default();
    let tally = import_path(
        &dir.join("trivy/dd-misconfigurations_and_secrets.json"),
        None,
        &mut found,
    )
    .unwrap();
    assert_eq!(tally.apart.get("misconfiguration"), Some(&1));
    assert_eq!(tally.apart.get("secret"), Some(&2));
    let kinds: Vec<FindingKind> = found.findings.iter().map(|f| f.kind).collect();
    assert_eq!(
        kinds.iter().filter(|k| **k == FindingKind::Secret).count(),
        2
    );
    let secret = found
        .findings
        .iter()
        .find(|f| f.kind == FindingKind::Secret)
        .unwrap();
    assert_eq!(secret.location.as_deref(), Some("Dockerfile:24"));
    // Kubernetes: vulnerabilities on the images the workloads run, misconfigurations on workloads.
    let mut found = Collect::default();
    import_path(&dir.join("trivy/dd-kubernetes.json"), None, &mut found).unwrap();
    let images: std::collections::BTreeSet<&str> = found
        .findings
        .iter()
        .filter(|f| f.kind == FindingKind::Vulnerability)
        .map(|f| f.asset.name.as_str())
        .collect();
    assert!(images.contains("docker.io/redis:6.0.5"), "{images:?}");
    assert!(found
        .findings
        .iter()
        .any(|f| f.kind == FindingKind::Misconfiguration
            && f.asset.name == "default/Deployment/redis-follower"));
}

#[test]
fn grype_risk_is_reproduced_for_every_match() {
    let Some(dir) = corpus() else { return };
    let path = dir.join("grype/dd-many_vulns_with_epss_values.json");
    let report = json(&path);
    let mut found = Collect::default();
    import_path(&path, None, &mut found).unwrap();
    let matches = arr(&report, "matches");
    assert_eq!(matches.len(), 15);
    for (m, f) in matches.iter().zip(&found.findings) {
        let expected = m["vulnerability"]["risk"].as_f64().unwrap();
        let priority = risk::prioritise(
            f,
            &Exploit::default(),
            AssetContext::default(),
            &Weights::default(),
            &SlaPolicy::default(),
        );
        assert!(
            (priority.vuln_risk - expected).abs() < 1e-9,
            "{}: {} against Grype's {expected}",
            f.id,
            priority.vuln_risk
        );
        assert_eq!(priority.epss, f.exploitation.epss.as_ref().map(|e| e.score));
    }
}

#[test]
fn cvss_scores_computed_from_vectors_match_the_reports() {
    let Some(dir) = corpus() else { return };
    let mut checked = 0;
    for (file, _) in REPORTS {
        let mut found = Collect::default();
        import_path(&dir.join(file), None, &mut found).unwrap();
        for f in &found.findings {
            for s in &f.cvss {
                assert!(s.problem.is_none(), "{file} {}: {:?}", f.id, s.problem);
                if let (Some(computed), Some(reported)) = (s.computed, s.reported) {
                    // v2 and v3 vectors with the score their source gave them.
                    assert!(
                        (computed - reported).abs() < 0.05,
                        "{file} {} {:?}: computed {computed}, reported {reported}",
                        f.id,
                        s.vector
                    );
                    checked += 1;
                }
            }
        }
    }
    assert!(checked > 100, "only {checked} scores checked");
}

#[test]
fn a_malicious_package_is_its_own_kind_never_scored_as_a_cve() {
    let Some(dir) = corpus() else { return };
    let mut found = Collect::default();
    import_path(&dir.join("osv/dd-some_findings.json"), None, &mut found).unwrap();
    let f = &found.findings[0];
    assert_eq!(f.kind, FindingKind::Malicious);
    assert_eq!(f.primary_id(), "MAL-2023-1035");
    let p = risk::prioritise(
        f,
        &Exploit::default(),
        AssetContext::default(),
        &Weights::default(),
        &SlaPolicy::default(),
    );
    assert_eq!(p.ssvc, None);
    assert_eq!(p.sla_days, Some(1));
}

#[test]
fn osv_scanner_groups_merge_aliases_to_one_identity() {
    let Some(dir) = corpus() else { return };
    let mut found = Collect::default();
    import_path(
        &dir.join("osv/osv-scanner-results-debian.json"),
        None,
        &mut found,
    )
    .unwrap();
    let net: Vec<_> = found
        .findings
        .iter()
        .filter(|f| f.package.as_ref().unwrap().name == "golang.org/x/net")
        .collect();
    let fxg5 = net.iter().find(|f| f.id == "GHSA-fxg5-wq6x-vr4w").unwrap();
    let go = net.iter().find(|f| f.id == "GO-2023-1495").unwrap();
    assert_eq!(fxg5.identity(), go.identity(), "one group, one finding");
    assert_ne!(fxg5.detection_key(), go.detection_key());
}

#[test]
fn the_built_in_bod_26_04_table_is_cert_cc_s() {
    let Some(dir) = corpus() else { return };
    let text = std::fs::read_to_string(dir.join("ssvc/cisa_bod_26_04_1_0_0.csv")).unwrap();
    let table = DecisionTable::from_csv("bod", &text).unwrap();
    assert_eq!(table.rows.len(), 16);
    assert_eq!(table.bod_26_04_differences(), Some(vec![]));
    // Every case, through the table's own lookup.
    for bits in 0..16u8 {
        let inputs = Inputs {
            in_kev: bits & 1 != 0,
            publicly_exposed: bits & 2 != 0,
            automatable: bits & 4 != 0,
            total_impact: bits & 8 != 0,
        };
        let yes = |b: bool| if b { "yes" } else { "no" };
        let outcome = table
            .lookup(&[
                ("In KEV", yes(inputs.in_kev)),
                ("Publicly Exposed", yes(inputs.publicly_exposed)),
                ("Automatable", yes(inputs.automatable)),
                (
                    "Technical Impact",
                    if inputs.total_impact {
                        "total"
                    } else {
                        "partial"
                    },
                ),
            ])
            .unwrap();
        assert_eq!(
            Timeline::parse(outcome),
            Some(bod_26_04(inputs)),
            "{inputs:?}"
        );
    }
    let coordinator = std::fs::read_to_string(dir.join("ssvc/cisa_coordinator_2_0_3.csv")).unwrap();
    let tree = DecisionTable::from_csv("coordinator", &coordinator).unwrap();
    assert_eq!(tree.rows.len(), 36);
    assert_eq!(tree.bod_26_04_differences(), None);
}

#[test]
fn deadlines_follow_ssvc_then_severity_and_kev_due_dates_win() {
    let Some(dir) = corpus() else { return };
    let mut found = Collect::default();
    import_path(
        &dir.join("nessus/dd-nessus_with_cvssv3.nessus"),
        None,
        &mut found,
    )
    .unwrap();
    // PHP unsupported: CVSS 3.0 AV:N/AC:L/PR:N/UI:N, C:H/I:H/A:H: automatable, total impact.
    let php = found
        .findings
        .iter()
        .find(|f| f.title == "PHP Unsupported Version Detection")
        .unwrap();
    let internet = AssetContext {
        criticality: Some(secops_entity::Criticality::High),
        exposure: Some(secops_entity::Exposure::Internet),
    };
    let p = risk::prioritise(
        php,
        &Exploit::default(),
        internet,
        &Weights::default(),
        &SlaPolicy::default(),
    );
    assert_eq!(p.timeline, Some(Timeline::Days3));
    assert_eq!(p.sla_days, Some(3));
    let inside = AssetContext::default();
    let p = risk::prioritise(
        php,
        &Exploit::default(),
        inside,
        &Weights::default(),
        &SlaPolicy::default(),
    );
    assert_eq!(p.timeline, Some(Timeline::Days60));
    // In KEV, due in 21 days from a date long past: the due date is the deadline.
    let kev = secops_vuln::KevMark {
        cve: "CVE-2012-1823".into(),
        ransomware: false,
        date_added: Some("2022-03-25".into()),
        due_date: Some("2022-04-15".into()),
    };
    let exploit = Exploit {
        kev: Some(kev),
        epss: None,
    };
    let p = risk::prioritise(
        php,
        &exploit,
        internet,
        &Weights::default(),
        &SlaPolicy::default(),
    );
    assert_eq!(p.timeline, Some(Timeline::Days3Forensic));
    let start = secops_vuln::parse_time("2026-12-01").unwrap();
    assert_eq!(p.deadline(start), secops_vuln::parse_time("2022-04-15"));
    assert!(p.kev_due_wins(start));
    // Context multiplies Grype's risk: KEV × severity × 1.05, high criticality, internet.
    assert!((p.risk - (p.vuln_risk * 0.8 * 100.0).round() / 100.0).abs() < 1e-9);
    // No vector: the severity's SLA.
    let info = found.findings.iter().find(|f| {
        f.cvss.iter().all(|c| c.version == CvssVersion::V2) && f.severity == Severity::Medium
    });
    if let Some(f) = info {
        let p = risk::prioritise(
            f,
            &Exploit::default(),
            inside,
            &Weights::default(),
            &SlaPolicy::default(),
        );
        assert_eq!((p.timeline, p.sla_days), (None, Some(90)));
    }
}

#[test]
fn the_catalogs_load() {
    let Some(dir) = corpus() else { return };
    let text =
        std::fs::read_to_string(dir.join("kev/known_exploited_vulnerabilities.json")).unwrap();
    let kev = read_kev("kev.json", &text).unwrap();
    assert_eq!(kev.entries.len(), 1404);
    assert_eq!(kev.rejected, vec![]);
    assert_eq!(kev.entries.iter().filter(|e| e.ransomware).count(), 293);
    assert_eq!(kev.version.as_deref(), Some("2025.08.25"));
    // The same catalog as CSV (the columns CISA publishes), written from the JSON.
    let mut csv = String::from("cveID,vendorProject,product,vulnerabilityName,dateAdded,shortDescription,requiredAction,dueDate,knownRansomwareCampaignUse,notes,cwes\n");
    let json = json(&dir.join("kev/known_exploited_vulnerabilities.json"));
    let mut writer = ::csv::Writer::from_writer(vec![]);
    for v in arr(&json, "vulnerabilities") {
        let f = |k: &str| v[k].as_str().unwrap_or("").to_string();
        writer
            .write_record([
                f("cveID"),
                f("vendorProject"),
                f("product"),
                f("vulnerabilityName"),
                f("dateAdded"),
                f("shortDescription"),
                f("requiredAction"),
                f("dueDate"),
                f("knownRansomwareCampaignUse"),
                f("notes"),
                String::new(),
            ])
            .unwrap();
    }
    csv.push_str(&String::from_utf8(writer.into_inner().unwrap()).unwrap());
    let from_csv = read_kev("kev.csv", &csv).unwrap();
    assert_eq!(from_csv.entries, kev.entries);
    for record in [
        "osv/records/GO-2021-0053.json",
        "osv/records/GO-2023-2382.json",
    ] {
        let text = std::fs::read_to_string(dir.join(record)).unwrap();
        let records = secops_vuln::osv::read_records(record, &text).unwrap();
        assert_eq!(records.len(), 1);
        assert!(records[0].aliases.iter().any(|a| a.starts_with("CVE-")));
    }
}

#[test]
fn epss_csv_in_firsts_layout_loads_with_its_date() {
    // Synthetic: FIRST's layout (research notes section 3.2), values made up.
    let text = "#model_version:v2025.03.14,score_date:2026-08-20T00:00:00+0000\n\
                cve,epss,percentile\n\
                CVE-2021-44228,0.94358,0.99959\n\
                CVE-2024-0001,0.00043,0.1\n\
                CVE-2024-0002,1.5,0.2\n";
    let scores = read_epss("epss.csv", text.as_bytes()).unwrap();
    assert_eq!(scores.date.as_deref(), Some("2026-08-20"));
    assert_eq!(scores.model_version.as_deref(), Some("v2025.03.14"));
    assert_eq!(scores.scores.len(), 2);
    assert_eq!(scores.rejected.len(), 1);
    assert_eq!(scores.rejected[0].record, "line 5");
}

#[test]
fn damaged_reports_never_panic_and_account_for_every_entry() {
    let Some(dir) = corpus() else { return };
    let donors: Vec<Vec<u8>> = REPORTS
        .iter()
        .map(|(f, _)| std::fs::read(dir.join(f)).unwrap())
        .collect();
    let mut rng = Rng::new(24);
    let rounds = if secops_testkit::under_ci() { 60 } else { 20 };
    for (i, (file, _)) in REPORTS.iter().enumerate() {
        for _ in 0..rounds {
            let damaged = mutate::bytes(&mut rng, &donors[i], &donors);
            let mut found = Collect::default();
            if let Ok(tally) = import_reader(file, &damaged[..], None, &mut found) {
                let kept = found
                    .findings
                    .iter()
                    .filter(|f| {
                        matches!(f.kind, FindingKind::Vulnerability | FindingKind::Malicious)
                    })
                    .count() as u64;
                let sarif = tally.format == Some(Format::Sarif);
                assert!(
                    sarif || kept + tally.rejected.len() as u64 >= tally.read,
                    "{file}: read {} but {kept} kept and {} rejected",
                    tally.read,
                    tally.rejected.len()
                );
            }
        }
    }
}
