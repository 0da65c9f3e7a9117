//! Trivy JSON (`--format json`, schema version 2): an image, filesystem, repository or VM report
//! (`ArtifactName`, `Results[]`), or a Kubernetes cluster report (`ClusterName` with `Resources[]`,
//! or the older `Vulnerabilities[]` and `Misconfigurations[]`, each a workload with its `Results[]`).
//! Each result's `Vulnerabilities` are the findings the tally reads; `Misconfigurations` that failed
//! and `Secrets` are kept as findings of their own kind, counted apart.

use serde_json::Value;

use super::json::{list, number, string, strings, text, text_at, time};
use super::lazy::Fields;
use super::{Format, Sink, Tally};
use crate::cvss::{CvssScore, CvssVersion};
use crate::finding::{
    Asset, AssetKind, Exploitation, Finding, FindingKind, FixState, Package, Severity,
};
use crate::VulnError;

const TOOL: &str = "trivy";

pub(super) fn import(
    file: &str,
    report: &Fields<'_>,
    sink: &mut dyn Sink,
) -> Result<Tally, VulnError> {
    let mut tally = Tally::new(Format::Trivy);
    if let Some(cluster) = report.value("ClusterName").as_ref().and_then(Value::as_str) {
        let scope = format!("cluster:{}", cluster.trim());
        sink.scope(TOOL, &scope)?;
        for key in ["Resources", "Vulnerabilities", "Misconfigurations"] {
            for (i, resource) in report.items(key).into_iter().enumerate() {
                let resource = resource.fields();
                let small = resource.small(&["Results"]);
                let workload = [
                    text(&small, "Namespace").unwrap_or("-"),
                    text(&small, "Kind").unwrap_or("-"),
                    text(&small, "Name").unwrap_or("-"),
                ]
                .join("/");
                let place = Place {
                    scope: &scope,
                    artifact: None,
                    workload: Some(&workload),
                    record: format!("{key}[{i}]"),
                };
                results(&resource, &place, &mut tally, sink)?;
            }
        }
        return Ok(tally);
    }
    let top = report.small(&["Results"]);
    let metadata = top.get("Metadata").unwrap_or(&Value::Null);
    let first_tag = list(metadata, "RepoTags")
        .iter()
        .filter_map(Value::as_str)
        .map(str::trim)
        .find(|t| !t.is_empty());
    // The first result's target names the image when the report leaves ArtifactName empty
    // (`example-app:main-159 (debian 10.13)`).
    let first_target = report
        .items("Results")
        .first()
        .and_then(|r| r.fields().value("Target"))
        .and_then(|t| {
            t.as_str()
                .map(|t| t.split(" (").next().unwrap_or(t).trim().to_string())
        })
        .filter(|t| !t.is_empty());
    let Some(artifact) = text(&top, "ArtifactName")
        .map(str::to_string)
        .or(first_tag.map(str::to_string))
        .or(first_target)
    else {
        return Err(VulnError::Format {
            file: file.to_string(),
            reason: "a Trivy report that names no artifact (ArtifactName, RepoTags, a target) \
                     and no cluster"
                .into(),
        });
    };
    let kind = match text(&top, "ArtifactType") {
        Some("container_image") | Some("vm") => AssetKind::Image,
        Some("repository") => AssetKind::Repository,
        _ => AssetKind::Path,
    };
    // An image is known by the name it was pulled as when the report was made from an archive.
    let name = if kind == AssetKind::Image {
        text_at(&top, "Metadata.Reference")
            .or(first_tag)
            .unwrap_or(&artifact)
            .to_string()
    } else {
        artifact.clone()
    };
    sink.scope(TOOL, &artifact)?;
    let place = Place {
        scope: &artifact,
        artifact: Some(Asset {
            kind,
            name,
            address: None,
        }),
        workload: None,
        record: String::new(),
    };
    results(report, &place, &mut tally, sink)?;
    Ok(tally)
}

/// Where a list of results is: the report's scope, its artifact, or the workload of a cluster report.
struct Place<'a> {
    scope: &'a str,
    artifact: Option<Asset>,
    workload: Option<&'a str>,
    record: String,
}

impl Place<'_> {
    fn record(&self, rest: String) -> String {
        if self.record.is_empty() {
            rest
        } else {
            format!("{}.{rest}", self.record)
        }
    }

    /// The asset of a result: the artifact; in a cluster, the image a package result names
    /// (`docker.io/redis:6.0.5 (debian 10.4)`) or else the workload.
    fn asset(&self, target: &str, packages: bool) -> Asset {
        if let Some(asset) = &self.artifact {
            return asset.clone();
        }
        if packages && !target.is_empty() {
            let image = target.split(" (").next().unwrap_or(target);
            return Asset {
                kind: AssetKind::Image,
                name: image.to_string(),
                address: None,
            };
        }
        Asset {
            kind: AssetKind::Workload,
            name: self.workload.unwrap_or(target).to_string(),
            address: None,
        }
    }
}

fn results(
    holder: &Fields<'_>,
    place: &Place<'_>,
    tally: &mut Tally,
    sink: &mut dyn Sink,
) -> Result<(), VulnError> {
    for (r, result) in holder.items("Results").into_iter().enumerate() {
        let result = result.fields();
        let small = result.small(&[
            "Vulnerabilities",
            "Misconfigurations",
            "Secrets",
            "Packages",
        ]);
        let target = text(&small, "Target").unwrap_or("");
        let ecosystem = text(&small, "Type");
        for (v, entry) in result.items("Vulnerabilities").into_iter().enumerate() {
            tally.read += 1;
            let record = place.record(format!("Results[{r}].Vulnerabilities[{v}]"));
            let entry = entry.value().unwrap_or(Value::Null);
            match vulnerability(&entry, place, target, ecosystem, record.clone()) {
                Ok(finding) => sink.finding(finding)?,
                Err(reason) => tally.reject(record, reason),
            }
        }
        for (m, entry) in result.items("Misconfigurations").into_iter().enumerate() {
            let record = place.record(format!("Results[{r}].Misconfigurations[{m}]"));
            let entry = entry.value().unwrap_or(Value::Null);
            match text(&entry, "Status") {
                Some("PASS") => tally.apart("passed check"),
                Some("EXCEPTION") => tally.apart("excepted check"),
                _ => {
                    tally.apart("misconfiguration");
                    match misconfiguration(&entry, place, target, record.clone()) {
                        Ok(finding) => sink.finding(finding)?,
                        Err(reason) => tally.reject(record, reason),
                    }
                }
            }
        }
        for (s, entry) in result.items("Secrets").into_iter().enumerate() {
            tally.apart("secret");
            let record = place.record(format!("Results[{r}].Secrets[{s}]"));
            let entry = entry.value().unwrap_or(Value::Null);
            match secret(&entry, place, target, record.clone()) {
                Ok(finding) => sink.finding(finding)?,
                Err(reason) => tally.reject(record, reason),
            }
        }
    }
    Ok(())
}

fn vulnerability(
    entry: &Value,
    place: &Place<'_>,
    target: &str,
    ecosystem: Option<&str>,
    record: String,
) -> Result<Finding, String> {
    if !entry.is_object() {
        return Err("not an object".into());
    }
    let id = string(entry, "VulnerabilityID").ok_or("no VulnerabilityID")?;
    let name = string(entry, "PkgName").ok_or("no PkgName")?;
    let fixed_version = string(entry, "FixedVersion");
    let fix_state = match text(entry, "Status") {
        Some(status) => FixState::from_trivy(status)
            .ok_or_else(|| format!("Status {status:?} is none of Trivy's eight"))?,
        None if fixed_version.is_some() => FixState::Fixed,
        None => FixState::Unknown,
    };
    let mut cvss = Vec::new();
    if let Some(sources) = entry.get("CVSS").and_then(Value::as_object) {
        for (source, s) in sources {
            let pairs = [
                ("V2Vector", "V2Score", CvssVersion::V2),
                ("V3Vector", "V3Score", CvssVersion::V31),
                ("V40Vector", "V40Score", CvssVersion::V40),
            ];
            for (vector, score, version) in pairs {
                cvss.extend(CvssScore::new(
                    source,
                    Some(version),
                    text(s, vector),
                    number(s, score),
                ));
            }
        }
    }
    let mut references = strings(entry, "References");
    if let Some(primary) = string(entry, "PrimaryURL") {
        if !references.contains(&primary) {
            references.insert(0, primary);
        }
    }
    Ok(Finding {
        kind: FindingKind::Vulnerability,
        tool: TOOL.to_string(),
        scope: place.scope.to_string(),
        asset: place.asset(target, ecosystem.is_some()),
        title: string(entry, "Title").unwrap_or_else(|| id.clone()),
        aliases: strings(entry, "VendorIDs"),
        package: Some(Package {
            name,
            version: string(entry, "InstalledVersion").unwrap_or_default(),
            ecosystem: ecosystem.map(str::to_string),
            purl: text_at(entry, "PkgIdentifier.PURL").map(str::to_string),
            path: string(entry, "PkgPath"),
        }),
        location: place
            .workload
            .map(str::to_string)
            .or_else(|| (!target.is_empty()).then(|| target.to_string())),
        fixed_version,
        fix_state,
        severity: text(entry, "Severity").map_or(Severity::Unknown, Severity::parse),
        cvss,
        cwes: strings(entry, "CweIDs"),
        description: string(entry, "Description").unwrap_or_default(),
        references,
        exploitation: Exploitation::default(),
        published: time(entry, "PublishedDate"),
        tool_key: string(entry, "Fingerprint"),
        id,
        record,
    })
}

fn misconfiguration(
    entry: &Value,
    place: &Place<'_>,
    target: &str,
    record: String,
) -> Result<Finding, String> {
    let id = string(entry, "ID")
        .or_else(|| string(entry, "AVDID"))
        .ok_or("no ID")?;
    let line = entry
        .get("CauseMetadata")
        .and_then(|c| c.get("StartLine"))
        .and_then(Value::as_u64);
    let mut description = string(entry, "Description").unwrap_or_default();
    for key in ["Message", "Resolution"] {
        if let Some(more) = text(entry, key) {
            description.push_str("\n\n");
            description.push_str(more);
        }
    }
    Ok(Finding {
        kind: FindingKind::Misconfiguration,
        tool: TOOL.to_string(),
        scope: place.scope.to_string(),
        asset: place.asset(target, false),
        title: string(entry, "Title").unwrap_or_else(|| id.clone()),
        aliases: string(entry, "AVDID")
            .filter(|a| *a != id)
            .into_iter()
            .collect(),
        package: None,
        location: Some(match line {
            Some(line) => format!("{target}:{line}"),
            None => target.to_string(),
        }),
        fixed_version: None,
        fix_state: FixState::Unknown,
        severity: text(entry, "Severity").map_or(Severity::Unknown, Severity::parse),
        cvss: Vec::new(),
        cwes: Vec::new(),
        description,
        references: strings(entry, "References"),
        exploitation: Exploitation::default(),
        published: None,
        tool_key: None,
        id,
        record,
    })
}

fn secret(
    entry: &Value,
    place: &Place<'_>,
    target: &str,
    record: String,
) -> Result<Finding, String> {
    let id = string(entry, "RuleID").ok_or("no RuleID")?;
    let line = entry.get("StartLine").and_then(Value::as_u64);
    Ok(Finding {
        kind: FindingKind::Secret,
        tool: TOOL.to_string(),
        scope: place.scope.to_string(),
        asset: place.asset(target, false),
        title: string(entry, "Title").unwrap_or_else(|| id.clone()),
        aliases: Vec::new(),
        package: None,
        location: Some(match line {
            Some(line) => format!("{target}:{line}"),
            None => target.to_string(),
        }),
        fixed_version: None,
        fix_state: FixState::Unknown,
        severity: text(entry, "Severity").map_or(Severity::Unknown, Severity::parse),
        cvss: Vec::new(),
        cwes: Vec::new(),
        // Trivy masks the secret in `Match` itself.
        description: string(entry, "Match").unwrap_or_default(),
        references: Vec::new(),
        exploitation: Exploitation::default(),
        published: None,
        tool_key: None,
        id,
        record,
    })
}
