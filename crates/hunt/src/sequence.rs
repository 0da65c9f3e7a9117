//! SEQUENCE: the rows that form an EQL sequence, found by the detection engine's own sequence
//! matcher (the rules' semantics exactly: join keys, `maxspan`, `runs`, `until`, each event used
//! once).
//!
//! The rows are read in time order with only the columns the sequence looks at, turned into
//! events and offered to the matcher; each completed sequence gives its events' ids, its number
//! and each event's step. Those ids are then joined back to the rows, so every column of the
//! relation comes out. The matcher's memory is bounded as a rule's is (one partial sequence per
//! key and step, keys past `maxspan` dropped, at most a fixed number of keys live).

use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, Int64Builder, ListArray, RecordBatch, StringBuilder,
};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{
    DataType, Field, Float64Type, Int64Type, Schema, SchemaRef, TimeUnit,
};
use datafusion::catalog::streaming::StreamingTable;
use datafusion::dataframe::DataFrame;
use datafusion::error::DataFusionError;
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::streaming::PartitionStream;
use futures::StreamExt;
use secops_detect::SequenceState;
use secops_event::{Event, Location, Provenance, Timestamp, Value};
use secops_rules::eql::{EqlQuery, Sequence};

/// The column of the event id the matches are joined back on.
pub(crate) const MEMBER: &str = "__member";
pub(crate) const SEQUENCE_ID: &str = "sequence.id";
pub(crate) const SEQUENCE_STEP: &str = "sequence.step";

/// The sequence written after SEQUENCE (a leading `sequence` optional), parsed and checked; an
/// error's place is in the text as written.
pub(crate) fn parse(text: &str) -> Result<Sequence, String> {
    let written = text
        .trim_start()
        .get(..8)
        .is_some_and(|w| w.eq_ignore_ascii_case("sequence"));
    let prefix = if written { "" } else { "sequence " };
    let full = format!("{prefix}{text}");
    match secops_rules::eql::parse(&full) {
        Ok(EqlQuery::Sequence(sequence)) => {
            SequenceState::new(&sequence).map_err(|e| format!("the sequence: {e}"))?;
            Ok(sequence)
        }
        Ok(EqlQuery::Event(_)) => Err("SEQUENCE takes an EQL sequence of steps in [ ]".into()),
        Err(e) => {
            let at = secops_rules::Span {
                start: e.span.start.saturating_sub(prefix.len()),
                end: e.span.end.saturating_sub(prefix.len()),
            };
            let (line, column) = at.line_col(text);
            Err(format!(
                "the sequence, line {line}, column {column} of its text: {}",
                e.message
            ))
        }
    }
}

/// The fields the sequence reads: its steps' and `until`'s conditions and join keys, and
/// `event.category` for steps that name one.
pub(crate) fn fields(sequence: &Sequence) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for step in sequence.steps.iter().chain(&sequence.until) {
        if step.query.category.is_some() {
            out.push("event.category".into());
        }
        out.extend(step.query.condition.fields().iter().map(|f| f.path.clone()));
        out.extend(step.by.iter().map(|f| f.path.clone()));
    }
    out.sort();
    out.dedup();
    out.retain(|f| f != "@timestamp");
    out
}

/// The matches of `sequence` over `input` (its columns: the event id, `@timestamp`, then the
/// fields of [`fields`], rows in time order): a table of event id, sequence number and step,
/// computed when read.
pub(crate) fn matches(sequence: Sequence, input: DataFrame) -> Result<StreamingTable, String> {
    let schema: SchemaRef = Arc::new(Schema::new(vec![
        Field::new(MEMBER, DataType::Utf8, false),
        Field::new(SEQUENCE_ID, DataType::Int64, false),
        Field::new(SEQUENCE_STEP, DataType::Int64, false),
    ]));
    let stream = Matches {
        sequence,
        input,
        schema: Arc::clone(&schema),
    };
    StreamingTable::try_new(schema, vec![Arc::new(stream)]).map_err(|e| e.to_string())
}

struct Matches {
    sequence: Sequence,
    input: DataFrame,
    schema: SchemaRef,
}

impl std::fmt::Debug for Matches {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Matches").finish_non_exhaustive()
    }
}

impl PartitionStream for Matches {
    fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    fn execute(&self, _ctx: Arc<TaskContext>) -> SendableRecordBatchStream {
        let input = self.input.clone();
        let schema = Arc::clone(&self.schema);
        let state = SequenceState::new(&self.sequence);
        let out = Arc::clone(&self.schema);
        let stream = futures::stream::once(async move {
            let mut state = state.map_err(|e| DataFusionError::Plan(e.to_string()))?;
            let rows = input.execute_stream().await?;
            let mut matcher = Matcher {
                numbered: 0,
                schema: out,
            };
            Ok::<_, DataFusionError>(rows.map(move |batch| matcher.batch(&mut state, &batch?)))
        })
        .map(|made| match made {
            Ok(stream) => stream.boxed(),
            Err(e) => futures::stream::once(async move { Err(e) }).boxed(),
        })
        .flatten();
        Box::pin(RecordBatchStreamAdapter::new(schema, stream))
    }
}

struct Matcher {
    /// Sequences completed so far.
    numbered: i64,
    schema: SchemaRef,
}

impl Matcher {
    /// Offers a batch's rows to the sequence matcher; the rows of the sequences they complete.
    fn batch(
        &mut self,
        state: &mut SequenceState,
        batch: &RecordBatch,
    ) -> Result<RecordBatch, DataFusionError> {
        let names: Vec<String> = batch
            .schema()
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect();
        let columns: Vec<Column> = batch
            .columns()
            .iter()
            .map(Column::of)
            .collect::<Result<_, _>>()?;
        let (Some(Column::Text(ids)), Some(Column::Time(times))) =
            (columns.first(), columns.get(1))
        else {
            return Err(DataFusionError::Internal(
                "SEQUENCE's input: the event id and @timestamp first".into(),
            ));
        };
        let mut members = StringBuilder::new();
        let mut numbers = Int64Builder::new();
        let mut steps = Int64Builder::new();
        for row in 0..batch.num_rows() {
            if ids.is_null(row) || times.is_null(row) {
                continue;
            }
            let mut event = Event::new(Provenance::new("hunt", Location::Line(row as u64 + 1)));
            event.set_timestamp(Timestamp::from_unix_nanos(times.value(row)));
            event.insert(MEMBER, ids.value(row));
            for (name, column) in names.iter().zip(&columns).skip(2) {
                if let Some(value) = column.value(row) {
                    event.insert(name.as_str(), value);
                }
            }
            let Some(crossing) = state.observe(&event) else {
                continue;
            };
            self.numbered += 1;
            for (step, member) in crossing.events.iter().enumerate() {
                if let Some(id) = member.get_str(MEMBER) {
                    members.append_value(id);
                    numbers.append_value(self.numbered);
                    steps.append_value(step as i64 + 1);
                }
            }
        }
        let arrays: Vec<ArrayRef> = vec![
            Arc::new(members.finish()),
            Arc::new(numbers.finish()),
            Arc::new(steps.finish()),
        ];
        Ok(RecordBatch::try_new(Arc::clone(&self.schema), arrays)?)
    }
}

/// A column read as the event values it gives.
enum Column {
    Text(datafusion::arrow::array::StringArray),
    Time(datafusion::arrow::array::PrimitiveArray<Int64Type>),
    Integer(datafusion::arrow::array::PrimitiveArray<Int64Type>),
    Float(datafusion::arrow::array::PrimitiveArray<Float64Type>),
    Bool(datafusion::arrow::array::BooleanArray),
    List(ListArray),
}

impl Column {
    fn of(array: &ArrayRef) -> Result<Column, DataFusionError> {
        let to = |t: DataType| cast(array, &t);
        Ok(match array.data_type() {
            DataType::Timestamp(_, _) => {
                let nanos = to(DataType::Timestamp(TimeUnit::Nanosecond, None))?;
                Column::Time(
                    cast(&nanos, &DataType::Int64)?
                        .as_primitive::<Int64Type>()
                        .clone(),
                )
            }
            DataType::Int8
            | DataType::Int16
            | DataType::Int32
            | DataType::Int64
            | DataType::UInt8
            | DataType::UInt16
            | DataType::UInt32
            | DataType::UInt64 => {
                Column::Integer(to(DataType::Int64)?.as_primitive::<Int64Type>().clone())
            }
            DataType::Float16 | DataType::Float32 | DataType::Float64 => {
                Column::Float(to(DataType::Float64)?.as_primitive::<Float64Type>().clone())
            }
            DataType::Boolean => Column::Bool(array.as_boolean().clone()),
            DataType::List(_) | DataType::LargeList(_) => {
                let list = to(DataType::List(Arc::new(Field::new(
                    "item",
                    DataType::Utf8,
                    true,
                ))))?;
                Column::List(list.as_list::<i32>().clone())
            }
            _ => Column::Text(to(DataType::Utf8)?.as_string::<i32>().clone()),
        })
    }

    fn is_null(&self, row: usize) -> bool {
        match self {
            Column::Text(a) => a.is_null(row),
            Column::Time(a) | Column::Integer(a) => a.is_null(row),
            Column::Float(a) => a.is_null(row),
            Column::Bool(a) => a.is_null(row),
            Column::List(a) => a.is_null(row),
        }
    }

    fn value(&self, row: usize) -> Option<Value> {
        if self.is_null(row) {
            return None;
        }
        Some(match self {
            Column::Text(a) => Value::Str(a.value(row).into()),
            Column::Time(a) => Value::Time(Timestamp::from_unix_nanos(a.value(row))),
            Column::Integer(a) => Value::Int(a.value(row)),
            Column::Float(a) => Value::Float(a.value(row)),
            Column::Bool(a) => Value::Bool(a.value(row)),
            Column::List(a) => {
                let items = a.value(row);
                let items = items.as_string::<i32>();
                Value::Array(
                    (0..items.len())
                        .filter(|&i| !items.is_null(i))
                        .map(|i| Value::Str(items.value(i).into()))
                        .collect(),
                )
            }
        })
    }
}
