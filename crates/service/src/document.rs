//! The alert document: the JSON a stored alert carries and `detect --output jsonl` prints, with
//! ECS-style names (`rule.author` kept for licence attribution).

use secops_detect::Alert;
use secops_intel::Kind;
use serde_json::{json, Map, Value as Json};

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
    doc.insert("rule.severity".into(), json!(rule.severity.as_str()));
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
    doc.insert(
        "indicator.marking.tlp".into(),
        json!(i.tlp.as_str().to_uppercase()),
    );
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
            doc.insert(
                key.into(),
                json!(secops_event::Timestamp::from_unix_nanos(t).to_seconds()),
            );
        }
    }
    Json::Object(doc)
}
