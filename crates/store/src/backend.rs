//! What SQLite and PostgreSQL each provide: statements with `?` placeholders run inside a transaction,
//! over four value types. Everything the store does is written once over [`Backend`], so the two
//! databases behave alike by construction; the conformance suite (`tests/conformance.rs`) checks it.

use crate::StoreError;

/// A value as the store reads and writes it: integers (times as UTC nanoseconds, flags as 0 or 1),
/// floats, text (JSON documents too) and null.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Int(i64),
    Float(f64),
    Text(String),
    Bytes(Vec<u8>),
}

impl Value {
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Value::Int(i) => Some(*i),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Text(s) => Some(s),
            _ => None,
        }
    }
}

impl From<i64> for Value {
    fn from(v: i64) -> Self {
        Value::Int(v)
    }
}

impl From<&str> for Value {
    fn from(v: &str) -> Self {
        Value::Text(v.to_string())
    }
}

impl From<String> for Value {
    fn from(v: String) -> Self {
        Value::Text(v)
    }
}

impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(v: Option<T>) -> Self {
        v.map_or(Value::Null, Into::into)
    }
}

/// One result row, columns in the order the statement selected them.
#[derive(Debug, Clone, PartialEq)]
pub struct Row(pub Vec<Value>);

impl Row {
    /// The integer in column `i` (an error naming the column when it is something else).
    pub fn int(&self, i: usize) -> Result<i64, StoreError> {
        match self.0.get(i) {
            Some(Value::Int(v)) => Ok(*v),
            other => Err(StoreError::Corrupt(format!(
                "column {i}: expected an integer, found {other:?}"
            ))),
        }
    }

    pub fn opt_int(&self, i: usize) -> Result<Option<i64>, StoreError> {
        match self.0.get(i) {
            Some(Value::Null) => Ok(None),
            _ => self.int(i).map(Some),
        }
    }

    pub fn text(&self, i: usize) -> Result<String, StoreError> {
        match self.0.get(i) {
            Some(Value::Text(v)) => Ok(v.clone()),
            other => Err(StoreError::Corrupt(format!(
                "column {i}: expected text, found {other:?}"
            ))),
        }
    }

    pub fn bytes(&self, i: usize) -> Result<Vec<u8>, StoreError> {
        match self.0.get(i) {
            Some(Value::Bytes(v)) => Ok(v.clone()),
            other => Err(StoreError::Corrupt(format!(
                "column {i}: expected bytes, found {other:?}"
            ))),
        }
    }

    pub fn opt_text(&self, i: usize) -> Result<Option<String>, StoreError> {
        match self.0.get(i) {
            Some(Value::Null) => Ok(None),
            _ => self.text(i).map(Some),
        }
    }

    /// A float in column `i` (an integer is taken as one: SQLite stores whole REALs as such).
    pub fn float(&self, i: usize) -> Result<f64, StoreError> {
        match self.0.get(i) {
            Some(Value::Float(v)) => Ok(*v),
            Some(Value::Int(v)) => Ok(*v as f64),
            other => Err(StoreError::Corrupt(format!(
                "column {i}: expected a number, found {other:?}"
            ))),
        }
    }

    pub fn opt_float(&self, i: usize) -> Result<Option<f64>, StoreError> {
        match self.0.get(i) {
            Some(Value::Null) => Ok(None),
            _ => self.float(i).map(Some),
        }
    }
}

/// The SQL dialect, for the few statements that differ (identity columns).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

impl Dialect {
    /// Replaces `{id}` with the dialect's auto-numbered primary key column type, and `{bytes}` with
    /// its type for bytes.
    pub fn ddl(self, sql: &str) -> String {
        let (id, bytes) = match self {
            Dialect::Sqlite => ("INTEGER PRIMARY KEY AUTOINCREMENT", "BLOB"),
            Dialect::Postgres => ("BIGSERIAL PRIMARY KEY", "BYTEA"),
        };
        sql.replace("{id}", id).replace("{bytes}", bytes)
    }
}

/// Statements inside one transaction.
pub trait Tx {
    /// Runs a statement; returns the rows it changed.
    fn execute(&mut self, sql: &str, params: &[Value]) -> Result<u64, StoreError>;
    /// Runs a query; returns its rows.
    fn query(&mut self, sql: &str, params: &[Value]) -> Result<Vec<Row>, StoreError>;

    /// The first row of a query, if any.
    fn query_one(&mut self, sql: &str, params: &[Value]) -> Result<Option<Row>, StoreError> {
        Ok(self.query(sql, params)?.into_iter().next())
    }

    /// Notes a change the transaction made, for the one audit record the store writes before it
    /// commits (see [`crate::Auditor`]). A backend's own transaction ignores it.
    fn changed(&mut self, _change: Change) {}

    /// Whether [`Tx::changed`] is heard (an auditor is set): what only the audit record needs is
    /// looked up only then.
    fn recording(&self) -> bool {
        false
    }
}

/// A change to one thing, as the audit record of its transaction names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// What was changed: `alert`, `case`, `indicators`, `hunt`.
    pub object: &'static str,
    /// Which one: an alert's id, a case's number, a hunt's id.
    pub id: String,
    /// What happened to it: `created`, `closed`, `linked_to_case`.
    pub kind: String,
    /// When (UTC nanoseconds), as the change itself records it.
    pub at: i64,
    pub before: Option<String>,
    pub after: Option<String>,
}

/// A database connection.
pub trait Backend: Send {
    fn dialect(&self) -> Dialect;

    /// Runs `work` in one transaction: committed when it returns `Ok`, rolled back otherwise (and when
    /// the process dies before the commit, by the database itself). `exclusive` takes the write lock
    /// at the start (SQLite `BEGIN IMMEDIATE`), for work that reads and then writes.
    fn transaction(
        &mut self,
        exclusive: bool,
        work: &mut dyn FnMut(&mut dyn Tx) -> Result<(), StoreError>,
    ) -> Result<(), StoreError>;
}
