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
    /// Parse and plan, without data, every ES|QL query of hunt files (Elastic's hunting TOML and ES|QL
    /// rule TOML; folders walked): one line per query that fails, then the counts.
    Validate {
        /// Files or folders.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
    },
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
    /// The query.
    query: String,
    /// The lake, a folder or `s3://bucket/prefix` (written by `ingest --lake`); not needed when
    /// every FROM names log files or folders (`FROM "logs/Security.evtx"`).
    #[arg(long, value_name = "DIR|S3_URL")]
    lake: Option<String>,
    /// What `now()` means (RFC 3339; default: the clock), so a hunt gives the same rows every run.
    #[arg(long, value_parser = crate::cmd::detect::parse_time)]
    now: Option<Timestamp>,
    #[arg(long, value_enum, default_value = "table")]
    output: HuntOutput,
}

pub fn run(command: Hunt) -> anyhow::Result<Outcome> {
    match command {
        Hunt::Validate { paths } => {
            let v = secops_service::hunt::validate(&paths, Timestamp::now());
            for e in &v.unreadable {
                println!("{}", safe(e));
            }
            for c in &v.checked {
                if let Some(error) = &c.error {
                    println!(
                        "{} query {}: {}",
                        safe(&c.file.display().to_string()),
                        c.number,
                        safe(error)
                    );
                }
            }
            let failed = v.checked.len() - v.planned();
            println!(
                "{} parsed, {} planned, {} failed ({} in another language skipped, {} unreadable file(s))",
                v.parsed(),
                v.planned(),
                failed,
                v.skipped,
                v.unreadable.len()
            );
            Ok(if failed > 0 || !v.unreadable.is_empty() {
                Outcome::Failures
            } else {
                Outcome::Clean
            })
        }
        Hunt::Run(args) => {
            let now = args.now.unwrap_or_else(Timestamp::now);
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
            let stats = secops_service::hunt::run(
                &args.query,
                args.lake.as_deref(),
                now,
                output,
                &mut out,
            )?;
            out.flush()?;
            for note in &stats.notes {
                eprintln!("{}", safe(note));
            }
            eprintln!("{} row(s)", stats.rows);
            Ok(Outcome::Clean)
        }
    }
}
