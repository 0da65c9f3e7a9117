//! Checkpoints of a long-running detection process (`secops run`, migration 17): under the process's
//! name, its state (the rules' state and the input positions it covers, as bytes the caller makes) and a
//! sequence number, saved in the same transaction as the alerts and folds raised since the last one.
//! A process killed at any point restarts from a checkpoint whose alerts are all recorded and none of
//! whose later alerts are: none lost, none twice.

use crate::alerts::{fold_in, record_in};
use crate::backend::Value;
use crate::{AlertFold, NewAlert, Recorded, Store, StoreError};

/// Makes a checkpoint's bytes knowing what became of its alerts; an error refuses the commit.
pub type StateOf<'a> = dyn FnMut(&[Recorded]) -> Result<Vec<u8>, String> + 'a;

/// One saved checkpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    pub name: String,
    pub state: Vec<u8>,
    /// Counts the checkpoints saved under the name.
    pub sequence: i64,
    /// UTC nanoseconds.
    pub saved_at: i64,
}

impl Store {
    /// The newest checkpoint saved under `name`.
    pub fn checkpoint(&mut self, name: &str) -> Result<Option<Checkpoint>, StoreError> {
        self.transaction(false, |tx| {
            tx.query_one(
                "SELECT name, state, sequence, saved_at FROM live_checkpoints WHERE name = ?",
                &[Value::from(name)],
            )?
            .map(|row| {
                Ok(Checkpoint {
                    name: row.text(0)?,
                    state: row.bytes(1)?,
                    sequence: row.int(2)?,
                    saved_at: row.int(3)?,
                })
            })
            .transpose()
        })
    }

    /// Records `alerts`, folds `folds` into recorded ones, and replaces the checkpoint, all in one
    /// transaction; says what became of each alert. The checkpoint's sequence must follow the saved
    /// one (a second process under the same name is refused rather than let the two overwrite each
    /// other's positions).
    ///
    /// The checkpoint's state is `state` of what became of the alerts (the caller keeps the store ids
    /// of alerts still open for repeats in it); `checkpoint.state` is not used. `hook` runs after the
    /// writes, before the commit (fault injection for tests).
    pub fn commit_checkpoint(
        &mut self,
        alerts: &[NewAlert],
        folds: &[AlertFold],
        checkpoint: &Checkpoint,
        actor: &str,
        state: &mut StateOf<'_>,
        hook: Option<&dyn Fn()>,
    ) -> Result<Vec<Recorded>, StoreError> {
        let now = checkpoint.saved_at;
        self.transaction(true, |tx| {
            let saved = tx
                .query_one(
                    "SELECT sequence FROM live_checkpoints WHERE name = ?",
                    &[Value::from(checkpoint.name.as_str())],
                )?
                .map(|row| row.int(0))
                .transpose()?;
            if saved.unwrap_or(0) + 1 != checkpoint.sequence {
                return Err(StoreError::Invalid(format!(
                    "checkpoint {:?}: sequence {} follows {}, not the saved {}: is another process \
                     running under this name?",
                    checkpoint.name,
                    checkpoint.sequence,
                    checkpoint.sequence - 1,
                    saved.unwrap_or(0)
                )));
            }
            let recorded = record_in(tx, alerts, actor, now)?;
            fold_in(tx, folds, actor, now)?;
            let params = [
                Value::from(checkpoint.name.as_str()),
                Value::Bytes(state(&recorded).map_err(|e| {
                    StoreError::Invalid(format!("checkpoint {:?}: {e}", checkpoint.name))
                })?),
                Value::Int(checkpoint.sequence),
                Value::Int(now),
            ];
            tx.execute(
                "INSERT INTO live_checkpoints (name, state, sequence, saved_at) VALUES (?, ?, ?, ?) \
                 ON CONFLICT (name) DO UPDATE SET state = excluded.state, \
                 sequence = excluded.sequence, saved_at = excluded.saved_at",
                &params,
            )?;
            if let Some(hook) = hook {
                hook();
            }
            Ok(recorded)
        })
    }

    /// Forgets the checkpoint saved under `name` (the next run starts from the inputs' beginnings).
    pub fn drop_checkpoint(&mut self, name: &str) -> Result<bool, StoreError> {
        self.transaction(true, |tx| {
            tx.execute(
                "DELETE FROM live_checkpoints WHERE name = ?",
                &[Value::from(name)],
            )
            .map(|n| n > 0)
        })
    }
}
