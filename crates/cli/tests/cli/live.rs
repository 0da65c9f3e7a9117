//! `secops run`: listeners, followed files and continuous detection, as a user runs them (a module of
//! the `cli` test binary). Real lines from `../shared/corpus/linux` over real sockets; the events are
//! compared with `secops ingest` over the same lines, the alerts with `secops detect`, and kill -9 at
//! fixed points followed by a restart gives exactly the alerts of an uninterrupted run.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::{repo, secops, stderr};

/// A `secops run` process.
struct Live {
    child: Child,
    dir: PathBuf,
    addresses: BTreeMap<String, SocketAddr>,
    log: Arc<Mutex<Vec<String>>>,
}

impl Live {
    fn start(dir: &Path, env: &[(&str, &str)]) -> Live {
        let mut command = Command::new(env!("CARGO_BIN_EXE_secops"));
        command
            .args(["run", "--config", "secops.toml"])
            .current_dir(dir)
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for (k, v) in env {
            command.env(k, v);
        }
        let mut child = command.spawn().expect("secops run starts");
        let log = Arc::new(Mutex::new(Vec::new()));
        let (sender, ready) = std::sync::mpsc::channel();
        let stderr = child.stderr.take().expect("stderr piped");
        let kept = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if line.starts_with("secops run: ") && line.contains(" listening") {
                    let _ = sender.send(line.clone());
                }
                kept.lock().expect("log").push(line);
            }
        });
        let config = std::fs::read_to_string(dir.join("secops.toml")).expect("config");
        let expected = config.matches("[[listen]]").count()
            + usize::from(config.contains("[metrics]"))
            + usize::from(config.contains("[server]"));
        let mut addresses = BTreeMap::new();
        for _ in 0..expected {
            let line = ready
                .recv_timeout(Duration::from_secs(60))
                .unwrap_or_else(|_| {
                    panic!(
                        "secops run did not start: {:?}",
                        log.lock().map(|l| l.clone())
                    )
                });
            let rest = line.trim_start_matches("secops run: ");
            if rest.starts_with("server listening") {
                let address = rest.trim_start_matches("server listening").trim();
                addresses.insert("server".into(), address.parse().expect("server address"));
                continue;
            }
            let (name, address) = rest.split_once(" listening").expect("name and address");
            if let Ok(address) = address.trim().parse() {
                addresses.insert(name.to_string(), address);
            }
        }
        Live {
            child,
            dir: dir.to_path_buf(),
            addresses,
            log,
        }
    }

    fn address(&self, name: &str) -> SocketAddr {
        self.addresses[name]
    }

    fn status(&self) -> Value {
        let text =
            std::fs::read_to_string(self.dir.join("secops-state/status.json")).unwrap_or_default();
        serde_json::from_str(&text).unwrap_or(Value::Null)
    }

    /// Waits until `check` holds of the status (written every second).
    fn wait(&self, what: &str, check: impl Fn(&Value) -> bool) {
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(90) {
            if check(&self.status()) {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("{what}: {}\n{}", self.status(), self.log().join("\n"));
    }

    fn log(&self) -> Vec<String> {
        self.log.lock().map(|l| l.clone()).unwrap_or_default()
    }

    /// SIGTERM, and the exit status.
    fn stop(mut self) -> (Option<i32>, Vec<String>) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let status = self.child.wait().expect("secops run exits");
        std::thread::sleep(Duration::from_millis(100));
        (status.code(), self.log())
    }

    /// Waits for the process to end by itself (an injected abort).
    fn ended(mut self) -> Option<i32> {
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(90) {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.code();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        panic!("secops run did not end: {}", self.log().join("\n"));
    }
}

impl Drop for Live {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub(super) fn corpus_lines(name: &str) -> Option<Vec<String>> {
    let path = secops_testkit::shared(&format!("corpus/linux/{name}"))?;
    let text = std::fs::read_to_string(path).expect("corpus file");
    Some(text.lines().map(str::to_string).collect())
}

/// `secops ingest` over `lines` (as a file), each event without its provenance.
fn ingested(dir: &Path, lines: &[String], format: &str) -> Vec<String> {
    let file = dir.join(format!("reference.{format}"));
    std::fs::write(&file, lines.join("\n") + "\n").expect("write");
    let out = secops(&[
        "ingest",
        "--year",
        "2016",
        "--format",
        format,
        file.to_str().expect("path"),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let mut events: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| {
            let mut v: Value = serde_json::from_str(l).expect("event JSON");
            v.as_object_mut().expect("object").remove("log.source");
            canonical(&v)
        })
        .collect();
    events.sort();
    events
}

fn canonical(v: &Value) -> String {
    // serde_json keeps insertion order (preserve_order): sort keys for comparison.
    fn sort(v: &Value) -> Value {
        match v {
            Value::Object(o) => {
                let sorted: BTreeMap<_, _> = o.iter().map(|(k, v)| (k.clone(), sort(v))).collect();
                Value::Object(sorted.into_iter().collect())
            }
            Value::Array(a) => Value::Array(a.iter().map(sort).collect()),
            other => other.clone(),
        }
    }
    sort(v).to_string()
}

/// The stored alerts' documents.
fn alerts(db: &Path) -> Vec<Value> {
    alerts_in(&["--db", db.to_str().expect("path")])
}

/// The alerts' documents in the store the arguments name (`--db F`, `--database-url U ...`).
pub(super) fn alerts_in(store: &[&str]) -> Vec<Value> {
    let mut args = vec!["alerts", "list", "--output", "jsonl", "--limit", "1000000"];
    args.extend_from_slice(store);
    let out = secops(&args);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let out = out.stdout;
    String::from_utf8_lossy(&out)
        .lines()
        .map(|l| serde_json::from_str(l).expect("alert JSON"))
        .collect()
}

/// What identifies an alert and its counts, for comparing runs.
pub(super) fn alert_keys(db: &Path) -> Vec<String> {
    keys_of(&alerts(db))
}

/// What identifies each alert and its counts, sorted.
pub(super) fn keys_of(alerts: &[Value]) -> Vec<String> {
    let mut keys: Vec<String> = alerts
        .iter()
        .map(|a| {
            let pick = [
                "alert.id",
                "rule.id",
                "alert.first",
                "alert.last_seen",
                "alert.suppression.docs_count",
                "alert.suppression.events",
                "threshold.count",
                "event.provenance",
            ];
            let picked: serde_json::Map<String, Value> = pick
                .iter()
                .map(|k| (k.to_string(), a.get(*k).cloned().unwrap_or(Value::Null)))
                .collect();
            Value::Object(picked).to_string()
        })
        .collect();
    keys.sort();
    keys
}

/// Events of the per-event alerts recorded from one source (the catch-all rule's alerts hold each
/// event whole), by the provenance's source name.
fn alerted_events(db: &Path) -> BTreeMap<String, Vec<String>> {
    let mut by_source: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for alert in alerts(db) {
        let source = alert["event.provenance"][0]
            .as_str()
            .and_then(|p| p.rsplit_once(':').map(|(s, _)| s.to_string()))
            .unwrap_or_default();
        let event = alert["events"][0].clone();
        by_source.entry(source).or_default().push(canonical(&event));
    }
    for events in by_source.values_mut() {
        events.sort();
    }
    by_source
}

const CATCH_ALL: &str = r#"[metadata]
creation_date = "2026-12-06"
updated_date = "2026-12-06"
maturity = "development"

[rule]
id = "1f0c8a3e-9a52-4c7e-9a1e-3b5c4f9d2a10"
name = "Every event"
description = "Every event, for comparing what listeners make of lines with what ingest makes."
author = ["secops tests"]
license = "Apache-2.0"
type = "query"
language = "kql"
query = '''
not event.kind : "no such kind"
'''
severity = "low"
risk_score = 21

[rule.log_source]
product = "PRODUCT"
"#;

pub(super) fn write_config(dir: &Path, text: &str) {
    std::fs::write(dir.join("secops.toml"), text).expect("config");
}

fn tls_files(dir: &Path) -> (PathBuf, PathBuf) {
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    let made = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=localhost",
        ])
        .args(["-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("openssl runs");
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    (cert, key)
}

/// Sends octet-counted frames over TLS with Python's ssl module (the listener's peer is not ours).
fn send_tls(address: SocketAddr, cert: &Path, lines: &[String]) {
    let script = r#"
import socket, ssl, sys
host, port, cafile, path = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
context = ssl.create_default_context(cafile=cafile)
with socket.create_connection((host, port)) as raw:
    with context.wrap_socket(raw, server_hostname="localhost") as tls:
        for line in open(path, "rb").read().splitlines():
            tls.sendall(str(len(line)).encode() + b" " + line)
        # A clean end: close_notify, then the server's (closing with the server's session tickets
        # unread would reset the connection and lose what the server had not read yet).
        try:
            tls.unwrap()
        except (ssl.SSLError, OSError):
            pass
"#;
    let file = cert.with_file_name("tls-lines.log");
    std::fs::write(&file, lines.join("\n") + "\n").expect("write");
    let out = Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(address.ip().to_string())
        .arg(address.port().to_string())
        .arg(cert)
        .arg(&file)
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn send_udp(address: SocketAddr, lines: &[String]) {
    let socket = UdpSocket::bind("127.0.0.1:0").expect("bind");
    for (i, line) in lines.iter().enumerate() {
        socket.send_to(line.as_bytes(), address).expect("send");
        // Paced: the kernel's receive buffer is not what is tested here (its drops are counted).
        if i % 50 == 49 {
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

fn send_tcp(address: SocketAddr, lines: &[String]) {
    let mut stream = TcpStream::connect(address).expect("connect");
    let mut text = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        // Both framings of RFC 6587, alternating.
        if i % 2 == 0 {
            text.extend_from_slice(format!("{} {line}", line.len()).as_bytes());
        } else {
            text.extend_from_slice(line.as_bytes());
            text.push(b'\n');
        }
    }
    stream.write_all(&text).expect("write");
}

/// An HTTP request on a fresh connection; the status and body.
fn http(
    address: SocketAddr,
    method: &str,
    path: &str,
    key: Option<&str>,
    body: &[u8],
) -> (u16, String) {
    let mut stream = TcpStream::connect(address).expect("connect");
    let auth = key.map_or(String::new(), |k| format!("Authorization: ApiKey {k}\r\n"));
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\n{auth}Content-Type: application/x-ndjson\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).expect("write");
    stream.write_all(body).expect("write");
    let mut response = String::new();
    std::io::Read::read_to_string(&mut stream, &mut response).expect("read");
    let status = response
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = response.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    // Chunked bodies: the JSON is the longest line.
    let body = body
        .lines()
        .max_by_key(|l| l.len())
        .unwrap_or("")
        .to_string();
    (status, body)
}

/// `secops ARGS --db DB`, which must succeed: its standard output.
fn on_store(db: &Path, args: &[&str]) -> Vec<u8> {
    let mut all = args.to_vec();
    all.extend(["--db", db.to_str().expect("path")]);
    let out = secops(&all);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    out.stdout
}

fn make_key(db: &Path) -> String {
    let out = on_store(
        db,
        &[
            "key",
            "create",
            "--name",
            "shipper-test",
            "--role",
            "shipper",
        ],
    );
    let text = String::from_utf8_lossy(&out).into_owned();
    text.split_whitespace()
        .find(|w| w.starts_with("secops_"))
        .expect("the key is printed")
        .to_string()
}

#[test]
fn every_listener_gives_the_events_of_ingest_over_the_same_lines() {
    let Some(lines) = corpus_lines("OpenSSH_2k.log") else {
        return;
    };
    let lines = &lines[..600];
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    std::fs::create_dir(d.join("rules")).expect("mkdir");
    // One catch-all rule per product the events come from (syslog lines, Windows documents).
    std::fs::write(
        d.join("rules/every_linux_event.toml"),
        CATCH_ALL.replace("PRODUCT", "linux"),
    )
    .expect("rule");
    let windows = CATCH_ALL.replace("PRODUCT", "windows").replace(
        "1f0c8a3e-9a52-4c7e-9a1e-3b5c4f9d2a10",
        "2a7d9b41-6c3e-4f1a-8b2d-5e9c0a7f3b21",
    );
    std::fs::write(d.join("rules/every_windows_event.toml"), windows).expect("rule");
    let (cert, key) = tls_files(d);
    let api_key = make_key(&d.join("secops.db"));
    // The tailed file: written in two parts, rotated in between (renamed away, one last write to
    // the old file, a new file under the name), then truncated and written again.
    let tailed = d.join("app.log");
    let mut file = std::fs::File::create(&tailed).expect("create");
    file.write_all((lines[..200].join("\n") + "\n").as_bytes())
        .expect("write");
    write_config(
        d,
        &format!(
            r#"
[store]
db = "secops.db"

[rules]
paths = ["rules"]
aggregate = "per-event"

[engine]
commit_ms = 50

[[listen]]
kind = "syslog-udp"
name = "udp"
address = "127.0.0.1:0"
year = 2016

[[listen]]
kind = "syslog-tcp"
name = "tcp"
address = "127.0.0.1:0"
year = 2016

[[listen]]
kind = "syslog-tls"
name = "tls"
address = "127.0.0.1:0"
year = 2016
certificate = "{}"
key = "{}"

[[listen]]
kind = "http"
name = "http"
address = "127.0.0.1:0"

[[listen]]
kind = "tail"
name = "tail"
path = "app.log"
format = "syslog"
year = 2016
"#,
            cert.display(),
            key.display()
        ),
    );
    let live = Live::start(d, &[]);
    send_udp(live.address("udp"), lines);
    send_tcp(live.address("tcp"), lines);
    send_tls(live.address("tls"), &cert, lines);
    // HTTP: the Elasticsearch bulk shape, Windows event documents from the samples.
    let ecs: Vec<String> = ["samples/windows.jsonl"]
        .iter()
        .flat_map(|f| {
            std::fs::read_to_string(repo().join(f))
                .expect("samples")
                .lines()
                .filter(|l| !l.trim().is_empty())
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
        .collect();
    let mut bulk = String::new();
    for (i, doc) in ecs.iter().enumerate() {
        bulk.push_str(&format!(
            "{{\"create\":{{\"_index\":\"logs-test\",\"_id\":\"d{i}\"}}}}\n{doc}\n"
        ));
    }
    // A probe first, as shippers do; then a refusal without a key; then the bulk request.
    let (status, body) = http(live.address("http"), "GET", "/", Some(&api_key), b"");
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"number\":\"8."), "{body}");
    let (status, _) = http(
        live.address("http"),
        "POST",
        "/_bulk",
        None,
        bulk.as_bytes(),
    );
    assert_eq!(status, 401);
    let (status, body) = http(
        live.address("http"),
        "POST",
        "/_bulk",
        Some(&api_key),
        bulk.as_bytes(),
    );
    assert_eq!(status, 200, "{body}");
    let response: Value = serde_json::from_str(&body).expect("bulk response");
    assert_eq!(response["errors"], false, "{body}");
    assert_eq!(response["items"].as_array().map(Vec::len), Some(ecs.len()));
    assert_eq!(response["items"][0]["create"]["status"], 201);
    // The tailed file, rotated and truncated mid-test.
    live.wait("the first part of the file", |s| {
        s["sources"]
            .as_array()
            .is_some_and(|a| a.iter().any(|x| x["name"] == "tail" && x["events"] == 200))
    });
    std::fs::rename(&tailed, d.join("app.log.1")).expect("rotate");
    file.write_all((lines[200..220].join("\n") + "\n").as_bytes())
        .expect("last write to the old file");
    drop(file);
    std::fs::write(&tailed, lines[220..400].join("\n") + "\n").expect("the new file");
    live.wait("the rotated file", |s| {
        s["sources"]
            .as_array()
            .is_some_and(|a| a.iter().any(|x| x["name"] == "tail" && x["events"] == 400))
    });
    // copytruncate: emptied in place, then written again.
    std::fs::OpenOptions::new()
        .write(true)
        .open(&tailed)
        .expect("open")
        .set_len(0)
        .expect("truncate");
    std::thread::sleep(Duration::from_millis(400));
    std::fs::write(&tailed, lines[400..].join("\n") + "\n").expect("written again");
    let total = lines.len();
    live.wait("every line", |s| {
        s["sources"].as_array().is_some_and(|a| {
            ["udp", "tcp", "tls", "tail"]
                .iter()
                .all(|n| a.iter().any(|x| x["name"] == *n && x["events"] == total))
                && a.iter()
                    .any(|x| x["name"] == "http" && x["events"] == ecs.len())
        })
    });
    let (code, log) = live.stop();
    assert_eq!(code, Some(0), "{}", log.join("\n"));

    let events = alerted_events(&d.join("secops.db"));
    let syslog = ingested(d, lines, "syslog");
    for source in ["udp", "tcp", "tls"] {
        assert_eq!(events.get(source), Some(&syslog), "{source}");
    }
    // The tailed files' events are named after the file, as ingest names them.
    let tail = events
        .iter()
        .filter(|(s, _)| s.ends_with("app.log"))
        .flat_map(|(_, e)| e.clone())
        .collect::<Vec<_>>();
    let mut tail = tail;
    tail.sort();
    assert_eq!(tail, syslog, "tail");
    let json = ingested(d, &ecs, "json");
    assert_eq!(events.get("http"), Some(&json), "http");
}

/// `secops detect` over `file` (a name in `dir`) into `dir/reference.db`: the reference alerts.
pub(super) fn detected(dir: &Path, file: &str) {
    let out = Command::new(env!("CARGO_BIN_EXE_secops"))
        .args(["detect", "--year", "2016", "--db", "reference.db", file])
        .current_dir(dir)
        .output()
        .expect("secops runs");
    assert!(matches!(out.status.code(), Some(0 | 1)), "{}", stderr(&out));
}

#[test]
fn killed_at_fixed_points_and_restarted_it_records_exactly_the_alerts_of_detect() {
    let Some(lines) = corpus_lines("OpenSSH_2k.log") else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("auth.log");
    std::fs::write(&file, lines.join("\n") + "\n").expect("write");
    // Provenance (the file's name and line) is part of an alert's identity: the same name here, and
    // as the TCP listener's name, whose messages are numbered as the file's lines.
    detected(dir.path(), "auth.log");
    let reference = alert_keys(&dir.path().join("reference.db"));
    // The bundled pack's brute-force thresholds, sequences and folded repeats span the kill points.
    assert!(reference.len() >= 15, "{}", reference.len());
    assert!(reference
        .iter()
        .any(|a| a.contains("\"alert.suppression.docs_count\":")));

    // A followed file, and the same lines over TCP (journaled before the engine reads them).
    for (input, abort) in [
        ("tail", "events:1000"),
        ("tail", "commit:3"),
        ("tcp", "events:1500"),
        ("tcp", "commit:2"),
    ] {
        let run = tempfile::tempdir().expect("tempdir");
        let d = run.path();
        std::fs::copy(&file, d.join("auth.log")).expect("copy");
        let listener = if input == "tail" {
            "kind = \"tail\"\npath = \"auth.log\"\nname = \"auth.log\"\n"
        } else {
            "kind = \"syslog-tcp\"\naddress = \"127.0.0.1:0\"\nname = \"auth.log\"\n"
        };
        write_config(
            d,
            &format!(
                "[store]\ndb = \"secops.db\"\n\n[engine]\nbatch = 100\ncommit_ms = 10\n\n\
                 [[listen]]\n{listener}year = 2016\n"
            ),
        );
        let live = Live::start(
            d,
            &[
                ("SECOPS_TEST_ABORT", abort),
                ("SECOPS_TEST_HOLD_MS", "1500"),
            ],
        );
        if input == "tcp" {
            send_tcp(live.address("auth.log"), &lines);
        }
        let code = live.ended();
        assert_ne!(
            code,
            Some(0),
            "{input} {abort}: the abort point was not reached"
        );
        // Restarted and stopped at once: it reads what is left, commits and ends.
        let live = Live::start(d, &[]);
        let (code, log) = live.stop();
        assert_eq!(code, Some(0), "{}", log.join("\n"));
        assert!(
            log.iter().any(|l| l.contains("resuming from checkpoint")) || abort == "events:1000",
            "{input} {abort}: {}",
            log.join("\n")
        );
        assert_eq!(
            alert_keys(&d.join("secops.db")),
            reference,
            "{input} {abort}"
        );
    }
}

#[test]
fn hostile_senders_are_refused_or_bounded_and_counted() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let api_key = make_key(&d.join("secops.db"));
    write_config(
        d,
        r#"
[store]
db = "secops.db"

[[listen]]
kind = "syslog-tcp"
name = "tcp"
address = "127.0.0.1:0"
year = 2016
max_message = 300
max_connections = 4
idle_seconds = 1

[[listen]]
kind = "syslog-udp"
name = "udp"
address = "127.0.0.1:0"
year = 2016
max_message = 300

[[listen]]
kind = "syslog-udp"
name = "udp-allow"
address = "127.0.0.1:0"
allow = ["10.0.0.0/8"]

[[listen]]
kind = "http"
name = "http"
address = "127.0.0.1:0"
max_message = 2000
"#,
    );
    let live = Live::start(d, &[]);
    let good = "<38>Dec 10 06:55:46 LabSZ sshd[24200]: Invalid user webmaster from 173.234.31.186";
    // Oversize in both framings, then a good line each; a counted frame cut short at the end.
    let mut stream = TcpStream::connect(live.address("tcp")).expect("connect");
    let long = "x".repeat(5000);
    let counted = "y".repeat(400);
    let text = format!("{long}\n{good}\n400 {counted}{good}\n120 <13>cut");
    stream.write_all(text.as_bytes()).expect("write");
    drop(stream);
    // A flood of connections past the limit, held open and silent (so also slow clients).
    let flood: Vec<TcpStream> = (0..12)
        .filter_map(|_| TcpStream::connect(live.address("tcp")).ok())
        .collect();
    // Oversize datagrams and a sender not allowed.
    let udp = UdpSocket::bind("127.0.0.1:0").expect("bind");
    udp.send_to(&long.as_bytes()[..1000], live.address("udp"))
        .expect("send");
    udp.send_to(good.as_bytes(), live.address("udp"))
        .expect("send");
    udp.send_to(good.as_bytes(), live.address("udp-allow"))
        .expect("send");
    // HTTP: items refused one by one while the good one is taken.
    let bulk = format!(
        "{{\"index\":{{}}}}\nnot json\n{{\"delete\":{{\"_id\":\"1\"}}}}\n{{\"index\":{{}}}}\n{{\"big\":\"{}\"}}\n{{\"index\":{{}}}}\n{{\"@timestamp\":\"2016-12-10T06:55:46Z\",\"message\":\"ok\"}}\n",
        "z".repeat(3000)
    );
    let (status, body) = http(
        live.address("http"),
        "POST",
        "/_bulk",
        Some(&api_key),
        bulk.as_bytes(),
    );
    assert_eq!(status, 200, "{body}");
    let response: Value = serde_json::from_str(&body).expect("bulk response");
    assert_eq!(response["errors"], true);
    let statuses: Vec<u64> = response["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|i| {
            i.as_object()
                .and_then(|o| o.values().next())
                .map_or(0, |v| v["status"].as_u64().unwrap_or(0))
        })
        .collect();
    assert_eq!(statuses, vec![400, 400, 413, 201], "{body}");
    let (status, _) = http(
        live.address("http"),
        "POST",
        "/_bulk",
        Some("secops_00000000_nope"),
        bulk.as_bytes(),
    );
    assert_eq!(status, 401);

    live.wait("every refusal counted", |s| {
        let source = |n: &str| {
            s["sources"]
                .as_array()
                .and_then(|a| a.iter().find(|x| x["name"] == n).cloned())
                .unwrap_or(Value::Null)
        };
        let (tcp, udp, allow, http) = (
            source("tcp"),
            source("udp"),
            source("udp-allow"),
            source("http"),
        );
        tcp["oversize"].as_u64() >= Some(2)
            && tcp["malformed"] == 1
            && tcp["events"] == 2
            && tcp["connections_refused"].as_u64() >= Some(8)
            && tcp["idle_closed"].as_u64() >= Some(3)
            && udp["oversize"] == 1
            && udp["events"] == 1
            && allow["refused_senders"] == 1
            && allow["events"] == 0
            && http["items_refused"] == 3
            && http["events"] == 1
    });
    drop(flood);
    let log = live.log();
    for kind in ["oversize", "malformed", "connections", "idle", "sender"] {
        assert!(
            log.iter()
                .any(|l| l.contains(&format!("\"event.kind\":\"{kind}\""))),
            "no {kind} log line: {}",
            log.join("\n")
        );
    }
    // Memory stayed small: nothing of the oversize messages was kept.
    let rss = std::fs::read_to_string(format!("/proc/{}/status", live.child.id()))
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("VmHWM:")).and_then(|l| {
                l.split_whitespace()
                    .nth(1)
                    .and_then(|k| k.parse::<u64>().ok())
            })
        })
        .unwrap_or(0);
    assert!(rss > 0 && rss < 400_000, "peak RSS {rss} kB");
    let (code, log) = live.stop();
    assert_eq!(code, Some(0), "{}", log.join("\n"));
}

/// Runs `openssl` with `args` in `dir`.
fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl runs");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Sends one message over TLS, with a client certificate or without; whether it was sent.
fn send_tls_as(address: SocketAddr, dir: &Path, client: bool, message: &str) -> bool {
    let script = r#"
import socket, ssl, sys
host, port, cafile, client, message = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
context = ssl.create_default_context(cafile=cafile)
if client == "yes":
    context.load_cert_chain("client.pem", "client.key")
try:
    with socket.create_connection((host, port)) as raw:
        with context.wrap_socket(raw, server_hostname="localhost") as tls:
            tls.sendall(message.encode() + b"\n")
            tls.unwrap()
except (ssl.SSLError, OSError) as e:
    print("refused:", e)
    sys.exit(3)
"#;
    let out = Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(address.ip().to_string())
        .arg(address.port().to_string())
        .arg("cert.pem")
        .arg(if client { "yes" } else { "no" })
        .arg(message)
        .current_dir(dir)
        .output()
        .expect("python3 runs");
    out.status.success()
}

#[test]
fn mutual_tls_eps_limits_and_the_server_in_the_same_process() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    tls_files(d);
    // A CA of the clients, and a client certificate it signed.
    openssl(
        d,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=clients",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
        ],
    );
    openssl(
        d,
        &[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            "/CN=client",
            "-keyout",
            "client.key",
            "-out",
            "client.csr",
        ],
    );
    std::fs::write(d.join("client.ext"), "extendedKeyUsage = clientAuth\n").expect("ext");
    openssl(
        d,
        &[
            "x509",
            "-req",
            "-in",
            "client.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            "client.ext",
            "-out",
            "client.pem",
        ],
    );
    write_config(
        d,
        r#"
[store]
db = "secops.db"

[[listen]]
kind = "syslog-tls"
name = "mtls"
address = "127.0.0.1:0"
certificate = "cert.pem"
key = "key.pem"
client_ca = "ca.pem"
year = 2016

[[listen]]
kind = "syslog-udp"
name = "limited"
address = "127.0.0.1:0"
eps = 5
year = 2016

[server]
address = "127.0.0.1:0"
"#,
    );
    let live = Live::start(d, &[]);
    let good = "<38>Dec 10 06:55:46 LabSZ sshd[24200]: Invalid user webmaster from 173.234.31.186";
    // Without a certificate: the server refuses the handshake (under TLS 1.3 the client may learn it
    // only after sending, so the server's counts are what is checked).
    send_tls_as(
        live.address("mtls"),
        d,
        false,
        "<38>Dec 10 06:55:46 LabSZ sshd[1]: must not arrive",
    );
    assert!(
        send_tls_as(live.address("mtls"), d, true, good),
        "the client with a certificate was refused"
    );
    let udp = UdpSocket::bind("127.0.0.1:0").expect("bind");
    for _ in 0..60 {
        udp.send_to(good.as_bytes(), live.address("limited"))
            .expect("send");
    }
    live.wait(
        "one TLS message, the handshake refused, the datagrams over the limit",
        |s| {
            let source = |n: &str| {
                s["sources"]
                    .as_array()
                    .and_then(|a| a.iter().find(|x| x["name"] == n).cloned())
                    .unwrap_or(Value::Null)
            };
            let (mtls, limited) = (source("mtls"), source("limited"));
            mtls["events"] == 1
                && mtls["malformed"] == 1
                && limited["dropped_eps"].as_u64() >= Some(40)
                && limited["events"]
                    .as_u64()
                    .is_some_and(|e| (5..=20).contains(&e))
        },
    );
    // The console answers beside the listeners.
    let (status, body) = http(live.address("server"), "GET", "/login", None, b"");
    assert_eq!(status, 200, "{body}");
    let (code, log) = live.stop();
    assert_eq!(code, Some(0), "{}", log.join("\n"));
    assert!(
        log.iter().any(|l| l.contains("\"event.kind\":\"tls\"")),
        "{}",
        log.join("\n")
    );
    assert!(
        log.iter().any(|l| l.contains("\"event.kind\":\"eps\"")),
        "{}",
        log.join("\n")
    );
}

/// Events in the lake at `dir/lake`, by `hunt run` (each event once: the lake keeps an event's id once).
pub(super) fn lake_count(dir: &Path) -> u64 {
    let out = Command::new(env!("CARGO_BIN_EXE_secops"))
        .args([
            "hunt",
            "run",
            "--lake",
            "lake",
            "--output",
            "jsonl",
            "FROM logs-* | STATS n = count(*)",
        ])
        .current_dir(dir)
        .output()
        .expect("secops runs");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let row: Value =
        serde_json::from_str(String::from_utf8_lossy(&out.stdout).trim()).expect("one row");
    row["n"].as_u64().expect("a count")
}

#[test]
fn the_lake_holds_every_event_once_through_a_kill_and_scheduled_hunts_run_over_it() {
    let Some(lines) = corpus_lines("OpenSSH_2k.log") else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    std::fs::write(d.join("auth.log"), lines.join("\n") + "\n").expect("write");
    detected(d, "auth.log");
    let reference = alert_keys(&d.join("reference.db"));
    write_config(
        d,
        r#"
[store]
db = "secops.db"

[engine]
batch = 100
commit_ms = 10

[lake]
path = "lake"
flush_seconds = 1

[[hunt]]
name = "Sources with many failed SSH logons"
every_minutes = 1
look_back = "4000d"

[[listen]]
kind = "tail"
path = "auth.log"
name = "auth.log"
year = 2016
"#,
    );
    // Killed before the lake's first flush (the rules ahead of it), then again right after a flush
    // the checkpoint does not know of (the lake ahead of its saved position): each restart reads
    // again from where the lake had got to, the rules from their own checkpoint.
    for abort in ["events:1800", "lake:1"] {
        let live = Live::start(
            d,
            &[("SECOPS_TEST_ABORT", abort), ("SECOPS_TEST_HOLD_MS", "200")],
        );
        assert_ne!(live.ended(), Some(0), "{abort}");
    }
    let live = Live::start(d, &[]);
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(60)
        && !live.log().iter().any(|l| l.contains("new alert(s)"))
    {
        std::thread::sleep(Duration::from_millis(200));
    }
    let (code, log) = live.stop();
    assert_eq!(code, Some(0), "{}", log.join("\n"));
    assert_eq!(lake_count(d), lines.len() as u64, "{}", log.join("\n"));
    let hunt_line = log
        .iter()
        .find(|l| l.contains("Sources with many failed SSH logons:") && l.contains("new alert(s)"))
        .unwrap_or_else(|| panic!("the hunt did not run: {}", log.join("\n")));
    assert!(hunt_line.contains(" row(s), "), "{hunt_line}");
    // The rules' alerts are detect's; the hunt's rows are alerts of their own on top.
    let hunt_alerts: Vec<String> = alert_keys(&d.join("secops.db"))
        .into_iter()
        .filter(|a| !reference.contains(a))
        .collect();
    assert!(!hunt_alerts.is_empty());
    let rule_alerts: Vec<String> = alert_keys(&d.join("secops.db"))
        .into_iter()
        .filter(|a| reference.contains(a))
        .collect();
    assert_eq!(rule_alerts, reference);
}

/// Per-rule allowed lateness: su lines ten seconds apart, then ten from over three minutes earlier.
/// Against an hour of lateness for the run nothing is late; against the minute allowed the su rule,
/// the ten are late for it, counted (status, log) and still run (their alerts recorded). A rule the
/// config names that is not loaded stops the start with its name.
#[test]
fn events_later_than_a_rules_allowed_lateness_are_counted_against_it_and_still_run() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let su = |seconds: u32, i: u32| {
        format!(
            "Mar  3 {:02}:{:02}:{:02} bastion su: (to root) deploy{i} on pts/0",
            seconds / 3600,
            seconds / 60 % 60,
            seconds % 60
        )
    };
    let mut lines: Vec<String> = (0..20).map(|i| su(43_200 + 10 * i, i)).collect();
    lines.extend((0..10).map(|i| su(43_140 + i, 20 + i)));
    std::fs::write(d.join("auth.log"), lines.join("\n") + "\n").expect("write");
    let config = |rule: &str| {
        format!(
            "[store]\ndb = \"secops.db\"\n\n[engine]\ncommit_ms = 20\nlateness_seconds = 3600\n\n\
             [engine.rule_lateness_seconds]\n\"{rule}\" = 60\n\n\
             [[listen]]\nkind = \"tail\"\npath = \"auth.log\"\nname = \"auth\"\nyear = 2016\n"
        )
    };
    write_config(d, &config("Successful su to root"));
    let live = Live::start(d, &[]);
    live.wait("the late su lines counted", |s| {
        s["events"] == 30 && s["late_rules"] == serde_json::json!([["Successful su to root", 10]])
    });
    assert_eq!(live.status()["late"], 0);
    let (code, log) = live.stop();
    assert_eq!(code, Some(0), "{log:?}");
    assert!(
        log.iter()
            .any(|l| l.contains("Successful su to root") && l.contains("allowed lateness")),
        "{log:?}"
    );
    // Still run: the alerts `secops detect` records over the same file.
    detected(d, "auth.log");
    let reference = alert_keys(&d.join("reference.db"));
    assert!(reference.len() >= 10, "{reference:?}");
    assert_eq!(alert_keys(&d.join("secops.db")), reference);

    write_config(d, &config("no such rule"));
    let out = Command::new(env!("CARGO_BIN_EXE_secops"))
        .args(["run", "--config", "secops.toml"])
        .current_dir(d)
        .output()
        .expect("secops run");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("no such rule"), "{stderr}");
}

/// `[vuln]`: open findings past their deadline (KEV due dates long gone) raise the alerts `secops
/// vuln sla --raise` raises over the same findings, once each: a restart raises none again.
#[test]
fn findings_past_their_deadline_raise_the_breach_alerts_of_vuln_sla_while_running() {
    let Some(vuln) = secops_testkit::shared("corpus/vuln") else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let file = |name: &str| vuln.join(name).to_string_lossy().into_owned();
    for db in ["secops.db", "reference.db"] {
        let db = d.join(db);
        on_store(
            &db,
            &[
                "vuln",
                "import",
                &file("nessus/dd-nessus_with_cvssv3.nessus"),
                &file("grype/dd-many_vulns_with_epss_values.json"),
            ],
        );
        on_store(
            &db,
            &[
                "vuln",
                "refresh",
                &file("kev/known_exploited_vulnerabilities.json"),
            ],
        );
    }
    on_store(&d.join("reference.db"), &["vuln", "sla", "--raise"]);
    let reference = alert_keys(&d.join("reference.db"));
    assert!(
        !reference.is_empty(),
        "the corpus has findings in KEV past their due date"
    );
    std::fs::write(d.join("auth.log"), "").expect("write");
    write_config(
        d,
        r#"
[store]
db = "secops.db"

[vuln]
sla_every_minutes = 1

[[listen]]
kind = "tail"
path = "auth.log"
name = "auth.log"
"#,
    );
    let breaches = |log: &[String]| {
        log.iter()
            .find(|l| l.contains("past their deadline"))
            .cloned()
    };
    for round in ["first", "again"] {
        let live = Live::start(d, &[]);
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(60) && breaches(&live.log()).is_none() {
            std::thread::sleep(Duration::from_millis(100));
        }
        let (code, log) = live.stop();
        assert_eq!(code, Some(0), "{}", log.join("\n"));
        let line = breaches(&log).unwrap_or_else(|| panic!("no SLA round: {}", log.join("\n")));
        let (new, before) = match round {
            "first" => (reference.len(), 0),
            _ => (0, reference.len()),
        };
        assert!(
            line.contains(&format!(
                "{} finding(s) past their deadline: {new} new SLA breach alert(s), {before} raised \
                 before",
                reference.len()
            )),
            "{round}: {line}"
        );
        assert_eq!(alert_keys(&d.join("secops.db")), reference, "{round}");
    }
}

/// `[respond]` beside `[server]`: brute-force alerts wait for approval; a second person approves
/// one through the API; the process is killed (-9) before it runs it, then aborts right after
/// claiming it; after the next restart it is sent exactly once (signed), and never again.
#[test]
fn an_approved_response_runs_exactly_once_through_kill_9_and_restarts() {
    let Some(linux) = secops_testkit::shared("corpus/linux") else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let db = d.join("secops.db");
    let log_file = linux.join("OpenSSH_2k.log").to_string_lossy().into_owned();
    let mut add = Command::new(env!("CARGO_BIN_EXE_secops"))
        .args([
            "user",
            "add",
            "rita",
            "--role",
            "responder",
            "--password-stdin",
            "--db",
        ])
        .arg(&db)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("user add");
    add.stdin
        .take()
        .expect("stdin")
        .write_all(b"a long passphrase\n")
        .expect("password");
    assert!(add.wait().expect("user add").success());
    let (hook, deliveries) = secops_testkit::http_receiver(vec![200]);
    std::fs::write(
        d.join("respond.toml"),
        format!(
            r#"
[[connector]]
name = "soc"
kind = "webhook"
url = "{hook}/hook"
signing_secret = "soc"

[[action]]
id = "notify-soc"
target = "ip"
connector = "soc"
approval = "always"
params = {{ rule = "{{{{ alert.rule.name }}}}" }}

[[workflow]]
id = "ssh"
on = "alert"
rules = ["SSH Password Brute Force from a Single Source"]
steps = [{{ action = "notify-soc" }}]
"#
        ),
    )
    .expect("respond.toml");
    let secrets = d.join("secrets.toml");
    std::fs::write(
        &secrets,
        "soc = \"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\"\n",
    )
    .expect("secrets");
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&secrets, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    }
    std::fs::write(d.join("auth.log"), "").expect("write");
    write_config(
        d,
        r#"
[store]
db = "secops.db"

[server]
address = "127.0.0.1:0"

[respond]
config = "respond.toml"
secrets = "secrets.toml"
every_seconds = 3600

[[listen]]
kind = "tail"
path = "auth.log"
name = "auth.log"
"#,
    );
    // Turned on for the first time: the store's past is not acted on; what comes after is.
    let live = Live::start(d, &[]);
    let first = |log: &[String]| {
        log.iter()
            .any(|l| l.contains("first start of response automation"))
    };
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(60) && !first(&live.log()) {
        std::thread::sleep(Duration::from_millis(100));
    }
    let (code, log) = live.stop();
    assert_eq!(code, Some(0), "{}", log.join("\n"));
    assert!(first(&log), "{}", log.join("\n"));
    on_store(
        &db,
        &[
            "detect", &log_file, "--year", "2015", "--store", "--output", "jsonl",
        ],
    );
    let waiting = |log: &[String]| log.iter().any(|l| l.contains("awaiting approval"));
    let live = Live::start(d, &[]);
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(60) && !waiting(&live.log()) {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(waiting(&live.log()), "{}", live.log().join("\n"));
    // Rita signs in and approves the first request through the API.
    let base = format!("http://{}", live.address("server"));
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let mut login = agent
        .post(format!("{base}/api/v1/login"))
        .header("content-type", "application/json")
        .send(serde_json::json!({"user": "rita", "password": "a long passphrase"}).to_string())
        .expect("login");
    let cookie = login
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .expect("session cookie")
        .to_string();
    let login: Value =
        serde_json::from_str(&login.body_mut().read_to_string().expect("login body"))
            .expect("json");
    let csrf = login["csrf_token"].as_str().expect("csrf").to_string();
    let listed: Value = serde_json::from_str(
        &agent
            .get(format!("{base}/api/v1/responses?state=awaiting_approval"))
            .header("cookie", &cookie)
            .call()
            .expect("list")
            .body_mut()
            .read_to_string()
            .expect("runs"),
    )
    .expect("json");
    let runs = listed["runs"].as_array().expect("runs");
    assert!(runs.len() >= 3, "{listed}");
    let run = runs.last().expect("a run")["id"].as_i64().expect("id");
    let mut approved = agent
        .post(format!("{base}/api/v1/responses/{run}/approve"))
        .header("cookie", &cookie)
        .header("x-csrf-token", &csrf)
        .header("content-type", "application/json")
        .send(serde_json::json!({"note": "confirmed"}).to_string())
        .expect("approve");
    assert_eq!(approved.status().as_u16(), 200);
    let approved: Value =
        serde_json::from_str(&approved.body_mut().read_to_string().expect("run")).expect("json");
    assert_eq!(approved["state"], "approved");
    // Killed (-9: what dropping it does) before its next round: approved, not run.
    drop(live);
    assert!(deliveries.recv_timeout(Duration::from_millis(300)).is_err());

    // Aborts right after claiming it (as a kill -9 between claim and send would leave it).
    let live = Live::start(d, &[("SECOPS_RESPOND_FAULT", "claimed")]);
    let code = live.ended();
    assert_ne!(code, Some(0));
    assert!(deliveries.recv_timeout(Duration::from_millis(300)).is_err());

    // Restarted: the run cut off is sent again (the receiver dedupes by id), once.
    let sent = |log: &[String]| {
        log.iter().any(|l| {
            l.contains(&format!("run {run} notify-soc do on ip")) && l.contains("succeeded")
        })
    };
    let live = Live::start(d, &[]);
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(60) && !sent(&live.log()) {
        std::thread::sleep(Duration::from_millis(100));
    }
    let (code, log) = live.stop();
    assert_eq!(code, Some(0), "{}", log.join("\n"));
    assert!(sent(&log), "{}", log.join("\n"));
    let got = deliveries
        .recv_timeout(Duration::from_secs(5))
        .expect("one delivery");
    let timestamp: i64 = got
        .header("webhook-timestamp")
        .expect("ts")
        .parse()
        .expect("ts");
    assert!(secops_respond::connector::verify(
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        got.header("webhook-id").expect("id"),
        timestamp,
        &got.body,
        got.header("webhook-signature").expect("signature"),
        timestamp,
    ));
    let body: Value = serde_json::from_str(&got.body).expect("json");
    assert_eq!(body["data"]["run"]["id"], run);
    assert_eq!(body["data"]["run"]["requested_by"], "secops-run");
    assert_eq!(
        body["data"]["params"]["rule"],
        "SSH Password Brute Force from a Single Source"
    );

    // Once more: nothing is sent again; the others still wait for approval.
    let live = Live::start(d, &[]);
    std::thread::sleep(Duration::from_secs(2));
    let (code, _) = live.stop();
    assert_eq!(code, Some(0));
    assert!(deliveries.recv_timeout(Duration::from_millis(500)).is_err());
    let shown = on_store(
        &db,
        &[
            "respond",
            "list",
            "--state",
            "succeeded",
            "--config",
            &d.join("respond.toml").to_string_lossy(),
        ],
    );
    let shown = String::from_utf8_lossy(&shown);
    assert_eq!(
        shown.lines().filter(|l| l.contains("notify-soc")).count(),
        1,
        "{shown}"
    );
}
