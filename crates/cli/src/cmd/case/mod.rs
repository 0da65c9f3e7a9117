//! `secops case ...`: incident response cases in the store. Each change is one transaction with its
//! line in the case's event log (`case show` lists it); illegal moves and incomplete closings are
//! refused with what is allowed or missing. The work is the service's (`secops_service::cases`):
//! `work.rs` makes changes at its `Desk`, `read.rs` lists, shows, reports and measures.

mod read;
mod work;

use std::path::PathBuf;

use secops_case::playbook::Playbooks;
use secops_case::{Resolution, Severity, Tlp};
use secops_service::cases::Desk;
use secops_service::SystemClock;

use crate::store::{actor, StoreArgs};
use crate::Outcome;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    store: StoreArgs,
    /// Who is acting (default: $SECOPS_USER, else $USER).
    #[arg(long = "as", global = true)]
    actor: Option<String>,
    /// A folder of playbooks (TOML) besides the bundled ones.
    #[arg(long, global = true)]
    playbooks: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Open a case: from stored alerts (`--from-alerts 3,4`, with the best-fitting playbook unless
    /// `--playbook` names one), or by hand (`--title`).
    New {
        #[arg(long = "from-alerts", value_delimiter = ',')]
        from_alerts: Vec<i64>,
        /// Open the case for a vulnerability finding (`secops vuln list` gives the ids).
        #[arg(long = "from-finding", conflicts_with = "from_alerts")]
        from_finding: Option<i64>,
        #[arg(long)]
        title: Option<String>,
        #[arg(long, default_value = "")]
        description: String,
        #[arg(long)]
        playbook: Option<String>,
        #[arg(long, value_parser = parse_severity)]
        severity: Option<Severity>,
        #[arg(long, value_parser = parse_tlp)]
        tlp: Option<Tlp>,
        #[arg(long)]
        assignee: Option<String>,
    },
    /// List cases, newest first.
    List {
        #[arg(long)]
        state: Option<String>,
        /// Leave out closed cases.
        #[arg(long)]
        open: bool,
    },
    /// One case: summary, tasks, observables, timeline, alerts, notes and event log.
    Show { number: i64 },
    /// Assign a case (`--none` to unassign).
    Assign {
        number: i64,
        user: Option<String>,
        #[arg(long)]
        none: bool,
    },
    /// Move a case along its lifecycle: triage, in_progress, containment, eradication, recovery,
    /// post_incident.
    Move { number: i64, state: String },
    /// Set a task's status (todo, in_progress, blocked, done, cancelled), or add a task with --add.
    Task {
        number: i64,
        id: Option<i64>,
        status: Option<String>,
        #[arg(long)]
        add: Option<String>,
        #[arg(long, default_value = "other")]
        group: String,
        #[arg(long)]
        assignee: Option<String>,
    },
    /// Add a note.
    Note { number: i64, text: String },
    /// Add an observable (ip-src, ip-dst, domain, hostname, url, md5, sha1, sha256, email-src,
    /// user-agent, filename, target-user, target-machine); defanged values are accepted.
    Observable {
        number: i64,
        kind: String,
        value: String,
        /// Not an indicator of compromise (by default: by its kind).
        #[arg(long)]
        not_ioc: bool,
        #[arg(long, default_value = "")]
        description: String,
    },
    /// Add a timeline entry at a time (RFC 3339).
    Timeline {
        number: i64,
        at: String,
        title: String,
        #[arg(long, default_value = "")]
        body: String,
        #[arg(long)]
        tactic: Option<String>,
        #[arg(long)]
        technique: Option<String>,
    },
    /// Close a case: needs a resolution, the root cause, the lessons learned, and every task finished.
    Close {
        number: i64,
        #[arg(long, value_parser = parse_resolution)]
        resolution: Resolution,
        #[arg(long = "root-cause", default_value = "")]
        root_cause: String,
        #[arg(long, default_value = "")]
        lessons: String,
    },
    /// Reopen a closed case.
    Reopen {
        number: i64,
        #[arg(long)]
        reason: String,
    },
    /// Write the case report: Markdown or printable HTML.
    Report {
        number: i64,
        #[arg(long, default_value = "md", value_parser = ["md", "html"])]
        format: String,
        /// Write to this file instead of standard output.
        #[arg(long, short = 'o')]
        out: Option<PathBuf>,
    },
    /// MTTD, MTTA, MTTC and MTTR from the case event logs: median and 90th percentile, overall, per
    /// severity and per playbook.
    Metrics {
        #[arg(long, default_value = "table", value_parser = ["table", "json"])]
        format: String,
    },
    /// Open one case per group of related open alerts not yet in a case (same host, user or source
    /// within the window).
    Group {
        /// How far apart related alerts may be (`30m`, `2h`, `1d`).
        #[arg(long, default_value = "1h")]
        window: String,
        /// The entity fields that relate alerts.
        #[arg(
            long,
            value_delimiter = ',',
            default_value = "host.name,user.name,source.ip"
        )]
        by: Vec<String>,
    },
}

fn parse_severity(text: &str) -> Result<Severity, String> {
    Severity::parse(text).ok_or_else(|| format!("{text:?}: use {}", Severity::choices()))
}

fn parse_tlp(text: &str) -> Result<Tlp, String> {
    Tlp::parse(text).ok_or_else(|| format!("{text:?}: use {}", Tlp::choices()))
}

fn parse_resolution(text: &str) -> Result<Resolution, String> {
    Resolution::parse(text).ok_or_else(|| format!("{text:?}: use {}", Resolution::choices()))
}

pub fn run(args: Args) -> anyhow::Result<Outcome> {
    let reading = matches!(
        args.command,
        Command::List { .. }
            | Command::Show { .. }
            | Command::Report { .. }
            | Command::Metrics { .. }
    );
    let who = actor(args.actor.as_deref());
    let mut store = if reading {
        args.store.open_existing()?
    } else {
        args.store.open_as(&who)?
    };
    let playbooks = match &args.playbooks {
        Some(dir) => Playbooks::with_folder(dir)?,
        None => Playbooks::bundled()?,
    };
    match args.command {
        Command::List { state, open } => read::list(&mut store, state, open)?,
        Command::Show { number } => print!("{}", read::show(&mut store, number)?),
        Command::Report {
            number,
            format,
            out,
        } => read::report(&mut store, number, &format, out)?,
        Command::Metrics { format } => read::metrics(&mut store, &format)?,
        command => {
            let mut desk = Desk {
                store: &mut store,
                actor: &who,
                clock: &SystemClock,
            };
            work::run(&mut desk, &playbooks, command)?;
        }
    }
    Ok(Outcome::Clean)
}
