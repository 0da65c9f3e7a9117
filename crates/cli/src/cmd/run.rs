//! `secops run --config FILE`: listeners, followed files and continuous detection in one process (see
//! the secops-live crate and `docs/run.md`); `secops status`: what a running process last reported.

use std::path::PathBuf;

use secops_live::worker::BusView;
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

pub(crate) fn store_args(config: &Config, config_path: &std::path::Path) -> StoreArgs {
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
            // With `[respond]`, the server requests, rolls back and replays with the same
            // configuration the run carries runs out with.
            settings.respond =
                config
                    .respond
                    .as_ref()
                    .map(|r| secops_service::respond::ResponderSources {
                        config: beside(&r.config),
                        secrets: r.secrets.as_ref().map(beside),
                        warninglists: r.warninglists.as_ref().map(beside),
                        inventory: r.inventory.iter().map(beside).collect(),
                    });
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
    /// Serve this worker's counters for Prometheus at `/metrics` on this address (port 0 picks one;
    /// the log says which).
    #[arg(long)]
    metrics: Option<std::net::SocketAddr>,
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
    let _metrics = match args.metrics {
        Some(address) => {
            let (runtime, bound) =
                secops_live::metrics::serve_on(address, control.metrics.clone(), id.clone())
                    .map_err(|e| anyhow::anyhow!("--metrics {address}: {e}"))?;
            eprintln!(
                "secops worker {}: metrics on http://{bound}/metrics",
                safe(&id)
            );
            Some(runtime)
        }
        None => None,
    };
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
    #[arg(long, required_unless_present_any = ["state", "saved"])]
    config: Option<PathBuf>,
    /// The state folder itself.
    #[arg(long)]
    state: Option<PathBuf>,
    /// Print the status as JSON.
    #[arg(long)]
    json: bool,
    /// Show a status saved earlier with --json (attached to a ticket, say) instead of a live one.
    #[arg(long, conflicts_with_all = ["config", "state", "json"])]
    saved: Option<PathBuf>,
}

/// With `[bus]`: the ingest process's status (this machine's, if it runs here) and the bus's.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct BusReport {
    process: Option<Status>,
    bus: BusView,
}

pub fn status(args: StatusArgs) -> anyhow::Result<Outcome> {
    let now = secops_event::Timestamp::now().unix_nanos();
    if let Some(path) = &args.saved {
        let text = std::fs::read_to_string(path)
            .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        let value: serde_json::Value = serde_json::from_str(&text)
            .map_err(|e| anyhow::anyhow!("{}: not a saved status: {e}", path.display()))?;
        let shown = if value.get("bus").is_some_and(|b| b.get("units").is_some()) {
            let report: BusReport = serde_json::from_value(value)
                .map_err(|e| anyhow::anyhow!("{}: not a saved status: {e}", path.display()))?;
            render_bus(&report, now)
        } else {
            let status: Status = serde_json::from_value(value)
                .map_err(|e| anyhow::anyhow!("{}: not a saved status: {e}", path.display()))?;
            render(&status, now)
        };
        print!("{shown}");
        return Ok(Outcome::Clean);
    }
    let (state, config) = match (&args.state, &args.config) {
        (Some(state), _) => (state.clone(), None),
        (None, Some(config_path)) => {
            let config = Config::load(config_path)?;
            (config.state_dir(config_path), Some((config, config_path)))
        }
        (None, None) => anyhow::bail!("give --config or --state"),
    };
    let status = secops_live::read_status(&state);
    let bus = config.as_ref().and_then(|(c, path)| {
        c.bus
            .as_ref()
            .map(|bus| (bus, store_args(c, path), path.display().to_string()))
    });
    let Some((bus, store_args, config_name)) = bus else {
        let status = status.map_err(anyhow::Error::msg)?;
        if args.json {
            println!("{}", serde_json::to_string_pretty(&status)?);
        } else {
            print!("{}", render(&status, now));
        }
        return Ok(Outcome::Clean);
    };
    // Workers may run elsewhere: the bus and the shared store say what they do.
    let mut store = store_args.open_as(&Actor::service("status"))?;
    let view = secops_live::worker::bus_view(bus, &mut store, now)
        .map_err(|e| anyhow::anyhow!("{config_name}: {e}"))?;
    let report = BusReport {
        process: status.ok(),
        bus: view,
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", render_bus(&report, now));
    }
    Ok(Outcome::Clean)
}

/// Bytes as a person reads them.
fn megabytes(bytes: u64) -> String {
    format!("{:.1} MB", bytes as f64 / 1e6)
}

/// What `secops status` prints with `[bus]`: the ingest process here (if any), the streams, every
/// unit's owner, lag and checkpoint age, and every live worker's rates and bus overhead.
pub fn render_bus(report: &BusReport, now: i64) -> String {
    use std::fmt::Write as _;
    let mut out = match &report.process {
        Some(status) => render(status, now),
        None => "no secops run process status here (ingest may run on another machine)\n".into(),
    };
    if let Some(status) = &report.process {
        let b = &status.bus;
        if b.frames_out > 0 {
            let sent = b.published + b.forwarded;
            let per_event = if sent > 0 {
                format!("{:.0}", b.bytes_out as f64 / sent as f64)
            } else {
                "-".into()
            };
            let _ = writeln!(
                out,
                "publish  {} of {} events read to the events partitions, {} to the re-key partitions\n         {} frames, {} ({per_event} bytes an event), {} events the bus already held, {} retries; {:.1} s selecting, {:.1} s publishing, {:.1} s committing",
                b.published,
                status.events,
                b.forwarded,
                b.frames_out,
                megabytes(b.bytes_out),
                b.held,
                b.retries,
                b.rules_seconds,
                b.bus_seconds,
                b.commit_seconds
            );
        }
    }
    let v = &report.bus;
    let _ = writeln!(
        out,
        "\nbus {} on {}: {} partitions by {}; events stream {} frames ({}), re-key stream {} frames ({})",
        safe(&v.name),
        safe(&v.servers.join(", ")),
        v.partitions,
        safe(&v.key),
        v.events_stream.0,
        megabytes(v.events_stream.1),
        v.rekey_stream.0,
        megabytes(v.rekey_stream.1)
    );
    let _ = writeln!(
        out,
        "{} {} {:>9} {:>9} {:>15} {:>12}",
        cell("unit", 10),
        cell("owner", 20),
        "pending",
        "unacked",
        "checkpoint age",
        "checkpoints"
    );
    let or_dash = |v: Option<u64>| v.map_or("-".to_string(), |v| v.to_string());
    for unit in &v.units {
        let _ = writeln!(
            out,
            "{} {} {:>9} {:>9} {:>15} {:>12}",
            cell(&unit.unit, 10),
            cell(unit.owner.as_deref().unwrap_or("(none)"), 20),
            or_dash(unit.pending),
            or_dash(unit.unacknowledged),
            unit.checkpoint_age_seconds
                .map_or("never".to_string(), |a| format!("{a:.1}s")),
            unit.checkpoints.map_or("-".to_string(), |c| c.to_string())
        );
    }
    let _ = writeln!(
        out,
        "{} {:>8} {:>6} {:>10} {:>8} {:>10} {:>8} {:>7} {:>8} {:>9} {:>9}",
        cell("worker", 20),
        "pid",
        "units",
        "events",
        "per sec",
        "re-keyed",
        "per sec",
        "alerts",
        "commits",
        "bus share",
        "p99"
    );
    if v.workers.is_empty() {
        let _ = writeln!(out, "(no live workers)");
    }
    for (id, status) in &v.workers {
        match status {
            Some(s) => {
                let _ = writeln!(
                    out,
                    "{} {:>8} {:>6} {:>10} {:>8.0} {:>10} {:>8.0} {:>7} {:>8} {:>8.1}% {:>9}",
                    cell(id, 20),
                    s.pid,
                    s.bus.units.len(),
                    s.events,
                    s.events_per_second,
                    s.bus.rekeyed,
                    s.bus.rekeyed_per_second,
                    s.alerts,
                    s.commits,
                    s.bus.overhead() * 100.0,
                    s.latency_p99_ms
                        .map_or("-".to_string(), |p| format!("{p} ms"))
                );
            }
            None => {
                let _ = writeln!(out, "{} (its heartbeat is unreadable)", cell(id, 20));
            }
        }
    }
    out
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
    if !status.late_rules.is_empty() {
        let mut late = status.late_rules.clone();
        late.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        let shown: Vec<String> = late
            .iter()
            .take(5)
            .map(|(rule, n)| format!("{} ({n})", safe(rule)))
            .collect();
        let _ = writeln!(
            out,
            "late     past their rules' allowed lateness (run all the same): {}{}",
            shown.join(", "),
            if late.len() > 5 {
                let more = late.len() - 5;
                format!(" and {more} more rule{}", if more == 1 { "" } else { "s" })
            } else {
                String::new()
            }
        );
    }
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
