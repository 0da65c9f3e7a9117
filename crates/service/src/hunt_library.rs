//! Hunts as code: hunt files (the bundled library in `hunts/`, or files and folders given), found by
//! id, file name or name, and their `[[test]]` cases run. A case's events are read by the ingest
//! parsers into a scratch lake, as real logs are; the case's query runs over it with `now()` pinned
//! to the case's time; the rows are compared by the columns the case names.

use std::path::{Path, PathBuf};

use secops_event::Timestamp;
use secops_hunt_lang::hunt_file::{HuntTest, TestLanguage};
use secops_hunt_lang::HuntFile;
use serde_json::Value as Json;

use crate::hunt::{HuntOptions, Output};
use crate::{Cancel, NoProgress};

include!(concat!(env!("OUT_DIR"), "/bundled_hunts.rs"));

/// One hunt file, read.
#[derive(Debug, Clone)]
pub struct HuntEntry {
    /// As given, or `hunts/...` for the bundled library.
    pub path: PathBuf,
    pub file: HuntFile,
}

impl HuntEntry {
    /// The file's name without `.toml`, which `hunt run` and `hunt show` accept besides the id.
    pub fn stem(&self) -> String {
        self.path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default()
    }
}

/// Hunt files found, and those that could not be read (each with its file and reason).
#[derive(Debug, Clone, Default)]
pub struct Library {
    pub hunts: Vec<HuntEntry>,
    pub unreadable: Vec<String>,
}

/// The bundled library's files as (path, text), paths as in the repository (`hunts/...`).
pub fn bundled_texts() -> Vec<(PathBuf, String)> {
    BUNDLED_HUNTS
        .iter()
        .map(|(name, text)| (Path::new("hunts").join(name), (*text).to_string()))
        .collect()
}

/// Every hunt file (a TOML file with a `[hunt]` table) below `paths`; the bundled library when
/// `paths` is empty. Rule files beside them are passed over.
pub fn find_texts(paths: &[PathBuf]) -> Result<Vec<(PathBuf, String)>, crate::ServiceError> {
    if paths.is_empty() {
        return Ok(bundled_texts());
    }
    let mut texts = Vec::new();
    for path in paths {
        if !path.exists() {
            return Err(crate::ServiceError::invalid(
                "hunts",
                format!("{} does not exist", path.display()),
            ));
        }
        for file in secops_hunt_lang::files::toml_files(std::slice::from_ref(path)) {
            let text =
                std::fs::read_to_string(&file).map_err(|source| crate::ServiceError::Read {
                    path: file.clone(),
                    source,
                })?;
            if secops_rules::load::is_hunt(&text) {
                texts.push((file, text));
            }
        }
    }
    Ok(texts)
}

impl Library {
    /// Reads hunt texts; a file that does not read as a hunt is listed with its line and column.
    pub fn read(texts: Vec<(PathBuf, String)>) -> Library {
        let mut library = Library::default();
        for (path, text) in texts {
            match HuntFile::parse(&text) {
                Ok(file) => library.hunts.push(HuntEntry { path, file }),
                Err(e) => library.unreadable.push(format!("{}: {e}", path.display())),
            }
        }
        library
    }

    /// The library at `paths` (the bundled one when empty).
    pub fn load(paths: &[PathBuf]) -> Result<Library, crate::ServiceError> {
        Ok(Library::read(find_texts(paths)?))
    }

    /// The hunt whose id, file name (without `.toml`) or name is `key` (ids and names in any case).
    pub fn find(&self, key: &str) -> Result<&HuntEntry, crate::ServiceError> {
        let key = key.trim();
        self.hunts
            .iter()
            .find(|h| h.file.hunt.uuid.eq_ignore_ascii_case(key))
            .or_else(|| self.hunts.iter().find(|h| h.stem() == key))
            .or_else(|| {
                self.hunts
                    .iter()
                    .find(|h| h.file.hunt.name.eq_ignore_ascii_case(key))
            })
            .ok_or_else(|| {
                crate::ServiceError::Missing(format!(
                    "no hunt has the id, file name or name {:?} (`secops hunt list` shows them)",
                    key
                ))
            })
    }
}

/// How one case of a hunt went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaseOutcome {
    pub hunt: String,
    pub test: String,
    /// Empty when the case passed; else what differs, one line each.
    pub failures: Vec<String>,
    /// The rows the query returned (the first ten, as JSON), for the report of a failure.
    pub actual: Vec<String>,
    /// How many rows the query returned.
    pub rows: usize,
}

impl CaseOutcome {
    pub fn passed(&self) -> bool {
        self.failures.is_empty()
    }
}

/// Rows of a failed case shown at most.
const ROWS_SHOWN: usize = 10;

/// Runs every `[[test]]` case of `hunt`. `data_root` is the folder `file = "shared/..."` paths start
/// from (the parent of `shared/`); other `file` paths are relative to the hunt file.
pub fn run_tests(hunt: &HuntEntry, data_root: &Path) -> Vec<CaseOutcome> {
    hunt.file
        .tests
        .iter()
        .map(|test| {
            let (failures, rows) = match run_case(hunt, test, data_root) {
                Ok(rows) => (compare(test, &rows), rows),
                Err(e) => (vec![e], Vec::new()),
            };
            CaseOutcome {
                hunt: hunt.file.hunt.name.clone(),
                test: test.name.clone(),
                failures,
                rows: rows.len(),
                actual: rows
                    .iter()
                    .take(ROWS_SHOWN)
                    .map(|r| serde_json::to_string(r).unwrap_or_default())
                    .collect(),
            }
        })
        .collect()
}

/// Ingests the case's events into a scratch lake and runs its query there; the rows, as JSON objects.
fn run_case(hunt: &HuntEntry, test: &HuntTest, data_root: &Path) -> Result<Vec<Json>, String> {
    let now = Timestamp::parse_rfc3339(&test.now).map_err(|e| format!("now: {e}"))?;
    let (queries, sql) = match test.language {
        TestLanguage::Hunt => (&hunt.file.hunt.query, false),
        TestLanguage::Sql => (&hunt.file.hunt.sql, true),
    };
    let query = queries
        .get(test.query)
        .ok_or_else(|| format!("query: the hunt has no query {}", test.query))?;
    let scratch = tempfile::tempdir().map_err(|e| format!("a scratch folder: {e}"))?;
    let format = test
        .parser
        .as_deref()
        .map(|p| p.parse::<secops_ingest::Format>())
        .transpose()
        .map_err(|e| format!("parser: {e}"))?;
    let mut inputs = Vec::new();
    if !test.raw.is_empty() {
        let raw = scratch.path().join("raw");
        std::fs::write(&raw, test.raw.join("\n")).map_err(|e| format!("raw: {e}"))?;
        inputs.push(secops_ingest::Input::File(raw));
    }
    if let Some(file) = &test.file {
        let path = match file.strip_prefix("shared/") {
            Some(rest) => data_root.join("shared").join(rest),
            None => hunt.path.parent().unwrap_or(Path::new("")).join(file),
        };
        if !path.exists() {
            return Err(format!("file: {} does not exist", path.display()));
        }
        inputs.push(secops_ingest::Input::File(path));
    }
    let options = secops_ingest::Options {
        format,
        // Syslog without years: the case's own year.
        year: now.to_rfc3339().get(..4).and_then(|y| y.parse().ok()),
        timezone: None,
        evtx_recover: false,
        counters: None,
    };
    let lake = scratch.path().join("lake");
    let lake_text = lake.display().to_string();
    let ingested = crate::lake::ingest(
        &inputs,
        &options,
        1,
        &lake_text,
        &NoProgress,
        &Cancel::new(),
    )
    .map_err(|e| format!("writing the events: {e}"))?;
    for (_, summary) in &ingested.summaries {
        let summary = summary.as_ref().map_err(|e| format!("events: {e}"))?;
        if let Some(group) = summary.rejections.first() {
            return Err(format!(
                "{} event line(s) did not parse ({}): {}",
                summary.rejected, summary.format, group.first
            ));
        }
    }
    let options = HuntOptions {
        now: Some(now),
        sql,
        ..HuntOptions::default()
    };
    let mut out = Vec::new();
    // No events at all leaves no lake: the query runs over none.
    std::fs::create_dir_all(&lake).map_err(|e| format!("a scratch lake: {e}"))?;
    crate::hunt::run(query, Some(&lake_text), &options, Output::Jsonl, &mut out)
        .map_err(|e| format!("query {}: {e}", test.query))?;
    String::from_utf8_lossy(&out)
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).map_err(|e| format!("a row the query wrote: {e}")))
        .collect()
}

/// What differs between the case's expectation and `rows`: nothing when it passes.
fn compare(test: &HuntTest, rows: &[Json]) -> Vec<String> {
    let mut failures = Vec::new();
    let expected_count = test
        .expect_count
        .or_else(|| test.expect_rows.as_ref().map(|r| r.len() as u64));
    if let Some(count) = expected_count {
        if rows.len() as u64 != count {
            failures.push(format!("expected {count} row(s), got {}", rows.len()));
        }
    }
    let Some(expected) = &test.expect_rows else {
        return failures;
    };
    if test.ordered {
        for (i, want) in expected.iter().enumerate() {
            match rows.get(i) {
                Some(row) if row_matches(want, row) => {}
                Some(row) => failures.push(format!(
                    "row {}: expected {}, got {}",
                    i + 1,
                    table_text(want),
                    row_text(want, row)
                )),
                None => failures.push(format!(
                    "row {}: expected {}, got none",
                    i + 1,
                    table_text(want)
                )),
            }
        }
        return failures;
    }
    for i in unmatched(expected, rows) {
        failures.push(format!("no row matches {}", table_text(&expected[i])));
    }
    failures
}

/// The expected rows no distinct actual row can be paired with, however they are paired (a
/// maximum bipartite matching: an expected row that matches several rows must not take the one
/// another expected row needs).
fn unmatched(expected: &[toml::Table], rows: &[Json]) -> Vec<usize> {
    let fits: Vec<Vec<usize>> = expected
        .iter()
        .map(|want| {
            rows.iter()
                .enumerate()
                .filter(|(_, row)| row_matches(want, row))
                .map(|(j, _)| j)
                .collect()
        })
        .collect();
    let mut taken: Vec<Option<usize>> = vec![None; rows.len()];
    let mut missing = Vec::new();
    for i in 0..expected.len() {
        let mut seen = vec![false; rows.len()];
        if !augment(i, &fits, &mut taken, &mut seen) {
            missing.push(i);
        }
    }
    missing
}

/// Kuhn's augmenting path from expected row `i`.
fn augment(i: usize, fits: &[Vec<usize>], taken: &mut [Option<usize>], seen: &mut [bool]) -> bool {
    for &j in &fits[i] {
        if seen[j] {
            continue;
        }
        seen[j] = true;
        let free = match taken[j] {
            None => true,
            Some(other) => augment(other, fits, taken, seen),
        };
        if free {
            taken[j] = Some(i);
            return true;
        }
    }
    false
}

/// Whether every column `want` names has its value in `row`.
fn row_matches(want: &toml::Table, row: &Json) -> bool {
    want.iter()
        .all(|(column, value)| row.get(column).is_some_and(|got| value_matches(value, got)))
}

/// A TOML value against a JSON one: numbers by value (floats to nine significant digits), times
/// as instants, lists and tables element by element.
fn value_matches(want: &toml::Value, got: &Json) -> bool {
    match (want, got) {
        (toml::Value::String(w), Json::String(g)) => {
            w == g || matches!((instant(w), instant(g)), (Some(a), Some(b)) if a == b)
        }
        (toml::Value::Integer(w), Json::Number(g)) => {
            g.as_i64() == Some(*w) || g.as_f64() == Some(*w as f64)
        }
        (toml::Value::Float(w), Json::Number(g)) => g
            .as_f64()
            .is_some_and(|g| (g - w).abs() <= 1e-9 * w.abs().max(1.0)),
        (toml::Value::Boolean(w), Json::Bool(g)) => w == g,
        (toml::Value::Datetime(w), Json::String(g)) => {
            matches!((instant(&w.to_string()), instant(g)), (Some(a), Some(b)) if a == b)
        }
        (toml::Value::Array(w), Json::Array(g)) => {
            w.len() == g.len() && w.iter().zip(g).all(|(w, g)| value_matches(w, g))
        }
        (toml::Value::Table(w), got @ Json::Object(_)) => row_matches(w, got),
        _ => false,
    }
}

/// A time as the engine writes it (RFC 3339, or without its zone for UTC).
pub(crate) fn instant(text: &str) -> Option<Timestamp> {
    if text.len() < 19 || !text.as_bytes()[..4].iter().all(u8::is_ascii_digit) {
        return None;
    }
    Timestamp::parse_rfc3339(text)
        .or_else(|_| Timestamp::parse_rfc3339(&format!("{text}Z")))
        .ok()
}

fn table_text(table: &toml::Table) -> String {
    let json: serde_json::Map<String, Json> = table
        .iter()
        .map(|(k, v)| (k.clone(), toml_json(v)))
        .collect();
    serde_json::to_string(&json).unwrap_or_default()
}

/// The columns of `row` that `want` names, for a failure line.
fn row_text(want: &toml::Table, row: &Json) -> String {
    let picked: serde_json::Map<String, Json> = want
        .keys()
        .map(|k| (k.clone(), row.get(k).cloned().unwrap_or(Json::Null)))
        .collect();
    serde_json::to_string(&picked).unwrap_or_default()
}

fn toml_json(value: &toml::Value) -> Json {
    match value {
        toml::Value::String(s) => Json::String(s.clone()),
        toml::Value::Integer(i) => Json::from(*i),
        toml::Value::Float(f) => Json::from(*f),
        toml::Value::Boolean(b) => Json::Bool(*b),
        toml::Value::Datetime(d) => Json::String(d.to_string()),
        toml::Value::Array(a) => Json::Array(a.iter().map(toml_json).collect()),
        toml::Value::Table(t) => {
            Json::Object(t.iter().map(|(k, v)| (k.clone(), toml_json(v))).collect())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(lines: &[&str]) -> Vec<Json> {
        lines
            .iter()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    fn tables(text: &str) -> Vec<toml::Table> {
        let doc: toml::Table = toml::from_str(text).unwrap();
        doc["row"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_table().unwrap().clone())
            .collect()
    }

    #[test]
    fn an_expected_row_that_fits_two_rows_leaves_the_other_to_the_row_that_needs_it() {
        // Taken greedily, the first expected row would claim the first actual row, which the second
        // expected row alone fits.
        let actual = rows(&[r#"{"user": "root", "n": 5}"#, r#"{"user": "bob", "n": 5}"#]);
        let expected = tables("[[row]]\nn = 5\n[[row]]\nuser = \"root\"\n");
        assert!(unmatched(&expected, &actual).is_empty());
        let expected = tables("[[row]]\nuser = \"root\"\n[[row]]\nuser = \"root\"\n");
        assert_eq!(unmatched(&expected, &actual), vec![1]);
    }

    #[test]
    fn values_compare_by_kind() {
        let row = rows(&[
            r#"{"n": 3, "share": 0.3333333333333333, "t": "2024-05-01T10:00:00", "hosts": ["a", "b"], "flag": true}"#,
        ])
        .remove(0);
        let want = |text: &str| -> toml::Table { toml::from_str(text).unwrap() };
        assert!(row_matches(&want("n = 3\nflag = true"), &row));
        assert!(row_matches(&want("n = 3.0"), &row));
        assert!(row_matches(&want("share = 0.333333333333"), &row));
        assert!(!row_matches(&want("share = 0.33"), &row));
        assert!(row_matches(&want("t = 2024-05-01T10:00:00Z"), &row));
        assert!(row_matches(
            &want("t = \"2024-05-01T12:00:00+02:00\""),
            &row
        ));
        assert!(row_matches(&want("hosts = [\"a\", \"b\"]"), &row));
        assert!(!row_matches(&want("hosts = [\"b\", \"a\"]"), &row));
        assert!(!row_matches(&want("n = \"3\""), &row));
        assert!(!row_matches(&want("missing = 1"), &row));
    }
}
