//! `bench hunt`: the event lake and the hunt language at scale, on generated events.
//!
//! The generator (deterministic; the same lake every run):
//! - time: the 7 days before 2026-12-01T00:00:00Z (`now` is pinned there), events evenly spread and
//!   in time order (as logs arrive), with up to a second of jitter;
//! - 1,000 hosts (`host-0000`..`host-0999`, each at `10.<h/256>.<h%256>.10`), uniform;
//! - 5,000 users (`user00000`..), Zipf-distributed (exponent 1.1: a few busy accounts, a long tail);
//! - half the events are process starts (`endpoint.events.process`): 20,000 executables, Zipf 1.2 (the
//!   stacking hunt's long tail), a unique `process.entity_id` each;
//! - half are connections (`zeek.conn`): from the host to one of 50,000 external addresses (Zipf 1.0)
//!   on 443, 80 or 53; among them 200 beacons, each a host calling one address every 60 s with up to
//!   2 s of jitter, for the whole week (10,080 beats each, about 2 million connections in all).
//!
//! The first `--json-events` are written as ECS JSON lines and ingested as `ingest --lake` does (the
//! write rate from JSON lines, and per CPU-second, which other load on the machine moves less); the
//! rest go to the lake's writer as events. Then three hunts run, each three times in a process of its
//! own (so each peak memory is the hunt's): stacking (distinct hosts per executable over the 7 days),
//! a day-bounded lookup of one user, and beaconing (lag between one pair's connections, per pair).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;
use secops_event::{Event, Location, Provenance, Timestamp, Value};
use secops_ingest::{Input, Options};
use secops_lake::LakeWriter;

use super::reset_peak;
use crate::memory::{cpu_seconds, peak_rss_bytes};
use crate::Outcome;

#[derive(Debug, clap::Args)]
pub struct HuntArgs {
    /// Events in the lake: half process starts, half connections.
    #[arg(long, default_value_t = 20_000_000)]
    events: u64,
    /// Of them, how many are written as JSON lines first and ingested from there.
    #[arg(long = "json-events", default_value_t = 2_000_000)]
    json_events: u64,
    /// Build the lake here and keep it (default: a scratch folder, removed).
    #[arg(long)]
    lake: Option<PathBuf>,
    /// Query the lake already at --lake instead of generating one.
    #[arg(long, requires = "lake")]
    reuse: bool,
    /// Run only this hunt (its place in the list, from 0) in this process: each hunt runs in its
    /// own process, so its peak memory is its own.
    #[arg(long, requires = "reuse", hide = true)]
    only: Option<usize>,
}

/// 2026-12-01T00:00:00Z in nanoseconds: `now()` for the hunts, the end of the generated week.
const NOW: i64 = 1_796_083_200_000_000_000;
const WEEK: i64 = 7 * 86_400 * 1_000_000_000;
const SECOND: i64 = 1_000_000_000;
const HOSTS: usize = 1_000;
const USERS: usize = 5_000;
const EXECUTABLES: usize = 20_000;
const DESTINATIONS: usize = 50_000;
const BEACONS: usize = 200;

/// xorshift64*: deterministic and fast.
struct Random(u64);

impl Random {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Sampling from a Zipf distribution over `n` ranks by its cumulative table.
struct Zipf(Vec<f64>);

impl Zipf {
    fn new(n: usize, exponent: f64) -> Zipf {
        let mut total = 0.0;
        let mut cdf = Vec::with_capacity(n);
        for rank in 1..=n {
            total += 1.0 / (rank as f64).powf(exponent);
            cdf.push(total);
        }
        Zipf(cdf.into_iter().map(|c| c / total).collect())
    }

    fn sample(&self, random: &mut Random) -> usize {
        let u = random.unit();
        self.0.partition_point(|&c| c < u).min(self.0.len() - 1)
    }
}

struct Generator {
    random: Random,
    /// Events the generator will make in all (time is spread over them).
    total: u64,
    users: Zipf,
    executables: Zipf,
    destinations: Zipf,
    made: u64,
    /// The next time of each beacon.
    beacons: Vec<i64>,
}

impl Generator {
    fn new(total: u64) -> Generator {
        let mut random = Random(0x9e37_79b9_7f4a_7c15);
        let beacons = (0..BEACONS)
            .map(|_| NOW - WEEK + (random.below(60) as i64) * SECOND)
            .collect();
        Generator {
            random,
            total: total.max(1),
            users: Zipf::new(USERS, 1.1),
            executables: Zipf::new(EXECUTABLES, 1.2),
            destinations: Zipf::new(DESTINATIONS, 1.0),
            made: 0,
            beacons,
        }
    }

    fn host(h: usize) -> (String, String) {
        (
            format!("host-{h:04}"),
            format!("10.{}.{}.10", h / 256, h % 256),
        )
    }

    fn event(&mut self) -> Event {
        let n = self.made;
        self.made += 1;
        let mut event = Event::new(Provenance::new("bench-hunt", Location::Line(n + 1)));
        let host = self.random.below(HOSTS);
        let (host_name, host_ip) = Generator::host(host);
        let user = format!("user{:05}", self.users.sample(&mut self.random));
        let mut time = NOW - WEEK
            + (i128::from(WEEK) * i128::from(n) / i128::from(self.total)) as i64
            + self.random.below(1_000) as i64 * 1_000_000;
        event.insert("event.kind", "event");
        if n.is_multiple_of(2) {
            let exe = self.executables.sample(&mut self.random);
            event.insert("event.dataset", "endpoint.events.process");
            event.insert("event.category", "process");
            event.insert("event.type", "start");
            event.insert("event.action", "start");
            event.insert("process.name", format!("app{exe}.exe"));
            event.insert(
                "process.executable",
                format!("C:\\Program Files\\vendor{}\\app{exe}.exe", exe / 100),
            );
            event.insert("process.pid", (n % 60_000) as i64 + 4);
            event.insert("process.entity_id", format!("p-{n:012}"));
            event.insert(
                "process.parent.entity_id",
                format!("p-{:012}", n.saturating_sub(2 + 2 * (n % 7))),
            );
        } else {
            event.insert("event.dataset", "zeek.conn");
            event.insert("event.category", "network");
            event.insert("event.type", "connection");
            event.insert("network.transport", "tcp");
            // A connection is the next beat of a beacon when one is due (each beacon is looked at
            // every 400 events, well within its minute).
            let b = (n / 2) as usize % BEACONS;
            let (source, destination, port) = match self.beacons.get(b).copied() {
                Some(due) if due <= time && due < NOW => {
                    time = self.beacons[b];
                    self.beacons[b] += 60 * SECOND + (self.random.below(2_000) as i64) * 1_000_000;
                    let (name, ip) = Generator::host(b * 5);
                    event.insert("host.name", name.clone());
                    (ip, format!("198.51.{}.{}", b / 250, b % 250 + 1), 443)
                }
                _ => {
                    let d = self.destinations.sample(&mut self.random) as u32 + 1;
                    let ip = std::net::Ipv4Addr::from(0x5000_0000u32 + d * 7);
                    (
                        host_ip.clone(),
                        ip.to_string(),
                        [443, 80, 53][self.random.below(3)],
                    )
                }
            };
            event.insert("source.ip", source);
            event.insert("source.port", 49_152 + self.random.below(16_000) as i64);
            event.insert("destination.ip", destination);
            event.insert("destination.port", port as i64);
            event.insert("source.bytes", self.random.below(5_000) as i64);
            event.insert("destination.bytes", self.random.below(50_000) as i64);
        }
        if event.get("host.name").is_none() {
            event.insert("host.name", host_name);
        }
        event.insert("user.name", Value::from(user));
        event.set_timestamp(Timestamp::from_unix_nanos(time));
        event
    }
}

/// The hunts measured, with what each must find.
const HUNTS: &[(&str, &str)] = &[
    (
        "stacking: distinct hosts per executable, 7 days",
        "FROM events | WHERE @timestamp > now() - 7 days AND event.category == \"process\"\n\
         | STATS hosts = count_distinct(host.name), n = count(*) BY process.executable\n\
         | WHERE hosts <= 2 | SORT n ASC, process.executable | LIMIT 20",
    ),
    (
        "lookup: one user's events of the last day",
        "FROM events | WHERE @timestamp >= now() - 1 day AND user.name == \"user01234\"\n\
         | KEEP @timestamp, host.name, process.executable, destination.ip | SORT @timestamp",
    ),
    (
        "beaconing: lag between one pair's connections",
        "FROM logs-zeek.conn-*\n\
         | STREAM prev = lag(@timestamp) BY source.ip, destination.ip SORT @timestamp\n\
         | EVAL gap = date_diff(\"seconds\", prev, @timestamp) | WHERE gap IS NOT NULL\n\
         | STATS n = count(*), mean = avg(gap), sd = std_dev(gap) BY source.ip, destination.ip\n\
         | WHERE n >= 100 AND sd < 0.1 * mean | SORT n DESC",
    ),
];

pub fn run(args: HuntArgs) -> anyhow::Result<Outcome> {
    let scratch;
    let lake: PathBuf = match &args.lake {
        Some(dir) => dir.clone(),
        None => {
            scratch = tempfile::tempdir().context("creating a scratch folder")?;
            scratch.path().join("lake")
        }
    };
    let mut out = std::io::stdout().lock();
    if !args.reuse {
        if lake.exists() {
            anyhow::bail!(
                "{} exists: remove it, or pass --reuse to query it",
                lake.display()
            );
        }
        write_lake(&args, &lake, &mut out)?;
    }
    let Some(only) = args.only else {
        // Each hunt in a process of its own (this program, asked for that hunt alone), so a hunt's
        // peak memory is neither the writer's nor an earlier hunt's left with the allocator.
        let program = std::env::current_exe().context("finding this program")?;
        for (i, (name, _)) in HUNTS.iter().enumerate() {
            let ran = std::process::Command::new(&program)
                .args([
                    "bench",
                    "hunt",
                    "--reuse",
                    "--only",
                    &i.to_string(),
                    "--lake",
                ])
                .arg(&lake)
                .stdout(std::process::Stdio::inherit())
                .status()
                .context("running a hunt")?;
            if !ran.success() {
                anyhow::bail!("the hunt \"{name}\" failed ({ran})");
            }
        }
        return Ok(Outcome::Clean);
    };
    // As `hunt run` does.
    crate::memory::return_freed_memory_promptly();
    let (name, query) = HUNTS
        .get(only)
        .with_context(|| format!("there are {} hunts", HUNTS.len()))?;
    let lake = secops_lake::Lake::folder(&lake);
    let planning = secops_hunt::Planning {
        now: NOW,
        lenient: false,
        sql: false,
        sets: None,
        tables: None,
    };
    let mut times = Vec::new();
    let mut rows = 0;
    for _ in 0..3 {
        let start = Instant::now();
        let mut sink = Vec::new();
        let stats = secops_hunt::run(
            query,
            &lake,
            &planning,
            secops_hunt::Output::Jsonl,
            &mut sink,
        )?;
        times.push(start.elapsed().as_secs_f64());
        rows = stats.rows;
    }
    times.sort_by(f64::total_cmp);
    writeln!(
        out,
        "{name}: {rows} rows; {:.3} s median of 3 ({:.3} to {:.3} s); peak {:.0} MB",
        times[1],
        times[0],
        times[2],
        peak_rss_bytes().unwrap_or(0) as f64 / 1e6
    )?;
    Ok(Outcome::Clean)
}

fn write_lake(args: &HuntArgs, lake: &Path, out: &mut dyn Write) -> anyhow::Result<()> {
    let mut generator = Generator::new(args.events);
    let json_events = args.json_events.min(args.events);
    // JSON lines, ingested as `ingest --lake` does.
    let json_dir = tempfile::tempdir().context("creating a scratch folder")?;
    let json = json_dir.path().join("events.jsonl");
    {
        let mut file = std::io::BufWriter::new(
            std::fs::File::create(&json).context("writing the JSON lines")?,
        );
        for _ in 0..json_events {
            serde_json::to_writer(&mut file, &generator.event().to_json())?;
            file.write_all(b"\n")?;
        }
        file.flush()?;
    }
    reset_peak();
    let cpu = cpu_seconds();
    let start = Instant::now();
    let run = secops_service::lake::ingest(
        &[Input::File(json.clone())],
        &Options::default(),
        0,
        &lake.to_string_lossy(),
        &secops_service::NoProgress,
        &secops_service::Cancel::new(),
    )?;
    let seconds = start.elapsed().as_secs_f64();
    // Events per second of CPU (all threads): the work, apart from what else the machine ran.
    let per_cpu = match (cpu, cpu_seconds()) {
        (Some(before), Some(after)) if after > before => {
            format!(
                " ({:.0} per CPU-second)",
                run.stats.written as f64 / (after - before)
            )
        }
        _ => String::new(),
    };
    writeln!(
        out,
        "lake from JSON lines: {} events in {seconds:.2} s = {:.0} events/s{per_cpu}; peak {:.0} MB",
        run.stats.written,
        run.stats.written as f64 / seconds,
        peak_rss_bytes().unwrap_or(0) as f64 / 1e6
    )?;
    drop(json_dir);
    // The rest straight from the generator: events made and prepared on one thread, written on
    // this one (as `ingest --lake` splits the work between readers and the writer).
    let rest = args.events - json_events;
    if rest > 0 {
        reset_peak();
        let start = Instant::now();
        let mut writer = LakeWriter::new(lake)?;
        let (sender, rows) = std::sync::mpsc::sync_channel::<secops_lake::Prepared>(4_096);
        let maker = std::thread::spawn(move || {
            for _ in 0..rest {
                if sender
                    .send(secops_lake::prepare(&generator.event()))
                    .is_err()
                {
                    break;
                }
            }
        });
        for row in rows {
            writer.write_prepared(row)?;
        }
        maker
            .join()
            .map_err(|_| anyhow::anyhow!("the event generator stopped"))?;
        let stats = writer.finish()?;
        let seconds = start.elapsed().as_secs_f64();
        writeln!(
            out,
            "lake from generated events: {} events in {seconds:.2} s = {:.0} events/s; peak {:.0} MB",
            stats.written,
            stats.written as f64 / seconds,
            peak_rss_bytes().unwrap_or(0) as f64 / 1e6
        )?;
    }
    let merged = secops_lake::maintain::compact(&secops_lake::Lake::folder(lake))?;
    writeln!(out, "compacted: {merged:?}")?;
    Ok(())
}
