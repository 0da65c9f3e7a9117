//! Keeping a lake in shape: small files of a partition merged into larger ones (each run of a writer
//! leaves a file per partition it touched, and many small files make every query open many), and
//! partitions past the retention age removed whole.
//!
//! Compaction never holds more than [`ROWS_PER_FILE`] rows: only files under [`SMALL_FILE`] rows are
//! merged, in groups whose rows together stay under that. The merged file is written through a
//! temporary name and renamed into place before the files it replaces are removed, so a reader sees
//! each event at least once at every moment; an event twice (a run stopped between the two steps)
//! is merged back into one by its `_id` the next time.

use std::collections::HashSet;

use arrow_array::{Array, RecordBatch, StringArray, TimestampNanosecondArray, UInt32Array};

use crate::schema::ID;
use crate::write::ROWS_PER_FILE;
use crate::{Lake, LakeError, LakeFile};

/// Files with fewer rows than this are merged by [`compact`].
pub const SMALL_FILE: u64 = 65_536;

/// What compaction did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CompactStats {
    pub partitions: u64,
    pub files_before: u64,
    pub files_after: u64,
    pub rows: u64,
    /// Rows dropped because another row of the partition had their `_id`.
    pub duplicates: u64,
}

/// What pruning removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PruneStats {
    /// The days removed (`2026-09-01`), oldest first.
    pub days: Vec<String>,
    pub files: u64,
    pub rows: u64,
}

/// Merges the small files of every partition of `lake`.
pub fn compact(lake: &Lake) -> Result<CompactStats, LakeError> {
    let mut stats = CompactStats::default();
    for day in lake.days()? {
        for source in lake.sources(&day)? {
            compact_partition(lake, &day, &source, &mut stats)?;
        }
    }
    Ok(stats)
}

fn compact_partition(
    lake: &Lake,
    day: &str,
    source: &str,
    stats: &mut CompactStats,
) -> Result<(), LakeError> {
    let files = lake.files(day, source)?;
    stats.partitions += 1;
    stats.files_before += files.len() as u64;
    // Groups of small files whose rows stay under one file's worth.
    let mut groups: Vec<(Vec<LakeFile>, u64)> = Vec::new();
    let mut kept = 0;
    for path in files {
        let rows = lake.rows(&path)?;
        stats.rows += rows;
        if rows >= SMALL_FILE {
            kept += 1;
            continue;
        }
        match groups.last_mut() {
            Some((group, total)) if *total + rows <= ROWS_PER_FILE as u64 => {
                group.push(path);
                *total += rows;
            }
            _ => groups.push((vec![path], rows)),
        }
    }
    stats.files_after += kept;
    for (group, _) in groups {
        if group.len() < 2 {
            stats.files_after += group.len() as u64;
            continue;
        }
        let mut batches = Vec::new();
        for file in &group {
            batches.extend(lake.read(file, None)?);
        }
        let Some(first) = batches.first() else {
            continue;
        };
        let schema = first.schema();
        let all =
            arrow_select::concat::concat_batches(&schema, &batches).map_err(LakeError::Arrow)?;
        // One row per id (the first), in time order (stable).
        let ids = all
            .column_by_name(ID)
            .and_then(|c| c.as_any().downcast_ref::<StringArray>());
        let times = all
            .column_by_name("@timestamp")
            .and_then(|c| c.as_any().downcast_ref::<TimestampNanosecondArray>());
        let mut seen = HashSet::new();
        let mut order: Vec<u32> = (0..all.num_rows() as u32)
            .filter(|&i| ids.is_none_or(|ids| seen.insert(ids.value(i as usize).to_string())))
            .collect();
        stats.duplicates += (all.num_rows() - order.len()) as u64;
        if let Some(times) = times {
            order.sort_by_key(|&i| {
                let i = i as usize;
                (!times.is_null(i)).then(|| times.value(i))
            });
        }
        let indices = UInt32Array::from(order);
        let columns = all
            .columns()
            .iter()
            .map(|c| arrow_select::take::take(c.as_ref(), &indices, None))
            .collect::<Result<Vec<_>, _>>()
            .map_err(LakeError::Arrow)?;
        let merged = RecordBatch::try_new(schema, columns).map_err(LakeError::Arrow)?;
        let name = group
            .first()
            .map(|f| f.name.replace("part-", "merged-"))
            .unwrap_or_else(|| "merged.parquet".into());
        lake.write(day, source, &name, &merged)?;
        // The merged file's name may be one of the group's (a merge of merges): keep it.
        let replaced: Vec<LakeFile> = group.into_iter().filter(|f| f.name != name).collect();
        lake.remove(&replaced)?;
        stats.files_after += 1;
    }
    Ok(())
}

/// Removes the days of `lake` before `before` (`YYYY-MM-DD`, UTC), whole; events without a time
/// (`dt=unknown`) are kept.
pub fn prune(lake: &Lake, before: &str) -> Result<PruneStats, LakeError> {
    let mut stats = PruneStats::default();
    for date in lake.days()? {
        let is_date = date.len() == 10 && date.chars().filter(|c| *c == '-').count() == 2;
        if !is_date || date.as_str() >= before {
            continue;
        }
        for source in lake.sources(&date)? {
            for file in lake.files(&date, &source)? {
                stats.rows += lake.rows(&file)?;
                stats.files += 1;
            }
        }
        lake.remove_day(&date)?;
        stats.days.push(date);
    }
    Ok(stats)
}
