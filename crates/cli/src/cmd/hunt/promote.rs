//! `hunt promote`: a hunt turned into a rule, written, loaded back and its carried cases run.

use std::path::PathBuf;

use super::LibraryArgs;
use crate::output::safe;
use crate::Outcome;

#[derive(Debug, clap::Args)]
pub struct PromoteArgs {
    /// The hunt's id, file name (without `.toml`) or name.
    hunt: String,
    #[command(flatten)]
    library: LibraryArgs,
    /// Which of the hunt's queries (from 1).
    #[arg(long, default_value_t = 1)]
    number: usize,
    /// The rules folder the rule is written below, in its tactic's folder.
    #[arg(long, default_value = "rules")]
    to: PathBuf,
    /// A threshold rule's window when the hunt bounds no time range (default 1d).
    #[arg(long)]
    window: Option<String>,
    /// How far back a new_terms rule remembers when the hunt compares with all earlier events
    /// (default 365d).
    #[arg(long)]
    history: Option<String>,
    /// Print the rule instead of writing it.
    #[arg(long)]
    dry_run: bool,
    /// Replace a rule file already there.
    #[arg(long)]
    force: bool,
    /// The folder `corpus = "shared/..."` paths of carried cases start from.
    #[arg(long = "data-root", default_value = "..")]
    data_root: PathBuf,
    #[command(flatten)]
    attack: crate::cmd::coverage::AttackArgs,
}

/// `hunt promote`: the rule written (or printed), loaded back, its carried cases run.
pub fn promote(args: &PromoteArgs) -> anyhow::Result<Outcome> {
    let library = args.library.load()?;
    let entry = library.find(&args.hunt)?;
    let catalogue = match args.attack.path() {
        Some(_) => Some(args.attack.load()?),
        None => None,
    };
    let options = secops_service::hunt_promote::PromoteOptions {
        query: args
            .number
            .checked_sub(1)
            .ok_or_else(|| anyhow::anyhow!("--number counts from 1"))?,
        id: uuid::Uuid::new_v4().to_string(),
        today: chrono::Utc::now().format("%Y-%m-%d").to_string(),
        window: args.window.clone(),
        history: args.history.clone(),
        attack: catalogue.as_ref(),
    };
    let promoted = secops_service::hunt_promote::promote(entry, &options).map_err(|why| {
        anyhow::anyhow!(
            "the hunt {:?} does not become a rule: {}",
            entry.file.hunt.name,
            safe(&why)
        )
    })?;
    let path = args.to.join(&promoted.path);
    // The rule must load as written: a failure here is ours, not the hunt's.
    let rule = secops_rules::load::load_text(&path, &promoted.text)
        .map_err(|e| anyhow::anyhow!("the promoted rule does not load: {e}"))?;
    if args.dry_run {
        print!("{}", promoted.text);
    } else {
        if path.exists() && !args.force {
            anyhow::bail!(
                "{} exists (--force replaces it, --dry-run prints the rule)",
                path.display()
            );
        }
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(&path, &promoted.text)?;
        println!(
            "{} rule written to {} ({} case(s) carried from the hunt)",
            promoted.rule_type,
            safe(&path.display().to_string()),
            promoted.carried
        );
    }
    for note in &promoted.notes {
        println!("note: {}", safe(note));
    }
    let (mut passed, mut failed) = (0usize, 0usize);
    for outcome in
        secops_lab::testing::run_tests(&rule, &args.data_root, secops_event::Timestamp::now())
    {
        match &outcome.result {
            secops_lab::testing::TestResult::Passed => {
                passed += 1;
                println!("ok    {}", safe(&outcome.test));
            }
            secops_lab::testing::TestResult::Skipped(why) => {
                println!("skip  {}: {}", safe(&outcome.test), safe(why));
            }
            secops_lab::testing::TestResult::Failed(why) => {
                failed += 1;
                println!("FAIL  {}", safe(&outcome.test));
                for line in why.iter().chain(&outcome.actual) {
                    println!("      {}", safe(line));
                }
            }
        }
    }
    println!("{passed} passed, {failed} failed");
    Ok(if failed > 0 {
        Outcome::Failures
    } else {
        Outcome::Clean
    })
}
