//! The case report, for the people who were not there: summary, root cause and lessons learned, the
//! ATT&CK mapping, timeline, tasks, observables, alerts, notes and the change log; as Markdown or as a
//! self-contained printable HTML page. All case text is escaped for the format.

use std::fmt::Write as _;

use secops_alert::{AlertDocument, EntityRisk};
use secops_event::escape::{
    html as h, markdown as md, markdown_cell as cell, markdown_code_cell as code_cell,
};
use secops_store::{
    AlertFilter, AlertRecord, CaseRecord, CommentRecord, EventLine, ObservableRecord, Store,
    TaskRecord, TimelineRecord,
};

use crate::CaseError;

/// Everything the report shows.
#[derive(Debug, Clone)]
pub struct CaseFile {
    pub case: CaseRecord,
    pub alerts: Vec<AlertRecord>,
    pub tasks: Vec<TaskRecord>,
    pub observables: Vec<ObservableRecord>,
    pub timeline: Vec<TimelineRecord>,
    /// Evidence attached (a hunt's rows), with the file and its SHA-256.
    pub evidence: Vec<secops_store::EvidenceRecord>,
    pub comments: Vec<CommentRecord>,
    pub events: Vec<EventLine>,
}

impl CaseFile {
    pub fn load(store: &mut Store, number: i64) -> Result<CaseFile, CaseError> {
        let case = store.case(number)?;
        let ids = store.case_alert_ids(number)?;
        let mut alerts = if ids.is_empty() {
            Vec::new()
        } else {
            store.alerts(&AlertFilter {
                ids,
                ..AlertFilter::default()
            })?
        };
        alerts.sort_by_key(|a| (a.first_seen, a.id));
        Ok(CaseFile {
            alerts,
            tasks: store.tasks(number)?,
            observables: store.observables(number)?,
            timeline: store.timeline(number)?,
            evidence: store.evidence(number)?,
            comments: store.comments(number)?,
            events: store.case_events(number)?,
            case,
        })
    }

    /// ATT&CK tactics and techniques, from the timeline and the alerts, without repeats.
    pub fn attack(&self) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = Vec::new();
        let mut add = |tactic: &str, technique: &str| {
            let pair = (tactic.to_string(), technique.to_string());
            let blank = tactic.is_empty() && technique.is_empty();
            if !blank && !out.contains(&pair) {
                out.push(pair);
            }
        };
        for t in &self.timeline {
            add(
                t.tactic.as_deref().unwrap_or(""),
                t.technique.as_deref().unwrap_or(""),
            );
        }
        for doc in self
            .alerts
            .iter()
            .filter_map(|a| AlertDocument::parse(&a.document).ok())
        {
            let tactic = doc.tactics.first().map_or("", String::as_str);
            for technique in &doc.techniques {
                add(tactic, technique);
            }
        }
        out.sort();
        out
    }

    /// The hosts' and users' risk the case's alerts were raised with (`detect --risk`): per entity, the
    /// highest, highest first.
    pub fn risk(&self) -> Vec<EntityRisk> {
        let mut out: Vec<EntityRisk> = Vec::new();
        for doc in self
            .alerts
            .iter()
            .filter_map(|a| AlertDocument::parse(&a.document).ok())
        {
            for r in doc.risk {
                match out.iter_mut().find(|o| o.kind == r.kind && o.id == r.id) {
                    Some(o) if o.score < r.score => *o = r,
                    Some(_) => {}
                    None => out.push(r),
                }
            }
        }
        out.sort_by(|a, b| b.score.total_cmp(&a.score).then_with(|| a.id.cmp(&b.id)));
        out
    }
}

/// A risk row as the reports lay it out: kind, entity, peak score, share of the threshold, level.
fn risk_row(r: &EntityRisk) -> Vec<String> {
    vec![
        r.kind.clone(),
        r.id.clone(),
        r.score.to_string(),
        r.score_norm.to_string(),
        r.level.clone(),
    ]
}

const RISK_HEADERS: [&str; 5] = ["kind", "entity", "peak score", "of threshold (%)", "level"];

/// UTC to the second, as printed documents lay it out.
fn time(nanos: i64) -> String {
    secops_event::Timestamp::from_unix_nanos(nanos).to_printable()
}

fn opt_time(nanos: Option<i64>) -> String {
    nanos.map(time).unwrap_or_else(|| "-".into())
}

pub fn markdown(file: &CaseFile) -> String {
    let c = &file.case;
    let mut out = String::new();
    let _ = writeln!(out, "# Case {}: {}\n", c.number, md(&c.title));
    let _ = writeln!(out, "| | |\n| --- | --- |");
    for (k, v) in summary_rows(c) {
        let _ = writeln!(out, "| {k} | {} |", cell(&v));
    }
    let _ = writeln!(out, "\n## Description\n\n{}\n", md(&c.description));
    let _ = writeln!(
        out,
        "## Root cause\n\n{}\n",
        md(c.root_cause.as_deref().unwrap_or("(not yet recorded)"))
    );
    let _ = writeln!(
        out,
        "## Lessons learned\n\n{}\n",
        md(c.lessons_learned.as_deref().unwrap_or("(not yet recorded)"))
    );
    let _ = writeln!(out, "## ATT&CK\n\n| tactic | technique |\n| --- | --- |");
    for (tactic, technique) in file.attack() {
        let _ = writeln!(out, "| {} | {} |", cell(&tactic), cell(&technique));
    }
    let risk = file.risk();
    if !risk.is_empty() {
        let _ = writeln!(
            out,
            "\n## Entity risk\n\n| {} |\n|{}",
            RISK_HEADERS.join(" | "),
            " --- |".repeat(RISK_HEADERS.len())
        );
        for r in &risk {
            let cells: Vec<String> = risk_row(r).iter().map(|c| cell(c)).collect();
            let _ = writeln!(out, "| {} |", cells.join(" | "));
        }
    }
    let _ = writeln!(out, "\n## Timeline\n\n| time | what | tactic | technique | source |\n| --- | --- | --- | --- | --- |");
    for t in &file.timeline {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} |",
            time(t.at),
            cell(&t.title),
            cell(t.tactic.as_deref().unwrap_or("")),
            cell(t.technique.as_deref().unwrap_or("")),
            cell(&t.source)
        );
    }
    let _ = writeln!(
        out,
        "\n## Tasks\n\n| # | phase | task | status |\n| --- | --- | --- | --- |"
    );
    for t in &file.tasks {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} |",
            t.position,
            cell(&t.group),
            cell(&t.title),
            t.status
        );
    }
    let _ = writeln!(
        out,
        "\n## Observables\n\n| kind | value | IoC | note |\n| --- | --- | --- | --- |"
    );
    for o in &file.observables {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} |",
            cell(&o.kind),
            code_cell(&o.value),
            if o.is_ioc { "yes" } else { "no" },
            cell(&o.description)
        );
    }
    if !file.evidence.is_empty() {
        let _ = writeln!(
            out,
            "\n## Evidence\n\n| # | what | rows | query | file | SHA-256 |\n| --- | --- | --- | --- | --- | --- |"
        );
        for e in &file.evidence {
            let (id, e) = (e.id, &e.evidence);
            let _ = writeln!(
                out,
                "| {id} | {} | {} | {} | {} | {} |",
                cell(&e.title),
                e.rows,
                code_cell(&e.query),
                code_cell(&e.path),
                code_cell(&e.sha256)
            );
        }
    }
    let _ = writeln!(out, "\n## Alerts\n\n| id | rule | severity | group | events | first seen | status |\n| --- | --- | --- | --- | --- | --- | --- |");
    for a in &file.alerts {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} |",
            a.id,
            cell(&a.rule_name),
            a.severity,
            cell(&a.group_key),
            a.event_count,
            time(a.first_seen),
            a.status.as_str()
        );
    }
    if !file.comments.is_empty() {
        let _ = writeln!(out, "\n## Notes\n");
        for n in &file.comments {
            let _ = writeln!(
                out,
                "- {} ({}): {}",
                time(n.created_at),
                md(&n.author),
                md(&n.body)
            );
        }
    }
    let _ = writeln!(
        out,
        "\n## Change log\n\n| time | who | change |\n| --- | --- | --- |"
    );
    for e in &file.events {
        let _ = writeln!(
            out,
            "| {} | {} | {} |",
            time(e.at),
            cell(&e.actor),
            cell(&describe(e))
        );
    }
    out
}

fn summary_rows(c: &CaseRecord) -> Vec<(&'static str, String)> {
    vec![
        ("State", c.state.clone()),
        (
            "Resolution",
            c.resolution.clone().unwrap_or_else(|| "-".into()),
        ),
        ("Severity", c.severity.clone()),
        (
            "TLP / PAP",
            format!("{} / {}", c.tlp.to_uppercase(), c.pap.to_uppercase()),
        ),
        ("Assignee", c.assignee.clone().unwrap_or_else(|| "-".into())),
        ("Playbook", c.playbook.clone().unwrap_or_else(|| "-".into())),
        ("Incident start", opt_time(c.incident_start)),
        ("Detected", opt_time(c.detected_at)),
        ("Opened", time(c.created_at)),
        ("Closed", opt_time(c.closed_at)),
        ("Tags", c.tags.join(", ")),
    ]
}

/// One change in words: `state: triage -> in_progress`.
fn describe(e: &EventLine) -> String {
    let parse = |s: &Option<String>| -> serde_json::Value {
        s.as_deref()
            .and_then(|t| serde_json::from_str(t).ok())
            .unwrap_or(serde_json::Value::Null)
    };
    let (before, after) = (parse(&e.before), parse(&e.after));
    let show = |v: &serde_json::Value| match v {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Null => "-".into(),
        other => other.to_string(),
    };
    match (&before, &after) {
        (serde_json::Value::Object(b), serde_json::Value::Object(a)) => {
            let changes: Vec<String> = a
                .iter()
                .map(|(k, v)| {
                    format!(
                        "{k}: {} -> {}",
                        show(b.get(k).unwrap_or(&serde_json::Value::Null)),
                        show(v)
                    )
                })
                .collect();
            format!("{} ({})", e.kind, changes.join("; "))
        }
        (_, serde_json::Value::Object(a)) if e.kind != "case_created" => {
            let parts: Vec<String> = a.iter().map(|(k, v)| format!("{k}: {}", show(v))).collect();
            format!("{} ({})", e.kind, parts.join(", "))
        }
        (_, serde_json::Value::Null) | (_, serde_json::Value::Object(_)) => e.kind.clone(),
        (_, other) => format!("{} ({})", e.kind, show(other)),
    }
}

fn table(out: &mut String, headers: &[&str], rows: Vec<Vec<String>>) {
    out.push_str("<table><thead><tr>");
    for header in headers {
        let _ = write!(out, "<th>{}</th>", h(header));
    }
    out.push_str("</tr></thead><tbody>");
    for row in rows {
        out.push_str("<tr>");
        for value in row {
            let _ = write!(out, "<td>{}</td>", h(&value));
        }
        out.push_str("</tr>");
    }
    out.push_str("</tbody></table>\n");
}

const STYLE: &str = "body{font:14px/1.45 system-ui,sans-serif;max-width:62rem;margin:2rem auto;padding:0 1rem;color:#1d1d1f}\
h1{font-size:1.5rem}h2{font-size:1.1rem;margin-top:1.8rem;border-bottom:1px solid #ccc}\
table{border-collapse:collapse;width:100%;margin:.4rem 0}th,td{border:1px solid #d0d0d0;padding:.25rem .45rem;text-align:left;vertical-align:top}\
th{background:#f2f2f2}table.summary th{width:11rem;font-weight:500}.tlp{display:inline-block;padding:.1rem .5rem;background:#000;color:#ffc000;font-weight:600}\
p.text{white-space:pre-wrap}@media print{body{margin:0;max-width:none}h2{break-after:avoid}tr{break-inside:avoid}}";

pub fn html(file: &CaseFile) -> String {
    let c = &file.case;
    let mut out = String::new();
    let _ = write!(
        out,
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Case {} - {}</title><style>{STYLE}</style></head><body>\n",
        c.number,
        h(&c.title)
    );
    let _ = writeln!(
        out,
        "<p><span class=\"tlp\">TLP:{}</span></p><h1>Case {}: {}</h1>",
        h(&c.tlp.to_uppercase()),
        c.number,
        h(&c.title)
    );
    out.push_str("<table class=\"summary\"><tbody>");
    for (k, v) in summary_rows(c) {
        let _ = write!(out, "<tr><th>{}</th><td>{}</td></tr>", h(k), h(&v));
    }
    out.push_str("</tbody></table>\n");
    for (title, text) in [
        ("Description", Some(c.description.as_str())),
        ("Root cause", c.root_cause.as_deref()),
        ("Lessons learned", c.lessons_learned.as_deref()),
    ] {
        let _ = writeln!(
            out,
            "<h2>{title}</h2><p class=\"text\">{}</p>",
            h(text.unwrap_or("(not yet recorded)"))
        );
    }
    out.push_str("<h2>ATT&amp;CK</h2>");
    table(
        &mut out,
        &["tactic", "technique"],
        file.attack().into_iter().map(|(a, b)| vec![a, b]).collect(),
    );
    let risk = file.risk();
    if !risk.is_empty() {
        out.push_str("<h2>Entity risk</h2>");
        table(&mut out, &RISK_HEADERS, risk.iter().map(risk_row).collect());
    }
    out.push_str("<h2>Timeline</h2>");
    table(
        &mut out,
        &["time", "what", "tactic", "technique", "source"],
        file.timeline
            .iter()
            .map(|t| {
                vec![
                    time(t.at),
                    t.title.clone(),
                    t.tactic.clone().unwrap_or_default(),
                    t.technique.clone().unwrap_or_default(),
                    t.source.clone(),
                ]
            })
            .collect(),
    );
    out.push_str("<h2>Tasks</h2>");
    table(
        &mut out,
        &["#", "phase", "task", "status"],
        file.tasks
            .iter()
            .map(|t| {
                vec![
                    t.position.to_string(),
                    t.group.clone(),
                    t.title.clone(),
                    t.status.clone(),
                ]
            })
            .collect(),
    );
    out.push_str("<h2>Observables</h2>");
    table(
        &mut out,
        &["kind", "value", "IoC", "note"],
        file.observables
            .iter()
            .map(|o| {
                vec![
                    o.kind.clone(),
                    o.value.clone(),
                    if o.is_ioc { "yes" } else { "no" }.into(),
                    o.description.clone(),
                ]
            })
            .collect(),
    );
    if !file.evidence.is_empty() {
        out.push_str("<h2>Evidence</h2>");
        table(
            &mut out,
            &["#", "what", "rows", "query", "file", "SHA-256"],
            file.evidence
                .iter()
                .map(|e| {
                    let (id, e) = (e.id, &e.evidence);
                    vec![
                        id.to_string(),
                        e.title.clone(),
                        e.rows.to_string(),
                        e.query.clone(),
                        e.path.clone(),
                        e.sha256.clone(),
                    ]
                })
                .collect(),
        );
    }
    out.push_str("<h2>Alerts</h2>");
    table(
        &mut out,
        &[
            "id",
            "rule",
            "severity",
            "group",
            "events",
            "first seen",
            "status",
        ],
        file.alerts
            .iter()
            .map(|a| {
                vec![
                    a.id.to_string(),
                    a.rule_name.clone(),
                    a.severity.clone(),
                    a.group_key.clone(),
                    a.event_count.to_string(),
                    time(a.first_seen),
                    a.status.as_str().into(),
                ]
            })
            .collect(),
    );
    if !file.comments.is_empty() {
        out.push_str("<h2>Notes</h2>");
        table(
            &mut out,
            &["time", "who", "note"],
            file.comments
                .iter()
                .map(|n| vec![time(n.created_at), n.author.clone(), n.body.clone()])
                .collect(),
        );
    }
    out.push_str("<h2>Change log</h2>");
    table(
        &mut out,
        &["time", "who", "change"],
        file.events
            .iter()
            .map(|e| vec![time(e.at), e.actor.clone(), describe(e)])
            .collect(),
    );
    out.push_str("</body></html>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_escaped_for_each_format() {
        assert_eq!(
            h("<script>alert('x')</script>&"),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&amp;"
        );
        assert_eq!(cell("a|b\nc"), "a\\|b c");
        // Script, links and tracking images from log text stay text in any Markdown renderer.
        assert_eq!(
            cell("<img src=x onerror=alert(1)>[a](http://x)![](http://y)\u{1b}[2J"),
            "\\<img src=x onerror=alert(1)>\\[a\\](http://x)!\\[\\](http://y)\\\\x1b\\[2J"
        );
        assert_eq!(md("ok\u{202e}"), "ok\\\\u{202e}");
        assert_eq!(code_cell("192.0.2.1"), "`192.0.2.1`");
        assert_eq!(code_cell("a`b|<i>\u{1b}"), "`` a`b\\|<i>\\x1b ``");
        assert_eq!(
            md("# not a heading [link](x)"),
            "\\# not a heading \\[link\\](x)"
        );
    }
}
