//! Scanner reports into findings, one format per file: `trivy.rs` (image, filesystem, repository
//! and Kubernetes layouts), `grype.rs`, `sarif.rs` (SARIF 2.1.0 from any tool), `osv_scanner.rs`,
//! `nessus.rs` (Tenable `.nessus` v2, streamed), `openvas.rs` (GVM XML reports).
//!
//! An importer hands each finding to a [`Sink`] as it reads it (a `.nessus` file of hundreds of MB
//! never sits in memory as findings), declares each scope it reads before that scope's findings
//! (so a re-import that finds nothing in a scope still closes what the scope had), and returns a
//! [`Tally`]: how many vulnerability findings the format itself lists (`read`), every entry that
//! could not become a finding with where and why (`rejected`), and what the format lists beside
//! its vulnerabilities, counted apart (informational items, misconfigurations, secrets).

mod grype;
mod json;
mod lazy;
mod nessus;
mod openvas;
mod osv_scanner;
mod sarif;
mod trivy;
pub mod vex;
mod xml;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::Path;

use crate::finding::Finding;
use crate::VulnError;

/// The report formats `vuln import` reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Format {
    Trivy,
    Grype,
    Sarif,
    OsvScanner,
    Nessus,
    OpenVas,
    /// VEX statements (CycloneDX or OpenVEX): not findings, but what marks findings not affected.
    Vex,
}

impl Format {
    pub const ALL: [Format; 7] = [
        Format::Trivy,
        Format::Grype,
        Format::Sarif,
        Format::OsvScanner,
        Format::Nessus,
        Format::OpenVas,
        Format::Vex,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Format::Trivy => "trivy",
            Format::Grype => "grype",
            Format::Sarif => "sarif",
            Format::OsvScanner => "osv-scanner",
            Format::Nessus => "nessus",
            Format::OpenVas => "openvas",
            Format::Vex => "vex",
        }
    }

    pub fn parse(text: &str) -> Option<Format> {
        Format::ALL.into_iter().find(|f| f.as_str() == text)
    }
}

/// Where findings go as they are read.
pub trait Sink {
    /// The import covers a scope (the image, path or host a tool scanned): what the scope had
    /// before and this import does not report is closed. Called before the scope's first finding
    /// (each finding names its scope), and for scopes scanned with nothing found.
    fn scope(&mut self, tool: &str, scope: &str) -> Result<(), VulnError>;
    /// One finding. An error (the store failing) stops the import.
    fn finding(&mut self, finding: Finding) -> Result<(), VulnError>;
}

/// A sink that keeps everything: for tests and small files.
#[derive(Debug, Default)]
pub struct Collect {
    pub scopes: Vec<(String, String)>,
    pub findings: Vec<Finding>,
}

impl Sink for Collect {
    fn scope(&mut self, tool: &str, scope: &str) -> Result<(), VulnError> {
        self.scopes.push((tool.to_string(), scope.to_string()));
        Ok(())
    }

    fn finding(&mut self, finding: Finding) -> Result<(), VulnError> {
        self.findings.push(finding);
        Ok(())
    }
}

/// An entry of a report that did not become a finding: where it was and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejected {
    pub record: String,
    pub reason: String,
}

/// What one report held, as its format counts it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tally {
    pub format: Option<Format>,
    /// Vulnerability findings as the format lists them (Trivy `Results[].Vulnerabilities`, Grype
    /// `matches`, SARIF `runs[].results`, osv-scanner each package's `vulnerabilities`, Nessus
    /// `ReportItem`s above severity 0, OpenVAS `result`s with an NVT): each became a finding or a
    /// rejection.
    pub read: u64,
    pub rejected: Vec<Rejected>,
    /// Listed beside the vulnerabilities, counted apart: `informational item` (Nessus severity 0,
    /// not kept), `misconfiguration` and `secret` (kept as findings of their kind), `passed check`
    /// (Trivy misconfiguration checks that passed, not kept).
    pub apart: BTreeMap<String, u64>,
}

impl Tally {
    fn new(format: Format) -> Tally {
        Tally {
            format: Some(format),
            ..Tally::default()
        }
    }

    fn reject(&mut self, record: impl Into<String>, reason: impl Into<String>) {
        self.rejected.push(Rejected {
            record: record.into(),
            reason: reason.into(),
        });
    }

    fn apart(&mut self, what: &str) {
        *self.apart.entry(what.to_string()).or_default() += 1;
    }
}

/// Imports one report, its format detected from its content unless given.
pub fn import_path(
    path: &Path,
    format: Option<Format>,
    sink: &mut dyn Sink,
) -> Result<Tally, VulnError> {
    let name = path.display().to_string();
    let file = std::fs::File::open(path).map_err(|e| VulnError::io(&name, e))?;
    import_reader(&name, BufReader::with_capacity(1 << 16, file), format, sink)
}

/// Imports a report from a reader; `name` names it in errors and rejections.
pub fn import_reader(
    name: &str,
    mut reader: impl BufRead,
    format: Option<Format>,
    sink: &mut dyn Sink,
) -> Result<Tally, VulnError> {
    let head = reader.fill_buf().map_err(|e| VulnError::io(name, e))?;
    let xml = first_byte(head) == Some(b'<');
    match format {
        Some(Format::Nessus) => return nessus::import(name, reader, sink),
        Some(Format::OpenVas) => return openvas::import(name, reader, sink),
        None if xml => {
            let text = String::from_utf8_lossy(&head[..head.len().min(64 * 1024)]);
            if text.contains("<NessusClientData_v2") {
                return nessus::import(name, reader, sink);
            }
            if text.contains("<report") || text.contains("<get_reports_response") {
                return openvas::import(name, reader, sink);
            }
            return Err(VulnError::Format {
                file: name.to_string(),
                reason: "XML that is neither a .nessus v2 file nor an OpenVAS/GVM report".into(),
            });
        }
        _ => {}
    }
    let mut bytes = Vec::new();
    reader
        .read_to_end(&mut bytes)
        .map_err(|e| VulnError::io(name, e))?;
    // Checked whole once, then read field by field: the findings are parsed one at a time.
    let document = lazy::Raw::document(&bytes).map_err(|e| VulnError::Format {
        file: name.to_string(),
        reason: format!("not JSON: {e}"),
    })?;
    let fields = document.fields();
    let format = match format {
        Some(f) => f,
        None => detect_fields(&fields).ok_or_else(|| VulnError::Format {
            file: name.to_string(),
            reason: "JSON that is none of the formats read (Trivy, Grype, SARIF, osv-scanner, \
                     CycloneDX or OpenVEX VEX); KEV, EPSS and OSV records load through \
                     `vuln refresh`"
                .into(),
        })?,
    };
    match format {
        Format::Trivy => trivy::import(name, &fields, sink),
        Format::Grype => grype::import(name, &fields, sink),
        Format::Sarif => sarif::import(name, &fields, sink),
        Format::OsvScanner => osv_scanner::import(name, &fields, sink),
        Format::Vex => Err(VulnError::Format {
            file: name.to_string(),
            reason: "VEX statements mark findings, they are not findings: read them with \
                     `vex::read`"
                .into(),
        }),
        Format::Nessus | Format::OpenVas => Err(VulnError::Format {
            file: name.to_string(),
            reason: format!("{} reports are XML, this is JSON", format.as_str()),
        }),
    }
}

/// Which JSON report this is, by its top-level keys.
fn detect_fields(fields: &lazy::Fields<'_>) -> Option<Format> {
    let has = |key: &str| fields.has(key);
    if has("SchemaVersion") && (has("Results") || has("ArtifactName"))
        || has("ClusterName") && (has("Vulnerabilities") || has("Misconfigurations"))
        || has("ClusterName") && has("Resources")
    {
        return Some(Format::Trivy);
    }
    if has("matches") && (has("source") || has("descriptor")) {
        return Some(Format::Grype);
    }
    if has("runs") && (has("version") || has("$schema")) {
        return Some(Format::Sarif);
    }
    if fields.raw("results").is_some_and(lazy::Raw::is_array)
        && fields
            .items("results")
            .into_iter()
            .all(|r| r.fields().has("packages"))
    {
        return Some(Format::OsvScanner);
    }
    let text = |key: &str| {
        fields
            .value(key)
            .and_then(|v| v.as_str().map(str::to_string))
    };
    if text("bomFormat").as_deref() == Some("CycloneDX")
        || text("@context").is_some_and(|c| c.contains("openvex"))
    {
        return Some(Format::Vex);
    }
    None
}

/// Whether a file is VEX statements rather than a scanner report (by its first 64 KiB: a CycloneDX
/// document with vulnerability analyses, or an OpenVEX document).
pub fn is_vex(path: &Path) -> bool {
    use std::io::Read as _;
    let mut head = vec![0; 64 * 1024];
    let n = std::fs::File::open(path)
        .and_then(|mut f| f.read(&mut head))
        .unwrap_or(0);
    let text = String::from_utf8_lossy(&head[..n]);
    let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    (compact.contains("\"bomFormat\":\"CycloneDX\"") && compact.contains("\"analysis\""))
        || (compact.contains("\"@context\":\"https://openvex.dev")
            && compact.contains("\"statements\""))
}

fn first_byte(head: &[u8]) -> Option<u8> {
    let head = head.strip_prefix(b"\xef\xbb\xbf").unwrap_or(head);
    head.iter().copied().find(|b| !b.is_ascii_whitespace())
}
