//! `secops run`: continuous detection in one process. Listeners (syslog over UDP, TCP and TLS; HTTP
//! ingest) write what they receive to a journal per listener, on disk before anything else happens to
//! it; followed files are read where they are. One engine thread reads the journals and files, parses
//! records with the ingest crate's parsers (the events `secops ingest` makes of the same lines), runs
//! the rules through the service's [`secops_service::live::Session`], and commits: the alerts raised
//! since the last commit, with a checkpoint of the rules' state and every input's position, in one
//! store transaction. Killed anywhere, it restarts from the last commit and gives exactly the alerts an
//! uninterrupted run would.
//!
//! In reading order: `config.rs` (the TOML file), `framing.rs` (RFC 6587), `journal.rs` (the spool),
//! `listen.rs` and `tls.rs` (the sockets), `http.rs` (JSON lines and Elasticsearch `_bulk`),
//! `inputs.rs` (journals and followed files as the engine reads them), `runner.rs` (the engine loop,
//! commits, the lake's writer, stopping), `hunts.rs` (scheduled hunts), `vuln_sla.rs` (findings past
//! their deadline raising alerts), `respond.rs` (response automation), `metrics.rs` (status and Prometheus), `log.rs`.

pub mod config;
pub mod framing;
pub mod http;
pub mod hunts;
pub mod inputs;
pub mod journal;
pub mod listen;
pub mod log;
pub mod metrics;
pub mod publish;
pub mod respond;
pub mod runner;
pub mod tls;
pub mod vuln_sla;
pub mod worker;

pub use config::{Config, ConfigError};
pub use metrics::Status;
pub use runner::{read_status, run, Bound, Control, Reopen, RunError, RunReport};
