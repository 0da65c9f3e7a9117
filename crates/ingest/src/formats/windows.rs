//! Windows events (from EVTX files or evtx_dump JSON) to ECS.
//!
//! The original record stays under `Event.*` in evtx_dump's layout (`Event.System.EventID`,
//! `Event.EventData.CommandLine`, attributes under `#attributes`), which is what Sigma rules and their
//! regression samples address. Two normalizations make both inputs alike: an element holding both `#text`
//! and `#attributes` becomes its text, with the attributes beside it as `<name>_attributes` (so
//! `Event.System.EventID` is always the number), and `EventID` / `EventRecordID` given as strings become
//! integers.

use secops_event::{Event, Location, Object, Provenance, Str, Timestamp, Value};

use super::util::basename;
use crate::Reason;

const FORMAT: &str = "Windows event";

/// Builds the event from a record object holding `Event`. ECS fields are filled into a new event from the
/// borrowed record, and then the record itself is moved in, so nothing is copied.
pub(crate) fn normalize(mut root: Object, provenance: Provenance) -> Result<Event, Reason> {
    let Some(Value::Object(event_obj)) = root.get_mut("Event") else {
        return Err(Reason::malformed(FORMAT, "no Event object"));
    };
    flatten_text_attributes(event_obj);
    if let Some(Value::Object(data)) = event_obj.get_mut("EventData") {
        space_less_names(data);
    }
    let Some(Value::Object(system)) = event_obj.get_mut("System") else {
        return Err(Reason::malformed(FORMAT, "no Event.System object"));
    };
    for key in [
        "EventID",
        "EventRecordID",
        "Version",
        "Level",
        "Task",
        "Opcode",
    ] {
        if let Some(slot) = system.get_mut(key) {
            if let Some(n) = slot.as_str().and_then(|s| s.trim().parse::<i64>().ok()) {
                *slot = Value::Int(n);
            }
        }
    }
    let event_id = system
        .get("EventID")
        .and_then(Value::as_i64)
        .ok_or(Reason::malformed(
            FORMAT,
            "Event.System.EventID missing or not a number",
        ))?;
    // Event Viewer finds a record by its EventRecordID: an exported log renumbers the records in
    // its file, so provenance names both numbers when they differ.
    let provenance = match (
        provenance.location,
        system.get("EventRecordID").and_then(Value::as_i64),
    ) {
        (Location::Record(file_record), Some(id))
            if u64::try_from(id).is_ok_and(|id| id != file_record) =>
        {
            Provenance::new(
                provenance.source,
                Location::EventRecord {
                    id: id.unsigned_abs(),
                    file_record,
                },
            )
        }
        _ => provenance,
    };
    let mut event = Event::new(provenance);
    let record = root.get("Event").and_then(Value::as_object);
    if let Some(system) = record
        .and_then(|r| r.get("System"))
        .and_then(Value::as_object)
    {
        fill_system(&mut event, system, event_id)?;
    }
    if let Some(data) = record
        .and_then(|r| r.get("EventData"))
        .and_then(Value::as_object)
    {
        fill_event_data(&mut event, data, event_id);
    }
    crate::community_id::fill(&mut event);
    let fields = event.fields_mut();
    for (key, value) in root {
        fields.push(key, value);
    }
    Ok(event)
}

/// Entity ids for Security 4688 process creations, which carry none (Sysmon's `ProcessGuid` is one):
/// a GUID-shaped digest of the host, the process id and its start time (the event's). The parent's is
/// the digest of its own 4688 earlier in the same log (its process id on that host, the latest
/// before), or, for a parent started before the log begins, of the host and process id with no
/// start time. Kept per log read, in record order; at most [`ProcessIds::HELD`] starts are held.
#[derive(Debug, Default)]
pub struct ProcessIds {
    started: std::collections::HashMap<(String, i64), i64>,
}

impl ProcessIds {
    /// Starts held before the oldest knowledge is let go (all of it: a parent then looks as if
    /// started before the log).
    pub const HELD: usize = 1 << 20;

    /// Gives a 4688 event its `process.entity_id` and `process.parent.entity_id`.
    pub fn link(&mut self, event: &mut Event) {
        if event.get_str("event.code") != Some("4688")
            || event.get_str("event.dataset") != Some("windows.security")
            || event.get("process.entity_id").is_some()
        {
            return;
        }
        let (Some(host), Some(pid), Some(start)) = (
            event.get_str("host.name").map(str::to_ascii_lowercase),
            event.get("process.pid").and_then(Value::as_i64),
            event.timestamp().map(|t| t.unix_nanos()),
        ) else {
            return;
        };
        event.insert("process.entity_id", entity_id(&host, pid, Some(start)));
        if let Some(parent) = event.get("process.parent.pid").and_then(Value::as_i64) {
            let parent_start = self.started.get(&(host.clone(), parent)).copied();
            event.insert(
                "process.parent.entity_id",
                entity_id(&host, parent, parent_start),
            );
        }
        if self.started.len() >= Self::HELD {
            self.started.clear();
        }
        self.started.insert((host, pid), start);
    }
}

/// `{xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx}` from a SHA-1 of host, process id and start.
fn entity_id(host: &str, pid: i64, start: Option<i64>) -> String {
    use sha1::{Digest, Sha1};
    let mut hash = Sha1::new();
    hash.update(host.as_bytes());
    hash.update([0]);
    hash.update(pid.to_string().as_bytes());
    hash.update([0]);
    hash.update(
        start
            .map_or_else(|| "-".to_string(), |s| s.to_string())
            .as_bytes(),
    );
    let hex: String = hash.finalize()[..16]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!(
        "{{{}-{}-{}-{}-{}}}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

/// `{"#attributes": {...}, "#text": x}` -> `x`, with `<key>_attributes` beside it, and an element holding
/// only its text, `{"#text": x}` -> `x`; recursive. The second is how the EVTX reader renders `<Data>`
/// elements without a `Name` (classic PowerShell, MSSQL, ESENT, MsiInstaller: `Data: {"#text": [v1, v2]}`),
/// so `EventData.Data` holds the values and a Sigma `Data` test matches any of them, as pySigma's Windows
/// pipeline does.
fn flatten_text_attributes(object: &mut Object) {
    let mut moved: Vec<(Str, Value)> = Vec::new();
    for (key, value) in object.iter_mut() {
        let Value::Object(inner) = value else {
            continue;
        };
        flatten_text_attributes(inner);
        if inner.len() == 1 {
            if let Some(text) = inner.remove("#text") {
                *value = text;
            }
        } else if inner.len() == 2 && inner.get("#text").is_some() {
            if let (Some(text), Some(attributes)) =
                (inner.remove("#text"), inner.remove("#attributes"))
            {
                moved.push((Str::from(format!("{key}_attributes")), attributes));
                *value = text;
            }
        }
    }
    for (key, attributes) in moved {
        object.insert(key, attributes);
    }
}

/// EventData names with spaces (Windows Defender's `Threat Name`, `Source Name`, `New Value`) are also
/// reachable by their space-less spelling, which is how Sigma rules write them: `ThreatName` is added
/// beside `Threat Name` (a copy; the record keeps its own names), unless the record has that name already.
fn space_less_names(data: &mut Object) {
    let mut aliases: Vec<(Str, Value)> = Vec::new();
    for (key, value) in data.iter() {
        if key.contains(' ') {
            let alias: String = key.chars().filter(|c| *c != ' ').collect();
            if !alias.is_empty() && data.get(&alias).is_none() {
                aliases.push((Str::from(alias), value.clone()));
            }
        }
    }
    for (key, value) in aliases {
        data.insert(key, value);
    }
}

/// `element.#attributes.name`, or `element_attributes.name` (evtx_dump's separate-attributes layout).
fn attribute<'a>(system: &'a Object, element: &str, name: &str) -> Option<&'a Value> {
    let inline = system
        .get(element)
        .and_then(Value::as_object)
        .and_then(|e| e.get("#attributes"));
    match inline.and_then(Value::as_object).and_then(|a| a.get(name)) {
        Some(value) => Some(value),
        None => system.lookup(&format!("{element}_attributes.{name}")),
    }
}

/// The Sigma-style service name of a channel: `Microsoft-Windows-Sysmon/Operational` -> `sysmon`.
pub fn channel_service(channel: &str) -> String {
    match channel {
        "Microsoft-Windows-Windows Defender/Operational" => return "windefend".into(),
        "Microsoft-Windows-WMI-Activity/Operational" => return "wmi".into(),
        "Windows PowerShell" => return "powershell-classic".into(),
        "Microsoft-Windows-Windows Firewall With Advanced Security/Firewall" => {
            return "firewall-as".into()
        }
        _ => {}
    }
    let name = channel
        .strip_prefix("Microsoft-Windows-")
        .unwrap_or(channel);
    let name = name.split('/').next().unwrap_or(name);
    name.to_ascii_lowercase().replace(' ', "-")
}

fn fill_system(event: &mut Event, system: &Object, event_id: i64) -> Result<(), Reason> {
    let time = attribute(system, "TimeCreated", "SystemTime").and_then(Value::as_str);
    match time {
        Some(text) => event.set_timestamp(Timestamp::parse_rfc3339(text)?),
        None => {
            return Err(Reason::malformed(
                FORMAT,
                "Event.System.TimeCreated SystemTime missing",
            ))
        }
    }
    let channel = system.get("Channel").and_then(Value::as_str).unwrap_or("");
    let provider = attribute(system, "Provider", "Name")
        .and_then(Value::as_str)
        .unwrap_or("");
    event.insert("event.kind", "event");
    event.insert("event.module", "windows");
    event.insert(
        "event.dataset",
        format!("windows.{}", channel_service(channel)),
    );
    event.insert("event.code", event_id.to_string());
    event.insert("event.provider", provider);
    event.insert("winlog.event_id", event_id);
    event.insert("winlog.channel", channel);
    event.insert("winlog.provider_name", provider);
    if let Some(id) = system.get("EventRecordID").and_then(Value::as_i64) {
        event.insert("winlog.record_id", id);
    }
    if let Some(computer) = system.get("Computer").and_then(Value::as_str) {
        event.insert("winlog.computer_name", computer);
        event.insert("host.name", computer);
    }
    if let Some(level) = system.get("Level").and_then(Value::as_i64) {
        let name = match level {
            1 => "critical",
            2 => "error",
            3 => "warning",
            5 => "verbose",
            _ => "information",
        };
        event.insert("log.level", name);
    }
    if let Some(sid) = attribute(system, "Security", "UserID").and_then(Value::as_str) {
        event.insert("winlog.user.identifier", sid);
    }
    if let Some((category, kind, action, outcome)) = classify(channel, provider, event_id) {
        event.insert("event.category", category);
        event.insert("event.type", kind);
        event.insert("event.action", action);
        if let Some(outcome) = outcome {
            event.insert("event.outcome", outcome);
        }
    }
    Ok(())
}

type Class = (
    &'static str,
    &'static str,
    &'static str,
    Option<&'static str>,
);

/// ECS category, type, action and outcome of well-known events (after Elastic's winlog mappings).
fn classify(channel: &str, provider: &str, id: i64) -> Option<Class> {
    let ok = Some("success");
    let fail = Some("failure");
    let class: Class = match (channel, id) {
        ("Security", 4624) => ("authentication", "start", "logged-in", ok),
        ("Security", 4625) => ("authentication", "start", "logon-failed", fail),
        ("Security", 4634 | 4647) => ("authentication", "end", "logged-out", ok),
        ("Security", 4648) => ("authentication", "start", "logged-in-explicit", ok),
        ("Security", 4672) => ("iam", "admin", "logged-in-special", ok),
        ("Security", 4688) => ("process", "start", "created-process", ok),
        ("Security", 4689) => ("process", "end", "exited-process", ok),
        ("Security", 4697) => ("configuration", "creation", "service-installed", ok),
        ("Security", 4698) => ("configuration", "creation", "scheduled-task-created", ok),
        ("Security", 4699) => ("configuration", "deletion", "scheduled-task-deleted", ok),
        ("Security", 4700) => ("configuration", "change", "scheduled-task-enabled", ok),
        ("Security", 4701) => ("configuration", "change", "scheduled-task-disabled", ok),
        ("Security", 4702) => ("configuration", "change", "scheduled-task-updated", ok),
        ("Security", 4720) => ("iam", "creation", "added-user-account", ok),
        ("Security", 4722) => ("iam", "change", "enabled-user-account", ok),
        ("Security", 4723) => ("iam", "change", "changed-password", ok),
        ("Security", 4724) => ("iam", "change", "reset-password", ok),
        ("Security", 4725) => ("iam", "change", "disabled-user-account", ok),
        ("Security", 4726) => ("iam", "deletion", "deleted-user-account", ok),
        ("Security", 4727 | 4731 | 4754) => ("iam", "creation", "added-group", ok),
        ("Security", 4728 | 4732 | 4756) => ("iam", "change", "added-member-to-group", ok),
        ("Security", 4729 | 4733 | 4757) => ("iam", "change", "removed-member-from-group", ok),
        ("Security", 4738) => ("iam", "change", "modified-user-account", ok),
        ("Security", 4740) => ("iam", "change", "locked-out-user-account", ok),
        ("Security", 4767) => ("iam", "change", "unlocked-user-account", ok),
        ("Security", 4768) => (
            "authentication",
            "start",
            "kerberos-authentication-ticket-requested",
            None,
        ),
        ("Security", 4769) => (
            "authentication",
            "start",
            "kerberos-service-ticket-requested",
            None,
        ),
        ("Security", 4771) => ("authentication", "start", "kerberos-preauth-failed", fail),
        ("Security", 4776) => ("authentication", "start", "credential-validated", None),
        ("Security", 5140 | 5145) => ("network", "access", "network-share-object-accessed", ok),
        ("Security", 1102) => ("configuration", "deletion", "audit-log-cleared", ok),
        ("System", 104) => ("configuration", "deletion", "log-cleared", ok),
        ("System", 7045) => ("configuration", "creation", "service-installed", ok),
        ("System", 7036) => ("configuration", "change", "service-state-changed", None),
        ("System", 7040) => ("configuration", "change", "service-start-type-changed", ok),
        ("Microsoft-Windows-PowerShell/Operational", 4103) => {
            ("process", "info", "execute-pipeline", None)
        }
        ("Microsoft-Windows-PowerShell/Operational", 4104) => {
            ("process", "info", "execute-script-block", None)
        }
        _ if provider == "Microsoft-Windows-Sysmon" => sysmon(id)?,
        _ => return None,
    };
    Some(class)
}

fn sysmon(id: i64) -> Option<Class> {
    Some(match id {
        1 => ("process", "start", "process-created", None),
        2 => ("file", "change", "file-creation-time-changed", None),
        3 => ("network", "connection", "network-connection", None),
        5 => ("process", "end", "process-terminated", None),
        6 => ("driver", "start", "driver-loaded", None),
        7 => ("library", "start", "image-loaded", None),
        8 => ("process", "change", "create-remote-thread", None),
        9 => ("file", "access", "raw-access-read", None),
        10 => ("process", "access", "process-access", None),
        11 => ("file", "creation", "file-created", None),
        12 => (
            "registry",
            "change",
            "registry-object-added-or-deleted",
            None,
        ),
        13 => ("registry", "change", "registry-value-set", None),
        14 => ("registry", "change", "registry-object-renamed", None),
        15 => ("file", "creation", "file-stream-created", None),
        17 => ("file", "creation", "pipe-created", None),
        18 => ("file", "access", "pipe-connected", None),
        19..=21 => ("configuration", "change", "wmi-event", None),
        22 => ("network", "protocol", "dns-query", None),
        23 | 26 => ("file", "deletion", "file-deleted", None),
        25 => ("process", "change", "process-tampering", None),
        _ => return None,
    })
}

const LOGON_EVENTS: &[i64] = &[4624, 4625, 4634, 4647, 4648, 4768, 4769, 4771, 4776];
const GROUP_EVENTS: &[i64] = &[
    4727, 4728, 4729, 4730, 4731, 4732, 4733, 4734, 4735, 4737, 4754, 4755, 4756, 4757, 4758,
];

/// ECS fields from `Event.EventData` by field name (the names are the same across Sysmon and Security).
fn fill_event_data(event: &mut Event, data: &Object, event_id: i64) {
    let text = |key: &str| {
        data.get(key)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty() && *s != "-")
    };
    let set = |event: &mut Event, ecs: &'static str, key: &str| {
        if let Some(value) = text(key) {
            event.insert(ecs, value);
        }
    };
    set(event, "process.command_line", "CommandLine");
    set(event, "process.parent.command_line", "ParentCommandLine");
    set(event, "process.working_directory", "CurrentDirectory");
    set(event, "process.entity_id", "ProcessGuid");
    set(event, "process.parent.entity_id", "ParentProcessGuid");
    set(event, "file.path", "TargetFilename");
    set(event, "registry.path", "TargetObject");
    set(event, "registry.data.strings", "Details");
    set(event, "dns.question.name", "QueryName");
    set(event, "service.name", "ServiceName");
    set(event, "destination.domain", "DestinationHostname");
    set(event, "source.domain", "SourceHostname");
    set(event, "network.transport", "Protocol");
    set(
        event,
        "powershell.file.script_block_text",
        "ScriptBlockText",
    );
    set(event, "winlog.event_data.TaskName", "TaskName");
    set(event, "dll.path", "ImageLoaded");
    for (ecs, name, key) in [
        ("process.executable", "process.name", "Image"),
        ("process.executable", "process.name", "NewProcessName"),
        (
            "process.parent.executable",
            "process.parent.name",
            "ParentImage",
        ),
        (
            "process.parent.executable",
            "process.parent.name",
            "ParentProcessName",
        ),
    ] {
        if let Some(path) = text(key) {
            event.insert(name, basename(path));
            event.insert(ecs, path);
        }
    }
    if let Some(path) = text("TargetFilename") {
        event.insert("file.name", basename(path));
    }
    if let Some(path) = text("ImageLoaded") {
        event.insert("dll.name", basename(path));
    }
    for (ecs, key) in [
        ("process.pid", "ProcessId"),
        ("process.pid", "NewProcessId"),
        ("process.parent.pid", "ParentProcessId"),
        ("source.port", "SourcePort"),
        ("destination.port", "DestinationPort"),
        ("winlog.logon.type", "LogonType"),
    ] {
        if let Some(n) = data.get(key).and_then(integer) {
            event.insert(ecs, n);
        }
    }
    for (ecs, key) in [
        ("source.ip", "SourceIp"),
        ("destination.ip", "DestinationIp"),
        ("source.ip", "IpAddress"),
    ] {
        if let Some(ip) = text(key).and_then(Value::ip) {
            event.insert(ecs, ip);
        }
    }
    // 4688: `ProcessId` is the creator's (the new process is `NewProcessId`).
    if event_id == 4688 {
        if let Some(n) = data.get("ProcessId").and_then(integer) {
            event.insert("process.parent.pid", n);
        }
    }
    if let Some(port) = data.get("IpPort").and_then(integer).filter(|&p| p > 0) {
        event.insert("source.port", port);
    }
    if let Some(hashes) = text("Hashes") {
        let prefix = if data.get("ImageLoaded").is_some() {
            "dll.hash"
        } else if data.get("TargetFilename").is_some() {
            "file.hash"
        } else {
            "process.hash"
        };
        for pair in hashes.split(',') {
            if let Some((algorithm, digest)) = pair.split_once('=') {
                event.insert(
                    format!("{prefix}.{}", algorithm.trim().to_ascii_lowercase()),
                    digest.trim(),
                );
            }
        }
    }
    fill_users(event, event_id, &text);
}

fn fill_users<'a>(event: &mut Event, event_id: i64, text: &dyn Fn(&str) -> Option<&'a str>) {
    if let Some(user) = text("User") {
        match user.split_once('\\') {
            Some((domain, name)) => {
                event.insert("user.domain", domain);
                event.insert("user.name", name);
            }
            None => event.insert("user.name", user),
        }
    }
    let target = text("TargetUserName");
    let target_domain = text("TargetDomainName");
    if LOGON_EVENTS.contains(&event_id) {
        event.insert_opt("user.name", target);
        event.insert_opt("user.domain", target_domain);
        event.insert_opt("user.id", text("TargetUserSid"));
        event.insert_opt("source.domain", text("WorkstationName"));
        return;
    }
    event.insert_opt("user.name", text("SubjectUserName"));
    event.insert_opt("user.domain", text("SubjectDomainName"));
    event.insert_opt("user.id", text("SubjectUserSid"));
    if GROUP_EVENTS.contains(&event_id) {
        event.insert_opt("group.name", target);
        event.insert_opt("group.domain", target_domain);
        event.insert_opt("user.target.name", text("MemberName"));
        event.insert_opt("user.target.id", text("MemberSid"));
    } else {
        event.insert_opt("user.target.name", target);
        event.insert_opt("user.target.domain", target_domain);
    }
}

/// Integers, also written as decimal or `0x` hex text (4688's NewProcessId).
fn integer(value: &Value) -> Option<i64> {
    if let Some(hex) = value.as_str().and_then(|s| s.strip_prefix("0x")) {
        return i64::from_str_radix(hex, 16).ok();
    }
    value.as_i64()
}
