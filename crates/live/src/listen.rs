//! The network listeners: syslog over UDP, TCP and TLS (RFC 5426, 6587, 5425). Each hands batches of
//! messages to its journal's writer thread through a bounded channel: when the spool is full the
//! channel fills, TCP and TLS readers wait (the sender's window closes: back-pressure) and UDP drops
//! what it cannot hand over, counted. Every refusal (a sender not allowed, a connection past the limit,
//! an oversize or malformed frame, an idle connection) is counted and logged, at most once per ten
//! seconds per kind and listener with the number since.

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, UdpSocket};
use tokio::sync::mpsc;

use crate::config::{allowed, Listen};
use crate::framing::{Frame, Framer};
use crate::log::Warnings;
use crate::metrics::SourceMetrics;

/// Messages received together, as one buffer and the ends of each.
#[derive(Debug, Default)]
pub struct Batch {
    pub received: i64,
    pub data: Vec<u8>,
    pub ends: Vec<usize>,
}

impl Batch {
    fn new() -> Self {
        Batch {
            received: secops_event::Timestamp::now().unix_nanos(),
            ..Batch::default()
        }
    }

    fn push(&mut self, message: &[u8]) {
        self.data.extend_from_slice(message);
        self.ends.push(self.data.len());
    }

    pub fn len(&self) -> usize {
        self.ends.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    pub fn messages(&self) -> impl Iterator<Item = &[u8]> {
        let mut start = 0;
        self.ends.iter().map(move |&end| {
            let message = &self.data[start..end];
            start = end;
            message
        })
    }
}

/// Messages in one batch at most (and bytes, roughly).
const BATCH: usize = 512;
const BATCH_BYTES: usize = 1 << 20;

/// What a listener needs besides its config.
#[derive(Debug, Clone)]
pub struct Handoff {
    pub name: String,
    pub sender: mpsc::Sender<Batch>,
    pub metrics: Arc<SourceMetrics>,
    pub warnings: Arc<Warnings>,
}

/// A token bucket: `rate` messages per second, bursts up to a second's worth.
#[derive(Debug)]
pub struct Limiter {
    rate: f64,
    tokens: f64,
    at: Instant,
}

impl Limiter {
    pub fn new(rate: u64) -> Self {
        Limiter {
            rate: rate as f64,
            tokens: rate as f64,
            at: Instant::now(),
        }
    }

    fn refill(&mut self) {
        let now = Instant::now();
        self.tokens =
            (self.tokens + now.duration_since(self.at).as_secs_f64() * self.rate).min(self.rate);
        self.at = now;
    }

    /// Takes one token if there is one.
    pub fn take(&mut self) -> bool {
        self.refill();
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    /// How long until `n` tokens are there.
    pub fn wait_for(&mut self, n: usize) -> Duration {
        self.refill();
        let missing = n as f64 - self.tokens;
        if missing <= 0.0 {
            self.tokens -= n as f64;
            Duration::ZERO
        } else {
            self.tokens -= n as f64;
            Duration::from_secs_f64(missing / self.rate)
        }
    }
}

/// Syslog over UDP: a datagram is a message.
pub async fn udp(socket: UdpSocket, listen: Listen, handoff: Handoff) {
    let blocks = listen.allowed();
    let mut limiter = listen.eps.map(Limiter::new);
    let mut buf = vec![0u8; 65_536];
    let m = &handoff.metrics;
    let mut kernel = KernelDrops::new(&socket);
    loop {
        let mut batch = Batch::new();
        let Ok((n, peer)) = socket.recv_from(&mut buf).await else {
            continue;
        };
        let mut take = |datagram: &[u8], peer: SocketAddr, batch: &mut Batch| {
            let n = datagram.len();
            if !allowed(&blocks, peer.ip()) {
                m.refused_senders.fetch_add(1, Ordering::Relaxed);
                handoff.warnings.warn(
                    &handoff.name,
                    "sender",
                    &format!("datagram from {} refused: not an allowed sender", peer.ip()),
                );
                return;
            }
            if n > listen.max_message {
                m.oversize.fetch_add(1, Ordering::Relaxed);
                handoff.warnings.warn(
                    &handoff.name,
                    "oversize",
                    &format!(
                        "datagram of {n} bytes from {} refused: over max_message",
                        peer.ip()
                    ),
                );
                return;
            }
            if limiter.as_mut().is_some_and(|l| !l.take()) {
                m.dropped_eps.fetch_add(1, Ordering::Relaxed);
                handoff
                    .warnings
                    .warn(&handoff.name, "eps", "datagram dropped: over the EPS limit");
                return;
            }
            batch.push(datagram);
        };
        take(&buf[..n], peer, &mut batch);
        // Whatever else is waiting goes in the same batch.
        while batch.len() < BATCH && batch.data.len() < BATCH_BYTES {
            match socket.try_recv_from(&mut buf) {
                Ok((n, peer)) => take(&buf[..n], peer, &mut batch),
                Err(_) => break,
            }
        }
        if batch.is_empty() {
            continue;
        }
        let count = batch.len() as u64;
        let bytes = batch.data.len() as u64;
        match handoff.sender.try_send(batch) {
            Ok(()) => {
                m.received.fetch_add(count, Ordering::Relaxed);
                m.bytes.fetch_add(bytes, Ordering::Relaxed);
            }
            Err(_) => {
                m.dropped_full.fetch_add(count, Ordering::Relaxed);
                handoff.warnings.warn(
                    &handoff.name,
                    "spool",
                    "datagrams dropped: the spool is full (the engine or the store is behind)",
                );
            }
        }
        if let Some(kernel) = &mut kernel {
            kernel.update(m);
        }
    }
}

/// Reads the kernel's count of datagrams dropped on a socket (Linux: `/proc/net/udp`, `drops`).
#[derive(Debug)]
struct KernelDrops {
    inode: String,
    checked: Instant,
}

impl KernelDrops {
    fn new(socket: &UdpSocket) -> Option<Self> {
        use std::os::fd::AsRawFd;
        let link = std::fs::read_link(format!("/proc/self/fd/{}", socket.as_raw_fd())).ok()?;
        let link = link.to_string_lossy();
        let inode = link
            .strip_prefix("socket:[")?
            .strip_suffix(']')?
            .to_string();
        Some(KernelDrops {
            inode,
            checked: Instant::now(),
        })
    }

    fn update(&mut self, metrics: &SourceMetrics) {
        if self.checked.elapsed() < Duration::from_secs(1) {
            return;
        }
        self.checked = Instant::now();
        if let Some(drops) = kernel_drops(&self.inode) {
            metrics.kernel_drops.store(drops, Ordering::Relaxed);
        }
    }
}

/// The `drops` column of the socket with `inode` in `/proc/net/udp` or `udp6`.
pub fn kernel_drops(inode: &str) -> Option<u64> {
    for table in ["/proc/net/udp", "/proc/net/udp6"] {
        let Ok(text) = std::fs::read_to_string(table) else {
            continue;
        };
        for line in text.lines().skip(1) {
            let columns: Vec<&str> = line.split_whitespace().collect();
            if columns.get(9) == Some(&inode) {
                return columns.last()?.parse().ok();
            }
        }
    }
    None
}

/// Syslog over TCP: each connection framed as RFC 6587 says.
pub async fn tcp(
    listener: TcpListener,
    listen: Listen,
    handoff: Handoff,
    tls: Option<crate::tls::Acceptor>,
) {
    let blocks = listen.allowed();
    let limiter = listen
        .eps
        .map(|eps| Arc::new(tokio::sync::Mutex::new(Limiter::new(eps))));
    let slots = Arc::new(tokio::sync::Semaphore::new(listen.max_connections.max(1)));
    let listen = Arc::new(listen);
    loop {
        let Ok((stream, peer)) = listener.accept().await else {
            // Out of descriptors and the like: wait rather than spin.
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let m = handoff.metrics.clone();
        if !allowed(&blocks, peer.ip()) {
            m.refused_senders.fetch_add(1, Ordering::Relaxed);
            handoff.warnings.warn(
                &handoff.name,
                "sender",
                &format!(
                    "connection from {} refused: not an allowed sender",
                    peer.ip()
                ),
            );
            continue;
        }
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            m.connections_refused.fetch_add(1, Ordering::Relaxed);
            handoff.warnings.warn(
                &handoff.name,
                "connections",
                &format!(
                    "connection from {} refused: {} open already (max_connections)",
                    peer.ip(),
                    listen.max_connections
                ),
            );
            continue;
        };
        let _ = stream.set_nodelay(true);
        let (handoff, listen, limiter, tls) = (
            handoff.clone(),
            listen.clone(),
            limiter.clone(),
            tls.clone(),
        );
        tokio::spawn(async move {
            m.connections.fetch_add(1, Ordering::Relaxed);
            m.connections_open.fetch_add(1, Ordering::Relaxed);
            match tls {
                None => connection(stream, peer.ip(), &listen, &handoff, limiter).await,
                Some(acceptor) => {
                    let idle = Duration::from_secs(listen.idle_seconds.max(1));
                    match tokio::time::timeout(idle, acceptor.accept(stream)).await {
                        Ok(Ok(tls)) => connection(tls, peer.ip(), &listen, &handoff, limiter).await,
                        Ok(Err(e)) => {
                            m.malformed.fetch_add(1, Ordering::Relaxed);
                            handoff.warnings.warn(
                                &handoff.name,
                                "tls",
                                &format!("TLS handshake with {} failed: {e}", peer.ip()),
                            );
                        }
                        Err(_) => {
                            m.idle_closed.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
            }
            m.connections_open.fetch_sub(1, Ordering::Relaxed);
            drop(slot);
        });
    }
}

async fn connection<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    peer: IpAddr,
    listen: &Listen,
    handoff: &Handoff,
    limiter: Option<Arc<tokio::sync::Mutex<Limiter>>>,
) {
    let m = &handoff.metrics;
    let idle = Duration::from_secs(listen.idle_seconds.max(1));
    let mut framer = Framer::new(listen.max_message);
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match tokio::time::timeout(idle, stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => 0,
            Ok(Ok(n)) => n,
            Err(_) => {
                m.idle_closed.fetch_add(1, Ordering::Relaxed);
                handoff.warnings.warn(
                    &handoff.name,
                    "idle",
                    &format!(
                        "connection from {peer} closed: nothing sent for {}s",
                        idle.as_secs()
                    ),
                );
                0
            }
        };
        let mut batch = Batch::new();
        let mut take = |frame: Frame<'_>| match frame {
            Frame::Message(message) => batch.push(message),
            Frame::Oversize(len) => {
                m.oversize.fetch_add(1, Ordering::Relaxed);
                handoff.warnings.warn(
                    &handoff.name,
                    "oversize",
                    &format!("message of {len} bytes from {peer} skipped: over max_message"),
                );
            }
            Frame::Truncated { expected, got } => {
                m.malformed.fetch_add(1, Ordering::Relaxed);
                handoff.warnings.warn(
                    &handoff.name,
                    "malformed",
                    &format!("frame from {peer} cut short: {got} of {expected} bytes"),
                );
            }
        };
        if n == 0 {
            framer.finish(&mut take);
        } else {
            framer.push(&buf[..n], &mut take);
        }
        if !batch.is_empty() {
            if let Some(limiter) = &limiter {
                let wait = limiter.lock().await.wait_for(batch.len());
                // Over the EPS limit the sender is held back rather than dropped.
                if !wait.is_zero() {
                    tokio::time::sleep(wait).await;
                }
            }
            let (count, bytes) = (batch.len() as u64, batch.data.len() as u64);
            // Waits while the spool is full: the sender is held back, nothing is dropped.
            if handoff.sender.send(batch).await.is_err() {
                return;
            }
            m.received.fetch_add(count, Ordering::Relaxed);
            m.bytes.fetch_add(bytes, Ordering::Relaxed);
        }
        if n == 0 {
            // A TLS peer is told the session ends (close_notify); a TCP one gets its FIN.
            let _ = tokio::time::timeout(Duration::from_secs(1), stream.shutdown()).await;
            return;
        }
    }
}
