//! Writing events into the lake: each event goes to its partition (its day and its source, the event's
//! `event.dataset`), is kept once (an event whose id the partition already holds, from an earlier run
//! or earlier in this one, is counted and skipped), and leaves in Parquet files of rows sorted by time,
//! compressed with zstd. Memory is bounded: a partition is written out at [`ROWS_PER_FILE`] rows, and
//! when [`MAX_BUFFERED`] rows wait across partitions the largest is written out.

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::{ArrayRef, Int64Array, RecordBatch, StringArray, TimestampNanosecondArray};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::{ArrowWriter, ProjectionMask};
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;
use secops_event::{Event, Value};
use sha2::{Digest, Sha256};

use crate::schema::{arrow_schema, Type, COLUMNS, ID};
use crate::LakeError;

/// Rows a partition gathers before they are written as one file.
pub const ROWS_PER_FILE: usize = 262_144;
/// Rows waiting across all partitions before the largest is written out.
pub const MAX_BUFFERED: usize = 524_288;
/// Rows per Parquet row group (the unit files are pruned by).
const ROW_GROUP: usize = 65_536;

/// What a write did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WriteStats {
    /// Events written.
    pub written: u64,
    /// Events the lake already held (same id), not written again.
    pub duplicates: u64,
    /// Parquet files written.
    pub files: u64,
    /// Values kept in `_fields` because they did not fit their column's type.
    pub fallbacks: u64,
}

#[derive(Debug, Clone)]
enum Cell {
    Text(String),
    Int(i64),
}

#[derive(Debug)]
struct Row {
    time: Option<i64>,
    id: String,
    source: String,
    cells: Vec<Option<Cell>>,
    fields: String,
}

#[derive(Debug, Default)]
struct Partition {
    rows: Vec<Row>,
    /// Ids already in the partition's files or written in this run.
    ids: HashSet<String>,
}

/// Writes events into a lake folder.
#[derive(Debug)]
pub struct LakeWriter {
    root: PathBuf,
    partitions: HashMap<(String, String), Partition>,
    buffered: usize,
    stats: WriteStats,
    /// Files written by this writer, for unique names.
    sequence: u64,
}

/// The id of an event: a digest of the name of the file it was read from, where in it, and its
/// fields, so the same file read again (from anywhere) gives the same ids.
pub fn event_id(event: &Event) -> String {
    id_of(event, &event.to_json())
}

/// [`event_id`] from the event's fields already as JSON.
fn id_of(event: &Event, json: &serde_json::Value) -> String {
    let provenance = event.provenance();
    let name = Path::new(provenance.source.as_ref())
        .file_name()
        .map_or_else(
            || provenance.source.to_string(),
            |n| n.to_string_lossy().into_owned(),
        );
    let mut hash = Sha256::new();
    hash.update(name.as_bytes());
    hash.update([0]);
    hash.update(provenance.location.to_string().as_bytes());
    hash.update([0]);
    hash.update(json.to_string().as_bytes());
    let digest = hash.finalize();
    digest[..16].iter().map(|b| format!("{b:02x}")).collect()
}

/// The partition of an event: its UTC day (`unknown` without a time) and its source (the dataset,
/// reduced to letters, digits, `.`, `_` and `-`; `unknown` without one).
fn partition_of(event: &Event) -> (String, String) {
    let day = event
        .timestamp()
        .map(|t| t.to_rfc3339().chars().take(10).collect())
        .unwrap_or_else(|| "unknown".to_string());
    let source: String = event
        .get_str("event.dataset")
        .unwrap_or("unknown")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect();
    let source = if source.is_empty() || source.starts_with('.') {
        format!("_{source}")
    } else {
        source
    };
    (day, source)
}

/// A value as its column's type; `None` when it does not fit (it then stays in `_fields`).
fn cell(value: &Value, ty: Type) -> Option<Cell> {
    match (ty, value) {
        (Type::Text, Value::Str(s)) => Some(Cell::Text(s.to_string())),
        (Type::Text, Value::Ip(ip)) => Some(Cell::Text(ip.to_string())),
        (Type::Text, Value::Int(i)) => Some(Cell::Text(i.to_string())),
        (Type::Text, Value::Bool(b)) => Some(Cell::Text(b.to_string())),
        (Type::Integer, Value::Int(i)) => Some(Cell::Int(*i)),
        (Type::Integer, Value::Str(s)) => s.trim().parse().ok().map(Cell::Int),
        (Type::Integer, Value::Float(f)) if f.fract() == 0.0 && f.abs() < 9.0e15 => {
            Some(Cell::Int(*f as i64))
        }
        // A list of one is its value (ECS allows either for `event.category`).
        (_, Value::Array(items)) if items.len() == 1 => items.first().and_then(|v| cell(v, ty)),
        // Several values in a text column: their JSON array's text (`["process","network"]`),
        // which the hunt language reads back as a multi-value.
        (Type::Text, Value::Array(items))
            if items.len() > 1
                && items
                    .iter()
                    .all(|v| !matches!(v, Value::Array(_) | Value::Object(_))) =>
        {
            Some(Cell::Text(value.to_string()))
        }
        _ => None,
    }
}

impl LakeWriter {
    /// A writer into the lake at `root` (created when missing).
    pub fn new(root: &Path) -> Result<LakeWriter, LakeError> {
        std::fs::create_dir_all(root).map_err(|source| LakeError::Io {
            path: root.to_path_buf(),
            source,
        })?;
        Ok(LakeWriter {
            root: root.to_path_buf(),
            partitions: HashMap::new(),
            buffered: 0,
            stats: WriteStats::default(),
            sequence: 0,
        })
    }

    fn partition_dir(&self, (day, source): &(String, String)) -> PathBuf {
        self.root
            .join(format!("dt={day}"))
            .join(format!("source={source}"))
    }

    /// Adds one event (written out later, or at [`LakeWriter::finish`]).
    pub fn write(&mut self, event: &Event) -> Result<(), LakeError> {
        let key = partition_of(event);
        if !self.partitions.contains_key(&key) {
            let ids = read_ids(&self.partition_dir(&key))?;
            self.partitions.insert(
                key.clone(),
                Partition {
                    rows: Vec::new(),
                    ids,
                },
            );
        }
        // The fields as JSON once: the id digests them, and `_fields` keeps what no column takes.
        let mut rest = event.to_json();
        let id = id_of(event, &rest);
        let Some(partition) = self.partitions.get_mut(&key) else {
            return Ok(());
        };
        if !partition.ids.insert(id.clone()) {
            self.stats.duplicates += 1;
            return Ok(());
        }
        let mut cells = Vec::with_capacity(COLUMNS.len());
        for column in COLUMNS {
            if column.ty == Type::Time {
                cells.push(None);
                if let Some(map) = rest.as_object_mut() {
                    map.remove(column.name);
                }
                continue;
            }
            let value = event.get(column.name);
            let typed = value.and_then(|v| cell(v, column.ty));
            match (&typed, value) {
                (Some(_), _) => {
                    if let Some(map) = rest.as_object_mut() {
                        map.remove(column.name);
                    }
                }
                (None, Some(Value::Null) | None) => {}
                (None, Some(_)) => self.stats.fallbacks += 1,
            }
            cells.push(typed);
        }
        partition.rows.push(Row {
            time: event.timestamp().map(|t| t.unix_nanos()),
            id,
            source: event.provenance().to_string(),
            cells,
            fields: rest.to_string(),
        });
        self.buffered += 1;
        if partition.rows.len() >= ROWS_PER_FILE {
            self.flush(&key)?;
        } else if self.buffered >= MAX_BUFFERED {
            let largest = self
                .partitions
                .iter()
                .max_by_key(|(_, p)| p.rows.len())
                .map(|(k, _)| k.clone());
            if let Some(largest) = largest {
                self.flush(&largest)?;
            }
        }
        Ok(())
    }

    /// Writes out everything still waiting; returns what the writer did.
    pub fn finish(mut self) -> Result<WriteStats, LakeError> {
        let keys: Vec<(String, String)> = self.partitions.keys().cloned().collect();
        for key in keys {
            self.flush(&key)?;
        }
        Ok(self.stats)
    }

    /// Writes a partition's waiting rows as one file, sorted by time (stable: a file's order kept
    /// among equal times), through a temporary name so a reader never sees half a file.
    fn flush(&mut self, key: &(String, String)) -> Result<(), LakeError> {
        let dir = self.partition_dir(key);
        let Some(partition) = self.partitions.get_mut(key) else {
            return Ok(());
        };
        if partition.rows.is_empty() {
            return Ok(());
        }
        let mut rows = std::mem::take(&mut partition.rows);
        self.buffered -= rows.len();
        rows.sort_by_key(|r| r.time.unwrap_or(i64::MIN));
        std::fs::create_dir_all(&dir).map_err(|source| LakeError::Io {
            path: dir.clone(),
            source,
        })?;
        self.sequence += 1;
        let name = format!(
            "part-{}-{}-{}.parquet",
            rows.first().and_then(|r| r.time).unwrap_or(0),
            rows.first().map_or("", |r| &r.id[..8.min(r.id.len())]),
            self.sequence
        );
        let batch = batch(&rows)?;
        write_batch(&dir, &name, &batch)?;
        self.stats.written += rows.len() as u64;
        self.stats.files += 1;
        Ok(())
    }
}

/// Writes `batch` as the Parquet file `name` in `dir`, through a temporary name so that a reader never
/// sees half a file.
pub(crate) fn write_batch(dir: &Path, name: &str, batch: &RecordBatch) -> Result<(), LakeError> {
    let path = dir.join(name);
    let temporary = dir.join(format!(".{name}.tmp"));
    let file = File::create(&temporary).map_err(|source| LakeError::Io {
        path: temporary.clone(),
        source,
    })?;
    let properties = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::default()))
        .set_max_row_group_row_count(Some(ROW_GROUP))
        .build();
    let parquet = |source| LakeError::Parquet {
        path: temporary.clone(),
        source,
    };
    let mut writer =
        ArrowWriter::try_new(file, batch.schema(), Some(properties)).map_err(parquet)?;
    writer.write(batch).map_err(parquet)?;
    writer.close().map_err(parquet)?;
    std::fs::rename(&temporary, &path).map_err(|source| LakeError::Io { path, source })
}

/// The rows as one Arrow batch of the lake's schema.
fn batch(rows: &[Row]) -> Result<RecordBatch, LakeError> {
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(COLUMNS.len() + 3);
    for (n, column) in COLUMNS.iter().enumerate() {
        let array: ArrayRef = match column.ty {
            Type::Time => Arc::new(
                TimestampNanosecondArray::from(rows.iter().map(|r| r.time).collect::<Vec<_>>())
                    .with_timezone("UTC"),
            ),
            Type::Integer => Arc::new(Int64Array::from(
                rows.iter()
                    .map(|r| match r.cells.get(n) {
                        Some(Some(Cell::Int(i))) => Some(*i),
                        _ => None,
                    })
                    .collect::<Vec<_>>(),
            )),
            Type::Text | Type::Boolean => Arc::new(StringArray::from(
                rows.iter()
                    .map(|r| match r.cells.get(n) {
                        Some(Some(Cell::Text(t))) => Some(t.as_str()),
                        _ => None,
                    })
                    .collect::<Vec<_>>(),
            )),
        };
        columns.push(array);
    }
    columns.push(Arc::new(StringArray::from(
        rows.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(),
    )));
    columns.push(Arc::new(StringArray::from(
        rows.iter().map(|r| r.source.as_str()).collect::<Vec<_>>(),
    )));
    columns.push(Arc::new(StringArray::from(
        rows.iter().map(|r| r.fields.as_str()).collect::<Vec<_>>(),
    )));
    RecordBatch::try_new(arrow_schema(), columns).map_err(LakeError::Arrow)
}

/// The ids a partition's files hold (none when it has no files yet).
fn read_ids(dir: &Path) -> Result<HashSet<String>, LakeError> {
    let mut ids = HashSet::new();
    for path in crate::partition_files(dir)? {
        let open = |source| LakeError::Io {
            path: path.clone(),
            source,
        };
        let parquet = |source| LakeError::Parquet {
            path: path.clone(),
            source,
        };
        let file = File::open(&path).map_err(open)?;
        let builder = ParquetRecordBatchReaderBuilder::try_new(file).map_err(parquet)?;
        let mask = ProjectionMask::columns(builder.parquet_schema(), [ID]);
        let reader = builder.with_projection(mask).build().map_err(parquet)?;
        for batch in reader {
            let batch = batch.map_err(LakeError::Arrow)?;
            if let Some(column) = batch
                .column_by_name(ID)
                .and_then(|c| c.as_any().downcast_ref::<StringArray>())
            {
                ids.extend(column.iter().flatten().map(str::to_string));
            }
        }
    }
    Ok(ids)
}
