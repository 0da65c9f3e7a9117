//! The detection engine: checked rules ([`secops_rules::CheckedRule`]) are compiled once into matchers and
//! per-type state ([`CompiledRule`]), routed by log source, and run over normalized events, producing
//! [`Alert`]s.
//!
//! Data flow: `matcher.rs` compiles conditions (KQL semantics, wildcard `glob.rs`, CIDR), `logsource.rs`
//! decides which events a rule sees, `exceptions.rs` drops excepted events, `threshold.rs` keeps windowed
//! counts, `sequence.rs` EQL sequences, `new_terms.rs` first-seen values, `anomaly.rs` per-entity rate
//! baselines, `threat_match.rs` indicator matching; `rule.rs` ties them together with alert aggregation (`aggregation.rs`: what folds),
//! and `engine.rs` runs all rules.
//! Detection engineering over this engine (rule tests, validation, Sigma conversion) is `secops-lab`'s.

mod aggregation;
mod alert;
mod anomaly;
mod document;
mod engine;
mod entities;
mod exceptions;
mod glob;
mod logsource;
pub mod matcher;
mod new_terms;
mod placement;
mod rule;
mod sequence;
pub mod sigma;
mod snapshot;
mod threat_match;
mod threshold;

pub use aggregation::{AggregatePolicy, Aggregation, Declared, DEFAULT_ENTITY, DEFAULT_WINDOW};
pub use alert::{Alert, AlertSink, Enrichment, Raised, RuleInfo, MAX_EVENTS, MAX_PROVENANCE};
pub use engine::{
    correlation_reads_entities, feed, feed_masked, reads_entities, Engine, EngineSelector,
    ENTITY_FIELDS,
};
pub use logsource::{LogSourceFilter, SourceKeys};
pub use placement::{partition_of, Placement, RekeyKey};
pub use rule::{CompiledRule, RuleStats, Runtime, Selection, Selector};
pub use secops_rules::Duration;
pub use sequence::SequenceState;
pub use snapshot::{Restored, StateError, STATE_FORMAT};
pub use threat_match::IndicatorSet;
pub use threshold::Crossing;

/// Why a rule could not be compiled: one variant per cause. Engines report them with the rule's id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CompileError {
    /// The rule's type lacks the table it needs, or the rule has no condition this engine runs.
    #[error("rule {rule}: {what} cannot run yet")]
    Unsupported { rule: String, what: String },
    /// An exception item's `expire_time` is not an RFC 3339 time.
    #[error("exception {item:?}: expire_time: {reason}")]
    ExceptionExpiry { item: String, reason: String },
    /// An exception entry lacks what its type needs, or its type is not supported.
    #[error("exception {item:?}: entry on {field}: {reason}")]
    ExceptionEntry {
        item: String,
        field: String,
        reason: String,
    },
    /// A `cidrMatch` on a value that is not a CIDR block.
    #[error("query: cidrMatch: {0:?} is not a CIDR block")]
    Cidr(String),
    /// A `language = "sigma"` detection that cannot run here.
    #[error("query: sigma detection: {0}")]
    SigmaDetection(sigma::SigmaCompileError),
    /// A correlation names rules that are not loaded.
    #[error(
        "query: correlation: {} not a loaded rule (by id or name; correlations of correlations are Sigma-only)",
        .0.join(", ")
    )]
    UnknownReferences(Vec<String>),
    /// A correlation that cannot run.
    #[error("query: correlation: {0}")]
    Correlation(sigma::CorrelationError),
}
