//! Loading rule files: one file, a folder of them, or files held in memory (the bundled pack).

use std::path::{Path, PathBuf};

use crate::{CheckedRule, RuleError, RuleFile};

/// Parses and checks one rule text read from `path`.
pub fn load_text(path: &Path, text: &str) -> Result<CheckedRule, RuleError> {
    RuleFile::parse(path, text)?.check(path, text)
}

/// Reads, parses and checks one TOML rule file.
pub fn load_file(path: &Path) -> Result<CheckedRule, RuleError> {
    let text = std::fs::read_to_string(path).map_err(|e| io_error(path, &e))?;
    load_text(path, &text)
}

/// Every `*.toml` below `dir` (sorted), each loaded on its own: one bad rule does not stop the others.
/// Hunt files among them ([`is_hunt`]) are left out.
pub fn load_dir(dir: &Path) -> (Vec<CheckedRule>, Vec<RuleError>) {
    let mut rules = Vec::new();
    let mut errors = Vec::new();
    for path in files_with(dir, &["toml"], &mut errors) {
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) => {
                errors.push(io_error(&path, &e));
                continue;
            }
        };
        if is_hunt(&text) {
            continue;
        }
        match load_text(&path, &text) {
            Ok(rule) => rules.push(rule),
            Err(e) => errors.push(e),
        }
    }
    (rules, errors)
}

/// Whether a TOML text is a hunt file (a top-level `[hunt]` table and no `[rule]`): hunts live beside
/// the rules, and the rule loaders leave them to the hunt commands.
pub fn is_hunt(text: &str) -> bool {
    let header = |name: &str| text.lines().any(|l| l.trim_end() == name);
    header("[hunt]") && !header("[rule]")
}

fn io_error(path: &Path, e: &std::io::Error) -> RuleError {
    RuleError {
        file: path.to_path_buf(),
        line: None,
        key: None,
        message: e.to_string(),
    }
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

/// Reads and parses one Sigma file (all its documents, or the reason it cannot load).
pub fn load_sigma_file(
    path: &Path,
    placeholders: &crate::sigma::Placeholders,
) -> Result<Vec<crate::sigma::SigmaDocument>, crate::sigma::SigmaError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| crate::sigma::SigmaError::of_file(path, e.to_string()))?;
    crate::sigma::parse_file(path, &text, placeholders)
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
    let mut io_errors = Vec::new();
    let files = files_with(path, &["yml", "yaml"], &mut io_errors);
    let mut errors: Vec<crate::sigma::SigmaError> = io_errors
        .into_iter()
        .map(|e| crate::sigma::SigmaError::of_file(&e.file, e.message))
        .collect();
    for file in files {
        match load_sigma_file(&file, placeholders) {
            Ok(docs) => documents.extend(docs),
            Err(e) => errors.push(e),
        }
    }
    (documents, errors)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hunt_files_beside_rules_are_told_apart_and_left_out_of_a_folder_of_rules() {
        assert!(is_hunt("[hunt]\nname = \"x\"\n"));
        assert!(is_hunt("# a hunt\n[hunt]  \nquery = []\n[[test]]\n"));
        assert!(!is_hunt("[rule]\nname = \"x\"\n"));
        assert!(!is_hunt("[rule]\nnote = '''\n[hunt]\n'''\n"));
        assert!(!is_hunt("[hunting]\n"));
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("h.toml"), "[hunt]\nname = \"x\"\n").unwrap();
        std::fs::write(dir.path().join("broken.toml"), "[rule\n").unwrap();
        let (rules, errors) = load_dir(dir.path());
        assert!(rules.is_empty());
        assert_eq!(errors.len(), 1);
        assert!(errors[0].file.ends_with("broken.toml"));
    }
}
