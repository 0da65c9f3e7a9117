//! EQL sequences: ordered steps joined on key fields, within `maxspan`, cancelled by `until`.
//!
//! Per join key the state holds at most one partial sequence per stage (the latest). An event is offered to
//! the steps from last to first and is used once: it completes the sequence at the last step, moves a
//! partial forward, or starts a new one at the first. With `runs=3`, a burst of failures therefore forms
//! consecutive runs of three, and the latest complete run is the one a success completes.
//! A partial older than `maxspan` (first event to this one) is dropped when it would advance. An event
//! matching `until` for a key drops that key's partials.

use secops_event::{Event, Provenance, Timestamp, Value};
use secops_rules::eql::Sequence;

use crate::alert::{MAX_EVENTS, MAX_PROVENANCE};
use crate::entities::{Entities, MAX_ENTITIES};
use crate::matcher::{compile_event_query, Matcher};
use crate::threshold::Crossing;
use crate::CompileError;

#[derive(Debug)]
pub struct SequenceState {
    steps: Vec<(Matcher, Vec<String>)>,
    until: Option<(Matcher, Vec<String>)>,
    maxspan: Option<i64>,
    /// Per join key, the latest partial at each stage (dropped once `maxspan` has passed).
    partials: Entities<Vec<Option<Partial>>>,
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct Partial {
    start: Timestamp,
    #[serde(with = "secops_event::codec::events")]
    events: Vec<Event>,
    provenance: Vec<Provenance>,
}

impl SequenceState {
    pub fn new(sequence: &Sequence) -> Result<SequenceState, CompileError> {
        let fields =
            |by: &[secops_rules::Field]| by.iter().map(|f| f.path.clone()).collect::<Vec<_>>();
        let steps = sequence
            .steps
            .iter()
            .map(|s| Ok((compile_event_query(&s.query)?, fields(&s.by))))
            .collect::<Result<Vec<_>, CompileError>>()?;
        let until = match &sequence.until {
            Some(u) => Some((compile_event_query(&u.query)?, fields(&u.by))),
            None => None,
        };
        let maxspan = sequence.maxspan.map(|d| d.as_nanos() as i64);
        Ok(SequenceState {
            steps,
            until,
            maxspan,
            partials: Entities::new(maxspan, MAX_ENTITIES),
        })
    }

    /// The join fields, when every step (and `until`) joins on the same ones.
    pub fn join_fields(&self) -> Option<&[String]> {
        let first = &self.steps.first()?.1;
        let same = self.steps.iter().all(|(_, f)| f == first)
            && self.until.as_ref().is_none_or(|(_, f)| f == first);
        same.then_some(first.as_slice())
    }

    /// What a checkpoint keeps of the state (see `snapshot.rs`).
    pub(crate) fn save(&self, out: &mut Vec<u8>) -> Result<(), postcard::Error> {
        self.partials.save(out)
    }

    pub(crate) fn reset(&mut self) {
        self.partials.clear();
    }

    pub(crate) fn restore<'a>(&mut self, bytes: &'a [u8]) -> Result<&'a [u8], postcard::Error> {
        self.partials.restore(bytes)
    }

    pub fn take_evicted(&mut self) -> u64 {
        self.partials.take_evicted()
    }

    /// A matcher true for any event a step or `until` could use (the rule's stateless selection).
    pub fn selector(&self) -> Matcher {
        let mut any: Vec<Matcher> = self.steps.iter().map(|(m, _)| m.clone()).collect();
        if let Some((m, _)) = &self.until {
            any.push(m.clone());
        }
        Matcher::Or(any)
    }

    /// The join key's values (`None` when the event lacks a key field).
    fn key(event: &Event, fields: &[String]) -> Option<Vec<String>> {
        fields
            .iter()
            .map(|f| event.get(f).map(Value::to_string))
            .collect()
    }

    /// Offers one event (events in time order); returns the completed sequence, if this event completes one.
    pub fn observe(&mut self, event: &Event) -> Option<Crossing> {
        let time = event.timestamp()?;
        if let Some((matcher, fields)) = &self.until {
            if matcher.matches(event) {
                if let Some(key) = Self::key(event, fields) {
                    self.partials.remove(&key);
                }
            }
        }
        let n = self.steps.len();
        for j in (0..n).rev() {
            let (matcher, fields) = &self.steps[j];
            if !matcher.matches(event) {
                continue;
            }
            let Some(key) = Self::key(event, fields) else {
                continue;
            };
            let stages = self.partials.entry(&key, time);
            if stages.len() < n {
                stages.resize(n, None);
            }
            if j == 0 {
                stages[0] = Some(Partial {
                    start: time,
                    events: vec![event.clone()],
                    provenance: vec![event.provenance().clone()],
                });
                return None;
            }
            let Some(mut partial) = stages[j - 1].take() else {
                continue;
            };
            if self
                .maxspan
                .is_some_and(|max| time.unix_nanos() - partial.start.unix_nanos() > max)
            {
                continue;
            }
            if partial.events.len() < MAX_EVENTS {
                partial.events.push(event.clone());
            }
            if partial.provenance.len() < MAX_PROVENANCE {
                partial.provenance.push(event.provenance().clone());
            }
            if j + 1 < n {
                stages[j] = Some(partial);
                return None;
            }
            if stages.iter().all(Option::is_none) {
                self.partials.remove(&key);
            }
            let group = fields.iter().cloned().zip(key).collect();
            return Some(Crossing {
                group,
                count: n as u64,
                first: partial.start,
                last: time,
                events: partial.events,
                provenance: partial.provenance,
            });
        }
        None
    }
}
