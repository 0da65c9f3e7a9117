//! New-terms rules: alert the first time a value (or combination of values) of the given fields appears
//! within the history window. A value last seen longer than the window ago is new again.
//!
//! A rule needs history before it can call anything new: it learns for one full window from the first
//! event it sees, and alerts only after that (Elastic gets the same from querying the history range),
//! or for the shorter `learning` period the rule gives (a rule promoted from a first-seen hunt learns
//! for the hunt's range and remembers as far back as the hunt compared).

use secops_event::{Event, Timestamp, Value};

use crate::entities::{Entities, MAX_ENTITIES};
use crate::threshold::Crossing;
use crate::Duration;

#[derive(Debug)]
pub struct NewTermsState {
    fields: Vec<String>,
    window: i64,
    /// How long after the first event nothing is new.
    learning: i64,
    started: Option<Timestamp>,
    /// Last time each combination was seen (forgotten once the window has passed: it is new again).
    seen: Entities<Option<Timestamp>>,
}

impl NewTermsState {
    pub fn new(fields: &[String], window: Duration, learning: Duration) -> Self {
        NewTermsState {
            fields: fields.to_vec(),
            window: window.as_nanos() as i64,
            learning: learning.as_nanos() as i64,
            started: None,
            seen: Entities::new(Some(window.as_nanos() as i64), MAX_ENTITIES),
        }
    }

    /// Combinations forgotten because too many were live, since the last call.
    /// What a checkpoint keeps of the state (see `snapshot.rs`): when learning started, and the terms.
    pub(crate) fn save(&self, out: &mut Vec<u8>) -> Result<(), postcard::Error> {
        postcard::to_io(&self.started, &mut *out)?;
        self.seen.save(out)
    }

    pub(crate) fn reset(&mut self) {
        self.started = None;
        self.seen.clear();
    }

    pub(crate) fn restore<'a>(&mut self, bytes: &'a [u8]) -> Result<&'a [u8], postcard::Error> {
        let (started, rest) = postcard::take_from_bytes(bytes)?;
        self.started = started;
        self.seen.restore(rest)
    }

    pub fn take_evicted(&mut self) -> u64 {
        self.seen.take_evicted()
    }

    pub fn observe(&mut self, event: &Event) -> Option<Crossing> {
        let time = event.timestamp()?;
        let terms = self
            .fields
            .iter()
            .map(|f| event.get(f).map(Value::to_string))
            .collect::<Option<Vec<_>>>()?;
        let started = *self.started.get_or_insert(time);
        let learning = time.unix_nanos() - started.unix_nanos() < self.learning;
        let previous = self.seen.entry(&terms, time).replace(time);
        let new = previous.is_none_or(|last| time.unix_nanos() - last.unix_nanos() > self.window);
        if learning || !new {
            return None;
        }
        Some(Crossing {
            group: self.fields.iter().cloned().zip(terms).collect(),
            count: 1,
            first: time,
            last: time,
            events: vec![event.clone()],
            provenance: vec![event.provenance().clone()],
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use secops_event::{Location, Provenance};

    fn at(day: i64, ip: &str) -> Event {
        let mut e = Event::new(Provenance::new("t", Location::Line(1)));
        e.set_timestamp(Timestamp::from_unix_nanos(day * 86_400_000_000_000));
        e.insert("source.ip", ip);
        e
    }

    #[test]
    fn a_shorter_learning_period_alerts_sooner_and_remembers_the_whole_window() {
        let fields = ["source.ip".to_string()];
        let day = |n: u64| Duration::from_nanos(n * 86_400_000_000_000);
        // Learns for a week, remembers a year: an address from day 0 is not new on day 100.
        let mut state = NewTermsState::new(&fields, day(365), day(7));
        assert!(state.observe(&at(0, "192.0.2.10")).is_none());
        assert!(state.observe(&at(3, "192.0.2.11")).is_none());
        assert!(state.observe(&at(100, "192.0.2.10")).is_none());
        assert!(state.observe(&at(100, "198.51.100.7")).is_some());
        assert!(state.observe(&at(101, "198.51.100.7")).is_none());
        // Learning for the whole window: still learning on day 100.
        let mut state = NewTermsState::new(&fields, day(365), day(365));
        assert!(state.observe(&at(0, "192.0.2.10")).is_none());
        assert!(state.observe(&at(100, "198.51.100.7")).is_none());
    }
}
