//! One file per subcommand.

pub mod bench;
pub mod coverage;
pub mod detect;
pub mod formats;
pub mod ingest;
pub mod rules;
