//! E-mail over SMTP (RFC 5321), written here rather than pulled in: EHLO, STARTTLS (RFC 3207) and
//! EHLO again, AUTH PLAIN when a user is given, MAIL, RCPT, DATA, QUIT; or the same inside TLS from
//! the first byte (port 465, RFC 8314). The server's certificate is checked against the public web
//! roots, or only against `ca_file`; a server that does not offer STARTTLS when it is asked for is
//! refused, never written to in the clear. The subject is one line (line breaks from a log become
//! spaces; anything beyond ASCII goes as an RFC 2047 encoded word), and the body travels in base64,
//! so no value can add a header or end the message early.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{IpAddr, TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::time::Duration;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use rustls::pki_types::ServerName;
use serde::Serialize;
use serde_json::Value;

use super::{bounded, Failure, Prepare, Reply, Request};
use crate::secret::Secrets;
use crate::RespondError;

/// How a connection to the relay is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum MailTls {
    /// Plain at first, then STARTTLS before anything else is said (port 587 or 25).
    Starttls,
    /// TLS from the first byte (port 465).
    Tls,
    /// No TLS: for a relay on this machine only when a password is sent.
    None,
}

/// Whether `server` (`host:port`) names this machine.
pub(super) fn loopback(server: &str) -> bool {
    let host = host_of(server);
    host.eq_ignore_ascii_case("localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// The host of `host:port` (`[::1]:25` gives `::1`).
fn host_of(server: &str) -> &str {
    let host = server.rsplit_once(':').map_or(server, |(h, _)| h);
    host.trim_start_matches('[').trim_end_matches(']')
}

/// An `smtp` connector's relay and envelope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Relay {
    /// `host:port`.
    pub server: String,
    pub from: String,
    pub to: Vec<String>,
    pub username: Option<String>,
    /// The secret holding the password.
    pub password_secret: Option<String>,
    pub tls: MailTls,
    /// Trusted instead of the public web roots.
    pub ca_file: Option<String>,
}

fn one_line(text: &str) -> String {
    let flat: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    flat.chars().take(200).collect()
}

fn header_value(text: &str) -> String {
    if text.is_ascii() {
        text.to_string()
    } else {
        format!("=?UTF-8?B?{}?=", STANDARD.encode(text))
    }
}

pub(super) fn prepare(p: &Prepare<'_>, relay: &Relay) -> Result<Request, RespondError> {
    let params = p.action.render_params(p.context, None)?;
    let text = |name: &str| match params.get(name) {
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
        None => String::new(),
    };
    let mut subject = one_line(&text("subject"));
    if subject.is_empty() {
        subject = one_line(&format!(
            "secops {}: {} on {}",
            p.operation.as_str(),
            p.action.name,
            p.target
        ));
    }
    let mut body = text("body");
    if body.is_empty() {
        body = format!(
            "{} ({}) {} on {}.\n",
            p.action.name,
            p.action.id,
            p.operation.as_str(),
            p.target
        );
    }
    let encoded = STANDARD.encode(body.as_bytes());
    let mut lines = String::new();
    for chunk in encoded.as_bytes().chunks(76) {
        lines.push_str(&String::from_utf8_lossy(chunk));
        lines.push_str("\r\n");
    }
    let message = format!(
        "From: {}\r\nTo: {}\r\nSubject: {}\r\nMessage-ID: <{}@secops>\r\nMIME-Version: 1.0\r\n\
         Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n{lines}",
        relay.from,
        relay.to.join(", "),
        header_value(&subject),
        p.delivery_id,
    );
    Ok(Request::Mail {
        server: relay.server.clone(),
        from: relay.from.clone(),
        to: relay.to.clone(),
        subject,
        body,
        message,
        username: relay.username.clone(),
        password_secret: relay.password_secret.clone(),
        tls: relay.tls,
        ca_file: relay.ca_file.clone(),
    })
}

/// The connection: plain, or inside TLS.
enum Conn {
    Plain(TcpStream),
    Tls(Box<rustls::StreamOwned<rustls::ClientConnection, TcpStream>>),
}

impl Read for Conn {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Conn::Plain(s) => s.read(buf),
            Conn::Tls(s) => s.read(buf),
        }
    }
}

impl Write for Conn {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Conn::Plain(s) => s.write(buf),
            Conn::Tls(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Conn::Plain(s) => s.flush(),
            Conn::Tls(s) => s.flush(),
        }
    }
}

/// A failure of the connection: a certificate or handshake refused is not worth a retry.
fn io_failure(what: &str, e: &std::io::Error) -> Failure {
    Failure {
        message: format!("SMTP {what}: {e}"),
        transient: e.kind() != std::io::ErrorKind::InvalidData,
    }
}

/// The TLS client settings: the public web roots, or only the certificates of `ca_file`.
fn client_config(ca_file: Option<&str>) -> Result<Arc<rustls::ClientConfig>, Failure> {
    let refuse = |message: String| Failure {
        message,
        transient: false,
    };
    let mut roots = rustls::RootCertStore::empty();
    match ca_file {
        Some(path) => {
            let pem = std::fs::read(path).map_err(|e| refuse(format!("ca_file {path}: {e}")))?;
            let mut found = 0;
            for cert in rustls_pemfile::certs(&mut pem.as_slice()) {
                let cert = cert.map_err(|e| refuse(format!("ca_file {path}: {e}")))?;
                roots
                    .add(cert)
                    .map_err(|e| refuse(format!("ca_file {path}: {e}")))?;
                found += 1;
            }
            if found == 0 {
                return Err(refuse(format!("ca_file {path}: no certificate in it")));
            }
        }
        None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| refuse(format!("TLS: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// `tcp` wrapped in TLS to `server` (the handshake happens on the first read or write).
fn wrap(tcp: TcpStream, server: &str, config: Arc<rustls::ClientConfig>) -> Result<Conn, Failure> {
    let name = ServerName::try_from(host_of(server).to_string()).map_err(|e| Failure {
        message: format!("SMTP {server}: not a name to check a certificate against: {e}"),
        transient: false,
    })?;
    let connection = rustls::ClientConnection::new(config, name).map_err(|e| Failure {
        message: format!("SMTP {server}: TLS: {e}"),
        transient: false,
    })?;
    Ok(Conn::Tls(Box::new(rustls::StreamOwned::new(
        connection, tcp,
    ))))
}

struct Session {
    stream: BufReader<Conn>,
    log: Vec<String>,
    /// Every line of the last reply (EHLO's name the extensions).
    reply: Vec<String>,
}

impl Session {
    /// Reads one reply (every line of a multi-line one); an unexpected code fails.
    fn expect(&mut self, code: u16) -> Result<String, Failure> {
        self.reply.clear();
        for _ in 0..100 {
            let mut line = String::new();
            let n = self
                .stream
                .read_line(&mut line)
                .map_err(|e| io_failure("read", &e))?;
            if n == 0 {
                return Err(Failure {
                    message: "SMTP server closed the connection".into(),
                    transient: true,
                });
            }
            let line = line.trim_end().to_string();
            let got: u16 = line.get(..3).and_then(|c| c.parse().ok()).unwrap_or(0);
            let more = line.as_bytes().get(3) == Some(&b'-');
            self.reply.push(line.clone());
            if !more {
                if got != code {
                    return Err(Failure {
                        message: format!("SMTP: {}", bounded(line.as_bytes())),
                        transient: (400..500).contains(&got),
                    });
                }
                self.log.push(line.clone());
                return Ok(line);
            }
        }
        Err(Failure {
            message: format!(
                "SMTP: a reply of too many lines ({})",
                self.reply.last().map(String::as_str).unwrap_or_default()
            ),
            transient: false,
        })
    }

    fn say(&mut self, line: &str, code: u16) -> Result<String, Failure> {
        let conn = self.stream.get_mut();
        conn.write_all(format!("{line}\r\n").as_bytes())
            .and_then(|()| conn.flush())
            .map_err(|e| io_failure("write", &e))?;
        self.expect(code)
    }

    /// Whether the last EHLO reply offers `extension`.
    fn offers(&self, extension: &str) -> bool {
        self.reply.iter().any(|l| {
            l.get(4..)
                .and_then(|rest| rest.split_whitespace().next())
                .is_some_and(|word| word.eq_ignore_ascii_case(extension))
        })
    }
}

pub(super) fn send(
    request: &Request,
    secrets: &Secrets,
    timeout: Duration,
) -> Result<Reply, Failure> {
    let Request::Mail {
        server,
        from,
        to,
        message,
        username,
        password_secret,
        tls,
        ca_file,
        ..
    } = request
    else {
        return Err(Failure {
            message: "not an e-mail".into(),
            transient: false,
        });
    };
    let io = |e: std::io::Error| Failure {
        message: format!("SMTP {server}: {e}"),
        transient: true,
    };
    let address = server
        .to_socket_addrs()
        .map_err(io)?
        .next()
        .ok_or_else(|| Failure {
            message: format!("SMTP {server}: no address"),
            transient: false,
        })?;
    let config = match tls {
        MailTls::None => None,
        MailTls::Starttls | MailTls::Tls => Some(client_config(ca_file.as_deref())?),
    };
    let stream = TcpStream::connect_timeout(&address, timeout).map_err(io)?;
    stream.set_read_timeout(Some(timeout)).map_err(io)?;
    stream.set_write_timeout(Some(timeout)).map_err(io)?;
    let conn = match (&config, tls) {
        (Some(config), MailTls::Tls) => wrap(stream, server, config.clone())?,
        _ => Conn::Plain(stream),
    };
    let mut s = Session {
        stream: BufReader::new(conn),
        log: Vec::new(),
        reply: Vec::new(),
    };
    s.expect(220)?;
    s.say("EHLO secops", 250)?;
    if let (Some(config), MailTls::Starttls) = (&config, tls) {
        if !s.offers("STARTTLS") {
            return Err(Failure {
                message: format!(
                    "SMTP {server}: the server does not offer STARTTLS; nothing was sent \
                     (tls = \"tls\" for port 465, \"none\" only for a relay on loopback)"
                ),
                transient: false,
            });
        }
        s.say("STARTTLS", 220)?;
        // Nothing is buffered past the 220: the server waits for the handshake.
        let Conn::Plain(tcp) = s.stream.into_inner() else {
            return Err(Failure {
                message: "SMTP: STARTTLS inside TLS".into(),
                transient: false,
            });
        };
        s = Session {
            stream: BufReader::new(wrap(tcp, server, config.clone())?),
            log: s.log,
            reply: Vec::new(),
        };
        // RFC 3207: what was learnt before TLS is forgotten; ask again.
        s.say("EHLO secops", 250)?;
    }
    if let Some(user) = username {
        let password = password_secret
            .as_deref()
            .and_then(|name| secrets.get(name))
            .ok_or_else(|| Failure {
                message: "SMTP: a username without its password secret".into(),
                transient: false,
            })?;
        let token = STANDARD.encode(format!("\0{user}\0{password}"));
        s.say(&format!("AUTH PLAIN {token}"), 235)?;
    }
    s.say(&format!("MAIL FROM:<{from}>"), 250)?;
    for t in to {
        s.say(&format!("RCPT TO:<{t}>"), 250)?;
    }
    s.say("DATA", 354)?;
    // The body is base64 and the headers one line each: no line is ".", but stuff dots anyway.
    let mut data = String::new();
    for line in message.split("\r\n") {
        if line.starts_with('.') {
            data.push('.');
        }
        data.push_str(line);
        data.push_str("\r\n");
    }
    data.push('.');
    let accepted = s.say(data.trim_end_matches("\r\n"), 250)?;
    let _ = s.say("QUIT", 221);
    Ok(Reply {
        status: accepted,
        body: s.log.join("\n"),
    })
}
