//! `secops bench ...`: throughput and peak memory, each measured the way the command itself runs:
//! `ingest` (events per second per format), `detect` and `rules` (detection with the bundled pack or
//! rule folders), `intel` (indicator matching), `store` (alerts recorded and listed). This file holds
//! what they share: the measured run, the peak-memory reset and the input generators.

mod bus;
mod detect;
mod evtx_log;
mod generate;
mod hunt;
mod ingest;
mod intel;
mod live;
mod serve;
mod store;
mod vuln;

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use anyhow::{bail, Context};
use secops_ingest::parallel::{read_all, Consumer, Order};
use secops_ingest::{expand, IngestError, Input, Options, Summary};

use crate::memory::peak_rss_bytes;
use crate::Outcome;

#[derive(Debug, clap::Subcommand)]
pub enum Bench {
    /// Parse throughput per format.
    Ingest(IngestArgs),
    /// Detection throughput with the bundled rule pack (parsing included).
    Detect(IngestArgs),
    /// One full detection run with the given rules (Sigma folders, typically) over the given logs:
    /// rules loaded and load time, events, wall time, events/s, peak memory, alerts.
    Rules(RulesArgs),
    /// Indicator matching: the bundled pack over generated Zeek connections, without indicators and
    /// with millions loaded; the index's build time and memory, and the cost to detection.
    Intel(IntelArgs),
    /// The store: alerts recorded (in batches, as detect records them), recorded again (every one a
    /// duplicate), listed, and cases opened from them; on SQLite, and on PostgreSQL with
    /// --database-url.
    Store(StoreBenchArgs),
    /// Writes the large inputs detection is measured on (built from the shared corpora): OpenSSH_2k
    /// repeated a day apart, a distributed brute force, the EVTX corpus copied, Windows events as JSON
    /// lines.
    Generate(generate::GenerateArgs),
    /// The event lake and hunts at scale: generated events (hosts, users, executables and
    /// connections with stated distributions) written to a lake from JSON lines and directly, then a
    /// stacking hunt, a one-user lookup and a beaconing hunt with lag, timed with peak memory.
    Hunt(hunt::HuntArgs),
    /// The API under load: a store of generated alerts (a million by default), the server on
    /// loopback, the first and a deep page of open alerts (alone and with a host filter) and the open
    /// alerts grouped by rule timed with oha, and bulk closes of 1,000 alerts; on SQLite, and on
    /// PostgreSQL with --database-url.
    Serve(serve::ServeBenchArgs),
    /// `secops run` end to end: syslog over TCP on loopback through the journal, the bundled pack
    /// and a SQLite store with checkpoints, the load generator in the same process; events/s at full
    /// rate, then ingest-to-alert latency at half that rate.
    Live(live::LiveBenchArgs),
    /// Detection spread over workers on NATS JetStream (`[bus]`) against one process on the same
    /// input: events/s and CPU seconds per million events (this process, NATS and PostgreSQL) with
    /// one process, one worker and two workers, and ingest-to-alert latency at half rate.
    Bus(bus::BusBenchArgs),
    /// Vulnerability findings: a 100,000-finding Trivy report (built from the shared corpus)
    /// imported and imported again, seconds and peak memory; a large `.nessus` with --nessus-mb;
    /// on SQLite, and on PostgreSQL with --database-url.
    Vuln(vuln::VulnBenchArgs),
}

#[derive(Debug, clap::Args)]
pub struct StoreBenchArgs {
    /// Alerts to record.
    #[arg(long, default_value_t = 100_000)]
    alerts: usize,
    /// Alerts per transaction.
    #[arg(long, default_value_t = 1_000)]
    batch: usize,
    /// Also measure PostgreSQL at this URL (a scratch schema is created and dropped).
    #[arg(long = "database-url")]
    database_url: Option<String>,
}

#[derive(Debug, clap::Args)]
pub struct IntelArgs {
    /// Indicators to load (IPv4 addresses, a tenth of them /24 networks, and as many domains).
    #[arg(long, default_value_t = 1_000_000)]
    indicators: usize,
    /// Zeek connection events to generate.
    #[arg(long, default_value_t = 500_000)]
    events: usize,
    /// Runs per measurement; the median is reported.
    #[arg(long, default_value_t = 3)]
    runs: usize,
}

#[derive(Debug, clap::Args)]
pub struct RulesArgs {
    /// Log files or folders.
    #[arg(required = true)]
    paths: Vec<String>,
    #[command(flatten)]
    rules: crate::args::RuleArgs,
    /// Runs; the median wall time is reported.
    #[arg(long, default_value_t = 3)]
    runs: usize,
}

#[derive(Debug, clap::Args)]
pub struct IngestArgs {
    /// The shared corpora folder.
    #[arg(long, default_value = "../shared/corpus")]
    corpus: PathBuf,
    /// Lines in each generated text input (syslog; the other text formats get a quarter).
    #[arg(long, default_value_t = 1_000_000)]
    lines: usize,
    /// Runs per measurement; the median is reported.
    #[arg(long, default_value_t = 5)]
    runs: usize,
    /// How many times the EVTX corpus is read per run (one pass takes about 0.15 s, too short to time).
    #[arg(long, default_value_t = 5)]
    evtx_passes: usize,
    /// `bench detect`: also measure each input with entity resolution on (`detect --entities`), the
    /// two modes' runs alternating.
    #[arg(long)]
    entities: bool,
    /// `bench detect`: only the rows whose input name contains this (`--only "1 file"`).
    #[arg(long)]
    only: Option<String>,
}

pub fn run(bench: Bench) -> anyhow::Result<Outcome> {
    match bench {
        Bench::Ingest(args) => ingest::run(args),
        Bench::Detect(args) => detect::run(args),
        Bench::Rules(args) => detect::rules(args),
        Bench::Intel(args) => intel::run(args),
        Bench::Store(args) => store::run(args),
        Bench::Generate(args) => generate::run(args),
        Bench::Hunt(args) => hunt::run(args),
        Bench::Serve(args) => serve::run(args),
        Bench::Live(args) => live::run(args),
        Bench::Bus(args) => bus::run(args),
        Bench::Vuln(args) => vuln::run(args),
    }
}

/// Counts inputs that could not be read (records are counted on the workers).
#[derive(Default)]
struct Failed(usize);

impl Consumer<()> for Failed {
    fn record(&mut self, _index: usize, _item: ()) {}
    fn done(&mut self, _index: usize, summary: Result<Summary, IngestError>) {
        self.0 += usize::from(summary.is_err());
    }
}

struct Row {
    name: String,
    inputs: usize,
    bytes: u64,
    events: u64,
    seconds: f64,
    /// Peak resident memory during the measurement, in bytes.
    peak: u64,
}

fn measure(name: &str, inputs: &[Input], options: &Options, runs: usize) -> anyhow::Result<Row> {
    let bytes = inputs.iter().filter_map(Input::size_bytes).sum();
    // (seconds, events, peak bytes) per run
    let mut runs_seen: Vec<(f64, u64, u64)> = Vec::new();
    for _ in 0..runs.max(1) {
        reset_peak();
        let (events, rejected) = (AtomicU64::new(0), AtomicU64::new(0));
        let mut failed = Failed::default();
        let start = Instant::now();
        // Records are counted where they are parsed; nothing per record crosses to this thread.
        let count = |record: Result<secops_event::Event, secops_ingest::Rejection>| {
            let counter = if record.is_ok() { &events } else { &rejected };
            counter.fetch_add(1, Ordering::Relaxed);
            None::<()>
        };
        read_all(inputs, options, Order::Completion, 0, count, &mut failed);
        let seconds = start.elapsed().as_secs_f64();
        let rejected = rejected.load(Ordering::Relaxed);
        if failed.0 > 0 || rejected > 0 {
            bail!(
                "{name}: {} inputs failed and {rejected} records were rejected",
                failed.0
            );
        }
        runs_seen.push((
            seconds,
            events.load(Ordering::Relaxed),
            peak_rss_bytes().unwrap_or(0),
        ));
    }
    runs_seen.sort_by(|a, b| a.0.total_cmp(&b.0));
    let (seconds, events, peak) = runs_seen[runs_seen.len() / 2];
    Ok(Row {
        name: name.to_string(),
        inputs: inputs.len(),
        bytes,
        events,
        seconds,
        peak,
    })
}

/// Resets the kernel's peak-RSS mark (Linux), so each measurement reports its own peak.
fn reset_peak() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// Writes `lines` lines cycling through the non-blank lines of `sources` into `count` files under `dir`.
fn repeat_lines(
    dir: &Path,
    stem: &str,
    sources: &[String],
    lines: usize,
    count: usize,
) -> anyhow::Result<Vec<Input>> {
    let pool: Vec<&str> = sources
        .iter()
        .flat_map(|s| s.lines())
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .collect();
    let header: Vec<&str> = sources
        .iter()
        .flat_map(|s| s.lines())
        .filter(|l| l.starts_with('#'))
        .collect();
    if pool.is_empty() {
        bail!("no lines to repeat for {stem}");
    }
    let mut inputs = Vec::new();
    for part in 0..count {
        let path = dir.join(format!("{stem}-{part}.log"));
        let mut out = BufWriter::new(File::create(&path)?);
        for line in &header {
            writeln!(out, "{line}")?;
        }
        for i in 0..lines / count {
            writeln!(out, "{}", pool[i % pool.len()])?;
        }
        out.flush()?;
        inputs.push(Input::File(path));
    }
    Ok(inputs)
}

fn samples_dir() -> PathBuf {
    let here = PathBuf::from("samples");
    if here.is_dir() {
        return here;
    }
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../samples")
}

/// The EVTX files of the shared corpora, when they are there.
fn evtx_files(corpus: &Path) -> Option<Vec<Input>> {
    let dir = corpus.join("evtx");
    if !dir.is_dir() {
        return None;
    }
    let (inputs, _) = expand(&[dir.display().to_string()]);
    Some(
        inputs
            .into_iter()
            .filter(|i| i.name().ends_with(".evtx"))
            .collect(),
    )
}

/// The real OpenSSH and Linux logs of the shared corpora, when they are there.
fn linux_logs(corpus: &Path) -> anyhow::Result<Option<Vec<String>>> {
    let linux = corpus.join("linux");
    if !linux.is_dir() {
        return Ok(None);
    }
    Ok(Some(vec![
        read(&linux.join("OpenSSH_2k.log"))?,
        read(&linux.join("Linux_2k.log"))?,
    ]))
}

/// An RFC 3164 syslog line's time, read in 2016 (the year of the corpora's logs), and the rest of the
/// line after the stamp.
fn syslog_time(line: &str) -> Option<(chrono::NaiveDateTime, &str)> {
    let stamp = line.get(..15)?;
    let time = chrono::NaiveDateTime::parse_from_str(&format!("2016 {stamp}"), "%Y %b %e %H:%M:%S")
        .ok()?;
    Some((time, &line[15..]))
}

/// `time` as an RFC 3164 stamp (`Dec 10 07:13:43`).
fn syslog_stamp(time: chrono::NaiveDateTime) -> impl std::fmt::Display {
    time.format("%b %e %H:%M:%S")
}

fn read(path: &Path) -> anyhow::Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))
}
