//! Scheduled hunts in `secops run`: each `[[hunt]]` of the hunt library run over the lake every so
//! often, as `secops hunt schedule --once` runs it (each row an alert, recorded once; the range from
//! where its last run ended, so downtime leaves no gap), on a thread of its own with its own store
//! connection, the first time once the lake's first flush is done. A hunt that fails is logged and
//! tried again at its next time.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use secops_event::Timestamp;
use secops_service::hunt_library::Library;
use secops_service::hunt_schedule::{run_once, ScheduleOptions};

use crate::config::HuntConfig;
use crate::log;
use crate::runner::{Reopen, RunError};

/// Starts the schedule; the hunts are found in the bundled library first (an unknown one is an error).
pub fn start(
    hunts: &[HuntConfig],
    lake: &str,
    store_target: &str,
    reopen: Reopen,
    stop: Arc<AtomicBool>,
    first_after: Duration,
) -> Result<std::thread::JoinHandle<()>, RunError> {
    let library = Library::load(&[])?;
    let mut due = Vec::new();
    for hunt in hunts {
        library.find(&hunt.name)?;
        let look_back: secops_rules::Duration = hunt
            .look_back
            .parse()
            .map_err(|e| RunError::Other(format!("[[hunt]] {}: look_back: {e}", hunt.name)))?;
        // The first runs once the lake has been written to.
        due.push((hunt.clone(), look_back, Instant::now() + first_after));
    }
    let (lake, target) = (lake.to_string(), store_target.to_string());
    std::thread::Builder::new()
        .name("hunts".into())
        .spawn(move || {
            let mut store = match reopen() {
                Ok(store) => store,
                Err(e) => {
                    log::line("error", "hunts", "hunt", &format!("no store: {e}"), 0);
                    return;
                }
            };
            while !stop.load(Ordering::SeqCst) {
                for (hunt, look_back, next) in &mut due {
                    if Instant::now() < *next {
                        continue;
                    }
                    *next = Instant::now() + Duration::from_secs(hunt.every_minutes.max(1) * 60);
                    let Ok(entry) = library.find(&hunt.name) else {
                        continue;
                    };
                    let options = ScheduleOptions {
                        query: hunt.number.saturating_sub(1),
                        now: Timestamp::now(),
                        look_back: i64::try_from(look_back.as_nanos()).unwrap_or(i64::MAX),
                        from: None,
                        lake: lake.clone(),
                        store: target.clone(),
                        actor: "run".into(),
                        max_rows: hunt.max_rows,
                    };
                    match run_once(entry, &options, &mut store) {
                        Ok(run) if run.nothing_due => {}
                        Ok(run) => log::info(
                            "hunts",
                            &format!(
                                "{}: {} to {}: {} row(s), {} new alert(s), {} already raised{}",
                                entry.file.hunt.name,
                                run.from.to_rfc3339(),
                                run.to.to_rfc3339(),
                                run.rows,
                                run.new_alerts,
                                run.repeats,
                                if run.capped {
                                    " (capped at max_rows)"
                                } else {
                                    ""
                                }
                            ),
                        ),
                        Err(e) => log::line(
                            "warning",
                            "hunts",
                            "hunt",
                            &format!(
                                "{}: {e} (tried again at its next time)",
                                entry.file.hunt.name
                            ),
                            0,
                        ),
                    }
                }
                std::thread::sleep(Duration::from_millis(500));
            }
        })
        .map_err(|e| RunError::Other(format!("starting the hunt schedule: {e}")))
}
