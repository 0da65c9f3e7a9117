//! Anomaly rules: per-entity event counts per bucket against the entity's own baseline.
//!
//! `median_mad`: the robust z-score `0.6745 * (count - median) / MAD` over the last `history` buckets
//! (empty buckets count as zero); when the MAD is zero the mean absolute deviation stands in, and at least
//! one event of spread is assumed, so a perfectly flat baseline still needs a real jump. `ewma`: an
//! exponentially weighted mean and variance (alpha 0.1), scored in standard deviations. Only spikes above
//! the baseline alert, at most once per bucket, only after `min_history` buckets were seen, and only once
//! the bucket holds `min_count` events.

use std::collections::VecDeque;

use secops_event::{Event, Value};
use secops_rules::{Anomaly, AnomalyMethod};

use crate::alert::{MAX_EVENTS, MAX_PROVENANCE};
use crate::entities::{Entities, MAX_ENTITIES};
use crate::threshold::Crossing;
use crate::Duration;

#[derive(Debug)]
pub struct AnomalyState {
    by: Vec<String>,
    bucket: i64,
    method: Method,
    min_history: usize,
    history: usize,
    threshold: f64,
    min_count: u64,
    /// Never dropped for silence (a dormant entity waking up is what such rules look for), only evicted
    /// past the cap.
    entities: Entities<Entity>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Method {
    MedianMad,
    Ewma,
}

#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
struct Entity {
    bucket: i64,
    count: u64,
    fired: bool,
    past: VecDeque<f64>,
    /// EWMA mean and variance, and how many buckets fed them.
    mean: f64,
    variance: f64,
    fed: usize,
    #[serde(with = "secops_event::codec::events")]
    events: Vec<Event>,
    provenance: Vec<secops_event::Provenance>,
    first: Option<secops_event::Timestamp>,
}

impl AnomalyState {
    /// The fields an entity's baseline is kept by.
    pub fn by(&self) -> &[String] {
        &self.by
    }

    pub fn new(spec: &Anomaly, bucket: Duration) -> Self {
        AnomalyState {
            by: spec.by.clone(),
            bucket: bucket.as_nanos() as i64,
            method: match spec.method {
                AnomalyMethod::Ewma => Method::Ewma,
                AnomalyMethod::MedianMad => Method::MedianMad,
            },
            min_history: spec.min_history as usize,
            history: spec.history as usize,
            threshold: spec.threshold,
            min_count: spec.min_count,
            entities: Entities::new(None, MAX_ENTITIES),
        }
    }

    /// Entities evicted because too many were live, since the last call.
    /// What a checkpoint keeps of the state (see `snapshot.rs`).
    pub(crate) fn save(&self, out: &mut Vec<u8>) -> Result<(), postcard::Error> {
        self.entities.save(out)
    }

    pub(crate) fn reset(&mut self) {
        self.entities.clear();
    }

    pub(crate) fn restore<'a>(&mut self, bytes: &'a [u8]) -> Result<&'a [u8], postcard::Error> {
        self.entities.restore(bytes)
    }

    pub fn take_evicted(&mut self) -> u64 {
        self.entities.take_evicted()
    }

    pub fn observe(&mut self, event: &Event) -> Option<Crossing> {
        let time = event.timestamp()?;
        let key = self
            .by
            .iter()
            .map(|f| event.get(f).map(Value::to_string))
            .collect::<Option<Vec<_>>>()?;
        let bucket = time.unix_nanos().div_euclid(self.bucket);
        let (method, history) = (self.method, self.history);
        let entity = self.entities.entry_or(&key, time, || Entity {
            bucket,
            ..Entity::default()
        });
        if bucket > entity.bucket {
            // Close the bucket, and the empty ones between (at most a history's worth).
            let gap = ((bucket - entity.bucket - 1) as usize).min(history);
            let closed = entity.count as f64;
            entity.push(closed, method, history);
            for _ in 0..gap {
                entity.push(0.0, method, history);
            }
            entity.bucket = bucket;
            entity.count = 0;
            entity.fired = false;
            entity.events.clear();
            entity.provenance.clear();
            entity.first = None;
        } else if bucket < entity.bucket {
            return None; // a late event of a closed bucket
        }
        entity.count += 1;
        entity.first.get_or_insert(time);
        if entity.events.len() < MAX_EVENTS {
            entity.events.push(event.clone());
        }
        if entity.provenance.len() < MAX_PROVENANCE {
            entity.provenance.push(event.provenance().clone());
        }
        if entity.fired || entity.seen() < self.min_history || entity.count < self.min_count {
            return None;
        }
        let score = entity.score(entity.count as f64, method)?;
        if score <= self.threshold {
            return None;
        }
        entity.fired = true;
        Some(Crossing {
            group: self.by.iter().cloned().zip(key).collect(),
            count: entity.count,
            first: entity.first.unwrap_or(time),
            last: time,
            events: entity.events.clone(),
            provenance: entity.provenance.clone(),
        })
    }
}

impl Entity {
    fn seen(&self) -> usize {
        self.past.len().max(self.fed)
    }

    fn push(&mut self, count: f64, method: Method, history: usize) {
        match method {
            Method::MedianMad => {
                self.past.push_back(count);
                while self.past.len() > history {
                    self.past.pop_front();
                }
            }
            Method::Ewma => {
                const ALPHA: f64 = 0.1;
                if self.fed == 0 {
                    self.mean = count;
                } else {
                    let diff = count - self.mean;
                    self.mean += ALPHA * diff;
                    self.variance = (1.0 - ALPHA) * (self.variance + ALPHA * diff * diff);
                }
                self.fed += 1;
            }
        }
    }

    /// How far above the baseline `count` is; `None` when it is not above it.
    fn score(&self, count: f64, method: Method) -> Option<f64> {
        match method {
            Method::MedianMad => {
                let center = median(self.past.iter().copied().collect());
                if count <= center {
                    return None;
                }
                let mad = median(self.past.iter().map(|x| (x - center).abs()).collect());
                let mean_ad = self.past.iter().map(|x| (x - center).abs()).sum::<f64>()
                    / self.past.len().max(1) as f64;
                let spread = if mad > 0.0 { mad } else { mean_ad.max(1.0) };
                Some(0.6745 * (count - center) / spread)
            }
            Method::Ewma => {
                if count <= self.mean {
                    return None;
                }
                Some((count - self.mean) / self.variance.sqrt().max(1.0))
            }
        }
    }
}

fn median(mut values: Vec<f64>) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    if values.len().is_multiple_of(2) {
        (values[mid - 1] + values[mid]) / 2.0
    } else {
        values[mid]
    }
}

#[cfg(test)]
mod tests {
    use super::median;

    #[test]
    fn median_of_odd_and_even_counts() {
        assert_eq!(median(vec![3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(vec![4.0, 1.0, 2.0, 3.0]), 2.5);
        assert_eq!(median(vec![]), 0.0);
    }
}
