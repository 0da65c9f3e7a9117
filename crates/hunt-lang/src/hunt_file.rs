//! Hunts as code: a hunt file is TOML beside the rules, in the shape of Elastic's hunting library
//! (`[hunt]` with `author`, `description`, `integration`, `uuid`, `name`, `language`, `license`,
//! `notes`, `mitre`, `query`) plus what a reviewed, tested hunt needs: a `hypothesis`, the
//! `language_version` its queries were written for, SQL queries beside the pipe-language ones, and
//! `[[test]]` cases (event lines, a pinned `now`, the expected rows or row count).
//!
//! ```toml
//! [hunt]
//! uuid = "5b0f3d7e-8a51-4c55-9a43-0c9c2a8f6a11"
//! name = "Rare executables across the fleet"
//! author = ["secops"]
//! description = "Executables run on at most two hosts in the last week."
//! hypothesis = "Malware and attacker tools run on few hosts; admin tools run on many."
//! integration = ["endpoint.events.process"]
//! mitre = ["T1204"]
//! language_version = 1
//! query = ['''
//! FROM logs-endpoint.events.process-* | WHERE @timestamp > now() - 7 days
//! | STATS hosts = count_distinct(host.name) BY process.executable | WHERE hosts <= 2
//! ''']
//!
//! [[test]]
//! name = "a tool seen on one host"
//! now = "2024-12-10T12:00:00Z"
//! parser = "json"
//! raw = ['{"@timestamp": "2024-12-09T10:00:00Z", ...}']
//! expect_count = 1
//! ```
//!
//! Reading a file checks its shape (unknown keys are errors, so a misspelt key is not ignored);
//! [`HuntFile::problems`] checks what the shape cannot: ids, technique ids, that every query parses,
//! that tests point at queries that exist and say what they expect. Planning the queries needs the
//! engine, in the hunt crate.

use serde::Deserialize;

use crate::LANGUAGE_VERSION;

/// One hunt file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HuntFile {
    pub hunt: Hunt,
    #[serde(default, rename = "test")]
    pub tests: Vec<HuntTest>,
}

/// The hunt: what it looks for, why, and how.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Hunt {
    /// The hunt's id (a UUID, as Elastic's `uuid`).
    #[serde(alias = "id")]
    pub uuid: String,
    pub name: String,
    #[serde(default, deserialize_with = "one_or_many")]
    pub author: Vec<String>,
    pub description: String,
    /// The hypothesis the hunt tests (ours; Elastic's files put it in the description).
    #[serde(default)]
    pub hypothesis: Option<String>,
    /// Data sources the queries read (Elastic's integration names, such as `aws.cloudtrail`).
    #[serde(default, alias = "data_sources", deserialize_with = "one_or_many")]
    pub integration: Vec<String>,
    /// ATT&CK technique ids (`T1110`, `T1110.003`).
    #[serde(default)]
    pub mitre: Vec<String>,
    /// The languages of `query` (Elastic writes `["ES|QL"]`); ours need not say.
    #[serde(default, deserialize_with = "one_or_many")]
    pub language: Vec<String>,
    /// The language version the queries were written for (1 unless given).
    #[serde(default = "first_version")]
    pub language_version: u32,
    /// Queries in the hunt language.
    #[serde(default)]
    pub query: Vec<String>,
    /// Queries in SQL over the same tables.
    #[serde(default)]
    pub sql: Vec<String>,
    /// What the analyst should look at in the results.
    #[serde(default)]
    pub notes: Vec<String>,
    #[serde(default)]
    pub references: Vec<String>,
    #[serde(default)]
    pub license: Option<String>,
}

/// One test case: events, a pinned clock, what the query returns.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HuntTest {
    pub name: String,
    /// `now()` for the query (RFC 3339).
    pub now: String,
    /// Which query runs: its place in `query` (from 0), or in `sql` with `language = "sql"`.
    #[serde(default)]
    pub query: usize,
    #[serde(default)]
    pub language: TestLanguage,
    /// The format of `raw` or `file` (as `ingest --format` names it; sniffed unless given).
    #[serde(default)]
    pub parser: Option<String>,
    /// Event lines, in the parser's format.
    #[serde(default)]
    pub raw: Vec<String>,
    /// A log file, relative to the hunt file.
    #[serde(default)]
    pub file: Option<String>,
    /// The rows expected, each with the columns it names (other columns are not compared), in any
    /// order unless `ordered`.
    #[serde(default)]
    pub expect_rows: Option<Vec<toml::Table>>,
    /// The number of rows expected.
    #[serde(default)]
    pub expect_count: Option<u64>,
    #[serde(default)]
    pub ordered: bool,
}

/// The language of the query a test runs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TestLanguage {
    #[default]
    Hunt,
    Sql,
}

fn first_version() -> u32 {
    1
}

/// A string or a list of strings (Elastic writes `author = "Elastic"`, rules write lists).
fn one_or_many<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    Ok(match OneOrMany::deserialize(d)? {
        OneOrMany::One(s) => vec![s],
        OneOrMany::Many(v) => v,
    })
}

/// What is wrong with a hunt file, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The key or item: `hunt.uuid`, `hunt.query[1]`, `test[0] ("name").query`.
    pub at: String,
    pub message: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.at, self.message)
    }
}

impl HuntFile {
    /// Reads a hunt file's text; the error is one line with the line and column.
    pub fn parse(text: &str) -> Result<HuntFile, String> {
        toml::from_str(text).map_err(|e| {
            let message = e.message().trim_end();
            match e.span() {
                Some(span) => {
                    let before = &text[..span.start.min(text.len())];
                    let line = before.matches('\n').count() + 1;
                    let column = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
                    format!("line {line}, column {column}: {message}")
                }
                None => message.to_string(),
            }
        })
    }

    /// Whether a TOML text is a hunt file of ours rather than a rule or Elastic's hunt: it has a
    /// `[hunt]` table and a `language_version` or a test (Elastic's hunts have neither).
    pub fn is_ours(text: &str) -> bool {
        let Ok(doc) = toml::from_str::<toml::Table>(text) else {
            return false;
        };
        let Some(hunt) = doc.get("hunt").and_then(|h| h.as_table()) else {
            return false;
        };
        hunt.contains_key("language_version") || doc.contains_key("test")
    }

    /// Everything the shape cannot say: empty in a good file.
    pub fn problems(&self) -> Vec<Problem> {
        let mut out = Vec::new();
        let mut problem = |at: String, message: String| out.push(Problem { at, message });
        let hunt = &self.hunt;
        if !is_uuid(&hunt.uuid) {
            problem(
                "hunt.uuid".into(),
                format!(
                    "\"{}\" is not a UUID (8-4-4-4-12 hex digits)",
                    hunt.uuid.escape_debug()
                ),
            );
        }
        if hunt.name.trim().is_empty() {
            problem("hunt.name".into(), "is empty".into());
        }
        if hunt.description.trim().is_empty() {
            problem("hunt.description".into(), "is empty".into());
        }
        if hunt.language_version == 0 || hunt.language_version > LANGUAGE_VERSION {
            problem(
                "hunt.language_version".into(),
                format!(
                    "{} is not a version this build reads (1 to {LANGUAGE_VERSION})",
                    hunt.language_version
                ),
            );
        }
        for (i, id) in hunt.mitre.iter().enumerate() {
            if !is_technique(id) {
                problem(
                    format!("hunt.mitre[{i}]"),
                    format!(
                        "\"{}\" is not an ATT&CK technique id (T1234 or T1234.001)",
                        id.escape_debug()
                    ),
                );
            }
        }
        if hunt.query.is_empty() && hunt.sql.is_empty() {
            problem("hunt.query".into(), "the hunt has no query".into());
        }
        for (i, query) in hunt.query.iter().enumerate() {
            if let Err(e) = crate::parse(query) {
                problem(format!("hunt.query[{i}]"), e.describe(query));
            }
        }
        for (i, test) in self.tests.iter().enumerate() {
            let at = |key: &str| format!("test[{i}] (\"{}\").{key}", test.name.escape_debug());
            let queries = match test.language {
                TestLanguage::Hunt => hunt.query.len(),
                TestLanguage::Sql => hunt.sql.len(),
            };
            if test.query >= queries {
                problem(
                    at("query"),
                    format!(
                        "there is no query {} (the hunt has {queries} in that language)",
                        test.query
                    ),
                );
            }
            if !is_rfc3339(&test.now) {
                problem(
                    at("now"),
                    format!("\"{}\" is not an RFC 3339 time", test.now.escape_debug()),
                );
            }
            if test.raw.is_empty() && test.file.is_none() {
                problem(at("raw"), "the test has no events (raw or file)".into());
            }
            if test.expect_rows.is_none() && test.expect_count.is_none() {
                problem(
                    at("expect_rows"),
                    "the test expects nothing (expect_rows or expect_count)".into(),
                );
            }
            if let (Some(rows), Some(count)) = (&test.expect_rows, test.expect_count) {
                if rows.len() as u64 != count {
                    problem(
                        at("expect_count"),
                        format!("{count}, but expect_rows lists {}", rows.len()),
                    );
                }
            }
        }
        out
    }
}

fn is_uuid(s: &str) -> bool {
    let groups: Vec<&str> = s.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(g, n)| g.len() == n && g.chars().all(|c| c.is_ascii_hexdigit()))
}

fn is_technique(s: &str) -> bool {
    let Some(rest) = s.strip_prefix('T') else {
        return false;
    };
    let (main, sub) = match rest.split_once('.') {
        Some((m, s)) => (m, Some(s)),
        None => (rest, None),
    };
    let digits = |t: &str, n: usize| t.len() == n && t.chars().all(|c| c.is_ascii_digit());
    digits(main, 4) && sub.is_none_or(|s| digits(s, 3))
}

/// `2024-12-10T12:00:00Z`, with optional fractions and an offset instead of `Z`.
fn is_rfc3339(s: &str) -> bool {
    let b = s.as_bytes();
    let digits =
        |r: std::ops::Range<usize>| b.get(r).is_some_and(|d| d.iter().all(u8::is_ascii_digit));
    if b.len() < 20
        || !digits(0..4)
        || b[4] != b'-'
        || !digits(5..7)
        || b[7] != b'-'
        || !digits(8..10)
        || !matches!(b[10], b'T' | b't')
        || !digits(11..13)
        || b[13] != b':'
        || !digits(14..16)
        || b[16] != b':'
        || !digits(17..19)
    {
        return false;
    }
    let mut rest = &s[19..];
    if let Some(fraction) = rest.strip_prefix('.') {
        let n = fraction.bytes().take_while(u8::is_ascii_digit).count();
        if n == 0 {
            return false;
        }
        rest = &fraction[n..];
    }
    match rest.as_bytes() {
        [b'Z' | b'z'] => true,
        [b'+' | b'-', h1, h2, b':', m1, m2] => [h1, h2, m1, m2].iter().all(|d| d.is_ascii_digit()),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
[hunt]
uuid = "5b0f3d7e-8a51-4c55-9a43-0c9c2a8f6a11"
name = "Rare executables across the fleet"
author = "secops"
description = "Executables run on at most two hosts in the last week."
hypothesis = "Malware and attacker tools run on few hosts."
integration = ["endpoint.events.process"]
mitre = ["T1204", "T1204.002"]
language_version = 1
query = ['''
FROM logs-endpoint.events.process-* | WHERE @timestamp > now() - 7 days
| STATS hosts = count_distinct(host.name) BY process.executable | WHERE hosts <= 2
''']
sql = ["SELECT 1"]
notes = ["Check the signer."]

[[test]]
name = "one host"
now = "2024-12-10T12:00:00Z"
parser = "json"
raw = ['{"@timestamp": "2024-12-09T10:00:00Z", "host": {"name": "a"}, "process": {"executable": "x.exe"}}']
expect_rows = [{ "process.executable" = "x.exe", hosts = 1 }]
expect_count = 1

[[test]]
name = "the SQL form"
now = "2024-12-10T12:00:00.5+01:00"
language = "sql"
file = "fixtures/rare.jsonl"
expect_count = 0
"#;

    #[test]
    fn a_good_hunt_file_reads_with_no_problems() {
        let file = HuntFile::parse(GOOD).unwrap();
        assert_eq!(file.hunt.author, ["secops"]);
        assert_eq!(file.hunt.mitre, ["T1204", "T1204.002"]);
        assert_eq!(file.tests.len(), 2);
        assert_eq!(file.tests[1].language, TestLanguage::Sql);
        assert_eq!(
            file.tests[0].expect_rows.as_ref().unwrap()[0]["hosts"].as_integer(),
            Some(1)
        );
        assert_eq!(file.problems(), Vec::<Problem>::new());
        assert!(HuntFile::is_ours(GOOD));
    }

    #[test]
    fn elastic_hunts_read_but_are_not_ours() {
        let elastic = r#"
[hunt]
author = "Elastic"
description = "x"
integration = ["aws.cloudtrail"]
uuid = "e6e78858-6482-11ef-93bd-f661ea17fbcc"
name = "n"
language = ["ES|QL"]
license = "Elastic License v2"
notes = []
mitre = ['T1580']
query = ['from logs-aws.cloudtrail-* | where event.action == "DescribeInstances"']
"#;
        assert!(!HuntFile::is_ours(elastic));
        let file = HuntFile::parse(elastic).unwrap();
        assert_eq!(file.problems(), Vec::<Problem>::new());
        assert_eq!(file.hunt.language_version, 1);
    }

    #[test]
    fn a_misspelt_key_is_an_error_with_its_line() {
        let text = GOOD.replace("hypothesis =", "hypotesis =");
        let e = HuntFile::parse(&text).unwrap_err();
        assert!(e.contains("hypotesis") && e.contains("line 7"), "{e}");
    }

    #[test]
    fn problems_name_the_key_and_the_reason() {
        let text = GOOD
            .replace("5b0f3d7e-8a51", "5b0f3d7e-8a5")
            .replace("\"T1204.002\"", "\"T12044\"")
            .replace("language_version = 1", "language_version = 9")
            .replace("WHERE hosts <= 2", "WHERE hosts <=")
            .replace("expect_count = 1", "expect_count = 2")
            .replace("2024-12-10T12:00:00.5+01:00", "yesterday")
            .replace("language = \"sql\"", "language = \"sql\"\nquery = 3");
        let file = HuntFile::parse(&text).unwrap();
        let got: Vec<String> = file.problems().iter().map(Problem::to_string).collect();
        let at: Vec<&str> = got.iter().map(|p| p.split(": ").next().unwrap()).collect();
        assert_eq!(
            at,
            [
                "hunt.uuid",
                "hunt.language_version",
                "hunt.mitre[1]",
                "hunt.query[0]",
                "test[0] (\"one host\").expect_count",
                "test[1] (\"the SQL form\").query",
                "test[1] (\"the SQL form\").now",
            ],
            "{got:#?}"
        );
        assert!(got[1].contains("1 to 1"), "{}", got[1]);
        assert!(
            got[3].ends_with(
                "line 3, column 1 (stage 4, WHERE): expected an expression but the query ends"
            ),
            "{}",
            got[3]
        );
        assert!(got[4].contains("2, but expect_rows lists 1"), "{}", got[4]);
    }

    #[test]
    fn a_test_without_events_or_expectation_is_a_problem() {
        let text = GOOD
            .replace("file = \"fixtures/rare.jsonl\"\n", "")
            .replace("expect_count = 0\n", "");
        let problems = HuntFile::parse(&text).unwrap().problems();
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(problems[0].message.contains("no events"));
        assert!(problems[1].message.contains("expects nothing"));
    }

    #[test]
    fn times_ids_and_techniques() {
        assert!(is_rfc3339("2024-12-10T12:00:00Z"));
        assert!(is_rfc3339("2024-12-10T12:00:00.123456789-05:30"));
        assert!(!is_rfc3339("2024-12-10 12:00:00"));
        assert!(!is_rfc3339("2024-12-10T12:00:00."));
        assert!(is_technique("T1059") && is_technique("T1059.001"));
        assert!(!is_technique("T159") && !is_technique("t1059") && !is_technique("T1059.1"));
        assert!(is_uuid("e6e78858-6482-11ef-93bd-f661ea17fbcc"));
        assert!(!is_uuid("e6e78858648211ef93bdf661ea17fbcc"));
    }
}
