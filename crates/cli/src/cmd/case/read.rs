//! Reading cases: the list, one case whole, its report, and the response-time metrics.

use std::fmt::Write as _;
use std::path::PathBuf;

use anyhow::Context;
use secops_case::metrics::{self, human, Stat};
use secops_case::report;
use secops_store::{CaseFilter, Store};

use crate::output::{safe, time};

pub fn list(store: &mut Store, state: Option<String>, open: bool) -> anyhow::Result<()> {
    let cases = store.cases(&CaseFilter {
        state,
        open_only: open,
        ..CaseFilter::default()
    })?;
    println!(
        "{:>5}  {:<14}  {:<8}  {:<12}  {:<20}  TITLE",
        "CASE", "STATE", "SEVERITY", "ASSIGNEE", "OPENED"
    );
    for c in &cases {
        println!(
            "{:>5}  {:<14}  {:<8}  {:<12}  {:<20}  {}",
            c.number,
            c.state,
            c.severity,
            safe(c.assignee.as_deref().unwrap_or("-")),
            time(c.created_at),
            safe(&c.title)
        );
    }
    eprintln!("{} case(s)", cases.len());
    Ok(())
}

/// The case report, Markdown or printable HTML, on standard output or into a file.
pub fn report(
    store: &mut Store,
    number: i64,
    format: &str,
    out: Option<PathBuf>,
) -> anyhow::Result<()> {
    let file = secops_service::cases::file(store, number)?;
    let text = if format == "html" {
        report::html(&file)
    } else {
        report::markdown(&file)
    };
    match out {
        Some(path) => {
            std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
            eprintln!("wrote {}", path.display());
        }
        None => print!("{text}"),
    }
    Ok(())
}

pub fn metrics(store: &mut Store, format: &str) -> anyhow::Result<()> {
    let rows = secops_service::cases::metrics(store)?;
    print!("{}", render_metrics(&rows, format));
    Ok(())
}

pub fn show(store: &mut Store, number: i64) -> anyhow::Result<String> {
    let file = secops_service::cases::file(store, number)?;
    let c = &file.case;
    let mut out = String::new();
    writeln!(out, "case {}: {}", c.number, safe(&c.title))?;
    writeln!(
        out,
        "  state {}  severity {}  TLP:{}  PAP:{}  assignee {}  playbook {}",
        c.state,
        c.severity,
        c.tlp.to_uppercase(),
        c.pap.to_uppercase(),
        safe(c.assignee.as_deref().unwrap_or("-")),
        safe(c.playbook.as_deref().unwrap_or("-"))
    )?;
    if let Some(r) = &c.resolution {
        writeln!(out, "  resolution {}", safe(r))?;
    }
    let risk = file.risk();
    if !risk.is_empty() {
        writeln!(out, "\nrisk (the highest its alerts were raised with):")?;
        for r in &risk {
            writeln!(
                out,
                "  {:<5} {:<30} {:>6}  {}",
                r.kind,
                safe(&r.id),
                r.score,
                r.level
            )?;
        }
    }
    writeln!(out, "\ntasks:")?;
    for t in &file.tasks {
        writeln!(
            out,
            "  {:>4}  {:<11}  {:<15}  {}",
            t.id,
            t.status,
            safe(&t.group),
            safe(&t.title)
        )?;
    }
    writeln!(out, "\nobservables:")?;
    for o in &file.observables {
        writeln!(
            out,
            "  {:<15}  {}{}",
            o.kind,
            safe(&o.value),
            if o.is_ioc { "  (IoC)" } else { "" }
        )?;
    }
    writeln!(out, "\ntimeline:")?;
    for t in &file.timeline {
        writeln!(
            out,
            "  {}  {}  {}",
            time(t.at),
            safe(t.technique.as_deref().unwrap_or("-")),
            safe(&t.title)
        )?;
    }
    if !file.evidence.is_empty() {
        writeln!(out, "\nevidence:")?;
        for record in &file.evidence {
            let (id, e) = (record.id, &record.evidence);
            // The file is checked against the digest taken when it was attached.
            let check =
                match secops_service::hunt_evidence::file_sha256(std::path::Path::new(&e.path)) {
                    Ok(now) if now == e.sha256 => "",
                    Ok(_) => "  CHANGED since it was attached",
                    Err(_) => "  MISSING",
                };
            writeln!(
                out,
                "  {id:>4}  {}  {} row(s)  {}  {} (SHA-256 {}){check}",
                e.kind,
                e.rows,
                safe(&e.title),
                safe(&e.path),
                e.sha256
            )?;
        }
    }
    writeln!(
        out,
        "\nalerts: {}",
        file.alerts
            .iter()
            .map(|a| a.id.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    )?;
    writeln!(out, "\nlog:")?;
    for e in &file.events {
        write!(out, "  {}  {:<10}  {}", time(e.at), safe(&e.actor), e.kind)?;
        if let (Some(before), Some(after)) = (&e.before, &e.after) {
            write!(out, "  {} -> {}", safe(before), safe(after))?;
        } else if let Some(after) = &e.after {
            write!(out, "  {}", safe(after))?;
        }
        writeln!(out)?;
    }
    Ok(out)
}

fn render_metrics(rows: &[(String, metrics::Summary)], format: &str) -> String {
    let stat_json = |s: &Stat| serde_json::json!({"n": s.n, "median_seconds": s.median.map(|v| v / 1_000_000_000), "p90_seconds": s.p90.map(|v| v / 1_000_000_000)});
    if format == "json" {
        let doc: serde_json::Map<String, serde_json::Value> = rows
            .iter()
            .map(|(name, s)| {
                (
                    name.clone(),
                    serde_json::json!({
                        "cases": s.cases,
                        "mttd": stat_json(&s.detect),
                        "mtta": stat_json(&s.acknowledge),
                        "mttc": stat_json(&s.contain),
                        "mttr": stat_json(&s.resolve),
                    }),
                )
            })
            .collect();
        return format!("{}\n", serde_json::Value::Object(doc));
    }
    let cell = |s: &Stat| match (s.median, s.p90) {
        (Some(m), Some(p)) => format!("{} / {} ({})", human(m), human(p), s.n),
        _ => "-".into(),
    };
    let mut out = format!(
        "{:<34} {:>5}  {:<22} {:<22} {:<22} {:<22}\n",
        "CASES (median / p90 (n))", "N", "MTTD", "MTTA", "MTTC", "MTTR"
    );
    for (name, s) in rows {
        let _ = writeln!(
            out,
            "{:<34} {:>5}  {:<22} {:<22} {:<22} {:<22}",
            name,
            s.cases,
            cell(&s.detect),
            cell(&s.acknowledge),
            cell(&s.contain),
            cell(&s.resolve)
        );
    }
    out
}
