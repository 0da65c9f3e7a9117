//! `bench ingest`: events per second and peak memory per format, on the shared corpora and on larger
//! inputs built from them by repetition; the `evtx` crate alone as the parse floor.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context};
use rayon::prelude::*;
use secops_ingest::parallel::{read_all, Consumer, Order};
use secops_ingest::{IngestError, Input, Options, Summary};

use crate::memory::{format_peak, peak_rss_bytes};
use crate::Outcome;

use super::*;

/// The `evtx` crate alone: every record to a JSON value, files in parallel (each on one thread), or one
/// file on every thread (`name` says which), nothing else.
fn evtx_crate_baseline(name: &str, inputs: &[Input], runs: usize) -> anyhow::Result<Row> {
    let threads_per_file = if inputs.len() == 1 { 0 } else { 1 };
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
                let settings = evtx::ParserSettings::new()
                    .num_threads(threads_per_file)
                    .indent(false);
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
        name: name.into(),
        inputs: paths.len(),
        bytes: inputs.iter().filter_map(Input::size_bytes).sum(),
        events,
        seconds: best,
        peak,
    })
}

pub fn run(args: IngestArgs) -> anyhow::Result<Outcome> {
    let threads = rayon::current_num_threads();
    let dir = tempfile::tempdir().context("creating a scratch folder")?;
    let samples = samples_dir();
    let mut rows = Vec::new();
    let evtx_dir = args.corpus.join("evtx");
    if let Some(once) = evtx_files(&args.corpus) {
        eprintln!(
            "bench: {} EVTX files, read {} times per run",
            once.len(),
            args.evtx_passes
        );
        let inputs: Vec<Input> = (0..args.evtx_passes.max(1))
            .flat_map(|_| once.iter().cloned())
            .collect();
        rows.push(evtx_crate_baseline(
            "evtx crate alone (baseline)",
            &inputs,
            args.runs,
        )?);
        rows.push(measure(
            "evtx (secops, normalized)",
            &inputs,
            &Options::default(),
            args.runs,
        )?);
        // One large log: chunk parallelism inside one file, and the accounting on a long run of chunks.
        let (large, chunks, records) = super::evtx_log::build(&once, dir.path())?;
        eprintln!(
            "bench: one EVTX log of {chunks} chunks and {records} records, built from the corpus"
        );
        let large = [large];
        rows.push(evtx_crate_baseline(
            "evtx crate, one log (baseline)",
            &large,
            args.runs,
        )?);
        rows.push(measure(
            "evtx, one log (secops)",
            &large,
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
    let syslog_sources = match linux_logs(&args.corpus)? {
        Some(logs) => logs,
        None => {
            eprintln!(
                "bench: {} not found; syslog uses the bundled sample",
                args.corpus.join("linux").display()
            );
            vec![read(&samples.join("auth.log"))?]
        }
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
    for (base, ours, what) in [(0, 1, "the corpus"), (2, 3, "one log")] {
        if let (Some(base), Some(ours)) = (
            rows.get(base).filter(|r| r.name.starts_with("evtx crate")),
            rows.get(ours),
        ) {
            println!(
                "evtx, {what}: secops takes {:.2}x the evtx crate's own parse time",
                ours.seconds / base.seconds
            );
        }
    }
    println!(
        "threads: {threads}; peak memory (whole run): {}",
        format_peak()
    );
    Ok(Outcome::Clean)
}

/// Reads `inputs` and keeps one line per record, as `render` makes it.
pub(super) fn collect_lines(
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
pub(super) fn write_cycled(
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
