//! `secops run --config FILE`: listeners, followed files and continuous detection in one process (see
//! the secops-live crate and `docs/run.md`); `secops status`: what a running process last reported.

use std::path::PathBuf;

use secops_live::{Config, Status};
use secops_service::Actor;

use crate::output::{cell, safe};
use crate::store::StoreArgs;
use crate::Outcome;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The run's TOML file (see docs/run.md; etc/secops.example.toml is a start).
    #[arg(long)]
    config: PathBuf,
    /// Drop the saved checkpoint and journals first: followed files are read from their beginnings.
    #[arg(long)]
    reset: bool,
    /// Check the file and exit.
    #[arg(long)]
    check: bool,
}

fn store_args(config: &Config, config_path: &std::path::Path) -> StoreArgs {
    let beside = |p: &PathBuf| {
        if p.is_absolute() {
            p.clone()
        } else {
            config_path
                .parent()
                .unwrap_or(std::path::Path::new("."))
                .join(p)
        }
    };
    StoreArgs {
        db: config.store.db.as_ref().map(beside),
        database_url: config.store.database_url.clone(),
        audit_key: config
            .store
            .audit_key
            .as_ref()
            .map(|k| beside(&PathBuf::from(k))),
    }
}

pub fn run(args: Args) -> anyhow::Result<Outcome> {
    let mut config = Config::load(&args.config)?;
    let store_args = store_args(&config, &args.config);
    if args.check {
        println!(
            "{}: {} listener(s), store {}",
            safe(&args.config.display().to_string()),
            config.listen.len(),
            safe(&store_args.target())
        );
        return Ok(Outcome::Clean);
    }
    // The store's path as the run opens it (the HTTP listener opens it again for its keys).
    config.store.db = store_args.db.clone();
    let store = store_args.open_as(&Actor::service("run"))?;
    // The API and the console, as `secops serve` runs them, beside the listeners.
    let server = match &config.server {
        None => None,
        Some(server) => {
            let beside = |p: &PathBuf| {
                if p.is_absolute() {
                    p.clone()
                } else {
                    args.config
                        .parent()
                        .unwrap_or(std::path::Path::new("."))
                        .join(p)
                }
            };
            let tls = match (&server.certificate, &server.key) {
                (Some(certificate), Some(key)) => Some(secops_server::TlsFiles {
                    certificate: beside(certificate),
                    key: beside(key),
                }),
                _ => None,
            };
            let mut settings = secops_server::Settings::new(
                store_args.target(),
                store_args.audit_key()?,
                secops_auth::Roles::built_in(),
            );
            settings.secure_cookies = tls.is_some() || server.behind_proxy;
            settings.rules = secops_service::ruleset::RuleSelection {
                rules: config.rules.paths.iter().map(beside).collect(),
                ..Default::default()
            };
            settings.judges.warninglists = config.rules.warninglists.as_ref().map(beside);
            settings.lake = server.lake.clone();
            settings.evidence_dir = server
                .evidence_dir
                .as_ref()
                .map(beside)
                .unwrap_or_else(|| beside(&PathBuf::from("evidence")));
            let app =
                secops_server::app(settings, std::sync::Arc::new(secops_service::SystemClock))?;
            let background = secops_server::spawn(app, server.address, tls)?;
            eprintln!("secops run: server listening {}", background.address);
            Some(background)
        }
    };
    let reopen_args = store_args.clone();
    let control = secops_live::Control {
        reopen: Some(std::sync::Arc::new(move || {
            reopen_args
                .open_as(&Actor::service("run"))
                .map_err(|e| format!("{e:#}"))
        })),
        ..Default::default()
    };
    let report = secops_live::run(
        &config,
        &args.config,
        store,
        args.reset,
        &control,
        &mut |bound| {
            for b in bound {
                let address = b.address.map(|a| a.to_string()).unwrap_or_default();
                eprintln!("secops run: {} listening {}", safe(&b.name), safe(&address));
            }
        },
    )?;
    if let Some(server) = server {
        server.stop()?;
    }
    eprintln!(
        "secops run: stopped after {} events, {} alerts, {} commits",
        report.events, report.alerts, report.commits
    );
    Ok(Outcome::Clean)
}

#[derive(Debug, clap::Args)]
pub struct WorkerArgs {
    /// The TOML file `secops run` reads (its `[store]`, `[rules]`, `[engine]` and `[bus]`).
    #[arg(long)]
    config: PathBuf,
    /// This worker's name among the live workers (default: the host's name and the process id).
    #[arg(long)]
    id: Option<String>,
}

pub fn worker(args: WorkerArgs) -> anyhow::Result<Outcome> {
    let config = Config::load(&args.config)?;
    let store_args = store_args(&config, &args.config);
    let store = store_args.open_as(&Actor::service("worker"))?;
    let id = match args.id {
        Some(id) => id,
        None => {
            let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
                .map(|h| h.trim().to_string())
                .unwrap_or_else(|_| "worker".into());
            format!("{host}-{}", std::process::id())
        }
    };
    if !id
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        || id.is_empty()
    {
        anyhow::bail!("--id {:?}: letters, digits, - and _ only", safe(&id));
    }
    eprintln!("secops worker {}: starting", safe(&id));
    let control = secops_live::Control::default();
    let report = secops_live::worker::work(&config, &args.config, store, &id, &control)?;
    eprintln!(
        "secops worker {}: stopped after {} events, {} alerts, {} commits, {} units taken on",
        safe(&id),
        report.events,
        report.alerts,
        report.commits,
        report.claims
    );
    Ok(Outcome::Clean)
}

#[derive(Debug, clap::Args)]
pub struct StatusArgs {
    /// The run's TOML file (its state folder holds the status).
    #[arg(long, required_unless_present = "state")]
    config: Option<PathBuf>,
    /// The state folder itself.
    #[arg(long)]
    state: Option<PathBuf>,
    /// Print the status as JSON.
    #[arg(long)]
    json: bool,
}

pub fn status(args: StatusArgs) -> anyhow::Result<Outcome> {
    let state = match (&args.state, &args.config) {
        (Some(state), _) => state.clone(),
        (None, Some(config_path)) => Config::load(config_path)?.state_dir(config_path),
        (None, None) => anyhow::bail!("give --config or --state"),
    };
    let status = secops_live::read_status(&state).map_err(anyhow::Error::msg)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&status)?);
        return Ok(Outcome::Clean);
    }
    print!(
        "{}",
        render(&status, secops_event::Timestamp::now().unix_nanos())
    );
    Ok(Outcome::Clean)
}

/// What `secops status` prints (log text never appears: names come from the config, escaped all the
/// same).
pub fn render(status: &Status, now: i64) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let age = (now - status.written_at) as f64 / 1e9;
    let running = std::path::Path::new(&format!("/proc/{}", status.pid)).exists() && age < 10.0;
    let _ = writeln!(
        out,
        "{}  pid {}  {}  status of {}",
        safe(&status.name),
        status.pid,
        if running { "running" } else { "not running" },
        secops_event::Timestamp::from_unix_nanos(status.written_at).to_rfc3339()
    );
    let ms = |v: Option<u64>| v.map_or("-".to_string(), |v| format!("{v} ms"));
    let _ = writeln!(
        out,
        "engine   {} events ({:.0}/s), {} late, {} alerts; checkpoint {:.1}s old ({} bytes, {} commits, {} failed); ingest-to-alert p50 {} p99 {} ({} alerts)",
        status.events,
        status.events_per_second,
        status.late,
        status.alerts,
        status.checkpoint_age_seconds,
        status.checkpoint_bytes,
        status.commits,
        status.commit_failures,
        ms(status.latency_p50_ms),
        ms(status.latency_p99_ms),
        status.latency_samples
    );
    let _ = writeln!(
        out,
        "{} {} {:>12} {:>10} {:>12} {:>10} {:>9} {:>9} {:>12} {:>6}",
        cell("source", 32),
        cell("kind", 10),
        "received",
        "per sec",
        "events",
        "rejected",
        "dropped",
        "refused",
        "spool bytes",
        "conns"
    );
    for s in &status.sources {
        let dropped = s.dropped_full + s.dropped_eps + s.kernel_drops;
        let refused =
            s.oversize + s.malformed + s.refused_senders + s.connections_refused + s.items_refused;
        let _ = writeln!(
            out,
            "{} {} {:>12} {:>10.0} {:>12} {:>10} {:>9} {:>9} {:>12} {:>6}",
            cell(&s.name, 32),
            cell(&s.kind, 10),
            s.received,
            s.received_per_second,
            s.events,
            s.rejected,
            dropped,
            refused,
            s.spool_bytes,
            s.connections_open
        );
    }
    out
}
