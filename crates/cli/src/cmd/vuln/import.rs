//! `vuln import` and `vuln refresh`: a summary per file or catalog, every rejected entry named with
//! where it was and why, and the import's totals last.

use std::fmt::Write as _;
use std::path::PathBuf;

use anyhow::Context;
use secops_service::vulns::{self, FileImport, ImportOptions, VulnPolicy};
use secops_service::{Actor, Clock};
use secops_store::Store;
use secops_vuln::assets::AssetIndex;
use secops_vuln::Format;

use crate::output::safe;
use crate::progress::InputsBar;
use crate::Outcome;

pub struct Request<'a> {
    pub files: Vec<PathBuf>,
    pub format: Option<String>,
    pub target: Option<String>,
    pub assets: Option<&'a AssetIndex>,
    pub policy: VulnPolicy,
}

pub fn import(
    store: &mut Store,
    request: Request<'_>,
    actor: &Actor,
    clock: &dyn Clock,
) -> anyhow::Result<Outcome> {
    let format = request
        .format
        .as_deref()
        .map(|f| {
            Format::parse(f).with_context(|| {
                format!("--format {f:?}: use trivy, grype, sarif, osv-scanner, nessus or openvas")
            })
        })
        .transpose()?;
    let options = ImportOptions {
        files: request.files,
        format,
        target: request.target,
        assets: request.assets,
        policy: request.policy,
    };
    let report = vulns::import(store, &options, actor, clock, &InputsBar::new())?;
    let mut out = String::new();
    for file in &report.files {
        out.push_str(&summary(file));
    }
    let totals = report.totals();
    let failed = report.files.iter().filter(|f| f.error.is_some()).count();
    let vex_rejected: u64 = report
        .files
        .iter()
        .filter(|f| f.vex.is_some())
        .map(|f| f.rejected())
        .sum();
    if report.files.len() > 1 || totals.reopened > 0 || report.closed() > 0 {
        let _ = writeln!(
            out,
            "{} file(s){}: {} finding(s) closed as gone from their scans, {} reopened",
            report.files.len(),
            if failed > 0 {
                format!(" ({failed} not read)")
            } else {
                String::new()
            },
            report.closed(),
            totals.reopened
        );
    }
    let _ = writeln!(
        out,
        "{} findings read, {} new, {} merged, {} rejected",
        totals.read, totals.new, totals.merged, totals.rejected
    );
    print!("{out}");
    Ok(if totals.rejected > 0 || failed > 0 || vex_rejected > 0 {
        Outcome::Rejections
    } else {
        Outcome::Clean
    })
}

/// One file's lines: what it was, its counts, what was kept apart, each rejection.
fn summary(file: &FileImport) -> String {
    let mut out = String::new();
    let name = safe(&file.file);
    if let Some(error) = &file.error {
        let _ = writeln!(out, "{name}: not imported: {}", safe(error));
        return out;
    }
    if let Some(vex) = &file.vex {
        let _ = writeln!(
            out,
            "{name} (vex): {} statement(s), {} not affected, {} finding(s) marked not affected, {} rejected",
            vex.statements,
            vex.not_affected,
            vex.marked,
            file.rejected()
        );
        for r in &file.tally.rejected {
            let _ = writeln!(out, "  rejected {}: {}", safe(&r.record), safe(&r.reason));
        }
        return out;
    }
    let format = file.tally.format.map_or("?", Format::as_str);
    let _ = writeln!(
        out,
        "{name} ({format}): {} read, {} new, {} merged, {} rejected",
        file.tally.read,
        file.new,
        file.merged,
        file.rejected()
    );
    let scopes: Vec<String> = file
        .scopes
        .iter()
        .map(|(tool, scope)| format!("{} {}", safe(tool), safe(scope)))
        .collect();
    if !scopes.is_empty() {
        let shown = scopes
            .iter()
            .take(5)
            .cloned()
            .collect::<Vec<_>>()
            .join(", ");
        let more = scopes.len().saturating_sub(5);
        let _ = writeln!(
            out,
            "  scanned: {shown}{}",
            if more > 0 {
                format!(" and {more} more")
            } else {
                String::new()
            }
        );
    }
    if !file.tally.apart.is_empty() {
        let apart: Vec<String> = file
            .tally
            .apart
            .iter()
            .map(|(what, n)| {
                let kept = match what.as_str() {
                    "misconfiguration" | "secret" => "kept as findings of their kind",
                    _ => "counted, not kept",
                };
                let plural = if *n == 1 { "" } else { "s" };
                format!("{n} {what}{plural} ({kept})")
            })
            .collect();
        let _ = writeln!(out, "  beside the vulnerabilities: {}", apart.join(", "));
    }
    if file.closed > 0 || file.reopened > 0 {
        let _ = writeln!(
            out,
            "  {} closed as gone from the scan, {} reopened",
            file.closed, file.reopened
        );
    }
    if file.closing_skipped {
        let _ = writeln!(
            out,
            "  nothing closed: with entries rejected, a finding missing from the report may be one \
             of them"
        );
    }
    for r in &file.tally.rejected {
        let _ = writeln!(out, "  rejected {}: {}", safe(&r.record), safe(&r.reason));
    }
    out
}

pub fn refresh(
    store: &mut Store,
    sources: &[String],
    assets: Option<&AssetIndex>,
    policy: &VulnPolicy,
    clock: &dyn Clock,
) -> anyhow::Result<Outcome> {
    let mut rejected = 0;
    for source in sources {
        let r = secops_service::vuln_refresh::refresh(store, source, assets, policy, clock)?;
        let version = r
            .version
            .as_deref()
            .map(|v| format!(" ({})", safe(v)))
            .unwrap_or_default();
        let new = if r.new > 0 {
            format!(", {} new", r.new)
        } else {
            String::new()
        };
        println!(
            "{}: {}{version}: {} loaded{new}, {} rejected; {} open finding(s) prioritised again",
            safe(source),
            r.catalog.as_str(),
            r.entries,
            r.rejected.len(),
            r.reprioritised
        );
        for note in &r.notes {
            println!("  {}", safe(note));
        }
        for x in &r.rejected {
            println!("  rejected {}: {}", safe(&x.record), safe(&x.reason));
        }
        rejected += r.rejected.len();
    }
    Ok(if rejected > 0 {
        Outcome::Rejections
    } else {
        Outcome::Clean
    })
}
