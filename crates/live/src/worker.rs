//! `secops worker --config FILE`: one of the processes that run the rules over what `secops run`
//! publishes to the bus (`[bus]`; see `secops_bus`). The work comes in units: an events unit per
//! partition (the rules that run where the events are) and, when some rule is re-keyed, a re-key unit
//! per partition (the re-keyed rules, over the events every events unit forwards to them). Live
//! workers say so in the bus's members bucket; each unit belongs to one of them (by its index among
//! the live workers, sorted), so units move when a worker joins or leaves.
//!
//! A unit is a [`Session`] whose checkpoint (under `bus.<name>.events.<p>` or
//! `bus.<name>.rekey.<p>`) holds the rules' state and the stream sequences it covers, committed with
//! the alerts in one store transaction; the frames it covers are acknowledged after. Whoever takes a
//! unit over starts from that checkpoint and first commits a claim, so that a previous owner still
//! running finds its next commit refused and lets the unit go: whatever process dies, each alert is
//! recorded once.
//!
//! Fault injection for the tests, as `secops run`'s: `SECOPS_TEST_ABORT=events:N` aborts once this
//! worker has run the rules over N events, `commit:N` inside its N-th commit's transaction.

use std::cell::Cell;
use std::collections::BTreeMap;
use std::path::Path;
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use bytes::Bytes;
use secops_bus::{
    Bus, BusError, Chain, Consumer, Delivery, Frame, Framed, Mark, Merge, Source, Subject,
};
use secops_detect::{Placement, RekeyKey};
use secops_event::Event;
use secops_service::intel::{JudgeSources, Judges};
use secops_service::live::{LiveRequest, Route, SelectedEvent, Session};
use secops_service::SystemClock;
use secops_store::Store;
use serde::{Deserialize, Serialize};

use crate::config::{BusConfig, Config};
use crate::log;
use crate::metrics::{BusMetrics, Metrics};
use crate::runner::{Control, RunError};

/// What a worker did, when it stopped.
#[derive(Debug, Clone, Default)]
pub struct WorkReport {
    pub events: u64,
    pub alerts: u64,
    pub commits: u64,
    /// Units taken on (claims), over the run.
    pub claims: u64,
}

/// Frames fetched from one consumer at a time.
const FETCH: usize = 64;

/// A consumer whose last fetch came back empty is asked again after this long, doubling up to
/// [`IDLE_MAX`] while it stays empty: an empty fetch is a round trip through the server, and
/// a busy worker would otherwise ask its idle consumers as often as its busy ones.
const IDLE_FIRST: Duration = Duration::from_millis(2);
const IDLE_MAX: Duration = Duration::from_millis(50);

/// When a consumer is asked next.
#[derive(Debug, Clone, Copy)]
struct Idle {
    until: Instant,
    wait: Duration,
}

impl Idle {
    fn new() -> Idle {
        Idle {
            until: Instant::now(),
            wait: Duration::ZERO,
        }
    }

    fn due(&self) -> bool {
        Instant::now() >= self.until
    }

    /// After a fetch that took `frames`.
    fn fetched(&mut self, frames: usize) {
        if frames > 0 {
            self.wait = Duration::ZERO;
            return;
        }
        self.wait = (self.wait * 2).clamp(IDLE_FIRST, IDLE_MAX);
        self.until = Instant::now() + self.wait;
    }
}

/// Events a re-key unit holds from one partition before it stops pulling from it (the others catch
/// up meanwhile: memory stays bounded).
const MAX_WAITING: usize = 200_000;

/// Which unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum UnitId {
    Events(u32),
    Rekey(u32),
}

impl UnitId {
    fn checkpoint(self, bus: &str) -> String {
        match self {
            UnitId::Events(p) => format!("bus.{bus}.events.{p}"),
            UnitId::Rekey(p) => format!("bus.{bus}.rekey.{p}"),
        }
    }
}

impl std::fmt::Display for UnitId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            UnitId::Events(p) => write!(f, "events.{p}"),
            UnitId::Rekey(p) => write!(f, "rekey.{p}"),
        }
    }
}

/// What an events unit's checkpoint keeps besides the rules' state.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct EventsState {
    /// The last stream sequence run.
    consumed: u64,
    /// Per input, the last event number run (an event read again is skipped).
    seen: BTreeMap<String, u64>,
}

/// What a re-key unit's checkpoint keeps besides the rules' state.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct RekeyState {
    /// Per source partition, the last stream sequence taken into the merge.
    consumed: Vec<u64>,
    merge: Merge,
}

/// An events unit's forwarding to one re-key partition.
#[derive(Debug, Default)]
struct Forward {
    subject: String,
    /// The subject's last sequence.
    last: u64,
    /// The events frames forwarded through (from the subject's last frame).
    through: u64,
    /// The marks last sent.
    sent: BTreeMap<String, u64>,
}

enum Kind {
    Events {
        state: EventsState,
        consumer: Box<Consumer>,
        forwards: Vec<Forward>,
        /// Every input's mark as the frames run so far give it.
        marks: BTreeMap<String, u64>,
    },
    Rekey {
        state: RekeyState,
        consumers: Vec<Consumer>,
    },
}

struct Unit {
    id: UnitId,
    session: Session,
    kind: Kind,
    /// The deliveries to acknowledge after the next commit (one per consumer: acks cover all before).
    unacked: Vec<Option<Delivery>>,
    /// Per consumer, when it is asked next.
    idle: Vec<Idle>,
    /// Anything run since the last commit.
    dirty: bool,
    last_commit: Instant,
    /// Per rule, the late events last reported to the metrics.
    late_reported: std::collections::HashMap<String, u64>,
}

/// What all units share: the rules' placements.
struct Plan {
    /// Per engine index: runs in the events units.
    local: Vec<bool>,
    /// Per engine index: the key of a re-keyed rule.
    keys: Vec<Option<RekeyKey>>,
    digest: u64,
    partitions: u32,
    /// Per engine index, the rule's name (for the log).
    names: Vec<String>,
}

/// A re-key key as the log says it.
fn describe(key: &RekeyKey) -> String {
    match key {
        RekeyKey::Fields(fields) => fields.join(", "),
        RekeyKey::Entity(aggregation) => format!(
            "its aggregation entity ({})",
            aggregation
                .by
                .iter()
                .map(|slot| slot.join(" or "))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        RekeyKey::Constant => "nothing (one partition sees all its events)".into(),
    }
}

/// Runs until `control.stop` is set (or a signal): takes units as membership gives them, runs them,
/// commits every `commit_ms`.
pub fn work(
    config: &Config,
    config_path: &Path,
    mut store: Store,
    id: &str,
    control: &Control,
) -> Result<WorkReport, RunError> {
    let bus_config = config
        .bus
        .as_ref()
        .ok_or_else(|| RunError::Other(format!("{}: no [bus] section", config_path.display())))?;
    let stop = control.stop.clone();
    let _signals = install_signals(&stop)?;
    let bus = Bus::connect(&bus_config.settings(), &format!("secops worker {id}"))
        .map_err(|e| RunError::Other(format!("[bus]: {e}")))?;
    let judges = Judges::load(&JudgeSources {
        warninglists: config.rules.warninglists.clone(),
        decay_models: None,
    })?;
    let request = |name: String| crate::runner::live_request(config, config_path, name, false);
    let plan = {
        let probe_name = format!("bus.{}.rules", bus_config.name);
        let (probe, _) = Session::start(
            &request(probe_name)?,
            &mut store,
            &judges,
            &SystemClock,
            &mut crate::runner::Notices,
        )?;
        let placements = probe.placements(&bus_config.key);
        Plan {
            local: placements.iter().map(|p| *p == Placement::Local).collect(),
            keys: placements
                .into_iter()
                .map(|p| match p {
                    Placement::Local => None,
                    Placement::Rekey(key) => Some(key),
                })
                .collect(),
            digest: probe.rules_digest(),
            partitions: bus_config.partitions,
            names: probe.rule_names(),
        }
    };
    let rekeyed = plan.keys.iter().filter(|k| k.is_some()).count();
    for (rule, key) in plan.names.iter().zip(&plan.keys) {
        if let Some(key) = key {
            log::info(id, &format!("rule {rule}: re-keyed by {}", describe(key)));
        }
    }
    log::info(
        id,
        &format!(
            "{} rules run where the events are, {rekeyed} re-keyed; {} partitions by {}",
            plan.local.iter().filter(|l| **l).count(),
            bus_config.partitions,
            bus_config.key
        ),
    );
    let mut all: Vec<UnitId> = (0..bus_config.partitions).map(UnitId::Events).collect();
    if rekeyed > 0 {
        all.extend((0..bus_config.partitions).map(UnitId::Rekey));
    }
    let abort = crate::runner::abort_point();
    let commit_every = Duration::from_millis(config.engine.commit_ms.max(10));
    let beat_every = bus_config.settings().member_ttl / 3;
    let flush_every = Duration::from_millis(bus_config.flush_ms.max(10));
    let mut worker = Worker {
        bus,
        bus_config: bus_config.clone(),
        id: id.to_string(),
        plan,
        units: Vec::new(),
        report: WorkReport::default(),
        metrics: control.metrics.clone(),
        abort,
        processed: 0,
    };
    let started_at = secops_event::Timestamp::now().unix_nanos();
    let mut status: Option<crate::Status> = None;
    let mut next_beat = Instant::now();
    let mut next_flush = Instant::now() + flush_every;
    let mut assigned: Vec<UnitId> = Vec::new();
    let mut idle = 0u64;
    while !stop.load(Ordering::SeqCst) {
        let now = Instant::now();
        if now >= next_beat {
            next_beat = now + beat_every;
            // The heartbeat carries this worker's status (`secops status` shows every worker's).
            let fresh = control.metrics.status(
                id,
                started_at,
                secops_event::Timestamp::now().unix_nanos(),
                status.as_ref(),
            );
            let about = serde_json::to_vec(&fresh).unwrap_or_default();
            status = Some(fresh);
            match worker.membership(&all, &about) {
                Ok(mine) => assigned = mine,
                Err(e) => log::line("warning", id, "bus", &e.to_string(), 0),
            }
            worker.rebalance(&assigned, &mut store, &judges, &request);
        }
        let mut progress = 0;
        for index in 0..worker.units.len() {
            progress += worker.step(index);
        }
        if Instant::now() >= next_flush {
            next_flush = Instant::now() + flush_every;
            for index in 0..worker.units.len() {
                worker.forward_marks(index);
            }
        }
        worker.commit_due(&mut store, commit_every);
        // Idle, the units are asked less and less often (each ask is a round trip per consumer),
        // up to every 100 ms.
        if progress == 0 {
            idle = (idle * 2).clamp(5, 100);
            std::thread::sleep(Duration::from_millis(idle));
        } else {
            idle = 0;
        }
    }
    log::info(id, "stopping: committing the units and leaving");
    worker.commit_due(&mut store, Duration::ZERO);
    if let Err(e) = worker.bus.leave(id) {
        log::line("warning", id, "bus", &e.to_string(), 0);
    }
    worker.report.events = worker.processed;
    Ok(worker.report)
}

type RequestFor<'a> = dyn Fn(String) -> Result<LiveRequest, RunError> + 'a;

struct Worker {
    bus: Bus,
    bus_config: BusConfig,
    id: String,
    plan: Plan,
    units: Vec<Unit>,
    report: WorkReport,
    metrics: std::sync::Arc<crate::metrics::Metrics>,
    abort: Option<crate::runner::Abort>,
    /// Events run by this worker.
    processed: u64,
}

impl Worker {
    /// Shows the units run now in the metrics.
    fn publish_units(&self) {
        if let Ok(mut units) = self.metrics.bus.units.lock() {
            *units = self.units.iter().map(|u| u.id.to_string()).collect();
            units.sort();
        }
    }

    /// Says this worker is alive and returns the units that are its own now.
    fn membership(&self, all: &[UnitId], about: &[u8]) -> Result<Vec<UnitId>, BusError> {
        self.bus.heartbeat(&self.id, about)?;
        let members = self.bus.members()?;
        let Some(me) = members.iter().position(|m| m == &self.id) else {
            return Ok(Vec::new());
        };
        Ok(all
            .iter()
            .enumerate()
            .filter(|(i, _)| i % members.len() == me)
            .map(|(_, u)| *u)
            .collect())
    }

    /// Lets go of units no longer this worker's (committed first) and takes on new ones.
    fn rebalance(
        &mut self,
        assigned: &[UnitId],
        store: &mut Store,
        judges: &Judges,
        request: &RequestFor<'_>,
    ) {
        let mut index = 0;
        while index < self.units.len() {
            if assigned.contains(&self.units[index].id) {
                index += 1;
                continue;
            }
            let mut unit = self.units.remove(index);
            if unit.dirty || unit.session.waiting() > 0 {
                self.commit(&mut unit, store);
            }
            self.drop_consumers(&unit);
            log::info(&self.id, &format!("unit {} handed over", unit.id));
        }
        for &id in assigned {
            if self.units.iter().any(|u| u.id == id) {
                continue;
            }
            match self.claim(id, store, judges, request) {
                Ok(unit) => {
                    self.report.claims += 1;
                    log::info(&self.id, &format!("unit {id} taken on"));
                    self.units.push(unit);
                }
                Err(e) => log::line(
                    "warning",
                    &self.id,
                    "bus",
                    &format!("unit {id} not taken on (tried again): {e}"),
                    0,
                ),
            }
        }
        self.publish_units();
    }

    /// Starts a unit from its checkpoint: a claim committed at once, then its consumers.
    fn claim(
        &mut self,
        id: UnitId,
        store: &mut Store,
        judges: &Judges,
        request: &RequestFor<'_>,
    ) -> Result<Unit, RunError> {
        let name = id.checkpoint(&self.bus_config.name);
        let (mut session, resumed) = Session::start(
            &request(name.clone())?,
            store,
            judges,
            &SystemClock,
            &mut crate::runner::Notices,
        )?;
        let positions = resumed.map(|r| r.positions).unwrap_or_default();
        let unreadable =
            |e: postcard::Error| RunError::Other(format!("checkpoint {name}: unreadable: {e}"));
        let partitions = self.plan.partitions;
        let bus = &self.bus;
        let prefix = &self.bus_config.name;
        let (kind, state) = match id {
            UnitId::Events(p) => {
                let state: EventsState = if positions.is_empty() {
                    EventsState::default()
                } else {
                    postcard::from_bytes(&positions).map_err(unreadable)?
                };
                let bytes = postcard::to_stdvec(&state).map_err(unreadable)?;
                let forwards = if self.plan.keys.iter().any(Option::is_some) {
                    (0..partitions)
                        .map(|q| forward_state(bus, bus.rekey_subject(q, p)))
                        .collect::<Result<Vec<_>, _>>()
                        .map_err(|e| RunError::Other(e.to_string()))?
                } else {
                    Vec::new()
                };
                session.commit(store, bytes, &SystemClock, None)?;
                let family = format!("{prefix}-events-{p}-");
                let consumer = bus
                    .consumer(
                        Subject::Events,
                        &family,
                        &format!("{family}{}", self.id),
                        &bus.events_filter(p),
                        state.consumed + 1,
                    )
                    .map_err(|e| RunError::Other(e.to_string()))?;
                (
                    Kind::Events {
                        state,
                        consumer: Box::new(consumer),
                        forwards,
                        marks: BTreeMap::new(),
                    },
                    1,
                )
            }
            UnitId::Rekey(q) => {
                let mut state: RekeyState = if positions.is_empty() {
                    RekeyState {
                        consumed: vec![0; partitions as usize],
                        merge: Merge::new(partitions),
                    }
                } else {
                    postcard::from_bytes(&positions).map_err(unreadable)?
                };
                state.consumed.resize(partitions as usize, 0);
                let bytes = postcard::to_stdvec(&state).map_err(unreadable)?;
                session.commit(store, bytes, &SystemClock, None)?;
                let consumers = (0..partitions)
                    .map(|from| {
                        let family = format!("{prefix}-rekey-{q}-{from}-");
                        bus.consumer(
                            Subject::Rekey,
                            &family,
                            &format!("{family}{}", self.id),
                            &bus.rekey_subject(q, from),
                            state.consumed[from as usize] + 1,
                        )
                    })
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| RunError::Other(e.to_string()))?;
                (Kind::Rekey { state, consumers }, partitions as usize)
            }
        };
        Ok(Unit {
            id,
            session,
            kind,
            unacked: (0..state).map(|_| None).collect(),
            idle: (0..state).map(|_| Idle::new()).collect(),
            dirty: false,
            last_commit: Instant::now(),
            late_reported: std::collections::HashMap::new(),
        })
    }

    /// Deletes a unit's consumers (handed over: the next owner makes its own).
    fn drop_consumers(&self, unit: &Unit) {
        let consumers: Vec<&Consumer> = match &unit.kind {
            Kind::Events { consumer, .. } => vec![consumer],
            Kind::Rekey { consumers, .. } => consumers.iter().collect(),
        };
        for consumer in consumers {
            // Gone already when the next owner was quicker.
            let _ = self.bus.drop_consumer(consumer);
        }
    }

    /// Runs what waits for unit `index`; returns the frames taken.
    fn step(&mut self, index: usize) -> usize {
        let Some(unit) = self.units.get_mut(index) else {
            return 0;
        };
        let before = unit.session.counts();
        let m = &self.metrics;
        let result = match &mut unit.kind {
            Kind::Events { .. } => {
                step_events(&self.bus, &self.plan, &self.bus_config.name, unit, m)
            }
            Kind::Rekey { .. } => step_rekey(&self.bus, &self.plan, unit, m),
        };
        let after = unit.session.counts();
        let raised = after.alerts.saturating_sub(before.alerts);
        self.report.alerts += raised;
        let m = &self.metrics.engine;
        m.alerts.fetch_add(raised, Ordering::Relaxed);
        m.late
            .fetch_add(after.late.saturating_sub(before.late), Ordering::Relaxed);
        match result {
            Ok((frames, events)) => {
                self.processed += events;
                if let Some(crate::runner::Abort::AfterEvents(n)) = self.abort {
                    if self.processed >= n {
                        std::process::abort();
                    }
                }
                frames
            }
            Err(e) => {
                // Its consumer gone (another worker took the unit over) or the bus failing: the
                // unit is let go, and taken on again from its checkpoint while it is this
                // worker's.
                log::line(
                    "warning",
                    &self.id,
                    "bus",
                    &format!(
                        "unit {}: {e}; let go, taken on again from its checkpoint while it is \
                         this worker's",
                        unit.id
                    ),
                    0,
                );
                self.units.remove(index);
                self.metrics.bus.retries.fetch_add(1, Ordering::Relaxed);
                self.publish_units();
                0
            }
        }
    }

    /// Sends the marks an events unit's frames moved on to the re-key partitions that have not
    /// had them (an idle partition must not hold their merges back).
    fn forward_marks(&mut self, index: usize) {
        let Some(unit) = self.units.get_mut(index) else {
            return;
        };
        let UnitId::Events(p) = unit.id else { return };
        let Kind::Events {
            state,
            forwards,
            marks,
            ..
        } = &mut unit.kind
        else {
            return;
        };
        let frame_marks: Vec<Mark> = marks
            .iter()
            .map(|(input, through)| Mark {
                input: input.clone(),
                through: *through,
            })
            .collect();
        let due: Vec<u32> = (0..forwards.len() as u32)
            .filter(|&q| forwards[q as usize].sent != *marks)
            .collect();
        if due.is_empty() {
            return;
        }
        let source = Source {
            partition: p,
            sequence: state.consumed,
            rules: self.plan.digest,
        };
        let frames: Vec<(u32, Frame)> = due
            .into_iter()
            .map(|q| {
                (
                    q,
                    Frame {
                        marks: frame_marks.clone(),
                        source: Some(source),
                        events: Vec::new(),
                    },
                )
            })
            .collect();
        let started = Instant::now();
        let published = publish_forwards(
            &self.bus,
            &self.bus_config.name,
            forwards,
            frames,
            &self.metrics.bus,
        );
        BusMetrics::time(&self.metrics.bus.bus_nanos, started);
        if let Err(e) = published {
            log::line(
                "warning",
                &self.id,
                "bus",
                &format!("unit {}: marks not forwarded (tried again): {e}", unit.id),
                0,
            );
        }
    }

    /// Commits the units whose commit is due (all, with a zero interval).
    fn commit_due(&mut self, store: &mut Store, every: Duration) {
        let mut index = 0;
        while index < self.units.len() {
            let unit = &self.units[index];
            let due =
                unit.last_commit.elapsed() >= every && (unit.dirty || unit.session.waiting() > 0);
            if !due {
                index += 1;
                continue;
            }
            let mut unit = self.units.remove(index);
            if self.commit(&mut unit, store) {
                self.units.insert(index, unit);
                index += 1;
            } else {
                log::line(
                    "warning",
                    &self.id,
                    "bus",
                    &format!(
                        "unit {} let go: its commit failed; taken on again from its checkpoint",
                        unit.id
                    ),
                    0,
                );
                self.publish_units();
            }
        }
    }

    /// Records a unit's alerts with its checkpoint, then acknowledges what it covers. `false`: the
    /// commit failed (another worker took the unit over, or the store is down).
    fn commit(&mut self, unit: &mut Unit, store: &mut Store) -> bool {
        let bytes = match &unit.kind {
            Kind::Events { state, .. } => postcard::to_stdvec(state),
            Kind::Rekey { state, .. } => postcard::to_stdvec(state),
        };
        let bytes = match bytes {
            Ok(bytes) => bytes,
            Err(e) => {
                log::line("error", &self.id, "checkpoint", &e.to_string(), 0);
                return false;
            }
        };
        let abort_now = matches!(
            self.abort,
            Some(crate::runner::Abort::InCommit(n)) if n == self.report.commits + 1
        );
        let abort = || std::process::abort();
        let hook: Option<&dyn Fn()> = if abort_now { Some(&abort) } else { None };
        let started = Instant::now();
        let result = unit.session.commit(store, bytes, &SystemClock, hook);
        BusMetrics::time(&self.metrics.bus.commit_nanos, started);
        match result {
            Ok(committed) => {
                self.report.commits += 1;
                let now = secops_event::Timestamp::now().unix_nanos();
                let m = &self.metrics.engine;
                m.commits.fetch_add(1, Ordering::Relaxed);
                m.checkpoint_at.store(now as u64, Ordering::Relaxed);
                for received in committed.received {
                    m.latency
                        .record(((now - received).max(0) / 1_000_000) as u64);
                }
                m.report_late_rules(unit.session.late_rules(), &mut unit.late_reported);
                let started = Instant::now();
                for delivery in unit.unacked.iter_mut() {
                    if let Some(delivery) = delivery.take() {
                        // A lost ack only means a redelivery, which is skipped by sequence.
                        let _ = self.bus.ack(&delivery);
                    }
                }
                BusMetrics::time(&self.metrics.bus.bus_nanos, started);
                unit.dirty = false;
                unit.last_commit = Instant::now();
                true
            }
            Err(e) => {
                self.metrics
                    .engine
                    .commit_failures
                    .fetch_add(1, Ordering::Relaxed);
                log::line(
                    "warning",
                    &self.id,
                    "commit",
                    &format!("unit {}: {e}", unit.id),
                    0,
                );
                false
            }
        }
    }
}

/// Where an events unit's forwarding to one re-key subject stands, from the subject's last frame.
fn forward_state(bus: &Bus, subject: String) -> Result<Forward, BusError> {
    let last = bus.last(Subject::Rekey, &subject)?;
    Ok(match last {
        Some(last) => Forward {
            subject,
            last: last.sequence,
            through: last.frame.source.map_or(0, |s| s.sequence),
            sent: last
                .frame
                .marks
                .into_iter()
                .map(|m| (m.input, m.through))
                .collect(),
        },
        None => Forward {
            subject,
            ..Forward::default()
        },
    })
}

/// Publishes re-key frames (each to its partition's subject), reading a subject again when another
/// writer got there first; frames the subject already holds are not sent again.
fn publish_forwards(
    bus: &Bus,
    name: &str,
    forwards: &mut [Forward],
    frames: Vec<(u32, Frame)>,
    metrics: &BusMetrics,
) -> Result<(), BusError> {
    let mut pending = frames;
    for _attempt in 0..5 {
        let mut chains = Vec::new();
        let mut sent = Vec::new();
        let mut sizes = Vec::new();
        for (q, frame) in &pending {
            let forward = &forwards[*q as usize];
            let Some(source) = frame.source else { continue };
            if source.sequence < forward.through
                || (source.sequence == forward.through && !frame.events.is_empty())
            {
                // The subject already holds this frame's events.
                continue;
            }
            let payload = frame.encode().map_err(|e| BusError::Frame {
                subject: forward.subject.clone(),
                sequence: source.sequence,
                source: e,
            })?;
            let id = format!(
                "{name}.rk.{q}.{}.{}.{}",
                source.partition,
                source.sequence,
                frame.events.len()
            );
            let size = payload.len() as u64;
            chains.push(Chain {
                subject: forward.subject.clone(),
                expected: forward.last,
                frames: vec![(id, Bytes::from(payload))],
            });
            sizes.push(size);
            sent.push((*q, frame.clone()));
        }
        if chains.is_empty() {
            return Ok(());
        }
        let results = bus.publish(chains);
        let mut retry = Vec::new();
        let mut error = None;
        for (((q, frame), result), size) in sent.into_iter().zip(results).zip(sizes) {
            let forward = &mut forwards[q as usize];
            if let Some(&last) = result.sequences.last() {
                metrics.frames_out.fetch_add(1, Ordering::Relaxed);
                metrics.bytes_out.fetch_add(size, Ordering::Relaxed);
                forward.last = last;
                forward.through = frame.source.map_or(forward.through, |s| s.sequence);
                forward.sent = frame
                    .marks
                    .iter()
                    .map(|m| (m.input.clone(), m.through))
                    .collect();
            }
            if let Some(e) = result.error {
                *forward = forward_state(bus, forward.subject.clone())?;
                retry.push((q, frame));
                error = Some(e);
            }
        }
        if retry.is_empty() {
            return Ok(());
        }
        metrics
            .retries
            .fetch_add(retry.len() as u64, Ordering::Relaxed);
        pending = retry;
        if let Some(e) = &error {
            if !matches!(e, BusError::Conflict { .. }) {
                std::thread::sleep(Duration::from_millis(200));
            }
        }
    }
    Err(BusError::Nats {
        what: "forwarding".into(),
        reason: "gave up after 5 tries".into(),
    })
}

/// The forwarding of one events frame's selections to the re-key partitions.
struct Forwarder<'a> {
    active: &'a [bool],
    keys: &'a [Option<RekeyKey>],
    partitions: u32,
    /// The input index and number of the event being run.
    current: Rc<Cell<(u16, u64)>>,
    out: Vec<Vec<Framed>>,
    scratch: Vec<(u32, u32)>,
}

impl Route for Forwarder<'_> {
    fn active(&self) -> &[bool] {
        self.active
    }

    fn forward(&mut self, event: &Event, received: i64, selected: &[u32], excepted: &[u32]) {
        let (input, seq) = self.current.get();
        self.scratch.clear();
        for &rule in selected.iter().chain(excepted) {
            if let Some(Some(key)) = self.keys.get(rule as usize) {
                let q = (key.hash(event) % u64::from(self.partitions.max(1))) as u32;
                self.scratch.push((q, rule));
            }
        }
        self.scratch.sort_unstable();
        self.scratch.dedup();
        let mut start = 0;
        while start < self.scratch.len() {
            let q = self.scratch[start].0;
            let end = self.scratch[start..]
                .iter()
                .position(|(other, _)| *other != q)
                .map_or(self.scratch.len(), |n| start + n);
            let rules = self.scratch[start..end].iter().map(|(_, r)| *r).collect();
            if let Some(out) = self.out.get_mut(q as usize) {
                out.push(Framed {
                    input,
                    seq,
                    received,
                    event: event.clone(),
                    selected: selected.to_vec(),
                    excepted: excepted.to_vec(),
                    rules,
                });
            }
            start = end;
        }
    }
}

/// Up to [`FETCH`] frames from `consumer`, its idle wait updated; the time counted as the bus's
/// when frames came (an empty fetch is idle time, not the bus's cost).
fn fetch(
    bus: &Bus,
    consumer: &Consumer,
    idle: &mut Idle,
    m: &BusMetrics,
) -> Result<Vec<Delivery>, BusError> {
    let started = Instant::now();
    let deliveries = bus.fetch(consumer, FETCH)?;
    idle.fetched(deliveries.len());
    if !deliveries.is_empty() {
        BusMetrics::time(&m.bus_nanos, started);
    }
    Ok(deliveries)
}

/// A delivered frame decoded, counted and timed.
fn decode(bus: &Bus, delivery: &Delivery, m: &BusMetrics) -> Result<Frame, secops_bus::FrameError> {
    m.frames_in.fetch_add(1, Ordering::Relaxed);
    m.bytes_in
        .fetch_add(delivery.payload.len() as u64, Ordering::Relaxed);
    let started = Instant::now();
    let decoded = Frame::decode(&delivery.payload, bus.settings.frame_limit);
    BusMetrics::time(&m.bus_nanos, started);
    decoded
}

/// Runs the frames waiting for an events unit; returns the frames and events run.
fn step_events(
    bus: &Bus,
    plan: &Plan,
    name: &str,
    unit: &mut Unit,
    metrics: &Metrics,
) -> Result<(usize, u64), BusError> {
    let m = &metrics.bus;
    let UnitId::Events(p) = unit.id else {
        return Ok((0, 0));
    };
    let Kind::Events {
        state,
        consumer,
        forwards,
        marks,
    } = &mut unit.kind
    else {
        return Ok((0, 0));
    };
    if !unit.idle[0].due() {
        return Ok((0, 0));
    }
    let deliveries = fetch(bus, consumer, &mut unit.idle[0], m)?;
    let frames = deliveries.len();
    let mut events_run = 0;
    for delivery in deliveries {
        if delivery.sequence <= state.consumed {
            continue;
        }
        let frame = match decode(bus, &delivery, m) {
            Ok(frame) => frame,
            Err(e) => {
                log::line(
                    "error",
                    name,
                    "bus",
                    &format!(
                        "{} sequence {}: frame unreadable, skipped: {e}",
                        delivery.subject, delivery.sequence
                    ),
                    0,
                );
                state.consumed = delivery.sequence;
                unit.unacked[0] = Some(delivery);
                unit.dirty = true;
                continue;
            }
        };
        let current = Rc::new(Cell::new((0u16, 0u64)));
        let mut forwarder = Forwarder {
            active: &plan.local,
            keys: &plan.keys,
            partitions: plan.partitions,
            current: current.clone(),
            out: vec![Vec::new(); forwards.len()],
            scratch: Vec::new(),
        };
        let seen = &mut state.seen;
        let frame_marks = &frame.marks;
        let mut ran = 0u64;
        let events = frame.events.into_iter().filter_map(|framed| {
            let input = frame_marks.get(usize::from(framed.input))?;
            let last = seen.entry(input.input.clone()).or_insert(0);
            if framed.seq <= *last {
                return None;
            }
            *last = framed.seq;
            current.set((framed.input, framed.seq));
            ran += 1;
            Some((framed.event, framed.received))
        });
        let started = Instant::now();
        unit.session.feed_routed(events, Some(&mut forwarder));
        BusMetrics::time(&m.rules_nanos, started);
        events_run += ran;
        metrics.engine.events.fetch_add(ran, Ordering::Relaxed);
        for mark in &frame.marks {
            let through = marks.entry(mark.input.clone()).or_insert(0);
            *through = (*through).max(mark.through);
        }
        if !forwards.is_empty() {
            let source = Source {
                partition: p,
                sequence: delivery.sequence,
                rules: plan.digest,
            };
            let out: Vec<(u32, Frame)> = forwarder
                .out
                .into_iter()
                .enumerate()
                .filter(|(_, events)| !events.is_empty())
                .map(|(q, events)| {
                    (
                        q as u32,
                        Frame {
                            marks: frame.marks.clone(),
                            source: Some(source),
                            events,
                        },
                    )
                })
                .collect();
            let started = Instant::now();
            let forwarded: usize = out.iter().map(|(_, f)| f.events.len()).sum();
            publish_forwards(bus, name, forwards, out, m)?;
            BusMetrics::time(&m.bus_nanos, started);
            m.forwarded.fetch_add(forwarded as u64, Ordering::Relaxed);
        }
        state.consumed = delivery.sequence;
        unit.unacked[0] = Some(delivery);
        unit.dirty = true;
    }
    Ok((frames, events_run))
}

/// Takes the re-keyed frames waiting for a re-key unit into its merge and runs what the merge
/// releases; returns the frames taken and events run.
fn step_rekey(
    bus: &Bus,
    plan: &Plan,
    unit: &mut Unit,
    metrics: &Metrics,
) -> Result<(usize, u64), BusError> {
    let Kind::Rekey { state, consumers } = &mut unit.kind else {
        return Ok((0, 0));
    };
    let m = &metrics.bus;
    let mut frames = 0;
    for (from, consumer) in consumers.iter().enumerate() {
        if state.merge.waiting_from(from as u32) >= MAX_WAITING || !unit.idle[from].due() {
            continue;
        }
        for delivery in fetch(bus, consumer, &mut unit.idle[from], m)? {
            frames += 1;
            let slot = &mut state.consumed[from];
            if delivery.sequence <= *slot {
                continue;
            }
            *slot = delivery.sequence;
            match decode(bus, &delivery, m) {
                Ok(frame) if frame.source.is_some_and(|s| s.rules != plan.digest) => {
                    log::line(
                        "error",
                        &consumer.name,
                        "bus",
                        &format!(
                            "{} sequence {}: selected under other rules (digest {:016x}, here \
                             {:016x}): every worker and ingest must load the same rules; skipped",
                            delivery.subject,
                            delivery.sequence,
                            frame.source.map_or(0, |s| s.rules),
                            plan.digest
                        ),
                        0,
                    );
                }
                Ok(frame) => {
                    state.merge.push(from as u32, frame);
                }
                Err(e) => log::line(
                    "error",
                    &consumer.name,
                    "bus",
                    &format!(
                        "{} sequence {}: frame unreadable, skipped: {e}",
                        delivery.subject, delivery.sequence
                    ),
                    0,
                ),
            }
            unit.unacked[from] = Some(delivery);
            unit.dirty = true;
        }
    }
    let released = state.merge.release();
    let mut events = Vec::with_capacity(released.len());
    for item in released {
        match item {
            Ok((_, framed)) => events.push(SelectedEvent {
                event: framed.event,
                received: framed.received,
                selected: framed.selected,
                excepted: framed.excepted,
                rules: framed.rules,
            }),
            Err(e) => log::line("error", "rekey", "bus", &e, 0),
        }
    }
    let ran = events.len() as u64;
    if ran > 0 {
        let started = Instant::now();
        unit.session.feed_selected(events);
        BusMetrics::time(&m.rules_nanos, started);
        m.rekeyed.fetch_add(ran, Ordering::Relaxed);
        unit.dirty = true;
    }
    Ok((frames, ran))
}

/// SIGINT and SIGTERM set the stop flag (the runtime returned keeps the handlers).
fn install_signals(
    stop: &std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> Result<tokio::runtime::Runtime, RunError> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("signals")
        .enable_all()
        .build()
        .map_err(|e| RunError::Other(format!("signal handlers: {e}")))?;
    let _guard = runtime.enter();
    let signals = [
        tokio::signal::unix::SignalKind::terminate(),
        tokio::signal::unix::SignalKind::interrupt(),
    ]
    .map(|kind| tokio::signal::unix::signal(kind).ok());
    let stop = stop.clone();
    runtime.spawn(async move {
        let [mut terminate, mut interrupt] = signals;
        tokio::select! {
            _ = crate::runner::next_signal(terminate.as_mut()) => {},
            _ = crate::runner::next_signal(interrupt.as_mut()) => {},
        }
        stop.store(true, Ordering::SeqCst);
    });
    Ok(runtime)
}

/// One unit as `secops status` shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UnitView {
    /// `events.0`, `rekey.3`.
    pub unit: String,
    /// The live worker whose consumer it is (none: waiting for one).
    pub owner: Option<String>,
    /// Frames on its subjects not yet delivered, and delivered but not acknowledged (none: no
    /// consumer).
    pub pending: Option<u64>,
    pub unacknowledged: Option<u64>,
    /// Seconds since its checkpoint was saved, and how many it has saved (none: never run).
    pub checkpoint_age_seconds: Option<f64>,
    pub checkpoints: Option<i64>,
}

/// The bus as `secops status` shows it: streams, units, workers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BusView {
    pub name: String,
    pub servers: Vec<String>,
    pub partitions: u32,
    pub key: String,
    /// Frames, bytes and last sequence of the events and re-key streams.
    pub events_stream: (u64, u64, u64),
    pub rekey_stream: (u64, u64, u64),
    pub units: Vec<UnitView>,
    /// The live workers, with the status their last heartbeat carried (none: unreadable).
    pub workers: Vec<(String, Option<crate::Status>)>,
}

/// Reads the bus's state: the streams, every unit's consumer (lag) and checkpoint (age) and the
/// live workers' statuses.
pub fn bus_view(config: &BusConfig, store: &mut Store, now: i64) -> Result<BusView, RunError> {
    let bus = Bus::connect(&config.settings(), "secops status")
        .map_err(|e| RunError::Other(format!("[bus]: {e}")))?;
    let fail = |e: BusError| RunError::Other(format!("[bus]: {e}"));
    let state = |s: secops_bus::StreamState| (s.frames, s.bytes, s.last);
    let events_stream = state(bus.stream_state(Subject::Events).map_err(fail)?);
    let rekey_stream = state(bus.stream_state(Subject::Rekey).map_err(fail)?);
    let workers: Vec<(String, Option<crate::Status>)> = bus
        .members_about()
        .map_err(fail)?
        .into_iter()
        .map(|(id, about)| {
            let status = serde_json::from_slice(&about).ok();
            (id, status)
        })
        .collect();
    let live = |owner: &str| workers.iter().any(|(id, _)| id == owner);
    let mut consumers = bus.consumers(Subject::Events).map_err(fail)?;
    consumers.extend(bus.consumers(Subject::Rekey).map_err(fail)?);
    let name = &config.name;
    let mut ids: Vec<UnitId> = (0..config.partitions).map(UnitId::Events).collect();
    let rekeyed = rekey_stream.0 > 0
        || store
            .checkpoint(&UnitId::Rekey(0).checkpoint(name))
            .map_err(|e| RunError::Other(e.to_string()))?
            .is_some();
    if rekeyed {
        ids.extend((0..config.partitions).map(UnitId::Rekey));
    }
    let mut units = Vec::new();
    for id in ids {
        // Consumer names: `<name>-events-<p>-<worker>`, `<name>-rekey-<q>-<from>-<worker>`.
        let family = match id {
            UnitId::Events(p) => format!("{name}-events-{p}-"),
            UnitId::Rekey(q) => format!("{name}-rekey-{q}-"),
        };
        let mut owner: Option<String> = None;
        let (mut pending, mut unacknowledged) = (None::<u64>, None::<u64>);
        for consumer in &consumers {
            let Some(rest) = consumer.name.strip_prefix(&family) else {
                continue;
            };
            let worker = match id {
                UnitId::Events(_) => rest,
                UnitId::Rekey(_) => match rest.split_once('-') {
                    Some((from, worker)) if from.chars().all(|c| c.is_ascii_digit()) => worker,
                    _ => continue,
                },
            };
            if !live(worker) {
                continue;
            }
            owner = Some(worker.to_string());
            *pending.get_or_insert(0) += consumer.pending;
            *unacknowledged.get_or_insert(0) += consumer.unacknowledged;
        }
        let checkpoint = store
            .checkpoint(&id.checkpoint(name))
            .map_err(|e| RunError::Other(e.to_string()))?;
        units.push(UnitView {
            unit: id.to_string(),
            owner,
            pending,
            unacknowledged,
            checkpoint_age_seconds: checkpoint
                .as_ref()
                .map(|c| (now - c.saved_at).max(0) as f64 / 1e9),
            checkpoints: checkpoint.map(|c| c.sequence),
        });
    }
    Ok(BusView {
        name: name.clone(),
        servers: config.servers.clone(),
        partitions: config.partitions,
        key: config.key.clone(),
        events_stream,
        rekey_stream,
        units,
        workers,
    })
}
