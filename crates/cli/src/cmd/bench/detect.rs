//! `bench rules` and `bench detect`: detection as `secops detect` runs it.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::time::Instant;

use anyhow::{bail, Context};
use secops_ingest::{expand, Input, Options};

use crate::memory::{format_peak, peak_rss_bytes};
use crate::Outcome;

use super::ingest::{collect_lines, write_cycled};
use super::*;

/// One `bench rules` run.
#[derive(Debug, Clone, Copy)]
struct RulesRun {
    wall: f64,
    load: f64,
    events: u64,
    alerts: u64,
    rule_count: usize,
    rejected: usize,
    /// When the rules raised the first alert, from the start (rule loading included).
    first: Option<f64>,
}

/// `bench rules`: what `secops detect PATHS --rules ...` costs, rule loading included.
pub fn rules(args: RulesArgs) -> anyhow::Result<Outcome> {
    let (inputs, errors) = expand(&args.paths);
    if let Some(e) = errors.first() {
        bail!("{e}");
    }
    let now = secops_event::Timestamp::parse_rfc3339("2026-11-22T00:00:00Z")?;
    let mut results: Vec<RulesRun> = Vec::new();
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
        let run = crate::cmd::run_pipeline(
            &mut engine,
            &inputs,
            &Options::default(),
            &mut Discard,
            false,
        );
        results.push(RulesRun {
            wall: start.elapsed().as_secs_f64(),
            load,
            events: run.events,
            alerts: run.alerts,
            rule_count,
            rejected,
            first: run.first_alert.map(|d| load + d.as_secs_f64()),
        });
    }
    results.sort_by(|a, b| a.wall.total_cmp(&b.wall));
    let RulesRun {
        wall,
        load,
        events,
        alerts,
        rule_count,
        rejected,
        first,
    } = results[results.len() / 2];
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
    match first {
        Some(first) => {
            println!("first alert       {first:.3} s")
        }
        None => println!("first alert       -"),
    }
    Ok(Outcome::Clean)
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
pub(super) fn detect_pass_with(
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
    let run = crate::cmd::run_pipeline(&mut engine, inputs, options, &mut Discard, false);
    Ok((
        start.elapsed().as_secs_f64(),
        run.events,
        run.selected,
        run.alerts,
    ))
}

/// One measured pass: seconds, events, selected, alerts, peak resident bytes.
type Pass = (f64, u64, u64, u64, u64);

/// [`detect_pass`] with entity resolution on (no inventory: what the logs say).
fn detect_pass_resolving(
    inputs: &[Input],
    options: &Options,
    rules: &[secops_rules::CheckedRule],
) -> anyhow::Result<(f64, u64, u64, u64)> {
    let now = secops_event::Timestamp::parse_rfc3339("2026-11-22T00:00:00Z")?;
    let start = Instant::now();
    let (mut engine, errors) = secops_detect::Engine::new(rules, now);
    if let Some((id, e)) = errors.first() {
        bail!("rule {id}: {e}");
    }
    let mut resolver = secops_entity::Resolver::default();
    let run = crate::cmd::run_pipeline_resolving(
        &mut engine,
        inputs,
        options,
        &mut Discard,
        false,
        Some(&mut resolver),
    );
    Ok((
        start.elapsed().as_secs_f64(),
        run.events,
        run.selected,
        run.alerts,
    ))
}

pub fn run(args: IngestArgs) -> anyhow::Result<Outcome> {
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
    let sources = match linux_logs(&args.corpus)? {
        Some(logs) => logs,
        None => vec![read(&samples_dir().join("auth.log"))?],
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
    if let Some(once) = evtx_files(&args.corpus) {
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
    let modes: &[bool] = if args.entities {
        &[false, true]
    } else {
        &[false]
    };
    // With --entities the two modes' runs alternate, so a machine whose speed drifts (a shared host)
    // weighs on both alike; the change between them is printed after each pair.
    let wanted = |name: &str| args.only.as_deref().is_none_or(|only| name.contains(only));
    for (name, inputs, options, set) in suites.iter().filter(|s| wanted(&s.0)) {
        let mut runs: Vec<Vec<Pass>> = vec![Vec::new(); modes.len()];
        for _ in 0..args.runs.max(1) {
            for (m, &resolving) in modes.iter().enumerate() {
                reset_peak();
                let (seconds, events, selected, alerts) = if resolving {
                    detect_pass_resolving(inputs, options, set)?
                } else {
                    detect_pass(inputs, options, set)?
                };
                runs[m].push((
                    seconds,
                    events,
                    selected,
                    alerts,
                    peak_rss_bytes().unwrap_or(0),
                ));
            }
        }
        let mut medians = Vec::new();
        for (m, &resolving) in modes.iter().enumerate() {
            let name = if resolving {
                format!("{name} +entities")
            } else {
                name.clone()
            };
            let mode = &mut runs[m];
            mode.sort_by(|a, b| a.0.total_cmp(&b.0));
            let (seconds, events, selected, alerts, peak) = mode[mode.len() / 2];
            medians.push(seconds);
            println!(
                "{name:<32} {events:>10} {seconds:>9.3} {:>12.0} {selected:>9} {alerts:>7} {:>9.1}",
                events as f64 / seconds,
                peak as f64 / 1e6
            );
        }
        if let [off, on] = medians[..] {
            println!(
                "{:<32} {:>+9.1}%",
                "  entity resolution",
                (on / off - 1.0) * 100.0
            );
        }
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
            match syslog_time(line) {
                Some((time, rest)) => {
                    let moved = time + chrono::Duration::days(cycle as i64 % 300);
                    writeln!(out, "{}{rest}", syslog_stamp(moved))?;
                }
                None => writeln!(out, "{line}")?,
            }
        }
        out.flush()?;
        inputs.push(Input::File(path));
    }
    Ok(inputs)
}

/// Alerts dropped as they come (the pipeline counts them): a benchmark measures the detection, not
/// the printing.
struct Discard;

impl secops_detect::AlertSink for Discard {
    fn raise(&mut self, _raised: secops_detect::Raised) {}
}
