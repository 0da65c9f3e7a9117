//! A finding as every importer produces it: what is wrong (a vulnerability id and its aliases, a
//! misconfiguration, a secret, a malicious package), where (the asset, the package or location), how
//! bad the tool says it is, and the identities that deduplicate it.

use std::fmt;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::cvss::CvssScore;

/// What kind of problem a finding is. Only vulnerabilities are scored as CVEs; a malicious package
/// (OSV `MAL-`) is a compromise to respond to, not a patch to schedule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FindingKind {
    Vulnerability,
    Malicious,
    Misconfiguration,
    Secret,
    /// A weakness in code a static analyser reports (SARIF results that name no vulnerability id).
    Weakness,
}

impl FindingKind {
    pub const ALL: [FindingKind; 5] = [
        FindingKind::Vulnerability,
        FindingKind::Malicious,
        FindingKind::Misconfiguration,
        FindingKind::Secret,
        FindingKind::Weakness,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            FindingKind::Vulnerability => "vulnerability",
            FindingKind::Malicious => "malicious",
            FindingKind::Misconfiguration => "misconfiguration",
            FindingKind::Secret => "secret",
            FindingKind::Weakness => "weakness",
        }
    }

    pub fn parse(text: &str) -> Option<FindingKind> {
        FindingKind::ALL.into_iter().find(|k| k.as_str() == text)
    }
}

/// Severity as the tool states it, on one scale. `None` is informational (Nessus severity 0,
/// Grype "Negligible", an OpenVAS log result).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default,
)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    #[default]
    Unknown,
    None,
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    pub const ALL: [Severity; 6] = [
        Severity::Unknown,
        Severity::None,
        Severity::Low,
        Severity::Medium,
        Severity::High,
        Severity::Critical,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Unknown => "unknown",
            Severity::None => "none",
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }

    /// The tools' spellings: Trivy's `MEDIUM`, Grype's `Negligible`, Nessus' `risk_factor`, SARIF's
    /// `error`/`warning`/`note` levels are mapped by their importers, not here.
    pub fn parse(text: &str) -> Severity {
        match text.trim().to_ascii_lowercase().as_str() {
            "critical" => Severity::Critical,
            "high" | "important" => Severity::High,
            "medium" | "moderate" => Severity::Medium,
            "low" => Severity::Low,
            "none" | "negligible" | "info" | "informational" | "log" => Severity::None,
            _ => Severity::Unknown,
        }
    }

    /// The CVSS qualitative rating of a score (v3.1 and v4.0 section 5: 0.1-3.9 low, 4.0-6.9
    /// medium, 7.0-8.9 high, 9.0-10.0 critical).
    pub fn from_score(score: f64) -> Severity {
        if score >= 9.0 {
            Severity::Critical
        } else if score >= 7.0 {
            Severity::High
        } else if score >= 4.0 {
            Severity::Medium
        } else if score > 0.0 {
            Severity::Low
        } else {
            Severity::None
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Whether the vendor fixed what the tool found: Trivy's eight `Status` values, Grype's
/// `fix.state`, VEX statements. `NotAffected` findings are kept but never open.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default,
)]
#[serde(rename_all = "snake_case")]
pub enum FixState {
    #[default]
    Unknown,
    /// Affected, no fix released (Trivy `affected`, Grype `not-fixed`).
    Affected,
    /// A fixed version exists (Trivy `fixed`, Grype `fixed`).
    Fixed,
    UnderInvestigation,
    /// The vendor will not fix it (Trivy `will_not_fix`, Grype `wont-fix`).
    WillNotFix,
    FixDeferred,
    /// The package or distribution is past its end of life: no fix will come.
    EndOfLife,
    /// The vendor (or a VEX statement) says the installed version is not affected.
    NotAffected,
}

impl FixState {
    pub fn as_str(self) -> &'static str {
        match self {
            FixState::Unknown => "unknown",
            FixState::Affected => "affected",
            FixState::Fixed => "fixed",
            FixState::UnderInvestigation => "under_investigation",
            FixState::WillNotFix => "will_not_fix",
            FixState::FixDeferred => "fix_deferred",
            FixState::EndOfLife => "end_of_life",
            FixState::NotAffected => "not_affected",
        }
    }

    /// Trivy's `Status` (its `types.Status` names, lower case).
    pub fn from_trivy(status: &str) -> Option<FixState> {
        Some(match status {
            "unknown" => FixState::Unknown,
            "affected" => FixState::Affected,
            "fixed" => FixState::Fixed,
            "under_investigation" => FixState::UnderInvestigation,
            "will_not_fix" => FixState::WillNotFix,
            "fix_deferred" => FixState::FixDeferred,
            "end_of_life" => FixState::EndOfLife,
            "not_affected" => FixState::NotAffected,
            _ => return None,
        })
    }

    pub fn parse(text: &str) -> Option<FixState> {
        FixState::from_trivy(text)
    }
}

/// What kind of thing a finding is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AssetKind {
    Host,
    Image,
    Repository,
    /// A directory or file tree scanned in place.
    Path,
    /// A Kubernetes workload (`namespace/Kind/name`).
    Workload,
}

impl AssetKind {
    pub fn as_str(self) -> &'static str {
        match self {
            AssetKind::Host => "host",
            AssetKind::Image => "image",
            AssetKind::Repository => "repository",
            AssetKind::Path => "path",
            AssetKind::Workload => "workload",
        }
    }

    pub fn parse(text: &str) -> Option<AssetKind> {
        Some(match text {
            "host" => AssetKind::Host,
            "image" => AssetKind::Image,
            "repository" => AssetKind::Repository,
            "path" => AssetKind::Path,
            "workload" => AssetKind::Workload,
            _ => return None,
        })
    }
}

/// The asset a finding is on, as the report names it; the service matches it to the inventory by
/// name, address or image.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Asset {
    pub kind: AssetKind,
    pub name: String,
    /// A host's address when the report gives one beside its name.
    pub address: Option<String>,
}

/// The vulnerable package, when the finding is about one.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Package {
    pub name: String,
    pub version: String,
    /// Ecosystem or package type (`apk`, `deb`, `npm`, `Go`, `java-archive`).
    pub ecosystem: Option<String>,
    pub purl: Option<String>,
    /// Where it is installed, when the tool says (a jar's path, a lock file).
    pub path: Option<String>,
}

/// The exploitation data a scanner already attached (Grype's `epss[]` and `knownExploited[]`,
/// Nessus' `exploit_available`); `vuln refresh` adds the same from the catalogs themselves.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Exploitation {
    pub epss: Option<Epss>,
    pub kev: Option<KevMark>,
    pub exploit_available: bool,
}

/// An EPSS score with the day it was computed for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Epss {
    pub cve: String,
    pub score: f64,
    pub percentile: f64,
    /// `YYYY-MM-DD`.
    pub date: String,
}

/// Known exploited: in CISA's KEV catalog.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KevMark {
    pub cve: String,
    /// `knownRansomwareCampaignUse` is "Known".
    pub ransomware: bool,
    /// `YYYY-MM-DD`, when known.
    pub date_added: Option<String>,
    pub due_date: Option<String>,
}

/// One finding read from a report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    pub kind: FindingKind,
    /// The scanner (`trivy`, `grype`, `osv-scanner`, `nessus`, `openvas`, or a SARIF driver's name).
    pub tool: String,
    /// What the scan covered (the image, path or host scanned): re-importing the same tool's scan
    /// of the same scope closes what it no longer reports, and nothing outside it.
    pub scope: String,
    pub asset: Asset,
    /// The problem's id in the tool (`CVE-…`, `GHSA-…`, `MAL-…`, a plugin or rule id).
    pub id: String,
    /// Other ids of the same problem (CVE for a GHSA, the CVEs a plugin checks).
    pub aliases: Vec<String>,
    #[serde(default)]
    pub title: String,
    pub package: Option<Package>,
    /// Where outside a package: a file and line, a port and protocol.
    pub location: Option<String>,
    pub fixed_version: Option<String>,
    pub fix_state: FixState,
    pub severity: Severity,
    #[serde(default)]
    pub cvss: Vec<CvssScore>,
    #[serde(default)]
    pub cwes: Vec<String>,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub references: Vec<String>,
    pub exploitation: Exploitation,
    /// UTC nanoseconds, when the tool gives the advisory's publication date.
    #[serde(default)]
    pub published: Option<i64>,
    /// The tool's own stable id for this finding (Trivy `Fingerprint`, SARIF fingerprints).
    pub tool_key: Option<String>,
    /// Where in the report it was (`Results[0].Vulnerabilities[3]`, `ReportHost[1]/ReportItem[7]`).
    pub record: String,
}

/// A finding as stored: what is particular to this sighting (the asset, the package, the tool's
/// place for it) apart from the advisory text that every finding of the same vulnerability from the
/// same source repeats (title, CVSS, CWEs, description, references, publication date: four fifths
/// of a Trivy entry), which the store keeps once per distinct content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Documents {
    /// A JSON object of the finding's own fields.
    pub finding: String,
    /// A JSON object of the advisory's fields; with `finding`'s, every field of the `Finding`.
    pub advisory: String,
    /// The advisory's digest (of its JSON), the key it is stored under.
    pub advisory_digest: String,
}

#[derive(Serialize)]
struct SightingPart<'a> {
    kind: FindingKind,
    tool: &'a str,
    scope: &'a str,
    asset: &'a Asset,
    id: &'a str,
    aliases: &'a [String],
    package: &'a Option<Package>,
    location: &'a Option<String>,
    fixed_version: &'a Option<String>,
    fix_state: FixState,
    severity: Severity,
    exploitation: &'a Exploitation,
    tool_key: &'a Option<String>,
    record: &'a str,
}

#[derive(Serialize)]
struct AdvisoryPart<'a> {
    title: &'a str,
    cvss: &'a [CvssScore],
    cwes: &'a [String],
    description: &'a str,
    references: &'a [String],
    published: Option<i64>,
}

/// Ids that name vulnerabilities across databases, in the order one is preferred as a finding's
/// primary id when merging across tools.
const ID_PREFERENCE: &[&str] = &["CVE-", "GHSA-", "GO-", "RUSTSEC-", "PYSEC-", "OSV-"];

impl Finding {
    /// The id findings of different tools are merged by. For an advisory id (CVE, GHSA, GO...):
    /// the CVE among its id and aliases (the lowest when there are several, so every tool picks the
    /// same), else the preferred other advisory id. For a scanner's own check (a Nessus plugin, an
    /// OpenVAS NVT): the CVE when it names exactly one, else its own id, so two plugins sharing one
    /// of many CVEs stay apart. A malicious package keeps its `MAL-` id.
    pub fn primary_id(&self) -> &str {
        if self.kind == FindingKind::Malicious {
            return &self.id;
        }
        if !ID_PREFERENCE.iter().any(|p| self.id.starts_with(p)) {
            let cves = self.cves();
            return match cves.as_slice() {
                [one] => one,
                _ => &self.id,
            };
        }
        for prefix in ID_PREFERENCE {
            let best = std::iter::once(&self.id)
                .chain(&self.aliases)
                .filter(|id| id.starts_with(prefix))
                .min();
            if let Some(best) = best {
                return best;
            }
        }
        &self.id
    }

    /// Every CVE it names (id and aliases), sorted, once each.
    pub fn cves(&self) -> Vec<&str> {
        let mut cves: Vec<&str> = std::iter::once(&self.id)
            .chain(&self.aliases)
            .filter(|id| id.starts_with("CVE-"))
            .map(String::as_str)
            .collect();
        cves.sort_unstable();
        cves.dedup();
        cves
    }

    /// The identity findings merge by across tools and scans: the asset, the primary id and the
    /// package (name and version: tools disagree on an OS package's path), else the location. Two
    /// scanners reporting CVE-2021-44228 in log4j-core 2.14.1 on one image are one finding; two
    /// copies of the jar are two detections of it.
    pub fn identity(&self) -> String {
        let place = match &self.package {
            Some(p) => format!("pkg\u{1f}{}\u{1f}{}", p.name, p.version),
            None => format!("loc\u{1f}{}", self.location.as_deref().unwrap_or("")),
        };
        digest(&[
            self.kind.as_str(),
            self.asset.kind.as_str(),
            &self.asset.name.to_ascii_lowercase(),
            self.primary_id(),
            &place,
        ])
    }

    /// The finding split for storage (see `Documents`).
    pub fn documents(&self) -> Documents {
        let sighting = SightingPart {
            kind: self.kind,
            tool: &self.tool,
            scope: &self.scope,
            asset: &self.asset,
            id: &self.id,
            aliases: &self.aliases,
            package: &self.package,
            location: &self.location,
            fixed_version: &self.fixed_version,
            fix_state: self.fix_state,
            severity: self.severity,
            exploitation: &self.exploitation,
            tool_key: &self.tool_key,
            record: &self.record,
        };
        let advisory = AdvisoryPart {
            title: &self.title,
            cvss: &self.cvss,
            cwes: &self.cwes,
            description: &self.description,
            references: &self.references,
            published: self.published,
        };
        // Serialising borrowed strings, numbers and derived enums cannot fail.
        let finding = serde_json::to_string(&sighting).unwrap_or_else(|_| "{}".into());
        let advisory = serde_json::to_string(&advisory).unwrap_or_else(|_| "{}".into());
        let advisory_digest = digest(&["advisory", &advisory]);
        Documents {
            finding,
            advisory,
            advisory_digest,
        }
    }

    /// The tool's stable id for it in its scope: its own fingerprint when it gives one, else a hash
    /// of the fields that name it (DefectDojo's `hash_code`, without the severity, which a database
    /// update may change).
    pub fn detection_key(&self) -> String {
        if let Some(key) = &self.tool_key {
            return digest(&["tool", &self.tool, key]);
        }
        let package = self
            .package
            .as_ref()
            .map(|p| {
                format!(
                    "{}@{}@{}",
                    p.name,
                    p.version,
                    p.path.as_deref().unwrap_or("")
                )
            })
            .unwrap_or_default();
        digest(&[
            "hash",
            &self.tool,
            &self.asset.name,
            &self.id,
            &package,
            self.location.as_deref().unwrap_or(""),
        ])
    }
}

/// SHA-256 over length-prefixed parts, in hex (the first 32 digits: 128 bits).
pub(crate) fn digest(parts: &[&str]) -> String {
    let mut hash = Sha256::new();
    for part in parts {
        hash.update((part.len() as u64).to_le_bytes());
        hash.update(part.as_bytes());
    }
    let bytes = hash.finalize();
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(32);
    for b in &bytes[..16] {
        out.push(char::from(HEX[usize::from(b >> 4)]));
        out.push(char::from(HEX[usize::from(b & 0xf)]));
    }
    out
}

/// Masks a secret a report carries in clear (Gitleaks' `offender`): the first four characters
/// stay so an analyst can tell which key it was, the rest never reaches the store.
pub fn mask_secret(secret: &str) -> String {
    let shown: String = secret.chars().take(4).collect();
    if secret.chars().count() <= 8 {
        "*****".to_string()
    } else {
        format!("{shown}*****")
    }
}
