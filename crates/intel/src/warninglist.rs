//! MISP warninglists (`lists/<name>/list.json`): well-known values that are not indicators of anyone's
//! attack: public resolvers, cloud ranges, private networks, popular domains, hashes of empty files.
//! Applied at import (an indicator a list covers is kept, flagged and not matched) and at match time
//! (an event value a list covers never alerts).
//!
//! | type | a value is covered when |
//! | --- | --- |
//! | `cidr` | the address lies in a listed network (or is a listed address) |
//! | `string` | it equals an entry, case aside |
//! | `hostname` | it is an entry or a name under one (entries may start with `.`) |
//! | `substring` | it contains an entry |
//! | `regex` | lists of this type are refused (patterns in another dialect): named in the load report |
//!
//! A list applies only to the kinds its `matching_attributes` name; for URLs, host-name lists test the
//! URL's host.

use std::collections::HashSet;
use std::net::IpAddr;
use std::path::Path;

use serde::Deserialize;

use crate::index::{parse_network, Networks};
use crate::kind::Kind;
use crate::IntelError;

#[derive(Debug, Deserialize)]
struct ListFile {
    name: String,
    #[serde(default)]
    version: serde_json::Value,
    #[serde(rename = "type")]
    list_type: String,
    #[serde(default)]
    matching_attributes: Vec<String>,
    list: Vec<String>,
}

#[derive(Debug)]
enum Entries {
    Networks(Networks<()>),
    Strings(HashSet<String>),
    Hostnames(HashSet<String>),
    Substrings(Vec<String>),
}

/// One warninglist.
#[derive(Debug)]
pub struct Warninglist {
    pub name: String,
    pub version: String,
    kinds: Vec<Kind>,
    entries: Entries,
    pub size: usize,
}

/// A value a list covers: which list and version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hit {
    pub list: String,
    pub version: String,
}

impl Warninglist {
    /// Reads one `list.json`; `file` names it in errors.
    pub fn parse(file: &str, text: &str) -> Result<Warninglist, IntelError> {
        let bad = |message: String| IntelError::Source {
            origin: file.to_string(),
            message,
        };
        let parsed: ListFile = serde_json::from_str(text).map_err(|e| bad(e.to_string()))?;
        let kinds: Vec<Kind> = Kind::ALL
            .into_iter()
            .filter(|k| {
                parsed.matching_attributes.is_empty()
                    || k.misp_types()
                        .iter()
                        .any(|t| parsed.matching_attributes.iter().any(|m| m == t))
            })
            .collect();
        let lower = |s: &String| s.trim().trim_end_matches('.').to_lowercase();
        let entries = match parsed.list_type.as_str() {
            "cidr" => {
                let mut networks = Networks::default();
                for entry in &parsed.list {
                    let (ip, bits) = parse_network(entry)
                        .ok_or_else(|| bad(format!("{entry:?} is not an address or network")))?;
                    networks.insert(ip, bits, ());
                }
                Entries::Networks(networks)
            }
            "string" => Entries::Strings(parsed.list.iter().map(lower).collect()),
            "hostname" => Entries::Hostnames(
                parsed
                    .list
                    .iter()
                    .map(|e| lower(e).trim_start_matches('.').to_string())
                    .collect(),
            ),
            "substring" => Entries::Substrings(parsed.list.iter().map(lower).collect()),
            other => {
                return Err(bad(format!(
                    "list type {other:?} is not supported (cidr, string, hostname, substring)"
                )))
            }
        };
        let version = match parsed.version {
            serde_json::Value::String(s) => s,
            serde_json::Value::Null => String::new(),
            other => other.to_string(),
        };
        Ok(Warninglist {
            name: parsed.name,
            version,
            kinds,
            size: parsed.list.len(),
            entries,
        })
    }

    /// Whether the list covers a value of this kind (the value in its normal form).
    /// The list's MISP type: `cidr`, `string`, `hostname` or `substring`.
    pub fn list_type(&self) -> &'static str {
        match self.entries {
            Entries::Networks(_) => "cidr",
            Entries::Strings(_) => "string",
            Entries::Hostnames(_) => "hostname",
            Entries::Substrings(_) => "substring",
        }
    }

    pub fn covers(&self, kind: Kind, value: &str) -> bool {
        if !self.kinds.contains(&kind) {
            return false;
        }
        let text = match kind {
            // Host-name and string lists judge a URL by its host.
            Kind::Url if !matches!(self.entries, Entries::Substrings(_)) => host_of(value),
            _ => value.to_lowercase(),
        };
        match &self.entries {
            Entries::Networks(networks) => {
                let address = text.split('/').next().unwrap_or("");
                address
                    .parse::<IpAddr>()
                    .ok()
                    .is_some_and(|ip| networks.find(ip).is_some())
            }
            Entries::Strings(set) => set.contains(text.trim_end_matches('.')),
            Entries::Hostnames(set) => {
                let mut name = text.trim_end_matches('.');
                loop {
                    if set.contains(name) {
                        return true;
                    }
                    match name.split_once('.') {
                        Some((_, parent)) => name = parent,
                        None => return false,
                    }
                }
            }
            Entries::Substrings(parts) => parts.iter().any(|p| text.contains(p.as_str())),
        }
    }
}

fn host_of(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let end = rest.find(['/', '?', '#', ':']).unwrap_or(rest.len());
    rest[..end].to_lowercase()
}

/// The warninglists in force.
#[derive(Debug, Default)]
pub struct Warninglists {
    pub lists: Vec<Warninglist>,
}

/// What loading a folder of lists did: lists loaded, and files refused with the reason.
#[derive(Debug, Default)]
pub struct LoadReport {
    pub loaded: Vec<(String, usize)>,
    pub refused: Vec<(String, String)>,
}

impl Warninglists {
    /// Every `list.json` below `dir` (one folder per list, as MISP keeps them), or one file.
    pub fn load(dir: &Path) -> Result<(Warninglists, LoadReport), IntelError> {
        let mut files = Vec::new();
        collect(dir, &mut files).map_err(|e| IntelError::Source {
            origin: dir.display().to_string(),
            message: e.to_string(),
        })?;
        files.sort();
        let mut lists = Warninglists::default();
        let mut report = LoadReport::default();
        for file in files {
            let name = file.display().to_string();
            let text = match std::fs::read_to_string(&file) {
                Ok(t) => t,
                Err(e) => {
                    report.refused.push((name, e.to_string()));
                    continue;
                }
            };
            match Warninglist::parse(&name, &text) {
                Ok(list) => {
                    report.loaded.push((list.name.clone(), list.size));
                    lists.lists.push(list);
                }
                Err(e) => report.refused.push((name, e.to_string())),
            }
        }
        Ok((lists, report))
    }

    /// The lists that cover the value (normalized) of this kind.
    pub fn hits(&self, kind: Kind, value: &str) -> Vec<Hit> {
        self.lists
            .iter()
            .filter(|l| l.covers(kind, value))
            .map(|l| Hit {
                list: l.name.clone(),
                version: l.version.clone(),
            })
            .collect()
    }
}

fn collect(path: &Path, out: &mut Vec<std::path::PathBuf>) -> std::io::Result<()> {
    if path.is_file() {
        out.push(path.to_path_buf());
        return Ok(());
    }
    for entry in std::fs::read_dir(path)? {
        let path = entry?.path();
        if path.is_dir() {
            collect(&path, out)?;
        } else if path.file_name().is_some_and(|n| n == "list.json") {
            out.push(path);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(list_type: &str, attributes: &[&str], entries: &[&str]) -> Warninglist {
        let text = serde_json::json!({
            "name": "test", "version": 3, "description": "", "type": list_type,
            "matching_attributes": attributes, "list": entries,
        })
        .to_string();
        Warninglist::parse("test.json", &text).unwrap()
    }

    #[test]
    fn each_list_type_covers_what_it_should() {
        let cidr = list(
            "cidr",
            &["ip-src", "ip-dst"],
            &["8.8.8.8", "10.0.0.0/8", "2001:4860::/32"],
        );
        assert!(cidr.covers(Kind::Ip, "8.8.8.8"));
        assert!(cidr.covers(Kind::Ip, "10.200.1.1"));
        assert!(cidr.covers(Kind::Ip, "2001:4860::8888"));
        assert!(cidr.covers(Kind::Ip, "10.1.0.0/16"));
        assert!(!cidr.covers(Kind::Ip, "8.8.4.4"));
        assert!(
            !cidr.covers(Kind::Domain, "8.8.8.8"),
            "only the kinds it names"
        );
        let hosts = list(
            "hostname",
            &["domain", "hostname", "url"],
            &["bit.ly", ".duckdns.org"],
        );
        assert!(hosts.covers(Kind::Domain, "bit.ly"));
        assert!(hosts.covers(Kind::Domain, "x.duckdns.org"));
        assert!(hosts.covers(Kind::Url, "https://bit.ly/abc"));
        assert!(!hosts.covers(Kind::Domain, "notbit.ly"));
        let strings = list("string", &["md5"], &["D41D8CD98F00B204E9800998ECF8427E"]);
        assert!(strings.covers(Kind::Md5, "d41d8cd98f00b204e9800998ecf8427e"));
        let parts = list("substring", &["url"], &["/wp-admin/"]);
        assert!(parts.covers(Kind::Url, "http://x.example/wp-admin/x"));
        let e = Warninglist::parse("r.json", r#"{"name":"r","type":"regex","list":["a+"]}"#)
            .unwrap_err();
        assert!(
            e.to_string().contains("r.json") && e.to_string().contains("regex"),
            "{e}"
        );
    }
}
