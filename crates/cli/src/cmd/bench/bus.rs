//! `secops bench bus`: the cost of spreading detection over workers on NATS JetStream (`[bus]`),
//! against one `secops run` doing everything, on the same input: syslog lines over TCP on loopback
//! (the shared OpenSSH and Linux messages from `hosts` hosts, as `secops bench live` sends them), the
//! bundled pack, PostgreSQL as the store.
//!
//! Three runs, each on a scratch schema of its own: one process; `secops run` publishing to the bus
//! with one worker; with two workers (all threads of this process, as separate processes would run
//! them, each with its own connections). For each: events/s from the first byte sent until every
//! event has run through the rules (re-keyed ones included), and the CPU seconds per million events
//! of this process, the NATS server and PostgreSQL's processes together; then ingest-to-alert latency
//! at half the single process's rate. On a machine with few cores, everything shares them: the bus's
//! cost shows as CPU per event, not as speed-up.

use std::collections::HashMap;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use secops_live::metrics::Latency;
use secops_live::{Config, Control};
use secops_service::Actor;

use super::live::{messages, send};
use crate::memory::{cpu_seconds_of, format_peak};
use crate::Outcome;

#[derive(Debug, clap::Args)]
pub struct BusBenchArgs {
    /// Events sent at full rate, in each run.
    #[arg(long, default_value_t = 1_000_000)]
    events: u64,
    /// Connections the senders use (with one, every run reads the same lines in the same order,
    /// so the alerts raised must be the same).
    #[arg(long, default_value_t = 1)]
    connections: usize,
    /// Seconds sent at half the single process's rate, for latency.
    #[arg(long, default_value_t = 15)]
    seconds: u64,
    /// Hosts the lines come from (the bus partitions by host).
    #[arg(long, default_value_t = 16)]
    hosts: u64,
    /// The bus's partitions.
    #[arg(long, default_value_t = 4)]
    partitions: u32,
    /// The runs, in order: 0 is one process without the bus, N the bus with N workers (the others
    /// are compared with the first).
    #[arg(long, value_delimiter = ',', default_values_t = [0, 1, 2])]
    runs: Vec<usize>,
    /// A NATS server with JetStream to use (default: one started here from the PATH's
    /// `nats-server`, its data in a scratch folder; its CPU time is counted).
    #[arg(long)]
    nats: Option<String>,
    /// The PostgreSQL server (scratch schemas, dropped after).
    #[arg(
        long = "database-url",
        default_value = "postgres://postgres@127.0.0.1:5432/test"
    )]
    database_url: String,
    /// Where the messages come from (the shared corpus's Linux logs).
    #[arg(long, default_value = "../shared/corpus/linux")]
    corpus: PathBuf,
}

/// A NATS server this bench started (killed when dropped).
struct NatsServer {
    child: Child,
    url: String,
}

impl NatsServer {
    fn start(dir: &Path) -> anyhow::Result<NatsServer> {
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let data = dir.join("nats");
        let child = Command::new("nats-server")
            .args(["-a", "127.0.0.1", "-p", &port.to_string(), "-js", "-sd"])
            .arg(&data)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("nats-server (on the PATH; or give --nats URL)")?;
        let mut server = NatsServer {
            child,
            url: format!("nats://127.0.0.1:{port}"),
        };
        let start = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Ok(Some(status)) = server.child.try_wait() {
                bail!("nats-server ended at start: {status}");
            }
            if start.elapsed() > Duration::from_secs(20) {
                bail!("nats-server did not listen within 20 s");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(server)
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// CPU seconds so far of this process, the NATS server (when started here) and PostgreSQL's
/// processes (by process id: a backend that ended between two readings is not counted).
#[derive(Debug, Clone, Default)]
struct Cpu {
    own: f64,
    nats: f64,
    postgres: HashMap<u32, f64>,
}

impl Cpu {
    fn now(nats: Option<u32>) -> Cpu {
        let mut postgres = HashMap::new();
        if let Ok(entries) = std::fs::read_dir("/proc") {
            for entry in entries.flatten() {
                let name = entry.file_name();
                let Some(pid) = name.to_str().and_then(|n| n.parse::<u32>().ok()) else {
                    continue;
                };
                let comm = std::fs::read_to_string(entry.path().join("comm")).unwrap_or_default();
                if comm.trim() == "postgres" {
                    if let Some(cpu) = cpu_seconds_of(&pid.to_string()) {
                        postgres.insert(pid, cpu);
                    }
                }
            }
        }
        Cpu {
            own: cpu_seconds_of("self").unwrap_or(0.0),
            nats: nats
                .and_then(|pid| cpu_seconds_of(&pid.to_string()))
                .unwrap_or(0.0),
            postgres,
        }
    }

    /// Seconds since `before`: this process, NATS, PostgreSQL.
    fn since(&self, before: &Cpu) -> (f64, f64, f64) {
        let postgres = self
            .postgres
            .iter()
            .map(|(pid, now)| now - before.postgres.get(pid).copied().unwrap_or(0.0))
            .sum();
        (self.own - before.own, self.nats - before.nats, postgres)
    }
}

/// One run's figures.
#[derive(Debug, Default)]
struct Measured {
    label: String,
    rate: f64,
    /// CPU seconds per million events: this process, NATS, PostgreSQL.
    cpu: (f64, f64, f64),
    alerts: u64,
    /// Events published to the events partitions and run by the re-key units.
    published: u64,
    rekeyed: u64,
    bytes_per_event: f64,
    half_rate: f64,
    p50: Option<u64>,
    p99: Option<u64>,
    samples: u64,
}

impl Measured {
    fn cpu_total(&self) -> f64 {
        self.cpu.0 + self.cpu.1 + self.cpu.2
    }
}

/// What a run's threads share: the ingest process's control and each worker's.
struct Running {
    ingest: Control,
    workers: Vec<Control>,
    threads: Vec<std::thread::JoinHandle<anyhow::Result<()>>>,
    address: SocketAddr,
}

impl Running {
    /// Events run through the rules where the events are (one process: all of them).
    fn events(&self) -> u64 {
        if self.workers.is_empty() {
            return self.ingest.metrics.engine.events.load(Ordering::Relaxed);
        }
        self.sum(|c| c.metrics.engine.events.load(Ordering::Relaxed))
    }

    fn sum(&self, f: impl Fn(&Control) -> u64) -> u64 {
        self.workers.iter().map(f).sum()
    }

    /// Events run by the workers' re-key units.
    fn rekeyed(&self) -> u64 {
        self.sum(|c| c.metrics.bus.rekeyed.load(Ordering::Relaxed))
    }

    /// Whether everything sent (`total` events) has run: read by the ingest process and, with
    /// workers, every event it published run by them (events and re-key units).
    fn caught_up(&self, total: u64) -> bool {
        let ingest = &self.ingest.metrics;
        if self.workers.is_empty() {
            return ingest.engine.events.load(Ordering::Relaxed) >= total;
        }
        // In this order: the counters published are final once nothing waits after all is read.
        let read = ingest.engine.events.load(Ordering::Relaxed) >= total;
        let waiting = ingest.bus.waiting.load(Ordering::Relaxed);
        let published = ingest.bus.published.load(Ordering::Relaxed);
        let forwarded = ingest.bus.forwarded.load(Ordering::Relaxed);
        read && waiting == 0 && self.events() >= published && self.rekeyed() >= forwarded
    }

    fn alerts(&self) -> u64 {
        if self.workers.is_empty() {
            return self.ingest.metrics.engine.alerts.load(Ordering::Relaxed);
        }
        self.sum(|c| c.metrics.engine.alerts.load(Ordering::Relaxed))
    }

    /// The latency buckets of whoever records the alerts.
    fn latency(&self) -> [u64; 32] {
        let recorders: Vec<&Control> = if self.workers.is_empty() {
            vec![&self.ingest]
        } else {
            self.workers.iter().collect()
        };
        let mut sum = [0u64; 32];
        for control in recorders {
            for (total, count) in sum
                .iter_mut()
                .zip(control.metrics.engine.latency.snapshot())
            {
                *total += count;
            }
        }
        sum
    }

    /// Waits until everything sent (`total` events) has run, re-keyed events included.
    fn wait_for(&self, total: u64) -> anyhow::Result<()> {
        let start = Instant::now();
        loop {
            if self.caught_up(total) {
                return Ok(());
            }
            if self.threads.iter().any(|t| t.is_finished()) {
                bail!("a thread of the run ended early (see the log above)");
            }
            if start.elapsed() > Duration::from_secs(1800) {
                let bus = &self.ingest.metrics.bus;
                bail!(
                    "not caught up after 30 minutes: {} events read of {total}; {} of {} \
                     published run, {} of {} re-keyed",
                    self.ingest.metrics.engine.events.load(Ordering::Relaxed),
                    self.events(),
                    bus.published.load(Ordering::Relaxed),
                    self.rekeyed(),
                    bus.forwarded.load(Ordering::Relaxed)
                );
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    fn stop(self) -> anyhow::Result<()> {
        for control in self.workers.iter().chain([&self.ingest]) {
            control.stop.store(true, Ordering::SeqCst);
        }
        for thread in self.threads {
            thread
                .join()
                .map_err(|_| anyhow::anyhow!("a thread of the run panicked"))??;
        }
        Ok(())
    }
}

/// Starts a run: `workers` workers (0: one process, no bus), then `secops run`.
fn start(
    dir: &Path,
    url: &str,
    nats: &str,
    run: usize,
    workers: usize,
    args: &BusBenchArgs,
) -> anyhow::Result<Running> {
    std::fs::create_dir_all(dir)?;
    // Streams, subjects, schema and folder of this run's own: a run repeated later in the same
    // invocation starts from nothing, as the first did.
    let bus = if workers == 0 {
        String::new()
    } else {
        format!(
            "[bus]\nservers = [\"{nats}\"]\nname = \"BENCH{run}_{pid}\"\nprefix = \"bench{run}p{pid}\"\n\
             partitions = {}\nmax_mb = {max_mb}\n\n",
            args.partitions,
            pid = std::process::id(),
            // The streams sized for the run (a few dozen bytes an event, with room), not the
            // default 8 GB each: the server reserves each stream's limit from its storage, and
            // a run repeated in one invocation makes streams of its own.
            max_mb = 256 + args.events / 5_000
        )
    };
    let text = format!(
        "name = \"bench\"\n\n[store]\ndatabase_url = \"{url}\"\naudit_key = \"audit-key\"\n\n{bus}\
         [[listen]]\nkind = \"syslog-tcp\"\nname = \"tcp\"\naddress = \"127.0.0.1:0\"\nyear = 2016\n\
         max_connections = 64\n"
    );
    let config_path = dir.join("secops.toml");
    std::fs::write(&config_path, text)?;
    let config = Config::load(&config_path)?;
    let open = |who: &str| {
        crate::cmd::run::store_args(&config, &config_path).open_as(&Actor::service(who))
    };
    let mut running = Running {
        ingest: Control::default(),
        workers: Vec::new(),
        threads: Vec::new(),
        address: SocketAddr::from(([127, 0, 0, 1], 0)),
    };
    for i in 0..workers {
        let control = Control::default();
        let store = open("worker")?;
        let (config, config_path, thread_control) =
            (config.clone(), config_path.clone(), control.clone());
        running.threads.push(
            std::thread::Builder::new()
                .name(format!("worker w{i}"))
                .spawn(move || {
                    secops_live::worker::work(
                        &config,
                        &config_path,
                        store,
                        &format!("w{i}"),
                        &thread_control,
                    )?;
                    Ok(())
                })?,
        );
        running.workers.push(control);
    }
    if workers > 0 {
        // Every unit owned once (events and re-key units of every partition) before the first
        // event, as in a running deployment.
        let units = 2 * args.partitions as usize;
        let start = Instant::now();
        loop {
            let owned: Vec<usize> = running
                .workers
                .iter()
                .map(|c| c.metrics.bus.units.lock().map_or(0, |u| u.len()))
                .collect();
            if owned.iter().sum::<usize>() == units && owned.iter().all(|n| *n == units / workers) {
                break;
            }
            if start.elapsed() > Duration::from_secs(120) {
                bail!("the workers did not settle on the units within 120 s ({owned:?})");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    let store = open("run")?;
    let (address_sender, address) = std::sync::mpsc::channel();
    let (thread_control, thread_config) = (running.ingest.clone(), config.clone());
    running.threads.push(
        std::thread::Builder::new()
            .name("secops run".into())
            .spawn(move || {
                secops_live::run(
                    &thread_config,
                    &config_path,
                    store,
                    false,
                    &thread_control,
                    &mut |bound| {
                        let _ = address_sender.send(bound.iter().find_map(|b| b.address));
                    },
                )?;
                Ok(())
            })?,
    );
    let Some(address) = address.recv_timeout(Duration::from_secs(120))? else {
        bail!("the listener did not start");
    };
    running.address = address;
    Ok(running)
}

/// Sends `lines` spread over the connections, at `rate` a second in all when given.
fn send_all(
    running: &Running,
    messages: &Arc<Vec<String>>,
    lines: std::ops::Range<u64>,
    args: &BusBenchArgs,
    rate: Option<f64>,
) -> anyhow::Result<()> {
    let connections = args.connections.max(1) as u64;
    let senders: Vec<_> = (0..connections)
        .map(|c| {
            let (messages, address, hosts) = (messages.clone(), running.address, args.hosts);
            let lines = (lines.start + c..lines.end).step_by(connections as usize);
            let per = rate.map(|r| r / connections as f64);
            std::thread::spawn(move || send(address, &messages, lines, hosts, per))
        })
        .collect();
    for sender in senders {
        sender
            .join()
            .map_err(|_| anyhow::anyhow!("a sender failed"))??;
    }
    Ok(())
}

/// One run: full rate, then `half` events a second (the single process's half rate; none: this is
/// the single process, half its own).
#[allow(clippy::too_many_arguments)]
fn measure(
    label: &str,
    dir: &Path,
    url: &str,
    nats: &NatsTarget,
    run: usize,
    workers: usize,
    half: Option<f64>,
    messages: &Arc<Vec<String>>,
    args: &BusBenchArgs,
) -> anyhow::Result<Measured> {
    let running = start(dir, url, &nats.url, run, workers, args)?;
    let total = args.events;
    let cpu0 = Cpu::now(nats.pid);
    let start = Instant::now();
    send_all(&running, messages, 0..total, args, None)?;
    running.wait_for(total)?;
    let elapsed = start.elapsed().as_secs_f64();
    let cpu = Cpu::now(nats.pid).since(&cpu0);
    let millions = total as f64 / 1e6;
    let rate = total as f64 / elapsed;
    let half = half.unwrap_or(rate / 2.0);
    let count = (half * args.seconds as f64) as u64;
    // The full rate's last alerts committed before latency is measured (their events waited in a
    // backlog that the half rate does not have).
    std::thread::sleep(Duration::from_secs(2));
    let before = running.latency();
    send_all(&running, messages, total..total + count, args, Some(half))?;
    running.wait_for(total + count)?;
    // The last alerts' commit.
    std::thread::sleep(Duration::from_millis(800));
    let after = running.latency();
    let counts: [u64; 32] = std::array::from_fn(|i| after[i].saturating_sub(before[i]));
    let (p50, samples) = Latency::quantile_of(&counts, 0.5);
    let (p99, _) = Latency::quantile_of(&counts, 0.99);
    let bus = &running.ingest.metrics.bus;
    let published = bus.published.load(Ordering::Relaxed) + bus.forwarded.load(Ordering::Relaxed);
    let measured = Measured {
        label: label.to_string(),
        rate,
        cpu: (cpu.0 / millions, cpu.1 / millions, cpu.2 / millions),
        alerts: running.alerts(),
        published: bus.published.load(Ordering::Relaxed),
        rekeyed: running.rekeyed(),
        bytes_per_event: if published > 0 {
            bus.bytes_out.load(Ordering::Relaxed) as f64 / published as f64
        } else {
            0.0
        },
        half_rate: half,
        p50,
        p99,
        samples,
    };
    running.stop()?;
    Ok(measured)
}

/// The NATS server used: its URL, and its process id when started here.
struct NatsTarget {
    url: String,
    pid: Option<u32>,
}

pub fn run(args: BusBenchArgs) -> anyhow::Result<Outcome> {
    let messages = Arc::new(messages(&args.corpus)?);
    let dir = tempfile::tempdir()?;
    let server = match &args.nats {
        Some(_) => None,
        None => Some(NatsServer::start(dir.path())?),
    };
    let nats = NatsTarget {
        url: args
            .nats
            .clone()
            .or_else(|| server.as_ref().map(|s| s.url.clone()))
            .unwrap_or_default(),
        pid: server.as_ref().map(|s| s.child.id()),
    };
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    println!(
        "secops run over syslog/TCP on loopback, the bundled pack, PostgreSQL; {} events from {} hosts, {} connection(s), {} partitions; {cores} cores shared by everything (generator, ingest, workers, NATS, PostgreSQL)",
        args.events, args.hosts, args.connections, args.partitions
    );
    let mut client = postgres::Client::connect(&args.database_url, postgres::NoTls)
        .with_context(|| format!("{} (--database-url)", args.database_url))?;
    let separator = if args.database_url.contains('?') {
        '&'
    } else {
        '?'
    };
    // Each run with the number of workers it had (0: one process).
    let mut results: Vec<(usize, Measured)> = Vec::new();
    let mut outcome = Ok(());
    for (run, &workers) in args.runs.iter().enumerate() {
        let label = match workers {
            0 => "one process".to_string(),
            1 => "bus, 1 worker".to_string(),
            n => format!("bus, {n} workers"),
        };
        let label = label.as_str();
        let schema = format!("bench_bus_{}_{run}", std::process::id());
        let url = format!("{}{separator}schema={schema}", args.database_url);
        let half = results.first().map(|(_, m)| m.half_rate);
        let result = measure(
            label,
            &dir.path().join(format!("run{run}")),
            &url,
            &nats,
            run,
            workers,
            half,
            &messages,
            &args,
        );
        let _ = client.batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"));
        match result {
            Ok(m) => {
                println!(
                    "{:<15} {:>9.0} events/s; CPU per million events {:>6.2} s (secops {:.2}, NATS {:.2}, PostgreSQL {:.2}); {} alerts{}; ingest-to-alert at {:.0}/s p50 {} p99 {} ({} alerts)",
                    m.label,
                    m.rate,
                    m.cpu_total(),
                    m.cpu.0,
                    m.cpu.1,
                    m.cpu.2,
                    m.alerts,
                    if workers > 0 {
                        format!(
                            ", {} events to the events units and {} re-keyed, {:.0} bytes an \
                             event on the bus",
                            m.published, m.rekeyed, m.bytes_per_event
                        )
                    } else {
                        String::new()
                    },
                    m.half_rate,
                    m.p50.map_or("-".into(), |v| format!("<= {v} ms")),
                    m.p99.map_or("-".into(), |v| format!("<= {v} ms")),
                    m.samples
                );
                results.push((workers, m));
            }
            Err(e) => {
                outcome = Err(e.context(label.to_string()));
                break;
            }
        }
    }
    outcome?;
    for line in comparisons(&results) {
        println!("{line}");
    }
    println!("peak memory of this process (every run): {}", format_peak());
    Ok(Outcome::Clean)
}

/// Each bus run against the one-process run before it (or the first run), and, when a kind of run
/// was repeated, the medians of each kind and of the rounds' ratios: the machine's speed drifts
/// between runs, and runs taken in turns (`--runs 0,1,2,0,1,2,...`) share the drift.
fn comparisons(results: &[(usize, Measured)]) -> Vec<String> {
    let mut lines = Vec::new();
    let mut single: Option<&Measured> = None;
    // Per number of workers: the CPU per event of each run, and its ratio to its one process.
    let mut kinds: std::collections::BTreeMap<usize, (Vec<f64>, Vec<f64>)> = Default::default();
    for (workers, m) in results {
        let kind = kinds.entry(*workers).or_default();
        kind.0.push(m.cpu_total());
        if *workers == 0 {
            single = Some(m);
            continue;
        }
        let Some(base) = single.or(results.first().map(|(_, m)| m)) else {
            continue;
        };
        let ratio = m.cpu_total() / base.cpu_total() - 1.0;
        kind.1.push(ratio);
        lines.push(format!(
            "{}: CPU per event {:+.0}% against {} before it (target: at most +20%); {}",
            m.label,
            ratio * 100.0,
            base.label,
            if m.alerts == base.alerts {
                "the same alerts raised".to_string()
            } else {
                format!("{} alerts raised against {}", m.alerts, base.alerts)
            }
        ));
    }
    if kinds.values().any(|(cpu, _)| cpu.len() > 1) {
        let parts: Vec<String> = kinds
            .iter()
            .map(|(workers, (cpu, ratios))| {
                let what = match workers {
                    0 => "one process".to_string(),
                    1 => "1 worker".to_string(),
                    n => format!("{n} workers"),
                };
                let mut part = format!(
                    "{what} {:.2} s ({} runs, {:.2} to {:.2})",
                    median(cpu),
                    cpu.len(),
                    cpu.iter().copied().fold(f64::INFINITY, f64::min),
                    cpu.iter().copied().fold(f64::NEG_INFINITY, f64::max)
                );
                if !ratios.is_empty() {
                    part.push_str(&format!(
                        ", {:+.0}% against its one process (rounds {:+.0}% to {:+.0}%)",
                        median(ratios) * 100.0,
                        ratios.iter().copied().fold(f64::INFINITY, f64::min) * 100.0,
                        ratios.iter().copied().fold(f64::NEG_INFINITY, f64::max) * 100.0
                    ));
                }
                part
            })
            .collect();
        lines.push(format!(
            "medians of CPU per million events: {}",
            parts.join("; ")
        ));
    }
    lines
}

/// The middle value (the mean of the two middle ones for an even count); 0 for none.
fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let n = sorted.len();
    match n {
        0 => 0.0,
        _ if n % 2 == 1 => sorted[n / 2],
        _ => (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(label: &str, cpu: f64, alerts: u64) -> Measured {
        Measured {
            label: label.to_string(),
            rate: 1.0,
            cpu: (cpu, 0.0, 0.0),
            alerts,
            published: 0,
            rekeyed: 0,
            bytes_per_event: 0.0,
            half_rate: 1.0,
            p50: None,
            p99: None,
            samples: 0,
        }
    }

    #[test]
    fn each_bus_run_is_compared_with_the_one_process_run_before_it_and_rounds_get_medians() {
        let results = vec![
            (0, run("one process", 10.0, 5)),
            (1, run("bus, 1 worker", 12.0, 5)),
            (0, run("one process", 6.0, 5)),
            (1, run("bus, 1 worker", 9.0, 4)),
            (0, run("one process", 8.0, 5)),
            (1, run("bus, 1 worker", 8.8, 5)),
        ];
        let lines = comparisons(&results);
        assert_eq!(lines.len(), 4, "{lines:#?}");
        assert!(lines[0].starts_with("bus, 1 worker: CPU per event +20% against one process"));
        assert!(lines[1].contains("+50%") && lines[1].contains("4 alerts raised against 5"));
        assert!(lines[2].contains("+10%") && lines[2].ends_with("the same alerts raised"));
        assert_eq!(
            lines[3],
            "medians of CPU per million events: one process 8.00 s (3 runs, 6.00 to 10.00); \
             1 worker 9.00 s (3 runs, 8.80 to 12.00), +20% against its one process (rounds +10% \
             to +50%)"
        );
        // One round: no medians line.
        assert_eq!(comparisons(&results[..2]).len(), 1);
        assert_eq!(median(&[3.0, 1.0, 2.0, 10.0]), 2.5);
        assert_eq!(median(&[]), 0.0);
    }
}
