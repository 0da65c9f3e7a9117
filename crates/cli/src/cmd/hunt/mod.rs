//! `secops hunt ...`: questions asked of the event lake in the hunt language, and hunts as code: the
//! library (`library.rs`: list, show, test), queries and hunts run, explained and validated, rows as
//! case evidence (`query.rs`), hunts promoted to rules (`promote.rs`), run on a schedule
//! (`schedule.rs`), and Sigma rules run as hunts (`sigma.rs`). The work is the service's.

mod library;
mod promote;
mod query;
mod schedule;
mod sigma;

use std::path::PathBuf;

use crate::output::safe;
use crate::Outcome;

pub use library::test_hunts;
pub use promote::PromoteArgs;
pub use query::{ExplainArgs, RunArgs};
pub use schedule::ScheduleArgs;
pub use sigma::SigmaArgs;

#[derive(Debug, clap::Subcommand)]
pub enum Hunt {
    /// The hunts of the library (bundled, or hunt files below --hunts): id, name, techniques, tests.
    List {
        #[command(flatten)]
        library: LibraryArgs,
    },
    /// One hunt of the library: hypothesis, description, data sources, techniques, queries, notes.
    Show {
        /// The hunt's id, file name (without `.toml`) or name.
        hunt: String,
        #[command(flatten)]
        library: LibraryArgs,
    },
    /// Run the `[[test]]` cases of hunt files (default: the bundled library): each case's events
    /// into a scratch lake, its query with its pinned now, its rows against the expected ones.
    Test {
        /// Hunt files or folders (default: the bundled library).
        paths: Vec<PathBuf>,
        /// Only hunts or cases whose name contains this (case-insensitive).
        #[arg(long)]
        filter: Option<String>,
        /// The folder `file = "shared/..."` paths start from (default: the parent of the current folder).
        #[arg(long = "data-root", default_value = "..")]
        data_root: PathBuf,
    },
    /// Run a query over the event lake (`FROM events | WHERE ... | STATS ... BY ...`), or a hunt
    /// of the library by its id, file name or name.
    Run(RunArgs),
    /// Turn a hunt into a rule: a plain filter into a query rule, a threshold over a stack into a
    /// threshold rule, a first-seen anti-join into a new_terms rule; the hunt's test cases come
    /// with it and run at once. Other shapes are refused with the reason.
    Promote(PromoteArgs),
    /// Run hunts over the lake as rules run: each row an alert in the store, over the event time
    /// since the hunt's last run (the first time, its look-back), so downtime leaves no gap and a
    /// range covered twice raises its alerts once. `--once` runs what is due and stops.
    Schedule(ScheduleArgs),
    /// Run Sigma rules as hunts over the lake (SigmaHQ's rules-threat-hunting, written to be read by
    /// a hunter): every stored event through the detection engine, each match a row (the rule and
    /// the event). Correlations and other rules that need all events in time order are left out.
    Sigma(SigmaArgs),
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

/// Where the hunt library is.
#[derive(Debug, Clone, clap::Args)]
pub struct LibraryArgs {
    /// Hunt files or folders (repeatable; default: the bundled library).
    #[arg(long = "hunts")]
    hunts: Vec<PathBuf>,
}

impl LibraryArgs {
    fn load(&self) -> anyhow::Result<secops_service::hunt_library::Library> {
        let library = secops_service::hunt_library::Library::load(&self.hunts)?;
        for e in &library.unreadable {
            eprintln!("{}", safe(e));
        }
        Ok(library)
    }
}

pub fn run(command: Hunt) -> anyhow::Result<Outcome> {
    // Hunts churn through batches: memory goes back as soon as it is freed (peak memory halved).
    crate::memory::return_freed_memory_promptly();
    match command {
        Hunt::List { library } => library::list(&library.load()?),
        Hunt::Promote(args) => promote::promote(&args),
        Hunt::Schedule(args) => schedule::schedule(&args),
        Hunt::Sigma(args) => sigma::sigma(&args),
        Hunt::Show { hunt, library } => library::show(library.load()?.find(&hunt)?),
        Hunt::Test {
            paths,
            filter,
            data_root,
        } => {
            // Unreadable files are reported with the cases.
            let library = secops_service::hunt_library::Library::load(&paths)?;
            let tally = test_hunts(&library, filter.as_deref(), &data_root);
            println!("{} passed, {} failed", tally.passed, tally.failed);
            Ok(tally.outcome())
        }
        Hunt::Validate { paths, lenient } => query::validate(&paths, lenient),
        Hunt::Explain(args) => query::explain(&args),
        Hunt::Run(args) => query::run(&args),
    }
}
