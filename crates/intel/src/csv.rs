//! CSV feeds with a column mapping (abuse.ch Feodo Tracker, URLhaus and ThreatFox recognized by their
//! headers), and plain lists (one value per line, kind recognized per value).
//!
//! The header may be a data line or a comment (`# "first_seen_utc","ioc_id",...`, as ThreatFox writes
//! it); other `#` lines are comments. A row that does not fit (too few fields, a value of the wrong
//! kind) is reported with its line number.

use crate::kind::{guess, normalize, Kind};
use crate::{parse_time, Import, Indicator, IntelError};

/// Which columns hold what.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Mapping {
    /// The column with the indicator's value.
    pub value: Option<String>,
    /// The kind of every value, or (with `kind_column`) of none.
    pub kind: Option<Kind>,
    /// A column naming each row's kind (ThreatFox `ioc_type`).
    pub kind_column: Option<String>,
    pub first_seen: Option<String>,
    pub last_seen: Option<String>,
    /// A 0-100 confidence column.
    pub confidence: Option<String>,
    /// Columns whose values become tags (`malware`, `threat_type`).
    pub tags: Vec<String>,
}

impl Mapping {
    /// `value=dst_ip,kind=ip,first_seen=first_seen_utc,tags=malware` as given on the command line.
    pub fn parse(text: &str) -> Result<Mapping, IntelError> {
        let mut m = Mapping::default();
        for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (key, value) = part.split_once('=').ok_or_else(|| {
                IntelError::Invalid(format!("column mapping {part:?}: use key=column"))
            })?;
            let value = value.trim().to_string();
            match key.trim() {
                "value" => m.value = Some(value),
                "kind" => {
                    m.kind = Some(Kind::parse(&value).ok_or_else(|| {
                        IntelError::Invalid(format!(
                            "kind {value:?}: use one of {}",
                            Kind::ALL.map(|k| k.as_str()).join(", ")
                        ))
                    })?)
                }
                "kind_column" => m.kind_column = Some(value),
                "first_seen" => m.first_seen = Some(value),
                "last_seen" => m.last_seen = Some(value),
                "confidence" => m.confidence = Some(value),
                "tags" => m.tags.push(value),
                other => {
                    return Err(IntelError::Invalid(format!(
                        "column mapping key {other:?}: use value, kind, kind_column, first_seen, last_seen, confidence, tags"
                    )))
                }
            }
        }
        Ok(m)
    }

    /// The mapping of a feed recognized by its header.
    fn preset(header: &[String]) -> Option<Mapping> {
        let has = |c: &str| header.iter().any(|h| h == c);
        let s = |c: &str| Some(c.to_string());
        if has("dst_ip") && has("c2_status") {
            return Some(Mapping {
                value: s("dst_ip"),
                kind: Some(Kind::Ip),
                first_seen: s("first_seen_utc"),
                last_seen: s("last_online"),
                tags: vec!["malware".into(), "c2_status".into()],
                ..Mapping::default()
            });
        }
        if has("ioc_value") && has("ioc_type") {
            return Some(Mapping {
                value: s("ioc_value"),
                kind_column: s("ioc_type"),
                first_seen: s("first_seen_utc"),
                last_seen: s("last_seen_utc"),
                confidence: s("confidence_level"),
                tags: vec!["malware_printable".into(), "threat_type".into()],
                ..Mapping::default()
            });
        }
        if has("url") && has("urlhaus_link") {
            return Some(Mapping {
                value: s("url"),
                kind: Some(Kind::Url),
                first_seen: s("dateadded"),
                last_seen: s("last_online"),
                tags: vec!["threat".into(), "url_status".into()],
                ..Mapping::default()
            });
        }
        None
    }
}

/// Splits one CSV line: fields may be quoted (`""` for a quote inside), with spaces around them.
fn fields(line: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut chars = line.chars().peekable();
    loop {
        while chars.peek() == Some(&' ') {
            chars.next();
        }
        let mut field = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            loop {
                match chars.next() {
                    Some('"') if chars.peek() == Some(&'"') => {
                        chars.next();
                        field.push('"');
                    }
                    Some('"') => break,
                    Some(c) => field.push(c),
                    None => return Err("a quoted field is not closed".into()),
                }
            }
            while chars.peek() == Some(&' ') {
                chars.next();
            }
            match chars.next() {
                Some(',') => out.push(field),
                None => {
                    out.push(field);
                    return Ok(out);
                }
                Some(c) => return Err(format!("{c:?} after a quoted field")),
            }
        } else {
            loop {
                match chars.next() {
                    Some(',') => break,
                    Some(c) => field.push(c),
                    None => {
                        out.push(field.trim().to_string());
                        return Ok(out);
                    }
                }
            }
            out.push(field.trim().to_string());
        }
    }
}

/// The kind a ThreatFox-style type column names, and the part of the value to take.
fn kind_named(text: &str) -> Option<Kind> {
    Some(match text.to_lowercase().as_str() {
        "ip" | "ip:port" | "ipv4" | "ipv6" | "ip-dst" | "ip-src" => Kind::Ip,
        "domain" => Kind::Domain,
        "hostname" => Kind::Hostname,
        "url" => Kind::Url,
        "md5" | "md5_hash" => Kind::Md5,
        "sha1" | "sha1_hash" => Kind::Sha1,
        "sha256" | "sha256_hash" => Kind::Sha256,
        "email" => Kind::Email,
        _ => return None,
    })
}

/// Reads a CSV feed; an empty mapping means: recognize the feed by its header.
pub fn import(source: &str, text: &str, mapping: &Mapping) -> Result<Import, IntelError> {
    let bad = |message: String| IntelError::Source {
        origin: source.to_string(),
        message,
    };
    let lines: Vec<&str> = text.lines().collect();
    // The header: the first line (comment or not) whose fields include the value column, or a known
    // feed's columns.
    let mut header = None;
    for (n, line) in lines.iter().enumerate() {
        let candidate = line.trim_start_matches('#').trim();
        let Ok(names) = fields(candidate) else {
            continue;
        };
        if names.len() < 2 {
            continue;
        }
        let wanted = match &mapping.value {
            Some(v) => names.contains(v),
            None => Mapping::preset(&names).is_some(),
        };
        if wanted {
            header = Some((n, names));
            break;
        }
    }
    let (header_line, names) = header.ok_or_else(|| {
        bad(match &mapping.value {
            Some(v) => format!("no header line has the column {v:?}"),
            None => "not a CSV feed we recognize (Feodo, URLhaus, ThreatFox): give the columns, \
                     e.g. --columns value=dst_ip,kind=ip"
                .into(),
        })
    })?;
    let mapping = if mapping.value.is_some() {
        mapping.clone()
    } else {
        Mapping::preset(&names).unwrap_or_default()
    };
    let column = |name: &Option<String>| {
        name.as_ref()
            .and_then(|n| names.iter().position(|h| h == n))
    };
    let value_at =
        column(&mapping.value).ok_or_else(|| bad("the value column is missing".into()))?;
    if mapping.kind.is_none() && mapping.kind_column.is_none() {
        return Err(bad(
            "say the kind of the values (kind=ip) or the column naming it (kind_column=...)".into(),
        ));
    }
    let (kind_at, first_at, last_at, confidence_at) = (
        column(&mapping.kind_column),
        column(&mapping.first_seen),
        column(&mapping.last_seen),
        column(&mapping.confidence),
    );
    let tag_at: Vec<usize> = mapping
        .tags
        .iter()
        .filter_map(|t| names.iter().position(|h| h == t))
        .collect();
    let mut import = Import::default();
    for (n, line) in lines.iter().enumerate().skip(header_line + 1) {
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let location = format!("{source}:{}", n + 1);
        let row = match fields(trimmed) {
            Ok(row) => row,
            Err(e) => {
                import.reject(location, e);
                continue;
            }
        };
        let get = |i: Option<usize>| {
            i.and_then(|i| row.get(i))
                .map(String::as_str)
                .filter(|s| !s.is_empty())
        };
        let Some(raw) = get(Some(value_at)) else {
            import.reject(
                location,
                format!("no value in column {:?}", names[value_at]),
            );
            continue;
        };
        let kind = match (mapping.kind, get(kind_at)) {
            (Some(k), _) => k,
            (None, Some(named)) => match kind_named(named) {
                Some(k) => k,
                None => {
                    import.reject(
                        location,
                        format!("type {named:?} is not a kind of indicator we match"),
                    );
                    continue;
                }
            },
            (None, None) => {
                import.reject(location, "no type for the value".to_string());
                continue;
            }
        };
        // `ip:port` values keep the address.
        let raw = match (kind, raw.rsplit_once(':')) {
            (Kind::Ip, Some((ip, port)))
                if !raw.contains('[') && port.parse::<u16>().is_ok() && ip.contains('.') =>
            {
                ip
            }
            _ => raw,
        };
        match normalize(kind, raw) {
            Ok(value) => {
                let mut i = Indicator::new(kind, value, source);
                i.native_id = Some(format!("line {}", n + 1));
                i.first_seen = get(first_at).and_then(parse_time);
                i.last_seen = get(last_at).and_then(parse_time);
                // A feed's first-seen column is its date of the indicator.
                i.source_date = i.first_seen;
                i.confidence = get(confidence_at)
                    .and_then(|c| c.parse::<u8>().ok())
                    .map(|c| c.min(100));
                i.tags = tag_at
                    .iter()
                    .filter_map(|&t| get(Some(t)))
                    .map(str::to_string)
                    .collect();
                import.indicators.push(i);
            }
            Err(e) => import.reject(location, e.to_string()),
        }
    }
    Ok(import)
}

/// Reads a plain list: one value per line, `#` comments; each value's kind recognized on its own.
pub fn import_list(source: &str, text: &str) -> Import {
    let mut import = Import::default();
    for (n, line) in text.lines().enumerate() {
        let value = line.split('#').next().unwrap_or("").trim();
        if value.is_empty() {
            continue;
        }
        let location = format!("{source}:{}", n + 1);
        let Some(kind) = guess(value) else {
            import.reject(
                location,
                format!("{value:?} is not an address, network, domain, URL, e-mail or hash"),
            );
            continue;
        };
        match normalize(kind, value) {
            Ok(v) => {
                let mut i = Indicator::new(kind, v, source);
                i.native_id = Some(format!("line {}", n + 1));
                import.indicators.push(i);
            }
            Err(e) => import.reject(location, e.to_string()),
        }
    }
    import
}

/// One CSV cell: quoted when it must be, and text a spreadsheet would run as a formula (`=`, `+`, `-`,
/// `@` first) prefixed with `'` (CSV injection).
pub fn cell(text: &str) -> String {
    // Values are kept, but control characters other than line breaks (which quoting keeps inside the
    // cell) and bidi overrides are shown as escapes: a spreadsheet or a `cat` in a terminal would
    // otherwise act on them.
    let text: String = text
        .split_inclusive(['\n', '\r'])
        .map(|part| {
            let (body, end) = match part.strip_suffix(['\n', '\r']) {
                Some(body) => (body, &part[body.len()..]),
                None => (part, ""),
            };
            format!("{}{end}", secops_event::escape::terminal(body))
        })
        .collect();
    let text = if text.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{text}")
    } else {
        text
    };
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text
    }
}

/// Indicators as CSV (`kind,value,...`), text cells that a spreadsheet would run as formulas
/// neutralized.
pub fn export(indicators: &[Indicator]) -> String {
    let mut out = String::from(
        "kind,value,confidence,tlp,first_seen,last_seen,valid_until,source,tags,description\n",
    );
    let time = |t: Option<i64>| {
        t.map(|t| secops_event::Timestamp::from_unix_nanos(t).to_seconds())
            .unwrap_or_default()
    };
    for i in indicators {
        let row = [
            i.kind.as_str().to_string(),
            i.value.clone(),
            i.confidence.map(|c| c.to_string()).unwrap_or_default(),
            i.tlp.to_string(),
            time(i.first_seen),
            time(i.last_seen),
            time(i.valid_until),
            i.source.clone(),
            i.tags.join(";"),
            i.description.clone(),
        ];
        out.push_str(&row.iter().map(|c| cell(c)).collect::<Vec<_>>().join(","));
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_fields_unquote_and_report_errors() {
        assert_eq!(
            fields(r#""a","b ""c""", d ,"""#).unwrap(),
            vec!["a", "b \"c\"", "d", ""]
        );
        assert!(fields(r#""open"#).is_err());
    }

    #[test]
    fn threatfox_style_rows_take_their_kind_from_a_column() {
        let text = "# \"first_seen_utc\", \"ioc_id\", \"ioc_value\", \"ioc_type\", \"threat_type\", \"malware_printable\", \"last_seen_utc\", \"confidence_level\"\n\
                    \"2024-01-01 10:00:00\", \"1\", \"198.51.100.5:8080\", \"ip:port\", \"botnet_cc\", \"Cobalt Strike\", \"\", \"75\"\n\
                    \"2024-01-01 10:00:00\", \"2\", \"evil.example\", \"domain\", \"payload_delivery\", \"Emotet\", \"\", \"100\"\n\
                    \"2024-01-01 10:00:00\", \"3\", \"xyz\", \"ja3_hash\", \"botnet_cc\", \"X\", \"\", \"50\"\n";
        let import = import("threatfox.csv", text, &Mapping::default()).unwrap();
        let got: Vec<(Kind, &str, Option<u8>)> = import
            .indicators
            .iter()
            .map(|i| (i.kind, i.value.as_str(), i.confidence))
            .collect();
        assert_eq!(
            got,
            vec![
                (Kind::Ip, "198.51.100.5", Some(75)),
                (Kind::Domain, "evil.example", Some(100))
            ]
        );
        assert_eq!(
            import.indicators[0].tags,
            vec!["Cobalt Strike", "botnet_cc"]
        );
        assert_eq!(import.rejected[0].location, "threatfox.csv:4");
    }

    #[test]
    fn an_unknown_csv_needs_its_columns_and_then_reads() {
        let text = "address,note\n203.0.113.9,seen\n203.0.113.x,typo\n";
        let e = import("x.csv", text, &Mapping::default()).unwrap_err();
        assert!(e.to_string().contains("--columns"), "{e}");
        let mapping = Mapping::parse("value=address,kind=ip,tags=note").unwrap();
        let import = import("x.csv", text, &mapping).unwrap();
        assert_eq!(import.indicators.len(), 1);
        assert_eq!(import.rejected[0].location, "x.csv:3");
        assert!(Mapping::parse("colour=red").is_err());
    }

    #[test]
    fn plain_lists_and_csv_export() {
        let import = import_list(
            "l.txt",
            "# c2\n203.0.113.7\nevil[.]example # defanged\nnot a value\n",
        );
        assert_eq!(import.indicators.len(), 2);
        assert_eq!(import.rejected.len(), 1);
        let csv = export(&import.indicators);
        assert!(csv.starts_with("kind,value,"));
        assert!(csv.contains("\ndomain,evil.example,"));
        let mut formula = Indicator::new(Kind::Domain, "x.example".into(), "s");
        formula.description = "=HYPERLINK(\"x\")".into();
        assert!(export(&[formula]).contains("\"'=HYPERLINK(\"\"x\"\")\""));
    }
}
