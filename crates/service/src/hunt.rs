//! Hunts: a query of the hunt language over the event lake, its rows written as they come.

use std::io::Write;

pub use secops_hunt::{Output, RunStats};

use crate::ServiceError;

/// Runs `query` over the lake at `lake`, `now()` meaning `now` (nanoseconds, UTC).
pub fn run(
    query: &str,
    lake: Option<&str>,
    now: secops_event::Timestamp,
    output: Output,
    out: &mut dyn Write,
) -> Result<RunStats, ServiceError> {
    let planning = secops_hunt::Planning {
        now: now.unix_nanos(),
    };
    let lake = lake.map(secops_lake::Lake::open).transpose()?;
    Ok(secops_hunt::run_over(
        query,
        lake.as_ref(),
        &planning,
        output,
        out,
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
}

/// What `hunt validate` found.
#[derive(Debug, Default)]
pub struct Validation {
    pub checked: Vec<Checked>,
    /// Queries in another language (EQL, SQL, OSQuery) beside the ES|QL ones, not checked.
    pub skipped: usize,
    /// Files that could not be read as TOML, with the reason.
    pub unreadable: Vec<String>,
}

impl Validation {
    pub fn parsed(&self) -> usize {
        self.checked.iter().filter(|c| !c.unparsed).count()
    }

    pub fn planned(&self) -> usize {
        self.checked.iter().filter(|c| c.error.is_none()).count()
    }
}

/// Reads hunt files (Elastic's hunting TOML: `[hunt] query = [...]`; ES|QL rule TOML: `[rule] query`
/// with `language = "esql"`), folders walked for `.toml`, and parses and plans every ES|QL query
/// without data.
pub fn validate(paths: &[std::path::PathBuf], now: secops_event::Timestamp) -> Validation {
    let planning = secops_hunt::Planning {
        now: now.unix_nanos(),
    };
    let mut validation = Validation::default();
    for file in secops_hunt_lang::files::toml_files(paths) {
        let found = match std::fs::read_to_string(&file)
            .map_err(|e| e.to_string())
            .and_then(|t| secops_hunt_lang::files::queries_in(&t))
        {
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
                error: result.err().map(|e| e.to_string()),
            });
        }
    }
    validation
}
