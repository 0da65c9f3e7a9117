//! The embedded default: one SQLite file, created on first use, in WAL mode (readers never block the
//! writer), with full synchronous commits (a committed transaction survives a crash of the process or
//! the machine) and a busy timeout so that concurrent writers wait for each other instead of failing.

use std::path::Path;
use std::time::Duration;

use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::{Connection, TransactionBehavior};

use crate::backend::{Backend, Dialect, Row, Tx, Value};
use crate::StoreError;

/// How long a writer waits for another writer's transaction before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug)]
pub struct Sqlite {
    connection: Connection,
}

impl Sqlite {
    /// Opens the database file, creating it when missing; its folder must exist (a mistyped path does
    /// not grow folders).
    pub fn open(path: &Path) -> Result<Sqlite, StoreError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            if !dir.is_dir() {
                return Err(StoreError::Open {
                    target: path.display().to_string(),
                    message: format!("the folder {} does not exist", dir.display()),
                });
            }
        }
        let open_error = |e: rusqlite::Error| StoreError::Open {
            target: path.display().to_string(),
            message: e.to_string(),
        };
        let connection = Connection::open(path).map_err(open_error)?;
        connection.busy_timeout(BUSY_TIMEOUT).map_err(open_error)?;
        // A large transaction (an import's batch: ~10 MB of pages) held in the page cache until it
        // commits, rather than spilled to the WAL half-way and written again (SQLite's default cache
        // is 2 MB): a fresh import of 100,000 findings 4.3 s instead of 4.9 s. At most 32 MiB of
        // cache per connection. Temporary files stay files (an in-memory `temp_store` measured no
        // faster, and would hold a large sort in memory).
        connection
            .execute_batch("PRAGMA cache_size = -32768;")
            .map_err(open_error)?;
        // The import's statements (lookups and multi-row inserts of several sizes) all stay prepared.
        connection.set_prepared_statement_cache_capacity(64);
        // Switching a new file to WAL needs it to itself, and SQLite answers "locked" at once rather
        // than wait when another process is doing the same: first uses at once take turns here.
        let started = std::time::Instant::now();
        let mut pause = Duration::from_millis(5);
        loop {
            match connection.execute_batch(
                "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;",
            ) {
                Ok(()) => break,
                Err(e) if busy(&e) && started.elapsed() < BUSY_TIMEOUT => {
                    std::thread::sleep(pause);
                    pause = (pause * 2).min(Duration::from_millis(250));
                }
                Err(e) => return Err(open_error(e)),
            }
        }
        Ok(Sqlite { connection })
    }
}

impl Backend for Sqlite {
    fn dialect(&self) -> Dialect {
        Dialect::Sqlite
    }

    fn transaction(
        &mut self,
        exclusive: bool,
        work: &mut dyn FnMut(&mut dyn Tx) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let behavior = if exclusive {
            TransactionBehavior::Immediate
        } else {
            TransactionBehavior::Deferred
        };
        let tx = self
            .connection
            .transaction_with_behavior(behavior)
            .map_err(sql_error)?;
        let mut wrapper = SqliteTx { tx };
        work(&mut wrapper)?;
        wrapper.tx.commit().map_err(sql_error)
    }
}

struct SqliteTx<'c> {
    tx: rusqlite::Transaction<'c>,
}

impl Tx for SqliteTx<'_> {
    fn execute(&mut self, sql: &str, params: &[Value]) -> Result<u64, StoreError> {
        let mut statement = self.tx.prepare_cached(sql).map_err(sql_error)?;
        let changed = statement
            .execute(rusqlite::params_from_iter(params.iter().map(Param)))
            .map_err(sql_error)?;
        Ok(changed as u64)
    }

    fn query(&mut self, sql: &str, params: &[Value]) -> Result<Vec<Row>, StoreError> {
        let mut statement = self.tx.prepare_cached(sql).map_err(sql_error)?;
        let columns = statement.column_count();
        let mut rows = statement
            .query(rusqlite::params_from_iter(params.iter().map(Param)))
            .map_err(sql_error)?;
        let mut out = Vec::new();
        while let Some(row) = rows.next().map_err(sql_error)? {
            let mut values = Vec::with_capacity(columns);
            for i in 0..columns {
                values.push(match row.get_ref(i).map_err(sql_error)? {
                    ValueRef::Null => Value::Null,
                    ValueRef::Integer(v) => Value::Int(v),
                    ValueRef::Real(v) => Value::Float(v),
                    ValueRef::Text(v) => Value::Text(String::from_utf8_lossy(v).into_owned()),
                    ValueRef::Blob(v) => Value::Bytes(v.to_vec()),
                });
            }
            out.push(Row(values));
        }
        Ok(out)
    }
}

struct Param<'a>(&'a Value);

impl rusqlite::ToSql for Param<'_> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(match self.0 {
            Value::Null => ToSqlOutput::Owned(rusqlite::types::Value::Null),
            Value::Int(v) => ToSqlOutput::Owned(rusqlite::types::Value::Integer(*v)),
            Value::Float(v) => ToSqlOutput::Owned(rusqlite::types::Value::Real(*v)),
            Value::Text(v) => ToSqlOutput::Borrowed(ValueRef::Text(v.as_bytes())),
            Value::Bytes(v) => ToSqlOutput::Borrowed(ValueRef::Blob(v)),
        })
    }
}

/// SQLite's "busy" or "locked": another connection holds what this one needs, for now.
fn busy(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
    )
}

fn sql_error(e: rusqlite::Error) -> StoreError {
    // An input error quotes the whole statement: the message and the offset say enough.
    let message = match &e {
        rusqlite::Error::SqlInputError { msg, offset, .. } => format!("{msg} (at {offset})"),
        other => other.to_string(),
    };
    StoreError::Database(crate::bounded(message))
}
