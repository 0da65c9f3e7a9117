//! Which host or user a name or address means, at a time, and why.
//!
//! What the inventory says comes first. Then what the logs themselves say, learned from events in time
//! order ([`Resolver::learn`]): a DHCP acknowledgement (Zeek `dhcp.log`) gives an address to a host for
//! its lease; a Windows logon (4624, 4625, 4648) names the workstation at the logon's source address
//! from then on, until another claim; Kerberos (4768, 4769) and NTLM (4776) authentications say which
//! address or workstation a user worked from. Every mapping keeps its evidence (kind, time, where it
//! was read), so `secops entity show` can say when each one held and on what grounds.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;

use secops_event::{Event, Str, Value};

use crate::inventory::{Host, Inventory, User};
use crate::names::{self, UserName};

/// What a mapping rests on.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub enum EvidenceKind {
    Inventory,
    Dhcp,
    /// A Zeek DNS answer naming an internal address (A/AAAA, or PTR), for its TTL.
    Dns,
    Logon,
    Kerberos,
    Ntlm,
}

impl EvidenceKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EvidenceKind::Inventory => "inventory",
            EvidenceKind::Dhcp => "DHCP lease",
            EvidenceKind::Dns => "DNS answer",
            EvidenceKind::Logon => "Windows logon",
            EvidenceKind::Kerberos => "Kerberos",
            EvidenceKind::Ntlm => "NTLM",
        }
    }
}

/// One piece of evidence: what, when (UTC nanoseconds), where it was read (`dhcp.log:3`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Evidence {
    pub kind: EvidenceKind,
    pub at: i64,
    pub source: String,
}

/// An address held by a host over a window, and why.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Claim {
    pub host: String,
    pub from: Option<i64>,
    /// `None`: until another claim on the address.
    pub until: Option<i64>,
    pub evidence: Evidence,
}

impl Claim {
    /// Whether the claim holds at `at`: from inclusive, until exclusive, open ends unbounded.
    pub fn holds(&self, at: i64) -> bool {
        self.from.is_none_or(|f| f <= at) && self.until.is_none_or(|u| at < u)
    }
}

/// A user seen working from a host or address.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Seen {
    pub user: String,
    pub from: String,
    pub evidence: Evidence,
}

/// Users seen from hosts or addresses kept at most; past it the oldest half is let go.
pub const MAX_SEEN: usize = 200_000;

/// A DHCP lease without a stated time is taken to last a day.
const DEFAULT_LEASE: i64 = 86_400_000_000_000;

/// What the inventory says, indexed: host names (full, and first labels no two hosts share) and user
/// spellings. Immutable, so the readers' threads share it: the name-based half of enrichment
/// ([`Index::enrich`]) runs there, in parallel.
#[derive(Debug, Default)]
pub struct Index {
    inventory: Inventory,
    /// Host name (normal form) -> host index; first labels too, unless two hosts share one.
    host_names: HashMap<String, Option<usize>>,
    /// User alias (normal form) -> user index.
    user_aliases: HashMap<String, usize>,
    /// Tells this index's answers apart in the threads' memos.
    generation: u64,
}

/// Resolves names and addresses to entities, from an inventory and from what it learns.
#[derive(Debug, Default)]
pub struct Resolver {
    index: Arc<Index>,
    /// Address -> claims, in the order they began.
    claims: HashMap<IpAddr, Vec<Claim>>,
    /// Users seen from hosts or addresses, in time order.
    seen: Vec<Seen>,
    /// Entity id -> (first, last) event time it appeared in.
    times: HashMap<String, (i64, i64)>,
}

impl Index {
    pub fn new(inventory: Inventory) -> Index {
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
        static GENERATION: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
        Index {
            inventory,
            host_names,
            user_aliases,
            generation: GENERATION.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
        }
    }

    pub fn inventory(&self) -> &Inventory {
        &self.inventory
    }

    /// The inventory's host a name in normal form means: by the full name, else by its first label.
    fn lookup(&self, full: &str) -> Option<&Host> {
        let index = match self.host_names.get(full) {
            Some(found) => *found,
            None => self
                .host_names
                .get(names::first_label(full))
                .copied()
                .flatten(),
        }?;
        self.inventory.hosts.get(index)
    }

    /// The inventory's host a name means, if it knows one.
    pub fn known_host(&self, name: &str) -> Option<&Host> {
        self.lookup(&names::host(name))
    }

    /// The canonical id of a host name: the inventory's, else the name's first label.
    pub fn host(&self, name: &str) -> Option<String> {
        let full = names::resolvable_host(name)?;
        Some(match self.lookup(&full) {
            Some(h) => h.id.clone(),
            None => names::first_label(&full).to_string(),
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

    /// The name-based half of enrichment (no learned state, so any thread may run it):
    /// `secops.entity.host` from `host.name`, `secops.entity.user` from `user.name` and
    /// `user.domain`, `secops.entity.source.host` and `.destination.host` from `source.domain` and
    /// `destination.domain`, and ECS `related.ip`, `related.user`, `related.hosts` (what the event
    /// names, then what that resolves to). ECS fields are never changed.
    pub fn enrich(&self, event: &mut Event) {
        let mut seen = Named::default();
        // One pass over the fields (an event's fields are a short list scanned in order).
        let mut nested = false;
        for (key, value) in event.fields().iter() {
            nested |= matches!(value, Value::Object(_));
            seen.take(key, value);
        }
        if nested {
            // Nested ECS documents: the paths the pass could not see.
            for key in Named::KEYS {
                if let Some(value) = event.get(key) {
                    seen.take(key, value);
                }
            }
        }
        // Values are short strings and addresses, kept inline: no allocation for most events.
        let mut hosts = Few::default();
        let mut users = Few::default();
        let mut ips = Few::default();
        let mut ids: [(&'static str, Option<Str>); 4] = [
            ("secops.entity.host", None),
            ("secops.entity.source.host", None),
            ("secops.entity.destination.host", None),
            ("secops.entity.user", None),
        ];
        for (slot, name) in [seen.host, seen.source_domain, seen.destination_domain]
            .into_iter()
            .enumerate()
        {
            if let Some(name) = name {
                hosts.add_text(name);
                ids[slot].1 = memo(self.generation, 0, name, "", || self.host(name));
            }
        }
        // A cloud principal the inventory lists is that user; otherwise the name the log gives.
        if let Some(arn) = seen.principal {
            users.add_text(arn);
            ids[3].1 = memo(self.generation, 2, arn, "", || {
                UserName::parse(arn)
                    .and_then(|u| self.known_user(&u))
                    .map(|u| u.id.clone())
            });
        }
        if let Some(name) = seen.user {
            users.add_text(name);
            if ids[3].1.is_none() {
                let domain = seen.user_domain.unwrap_or("");
                ids[3].1 = memo(self.generation, 1, name, domain, || {
                    UserName::from_parts(name, seen.user_domain).map(|u| self.user(&u))
                });
            }
        }
        if let Some(target) = seen.target {
            users.add_text(target);
        }
        for (slot, (_, id)) in ids.iter().enumerate() {
            if let Some(id) = id {
                let list = if slot == 3 { &mut users } else { &mut hosts };
                list.add(Value::Str(id.clone()));
            }
        }
        for ip in [seen.source_ip, seen.destination_ip].into_iter().flatten() {
            ips.add(Value::Ip(ip));
        }
        let (had_related, had_entity) = (seen.related, seen.entity);
        for (field, id) in ids {
            let Some(id) = id else { continue };
            if had_entity {
                event.insert(field, id);
            } else {
                event.fields_mut().push(field, id);
            }
        }
        for (field, values) in [
            ("related.ip", ips),
            ("related.user", users),
            ("related.hosts", hosts),
        ] {
            if had_related {
                for v in values.into_values() {
                    push_related_value(event, field, v);
                }
            } else if let Some(value) = values.into_value() {
                event.fields_mut().push(field, value);
            }
        }
    }
}

/// Up to six values gathered without allocating: one is written as itself, more as an array (ECS
/// takes either for its `related.*` fields).
#[derive(Default)]
struct Few {
    items: [Value; 6],
    len: usize,
}

impl Few {
    fn add(&mut self, value: Value) {
        if self.len < self.items.len() && !self.items[..self.len].contains(&value) {
            self.items[self.len] = value;
            self.len += 1;
        }
    }

    fn add_text(&mut self, text: &str) {
        if !text.is_empty() {
            self.add(Value::Str(Str::from(text)));
        }
    }

    fn into_values(self) -> impl Iterator<Item = Value> {
        let len = self.len;
        self.items.into_iter().take(len)
    }

    fn into_value(mut self) -> Option<Value> {
        match self.len {
            0 => None,
            1 => Some(std::mem::take(&mut self.items[0])),
            _ => Some(Value::Array(self.into_values().collect())),
        }
    }
}

/// Adds a value to an ECS `related.*` field, once (a single value becomes an array of two).
fn push_related_value(event: &mut Event, field: &str, value: Value) {
    match event.fields_mut().get_mut(field) {
        Some(Value::Array(items)) => {
            if !items.contains(&value) {
                items.push(value);
            }
        }
        Some(one) => {
            if *one != value {
                let first = std::mem::take(one);
                *one = Value::Array(vec![first, value]);
            }
        }
        None => event.insert(field, value),
    }
}

/// The fields enrichment reads, found in one pass.
#[derive(Default)]
struct Named<'a> {
    host: Option<&'a str>,
    source_domain: Option<&'a str>,
    destination_domain: Option<&'a str>,
    user: Option<&'a str>,
    user_domain: Option<&'a str>,
    /// A cloud principal (CloudTrail's `userIdentity.arn`): the user when the inventory lists it.
    principal: Option<&'a str>,
    target: Option<&'a str>,
    source_ip: Option<IpAddr>,
    destination_ip: Option<IpAddr>,
    /// The event already has `related.*` fields (then values are added to them, once each).
    related: bool,
    /// The event already has `secops.entity.*` fields (then they are replaced, not added again).
    entity: bool,
}

impl<'a> Named<'a> {
    const KEYS: [&'static str; 9] = [
        "host.name",
        "source.domain",
        "destination.domain",
        "user.name",
        "user.domain",
        "aws.cloudtrail.user_identity.arn",
        "user.target.name",
        "source.ip",
        "destination.ip",
    ];

    fn take(&mut self, key: &str, value: &'a Value) {
        let text = || value.as_str().filter(|v| !v.is_empty());
        match key {
            "host.name" => self.host = text(),
            "source.domain" => self.source_domain = text().filter(|n| names::is_host_name(n)),
            "destination.domain" => {
                self.destination_domain = text().filter(|n| names::is_host_name(n))
            }
            "user.name" => self.user = text(),
            "user.domain" => self.user_domain = text(),
            "aws.cloudtrail.user_identity.arn" => self.principal = text(),
            "user.target.name" => self.target = text(),
            "source.ip" => self.source_ip = value.as_ip(),
            "destination.ip" => self.destination_ip = value.as_ip(),
            "related.ip" | "related.user" | "related.hosts" => self.related = true,
            _ => self.entity |= key.starts_with("secops.entity."),
        }
    }
}

/// Adds a text to an ECS `related.*` field, once.
fn push_related(event: &mut Event, field: &str, value: &str) {
    push_related_value(event, field, Value::Str(Str::from(value)));
}

impl Resolver {
    pub fn new(inventory: Inventory) -> Resolver {
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
                        source: format!("inventory {}", h.place.short()),
                    },
                });
            }
        }
        Resolver {
            index: Arc::new(Index::new(inventory)),
            claims,
            seen: Vec::new(),
            times: HashMap::new(),
        }
    }

    /// Keeps a user seen working from somewhere; past [`MAX_SEEN`] the oldest half is let go (a
    /// process that runs for months keeps the recent past, in bounded memory).
    fn remember(&mut self, seen: Seen) {
        if self.seen.len() >= MAX_SEEN {
            self.seen.drain(..MAX_SEEN / 2);
        }
        self.seen.push(seen);
    }

    /// What the resolver learned from logs (claims on addresses, users seen, entities' times), as
    /// bytes a long-running process checkpoints; the inventory is read again at start.
    pub fn save_learned(&self) -> Result<Vec<u8>, postcard::Error> {
        postcard::to_stdvec(&(&self.claims, &self.seen, &self.times))
    }

    /// Puts back what [`Resolver::save_learned`] kept (the inventory's own claims are in it too).
    pub fn restore_learned(&mut self, bytes: &[u8]) -> Result<(), postcard::Error> {
        let (claims, seen, times) = postcard::from_bytes(bytes)?;
        (self.claims, self.seen, self.times) = (claims, seen, times);
        Ok(())
    }

    /// The inventory's indexes, to share with other threads.
    pub fn index(&self) -> Arc<Index> {
        self.index.clone()
    }

    pub fn inventory(&self) -> &Inventory {
        self.index.inventory()
    }

    pub fn known_host(&self, name: &str) -> Option<&Host> {
        self.index.known_host(name)
    }

    pub fn host(&self, name: &str) -> Option<String> {
        self.index.host(name)
    }

    pub fn known_user(&self, name: &UserName) -> Option<&User> {
        self.index.known_user(name)
    }

    pub fn user(&self, name: &UserName) -> String {
        self.index.user(name)
    }

    /// The host an address belonged to at `at`, and the claim that says so: the inventory's windows
    /// first, then the latest learned claim begun by then and not ended.
    pub fn host_of_ip(&self, ip: IpAddr, at: i64) -> Option<&Claim> {
        let claims = self.claims.get(&ip)?;
        claims
            .iter()
            .find(|c| c.evidence.kind == EvidenceKind::Inventory && c.holds(at))
            .or_else(|| {
                claims
                    .iter()
                    .filter(|c| c.evidence.kind != EvidenceKind::Inventory && c.holds(at))
                    .max_by_key(|c| c.from)
            })
    }

    /// Whether any address is claimed yet (no claim: addresses resolve to nothing).
    pub fn has_claims(&self) -> bool {
        !self.claims.is_empty()
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

    /// The kind of evidence an event carries, if any: a Zeek DHCP lease, a Zeek DNS answer naming an
    /// internal address, a Windows logon (4624, 4625, 4648), a Kerberos ticket (4768, 4769) or an NTLM validation (4776). Such events must be learned
    /// in time order; others only mark when their host and user appeared.
    pub fn evidence_of(event: &Event) -> Option<EvidenceKind> {
        // One lookup for the events that carry none (every event of a run is asked).
        match event.get_str("event.module") {
            Some("windows") => {}
            Some("zeek") => {
                return match event.get_str("event.dataset") {
                    Some("zeek.dhcp") => Some(EvidenceKind::Dhcp),
                    Some("zeek.dns") if !dns_answers(event).is_empty() => Some(EvidenceKind::Dns),
                    _ => None,
                }
            }
            _ => return None,
        }
        match event.get("winlog.event_id").and_then(Value::as_i64)? {
            4624 | 4625 | 4648 => Some(EvidenceKind::Logon),
            4768 | 4769 => Some(EvidenceKind::Kerberos),
            4776 => Some(EvidenceKind::Ntlm),
            _ => None,
        }
    }

    /// Whether an event carries evidence ([`Resolver::evidence_of`]).
    pub fn carries_evidence(event: &Event) -> bool {
        Resolver::evidence_of(event).is_some()
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
        let principal = text("aws.cloudtrail.user_identity.arn")
            .and_then(|arn| UserName::parse(&arn))
            .and_then(|u| self.known_user(&u))
            .map(|u| u.id.clone());
        let user = principal.or_else(|| {
            text("user.name")
                .and_then(|n| UserName::from_parts(&n, text("user.domain").as_deref()))
                .map(|u| self.user(&u))
        });
        if let Some(id) = user {
            self.saw(id, at);
        }
        let Some(kind) = Resolver::evidence_of(event) else {
            return;
        };
        if kind == EvidenceKind::Dhcp {
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
                self.claim(ip, host, at, Some(at.saturating_add(lease)), evidence(kind));
            }
            return;
        }
        if kind == EvidenceKind::Dns {
            for (ip, name, ttl) in dns_answers(event) {
                if let Some(host) = self.host(&name) {
                    self.saw(host.clone(), at);
                    self.claim(ip, host, at, Some(at.saturating_add(ttl)), evidence(kind));
                }
            }
            return;
        }
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
        match kind {
            EvidenceKind::Logon => {
                let workstation = data("WorkstationName").and_then(|w| self.host(&w));
                if let (Some(ip), Some(host)) = (address(), workstation) {
                    self.saw(host.clone(), at);
                    self.claim(ip, host, at, None, evidence(kind));
                }
            }
            EvidenceKind::Kerberos => {
                let user = data("TargetUserName")
                    .and_then(|u| UserName::from_parts(&u, data("TargetDomainName").as_deref()));
                if let (Some(ip), Some(user)) = (address(), user) {
                    let from = match self.host_of_ip(ip, at) {
                        Some(c) => c.host.clone(),
                        None => ip.to_string(),
                    };
                    let user = self.user(&user);
                    self.remember(Seen {
                        user,
                        from,
                        evidence: evidence(kind),
                    });
                }
            }
            EvidenceKind::Ntlm => {
                let user = data("TargetUserName").and_then(|u| UserName::parse(&u));
                let workstation = data("Workstation").and_then(|w| self.host(&w));
                if let (Some(user), Some(host)) = (user, workstation) {
                    let user = self.user(&user);
                    self.remember(Seen {
                        user,
                        from: host,
                        evidence: evidence(kind),
                    });
                }
            }
            EvidenceKind::Dhcp | EvidenceKind::Dns | EvidenceKind::Inventory => {}
        }
    }

    /// Adds what the event's entities resolve to, at its time, without touching its ECS fields:
    /// [`Index::enrich`] (names), then the hosts that held its addresses then
    /// ([`Resolver::enrich_addresses`]).
    pub fn enrich(&self, event: &mut Event) {
        self.index.enrich(event);
        self.enrich_addresses(event);
    }

    /// The hosts holding the event's source and destination addresses at its time, from the claims
    /// learned so far (time order): `secops.entity.source.host` and `.destination.host` (over what
    /// their names said), added to `related.hosts`.
    pub fn enrich_addresses(&self, event: &mut Event) {
        if !self.has_claims() {
            return;
        }
        let Some(at) = event.timestamp().map(|t| t.unix_nanos()) else {
            return;
        };
        let mut found: Vec<(&'static str, String)> = Vec::new();
        for (side, field) in [
            ("source.ip", "secops.entity.source.host"),
            ("destination.ip", "secops.entity.destination.host"),
        ] {
            if let Some(claim) = event
                .get(side)
                .and_then(Value::as_ip)
                .and_then(|ip| self.host_of_ip(ip, at))
            {
                found.push((field, claim.host.clone()));
            }
        }
        for (field, host) in found {
            push_related(event, "related.hosts", &host);
            event.insert(field, host);
        }
    }
}

/// How long a DNS answer holds when the record gives no TTL.
const DEFAULT_TTL: i64 = 3_600_000_000_000;

/// Whether an address is one of an organization's own (RFC 1918, shared 100.64/10, IPv6 unique local):
/// only those are learned from DNS answers, which also name every site on the internet.
fn internal(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            v4.is_private() || (a == 100 && (64..128).contains(&b))
        }
        IpAddr::V6(v6) => (v6.segments()[0] & 0xfe00) == 0xfc00,
    }
}

/// The address a reverse-lookup name stands for (`5.0.0.10.in-addr.arpa`, nibbles under `ip6.arpa`).
fn reverse_name(name: &str) -> Option<IpAddr> {
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    if let Some(rest) = name.strip_suffix(".in-addr.arpa") {
        let mut octets: Vec<&str> = rest.split('.').collect();
        if octets.len() != 4 {
            return None;
        }
        octets.reverse();
        return octets.join(".").parse().ok();
    }
    let rest = name.strip_suffix(".ip6.arpa")?;
    let nibbles: Vec<&str> = rest.split('.').collect();
    if nibbles.len() != 32 || nibbles.iter().any(|n| n.len() != 1) {
        return None;
    }
    let hex: String = nibbles.iter().rev().copied().collect();
    let groups: Vec<&str> = (0..8).filter_map(|i| hex.get(i * 4..i * 4 + 4)).collect();
    groups.join(":").parse().ok()
}

/// What a Zeek DNS record says about internal hosts: (address, host name, how long, nanoseconds) per
/// answer of a successful A, AAAA or PTR query. In an A/AAAA answer list a name (a CNAME) stands
/// for the addresses after it; a PTR query names the address its own name stands for.
fn dns_answers(event: &Event) -> Vec<(IpAddr, String, i64)> {
    let text = |field: &str| event.get_str(field).filter(|t| !t.is_empty() && *t != "-");
    if text("rcode_name").is_some_and(|r| !r.eq_ignore_ascii_case("NOERROR")) {
        return Vec::new();
    }
    let (Some(query), Some(qtype)) = (text("query"), text("qtype_name")) else {
        return Vec::new();
    };
    // Zeek writes vectors as JSON arrays; a TSV log's reader may leave them comma-joined.
    let list = |field: &str| -> Vec<String> {
        match event.get(field) {
            Some(Value::Array(items)) => items.iter().map(Value::to_string).collect(),
            Some(Value::Null) | None => Vec::new(),
            Some(one) => one
                .to_string()
                .split(',')
                .map(|v| v.trim().to_string())
                .collect(),
        }
    };
    let answers = list("answers");
    let ttls: Vec<i64> = list("TTLs")
        .iter()
        .map(|t| {
            t.parse::<f64>()
                .ok()
                .filter(|s| *s > 0.0)
                .map_or(DEFAULT_TTL, |s| (s * 1e9) as i64)
        })
        .collect();
    let ttl = |i: usize| ttls.get(i).copied().unwrap_or(DEFAULT_TTL);
    let mut found = Vec::new();
    match qtype {
        "A" | "AAAA" => {
            let mut name = query.to_string();
            for (i, answer) in answers.iter().enumerate() {
                match answer.parse::<IpAddr>() {
                    Ok(ip) if internal(ip) && names::is_host_name(&name) => {
                        found.push((ip, name.clone(), ttl(i)))
                    }
                    Ok(_) => {}
                    Err(_) => name = answer.clone(),
                }
            }
        }
        "PTR" => {
            if let Some(ip) = reverse_name(query).filter(|ip| internal(*ip)) {
                for (i, answer) in answers.iter().enumerate() {
                    if names::is_host_name(answer) {
                        found.push((ip, answer.trim_end_matches('.').to_string(), ttl(i)));
                    }
                }
            }
        }
        _ => {}
    }
    found
}

/// Names each thread has resolved lately, by index generation, kind and the raw spelling: logs repeat
/// a few hosts and users millions of times, and normalizing each again would cost more than looking
/// it up. Cleared when it grows past [`MEMO_SIZE`] entries.
type Memo = HashMap<u64, Vec<(u8, Box<str>, Box<str>, Option<Str>)>>;

const MEMO_SIZE: usize = 65_536;

thread_local! {
    static MEMO: std::cell::RefCell<(u64, Memo)> = std::cell::RefCell::new((0, Memo::new()));
}

/// The memoized answer of `resolve` for (`kind`, `a`, `b`) under index `generation`.
fn memo(
    generation: u64,
    kind: u8,
    a: &str,
    b: &str,
    resolve: impl FnOnce() -> Option<String>,
) -> Option<Str> {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    (kind, a, b).hash(&mut hasher);
    let key = hasher.finish();
    MEMO.with(|cell| {
        let mut cell = cell.borrow_mut();
        let (current, memo) = &mut *cell;
        if *current != generation || memo.len() > MEMO_SIZE {
            *current = generation;
            memo.clear();
        }
        if let Some(found) = memo.get(&key).and_then(|list| {
            list.iter()
                .find(|(k, x, y, _)| *k == kind && &**x == a && &**y == b)
        }) {
            return found.3.clone();
        }
        let answer = resolve().map(Str::from);
        memo.entry(key)
            .or_default()
            .push((kind, a.into(), b.into(), answer.clone()));
        answer
    })
}
