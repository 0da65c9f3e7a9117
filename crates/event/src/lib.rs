//! The normalized security event that every other `secops` crate works on.
//!
//! An [`Event`] is a set of typed fields ([`Value`]) addressed by path. Parsers put two kinds of field in it:
//!
//! - **ECS fields** under their Elastic Common Schema names (`@timestamp`, `event.action`, `source.ip`, ...),
//!   stored as flat dotted keys, and
//! - **original fields** under the source's own names (`Event.System.EventID` for Windows, `eventName` for
//!   CloudTrail, `id.orig_h` for Zeek), usually nested objects.
//!
//! [`Event::get`] resolves a dotted path against both: a flat key, a nested object, or a mix of the two, so a
//! rule can name either form. Each event also carries its [`Provenance`]: the source it came from and the line
//! or record that held it. This crate does no I/O.
//!
//! ```
//! use secops_event::{Event, Provenance, Location, Value, Timestamp};
//!
//! let mut event = Event::new(Provenance::new("auth.log", Location::Line(7)));
//! event.set_timestamp(Timestamp::from_unix_nanos(1_700_000_000_000_000_000));
//! event.insert("event.outcome", "failure");
//! event.insert("source.ip", Value::ip("203.0.113.9").unwrap_or(Value::Null));
//! assert_eq!(event.get_str("event.outcome"), Some("failure"));
//! assert_eq!(event.get("source.ip").map(|v| v.to_string()), Some("203.0.113.9".to_string()));
//! assert_eq!(event.provenance().to_string(), "auth.log:7");
//! ```

pub mod codec;
mod de;
pub mod escape;
mod event;
mod json;
mod object;
mod provenance;
mod timestamp;
mod value;

pub use event::Event;
pub use object::Object;
pub use provenance::{Location, Provenance};
pub use timestamp::{Timestamp, TimestampError};
pub use value::{Str, Value};
