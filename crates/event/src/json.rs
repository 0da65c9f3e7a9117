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
    fn json_numbers_become_integers_when_whole() {
        let value = Value::from(serde_json::json!({"n": 5, "f": 1.5, "big": u64::MAX}));
        let object = value.as_object().cloned().unwrap_or_default();
        assert_eq!(object.get("n"), Some(&Value::Int(5)));
        assert_eq!(object.get("f"), Some(&Value::Float(1.5)));
        assert!(matches!(object.get("big"), Some(Value::Float(_))));
    }
}
