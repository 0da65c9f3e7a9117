//! MITRE ATT&CK, read from the official STIX bundle (2.0 or 2.1; a file, or a folder holding
//! `enterprise-attack*.json`), with no network: tactics in the matrix's column order, techniques and
//! sub-techniques with their tactics, revocation and deprecation, and the v18 detection objects
//! (detection strategies, analytics, data components).
//!
//! [`Catalogue::check`] validates one tactic-and-techniques mapping as rules carry it; [`coverage`]
//! counts rules per technique and builds the Navigator layer (format 4.5), the terminal matrix and the
//! HTML heatmap.

pub mod coverage;
mod stix;

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

/// An ATT&CK bundle that cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum AttackError {
    // The cause is part of the message (not a `source`), so it is said once in error chains.
    #[error("{}: {error}", path.display())]
    Io {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("{}: not a STIX bundle: {error}", path.display())]
    Json {
        path: PathBuf,
        error: serde_json::Error,
    },
    #[error("{}: {message}", path.display())]
    Content { path: PathBuf, message: String },
}

/// A tactic: a column of the matrix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tactic {
    /// `TA0006`.
    pub id: String,
    /// `credential-access`.
    pub shortname: String,
    pub name: String,
}

/// A technique or sub-technique.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Technique {
    /// `T1110` or `T1110.001`.
    pub id: String,
    /// For a sub-technique, its own name (`Password Guessing`).
    pub name: String,
    /// Shortnames of the tactics it serves.
    pub tactics: Vec<String>,
    pub platforms: Vec<String>,
    pub revoked: bool,
    pub deprecated: bool,
    /// The technique that replaced a revoked one.
    pub revoked_by: Option<String>,
}

impl Technique {
    /// Whether this is a sub-technique (`T1110.001`).
    pub fn is_subtechnique(&self) -> bool {
        self.id.contains('.')
    }

    /// The parent technique's id (itself for a technique).
    pub fn parent_id(&self) -> &str {
        self.id.split('.').next().unwrap_or(&self.id)
    }

    /// Neither revoked nor deprecated.
    pub fn is_live(&self) -> bool {
        !self.revoked && !self.deprecated
    }
}

/// One ATT&CK domain's model.
#[derive(Debug, Clone, Default)]
pub struct Catalogue {
    /// The ATT&CK release (`18.1`), from the bundle's collection object or its file name.
    pub version: Option<String>,
    /// Tactics in matrix order.
    pub tactics: Vec<Tactic>,
    techniques: BTreeMap<String, Technique>,
    /// Detection strategy (`DET…`), analytic (`AN…`) and data component (`DC…`) ids.
    detection_ids: HashSet<String>,
}

/// A problem with a mapping, in words a rule author can act on.
pub type Finding = String;

impl Catalogue {
    /// Reads a bundle file, or the newest `enterprise-attack*.json` in a folder.
    pub fn load(path: &Path) -> Result<Catalogue, AttackError> {
        let file = if path.is_dir() {
            bundle_in(path)?
        } else {
            path.to_path_buf()
        };
        let bytes = std::fs::read(&file).map_err(|error| AttackError::Io {
            path: file.clone(),
            error,
        })?;
        let name = file
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        stix::parse(&bytes, &name).map_err(|e| match e {
            stix::ParseError::Json(error) => AttackError::Json { path: file, error },
            stix::ParseError::Content(message) => AttackError::Content {
                path: file,
                message,
            },
        })
    }

    /// A technique or sub-technique by id (`T1110.001`), revoked and deprecated ones included.
    pub fn technique(&self, id: &str) -> Option<&Technique> {
        self.techniques.get(id)
    }

    /// Every technique and sub-technique, by id.
    pub fn techniques(&self) -> impl Iterator<Item = &Technique> {
        self.techniques.values()
    }

    /// A tactic by id (`TA0006`) or shortname (`credential-access`).
    pub fn tactic(&self, key: &str) -> Option<&Tactic> {
        self.tactics
            .iter()
            .find(|t| t.id == key || t.shortname == key)
    }

    /// Whether a detection strategy, analytic or data component id exists.
    pub fn has_detection_id(&self, id: &str) -> bool {
        self.detection_ids.contains(id)
    }

    /// Live techniques (not sub-techniques) of a tactic, by id, optionally only those on a platform.
    pub fn tactic_techniques(&self, shortname: &str, platforms: &[String]) -> Vec<&Technique> {
        self.techniques
            .values()
            .filter(|t| {
                t.is_live()
                    && !t.is_subtechnique()
                    && t.tactics.iter().any(|s| s == shortname)
                    && on_platforms(t, platforms)
            })
            .collect()
    }

    /// Live sub-techniques of a technique.
    pub fn subtechniques(&self, parent: &str) -> Vec<&Technique> {
        let prefix = format!("{parent}.");
        self.techniques
            .range(prefix.clone()..)
            .take_while(|(id, _)| id.starts_with(&prefix))
            .map(|(_, t)| t)
            .filter(|t| t.is_live())
            .collect()
    }

    /// Checks one tactic of a mapping and the techniques under it: ids exist, names agree, nothing is
    /// revoked or deprecated, each technique serves the tactic, each sub-technique belongs to its
    /// technique.
    pub fn check(&self, mapping: &Mapping<'_>) -> Vec<Finding> {
        let mut findings = Vec::new();
        let tactic = match self.tactics.iter().find(|t| t.id == mapping.tactic_id) {
            Some(t) => t,
            None => {
                findings.push(format!(
                    "tactic {} ({}) does not exist in ATT&CK {}",
                    mapping.tactic_id,
                    mapping.tactic_name,
                    self.version_text()
                ));
                return findings;
            }
        };
        if !mapping.tactic_name.eq_ignore_ascii_case(&tactic.name) {
            findings.push(format!(
                "tactic {} is named \"{}\", not \"{}\"",
                tactic.id, tactic.name, mapping.tactic_name
            ));
        }
        for (id, name, parent) in &mapping.techniques {
            let Some(technique) = self.techniques.get(*id) else {
                findings.push(format!(
                    "technique {id} ({name}) does not exist in ATT&CK {}",
                    self.version_text()
                ));
                continue;
            };
            if technique.revoked {
                findings.push(match &technique.revoked_by {
                    Some(by) => format!("technique {id} is revoked (replaced by {by})"),
                    None => format!("technique {id} is revoked"),
                });
                continue;
            }
            if technique.deprecated {
                findings.push(format!("technique {id} is deprecated"));
                continue;
            }
            if !name.eq_ignore_ascii_case(&technique.name) {
                findings.push(format!(
                    "technique {id} is named \"{}\", not \"{name}\"",
                    technique.name
                ));
            }
            if let Some(parent) = parent {
                if technique.parent_id() != *parent {
                    findings.push(format!(
                        "sub-technique {id} is not a sub-technique of {parent}"
                    ));
                }
            }
            if !technique.tactics.contains(&tactic.shortname) {
                let serves: Vec<String> = technique
                    .tactics
                    .iter()
                    .map(|s| match self.tactic(s) {
                        Some(t) => format!("{} ({})", t.name, t.id),
                        None => s.clone(),
                    })
                    .collect();
                findings.push(format!(
                    "technique {id} ({}) does not belong to tactic {} ({}); it serves {}",
                    technique.name,
                    tactic.name,
                    tactic.id,
                    serves.join(", ")
                ));
            }
        }
        findings
    }

    fn version_text(&self) -> String {
        self.version.clone().unwrap_or_else(|| "data".into())
    }

    pub(crate) fn from_parts(
        version: Option<String>,
        tactics: Vec<Tactic>,
        techniques: Vec<Technique>,
        detection_ids: HashSet<String>,
    ) -> Catalogue {
        Catalogue {
            version,
            tactics,
            techniques: techniques.into_iter().map(|t| (t.id.clone(), t)).collect(),
            detection_ids,
        }
    }
}

/// One tactic of a rule's mapping, and the techniques it names under it: `(id, name, parent)`, the
/// parent technique's id for a sub-technique.
#[derive(Debug, Clone)]
pub struct Mapping<'a> {
    pub tactic_id: &'a str,
    pub tactic_name: &'a str,
    pub techniques: Vec<(&'a str, &'a str, Option<&'a str>)>,
}

fn on_platforms(technique: &Technique, platforms: &[String]) -> bool {
    platforms.is_empty()
        || technique
            .platforms
            .iter()
            .any(|p| platforms.iter().any(|q| q.eq_ignore_ascii_case(p)))
}

/// The bundle in a folder: `enterprise-attack*.json`, the last by name (the newest release).
fn bundle_in(dir: &Path) -> Result<PathBuf, AttackError> {
    let entries = std::fs::read_dir(dir).map_err(|error| AttackError::Io {
        path: dir.to_path_buf(),
        error,
    })?;
    let mut found: Vec<PathBuf> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name().is_some_and(|n| {
                let n = n.to_string_lossy();
                n.starts_with("enterprise-attack") && n.ends_with(".json")
            })
        })
        .collect();
    found.sort();
    found.pop().ok_or_else(|| AttackError::Content {
        path: dir.to_path_buf(),
        message: "no enterprise-attack*.json bundle in this folder".into(),
    })
}
