//! Where a rule can run when events are spread over partitions by one key field (the host, by
//! default): a rule whose every group of state (and of alert aggregation) lies within one partition
//! runs where the events are ([`Placement::Local`]); any other is re-keyed: the events it selects go
//! to the partition of its own key ([`RekeyKey`]), so that each of its groups is again seen whole, in
//! the order the events arrived.
//!
//! The key of a re-keyed rule: a threshold's, anomaly's or single-key sequence's group-by fields; an
//! aggregating query's entity; nothing (one partition for the rule) for state that is not per group
//! (new terms learn from the rule's first event; correlations read other rules' matches; sequences
//! whose steps join on different fields), since only a single place sees those exactly as one process
//! would.

use secops_alert::Fnv;
use secops_event::{Event, Value};

use crate::aggregation::Aggregation;
use crate::engine::Engine;

/// Where one rule runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Placement {
    /// Every group of the rule's state lies within one partition of the key field.
    Local,
    /// The rule's selected events go to the partition of this key.
    Rekey(RekeyKey),
}

/// The key a re-keyed rule's events are partitioned by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RekeyKey {
    /// These fields' values (a missing field is a value of its own).
    Fields(Vec<String>),
    /// The entity an aggregating rule folds alerts by.
    Entity(Aggregation),
    /// One partition for every event of the rule.
    Constant,
}

impl RekeyKey {
    /// A stable 64-bit hash of the event's key (FNV-1a over the values, the same on every worker).
    pub fn hash(&self, event: &Event) -> u64 {
        let mut hash = Fnv::new();
        match self {
            RekeyKey::Fields(fields) => {
                for field in fields {
                    write_value(&mut hash, event.get(field));
                }
            }
            RekeyKey::Entity(aggregation) => {
                for slot in aggregation.entity(event) {
                    match slot {
                        Some((field, value)) => {
                            hash.write(&[1]);
                            hash.write(field.as_bytes());
                            hash.write(&[0]);
                            hash.write(value.as_bytes());
                        }
                        None => hash.write(&[0]),
                    }
                }
            }
            RekeyKey::Constant => {}
        }
        hash.finish()
    }
}

/// The partition of a key value among `partitions` (FNV-1a of the value's text; a missing value is
/// the empty text). Ingest and workers both use it.
pub fn partition_of(value: Option<&Value>, partitions: u32) -> u32 {
    let mut hash = Fnv::new();
    write_value(&mut hash, value);
    (hash.finish() % u64::from(partitions.max(1))) as u32
}

/// What [`partition_of`] reads: the field's text, missing and null alike empty.
fn text_of(value: Option<&Value>) -> std::borrow::Cow<'_, str> {
    match value {
        None | Some(Value::Null) => std::borrow::Cow::Borrowed(""),
        Some(Value::Str(s)) => std::borrow::Cow::Borrowed(s.as_str()),
        Some(other) => std::borrow::Cow::Owned(other.to_string()),
    }
}

/// A value's text into the hash, ended by a byte no text holds.
fn write_value(hash: &mut Fnv, value: Option<&Value>) {
    hash.write(text_of(value).as_bytes());
    hash.write(&[0xff]);
}

impl Engine {
    /// Per engine index, where the rule runs when events are partitioned by `field`. A stateful rule
    /// a re-keyed correlation reads runs with it (in the correlation's one partition).
    pub fn placements(&self, field: &str) -> Vec<Placement> {
        let mut placements: Vec<Placement> = self
            .rules()
            .iter()
            .map(|rule| rule.runtime().placement(field))
            .collect();
        for (index, readers) in self.dependents().iter().enumerate() {
            let alone = self
                .rules()
                .get(index)
                .is_some_and(|r| r.runtime().matches_alone());
            if !alone && !readers.is_empty() {
                if let Some(p) = placements.get_mut(index) {
                    *p = Placement::Rekey(RekeyKey::Constant);
                }
            }
        }
        placements
    }
}

/// Where a rule runs given its state's grouping (`None`: no state by group) and its aggregation.
pub(crate) fn place(
    field: &str,
    grouping: Option<RekeyKey>,
    aggregation: Option<&Aggregation>,
) -> Placement {
    match grouping {
        Some(RekeyKey::Fields(fields)) if fields.iter().any(|f| f == field) => Placement::Local,
        Some(key) => Placement::Rekey(key),
        None => match aggregation {
            None => Placement::Local,
            Some(a) if a.by.iter().any(|slot| slot.len() == 1 && slot[0] == field) => {
                Placement::Local
            }
            Some(a) => Placement::Rekey(RekeyKey::Entity(a.clone())),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use secops_event::{Location, Provenance};

    fn event(fields: &[(&str, &str)]) -> Event {
        let mut e = Event::new(Provenance::new("t", Location::Line(1)));
        for (k, v) in fields {
            e.insert(*k, *v);
        }
        e
    }

    #[test]
    fn a_grouping_that_holds_the_key_field_runs_locally_and_any_other_is_rekeyed() {
        let by = |f: &[&str]| Some(RekeyKey::Fields(f.iter().map(|s| s.to_string()).collect()));
        assert_eq!(
            place("host.name", by(&["host.name", "user.name"]), None),
            Placement::Local
        );
        assert_eq!(
            place("host.name", by(&["source.ip"]), None),
            Placement::Rekey(RekeyKey::Fields(vec!["source.ip".into()]))
        );
        assert_eq!(
            place("host.name", Some(RekeyKey::Constant), None),
            Placement::Rekey(RekeyKey::Constant)
        );
        let default = Aggregation::default_entity(60);
        assert_eq!(place("host.name", None, Some(&default)), Placement::Local);
        assert_eq!(
            place("user.name", None, Some(&default)),
            Placement::Rekey(RekeyKey::Entity(default.clone()))
        );
        assert_eq!(place("host.name", None, None), Placement::Local);
    }

    #[test]
    fn keys_hash_by_value_and_tell_a_missing_field_from_an_empty_one() {
        let key = RekeyKey::Fields(vec!["source.ip".into()]);
        let a = event(&[("source.ip", "203.0.113.9"), ("host.name", "a")]);
        let b = event(&[("source.ip", "203.0.113.9"), ("host.name", "b")]);
        let c = event(&[("source.ip", "203.0.113.10")]);
        assert_eq!(key.hash(&a), key.hash(&b));
        assert_ne!(key.hash(&a), key.hash(&c));
        assert_eq!(RekeyKey::Constant.hash(&a), RekeyKey::Constant.hash(&c));
        let partitions: std::collections::BTreeSet<u32> = (0..64)
            .map(|i| {
                let host = format!("host-{i}");
                partition_of(Some(&Value::from(host.as_str())), 4)
            })
            .collect();
        assert_eq!(partitions.len(), 4, "64 hosts spread over all 4 partitions");
        assert_eq!(partition_of(None, 4), partition_of(Some(&Value::Null), 4));
    }
}
