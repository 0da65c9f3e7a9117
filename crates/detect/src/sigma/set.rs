//! Every compiled Sigma rule, indexed so an event meets only the rules that can match it:
//!
//! 1. Routing: Windows-style events by channel and EventID (the target's EventIDs, or those the rule's
//!    own condition requires), other events by `event.module`.
//! 2. Prefilter: each rule's required literals (one of which must appear in its field for the rule to
//!    match) go into one Aho-Corasick automaton per field (keyword searches: one over the text values
//!    they read); a field is scanned at most once per event, and only when a routed rule asks, and a rule
//!    whose literals are all absent is never evaluated.
//!
//! Per-event work uses thread-local scratch space: no allocation in the hot path for ASCII text.

use std::cell::RefCell;
use std::collections::HashMap;

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, AhoCorasickKind, MatchKind};
use secops_event::{Event, Value};

use super::compile::{lookup, required_event_ids, required_literals, text_of, FieldRef, Unit};
use super::mapping::Target;

#[derive(Debug, Default)]
struct Route {
    by_id: HashMap<u32, Vec<u32>>,
    any: Vec<u32>,
}

impl Route {
    fn add(&mut self, unit: u32, ids: &[u32]) {
        if ids.is_empty() {
            self.any.push(unit);
        } else {
            for id in ids {
                let list = self.by_id.entry(*id).or_default();
                if list.last() != Some(&unit) {
                    list.push(unit);
                }
            }
        }
    }

    fn candidates(&self, id: Option<u32>) -> [&[u32]; 2] {
        let by_id = id
            .and_then(|id| self.by_id.get(&id))
            .map_or(&[][..], Vec::as_slice);
        [by_id, &self.any]
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
    /// Per literal: the field scan that finds it.
    literal_field: Vec<u32>,
    scans: Vec<FieldScan>,
    channels: HashMap<String, Route>,
    every_channel: Route,
    modules: HashMap<String, Vec<u32>>,
}

#[derive(Debug, Default)]
struct Scratch {
    generation: u32,
    scanned: Vec<u32>,
    found: Vec<u32>,
    channel: String,
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

const EVENT_ID: &str = "winlog.event_id";

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
            let automaton = AhoCorasickBuilder::new()
                .ascii_case_insensitive(true)
                .match_kind(MatchKind::Standard)
                .kind(Some(AhoCorasickKind::ContiguousNFA))
                .build(literals.iter().map(|(l, _)| l.as_str()));
            let Ok(automaton) = automaton else {
                // Too large an automaton: its rules are evaluated without the prefilter.
                for (_, id) in &literals {
                    for required in set.required.iter_mut() {
                        if required.as_ref().is_some_and(|r| r.contains(id)) {
                            *required = None;
                        }
                    }
                }
                continue;
            };
            scan_of_field.insert(field.clone(), set.scans.len() as u32);
            set.scans.push(FieldScan {
                field,
                automaton,
                literals: literals.iter().map(|(_, id)| *id).collect(),
            });
        }
        set.literal_field = literal_fields
            .iter()
            .map(|f| scan_of_field.get(f).copied().unwrap_or(u32::MAX))
            .collect();
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
            scratch.generation = scratch.generation.wrapping_add(1);
            if scratch.generation == 0 {
                scratch.scanned.iter_mut().for_each(|g| *g = 0);
                scratch.found.iter_mut().for_each(|g| *g = 0);
                scratch.generation = 1;
            }
            if scratch.scanned.len() < self.scans.len() {
                scratch.scanned.resize(self.scans.len(), 0);
            }
            if scratch.found.len() < self.literal_field.len() {
                scratch.found.resize(self.literal_field.len(), 0);
            }
            let start = out.len();
            let scratch = &mut *scratch;
            // The channel buffer leaves the scratch space while the rest of it is lent to `evaluate`.
            let mut channel = std::mem::take(&mut scratch.channel);
            self.each_routed_unit(event, &mut channel, &mut |unit| {
                self.evaluate(unit, event, scratch, out)
            });
            scratch.channel = channel;
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
        if let Some(name) = event.get_str("winlog.channel") {
            channel.clear();
            channel.extend(name.chars().flat_map(char::to_lowercase));
            let id = event
                .get(EVENT_ID)
                .and_then(Value::as_i64)
                .and_then(|i| u32::try_from(i).ok());
            let routed = self.channels.get(channel.as_str());
            let lists = routed.map(|r| r.candidates(id)).unwrap_or([&[], &[]]);
            for list in lists.into_iter().chain(self.every_channel.candidates(id)) {
                list.iter().for_each(|&unit| visit(unit));
            }
        }
        if let Some(list) = event
            .get_str("event.module")
            .and_then(|m| self.modules.get(m))
        {
            list.iter().for_each(|&unit| visit(unit));
        }
    }

    fn evaluate(&self, unit: u32, event: &Event, scratch: &mut Scratch, out: &mut Vec<u32>) {
        let Some(compiled) = self.units.get(unit as usize) else {
            return;
        };
        if let Some(Some(required)) = self.required.get(unit as usize) {
            if !self.any_present(required, event, scratch) {
                return;
            }
        }
        if compiled.conditions.iter().all(|c| c.matches(event)) && compiled.tree.matches(event) {
            out.push(compiled.rule);
        }
    }

    fn any_present(&self, literals: &[u32], event: &Event, scratch: &mut Scratch) -> bool {
        let generation = scratch.generation;
        for &literal in literals {
            let scan = self.literal_field[literal as usize];
            let Some(field_scan) = self.scans.get(scan as usize) else {
                return true;
            };
            if scratch.scanned[scan as usize] != generation {
                scratch.scanned[scan as usize] = generation;
                let found = &mut scratch.found;
                match &field_scan.field {
                    // Keyword searches read every text value (of the record, or of some fields).
                    FieldRef::Keywords(None) => event
                        .fields()
                        .iter()
                        .for_each(|(_, v)| scan_value(field_scan, v, true, found, generation)),
                    FieldRef::Keywords(Some(roots)) => {
                        for value in roots.iter().filter_map(|root| event.get(root)) {
                            scan_value(field_scan, value, true, found, generation);
                        }
                    }
                    field => {
                        if let Some(value) = lookup(field, event) {
                            scan_value(field_scan, value, false, found, generation);
                        }
                    }
                }
            }
            if scratch.found[literal as usize] == generation {
                return true;
            }
        }
        false
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

/// Scans a field's value (each item of an array); with `deep`, as keyword searches read events, only
/// the text values, at any depth.
fn scan_value(scan: &FieldScan, value: &Value, deep: bool, found: &mut [u32], generation: u32) {
    let text = match value {
        Value::Array(items) => {
            for item in items {
                scan_value(scan, item, deep, found, generation);
            }
            return;
        }
        Value::Object(object) if deep => {
            for (_, item) in object.iter() {
                scan_value(scan, item, deep, found, generation);
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
            found[literal as usize] = generation;
        }
    }
}
