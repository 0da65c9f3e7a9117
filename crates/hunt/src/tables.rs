//! Registered tables: what the service keeps besides events (alerts, cases, indicators,
//! warninglists, assets), read by FROM, LOOKUP JOIN and ENRICH as the query runs.
//!
//! The service declares each table's columns and gives its rows as an iterator; the rows are
//! read on a thread of their own, a batch at a time, while the query consumes them (a bounded
//! channel between), so a table of any size is read in bounded memory and only when a query
//! names it.

use std::sync::Arc;

use datafusion::arrow::array::{
    ArrayRef, BooleanBuilder, Float64Builder, Int64Builder, ListBuilder, StringBuilder,
    TimestampNanosecondBuilder,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::catalog::streaming::StreamingTable;
use datafusion::error::DataFusionError;
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::physical_plan::stream::RecordBatchReceiverStreamBuilder;
use datafusion::physical_plan::streaming::PartitionStream;
use datafusion::prelude::SessionContext;

use crate::HuntError;

/// The names a registered table may have: FROM reads these from the service, never the lake.
pub const TABLE_NAMES: &[&str] = &[
    "alerts",
    "cases",
    "indicators",
    "findings",
    "warninglists",
    "assets",
];

/// The hidden column of every registered table: the row's place in the table's own order (ENRICH
/// takes the first entry of a key by it).
pub(crate) const ORDINAL: &str = "_row";

/// Rows per batch read from a table.
const BATCH_ROWS: usize = 4096;

/// A column's type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnType {
    Text,
    Integer,
    Float,
    Bool,
    /// A time (nanoseconds since the epoch, UTC), as `@timestamp` is.
    Time,
    /// Several texts (tags, the lists that cover an indicator).
    TextList,
}

impl ColumnType {
    fn data_type(self) -> DataType {
        match self {
            ColumnType::Text => DataType::Utf8,
            ColumnType::Integer => DataType::Int64,
            ColumnType::Float => DataType::Float64,
            ColumnType::Bool => DataType::Boolean,
            ColumnType::Time => DataType::Timestamp(TimeUnit::Nanosecond, Some("UTC".into())),
            ColumnType::TextList => {
                DataType::List(Arc::new(Field::new("item", DataType::Utf8, true)))
            }
        }
    }
}

/// One value of a row, of its column's type (or null).
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    Null,
    Text(String),
    Integer(i64),
    Float(f64),
    Bool(bool),
    Time(i64),
    TextList(Vec<String>),
}

/// A registered table: its name, columns and the column ENRICH matches on.
#[derive(Debug, Clone)]
pub struct TableInfo {
    pub name: &'static str,
    pub columns: Vec<(&'static str, ColumnType)>,
    /// What `ENRICH table ON field` compares the field with; the table gives one row per key
    /// where it can, and ENRICH takes the first row of a key in the table's order.
    pub key: &'static str,
    /// The key is kept in lower case and the field is lowered before the comparison (host and
    /// user names, whose case differs between sources).
    pub folded: bool,
    /// Which of a key's entries ENRICH takes: the first by these columns (`true`: descending,
    /// nulls last), then by the table's own order.
    pub prefer: Vec<(&'static str, bool)>,
}

impl TableInfo {
    /// The table's schema: its columns, then the hidden ordinal.
    pub fn schema(&self) -> SchemaRef {
        let mut fields: Vec<Field> = self
            .columns
            .iter()
            .map(|(name, kind)| Field::new(*name, kind.data_type(), true))
            .collect();
        fields.push(Field::new(ORDINAL, DataType::Int64, false));
        Arc::new(Schema::new(fields))
    }
}

/// The rows of a table, as the service reads them (a row's cells in the declared column order);
/// an error names what could not be read and ends the query.
pub type Rows = Box<dyn Iterator<Item = Result<Vec<Cell>, String>> + Send>;

/// The tables the service gives hunts.
pub trait Registered: std::fmt::Debug + Send + Sync {
    /// The tables there are (a name outside [`TABLE_NAMES`] is ignored).
    fn tables(&self) -> Vec<TableInfo>;
    /// Reads the table `name` from its start; called on a thread of its own when a query runs.
    fn rows(&self, name: &str) -> Result<Rows, String>;
}

/// One table as a stream DataFusion reads.
#[derive(Debug)]
struct TableStream {
    info: TableInfo,
    schema: SchemaRef,
    source: Arc<dyn Registered>,
}

impl PartitionStream for TableStream {
    fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    fn execute(&self, _ctx: Arc<TaskContext>) -> SendableRecordBatchStream {
        let mut builder = RecordBatchReceiverStreamBuilder::new(Arc::clone(&self.schema), 2);
        let sender = builder.tx();
        let info = self.info.clone();
        let schema = Arc::clone(&self.schema);
        let source = Arc::clone(&self.source);
        builder.spawn_blocking(move || {
            let fail = |m: String| DataFusionError::External(m.into());
            let rows = source
                .rows(info.name)
                .map_err(|m| fail(format!("the table {}: {m}", info.name)))?;
            let mut batch = Batch::new(&info, schema);
            for (ordinal, row) in (0i64..).zip(rows) {
                let row = row.map_err(|m| fail(format!("the table {}: {m}", info.name)))?;
                batch.push(&row, ordinal).map_err(|m| {
                    fail(format!("the table {}, row {}: {m}", info.name, ordinal + 1))
                })?;
                if batch.rows == BATCH_ROWS {
                    // The query stopped reading: so does the table.
                    if sender.blocking_send(batch.finish()).is_err() {
                        return Ok(());
                    }
                }
            }
            if batch.rows > 0 {
                let _ = sender.blocking_send(batch.finish());
            }
            Ok(())
        });
        builder.build()
    }
}

/// Rows being gathered into a batch.
struct Batch {
    columns: Vec<Builder>,
    ordinals: Int64Builder,
    rows: usize,
    schema: SchemaRef,
}

enum Builder {
    Text(StringBuilder),
    Integer(Int64Builder),
    Float(Float64Builder),
    Bool(BooleanBuilder),
    Time(TimestampNanosecondBuilder),
    TextList(ListBuilder<StringBuilder>),
}

impl Batch {
    fn new(info: &TableInfo, schema: SchemaRef) -> Batch {
        let columns = info
            .columns
            .iter()
            .map(|(_, kind)| match kind {
                ColumnType::Text => Builder::Text(StringBuilder::new()),
                ColumnType::Integer => Builder::Integer(Int64Builder::new()),
                ColumnType::Float => Builder::Float(Float64Builder::new()),
                ColumnType::Bool => Builder::Bool(BooleanBuilder::new()),
                ColumnType::Time => Builder::Time(TimestampNanosecondBuilder::new()),
                ColumnType::TextList => Builder::TextList(ListBuilder::new(StringBuilder::new())),
            })
            .collect();
        Batch {
            columns,
            ordinals: Int64Builder::new(),
            rows: 0,
            schema,
        }
    }

    fn push(&mut self, row: &[Cell], ordinal: i64) -> Result<(), String> {
        if row.len() != self.columns.len() {
            return Err(format!(
                "{} values for {} columns",
                row.len(),
                self.columns.len()
            ));
        }
        for (n, (builder, cell)) in self.columns.iter_mut().zip(row).enumerate() {
            match (builder, cell) {
                (Builder::Text(b), Cell::Text(v)) => b.append_value(v),
                (Builder::Text(b), Cell::Null) => b.append_null(),
                (Builder::Integer(b), Cell::Integer(v)) => b.append_value(*v),
                (Builder::Integer(b), Cell::Null) => b.append_null(),
                (Builder::Float(b), Cell::Float(v)) => b.append_value(*v),
                (Builder::Float(b), Cell::Null) => b.append_null(),
                (Builder::Bool(b), Cell::Bool(v)) => b.append_value(*v),
                (Builder::Bool(b), Cell::Null) => b.append_null(),
                (Builder::Time(b), Cell::Time(v)) => b.append_value(*v),
                (Builder::Time(b), Cell::Null) => b.append_null(),
                (Builder::TextList(b), Cell::TextList(values)) => {
                    for v in values {
                        b.values().append_value(v);
                    }
                    b.append(true);
                }
                (Builder::TextList(b), Cell::Null) => b.append(false),
                (_, cell) => {
                    return Err(format!(
                        "column {}: a value of the wrong type ({cell:?})",
                        n + 1
                    ))
                }
            }
        }
        self.ordinals.append_value(ordinal);
        self.rows += 1;
        Ok(())
    }

    /// The batch gathered so far; the builders start over.
    fn finish(&mut self) -> Result<RecordBatch, DataFusionError> {
        let mut arrays: Vec<ArrayRef> = self
            .columns
            .iter_mut()
            .map(|b| -> ArrayRef {
                match b {
                    Builder::Text(b) => Arc::new(b.finish()),
                    Builder::Integer(b) => Arc::new(b.finish()),
                    Builder::Float(b) => Arc::new(b.finish()),
                    Builder::Bool(b) => Arc::new(b.finish()),
                    Builder::Time(b) => Arc::new(b.finish().with_timezone("UTC")),
                    Builder::TextList(b) => Arc::new(b.finish()),
                }
            })
            .collect();
        arrays.push(Arc::new(self.ordinals.finish()));
        self.rows = 0;
        Ok(RecordBatch::try_new(Arc::clone(&self.schema), arrays)?)
    }
}

/// Registers the service's tables with the session under their names.
pub(crate) fn register(
    ctx: &SessionContext,
    source: &Arc<dyn Registered>,
) -> Result<(), HuntError> {
    for info in source.tables() {
        if !TABLE_NAMES.contains(&info.name) {
            continue;
        }
        let schema = info.schema();
        let stream = TableStream {
            info: info.clone(),
            schema: Arc::clone(&schema),
            source: Arc::clone(source),
        };
        let table = StreamingTable::try_new(schema, vec![Arc::new(stream)])
            .map_err(|e| HuntError::Run(e.to_string()))?;
        ctx.register_table(info.name, Arc::new(table))
            .map_err(|e| HuntError::Run(e.to_string()))?;
    }
    Ok(())
}
