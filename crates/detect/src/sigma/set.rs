//! Every compiled Sigma rule, indexed so an event meets only the rules that can match it:
//!
//! 1. Routing: Windows-style events by channel and EventID (the target's EventIDs, or those the rule's
//!    own condition requires), other events by `event.module`.
//! 2. Prefilter: each rule's required literals (one of which must appear in its field for the rule to
//!    match) go into one Aho-Corasick automaton per field (keyword searches: one over the text values
//!    they read). An event's route names the fields its rules need scanned; each is scanned once, and
//!    the literals found lead (through their postings) to the routed rules worth evaluating: the cost
//!    follows what the event holds, not how many rules its route has.
//!
//! Per-event work uses thread-local scratch space: no allocation in the hot path for ASCII text.

use std::cell::RefCell;
use std::collections::HashMap;

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, AhoCorasickKind, MatchKind};
use secops_event::{Event, Value};

use super::compile::{field_value, required_event_ids, required_literals, text_of, FieldRef, Unit};
use super::mapping::Target;

/// The units routed one way, with what matching them needs: the units to evaluate whatever the event
/// holds (no prefilter), and the field scans whose literals gate the others.
#[derive(Debug, Default)]
struct UnitList {
    units: Vec<u32>,
    ungated: Vec<u32>,
    scans: Vec<u32>,
}

impl UnitList {
    fn push(&mut self, unit: u32) {
        if self.units.last() != Some(&unit) {
            self.units.push(unit);
        }
    }

    /// Fills `ungated` and `scans` once every unit's prefilter is known.
    fn plan(&mut self, required: &[Option<Vec<u32>>], literal_scan: &[u32]) {
        self.ungated.clear();
        self.scans.clear();
        for &unit in &self.units {
            match required.get(unit as usize) {
                Some(Some(literals)) => self.scans.extend(
                    literals
                        .iter()
                        .filter_map(|&l| literal_scan.get(l as usize).copied()),
                ),
                _ => self.ungated.push(unit),
            }
        }
        self.scans.sort_unstable();
        self.scans.dedup();
    }
}

#[derive(Debug, Default)]
struct Route {
    by_id: HashMap<u32, UnitList>,
    any: UnitList,
}

impl Route {
    fn add(&mut self, unit: u32, ids: &[u32]) {
        if ids.is_empty() {
            self.any.push(unit);
        } else {
            for id in ids {
                self.by_id.entry(*id).or_default().push(unit);
            }
        }
    }

    fn candidates(&self, id: Option<u32>) -> [Option<&UnitList>; 2] {
        [id.and_then(|id| self.by_id.get(&id)), Some(&self.any)]
    }

    fn lists_mut(&mut self) -> impl Iterator<Item = &mut UnitList> {
        self.by_id
            .values_mut()
            .chain(std::iter::once(&mut self.any))
    }
}

#[derive(Debug)]
struct FieldScan {
    field: FieldRef,
    automaton: AhoCorasick,
    /// Pattern index to literal id.
    literals: Vec<u32>,
}

/// The compiled Sigma rules of an engine.
#[derive(Debug, Default)]
pub struct SigmaSet {
    units: Vec<Unit>,
    /// Per unit: literal ids one of which must be present (`None`: always evaluate).
    required: Vec<Option<Vec<u32>>>,
    /// Per literal: the units it gates (whose `required` holds it).
    postings: Vec<Vec<u32>>,
    scans: Vec<FieldScan>,
    channels: HashMap<String, Route>,
    every_channel: Route,
    modules: HashMap<String, UnitList>,
}

/// Per-thread marks, each valid when equal to the current event's generation.
#[derive(Debug, Default)]
struct Scratch {
    generation: u32,
    /// Per scan: done for this event.
    scanned: Vec<u32>,
    /// Per literal: found (its postings walked) for this event.
    found: Vec<u32>,
    /// Per unit: routed to this event.
    routed: Vec<u32>,
    /// Per unit: evaluated for this event.
    evaluated: Vec<u32>,
    /// Literals found by the current scan.
    hits: Vec<u32>,
    channel: String,
}

impl Scratch {
    /// Starts a new event: every mark from earlier events becomes stale.
    fn next_event(&mut self, scans: usize, literals: usize, units: usize) {
        self.generation = self.generation.wrapping_add(1);
        if self.generation == 0 {
            for marks in [
                &mut self.scanned,
                &mut self.found,
                &mut self.routed,
                &mut self.evaluated,
            ] {
                marks.iter_mut().for_each(|g| *g = 0);
            }
            self.generation = 1;
        }
        for (marks, len) in [
            (&mut self.scanned, scans),
            (&mut self.found, literals),
            (&mut self.routed, units),
            (&mut self.evaluated, units),
        ] {
            if marks.len() < len {
                marks.resize(len, 0);
            }
        }
    }
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

const EVENT_ID: &str = "winlog.event_id";

/// The largest keyword-search automaton built as a DFA (bytes).
const MAX_KEYWORD_DFA: usize = 8 << 20;

impl SigmaSet {
    /// Indexes compiled units.
    pub fn new(units: Vec<Unit>) -> SigmaSet {
        let mut set = SigmaSet::default();
        let event_id = FieldRef::Path(EVENT_ID.to_string());
        let mut literal_ids: HashMap<(FieldRef, String), u32> = HashMap::new();
        let mut field_literals: HashMap<FieldRef, Vec<(String, u32)>> = HashMap::new();
        let mut literal_fields: Vec<FieldRef> = Vec::new();
        for (index, unit) in units.iter().enumerate() {
            let index = index as u32;
            match &unit.target {
                Target::Channel {
                    channels,
                    event_ids,
                    ..
                } => {
                    let ids = if event_ids.is_empty() {
                        required_event_ids(&unit.tree, &event_id).unwrap_or_default()
                    } else {
                        event_ids.clone()
                    };
                    if channels.is_empty() {
                        set.every_channel.add(index, &ids);
                    }
                    for channel in channels {
                        set.channels
                            .entry(channel.clone())
                            .or_default()
                            .add(index, &ids);
                    }
                }
                Target::Generic { modules, .. } => {
                    for module in modules {
                        set.modules.entry(module.clone()).or_default().push(index);
                    }
                }
            }
            let required = required_literals(&unit.tree).map(|literals| {
                let mut ids: Vec<u32> = literals
                    .into_iter()
                    .map(|key| {
                        let next = literal_ids.len() as u32;
                        *literal_ids.entry(key.clone()).or_insert_with(|| {
                            field_literals
                                .entry(key.0.clone())
                                .or_default()
                                .push((key.1.clone(), next));
                            literal_fields.push(key.0);
                            next
                        })
                    })
                    .collect();
                ids.sort_unstable();
                ids.dedup();
                ids
            });
            set.required.push(required);
        }
        let mut scan_of_field: HashMap<FieldRef, u32> = HashMap::new();
        for (field, literals) in field_literals {
            let build = |kind| {
                AhoCorasickBuilder::new()
                    .ascii_case_insensitive(true)
                    .match_kind(MatchKind::Standard)
                    .kind(Some(kind))
                    .build(literals.iter().map(|(l, _)| l.as_str()))
            };
            // Keyword searches scan every text value of the events they are routed to, most of the
            // bytes scanned: a DFA (several times faster per byte, larger) when it stays small.
            let dfa = matches!(field, FieldRef::Keywords(_))
                .then(|| build(AhoCorasickKind::DFA).ok())
                .flatten()
                .filter(|dfa| dfa.memory_usage() <= MAX_KEYWORD_DFA);
            let automaton = match dfa {
                Some(dfa) => Ok(dfa),
                None => build(AhoCorasickKind::ContiguousNFA),
            };
            let Ok(automaton) = automaton else {
                // Too large an automaton: its literals get no scan, and their rules run ungated (below).
                continue;
            };
            scan_of_field.insert(field.clone(), set.scans.len() as u32);
            set.scans.push(FieldScan {
                field,
                automaton,
                literals: literals.iter().map(|(_, id)| *id).collect(),
            });
        }
        // A literal without a scan (its automaton could not be built) cannot gate: its units run ungated.
        let literal_scan: Vec<u32> = literal_fields
            .iter()
            .map(|f| scan_of_field.get(f).copied().unwrap_or(u32::MAX))
            .collect();
        for required in set.required.iter_mut() {
            if required
                .as_ref()
                .is_some_and(|r| r.iter().any(|&l| literal_scan[l as usize] == u32::MAX))
            {
                *required = None;
            }
        }
        set.postings = vec![Vec::new(); literal_scan.len()];
        for (unit, required) in set.required.iter().enumerate() {
            for &literal in required.iter().flatten() {
                set.postings[literal as usize].push(unit as u32);
            }
        }
        let (required, routes) = (&set.required, &literal_scan);
        set.channels
            .values_mut()
            .chain(std::iter::once(&mut set.every_channel))
            .flat_map(Route::lists_mut)
            .chain(set.modules.values_mut())
            .for_each(|list| list.plan(required, routes));
        set.units = units;
        set
    }

    /// Pushes the index of every rule matching `event` (ascending, without repeats) onto `out`.
    pub fn matches(&self, event: &Event, out: &mut Vec<u32>) {
        if self.units.is_empty() {
            return;
        }
        SCRATCH.with(|scratch| {
            let mut scratch = scratch.borrow_mut();
            let scratch = &mut *scratch;
            scratch.next_event(self.scans.len(), self.postings.len(), self.units.len());
            let start = out.len();
            // The channel buffer leaves the scratch space while the rest of it is lent out.
            let mut channel = std::mem::take(&mut scratch.channel);
            let mut lists: [Option<&UnitList>; 5] = [None; 5];
            self.route(event, &mut channel, &mut lists);
            scratch.channel = channel;
            let generation = scratch.generation;
            // Mark what the route holds, and evaluate the units no literal gates.
            for list in lists.iter().flatten() {
                for &unit in &list.units {
                    scratch.routed[unit as usize] = generation;
                }
            }
            for list in lists.iter().flatten() {
                for &unit in &list.ungated {
                    self.evaluate(unit, event, scratch, out);
                }
            }
            // Scan the fields the route needs; each literal found offers the routed units it gates.
            for list in lists.iter().flatten() {
                for &scan in &list.scans {
                    self.scan(scan, event, scratch, out);
                }
            }
            sort_dedup_from(out, start);
        });
    }

    /// The units, to index again with more (native rules in the Sigma language join the engine's set).
    pub fn into_units(self) -> Vec<Unit> {
        self.units
    }

    /// Whether any unit's condition holds on an event taken to be of its log source, unrouted (test
    /// events that name no source).
    pub fn matches_unrouted(&self, event: &Event) -> bool {
        self.units.iter().any(|unit| unit.tree.matches(event))
    }

    /// Pushes the index of every rule whose log source the event belongs to (routed to one of its
    /// targets, whose extra equalities hold), whether or not its condition matches: what the rules can
    /// see in a set of logs.
    pub fn routed(&self, event: &Event, out: &mut Vec<u32>) {
        let start = out.len();
        self.each_routed_unit(event, &mut String::new(), &mut |unit| {
            if let Some(compiled) = self.units.get(unit as usize) {
                if compiled.conditions.iter().all(|c| c.matches(event)) {
                    out.push(compiled.rule);
                }
            }
        });
        sort_dedup_from(out, start);
    }

    /// Calls `visit` with every unit the event is routed to: by channel (lowercased into `channel`) and
    /// EventID, and by `event.module`. A unit may come more than once.
    fn each_routed_unit(&self, event: &Event, channel: &mut String, visit: &mut dyn FnMut(u32)) {
        let mut lists: [Option<&UnitList>; 5] = [None; 5];
        self.route(event, channel, &mut lists);
        for list in lists.iter().flatten() {
            list.units.iter().for_each(|&unit| visit(unit));
        }
    }

    /// The unit lists an event is routed to: by channel (lowercased into `channel`) and EventID, and by
    /// `event.module`. A unit may be on more than one.
    fn route<'s>(
        &'s self,
        event: &Event,
        channel: &mut String,
        lists: &mut [Option<&'s UnitList>; 5],
    ) {
        if let Some(name) = event.get_str("winlog.channel") {
            channel.clear();
            channel.extend(name.chars().flat_map(char::to_lowercase));
            let id = event
                .get(EVENT_ID)
                .and_then(Value::as_i64)
                .and_then(|i| u32::try_from(i).ok());
            let [a, b] = self
                .channels
                .get(channel.as_str())
                .map_or([None, None], |r| r.candidates(id));
            let [c, d] = self.every_channel.candidates(id);
            lists[..4].copy_from_slice(&[a, b, c, d]);
        }
        lists[4] = event
            .get_str("event.module")
            .and_then(|m| self.modules.get(m));
    }

    /// Evaluates a routed unit once per event.
    fn evaluate(&self, unit: u32, event: &Event, scratch: &mut Scratch, out: &mut Vec<u32>) {
        let Some(compiled) = self.units.get(unit as usize) else {
            return;
        };
        if scratch.evaluated[unit as usize] == scratch.generation {
            return;
        }
        scratch.evaluated[unit as usize] = scratch.generation;
        if compiled.conditions.iter().all(|c| c.matches(event)) && compiled.tree.matches(event) {
            out.push(compiled.rule);
        }
    }

    /// Runs one field scan (once per event) and evaluates the routed units its literals gate.
    fn scan(&self, scan: u32, event: &Event, scratch: &mut Scratch, out: &mut Vec<u32>) {
        let Some(field_scan) = self.scans.get(scan as usize) else {
            return;
        };
        let generation = scratch.generation;
        if scratch.scanned[scan as usize] == generation {
            return;
        }
        scratch.scanned[scan as usize] = generation;
        let mut hits = std::mem::take(&mut scratch.hits);
        hits.clear();
        match &field_scan.field {
            // Keyword searches read every text value (of the record, or of some fields).
            FieldRef::Keywords(None) => event
                .fields()
                .iter()
                .for_each(|(_, v)| scan_value(field_scan, v, true, &mut hits)),
            FieldRef::Keywords(Some(roots)) => {
                for value in roots.iter().filter_map(|root| event.get(root)) {
                    scan_value(field_scan, value, true, &mut hits);
                }
            }
            field => {
                if let Some(value) = field_value(field, event) {
                    scan_value(field_scan, &value, false, &mut hits);
                }
            }
        }
        for &literal in &hits {
            let Some(found) = scratch.found.get_mut(literal as usize) else {
                continue;
            };
            if *found == generation {
                continue;
            }
            *found = generation;
            for &unit in self.postings.get(literal as usize).into_iter().flatten() {
                if scratch.routed[unit as usize] == generation {
                    self.evaluate(unit, event, scratch, out);
                }
            }
        }
        scratch.hits = hits;
    }
}

/// Sorts `list[start..]` and removes repeats there, in place.
pub(crate) fn sort_dedup_from(list: &mut Vec<u32>, start: usize) {
    let Some(tail) = list.get_mut(start..) else {
        return;
    };
    tail.sort_unstable();
    let mut kept = 0;
    for read in 0..tail.len() {
        if kept == 0 || tail[read] != tail[kept - 1] {
            tail[kept] = tail[read];
            kept += 1;
        }
    }
    list.truncate(start + kept);
}

/// Scans a field's value (each item of an array) and pushes the literals found onto `hits`; with
/// `deep`, as keyword searches read events, only the text values, at any depth.
fn scan_value(scan: &FieldScan, value: &Value, deep: bool, hits: &mut Vec<u32>) {
    let text = match value {
        Value::Array(items) => {
            for item in items {
                scan_value(scan, item, deep, hits);
            }
            return;
        }
        Value::Object(object) if deep => {
            for (_, item) in object.iter() {
                scan_value(scan, item, deep, hits);
            }
            return;
        }
        Value::Str(s) if deep => std::borrow::Cow::Borrowed(s.as_str()),
        _ if deep => return,
        other => match text_of(other) {
            Some(text) => text,
            None => return,
        },
    };
    let Ok(matches) = scan
        .automaton
        .try_find_overlapping_iter(aho_corasick::Input::new(text.as_bytes()))
    else {
        return;
    };
    for m in matches {
        if let Some(&literal) = scan.literals.get(m.pattern().as_usize()) {
            hits.push(literal);
        }
    }
}
