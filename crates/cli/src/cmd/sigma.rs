//! `secops sigma convert`: Sigma rules written as native TOML rules (`language = "sigma"`), each checked
//! by loading it back; SigmaHQ's regression sample, when the rule names one, comes along as a replay
//! case. `secops sigma export`: native rules written as Sigma YAML where their features allow, each
//! checked by loading it back as Sigma.

use std::path::{Path, PathBuf};

use anyhow::Context;
use secops_detect::sigma::{self, Mapping};
use secops_lab::convert::{self, Fixture};
use secops_lab::export;
use secops_rules::load::{files_with, load_text};
use secops_rules::sigma::yaml;
use secops_rules::sigma::{parse_file, Placeholders, SigmaDocument};
use sha2::{Digest, Sha256};

use crate::cmd::coverage::AttackArgs;
use crate::Outcome;

#[derive(Debug, clap::Subcommand)]
pub enum Sigma {
    /// Write Sigma rules as native TOML rules (language = "sigma", the detection verbatim).
    Convert(ConvertArgs),
    /// Write native rules as Sigma YAML, where their features allow.
    Export(ExportArgs),
}

#[derive(Debug, clap::Args)]
pub struct ConvertArgs {
    /// Sigma rule files or folders of them.
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    /// Write the rules under this folder (by primary tactic; regression samples beside them). Without
    /// it, one rule is printed.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Replace rule files that exist already.
    #[arg(long)]
    force: bool,
    #[command(flatten)]
    attack: AttackArgs,
}

#[derive(Debug, clap::Args)]
pub struct ExportArgs {
    /// Native rule files or folders (default: the bundled pack).
    paths: Vec<PathBuf>,
    /// Write one `.yml` per rule under this folder; without it, the YAML is printed.
    #[arg(long)]
    out: Option<PathBuf>,
}

pub fn run(command: Sigma) -> anyhow::Result<Outcome> {
    match command {
        Sigma::Convert(args) => convert(&args),
        Sigma::Export(args) => export(&args),
    }
}

fn convert(args: &ConvertArgs) -> anyhow::Result<Outcome> {
    let attack = match args.attack.path() {
        Some(_) => Some(args.attack.load()?),
        None => {
            eprintln!(
                "note: no ATT&CK data (--attack or SECOPS_ATTACK): techniques are named by id and put \
                 under every tactic the tags name"
            );
            None
        }
    };
    let mut files = Vec::new();
    let mut walk_errors = Vec::new();
    for path in &args.paths {
        if !path.exists() {
            anyhow::bail!("{} does not exist", path.display());
        }
        files.extend(files_with(path, &["yml", "yaml"], &mut walk_errors));
    }
    let mut failed = walk_errors.len();
    for e in &walk_errors {
        eprintln!("error: {e}");
    }
    if args.out.is_none() && files.len() != 1 {
        anyhow::bail!(
            "{} Sigma files: name a folder with --out to write them (without it, one rule is printed)",
            files.len()
        );
    }
    let today = chrono::Utc::now().format("%Y-%m-%d").to_string();
    let mut converted = 0;
    for file in &files {
        match convert_file(file, args, attack.as_ref(), &today) {
            Ok(written) => converted += written,
            Err(e) => {
                failed += 1;
                eprintln!("error: {}: {e:#}", file.display());
            }
        }
    }
    eprintln!("converted {converted} rule(s), {failed} file(s) failed");
    Ok(if failed > 0 {
        Outcome::Failures
    } else {
        Outcome::Clean
    })
}

/// Converts one Sigma file; returns how many rules it wrote.
fn convert_file(
    file: &Path,
    args: &ConvertArgs,
    attack: Option<&secops_attack::Catalogue>,
    today: &str,
) -> anyhow::Result<usize> {
    let text = std::fs::read_to_string(file).context("reading")?;
    // It must load and be able to run here, exactly as a Sigma file would.
    let documents = parse_file(file, &text, &Placeholders::new()).map_err(|e| {
        anyhow::anyhow!(
            "{}",
            e.to_string()
                .trim_start_matches(&format!("{}: ", file.display()))
        )
    })?;
    let compiled = sigma::compile(&documents, Mapping::shared_bundled());
    if let Some(rejected) = compiled.rejected.first() {
        anyhow::bail!("will not run, so not converted: {}", rejected.reason);
    }
    let raw = yaml::parse_documents(&text).map_err(|e| anyhow::anyhow!(e))?;
    let sha256 = hex(&Sha256::digest(text.as_bytes()));
    let original_path = original_path(file);
    let mut written = 0;
    // Sigma ids and names of the rules converted from this file, to their native ids: a correlation
    // names the native rules.
    let mut references: std::collections::HashMap<String, String> = Default::default();
    let mut correlations = Vec::new();
    for (document, parsed) in raw.iter().zip(&documents) {
        let SigmaDocument::Rule(rule) = parsed else {
            correlations.push((document, parsed));
            continue;
        };
        let fresh_id = uuid::Uuid::new_v4().to_string();
        let options = convert::Options {
            attack,
            fresh_id: &fresh_id,
            today,
            original_path: &original_path,
            original_sha256: &sha256,
        };
        let sample = convert::regression_sample(file, document);
        // The rule's folder and name are known only after conversion; convert once to learn them.
        let draft = convert::to_native(document, &rule.meta, None, &options)
            .map_err(|e| anyhow::anyhow!(e))?;
        let target = args
            .out
            .as_ref()
            .map(|out| out.join(&draft.folder).join(&draft.file_name));
        let fixture = match (&sample, &target) {
            (Some((json, min_alerts)), Some(target)) => {
                let name = format!(
                    "{}.regression.json",
                    draft.file_name.trim_end_matches(".toml")
                );
                let dir = target.parent().unwrap_or(Path::new("."));
                std::fs::create_dir_all(dir)
                    .with_context(|| format!("creating {}", dir.display()))?;
                std::fs::copy(json, dir.join(&name))
                    .with_context(|| format!("copying {}", json.display()))?;
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
        let done = convert::to_native(document, &rule.meta, fixture.as_ref(), &options)
            .map_err(|e| anyhow::anyhow!(e))?;
        let native_id = secops_rules::RuleFile::parse(Path::new(&done.file_name), &done.text)
            .map(|f| f.rule.id)
            .map_err(|e| anyhow::anyhow!("the converted rule does not load: {e}"))?;
        for key in [&rule.meta.id, &rule.meta.name].into_iter().flatten() {
            references.insert(key.clone(), native_id.clone());
        }
        // The result must load and compile as a native rule.
        let check_path = target
            .clone()
            .unwrap_or_else(|| PathBuf::from(&done.file_name));
        let checked = load_text(&check_path, &done.text)
            .map_err(|e| anyhow::anyhow!("the converted rule does not load: {e}"))?;
        secops_detect::CompiledRule::compile(&checked, secops_event::Timestamp::from_unix_nanos(0))
            .map_err(|e| anyhow::anyhow!("the converted rule does not compile: {e}"))?;
        write_rule(&done, target.as_deref(), args.force)?;
        written += 1;
    }
    for (document, parsed) in correlations {
        let fresh_id = uuid::Uuid::new_v4().to_string();
        let options = convert::Options {
            attack,
            fresh_id: &fresh_id,
            today,
            original_path: &original_path,
            original_sha256: &sha256,
        };
        let done = convert::correlation_to_native(document, parsed.meta(), &references, &options)
            .map_err(|e| anyhow::anyhow!(e))?;
        let target = args
            .out
            .as_ref()
            .map(|out| out.join(&done.folder).join(&done.file_name));
        let check_path = target
            .clone()
            .unwrap_or_else(|| PathBuf::from(&done.file_name));
        load_text(&check_path, &done.text)
            .map_err(|e| anyhow::anyhow!("the converted correlation does not load: {e}"))?;
        write_rule(&done, target.as_deref(), args.force)?;
        written += 1;
    }
    Ok(written)
}

/// Writes a converted rule under its target (refusing to replace one without `force`), or prints it.
fn write_rule(done: &convert::Converted, target: Option<&Path>, force: bool) -> anyhow::Result<()> {
    for note in &done.notes {
        eprintln!("note: {}: {note}", done.file_name);
    }
    match target {
        Some(target) => {
            if target.exists() && !force {
                anyhow::bail!("{} exists (--force replaces it)", target.display());
            }
            if let Some(dir) = target.parent() {
                std::fs::create_dir_all(dir)
                    .with_context(|| format!("creating {}", dir.display()))?;
            }
            std::fs::write(target, &done.text)
                .with_context(|| format!("writing {}", target.display()))?;
            eprintln!("wrote {}", target.display());
        }
        None => print!("{}", done.text),
    }
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

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn export(args: &ExportArgs) -> anyhow::Result<Outcome> {
    let files: Vec<(PathBuf, String)> = if args.paths.is_empty() {
        secops_service::ruleset::bundled_texts()
    } else {
        let mut walk_errors = Vec::new();
        let mut out = Vec::new();
        for path in &args.paths {
            for file in files_with(path, &["toml"], &mut walk_errors) {
                let text = std::fs::read_to_string(&file)
                    .with_context(|| format!("reading {}", file.display()))?;
                out.push((file, text));
            }
        }
        if let Some(e) = walk_errors.first() {
            anyhow::bail!("{e}");
        }
        out
    };
    let (mut exported, mut refused, mut failed) = (0, 0, 0);
    for (path, text) in &files {
        let rule = match load_text(path, text) {
            Ok(rule) => rule,
            Err(e) => {
                failed += 1;
                eprintln!("error: {e}");
                continue;
            }
        };
        let result = match export::to_sigma(&rule) {
            Ok(result) => result,
            Err(reason) => {
                refused += 1;
                eprintln!("not exported: {}: {reason}", path.display());
                continue;
            }
        };
        // It must load and run as Sigma here.
        let name = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| rule.file.rule.id.clone());
        let target = PathBuf::from(format!("{name}.yml"));
        let documents = match parse_file(&target, &result.text, &Placeholders::new()) {
            Ok(documents) => documents,
            Err(e) => {
                failed += 1;
                eprintln!(
                    "error: {}: the Sigma written does not load: {e}",
                    path.display()
                );
                continue;
            }
        };
        if let Some(rejected) = sigma::compile(&documents, Mapping::shared_bundled())
            .rejected
            .first()
        {
            failed += 1;
            eprintln!(
                "error: {}: the Sigma written will not run: {}",
                path.display(),
                rejected.reason
            );
            continue;
        }
        for note in &result.notes {
            eprintln!("note: {}: {note}", path.display());
        }
        match &args.out {
            Some(out) => {
                std::fs::create_dir_all(out)
                    .with_context(|| format!("creating {}", out.display()))?;
                let file = out.join(&target);
                std::fs::write(&file, &result.text)
                    .with_context(|| format!("writing {}", file.display()))?;
            }
            None => {
                if exported > 0 {
                    println!("---");
                }
                println!("# from {}", path.display());
                print!("{}", result.text);
            }
        }
        exported += 1;
    }
    eprintln!("exported {exported} rule(s); {refused} have no Sigma form; {failed} failed");
    Ok(if failed > 0 {
        Outcome::Failures
    } else {
        Outcome::Clean
    })
}
