//! Indicator matching (`threat_match` rules): event fields against indicator sets.
//!
//! An [`IndicatorSet`] maps an indicator field (`threat.indicator.ip`, `threat.indicator.url.full`,
//! `threat.indicator.file.hash.sha256`, ...) to values; IP indicators may be CIDR blocks. A rule's
//! `[[rule.threat_mapping]]` items are ORed and their entries ANDed: each entry says which event field must
//! hold a value of which indicator field. The intel crate fills the sets from feeds; tests give them inline.

use std::collections::{HashMap, HashSet};

use secops_event::{Event, Value};
use secops_rules::ThreatMapping;

use crate::matcher::Cidr;
use crate::threshold::Crossing;

/// Indicators by indicator field.
#[derive(Debug, Clone, Default)]
pub struct IndicatorSet {
    exact: HashMap<String, HashSet<String>>,
    blocks: HashMap<String, Vec<Cidr>>,
}

impl IndicatorSet {
    pub fn new() -> Self {
        IndicatorSet::default()
    }

    /// Adds one indicator value under its field; a value with `/` under an IP field is a CIDR block.
    /// Domains, hashes and the like compare case-insensitively, so they are stored lowercased.
    pub fn add(&mut self, field: &str, value: &str) {
        if field.ends_with(".ip") {
            if let Some(block) = value.contains('/').then(|| Cidr::parse(value)).flatten() {
                self.blocks
                    .entry(field.to_string())
                    .or_default()
                    .push(block);
                return;
            }
        }
        self.exact
            .entry(field.to_string())
            .or_default()
            .insert(value.trim().to_lowercase());
    }

    pub fn len(&self) -> usize {
        self.exact.values().map(HashSet::len).sum::<usize>()
            + self.blocks.values().map(Vec::len).sum::<usize>()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether `value` is an indicator of `field`. For domain indicators, a name under a listed domain
    /// matches too (`a.evil.example` under `evil.example`), a parent of one does not.
    fn contains(&self, field: &str, value: &Value) -> bool {
        let text = value.to_string().to_lowercase();
        if let Some(set) = self.exact.get(field) {
            if set.contains(&text) {
                return true;
            }
            if field.ends_with(".domain") {
                let mut rest = text.as_str();
                while let Some((_, parent)) = rest.split_once('.') {
                    if parent.contains('.') && set.contains(parent) {
                        return true;
                    }
                    rest = parent;
                }
            }
        }
        self.blocks
            .get(field)
            .is_some_and(|blocks| blocks.iter().any(|b| b.matches_value(value)))
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

    pub fn observe(&mut self, event: &Event) -> Option<Crossing> {
        for mapping in &self.mappings {
            let mut matched = Vec::new();
            let all = mapping.iter().all(|(field, indicator_field, negate)| {
                let hit = event
                    .get(field)
                    .is_some_and(|v| any(v, &|x| self.indicators.contains(indicator_field, x)));
                if hit && !negate {
                    if let Some(v) = event.get(field) {
                        matched.push((field.clone(), v.to_string()));
                    }
                }
                hit != *negate
            });
            if all && !matched.is_empty() {
                let time = event.timestamp()?;
                return Some(Crossing {
                    group: matched,
                    count: 1,
                    first: time,
                    last: time,
                    events: vec![event.clone()],
                    provenance: vec![event.provenance().clone()],
                });
            }
        }
        None
    }
}

fn any(value: &Value, test: &dyn Fn(&Value) -> bool) -> bool {
    match value {
        Value::Array(items) => items.iter().any(test),
        other => test(other),
    }
}
