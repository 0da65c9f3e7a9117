//! A compact binary form of an [`Event`] that reads back exactly (JSON would lose the difference between a
//! text and an address or a time), for events set aside on disk while a run sorts more of them than it
//! keeps in memory, and inside the engine's rule state checkpoints (`events`), which carry a format
//! version of their own and are refused by a build that reads them differently. Not an exchange format.
//!
//! Layout, little-endian: a flag byte and the timestamp's nanoseconds when set; the provenance (source
//! text, location tag and numbers); the fields as a count and key/value pairs. Values are a tag byte and
//! their payload; lengths and counts are LEB128.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;

use crate::{Event, Location, Object, Provenance, Str, Timestamp, Value};

/// Nesting deeper than this is refused when reading (events are written by parsers that bound it
/// lower).
const MAX_DEPTH: usize = 512;

/// Appends `event` to `out`.
pub fn encode(event: &Event, out: &mut Vec<u8>) {
    match event.timestamp() {
        Some(t) => {
            out.push(1);
            out.extend_from_slice(&t.unix_nanos().to_le_bytes());
        }
        None => out.push(0),
    }
    let provenance = event.provenance();
    bytes(provenance.source.as_bytes(), out);
    match provenance.location {
        Location::Line(n) => tagged(0, &[n], out),
        Location::Record(n) => tagged(1, &[n], out),
        Location::Entry { line, index } => tagged(2, &[line, index], out),
        Location::Ordinal(n) => tagged(3, &[n], out),
        Location::Offset(n) => tagged(4, &[n], out),
        Location::EventRecord { id, file_record } => tagged(5, &[id, file_record], out),
    }
    object(event.fields(), out);
}

/// Why bytes do not read back as an event.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not an encoded event: {0}")]
pub struct DecodeError(&'static str);

/// Reads events back; sources met before are shared rather than allocated again.
#[derive(Debug, Default)]
pub struct Decoder {
    sources: HashMap<Box<str>, Arc<str>>,
    last_source: Option<Arc<str>>,
    /// Per position among an event's top-level fields, the key and short text value last read
    /// there: events of one source repeat their keys in the same order and many of their values
    /// (an application name, an outcome), and a repeat is copied instead of checked and built again.
    recent: Vec<(Str, Str)>,
}

/// Texts up to this long are held inline (no allocation), so a repeat costs a copy.
const INLINE: usize = 24;

impl Decoder {
    pub fn new() -> Self {
        Decoder::default()
    }

    /// The event encoded at the start of `input`; `input` is moved past it.
    pub fn decode(&mut self, input: &mut &[u8]) -> Result<Event, DecodeError> {
        let timestamp = match byte(input)? {
            0 => None,
            1 => Some(Timestamp::from_unix_nanos(i64::from_le_bytes(fixed(
                input,
            )?))),
            _ => return Err(DecodeError("timestamp flag")),
        };
        let raw = raw_text(input)?;
        let source = match &self.last_source {
            // Events come in runs from one source.
            Some(last) if last.as_bytes() == raw => last.clone(),
            _ => {
                let source = utf8(raw)?;
                let shared = match self.sources.get(source) {
                    Some(shared) => shared.clone(),
                    None => {
                        let shared: Arc<str> = Arc::from(source);
                        self.sources.insert(source.into(), shared.clone());
                        shared
                    }
                };
                self.last_source = Some(shared.clone());
                shared
            }
        };
        let location = match byte(input)? {
            0 => Location::Line(varint(input)?),
            1 => Location::Record(varint(input)?),
            2 => Location::Entry {
                line: varint(input)?,
                index: varint(input)?,
            },
            3 => Location::Ordinal(varint(input)?),
            4 => Location::Offset(varint(input)?),
            5 => Location::EventRecord {
                id: varint(input)?,
                file_record: varint(input)?,
            },
            _ => return Err(DecodeError("location tag")),
        };
        let fields = self.read_fields(input)?;
        let mut event = Event::from_fields(fields, Provenance::new(source, location));
        if let Some(t) = timestamp {
            event.set_timestamp(t);
        }
        Ok(event)
    }
}

impl Decoder {
    /// An event's top-level fields, as [`read_object`] reads them, with repeats copied from the
    /// previous event's (see [`Decoder::recent`]).
    fn read_fields(&mut self, input: &mut &[u8]) -> Result<Object, DecodeError> {
        let n = count(input)?;
        if self.recent.len() < n {
            self.recent.resize(n, (Str::default(), Str::default()));
        }
        let mut fields = Object::with_capacity(n);
        for (key_seen, value_seen) in self.recent.iter_mut().take(n) {
            let key = repeated(key_seen, raw_text(input)?)?;
            let value = if input.first() == Some(&4) {
                *input = &input[1..];
                Value::Str(repeated(value_seen, raw_text(input)?)?)
            } else {
                read_value(input, 1)?
            };
            fields.push(key, value);
        }
        Ok(fields)
    }
}

/// The text of `raw`: a copy of `seen` when the bytes are the same, else read (and remembered in
/// `seen` when short enough to copy cheaply).
fn repeated(seen: &mut Str, raw: &[u8]) -> Result<Str, DecodeError> {
    if seen.as_bytes() == raw {
        return Ok(seen.clone());
    }
    let text = Str::from(utf8(raw)?);
    if raw.len() <= INLINE {
        *seen = text.clone();
    }
    Ok(text)
}

fn tagged(tag: u8, numbers: &[u64], out: &mut Vec<u8>) {
    out.push(tag);
    for &n in numbers {
        put_varint(n, out);
    }
}

fn put_varint(mut n: u64, out: &mut Vec<u8>) {
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

fn bytes(b: &[u8], out: &mut Vec<u8>) {
    put_varint(b.len() as u64, out);
    out.extend_from_slice(b);
}

fn object(fields: &Object, out: &mut Vec<u8>) {
    put_varint(fields.len() as u64, out);
    for (key, value) in fields.iter() {
        bytes(key.as_bytes(), out);
        self::value(value, out);
    }
}

fn value(v: &Value, out: &mut Vec<u8>) {
    match v {
        Value::Null => out.push(0),
        Value::Bool(b) => {
            out.push(1);
            out.push(u8::from(*b));
        }
        Value::Int(i) => {
            out.push(2);
            out.extend_from_slice(&i.to_le_bytes());
        }
        Value::Float(f) => {
            out.push(3);
            out.extend_from_slice(&f.to_bits().to_le_bytes());
        }
        Value::Str(s) => {
            out.push(4);
            bytes(s.as_bytes(), out);
        }
        Value::Ip(IpAddr::V4(ip)) => {
            out.push(5);
            out.extend_from_slice(&ip.octets());
        }
        Value::Ip(IpAddr::V6(ip)) => {
            out.push(6);
            out.extend_from_slice(&ip.octets());
        }
        Value::Time(t) => {
            out.push(7);
            out.extend_from_slice(&t.unix_nanos().to_le_bytes());
        }
        Value::Array(items) => {
            out.push(8);
            put_varint(items.len() as u64, out);
            for item in items {
                value(item, out);
            }
        }
        Value::Object(o) => {
            out.push(9);
            object(o, out);
        }
    }
}

fn byte(input: &mut &[u8]) -> Result<u8, DecodeError> {
    let (&b, rest) = input.split_first().ok_or(DecodeError("cut short"))?;
    *input = rest;
    Ok(b)
}

fn fixed<const N: usize>(input: &mut &[u8]) -> Result<[u8; N], DecodeError> {
    if input.len() < N {
        return Err(DecodeError("cut short"));
    }
    let (head, rest) = input.split_at(N);
    *input = rest;
    head.try_into().map_err(|_| DecodeError("cut short"))
}

fn varint(input: &mut &[u8]) -> Result<u64, DecodeError> {
    let mut n = 0u64;
    for shift in (0..64).step_by(7) {
        let b = byte(input)?;
        n |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Ok(n);
        }
    }
    Err(DecodeError("number too long"))
}

fn text<'a>(input: &mut &'a [u8]) -> Result<&'a str, DecodeError> {
    utf8(raw_text(input)?)
}

/// A text's bytes, not yet checked.
fn raw_text<'a>(input: &mut &'a [u8]) -> Result<&'a [u8], DecodeError> {
    let len = usize::try_from(varint(input)?).map_err(|_| DecodeError("length"))?;
    if input.len() < len {
        return Err(DecodeError("cut short"));
    }
    let (head, rest) = input.split_at(len);
    *input = rest;
    Ok(head)
}

fn utf8(bytes: &[u8]) -> Result<&str, DecodeError> {
    std::str::from_utf8(bytes).map_err(|_| DecodeError("text is not UTF-8"))
}

fn count(input: &mut &[u8]) -> Result<usize, DecodeError> {
    let n = usize::try_from(varint(input)?).map_err(|_| DecodeError("count"))?;
    // Every element takes at least one byte: a count beyond what is left is damage, not a reason to
    // reserve memory.
    if n > input.len() {
        return Err(DecodeError("count beyond the data"));
    }
    Ok(n)
}

fn read_object(input: &mut &[u8], depth: usize) -> Result<Object, DecodeError> {
    if depth > MAX_DEPTH {
        return Err(DecodeError("nested too deep"));
    }
    let n = count(input)?;
    let mut fields = Object::with_capacity(n);
    for _ in 0..n {
        let key = Str::from(text(input)?);
        let value = read_value(input, depth + 1)?;
        fields.push(key, value);
    }
    Ok(fields)
}

fn read_value(input: &mut &[u8], depth: usize) -> Result<Value, DecodeError> {
    if depth > MAX_DEPTH {
        return Err(DecodeError("nested too deep"));
    }
    Ok(match byte(input)? {
        0 => Value::Null,
        1 => Value::Bool(byte(input)? != 0),
        2 => Value::Int(i64::from_le_bytes(fixed(input)?)),
        3 => Value::Float(f64::from_bits(u64::from_le_bytes(fixed(input)?))),
        4 => Value::Str(Str::from(text(input)?)),
        5 => Value::Ip(IpAddr::from(fixed::<4>(input)?)),
        6 => Value::Ip(IpAddr::from(fixed::<16>(input)?)),
        7 => Value::Time(Timestamp::from_unix_nanos(i64::from_le_bytes(fixed(
            input,
        )?))),
        8 => {
            let n = count(input)?;
            let mut items = Vec::with_capacity(n);
            for _ in 0..n {
                items.push(read_value(input, depth + 1)?);
            }
            Value::Array(items)
        }
        9 => Value::Object(read_object(input, depth + 1)?),
        _ => return Err(DecodeError("value tag")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Event {
        let mut event = Event::new(Provenance::new(
            "logs/Security.evtx",
            Location::Entry { line: 3, index: 7 },
        ));
        event.set_timestamp(Timestamp::from_unix_nanos(1_715_673_820_118_273_000));
        event.insert("event.code", Value::Int(4625));
        event.insert("source.ip", Value::ip("203.0.113.7").unwrap_or_default());
        event.insert(
            "destination.ip",
            Value::ip("2001:db8::1").unwrap_or_default(),
        );
        event.insert("message", Value::Str("naïve \u{202e} text\n".into()));
        event.insert("ratio", Value::Float(-0.125));
        event.insert("ok", Value::Bool(false));
        event.insert("gone", Value::Null);
        event.insert("seen", Value::Time(Timestamp::from_unix_nanos(-5)));
        let mut inner = Object::new();
        inner.insert(
            "k",
            Value::Array(vec![Value::Int(i64::MIN), Value::Str("".into())]),
        );
        event.insert("nested", Value::Object(inner));
        event
    }

    #[test]
    fn events_read_back_exactly_and_share_their_source() {
        let (a, mut b) = (sample(), sample());
        b.insert("event.code", Value::Int(4624));
        let mut bytes = Vec::new();
        encode(&a, &mut bytes);
        encode(&b, &mut bytes);
        let mut decoder = Decoder::new();
        let mut input = bytes.as_slice();
        let (x, y) = (decoder.decode(&mut input), decoder.decode(&mut input));
        assert!(input.is_empty());
        let (x, y) = (
            x.unwrap_or_else(|e| panic!("{e}")),
            y.unwrap_or_else(|e| panic!("{e}")),
        );
        for (read, written) in [(&x, &a), (&y, &b)] {
            assert_eq!(read.timestamp(), written.timestamp());
            assert_eq!(read.provenance(), written.provenance());
            assert_eq!(read.fields(), written.fields());
        }
        assert!(Arc::ptr_eq(&x.provenance().source, &y.provenance().source));
    }

    #[test]
    fn one_decoder_over_a_run_of_events_reads_each_exactly() {
        // Keys and short values repeat at their positions, then move, change or vanish; sources
        // alternate; every event must still read back as written.
        let mut written = Vec::new();
        for i in 0..40_i64 {
            let source = if i % 7 == 3 { "b.log" } else { "a.log" };
            let mut e = Event::new(Provenance::new(source, Location::Line(i as u64)));
            if i % 5 != 4 {
                e.insert("host.name", if i < 20 { "web1" } else { "web2" });
            }
            e.insert(
                "event.outcome",
                if i % 3 == 0 { "failure" } else { "success" },
            );
            e.insert(
                "message",
                format!("Failed password for root from 203.0.113.{i} port 22 ssh2").as_str(),
            );
            if i % 4 == 0 {
                e.insert("process.pid", Value::Int(i));
                e.insert("event.outcome.reason", "bad password");
            } else {
                e.insert("event.outcome.reason", Value::Int(i));
            }
            e.insert(
                "a.key.long.enough.to.live.on.the.heap",
                "and a value that does too",
            );
            written.push(e);
        }
        let mut bytes = Vec::new();
        for e in &written {
            encode(e, &mut bytes);
        }
        let mut decoder = Decoder::new();
        let mut input = bytes.as_slice();
        for e in &written {
            let read = decoder
                .decode(&mut input)
                .unwrap_or_else(|err| panic!("{err}"));
            assert_eq!(read.fields(), e.fields());
            assert_eq!(read.provenance(), e.provenance());
        }
        assert!(input.is_empty());
        // A repeat with a damaged byte is refused, as from a fresh decoder.
        let mut one = Vec::new();
        encode(&written[1], &mut one);
        let at = one.windows(4).position(|w| w == b"web1").unwrap_or(0);
        one[at] = 0xff;
        assert!(decoder.decode(&mut one.as_slice()).is_err());
    }

    #[test]
    fn every_kind_of_location_reads_back() {
        for location in [
            Location::Line(7),
            Location::Record(9),
            Location::EventRecord {
                id: 3_139_859,
                file_record: 1,
            },
            Location::Entry { line: 3, index: 7 },
            Location::Ordinal(2),
            Location::Offset(0x1200),
        ] {
            let event =
                Event::from_fields(sample().fields().clone(), Provenance::new("x", location));
            let mut bytes = Vec::new();
            encode(&event, &mut bytes);
            let read = Decoder::new().decode(&mut bytes.as_slice());
            assert_eq!(read.map(|e| e.provenance().location), Ok(location));
        }
    }

    #[test]
    fn damaged_bytes_are_an_error_never_a_panic() {
        let mut bytes = Vec::new();
        encode(&sample(), &mut bytes);
        for cut in 0..bytes.len() {
            let mut input = &bytes[..cut];
            assert!(Decoder::new().decode(&mut input).is_err(), "cut at {cut}");
        }
        for i in 0..bytes.len() {
            let mut flipped = bytes.clone();
            flipped[i] ^= 0xff;
            let mut input = flipped.as_slice();
            let _ = Decoder::new().decode(&mut input);
        }
    }
}

/// Events inside serde data, each as its encoded bytes: `#[serde(with = "secops_event::codec::events")]`
/// on a `Vec<Event>` or `VecDeque<Event>` (the engine's rule state checkpoints). Bound to the build's
/// codec as the rest of this module; the checkpoint that holds them carries its own format version.
pub mod events {
    use serde::de::{Error, SeqAccess, Visitor};
    use serde::{Deserializer, Serialize, Serializer};

    use super::{encode, Decoder};
    use crate::Event;

    /// One event, serialized as its encoded bytes (for a borrowed list: `Vec<Packed>`).
    #[derive(Debug)]
    pub struct Packed<'a>(pub &'a Event);

    impl Serialize for Packed<'_> {
        fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
            let mut bytes = Vec::new();
            encode(self.0, &mut bytes);
            serializer.serialize_bytes(&bytes)
        }
    }

    pub fn serialize<'a, T, S>(events: &'a T, serializer: S) -> Result<S::Ok, S::Error>
    where
        &'a T: IntoIterator<Item = &'a Event>,
        S: Serializer,
    {
        serializer.collect_seq(events.into_iter().map(Packed))
    }

    pub fn deserialize<'de, T, D>(deserializer: D) -> Result<T, D::Error>
    where
        T: FromIterator<Event>,
        D: Deserializer<'de>,
    {
        struct Events<T>(std::marker::PhantomData<T>);
        impl<'de, T: FromIterator<Event>> Visitor<'de> for Events<T> {
            type Value = T;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a sequence of encoded events")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<T, A::Error> {
                let mut decoder = Decoder::new();
                let mut events = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1024));
                while let Some(bytes) = seq.next_element::<Bytes>()? {
                    let mut input = bytes.0.as_slice();
                    events.push(decoder.decode(&mut input).map_err(A::Error::custom)?);
                }
                Ok(events.into_iter().collect())
            }
        }
        deserializer.deserialize_seq(Events(std::marker::PhantomData))
    }

    /// Bytes, whether the format hands them over whole or as a sequence.
    struct Bytes(Vec<u8>);

    impl<'de> serde::Deserialize<'de> for Bytes {
        fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
            struct Visit;
            impl<'de> Visitor<'de> for Visit {
                type Value = Bytes;
                fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                    f.write_str("bytes")
                }
                fn visit_bytes<E: Error>(self, v: &[u8]) -> Result<Bytes, E> {
                    Ok(Bytes(v.to_vec()))
                }
                fn visit_byte_buf<E: Error>(self, v: Vec<u8>) -> Result<Bytes, E> {
                    Ok(Bytes(v))
                }
                fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Bytes, A::Error> {
                    let mut out = Vec::new();
                    while let Some(b) = seq.next_element::<u8>()? {
                        out.push(b);
                    }
                    Ok(Bytes(out))
                }
            }
            deserializer.deserialize_bytes(Visit)
        }
    }
}
