//! `secops hunt ...`: questions asked of the event lake in the hunt language.

use std::io::Write;
use std::path::PathBuf;

use secops_event::Timestamp;
use secops_service::hunt::Output;

use crate::output::safe;
use crate::Outcome;

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

#[derive(Debug, clap::Args)]
pub struct PromoteArgs {
    /// The hunt's id, file name (without `.toml`) or name.
    hunt: String,
    #[command(flatten)]
    library: LibraryArgs,
    /// Which of the hunt's queries (from 1).
    #[arg(long, default_value_t = 1)]
    number: usize,
    /// The rules folder the rule is written below, in its tactic's folder.
    #[arg(long, default_value = "rules")]
    to: PathBuf,
    /// A threshold rule's window when the hunt bounds no time range (default 1d).
    #[arg(long)]
    window: Option<String>,
    /// How far back a new_terms rule remembers when the hunt compares with all earlier events
    /// (default 365d).
    #[arg(long)]
    history: Option<String>,
    /// Print the rule instead of writing it.
    #[arg(long)]
    dry_run: bool,
    /// Replace a rule file already there.
    #[arg(long)]
    force: bool,
    /// The folder `corpus = "shared/..."` paths of carried cases start from.
    #[arg(long = "data-root", default_value = "..")]
    data_root: PathBuf,
    #[command(flatten)]
    attack: crate::cmd::coverage::AttackArgs,
}

#[derive(Debug, clap::Args)]
pub struct SigmaArgs {
    /// Sigma rule files or folders.
    #[arg(required = true)]
    rules: Vec<PathBuf>,
    /// The lake, a folder or `s3://bucket/prefix`.
    #[arg(long, value_name = "DIR|S3_URL")]
    lake: String,
    /// `table` (time, rule, host, event code, where it was read) or `jsonl` (each event whole, with
    /// the rule's id, name and level).
    #[arg(long, value_enum, default_value = "table")]
    output: SigmaOutput,
    /// Show at most this many matches (the count printed says whether there were more).
    #[arg(long = "max-rows")]
    max_rows: Option<u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SigmaOutput {
    Table,
    Jsonl,
}

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

pub fn run(command: Hunt) -> anyhow::Result<Outcome> {
    // Hunts churn through batches: memory goes back as soon as it is freed (peak memory halved).
    crate::memory::return_freed_memory_promptly();
    match command {
        Hunt::List { library } => list(&library.load()?),
        Hunt::Promote(args) => promote(&args),
        Hunt::Schedule(args) => schedule(&args),
        Hunt::Sigma(args) => sigma(&args),
        Hunt::Show { hunt, library } => show(library.load()?.find(&hunt)?),
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
            let mut options = args.query.options()?;
            options.limits.max_rows = args.max_rows;
            let query = library_query(&args)?;
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
                return attach_evidence(&args, case, &query, lake.as_deref(), options);
            }
            let mut out = std::io::BufWriter::new(std::io::stdout().lock());
            let stats =
                secops_service::hunt::run(&query, lake.as_deref(), &options, output, &mut out)?;
            out.flush()?;
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
    }
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

/// `hunt list`: one line per hunt, sorted by file.
fn list(library: &secops_service::hunt_library::Library) -> anyhow::Result<Outcome> {
    let mut hunts: Vec<_> = library.hunts.iter().collect();
    hunts.sort_by(|a, b| a.path.cmp(&b.path));
    let rows: Vec<[String; 4]> = hunts
        .iter()
        .map(|entry| {
            let hunt = &entry.file.hunt;
            [
                safe(&hunt.uuid).into_owned(),
                safe(&entry.stem()).into_owned(),
                if hunt.mitre.is_empty() {
                    "-".to_string()
                } else {
                    safe(&hunt.mitre.join(",")).into_owned()
                },
                safe(&hunt.name).into_owned(),
            ]
        })
        .collect();
    let width = |i: usize| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0);
    let (file_width, technique_width) = (width(1), width(2));
    for (row, entry) in rows.iter().zip(&hunts) {
        println!(
            "{}  {:<file_width$}  {:<technique_width$}  {:>2} test(s)  {}",
            row[0],
            row[1],
            row[2],
            entry.file.tests.len(),
            row[3]
        );
    }
    println!(
        "{} hunt(s), {} test case(s){}",
        hunts.len(),
        hunts.iter().map(|h| h.file.tests.len()).sum::<usize>(),
        if library.unreadable.is_empty() {
            String::new()
        } else {
            format!(", {} unreadable file(s)", library.unreadable.len())
        }
    );
    Ok(if library.unreadable.is_empty() {
        Outcome::Clean
    } else {
        Outcome::Failures
    })
}

/// `hunt show`: the hunt as an analyst reads it before running it.
fn show(entry: &secops_service::hunt_library::HuntEntry) -> anyhow::Result<Outcome> {
    let hunt = &entry.file.hunt;
    let list = |items: &[String]| {
        items
            .iter()
            .map(|i| safe(i).into_owned())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let block = |text: &str| {
        for line in text.trim().lines() {
            println!("  {}", safe(line));
        }
    };
    println!("{}", safe(&hunt.name));
    println!("id:           {}", safe(&hunt.uuid));
    println!("file:         {}", safe(&entry.path.display().to_string()));
    if !hunt.author.is_empty() {
        println!("author:       {}", list(&hunt.author));
    }
    if !hunt.mitre.is_empty() {
        println!("techniques:   {}", list(&hunt.mitre));
    }
    if !hunt.integration.is_empty() {
        println!("data sources: {}", list(&hunt.integration));
    }
    println!("tests:        {}", entry.file.tests.len());
    if let Some(hypothesis) = &hunt.hypothesis {
        println!("\nhypothesis:");
        block(hypothesis);
    }
    println!("\ndescription:");
    block(&hunt.description);
    for (i, query) in hunt.query.iter().enumerate() {
        println!("\nquery {} (hunt language):", i + 1);
        block(query);
    }
    for (i, query) in hunt.sql.iter().enumerate() {
        println!("\nquery {} (SQL):", i + 1);
        block(query);
    }
    if !hunt.notes.is_empty() {
        println!("\nnotes:");
        for note in &hunt.notes {
            println!("  - {}", safe(note));
        }
    }
    if !hunt.references.is_empty() {
        println!("\nreferences:");
        for reference in &hunt.references {
            println!("  - {}", safe(reference));
        }
    }
    Ok(Outcome::Clean)
}

/// Cases passed and failed, and files that did not read.
#[derive(Debug, Default, Clone, Copy)]
pub struct Tally {
    pub passed: usize,
    pub failed: usize,
    pub unreadable: usize,
}

impl Tally {
    pub fn outcome(&self) -> Outcome {
        if self.failed > 0 || self.unreadable > 0 {
            Outcome::Failures
        } else {
            Outcome::Clean
        }
    }
}

/// Runs the library's cases, one line each (`ok`, or `FAIL` with what differs and the rows the
/// query gave), as `rules test` prints rule cases.
pub fn test_hunts(
    library: &secops_service::hunt_library::Library,
    filter: Option<&str>,
    data_root: &std::path::Path,
) -> Tally {
    let filter = filter.map(str::to_lowercase);
    let mut tally = Tally {
        unreadable: library.unreadable.len(),
        ..Tally::default()
    };
    for e in &library.unreadable {
        println!("ERROR {}", safe(e));
    }
    for entry in &library.hunts {
        let name = entry.file.hunt.name.to_lowercase();
        if let Some(f) = &filter {
            if !name.contains(f)
                && !entry
                    .file
                    .tests
                    .iter()
                    .any(|t| t.name.to_lowercase().contains(f))
            {
                continue;
            }
        }
        for outcome in secops_service::hunt_library::run_tests(entry, data_root) {
            if let Some(f) = &filter {
                if !name.contains(f) && !outcome.test.to_lowercase().contains(f) {
                    continue;
                }
            }
            let label = format!("hunt: {} / {}", outcome.hunt, outcome.test);
            if outcome.passed() {
                tally.passed += 1;
                println!("ok    {}", safe(&label));
                continue;
            }
            tally.failed += 1;
            println!("FAIL  {}", safe(&label));
            for line in &outcome.failures {
                println!("      {}", safe(line));
            }
            if outcome.rows == 0 {
                println!("      actual: no rows");
            } else {
                let shown = if outcome.rows > outcome.actual.len() {
                    format!(", the first {}", outcome.actual.len())
                } else {
                    String::new()
                };
                println!("      actual: {} row(s){shown}", outcome.rows);
                for row in &outcome.actual {
                    println!("        {}", safe(row));
                }
            }
        }
    }
    tally
}

/// `hunt promote`: the rule written (or printed), loaded back, its carried cases run.
fn promote(args: &PromoteArgs) -> anyhow::Result<Outcome> {
    let library = args.library.load()?;
    let entry = library.find(&args.hunt)?;
    let catalogue = match args.attack.path() {
        Some(_) => Some(args.attack.load()?),
        None => None,
    };
    let options = secops_service::hunt_promote::PromoteOptions {
        query: args
            .number
            .checked_sub(1)
            .ok_or_else(|| anyhow::anyhow!("--number counts from 1"))?,
        id: uuid::Uuid::new_v4().to_string(),
        today: chrono::Utc::now().format("%Y-%m-%d").to_string(),
        window: args.window.clone(),
        history: args.history.clone(),
        attack: catalogue.as_ref(),
    };
    let promoted = secops_service::hunt_promote::promote(entry, &options).map_err(|why| {
        anyhow::anyhow!(
            "the hunt {:?} does not become a rule: {}",
            entry.file.hunt.name,
            safe(&why)
        )
    })?;
    let path = args.to.join(&promoted.path);
    // The rule must load as written: a failure here is ours, not the hunt's.
    let rule = secops_rules::load::load_text(&path, &promoted.text)
        .map_err(|e| anyhow::anyhow!("the promoted rule does not load: {e}"))?;
    if args.dry_run {
        print!("{}", promoted.text);
    } else {
        if path.exists() && !args.force {
            anyhow::bail!(
                "{} exists (--force replaces it, --dry-run prints the rule)",
                path.display()
            );
        }
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(&path, &promoted.text)?;
        println!(
            "{} rule written to {} ({} case(s) carried from the hunt)",
            promoted.rule_type,
            safe(&path.display().to_string()),
            promoted.carried
        );
    }
    for note in &promoted.notes {
        println!("note: {}", safe(note));
    }
    let (mut passed, mut failed) = (0usize, 0usize);
    for outcome in
        secops_lab::testing::run_tests(&rule, &args.data_root, secops_event::Timestamp::now())
    {
        match &outcome.result {
            secops_lab::testing::TestResult::Passed => {
                passed += 1;
                println!("ok    {}", safe(&outcome.test));
            }
            secops_lab::testing::TestResult::Skipped(why) => {
                println!("skip  {}: {}", safe(&outcome.test), safe(why));
            }
            secops_lab::testing::TestResult::Failed(why) => {
                failed += 1;
                println!("FAIL  {}", safe(&outcome.test));
                for line in why.iter().chain(&outcome.actual) {
                    println!("      {}", safe(line));
                }
            }
        }
    }
    println!("{passed} passed, {failed} failed");
    Ok(if failed > 0 {
        Outcome::Failures
    } else {
        Outcome::Clean
    })
}

/// `hunt schedule --once`: each hunt over its due range, one line each; `--status`: the records.
fn schedule(args: &ScheduleArgs) -> anyhow::Result<Outcome> {
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
    let mut failed = false;
    for key in &args.names {
        let entry = library.find(key)?;
        let name = safe(&entry.file.hunt.name).into_owned();
        match secops_service::hunt_schedule::run_once(entry, &options) {
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
        store: args.query.store.target(),
        actor: crate::store::actor(None).name,
    };
    let evidence = secops_service::hunt_evidence::attach(&request)?;
    println!(
        "{} row(s) attached to case {} as evidence {}: {} (SHA-256 {})",
        evidence.rows,
        case,
        evidence.id,
        safe(&evidence.path),
        evidence.sha256
    );
    if let Some(lake) = lake {
        for gap in secops_service::hunt::visibility_gaps(query, lake)? {
            eprintln!("visibility: {}", safe(&gap));
        }
    }
    Ok(Outcome::Clean)
}

/// `hunt sigma`: Sigma rules over the lake's events, one row per match.
fn sigma(args: &SigmaArgs) -> anyhow::Result<Outcome> {
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let mut rows: Vec<[String; 5]> = Vec::new();
    let mut failed: Option<std::io::Error> = None;
    let stats =
        secops_service::hunt_sigma::run(&args.rules, &args.lake, args.max_rows, &mut |m| {
            match args.output {
                SigmaOutput::Jsonl => {
                    let mut doc = match m.event.to_json() {
                        serde_json::Value::Object(map) => map,
                        _ => serde_json::Map::new(),
                    };
                    doc.insert("rule.id".into(), m.rule_id.into());
                    doc.insert("rule.name".into(), m.rule_name.into());
                    doc.insert("rule.severity".into(), m.severity.into());
                    doc.insert(
                        "event.provenance".into(),
                        m.event.provenance().to_string().into(),
                    );
                    // JSON escapes control characters itself.
                    if failed.is_none() {
                        if let Err(e) = writeln!(out, "{}", serde_json::Value::Object(doc)) {
                            failed = Some(e);
                        }
                    }
                }
                SigmaOutput::Table => rows.push([
                    m.event
                        .timestamp()
                        .map(|t| t.to_seconds())
                        .unwrap_or_else(|| "-".into()),
                    safe(&m.rule_name).into_owned(),
                    safe(m.event.get_str("host.name").unwrap_or("-")).into_owned(),
                    safe(m.event.get_str("event.code").unwrap_or("-")).into_owned(),
                    safe(&m.event.provenance().to_string()).into_owned(),
                ]),
            }
        })?;
    if let Some(e) = failed {
        return Err(e.into());
    }
    if args.output == SigmaOutput::Table && !rows.is_empty() {
        let widths: Vec<usize> = (0..4)
            .map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0))
            .collect();
        for r in &rows {
            writeln!(
                out,
                "{:<w0$}  {:<w1$}  {:<w2$}  {:<w3$}  {}",
                r[0],
                r[1],
                r[2],
                r[3],
                r[4],
                w0 = widths[0],
                w1 = widths[1],
                w2 = widths[2],
                w3 = widths[3]
            )?;
        }
    }
    out.flush()?;
    for why in stats.left_out.iter().chain(&stats.unreadable) {
        eprintln!("{}", safe(why));
    }
    eprintln!(
        "{} match(es) of {} rule(s) over {} event(s){}{}",
        stats.matches,
        stats.rules,
        stats.events,
        if stats.capped {
            format!(", stopped at --max-rows {}", args.max_rows.unwrap_or(0))
        } else {
            String::new()
        },
        if stats.left_out.is_empty() {
            String::new()
        } else {
            format!("; {} rule(s) left out", stats.left_out.len())
        }
    );
    Ok(if stats.unreadable.is_empty() {
        Outcome::Clean
    } else {
        Outcome::Rejections
    })
}
