//! How alerts are printed: a table for people, JSON lines, CSV, and a timeline for Timesketch and
//! Timeline Explorer.

use clap::ValueEnum;
use secops_detect::Alert;
use secops_intel::Kind;
use serde_json::{json, Map, Value as Json};

use crate::output::clip;

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
            "{:<25} {:<8} {:<44} {:<18} {:>6}  SOURCE",
            "TIME", "SEVERITY", "RULE", "GROUP", "COUNT"
        )),
        AlertOutput::Jsonl => None,
        AlertOutput::Csv => Some(
            "timestamp,first,rule_id,rule_name,severity,risk_score,attack,group,count,source"
                .into(),
        ),
        AlertOutput::Timeline => Some(
            "message,datetime,timestamp_desc,rule_id,severity,attack,group,count,source".into(),
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
    let severity = format!("{:?}", alert.rule.severity).to_lowercase();
    match output {
        AlertOutput::Table => format!(
            "{:<30} {:<8} {:<44} {:<18} {:>6}  {}",
            alert.timestamp.to_rfc3339(),
            severity,
            clip(&alert.rule.name, 44),
            clip(&alert.group_key(), 18),
            alert.count + alert.suppressed_count,
            source
        ),
        AlertOutput::Jsonl => to_json(alert).to_string(),
        AlertOutput::Csv => csv_row(&[
            alert.timestamp.to_rfc3339(),
            alert.first.to_rfc3339(),
            alert.rule.id.clone(),
            alert.rule.name.clone(),
            severity,
            alert.rule.risk_score.to_string(),
            attack,
            alert.group_key(),
            alert.count.to_string(),
            source,
        ]),
        AlertOutput::Timeline => csv_row(&[
            format!("{} ({})", alert.rule.name, alert.group_key()),
            alert.timestamp.to_rfc3339(),
            "Alert Time".into(),
            alert.rule.id.clone(),
            severity,
            attack,
            alert.group_key(),
            alert.count.to_string(),
            source,
        ]),
    }
}

/// The alert as one JSON document (ECS-style names; `rule.author` is kept for licence attribution).
pub fn to_json(alert: &Alert) -> Json {
    let rule = &alert.rule;
    let mut doc = Map::new();
    doc.insert("@timestamp".into(), json!(alert.timestamp.to_rfc3339()));
    doc.insert("alert.id".into(), json!(alert.id));
    doc.insert("alert.first".into(), json!(alert.first.to_rfc3339()));
    doc.insert("rule.id".into(), json!(rule.id));
    doc.insert("rule.name".into(), json!(rule.name));
    doc.insert("rule.author".into(), json!(rule.author));
    doc.insert("rule.version".into(), json!(rule.version));
    doc.insert("rule.type".into(), json!(rule.rule_type.as_str()));
    doc.insert(
        "rule.severity".into(),
        json!(format!("{:?}", rule.severity).to_lowercase()),
    );
    doc.insert("rule.risk_score".into(), json!(rule.risk_score));
    doc.insert("threat.tactic.id".into(), json!(rule.tactics()));
    doc.insert("threat.technique.id".into(), json!(rule.techniques()));
    if !alert.group.is_empty() {
        doc.insert("threshold.count".into(), json!(alert.count));
        doc.insert(
            "threshold.terms".into(),
            Json::Array(
                alert
                    .group
                    .iter()
                    .map(|(f, v)| json!({"field": f, "value": v}))
                    .collect(),
            ),
        );
        for (field, value) in &alert.group {
            doc.insert(field.clone(), json!(value));
        }
    }
    if alert.suppressed > 0 {
        doc.insert(
            "alert.suppression.docs_count".into(),
            json!(alert.suppressed),
        );
        doc.insert(
            "alert.suppression.events".into(),
            json!(alert.suppressed_count),
        );
        doc.insert(
            "alert.last_seen".into(),
            json!(alert.last_seen.to_rfc3339()),
        );
    }
    if !alert.enrichments.is_empty() {
        doc.insert(
            "threat.enrichments".into(),
            Json::Array(alert.enrichments.iter().map(enrichment).collect()),
        );
    }
    doc.insert(
        "event.provenance".into(),
        json!(alert
            .provenance
            .iter()
            .map(|p| p.to_string())
            .collect::<Vec<_>>()),
    );
    doc.insert(
        "events".into(),
        Json::Array(alert.events.iter().map(|e| e.to_json()).collect()),
    );
    Json::Object(doc)
}

/// An indicator match as ECS and Elastic's indicator-match alerts write it.
fn enrichment(e: &secops_detect::Enrichment) -> Json {
    let i = &e.indicator;
    let indicator_type = match i.kind {
        Kind::Ip if i.value.contains(':') => "ipv6-addr",
        Kind::Ip => "ipv4-addr",
        Kind::Domain | Kind::Hostname => "domain-name",
        Kind::Url => "url",
        Kind::Md5 | Kind::Sha1 | Kind::Sha256 => "file",
        Kind::Email => "email-addr",
    };
    let confidence = match i.confidence {
        None => "Not Specified",
        Some(c) if c >= 70 => "High",
        Some(c) if c >= 30 => "Medium",
        Some(0) => "None",
        Some(_) => "Low",
    };
    let mut doc = Map::new();
    doc.insert("matched.atomic".into(), json!(e.atomic));
    doc.insert("matched.field".into(), json!(e.field));
    doc.insert("matched.type".into(), json!("indicator_match_rule"));
    doc.insert("indicator.type".into(), json!(indicator_type));
    doc.insert(
        i.kind
            .indicator_field()
            .trim_start_matches("threat.")
            .into(),
        json!(i.value),
    );
    doc.insert("indicator.provider".into(), json!(i.source));
    doc.insert("indicator.confidence".into(), json!(confidence));
    if let Some(score) = i.confidence {
        doc.insert("indicator.confidence_score".into(), json!(score));
    }
    doc.insert("indicator.marking.tlp".into(), json!(i.tlp.to_uppercase()));
    if let Some(id) = &i.native_id {
        doc.insert("indicator.id".into(), json!(id));
    }
    if !i.description.is_empty() {
        doc.insert("indicator.description".into(), json!(i.description));
    }
    for (key, time) in [
        ("indicator.first_seen", i.first_seen),
        ("indicator.last_seen", i.last_seen),
    ] {
        if let Some(t) = time {
            doc.insert(key.into(), json!(secops_intel::format_time(t)));
        }
    }
    Json::Object(doc)
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
