//! Binary EVTX files, through the `evtx` crate, normalized by [`super::windows`].
//!
//! Records are converted to events inside evtx's chunk workers. When this runs on a rayon worker (the
//! caller is already parallel over files), chunks are parsed inline: evtx's pipeline would otherwise block
//! a pool thread waiting for tasks queued on the same pool.

use std::io::{Read, Seek};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;

use evtx::{EvtxParser, ParserSettings};
use secops_event::{Event, Location, Provenance, Value};

use super::windows;
use crate::lines::Emit;
use crate::{IngestError, Reason};

pub(crate) fn read_file(path: &Path, emit: &mut Emit<'_>) -> Result<(), IngestError> {
    let parser = EvtxParser::from_path(path).map_err(|e| IngestError::Evtx {
        path: path.display().to_string(),
        reason: e.to_string(),
    })?;
    drive(parser, emit);
    Ok(())
}

/// For gzip and standard input, which cannot seek: the whole file is read into memory.
pub(crate) fn read_reader(mut reader: impl Read, emit: &mut Emit<'_>) -> Result<(), IngestError> {
    let mut buffer = Vec::new();
    reader
        .read_to_end(&mut buffer)
        .map_err(|source| IngestError::Io {
            path: emit.source.to_string().into(),
            source,
        })?;
    read_buffer(buffer, emit).map_err(|e| IngestError::Evtx {
        path: emit.source.to_string(),
        reason: e.to_string(),
    })
}

pub(crate) fn read_buffer(
    buffer: Vec<u8>,
    emit: &mut Emit<'_>,
) -> Result<(), evtx::err::EvtxError> {
    let parser = EvtxParser::from_buffer(buffer)?;
    drive(parser, emit);
    Ok(())
}

fn drive<T: Read + Seek>(parser: EvtxParser<T>, emit: &mut Emit<'_>) {
    let threads = if rayon::current_thread_index().is_some() {
        1
    } else {
        0
    };
    let mut parser =
        parser.with_configuration(ParserSettings::new().num_threads(threads).indent(false));
    let source = emit.source.clone();
    let mut ordinal = 0u64;
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        let records = parser.serialized_records(move |record| {
            let record = record?;
            let id = record.event_record_id;
            let json = record.into_json_bytes()?;
            Ok((
                id,
                convert(
                    &json.data,
                    Provenance::new(source.clone(), Location::Record(id)),
                ),
            ))
        });
        for record in records {
            ordinal += 1;
            match record {
                Ok((_, Ok(event))) => emit.event(event),
                Ok((id, Err(reason))) => emit.reject(Location::Record(id), reason),
                Err(e) => emit.reject(Location::Ordinal(ordinal), Reason::Evtx(e.to_string())),
            }
        }
    }));
    if outcome.is_err() {
        emit.reject(
            Location::Ordinal(ordinal + 1),
            Reason::Evtx(
                "the EVTX parser failed on this record; the rest of the file was not read".into(),
            ),
        );
    }
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
