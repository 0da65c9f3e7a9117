//! What every request shares: the configuration, the roles, the audit key, and a pool of store
//! connections on which the synchronous service layer runs (on tokio's blocking threads, never on the
//! threads that serve connections).

use std::sync::{Arc, Mutex};

use secops_auth::Roles;
use secops_service::users::SessionPolicy;
use secops_service::Clock;
use secops_store::{AuditKey, Auditor, Store};
use tokio::sync::Semaphore;

use crate::error::ApiError;

/// How the server runs.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The store: a SQLite path or a `postgres://` URL.
    pub store: String,
    pub audit_key: AuditKey,
    pub roles: Roles,
    pub sessions: SessionPolicy,
    /// Session cookies marked `Secure` (the server speaks TLS, or a proxy in front of it does).
    pub secure_cookies: bool,
    /// Largest request body accepted (bytes).
    pub body_limit: usize,
    /// A request's whole time limit.
    pub request_timeout: std::time::Duration,
    /// Store connections at once (and so service calls at once).
    pub connections: usize,
    /// A JSON line per request on standard error.
    pub access_log: bool,
    /// The rules the rules routes show (none: the bundled pack), loaded at their first request.
    pub rules: secops_service::ruleset::RuleSelection,
    /// The folder rule tests' `corpus = "shared/..."` paths start from.
    pub data_root: std::path::PathBuf,
    /// The ATT&CK Enterprise STIX bundle (or a folder holding it) the coverage layer needs.
    pub attack: Option<std::path::PathBuf>,
    /// The event lake hunts read (a folder or `s3://bucket/prefix`); none: hunts read only the
    /// store's tables.
    pub lake: Option<String>,
    /// Hunts running at once; a hunt beyond is refused (429) rather than queued.
    pub hunts: usize,
    /// A hunt's longest run (a request may ask for less); kept under the request's time limit.
    pub hunt_timeout: std::time::Duration,
    /// How indicators imported through the API are judged (warninglists, decay).
    pub judges: secops_service::intel::JudgeSources,
    /// Where hunt results attached to cases as evidence are written.
    pub evidence_dir: std::path::PathBuf,
    /// Response automation's configuration, secrets and never-act lists (none: runs are listed
    /// and decided, but nothing is requested, rolled back or replayed here).
    pub respond: Option<secops_service::respond::ResponderSources>,
}

impl Settings {
    /// The defaults for a store: 1 MiB bodies, 30 s per request, 8 connections, 30 minutes idle and
    /// 12 hours at most per session, an access log.
    pub fn new(store: String, audit_key: AuditKey, roles: Roles) -> Settings {
        Settings {
            store,
            audit_key,
            roles,
            sessions: SessionPolicy::default(),
            secure_cookies: false,
            body_limit: 1 << 20,
            request_timeout: std::time::Duration::from_secs(30),
            connections: 8,
            access_log: true,
            rules: secops_service::ruleset::RuleSelection::default(),
            data_root: std::path::PathBuf::from(".."),
            attack: None,
            lake: None,
            hunts: 2,
            hunt_timeout: std::time::Duration::from_secs(25),
            judges: secops_service::intel::JudgeSources::default(),
            evidence_dir: std::path::PathBuf::from("evidence"),
            respond: None,
        }
    }

    /// A hunt's time limit: what was asked (else the server's), under the request's own limit.
    pub fn hunt_limit(&self, asked: Option<std::time::Duration>) -> std::time::Duration {
        let most = self
            .hunt_timeout
            .min(
                self.request_timeout
                    .saturating_sub(std::time::Duration::from_secs(1)),
            )
            .max(std::time::Duration::from_secs(1));
        asked.map_or(most, |a| a.min(most))
    }
}

/// The state handlers see.
#[derive(Debug, Clone)]
pub struct AppState {
    pub settings: Arc<Settings>,
    pub clock: Arc<dyn Clock>,
    pub pool: Pool,
    /// Each route's permission, read from the OpenAPI document (`None`: public).
    pub permissions: Arc<crate::permissions::RoutePermissions>,
    pub playbooks: Arc<secops_case::playbook::Playbooks>,
    /// The rules, loaded at the first request that needs them.
    pub rules: Arc<tokio::sync::OnceCell<Arc<crate::api::rules::Rules>>>,
    /// ATT&CK, loaded at the first request that needs it.
    pub attack: Arc<tokio::sync::OnceCell<Arc<secops_attack::Catalogue>>>,
    /// A permit per hunt that may run at once.
    pub hunt_slots: Arc<Semaphore>,
    pub judges: Arc<secops_service::intel::Judges>,
    /// Response automation, when configured.
    pub responder: Option<Arc<secops_service::respond::Responder>>,
}

impl AppState {
    pub fn now(&self) -> i64 {
        self.clock.now().unix_nanos()
    }
}

/// Store connections, opened as needed up to a limit and kept for reuse.
#[derive(Debug, Clone)]
pub struct Pool {
    target: Arc<str>,
    idle: Arc<Mutex<Idle>>,
    limit: Arc<Semaphore>,
}

/// The connections not in use. The PostgreSQL client blocks when it closes, which a runtime's
/// thread may not do: they are closed on a thread of their own.
#[derive(Debug, Default)]
struct Idle(Vec<Store>);

impl Drop for Idle {
    fn drop(&mut self) {
        let stores = std::mem::take(&mut self.0);
        if stores.is_empty() {
            return;
        }
        if let Ok(closing) = std::thread::Builder::new()
            .name("secops-store-close".into())
            .spawn(move || drop(stores))
        {
            let _ = closing.join();
        }
    }
}

impl Pool {
    pub fn new(target: &str, connections: usize) -> Pool {
        Pool {
            target: target.into(),
            idle: Arc::new(Mutex::new(Idle::default())),
            limit: Arc::new(Semaphore::new(connections.max(1))),
        }
    }

    /// Runs `work` on a blocking thread with a store connection, its changes audited as `auditor`.
    /// A connection whose work failed on the database is dropped rather than reused.
    pub async fn run<T, F>(&self, auditor: Option<Auditor>, work: F) -> Result<T, ApiError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Store) -> Result<T, ApiError> + Send + 'static,
    {
        let permit = self
            .limit
            .clone()
            .acquire_owned()
            .await
            .map_err(ApiError::internal)?;
        let pool = self.clone();
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            let idle = pool.idle.lock().ok().and_then(|mut idle| idle.0.pop());
            let mut store = match idle {
                Some(store) => store,
                None => Store::open(&pool.target).map_err(ApiError::internal)?,
            };
            store.set_auditor(auditor);
            let out = work(&mut store);
            store.set_auditor(None);
            let healthy = !matches!(&out, Err(e) if e.code == "internal");
            if healthy {
                if let Ok(mut idle) = pool.idle.lock() {
                    idle.0.push(store);
                }
            }
            out
        })
        .await
        .map_err(ApiError::internal)?
    }
}
