//! Retro-hunting: logs already collected searched for indicators that arrived recently, with the
//! threat_match rules; past sightings become alerts (and, when asked, are recorded).

use secops_detect::{Alert, CompileError, Engine, IndicatorSet};
use secops_ingest::{expand, IngestError};
use secops_intel::IndicatorIndex;
use secops_rules::RuleType;
use secops_store::{IndicatorFilter, Store};

use crate::intel::{record_sightings, Judges};
use crate::pipeline::{self, PipelineOptions};
use crate::record::{record, suppressions, RecordSummary};
use crate::ruleset::{self, RuleSelection};
use crate::{Actor, Cancel, Clock, Progress, ServiceError};

/// What to search and for which indicators.
#[derive(Debug, Clone, Default)]
pub struct RetroHuntRequest {
    /// Logs: files, folders, globs.
    pub paths: Vec<String>,
    /// Indicators new or updated at or after this time (UTC nanoseconds).
    pub since: i64,
    /// The rules (their threat_match rules run).
    pub rules: RuleSelection,
    pub pipeline: PipelineOptions,
    /// Record the alerts and sightings in the store.
    pub record: bool,
}

/// What the hunt found.
#[derive(Debug)]
pub struct RetroHunt {
    /// Indicators searched for.
    pub indicators: usize,
    /// Threat_match rules that could not run.
    pub not_running: Vec<(String, CompileError)>,
    /// Paths that named no input.
    pub input_errors: Vec<IngestError>,
    /// Past sightings, in time order.
    pub alerts: Vec<Alert>,
    pub events: u64,
    pub rejected: u64,
    /// When recorded: what became of the alerts, how many indicators were sighted.
    pub recorded: Option<(RecordSummary, usize)>,
}

/// Runs the hunt (see the module's documentation).
pub fn retro_hunt(
    store: &mut Store,
    judges: &Judges,
    request: &RetroHuntRequest,
    clock: &dyn Clock,
    progress: &dyn Progress,
) -> Result<RetroHunt, ServiceError> {
    let now = clock.now();
    let mut index = IndicatorIndex::new();
    if let Some(lists) = &judges.lists {
        index = index.with_warninglists(lists.clone());
    }
    let fresh = store.indicators(&IndicatorFilter {
        active_at: Some(now.unix_nanos()),
        changed_since: Some(request.since),
        ..IndicatorFilter::default()
    })?;
    let indicators = fresh.len();
    for r in fresh {
        index.add(r.indicator);
    }
    let set = IndicatorSet::from_index(index);
    let mut loaded = ruleset::load(&request.rules)?;
    loaded
        .native
        .retain(|r| r.file.rule.rule_type == RuleType::ThreatMatch);
    if loaded.native.is_empty() {
        return Err(ServiceError::Missing(
            "no threat_match rule among the rules: a retro-hunt runs those".into(),
        ));
    }
    let (mut engine, not_running) = Engine::with_indicators(&loaded.native, now, &set);
    let (inputs, input_errors) = expand(&request.paths);
    // Matches of stored indicators in past logs: few, and shown together, so kept.
    let mut alerts: Vec<Alert> = Vec::new();
    let run = pipeline::run(
        &mut engine,
        &inputs,
        &request.pipeline,
        &mut alerts,
        progress,
        &Cancel::new(),
    );
    alerts.sort_by_key(|a| a.timestamp);
    let recorded = if request.record {
        let at = now.unix_nanos();
        let summary = record(
            store,
            &alerts,
            &suppressions(&loaded.native),
            &Actor::service("retro-hunt"),
            at,
        )?;
        Some((summary, record_sightings(store, &alerts, judges, at)?.len()))
    } else {
        None
    };
    Ok(RetroHunt {
        indicators,
        not_running,
        input_errors,
        alerts,
        events: run.events,
        rejected: run.rejected,
        recorded,
    })
}
