//! `secops sigma convert`: Sigma rules written as native TOML rules (`language = "sigma"`), each checked
//! by loading it back; SigmaHQ's regression sample, when the rule names one, comes along as a replay
//! case. `secops sigma export`: native rules written as Sigma YAML where their features allow, each
//! checked by loading it back as Sigma.

use std::path::PathBuf;

use anyhow::Context;
use secops_lab::conversion::{convert_file, FileOptions, Written};
use secops_lab::export::{self, ExportError};
use secops_rules::load::{files_with, load_text};

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
    let options = FileOptions {
        attack: attack.as_ref(),
        out: args.out.as_deref(),
        force: args.force,
        today: &today,
    };
    let mut converted = 0;
    for file in &files {
        let mut new_id = || uuid::Uuid::new_v4().to_string();
        match convert_file(file, &options, &mut new_id, &mut print_written) {
            Ok(written) => converted += written,
            Err(e) => {
                failed += 1;
                eprintln!("error: {}: {e}", file.display());
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

/// A converted rule's notes, then where it was written, or its text when it was not.
fn print_written(written: Written<'_>) {
    let rule = written.rule;
    for note in &rule.notes {
        eprintln!("note: {}: {note}", rule.file_name);
    }
    match written.path {
        Some(path) => eprintln!("wrote {}", path.display()),
        None => print!("{}", rule.text),
    }
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
        // It must load and run as Sigma here.
        let name = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| rule.file.rule.id.clone());
        let target = PathBuf::from(format!("{name}.yml"));
        let result = match export::to_sigma_checked(&rule, &target) {
            Ok(result) => result,
            Err(ExportError::NoSigmaForm(reason)) => {
                refused += 1;
                eprintln!("not exported: {}: {reason}", path.display());
                continue;
            }
            Err(e) => {
                failed += 1;
                eprintln!("error: {}: {e}", path.display());
                continue;
            }
        };
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
