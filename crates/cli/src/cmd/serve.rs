//! `secops serve`: the HTTP API (see the secops-server crate) on the store the other commands use.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use crate::cmd::users::RolesArgs;
use crate::store::StoreArgs;
use crate::Outcome;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    #[command(flatten)]
    store: StoreArgs,
    #[command(flatten)]
    roles: RolesArgs,
    /// A PEM certificate chain: serve HTTPS (with --tls-key).
    #[arg(long, requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// The PEM private key of --tls-cert.
    #[arg(long, requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// A TLS-terminating proxy is in front: listening beyond loopback without --tls-cert is
    /// allowed, and session cookies are marked Secure.
    #[arg(long)]
    behind_proxy: bool,
    /// A session ends after this long without a request.
    #[arg(long, default_value = "30m")]
    session_idle: String,
    /// A session ends this long after sign-in, whatever happens.
    #[arg(long, default_value = "12h")]
    session_max: String,
    /// Largest request body accepted, in bytes.
    #[arg(long, default_value_t = 1 << 20)]
    body_limit: usize,
    /// A request's time limit, in seconds.
    #[arg(long, default_value_t = 30)]
    timeout: u64,
    /// Store connections at once.
    #[arg(long, default_value_t = 8)]
    connections: usize,
    /// No access log on standard error.
    #[arg(long)]
    no_access_log: bool,
    /// The rules the rules routes show and test (default: the bundled pack).
    #[command(flatten)]
    rules: crate::args::RuleArgs,
    /// The folder rule tests' `corpus = "shared/..."` paths start from.
    #[arg(long = "data-root", default_value = "..")]
    data_root: PathBuf,
    #[command(flatten)]
    attack: crate::cmd::coverage::AttackArgs,
    #[command(flatten)]
    judges: crate::args::JudgeArgs,
    /// The event lake hunts read (a folder or `s3://bucket/prefix`, written by `ingest --lake`).
    #[arg(long, value_name = "DIR|S3_URL")]
    lake: Option<String>,
    /// Hunts running at once (one more is refused with 429, not queued).
    #[arg(long, default_value_t = 2)]
    hunts: usize,
    /// A hunt's longest run, in seconds (kept under --timeout).
    #[arg(long = "hunt-timeout", default_value_t = 25)]
    hunt_timeout: u64,

    /// Where hunt results attached to cases are written (`case-<n>/` below it; default
    /// `$SECOPS_EVIDENCE`, else `evidence`).
    #[arg(long, value_name = "DIR")]
    evidence_dir: Option<PathBuf>,
    /// Response automation's configuration (a TOML file or folder): with it, actions are requested,
    /// rolled back and replayed here (`secops run` with `[respond]` carries runs out).
    #[arg(long, value_name = "FILE|DIR")]
    respond_config: Option<PathBuf>,
    /// The response connectors' secrets (only its owner may read it).
    #[arg(long, value_name = "FILE", requires = "respond_config")]
    respond_secrets: Option<PathBuf>,
    /// The asset and identity inventory the response guards keep out of reach.
    #[arg(long, value_name = "FILE", requires = "respond_config")]
    respond_inventory: Vec<PathBuf>,
    /// Print every route with the permission it needs, and exit.
    #[arg(long)]
    routes: bool,
    /// Print the OpenAPI document, and exit.
    #[arg(long)]
    openapi: bool,
}

fn nanos(option: &str, text: &str) -> anyhow::Result<i64> {
    let d: secops_rules::Duration = text
        .parse()
        .map_err(|e| anyhow::anyhow!("--{option}: {e}"))?;
    Ok(i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
}

pub fn run(args: Args) -> anyhow::Result<Outcome> {
    if args.openapi {
        println!("{}", secops_server::doc::document_text());
        return Ok(Outcome::Clean);
    }
    if args.routes {
        let routes = secops_server::route_permissions(&secops_server::console::pages())?;
        for (method, path, access) in routes.all() {
            let access = match access {
                secops_server::permissions::Access::Public => "public".to_string(),
                secops_server::permissions::Access::SignedIn => "signed in".to_string(),
                secops_server::permissions::Access::Needs(p) => p.to_string(),
            };
            println!("{method:<7}{path:<36}{access}");
        }
        return Ok(Outcome::Clean);
    }
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(certificate), Some(key)) => Some(secops_server::TlsFiles {
            certificate: certificate.clone(),
            key: key.clone(),
        }),
        _ => None,
    };
    if tls.is_none() && !args.listen.ip().is_loopback() && !args.behind_proxy {
        anyhow::bail!(
            "--listen {}: beyond loopback the server needs --tls-cert and --tls-key, or \
             --behind-proxy when a TLS-terminating proxy is in front",
            args.listen
        );
    }
    let roles = args.roles.load()?;
    let target = args.store.target();
    // Opened once here: a store that cannot be opened or migrated is an error before listening.
    args.store.open()?;
    let mut settings = secops_server::Settings::new(target.clone(), args.store.audit_key()?, roles);
    settings.sessions = secops_service::users::SessionPolicy {
        idle: nanos("session-idle", &args.session_idle)?,
        absolute: nanos("session-max", &args.session_max)?,
    };
    settings.secure_cookies = tls.is_some() || args.behind_proxy;
    settings.body_limit = args.body_limit;
    settings.request_timeout = std::time::Duration::from_secs(args.timeout.max(1));
    settings.connections = args.connections.max(1);
    settings.access_log = !args.no_access_log;
    settings.rules = args.rules.selection();
    settings.data_root = args.data_root.clone();
    settings.attack = args.attack.path();
    settings.judges = args.judges.sources();
    settings.lake = args.lake.clone();
    settings.evidence_dir = args
        .evidence_dir
        .clone()
        .or_else(|| std::env::var_os("SECOPS_EVIDENCE").map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from("evidence"));
    settings.respond =
        args.respond_config
            .clone()
            .map(|config| secops_service::respond::ResponderSources {
                config,
                secrets: args.respond_secrets.clone(),
                warninglists: settings.judges.warninglists.clone(),
                inventory: args.respond_inventory.clone(),
            });
    settings.hunts = args.hunts.max(1);
    settings.hunt_timeout = std::time::Duration::from_secs(args.hunt_timeout.max(1));
    let scheme = if tls.is_some() { "https" } else { "http" };
    let app = secops_server::app(settings, Arc::new(secops_service::SystemClock))?;
    secops_server::run(app, args.listen, tls, |bound| {
        secops_server::log::info(&format!(
            "secops serve: listening on {scheme}://{bound} (the API under /api/v1; its document at /api/v1/openapi.json)"
        ));
    })?;
    secops_server::log::info("secops serve: stopped");
    Ok(Outcome::Clean)
}
