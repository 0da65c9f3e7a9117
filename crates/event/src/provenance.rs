//! Where an event came from.

use std::fmt;
use std::sync::Arc;

/// The position of a record inside its source.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub enum Location {
    /// A 1-based line number (text formats).
    Line(u64),
    /// An EVTX record by the id its record header gives it: its number in the file, and its
    /// `EventRecordID` (what Event Viewer shows) unless the log was exported and renumbered.
    Record(u64),
    /// An EVTX record whose `EventRecordID` differs from its number in the file (an exported log:
    /// the file renumbers from 1, the events keep the ids the host gave them).
    EventRecord { id: u64, file_record: u64 },
    /// The 0-based index of a record inside a document that holds many (CloudTrail's `Records` array),
    /// with the line the document starts on.
    Entry { line: u64, index: u64 },
    /// The n-th record of the source (1-based), for records whose own id could not be read (a corrupt
    /// EVTX chunk).
    Ordinal(u64),
    /// A byte offset into the file, for a record whose id could not be trusted (a damaged EVTX record).
    Offset(u64),
}

impl Location {
    /// An EVTX record's number in its file (what losses and rejections name).
    pub fn file_record(self) -> Option<u64> {
        match self {
            Location::Record(id)
            | Location::EventRecord {
                file_record: id, ..
            } => Some(id),
            _ => None,
        }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::Line(line) => write!(f, "{line}"),
            Location::Record(id) => write!(f, "record {id}"),
            Location::EventRecord { id, file_record } => {
                write!(f, "record {id} (file record {file_record})")
            }
            Location::Entry { line, index } => write!(f, "{line} record {index}"),
            Location::Ordinal(n) => write!(f, "#{n}"),
            Location::Offset(offset) => write!(f, "offset {offset:#x}"),
        }
    }
}

/// The source (a file path, or `-` for standard input) and the location of one record. The source name is
/// shared by every event of the source, so cloning provenance is cheap.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Provenance {
    pub source: Arc<str>,
    pub location: Location,
}

impl Provenance {
    pub fn new(source: impl Into<Arc<str>>, location: Location) -> Self {
        Provenance {
            source: source.into(),
            location,
        }
    }
}

/// `path:line`, `path:record 42`, the way compilers name a place.
impl fmt::Display for Provenance {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.source, self.location)
    }
}

/// As the source's text and the location (rule state checkpoints keep provenance this way).
impl serde::Serialize for Provenance {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        (&*self.source, self.location).serialize(serializer)
    }
}

impl<'de> serde::Deserialize<'de> for Provenance {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let (source, location) = <(String, Location)>::deserialize(deserializer)?;
        Ok(Provenance::new(source, location))
    }
}
