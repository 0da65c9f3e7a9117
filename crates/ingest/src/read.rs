//! Reading one input end to end: open, detect the format, parse, count.

use std::io::BufRead;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use secops_event::Event;

use crate::formats::syslog::{YearHint, Zone};
use crate::formats::{apache_access, apache_error, cef, evtx, json, syslog, zeek};
use crate::input::{open, Opened};
use crate::lines::{read_lines, Emit, Item, LineParser, PerLine};
use crate::{sniff, Format, IngestError, Input, Rejection, Summary};

/// Options that apply to every input of a run.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Read every input as this format instead of detecting it.
    pub format: Option<Format>,
    /// The year of the first line of RFC 3164 syslog (which carries none). Without it, the year comes from
    /// the file's modification time.
    pub year: Option<i32>,
    /// The zone RFC 3164 syslog times are in (they carry none; default UTC).
    pub timezone: Option<Zone>,
    /// EVTX: also read what the checksums cannot vouch for (records of chunks whose header or records
    /// fail their CRC32) and carve records from chunks' unused space; such events are tagged `recovered`.
    pub evtx_recover: bool,
    /// Where reading counts its bytes and records as it goes, for a progress display.
    pub counters: Option<Arc<Counters>>,
}

/// How far reading has got, updated as it goes (shared with whoever shows progress).
#[derive(Debug, Default)]
pub struct Counters {
    /// Bytes read from the inputs' files (compressed bytes for gzip; EVTX files are read by their own
    /// reader and not counted).
    pub bytes: AtomicU64,
    /// Records read (events and rejections).
    pub records: AtomicU64,
}

/// Reads one input, sending each record to `sink` as an event or a rejection, and returns the counts.
/// An `Err` means the input could not be read at all (missing file, undetectable format).
pub fn read_input(
    input: &Input,
    options: &Options,
    sink: &mut dyn FnMut(Result<Event, Rejection>),
) -> Result<Summary, IngestError> {
    read_items(input, options, false, &mut |item| match item {
        Item::Record(record) => sink(record),
        // Nothing defers when not asked to.
        Item::Deferred(_) => {}
    })
}

/// [`read_input`], handing on items: with `defer`, lines that parse on their own (a JSON object on one
/// line) are left unparsed and uncounted, and the caller (its workers) finishes and counts them in
/// order; every other record is handed on uncounted too, so that one count keeps the input's order.
pub(crate) fn read_items(
    input: &Input,
    options: &Options,
    defer: bool,
    sink: &mut dyn FnMut(Item),
) -> Result<Summary, IngestError> {
    let name = input.name();
    let opened = open(input, options.counters.clone())?;
    let format = match options.format {
        Some(format) => format,
        None => {
            sniff::detect(&name, &opened.head).map_err(|reason| IngestError::UnknownFormat {
                path: name.clone(),
                reason,
            })?
        }
    };
    let source: Arc<str> = Arc::from(name.as_str());
    let mut summary = Summary::new(name, format);
    let mut emit = Emit::new(source, sink, &mut summary);
    emit.counters = options.counters.clone();
    emit.tally = !defer;
    emit.defer = defer;
    read_opened(format, opened, input, options, &mut emit)?;
    Ok(summary)
}

/// Parses bytes already in memory as `format` (for tests and fuzzing).
pub fn read_bytes(
    format: Format,
    name: &str,
    bytes: &[u8],
    options: &Options,
    sink: &mut dyn FnMut(Result<Event, Rejection>),
) -> Summary {
    let mut summary = Summary::new(name.to_string(), format);
    let mut sink = |item| {
        if let Item::Record(record) = item {
            sink(record)
        }
    };
    let mut emit = Emit::new(Arc::from(name), &mut sink, &mut summary);
    if format == Format::Evtx {
        if let Err(e) = evtx::read_buffer(bytes.to_vec(), options.evtx_recover, &mut emit) {
            let reason = match e {
                IngestError::Evtx { reason, .. } => reason,
                other => other.to_string(),
            };
            emit.reject(
                secops_event::Location::Ordinal(1),
                crate::Reason::Evtx(reason),
            );
        }
    } else {
        read_text(format, bytes, None, options, &mut emit);
    }
    summary
}

fn read_opened(
    format: Format,
    opened: Opened,
    input: &Input,
    options: &Options,
    emit: &mut Emit<'_>,
) -> Result<(), IngestError> {
    if format == Format::Evtx {
        return match input {
            Input::File(path) if !opened.gzip => evtx::read_file(path, options.evtx_recover, emit),
            _ => evtx::read_reader(opened.reader, options.evtx_recover, emit),
        };
    }
    let year = opened.modified.map(syslog::year_of);
    read_text(format, opened.reader, year, options, emit);
    Ok(())
}

fn read_text(
    format: Format,
    reader: impl BufRead,
    file_year: Option<YearHint>,
    options: &Options,
    emit: &mut Emit<'_>,
) {
    let year = match options.year {
        Some(year) => YearHint::given(year),
        None => file_year.unwrap_or_else(|| YearHint::from_time(std::time::SystemTime::now())),
    };
    let mut parser = line_parser(format, year, options.timezone);
    read_lines(reader, parser.as_mut(), emit);
}

/// The parser of a text format (EVTX's rendered JSON for EVTX).
pub(crate) fn line_parser(
    format: Format,
    year: YearHint,
    zone: Option<Zone>,
) -> Box<dyn LineParser + Send> {
    match format {
        Format::Syslog => Box::new(syslog::SyslogParser::new(year, zone)),
        Format::Cef => Box::new(cef::CefParser::new(year, zone)),
        Format::ApacheAccess => Box::new(PerLine(apache_access::parse)),
        Format::ApacheError => Box::new(PerLine(apache_error::parse)),
        Format::Zeek => Box::new(zeek::ZeekParser::default()),
        Format::Json => Box::new(json::JsonParser::new(json::Shape::Detect)),
        Format::CloudTrail => Box::new(json::JsonParser::new(json::Shape::CloudTrail)),
        Format::Evtx => Box::new(json::JsonParser::new(json::Shape::Windows)),
    }
}
