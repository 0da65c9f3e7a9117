//! `secops hunt ...`: questions asked of the event lake in the hunt language.

use std::io::Write;
use std::path::PathBuf;

use secops_event::Timestamp;
use secops_service::hunt::Output;

use crate::output::safe;
use crate::Outcome;

#[derive(Debug, clap::Subcommand)]
pub enum Hunt {
    /// Run a query over the event lake (`FROM events | WHERE ... | STATS ... BY ...`).
    Run(RunArgs),
    /// Run a query with its rows counted, not shown, and say what it cost: the plan, partitions and
    /// row groups pruned, rows and bytes scanned, spill to disk.
    Explain(ExplainArgs),
    /// Parse and plan, without data, every ES|QL query of hunt files (Elastic's hunting TOML and ES|QL
    /// rule TOML; folders walked): one line per query that fails, then the counts.
    Validate {
        /// Files or folders.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// Plan a field nothing resolves as null (listed; such a query is not counted as planned).
        #[arg(long)]
        lenient: bool,
    },
}

/// What `run` and `explain` share.
#[derive(Debug, clap::Args)]
pub struct QueryArgs {
    /// The query.
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
}

pub fn run(command: Hunt) -> anyhow::Result<Outcome> {
    // Hunts churn through batches: memory goes back as soon as it is freed (peak memory halved).
    crate::memory::return_freed_memory_promptly();
    match command {
        Hunt::Validate { paths, lenient } => {
            let v = secops_service::hunt::validate(&paths, Timestamp::now(), lenient);
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
        Hunt::Explain(args) => {
            let q = &args.query;
            let e = secops_service::hunt::explain(&q.query, q.lake.as_deref(), &q.options()?)?;
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
        Hunt::Run(args) => {
            let output = match args.output {
                HuntOutput::Table => Output::Table,
                HuntOutput::Jsonl => Output::Jsonl,
                HuntOutput::Csv => Output::Csv,
                HuntOutput::Parquet => {
                    use std::io::IsTerminal;
                    if std::io::stdout().is_terminal() {
                        anyhow::bail!("Parquet is binary: send it to a file (--output parquet > rows.parquet)");
                    }
                    Output::Parquet
                }
            };
            let mut out = std::io::BufWriter::new(std::io::stdout().lock());
            let mut options = args.query.options()?;
            options.limits.max_rows = args.max_rows;
            let stats = secops_service::hunt::run(
                &args.query.query,
                args.query.lake.as_deref(),
                &options,
                output,
                &mut out,
            )?;
            out.flush()?;
            for note in stats.notes.iter().chain(&stats.warnings) {
                eprintln!("{}", safe(note));
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
    }
}
