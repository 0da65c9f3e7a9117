//! Binary EVTX files, read with the `evtx` crate and normalized by [`super::windows`].
//!
//! Every record the file promises is accounted for: `layout` reads the file header and the chunk
//! headers (what they promise, and where the oldest records are in a log that has wrapped around); the
//! crate's pipeline parses the chunks, and `records` ties each record to its chunk, checks the chunk
//! against its own CRC32s and turns it into an event or a rejection naming the record and its file
//! offset; `layout::losses` sets what was found against what was promised, so a cut or damaged file
//! reports the chunks, offsets and record ids it lost (and the run exits 3).
//!
//! A chunk whose records fail their CRC32 yields rejections, not events: its bytes are not what the log
//! wrote, and altered text is not evidence. The one exception is the newest chunk of a log marked dirty
//! (not closed cleanly), whose checksum is expected to be stale; the summary says so. A chunk whose
//! header fails its CRC32 is lost whole: its string and template tables cannot be trusted either.
//!
//! Records are converted to events inside the crate's chunk workers. When this runs on a rayon worker
//! (the caller is already parallel over files), chunks are parsed inline: the crate's pipeline would
//! otherwise block a pool thread waiting for tasks queued on the same pool.

mod layout;
mod records;

use std::error::Error;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;
use std::sync::Arc;

use evtx::err::EvtxError;
use evtx::{EvtxParser, HeaderFlags, ParserSettings};
use secops_event::{Event, Location, Provenance, Value};

use super::windows;
use crate::lines::Emit;
use crate::{IngestError, Reason};
use layout::{Found, Header, Layout, MISSING, ZEROED};
use records::{Mapper, Shared, Tally, Verdict};

/// The most a pipe or a gzip stream is copied to disk for: the largest file the EVTX header can count
/// (65,535 chunks of 64 KiB after the 4 KiB header). A larger log is read from a file, not a stream:
/// a gzip bomb must not fill the disk.
const MAX_SPOOLED: u64 = 4096 + 65_535 * 65_536;

pub(crate) fn read_file(
    path: &Path,
    recover: bool,
    emit: &mut Emit<'_>,
) -> Result<(), IngestError> {
    let file = File::open(path).map_err(|source| IngestError::Io {
        path: path.into(),
        source,
    })?;
    read_seekable(file, recover, emit)
}

/// For gzip and standard input, which cannot seek: the stream is copied to a temporary file first (the
/// oldest records of a wrapped log can be anywhere), up to the largest size an EVTX file can have.
pub(crate) fn read_reader(
    reader: impl Read,
    recover: bool,
    emit: &mut Emit<'_>,
) -> Result<(), IngestError> {
    let io_error = |source| IngestError::Io {
        path: emit.source.to_string().into(),
        source,
    };
    let mut spool = tempfile::tempfile().map_err(io_error)?;
    let copied = std::io::copy(&mut reader.take(MAX_SPOOLED + 1), &mut spool).map_err(io_error)?;
    if copied > MAX_SPOOLED {
        return Err(IngestError::Evtx {
            path: emit.source.to_string(),
            reason: format!(
                "the stream is longer than {MAX_SPOOLED} bytes, the most an EVTX header can count: \
                 decompress it to a file and read that"
            ),
        });
    }
    read_seekable(spool, recover, emit)
}

/// Bytes already in memory (tests and fuzzing).
pub(crate) fn read_buffer(
    buffer: Vec<u8>,
    recover: bool,
    emit: &mut Emit<'_>,
) -> Result<(), IngestError> {
    read_seekable(std::io::Cursor::new(buffer), recover, emit)
}

fn read_seekable<R: Read + Seek + Send>(
    mut file: R,
    recover: bool,
    emit: &mut Emit<'_>,
) -> Result<(), IngestError> {
    let path = emit.source.to_string();
    let not_evtx = |reason: String| IngestError::Evtx {
        path: path.clone(),
        reason,
    };
    let layout = Layout::read(&mut file).map_err(not_evtx)?;
    for note in layout.notes() {
        emit.note(note);
    }
    let dirty_newest = layout
        .newest
        .filter(|_| layout.header.flags.contains(HeaderFlags::DIRTY));
    if let Some(slot) = dirty_newest.filter(|&slot| !records_intact(&mut file, slot)) {
        emit.note(format!(
            "chunk {slot} (the newest, in a log not closed cleanly) fails its records checksum, as a \
             chunk still being written does: its records are read"
        ));
    }
    file.seek(SeekFrom::Start(0))
        .map_err(|e| not_evtx(format!("cannot seek: {e}")))?;
    let parser = EvtxParser::from_read_seek(file).map_err(|e| not_evtx(cause(&e)))?;
    let threads = if rayon::current_thread_index().is_some() {
        1
    } else {
        0
    };
    let mut parser = parser.with_configuration(
        ParserSettings::new()
            .num_threads(threads)
            .indent(false)
            .validate_checksums(false)
            .recover_records(recover),
    );
    let promised = |slot: u64| layout.promised(slot);
    let shared = Arc::new(Shared {
        source: emit.source.clone(),
        ranges: layout.intact.clone(),
        dirty_newest,
        recover,
    });
    let mut tally = Tally::default();
    let mut ordinal = 0u64;
    let mut mapper = Mapper::new(shared);
    // 4688 creations get entity ids from the log's earlier creations: one log's, in record order.
    let mut processes = super::windows::ProcessIds::default();
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        // the crate clones this closure for every chunk: the mapper's state is one chunk's
        let items = parser.serialized_records(move |record| Ok(mapper.map(record)));
        for item in items {
            ordinal += 1;
            match item {
                Ok(item) => match tally.item(item, promised) {
                    Verdict::Event(mut event) => {
                        processes.link(&mut event);
                        emit.event(event)
                    }
                    Verdict::Reject(location, reason) => emit.reject(location, reason),
                    Verdict::Skip => {}
                },
                Err(EvtxError::FailedToParseChunk { chunk_id, source }) => {
                    tally.chunk_failed(chunk_id, cause(source.as_ref()));
                }
                Err(e) => emit.reject(Location::Ordinal(ordinal), Reason::Evtx(cause(&e))),
            }
        }
    }));
    let parser_failed = outcome.is_err();
    account(&layout, &mut tally, parser_failed, emit);
    if recover {
        let (recovered, copies) = tally.recovered();
        emit.note(format!(
            "{recovered} records recovered (tagged `recovered`): carved from unused chunk space or \
             read from chunks whose checksums fail; their content is not verified ({copies} carved \
             copies of records already read left out)"
        ));
    }
    Ok(())
}

/// Whether chunk `slot`'s records match the CRC32 its header stores.
fn records_intact<R: Read + Seek>(file: &mut R, slot: u64) -> bool {
    let mut data = Vec::with_capacity(layout::CHUNK_SIZE as usize);
    let read = file
        .seek(SeekFrom::Start(layout::chunk_offset(slot)))
        .and_then(|_| {
            file.by_ref()
                .take(layout::CHUNK_SIZE)
                .read_to_end(&mut data)
        });
    read.is_ok()
        && evtx::EvtxChunkHeader::from_bytes(&data)
            .is_ok_and(|header| layout::records_checksum_holds(&data, &header))
}

/// Sets what each chunk gave against what the headers promised, and counts the rest as lost.
fn account(layout: &Layout, tally: &mut Tally, parser_failed: bool, emit: &mut Emit<'_>) {
    let unread = if parser_failed {
        "the EVTX parser failed before reaching these records"
    } else {
        "not found in the chunk, though its header names them"
    };
    let mut found = Vec::with_capacity(layout.order.len());
    for &slot in &layout.order {
        let failure = tally.failure(slot).map(str::to_string);
        let finding = match &layout.slots[slot as usize] {
            Header::Missing => Found::Empty { cause: MISSING },
            Header::Cut { bytes, promise } => Found::Damaged {
                promise: *promise,
                cause: format!(
                    "the file ends inside this chunk ({bytes} of {} bytes present)",
                    layout::CHUNK_SIZE
                ),
            },
            Header::Zero => match failure {
                Some(cause) => Found::Damaged {
                    promise: None,
                    cause: format!("the chunk header is zeros but the chunk is not: {cause}"),
                },
                None => Found::Empty { cause: ZEROED },
            },
            Header::Damaged(cause) => Found::Damaged {
                promise: None,
                cause: cause.to_string(),
            },
            Header::Intact(promise) => match failure {
                Some(cause) => Found::Damaged {
                    promise: Some(*promise),
                    cause,
                },
                None => {
                    for loss in tally.unseen(slot, *promise, unread) {
                        emit.lose(loss);
                    }
                    Found::Read(*promise)
                }
            },
        };
        found.push((slot, finding));
    }
    let next_record_id = layout.header_intact.then_some(layout.header.next_record_id);
    let from_start = layout.order.first() == Some(&0);
    for loss in layout::losses(&found, next_record_id, from_start) {
        for loss in tally.not_recovered(loss) {
            emit.lose(loss);
        }
    }
}

/// An error and its causes, one after another (the `evtx` crate's outer errors say only which record).
fn cause(error: &dyn Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(inner) = source {
        let inner_text = inner.to_string();
        if !text.contains(&inner_text) {
            text.push_str(": ");
            text.push_str(&inner_text);
        }
        source = inner.source();
    }
    text
}

/// The record's JSON text, read straight into event values (no intermediate `serde_json::Value`).
fn convert(json: &[u8], provenance: Provenance) -> Result<Event, Reason> {
    match serde_json::from_slice::<Value>(json) {
        Ok(Value::Object(object)) => windows::normalize(object, provenance),
        Ok(_) => Err(Reason::NotAnObject("a non-object record")),
        Err(e) => Err(Reason::Evtx(format!(
            "rendered record is not valid JSON: {e}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn causes_are_chained_without_repeats() {
        let inner = std::io::Error::other("truncated record");
        let outer = IngestError::Io {
            path: "x".into(),
            source: inner,
        };
        assert_eq!(cause(&outer), "x: truncated record");
    }
}
