//! Fast indicator lookup for detection: exact values in hash maps, networks by prefix length (a hash
//! map per length present, most specific first), and domains matched with every name under them. A
//! lookup costs a few hash probes whatever the number of indicators.
//!
//! Values that a warninglist covers never match (public resolvers inside an indicator's network, a
//! cloud range): the index counts what they suppressed.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crate::kind::{normalize, Kind};
use crate::warninglist::Warninglists;
use crate::{Indicator, Tlp};

/// Addresses as 128-bit numbers: IPv4 as IPv4-mapped IPv6, so one table serves both.
pub(crate) fn key_of(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(v4) => u128::from(v4.to_ipv6_mapped()),
        IpAddr::V6(v6) => u128::from(v6),
    }
}

/// The first and last address of `ip/bits` (bits in the address's own family), as keys.
pub(crate) fn range_of(ip: IpAddr, bits: u8) -> Option<(u128, u128)> {
    let (bits, key) = match ip {
        IpAddr::V4(_) if bits <= 32 => (u32::from(bits) + 96, key_of(ip)),
        IpAddr::V6(_) if bits <= 128 => (u32::from(bits), key_of(ip)),
        _ => return None,
    };
    let mask = if bits == 0 {
        0
    } else {
        u128::MAX << (128 - bits)
    };
    Some((key & mask, key | !mask))
}

/// A key back as an address of the family asked for.
pub(crate) fn ip_of(key: u128, v4: bool) -> IpAddr {
    let v6 = Ipv6Addr::from(key);
    match (v4, v6.to_ipv4_mapped()) {
        (true, Some(v4)) => IpAddr::V4(v4),
        _ => IpAddr::V6(v6),
    }
}

/// A hasher for integer keys: one multiply and a fold. Network keys are integers the index chose
/// (addresses with host bits cleared), so SipHash's flooding defence buys nothing here, and lookups
/// run once per event field.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct IntHasher(u64);

impl std::hash::Hasher for IntHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.write_u64(u64::from_le_bytes(word));
        }
    }

    fn write_u64(&mut self, n: u64) {
        let mixed = (self.0 ^ n).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        self.0 = mixed ^ (mixed >> 29);
    }

    fn write_u128(&mut self, n: u128) {
        self.write_u64(n as u64);
        self.write_u64((n >> 64) as u64);
    }
}

type IntMap<V> = HashMap<u128, V, std::hash::BuildHasherDefault<IntHasher>>;

/// Networks (and single addresses) by prefix length in the 128-bit space.
#[derive(Debug, Clone)]
pub(crate) struct Networks<T> {
    /// Prefix lengths present, longest first.
    lengths: Vec<u32>,
    by_length: HashMap<u32, IntMap<T>>,
}

impl<T> Default for Networks<T> {
    fn default() -> Self {
        Networks {
            lengths: Vec::new(),
            by_length: HashMap::new(),
        }
    }
}

impl<T> Networks<T> {
    /// Adds `ip/bits`; an existing entry for the same network is kept.
    pub(crate) fn insert(&mut self, ip: IpAddr, bits: Option<u8>, value: T) -> bool {
        let family_bits = if ip.is_ipv4() { 32 } else { 128 };
        let bits = bits.unwrap_or(family_bits);
        let Some((lo, _)) = range_of(ip, bits) else {
            return false;
        };
        let length = u32::from(bits) + if ip.is_ipv4() { 96 } else { 0 };
        if !self.lengths.contains(&length) {
            self.lengths.push(length);
            self.lengths.sort_unstable_by(|a, b| b.cmp(a));
        }
        let map = self.by_length.entry(length).or_default();
        if map.contains_key(&lo) {
            return false;
        }
        map.insert(lo, value);
        true
    }

    /// The most specific network holding `ip`.
    pub(crate) fn find(&self, ip: IpAddr) -> Option<&T> {
        let key = key_of(ip);
        self.lengths.iter().find_map(|&length| {
            let mask = if length == 0 {
                0
            } else {
                u128::MAX << (128 - length)
            };
            self.by_length.get(&length)?.get(&(key & mask))
        })
    }

    pub(crate) fn len(&self) -> usize {
        self.by_length.values().map(HashMap::len).sum()
    }
}

/// Parses `a.b.c.d`, `a.b.c.d/n`, IPv6 forms.
pub(crate) fn parse_network(text: &str) -> Option<(IpAddr, Option<u8>)> {
    let (address, bits) = match text.trim().split_once('/') {
        Some((a, b)) => (a, Some(b.parse().ok()?)),
        None => (text.trim(), None),
    };
    let ip: IpAddr = address.parse().ok()?;
    Some((ip, bits))
}

/// The indicators detection matches against, kept compact: each indicator's value and times in a
/// small entry, and its source, TLP, description and tags interned, since a feed repeats them for
/// every value. A matching value gets its whole [`Indicator`] back.
#[derive(Debug, Default)]
pub struct IndicatorIndex {
    entries: Vec<Entry>,
    networks: Networks<u32>,
    domains: HashMap<Box<str>, u32>,
    exact: HashMap<(Kind, Box<str>), u32>,
    strings: Interner<str>,
    tags: Interner<[String]>,
    warninglists: Option<Arc<Warninglists>>,
    suppressed: AtomicU64,
}

#[derive(Debug, Clone)]
struct Entry {
    kind: Kind,
    confidence: Option<u8>,
    to_ids: bool,
    value: Box<str>,
    native_id: Option<Box<str>>,
    first_seen: Option<i64>,
    last_seen: Option<i64>,
    source_date: Option<i64>,
    valid_until: Option<i64>,
    imported_at: i64,
    source: u32,
    tlp: Tlp,
    description: u32,
    tags: u32,
}

/// Values stored once, by number.
#[derive(Debug)]
struct Interner<T: ?Sized> {
    values: Vec<Arc<T>>,
    numbers: HashMap<Arc<T>, u32>,
}

impl<T: ?Sized> Default for Interner<T> {
    fn default() -> Self {
        Interner {
            values: Vec::new(),
            numbers: HashMap::new(),
        }
    }
}

impl<T: ?Sized> Clone for Interner<T> {
    fn clone(&self) -> Self {
        Interner {
            values: self.values.clone(),
            numbers: self.numbers.clone(),
        }
    }
}

impl<T: ?Sized + Eq + std::hash::Hash> Interner<T> {
    fn number(&mut self, value: Arc<T>) -> u32 {
        if let Some(&n) = self.numbers.get(&value) {
            return n;
        }
        let n = self.values.len() as u32;
        self.values.push(value.clone());
        self.numbers.insert(value, n);
        n
    }

    fn get(&self, n: u32) -> Option<&Arc<T>> {
        self.values.get(n as usize)
    }
}

impl Clone for IndicatorIndex {
    fn clone(&self) -> Self {
        IndicatorIndex {
            entries: self.entries.clone(),
            networks: self.networks.clone(),
            domains: self.domains.clone(),
            exact: self.exact.clone(),
            strings: self.strings.clone(),
            tags: self.tags.clone(),
            warninglists: self.warninglists.clone(),
            suppressed: AtomicU64::new(self.suppressed.load(Ordering::Relaxed)),
        }
    }
}

impl IndicatorIndex {
    pub fn new() -> IndicatorIndex {
        IndicatorIndex::default()
    }

    /// Values these lists cover never match.
    pub fn with_warninglists(mut self, lists: Arc<Warninglists>) -> IndicatorIndex {
        self.warninglists = Some(lists);
        self
    }

    /// Adds an indicator (its value already normalized); a repeat of a value keeps the first.
    pub fn add(&mut self, indicator: Indicator) {
        let number = self.entries.len() as u32;
        let added = match indicator.kind {
            Kind::Ip => match parse_network(&indicator.value) {
                Some((ip, bits)) => self.networks.insert(ip, bits, number),
                None => false,
            },
            Kind::Domain => match self.domains.entry(indicator.value.as_str().into()) {
                std::collections::hash_map::Entry::Vacant(slot) => {
                    slot.insert(number);
                    true
                }
                std::collections::hash_map::Entry::Occupied(_) => false,
            },
            kind => match self.exact.entry((kind, indicator.value.as_str().into())) {
                std::collections::hash_map::Entry::Vacant(slot) => {
                    slot.insert(number);
                    true
                }
                std::collections::hash_map::Entry::Occupied(_) => false,
            },
        };
        if !added {
            return;
        }
        let entry = Entry {
            kind: indicator.kind,
            confidence: indicator.confidence,
            to_ids: indicator.to_ids,
            source: self.strings.number(Arc::from(indicator.source.as_str())),
            tlp: indicator.tlp,
            description: self
                .strings
                .number(Arc::from(indicator.description.as_str())),
            tags: self.tags.number(Arc::from(indicator.tags)),
            value: indicator.value.into_boxed_str(),
            native_id: indicator.native_id.map(String::into_boxed_str),
            first_seen: indicator.first_seen,
            last_seen: indicator.last_seen,
            source_date: indicator.source_date,
            valid_until: indicator.valid_until,
            imported_at: indicator.imported_at,
        };
        self.entries.push(entry);
    }

    /// Adds a value given under an ECS indicator field (`threat.indicator.ip` ...), as rule tests
    /// and `--indicators` files give them. Values that do not normalize are returned as errors.
    pub fn add_field(
        &mut self,
        field: &str,
        value: &str,
        source: &str,
    ) -> Result<(), crate::IntelError> {
        let kind = Kind::ALL
            .into_iter()
            .find(|k| k.indicator_field() == field && *k != Kind::Hostname)
            .ok_or_else(|| {
                crate::IntelError::Invalid(format!("{field} is not an indicator field"))
            })?;
        let value = normalize(kind, value)?;
        self.add(Indicator::new(kind, value, source));
        Ok(())
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// How many matches warninglists suppressed so far.
    pub fn suppressed(&self) -> u64 {
        self.suppressed.load(Ordering::Relaxed)
    }

    /// The indicator an event value of the given ECS indicator field matches, if any: an address
    /// inside a network, a name at or under a domain, or an equal hash, URL or address.
    pub fn lookup(&self, field: &str, value: &str) -> Option<Arc<Indicator>> {
        if field == "threat.indicator.ip" {
            return self.lookup_ip(value.trim().parse::<IpAddr>().ok()?);
        }
        let (kind, found) = match field {
            "threat.indicator.url.domain" => {
                let name = value.trim().trim_end_matches('.').to_lowercase();
                let exact = self.exact.get(&(Kind::Hostname, name.as_str().into()));
                (Kind::Domain, exact.or_else(|| self.domain_of(&name)))
            }
            other => {
                let kind = Kind::ALL.into_iter().find(|k| {
                    k.indicator_field() == other
                        && !matches!(k, Kind::Ip | Kind::Domain | Kind::Hostname)
                })?;
                let value = normalize(kind, value).ok()?;
                (kind, self.exact.get(&(kind, value.into_boxed_str())))
            }
        };
        let number = *found?;
        if self.warninglisted(kind, value) {
            return None;
        }
        self.indicator(number)
    }

    /// The indicator an address matches (inside a listed network, the most specific first).
    pub fn lookup_ip(&self, ip: IpAddr) -> Option<Arc<Indicator>> {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
            v4 => v4,
        };
        let number = *self.networks.find(ip)?;
        if self.warninglisted(Kind::Ip, &ip.to_string()) {
            return None;
        }
        self.indicator(number)
    }

    /// Whether a warninglist covers the value (counted as a suppressed match).
    fn warninglisted(&self, kind: Kind, value: &str) -> bool {
        let listed = self
            .warninglists
            .as_ref()
            .is_some_and(|lists| !lists.hits(kind, value).is_empty());
        if listed {
            self.suppressed.fetch_add(1, Ordering::Relaxed);
        }
        listed
    }

    /// The whole indicator of an entry.
    fn indicator(&self, number: u32) -> Option<Arc<Indicator>> {
        let e = self.entries.get(number as usize)?;
        let text = |n: u32| {
            self.strings
                .get(n)
                .map(|s| s.to_string())
                .unwrap_or_default()
        };
        Some(Arc::new(Indicator {
            kind: e.kind,
            value: e.value.to_string(),
            source: text(e.source),
            native_id: e.native_id.as_deref().map(str::to_string),
            confidence: e.confidence,
            tlp: e.tlp,
            tags: self
                .tags
                .get(e.tags)
                .map(|t| t.to_vec())
                .unwrap_or_default(),
            description: text(e.description),
            first_seen: e.first_seen,
            last_seen: e.last_seen,
            valid_until: e.valid_until,
            source_date: e.source_date,
            imported_at: e.imported_at,
            to_ids: e.to_ids,
        }))
    }

    /// The listed domain `name` is, or is under.
    fn domain_of(&self, name: &str) -> Option<&u32> {
        let mut rest = name;
        loop {
            if let Some(found) = self.domains.get(rest) {
                return Some(found);
            }
            let (_, parent) = rest.split_once('.')?;
            if !parent.contains('.') {
                return None;
            }
            rest = parent;
        }
    }

    /// Only for tests of the network table.
    #[doc(hidden)]
    pub fn network_count(&self) -> usize {
        self.networks.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn index(values: &[(Kind, &str)]) -> IndicatorIndex {
        let mut index = IndicatorIndex::new();
        for (kind, value) in values {
            index.add(Indicator::new(
                *kind,
                normalize(*kind, value).unwrap(),
                "test",
            ));
        }
        index
    }

    #[test]
    fn addresses_match_inside_networks_most_specific_first() {
        let mut idx = index(&[(Kind::Ip, "198.51.100.0/24"), (Kind::Ip, "2001:db8::/32")]);
        let mut specific = Indicator::new(Kind::Ip, "198.51.100.7".into(), "specific");
        specific.confidence = Some(90);
        idx.add(specific);
        assert_eq!(
            idx.lookup("threat.indicator.ip", "198.51.100.7")
                .unwrap()
                .source,
            "specific"
        );
        assert_eq!(
            idx.lookup("threat.indicator.ip", "198.51.100.8")
                .unwrap()
                .source,
            "test"
        );
        assert!(idx.lookup("threat.indicator.ip", "198.51.101.1").is_none());
        assert!(idx
            .lookup("threat.indicator.ip", "2001:db8:ffff::1")
            .is_some());
        assert!(idx
            .lookup("threat.indicator.ip", "::ffff:198.51.100.9")
            .is_some());
        assert!(idx.lookup("threat.indicator.ip", "not an ip").is_none());
        assert_eq!(idx.len(), 3);
    }

    #[test]
    fn domains_cover_their_subdomains_and_hostnames_only_themselves() {
        let idx = index(&[
            (Kind::Domain, "evil.example"),
            (Kind::Hostname, "c2.good.example"),
        ]);
        let field = "threat.indicator.url.domain";
        assert!(idx.lookup(field, "evil.example").is_some());
        assert!(idx.lookup(field, "a.b.EVIL.example.").is_some());
        assert!(idx.lookup(field, "notevil.example").is_none());
        assert!(idx.lookup(field, "example").is_none());
        assert!(idx.lookup(field, "c2.good.example").is_some());
        assert!(idx.lookup(field, "x.c2.good.example").is_none());
    }

    #[test]
    fn hashes_and_urls_match_in_their_normal_form() {
        let idx = index(&[
            (Kind::Sha256, &"ab".repeat(32)),
            (Kind::Url, "http://evil.example/a"),
        ]);
        assert!(idx
            .lookup("threat.indicator.file.hash.sha256", &"AB".repeat(32))
            .is_some());
        assert!(idx
            .lookup("threat.indicator.url.full", "HTTP://Evil.Example/a")
            .is_some());
        assert!(idx
            .lookup("threat.indicator.url.full", "http://evil.example/A")
            .is_none());
    }

    #[test]
    fn a_million_addresses_load_and_match() {
        let mut idx = IndicatorIndex::new();
        for i in 0..1_000_000u32 {
            let ip = Ipv4Addr::from(0x0a00_0000 + i * 3);
            idx.add(Indicator::new(Kind::Ip, ip.to_string(), "bulk"));
        }
        assert_eq!(idx.network_count(), 1_000_000);
        assert!(idx.lookup("threat.indicator.ip", "10.0.0.3").is_some());
        assert!(idx.lookup("threat.indicator.ip", "10.0.0.4").is_none());
    }
}
