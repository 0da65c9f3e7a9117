//! A JSON report read lazily: the document is checked once as a whole, then each object's fields
//! and each array's items are borrowed slices of the input, parsed into values one at a time as an
//! importer reaches them. A report of 100,000 findings never becomes 100,000 values at once, only
//! its bytes and the one finding being read.

use serde_json::value::RawValue;
use serde_json::Value;

/// A JSON value not parsed yet: a slice of the report.
#[derive(Debug, Clone, Copy)]
pub(super) struct Raw<'a>(&'a RawValue);

/// An object's fields, each not parsed yet.
#[derive(Debug, Default)]
pub(super) struct Fields<'a>(Vec<(String, &'a RawValue)>);

impl<'a> Raw<'a> {
    /// The whole document (an error when it is not JSON).
    pub(super) fn document(bytes: &'a [u8]) -> Result<Raw<'a>, serde_json::Error> {
        serde_json::from_slice::<&RawValue>(bytes).map(Raw)
    }

    /// The value, parsed (none when it does not parse as one, which a checked document rules out).
    pub(super) fn value(self) -> Option<Value> {
        serde_json::from_str(self.0.get()).ok()
    }

    /// Whether it is an array (told by its first byte, without parsing it).
    pub(super) fn is_array(self) -> bool {
        self.0.get().trim_start().starts_with('[')
    }

    /// An object's fields (empty for anything else).
    pub(super) fn fields(self) -> Fields<'a> {
        Fields(
            serde_json::from_str::<ordered::Map<'a>>(self.0.get())
                .map(|m| m.0)
                .unwrap_or_default(),
        )
    }

    /// An array's items (empty for anything else).
    pub(super) fn items(self) -> Vec<Raw<'a>> {
        serde_json::from_str::<Vec<&'a RawValue>>(self.0.get())
            .map(|items| items.into_iter().map(Raw).collect())
            .unwrap_or_default()
    }
}

impl<'a> Fields<'a> {
    pub(super) fn has(&self, key: &str) -> bool {
        self.0.iter().any(|(k, _)| k == key)
    }

    pub(super) fn raw(&self, key: &str) -> Option<Raw<'a>> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| Raw(v))
    }

    /// A field's value, parsed.
    pub(super) fn value(&self, key: &str) -> Option<Value> {
        self.raw(key)?.value()
    }

    /// A field's array items, not parsed.
    pub(super) fn items(&self, key: &str) -> Vec<Raw<'a>> {
        self.raw(key).map(Raw::items).unwrap_or_default()
    }

    /// The object with its big arrays left out: every field but `skip`, parsed.
    pub(super) fn small(&self, skip: &[&str]) -> Value {
        let mut map = serde_json::Map::new();
        for (k, v) in &self.0 {
            if skip.contains(&k.as_str()) {
                continue;
            }
            if let Ok(value) = serde_json::from_str::<Value>(v.get()) {
                map.insert(k.clone(), value);
            }
        }
        Value::Object(map)
    }
}

mod ordered {
    use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
    use serde_json::value::RawValue;

    /// An object's fields in order, values borrowed raw.
    pub(super) struct Map<'a>(pub(super) Vec<(String, &'a RawValue)>);

    impl<'de: 'a, 'a> Deserialize<'de> for Map<'a> {
        fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
            struct Fields<'a>(std::marker::PhantomData<&'a ()>);
            impl<'de: 'a, 'a> Visitor<'de> for Fields<'a> {
                type Value = Map<'a>;
                fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                    f.write_str("an object")
                }
                fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Map<'a>, A::Error> {
                    let mut out = Vec::new();
                    while let Some((k, v)) = access.next_entry::<String, &'de RawValue>()? {
                        out.push((k, v));
                    }
                    Ok(Map(out))
                }
            }
            deserializer.deserialize_map(Fields(std::marker::PhantomData))
        }
    }
}
