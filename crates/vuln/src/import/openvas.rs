//! OpenVAS / Greenbone (GVM) XML reports, streamed: `report/results/result`, each with the host
//! (its address as text, `hostname` inside), the port (`512/tcp`, `general/tcp`), the `nvt` that
//! found it (`@oid`, `name`, `cvss_base` or `severities`, `tags` as `k=v|k=v`, `refs/ref[@type
//! @id]`), the `threat` and numeric `severity`, and the result's own `description`. A result with
//! an NVT is a finding (a `Log` result one of severity none). Each host scanned is a scope.

use std::collections::{BTreeMap, BTreeSet};
use std::io::BufRead;

use super::xml::{attribute, walk, Node};
use super::{Format, Sink, Tally};
use crate::cvss::{CvssScore, CvssVersion};
use crate::finding::{Asset, AssetKind, Exploitation, Finding, FindingKind, FixState, Severity};
use crate::VulnError;

const TOOL: &str = "openvas";

#[derive(Default)]
struct Result {
    index: usize,
    /// Open elements inside the result (`nvt`, `refs`...).
    path: Vec<String>,
    /// Text by path inside the result (`host`, `host/hostname`, `nvt/name`, `severity`).
    text: BTreeMap<String, String>,
    oid: Option<String>,
    refs: Vec<(String, String)>,
    /// `nvt/severities/severity[@type]`, then its `value`.
    severity_type: Option<String>,
    vectors: Vec<(String, String)>,
}

pub(super) fn import(
    name: &str,
    reader: impl BufRead,
    sink: &mut dyn Sink,
) -> std::result::Result<Tally, VulnError> {
    let mut tally = Tally::new(Format::OpenVas);
    let mut results = 0;
    let mut current: Option<Result> = None;
    let mut summary_host = false;
    let mut scopes = BTreeSet::new();
    let mut scope = |sink: &mut dyn Sink, host: &str| -> std::result::Result<(), VulnError> {
        if !host.is_empty() && scopes.insert(host.to_string()) {
            sink.scope(TOOL, host)?;
        }
        Ok(())
    };
    let walked = walk(name, reader, |node| {
        if let Some(result) = current.as_mut() {
            match node {
                Node::Start(tag, start) => {
                    match tag {
                        "nvt" => result.oid = attribute(start, "oid"),
                        "ref" => {
                            if let (Some(kind), Some(id)) =
                                (attribute(start, "type"), attribute(start, "id"))
                            {
                                result.refs.push((kind, id));
                            }
                        }
                        "severity"
                            if result.path.last().map(String::as_str) == Some("severities") =>
                        {
                            result.severity_type = attribute(start, "type");
                        }
                        _ => {}
                    }
                    result.path.push(tag.to_string());
                }
                Node::End(tag, text) => {
                    let key = result.path.join("/");
                    result.path.pop();
                    if tag == "value" && key.ends_with("severities/severity/value") {
                        if let Some(kind) = result.severity_type.take() {
                            result.vectors.push((kind, text.to_string()));
                        }
                    }
                    if !key.is_empty() {
                        result.text.entry(key).or_insert_with(|| text.to_string());
                        return Ok(());
                    }
                    // The result itself ended.
                    let done = current.take().unwrap_or_default();
                    let record = format!("result[{}]", done.index);
                    let host = done.text.get("host").cloned().unwrap_or_default();
                    scope(sink, &host)?;
                    if done.oid.is_none() {
                        tally.apart("NVT-less result");
                        return Ok(());
                    }
                    tally.read += 1;
                    match finding(done, record.clone()) {
                        Ok(f) => sink.finding(f)?,
                        Err(reason) => tally.reject(record, reason),
                    }
                }
            }
            return Ok(());
        }
        match node {
            Node::Start("result", _) => {
                current = Some(Result {
                    index: results,
                    ..Result::default()
                });
                results += 1;
            }
            Node::Start("host", _) => summary_host = true,
            Node::End("host", _) => summary_host = false,
            // The report's host summaries: a host scanned with nothing found is still a scope.
            Node::End("ip", text) if summary_host => scope(sink, text)?,
            _ => {}
        }
        Ok(())
    });
    match walked {
        Ok(()) => Ok(tally),
        Err(VulnError::Format { reason, .. }) => {
            tally.reject("(file)", reason);
            Ok(tally)
        }
        Err(e) => Err(e),
    }
}

fn finding(result: Result, record: String) -> std::result::Result<Finding, String> {
    let text = |key: &str| {
        result
            .text
            .get(key)
            .map(String::as_str)
            .filter(|s| !s.is_empty())
    };
    let oid = result.oid.clone().ok_or("no NVT oid")?;
    let address = text("host").ok_or("no host")?.to_string();
    let hostname = text("host/hostname").map(str::to_string);
    let score = text("severity").and_then(|s| s.parse::<f64>().ok());
    let severity = match text("threat") {
        Some("Log") => Severity::None,
        _ => score.map_or_else(
            || text("threat").map_or(Severity::Unknown, Severity::parse),
            Severity::from_score,
        ),
    };
    let mut cvss = Vec::new();
    for (kind, vector) in &result.vectors {
        let version = if kind.contains("v3") {
            None
        } else if kind.contains("v4") {
            Some(CvssVersion::V40)
        } else {
            Some(CvssVersion::V2)
        };
        cvss.extend(CvssScore::new("openvas", version, Some(vector), None));
    }
    if cvss.is_empty() {
        cvss.extend(CvssScore::new(
            "openvas",
            Some(CvssVersion::V2),
            None,
            text("nvt/cvss_base").and_then(|s| s.parse().ok()),
        ));
    }
    let tags: BTreeMap<&str, &str> = text("nvt/tags")
        .unwrap_or("")
        .split('|')
        .filter_map(|pair| pair.split_once('='))
        .collect();
    let mut description = text("description").unwrap_or("").to_string();
    for key in ["summary", "insight", "impact", "affected"] {
        if let Some(value) = tags.get(key).filter(|v| !v.trim().is_empty()) {
            if !description.is_empty() {
                description.push_str("\n\n");
            }
            description.push_str(value.trim());
        }
    }
    if let Some(solution) = tags.get("solution").filter(|v| !v.trim().is_empty()) {
        description.push_str("\n\nSolution: ");
        description.push_str(solution.trim());
    }
    let mut aliases: Vec<String> = result
        .refs
        .iter()
        .filter(|(kind, _)| kind.eq_ignore_ascii_case("cve"))
        .map(|(_, id)| id.clone())
        .collect();
    aliases.sort();
    aliases.dedup();
    let references = result
        .refs
        .iter()
        .filter(|(kind, _)| kind.eq_ignore_ascii_case("url"))
        .map(|(_, id)| id.clone())
        .collect();
    let cwes = result
        .refs
        .iter()
        .filter(|(kind, _)| kind.eq_ignore_ascii_case("cwe"))
        .map(|(_, id)| id.clone())
        .collect();
    Ok(Finding {
        kind: FindingKind::Vulnerability,
        tool: TOOL.to_string(),
        scope: address.clone(),
        asset: Asset {
            kind: AssetKind::Host,
            name: hostname.unwrap_or_else(|| address.clone()),
            address: Some(address),
        },
        title: text("nvt/name")
            .or_else(|| text("name"))
            .unwrap_or(&oid)
            .to_string(),
        id: oid,
        aliases,
        package: None,
        location: text("port").map(str::to_string),
        fixed_version: None,
        fix_state: match tags.get("solution_type").map(|s| s.trim()) {
            Some("VendorFix") => FixState::Fixed,
            Some("WillNotFix") => FixState::WillNotFix,
            Some("NoneAvailable") => FixState::Affected,
            _ => FixState::Unknown,
        },
        severity,
        cvss,
        cwes,
        description,
        references,
        exploitation: Exploitation::default(),
        published: None,
        tool_key: None,
        record,
    })
}
