//! Never-act lists: what no action may touch, whatever rule or person asks. Checked before every
//! run, automatic or by hand, in this order (the first that holds names the guard in the record):
//!
//! | guard | what it keeps out |
//! | --- | --- |
//! | `never-act list` | values and networks the configuration lists under `[guards] never` |
//! | `special range` | RFC 6890's special-purpose addresses (RFC 1918 private, loopback, link-local, shared, documentation, benchmarking, multicast, reserved; IPv6 likewise), unless `[guards] allow` names the address |
//! | `warninglist` | values a loaded MISP warninglist covers (public resolvers, cloud ranges, popular domains) |
//! | `asset` | the inventory's own networks, its hosts' addresses and names |
//! | `vip` | the inventory's VIP users and hosts |

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::sync::Arc;

use secops_entity::inventory::Cidr;
use secops_entity::{names, Inventory, UserName};
use secops_intel::warninglist::Warninglists;
use secops_intel::Kind;
use serde::Serialize;

use crate::target::{Target, TargetKind};

/// Which guard stopped an action, and on what.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Guarded {
    /// The guard's name (`special range`, `warninglist`, `rate limit`...).
    pub guard: String,
    /// What it matched (`10.0.0.0/8 (RFC 1918 private)`, the list's name).
    pub detail: String,
}

impl Guarded {
    pub fn new(guard: &str, detail: impl Into<String>) -> Guarded {
        Guarded {
            guard: guard.to_string(),
            detail: detail.into(),
        }
    }
}

/// RFC 6890's special-purpose address registries (with RFC 1918, 5735's successors, multicast and
/// the limited broadcast address): never the source of an attack worth blocking at an edge, and
/// blocking them cuts a network off itself.
const SPECIAL: &[(&str, &str)] = &[
    ("0.0.0.0/8", "\"this network\", RFC 791"),
    ("10.0.0.0/8", "private, RFC 1918"),
    ("100.64.0.0/10", "shared address space, RFC 6598"),
    ("127.0.0.0/8", "loopback, RFC 1122"),
    ("169.254.0.0/16", "link-local, RFC 3927"),
    ("172.16.0.0/12", "private, RFC 1918"),
    ("192.0.0.0/24", "IETF protocol assignments, RFC 6890"),
    ("192.0.2.0/24", "documentation TEST-NET-1, RFC 5737"),
    ("192.88.99.0/24", "6to4 relay anycast, RFC 7526"),
    ("192.168.0.0/16", "private, RFC 1918"),
    ("198.18.0.0/15", "benchmarking, RFC 2544"),
    ("198.51.100.0/24", "documentation TEST-NET-2, RFC 5737"),
    ("203.0.113.0/24", "documentation TEST-NET-3, RFC 5737"),
    ("224.0.0.0/4", "multicast, RFC 5771"),
    ("240.0.0.0/4", "reserved, RFC 1112"),
    ("255.255.255.255/32", "limited broadcast, RFC 919"),
    ("::/128", "unspecified, RFC 4291"),
    ("::1/128", "loopback, RFC 4291"),
    ("::ffff:0:0/96", "IPv4-mapped, RFC 4291"),
    ("64:ff9b::/96", "IPv4-IPv6 translation, RFC 6052"),
    ("100::/64", "discard-only, RFC 6666"),
    ("2001::/23", "IETF protocol assignments, RFC 2928"),
    ("2001:db8::/32", "documentation, RFC 3849"),
    ("2002::/16", "6to4, RFC 3056"),
    ("fc00::/7", "unique local, RFC 4193"),
    ("fe80::/10", "link-local, RFC 4291"),
    ("ff00::/8", "multicast, RFC 4291"),
];

/// The never-act lists in force.
#[derive(Debug, Default, Clone)]
pub struct NeverAct {
    special: Vec<(Cidr, String)>,
    allow: Vec<(Cidr, String)>,
    never_networks: Vec<(Cidr, String)>,
    never_values: HashSet<String>,
    warninglists: Option<Arc<Warninglists>>,
    own_networks: Vec<(Cidr, String)>,
    host_addresses: HashMap<IpAddr, String>,
    host_names: HashMap<String, String>,
    vip_hosts: HashSet<String>,
    vip_users: HashSet<String>,
}

impl NeverAct {
    /// The special ranges alone.
    pub fn new() -> NeverAct {
        NeverAct {
            special: SPECIAL
                .iter()
                .filter_map(|(cidr, why)| Some((Cidr::parse(cidr)?, format!("{cidr} ({why})"))))
                .collect(),
            ..NeverAct::default()
        }
    }

    /// Addresses and networks allowed although special (a lab's own test address).
    pub fn allow(&mut self, entries: &[String]) -> Result<(), String> {
        for entry in entries {
            self.allow.push((network(entry)?, entry.clone()));
        }
        Ok(())
    }

    /// Values (addresses, networks, names, accounts, hashes) never acted on.
    pub fn never(&mut self, entries: &[String]) -> Result<(), String> {
        for entry in entries {
            let entry = entry.trim();
            if entry.contains('/') || entry.parse::<IpAddr>().is_ok() {
                self.never_networks
                    .push((network(entry)?, entry.to_string()));
            } else if entry.is_empty() {
                return Err("an empty never-act entry".into());
            } else {
                self.never_values.insert(entry.to_lowercase());
            }
        }
        Ok(())
    }

    pub fn warninglists(&mut self, lists: Arc<Warninglists>) {
        self.warninglists = Some(lists);
    }

    /// The inventory's networks, hosts (addresses and names) and VIP users and hosts.
    pub fn inventory(&mut self, inventory: &Inventory) {
        for n in &inventory.networks {
            self.own_networks
                .push((n.cidr, format!("network {} ({})", n.name, n.text)));
        }
        for h in &inventory.hosts {
            for lease in &h.addresses {
                self.host_addresses
                    .insert(lease.ip, format!("host {}", h.id));
            }
            let mut spellings = vec![h.id.clone()];
            spellings.extend(h.names.iter().cloned());
            for name in spellings {
                let full = names::host(&name);
                let short = names::short_host(&name);
                if h.vip {
                    self.vip_hosts.insert(full.clone());
                    self.vip_hosts.insert(short.clone());
                }
                self.host_names.insert(full, format!("host {}", h.id));
                self.host_names.insert(short, format!("host {}", h.id));
            }
        }
        for u in inventory.users.iter().filter(|u| u.vip) {
            for spelling in std::iter::once(&u.id).chain(u.aliases.iter()) {
                if let Some(name) = UserName::parse(spelling) {
                    self.vip_users.insert(name.name);
                }
            }
        }
    }

    /// The first guard that keeps `target` out, if any.
    pub fn check(&self, target: &Target) -> Option<Guarded> {
        let lower = target.value.to_lowercase();
        if self.never_values.contains(&lower) {
            return Some(Guarded::new("never-act list", target.value.clone()));
        }
        if let Some(ip) = target.ip() {
            if let Some((_, entry)) = self.never_networks.iter().find(|(c, _)| c.contains(ip)) {
                return Some(Guarded::new("never-act list", entry.clone()));
            }
            let allowed = self.allow.iter().any(|(c, _)| c.contains(ip));
            if !allowed {
                // IPv4 written as IPv6 (`::ffff:10.0.0.1`) is judged as the IPv4 address too.
                let plain = match ip {
                    IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4),
                    IpAddr::V4(_) => None,
                };
                for candidate in std::iter::once(ip).chain(plain) {
                    if let Some((_, why)) = self.special.iter().find(|(c, _)| c.contains(candidate))
                    {
                        return Some(Guarded::new("special range", why.clone()));
                    }
                }
            }
        }
        if let Some(hit) = self.warninglist_hit(target) {
            return Some(hit);
        }
        match target.kind {
            TargetKind::Ip => {
                let ip = target.ip()?;
                if let Some(host) = self.host_addresses.get(&ip) {
                    return Some(Guarded::new("asset", host.clone()));
                }
                if let Some((_, n)) = self.own_networks.iter().find(|(c, _)| c.contains(ip)) {
                    return Some(Guarded::new("asset", n.clone()));
                }
            }
            TargetKind::Host | TargetKind::Domain => {
                let full = names::host(&target.value);
                let short = names::short_host(&target.value);
                if self.vip_hosts.contains(&full)
                    || (target.kind == TargetKind::Host && self.vip_hosts.contains(&short))
                {
                    return Some(Guarded::new("vip", format!("host {}", target.value)));
                }
                if let Some(host) = self.host_names.get(&full) {
                    return Some(Guarded::new("asset", host.clone()));
                }
            }
            TargetKind::User => {
                if let Some(name) = UserName::parse(&target.value) {
                    if self.vip_users.contains(&name.name) {
                        return Some(Guarded::new("vip", format!("user {}", name.name)));
                    }
                }
            }
            TargetKind::Hash | TargetKind::Url => {}
        }
        None
    }

    fn warninglist_hit(&self, target: &Target) -> Option<Guarded> {
        let lists = self.warninglists.as_ref()?;
        let kinds: &[Kind] = match target.kind {
            TargetKind::Ip => &[Kind::Ip],
            TargetKind::Domain => &[Kind::Domain, Kind::Hostname],
            TargetKind::Host => &[Kind::Hostname],
            TargetKind::Url => &[Kind::Url],
            TargetKind::Hash => match target.value.len() {
                32 => &[Kind::Md5],
                40 => &[Kind::Sha1],
                _ => &[Kind::Sha256],
            },
            TargetKind::User => &[],
        };
        kinds.iter().find_map(|&kind| {
            lists
                .hits(kind, &target.value)
                .into_iter()
                .next()
                .map(|hit| Guarded::new("warninglist", hit.list))
        })
    }
}

fn network(entry: &str) -> Result<Cidr, String> {
    let entry = entry.trim();
    let text = if entry.contains('/') {
        entry.to_string()
    } else {
        match entry.parse::<IpAddr>() {
            Ok(IpAddr::V4(_)) => format!("{entry}/32"),
            Ok(IpAddr::V6(_)) => format!("{entry}/128"),
            Err(_) => return Err(format!("{entry:?} is not an address or a network")),
        }
    };
    Cidr::parse(&text).ok_or_else(|| format!("{entry:?} is not an address or a network"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> Target {
        Target::parse(TargetKind::Ip, text).unwrap()
    }

    #[test]
    fn special_ranges_are_refused_unless_allowed_and_named() {
        let mut g = NeverAct::new();
        for (addr, range) in [
            ("10.1.2.3", "10.0.0.0/8"),
            ("172.20.0.1", "172.16.0.0/12"),
            ("192.168.1.1", "192.168.0.0/16"),
            ("127.0.0.1", "127.0.0.0/8"),
            ("100.64.1.1", "100.64.0.0/10"),
            ("203.0.113.9", "203.0.113.0/24"),
            ("::1", "::1/128"),
            ("fe80::1", "fe80::/10"),
            ("::ffff:10.0.0.1", "::ffff:0:0/96"),
        ] {
            let hit = g.check(&ip(addr)).unwrap();
            assert_eq!(hit.guard, "special range", "{addr}");
            assert!(hit.detail.starts_with(range), "{addr}: {}", hit.detail);
        }
        assert_eq!(g.check(&ip("185.220.101.47")), None);
        g.allow(&["203.0.113.9".into()]).unwrap();
        assert_eq!(g.check(&ip("203.0.113.9")), None);
        assert!(g.check(&ip("203.0.113.10")).is_some());
        g.never(&["185.220.101.0/24".into(), "Alice".into()])
            .unwrap();
        assert_eq!(
            g.check(&ip("185.220.101.47")).unwrap().guard,
            "never-act list"
        );
        let alice = Target::parse(TargetKind::User, "alice").unwrap();
        assert_eq!(g.check(&alice).unwrap().guard, "never-act list");
    }
}
