//! The detection engine: checked rules ([`secops_rules::CheckedRule`]) are compiled once into matchers and
//! per-type state ([`CompiledRule`]), routed by log source, and run over normalized events, producing
//! [`Alert`]s.
//!
//! Data flow: `matcher.rs` compiles conditions (KQL semantics, wildcard `glob.rs`, CIDR), `logsource.rs`
//! decides which events a rule sees, `exceptions.rs` drops excepted events, `threshold.rs` keeps windowed
//! counts, `sequence.rs` EQL sequences, `new_terms.rs` first-seen values, `anomaly.rs` per-entity rate
//! baselines, `threat_match.rs` indicator matching; `rule.rs` ties them together with alert suppression,
//! and `engine.rs` runs all rules.
//! Detection engineering over this engine (rule tests, validation, Sigma conversion) is `secops-lab`'s.

mod alert;
mod anomaly;
mod engine;
mod exceptions;
mod glob;
mod logsource;
pub mod matcher;
mod new_terms;
mod rule;
mod sequence;
pub mod sigma;
mod threat_match;
mod threshold;

pub use alert::{Alert, Enrichment, RuleInfo, MAX_EVENTS, MAX_PROVENANCE};
pub use engine::{feed, Engine, EngineSelector};
pub use logsource::LogSourceFilter;
pub use rule::{CompiledRule, RuleStats, Runtime, Selection, Selector};
pub use secops_rules::Duration;
pub use threat_match::IndicatorSet;

/// Why a rule could not be compiled.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CompileError {
    #[error("rule {rule}: {what} cannot run yet")]
    Unsupported { rule: String, what: String },
    #[error("exception {0}")]
    Exception(String),
    #[error("query: {0}")]
    Query(String),
}
