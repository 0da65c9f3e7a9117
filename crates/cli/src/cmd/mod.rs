//! One file per subcommand.

pub mod bench;
pub mod formats;
pub mod ingest;
