//! The conformance corpus: every ES|QL query of Elastic's hunting library and ES|QL rules
//! (`../shared/corpus/hunting/elastic`) parses, and printing it gives a text that parses back to the
//! same tree and prints the same again. Malformed queries get errors naming the stage and column.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers

use std::path::{Path, PathBuf};

use secops_hunt_lang::files::{queries_in, toml_files};
use secops_hunt_lang::{parse, Command};

/// (file, query) for every ES|QL query of the folder; with the count of other entries (EQL, SQL)
/// left out.
fn esql_queries(root: &Path) -> (Vec<(PathBuf, String)>, usize) {
    let mut queries = Vec::new();
    let mut other = 0;
    for file in toml_files(&[root.to_path_buf()]) {
        let found = queries_in(&std::fs::read_to_string(&file).unwrap())
            .unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        other += found.other;
        queries.extend(found.esql.into_iter().map(|q| (file.clone(), q)));
    }
    (queries, other)
}

/// Corpus queries that are not ES|QL as Elasticsearch reads it either (its grammar has no `=`
/// comparison, no operator before a closing parenthesis, no `now(-)`): each must be refused, with this
/// reason, rather than guessed at.
const NOT_ESQL: &[(&str, &str)] = &[
    (
        "servicequotas_discovery_multi_region_get_service_quota_calls.toml",
        "line 5, column 62 (stage 3, WHERE): \"=\" assigns (in EVAL, STATS and BY); to compare, write \"==\"",
    ),
    (
        "entra_authentication_attempts_behind_rare_user_agents.toml",
        "line 42, column 5 (stage 4, WHERE): expected an expression but found \")\"",
    ),
    (
        "execution_via_windows_scheduled_task_with_low_occurrence_frequency.toml",
        "line 2, column 28 (stage 2, WHERE): expected an expression but found \")\"",
    ),
];

#[test]
fn every_esql_query_of_the_corpus_parses_and_round_trips_through_the_printer() {
    let Some(root) = secops_testkit::shared("corpus/hunting/elastic") else {
        return;
    };
    let (queries, other) = esql_queries(&root);
    assert!(
        queries.len() >= 190,
        "{} ES|QL queries found",
        queries.len()
    );
    let mut failures = Vec::new();
    let mut completions = 0;
    let mut refused = 0;
    for (file, text) in &queries {
        let name = file
            .strip_prefix(&root)
            .unwrap_or(file)
            .display()
            .to_string();
        let invalid = NOT_ESQL.iter().find(|(file, _)| name.ends_with(file));
        let query = match (parse(text), invalid) {
            (Ok(q), None) => q,
            (Err(e), Some((_, reason))) if e.describe(text) == *reason => {
                refused += 1;
                continue;
            }
            (Err(e), _) => {
                failures.push(format!("{name}: {}", e.describe(text)));
                continue;
            }
            (Ok(_), Some(_)) => {
                failures.push(format!("{name}: not ES|QL, yet it parsed"));
                continue;
            }
        };
        completions += usize::from(
            query
                .stages
                .iter()
                .any(|s| matches!(s.command, Command::Completion { .. })),
        );
        let printed = query.to_string();
        match parse(&printed) {
            Ok(again) if again == query => {
                assert_eq!(again.to_string(), printed, "{name}: printing is not stable");
            }
            Ok(_) => failures.push(format!(
                "{name}: printed, it reads as another query:\n{printed}"
            )),
            Err(e) => failures.push(format!(
                "{name}: the printed query does not parse: {}\n{printed}",
                e.describe(&printed)
            )),
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} queries failed:\n{}",
        failures.len(),
        queries.len(),
        failures.join("\n")
    );
    // The corpus's LLM triage rules use COMPLETION; the mixed hunts carry EQL and SQL beside ES|QL.
    assert!(completions >= 1);
    assert_eq!(refused, NOT_ESQL.len());
    assert!(other > 0);
}

/// Every prefix of real queries (cut anywhere: inside strings, names, comments, after operators) parses
/// or is refused with a span inside the text; none panics.
#[test]
fn queries_cut_anywhere_are_refused_without_panicking() {
    let Some(root) = secops_testkit::shared("corpus/hunting/elastic") else {
        return;
    };
    let (queries, _) = esql_queries(&root);
    let mut refused = 0;
    for (_, text) in queries.iter().step_by(40) {
        for (cut, _) in text.char_indices().step_by(3) {
            let prefix = &text[..cut];
            match parse(prefix) {
                Ok(query) => assert_eq!(parse(&query.to_string()).unwrap(), query),
                Err(e) => {
                    refused += 1;
                    assert!(e.span.start <= prefix.len(), "{prefix:?}: {e:?}");
                    assert!(!e.describe(prefix).is_empty());
                }
            }
        }
    }
    assert!(refused > 500, "{refused}");
}

#[test]
fn malformed_queries_are_refused_with_the_stage_and_column() {
    let cases = [
        (
            "FROM logs-*\n| WHERE process.name ==",
            "line 2, column 24 (stage 2, WHERE): expected an expression but the query ends",
        ),
        (
            "FROM logs-* | TELEPORT host.name",
            "line 1, column 15 (stage 2, TELEPORT): unknown command \"TELEPORT\"",
        ),
        (
            "FROM logs-* | STATS c = count(*) BY host.name extra",
            "line 1, column 47 (stage 2, STATS): expected \"|\" or the end of the query after the STATS stage, found \"extra\"",
        ),
        (
            "FROM logs-* | WHERE message == \"unclosed",
            "line 1, column 32 (stage 2, WHERE): a string that is never closed (\")",
        ),
        (
            "FROM logs-* | WHERE a NOT b",
            "line 1, column 23 (stage 2, WHERE): expected IN, LIKE or RLIKE after NOT, found \"NOT\"",
        ),
        (
            "| WHERE x",
            "line 1, column 1: a query starts with a command such as FROM; found \"|\"",
        ),
        (
            "FROM logs-* | LIMIT many",
            "line 1, column 21 (stage 2, LIMIT): expected a row count but found \"many\"",
        ),
    ];
    for (text, expected) in cases {
        let error = parse(text).expect_err(text);
        assert_eq!(error.describe(text), expected, "{text}");
    }
}

#[test]
fn precedence_and_quoting_survive_printing() {
    for (text, printed) in [
        (
            "from a | where not (x == 1 or y == 2) and z in (1, 2)",
            "FROM a\n| WHERE NOT (x == 1 OR y == 2) AND z IN (1, 2)",
        ),
        (
            "from a | eval d = (a - b) - (c - d)",
            "FROM a\n| EVAL d = a - b - (c - d)",
        ),
        (
            "from a | eval `odd name` = `by`::long * -(2 + 3)",
            "FROM a\n| EVAL `odd name` = `by`::long * -(2 + 3)",
        ),
        (
            "from a | where m RLIKE \"\"\"\\d+\"\"\" and s : \"q\"",
            "FROM a\n| WHERE m RLIKE \"\\\\d+\" AND s : \"q\"",
        ),
        (
            "from a | where @timestamp > now() - 1.5 hours | sort x desc nulls last | limit 5",
            "FROM a\n| WHERE @timestamp > now() - 1.5 hours\n| SORT x DESC NULLS LAST\n| LIMIT 5",
        ),
        (
            "from a // comment\n | stats c = count(*) where x > 1, v = values(y) by h = host.name",
            "FROM a\n| STATS c = count(*) WHERE x > 1, v = values(y) BY h = host.name",
        ),
    ] {
        let query = parse(text).unwrap_or_else(|e| panic!("{}", e.describe(text)));
        assert_eq!(query.to_string(), printed, "{text}");
        assert_eq!(parse(printed).unwrap(), query, "{printed}");
    }
}

/// The commands ES|QL lacks (JOIN, IN subquery, STREAM, TOP, RARE, DEDUP, TREE, LET, UNION,
/// TIMECHART, SEQUENCE) parse, print and parse back to the same tree.
#[test]
fn our_commands_beyond_esql_round_trip() {
    let queries = [
        "FROM logs-system.auth-* | WHERE @timestamp > now() - 1 day\n\
         | JOIN kind=anti (FROM logs-system.auth-* | WHERE @timestamp < now() - 1 day | KEEP user.name, source.ip) ON user.name, source.ip",
        "FROM events | JOIN left (FROM logs-zeek.conn-* | KEEP source.ip, destination.ip) ON source.ip WITHIN 5 minutes",
        "FROM events | WHERE user.name NOT IN (FROM events | WHERE event.outcome == \"failure\" | KEEP user.name)",
        "FROM logs-zeek.conn-* | STREAM prev = lag(@timestamp), n = count(*) BY source.ip, destination.ip SORT @timestamp",
        "FROM events | TOP 10 process.name BY host.name | RARE 3 user.agent.original",
        "FROM events | DEDUP host.name, user.name",
        "FROM logs-endpoint.events.process-* | WHERE process.name == \"cmd.exe\" | TREE descendants DEPTH 4",
        "FROM events | TREE ancestors",
        "LET failed = (FROM logs-system.auth-* | WHERE event.outcome == \"failure\")\n\
         | LET seen = (FROM failed | KEEP user.name)\n\
         | FROM failed | JOIN kind=semi (FROM seen) ON user.name",
        "FROM logs-system.auth-* | KEEP user.name | UNION (FROM logs-aws.cloudtrail-* | KEEP user.name), (FROM events | KEEP user.name)",
        "FROM logs-system.auth-* | TIMECHART SPAN = 1 hour n = count(*), u = count_distinct(user.name) WHERE event.outcome == \"failure\" BY host.name",
        "FROM events | TIMECHART count(*)",
        "FROM logs-system.auth-* | SEQUENCE \"\"\"by source.ip with maxspan=5m\n  [authentication where event.outcome == \"failure\"] with runs=3\n  [authentication where event.outcome == \"success\"]\"\"\" | KEEP sequence.id, user.name",
    ];
    for text in queries {
        let query = parse(text).unwrap_or_else(|e| panic!("{text}: {}", e.describe(text)));
        let printed = query.to_string();
        let again =
            parse(&printed).unwrap_or_else(|e| panic!("{printed}: {}", e.describe(&printed)));
        assert_eq!(again, query, "{printed}");
        assert_eq!(again.to_string(), printed);
    }
    let error = |text: &str| parse(text).unwrap_err().describe(text);
    assert_eq!(
        error("FROM events | JOIN sideways (FROM events) ON x"),
        "line 1, column 20 (stage 2, JOIN): expected a join kind (inner, left, anti, semi) but found \"sideways\""
    );
    let unclosed = error("FROM events | JOIN anti (FROM events | KEEP x ON x");
    assert!(unclosed.contains("(stage 2, KEEP)"), "{unclosed}");
    assert!(error("FROM events | TREE sideways").contains("expected DESCENDANTS or ANCESTORS"));
    assert!(error("FROM events | TIMECHART BY host.name").contains("needs an aggregate"));
    assert!(error("FROM events | TIMECHART count(*) BY h = host.name").contains("BY fields"));
    assert!(error("LET x FROM events").contains("(stage 1, LET)"));
    assert!(error("FROM events | SEQUENCE [any where true]").contains("(stage 2, SEQUENCE)"));
}
