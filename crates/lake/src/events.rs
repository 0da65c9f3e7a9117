//! Events back out of the lake: each row as the event it was written from, for what needs whole
//! events rather than columns (Sigma rules run as hunts, through the detection engine). The row's
//! `_fields` give the event's other fields as they were (nested objects, original names); the typed
//! columns give the rest back with their types (addresses as addresses, a multi-valued text column
//! as a list); `_source` gives where it was first read.

use arrow_array::{Array, Int64Array, RecordBatch, StringArray, TimestampNanosecondArray};
use secops_event::{Event, Location, Object, Provenance, Timestamp, Value};

use crate::schema::{Type, COLUMNS, FIELDS, SOURCE};
use crate::{Lake, LakeError};

/// The row `row` of a lake file's batch as an event; `Err` says why it cannot be (a `_fields` that
/// is not a JSON object).
pub fn event_of(batch: &RecordBatch, row: usize) -> Result<Event, String> {
    let text = |name: &str| -> Option<&str> {
        let column = batch.column_by_name(name)?;
        let strings = column.as_any().downcast_ref::<StringArray>()?;
        (!strings.is_null(row)).then(|| strings.value(row))
    };
    let source = text(SOURCE).unwrap_or("lake").to_string();
    let mut fields = match text(FIELDS) {
        Some(json) if !json.trim().is_empty() => {
            match serde_json::from_str::<serde_json::Value>(json) {
                Ok(serde_json::Value::Object(map)) => Object::from(map),
                Ok(_) => return Err(format!("{source}: _fields is not a JSON object")),
                Err(e) => return Err(format!("{source}: _fields: {e}")),
            }
        }
        _ => Object::default(),
    };
    let mut time = None;
    for column in COLUMNS {
        let Some(array) = batch.column_by_name(column.name) else {
            continue;
        };
        if array.is_null(row) {
            continue;
        }
        let value = match column.ty {
            Type::Time => {
                time = array
                    .as_any()
                    .downcast_ref::<TimestampNanosecondArray>()
                    .map(|a| Timestamp::from_unix_nanos(a.value(row)));
                continue;
            }
            Type::Integer => match array.as_any().downcast_ref::<Int64Array>() {
                Some(a) => Value::Int(a.value(row)),
                None => continue,
            },
            Type::Boolean => match array.as_any().downcast_ref::<arrow_array::BooleanArray>() {
                Some(a) => Value::Bool(a.value(row)),
                None => continue,
            },
            Type::Text => match array.as_any().downcast_ref::<StringArray>() {
                Some(a) => text_value(column.name, a.value(row)),
                None => continue,
            },
        };
        fields.push(column.name, value);
    }
    let mut event = Event::from_fields(fields, provenance_of(&source, row));
    if let Some(time) = time {
        event.set_timestamp(time);
    }
    Ok(event)
}

/// `_source` (`auth.log:17`, `Security.evtx:record 4711`) as the provenance it was written from;
/// text of another shape keeps its whole as the source, at the row's place.
fn provenance_of(text: &str, row: usize) -> Provenance {
    let number = |t: &str| t.trim().parse::<u64>().ok();
    if let Some((name, at)) = text.rsplit_once(':') {
        let location = if let Some(line) = number(at) {
            Some(Location::Line(line))
        } else if let Some(n) = at.strip_prefix('#').and_then(number) {
            Some(Location::Ordinal(n))
        } else if let Some(rest) = at.strip_prefix("record ") {
            match rest.split_once(" (file record ") {
                Some((id, file)) => match (number(id), number(file.trim_end_matches(')'))) {
                    (Some(id), Some(file_record)) => {
                        Some(Location::EventRecord { id, file_record })
                    }
                    _ => None,
                },
                None => number(rest).map(Location::Record),
            }
        } else if let Some(hex) = at.strip_prefix("offset 0x") {
            u64::from_str_radix(hex, 16).ok().map(Location::Offset)
        } else if let Some((line, index)) = at.split_once(" record ") {
            match (number(line), number(index)) {
                (Some(line), Some(index)) => Some(Location::Entry { line, index }),
                _ => None,
            }
        } else {
            None
        };
        if let Some(location) = location {
            return Provenance::new(name.to_string(), location);
        }
    }
    Provenance::new(text.to_string(), Location::Ordinal(row as u64 + 1))
}

/// A text column's value with its type back: an address column's address, a multi-value's list.
fn text_value(column: &str, text: &str) -> Value {
    if text.starts_with("[\"") && text.ends_with("\"]") {
        if let Ok(items) = serde_json::from_str::<Vec<String>>(text) {
            return Value::Array(items.into_iter().map(|s| Value::Str(s.into())).collect());
        }
    }
    if column.ends_with(".ip") {
        if let Ok(ip) = text.parse::<std::net::IpAddr>() {
            return Value::Ip(ip);
        }
    }
    Value::Str(text.into())
}

/// Every event of the lake, file by file (each file's events in time order), to `sink`; a row that
/// cannot be an event is counted and its reason given to `bad`. Returns the events read.
pub fn read_events(
    lake: &Lake,
    sink: &mut dyn FnMut(Event),
    bad: &mut dyn FnMut(String),
) -> Result<u64, LakeError> {
    let mut read = 0;
    for file in lake.all_files()? {
        for batch in lake.read(&file, None)? {
            for row in 0..batch.num_rows() {
                match event_of(&batch, row) {
                    Ok(event) => {
                        read += 1;
                        sink(event);
                    }
                    Err(why) => bad(format!("{file}: row {}: {why}", row + 1)),
                }
            }
        }
    }
    Ok(read)
}
