//! The lake's columns: the ECS fields hunts filter, group and join on most, each with its type, then
//! three of the lake's own (`_id`, `_source`, `_fields`). Every other field of an event, and a value
//! that does not fit its column's type (a `source.port` of `"http"`), is kept in `_fields` as JSON,
//! reachable by its dotted name. Several values in a text column (`event.category` of
//! `["process","network"]`) are kept as their JSON array's text, read back as a multi-value. Parquet dictionary-encodes each column page while its values repeat
//! (hosts, datasets, actions), and falls back to plain encoding when they do not (command lines).
//!
//! The partition columns are in the path, Hive-style: `dt=2026-12-01/source=windows.security/`.

use std::sync::Arc;

use arrow_schema::{DataType, Field, Schema, TimeUnit};

/// A typed column's type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Type {
    /// UTF-8 text (addresses are written as text: `10.0.0.5`, `2001:db8::1`).
    Text,
    Integer,
    Boolean,
    /// Nanoseconds since the epoch, UTC.
    Time,
}

/// One typed column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Column {
    pub name: &'static str,
    pub ty: Type,
}

const fn text(name: &'static str) -> Column {
    Column {
        name,
        ty: Type::Text,
    }
}

const fn integer(name: &'static str) -> Column {
    Column {
        name,
        ty: Type::Integer,
    }
}

/// The typed columns, in file order. `@timestamp` first: files are sorted by it.
pub const COLUMNS: &[Column] = &[
    Column {
        name: "@timestamp",
        ty: Type::Time,
    },
    text("event.kind"),
    text("event.category"),
    text("event.type"),
    text("event.action"),
    text("event.outcome"),
    text("event.code"),
    text("event.dataset"),
    text("event.module"),
    text("event.provider"),
    text("host.name"),
    text("host.id"),
    text("user.name"),
    text("user.domain"),
    text("user.id"),
    text("user.target.name"),
    text("source.ip"),
    integer("source.port"),
    text("source.domain"),
    text("destination.ip"),
    integer("destination.port"),
    text("destination.domain"),
    text("network.transport"),
    text("network.protocol"),
    text("network.direction"),
    text("network.community_id"),
    integer("source.bytes"),
    integer("destination.bytes"),
    text("process.name"),
    text("process.executable"),
    text("process.command_line"),
    integer("process.pid"),
    text("process.entity_id"),
    text("process.parent.name"),
    text("process.parent.executable"),
    text("process.parent.command_line"),
    integer("process.parent.pid"),
    text("process.parent.entity_id"),
    text("process.hash.sha256"),
    text("file.path"),
    text("file.name"),
    text("registry.path"),
    text("dns.question.name"),
    text("url.original"),
    text("url.domain"),
    text("http.request.method"),
    integer("http.response.status_code"),
    text("user_agent.original"),
    integer("winlog.event_id"),
    text("winlog.channel"),
    text("winlog.computer_name"),
    text("cloud.account.id"),
    text("cloud.region"),
    text("secops.entity.host"),
    text("secops.entity.user"),
    text("secops.entity.source.host"),
    text("secops.entity.destination.host"),
    text("message"),
];

/// Columns whose values are (nearly) unique per event: written without dictionary encoding.
pub const UNIQUE_VALUED: &[&str] = &[
    ID,
    SOURCE,
    FIELDS,
    "message",
    "process.entity_id",
    "process.parent.entity_id",
];

/// The event's id: stable across runs (a digest of where it was read and what it says), so the
/// same file ingested twice adds nothing.
pub const ID: &str = "_id";
/// Where the event was read (`auth.log:17`, `Security.evtx:record 4711`).
pub const SOURCE: &str = "_source";
/// Every other field, and values that did not fit their column, as one JSON object.
pub const FIELDS: &str = "_fields";

/// The Arrow schema of the lake's files.
pub fn arrow_schema() -> Arc<Schema> {
    let mut fields: Vec<Field> = COLUMNS
        .iter()
        .map(|c| {
            let ty = match c.ty {
                Type::Text => DataType::Utf8,
                Type::Integer => DataType::Int64,
                Type::Boolean => DataType::Boolean,
                Type::Time => DataType::Timestamp(TimeUnit::Nanosecond, Some("UTC".into())),
            };
            Field::new(c.name, ty, true)
        })
        .collect();
    fields.push(Field::new(ID, DataType::Utf8, false));
    fields.push(Field::new(SOURCE, DataType::Utf8, false));
    fields.push(Field::new(FIELDS, DataType::Utf8, false));
    Arc::new(Schema::new(fields))
}
