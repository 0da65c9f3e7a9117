//! New-terms rules: alert the first time a value (or combination of values) of the given fields appears
//! within the history window. A value last seen longer than the window ago is new again.
//!
//! A rule needs history before it can call anything new: it learns for one full window from the first
//! event it sees, and alerts only after that (Elastic gets the same from querying the history range).

use secops_event::{Event, Timestamp, Value};

use crate::entities::{Entities, MAX_ENTITIES};
use crate::threshold::Crossing;
use crate::Duration;

#[derive(Debug)]
pub struct NewTermsState {
    fields: Vec<String>,
    window: i64,
    started: Option<Timestamp>,
    /// Last time each combination was seen (forgotten once the window has passed: it is new again).
    seen: Entities<Option<Timestamp>>,
}

impl NewTermsState {
    pub fn new(fields: &[String], window: Duration) -> Self {
        NewTermsState {
            fields: fields.to_vec(),
            window: window.as_nanos() as i64,
            started: None,
            seen: Entities::new(Some(window.as_nanos() as i64), MAX_ENTITIES),
        }
    }

    /// Combinations forgotten because too many were live, since the last call.
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
        let learning = time.unix_nanos() - started.unix_nanos() < self.window;
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
