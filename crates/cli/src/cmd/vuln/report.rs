//! `vuln sla` (where the findings stand against their deadlines, per severity and per owner) and
//! `vuln report` (the same with the top risks and the burn-down, as Markdown or one HTML page).

use std::fmt::Write as _;
use std::path::PathBuf;

use secops_service::{Actor, Clock};
use secops_store::Store;
use secops_vuln::assets::AssetIndex;
use secops_vuln::report::{self, Report};

use crate::output::cell;
use crate::Outcome;

const DAY: i64 = 86_400 * 1_000_000_000;

pub fn sla(
    store: &mut Store,
    assets: Option<&AssetIndex>,
    raise: bool,
    actor: &Actor,
    clock: &dyn Clock,
) -> anyhow::Result<Outcome> {
    let r = secops_service::vuln_report::report(store, assets, 0, 1, actor, clock)?;
    print!("{}", sla_text(&r));
    if raise {
        let b = secops_service::vulns::raise_breaches(store, actor, clock)?;
        println!(
            "{} finding(s) past their deadline: {} alert(s) raised ({}), {} raised before",
            b.overdue,
            b.raised,
            secops_service::vulns::BREACH_RULE,
            b.known
        );
    }
    Ok(Outcome::Clean)
}

fn days(nanos: Option<i64>) -> String {
    nanos.map_or("-".into(), |n| format!("{:.1}d", n as f64 / DAY as f64))
}

fn sla_text(r: &Report) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<9} {:>6} {:>8} {:>8} {:>9} {:>9} {:>7} {:>9} {:>9}",
        "SEVERITY", "OPEN", "OVERDUE", "DUE 7D", "ACCEPTED", "IN TIME", "LATE", "MEDIAN", "P90"
    );
    for l in &r.severities {
        let _ = writeln!(
            out,
            "{:<9} {:>6} {:>8} {:>8} {:>9} {:>9} {:>7} {:>9} {:>9}",
            l.severity,
            l.open,
            l.overdue,
            l.due_soon,
            l.accepted,
            l.closed_in_time,
            l.closed_late,
            days(l.remediation.median),
            days(l.remediation.p90)
        );
    }
    let (open, overdue, soon, accepted) = r.totals();
    let _ = writeln!(
        out,
        "{open} open, {overdue} overdue, {soon} due within 7 days, {accepted} accepted; \
         MEDIAN and P90: first detection to remediation"
    );
    if !r.owners.is_empty() {
        let _ = writeln!(
            out,
            "\n{} {:>6} {:>8} {:>7} {:>15}",
            cell("OWNER", 32),
            "OPEN",
            "OVERDUE",
            "IN KEV",
            "OLDEST OVERDUE"
        );
        for o in &r.owners {
            let _ = writeln!(
                out,
                "{} {:>6} {:>8} {:>7} {:>15}",
                cell(&o.owner, 32),
                o.open,
                o.overdue,
                o.kev,
                if o.overdue > 0 {
                    format!("{}d", o.oldest_days)
                } else {
                    "-".into()
                }
            );
        }
    }
    out
}

#[allow(clippy::too_many_arguments)]
pub fn report(
    store: &mut Store,
    assets: Option<&AssetIndex>,
    format: &str,
    out: Option<PathBuf>,
    top: u32,
    days: i64,
    actor: &Actor,
    clock: &dyn Clock,
) -> anyhow::Result<Outcome> {
    let r = secops_service::vuln_report::report(store, assets, top, days, actor, clock)?;
    let text = match format {
        "html" => report::html(&r),
        _ => report::markdown(&r),
    };
    match out {
        Some(path) => {
            std::fs::write(&path, text)?;
            println!("wrote {}", crate::output::safe(&path.display().to_string()));
        }
        None => print!("{text}"),
    }
    Ok(Outcome::Clean)
}
