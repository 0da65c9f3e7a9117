//! Grype JSON (`-o json`): `matches[]` of a vulnerability (with its CVSS list, and since Grype 0.9x
//! its EPSS values, KEV entries and own `risk`), the related vulnerabilities (a GHSA's CVE) and the
//! artifact; `source` says what was scanned (an image, a directory, a file or an SBOM).

use serde_json::Value;

use super::json::{at, list, number, string, strings, text, text_at};
use super::lazy::Fields;
use super::{Format, Sink, Tally};
use crate::cvss::{CvssScore, CvssVersion};
use crate::finding::{
    Asset, AssetKind, Epss, Exploitation, Finding, FindingKind, FixState, KevMark, Package,
    Severity,
};
use crate::VulnError;

const TOOL: &str = "grype";

pub(super) fn import(
    file: &str,
    report: &Fields<'_>,
    sink: &mut dyn Sink,
) -> Result<Tally, VulnError> {
    let mut tally = Tally::new(Format::Grype);
    let source = report.value("source").unwrap_or(Value::Null);
    let source = &source;
    let (kind, name) = match text(source, "type") {
        Some("image") => (
            AssetKind::Image,
            text_at(source, "target.userInput")
                .or_else(|| text_at(source, "target.imageID"))
                .map(str::to_string),
        ),
        Some("directory") | Some("file") => (
            AssetKind::Path,
            text(source, "target")
                .map(|t| t.trim_matches('"').to_string())
                .or_else(|| text_at(source, "target.path").map(str::to_string)),
        ),
        _ => (
            AssetKind::Path,
            text(source, "target").map(|t| t.trim_matches('"').to_string()),
        ),
    };
    let Some(name) = name else {
        return Err(VulnError::Format {
            file: file.to_string(),
            reason: "a Grype report whose source names no target".into(),
        });
    };
    sink.scope(TOOL, &name)?;
    let asset = Asset {
        kind,
        name: name.clone(),
        address: None,
    };
    for (i, entry) in report.items("matches").into_iter().enumerate() {
        tally.read += 1;
        let record = format!("matches[{i}]");
        let entry = entry.value().unwrap_or(Value::Null);
        match finding(&entry, &name, &asset, record.clone()) {
            Ok(f) => sink.finding(f)?,
            Err(reason) => tally.reject(record, reason),
        }
    }
    Ok(tally)
}

fn finding(entry: &Value, scope: &str, asset: &Asset, record: String) -> Result<Finding, String> {
    let vulnerability = entry.get("vulnerability").ok_or("no vulnerability")?;
    let artifact = entry.get("artifact").ok_or("no artifact")?;
    let id = string(vulnerability, "id").ok_or("no vulnerability id")?;
    let name = string(artifact, "name").ok_or("no artifact name")?;
    let mut aliases: Vec<String> = list(entry, "relatedVulnerabilities")
        .iter()
        .filter_map(|r| string(r, "id"))
        .filter(|a| *a != id)
        .collect();
    aliases.sort();
    aliases.dedup();
    let cvss = list(vulnerability, "cvss")
        .iter()
        .filter_map(|c| {
            let version = match text(c, "version") {
                Some("2.0") => CvssVersion::V2,
                Some("3.0") => CvssVersion::V30,
                Some("4.0") => CvssVersion::V40,
                _ => CvssVersion::V31,
            };
            CvssScore::new(
                text(c, "source").unwrap_or("grype"),
                Some(version),
                text(c, "vector"),
                at(c, "metrics.baseScore").and_then(Value::as_f64),
            )
        })
        .collect();
    let fix = vulnerability.get("fix").unwrap_or(&Value::Null);
    let fix_versions = strings(fix, "versions");
    let fix_state = match text(fix, "state") {
        Some("fixed") => FixState::Fixed,
        Some("not-fixed") => FixState::Affected,
        Some("wont-fix") => FixState::WillNotFix,
        _ => FixState::Unknown,
    };
    let epss = list(vulnerability, "epss").first().and_then(|e| {
        Some(Epss {
            cve: string(e, "cve").unwrap_or_else(|| id.clone()),
            score: number(e, "epss")?,
            percentile: number(e, "percentile").unwrap_or(0.0),
            date: string(e, "date").unwrap_or_default(),
        })
    });
    let known = list(vulnerability, "knownExploited");
    let kev = (!known.is_empty()).then(|| KevMark {
        cve: known
            .iter()
            .find_map(|k| string(k, "cve"))
            .unwrap_or_else(|| id.clone()),
        ransomware: known.iter().any(|k| {
            text(k, "knownRansomwareCampaignUse").is_some_and(|u| u.eq_ignore_ascii_case("known"))
        }),
        date_added: known.iter().find_map(|k| string(k, "dateAdded")),
        due_date: known.iter().find_map(|k| string(k, "dueDate")),
    });
    let description = string(vulnerability, "description")
        .or_else(|| {
            list(entry, "relatedVulnerabilities")
                .iter()
                .find_map(|r| string(r, "description"))
        })
        .unwrap_or_default();
    Ok(Finding {
        kind: FindingKind::Vulnerability,
        tool: TOOL.to_string(),
        scope: scope.to_string(),
        asset: asset.clone(),
        title: format!("{id} in {name}"),
        aliases,
        package: Some(Package {
            version: string(artifact, "version").unwrap_or_default(),
            ecosystem: string(artifact, "type"),
            purl: string(artifact, "purl"),
            path: list(artifact, "locations")
                .first()
                .and_then(|l| string(l, "path")),
            name,
        }),
        location: None,
        fixed_version: (!fix_versions.is_empty()).then(|| fix_versions.join(", ")),
        fix_state,
        severity: text(vulnerability, "severity").map_or(Severity::Unknown, Severity::parse),
        cvss,
        cwes: Vec::new(),
        description,
        references: strings(vulnerability, "urls"),
        exploitation: Exploitation {
            epss,
            kev,
            exploit_available: false,
        },
        published: None,
        tool_key: None,
        id,
        record,
    })
}
