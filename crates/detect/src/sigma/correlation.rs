//! Sigma correlation rules on the stateful side: over the events the referenced rules matched (in time
//! order), per group-by values, within a sliding timespan:
//!
//! | type | fires when, within the timespan |
//! | --- | --- |
//! | `event_count` | the number of matching events meets the condition |
//! | `value_count` | the number of distinct values of `field` meets it |
//! | `value_sum`, `value_avg`, `value_percentile` | the sum, mean or percentile of `field` meets it |
//! | `temporal` | every referenced rule matched (or, with a condition, that many distinct rules) |
//! | `temporal_ordered` | every referenced rule matched in the listed order |
//!
//! A group's state is cleared when it fires, so one burst gives one alert. Conditions are checked as
//! events arrive, so a condition with only upper bounds (`lt`, `lte`) is refused: "fewer than N" can
//! only be decided when a window closes.

use std::collections::{HashMap, VecDeque};

use secops_event::{Event, Provenance, Timestamp};
use secops_rules::sigma::{CompareTo, CorrelationType, SigmaCorrelation};

use super::compile::{field_text, FieldRef, Fields};
use super::mapping::Target;
use crate::alert::{MAX_EVENTS, MAX_PROVENANCE};
use crate::threshold::Crossing;

/// A referenced rule: a Sigma base rule (its index among base rules), an earlier correlation (its
/// position among correlations), or (for native correlation rules) a rule by its engine index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ref {
    Rule(u32),
    Correlation(u32),
    Engine(u32),
}

/// What the engine tells a correlation about a reference (built by the engine's compiler).
#[derive(Debug, Clone)]
pub struct RefSpec {
    pub reference: Ref,
    /// Where the referenced rule's events come from (resolves group-by and value fields).
    pub target: Option<Target>,
    /// The referenced rule's `name` (for aliases).
    pub name: Option<String>,
    pub id: Option<String>,
}

#[derive(Debug)]
pub struct CorrelationState {
    kind: CorrelationType,
    refs: Vec<Ref>,
    /// Engine indices of `refs`, set by the engine.
    engine_refs: Vec<u32>,
    /// Sigma base rules this correlation depends on, directly or through other correlations.
    bases: Vec<u32>,
    group_names: Vec<String>,
    /// Per reference, per group-by field.
    group_fields: Vec<Vec<FieldRef>>,
    value_fields: Vec<Option<FieldRef>>,
    timespan: i64,
    condition: Vec<(CompareTo, f64)>,
    percentile: f64,
    groups: HashMap<Vec<String>, Group>,
}

#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
struct Group {
    /// (time, value) of events in the window (value: the aggregated field, when there is one).
    entries: VecDeque<(Timestamp, Option<String>)>,
    /// temporal: the last time each reference matched; temporal_ordered: the start time of the chain
    /// that reached each stage.
    stages: Vec<Option<Timestamp>>,
    #[serde(with = "secops_event::codec::events")]
    events: VecDeque<Event>,
    provenance: Vec<Provenance>,
    first: Option<Timestamp>,
    count: u64,
}

/// Why a correlation cannot run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CorrelationError {
    #[error(
        "a {0} condition with only upper bounds (lt/lte) needs evaluation when a window closes, which is not supported"
    )]
    UpperBoundsOnly(&'static str),
    #[error("{0} needs at least two rules")]
    TooFewRules(&'static str),
}

impl CorrelationState {
    /// What a checkpoint keeps of the state (see `snapshot.rs`): the groups.
    pub(crate) fn save(&self, out: &mut Vec<u8>) -> Result<(), postcard::Error> {
        postcard::to_io(&self.groups, out).map(|_| ())
    }

    pub(crate) fn reset(&mut self) {
        self.groups.clear();
    }

    pub(crate) fn restore<'a>(&mut self, bytes: &'a [u8]) -> Result<&'a [u8], postcard::Error> {
        let (groups, rest) = postcard::take_from_bytes(bytes)?;
        self.groups = groups;
        Ok(rest)
    }

    pub fn new(
        c: &SigmaCorrelation,
        refs: Vec<RefSpec>,
        bases: Vec<u32>,
    ) -> Result<CorrelationState, CorrelationError> {
        let temporal = matches!(
            c.kind,
            CorrelationType::Temporal | CorrelationType::TemporalOrdered
        );
        if !c.condition.is_empty()
            && c.condition
                .iter()
                .all(|(op, _)| matches!(op, CompareTo::Lt | CompareTo::Lte))
        {
            return Err(CorrelationError::UpperBoundsOnly(c.kind.as_str()));
        }
        if temporal && refs.len() < 2 && c.condition.is_empty() {
            return Err(CorrelationError::TooFewRules(c.kind.as_str()));
        }
        let field_for = |spec: &RefSpec, name: &str| -> FieldRef {
            let aliased =
                c.aliases
                    .iter()
                    .find(|(alias, _)| alias == name)
                    .and_then(|(_, per_rule)| {
                        per_rule
                            .iter()
                            .find(|(rule, _)| {
                                Some(rule) == spec.name.as_ref() || Some(rule) == spec.id.as_ref()
                            })
                            .map(|(_, field)| field.as_str())
                    });
            let name = aliased.unwrap_or(name);
            match &spec.target {
                Some(target) => Fields::new(target).resolve(name),
                None => FieldRef::Path(name.to_string()),
            }
        };
        let group_fields = refs
            .iter()
            .map(|spec| c.group_by.iter().map(|g| field_for(spec, g)).collect())
            .collect();
        let value_fields = refs
            .iter()
            .map(|spec| c.field.as_deref().map(|f| field_for(spec, f)))
            .collect();
        Ok(CorrelationState {
            kind: c.kind,
            refs: refs.iter().map(|r| r.reference).collect(),
            engine_refs: Vec::new(),
            bases,
            group_names: c.group_by.clone(),
            group_fields,
            value_fields,
            timespan: c.timespan.as_nanos() as i64,
            condition: c.condition.clone(),
            percentile: c.percentile.unwrap_or(50.0),
            groups: HashMap::new(),
        })
    }

    pub fn refs(&self) -> &[Ref] {
        &self.refs
    }

    pub fn bases(&self) -> &[u32] {
        &self.bases
    }

    /// Per reference: whether the fields it is grouped or counted by are resolved entities
    /// (`secops.entity.*`), so its rule's events must be enriched before this correlation sees them.
    pub fn refs_reading_entities(&self) -> Vec<bool> {
        let reads =
            |f: &FieldRef| matches!(f, FieldRef::Path(p) if p.starts_with(crate::ENTITY_FIELDS));
        (0..self.refs.len())
            .map(|r| {
                self.group_fields
                    .get(r)
                    .is_some_and(|g| g.iter().any(reads))
                    || self
                        .value_fields
                        .get(r)
                        .is_some_and(|v| v.as_ref().is_some_and(reads))
            })
            .collect()
    }

    /// The engine indices of the references (set by the engine).
    pub fn engine_refs(&self) -> &[u32] {
        &self.engine_refs
    }

    pub fn set_engine_refs(&mut self, engine_refs: Vec<u32>) {
        self.engine_refs = engine_refs;
    }

    /// Takes an event some referenced rule matched (`matched`: engine indices of the rules and
    /// correlations that matched or fired on it).
    pub fn observe(&mut self, event: &Event, matched: &[u32]) -> Option<Crossing> {
        let hits: Vec<usize> = self
            .engine_refs
            .iter()
            .enumerate()
            .filter(|(_, e)| matched.contains(e))
            .map(|(i, _)| i)
            .collect();
        let first_hit = *hits.first()?;
        let time = event.timestamp()?;
        let mut key = Vec::with_capacity(self.group_names.len());
        for field in self.group_fields.get(first_hit)? {
            // An event without a group-by field cannot be grouped.
            let value = field_text(field, event)?;
            key.push(value.into_owned());
        }
        let value = match self.value_fields.get(first_hit) {
            Some(Some(field)) => Some(field_text(field, event)?.into_owned()),
            _ => None,
        };
        let stages = self.refs.len();
        let group = self.groups.entry(key.clone()).or_insert_with(|| Group {
            stages: vec![None; stages],
            ..Group::default()
        });
        // Slide the window.
        let horizon = time.unix_nanos() - self.timespan;
        while group
            .entries
            .front()
            .is_some_and(|(t, _)| t.unix_nanos() < horizon)
        {
            group.entries.pop_front();
        }
        group.entries.push_back((time, value));
        group.count += 1;
        group.first = Some(match group.first {
            Some(f) if f.unix_nanos() >= horizon => f,
            _ => group.entries.front().map_or(time, |(t, _)| *t),
        });
        if group.events.len() == MAX_EVENTS {
            group.events.pop_front();
        }
        group.events.push_back(event.clone());
        if group.provenance.len() < MAX_PROVENANCE {
            group.provenance.push(event.provenance().clone());
        }
        let fired = match self.kind {
            CorrelationType::EventCount => holds(&self.condition, group.entries.len() as f64),
            CorrelationType::ValueCount => {
                let mut distinct: Vec<&str> = group
                    .entries
                    .iter()
                    .filter_map(|(_, v)| v.as_deref())
                    .collect();
                distinct.sort_unstable();
                distinct.dedup();
                holds(&self.condition, distinct.len() as f64)
            }
            CorrelationType::ValueSum
            | CorrelationType::ValueAvg
            | CorrelationType::ValuePercentile => {
                let mut numbers: Vec<f64> = group
                    .entries
                    .iter()
                    .filter_map(|(_, v)| v.as_deref().and_then(|v| v.trim().parse::<f64>().ok()))
                    .collect();
                if numbers.is_empty() {
                    false
                } else {
                    let aggregate = match self.kind {
                        CorrelationType::ValueSum => numbers.iter().sum(),
                        CorrelationType::ValueAvg => {
                            numbers.iter().sum::<f64>() / numbers.len() as f64
                        }
                        _ => {
                            numbers.sort_by(f64::total_cmp);
                            let rank =
                                (self.percentile / 100.0 * (numbers.len() - 1) as f64).round();
                            numbers[(rank as usize).min(numbers.len() - 1)]
                        }
                    };
                    holds(&self.condition, aggregate)
                }
            }
            CorrelationType::Temporal => {
                for &h in &hits {
                    group.stages[h] = Some(time);
                }
                let within = group
                    .stages
                    .iter()
                    .filter(|s| s.is_some_and(|t| t.unix_nanos() >= horizon))
                    .count();
                if self.condition.is_empty() {
                    within == stages
                } else {
                    holds(&self.condition, within as f64)
                }
            }
            CorrelationType::TemporalOrdered => {
                // Later stages first, so one event does not complete two stages.
                let mut complete = false;
                for &h in hits.iter().rev() {
                    if h == 0 {
                        group.stages[0] = Some(time);
                    } else if let Some(start) = group.stages[h - 1] {
                        if start.unix_nanos() >= horizon {
                            group.stages[h] = Some(start);
                            if h == stages - 1 {
                                complete = true;
                            }
                        }
                    }
                }
                complete
            }
        };
        if !fired {
            return None;
        }
        let group = self.groups.remove(&key)?;
        let first = match self.kind {
            CorrelationType::TemporalOrdered => group.stages.last().copied().flatten(),
            _ => group.first,
        }
        .unwrap_or(time);
        Some(Crossing {
            group: self.group_names.iter().cloned().zip(key).collect(),
            count: group.entries.len() as u64,
            first,
            last: time,
            events: group.events.into_iter().collect(),
            provenance: group.provenance,
        })
    }
}

fn holds(condition: &[(CompareTo, f64)], value: f64) -> bool {
    condition.iter().all(|(op, bound)| op.holds(value, *bound))
}
