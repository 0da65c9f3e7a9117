//! Zeek logs: TSV with `#separator`, `#fields` and `#types` headers (values typed by `#types`), or JSON
//! (through the JSON reader). The log's path (`conn`, `dns`, `http`, `ssl`, `files`, ...) picks the ECS
//! mapping; Zeek's own field names (`id.orig_h`, `query`, `status_code`) stay as they are.

use secops_event::{Event, Location, Object, Provenance, Timestamp, Value};

use super::json;
use crate::lines::{Emit, LineParser};
use crate::Reason;

#[derive(Debug)]
struct Header {
    separator: String,
    set_separator: String,
    empty: String,
    unset: String,
    path: Option<String>,
    fields: Vec<String>,
    types: Vec<String>,
}

impl Default for Header {
    fn default() -> Self {
        Header {
            separator: "\t".into(),
            set_separator: ",".into(),
            empty: "(empty)".into(),
            unset: "-".into(),
            path: None,
            fields: Vec::new(),
            types: Vec::new(),
        }
    }
}

#[derive(Debug, Default)]
pub(crate) struct ZeekParser {
    header: Header,
    json: Option<json::JsonParser>,
}

impl ZeekParser {
    fn directive(&mut self, line: &str) {
        let (name, value) = match line.split_once([' ', '\t']) {
            Some((name, value)) => (name, value),
            None => (line, ""),
        };
        let h = &mut self.header;
        let list = |v: &str, sep: &str| v.split(sep).map(str::to_string).collect::<Vec<_>>();
        match name {
            "#separator" => h.separator = unescape_hex(value),
            "#set_separator" => h.set_separator = value.to_string(),
            "#empty_field" => h.empty = value.to_string(),
            "#unset_field" => h.unset = value.to_string(),
            "#path" => h.path = Some(value.to_string()),
            "#fields" => h.fields = list(value, &h.separator),
            "#types" => h.types = list(value, &h.separator),
            _ => {}
        }
    }

    fn row(&self, line: &str, provenance: Provenance) -> Result<Event, Reason> {
        let h = &self.header;
        if h.fields.is_empty() {
            return Err(Reason::NoHeader);
        }
        let values: Vec<&str> = line.split(h.separator.as_str()).collect();
        if values.len() != h.fields.len() {
            return Err(Reason::FieldCount {
                expected: h.fields.len(),
                found: values.len(),
            });
        }
        let mut object = Object::with_capacity(values.len());
        for (i, (field, text)) in h.fields.iter().zip(values).enumerate() {
            if text == h.unset {
                continue;
            }
            let kind = h.types.get(i).map_or("string", String::as_str);
            object.push(field.as_str(), typed(text, kind, h));
        }
        normalize(object, h.path.as_deref(), provenance)
    }
}

impl LineParser for ZeekParser {
    fn line(&mut self, line: &str, number: u64, emit: &mut Emit<'_>) {
        if let Some(parser) = &mut self.json {
            return parser.line(line, number, emit);
        }
        if line.starts_with('{') {
            let mut parser = json::JsonParser::new(json::Shape::Zeek);
            parser.line(line, number, emit);
            self.json = Some(parser);
            return;
        }
        if line.starts_with('#') {
            self.directive(line);
            return;
        }
        let result = self.row(line, emit.provenance(Location::Line(number)));
        emit.result(Location::Line(number), result.map(Some));
    }

    fn finish(&mut self, emit: &mut Emit<'_>) {
        if let Some(parser) = &mut self.json {
            parser.finish(emit);
        }
    }
}

/// `\x09` -> tab, as Zeek writes its separator.
fn unescape_hex(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(i) = rest.find("\\x") {
        out.push_str(&rest[..i]);
        let code = rest
            .get(i + 2..i + 4)
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match code {
            Some(byte) => {
                out.push(char::from(byte));
                rest = &rest[i + 4..];
            }
            None => {
                out.push_str("\\x");
                rest = &rest[i + 2..];
            }
        }
    }
    out.push_str(rest);
    out
}

fn typed(text: &str, kind: &str, h: &Header) -> Value {
    if let Some(inner) = kind
        .strip_prefix("set[")
        .or_else(|| kind.strip_prefix("vector["))
    {
        let inner = inner.trim_end_matches(']');
        if text == h.empty {
            return Value::Array(Vec::new());
        }
        return Value::Array(
            text.split(h.set_separator.as_str())
                .map(|t| typed(t, inner, h))
                .collect(),
        );
    }
    if text == h.empty {
        return Value::from("");
    }
    let parsed = match kind {
        "time" => text
            .parse::<f64>()
            .ok()
            .and_then(Timestamp::from_unix_seconds_f64)
            .map(Value::Time),
        "addr" => Value::ip(text),
        "port" | "count" | "int" => text.parse::<i64>().ok().map(Value::Int),
        "double" | "interval" => text.parse::<f64>().ok().map(Value::Float),
        "bool" => match text {
            "T" => Some(Value::Bool(true)),
            "F" => Some(Value::Bool(false)),
            _ => None,
        },
        _ => None,
    };
    parsed.unwrap_or_else(|| Value::from(text))
}

/// The log path of a record without `#path` or `_path`, from the fields it has.
fn infer_path(object: &Object) -> &'static str {
    let has = |k: &str| object.get(k).is_some();
    if has("conn_state") || has("orig_bytes") {
        "conn"
    } else if has("qtype_name") || has("query") {
        "dns"
    } else if has("status_code") || has("method") {
        "http"
    } else if has("server_name") || has("cipher") {
        "ssl"
    } else if has("fuid") && (has("mime_type") || has("sha1") || has("md5")) {
        "files"
    } else {
        "unknown"
    }
}

pub(crate) fn normalize(
    object: Object,
    path: Option<&str>,
    provenance: Provenance,
) -> Result<Event, Reason> {
    let path = match (object.get("_path").and_then(Value::as_str), path) {
        (Some(p), _) => p.to_string(),
        (None, Some(p)) => p.to_string(),
        (None, None) => infer_path(&object).to_string(),
    };
    let timestamp = object.get("ts").and_then(json::time_value);
    let mut event = Event::from_fields(object, provenance);
    if let Some(ts) = timestamp {
        event.set_timestamp(ts);
    }
    event.insert("event.kind", "event");
    event.insert("event.module", "zeek");
    event.insert("event.dataset", format!("zeek.{path}"));
    let copy = |event: &mut Event, ecs: &'static str, original: &str| {
        if let Some(value) = event.get(original).cloned() {
            let value = match (ecs.ends_with(".ip"), &value) {
                (true, Value::Str(s)) => Value::ip(s).unwrap_or(value),
                _ => value,
            };
            event.insert(ecs, value);
        }
    };
    copy(&mut event, "zeek.session_id", "uid");
    copy(&mut event, "source.ip", "id.orig_h");
    copy(&mut event, "source.port", "id.orig_p");
    copy(&mut event, "destination.ip", "id.resp_h");
    copy(&mut event, "destination.port", "id.resp_p");
    let table: &[(&'static str, &str)] = match path.as_str() {
        "conn" => &[
            ("network.transport", "proto"),
            ("network.protocol", "service"),
            ("source.bytes", "orig_bytes"),
            ("destination.bytes", "resp_bytes"),
            ("source.packets", "orig_pkts"),
            ("destination.packets", "resp_pkts"),
            ("zeek.connection.state", "conn_state"),
        ],
        "dns" => &[
            ("network.transport", "proto"),
            ("dns.question.name", "query"),
            ("dns.question.type", "qtype_name"),
            ("dns.response_code", "rcode_name"),
            ("dns.answers.data", "answers"),
        ],
        "http" => &[
            ("http.request.method", "method"),
            ("url.domain", "host"),
            ("url.original", "uri"),
            ("http.response.status_code", "status_code"),
            ("user_agent.original", "user_agent"),
            ("http.request.referrer", "referrer"),
            ("http.request.body.bytes", "request_body_len"),
            ("http.response.body.bytes", "response_body_len"),
        ],
        "ssl" => &[
            ("tls.version", "version"),
            ("tls.cipher", "cipher"),
            ("tls.client.server_name", "server_name"),
            ("destination.domain", "server_name"),
            ("tls.established", "established"),
        ],
        "files" => &[
            ("file.hash.md5", "md5"),
            ("file.hash.sha1", "sha1"),
            ("file.hash.sha256", "sha256"),
            ("file.mime_type", "mime_type"),
            ("file.name", "filename"),
            ("file.size", "total_bytes"),
        ],
        _ => &[],
    };
    for (ecs, original) in table {
        copy(&mut event, ecs, original);
    }
    if path == "http" {
        // ECS splits the request target: `url.path` and `url.query` beside `url.original`.
        let split = event
            .get_str("url.original")
            .map(|uri| match uri.split_once('?') {
                Some((path, query)) => (path.to_string(), Some(query.to_string())),
                None => (uri.to_string(), None),
            });
        if let Some((path, query)) = split {
            event.insert("url.path", path);
            if let Some(query) = query {
                event.insert("url.query", query);
            }
        }
    }
    if let Some(seconds) = event.get("duration").and_then(Value::as_f64) {
        event.insert("event.duration", (seconds * 1e9).round() as i64);
    }
    let (category, kind) = match path.as_str() {
        "conn" => ("network", "connection"),
        "dns" | "ssl" => ("network", "protocol"),
        "http" => ("web", "access"),
        "files" => ("file", "info"),
        _ => ("network", "info"),
    };
    event.insert("event.category", category);
    event.insert("event.type", kind);
    if matches!(path.as_str(), "dns" | "http" | "ssl") && event.get("network.protocol").is_none() {
        event.insert(
            "network.protocol",
            if path == "ssl" { "tls" } else { path.as_str() },
        );
    }
    crate::community_id::fill(&mut event);
    Ok(event)
}
