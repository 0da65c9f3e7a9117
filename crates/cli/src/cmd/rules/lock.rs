//! `secops rules lock`: each rule's hash recorded in the version lock, changed rules one version up.

use std::path::PathBuf;

use secops_lab::files::update_lock;
use secops_rules::lock::Lock;

use crate::Outcome;

#[derive(Debug, clap::Args)]
pub struct LockArgs {
    /// Rule folders or files (default: the bundled pack).
    paths: Vec<PathBuf>,
    /// The lock file to update.
    #[arg(long, default_value = super::DEFAULT_LOCK)]
    lock: PathBuf,
}

pub fn run(args: LockArgs) -> anyhow::Result<Outcome> {
    let files = super::rule_files(&args.paths)?;
    let mut lock = if args.lock.exists() {
        super::read_lock(&args.lock)?
    } else {
        Lock::default()
    };
    let changes = update_lock(&mut lock, &files)?;
    for change in &changes {
        println!("{change}");
    }
    if let Some(parent) = args.lock.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(&args.lock, lock.to_text())
        .map_err(|e| anyhow::anyhow!("writing {}: {e}", args.lock.display()))?;
    println!(
        "{}: {} rules locked, {} changed",
        args.lock.display(),
        lock.entries.len(),
        changes.len()
    );
    Ok(Outcome::Clean)
}
