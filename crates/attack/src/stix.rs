//! The parts of a STIX bundle ATT&CK needs: tactics, the matrix's tactic order, attack patterns,
//! `revoked-by` relationships, the detection objects, and the release from the collection object.

use std::collections::{HashMap, HashSet};

use serde::Deserialize;

use crate::{Catalogue, Tactic, Technique};

#[derive(Debug)]
pub(crate) enum ParseError {
    Json(serde_json::Error),
    Content(String),
}

#[derive(Deserialize)]
struct Bundle {
    objects: Vec<Object>,
}

#[derive(Deserialize)]
struct Object {
    #[serde(rename = "type")]
    kind: String,
    id: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    external_references: Vec<ExternalReference>,
    #[serde(default)]
    kill_chain_phases: Vec<KillChainPhase>,
    #[serde(default)]
    x_mitre_shortname: Option<String>,
    #[serde(default)]
    x_mitre_platforms: Vec<String>,
    #[serde(default)]
    revoked: bool,
    #[serde(default)]
    x_mitre_deprecated: bool,
    #[serde(default)]
    tactic_refs: Vec<String>,
    #[serde(default)]
    relationship_type: Option<String>,
    #[serde(default)]
    source_ref: Option<String>,
    #[serde(default)]
    target_ref: Option<String>,
    /// On `x-mitre-collection`: the ATT&CK release.
    #[serde(default)]
    x_mitre_version: Option<String>,
}

#[derive(Deserialize)]
struct ExternalReference {
    source_name: String,
    #[serde(default)]
    external_id: Option<String>,
}

#[derive(Deserialize)]
struct KillChainPhase {
    kill_chain_name: String,
    phase_name: String,
}

impl Object {
    fn attack_id(&self) -> Option<&str> {
        self.external_references
            .iter()
            .find(|r| r.source_name == "mitre-attack")
            .and_then(|r| r.external_id.as_deref())
    }
}

/// Parses a bundle; `file_name` supplies the release when the bundle has no collection object
/// (`enterprise-attack-18.1.json`).
pub(crate) fn parse(bytes: &[u8], file_name: &str) -> Result<Catalogue, ParseError> {
    let bundle: Bundle = serde_json::from_slice(bytes).map_err(ParseError::Json)?;
    let mut version = None;
    let mut tactics: HashMap<&str, Tactic> = HashMap::new();
    let mut order: Vec<&str> = Vec::new();
    let mut patterns: HashMap<&str, Technique> = HashMap::new();
    let mut detection_ids = HashSet::new();
    let mut revoked_by: Vec<(&str, &str)> = Vec::new();
    for object in &bundle.objects {
        match object.kind.as_str() {
            "x-mitre-collection" => version = object.x_mitre_version.clone(),
            "x-mitre-matrix" if order.is_empty() => {
                order = object.tactic_refs.iter().map(String::as_str).collect();
            }
            "x-mitre-tactic" => {
                if let (Some(id), Some(shortname)) = (object.attack_id(), &object.x_mitre_shortname)
                {
                    tactics.insert(
                        &object.id,
                        Tactic {
                            id: id.to_string(),
                            shortname: shortname.clone(),
                            name: object.name.clone(),
                        },
                    );
                }
            }
            "attack-pattern" => {
                let Some(id) = object.attack_id() else {
                    continue;
                };
                patterns.insert(
                    &object.id,
                    Technique {
                        id: id.to_string(),
                        name: object.name.clone(),
                        tactics: object
                            .kill_chain_phases
                            .iter()
                            .filter(|p| p.kill_chain_name == "mitre-attack")
                            .map(|p| p.phase_name.clone())
                            .collect(),
                        platforms: object.x_mitre_platforms.clone(),
                        revoked: object.revoked,
                        deprecated: object.x_mitre_deprecated,
                        revoked_by: None,
                    },
                );
            }
            "x-mitre-detection-strategy" | "x-mitre-analytic" | "x-mitre-data-component" => {
                if let Some(id) = object.attack_id() {
                    detection_ids.insert(id.to_string());
                }
            }
            "relationship" if object.relationship_type.as_deref() == Some("revoked-by") => {
                if let (Some(from), Some(to)) = (&object.source_ref, &object.target_ref) {
                    revoked_by.push((from, to));
                }
            }
            _ => {}
        }
    }
    for (from, to) in revoked_by {
        let replacement = patterns.get(to).map(|t| t.id.clone());
        if let Some(technique) = patterns.get_mut(from) {
            technique.revoked_by = replacement;
        }
    }
    if tactics.is_empty() || patterns.is_empty() {
        return Err(ParseError::Content(
            "the bundle holds no ATT&CK tactics or techniques".into(),
        ));
    }
    // Tactics in the matrix's order; any the matrix does not list after them, by id.
    let mut ordered: Vec<Tactic> = order.iter().filter_map(|r| tactics.remove(r)).collect();
    let mut rest: Vec<Tactic> = tactics.into_values().collect();
    rest.sort_by(|a, b| a.id.cmp(&b.id));
    ordered.extend(rest);
    let version = version.or_else(|| version_in_name(file_name));
    Ok(Catalogue::from_parts(
        version,
        ordered,
        patterns.into_values().collect(),
        detection_ids,
    ))
}

/// `18.1` from `enterprise-attack-18.1.json` or `enterprise-attack-18.1-stix2.0.json`.
fn version_in_name(name: &str) -> Option<String> {
    let rest = name.strip_prefix("enterprise-attack-")?;
    let version: String = rest
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '.')
        .collect();
    let version = version.trim_end_matches('.');
    (!version.is_empty()).then(|| version.to_string())
}

#[cfg(test)]
mod tests {
    use super::version_in_name;

    #[test]
    fn release_from_file_names() {
        assert_eq!(
            version_in_name("enterprise-attack-18.1-stix2.0.json").as_deref(),
            Some("18.1")
        );
        assert_eq!(
            version_in_name("enterprise-attack-17.0.json").as_deref(),
            Some("17.0")
        );
        assert_eq!(version_in_name("enterprise-attack.json"), None);
    }
}
