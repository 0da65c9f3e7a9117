//! Detection that never ends (`secops run`): the rules as `detect` loads them, fed events as they
//! arrive, and committed now and then: the alerts raised since the last commit, the repeats folded into
//! alerts recorded before, and a checkpoint (every rule's state, what the resolver learned, the alerts
//! still open for repeats, and the caller's input positions) in one store transaction. A process killed
//! anywhere restarts from its last commit: the events after it are read again and give the same alerts,
//! none of which was recorded; none before it is read twice.
//!
//! Events of one source reach the rules in the order they arrived, as `detect` reads one file; events
//! older than the newest seen by more than the allowed lateness still reach the rules, and are counted
//! as late: in all, and per rule against each rule's own allowed lateness (the request's, or one
//! given for the rule).

use std::collections::HashMap;
use std::path::PathBuf;

use secops_detect::{feed, feed_masked, Alert, AlertSink, Engine, Placement, Raised, Restored};
use secops_entity::Resolver;
use secops_event::{Event, Timestamp};
use secops_rules::Severity;
use secops_store::{AlertFold, Checkpoint, Recorded, Store};
use serde::{Deserialize, Serialize};

use crate::detect::{prepare, Observer, Prepared, RulesRequest};
use crate::intel::Judges;
use crate::record::{new_alert, RecordSummary, Suppression};
use crate::{Actor, Clock, ServiceError};

/// What a long-running detection runs.
#[derive(Debug, Clone, Default)]
pub struct LiveRequest {
    /// The checkpoint's name in the store: one process per name.
    pub name: String,
    pub rules: RulesRequest,
    /// Only alerts of this severity or higher are recorded.
    pub min_severity: Option<Severity>,
    /// Resolve entities: `Some` with the inventory file, if any (on anyway when a rule reads them).
    pub entities: Option<Option<PathBuf>>,
    /// Events older than the newest by more than this (nanoseconds) are counted as late.
    pub lateness: i64,
    /// Rules (by id or name) allowed another lateness (nanoseconds): an event such a rule selects
    /// older than the newest by more than its own lateness is counted late for it (and still run).
    /// Other rules allow `lateness`.
    pub rule_lateness: Vec<(String, i64)>,
    /// Start afresh: the saved checkpoint is dropped (and the inputs read from their beginnings).
    pub reset: bool,
}

/// Where a partitioned run's events go besides this session's rules.
pub trait Route {
    /// Per engine index: whether the rule runs here.
    fn active(&self) -> &[bool];
    /// An event that some rule running elsewhere selected (or whose exception covered it), as the
    /// rules see it (entities resolved), with the selections.
    fn forward(&mut self, event: Event, received: i64, selected: &[u32], excepted: &[u32]);
}

/// An event selected elsewhere (by the publishing process), with its selections (see
/// [`Session::feed_selected`]).
#[derive(Debug, Clone)]
pub struct SelectedEvent {
    pub event: Event,
    pub received: i64,
    /// Indices shared by the events that have the same (see `secops_bus::Indices`).
    pub selected: std::sync::Arc<[u32]>,
    pub excepted: std::sync::Arc<[u32]>,
    /// The rules that run it here.
    pub rules: std::sync::Arc<[u32]>,
}

/// What the last checkpoint gave back at start.
#[derive(Debug, Clone)]
pub struct Resumed {
    /// The caller's input positions, as it gave them.
    pub positions: Vec<u8>,
    pub sequence: i64,
    pub saved_at: i64,
    pub restored: Restored,
}

/// What a commit recorded.
#[derive(Debug, Clone, Default)]
pub struct Committed {
    pub recorded: RecordSummary,
    pub folds: usize,
    /// The time each newly recorded alert's event arrived (UTC nanoseconds), for ingest-to-alert
    /// latency.
    pub received: Vec<i64>,
    pub sequence: i64,
    /// The checkpoint's size as stored (compressed).
    pub bytes: usize,
}

/// Counts since start.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LiveCounts {
    pub events: u64,
    /// Events some rule selected.
    pub selected: u64,
    pub late: u64,
    /// Alerts raised (each once, at least the minimum severity).
    pub alerts: u64,
}

/// The checkpoint's layout as written (borrowing what it saves), field for field [`Saved`].
#[derive(Serialize)]
struct SavedRef<'a> {
    format: u32,
    engine: &'a [u8],
    resolver: Option<&'a [u8]>,
    open: &'a [(String, bool, i64, u64)],
    latest: Option<i64>,
    positions: &'a [u8],
}

/// The checkpoint's layout (its own version; the rules' state carries another).
#[derive(Deserialize)]
struct Saved {
    format: u32,
    engine: Vec<u8>,
    resolver: Option<Vec<u8>>,
    /// Alerts recorded while still open for repeats: id, whether inserted (else merged), store id,
    /// and the repeats' events already folded into the stored alert.
    open: Vec<(String, bool, i64, u64)>,
    latest: Option<i64>,
    positions: Vec<u8>,
}

const SAVED_FORMAT: u32 = 1;

/// Checkpoints are stored compressed (zstd, fast level): the rules' state runs to megabytes and is
/// saved several times a second, and the store would otherwise compress it again on every save
/// (PostgreSQL's pglz, slower by far) or write it whole.
const CHECKPOINT_LEVEL: i32 = 1;

/// The first bytes of a zstd frame; a checkpoint saved before compression (a postcard `Saved`)
/// starts with its format number instead.
const ZSTD_MAGIC: [u8; 4] = [0x28, 0xb5, 0x2f, 0xfd];

/// A compressed checkpoint that claims to hold more than this is refused, not allocated.
const CHECKPOINT_LIMIT: u64 = 1 << 32;

/// The stored form of a checkpoint's bytes.
fn pack_checkpoint(raw: &[u8]) -> Result<Vec<u8>, String> {
    zstd::bulk::compress(raw, CHECKPOINT_LEVEL).map_err(|e| format!("not compressed: {e}"))
}

/// A checkpoint's bytes as [`pack_checkpoint`] stored them (or as saved before compression).
fn unpack_checkpoint(stored: &[u8]) -> Result<std::borrow::Cow<'_, [u8]>, String> {
    if !stored.starts_with(&ZSTD_MAGIC) {
        return Ok(std::borrow::Cow::Borrowed(stored));
    }
    let size = match zstd::zstd_safe::get_frame_content_size(stored) {
        Ok(Some(size)) if size <= CHECKPOINT_LIMIT => size,
        Ok(Some(size)) => return Err(format!("it claims {size} bytes, over the limit")),
        Ok(None) | Err(_) => return Err("compressed without its size".into()),
    };
    let size = usize::try_from(size).map_err(|_| "too large for this machine".to_string())?;
    zstd::bulk::decompress(stored, size)
        .map(std::borrow::Cow::Owned)
        .map_err(|e| format!("not decompressed: {e}"))
}

/// How a recorded alert still open for repeats stands in the store.
#[derive(Debug, Clone, Copy)]
enum Stored {
    Inserted(i64),
    Merged(i64),
}

/// An alert raised since the last commit.
#[derive(Debug)]
struct Pending {
    alert: Alert,
    /// Still open for repeats (raised as opened, not yet closed).
    open: bool,
    received: i64,
}

/// One long-running detection (see the module's documentation).
#[derive(Debug)]
pub struct Session {
    name: String,
    engine: Engine,
    suppressions: HashMap<String, Suppression>,
    resolver: Option<Resolver>,
    readers: Vec<bool>,
    suppressing: Vec<usize>,
    min_severity: Option<Severity>,
    lateness: i64,
    /// Per engine index: the rule's allowed lateness, and the events it selected later than that.
    rule_lateness: Vec<i64>,
    rule_late: Vec<u64>,
    pending: Vec<Pending>,
    closed: Vec<(Alert, i64)>,
    /// Alerts recorded while still open for repeats, and the repeats' events folded in so far.
    open: HashMap<String, (Stored, u64)>,
    sequence: i64,
    latest: Option<Timestamp>,
    counts: LiveCounts,
    /// Scratch for selections.
    selected: Vec<u32>,
    excepted: Vec<u32>,
    /// The rules' state at the last commit (its allocation reused).
    engine_state: Vec<u8>,
}

impl Session {
    /// Loads the rules (telling `observer` what `detect` would) and resumes from the checkpoint saved
    /// under the request's name, if any.
    pub fn start(
        request: &LiveRequest,
        store: &mut Store,
        judges: &Judges,
        clock: &dyn Clock,
        observer: &mut dyn Observer,
    ) -> Result<(Session, Option<Resumed>), ServiceError> {
        let Prepared {
            mut engine,
            suppressions,
            reads_entities,
            ..
        } = prepare(&request.rules, Some(&mut *store), judges, clock, observer)?;
        let mut resolver =
            crate::detect::resolver_for(&request.entities, reads_entities, observer)?;
        if request.reset {
            store.drop_checkpoint(&request.name)?;
        }
        let mut resumed = None;
        let (mut open, mut latest, mut sequence) = (HashMap::new(), None, 0);
        if let Some(checkpoint) = store.checkpoint(&request.name)? {
            let broken = |what: String| {
                ServiceError::invalid(
                    &format!("checkpoint {:?}", request.name),
                    format!(
                        "saved at {}: {what}; start with a reset to read the inputs from their \
                         beginnings",
                        Timestamp::from_unix_nanos(checkpoint.saved_at).to_rfc3339()
                    ),
                )
            };
            let raw = unpack_checkpoint(&checkpoint.state).map_err(broken)?;
            let saved: Saved = postcard::from_bytes(&raw).map_err(|e| broken(e.to_string()))?;
            if saved.format != SAVED_FORMAT {
                return Err(broken(format!("format {} unknown", saved.format)));
            }
            let restored = engine
                .restore_state(&saved.engine)
                .map_err(|e| broken(e.to_string()))?;
            if let (Some(resolver), Some(bytes)) = (&mut resolver, &saved.resolver) {
                resolver
                    .restore_learned(bytes)
                    .map_err(|e| broken(format!("entities: {e}")))?;
            }
            open = saved
                .open
                .into_iter()
                .map(|(id, inserted, row, folded)| {
                    let stored = if inserted {
                        Stored::Inserted(row)
                    } else {
                        Stored::Merged(row)
                    };
                    (id, (stored, folded))
                })
                .collect();
            latest = saved.latest.map(Timestamp::from_unix_nanos);
            sequence = checkpoint.sequence;
            resumed = Some(Resumed {
                positions: saved.positions,
                sequence,
                saved_at: checkpoint.saved_at,
                restored,
            });
        }
        let readers = engine.entity_readers().to_vec();
        let mut rule_lateness = vec![request.lateness; engine.rules().len()];
        for (rule, lateness) in &request.rule_lateness {
            let mut found = false;
            for (i, compiled) in engine.rules().iter().enumerate() {
                let info = compiled.info();
                if &info.id == rule || &info.name == rule {
                    rule_lateness[i] = *lateness;
                    found = true;
                }
            }
            if !found {
                return Err(ServiceError::invalid(
                    &format!("allowed lateness of rule {rule:?}"),
                    "no rule loaded has this id or name".to_string(),
                ));
            }
        }
        let rule_late = vec![0; rule_lateness.len()];
        let suppressing = {
            let (_, runtimes) = engine.split();
            (0..runtimes.len())
                .filter(|&i| runtimes[i].suppresses())
                .collect()
        };
        let session = Session {
            name: request.name.clone(),
            engine,
            suppressions,
            resolver,
            readers,
            suppressing,
            min_severity: request.min_severity,
            lateness: request.lateness,
            rule_lateness,
            rule_late,
            pending: Vec::new(),
            closed: Vec::new(),
            open,
            sequence,
            latest,
            counts: LiveCounts::default(),
            selected: Vec::new(),
            excepted: Vec::new(),
            engine_state: Vec::new(),
        };
        Ok((session, resumed))
    }

    pub fn counts(&self) -> LiveCounts {
        self.counts
    }

    /// The rules that selected events later than their allowed lateness since start: name, count.
    pub fn late_rules(&self) -> Vec<(String, u64)> {
        self.rule_late
            .iter()
            .enumerate()
            .filter(|(_, n)| **n > 0)
            .filter_map(|(i, n)| {
                let rule = self.engine.rules().get(i)?;
                Some((rule.info().name.clone(), *n))
            })
            .collect()
    }

    /// Alerts and folds waiting for the next commit (repeats folded into open alerts included).
    pub fn waiting(&self) -> usize {
        let progress = self
            .engine
            .open_alerts()
            .filter(|a| {
                self.open
                    .get(&a.id)
                    .is_some_and(|(_, folded)| a.suppressed_count > *folded)
            })
            .count();
        self.pending.len() + self.closed.len() + progress
    }

    /// The newest event time seen.
    pub fn latest(&self) -> Option<Timestamp> {
        self.latest
    }

    /// Runs the rules over events in the order given, each with the time it arrived (UTC
    /// nanoseconds); windows event time has passed are closed at the end.
    pub fn feed(&mut self, events: impl IntoIterator<Item = (Event, i64)>) {
        self.feed_routed(events, None);
    }

    /// Like [`Session::feed`], where only the rules `route` marks active run here and the events the
    /// others select are handed to it (a partitioned run: see `secops_detect::Placement`).
    pub fn feed_routed(
        &mut self,
        events: impl IntoIterator<Item = (Event, i64)>,
        mut route: Option<&mut dyn Route>,
    ) {
        let (selector, mut runtimes) = self.engine.split();
        let mut received_last = None;
        for (mut event, received) in events {
            observe_time(&mut self.counts, &mut self.latest, self.lateness, &event);
            self.selected.clear();
            self.excepted.clear();
            selector.select(&event, &mut self.selected, &mut self.excepted);
            if let Some(resolver) = self.resolver.as_mut() {
                if Resolver::carries_evidence(&event) {
                    resolver.learn(&event);
                }
                // Rules elsewhere raise their alerts where this resolver is not: what they select
                // goes with the entities it knows now (here, the alert is enriched when raised).
                let reads = |selected: &[u32]| {
                    selected
                        .iter()
                        .any(|&r| self.readers.get(r as usize).copied().unwrap_or(true))
                };
                let elsewhere =
                    route.is_some() && !(self.selected.is_empty() && self.excepted.is_empty());
                if elsewhere || (!self.selected.is_empty() && reads(&self.selected)) {
                    resolver.enrich(&mut event);
                }
            }
            if self.selected.is_empty() && self.excepted.is_empty() {
                continue;
            }
            let here = route.as_deref().map(|r| r.active());
            count_late(
                &mut self.rule_late,
                &self.rule_lateness,
                self.latest,
                &event,
                self.selected
                    .iter()
                    .filter(|&&r| here.is_none_or(|a| a.get(r as usize).copied().unwrap_or(false))),
            );
            self.counts.selected += u64::from(!self.selected.is_empty());
            received_last = Some(received);
            let mut sink = Sink {
                pending: &mut self.pending,
                closed: &mut self.closed,
                open: &mut self.open,
                min_severity: self.min_severity,
                received,
                alerts: &mut self.counts.alerts,
                resolver: self.resolver.as_ref(),
            };
            let (selected, excepted) = (&self.selected, &self.excepted);
            match route.as_deref_mut() {
                None => feed(&mut runtimes, &event, selected, excepted, &mut sink),
                Some(route) => {
                    let active = route.active();
                    let on = |i: &u32| active.get(*i as usize).copied().unwrap_or(false);
                    let elsewhere = !selected.iter().chain(excepted).all(on);
                    if selected.iter().chain(excepted).any(on) {
                        feed_masked(&mut runtimes, &event, selected, excepted, active, &mut sink);
                    }
                    if elsewhere {
                        route.forward(event, received, selected, excepted);
                    }
                }
            }
        }
        self.advance(received_last.unwrap_or(0));
    }

    /// Runs each event's `rules` over events another partition selected (and resolved), in the order
    /// given, with the selections it made (engine indices of the same rules).
    pub fn feed_selected(&mut self, events: impl IntoIterator<Item = SelectedEvent>) {
        let (_, mut runtimes) = self.engine.split();
        let mut active = vec![false; runtimes.len()];
        let mut received_last = None;
        for item in events {
            for &r in item.rules.iter() {
                if let Some(a) = active.get_mut(r as usize) {
                    *a = true;
                }
            }
            observe_time(
                &mut self.counts,
                &mut self.latest,
                self.lateness,
                &item.event,
            );
            count_late(
                &mut self.rule_late,
                &self.rule_lateness,
                self.latest,
                &item.event,
                item.rules.iter().filter(|r| item.selected.contains(r)),
            );
            self.counts.selected += u64::from(!item.selected.is_empty());
            received_last = Some(item.received);
            let mut sink = Sink {
                pending: &mut self.pending,
                closed: &mut self.closed,
                open: &mut self.open,
                min_severity: self.min_severity,
                received: item.received,
                alerts: &mut self.counts.alerts,
                resolver: self.resolver.as_ref(),
            };
            feed_masked(
                &mut runtimes,
                &item.event,
                &item.selected,
                &item.excepted,
                &active,
                &mut sink,
            );
            for &r in item.rules.iter() {
                if let Some(a) = active.get_mut(r as usize) {
                    *a = false;
                }
            }
        }
        self.advance(received_last.unwrap_or(0));
    }

    /// Closes the aggregation windows event time has passed.
    fn advance(&mut self, received: i64) {
        let Some(latest) = self.latest else { return };
        let (_, mut runtimes) = self.engine.split();
        let mut sink = Sink {
            pending: &mut self.pending,
            closed: &mut self.closed,
            open: &mut self.open,
            min_severity: self.min_severity,
            received,
            alerts: &mut self.counts.alerts,
            resolver: self.resolver.as_ref(),
        };
        for &index in &self.suppressing {
            if let Some(runtime) = runtimes.get_mut(index) {
                runtime.advance(latest, &mut sink);
            }
        }
    }

    /// Per engine index, where the rule runs when events are partitioned by `field`.
    pub fn placements(&self, field: &str) -> Vec<Placement> {
        self.engine.placements(field)
    }

    /// Per engine index, the rule's name.
    pub fn rule_names(&self) -> Vec<String> {
        self.engine
            .rules()
            .iter()
            .map(|r| r.info().name.clone())
            .collect()
    }

    /// A digest of the rules in engine order (ids and versions): partitions exchange engine indices
    /// only under the same digest.
    pub fn rules_digest(&self) -> u64 {
        let mut hash = secops_alert::Fnv::new();
        for rule in self.engine.rules() {
            let info = rule.info();
            hash.write(info.id.as_bytes());
            hash.write(&info.version.to_le_bytes());
            hash.write(&[0xff]);
        }
        hash.finish()
    }

    /// Records what was raised since the last commit and saves the checkpoint with `positions` (the
    /// caller's input positions, covering every event fed so far), in one transaction. `hook` runs
    /// inside it, after the writes and before the commit (fault injection for tests).
    pub fn commit(
        &mut self,
        store: &mut Store,
        positions: Vec<u8>,
        clock: &dyn Clock,
        hook: Option<&dyn Fn()>,
    ) -> Result<Committed, ServiceError> {
        let now = clock.now().unix_nanos();
        let actor = Actor::service("run");
        // An alert opened and closed within one commit is recorded once, as it closed. Nothing is
        // changed here until the commit has succeeded: a failed one is tried again as it was.
        let mut plan: Vec<(&Alert, bool, i64)> = self
            .pending
            .iter()
            .map(|p| (&p.alert, p.open, p.received))
            .collect();
        let mut closed_here = Vec::new();
        for (alert, received) in &self.closed {
            match plan.iter_mut().find(|(a, ..)| a.id == alert.id) {
                Some(entry) => {
                    entry.0 = alert;
                    entry.1 = false;
                }
                None => closed_here.push((alert, *received)),
            }
        }
        // Closed alerts fold what is left; alerts still open fold their repeats so far, so that the
        // store's counts follow within a commit.
        let fold = |alert: &Alert| {
            let (stored, folded) = self.open.get(&alert.id)?;
            if alert.suppressed_count <= *folded
                && !closed_here.iter().any(|(a, _)| a.id == alert.id)
            {
                return None;
            }
            let (id, document) = match stored {
                Stored::Inserted(id) => (*id, Some(alert.document().to_line())),
                Stored::Merged(id) => (*id, None),
            };
            Some((
                alert.id.clone(),
                alert.suppressed_count,
                AlertFold {
                    id,
                    last_seen: alert.last_seen.unix_nanos(),
                    events: alert.suppressed_count.saturating_sub(*folded),
                    document,
                },
            ))
        };
        let (folded_to, mut folds): (Vec<(String, u64)>, Vec<AlertFold>) = closed_here
            .iter()
            .map(|(alert, _)| *alert)
            .chain(self.engine.open_alerts())
            .filter_map(fold)
            .map(|(id, to, fold)| ((id, to), fold))
            .unzip();
        let mut new: Vec<_> = plan
            .iter()
            .map(|(alert, ..)| new_alert(alert, &self.suppressions))
            .collect();
        crate::vulns::add_exposure(
            store,
            new.iter_mut()
                .map(|a| &mut a.document)
                .chain(folds.iter_mut().filter_map(|f| f.document.as_mut())),
        )?;
        let mut engine = std::mem::take(&mut self.engine_state);
        self.engine
            .save_state_into(&mut engine)
            .map_err(|e| ServiceError::invalid("checkpoint", e))?;
        let resolver = self
            .resolver
            .as_ref()
            .map(Resolver::save_learned)
            .transpose()
            .map_err(|e| ServiceError::invalid("checkpoint", format!("entities not saved: {e}")))?;
        let sequence = self.sequence + 1;
        let closed_ids: Vec<&str> = closed_here.iter().map(|(a, _)| a.id.as_str()).collect();
        let (pending, open_before) = (&plan, &self.open);
        let latest = self.latest.map(Timestamp::unix_nanos);
        let mut bytes = 0;
        let mut state = |results: &[Recorded]| {
            let mut open: Vec<(String, bool, i64, u64)> = open_before
                .iter()
                .filter(|(id, _)| !closed_ids.contains(&id.as_str()))
                .map(|(id, (stored, folded))| {
                    let folded = folded_to
                        .iter()
                        .find(|(f, _)| f == id)
                        .map_or(*folded, |(_, to)| *to);
                    match stored {
                        Stored::Inserted(row) => (id.clone(), true, *row, folded),
                        Stored::Merged(row) => (id.clone(), false, *row, folded),
                    }
                })
                .collect();
            for ((alert, still_open, _), result) in pending.iter().zip(results) {
                let folded = alert.suppressed_count;
                match (still_open, result) {
                    (true, Recorded::Inserted(row)) => {
                        open.push((alert.id.clone(), true, *row, folded))
                    }
                    (true, Recorded::Merged(row)) => {
                        open.push((alert.id.clone(), false, *row, folded))
                    }
                    _ => {}
                }
            }
            let saved = SavedRef {
                format: SAVED_FORMAT,
                engine: &engine,
                resolver: resolver.as_deref(),
                open: &open,
                latest,
                positions: &positions,
            };
            let raw = postcard::to_stdvec(&saved).map_err(|e| e.to_string())?;
            let out = pack_checkpoint(&raw)?;
            bytes = out.len();
            Ok(out)
        };
        let checkpoint = Checkpoint {
            name: self.name.clone(),
            state: Vec::new(),
            sequence,
            saved_at: now,
        };
        let results =
            store.commit_checkpoint(&new, &folds, &checkpoint, &actor.name, &mut state, hook);
        self.engine_state = engine;
        let results = results?;
        let mut recorded = RecordSummary::default();
        let mut opened = Vec::new();
        for ((alert, still_open, _), result) in plan.iter().zip(&results) {
            let stored = match result {
                Recorded::Inserted(row) => {
                    recorded.inserted += 1;
                    Stored::Inserted(*row)
                }
                Recorded::Merged(row) => {
                    recorded.merged += 1;
                    Stored::Merged(*row)
                }
                Recorded::Duplicate(_) => {
                    recorded.known += 1;
                    continue;
                }
            };
            if *still_open {
                opened.push((alert.id.clone(), (stored, alert.suppressed_count)));
            }
        }
        // Latency is to an alert's first recording (a close only updates it).
        let received: Vec<i64> = plan.iter().map(|(.., r)| *r).collect();
        let closed: Vec<String> = closed_ids.iter().map(|id| id.to_string()).collect();
        for id in closed {
            self.open.remove(&id);
        }
        for (id, to) in folded_to {
            if let Some((_, folded)) = self.open.get_mut(&id) {
                *folded = to;
            }
        }
        self.open.extend(opened);
        self.pending.clear();
        self.closed.clear();
        self.sequence = sequence;
        Ok(Committed {
            recorded,
            folds: folds.len(),
            received,
            sequence,
            bytes,
        })
    }
}

/// Counts an event and the time it carries (late when older than the newest by more than the allowed
/// lateness).
fn observe_time(
    counts: &mut LiveCounts,
    latest: &mut Option<Timestamp>,
    lateness: i64,
    event: &Event,
) {
    counts.events += 1;
    let time = event.timestamp();
    if let (Some(time), Some(newest)) = (time, *latest) {
        if time.unix_nanos() < newest.unix_nanos().saturating_sub(lateness) {
            counts.late += 1;
        }
    }
    if let Some(time) = time {
        *latest = Some(latest.map_or(time, |l| l.max(time)));
    }
}

/// Counts `event` late for each of `rules` it is older than the newest by more than the rule's own
/// allowed lateness.
fn count_late<'a>(
    late: &mut [u64],
    lateness: &[i64],
    latest: Option<Timestamp>,
    event: &Event,
    rules: impl Iterator<Item = &'a u32>,
) {
    let (Some(time), Some(newest)) = (event.timestamp(), latest) else {
        return;
    };
    let behind = newest.unix_nanos().saturating_sub(time.unix_nanos());
    if behind <= 0 {
        return;
    }
    for &rule in rules {
        let i = rule as usize;
        if lateness.get(i).is_some_and(|allowed| behind > *allowed) {
            if let Some(count) = late.get_mut(i) {
                *count += 1;
            }
        }
    }
}

/// Where the rules' alerts go between commits.
struct Sink<'a> {
    pending: &'a mut Vec<Pending>,
    closed: &'a mut Vec<(Alert, i64)>,
    open: &'a mut HashMap<String, (Stored, u64)>,
    min_severity: Option<Severity>,
    received: i64,
    alerts: &'a mut u64,
    resolver: Option<&'a Resolver>,
}

impl AlertSink for Sink<'_> {
    fn raise(&mut self, mut raised: Raised) {
        if let Some(resolver) = self.resolver {
            for event in &mut raised.alert_mut().events {
                resolver.enrich(event);
            }
        }
        let alert = raised.alert();
        if self
            .min_severity
            .is_some_and(|min| alert.rule.severity < min)
        {
            return;
        }
        let received = self.received;
        match raised {
            Raised::Final(alert) => {
                *self.alerts += 1;
                self.pending.push(Pending {
                    alert,
                    open: false,
                    received,
                });
            }
            Raised::Opened(alert) => {
                *self.alerts += 1;
                self.pending.push(Pending {
                    alert,
                    open: true,
                    received,
                });
            }
            Raised::Closed(alert) if alert.is_update() => self.closed.push((alert, received)),
            Raised::Closed(alert) => {
                // Nothing folded in: what was recorded (or is about to be) stands.
                if self.open.remove(&alert.id).is_none() {
                    for pending in self.pending.iter_mut().filter(|p| p.alert.id == alert.id) {
                        pending.open = false;
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn saved(engine: Vec<u8>) -> Vec<u8> {
        let saved = SavedRef {
            format: SAVED_FORMAT,
            engine: &engine,
            resolver: None,
            open: &[("a1".into(), true, 7, 2)],
            latest: Some(1_700_000_000_000_000_000),
            positions: b"journal@42",
        };
        postcard::to_stdvec(&saved).unwrap()
    }

    #[test]
    fn a_checkpoint_is_stored_compressed_and_reads_back_exactly() {
        // Rule state repeats itself (the same fields and values group after group).
        let raw = saved(b"source.ip=203.0.113.9 user.name=root ".repeat(20_000));
        let stored = pack_checkpoint(&raw).unwrap();
        assert!(stored.starts_with(&ZSTD_MAGIC));
        assert!(
            stored.len() * 20 < raw.len(),
            "{} of {}",
            stored.len(),
            raw.len()
        );
        assert_eq!(unpack_checkpoint(&stored).unwrap().as_ref(), raw.as_slice());
        let back: Saved = postcard::from_bytes(&unpack_checkpoint(&stored).unwrap()).unwrap();
        assert_eq!(back.positions, b"journal@42");
        assert_eq!(back.open, vec![("a1".to_string(), true, 7, 2)]);
    }

    #[test]
    fn a_checkpoint_saved_before_compression_still_reads() {
        let raw = saved(vec![1, 2, 3]);
        assert_eq!(raw[0], 1, "a postcard checkpoint starts with its format");
        let read = unpack_checkpoint(&raw).unwrap();
        assert!(matches!(read, std::borrow::Cow::Borrowed(_)));
        assert_eq!(read.as_ref(), raw.as_slice());
    }

    #[test]
    fn a_damaged_or_oversized_checkpoint_is_refused_not_allocated() {
        let stored = pack_checkpoint(&saved(vec![9; 10_000])).unwrap();
        let cut = &stored[..stored.len() - 3];
        assert!(unpack_checkpoint(cut)
            .unwrap_err()
            .contains("not decompressed"));
        // A frame header claiming 1 TiB (single-segment frame, 8-byte content size).
        let mut huge = ZSTD_MAGIC.to_vec();
        huge.push(0b1110_0000);
        huge.extend_from_slice(&(1u64 << 40).to_le_bytes());
        huge.extend_from_slice(&[1, 0, 0]);
        assert!(unpack_checkpoint(&huge)
            .unwrap_err()
            .contains("over the limit"));
    }
}
