//! `hunt schedule`: hunts run over the lake as rules run, each row an alert, gaps filled.

use secops_event::Timestamp;

use super::LibraryArgs;
use crate::output::safe;
use crate::Outcome;

#[derive(Debug, clap::Args)]
pub struct ScheduleArgs {
    /// Hunts of the library: ids, file names or names.
    #[arg(value_name = "HUNT", required_unless_present = "status")]
    names: Vec<String>,
    #[command(flatten)]
    library: LibraryArgs,
    /// Run what is due once and stop (continuous scheduling comes with `secops run`).
    #[arg(long, required_unless_present = "status")]
    once: bool,
    /// Show each scheduled hunt's record (covered to, last run, runs, alerts) instead.
    #[arg(long, conflicts_with = "once")]
    status: bool,
    /// The lake, a folder or `s3://bucket/prefix`.
    #[arg(long, value_name = "DIR|S3_URL", required_unless_present = "status")]
    lake: Option<String>,
    /// How far back a hunt's first run looks (`24h`, `7d`).
    #[arg(long = "look-back", default_value = "1d")]
    look_back: String,
    /// The end of the range (RFC 3339; default: the clock).
    #[arg(long, value_parser = crate::cmd::detect::parse_time)]
    now: Option<Timestamp>,
    /// Cover from here instead of where the last run ended (run a range again).
    #[arg(long, value_parser = crate::cmd::detect::parse_time)]
    from: Option<Timestamp>,
    /// Which of each hunt's queries (from 1).
    #[arg(long, default_value_t = 1)]
    number: usize,
    /// Rows raised as alerts at most per hunt and run.
    #[arg(long = "max-rows", default_value_t = 10_000)]
    max_rows: u64,
    #[command(flatten)]
    store: crate::store::StoreArgs,
}

/// `hunt schedule --once`: each hunt over its due range, one line each; `--status`: the records.
pub fn schedule(args: &ScheduleArgs) -> anyhow::Result<Outcome> {
    if args.status {
        let mut store = args.store.open()?;
        let records = store.hunt_schedules()?;
        for r in &records {
            println!(
                "{}  covered to {}  look-back {}  last run {}  {} run(s), {} alert(s)",
                safe(&r.hunt),
                Timestamp::from_unix_nanos(r.covered_to).to_rfc3339(),
                seconds_text(r.look_back),
                Timestamp::from_unix_nanos(r.last_run).to_rfc3339(),
                r.runs,
                r.alerts
            );
        }
        println!("{} scheduled hunt(s)", records.len());
        return Ok(Outcome::Clean);
    }
    let library = args.library.load()?;
    let look_back: secops_rules::Duration = args
        .look_back
        .parse()
        .map_err(|e| anyhow::anyhow!("--look-back: {e}"))?;
    let options = secops_service::hunt_schedule::ScheduleOptions {
        query: args
            .number
            .checked_sub(1)
            .ok_or_else(|| anyhow::anyhow!("--number counts from 1"))?,
        now: args.now.unwrap_or_else(Timestamp::now),
        look_back: i64::try_from(look_back.as_nanos()).unwrap_or(i64::MAX),
        from: args.from,
        lake: args
            .lake
            .clone()
            .ok_or_else(|| anyhow::anyhow!("--lake is needed"))?,
        store: args.store.target(),
        actor: crate::store::actor(None).name,
        max_rows: args.max_rows,
    };
    let mut store = args.store.open()?;
    let mut failed = false;
    for key in &args.names {
        let entry = library.find(key)?;
        let name = safe(&entry.file.hunt.name).into_owned();
        match secops_service::hunt_schedule::run_once(entry, &options, &mut store) {
            Ok(run) if run.nothing_due => {
                println!("{name}: nothing due (covered to {})", run.from.to_rfc3339())
            }
            Ok(run) => {
                let gap = if run.gap_filled > 0 {
                    format!(
                        " (a gap of {} since the last run filled)",
                        seconds_text(run.gap_filled)
                    )
                } else {
                    String::new()
                };
                let capped = if run.capped {
                    format!(", stopped at --max-rows {}", args.max_rows)
                } else {
                    String::new()
                };
                println!(
                    "{name}: {} to {}{gap}: {} row(s){capped}, {} new alert(s), {} already raised",
                    run.from.to_rfc3339(),
                    run.to.to_rfc3339(),
                    run.rows,
                    run.new_alerts,
                    run.repeats
                );
            }
            Err(e) => {
                failed = true;
                println!("{name}: {}", safe(&e.to_string()));
            }
        }
    }
    Ok(if failed {
        Outcome::Failures
    } else {
        Outcome::Clean
    })
}

/// Nanoseconds as the largest whole unit (`7d`, `36h`, `90s`).
fn seconds_text(nanos: i64) -> String {
    let seconds = nanos / 1_000_000_000;
    for (unit, size) in [("d", 86_400), ("h", 3_600), ("m", 60)] {
        if seconds >= size && seconds % size == 0 {
            return format!("{}{unit}", seconds / size);
        }
    }
    format!("{seconds}s")
}
