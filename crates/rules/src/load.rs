//! Loading rule files: one file, a folder of them, or files held in memory (the bundled pack).

use std::path::{Path, PathBuf};

use crate::{CheckedRule, RuleError, RuleFile};

/// Parses and checks one rule text read from `path`.
pub fn load_text(path: &Path, text: &str) -> Result<CheckedRule, RuleError> {
    RuleFile::parse(path, text)?.check(path, text)
}

/// Every `*.toml` below `dir` (sorted), each loaded on its own: one bad rule does not stop the others.
pub fn load_dir(dir: &Path) -> (Vec<CheckedRule>, Vec<RuleError>) {
    let mut rules = Vec::new();
    let mut errors = Vec::new();
    for path in toml_files(dir, &mut errors) {
        match std::fs::read_to_string(&path) {
            Ok(text) => match load_text(&path, &text) {
                Ok(rule) => rules.push(rule),
                Err(e) => errors.push(e),
            },
            Err(e) => errors.push(io_error(&path, &e)),
        }
    }
    (rules, errors)
}

fn io_error(path: &Path, e: &std::io::Error) -> RuleError {
    RuleError {
        file: path.to_path_buf(),
        line: None,
        key: None,
        message: e.to_string(),
    }
}

fn toml_files(dir: &Path, errors: &mut Vec<RuleError>) -> Vec<PathBuf> {
    files_with(dir, &["toml"], errors)
}

/// Files below `dir` (or `dir` itself) whose extension is one of `extensions`, sorted.
pub fn files_with(dir: &Path, extensions: &[&str], errors: &mut Vec<RuleError>) -> Vec<PathBuf> {
    if dir.is_file() {
        return vec![dir.to_path_buf()];
    }
    let mut files = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(current) = stack.pop() {
        let entries = match std::fs::read_dir(&current) {
            Ok(entries) => entries,
            Err(e) => {
                errors.push(io_error(&current, &e));
                continue;
            }
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if path
                .extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| extensions.contains(&e))
            {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

/// Every Sigma file (`*.yml`, `*.yaml`) below `path` (or `path` itself), sorted; each file loads on its
/// own, so one bad file does not stop the others.
pub fn load_sigma(
    path: &Path,
    placeholders: &crate::sigma::Placeholders,
) -> (
    Vec<crate::sigma::SigmaDocument>,
    Vec<crate::sigma::SigmaError>,
) {
    let mut documents = Vec::new();
    let mut errors = Vec::new();
    let mut io_errors = Vec::new();
    for file in files_with(path, &["yml", "yaml"], &mut io_errors) {
        match std::fs::read_to_string(&file) {
            Ok(text) => match crate::sigma::parse_file(&file, &text, placeholders) {
                Ok(docs) => documents.extend(docs),
                Err(e) => errors.push(e),
            },
            Err(e) => errors.push(sigma_io_error(&file, &e)),
        }
    }
    errors.extend(io_errors.into_iter().map(|e| crate::sigma::SigmaError {
        file: e.file,
        document: None,
        key: None,
        message: e.message,
    }));
    (documents, errors)
}

fn sigma_io_error(path: &Path, e: &std::io::Error) -> crate::sigma::SigmaError {
    crate::sigma::SigmaError {
        file: path.to_path_buf(),
        document: None,
        key: None,
        message: e.to_string(),
    }
}
