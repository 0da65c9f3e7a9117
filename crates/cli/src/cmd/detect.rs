//! `secops detect PATH...`: ingest, run the rules, print alerts, and summarize. The work is the
//! service's (`secops_service::detect`); this file turns arguments into its request and prints what it
//! reports.

use crate::cmd::parse_zone;
use std::io::{BufWriter, Write};
use std::path::PathBuf;

use anyhow::Context;
use std::time::{Duration, Instant};

use secops_detect::{AggregatePolicy, Raised};
use secops_event::Timestamp;
use secops_ingest::{Format, Options, Summary};
use secops_rules::Severity;
use secops_service::detect::{self, CaseGrouping, DetectReport, DetectRequest, Notice, Observer};
use secops_service::intel::IndicatorSources;
use secops_service::pipeline::{AlertOrder, PipelineOptions};
use secops_service::{Cancel, Clock, FixedClock, ServiceError, SystemClock};

use crate::alerts_out::{header, render, render_update, AlertOutput};
use crate::args::{JudgeArgs, RuleArgs};
use crate::cmd::ingest::parse_format;
use crate::output::safe;
use crate::progress::InputsBar;
use crate::Outcome;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Files, directories, glob patterns, or `-` for standard input.
    #[arg(required = true)]
    paths: Vec<String>,
    #[command(flatten)]
    rules: RuleArgs,
    /// Indicators for threat_match rules: JSON documents with ECS `threat.indicator.*` fields (ip,
    /// url.domain, url.full, file.hash.md5/sha1/sha256), one per line or as an array (repeatable).
    #[arg(long = "indicators")]
    indicators: Vec<PathBuf>,
    /// Indicators for threat_match rules from intelligence files or folders (STIX, MISP events or
    /// feeds, CSV feeds, plain lists); with a store, its active indicators are used too.
    #[arg(long = "intel")]
    intel: Vec<PathBuf>,
    #[command(flatten)]
    judges: JudgeArgs,
    /// Run as of this time (RFC 3339) instead of the clock: which indicators are active, when rule
    /// exceptions expire, the time alerts and sightings are recorded at.
    #[arg(long, value_parser = parse_time)]
    now: Option<Timestamp>,
    /// Stop when any rule fails to load (by default it is reported and the others run).
    #[arg(long)]
    strict: bool,
    #[arg(long, value_enum, default_value = "table")]
    output: AlertOutput,
    /// Order of the alerts: `raised` writes each the moment its rule's condition holds, and an alert
    /// that folds repeats (alert suppression) again with the same id when its window closes (the later
    /// line supersedes); `time` writes each alert once, complete, in time order (later: alerts wait
    /// until no earlier one can come).
    #[arg(long, value_enum, default_value = "raised")]
    order: OrderArg,
    /// Only alerts of this severity or higher (informational, low, medium, high, critical).
    #[arg(long, value_parser = parse_severity)]
    min_severity: Option<Severity>,
    /// How repeated alerts of a rule fold into one open alert (raised at once, updated as repeats
    /// come): `default` (a rule's own alert_suppression / alert_aggregation, else by host and the
    /// source, else user, the event names), `rules` (only what rules declare), `none` (one alert per
    /// match), or `FIELD,FIELD...` (every rule by these fields).
    #[arg(long, default_value = "default")]
    aggregate: String,
    /// How long (event time) an aggregated alert stays open for repeats.
    #[arg(long = "aggregate-window", default_value = "1h")]
    aggregate_window: String,
    /// Resolve entities while detecting: events get `secops.entity.host`, `.source.host`,
    /// `.destination.host`, `.user` and ECS `related.*`, from what the logs say (DHCP, logons,
    /// Kerberos, NTLM) and the inventory if given.
    #[arg(long)]
    entities: bool,
    /// The asset and identity inventory: a TOML or CSV file, or a folder of them (implies
    /// --entities; default: $SECOPS_INVENTORY).
    #[arg(long)]
    inventory: Option<PathBuf>,
    /// Risk-based alerting: each alert adds its rule's risk score to its host and user (weighted by
    /// the inventory's criticality, halving every --risk-half-life); an entity reaching
    /// --risk-threshold, or collecting three ATT&CK tactics or --risk-sources log sources in a day,
    /// raises one "Entity Risk Threshold Reached" alert naming its top contributors.
    #[arg(long)]
    risk: bool,
    #[arg(long = "risk-threshold", default_value_t = 100.0, requires = "risk")]
    risk_threshold: f64,
    #[arg(long = "risk-half-life", default_value = "24h", requires = "risk")]
    risk_half_life: String,
    /// Distinct log sources (`event.dataset`) of one entity's alerts within a day that raise a risk
    /// alert whatever the score (0: never).
    #[arg(long = "risk-sources", default_value_t = 3, requires = "risk")]
    risk_sources: usize,
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
    /// The time zone of syslog lines without one (RFC 3164): `+02:00` or an IANA name such as
    /// `Europe/Berlin` (default UTC).
    #[arg(long, value_parser = parse_zone)]
    timezone: Option<secops_ingest::Zone>,
    /// EVTX: also read records the checksums cannot vouch for (chunks whose header or records fail
    /// their CRC32) and carve records from unused chunk space, tagged `recovered`.
    #[arg(long)]
    evtx_recover: bool,
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
    /// Also write every event read, and each alert (source `secops.alerts`), into the event lake at
    /// this folder or `s3://bucket/prefix` (an event the lake already holds is not written again).
    #[arg(long, value_name = "DIR|S3_URL")]
    lake: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum OrderArg {
    Raised,
    Time,
}

fn parse_severity(text: &str) -> Result<Severity, String> {
    Severity::parse(text).ok_or_else(|| {
        format!("unknown severity {text:?}: use informational, low, medium, high or critical")
    })
}

/// `--aggregate` and `--aggregate-window` as a policy.
fn aggregate_policy(mode: &str, window: &str) -> anyhow::Result<AggregatePolicy> {
    let window: secops_rules::Duration = window
        .parse()
        .map_err(|e| anyhow::anyhow!("--aggregate-window: {e}"))?;
    let window = i64::try_from(window.as_nanos()).unwrap_or(i64::MAX);
    Ok(match mode {
        "default" => AggregatePolicy::Default { window },
        "rules" => AggregatePolicy::Declared,
        "none" => AggregatePolicy::PerEvent,
        fields => {
            let fields: Vec<String> = fields
                .split(',')
                .map(str::trim)
                .filter(|f| !f.is_empty())
                .map(str::to_string)
                .collect();
            if fields.is_empty() || fields.iter().any(|f| f.contains(char::is_whitespace)) {
                anyhow::bail!(
                    "--aggregate {mode:?}: use default, rules, none, or field names separated by commas"
                );
            }
            AggregatePolicy::By { fields, window }
        }
    })
}

/// An RFC 3339 time given on the command line (`--since`, `--now`).
pub(crate) fn parse_time(text: &str) -> Result<Timestamp, String> {
    Timestamp::parse_rfc3339(text).map_err(|e| e.to_string())
}

/// Prints notices on standard error and alerts on standard output as they come.
struct Printer {
    output: AlertOutput,
    out: BufWriter<std::io::Stdout>,
    header: bool,
    /// When the buffer last went out: alerts are not left waiting in it for long.
    flushed: Option<Instant>,
    written: std::io::Result<()>,
}

/// How long a written alert may wait in the output buffer (while more keep coming).
const FLUSH_EVERY: Duration = Duration::from_millis(100);

impl Printer {
    fn new(output: AlertOutput) -> Self {
        Printer {
            output,
            out: BufWriter::new(std::io::stdout()),
            header: false,
            flushed: None,
            written: Ok(()),
        }
    }

    fn write(&mut self, line: Option<&str>) -> std::io::Result<()> {
        if !self.header {
            self.header = true;
            if let Some(header) = header(self.output) {
                writeln!(self.out, "{header}")?;
            }
        }
        if let Some(line) = line {
            writeln!(self.out, "{line}")?;
        }
        if self.flushed.is_none_or(|t| t.elapsed() >= FLUSH_EVERY) {
            self.out.flush()?;
            self.flushed = Some(Instant::now());
        }
        Ok(())
    }

    /// Writes the header if no alert did, and what is still buffered.
    fn finish(&mut self) -> std::io::Result<()> {
        if self.written.is_ok() {
            self.written = self.write(None).and_then(|()| self.out.flush());
        }
        match std::mem::replace(&mut self.written, Ok(())) {
            Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e),
            _ => Ok(()),
        }
    }
}

impl Observer for Printer {
    fn notice(&mut self, notice: Notice) {
        eprintln!("{}", safe(&notice.to_string()));
    }

    fn alert(&mut self, alert: &Raised) {
        // After a failed write (a closed pipe) nothing more is written; the run goes on.
        if self.written.is_err() {
            return;
        }
        let line = match alert {
            Raised::Closed(alert) => render_update(alert, self.output),
            Raised::Final(alert) | Raised::Opened(alert) => render(alert, self.output),
        };
        self.written = self.write(Some(&line));
    }
}

pub fn run(args: Args) -> anyhow::Result<Outcome> {
    let recording = args.store
        || args.open_cases
        || args.store_at.db.is_some()
        || args.store_at.database_url.is_some();
    let case_window: secops_rules::Duration = args
        .case_window
        .parse()
        .map_err(|e| anyhow::anyhow!("--case-window: {e}"))?;
    let aggregate = aggregate_policy(&args.aggregate, &args.aggregate_window)?;
    // Open the store first: a store that cannot be opened stops the run before any work.
    let mut store = recording.then(|| args.store_at.open()).transpose()?;
    let request = DetectRequest {
        paths: args.paths.clone(),
        rules: args.rules.selection(),
        indicators: IndicatorSources {
            files: args.intel.clone(),
            ecs_files: args.indicators.clone(),
        },
        strict: args.strict,
        min_severity: args.min_severity,
        aggregate,
        risk: if args.risk {
            let half_life: secops_rules::Duration = args
                .risk_half_life
                .parse()
                .map_err(|e| anyhow::anyhow!("--risk-half-life: {e}"))?;
            Some(secops_entity::RiskModel {
                threshold: args.risk_threshold,
                half_life: i64::try_from(half_life.as_nanos()).unwrap_or(i64::MAX),
                sources: args.risk_sources,
                ..secops_entity::RiskModel::default()
            })
        } else {
            None
        },
        entities: {
            let inventory = args
                .inventory
                .clone()
                .or_else(|| std::env::var_os("SECOPS_INVENTORY").map(PathBuf::from));
            (args.entities || inventory.is_some()).then_some(inventory)
        },
        pipeline: PipelineOptions {
            read: Options {
                format: args.format,
                year: args.year,
                timezone: args.timezone,
                evtx_recover: args.evtx_recover,
                counters: None,
            },
            threads: args.threads,
            since: args.since,
            until: args.until,
            order: match args.order {
                OrderArg::Raised => AlertOrder::Raised,
                OrderArg::Time => AlertOrder::Time,
            },
        },
        open_cases: args.open_cases.then(|| CaseGrouping {
            window: i64::try_from(case_window.as_nanos()).unwrap_or(i64::MAX),
            fields: secops_case::grouping::ENTITY_FIELDS
                .iter()
                .map(|f| f.to_string())
                .collect(),
        }),
        lake: args.lake.clone(),
    };
    let judges = args.judges.load()?;
    let pinned = args.now.map(FixedClock);
    let clock: &dyn Clock = match &pinned {
        Some(pinned) => pinned,
        None => &SystemClock,
    };
    let context = detect::Context {
        store: store.as_mut(),
        judges: &judges,
        actor: &crate::store::actor(None),
        clock,
        cancel: &Cancel::new(),
    };
    let mut printer = Printer::new(args.output);
    let report = match detect::detect(&request, context, &mut printer, &InputsBar::new()) {
        Err(ServiceError::Strict { count, what }) => {
            anyhow::bail!("{count} rule(s) {what} (--strict)")
        }
        other => other?,
    };
    printer.finish().context("writing alerts")?;
    if let (Some(dir), Some(s)) = (&args.lake, &report.lake) {
        eprintln!(
            "lake {}: {} events and alerts written in {} files, {} already in the lake, {} values kept in _fields (not of their column's type)",
            crate::output::safe(dir),
            s.written,
            s.files,
            s.duplicates,
            s.fallbacks
        );
    }
    Ok(summarize(&report, args.open_cases))
}

/// What happened after the alerts: indicator matches left out, the store, then the summary.
fn summarize(report: &DetectReport, open_cases: bool) -> Outcome {
    if report.warninglisted_matches > 0 {
        eprintln!(
            "warninglists: {} indicator match(es) suppressed (the values are on a warninglist)",
            report.warninglisted_matches
        );
    }
    if let Some(r) = &report.recorded {
        eprintln!(
            "store: {} new alerts, {} folded into open alerts, {} already recorded",
            r.inserted, r.merged, r.known
        );
        if report.sightings > 0 {
            eprintln!(
                "intel: {} indicator(s) sighted (last seen and expiry moved on)",
                report.sightings
            );
        }
    }
    if report.recorded.is_some() && open_cases {
        for opened in &report.cases {
            println!(
                "case {}: {} ({} alerts)",
                opened.case.number,
                safe(&opened.case.title),
                opened.alert_ids.len()
            );
        }
        eprintln!(
            "store: {} case(s) opened from related alerts",
            report.cases.len()
        );
    }
    for e in &report.skipped {
        eprintln!("skipped: {e}");
    }
    let unreadable = report.unreadable();
    for summary in &report.summaries {
        match summary {
            Err(e) => eprintln!("error: {e}"),
            Ok(s) if s.incomplete() || !s.notes.is_empty() => {
                for line in s.lines() {
                    eprintln!("{}", safe(&line));
                }
            }
            Ok(_) => {}
        }
    }
    let lost = if report.lost > 0 {
        format!(", {} lost", report.lost)
    } else {
        String::new()
    };
    eprintln!(
        "rules: {} loaded, {} not running; events: {} read, {} rejected{lost}, {unreadable} inputs unreadable",
        report.rules_total - report.rules_failed,
        report.rules_failed,
        report.events,
        report.rejected
    );
    // Most severe first.
    let severities: Vec<String> = report
        .severities
        .iter()
        .rev()
        .map(|(severity, n)| format!("{severity} {n}"))
        .collect();
    eprintln!("alerts: {} [{}]", report.alerts, severities.join(", "));
    if report.out_of_order > 0 {
        eprintln!(
            "order: {} alert(s) written after a later one (more than the reorder buffer held, or events \
             more than {} minutes out of order)",
            report.out_of_order,
            secops_service::pipeline::REORDER_LAG / 60_000_000_000
        );
    }
    for rule in &report.activity {
        let s = &rule.stats;
        eprintln!(
            "  {:<52} matched {:>7}  excepted {:>5}  alerts {:>5}  suppressed {:>4}",
            safe(&rule.name),
            s.matched,
            s.excepted,
            s.alerts,
            s.suppressed
        );
        if s.evicted > 0 {
            eprintln!(
                "    state of {} entities dropped: more were live at once than the rule keeps",
                s.evicted
            );
        }
    }
    let damaged = report
        .summaries
        .iter()
        .any(|s| s.as_ref().is_ok_and(Summary::incomplete));
    // Rules that cannot run are reported above (and fail `--strict`); 3 says records were not read, so
    // that a script can tell a skipped rule from lost evidence.
    if report.rejected > 0 || damaged || unreadable > 0 {
        Outcome::Rejections
    } else {
        Outcome::Clean
    }
}
