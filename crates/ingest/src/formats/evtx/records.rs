//! Records as the `evtx` crate's pipeline hands them over, each tied to its chunk and checked against
//! the chunk's own CRC32s ([`Mapper`], run on the parser's workers), and the tally of which ids each
//! chunk's header promised and which were accounted for ([`Tally`], on the reading thread).

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use evtx::err::EvtxError;
use evtx::EvtxRecord;
use secops_event::{Event, Location, Provenance, Value};

use super::layout::{chunk_offset, promise, records_checksum_holds, Promise, CHUNK_HEADER_SIZE};
use super::{cause, convert};
use crate::{Loss, Reason};

const RECORD_HEADER_SIZE: u64 = 24;

/// What the mapper needs to know of the file, shared by the parser's workers.
pub(super) struct Shared {
    pub source: Arc<str>,
    /// Intact chunks' promises and numbers by first id (see [`super::layout::Layout::intact`]).
    pub ranges: Vec<(Promise, u64)>,
    /// The chunk holding the newest records of a log marked dirty: a stale records CRC32 is expected.
    pub dirty_newest: Option<u64>,
    /// Read what the checksums cannot vouch for, and carved records, as events tagged `recovered`.
    pub recover: bool,
}

impl Shared {
    /// The intact chunk whose header names `first` as its first id (the lowest numbered, if several).
    fn chunk_starting_at(&self, first: u64) -> Option<u64> {
        let at = self.ranges.partition_point(|(p, _)| p.first < first);
        let (promise, slot) = self.ranges.get(at)?;
        (promise.first == first).then_some(*slot)
    }

    /// The intact chunk whose header's range holds record `id`.
    fn chunk_of_id(&self, id: u64) -> Option<u64> {
        let at = self.ranges.partition_point(|(p, _)| p.first <= id);
        let (promise, slot) = self.ranges.get(at.checked_sub(1)?)?;
        (id <= promise.last).then_some(*slot)
    }
}

/// One record as the mapper leaves it.
pub(super) enum Item {
    /// A record read from an intact chunk.
    Record {
        chunk: u64,
        id: u64,
        /// Where the record starts in its chunk.
        offset: u64,
        outcome: Outcome,
    },
    /// A record of a chunk whose header cannot be believed: that chunk is accounted for as lost.
    Untrusted,
    /// Asked for by `recover`: a record carved from unused space or read from a chunk whose checksums
    /// fail, in chunk `chunk` when that chunk's header is intact.
    Recovered {
        chunk: Option<u64>,
        /// Carved from unused space: not one of the records the chunk header promises.
        carved: bool,
        id: u64,
        offset: u64,
        outcome: Result<Event, Reason>,
    },
    /// A record the parser could not read, with what is known of where it was.
    Failed {
        chunk: Option<u64>,
        id: Option<u64>,
        offset: Option<u64>,
        reason: String,
    },
}

pub(super) enum Outcome {
    Event(Event),
    Rejected(Reason),
    /// The chunk's records fail their CRC32: not rendered, not evidence.
    Unverified,
}

/// Maps each record to an [`Item`]. The parser clones it for every chunk, so what it learns of a chunk
/// from the chunk's first record (which one it is, whether its checksums hold) lasts for that chunk.
#[derive(Clone)]
pub(super) struct Mapper {
    shared: Arc<Shared>,
    chunk: Option<ChunkState>,
}

#[derive(Clone, Copy)]
struct ChunkState {
    /// `None`: the chunk's header is not intact.
    slot: Option<u64>,
    verified: bool,
}

impl Mapper {
    pub fn new(shared: Arc<Shared>) -> Self {
        Mapper {
            shared,
            chunk: None,
        }
    }

    pub fn map(&mut self, record: Result<EvtxRecord<'_>, EvtxError>) -> Item {
        match record {
            Ok(record) => self.record(record),
            Err(EvtxError::FailedToReadRecordAt {
                chunk,
                offset,
                source,
            }) => Item::Failed {
                chunk,
                id: None,
                offset: Some(offset),
                reason: format!("the record here cannot be read: {}", cause(source.as_ref())),
            },
            Err(EvtxError::FailedToParseRecord { record_id, source }) => Item::Failed {
                chunk: self
                    .chunk
                    .and_then(|c| c.slot)
                    .or_else(|| self.shared.chunk_of_id(record_id)),
                id: Some(record_id),
                offset: None,
                reason: cause(source.as_ref()),
            },
            Err(other) => Item::Failed {
                chunk: self.chunk.and_then(|c| c.slot),
                id: None,
                offset: None,
                reason: cause(&other),
            },
        }
    }

    fn record(&mut self, record: EvtxRecord<'_>) -> Item {
        let shared = &self.shared;
        let state = *self.chunk.get_or_insert_with(|| {
            let chunk = record.chunk;
            let intact = chunk
                .data
                .get(..CHUNK_HEADER_SIZE)
                .is_some_and(|header| promise(header).is_ok());
            ChunkState {
                slot: intact
                    .then(|| shared.chunk_starting_at(chunk.header.first_event_record_id))
                    .flatten(),
                verified: records_checksum_holds(chunk.data, chunk.header),
            }
        });
        let id = record.event_record_id;
        let offset = record.binxml_offset.saturating_sub(RECORD_HEADER_SIZE);
        let unverified = state.slot.is_none()
            || record.recovered
            || (!state.verified && shared.dirty_newest != state.slot);
        if unverified && shared.recover {
            return Item::Recovered {
                chunk: state.slot,
                carved: record.recovered,
                id,
                offset,
                outcome: render(record, shared),
            };
        }
        let Some(slot) = state.slot else {
            return Item::Untrusted;
        };
        let outcome = if unverified {
            Outcome::Unverified
        } else {
            match render(record, shared) {
                Ok(event) => Outcome::Event(event),
                Err(reason) => Outcome::Rejected(reason),
            }
        };
        Item::Record {
            chunk: slot,
            id,
            offset,
            outcome,
        }
    }
}

/// A record as an event.
fn render(record: EvtxRecord<'_>, shared: &Shared) -> Result<Event, Reason> {
    let id = record.event_record_id;
    let provenance = Provenance::new(shared.source.clone(), Location::Record(id));
    record
        .into_json_bytes()
        .map_err(|e| Reason::Evtx(cause(&e)))
        .and_then(|json| convert(&json.data, provenance))
}

/// What became of one intact chunk's promised ids.
#[derive(Default)]
struct Account {
    seen: HashSet<u64>,
    /// The parser could not read the chunk at all.
    failed: Option<String>,
}

/// The ids each intact chunk promised and those accounted for (read or rejected), kept on the reading
/// thread; what is left over becomes losses.
#[derive(Default)]
pub(super) struct Tally {
    accounts: BTreeMap<u64, Account>,
    /// Ids of recovered records from chunks whose header is not intact (or carved): they take their
    /// place out of the losses.
    recovered_ids: HashSet<u64>,
    recovered: u64,
    /// Carved copies of records already read, left out.
    carved_copies: u64,
}

/// Where a record goes: an event, or a rejection at a location.
pub(super) enum Verdict {
    Event(Event),
    Reject(Location, Reason),
    /// Part of a chunk already counted as lost.
    Skip,
}

impl Tally {
    /// Accounts for one item, given the chunk headers' promises.
    pub fn item(&mut self, item: Item, promised: impl Fn(u64) -> Option<Promise>) -> Verdict {
        match item {
            Item::Untrusted => Verdict::Skip,
            Item::Recovered {
                chunk,
                carved,
                id,
                offset,
                outcome,
            } => {
                let at = chunk.map_or(offset, |c| chunk_offset(c) + offset);
                // a promised record of an intact chunk is claimed as any other; a carved one, or one of
                // a chunk whose header cannot be believed, is kept to be taken out of the losses, once
                let fresh = match chunk {
                    Some(c) if !carved => self.claim(c, id, &promised).is_ok(),
                    _ => {
                        !self.accounts.values().any(|a| a.seen.contains(&id))
                            && self.recovered_ids.insert(id)
                    }
                };
                if !fresh && carved {
                    // unused space keeps old copies of records read in full elsewhere
                    self.carved_copies += 1;
                    return Verdict::Skip;
                }
                if !fresh {
                    return Verdict::Reject(
                        Location::Offset(at),
                        Reason::Evtx(format!("a recovered record claims id {id}, already read")),
                    );
                }
                match outcome {
                    Ok(mut event) => {
                        event.insert("tags", Value::Array(vec![Value::from("recovered")]));
                        self.recovered += 1;
                        Verdict::Event(event)
                    }
                    Err(reason) => Verdict::Reject(Location::Record(id), reason),
                }
            }
            Item::Record {
                chunk,
                id,
                offset,
                outcome,
            } => {
                let at = chunk_offset(chunk) + offset;
                if let Err(why) = self.claim(chunk, id, &promised) {
                    return Verdict::Reject(
                        Location::Offset(at),
                        Reason::Evtx(format!("chunk {chunk}: a record claims id {id}, {why}")),
                    );
                }
                match outcome {
                    Outcome::Event(event) => Verdict::Event(event),
                    Outcome::Rejected(reason) => Verdict::Reject(
                        Location::Record(id),
                        Reason::Evtx(format!(
                            "chunk {chunk}, file offset {at:#x}: {}",
                            reason_text(reason)
                        )),
                    ),
                    Outcome::Unverified => Verdict::Reject(
                        Location::Record(id),
                        Reason::EvtxUnverified(format!(
                            "chunk {chunk}, file offset {at:#x}: the chunk's records fail their \
                             checksum, so this record's content cannot be trusted as evidence"
                        )),
                    ),
                }
            }
            Item::Failed {
                chunk,
                id,
                offset,
                reason,
            } => {
                let place = match (chunk, offset) {
                    (Some(chunk), Some(offset)) => {
                        format!(
                            "chunk {chunk}, file offset {:#x}",
                            chunk_offset(chunk) + offset
                        )
                    }
                    (Some(chunk), None) => {
                        format!("chunk {chunk} (file offset {:#x})", chunk_offset(chunk))
                    }
                    (None, _) => "an unknown chunk".to_string(),
                };
                let location = match (chunk, id, offset) {
                    (Some(c), Some(id), _) if self.claim(c, id, &promised).is_ok() => {
                        Location::Record(id)
                    }
                    (Some(c), _, Some(offset)) => Location::Offset(chunk_offset(c) + offset),
                    (Some(c), _, None) => Location::Offset(chunk_offset(c)),
                    (None, Some(id), _) => Location::Record(id),
                    (None, None, _) => Location::Offset(0),
                };
                Verdict::Reject(location, Reason::Evtx(format!("{place}: {reason}")))
            }
        }
    }

    /// How many records were recovered, and how many carved copies of records already read were left
    /// out.
    pub fn recovered(&self) -> (u64, u64) {
        (self.recovered, self.carved_copies)
    }

    /// `loss` without the ids recovered from it: the stretches still lost.
    pub fn not_recovered(&self, loss: Loss) -> Vec<Loss> {
        let Some((first, last)) = loss.records else {
            return vec![loss];
        };
        if self.recovered_ids.is_empty() {
            return vec![loss];
        }
        let mut ids: Vec<u64> = self
            .recovered_ids
            .iter()
            .copied()
            .filter(|id| (first..=last).contains(id))
            .collect();
        ids.sort_unstable();
        let mut out = Vec::new();
        let mut next = first;
        for id in ids
            .into_iter()
            .chain(std::iter::once(last.saturating_add(1)))
        {
            if id > next {
                out.push(Loss {
                    records: Some((next, id - 1)),
                    ..loss.clone()
                });
            }
            next = id.saturating_add(1);
        }
        out
    }

    /// The parser could not read chunk `slot` at all.
    pub fn chunk_failed(&mut self, slot: u64, cause: String) {
        self.accounts.entry(slot).or_default().failed = Some(cause);
    }

    /// Why chunk `slot` could not be read, if it could not.
    pub fn failure(&self, slot: u64) -> Option<&str> {
        self.accounts.get(&slot)?.failed.as_deref()
    }

    /// The ids chunk `slot` promised but did not give, as losses (`cause` says why they are missing).
    pub fn unseen(&mut self, slot: u64, promise: Promise, cause: &str) -> Vec<Loss> {
        let mut seen: Vec<u64> = self
            .accounts
            .remove(&slot)
            .map(|a| a.seen.into_iter().collect())
            .unwrap_or_default();
        seen.sort_unstable();
        unseen(slot, promise, &seen, cause)
    }

    fn claim(
        &mut self,
        chunk: u64,
        id: u64,
        promised: &impl Fn(u64) -> Option<Promise>,
    ) -> Result<(), &'static str> {
        let Some(Promise { first, last, .. }) = promised(chunk) else {
            return Err("in a chunk whose header cannot be believed");
        };
        if !(first..=last).contains(&id) {
            return Err("outside the ids its chunk header names");
        }
        if self.recovered_ids.contains(&id) {
            return Err("already recovered from another chunk");
        }
        if !self.accounts.entry(chunk).or_default().seen.insert(id) {
            return Err("already read in this chunk");
        }
        Ok(())
    }
}

/// A rejection reason without the `EVTX: ` its display starts with, to be quoted inside another.
fn reason_text(reason: Reason) -> String {
    match reason {
        Reason::Evtx(text) | Reason::EvtxUnverified(text) => text,
        other => other.to_string(),
    }
}

/// The ids of `promise` that `seen` (sorted) does not hold, as losses of chunk `slot`.
fn unseen(slot: u64, promise: Promise, seen: &[u64], cause: &str) -> Vec<Loss> {
    let Promise { first, last, .. } = promise;
    let mut losses = Vec::new();
    let mut next = first;
    let loss = |from: u64, to: u64| Loss {
        chunks: vec![slot],
        offset: chunk_offset(slot),
        records: Some((from, to)),
        cause: cause.to_string(),
    };
    for &id in seen {
        if id > next {
            losses.push(loss(next, id - 1));
        }
        next = id.saturating_add(1);
    }
    if next <= last {
        losses.push(loss(next, last));
    }
    losses
}

#[cfg(test)]
mod tests {
    use super::*;

    fn promise(first: u64, last: u64) -> Promise {
        Promise {
            first,
            last,
            number: first,
        }
    }

    #[test]
    fn unseen_ids_become_runs() {
        let ranges = |first, last, seen: &[u64]| -> Vec<(u64, u64)> {
            unseen(0, promise(first, last), seen, "x")
                .iter()
                .filter_map(|l| l.records)
                .collect()
        };
        assert_eq!(ranges(1, 10, &(1..=10).collect::<Vec<_>>()), vec![]);
        assert_eq!(
            ranges(1, 10, &[1, 2, 5, 6, 9]),
            vec![(3, 4), (7, 8), (10, 10)]
        );
        assert_eq!(ranges(1, 10, &[]), vec![(1, 10)]);
        assert_eq!(ranges(1, 10, &[10]), vec![(1, 9)]);
        assert_eq!(ranges(5, 5, &[]), vec![(5, 5)]);
    }

    #[test]
    fn a_record_outside_its_chunk_or_read_twice_is_rejected_by_offset() {
        let mut tally = Tally::default();
        let promised = |chunk: u64| (chunk == 2).then(|| promise(10, 20));
        let record = |id| Item::Record {
            chunk: 2,
            id,
            offset: 0x200,
            outcome: Outcome::Unverified,
        };
        assert!(matches!(
            tally.item(record(11), promised),
            Verdict::Reject(Location::Record(11), _)
        ));
        for id in [11, 99] {
            let verdict = tally.item(record(id), promised);
            assert!(
                matches!(&verdict, Verdict::Reject(Location::Offset(at), reason)
                    if *at == 4096 + 2 * 65536 + 0x200
                        && reason.to_string().contains(&format!("claims id {id}"))),
                "record {id} not rejected by offset"
            );
        }
        let lost: Vec<_> = tally
            .unseen(2, promise(10, 20), "gone")
            .iter()
            .filter_map(|l| l.records)
            .collect();
        assert_eq!(lost, vec![(10, 10), (12, 20)]);
    }

    #[test]
    fn a_record_finds_its_chunk_by_id() {
        let shared = Shared {
            source: Arc::from("x"),
            ranges: vec![(promise(1, 90), 0), (promise(91, 180), 3)],
            dirty_newest: None,
            recover: false,
        };
        assert_eq!(shared.chunk_of_id(1), Some(0));
        assert_eq!(shared.chunk_of_id(91), Some(3));
        assert_eq!(shared.chunk_of_id(180), Some(3));
        assert_eq!(shared.chunk_of_id(181), None);
        assert_eq!(shared.chunk_of_id(0), None);
        assert_eq!(shared.chunk_starting_at(91), Some(3));
        assert_eq!(shared.chunk_starting_at(92), None);
    }
}
