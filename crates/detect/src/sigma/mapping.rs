//! Sigma log sources to events: the mapping file (`data/sigma_logsources.toml`, embedded, extensible by
//! the user) and its resolution of a rule's `logsource` into [`Target`]s.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use secops_rules::LogSource;
use serde::Deserialize;

/// The mapping bundled with the binary.
pub const BUNDLED: &str = include_str!("../../data/sigma_logsources.toml");

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct MappingFile {
    #[serde(default)]
    windows: WindowsSection,
    #[serde(default)]
    source: Vec<SourceEntry>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct WindowsSection {
    #[serde(default)]
    system_fields: BTreeMap<String, String>,
    #[serde(default)]
    services: BTreeMap<String, Vec<String>>,
    #[serde(default)]
    category: Vec<ChannelCategory>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct ChannelCategory {
    product: Option<String>,
    category: String,
    service: Option<String>,
    #[serde(default)]
    channels: Vec<String>,
    #[serde(default)]
    event_ids: Vec<u32>,
    #[serde(default, rename = "where")]
    conditions: BTreeMap<String, OneOrMany>,
    #[serde(default)]
    fields: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct SourceEntry {
    product: Option<String>,
    category: Option<String>,
    service: Option<String>,
    #[serde(rename = "where")]
    conditions: BTreeMap<String, OneOrMany>,
    #[serde(default)]
    fields: BTreeMap<String, String>,
    keywords: Option<Vec<String>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    fn values(&self) -> Vec<String> {
        match self {
            OneOrMany::One(s) => vec![s.clone()],
            OneOrMany::Many(v) => v.clone(),
        }
    }
}

/// The log-source mapping: the bundled file, optionally preceded by a user's.
#[derive(Debug, Clone)]
pub struct Mapping {
    files: Vec<MappingFile>,
    /// Windows System field names, merged over the files (the first file wins), shared by every target.
    system_fields: Arc<HashMap<String, String>>,
}

/// Events a rule's log source names, and how its fields are found in them.
#[derive(Debug, Clone, PartialEq)]
pub enum Target {
    /// Windows-style events (`winlog.channel`, `winlog.event_id`; fields in EventData / UserData).
    Channel {
        /// Lowercased channel names; empty for every channel.
        channels: Vec<String>,
        /// Empty for every EventID.
        event_ids: Vec<u32>,
        /// Further equalities on (Sigma-named) fields, each any of its values.
        conditions: Vec<(String, Vec<String>)>,
        fields: HashMap<String, String>,
        system_fields: Arc<HashMap<String, String>>,
    },
    /// Other events, routed by `event.module`.
    Generic {
        modules: Vec<String>,
        /// Further equalities on event fields, each any of its values.
        conditions: Vec<(String, Vec<String>)>,
        fields: HashMap<String, String>,
        /// Fields read by keyword searches (`None`: every text value).
        keywords: Option<Vec<String>>,
    },
}

impl Mapping {
    /// The bundled mapping.
    pub fn bundled() -> Mapping {
        // The bundled file is checked by a unit test; should it ever fail to parse, no source maps.
        Mapping::from_files(vec![toml::from_str(BUNDLED).unwrap_or_default()])
    }

    /// The bundled mapping with a user's file in front (its entries are tried first).
    pub fn with_user(text: &str) -> Result<Mapping, String> {
        let user: MappingFile = toml::from_str(text).map_err(|e| e.to_string())?;
        let bundled = toml::from_str(BUNDLED).unwrap_or_default();
        Ok(Mapping::from_files(vec![user, bundled]))
    }

    fn from_files(files: Vec<MappingFile>) -> Mapping {
        let mut system_fields = HashMap::new();
        for file in files.iter().rev() {
            system_fields.extend(file.windows.system_fields.clone());
        }
        Mapping {
            files,
            system_fields: Arc::new(system_fields),
        }
    }

    fn service_channels(&self, service: &str) -> Option<Vec<String>> {
        self.files
            .iter()
            .find_map(|f| f.windows.services.get(service).cloned())
    }

    /// Where a rule with this log source runs. An error says why it cannot run anywhere.
    pub fn resolve(&self, source: &LogSource) -> Result<Vec<Target>, String> {
        let product = source.product.as_deref();
        let category = source.category.as_deref();
        let service = source.service.as_deref();
        let mut targets = Vec::new();
        // Categories on event-log channels (Windows, Sysmon for Linux).
        if let Some(category) = category {
            for file in &self.files {
                for entry in &file.windows.category {
                    let entry_product = entry.product.as_deref().unwrap_or("windows");
                    if entry.category != category
                        || product.is_some_and(|p| p != entry_product)
                        || service.is_some_and(|s| entry.service.as_deref() != Some(s))
                    {
                        continue;
                    }
                    let mut channels = entry.channels.clone();
                    if let Some(s) = &entry.service {
                        channels.extend(self.service_channels(s).ok_or_else(|| {
                            format!("the mapping's category {category} names unknown service {s}")
                        })?);
                    }
                    targets.push(self.channel_target(channels, entry));
                }
            }
        } else if product == Some("windows") {
            let channels = match service {
                Some(s) => self.service_channels(s).ok_or_else(|| {
                    format!("no Windows event log channel is mapped for service '{s}'")
                })?,
                None => Vec::new(),
            };
            targets.push(Target::Channel {
                channels: channels.iter().map(|c| c.to_lowercase()).collect(),
                event_ids: Vec::new(),
                conditions: Vec::new(),
                fields: HashMap::new(),
                system_fields: self.system_fields.clone(),
            });
        }
        if !targets.is_empty() {
            return Ok(targets);
        }
        // Other sources: entries whose product, category and service are exactly the rule's.
        for file in &self.files {
            for entry in &file.source {
                let service_matches = match (entry.service.as_deref(), service) {
                    (Some("*"), Some(_)) => true,
                    (a, b) => a == b,
                };
                if entry.product.as_deref() == product
                    && entry.category.as_deref() == category
                    && service_matches
                {
                    targets.push(generic_target(entry, service.unwrap_or("")));
                }
            }
            if !targets.is_empty() {
                return Ok(targets);
            }
        }
        match (product, category) {
            (Some("windows"), Some(c)) => Err(format!(
                "no Windows event source is mapped for category '{c}' (Sysmon and the Security log have none)"
            )),
            (Some(p), None) => {
                // An unmapped product: its events by module, fields by their own names.
                let mut conditions = Vec::new();
                if let Some(s) = service {
                    conditions.push(("event.dataset".to_string(), vec![format!("{p}.{s}")]));
                }
                Ok(vec![Target::Generic {
                    modules: vec![p.to_string()],
                    conditions,
                    fields: HashMap::new(),
                    keywords: None,
                }])
            }
            (p, Some(c)) => Err(format!(
                "no log source is mapped for category '{c}'{} (add one with --sigma-mapping)",
                p.map(|p| format!(" of product '{p}'")).unwrap_or_default()
            )),
            (None, None) => match service {
                Some(s) => Err(format!(
                    "no log source is mapped for service '{s}' without a product (add one with --sigma-mapping)"
                )),
                None => Err("the logsource names no product, category or service".into()),
            },
        }
    }

    fn channel_target(&self, channels: Vec<String>, entry: &ChannelCategory) -> Target {
        Target::Channel {
            channels: channels.iter().map(|c| c.to_lowercase()).collect(),
            event_ids: entry.event_ids.clone(),
            conditions: entry
                .conditions
                .iter()
                .map(|(k, v)| (k.clone(), v.values()))
                .collect(),
            fields: entry.fields.clone().into_iter().collect(),
            system_fields: self.system_fields.clone(),
        }
    }
}

fn generic_target(entry: &SourceEntry, service: &str) -> Target {
    let mut modules = Vec::new();
    let mut conditions = Vec::new();
    for (field, values) in &entry.conditions {
        let values: Vec<String> = values
            .values()
            .into_iter()
            .map(|v| v.replace("{service}", service))
            .collect();
        if field == "event.module" {
            modules = values;
        } else {
            conditions.push((field.clone(), values));
        }
    }
    Target::Generic {
        modules,
        conditions,
        fields: entry.fields.clone().into_iter().collect(),
        keywords: entry.keywords.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source(product: Option<&str>, category: Option<&str>, service: Option<&str>) -> LogSource {
        LogSource {
            product: product.map(str::to_string),
            category: category.map(str::to_string),
            service: service.map(str::to_string),
            definition: None,
        }
    }

    #[test]
    fn bundled_mapping_parses_and_every_generic_entry_routes_by_module() {
        let file: MappingFile = toml::from_str(BUNDLED).unwrap();
        assert!(file.windows.category.len() > 30);
        for entry in &file.source {
            assert!(entry.conditions.contains_key("event.module"), "{entry:?}");
        }
    }

    #[test]
    fn process_creation_is_sysmon_1_and_security_4688_with_renames() {
        let targets = Mapping::bundled()
            .resolve(&source(Some("windows"), Some("process_creation"), None))
            .unwrap();
        assert_eq!(targets.len(), 2);
        let Target::Channel {
            channels,
            event_ids,
            fields,
            ..
        } = &targets[1]
        else {
            panic!("{targets:?}")
        };
        assert_eq!(channels, &["security"]);
        assert_eq!(event_ids, &[4688]);
        assert_eq!(
            fields.get("Image").map(String::as_str),
            Some("NewProcessName")
        );
        assert_eq!(
            fields.get("ParentImage").map(String::as_str),
            Some("ParentProcessName")
        );
    }

    #[test]
    fn unknown_sources_are_errors_that_say_why() {
        let m = Mapping::bundled();
        let e = m
            .resolve(&source(Some("windows"), Some("file_access"), None))
            .unwrap_err();
        assert!(e.contains("file_access"), "{e}");
        let e = m
            .resolve(&source(Some("windows"), None, Some("nosuch")))
            .unwrap_err();
        assert!(e.contains("nosuch"), "{e}");
        // An unmapped product runs on events of that module.
        let t = m
            .resolve(&source(Some("okta"), None, Some("okta")))
            .unwrap();
        assert!(matches!(&t[0], Target::Generic { modules, .. } if modules == &["okta"]));
    }
}
