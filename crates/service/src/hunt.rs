//! Hunts: a query of the hunt language over the event lake, its rows written as they come.

use std::io::Write;
use std::path::Path;

pub use secops_hunt::{Output, RunStats};

use crate::ServiceError;

/// Runs `query` over the lake at `lake`, `now()` meaning `now` (nanoseconds, UTC).
pub fn run(
    query: &str,
    lake: &Path,
    now: secops_event::Timestamp,
    output: Output,
    out: &mut dyn Write,
) -> Result<RunStats, ServiceError> {
    let planning = secops_hunt::Planning {
        now: now.unix_nanos(),
    };
    Ok(secops_hunt::run(query, lake, &planning, output, out)?)
}
