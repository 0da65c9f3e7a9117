//! The inventory as CSV, for teams whose assets and identities come out of a CMDB or a directory
//! export: one kind per file, told by the header (a `host`, `user` or `network` column), one row per
//! entry, several values in a cell separated by `|` (the asset-lookup convention). A host on several
//! rows (one per address and lease window) is one host: later rows add names, addresses and tags, and
//! may repeat its other cells but not contradict them.
//!
//! ```csv
//! host,names,ip,from,until,owner,criticality,exposure,vip,tags
//! ws-0042,WS-0042|ws-0042.corp.example,10.0.0.5,2026-11-01T00:00:00Z,2026-12-01T00:00:00Z,alice,high,internal,false,workstation
//! ws-0042,,10.0.9.5,,,,,,,
//! ```
//!
//! ```csv
//! user,aliases,criticality,vip,tags
//! alice,CORP\alice|alice@corp.example|alice,high,true,
//! ```
//!
//! ```csv
//! network,cidr,exposure,criticality
//! dmz,192.0.2.0/24,dmz,
//! ```
//!
//! Lines starting with `#` are comments; cells are trimmed; an empty cell is "not given".

use std::collections::HashMap;

use crate::inventory::{
    AddressDoc, Criticality, Entries, Exposure, HostDoc, InventoryError, NetworkDoc, Place, UserDoc,
};

const HOST_COLUMNS: &[&str] = &[
    "host",
    "names",
    "ip",
    "from",
    "until",
    "owner",
    "criticality",
    "exposure",
    "vip",
    "tags",
];
const USER_COLUMNS: &[&str] = &["user", "aliases", "criticality", "vip", "tags"];
const NETWORK_COLUMNS: &[&str] = &["network", "cidr", "exposure", "criticality"];

/// One row's cells by column name.
struct Row<'a> {
    header: &'a [String],
    record: &'a csv::StringRecord,
}

impl Row<'_> {
    fn get(&self, column: &str) -> Option<&str> {
        let at = self.header.iter().position(|h| h == column)?;
        self.record.get(at).map(str::trim).filter(|c| !c.is_empty())
    }

    fn list(&self, column: &str) -> Vec<String> {
        self.get(column)
            .map(|cell| {
                cell.split('|')
                    .map(str::trim)
                    .filter(|v| !v.is_empty())
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default()
    }
}

fn criticality(text: &str) -> Option<Criticality> {
    match text.to_ascii_lowercase().as_str() {
        "low" => Some(Criticality::Low),
        "medium" => Some(Criticality::Medium),
        "high" => Some(Criticality::High),
        "critical" => Some(Criticality::Critical),
        _ => None,
    }
}

fn exposure(text: &str) -> Option<Exposure> {
    match text.to_ascii_lowercase().as_str() {
        "internal" => Some(Exposure::Internal),
        "dmz" => Some(Exposure::Dmz),
        "internet" => Some(Exposure::Internet),
        _ => None,
    }
}

fn flag(text: &str) -> Option<bool> {
    match text.to_ascii_lowercase().as_str() {
        "true" | "yes" | "1" => Some(true),
        "false" | "no" | "0" => Some(false),
        _ => None,
    }
}

/// A host gathered from its rows: what each row gave, and where.
struct Gathered {
    place: Place,
    names: Vec<String>,
    addresses: Vec<AddressDoc>,
    owner: Option<(String, usize)>,
    criticality: Option<(Criticality, usize)>,
    exposure: Option<(Exposure, usize)>,
    vip: Option<(bool, usize)>,
    tags: Vec<String>,
}

/// Keeps the first row's value of a cell; a later row giving another is a contradiction.
fn agree<T: PartialEq + Clone>(
    kept: &mut Option<(T, usize)>,
    given: Option<T>,
    line: usize,
    show: impl Fn(&T) -> String,
    what: &str,
    id: &str,
    errors: &mut Vec<(usize, String)>,
) {
    let Some(given) = given else { return };
    match kept {
        Some((value, at)) if *value != given => errors.push((
            line,
            format!(
                "host {id}: {what} {} contradicts {} at line {at}",
                show(&given),
                show(value)
            ),
        )),
        Some(_) => {}
        None => *kept = Some((given, line)),
    }
}

/// Reads one CSV inventory file into entries; every problem is reported with its line, and the rows
/// that could be read are still returned (to be checked against the other files).
pub(crate) fn read(file: &str, text: &str) -> (Entries, Vec<InventoryError>) {
    let error = |line: usize, message: String| InventoryError {
        file: file.to_string(),
        line: Some(line),
        message,
    };
    let mut reader = csv::ReaderBuilder::new()
        .comment(Some(b'#'))
        .flexible(true)
        .from_reader(text.as_bytes());
    let (header, header_line): (Vec<String>, usize) = match reader.headers() {
        Ok(h) => (
            h.iter().map(|c| c.trim().to_ascii_lowercase()).collect(),
            h.position().map_or(1, |p| p.line() as usize),
        ),
        Err(e) => {
            return (
                Entries::default(),
                vec![error(1, format!("the header: {e}"))],
            )
        }
    };
    let (kind, columns) = match (
        header.iter().any(|h| h == "host"),
        header.iter().any(|h| h == "user"),
        header.iter().any(|h| h == "network"),
    ) {
        (true, false, false) => ("host", HOST_COLUMNS),
        (false, true, false) => ("user", USER_COLUMNS),
        (false, false, true) => ("network", NETWORK_COLUMNS),
        _ => {
            return (
                Entries::default(),
                vec![error(
                    header_line,
                    "a CSV inventory holds one kind, named by a column of its header: host, user or network".into(),
                )],
            )
        }
    };
    let mut errors: Vec<(usize, String)> = Vec::new();
    for column in &header {
        if !columns.contains(&column.as_str()) {
            errors.push((
                header_line,
                format!(
                    "unknown column {column:?} in a {kind} inventory: use {}",
                    columns.join(", ")
                ),
            ));
        }
    }
    if !errors.is_empty() {
        return (
            Entries::default(),
            errors.into_iter().map(|(l, m)| error(l, m)).collect(),
        );
    }
    let mut entries = Entries::default();
    let mut hosts: Vec<(String, Gathered)> = Vec::new();
    let mut host_at: HashMap<String, usize> = HashMap::new();
    let mut record = csv::StringRecord::new();
    loop {
        let line = reader.position().line() as usize;
        match reader.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => {
                let line = e.position().map_or(line, |p| p.line() as usize);
                errors.push((line, format!("not a CSV row: {e}")));
                continue;
            }
        }
        let line = record.position().map_or(line, |p| p.line() as usize);
        if record.iter().all(|c| c.trim().is_empty()) {
            continue;
        }
        if record.len() != header.len() {
            errors.push((
                line,
                format!(
                    "{} cells where the header names {}",
                    record.len(),
                    header.len()
                ),
            ));
            continue;
        }
        let row = Row {
            header: &header,
            record: &record,
        };
        let place = Place {
            file: file.to_string(),
            line,
        };
        let mut bad = |column: &str, value: &str, expected: &str| {
            errors.push((line, format!("{column} {value:?}: use {expected}")));
        };
        let crit = row.get("criticality").and_then(|c| {
            let parsed = criticality(c);
            if parsed.is_none() {
                bad("criticality", c, "low, medium, high or critical");
            }
            parsed
        });
        let expo = row.get("exposure").and_then(|c| {
            let parsed = exposure(c);
            if parsed.is_none() {
                bad("exposure", c, "internal, dmz or internet");
            }
            parsed
        });
        let vip = row.get("vip").and_then(|c| {
            let parsed = flag(c);
            if parsed.is_none() {
                bad("vip", c, "true or false");
            }
            parsed
        });
        match kind {
            "user" => entries.users.push((
                place,
                UserDoc {
                    id: row.get("user").unwrap_or_default().to_string(),
                    aliases: row.list("aliases"),
                    criticality: crit.unwrap_or_default(),
                    vip: vip.unwrap_or_default(),
                    tags: row.list("tags"),
                },
            )),
            "network" => entries.networks.push((
                place,
                NetworkDoc {
                    name: row.get("network").unwrap_or_default().to_string(),
                    cidr: row.get("cidr").unwrap_or_default().to_string(),
                    exposure: expo.unwrap_or_default(),
                    criticality: crit.unwrap_or_default(),
                },
            )),
            _ => {
                let id = row.get("host").unwrap_or_default().to_string();
                let key = crate::names::host(&id);
                let at = *host_at.entry(key).or_insert_with(|| {
                    hosts.push((
                        id.clone(),
                        Gathered {
                            place,
                            names: Vec::new(),
                            addresses: Vec::new(),
                            owner: None,
                            criticality: None,
                            exposure: None,
                            vip: None,
                            tags: Vec::new(),
                        },
                    ));
                    hosts.len() - 1
                });
                let Some((_, host)) = hosts.get_mut(at) else {
                    continue;
                };
                for name in row.list("names") {
                    if !host.names.contains(&name) {
                        host.names.push(name);
                    }
                }
                let (from, until) = (row.get("from"), row.get("until"));
                let ips = row.list("ip");
                if ips.is_empty() && (from.is_some() || until.is_some()) {
                    errors.push((line, format!("host {id}: a window without an ip")));
                }
                for ip in ips {
                    host.addresses.push(AddressDoc {
                        ip,
                        from: from.map(str::to_string),
                        until: until.map(str::to_string),
                    });
                }
                let show = |t: &String| format!("{t:?}");
                agree(
                    &mut host.owner,
                    row.get("owner").map(str::to_string),
                    line,
                    show,
                    "owner",
                    &id,
                    &mut errors,
                );
                agree(
                    &mut host.criticality,
                    crit,
                    line,
                    |c| c.as_str().to_string(),
                    "criticality",
                    &id,
                    &mut errors,
                );
                agree(
                    &mut host.exposure,
                    expo,
                    line,
                    |e| e.as_str().to_string(),
                    "exposure",
                    &id,
                    &mut errors,
                );
                agree(
                    &mut host.vip,
                    vip,
                    line,
                    |v| v.to_string(),
                    "vip",
                    &id,
                    &mut errors,
                );
                for tag in row.list("tags") {
                    if !host.tags.contains(&tag) {
                        host.tags.push(tag);
                    }
                }
            }
        }
    }
    for (id, h) in hosts {
        entries.hosts.push((
            h.place,
            HostDoc {
                id,
                names: h.names,
                addresses: h.addresses,
                owner: h.owner.map(|(o, _)| o),
                criticality: h.criticality.map(|(c, _)| c).unwrap_or_default(),
                exposure: h.exposure.map(|(e, _)| e).unwrap_or_default(),
                vip: h.vip.map(|(v, _)| v).unwrap_or_default(),
                tags: h.tags,
            },
        ));
    }
    errors.sort_by_key(|(line, _)| *line);
    (
        entries,
        errors.into_iter().map(|(l, m)| error(l, m)).collect(),
    )
}
