//! Options several commands share, and how they become the service's requests.

use std::path::PathBuf;

use secops_service::intel::{JudgeSources, Judges};
use secops_service::ruleset::RuleSelection;

/// Rule selection options shared by `detect`, `rules`, `coverage`, `intel retro-hunt` and `bench`.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct RuleArgs {
    /// Rule folders or files: TOML rules and Sigma YAML (repeatable; default: the bundled pack).
    #[arg(long = "rules")]
    pub rules: Vec<PathBuf>,
    /// Sigma `expand` placeholders: a folder of NAME.txt files, one value per line (`#` comments).
    #[arg(long)]
    pub placeholders: Option<PathBuf>,
    /// A Sigma log-source mapping file (TOML, the shape of the bundled one); its entries come first.
    #[arg(long = "sigma-mapping")]
    pub sigma_mapping: Option<PathBuf>,
    /// Only Sigma rules of these statuses (comma-separated; default: all but deprecated).
    #[arg(long, value_delimiter = ',')]
    pub status: Vec<String>,
    /// Only Sigma rules of these levels (comma-separated: informational, low, medium, high, critical).
    #[arg(long, value_delimiter = ',')]
    pub level: Vec<String>,
    /// Only Sigma rules carrying one of these tags, or a tag starting with it (`attack.t1059`).
    #[arg(long = "tag")]
    pub tags: Vec<String>,
}

impl RuleArgs {
    pub fn selection(&self) -> RuleSelection {
        RuleSelection {
            rules: self.rules.clone(),
            placeholders: self.placeholders.clone(),
            sigma_mapping: self.sigma_mapping.clone(),
            status: self.status.clone(),
            level: self.level.clone(),
            tags: self.tags.clone(),
        }
    }

    /// Loads the rules these options name.
    pub fn load(&self) -> anyhow::Result<secops_service::ruleset::Loaded> {
        Ok(secops_service::ruleset::load(&self.selection())?)
    }
}

/// Warninglists and decay models, shared by `detect` and `intel`.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct JudgeArgs {
    /// MISP warninglists: a folder of `<name>/list.json` (default: $SECOPS_WARNINGLISTS). Values they
    /// cover are never indicators, at import and at match time.
    #[arg(long, global = true)]
    pub warninglists: Option<PathBuf>,
    /// MISP decaying models: a folder of model JSON files (default: $SECOPS_DECAY_MODELS; built-in
    /// defaults per kind otherwise).
    #[arg(long = "decay-models", global = true)]
    pub decay_models: Option<PathBuf>,
}

impl JudgeArgs {
    /// Loads the judges, from the options or the environment.
    pub fn load(&self) -> anyhow::Result<Judges> {
        Ok(Judges::load(&self.sources())?)
    }

    /// Where the judges come from: the options, else the environment.
    pub fn sources(&self) -> JudgeSources {
        let env = |name: &str| std::env::var_os(name).map(PathBuf::from);
        JudgeSources {
            warninglists: self
                .warninglists
                .clone()
                .or_else(|| env("SECOPS_WARNINGLISTS")),
            decay_models: self
                .decay_models
                .clone()
                .or_else(|| env("SECOPS_DECAY_MODELS")),
        }
    }
}

/// The clock an `--now` option gives (RFC 3339), else the system's: a command acting as of a
/// fixed time (`vuln`, `respond`).
pub fn clock(now: Option<&str>) -> anyhow::Result<Box<dyn secops_service::Clock>> {
    Ok(match now {
        Some(text) => Box::new(secops_service::FixedClock(
            secops_event::Timestamp::parse_rfc3339(text)
                .map_err(|e| anyhow::anyhow!("--now {text:?}: {e}"))?,
        )),
        None => Box::new(secops_service::SystemClock),
    })
}
