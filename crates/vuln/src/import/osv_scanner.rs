//! osv-scanner's JSON (`--format json`): `results[]`, one per scanned source (a lock file, an SBOM,
//! an image), each with `packages[]` whose `vulnerabilities` are whole OSV records and whose
//! `groups` bundle the ids that name one problem (with osv-scanner's `max_severity`).

use serde_json::Value;

use super::json::{list, string, strings, text};
use super::lazy::Fields;
use super::{Format, Sink, Tally};
use crate::finding::{Asset, AssetKind, Exploitation, Finding, FixState, Package, Severity};
use crate::osv::Record;
use crate::VulnError;

const TOOL: &str = "osv-scanner";

/// Reads the report lazily: one package (with its records) parsed at a time.
pub(super) fn import(
    file: &str,
    report: &Fields<'_>,
    sink: &mut dyn Sink,
) -> Result<Tally, VulnError> {
    let mut tally = Tally::new(Format::OsvScanner);
    let Some(results) = report.raw("results").filter(|r| r.is_array()) else {
        return Err(VulnError::Format {
            file: file.to_string(),
            reason: "an osv-scanner report without results".into(),
        });
    };
    for (r, raw_result) in results.items().into_iter().enumerate() {
        let result_fields = raw_result.fields();
        let result = &result_fields.small(&["packages"]);
        let source = result.get("source").unwrap_or(&Value::Null);
        let path = text(source, "path").unwrap_or(".");
        let kind = match text(source, "type") {
            Some("docker") | Some("image") => AssetKind::Image,
            _ => AssetKind::Path,
        };
        sink.scope(TOOL, path)?;
        let asset = Asset {
            kind,
            name: path.to_string(),
            address: None,
        };
        for (p, raw_package) in result_fields.items("packages").into_iter().enumerate() {
            let package = &raw_package.value().unwrap_or(Value::Null);
            let groups = list(package, "groups");
            for (v, entry) in list(package, "vulnerabilities").iter().enumerate() {
                tally.read += 1;
                let record = format!("results[{r}].packages[{p}].vulnerabilities[{v}]");
                match finding(entry, package, groups, path, &asset, record.clone()) {
                    Ok(f) => sink.finding(f)?,
                    Err(reason) => tally.reject(record, reason),
                }
            }
        }
    }
    Ok(tally)
}

fn finding(
    entry: &Value,
    package: &Value,
    groups: &[Value],
    scope: &str,
    asset: &Asset,
    record: String,
) -> Result<Finding, String> {
    let osv = Record::from_json(entry).ok_or("an OSV record without an id")?;
    let pkg = package.get("package").ok_or("a package without its name")?;
    let name = string(pkg, "name").ok_or("a package without its name")?;
    let ecosystem = string(pkg, "ecosystem");
    // The group holding this id: its other ids are aliases too, its max_severity the tool's
    // severity for all of them.
    let group = groups.iter().find(|g| strings(g, "ids").contains(&osv.id));
    let mut aliases = osv.aliases.clone();
    if let Some(group) = group {
        aliases.extend(strings(group, "ids"));
        aliases.extend(strings(group, "aliases"));
    }
    aliases.retain(|a| *a != osv.id);
    aliases.sort();
    aliases.dedup();
    let max_severity = group
        .and_then(|g| super::json::number(g, "max_severity"))
        .map(Severity::from_score);
    let severity = max_severity
        .or_else(|| {
            osv.cvss
                .iter()
                .filter_map(|c| c.score())
                .reduce(f64::max)
                .map(Severity::from_score)
        })
        .unwrap_or(osv.severity);
    let fixed = osv.fixed_in(ecosystem.as_deref().unwrap_or(""), &name);
    Ok(Finding {
        kind: osv.kind,
        tool: TOOL.to_string(),
        scope: scope.to_string(),
        asset: asset.clone(),
        title: if osv.summary.is_empty() {
            osv.id.clone()
        } else {
            osv.summary.clone()
        },
        aliases,
        package: Some(Package {
            version: string(pkg, "version").unwrap_or_default(),
            purl: string(pkg, "purl"),
            ecosystem,
            path: None,
            name,
        }),
        location: None,
        fix_state: if fixed.is_empty() {
            FixState::Unknown
        } else {
            FixState::Fixed
        },
        fixed_version: (!fixed.is_empty()).then(|| fixed.join(", ")),
        severity,
        cvss: osv.cvss,
        cwes: osv.cwes,
        description: osv.details,
        references: osv.references,
        exploitation: Exploitation::default(),
        published: osv.published,
        tool_key: None,
        id: osv.id,
        record,
    })
}
