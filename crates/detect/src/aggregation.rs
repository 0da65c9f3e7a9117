//! Alert aggregation: repeated alerts of one rule about one entity within a window fold into one open
//! alert, which counts them and keeps the first events and every provenance. The first alert is raised
//! at once ([`crate::Raised::Opened`]); it is raised again, with the same id, when its window closes,
//! when it holds [`crate::MAX_PROVENANCE`] events' provenance (the next repeat opens a new alert, so no
//! provenance is lost and memory stays bounded), or when the input ends ([`crate::Raised::Closed`]).
//! Aggregation never delays an alert and never drops a match: it only folds.
//!
//! What folds is said per rule: a native rule's `[rule.alert_suppression]` (Elastic's form), a Sigma
//! rule's `alert_aggregation`, and over both the run's [`AggregatePolicy`] (`detect --aggregate`),
//! whose default gives rules that say nothing the [`DEFAULT_ENTITY`].

use secops_event::{Event, Value};
use secops_rules::{AlertAggregation, AlertSuppression, MissingFields};

/// The entity of rules that declare none: the host, and the source the event names (its address, else
/// its name), else the user. A burst from one source against one host is one alert per window.
pub const DEFAULT_ENTITY: &[&[&str]] = &[
    &["host.name"],
    &["source.ip", "source.address", "source.domain", "user.name"],
];

/// The window of the default aggregation (event time).
pub const DEFAULT_WINDOW: i64 = 3_600_000_000_000;

/// How one rule's alerts fold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Aggregation {
    /// The entity: per slot, alternative fields; the first the event carries fills the slot.
    pub by: Vec<Vec<String>>,
    /// Nanoseconds of event time an alert stays open for repeats.
    pub window: i64,
    /// Events lacking a slot fold together (Elastic's `suppress`), or each alerts alone.
    pub fold_missing: bool,
}

/// One slot of an entity as an event fills it: the field found and its value.
pub type EntityValue = Option<(String, String)>;

impl Aggregation {
    /// The default entity over `window`.
    pub fn default_entity(window: i64) -> Aggregation {
        Aggregation {
            by: DEFAULT_ENTITY
                .iter()
                .map(|slot| slot.iter().map(|f| f.to_string()).collect())
                .collect(),
            window,
            fold_missing: true,
        }
    }

    /// Each field its own slot.
    pub fn by_fields(fields: &[String], window: i64) -> Aggregation {
        Aggregation {
            by: fields.iter().map(|f| vec![f.clone()]).collect(),
            window,
            fold_missing: true,
        }
    }

    /// A native rule's alert suppression.
    pub fn of_suppression(s: &AlertSuppression) -> Aggregation {
        let window = s
            .duration
            .seconds()
            .and_then(|secs| secs.checked_mul(1_000_000_000))
            .and_then(|n| i64::try_from(n).ok())
            .unwrap_or(i64::MAX);
        Aggregation {
            fold_missing: s.missing_fields_strategy != Some(MissingFields::DoNotSuppress),
            ..Aggregation::by_fields(&s.group_by, window)
        }
    }

    /// The entity an event names, slot by slot.
    pub fn entity(&self, event: &Event) -> Vec<EntityValue> {
        self.by
            .iter()
            .map(|slot| {
                slot.iter().find_map(|field| match event.get(field) {
                    None | Some(Value::Null) => None,
                    Some(value) => Some((field.clone(), value.to_string())),
                })
            })
            .collect()
    }
}

/// What a rule itself says about aggregation.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Declared {
    /// Nothing: the run decides.
    #[default]
    Nothing,
    /// Every match its own alert.
    PerEvent,
    /// These fields; the window the rule's, else the run's.
    By {
        aggregation: Aggregation,
        window_given: bool,
    },
}

impl Declared {
    pub fn of_suppression(s: Option<&AlertSuppression>) -> Declared {
        match s {
            Some(s) => Declared::By {
                aggregation: Aggregation::of_suppression(s),
                window_given: true,
            },
            None => Declared::Nothing,
        }
    }

    pub fn of_sigma(a: Option<&AlertAggregation>) -> Declared {
        match a {
            None => Declared::Nothing,
            Some(AlertAggregation::PerEvent) => Declared::PerEvent,
            Some(AlertAggregation::By { fields, window }) => Declared::By {
                aggregation: Aggregation::by_fields(
                    fields,
                    window
                        .and_then(|w| i64::try_from(w.as_nanos()).ok())
                        .unwrap_or(DEFAULT_WINDOW),
                ),
                window_given: window.is_some(),
            },
        }
    }
}

/// Which aggregation each rule of a run gets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AggregatePolicy {
    /// A rule's own setting; a rule that declares none gets the default entity over `window`.
    Default { window: i64 },
    /// Only what rules declare (every other match its own alert).
    Declared,
    /// Every match its own alert, whatever rules declare.
    PerEvent,
    /// Every rule by these fields over `window`.
    By { fields: Vec<String>, window: i64 },
}

/// The product's default: rules' own settings, the default entity for the others, over an hour.
impl Default for AggregatePolicy {
    fn default() -> Self {
        AggregatePolicy::Default {
            window: DEFAULT_WINDOW,
        }
    }
}

impl AggregatePolicy {
    /// The aggregation of a rule that declares `declared` (`None`: one alert per match).
    pub fn resolve(&self, declared: &Declared) -> Option<Aggregation> {
        match (self, declared) {
            (AggregatePolicy::PerEvent, _) => None,
            (AggregatePolicy::By { fields, window }, _) => {
                Some(Aggregation::by_fields(fields, *window))
            }
            (_, Declared::PerEvent) => None,
            (
                AggregatePolicy::Default { window },
                Declared::By {
                    aggregation,
                    window_given: false,
                },
            ) => Some(Aggregation {
                window: *window,
                ..aggregation.clone()
            }),
            (_, Declared::By { aggregation, .. }) => Some(aggregation.clone()),
            (AggregatePolicy::Default { window }, Declared::Nothing) => {
                Some(Aggregation::default_entity(*window))
            }
            (AggregatePolicy::Declared, Declared::Nothing) => None,
        }
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
    fn the_default_entity_takes_the_first_source_field_an_event_names() {
        let a = Aggregation::default_entity(DEFAULT_WINDOW);
        let ip = event(&[
            ("host.name", "web1"),
            ("source.ip", "203.0.113.9"),
            ("user.name", "root"),
        ]);
        assert_eq!(
            a.entity(&ip),
            vec![
                Some(("host.name".into(), "web1".into())),
                Some(("source.ip".into(), "203.0.113.9".into()))
            ]
        );
        let user = event(&[("host.name", "web1"), ("user.name", "root")]);
        assert_eq!(
            a.entity(&user)[1],
            Some(("user.name".into(), "root".into()))
        );
        assert_eq!(a.entity(&event(&[])), vec![None, None]);
    }

    #[test]
    fn the_run_overrides_or_completes_what_rules_declare() {
        let by_user = Declared::of_sigma(Some(&AlertAggregation::By {
            fields: vec!["user.name".into()],
            window: None,
        }));
        let policy = AggregatePolicy::Default { window: 60 };
        let resolved = policy.resolve(&by_user).unwrap();
        assert_eq!((resolved.by.len(), resolved.window), (1, 60));
        assert_eq!(policy.resolve(&Declared::PerEvent), None);
        assert_eq!(
            policy.resolve(&Declared::Nothing),
            Some(Aggregation::default_entity(60))
        );
        assert_eq!(AggregatePolicy::Declared.resolve(&Declared::Nothing), None);
        assert_eq!(AggregatePolicy::PerEvent.resolve(&by_user), None);
        let forced = AggregatePolicy::By {
            fields: vec!["host.name".into()],
            window: 5,
        };
        assert_eq!(forced.resolve(&Declared::PerEvent).unwrap().window, 5);
    }
}
