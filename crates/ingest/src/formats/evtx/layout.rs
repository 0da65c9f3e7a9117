//! What an EVTX file promises, from its own headers, and what was lost when it does not keep it.
//!
//! The file header names the next record id and how many 64 KiB chunks follow it; each chunk header names
//! the first and last record id it holds, under a CRC32. [`Layout::read`] reads only the headers: what
//! each chunk slot holds ([`Header`]) and where the oldest records are (a log that has wrapped around
//! starts in the middle of the file). Once the records are read, each slot's finding ([`Found`]) goes
//! to [`losses`], which sets the findings against the promises: the records of a chunk that could not
//! be read are named by that chunk's header when it is intact, else by the chunks around it (record ids
//! run on from one chunk to the next), the first readable chunk's record number, and past the last
//! readable chunk by the file header's next record id.

use std::io::{Read, Seek, SeekFrom};

use evtx::{EvtxChunkData, EvtxChunkHeader, EvtxFileHeader, HeaderFlags};

use crate::Loss;

pub(super) const FILE_HEADER_SIZE: u64 = 4096;
pub(super) const CHUNK_SIZE: u64 = 65536;
pub(super) const CHUNK_HEADER_SIZE: usize = 512;

/// Where chunk `slot` starts in the file.
pub(super) fn chunk_offset(slot: u64) -> u64 {
    FILE_HEADER_SIZE.saturating_add(slot.saturating_mul(CHUNK_SIZE))
}

/// What the file holds at a chunk's place, by its header alone.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Header {
    /// An intact header (signature, CRC32, ids in order) and what it promises.
    Intact(Promise),
    /// A header that cannot be believed, and why.
    Damaged(&'static str),
    /// A header of zeros: an unused chunk, if the rest of it is zeros too.
    Zero,
    /// The file ends inside this chunk: the bytes present, and the header's promise if it survives.
    Cut {
        bytes: u64,
        promise: Option<Promise>,
    },
    /// Past the end of the file, though the file header promises it.
    Missing,
}

/// The file header and the chunk slots.
pub(super) struct Layout {
    pub header: EvtxFileHeader,
    /// The header's CRC32 matches: its chunk count and next record id can be believed.
    pub header_intact: bool,
    /// Every slot's header, by chunk number: the chunks present and the ones the file header promises.
    pub slots: Vec<Header>,
    /// Chunk numbers in record order, oldest records first.
    pub order: Vec<u64>,
    /// The chunk holding the newest records, which a log not closed cleanly may still have been writing.
    pub newest: Option<u64>,
    /// Intact chunks' promises and chunk numbers, by first record id (then chunk number): how a record
    /// finds its chunk.
    pub intact: Vec<(Promise, u64)>,
}

impl Layout {
    /// Reads the file header and every chunk header. An `Err` means this is not an EVTX file at all.
    pub fn read<R: Read + Seek>(file: &mut R) -> Result<Layout, String> {
        let length = file
            .seek(SeekFrom::End(0))
            .map_err(|e| format!("cannot seek: {e}"))?;
        file.seek(SeekFrom::Start(0))
            .map_err(|e| format!("cannot seek: {e}"))?;
        let mut block = Vec::with_capacity(FILE_HEADER_SIZE as usize);
        file.by_ref()
            .take(FILE_HEADER_SIZE)
            .read_to_end(&mut block)
            .map_err(|e| format!("cannot read the file header: {e}"))?;
        let header = EvtxFileHeader::from_bytes(&block).map_err(|e| e.to_string())?;
        let header_intact = checksum_holds(header.checksum, header.flags.bits(), || {
            header.computed_checksum
        });

        let present = length.saturating_sub(FILE_HEADER_SIZE).div_ceil(CHUNK_SIZE);
        let promised = if header_intact {
            u64::from(header.chunk_count)
        } else {
            0
        };
        let slots = present.max(promised);

        let mut headers = Vec::with_capacity(slots as usize);
        let mut chunk_header = Vec::with_capacity(CHUNK_HEADER_SIZE);
        for slot in 0..slots {
            let bytes = length.saturating_sub(chunk_offset(slot)).min(CHUNK_SIZE);
            chunk_header.clear();
            let read = file
                .seek(SeekFrom::Start(chunk_offset(slot)))
                .and_then(|_| {
                    file.by_ref()
                        .take(CHUNK_HEADER_SIZE as u64)
                        .read_to_end(&mut chunk_header)
                });
            headers.push(match read {
                _ if bytes == 0 => Header::Missing,
                Err(_) => Header::Damaged("the chunk header cannot be read"),
                Ok(_) if bytes < CHUNK_SIZE => Header::Cut {
                    bytes,
                    promise: promise(&chunk_header).ok(),
                },
                Ok(_) if chunk_header.iter().all(|&b| b == 0) => Header::Zero,
                Ok(_) => match promise(&chunk_header) {
                    Ok(promise) => Header::Intact(promise),
                    Err(cause) => Header::Damaged(cause),
                },
            });
        }
        let mut intact: Vec<(Promise, u64)> = headers
            .iter()
            .zip(0..)
            .filter_map(|(h, slot)| match h {
                Header::Intact(promise) => Some((*promise, slot)),
                _ => None,
            })
            .collect();
        intact.sort_by_key(|(promise, slot)| (promise.first, *slot));
        // Windows starts reading a log at its oldest records: the chunk whose header names the lowest id.
        // When that chunk's own header is damaged, a clean file header still says where it is (a log
        // marked dirty can be ahead of its header, so it is not asked).
        let lowest = intact.first().map(|(_, slot)| *slot);
        let named = header.first_chunk_number;
        let oldest = match lowest {
            _ if header_intact
                && !header.flags.contains(HeaderFlags::DIRTY)
                && named < slots
                && !matches!(headers[named as usize], Header::Intact(_)) =>
            {
                named
            }
            Some(slot) => slot,
            None => 0,
        };
        let newest = intact
            .iter()
            .map(|(promise, slot)| (promise.last, *slot))
            .max()
            .map(|(_, slot)| slot);
        let order = (oldest..slots).chain(0..oldest).collect();
        Ok(Layout {
            header,
            header_intact,
            slots: headers,
            order,
            newest,
            intact,
        })
    }

    /// What chunk `slot`'s header promises, if it is intact.
    pub fn promised(&self, slot: u64) -> Option<Promise> {
        match self.slots.get(slot as usize) {
            Some(Header::Intact(promise)) => Some(*promise),
            _ => None,
        }
    }

    /// What the file header says about the log as a whole, for the summary.
    pub fn notes(&self) -> Vec<String> {
        let mut notes = Vec::new();
        if !self.header_intact {
            notes.push(
                "the file header fails its checksum: its chunk count and next record id are not used"
                    .to_string(),
            );
        }
        if self.header.flags.contains(HeaderFlags::DIRTY) {
            notes.push(
                "the log was not closed cleanly (its header is marked dirty): the header may lag behind \
                 the chunks, and the newest chunk is read even if its checksum is stale"
                    .to_string(),
            );
        }
        if let Some(&first) = self.order.first().filter(|&&first| first != 0) {
            notes.push(format!(
                "the log has wrapped around (circular): its oldest records are in chunk {first}, \
                 read from there to the end of the file and then from chunk 0"
            ));
        }
        notes
    }
}

/// What an intact chunk header promises: the first and last record id it holds, and the first record's
/// number in the file (1 for the first record ever written to it; the same as the id in most logs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Promise {
    pub first: u64,
    pub last: u64,
    pub number: u64,
}

/// What a chunk header promises, if the header is intact (signature and CRC32) and its range is in
/// order; else why not.
pub(super) fn promise(chunk_header: &[u8]) -> Result<Promise, &'static str> {
    let bytes = chunk_header
        .get(..CHUNK_HEADER_SIZE)
        .ok_or("the chunk header is cut short")?;
    let chunk = EvtxChunkData::new(bytes.to_vec(), false)
        .map_err(|_| "no chunk signature (ElfChnk) at its start")?;
    let header = &chunk.header;
    if !checksum_holds(header.header_chunk_checksum, header.flags.bits(), || {
        let mut hasher = crc32fast::Hasher::new();
        hasher.update(&bytes[..120]);
        hasher.update(&bytes[128..CHUNK_HEADER_SIZE]);
        hasher.finalize()
    }) {
        return Err("the chunk header fails its checksum");
    }
    if header.first_event_record_id > header.last_event_record_id {
        return Err("the chunk header names its records in reverse order");
    }
    Ok(Promise {
        first: header.first_event_record_id,
        last: header.last_event_record_id,
        number: header.first_event_record_number,
    })
}

/// Whether a stored CRC32 matches the bytes it covers. A chunk may say it keeps no CRC32 (flag 0x4), but
/// only a chunk that stores none (0) is believed: one flipped flag bit must not turn the checks off.
pub(super) fn checksum_holds(stored: u32, flags: u32, computed: impl FnOnce() -> u32) -> bool {
    const NO_CRC32: u32 = 0x4;
    (flags & NO_CRC32 != 0 && stored == 0) || stored == computed()
}

/// Whether a chunk's records (from the end of its header to its free space) match their CRC32.
pub(super) fn records_checksum_holds(data: &[u8], header: &EvtxChunkHeader) -> bool {
    checksum_holds(header.events_checksum, header.flags.bits(), || {
        data.get(CHUNK_HEADER_SIZE..header.free_space_offset as usize)
            // a free space offset outside the chunk: no bytes to check, so no match
            .map_or(!header.events_checksum, crc32fast::hash)
    })
}

/// What the reader found in one chunk slot.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Found {
    /// A chunk whose header is intact and names these record ids; its records were read (as events or
    /// rejections), and any it names but does not hold are already counted as lost.
    Read(Promise),
    /// Nothing: all zeros (space the log has not used yet), or past the end of the file.
    Empty { cause: &'static str },
    /// A chunk that could not be read; `promise` when its header is intact and names its records.
    Damaged {
        promise: Option<Promise>,
        cause: String,
    },
}

/// The losses in `found` (chunk number and finding, in record order), beyond those inside readable
/// chunks. `next_record_id` is the file header's, when it can be believed. Before the first chunk whose
/// records are known, records are counted only when the log has not wrapped (`from_start`: the walk
/// began at chunk 0), by that chunk's record number.
pub(super) fn losses(
    found: &[(u64, Found)],
    next_record_id: Option<u64>,
    from_start: bool,
) -> Vec<Loss> {
    let mut losses = Vec::new();
    // The chunks since the last one whose records are known: where a gap in the ids went.
    let mut pending: Vec<(u64, &Found)> = Vec::new();
    let mut previous: Option<(u64, u64)> = None; // (chunk, last id)
    for (slot, finding) in found {
        let promise = match finding {
            Found::Read(promise)
            | Found::Damaged {
                promise: Some(promise),
                ..
            } => *promise,
            _ => {
                pending.push((*slot, finding));
                continue;
            }
        };
        let Promise {
            first,
            last,
            number,
        } = promise;
        let gap = match previous {
            Some((_, before)) if first > before.saturating_add(1) => Some((before + 1, first - 1)),
            // records written before this chunk's first, in chunks before it in the file
            None if from_start && number > 1 && number <= first => {
                Some((first - (number - 1), first - 1))
            }
            _ => None,
        };
        settle(&mut losses, &mut pending, gap, || match previous {
            Some((chunk, _)) => {
                format!("between chunks {chunk} and {slot}, in no chunk that could be read")
            }
            None => format!("before chunk {slot}, in no chunk that could be read"),
        });
        if let Found::Damaged { cause, .. } = finding {
            losses.push(Loss {
                chunks: vec![*slot],
                offset: chunk_offset(*slot),
                records: Some((first, last)),
                cause: cause.clone(),
            });
        }
        previous = Some(match previous {
            Some((chunk, before)) if before > last => (chunk, before),
            _ => (*slot, last),
        });
    }
    let gap = match (previous, next_record_id) {
        (Some((_, last)), Some(next)) if next > last.saturating_add(1) => {
            Some((last + 1, next - 1))
        }
        _ => None,
    };
    let last_chunk = previous.map(|(chunk, _)| chunk);
    settle(&mut losses, &mut pending, gap, || {
        match (last_chunk, next_record_id) {
        (Some(chunk), Some(next)) => format!(
            "the file header's next record id is {next}, but no chunk after chunk {chunk} holds them"
        ),
        _ => String::new(),
    }
    });
    losses
}

/// Accounts for the chunks in `pending` once the chunk after them is known: a `gap` in the record ids
/// is theirs (the damaged or missing ones, else the zeroed ones); damaged or missing chunks with no gap
/// are listed with their records unknown; a gap with no chunk to hold it is listed as such.
fn settle(
    losses: &mut Vec<Loss>,
    pending: &mut Vec<(u64, &Found)>,
    gap: Option<(u64, u64)>,
    orphan_cause: impl FnOnce() -> String,
) {
    let damaged: Vec<(u64, &str)> = pending
        .iter()
        .filter_map(|(slot, finding)| match finding {
            Found::Damaged { cause, .. } => Some((*slot, cause.as_str())),
            Found::Empty {
                cause: cause @ MISSING,
            } => Some((*slot, *cause)),
            _ => None,
        })
        .collect();
    let holders: Vec<(u64, &str)> = match gap {
        // a gap in the ids is the damaged or missing chunks', else the zeroed ones'
        Some(_) if damaged.is_empty() => pending
            .iter()
            .filter_map(|(slot, finding)| match finding {
                Found::Empty { cause } => Some((*slot, *cause)),
                _ => None,
            })
            .collect(),
        _ => damaged,
    };
    if gap.is_some() || !holders.is_empty() {
        let mut causes: Vec<&str> = Vec::new();
        for (_, cause) in &holders {
            if !causes.contains(cause) {
                causes.push(cause);
            }
        }
        losses.push(Loss {
            chunks: holders.iter().map(|(slot, _)| *slot).collect(),
            offset: holders.first().map_or(0, |(slot, _)| chunk_offset(*slot)),
            records: gap,
            cause: if holders.is_empty() {
                orphan_cause()
            } else {
                causes.join("; ")
            },
        });
    }
    pending.clear();
}

/// Why a chunk the file header promises is not there.
pub(super) const MISSING: &str = "not in the file, which ends early";
/// A chunk of zeros: unused space, unless records are missing around it.
pub(super) const ZEROED: &str = "the chunk is all zeros";

#[cfg(test)]
mod tests {
    use super::*;

    fn read(first: u64, last: u64) -> Found {
        Found::Read(promise(first, last))
    }

    fn promise(first: u64, last: u64) -> Promise {
        Promise {
            first,
            last,
            number: first,
        }
    }

    fn damaged(cause: &str) -> Found {
        Found::Damaged {
            promise: None,
            cause: cause.into(),
        }
    }

    fn empty(cause: &'static str) -> Found {
        Found::Empty { cause }
    }

    #[test]
    fn an_intact_log_loses_nothing() {
        let found = [(0, read(1, 90)), (1, read(91, 180)), (2, empty(ZEROED))];
        assert!(losses(&found, Some(181), true).is_empty());
    }

    #[test]
    fn a_damaged_chunk_loses_the_ids_between_its_neighbours() {
        let found = [(0, read(1, 90)), (1, damaged("bad")), (2, read(181, 200))];
        let lost = losses(&found, Some(201), true);
        assert_eq!(lost.len(), 1);
        assert_eq!(
            (lost[0].chunks.clone(), lost[0].records),
            (vec![1], Some((91, 180)))
        );
        assert_eq!(lost[0].offset, 4096 + 65536);
    }

    #[test]
    fn a_cut_file_loses_up_to_the_headers_next_record_id() {
        let found = [
            (0, read(1, 90)),
            (
                1,
                Found::Damaged {
                    promise: Some(promise(91, 180)),
                    cause: "cut".into(),
                },
            ),
            (2, empty(MISSING)),
            (3, empty(MISSING)),
        ];
        let lost = losses(&found, Some(301), true);
        assert_eq!(lost.len(), 2);
        assert_eq!(
            (lost[0].chunks.clone(), lost[0].records),
            (vec![1], Some((91, 180)))
        );
        assert_eq!(
            (lost[1].chunks.clone(), lost[1].records),
            (vec![2, 3], Some((181, 300)))
        );
        assert_eq!(lost[1].count(), 120);
        assert_eq!(
            lost[1].to_string(),
            "chunks 2-3 (file offset 0x21000): records 181-300 lost (120): not in the file, which ends early"
        );
    }

    #[test]
    fn a_zeroed_chunk_between_records_holds_the_gap_and_a_trailing_one_nothing() {
        let found = [
            (0, read(1, 90)),
            (1, empty(ZEROED)),
            (2, read(181, 200)),
            (3, empty(ZEROED)),
        ];
        let lost = losses(&found, Some(201), true);
        assert_eq!(lost.len(), 1);
        assert_eq!(
            (lost[0].chunks.clone(), lost[0].records),
            (vec![1], Some((91, 180)))
        );
    }

    #[test]
    fn a_damaged_chunk_with_no_gap_is_listed_with_its_records_unknown() {
        let found = [(0, read(1, 90)), (1, damaged("bad")), (2, read(91, 200))];
        let lost = losses(&found, Some(201), true);
        assert_eq!(lost.len(), 1);
        assert_eq!(lost[0].records, None);
        assert_eq!(lost[0].count(), 0);
    }

    #[test]
    fn a_file_cut_after_its_header_loses_every_promised_chunk() {
        let found = [(0, empty(MISSING)), (1, empty(MISSING))];
        let lost = losses(&found, Some(181), true);
        assert_eq!(lost.len(), 1);
        assert_eq!(
            (lost[0].chunks.clone(), lost[0].records),
            (vec![0, 1], None)
        );
        assert_eq!(
            lost[0].to_string(),
            "chunks 0-1 (file offset 0x1000): records unknown lost: not in the file, which ends early"
        );
    }

    #[test]
    fn a_gap_in_no_chunk_is_still_reported() {
        let found = [(0, read(1, 90)), (1, read(100, 200))];
        let lost = losses(&found, Some(201), true);
        assert_eq!(lost.len(), 1);
        assert_eq!(
            (lost[0].chunks.clone(), lost[0].records),
            (vec![], Some((91, 99)))
        );
        let lost = losses(&[(0, read(1, 90))], Some(95), true);
        assert_eq!(lost[0].records, Some((91, 94)));
        assert!(
            lost[0].cause.contains("next record id is 95"),
            "{}",
            lost[0].cause
        );
    }

    #[test]
    fn damaged_first_chunks_lose_the_records_numbered_before_the_first_readable_one() {
        let found = [(0, damaged("bad")), (1, empty(ZEROED)), (2, read(181, 200))];
        let lost = losses(&found, Some(201), true);
        assert_eq!(lost.len(), 1);
        assert_eq!(
            (lost[0].chunks.clone(), lost[0].records),
            (vec![0], Some((1, 180)))
        );
        // a wrapped log's records before its oldest readable chunk were overwritten, not lost
        let lost = losses(&found, Some(201), false);
        assert_eq!((lost[0].chunks.clone(), lost[0].records), (vec![0], None));
    }

    #[test]
    fn a_wrapped_log_counts_ids_in_record_order() {
        // chunk 2 holds the oldest records; chunk 0 the newest, damaged
        let found = [
            (2, read(500, 590)),
            (3, read(591, 680)),
            (0, damaged("bad")),
            (1, read(771, 800)),
        ];
        let lost = losses(&found, Some(801), false);
        assert_eq!(lost.len(), 1);
        assert_eq!(
            (lost[0].chunks.clone(), lost[0].records),
            (vec![0], Some((681, 770)))
        );
    }
}
