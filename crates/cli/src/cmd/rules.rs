//! `secops rules list`: the loaded rules with type, severity, ATT&CK ids and (for Sigma) authors;
//! `--rejected` lists the rule files that will not run, each with the reason.

use std::sync::Arc;

use secops_detect::RuleInfo;

use crate::{ruleset, Outcome};

#[derive(Debug, clap::Subcommand)]
pub enum Rules {
    /// List the rules that would run.
    List(ListArgs),
}

#[derive(Debug, clap::Args)]
pub struct ListArgs {
    #[command(flatten)]
    rules: ruleset::RuleArgs,
    /// List the rejected rule files and why, instead of the loaded rules.
    #[arg(long)]
    rejected: bool,
}

pub fn run(command: Rules) -> anyhow::Result<Outcome> {
    let Rules::List(args) = command;
    let loaded = ruleset::load(&args.rules)?;
    if args.rejected {
        for rejection in &loaded.rejected {
            println!("{rejection}");
        }
    } else {
        println!(
            "{:<36}  {:<12} {:<8} {:<22} NAME",
            "ID", "TYPE", "SEVERITY", "ATT&CK"
        );
        let mut infos: Vec<Arc<RuleInfo>> = Vec::new();
        infos.extend(
            loaded
                .native
                .iter()
                .map(|rule| Arc::new(RuleInfo::of_rule(&rule.file.rule))),
        );
        infos.extend(loaded.sigma.rules.iter().cloned());
        infos.extend(loaded.sigma.correlations.iter().map(|c| c.info.clone()));
        for info in &infos {
            let severity = format!("{:?}", info.severity).to_lowercase();
            println!(
                "{:<36}  {:<12} {:<8} {:<22} {}",
                info.id,
                info.rule_type.as_str(),
                severity,
                info.techniques().join(","),
                info.name
            );
        }
    }
    eprintln!(
        "{} rules loaded, {} rejected, {} left out by --status/--level/--tag ({:.2} s)",
        loaded.rule_count(),
        loaded.rejected.len(),
        loaded.filtered,
        loaded.load_seconds
    );
    Ok(if loaded.rejected.is_empty() {
        Outcome::Clean
    } else {
        Outcome::Rejections
    })
}
