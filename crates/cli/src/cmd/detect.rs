//! `secops detect PATH...`: ingest, run the rules, print alerts, and summarize.
//!
//! Parsing and each rule's stateless part (log source, condition, exceptions) run in parallel; only events
//! some rule selected come back, and the stateful part of each rule sees them in time order, so a threshold
//! spanning two files counts right. One input streams; up to `MAX_MERGED` inputs are read at once and merged
//! by time (each taken to be in time order), in bounded memory; with more, the selected events are kept and
//! sorted at the end.

use std::collections::BTreeMap;
use std::io::{BufWriter, Write};
use std::path::PathBuf;

use anyhow::{bail, Context};
use secops_detect::{feed, Alert, Engine, EngineSelector, Runtime};
use secops_event::{Event, Timestamp};
use secops_ingest::parallel::{read_all, read_merged, Consumer, Order, MAX_MERGED};
use secops_ingest::{expand, Format, IngestError, Options, Summary};
use secops_rules::Severity;

use crate::alerts_out::{header, render, AlertOutput};
use crate::cmd::ingest::parse_format;
use crate::progress::inputs_bar;
use crate::{ruleset, Outcome};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Files, directories, glob patterns, or `-` for standard input.
    #[arg(required = true)]
    paths: Vec<String>,
    #[command(flatten)]
    rules: ruleset::RuleArgs,
    /// Indicators for threat_match rules: JSON documents with ECS `threat.indicator.*` fields (ip,
    /// url.domain, url.full, file.hash.md5/sha1/sha256), one per line or as an array (repeatable).
    #[arg(long = "indicators")]
    indicators: Vec<PathBuf>,
    /// Indicators for threat_match rules from intelligence files or folders (STIX, MISP events or
    /// feeds, CSV feeds, plain lists); with a store, its active indicators are used too.
    #[arg(long = "intel")]
    intel: Vec<PathBuf>,
    #[command(flatten)]
    judges: crate::intel::JudgeArgs,
    /// Stop when any rule fails to load (by default it is reported and the others run).
    #[arg(long)]
    strict: bool,
    #[arg(long, value_enum, default_value = "table")]
    output: AlertOutput,
    /// Only alerts of this severity or higher.
    #[arg(long, value_parser = parse_severity)]
    min_severity: Option<Severity>,
    /// Only events at or after this time (RFC 3339).
    #[arg(long, value_parser = parse_time)]
    since: Option<Timestamp>,
    /// Only events before this time (RFC 3339).
    #[arg(long, value_parser = parse_time)]
    until: Option<Timestamp>,
    /// Read every input as this format (see `secops formats`).
    #[arg(long, value_parser = parse_format)]
    format: Option<Format>,
    /// Year of the first line of syslog files without years.
    #[arg(long)]
    year: Option<i32>,
    /// Worker threads (default: one per core).
    #[arg(long, default_value_t = 0)]
    threads: usize,
    /// Record the alerts in the store (the default one unless --db or --database-url names one):
    /// repeats of a stored alert within its rule's suppression window fold into it, and a second run
    /// over the same logs adds nothing.
    #[arg(long)]
    store: bool,
    #[command(flatten)]
    store_at: crate::store::StoreArgs,
    /// After recording, open a case for each group of related open alerts not yet in one (same
    /// host, user or source within --case-window), with the best-fitting playbook.
    #[arg(long = "open-cases")]
    open_cases: bool,
    /// How far apart alerts grouped into one case may be.
    #[arg(long = "case-window", default_value = "1h")]
    case_window: String,
}

fn parse_severity(text: &str) -> Result<Severity, String> {
    match text.to_ascii_lowercase().as_str() {
        "low" => Ok(Severity::Low),
        "medium" => Ok(Severity::Medium),
        "high" => Ok(Severity::High),
        "critical" => Ok(Severity::Critical),
        other => Err(format!(
            "unknown severity {other:?}: use low, medium, high or critical"
        )),
    }
}

fn parse_time(text: &str) -> Result<Timestamp, String> {
    Timestamp::parse_rfc3339(text).map_err(|e| e.to_string())
}

/// An event some rule selected, with the rules that selected it.
struct Hit {
    event: Event,
    rules: Vec<u32>,
}

/// Per-record result sent back from the workers.
enum Item {
    Hit(Hit),
    /// An event no rule selected but some rule's exception covered (`excepted`).
    Miss {
        excepted: Vec<u32>,
    },
}

impl Item {
    /// The merge key: selected events by time; the rest carry nothing to order.
    fn time(&self) -> Option<Timestamp> {
        match self {
            Item::Hit(hit) => hit.event.timestamp(),
            _ => None,
        }
    }
}

/// Receives the workers' results. With one input, events arrive in its order (time order), so selected
/// events go straight to the rules' runtimes; with several, they are kept and put in time order first.
struct Collector<'r> {
    stream: bool,
    runtimes: Vec<&'r mut Runtime>,
    alerts: Vec<Alert>,
    hits: Vec<Hit>,
    selected: u64,
    summaries: Vec<(usize, Result<Summary, IngestError>)>,
    bar: indicatif::ProgressBar,
}

impl Collector<'_> {
    fn feed(&mut self, hit: &Hit) {
        feed(
            &mut self.runtimes,
            &hit.event,
            &hit.rules,
            &[],
            &mut self.alerts,
        );
    }
}

impl Consumer<Item> for Collector<'_> {
    fn record(&mut self, _index: usize, item: Item) {
        match item {
            Item::Hit(hit) => {
                self.selected += 1;
                if self.stream {
                    self.feed(&hit);
                } else {
                    self.hits.push(hit);
                }
            }
            Item::Miss { excepted } => {
                for index in excepted {
                    if let Some(runtime) = self.runtimes.get_mut(index as usize) {
                        runtime.stats.matched += 1;
                        runtime.stats.excepted += 1;
                    }
                }
            }
        }
    }

    fn done(&mut self, index: usize, summary: Result<Summary, IngestError>) {
        self.bar.inc(1);
        self.summaries.push((index, summary));
    }
}

pub fn run(args: Args) -> anyhow::Result<Outcome> {
    let loaded = ruleset::load(&args.rules)?;
    // Open the store first: a store that cannot be opened stops the run before any work.
    let recording = args.store
        || args.open_cases
        || args.store_at.db.is_some()
        || args.store_at.database_url.is_some();
    let case_window: secops_rules::Duration = args
        .case_window
        .parse()
        .map_err(|e| anyhow::anyhow!("--case-window: {e}"))?;
    let mut store = recording.then(|| args.store_at.open()).transpose()?;
    let suppressions = crate::store::suppressions(&loaded.native);
    for rejection in &loaded.rejected {
        eprintln!("rejected: {rejection}");
    }
    if args.strict && !loaded.rejected.is_empty() {
        bail!(
            "{} rule(s) failed to load (--strict)",
            loaded.rejected.len()
        );
    }
    let now = crate::cmd::clock_now()?;
    let judges = args.judges.load()?;
    let indicators = crate::intel::indicator_set(
        store.as_mut(),
        &args.intel,
        &args.indicators,
        &judges,
        now.unix_nanos(),
    )?;
    let rule_total = loaded.rule_count() + loaded.rejected.len();
    let rules_rejected = loaded.rejected.len();
    let (mut engine, compile_errors) =
        Engine::with_sigma(&loaded.native, loaded.sigma, now, &indicators);
    for (id, error) in &compile_errors {
        eprintln!("error: rule {id}: {error}");
    }
    if args.strict && !compile_errors.is_empty() {
        bail!("{} rule(s) cannot run (--strict)", compile_errors.len());
    }
    let (inputs, input_errors) = expand(&args.paths);
    for error in &input_errors {
        eprintln!("error: {error}");
    }
    let options = Options {
        format: args.format,
        year: args.year,
    };
    let run = detect_inputs(
        &mut engine,
        &inputs,
        &options,
        args.threads,
        (args.since, args.until),
        true,
    );
    let (events, rejected, summaries, mut alerts) =
        (run.events, run.rejected, run.summaries, run.alerts);
    alerts.sort_by_key(|a| a.timestamp);
    if let Some(min) = args.min_severity {
        alerts.retain(|a| a.rule.severity >= min);
    }
    print_alerts(&alerts, args.output)?;
    if indicators.suppressed() > 0 {
        eprintln!(
            "warninglists: {} indicator match(es) suppressed (the values are on a warninglist)",
            indicators.suppressed()
        );
    }
    if let Some(store) = store.as_mut() {
        record(store, &alerts, &suppressions)?;
        let sightings = crate::intel::record_sightings(store, &alerts, &judges, now.unix_nanos())?;
        if sightings > 0 {
            eprintln!("intel: {sightings} indicator(s) sighted (last seen and expiry moved on)");
        }
        if args.open_cases {
            let playbooks = secops_case::playbook::Playbooks::bundled()?;
            let fields: Vec<String> = secops_case::grouping::ENTITY_FIELDS
                .iter()
                .map(|f| f.to_string())
                .collect();
            let who = crate::store::actor(None);
            let window = i64::try_from(case_window.as_nanos()).unwrap_or(i64::MAX);
            let opened =
                crate::cmd::case::group_into_cases(store, &playbooks, &fields, window, &who)?;
            eprintln!("store: {opened} case(s) opened from related alerts");
        }
    }
    // Undetectable files met in a directory walk are skipped, as `ingest` does.
    let summaries: Vec<Result<Summary, IngestError>> = summaries
        .into_iter()
        .filter_map(|(index, summary)| match (&summary, inputs.get(index)) {
            (Err(e), Some(input)) if crate::cmd::ingest::skipped(input, &args.paths, e) => {
                eprintln!("skipped: {e}");
                None
            }
            _ => Some(summary),
        })
        .collect();
    let counts = Counts {
        events,
        rejected,
        input_errors: input_errors.len(),
    };
    Ok(summarize(
        &engine,
        &summaries,
        &counts,
        &alerts,
        rule_total,
        rules_rejected + compile_errors.len(),
    ))
}

/// Records the alerts in one transaction and says what became of them.
fn record(
    store: &mut secops_store::Store,
    alerts: &[Alert],
    suppressions: &std::collections::HashMap<String, crate::store::Suppression>,
) -> anyhow::Result<()> {
    let new: Vec<secops_store::NewAlert> = alerts
        .iter()
        .map(|a| crate::store::new_alert(a, suppressions))
        .collect();
    let recorded = store
        .record_alerts(&new, "detect", secops_store::now_nanos())
        .context("recording the alerts")?;
    let (mut inserted, mut merged, mut known) = (0, 0, 0);
    for r in &recorded {
        match r {
            secops_store::Recorded::Inserted(_) => inserted += 1,
            secops_store::Recorded::Merged(_) => merged += 1,
            secops_store::Recorded::Duplicate(_) => known += 1,
        }
    }
    eprintln!(
        "store: {inserted} new alerts, {merged} folded into open alerts, {known} already recorded"
    );
    Ok(())
}

/// What one detection run over some inputs produced.
pub struct DetectRun {
    pub alerts: Vec<Alert>,
    pub events: u64,
    pub rejected: u64,
    pub selected: u64,
    /// By input index, in the order inputs finished.
    pub summaries: Vec<(usize, Result<Summary, IngestError>)>,
}

/// Reads `inputs` and runs `engine` over them: selectors on the workers, runtimes here, in time order
/// (streamed for a single input, sorted for several). `window` keeps events in `[since, until)`.
pub fn detect_inputs(
    engine: &mut Engine,
    inputs: &[secops_ingest::Input],
    options: &Options,
    threads: usize,
    window: (Option<Timestamp>, Option<Timestamp>),
    progress: bool,
) -> DetectRun {
    let (since, until) = window;
    let (selector, runtimes) = engine.split();
    // One input, or a few merged by time, stream straight to the runtimes; many are sorted at the end.
    let merge = inputs.len() > 1 && inputs.len() <= MAX_MERGED;
    let mut collector = Collector {
        stream: inputs.len() <= MAX_MERGED,
        runtimes,
        alerts: Vec::new(),
        hits: Vec::new(),
        selected: 0,
        summaries: Vec::new(),
        bar: if progress {
            inputs_bar(inputs.len())
        } else {
            indicatif::ProgressBar::hidden()
        },
    };
    let pick = |record| select(record, &selector, since, until);
    if merge {
        read_merged(inputs, options, pick, Item::time, &mut collector);
    } else {
        read_all(
            inputs,
            options,
            Order::Completion,
            threads,
            pick,
            &mut collector,
        );
    }
    collector.bar.finish_and_clear();
    // Stateful rules need time order; a stable sort keeps each input's order among equal times.
    let mut hits = std::mem::take(&mut collector.hits);
    hits.sort_by_key(|h| h.event.timestamp());
    for hit in &hits {
        collector.feed(hit);
    }
    let (events, rejected) = collector
        .summaries
        .iter()
        .filter_map(|(_, s)| s.as_ref().ok())
        .fold((0, 0), |(e, r), s| (e + s.parsed, r + s.rejected));
    DetectRun {
        alerts: collector.alerts,
        events,
        rejected,
        selected: collector.selected,
        summaries: collector.summaries,
    }
}

/// The workers' part: time filter, then every rule's selector.
fn select(
    record: Result<Event, secops_ingest::Rejection>,
    selector: &EngineSelector<'_>,
    since: Option<Timestamp>,
    until: Option<Timestamp>,
) -> Option<Item> {
    let event = match record {
        Ok(event) => event,
        // Rejections are counted (with their reasons) in the input summaries.
        Err(_) => return None,
    };
    let time = event.timestamp();
    if since.is_some_and(|s| time.is_none_or(|t| t < s))
        || until.is_some_and(|u| time.is_none_or(|t| t >= u))
    {
        return None;
    }
    let (mut selected, mut excepted) = (Vec::new(), Vec::new());
    selector.select(&event, &mut selected, &mut excepted);
    match (selected.is_empty(), excepted.is_empty()) {
        // Nothing for the runtimes: no item crosses threads (events are counted from the summaries).
        (true, true) => None,
        (true, false) => Some(Item::Miss { excepted }),
        (false, _) => Some(Item::Hit(Hit {
            event,
            rules: selected,
        })),
    }
}

struct Counts {
    events: u64,
    rejected: u64,
    input_errors: usize,
}

fn print_alerts(alerts: &[Alert], output: AlertOutput) -> anyhow::Result<()> {
    let mut out = BufWriter::new(std::io::stdout().lock());
    let mut write = || -> std::io::Result<()> {
        if let Some(header) = header(output) {
            writeln!(out, "{header}")?;
        }
        for alert in alerts {
            writeln!(out, "{}", render(alert, output))?;
        }
        out.flush()
    };
    match write() {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e).context("writing alerts"),
        _ => Ok(()),
    }
}

fn summarize(
    engine: &Engine,
    summaries: &[Result<Summary, IngestError>],
    counts: &Counts,
    alerts: &[Alert],
    rules_total: usize,
    rules_failed: usize,
) -> Outcome {
    let unreadable = counts.input_errors + summaries.iter().filter(|s| s.is_err()).count();
    for summary in summaries {
        match summary {
            Err(e) => eprintln!("error: {e}"),
            Ok(s) if s.rejected > 0 => eprintln!("{s}"),
            Ok(_) => {}
        }
    }
    eprintln!(
        "rules: {} loaded, {rules_failed} not running; events: {} read, {} rejected, {unreadable} inputs unreadable",
        rules_total - rules_failed,
        counts.events,
        counts.rejected
    );
    let mut by_severity: BTreeMap<String, usize> = BTreeMap::new();
    for alert in alerts {
        *by_severity
            .entry(format!("{:?}", alert.rule.severity).to_lowercase())
            .or_default() += 1;
    }
    let severities: Vec<String> = by_severity
        .iter()
        .map(|(s, n)| format!("{s} {n}"))
        .collect();
    eprintln!("alerts: {} [{}]", alerts.len(), severities.join(", "));
    for rule in engine.rules().iter().filter(|r| r.stats().matched > 0) {
        let s = rule.stats();
        eprintln!(
            "  {:<52} matched {:>7}  excepted {:>5}  alerts {:>5}  suppressed {:>4}",
            rule.info.name, s.matched, s.excepted, s.alerts, s.suppressed
        );
    }
    if counts.rejected > 0 || unreadable > 0 || rules_failed > 0 {
        Outcome::Rejections
    } else {
        Outcome::Clean
    }
}
