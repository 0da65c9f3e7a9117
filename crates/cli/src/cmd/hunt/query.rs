//! `hunt run`, `hunt explain` and `hunt validate`: a query, or a hunt of the library, over the lake or
//! raw logs; the rows printed or attached to a case as evidence.

use std::io::Write;

use anyhow::Context;
use std::path::PathBuf;

use secops_event::Timestamp;
use secops_service::hunt::Output;

use super::LibraryArgs;
use crate::output::safe;
use crate::Outcome;

/// What `run` and `explain` share.
#[derive(Debug, clap::Args)]
pub struct QueryArgs {
    /// The query, or (with `run`) a hunt of the library: its id, file name or name.
    query: String,
    /// The lake, a folder or `s3://bucket/prefix` (written by `ingest --lake`); not needed when
    /// every FROM names log files or folders (`FROM "logs/Security.evtx"`).
    #[arg(long, value_name = "DIR|S3_URL")]
    lake: Option<String>,
    /// What `now()` means (RFC 3339; default: the clock), so a hunt gives the same rows every run.
    #[arg(long, value_parser = crate::cmd::detect::parse_time)]
    now: Option<Timestamp>,
    /// Plan a field nothing resolves as null, with a warning, instead of refusing the query.
    #[arg(long)]
    lenient: bool,
    /// The query is plain SQL over the table `events` (read-only: no DDL, DML or SET), columns by their
    /// dotted names in double quotes (`SELECT "host.name", count(*) FROM events GROUP BY 1`).
    #[arg(long, conflicts_with = "lenient")]
    sql: bool,
    /// Stop the query after this long (`30s`, `5m`).
    #[arg(long)]
    timeout: Option<String>,
    /// MISP warninglists for `in_set(value, "list name")`: a folder of `<name>/list.json` (default:
    /// $SECOPS_WARNINGLISTS).
    #[arg(long)]
    warninglists: Option<PathBuf>,
    /// The asset and identity inventory the `assets` table reads (TOML or CSV files, or a folder).
    #[arg(long)]
    inventory: Option<PathBuf>,
    /// The store the `alerts`, `cases` and `indicators` tables read (opened only when a query
    /// reads one of them).
    #[command(flatten)]
    store: crate::store::StoreArgs,
}

impl QueryArgs {
    fn options(&self) -> anyhow::Result<secops_service::hunt::HuntOptions> {
        let timeout = match &self.timeout {
            Some(t) => {
                let d: secops_rules::Duration =
                    t.parse().map_err(|e| anyhow::anyhow!("--timeout: {e}"))?;
                Some(std::time::Duration::from_nanos(d.as_nanos()))
            }
            None => None,
        };
        let judges = crate::args::JudgeArgs {
            warninglists: self.warninglists.clone(),
            decay_models: None,
        }
        .load()?;
        for (file, reason) in &judges.refused {
            eprintln!("warninglist {}: {}", safe(file), safe(reason));
        }
        let inventory = match &self.inventory {
            Some(path) => Some(std::sync::Arc::new(
                secops_service::entities::load_inventory(path)
                    .map_err(|e| anyhow::anyhow!("--inventory {}: {e}", path.display()))?,
            )),
            None => None,
        };
        Ok(secops_service::hunt::HuntOptions {
            now: self.now,
            warninglists: judges.lists,
            store: Some(self.store.target()),
            inventory,
            lenient: self.lenient,
            sql: self.sql,
            limits: secops_service::hunt::Limits {
                timeout,
                ..Default::default()
            },
        })
    }
}

#[derive(Debug, clap::Args)]
pub struct ExplainArgs {
    #[command(flatten)]
    query: QueryArgs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum HuntOutput {
    Table,
    Jsonl,
    Csv,
    /// One Parquet file on standard output (redirect it to a file).
    Parquet,
}

#[derive(Debug, clap::Args)]
pub struct RunArgs {
    #[command(flatten)]
    query: QueryArgs,
    #[arg(long, value_enum, default_value = "table")]
    output: HuntOutput,
    /// Show at most this many rows (the count printed says whether there were more); no cap unless
    /// asked for.
    #[arg(long = "max-rows")]
    max_rows: Option<u64>,
    /// Which of the hunt's queries runs (from 1), when a hunt of the library is named.
    #[arg(long, default_value_t = 1)]
    number: usize,
    #[command(flatten)]
    library: LibraryArgs,
    /// Run over these log files, folders or globs instead of a lake (read into a lake of their own
    /// for the run, as `ingest --lake` reads them).
    #[arg(long = "logs", conflicts_with = "lake")]
    logs: Vec<String>,
    /// Year of the first line of syslog files without years (with --logs).
    #[arg(long)]
    year: Option<i32>,
    /// Attach the rows to this case as evidence (a file below --evidence-dir, its SHA-256, the query,
    /// the data's span, the row count) with a timeline entry, instead of printing them.
    #[arg(long)]
    case: Option<i64>,
    /// The evidence file's format.
    #[arg(
        long = "evidence-format",
        value_enum,
        default_value = "csv",
        requires = "case"
    )]
    evidence_format: EvidenceFormatArg,
    /// Where evidence files are kept (default: $SECOPS_EVIDENCE, else `evidence` here).
    #[arg(long = "evidence-dir", requires = "case")]
    evidence_dir: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum EvidenceFormatArg {
    Csv,
    Parquet,
}

/// `hunt validate`: every ES|QL query of the files parsed and planned, our hunt files checked whole.
pub fn validate(paths: &[PathBuf], lenient: bool) -> anyhow::Result<Outcome> {
    let v = secops_service::hunt::validate(paths, Timestamp::now(), lenient);
    for e in v.unreadable.iter().chain(&v.problems) {
        println!("{}", safe(e));
    }
    for c in &v.checked {
        let file = safe(&c.file.display().to_string()).into_owned();
        if let Some(error) = &c.error {
            println!("{file} query {}: {}", c.number, safe(error));
        }
        for warning in &c.lenient {
            println!("{file} query {} (lenient): {}", c.number, safe(warning));
        }
    }
    let failed = v.checked.len() - v.planned();
    let lenient_note = if lenient {
        format!(", {} of them planned only leniently", v.only_lenient())
    } else {
        String::new()
    };
    println!(
        "{} parsed, {} planned, {} failed{lenient_note} ({} in another language skipped, {} unreadable file(s), {} problem(s) in hunt files)",
        v.parsed(),
        v.planned(),
        failed,
        v.skipped,
        v.unreadable.len(),
        v.problems.len()
    );
    Ok(
        if failed > 0 || !v.unreadable.is_empty() || !v.problems.is_empty() {
            Outcome::Failures
        } else {
            Outcome::Clean
        },
    )
}

/// `hunt explain`: the plan and what the query cost.
pub fn explain(args: &ExplainArgs) -> anyhow::Result<Outcome> {
    let q = &args.query;
    let explained = secops_service::hunt::explain(&q.query, q.lake.as_deref(), &q.options()?);
    // Explaining runs the query: it is recorded as `run` records one.
    record_query(
        &q.store,
        &q.query,
        match &explained {
            Ok(e) => Ok(secops_service::hunt::RunStats {
                rows: e.rows_out,
                ..Default::default()
            }),
            Err(e) => Err(e.to_string()),
        },
    )?;
    let e = explained?;
    for line in e.plan.lines() {
        println!("{}", safe(line));
    }
    let total = e
        .partitions_total
        .map_or(String::new(), |t| format!(" of {t}"));
    println!(
        "partitions read: {}{total} (day and source); files read: {}",
        e.partitions_read, e.files_read
    );
    println!(
        "row groups: {} read, {} skipped by their statistics",
        e.row_groups_read, e.row_groups_pruned
    );
    println!(
        "rows scanned: {} ({} bytes); rows out: {}",
        e.rows_scanned, e.bytes_scanned, e.rows_out
    );
    println!(
        "spilled to disk: {} time(s), {} bytes",
        e.spills, e.spilled_bytes
    );
    println!("time: {:.2} s", e.elapsed.as_secs_f64());
    for line in e.notes.iter().chain(&e.warnings) {
        eprintln!("{}", safe(line));
    }
    Ok(Outcome::Clean)
}

/// Records a hunt query and how it ended in the store's audit log, when there is a store: every
/// hunt query is, failed ones too.
fn record_query(
    store: &crate::store::StoreArgs,
    query: &str,
    outcome: Result<secops_service::hunt::RunStats, String>,
) -> anyhow::Result<()> {
    let Some(mut store) = store.open_existing_audited()? else {
        return Ok(());
    };
    secops_service::hunt::audit_query(
        &mut store,
        Timestamp::now().unix_nanos(),
        query,
        outcome.as_ref().map_err(String::as_str),
    )
    .context("recording the hunt in the audit log")
}

/// `hunt run`: the rows printed (or attached to a case), then the counts and visibility gaps.
pub fn run(args: &RunArgs) -> anyhow::Result<Outcome> {
    let output = match args.output {
        HuntOutput::Table => Output::Table,
        HuntOutput::Jsonl => Output::Jsonl,
        HuntOutput::Csv => Output::Csv,
        HuntOutput::Parquet => {
            use std::io::IsTerminal;
            if std::io::stdout().is_terminal() {
                anyhow::bail!(
                    "Parquet is binary: send it to a file (--output parquet > rows.parquet)"
                );
            }
            Output::Parquet
        }
    };
    let mut options = args.query.options()?;
    options.limits.max_rows = args.max_rows;
    let query = library_query(args)?;
    // Raw logs go into a lake of their own for the run.
    let scratch = if args.logs.is_empty() {
        None
    } else {
        Some(logs_lake(&args.logs, args.year)?)
    };
    let lake = match &scratch {
        Some(dir) => Some(dir.path().display().to_string()),
        None => args.query.lake.clone(),
    };
    if let Some(case) = args.case {
        return attach_evidence(args, case, &query, lake.as_deref(), options);
    }
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let ran = secops_service::hunt::run(&query, lake.as_deref(), &options, output, &mut out);
    out.flush()?;
    record_query(
        &args.query.store,
        &query,
        ran.as_ref().map(Clone::clone).map_err(ToString::to_string),
    )?;
    let stats = ran?;
    for note in stats.notes.iter().chain(&stats.warnings) {
        eprintln!("{}", safe(note));
    }
    if let Some(lake) = &lake {
        for gap in secops_service::hunt::visibility_gaps(&query, lake)? {
            eprintln!("visibility: {}", safe(&gap));
        }
    }
    match args.max_rows {
        Some(max) if stats.capped => eprintln!(
            "{} row(s) shown: stopped at --max-rows {max}; the query had more",
            stats.rows
        ),
        _ => eprintln!("{} row(s)", stats.rows),
    }
    Ok(Outcome::Clean)
}

/// The query `run` was given, or the query of the library's hunt it names.
fn library_query(args: &RunArgs) -> anyhow::Result<String> {
    let text = args.query.query.trim();
    // A query is never a hunt's id, file name or name; only a text without a pipe is looked up.
    if text.contains('|') || text.contains('\n') {
        return Ok(args.query.query.clone());
    }
    let library = args.library.load()?;
    let Ok(entry) = library.find(text) else {
        return Ok(args.query.query.clone());
    };
    let hunt = &entry.file.hunt;
    let query = args
        .number
        .checked_sub(1)
        .and_then(|i| hunt.query.get(i))
        .ok_or_else(|| {
            anyhow::anyhow!(
                "--number {}: the hunt {:?} has {} quer{} in the hunt language",
                args.number,
                hunt.name,
                hunt.query.len(),
                if hunt.query.len() == 1 { "y" } else { "ies" }
            )
        })?;
    eprintln!("hunt: {} ({})", safe(&hunt.name), safe(&hunt.uuid));
    Ok(query.clone())
}

/// The logs read into a temporary lake, with what could not be read or was rejected said.
fn logs_lake(logs: &[String], year: Option<i32>) -> anyhow::Result<tempfile::TempDir> {
    let dir = tempfile::tempdir()?;
    let (inputs, errors) = secops_ingest::expand(logs);
    for e in &errors {
        eprintln!("{}", safe(&e.to_string()));
    }
    if inputs.is_empty() {
        anyhow::bail!("--logs: no log files to read");
    }
    let options = secops_ingest::Options {
        year,
        ..secops_ingest::Options::default()
    };
    let lake = dir.path().display().to_string();
    let ingested = secops_service::lake::ingest(
        &inputs,
        &options,
        0,
        &lake,
        &secops_service::NoProgress,
        &secops_service::Cancel::new(),
    )?;
    for (_, summary) in &ingested.summaries {
        match summary {
            Ok(s) if s.rejected > 0 => eprintln!(
                "{}: {} record(s) rejected (`secops ingest` names them)",
                safe(&s.source),
                s.rejected
            ),
            Ok(_) => {}
            Err(e) => eprintln!("{}", safe(&e.to_string())),
        }
    }
    Ok(dir)
}

/// `hunt run --case N`: the rows as evidence on the case.
fn attach_evidence(
    args: &RunArgs,
    case: i64,
    query: &str,
    lake: Option<&str>,
    options: secops_service::hunt::HuntOptions,
) -> anyhow::Result<Outcome> {
    let text = args.query.query.trim();
    let library = if text.contains('|') || text.contains('\n') {
        None
    } else {
        args.library.load().ok()
    };
    let hunt = library
        .as_ref()
        .and_then(|l| l.find(text).ok())
        .map(|e| &e.file.hunt);
    let title = match hunt {
        Some(h) => h.name.clone(),
        None => query.lines().next().unwrap_or("hunt").trim().to_string(),
    };
    let request = secops_service::hunt_evidence::EvidenceRequest {
        case,
        title,
        query: query.to_string(),
        lake: lake.map(str::to_string),
        options,
        format: match args.evidence_format {
            EvidenceFormatArg::Csv => secops_service::hunt_evidence::EvidenceFormat::Csv,
            EvidenceFormatArg::Parquet => secops_service::hunt_evidence::EvidenceFormat::Parquet,
        },
        dir: args
            .evidence_dir
            .clone()
            .or_else(|| std::env::var_os("SECOPS_EVIDENCE").map(PathBuf::from))
            .unwrap_or_else(|| PathBuf::from("evidence")),
        technique: hunt.and_then(|h| h.mitre.first().cloned()),
        actor: crate::store::actor(None).name,
    };
    let mut store = args.query.store.open()?;
    let evidence = secops_service::hunt_evidence::attach(&request, &mut store)?;
    println!(
        "{} row(s) attached to case {} as evidence {}: {} (SHA-256 {})",
        evidence.evidence.rows,
        case,
        evidence.id,
        safe(&evidence.evidence.path),
        evidence.evidence.sha256
    );
    if let Some(lake) = lake {
        for gap in secops_service::hunt::visibility_gaps(query, lake)? {
            eprintln!("visibility: {}", safe(&gap));
        }
    }
    Ok(Outcome::Clean)
}
