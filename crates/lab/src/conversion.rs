//! `sigma convert` over files: each Sigma file must load and be able to run here before it is
//! converted; each rule converted (see [`crate::convert`]) must load and compile as a native rule before
//! it is written, with SigmaHQ's regression sample copied beside it as a replay case; correlations name
//! the native rules converted from the same file.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use secops_attack::Catalogue;
use secops_detect::sigma::{self, Mapping};
use secops_detect::{CompileError, CompiledRule};
use secops_event::Timestamp;
use secops_rules::load::load_text;
use secops_rules::sigma::yaml::parse_documents;
use secops_rules::sigma::{parse_file, Placeholders, SigmaDocument};
use secops_rules::RuleError;
use sha2::{Digest, Sha256};

use crate::convert::{self, ConvertError, Converted, Fixture};

/// How to convert files.
#[derive(Debug)]
pub struct FileOptions<'a> {
    pub attack: Option<&'a Catalogue>,
    /// Write the rules under this folder (by primary tactic); without it, the text is handed back.
    pub out: Option<&'a Path>,
    /// Replace rule files that exist already.
    pub force: bool,
    /// `YYYY-MM-DD`, for rules that carry no date.
    pub today: &'a str,
}

/// Why a Sigma file was not converted.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    #[error("reading: {0}")]
    Read(std::io::Error),
    /// The file does not load as Sigma.
    #[error("{0}")]
    Sigma(String),
    #[error("will not run, so not converted: {0}")]
    WillNotRun(String),
    #[error(transparent)]
    Convert(#[from] ConvertError),
    #[error("the converted rule does not load: {0}")]
    DoesNotLoad(RuleError),
    #[error("the converted correlation does not load: {0}")]
    CorrelationDoesNotLoad(RuleError),
    #[error("the converted rule does not compile: {0}")]
    DoesNotCompile(CompileError),
    #[error("{} exists (--force replaces it)", .0.display())]
    Exists(PathBuf),
    #[error("{what} {}: {source}", path.display())]
    Io {
        what: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
}

/// One converted rule, written or handed back.
#[derive(Debug)]
pub struct Written<'a> {
    pub rule: &'a Converted,
    /// Where it was written; `None`: `rule.text` is for the caller.
    pub path: Option<&'a Path>,
}

/// Converts one Sigma file; `each` sees every rule as it is written. Returns how many were.
/// `new_id` gives a fresh rule id for rules whose Sigma id is not a lowercase UUID.
pub fn convert_file(
    file: &Path,
    options: &FileOptions<'_>,
    new_id: &mut dyn FnMut() -> String,
    each: &mut dyn FnMut(Written<'_>),
) -> Result<usize, FileError> {
    let text = std::fs::read_to_string(file).map_err(FileError::Read)?;
    // It must load and be able to run here, exactly as a Sigma file would.
    let documents = parse_file(file, &text, &Placeholders::new()).map_err(|e| {
        FileError::Sigma(
            e.to_string()
                .trim_start_matches(&format!("{}: ", file.display()))
                .to_string(),
        )
    })?;
    let compiled = sigma::compile(&documents, Mapping::shared_bundled());
    if let Some(rejected) = compiled.rejected.first() {
        return Err(FileError::WillNotRun(rejected.reason.clone()));
    }
    let raw = parse_documents(&text).map_err(|e| FileError::Sigma(e.to_string()))?;
    let sha256: String = Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let original_path = original_path(file);
    let mut written = 0;
    // Sigma ids and names of the rules converted from this file, to their native ids: a correlation
    // names the native rules.
    let mut references: HashMap<String, String> = HashMap::new();
    let mut correlations = Vec::new();
    for (document, parsed) in raw.iter().zip(&documents) {
        let SigmaDocument::Rule(rule) = parsed else {
            correlations.push((document, parsed));
            continue;
        };
        let fresh_id = new_id();
        let convert_options = convert_options(options, &fresh_id, &original_path, &sha256);
        let sample = convert::regression_sample(file, document);
        // The rule's folder and name are known only after conversion; convert once to learn them.
        let draft = convert::to_native(document, &rule.meta, None, &convert_options)?;
        let target = options
            .out
            .map(|out| out.join(&draft.folder).join(&draft.file_name));
        let fixture = match (&sample, &target) {
            (Some((json, min_alerts)), Some(target)) => {
                let name = format!(
                    "{}.regression.json",
                    draft.file_name.trim_end_matches(".toml")
                );
                let dir = target.parent().unwrap_or(Path::new("."));
                create_dir(dir)?;
                std::fs::copy(json, dir.join(&name)).map_err(|source| FileError::Io {
                    what: "copying",
                    path: json.clone(),
                    source,
                })?;
                Some(Fixture {
                    events_file: name,
                    min_alerts: *min_alerts,
                })
            }
            (Some((json, min_alerts)), None) => Some(Fixture {
                events_file: std::fs::canonicalize(json)
                    .unwrap_or_else(|_| json.clone())
                    .display()
                    .to_string(),
                min_alerts: *min_alerts,
            }),
            (None, _) => None,
        };
        let done = convert::to_native(document, &rule.meta, fixture.as_ref(), &convert_options)?;
        // The result must load and compile as a native rule.
        let check_path = target
            .clone()
            .unwrap_or_else(|| PathBuf::from(&done.file_name));
        let checked = load_text(&check_path, &done.text).map_err(FileError::DoesNotLoad)?;
        for key in [&rule.meta.id, &rule.meta.name].into_iter().flatten() {
            references.insert(key.clone(), checked.file.rule.id.clone());
        }
        CompiledRule::compile(&checked, Timestamp::from_unix_nanos(0))
            .map_err(FileError::DoesNotCompile)?;
        write_rule(&done, target.as_deref(), options.force, each)?;
        written += 1;
    }
    for (document, parsed) in correlations {
        let fresh_id = new_id();
        let convert_options = convert_options(options, &fresh_id, &original_path, &sha256);
        let done =
            convert::correlation_to_native(document, parsed.meta(), &references, &convert_options)?;
        let target = options
            .out
            .map(|out| out.join(&done.folder).join(&done.file_name));
        let check_path = target
            .clone()
            .unwrap_or_else(|| PathBuf::from(&done.file_name));
        load_text(&check_path, &done.text).map_err(FileError::CorrelationDoesNotLoad)?;
        write_rule(&done, target.as_deref(), options.force, each)?;
        written += 1;
    }
    Ok(written)
}

/// The conversion's options for one rule of a file.
fn convert_options<'a>(
    options: &FileOptions<'a>,
    fresh_id: &'a str,
    original_path: &'a str,
    original_sha256: &'a str,
) -> convert::Options<'a> {
    convert::Options {
        attack: options.attack,
        fresh_id,
        today: options.today,
        original_path,
        original_sha256,
    }
}

fn create_dir(dir: &Path) -> Result<(), FileError> {
    std::fs::create_dir_all(dir).map_err(|source| FileError::Io {
        what: "creating",
        path: dir.to_path_buf(),
        source,
    })
}

/// Writes a converted rule under its target (refusing to replace one without `force`), or hands it
/// back.
fn write_rule(
    done: &Converted,
    target: Option<&Path>,
    force: bool,
    each: &mut dyn FnMut(Written<'_>),
) -> Result<(), FileError> {
    if let Some(target) = target {
        if target.exists() && !force {
            return Err(FileError::Exists(target.to_path_buf()));
        }
        if let Some(dir) = target.parent() {
            create_dir(dir)?;
        }
        std::fs::write(target, &done.text).map_err(|source| FileError::Io {
            what: "writing",
            path: target.to_path_buf(),
            source,
        })?;
    }
    each(Written {
        rule: done,
        path: target,
    });
    Ok(())
}

/// The Sigma file as `[metadata.source]` names it: from its rules folder on (`rules/windows/...`)
/// when it lies in a SigmaHQ-style tree, else as given.
fn original_path(file: &Path) -> String {
    let text = file.to_string_lossy().replace('\\', "/");
    for root in [
        "rules/",
        "rules-emerging-threats/",
        "rules-threat-hunting/",
        "rules-compliance/",
        "rules-placeholder/",
    ] {
        if let Some(i) = text.rfind(&format!("/{root}")) {
            return text[i + 1..].to_string();
        }
    }
    text
}
