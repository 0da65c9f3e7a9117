//! The vulnerability report in Markdown and as one self-contained HTML page: where the findings
//! stand against their SLA (per severity: open, overdue, due within a week, accepted, time to
//! remediate as median and 90th percentile), overdue findings by owner, the top risks, and the open
//! findings over time as a burn-down chart. Report text comes from scanners and logs: every value is
//! escaped for where it is shown.

use std::fmt::Write as _;

use secops_event::escape::{html as h, markdown as md, markdown_cell as cell};
use secops_event::Timestamp;

const DAY: i64 = 86_400 * 1_000_000_000;

/// Count, median and 90th percentile of durations (nanoseconds).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Durations {
    pub n: usize,
    pub median: Option<i64>,
    pub p90: Option<i64>,
}

/// One severity's standing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SeverityLine {
    pub severity: String,
    pub open: u64,
    pub overdue: u64,
    /// Open, due within the next seven days.
    pub due_soon: u64,
    pub accepted: u64,
    /// Closed (fixed, mitigated, gone from scans) by their deadline, and after it.
    pub closed_in_time: u64,
    pub closed_late: u64,
    /// First detection to closing.
    pub remediation: Durations,
}

/// One owner's open and overdue findings (the inventory's owner of the asset).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OwnerLine {
    pub owner: String,
    pub open: u64,
    pub overdue: u64,
    pub kev: u64,
    /// Days the oldest of their overdue findings is late.
    pub oldest_days: i64,
}

/// A finding among the top risks.
#[derive(Debug, Clone, PartialEq)]
pub struct TopRow {
    pub id: i64,
    pub risk: f64,
    pub severity: String,
    pub kev: bool,
    pub epss: Option<f64>,
    pub due: Option<i64>,
    pub asset: String,
    pub vuln: String,
    pub package: String,
    pub title: String,
}

/// Open findings at the end of a day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BurnPoint {
    pub day: i64,
    pub open: i64,
}

/// Everything the report shows.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Report {
    pub generated: i64,
    pub severities: Vec<SeverityLine>,
    pub owners: Vec<OwnerLine>,
    pub top: Vec<TopRow>,
    pub burn: Vec<BurnPoint>,
}

fn day(nanos: i64) -> String {
    Timestamp::from_unix_nanos(nanos).to_seconds()[..10].to_string()
}

fn days(nanos: Option<i64>) -> String {
    nanos.map_or("-".into(), |n| format!("{:.1} d", n as f64 / DAY as f64))
}

impl Report {
    /// Totals over the severities: open, overdue, due soon, accepted.
    pub fn totals(&self) -> (u64, u64, u64, u64) {
        self.severities.iter().fold((0, 0, 0, 0), |t, l| {
            (
                t.0 + l.open,
                t.1 + l.overdue,
                t.2 + l.due_soon,
                t.3 + l.accepted,
            )
        })
    }

    fn sla_rows(&self) -> Vec<Vec<String>> {
        self.severities
            .iter()
            .map(|l| {
                vec![
                    l.severity.clone(),
                    l.open.to_string(),
                    l.overdue.to_string(),
                    l.due_soon.to_string(),
                    l.accepted.to_string(),
                    format!("{} / {}", l.closed_in_time, l.closed_late),
                    days(l.remediation.median),
                    days(l.remediation.p90),
                ]
            })
            .collect()
    }

    fn owner_rows(&self) -> Vec<Vec<String>> {
        self.owners
            .iter()
            .map(|o| {
                vec![
                    o.owner.clone(),
                    o.open.to_string(),
                    o.overdue.to_string(),
                    o.kev.to_string(),
                    if o.overdue > 0 {
                        format!("{} d", o.oldest_days)
                    } else {
                        "-".into()
                    },
                ]
            })
            .collect()
    }

    fn top_rows(&self) -> Vec<Vec<String>> {
        self.top
            .iter()
            .map(|t| {
                vec![
                    t.id.to_string(),
                    format!("{:.2}", t.risk),
                    t.severity.clone(),
                    if t.kev { "yes".into() } else { "-".into() },
                    t.epss.map_or("-".into(), |e| format!("{e:.4}")),
                    t.due.map_or("-".into(), day),
                    t.asset.clone(),
                    t.vuln.clone(),
                    t.package.clone(),
                    t.title.clone(),
                ]
            })
            .collect()
    }
}

const SLA_HEADERS: [&str; 8] = [
    "severity",
    "open",
    "overdue",
    "due in 7 days",
    "accepted",
    "closed in time / late",
    "median to fix",
    "p90 to fix",
];
const OWNER_HEADERS: [&str; 5] = ["owner", "open", "overdue", "in KEV", "oldest overdue"];
const TOP_HEADERS: [&str; 10] = [
    "id", "risk", "severity", "KEV", "EPSS", "due", "asset", "finding", "package", "title",
];

/// The report in Markdown.
pub fn markdown(report: &Report) -> String {
    let mut out = String::new();
    let (open, overdue, soon, accepted) = report.totals();
    let _ = writeln!(out, "# Vulnerability report, {}\n", day(report.generated));
    let _ = writeln!(
        out,
        "{open} open findings, {overdue} overdue, {soon} due within 7 days, {accepted} accepted.\n"
    );
    let _ = writeln!(out, "## Against the SLA\n");
    md_table(&mut out, &SLA_HEADERS, report.sla_rows());
    let _ = writeln!(out, "\n## Overdue by owner\n");
    md_table(&mut out, &OWNER_HEADERS, report.owner_rows());
    let _ = writeln!(out, "\n## Top risks\n");
    md_table(&mut out, &TOP_HEADERS, report.top_rows());
    let _ = writeln!(out, "\n## Open findings over time\n");
    if report.burn.is_empty() {
        out.push_str("No history yet.\n");
    } else {
        md_table(
            &mut out,
            &["day", "open"],
            burn_samples(&report.burn)
                .iter()
                .map(|p| vec![day(p.day), p.open.to_string()])
                .collect(),
        );
    }
    out
}

/// At most about twelve points of the burn-down for a table: the first, the last, evenly between.
fn burn_samples(burn: &[BurnPoint]) -> Vec<BurnPoint> {
    let every = burn.len().div_ceil(12).max(1);
    let mut out: Vec<BurnPoint> = burn.iter().step_by(every).copied().collect();
    if let (Some(last), Some(shown)) = (burn.last(), out.last()) {
        if last != shown {
            out.push(*last);
        }
    }
    out
}

fn md_table(out: &mut String, headers: &[&str], rows: Vec<Vec<String>>) {
    if rows.is_empty() {
        out.push_str(&md("(none)"));
        out.push('\n');
        return;
    }
    let _ = writeln!(out, "| {} |", headers.join(" | "));
    let _ = writeln!(out, "|{}", " --- |".repeat(headers.len()));
    for row in rows {
        let cells: Vec<String> = row.iter().map(|c| cell(c)).collect();
        let _ = writeln!(out, "| {} |", cells.join(" | "));
    }
}

const STYLE: &str = "body{font:14px/1.45 system-ui,sans-serif;margin:2em auto;max-width:1100px;color:#1d2330}\
table{border-collapse:collapse;margin:.5em 0 1.5em}td,th{border:1px solid #d5d9e0;padding:3px 8px;text-align:left}\
th{background:#f3f5f8}.chart text{font-size:11px;fill:#555}.lead{font-size:16px}";

/// The report as one HTML page (no script, no external resource).
pub fn html(report: &Report) -> String {
    let mut out = String::new();
    let (open, overdue, soon, accepted) = report.totals();
    let when = day(report.generated);
    let _ = write!(
        out,
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Vulnerability report {when}</title><style>{STYLE}</style></head><body>\n"
    );
    let _ = writeln!(out, "<h1>Vulnerability report, {when}</h1>");
    let _ = writeln!(
        out,
        "<p class=\"lead\">{open} open findings, <strong>{overdue} overdue</strong>, {soon} due within 7 days, {accepted} accepted.</p>"
    );
    out.push_str("<h2>Open findings over time</h2>\n");
    out.push_str(&chart(&report.burn));
    out.push_str("<h2>Against the SLA</h2>\n");
    html_table(&mut out, &SLA_HEADERS, report.sla_rows());
    out.push_str("<h2>Overdue by owner</h2>\n");
    html_table(&mut out, &OWNER_HEADERS, report.owner_rows());
    out.push_str("<h2>Top risks</h2>\n");
    html_table(&mut out, &TOP_HEADERS, report.top_rows());
    out.push_str("</body></html>\n");
    out
}

fn html_table(out: &mut String, headers: &[&str], rows: Vec<Vec<String>>) {
    if rows.is_empty() {
        out.push_str("<p>(none)</p>\n");
        return;
    }
    out.push_str("<table><thead><tr>");
    for header in headers {
        let _ = write!(out, "<th>{}</th>", h(header));
    }
    out.push_str("</tr></thead><tbody>\n");
    for row in rows {
        out.push_str("<tr>");
        for c in row {
            let _ = write!(out, "<td>{}</td>", h(&c));
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</tbody></table>\n");
}

/// The open findings per day as an SVG area chart, 960 by 240, with the first, middle and last day
/// and the highest count labelled.
pub fn chart(burn: &[BurnPoint]) -> String {
    const WIDTH: f64 = 960.0;
    const PLOT: f64 = 200.0;
    const LEFT: f64 = 48.0;
    if burn.is_empty() {
        return "<p>No history yet.</p>\n".into();
    }
    let most = burn.iter().map(|p| p.open).max().unwrap_or(0).max(1) as f64;
    let step = if burn.len() > 1 {
        (WIDTH - LEFT - 8.0) / (burn.len() - 1) as f64
    } else {
        0.0
    };
    let point = |i: usize, open: i64| {
        (
            LEFT + step * i as f64,
            10.0 + PLOT - open as f64 / most * PLOT,
        )
    };
    let mut line = String::new();
    for (i, p) in burn.iter().enumerate() {
        let (x, y) = point(i, p.open);
        let _ = write!(line, "{}{x:.1},{y:.1}", if i == 0 { "M" } else { " L" });
    }
    let (last_x, _) = point(burn.len() - 1, 0);
    let area = format!(
        "{line} L{last_x:.1},{:.1} L{LEFT:.1},{:.1} Z",
        10.0 + PLOT,
        10.0 + PLOT
    );
    let mut out = format!(
        "<svg class=\"chart\" role=\"img\" aria-label=\"open findings per day\" width=\"{WIDTH}\" height=\"{}\" viewBox=\"0 0 {WIDTH} {}\" xmlns=\"http://www.w3.org/2000/svg\">\n",
        PLOT + 40.0,
        PLOT + 40.0
    );
    let _ = writeln!(
        out,
        "<line x1=\"{LEFT}\" y1=\"{:.1}\" x2=\"{WIDTH}\" y2=\"{:.1}\" stroke=\"#999\"/>",
        10.0 + PLOT,
        10.0 + PLOT
    );
    let _ = writeln!(out, "<path d=\"{area}\" fill=\"#c9d8f0\"/>");
    let _ = writeln!(
        out,
        "<path d=\"{line}\" fill=\"none\" stroke=\"#2f5fb3\" stroke-width=\"2\"/>"
    );
    let _ = writeln!(
        out,
        "<text x=\"4\" y=\"16\">{}</text><text x=\"4\" y=\"{:.1}\">0</text>",
        most as i64,
        10.0 + PLOT
    );
    let mut ticks = vec![0, burn.len() / 2, burn.len() - 1];
    ticks.dedup();
    for i in ticks {
        let (x, _) = point(i, 0);
        let anchor = if i == 0 {
            "start"
        } else if i + 1 == burn.len() {
            "end"
        } else {
            "middle"
        };
        let _ = writeln!(
            out,
            "<text x=\"{x:.1}\" y=\"{:.1}\" text-anchor=\"{anchor}\">{}</text>",
            PLOT + 30.0,
            day(burn[i].day)
        );
    }
    for (i, p) in burn.iter().enumerate() {
        let (x, y) = point(i, p.open);
        let _ = writeln!(
            out,
            "<circle cx=\"{x:.1}\" cy=\"{y:.1}\" r=\"2\" fill=\"#2f5fb3\"><title>{}: {} open</title></circle>",
            day(p.day),
            p.open
        );
    }
    out.push_str("</svg>\n");
    out
}
