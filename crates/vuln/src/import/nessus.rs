//! Tenable `.nessus` v2 (`NessusClientData_v2`), streamed: `Report/ReportHost[@name]` with its
//! `HostProperties` tags (`host-ip`, `host-fqdn`), then `ReportItem`s (`@port @protocol @svc_name
//! @severity @pluginID @pluginName`) whose children carry the CVEs, CVSS, description and
//! solution. Items of severity 0 are informational: counted apart, not kept. Each host is a scope.

use std::collections::BTreeMap;
use std::io::BufRead;

use super::xml::{attribute, walk, Node};
use super::{Format, Sink, Tally};
use crate::cvss::{CvssScore, CvssVersion};
use crate::finding::{Asset, AssetKind, Exploitation, Finding, FindingKind, FixState, Severity};
use crate::VulnError;

const TOOL: &str = "nessus";
/// A plugin's output is evidence, kept short.
const OUTPUT_LIMIT: usize = 4096;

#[derive(Default)]
struct Host {
    index: usize,
    name: String,
    ip: Option<String>,
    fqdn: Option<String>,
    tag: Option<String>,
}

#[derive(Default)]
struct Item {
    index: usize,
    attributes: BTreeMap<&'static str, String>,
    children: BTreeMap<String, Vec<String>>,
}

pub(super) fn import(
    name: &str,
    reader: impl BufRead,
    sink: &mut dyn Sink,
) -> Result<Tally, VulnError> {
    let mut tally = Tally::new(Format::Nessus);
    let mut hosts = 0;
    let mut host: Option<Host> = None;
    let mut item: Option<Item> = None;
    let walked = walk(name, reader, |node| {
        match node {
            Node::Start("ReportHost", start) => {
                let name = attribute(start, "name").unwrap_or_default();
                sink.scope(TOOL, &name)?;
                host = Some(Host {
                    index: hosts,
                    name,
                    ..Host::default()
                });
                hosts += 1;
            }
            Node::Start("tag", start) => {
                if let Some(host) = host.as_mut() {
                    host.tag = attribute(start, "name");
                }
            }
            Node::End("tag", text) => {
                if let Some(host) = host.as_mut() {
                    match host.tag.take().as_deref() {
                        Some("host-ip") => host.ip = Some(text.to_string()),
                        Some("host-fqdn") => host.fqdn = Some(text.to_string()),
                        _ => {}
                    }
                }
            }
            Node::Start("ReportItem", start) => {
                let mut attributes = BTreeMap::new();
                for key in [
                    "port",
                    "protocol",
                    "svc_name",
                    "severity",
                    "pluginID",
                    "pluginName",
                ] {
                    if let Some(v) = attribute(start, key) {
                        attributes.insert(key, v);
                    }
                }
                let index = item.as_ref().map_or(0, |i| i.index + 1);
                item = Some(Item {
                    index,
                    attributes,
                    children: BTreeMap::new(),
                });
            }
            Node::End("ReportItem", _) => {
                let Some(current) = item.as_mut() else {
                    return Ok(());
                };
                let done = std::mem::take(&mut current.children);
                let record = format!(
                    "ReportHost[{}]/ReportItem[{}]",
                    host.as_ref().map_or(0, |h| h.index),
                    current.index
                );
                let severity = current.attributes.get("severity").map(|s| s.trim());
                if severity == Some("0") {
                    tally.apart("informational item");
                    return Ok(());
                }
                tally.read += 1;
                match finding(&current.attributes, done, host.as_ref(), record.clone()) {
                    Ok(f) => sink.finding(f)?,
                    Err(reason) => tally.reject(record, reason),
                }
            }
            Node::End("ReportHost", _) => {
                host = None;
                item = None;
            }
            Node::End(tag, text) => {
                if let Some(item) = item.as_mut() {
                    if tag != "ReportItem" && !text.is_empty() {
                        item.children
                            .entry(tag.to_string())
                            .or_default()
                            .push(text.to_string());
                    }
                }
            }
            _ => {}
        }
        Ok(())
    });
    match walked {
        Ok(()) => Ok(tally),
        // A broken file keeps what was read before the break, and says where it broke.
        Err(VulnError::Format { reason, .. }) => {
            tally.reject("(file)", reason);
            Ok(tally)
        }
        Err(e) => Err(e),
    }
}

fn finding(
    attributes: &BTreeMap<&'static str, String>,
    children: BTreeMap<String, Vec<String>>,
    host: Option<&Host>,
    record: String,
) -> Result<Finding, String> {
    let host = host.ok_or("a ReportItem outside a ReportHost")?;
    let plugin = attributes.get("pluginID").ok_or("no pluginID")?;
    let severity = match attributes.get("severity").map(String::as_str) {
        Some("1") => Severity::Low,
        Some("2") => Severity::Medium,
        Some("3") => Severity::High,
        Some("4") => Severity::Critical,
        Some(other) => return Err(format!("severity {other:?} is not 0 to 4")),
        None => return Err("no severity".into()),
    };
    let one = |key: &str| {
        children
            .get(key)
            .and_then(|v| v.first())
            .map(String::as_str)
    };
    let all = |key: &str| children.get(key).cloned().unwrap_or_default();
    let number = |key: &str| one(key).and_then(|s| s.parse::<f64>().ok());
    let mut cvss = Vec::new();
    cvss.extend(CvssScore::new(
        "nessus",
        Some(CvssVersion::V40),
        one("cvss4_vector"),
        number("cvss4_base_score"),
    ));
    cvss.extend(CvssScore::new(
        "nessus",
        Some(CvssVersion::V30),
        one("cvss3_vector"),
        number("cvss3_base_score"),
    ));
    cvss.extend(CvssScore::new(
        "nessus",
        Some(CvssVersion::V2),
        one("cvss_vector"),
        number("cvss_base_score"),
    ));
    let mut aliases = all("cve");
    aliases.sort();
    aliases.dedup();
    let mut description = [one("synopsis"), one("description")]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join("\n\n");
    if let Some(solution) = one("solution") {
        description.push_str("\n\nSolution: ");
        description.push_str(solution);
    }
    if let Some(output) = one("plugin_output") {
        let mut cut = output.len().min(OUTPUT_LIMIT);
        while !output.is_char_boundary(cut) {
            cut -= 1;
        }
        description.push_str("\n\nPlugin output: ");
        description.push_str(&output[..cut]);
    }
    let mut references: Vec<String> = all("see_also")
        .iter()
        .flat_map(|s| s.split_whitespace().map(str::to_string).collect::<Vec<_>>())
        .collect();
    references.extend(all("xref"));
    let port = attributes.get("port").map_or("0", String::as_str);
    let protocol = attributes.get("protocol").map_or("tcp", String::as_str);
    Ok(Finding {
        kind: FindingKind::Vulnerability,
        tool: TOOL.to_string(),
        scope: host.name.clone(),
        asset: Asset {
            kind: AssetKind::Host,
            name: host.fqdn.clone().unwrap_or_else(|| host.name.clone()),
            address: host.ip.clone(),
        },
        id: format!("NESSUS-{plugin}"),
        aliases,
        title: attributes
            .get("pluginName")
            .cloned()
            .or_else(|| one("plugin_name").map(str::to_string))
            .unwrap_or_else(|| format!("Nessus plugin {plugin}")),
        package: None,
        location: Some(format!("{port}/{protocol}")),
        fixed_version: None,
        fix_state: if one("patch_publication_date").is_some() {
            FixState::Fixed
        } else {
            FixState::Unknown
        },
        severity,
        cvss,
        cwes: all("cwe")
            .into_iter()
            .map(|c| {
                if c.starts_with("CWE-") {
                    c
                } else {
                    format!("CWE-{c}")
                }
            })
            .collect(),
        description,
        references,
        exploitation: Exploitation {
            epss: None,
            kev: None,
            exploit_available: one("exploit_available") == Some("true"),
        },
        published: one("vuln_publication_date")
            .and_then(|d| crate::parse_time(&d.replace('/', "-"))),
        tool_key: None,
        record,
    })
}
