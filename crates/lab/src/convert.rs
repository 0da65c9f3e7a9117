//! `sigma convert`: a Sigma detection rule written as the equivalent native TOML rule (rule format v1,
//! `language = "sigma"`; a correlation as `type = "correlation"`), as shared/reference/detection-as-code.md section 6.10 describes it: the
//! detection verbatim under `[rule.detection]`, Sigma's provenance and licence in `[metadata.source]`,
//! `level` and `status` mapped (sections 6.2 and 6.3), `attack.*` tags turned into `[[rule.threat]]` with
//! each technique under a tactic it serves in the loaded ATT&CK data (the tag's tactic decides when it
//! serves several), and SigmaHQ's regression sample, when the rule names one, as a replay case.

use std::path::{Path, PathBuf};

use secops_attack::Catalogue;
use secops_rules::sigma::yaml::Yaml;
use secops_rules::sigma::Meta;
use serde::Serialize;

use secops_rules::naming::{is_uuid, snake_case};
use secops_rules::sigma::tags::{attack_from_tags, tactic_id};

/// What the conversion needs besides the Sigma document.
#[derive(Debug, Clone, Copy)]
pub struct Options<'a> {
    /// ATT&CK data, for technique names and the tactics each technique serves.
    pub attack: Option<&'a Catalogue>,
    /// The rule id to use when the Sigma id is not a lowercase UUID.
    pub fresh_id: &'a str,
    /// `YYYY-MM-DD`, for rules that carry no date.
    pub today: &'a str,
    /// The Sigma file as named in `[metadata.source]` (`rules/windows/.../x.yml`).
    pub original_path: &'a str,
    /// The SHA-256 of the Sigma file's text.
    pub original_sha256: &'a str,
}

/// Why a Sigma document could not be converted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConvertError {
    #[error("a correlation document: use correlation_to_native")]
    Correlation,
    #[error("the document has no detection mapping")]
    NoDetection,
    #[error("the document has no correlation mapping")]
    NoCorrelation,
    #[error("writing TOML: {0}")]
    Toml(String),
}

/// A replay case from a regression sample.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fixture {
    /// `events_file` as the rule will name it (relative to the rule file, or absolute).
    pub events_file: String,
    /// The matches the sample must give at least.
    pub min_alerts: u64,
}

/// A converted rule.
#[derive(Debug, Clone)]
pub struct Converted {
    /// The folder by primary tactic (`execution`; `rules_building_block` for rules without a level).
    pub folder: String,
    /// `<tactic>_<title>.toml`, as `rules validate` wants file names.
    pub file_name: String,
    pub text: String,
    /// What the rule author still has to do or know (unknown techniques, tests production needs).
    pub notes: Vec<String>,
}

/// Where SigmaHQ keeps a rule's regression sample: the rule's `regression_tests_path` names an
/// `info.yml` relative to the repository root (found by walking up from the rule file); the JSON
/// sample beside it, and the expected match count.
pub fn regression_sample(rule_file: &Path, document: &Yaml) -> Option<(PathBuf, u64)> {
    let info_path = document.get("regression_tests_path")?.as_str()?;
    let info = rule_file
        .ancestors()
        .skip(1)
        .map(|root| root.join(info_path))
        .find(|p| p.is_file())?;
    let text = std::fs::read_to_string(&info).ok()?;
    let info_doc = secops_rules::sigma::yaml::parse_documents(&text)
        .ok()?
        .into_iter()
        .next()?;
    let test = match info_doc.get("regression_tests_info")? {
        Yaml::Seq(items) => items.first()?.clone(),
        _ => return None,
    };
    let min = match test.get("match_count") {
        Some(Yaml::Int(n)) if *n > 0 => *n as u64,
        _ => 1,
    };
    let dir = info.parent()?;
    let evtx = test.get("path")?.as_str()?;
    let name = Path::new(evtx).file_stem()?;
    let json = dir.join(name).with_extension("json");
    json.is_file().then_some((json, min))
}

/// Converts one Sigma detection document (a mapping, as read from the file). `fixture` adds the
/// regression sample as a replay case.
pub fn to_native(
    document: &Yaml,
    meta: &Meta,
    fixture: Option<&Fixture>,
    options: &Options<'_>,
) -> Result<Converted, ConvertError> {
    if document.get("correlation").is_some() {
        return Err(ConvertError::Correlation);
    }
    let detection = document
        .get("detection")
        .filter(|d| matches!(d, Yaml::Map(_)))
        .ok_or(ConvertError::NoDetection)?;
    convert(
        document,
        meta,
        Body::Detection(detection.clone()),
        fixture,
        options,
    )
}

/// Converts a Sigma correlation document into a native `type = "correlation"` rule. `references`
/// maps the Sigma ids and names of rules converted alongside to their native ids, so the correlation
/// names what will be loaded; other references are kept as written.
pub fn correlation_to_native(
    document: &Yaml,
    meta: &Meta,
    references: &std::collections::HashMap<String, String>,
    options: &Options<'_>,
) -> Result<Converted, ConvertError> {
    let Some(Yaml::Map(entries)) = document.get("correlation") else {
        return Err(ConvertError::NoCorrelation);
    };
    let mut out: Vec<(String, Yaml)> = Vec::new();
    for (key, value) in entries {
        let value = match (key.as_str(), value) {
            ("rules", Yaml::Seq(items)) => Yaml::Seq(
                items
                    .iter()
                    .map(|r| match r.as_str().and_then(|name| references.get(name)) {
                        Some(id) => Yaml::Str(id.clone()),
                        None => r.clone(),
                    })
                    .collect(),
            ),
            (_, other) => other.clone(),
        };
        let key = if key == "group-by" {
            "group_by".to_string()
        } else {
            key.clone()
        };
        out.push((key, value));
    }
    // `generate` may stand beside the correlation section in Sigma.
    if let Some(generate) = document.get("generate") {
        if !out.iter().any(|(k, _)| k == "generate") {
            out.push(("generate".into(), generate.clone()));
        }
    }
    convert(
        document,
        meta,
        Body::Correlation(Yaml::Map(out)),
        None,
        options,
    )
}

/// What the rule tests: a Sigma detection, or a correlation over other rules.
enum Body {
    Detection(Yaml),
    Correlation(Yaml),
}

fn convert(
    document: &Yaml,
    meta: &Meta,
    body: Body,
    fixture: Option<&Fixture>,
    options: &Options<'_>,
) -> Result<Converted, ConvertError> {
    let mut notes = Vec::new();
    let logsource = |key: &str| {
        document
            .get("logsource")
            .and_then(|l| l.get(key))
            .and_then(Yaml::scalar_text)
            .map(|s| s.to_ascii_lowercase())
    };
    let (severity, risk_score, building_block) = match meta.level.as_deref() {
        Some("critical") => ("critical", 99, false),
        Some("high") => ("high", 73, false),
        Some("medium") => ("medium", 47, false),
        Some("low") => ("low", 21, false),
        Some("informational") => ("informational", 5, false),
        // no level: a building block (a signal other rules build on)
        _ => ("low", 21, true),
    };
    let maturity = match meta.status.as_deref() {
        Some("stable") => "production",
        Some("test") => "beta",
        Some("deprecated") => "deprecated",
        Some("unsupported") => "development",
        _ => "experimental",
    };
    let threat = threat_of(&meta.tags, options.attack, &mut notes);
    let primary = threat.first().map(|t| t.tactic.name.clone());
    let id = meta
        .id
        .clone()
        .filter(|id| is_uuid(id))
        .unwrap_or_else(|| options.fresh_id.to_string());
    let created = sigma_date(meta.date.as_deref()).unwrap_or_else(|| options.today.to_string());
    let updated = sigma_date(meta.modified.as_deref()).unwrap_or_else(|| created.clone());
    let authors = meta.authors();
    let mut tags: Vec<String> = primary
        .iter()
        .map(|p| format!("Tactic: {p}"))
        .chain(std::iter::once("Rule Type: Sigma".to_string()))
        .collect();
    tags.extend(
        meta.tags
            .iter()
            .filter(|t| !t.to_ascii_lowercase().starts_with("attack."))
            .cloned(),
    );
    let license = meta.license.clone().unwrap_or_else(|| "DRL-1.1".into());
    let file = NativeFile {
        metadata: MetadataOut {
            creation_date: created,
            updated_date: updated,
            maturity,
            deprecation_date: (maturity == "deprecated").then(|| options.today.to_string()),
            deprecated_reason: (maturity == "deprecated")
                .then(|| "deprecated by the Sigma rule's authors".to_string()),
            source: SourceOut {
                kind: "sigma",
                original_id: meta.id.clone(),
                original_path: options.original_path.to_string(),
                original_sha256: options.original_sha256.to_string(),
                license: license.clone(),
                authors: authors.clone(),
            },
        },
        rule: RuleOut {
            id,
            name: meta.title.clone(),
            description: meta
                .description
                .clone()
                .unwrap_or_else(|| meta.title.clone()),
            author: if authors.is_empty() {
                vec!["unknown (Sigma rule without author)".into()]
            } else {
                authors
            },
            license,
            rule_type: match body {
                Body::Detection(_) => "query",
                Body::Correlation(_) => "correlation",
            },
            language: matches!(body, Body::Detection(_)).then_some("sigma"),
            severity,
            risk_score,
            building_block: building_block.then_some(true),
            tags,
            references: meta.references.clone(),
            false_positives: meta.falsepositives.clone(),
            log_source: matches!(body, Body::Detection(_)).then(|| LogSourceOut {
                product: logsource("product"),
                category: logsource("category"),
                service: logsource("service"),
                definition: logsource("definition"),
            }),
            detection: match &body {
                Body::Detection(d) => Some(d.clone()),
                Body::Correlation(_) => None,
            },
            correlation: match body {
                Body::Correlation(c) => Some(c),
                Body::Detection(_) => None,
            },
            threat,
        },
        test: fixture
            .map(|f| TestOut {
                name: "SigmaHQ regression sample matches".into(),
                kind: "replay",
                min_alerts: f.min_alerts,
                events_file: f.events_file.clone(),
            })
            .into_iter()
            .collect(),
    };
    if maturity == "production" {
        notes.push(
            "production (Sigma status stable): add a case that does not alert (expect = \"no_alert\") \
             before `rules validate` passes"
                .into(),
        );
        if fixture.is_none() {
            notes.push("production: add a case that alerts (no regression sample found)".into());
        }
    }
    let mut text = format!(
        "# Converted from the Sigma rule {} by `secops sigma convert`.\n# Licence {}: keep the \
         authors with every copy and every match.\n\n",
        options.original_path, file.rule.license
    );
    text.push_str(&toml::to_string(&file).map_err(|e| ConvertError::Toml(e.to_string()))?);
    let folder = if building_block {
        "rules_building_block".to_string()
    } else {
        primary
            .as_deref()
            .map(snake_case)
            .unwrap_or_else(|| "uncategorized".into())
    };
    let prefix = primary
        .as_deref()
        .map(snake_case)
        .map(|p| format!("{p}_"))
        .unwrap_or_default();
    let mut stem = format!("{prefix}{}", snake_case(&meta.title));
    stem.truncate(100);
    Ok(Converted {
        folder,
        file_name: format!("{}.toml", stem.trim_end_matches('_')),
        text,
        notes,
    })
}

/// `[[rule.threat]]` from `attack.*` tags. With ATT&CK data, each technique goes under the tagged
/// tactics it serves (or, when it serves none of them, its first tactic), with the names from the
/// data; without it, under every tagged tactic, named by id.
fn threat_of(
    tags: &[String],
    attack: Option<&Catalogue>,
    notes: &mut Vec<String>,
) -> Vec<ThreatOut> {
    let Some(catalogue) = attack else {
        return attack_from_tags(tags)
            .into_iter()
            .filter(|t| !t.tactic.id.is_empty())
            .map(|t| ThreatOut {
                framework: "MITRE ATT&CK",
                tactic: RefOut::tactic(&t.tactic.id, &title_of(&t.tactic.name)),
                technique: t
                    .technique
                    .iter()
                    .map(|tech| TechniqueOut {
                        id: tech.id.clone(),
                        name: tech.name.clone(),
                        reference: attack_url(&tech.id),
                        subtechnique: tech
                            .subtechnique
                            .iter()
                            .map(|s| RefOut::technique(&s.id, &s.name))
                            .collect(),
                    })
                    .collect(),
            })
            .collect();
    };
    let lowered: Vec<String> = tags.iter().map(|t| t.to_ascii_lowercase()).collect();
    let tagged_tactics: Vec<&str> = lowered
        .iter()
        .filter_map(|t| t.strip_prefix("attack."))
        .filter(|name| tactic_id(name).is_some())
        .collect();
    let mut out: Vec<ThreatOut> = Vec::new();
    for tag in &lowered {
        let Some(id) = tag
            .strip_prefix("attack.t")
            .filter(|r| r.starts_with(|c: char| c.is_ascii_digit()))
            .map(|r| format!("T{}", r.to_ascii_uppercase()))
        else {
            continue;
        };
        let Some(technique) = catalogue.technique(&id) else {
            notes.push(format!(
                "{tag}: technique {id} is not in the loaded ATT&CK data ({}); left out of [[rule.threat]]",
                catalogue.version.as_deref().unwrap_or("unknown release")
            ));
            continue;
        };
        let parent_id = technique.parent_id().to_string();
        let Some(parent) = catalogue.technique(&parent_id) else {
            continue;
        };
        let serving: Vec<&String> = parent
            .tactics
            .iter()
            .filter(|t| tagged_tactics.contains(&t.as_str()))
            .collect();
        let chosen: Vec<&String> = if serving.is_empty() {
            parent.tactics.iter().take(1).collect()
        } else {
            serving
        };
        for shortname in chosen {
            let Some(tactic) = catalogue.tactic(shortname) else {
                continue;
            };
            let position = match out.iter().position(|t| t.tactic.id == tactic.id) {
                Some(p) => p,
                None => {
                    out.push(ThreatOut {
                        framework: "MITRE ATT&CK",
                        tactic: RefOut::tactic(&tactic.id, &tactic.name),
                        technique: Vec::new(),
                    });
                    out.len() - 1
                }
            };
            let techniques = &mut out[position].technique;
            let entry = match techniques.iter().position(|t| t.id == parent.id) {
                Some(p) => &mut techniques[p],
                None => {
                    techniques.push(TechniqueOut {
                        id: parent.id.clone(),
                        name: parent.name.clone(),
                        reference: attack_url(&parent.id),
                        subtechnique: Vec::new(),
                    });
                    let last = techniques.len() - 1;
                    &mut techniques[last]
                }
            };
            if technique.is_subtechnique() && !entry.subtechnique.iter().any(|s| s.id == id) {
                entry
                    .subtechnique
                    .push(RefOut::technique(&technique.id, &technique.name));
            }
        }
    }
    // The primary tactic is the first one the tags name.
    out.sort_by_key(|t| {
        tagged_tactics
            .iter()
            .position(|s| tactic_id(s) == Some(t.tactic.id.as_str()))
            .unwrap_or(usize::MAX)
    });
    out
}

/// `command-and-control` -> `Command and Control`.
fn title_of(shortname: &str) -> String {
    shortname
        .split('-')
        .enumerate()
        .map(|(i, w)| match w {
            "and" | "of" if i > 0 => w.to_string(),
            _ => {
                let mut chars = w.chars();
                chars
                    .next()
                    .map(|c| c.to_ascii_uppercase().to_string() + chars.as_str())
                    .unwrap_or_default()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn attack_url(id: &str) -> String {
    format!(
        "https://attack.mitre.org/techniques/{}/",
        id.replace('.', "/")
    )
}

/// Sigma dates are `YYYY-MM-DD` or the older `YYYY/MM/DD`.
fn sigma_date(text: Option<&str>) -> Option<String> {
    let text = text?.trim().replace('/', "-");
    chrono::NaiveDate::parse_from_str(&text, "%Y-%m-%d")
        .ok()
        .map(|d| d.format("%Y-%m-%d").to_string())
}

#[derive(Serialize)]
struct NativeFile {
    metadata: MetadataOut,
    rule: RuleOut,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    test: Vec<TestOut>,
}

#[derive(Serialize)]
struct MetadataOut {
    creation_date: String,
    updated_date: String,
    maturity: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    deprecation_date: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    deprecated_reason: Option<String>,
    source: SourceOut,
}

#[derive(Serialize)]
struct SourceOut {
    kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    original_id: Option<String>,
    original_path: String,
    original_sha256: String,
    license: String,
    authors: Vec<String>,
}

#[derive(Serialize)]
struct RuleOut {
    id: String,
    name: String,
    description: String,
    author: Vec<String>,
    license: String,
    #[serde(rename = "type")]
    rule_type: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    language: Option<&'static str>,
    severity: &'static str,
    risk_score: u8,
    #[serde(skip_serializing_if = "Option::is_none")]
    building_block: Option<bool>,
    tags: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    references: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    false_positives: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    log_source: Option<LogSourceOut>,
    #[serde(skip_serializing_if = "Option::is_none")]
    detection: Option<Yaml>,
    #[serde(skip_serializing_if = "Option::is_none")]
    correlation: Option<Yaml>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    threat: Vec<ThreatOut>,
}

#[derive(Serialize)]
struct LogSourceOut {
    #[serde(skip_serializing_if = "Option::is_none")]
    product: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    category: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    service: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    definition: Option<String>,
}

#[derive(Serialize)]
struct ThreatOut {
    framework: &'static str,
    tactic: RefOut,
    technique: Vec<TechniqueOut>,
}

#[derive(Serialize)]
struct RefOut {
    id: String,
    name: String,
    reference: String,
}

impl RefOut {
    fn tactic(id: &str, name: &str) -> RefOut {
        RefOut {
            id: id.to_string(),
            name: name.to_string(),
            reference: format!("https://attack.mitre.org/tactics/{id}/"),
        }
    }

    fn technique(id: &str, name: &str) -> RefOut {
        RefOut {
            id: id.to_string(),
            name: name.to_string(),
            reference: attack_url(id),
        }
    }
}

#[derive(Serialize)]
struct TechniqueOut {
    id: String,
    name: String,
    reference: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    subtechnique: Vec<RefOut>,
}

#[derive(Serialize)]
struct TestOut {
    name: String,
    kind: &'static str,
    min_alerts: u64,
    events_file: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tactic_titles_and_sigma_dates() {
        assert_eq!(title_of("command-and-control"), "Command and Control");
        assert_eq!(title_of("credential-access"), "Credential Access");
        assert_eq!(
            sigma_date(Some("2023/01/05")).as_deref(),
            Some("2023-01-05")
        );
        assert_eq!(sigma_date(Some("2023-13-05")), None);
    }
}
