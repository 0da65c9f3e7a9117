//! Which store a command uses (`--db FILE`, `--database-url URL`, or the default `secops.db`), and who
//! the user is.

use std::path::PathBuf;

use anyhow::Context;
use secops_service::Actor;
use secops_store::{AuditKey, Auditor, Store};

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
    /// The audit key file every change is chained with (default: $SECOPS_AUDIT_KEY, else the
    /// SQLite store's path with `.audit-key` added, made on first use; a PostgreSQL store's must be
    /// named, the same file wherever the store is changed from).
    #[arg(long = "audit-key", global = true)]
    pub audit_key: Option<PathBuf>,
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

    /// Opens (and migrates) the store, creating it on first use: for commands that record. Every
    /// change is audited as the user acting ($SECOPS_USER, else $USER).
    pub fn open(&self) -> anyhow::Result<Store> {
        self.open_as(&actor(None))
    }

    /// Opens the store as [`StoreArgs::open`] does, auditing changes as `who`.
    pub fn open_as(&self, who: &Actor) -> anyhow::Result<Store> {
        let mut store = Store::open(&self.target()).context("opening the store")?;
        store.set_auditor(Some(Auditor {
            key: self.audit_key()?,
            actor: who.name.clone(),
            source: "cli".into(),
        }));
        Ok(store)
    }

    /// Where the audit key is: the option, the variable, or beside a SQLite store.
    pub fn key_path(&self) -> anyhow::Result<PathBuf> {
        if let Some(path) = &self.audit_key {
            return Ok(path.clone());
        }
        if let Some(path) = std::env::var_os("SECOPS_AUDIT_KEY") {
            return Ok(PathBuf::from(path));
        }
        let target = self.target();
        if secops_store::is_postgres(&target) {
            anyhow::bail!(
                "changes to a PostgreSQL store are audited: name its audit key with --audit-key or \
                 $SECOPS_AUDIT_KEY (the same file wherever the store is changed from)"
            );
        }
        Ok(PathBuf::from(format!("{target}.audit-key")))
    }

    /// The audit key, made on first use.
    pub fn audit_key(&self) -> anyhow::Result<AuditKey> {
        Ok(AuditKey::load_or_create(&self.key_path()?)?)
    }

    /// Opens a store that exists: for commands that only read.
    pub fn open_existing(&self) -> anyhow::Result<Store> {
        Store::open_existing(&self.target()).context("opening the store")
    }

    /// Opens a store that exists, its records audited as the user acting; `None` when there is no
    /// store to open (a SQLite file not made yet).
    pub fn open_existing_audited(&self) -> anyhow::Result<Option<Store>> {
        if !Store::exists(&self.target()) {
            return Ok(None);
        }
        let mut store = self.open_existing()?;
        store.set_auditor(Some(Auditor {
            key: self.audit_key()?,
            actor: actor(None).name,
            source: "cli".into(),
        }));
        Ok(Some(store))
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
