//! `secops bench ingest`: events per second and peak memory per format, on the shared corpora (when
//! `../shared` is there) and on larger inputs built from them by repetition.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context};
use rayon::prelude::*;
use secops_ingest::parallel::{read_all, Consumer};
use secops_ingest::{expand, IngestError, Input, Options, Summary};

use crate::memory::{format_peak, peak_rss_bytes};
use crate::Outcome;

#[derive(Debug, clap::Subcommand)]
pub enum Bench {
    /// Parse throughput per format.
    Ingest(IngestArgs),
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
}

pub fn run(bench: Bench) -> anyhow::Result<Outcome> {
    match bench {
        Bench::Ingest(args) => ingest(args),
    }
}

/// Counts events and rejections.
#[derive(Default)]
struct Count {
    events: u64,
    rejected: u64,
    failed: usize,
}

impl Consumer<bool> for Count {
    fn record(&mut self, _index: usize, ok: bool) {
        if ok {
            self.events += 1;
        } else {
            self.rejected += 1;
        }
    }
    fn done(&mut self, _index: usize, summary: Result<Summary, IngestError>) {
        if summary.is_err() {
            self.failed += 1;
        }
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
    let mut runs_seen: Vec<(f64, Count, u64)> = Vec::new();
    for _ in 0..runs.max(1) {
        reset_peak();
        let start = Instant::now();
        let mut count = Count::default();
        read_all(
            inputs,
            options,
            0,
            |record| Some(record.is_ok()),
            &mut count,
        );
        let seconds = start.elapsed().as_secs_f64();
        if count.failed > 0 || count.rejected > 0 {
            bail!(
                "{name}: {} inputs failed and {} records were rejected",
                count.failed,
                count.rejected
            );
        }
        let peak = peak_rss_bytes().unwrap_or(0);
        runs_seen.push((seconds, count, peak));
    }
    runs_seen.sort_by(|a, b| a.0.total_cmp(&b.0));
    let middle = runs_seen.len() / 2;
    let (seconds, count, peak) = runs_seen.swap_remove(middle);
    Ok(Row {
        name: name.to_string(),
        inputs: inputs.len(),
        bytes,
        events: count.events,
        seconds,
        peak,
    })
}

/// Resets the kernel's peak-RSS mark (Linux), so each measurement reports its own peak.
fn reset_peak() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// The `evtx` crate alone: every record to a JSON value, files in parallel, nothing else.
fn evtx_crate_baseline(inputs: &[Input], runs: usize) -> anyhow::Result<Row> {
    let paths: Vec<&Path> = inputs
        .iter()
        .filter_map(|i| match i {
            Input::File(p) => Some(p.as_path()),
            Input::Stdin => None,
        })
        .collect();
    let mut times = Vec::new();
    let mut events = 0;
    let mut peak = 0;
    for _ in 0..runs.max(1) {
        reset_peak();
        let start = Instant::now();
        events = paths
            .par_iter()
            .map(|path| {
                let Ok(parser) = evtx::EvtxParser::from_path(path) else {
                    return 0;
                };
                let settings = evtx::ParserSettings::new().num_threads(1).indent(false);
                let mut parser = parser.with_configuration(settings);
                parser.records_json_value().filter(|r| r.is_ok()).count() as u64
            })
            .sum();
        times.push(start.elapsed().as_secs_f64());
        peak = peak.max(peak_rss_bytes().unwrap_or(0));
    }
    times.sort_by(f64::total_cmp);
    let best = times[times.len() / 2];
    Ok(Row {
        name: "evtx crate alone (baseline)".into(),
        inputs: paths.len(),
        bytes: inputs.iter().filter_map(Input::size_bytes).sum(),
        events,
        seconds: best,
        peak,
    })
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

fn read(path: &Path) -> anyhow::Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))
}

fn ingest(args: IngestArgs) -> anyhow::Result<Outcome> {
    let threads = rayon::current_num_threads();
    let dir = tempfile::tempdir().context("creating a scratch folder")?;
    let samples = samples_dir();
    let mut rows = Vec::new();
    let evtx_dir = args.corpus.join("evtx");
    if evtx_dir.is_dir() {
        let (inputs, _) = expand(&[evtx_dir.display().to_string()]);
        let once: Vec<Input> = inputs
            .into_iter()
            .filter(|i| i.name().ends_with(".evtx"))
            .collect();
        eprintln!(
            "bench: {} EVTX files, read {} times per run",
            once.len(),
            args.evtx_passes
        );
        let inputs: Vec<Input> = (0..args.evtx_passes.max(1))
            .flat_map(|_| once.iter().cloned())
            .collect();
        rows.push(evtx_crate_baseline(&inputs, args.runs)?);
        rows.push(measure(
            "evtx (secops, normalized)",
            &inputs,
            &Options::default(),
            args.runs,
        )?);
        // Windows events as evtx_dump-style JSON lines, built from the same records.
        let parts = write_windows_jsonl(&once, dir.path(), args.lines / 4, threads)?;
        rows.push(measure(
            "json lines (Windows events)",
            &parts,
            &Options::default(),
            args.runs,
        )?);
    } else {
        eprintln!(
            "bench: {} not found; EVTX and Windows JSON lines skipped",
            evtx_dir.display()
        );
    }
    let linux = args.corpus.join("linux");
    let syslog_sources = if linux.is_dir() {
        vec![
            read(&linux.join("OpenSSH_2k.log"))?,
            read(&linux.join("Linux_2k.log"))?,
        ]
    } else {
        eprintln!(
            "bench: {} not found; syslog uses the bundled sample",
            linux.display()
        );
        vec![read(&samples.join("auth.log"))?]
    };
    let year = Options {
        year: Some(2016),
        ..Options::default()
    };
    let inputs = repeat_lines(dir.path(), "syslog", &syslog_sources, args.lines, threads)?;
    rows.push(measure(
        "syslog (sshd, pam, su)",
        &inputs,
        &year,
        args.runs,
    )?);
    for (name, file) in [
        ("apache_access", "access.log"),
        ("apache_error", "apache_error.log"),
        ("cef", "firewall.cef"),
        ("zeek (conn, TSV)", "zeek/conn.log"),
        ("cloudtrail (one per line)", "cloudtrail.jsonl"),
    ] {
        let source = read(&samples.join(file))?;
        let stem = file.replace(['/', '.'], "_");
        let inputs = repeat_lines(dir.path(), &stem, &[source], args.lines / 4, threads)?;
        rows.push(measure(name, &inputs, &Options::default(), args.runs)?);
    }
    println!(
        "{:<30} {:>6} {:>10} {:>9} {:>12} {:>9} {:>9}",
        "INPUT", "FILES", "EVENTS", "SECONDS", "EVENTS/S", "MB/S", "PEAK MB"
    );
    for row in &rows {
        println!(
            "{:<30} {:>6} {:>10} {:>9.3} {:>12.0} {:>9.1} {:>9.1}",
            row.name,
            row.inputs,
            row.events,
            row.seconds,
            row.events as f64 / row.seconds,
            row.bytes as f64 / 1e6 / row.seconds,
            row.peak as f64 / 1e6
        );
    }
    if let (Some(base), Some(ours)) = (
        rows.first().filter(|r| r.name.starts_with("evtx crate")),
        rows.get(1),
    ) {
        println!(
            "evtx: secops takes {:.2}x the evtx crate's own parse time",
            ours.seconds / base.seconds
        );
    }
    println!(
        "threads: {threads}; peak memory (whole run): {}",
        format_peak()
    );
    Ok(Outcome::Clean)
}

/// One JSON line per EVTX record, in evtx_dump's layout, cycling until `lines` are written, dealt into
/// `parts` files.
fn write_windows_jsonl(
    inputs: &[Input],
    dir: &Path,
    lines: usize,
    parts: usize,
) -> anyhow::Result<Vec<Input>> {
    let mut records = Vec::new();
    read_all(
        inputs,
        &Options::default(),
        0,
        |record| {
            record
                .ok()
                .and_then(|e| e.get("Event").map(|v| format!("{{\"Event\":{v}}}")))
        },
        &mut Collect(&mut records),
    );
    if records.is_empty() {
        bail!("no EVTX records to write as JSON");
    }
    let paths: Vec<PathBuf> = (0..parts.max(1))
        .map(|i| dir.join(format!("windows-{i}.jsonl")))
        .collect();
    let mut outs = Vec::new();
    for path in &paths {
        outs.push(BufWriter::new(File::create(path)?));
    }
    let files = outs.len();
    for i in 0..lines.max(records.len()) {
        writeln!(outs[i % files], "{}", records[i % records.len()])?;
    }
    for out in &mut outs {
        out.flush()?;
    }
    Ok(paths.into_iter().map(Input::File).collect())
}

struct Collect<'a>(&'a mut Vec<String>);
impl Consumer<String> for Collect<'_> {
    fn record(&mut self, _index: usize, item: String) {
        self.0.push(item);
    }
    fn done(&mut self, _index: usize, _summary: Result<Summary, IngestError>) {}
}
