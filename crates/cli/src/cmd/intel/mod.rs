//! `secops intel ...`: indicators into the store (files, folders, URLs, TAXII), judged by warninglists
//! and decay; listed, searched, shown, counted, pruned and exported; and retro-hunts of new
//! indicators through logs already collected.

mod feeds;
mod list;
mod retro_hunt;

use std::path::PathBuf;

use secops_intel::Kind;

use crate::args::{JudgeArgs, RuleArgs};
use crate::store::StoreArgs;
use crate::Outcome;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    store: StoreArgs,
    #[command(flatten)]
    judges: JudgeArgs,
    /// Judge as of this time (RFC 3339) instead of the clock: decay, expiry and what is active, as
    /// they were or will be then.
    #[arg(long, global = true)]
    now: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Import indicators from files, folders (a MISP feed, or files of any format) or http(s) URLs:
    /// STIX 2.1, MISP events, CSV feeds, plain lists. Prints counts per kind and every record that
    /// did not become an indicator, with the reason.
    Import {
        #[arg(required = true)]
        sources: Vec<String>,
        /// stix, misp, misp-feed, csv or list (default: recognized per file).
        #[arg(long)]
        format: Option<String>,
        /// CSV columns: value=COL,kind=ip|domain|...,kind_column=COL,first_seen=COL,last_seen=COL,
        /// confidence=COL,tags=COL (known feeds are recognized by their header).
        #[arg(long)]
        columns: Option<String>,
    },
    /// Pull a TAXII 2.1 server's collections (all readable ones, or --collection), from where the
    /// last pull stopped.
    Taxii {
        #[command(subcommand)]
        command: Taxii,
    },
    /// List indicators.
    List {
        #[arg(long, value_parser = parse_kind)]
        kind: Option<Kind>,
        #[arg(long)]
        source: Option<String>,
        /// Only those that match now (unexpired, for detection, on no warninglist).
        #[arg(long)]
        active: bool,
        #[arg(long, default_value_t = 100)]
        limit: u32,
    },
    /// Indicators whose value contains the text.
    Search { text: String },
    /// One indicator, whole: provenance, times, score now, expiry, warninglists.
    Show { id: i64 },
    /// Counts by kind and source, active, expired and warninglisted.
    Stats,
    /// Delete indicators that have expired.
    Prune,
    /// Write indicators as a STIX 2.1 bundle or CSV.
    Export {
        #[arg(long, default_value = "stix", value_parser = ["stix", "csv"])]
        format: String,
        /// Only those that match now.
        #[arg(long)]
        active: bool,
        #[arg(long, short = 'o')]
        out: Option<PathBuf>,
    },
    /// Search logs already collected for indicators that arrived recently, with the threat_match
    /// rules, and raise alerts for past sightings.
    RetroHunt(RetroHuntArgs),
}

#[derive(Debug, clap::Subcommand)]
enum Taxii {
    /// Pull objects and import their indicators.
    Pull {
        /// The server (`https://taxii.example` or `http://127.0.0.1:5000`).
        url: String,
        /// An API root path (default: every root the discovery lists).
        #[arg(long = "api-root")]
        api_root: Option<String>,
        /// A collection id (default: every readable collection).
        #[arg(long)]
        collection: Option<String>,
        #[arg(long)]
        user: Option<String>,
        /// The password (also $SECOPS_TAXII_PASSWORD).
        #[arg(long)]
        password: Option<String>,
        /// Objects per page.
        #[arg(long, default_value_t = 100)]
        limit: u32,
        /// Pull everything again, not only what was added since the last pull.
        #[arg(long)]
        all: bool,
    },
}

#[derive(Debug, clap::Args)]
pub struct RetroHuntArgs {
    /// Logs to search: files, folders, globs.
    #[arg(required = true)]
    paths: Vec<String>,
    /// Indicators that arrived in this period (`30d`, `12h`) or since this time (RFC 3339).
    #[arg(long, default_value = "30d")]
    since: String,
    #[command(flatten)]
    rules: RuleArgs,
    /// Year of the first line of syslog files without years.
    #[arg(long)]
    year: Option<i32>,
    /// Record the alerts in the store as `detect --store` does.
    #[arg(long = "record")]
    record: bool,
}

fn parse_kind(text: &str) -> Result<Kind, String> {
    Kind::parse(text).ok_or_else(|| {
        format!(
            "{text:?}: use one of {}",
            Kind::ALL.map(|k| k.as_str()).join(", ")
        )
    })
}

pub fn run(args: Args) -> anyhow::Result<Outcome> {
    let reading = matches!(
        args.command,
        Command::List { .. }
            | Command::Search { .. }
            | Command::Show { .. }
            | Command::Stats
            | Command::Export { .. }
    );
    let mut store = if reading {
        args.store.open_existing()?
    } else {
        args.store.open()?
    };
    let judges = args.judges.load()?;
    for (file, reason) in &judges.refused {
        eprintln!("warninglist refused: {file}: {reason}");
    }
    let now = match &args.now {
        Some(text) => secops_event::Timestamp::parse_rfc3339(text)
            .map_err(|e| anyhow::anyhow!("--now {text:?}: {e}"))?,
        None => secops_event::Timestamp::now(),
    }
    .unix_nanos();
    match args.command {
        Command::Import {
            sources,
            format,
            columns,
        } => feeds::import(&mut store, &judges, now, &sources, format, columns),
        Command::Taxii { command } => match command {
            Taxii::Pull {
                url,
                api_root,
                collection,
                user,
                password,
                limit,
                all,
            } => {
                let password = password.or_else(|| std::env::var("SECOPS_TAXII_PASSWORD").ok());
                let credentials = match (user, password) {
                    (Some(u), Some(p)) => Some((u, p)),
                    (Some(_), None) => {
                        anyhow::bail!("--user needs --password (or $SECOPS_TAXII_PASSWORD)")
                    }
                    _ => None,
                };
                let pull = secops_service::feeds::TaxiiPull {
                    url,
                    api_root,
                    collection,
                    credentials,
                    limit,
                    all,
                };
                feeds::taxii_pull(&mut store, &judges, now, &pull)
            }
        },
        Command::List {
            kind,
            source,
            active,
            limit,
        } => list::list(&mut store, now, kind, source, active, limit),
        Command::Search { text } => list::search(&mut store, now, text),
        Command::Show { id } => list::show(&mut store, &judges, now, id),
        Command::Stats => list::stats(&mut store, now),
        Command::Prune => {
            let removed = store.prune_indicators(now)?;
            println!("{removed} expired indicator(s) removed");
            Ok(Outcome::Clean)
        }
        Command::Export {
            format,
            active,
            out,
        } => list::export(&mut store, now, &format, active, out),
        Command::RetroHunt(hunt) => retro_hunt::run(&mut store, &judges, now, &hunt),
    }
}
