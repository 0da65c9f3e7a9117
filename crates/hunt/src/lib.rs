//! Hunts over the event lake: a query of the hunt language (`secops-hunt-lang`) planned straight into
//! DataFusion (`plan.rs`), run over the lake's Parquet files with its partitions (`dt`, `source`) as
//! columns, and its rows written as they come (JSON lines, CSV) or as a table.
//!
//! DataFusion is the heaviest dependency of the project: only this crate uses it.

mod extract;
pub mod fields;
mod functions;
pub mod plan;
mod raw;
pub use raw::is_path as raw_path;
mod sequence;
mod stop;
pub mod tables;

use secops_lake::Lake;
use std::io::Write;
use std::sync::Arc;

use datafusion::arrow::datatypes::DataType;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::ListingOptions;
use datafusion::execution::memory_pool::FairSpillPool;
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::basic::{Compression, ZstdLevel};
use datafusion::parquet::file::properties::WriterProperties;
use datafusion::prelude::{SessionConfig, SessionContext};
use futures::StreamExt;

pub use plan::{Planned, Planning, Sets, EVENTS};
pub use tables::{Cell, ColumnType, Registered, Rows, TableInfo, TABLE_NAMES};

mod explain;
pub use explain::{explain, Explained};

/// Memory the engine may hold before it spills sorts, joins and aggregations to disk, unless
/// `SECOPS_HUNT_MEMORY_MB` says otherwise.
pub const MEMORY_LIMIT: usize = 256 * 1024 * 1024;

/// The engine's memory pool: [`MEMORY_LIMIT`], or `SECOPS_HUNT_MEMORY_MB` megabytes.
pub fn memory_limit() -> usize {
    std::env::var("SECOPS_HUNT_MEMORY_MB")
        .ok()
        .and_then(|v| v.trim().parse::<usize>().ok())
        .filter(|&mb| mb >= 16)
        .map_or(MEMORY_LIMIT, |mb| mb * 1024 * 1024)
}

/// Why a hunt could not run, and where.
#[derive(Debug, thiserror::Error)]
pub enum HuntError {
    /// The query does not parse (the message has line, column and stage).
    #[error("{0}")]
    Parse(String),
    #[error("line {line}, column {column} (stage {stage}, {command}): {message}")]
    Plan {
        message: String,
        line: usize,
        column: usize,
        stage: usize,
        command: String,
    },
    #[error("the lake {lake}: {message}")]
    Lake { lake: String, message: String },
    #[error("running the query: {0}")]
    Run(String),
    /// The query was stopped: cancelled, or past its time limit.
    #[error("the query stopped: {0}")]
    Stopped(String),
    #[error("writing the results: {0}")]
    Write(String),
}

/// How rows are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Output {
    /// A table for people (rows gathered first).
    Table,
    /// One JSON object per row, as rows come.
    Jsonl,
    /// CSV with a header, as rows come.
    Csv,
    /// One Parquet file (zstd), values exact (lists stay lists); written once the rows are in.
    Parquet,
}

/// What a run gave.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunStats {
    pub rows: u64,
    /// What reading raw sources met: unreadable files, records rejected (each with its place).
    pub notes: Vec<String>,
    /// Fields planned as null (`lenient`), each with its place.
    pub warnings: Vec<String>,
    /// The rows stopped at [`Limits::max_rows`] while the query had more.
    pub capped: bool,
}

/// What bounds a run besides memory.
#[derive(Debug, Clone, Default)]
pub struct Limits {
    /// At most this many rows are written; [`RunStats::capped`] says whether there were more.
    pub max_rows: Option<u64>,
    /// The query stops after this long ([`HuntError::Stopped`]); rows already written stay written.
    pub timeout: Option<std::time::Duration>,
    /// Set from any thread to stop the query ([`HuntError::Stopped`]).
    pub cancel: Option<Arc<std::sync::atomic::AtomicBool>>,
    /// The engine's memory before it spills (default [`memory_limit`]).
    pub memory: Option<usize>,
}

impl Limits {
    /// A watch on the limits, on a thread of its own: the engine's timers may not fire while every
    /// worker computes, and a stop must come through regardless. `None` without a timeout or a token.
    fn watch(&self) -> Option<Watch> {
        if self.timeout.is_none() && self.cancel.is_none() {
            return None;
        }
        let (stop, stopped) = tokio::sync::oneshot::channel::<String>();
        let over = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let deadline = self.timeout.map(|t| (std::time::Instant::now() + t, t));
        let cancel = self.cancel.clone();
        let ended = Arc::clone(&over);
        let watcher = std::thread::Builder::new()
            .name("hunt-limits".into())
            .spawn(move || loop {
                let relaxed = std::sync::atomic::Ordering::Relaxed;
                if ended.load(relaxed) {
                    return;
                }
                let reason = if cancel.as_ref().is_some_and(|c| c.load(relaxed)) {
                    Some("cancelled".to_string())
                } else {
                    deadline
                        .filter(|(at, _)| std::time::Instant::now() >= *at)
                        .map(|(_, t)| format!("past its time limit of {:.1} s", t.as_secs_f64()))
                };
                if let Some(reason) = reason {
                    let _ = stop.send(reason);
                    return;
                }
                std::thread::sleep(std::time::Duration::from_millis(20));
            });
        // A watch that could not start stops the run at once rather than let it run unbounded.
        Some(match watcher {
            Ok(_) => Watch { stopped, over },
            Err(e) => {
                let (stop, stopped) = tokio::sync::oneshot::channel::<String>();
                let _ = stop.send(format!("its limits could not be watched: {e}"));
                Watch { stopped, over }
            }
        })
    }
}

/// The receiving end of [`Limits::watch`]; the watching thread ends when this is dropped.
struct Watch {
    stopped: tokio::sync::oneshot::Receiver<String>,
    over: Arc<std::sync::atomic::AtomicBool>,
}

impl Drop for Watch {
    fn drop(&mut self) {
        self.over.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

/// Runs `text` over the lake at `lake`, writing its rows to `out` as they come (a table gathers
/// them first). The query runs on its own thread; batches reach this one through a small bounded
/// channel, so memory stays bounded while `out` is slow, and a failed write stops the query.
pub fn run(
    text: &str,
    lake: &Lake,
    planning: &Planning,
    output: Output,
    out: &mut dyn Write,
) -> Result<RunStats, HuntError> {
    run_over(text, Some(lake), planning, output, out)
}

/// [`run`], with the lake optional: a query whose every FROM names log files or folders (`FROM
/// "logs/Security.evtx"`) runs without one.
pub fn run_over(
    text: &str,
    lake: Option<&Lake>,
    planning: &Planning,
    output: Output,
    out: &mut dyn Write,
) -> Result<RunStats, HuntError> {
    run_with(text, lake, planning, &Limits::default(), output, out)
}

/// [`run_over`] within `limits`: a row cap (reported), a time limit, a cancel token, a memory pool.
pub fn run_with(
    text: &str,
    lake: Option<&Lake>,
    planning: &Planning,
    limits: &Limits,
    output: Output,
    out: &mut dyn Write,
) -> Result<RunStats, HuntError> {
    let (sender, batches) = std::sync::mpsc::sync_channel::<RecordBatch>(2);
    std::thread::scope(|scope| {
        let worker = std::thread::Builder::new()
            .name("hunt".into())
            .stack_size(PLANNING_STACK)
            .spawn_scoped(scope, move || {
                produce(text, lake, planning, limits, Sink::Rows(&sender))
            })
            .map_err(|e| HuntError::Run(format!("starting the query: {e}")))?;
        let written = write_batches(batches, output, limits.max_rows, out);
        let produced = worker
            .join()
            .map_err(|_| HuntError::Run("the query stopped unexpectedly".into()))?;
        // A write error ends the run; else the query's own error, if any.
        let (mut stats, table) = written?;
        let (notes, warnings) = produced?;
        stats.notes = notes;
        stats.warnings = warnings;
        if output == Output::Table {
            let text = datafusion::arrow::util::pretty::pretty_format_batches(&table)
                .map_err(|e| HuntError::Write(e.to_string()))?;
            writeln!(out, "{text}").map_err(|e| HuntError::Write(e.to_string()))?;
        }
        Ok(stats)
    })
}

/// Stack for planning: DataFusion's planner and optimizer recurse over the expression tree, and the
/// corpus has queries with CASEs of hundreds of arms.
const PLANNING_STACK: usize = 64 * 1024 * 1024;

/// Runs `work` on a thread with [`PLANNING_STACK`] of stack, whatever thread the caller is on.
fn with_stack<T: Send>(work: impl FnOnce() -> Result<T, HuntError> + Send) -> Result<T, HuntError> {
    std::thread::scope(|scope| {
        std::thread::Builder::new()
            .name("hunt".into())
            .stack_size(PLANNING_STACK)
            .spawn_scoped(scope, work)
            .map_err(|e| HuntError::Run(format!("starting the query: {e}")))?
            .join()
            .map_err(|_| HuntError::Run("the query stopped unexpectedly".into()))?
    })
}

/// Where a query's rows go.
enum Sink<'a> {
    /// To the writer, batch by batch.
    Rows(&'a std::sync::mpsc::SyncSender<RecordBatch>),
    /// Counted, and the plan's figures kept (EXPLAIN).
    Explain(&'a mut Option<Explained>),
}

/// Plans and executes the query, sending its batches until they end or the reader is gone.
/// Returns what reading raw sources met, and what lenient planning let through.
fn produce(
    text: &str,
    lake: Option<&Lake>,
    planning: &Planning,
    limits: &Limits,
    sink: Sink<'_>,
) -> Result<(Vec<String>, Vec<String>), HuntError> {
    let query = parsed(text, planning)?;
    let raw_paths = query.as_ref().map(raw_sources).unwrap_or_default();
    if lake.is_none() && raw_paths.is_empty() {
        return Err(HuntError::Run(
            "no lake to read: give --lake, or FROM log files or folders (a path with a /)".into(),
        ));
    }
    // Raw sources are read into a lake of their own for this query: the same rows as ingesting
    // them, in bounded memory; it is removed when the query ends.
    let mut notes = Vec::new();
    let mut raw_lakes = Vec::new();
    for path in &raw_paths {
        let dir = tempfile::Builder::new()
            .prefix("secops-hunt-")
            .tempdir()
            .map_err(|e| HuntError::Run(format!("a temporary lake for {path}: {e}")))?;
        notes.extend(raw::read_into(path, dir.path())?);
        raw_lakes.push((path.clone(), dir));
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_stack_size(PLANNING_STACK / 4)
        // A lake in a bucket is read over the network, with timeouts.
        .enable_all()
        .build()
        .map_err(|e| HuntError::Run(e.to_string()))?;
    // Planning (listing the lake included), then the query, run until they end or the limits stop
    // them.
    let planned = runtime.block_on(until_stopped(limits, async {
        let ctx = session(lake, limits.memory.unwrap_or_else(memory_limit)).await?;
        if let Some(registered) = &planning.tables {
            tables::register(&ctx, registered)?;
        }
        let mut raw = std::collections::HashMap::new();
        for (n, (path, dir)) in raw_lakes.iter().enumerate() {
            let name = format!("__raw{n}");
            register_lake(&ctx, &name, &Lake::folder(dir.path())).await?;
            let frame = ctx
                .table(name.as_str())
                .await
                .map_err(|e| HuntError::Run(e.to_string()))?;
            raw.insert(path.clone(), frame);
        }
        match &query {
            Some(query) => plan::plan(&ctx, text, query, planning, &raw).await,
            None => sql(&ctx, text).await,
        }
    }));
    let planned = match planned {
        Ok(planned) => planned,
        Err(e) => {
            runtime.shutdown_background();
            return Err(e);
        }
    };
    // The query runs as a task of its own: an operator may compute for a long time without giving
    // way (a join's output), and the stop must not wait for it. Stopped, the task is aborted and
    // the runtime left to wind down in the background.
    let frame = planned.frame;
    let stopping = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = Arc::clone(&stopping);
    let outcome = match sink {
        Sink::Rows(sender) => {
            // Batches come back through a channel of the runtime's own and go to the writer from
            // this thread, so the writer's channel closes when this returns, whatever the task.
            let (batches, mut received) = tokio::sync::mpsc::channel::<RecordBatch>(2);
            let task = runtime.spawn(async move {
                let (_, _, mut stream) = stop::execute(frame, &flag)
                    .await
                    .map_err(|e| HuntError::Run(plan::short(&e)))?;
                // The columns first, rows or none: a table or CSV without rows still has its
                // header, a Parquet file its schema.
                if batches
                    .send(RecordBatch::new_empty(stream.schema()))
                    .await
                    .is_err()
                {
                    return Ok(());
                }
                while let Some(batch) = stream.next().await {
                    let batch = batch.map_err(|e| HuntError::Run(plan::short(&e)))?;
                    if batches.send(batch).await.is_err() {
                        break;
                    }
                }
                Ok::<(), HuntError>(())
            });
            let abort = task.abort_handle();
            let outcome = runtime.block_on(until_stopped(limits, async {
                while let Some(batch) = received.recv().await {
                    if sender.send(batch).is_err() {
                        // The writer stopped (its error, or the row cap): so does the query.
                        break;
                    }
                }
                drop(received);
                ended(task).await
            }));
            (outcome.map(|()| None), abort)
        }
        Sink::Explain(slot) => {
            let task = runtime.spawn(async move { explain::measure(frame, &flag).await });
            let abort = task.abort_handle();
            let outcome = runtime.block_on(until_stopped(limits, ended(task)));
            (outcome.map(|explained| Some((slot, explained))), abort)
        }
    };
    // Stopped, the task is aborted and the runtime left to wind down in the background.
    let explained = match outcome {
        (Ok(explained), _) => explained,
        (Err(e), abort) => {
            // Every operator's next batch is an error from here, wherever the query computes.
            stopping.store(true, std::sync::atomic::Ordering::Relaxed);
            abort.abort();
            runtime.shutdown_background();
            return Err(e);
        }
    };
    if let Some((slot, explained)) = explained {
        *slot = Some(explained);
    }
    Ok((notes, planned.warnings))
}

/// The query of the hunt language, parsed; `None` for SQL (DataFusion parses it).
fn parsed(text: &str, planning: &Planning) -> Result<Option<secops_hunt_lang::Query>, HuntError> {
    if planning.sql {
        return Ok(None);
    }
    secops_hunt_lang::parse(text)
        .map(Some)
        .map_err(|e| HuntError::Parse(e.describe(text)))
}

/// Plain SQL over the `events` table, read-only: no DDL (`CREATE EXTERNAL TABLE` would read any
/// file), no DML (`COPY ... TO` would write one), no statements (`SET`).
async fn sql(ctx: &SessionContext, text: &str) -> Result<plan::Planned, HuntError> {
    let options = datafusion::execution::context::SQLOptions::new()
        .with_allow_ddl(false)
        .with_allow_dml(false)
        .with_allow_statements(false);
    let frame = ctx
        .sql_with_options(text, options)
        .await
        .map_err(|e| HuntError::Parse(format!("SQL: {}", plan::short(&e))))?;
    Ok(plan::Planned {
        frame,
        warnings: Vec::new(),
    })
}

/// What the query's task gave (a task that panicked or was aborted is an error).
async fn ended<T>(task: tokio::task::JoinHandle<Result<T, HuntError>>) -> Result<T, HuntError> {
    task.await
        .map_err(|e| HuntError::Run(format!("the query stopped unexpectedly: {e}")))?
}

/// `work`'s result, or [`HuntError::Stopped`] as soon as the limits say stop.
async fn until_stopped<T>(
    limits: &Limits,
    work: impl std::future::Future<Output = Result<T, HuntError>>,
) -> Result<T, HuntError> {
    let Some(mut watch) = limits.watch() else {
        return work.await;
    };
    let work = std::pin::pin!(work);
    match futures::future::select(work, &mut watch.stopped).await {
        futures::future::Either::Left((done, _)) => done,
        futures::future::Either::Right((Ok(reason), _)) => Err(HuntError::Stopped(reason)),
        futures::future::Either::Right((Err(_), _)) => {
            Err(HuntError::Stopped("its limits' watch ended".into()))
        }
    }
}

/// The FROM sources of a query (subqueries included) that name log files or folders.
fn raw_sources(query: &secops_hunt_lang::Query) -> Vec<String> {
    let mut out = Vec::new();
    query.visit_queries(&mut |q| {
        for stage in &q.stages {
            if let secops_hunt_lang::Command::From { sources, .. } = &stage.command {
                for s in sources {
                    if raw::is_path(s) && !out.contains(s) {
                        out.push(s.clone());
                    }
                }
            }
        }
    });
    out
}

/// Writes JSON lines and CSV as batches come; a table's batches are returned to print once the
/// query has ended well.
fn write_batches(
    batches: std::sync::mpsc::Receiver<RecordBatch>,
    output: Output,
    max_rows: Option<u64>,
    out: &mut dyn Write,
) -> Result<(RunStats, Vec<RecordBatch>), HuntError> {
    let mut stats = RunStats::default();
    let mut table = Vec::new();
    let mut first = true;
    let write_error = |e: &dyn std::fmt::Display| HuntError::Write(e.to_string());
    // Parquet gathers in a temporary file (its footer comes last), then goes out whole.
    let mut parquet: Option<ArrowWriter<std::fs::File>> = None;
    for batch in batches {
        // Past the cap: one more row is all it takes to know there were more.
        let batch = match max_rows {
            Some(max) if stats.rows >= max => {
                if batch.num_rows() > 0 {
                    stats.capped = true;
                    break;
                }
                continue;
            }
            Some(max) if stats.rows + batch.num_rows() as u64 > max => {
                stats.capped = true;
                batch.slice(0, usize::try_from(max - stats.rows).unwrap_or(0))
            }
            _ => batch,
        };
        stats.rows += batch.num_rows() as u64;
        if output == Output::Parquet {
            if parquet.is_none() {
                let file = tempfile::tempfile().map_err(|e| write_error(&e))?;
                let properties = WriterProperties::builder()
                    .set_compression(Compression::ZSTD(ZstdLevel::default()))
                    .build();
                parquet = Some(
                    ArrowWriter::try_new(file, batch.schema(), Some(properties))
                        .map_err(|e| write_error(&e))?,
                );
            }
            if let Some(writer) = parquet.as_mut() {
                writer.write(&batch).map_err(|e| write_error(&e))?;
            }
            continue;
        }
        let batch = if output == Output::Jsonl {
            batch
        } else {
            lists_as_text(&batch)?
        };
        match output {
            // Log text never reaches a terminal unescaped; JSON escapes control characters itself.
            Output::Table => table.push(escaped(&batch, |t| {
                secops_event::escape::terminal(t).into_owned()
            })?),
            Output::Jsonl => write_json(&batch, out)?,
            Output::Csv => {
                write_csv(&escaped(&batch, csv_text)?, first, out)?;
                first = false;
            }
            Output::Parquet => {}
        }
    }
    if let Some(mut writer) = parquet {
        use std::io::Seek;
        writer.finish().map_err(|e| write_error(&e))?;
        let file = writer.inner_mut();
        file.rewind().map_err(|e| write_error(&e))?;
        std::io::copy(file, out).map_err(|e| write_error(&e))?;
    }
    Ok((stats, table))
}

/// The batch with every list or struct column (STATS `values`, `mv_*` results) as text (`[a, b]`),
/// for CSV and tables; JSON keeps lists as arrays.
fn lists_as_text(batch: &RecordBatch) -> Result<RecordBatch, HuntError> {
    use datafusion::arrow::array::{Array, ArrayRef, StringBuilder};
    use datafusion::arrow::datatypes::{Field, Schema};
    use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
    let nested = |t: &DataType| {
        matches!(
            t,
            DataType::List(_)
                | DataType::LargeList(_)
                | DataType::FixedSizeList(..)
                | DataType::Struct(_)
        )
    };
    if !batch
        .schema()
        .fields()
        .iter()
        .any(|f| nested(f.data_type()))
    {
        return Ok(batch.clone());
    }
    let mut fields = Vec::new();
    let mut columns: Vec<ArrayRef> = Vec::new();
    for (field, column) in batch.schema().fields().iter().zip(batch.columns()) {
        if !nested(field.data_type()) {
            fields.push(field.as_ref().clone());
            columns.push(Arc::clone(column));
            continue;
        }
        let options = FormatOptions::default();
        let formatter = ArrayFormatter::try_new(column.as_ref(), &options)
            .map_err(|e| HuntError::Write(e.to_string()))?;
        let mut text = StringBuilder::new();
        for i in 0..column.len() {
            if column.is_null(i) {
                text.append_null();
            } else {
                text.append_value(formatter.value(i).to_string());
            }
        }
        fields.push(Field::new(field.name(), DataType::Utf8, true));
        columns.push(Arc::new(text.finish()));
    }
    RecordBatch::try_new(Arc::new(Schema::new(fields)), columns)
        .map_err(|e| HuntError::Write(e.to_string()))
}

/// Parses and plans `text` without data (an empty `events` table of the lake's columns): what
/// `hunt validate` checks. The first error is returned, with its place.
/// With `planning.lenient`, what was planned as null comes back.
pub fn validate(text: &str, planning: &Planning) -> Result<Vec<String>, HuntError> {
    with_stack(|| validate_here(text, planning))
}

fn validate_here(text: &str, planning: &Planning) -> Result<Vec<String>, HuntError> {
    let query = parsed(text, planning)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .map_err(|e| HuntError::Run(e.to_string()))?;
    runtime.block_on(async {
        let ctx = SessionContext::new();
        ctx.register_batch(EVENTS, RecordBatch::new_empty(table_schema()))
            .map_err(|e| HuntError::Run(e.to_string()))?;
        // The service's tables plan from their columns; nothing is read.
        if let Some(registered) = &planning.tables {
            tables::register(&ctx, registered)?;
        }
        let Some(query) = query else {
            return sql(&ctx, text).await.map(|planned| planned.warnings);
        };
        // Raw sources plan as the lake's schema without reading them.
        let events = ctx
            .table(EVENTS)
            .await
            .map_err(|e| HuntError::Run(e.to_string()))?;
        let raw = raw_sources(&query)
            .into_iter()
            .map(|p| (p, events.clone()))
            .collect();
        plan::plan(&ctx, text, &query, planning, &raw)
            .await
            .map(|planned| planned.warnings)
    })
}

/// A session over the lake: its files as the `events` table, partitions as `dt` and `source` (an
/// empty `events` table without a lake).
async fn session(lake: Option<&Lake>, memory: usize) -> Result<SessionContext, HuntError> {
    let runtime = RuntimeEnvBuilder::new()
        .with_memory_pool(Arc::new(FairSpillPool::new(memory)))
        .build_arc()
        .map_err(|e| HuntError::Run(e.to_string()))?;
    let mut config = SessionConfig::new().with_target_partitions(2);
    // What a sort keeps back for merging its spilled runs: a sixteenth of the pool (DataFusion's
    // 10 MB default would leave a small pool unable to merge what it spilled).
    config.options_mut().execution.sort_spill_reservation_bytes = (memory / 16).max(1 << 20);
    let ctx = SessionContext::new_with_config_rt(config, runtime);
    match lake {
        Some(lake) => register_lake(&ctx, EVENTS, lake).await?,
        None => {
            ctx.register_batch(EVENTS, RecordBatch::new_empty(table_schema()))
                .map_err(|e| HuntError::Run(e.to_string()))?;
        }
    }
    Ok(ctx)
}

/// The lake's columns and its partition columns: what a lake table reads as.
fn table_schema() -> Arc<datafusion::arrow::datatypes::Schema> {
    let mut fields: Vec<datafusion::arrow::datatypes::Field> = secops_lake::schema::arrow_schema()
        .fields()
        .iter()
        .map(|f| f.as_ref().clone())
        .collect();
    for partition in ["dt", "source"] {
        fields.push(datafusion::arrow::datatypes::Field::new(
            partition,
            DataType::Utf8,
            true,
        ));
    }
    Arc::new(datafusion::arrow::datatypes::Schema::new(fields))
}

/// Registers `lake` as the table `name` (a bucket's store registered with the session first).
async fn register_lake(ctx: &SessionContext, name: &str, lake: &Lake) -> Result<(), HuntError> {
    let lake_error = |message: String| HuntError::Lake {
        lake: lake.to_string(),
        message,
    };
    let url = match (lake.folder_path(), lake.object_store()) {
        (Some(dir), _) => {
            let root = std::fs::canonicalize(dir).map_err(|e| lake_error(e.to_string()))?;
            format!("file://{}/", root.display())
        }
        (None, Some((base, store, url))) => {
            let base = url::Url::parse(&base).map_err(|e| lake_error(e.to_string()))?;
            ctx.register_object_store(&base, store);
            url
        }
        (None, None) => return Err(lake_error("neither a folder nor a bucket".into())),
    };
    let options = ListingOptions::new(Arc::new(ParquetFormat::default()))
        .with_file_extension(".parquet")
        .with_table_partition_cols(vec![
            ("dt".to_string(), DataType::Utf8),
            ("source".to_string(), DataType::Utf8),
        ]);
    ctx.register_listing_table(
        name,
        &url,
        options,
        Some(secops_lake::schema::arrow_schema()),
        None,
    )
    .await
    .map_err(|e| lake_error(e.to_string()))
}

/// A CSV cell's text: shown safely on a terminal, and never read as a formula by a spreadsheet (a
/// leading `=`, `+`, `-`, `@` gets a `'`).
fn csv_text(text: &str) -> String {
    let shown = secops_event::escape::terminal(text);
    if shown.starts_with(['=', '+', '-', '@']) {
        format!("'{shown}")
    } else {
        shown.into_owned()
    }
}

/// The batch with every text column's values passed through `show`.
fn escaped(batch: &RecordBatch, show: impl Fn(&str) -> String) -> Result<RecordBatch, HuntError> {
    use datafusion::arrow::array::{Array, ArrayRef, StringArray};
    let columns: Vec<ArrayRef> = batch
        .columns()
        .iter()
        .map(
            |column| match column.as_any().downcast_ref::<StringArray>() {
                Some(text) => {
                    Arc::new(text.iter().map(|v| v.map(&show)).collect::<StringArray>()) as ArrayRef
                }
                None => Arc::clone(column),
            },
        )
        .collect();
    RecordBatch::try_new(batch.schema(), columns).map_err(|e| HuntError::Write(e.to_string()))
}

fn write_json(batch: &RecordBatch, out: &mut dyn Write) -> Result<(), HuntError> {
    // Every column in every row, null or not: a reader sees the same keys throughout.
    let mut writer = datafusion::arrow::json::WriterBuilder::new()
        .with_explicit_nulls(true)
        .build::<_, datafusion::arrow::json::writer::LineDelimited>(out);
    writer
        .write(batch)
        .and_then(|()| writer.finish())
        .map_err(|e| HuntError::Write(e.to_string()))
}

fn write_csv(batch: &RecordBatch, header: bool, out: &mut dyn Write) -> Result<(), HuntError> {
    let mut writer = datafusion::arrow::csv::WriterBuilder::new()
        .with_header(header)
        .build(out);
    writer
        .write(batch)
        .map_err(|e| HuntError::Write(e.to_string()))
}
