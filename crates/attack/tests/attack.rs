//! The ATT&CK model from a small bundle written for these tests (the STIX shape MITRE publishes) and, when
//! `../shared` is present, from the real Enterprise v18.1 bundle; mapping checks, coverage, the Navigator
//! layer, the terminal matrix and the HTML heatmap.

#![allow(clippy::unwrap_used, clippy::panic)] // test helpers outside #[test] functions

use std::path::{Path, PathBuf};

use secops_attack::coverage::{Coverage, RuleMapping};
use secops_attack::{Catalogue, Mapping};

fn mini() -> Catalogue {
    Catalogue::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data")).unwrap()
}

fn mapping<'a>(tactic: (&'a str, &'a str), techniques: &[(&'a str, &'a str)]) -> Mapping<'a> {
    Mapping {
        tactic_id: tactic.0,
        tactic_name: tactic.1,
        techniques: techniques
            .iter()
            .map(|(id, name)| (*id, *name, id.split_once('.').map(|(p, _)| p)))
            .collect(),
    }
}

#[test]
fn catalogue_reads_tactics_in_matrix_order_and_techniques() {
    let c = mini();
    assert_eq!(c.version.as_deref(), Some("18.1"));
    let ids: Vec<&str> = c.tactics.iter().map(|t| t.id.as_str()).collect();
    assert_eq!(ids, ["TA0001", "TA0006"]);
    assert_eq!(c.tactic("credential-access").unwrap().id, "TA0006");
    let pg = c.technique("T1110.001").unwrap();
    assert!(pg.is_subtechnique() && pg.parent_id() == "T1110");
    assert_eq!(
        c.technique("T1999").unwrap().revoked_by.as_deref(),
        Some("T1110")
    );
    assert!(c.has_detection_id("DET0551") && !c.has_detection_id("DET0001"));
    let live: Vec<&str> = c
        .tactic_techniques("credential-access", &[])
        .iter()
        .map(|t| t.id.as_str())
        .collect();
    assert_eq!(live, ["T1078", "T1110"]);
    let windows = c.tactic_techniques("credential-access", &["windows".to_string()]);
    assert_eq!(windows.len(), 2);
    assert_eq!(
        c.tactic_techniques("initial-access", &["linux".to_string()])
            .len(),
        0
    );
}

#[test]
fn mapping_checks_name_the_problem() {
    let c = mini();
    let ok = mapping(
        ("TA0006", "Credential Access"),
        &[("T1110", "Brute Force"), ("T1110.001", "Password Guessing")],
    );
    assert!(c.check(&ok).is_empty(), "{:?}", c.check(&ok));
    let wrong_tactic = mapping(("TA0001", "Initial Access"), &[("T1110", "Brute Force")]);
    let f = c.check(&wrong_tactic);
    assert_eq!(
        f,
        ["technique T1110 (Brute Force) does not belong to tactic Initial Access (TA0001); it serves Credential Access (TA0006)"]
    );
    let revoked = mapping(
        ("TA0006", "Credential Access"),
        &[("T1999", "Old Technique")],
    );
    assert_eq!(
        c.check(&revoked),
        ["technique T1999 is revoked (replaced by T1110)"]
    );
    let deprecated = mapping(
        ("TA0001", "Initial Access"),
        &[("T1998", "Retired Technique")],
    );
    assert_eq!(c.check(&deprecated), ["technique T1998 is deprecated"]);
    let unknown = mapping(("TA0006", "Credential Access"), &[("T4242", "Nothing")]);
    assert_eq!(
        c.check(&unknown),
        ["technique T4242 (Nothing) does not exist in ATT&CK 18.1"]
    );
    let misnamed = mapping(
        ("TA0006", "Credential Theft"),
        &[("T1110", "Brute Forcing")],
    );
    assert_eq!(
        c.check(&misnamed),
        [
            "tactic TA0006 is named \"Credential Access\", not \"Credential Theft\"",
            "technique T1110 is named \"Brute Force\", not \"Brute Forcing\""
        ]
    );
    let no_tactic = mapping(("TA0099", "Nowhere"), &[]);
    assert_eq!(
        c.check(&no_tactic),
        ["tactic TA0099 (Nowhere) does not exist in ATT&CK 18.1"]
    );
}

fn rule(id: &str, name: &str, techniques: &[(Option<&str>, &str)]) -> RuleMapping {
    RuleMapping {
        id: id.into(),
        name: name.into(),
        tested: id != "r3",
        techniques: techniques
            .iter()
            .map(|(t, id)| (t.map(str::to_string), id.to_string()))
            .collect(),
    }
}

#[test]
fn coverage_counts_rules_per_technique_and_writes_layer_matrix_and_heatmap() {
    let c = mini();
    let rules = vec![
        rule(
            "r1",
            "SSH brute force",
            &[(Some("credential-access"), "T1110")],
        ),
        rule("r2", "SSH password guessing", &[(None, "T1110.001")]),
        rule(
            "r3",
            "<script>alert(1)</script>",
            &[(None, "T1078"), (None, "T1999")],
        ),
    ];
    let coverage = Coverage::new(&c, rules);
    assert_eq!(coverage.covering("credential-access", "T1110"), [0, 1]);
    assert_eq!(coverage.direct("credential-access", "T1110"), [0]);
    // A technique without a tactic counts under each of its tactics.
    assert_eq!(coverage.covering("initial-access", "T1078"), [2]);
    assert_eq!(coverage.covering("credential-access", "T1078"), [2]);
    // The revoked technique is reported, not counted.
    assert!(coverage.unknown.contains_key("T1999"));
    let gaps = coverage.gaps(&[]);
    let missing: Vec<(&str, Vec<&str>)> = gaps
        .iter()
        .map(|(t, m)| (t.id.as_str(), m.iter().map(|t| t.id.as_str()).collect()))
        .collect();
    assert_eq!(missing, [("TA0001", vec!["T1566"]), ("TA0006", vec![])]);

    let layer = serde_json::to_value(coverage.layer("pack", "test")).unwrap();
    assert_eq!(layer["versions"]["layer"], "4.5");
    assert_eq!(layer["versions"]["attack"], "18");
    assert_eq!(layer["domain"], "enterprise-attack");
    let entries = layer["techniques"].as_array().unwrap();
    let t1110 = entries
        .iter()
        .find(|e| e["techniqueID"] == "T1110" && e["tactic"] == "credential-access")
        .unwrap();
    assert_eq!(t1110["score"], 2);
    assert_eq!(t1110["showSubtechniques"], true);
    assert_eq!(t1110["metadata"].as_array().unwrap().len(), 2);
    let sub = entries
        .iter()
        .find(|e| e["techniqueID"] == "T1110.001")
        .unwrap();
    assert_eq!(sub["score"], 1);
    assert!(entries.iter().all(|e| e["techniqueID"] != "T1999"));
    assert_eq!(layer["gradient"]["maxValue"], 2);

    let text = coverage.matrix_text(&[], 80, false);
    assert!(
        text.contains("Initial Access (TA0001)  1/2 techniques covered"),
        "{text}"
    );
    assert!(text.contains("T1110 2"), "{text}");
    assert!(text.contains("T1566 ·"), "{text}");

    let markdown = coverage.markdown(&[]);
    assert!(
        markdown.contains("| Credential Access | T1110 Brute Force | 2 | 2 | SSH brute force; SSH password guessing |"),
        "{markdown}"
    );
    assert!(markdown.contains(
        "| Initial Access | T1078 Valid Accounts | 1 | 0 | &lt;script&gt;alert(1)&lt;/script&gt; |"
    ));
    assert!(
        markdown.ends_with("\n1 technique cells have no rule.\n"),
        "{markdown}"
    );

    let html = coverage.html("Coverage <pack>", &[]);
    assert!(html.contains("<title>Coverage &lt;pack&gt;</title>"));
    assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert!(!html.contains("<script>"));
    assert!(html.contains("3 of 4 techniques covered"), "{html}");
}

fn shared_attack() -> Option<PathBuf> {
    secops_testkit::shared("corpus/attack")
}

#[test]
fn the_real_enterprise_bundle_loads() {
    let Some(dir) = shared_attack() else { return };
    let c = Catalogue::load(&dir).unwrap();
    assert_eq!(c.version.as_deref(), Some("18.1"));
    assert_eq!(c.tactics.len(), 14);
    assert_eq!(c.tactics[0].shortname, "reconnaissance");
    assert_eq!(c.tactics[13].shortname, "impact");
    let live: Vec<_> = c.techniques().filter(|t| t.is_live()).collect();
    assert_eq!(live.len(), 691);
    assert_eq!(live.iter().filter(|t| !t.is_subtechnique()).count(), 216);
    let guessing = c.technique("T1110.001").unwrap();
    assert_eq!(guessing.name, "Password Guessing");
    assert_eq!(guessing.tactics, ["credential-access"]);
    assert!(c.has_detection_id("DET0551") && c.has_detection_id("AN1522"));
    let revoked = c.techniques().filter(|t| t.revoked).count();
    assert!(revoked > 100, "{revoked}");
    assert!(c
        .techniques()
        .filter(|t| t.revoked)
        .any(|t| t.revoked_by.is_some()));
}
