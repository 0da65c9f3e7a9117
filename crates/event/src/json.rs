//! Conversion between `serde_json` values and event values.

use serde_json::{Map, Number, Value as Json};

use crate::{Event, Object, Value};

impl From<Json> for Value {
    fn from(json: Json) -> Self {
        match json {
            Json::Null => Value::Null,
            Json::Bool(b) => Value::Bool(b),
            Json::Number(n) => number(&n),
            Json::String(s) => Value::Str(s.into()),
            Json::Array(items) => Value::Array(items.into_iter().map(Value::from).collect()),
            Json::Object(map) => Value::Object(Object::from(map)),
        }
    }
}

impl From<Map<String, Json>> for Object {
    fn from(map: Map<String, Json>) -> Self {
        let mut object = Object::with_capacity(map.len());
        for (key, value) in map {
            object.push(key, Value::from(value));
        }
        object
    }
}

fn number(n: &Number) -> Value {
    match n.as_i64() {
        Some(i) => Value::Int(i),
        // u64 above i64::MAX and true floats
        None => Value::Float(n.as_f64().unwrap_or(f64::NAN)),
    }
}

pub(crate) fn to_json(value: &Value) -> Json {
    match value {
        Value::Null => Json::Null,
        Value::Bool(b) => Json::Bool(*b),
        Value::Int(i) => Json::from(*i),
        Value::Float(x) => Number::from_f64(*x).map_or(Json::Null, Json::Number),
        Value::Str(s) => Json::String(s.to_string()),
        Value::Ip(ip) => Json::String(ip.to_string()),
        Value::Time(t) => Json::String(t.to_rfc3339()),
        Value::Array(items) => Json::Array(items.iter().map(to_json).collect()),
        Value::Object(object) => Json::Object(object_to_map(object)),
    }
}

fn object_to_map(object: &Object) -> Map<String, Json> {
    object
        .iter()
        .map(|(k, v)| (k.to_string(), to_json(v)))
        .collect()
}

pub(crate) fn event_to_json(event: &Event) -> Json {
    let mut map = Map::with_capacity(event.fields().len() + 1);
    if let Some(ts) = event.timestamp() {
        map.insert("@timestamp".into(), Json::String(ts.to_rfc3339()));
    }
    map.extend(object_to_map(event.fields()));
    Json::Object(map)
}

/// A value serialized straight to JSON text, without building a `serde_json::Value`: the same text
/// `to_json` then serde_json would give (an object holding one key twice keeps the last value in the
/// first place, as serde_json's map does; such objects go through the map).
struct Direct<'a>(&'a Value);

impl serde::Serialize for Direct<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            Value::Null => serializer.serialize_unit(),
            Value::Bool(b) => serializer.serialize_bool(*b),
            Value::Int(i) => serializer.serialize_i64(*i),
            Value::Float(x) if x.is_finite() => serializer.serialize_f64(*x),
            Value::Float(_) => serializer.serialize_unit(),
            Value::Str(s) => serializer.serialize_str(s),
            Value::Ip(ip) => serializer.collect_str(ip),
            Value::Time(t) => serializer.serialize_str(&t.to_rfc3339()),
            Value::Array(items) => serializer.collect_seq(items.iter().map(Direct)),
            Value::Object(object) => DirectObject {
                object,
                time: None,
                skip: &|_| false,
            }
            .serialize(serializer),
        }
    }
}

/// An object's entries (after an optional `@timestamp`), some keys left out.
struct DirectObject<'a> {
    object: &'a Object,
    time: Option<String>,
    skip: &'a dyn Fn(&str) -> bool,
}

impl serde::Serialize for DirectObject<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        if has_duplicate_keys(self.object, self.time.is_some()) {
            // Rare: serde_json's map decides which value stands where.
            let mut map = Map::new();
            if let Some(t) = &self.time {
                map.insert("@timestamp".into(), Json::String(t.clone()));
            }
            for (k, v) in self.object.iter() {
                if !(self.skip)(k) {
                    map.insert(k.to_string(), to_json(v));
                }
            }
            return map.serialize(serializer);
        }
        let mut map = serializer.serialize_map(None)?;
        if let Some(t) = &self.time {
            map.serialize_entry("@timestamp", t)?;
        }
        for (k, v) in self.object.iter() {
            if !(self.skip)(k) {
                map.serialize_entry(k, &Direct(v))?;
            }
        }
        map.end()
    }
}

fn has_duplicate_keys(object: &Object, with_time: bool) -> bool {
    let keys: Vec<&str> = object.iter().map(|(k, _)| k).collect();
    if with_time && keys.contains(&"@timestamp") {
        return true;
    }
    if keys.len() <= 16 {
        return keys
            .iter()
            .enumerate()
            .any(|(i, k)| keys[i + 1..].contains(k));
    }
    let mut seen = std::collections::HashSet::with_capacity(keys.len());
    !keys.into_iter().all(|k| seen.insert(k))
}

/// Writes an event's JSON text (what `Event::to_json` then `to_string` gives) to `out`, leaving out
/// the top-level fields `skip` names (and `@timestamp` when `with_time` is false).
pub(crate) fn write_event<W: std::io::Write>(
    event: &Event,
    with_time: bool,
    skip: &dyn Fn(&str) -> bool,
    out: W,
) -> serde_json::Result<()> {
    let object = DirectObject {
        object: event.fields(),
        time: if with_time {
            event.timestamp().map(|t| t.to_rfc3339())
        } else {
            None
        },
        skip,
    };
    serde_json::to_writer(out, &object)
}

#[cfg(test)]
mod tests {
    use crate::{Event, Location, Provenance, Timestamp, Value};

    #[test]
    fn event_json_puts_timestamp_first_and_keeps_field_order() {
        let mut event = Event::new(Provenance::new("x", Location::Line(1)));
        event.set_timestamp(Timestamp::from_unix_nanos(0));
        event.insert("b", 1_i64);
        event.insert("a", Value::ip("::1").unwrap_or_default());
        assert_eq!(
            event.to_json().to_string(),
            r#"{"@timestamp":"1970-01-01T00:00:00Z","b":1,"a":"::1"}"#
        );
    }

    #[test]
    fn written_json_is_the_text_of_the_json_value() {
        let mut event = Event::new(Provenance::new("x", Location::Line(1)));
        event.set_timestamp(Timestamp::from_unix_nanos(1_700_000_000_123_456_789));
        event.insert("a.b", "quote \" and \u{1b} escape");
        event.insert("n", 5_i64);
        event.insert("f", 1.5_f64);
        event.insert("nan", f64::NAN);
        event.insert("ip", Value::ip("2001:db8::1").unwrap_or_default());
        event.insert("t", Value::Time(Timestamp::from_unix_nanos(0)));
        let nested = Value::from(serde_json::json!({"x": [1, {"y": null}], "z": true}));
        event.insert("Event", nested);
        let text = |e: &Event| {
            let mut out = Vec::new();
            e.write_json(true, &|_| false, &mut out).unwrap_or_default();
            String::from_utf8(out).unwrap_or_default()
        };
        assert_eq!(text(&event), event.to_json().to_string());
        // A key given twice, and `@timestamp` among the fields: serde_json's map decides.
        event.fields_mut().push("n", 6_i64);
        event.insert("@timestamp", "field");
        assert_eq!(text(&event), event.to_json().to_string());
        // Skipping fields and the time.
        let mut out = Vec::new();
        let mut small = Event::new(Provenance::new("x", Location::Line(1)));
        small.set_timestamp(Timestamp::from_unix_nanos(0));
        small.insert("keep", 1_i64);
        small.insert("drop", 2_i64);
        small
            .write_json(false, &|k| k == "drop", &mut out)
            .unwrap_or_default();
        assert_eq!(String::from_utf8(out).unwrap_or_default(), r#"{"keep":1}"#);
    }

    #[test]
    fn json_numbers_become_integers_when_whole() {
        let value = Value::from(serde_json::json!({"n": 5, "f": 1.5, "big": u64::MAX}));
        let object = value.as_object().cloned().unwrap_or_default();
        assert_eq!(object.get("n"), Some(&Value::Int(5)));
        assert_eq!(object.get("f"), Some(&Value::Float(1.5)));
        assert!(matches!(object.get("big"), Some(Value::Float(_))));
    }
}
