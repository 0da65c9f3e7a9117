//! Sigma rules run as hunts over the lake (SigmaHQ's `rules-threat-hunting` above all: rules too
//! broad to alert on, written to be read by a hunter). The lake's events come back whole
//! (`secops_lake::events`) and go through the detection engine, so a rule means over stored events
//! exactly what it means over logs; every match is a row: the event, and the rule that matched it.
//! Rules that need events in time order across the whole lake (correlations, thresholds and other
//! stateful native rules) are left out and named: a hunt reads partition by partition.

use std::path::PathBuf;

use secops_detect::{AggregatePolicy, Alert, AlertSink, Engine, IndicatorSet, Raised};
use secops_event::{Event, Timestamp};

use crate::ruleset::{load, RuleSelection};
use crate::ServiceError;

/// What a Sigma hunt did.
#[derive(Debug, Default, Clone)]
pub struct SigmaHuntStats {
    /// Rules run.
    pub rules: usize,
    /// Rules not run, each with why (rejected by the loader or the engine, or stateful).
    pub left_out: Vec<String>,
    /// Events read from the lake.
    pub events: u64,
    /// Matches (rows).
    pub matches: u64,
    /// The rows stopped at the cap while there were more.
    pub capped: bool,
    /// Lake rows that could not be read back as events, with why.
    pub unreadable: Vec<String>,
}

/// One match: the rule and the event.
#[derive(Debug, Clone)]
pub struct SigmaMatch {
    pub rule_id: String,
    pub rule_name: String,
    /// `low` to `critical` (Sigma's level).
    pub severity: String,
    pub event: Event,
}

struct Matches<'a> {
    sink: &'a mut dyn FnMut(SigmaMatch),
    matches: u64,
    max: Option<u64>,
    capped: bool,
}

impl AlertSink for Matches<'_> {
    fn raise(&mut self, raised: Raised) {
        // One alert per match (no aggregation): each is final, or opened and closed the same.
        let alert: Alert = match raised {
            Raised::Final(a) | Raised::Opened(a) => a,
            Raised::Closed(_) => return,
        };
        for event in alert.events {
            if self.max.is_some_and(|m| self.matches >= m) {
                self.capped = true;
                return;
            }
            self.matches += 1;
            (self.sink)(SigmaMatch {
                rule_id: alert.rule.id.clone(),
                rule_name: alert.rule.name.clone(),
                severity: alert.rule.severity.as_str().to_string(),
                event,
            });
        }
    }
}

/// Runs the Sigma rules (and single-event native rules) at `rules` over every event of the lake,
/// each match to `sink`, at most `max_rows` of them.
pub fn run(
    rules: &[PathBuf],
    lake: &str,
    max_rows: Option<u64>,
    sink: &mut dyn FnMut(SigmaMatch),
) -> Result<SigmaHuntStats, ServiceError> {
    let mut loaded = load(&RuleSelection {
        rules: rules.to_vec(),
        ..RuleSelection::default()
    })?;
    let mut stats = SigmaHuntStats::default();
    stats
        .left_out
        .extend(loaded.rejected.iter().map(|r| r.message.clone()));
    for c in loaded.sigma.correlations.drain(..) {
        stats.left_out.push(format!(
            "{}: a correlation needs every event in time order",
            c.info.name
        ));
    }
    loaded.native.retain(|rule| {
        let single = rule.file.rule.rule_type == secops_rules::RuleType::Query
            && rule.correlation.is_none()
            && !matches!(rule.eql, Some(secops_rules::eql::EqlQuery::Sequence(_)));
        if !single {
            stats.left_out.push(format!(
                "{}: a {} rule needs every event in time order",
                rule.file.rule.name,
                rule.file.rule.rule_type.as_str()
            ));
        }
        single
    });
    let (mut engine, errors) = Engine::with_sigma(
        &loaded.native,
        loaded.sigma,
        Timestamp::now(),
        &IndicatorSet::default(),
    );
    engine.aggregate(&AggregatePolicy::PerEvent);
    stats.left_out.extend(
        errors
            .into_iter()
            .map(|(rule, error)| format!("{rule}: {error}")),
    );
    stats.rules = engine.rules().len();
    let lake = secops_lake::Lake::open(lake)?;
    let mut matches = Matches {
        sink,
        matches: 0,
        max: max_rows,
        capped: false,
    };
    let mut unreadable = Vec::new();
    stats.events = secops_lake::events::read_events(
        &lake,
        &mut |event| engine.process(&event, &mut matches),
        &mut |why| unreadable.push(why),
    )?;
    engine.finish(&mut matches);
    stats.matches = matches.matches;
    stats.capped = matches.capped;
    stats.unreadable = unreadable;
    Ok(stats)
}
