//! Errors: a whole input that could not be read ([`IngestError`]) and one record that could not be parsed
//! ([`Rejection`]).

use std::path::PathBuf;

use secops_event::{Provenance, TimestampError};

/// An input that could not be read at all. The other inputs are still read.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{pattern}: invalid glob pattern: {reason}")]
    Glob { pattern: String, reason: String },
    #[error("{pattern}: no file matches")]
    NoMatch { pattern: String },
    #[error("{path}: cannot tell the log format ({reason}); name one with --format (see `secops formats`)")]
    UnknownFormat { path: String, reason: &'static str },
    #[error("unknown format {name:?}; known formats: {known}")]
    UnknownFormatName { name: String, known: String },
    #[error("{path}: not an EVTX file: {reason}")]
    Evtx { path: String, reason: String },
}

/// One record that did not become an event, with where it was and why.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{provenance}: {reason}")]
pub struct Rejection {
    pub provenance: Provenance,
    pub reason: Reason,
}

/// Why a record was rejected.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Reason {
    #[error("line longer than {limit} bytes")]
    LineTooLong { limit: usize },
    #[error("not valid UTF-8 text")]
    NotText,
    #[error("invalid JSON: {0}")]
    Json(String),
    #[error("expected a JSON object, found {0}")]
    NotAnObject(&'static str),
    #[error("not {format}: {detail}")]
    Malformed {
        format: &'static str,
        detail: &'static str,
    },
    #[error("{0}")]
    Timestamp(#[from] TimestampError),
    #[error("Zeek row has {found} fields, the #fields header declares {expected}")]
    FieldCount { expected: usize, found: usize },
    #[error("Zeek row before any #fields header")]
    NoHeader,
    #[error("EVTX: {0}")]
    Evtx(String),
    #[error("EVTX: {0}")]
    EvtxUnverified(String),
    #[error("read error: {0}")]
    Io(String),
}

impl Reason {
    /// A short stable label, used to group rejections in summaries.
    pub fn kind(&self) -> &'static str {
        match self {
            Reason::LineTooLong { .. } => "line too long",
            Reason::NotText => "not text",
            Reason::Json(_) => "invalid JSON",
            Reason::NotAnObject(_) => "not a JSON object",
            Reason::Malformed { format, .. } => format,
            Reason::Timestamp(_) => "invalid timestamp",
            Reason::FieldCount { .. } => "Zeek field count",
            Reason::NoHeader => "Zeek header missing",
            Reason::Evtx(_) => "EVTX record",
            Reason::EvtxUnverified(_) => "EVTX checksum",
            Reason::Io(_) => "read error",
        }
    }

    pub(crate) fn malformed(format: &'static str, detail: &'static str) -> Self {
        Reason::Malformed { format, detail }
    }
}
