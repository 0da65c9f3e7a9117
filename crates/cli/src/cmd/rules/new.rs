//! `secops rules new`: a new rule file from the template (`secops_rules::template`), with a fresh id and
//! today's dates, written where its tactic says.

use std::path::PathBuf;

use secops_rules::template::{scaffold, NewRule};

use crate::Outcome;

#[derive(Debug, clap::Args)]
pub struct NewArgs {
    /// The rule's name.
    #[arg(long)]
    name: String,
    /// query, eql, threshold, new_terms, anomaly or threat_match.
    #[arg(long = "type", default_value = "query")]
    rule_type: String,
    /// The primary ATT&CK tactic, by shortname (credential-access): the rule's folder and file prefix.
    #[arg(long)]
    tactic: Option<String>,
    /// The folder rules live in.
    #[arg(long, default_value = "rules")]
    dir: PathBuf,
    /// The log source's product (Sigma taxonomy).
    #[arg(long, default_value = "linux")]
    product: String,
    /// The log source's category.
    #[arg(long)]
    category: Option<String>,
    /// The log source's service.
    #[arg(long)]
    service: Option<String>,
}

pub fn run(args: NewArgs) -> anyhow::Result<Outcome> {
    let id = uuid::Uuid::new_v4().to_string();
    let today = chrono::Utc::now().format("%Y-%m-%d").to_string();
    let scaffold = scaffold(&NewRule {
        name: &args.name,
        rule_type: &args.rule_type,
        tactic: args.tactic.as_deref(),
        product: &args.product,
        category: args.category.as_deref(),
        service: args.service.as_deref(),
        id: &id,
        today: &today,
    })?;
    let path = args.dir.join(&scaffold.path);
    if path.exists() {
        anyhow::bail!("{} exists already", path.display());
    }
    // What is written must load.
    secops_rules::load::load_text(&path, &scaffold.text).map_err(|e| anyhow::anyhow!("{e}"))?;
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(&path, scaffold.text)
        .map_err(|e| anyhow::anyhow!("writing {}: {e}", path.display()))?;
    println!("{}", path.display());
    Ok(Outcome::Clean)
}
