//! `vuln list`, `show`, `accept`, `close`: the queue as a table, JSON lines or CSV; one finding
//! with the inputs of its priority; risk accepted or findings closed, each answered per finding.

use std::fmt::Write as _;

use anyhow::Context;
use secops_service::vulns::{self, FindingDetail};
use secops_service::{Actor, Clock};
use secops_store::{FindingFilter, FindingRecord, Store};
use serde_json::json;

use crate::output::{cell, clip, safe, time};
use crate::Outcome;

const DAY: i64 = 86_400 * 1_000_000_000;

#[derive(Debug, clap::Args)]
pub struct ListArgs {
    /// open, accepted, mitigated, false_positive, not_affected, or all (repeatable; default open).
    #[arg(long)]
    status: Vec<String>,
    /// critical, high, medium, low, none, unknown (repeatable).
    #[arg(long)]
    severity: Vec<String>,
    /// vulnerability, malicious, misconfiguration, secret, weakness (repeatable).
    #[arg(long)]
    kind: Vec<String>,
    /// Findings on this asset (its name or address).
    #[arg(long)]
    asset: Option<String>,
    /// Findings a tool reported (`trivy`, `grype`, `nessus`, `sarif:gitleaks`).
    #[arg(long)]
    tool: Option<String>,
    /// Findings naming this id (CVE, GHSA, plugin).
    #[arg(long)]
    id: Option<String>,
    /// Only those in CISA's KEV catalog.
    #[arg(long)]
    kev: bool,
    /// Only those past their deadline, earliest first.
    #[arg(long)]
    overdue: bool,
    /// Order by deadline instead of risk.
    #[arg(long = "by-due")]
    by_due: bool,
    /// How many (default 50 for the table, all for jsonl and csv).
    #[arg(long)]
    limit: Option<u32>,
    #[arg(long, default_value = "table", value_parser = ["table", "jsonl", "csv"])]
    output: String,
}

pub fn list(
    store: &mut Store,
    args: &ListArgs,
    actor: &Actor,
    clock: &dyn Clock,
) -> anyhow::Result<Outcome> {
    let now = clock.now().unix_nanos();
    let statuses = if args.status.iter().any(|s| s == "all") {
        Vec::new()
    } else if args.status.is_empty() {
        vec!["open".to_string()]
    } else {
        args.status.clone()
    };
    let filter = FindingFilter {
        statuses,
        kinds: args.kind.clone(),
        severities: args.severity.clone(),
        asset: args.asset.clone(),
        tool: args.tool.clone(),
        vuln_id: args.id.clone(),
        in_kev: args.kev.then_some(true),
        due_before: args.overdue.then_some(now),
        by_due: args.by_due || args.overdue,
        ..FindingFilter::default()
    };
    if args.output == "table" {
        let findings = vulns::list(
            store,
            &FindingFilter {
                limit: Some(args.limit.unwrap_or(50)),
                ..filter
            },
            actor,
            clock,
        )?;
        print!("{}", table(&findings, now));
        return Ok(Outcome::Clean);
    }
    // Exports page through everything by id, in bounded memory.
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let mut csv = (args.output == "csv").then(|| csv::Writer::from_writer(Vec::new()));
    if let Some(w) = csv.as_mut() {
        w.write_record(CSV_COLUMNS)?;
    }
    let mut after = None;
    let mut left = args.limit.map(u64::from);
    loop {
        let page_size = left.map_or(2000, |l| l.min(2000)) as u32;
        if page_size == 0 {
            break;
        }
        let page = vulns::list(
            store,
            &FindingFilter {
                by_id: true,
                after_id: after,
                limit: Some(page_size),
                ..filter.clone()
            },
            actor,
            clock,
        )?;
        let Some(last) = page.last() else { break };
        after = Some(last.id);
        left = left.map(|l| l - page.len() as u64);
        use std::io::Write as _;
        for f in &page {
            match csv.as_mut() {
                Some(w) => w.write_record(csv_row(f))?,
                None => writeln!(out, "{}", json_line(f))?,
            }
        }
        if let Some(w) = csv.as_mut() {
            let bytes = std::mem::replace(w, csv::Writer::from_writer(Vec::new()))
                .into_inner()
                .context("writing CSV")?;
            out.write_all(&bytes)?;
        }
    }
    Ok(Outcome::Clean)
}

fn table(findings: &[FindingRecord], now: i64) -> String {
    let mut out = String::new();
    if findings.is_empty() {
        out.push_str("no findings\n");
        return out;
    }
    let _ = writeln!(
        out,
        "{:>6}  {:>6}  {:<8}  {:<3}  {:>6}  {:<11}  {}  {}  PACKAGE / LOCATION",
        "ID",
        "RISK",
        "SEVERITY",
        "KEV",
        "EPSS",
        "DUE",
        cell("ASSET", 28),
        cell("FINDING", 20),
    );
    for f in findings {
        let due = match f.due_at {
            Some(due) if due < now && f.status == "open" => format!("{}d late", (now - due) / DAY),
            Some(due) => time(due)[..10].to_string(),
            None => "-".into(),
        };
        let place = match (&f.package, &f.package_version, &f.location) {
            (Some(p), Some(v), _) => format!("{p} {v}"),
            (Some(p), None, _) => p.clone(),
            (None, _, Some(l)) => l.clone(),
            _ => "-".into(),
        };
        let _ = writeln!(
            out,
            "{:>6}  {:>6.2}  {:<8}  {:<3}  {:>6}  {:<11}  {}  {}  {}",
            f.id,
            f.priority.risk,
            f.severity,
            if f.priority.in_kev { "yes" } else { "-" },
            f.priority.epss.map_or("-".into(), |e| format!("{e:.4}")),
            due,
            cell(&f.asset_name, 28),
            cell(&f.primary_id, 20),
            clip(&place, 60)
        );
    }
    out
}

const CSV_COLUMNS: [&str; 20] = [
    "id",
    "kind",
    "primary_id",
    "vuln_id",
    "title",
    "severity",
    "status",
    "asset_kind",
    "asset",
    "address",
    "package",
    "version",
    "location",
    "tools",
    "risk",
    "vuln_risk",
    "epss",
    "in_kev",
    "timeline",
    "due_at",
];

fn csv_row(f: &FindingRecord) -> Vec<String> {
    let opt = |v: &Option<String>| v.clone().unwrap_or_default();
    vec![
        f.id.to_string(),
        f.kind.clone(),
        f.primary_id.clone(),
        f.vuln_id.clone(),
        f.title.clone(),
        f.severity.clone(),
        f.status.clone(),
        f.asset_kind.clone(),
        f.asset_name.clone(),
        opt(&f.asset_address),
        opt(&f.package),
        opt(&f.package_version),
        opt(&f.location),
        f.tools.join(" "),
        format!("{:.2}", f.priority.risk),
        format!("{}", f.priority.vuln_risk),
        f.priority.epss.map(|e| e.to_string()).unwrap_or_default(),
        f.priority.in_kev.to_string(),
        opt(&f.priority.timeline),
        f.due_at.map(time).unwrap_or_default(),
    ]
    .into_iter()
    // A spreadsheet runs a cell that starts with `=`, `+`, `-` or `@`: such text is quoted.
    .map(|v| {
        if v.starts_with(['=', '+', '-', '@']) && v.parse::<f64>().is_err() {
            format!("'{v}")
        } else {
            v
        }
    })
    .collect()
}

fn json_line(f: &FindingRecord) -> String {
    json!({
        "id": f.id,
        "kind": f.kind,
        "primary_id": f.primary_id,
        "vuln_id": f.vuln_id,
        "title": f.title,
        "severity": f.severity,
        "fix_state": f.fix_state,
        "status": f.status,
        "resolution": f.resolution,
        "asset": {"kind": f.asset_kind, "name": f.asset_name, "address": f.asset_address},
        "package": f.package,
        "version": f.package_version,
        "location": f.location,
        "tools": f.tools,
        "risk": f.priority.risk,
        "vuln_risk": f.priority.vuln_risk,
        "epss": f.priority.epss,
        "in_kev": f.priority.in_kev,
        "timeline": f.priority.timeline,
        "sla_days": f.priority.sla_days,
        "due_at": f.due_at.map(time),
        "first_seen": time(f.first_seen),
        "last_seen": time(f.last_seen),
        "closed_at": f.closed_at.map(time),
    })
    .to_string()
}

pub fn show(
    store: &mut Store,
    id: i64,
    actor: &Actor,
    clock: &dyn Clock,
) -> anyhow::Result<Outcome> {
    let detail = vulns::show(store, id, actor, clock)?;
    print!("{}", detail_text(&detail, clock.now().unix_nanos()));
    Ok(Outcome::Clean)
}

fn detail_text(d: &FindingDetail, now: i64) -> String {
    let f = &d.record;
    let mut out = String::new();
    let _ = writeln!(out, "finding {}: {} ({})", f.id, safe(&f.title), f.kind);
    let _ = writeln!(
        out,
        "  id:        {} (reported as {})",
        safe(&f.primary_id),
        safe(&f.vuln_id)
    );
    if let Some(finding) = &d.finding {
        if !finding.aliases.is_empty() {
            let _ = writeln!(out, "  aliases:   {}", safe(&finding.aliases.join(", ")));
        }
    }
    let _ = writeln!(
        out,
        "  asset:     {} {}{}",
        f.asset_kind,
        safe(&f.asset_name),
        f.asset_address
            .as_deref()
            .map(|a| format!(" ({})", safe(a)))
            .unwrap_or_default()
    );
    if let Some(p) = &f.package {
        let _ = writeln!(
            out,
            "  package:   {} {}",
            safe(p),
            safe(f.package_version.as_deref().unwrap_or(""))
        );
    }
    if let Some(l) = &f.location {
        let _ = writeln!(out, "  location:  {}", safe(l));
    }
    let fixed = d
        .finding
        .as_ref()
        .and_then(|x| x.fixed_version.clone())
        .map(|v| format!(", fixed in {}", safe(&v)))
        .unwrap_or_default();
    let _ = writeln!(out, "  fix:       {}{fixed}", f.fix_state);
    let _ = writeln!(
        out,
        "  status:    {}{}",
        f.status,
        f.resolution
            .as_deref()
            .map(|r| format!(" ({})", safe(r)))
            .unwrap_or_default()
    );
    let _ = writeln!(out, "  severity:  {}", f.severity);
    if let Some(case) = f.case_id {
        let _ = writeln!(out, "  case:      {case}");
    }
    if let Some(finding) = &d.finding {
        for s in &finding.cvss {
            let score = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.1}"));
            let _ = writeln!(
                out,
                "  cvss {}:  {} computed {}, reported {} ({}){}",
                s.version.as_str(),
                safe(s.vector.as_deref().unwrap_or("no vector")),
                score(s.computed),
                score(s.reported),
                safe(&s.source),
                s.problem
                    .as_deref()
                    .map(|p| format!(": {}", safe(p)))
                    .unwrap_or_default()
            );
        }
    }
    if let Some(p) = &d.priority {
        let _ = writeln!(
            out,
            "  risk:      {:.2} = vuln risk {:.4} x criticality {} x exposure {}",
            p.risk, p.vuln_risk, p.criticality_weight, p.exposure_weight
        );
        let _ = writeln!(out, "  vuln risk: {}", p.explain_risk());
        let decided = if p.ssvc.is_some() {
            p.explain_deadline()
        } else {
            "not decided (no CVSS v3 or v4 vector)".to_string()
        };
        let _ = writeln!(out, "  ssvc:      {decided}");
        let basis = p.basis.map_or("none", |b| b.as_str());
        let _ = writeln!(
            out,
            "  sla:       {} from {} ({basis}{})",
            p.sla_days.map_or("no days".into(), |d| format!("{d} days")),
            time(f.sla_start),
            if f.paused > 0 {
                format!(", paused {} days by acceptances", f.paused / DAY)
            } else {
                String::new()
            }
        );
    }
    let kev_due = f.due_at.is_some() && f.due_at == f.priority.kev_due;
    let due = match f.due_at {
        Some(due) if due < now && f.status == "open" => {
            format!("{} (overdue by {} days)", time(due), (now - due) / DAY)
        }
        Some(due) => time(due),
        None => "none".into(),
    };
    let due = if kev_due {
        format!("{due}, the KEV catalog's due date")
    } else {
        due
    };
    let _ = writeln!(out, "  due:       {due}");
    let _ = writeln!(
        out,
        "  seen:      {} to {}",
        time(f.first_seen),
        time(f.last_seen)
    );
    let _ = writeln!(out, "detections:");
    for det in &d.detections {
        let _ = writeln!(
            out,
            "  {} in {}: {} ({} to {}) at {}",
            safe(&det.tool),
            safe(&det.scope),
            if det.present { "present" } else { "gone" },
            time(det.first_seen),
            time(det.last_seen),
            safe(&det.record)
        );
    }
    for a in &d.acceptances {
        let _ = writeln!(
            out,
            "acceptance {}: owner {}, until {}{}: {}",
            a.id,
            safe(&a.owner),
            time(a.expires_at),
            a.ended_at
                .map(|e| format!(", ended {}", time(e)))
                .unwrap_or_default(),
            safe(&a.reason)
        );
    }
    let _ = writeln!(out, "history:");
    for e in &d.events {
        let _ = writeln!(
            out,
            "  {}  {}  {}{}",
            time(e.at),
            safe(&e.actor),
            e.kind,
            e.after
                .as_deref()
                .map(|a| format!(": {}", safe(a)))
                .unwrap_or_default()
        );
    }
    if let Some(finding) = &d.finding {
        let lines: Vec<&str> = finding
            .description
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect();
        if !lines.is_empty() {
            let _ = writeln!(out, "description:");
            let wrapped: Vec<String> = lines.iter().flat_map(|l| wrap(l, 100)).collect();
            for line in wrapped.iter().take(12) {
                let _ = writeln!(out, "  {}", clip(line, 120));
            }
            if wrapped.len() > 12 {
                let _ = writeln!(out, "  ({} more lines)", wrapped.len() - 12);
            }
        }
        if !finding.references.is_empty() {
            let _ = writeln!(out, "references:");
        }
        for r in finding.references.iter().take(10) {
            let _ = writeln!(out, "  {}", clip(r, 200));
        }
    }
    out
}

/// A line cut at spaces into pieces of at most `width` characters (a longer word stays whole).
fn wrap(line: &str, width: usize) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    for word in line.split_whitespace() {
        if !current.is_empty() && current.chars().count() + 1 + word.chars().count() > width {
            out.push(std::mem::take(&mut current));
        }
        if !current.is_empty() {
            current.push(' ');
        }
        current.push_str(word);
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

pub fn accept(
    store: &mut Store,
    ids: &[i64],
    owner: &str,
    reason: &str,
    until: &str,
    actor: &Actor,
    clock: &dyn Clock,
) -> anyhow::Result<Outcome> {
    let now = clock.now().unix_nanos();
    let expires = match until.strip_suffix('d').and_then(|d| d.parse::<i64>().ok()) {
        Some(days) => now + days * DAY,
        None => secops_vuln::parse_time(until)
            .with_context(|| format!("--until {until:?}: a date (YYYY-MM-DD) or days (30d)"))?,
    };
    let results = vulns::accept(store, ids, owner, reason, expires, actor, clock)?;
    answer(ids, results, &format!("accepted until {}", time(expires)))
}

pub fn close(
    store: &mut Store,
    ids: &[i64],
    resolution: &str,
    note: &str,
    actor: &Actor,
    clock: &dyn Clock,
) -> anyhow::Result<Outcome> {
    let results = vulns::close(store, ids, resolution, note, actor, clock)?;
    answer(ids, results, &format!("closed as {resolution}"))
}

fn answer(
    ids: &[i64],
    results: Vec<Result<FindingRecord, String>>,
    done: &str,
) -> anyhow::Result<Outcome> {
    let mut refused = 0;
    for (id, result) in ids.iter().zip(results) {
        match result {
            Ok(f) => println!("finding {id}: {done} ({})", safe(&f.title)),
            Err(e) => {
                refused += 1;
                println!("finding {id}: refused: {}", safe(&e));
            }
        }
    }
    Ok(if refused > 0 {
        Outcome::Failures
    } else {
        Outcome::Clean
    })
}
