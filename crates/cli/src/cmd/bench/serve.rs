//! `bench serve`: the API under load. A store is filled with generated alerts (documented below),
//! the server started on loopback, and the pages analysts ask for timed with a load generator
//! (`oha`, from crates.io: `cargo install oha`): the first and a deep page of 100 open alerts newest
//! first, alone and with a host filter; the open alerts grouped by rule (the queue's grouping); then
//! bulk actions on 1,000 alerts at a time, each request a different thousand. On SQLite, and on
//! PostgreSQL with `--database-url`.
//!
//! The alerts: alert `n` (0-based) comes from rule `n % 50`, has severity low, medium, high and
//! critical in turn, names host `host-(n % 500)`, user `user-(n % 2000)` and a source address from
//! `n`, and was last seen `n` seconds after the epoch plus a minute (so newest first is `n`
//! descending). Each document holds one event, about 300 bytes.

use std::io::IsTerminal;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use secops_store::{AlertCursor, AlertFilter, AlertStatus, NewAlert, Store};

use crate::Outcome;

#[derive(Debug, clap::Args)]
pub struct ServeBenchArgs {
    /// Alerts in the store.
    #[arg(long, default_value_t = 1_000_000)]
    alerts: usize,
    /// Also measure PostgreSQL at this URL (a scratch schema, dropped after unless --keep).
    #[arg(long = "database-url")]
    database_url: Option<String>,
    /// Keep the stores (SQLite under this folder, PostgreSQL's schema `bench_serve`) and reuse them
    /// when they already hold the alerts: filling a million takes minutes on PostgreSQL.
    #[arg(long)]
    keep: Option<std::path::PathBuf>,
    /// Requests per page measurement.
    #[arg(long, default_value_t = 500)]
    requests: usize,
    /// Requests at once.
    #[arg(long, default_value_t = 4)]
    concurrency: usize,
    /// Bulk requests (each on its own 1,000 alerts).
    #[arg(long, default_value_t = 20)]
    bulk: usize,
}

/// Alert `n` as the generator makes it.
fn generated(n: usize) -> NewAlert {
    let rule = n % 50;
    let severity = ["low", "medium", "high", "critical"][n % 4];
    let ip = format!("198.{}.{}.{}", 18 + (n >> 16) % 2, (n >> 8) % 256, n % 256);
    let seen = n as i64 * 1_000_000_000;
    let time = secops_event::Timestamp::from_unix_nanos(seen).to_rfc3339();
    let document = serde_json::json!({
        "@timestamp": time,
        "alert.id": format!("bench-{n}"),
        "alert.first": time,
        "rule.id": format!("rule-{rule}"),
        "rule.name": format!("Rule {rule}"),
        "rule.severity": severity,
        "source.ip": ip,
        "events": [{
            "@timestamp": time,
            "event.action": "logon-failed",
            "host.name": format!("host-{}", n % 500),
            "user.name": format!("user-{}", n % 2000),
            "source.ip": ip,
            "message": format!("Failed password for user-{} from {ip} port 22 ssh2", n % 2000),
        }],
    });
    NewAlert {
        rule_id: format!("rule-{rule}"),
        rule_name: format!("Rule {rule}"),
        rule_version: 1,
        severity: severity.into(),
        risk_score: 47,
        group_key: format!("source.ip={ip}"),
        first_seen: seen,
        last_seen: seen + 60_000_000_000,
        event_count: 1,
        dedupe_window: 0,
        document: document.to_string(),
    }
}

fn progress(total: u64, what: &str) -> indicatif::ProgressBar {
    if !std::io::stderr().is_terminal() {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(total);
    if let Ok(style) = indicatif::ProgressStyle::with_template(&format!(
        "{{bar:30}} {{pos}}/{{len}} {what}  {{per_sec}}  eta {{eta}}"
    )) {
        bar.set_style(style);
    }
    bar
}

/// Fills the store to `count` alerts (those it holds are kept).
fn fill(store: &mut Store, count: usize) -> anyhow::Result<Duration> {
    let held = store
        .alerts(&AlertFilter {
            limit: Some(1),
            ..AlertFilter::default()
        })?
        .first()
        .map_or(0, |a| a.id.max(0) as usize);
    let started = Instant::now();
    if held >= count {
        return Ok(Duration::ZERO);
    }
    let bar = progress((count - held) as u64, "alerts recorded");
    let mut n = held;
    while n < count {
        let end = (n + 5_000).min(count);
        let batch: Vec<NewAlert> = (n..end).map(generated).collect();
        store.record_alerts(&batch, "bench", 1)?;
        bar.inc((end - n) as u64);
        n = end;
    }
    bar.finish_and_clear();
    Ok(started.elapsed())
}

/// The cursor after the first `depth` alerts the filter lists (walked a thousand at a time).
fn cursor_at(store: &mut Store, filter: &AlertFilter, depth: usize) -> anyhow::Result<AlertCursor> {
    let mut after = None;
    let mut walked = 0;
    while walked < depth {
        let take = (depth - walked).min(1_000);
        let page = store.alerts(&AlertFilter {
            after,
            limit: Some(take as u32),
            ..filter.clone()
        })?;
        let Some(last) = page.last() else {
            bail!("the store holds fewer than {depth} alerts for this filter");
        };
        after = Some(last.cursor());
        walked += page.len();
    }
    after.context("depth 0")
}

/// Latency figures from oha's JSON (seconds).
#[derive(Debug)]
struct Latency {
    p50: f64,
    p95: f64,
    p99: f64,
    per_second: f64,
    failed: u64,
}

fn oha(url: &str, key: &str, requests: usize, concurrency: usize) -> anyhow::Result<Latency> {
    let out = Command::new("oha")
        .args(["--no-tui", "--output-format", "json"])
        .args(["-n", &requests.to_string(), "-c", &concurrency.to_string()])
        .args(["-H", &format!("Authorization: Bearer {key}")])
        .arg(url)
        .output()
        .context("running oha (cargo install oha)")?;
    if !out.status.success() {
        bail!("oha: {}", String::from_utf8_lossy(&out.stderr));
    }
    let report: serde_json::Value =
        serde_json::from_slice(&out.stdout).context("reading oha's JSON")?;
    let percentile = |p: &str| report["latencyPercentiles"][p].as_f64().unwrap_or(f64::NAN);
    let statuses = report["statusCodeDistribution"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    let failed = statuses
        .iter()
        .filter(|(code, _)| code.as_str() != "200")
        .map(|(_, n)| n.as_u64().unwrap_or(0))
        .sum();
    Ok(Latency {
        p50: percentile("p50"),
        p95: percentile("p95"),
        p99: percentile("p99"),
        per_second: report["summary"]["requestsPerSec"]
            .as_f64()
            .unwrap_or(f64::NAN),
        failed,
    })
}

fn ms(seconds: f64) -> String {
    format!("{:.1}", seconds * 1000.0)
}

pub fn run(args: ServeBenchArgs) -> anyhow::Result<Outcome> {
    Command::new("oha")
        .arg("--version")
        .output()
        .context("bench serve times requests with oha: cargo install oha")?;
    let scratch = tempfile::tempdir().context("creating a scratch folder")?;
    let folder = args
        .keep
        .clone()
        .unwrap_or_else(|| scratch.path().to_path_buf());
    std::fs::create_dir_all(&folder)?;
    let mut targets = vec![(
        "SQLite".to_string(),
        folder
            .join(format!("serve-{}.db", args.alerts))
            .display()
            .to_string(),
    )];
    let schema = if args.keep.is_some() {
        format!("bench_serve_{}", args.alerts)
    } else {
        format!("bench_serve_{}", std::process::id())
    };
    if let Some(url) = &args.database_url {
        let sep = if url.contains('?') { "&" } else { "?" };
        targets.push(("PostgreSQL".into(), format!("{url}{sep}schema={schema}")));
    }
    println!(
        "{} alerts; {} requests a page measurement, {} at once; {} bulk requests of 1,000 alerts",
        args.alerts, args.requests, args.concurrency, args.bulk
    );
    println!(
        "{:<11} {:<34} {:>9} {:>9} {:>9} {:>9}",
        "STORE", "REQUEST", "P50 MS", "P95 MS", "P99 MS", "REQ/S"
    );
    for (name, target) in &targets {
        let mut store = Store::open(target)?;
        let filled = fill(&mut store, args.alerts)?;
        if !filled.is_zero() {
            eprintln!(
                "{name}: {} alerts recorded in {:.0} s",
                args.alerts,
                filled.as_secs_f64()
            );
        }
        let roles = secops_auth::Roles::built_in();
        let key_file = folder.join("bench.audit-key");
        let audit_key = secops_store::AuditKey::load_or_create(&key_file)?;
        let (_, key) = secops_service::users::create_key(
            &mut store,
            &roles,
            &secops_service::users::NewKey {
                name: "bench",
                role: "admin",
                owner: "bench",
                expires_at: None,
            },
            secops_event::Timestamp::now().unix_nanos(),
            None,
        )?;
        let open = AlertFilter {
            status: Some(AlertStatus::Open),
            ..AlertFilter::default()
        };
        let host = AlertFilter {
            entity: Some(("host".into(), "host-7".into())),
            ..open.clone()
        };
        let deep = cursor_at(&mut store, &open, args.alerts / 2)?;
        let deep_host = cursor_at(&mut store, &host, (args.alerts / 500 / 2).max(1))?;
        let mut settings = secops_server::Settings::new(target.clone(), audit_key, roles);
        settings.access_log = false;
        let app = secops_server::app(settings, Arc::new(secops_service::SystemClock))?;
        let server = secops_server::spawn(app, "127.0.0.1:0".parse()?, None)?;
        let site = format!("http://{}", server.address);
        let base = format!("{site}/api/v1");
        let pages = [
            (
                "first page, open".to_string(),
                format!("{base}/alerts?status=open&limit=100"),
            ),
            (
                format!("page at {}, open", args.alerts / 2),
                format!(
                    "{base}/alerts?status=open&limit=100&after={}.{}",
                    deep.last_seen, deep.id
                ),
            ),
            (
                "first page, open, host".to_string(),
                format!("{base}/alerts?status=open&host=host-7&limit=100"),
            ),
            (
                format!("page at {}, open, host", (args.alerts / 500 / 2).max(1)),
                format!(
                    "{base}/alerts?status=open&host=host-7&limit=100&after={}.{}",
                    deep_host.last_seen, deep_host.id
                ),
            ),
            (
                "open alerts grouped by rule".to_string(),
                format!("{base}/alerts/groups?by=rule&status=open&limit=50"),
            ),
            // The console's queue page, as the browser gets it (the HTML, rendered).
            (
                "console: queue page, open".to_string(),
                format!("{site}/alerts?status=open"),
            ),
            (
                "console: queue page, open, host".to_string(),
                format!("{site}/alerts?status=open&host=host-7"),
            ),
            (
                "console: queue grouped by rule".to_string(),
                format!("{site}/alerts?status=open&group=rule"),
            ),
        ];
        for (what, url) in &pages {
            let l = oha(url, &key, args.requests, args.concurrency)?;
            if l.failed > 0 {
                bail!("{what}: {} requests did not answer 200", l.failed);
            }
            println!(
                "{name:<11} {what:<34} {:>9} {:>9} {:>9} {:>9.0}",
                ms(l.p50),
                ms(l.p95),
                ms(l.p99),
                l.per_second
            );
        }
        // Bulk: each request closes its own thousand of the newest open alerts.
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        let targets: Vec<i64> = store
            .alerts(&AlertFilter {
                limit: Some((args.bulk * 1_000) as u32),
                ..open.clone()
            })?
            .iter()
            .map(|a| a.id)
            .collect();
        let mut times = Vec::with_capacity(args.bulk);
        for ids in targets.chunks(1_000) {
            let body = serde_json::json!({"ids": ids, "action": "close", "resolution": "benign"});
            let started = Instant::now();
            let mut answer = agent
                .post(format!("{base}/alerts/bulk"))
                .header("authorization", format!("Bearer {key}"))
                .header("content-type", "application/json")
                .send(body.to_string())?;
            times.push(started.elapsed().as_secs_f64());
            let text = answer.body_mut().read_to_string()?;
            if answer.status() != 200 {
                bail!("bulk close: {} {text}", answer.status());
            }
        }
        if times.is_empty() {
            bail!("no open alerts left to close");
        }
        times.sort_by(f64::total_cmp);
        let at =
            |q: f64| times[((times.len() as f64 * q).ceil() as usize).clamp(1, times.len()) - 1];
        println!(
            "{name:<11} {:<34} {:>9} {:>9} {:>9} {:>9.1}",
            "bulk close of 1,000 alerts",
            ms(at(0.50)),
            ms(at(0.95)),
            ms(at(0.99)),
            times.len() as f64 / times.iter().sum::<f64>()
        );
        server.stop()?;
        drop(store);
        if name == "PostgreSQL" && args.keep.is_none() {
            if let Some(url) = &args.database_url {
                let mut client = postgres::Client::connect(url, postgres::NoTls)?;
                client.batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))?;
            }
        }
    }
    Ok(Outcome::Clean)
}
