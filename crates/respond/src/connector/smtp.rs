//! E-mail over SMTP (RFC 5321), written here rather than pulled in: EHLO, AUTH PLAIN when a
//! user is given, MAIL, RCPT, DATA, QUIT. The subject is one line (line breaks from a log become
//! spaces; anything beyond ASCII goes as an RFC 2047 encoded word), and the body travels in base64,
//! so no value can add a header or end the message early.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde_json::Value;

use super::{bounded, Failure, Prepare, Reply, Request};
use crate::secret::Secrets;
use crate::RespondError;

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

pub(super) fn prepare(
    p: &Prepare<'_>,
    server: &str,
    from: &str,
    to: &[String],
    username: Option<&str>,
    password_secret: Option<&str>,
) -> Result<Request, RespondError> {
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
        "From: {from}\r\nTo: {}\r\nSubject: {}\r\nMessage-ID: <{}@secops>\r\nMIME-Version: 1.0\r\n\
         Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n{lines}",
        to.join(", "),
        header_value(&subject),
        p.delivery_id,
    );
    Ok(Request::Mail {
        server: server.to_string(),
        from: from.to_string(),
        to: to.to_vec(),
        subject,
        body,
        message,
        username: username.map(str::to_string),
        password_secret: password_secret.map(str::to_string),
    })
}

struct Session {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
    log: Vec<String>,
}

impl Session {
    /// Reads one reply (every line of a multi-line one); an unexpected code fails.
    fn expect(&mut self, code: u16) -> Result<String, Failure> {
        let mut last = String::new();
        for _ in 0..100 {
            let mut line = String::new();
            let n = self.reader.read_line(&mut line).map_err(|e| Failure {
                message: format!("SMTP read: {e}"),
                transient: true,
            })?;
            if n == 0 {
                return Err(Failure {
                    message: "SMTP server closed the connection".into(),
                    transient: true,
                });
            }
            let line = line.trim_end().to_string();
            let got: u16 = line.get(..3).and_then(|c| c.parse().ok()).unwrap_or(0);
            let more = line.as_bytes().get(3) == Some(&b'-');
            last = line;
            if !more {
                if got != code {
                    return Err(Failure {
                        message: format!("SMTP: {}", bounded(last.as_bytes())),
                        transient: (400..500).contains(&got),
                    });
                }
                self.log.push(last.clone());
                return Ok(last);
            }
        }
        Err(Failure {
            message: format!("SMTP: a reply of too many lines ({last})"),
            transient: false,
        })
    }

    fn say(&mut self, line: &str, code: u16) -> Result<String, Failure> {
        self.writer
            .write_all(format!("{line}\r\n").as_bytes())
            .map_err(|e| Failure {
                message: format!("SMTP write: {e}"),
                transient: true,
            })?;
        self.expect(code)
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
    let stream = TcpStream::connect_timeout(&address, timeout).map_err(io)?;
    stream.set_read_timeout(Some(timeout)).map_err(io)?;
    stream.set_write_timeout(Some(timeout)).map_err(io)?;
    let mut s = Session {
        reader: BufReader::new(stream.try_clone().map_err(io)?),
        writer: stream,
        log: Vec::new(),
    };
    s.expect(220)?;
    s.say("EHLO secops", 250)?;
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
