//! YAML documents as plain values, read with resource budgets so a hostile file cannot drive the parser
//! into huge memory or time (alias bombs, deep nesting, millions of nodes).

use std::fmt;

use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};

/// Rule files larger than this are refused before parsing (SigmaHQ's largest is under 40 KB).
pub const MAX_FILE_BYTES: usize = 1 << 20;

/// A YAML node. Mappings keep their keys in file order.
#[derive(Debug, Clone, PartialEq)]
pub enum Yaml {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Seq(Vec<Yaml>),
    Map(Vec<(String, Yaml)>),
}

impl Yaml {
    pub fn get(&self, key: &str) -> Option<&Yaml> {
        match self {
            Yaml::Map(entries) => entries.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Yaml::Str(s) => Some(s),
            _ => None,
        }
    }

    /// A scalar as text (numbers and booleans as YAML writes them); `None` for null and collections.
    pub fn scalar_text(&self) -> Option<String> {
        match self {
            Yaml::Str(s) => Some(s.clone()),
            Yaml::Int(i) => Some(i.to_string()),
            Yaml::Float(f) => Some(f.to_string()),
            Yaml::Bool(b) => Some(b.to_string()),
            Yaml::Null | Yaml::Seq(_) | Yaml::Map(_) => None,
        }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            Yaml::Null => "null",
            Yaml::Bool(_) => "a boolean",
            Yaml::Int(_) | Yaml::Float(_) => "a number",
            Yaml::Str(_) => "a string",
            Yaml::Seq(_) => "a list",
            Yaml::Map(_) => "a mapping",
        }
    }
}

/// Why a file is not YAML we read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum YamlError {
    #[error("file is {0} bytes; rule files over {MAX_FILE_BYTES} bytes are refused")]
    TooLarge(usize),
    /// Not YAML, or over a budget: the parser's message names the problem, its line and column.
    #[error("{0}")]
    Syntax(String),
}

/// Parses every document of a file (`---` separated), within budgets.
pub fn parse_documents(text: &str) -> Result<Vec<Yaml>, YamlError> {
    if text.len() > MAX_FILE_BYTES {
        return Err(YamlError::TooLarge(text.len()));
    }
    let mut budget = serde_saphyr::Budget::default();
    budget.max_events = 200_000;
    budget.max_aliases = 1_000;
    budget.max_anchors = 1_000;
    budget.max_depth = 32;
    budget.max_recorded_anchor_events = 100_000;
    budget.max_recorded_anchor_bytes = 4 << 20;
    let mut options = serde_saphyr::Options::default();
    options.budget = Some(budget);
    options.duplicate_keys = serde_saphyr::DuplicateKeyPolicy::Error;
    serde_saphyr::from_multiple_with_options::<Yaml>(text, options).map_err(|e| {
        // The error's first line names the problem and its line and column.
        let message = e.to_string();
        YamlError::Syntax(message.lines().next().unwrap_or("invalid YAML").to_string())
    })
}

impl<'de> Deserialize<'de> for Yaml {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(YamlVisitor)
    }
}

struct YamlVisitor;

impl<'de> Visitor<'de> for YamlVisitor {
    type Value = Yaml;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a YAML value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Yaml, E> {
        Ok(Yaml::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Yaml, E> {
        Ok(Yaml::Int(v))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Yaml, E> {
        Ok(match i64::try_from(v) {
            Ok(i) => Yaml::Int(i),
            Err(_) => Yaml::Str(v.to_string()),
        })
    }

    fn visit_i128<E>(self, v: i128) -> Result<Yaml, E> {
        Ok(match i64::try_from(v) {
            Ok(i) => Yaml::Int(i),
            Err(_) => Yaml::Str(v.to_string()),
        })
    }

    fn visit_u128<E>(self, v: u128) -> Result<Yaml, E> {
        Ok(match i64::try_from(v) {
            Ok(i) => Yaml::Int(i),
            Err(_) => Yaml::Str(v.to_string()),
        })
    }

    fn visit_f64<E>(self, v: f64) -> Result<Yaml, E> {
        Ok(Yaml::Float(v))
    }

    fn visit_str<E>(self, v: &str) -> Result<Yaml, E> {
        Ok(Yaml::Str(v.to_string()))
    }

    fn visit_string<E>(self, v: String) -> Result<Yaml, E> {
        Ok(Yaml::Str(v))
    }

    fn visit_none<E>(self) -> Result<Yaml, E> {
        Ok(Yaml::Null)
    }

    fn visit_unit<E>(self) -> Result<Yaml, E> {
        Ok(Yaml::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Yaml, D::Error> {
        Yaml::deserialize(d)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Yaml, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<Yaml>()? {
            items.push(item);
        }
        Ok(Yaml::Seq(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Yaml, A::Error> {
        let mut entries = Vec::new();
        while let Some((key, value)) = map.next_entry::<Yaml, Yaml>()? {
            let key = match key {
                Yaml::Null => "null".to_string(),
                other => other.scalar_text().ok_or_else(|| {
                    serde::de::Error::custom(format!("a mapping key is {}", other.kind()))
                })?,
            };
            entries.push((key, value));
        }
        Ok(Yaml::Map(entries))
    }
}

/// TOML has no null: a Sigma `null` value is written `{ null = true }` in a native rule's
/// `[rule.detection]` (a value is never a table in Sigma, so the form cannot be mistaken).
const TOML_NULL_KEY: &str = "null";

impl Yaml {
    /// A `[rule.detection]` value read from TOML. Dates and times become their text.
    pub fn from_toml(value: &toml::Value) -> Yaml {
        match value {
            toml::Value::String(s) => Yaml::Str(s.clone()),
            toml::Value::Integer(i) => Yaml::Int(*i),
            toml::Value::Float(f) => Yaml::Float(*f),
            toml::Value::Boolean(b) => Yaml::Bool(*b),
            toml::Value::Datetime(d) => Yaml::Str(d.to_string()),
            toml::Value::Array(items) => Yaml::Seq(items.iter().map(Yaml::from_toml).collect()),
            toml::Value::Table(table) if is_toml_null(table) => Yaml::Null,
            toml::Value::Table(table) => Yaml::Map(
                table
                    .iter()
                    .map(|(k, v)| (k.clone(), Yaml::from_toml(v)))
                    .collect(),
            ),
        }
    }

    /// The node as YAML text at `indent` spaces (a mapping or list starts on its own lines). Strings are
    /// single-quoted unless plainly safe, so no value is read back as another type.
    pub fn write_yaml(&self, indent: usize, out: &mut String) {
        let pad = " ".repeat(indent);
        match self {
            Yaml::Map(entries) => {
                for (key, value) in entries {
                    out.push_str(&pad);
                    out.push_str(&yaml_scalar(key));
                    out.push(':');
                    value.write_nested(indent, out);
                }
            }
            Yaml::Seq(items) => {
                for item in items {
                    out.push_str(&pad);
                    out.push('-');
                    match item {
                        Yaml::Map(entries) if !entries.is_empty() => {
                            // The first entry shares the dash's line; the rest align under it.
                            let mut inner = String::new();
                            item.write_yaml(indent + 2, &mut inner);
                            out.push(' ');
                            out.push_str(inner.trim_start());
                        }
                        other => other.write_nested(indent, out),
                    }
                }
            }
            scalar => {
                out.push_str(&pad);
                out.push_str(&scalar.scalar_yaml());
                out.push('\n');
            }
        }
    }

    /// After `key:` or `-`: a scalar on the same line, a collection on the next lines.
    fn write_nested(&self, indent: usize, out: &mut String) {
        match self {
            Yaml::Map(entries) if !entries.is_empty() => {
                out.push('\n');
                self.write_yaml(indent + 4, out);
            }
            Yaml::Seq(items) if !items.is_empty() => {
                out.push('\n');
                self.write_yaml(indent + 4, out);
            }
            Yaml::Map(_) => out.push_str(" {}\n"),
            Yaml::Seq(_) => out.push_str(" []\n"),
            scalar => {
                out.push(' ');
                out.push_str(&scalar.scalar_yaml());
                out.push('\n');
            }
        }
    }

    fn scalar_yaml(&self) -> String {
        match self {
            Yaml::Null => "null".into(),
            Yaml::Bool(b) => b.to_string(),
            Yaml::Int(i) => i.to_string(),
            Yaml::Float(f) => format!("{f:?}"),
            Yaml::Str(s) => yaml_scalar(s),
            Yaml::Seq(_) | Yaml::Map(_) => String::new(),
        }
    }
}

fn is_toml_null(table: &toml::Table) -> bool {
    table.len() == 1 && table.get(TOML_NULL_KEY) == Some(&toml::Value::Boolean(true))
}

/// A string as a YAML scalar: plain when nothing in it could change its meaning, single-quoted
/// otherwise (a quote inside is doubled; line breaks need double quotes).
fn yaml_scalar(s: &str) -> String {
    let plain = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '|' | '/' | ' '))
        && !s.starts_with([' ', '-', '.'])
        && !s.ends_with(' ')
        && !matches!(
            s.to_ascii_lowercase().as_str(),
            "null" | "true" | "false" | "yes" | "no" | "on" | "off" | "y" | "n" | "~"
        )
        && s.parse::<f64>().is_err();
    if plain {
        s.to_string()
    } else if s.contains(['\n', '\r', '\t']) {
        serde_json::to_string(s).unwrap_or_else(|_| format!("'{}'", s.replace('\'', "''")))
    } else {
        format!("'{}'", s.replace('\'', "''"))
    }
}

impl serde::Serialize for Yaml {
    /// As a native rule's `[rule.detection]` holds it (null as `{ null = true }`).
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::{SerializeMap, SerializeSeq};
        match self {
            Yaml::Null => {
                let mut map = serializer.serialize_map(Some(1))?;
                map.serialize_entry(TOML_NULL_KEY, &true)?;
                map.end()
            }
            Yaml::Bool(b) => serializer.serialize_bool(*b),
            Yaml::Int(i) => serializer.serialize_i64(*i),
            Yaml::Float(f) => serializer.serialize_f64(*f),
            Yaml::Str(s) => serializer.serialize_str(s),
            Yaml::Seq(items) => {
                let mut seq = serializer.serialize_seq(Some(items.len()))?;
                for item in items {
                    seq.serialize_element(item)?;
                }
                seq.end()
            }
            Yaml::Map(entries) => {
                let mut map = serializer.serialize_map(Some(entries.len()))?;
                for (k, v) in entries {
                    map.serialize_entry(k, v)?;
                }
                map.end()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn written_yaml_reads_back_as_the_same_values() {
        let doc = Yaml::Map(vec![
            ("title".into(), Yaml::Str("Who's there: a test".into())),
            (
                "detection".into(),
                Yaml::Map(vec![
                    (
                        "selection".into(),
                        Yaml::Seq(vec![
                            Yaml::Map(vec![
                                ("Image|endswith".into(), Yaml::Str("\\cmd.exe".into())),
                                ("EventID".into(), Yaml::Int(1)),
                            ]),
                            Yaml::Map(vec![("User".into(), Yaml::Null)]),
                        ]),
                    ),
                    (
                        "keywords".into(),
                        Yaml::Seq(vec![
                            Yaml::Str("true".into()),
                            Yaml::Str("12".into()),
                            Yaml::Str("- dash".into()),
                            Yaml::Str("line\nbreak".into()),
                        ]),
                    ),
                    (
                        "condition".into(),
                        Yaml::Str("selection or keywords".into()),
                    ),
                ]),
            ),
        ]);
        let mut text = String::new();
        doc.write_yaml(0, &mut text);
        let back = parse_documents(&text).unwrap();
        assert_eq!(back, vec![doc], "{text}");
    }

    #[test]
    fn toml_null_tables_are_sigma_nulls() {
        let table: toml::Table =
            toml::from_str("a = { null = true }\nb = [\"x\", { null = true }]").unwrap();
        let yaml = Yaml::from_toml(&toml::Value::Table(table));
        assert_eq!(yaml.get("a"), Some(&Yaml::Null));
        assert_eq!(
            yaml.get("b"),
            Some(&Yaml::Seq(vec![Yaml::Str("x".into()), Yaml::Null]))
        );
    }
}
