//! Events built in a line: `at(30).text("source.ip", "10.0.0.5").text("user.name", "alice").build()`.

use secops_event::{Event, Location, Provenance, Timestamp, Value};

/// 2026-01-01T00:00:00Z, the time [`at`] counts from.
pub const EPOCH_SECONDS: i64 = 1_767_225_600;

/// An event under construction.
#[derive(Debug, Clone)]
pub struct Builder {
    event: Event,
}

/// An event `seconds` after [`EPOCH_SECONDS`], from source `t` at that ordinal.
pub fn at(seconds: i64) -> Builder {
    let mut event = Event::new(Provenance::new(
        "t",
        Location::Ordinal(seconds.unsigned_abs()),
    ));
    event.set_timestamp(Timestamp::from_unix_nanos(
        (EPOCH_SECONDS + seconds) * 1_000_000_000,
    ));
    Builder { event }
}

/// An event at an RFC 3339 time, from source `t` line 1; an unreadable time fails the test.
pub fn event(time: &str) -> Builder {
    let time =
        Timestamp::parse_rfc3339(time).unwrap_or_else(|e| panic!("test event time {time:?}: {e}"));
    let mut event = Event::new(Provenance::new("t", Location::Line(1)));
    event.set_timestamp(time);
    Builder { event }
}

impl Builder {
    /// Adds a field.
    pub fn with(mut self, field: &str, value: impl Into<Value>) -> Self {
        self.event.insert(field, value);
        self
    }

    /// Adds a text field as a parser would type it: addresses of `*.ip` fields as IP values.
    pub fn text(self, field: &str, value: &str) -> Self {
        match Value::ip(value) {
            Some(ip) if field.ends_with(".ip") => self.with(field, ip),
            _ => self.with(field, value),
        }
    }

    /// Adds text fields in order (see [`Builder::text`]).
    pub fn texts(self, fields: &[(&str, &str)]) -> Self {
        fields.iter().fold(self, |b, (k, v)| b.text(k, v))
    }

    /// The source and position the event says it came from.
    pub fn from(self, source: &str, location: Location) -> Self {
        let Builder { event } = self;
        let mut moved =
            Event::from_fields(event.fields().clone(), Provenance::new(source, location));
        if let Some(t) = event.timestamp() {
            moved.set_timestamp(t);
        }
        Builder { event: moved }
    }

    pub fn build(self) -> Event {
        self.event
    }
}
