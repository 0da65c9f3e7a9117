//! `secops rules ...`: the detection engineer's commands on rules, one file each: `list`, `test`,
//! `validate`, `fp`, `lock`, `new`, `stats`. The work is in `secops-lab` and `secops-rules`; these files
//! parse arguments and print.

mod fp;
mod list;
mod lock;
mod new;
mod stats;
mod test;
mod validate;

use std::path::{Path, PathBuf};

use secops_event::Timestamp;
use secops_lab::files::RuleFiles;
use secops_rules::lock::Lock;

use crate::Outcome;

pub use fp::FpArgs;
pub use list::ListArgs;
pub use lock::LockArgs;
pub use new::NewArgs;
pub use stats::StatsArgs;
pub use test::TestArgs;
pub use validate::ValidateArgs;

#[derive(Debug, clap::Subcommand)]
pub enum Rules {
    /// List the rules that would run.
    List(ListArgs),
    /// Run every rule's embedded `[[test]]` cases.
    Test(TestArgs),
    /// Check rule files as CI does: schema, ids and names, file names, dates, ATT&CK, exceptions, tests.
    Validate(ValidateArgs),
    /// Measure false positives: run the rules over benign logs and report alerts per rule per million
    /// events.
    Fp(FpArgs),
    /// Record each rule's hash in the version lock, bumping the version of changed rules.
    Lock(LockArgs),
    /// Write a new rule file: a fresh id, today's dates, the type's tables, and test stubs that fail
    /// until written.
    New(NewArgs),
    /// Tuning: alerts per rule over time, the noisiest rules, suggested exceptions, rules that never
    /// fired, from alerts written by `secops detect --output jsonl`.
    Stats(StatsArgs),
}

pub fn run(command: Rules) -> anyhow::Result<Outcome> {
    match command {
        Rules::List(args) => list::run(args),
        Rules::Test(args) => test::run(args),
        Rules::Validate(args) => validate::run(args),
        Rules::Fp(args) => fp::run(args),
        Rules::Lock(args) => lock::run(args),
        Rules::New(args) => new::run(args),
        Rules::Stats(args) => stats::run(args),
    }
}

/// Where the version lock lives, relative to the rules repository's root.
const DEFAULT_LOCK: &str = "etc/rules.lock.json";

/// `--now`, else the clock.
fn parse_now(text: Option<&str>) -> anyhow::Result<Timestamp> {
    match text {
        Some(text) => {
            Timestamp::parse_rfc3339(text).map_err(|e| anyhow::anyhow!("--now {text:?}: {e}"))
        }
        None => Ok(Timestamp::now()),
    }
}

/// The bundled pack without paths, else every rule file below them.
fn rule_files(paths: &[PathBuf]) -> anyhow::Result<RuleFiles> {
    if paths.is_empty() {
        return Ok(RuleFiles::from_texts(
            secops_service::ruleset::bundled_texts(),
        ));
    }
    Ok(RuleFiles::find(paths)?)
}

fn read_lock(path: &Path) -> anyhow::Result<Lock> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| anyhow::anyhow!("reading {}: {e}", path.display()))?;
    Lock::parse(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
}
