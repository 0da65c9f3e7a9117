//! An ordered map of fields with dotted-path lookup.

use crate::{Str, Value};

/// Fields in insertion order. Events hold a few dozen fields at most, so a vector scanned in order is both
/// smaller and faster than a hash map, and keeps the source's field order for display.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Object {
    entries: Vec<(Str, Value)>,
}

impl Object {
    pub fn new() -> Self {
        Object::default()
    }

    pub fn with_capacity(capacity: usize) -> Self {
        Object {
            entries: Vec::with_capacity(capacity),
        }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The value stored under exactly `key` (no path resolution).
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.entries
            .iter()
            .find(|(k, _)| k.as_str() == key)
            .map(|(_, v)| v)
    }

    pub fn get_mut(&mut self, key: &str) -> Option<&mut Value> {
        self.entries
            .iter_mut()
            .find(|(k, _)| k.as_str() == key)
            .map(|(_, v)| v)
    }

    /// Sets `key` to `value`, replacing an earlier value under the same key in place.
    pub fn insert(&mut self, key: impl Into<Str>, value: impl Into<Value>) {
        let key = key.into();
        let value = value.into();
        match self.get_mut(&key) {
            Some(slot) => *slot = value,
            None => self.entries.push((key, value)),
        }
    }

    /// Appends without looking for an earlier value; for parsers that know their keys are distinct.
    pub fn push(&mut self, key: impl Into<Str>, value: impl Into<Value>) {
        self.entries.push((key.into(), value.into()));
    }

    pub fn remove(&mut self, key: &str) -> Option<Value> {
        let index = self.entries.iter().position(|(k, _)| k.as_str() == key)?;
        Some(self.entries.remove(index).1)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &Value)> {
        self.entries.iter().map(|(k, v)| (k.as_str(), v))
    }

    pub fn iter_mut(&mut self) -> impl Iterator<Item = (&str, &mut Value)> {
        self.entries.iter_mut().map(|(k, v)| (k.as_str(), v))
    }

    /// Every value at a dotted path, descending into arrays of objects on the way
    /// (`requestParameters.ipPermissions.items.ipRanges.items.cidrIp` reaches each block of each permission).
    /// Values found by [`Object::lookup`] come first.
    pub fn lookup_all<'a>(&'a self, path: &str, out: &mut Vec<&'a Value>) {
        if let Some(value) = self.get(path) {
            out.push(value);
        }
        let mut split = path.len();
        while let Some(dot) = path[..split].rfind('.') {
            match self.get(&path[..dot]) {
                Some(Value::Object(inner)) => inner.lookup_all(&path[dot + 1..], out),
                Some(Value::Array(items)) => {
                    for item in items {
                        if let Value::Object(inner) = item {
                            inner.lookup_all(&path[dot + 1..], out);
                        }
                    }
                }
                _ => {}
            }
            split = dot;
        }
    }

    /// Resolves a dotted path: `a.b.c` is found as the flat key `a.b.c`, as `a` -> `b` -> `c` in nested
    /// objects, or any mix (`a.b` -> `c`), trying the longest flat key first at each level.
    pub fn lookup(&self, path: &str) -> Option<&Value> {
        if let Some(value) = self.get(path) {
            return Some(value);
        }
        let mut split = path.len();
        while let Some(dot) = path[..split].rfind('.') {
            if let Some(Value::Object(inner)) = self.get(&path[..dot]) {
                if let Some(value) = inner.lookup(&path[dot + 1..]) {
                    return Some(value);
                }
            }
            split = dot;
        }
        None
    }
}

impl IntoIterator for Object {
    type Item = (Str, Value);
    type IntoIter = std::vec::IntoIter<(Str, Value)>;

    fn into_iter(self) -> Self::IntoIter {
        self.entries.into_iter()
    }
}

impl<K: Into<Str>, V: Into<Value>> FromIterator<(K, V)> for Object {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        let mut object = Object::new();
        for (k, v) in iter {
            object.insert(k, v);
        }
        object
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nested() -> Object {
        let system: Object = [
            ("EventID", Value::Int(4625)),
            ("Channel", "Security".into()),
        ]
        .into_iter()
        .collect();
        let event: Object = [("System", Value::Object(system))].into_iter().collect();
        let mut root = Object::new();
        root.insert("Event", event);
        root.insert("source.ip", "10.0.0.1");
        root.insert("dotted.parent", Object::from_iter([("child", 1_i64)]));
        root
    }

    #[test]
    fn lookup_resolves_nested_objects_by_dotted_path() {
        let root = nested();
        assert_eq!(root.lookup("Event.System.EventID"), Some(&Value::Int(4625)));
        assert_eq!(root.lookup("Event.System.Missing"), None);
    }

    #[test]
    fn lookup_prefers_flat_dotted_keys() {
        let root = nested();
        assert_eq!(root.lookup("source.ip"), Some(&Value::from("10.0.0.1")));
    }

    #[test]
    fn lookup_mixes_flat_and_nested_keys() {
        let root = nested();
        assert_eq!(root.lookup("dotted.parent.child"), Some(&Value::Int(1)));
    }

    #[test]
    fn lookup_all_descends_into_arrays_of_objects() {
        let value = Value::from(serde_json::json!({
            "ipPermissions": {"items": [
                {"ipRanges": {"items": [{"cidrIp": "10.0.0.0/8"}, {"cidrIp": "0.0.0.0/0"}]}},
                {"ipRanges": {"items": [{"cidrIp": "192.0.2.0/24"}]}}
            ]}
        }));
        let object = value.as_object().unwrap();
        let mut found = Vec::new();
        object.lookup_all("ipPermissions.items.ipRanges.items.cidrIp", &mut found);
        let found: Vec<String> = found.iter().map(|v| v.to_string()).collect();
        assert_eq!(found, ["10.0.0.0/8", "0.0.0.0/0", "192.0.2.0/24"]);
        assert_eq!(
            object.lookup("ipPermissions.items.ipRanges.items.cidrIp"),
            None,
            "lookup stays single-valued"
        );
    }

    #[test]
    fn insert_replaces_existing_key_in_place() {
        let mut object = Object::new();
        object.insert("a", 1_i64);
        object.insert("b", 2_i64);
        object.insert("a", 3_i64);
        let keys: Vec<_> = object.iter().map(|(k, _)| k).collect();
        assert_eq!(keys, ["a", "b"]);
        assert_eq!(object.get("a"), Some(&Value::Int(3)));
    }
}
