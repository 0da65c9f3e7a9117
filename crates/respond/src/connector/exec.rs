//! Programs run with an argument vector, never through a shell: the command connector (an
//! allow-listed program; `--` before the templated values, and a value that starts with `-`
//! refused, so nothing from a log is read as an option), and address blocks with nftables or
//! iptables, whose only value from outside is an address already parsed as one. The environment is
//! emptied but for a fixed `PATH`; output is kept up to 4 KiB; a run past the timeout is killed.

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::{bounded, operation_param, Failure, Invocation, Prepare, Reply, Request};
use crate::RespondError;

const PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

fn scalar_text(name: &str, value: &Value) -> Result<String, RespondError> {
    match value {
        Value::String(s) => Ok(s.clone()),
        Value::Number(n) => Ok(n.to_string()),
        Value::Bool(b) => Ok(b.to_string()),
        _ => Err(RespondError::Refused(format!("{name}: not a single value"))),
    }
}

pub(super) fn prepare_command(
    p: &Prepare<'_>,
    program: &str,
    fixed: &[String],
) -> Result<Request, RespondError> {
    let params = p.action.render_params(p.context, None)?;
    let mut argv: Vec<String> = fixed.to_vec();
    if let Some(Value::Array(options)) = params.get("options") {
        for o in options {
            argv.push(scalar_text("params.options", o)?);
        }
    }
    if let Some(Value::Array(args)) = params.get("args") {
        if !args.is_empty() {
            argv.push("--".into());
        }
        for (i, a) in args.iter().enumerate() {
            let text = scalar_text(&format!("params.args[{i}]"), a)?;
            if text.starts_with('-') {
                return Err(RespondError::Refused(format!(
                    "params.args[{i}] starts with '-' ({:?}): a value from an alert is never an option",
                    crate::target::excerpt(&text)
                )));
            }
            if text.contains('\0') {
                return Err(RespondError::Refused(format!(
                    "params.args[{i}] holds a NUL byte"
                )));
            }
            argv.push(text);
        }
    }
    Ok(Request::Exec {
        invocations: vec![Invocation {
            program: program.to_string(),
            argv,
            absent_ok: false,
        }],
    })
}

pub(super) struct Nft<'a> {
    pub program: &'a str,
    pub family: &'a str,
    pub table: &'a str,
    pub set: &'a str,
    pub set6: Option<&'a str>,
    pub netns: Option<&'a str>,
    pub create: bool,
}

fn in_netns(netns: Option<&str>, program: &str, args: Vec<String>) -> Invocation {
    match netns {
        Some(ns) => {
            let mut argv = vec![
                "netns".to_string(),
                "exec".into(),
                ns.into(),
                program.into(),
            ];
            argv.extend(args);
            Invocation {
                program: "ip".into(),
                argv,
                absent_ok: false,
            }
        }
        None => Invocation {
            program: program.to_string(),
            argv: args,
            absent_ok: false,
        },
    }
}

pub(super) fn prepare_nft(p: &Prepare<'_>, nft: &Nft<'_>) -> Result<Request, RespondError> {
    let operation = operation_param(p)?;
    let ip = p
        .target
        .ip()
        .ok_or_else(|| RespondError::Refused("nftables blocks addresses only".into()))?;
    let (set, set_type) = if ip.is_ipv4() {
        (nft.set, "ipv4_addr")
    } else {
        (
            nft.set6.ok_or_else(|| {
                RespondError::Refused("an IPv6 address, and the connector names no set6".into())
            })?,
            "ipv6_addr",
        )
    };
    let words = |w: &[&str]| w.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let mut invocations = Vec::new();
    if nft.create && operation == "add" {
        invocations.push(in_netns(
            nft.netns,
            nft.program,
            words(&["add", "table", nft.family, nft.table]),
        ));
        invocations.push(in_netns(
            nft.netns,
            nft.program,
            words(&[
                "add",
                "set",
                nft.family,
                nft.table,
                set,
                &format!("{{ type {set_type}; }}"),
            ]),
        ));
    }
    let mut change = in_netns(
        nft.netns,
        nft.program,
        words(&[
            &operation,
            "element",
            nft.family,
            nft.table,
            set,
            &format!("{{ {ip} }}"),
        ]),
    );
    change.absent_ok = operation == "delete";
    invocations.push(change);
    Ok(Request::Exec { invocations })
}

pub(super) fn prepare_iptables(
    p: &Prepare<'_>,
    program: &str,
    program6: &str,
    chain: &str,
    netns: Option<&str>,
) -> Result<Request, RespondError> {
    let operation = operation_param(p)?;
    let ip = p
        .target
        .ip()
        .ok_or_else(|| RespondError::Refused("iptables blocks addresses only".into()))?;
    let flag = if operation == "add" { "-I" } else { "-D" };
    let program = if ip.is_ipv4() { program } else { program6 };
    let argv = [
        flag,
        chain,
        "-s",
        &ip.to_string(),
        "-j",
        "DROP",
        "-m",
        "comment",
        "--comment",
        "secops",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    Ok(Request::Exec {
        invocations: vec![in_netns(netns, program, argv)],
    })
}

/// Runs each invocation in turn; the first that fails stops the rest.
pub(super) fn run(invocations: &[Invocation], timeout: Duration) -> Result<Reply, Failure> {
    let mut out = String::new();
    for inv in invocations {
        let reply = run_one(inv, timeout)?;
        if !reply.body.is_empty() {
            out.push_str(&reply.body);
        }
    }
    Ok(Reply {
        status: "exit 0".into(),
        body: bounded(out.as_bytes()),
    })
}

fn run_one(inv: &Invocation, timeout: Duration) -> Result<Reply, Failure> {
    let permanent = |message: String| Failure {
        message,
        transient: false,
    };
    let mut child = Command::new(&inv.program)
        .args(&inv.argv)
        .env_clear()
        .env("PATH", PATH)
        .env("LC_ALL", "C")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| permanent(format!("{}: {e}", inv.program)))?;
    let drain = |pipe: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut kept = Vec::new();
            if let Some(mut pipe) = pipe {
                let mut buf = [0u8; 8192];
                while let Ok(n) = pipe.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    if kept.len() < super::REPLY_LIMIT + 1 {
                        kept.extend_from_slice(&buf[..n]);
                    }
                }
            }
            kept
        })
    };
    let stdout = drain(
        child
            .stdout
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let stderr = drain(
        child
            .stderr
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let started = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if started.elapsed() >= timeout => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(Failure {
                    message: format!("{}: killed after {} ms", inv.program, timeout.as_millis()),
                    transient: true,
                });
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(5)),
            Err(e) => return Err(permanent(format!("{}: {e}", inv.program))),
        }
    };
    let stdout = stdout.join().unwrap_or_default();
    let stderr = stderr.join().unwrap_or_default();
    if status.success() {
        Ok(Reply {
            status: "exit 0".into(),
            body: bounded(&stdout),
        })
    } else if inv.absent_ok
        && String::from_utf8_lossy(&stderr).contains("No such file or directory")
    {
        Ok(Reply {
            status: format!("{status}: already absent"),
            body: bounded(&stderr),
        })
    } else {
        Err(permanent(format!(
            "{} {}: {}",
            inv.program,
            status,
            bounded(&stderr).trim()
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::action::Config;
    use crate::connector::{Operation, Prepare};
    use crate::secret::Secrets;
    use crate::target::{Target, TargetKind};
    use crate::template::Context;

    #[test]
    fn iptables_gets_the_parsed_address_alone_in_its_own_argument() {
        let config = Config::parse(
            "respond.toml",
            "[[connector]]\nname = \"fw\"\nkind = \"iptables\"\nnetns = \"lab\"\n\
             [[action]]\nid = \"drop\"\ntarget = \"ip\"\nconnector = \"fw\"\nparams = { operation = \"add\" }\n\
             inverse = \"undrop\"\n[[action]]\nid = \"undrop\"\ntarget = \"ip\"\nconnector = \"fw\"\n\
             params = { operation = \"delete\" }\n",
        )
        .unwrap();
        let request = |action: &str, ip: &str| {
            let target = Target::parse(TargetKind::Ip, ip).unwrap();
            config.connectors["fw"]
                .prepare(&Prepare {
                    action: &config.actions[action],
                    operation: Operation::Do,
                    target: &target,
                    context: &Context::new(),
                    delivery_id: "d",
                    at_unix: 0,
                    secrets: &Secrets::default(),
                })
                .unwrap()
        };
        let Request::Exec { invocations } = request("drop", "185.220.101.47") else {
            panic!()
        };
        assert_eq!(invocations[0].program, "ip");
        assert_eq!(
            invocations[0].argv,
            [
                "netns",
                "exec",
                "lab",
                "iptables",
                "-I",
                "INPUT",
                "-s",
                "185.220.101.47",
                "-j",
                "DROP",
                "-m",
                "comment",
                "--comment",
                "secops"
            ]
        );
        let Request::Exec { invocations } = request("undrop", "2001:4860::8888") else {
            panic!()
        };
        assert_eq!(invocations[0].argv[3..6], ["ip6tables", "-D", "INPUT"]);
        assert_eq!(invocations[0].argv[7], "2001:4860::8888");
        // Anything but an address never becomes a target.
        assert!(Target::parse(TargetKind::Ip, "1.2.3.4 -j ACCEPT").is_err());
    }
}
