//! `secops lake ...`: keeping the event lake in shape (small files merged, old days removed).

use secops_event::Timestamp;

use crate::output::safe;
use crate::Outcome;

#[derive(Debug, clap::Subcommand)]
pub enum Lake {
    /// Merge each partition's small files (a file per ingest run) into larger ones; rows an
    /// interrupted earlier run left twice are kept once.
    Compact {
        /// The lake: a folder, or `s3://bucket/prefix`.
        dir: String,
    },
    /// Remove whole days older than the retention age.
    Prune {
        /// The lake: a folder, or `s3://bucket/prefix`.
        dir: String,
        /// The retention age (`30d`, `12w`, `720h`).
        #[arg(long = "older-than")]
        older_than: String,
        /// The time to count from (RFC 3339; default: now).
        #[arg(long, value_parser = crate::cmd::detect::parse_time)]
        now: Option<Timestamp>,
    },
}

pub fn run(command: Lake) -> anyhow::Result<Outcome> {
    match command {
        Lake::Compact { dir } => {
            let s = secops_service::lake::compact(&dir)?;
            println!(
                "{}: {} partition(s), {} file(s) -> {}, {} row(s), {} row(s) there twice kept once",
                safe(&dir),
                s.partitions,
                s.files_before,
                s.files_after,
                s.rows,
                s.duplicates
            );
        }
        Lake::Prune {
            dir,
            older_than,
            now,
        } => {
            let age: secops_rules::Duration = older_than
                .parse()
                .map_err(|e| anyhow::anyhow!("--older-than: {e}"))?;
            let now = now.unwrap_or_else(Timestamp::now);
            let age = i64::try_from(age.as_nanos()).unwrap_or(i64::MAX);
            let s = secops_service::lake::prune(&dir, age, now)?;
            for day in &s.days {
                println!("removed dt={day}");
            }
            println!(
                "{}: {} day(s), {} file(s), {} row(s) removed",
                safe(&dir),
                s.days.len(),
                s.files,
                s.rows
            );
        }
    }
    Ok(Outcome::Clean)
}
