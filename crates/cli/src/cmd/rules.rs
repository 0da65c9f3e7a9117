//! `secops rules list`: the loaded rules with type, severity, ATT&CK ids and (for Sigma) authors;
//! `--rejected` lists the rule files that will not run, each with the reason.
//! `secops rules test`: every rule's embedded `[[test]]` cases, pass or fail, with expected against
//! actual alerts for each failure, ending with `N passed, N failed`.

use std::path::PathBuf;
use std::sync::Arc;

use secops_detect::testing::{run_tests, TestResult};
use secops_detect::RuleInfo;
use secops_event::Timestamp;

use crate::{ruleset, Outcome};

#[derive(Debug, clap::Subcommand)]
pub enum Rules {
    /// List the rules that would run.
    List(ListArgs),
    /// Run every rule's embedded [[test]] cases.
    Test(TestArgs),
}

#[derive(Debug, clap::Args)]
pub struct TestArgs {
    /// Rule folders or files (added to --rules; default: the bundled pack).
    paths: Vec<PathBuf>,
    #[command(flatten)]
    rules: ruleset::RuleArgs,
    /// Only rules or cases whose name contains this (case-insensitive).
    #[arg(long)]
    filter: Option<String>,
    /// The folder `corpus = "shared/..."` paths start from (default: the parent of the current folder).
    #[arg(long = "data-root", default_value = "..")]
    data_root: PathBuf,
    /// The evaluation time: exceptions that expired before it no longer apply (default: now).
    #[arg(long)]
    now: Option<String>,
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
    match command {
        Rules::List(args) => list(args),
        Rules::Test(args) => test(args),
    }
}

fn test(mut args: TestArgs) -> anyhow::Result<Outcome> {
    args.rules.rules.append(&mut args.paths);
    let loaded = ruleset::load(&args.rules)?;
    for rejection in &loaded.rejected {
        println!("ERROR {rejection}");
    }
    let now = match &args.now {
        Some(text) => {
            Timestamp::parse_rfc3339(text).map_err(|e| anyhow::anyhow!("--now {text:?}: {e}"))?
        }
        None => Timestamp::from_datetime(&chrono::Utc::now())
            .ok_or_else(|| anyhow::anyhow!("the clock is out of range"))?,
    };
    let filter = args.filter.as_deref().map(str::to_lowercase);
    let (mut passed, mut failed, mut skipped) = (0usize, 0usize, 0usize);
    for rule in &loaded.native {
        let name = &rule.file.rule.name;
        for outcome in run_tests(rule, &args.data_root, now) {
            if let Some(f) = &filter {
                if !name.to_lowercase().contains(f) && !outcome.test.to_lowercase().contains(f) {
                    continue;
                }
            }
            match &outcome.result {
                TestResult::Passed => {
                    passed += 1;
                    println!("ok    {name} / {}", outcome.test);
                }
                TestResult::Skipped(why) => {
                    skipped += 1;
                    println!("skip  {name} / {}: {why}", outcome.test);
                }
                TestResult::Failed(why) => {
                    failed += 1;
                    println!("FAIL  {name} / {}", outcome.test);
                    for line in why {
                        println!("      {line}");
                    }
                    if outcome.actual.is_empty() {
                        println!("      actual: no alerts");
                    } else {
                        println!("      actual: {} alert(s)", outcome.actual.len());
                        for line in outcome.actual.iter().take(10) {
                            println!("        {line}");
                        }
                    }
                }
            }
        }
    }
    if skipped > 0 {
        println!("{skipped} skipped (their data is not present)");
    }
    let rejected = loaded.rejected.len();
    if rejected > 0 {
        println!("{rejected} rule files did not load");
    }
    println!("{passed} passed, {failed} failed");
    Ok(if failed > 0 || rejected > 0 {
        Outcome::Failures
    } else {
        Outcome::Clean
    })
}

fn list(args: ListArgs) -> anyhow::Result<Outcome> {
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
