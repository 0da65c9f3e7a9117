//! What a running process counts, per source and for the engine, and the two forms it is read in: the
//! status file `secops status` prints (JSON, rewritten every second) and the Prometheus text format.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};

use crate::journal::Marks;

/// One source's counters, shared by its listener and the engine.
#[derive(Debug, Default)]
pub struct SourceMetrics {
    /// Messages accepted (journaled, or read from the file).
    pub received: AtomicU64,
    pub bytes: AtomicU64,
    /// Messages refused: over the maximum size, malformed frames, cut short.
    pub oversize: AtomicU64,
    pub malformed: AtomicU64,
    /// Messages dropped: the spool was full (UDP), over the EPS limit, from a sender not allowed.
    pub dropped_full: AtomicU64,
    pub dropped_eps: AtomicU64,
    pub refused_senders: AtomicU64,
    /// Datagrams the kernel dropped on the socket (Linux `/proc/net/udp` drops).
    pub kernel_drops: AtomicU64,
    pub connections: AtomicU64,
    pub connections_open: AtomicU64,
    pub connections_refused: AtomicU64,
    pub idle_closed: AtomicU64,
    /// Records the engine parsed into events, and rejected (with reasons in the log).
    pub events: AtomicU64,
    pub rejected: AtomicU64,
    /// HTTP bulk items refused, one by one.
    pub items_refused: AtomicU64,
    /// The journal's marks (spool), for listeners that journal.
    pub journal: Mutex<Option<Arc<Marks>>>,
}

/// Ingest-to-alert latency, in buckets of powers of two milliseconds.
#[derive(Debug, Default)]
pub struct Latency {
    buckets: [AtomicU64; 32],
}

impl Latency {
    pub fn record(&self, millis: u64) {
        let bucket = (64 - millis.leading_zeros()).min(31) as usize;
        self.buckets[bucket].fetch_add(1, Ordering::Relaxed);
    }

    /// The upper bound (milliseconds) of the bucket holding quantile `q`.
    pub fn quantile(&self, q: f64) -> Option<u64> {
        self.quantile_since(&[0; 32], q).0
    }

    pub fn count(&self) -> u64 {
        self.buckets.iter().map(|b| b.load(Ordering::Relaxed)).sum()
    }

    /// The counts now, to measure a stretch of time with [`Latency::quantile_since`].
    pub fn snapshot(&self) -> [u64; 32] {
        std::array::from_fn(|i| self.buckets[i].load(Ordering::Relaxed))
    }

    /// Quantile `q` of what was recorded since `before` (a bucket's upper bound, milliseconds), and
    /// how many.
    pub fn quantile_since(&self, before: &[u64; 32], q: f64) -> (Option<u64>, u64) {
        let now = self.snapshot();
        let counts: [u64; 32] = std::array::from_fn(|i| now[i].saturating_sub(before[i]));
        Latency::quantile_of(&counts, q)
    }

    /// Quantile `q` of bucket counts (added up from several processes' snapshots, say) and how many
    /// they hold.
    pub fn quantile_of(counts: &[u64; 32], q: f64) -> (Option<u64>, u64) {
        let total: u64 = counts.iter().sum();
        if total == 0 {
            return (None, 0);
        }
        let rank = ((total as f64) * q).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (i, count) in counts.iter().enumerate() {
            seen += count;
            if seen >= rank {
                return (Some(if i == 0 { 0 } else { 1u64 << i }), total);
            }
        }
        (None, total)
    }
}

/// The engine's counters.
#[derive(Debug, Default)]
pub struct EngineMetrics {
    pub events: AtomicU64,
    pub late: AtomicU64,
    pub alerts: AtomicU64,
    pub commits: AtomicU64,
    pub commit_failures: AtomicU64,
    /// UTC nanoseconds of the last checkpoint saved.
    pub checkpoint_at: AtomicU64,
    pub checkpoint_bytes: AtomicU64,
    pub latency: Latency,
    /// Per rule name, the events it selected later than its allowed lateness.
    pub late_rules: Mutex<std::collections::BTreeMap<String, u64>>,
}

impl EngineMetrics {
    /// Adds what a session counted per rule since `reported` (what it counted at the last call,
    /// updated here); returns the rules that grew: name, events since the last call, since start.
    pub fn report_late_rules(
        &self,
        now: Vec<(String, u64)>,
        reported: &mut std::collections::HashMap<String, u64>,
    ) -> Vec<(String, u64, u64)> {
        let mut grew = Vec::new();
        if now.is_empty() {
            return grew;
        }
        let Ok(mut late) = self.late_rules.lock() else {
            return grew;
        };
        for (rule, count) in now {
            let added = count.saturating_sub(reported.insert(rule.clone(), count).unwrap_or(0));
            if added > 0 {
                *late.entry(rule.clone()).or_insert(0) += added;
                grew.push((rule, added, count));
            }
        }
        grew
    }
}

/// The bus's counters (`[bus]`): `secops run` publishing, or a worker taking frames, running their
/// events and forwarding re-keyed selections.
#[derive(Debug, Default)]
pub struct BusMetrics {
    /// Frames published and their compressed bytes (events frames by `secops run`, re-keyed frames
    /// and marks by a worker).
    pub frames_out: AtomicU64,
    pub bytes_out: AtomicU64,
    /// Frames taken from the bus and their bytes (a worker).
    pub frames_in: AtomicU64,
    pub bytes_in: AtomicU64,
    /// Events run by a worker's re-key units (its events units' are the engine's events).
    pub rekeyed: AtomicU64,
    /// Events `secops run` published to the events partitions, and to the re-key partitions, and
    /// those framed but not yet published.
    pub published: AtomicU64,
    pub forwarded: AtomicU64,
    pub waiting: AtomicU64,
    /// Events the bus already held, not published again (read again after a restart).
    pub held: AtomicU64,
    /// Publishes or fetches that failed and were tried again.
    pub retries: AtomicU64,
    /// Nanoseconds of the engine thread in the bus's own work (framing, compressing, publishing,
    /// fetching, decoding, acknowledging), in running rules, and in commits: the bus's overhead is
    /// the first against the three.
    pub bus_nanos: AtomicU64,
    pub rules_nanos: AtomicU64,
    pub commit_nanos: AtomicU64,
    /// The units a worker runs now (`events.0`, `rekey.3`).
    pub units: Mutex<Vec<String>>,
}

impl BusMetrics {
    /// Adds the time since `since` to `counter`.
    pub fn time(counter: &AtomicU64, since: std::time::Instant) {
        counter.fetch_add(since.elapsed().as_nanos() as u64, Ordering::Relaxed);
    }
}

/// Everything, by source name.
#[derive(Debug, Default)]
pub struct Metrics {
    pub sources: Mutex<Vec<(String, String, Arc<SourceMetrics>)>>,
    pub engine: EngineMetrics,
    pub bus: BusMetrics,
}

impl Metrics {
    pub fn source(&self, name: &str, kind: &str) -> Arc<SourceMetrics> {
        let metrics = Arc::new(SourceMetrics::default());
        if let Ok(mut sources) = self.sources.lock() {
            sources.push((name.to_string(), kind.to_string(), metrics.clone()));
        }
        metrics
    }
}

/// One source in the status file.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SourceStatus {
    pub name: String,
    pub kind: String,
    pub received: u64,
    pub events: u64,
    pub rejected: u64,
    /// Per second over the last interval.
    pub received_per_second: f64,
    pub events_per_second: f64,
    pub oversize: u64,
    pub malformed: u64,
    pub dropped_full: u64,
    pub dropped_eps: u64,
    pub refused_senders: u64,
    pub kernel_drops: u64,
    pub connections_open: u64,
    pub connections_refused: u64,
    pub idle_closed: u64,
    pub items_refused: u64,
    pub spool_bytes: u64,
    pub torn_records: u64,
}

/// The status file.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Status {
    pub name: String,
    pub pid: u32,
    /// UTC nanoseconds.
    pub started_at: i64,
    pub written_at: i64,
    pub events: u64,
    pub events_per_second: f64,
    pub late: u64,
    pub alerts: u64,
    pub commits: u64,
    pub commit_failures: u64,
    pub checkpoint_at: i64,
    pub checkpoint_age_seconds: f64,
    pub checkpoint_bytes: u64,
    pub latency_p50_ms: Option<u64>,
    pub latency_p99_ms: Option<u64>,
    pub latency_samples: u64,
    pub sources: Vec<SourceStatus>,
    /// Each listener's name and bound address (port 0 in the config picks one).
    #[serde(default)]
    pub listeners: Vec<(String, Option<String>)>,
    /// With `[bus]`: the bus's counters.
    #[serde(default)]
    pub bus: BusStatus,
    /// Rules that selected events later than their allowed lateness: name, count.
    #[serde(default)]
    pub late_rules: Vec<(String, u64)>,
}

/// The bus's counters in the status (all zero without `[bus]`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BusStatus {
    pub frames_out: u64,
    pub bytes_out: u64,
    pub frames_in: u64,
    pub bytes_in: u64,
    pub rekeyed: u64,
    #[serde(default)]
    pub published: u64,
    pub forwarded: u64,
    pub held: u64,
    pub retries: u64,
    pub bus_seconds: f64,
    pub rules_seconds: f64,
    pub commit_seconds: f64,
    /// Per second over the last interval: events of the re-key units.
    pub rekeyed_per_second: f64,
    pub units: Vec<String>,
}

impl BusStatus {
    /// Whether the process uses a bus at all.
    pub fn active(&self) -> bool {
        self.frames_out + self.frames_in > 0 || !self.units.is_empty()
    }

    /// The bus's share of the engine thread's busy time (bus work, rules, commits), 0 to 1.
    pub fn overhead(&self) -> f64 {
        let busy = self.bus_seconds + self.rules_seconds + self.commit_seconds;
        if busy > 0.0 {
            self.bus_seconds / busy
        } else {
            0.0
        }
    }
}

impl Metrics {
    /// The counters now, rates against `before` (the previous status) over the time between.
    pub fn status(&self, name: &str, started_at: i64, now: i64, before: Option<&Status>) -> Status {
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let seconds = before
            .map(|b| (now - b.written_at) as f64 / 1e9)
            .filter(|s| *s > 0.0);
        let rate = |now: u64, then: Option<u64>| match (seconds, then) {
            (Some(s), Some(then)) => now.saturating_sub(then) as f64 / s,
            _ => 0.0,
        };
        let mut sources = Vec::new();
        if let Ok(list) = self.sources.lock() {
            for (source, kind, m) in list.iter() {
                let previous = before.and_then(|b| b.sources.iter().find(|s| &s.name == source));
                let (spool, torn) = match m.journal.lock().ok().and_then(|j| j.clone()) {
                    Some(marks) => (marks.spooled(), marks.torn.load(Ordering::Relaxed)),
                    None => (0, 0),
                };
                let (received, events) = (load(&m.received), load(&m.events));
                sources.push(SourceStatus {
                    name: source.clone(),
                    kind: kind.clone(),
                    received,
                    events,
                    rejected: load(&m.rejected),
                    received_per_second: rate(received, previous.map(|p| p.received)),
                    events_per_second: rate(events, previous.map(|p| p.events)),
                    oversize: load(&m.oversize),
                    malformed: load(&m.malformed),
                    dropped_full: load(&m.dropped_full),
                    dropped_eps: load(&m.dropped_eps),
                    refused_senders: load(&m.refused_senders),
                    kernel_drops: load(&m.kernel_drops),
                    connections_open: load(&m.connections_open),
                    connections_refused: load(&m.connections_refused),
                    idle_closed: load(&m.idle_closed),
                    items_refused: load(&m.items_refused),
                    spool_bytes: spool,
                    torn_records: torn,
                });
            }
        }
        let b = &self.bus;
        let seconds_of = |a: &AtomicU64| load(a) as f64 / 1e9;
        let rekeyed = load(&b.rekeyed);
        let bus = BusStatus {
            frames_out: load(&b.frames_out),
            bytes_out: load(&b.bytes_out),
            frames_in: load(&b.frames_in),
            bytes_in: load(&b.bytes_in),
            rekeyed,
            published: load(&b.published),
            forwarded: load(&b.forwarded),
            held: load(&b.held),
            retries: load(&b.retries),
            bus_seconds: seconds_of(&b.bus_nanos),
            rules_seconds: seconds_of(&b.rules_nanos),
            commit_seconds: seconds_of(&b.commit_nanos),
            rekeyed_per_second: rate(rekeyed, before.map(|b| b.bus.rekeyed)),
            units: b.units.lock().map(|u| u.clone()).unwrap_or_default(),
        };
        let e = &self.engine;
        let events = load(&e.events);
        let checkpoint_at = load(&e.checkpoint_at) as i64;
        Status {
            name: name.to_string(),
            pid: std::process::id(),
            started_at,
            written_at: now,
            events,
            events_per_second: rate(events, before.map(|b| b.events)),
            late: load(&e.late),
            alerts: load(&e.alerts),
            commits: load(&e.commits),
            commit_failures: load(&e.commit_failures),
            checkpoint_at,
            checkpoint_age_seconds: if checkpoint_at > 0 {
                (now - checkpoint_at).max(0) as f64 / 1e9
            } else {
                0.0
            },
            checkpoint_bytes: load(&e.checkpoint_bytes),
            latency_p50_ms: e.latency.quantile(0.5),
            latency_p99_ms: e.latency.quantile(0.99),
            latency_samples: e.latency.count(),
            sources,
            listeners: Vec::new(),
            bus,
            late_rules: e
                .late_rules
                .lock()
                .map(|l| l.iter().map(|(r, n)| (r.clone(), *n)).collect())
                .unwrap_or_default(),
        }
    }
}

/// A label value in the Prometheus text format: backslash, quote and line feed escaped.
fn label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// The status in the Prometheus text exposition format.
pub fn prometheus(status: &Status) -> String {
    let mut out = String::new();
    let mut metric = |name: &str, kind: &str, help: &str, rows: Vec<(String, f64)>| {
        let _ = writeln!(out, "# HELP secops_{name} {help}");
        let _ = writeln!(out, "# TYPE secops_{name} {kind}");
        for (labels, value) in rows {
            let _ = writeln!(out, "secops_{name}{labels} {value}");
        }
    };
    let per_source = |f: &dyn Fn(&SourceStatus) -> u64| {
        status
            .sources
            .iter()
            .map(|s| {
                (
                    format!("{{source=\"{}\",kind=\"{}\"}}", label(&s.name), s.kind),
                    f(s) as f64,
                )
            })
            .collect::<Vec<_>>()
    };
    type Counter<'a> = (&'a str, &'a str, &'a dyn Fn(&SourceStatus) -> u64);
    let counters: [Counter<'_>; 13] = [
        ("received_total", "Messages accepted.", &|s| s.received),
        ("events_total", "Records parsed into events.", &|s| s.events),
        ("rejected_total", "Records that did not parse.", &|s| {
            s.rejected
        }),
        ("oversize_total", "Messages over the maximum size.", &|s| {
            s.oversize
        }),
        ("malformed_total", "Malformed or cut-short frames.", &|s| {
            s.malformed
        }),
        (
            "dropped_spool_full_total",
            "Messages dropped because the spool was full.",
            &|s| s.dropped_full,
        ),
        ("dropped_eps_total", "Messages over the EPS limit.", &|s| {
            s.dropped_eps
        }),
        (
            "refused_senders_total",
            "Messages or connections from senders not allowed.",
            &|s| s.refused_senders,
        ),
        (
            "kernel_drops_total",
            "Datagrams the kernel dropped on the socket.",
            &|s| s.kernel_drops,
        ),
        (
            "connections_refused_total",
            "Connections refused past the limit.",
            &|s| s.connections_refused,
        ),
        (
            "idle_closed_total",
            "Connections closed for idleness.",
            &|s| s.idle_closed,
        ),
        (
            "bulk_items_refused_total",
            "HTTP bulk items refused.",
            &|s| s.items_refused,
        ),
        (
            "torn_records_total",
            "Journal records cut short by a crash.",
            &|s| s.torn_records,
        ),
    ];
    for (name, help, f) in counters {
        metric(name, "counter", help, per_source(f));
    }
    metric(
        "connections_open",
        "gauge",
        "Connections open.",
        per_source(&|s| s.connections_open),
    );
    metric(
        "spool_bytes",
        "gauge",
        "Journal bytes not yet covered by a checkpoint.",
        per_source(&|s| s.spool_bytes),
    );
    let one = |v: f64| vec![(String::new(), v)];
    metric(
        "engine_events_total",
        "counter",
        "Events the engine ran rules on.",
        one(status.events as f64),
    );
    metric(
        "late_events_total",
        "counter",
        "Events older than the newest by more than the lateness.",
        one(status.late as f64),
    );
    metric(
        "alerts_total",
        "counter",
        "Alerts raised.",
        one(status.alerts as f64),
    );
    metric(
        "commits_total",
        "counter",
        "Checkpoints saved with their alerts.",
        one(status.commits as f64),
    );
    metric(
        "commit_failures_total",
        "counter",
        "Commits that failed (retried).",
        one(status.commit_failures as f64),
    );
    metric(
        "checkpoint_age_seconds",
        "gauge",
        "Seconds since the last checkpoint.",
        one(status.checkpoint_age_seconds),
    );
    let mut latency = Vec::new();
    if let Some(p) = status.latency_p50_ms {
        latency.push(("{quantile=\"0.5\"}".to_string(), p as f64 / 1000.0));
    }
    if let Some(p) = status.latency_p99_ms {
        latency.push(("{quantile=\"0.99\"}".to_string(), p as f64 / 1000.0));
    }
    metric(
        "ingest_to_alert_seconds",
        "summary",
        "From arrival to the alert recorded (bucket upper bounds).",
        latency,
    );
    if !status.late_rules.is_empty() {
        metric(
            "rule_late_events_total",
            "counter",
            "Events a rule selected later than its allowed lateness (run all the same).",
            status
                .late_rules
                .iter()
                .map(|(rule, n)| (format!("{{rule=\"{}\"}}", label(rule)), *n as f64))
                .collect(),
        );
    }
    let bus = &status.bus;
    if bus.active() {
        let bus_counters: [(&str, &str, f64); 12] = [
            (
                "bus_frames_out_total",
                "Frames published to the bus.",
                bus.frames_out as f64,
            ),
            (
                "bus_bytes_out_total",
                "Compressed frame bytes published.",
                bus.bytes_out as f64,
            ),
            (
                "bus_frames_in_total",
                "Frames taken from the bus.",
                bus.frames_in as f64,
            ),
            (
                "bus_bytes_in_total",
                "Compressed frame bytes taken.",
                bus.bytes_in as f64,
            ),
            (
                "bus_rekeyed_events_total",
                "Events run by re-key units.",
                bus.rekeyed as f64,
            ),
            (
                "bus_published_events_total",
                "Events published to the events partitions.",
                bus.published as f64,
            ),
            (
                "bus_forwarded_events_total",
                "Events published to the re-key partitions.",
                bus.forwarded as f64,
            ),
            (
                "bus_held_events_total",
                "Events the bus already held, not published again.",
                bus.held as f64,
            ),
            (
                "bus_retries_total",
                "Bus calls that failed and were tried again.",
                bus.retries as f64,
            ),
            (
                "bus_seconds_total",
                "Engine thread time in the bus's own work.",
                bus.bus_seconds,
            ),
            (
                "bus_rules_seconds_total",
                "Engine thread time running rules.",
                bus.rules_seconds,
            ),
            (
                "bus_commit_seconds_total",
                "Engine thread time in commits.",
                bus.commit_seconds,
            ),
        ];
        for (name, help, value) in bus_counters {
            metric(name, "counter", help, one(value));
        }
        metric(
            "bus_units",
            "gauge",
            "Units this worker runs.",
            one(bus.units.len() as f64),
        );
    }
    out
}

/// Serves `/metrics` on `address` from a runtime of its own (a process without listeners: `secops
/// worker`), until the runtime returned is dropped; the address bound (port 0 picks one).
pub fn serve_on(
    address: std::net::SocketAddr,
    metrics: Arc<Metrics>,
    name: String,
) -> std::io::Result<(tokio::runtime::Runtime, std::net::SocketAddr)> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("metrics")
        .enable_all()
        .build()?;
    let listener = runtime.block_on(tokio::net::TcpListener::bind(address))?;
    let bound = listener.local_addr()?;
    runtime.spawn(serve(listener, metrics, name));
    Ok((runtime, bound))
}

/// Serves `/metrics` (the Prometheus text format) on `listener` until the runtime ends.
pub async fn serve(listener: tokio::net::TcpListener, metrics: Arc<Metrics>, name: String) {
    let started = secops_event::Timestamp::now().unix_nanos();
    let app = axum::Router::new().route(
        "/metrics",
        axum::routing::get(move || {
            let metrics = metrics.clone();
            let name = name.clone();
            async move {
                let now = secops_event::Timestamp::now().unix_nanos();
                (
                    [("content-type", "text/plain; version=0.0.4")],
                    prometheus(&metrics.status(&name, started, now, None)),
                )
            }
        }),
    );
    let _ = axum::serve(listener, app).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latency_quantiles_are_bucket_bounds() {
        let latency = Latency::default();
        assert_eq!(latency.quantile(0.5), None);
        for ms in [0, 3, 3, 3, 900] {
            latency.record(ms);
        }
        assert_eq!(latency.quantile(0.5), Some(4));
        assert_eq!(latency.quantile(0.99), Some(1024));
    }

    #[test]
    fn prometheus_labels_are_escaped() {
        let status = Status {
            sources: vec![SourceStatus {
                name: "a\"b\\c\nd".into(),
                kind: "tail".into(),
                received: 3,
                ..SourceStatus::default()
            }],
            ..Status::default()
        };
        let text = prometheus(&status);
        assert!(
            text.contains("secops_received_total{source=\"a\\\"b\\\\c\\nd\",kind=\"tail\"} 3"),
            "{text}"
        );
    }
}
