//! Connectors: how an action reaches the world. Each builds the exact request a run sends
//! ([`ConnectorDef::prepare`], what a dry run returns and what the record keeps, secrets named,
//! never written) and sends it ([`deliver`], with retries and backoff for what may pass).
//!
//! | kind | sends | parameters (`params` of an action) |
//! | --- | --- | --- |
//! | `webhook` | a JSON POST signed per Standard Webhooks (`webhook-id` stable across retries) | any: sent as `data.params` |
//! | `slack` | a Slack-compatible incoming-webhook message, values defanged and escaped | `text` |
//! | `command` | an allow-listed program with an argument vector, no shell | `options` (constants), `args` (templates, after `--`) |
//! | `nftables` | `nft add/delete element` on a set (in a network namespace if named) | `operation` (`add`, `delete`) |
//! | `iptables` | `iptables -I/-D INPUT -s ADDR -j DROP` (iptables-nft where nftables is not) | `operation` |
//! | `smtp` | an e-mail over SMTP: STARTTLS by default, TLS from the start, or none (loopback) | `subject`, `body` |

mod exec;
mod smtp;
mod webhook;

pub use smtp::{MailTls, Relay};

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::Value;

use crate::action::ActionDef;
use crate::secret::Secrets;
use crate::target::{Target, TargetKind};
use crate::template::Context;
use crate::RespondError;

pub use webhook::{sign, verify};

/// Doing an action, or undoing it (its inverse run by rollback).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Operation {
    Do,
    Undo,
}

impl Operation {
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::Do => "do",
            Operation::Undo => "undo",
        }
    }
}

/// One program invocation: the program and its arguments, each one argument (no shell).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Invocation {
    pub program: String,
    pub argv: Vec<String>,
    /// Removing what is already gone counts as done (nft's "No such file or directory" for an
    /// element someone removed by hand): an inverse run is not stuck on it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub absent_ok: bool,
}

/// The exact request a run sends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Request {
    Http {
        method: String,
        /// The address, or `<secret NAME>` when the address is itself a secret.
        url: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        url_secret: Option<String>,
        headers: Vec<(String, String)>,
        body: String,
    },
    Exec {
        invocations: Vec<Invocation>,
    },
    Mail {
        server: String,
        from: String,
        to: Vec<String>,
        subject: String,
        body: String,
        /// The message as sent (headers and the body in base64).
        message: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        username: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        password_secret: Option<String>,
        /// How the connection is protected.
        tls: smtp::MailTls,
        /// Trusted instead of the public web roots (a private relay's CA).
        #[serde(skip_serializing_if = "Option::is_none")]
        ca_file: Option<String>,
    },
}

/// What one run is, for a connector to build its request from.
#[derive(Debug)]
pub struct Prepare<'a> {
    pub action: &'a ActionDef,
    pub operation: Operation,
    pub target: &'a Target,
    /// The values templates read (`alert`, `case`, `target`, `run`).
    pub context: &'a Context,
    /// Stable across retries and restarts: the receiver's deduplication key.
    pub delivery_id: &'a str,
    /// When it is sent (Unix seconds), for signatures.
    pub at_unix: i64,
    pub secrets: &'a Secrets,
}

/// One connector, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConnectorDef {
    Webhook {
        name: String,
        url: Option<String>,
        url_secret: Option<String>,
        /// The signing secret's name (`whsec_…` base64, or any text).
        signing_secret: Option<String>,
        headers: BTreeMap<String, String>,
    },
    Slack {
        name: String,
        url_secret: String,
    },
    Command {
        name: String,
        program: String,
        args: Vec<String>,
    },
    Nftables {
        name: String,
        program: String,
        family: String,
        table: String,
        set: String,
        set6: Option<String>,
        netns: Option<String>,
        create: bool,
    },
    Iptables {
        name: String,
        program: String,
        program6: String,
        chain: String,
        netns: Option<String>,
    },
    Smtp {
        name: String,
        relay: Relay,
    },
}

fn text(table: &toml::Table, key: &str) -> Result<Option<String>, String> {
    match table.get(key) {
        None => Ok(None),
        Some(toml::Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(format!("{key}: a string")),
    }
}

fn required(table: &toml::Table, key: &str) -> Result<String, String> {
    text(table, key)?.ok_or_else(|| format!("{key}: required"))
}

fn texts(table: &toml::Table, key: &str) -> Result<Vec<String>, String> {
    match table.get(key) {
        None => Ok(Vec::new()),
        Some(toml::Value::Array(items)) => items
            .iter()
            .map(|v| {
                v.as_str()
                    .map(str::to_string)
                    .ok_or_else(|| format!("{key}: a list of strings"))
            })
            .collect(),
        Some(_) => Err(format!("{key}: a list of strings")),
    }
}

/// A word nft and iptables read as one name: letters, digits, `_`, `-`, `.`.
fn check_word(key: &str, value: &str) -> Result<(), String> {
    if value.is_empty()
        || value.len() > 64
        || !value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
    {
        return Err(format!(
            "{key} {value:?}: letters, digits, '_', '-' and '.' only"
        ));
    }
    Ok(())
}

/// An e-mail address as SMTP carries it: no spaces, brackets or line breaks.
fn check_mailbox(value: &str) -> Result<(), String> {
    let ok = value.contains('@')
        && value.len() <= 254
        && !value
            .chars()
            .any(|c| c.is_control() || c.is_whitespace() || matches!(c, '<' | '>' | '"' | ','));
    if ok {
        Ok(())
    } else {
        Err(format!("{value:?} is not an e-mail address"))
    }
}

impl ConnectorDef {
    /// Reads a `[[connector]]` table.
    pub fn from_table(table: &toml::Table) -> Result<ConnectorDef, String> {
        let name = required(table, "name")?;
        check_word("name", &name)?;
        let kind = required(table, "kind")?;
        let allowed: &[&str] = match kind.as_str() {
            "webhook" => &["url", "url_secret", "signing_secret", "headers"],
            "slack" => &["url_secret"],
            "command" => &["program", "args"],
            "nftables" => &["program", "table", "set", "set6", "netns", "create"],
            "iptables" => &["program", "program6", "chain", "netns"],
            "smtp" => &[
                "server",
                "from",
                "to",
                "username",
                "password_secret",
                "tls",
                "ca_file",
            ],
            other => {
                return Err(format!(
                    "kind {other:?}: one of webhook, slack, command, nftables, iptables, smtp"
                ))
            }
        };
        if let Some(key) = table
            .keys()
            .find(|k| !matches!(k.as_str(), "name" | "kind") && !allowed.contains(&k.as_str()))
        {
            return Err(format!(
                "unknown key {key:?} for a {kind} connector (known: {})",
                allowed.join(", ")
            ));
        }
        let netns = text(table, "netns")?;
        if let Some(ns) = &netns {
            check_word("netns", ns)?;
        }
        Ok(match kind.as_str() {
            "webhook" => {
                let url = text(table, "url")?;
                let url_secret = text(table, "url_secret")?;
                if url.is_some() == url_secret.is_some() {
                    return Err("url or url_secret (one of them)".into());
                }
                if let Some(u) = &url {
                    if !(u.starts_with("http://") || u.starts_with("https://")) {
                        return Err(format!("url {u:?}: http:// or https://"));
                    }
                }
                let mut headers = BTreeMap::new();
                if let Some(h) = table.get("headers") {
                    let toml::Value::Table(h) = h else {
                        return Err("headers: a table of strings".into());
                    };
                    for (k, v) in h {
                        let v = v.as_str().ok_or("headers: a table of strings")?;
                        if !k.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                            || v.chars().any(char::is_control)
                        {
                            return Err(format!("header {k:?}: a token name and a one-line value"));
                        }
                        headers.insert(k.clone(), v.to_string());
                    }
                }
                ConnectorDef::Webhook {
                    name,
                    url,
                    url_secret,
                    signing_secret: text(table, "signing_secret")?,
                    headers,
                }
            }
            "slack" => ConnectorDef::Slack {
                name,
                url_secret: required(table, "url_secret")?,
            },
            "command" => {
                let program = required(table, "program")?;
                if !program.starts_with('/') {
                    return Err(format!(
                        "program {program:?}: an absolute path (the allow-listed program itself)"
                    ));
                }
                ConnectorDef::Command {
                    name,
                    program,
                    args: texts(table, "args")?,
                }
            }
            "nftables" => {
                let table_text = text(table, "table")?.unwrap_or_else(|| "inet secops".into());
                let (family, table_name) = table_text.split_once(' ').ok_or_else(|| {
                    format!("table {table_text:?}: a family and a name (inet secops)")
                })?;
                if !matches!(family, "ip" | "ip6" | "inet" | "bridge" | "netdev" | "arp") {
                    return Err(format!(
                        "table {table_text:?}: family ip, ip6, inet, bridge, netdev or arp"
                    ));
                }
                check_word("table", table_name)?;
                let set = text(table, "set")?.unwrap_or_else(|| "blocked".into());
                check_word("set", &set)?;
                let set6 = text(table, "set6")?;
                if let Some(s) = &set6 {
                    check_word("set6", s)?;
                }
                let create = match table.get("create") {
                    None => false,
                    Some(toml::Value::Boolean(b)) => *b,
                    Some(_) => return Err("create: true or false".into()),
                };
                ConnectorDef::Nftables {
                    name,
                    program: text(table, "program")?.unwrap_or_else(|| "nft".into()),
                    family: family.to_string(),
                    table: table_name.to_string(),
                    set,
                    set6,
                    netns,
                    create,
                }
            }
            "iptables" => {
                let chain = text(table, "chain")?.unwrap_or_else(|| "INPUT".into());
                check_word("chain", &chain)?;
                ConnectorDef::Iptables {
                    name,
                    program: text(table, "program")?.unwrap_or_else(|| "iptables".into()),
                    program6: text(table, "program6")?.unwrap_or_else(|| "ip6tables".into()),
                    chain,
                    netns,
                }
            }
            _ => {
                let server = required(table, "server")?;
                if !server.contains(':')
                    || server.chars().any(|c| c.is_whitespace() || c.is_control())
                {
                    return Err(format!("server {server:?}: host:port"));
                }
                let from = required(table, "from")?;
                check_mailbox(&from)?;
                let to = texts(table, "to")?;
                if to.is_empty() {
                    return Err("to: at least one address".into());
                }
                for t in &to {
                    check_mailbox(t)?;
                }
                let username = text(table, "username")?;
                if username
                    .as_deref()
                    .is_some_and(|u| u.chars().any(char::is_control))
                {
                    return Err("username: one line".into());
                }
                let tls = match text(table, "tls")?.as_deref() {
                    None | Some("starttls") => smtp::MailTls::Starttls,
                    Some("tls") => smtp::MailTls::Tls,
                    Some("none") => smtp::MailTls::None,
                    Some(other) => {
                        return Err(format!("tls {other:?}: one of starttls, tls, none"))
                    }
                };
                // A password never crosses a network in the clear: without TLS, only to a relay
                // on this machine.
                if tls == smtp::MailTls::None && username.is_some() && !smtp::loopback(&server) {
                    return Err(format!(
                        "username with tls = \"none\": the password would cross the network in the \
                         clear to {server}; use starttls or tls (none only for a relay on loopback)"
                    ));
                }
                ConnectorDef::Smtp {
                    name,
                    relay: Relay {
                        server,
                        from,
                        to,
                        username,
                        password_secret: text(table, "password_secret")?,
                        tls,
                        ca_file: text(table, "ca_file")?,
                    },
                }
            }
        })
    }

    pub fn name(&self) -> &str {
        match self {
            ConnectorDef::Webhook { name, .. }
            | ConnectorDef::Slack { name, .. }
            | ConnectorDef::Command { name, .. }
            | ConnectorDef::Nftables { name, .. }
            | ConnectorDef::Iptables { name, .. }
            | ConnectorDef::Smtp { name, .. } => name,
        }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            ConnectorDef::Webhook { .. } => "webhook",
            ConnectorDef::Slack { .. } => "slack",
            ConnectorDef::Command { .. } => "command",
            ConnectorDef::Nftables { .. } => "nftables",
            ConnectorDef::Iptables { .. } => "iptables",
            ConnectorDef::Smtp { .. } => "smtp",
        }
    }

    /// The secrets it needs, by name.
    pub fn secrets(&self) -> Vec<&str> {
        match self {
            ConnectorDef::Webhook {
                url_secret,
                signing_secret,
                ..
            } => url_secret
                .iter()
                .chain(signing_secret)
                .map(String::as_str)
                .collect(),
            ConnectorDef::Slack { url_secret, .. } => vec![url_secret.as_str()],
            ConnectorDef::Smtp { relay, .. } => {
                relay.password_secret.iter().map(String::as_str).collect()
            }
            _ => Vec::new(),
        }
    }

    /// Whether sending the same request twice does no more than once (a restart after a run was
    /// cut off may send it again: the receiver dedupes webhooks by id; a set holds an address
    /// once).
    pub fn idempotent(&self) -> bool {
        matches!(
            self,
            ConnectorDef::Webhook { .. } | ConnectorDef::Nftables { .. }
        )
    }

    /// Whether an action's parameters and target fit this connector.
    pub fn check_action(&self, action: &ActionDef) -> Result<(), String> {
        let known: &[&str] = match self {
            ConnectorDef::Webhook { .. } => return Ok(()),
            ConnectorDef::Slack { .. } => &["text"],
            ConnectorDef::Command { .. } => &["options", "args"],
            ConnectorDef::Nftables { .. } | ConnectorDef::Iptables { .. } => &["operation"],
            ConnectorDef::Smtp { .. } => &["subject", "body"],
        };
        if let Some(key) = action.params.keys().find(|k| !known.contains(&k.as_str())) {
            return Err(format!(
                "params.{key}: a {} connector reads {}",
                self.kind(),
                known.join(", ")
            ));
        }
        match self {
            ConnectorDef::Nftables { .. } | ConnectorDef::Iptables { .. } => {
                if action.target != TargetKind::Ip {
                    return Err(format!(
                        "a {} connector blocks addresses (target = \"ip\")",
                        self.kind()
                    ));
                }
                match action.params.get("operation") {
                    Some(crate::action::Param::Constant(Value::String(_))) => {}
                    Some(crate::action::Param::Template(t))
                        if t.is_constant() && matches!(t.source(), "add" | "delete") => {}
                    _ => return Err("params.operation: \"add\" or \"delete\"".into()),
                }
            }
            ConnectorDef::Command { .. } => {
                if let Some(crate::action::Param::Constant(Value::Array(options))) =
                    action.params.get("options")
                {
                    for o in options {
                        let o = o.as_str().unwrap_or_default();
                        if o.contains("{{") {
                            return Err(format!(
                                "params.options {o:?}: options are constants (templated values go in args, after --)"
                            ));
                        }
                    }
                } else if action.params.contains_key("options") {
                    return Err("params.options: a list of strings".into());
                }
                match action.params.get("args") {
                    None | Some(crate::action::Param::Constant(Value::Array(_))) => {}
                    Some(_) => return Err("params.args: a list of strings".into()),
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// The request a run sends.
    pub fn prepare(&self, p: &Prepare<'_>) -> Result<Request, RespondError> {
        match self {
            ConnectorDef::Webhook {
                url,
                url_secret,
                signing_secret,
                headers,
                ..
            } => webhook::prepare(
                p,
                url.as_deref(),
                url_secret.as_deref(),
                signing_secret.as_deref(),
                headers,
            ),
            ConnectorDef::Slack { url_secret, .. } => webhook::prepare_slack(p, url_secret),
            ConnectorDef::Command { program, args, .. } => exec::prepare_command(p, program, args),
            ConnectorDef::Nftables {
                program,
                family,
                table,
                set,
                set6,
                netns,
                create,
                ..
            } => exec::prepare_nft(
                p,
                &exec::Nft {
                    program,
                    family,
                    table,
                    set,
                    set6: set6.as_deref(),
                    netns: netns.as_deref(),
                    create: *create,
                },
            ),
            ConnectorDef::Iptables {
                program,
                program6,
                chain,
                netns,
                ..
            } => exec::prepare_iptables(p, program, program6, chain, netns.as_deref()),
            ConnectorDef::Smtp { relay, .. } => smtp::prepare(p, relay),
        }
    }
}

/// The operation an nftables or iptables run performs (`add` or `delete`).
pub(crate) fn operation_param(p: &Prepare<'_>) -> Result<String, RespondError> {
    let params = p.action.render_params(p.context, None)?;
    match params.get("operation").and_then(Value::as_str) {
        Some(op @ ("add" | "delete")) => Ok(op.to_string()),
        _ => Err(RespondError::Refused(
            "params.operation is \"add\" or \"delete\"".into(),
        )),
    }
}

/// One attempt's outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// `HTTP 204`, `exit 0`, `250 OK`.
    pub status: String,
    /// What came back (the first 4 KiB, secrets masked).
    pub body: String,
}

/// Why an attempt failed, and whether another may pass.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub message: String,
    pub transient: bool,
}

/// What sending a request came to, over every attempt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Delivery {
    pub ok: bool,
    pub attempts: u32,
    /// The last attempt's status line, or its error.
    pub status: String,
    pub response: String,
    pub duration_ms: u64,
}

/// How much of a reply is kept.
pub(crate) const REPLY_LIMIT: usize = 4096;

pub(crate) fn bounded(bytes: &[u8]) -> String {
    let cut = &bytes[..bytes.len().min(REPLY_LIMIT)];
    let mut text = String::from_utf8_lossy(cut).into_owned();
    if bytes.len() > REPLY_LIMIT {
        text.push_str(" …");
    }
    text
}

/// Sends `request` once.
pub fn send_once(
    connector: &ConnectorDef,
    request: &Request,
    secrets: &Secrets,
    timeout: Duration,
) -> Result<Reply, Failure> {
    let reply = match (connector, request) {
        (_, Request::Http { .. }) => webhook::send(request, secrets, timeout),
        (_, Request::Exec { invocations }) => exec::run(invocations, timeout),
        (_, Request::Mail { .. }) => smtp::send(request, secrets, timeout),
    };
    reply
        .map(|r| Reply {
            status: secrets.mask(&r.status),
            body: secrets.mask(&r.body),
        })
        .map_err(|f| Failure {
            message: secrets.mask(&f.message),
            transient: f.transient,
        })
}

/// Sends `request` with the action's retries: transient failures (no connection, a timeout, HTTP
/// 429 or 5xx) are tried again after a backoff that doubles each time.
pub fn deliver(
    connector: &ConnectorDef,
    request: &Request,
    secrets: &Secrets,
    action: &ActionDef,
) -> Delivery {
    let started = Instant::now();
    let timeout = Duration::from_nanos(u64::try_from(action.timeout_ns).unwrap_or(10_000_000_000));
    let mut backoff =
        Duration::from_nanos(u64::try_from(action.backoff_ns).unwrap_or(1_000_000_000));
    let mut attempts = 0;
    loop {
        attempts += 1;
        let outcome = send_once(connector, request, secrets, timeout);
        let (ok, status, response, again) = match outcome {
            Ok(reply) => (true, reply.status, reply.body, false),
            Err(f) => (
                false,
                f.message,
                String::new(),
                f.transient && attempts <= action.retries,
            ),
        };
        if !again {
            return Delivery {
                ok,
                attempts,
                status,
                response,
                duration_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
            };
        }
        std::thread::sleep(backoff);
        backoff = (backoff * 2).min(Duration::from_secs(300));
    }
}

/// Defangs an indicator for a human-read channel and escapes what Slack reads as markup (`<!channel>`,
/// links, `&`).
pub fn defang_for_chat(value: &str) -> String {
    let defanged = secops_intel::kind::defang(value);
    defanged
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}
