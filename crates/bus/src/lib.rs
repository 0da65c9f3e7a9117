//! Detection spread over processes on NATS JetStream (DESIGN section 6). Ingest publishes framed,
//! compressed batches of normalized events to one subject per partition of a key field (the host by
//! default) and ingest process: `<prefix>.events.<partition>.<ingest>`. Workers own units: an events
//! unit per partition (the rules whose every group lies within a partition: see
//! `secops_detect::Placement`) and a re-key unit per partition of the other rules' own keys. Ingest
//! runs the rules' selection once, as one process does, and publishes each selected event straight to
//! where its rules run: the events subject of its partition (`<prefix>.events.<partition>.<ingest>`)
//! and the re-key subject of each re-keyed rule's partition (`<prefix>.rekey.<partition>.<ingest>`),
//! with the selections. Events no rule selects are not published.
//!
//! Every subject has one writer at a time, which publishes with the stream's expected last sequence
//! for the subject: a message lost in flight makes the next one fail rather than be stored after a
//! gap, and a writer that starts (again) reads the subject's last message to learn what it already
//! published. Events carry their input's sequence number, so a unit also skips what it has seen.
//!
//! In reading order: `frame.rs` (the message layout), `nats.rs` (connection, streams, consumers,
//! membership, the publishing of one subject).

pub mod frame;
#[cfg(feature = "nats")]
pub mod nats;

pub use frame::{event_bytes, shared, Encoded, Frame, FrameError, Framed, Indices, Mark};
#[cfg(feature = "nats")]
pub use nats::{
    Bus, BusError, BusSettings, Chain, Consumer, ConsumerInfo, Delivery, Last, Published,
    StreamState, Subject,
};
