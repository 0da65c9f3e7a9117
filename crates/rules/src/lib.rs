//! Rule syntax, with no knowledge of events or of the engine: the TOML rule format ([`RuleFile`]), the
//! KQL subset ([`kql`]), the condition AST they produce ([`Expr`]), and durations. Every error carries its
//! location: a [`QueryError`] its span in the query, a [`RuleError`] the file, key and line.
//!
//! ```
//! use secops_rules::{kql, Expr};
//! let expr = kql::parse("event.category:authentication and event.outcome:failure").unwrap();
//! assert!(matches!(expr, Expr::And(ref items) if items.len() == 2));
//! ```

mod duration;
pub mod eql;
mod error;
pub mod expr;
pub mod kql;
pub mod load;
pub mod lock;
pub mod naming;
mod rule;
pub mod sigma;
mod span;
pub mod template;

pub use duration::{Duration, DurationError, SIGMA_UNITS, UNITS};
pub use error::{QueryError, RuleError};
pub use expr::{CompareOp, Expr, Field, FieldFunction, Literal, Piece};
pub use rule::key_line;
pub use rule::{
    AlertAggregation, AlertSuppression, Anomaly, AnomalyMethod, AttackRef, Cardinality,
    CheckedRule, Coverage, ExceptionEntry, ExceptionItem, ExceptionType, Expectation,
    IndicatorOptions, Language, LogSource, Maturity, Metadata, MissingFields, NewTerms, RawInput,
    Rule, RuleFile, RuleTest, RuleType, Severity, Source, SuppressionDuration, SuppressionUnit,
    Technique, Threat, ThreatMapping, ThreatMappingEntry, Threshold, WindowMode,
};
pub use span::Span;
