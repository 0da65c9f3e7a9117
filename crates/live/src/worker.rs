//! `secops worker --config FILE`: one of the processes that run the rules over what `secops run`
//! publishes to the bus (`[bus]`; see `secops_bus`). The work comes in units: an events unit per
//! partition (the rules that run where the events are) and, when some rule is re-keyed, a re-key unit
//! per partition (the re-keyed rules, over the events of their own keys). Ingest made the selections;
//! a unit runs its rules' state over the events its subjects hold, with those selections. Live
//! workers say so in the bus's members bucket; each unit belongs to one of them (by its index among
//! the live workers, sorted), so units move when a worker joins or leaves.
//!
//! A unit is a [`Session`] whose checkpoint (under `bus.<name>.events.<p>` or
//! `bus.<name>.rekey.<p>`) holds the rules' state and the stream sequence it covers, committed with
//! the alerts in one store transaction; the frames it covers are acknowledged after. Whoever takes a
//! unit over starts from that checkpoint and first commits a claim, so that a previous owner still
//! running finds its next commit refused and lets the unit go: whatever process dies, each alert is
//! recorded once.
//!
//! Fault injection for the tests, as `secops run`'s: `SECOPS_TEST_ABORT=events:N` aborts once this
//! worker has run the rules over N events, `commit:N` inside its N-th commit's transaction.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use secops_bus::{Bus, BusError, Consumer, Delivery, Frame, Subject};
use secops_service::intel::{JudgeSources, Judges};
use secops_service::live::{LiveRequest, SelectedEvent, Session};
use secops_service::SystemClock;
use secops_store::Store;
use serde::{Deserialize, Serialize};

use crate::config::{BusConfig, Config};
use crate::log;
use crate::metrics::{BusMetrics, Metrics};
use crate::publish::Plan;
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

    /// Its consumers' names start with this (the worker's id follows).
    fn family(self, bus: &str) -> String {
        match self {
            UnitId::Events(p) => format!("{bus}-events-{p}-"),
            UnitId::Rekey(p) => format!("{bus}-rekey-{p}-"),
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

/// What a unit's checkpoint keeps besides the rules' state.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct UnitState {
    /// The last stream sequence run.
    consumed: u64,
    /// Per input, the last event number run (an event read again is skipped).
    seen: BTreeMap<String, u64>,
}

struct Unit {
    id: UnitId,
    session: Session,
    state: UnitState,
    consumer: Box<Consumer>,
    /// The delivery to acknowledge after the next commit (acks cover all before).
    unacked: Option<Delivery>,
    /// When its consumer is asked next.
    idle: Idle,
    /// Anything run since the last commit.
    dirty: bool,
    last_commit: Instant,
    /// Per rule, the late events last reported to the metrics.
    late_reported: std::collections::HashMap<String, u64>,
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
        Plan::of(&probe, &bus_config.key)
    };
    plan.log(id, bus_config.partitions, &bus_config.key);
    let mut all: Vec<UnitId> = (0..bus_config.partitions).map(UnitId::Events).collect();
    if plan.rekeys() {
        all.extend((0..bus_config.partitions).map(UnitId::Rekey));
    }
    let abort = crate::runner::abort_point();
    let commit_every = Duration::from_millis(config.engine.commit_ms.max(10));
    let beat_every = bus_config.settings().member_ttl / 3;
    let mut worker = Worker {
        bus,
        bus_config: bus_config.clone(),
        id: id.to_string(),
        digest: plan.digest,
        units: Vec::new(),
        report: WorkReport::default(),
        metrics: control.metrics.clone(),
        abort,
        processed: 0,
    };
    let started_at = secops_event::Timestamp::now().unix_nanos();
    let mut status: Option<crate::Status> = None;
    let mut next_beat = Instant::now();
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
    /// The rule set's digest: frames selected under another are not run.
    digest: u64,
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
            // Gone already when the next owner was quicker.
            let _ = self.bus.drop_consumer(&unit.consumer);
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

    /// Starts a unit from its checkpoint: a claim committed at once, then its consumer.
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
        let state: UnitState = if positions.is_empty() {
            UnitState::default()
        } else {
            postcard::from_bytes(&positions).map_err(unreadable)?
        };
        let bytes = postcard::to_stdvec(&state).map_err(unreadable)?;
        session.commit(store, bytes, &SystemClock, None)?;
        let family = id.family(&self.bus_config.name);
        let (stream, filter) = match id {
            UnitId::Events(p) => (Subject::Events, self.bus.events_filter(p)),
            UnitId::Rekey(q) => (Subject::Rekey, self.bus.rekey_filter(q)),
        };
        let consumer = self
            .bus
            .consumer(
                stream,
                &family,
                &format!("{family}{}", self.id),
                &filter,
                state.consumed + 1,
            )
            .map_err(|e| RunError::Other(e.to_string()))?;
        Ok(Unit {
            id,
            session,
            state,
            consumer: Box::new(consumer),
            unacked: None,
            idle: Idle::new(),
            dirty: false,
            last_commit: Instant::now(),
            late_reported: std::collections::HashMap::new(),
        })
    }

    /// Runs what waits for unit `index`; returns the frames taken.
    fn step(&mut self, index: usize) -> usize {
        let Some(unit) = self.units.get_mut(index) else {
            return 0;
        };
        let before = unit.session.counts();
        let result = step(&self.bus, self.digest, unit, &self.metrics);
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
                // Its consumer gone (another worker took the unit over), the bus failing, or
                // frames of other rules: the unit is let go (nothing acknowledged past its
                // checkpoint), and taken on again from its checkpoint while it is this worker's.
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
        let bytes = match postcard::to_stdvec(&unit.state) {
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
                if let Some(delivery) = unit.unacked.take() {
                    let started = Instant::now();
                    // A lost ack only means a redelivery, which is skipped by sequence.
                    let _ = self.bus.ack(&delivery);
                    BusMetrics::time(&self.metrics.bus.bus_nanos, started);
                }
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

/// Runs the frames waiting for a unit: each event of an input not run yet goes to the rules it is
/// for here, with the selections ingest made. Returns the frames taken and events run; an error
/// lets the unit go (a fetch failed, or a frame was selected under other rules).
fn step(
    bus: &Bus,
    digest: u64,
    unit: &mut Unit,
    metrics: &Metrics,
) -> Result<(usize, u64), String> {
    let m = &metrics.bus;
    if !unit.idle.due() {
        return Ok((0, 0));
    }
    let started = Instant::now();
    let deliveries = bus
        .fetch(&unit.consumer, FETCH)
        .map_err(|e| e.to_string())?;
    unit.idle.fetched(deliveries.len());
    if deliveries.is_empty() {
        // An empty fetch is idle time, not the bus's cost.
        return Ok((0, 0));
    }
    BusMetrics::time(&m.bus_nanos, started);
    let frames = deliveries.len();
    let mut events_run = 0;
    for delivery in deliveries {
        if delivery.sequence <= unit.state.consumed {
            continue;
        }
        m.frames_in.fetch_add(1, Ordering::Relaxed);
        m.bytes_in
            .fetch_add(delivery.payload.len() as u64, Ordering::Relaxed);
        let started = Instant::now();
        let decoded = Frame::decode(&delivery.payload, bus.settings.frame_limit);
        BusMetrics::time(&m.bus_nanos, started);
        let frame = match decoded {
            Ok(frame) if frame.rules != digest => {
                return Err(format!(
                    "{} sequence {}: selected under other rules (digest {:016x}, here {digest:016x}): \
                     every worker and ingest must load the same rules",
                    delivery.subject, delivery.sequence, frame.rules
                ));
            }
            Ok(frame) => frame,
            Err(e) => {
                log::line(
                    "error",
                    &unit.consumer.name,
                    "bus",
                    &format!(
                        "{} sequence {}: frame unreadable, skipped: {e}",
                        delivery.subject, delivery.sequence
                    ),
                    0,
                );
                unit.state.consumed = delivery.sequence;
                unit.unacked = Some(delivery);
                unit.dirty = true;
                continue;
            }
        };
        let seen = &mut unit.state.seen;
        let marks = &frame.marks;
        let events: Vec<SelectedEvent> = frame
            .events
            .into_iter()
            .filter_map(|framed| {
                let input = &marks.get(usize::from(framed.input))?.input;
                match seen.get_mut(input) {
                    Some(last) if framed.seq <= *last => return None,
                    Some(last) => *last = framed.seq,
                    None => {
                        seen.insert(input.clone(), framed.seq);
                    }
                }
                Some(SelectedEvent {
                    event: framed.event,
                    received: framed.received,
                    selected: framed.selected,
                    excepted: framed.excepted,
                    rules: framed.rules,
                })
            })
            .collect();
        let ran = events.len() as u64;
        let started = Instant::now();
        unit.session.feed_selected(events);
        BusMetrics::time(&m.rules_nanos, started);
        events_run += ran;
        match unit.id {
            UnitId::Events(_) => metrics.engine.events.fetch_add(ran, Ordering::Relaxed),
            UnitId::Rekey(_) => m.rekeyed.fetch_add(ran, Ordering::Relaxed),
        };
        unit.state.consumed = delivery.sequence;
        unit.unacked = Some(delivery);
        unit.dirty = true;
    }
    Ok((frames, events_run))
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
        // Consumer names: `<name>-events-<p>-<worker>`, `<name>-rekey-<q>-<worker>`.
        let family = id.family(name);
        let mut owner: Option<String> = None;
        let (mut pending, mut unacknowledged) = (None::<u64>, None::<u64>);
        for consumer in &consumers {
            let Some(worker) = consumer.name.strip_prefix(&family) else {
                continue;
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
