//! An alert as its document (`secops-alert`'s contract).

use secops_alert::{AlertDocument, Enrichment as EnrichmentDoc, Term};
use secops_event::Timestamp;
use secops_intel::Kind;
use serde_json::{Map, Value};

use crate::{Alert, Enrichment};

impl Alert {
    /// The alert's document, as it is printed and stored.
    pub fn document(&self) -> AlertDocument {
        let rule = &self.rule;
        let grouped = !self.group.is_empty();
        let suppressed = self.suppressed > 0;
        let risk_of = |kind: &str| self.risk.iter().find(|r| r.kind == kind);
        AlertDocument {
            timestamp: self.timestamp.to_rfc3339(),
            id: self.id.clone(),
            first: self.first.to_rfc3339(),
            rule_id: rule.id.clone(),
            rule_name: rule.name.clone(),
            rule_author: rule.author.clone(),
            rule_version: rule.version,
            rule_type: rule.rule_type.as_str().to_string(),
            severity: rule.severity.as_str().to_string(),
            risk_score: rule.risk_score,
            tactics: rule.tactics().into_iter().map(str::to_string).collect(),
            techniques: rule.techniques().into_iter().map(str::to_string).collect(),
            rule_tags: rule.tags.clone(),
            threshold_count: grouped.then_some(self.count),
            terms: self
                .group
                .iter()
                .map(|(field, value)| Term {
                    field: field.clone(),
                    value: value.clone(),
                })
                .collect(),
            group: self
                .group
                .iter()
                .map(|(f, v)| (f.clone(), Value::String(v.clone())))
                .collect(),
            suppressed_alerts: suppressed.then_some(self.suppressed),
            suppressed_events: suppressed.then_some(self.suppressed_count),
            suppression_terms: self
                .entity
                .iter()
                .map(|(field, value)| Term {
                    field: field.clone(),
                    value: value.clone(),
                })
                .collect(),
            suppression_duration: self
                .window
                .map(|w| u64::try_from(w / 1_000_000_000).unwrap_or(0)),
            last_seen: suppressed.then(|| self.last_seen.to_rfc3339()),
            enrichments: self.enrichments.iter().map(enrichment).collect(),
            risk: self.risk.clone(),
            host_risk_level: risk_of("host").map(|r| r.level.clone()),
            host_risk_norm: risk_of("host").map(|r| r.score_norm),
            user_risk_level: risk_of("user").map(|r| r.level.clone()),
            user_risk_norm: risk_of("user").map(|r| r.score_norm),
            vulnerabilities: Vec::new(),
            provenance: self.provenance.iter().map(|p| p.to_string()).collect(),
            events: self.events.iter().map(|e| e.to_json()).collect(),
            schema_version: secops_alert::SCHEMA_VERSION,
        }
    }
}

/// An indicator match as ECS and Elastic's indicator-match alerts write it.
fn enrichment(e: &Enrichment) -> EnrichmentDoc {
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
    let mut value = Map::new();
    value.insert(
        i.kind
            .indicator_field()
            .trim_start_matches("threat.")
            .to_string(),
        Value::String(i.value.clone()),
    );
    let time = |t: Option<i64>| t.map(|t| Timestamp::from_unix_nanos(t).to_seconds());
    EnrichmentDoc {
        atomic: e.atomic.clone(),
        field: e.field.clone(),
        match_type: "indicator_match_rule".into(),
        indicator_type: indicator_type.into(),
        value,
        provider: i.source.clone(),
        confidence: confidence.into(),
        confidence_score: i.confidence,
        tlp: i.tlp.as_str().to_uppercase(),
        id: i.native_id.clone(),
        description: (!i.description.is_empty()).then(|| i.description.clone()),
        first_seen: time(i.first_seen),
        last_seen: time(i.last_seen),
    }
}
