//! Indicator matching (`threat_match` rules): event fields against indicators.
//!
//! An [`IndicatorSet`] is a shared handle on the intel crate's lookup index: addresses inside listed
//! networks, names at or under listed domains, equal hashes, URLs and e-mail addresses, with values a
//! warninglist covers never matching. A rule's `[[rule.threat_mapping]]` items are ORed and their
//! entries ANDed: each entry says which event field must hold a value of which indicator field
//! (`threat.indicator.ip`, `threat.indicator.url.domain`, ...). An alert carries what matched: the
//! event field and value and the indicator, with its source and confidence (`threat.enrichments`).

use std::sync::Arc;

use secops_event::{Event, Value};
use secops_intel::{Indicator, IndicatorIndex, IntelError};
use secops_rules::ThreatMapping;

use crate::alert::Enrichment;
use crate::threshold::Crossing;

/// The indicators `threat_match` rules match; cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct IndicatorSet {
    index: Arc<IndicatorIndex>,
}

impl IndicatorSet {
    pub fn new() -> Self {
        IndicatorSet::default()
    }

    /// A set over an index built by the caller (from the store, feeds, warninglists).
    pub fn from_index(index: IndicatorIndex) -> Self {
        IndicatorSet {
            index: Arc::new(index),
        }
    }

    /// Adds a value under an ECS indicator field (`threat.indicator.ip`, ...); CIDR blocks under the
    /// IP field. A value that is not of the field's kind is refused with the reason.
    pub fn add(&mut self, field: &str, value: &str) -> Result<(), IntelError> {
        Arc::make_mut(&mut self.index).add_field(field, value, "inline")
    }

    /// Adds an indicator.
    pub fn add_indicator(&mut self, indicator: Indicator) {
        Arc::make_mut(&mut self.index).add(indicator);
    }

    pub fn len(&self) -> usize {
        self.index.len()
    }

    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    /// Matches a warninglist suppressed.
    pub fn suppressed(&self) -> u64 {
        self.index.suppressed()
    }

    fn lookup(&self, field: &str, value: &Value) -> Option<Arc<Indicator>> {
        match value {
            // Addresses and text go in as they are: no string is built per event.
            Value::Ip(ip) if field == "threat.indicator.ip" => self.index.lookup_ip(*ip),
            Value::Str(text) => self.index.lookup(field, text),
            other => self.index.lookup(field, &other.to_string()),
        }
    }
}

#[derive(Debug)]
pub struct ThreatMatchState {
    mappings: Vec<Vec<(String, String, bool)>>,
    indicators: IndicatorSet,
}

impl ThreatMatchState {
    pub fn new(mappings: &[ThreatMapping], indicators: IndicatorSet) -> Self {
        ThreatMatchState {
            mappings: mappings
                .iter()
                .map(|m| {
                    m.entries
                        .iter()
                        .map(|e| (e.field.clone(), e.value.clone(), e.negate))
                        .collect()
                })
                .collect(),
            indicators,
        }
    }

    /// The alert an event raises, with what matched.
    pub fn observe(&mut self, event: &Event) -> Option<(Crossing, Vec<Enrichment>)> {
        for mapping in &self.mappings {
            let mut matched = Vec::new();
            let mut enrichments = Vec::new();
            let all = mapping.iter().all(|(field, indicator_field, negate)| {
                let hit = event.get(field).and_then(|v| {
                    first(v, &|x| {
                        self.indicators
                            .lookup(indicator_field, x)
                            .map(|i| (x.to_string(), i))
                    })
                });
                let found = hit.is_some();
                if let (Some((atomic, indicator)), false) = (hit, *negate) {
                    matched.push((field.clone(), atomic.clone()));
                    enrichments.push(Enrichment {
                        field: field.clone(),
                        atomic,
                        indicator,
                    });
                }
                found != *negate
            });
            if all && !matched.is_empty() {
                let time = event.timestamp()?;
                let crossing = Crossing {
                    group: matched,
                    count: 1,
                    first: time,
                    last: time,
                    events: vec![event.clone()],
                    provenance: vec![event.provenance().clone()],
                };
                return Some((crossing, enrichments));
            }
        }
        None
    }
}

/// The first element (of an array, or the value itself) for which `test` gives something.
fn first<T>(value: &Value, test: &dyn Fn(&Value) -> Option<T>) -> Option<T> {
    match value {
        Value::Array(items) => items.iter().find_map(test),
        other => test(other),
    }
}
