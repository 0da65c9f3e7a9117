//! `secops rules list`: the loaded rules with type, severity and ATT&CK ids.

use std::path::PathBuf;

use crate::{ruleset, Outcome};

#[derive(Debug, clap::Subcommand)]
pub enum Rules {
    /// List the rules that would run.
    List(ListArgs),
}

#[derive(Debug, clap::Args)]
pub struct ListArgs {
    /// Rule folders (default: the bundled pack).
    #[arg(long = "rules")]
    dirs: Vec<PathBuf>,
}

pub fn run(command: Rules) -> anyhow::Result<Outcome> {
    let Rules::List(args) = command;
    let (rules, errors) = ruleset::load(&args.dirs);
    println!(
        "{:<36}  {:<12} {:<8} {:<22} NAME",
        "ID", "TYPE", "SEVERITY", "ATT&CK"
    );
    for rule in &rules {
        let r = &rule.file.rule;
        let attack: Vec<&str> = r
            .threat
            .iter()
            .flat_map(|t| &t.technique)
            .flat_map(|t| {
                std::iter::once(t.id.as_str()).chain(t.subtechnique.iter().map(|s| s.id.as_str()))
            })
            .collect();
        let kind = r.rule_type.as_str();
        let severity = format!("{:?}", r.severity).to_lowercase();
        println!(
            "{:<36}  {:<12} {:<8} {:<22} {}",
            r.id,
            kind,
            severity,
            attack.join(","),
            r.name
        );
    }
    for error in &errors {
        eprintln!("error: {error}");
    }
    eprintln!("{} rules loaded, {} failed", rules.len(), errors.len());
    Ok(if errors.is_empty() {
        Outcome::Clean
    } else {
        Outcome::Rejections
    })
}
