//! `secops bench live`: `secops run` end to end on loopback, the load generator in the same process.
//! Syslog lines (the messages of the shared OpenSSH and Linux logs under generated RFC 3164 headers,
//! event time moving 20 ms per line so that windows close and alerts keep coming) go over TCP
//! connections to a syslog listener, through its journal, the parser and the bundled pack, into a
//! SQLite store with checkpoints. First as fast as the senders can: events/s from the first byte
//! sent to the last event through the rules, CPU seconds per million events (generator included), peak
//! memory. Then at half that rate: ingest-to-alert latency (arrival to the alert's commit), p50 and p99.

use std::io::Write;
use std::net::TcpStream;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use secops_live::{Config, Control};
use secops_service::Actor;

use crate::memory::{cpu_seconds, format_peak};
use crate::Outcome;

#[derive(Debug, clap::Args)]
pub struct LiveBenchArgs {
    /// Events sent at full rate.
    #[arg(long, default_value_t = 2_000_000)]
    events: u64,
    /// Connections the senders use.
    #[arg(long, default_value_t = 2)]
    connections: usize,
    /// Seconds sent at half the full rate, for latency.
    #[arg(long, default_value_t = 20)]
    seconds: u64,
    /// Where the messages come from (the shared corpus's Linux logs).
    #[arg(long, default_value = "../shared/corpus/linux")]
    corpus: std::path::PathBuf,
}

/// Messages without their syslog timestamps (`host program[pid]: text`).
pub(super) fn messages(corpus: &Path) -> anyhow::Result<Vec<String>> {
    let mut out = Vec::new();
    for name in ["OpenSSH_2k.log", "Linux_2k.log"] {
        let path = corpus.join(name);
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("{} (the shared corpus)", path.display()))?;
        // "Dec 10 06:55:46 " is 16 characters; Linux_2k pads the day the same way.
        out.extend(
            text.lines()
                .filter(|l| l.len() > 16)
                .map(|l| l[16..].to_string()),
        );
    }
    if out.is_empty() {
        bail!("no lines in {}", corpus.display());
    }
    Ok(out)
}

/// The `index`-th line: an RFC 3164 header 20 ms of event time after the one before; with `hosts`
/// above 0, from host `srv<n>` (`n` below `hosts`, by the line's number) instead of the message's own.
fn line(messages: &[String], index: u64, hosts: u64, out: &mut Vec<u8>) {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    // From 1 January, 20 ms a line: 2 million lines are 11 hours.
    let millis = index * 20;
    let seconds = millis / 1000;
    let day = seconds / 86_400;
    let (month, day_of_month) = ((day / 28) % 12, day % 28 + 1);
    let (h, m, s) = ((seconds / 3600) % 24, (seconds / 60) % 60, seconds % 60);
    let message = &messages[(index as usize) % messages.len()];
    let _ = write!(
        out,
        "<38>{} {day_of_month:>2} {h:02}:{m:02}:{s:02} ",
        MONTHS[month as usize]
    );
    match message.split_once(' ') {
        Some((_, rest)) if hosts > 0 => {
            let _ = writeln!(out, "srv{} {rest}", index % hosts);
        }
        _ => {
            let _ = writeln!(out, "{message}");
        }
    }
}

/// Sends lines `lines` over one connection (from `hosts` hosts, 0: the messages' own), at most
/// `rate` a second when given.
pub(super) fn send(
    address: std::net::SocketAddr,
    messages: &[String],
    lines: impl Iterator<Item = u64>,
    hosts: u64,
    rate: Option<f64>,
) -> anyhow::Result<u64> {
    let mut stream = TcpStream::connect(address)?;
    let mut buf = Vec::with_capacity(1 << 16);
    let (start, mut sent) = (Instant::now(), 0u64);
    for index in lines {
        line(messages, index, hosts, &mut buf);
        sent += 1;
        let pace = rate.is_some() && sent % 100 == 0;
        if buf.len() >= 60_000 || pace {
            stream.write_all(&buf)?;
            buf.clear();
        }
        if let (Some(rate), true) = (rate, pace) {
            let due = Duration::from_secs_f64(sent as f64 / rate);
            if let Some(wait) = due.checked_sub(start.elapsed()) {
                std::thread::sleep(wait);
            }
        }
    }
    stream.write_all(&buf)?;
    Ok(sent)
}

pub fn run(args: LiveBenchArgs) -> anyhow::Result<Outcome> {
    let messages = Arc::new(messages(&args.corpus)?);
    let dir = tempfile::tempdir()?;
    let config_path = dir.path().join("secops.toml");
    let text = "[store]\ndb = \"bench.db\"\n\n[[listen]]\nkind = \"syslog-tcp\"\nname = \"tcp\"\n\
                address = \"127.0.0.1:0\"\nyear = 2016\nmax_connections = 64\n";
    std::fs::write(&config_path, text)?;
    let mut config = Config::load(&config_path)?;
    config.store.db = Some(dir.path().join("bench.db"));
    let store = crate::store::StoreArgs {
        db: config.store.db.clone(),
        ..Default::default()
    }
    .open_as(&Actor::service("run"))?;
    let control = Control::default();
    let (address_sender, address) = std::sync::mpsc::channel();
    let runner = {
        let (control, config, config_path) = (control.clone(), config.clone(), config_path.clone());
        std::thread::Builder::new()
            .name("secops run".into())
            .spawn(move || {
                secops_live::run(
                    &config,
                    &config_path,
                    store,
                    false,
                    &control,
                    &mut |bound| {
                        let _ = address_sender.send(bound.iter().find_map(|b| b.address));
                    },
                )
            })?
    };
    let Some(address) = address.recv_timeout(Duration::from_secs(120))? else {
        bail!("the listener did not start");
    };
    let engine = &control.metrics.engine;
    let wait_for = |events: u64| {
        while engine.events.load(Ordering::Relaxed) < events {
            std::thread::sleep(Duration::from_millis(2));
        }
    };
    println!(
        "secops run over syslog/TCP on loopback, the bundled pack, a SQLite store; {} connection(s), the generator in the same process",
        args.connections
    );

    // Full rate.
    let (cpu0, start) = (cpu_seconds(), Instant::now());
    let total = args.events;
    let senders: Vec<_> = (0..args.connections as u64)
        .map(|c| {
            let (messages, step) = (messages.clone(), args.connections as u64);
            std::thread::spawn(move || {
                send(
                    address,
                    &messages,
                    (c..total).step_by(step as usize),
                    0,
                    None,
                )
            })
        })
        .collect();
    for sender in senders {
        sender
            .join()
            .map_err(|_| anyhow::anyhow!("a sender failed"))??;
    }
    let sent_at = start.elapsed();
    wait_for(total);
    let elapsed = start.elapsed();
    let cpu = cpu_seconds().zip(cpu0).map(|(b, a)| b - a);
    let rate = total as f64 / elapsed.as_secs_f64();
    println!(
        "full rate: {total} events in {:.2} s (sent in {:.2} s): {:.0} events/s; CPU {} per million events; {} alerts; peak {}",
        elapsed.as_secs_f64(),
        sent_at.as_secs_f64(),
        rate,
        cpu.map_or("-".into(), |c| format!("{:.2} s", c / (total as f64 / 1e6))),
        engine.alerts.load(Ordering::Relaxed),
        format_peak()
    );

    // Half that rate, for latency.
    let half = rate / 2.0;
    let count = (half * args.seconds as f64) as u64;
    let before = engine.latency.snapshot();
    let alerts_before = engine.alerts.load(Ordering::Relaxed);
    let start = Instant::now();
    let senders: Vec<_> = (0..args.connections as u64)
        .map(|c| {
            let (messages, step) = (messages.clone(), args.connections as u64);
            let per = half / args.connections as f64;
            std::thread::spawn(move || {
                send(
                    address,
                    &messages,
                    (total + c..total + count).step_by(step as usize),
                    0,
                    Some(per),
                )
            })
        })
        .collect();
    for sender in senders {
        sender
            .join()
            .map_err(|_| anyhow::anyhow!("a sender failed"))??;
    }
    wait_for(total + count);
    // The last alerts' commit.
    std::thread::sleep(Duration::from_millis(600));
    let (p50, samples) = engine.latency.quantile_since(&before, 0.5);
    let (p99, _) = engine.latency.quantile_since(&before, 0.99);
    let ms = |v: Option<u64>| v.map_or("-".to_string(), |v| format!("<= {v} ms"));
    println!(
        "half rate: {count} events at {:.0}/s over {:.1} s: ingest-to-alert p50 {} p99 {} over {} alerts ({} raised)",
        half,
        start.elapsed().as_secs_f64(),
        ms(p50),
        ms(p99),
        samples,
        engine.alerts.load(Ordering::Relaxed) - alerts_before
    );
    control.stop.store(true, Ordering::SeqCst);
    runner
        .join()
        .map_err(|_| anyhow::anyhow!("secops run stopped unexpectedly"))??;
    Ok(Outcome::Clean)
}
