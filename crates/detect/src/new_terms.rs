//! New-terms rules: alert the first time a value (or combination of values) of the given fields appears
//! within the history window. A value last seen longer than the window ago is new again.
//!
//! A rule needs history before it can call anything new: it learns for one full window from the first
//! event it sees, and alerts only after that (Elastic gets the same from querying the history range).

use std::collections::HashMap;

use secops_event::{Event, Timestamp, Value};

use crate::threshold::Crossing;
use crate::Duration;

#[derive(Debug)]
pub struct NewTermsState {
    fields: Vec<String>,
    window: i64,
    started: Option<Timestamp>,
    /// Last time each combination was seen.
    seen: HashMap<Vec<String>, Timestamp>,
}

impl NewTermsState {
    pub fn new(fields: &[String], window: Duration) -> Self {
        NewTermsState {
            fields: fields.to_vec(),
            window: window.as_nanos() as i64,
            started: None,
            seen: HashMap::new(),
        }
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
        let previous = self.seen.insert(terms.clone(), time);
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
