//! How alerts are printed: a table for people, JSON lines, CSV, and a timeline for Timesketch and
//! Timeline Explorer. Counts are events, repeats folded in by alert suppression included. In the order
//! raised, an alert is written again when repeats folded into it: the later line or row with the same
//! `alert_id` supersedes the earlier.

use clap::ValueEnum;
use secops_detect::Alert;

use crate::output::{cell, safe};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AlertOutput {
    Table,
    Jsonl,
    Csv,
    /// CSV with Timesketch's `message`, `datetime`, `timestamp_desc` columns.
    Timeline,
}

pub fn header(output: AlertOutput) -> Option<String> {
    match output {
        AlertOutput::Table => Some(format!(
            "{:<30} {:<8} {:<44} {:<18} {:>6}  SOURCE",
            "TIME", "SEVERITY", "RULE", "GROUP", "COUNT"
        )),
        AlertOutput::Jsonl => None,
        AlertOutput::Csv => Some(
            "timestamp,first,rule_id,rule_name,severity,risk_score,attack,group,count,source,alert_id"
                .into(),
        ),
        AlertOutput::Timeline => Some(
            "message,datetime,timestamp_desc,rule_id,severity,attack,group,count,source,alert_id"
                .into(),
        ),
    }
}

pub fn render(alert: &Alert, output: AlertOutput) -> String {
    let source = alert
        .provenance
        .first()
        .map(|p| p.to_string())
        .unwrap_or_default();
    let attack = alert.rule.techniques().join(" ");
    let severity = alert.rule.severity.as_str().to_string();
    match output {
        AlertOutput::Table => {
            let mut line = format!(
                "{:<30} {:<8} {} {} {:>6}  {}",
                alert.timestamp.to_rfc3339(),
                severity,
                cell(&alert.rule.name, 44),
                cell(&alert.group_key(), 18),
                alert.count + alert.suppressed_count,
                safe(&source)
            );
            if !alert.risk.is_empty() {
                line.push_str("  risk ");
                line.push_str(&risk_summary(&alert.risk));
            }
            line
        }
        AlertOutput::Jsonl => alert.document().to_line(),
        AlertOutput::Csv => csv_row(&[
            alert.timestamp.to_rfc3339(),
            alert.first.to_rfc3339(),
            alert.rule.id.clone(),
            alert.rule.name.clone(),
            severity,
            alert.rule.risk_score.to_string(),
            attack,
            alert.group_key(),
            (alert.count + alert.suppressed_count).to_string(),
            source,
            alert.id.clone(),
        ]),
        AlertOutput::Timeline => csv_row(&[
            format!("{} ({})", alert.rule.name, alert.group_key()),
            alert.timestamp.to_rfc3339(),
            "Alert Time".into(),
            alert.rule.id.clone(),
            severity,
            attack,
            alert.group_key(),
            (alert.count + alert.suppressed_count).to_string(),
            source,
            alert.id.clone(),
        ]),
    }
}

/// Entities' risk as a person reads it: `host ws-0042 87.5 High, user alice 21 Low` (ids escaped).
pub fn risk_summary(risk: &[secops_alert::EntityRisk]) -> String {
    risk.iter()
        .map(|r| format!("{} {} {} {}", r.kind, safe(&r.id), r.score, r.level))
        .collect::<Vec<_>>()
        .join(", ")
}

/// An alert raised again when its suppression window closed, with the repeats folded into it: it
/// supersedes the line written when it was raised (same `alert_id`). JSON lines, CSV and timeline
/// write the whole alert again; the table says what was folded in.
pub fn render_update(alert: &Alert, output: AlertOutput) -> String {
    match output {
        AlertOutput::Table => format!(
            "{:<30} {:<8} {} {} {:>6}  update: {} more until {}",
            alert.timestamp.to_rfc3339(),
            alert.rule.severity.as_str(),
            cell(&alert.rule.name, 44),
            cell(&alert.group_key(), 18),
            alert.count + alert.suppressed_count,
            alert.suppressed,
            alert.last_seen.to_rfc3339()
        ),
        other => render(alert, other),
    }
}

fn csv_row(fields: &[String]) -> String {
    fields
        .iter()
        .map(|f| csv_field(f))
        .collect::<Vec<_>>()
        .join(",")
}

fn csv_field(text: &str) -> String {
    secops_intel::csv::cell(text)
}

#[cfg(test)]
mod tests {
    use super::csv_field;

    #[test]
    fn csv_fields_are_quoted_and_formulas_neutralized() {
        assert_eq!(csv_field("plain"), "plain");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\"\nnow"), "\"say \"\"hi\"\"\nnow\"");
        for formula in ["=cmd|' /C calc'!A0", "+1+1", "-2+3", "@SUM(A1)"] {
            assert!(
                csv_field(formula).trim_start_matches('"').starts_with('\''),
                "{formula}"
            );
        }
    }
}
