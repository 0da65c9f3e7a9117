//! ECS mapping of the syslog messages that matter for security: sshd, PAM, sudo, su, user and group
//! management, cron, systemd-logind, ftpd. Field names follow ECS, with Elastic's `system.auth.*` names for
//! what ECS has no field for.
//!
//! Every mapped message gets `event.category`, `event.type`, `event.action` and, for authentication,
//! `event.outcome`. `message repeated N times: [ ... ]` is mapped as its inner message with `event.count=N`.

use secops_event::{Event, Value};

use super::util::{insert_host, kv, login_title_user, token};

/// Maps the message of `program`; returns whether it was recognized as a security event.
pub(crate) fn map(program: &str, message: &str, event: &mut Event) -> bool {
    if let Some((count, inner)) = repeated(message) {
        event.insert("event.count", count);
        return map(program, inner, event);
    }
    let (base, pam_module) = match program.split_once('(') {
        Some((base, module)) => (base, Some(module.trim_end_matches(')'))),
        None => (program, None),
    };
    if pam_module == Some("pam_unix") {
        return pam(base, message, event);
    }
    if let Some(rest) = message.strip_prefix("pam_unix(") {
        let (service, rest) = rest.split_once("): ").unwrap_or((rest, ""));
        let service = service.split(':').next().unwrap_or(service);
        return pam(service, rest, event);
    }
    match base {
        "sshd" => sshd(message, event),
        "sudo" => sudo(message, event),
        "su" => su(message, event),
        "useradd" | "groupadd" | "usermod" | "userdel" | "groupdel" | "gpasswd" | "passwd"
        | "chpasswd" => account(message, event),
        "CRON" | "cron" | "crond" | "crontab" => cron(base, message, event),
        "systemd-logind" => logind(message, event),
        "ftpd" | "vsftpd" | "proftpd" => ftpd(message, event),
        "klogind" | "kshd" | "krlogind" | "krshd" => kerberos_remote(message, event),
        // login writes its process title (`-- root`, `login -- alice`) as the tag on older systems.
        _ if base == "login" || login_title_user(base).is_some() => login(message, event),
        _ => false,
    }
}

/// `message repeated 5 times: [ Failed password ...]`
fn repeated(message: &str) -> Option<(i64, &str)> {
    let rest = message.strip_prefix("message repeated ")?;
    let (count, rest) = rest.split_once(" times: [")?;
    let inner = rest.strip_suffix(']').unwrap_or(rest);
    Some((count.parse().ok()?, inner.trim()))
}

fn classify(event: &mut Event, category: &'static str, kind: &'static str, action: &'static str) {
    event.insert("event.category", category);
    event.insert("event.type", kind);
    event.insert("event.action", action);
}

fn outcome(event: &mut Event, success: bool) {
    event.insert("event.outcome", if success { "success" } else { "failure" });
}

/// `IP port PORT ...` (also `IP:`, `IP` alone): sets source.ip and source.port.
fn source_ip_port(event: &mut Event, text: &str) {
    let Some((host, rest)) = token(text) else {
        return;
    };
    insert_host(
        event,
        host.trim_end_matches(':'),
        "source.ip",
        "source.address",
    );
    if let Some(port) = rest
        .strip_prefix("port ")
        .and_then(token)
        .and_then(|(p, _)| p.trim_end_matches(':').parse::<i64>().ok())
    {
        event.insert("source.port", port);
    }
}

/// `[invalid user |authenticating user |user ]NAME from|FROM_WORD ...` -> (name, invalid, rest after the
/// separator). Names may hold spaces, so the separator is found from the right.
fn user_then<'a>(text: &'a str, separator: &str) -> Option<(&'a str, bool, &'a str)> {
    let (invalid, text) = match text.strip_prefix("invalid user ") {
        Some(rest) => (true, rest),
        None => (
            false,
            text.strip_prefix("authenticating user ")
                .or_else(|| text.strip_prefix("user "))
                .unwrap_or(text),
        ),
    };
    let (user, rest) = text.rsplit_once(separator)?;
    Some((user, invalid, rest))
}

fn sshd(message: &str, event: &mut Event) -> bool {
    let message = message.trim_end_matches(" [preauth]");
    for (prefix, success) in [("Failed ", false), ("Accepted ", true)] {
        if let Some(rest) = message.strip_prefix(prefix) {
            let Some((method, rest)) = rest.split_once(" for ") else {
                return false;
            };
            let Some((user, invalid, rest)) = user_then(rest, " from ") else {
                return false;
            };
            classify(event, "authentication", "start", "ssh_login");
            outcome(event, success);
            event.insert("user.name", user);
            source_ip_port(event, rest);
            event.insert("system.auth.ssh.method", method);
            event.insert("system.auth.ssh.event", prefix.trim_end());
            if invalid {
                event.insert("system.auth.ssh.invalid_user", true);
            }
            return true;
        }
    }
    if let Some(rest) = message.strip_prefix("Invalid user ") {
        let (user, rest) = rest.rsplit_once(" from ").unwrap_or((rest, ""));
        classify(event, "authentication", "info", "ssh_invalid_user");
        outcome(event, false);
        event.insert("user.name", user);
        source_ip_port(event, rest);
        event.insert("system.auth.ssh.event", "Invalid");
        return true;
    }
    if let Some(user) = message.strip_prefix("input_userauth_request: invalid user ") {
        classify(event, "authentication", "info", "ssh_invalid_user_request");
        outcome(event, false);
        event.insert("user.name", user);
        return true;
    }
    if let Some(rest) = message.strip_prefix("error: maximum authentication attempts exceeded for ")
    {
        if let Some((user, _, rest)) = user_then(rest, " from ") {
            classify(event, "authentication", "info", "ssh_max_auth_attempts");
            outcome(event, false);
            event.insert("user.name", user);
            source_ip_port(event, rest);
            return true;
        }
    }
    if too_many_failures(message, event) || client_gave_up(message, event) {
        return true;
    }
    if let Some(rest) = message.strip_prefix("reverse mapping checking getaddrinfo for ") {
        // `HOST [IP] failed - POSSIBLE BREAK-IN ATTEMPT!`
        let (host, rest) = rest.split_once(" [").unwrap_or((rest, ""));
        let ip = rest.split_once(']').map_or("", |(ip, _)| ip);
        classify(event, "network", "info", "ssh_reverse_mapping_failed");
        insert_host(event, ip, "source.ip", "source.address");
        event.insert("source.domain", host);
        return true;
    }
    let connection: &[(&str, &'static str)] = &[
        ("Connection closed by ", "ssh_connection_closed"),
        ("Received disconnect from ", "ssh_disconnect"),
        ("Disconnected from ", "ssh_disconnect"),
        ("Disconnecting ", "ssh_disconnect"),
        (
            "Did not receive identification string from ",
            "ssh_no_identification",
        ),
        ("Connection reset by ", "ssh_connection_reset"),
        ("Bad protocol version identification ", "ssh_bad_protocol"),
        ("Connection from ", "ssh_connection"),
    ];
    for (prefix, action) in connection {
        if let Some(rest) = message.strip_prefix(prefix) {
            classify(
                event,
                "network",
                if *action == "ssh_connection" {
                    "start"
                } else {
                    "end"
                },
                action,
            );
            let rest = match rest.rsplit_once("' from ") {
                Some((_, after)) => after,
                None => rest,
            };
            // `Disconnected from [invalid ]user NAME IP port P`: the user precedes the address.
            user_and_source(event, rest);
            return true;
        }
    }
    if let Some(rest) = message.strip_prefix("PAM ") {
        return pam_more(rest, event);
    }
    false
}

/// sshd's `Too many authentication failures`: `Disconnecting: Too many authentication failures for
/// [invalid user ]NAME` (OpenSSH before 7.5), `Disconnecting authenticating user NAME IP port P: Too many
/// authentication failures` (7.5 and later; `invalid user NAME` for unknown accounts).
fn too_many_failures(message: &str, event: &mut Event) -> bool {
    const FAILURES: &str = "Too many authentication failures";
    let before_7_5 = message
        .strip_prefix("Disconnecting: ")
        .and_then(|rest| rest.strip_prefix(FAILURES));
    let since_7_5 = message
        .strip_prefix("Disconnecting ")
        .and_then(|rest| rest.split_once(": Too many authentication failures"))
        .map(|(who, _)| who);
    if before_7_5.is_none() && since_7_5.is_none() {
        return false;
    }
    classify(
        event,
        "authentication",
        "info",
        "ssh_too_many_auth_failures",
    );
    outcome(event, false);
    let invalid = match (before_7_5, since_7_5) {
        (Some(rest), _) => match rest.strip_prefix(" for ").map(str::trim) {
            Some(user) => {
                let (user, invalid) = match user.strip_prefix("invalid user ") {
                    Some(user) => (user, true),
                    None => (user, false),
                };
                event.insert("user.name", user);
                invalid
            }
            None => false,
        },
        (None, Some(who)) => user_and_source(event, who),
        (None, None) => false,
    };
    if invalid {
        event.insert("system.auth.ssh.invalid_user", true);
    }
    true
}

/// The client giving an authentication up: `No more user authentication methods available` (SSH
/// disconnect reason 14), a client library's `Auth fail`.
fn client_gave_up(message: &str, event: &mut Event) -> bool {
    // `error: Received disconnect from 1.2.3.4: 14: No more user authentication methods available.`
    // (older), `Received disconnect from 1.2.3.4 port 5000:14: ...` (newer); the text after the
    // reason code is the client's.
    let Some((address, code, text)) = disconnect_reason(message) else {
        return false;
    };
    let gave_up = code == "14"
        || text.starts_with("No more user authentication methods available")
        || text.ends_with("Auth fail")
        || text.ends_with("Auth cancel");
    if !gave_up {
        return false;
    }
    classify(
        event,
        "authentication",
        "info",
        "ssh_client_gave_up_authentication",
    );
    outcome(event, false);
    source_ip_port(event, address);
    event.insert("system.auth.ssh.disconnect_reason", text);
    true
}

/// `[error: ]Received disconnect from 1.2.3.4: 14: TEXT` (older), `... from 1.2.3.4 port 5000:14:
/// TEXT` (newer): the address, the reason code and the client's text.
fn disconnect_reason(message: &str) -> Option<(&str, &str, &str)> {
    let rest = message
        .strip_prefix("error: Received disconnect from ")
        .or_else(|| message.strip_prefix("Received disconnect from "))?;
    // The reason code follows the address (`IP: 14:`) or its port (`IP port P:14:`); IPv6
    // addresses hold colons but no `: `.
    let (address, reason) = match rest.find(" port ") {
        Some(at) => {
            let colon = at + rest[at..].find(':')?;
            (&rest[..colon], &rest[colon + 1..])
        }
        None => rest.split_once(": ")?,
    };
    let (code, text) = reason.trim_start().split_once(':')?;
    Some((address, code.trim(), text.trim()))
}

/// `[invalid user |authenticating user |user ]NAME IP port P ...`, or the address alone: the user, when
/// one is named, into `user.name` (names may hold spaces, the address and port do not), then the
/// source address and port. Whether the user was an invalid one.
fn user_and_source(event: &mut Event, text: &str) -> bool {
    let named = text
        .strip_prefix("invalid user ")
        .or_else(|| text.strip_prefix("authenticating user "))
        .or_else(|| text.strip_prefix("user "));
    let rest = match named {
        Some(with_user) => match with_user
            .rsplit_once(" port ")
            .and_then(|(before, _)| before.rsplit_once(' '))
        {
            Some((user, _)) => {
                event.insert("user.name", user);
                &with_user[user.len() + 1..]
            }
            None => with_user,
        },
        None => text,
    };
    source_ip_port(event, rest);
    text.starts_with("invalid user ")
}

/// klogind / kshd (Kerberos rlogin and rsh): `Authentication failed from 163.27.187.39
/// (163.27.187.39): Permission denied in replay cache code`, `Kerberos authentication failed`.
fn kerberos_remote(message: &str, event: &mut Event) -> bool {
    let message = message.trim_end();
    if let Some(rest) = message.strip_prefix("Authentication failed from ") {
        classify(
            event,
            "authentication",
            "start",
            "kerberos_remote_login_failed",
        );
        outcome(event, false);
        let (address, rest) = token(rest).unwrap_or((rest, ""));
        insert_host(
            event,
            address.trim_end_matches(':'),
            "source.ip",
            "source.domain",
        );
        if let Some((name, reason)) = rest.strip_prefix('(').and_then(|r| r.split_once(')')) {
            if Value::ip(name).is_none() && !name.is_empty() {
                event.insert("source.domain", name);
            }
            let reason = reason.trim_start_matches(':').trim();
            if !reason.is_empty() {
                event.insert("event.reason", reason);
            }
        }
        return true;
    }
    if message == "Kerberos authentication failed" {
        classify(
            event,
            "authentication",
            "info",
            "kerberos_authentication_failed",
        );
        outcome(event, false);
        return true;
    }
    false
}

/// login(1): `ROOT LOGIN ON tty2`, `LOGIN ON tty1 BY alice`, either `FROM host`; `FAILED LOGIN 1 FROM
/// host FOR root, Authentication failure`; `TOO MANY LOGIN TRIES (5) FROM host FOR root, ...`.
fn login(message: &str, event: &mut Event) -> bool {
    let message = message.trim_end();
    let (on, from) = match message.split_once(" FROM ") {
        Some((on, from)) => (on, Some(from)),
        None => (message, None),
    };
    let source = |event: &mut Event, host: &str| {
        if host != "(null)" {
            insert_host(event, host, "source.ip", "source.domain");
        }
    };
    if let Some(tty) = on.strip_prefix("ROOT LOGIN ON ") {
        classify(event, "authentication", "start", "login");
        outcome(event, true);
        event.insert("user.name", "root");
        event.insert("system.auth.tty", tty);
        if let Some(host) = from {
            source(event, host);
        }
        return true;
    }
    if let Some((tty, user)) = on
        .strip_prefix("LOGIN ON ")
        .and_then(|r| r.split_once(" BY "))
    {
        classify(event, "authentication", "start", "login");
        outcome(event, true);
        event.insert("user.name", user);
        event.insert("system.auth.tty", tty);
        if let Some(host) = from {
            source(event, host);
        }
        return true;
    }
    let failed = on.starts_with("FAILED LOGIN ") || on.starts_with("TOO MANY LOGIN TRIES ");
    if let (true, Some(from)) = (failed, from) {
        let Some((host, rest)) = from.split_once(" FOR ") else {
            return false;
        };
        classify(event, "authentication", "start", "login");
        outcome(event, false);
        source(event, host);
        let (user, reason) = rest.split_once(", ").unwrap_or((rest, ""));
        event.insert("user.name", user);
        if !reason.is_empty() {
            event.insert("event.reason", reason);
        }
        return true;
    }
    false
}

/// `5 more authentication failures; logname= uid=0 ... rhost=... user=root`
fn pam_more(rest: &str, event: &mut Event) -> bool {
    let Some((count, rest)) = rest.split_once(" more authentication failure") else {
        return false;
    };
    let Ok(count) = count.parse::<i64>() else {
        return false;
    };
    classify(
        event,
        "authentication",
        "info",
        "pam_authentication_failure",
    );
    outcome(event, false);
    // sshd's summary of the failures PAM saw after the first one it logged itself.
    event.insert("system.auth.pam.service", "sshd");
    event.insert("event.count", count);
    pam_fields(rest, event);
    true
}

fn pam_fields(text: &str, event: &mut Event) {
    if let Some(rhost) = kv(text, "rhost").filter(|h| !h.is_empty()) {
        // `source.address` holds it as written, an address or a host name (ECS), so rules can
        // group by the source whichever it is.
        event.insert("source.address", rhost);
        insert_host(event, rhost, "source.ip", "source.domain");
    }
    if let Some(user) = kv(text, "user").filter(|u| !u.is_empty()) {
        event.insert("user.name", user);
    }
    if let Some(ruser) = kv(text, "ruser").filter(|u| !u.is_empty()) {
        event.insert("source.user.name", ruser);
    }
    // `uid` and `euid` are the calling process's (sshd, su, login: usually root), not the user
    // authenticating, who is `user`.
    if let Some(uid) = kv(text, "uid").filter(|u| !u.is_empty()) {
        event.insert("process.real_user.id", uid);
    }
    if let Some(euid) = kv(text, "euid").filter(|u| !u.is_empty()) {
        event.insert("process.user.id", euid);
    }
    if let Some(tty) = kv(text, "tty").filter(|u| !u.is_empty()) {
        event.insert("system.auth.tty", tty);
    }
}

/// PAM messages of `service` (pam_unix).
fn pam(service: &str, message: &str, event: &mut Event) -> bool {
    event.insert("system.auth.pam.service", service);
    if let Some(rest) = message.strip_prefix("authentication failure;") {
        classify(
            event,
            "authentication",
            "start",
            "pam_authentication_failure",
        );
        outcome(event, false);
        pam_fields(rest, event);
        return true;
    }
    if message.starts_with("check pass; user unknown") {
        classify(event, "authentication", "info", "pam_user_unknown");
        outcome(event, false);
        return true;
    }
    for (prefix, kind, action) in [
        ("session opened for user ", "start", "session_opened"),
        ("session closed for user ", "end", "session_closed"),
    ] {
        if let Some(rest) = message.strip_prefix(prefix) {
            classify(event, "session", kind, action);
            // `root by alice(uid=1000)`, `root(uid=0) by (uid=0)`, `cyrus by (uid=0)`
            let (target, by) = rest.split_once(" by ").unwrap_or((rest, ""));
            event.insert("user.name", target.split('(').next().unwrap_or(target));
            let by = by.split('(').next().unwrap_or("");
            if !by.is_empty() {
                event.insert("source.user.name", by);
            }
            return true;
        }
    }
    if let Some(user) = message.strip_prefix("password changed for ") {
        classify(event, "iam", "change", "password_changed");
        outcome(event, true);
        event.insert("user.name", user.trim());
        return true;
    }
    false
}

/// `alice : TTY=pts/0 ; PWD=/home/alice ; USER=root ; COMMAND=/usr/bin/id`
fn sudo(message: &str, event: &mut Event) -> bool {
    let Some((user, rest)) = message.trim_start().split_once(" : ") else {
        return false;
    };
    let mut parts = rest.split(" ; ");
    let first = parts.clone().next().unwrap_or("");
    let (action, success) = if first.contains("incorrect password attempt") {
        let count = first
            .split_whitespace()
            .next()
            .and_then(|n| n.parse::<i64>().ok());
        if let Some(count) = count {
            event.insert("event.count", count);
        }
        ("sudo_auth_failure", false)
    } else if first.contains("NOT in sudoers")
        || first.contains("not allowed")
        || first.contains("command not allowed")
    {
        ("sudo_denied", false)
    } else {
        ("sudo_command", true)
    };
    classify(event, "process", "start", action);
    outcome(event, success);
    event.insert("user.name", user.trim());
    for part in parts.by_ref() {
        match part.split_once('=') {
            Some(("TTY", v)) => event.insert("system.auth.tty", v),
            Some(("PWD", v)) => event.insert("process.working_directory", v),
            Some(("USER", v)) => event.insert("user.effective.name", v),
            Some(("COMMAND", v)) => {
                event.insert("process.command_line", v);
                let executable = v.split_whitespace().next().unwrap_or(v);
                event.insert("process.executable", executable);
            }
            _ => {}
        }
    }
    true
}

/// `Successful su for root by alice`, `FAILED su for root by alice`, `(to root) alice on pts/0`
fn su(message: &str, event: &mut Event) -> bool {
    let parsed = if let Some(rest) = message.strip_prefix("Successful su for ") {
        rest.split_once(" by ").map(|(to, by)| (to, by, true))
    } else if let Some(rest) = message.strip_prefix("FAILED su for ") {
        rest.split_once(" by ").map(|(to, by)| (to, by, false))
    } else if let Some(rest) = message.strip_prefix("(to ") {
        rest.split_once(") ")
            .map(|(to, by)| (to, by.split(" on ").next().unwrap_or(by), true))
    } else if let Some(rest) = message.strip_prefix("pam_authenticate: ") {
        event.insert("error.message", rest);
        None
    } else {
        None
    };
    let Some((target, by, success)) = parsed else {
        return false;
    };
    classify(event, "authentication", "start", "su");
    outcome(event, success);
    event.insert("user.name", by.trim());
    event.insert("user.effective.name", target.trim());
    true
}

/// useradd, groupadd, usermod, userdel, passwd.
fn account(message: &str, event: &mut Event) -> bool {
    let named = |text: &str| kv(text, "name").map(str::to_string);
    if let Some(rest) = message.strip_prefix("new user: ") {
        classify(event, "iam", "creation", "user_created");
        event.insert_opt("user.name", named(rest));
        event.insert_opt("user.id", kv(rest, "UID"));
        event.insert_opt("group.id", kv(rest, "GID"));
        event.insert_opt("system.auth.useradd.home", kv(rest, "home"));
        event.insert_opt("system.auth.useradd.shell", kv(rest, "shell"));
    } else if let Some(rest) = message
        .strip_prefix("new group: ")
        .or_else(|| message.strip_prefix("group added to /etc/group: "))
    {
        classify(event, "iam", "creation", "group_created");
        event.insert_opt("group.name", named(rest));
        event.insert_opt("group.id", kv(rest, "GID"));
    } else if let Some(rest) = message
        .strip_prefix("add '")
        .or_else(|| message.strip_prefix("add "))
    {
        // `add 'bob' to group 'sudo'`, `add 'bob' to shadow group 'sudo'`
        let (user, rest) = rest.split_once(" to ").unwrap_or((rest, ""));
        let group = rest.rsplit(' ').next().unwrap_or("");
        classify(event, "iam", "change", "user_added_to_group");
        event.insert("user.name", user.trim_matches('\''));
        event.insert("group.name", group.trim_matches('\''));
    } else if let Some(rest) = message.strip_prefix("delete user '") {
        classify(event, "iam", "deletion", "user_deleted");
        event.insert("user.name", rest.trim_end_matches('\''));
    } else if let Some(rest) = message.strip_prefix("removed group '") {
        classify(event, "iam", "deletion", "group_deleted");
        event.insert("group.name", rest.split('\'').next().unwrap_or(rest));
    } else if let Some(rest) = message.strip_prefix("change user '") {
        classify(event, "iam", "change", "user_changed");
        event.insert("user.name", rest.split('\'').next().unwrap_or(rest));
    } else {
        return false;
    }
    outcome(event, true);
    true
}

/// `(root) CMD (command)`, crontab's `(root) REPLACE (root)`, `BEGIN EDIT`, `END EDIT`, `DELETE`.
fn cron(program: &str, message: &str, event: &mut Event) -> bool {
    let Some((user, rest)) = message.strip_prefix('(').and_then(|m| m.split_once(") ")) else {
        return false;
    };
    if let Some(command) = rest.strip_prefix("CMD (") {
        classify(event, "process", "start", "cron_command");
        event.insert(
            "process.command_line",
            command.strip_suffix(')').unwrap_or(command),
        );
    } else if program == "crontab"
        || rest.starts_with("REPLACE")
        || rest.starts_with("DELETE")
        || rest.contains(" EDIT ")
    {
        let action = match rest.split(" (").next().unwrap_or(rest) {
            "REPLACE" => "crontab_replaced",
            "DELETE" => "crontab_deleted",
            "BEGIN EDIT" => "crontab_edit_started",
            "END EDIT" => "crontab_edit_ended",
            "LIST" => "crontab_listed",
            _ => "crontab_changed",
        };
        classify(event, "configuration", "change", action);
        if let Some(target) = rest.rsplit_once(" (").map(|(_, t)| t.trim_end_matches(')')) {
            event.insert("user.target.name", target);
        }
    } else {
        return false;
    }
    event.insert("user.name", user);
    true
}

/// `New session 3 of user bob.`, `Removed session 3.`, `Session 3 logged out. Waiting for processes to exit.`
fn logind(message: &str, event: &mut Event) -> bool {
    if let Some(rest) = message.strip_prefix("New session ") {
        let Some((id, user)) = rest.split_once(" of user ") else {
            return false;
        };
        classify(event, "session", "start", "session_started");
        event.insert("session.id", id);
        event.insert("user.name", user.trim_end_matches('.'));
        return true;
    }
    if let Some(id) = message.strip_prefix("Removed session ") {
        classify(event, "session", "end", "session_removed");
        event.insert("session.id", id.trim_end_matches('.'));
        return true;
    }
    if let Some(rest) = message.strip_prefix("Session ") {
        if let Some((id, _)) = rest.split_once(" logged out") {
            classify(event, "session", "end", "session_logged_out");
            event.insert("session.id", id);
            return true;
        }
    }
    false
}

/// `connection from 24.54.76.216 (24-54-76-216.bflony.adelphia.net) at Sun Jul 10 03:55:15 2005`;
/// wu-ftpd's `ANONYMOUS FTP LOGIN FROM 84.102.20.2,  (anonymous)` (the host, then the password an
/// anonymous user gave, by convention an e-mail address).
fn ftpd(message: &str, event: &mut Event) -> bool {
    if let Some(rest) = message.strip_prefix("ANONYMOUS FTP LOGIN FROM ") {
        classify(event, "authentication", "start", "ftp_anonymous_login");
        outcome(event, true);
        event.insert("user.name", "anonymous");
        let (host, _) = rest.split_once(',').unwrap_or((rest, ""));
        // `host [ip]` in some versions.
        let (name, ip) = match host.trim().split_once(" [") {
            Some((name, ip)) => (name, ip.trim_end_matches(']')),
            None => (host.trim(), host.trim()),
        };
        insert_host(event, ip, "source.ip", "source.domain");
        if name != ip {
            event.insert("source.domain", name);
        }
        return true;
    }
    let Some(rest) = message.strip_prefix("connection from ") else {
        return false;
    };
    let (ip, rest) = token(rest).unwrap_or((rest, ""));
    classify(event, "network", "start", "ftp_connection");
    insert_host(event, ip, "source.ip", "source.address");
    if let Some(name) = rest
        .strip_prefix('(')
        .and_then(|r| r.split_once(')'))
        .map(|(n, _)| n)
        .filter(|n| !n.is_empty())
    {
        event.insert("source.domain", name);
    }
    true
}
