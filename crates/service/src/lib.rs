//! Every operation a user can invoke, over the domain crates: typed options in, typed results out,
//! nothing printed. The command line, the server and the workers call these functions; none of them
//! re-implements an operation.
//!
//! The contract every interface relies on:
//! - mutating operations take an [`Actor`] (who acts) and record it;
//! - the time comes from a [`Clock`], so tests and replays pin it;
//! - long operations take a [`Cancel`] token and report through a [`Progress`];
//! - the service is synchronous: a server calls it from a blocking pool (the PostgreSQL client blocks).
//!
//! In reading order: `context.rs` (actor, clock, cancellation, progress), `error.rs`, `ruleset.rs`
//! (which rules run: the bundled pack or folders), `pipeline.rs` (the streaming detection pipeline over
//! inputs), `record.rs` (alerts into the store), `alerts.rs` (stored alerts paged, acknowledged, closed), `intel.rs`
//! (judging indicators, the indicator set, sightings), `feeds.rs` (indicators into the store from
//! files, URLs and TAXII), `retro_hunt.rs` (old logs searched for new indicators), `cases.rs` (cases
//! and the work on them), `detect.rs` (detection as one operation).
//!
//! ```no_run
//! use secops_service::detect::{detect, Context, DetectRequest, Observer};
//! use secops_service::intel::{JudgeSources, Judges};
//! use secops_service::{Actor, Cancel, NoProgress, SystemClock};
//!
//! struct Quiet;
//! impl Observer for Quiet {}
//!
//! let request = DetectRequest { paths: vec!["samples".into()], ..DetectRequest::default() };
//! let judges = Judges::load(&JudgeSources::default())?;
//! let context = Context {
//!     store: None,
//!     judges: &judges,
//!     actor: &Actor::user("alice"),
//!     clock: &SystemClock,
//!     cancel: &Cancel::new(),
//! };
//! let report = detect(&request, context, &mut Quiet, &NoProgress)?;
//! println!("{} alerts from {} events", report.alerts, report.events);
//! # Ok::<(), secops_service::ServiceError>(())
//! ```

mod context;
mod error;

pub mod alerts;
pub mod cases;
pub mod detect;
pub mod entities;
pub mod feeds;
pub mod hunt;
pub mod hunt_evidence;
pub mod hunt_library;
pub mod hunt_promote;
pub mod hunt_schedule;
pub mod hunt_sigma;
pub mod hunt_tables;
pub mod intel;
pub mod lake;
pub mod live;
pub mod pipeline;
pub mod record;
pub mod respond;
pub mod retro_hunt;
pub mod risk;
pub mod rules;
pub mod ruleset;
mod spill;
pub mod users;
pub mod vuln_refresh;
pub mod vuln_report;
pub mod vulns;

pub use context::{Actor, ActorKind, Cancel, Clock, FixedClock, NoProgress, Progress, SystemClock};
pub use error::ServiceError;
