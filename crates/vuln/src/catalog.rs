//! The catalogs `vuln refresh` loads: CISA's Known Exploited Vulnerabilities (JSON or CSV) and
//! FIRST's daily EPSS scores (CSV, optionally gzipped by the caller). Each entry that cannot be read
//! is named (line or index) and the rest loaded.

use std::io::BufRead;

use serde_json::Value;

use crate::import::Rejected;
use crate::VulnError;

/// One KEV entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KevEntry {
    pub cve: String,
    pub vendor: String,
    pub product: String,
    pub name: String,
    /// `YYYY-MM-DD`.
    pub date_added: String,
    /// `YYYY-MM-DD`; may come before `date_added` (the 2021 batch inherited from earlier directives).
    pub due_date: Option<String>,
    /// `knownRansomwareCampaignUse` is "Known".
    pub ransomware: bool,
    pub required_action: String,
}

/// A KEV catalog as read.
#[derive(Debug, Clone, Default)]
pub struct Kev {
    pub version: Option<String>,
    pub entries: Vec<KevEntry>,
    pub rejected: Vec<Rejected>,
}

/// Reads the KEV catalog in its JSON form (`vulnerabilities[]`) or its CSV form (same columns).
pub fn read_kev(name: &str, text: &str) -> Result<Kev, VulnError> {
    let trimmed = text.trim_start_matches('\u{feff}').trim_start();
    if trimmed.starts_with('{') {
        let value: Value = serde_json::from_str(trimmed).map_err(|e| VulnError::Format {
            file: name.to_string(),
            reason: format!("not JSON: {e}"),
        })?;
        let Some(list) = value.get("vulnerabilities").and_then(Value::as_array) else {
            return Err(VulnError::Format {
                file: name.to_string(),
                reason: "a KEV catalog has `vulnerabilities`".into(),
            });
        };
        let mut kev = Kev {
            version: value
                .get("catalogVersion")
                .and_then(Value::as_str)
                .map(str::to_string),
            ..Kev::default()
        };
        for (i, entry) in list.iter().enumerate() {
            let field = |key: &str| {
                entry
                    .get(key)
                    .and_then(Value::as_str)
                    .map(str::trim)
                    .unwrap_or("")
                    .to_string()
            };
            match kev_entry(&field) {
                Ok(e) => kev.entries.push(e),
                Err(reason) => kev.rejected.push(Rejected {
                    record: format!("vulnerabilities[{i}]"),
                    reason,
                }),
            }
        }
        return Ok(kev);
    }
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .from_reader(trimmed.as_bytes());
    let headers = reader
        .headers()
        .map_err(|e| VulnError::Format {
            file: name.to_string(),
            reason: format!("no CSV header: {e}"),
        })?
        .clone();
    if !headers.iter().any(|h| h == "cveID") {
        return Err(VulnError::Format {
            file: name.to_string(),
            reason: "neither KEV JSON nor KEV CSV (no cveID column)".into(),
        });
    }
    let mut kev = Kev::default();
    for (i, record) in reader.records().enumerate() {
        let line = format!("line {}", i + 2);
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                kev.rejected.push(Rejected {
                    record: line,
                    reason: e.to_string(),
                });
                continue;
            }
        };
        let field = |key: &str| {
            headers
                .iter()
                .position(|h| h == key)
                .and_then(|i| record.get(i))
                .map(str::trim)
                .unwrap_or("")
                .to_string()
        };
        match kev_entry(&field) {
            Ok(e) => kev.entries.push(e),
            Err(reason) => kev.rejected.push(Rejected {
                record: line,
                reason,
            }),
        }
    }
    Ok(kev)
}

fn kev_entry(field: &dyn Fn(&str) -> String) -> Result<KevEntry, String> {
    let cve = field("cveID");
    if !cve.starts_with("CVE-") {
        return Err(format!("cveID {cve:?} is not a CVE id"));
    }
    let date_added = field("dateAdded");
    if crate::parse_time(&date_added).is_none() {
        return Err(format!("{cve}: dateAdded {date_added:?} is not a date"));
    }
    let due = field("dueDate");
    Ok(KevEntry {
        vendor: field("vendorProject"),
        product: field("product"),
        name: field("vulnerabilityName"),
        date_added,
        due_date: crate::parse_time(&due).map(|_| due),
        ransomware: field("knownRansomwareCampaignUse").eq_ignore_ascii_case("known"),
        required_action: field("requiredAction"),
        cve,
    })
}

/// EPSS scores of one day.
#[derive(Debug, Clone, Default)]
pub struct EpssScores {
    pub model_version: Option<String>,
    /// `YYYY-MM-DD`, from the comment line's `score_date`.
    pub date: Option<String>,
    /// CVE, probability, percentile.
    pub scores: Vec<(String, f64, f64)>,
    pub rejected: Vec<Rejected>,
}

/// Reads FIRST's EPSS CSV: `#model_version:…,score_date:…`, the header `cve,epss,percentile`, one
/// row per CVE.
pub fn read_epss(name: &str, reader: impl BufRead) -> Result<EpssScores, VulnError> {
    let mut out = EpssScores::default();
    let mut header = false;
    for (i, line) in reader.lines().enumerate() {
        let line = line.map_err(|e| VulnError::io(name, e))?;
        let line = line.trim();
        let at = format!("line {}", i + 1);
        if line.is_empty() {
            continue;
        }
        if let Some(comment) = line.strip_prefix('#') {
            for part in comment.split(',') {
                if let Some((key, value)) = part.split_once(':') {
                    match key.trim() {
                        "model_version" => out.model_version = Some(value.trim().to_string()),
                        // `2026-08-20T00:00:00+0000` or `…Z`: the day is what matters.
                        "score_date" => out.date = value.trim().get(..10).map(str::to_string),
                        _ => {}
                    }
                }
            }
            continue;
        }
        if !header {
            if !line.to_ascii_lowercase().starts_with("cve,epss") {
                return Err(VulnError::Format {
                    file: name.to_string(),
                    reason: format!("{at}: expected the header `cve,epss,percentile`"),
                });
            }
            header = true;
            continue;
        }
        let mut fields = line.split(',');
        let parsed = (|| {
            let cve = fields.next()?.trim();
            let epss: f64 = fields.next()?.trim().parse().ok()?;
            let percentile: f64 = fields.next()?.trim().parse().ok()?;
            ((0.0..=1.0).contains(&epss)
                && (0.0..=1.0).contains(&percentile)
                && cve.starts_with("CVE-"))
            .then(|| (cve.to_string(), epss, percentile))
        })();
        match parsed {
            Some(row) => out.scores.push(row),
            None => out.rejected.push(Rejected {
                record: at,
                reason: "not `CVE-…,probability,percentile` with both between 0 and 1".into(),
            }),
        }
    }
    if !header {
        return Err(VulnError::Format {
            file: name.to_string(),
            reason: "no `cve,epss,percentile` header: not an EPSS file".into(),
        });
    }
    Ok(out)
}
