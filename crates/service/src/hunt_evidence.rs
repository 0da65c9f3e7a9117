//! A hunt's results as evidence on a case: the rows written to a file (CSV or Parquet) below the
//! evidence folder, its SHA-256 taken, and the case given the evidence (query, the `now` it ran with,
//! the span of days the lake held, the row count, the file) and a timeline entry, in one transaction.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use secops_event::Timestamp;
use secops_store::{EvidenceRecord, NewEvidence, NewTimelineEntry};
use sha2::{Digest, Sha256};

use crate::hunt::{HuntOptions, Output};
use crate::ServiceError;

/// The rows' file format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EvidenceFormat {
    Csv,
    Parquet,
}

impl EvidenceFormat {
    fn name(self) -> &'static str {
        match self {
            EvidenceFormat::Csv => "csv",
            EvidenceFormat::Parquet => "parquet",
        }
    }
}

/// What to attach and where.
#[derive(Debug, Clone)]
pub struct EvidenceRequest {
    /// The case's number.
    pub case: i64,
    /// The evidence's title (the hunt's name, or the query's first line).
    pub title: String,
    pub query: String,
    /// The lake (none when the query reads log files itself).
    pub lake: Option<String>,
    pub options: HuntOptions,
    pub format: EvidenceFormat,
    /// The evidence folder: the file goes in `case-<n>/` below it.
    pub dir: PathBuf,
    /// The technique the timeline entry names (the hunt's first).
    pub technique: Option<String>,
    pub actor: String,
}

/// Runs the query into the evidence file and records it on the case in `store`.
pub fn attach(
    request: &EvidenceRequest,
    store: &mut secops_store::Store,
) -> Result<EvidenceRecord, ServiceError> {
    // A case that does not exist is found before the query runs.
    store.case(request.case)?;
    let now = request.options.now.unwrap_or_else(Timestamp::now);
    let folder = request.dir.join(format!("case-{}", request.case));
    std::fs::create_dir_all(&folder).map_err(|source| ServiceError::Read {
        path: folder.clone(),
        source,
    })?;
    let stem = secops_rules::naming::snake_case(&request.title);
    let path = folder.join(format!(
        "{}-{}.{}",
        if stem.is_empty() { "hunt" } else { &stem },
        Timestamp::now().unix_nanos(),
        request.format.name()
    ));
    let write_error = |source| ServiceError::Read {
        path: path.clone(),
        source,
    };
    let file = std::fs::File::create_new(&path).map_err(write_error)?;
    let mut out = std::io::BufWriter::new(file);
    let output = match request.format {
        EvidenceFormat::Csv => Output::Csv,
        EvidenceFormat::Parquet => Output::Parquet,
    };
    let mut options = request.options.clone();
    options.now = Some(now);
    let stats = crate::hunt::run(
        &request.query,
        request.lake.as_deref(),
        &options,
        output,
        &mut out,
    )?;
    out.flush().map_err(write_error)?;
    drop(out);
    let sha256 = file_sha256(&path)?;
    let (data_from, data_to) = match &request.lake {
        Some(lake) => lake_span(lake)?,
        None => (None, None),
    };
    let shown = path.display().to_string();
    let evidence = NewEvidence {
        kind: "hunt".into(),
        title: request.title.clone(),
        query: request.query.clone(),
        data_from,
        data_to,
        query_now: now.unix_nanos(),
        rows: stats.rows,
        path: shown.clone(),
        format: request.format.name().into(),
        sha256: sha256.clone(),
    };
    let entry = NewTimelineEntry {
        at: now.unix_nanos(),
        title: format!("Hunt: {} ({} row(s))", request.title, stats.rows),
        body: format!(
            "{}\n\nRows: {shown} (SHA-256 {sha256}){}",
            request.query.trim(),
            if stats.capped { ", capped" } else { "" }
        ),
        source: "hunt".into(),
        tactic: None,
        technique: request.technique.clone(),
    };
    Ok(store.add_evidence(
        request.case,
        &evidence,
        &entry,
        &request.actor,
        Timestamp::now().unix_nanos(),
    )?)
}

/// The SHA-256 of a file, read in blocks.
pub fn file_sha256(path: &Path) -> Result<String, ServiceError> {
    let read_error = |source| ServiceError::Read {
        path: path.to_path_buf(),
        source,
    };
    let mut file = std::fs::File::open(path).map_err(read_error)?;
    let mut hash = Sha256::new();
    let mut block = vec![0u8; 64 * 1024];
    loop {
        let n = file.read(&mut block).map_err(read_error)?;
        if n == 0 {
            break;
        }
        hash.update(&block[..n]);
    }
    Ok(hash.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

/// The first day's start and the last day's end of the lake's partitions (days the lake could not
/// date are left out).
fn lake_span(lake: &str) -> Result<(Option<i64>, Option<i64>), ServiceError> {
    let days = secops_lake::Lake::open(lake)?.days()?;
    let start = |day: &str| Timestamp::parse_rfc3339(&format!("{day}T00:00:00Z")).ok();
    let dated: Vec<Timestamp> = days.iter().filter_map(|d| start(d)).collect();
    const DAY: i64 = 86_400 * 1_000_000_000;
    Ok((
        dated.first().map(|t| t.unix_nanos()),
        dated.last().map(|t| t.unix_nanos() + DAY),
    ))
}
