//! Detection spread over processes on NATS JetStream (DESIGN section 6). Ingest publishes framed,
//! compressed batches of normalized events to one subject per partition of a key field (the host by
//! default) and ingest process: `<prefix>.events.<partition>.<ingest>`. Workers own units: an events
//! unit per partition (the rules whose every group lies within a partition: see
//! `secops_detect::Placement`) and a re-key unit per partition, where the events re-keyed rules
//! select arrive from every events unit (`<prefix>.rekey.<partition>.<source partition>`) and are
//! merged back into the order ingest read them before the rules see them.
//!
//! Every subject has one writer at a time, which publishes with the stream's expected last sequence
//! for the subject: a message lost in flight makes the next one fail rather than be stored after a
//! gap, and a writer that starts (again) reads the subject's last message to learn what it already
//! published. Events carry their input's sequence number, so a unit also skips what it has seen.
//!
//! In reading order: `frame.rs` (the message layout), `merge.rs` (re-keyed events back in input
//! order), `nats.rs` (connection, streams, consumers, membership, the publishing of one subject).

pub mod frame;
pub mod merge;
#[cfg(feature = "nats")]
pub mod nats;

pub use frame::{Frame, FrameError, Framed, Mark, Source};
pub use merge::Merge;
#[cfg(feature = "nats")]
pub use nats::{
    Bus, BusError, BusSettings, Chain, Consumer, ConsumerInfo, Delivery, Last, Published,
    StreamState, Subject,
};
