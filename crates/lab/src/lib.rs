//! Detection engineering over the engine: everything a detection engineer runs on rules rather than on
//! logs.
//!
//! In reading order: `testing.rs` runs a rule's embedded `[[test]]` cases (inline events, history,
//! indicators, raw lines through a parser, corpus files) and reports the alerts each raised;
//! `validate.rs` checks rule files as CI does (schema, names, dates, ATT&CK through `secops-attack`,
//! exceptions, the version lock and the maturity lifecycle, fields against sample logs, the tests);
//! `coverage.rs` gives the rules' ATT&CK claims and the rules sample logs cannot feed; `files.rs` finds
//! rule files, validates them (TOML and Sigma) and updates the version lock;
//! `tuning.rs` summarizes alerts already raised (volume over time, exceptions to consider, silent
//! rules); `convert.rs` writes a Sigma detection as a native TOML rule and `conversion.rs` does it for files
//! (checked, written, with regression samples); `export.rs` writes a native rule
//! as Sigma.

pub mod conversion;
pub mod convert;
pub mod coverage;
pub mod export;
pub mod files;
pub mod testing;
pub mod tuning;
pub mod validate;
