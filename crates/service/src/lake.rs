//! Logs into the event lake: inputs read in parallel, every event written once into its day and
//! source partition (`secops ingest LOGS --lake DIR`). Rejected records are counted in the inputs'
//! summaries, as `ingest` counts them; a lake that cannot be written stops the run with the file.

use std::path::Path;

use secops_event::Event;
use secops_ingest::parallel::{read_all, Consumer, Order};
use secops_ingest::{IngestError, Input, Options, Summary};
use secops_lake::{LakeWriter, WriteStats};

use crate::{Cancel, Progress, ServiceError};

/// What a run into the lake did.
#[derive(Debug)]
pub struct LakeIngest {
    /// By input index, each input's summary (or why it could not be read).
    pub summaries: Vec<(usize, Result<Summary, IngestError>)>,
    pub stats: WriteStats,
    /// The run was asked to stop: events read after that were not written.
    pub cancelled: bool,
}

struct Writer<'p> {
    lake: LakeWriter,
    failed: Option<secops_lake::LakeError>,
    summaries: Vec<(usize, Result<Summary, IngestError>)>,
    progress: &'p dyn Progress,
    cancel: &'p Cancel,
}

impl Consumer<Event> for Writer<'_> {
    fn record(&mut self, _index: usize, event: Event) {
        if self.failed.is_some() || self.cancel.is_cancelled() {
            return;
        }
        if let Err(e) = self.lake.write(&event) {
            self.failed = Some(e);
            self.cancel.cancel();
        }
    }

    fn done(&mut self, index: usize, summary: Result<Summary, IngestError>) {
        self.progress.advance();
        self.summaries.push((index, summary));
    }
}

/// Reads `inputs` and writes their events into the lake at `lake`.
pub fn ingest(
    inputs: &[Input],
    options: &Options,
    threads: usize,
    lake: &Path,
    progress: &dyn Progress,
    cancel: &Cancel,
) -> Result<LakeIngest, ServiceError> {
    let mut writer = Writer {
        lake: LakeWriter::new(lake)?,
        failed: None,
        summaries: Vec::new(),
        progress,
        cancel,
    };
    progress.start(inputs.len() as u64);
    read_all(
        inputs,
        options,
        Order::Completion,
        threads,
        |record| record.ok(),
        &mut writer,
    );
    progress.finish();
    if let Some(e) = writer.failed {
        return Err(e.into());
    }
    let stats = writer.lake.finish()?;
    writer.summaries.sort_by_key(|(i, _)| *i);
    Ok(LakeIngest {
        summaries: writer.summaries,
        stats,
        cancelled: cancel.is_cancelled(),
    })
}

/// Merges each partition's small files (see [`secops_lake::compact`]).
pub fn compact(lake: &Path) -> Result<secops_lake::CompactStats, ServiceError> {
    Ok(secops_lake::compact(lake)?)
}

/// Removes the days that ended more than `older_than` (nanoseconds) before `now`: a day goes when
/// all of it is older (with 30 days on 2026-12-04, days up to 2026-11-03 go).
pub fn prune(
    lake: &Path,
    older_than: i64,
    now: secops_event::Timestamp,
) -> Result<secops_lake::PruneStats, ServiceError> {
    if older_than <= 0 {
        return Err(ServiceError::invalid(
            "--older-than",
            "a retention age is more than nothing",
        ));
    }
    let cutoff =
        secops_event::Timestamp::from_unix_nanos(now.unix_nanos().saturating_sub(older_than));
    let before: String = cutoff.to_rfc3339().chars().take(10).collect();
    Ok(secops_lake::prune(lake, &before)?)
}
