//! Indicator kinds and their one stored form: canonical addresses and networks, lower-cased names and
//! hashes, URLs with lower-cased scheme and host; defanged input (`hxxp`, `[.]`, `[at]`) is refanged.

use std::net::IpAddr;

use crate::IntelError;

/// What an indicator's value is.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub enum Kind {
    /// An address or a network (`203.0.113.7`, `223.166.0.0/15`).
    Ip,
    /// A domain: it and every name under it.
    Domain,
    /// One host name, exactly.
    Hostname,
    Url,
    Md5,
    Sha1,
    Sha256,
    Email,
}

impl Kind {
    pub const ALL: [Kind; 8] = [
        Kind::Ip,
        Kind::Domain,
        Kind::Hostname,
        Kind::Url,
        Kind::Md5,
        Kind::Sha1,
        Kind::Sha256,
        Kind::Email,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Ip => "ip",
            Kind::Domain => "domain",
            Kind::Hostname => "hostname",
            Kind::Url => "url",
            Kind::Md5 => "md5",
            Kind::Sha1 => "sha1",
            Kind::Sha256 => "sha256",
            Kind::Email => "email",
        }
    }

    pub fn parse(text: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.as_str() == text)
    }

    /// The ECS field under `threat.indicator` that `threat_match` rules name for this kind.
    pub fn indicator_field(self) -> &'static str {
        match self {
            Kind::Ip => "threat.indicator.ip",
            Kind::Domain | Kind::Hostname => "threat.indicator.url.domain",
            Kind::Url => "threat.indicator.url.full",
            Kind::Md5 => "threat.indicator.file.hash.md5",
            Kind::Sha1 => "threat.indicator.file.hash.sha1",
            Kind::Sha256 => "threat.indicator.file.hash.sha256",
            Kind::Email => "threat.indicator.email.address",
        }
    }

    /// The MISP attribute types whose values are of this kind (for warninglists'
    /// `matching_attributes`).
    pub fn misp_types(self) -> &'static [&'static str] {
        match self {
            Kind::Ip => &[
                "ip-src",
                "ip-dst",
                "ip-src|port",
                "ip-dst|port",
                "domain|ip",
            ],
            Kind::Domain => &["domain", "domain|ip", "hostname"],
            Kind::Hostname => &["hostname", "domain", "hostname|port"],
            Kind::Url => &["url", "uri", "link"],
            Kind::Md5 => &["md5", "filename|md5"],
            Kind::Sha1 => &["sha1", "filename|sha1"],
            Kind::Sha256 => &["sha256", "filename|sha256"],
            Kind::Email => &["email", "email-src", "email-dst"],
        }
    }
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The value in its stored form, or why it is not a value of that kind.
pub fn normalize(kind: Kind, value: &str) -> Result<String, IntelError> {
    let invalid = |why: &str| IntelError::Value {
        kind,
        value: value.chars().take(200).collect(),
        reason: why.to_string(),
    };
    let text = refang(value.trim());
    if text.is_empty() {
        return Err(invalid("empty"));
    }
    match kind {
        Kind::Ip => normalize_ip(&text).ok_or_else(|| invalid("not an IP address or network")),
        Kind::Domain | Kind::Hostname => {
            let name = text.trim_end_matches('.').to_lowercase();
            let labels_ok = name.split('.').all(|l| {
                !l.is_empty()
                    && l.len() <= 63
                    && l.chars()
                        .all(|c| c.is_alphanumeric() || c == '-' || c == '_')
            });
            if name.len() <= 253
                && labels_ok
                && name.contains('.')
                && name.parse::<IpAddr>().is_err()
            {
                Ok(name)
            } else {
                Err(invalid("not a DNS name"))
            }
        }
        Kind::Url => {
            let (scheme, rest) = text
                .split_once("://")
                .filter(|(s, r)| !s.is_empty() && !r.is_empty())
                .ok_or_else(|| invalid("not a URL (scheme://host/...)"))?;
            let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
            let (host, path) = rest.split_at(end);
            let scheme = scheme.to_lowercase();
            let mut host = host.to_lowercase();
            for (s, port) in [("http", ":80"), ("https", ":443")] {
                if scheme == s {
                    if let Some(h) = host.strip_suffix(port) {
                        host = h.to_string();
                    }
                }
            }
            Ok(format!("{scheme}://{host}{path}"))
        }
        Kind::Md5 | Kind::Sha1 | Kind::Sha256 => {
            let want = match kind {
                Kind::Md5 => 32,
                Kind::Sha1 => 40,
                _ => 64,
            };
            let hash = text.to_lowercase();
            if hash.len() == want && hash.bytes().all(|b| b.is_ascii_hexdigit()) {
                Ok(hash)
            } else {
                Err(invalid(&format!("not {want} hexadecimal digits")))
            }
        }
        Kind::Email => match text.rsplit_once('@') {
            Some((local, domain)) if !local.is_empty() && domain.contains('.') => {
                Ok(format!("{local}@{}", domain.to_lowercase()))
            }
            _ => Err(invalid("not an e-mail address")),
        },
    }
}

/// An address in canonical text (`::ffff:a.b.c.d` as IPv4), or a network as its address with the host
/// bits cleared and its prefix length.
fn normalize_ip(text: &str) -> Option<String> {
    let bare = text.trim_start_matches('[').trim_end_matches(']');
    let (address, prefix) = match bare.split_once('/') {
        Some((a, p)) => (a, Some(p.parse::<u8>().ok()?)),
        None => (bare, None),
    };
    let ip: IpAddr = address.parse().ok()?;
    let ip = match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    };
    match prefix {
        None => Some(ip.to_string()),
        Some(bits) => {
            let (lo, _) = crate::index::range_of(ip, bits)?;
            let max = if ip.is_ipv4() { 32 } else { 128 };
            if bits == max {
                return Some(ip.to_string());
            }
            let network = crate::index::ip_of(lo, ip.is_ipv4());
            Some(format!("{network}/{bits}"))
        }
    }
}

/// Undoes the usual defanging (`hxxp://`, `[.]`, `(.)`, `{.}`, `[dot]`, `[:]`, `[at]`, `[@]`); only
/// those bracket forms are touched.
pub fn refang(value: &str) -> String {
    let mut out = value
        .replace("[.]", ".")
        .replace("(.)", ".")
        .replace("{.}", ".")
        .replace("[dot]", ".")
        .replace("[://]", "://")
        .replace("[:]", ":")
        .replace("[at]", "@")
        .replace("[@]", "@");
    let lower = out.to_lowercase();
    for (defanged, scheme) in [("hxxps://", "https://"), ("hxxp://", "http://")] {
        if lower.starts_with(defanged) {
            out = format!("{scheme}{}", &out[defanged.len()..]);
        }
    }
    out
}

/// Makes a value unclickable for reports and messages (`hxxp://evil[.]example`).
pub fn defang(value: &str) -> String {
    let out = value.replace('.', "[.]");
    for (scheme, defanged) in [("https://", "hxxps://"), ("http://", "hxxp://")] {
        if let Some(rest) = out.strip_prefix(scheme) {
            return format!("{defanged}{rest}");
        }
    }
    out
}

/// The kind a bare value most likely is (plain lists): address or network, hash by length, URL,
/// e-mail, else a domain.
pub fn guess(value: &str) -> Option<Kind> {
    let text = refang(value.trim());
    if normalize_ip(&text).is_some() {
        return Some(Kind::Ip);
    }
    if text.contains("://") {
        return Some(Kind::Url);
    }
    if text.contains('@') {
        return Some(Kind::Email);
    }
    if text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return match text.len() {
            32 => Some(Kind::Md5),
            40 => Some(Kind::Sha1),
            64 => Some(Kind::Sha256),
            _ => None,
        };
    }
    normalize(Kind::Domain, &text).ok().map(|_| Kind::Domain)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_take_one_form() {
        assert_eq!(normalize(Kind::Ip, " 203.0.113.7 ").unwrap(), "203.0.113.7");
        assert_eq!(normalize(Kind::Ip, "203[.]0.113.7").unwrap(), "203.0.113.7");
        assert_eq!(
            normalize(Kind::Ip, "::ffff:198.51.100.4").unwrap(),
            "198.51.100.4"
        );
        assert_eq!(normalize(Kind::Ip, "2001:DB8::0:1").unwrap(), "2001:db8::1");
        assert_eq!(
            normalize(Kind::Ip, "223.166.12.9/15").unwrap(),
            "223.166.0.0/15"
        );
        assert_eq!(normalize(Kind::Ip, "10.0.0.1/32").unwrap(), "10.0.0.1");
        assert!(normalize(Kind::Ip, "10.0.0.0/33").is_err());
        assert_eq!(
            normalize(Kind::Domain, "Evil.Example.COM.").unwrap(),
            "evil.example.com"
        );
        assert!(normalize(Kind::Domain, "localhost").is_err());
        assert!(normalize(Kind::Domain, "198.51.100.1").is_err());
        assert_eq!(
            normalize(Kind::Url, "hxxp://Evil[.]Example.com:80/Path?A=1").unwrap(),
            "http://evil.example.com/Path?A=1"
        );
        assert_eq!(
            normalize(Kind::Sha256, &"AB".repeat(32)).unwrap(),
            "ab".repeat(32)
        );
        assert!(normalize(Kind::Md5, "xyz")
            .unwrap_err()
            .to_string()
            .contains("32 hexadecimal"));
        assert_eq!(
            normalize(Kind::Email, "Bob[at]Example.ORG").unwrap(),
            "Bob@example.org"
        );
    }

    #[test]
    fn bare_values_are_recognised_and_defanged_for_reports() {
        assert_eq!(guess("203.0.113.0/24"), Some(Kind::Ip));
        assert_eq!(guess("hxxps://a.example/x"), Some(Kind::Url));
        assert_eq!(guess(&"a".repeat(40)), Some(Kind::Sha1));
        assert_eq!(guess("evil[.]example"), Some(Kind::Domain));
        assert_eq!(guess("not a value"), None);
        assert_eq!(
            defang("http://evil.example/a.b"),
            "hxxp://evil[.]example/a[.]b"
        );
    }
}
