//! Detection over logs, as `secops detect` runs it: load the rules, build the indicator set, run the
//! pipeline, and, with a store, record the alerts, their sightings and cases for related alerts.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::sync::Arc;

use secops_case::playbook::Playbooks;
use secops_detect::{AggregatePolicy, Alert, AlertSink, CompileError, Engine, Raised, RuleStats};
use secops_ingest::{expand, IngestError, Summary};
use secops_rules::Severity;
use secops_store::Store;

use crate::cases::{group_into_cases, Opened};
use crate::intel::{indicator_set, record_sightings, IndicatorSources, Judges, SightedIndicator};
use crate::pipeline::{self, PipelineOptions};
use crate::record::{record_each, suppressions, RecordSummary, Suppression};
use crate::ruleset::{self, Rejection, RuleSelection};
use crate::{Actor, Cancel, Clock, Progress, ServiceError};
use secops_store::{AlertFold, Recorded};

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
    /// How repeated alerts fold (default: rules' own settings, else the default entity over an hour).
    pub aggregate: AggregatePolicy,
    /// Resolve entities (hosts, users, addresses) while detecting: `Some` with the inventory file, if
    /// any. Events get `secops.entity.*` and `related.*` before the rules' stateful part.
    pub entities: Option<Option<std::path::PathBuf>>,
    /// Risk-based alerting: alerts add to their hosts' and users' risk, and an entity crossing into
    /// risk raises an alert of the risk rule.
    pub risk: Option<secops_entity::RiskModel>,
    pub pipeline: PipelineOptions,
    /// With a store: open a case for each group of related open alerts not yet in one.
    pub open_cases: Option<CaseGrouping>,
    /// Write every event read, and each alert once complete, into the event lake at this folder
    /// (or `s3://bucket/prefix`).
    pub lake: Option<String>,
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
    /// Something went wrong in the run itself (sorting many inputs' events on disk).
    Pipeline(String),
    /// Entities are resolved though not asked for: a loaded rule reads them.
    EntitiesForRules,
    /// Exceptions from the store added to the rules they name; `missing`: rules named that are
    /// not loaded native rules (their exceptions do not apply).
    StoreExceptions {
        applied: usize,
        missing: Vec<String>,
    },
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
            Notice::Pipeline(problem) => write!(f, "error: {problem}"),
            Notice::EntitiesForRules => f.write_str(
                "entities: resolved, since a loaded rule reads secops.entity.* (as with --entities)",
            ),
            Notice::StoreExceptions { applied, missing } => {
                write!(f, "exceptions: {applied} from the store applied")?;
                if !missing.is_empty() {
                    write!(
                        f,
                        "; those for {} not applied (not a loaded native rule: a Sigma rule takes filters in its file)",
                        missing.join(", ")
                    )?;
                }
                Ok(())
            }
        }
    }
}

/// Watches a detection run: notices and alerts as they happen.
pub trait Observer {
    fn notice(&mut self, _notice: Notice) {}
    /// An alert of at least the minimum severity to show, in the order the request asked for
    /// ([`crate::pipeline::AlertOrder`]). In the order raised, a [`Raised::Closed`] alert repeats the
    /// id of an alert given before (as [`Raised::Opened`]) with repeats folded into it, and supersedes
    /// it (one whose window closed with nothing folded in is not given again); in time order, every
    /// alert is [`Raised::Final`] and given once.
    fn alert(&mut self, _alert: &Raised) {}
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
    /// Alerts raised, `min_severity` applied (each once, however many times it was written).
    pub alerts: u64,
    /// Of them, by severity.
    pub severities: BTreeMap<Severity, u64>,
    /// Alerts written after a later one (see [`crate::pipeline::AlertOrder::Time`]).
    pub out_of_order: u64,
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
    /// With `lake`: what was written into it (events and alerts).
    pub lake: Option<secops_lake::WriteStats>,
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
    let Prepared {
        mut engine,
        suppressions,
        indicators,
        rules_total,
        rules_failed,
        reads_entities,
    } = prepare(
        &RulesRequest {
            rules: request.rules.clone(),
            indicators: request.indicators.clone(),
            strict: request.strict,
            aggregate: request.aggregate.clone(),
        },
        context.store.as_deref_mut(),
        context.judges,
        context.clock,
        observer,
    )?;
    let now = context.clock.now();
    let judges = context.judges;
    let (inputs, input_errors) = expand(&request.paths);
    let unusable = input_errors.len();
    for error in input_errors {
        observer.notice(Notice::InputUnusable(error));
    }
    let mut resolver = resolver_for(&request.entities, reads_entities, observer)?;
    // The lake's writer runs on its own thread, fed through a bounded channel: readers wait for it
    // rather than memory growing. A writer that fails drops its end; the error is reported at the end.
    let (lake_sender, lake_writer) = match &request.lake {
        Some(dir) => {
            let mut writer = secops_lake::LakeWriter::open(secops_lake::Lake::open(dir)?);
            let (sender, events) = std::sync::mpsc::sync_channel::<secops_event::Event>(4096);
            let handle = std::thread::Builder::new()
                .name("lake".into())
                .spawn(move || {
                    for event in events {
                        writer.write(&event)?;
                    }
                    writer.finish()
                })
                .map_err(|e| ServiceError::Missing(format!("starting the lake writer: {e}")))?;
            (Some(sender), Some(handle))
        }
        None => (None, None),
    };
    let tap_sender = lake_sender.clone();
    let tap = move |event: &secops_event::Event| {
        if let Some(sender) = &tap_sender {
            // A failed writer reports its error when joined.
            let _ = sender.send(event.clone());
        }
    };
    let mut recorder = Recorder {
        lake: lake_sender,
        risk: request.risk.clone().map(|model| {
            let index = resolver
                .as_ref()
                .map_or_else(|| Arc::new(secops_entity::Index::default()), |r| r.index());
            crate::risk::Risk::new(model, index)
        }),
        observer,
        min_severity: request.min_severity,
        store: context.store,
        suppressions: &suppressions,
        judges,
        now: now.unix_nanos(),
        clock: context.clock,
        pending: Vec::new(),
        closed: Vec::new(),
        open: HashMap::new(),
        alerts: 0,
        severities: BTreeMap::new(),
        recorded: RecordSummary::default(),
        sighted: HashSet::new(),
        failed: None,
        cancel: context.cancel,
    };
    let run = pipeline::run_resolving(
        &mut engine,
        &inputs,
        &request.pipeline,
        &mut recorder,
        progress,
        context.cancel,
        resolver.as_mut(),
        request
            .lake
            .is_some()
            .then_some(&tap as &(dyn Fn(&secops_event::Event) + Sync)),
    );
    recorder.flush();
    drop(tap);
    recorder.lake = None;
    let lake =
        match lake_writer {
            Some(handle) => Some(handle.join().map_err(|_| {
                ServiceError::Missing("the lake writer stopped unexpectedly".into())
            })??),
            None => None,
        };
    if let Some(problem) = &run.problem {
        recorder.observer.notice(Notice::Pipeline(problem.clone()));
    }
    if let Some(e) = recorder.failed.take() {
        return Err(e);
    }
    let (alerts, severities) = (recorder.alerts, std::mem::take(&mut recorder.severities));
    let (mut recorded, sightings, mut cases) = (None, recorder.sighted.len(), Vec::new());
    if let Some(store) = recorder.store {
        recorded = Some(recorder.recorded);
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
        severities,
        out_of_order: run.out_of_order,
        events: run.events,
        rejected: run.rejected,
        lost: run.lost,
        summaries,
        skipped,
        input_errors: unusable,
        rules_total,
        rules_failed,
        activity,
        warninglisted_matches: indicators.suppressed(),
        recorded,
        sightings,
        cases,
        lake,
        cancelled: run.cancelled,
    })
}

/// The entity resolver a run needs: with `entities` (an inventory file or none), or because a loaded
/// rule reads resolved entities (said to `observer`); none otherwise.
pub fn resolver_for(
    entities: &Option<Option<std::path::PathBuf>>,
    reads_entities: bool,
    observer: &mut dyn Observer,
) -> Result<Option<secops_entity::Resolver>, ServiceError> {
    let entities = match entities {
        Some(inventory) => Some(inventory.clone()),
        None if reads_entities => {
            observer.notice(Notice::EntitiesForRules);
            Some(None)
        }
        None => None,
    };
    Ok(entities
        .map(|inventory| match inventory {
            Some(path) => crate::entities::load_inventory(&path),
            None => Ok(secops_entity::Inventory::default()),
        })
        .transpose()?
        .map(secops_entity::Resolver::new))
}

/// What detection over any input starts from: the rules loaded (the store's exceptions applied),
/// compiled with the indicator set, aggregation applied.
#[derive(Debug, Clone, Default)]
pub struct RulesRequest {
    pub rules: RuleSelection,
    pub indicators: IndicatorSources,
    /// Fail when any rule fails to load or compile.
    pub strict: bool,
    pub aggregate: AggregatePolicy,
}

/// The engine [`prepare`] built, and what went into it.
#[derive(Debug)]
pub struct Prepared {
    pub engine: Engine,
    /// Each native rule's suppression window, for recording its alerts.
    pub suppressions: HashMap<String, Suppression>,
    pub indicators: secops_detect::IndicatorSet,
    /// Rules loaded, and of them how many cannot run (rejected or not compiled).
    pub rules_total: usize,
    pub rules_failed: usize,
    /// Whether a loaded rule reads resolved entities.
    pub reads_entities: bool,
}

/// Loads and compiles the rules as `detect` does, telling `observer` what it noticed (see
/// [`Notice`]); an error when nothing could run or `strict` refuses a failure.
pub fn prepare(
    request: &RulesRequest,
    mut store: Option<&mut Store>,
    judges: &Judges,
    clock: &dyn Clock,
    observer: &mut dyn Observer,
) -> Result<Prepared, ServiceError> {
    let mut loaded = ruleset::load(&request.rules)?;
    if let Some(store) = store.as_deref_mut() {
        // Exceptions analysts added from alerts apply from the rules' next load until they expire.
        let records = store.exceptions(None, Some(clock.now().unix_nanos()))?;
        let (applied, missing) = crate::rules::apply_exceptions(&mut loaded, &records);
        if applied > 0 || !missing.is_empty() {
            observer.notice(Notice::StoreExceptions { applied, missing });
        }
    }
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
    let now = clock.now();
    for (file, reason) in &judges.refused {
        observer.notice(Notice::WarninglistRefused {
            file: file.clone(),
            reason: reason.clone(),
        });
    }
    let built = indicator_set(store, &request.indicators, judges, now.unix_nanos())?;
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
    let reads_entities = loaded.reads_entities();
    let (mut engine, compile_errors) =
        Engine::with_sigma(&loaded.native, loaded.sigma, now, &indicators);
    engine.aggregate(&request.aggregate);
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
    Ok(Prepared {
        engine,
        suppressions,
        indicators,
        rules_total,
        rules_failed: rules_rejected + not_compiled,
        reads_entities,
    })
}

/// Where the run's alerts go: the minimum severity applied, the observer told, and, with a store, each
/// alert recorded as it is raised (in batches, with its indicator sightings), and the repeats folded
/// into it recorded when its suppression window closes.
struct Recorder<'a, 'o> {
    /// `detect --lake`: each alert, once complete, goes to the lake's writer.
    lake: Option<std::sync::mpsc::SyncSender<secops_event::Event>>,
    /// Risk-based alerting, when asked for.
    risk: Option<crate::risk::Risk>,
    observer: &'o mut dyn Observer,
    min_severity: Option<Severity>,
    store: Option<&'a mut Store>,
    suppressions: &'a HashMap<String, Suppression>,
    judges: &'a Judges,
    now: i64,
    clock: &'a dyn Clock,
    /// Alerts not yet recorded, and whether each is open for repeats.
    pending: Vec<(Alert, bool)>,
    /// Closed alerts with repeats folded in, not yet recorded.
    closed: Vec<Alert>,
    /// What became of the alerts still open for repeats, by alert id.
    open: HashMap<String, Recorded>,
    alerts: u64,
    severities: BTreeMap<Severity, u64>,
    recorded: RecordSummary,
    /// Indicators sighted.
    sighted: HashSet<SightedIndicator>,
    /// The store failed: nothing more is recorded, the run stops and reports it.
    failed: Option<ServiceError>,
    cancel: &'a Cancel,
}

/// Alerts recorded in one transaction.
const RECORD_BATCH: usize = 512;

impl Recorder<'_, '_> {
    fn flush(&mut self) {
        if self.failed.is_some() {
            return;
        }
        if let Err(e) = self.record() {
            self.failed = Some(e);
            self.cancel.cancel();
        }
    }

    fn record(&mut self) -> Result<(), ServiceError> {
        let Some(store) = self.store.as_deref_mut() else {
            return Ok(());
        };
        let at = self.clock.now().unix_nanos();
        let detect = Actor::service("detect");
        let (alerts, opened): (Vec<Alert>, Vec<bool>) =
            std::mem::take(&mut self.pending).into_iter().unzip();
        if !alerts.is_empty() {
            let (summary, results) = record_each(store, &alerts, self.suppressions, &detect, at)?;
            self.recorded.inserted += summary.inserted;
            self.recorded.merged += summary.merged;
            self.recorded.known += summary.known;
            for ((alert, opened), result) in alerts.iter().zip(opened).zip(results) {
                if opened {
                    self.open.insert(alert.id.clone(), result);
                }
            }
        }
        let closed = std::mem::take(&mut self.closed);
        let mut folds: Vec<AlertFold> = closed
            .iter()
            .filter_map(|alert| {
                let (id, document) = match self.open.remove(&alert.id)? {
                    Recorded::Inserted(id) => (id, Some(alert.document().to_line())),
                    Recorded::Merged(id) => (id, None),
                    // An earlier run recorded it, repeats and all.
                    Recorded::Duplicate(_) => return None,
                };
                Some(AlertFold {
                    id,
                    last_seen: alert.last_seen.unix_nanos(),
                    events: alert.suppressed_count,
                    document,
                })
            })
            .collect();
        if !folds.is_empty() {
            crate::vulns::add_exposure(
                store,
                folds.iter_mut().filter_map(|f| f.document.as_mut()),
            )?;
            store.fold_into_alerts(&folds, &detect.name, at)?;
        }
        let sighted = record_sightings(store, alerts.iter().chain(&closed), self.judges, self.now)?;
        if let Some(risk) = &mut self.risk {
            store.record_risk(&risk.take_pending())?;
        }
        self.sighted.extend(sighted);
        Ok(())
    }
}

impl AlertSink for Recorder<'_, '_> {
    fn raise(&mut self, mut raised: Raised) {
        // Every alert counts toward risk the first time it is raised, whatever the severity shown.
        let opened = matches!(raised, Raised::Opened(_));
        let risky = match (&mut self.risk, &mut raised) {
            (Some(risk), Raised::Closed(alert)) => {
                risk.carry(alert);
                Vec::new()
            }
            (Some(risk), Raised::Final(alert) | Raised::Opened(alert)) if self.failed.is_none() => {
                match risk.observe(alert, opened, self.store.as_deref_mut()) {
                    Ok(raised) => raised,
                    Err(e) => {
                        self.failed = Some(e);
                        self.cancel.cancel();
                        Vec::new()
                    }
                }
            }
            _ => Vec::new(),
        };
        self.take(raised);
        for alert in risky {
            self.take(Raised::Final(alert));
        }
    }
}

impl Recorder<'_, '_> {
    fn take(&mut self, raised: Raised) {
        let alert = raised.alert();
        if self
            .min_severity
            .is_some_and(|min| alert.rule.severity < min)
        {
            return;
        }
        let update = alert.is_update();
        match &raised {
            Raised::Closed(_) if !update => {}
            _ => self.observer.alert(&raised),
        }
        if !matches!(raised, Raised::Closed(_)) {
            self.alerts += 1;
            *self.severities.entry(alert.rule.severity).or_default() += 1;
        }
        if let (Some(lake), Raised::Final(alert) | Raised::Closed(alert)) = (&self.lake, &raised) {
            let _ = lake.send(crate::lake::alert_event(alert));
        }
        if self.store.is_none() || self.failed.is_some() {
            return;
        }
        match raised {
            Raised::Final(alert) => self.pending.push((alert, false)),
            Raised::Opened(alert) => self.pending.push((alert, true)),
            Raised::Closed(alert) if update => self.closed.push(alert),
            Raised::Closed(alert) => {
                // Nothing folded in: what was recorded (or is about to be) stands.
                if self.open.remove(&alert.id).is_none() {
                    for (pending, open) in &mut self.pending {
                        if pending.id == alert.id {
                            *open = false;
                        }
                    }
                }
            }
        }
        if self.pending.len() + self.closed.len() >= RECORD_BATCH {
            self.flush();
        }
    }
}
