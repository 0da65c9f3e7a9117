//! No importer panics on damaged intelligence: STIX bundles, STIX patterns, MISP events, CSV feeds and
//! plain lists, written here from their formats, are cut, flipped, spliced and sprinkled with the
//! characters their grammars care about, thousands of times, through every format's reader. Each
//! import must end with an error or with every record accounted for (an indicator, a rejection with
//! a reason, or a counted non-indicator).

#![allow(clippy::unwrap_used)] // test helpers

use secops_intel::csv::Mapping;
use secops_intel::{import_text, Format};

use secops_testkit::mutate::Rng;

const STIX: &str = r#"{"type": "bundle", "id": "bundle--1", "objects": [
 {"type": "indicator", "id": "indicator--1", "pattern_type": "stix", "valid_from": "2026-01-01T00:00:00Z",
  "pattern": "[ipv4-addr:value = '198.51.100.1' OR domain-name:value = 'evil.example'] OR [file:hashes.'SHA-256' = 'ef537f25c895bfa782526529a9b63d97aa631564d5d789c2b765448c8635fb6c']",
  "object_marking_refs": ["marking-definition--f88d31f6-486f-44da-b317-01333bde0b82"], "confidence": 70},
 {"type": "indicator", "id": "indicator--2", "pattern_type": "stix",
  "pattern": "[x509-certificate:issuer = 'CN=a' AND x509-certificate:serial_number = '01:02'] REPEATS 2 TIMES WITHIN 10 SECONDS"},
 {"type": "indicator", "id": "indicator--3", "pattern": "[url:value IN ('http://a.example/x', 'http://b.example/y')] FOLLOWEDBY [email-message:from_ref.value = 'x@example.org']"},
 {"type": "ipv4-addr", "id": "ipv4-addr--1", "value": "198.51.100.2"},
 {"type": "relationship", "id": "relationship--1"}
]}"#;

const MISP: &str = r#"{"response": [{"Event": {"uuid": "e1", "info": "test", "date": "2026-01-01", "Orgc": {"name": "Org"},
 "Tag": [{"name": "tlp:amber"}],
 "Attribute": [
  {"type": "ip-dst|port", "value": "198.51.100.3|443", "to_ids": true, "uuid": "a1", "timestamp": "1700000000"},
  {"type": "domain|ip", "value": "evil.example|198.51.100.4", "to_ids": "1", "uuid": "a2", "Tag": [{"name": "admiralty-scale:information-credibility=\"2\""}]},
  {"type": "filename|sha256", "value": "a.exe|ef537f25c895bfa782526529a9b63d97aa631564d5d789c2b765448c8635fb6c", "uuid": "a3"},
  {"type": "comment", "value": "context", "uuid": "a4"},
  {"type": "mutex", "value": "Global\\x", "uuid": "a5"}],
 "Object": [{"name": "file", "Attribute": [{"type": "md5", "value": "d41d8cd98f00b204e9800998ecf8427e", "to_ids": true, "uuid": "o1"}]}]
}}]}"#;

const CSV: &str = "################\n# Feodo-style feed\n#\n\
\"first_seen_utc\",\"dst_ip\",\"dst_port\",\"c2_status\",\"last_online\",\"malware\"\n\
\"2026-01-01 10:00:00\",\"198.51.100.5\",\"443\",\"online\",\"2026-01-02\",\"Pikabot\"\n\
\"2026-01-01 11:00:00\",\"198.51.100.6\",\"8080\",\"offline\",\"2026-01-02\",\"Qakbot, \"\"x\"\"\"\n\
# END 2 entries\n";

const LIST: &str = "# list\n198.51.100.7\n203.0.113.0/24\nhxxp://evil[.]example/a\nevil2.example\nd41d8cd98f00b204e9800998ecf8427e\nnot a value\n";

fn mutate(rng: &mut Rng, input: &str) -> String {
    let mut out: Vec<char> = input.chars().collect();
    let specials = [
        '\'', '"', '[', ']', '(', ')', '\\', ',', '|', ':', '=', '{', '}', '\n', '/', '.', '@',
        '\u{fffd}',
    ];
    for _ in 0..1 + rng.below(6) {
        let at = rng.below(out.len().max(1));
        match rng.below(5) {
            0 => out.truncate(at),
            1 if !out.is_empty() => {
                out.remove(at.min(out.len() - 1));
            }
            2 => out.insert(at.min(out.len()), specials[rng.below(specials.len())]),
            3 if !out.is_empty() => {
                let end = (at + rng.below(40)).min(out.len());
                let piece: Vec<char> = out[at.min(end)..end].to_vec();
                let to = rng.below(out.len());
                out.splice(to..to, piece);
            }
            _ if !out.is_empty() => {
                let i = at.min(out.len() - 1);
                out[i] = char::from_u32(rng.below(0x250) as u32).unwrap_or('x');
            }
            _ => {}
        }
    }
    out.into_iter().collect()
}

#[test]
fn damaged_intelligence_never_panics_and_every_record_is_accounted_for() {
    let mut rng = Rng::new(0x5eed_1234_abcd_ef01);
    let formats = [Format::Stix, Format::Misp, Format::Csv, Format::List];
    let inputs = [STIX, MISP, CSV, LIST];
    let (mut imported, mut refused) = (0, 0);
    for round in 0..4000 {
        let input = inputs[round % inputs.len()];
        let damaged = mutate(&mut rng, input);
        for format in formats {
            match import_text("fuzz", &damaged, format, &Mapping::default()) {
                Ok(import) => {
                    imported += 1;
                    for r in &import.rejected {
                        assert!(
                            !r.reason.is_empty(),
                            "a rejection without a reason in {damaged:?}"
                        );
                    }
                    for i in &import.indicators {
                        assert!(!i.value.is_empty(), "an empty indicator from {damaged:?}");
                    }
                }
                Err(e) => {
                    refused += 1;
                    assert!(!e.to_string().is_empty());
                }
            }
        }
    }
    assert!(
        imported > 1000 && refused > 1000,
        "{imported} imported, {refused} refused"
    );
}

#[test]
fn damaged_stix_patterns_end_in_indicators_or_reasons() {
    let patterns = [
        "[ipv4-addr:value = '198.51.100.1' OR domain-name:value = 'evil.example']",
        "[file:hashes.'SHA-256' = 'ef537f25c895bfa782526529a9b63d97aa631564d5d789c2b765448c8635fb6c']",
        "[email-message:body_multipart[*].body_raw_ref.name MATCHES '^x.+\\.exe$']",
        "([url:value IN ('http://a.example/', 'http://b.example/')] AND [x:y != 3]) WITHIN 5 SECONDS",
        "[network-traffic:dst_ref.value = '198.51.100.9'] START t'2026-01-01T00:00:00Z' STOP t'2026-02-01T00:00:00Z'",
    ];
    let mut rng = Rng::new(0x0dd_ba11);
    for round in 0..20_000 {
        let pattern = mutate(&mut rng, patterns[round % patterns.len()]);
        let bundle = serde_json::json!({"type": "bundle", "objects": [
            {"type": "indicator", "id": "indicator--x", "pattern_type": "stix", "pattern": pattern}
        ]});
        let import =
            import_text("p", &bundle.to_string(), Format::Stix, &Mapping::default()).unwrap();
        assert!(
            !import.indicators.is_empty() || !import.rejected.is_empty(),
            "{pattern:?} gave neither indicators nor a reason"
        );
    }
}

#[test]
fn the_undamaged_inputs_read_fully() {
    let stix = import_text("s", STIX, Format::Stix, &Mapping::default()).unwrap();
    assert_eq!(stix.indicators.len(), 3);
    assert_eq!(stix.rejected.len(), 2);
    assert_eq!(stix.other.values().sum::<usize>(), 2);
    let misp = import_text("m", MISP, Format::Misp, &Mapping::default()).unwrap();
    assert_eq!(misp.indicators.len(), 5);
    assert_eq!(misp.rejected.len(), 1);
    let csv = import_text("c", CSV, Format::Csv, &Mapping::default()).unwrap();
    assert_eq!(csv.indicators.len(), 2);
    assert_eq!(csv.indicators[1].tags, vec!["Qakbot, \"x\"", "offline"]);
    let list = import_text("l", LIST, Format::List, &Mapping::default()).unwrap();
    assert_eq!((list.indicators.len(), list.rejected.len()), (5, 1));
}
