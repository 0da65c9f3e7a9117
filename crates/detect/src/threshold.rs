//! Threshold rules: count matching events per group within a window; alert when the count (weighted by
//! `count_field`, e.g. syslog's `event.count`) reaches the value and, when given, a field's distinct values
//! reach the cardinality.
//!
//! Sliding windows keep each group's recent events and drop those older than the window before the last
//! one; after an alert the group starts over. Tumbling windows count per fixed bucket
//! (`floor(time / window)`) and alert at most once per bucket.

//!
//! With `max_interval_cv` the counted events must also be regular in time (beaconing): the standard
//! deviation of the gaps between them is at most that fraction of their mean. Irregular groups keep counting
//! and may qualify later.
//!
//! Groups are [`Entities`]: dropped once the window has left them behind, at most
//! [`crate::entities::MAX_ENTITIES`] live, evictions counted.

use std::collections::{HashMap, VecDeque};

use crate::entities::{Entities, MAX_ENTITIES};

use secops_event::{Event, Provenance, Timestamp, Value};
use secops_rules::{Threshold, WindowMode};

use crate::alert::{MAX_EVENTS, MAX_PROVENANCE};
use crate::Duration;

#[derive(Debug)]
pub struct ThresholdState {
    fields: Vec<String>,
    value: u64,
    window: u64,
    mode: WindowMode,
    count_field: Option<String>,
    cardinality: Option<(String, u64)>,
    max_interval_cv: Option<f64>,
    groups: Entities<Group>,
}

#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
struct Group {
    /// (time, weight, cardinality value, provenance), oldest first.
    entries: VecDeque<(Timestamp, u64, Option<String>, Provenance)>,
    total: u64,
    /// Events per distinct cardinality value in the window, kept as entries come and go.
    distinct: HashMap<String, u64>,
    #[serde(with = "secops_event::codec::events")]
    samples: Vec<Event>,
    bucket: Option<i64>,
    fired: bool,
}

/// The coefficient of variation of the gaps between consecutive entries (`None` below three entries or
/// when every event came at once).
fn interval_cv(entries: &VecDeque<(Timestamp, u64, Option<String>, Provenance)>) -> Option<f64> {
    if entries.len() < 3 {
        return None;
    }
    let gaps: Vec<f64> = entries
        .iter()
        .zip(entries.iter().skip(1))
        .map(|((a, ..), (b, ..))| (b.unix_nanos() - a.unix_nanos()) as f64)
        .collect();
    let mean = gaps.iter().sum::<f64>() / gaps.len() as f64;
    if mean <= 0.0 {
        return None;
    }
    let variance = gaps.iter().map(|g| (g - mean).powi(2)).sum::<f64>() / gaps.len() as f64;
    Some(variance.sqrt() / mean)
}

impl Group {
    /// An entry left the window: one event less for its cardinality value.
    fn forget(&mut self, value: Option<&str>) {
        let Some(value) = value else { return };
        if let Some(count) = self.distinct.get_mut(value) {
            *count -= 1;
            if *count == 0 {
                self.distinct.remove(value);
            }
        }
    }
}

/// What a threshold crossing reports.
#[derive(Debug)]
pub struct Crossing {
    pub group: Vec<(String, String)>,
    pub count: u64,
    pub first: Timestamp,
    pub last: Timestamp,
    pub events: Vec<Event>,
    pub provenance: Vec<Provenance>,
}

impl ThresholdState {
    /// The fields the counts are grouped by.
    pub fn fields(&self) -> &[String] {
        &self.fields
    }

    pub fn new(spec: &Threshold, window: Duration) -> Self {
        ThresholdState {
            fields: spec.field.clone(),
            value: spec.value,
            window: window.as_nanos(),
            mode: spec.window_mode,
            count_field: spec.count_field.clone(),
            cardinality: spec.cardinality.first().map(|c| (c.field.clone(), c.value)),
            max_interval_cv: spec.max_interval_cv,
            groups: Entities::new(Some(window.as_nanos() as i64), MAX_ENTITIES),
        }
    }

    /// Groups evicted because too many were live, since the last call.
    /// What a checkpoint keeps of the state (see `snapshot.rs`).
    pub(crate) fn save(&self, out: &mut Vec<u8>) -> Result<(), postcard::Error> {
        self.groups.save(out)
    }

    pub(crate) fn reset(&mut self) {
        self.groups.clear();
    }

    pub(crate) fn restore<'a>(&mut self, bytes: &'a [u8]) -> Result<&'a [u8], postcard::Error> {
        self.groups.restore(bytes)
    }

    pub fn take_evicted(&mut self) -> u64 {
        self.groups.take_evicted()
    }

    /// Counts a matching event; returns a crossing when the threshold is reached. Events without a time or
    /// without every group-by field are not counted (returns `None`).
    pub fn observe(&mut self, event: &Event) -> Option<Crossing> {
        let time = event.timestamp()?;
        let key = self
            .fields
            .iter()
            .map(|f| event.get(f).map(Value::to_string))
            .collect::<Option<Vec<_>>>()?;
        let weight = match &self.count_field {
            Some(f) => event
                .get(f)
                .and_then(Value::as_i64)
                .filter(|&n| n > 0)
                .map_or(1, |n| n as u64),
            None => 1,
        };
        let distinct_value = match &self.cardinality {
            Some((field, _)) => Some(event.get(field)?.to_string()),
            None => None,
        };
        let group = self.groups.entry(&key, time);
        match self.mode {
            WindowMode::Sliding => {
                while group
                    .entries
                    .front()
                    .is_some_and(|(t, ..)| time.unix_nanos() - t.unix_nanos() > self.window as i64)
                {
                    if let Some((_, w, value, _)) = group.entries.pop_front() {
                        group.total -= w;
                        group.forget(value.as_deref());
                    }
                }
                if group.entries.is_empty() {
                    group.samples.clear();
                }
            }
            WindowMode::Tumbling => {
                let bucket = time.unix_nanos().div_euclid(self.window as i64);
                if group.bucket != Some(bucket) {
                    *group = Group {
                        bucket: Some(bucket),
                        ..Group::default()
                    };
                }
                if group.fired {
                    return None;
                }
            }
        }
        if let Some(value) = &distinct_value {
            *group.distinct.entry(value.clone()).or_default() += 1;
        }
        group
            .entries
            .push_back((time, weight, distinct_value, event.provenance().clone()));
        group.total += weight;
        if group.samples.len() < MAX_EVENTS {
            group.samples.push(event.clone());
        }
        if group.total < self.value {
            return None;
        }
        if let Some((_, needed)) = &self.cardinality {
            if (group.distinct.len() as u64) < *needed {
                return None;
            }
        }
        if let Some(max) = self.max_interval_cv {
            if interval_cv(&group.entries).is_none_or(|cv| cv > max) {
                return None;
            }
        }
        let crossing = Crossing {
            group: self.fields.iter().cloned().zip(key).collect(),
            count: group.total,
            first: group.entries.front().map_or(time, |(t, ..)| *t),
            last: time,
            events: std::mem::take(&mut group.samples),
            provenance: group
                .entries
                .iter()
                .take(MAX_PROVENANCE)
                .map(|(.., p)| p.clone())
                .collect(),
        };
        match self.mode {
            WindowMode::Sliding => {
                group.entries.clear();
                group.distinct.clear();
                group.total = 0;
            }
            WindowMode::Tumbling => group.fired = true,
        }
        Some(crossing)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use secops_testkit::events::at;

    fn state(mode: WindowMode, max_groups: usize) -> ThresholdState {
        let window = Duration::from_secs(300).as_nanos();
        ThresholdState {
            fields: vec!["source.ip".into()],
            value: 10,
            window,
            mode,
            count_field: None,
            cardinality: None,
            max_interval_cv: None,
            groups: Entities::new(Some(window as i64), max_groups),
        }
    }

    fn failure(seconds: i64, source: usize) -> Event {
        at(seconds)
            .text(
                "source.ip",
                &format!("198.18.{}.{}", source / 256, source % 256),
            )
            .build()
    }

    #[test]
    fn groups_the_window_has_left_behind_are_dropped() {
        for mode in [WindowMode::Sliding, WindowMode::Tumbling] {
            let mut state = state(mode, MAX_ENTITIES);
            // a day of single failures from a new source every second: never a crossing
            for i in 0..86_400 {
                assert!(state.observe(&failure(i, i as usize)).is_none());
            }
            // only the sources of the last window or two are still held
            assert!(
                state.groups.len() <= 601,
                "{mode:?}: {}",
                state.groups.len()
            );
            assert_eq!(state.take_evicted(), 0);
        }
    }

    #[test]
    fn past_the_cap_the_least_recently_seen_groups_go_and_are_counted() {
        let mut state = state(WindowMode::Sliding, 100);
        // one brute force runs on while a thousand spoofed sources pass inside the window
        let mut crossings = 0;
        for i in 0..1000 {
            state.observe(&failure(i / 10, 10_000 + i as usize));
            if i % 10 == 0 && state.observe(&failure(i / 10, 1)).is_some() {
                crossings += 1;
            }
        }
        assert!(state.groups.len() <= 100);
        assert!(state.take_evicted() >= 900);
        // the attacker, seen all along, kept its state: a crossing every ten failures
        assert_eq!(crossings, 10);
    }
}
