//! Detection over logs, as `secops detect` runs it: load the rules, build the indicator set, run the
//! pipeline, and, with a store, record the alerts, their sightings and cases for related alerts.

use std::fmt;

use secops_case::playbook::Playbooks;
use secops_detect::{Alert, CompileError, Engine, RuleStats};
use secops_ingest::{expand, IngestError, Summary};
use secops_rules::Severity;
use secops_store::Store;

use crate::cases::{group_into_cases, Opened};
use crate::intel::{indicator_set, record_sightings, IndicatorSources, Judges};
use crate::pipeline::{self, PipelineOptions};
use crate::record::{record, suppressions, RecordSummary};
use crate::ruleset::{self, Rejection, RuleSelection};
use crate::{Actor, Cancel, Clock, Progress, ServiceError};

/// What to detect over and how.
#[derive(Debug, Clone, Default)]
pub struct DetectRequest {
    /// Files, directories, glob patterns, or `-` for standard input.
    pub paths: Vec<String>,
    pub rules: RuleSelection,
    /// Indicators for threat_match rules besides the store's.
    pub indicators: IndicatorSources,
    /// Fail when any rule fails to load or compile (otherwise it is reported and the others run).
    pub strict: bool,
    /// Only alerts of this severity or higher.
    pub min_severity: Option<Severity>,
    pub pipeline: PipelineOptions,
    /// With a store: open a case for each group of related open alerts not yet in one.
    pub open_cases: Option<CaseGrouping>,
}

/// How alerts are grouped into cases.
#[derive(Debug, Clone)]
pub struct CaseGrouping {
    /// How far apart (nanoseconds) alerts of one case may be.
    pub window: i64,
    /// The entity fields that relate alerts.
    pub fields: Vec<String>,
}

/// Something worth telling before the run ends; the run goes on.
#[derive(Debug)]
pub enum Notice {
    /// A rule file that will not run.
    RuleRejected(Rejection),
    /// A warninglist file that was refused.
    WarninglistRefused { file: String, reason: String },
    /// A record of an indicator source that was not used (names its file).
    Indicators(String),
    /// What the indicator set holds.
    IndicatorSet {
        total: usize,
        from_store: usize,
        from_files: usize,
        from_ecs: usize,
        left_out: usize,
    },
    /// A loaded rule that cannot run.
    RuleNotRunning { rule: String, error: CompileError },
    /// A path that names no input (missing file, glob matching nothing).
    InputUnusable(IngestError),
}

impl fmt::Display for Notice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Notice::RuleRejected(r) => write!(f, "rejected: {r}"),
            Notice::WarninglistRefused { file, reason } => {
                write!(f, "warninglist refused: {file}: {reason}")
            }
            Notice::Indicators(note) => f.write_str(note),
            Notice::IndicatorSet {
                total,
                from_store,
                from_files,
                from_ecs,
                left_out,
            } => write!(
                f,
                "indicators: {total} for matching ({from_store} from the store, {from_files} from --intel, \
                 {from_ecs} from --indicators); {left_out} expired, warninglisted or not for detection left out"
            ),
            Notice::RuleNotRunning { rule, error } => write!(f, "error: rule {rule}: {error}"),
            Notice::InputUnusable(e) => write!(f, "error: {e}"),
        }
    }
}

/// Watches a detection run: notices as they happen, the alerts once they are final.
pub trait Observer {
    fn notice(&mut self, _notice: Notice) {}
    /// The run's alerts, in time order, before they are recorded.
    fn alerts(&mut self, _alerts: &[Alert]) {}
}

/// A rule that saw events, and what it did with them.
#[derive(Debug, Clone)]
pub struct RuleActivity {
    pub name: String,
    pub stats: RuleStats,
}

/// What a detection run did.
#[derive(Debug)]
pub struct DetectReport {
    /// In time order, `min_severity` applied.
    pub alerts: Vec<Alert>,
    pub events: u64,
    pub rejected: u64,
    /// Records inputs promised that could not be read (damaged or cut EVTX files).
    pub lost: u64,
    /// Per input, in the order inputs finished; files skipped in a directory walk are left out.
    pub summaries: Vec<Result<Summary, IngestError>>,
    /// Files of unknown format met in a directory walk.
    pub skipped: Vec<IngestError>,
    /// Paths that named no input.
    pub input_errors: usize,
    /// Rules loaded, and of them how many cannot run (rejected or not compiled).
    pub rules_total: usize,
    pub rules_failed: usize,
    /// Rules that matched an event, in engine order.
    pub activity: Vec<RuleActivity>,
    /// Indicator matches dropped because the value is on a warninglist.
    pub warninglisted_matches: u64,
    /// With a store: what became of the alerts, how many indicators were sighted, the cases opened.
    pub recorded: Option<RecordSummary>,
    pub sightings: usize,
    pub cases: Vec<Opened>,
    pub cancelled: bool,
}

impl DetectReport {
    /// Inputs that could not be read, or named nothing.
    pub fn unreadable(&self) -> usize {
        self.input_errors + self.summaries.iter().filter(|s| s.is_err()).count()
    }
}

/// What a run works with besides its request.
#[derive(Debug)]
pub struct Context<'a> {
    /// Where alerts, sightings and cases go (none: nothing is recorded).
    pub store: Option<&'a mut Store>,
    pub judges: &'a Judges,
    pub actor: &'a Actor,
    pub clock: &'a dyn Clock,
    pub cancel: &'a Cancel,
}

/// Runs detection (see the module's documentation).
pub fn detect(
    request: &DetectRequest,
    mut context: Context<'_>,
    observer: &mut dyn Observer,
    progress: &dyn Progress,
) -> Result<DetectReport, ServiceError> {
    let loaded = ruleset::load(&request.rules)?;
    let suppressions = suppressions(&loaded.native);
    let rules_rejected = loaded.rejected.len();
    for rejection in &loaded.rejected {
        observer.notice(Notice::RuleRejected(rejection.clone()));
    }
    if request.strict && rules_rejected > 0 {
        return Err(ServiceError::Strict {
            count: rules_rejected,
            what: "failed to load",
        });
    }
    let now = context.clock.now();
    let judges = context.judges;
    for (file, reason) in &judges.refused {
        observer.notice(Notice::WarninglistRefused {
            file: file.clone(),
            reason: reason.clone(),
        });
    }
    let built = indicator_set(
        context.store.as_deref_mut(),
        &request.indicators,
        judges,
        now.unix_nanos(),
    )?;
    for note in &built.notes {
        observer.notice(Notice::Indicators(note.clone()));
    }
    if built.from_store + built.from_files + built.from_ecs > 0 || built.left_out > 0 {
        observer.notice(Notice::IndicatorSet {
            total: built.set.len(),
            from_store: built.from_store,
            from_files: built.from_files,
            from_ecs: built.from_ecs,
            left_out: built.left_out,
        });
    }
    let indicators = built.set;
    let rules_total = loaded.rule_count() + rules_rejected;
    let (mut engine, compile_errors) =
        Engine::with_sigma(&loaded.native, loaded.sigma, now, &indicators);
    let not_compiled = compile_errors.len();
    for (rule, error) in compile_errors {
        observer.notice(Notice::RuleNotRunning { rule, error });
    }
    if request.strict && not_compiled > 0 {
        return Err(ServiceError::Strict {
            count: not_compiled,
            what: "cannot run",
        });
    }
    if rules_total == rules_rejected + not_compiled {
        // Reading the logs would check nothing, and a clean exit would say they were clean.
        return Err(ServiceError::Missing(
            "no rule can run, so nothing would be checked (see the rejections above)".into(),
        ));
    }
    let (inputs, input_errors) = expand(&request.paths);
    let unusable = input_errors.len();
    for error in input_errors {
        observer.notice(Notice::InputUnusable(error));
    }
    let run = pipeline::run(
        &mut engine,
        &inputs,
        &request.pipeline,
        progress,
        context.cancel,
    );
    let mut alerts = run.alerts;
    alerts.sort_by_key(|a| a.timestamp);
    if let Some(min) = request.min_severity {
        alerts.retain(|a| a.rule.severity >= min);
    }
    observer.alerts(&alerts);
    let (mut recorded, mut sightings, mut cases) = (None, 0, Vec::new());
    if let Some(store) = context.store {
        let at = context.clock.now().unix_nanos();
        let detect = Actor::service("detect");
        recorded = Some(record(store, &alerts, &suppressions, &detect, at)?);
        sightings = record_sightings(store, &alerts, judges, now.unix_nanos())?;
        if let Some(grouping) = &request.open_cases {
            let playbooks = Playbooks::bundled()?;
            cases = group_into_cases(
                store,
                &playbooks,
                &grouping.fields,
                grouping.window,
                context.actor,
                context.clock,
            )?;
        }
    }
    let (mut summaries, mut skipped) = (Vec::new(), Vec::new());
    for (index, summary) in run.summaries {
        match (summary, inputs.get(index)) {
            (Err(e), Some(input)) if input.skipped_in_walk(&request.paths, &e) => skipped.push(e),
            (summary, _) => summaries.push(summary),
        }
    }
    let activity = engine
        .rules()
        .iter()
        .filter(|r| r.stats().matched > 0)
        .map(|r| RuleActivity {
            name: r.info.name.clone(),
            stats: r.stats(),
        })
        .collect();
    Ok(DetectReport {
        alerts,
        events: run.events,
        rejected: run.rejected,
        lost: run.lost,
        summaries,
        skipped,
        input_errors: unusable,
        rules_total,
        rules_failed: rules_rejected + not_compiled,
        activity,
        warninglisted_matches: indicators.suppressed(),
        recorded,
        sightings,
        cases,
        cancelled: run.cancelled,
    })
}
