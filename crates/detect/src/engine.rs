//! The engine: every compiled rule, run over a stream of events.
//!
//! Rule indices: native (TOML) rules first, then Sigma rules in [`SigmaSet`] order, then Sigma
//! correlations in dependency order. Native rules each select their own events; Sigma rules are selected
//! together by the indexed [`SigmaSet`]; a correlation is selected when a rule it depends on matched.

use secops_event::{Event, Timestamp};
use secops_rules::CheckedRule;

use crate::alert::{Alert, AlertSink};
use crate::rule::{CompiledRule, Runtime, Selection, Selector};
use crate::sigma::set::sort_dedup_from;
use std::collections::HashMap;
use std::sync::Arc;

use crate::alert::RuleInfo;
use crate::sigma::{CompiledSigma, CorrelationState, Mapping, Ref, RefSpec, SigmaSet};
use crate::threat_match::IndicatorSet;
use crate::{AggregatePolicy, CompileError};

#[derive(Debug)]
pub struct Engine {
    rules: Vec<CompiledRule>,
    native: usize,
    sigma: SigmaSet,
    /// Sigma-set rule indices from `sigma_base` on are native Sigma-language rules: their engine
    /// indices, in that order.
    sigma_base: u32,
    native_sigma: Vec<u32>,
    /// Per engine index: the engine indices of the correlations that read the rule's matches.
    dependents: Vec<Vec<u32>>,
    /// Per engine index: whether the rule's state (or a correlation over it) reads resolved entities.
    entity_readers: Vec<bool>,
}

/// The prefix of the fields entity resolution writes.
pub const ENTITY_FIELDS: &str = "secops.entity.";

/// Whether a native rule's state reads resolved entities: `secops.entity.*` in its query (an EQL
/// sequence's join keys), threshold, new-terms or suppression fields, or its correlation's group-by
/// and aliases.
pub fn reads_entities(rule: &CheckedRule) -> bool {
    let r = &rule.file.rule;
    let entity = |f: &String| f.contains(ENTITY_FIELDS);
    r.query
        .as_ref()
        .is_some_and(|q| q.get_ref().contains(ENTITY_FIELDS))
        || r.threshold
            .as_ref()
            .is_some_and(|t| t.field.iter().any(entity))
        || r.new_terms
            .as_ref()
            .is_some_and(|n| n.fields.iter().any(entity))
        || r.alert_suppression
            .as_ref()
            .is_some_and(|s| s.group_by.iter().any(entity))
        || rule
            .correlation
            .as_ref()
            .is_some_and(correlation_reads_entities)
}

/// Whether a correlation (native or Sigma) groups by resolved entities: its group-by, or a field an
/// alias stands for.
pub fn correlation_reads_entities(c: &secops_rules::sigma::SigmaCorrelation) -> bool {
    let entity = |f: &String| f.contains(ENTITY_FIELDS);
    c.group_by.iter().any(entity)
        || c.aliases
            .iter()
            .any(|(_, fields)| fields.iter().any(|(_, f)| entity(f)))
}

/// The stateless half of every rule, shared by worker threads.
#[derive(Debug)]
pub struct EngineSelector<'a> {
    native: Vec<&'a Selector>,
    sigma: &'a SigmaSet,
    sigma_offset: u32,
    sigma_base: u32,
    native_sigma: &'a [u32],
    dependents: &'a [Vec<u32>],
}

impl Engine {
    /// Compiles every rule; a rule that cannot run is returned with its error, never run half-way.
    pub fn new(rules: &[CheckedRule], now: Timestamp) -> (Engine, Vec<(String, CompileError)>) {
        Engine::with_indicators(rules, now, &IndicatorSet::default())
    }

    /// Like [`Engine::new`], with indicators for `threat_match` rules.
    pub fn with_indicators(
        rules: &[CheckedRule],
        now: Timestamp,
        indicators: &IndicatorSet,
    ) -> (Engine, Vec<(String, CompileError)>) {
        Engine::with_sigma(rules, CompiledSigma::default(), now, indicators)
    }

    /// Native rules and compiled Sigma rules together.
    pub fn with_sigma(
        rules: &[CheckedRule],
        sigma: CompiledSigma,
        now: Timestamp,
        indicators: &IndicatorSet,
    ) -> (Engine, Vec<(String, CompileError)>) {
        let mut compiled = Vec::new();
        let mut errors = Vec::new();
        let mapping = sigma
            .mapping
            .as_deref()
            .unwrap_or_else(|| Mapping::shared_bundled());
        // Native correlation rules are placed now and built once every rule has its index.
        let mut native_correlations = Vec::new();
        let mut native_names: Vec<(String, String)> = Vec::new();
        // Engine indices whose events must be enriched before their state sees them.
        let mut readers: Vec<u32> = Vec::new();
        for rule in rules {
            let r = &rule.file.rule;
            if let Some(correlation) = &rule.correlation {
                native_correlations.push((compiled.len(), correlation, rule));
                compiled.push(CompiledRule::external(
                    Arc::new(RuleInfo::of_rule(rule)),
                    None,
                    false,
                ));
                native_names.push((String::new(), String::new()));
                continue;
            }
            match CompiledRule::compile_mapped(rule, now, indicators, mapping) {
                Ok(mut c) => {
                    if reads_entities(rule) {
                        readers.push(compiled.len() as u32);
                    }
                    // A building block (Elastic's `building_block_type`) matches for the
                    // correlations that read it and raises no alert of its own.
                    if r.building_block == Some(true) || r.building_block_type.is_some() {
                        c.silence();
                    }
                    compiled.push(c);
                    native_names.push((r.id.clone(), r.name.clone()));
                }
                Err(e) => errors.push((r.id.clone(), e)),
            }
        }
        let native = compiled.len();
        let base = sigma.rules.len();
        // Native rules in the Sigma language join the Sigma set, numbered after its own rules.
        let mut native_units = Vec::new();
        let mut native_sigma = Vec::new();
        for (n, rule) in compiled.iter_mut().enumerate() {
            if let Some(units) = rule.take_sigma_units((base + native_sigma.len()) as u32) {
                native_units.extend(units);
                native_sigma.push(n as u32);
            }
        }
        let set = if native_units.is_empty() {
            sigma.set
        } else {
            let mut units = sigma.set.into_units();
            units.extend(native_units);
            SigmaSet::new(units)
        };
        for (r, (info, silent)) in sigma.rules.iter().zip(&sigma.silent).enumerate() {
            let mut rule = CompiledRule::external(info.clone(), None, *silent);
            if let Some(declared) = sigma.declared.get(r) {
                rule.declare(declared.clone());
            }
            compiled.push(rule);
        }
        let correlation_offset = (native + base) as u32;
        // Per engine index: the correlations that read the rule's matches.
        let mut dependents = vec![Vec::new(); native + base + sigma.correlations.len()];
        for (position, correlation) in sigma.correlations.into_iter().enumerate() {
            let index = correlation_offset + position as u32;
            let mut state = correlation.state;
            let engine_refs = state
                .refs()
                .iter()
                .map(|r| match r {
                    Ref::Rule(r) => native as u32 + r,
                    Ref::Correlation(p) => correlation_offset + p,
                    Ref::Engine(e) => *e,
                })
                .collect();
            state.set_engine_refs(engine_refs);
            mark_readers(&state, index, &mut readers);
            for &b in state.bases() {
                if let Some(list) = dependents.get_mut(native + b as usize) {
                    list.push(index);
                }
            }
            let mut rule =
                CompiledRule::external(correlation.info, Some(state), correlation.silent);
            rule.declare(correlation.declared);
            compiled.push(rule);
        }
        // Native correlations: references by id or name, to native rules or Sigma base rules.
        let mut names: HashMap<&str, u32> = HashMap::new();
        for (n, (id, name)) in native_names.iter().enumerate() {
            for key in [id, name].into_iter().filter(|k| !k.is_empty()) {
                names.entry(key.as_str()).or_insert(n as u32);
            }
        }
        for (r, info) in sigma.rules.iter().enumerate() {
            for key in [&info.id, &info.name] {
                names.entry(key.as_str()).or_insert((native + r) as u32);
            }
        }
        let mut silence = Vec::new();
        for (index, correlation, rule) in native_correlations {
            let mut specs = Vec::new();
            let mut unknown = Vec::new();
            for reference in &correlation.rules {
                match names.get(reference.as_str()) {
                    Some(&e) => specs.push(RefSpec {
                        reference: Ref::Engine(e),
                        target: None,
                        name: Some(reference.clone()),
                        id: Some(reference.clone()),
                    }),
                    None => unknown.push(reference.as_str()),
                }
            }
            if !unknown.is_empty() {
                errors.push((
                    rule.file.rule.id.clone(),
                    CompileError::UnknownReferences(
                        unknown.iter().map(|u| u.to_string()).collect(),
                    ),
                ));
                continue;
            }
            let bases: Vec<u32> = specs
                .iter()
                .filter_map(|s| match s.reference {
                    Ref::Engine(e) => Some(e),
                    _ => None,
                })
                .collect();
            match CorrelationState::new(correlation, specs, bases.clone()) {
                Ok(mut state) => {
                    state.set_engine_refs(bases.clone());
                    mark_readers(&state, index as u32, &mut readers);
                    for &b in &bases {
                        if let Some(list) = dependents.get_mut(b as usize) {
                            list.push(index as u32);
                        }
                    }
                    if !correlation.generate {
                        silence.extend(bases);
                    }
                    compiled[index] = CompiledRule::external(
                        Arc::new(RuleInfo::of_rule(rule)),
                        Some(state),
                        false,
                    );
                }
                Err(reason) => {
                    errors.push((rule.file.rule.id.clone(), CompileError::Correlation(reason)))
                }
            }
        }
        for e in silence {
            if let Some(rule) = compiled.get_mut(e as usize) {
                rule.silence();
            }
        }
        let mut entity_readers = vec![false; compiled.len()];
        for r in readers {
            if let Some(flag) = entity_readers.get_mut(r as usize) {
                *flag = true;
            }
        }
        (
            Engine {
                entity_readers,
                rules: compiled,
                native,
                sigma: set,
                sigma_base: base as u32,
                native_sigma,
                dependents,
            },
            errors,
        )
    }

    pub fn rules(&self) -> &[CompiledRule] {
        &self.rules
    }

    /// Every alert still open for repeats (see [`crate::Raised`]), with its repeats so far.
    pub fn open_alerts(&self) -> impl Iterator<Item = &Alert> {
        self.rules.iter().flat_map(|r| r.runtime().open_alerts())
    }

    /// Per engine index, the correlations that read the rule's matches.
    pub(crate) fn dependents(&self) -> &[Vec<u32>] {
        &self.dependents
    }

    pub(crate) fn rules_mut(&mut self) -> &mut [CompiledRule] {
        &mut self.rules
    }

    /// Per engine index: whether the rule's state, or a correlation over its matches, reads resolved
    /// entities (`secops.entity.*`). Events only other rules select need no resolution before the
    /// rules see them (their alerts can be enriched when raised).
    pub fn entity_readers(&self) -> &[bool] {
        &self.entity_readers
    }

    /// Applies a run's alert aggregation policy to every rule (before the first event); until then
    /// rules aggregate as they declare.
    pub fn aggregate(&mut self, policy: &AggregatePolicy) {
        if let AggregatePolicy::By { fields, .. } = policy {
            if fields.iter().any(|f| f.contains(ENTITY_FIELDS)) {
                // Every rule's alerts fold by resolved entities.
                self.entity_readers.iter_mut().for_each(|r| *r = true);
            }
        }
        for rule in &mut self.rules {
            rule.split().1.aggregate(policy);
        }
    }

    /// The selector (to share with worker threads) and every rule's runtime (to feed on one thread).
    pub fn split(&mut self) -> (EngineSelector<'_>, Vec<&mut Runtime>) {
        let native = self.native;
        let (selectors, runtimes): (Vec<&Selector>, Vec<&mut Runtime>) =
            self.rules.iter_mut().map(CompiledRule::split).unzip();
        (
            EngineSelector {
                native: selectors.into_iter().take(native).collect(),
                sigma: &self.sigma,
                sigma_offset: native as u32,
                sigma_base: self.sigma_base,
                native_sigma: &self.native_sigma,
                dependents: &self.dependents,
            },
            runtimes,
        )
    }

    /// Like [`Engine::process`], with the event as read deciding the selections and `resolved` (the
    /// same event with entities resolved) reaching the rules' state: as `detect --entities` runs it.
    pub fn process_resolved(&mut self, event: &Event, resolved: &Event, out: &mut dyn AlertSink) {
        let (selector, mut runtimes) = self.split();
        let (mut selected, mut excepted) = (Vec::new(), Vec::new());
        selector.select(event, &mut selected, &mut excepted);
        feed(&mut runtimes, resolved, &selected, &excepted, out);
    }

    /// Runs every rule on `event` (events should arrive in time order for stateful rules).
    pub fn process(&mut self, event: &Event, out: &mut dyn AlertSink) {
        let (selector, mut runtimes) = self.split();
        let (mut selected, mut excepted) = (Vec::new(), Vec::new());
        selector.select(event, &mut selected, &mut excepted);
        feed(&mut runtimes, event, &selected, &excepted, out);
    }

    /// The input has ended: raises every alert still open for repeats (see [`crate::Raised`]).
    pub fn finish(&mut self, out: &mut dyn AlertSink) {
        for rule in &mut self.rules {
            rule.finish(out);
        }
    }
}

/// Marks a correlation that groups or counts by resolved entities, and the rules it reads them from.
fn mark_readers(state: &CorrelationState, index: u32, readers: &mut Vec<u32>) {
    let refs = state.refs_reading_entities();
    if refs.iter().any(|r| *r) {
        readers.push(index);
    }
    for (&engine, _) in state.engine_refs().iter().zip(&refs).filter(|(_, r)| **r) {
        readers.push(engine);
    }
}

impl EngineSelector<'_> {
    /// Pushes the indices of rules that selected `event` onto `selected` (ascending), and of rules whose
    /// exception covered it onto `excepted`.
    pub fn select(&self, event: &Event, selected: &mut Vec<u32>, excepted: &mut Vec<u32>) {
        let mut dependents: Vec<u32> = Vec::new();
        let keys = crate::logsource::SourceKeys::of(event);
        for (index, selector) in self.native.iter().enumerate() {
            match selector.select_keyed(event, &keys) {
                Selection::Selected => {
                    selected.push(index as u32);
                    if let Some(list) = self.dependents.get(index) {
                        dependents.extend_from_slice(list);
                    }
                }
                Selection::Excepted => excepted.push(index as u32),
                Selection::Skipped => {}
            }
        }
        let start = selected.len();
        self.sigma.matches(event, selected);
        let end = selected.len();
        let mut natives = !dependents.is_empty();
        let mut write = start;
        for read in start..end {
            let index = selected[read];
            if index >= self.sigma_base {
                // A native rule in the Sigma language: its own exceptions apply.
                let Some(&n) = self.native_sigma.get((index - self.sigma_base) as usize) else {
                    continue;
                };
                if self
                    .native
                    .get(n as usize)
                    .is_some_and(|s| s.excepts(event))
                {
                    excepted.push(n);
                    continue;
                }
                selected[write] = n;
                natives = true;
                if let Some(list) = self.dependents.get(n as usize) {
                    dependents.extend_from_slice(list);
                }
            } else {
                let engine_index = index + self.sigma_offset;
                selected[write] = engine_index;
                if let Some(list) = self.dependents.get(engine_index as usize) {
                    dependents.extend_from_slice(list);
                }
            }
            write += 1;
        }
        selected.truncate(write);
        if natives {
            // Native indices come before the Sigma set's: keep the list in engine order.
            selected.extend_from_slice(&dependents);
            sort_dedup_from(selected, 0);
        } else if !dependents.is_empty() {
            let end = selected.len();
            selected.extend_from_slice(&dependents);
            sort_dedup_from(selected, end);
        }
    }
}

/// Like [`feed`], where only the runtimes `active` marks take the event (the rest run elsewhere:
/// see [`crate::Placement`]); the rules that matched are still told to the correlations that read
/// them.
pub fn feed_masked(
    runtimes: &mut [&mut Runtime],
    event: &Event,
    selected: &[u32],
    excepted: &[u32],
    active: &[bool],
    out: &mut dyn AlertSink,
) {
    let on = |i: u32| active.get(i as usize).copied().unwrap_or(false);
    let mut matched: Vec<u32> = selected
        .iter()
        .copied()
        .filter(|&i| runtimes.get(i as usize).is_some_and(|r| r.matches_alone()))
        .collect();
    for &index in selected.iter().filter(|&&i| on(i)) {
        if let Some(runtime) = runtimes.get_mut(index as usize) {
            let fired = runtime.take_in(Selection::Selected, event, &matched, out);
            if fired && !runtime.matches_alone() {
                matched.push(index);
            }
        }
    }
    for &index in excepted.iter().filter(|&&i| on(i)) {
        if let Some(runtime) = runtimes.get_mut(index as usize) {
            runtime.take(Selection::Excepted, event, out);
        }
    }
}

/// Feeds an event's selections to the runtimes, in index order; a correlation that fires is added to
/// the matches later (chained) correlations read.
pub fn feed(
    runtimes: &mut [&mut Runtime],
    event: &Event,
    selected: &[u32],
    excepted: &[u32],
    out: &mut dyn AlertSink,
) {
    // Rules that matched: queries when selected; stateful rules and correlations only when they fire
    // (a sequence's first step is not the sequence).
    let mut matched: Vec<u32> = selected
        .iter()
        .copied()
        .filter(|&i| runtimes.get(i as usize).is_some_and(|r| r.matches_alone()))
        .collect();
    for &index in selected {
        if let Some(runtime) = runtimes.get_mut(index as usize) {
            let fired = runtime.take_in(Selection::Selected, event, &matched, out);
            if fired && !runtime.matches_alone() {
                matched.push(index);
            }
        }
    }
    for &index in excepted {
        if let Some(runtime) = runtimes.get_mut(index as usize) {
            runtime.take(Selection::Excepted, event, out);
        }
    }
}
