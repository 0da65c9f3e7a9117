//! PostgreSQL, for teams that outgrow one machine: the same statements, with `?` placeholders
//! numbered for PostgreSQL, in the schema the connection names (`secops` unless told otherwise).

use postgres::types::{to_sql_checked, IsNull, ToSql, Type};
use postgres::{Client, NoTls};

use crate::backend::{Backend, Dialect, Row, Tx, Value};
use crate::StoreError;

pub struct Postgres {
    client: Client,
    /// Statements prepared on this connection, by their text: a statement costs one round trip
    /// instead of two after its first use.
    prepared: std::collections::HashMap<String, postgres::Statement>,
}

impl std::fmt::Debug for Postgres {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Postgres").finish_non_exhaustive()
    }
}

/// The advisory lock that serializes creating schemas (another number than the writers' lock).
const SCHEMA_LOCK: i64 = 7_362_528;

impl Postgres {
    /// Connects to `url` (`postgres://user@host:port/database`) and works in `schema`, creating it
    /// when missing.
    pub fn connect(url: &str, schema: &str) -> Result<Postgres, StoreError> {
        let open_error = |message: String| StoreError::Open {
            target: redact(url),
            message,
        };
        if schema.is_empty()
            || !schema
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        {
            return Err(open_error(format!(
                "schema {schema:?}: use lowercase letters, digits and _"
            )));
        }
        let mut client =
            Client::connect(url, NoTls).map_err(|e| open_error(database_message(&e)))?;
        // The name was checked above: only [a-z0-9_] reaches this statement. Two first uses at once
        // would race in CREATE SCHEMA IF NOT EXISTS (a duplicate key in the catalogue): the session
        // lock makes them take turns (an error drops the connection, and the lock with it).
        // Each statement is its own transaction, so the schema is committed before the lock is let go.
        for statement in [
            format!("SELECT pg_advisory_lock({SCHEMA_LOCK})"),
            format!("CREATE SCHEMA IF NOT EXISTS {schema}"),
            format!("SELECT pg_advisory_unlock({SCHEMA_LOCK})"),
            format!("SET search_path TO {schema}"),
            // Statements are prepared once per connection and run many times; a generic plan
            // PostgreSQL settles on after five runs is costed with the statistics of that moment,
            // and an import that starts on an empty table kept a sequential scan for every later
            // batch (100,000 new findings: 87 s, each identity lookup slower than the last). A
            // plan for each run's own values costs a fraction of a millisecond.
            "SET plan_cache_mode = force_custom_plan".to_string(),
        ] {
            client
                .batch_execute(&statement)
                .map_err(|e| open_error(database_message(&e)))?;
        }
        Ok(Postgres {
            client,
            prepared: std::collections::HashMap::new(),
        })
    }
}

/// The URL without its password, for messages.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let credentials = &url[scheme + 3..at];
            match credentials.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme + 3], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

impl Backend for Postgres {
    fn dialect(&self) -> Dialect {
        Dialect::Postgres
    }

    fn transaction(
        &mut self,
        exclusive: bool,
        work: &mut dyn FnMut(&mut dyn Tx) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let Postgres { client, prepared } = self;
        let mut tx = client.transaction().map_err(sql_error)?;
        if exclusive {
            // One writer at a time for read-then-write work, as SQLite's BEGIN IMMEDIATE gives.
            tx.execute("SELECT pg_advisory_xact_lock(7362527)", &[])
                .map_err(sql_error)?;
        }
        let mut wrapper = PostgresTx { tx, prepared };
        work(&mut wrapper)?;
        wrapper.tx.commit().map_err(sql_error)
    }
}

struct PostgresTx<'c> {
    tx: postgres::Transaction<'c>,
    prepared: &'c mut std::collections::HashMap<String, postgres::Statement>,
}

impl PostgresTx<'_> {
    /// The statement for `sql` (`?` placeholders), prepared once per connection.
    fn statement(&mut self, sql: &str) -> Result<postgres::Statement, StoreError> {
        if let Some(statement) = self.prepared.get(sql) {
            return Ok(statement.clone());
        }
        let statement = self.tx.prepare(&numbered(sql)).map_err(sql_error)?;
        self.prepared.insert(sql.to_string(), statement.clone());
        Ok(statement)
    }
}

impl Tx for PostgresTx<'_> {
    fn execute(&mut self, sql: &str, params: &[Value]) -> Result<u64, StoreError> {
        let statement = self.statement(sql)?;
        let params: Vec<Param<'_>> = params.iter().map(Param).collect();
        let refs: Vec<&(dyn ToSql + Sync)> = params.iter().map(|p| p as _).collect();
        self.tx.execute(&statement, &refs).map_err(sql_error)
    }

    fn query(&mut self, sql: &str, params: &[Value]) -> Result<Vec<Row>, StoreError> {
        let statement = self.statement(sql)?;
        let params: Vec<Param<'_>> = params.iter().map(Param).collect();
        let refs: Vec<&(dyn ToSql + Sync)> = params.iter().map(|p| p as _).collect();
        let rows = self.tx.query(&statement, &refs).map_err(sql_error)?;
        rows.iter()
            .map(|row| {
                (0..row.len())
                    .map(|i| {
                        let ty = row.columns()[i].type_().clone();
                        let value = if ty == Type::INT8 {
                            row.try_get::<_, Option<i64>>(i).map(|v| v.map(Value::Int))
                        } else if ty == Type::INT4 {
                            row.try_get::<_, Option<i32>>(i)
                                .map(|v| v.map(|v| Value::Int(v.into())))
                        } else if ty == Type::BYTEA {
                            row.try_get::<_, Option<Vec<u8>>>(i)
                                .map(|v| v.map(Value::Bytes))
                        } else if ty == Type::FLOAT8 {
                            row.try_get::<_, Option<f64>>(i)
                                .map(|v| v.map(Value::Float))
                        } else {
                            row.try_get::<_, Option<String>>(i)
                                .map(|v| v.map(Value::Text))
                        };
                        value.map(|v| v.unwrap_or(Value::Null)).map_err(sql_error)
                    })
                    .collect::<Result<Vec<_>, _>>()
                    .map(Row)
            })
            .collect()
    }
}

/// `?` placeholders as `$1`, `$2`, ... (outside quoted text).
fn numbered(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len() + 8);
    let mut n = 0;
    let mut quoted = false;
    for c in sql.chars() {
        match c {
            '\'' => {
                quoted = !quoted;
                out.push(c);
            }
            '?' if !quoted => {
                n += 1;
                out.push('$');
                out.push_str(&n.to_string());
            }
            c => out.push(c),
        }
    }
    out
}

#[derive(Debug)]
struct Param<'a>(&'a Value);

impl ToSql for Param<'_> {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut postgres::types::private::BytesMut,
    ) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        match self.0 {
            Value::Null => Ok(IsNull::Yes),
            Value::Int(v) if *ty == Type::INT4 => i32::try_from(*v)?.to_sql(ty, out),
            Value::Int(v) => v.to_sql(ty, out),
            Value::Float(v) => v.to_sql(ty, out),
            Value::Text(v) => v.as_str().to_sql(ty, out),
            Value::Bytes(v) => v.as_slice().to_sql(ty, out),
        }
    }

    fn accepts(ty: &Type) -> bool {
        [
            Type::INT8,
            Type::INT4,
            Type::FLOAT8,
            Type::TEXT,
            Type::VARCHAR,
            Type::BYTEA,
        ]
        .contains(ty)
    }

    to_sql_checked!();
}

fn sql_error(e: postgres::Error) -> StoreError {
    StoreError::Database(database_message(&e))
}

/// The server's own message (`db error` alone says nothing), never a whole statement.
fn database_message(e: &postgres::Error) -> String {
    crate::bounded(match e.as_db_error() {
        Some(db) => format!("{}: {}", db.code().code(), db.message()),
        None => e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_numbered_outside_quotes() {
        assert_eq!(
            numbered("SELECT a FROM t WHERE b = ? AND c = '?' AND d = ?"),
            "SELECT a FROM t WHERE b = $1 AND c = '?' AND d = $2"
        );
    }

    #[test]
    fn passwords_stay_out_of_messages() {
        assert_eq!(
            redact("postgres://secops:hunter2@db:5432/x"),
            "postgres://secops:***@db:5432/x"
        );
        assert_eq!(redact("postgres://u@h/x"), "postgres://u@h/x");
    }
}
