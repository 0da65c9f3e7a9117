//! Which rules an operation runs: the bundled pack (embedded at build time from `rules/`), or the
//! folders named, which may hold our TOML rules (`*.toml`) and Sigma rules (`*.yml`, `*.yaml`) side by
//! side. One bad file does not stop the others: it is a [`Rejection`] in the result.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::Instant;

use rayon::prelude::*;
use secops_detect::sigma::{self, CompiledSigma, FieldCheck, Mapping};
use secops_rules::load::{files_with, load_sigma_file, load_text};
use secops_rules::lock::Lock;
use secops_rules::sigma::{Placeholders, SigmaDocument, SigmaError};
use secops_rules::{CheckedRule, LogSource, RuleError};

use crate::ServiceError;

include!(concat!(env!("OUT_DIR"), "/bundled_rules.rs"));

/// The bundled pack's version lock.
const BUNDLED_LOCK: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../etc/rules.lock.json"
));

/// Which rules to load.
#[derive(Debug, Clone, Default)]
pub struct RuleSelection {
    /// Rule folders or files: TOML rules and Sigma YAML (none: the bundled pack).
    pub rules: Vec<PathBuf>,
    /// Sigma `expand` placeholders: a folder of NAME.txt files, one value per line (`#` comments).
    pub placeholders: Option<PathBuf>,
    /// A Sigma log-source mapping file (TOML, the shape of the bundled one); its entries come first.
    pub sigma_mapping: Option<PathBuf>,
    /// Only Sigma rules of these statuses (none: all but deprecated).
    pub status: Vec<String>,
    /// Only Sigma rules of these levels.
    pub level: Vec<String>,
    /// Only Sigma rules carrying one of these tags, or a tag starting with it (`attack.t1059`).
    pub tags: Vec<String>,
}

/// A rule file that will not run, and why (the message names the file).
#[derive(Debug, Clone)]
pub struct Rejection {
    pub message: String,
    /// The log source of a Sigma rule rejected by compilation (its mapping or its fields).
    pub logsource: Option<LogSource>,
}

impl std::fmt::Display for Rejection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// Everything loaded for a run.
#[derive(Debug)]
pub struct Loaded {
    pub native: Vec<CheckedRule>,
    pub sigma: CompiledSigma,
    pub rejected: Vec<Rejection>,
    /// Sigma documents left out by `--status`, `--level` or `--tag`.
    pub filtered: usize,
    pub load_seconds: f64,
    /// A Sigma correlation groups by resolved entities.
    pub sigma_correlations_read_entities: bool,
}

impl Loaded {
    pub fn rule_count(&self) -> usize {
        self.native.len() + self.sigma.rules.len() + self.sigma.correlations.len()
    }

    /// Every loaded rule's field check, with its log source, in listing order (native rules,
    /// Sigma rules, correlations). Native rules read ECS fields, which no mapping lists: unverified.
    pub fn field_checks(&self) -> Vec<(LogSource, FieldCheck)> {
        let native = self.native.iter().map(|rule| {
            (
                rule.file.rule.log_source.clone(),
                FieldCheck::Unverified(vec![
                    "ECS fields, checked by `rules test` and `rules validate --fields-from`".into(),
                ]),
            )
        });
        let sigma = self
            .sigma
            .logsources
            .iter()
            .cloned()
            .zip(self.sigma.checks.iter().cloned());
        let correlations = self
            .sigma
            .correlations
            .iter()
            .map(|c| (LogSource::default(), c.check.clone()));
        native.chain(sigma).chain(correlations).collect()
    }

    /// Whether a loaded rule reads resolved entities (`secops.entity.*` in a query, a threshold,
    /// new-terms or suppression field, or a correlation's group-by and aliases): then a run resolves
    /// entities without being asked.
    pub fn reads_entities(&self) -> bool {
        let native = self.native.iter().any(secops_detect::reads_entities);
        native || self.sigma_correlations_read_entities
    }

    /// How many loaded rules the field check proved, how many it could not verify, and how many
    /// rules were rejected (by it or for any other reason).
    pub fn check_counts(&self) -> CheckCounts {
        let checks = self.field_checks();
        let proven = checks
            .iter()
            .filter(|(_, c)| *c == FieldCheck::Proven)
            .count();
        CheckCounts {
            proven,
            unverified: checks.len() - proven,
            rejected: self.rejected.len(),
        }
    }
}

/// Loaded rules by what the field check says of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CheckCounts {
    pub proven: usize,
    pub unverified: usize,
    pub rejected: usize,
}

impl std::fmt::Display for CheckCounts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} proven, {} unverified, {} rejected",
            self.proven, self.unverified, self.rejected
        )
    }
}

/// The bundled pack's files as (path, text), paths as in the repository (`rules/...`).
pub fn bundled_texts() -> Vec<(PathBuf, String)> {
    BUNDLED_RULES
        .iter()
        .map(|(name, text)| (Path::new("rules").join(name), text.to_string()))
        .collect()
}

/// Loads and compiles the rules `args` name. Fails only when a named folder, the placeholders or the
/// mapping cannot be read.
pub fn load(args: &RuleSelection) -> Result<Loaded, ServiceError> {
    let started = Instant::now();
    let placeholders = match &args.placeholders {
        Some(dir) => read_placeholders(dir)?,
        None => Placeholders::new(),
    };
    let mapping = match &args.sigma_mapping {
        Some(file) => {
            let text = std::fs::read_to_string(file).map_err(|source| ServiceError::Read {
                path: file.clone(),
                source,
            })?;
            Mapping::with_user(&text)
                .map_err(|e| ServiceError::invalid(&file.display().to_string(), e))?
        }
        None => Mapping::bundled(),
    };
    let mut native = Vec::new();
    let mut native_errors: Vec<RuleError> = Vec::new();
    let mut documents = Vec::new();
    let mut sigma_errors: Vec<SigmaError> = Vec::new();
    let mut lock_errors = Vec::new();
    if args.rules.is_empty() {
        let lock = Lock::parse(BUNDLED_LOCK).unwrap_or_default();
        for (name, text) in BUNDLED_RULES {
            match load_text(&Path::new("rules").join(name), text) {
                Ok(rule) => native.push(locked(rule, &lock)),
                Err(e) => native_errors.push(e),
            }
        }
    }
    for dir in &args.rules {
        if !dir.exists() {
            return Err(ServiceError::Missing(format!(
                "rules path {} does not exist",
                dir.display()
            )));
        }
        let lock = match lock_near(dir) {
            Some(path) => match std::fs::read_to_string(&path)
                .map_err(|e| e.to_string())
                .and_then(|text| Lock::parse(&text).map_err(|e| e.to_string()))
            {
                Ok(lock) => lock,
                Err(e) => {
                    lock_errors.push(format!("{}: version lock: {e}", path.display()));
                    Lock::default()
                }
            },
            None => Lock::default(),
        };
        // One walk finds both kinds of rule file.
        let mut walk_errors = Vec::new();
        let files = files_with(dir, &["toml", "yml", "yaml"], &mut walk_errors);
        native_errors.extend(walk_errors);
        let (toml, yaml): (Vec<&PathBuf>, Vec<&PathBuf>) = files
            .iter()
            .partition(|f| f.extension().is_some_and(|e| e == "toml"));
        for file in toml {
            let text = match std::fs::read_to_string(file) {
                Ok(text) => text,
                Err(e) => {
                    native_errors.push(RuleError {
                        file: file.clone(),
                        line: None,
                        key: None,
                        message: e.to_string(),
                    });
                    continue;
                }
            };
            // Hunts beside the rules are the hunt commands' (`rules test` runs their cases).
            if secops_rules::load::is_hunt(&text) {
                continue;
            }
            match load_text(file, &text) {
                Ok(rule) => native.push(locked(rule, &lock)),
                Err(e) => native_errors.push(e),
            }
        }
        let parsed: Vec<Result<Vec<SigmaDocument>, SigmaError>> = yaml
            .par_iter()
            .map(|file| load_sigma_file(file, &placeholders))
            .collect();
        for result in parsed {
            match result {
                Ok(docs) => documents.extend(docs),
                Err(e) => sigma_errors.push(e),
            }
        }
    }
    let total = documents.len();
    let documents = select(documents, args);
    let filtered = total - documents.len();
    let sigma_correlations_read_entities = documents.iter().any(|d| match d {
        SigmaDocument::Correlation(c) => secops_detect::correlation_reads_entities(c),
        SigmaDocument::Rule(_) => false,
    });
    let sigma = sigma::compile(&documents, &mapping);
    let mut rejected: Vec<Rejection> = native_errors
        .iter()
        .map(|e| Rejection {
            message: e.to_string(),
            logsource: None,
        })
        .collect();
    rejected.extend(lock_errors.into_iter().map(|message| Rejection {
        message,
        logsource: None,
    }));
    rejected.extend(sigma_errors.iter().map(|e| Rejection {
        message: e.to_string(),
        logsource: None,
    }));
    rejected.extend(sigma.rejected.iter().map(|r| Rejection {
        message: format!("{}: {}", r.file.display(), r.reason),
        logsource: r.logsource.clone(),
    }));
    Ok(Loaded {
        native,
        sigma,
        rejected,
        filtered,
        load_seconds: started.elapsed().as_secs_f64(),
        sigma_correlations_read_entities,
    })
}

/// The rule at the version its lock records.
fn locked(mut rule: CheckedRule, lock: &Lock) -> CheckedRule {
    if let Some(entry) = lock.entries.get(&rule.file.rule.id) {
        rule.version = entry.version;
    }
    rule
}

/// The version lock of a rules folder: `etc/rules.lock.json` in it or beside it, as a repository of
/// rules lays them out (`rules/` and `etc/`).
fn lock_near(dir: &Path) -> Option<PathBuf> {
    let base = if dir.is_file() { dir.parent()? } else { dir };
    [
        base.join("etc/rules.lock.json"),
        base.join("../etc/rules.lock.json"),
    ]
    .into_iter()
    .find(|p| p.is_file())
}

/// Applies `--status`, `--level` and `--tag`. Rules a kept correlation references stay.
fn select(documents: Vec<SigmaDocument>, args: &RuleSelection) -> Vec<SigmaDocument> {
    let keep = |d: &SigmaDocument| {
        let meta = d.meta();
        let status = meta.status.as_deref().unwrap_or("");
        let status_ok = if args.status.is_empty() {
            status != "deprecated"
        } else {
            args.status.iter().any(|s| s.eq_ignore_ascii_case(status))
        };
        let level_ok = args.level.is_empty()
            || args
                .level
                .iter()
                .any(|l| Some(l.to_ascii_lowercase().as_str()) == meta.level.as_deref());
        let tags_ok = args.tags.is_empty()
            || args.tags.iter().any(|wanted| {
                let wanted = wanted.to_ascii_lowercase();
                meta.tags
                    .iter()
                    .any(|t| t.to_ascii_lowercase().starts_with(&wanted))
            });
        status_ok && level_ok && tags_ok
    };
    let mut needed: HashSet<String> = HashSet::new();
    for d in &documents {
        if let SigmaDocument::Correlation(c) = d {
            if keep(d) {
                needed.extend(c.rules.iter().cloned());
            }
        }
    }
    documents
        .into_iter()
        .filter(|d| {
            let meta = d.meta();
            keep(d)
                || [meta.id.as_ref(), meta.name.as_ref()]
                    .into_iter()
                    .flatten()
                    .any(|k| needed.contains(k))
        })
        .collect()
}

/// `NAME.txt` files: one value per line; blank lines and `#` comments skipped.
fn read_placeholders(dir: &Path) -> Result<Placeholders, ServiceError> {
    let mut out: HashMap<String, Vec<String>> = HashMap::new();
    let failed = |source| ServiceError::Read {
        path: dir.to_path_buf(),
        source,
    };
    let entries = std::fs::read_dir(dir).map_err(failed)?;
    for entry in entries {
        let path = entry.map_err(failed)?.path();
        if path.extension().is_some_and(|e| e == "txt") {
            let Some(name) = path.file_stem().map(|s| s.to_string_lossy().into_owned()) else {
                continue;
            };
            let text = std::fs::read_to_string(&path).map_err(|source| ServiceError::Read {
                path: path.clone(),
                source,
            })?;
            let values = text
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty() && !l.starts_with('#'))
                .map(str::to_string)
                .collect();
            out.insert(name, values);
        }
    }
    Ok(out)
}
