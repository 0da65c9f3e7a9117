//! The event lake: normalized events as Parquet files any Parquet engine reads (DataFusion, DuckDB,
//! Spark), partitioned Hive-style by UTC day and source (`dt=2026-12-01/source=windows.security/`),
//! each file sorted by time and compressed with zstd, each event once.
//!
//! Read in this order: `schema.rs` (the typed ECS columns, and `_id`, `_source`, `_fields` for the
//! rest), `write.rs` (the writer: partitions, ids, bounded memory, files written whole or not at all),
//! `maintain.rs` (small files merged, old days removed), `store.rs` (a folder or an S3-compatible
//! bucket: listing, reading, writing and removing files the same way for both).

pub mod events;
pub mod maintain;
pub mod schema;
pub mod store;
pub mod write;

use std::path::{Path, PathBuf};

pub use maintain::{compact, prune, CompactStats, PruneStats};
pub use store::{Lake, LakeFile};
pub use write::{event_id, prepare, LakeWriter, Prepared, WriteStats};

/// What went wrong, with the file.
#[derive(Debug, thiserror::Error)]
pub enum LakeError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {source}")]
    Parquet {
        path: PathBuf,
        source: parquet::errors::ParquetError,
    },
    /// The object store refused or failed a request.
    #[error("{location}: {message}")]
    Store { location: String, message: String },
    #[error("building a batch of rows: {0}")]
    Arrow(arrow_schema::ArrowError),
}

/// The entries of a folder (none when it does not exist), sorted.
fn entries(dir: &Path) -> Result<Vec<PathBuf>, LakeError> {
    let listing = match std::fs::read_dir(dir) {
        Ok(listing) => listing,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => {
            return Err(LakeError::Io {
                path: dir.to_path_buf(),
                source,
            })
        }
    };
    let mut paths: Vec<PathBuf> = listing.filter_map(|e| e.ok().map(|e| e.path())).collect();
    paths.sort();
    Ok(paths)
}

/// The Parquet files of one partition folder, in name order (none when it does not exist); files
/// being written (`.name.tmp`) are not among them.
pub fn partition_files(dir: &Path) -> Result<Vec<PathBuf>, LakeError> {
    Ok(entries(dir)?
        .into_iter()
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| is_lake_file(&n.to_string_lossy()))
        })
        .collect())
}

/// Whether a file name is one of the lake's files: Parquet, and not one being written (`.name.tmp`)
/// or hidden. The same rule in a folder and in a bucket.
pub(crate) fn is_lake_file(name: &str) -> bool {
    name.ends_with(".parquet") && !name.starts_with('.')
}

/// Every Parquet file of the lake folder at `root`, partition by partition.
pub fn lake_files(root: &Path) -> Result<Vec<PathBuf>, LakeError> {
    Ok(Lake::folder(root)
        .all_files()?
        .into_iter()
        .filter_map(|f| f.path().map(Path::to_path_buf))
        .collect())
}

/// The sub-folders of a folder, sorted.
pub(crate) fn sorted_dirs(dir: &Path) -> Result<Vec<PathBuf>, LakeError> {
    Ok(entries(dir)?.into_iter().filter(|p| p.is_dir()).collect())
}
