//! Observables: typed values (MISP type names), normalized so the same thing is stored once
//! (canonical addresses, lower-cased names and hashes, refanged URLs), and the ones an alert carries.

use secops_alert::AlertDocument;
use secops_intel::Kind;

use crate::CaseError;

/// The kinds of observable, with MISP's names, and whether they are indicators of the adversary (as
/// opposed to our own users and hosts, which are observables but not IoCs).
pub const KINDS: &[(&str, bool)] = &[
    ("ip-src", true),
    ("ip-dst", true),
    ("domain", true),
    ("hostname", true),
    ("url", true),
    ("md5", true),
    ("sha1", true),
    ("sha256", true),
    ("email-src", true),
    ("user-agent", true),
    ("filename", true),
    ("target-user", false),
    ("target-machine", false),
    ("vulnerability", false),
];

/// Whether values of this kind are indicators by default.
pub fn is_ioc_kind(kind: &str) -> bool {
    KINDS.iter().any(|(k, ioc)| *k == kind && *ioc)
}

/// The value in its one stored form, or why it is not a value of that kind. Indicator kinds take the
/// intel crate's normal forms (so an observable and an indicator of the same value agree); names of
/// our own users, hosts and files are kept as written.
pub fn normalize(kind: &str, value: &str) -> Result<String, CaseError> {
    let intel_kind = match kind {
        "ip-src" | "ip-dst" => Some(Kind::Ip),
        "domain" => Some(Kind::Domain),
        "hostname" => Some(Kind::Hostname),
        "url" => Some(Kind::Url),
        "md5" => Some(Kind::Md5),
        "sha1" => Some(Kind::Sha1),
        "sha256" => Some(Kind::Sha256),
        "email-src" => Some(Kind::Email),
        "user-agent" | "filename" | "target-user" | "target-machine" => None,
        // A CVE or advisory id (MISP `vulnerability`), in its usual upper case.
        "vulnerability" => {
            let id = value.trim().to_ascii_uppercase();
            if id.is_empty() || id.contains(char::is_whitespace) {
                return Err(CaseError::Invalid(format!(
                    "observable vulnerability: {value:?} is not an id (CVE-2021-44228)"
                )));
            }
            return Ok(id);
        }
        other => {
            return Err(CaseError::Invalid(format!(
                "unknown observable kind {other:?}; use one of {}",
                KINDS.iter().map(|(k, _)| *k).collect::<Vec<_>>().join(", ")
            )))
        }
    };
    let trimmed = value.trim();
    match intel_kind {
        Some(k) => secops_intel::normalize(k, trimmed)
            .map_err(|e| CaseError::Invalid(format!("observable {kind}: {e}"))),
        None if trimmed.is_empty() => Err(CaseError::Invalid(format!("observable {kind}: empty"))),
        None => Ok(trimmed.to_string()),
    }
}

/// The fields of an alert document (ECS, as `detect` writes alerts) that name observables.
const ALERT_FIELDS: &[(&str, &str)] = &[
    ("source.ip", "ip-src"),
    ("client.ip", "ip-src"),
    ("destination.ip", "ip-dst"),
    ("server.ip", "ip-dst"),
    ("dns.question.name", "domain"),
    ("url.domain", "domain"),
    ("url.full", "url"),
    ("url.original", "url"),
    ("file.hash.md5", "md5"),
    ("file.hash.sha1", "sha1"),
    ("file.hash.sha256", "sha256"),
    ("process.hash.sha256", "sha256"),
    ("email.from.address", "email-src"),
    ("user_agent.original", "user-agent"),
    ("file.name", "filename"),
    ("user.name", "target-user"),
    ("user.target.name", "target-user"),
    ("host.name", "target-machine"),
];

/// The observables in an alert document: its group values and its events' fields, normalized and
/// without repeats (values that do not normalize are left out: a URL field holding a bare path).
pub fn from_alert(document: &AlertDocument) -> Vec<(String, String)> {
    let mut found: Vec<(String, String)> = Vec::new();
    for (field, text) in document.fields() {
        let Some((_, kind)) = ALERT_FIELDS.iter().find(|(f, _)| *f == field) else {
            continue;
        };
        if let Ok(value) = normalize(kind, &text) {
            let pair = (kind.to_string(), value);
            if !found.contains(&pair) {
                found.push(pair);
            }
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_normalize_to_one_form() {
        assert_eq!(normalize("ip-src", " 203.0.113.7 ").unwrap(), "203.0.113.7");
        assert_eq!(normalize("ip-dst", "2001:DB8::0:1").unwrap(), "2001:db8::1");
        assert_eq!(normalize("ip-src", "203[.]0.113.7").unwrap(), "203.0.113.7");
        assert_eq!(
            normalize("domain", "Evil.Example.COM.").unwrap(),
            "evil.example.com"
        );
        assert_eq!(
            normalize("url", "hxxp://Evil[.]Example.com/Path?A=1").unwrap(),
            "http://evil.example.com/Path?A=1"
        );
        assert_eq!(
            normalize("sha256", &"AB".repeat(32)).unwrap(),
            "ab".repeat(32)
        );
        assert!(normalize("md5", "xyz").is_err());
        assert!(normalize("ip-src", "not-an-ip")
            .unwrap_err()
            .to_string()
            .contains("not an IP"));
        assert!(normalize("colour", "red")
            .unwrap_err()
            .to_string()
            .contains("unknown observable kind"));
    }

    #[test]
    fn alerts_give_their_observables() {
        let doc = serde_json::json!({
            "@timestamp": "2024-05-14T09:21:13Z", "alert.id": "a1", "alert.first": "2024-05-14T09:21:13Z",
            "rule.id": "r1", "rule.name": "Brute force",
            "source.ip": "203.0.113.7",
            "events": [
                {"source.ip": "203.0.113.7", "user.name": "root", "host.name": "bastion",
                 "url.original": "/index.php"},
                {"user.name": "admin"}
            ]
        });
        let doc = AlertDocument::parse(&doc.to_string()).unwrap_or_else(|e| panic!("{e}"));
        let found = from_alert(&doc);
        assert_eq!(
            found,
            vec![
                ("ip-src".to_string(), "203.0.113.7".to_string()),
                ("target-user".to_string(), "root".to_string()),
                ("target-machine".to_string(), "bastion".to_string()),
                ("target-user".to_string(), "admin".to_string()),
            ]
        );
        assert!(is_ioc_kind("ip-src") && !is_ioc_kind("target-user"));
    }
}
