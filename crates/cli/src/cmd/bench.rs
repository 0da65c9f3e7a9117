//! `secops bench ingest`: events per second and peak memory per format, on the shared corpora (when
//! `../shared` is there) and on larger inputs built from them by repetition.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use anyhow::{bail, Context};
use rayon::prelude::*;
use secops_ingest::parallel::{read_all, Consumer, Order};
use secops_ingest::{expand, IngestError, Input, Options, Summary};

use crate::memory::{format_peak, peak_rss_bytes};
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
}

pub fn run(bench: Bench) -> anyhow::Result<Outcome> {
    match bench {
        Bench::Ingest(args) => ingest(args),
        Bench::Detect(args) => detect(args),
        Bench::Rules(args) => rules(args),
        Bench::Intel(args) => intel(args),
        Bench::Store(args) => store(args),
    }
}

/// `bench rules`: what `secops detect PATHS --rules ...` costs, rule loading included.
fn rules(args: RulesArgs) -> anyhow::Result<Outcome> {
    let (inputs, errors) = expand(&args.paths);
    if let Some(e) = errors.first() {
        bail!("{e}");
    }
    let now = secops_event::Timestamp::parse_rfc3339("2026-11-22T00:00:00Z")?;
    // (wall, load, events, alerts, rules, rejected)
    let mut results: Vec<(f64, f64, u64, usize, usize, usize)> = Vec::new();
    for _ in 0..args.runs.max(1) {
        reset_peak();
        let start = Instant::now();
        let loaded = args.rules.load()?;
        let load = start.elapsed().as_secs_f64();
        let (rule_count, rejected) = (loaded.rule_count(), loaded.rejected.len());
        let (mut engine, _) = secops_detect::Engine::with_sigma(
            &loaded.native,
            loaded.sigma,
            now,
            &secops_detect::IndicatorSet::default(),
        );
        let run = crate::cmd::run_pipeline(&mut engine, &inputs, &Options::default(), false);
        results.push((
            start.elapsed().as_secs_f64(),
            load,
            run.events,
            run.alerts.len(),
            rule_count,
            rejected,
        ));
    }
    results.sort_by(|a, b| a.0.total_cmp(&b.0));
    let (wall, load, events, alerts, rule_count, rejected) = results[results.len() / 2];
    println!("rules loaded      {rule_count} ({rejected} rejected)");
    println!("load time         {load:.3} s");
    println!("inputs            {}", inputs.len());
    println!("events            {events}");
    println!(
        "wall time         {wall:.3} s (median of {})",
        results.len()
    );
    println!("events/s          {:.0}", events as f64 / wall.max(1e-9));
    println!("peak memory       {}", format_peak());
    println!("alerts            {alerts}");
    Ok(Outcome::Clean)
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
        let records = collect_lines(&once, &Options::default(), |e| {
            e.get("Event").map(|v| format!("{{\"Event\":{v}}}"))
        })?;
        let parts = write_cycled(&records, dir.path(), "windows", args.lines / 4, threads)?;
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
    // Typical JSON lines: the same syslog events as ECS documents.
    let small = repeat_lines(dir.path(), "syslog-small", &syslog_sources, 4000, 1)?;
    let records = collect_lines(&small, &year, |e| Some(e.to_json().to_string()))?;
    let average = records.iter().map(String::len).sum::<usize>() / records.len();
    let parts = write_cycled(&records, dir.path(), "ecs", args.lines, threads)?;
    let name = format!("json lines (ECS, ~{average} B)");
    rows.push(measure(&name, &parts, &Options::default(), args.runs)?);
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

/// Reads `inputs` and keeps one line per record, as `render` makes it.
fn collect_lines(
    inputs: &[Input],
    options: &Options,
    render: impl Fn(secops_event::Event) -> Option<String> + Sync,
) -> anyhow::Result<Vec<String>> {
    let mut lines = Vec::new();
    read_all(
        inputs,
        options,
        Order::Completion,
        0,
        |record| record.ok().and_then(&render),
        &mut Collect(&mut lines),
    );
    if lines.is_empty() {
        bail!("no records to write");
    }
    Ok(lines)
}

/// Writes `lines` lines cycling through `records`, dealt into `parts` files named after `stem`.
fn write_cycled(
    records: &[String],
    dir: &Path,
    stem: &str,
    lines: usize,
    parts: usize,
) -> anyhow::Result<Vec<Input>> {
    let paths: Vec<PathBuf> = (0..parts.max(1))
        .map(|i| dir.join(format!("{stem}-{i}.jsonl")))
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

/// One detection pass as `secops detect` runs it. Returns (seconds, events, selected, alerts).
fn detect_pass(
    inputs: &[Input],
    options: &Options,
    rules: &[secops_rules::CheckedRule],
) -> anyhow::Result<(f64, u64, u64, u64)> {
    detect_pass_with(
        inputs,
        options,
        rules,
        &secops_detect::IndicatorSet::default(),
    )
}

/// [`detect_pass`] with indicators for threat_match rules.
fn detect_pass_with(
    inputs: &[Input],
    options: &Options,
    rules: &[secops_rules::CheckedRule],
    indicators: &secops_detect::IndicatorSet,
) -> anyhow::Result<(f64, u64, u64, u64)> {
    let now = secops_event::Timestamp::parse_rfc3339("2026-11-22T00:00:00Z")?;
    let start = Instant::now();
    let (mut engine, errors) = secops_detect::Engine::with_indicators(rules, now, indicators);
    if let Some((id, e)) = errors.first() {
        bail!("rule {id}: {e}");
    }
    let run = crate::cmd::run_pipeline(&mut engine, inputs, options, false);
    Ok((
        start.elapsed().as_secs_f64(),
        run.events,
        run.selected,
        run.alerts.len() as u64,
    ))
}

fn detect(args: IngestArgs) -> anyhow::Result<Outcome> {
    let threads = rayon::current_num_threads();
    let dir = tempfile::tempdir().context("creating a scratch folder")?;
    let loaded = crate::args::RuleArgs::default().load()?;
    if let Some(e) = loaded.rejected.first() {
        bail!("bundled rule: {e}");
    }
    let rules = loaded.native;
    let stateless: Vec<secops_rules::CheckedRule> = rules
        .iter()
        .filter(|r| r.file.rule.rule_type == secops_rules::RuleType::Query)
        .cloned()
        .collect();
    let linux = args.corpus.join("linux");
    let sources = if linux.is_dir() {
        vec![
            read(&linux.join("OpenSSH_2k.log"))?,
            read(&linux.join("Linux_2k.log"))?,
        ]
    } else {
        vec![read(&samples_dir().join("auth.log"))?]
    };
    let year = Options {
        year: Some(2016),
        ..Options::default()
    };
    let syslog = repeat_days(dir.path(), &sources, args.lines, threads)?;
    let one_file = repeat_days(dir.path(), &sources, args.lines, 1)?;
    // Lean runs first: the allocator keeps memory a buffered run took, which would show in later peaks.
    let mut suites: Vec<(String, Vec<Input>, Options, &[secops_rules::CheckedRule])> = vec![
        (
            format!("syslog 2 files, {} query rules", stateless.len()),
            syslog.clone(),
            year.clone(),
            &stateless,
        ),
        (
            format!("syslog 1 file, all {} rules", rules.len()),
            one_file,
            year.clone(),
            &rules,
        ),
        (
            format!("syslog 2 files, all {} rules", rules.len()),
            syslog,
            year.clone(),
            &rules,
        ),
    ];
    // Cost per rule type: the same input with only that type's rules.
    let by_type: Vec<(String, Vec<secops_rules::CheckedRule>)> = [
        secops_rules::RuleType::Threshold,
        secops_rules::RuleType::Eql,
        secops_rules::RuleType::NewTerms,
        secops_rules::RuleType::Anomaly,
        secops_rules::RuleType::ThreatMatch,
    ]
    .iter()
    .map(|t| {
        (
            t.as_str().to_string(),
            rules
                .iter()
                .filter(|r| r.file.rule.rule_type == *t)
                .cloned()
                .collect::<Vec<_>>(),
        )
    })
    .filter(|(_, set)| !set.is_empty())
    .collect();
    let two_files = suites[0].1.clone();
    for (kind, set) in &by_type {
        suites.push((
            format!("syslog 2 files, {} {kind}", set.len()),
            two_files.clone(),
            year.clone(),
            set,
        ));
    }
    let evtx_dir = args.corpus.join("evtx");
    if evtx_dir.is_dir() {
        let (inputs, _) = expand(&[evtx_dir.display().to_string()]);
        let once: Vec<Input> = inputs
            .into_iter()
            .filter(|i| i.name().ends_with(".evtx"))
            .collect();
        let records = collect_lines(&once, &Options::default(), |e| {
            e.get("Event").map(|v| format!("{{\"Event\":{v}}}"))
        })?;
        let parts = write_cycled(&records, dir.path(), "windows", args.lines / 4, threads)?;
        suites.push((
            format!("Windows JSON, all {} rules", rules.len()),
            parts,
            Options::default(),
            &rules,
        ));
    }
    println!(
        "{:<32} {:>10} {:>9} {:>12} {:>9} {:>7} {:>9}",
        "INPUT", "EVENTS", "SECONDS", "EVENTS/S", "SELECTED", "ALERTS", "PEAK MB"
    );
    for (name, inputs, options, set) in &suites {
        let mut runs = Vec::new();
        for _ in 0..args.runs.max(1) {
            reset_peak();
            let (seconds, events, selected, alerts) = detect_pass(inputs, options, set)?;
            runs.push((
                seconds,
                events,
                selected,
                alerts,
                peak_rss_bytes().unwrap_or(0),
            ));
        }
        runs.sort_by(|a, b| a.0.total_cmp(&b.0));
        let (seconds, events, selected, alerts, peak) = runs[runs.len() / 2];
        println!(
            "{name:<32} {events:>10} {seconds:>9.3} {:>12.0} {selected:>9} {alerts:>7} {:>9.1}",
            events as f64 / seconds,
            peak as f64 / 1e6
        );
    }
    println!(
        "threads: {threads}; median of {} runs; parsing included",
        args.runs.max(1)
    );
    Ok(Outcome::Clean)
}

/// Syslog lines repeated to `lines`, each repetition moved one day later (repeating timestamps would pile
/// every copy into the same windows, which no real log does), dealt into `parts` files in time order.
fn repeat_days(
    dir: &Path,
    sources: &[String],
    lines: usize,
    parts: usize,
) -> anyhow::Result<Vec<Input>> {
    let pool: Vec<&str> = sources
        .iter()
        .flat_map(|s| s.lines())
        .filter(|l| l.len() > 16)
        .collect();
    if pool.is_empty() {
        bail!("no syslog lines to repeat");
    }
    let per_part = lines / parts.max(1);
    let mut inputs = Vec::new();
    for part in 0..parts.max(1) {
        let path = dir.join(format!("days-{parts}-{part}.log"));
        let mut out = BufWriter::new(File::create(&path)?);
        for i in 0..per_part {
            let line = pool[i % pool.len()];
            let cycle = (part * per_part + i) / pool.len();
            let stamp = chrono::NaiveDateTime::parse_from_str(
                &format!("2016 {}", &line[..15]),
                "%Y %b %e %H:%M:%S",
            );
            match stamp {
                Ok(t) => {
                    let moved = t + chrono::Duration::days(cycle as i64 % 300);
                    writeln!(out, "{}{}", moved.format("%b %e %H:%M:%S"), &line[15..])?;
                }
                Err(_) => writeln!(out, "{line}")?,
            }
        }
        out.flush()?;
        inputs.push(Input::File(path));
    }
    Ok(inputs)
}

/// A deterministic stream of 32-bit numbers (xorshift), for generated addresses.
struct Xorshift(u64);

impl Xorshift {
    fn next(&mut self) -> u32 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 16) as u32
    }

    /// A public-looking IPv4 address with the first octet in `from..from + span`.
    fn address(&mut self, from: u32, span: u32) -> std::net::Ipv4Addr {
        let n = self.next();
        let first = from + (n >> 24) % span;
        std::net::Ipv4Addr::from((first << 24) | (n & 0x00ff_ffff))
    }
}

fn intel(args: IntelArgs) -> anyhow::Result<Outcome> {
    use secops_intel::{Indicator, IndicatorIndex, Kind};
    let dir = tempfile::tempdir().context("creating a scratch folder")?;
    let mut random = Xorshift(0x9e37_79b9_7f4a_7c15);
    // Indicators: addresses, networks, domains.
    reset_peak();
    let before = peak_rss_bytes().unwrap_or(0);
    let start = Instant::now();
    let mut index = IndicatorIndex::new();
    let mut listed = Vec::new();
    // Indicators in 11-110.x.x.x; ordinary traffic goes to 111-222.x.x.x, so alerts come only from
    // the listed addresses the events are made to visit.
    for n in 0..args.indicators {
        let ip = random.address(11, 100);
        let value = if n % 10 == 0 {
            let o = ip.octets();
            format!("{}.{}.{}.0/24", o[0], o[1], o[2])
        } else {
            ip.to_string()
        };
        if n % 1000 == 0 {
            listed.push(ip);
        }
        index.add(Indicator::new(Kind::Ip, value, "bench"));
        index.add(Indicator::new(
            Kind::Domain,
            format!("d{n}.bench-c2.example"),
            "bench",
        ));
    }
    let build = start.elapsed().as_secs_f64();
    let index_mb = peak_rss_bytes().unwrap_or(0).saturating_sub(before) as f64 / 1e6;
    let size = index.len();
    let indicators = secops_detect::IndicatorSet::from_index(index);
    // Events: Zeek connections, one in a thousand to a listed address.
    let path = dir.path().join("conn.json");
    let mut out = std::io::BufWriter::new(std::fs::File::create(&path)?);
    for n in 0..args.events {
        let destination = if n % 1000 == 0 {
            listed[(n / 1000) % listed.len().max(1)]
        } else {
            random.address(111, 112)
        };
        let seconds = 1_764_547_200 + n as u64 / 100;
        writeln!(
            out,
            "{{\"_path\":\"conn\",\"ts\":{seconds}.{:03},\"uid\":\"C{n}\",\"id.orig_h\":\"10.{}.{}.{}\",\"id.orig_p\":{},\"id.resp_h\":\"{destination}\",\"id.resp_p\":443,\"proto\":\"tcp\",\"conn_state\":\"SF\",\"orig_bytes\":512,\"resp_bytes\":4096}}",
            n % 1000,
            (n >> 16) % 256,
            (n >> 8) % 256,
            n % 256,
            1024 + n % 60000
        )?;
    }
    std::io::Write::flush(&mut out)?;
    drop(out);
    let inputs = vec![Input::File(path)];
    let loaded = crate::args::RuleArgs::default().load()?;
    let rules = loaded.native;
    // The two configurations take turns, so drift on a shared machine falls on both alike.
    let empty = secops_detect::IndicatorSet::default();
    let (mut without, mut with) = (Vec::new(), Vec::new());
    for _ in 0..args.runs.max(1) {
        for (set, runs) in [(&empty, &mut without), (&indicators, &mut with)] {
            let (seconds, events, _, alerts) =
                detect_pass_with(&inputs, &Options::default(), &rules, set)?;
            runs.push((seconds, events, alerts));
        }
    }
    let median = |runs: &mut Vec<(f64, u64, u64)>| {
        runs.sort_by(|a, b| a.0.total_cmp(&b.0));
        runs[runs.len() / 2]
    };
    let (plain, events, plain_alerts) = median(&mut without);
    let (loaded_run, _, alerts) = median(&mut with);
    println!("indicators: {size} in the index, built in {build:.2} s, about {index_mb:.0} MB");
    println!(
        "{:<40} {:>10} {:>9} {:>12} {:>7}",
        "DETECTION (all bundled rules)", "EVENTS", "SECONDS", "EVENTS/S", "ALERTS"
    );
    println!(
        "{:<40} {events:>10} {plain:>9.3} {:>12.0} {plain_alerts:>7}",
        "no indicators",
        events as f64 / plain
    );
    println!(
        "{:<40} {events:>10} {loaded_run:>9.3} {:>12.0} {alerts:>7}",
        format!("{size} indicators"),
        events as f64 / loaded_run
    );
    println!(
        "cost of the indicators: {:+.1}% wall time; median of {} runs",
        (loaded_run / plain - 1.0) * 100.0,
        args.runs.max(1)
    );
    Ok(Outcome::Clean)
}

fn store(args: StoreBenchArgs) -> anyhow::Result<Outcome> {
    let dir = tempfile::tempdir().context("creating a scratch folder")?;
    let mut targets = vec![(
        "SQLite (WAL, full sync)".to_string(),
        dir.path().join("bench.db").display().to_string(),
    )];
    let schema = format!("bench_{}", std::process::id());
    if let Some(url) = &args.database_url {
        targets.push((
            "PostgreSQL".to_string(),
            format!(
                "{url}{}schema={schema}",
                if url.contains('?') { "&" } else { "?" }
            ),
        ));
    }
    let alerts: Vec<secops_store::NewAlert> = (0..args.alerts)
        .map(|n| secops_store::NewAlert {
            rule_id: format!("rule-{}", n % 50),
            rule_name: format!("Rule {}", n % 50),
            rule_version: 1,
            severity: "medium".into(),
            risk_score: 47,
            group_key: format!("source.ip=198.51.{}.{}", (n / 256) % 256, n % 256),
            first_seen: n as i64 * 1_000_000_000,
            last_seen: n as i64 * 1_000_000_000 + 60_000_000_000,
            event_count: 10,
            dedupe_window: 0,
            document: format!(
                "{{\"rule.id\":\"rule-{}\",\"n\":{n},\"events\":[{{\"message\":\"{}\"}}]}}",
                n % 50,
                "x".repeat(200)
            ),
        })
        .collect();
    println!(
        "{:<26} {:>9} {:>12} {:>12} {:>12} {:>12}",
        "STORE", "ALERTS", "RECORD/S", "AGAIN/S", "LIST MS", "CASES/S"
    );
    for (name, target) in &targets {
        let mut store = secops_store::Store::open(target)?;
        let rate = |n: usize, start: Instant| n as f64 / start.elapsed().as_secs_f64();
        let start = Instant::now();
        for chunk in alerts.chunks(args.batch.max(1)) {
            store.record_alerts(chunk, "bench", 1)?;
        }
        let record = rate(alerts.len(), start);
        let start = Instant::now();
        for chunk in alerts.chunks(args.batch.max(1)) {
            store.record_alerts(chunk, "bench", 2)?;
        }
        let again = rate(alerts.len(), start);
        let start = Instant::now();
        let listed = store.alerts(&secops_store::AlertFilter {
            status: Some(secops_store::AlertStatus::Open),
            limit: Some(500),
            ..secops_store::AlertFilter::default()
        })?;
        let list_ms = start.elapsed().as_secs_f64() * 1000.0;
        let cases = 200.min(listed.len());
        let start = Instant::now();
        for alert in listed.iter().take(cases) {
            store.create_case(
                &secops_store::NewCase {
                    title: format!("Case for alert {}", alert.id),
                    severity: "medium".into(),
                    tlp: "amber".into(),
                    pap: "amber".into(),
                    state: "new".into(),
                    alert_ids: vec![alert.id],
                    tasks: (0..7)
                        .map(|t| secops_store::NewTask {
                            group: "triage".into(),
                            title: format!("Task {t}"),
                            description: String::new(),
                        })
                        .collect(),
                    ..secops_store::NewCase::default()
                },
                "bench",
                3,
            )?;
        }
        let case_rate = rate(cases, start);
        println!(
            "{name:<26} {:>9} {record:>12.0} {again:>12.0} {list_ms:>12.1} {case_rate:>12.0}",
            alerts.len()
        );
    }
    if let Some(url) = &args.database_url {
        let mut client = postgres::Client::connect(url, postgres::NoTls)?;
        client.batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))?;
    }
    println!(
        "batches of {} alerts a transaction; AGAIN: the same alerts recorded again (all duplicates); CASES: each with 7 tasks and a linked alert",
        args.batch
    );
    Ok(Outcome::Clean)
}
