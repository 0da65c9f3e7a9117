//! A rule compiled for the engine: its log-source filter, condition, exceptions, suppression and
//! type-specific state.

use std::collections::HashMap;
use std::sync::Arc;

use secops_event::{Event, Timestamp};
use secops_rules::eql::EqlQuery;
use secops_rules::{CheckedRule, RuleType};

use crate::aggregation::{AggregatePolicy, Aggregation, Declared, EntityValue};
use crate::alert::{Alert, AlertSink, Raised, RuleInfo, MAX_PROVENANCE};
use crate::anomaly::AnomalyState;
use crate::exceptions::Exceptions;
use crate::logsource::LogSourceFilter;
use crate::matcher::{compile_event_query, Matcher};
use crate::new_terms::NewTermsState;
use crate::sequence::SequenceState;
use crate::sigma::{compile_detection, CorrelationState, Mapping, SigmaSet};
use crate::threat_match::{IndicatorSet, ThreatMatchState};
use crate::threshold::{Crossing, ThresholdState};
use crate::CompileError;

#[derive(Debug)]
pub struct CompiledRule {
    pub info: Arc<RuleInfo>,
    selector: Selector,
    runtime: Runtime,
}

/// The stateless half of a rule: which events reach its state. Immutable, so many threads share it.
#[derive(Debug)]
pub struct Selector {
    source: LogSourceFilter,
    condition: Condition,
    exceptions: Exceptions,
}

/// What an event must satisfy, in the rule's language.
#[derive(Debug)]
enum Condition {
    /// KQL or EQL, after the log-source filter.
    Query(Matcher),
    /// A Sigma detection (`language = "sigma"`): routed to its targets by the Sigma mapping, which
    /// stands for the log-source filter.
    Sigma(Box<SigmaSet>),
}

impl Condition {
    fn matches(&self, event: &Event) -> bool {
        match self {
            Condition::Query(matcher) => matcher.matches(event),
            Condition::Sigma(set) => {
                let mut matched = Vec::new();
                set.matches(event, &mut matched);
                !matched.is_empty()
            }
        }
    }

    /// For events taken to be of the rule's log source: Sigma detections skip routing.
    fn matches_in_source(&self, event: &Event) -> bool {
        match self {
            Condition::Query(matcher) => matcher.matches(event),
            Condition::Sigma(set) => set.matches_unrouted(event),
        }
    }
}

/// The stateful half of a rule: its type's state, alert suppression and counts. Fed selected events in
/// time order, on one thread.
#[derive(Debug)]
pub struct Runtime {
    info: Arc<RuleInfo>,
    /// Fires without alerting (Sigma rules a correlation uses without `generate`).
    silent: bool,
    /// What the rule itself says about aggregation (kept so a run's policy can be applied).
    declared: Declared,
    suppression: Option<Suppression>,
    kind: Kind,
    pub stats: RuleStats,
}

/// What the stateless part of a rule decided about an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Selection {
    /// Not from the rule's log source, or the condition does not hold.
    Skipped,
    /// The condition holds but an exception covers the event.
    Excepted,
    Selected,
}

/// What happened to the events a rule saw.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RuleStats {
    pub matched: u64,
    pub excepted: u64,
    pub alerts: u64,
    pub suppressed: u64,
    /// Entities (groups) whose state was dropped because too many were live at once.
    pub evicted: u64,
}

#[derive(Debug)]
enum Kind {
    /// One alert per matching event (KQL queries and single-event EQL).
    Query,
    Threshold(ThresholdState),
    Sequence(SequenceState),
    NewTerms(NewTermsState),
    Anomaly(AnomalyState),
    ThreatMatch(ThreatMatchState),
    /// A Sigma correlation over the matches of the rules it references.
    Correlation(Box<CorrelationState>),
}

impl Kind {
    /// Entities whose state was evicted since the last call (stateful kinds keep bounded state).
    fn take_evicted(&mut self) -> u64 {
        match self {
            Kind::Threshold(state) => state.take_evicted(),
            Kind::Sequence(state) => state.take_evicted(),
            Kind::NewTerms(state) => state.take_evicted(),
            Kind::Anomaly(state) => state.take_evicted(),
            Kind::Query | Kind::ThreatMatch(_) | Kind::Correlation(_) => 0,
        }
    }
}

/// Alert aggregation (Elastic's alert suppression): one alert per entity (and group) per window of
/// event time; repeats within the window fold into the open alert, which is raised again when the
/// window closes or it holds as much provenance as an alert keeps (see `aggregation.rs`).
#[derive(Debug)]
struct Suppression {
    aggregation: Aggregation,
    /// Per entity and group: the alert that opened the window, folded into as repeats come.
    open: HashMap<OpenKey, Open>,
    /// The earliest event time at which some open window closes.
    next_close: Option<i64>,
    /// Provenance entries the open alerts hold: past [`MAX_HELD`], the oldest close early.
    held: usize,
}

/// Provenance entries one rule's open alerts may hold together (a few MB): a rule matching millions of
/// events within a window closes its oldest alerts early (the next repeat opens a new one) rather than
/// hold them all.
const MAX_HELD: usize = 100_000;

/// An open alert's entity values and the alert's own group (a threshold's group-by values).
type OpenKey = (Vec<EntityValue>, Vec<(String, String)>);

#[derive(Debug)]
struct Open {
    opened: i64,
    alert: Alert,
}

impl Suppression {
    fn new(aggregation: Aggregation) -> Self {
        Suppression {
            aggregation,
            open: HashMap::new(),
            next_close: None,
            held: 0,
        }
    }

    /// Raises every open alert whose window has passed at event time `now` as closed.
    fn close_due(&mut self, now: i64, out: &mut dyn AlertSink) {
        if self.next_close.is_none_or(|t| now < t) {
            return;
        }
        let duration = self.aggregation.window;
        let mut closed: Vec<Open> = self
            .open
            .extract_if(|_, open| now.saturating_sub(open.opened) >= duration)
            .map(|(_, open)| open)
            .collect();
        self.next_close = self
            .open
            .values()
            .map(|o| o.opened.saturating_add(duration))
            .min();
        // In the order the windows opened (the map's order is arbitrary).
        closed.sort_by_key(|o| o.opened);
        for open in closed {
            self.held = self.held.saturating_sub(open.alert.provenance.len());
            out.raise(Raised::Closed(open.alert));
        }
    }

    /// Closes the tenth of the open windows that opened first, to make room; returns how many.
    fn close_oldest(&mut self, out: &mut dyn AlertSink) -> u64 {
        let mut ages: Vec<(i64, OpenKey)> = self
            .open
            .iter()
            .map(|(key, open)| (open.opened, key.clone()))
            .collect();
        ages.sort();
        let count = (ages.len() / 10).max(1);
        for (_, key) in ages.into_iter().take(count) {
            if let Some(open) = self.open.remove(&key) {
                self.held = self.held.saturating_sub(open.alert.provenance.len());
                out.raise(Raised::Closed(open.alert));
            }
        }
        count as u64
    }

    fn close_all(&mut self, out: &mut dyn AlertSink) {
        let mut all: Vec<Open> = self.open.drain().map(|(_, open)| open).collect();
        all.sort_by_key(|o| o.opened);
        for open in all {
            out.raise(Raised::Closed(open.alert));
        }
        self.next_close = None;
        self.held = 0;
    }
}

impl CompiledRule {
    /// Compiles a checked rule; `now` decides which exceptions have expired. `threat_match` rules see no
    /// indicators (see [`CompiledRule::compile_with`]).
    pub fn compile(checked: &CheckedRule, now: Timestamp) -> Result<CompiledRule, CompileError> {
        CompiledRule::compile_with(checked, now, &IndicatorSet::default())
    }

    /// Compiles a checked rule, giving `threat_match` rules the indicators to match; Sigma detections
    /// map through the bundled Sigma mapping.
    pub fn compile_with(
        checked: &CheckedRule,
        now: Timestamp,
        indicators: &IndicatorSet,
    ) -> Result<CompiledRule, CompileError> {
        CompiledRule::compile_mapped(checked, now, indicators, Mapping::shared_bundled())
    }

    /// Compiles a checked rule; a Sigma detection (`language = "sigma"`) maps to events through
    /// `mapping`.
    pub fn compile_mapped(
        checked: &CheckedRule,
        now: Timestamp,
        indicators: &IndicatorSet,
        mapping: &Mapping,
    ) -> Result<CompiledRule, CompileError> {
        let rule = &checked.file.rule;
        let unsupported = |what: &str| CompileError::Unsupported {
            rule: rule.id.clone(),
            what: what.to_string(),
        };
        let sigma = match &checked.sigma {
            Some(detection) => {
                Some(compile_detection(detection, mapping).map_err(CompileError::SigmaDetection)?)
            }
            None => None,
        };
        let (condition, kind) = match (&checked.query, &checked.eql) {
            (_, Some(EqlQuery::Event(query))) => {
                (Condition::Query(compile_event_query(query)?), Kind::Query)
            }
            (_, Some(EqlQuery::Sequence(sequence))) => {
                let state = SequenceState::new(sequence)?;
                (Condition::Query(state.selector()), Kind::Sequence(state))
            }
            (query, None) => {
                let kind = match (rule.rule_type, &rule.threshold, checked.window) {
                    (RuleType::Query, ..) => Kind::Query,
                    (RuleType::Threshold, Some(spec), Some(window)) => {
                        Kind::Threshold(ThresholdState::new(spec, window))
                    }
                    (RuleType::NewTerms, _, Some(window)) => match &rule.new_terms {
                        Some(spec) => {
                            // Checked when the rule loaded: a duration no longer than the window.
                            let learning = spec
                                .learning
                                .as_ref()
                                .and_then(|l| l.get_ref().parse::<crate::Duration>().ok())
                                .unwrap_or(window);
                            Kind::NewTerms(NewTermsState::new(&spec.fields, window, learning))
                        }
                        None => {
                            return Err(unsupported("a new_terms rule without [rule.new_terms]"))
                        }
                    },
                    (RuleType::Anomaly, _, Some(bucket)) => match &rule.anomaly {
                        Some(spec) => Kind::Anomaly(AnomalyState::new(spec, bucket)),
                        None => return Err(unsupported("an anomaly rule without [rule.anomaly]")),
                    },
                    (RuleType::ThreatMatch, ..) => Kind::ThreatMatch(ThreatMatchState::new(
                        &rule.threat_mapping,
                        indicators.clone(),
                    )),
                    (other, ..) => return Err(unsupported(&format!("rule type {other:?}"))),
                };
                match (query, sigma) {
                    (Some(expr), _) => (Condition::Query(Matcher::compile(expr)?), kind),
                    (None, Some(set)) => (Condition::Sigma(Box::new(set)), kind),
                    (None, None) => {
                        return Err(unsupported(&format!(
                            "{:?} rules without a KQL, EQL or Sigma condition",
                            rule.rule_type
                        )))
                    }
                }
            }
        };
        let declared = Declared::of_suppression(rule.alert_suppression.as_ref());
        let suppression = AggregatePolicy::Declared
            .resolve(&declared)
            .map(Suppression::new);
        let info = Arc::new(RuleInfo::of_rule(checked));
        // A Sigma detection's targets already say which events it may see.
        let source = match condition {
            Condition::Query(_) => LogSourceFilter::new(&rule.log_source),
            Condition::Sigma(_) => LogSourceFilter::default(),
        };
        Ok(CompiledRule {
            info: info.clone(),
            selector: Selector {
                source,
                condition,
                exceptions: Exceptions::compile(&rule.exceptions, now)?,
            },
            runtime: Runtime {
                info,
                silent: false,
                declared,
                suppression,
                kind,
                stats: RuleStats::default(),
            },
        })
    }

    /// A rule whose events are selected elsewhere (Sigma rules by the engine's Sigma set, correlations by
    /// the rules they reference): a Sigma query, or a correlation when `correlation` is given.
    pub fn external(
        info: Arc<RuleInfo>,
        correlation: Option<CorrelationState>,
        silent: bool,
    ) -> CompiledRule {
        CompiledRule {
            info: info.clone(),
            selector: Selector {
                source: LogSourceFilter::default(),
                // Never selects by itself.
                condition: Condition::Query(Matcher::Or(Vec::new())),
                exceptions: Exceptions::default(),
            },
            runtime: Runtime {
                info,
                silent,
                declared: Declared::Nothing,
                suppression: None,
                kind: match correlation {
                    Some(state) => Kind::Correlation(Box::new(state)),
                    None => Kind::Query,
                },
                stats: RuleStats::default(),
            },
        }
    }

    pub fn stats(&self) -> RuleStats {
        self.runtime.stats
    }

    /// What the rule says about aggregation (a Sigma rule's `alert_aggregation`), applied as rules
    /// declare it until a run's policy says otherwise.
    pub(crate) fn declare(&mut self, declared: Declared) {
        self.runtime.declared = declared;
        self.runtime.aggregate(&AggregatePolicy::Declared);
    }

    /// A rule a correlation reads without `generate`: it matches, but does not alert by itself.
    pub(crate) fn silence(&mut self) {
        self.runtime.silent = true;
    }

    /// A Sigma-language rule's units, numbered `index`, for the engine's shared Sigma set (one
    /// routing table and prefilter for every Sigma detection); the rule then no longer selects by
    /// itself: the set selects it, and its exceptions still apply. `None` for other rules.
    pub(crate) fn take_sigma_units(
        &mut self,
        index: u32,
    ) -> Option<Vec<crate::sigma::compile::Unit>> {
        if !matches!(self.selector.condition, Condition::Sigma(_)) {
            return None;
        }
        let never = Condition::Query(Matcher::Or(Vec::new()));
        let Condition::Sigma(set) = std::mem::replace(&mut self.selector.condition, never) else {
            return None;
        };
        Some(
            set.into_units()
                .into_iter()
                .map(|mut unit| {
                    unit.rule = index;
                    unit
                })
                .collect(),
        )
    }

    pub(crate) fn runtime(&self) -> &Runtime {
        &self.runtime
    }

    /// What alerts say of the rule (id, name, version, severity, ...).
    pub fn info(&self) -> &RuleInfo {
        &self.info
    }

    pub(crate) fn runtime_mut(&mut self) -> &mut Runtime {
        &mut self.runtime
    }

    /// Both halves at once: the selector to share with workers, the runtime to feed.
    pub fn split(&mut self) -> (&Selector, &mut Runtime) {
        (&self.selector, &mut self.runtime)
    }

    /// Runs the rule on one event, raising any alert.
    pub fn process(&mut self, event: &Event, out: &mut dyn AlertSink) {
        let selection = self.selector.select(event);
        self.runtime.take(selection, event, out);
    }

    /// Runs the rule on an event already known to come from the rule's log source (test events that name
    /// no `event.module`).
    pub fn process_in_source(&mut self, event: &Event, out: &mut dyn AlertSink) {
        let selection = self.selector.select_in_source(event);
        self.runtime.take(selection, event, out);
    }

    /// Like [`CompiledRule::process`] (or, for an event naming no module, `process_in_source`), with
    /// the event as read deciding the selection and `resolved` (the same event with entities
    /// resolved) reaching the state: as `detect --entities` runs it.
    pub fn process_resolved(&mut self, event: &Event, resolved: &Event, out: &mut dyn AlertSink) {
        let selection = if event.get("event.module").is_none() {
            self.selector.select_in_source(event)
        } else {
            self.selector.select(event)
        };
        self.runtime.take(selection, resolved, out);
    }

    /// The input has ended: raises the alerts whose suppression windows are still open.
    pub fn finish(&mut self, out: &mut dyn AlertSink) {
        self.runtime.finish(out);
    }
}

impl Selector {
    /// Whether an exception of the rule covers the event.
    pub(crate) fn excepts(&self, event: &Event) -> bool {
        !self.exceptions.is_empty() && self.exceptions.matches(event)
    }

    /// Does the event reach the rule's state?
    pub fn select(&self, event: &Event) -> Selection {
        self.select_keyed(event, &crate::logsource::SourceKeys::of(event))
    }

    /// [`Selector::select`] with the event's log-source fields read once for every rule.
    pub fn select_keyed(
        &self,
        event: &Event,
        keys: &crate::logsource::SourceKeys<'_>,
    ) -> Selection {
        if self.source.matches_keys(keys) {
            self.select_routed(event)
        } else {
            Selection::Skipped
        }
    }

    fn select_in_source(&self, event: &Event) -> Selection {
        self.select_if(self.condition.matches_in_source(event), event)
    }

    fn select_routed(&self, event: &Event) -> Selection {
        self.select_if(self.condition.matches(event), event)
    }

    fn select_if(&self, condition_holds: bool, event: &Event) -> Selection {
        if !condition_holds {
            Selection::Skipped
        } else if !self.exceptions.is_empty() && self.exceptions.matches(event) {
            Selection::Excepted
        } else {
            Selection::Selected
        }
    }
}

impl Runtime {
    /// Counts a selection and, for a selected event, observes it.
    pub fn take(&mut self, selection: Selection, event: &Event, out: &mut dyn AlertSink) {
        self.take_in(selection, event, &[], out);
    }

    /// Like [`Runtime::take`], where `matched` lists the engine indices of the rules that matched (and
    /// correlations that fired on) the event, which correlations read. Returns whether the rule fired.
    pub fn take_in(
        &mut self,
        selection: Selection,
        event: &Event,
        matched: &[u32],
        out: &mut dyn AlertSink,
    ) -> bool {
        match selection {
            Selection::Selected => {
                self.stats.matched += 1;
                let fired = self.observe(event, matched, out);
                self.stats.evicted += self.kind.take_evicted();
                fired
            }
            Selection::Excepted => {
                self.stats.matched += 1;
                self.stats.excepted += 1;
                false
            }
            Selection::Skipped => false,
        }
    }

    pub fn is_correlation(&self) -> bool {
        matches!(self.kind, Kind::Correlation(_))
    }

    /// Whether the rule matches by itself on one event (a query); a stateful rule (threshold,
    /// sequence, ...) matches, for the correlations that read it, only when it fires.
    pub fn matches_alone(&self) -> bool {
        matches!(self.kind, Kind::Query)
    }

    /// Where the rule runs when events are partitioned by `field` (see [`crate::Placement`]).
    pub fn placement(&self, field: &str) -> crate::Placement {
        use crate::RekeyKey;
        let grouping = match &self.kind {
            Kind::Query | Kind::ThreatMatch(_) => None,
            Kind::Threshold(state) => Some(match state.fields() {
                [] => RekeyKey::Constant,
                fields => RekeyKey::Fields(fields.to_vec()),
            }),
            Kind::Anomaly(state) => Some(match state.by() {
                [] => RekeyKey::Constant,
                by => RekeyKey::Fields(by.to_vec()),
            }),
            Kind::Sequence(state) => Some(match state.join_fields() {
                Some(fields) if !fields.is_empty() => RekeyKey::Fields(fields.to_vec()),
                _ => RekeyKey::Constant,
            }),
            Kind::NewTerms(_) | Kind::Correlation(_) => Some(RekeyKey::Constant),
        };
        crate::placement::place(
            field,
            grouping,
            self.suppression.as_ref().map(|s| &s.aggregation),
        )
    }

    /// Whether the rule holds alerts open for repeats to fold into (alert aggregation).
    pub fn suppresses(&self) -> bool {
        self.suppression.is_some()
    }

    /// Applies a run's aggregation policy (before the first event).
    pub fn aggregate(&mut self, policy: &AggregatePolicy) {
        self.suppression = policy.resolve(&self.declared).map(Suppression::new);
    }

    /// Event time has reached `now`: raises the open alerts whose suppression windows have passed.
    pub fn advance(&mut self, now: Timestamp, out: &mut dyn AlertSink) {
        if let Some(s) = &mut self.suppression {
            s.close_due(now.unix_nanos(), out);
        }
    }

    /// The alerts still open for repeats, with what has folded into them so far.
    pub fn open_alerts(&self) -> impl Iterator<Item = &Alert> {
        self.suppression
            .iter()
            .flat_map(|s| s.open.values().map(|o| &o.alert))
    }

    /// The time of the earliest alert still open for repeats (nothing raised later can be earlier than
    /// it once it closes).
    pub fn earliest_open(&self) -> Option<Timestamp> {
        let s = self.suppression.as_ref()?;
        s.open.values().map(|o| o.alert.timestamp).min()
    }

    /// The input has ended: raises every alert still open for repeats.
    pub fn finish(&mut self, out: &mut dyn AlertSink) {
        if let Some(s) = &mut self.suppression {
            s.close_all(out);
        }
    }

    /// What a checkpoint keeps of the rule (see `snapshot.rs`): its counts, its type's state and its
    /// open alerts. `shape` says which type and whether alerts fold, so that a rule changed in between
    /// is not given a state of another shape.
    pub(crate) fn save(&self, out: &mut Vec<u8>) -> Result<(), postcard::Error> {
        postcard::to_io(&self.stats, &mut *out)?;
        match &self.kind {
            Kind::Query | Kind::ThreatMatch(_) => {}
            Kind::Threshold(state) => state.save(out)?,
            Kind::Sequence(state) => state.save(out)?,
            Kind::NewTerms(state) => state.save(out)?,
            Kind::Anomaly(state) => state.save(out)?,
            Kind::Correlation(state) => state.save(out)?,
        }
        if let Some(s) = &self.suppression {
            let open: Vec<(&OpenKey, i64, crate::snapshot::AlertOut<'_>)> = s
                .open
                .iter()
                .map(|(key, open)| (key, open.opened, crate::snapshot::AlertOut::of(&open.alert)))
                .collect();
            postcard::to_io(&(s.next_close, s.held, open), &mut *out)?;
        }
        Ok(())
    }

    /// The shape of the state [`Runtime::save`] writes: the type, and whether alerts fold.
    pub(crate) fn shape(&self) -> u8 {
        let kind = match &self.kind {
            Kind::Query => 0,
            Kind::ThreatMatch(_) => 1,
            Kind::Threshold(_) => 2,
            Kind::Sequence(_) => 3,
            Kind::NewTerms(_) => 4,
            Kind::Anomaly(_) => 5,
            Kind::Correlation(_) => 6,
        };
        kind | if self.suppression.is_some() { 0x80 } else { 0 }
    }

    /// Forgets everything (a state that could not be restored starts afresh).
    pub(crate) fn reset(&mut self) {
        self.stats = RuleStats::default();
        match &mut self.kind {
            Kind::Query | Kind::ThreatMatch(_) => {}
            Kind::Threshold(state) => state.reset(),
            Kind::Sequence(state) => state.reset(),
            Kind::NewTerms(state) => state.reset(),
            Kind::Anomaly(state) => state.reset(),
            Kind::Correlation(state) => state.reset(),
        }
        if let Some(s) = &mut self.suppression {
            s.open.clear();
            s.next_close = None;
            s.held = 0;
        }
    }

    /// Puts back what [`Runtime::save`] kept (the caller has checked the shape).
    pub(crate) fn restore(&mut self, bytes: &[u8]) -> Result<(), postcard::Error> {
        let (stats, rest) = postcard::take_from_bytes(bytes)?;
        self.stats = stats;
        let rest = match &mut self.kind {
            Kind::Query | Kind::ThreatMatch(_) => rest,
            Kind::Threshold(state) => state.restore(rest)?,
            Kind::Sequence(state) => state.restore(rest)?,
            Kind::NewTerms(state) => state.restore(rest)?,
            Kind::Anomaly(state) => state.restore(rest)?,
            Kind::Correlation(state) => state.restore(rest)?,
        };
        if let Some(s) = &mut self.suppression {
            type Saved = (
                Option<i64>,
                usize,
                Vec<(OpenKey, i64, crate::snapshot::AlertIn)>,
            );
            let ((next_close, held, open), _): (Saved, _) = postcard::take_from_bytes(rest)?;
            s.next_close = next_close;
            s.held = held;
            s.open = open
                .into_iter()
                .map(|(key, opened, alert)| {
                    let alert = alert.into_alert(self.info.clone());
                    (key, Open { opened, alert })
                })
                .collect();
        }
        Ok(())
    }

    /// The stateful part, for a selected event (events in time order): raises any alert, and says whether
    /// the rule fired.
    fn observe(&mut self, event: &Event, matched: &[u32], out: &mut dyn AlertSink) -> bool {
        let alert = match &mut self.kind {
            Kind::Query if self.silent => return true,
            Kind::Query => {
                let time = event.timestamp().unwrap_or(Timestamp::from_unix_nanos(0));
                Alert::new(
                    self.info.clone(),
                    vec![event.clone()],
                    Vec::new(),
                    1,
                    time,
                    time,
                    vec![event.provenance().clone()],
                )
            }
            Kind::Threshold(state) => match state.observe(event) {
                Some(c) => self.alert_from(c),
                None => return false,
            },
            Kind::Sequence(state) => match state.observe(event) {
                Some(c) => self.alert_from(c),
                None => return false,
            },
            Kind::NewTerms(state) => match state.observe(event) {
                Some(c) => self.alert_from(c),
                None => return false,
            },
            Kind::Anomaly(state) => match state.observe(event) {
                Some(c) => self.alert_from(c),
                None => return false,
            },
            Kind::ThreatMatch(state) => match state.observe(event) {
                Some((c, enrichments)) => {
                    let mut alert = self.alert_from(c);
                    alert.enrichments = enrichments;
                    alert
                }
                None => return false,
            },
            Kind::Correlation(state) => match state.observe(event, matched) {
                Some(_) if self.silent => return true,
                Some(c) => self.alert_from(c),
                None => return false,
            },
        };
        // A silenced stateful rule (a building block, a base of a correlation) fires for the
        // correlations only.
        if !self.silent {
            self.raise(alert, event, out);
        }
        true
    }

    /// Raises a new alert: final at once, or opening its aggregation window, or folded into the alert
    /// whose window it falls in (one of the same entity and group that still has room for its
    /// provenance; a full one is closed and the new alert opens in its place).
    fn raise(&mut self, mut alert: Alert, event: &Event, out: &mut dyn AlertSink) {
        let Some(s) = &mut self.suppression else {
            self.stats.alerts += 1;
            out.raise(Raised::Final(alert));
            return;
        };
        let entity = s.aggregation.entity(event);
        if entity.iter().any(Option::is_none) && !s.aggregation.fold_missing {
            self.stats.alerts += 1;
            out.raise(Raised::Final(alert));
            return;
        }
        let now = alert.timestamp.unix_nanos();
        s.close_due(now, out);
        let key: OpenKey = (entity, alert.group.clone());
        if let Some(open) = s.open.get_mut(&key) {
            // Within the window (close_due closed the others).
            if open.alert.provenance.len() + alert.provenance.len() <= MAX_PROVENANCE {
                let before = open.alert.provenance.len();
                open.alert.absorb(&alert);
                s.held += open.alert.provenance.len() - before;
                self.stats.suppressed += 1;
                while s.held > MAX_HELD && !s.open.is_empty() {
                    self.stats.evicted += s.close_oldest(out);
                }
                return;
            }
            if let Some(full) = s.open.remove(&key) {
                s.held = s.held.saturating_sub(full.alert.provenance.len());
                out.raise(Raised::Closed(full.alert));
            }
        }
        while !s.open.is_empty()
            && (s.open.len() >= crate::entities::MAX_ENTITIES
                || s.held + alert.provenance.len() > MAX_HELD)
        {
            self.stats.evicted += s.close_oldest(out);
        }
        alert.aggregated(&key.0, s.aggregation.window);
        let close = now.saturating_add(s.aggregation.window);
        s.next_close = Some(s.next_close.map_or(close, |t| t.min(close)));
        s.held += alert.provenance.len();
        s.open.insert(
            key,
            Open {
                opened: now,
                alert: alert.clone(),
            },
        );
        self.stats.alerts += 1;
        out.raise(Raised::Opened(alert));
    }

    fn alert_from(&self, c: Crossing) -> Alert {
        Alert::new(
            self.info.clone(),
            c.events,
            c.group,
            c.count,
            c.first,
            c.last,
            c.provenance,
        )
    }
}
