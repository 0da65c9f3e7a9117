//! `secops rules list`: the loaded rules with type, severity and ATT&CK ids; `--rejected` lists the rule
//! files that will not run, each with the reason.

use std::sync::Arc;

use secops_detect::RuleInfo;

use crate::output::safe;
use crate::Outcome;

#[derive(Debug, clap::Args)]
pub struct ListArgs {
    #[command(flatten)]
    rules: crate::args::RuleArgs,
    /// List the rejected rule files and why, instead of the loaded rules.
    #[arg(long)]
    rejected: bool,
}

pub fn run(args: ListArgs) -> anyhow::Result<Outcome> {
    let loaded = args.rules.load()?;
    if args.rejected {
        for rejection in &loaded.rejected {
            println!("{}", safe(&rejection.to_string()));
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
                .map(|rule| Arc::new(RuleInfo::of_rule(rule))),
        );
        infos.extend(loaded.sigma.rules.iter().cloned());
        infos.extend(loaded.sigma.correlations.iter().map(|c| c.info.clone()));
        for info in &infos {
            let severity = info.severity.as_str();
            println!(
                "{:<36}  {:<12} {:<8} {:<22} {}",
                safe(&info.id),
                info.rule_type.as_str(),
                severity,
                safe(&info.techniques().join(",")),
                safe(&info.name)
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
