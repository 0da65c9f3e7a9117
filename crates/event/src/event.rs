//! The event itself.

use crate::{Object, Provenance, Str, Timestamp, Value};

/// One normalized event: ECS fields, the source's original fields, and provenance.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    timestamp: Option<Timestamp>,
    fields: Object,
    provenance: Provenance,
}

impl Event {
    pub fn new(provenance: Provenance) -> Self {
        Event {
            timestamp: None,
            fields: Object::with_capacity(16),
            provenance,
        }
    }

    /// An event whose fields are an existing object (a JSON document, a CloudTrail record).
    pub fn from_fields(fields: Object, provenance: Provenance) -> Self {
        Event {
            timestamp: None,
            fields,
            provenance,
        }
    }

    /// `@timestamp`, when the source gave one.
    pub fn timestamp(&self) -> Option<Timestamp> {
        self.timestamp
    }

    pub fn set_timestamp(&mut self, timestamp: Timestamp) {
        self.timestamp = Some(timestamp);
    }

    pub fn provenance(&self) -> &Provenance {
        &self.provenance
    }

    pub fn fields(&self) -> &Object {
        &self.fields
    }

    pub fn fields_mut(&mut self) -> &mut Object {
        &mut self.fields
    }

    /// Resolves an ECS path or an original field path (see [`Object::lookup`]). `@timestamp` is not a stored
    /// field: use [`Event::timestamp`] or [`Event::get_value`].
    pub fn get(&self, path: &str) -> Option<&Value> {
        self.fields.lookup(path)
    }

    /// Like [`Event::get`], but also answers `@timestamp`, by value.
    pub fn get_value(&self, path: &str) -> Option<Value> {
        if path == "@timestamp" {
            return self.timestamp.map(Value::Time);
        }
        self.get(path).cloned()
    }

    /// The string at `path`, if it is a string.
    pub fn get_str(&self, path: &str) -> Option<&str> {
        self.get(path).and_then(Value::as_str)
    }

    /// Sets a field (replacing an earlier value under the same key).
    pub fn insert(&mut self, key: impl Into<Str>, value: impl Into<Value>) {
        self.fields.insert(key, value);
    }

    /// Sets a field only when `value` is present and, for strings, not empty or `-` (the "no value" marker
    /// of Windows, Apache and Zeek logs).
    pub fn insert_opt(&mut self, key: impl Into<Str>, value: Option<impl Into<Value>>) {
        if let Some(value) = value.map(Into::into) {
            if !is_placeholder(&value) {
                self.fields.insert(key, value);
            }
        }
    }

    /// Serializes the event as one JSON object: `@timestamp` first, then the fields in order.
    pub fn to_json(&self) -> serde_json::Value {
        crate::json::event_to_json(self)
    }

    /// The event's JSON text (the same text as `to_json().to_string()`), written straight to `out`
    /// without building a JSON value; top-level fields `skip` names are left out, and `@timestamp`
    /// unless `with_time`.
    pub fn write_json<W: std::io::Write>(
        &self,
        with_time: bool,
        skip: &dyn Fn(&str) -> bool,
        out: W,
    ) -> serde_json::Result<()> {
        crate::json::write_event(self, with_time, skip, out)
    }
}

fn is_placeholder(value: &Value) -> bool {
    matches!(value, Value::Str(s) if s.is_empty() || s == "-")
}
