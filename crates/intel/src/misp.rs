//! MISP in: events (`{"Event": ...}`, a REST search `{"response": [...]}`, or a list of events) with
//! their attributes and object attributes, and MISP feeds (a folder of `manifest.json` and one
//! `<uuid>.json` per event).
//!
//! Attribute types map to kinds (`ip-src`, `ip-dst` and `|port` forms to addresses; `domain`,
//! `hostname`; `url`; hashes, also `filename|<hash>`; e-mail addresses; `domain|ip` gives both). Types
//! that carry no indicator (`text`, `comment`, `link`, `filename`...) are counted apart; indicator
//! types we do not match (`regkey`, `mutex`, `ssdeep`...) are reported. `to_ids` is kept: only those
//! attributes alert. TLP and confidence come from the attribute's tags, else the event's.

use std::path::Path;

use serde_json::Value;

use crate::kind::{normalize, Kind};
use crate::{parse_time, Import, Indicator, IntelError, Tlp};

/// Types that hold no indicator at all.
const CONTEXT_TYPES: &[&str] = &[
    "text",
    "comment",
    "link",
    "other",
    "filename",
    "attachment",
    "datetime",
    "counter",
    "threat-actor",
    "campaign-name",
    "campaign-id",
    "malware-type",
    "size-in-bytes",
    "float",
    "port",
    "hex",
    "boolean",
    "pattern-in-file",
    "whois-registrant-name",
    "uri",
];

/// The kinds an attribute type yields, each with which `|` part holds the value.
fn kinds_of(misp_type: &str) -> Option<Vec<(Kind, usize)>> {
    Some(match misp_type {
        "ip-src" | "ip-dst" | "ip-src|port" | "ip-dst|port" => vec![(Kind::Ip, 0)],
        "domain" => vec![(Kind::Domain, 0)],
        "hostname" | "hostname|port" => vec![(Kind::Hostname, 0)],
        "domain|ip" => vec![(Kind::Domain, 0), (Kind::Ip, 1)],
        "url" => vec![(Kind::Url, 0)],
        "md5" => vec![(Kind::Md5, 0)],
        "sha1" => vec![(Kind::Sha1, 0)],
        "sha256" => vec![(Kind::Sha256, 0)],
        "filename|md5" => vec![(Kind::Md5, 1)],
        "filename|sha1" => vec![(Kind::Sha1, 1)],
        "filename|sha256" => vec![(Kind::Sha256, 1)],
        "email" | "email-src" | "email-dst" => vec![(Kind::Email, 0)],
        _ => return None,
    })
}

/// Reads MISP event JSON.
pub fn import_event_text(source: &str, text: &str) -> Result<Import, IntelError> {
    let doc: Value = serde_json::from_str(text).map_err(|e| IntelError::Source {
        origin: source.to_string(),
        message: format!("not JSON: {e}"),
    })?;
    let events: Vec<&Value> = match &doc {
        Value::Object(o) if o.contains_key("Event") => vec![&doc["Event"]],
        Value::Object(o) => match o.get("response") {
            Some(Value::Array(items)) => items.iter().filter_map(|i| i.get("Event")).collect(),
            _ => {
                return Err(IntelError::Source {
                    origin: source.to_string(),
                    message: "neither a MISP event nor a MISP search response".into(),
                })
            }
        },
        Value::Array(items) => items.iter().filter_map(|i| i.get("Event")).collect(),
        _ => {
            return Err(IntelError::Source {
                origin: source.to_string(),
                message: "not a MISP document".into(),
            })
        }
    };
    let mut import = Import::default();
    for event in events {
        read_event(source, event, &mut import);
    }
    Ok(import)
}

fn tags(object: &Value) -> Vec<String> {
    object
        .get("Tag")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|t| t.get("name").and_then(Value::as_str))
        .map(str::to_string)
        .collect()
}

/// Confidence from MISP taxonomy tags (admiralty scale, estimative language).
fn confidence_of(tags: &[String]) -> Option<u8> {
    tags.iter().find_map(|t| {
        let t = t.to_lowercase().replace('"', "");
        let value = t.split_once('=').map(|(_, v)| v.to_string());
        if t.starts_with("admiralty-scale:information-credibility") {
            return match value.as_deref()? {
                "1" => Some(95),
                "2" => Some(75),
                "3" => Some(50),
                "4" => Some(25),
                "5" => Some(10),
                _ => None,
            };
        }
        if t.starts_with("estimative-language:confidence-in-analytic-judgment") {
            return match value.as_deref()? {
                "high" => Some(85),
                "moderate" => Some(50),
                "low" => Some(15),
                _ => None,
            };
        }
        None
    })
}

fn text_of(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// MISP writes booleans as `true`, `"1"` or `1`.
fn flag(v: Option<&Value>) -> bool {
    match v {
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => s == "1" || s.eq_ignore_ascii_case("true"),
        Some(Value::Number(n)) => n.as_i64() == Some(1),
        _ => false,
    }
}

fn read_event(source: &str, event: &Value, import: &mut Import) {
    let event_tags = tags(event);
    let info = text_of(event.get("info")).unwrap_or_default();
    let event_id = text_of(event.get("uuid")).unwrap_or_else(|| info.clone());
    let date = text_of(event.get("date")).and_then(|d| parse_time(&d));
    let provider = event
        .get("Orgc")
        .and_then(|o| o.get("name"))
        .and_then(Value::as_str)
        .map_or_else(|| source.to_string(), |org| format!("{source} ({org})"));
    let mut attributes: Vec<&Value> = event
        .get("Attribute")
        .and_then(Value::as_array)
        .map(|a| a.iter().collect())
        .unwrap_or_default();
    for object in event
        .get("Object")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        attributes.extend(
            object
                .get("Attribute")
                .and_then(Value::as_array)
                .into_iter()
                .flatten(),
        );
    }
    for attribute in attributes {
        if flag(attribute.get("deleted")) {
            import.other("deleted MISP attribute");
            continue;
        }
        let misp_type = text_of(attribute.get("type")).unwrap_or_default();
        let value = text_of(attribute.get("value")).unwrap_or_default();
        let uuid = text_of(attribute.get("uuid")).unwrap_or_else(|| value.clone());
        let location = format!("{source}: event {event_id} attribute {uuid}");
        let Some(kinds) = kinds_of(&misp_type) else {
            if CONTEXT_TYPES.contains(&misp_type.as_str()) {
                import.other(&format!(
                    "MISP {misp_type} attribute (context, not an indicator)"
                ));
            } else {
                import.reject(
                    location,
                    format!("MISP type {misp_type:?} is not a kind of indicator we match"),
                );
            }
            continue;
        };
        let own_tags = tags(attribute);
        let all_tags: Vec<String> = own_tags.iter().chain(&event_tags).cloned().collect();
        let tlp = all_tags
            .iter()
            .find_map(|t| Tlp::parse(t))
            .unwrap_or(Tlp::Clear);
        let parts: Vec<&str> = value.split('|').collect();
        for (kind, part) in kinds {
            let Some(raw) = parts.get(part) else {
                import.reject(
                    &location,
                    format!("{misp_type} value {value:?} lacks part {}", part + 1),
                );
                continue;
            };
            match normalize(kind, raw) {
                Ok(normalized) => {
                    let mut i = Indicator::new(kind, normalized, &provider);
                    i.native_id = Some(uuid.clone());
                    i.to_ids = flag(attribute.get("to_ids"));
                    i.tlp = tlp;
                    i.confidence = confidence_of(&all_tags);
                    i.tags = all_tags
                        .iter()
                        .filter(|t| Tlp::parse(t).is_none())
                        .cloned()
                        .collect();
                    let comment = text_of(attribute.get("comment")).unwrap_or_default();
                    i.description = if comment.is_empty() {
                        info.clone()
                    } else {
                        format!("{info}: {comment}")
                    };
                    let changed = text_of(attribute.get("timestamp"))
                        .and_then(|t| t.parse::<i64>().ok())
                        .map(|s| s.saturating_mul(1_000_000_000));
                    i.first_seen = text_of(attribute.get("first_seen"))
                        .and_then(|t| parse_time(&t))
                        .or(changed)
                        .or(date);
                    i.source_date = changed.or(i.first_seen);
                    i.last_seen = text_of(attribute.get("last_seen")).and_then(|t| parse_time(&t));
                    import.indicators.push(i);
                }
                Err(e) => import.reject(&location, e.to_string()),
            }
        }
    }
}

/// Reads a MISP feed folder: the events its manifest lists.
pub fn import_feed(dir: &Path) -> Result<Import, IntelError> {
    let manifest_path = dir.join("manifest.json");
    let source_error = |message: String| IntelError::Source {
        origin: manifest_path.display().to_string(),
        message,
    };
    let text = std::fs::read_to_string(&manifest_path).map_err(|e| source_error(e.to_string()))?;
    let manifest: Value =
        serde_json::from_str(&text).map_err(|e| source_error(format!("not JSON: {e}")))?;
    let Value::Object(entries) = manifest else {
        return Err(source_error(
            "not a manifest (an object of event uuids)".into(),
        ));
    };
    let feed = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "misp-feed".into());
    let mut import = Import::default();
    for uuid in entries.keys() {
        let file = dir.join(format!("{uuid}.json"));
        let location = format!("{feed}: event {uuid}");
        let text = match std::fs::read_to_string(&file) {
            Ok(t) => t,
            Err(e) => {
                import.reject(
                    location,
                    format!("listed in the manifest, but {}: {e}", file.display()),
                );
                continue;
            }
        };
        match import_event_text(&feed, &text) {
            Ok(event) => {
                import.indicators.extend(event.indicators);
                import.rejected.extend(event.rejected);
                for (k, v) in event.other {
                    *import.other.entry(k).or_default() += v;
                }
            }
            Err(e) => import.reject(location, e.to_string()),
        }
    }
    Ok(import)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attributes_become_indicators_with_their_flags_and_reasons() {
        let event = serde_json::json!({"Event": {
            "uuid": "e1", "info": "C2 servers", "date": "2024-01-23",
            "Tag": [{"name": "tlp:white"}],
            "Attribute": [
                {"type": "ip-dst|port", "value": "203.0.113.7|443", "to_ids": true, "uuid": "a1"},
                {"type": "domain|ip", "value": "Evil.Example|198.51.100.2", "to_ids": "1", "uuid": "a2",
                 "Tag": [{"name": "tlp:amber"}, {"name": "admiralty-scale:information-credibility=\"2\""}]},
                {"type": "sha256", "value": "abcd", "to_ids": true, "uuid": "a3"},
                {"type": "regkey", "value": "HKLM\\x", "to_ids": false, "uuid": "a4"},
                {"type": "comment", "value": "seen in April", "uuid": "a5"},
                {"type": "url", "value": "hxxp://evil[.]example/x", "to_ids": false, "uuid": "a6"}
            ]
        }});
        let import = import_event_text("feed", &event.to_string()).unwrap();
        let values: Vec<(Kind, &str, bool, &str)> = import
            .indicators
            .iter()
            .map(|i| (i.kind, i.value.as_str(), i.to_ids, i.tlp.as_str()))
            .collect();
        assert_eq!(
            values,
            vec![
                (Kind::Ip, "203.0.113.7", true, "clear"),
                (Kind::Domain, "evil.example", true, "amber"),
                (Kind::Ip, "198.51.100.2", true, "amber"),
                (Kind::Url, "http://evil.example/x", false, "clear"),
            ]
        );
        assert_eq!(import.indicators[1].confidence, Some(75));
        assert_eq!(import.rejected.len(), 2);
        assert!(
            import.rejected[0].reason.contains("64 hexadecimal"),
            "{:?}",
            import.rejected
        );
        assert!(import.rejected[1].reason.contains("\"regkey\""));
        assert_eq!(import.other.values().sum::<usize>(), 1);
    }
}
