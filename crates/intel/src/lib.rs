//! Threat intelligence: indicators of compromise from other people's sightings, ready to match.
//!
//! Read in this order: `kind.rs` (indicator kinds and the one normal form of each value), this file
//! (the [`Indicator`] and what an import reports), the importers (`stix.rs` for STIX 2.1 bundles and
//! patterns, `misp.rs` for MISP events and feeds, `csv.rs` for CSV feeds and plain lists), `taxii.rs`
//! (a TAXII 2.1 client), `warninglist.rs` (values that are never indicators), `decay.rs` (when an
//! indicator stops counting), `index.rs` (the lookup detection uses).
//!
//! Every importer accounts for each record: an indicator, or an entry in the report's `rejected` with
//! where it was and why (a pattern that is not a disjunction of equalities, a MISP type that names no
//! indicator kind, a value that does not parse). Nothing is dropped silently.

pub mod csv;
pub mod decay;
pub mod index;
pub mod kind;
pub mod misp;
pub mod stix;
pub mod taxii;
mod tlp;
pub mod warninglist;

use std::collections::BTreeMap;
use std::path::Path;

pub use index::IndicatorIndex;
pub use kind::{normalize, Kind};
pub use tlp::Tlp;

/// Why intelligence could not be read or a value used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IntelError {
    #[error("{kind} {value:?}: {reason}")]
    Value {
        kind: Kind,
        value: String,
        reason: String,
    },
    #[error("{origin}: {message}")]
    Source { origin: String, message: String },
    #[error("{0}")]
    Invalid(String),
}

/// One indicator: a normalized value of a kind, with where it came from and how far to trust it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Indicator {
    pub kind: Kind,
    pub value: String,
    /// The feed or file it came from.
    pub source: String,
    /// Its id there (STIX id, MISP attribute uuid, CSV line).
    pub native_id: Option<String>,
    /// 0-100, when the source says.
    pub confidence: Option<u8>,
    pub tlp: Tlp,
    pub tags: Vec<String>,
    pub description: String,
    /// Times in UTC nanoseconds.
    pub first_seen: Option<i64>,
    pub last_seen: Option<i64>,
    pub valid_until: Option<i64>,
    /// The source's own date of the indicator: when it last changed it (STIX `modified`, MISP
    /// `timestamp`), else when it became valid or was created.
    pub source_date: Option<i64>,
    /// When it was read (stands in for the source's date when the source gives none); 0 until an
    /// import is judged (`secops_service::intel::judge` stamps the judging time).
    pub imported_at: i64,
    /// For detection (MISP `to_ids`); indicators kept for context only are false.
    pub to_ids: bool,
}

impl Indicator {
    /// An indicator with defaults: TLP clear, for detection, no times or confidence.
    pub fn new(kind: Kind, value: String, source: &str) -> Indicator {
        Indicator {
            kind,
            value,
            source: source.to_string(),
            native_id: None,
            confidence: None,
            tlp: Tlp::Clear,
            tags: Vec::new(),
            description: String::new(),
            first_seen: None,
            last_seen: None,
            valid_until: None,
            source_date: None,
            imported_at: 0,
            to_ids: true,
        }
    }

    /// When its decay clock starts: the latest of its last sighting and the source's date of it
    /// (when it was imported, if the source dates it not at all). Sightings and imports only ever
    /// move it later, so score, expiry and state, all computed from it, agree and never revive
    /// an indicator its source dated long ago.
    pub fn decay_start(&self) -> i64 {
        let dated = self.source_date.unwrap_or(self.imported_at);
        self.last_seen.map_or(dated, |seen| seen.max(dated))
    }
}

/// What one import read: the indicators, and everything that did not become one.
#[derive(Debug, Clone, Default)]
pub struct Import {
    pub indicators: Vec<Indicator>,
    pub rejected: Vec<Rejected>,
    /// Objects that are not indicators at all (STIX reports, relationships, MISP events' text
    /// attributes), counted by type.
    pub other: BTreeMap<String, usize>,
    /// Where a compound pattern of one object's alternative identifiers (a file's hashes AND-ed)
    /// became one indicator per identifier.
    pub split: Vec<String>,
}

/// A record that could not become an indicator: where it was and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejected {
    pub location: String,
    pub reason: String,
}

impl Import {
    fn reject(&mut self, location: impl Into<String>, reason: impl Into<String>) {
        self.rejected.push(Rejected {
            location: location.into(),
            reason: reason.into(),
        });
    }

    fn other(&mut self, what: &str) {
        *self.other.entry(what.to_string()).or_default() += 1;
    }

    /// Indicators by kind.
    pub fn counts(&self) -> BTreeMap<Kind, usize> {
        let mut counts = BTreeMap::new();
        for i in &self.indicators {
            *counts.entry(i.kind).or_default() += 1;
        }
        counts
    }

    fn merge(&mut self, other: Import) {
        self.indicators.extend(other.indicators);
        self.rejected.extend(other.rejected);
        self.split.extend(other.split);
        for (k, v) in other.other {
            *self.other.entry(k).or_default() += v;
        }
    }
}

/// The formats an import can read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Stix,
    Misp,
    MispFeed,
    Csv,
    List,
}

impl Format {
    pub fn parse(text: &str) -> Option<Format> {
        Some(match text {
            "stix" => Format::Stix,
            "misp" => Format::Misp,
            "misp-feed" => Format::MispFeed,
            "csv" => Format::Csv,
            "list" => Format::List,
            _ => return None,
        })
    }
}

/// Which format a file or folder holds: a folder with `manifest.json` is a MISP feed; JSON is STIX
/// (a bundle or STIX objects) or MISP (`Event`, `response`); text whose first data line has commas is
/// CSV; anything else a plain list.
pub fn detect(path: &Path, text: Option<&str>) -> Format {
    if path.is_dir() {
        return Format::MispFeed;
    }
    let text = text.unwrap_or("").trim_start();
    if text.starts_with('{') || text.starts_with('[') {
        let head: String = text.chars().take(4096).collect();
        if head.contains("\"Event\"") || head.contains("\"response\"") {
            return Format::Misp;
        }
        return Format::Stix;
    }
    let first = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with('#'))
        .unwrap_or("");
    if first.contains(',') {
        Format::Csv
    } else {
        Format::List
    }
}

/// RFC 3339 (or a bare date) as UTC nanoseconds.
pub fn parse_time(text: &str) -> Option<i64> {
    let text = text.trim();
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(text) {
        return t.timestamp_nanos_opt();
    }
    for format in ["%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S"] {
        if let Ok(t) = chrono::NaiveDateTime::parse_from_str(text, format) {
            return t.and_utc().timestamp_nanos_opt();
        }
    }
    chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .ok()?
        .and_hms_opt(0, 0, 0)?
        .and_utc()
        .timestamp_nanos_opt()
}

/// The extensions a folder walk reads.
const DATA_EXTENSIONS: &[&str] = &["json", "csv", "txt", "tsv", "list", "stix"];

/// Imports every file a path names with `format` (detected per file when `None`): a file, a MISP
/// feed folder, or a folder of files.
pub fn import_path(
    path: &Path,
    format: Option<Format>,
    csv: &csv::Mapping,
) -> Result<Import, IntelError> {
    let io = |e: std::io::Error| IntelError::Source {
        origin: path.display().to_string(),
        message: e.to_string(),
    };
    if path.is_dir() {
        if path.join("manifest.json").is_file() || format == Some(Format::MispFeed) {
            return misp::import_feed(path);
        }
        let mut files: Vec<_> = std::fs::read_dir(path)
            .map_err(io)?
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.is_file())
            .collect();
        files.sort();
        // In a folder, files are read by their extension; the others (a licence, a README) are
        // named in the report, and a file that cannot be read is reported and the rest read.
        let mut all = Import::default();
        for file in files {
            let known = file
                .extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| DATA_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()));
            if !known {
                all.other(&format!(
                    "file skipped in a folder walk (not {})",
                    DATA_EXTENSIONS.join(", ")
                ));
                continue;
            }
            match import_path(&file, format, csv) {
                Ok(import) => all.merge(import),
                Err(e) => all.reject(file.display().to_string(), format!("not read: {e}")),
            }
        }
        return Ok(all);
    }
    let text = std::fs::read_to_string(path).map_err(io)?;
    let source = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string());
    import_text(
        &source,
        &text,
        format.unwrap_or_else(|| detect(path, Some(&text))),
        csv,
    )
}

/// Imports text in a format; `source` names it in the indicators and the report.
pub fn import_text(
    source: &str,
    text: &str,
    format: Format,
    csv: &csv::Mapping,
) -> Result<Import, IntelError> {
    // `imported_at` stays 0 here: judging stamps it with its own (perhaps pinned) time.
    Ok(match format {
        Format::Stix => stix::import(source, text)?,
        Format::Misp | Format::MispFeed => misp::import_event_text(source, text)?,
        Format::Csv => csv::import(source, text, csv)?,
        Format::List => csv::import_list(source, text),
    })
}
