//! The asset and identity inventory: hosts, users and networks, the one the whole product reads (entity
//! resolution now; vulnerability ranking and response guardrails later). A TOML file as below, or CSV
//! exports (one kind per file, see `inventory_csv.rs`); several files are read and checked as one.
//!
//! ```toml
//! format = 1
//!
//! [[host]]
//! id = "ws-0042"                                    # canonical id, unique
//! names = ["WS-0042", "ws-0042.corp.example"]       # what logs call it (case-insensitive)
//! addresses = [
//!   { ip = "10.0.0.5", from = "2026-11-01T00:00:00Z", until = "2026-12-01T00:00:00Z" },
//!   { ip = "10.0.9.5" },                            # no window: always
//! ]
//! owner = "alice"
//! criticality = "high"                              # low, medium (default), high, critical
//! exposure = "internal"                             # internal (default), dmz, internet
//! vip = false
//! tags = ["workstation"]
//!
//! [[user]]
//! id = "alice"
//! aliases = ['CORP\alice', "alice@corp.example", "alice"]
//! criticality = "high"
//! vip = true
//!
//! [[network]]
//! name = "dmz"
//! cidr = "192.0.2.0/24"
//! exposure = "dmz"
//! ```
//!
//! Everything is checked when the files are read, and every problem is reported with its file and line:
//! unknown keys, bad addresses, networks or times, a window that ends before it starts, an id used twice, a
//! name or alias claimed by two entities, one address given to two hosts over overlapping windows.

use std::collections::HashMap;
use std::fmt;
use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use crate::names::{self, UserName};

/// How much a host or user matters (weights risk; guards response).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default,
)]
#[serde(rename_all = "lowercase")]
pub enum Criticality {
    Low,
    #[default]
    Medium,
    High,
    Critical,
}

impl Criticality {
    pub fn as_str(self) -> &'static str {
        match self {
            Criticality::Low => "low",
            Criticality::Medium => "medium",
            Criticality::High => "high",
            Criticality::Critical => "critical",
        }
    }
}

/// Where a host or network can be reached from.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default,
)]
#[serde(rename_all = "lowercase")]
pub enum Exposure {
    #[default]
    Internal,
    Dmz,
    Internet,
}

impl Exposure {
    pub fn as_str(self) -> &'static str {
        match self {
            Exposure::Internal => "internal",
            Exposure::Dmz => "dmz",
            Exposure::Internet => "internet",
        }
    }
}

/// A problem in an inventory file, at a line when it has one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct InventoryError {
    pub file: String,
    pub line: Option<usize>,
    pub message: String,
}

impl fmt::Display for InventoryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}:{line}: {}", self.file, self.message),
            None => write!(f, "{}: {}", self.file, self.message),
        }
    }
}

/// An address a host held, over a window (UTC nanoseconds; open ends unbounded).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    pub ip: IpAddr,
    pub from: Option<i64>,
    pub until: Option<i64>,
}

impl Lease {
    fn overlaps(&self, other: &Lease) -> bool {
        let start = self
            .from
            .unwrap_or(i64::MIN)
            .max(other.from.unwrap_or(i64::MIN));
        let end = self
            .until
            .unwrap_or(i64::MAX)
            .min(other.until.unwrap_or(i64::MAX));
        start < end
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Host {
    pub id: String,
    pub names: Vec<String>,
    pub addresses: Vec<Lease>,
    pub owner: Option<String>,
    pub criticality: Criticality,
    pub exposure: Exposure,
    pub vip: bool,
    pub tags: Vec<String>,
    /// Where it is written.
    pub place: Place,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: String,
    pub aliases: Vec<String>,
    pub criticality: Criticality,
    pub vip: bool,
    pub tags: Vec<String>,
    pub place: Place,
}

/// An address block (`10.0.8.0/24`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    bits: u128,
    prefix: u8,
    v4: bool,
}

impl Cidr {
    pub fn parse(text: &str) -> Option<Cidr> {
        let (ip, prefix) = text.trim().split_once('/')?;
        let ip: IpAddr = ip.parse().ok()?;
        let prefix: u8 = prefix.parse().ok()?;
        let (bits, width, v4) = match ip {
            IpAddr::V4(v4) => (u128::from(u32::from(v4)), 32, true),
            IpAddr::V6(v6) => (u128::from(v6), 128, false),
        };
        if prefix > width {
            return None;
        }
        let host_bits = u32::from(width - prefix);
        let mask = if host_bits >= 128 {
            0
        } else {
            !0u128 << host_bits
        };
        Some(Cidr {
            bits: bits & mask,
            prefix,
            v4,
        })
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        let (bits, width, v4) = match ip {
            IpAddr::V4(a) => (u128::from(u32::from(a)), 32u8, true),
            IpAddr::V6(a) => (u128::from(a), 128u8, false),
        };
        if v4 != self.v4 {
            return false;
        }
        let host_bits = u32::from(width - self.prefix);
        let mask = if host_bits >= 128 {
            0
        } else {
            !0u128 << host_bits
        };
        bits & mask == self.bits
    }

    pub fn prefix(&self) -> u8 {
        self.prefix
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Network {
    pub name: String,
    pub cidr: Cidr,
    pub text: String,
    pub exposure: Exposure,
    pub criticality: Criticality,
    pub place: Place,
}

/// A container image or a source repository: what vulnerability scanners name as scanned, with
/// the owner and weights their findings take.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Software {
    /// An image's repository without tag or digest (`registry.example.com/shop/web`), or a
    /// repository's address without scheme or `.git` (`github.com/example/shop`); lower case.
    pub name: String,
    pub owner: Option<String>,
    pub criticality: Criticality,
    pub exposure: Exposure,
    pub place: Place,
}

/// An image reference's repository: the tag (after the last `:` past the last `/`) and the digest
/// (`@sha256:…`) left out, lower case. `alpine:3.10` and `alpine@sha256:…` are both `alpine`.
pub fn image_repository(reference: &str) -> String {
    let name = reference.trim();
    let name = name.split('@').next().unwrap_or(name);
    let slash = name.rfind('/').map_or(0, |i| i + 1);
    let name = match name[slash..].rfind(':') {
        Some(colon) => &name[..slash + colon],
        None => name,
    };
    name.to_ascii_lowercase()
}

/// A repository's address as compared: scheme, user, `.git` and a trailing `/` left out, lower
/// case (`https://github.com/Example/shop.git` and `git@github.com:example/shop` are
/// `github.com/example/shop`).
pub fn repository_name(address: &str) -> String {
    let mut name = address.trim();
    let mut scheme = false;
    if let Some((_, rest)) = name.split_once("://") {
        name = rest;
        scheme = true;
    }
    if let Some((user, rest)) = name.split_once('@') {
        if !user.contains('/') {
            name = rest;
        }
    }
    let name = name.trim_end_matches('/');
    let name = name.strip_suffix(".git").unwrap_or(name);
    // `git@host:owner/repo` (no scheme): the first `:` before any `/` separates host and path;
    // with a scheme it is a port.
    let name = match (name.find(':'), name.find('/')) {
        (Some(colon), Some(slash)) if colon < slash && !scheme => {
            format!("{}/{}", &name[..colon], &name[colon + 1..])
        }
        _ => name.to_string(),
    };
    name.to_ascii_lowercase()
}

/// A whole inventory, checked.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Inventory {
    pub hosts: Vec<Host>,
    pub users: Vec<User>,
    pub networks: Vec<Network>,
    pub images: Vec<Software>,
    pub repositories: Vec<Software>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileDoc {
    format: Option<u32>,
    #[serde(default)]
    host: Vec<HostDoc>,
    #[serde(default)]
    user: Vec<UserDoc>,
    #[serde(default)]
    network: Vec<NetworkDoc>,
    #[serde(default)]
    image: Vec<SoftwareDoc>,
    #[serde(default)]
    repository: Vec<SoftwareDoc>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SoftwareDoc {
    pub(crate) name: String,
    pub(crate) owner: Option<String>,
    #[serde(default)]
    pub(crate) criticality: Criticality,
    #[serde(default)]
    pub(crate) exposure: Exposure,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct HostDoc {
    pub(crate) id: String,
    #[serde(default)]
    pub(crate) names: Vec<String>,
    #[serde(default)]
    pub(crate) addresses: Vec<AddressDoc>,
    pub(crate) owner: Option<String>,
    #[serde(default)]
    pub(crate) criticality: Criticality,
    #[serde(default)]
    pub(crate) exposure: Exposure,
    #[serde(default)]
    pub(crate) vip: bool,
    #[serde(default)]
    pub(crate) tags: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct AddressDoc {
    pub(crate) ip: String,
    pub(crate) from: Option<String>,
    pub(crate) until: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct UserDoc {
    pub(crate) id: String,
    #[serde(default)]
    pub(crate) aliases: Vec<String>,
    #[serde(default)]
    pub(crate) criticality: Criticality,
    #[serde(default)]
    pub(crate) vip: bool,
    #[serde(default)]
    pub(crate) tags: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct NetworkDoc {
    pub(crate) name: String,
    pub(crate) cidr: String,
    #[serde(default)]
    pub(crate) exposure: Exposure,
    #[serde(default)]
    pub(crate) criticality: Criticality,
}

/// The line (1-based) of the `n`-th (0-based) `[[table]]` header, for messages about that entry.
fn entry_lines(text: &str, table: &str) -> Vec<usize> {
    let header = format!("[[{table}]]");
    text.lines()
        .enumerate()
        .filter(|(_, l)| l.trim() == header)
        .map(|(i, _)| i + 1)
        .collect()
}

fn time(text: &str) -> Option<i64> {
    secops_event::Timestamp::parse_rfc3339(text)
        .ok()
        .map(|t| t.unix_nanos())
}

/// Where an entry is written.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Place {
    pub file: String,
    pub line: usize,
}

impl Place {
    /// The file's name without its folders, and the line (`assets.csv:12`), as reports show it.
    pub fn short(&self) -> String {
        let name = std::path::Path::new(&self.file)
            .file_name()
            .map_or_else(|| self.file.clone(), |n| n.to_string_lossy().into_owned());
        format!("{name}:{}", self.line)
    }
}

impl fmt::Display for Place {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.file, self.line)
    }
}

/// The entries of one or more files, read but not yet checked.
#[derive(Debug, Default)]
pub(crate) struct Entries {
    pub(crate) hosts: Vec<(Place, HostDoc)>,
    pub(crate) users: Vec<(Place, UserDoc)>,
    pub(crate) networks: Vec<(Place, NetworkDoc)>,
    pub(crate) images: Vec<(Place, SoftwareDoc)>,
    pub(crate) repositories: Vec<(Place, SoftwareDoc)>,
}

impl Entries {
    fn extend(&mut self, other: Entries) {
        self.hosts.extend(other.hosts);
        self.users.extend(other.users);
        self.networks.extend(other.networks);
        self.images.extend(other.images);
        self.repositories.extend(other.repositories);
    }
}

/// Reads one TOML inventory file into entries.
fn read_toml(file: &str, text: &str) -> Result<Entries, Vec<InventoryError>> {
    let error = |line: Option<usize>, message: String| InventoryError {
        file: file.to_string(),
        line,
        message,
    };
    let doc: FileDoc = toml::from_str(text).map_err(|e| {
        let line = e
            .span()
            .map(|s| text[..s.start.min(text.len())].matches('\n').count() + 1);
        vec![error(line, e.message().to_string())]
    })?;
    if let Some(format) = doc.format {
        if format != 1 {
            return Err(vec![error(
                Some(1),
                format!("format {format}: this program reads format 1"),
            )]);
        }
    }
    let place = |lines: &[usize], n: usize| Place {
        file: file.to_string(),
        line: lines.get(n).copied().unwrap_or(0),
    };
    let (host_lines, user_lines, network_lines) = (
        entry_lines(text, "host"),
        entry_lines(text, "user"),
        entry_lines(text, "network"),
    );
    let (image_lines, repository_lines) =
        (entry_lines(text, "image"), entry_lines(text, "repository"));
    Ok(Entries {
        hosts: doc
            .host
            .into_iter()
            .enumerate()
            .map(|(n, h)| (place(&host_lines, n), h))
            .collect(),
        users: doc
            .user
            .into_iter()
            .enumerate()
            .map(|(n, u)| (place(&user_lines, n), u))
            .collect(),
        networks: doc
            .network
            .into_iter()
            .enumerate()
            .map(|(n, net)| (place(&network_lines, n), net))
            .collect(),
        images: doc
            .image
            .into_iter()
            .enumerate()
            .map(|(n, i)| (place(&image_lines, n), i))
            .collect(),
        repositories: doc
            .repository
            .into_iter()
            .enumerate()
            .map(|(n, r)| (place(&repository_lines, n), r))
            .collect(),
    })
}

/// Whether a file is read as CSV (by its name) rather than TOML.
pub fn is_csv(file: &str) -> bool {
    file.to_ascii_lowercase().ends_with(".csv")
}

impl Inventory {
    /// Reads and checks an inventory file (CSV when its name ends in `.csv`, else TOML); every
    /// problem is reported, each with its line.
    pub fn parse(file: &str, text: &str) -> Result<Inventory, Vec<InventoryError>> {
        Inventory::parse_all(&[(file, text)])
    }

    /// Reads several files as one inventory (a hosts CSV, a users CSV, a TOML of networks...), checked
    /// together: an id, name, alias or address claimed twice is reported across files too.
    pub fn parse_all(files: &[(&str, &str)]) -> Result<Inventory, Vec<InventoryError>> {
        let mut entries = Entries::default();
        let mut errors = Vec::new();
        for (file, text) in files {
            let (read, problems) = if is_csv(file) {
                crate::inventory_csv::read(file, text)
            } else {
                read_toml(file, text).map_or_else(|e| (Entries::default(), e), |e| (e, Vec::new()))
            };
            entries.extend(read);
            errors.extend(problems);
        }
        let inventory = Inventory::checked(entries, &mut errors);
        if errors.is_empty() {
            Ok(inventory)
        } else {
            Err(errors)
        }
    }

    /// Checks entries read from files; problems go to `errors`.
    fn checked(entries: Entries, errors: &mut Vec<InventoryError>) -> Inventory {
        let error = |place: &Place, message: String| InventoryError {
            file: place.file.clone(),
            line: Some(place.line),
            message,
        };
        // Another entry's place, as a message names it: its line in the same file, else file and line.
        let other = |here: &Place, there: &Place| {
            if here.file == there.file {
                format!("line {}", there.line)
            } else {
                there.to_string()
            }
        };
        let mut inventory = Inventory::default();
        let mut ids: HashMap<String, Place> = HashMap::new();
        let mut names: HashMap<String, (String, Place)> = HashMap::new();
        for (place, h) in entries.hosts {
            let id = names::host(&h.id);
            if id.is_empty() {
                errors.push(error(&place, "a host without an id".into()));
                continue;
            }
            if let Some(first) = ids.insert(format!("host:{id}"), place.clone()) {
                errors.push(error(
                    &place,
                    format!("host {id} is also defined at {}", other(&place, &first)),
                ));
            }
            let mut all_names = vec![h.id.clone()];
            all_names.extend(h.names.iter().cloned());
            for name in &all_names {
                if !names::is_host_name(name) {
                    errors.push(error(
                        &place,
                        format!(
                            "host {id}: {name:?} is not a host name (addresses go under addresses)"
                        ),
                    ));
                    continue;
                }
                let key = names::host(name);
                match names.get(&key) {
                    Some((owner, at)) if *owner != id => errors.push(error(
                        &place,
                        format!(
                            "host {id}: name {name:?} also names host {owner} ({})",
                            other(&place, at)
                        ),
                    )),
                    _ => {
                        names.insert(key, (id.clone(), place.clone()));
                    }
                }
            }
            let mut addresses = Vec::new();
            for a in &h.addresses {
                let Ok(ip) = a.ip.trim().parse::<IpAddr>() else {
                    errors.push(error(
                        &place,
                        format!("host {id}: {:?} is not an IP address", a.ip),
                    ));
                    continue;
                };
                let bound = |t: &Option<String>, key: &str, errors: &mut Vec<InventoryError>| {
                    t.as_deref().and_then(|t| {
                        let parsed = time(t);
                        if parsed.is_none() {
                            errors.push(error(
                                &place,
                                format!(
                                    "host {id}: address {ip} {key} {t:?} is not an RFC 3339 time"
                                ),
                            ));
                        }
                        parsed
                    })
                };
                let lease = Lease {
                    ip,
                    from: bound(&a.from, "from", errors),
                    until: bound(&a.until, "until", errors),
                };
                if let (Some(f), Some(u)) = (lease.from, lease.until) {
                    if u <= f {
                        errors.push(error(
                            &place,
                            format!("host {id}: address {ip} ends before it starts"),
                        ));
                        continue;
                    }
                }
                addresses.push(lease);
            }
            inventory.hosts.push(Host {
                id,
                names: h.names,
                addresses,
                owner: h.owner,
                criticality: h.criticality,
                exposure: h.exposure,
                vip: h.vip,
                tags: h.tags,
                place,
            });
        }
        // One address, two hosts, overlapping windows: which one an event names cannot be told. (One
        // host's own rows may repeat an address over overlapping windows: it is still that host's.)
        for (i, a) in inventory.hosts.iter().enumerate() {
            for b in &inventory.hosts[i + 1..] {
                for la in &a.addresses {
                    for lb in b.addresses.iter().filter(|lb| lb.ip == la.ip) {
                        if la.overlaps(lb) {
                            errors.push(error(
                                &b.place,
                                format!(
                                    "host {}: address {} is also host {}'s ({}) over an overlapping window",
                                    b.id, la.ip, a.id, other(&b.place, &a.place)
                                ),
                            ));
                        }
                    }
                }
            }
        }
        let mut aliases: HashMap<String, (String, Place)> = HashMap::new();
        for (place, u) in entries.users {
            let id = u.id.trim().to_ascii_lowercase();
            if id.is_empty() {
                errors.push(error(&place, "a user without an id".into()));
                continue;
            }
            if let Some(first) = ids.insert(format!("user:{id}"), place.clone()) {
                errors.push(error(
                    &place,
                    format!("user {id} is also defined at {}", other(&place, &first)),
                ));
            }
            for alias in &u.aliases {
                let Some(parsed) = UserName::parse(alias) else {
                    errors.push(error(
                        &place,
                        format!("user {id}: alias {alias:?} names nobody"),
                    ));
                    continue;
                };
                let key = parsed.key();
                match aliases.get(&key) {
                    Some((owner, at)) if *owner != id => errors.push(error(
                        &place,
                        format!(
                            "user {id}: alias {alias:?} is also user {owner}'s ({})",
                            other(&place, at)
                        ),
                    )),
                    _ => {
                        aliases.insert(key, (id.clone(), place.clone()));
                    }
                }
            }
            inventory.users.push(User {
                id,
                aliases: u.aliases,
                criticality: u.criticality,
                vip: u.vip,
                tags: u.tags,
                place,
            });
        }
        for (place, net) in entries.networks {
            if net.name.trim().is_empty() {
                errors.push(error(&place, "a network without a name".into()));
                continue;
            }
            match Cidr::parse(&net.cidr) {
                Some(cidr) => inventory.networks.push(Network {
                    name: net.name,
                    cidr,
                    text: net.cidr,
                    exposure: net.exposure,
                    criticality: net.criticality,
                    place,
                }),
                None => errors.push(error(
                    &place,
                    format!(
                        "network {}: {:?} is not an address block like 10.0.8.0/24",
                        net.name, net.cidr
                    ),
                )),
            }
        }
        for (kind, list, key) in [
            (
                "image",
                entries.images,
                image_repository as fn(&str) -> String,
            ),
            ("repository", entries.repositories, repository_name),
        ] {
            let mut seen: HashMap<String, Place> = HashMap::new();
            for (place, doc) in list {
                let name = key(&doc.name);
                if name.is_empty() {
                    let what = if kind == "image" {
                        "an image"
                    } else {
                        "a repository"
                    };
                    errors.push(error(&place, format!("{what} without a name")));
                    continue;
                }
                if let Some(first) = seen.insert(name.clone(), place.clone()) {
                    errors.push(error(
                        &place,
                        format!("{kind} {name} is also defined at {}", other(&place, &first)),
                    ));
                    continue;
                }
                let software = Software {
                    name,
                    owner: doc.owner,
                    criticality: doc.criticality,
                    exposure: doc.exposure,
                    place,
                };
                match kind {
                    "image" => inventory.images.push(software),
                    _ => inventory.repositories.push(software),
                }
            }
        }
        inventory
    }

    /// The most specific network holding an address.
    pub fn network_of(&self, ip: IpAddr) -> Option<&Network> {
        self.networks
            .iter()
            .filter(|n| n.cidr.contains(ip))
            .max_by_key(|n| n.cidr.prefix())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_hold_their_addresses() {
        let net = Cidr::parse("10.0.8.77/24").unwrap();
        assert!(net.contains("10.0.8.1".parse().unwrap()));
        assert!(!net.contains("10.0.9.1".parse().unwrap()));
        assert!(!net.contains("::1".parse().unwrap()));
        assert!(Cidr::parse("0.0.0.0/0")
            .unwrap()
            .contains("8.8.8.8".parse().unwrap()));
        assert!(Cidr::parse("10.0.0.0/33").is_none());
    }

    #[test]
    fn images_and_repositories_are_named_without_tags_schemes_or_git() {
        for (reference, repository) in [
            ("alpine:3.10", "alpine"),
            (
                "Registry.Example.com:5000/shop/Web:1.4.2",
                "registry.example.com:5000/shop/web",
            ),
            ("ghcr.io/org/app@sha256:0123abcd", "ghcr.io/org/app"),
            ("ghcr.io/org/app:v2@sha256:0123abcd", "ghcr.io/org/app"),
            ("localhost:5000/app", "localhost:5000/app"),
        ] {
            assert_eq!(image_repository(reference), repository, "{reference}");
        }
        for (address, name) in [
            (
                "https://github.com/Example/shop.git",
                "github.com/example/shop",
            ),
            ("git@github.com:example/shop.git", "github.com/example/shop"),
            ("github.com/example/shop/", "github.com/example/shop"),
            (
                "ssh://git@gitlab.example.com:2222/team/app",
                "gitlab.example.com:2222/team/app",
            ),
        ] {
            assert_eq!(repository_name(address), name, "{address}");
        }
    }

    #[test]
    fn images_and_repositories_are_read_and_checked() {
        let text = r#"
[[image]]
name = "registry.example.com/shop/web:1.4"
owner = "team-shop"
criticality = "high"
exposure = "internet"

[[repository]]
name = "https://github.com/example/shop.git"

[[image]]
name = "registry.example.com/shop/web@sha256:00"
"#;
        let errors = Inventory::parse("assets.toml", text).unwrap_err();
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert_eq!(
            errors[0].to_string(),
            "assets.toml:11: image registry.example.com/shop/web is also defined at line 2"
        );
        let ok = &text[..text.rfind("[[image]]").unwrap()];
        let inventory = Inventory::parse("assets.toml", ok).unwrap();
        assert_eq!(inventory.images.len(), 1);
        assert_eq!(inventory.images[0].name, "registry.example.com/shop/web");
        assert_eq!(inventory.images[0].owner.as_deref(), Some("team-shop"));
        assert_eq!(inventory.images[0].criticality, Criticality::High);
        assert_eq!(inventory.images[0].exposure, Exposure::Internet);
        assert_eq!(inventory.repositories[0].name, "github.com/example/shop");
        assert_eq!(inventory.repositories[0].criticality, Criticality::Medium);
    }
}
