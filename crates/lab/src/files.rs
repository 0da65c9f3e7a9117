//! The rule files a detection engineer's command works on: TOML rules with their text (validation and
//! the version lock read the text, not only the parsed rule), Sigma files, and the files that could not
//! be read. The version lock is updated from them here.

use std::path::PathBuf;

use secops_detect::sigma::{self, Mapping};
use secops_rules::load::{files_with, load_sigma_file, load_text};
use secops_rules::lock::{rule_hash, Lock, LockError, LockInput};
use secops_rules::sigma::Placeholders;
use secops_rules::RuleError;

use crate::validate::{self, Finding, Level};

/// Rule files found for a command.
#[derive(Debug, Clone, Default)]
pub struct RuleFiles {
    /// TOML rules as (path, text).
    pub toml: Vec<(PathBuf, String)>,
    pub sigma: Vec<PathBuf>,
    /// Hunt files found beside the rules, as (path, text): the hunt commands check and test them.
    pub hunts: Vec<(PathBuf, String)>,
    /// Files that could not be read, as schema findings.
    pub unreadable: Vec<Finding>,
}

/// Why rule files could not be worked on.
#[derive(Debug, thiserror::Error)]
pub enum FilesError {
    #[error("rules path {} does not exist", .0.display())]
    Missing(PathBuf),
    #[error("{}: {}", .0.file.display(), .0.message)]
    Unreadable(Finding),
    #[error("{0} (fix it before locking)")]
    Rule(RuleError),
    #[error("{}: {source}", path.display())]
    Hash { path: PathBuf, source: LockError },
}

impl RuleFiles {
    /// Rules given as texts (the bundled pack).
    pub fn from_texts(toml: Vec<(PathBuf, String)>) -> Self {
        RuleFiles {
            toml,
            ..RuleFiles::default()
        }
    }

    /// Every rule file below `paths` (files or folders).
    pub fn find(paths: &[PathBuf]) -> Result<Self, FilesError> {
        let mut found = RuleFiles::default();
        for path in paths {
            if !path.exists() {
                return Err(FilesError::Missing(path.clone()));
            }
            let mut walk_errors = Vec::new();
            for file in files_with(path, &["toml", "yml", "yaml"], &mut walk_errors) {
                if file.extension().is_some_and(|e| e == "toml") {
                    match std::fs::read_to_string(&file) {
                        Ok(text) if secops_rules::load::is_hunt(&text) => {
                            found.hunts.push((file, text));
                        }
                        Ok(text) => found.toml.push((file, text)),
                        Err(e) => walk_errors.push(RuleError {
                            file,
                            line: None,
                            key: None,
                            message: e.to_string(),
                        }),
                    }
                } else {
                    found.sigma.push(file);
                }
            }
            found
                .unreadable
                .extend(walk_errors.into_iter().map(|e| Finding {
                    level: Level::Error,
                    check: "schema",
                    file: e.file,
                    line: e.line,
                    column: None,
                    message: e.message,
                }));
        }
        Ok(found)
    }
}

/// What validating rule files found.
#[derive(Debug, Clone)]
pub struct Validation {
    /// Rule files checked (TOML and Sigma).
    pub checked: usize,
    /// TOML rules that loaded.
    pub valid: usize,
    pub sigma_files: usize,
    pub findings: Vec<Finding>,
}

impl Validation {
    pub fn errors(&self) -> usize {
        self.findings
            .iter()
            .filter(|f| f.level == Level::Error)
            .count()
    }

    pub fn warnings(&self) -> usize {
        self.findings.len() - self.errors()
    }
}

/// Validates the files: the TOML rules with every check (see [`validate::validate`]); Sigma files must
/// load and be able to run on the bundled mapping.
pub fn validate_files(files: &RuleFiles, options: &validate::Options<'_>) -> Validation {
    let mut findings = files.unreadable.clone();
    let (valid, rule_findings) = validate::validate(&files.toml, options);
    findings.extend(rule_findings);
    let mut documents = Vec::new();
    for file in &files.sigma {
        match load_sigma_file(file, &Placeholders::new()) {
            Ok(docs) => documents.extend(docs),
            Err(e) => findings.push(Finding {
                level: Level::Error,
                check: "sigma",
                file: e.file.clone(),
                line: e.line,
                column: e.column,
                message: e.to_string(),
            }),
        }
    }
    for rejected in sigma::compile(&documents, &Mapping::bundled()).rejected {
        findings.push(Finding {
            level: Level::Error,
            check: "sigma",
            file: rejected.file,
            line: None,
            column: None,
            message: rejected.reason,
        });
    }
    Validation {
        checked: files.toml.len() + files.sigma.len(),
        valid,
        sigma_files: files.sigma.len(),
        findings,
    }
}

/// Records the TOML rules in `lock` (new ones at version 1, changed ones bumped); returns a line per
/// change. Every rule must load and none may be unreadable.
pub fn update_lock(lock: &mut Lock, files: &RuleFiles) -> Result<Vec<String>, FilesError> {
    if let Some(f) = files.unreadable.first() {
        return Err(FilesError::Unreadable(f.clone()));
    }
    let mut inputs = Vec::new();
    for (path, text) in &files.toml {
        let rule = load_text(path, text).map_err(FilesError::Rule)?;
        let sha256 = rule_hash(text).map_err(|source| FilesError::Hash {
            path: path.clone(),
            source,
        })?;
        inputs.push(LockInput {
            id: rule.file.rule.id.clone(),
            name: rule.file.rule.name.clone(),
            rule_type: rule.file.rule.rule_type.as_str().to_string(),
            maturity: rule.file.metadata.maturity.as_str().to_string(),
            updated_date: rule.file.metadata.updated_date.clone(),
            sha256,
        });
    }
    Ok(lock.update(&inputs))
}
