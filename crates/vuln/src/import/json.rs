//! Reading JSON reports field by field: a missing or mistyped optional field is absent, never an
//! error, so one odd entry costs that entry at most.

use serde_json::Value;

pub(super) fn text<'a>(value: &'a Value, key: &str) -> Option<&'a str> {
    value
        .get(key)?
        .as_str()
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

pub(super) fn string(value: &Value, key: &str) -> Option<String> {
    text(value, key).map(str::to_string)
}

pub(super) fn list<'a>(value: &'a Value, key: &str) -> &'a [Value] {
    value
        .get(key)
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

/// A number, also when written as a string (`"7.5"`, as SARIF properties do).
pub(super) fn number(value: &Value, key: &str) -> Option<f64> {
    let v = value.get(key)?;
    v.as_f64()
        .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
        .filter(|n: &f64| n.is_finite())
}

/// Strings of an array (others skipped).
pub(super) fn strings(value: &Value, key: &str) -> Vec<String> {
    list(value, key)
        .iter()
        .filter_map(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

/// A path inside the document (`a.b.c`).
pub(super) fn at<'a>(value: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.').try_fold(value, |v, key| v.get(key))
}

pub(super) fn text_at<'a>(value: &'a Value, path: &str) -> Option<&'a str> {
    at(value, path)?
        .as_str()
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

/// RFC 3339 or a bare date as UTC nanoseconds.
pub(super) fn time(value: &Value, key: &str) -> Option<i64> {
    crate::parse_time(text(value, key)?)
}
