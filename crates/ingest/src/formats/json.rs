//! JSON: one object per line, or whole documents (pretty-printed objects, arrays, CloudTrail's
//! `{"Records": [...]}`) spanning several lines.
//!
//! Each record's shape picks its normalization: evtx_dump records (`Event.System`) go to
//! [`super::windows`], CloudTrail records to [`super::cloudtrail`], Zeek records to [`super::zeek`]; any
//! other object passes through as it is (ECS documents keep their fields), with `@timestamp` read.

use secops_event::{Event, Location, Object, Provenance, Timestamp, Value};

use super::json_document::{Document, Piece, MAX_DOCUMENT};
use super::{cloudtrail, windows, zeek};
use crate::lines::{Emit, LineParser};
use crate::Reason;

/// Which normalization records get.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Shape {
    /// Recognize each record.
    Detect,
    CloudTrail,
    Windows,
    Zeek,
}

#[derive(Debug)]
pub(crate) struct JsonParser {
    shape: Shape,
    /// A document that started on an earlier line and has not closed yet.
    document: Option<Document>,
}

impl JsonParser {
    pub fn new(shape: Shape) -> Self {
        JsonParser {
            shape,
            document: None,
        }
    }

    /// What a multi-line document handed over: an element of its streamed array, or the whole of it.
    fn piece(&mut self, piece: Piece, start: u64, emit: &mut Emit<'_>) {
        let too_large = || Reason::Json(format!("larger than {MAX_DOCUMENT} bytes"));
        match piece {
            Piece::Element { index, text } => {
                let location = Location::Entry { line: start, index };
                match text.map(|t| serde_json::from_str::<Value>(&t)) {
                    Some(Ok(Value::Object(map))) => {
                        let result = record(self.shape, map, emit.provenance(location));
                        emit.result(location, result.map(Some));
                    }
                    Some(Ok(other)) => {
                        emit.reject(location, Reason::NotAnObject(json_type(&other)))
                    }
                    Some(Err(e)) => emit.reject(location, Reason::Json(e.to_string())),
                    None => emit.reject(location, too_large()),
                }
            }
            Piece::Whole(Some(text)) => match serde_json::from_str::<Value>(&text) {
                Ok(json) => document(self.shape, json, start, emit),
                Err(e) => emit.reject(
                    Location::Line(start),
                    Reason::Json(format!("document starting here: {e}")),
                ),
            },
            Piece::Whole(None) => emit.reject(Location::Line(start), too_large()),
        }
    }

    /// Feeds a line to the open document.
    fn continue_document(&mut self, line: &str, number: u64, emit: &mut Emit<'_>) {
        let Some(document) = &mut self.document else {
            return;
        };
        let mut pieces = Vec::new();
        let result = document.feed(line, number, &mut |piece| pieces.push(piece));
        let (start, done) = (document.start, document.done());
        if done || result.is_err() {
            self.document = None;
        }
        for piece in pieces {
            self.piece(piece, start, emit);
        }
        if let Err(broken) = result {
            emit.reject(
                Location::Line(start),
                Reason::Json(format!(
                    "document starting here is not valid JSON at line {}: {}",
                    broken.line, broken.reason
                )),
            );
            // A line that breaks a document where it starts may be a record of its own.
            if broken.at_line_start && broken.line > start {
                self.line(line, number, emit);
            }
        }
    }
}

/// A JSON value read whole: records of a CloudTrail wrapper or an array, or one record.
fn document(shape: Shape, json: Value, line: u64, emit: &mut Emit<'_>) {
    match json {
        Value::Object(mut map) if shape != Shape::Windows && is_records_wrapper(&map) => {
            if let Some(Value::Array(records)) = map.remove("Records") {
                entries(shape, records, line, emit);
            }
        }
        Value::Array(items) => entries(shape, items, line, emit),
        Value::Object(map) => {
            let result = record(shape, map, emit.provenance(Location::Line(line)));
            emit.result(Location::Line(line), result.map(Some));
        }
        other => emit.reject(Location::Line(line), Reason::NotAnObject(json_type(&other))),
    }
}

fn entries(shape: Shape, items: Vec<Value>, line: u64, emit: &mut Emit<'_>) {
    for (index, item) in items.into_iter().enumerate() {
        let location = Location::Entry {
            line,
            index: index as u64,
        };
        match item {
            Value::Object(map) => {
                let result = record(shape, map, emit.provenance(location));
                emit.result(location, result.map(Some));
            }
            other => emit.reject(location, Reason::NotAnObject(json_type(&other))),
        }
    }
}

fn record(shape: Shape, object: Object, provenance: Provenance) -> Result<Event, Reason> {
    let shape = match shape {
        Shape::Detect => detect_shape(&object),
        shape => Some(shape),
    };
    match shape {
        Some(Shape::Windows) => windows::normalize(object, provenance),
        Some(Shape::CloudTrail) => cloudtrail::normalize(object, provenance),
        Some(Shape::Zeek) => zeek::normalize(object, None, provenance),
        _ => plain(object, provenance),
    }
}

/// A line holding one whole JSON value, handed on unparsed: it needs nothing from the lines before it,
/// so a worker thread can parse it ([`Deferred::finish`]) while the reader goes on.
#[derive(Debug)]
pub(crate) struct Deferred {
    text: String,
    number: u64,
    shape: Shape,
    pub source: std::sync::Arc<str>,
}

impl Deferred {
    /// Parses the line as the reader would have: its records (or its rejection) go to `emit`.
    pub fn finish(self, emit: &mut Emit<'_>) {
        match serde_json::from_str::<Value>(&self.text) {
            Ok(json) => document(self.shape, json, self.number, emit),
            Err(e) => emit.reject(Location::Line(self.number), Reason::Json(e.to_string())),
        }
    }
}

/// Whether `text` (starting with `{` or `[`) closes the bracket it opens exactly at its end, outside
/// any string: a value that cannot go on over the next lines. Whether it is valid JSON is left to the
/// parser.
fn closes_on_its_line(text: &str) -> bool {
    let bytes = text.trim_end().as_bytes();
    let mut depth = 0usize;
    let mut at = 0;
    while at < bytes.len() {
        match bytes[at] {
            b'"' => {
                // Skip the string: to the next quote not escaped.
                let mut end = at + 1;
                loop {
                    if end >= bytes.len() {
                        return false;
                    }
                    match memchr::memchr2(b'"', b'\\', &bytes[end..]) {
                        Some(i) if bytes[end + i] == b'\\' => end += i + 2,
                        Some(i) => {
                            end += i;
                            break;
                        }
                        None => return false,
                    }
                }
                at = end;
            }
            b'{' | b'[' => depth += 1,
            b'}' | b']' => {
                if depth == 0 {
                    return false;
                }
                depth -= 1;
                if depth == 0 {
                    return at + 1 == bytes.len();
                }
            }
            _ => {}
        }
        at += 1;
    }
    false
}

impl LineParser for JsonParser {
    fn line(&mut self, line: &str, number: u64, emit: &mut Emit<'_>) {
        if self.document.is_some() {
            self.continue_document(line, number, emit);
            return;
        }
        let trimmed = line.trim_start_matches('\u{feff}').trim_start();
        if !trimmed.starts_with(['{', '[']) {
            emit.reject(
                Location::Line(number),
                Reason::Json("a line must hold a JSON object".into()),
            );
            return;
        }
        if emit.defer && closes_on_its_line(trimmed) {
            emit.deferred(Deferred {
                text: trimmed.to_string(),
                number,
                shape: self.shape,
                source: emit.source.clone(),
            });
            return;
        }
        match serde_json::from_str::<Value>(trimmed) {
            Ok(json) => document(self.shape, json, number, emit),
            Err(e) if e.is_eof() => {
                // Read again as a document that goes on over the next lines.
                let unwrap = self.shape != Shape::Windows;
                self.document = Some(Document::new(number, unwrap));
                self.continue_document(trimmed, number, emit);
            }
            Err(e) => emit.reject(Location::Line(number), Reason::Json(e.to_string())),
        }
    }

    fn finish(&mut self, emit: &mut Emit<'_>) {
        if let Some(document) = self.document.take() {
            emit.reject(
                Location::Line(document.start),
                Reason::Json(
                    "document starting here never closes: the input ends inside it".into(),
                ),
            );
        }
    }
}

fn is_records_wrapper(map: &Object) -> bool {
    matches!(map.get("Records"), Some(Value::Array(_)))
}

fn detect_shape(map: &Object) -> Option<Shape> {
    if let Some(Value::Object(event)) = map.get("Event") {
        if event.get("System").is_some() {
            return Some(Shape::Windows);
        }
    }
    if has(map, "eventSource") && has(map, "eventName") && has(map, "eventTime") {
        return Some(Shape::CloudTrail);
    }
    if has(map, "_path") || (has(map, "uid") && (has(map, "id.orig_h") || has(map, "id"))) {
        return Some(Shape::Zeek);
    }
    None
}

fn has(map: &Object, key: &str) -> bool {
    map.get(key).is_some()
}

fn json_type(json: &Value) -> &'static str {
    match json {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Int(_) | Value::Float(_) => "a number",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
        _ => "a string",
    }
}

/// Any JSON object: fields kept as they are; `@timestamp` (RFC 3339 or epoch milliseconds) becomes the
/// event time, or else the first of `timestamp`, `time`, `ts` that reads as a time.
fn plain(mut object: Object, provenance: Provenance) -> Result<Event, Reason> {
    let timestamp = match object.remove("@timestamp") {
        Some(value) => Some(
            time_value(&value)
                .ok_or_else(|| Reason::Json(format!("@timestamp {value} is not a time")))?,
        ),
        None => ["timestamp", "time", "ts"]
            .iter()
            .find_map(|k| object.get(k).and_then(time_value)),
    };
    let mut event = Event::from_fields(object, provenance);
    if let Some(ts) = timestamp {
        event.set_timestamp(ts);
    }
    Ok(event)
}

/// RFC 3339 text, or a number: epoch milliseconds when large, else epoch seconds.
pub(crate) fn time_value(value: &Value) -> Option<Timestamp> {
    match value {
        Value::Str(s) => Timestamp::parse_rfc3339(s).ok(),
        Value::Int(i) if i.abs() > 100_000_000_000 => Timestamp::from_unix_millis(*i),
        Value::Int(i) => Timestamp::from_unix_seconds_f64(*i as f64),
        Value::Float(f) => Timestamp::from_unix_seconds_f64(*f),
        Value::Time(t) => Some(*t),
        _ => None,
    }
}
