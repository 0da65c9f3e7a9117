//! Response automation in `secops run` (`[respond]`): on a thread of its own with its own store
//! connection, every `every_seconds` the alerts recorded since the last round, and the cases moved
//! along their lifecycle since, are evaluated (its first start begins with what comes next: turning
//! automation on never acts on a store's past) against the response workflows (the evaluator's place
//! kept in the store); then what is due is carried out: approved and queued runs, inverse runs for
//! holds that ended, requests nobody approved in time expired. At the start, runs a stopped process
//! left mid-run are recovered first (sent again through a connector whose receiver dedupes, failed
//! with why otherwise): this process is the one that runs responses for its store. A round that
//! fails is logged and tried again at the next; the configuration is read once, at the start, and
//! refused then if wrong.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use secops_service::respond::{self, FirstLook, Recover, Responder, ResponderSources};
use secops_service::{Actor, Cancel, SystemClock};

use crate::config::RespondConfig;
use crate::log;
use crate::runner::{Reopen, RunError};

fn beside(config_path: &Path, path: &Path) -> std::path::PathBuf {
    if path.is_absolute() {
        path.to_path_buf()
    } else {
        config_path.parent().unwrap_or(Path::new(".")).join(path)
    }
}

/// Reads the response configuration (refused now, not at the first round) and starts the thread.
pub fn start(
    config: &RespondConfig,
    config_path: &Path,
    reopen: Reopen,
    stop: Arc<AtomicBool>,
) -> Result<std::thread::JoinHandle<()>, RunError> {
    let responder = Responder::load(&ResponderSources {
        config: beside(config_path, &config.config),
        secrets: config.secrets.as_ref().map(|p| beside(config_path, p)),
        warninglists: config.warninglists.as_ref().map(|p| beside(config_path, p)),
        inventory: config
            .inventory
            .iter()
            .map(|p| beside(config_path, p))
            .collect(),
    })
    .map_err(|e| RunError::Other(format!("[respond]: {e}")))?;
    for (connector, secret) in responder.missing_secrets() {
        log::line(
            "warning",
            "respond",
            "config",
            &format!("connector {connector}: secret {secret:?} is not in the secrets file"),
            0,
        );
    }
    let every = Duration::from_secs(config.every_seconds.max(1));
    std::thread::Builder::new()
        .name("respond".into())
        .spawn(move || {
            let mut store = match reopen() {
                Ok(store) => store,
                Err(e) => {
                    log::line("error", "respond", "store", &format!("no store: {e}"), 0);
                    return;
                }
            };
            if let Ok(None) = store.response_cursor_if_any("respond-run") {
                log::info(
                    "respond",
                    "first start of response automation on this store: alerts recorded from now \
                     on are evaluated, earlier ones are not acted on",
                );
            }
            let actor = Actor::service("secops-run");
            let cancel = Cancel::new();
            let mut recover = Recover::All;
            let mut next = Instant::now();
            while !stop.load(Ordering::SeqCst) {
                if Instant::now() >= next {
                    next = Instant::now() + every;
                    round(&mut store, &responder, recover, &actor, &cancel);
                    recover = Recover::Stale;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        })
        .map_err(|e| RunError::Other(format!("starting response automation: {e}")))
}

fn round(
    store: &mut secops_store::Store,
    responder: &Responder,
    recover: Recover,
    actor: &Actor,
    cancel: &Cancel,
) {
    let warn = |what: &str, e: &dyn std::fmt::Display| {
        log::line(
            "warning",
            "respond",
            what,
            &format!("{e} (tried again at the next round)"),
            0,
        )
    };
    match respond::evaluate_new_alerts(
        store,
        responder,
        "respond-run",
        FirstLook::Newest,
        actor,
        &SystemClock,
        cancel,
    ) {
        Ok((0, _)) => {}
        Ok((read, evaluated)) => {
            let fired = evaluated.iter().filter(|e| e.outcome == "fired").count();
            let waiting = evaluated
                .iter()
                .filter(|e| e.outcome == "awaiting_approval")
                .count();
            let stopped = evaluated.iter().filter(|e| e.outcome == "stopped").count();
            log::info(
                "respond",
                &format!(
                    "{read} alert(s) evaluated: {fired} run(s) queued, {waiting} awaiting approval, \
                     {stopped} stopped by a guard"
                ),
            );
        }
        Err(e) => warn("evaluate", &e),
    }
    match respond::evaluate_case_moves(store, responder, "respond-run", actor, &SystemClock) {
        Ok(evaluated) if !evaluated.is_empty() => {
            let fired = evaluated.iter().filter(|e| e.outcome == "fired").count();
            log::info(
                "respond",
                &format!(
                    "cases moved: {} evaluation(s), {fired} run(s) queued",
                    evaluated.len()
                ),
            );
        }
        Ok(_) => {}
        Err(e) => warn("cases", &e),
    }
    match respond::tick(store, responder, recover, actor, &SystemClock, cancel) {
        Ok(t) => {
            for run in &t.recovered {
                log::info(
                    "respond",
                    &format!("run {} was cut off mid-run: now {}", run.id, run.state),
                );
            }
            for run in &t.ran {
                log::info(
                    "respond",
                    &format!(
                        "run {} {} {} on {} {}: {}",
                        run.id,
                        run.action_id,
                        run.operation,
                        run.target_kind,
                        run.target,
                        run.state
                    ),
                );
            }
            for run in &t.expired {
                log::info(
                    "respond",
                    &format!("run {} expired: nobody approved it in time", run.id),
                );
            }
            for e in &t.errors {
                log::line("warning", "respond", "run", e, 0);
            }
        }
        Err(e) => warn("tick", &e),
    }
}
