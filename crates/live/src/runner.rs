//! The engine loop of `secops run` (see the crate's documentation): listeners started on a runtime of
//! their own, a journal writer thread per listener, and on the calling thread the inputs read in turn,
//! the rules run, and a commit every `commit_ms` while anything changed. A commit that fails (the
//! store is down) is tried again, and nothing more is read meanwhile: the journals hold what arrives.
//! On a stop (SIGINT, SIGTERM, or the caller's flag) the listeners close, what they journaled is read,
//! and a last commit is made.
//!
//! Fault injection for the tests: `SECOPS_TEST_ABORT=events:N` aborts the process once N events have
//! reached the rules (before their commit); `commit:N` aborts inside the N-th commit's transaction,
//! after its writes; `lake:N` aborts after the N-th lake flush, before the commit that would record it. `SECOPS_TEST_HOLD_MS=N` holds the engine back for N ms after the listeners start
//! (so that a test's input is journaled before the engine reads it).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use secops_ingest::Format;
use secops_service::detect::RulesRequest;
use secops_service::intel::{IndicatorSources, JudgeSources, Judges};
use secops_service::live::{LiveCounts, LiveRequest, Session};
use secops_service::ruleset::RuleSelection;
use secops_service::SystemClock;
use secops_store::Store;
use support::{clock_now, Inputs, Wake, ABORT_VARIABLE};
pub(crate) use support::{parse_aggregate, parse_severity, Notices};
use tokio::sync::mpsc;

use crate::config::{Config, Kind, Listen};
use crate::inputs::{Input, InputError, JournalInput, Parsed, Position, Reading, TailInput};
use crate::journal::{Marks, Writer};
use crate::listen::{Batch, Handoff};
use crate::log::{self, Warnings};
use crate::metrics::{BusMetrics, Metrics, SourceMetrics, Status};

/// Why the process could not run, or stopped.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Config(#[from] crate::ConfigError),
    #[error(transparent)]
    Service(#[from] secops_service::ServiceError),
    #[error(transparent)]
    Store(#[from] secops_store::StoreError),
    #[error("{name}: {reason}")]
    Listener { name: String, reason: String },
    #[error(transparent)]
    Input(#[from] InputError),
    #[error("{0}")]
    Other(String),
}

/// What a run did, when it stopped.
#[derive(Debug, Clone, Default)]
pub struct RunReport {
    pub events: u64,
    pub alerts: u64,
    pub commits: u64,
    pub resumed: bool,
}

mod support {
    //! Small helpers of the runner.

    use std::sync::{Condvar, Mutex};
    use std::time::Duration;

    use secops_detect::AggregatePolicy;
    use secops_rules::Severity;
    use secops_service::detect::{Notice, Observer};

    pub const ABORT_VARIABLE: &str = "SECOPS_TEST_ABORT";

    pub fn clock_now() -> i64 {
        secops_event::Timestamp::now().unix_nanos()
    }

    pub fn parse_severity(text: Option<&str>) -> Result<Option<Severity>, String> {
        text.map(|t| Severity::parse(t).ok_or_else(|| format!("min_severity: {t:?} unknown")))
            .transpose()
    }

    pub fn parse_aggregate(text: Option<&str>) -> Result<AggregatePolicy, String> {
        match text {
            None | Some("default") => Ok(AggregatePolicy::default()),
            Some("declared") => Ok(AggregatePolicy::Declared),
            Some("per-event") => Ok(AggregatePolicy::PerEvent),
            Some(other) => Err(format!(
                "aggregate: {other:?} unknown (default, declared, per-event)"
            )),
        }
    }

    /// The engine's wake-up: writers ring it when they have flushed.
    #[derive(Debug, Default)]
    pub struct Wake {
        rung: Mutex<bool>,
        bell: Condvar,
    }

    impl Wake {
        pub fn ring(&self) {
            if let Ok(mut rung) = self.rung.lock() {
                *rung = true;
                self.bell.notify_one();
            }
        }

        pub fn wait(&self, timeout: Duration) {
            let Ok(rung) = self.rung.lock() else { return };
            if let Ok((mut rung, _)) = self.bell.wait_timeout_while(rung, timeout, |r| !*r) {
                *rung = false;
            }
        }
    }

    /// Notices of the rules' loading, as log lines.
    #[derive(Debug, Default)]
    pub struct Notices;

    impl Observer for Notices {
        fn notice(&mut self, notice: Notice) {
            crate::log::info("rules", &notice.to_string());
        }
    }

    pub type Inputs = Vec<Box<dyn crate::inputs::Input>>;
}

/// What the fault injection asks for.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Abort {
    AfterEvents(u64),
    InCommit(u64),
    /// After the N-th lake flush, before the commit that would say so.
    AfterLakeFlush(u64),
}

pub(crate) fn abort_point() -> Option<Abort> {
    let value = std::env::var(ABORT_VARIABLE).ok()?;
    let (what, n) = value.split_once(':')?;
    let n = n.parse().ok()?;
    match what {
        "events" => Some(Abort::AfterEvents(n)),
        "commit" => Some(Abort::InCommit(n)),
        "lake" => Some(Abort::AfterLakeFlush(n)),
        _ => None,
    }
}

/// The status file's path in the state folder.
pub fn status_path(state_dir: &Path) -> PathBuf {
    state_dir.join("status.json")
}

/// Reads the status a running (or stopped) process last wrote.
pub fn read_status(state_dir: &Path) -> Result<Status, String> {
    let path = status_path(state_dir);
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
}

/// Opens the store again (with its auditor), for work on threads of their own.
pub type Reopen = Arc<dyn Fn() -> Result<Store, String> + Send + Sync>;

/// What the caller keeps of a run: the flag that stops it, its counters (read while it runs), and
/// how to open the store again (scheduled hunts need it).
#[derive(Clone, Default)]
pub struct Control {
    pub stop: Arc<AtomicBool>,
    pub metrics: Arc<Metrics>,
    pub reopen: Option<Reopen>,
}

impl std::fmt::Debug for Control {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Control")
            .field("stop", &self.stop)
            .finish_non_exhaustive()
    }
}

/// A listener bound, and where.
#[derive(Debug, Clone)]
pub struct Bound {
    pub name: String,
    pub kind: Kind,
    pub address: Option<std::net::SocketAddr>,
}

/// Runs until `stop` is set (or a signal). `store` is where alerts and checkpoints go; `ready` is told
/// the listeners' bound addresses once they listen (port 0 picks one).
/// With `reset`, the saved checkpoint and the journals are dropped first: the inputs are read from
/// their beginnings (files) or from what arrives next (listeners).
pub fn run(
    config: &Config,
    config_path: &Path,
    mut store: Store,
    reset: bool,
    control: &Control,
    ready: &mut dyn FnMut(&[Bound]),
) -> Result<RunReport, RunError> {
    let (stop, metrics) = (control.stop.clone(), control.metrics.clone());
    let state_dir = config.state_dir(config_path);
    if reset {
        let journals = state_dir.join("journal");
        if journals.exists() {
            std::fs::remove_dir_all(&journals)
                .map_err(|e| RunError::Other(format!("{}: {e}", journals.display())))?;
        }
    }
    std::fs::create_dir_all(&state_dir)
        .map_err(|e| RunError::Other(format!("{}: {e}", state_dir.display())))?;
    let request = live_request(config, config_path, config.name.clone(), reset)?;
    let clock = SystemClock;
    // With `[bus]` the session selects (no rule runs here) and the checkpoint's positions hold the
    // publisher's numbering too.
    let judges = Judges::load(&JudgeSources {
        warninglists: config.rules.warninglists.clone(),
        decay_models: None,
    })?;
    let (mut session, resumed) =
        Session::start(&request, &mut store, &judges, &clock, &mut Notices)?;
    let unreadable =
        |e: postcard::Error| RunError::Other(format!("checkpoint positions unreadable: {e}"));
    let (saved, numbering): (Saved, Option<crate::publish::Numbering>) =
        match (&resumed, &config.bus) {
            (Some(resumed), None) => (
                postcard::from_bytes(&resumed.positions).map_err(unreadable)?,
                None,
            ),
            (Some(resumed), Some(_)) => {
                let (saved, numbering) =
                    postcard::from_bytes(&resumed.positions).map_err(unreadable)?;
                (saved, Some(numbering))
            }
            (None, _) => (Saved::default(), None),
        };
    // With a lake, inputs start where the lake's last flush left off (it lags the rules); what
    // comes before the rules' position is for the lake only.
    let lake_start = match (&config.lake, &saved.lake) {
        (Some(_), Some(lake)) => Some(lake.clone()),
        _ => None,
    };
    let positions = lake_start.clone().unwrap_or_else(|| saved.engine.clone());
    if let Some(resumed) = &resumed {
        log::info(
            &config.name,
            &format!(
                "resuming from checkpoint {} ({} rules' state restored{})",
                resumed.sequence,
                resumed.restored.restored,
                if resumed.restored.fresh.is_empty() {
                    String::new()
                } else {
                    format!(", {} starting afresh", resumed.restored.fresh.len())
                }
            ),
        );
        for (rule, reason) in &resumed.restored.fresh {
            log::line(
                "warning",
                &config.name,
                "state",
                &format!("rule {rule}: starts afresh: {reason}"),
                0,
            );
        }
    }
    let warnings = Arc::new(Warnings::default());
    let wake = Arc::new(Wake::default());
    let mut inputs: Inputs = Vec::new();
    let mut writers = Vec::new();
    let mut bound = Vec::new();
    let mut starts: Vec<(Listen, Handoff, Sockets)> = Vec::new();
    let max_spool = config.engine.max_spool_mb.saturating_mul(1 << 20);
    for listen in &config.listen {
        let name = listen.display_name();
        let format = match &listen.format {
            Some(f) => secops_ingest::FORMATS
                .iter()
                .find(|i| i.name == f)
                .map(|i| i.format),
            None => None,
        };
        let engine_at = saved
            .engine
            .iter()
            .find(|(n, _)| n == &name)
            .map(|(_, p)| p.clone());
        let saved = positions.iter().find(|(n, _)| n == &name).map(|(_, p)| p);
        let reading = |format| Reading {
            format,
            year: listen.year,
            zone: listen.zone(),
            encoding: listen.decoder(),
        };
        let source = metrics.source(&name, listen.kind.as_str());
        if listen.kind == Kind::Tail {
            let path = listen.path.clone().unwrap_or_default();
            let mut input = TailInput::new(&name, &path, reading(format), saved, source)?;
            if let (Some(_), Some(engine_at)) = (&lake_start, &engine_at) {
                input.replay_until(engine_at);
            }
            inputs.push(Box::new(input));
            bound.push(Bound {
                name,
                kind: listen.kind,
                address: None,
            });
            continue;
        }
        let failed = |reason: String| RunError::Listener {
            name: name.clone(),
            reason,
        };
        let address = listen.address.ok_or_else(|| failed("no address".into()))?;
        let sockets = match listen.kind {
            Kind::SyslogUdp => {
                Sockets::Udp(std::net::UdpSocket::bind(address).map_err(|e| failed(e.to_string()))?)
            }
            Kind::SyslogTcp | Kind::Http => Sockets::Tcp(
                std::net::TcpListener::bind(address).map_err(|e| failed(e.to_string()))?,
                None,
            ),
            Kind::SyslogTls => Sockets::Tcp(
                std::net::TcpListener::bind(address).map_err(|e| failed(e.to_string()))?,
                Some(crate::tls::acceptor(listen).map_err(failed)?),
            ),
            Kind::Tail => continue,
        };
        let local = sockets.local_addr().map_err(|e| failed(e.to_string()))?;
        if !is_loopback(local.ip()) && listen.kind == Kind::Http {
            return Err(failed(
                "HTTP ingest outside loopback needs TLS: put it behind a TLS proxy or listen on \
                 127.0.0.1"
                    .into(),
            ));
        }
        let dir = state_dir.join("journal").join(listen.journal_name());
        let marks = Arc::new(Marks::default());
        let writer = Writer::open(&dir, marks.clone()).map_err(|e| failed(e.to_string()))?;
        if let Ok(mut journal) = source.journal.lock() {
            *journal = Some(marks.clone());
        }
        let default_format = if listen.kind == Kind::Http {
            Format::Json
        } else {
            Format::Syslog
        };
        let mut input = JournalInput::new(
            &name,
            &dir,
            marks.clone(),
            format.unwrap_or(default_format),
            reading(format),
            saved,
            source.clone(),
        );
        if let (Some(_), Some(engine_at)) = (&lake_start, &engine_at) {
            input.replay_until(engine_at);
        }
        inputs.push(Box::new(input));
        let (sender, receiver) = mpsc::channel::<Batch>(64);
        writers.push(spawn_writer(
            &name,
            writer,
            receiver,
            marks,
            wake.clone(),
            max_spool,
            config.engine.fsync,
        )?);
        bound.push(Bound {
            name: name.clone(),
            kind: listen.kind,
            address: Some(local),
        });
        starts.push((
            listen.clone(),
            Handoff {
                name,
                sender,
                metrics: source,
                warnings: warnings.clone(),
            },
            sockets,
        ));
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("listen")
        .enable_all()
        .build()
        .map_err(|e| RunError::Other(format!("starting the listeners: {e}")))?;
    for (listen, handoff, sockets) in starts {
        let name = handoff.name.clone();
        let _guard = runtime.enter();
        match sockets {
            Sockets::Udp(socket) => {
                socket.set_nonblocking(true).ok();
                let socket =
                    tokio::net::UdpSocket::from_std(socket).map_err(|e| RunError::Listener {
                        name: name.clone(),
                        reason: e.to_string(),
                    })?;
                runtime.spawn(crate::listen::udp(socket, listen, handoff));
            }
            Sockets::Tcp(listener, tls) => {
                listener.set_nonblocking(true).ok();
                let listener = tokio::net::TcpListener::from_std(listener).map_err(|e| {
                    RunError::Listener {
                        name: name.clone(),
                        reason: e.to_string(),
                    }
                })?;
                if listen.kind == Kind::Http {
                    runtime.spawn(crate::http::serve(
                        listener,
                        listen,
                        handoff,
                        open_store_for_keys(config)?,
                    ));
                } else {
                    runtime.spawn(crate::listen::tcp(listener, listen, handoff, tls));
                }
            }
        }
    }
    {
        // The handlers are registered here, before anyone is told the listeners are up: a SIGTERM
        // right after must stop the run cleanly, not kill it.
        let _guard = runtime.enter();
        let signals = [
            tokio::signal::unix::SignalKind::terminate(),
            tokio::signal::unix::SignalKind::interrupt(),
        ]
        .map(|kind| tokio::signal::unix::signal(kind).ok());
        let (stop, wake) = (stop.clone(), wake.clone());
        runtime.spawn(async move {
            let [mut terminate, mut interrupt] = signals;
            tokio::select! {
                _ = next_signal(terminate.as_mut()) => {},
                _ = next_signal(interrupt.as_mut()) => {},
            }
            stop.store(true, Ordering::SeqCst);
            wake.ring();
        });
    }
    if let Some(address) = config.metrics.as_ref().map(|m| m.address) {
        let listener = std::net::TcpListener::bind(address).map_err(|e| RunError::Listener {
            name: "metrics".into(),
            reason: e.to_string(),
        })?;
        let local = listener.local_addr().ok();
        bound.push(Bound {
            name: "metrics".into(),
            kind: Kind::Http,
            address: local,
        });
        let _guard = runtime.enter();
        listener.set_nonblocking(true).ok();
        let listener =
            tokio::net::TcpListener::from_std(listener).map_err(|e| RunError::Listener {
                name: "metrics".into(),
                reason: e.to_string(),
            })?;
        runtime.spawn(crate::metrics::serve(
            listener,
            metrics.clone(),
            config.name.clone(),
        ));
    }
    let mut runtime = Some(runtime);
    let started_at = clock_now();
    let mut status = metrics.status(&config.name, started_at, started_at, None);
    status.listeners = bound
        .iter()
        .map(|b| (b.name.clone(), b.address.map(|a| a.to_string())))
        .collect();
    write_status(&state_dir, &status);
    ready(&bound);
    if let Some(hold) = std::env::var("SECOPS_TEST_HOLD_MS")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
    {
        std::thread::sleep(Duration::from_millis(hold));
    }
    let lake = match &config.lake {
        Some(lake) => Some(LakeThread::start(&lake.path, config_path)?),
        None => None,
    };
    let hunts = match (&config.lake, config.hunt.is_empty(), &control.reopen) {
        (Some(lake), false, Some(reopen)) => Some(crate::hunts::start(
            &config.hunt,
            &lake_path(&lake.path, config_path),
            &store_target(config)?,
            reopen.clone(),
            stop.clone(),
            Duration::from_secs(lake.flush_seconds.max(1) + 1),
        )?),
        (_, false, None) => {
            return Err(RunError::Other(
                "scheduled hunts need a way to open the store again".into(),
            ))
        }
        _ => None,
    };
    let vuln_sla = match (&config.vuln, &control.reopen) {
        (Some(vuln), Some(reopen)) => {
            Some(crate::vuln_sla::start(vuln, reopen.clone(), stop.clone())?)
        }
        (Some(_), None) => {
            return Err(RunError::Other(
                "[vuln]: watching deadlines needs a way to open the store again".into(),
            ))
        }
        _ => None,
    };
    let respond = match (&config.respond, &control.reopen) {
        (Some(respond), Some(reopen)) => Some(crate::respond::start(
            respond,
            config_path,
            reopen.clone(),
            stop.clone(),
        )?),
        (Some(_), None) => {
            return Err(RunError::Other(
                "[respond]: response automation needs a way to open the store again".into(),
            ))
        }
        _ => None,
    };
    let lake_every =
        Duration::from_secs(config.lake.as_ref().map_or(60, |l| l.flush_seconds.max(1)));
    let mut publisher = match &config.bus {
        Some(bus) => {
            let names: Vec<String> = inputs.iter().map(|i| i.name().to_string()).collect();
            let plan = crate::publish::Plan::of(&session, &bus.key);
            plan.log(&config.name, bus.partitions, &bus.key);
            let publisher = crate::publish::Publisher::start(
                bus,
                &config.name,
                &names,
                plan,
                numbering,
                reset,
                stop.clone(),
            )
            .map_err(|e| RunError::Other(format!("[bus]: {e}")))?;
            log::info(
                &config.name,
                &format!(
                    "publishing to {} partitions by {} on {}",
                    bus.partitions,
                    bus.key,
                    bus.servers.join(",")
                ),
            );
            Some(publisher)
        }
        None => None,
    };
    let work = match publisher.as_mut() {
        None => Work::Detect(&mut session),
        Some(publisher) => Work::Publish {
            publisher,
            session: &mut session,
        },
    };
    let mut engine = Engine {
        work,
        store: &mut store,
        inputs,
        metrics: &metrics,
        warnings: &warnings,
        abort: abort_point(),
        commits: 0,
        committed: None,
        failing: false,
        batch: config.engine.batch.max(1),
        lake,
        lake_positions: lake_start.or_else(|| config.lake.as_ref().map(|_| saved.engine.clone())),
        next_lake_flush: Instant::now() + lake_every,
        lake_every,
        lake_flushes: 0,
        late_reported: std::collections::HashMap::new(),
    };
    let commit_ms = match &config.bus {
        Some(bus) => config.engine.commit_ms.min(bus.flush_ms),
        None => config.engine.commit_ms,
    };
    let commit_every = Duration::from_millis(commit_ms.max(10));
    let mut next_commit = Instant::now() + commit_every;
    let mut next_status = Instant::now() + Duration::from_secs(1);
    let mut stopping: Option<Instant> = None;
    loop {
        let read = if engine.failing { 0 } else { engine.read()? };
        let now = Instant::now();
        if now >= next_commit || (stopping.is_some() && read == 0) {
            engine.commit();
            next_commit = now + commit_every;
        }
        if now >= next_status {
            let mut fresh = metrics.status(&config.name, started_at, clock_now(), Some(&status));
            fresh.listeners = status.listeners.clone();
            status = fresh;
            write_status(&state_dir, &status);
            next_status = now + Duration::from_secs(1);
        }
        if stop.load(Ordering::SeqCst) && stopping.is_none() {
            log::info(
                &config.name,
                "stopping: listeners closed, reading what they journaled",
            );
            stopping = Some(Instant::now());
            // Closing the runtime drops the listeners' senders: the writers drain and end.
            if let Some(runtime) = runtime.take() {
                runtime.shutdown_timeout(Duration::from_secs(2));
            }
            for writer in writers.drain(..) {
                let _ = writer.join();
            }
            // One more pass over the runtime-free state: read and commit below.
            continue;
        }
        if stopping.is_some() && read == 0 && !engine.failing && engine.waiting() == 0 {
            engine.flush_lake();
            engine.commit();
            break;
        }
        if engine.lake.is_some() && now >= engine.next_lake_flush && !engine.failing {
            engine.flush_lake();
            engine.commit();
        }
        if read == 0 {
            let until_commit = next_commit.saturating_duration_since(Instant::now());
            wake.wait(until_commit.min(Duration::from_millis(50)));
        }
    }
    if let Some(lake) = engine.lake.take() {
        lake.stop();
    }
    if let Some(watch) = vuln_sla {
        let _ = watch.join();
    }
    if let Some(respond) = respond {
        let _ = respond.join();
    }
    if let Some(hunts) = hunts {
        let _ = hunts.join();
    }
    let counts = engine.counts();
    let report = RunReport {
        events: counts.events,
        alerts: counts.alerts,
        commits: engine.commits,
        resumed: resumed.is_some(),
    };
    let mut last = metrics.status(&config.name, started_at, clock_now(), Some(&status));
    last.listeners = status.listeners.clone();
    write_status(&state_dir, &last);
    Ok(report)
}

fn is_loopback(ip: std::net::IpAddr) -> bool {
    ip.is_loopback()
}

/// What a detection session of this config runs, under checkpoint `name`.
pub(crate) fn live_request(
    config: &Config,
    config_path: &Path,
    name: String,
    reset: bool,
) -> Result<LiveRequest, RunError> {
    let invalid = |e: String| crate::ConfigError::Invalid {
        file: config_path.display().to_string(),
        message: e,
    };
    Ok(LiveRequest {
        name,
        rules: RulesRequest {
            rules: RuleSelection {
                rules: config.rules.paths.clone(),
                ..RuleSelection::default()
            },
            indicators: IndicatorSources {
                files: config.rules.intel.clone(),
                ecs_files: Vec::new(),
            },
            strict: false,
            aggregate: parse_aggregate(config.rules.aggregate.as_deref()).map_err(invalid)?,
        },
        min_severity: parse_severity(config.rules.min_severity.as_deref()).map_err(invalid)?,
        entities: config.rules.inventory.clone().map(Some),
        lateness: nanos(config.engine.lateness_seconds),
        rule_lateness: config
            .engine
            .rule_lateness_seconds
            .iter()
            .map(|(rule, seconds)| (rule.clone(), nanos(*seconds)))
            .collect(),
        reset,
    })
}

/// Seconds as nanoseconds, saturating.
fn nanos(seconds: u64) -> i64 {
    i64::try_from(seconds)
        .unwrap_or(i64::MAX / 1_000_000_000)
        .saturating_mul(1_000_000_000)
}

/// The store the config names.
fn store_target(config: &Config) -> Result<String, RunError> {
    match (&config.store.db, &config.store.database_url) {
        (Some(db), _) => Ok(db.display().to_string()),
        (None, Some(url)) => Ok(url.clone()),
        (None, None) => Err(RunError::Other("[store] names no database".into())),
    }
}

/// The store connection HTTP ingest checks API keys against (its own: the engine's is busy).
fn open_store_for_keys(config: &Config) -> Result<Arc<Mutex<Store>>, RunError> {
    Ok(Arc::new(Mutex::new(Store::open(&store_target(config)?)?)))
}

enum Sockets {
    Udp(std::net::UdpSocket),
    Tcp(std::net::TcpListener, Option<crate::tls::Acceptor>),
}

impl Sockets {
    fn local_addr(&self) -> std::io::Result<std::net::SocketAddr> {
        match self {
            Sockets::Udp(s) => s.local_addr(),
            Sockets::Tcp(l, _) => l.local_addr(),
        }
    }
}

/// A listener's journal writer: batches from the channel appended and flushed; while the spool is
/// over its limit, nothing is taken from the channel (which fills: back-pressure).
fn spawn_writer(
    name: &str,
    mut writer: Writer,
    mut receiver: mpsc::Receiver<Batch>,
    marks: Arc<Marks>,
    wake: Arc<Wake>,
    max_spool: u64,
    fsync: bool,
) -> Result<std::thread::JoinHandle<()>, RunError> {
    let source = name.to_string();
    std::thread::Builder::new()
        .name(format!("journal {name}"))
        .spawn(move || {
            while let Some(batch) = receiver.blocking_recv() {
                let mut failed = false;
                let mut take = |batch: &Batch| {
                    for message in batch.messages() {
                        if let Err(e) = writer.append(batch.received, message) {
                            log::line("error", &source, "journal", &e.to_string(), 0);
                            failed = true;
                            return;
                        }
                    }
                };
                take(&batch);
                // Whatever else waits goes out with the same flush.
                while let Ok(more) = receiver.try_recv() {
                    take(&more);
                }
                let flushed = if fsync { writer.sync() } else { writer.flush() };
                if let Err(e) = flushed {
                    log::line("error", &source, "journal", &e.to_string(), 0);
                    failed = true;
                }
                wake.ring();
                while marks.spooled() > max_spool || failed {
                    std::thread::sleep(Duration::from_millis(10));
                    failed = false;
                }
            }
            let _ = writer.flush();
            wake.ring();
        })
        .map_err(|e| RunError::Other(format!("starting the journal writer: {e}")))
}

fn write_status(state_dir: &Path, status: &Status) {
    let path = status_path(state_dir);
    let temporary = state_dir.join("status.json.tmp");
    let Ok(text) = serde_json::to_string_pretty(status) else {
        return;
    };
    if std::fs::write(&temporary, text).is_ok() {
        let _ = std::fs::rename(&temporary, &path);
    }
}

/// What the engine does with the events read.
enum Work<'a> {
    /// Runs the rules.
    Detect(&'a mut Session),
    /// Runs the rules' selection and publishes what they select to the bus (workers run the rules).
    Publish {
        publisher: &'a mut crate::publish::Publisher,
        session: &'a mut Session,
    },
}

impl Work<'_> {
    fn session(&self) -> &Session {
        match self {
            Work::Detect(session) | Work::Publish { session, .. } => session,
        }
    }
}

/// The engine's half of the loop.
struct Engine<'a> {
    work: Work<'a>,
    store: &'a mut Store,
    inputs: Inputs,
    metrics: &'a Metrics,
    warnings: &'a Warnings,
    abort: Option<Abort>,
    commits: u64,
    /// The positions of the last commit.
    committed: Option<Vec<(String, Position)>>,
    /// The last commit failed: nothing is read until one succeeds.
    failing: bool,
    /// Records per poll of one input.
    batch: usize,
    /// The lake's writer, when events go into the lake too.
    lake: Option<LakeThread>,
    /// The positions the lake holds everything before (its last flush).
    lake_positions: Option<Vec<(String, Position)>>,
    next_lake_flush: Instant,
    lake_every: Duration,
    lake_flushes: u64,
    /// Per rule, the late events last reported to the metrics.
    late_reported: std::collections::HashMap<String, u64>,
}

impl Engine<'_> {
    /// One pass over the inputs; returns the records read.
    fn read(&mut self) -> Result<usize, RunError> {
        let mut total = 0;
        let mut parsed = Vec::with_capacity(self.batch);
        for (index, input) in self.inputs.iter_mut().enumerate() {
            parsed.clear();
            let read = match input.poll(self.batch, &mut parsed) {
                Ok(read) => read,
                Err(e) => {
                    self.warnings.warn(input.name(), "input", &e.to_string());
                    continue;
                }
            };
            total += read;
            let mut events = Vec::with_capacity(parsed.len());
            for Parsed {
                record,
                received,
                replay,
            } in parsed.drain(..)
            {
                match record {
                    Ok(event) => {
                        if let Some(lake) = &self.lake {
                            lake.send(&event);
                        }
                        if !replay {
                            events.push((event, received));
                        }
                    }
                    Err(_) if replay => {}
                    Err(rejection) => self.warnings.warn(
                        input.name(),
                        "rejected",
                        &format!("rejected: {rejection}"),
                    ),
                }
            }
            let before = self.work.session().counts();
            match &mut self.work {
                Work::Detect(session) => session.feed(events),
                Work::Publish { publisher, session } => {
                    // Selection is the rules' time; framing and publishing the bus's.
                    let started = Instant::now();
                    let sending = publisher.send_nanos;
                    publisher.add(session, index, events);
                    let sent = publisher.send_nanos - sending;
                    let total = started.elapsed().as_nanos() as u64;
                    let bus = &self.metrics.bus;
                    bus.bus_nanos.fetch_add(sent, Ordering::Relaxed);
                    bus.rules_nanos
                        .fetch_add(total.saturating_sub(sent), Ordering::Relaxed);
                    publisher.counts.report(bus);
                }
            }
            let after = self.work.session().counts();
            let m = &self.metrics.engine;
            m.events
                .fetch_add(after.events - before.events, Ordering::Relaxed);
            m.late
                .fetch_add(after.late - before.late, Ordering::Relaxed);
            m.alerts
                .fetch_add(after.alerts - before.alerts, Ordering::Relaxed);
            if let Some(Abort::AfterEvents(n)) = self.abort {
                if self.metrics.engine.events.load(Ordering::Relaxed) >= n {
                    std::process::abort();
                }
            }
        }
        Ok(total)
    }

    /// Writes out what the lake's writer holds; from now on the lake holds everything read so far.
    fn flush_lake(&mut self) {
        let Some(lake) = &self.lake else { return };
        self.next_lake_flush = Instant::now() + self.lake_every;
        match lake.flush() {
            Ok(()) => {
                self.lake_flushes += 1;
                if matches!(self.abort, Some(Abort::AfterLakeFlush(n)) if n == self.lake_flushes) {
                    std::process::abort();
                }
                self.lake_positions = Some(self.positions());
            }
            Err(e) => self.warnings.warn(
                "lake",
                "lake",
                &format!("lake not written (tried again): {e}"),
            ),
        }
    }

    fn positions(&self) -> Vec<(String, Position)> {
        self.inputs
            .iter()
            .map(|i| (i.name().to_string(), i.position()))
            .collect()
    }

    /// A commit failed: reading pauses until one succeeds.
    fn commit_failed(&mut self, error: &str) {
        self.failing = true;
        self.metrics
            .engine
            .commit_failures
            .fetch_add(1, Ordering::Relaxed);
        self.warnings.warn(
            "engine",
            "commit",
            &format!("commit failed (reading paused, tried again): {error}"),
        );
    }

    /// Counts since start.
    fn counts(&self) -> LiveCounts {
        self.work.session().counts()
    }

    /// What waits for the next commit.
    fn waiting(&self) -> usize {
        match &self.work {
            Work::Detect(session) => session.waiting(),
            Work::Publish { publisher, .. } => publisher.waiting(),
        }
    }

    /// Records what was raised with a checkpoint, if anything changed since the last.
    fn commit(&mut self) {
        let positions = self.positions();
        if self.waiting() == 0 && self.committed.as_ref() == Some(&positions) {
            return;
        }
        let saved = Saved {
            engine: positions.clone(),
            lake: self.lake_positions.clone(),
        };
        let publishing = matches!(self.work, Work::Publish { .. });
        let (session, bytes) = match &mut self.work {
            Work::Detect(session) => (session, postcard::to_stdvec(&saved)),
            Work::Publish { publisher, session } => {
                // The checkpoint covers what the bus holds: everything read is sent first.
                let started = Instant::now();
                let flushed = publisher.flush();
                BusMetrics::time(&self.metrics.bus.bus_nanos, started);
                publisher.counts.report(&self.metrics.bus);
                if !flushed {
                    self.failing = true;
                    return;
                }
                let numbering = publisher.numbering();
                (session, postcard::to_stdvec(&(&saved, numbering)))
            }
        };
        let bytes = match bytes {
            Ok(bytes) => bytes,
            Err(e) => {
                log::line("error", "engine", "checkpoint", &e.to_string(), 0);
                return;
            }
        };
        let abort_now = matches!(self.abort, Some(Abort::InCommit(n)) if n == self.commits + 1);
        let abort = || std::process::abort();
        let hook: Option<&dyn Fn()> = if abort_now { Some(&abort) } else { None };
        let started = Instant::now();
        let result = session.commit(self.store, bytes, &SystemClock, hook);
        if publishing {
            BusMetrics::time(&self.metrics.bus.commit_nanos, started);
        }
        match result {
            Ok(committed) => {
                let now = clock_now();
                let m = &self.metrics.engine;
                for received in committed.received {
                    let millis = (now - received).max(0) / 1_000_000;
                    m.latency.record(millis as u64);
                }
                let grew = m.report_late_rules(session.late_rules(), &mut self.late_reported);
                for (rule, added, count) in grew {
                    self.warnings.warn(
                        &rule,
                        "late",
                        &format!(
                            "rule {rule:?}: {added} events later than its allowed lateness since \
                             the last commit (run all the same; {count} since start)"
                        ),
                    );
                }
                self.committed(now, committed.bytes, positions);
            }
            Err(e) => self.commit_failed(&e.to_string()),
        }
    }

    /// A commit succeeded: counted, and the inputs released up to what both the rules (or the bus)
    /// and the lake have.
    fn committed(&mut self, now: i64, bytes: usize, positions: Vec<(String, Position)>) {
        self.commits += 1;
        self.failing = false;
        let m = &self.metrics.engine;
        m.commits.fetch_add(1, Ordering::Relaxed);
        m.checkpoint_at.store(now as u64, Ordering::Relaxed);
        m.checkpoint_bytes.store(bytes as u64, Ordering::Relaxed);
        let covered = self.lake_positions.as_ref().unwrap_or(&positions);
        for (input, (_, position)) in self.inputs.iter_mut().zip(covered) {
            if let Err(e) = input.committed(position) {
                self.warnings.warn(input.name(), "journal", &e.to_string());
            }
        }
        self.committed = Some(positions);
    }
}

/// For the tests and `secops status`: the counters of one source.
pub fn source_metrics(metrics: &Metrics, name: &str) -> Option<Arc<SourceMetrics>> {
    metrics
        .sources
        .lock()
        .ok()?
        .iter()
        .find(|(n, ..)| n == name)
        .map(|(.., m)| m.clone())
}

/// The next delivery of a signal whose handler is registered (never, when it could not be).
pub(crate) async fn next_signal(signal: Option<&mut tokio::signal::unix::Signal>) {
    match signal {
        Some(signal) => {
            signal.recv().await;
        }
        None => std::future::pending::<()>().await,
    }
}

/// The input positions a checkpoint keeps: the rules', and the lake's (its last flush).
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
struct Saved {
    engine: Vec<(String, Position)>,
    lake: Option<Vec<(String, Position)>>,
}

/// A lake path as the config gives it, relative ones from the config's folder.
fn lake_path(path: &str, config_path: &Path) -> String {
    if path.starts_with("s3://") || Path::new(path).is_absolute() {
        path.to_string()
    } else {
        config_path
            .parent()
            .unwrap_or(Path::new("."))
            .join(path)
            .display()
            .to_string()
    }
}

enum LakeMessage {
    Event(Box<secops_event::Event>),
    Flush(std::sync::mpsc::SyncSender<Result<(), String>>),
}

/// The lake's writer on a thread of its own, fed through a bounded channel (the engine waits for it
/// rather than memory growing).
struct LakeThread {
    sender: std::sync::mpsc::SyncSender<LakeMessage>,
    thread: std::thread::JoinHandle<()>,
}

impl std::fmt::Debug for LakeThread {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LakeThread").finish_non_exhaustive()
    }
}

impl LakeThread {
    fn start(path: &str, config_path: &Path) -> Result<LakeThread, RunError> {
        let lake = secops_lake::Lake::open(&lake_path(path, config_path))
            .map_err(|e| RunError::Other(format!("[lake] {path}: {e}")))?;
        let mut writer = secops_lake::LakeWriter::open(lake);
        let (sender, receiver) = std::sync::mpsc::sync_channel::<LakeMessage>(8192);
        let thread = std::thread::Builder::new()
            .name("lake".into())
            .spawn(move || {
                let mut failed: Option<String> = None;
                for message in receiver {
                    match message {
                        LakeMessage::Event(event) => {
                            if let Err(e) = writer.write(&event) {
                                failed.get_or_insert(e.to_string());
                            }
                        }
                        LakeMessage::Flush(reply) => {
                            let result = match failed.take() {
                                Some(e) => Err(e),
                                None => writer.flush_all().map_err(|e| e.to_string()),
                            };
                            let _ = reply.send(result);
                        }
                    }
                }
            })
            .map_err(|e| RunError::Other(format!("starting the lake writer: {e}")))?;
        Ok(LakeThread { sender, thread })
    }

    fn send(&self, event: &secops_event::Event) {
        // A writer that stopped answers the next flush with its error.
        let _ = self
            .sender
            .send(LakeMessage::Event(Box::new(event.clone())));
    }

    fn flush(&self) -> Result<(), String> {
        let (reply, answer) = std::sync::mpsc::sync_channel(1);
        self.sender
            .send(LakeMessage::Flush(reply))
            .map_err(|_| "the lake writer stopped".to_string())?;
        answer
            .recv()
            .map_err(|_| "the lake writer stopped".to_string())?
    }

    fn stop(self) {
        drop(self.sender);
        let _ = self.thread.join();
    }
}
