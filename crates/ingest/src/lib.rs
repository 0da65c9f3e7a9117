//! Log readers: every input becomes a stream of normalized [`secops_event::Event`]s, and every record that
//! cannot be parsed becomes a [`Rejection`] naming its file, line or record and the reason.
//!
//! Data flows through four steps, one module each:
//!
//! 1. [`input`]: command-line arguments become [`Input`]s (files, walked directories, globs, stdin); each is
//!    opened with gzip undone.
//! 2. `sniff`: the format is detected from the name and first bytes, unless the caller names it
//!    ([`Options::format`]). [`FORMATS`] is the registry.
//! 3. `formats/`: one parser per format fills ECS fields and keeps the source's own fields.
//! 4. [`read_input`] drives one input and returns a [`Summary`]: `read = parsed + rejected`, and records
//!    the input promised but that could not be read at all are `lost`, each stretch with where and why;
//!    [`parallel::read_all`] reads many on the rayon pool and hands results back in input order.
//!
//! ```
//! use secops_ingest::{read_bytes, Format, Options};
//!
//! let log = b"Dec 10 07:13:43 LabSZ sshd[24227]: Failed password for root from 5.36.59.76 port 42393 ssh2\n";
//! let options = Options { year: Some(2016), ..Options::default() };
//! let mut events = Vec::new();
//! let summary = read_bytes(Format::Syslog, "auth.log", log, &options, &mut |record| events.extend(record.ok()));
//! assert_eq!((summary.parsed, summary.rejected), (1, 0));
//! assert_eq!(events[0].get_str("event.outcome"), Some("failure"));
//! assert_eq!(events[0].get_str("user.name"), Some("root"));
//! ```

pub mod community_id;
mod error;
mod format;
pub mod formats;
pub mod input;
mod lines;
pub mod parallel;
mod read;
pub mod sniff;
mod stream;
mod summary;

pub use error::{IngestError, Reason, Rejection};
pub use format::{Format, FormatInfo, FORMATS};
pub use formats::syslog::Zone;
pub use input::{expand, Input};
pub use lines::MAX_LINE;
pub use read::{read_bytes, read_input, Counters, Options};
pub use stream::LineStream;
pub use summary::{Loss, RejectionGroup, Summary, MAX_LOSSES};
