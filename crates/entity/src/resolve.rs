//! Which host or user a name or address means, at a time, and why.
//!
//! What the inventory says comes first. Then what the logs themselves say, learned from events in time
//! order ([`Resolver::learn`]): a DHCP acknowledgement (Zeek `dhcp.log`) gives an address to a host for
//! its lease; a Windows logon (4624, 4625, 4648) names the workstation at the logon's source address
//! from then on, until another claim; Kerberos (4768, 4769) and NTLM (4776) authentications say which
//! address or workstation a user worked from. Every mapping keeps its evidence (kind, time, where it
//! was read), so `secops entity show` can say when each one held and on what grounds.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;

use secops_event::{Event, Value};

use crate::inventory::{Host, Inventory, User};
use crate::names::{self, UserName};

/// What a mapping rests on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum EvidenceKind {
    Inventory,
    Dhcp,
    Logon,
    Kerberos,
    Ntlm,
}

impl EvidenceKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EvidenceKind::Inventory => "inventory",
            EvidenceKind::Dhcp => "DHCP lease",
            EvidenceKind::Logon => "Windows logon",
            EvidenceKind::Kerberos => "Kerberos",
            EvidenceKind::Ntlm => "NTLM",
        }
    }
}

/// One piece of evidence: what, when (UTC nanoseconds), where it was read (`dhcp.log:3`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Evidence {
    pub kind: EvidenceKind,
    pub at: i64,
    pub source: String,
}

/// An address held by a host over a window, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    pub host: String,
    pub from: Option<i64>,
    /// `None`: until another claim on the address.
    pub until: Option<i64>,
    pub evidence: Evidence,
}

/// A user seen working from a host or address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    pub user: String,
    pub from: String,
    pub evidence: Evidence,
}

/// A DHCP lease without a stated time is taken to last a day.
const DEFAULT_LEASE: i64 = 86_400_000_000_000;

/// Resolves names and addresses to entities, from an inventory and from what it learns.
#[derive(Debug, Default)]
pub struct Resolver {
    inventory: Inventory,
    /// Host name (normal form) -> host index; first labels too, unless two hosts share one.
    host_names: HashMap<String, Option<usize>>,
    /// User alias (normal form) -> user index.
    user_aliases: HashMap<String, usize>,
    /// Address -> claims, in the order they began.
    claims: HashMap<IpAddr, Vec<Claim>>,
    /// Users seen from hosts or addresses, in time order.
    seen: Vec<Seen>,
    /// Entity id -> (first, last) event time it appeared in.
    times: HashMap<String, (i64, i64)>,
}

impl Resolver {
    pub fn new(inventory: Inventory) -> Resolver {
        let mut host_names: HashMap<String, Option<usize>> = HashMap::new();
        for (i, h) in inventory.hosts.iter().enumerate() {
            for name in std::iter::once(&h.id).chain(&h.names) {
                host_names.insert(names::host(name), Some(i));
            }
        }
        // First labels, where no full name already claims them and no two hosts share them.
        let mut shorts: HashMap<String, Option<usize>> = HashMap::new();
        for (i, h) in inventory.hosts.iter().enumerate() {
            for name in std::iter::once(&h.id).chain(&h.names) {
                let short = names::short_host(name);
                let entry = shorts.entry(short).or_insert(Some(i));
                if *entry != Some(i) {
                    *entry = None;
                }
            }
        }
        for (short, host) in shorts {
            host_names.entry(short).or_insert(host);
        }
        let mut user_aliases = HashMap::new();
        for (i, u) in inventory.users.iter().enumerate() {
            user_aliases.insert(u.id.clone(), i);
            for alias in &u.aliases {
                if let Some(name) = UserName::parse(alias) {
                    user_aliases.insert(name.key(), i);
                }
            }
        }
        let mut claims: HashMap<IpAddr, Vec<Claim>> = HashMap::new();
        for h in &inventory.hosts {
            for lease in &h.addresses {
                claims.entry(lease.ip).or_default().push(Claim {
                    host: h.id.clone(),
                    from: lease.from,
                    until: lease.until,
                    evidence: Evidence {
                        kind: EvidenceKind::Inventory,
                        at: lease.from.unwrap_or(i64::MIN),
                        source: format!("inventory line {}", h.line),
                    },
                });
            }
        }
        Resolver {
            inventory,
            host_names,
            user_aliases,
            claims,
            seen: Vec::new(),
            times: HashMap::new(),
        }
    }

    pub fn inventory(&self) -> &Inventory {
        &self.inventory
    }

    /// The inventory's host a name means, if it knows one.
    pub fn known_host(&self, name: &str) -> Option<&Host> {
        let full = names::host(name);
        let index = match self.host_names.get(&full) {
            Some(found) => *found,
            None => self
                .host_names
                .get(&names::short_host(name))
                .copied()
                .flatten(),
        }?;
        self.inventory.hosts.get(index)
    }

    /// The canonical id of a host name: the inventory's, else the name's first label.
    pub fn host(&self, name: &str) -> Option<String> {
        if !names::is_host_name(name) {
            return None;
        }
        Some(match self.known_host(name) {
            Some(h) => h.id.clone(),
            None => names::short_host(name),
        })
    }

    /// The inventory's user a spelling means, if it lists that spelling.
    pub fn known_user(&self, name: &UserName) -> Option<&User> {
        self.user_aliases
            .get(&name.key())
            .and_then(|&i| self.inventory.users.get(i))
    }

    /// The canonical id of a user: the inventory's when it lists the spelling, else the spelling's
    /// normal form (so `CORP\alice` and `alice` stay two users unless the inventory joins them).
    pub fn user(&self, name: &UserName) -> String {
        match self.known_user(name) {
            Some(u) => u.id.clone(),
            None => name.key(),
        }
    }

    /// The host an address belonged to at `at`, and the claim that says so: the inventory's windows
    /// first, then the latest learned claim begun by then and not ended.
    pub fn host_of_ip(&self, ip: IpAddr, at: i64) -> Option<&Claim> {
        let claims = self.claims.get(&ip)?;
        let holds = |c: &&Claim| c.from.is_none_or(|f| f <= at) && c.until.is_none_or(|u| at < u);
        claims
            .iter()
            .filter(|c| c.evidence.kind == EvidenceKind::Inventory)
            .find(holds)
            .or_else(|| {
                claims
                    .iter()
                    .filter(|c| c.evidence.kind != EvidenceKind::Inventory)
                    .filter(holds)
                    .max_by_key(|c| c.from)
            })
    }

    /// Every claim on an address, in the order they began.
    pub fn claims(&self, ip: IpAddr) -> &[Claim] {
        self.claims.get(&ip).map_or(&[], Vec::as_slice)
    }

    /// Every address claim naming a host.
    pub fn claims_of(&self, host: &str) -> Vec<(IpAddr, &Claim)> {
        let mut out: Vec<(IpAddr, &Claim)> = self
            .claims
            .iter()
            .flat_map(|(ip, claims)| {
                claims
                    .iter()
                    .filter(|c| c.host == host)
                    .map(move |c| (*ip, c))
            })
            .collect();
        out.sort_by_key(|(ip, c)| (c.from, *ip));
        out
    }

    /// Where a user was seen working from.
    pub fn seen_of(&self, user: &str) -> Vec<&Seen> {
        self.seen.iter().filter(|s| s.user == user).collect()
    }

    /// When an entity first and last appeared in the events learned from.
    pub fn times(&self, id: &str) -> Option<(i64, i64)> {
        self.times.get(id).copied()
    }

    fn saw(&mut self, id: String, at: i64) {
        let entry = self.times.entry(id).or_insert((at, at));
        entry.0 = entry.0.min(at);
        entry.1 = entry.1.max(at);
    }

    fn claim(
        &mut self,
        ip: IpAddr,
        host: String,
        from: i64,
        until: Option<i64>,
        evidence: Evidence,
    ) {
        let claims = self.claims.entry(ip).or_default();
        // An open-ended learned claim ends where a later claim on the address begins.
        for c in claims.iter_mut() {
            if c.evidence.kind != EvidenceKind::Inventory
                && c.until.is_none()
                && c.from.is_some_and(|f| f <= from)
                && c.host != host
            {
                c.until = Some(from);
            }
        }
        // The same host renewing: the claim it already has grows.
        if let Some(same) = claims.iter_mut().find(|c| {
            c.host == host
                && c.evidence.kind == evidence.kind
                && c.until.is_none_or(|u| u >= from)
                && c.from.is_some_and(|f| f <= from)
        }) {
            same.until = match (same.until, until) {
                (Some(a), Some(b)) => Some(a.max(b)),
                _ => None,
            };
            return;
        }
        claims.push(Claim {
            host,
            from: Some(from),
            until,
            evidence,
        });
    }

    /// Whether an event says which host held an address or where a user worked from (such events
    /// must be learned in time order; others only mark when their host and user appeared).
    pub fn carries_evidence(event: &Event) -> bool {
        match event.get_str("event.dataset") {
            Some("zeek.dhcp") => true,
            _ => {
                event.get_str("event.module") == Some("windows")
                    && matches!(
                        event.get("winlog.event_id").and_then(Value::as_i64),
                        Some(4624 | 4625 | 4648 | 4768 | 4769 | 4776)
                    )
            }
        }
    }

    /// Learns from one event (events in time order): the evidence it carries, and that its host and
    /// user appeared.
    pub fn learn(&mut self, event: &Event) {
        let Some(at) = event.timestamp().map(|t| t.unix_nanos()) else {
            return;
        };
        let text = |field: &str| event.get(field).map(Value::to_string);
        let evidence = |kind| Evidence {
            kind,
            at,
            source: event.provenance().to_string(),
        };
        if let Some(id) = text("host.name").and_then(|h| self.host(&h)) {
            self.saw(id, at);
        }
        if let Some(name) =
            text("user.name").and_then(|n| UserName::from_parts(&n, text("user.domain").as_deref()))
        {
            let id = self.user(&name);
            self.saw(id, at);
        }
        let dataset = event.get_str("event.dataset").unwrap_or("");
        if dataset == "zeek.dhcp" {
            let ip = ["assigned_addr", "assigned_ip"]
                .iter()
                .find_map(|f| event.get(f).and_then(Value::as_ip));
            let name = ["host_name", "client_fqdn"]
                .iter()
                .find_map(|f| text(f).filter(|n| names::is_host_name(n)));
            if let (Some(ip), Some(host)) = (ip, name.and_then(|n| self.host(&n))) {
                let lease = event
                    .get("lease_time")
                    .and_then(Value::as_f64)
                    .map_or(DEFAULT_LEASE, |s| (s * 1e9) as i64);
                self.saw(host.clone(), at);
                self.claim(
                    ip,
                    host,
                    at,
                    Some(at.saturating_add(lease)),
                    evidence(EvidenceKind::Dhcp),
                );
            }
            return;
        }
        if event.get_str("event.module") != Some("windows") {
            return;
        }
        let code = event.get("winlog.event_id").and_then(Value::as_i64);
        let data = |name: &str| {
            event
                .get(&format!("Event.EventData.{name}"))
                .map(Value::to_string)
                .filter(|v| !v.is_empty() && v != "-")
        };
        let address = || {
            data("IpAddress").and_then(|a| {
                let a = a.trim_start_matches("::ffff:");
                a.parse::<IpAddr>()
                    .ok()
                    .filter(|ip| !ip.is_loopback() && !ip.is_unspecified())
            })
        };
        match code {
            Some(4624 | 4625 | 4648) => {
                let workstation = data("WorkstationName").and_then(|w| self.host(&w));
                if let (Some(ip), Some(host)) = (address(), workstation) {
                    self.saw(host.clone(), at);
                    self.claim(ip, host, at, None, evidence(EvidenceKind::Logon));
                }
            }
            Some(4768 | 4769) => {
                let user = data("TargetUserName")
                    .and_then(|u| UserName::from_parts(&u, data("TargetDomainName").as_deref()));
                if let (Some(ip), Some(user)) = (address(), user) {
                    let from = match self.host_of_ip(ip, at) {
                        Some(c) => c.host.clone(),
                        None => ip.to_string(),
                    };
                    let user = self.user(&user);
                    self.seen.push(Seen {
                        user,
                        from,
                        evidence: evidence(EvidenceKind::Kerberos),
                    });
                }
            }
            Some(4776) => {
                let user = data("TargetUserName").and_then(|u| UserName::parse(&u));
                let workstation = data("Workstation").and_then(|w| self.host(&w));
                if let (Some(user), Some(host)) = (user, workstation) {
                    let user = self.user(&user);
                    self.seen.push(Seen {
                        user,
                        from: host,
                        evidence: evidence(EvidenceKind::Ntlm),
                    });
                }
            }
            _ => {}
        }
    }

    /// Adds what the event's entities resolve to, at its time, without touching its ECS fields:
    /// `secops.entity.host` (the host it happened on), `secops.entity.source.host` and
    /// `secops.entity.destination.host` (the hosts behind its addresses or names),
    /// `secops.entity.user`, and ECS `related.ip`, `related.user` and `related.hosts` (what the event
    /// names and what that resolves to).
    pub fn enrich(&self, event: &mut Event) {
        let at = event.timestamp().map(|t| t.unix_nanos());
        let text = |field: &str| {
            event
                .get(field)
                .map(Value::to_string)
                .filter(|v| !v.is_empty())
        };
        let ip = |field: &str| event.get(field).and_then(Value::as_ip);
        let mut related_ip: Vec<String> = Vec::new();
        let mut related_user: Vec<String> = Vec::new();
        let mut related_hosts: Vec<String> = Vec::new();
        let add = |list: &mut Vec<String>, value: String| {
            if !list.contains(&value) {
                list.push(value);
            }
        };
        let host = text("host.name").and_then(|n| {
            add(&mut related_hosts, n.clone());
            self.host(&n)
        });
        let side = |side: &str, related_ip: &mut Vec<String>, related_hosts: &mut Vec<String>| {
            let address = ip(&format!("{side}.ip"));
            if let Some(a) = address {
                add(related_ip, a.to_string());
            }
            let named = text(&format!("{side}.domain")).filter(|n| names::is_host_name(n));
            if let Some(n) = &named {
                add(related_hosts, n.clone());
            }
            let resolved = match (address, at) {
                (Some(a), Some(at)) => self.host_of_ip(a, at).map(|c| c.host.clone()),
                _ => None,
            };
            resolved.or_else(|| named.and_then(|n| self.host(&n)))
        };
        let source = side("source", &mut related_ip, &mut related_hosts);
        let destination = side("destination", &mut related_ip, &mut related_hosts);
        let user = text("user.name")
            .and_then(|n| {
                add(&mut related_user, n.clone());
                UserName::from_parts(&n, text("user.domain").as_deref())
            })
            .map(|u| self.user(&u));
        if let Some(target) = text("user.target.name") {
            add(&mut related_user, target);
        }
        for id in [&host, &source, &destination].into_iter().flatten() {
            add(&mut related_hosts, id.clone());
        }
        if let Some(id) = &user {
            add(&mut related_user, id.clone());
        }
        for (field, value) in [
            ("secops.entity.host", host),
            ("secops.entity.source.host", source),
            ("secops.entity.destination.host", destination),
            ("secops.entity.user", user),
        ] {
            if let Some(value) = value {
                event.insert(field, value);
            }
        }
        for (field, values) in [
            ("related.ip", related_ip),
            ("related.user", related_user),
            ("related.hosts", related_hosts),
        ] {
            if values.is_empty() {
                continue;
            }
            let mut all: Vec<Value> = match event.get(field) {
                Some(Value::Array(existing)) => existing.clone(),
                Some(one) => vec![one.clone()],
                None => Vec::new(),
            };
            for v in values {
                let v = Value::from(v);
                if !all.contains(&v) {
                    all.push(v);
                }
            }
            event.insert(field, Value::Array(all));
        }
    }

    /// Every host id the resolver knows: the inventory's and those learned, sorted.
    pub fn host_ids(&self) -> Vec<String> {
        let mut ids: BTreeMap<String, ()> = BTreeMap::new();
        for h in &self.inventory.hosts {
            ids.insert(h.id.clone(), ());
        }
        for claims in self.claims.values() {
            for c in claims {
                ids.insert(c.host.clone(), ());
            }
        }
        ids.into_keys().collect()
    }
}
