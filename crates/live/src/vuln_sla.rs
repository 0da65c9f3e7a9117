//! Vulnerability deadlines watched in `secops run` (`[vuln]`): every so often, each open finding
//! past its remediation deadline raises an alert of the `secops-vuln-sla-breach` rule (once per
//! finding and deadline, as `secops vuln sla --raise` does), on a thread of its own with its own
//! store connection; the first time right after the start. A round that fails is logged and tried
//! again at the next.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use secops_service::{Actor, SystemClock};

use crate::config::VulnConfig;
use crate::log;
use crate::runner::{Reopen, RunError};

/// Starts the watch.
pub fn start(
    config: &VulnConfig,
    reopen: Reopen,
    stop: Arc<AtomicBool>,
) -> Result<std::thread::JoinHandle<()>, RunError> {
    let every = Duration::from_secs(config.sla_every_minutes.max(1) * 60);
    std::thread::Builder::new()
        .name("vuln-sla".into())
        .spawn(move || {
            let mut store = match reopen() {
                Ok(store) => store,
                Err(e) => {
                    log::line("error", "vuln", "sla", &format!("no store: {e}"), 0);
                    return;
                }
            };
            let actor = Actor::service("run");
            let mut next = Instant::now();
            while !stop.load(Ordering::SeqCst) {
                if Instant::now() >= next {
                    next = Instant::now() + every;
                    match secops_service::vulns::raise_breaches(&mut store, &actor, &SystemClock) {
                        Ok(b) if b.overdue == 0 => {}
                        Ok(b) => log::info(
                            "vuln",
                            &format!(
                                "{} finding(s) past their deadline: {} new SLA breach alert(s), {} \
                                 raised before",
                                b.overdue, b.raised, b.known
                            ),
                        ),
                        Err(e) => log::line(
                            "warning",
                            "vuln",
                            "sla",
                            &format!("SLA breaches: {e} (tried again at the next round)"),
                            0,
                        ),
                    }
                }
                std::thread::sleep(Duration::from_millis(500));
            }
        })
        .map_err(|e| RunError::Other(format!("starting the SLA watch: {e}")))
}
