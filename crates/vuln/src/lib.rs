//! Vulnerability management: scanner findings, deduplicated, prioritised by exploitation and asset,
//! tracked to a deadline.
//!
//! Read in this order: `finding.rs` (the [`Finding`] every importer produces, its kinds, severity,
//! fix state, and the two identities that deduplicate it: across tools, and within one tool's scope),
//! `cvss.rs` (vectors scored again, and the SSVC inputs they imply), `import/` (one file per report
//! format, findings streamed to a [`Sink`], each entry a finding or a rejection), `osv.rs` (OSV
//! records), `catalog.rs` (KEV and EPSS), `ssvc.rs` (BOD 26-04 timelines and SSVC decision
//! tables), `risk.rs` (Grype's risk, asset weights, SLA and deadline).
//!
//! ```
//! use secops_vuln::import::{import_reader, Collect};
//!
//! let report = br#"{"matches": [{"vulnerability": {"id": "CVE-2021-44228", "severity": "Critical"},
//!   "artifact": {"name": "log4j-core", "version": "2.14.1"}}],
//!   "source": {"type": "directory", "target": "."}}"#;
//! let mut found = Collect::default();
//! let tally = import_reader("scan.json", &report[..], None, &mut found).unwrap();
//! assert_eq!(tally.read, 1);
//! assert_eq!(found.findings[0].primary_id(), "CVE-2021-44228");
//! ```
//!
//! The crate does no storing: the store keeps findings and their history, the service matches them
//! to the asset inventory and applies the catalogs.

pub mod assets;
pub mod catalog;
pub mod cvss;
pub mod finding;
pub mod import;
pub mod osv;
pub mod report;
pub mod risk;
pub mod ssvc;

pub use finding::{
    Asset, AssetKind, Documents, Epss, Exploitation, Finding, FindingKind, FixState, KevMark,
    Package, Severity,
};
pub use import::{import_path, import_reader, Format, Sink, Tally};

/// Why a report or catalog could not be read.
#[derive(Debug, thiserror::Error)]
pub enum VulnError {
    #[error("{file}: {reason}")]
    Format { file: String, reason: String },
    #[error("{file}: {source}")]
    Io {
        file: String,
        #[source]
        source: std::io::Error,
    },
    /// Where the findings went failed (the store); the import stops.
    #[error("{0}")]
    Sink(String),
}

impl VulnError {
    pub(crate) fn io(file: &str, source: std::io::Error) -> VulnError {
        VulnError::Io {
            file: file.to_string(),
            source,
        }
    }
}

/// RFC 3339 or a bare `YYYY-MM-DD` as UTC nanoseconds.
pub fn parse_time(text: &str) -> Option<i64> {
    let text = text.trim();
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(text) {
        return t.timestamp_nanos_opt();
    }
    chrono::NaiveDate::parse_from_str(text.get(..10)?, "%Y-%m-%d")
        .ok()?
        .and_hms_opt(0, 0, 0)?
        .and_utc()
        .timestamp_nanos_opt()
}
