//! SARIF 2.1.0 from any tool: each run's `results` are findings, their rule (by `ruleId`, or
//! `ruleIndex` into the driver's or an extension's `rules`) gives title, description and
//! `security-severity`. What a result is comes from its tool and rule: a vulnerability when it names
//! a vulnerability id or carries a security severity or CVSS (Trivy, Dependency-Check), a secret from
//! a secret scanner (Gitleaks), else a weakness in code.

use serde_json::Value;

use super::json::{at, list, number, string, text, text_at};
use super::lazy::Fields;
use super::{Format, Sink, Tally};
use crate::cvss::{CvssScore, CvssVersion};
use crate::finding::{
    mask_secret, Asset, AssetKind, Exploitation, Finding, FindingKind, FixState, Package, Severity,
};
use crate::VulnError;

const VULNERABILITY_IDS: &[&str] = &["CVE-", "GHSA-", "GO-", "RUSTSEC-", "PYSEC-", "OSV-"];
const SECRET_SCANNERS: &[&str] = &["gitleaks", "trufflehog", "detect-secrets", "ggshield"];

/// Reads the log lazily: each run without its results parsed whole (its tool, rules and
/// provenance), then its results one at a time.
pub(super) fn import(
    file: &str,
    report: &Fields<'_>,
    sink: &mut dyn Sink,
) -> Result<Tally, VulnError> {
    let mut tally = Tally::new(Format::Sarif);
    let Some(runs) = report.raw("runs").filter(|r| r.is_array()) else {
        return Err(VulnError::Format {
            file: file.to_string(),
            reason: "a SARIF log without runs".into(),
        });
    };
    for (r, raw_run) in runs.items().into_iter().enumerate() {
        let run_fields = raw_run.fields();
        let run = &run_fields.small(&["results"]);
        let driver = at(run, "tool.driver").unwrap_or(&Value::Null);
        let tool_name = text(driver, "name").unwrap_or("sarif");
        let tool = format!("sarif:{}", tool_name.to_ascii_lowercase());
        let secrets = SECRET_SCANNERS
            .iter()
            .any(|s| tool_name.to_ascii_lowercase().contains(s));
        let asset = run_asset(run);
        sink.scope(&tool, &asset.name)?;
        let mut rules: Vec<&Value> = list(driver, "rules").iter().collect();
        for extension in list(at(run, "tool").unwrap_or(&Value::Null), "extensions") {
            rules.extend(list(extension, "rules"));
        }
        let run_tool = RunTool {
            tool: &tool,
            secrets,
            asset: &asset,
            rules: &rules,
        };
        for (i, raw) in run_fields.items("results").into_iter().enumerate() {
            tally.read += 1;
            let record = format!("runs[{r}].results[{i}]");
            let result = raw.value().unwrap_or(Value::Null);
            match finding(&result, &run_tool, record.clone()) {
                Ok(f) => sink.finding(f)?,
                Err(reason) => tally.reject(record, reason),
            }
        }
    }
    Ok(tally)
}

struct RunTool<'a> {
    tool: &'a str,
    secrets: bool,
    asset: &'a Asset,
    rules: &'a [&'a Value],
}

/// What a run scanned: its repository (`versionControlProvenance`), the image Trivy names in the
/// run's properties, else the working tree `.` (name it with `vuln import --target`).
fn run_asset(run: &Value) -> Asset {
    if let Some(repo) = list(run, "versionControlProvenance")
        .first()
        .and_then(|v| text(v, "repositoryUri"))
    {
        return Asset {
            kind: AssetKind::Repository,
            name: repo.to_string(),
            address: None,
        };
    }
    // Trivy names the image it scanned: by the tag it was pulled as (as its JSON report's
    // `Reference`), else by what it was given.
    let tag = at(run, "properties.repoTags")
        .and_then(Value::as_array)
        .and_then(|tags| {
            tags.iter()
                .filter_map(Value::as_str)
                .find(|t| !t.trim().is_empty())
        });
    if let Some(image) = tag.or_else(|| text_at(run, "properties.imageName")) {
        return Asset {
            kind: AssetKind::Image,
            name: image.to_string(),
            address: None,
        };
    }
    Asset {
        kind: AssetKind::Path,
        name: ".".to_string(),
        address: None,
    }
}

fn finding(result: &Value, run: &RunTool<'_>, record: String) -> Result<Finding, String> {
    if !result.is_object() {
        return Err("not an object".into());
    }
    let rule = rule_of(result, run.rules);
    let message = text_at(result, "message.text").unwrap_or("");
    let id = string(result, "ruleId")
        .or_else(|| text_at(result, "rule.id").map(str::to_string))
        .or_else(|| rule.and_then(|r| string(r, "id")))
        .or_else(|| (!message.is_empty()).then(|| message.to_string()))
        .ok_or("no ruleId, rule or message")?;
    let rule = rule.unwrap_or(&Value::Null);
    let props = result.get("properties").unwrap_or(&Value::Null);
    let rule_props = rule.get("properties").unwrap_or(&Value::Null);
    let cvss = scores(rule_props, props, run.tool);
    let security_severity = number(rule_props, "security-severity");
    let kind = if run.secrets {
        FindingKind::Secret
    } else if VULNERABILITY_IDS.iter().any(|p| id.starts_with(p))
        || security_severity.is_some()
        || !cvss.is_empty()
        || text(props, "severity").is_some()
    {
        FindingKind::Vulnerability
    } else {
        FindingKind::Weakness
    };
    let severity = security_severity
        .map(Severity::from_score)
        .or_else(|| text(props, "severity").map(Severity::parse))
        .or_else(|| {
            cvss.iter()
                .filter_map(CvssScore::score)
                .reduce(f64::max)
                .map(Severity::from_score)
        })
        .unwrap_or_else(|| level(result, rule));
    let location = list(result, "locations")
        .first()
        .and_then(|l| l.get("physicalLocation"));
    let uri = location.and_then(|l| text_at(l, "artifactLocation.uri"));
    let line = location
        .and_then(|l| at(l, "region.startLine"))
        .and_then(Value::as_u64);
    let mut place = match (uri, line) {
        (Some(uri), Some(line)) => format!("{uri}:{line}"),
        (Some(uri), None) => uri.to_string(),
        _ => String::new(),
    };
    if let Some(commit) = text(props, "commit") {
        place.push('@');
        place.push_str(commit);
    }
    let mut description = text_at(rule, "fullDescription.text")
        .unwrap_or(message)
        .to_string();
    if kind == FindingKind::Secret {
        // The secret itself never reaches the store: Gitleaks puts it in `offender` and in the
        // region's snippet; neither is kept, the offender only masked.
        description = message.to_string();
        if let Some(offender) = text(props, "offender") {
            description.push_str(&format!(" ({})", mask_secret(offender)));
        }
    }
    let title = text_at(rule, "shortDescription.text")
        .or_else(|| text(rule, "name"))
        .unwrap_or(&id)
        .to_string();
    let package = trivy_package(message);
    let tool_key = fingerprint(result);
    let references: Vec<String> = string(rule, "helpUri").into_iter().collect();
    Ok(Finding {
        kind,
        tool: run.tool.to_string(),
        scope: run.asset.name.clone(),
        asset: run.asset.clone(),
        aliases: Vec::new(),
        package,
        location: (!place.is_empty()).then_some(place),
        fixed_version: fixed_version(message),
        fix_state: FixState::Unknown,
        severity,
        cvss,
        cwes: Vec::new(),
        description,
        references,
        exploitation: Exploitation::default(),
        published: None,
        tool_key,
        title,
        id,
        record,
    })
}

fn rule_of<'a>(result: &Value, rules: &[&'a Value]) -> Option<&'a Value> {
    if let Some(index) = result.get("ruleIndex").and_then(Value::as_u64) {
        if let Some(rule) = usize::try_from(index).ok().and_then(|i| rules.get(i)) {
            return Some(rule);
        }
    }
    let id = text(result, "ruleId")?;
    rules.iter().copied().find(|r| text(r, "id") == Some(id))
}

/// SARIF's `level` when nothing says more: error high, warning medium, note low.
fn level(result: &Value, rule: &Value) -> Severity {
    let level = text(result, "level").or_else(|| text_at(rule, "defaultConfiguration.level"));
    match level {
        Some("error") => Severity::High,
        Some("warning") => Severity::Medium,
        Some("note") => Severity::Low,
        Some("none") => Severity::None,
        _ => Severity::Unknown,
    }
}

/// CVSS from a rule's properties (Trivy: `cvssv3_vector`, `cvssv2_vector`) or a result's
/// (Dependency-Check: `cvssv3_baseScore`, `cvssv2_score` with the version).
fn scores(rule: &Value, result: &Value, tool: &str) -> Vec<CvssScore> {
    let mut out = Vec::new();
    for props in [rule, result] {
        let v3 = match text(props, "cvssv3_version") {
            Some("3.0") => CvssVersion::V30,
            _ => CvssVersion::V31,
        };
        out.extend(CvssScore::new(
            tool,
            Some(v3),
            text(props, "cvssv3_vector"),
            number(props, "cvssv3_baseScore"),
        ));
        out.extend(CvssScore::new(
            tool,
            Some(CvssVersion::V2),
            text(props, "cvssv2_vector"),
            number(props, "cvssv2_score"),
        ));
    }
    out
}

/// Trivy writes the package into its SARIF message (`Package: libcrypto1.1`, `Installed Version:
/// 1.1.1c-r0`): read so the finding merges with the same one from Trivy's JSON or another tool.
fn trivy_package(message: &str) -> Option<Package> {
    let field = |name: &str| {
        message
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .map(|v| v.trim().to_string())
    };
    Some(Package {
        name: field("Package: ")?,
        version: field("Installed Version: ").unwrap_or_default(),
        ..Package::default()
    })
}

fn fixed_version(message: &str) -> Option<String> {
    message
        .lines()
        .find_map(|l| l.strip_prefix("Fixed Version: "))
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

/// The result's fingerprint: `fingerprints` (stable by SARIF's definition), else
/// `partialFingerprints`, each the first by key.
fn fingerprint(result: &Value) -> Option<String> {
    for key in ["fingerprints", "partialFingerprints"] {
        if let Some(map) = result.get(key).and_then(Value::as_object) {
            let mut pairs: Vec<_> = map
                .iter()
                .filter_map(|(k, v)| Some((k, v.as_str()?)))
                .collect();
            pairs.sort();
            if let Some((k, v)) = pairs.first() {
                return Some(format!("{k}={v}"));
            }
        }
    }
    None
}
