//! `secops vuln ...`: scanner reports imported (Trivy, Grype, SARIF, osv-scanner, Nessus, OpenVAS),
//! deduplicated across tools and scans; catalogs refreshed (KEV, EPSS, SSVC, OSV); the findings
//! queue by risk or deadline, a finding whole, risk accepted, findings closed.

mod import;
mod list;
mod report;

use std::path::PathBuf;

use anyhow::Context;
use secops_service::vulns::VulnPolicy;
use secops_vuln::assets::AssetIndex;

use crate::store::{actor, StoreArgs};
use crate::Outcome;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    store: StoreArgs,
    /// The asset and identity inventory (TOML or CSV, or a folder of them): findings on its hosts
    /// and networks take their criticality and exposure.
    #[arg(long, global = true)]
    inventory: Option<PathBuf>,
    /// Prioritisation policy (TOML): `[weights]` critical, high, medium, low, internet, dmz,
    /// internal; `[sla]` days for critical, high, medium, low, malicious.
    #[arg(long, global = true)]
    policy: Option<PathBuf>,
    /// Act as of this time (RFC 3339) instead of the clock.
    #[arg(long, global = true)]
    now: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Import scanner reports (format detected per file): each finding new, merged into one
    /// already known, or rejected with where and why; what a scanned scope no longer reports is
    /// closed, what came back reopened.
    Import {
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// trivy, grype, sarif, osv-scanner, nessus or openvas (default: detected per file).
        #[arg(long)]
        format: Option<String>,
        /// What was scanned, when the report does not say (a SARIF run without its repository).
        #[arg(long)]
        target: Option<String>,
    },
    /// Load a catalog (a file or an http(s) URL): the KEV catalog (JSON or CSV), EPSS scores
    /// (CSV, gzipped or not), an SSVC decision table (CSV), OSV records. Open findings are
    /// prioritised again.
    Refresh {
        #[arg(required = true)]
        sources: Vec<String>,
    },
    /// The findings queue, highest risk first (or by deadline).
    List(list::ListArgs),
    /// One finding whole: ids, package, scores with their inputs, deadline, detections, history.
    Show { id: i64 },
    /// Accept findings' risk until a date: the SLA pauses, and resumes when the acceptance expires.
    Accept {
        #[arg(required = true)]
        ids: Vec<i64>,
        /// Who owns the risk.
        #[arg(long, required = true)]
        owner: String,
        #[arg(long, required = true)]
        reason: String,
        /// Until this date (YYYY-MM-DD or RFC 3339) or for this long (`30d`).
        #[arg(long, required = true)]
        until: String,
    },
    /// Where the findings stand against their deadlines: per severity (open, overdue, due within 7
    /// days, accepted, closed in time or late, median and p90 time to remediate) and per owner.
    Sla {
        /// Also raise an alert (rule `secops-vuln-sla-breach`) for each open finding past its
        /// deadline, once per finding and deadline, for cases and response automation to act on.
        #[arg(long)]
        raise: bool,
    },
    /// The report: SLA standing, overdue by owner, top risks, open findings over time (a chart in
    /// HTML), as Markdown or one self-contained HTML page.
    Report {
        #[arg(long, default_value = "md", value_parser = ["md", "html"])]
        format: String,
        /// Write to this file instead of standard output.
        #[arg(long, short = 'o')]
        out: Option<PathBuf>,
        /// How many of the highest risks to list.
        #[arg(long, default_value_t = 20)]
        top: u32,
        /// Days of history in the burn-down.
        #[arg(long, default_value_t = 90)]
        days: i64,
    },
    /// Close findings: fixed, mitigated (a control the scanner cannot see) or false-positive.
    Close {
        #[arg(required = true)]
        ids: Vec<i64>,
        #[arg(long = "as", value_parser = ["fixed", "mitigated", "false-positive"])]
        resolution: String,
        #[arg(long, default_value = "")]
        note: String,
    },
}

pub fn run(args: Args) -> anyhow::Result<Outcome> {
    let reading = matches!(
        args.command,
        Command::List(_) | Command::Show { .. } | Command::Sla { .. } | Command::Report { .. }
    );
    let mut store = if reading {
        args.store
            .open_existing_audited()?
            .context("no store: import reports with `secops vuln import` first")?
    } else {
        args.store.open()?
    };
    let clock = crate::args::clock(args.now.as_deref())?;
    let policy = match &args.policy {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?;
            toml::from_str::<VulnPolicy>(&text)
                .with_context(|| format!("{}: not a prioritisation policy", path.display()))?
        }
        None => VulnPolicy::default(),
    };
    let assets = match &args.inventory {
        Some(path) => Some(AssetIndex::new(&secops_service::entities::load_inventory(
            path,
        )?)),
        None => None,
    };
    let who = actor(None);
    match args.command {
        Command::Import {
            files,
            format,
            target,
        } => import::import(
            &mut store,
            import::Request {
                files,
                format,
                target,
                assets: assets.as_ref(),
                policy,
            },
            &who,
            clock.as_ref(),
        ),
        Command::Refresh { sources } => import::refresh(
            &mut store,
            &sources,
            assets.as_ref(),
            &policy,
            clock.as_ref(),
        ),
        Command::List(list) => list::list(&mut store, &list, &who, clock.as_ref()),
        Command::Show { id } => list::show(&mut store, id, &who, clock.as_ref()),
        Command::Sla { raise } => {
            report::sla(&mut store, assets.as_ref(), raise, &who, clock.as_ref())
        }
        Command::Report {
            format,
            out,
            top,
            days,
        } => report::report(
            &mut store,
            assets.as_ref(),
            &format,
            out,
            top,
            days,
            &who,
            clock.as_ref(),
        ),
        Command::Accept {
            ids,
            owner,
            reason,
            until,
        } => list::accept(
            &mut store,
            &ids,
            &owner,
            &reason,
            &until,
            &who,
            clock.as_ref(),
        ),
        Command::Close {
            ids,
            resolution,
            note,
        } => list::close(
            &mut store,
            &ids,
            &resolution.replace('-', "_"),
            &note,
            &who,
            clock.as_ref(),
        ),
    }
}
