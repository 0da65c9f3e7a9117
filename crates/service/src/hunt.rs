//! Hunts: a query of the hunt language over the event lake, its rows written as they come.

use std::io::Write;
use std::sync::Arc;

use secops_intel::warninglist::Warninglists;

pub use secops_hunt::{Explained, HuntError, Limits, Output, RunStats};

use crate::ServiceError;

/// How a hunt runs besides its text: `now()`, lenient planning, and its limits (rows, time, a
/// cancel token, memory).
#[derive(Debug, Clone, Default)]
pub struct HuntOptions {
    /// What `now()` means.
    pub now: Option<secops_event::Timestamp>,
    /// Fields nothing resolves planned as null, with a warning each.
    pub lenient: bool,
    /// The query is plain SQL over `events` (read-only), not the hunt language.
    pub sql: bool,
    /// The warninglists `in_set(value, "list name")` and the `warninglists` table read.
    pub warninglists: Option<Arc<Warninglists>>,
    /// The store the `alerts`, `cases` and `indicators` tables read (as `--db` or
    /// `--database-url` name it), opened only when a query reads one.
    pub store: Option<String>,
    /// The asset and identity inventory the `assets` table reads.
    pub inventory: Option<Arc<secops_entity::inventory::Inventory>>,
    pub limits: Limits,
}

/// Warninglists as the hunt language's named sets: a list by its name; a value judged by its kind
/// as the intelligence side judges it (an address in a network list, a subdomain in a host-name
/// list), a value of no kind by its text.
#[derive(Debug)]
struct ListSets(Arc<Warninglists>);

impl secops_hunt::Sets for ListSets {
    fn names(&self) -> Vec<String> {
        self.0.lists.iter().map(|l| l.name.clone()).collect()
    }

    fn contains(&self, name: &str, value: &str) -> Option<bool> {
        let list = self.0.lists.iter().find(|l| l.name == name)?;
        let value = value.trim();
        let kind = secops_intel::kind::guess(value);
        Some(match kind {
            Some(kind) => {
                let normal =
                    secops_intel::normalize(kind, value).unwrap_or_else(|_| value.to_string());
                list.covers(kind, &normal)
            }
            None => secops_intel::Kind::ALL
                .into_iter()
                .any(|kind| list.covers(kind, value)),
        })
    }
}

impl HuntOptions {
    fn planning(&self) -> secops_hunt::Planning {
        let now = self
            .now
            .unwrap_or_else(secops_event::Timestamp::now)
            .unix_nanos();
        let tables = crate::hunt_tables::HuntTables {
            store: self.store.clone(),
            warninglists: self.warninglists.clone(),
            inventory: self.inventory.clone(),
            now,
            declare_all: false,
        };
        secops_hunt::Planning {
            now,
            tables: Some(Arc::new(tables) as Arc<dyn secops_hunt::Registered>),
            lenient: self.lenient,
            sql: self.sql,
            sets: self
                .warninglists
                .clone()
                .map(|lists| Arc::new(ListSets(lists)) as Arc<dyn secops_hunt::Sets>),
        }
    }
}

/// Runs `query` over the lake at `lake` (a folder or `s3://bucket/prefix`; none when every FROM
/// names log files), its rows written to `out` as they come.
pub fn run(
    query: &str,
    lake: Option<&str>,
    options: &HuntOptions,
    output: Output,
    out: &mut dyn Write,
) -> Result<RunStats, ServiceError> {
    let lake = lake.map(secops_lake::Lake::open).transpose()?;
    Ok(secops_hunt::run_with(
        query,
        lake.as_ref(),
        &options.planning(),
        &options.limits,
        output,
        out,
    )?)
}

/// Runs `query` with its rows counted, not written, and says what it cost (partitions and row
/// groups pruned, rows scanned, spill).
pub fn explain(
    query: &str,
    lake: Option<&str>,
    options: &HuntOptions,
) -> Result<Explained, ServiceError> {
    let lake = lake.map(secops_lake::Lake::open).transpose()?;
    Ok(secops_hunt::explain(
        query,
        lake.as_ref(),
        &options.planning(),
        &options.limits,
    )?)
}

/// One query of a validated file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checked {
    pub file: std::path::PathBuf,
    /// Its place among the file's queries (from 1).
    pub number: usize,
    /// `None`: parsed and planned; else the first error, with its line, column and stage.
    pub error: Option<String>,
    /// The error is the parser's (the query is not read at all).
    pub unparsed: bool,
    /// Planned only because fields were planned as null (`--lenient`): not counted as planned.
    pub lenient: Vec<String>,
}

/// What `hunt validate` found.
#[derive(Debug, Default)]
pub struct Validation {
    pub checked: Vec<Checked>,
    /// Queries in another language (EQL, SQL, OSQuery) beside the ES|QL ones, not checked.
    pub skipped: usize,
    /// Files that could not be read as TOML, with the reason.
    pub unreadable: Vec<String>,
    /// What is wrong in our hunt files besides their queries (ids, techniques, tests), each with
    /// its file and key.
    pub problems: Vec<String>,
}

impl Validation {
    pub fn parsed(&self) -> usize {
        self.checked.iter().filter(|c| !c.unparsed).count()
    }

    pub fn planned(&self) -> usize {
        self.checked
            .iter()
            .filter(|c| c.error.is_none() && c.lenient.is_empty())
            .count()
    }

    /// Queries that plan only with fields planned as null.
    pub fn only_lenient(&self) -> usize {
        self.checked
            .iter()
            .filter(|c| c.error.is_none() && !c.lenient.is_empty())
            .count()
    }
}

/// Reads hunt files (Elastic's hunting TOML: `[hunt] query = [...]`; ES|QL rule TOML: `[rule] query`
/// with `language = "esql"`; ours, checked whole as well), folders walked for `.toml`, and parses
/// and plans every ES|QL query without data; with `lenient`, a field nothing resolves is planned as
/// null and the query noted.
pub fn validate(
    paths: &[std::path::PathBuf],
    now: secops_event::Timestamp,
    lenient: bool,
) -> Validation {
    let files: Vec<_> = secops_hunt_lang::files::toml_files(paths)
        .into_iter()
        .map(|file| {
            let text = std::fs::read_to_string(&file).map_err(|e| e.to_string());
            (file, text)
        })
        .collect();
    validate_texts(files, now, lenient)
}

/// [`validate`] over texts already read (each with its file, or why it could not be read).
pub fn validate_texts(
    files: Vec<(std::path::PathBuf, Result<String, String>)>,
    now: secops_event::Timestamp,
    lenient: bool,
) -> Validation {
    // Every table plans from its columns; nothing is read.
    let tables = crate::hunt_tables::HuntTables {
        declare_all: true,
        ..Default::default()
    };
    let planning = secops_hunt::Planning {
        now: now.unix_nanos(),
        lenient,
        sql: false,
        sets: None,
        tables: Some(Arc::new(tables)),
    };
    let mut validation = Validation::default();
    for (file, text) in files {
        // Our hunt files are checked whole; their queries are planned below with the rest.
        if let Ok(text) = &text {
            if secops_hunt_lang::HuntFile::is_ours(text) {
                match secops_hunt_lang::HuntFile::parse(text) {
                    Ok(hunt) => validation.problems.extend(
                        hunt.problems()
                            .into_iter()
                            .filter(|p| !p.at.starts_with("hunt.query["))
                            .map(|p| format!("{}: {p}", file.display())),
                    ),
                    Err(e) => {
                        validation
                            .unreadable
                            .push(format!("{}: {e}", file.display()));
                        continue;
                    }
                }
            }
        }
        let found = match text.and_then(|t| secops_hunt_lang::files::queries_in(&t)) {
            Ok(found) => found,
            Err(e) => {
                validation
                    .unreadable
                    .push(format!("{}: {e}", file.display()));
                continue;
            }
        };
        validation.skipped += found.other;
        for (n, query) in found.esql.iter().enumerate() {
            let result = secops_hunt::validate(query, &planning);
            validation.checked.push(Checked {
                file: file.clone(),
                number: n + 1,
                unparsed: matches!(result, Err(secops_hunt::HuntError::Parse(_))),
                lenient: result.as_ref().map(Vec::clone).unwrap_or_default(),
                error: result.err().map(|e| e.to_string()),
            });
        }
    }
    validation
}

/// One index pattern a query reads and the lake sources behind it (`logs-windows.sysmon_operational-*`:
/// `windows.sysmon`; a trailing `*` for every source with that start).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Needed {
    pub pattern: String,
    pub sources: Vec<String>,
}

impl Needed {
    /// Whether any of `have` (lake source names, or events' `event.dataset`) is one of the sources.
    pub fn seen_in(&self, have: &std::collections::BTreeSet<String>) -> bool {
        self.sources.iter().any(|s| match s.strip_suffix('*') {
            Some(prefix) => have.iter().any(|h| h.starts_with(prefix)),
            None => have.contains(s),
        })
    }
}

/// The index patterns a query reads (its subqueries' too), each with its sources; patterns of every
/// source (`events`, `logs-*`) and log file paths need nothing in particular.
pub fn sources_needed(query: &str) -> Result<Vec<Needed>, String> {
    let mut out = Vec::new();
    for pattern in from_sources(query)? {
        if secops_hunt::raw_path(&pattern) || secops_hunt::TABLE_NAMES.contains(&pattern.as_str()) {
            continue;
        }
        if let Some(read) = secops_hunt::fields::pattern_sources(&pattern)? {
            out.push(Needed {
                pattern,
                sources: read.sources,
            });
        }
    }
    Ok(out)
}

/// The log files, folders and globs a query reads (`FROM "logs/Security.evtx"`), its subqueries'
/// too. A server refuses these: its hunts read the lake, never files on its own disk.
pub fn file_sources(query: &str) -> Result<Vec<String>, String> {
    let mut sources = from_sources(query)?;
    sources.retain(|s| secops_hunt::raw_path(s));
    Ok(sources)
}

/// Every source a query's FROMs name (its subqueries' too), each once, in the order first named.
fn from_sources(query: &str) -> Result<Vec<String>, String> {
    let parsed = secops_hunt_lang::parse(query).map_err(|e| e.describe(query))?;
    let mut out: Vec<String> = Vec::new();
    parsed.visit_queries(&mut |q| {
        for stage in &q.stages {
            if let secops_hunt_lang::Command::From { sources, .. } = &stage.command {
                for s in sources {
                    if !out.contains(s) {
                        out.push(s.clone());
                    }
                }
            }
        }
    });
    Ok(out)
}

/// Records a hunt query in the audit log as the store's auditor: the query, who ran it and how it
/// ended (`success` with its rows, or `failure` with why). Every hunt query is recorded, run from
/// the command line or the API.
pub fn audit_query(
    store: &mut secops_store::Store,
    at: i64,
    query: &str,
    result: Result<&RunStats, &str>,
) -> Result<(), ServiceError> {
    let (outcome, detail) = match result {
        Ok(stats) => (
            "success",
            serde_json::json!({"query": query, "rows": stats.rows, "capped": stats.capped}),
        ),
        Err(why) => ("failure", serde_json::json!({"query": query, "error": why})),
    };
    Ok(store.audit_action(at, "hunt.run", "hunt", outcome, Some(detail.to_string()))?)
}

/// The source names the lake holds on any day.
pub fn lake_sources(lake: &str) -> Result<std::collections::BTreeSet<String>, ServiceError> {
    let lake = secops_lake::Lake::open(lake)?;
    let mut out = std::collections::BTreeSet::new();
    for day in lake.days()? {
        out.extend(lake.sources(&day)?);
    }
    Ok(out)
}

/// The visibility gaps of a query over a lake: one sentence per index pattern whose sources the
/// lake holds no events of. A query whose sources do not resolve has none to report (running it
/// said why).
pub fn visibility_gaps(query: &str, lake: &str) -> Result<Vec<String>, ServiceError> {
    let needed = sources_needed(query).unwrap_or_default();
    if needed.is_empty() {
        return Ok(Vec::new());
    }
    let have = lake_sources(lake)?;
    Ok(needed
        .iter()
        .filter(|n| !n.seen_in(&have))
        .map(|n| {
            format!(
                "the lake holds no events of {} (source {}): the hunt cannot see what it looks for there",
                n.pattern,
                n.sources.join(", ")
            )
        })
        .collect())
}
