//! Line-oriented reading with a bound on line length, and the interface of line-based parsers.

use std::io::BufRead;
use std::sync::Arc;

use secops_event::{Event, Location, Provenance};

use crate::{Reason, Rejection, Summary};

/// Lines longer than this are rejected (their remainder is skipped), so one runaway line cannot exhaust
/// memory.
pub const MAX_LINE: usize = 4 * 1024 * 1024;

/// What a reader hands on: a record, or a line it left for the caller's workers to parse
/// ([`Emit::defer`]).
pub(crate) enum Item {
    Record(Result<Event, Rejection>),
    Deferred(crate::formats::json::Deferred),
}

/// Where parsers send what they make of a record; counts everything into the summary.
pub(crate) struct Emit<'a> {
    pub source: Arc<str>,
    sink: &'a mut dyn FnMut(Item),
    pub summary: &'a mut Summary,
    /// Records are counted here too as they go, for a progress display.
    pub counters: Option<Arc<crate::Counters>>,
    /// Whether records are counted here (else whoever receives them counts them, in their order).
    pub tally: bool,
    /// Whether a parser may hand on a line that needs no state from the lines before it unparsed, for
    /// workers to parse in parallel.
    pub defer: bool,
}

impl<'a> Emit<'a> {
    pub fn new(source: Arc<str>, sink: &'a mut dyn FnMut(Item), summary: &'a mut Summary) -> Self {
        Emit {
            source,
            sink,
            summary,
            counters: None,
            tally: true,
            defer: false,
        }
    }

    /// Hands on a line unparsed (only when [`Emit::defer`] allows it).
    pub fn deferred(&mut self, line: crate::formats::json::Deferred) {
        (self.sink)(Item::Deferred(line));
    }

    pub fn provenance(&self, location: Location) -> Provenance {
        Provenance::new(self.source.clone(), location)
    }

    pub fn event(&mut self, event: Event) {
        self.record(Ok(event));
    }

    pub fn reject(&mut self, location: Location, reason: Reason) {
        let rejection = Rejection {
            provenance: self.provenance(location),
            reason,
        };
        self.record(Err(rejection));
    }

    fn record(&mut self, record: Result<Event, Rejection>) {
        if self.tally {
            self.summary.count(&record);
            count_progress(self.counters.as_deref());
        }
        (self.sink)(Item::Record(record));
    }

    /// Counts records the input promised that could not be read.
    pub fn lose(&mut self, loss: crate::Loss) {
        self.summary.count_lost(loss);
    }

    /// Records something about the input as a whole.
    pub fn note(&mut self, note: String) {
        self.summary.notes.push(note);
    }

    /// Emits a parser's answer for the record at `location`; `Ok(None)` is a line that holds no record.
    pub fn result(&mut self, location: Location, result: Result<Option<Event>, Reason>) {
        match result {
            Ok(Some(event)) => self.event(event),
            Ok(None) => {}
            Err(reason) => self.reject(location, reason),
        }
    }
}

/// Counts one record for a progress display.
pub(crate) fn count_progress(counters: Option<&crate::Counters>) {
    if let Some(counters) = counters {
        counters
            .records
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }
}

/// A parser of one line at a time. Parsers keep state across lines where the format needs it (the syslog
/// year, Zeek's header).
pub(crate) trait LineParser {
    /// Handles one line that is not blank. `number` is 1-based.
    fn line(&mut self, line: &str, number: u64, emit: &mut Emit<'_>);

    /// Called once after the last line (for records still being assembled).
    fn finish(&mut self, _emit: &mut Emit<'_>) {}

    /// The year RFC 3164 lines are in and the month of the last one, for formats that track it.
    fn years(&self) -> Option<(i32, u32)> {
        None
    }

    /// Carries on from [`LineParser::years`] saved earlier.
    fn resume_years(&mut self, _years: (i32, u32)) {}
}

/// A format whose lines are independent: one function from a line to an event.
pub(crate) struct PerLine(pub fn(&str, Provenance) -> Result<Event, Reason>);

impl LineParser for PerLine {
    fn line(&mut self, line: &str, number: u64, emit: &mut Emit<'_>) {
        let result = (self.0)(line, emit.provenance(Location::Line(number)));
        emit.result(Location::Line(number), result.map(Some));
    }
}

/// Feeds every non-blank line of `reader` to `parser`. Invalid UTF-8 is replaced (the parser then decides);
/// over-long lines and read errors are rejected with their line number.
pub(crate) fn read_lines(
    mut reader: impl BufRead,
    parser: &mut dyn LineParser,
    emit: &mut Emit<'_>,
) {
    let mut buf = Vec::with_capacity(1024);
    let mut number = 0u64;
    loop {
        buf.clear();
        number += 1;
        match read_bounded_line(&mut reader, &mut buf) {
            Ok(LineRead::Eof) => break,
            Ok(LineRead::TooLong) => emit.reject(
                Location::Line(number),
                Reason::LineTooLong { limit: MAX_LINE },
            ),
            Ok(LineRead::Line) => one_line(&buf, number, parser, emit),
            Err(e) => {
                emit.reject(Location::Line(number), Reason::Io(e.to_string()));
                break;
            }
        }
    }
    parser.finish(emit);
}

/// Hands one line's bytes (its end of line not yet trimmed) to `parser`, unless blank.
pub(crate) fn one_line(
    bytes: &[u8],
    number: u64,
    parser: &mut dyn LineParser,
    emit: &mut Emit<'_>,
) {
    // A crash can leave a run of NUL bytes (space the file system gave the file but the writer never
    // filled) with the next real record right after it, on the same line.
    let line = trim_line_end(bytes);
    let line = &line[line.iter().take_while(|&&b| b == 0).count()..];
    if line.iter().all(u8::is_ascii_whitespace) {
        return;
    }
    match std::str::from_utf8(line) {
        Ok(text) => parser.line(text, number, emit),
        Err(_) => parser.line(&String::from_utf8_lossy(line), number, emit),
    }
}

enum LineRead {
    Line,
    TooLong,
    Eof,
}

fn read_bounded_line(reader: &mut impl BufRead, buf: &mut Vec<u8>) -> std::io::Result<LineRead> {
    let mut too_long = false;
    let mut any = false;
    loop {
        let available = match reader.fill_buf() {
            Ok(available) => available,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if available.is_empty() {
            break;
        }
        any = true;
        let (chunk, done) = match memchr::memchr(b'\n', available) {
            Some(i) => (&available[..i], i + 1),
            None => (available, available.len()),
        };
        let found_newline = done > chunk.len();
        if !too_long {
            if buf.len() + chunk.len() > MAX_LINE {
                too_long = true;
                buf.clear();
            } else {
                buf.extend_from_slice(chunk);
            }
        }
        reader.consume(done);
        if found_newline {
            break;
        }
    }
    Ok(match (any, too_long) {
        (false, _) => LineRead::Eof,
        (true, true) => LineRead::TooLong,
        (true, false) => LineRead::Line,
    })
}

fn trim_line_end(line: &[u8]) -> &[u8] {
    let end = line
        .iter()
        .rposition(|&b| b != b'\r' && b != b'\n')
        .map_or(0, |i| i + 1);
    &line[..end]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Format;

    struct Collect(Vec<(u64, String)>);
    impl LineParser for Collect {
        fn line(&mut self, line: &str, number: u64, _emit: &mut Emit<'_>) {
            self.0.push((number, line.to_string()));
        }
    }

    fn run(input: &[u8]) -> (Vec<(u64, String)>, Summary) {
        let mut summary = Summary::new("t".into(), Format::Syslog);
        let mut sink = |_r: Item| {};
        let mut emit = Emit::new("t".into(), &mut sink, &mut summary);
        let mut parser = Collect(Vec::new());
        read_lines(input, &mut parser, &mut emit);
        (parser.0, summary)
    }

    #[test]
    fn numbers_lines_skips_blank_ones_and_strips_crlf() {
        let (lines, _) = run(b"a\r\n\n  \nb\nc");
        assert_eq!(lines, [(1, "a".into()), (4, "b".into()), (5, "c".into())]);
    }

    #[test]
    fn nul_padding_from_a_crash_does_not_swallow_the_next_record() {
        let mut input = b"first\n".to_vec();
        input.extend([0u8; 4096]);
        input.extend(b"second\n\0\0\0\nthird\n");
        let (lines, summary) = run(&input);
        assert_eq!(
            lines,
            [
                (1, "first".into()),
                (2, "second".into()),
                (4, "third".into())
            ]
        );
        assert_eq!(summary.rejected, 0);
    }

    #[test]
    fn over_long_line_is_rejected_and_reading_goes_on() {
        let mut input = vec![b'x'; MAX_LINE + 10];
        input.extend_from_slice(b"\nnext\n");
        let (lines, summary) = run(&input);
        assert_eq!(lines, [(2, "next".into())]);
        assert_eq!(summary.rejected, 1);
        assert_eq!(
            summary.rejections[0].first.to_string(),
            format!("t:1: line longer than {MAX_LINE} bytes")
        );
    }
}
