//! ArcSight Common Event Format: `CEF:Version|Vendor|Product|Version|SignatureID|Name|Severity|Extension`,
//! alone or behind a syslog header. Header fields escape `\|` and `\\`; extension values escape `\=`, `\\`,
//! `\n` and `\r`, and run until the next `key=`.
//!
//! The header and every extension are kept under `cef.*` by their own names; the common extension keys
//! (`src`, `dst`, `suser`, `act`, `rt`, ...) are also mapped to ECS.

use chrono::NaiveDateTime;
use secops_event::{Event, Location, Timestamp, Value};

use super::syslog::{fill_header, parse_header, YearHint, YearTracker};
use super::util::insert_host;
use crate::lines::{Emit, LineParser};
use crate::Reason;

const FORMAT: &str = "CEF";

#[derive(Debug)]
pub(crate) struct CefParser {
    years: YearTracker,
}

impl CefParser {
    pub fn new(hint: YearHint, zone: Option<super::syslog::Zone>) -> Self {
        let mut years = YearTracker::new(hint);
        years.zone = zone;
        CefParser { years }
    }

    fn parse(&mut self, line: &str, emit: &Emit<'_>, number: u64) -> Result<Event, Reason> {
        let start = line
            .find("CEF:")
            .ok_or(Reason::malformed(FORMAT, "no CEF: header"))?;
        let mut event = Event::new(emit.provenance(Location::Line(number)));
        let prefix = line[..start].trim_end();
        if !prefix.is_empty() {
            // A syslog header: keep its time and host; its "message" is the CEF record.
            let header = parse_header(&line[..start], &mut self.years)?;
            fill_header(&mut event, &header);
            event.fields_mut().remove("message");
        }
        fill_cef(&mut event, &line[start + 4..])?;
        crate::community_id::fill(&mut event);
        Ok(event)
    }
}

impl LineParser for CefParser {
    fn line(&mut self, line: &str, number: u64, emit: &mut Emit<'_>) {
        let result = self.parse(line, emit, number);
        emit.result(Location::Line(number), result.map(Some));
    }

    fn years(&self) -> Option<(i32, u32)> {
        self.years.current()
    }

    fn resume_years(&mut self, years: (i32, u32)) {
        self.years.resume(years);
    }
}

pub(crate) fn is_cef_line(line: &str) -> bool {
    line.find("CEF:")
        .is_some_and(|i| split_header(&line[i + 4..]).is_some())
}

/// The seven header fields (unescaped) and the extension text.
fn split_header(text: &str) -> Option<(Vec<String>, &str)> {
    let mut fields = Vec::with_capacity(7);
    let mut current = String::new();
    let mut chars = text.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some((_, escaped @ ('|' | '\\'))) => current.push(escaped),
                Some((_, other)) => {
                    current.push('\\');
                    current.push(other);
                }
                None => current.push('\\'),
            },
            '|' => {
                fields.push(std::mem::take(&mut current));
                if fields.len() == 7 {
                    return Some((fields, &text[i + 1..]));
                }
            }
            c => current.push(c),
        }
    }
    None
}

fn is_key_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-' | b'[' | b']')
}

/// `k1=v1 k2=v two k3=v\=3` -> [(k1, v1), (k2, "v two"), (k3, "v=3")]
pub(crate) fn parse_extension(text: &str) -> Vec<(&str, String)> {
    let bytes = text.as_bytes();
    // (key start, '=' position) of every key
    let mut keys: Vec<(usize, usize)> = Vec::new();
    for (eq, &b) in bytes.iter().enumerate() {
        if b != b'=' || (eq > 0 && bytes[eq - 1] == b'\\') {
            continue;
        }
        let mut start = eq;
        while start > 0 && is_key_char(bytes[start - 1]) {
            start -= 1;
        }
        if start < eq && (start == 0 || bytes[start - 1] == b' ') {
            keys.push((start, eq));
        }
    }
    let mut pairs = Vec::with_capacity(keys.len());
    for (i, &(start, eq)) in keys.iter().enumerate() {
        let end = keys.get(i + 1).map_or(text.len(), |&(next, _)| next);
        let raw = text[eq + 1..end].trim_end_matches(' ');
        pairs.push((&text[start..eq], unescape_value(raw)));
    }
    pairs
}

fn unescape_value(raw: &str) -> String {
    if !raw.contains('\\') {
        return raw.to_string();
    }
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some(other @ ('=' | '\\')) => out.push(other),
            Some(other) => {
                out.push('\\');
                out.push(other);
            }
            None => out.push('\\'),
        }
    }
    out
}

fn severity_number(text: &str) -> Option<i64> {
    match text.to_ascii_lowercase().as_str() {
        "low" => Some(3),
        "medium" => Some(6),
        "high" => Some(8),
        "very-high" => Some(10),
        other => other.parse().ok(),
    }
}

/// `rt`: epoch milliseconds, or `MMM dd yyyy HH:mm:ss[.SSS]`.
fn parse_rt(text: &str) -> Option<Timestamp> {
    if let Ok(millis) = text.parse::<i64>() {
        return Timestamp::from_unix_millis(millis);
    }
    ["%b %d %Y %H:%M:%S%.f", "%b %d %Y %H:%M:%S"]
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(text, f).ok())
        .and_then(|naive| Timestamp::from_naive_utc(&naive))
}

fn fill_cef(event: &mut Event, text: &str) -> Result<(), Reason> {
    let (header, extension) = split_header(text).ok_or(Reason::malformed(
        FORMAT,
        "fewer than 7 |-separated header fields",
    ))?;
    let [version, vendor, product, device_version, signature, name, severity] =
        <[String; 7]>::try_from(header)
            .map_err(|_| Reason::malformed(FORMAT, "fewer than 7 |-separated header fields"))?;
    event.insert("event.kind", "event");
    event.insert("event.module", "cef");
    event.insert("event.dataset", "cef.log");
    event.insert("cef.version", version.as_str());
    event.insert("cef.device.vendor", vendor.as_str());
    event.insert("cef.device.product", product.as_str());
    event.insert("cef.device.version", device_version.as_str());
    event.insert("cef.device.event_class_id", signature.as_str());
    event.insert("cef.name", name.as_str());
    event.insert("cef.severity", severity.as_str());
    event.insert("observer.vendor", vendor);
    event.insert("observer.product", product);
    event.insert("observer.version", device_version);
    event.insert("event.code", signature);
    event.insert("message", name);
    if let Some(severity) = severity_number(&severity) {
        event.insert("event.severity", severity);
    }
    for (key, value) in parse_extension(extension) {
        map_extension(event, key, &value);
        event.insert(format!("cef.extensions.{key}"), value);
    }
    Ok(())
}

fn map_extension(event: &mut Event, key: &str, value: &str) {
    let simple = match key {
        "suser" => "source.user.name",
        "duser" => "destination.user.name",
        "suid" => "source.user.id",
        "duid" => "destination.user.id",
        "shost" => "source.domain",
        "dhost" => "destination.domain",
        "smac" => "source.mac",
        "dmac" => "destination.mac",
        "act" => "event.action",
        "msg" => "message",
        "request" => "url.original",
        "requestMethod" => "http.request.method",
        "requestClientApplication" => "user_agent.original",
        "fname" => "file.name",
        "filePath" => "file.path",
        "fileHash" => "file.hash.sha256",
        "dvchost" => "observer.hostname",
        "sproc" | "dproc" => "process.name",
        "cs1" | "cs2" | "cs3" | "cs4" | "cs5" | "cs6" => return,
        _ => "",
    };
    if !simple.is_empty() {
        event.insert(simple, value);
        return;
    }
    let number = value.parse::<i64>().ok();
    match key {
        "src" => insert_host(event, value, "source.ip", "source.address"),
        "dst" => insert_host(event, value, "destination.ip", "destination.address"),
        "dvc" => insert_host(event, value, "observer.ip", "observer.hostname"),
        "spt" => event.insert_opt("source.port", number),
        "dpt" => event.insert_opt("destination.port", number),
        "fsize" => event.insert_opt("file.size", number),
        "cnt" => event.insert_opt("event.count", number),
        "in" => event.insert_opt("source.bytes", number),
        "out" => event.insert_opt("destination.bytes", number),
        "proto" => event.insert("network.transport", value.to_ascii_lowercase()),
        "outcome" => event.insert("event.outcome", value.to_ascii_lowercase()),
        "rt" => {
            if let Some(ts) = parse_rt(value) {
                event.set_timestamp(ts);
            }
        }
        "start" | "end" => {
            if let Some(ts) = parse_rt(value) {
                event.insert(
                    if key == "start" {
                        "event.start"
                    } else {
                        "event.end"
                    },
                    Value::Time(ts),
                );
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extension_values_run_to_the_next_key_and_unescape() {
        let pairs = parse_extension(
            r"src=10.0.0.1 msg=Detected a threat. No action needed cs1=a\=b c:\\x dst=2.1.2.2",
        );
        assert_eq!(
            pairs,
            [
                ("src", "10.0.0.1".to_string()),
                ("msg", "Detected a threat. No action needed".to_string()),
                ("cs1", r"a=b c:\x".to_string()),
                ("dst", "2.1.2.2".to_string()),
            ]
        );
    }

    #[test]
    fn header_pipes_can_be_escaped() {
        let (fields, ext) = split_header(
            r"0|security|threat\|manager|1.0|100|detected a \\ in packet|10|src=1.2.3.4",
        )
        .unwrap();
        assert_eq!(fields[2], "threat|manager");
        assert_eq!(fields[5], r"detected a \ in packet");
        assert_eq!(ext, "src=1.2.3.4");
    }

    #[test]
    fn rt_accepts_millis_and_dates() {
        assert_eq!(
            parse_rt("1700000000000").map(|t| t.to_rfc3339()),
            Some("2023-11-14T22:13:20Z".into())
        );
        assert_eq!(
            parse_rt("Sep 19 2023 08:26:10").map(|t| t.to_rfc3339()),
            Some("2023-09-19T08:26:10Z".into())
        );
    }
}
