//! `secops audit ...`: the tamper-evident audit log. `verify` walks the HMAC chain with the key (and,
//! given the head exported earlier, checks that no newest record went missing) and names the first bad
//! record; `head` prints the newest record's id and HMAC (to keep elsewhere: a file, a ticket; sent to
//! syslog with `--syslog`);
//! `export` writes the records as ECS JSON lines.

use std::io::Write;
use std::path::PathBuf;

use secops_store::AuditKey;

use crate::output::safe;
use crate::store::StoreArgs;
use crate::Outcome;

#[derive(Debug, clap::Args)]
pub struct AuditArgs {
    #[command(flatten)]
    store: StoreArgs,
    #[command(subcommand)]
    command: AuditCommand,
}

#[derive(Debug, clap::Subcommand)]
enum AuditCommand {
    /// Check the chain: every record's HMAC and link; with --head, that the head exported then is
    /// still there.
    Verify {
        /// A head as `audit head` printed it (`ID MAC`), or a file holding one.
        #[arg(long)]
        head: Option<String>,
    },
    /// The newest record's id and HMAC.
    Head {
        /// Also write it to this file.
        #[arg(long)]
        write: Option<PathBuf>,
        /// Also send it to syslog: `HOST:PORT` over UDP, or a Unix datagram socket (`/dev/log`); one
        /// RFC 5424 message, facility log audit (13), severity notice.
        #[arg(long, value_name = "HOST:PORT|SOCKET")]
        syslog: Option<String>,
    },
    /// Every record as an ECS JSON line.
    Export,
}

/// `ID MAC`, from the text or a file holding it.
fn parse_head(text: &str) -> anyhow::Result<(i64, String)> {
    let content = match std::fs::read_to_string(text) {
        Ok(file) => file,
        Err(_) => text.to_string(),
    };
    let mut parts = content.split_whitespace();
    let (Some(id), Some(mac), None) = (parts.next(), parts.next(), parts.next()) else {
        anyhow::bail!("--head: expected `ID MAC` as `secops audit head` prints it");
    };
    let id = id
        .parse::<i64>()
        .map_err(|_| anyhow::anyhow!("--head: {id:?} is not a record id"))?;
    Ok((id, mac.to_string()))
}

pub fn run(args: AuditArgs) -> anyhow::Result<Outcome> {
    let mut store = args.store.open_existing()?;
    match args.command {
        AuditCommand::Verify { head } => {
            let key = AuditKey::load(&args.store.key_path()?)?;
            let exported = head.as_deref().map(parse_head).transpose()?;
            let check =
                store.verify_audit(&key, exported.as_ref().map(|(i, m)| (*i, m.as_str())))?;
            match &check.broken {
                None => {
                    println!(
                        "{} audit record(s): the chain holds{}",
                        check.records,
                        match (&exported, &check.head) {
                            (Some((id, _)), _) =>
                                format!(", and the exported head (record {id}) is in it"),
                            (None, Some((id, _))) => format!("; head: record {id}"),
                            (None, None) => String::new(),
                        }
                    );
                    Ok(Outcome::Clean)
                }
                Some(broken) => {
                    println!("BROKEN: {}", safe(&broken.to_string()));
                    println!(
                        "{} record(s) read before the break",
                        check.records.saturating_sub(1)
                    );
                    Ok(Outcome::Failures)
                }
            }
        }
        AuditCommand::Head { write, syslog } => {
            let text = match store.audit_head()? {
                Some((id, mac)) => format!("{id} {mac}"),
                None => anyhow::bail!("the audit log is empty"),
            };
            println!("{text}");
            if let Some(path) = write {
                std::fs::write(&path, format!("{text}\n"))
                    .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
            }
            if let Some(to) = syslog {
                send_syslog(&to, &text).map_err(|e| anyhow::anyhow!("--syslog {to}: {e}"))?;
            }
            Ok(Outcome::Clean)
        }
        AuditCommand::Export => {
            let mut out = std::io::BufWriter::new(std::io::stdout().lock());
            let mut after = 0;
            loop {
                let page = store.audit_records(after, 1000)?;
                let Some(last) = page.last() else {
                    break;
                };
                after = last.id;
                for record in &page {
                    // JSON escapes control characters itself.
                    writeln!(out, "{}", record.to_ecs())?;
                }
            }
            out.flush()?;
            Ok(Outcome::Clean)
        }
    }
}

/// Sends the head as one RFC 5424 message: `<PRI>1 TIME HOST secops PID audit-head - MSG`, facility
/// 13 (log audit), severity 5 (notice).
fn send_syslog(to: &str, head: &str) -> std::io::Result<()> {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty() && h.bytes().all(|b| b.is_ascii_graphic()))
        .unwrap_or_else(|| "-".into());
    let message = format!(
        "<{}>1 {} {host} secops {} audit-head - audit head {head}",
        13 * 8 + 5,
        secops_event::Timestamp::now().to_rfc3339(),
        std::process::id()
    );
    if to.starts_with('/') {
        let socket = std::os::unix::net::UnixDatagram::unbound()?;
        socket.send_to(message.as_bytes(), to)?;
    } else {
        let socket = std::net::UdpSocket::bind(if to.starts_with('[') {
            "[::]:0"
        } else {
            "0.0.0.0:0"
        })?;
        socket.send_to(message.as_bytes(), to)?;
    }
    Ok(())
}
