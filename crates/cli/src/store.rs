//! Which store a command uses (`--db FILE`, `--database-url URL`, or the default `secops.db`), and who
//! the user is.

use std::path::PathBuf;

use anyhow::Context;
use secops_service::Actor;
use secops_store::Store;

/// The store options shared by `detect`, `alerts`, `case` and `rules stats`.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct StoreArgs {
    /// The SQLite store file, created on first use (default: $SECOPS_DB, else secops.db here).
    #[arg(long = "db", conflicts_with = "database_url", global = true)]
    pub db: Option<PathBuf>,
    /// A PostgreSQL store instead: postgres://user@host:port/database, optionally ending in
    /// ?schema=NAME (default schema: secops). Also $SECOPS_DATABASE_URL.
    #[arg(long = "database-url", global = true)]
    pub database_url: Option<String>,
}

impl StoreArgs {
    /// The store named: `--database-url`, `--db`, `$SECOPS_DATABASE_URL`, `$SECOPS_DB`, else `secops.db`.
    pub fn target(&self) -> String {
        match (&self.database_url, &self.db) {
            (Some(url), _) => url.clone(),
            (None, Some(path)) => path.display().to_string(),
            (None, None) => std::env::var("SECOPS_DATABASE_URL")
                .or_else(|_| std::env::var("SECOPS_DB"))
                .unwrap_or_else(|_| "secops.db".into()),
        }
    }

    /// Opens (and migrates) the store, creating it on first use: for commands that record.
    pub fn open(&self) -> anyhow::Result<Store> {
        Store::open(&self.target()).context("opening the store")
    }

    /// Opens a store that exists: for commands that only read.
    pub fn open_existing(&self) -> anyhow::Result<Store> {
        Store::open_existing(&self.target()).context("opening the store")
    }
}

/// The person acting: `--as`, else $SECOPS_USER, else $USER.
pub fn actor(given: Option<&str>) -> Actor {
    Actor::user(
        given
            .map(str::to_string)
            .or_else(|| std::env::var("SECOPS_USER").ok())
            .or_else(|| std::env::var("USER").ok())
            .filter(|s| !s.trim().is_empty())
            .unwrap_or_else(|| "cli".into()),
    )
}
