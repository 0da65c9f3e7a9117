//! Host and user names as logs write them, brought to one form.
//!
//! Hosts: case does not matter, a trailing dot does not either, and a NetBIOS name (`WS-0042`) is the
//! first label of the FQDN (`ws-0042.corp.example`); a host the inventory does not know is named by
//! that first label, so both spellings are one host. Addresses are never names.
//!
//! Users: `CORP\alice` (SAM, down-level logon name), `alice@corp.example` (UPN) and `alice` are three
//! spellings that may or may not be one person: only the inventory joins them. Each is kept in its own
//! normal form (lower case, domain as written), so the same spelling always meets itself.

use std::net::IpAddr;

/// A host name in normal form: lower case, no trailing dot, no leading `\\`.
pub fn host(name: &str) -> String {
    name.trim()
        .trim_start_matches('\\')
        .trim_end_matches('.')
        .to_ascii_lowercase()
}

/// The first label of a name already in normal form (`ws-0042` of `ws-0042.corp.example`); an
/// address, or a name whose first label is empty, is kept whole.
pub fn first_label(full: &str) -> &str {
    if full.parse::<IpAddr>().is_ok() {
        return full;
    }
    match full.split_once('.') {
        Some((first, _)) if !first.is_empty() => first,
        _ => full,
    }
}

/// The first label of a host name, in normal form (see [`first_label`]).
pub fn short_host(name: &str) -> String {
    first_label(&host(name)).to_string()
}

/// A host name in normal form when it is worth resolving: not empty, not `-`, not an address, not
/// localhost.
pub fn resolvable_host(name: &str) -> Option<String> {
    let n = host(name);
    (!(n.is_empty() || n == "-" || n == "localhost" || n.parse::<IpAddr>().is_ok())).then_some(n)
}

/// Whether a host name is worth resolving ([`resolvable_host`]).
pub fn is_host_name(name: &str) -> bool {
    resolvable_host(name).is_some()
}

/// A user name as a log spells it: the name and, when the spelling carries one, the domain.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct UserName {
    pub name: String,
    pub domain: Option<String>,
    pub form: UserForm,
}

/// Which spelling a user name came in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum UserForm {
    /// `alice`
    Bare,
    /// `CORP\alice`
    Sam,
    /// `alice@corp.example`
    Upn,
}

impl UserName {
    /// Parses `CORP\alice`, `alice@corp.example` or `alice`; `None` for nothing worth a user (empty,
    /// `-`).
    pub fn parse(text: &str) -> Option<UserName> {
        let text = text.trim();
        if text.is_empty() || text == "-" {
            return None;
        }
        let lower = |s: &str| s.trim().to_ascii_lowercase();
        if let Some((domain, name)) = text.split_once('\\') {
            if !name.is_empty() {
                return Some(UserName {
                    name: lower(name),
                    domain: (!domain.is_empty()).then(|| lower(domain)),
                    form: UserForm::Sam,
                });
            }
        }
        if let Some((name, domain)) = text.rsplit_once('@') {
            if !name.is_empty() && !domain.is_empty() {
                return Some(UserName {
                    name: lower(name),
                    domain: Some(lower(domain)),
                    form: UserForm::Upn,
                });
            }
        }
        Some(UserName {
            name: lower(text),
            domain: None,
            form: UserForm::Bare,
        })
    }

    /// From ECS's two fields (`user.name` and `user.domain`, as Windows events split them): the
    /// name's own spelling when it has a domain, else `DOMAIN\name` when a domain is given.
    pub fn from_parts(name: &str, domain: Option<&str>) -> Option<UserName> {
        let parsed = UserName::parse(name)?;
        match (parsed.form, domain.map(str::trim)) {
            (UserForm::Bare, Some(d)) if !d.is_empty() && d != "-" => {
                UserName::parse(&format!("{d}\\{name}"))
            }
            _ => Some(parsed),
        }
    }

    /// The normal form: `corp\alice`, `alice@corp.example` or `alice`.
    pub fn key(&self) -> String {
        match (&self.form, &self.domain) {
            // Windows writes one domain as NetBIOS (`CORP`) or DNS (`CORP.EXAMPLE`, Kerberos logons):
            // a SAM name keeps the first label, as host names do.
            (UserForm::Sam, Some(d)) => format!("{}\\{}", first_label(d), self.name),
            (UserForm::Upn, Some(d)) => format!("{}@{d}", self.name),
            _ => self.name.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn netbios_and_fqdn_share_their_first_label() {
        assert_eq!(short_host("WS-0042"), "ws-0042");
        assert_eq!(short_host("ws-0042.Corp.Example."), "ws-0042");
        assert_eq!(host("\\\\FILESRV01"), "filesrv01");
        assert_eq!(short_host("10.0.0.5"), "10.0.0.5");
        assert!(!is_host_name("-") && !is_host_name("::1") && is_host_name("WS-0042"));
    }

    #[test]
    fn user_spellings_keep_their_form() {
        let sam = UserName::parse("CORP\\Alice").unwrap();
        assert_eq!(
            (sam.key(), sam.form),
            ("corp\\alice".to_string(), UserForm::Sam)
        );
        let kerberos = UserName::from_parts("Alice", Some("CORP.EXAMPLE")).unwrap();
        assert_eq!(kerberos.key(), "corp\\alice");
        let upn = UserName::parse("alice@Corp.Example").unwrap();
        assert_eq!(upn.key(), "alice@corp.example");
        assert_eq!(UserName::parse("alice").unwrap().key(), "alice");
        assert_eq!(UserName::parse("-"), None);
        assert_eq!(
            UserName::from_parts("alice", Some("CORP")).unwrap().key(),
            "corp\\alice"
        );
        assert_eq!(
            UserName::from_parts("alice@corp.example", Some("CORP"))
                .unwrap()
                .key(),
            "alice@corp.example"
        );
    }
}
