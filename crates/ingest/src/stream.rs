//! Records parsed as they arrive, for sources that never end (listeners, tailed files): one source in
//! one format, its lines handed over as they come, the parser's state (the syslog year, Zeek's header,
//! a JSON document spanning lines) kept between calls. The events are those [`crate::read_input`]
//! makes of the same lines in a file.

use std::sync::Arc;

use secops_event::{Event, Location};

use crate::formats::syslog::{YearHint, Zone};
use crate::lines::{one_line, Emit, Item, LineParser};
use crate::read::line_parser;
use crate::{Format, Reason, Rejection, Summary, MAX_LINE};

/// One source's parser (see the module's documentation).
pub struct LineStream {
    source: Arc<str>,
    parser: Box<dyn LineParser + Send>,
    summary: Summary,
}

impl std::fmt::Debug for LineStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LineStream")
            .field("source", &self.source)
            .field("format", &self.summary.format)
            .finish_non_exhaustive()
    }
}

impl LineStream {
    /// A parser for `format` naming `source` in provenance. RFC 3164 syslog takes its first year from
    /// `year`, else from `now` (a line dated after now belongs to the year before), and its times are
    /// in `zone` (default UTC). EVTX is binary and
    /// has no lines: its rendered JSON is read instead.
    pub fn new(
        format: Format,
        source: &str,
        year: Option<i32>,
        zone: Option<Zone>,
        now: std::time::SystemTime,
    ) -> Self {
        let hint = match year {
            Some(year) => YearHint::given(year),
            None => YearHint::from_time(now),
        };
        LineStream {
            source: Arc::from(source),
            parser: line_parser(format, hint, zone),
            summary: Summary::new(source.to_string(), format),
        }
    }

    /// Parses the line numbered `number` (its bytes, end of line or not; blank lines hold no record):
    /// each record goes to `sink` as an event or a rejection, and is counted.
    pub fn line(
        &mut self,
        bytes: &[u8],
        number: u64,
        sink: &mut dyn FnMut(Result<Event, Rejection>),
    ) {
        let mut items = |item| {
            if let Item::Record(record) = item {
                sink(record)
            }
        };
        let mut emit = Emit::new(self.source.clone(), &mut items, &mut self.summary);
        if bytes.len() > MAX_LINE {
            emit.reject(
                Location::Line(number),
                Reason::LineTooLong { limit: MAX_LINE },
            );
            return;
        }
        one_line(bytes, number, self.parser.as_mut(), &mut emit);
    }

    /// The source has ended: records still being assembled are given or rejected.
    pub fn finish(&mut self, sink: &mut dyn FnMut(Result<Event, Rejection>)) {
        let mut items = |item| {
            if let Item::Record(record) = item {
                sink(record)
            }
        };
        let mut emit = Emit::new(self.source.clone(), &mut items, &mut self.summary);
        self.parser.finish(&mut emit);
    }

    /// What has been read so far: counts, rejections by reason with first examples.
    pub fn summary(&self) -> &Summary {
        &self.summary
    }

    /// The parser's memory a restart needs besides the position: the year RFC 3164 lines are in
    /// (syslog, CEF). Formats whose state is more (Zeek's header, a JSON document across lines) are
    /// read again from the start instead.
    pub fn years(&self) -> Option<(i32, u32)> {
        self.parser.years()
    }

    pub fn resume_years(&mut self, years: (i32, u32)) {
        self.parser.resume_years(years);
    }

    pub fn format(&self) -> Format {
        self.summary.format
    }
}
