//! `secops rules test`: every rule's embedded `[[test]]` cases, pass or fail, with expected against
//! actual alerts for each failure, then the cases of the hunts beside the rules, ending with one
//! `N passed, N failed`.

use std::path::PathBuf;

use secops_lab::testing::{run_tests_in, TestResult};

use crate::Outcome;

#[derive(Debug, clap::Args)]
pub struct TestArgs {
    /// Rule folders or files (added to --rules; default: the bundled pack).
    paths: Vec<PathBuf>,
    #[command(flatten)]
    rules: crate::args::RuleArgs,
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

pub fn run(mut args: TestArgs) -> anyhow::Result<Outcome> {
    args.rules.rules.append(&mut args.paths);
    let loaded = args.rules.load()?;
    for rejection in &loaded.rejected {
        println!("ERROR {rejection}");
    }
    let now = super::parse_now(args.now.as_deref())?;
    let filter = args.filter.as_deref().map(str::to_lowercase);
    let (mut passed, mut failed, mut skipped) = (0usize, 0usize, 0usize);
    for rule in &loaded.native {
        let name = &rule.file.rule.name;
        for outcome in run_tests_in(rule, &loaded.native, &args.data_root, now) {
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
    // Hunts beside the rules (the bundled library with the bundled pack) are tested with them.
    let hunts = secops_service::hunt_library::Library::read(
        secops_service::hunt_library::find_texts(&args.rules.rules)?,
    );
    let tally = crate::cmd::hunt::test_hunts(&hunts, args.filter.as_deref(), &args.data_root);
    passed += tally.passed;
    failed += tally.failed + tally.unreadable;
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
