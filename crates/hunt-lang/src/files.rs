//! Hunt files as Elastic writes them, read for their queries: the hunting library's TOML (`[hunt]
//! query = [...]`, ES|QL beside osquery SQL and EQL) and ES|QL rule TOML (`[rule] language = "esql"`,
//! `query`). `hunt validate`, the corpus tests and the planner's tests read them through here.

use std::path::{Path, PathBuf};

/// The queries one file holds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FileQueries {
    /// ES|QL queries, in file order.
    pub esql: Vec<String>,
    /// Entries in another language (EQL, osquery SQL, a rule of another language): skipped.
    pub other: usize,
}

/// The queries of one hunt or rule file's text.
pub fn queries_in(text: &str) -> Result<FileQueries, String> {
    let doc: toml::Value = toml::from_str(text).map_err(|e| e.to_string())?;
    let mut found = FileQueries::default();
    let mut candidates: Vec<String> = Vec::new();
    if let Some(list) = doc
        .get("hunt")
        .and_then(|h| h.get("query"))
        .and_then(|q| q.as_array())
    {
        candidates.extend(list.iter().filter_map(|q| q.as_str().map(str::to_string)));
    }
    if let Some(rule) = doc.get("rule") {
        match rule.get("language").and_then(|l| l.as_str()) {
            Some("esql") => candidates.extend(
                rule.get("query")
                    .and_then(|q| q.as_str())
                    .map(str::to_string),
            ),
            Some(_) => found.other += 1,
            None => {}
        }
    }
    for query in candidates {
        if crate::is_esql(&query) {
            found.esql.push(query);
        } else {
            found.other += 1;
        }
    }
    Ok(found)
}

/// The `.toml` files under `paths` (folders walked, sorted; files as given).
pub fn toml_files(paths: &[PathBuf]) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for path in paths {
        if path.is_dir() {
            let mut found = Vec::new();
            walk(path, &mut found);
            found.sort();
            out.extend(found);
        } else {
            out.push(path.clone());
        }
    }
    out
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            walk(&path, out);
        } else if path.extension().is_some_and(|e| e == "toml") {
            out.push(path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hunts_and_rules_give_their_esql_queries_and_count_the_rest() {
        let hunt = "[hunt]\nquery = ['from logs-* | limit 1', 'process where true', 'SELECT 1']\n";
        let found = queries_in(hunt).unwrap();
        assert_eq!(found.esql, vec!["from logs-* | limit 1"]);
        assert_eq!(found.other, 2);
        let rule = "[rule]\nlanguage = \"eql\"\nquery = \"any where true\"\n";
        assert_eq!(queries_in(rule).unwrap().other, 1);
        assert!(queries_in("[hunt").is_err());
    }
}
