//! Community ID v1 (Corelight's community-id-spec): one hash per network flow, the same from either
//! end, so a Zeek connection, a firewall's CEF line and a Sysmon 3 event of one flow pivot to each
//! other on `network.community_id`.
//!
//! The hash is SHA-1 over the seed (2 bytes, network order), the two addresses, the IP protocol number,
//! a zero byte and, for protocols with ports, the two ports (2 bytes each), endpoints ordered so the
//! lower address (then port) comes first; it is written `1:` and the digest in base64. ICMP has no
//! ports: its type and code stand in, and a request type is paired with its reply's (echo 8 and echo
//! reply 0), so both directions hash alike; a message without a counterpart is one-way and keeps its
//! order.

use std::net::IpAddr;

use base64::Engine as _;
use secops_event::{Event, Value};
use sha1::{Digest, Sha1};

const ICMP: u8 = 1;
const TCP: u8 = 6;
const UDP: u8 = 17;
const ICMP6: u8 = 58;
const SCTP: u8 = 132;

/// ICMP types and their counterparts (RFC 792, 950, 1256).
const ICMP_PAIRS: &[(u16, u16)] = &[(8, 0), (13, 14), (15, 16), (10, 9), (17, 18)];
/// ICMPv6 types and their counterparts (RFC 4443, 4861, 2710, 4620, 6275).
const ICMP6_PAIRS: &[(u16, u16)] = &[
    (128, 129),
    (133, 134),
    (135, 136),
    (130, 131),
    (139, 140),
    (144, 145),
];

/// The Community ID of a flow; `ports` are (source, destination), for ICMP (type, code).
pub fn v1(
    seed: u16,
    source: IpAddr,
    destination: IpAddr,
    proto: u8,
    ports: Option<(u16, u16)>,
) -> String {
    let (mut ports, mut one_way) = (ports, false);
    if let (Some((kind, code)), ICMP | ICMP6) = (ports, proto) {
        let pairs = if proto == ICMP {
            ICMP_PAIRS
        } else {
            ICMP6_PAIRS
        };
        let counterpart = pairs.iter().find_map(|&(a, b)| {
            if a == kind {
                Some(b)
            } else if b == kind {
                Some(a)
            } else {
                None
            }
        });
        match counterpart {
            Some(other) => ports = Some((kind, other)),
            None => {
                ports = Some((kind, code));
                one_way = true;
            }
        }
    }
    let bytes = |ip: IpAddr| -> Vec<u8> {
        match ip {
            IpAddr::V4(v4) => v4.octets().to_vec(),
            IpAddr::V6(v6) => v6.octets().to_vec(),
        }
    };
    let (mut a, mut b) = (bytes(source), bytes(destination));
    let ordered = one_way || a < b || (a == b && ports.is_some_and(|(s, d)| s < d));
    if !ordered {
        std::mem::swap(&mut a, &mut b);
        ports = ports.map(|(s, d)| (d, s));
    }
    let mut hash = Sha1::new();
    hash.update(seed.to_be_bytes());
    hash.update(&a);
    hash.update(&b);
    hash.update([proto, 0]);
    if let Some((s, d)) = ports {
        hash.update(s.to_be_bytes());
        hash.update(d.to_be_bytes());
    }
    format!(
        "1:{}",
        base64::engine::general_purpose::STANDARD.encode(hash.finalize())
    )
}

/// The IP protocol number an event's transport names (`tcp`, `UDP`, `icmp`, `6`).
fn protocol(transport: &str, v6: bool) -> Option<u8> {
    Some(match transport.to_ascii_lowercase().as_str() {
        "tcp" => TCP,
        "udp" => UDP,
        "icmp" if v6 => ICMP6,
        "icmp" => ICMP,
        "icmp6" | "ipv6-icmp" | "icmpv6" => ICMP6,
        "sctp" => SCTP,
        other => other.parse().ok()?,
    })
}

/// Sets `network.community_id` (seed 0) on a network event that names both addresses, the transport
/// and, where the protocol has them, both ports; an id the source already wrote is kept.
pub(crate) fn fill(event: &mut Event) {
    if event.get("network.community_id").is_some() {
        return;
    }
    let ip = |field: &str| event.get(field).and_then(Value::as_ip);
    let (Some(source), Some(destination)) = (ip("source.ip"), ip("destination.ip")) else {
        return;
    };
    if source.is_ipv4() != destination.is_ipv4() {
        return;
    }
    let proto = event
        .get("network.iana_number")
        .and_then(Value::as_i64)
        .and_then(|n| u8::try_from(n).ok())
        .or_else(|| {
            event
                .get("network.transport")
                .and_then(Value::as_str)
                .and_then(|t| protocol(t, source.is_ipv6()))
        });
    let Some(proto) = proto else { return };
    let port = |field: &str| {
        event
            .get(field)
            .and_then(Value::as_i64)
            .and_then(|p| u16::try_from(p).ok())
    };
    let ports = match (port("source.port"), port("destination.port")) {
        (Some(s), Some(d)) => Some((s, d)),
        _ => None,
    };
    if ports.is_none() && matches!(proto, TCP | UDP | SCTP | ICMP | ICMP6) {
        // these protocols hash with their ports: without them the id would name another flow
        return;
    }
    event.insert(
        "network.community_id",
        v1(0, source, destination, proto, ports),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    /// The specification's baseline vectors (also in Zeek's own tests).
    #[test]
    fn the_specifications_vectors() {
        let (a, b) = (ip("1.2.3.4"), ip("5.6.7.8"));
        assert_eq!(
            v1(0, a, b, TCP, Some((1122, 3344))),
            "1:wCb3OG7yAFWelaUydu0D+125CLM="
        );
        assert_eq!(
            v1(0, b, a, TCP, Some((3344, 1122))),
            "1:wCb3OG7yAFWelaUydu0D+125CLM="
        );
        assert_eq!(
            v1(0, a, b, UDP, Some((1122, 3344))),
            "1:0Mu9InQx6z4ZiCZM/7HXi2WMhOg="
        );
        assert_eq!(
            v1(1, a, b, TCP, Some((1122, 3344))),
            "1:HhA1B+6CoLbiKPEs5nhNYN4XWfk="
        );
        // echo request and its reply
        assert_eq!(
            v1(0, a, b, ICMP, Some((8, 0))),
            "1:crodRHL2FEsHjbv3UkRrfbs4bZ0="
        );
        assert_eq!(
            v1(0, b, a, ICMP, Some((0, 0))),
            "1:crodRHL2FEsHjbv3UkRrfbs4bZ0="
        );
        let (c, d) = (
            ip("fe80:1:203:405:607:809:a0b:c0d"),
            ip("fe80:1011:1213:1415:1617:1819:1a1b:1c1d"),
        );
        assert_eq!(
            v1(0, c, d, ICMP6, Some((128, 0))),
            "1:0bf7hyMJUwt3fMED7z8LIfRpBeo="
        );
        assert_eq!(
            v1(0, d, c, ICMP6, Some((129, 0))),
            "1:0bf7hyMJUwt3fMED7z8LIfRpBeo="
        );
        // RSVP: a protocol without ports
        assert_eq!(v1(0, a, b, 46, None), "1:ikv3kmf89luf73WPz1jOs49S768=");
    }

    #[test]
    fn events_get_the_id_from_their_ecs_fields() {
        let mut e = Event::new(secops_event::Provenance::new(
            "t",
            secops_event::Location::Line(1),
        ));
        e.insert("source.ip", Value::ip("5.6.7.8").unwrap_or_default());
        e.insert("destination.ip", Value::ip("1.2.3.4").unwrap_or_default());
        e.insert("source.port", 3344i64);
        e.insert("destination.port", "1122");
        e.insert("network.transport", "TCP");
        fill(&mut e);
        assert_eq!(
            e.get_str("network.community_id"),
            Some("1:wCb3OG7yAFWelaUydu0D+125CLM=")
        );
        // without ports, a TCP event gets none
        let mut portless = Event::new(secops_event::Provenance::new(
            "t",
            secops_event::Location::Line(1),
        ));
        portless.insert("source.ip", "1.2.3.4");
        portless.insert("destination.ip", "5.6.7.8");
        portless.insert("network.transport", "tcp");
        fill(&mut portless);
        assert!(portless.get("network.community_id").is_none());
    }
}
