//! Writing events into the lake: each event goes to its partition (its day and its source, the event's
//! `event.dataset`), is kept once (an event whose id the partition already holds, from an earlier run
//! or earlier in this one, is counted and skipped), and leaves in Parquet files of rows sorted by time,
//! compressed with zstd. Memory is bounded: waiting rows are kept column by column (Arrow builders,
//! about the size of the data), a partition is written out at [`ROWS_PER_FILE`] rows, when
//! [`MAX_BUFFERED`] rows wait across partitions the largest is written out, and the ids of idle
//! partitions are let go past [`MAX_IDS`] (read back from their files if they are written to again).

use std::io::Write as _;
use std::path::Path;
use std::sync::Arc;

use arrow_array::builder::{Int64Builder, StringBuilder, TimestampNanosecondBuilder};
use arrow_array::{ArrayRef, RecordBatch, StringArray, UInt32Array};
use rustc_hash::{FxHashMap as HashMap, FxHashSet as HashSet};
use secops_event::{Event, Value};
use sha2::{Digest, Sha256};

use crate::schema::{arrow_schema, Type, COLUMNS, ID};
use crate::{Lake, LakeError};

/// Rows a partition gathers before they are written as one file.
pub const ROWS_PER_FILE: usize = 262_144;
/// Rows waiting across all partitions before the largest is written out.
pub const MAX_BUFFERED: usize = 524_288;
/// Event ids held across partitions (16 bytes each, about 32 MB per million with the set's overhead)
/// before idle partitions' ids are let go.
pub const MAX_IDS: usize = 4_194_304;

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
pub(crate) enum Cell {
    Text(String),
    Int(i64),
}

/// One typed column's waiting values.
#[derive(Debug)]
enum Builder {
    Text(StringBuilder),
    Int(Int64Builder),
    Time(TimestampNanosecondBuilder),
}

/// A partition's waiting rows, column by column.
#[derive(Debug)]
struct Pending {
    /// Each row's time, for sorting at flush.
    times: Vec<Option<i64>>,
    columns: Vec<Builder>,
    ids: StringBuilder,
    sources: StringBuilder,
    fields: StringBuilder,
}

impl Pending {
    fn new() -> Pending {
        Pending {
            times: Vec::new(),
            columns: COLUMNS
                .iter()
                .map(|c| match c.ty {
                    Type::Time => {
                        Builder::Time(TimestampNanosecondBuilder::new().with_timezone("UTC"))
                    }
                    Type::Integer => Builder::Int(Int64Builder::new()),
                    Type::Text | Type::Boolean => Builder::Text(StringBuilder::new()),
                })
                .collect(),
            ids: StringBuilder::new(),
            sources: StringBuilder::new(),
            fields: StringBuilder::new(),
        }
    }

    fn len(&self) -> usize {
        self.times.len()
    }
}

#[derive(Debug)]
struct Partition {
    rows: Pending,
    /// Ids already in the partition's files or written in this run (`None`: let go; read again
    /// from the files when needed).
    ids: Option<HashSet<u128>>,
}

/// Writes events into a lake folder.
#[derive(Debug)]
pub struct LakeWriter {
    lake: Lake,
    partitions: HashMap<(String, String), Partition>,
    buffered: usize,
    /// Ids held across partitions' sets.
    ids_held: usize,
    stats: WriteStats,
    /// Files written by this writer, for unique names.
    sequence: u64,
}

/// An event made ready for the lake: its partition, id, typed cells and the JSON of the rest. The
/// costly part of writing (JSON, digest, field lookups), so it can run on the readers' threads while
/// one writer appends.
#[derive(Debug)]
pub struct Prepared {
    partition: (String, String),
    /// The id's 128 bits (what the partition's set of ids holds).
    bits: u128,
    id: String,
    time: Option<i64>,
    source: String,
    cells: Vec<Option<Cell>>,
    fields: String,
    fallbacks: u64,
}

/// Each typed column's place in [`COLUMNS`], by name.
static COLUMN_INDEX: std::sync::LazyLock<HashMap<&'static str, usize>> =
    std::sync::LazyLock::new(|| {
        COLUMNS
            .iter()
            .enumerate()
            .map(|(i, c)| (c.name, i))
            .collect()
    });

/// Prepares `event` for [`LakeWriter::write_prepared`]: one pass over its fields fills the typed
/// columns (a column under a nested object, such as nested ECS JSON, by its dotted path), and the
/// event's JSON text is written twice without building a JSON value: whole into the id's digest,
/// and without the fields the columns took as `_fields`.
pub fn prepare(event: &Event) -> Prepared {
    let bits = id_of(event);
    let fields = event.fields();
    let mut cells: Vec<Option<Cell>> = vec![None; COLUMNS.len()];
    let mut seen = vec![false; COLUMNS.len()];
    let mut taken: Vec<&str> = Vec::new();
    let mut fallbacks = 0;
    let mut nested: Vec<&str> = Vec::new();
    for (key, value) in fields.iter() {
        if matches!(value, Value::Object(_)) {
            nested.push(key);
        }
        let Some(&i) = COLUMN_INDEX.get(key) else {
            continue;
        };
        // The first value of a key counts (as lookups find it).
        if std::mem::replace(&mut seen[i], true) {
            continue;
        }
        let ty = COLUMNS[i].ty;
        if ty == Type::Time {
            continue;
        }
        match cell(value, ty) {
            Some(c) => {
                cells[i] = Some(c);
                taken.push(key);
            }
            None if !value.is_null() => fallbacks += 1,
            None => {}
        }
    }
    if !nested.is_empty() {
        for (i, column) in COLUMNS.iter().enumerate() {
            if seen[i] || column.ty == Type::Time {
                continue;
            }
            let under_nested = nested.iter().any(|k| {
                column
                    .name
                    .strip_prefix(k)
                    .is_some_and(|r| r.starts_with('.'))
            });
            if !under_nested {
                continue;
            }
            if let Some(value) = event.get(column.name) {
                match cell(value, column.ty) {
                    Some(c) => cells[i] = Some(c),
                    None if !value.is_null() => fallbacks += 1,
                    None => {}
                }
            }
        }
    }
    let mut rest = Vec::with_capacity(256);
    // Writing to memory cannot fail; a value serde cannot write would leave `_fields` short, never
    // the row.
    // The taken keys are the event's own keys, found by where they are (no text compared).
    let _ = event.write_json(
        false,
        &|k| {
            taken
                .iter()
                .any(|t| std::ptr::eq(t.as_ptr(), k.as_ptr()) && t.len() == k.len())
        },
        &mut rest,
    );
    Prepared {
        partition: partition_of(event),
        bits,
        id: hex(bits),
        time: event.timestamp().map(|t| t.unix_nanos()),
        source: event.provenance().to_string(),
        cells,
        fields: String::from_utf8(rest).unwrap_or_default(),
        fallbacks,
    }
}

/// The id of an event: a digest of the name of the file it was read from, where in it, and its
/// fields (its JSON text), so the same file read again (from anywhere) gives the same ids.
pub fn event_id(event: &Event) -> String {
    hex(id_of(event))
}

/// An id's 128 bits as its 32 hex digits.
fn hex(bits: u128) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    (0..32)
        .rev()
        .map(|i| char::from(DIGITS[((bits >> (4 * i)) & 0xf) as usize]))
        .collect()
}

/// The first 16 bytes of the digest of the event's file name, location and JSON text.
fn id_of(event: &Event) -> u128 {
    let provenance = event.provenance();
    let name = Path::new(provenance.source.as_ref())
        .file_name()
        .map_or_else(
            || provenance.source.to_string(),
            |n| n.to_string_lossy().into_owned(),
        );
    let mut text = Vec::with_capacity(512);
    text.extend_from_slice(name.as_bytes());
    text.push(0);
    let _ = write!(text, "{}", provenance.location);
    text.push(0);
    // The event's JSON text, as `to_json().to_string()` gives it (written whole, then digested at
    // once: the digest fed piece by piece cost more than the text).
    let _ = event.write_json(true, &|_| false, &mut text);
    bits_of(&Sha256::digest(&text))
}

/// A digest's first 16 bytes as a number.
fn bits_of(digest: &[u8]) -> u128 {
    digest
        .iter()
        .take(16)
        .fold(0u128, |acc, b| (acc << 8) | u128::from(*b))
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
        Ok(LakeWriter::open(Lake::folder(root)))
    }

    /// A writer into `lake` (a folder or a bucket).
    pub fn open(lake: Lake) -> LakeWriter {
        LakeWriter {
            lake,
            partitions: HashMap::default(),
            buffered: 0,
            ids_held: 0,
            stats: WriteStats::default(),
            sequence: 0,
        }
    }

    /// Adds one event (written out later, or at [`LakeWriter::finish`]).
    pub fn write(&mut self, event: &Event) -> Result<(), LakeError> {
        self.write_prepared(prepare(event))
    }

    /// Adds one event already [`prepare`]d (on another thread, typically).
    pub fn write_prepared(&mut self, row: Prepared) -> Result<(), LakeError> {
        let key = row.partition;
        let needs_ids = self.partitions.get(&key).is_none_or(|p| p.ids.is_none());
        if needs_ids {
            let ids = read_ids(&self.lake, &key)?;
            self.ids_held += ids.len();
            self.partitions
                .entry(key.clone())
                .or_insert_with(|| Partition {
                    rows: Pending::new(),
                    ids: None,
                })
                .ids = Some(ids);
        }
        let Some(partition) = self.partitions.get_mut(&key) else {
            return Ok(());
        };
        let Some(ids) = partition.ids.as_mut() else {
            return Ok(());
        };
        if !ids.insert(row.bits) {
            self.stats.duplicates += 1;
            return Ok(());
        }
        self.ids_held += 1;
        self.stats.fallbacks += row.fallbacks;
        let pending = &mut partition.rows;
        for (builder, cell) in pending.columns.iter_mut().zip(row.cells) {
            match (builder, cell) {
                (Builder::Time(b), _) => b.append_option(row.time),
                (Builder::Text(b), Some(Cell::Text(t))) => b.append_value(t),
                (Builder::Text(b), _) => b.append_null(),
                (Builder::Int(b), Some(Cell::Int(i))) => b.append_value(i),
                (Builder::Int(b), _) => b.append_null(),
            }
        }
        pending.times.push(row.time);
        pending.ids.append_value(&row.id);
        pending.sources.append_value(&row.source);
        pending.fields.append_value(&row.fields);
        self.buffered += 1;
        if pending.len() >= ROWS_PER_FILE {
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
        if self.ids_held > MAX_IDS {
            self.let_go_of_ids(&key);
        }
        Ok(())
    }

    /// Lets go of the id sets of partitions with nothing waiting (the largest first) until at most
    /// half of [`MAX_IDS`] are held; `keep`'s stays.
    fn let_go_of_ids(&mut self, keep: &(String, String)) {
        let mut idle: Vec<((String, String), usize)> = self
            .partitions
            .iter()
            .filter(|(k, p)| *k != keep && p.rows.len() == 0)
            .filter_map(|(k, p)| p.ids.as_ref().map(|ids| (k.clone(), ids.len())))
            .collect();
        idle.sort_by_key(|b| std::cmp::Reverse(b.1));
        for (key, _) in idle {
            if self.ids_held <= MAX_IDS / 2 {
                break;
            }
            if let Some(p) = self.partitions.get_mut(&key) {
                if let Some(ids) = p.ids.take() {
                    self.ids_held -= ids.len();
                }
            }
        }
    }

    /// Writes out everything still waiting; returns what the writer did.
    pub fn finish(mut self) -> Result<WriteStats, LakeError> {
        self.flush_all()?;
        Ok(self.stats)
    }

    /// Writes out everything waiting now and goes on (a long-running writer that must be able to say
    /// what is in the lake: `secops run` before a checkpoint).
    pub fn flush_all(&mut self) -> Result<(), LakeError> {
        let keys: Vec<(String, String)> = self.partitions.keys().cloned().collect();
        for key in keys {
            self.flush(&key)?;
        }
        Ok(())
    }

    /// What the writer did so far.
    pub fn stats(&self) -> &WriteStats {
        &self.stats
    }

    /// Writes a partition's waiting rows as one file, sorted by time (stable: a file's order kept
    /// among equal times), through a temporary name so a reader never sees half a file.
    fn flush(&mut self, key: &(String, String)) -> Result<(), LakeError> {
        let Some(partition) = self.partitions.get_mut(key) else {
            return Ok(());
        };
        if partition.rows.len() == 0 {
            return Ok(());
        }
        let rows = std::mem::replace(&mut partition.rows, Pending::new());
        self.buffered -= rows.len();
        self.sequence += 1;
        let count = rows.len();
        let batch = sorted_batch(rows)?;
        let first_time = batch
            .column(0)
            .as_any()
            .downcast_ref::<arrow_array::TimestampNanosecondArray>()
            .and_then(|t| t.iter().next().flatten())
            .unwrap_or(0);
        let first_id = batch
            .column_by_name(ID)
            .and_then(|c| c.as_any().downcast_ref::<StringArray>())
            .and_then(|c| {
                c.iter()
                    .next()
                    .flatten()
                    .map(|s| s[..8.min(s.len())].to_string())
            })
            .unwrap_or_default();
        let name = format!("part-{first_time}-{first_id}-{}.parquet", self.sequence);
        self.lake.write(&key.0, &key.1, &name, &batch)?;
        self.stats.written += count as u64;
        self.stats.files += 1;
        Ok(())
    }
}

/// The waiting rows as one Arrow batch of the lake's schema, sorted by time (stable: a file's order
/// kept among equal times; rows without a time first).
fn sorted_batch(rows: Pending) -> Result<RecordBatch, LakeError> {
    let Pending {
        times,
        columns,
        mut ids,
        mut sources,
        mut fields,
    } = rows;
    let mut order: Vec<u32> = (0..times.len() as u32).collect();
    order.sort_by_key(|&i| times.get(i as usize).copied().flatten().unwrap_or(i64::MIN));
    let order = UInt32Array::from(order);
    let mut arrays: Vec<ArrayRef> = Vec::with_capacity(COLUMNS.len() + 3);
    for builder in columns {
        arrays.push(match builder {
            Builder::Text(mut b) => Arc::new(b.finish()),
            Builder::Int(mut b) => Arc::new(b.finish()),
            Builder::Time(mut b) => Arc::new(b.finish()),
        });
    }
    arrays.push(Arc::new(ids.finish()));
    arrays.push(Arc::new(sources.finish()));
    arrays.push(Arc::new(fields.finish()));
    let arrays = arrays
        .iter()
        .map(|a| arrow_select::take::take(a.as_ref(), &order, None))
        .collect::<Result<Vec<_>, _>>()
        .map_err(LakeError::Arrow)?;
    RecordBatch::try_new(arrow_schema(), arrays).map_err(LakeError::Arrow)
}

/// An id's 32 hex digits as its 128 bits (ids that are not, from an older writer, are hashed).
fn id_bits(id: &str) -> u128 {
    u128::from_str_radix(id, 16).unwrap_or_else(|_| bits_of(&Sha256::digest(id.as_bytes())))
}

/// The ids a partition's files hold (none when it has no files yet).
fn read_ids(lake: &Lake, (day, source): &(String, String)) -> Result<HashSet<u128>, LakeError> {
    let mut ids = HashSet::default();
    for file in lake.files(day, source)? {
        for batch in lake.read(&file, Some(&[ID]))? {
            if let Some(column) = batch
                .column_by_name(ID)
                .and_then(|c| c.as_any().downcast_ref::<StringArray>())
            {
                ids.extend(column.iter().flatten().map(id_bits));
            }
        }
    }
    Ok(ids)
}
