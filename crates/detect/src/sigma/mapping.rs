//! Sigma log sources to events: the mapping file (`data/sigma_logsources.toml`, embedded, extensible by
//! the user) and its resolution of a rule's `logsource` into [`Target`]s.

use std::collections::{BTreeMap, HashMap, HashSet};
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
    /// Named lists of the fields an event carries (`{n}` in a name stands for a number).
    #[serde(default)]
    event_fields: BTreeMap<String, Vec<String>>,
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
    /// Renames: a Sigma field name to the name these events give it, or to a template joining several
    /// of their fields (`"{SubjectDomainName}\\{SubjectUserName}"`).
    #[serde(default)]
    fields: BTreeMap<String, String>,
    /// How a rule's values for a (Sigma-named) field are written in these events: a table (`High` to
    /// `S-1-16-12288`, keys compared case-insensitively) or `"hex"` (a decimal number as `0x` and
    /// lower-case hex digits).
    #[serde(default)]
    values: BTreeMap<String, ValueRule>,
    /// `values` read (when the mapping loads).
    #[serde(skip)]
    value_maps: HashMap<String, ValueMap>,
    /// Names of `event_fields` lists: the fields these events carry (none: not known).
    #[serde(default)]
    event_fields: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
enum ValueRule {
    Format(String),
    Table(BTreeMap<String, String>),
}

/// How a rule's values for one field are rewritten for a target's events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ValueMap {
    /// Whole values, by their lower-cased text; other values stay as written.
    Table(HashMap<String, String>),
    /// Decimal numbers as `0x` and lower-case hex digits (Security events write process ids so).
    Hex,
}

impl ValueMap {
    /// The value as the events write it, when this map rewrites it.
    pub fn rewrite(&self, value: &str) -> Option<String> {
        match self {
            ValueMap::Table(table) => table.get(&value.to_lowercase()).cloned(),
            ValueMap::Hex => {
                if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
                    return None;
                }
                value.parse::<u64>().ok().map(|n| format!("{n:#x}"))
            }
        }
    }
}

fn value_map(field: &str, rule: &ValueRule) -> Result<ValueMap, MappingError> {
    match rule {
        ValueRule::Format(format) if format == "hex" => Ok(ValueMap::Hex),
        ValueRule::Format(format) => Err(MappingError::ValueFormat {
            field: field.to_string(),
            format: format.clone(),
        }),
        ValueRule::Table(table) => Ok(ValueMap::Table(
            table
                .iter()
                .map(|(k, v)| (k.to_lowercase(), v.clone()))
                .collect(),
        )),
    }
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
    #[serde(default)]
    event_fields: Vec<String>,
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
    /// The field list of each entry's `event_fields` names (lists of one name merged over the files:
    /// a user's list adds to the bundled one, for logs enriched with more fields).
    field_lists: HashMap<Vec<String>, Arc<FieldList>>,
}

/// The fields an event carries: names, and patterns where `{n}` stands for a number (`a{n}`: `a0`,
/// `a12`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldList {
    names: HashSet<String>,
    /// Patterns split at `{n}`.
    numbered: Vec<Vec<String>>,
}

impl FieldList {
    fn add(&mut self, name: &str) {
        if name.contains("{n}") {
            let parts: Vec<String> = name.split("{n}").map(str::to_string).collect();
            if !self.numbered.contains(&parts) {
                self.numbered.push(parts);
            }
        } else {
            self.names.insert(name.to_string());
        }
    }

    /// Whether events carry this field.
    pub fn contains(&self, name: &str) -> bool {
        self.names.contains(name) || self.numbered.iter().any(|p| numbered_match(p, name))
    }
}

/// Whether `name` is the parts joined by runs of one or more ASCII digits.
fn numbered_match(parts: &[String], name: &str) -> bool {
    let Some((first, rest)) = parts.split_first() else {
        return false;
    };
    let Some(mut tail) = name.strip_prefix(first.as_str()) else {
        return false;
    };
    for part in rest {
        let digits = tail.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return false;
        }
        match tail[digits..].strip_prefix(part.as_str()) {
            Some(t) => tail = t,
            None => return false,
        }
    }
    tail.is_empty()
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
        /// Rewrites of rule values, by Sigma field name.
        values: HashMap<String, ValueMap>,
        system_fields: Arc<HashMap<String, String>>,
        /// The EventData / UserData fields these events carry, when the mapping lists them.
        event_fields: Option<Arc<FieldList>>,
        /// The source as people name it (`sysmon EventID 11`).
        label: String,
    },
    /// Other events, routed by `event.module`.
    Generic {
        modules: Vec<String>,
        /// Further equalities on event fields, each any of its values.
        conditions: Vec<(String, Vec<String>)>,
        fields: HashMap<String, String>,
        /// Fields read by keyword searches (`None`: every text value).
        keywords: Option<Vec<String>>,
        /// The fields these events carry, when the mapping lists them.
        event_fields: Option<Arc<FieldList>>,
    },
}

impl Target {
    /// The fields the target's events carry, when known.
    pub fn event_fields(&self) -> Option<&FieldList> {
        match self {
            Target::Channel { event_fields, .. } | Target::Generic { event_fields, .. } => {
                event_fields.as_deref()
            }
        }
    }

    /// The events, as a person would name them in a message.
    pub fn label(&self) -> String {
        match self {
            Target::Channel { label, .. } => label.clone(),
            Target::Generic { modules, .. } => format!("event.module {}", modules.join(" or ")),
        }
    }
}

/// Why a mapping file cannot be used, or a log source has nowhere to run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MappingError {
    /// A mapping file that does not parse.
    #[error("{}{message}", line.map(|l| format!("line {l}: ")).unwrap_or_default())]
    File {
        line: Option<usize>,
        message: String,
    },
    #[error(
        "the mapping's values for field {field} name format '{format}' (the one format is \"hex\")"
    )]
    ValueFormat { field: String, format: String },
    #[error("the mapping names event_fields list '{0}', which it does not define")]
    UndefinedFieldList(String),
    #[error("the mapping's category {category} names unknown service {service}")]
    UnknownService { category: String, service: String },
    #[error("no Windows event log channel is mapped for service '{0}'")]
    NoWindowsService(String),
    #[error(
        "no Windows event source is mapped for category '{0}' (Sysmon and the Security log have none)"
    )]
    NoWindowsCategory(String),
    #[error(
        "no log source is mapped for category '{category}'{} (add one with --sigma-mapping)",
        product.as_ref().map(|p| format!(" of product '{p}'")).unwrap_or_default()
    )]
    NoCategory {
        category: String,
        product: Option<String>,
    },
    #[error(
        "no log source is mapped for service '{0}' without a product (add one with --sigma-mapping)"
    )]
    NoService(String),
    #[error("the logsource names no product, category or service")]
    Empty,
}

impl Mapping {
    /// The bundled mapping, read once per process (native rules in the Sigma language compile with it
    /// unless a user mapping is given).
    pub fn shared_bundled() -> &'static Mapping {
        static BUNDLED_MAPPING: std::sync::OnceLock<Mapping> = std::sync::OnceLock::new();
        BUNDLED_MAPPING.get_or_init(Mapping::bundled)
    }

    /// The bundled mapping.
    pub fn bundled() -> Mapping {
        // The bundled file is checked by a unit test; should it ever fail to load, no source maps.
        toml::from_str(BUNDLED)
            .map_err(|e| MappingError::File {
                line: None,
                message: e.to_string(),
            })
            .and_then(|file| Mapping::from_files(vec![file]))
            .unwrap_or_else(|_| Mapping {
                files: Vec::new(),
                system_fields: Arc::default(),
                field_lists: HashMap::new(),
            })
    }

    /// The bundled mapping with a user's file in front (its entries are tried first).
    pub fn with_user(text: &str) -> Result<Mapping, MappingError> {
        let user: MappingFile = toml::from_str(text).map_err(|e| MappingError::File {
            line: e
                .span()
                .map(|s| text[..s.start.min(text.len())].matches('\n').count() + 1),
            message: e.message().trim().to_string(),
        })?;
        let bundled = toml::from_str(BUNDLED).map_err(|e| MappingError::File {
            line: None,
            message: format!("the bundled mapping: {}", e.message().trim()),
        })?;
        Mapping::from_files(vec![user, bundled])
    }

    fn from_files(mut files: Vec<MappingFile>) -> Result<Mapping, MappingError> {
        for entry in files.iter_mut().flat_map(|f| f.windows.category.iter_mut()) {
            entry.value_maps = entry
                .values
                .iter()
                .map(|(field, rule)| Ok((field.clone(), value_map(field, rule)?)))
                .collect::<Result<_, MappingError>>()?;
        }
        let mut system_fields = HashMap::new();
        let mut lists: HashMap<&str, Vec<&str>> = HashMap::new();
        for file in files.iter().rev() {
            system_fields.extend(file.windows.system_fields.clone());
            for (name, fields) in &file.event_fields {
                lists
                    .entry(name)
                    .or_default()
                    .extend(fields.iter().map(String::as_str));
            }
        }
        let mut field_lists = HashMap::new();
        let wanted = files.iter().flat_map(|f| {
            let windows = f.windows.category.iter().map(|c| &c.event_fields);
            windows.chain(f.source.iter().map(|s| &s.event_fields))
        });
        for names in wanted.filter(|n| !n.is_empty()) {
            if field_lists.contains_key(names) {
                continue;
            }
            let mut list = FieldList::default();
            for name in names {
                let fields = lists
                    .get(name.as_str())
                    .ok_or_else(|| MappingError::UndefinedFieldList(name.clone()))?;
                for field in fields {
                    list.add(field);
                }
            }
            field_lists.insert(names.clone(), Arc::new(list));
        }
        Ok(Mapping {
            files,
            system_fields: Arc::new(system_fields),
            field_lists,
        })
    }

    fn field_list(&self, names: &[String]) -> Option<Arc<FieldList>> {
        self.field_lists.get(names).cloned()
    }

    fn service_channels(&self, service: &str) -> Option<Vec<String>> {
        self.files
            .iter()
            .find_map(|f| f.windows.services.get(service).cloned())
    }

    /// Where a rule with this log source runs. An error says why it cannot run anywhere.
    pub fn resolve(&self, source: &LogSource) -> Result<Vec<Target>, MappingError> {
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
                            MappingError::UnknownService {
                                category: category.to_string(),
                                service: s.clone(),
                            }
                        })?);
                    }
                    targets.push(self.channel_target(channels, entry));
                }
            }
        } else if product == Some("windows") {
            let channels = match service {
                Some(s) => self
                    .service_channels(s)
                    .ok_or_else(|| MappingError::NoWindowsService(s.to_string()))?,
                None => Vec::new(),
            };
            targets.push(Target::Channel {
                channels: channels.iter().map(|c| c.to_lowercase()).collect(),
                event_ids: Vec::new(),
                conditions: Vec::new(),
                fields: HashMap::new(),
                values: HashMap::new(),
                system_fields: self.system_fields.clone(),
                event_fields: None,
                label: format!("Windows {}", service.unwrap_or("events")),
            });
        }
        if !targets.is_empty() {
            return Ok(targets);
        }
        // Other sources: entries whose product, category and service are exactly the rule's; failing
        // those, entries for any service of the product (`service = "*"`).
        for any_service in [false, true] {
            for file in &self.files {
                for entry in &file.source {
                    let service_matches = match (entry.service.as_deref(), service) {
                        (Some("*"), Some(_)) => any_service,
                        (a, b) => a == b && !any_service,
                    };
                    if entry.product.as_deref() == product
                        && entry.category.as_deref() == category
                        && service_matches
                    {
                        targets.push(generic_target(
                            entry,
                            service.unwrap_or(""),
                            self.field_list(&entry.event_fields),
                        ));
                    }
                }
                if !targets.is_empty() {
                    return Ok(targets);
                }
            }
        }
        match (product, category) {
            (Some("windows"), Some(c)) => Err(MappingError::NoWindowsCategory(c.to_string())),
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
                    event_fields: None,
                }])
            }
            (p, Some(c)) => Err(MappingError::NoCategory {
                category: c.to_string(),
                product: p.map(str::to_string),
            }),
            (None, None) => match service {
                Some(s) => Err(MappingError::NoService(s.to_string())),
                None => Err(MappingError::Empty),
            },
        }
    }

    fn channel_target(&self, channels: Vec<String>, entry: &ChannelCategory) -> Target {
        let source = entry
            .service
            .clone()
            .unwrap_or_else(|| entry.channels.join(", "));
        let ids: Vec<String> = entry.event_ids.iter().map(u32::to_string).collect();
        let label = match ids.as_slice() {
            [] => source,
            [id] => format!("{source} EventID {id}"),
            _ => format!("{source} EventIDs {}", ids.join(", ")),
        };
        Target::Channel {
            channels: channels.iter().map(|c| c.to_lowercase()).collect(),
            event_ids: entry.event_ids.clone(),
            conditions: entry
                .conditions
                .iter()
                .map(|(k, v)| (k.clone(), v.values()))
                .collect(),
            fields: entry.fields.clone().into_iter().collect(),
            values: entry.value_maps.clone(),
            system_fields: self.system_fields.clone(),
            event_fields: self.field_list(&entry.event_fields),
            label,
        }
    }
}

fn generic_target(
    entry: &SourceEntry,
    service: &str,
    event_fields: Option<Arc<FieldList>>,
) -> Target {
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
        event_fields,
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
    fn field_lists_match_names_and_numbered_patterns_and_merge_with_a_users() {
        let mut list = FieldList::default();
        for name in ["type", "a{n}", "a{n}[{n}]"] {
            list.add(name);
        }
        for yes in ["type", "a0", "a12", "a1[3]"] {
            assert!(list.contains(yes), "{yes}");
        }
        for no in ["a", "ab", "a1x", "a1[]", "a1[2", "Type", "cmdline"] {
            assert!(!list.contains(no), "{no}");
        }
        let file_event = source(Some("windows"), Some("file_event"), None);
        let bundled = Mapping::bundled().resolve(&file_event).unwrap();
        let fields = bundled[0].event_fields().unwrap();
        assert!(fields.contains("TargetFilename") && !fields.contains("ParentImage"));
        let user = Mapping::with_user("[event_fields]\nsysmon_11 = [\"ParentImage\"]\n").unwrap();
        let fields = user.resolve(&file_event).unwrap()[0]
            .event_fields()
            .cloned()
            .unwrap();
        assert!(fields.contains("TargetFilename") && fields.contains("ParentImage"));
        let e = Mapping::with_user(
            "[[windows.category]]\ncategory = \"x\"\nservice = \"sysmon\"\nevent_fields = [\"nosuch\"]\n",
        )
        .unwrap_err();
        assert_eq!(e, MappingError::UndefinedFieldList("nosuch".into()));
        assert!(e.to_string().contains("'nosuch'"), "{e}");
        let e = Mapping::with_user("[[windows.category]\n").unwrap_err();
        assert!(matches!(e, MappingError::File { line: Some(1), .. }), "{e}");
    }

    #[test]
    fn value_maps_rewrite_whole_values_and_unknown_formats_are_errors() {
        let table = ValueMap::Table([("high".to_string(), "S-1-16-12288".to_string())].into());
        assert_eq!(table.rewrite("HIGH").as_deref(), Some("S-1-16-12288"));
        assert_eq!(table.rewrite("Medium"), None);
        assert_eq!(ValueMap::Hex.rewrite("700").as_deref(), Some("0x2bc"));
        for kept in ["0x2bc", "", "-1", "7 0", "99999999999999999999999"] {
            assert_eq!(ValueMap::Hex.rewrite(kept), None, "{kept}");
        }
        let e = Mapping::with_user(
            "[[windows.category]]\ncategory = \"x\"\nservice = \"sysmon\"\nvalues = { ProcessId = \"octal\" }\n",
        )
        .unwrap_err();
        assert_eq!(
            e,
            MappingError::ValueFormat {
                field: "ProcessId".into(),
                format: "octal".into()
            }
        );
    }

    #[test]
    fn unknown_sources_are_errors_that_say_why() {
        let m = Mapping::bundled();
        let e = m
            .resolve(&source(Some("windows"), Some("file_access"), None))
            .unwrap_err();
        assert_eq!(e, MappingError::NoWindowsCategory("file_access".into()));
        assert!(e.to_string().contains("file_access"), "{e}");
        let e = m
            .resolve(&source(Some("windows"), None, Some("nosuch")))
            .unwrap_err();
        assert_eq!(e, MappingError::NoWindowsService("nosuch".into()));
        // An unmapped product runs on events of that module.
        let t = m
            .resolve(&source(Some("okta"), None, Some("okta")))
            .unwrap();
        assert!(matches!(&t[0], Target::Generic { modules, .. } if modules == &["okta"]));
    }
}
