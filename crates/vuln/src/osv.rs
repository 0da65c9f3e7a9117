//! OSV records (the Open Source Vulnerability schema, ossf.github.io/osv-schema): what osv-scanner
//! embeds in its report and what `vuln refresh` loads from OSV's own files. A `MAL-` record is a
//! malicious package, never scored as a CVE.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::cvss::{CvssScore, CvssVersion};
use crate::finding::{FindingKind, Severity};
use crate::VulnError;

/// What a finding takes from an OSV record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    pub id: String,
    pub aliases: Vec<String>,
    pub kind: FindingKind,
    pub summary: String,
    pub details: String,
    pub cvss: Vec<CvssScore>,
    /// The database's own severity word (GitHub's `database_specific.severity`), when there is one.
    pub severity: Severity,
    pub cwes: Vec<String>,
    pub references: Vec<String>,
    pub published: Option<i64>,
    pub modified: Option<i64>,
    /// Per affected package (`ecosystem`, `name`): the versions that fix it.
    pub fixed: Vec<(String, String, Vec<String>)>,
}

impl Record {
    /// Reads one record; `None` without an `id`.
    pub fn from_json(value: &Value) -> Option<Record> {
        let text = |v: &Value, key: &str| {
            v.get(key)
                .and_then(Value::as_str)
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
        };
        let list = |v: &Value, key: &str| -> Vec<Value> {
            v.get(key)
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default()
        };
        let id = text(value, "id")?;
        let mut aliases: Vec<String> = list(value, "aliases")
            .iter()
            .filter_map(|a| a.as_str().map(str::to_string))
            .filter(|a| *a != id)
            .collect();
        aliases.sort();
        aliases.dedup();
        let cvss = list(value, "severity")
            .iter()
            .filter_map(|s| {
                let version = match text(s, "type")?.as_str() {
                    "CVSS_V2" => CvssVersion::V2,
                    "CVSS_V3" => CvssVersion::V31,
                    "CVSS_V4" => CvssVersion::V40,
                    _ => return None,
                };
                CvssScore::new("osv", Some(version), text(s, "score").as_deref(), None)
            })
            .collect();
        let database = value.get("database_specific").unwrap_or(&Value::Null);
        let mut cwes: Vec<String> = list(database, "cwe_ids")
            .iter()
            .filter_map(|c| c.as_str().map(str::to_string))
            .collect();
        let mut fixed = Vec::new();
        for affected in list(value, "affected") {
            let package = affected.get("package").unwrap_or(&Value::Null);
            let versions: Vec<String> = list(&affected, "ranges")
                .iter()
                .flat_map(|r| list(r, "events"))
                .filter_map(|e| text(&e, "fixed"))
                .collect();
            for cwe in list(
                affected.get("database_specific").unwrap_or(&Value::Null),
                "cwes",
            ) {
                cwes.extend(text(&cwe, "cweId"));
            }
            fixed.push((
                text(package, "ecosystem").unwrap_or_default(),
                text(package, "name").unwrap_or_default(),
                versions,
            ));
        }
        cwes.sort();
        cwes.dedup();
        let time = |key: &str| text(value, key).and_then(|t| crate::parse_time(&t));
        Some(Record {
            kind: if id.starts_with("MAL-") {
                FindingKind::Malicious
            } else {
                FindingKind::Vulnerability
            },
            summary: text(value, "summary").unwrap_or_default(),
            details: text(value, "details").unwrap_or_default(),
            cvss,
            severity: text(database, "severity").map_or(Severity::Unknown, |s| Severity::parse(&s)),
            cwes,
            references: list(value, "references")
                .iter()
                .filter_map(|r| text(r, "url"))
                .collect(),
            published: time("published"),
            modified: time("modified"),
            fixed,
            aliases,
            id,
        })
    }

    /// The versions that fix it in a package (`name` in any ecosystem when the ecosystem differs
    /// in spelling, `Debian:10` against `Debian`).
    pub fn fixed_in(&self, ecosystem: &str, name: &str) -> Vec<String> {
        let base = |e: &str| e.split(':').next().unwrap_or(e).to_ascii_lowercase();
        self.fixed
            .iter()
            .filter(|(e, n, _)| n == name && base(e) == base(ecosystem))
            .flat_map(|(_, _, v)| v.iter().cloned())
            .collect()
    }
}

/// Reads OSV records from a file: one record, an array of them, or osv-scanner's report.
pub fn read_records(name: &str, text: &str) -> Result<Vec<Record>, VulnError> {
    let value: Value = serde_json::from_str(text).map_err(|e| VulnError::Format {
        file: name.to_string(),
        reason: format!("not JSON: {e}"),
    })?;
    let items: Vec<&Value> = match &value {
        Value::Array(items) => items.iter().collect(),
        Value::Object(o) if o.contains_key("results") => o["results"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|r| {
                r.get("packages")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
            })
            .flat_map(|p| {
                p.get("vulnerabilities")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
            })
            .collect(),
        other => vec![other],
    };
    let records: Vec<Record> = items.into_iter().filter_map(Record::from_json).collect();
    if records.is_empty() {
        return Err(VulnError::Format {
            file: name.to_string(),
            reason: "no OSV record (an object with an id)".into(),
        });
    }
    Ok(records)
}
