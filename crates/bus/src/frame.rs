//! One bus message: events of one subject, as a postcard header and the events in the event crate's
//! binary form, compressed with zstd. Events come from inputs (a listener or file of an ingest
//! process), each numbering its events; a frame's marks say, per input, through which number the
//! subject is complete: every event of the input up to it that belongs on the subject is in this frame
//! or an earlier one. The last frame of a subject thus tells a writer that starts again what the
//! subject already holds. Each event carries the selections ingest made (the engine indices of the
//! rules that selected it, of those whose exceptions covered it, and of those it is for on this
//! subject), valid under the rule set whose digest the frame names. Events of one source mostly
//! repeat a few such selections, so a frame holds each distinct one once, in a table its events
//! point into, and a reader shares it between them.

use std::cell::RefCell;

use secops_event::codec::{encode, Decoder};
use secops_event::Event;
use serde::{Deserialize, Serialize};

/// The layout's version (a frame of another is refused, never misread). Version 2 (each event
/// carrying its selections itself) is still read, so frames published before an upgrade are run.
pub const FRAME_VERSION: u8 = 3;

/// Engine indices of rules (an event's selections), shared by the events that have the same.
pub type Indices = std::sync::Arc<[u32]>;

/// `now` as shared indices: `recent` itself when it holds the same (events in a run mostly have the
/// same selections), else a new one, remembered in `recent`.
pub fn shared(recent: &mut Indices, now: &[u32]) -> Indices {
    if recent[..] != *now {
        *recent = Indices::from(now);
    }
    recent.clone()
}

/// zstd level: fast, and still several times smaller than the events.
const LEVEL: i32 = 1;

thread_local! {
    /// Each thread's zstd contexts and decompression buffer, made once: a context costs more to
    /// set up than a frame to compress.
    static COMPRESSOR: RefCell<Option<zstd::bulk::Compressor<'static>>> = const { RefCell::new(None) };
    static DECOMPRESSOR: RefCell<Option<zstd::bulk::Decompressor<'static>>> = const { RefCell::new(None) };
    static RAW: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// Compresses `raw` with this thread's context.
fn compress(raw: &[u8]) -> Result<Vec<u8>, FrameError> {
    let failed = |e: std::io::Error| FrameError::Compression(e.to_string());
    COMPRESSOR.with(|cell| {
        let mut slot = cell.borrow_mut();
        let compressor = match slot.as_mut() {
            Some(c) => c,
            None => slot.insert(zstd::bulk::Compressor::new(LEVEL).map_err(failed)?),
        };
        compressor.compress(raw).map_err(failed)
    })
}

/// Decompresses `payload` into `raw` with this thread's context: as many bytes as the frame's
/// header says it holds (at most `limit`; without a size, up to `limit`).
fn decompress(payload: &[u8], limit: usize, raw: &mut Vec<u8>) -> Result<(), FrameError> {
    let size = match zstd::zstd_safe::get_frame_content_size(payload) {
        Ok(Some(size)) if size <= limit as u64 => size as usize,
        Ok(Some(size)) => {
            return Err(FrameError::Compression(format!(
                "the frame holds {size} bytes, over the limit of {limit}"
            )))
        }
        Ok(None) => limit,
        Err(_) => return Err(FrameError::Compression("not a zstd frame".into())),
    };
    raw.clear();
    raw.reserve(size);
    let failed = |e: std::io::Error| FrameError::Compression(e.to_string());
    DECOMPRESSOR.with(|cell| {
        let mut slot = cell.borrow_mut();
        let decompressor = match slot.as_mut() {
            Some(d) => d,
            None => slot.insert(zstd::bulk::Decompressor::new().map_err(failed)?),
        };
        decompressor
            .decompress_to_buffer(payload, raw)
            .map(|_| ())
            .map_err(failed)
    })
}

/// A frame's contents.
#[derive(Debug, Clone, PartialEq)]
pub struct Frame {
    /// Per input (`<ingest>/<listener>@<epoch>`: a reset starts a new epoch), the sequence number
    /// through which the subject holds its events.
    pub marks: Vec<Mark>,
    /// The digest of the rule set the selections were made under (engine indices mean the same on
    /// both sides only for the same rules).
    pub rules: u64,
    pub events: Vec<Framed>,
}

/// An input and the number through which a subject holds its events.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mark {
    pub input: String,
    pub through: u64,
}

/// One event in a frame.
#[derive(Debug, Clone, PartialEq)]
pub struct Framed {
    /// The event's input: an index into the frame's marks.
    pub input: u16,
    /// The event's sequence number in its input.
    pub seq: u64,
    /// When it arrived (UTC nanoseconds).
    pub received: i64,
    pub event: Event,
    /// The engine indices of the rules that selected the event and of those whose exceptions covered
    /// it (as ingest found them), and of the rules it is for on this subject.
    pub selected: Indices,
    pub excepted: Indices,
    pub rules: Indices,
}

/// An event as a writer queues it for a frame, encoded once in the event crate's binary form: an
/// event that goes to several subjects shares its bytes.
#[derive(Debug, Clone, PartialEq)]
pub struct Encoded {
    pub input: u16,
    pub seq: u64,
    pub received: i64,
    pub body: std::sync::Arc<[u8]>,
    pub selected: Indices,
    pub excepted: Indices,
    pub rules: Indices,
}

/// The bytes of one event's encoding, made with `encode` into a buffer reused between events.
pub fn event_bytes(event: &Event, buffer: &mut Vec<u8>) -> std::sync::Arc<[u8]> {
    buffer.clear();
    encode(event, buffer);
    std::sync::Arc::from(&buffer[..])
}

#[derive(Serialize, Deserialize)]
struct Header<'a> {
    version: u8,
    marks: std::borrow::Cow<'a, [Mark]>,
    rules: u64,
    count: u32,
    /// The distinct selections of the frame's events (version 3 on).
    sets: Vec<Selections<'a>>,
}

/// One entry of a frame's table of selections.
#[derive(Serialize, Deserialize)]
struct Selections<'a> {
    selected: std::borrow::Cow<'a, [u32]>,
    excepted: std::borrow::Cow<'a, [u32]>,
    rules: std::borrow::Cow<'a, [u32]>,
}

/// An event's header: its input, number, arrival, entry in the table of selections, and length.
#[derive(Serialize, Deserialize)]
struct EventHeader {
    input: u16,
    seq: u64,
    received: i64,
    set: u32,
    len: u32,
}

/// Version 2's header, without the table.
#[derive(Serialize, Deserialize)]
struct HeaderV2<'a> {
    version: u8,
    marks: std::borrow::Cow<'a, [Mark]>,
    rules: u64,
    count: u32,
}

/// Version 2's event header, with the event's selections.
#[derive(Serialize, Deserialize)]
struct EventHeaderV2<'a> {
    input: u16,
    seq: u64,
    received: i64,
    selected: std::borrow::Cow<'a, [u32]>,
    excepted: std::borrow::Cow<'a, [u32]>,
    rules: std::borrow::Cow<'a, [u32]>,
    len: u32,
}

/// Why a frame could not be read.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    #[error("not zstd: {0}")]
    Compression(String),
    #[error("header: {0}")]
    Header(String),
    #[error("frame version {0}, this build reads {FRAME_VERSION}")]
    Version(u8),
    #[error("event {index}: {reason}")]
    Event { index: usize, reason: String },
}

impl Frame {
    /// The frame as a message payload.
    pub fn encode(&self) -> Result<Vec<u8>, FrameError> {
        let mut body = Vec::new();
        let events: Vec<Encoded> = self
            .events
            .iter()
            .map(|framed| Encoded {
                input: framed.input,
                seq: framed.seq,
                received: framed.received,
                body: event_bytes(&framed.event, &mut body),
                selected: framed.selected.clone(),
                excepted: framed.excepted.clone(),
                rules: framed.rules.clone(),
            })
            .collect();
        Frame::encode_parts(&self.marks, self.rules, &events)
    }

    /// A payload of events encoded beforehand: what [`Frame::encode`] makes of a frame with these
    /// marks, digest and events.
    pub fn encode_parts(
        marks: &[Mark],
        rules: u64,
        events: &[Encoded],
    ) -> Result<Vec<u8>, FrameError> {
        let size: usize = events.iter().map(|e| e.body.len() + 24).sum();
        let mut raw = Vec::with_capacity(size + 64 * (marks.len() + 1));
        // The table of selections: an event's is looked for among the last few entries (events
        // of one source come in runs); one not found there gets an entry of its own, even if an
        // older entry holds the same.
        let mut sets: Vec<Selections<'_>> = Vec::new();
        let mut entries: Vec<u32> = Vec::with_capacity(events.len());
        for event in events {
            let same = |s: &Selections<'_>| {
                *s.selected == event.selected[..]
                    && *s.excepted == event.excepted[..]
                    && *s.rules == event.rules[..]
            };
            let found = sets
                .iter()
                .rev()
                .take(8)
                .position(same)
                .map(|back| sets.len() - 1 - back);
            let entry = found.unwrap_or_else(|| {
                sets.push(Selections {
                    selected: (&event.selected[..]).into(),
                    excepted: (&event.excepted[..]).into(),
                    rules: (&event.rules[..]).into(),
                });
                sets.len() - 1
            });
            entries.push(u32::try_from(entry).unwrap_or(u32::MAX));
        }
        let header = Header {
            version: FRAME_VERSION,
            marks: marks.into(),
            rules,
            count: u32::try_from(events.len()).unwrap_or(u32::MAX),
            sets,
        };
        postcard::to_io(&header, &mut raw).map_err(|e| FrameError::Header(e.to_string()))?;
        for (event, set) in events.iter().zip(entries) {
            let head = EventHeader {
                input: event.input,
                seq: event.seq,
                received: event.received,
                set,
                len: u32::try_from(event.body.len()).unwrap_or(u32::MAX),
            };
            postcard::to_io(&head, &mut raw).map_err(|e| FrameError::Header(e.to_string()))?;
            raw.extend_from_slice(&event.body);
        }
        compress(&raw)
    }

    /// Reads a payload [`Frame::encode`] made. At most `limit` bytes are decompressed (a frame that
    /// claims more is refused, not allocated).
    pub fn decode(payload: &[u8], limit: usize) -> Result<Frame, FrameError> {
        RAW.with(|cell| {
            // A frame decoded while another is (not done here) gets a buffer of its own.
            let mut own = Vec::new();
            let mut borrowed = cell.try_borrow_mut();
            let raw = match borrowed.as_mut() {
                Ok(raw) => &mut **raw,
                Err(_) => &mut own,
            };
            decompress(payload, limit, raw)?;
            let frame = Frame::parse(raw);
            // A buffer grown for a large frame is not kept.
            if raw.capacity() > 4 << 20 {
                *raw = Vec::new();
            }
            frame
        })
    }

    /// Reads a decompressed frame.
    fn parse(raw: &[u8]) -> Result<Frame, FrameError> {
        match raw.first() {
            Some(&FRAME_VERSION) => Frame::parse_v3(raw),
            Some(2) => Frame::parse_v2(raw),
            Some(&other) => Err(FrameError::Version(other)),
            None => Err(FrameError::Header("empty".into())),
        }
    }

    fn parse_v3(raw: &[u8]) -> Result<Frame, FrameError> {
        let (header, rest): (Header<'_>, &[u8]) =
            postcard::take_from_bytes(raw).map_err(|e| FrameError::Header(e.to_string()))?;
        let sets: Vec<Selected> = header
            .sets
            .iter()
            .map(|s| {
                (
                    Indices::from(&s.selected[..]),
                    Indices::from(&s.excepted[..]),
                    Indices::from(&s.rules[..]),
                )
            })
            .collect();
        let events = read_events(rest, header.count, &header.marks, |rest| {
            let (head, after): (EventHeader, &[u8]) =
                postcard::take_from_bytes(rest).map_err(|e| e.to_string())?;
            let Some(selections) = sets.get(head.set as usize) else {
                return Err(format!("selections {} of {}", head.set, sets.len()));
            };
            let place = (head.input, head.seq, head.received, head.len);
            Ok((place, selections.clone(), after))
        })?;
        Ok(Frame {
            marks: header.marks.into_owned(),
            rules: header.rules,
            events,
        })
    }

    fn parse_v2(raw: &[u8]) -> Result<Frame, FrameError> {
        let (header, rest): (HeaderV2<'_>, &[u8]) =
            postcard::take_from_bytes(raw).map_err(|e| FrameError::Header(e.to_string()))?;
        let events = read_events(rest, header.count, &header.marks, |rest| {
            let (head, after): (EventHeaderV2<'_>, &[u8]) =
                postcard::take_from_bytes(rest).map_err(|e| e.to_string())?;
            let selections = (
                Indices::from(&head.selected[..]),
                Indices::from(&head.excepted[..]),
                Indices::from(&head.rules[..]),
            );
            let place = (head.input, head.seq, head.received, head.len);
            Ok((place, selections, after))
        })?;
        Ok(Frame {
            marks: header.marks.into_owned(),
            rules: header.rules,
            events,
        })
    }
}

/// An event's selections: the rules that selected it, whose exceptions covered it, and it is for.
type Selected = (Indices, Indices, Indices);

/// An event header as read: input, number, arrival and length; selections; and what follows it.
type Head<'a> = ((u16, u64, i64, u32), Selected, &'a [u8]);

/// The `count` events after a frame's header, each header read by `head` (per version).
fn read_events<'a>(
    mut rest: &'a [u8],
    count: u32,
    marks: &[Mark],
    mut head: impl FnMut(&'a [u8]) -> Result<Head<'a>, String>,
) -> Result<Vec<Framed>, FrameError> {
    let mut decoder = Decoder::new();
    let mut events = Vec::with_capacity((count as usize).min(1 << 16));
    for index in 0..count as usize {
        let broken = |reason: String| FrameError::Event { index, reason };
        let ((input, seq, received, len), (selected, excepted, rules), after) =
            head(rest).map_err(broken)?;
        let (event, tail) = read_event(&mut decoder, marks, input, len, after).map_err(broken)?;
        events.push(Framed {
            input,
            seq,
            received,
            event,
            selected,
            excepted,
            rules,
        });
        rest = tail;
    }
    Ok(events)
}

/// The event of `len` bytes at the start of `after` (from input `input` of `marks`), and what
/// follows it.
fn read_event<'a>(
    decoder: &mut Decoder,
    marks: &[Mark],
    input: u16,
    len: u32,
    after: &'a [u8],
) -> Result<(Event, &'a [u8]), String> {
    if usize::from(input) >= marks.len() {
        return Err(format!("input {input} of {}", marks.len()));
    }
    let len = len as usize;
    if after.len() < len {
        return Err(format!("{len} bytes announced, {} left", after.len()));
    }
    let (mut body, tail) = after.split_at(len);
    let event = decoder.decode(&mut body).map_err(|e| e.to_string())?;
    Ok((event, tail))
}

#[cfg(test)]
mod tests {
    use super::*;
    use secops_event::{Location, Provenance, Timestamp};

    fn event(i: u64) -> Event {
        let mut e = Event::new(Provenance::new("auth.log", Location::Line(i)));
        e.set_timestamp(Timestamp::from_unix_nanos(
            1_700_000_000_000_000_000 + i as i64,
        ));
        e.insert("host.name", "web1");
        e.insert(
            "message",
            "Failed password for root from 203.0.113.9 port 22 ssh2",
        );
        e
    }

    #[test]
    fn a_frame_reads_back_exactly_and_compresses() {
        let frame = Frame {
            marks: vec![
                Mark {
                    input: "edge/auth@1".into(),
                    through: 900,
                },
                Mark {
                    input: "edge/syslog@1".into(),
                    through: 12,
                },
            ],
            rules: 0xfeed,
            events: (0..500)
                .map(|i| Framed {
                    input: (i % 2) as u16,
                    seq: i,
                    received: 5,
                    event: event(i),
                    selected: vec![1, 4].into(),
                    excepted: vec![].into(),
                    rules: vec![4].into(),
                })
                .collect(),
        };
        let bytes = frame.encode().unwrap();
        let raw_size: usize = frame
            .events
            .iter()
            .map(|f| {
                let mut out = Vec::new();
                encode(&f.event, &mut out);
                out.len()
            })
            .sum();
        assert!(bytes.len() * 4 < raw_size, "{} vs {raw_size}", bytes.len());
        assert_eq!(Frame::decode(&bytes, 64 << 20).unwrap(), frame);
    }

    #[test]
    fn damaged_frames_are_refused_with_the_reason() {
        let frame = Frame {
            marks: vec![Mark {
                input: "i".into(),
                through: 1,
            }],
            rules: 0,
            events: vec![Framed {
                input: 0,
                seq: 1,
                received: 0,
                event: event(1),
                selected: vec![].into(),
                excepted: vec![].into(),
                rules: vec![].into(),
            }],
        };
        let bytes = frame.encode().unwrap();
        assert!(matches!(
            Frame::decode(b"not a frame", 1 << 20),
            Err(FrameError::Compression(_))
        ));
        assert!(Frame::decode(&bytes, 8).is_err(), "over the limit");
        let mut raw = zstd::bulk::decompress(&bytes, 1 << 20).unwrap();
        raw.truncate(raw.len() - 10);
        let cut = zstd::bulk::compress(&raw, 1).unwrap();
        assert!(matches!(
            Frame::decode(&cut, 1 << 20),
            Err(FrameError::Event { index: 0, .. })
        ));
    }

    #[test]
    fn damaged_frames_never_panic_and_damaged_payloads_never_misread_silently() {
        use secops_testkit::mutate::{bytes, Rng};
        let frame = Frame {
            marks: vec![Mark {
                input: "edge/auth@1".into(),
                through: 40,
            }],
            rules: 0,
            events: (0..40)
                .map(|i| Framed {
                    input: 0,
                    seq: i,
                    received: 7,
                    event: event(i),
                    selected: vec![].into(),
                    excepted: vec![].into(),
                    rules: vec![].into(),
                })
                .collect(),
        };
        let payload = frame.encode().unwrap();
        let raw = zstd::bulk::decompress(&payload, 1 << 20).unwrap();
        let mut rng = Rng::new(23);
        let (mut refused, mut read) = (0, 0);
        for _ in 0..3000 {
            // Damage to the compressed payload and to what it holds, recompressed.
            for damaged in [
                bytes(&mut rng, &payload, &[]),
                zstd::bulk::compress(&bytes(&mut rng, &raw, &[]), 1).unwrap(),
            ] {
                match Frame::decode(&damaged, 1 << 20) {
                    Ok(back) => {
                        read += 1;
                        assert!(back.events.len() <= 1 << 16);
                        assert!(back
                            .events
                            .iter()
                            .all(|e| usize::from(e.input) < back.marks.len()));
                    }
                    Err(_) => refused += 1,
                }
            }
        }
        assert!(refused > 1000, "{refused} refused, {read} read");
    }

    #[test]
    fn events_share_their_selections_through_the_table_and_each_keeps_its_own() {
        // Runs of events with the same selections, a set seen long before, and every kind empty.
        let kinds: [(&[u32], &[u32], &[u32]); 4] = [
            (&[1, 4], &[], &[4]),
            (&[1, 4], &[9], &[4]),
            (&[], &[], &[]),
            (&[2], &[], &[2]),
        ];
        let pick = |i: u64| match i % 40 {
            0..=14 => 0,
            15..=19 => 1,
            20..=29 => 3,
            30..=34 => 2,
            _ => (i % 4) as usize,
        };
        let frame = Frame {
            marks: vec![Mark {
                input: "edge/auth@1".into(),
                through: 400,
            }],
            rules: 7,
            events: (0..400)
                .map(|i| {
                    let (selected, excepted, rules) = kinds[pick(i)];
                    Framed {
                        input: 0,
                        seq: i,
                        received: i as i64,
                        event: event(i),
                        selected: selected.into(),
                        excepted: excepted.into(),
                        rules: rules.into(),
                    }
                })
                .collect(),
        };
        let back = Frame::decode(&frame.encode().unwrap(), 64 << 20).unwrap();
        assert_eq!(back, frame);
        // Read once per entry, not once per event.
        let distinct: std::collections::HashSet<*const u32> =
            back.events.iter().map(|e| e.selected.as_ptr()).collect();
        assert!(distinct.len() < 40, "{} distinct", distinct.len());
        // A pointer to an entry the table does not have is refused with the event named.
        let raw = zstd::bulk::decompress(&frame.encode().unwrap(), 1 << 20).unwrap();
        let (header, rest): (Header<'_>, &[u8]) = postcard::take_from_bytes(&raw).unwrap();
        let entries = header.sets.len() as u32;
        let (head, after): (EventHeader, &[u8]) = postcard::take_from_bytes(rest).unwrap();
        let mut damaged = postcard::to_stdvec(&header).unwrap();
        damaged.extend(
            postcard::to_stdvec(&EventHeader {
                set: entries,
                ..head
            })
            .unwrap(),
        );
        damaged.extend_from_slice(after);
        let error = Frame::decode(&zstd::bulk::compress(&damaged, 1).unwrap(), 1 << 20);
        assert!(
            matches!(&error, Err(FrameError::Event { index: 0, reason }) if reason.contains("selections")),
            "{error:?}"
        );
    }

    #[test]
    fn frames_of_version_2_still_read() {
        // As a build before the table wrote them: each event with its selections.
        let mut raw = postcard::to_stdvec(&HeaderV2 {
            version: 2,
            marks: vec![Mark {
                input: "edge/auth@1".into(),
                through: 2,
            }]
            .into(),
            rules: 0xfeed,
            count: 2,
        })
        .unwrap();
        for i in 1..=2u64 {
            let mut body = Vec::new();
            encode(&event(i), &mut body);
            let selected = [1, 3 + i as u32];
            raw.extend(
                postcard::to_stdvec(&EventHeaderV2 {
                    input: 0,
                    seq: i,
                    received: 10,
                    selected: selected[..].into(),
                    excepted: (&[][..]).into(),
                    rules: (&selected[1..]).into(),
                    len: body.len() as u32,
                })
                .unwrap(),
            );
            raw.extend(body);
        }
        let frame = Frame::decode(&zstd::bulk::compress(&raw, 1).unwrap(), 1 << 20).unwrap();
        assert_eq!(frame.rules, 0xfeed);
        assert_eq!(frame.events.len(), 2);
        assert_eq!(frame.events[1].event, event(2));
        assert_eq!(&frame.events[1].selected[..], &[1, 5]);
        assert_eq!(&frame.events[1].rules[..], &[5]);
        assert!(frame.events[1].excepted.is_empty());
        // A version this build does not know is refused, not misread.
        raw[0] = 9;
        assert!(matches!(
            Frame::decode(&zstd::bulk::compress(&raw, 1).unwrap(), 1 << 20),
            Err(FrameError::Version(9))
        ));
    }
}
