//! What an action acts on, checked and written one way: an address is an address (no network, no
//! extra text), a domain a domain, a hash hexadecimal. A value from a log that is not one is refused
//! before any guard or connector sees it.

use std::fmt;
use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use crate::RespondError;

/// The kinds of thing an action can act on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TargetKind {
    Ip,
    Domain,
    User,
    Host,
    Hash,
    Url,
}

impl TargetKind {
    pub const ALL: [TargetKind; 6] = [
        TargetKind::Ip,
        TargetKind::Domain,
        TargetKind::User,
        TargetKind::Host,
        TargetKind::Hash,
        TargetKind::Url,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            TargetKind::Ip => "ip",
            TargetKind::Domain => "domain",
            TargetKind::User => "user",
            TargetKind::Host => "host",
            TargetKind::Hash => "hash",
            TargetKind::Url => "url",
        }
    }

    pub fn parse(text: &str) -> Option<TargetKind> {
        TargetKind::ALL
            .into_iter()
            .find(|k| k.as_str().eq_ignore_ascii_case(text.trim()))
    }
}

impl fmt::Display for TargetKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

/// A checked target: its kind and its value in the one spelling it is compared and sent in.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Target {
    pub kind: TargetKind,
    pub value: String,
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.kind, self.value)
    }
}

const MAX_LEN: usize = 2048;

impl Target {
    /// Checks `raw` as a target of `kind` and writes it the one way (`::FFFF:1.2.3.4` stays an IPv6
    /// address; domains and hashes in lower case, a domain's final dot dropped).
    pub fn parse(kind: TargetKind, raw: &str) -> Result<Target, RespondError> {
        let bad = |reason: String| RespondError::Target {
            kind: kind.as_str(),
            reason,
        };
        let text = raw.trim();
        if text.is_empty() {
            return Err(bad("empty".into()));
        }
        if text.len() > MAX_LEN {
            return Err(bad(format!("{} bytes (at most {MAX_LEN})", text.len())));
        }
        if text.chars().any(char::is_control) {
            return Err(bad("holds control characters".into()));
        }
        let value = match kind {
            TargetKind::Ip => text
                .parse::<IpAddr>()
                .map_err(|_| bad(format!("{:?} is not an IP address", excerpt(text))))?
                .to_string(),
            TargetKind::Domain => {
                let name = text.trim_end_matches('.').to_ascii_lowercase();
                check_name(&name).map_err(bad)?;
                if !name.contains('.') {
                    return Err(bad(format!("{:?} has no dot", excerpt(text))));
                }
                if name.parse::<IpAddr>().is_ok() {
                    return Err(bad(format!("{:?} is an address", excerpt(text))));
                }
                name
            }
            TargetKind::Host => {
                let name = text.trim_end_matches('.').to_string();
                check_name(&name.to_ascii_lowercase()).map_err(bad)?;
                name
            }
            TargetKind::User => {
                if text.len() > 256 {
                    return Err(bad("longer than 256 bytes".into()));
                }
                if text.chars().any(char::is_whitespace) {
                    return Err(bad(format!("{:?} holds white space", excerpt(text))));
                }
                text.to_string()
            }
            TargetKind::Hash => {
                let hex = text.to_ascii_lowercase();
                if !matches!(hex.len(), 32 | 40 | 64) || !hex.bytes().all(|b| b.is_ascii_hexdigit())
                {
                    return Err(bad(format!(
                        "{:?} is not an MD5, SHA-1 or SHA-256 in hexadecimal",
                        excerpt(text)
                    )));
                }
                hex
            }
            TargetKind::Url => {
                let lower = text.to_ascii_lowercase();
                if !(lower.starts_with("http://") || lower.starts_with("https://")) {
                    return Err(bad(format!(
                        "{:?} is not an http:// or https:// URL",
                        excerpt(text)
                    )));
                }
                if text.chars().any(char::is_whitespace) {
                    return Err(bad(format!("{:?} holds white space", excerpt(text))));
                }
                text.to_string()
            }
        };
        Ok(Target { kind, value })
    }

    /// The address, for an IP target.
    pub fn ip(&self) -> Option<IpAddr> {
        match self.kind {
            TargetKind::Ip => self.value.parse().ok(),
            _ => None,
        }
    }
}

/// Letters, digits, `-`, `_` and dots between labels of at most 63 bytes; 253 bytes in all.
fn check_name(name: &str) -> Result<(), String> {
    if name.len() > 253 {
        return Err("a name longer than 253 bytes".into());
    }
    for label in name.split('.') {
        if label.is_empty() || label.len() > 63 {
            return Err(format!("{:?}: labels of 1 to 63 bytes", excerpt(name)));
        }
        if !label
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(format!(
                "{:?}: letters, digits, '-' and '_' only",
                excerpt(name)
            ));
        }
        if label.starts_with('-') {
            return Err(format!("{:?}: a label starts with '-'", excerpt(name)));
        }
    }
    Ok(())
}

/// The first 80 characters, for messages.
pub(crate) fn excerpt(text: &str) -> String {
    text.chars().take(80).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_are_checked_and_written_one_way() {
        let ip = Target::parse(TargetKind::Ip, " 185.220.101.47 ").unwrap();
        assert_eq!(ip.value, "185.220.101.47");
        assert_eq!(
            Target::parse(TargetKind::Ip, "2001:DB8::1").unwrap().value,
            "2001:db8::1"
        );
        for bad in ["10.0.0.0/8", "1.2.3.4; rm -rf /", "", "1.2.3.4\n5.6.7.8"] {
            assert!(Target::parse(TargetKind::Ip, bad).is_err(), "{bad:?}");
        }
        assert_eq!(
            Target::parse(TargetKind::Domain, "Evil.Example.")
                .unwrap()
                .value,
            "evil.example"
        );
        for bad in [
            "evil",
            "-x.example",
            "a b.example",
            "x.example;id",
            "1.2.3.4",
        ] {
            assert!(Target::parse(TargetKind::Domain, bad).is_err(), "{bad:?}");
        }
        assert!(Target::parse(TargetKind::User, "bob smith").is_err());
        assert!(Target::parse(TargetKind::Hash, "abc").is_err());
        assert!(Target::parse(TargetKind::Url, "javascript:alert(1)").is_err());
        assert!(Target::parse(TargetKind::Host, "web-01.corp").is_ok());
    }
}
