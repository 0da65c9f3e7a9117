//! Risk-based alerting in a detection run: each alert, when first raised, adds its rule's risk score to
//! the host and the user its first event names (their resolved ids when entities are resolved; the
//! inventory's criticality weighs it), and an entity crossing into risk raises one alert of the
//! [`RISK_RULE_ID`] rule that names its top contributors.

use std::sync::Arc;

use secops_detect::{Alert, RuleInfo};
use secops_entity::{risk, Contribution, Index, RiskCrossing, RiskLedger, RiskModel, UserName};
use secops_event::{Event, Timestamp, Value};
use secops_rules::{RuleType, Severity};

/// The id of the risk rule (its alerts never add to risk themselves).
pub const RISK_RULE_ID: &str = "9f3b2c1e-6a4d-4c8e-b1f7-2d5e8a0c4b63";

/// Risk scoring over one run.
#[derive(Debug)]
pub struct Risk {
    ledger: RiskLedger,
    index: Arc<Index>,
    rule: Arc<RuleInfo>,
}

impl Risk {
    pub fn new(model: RiskModel, index: Arc<Index>) -> Risk {
        Risk {
            ledger: RiskLedger::new(model),
            index,
            rule: Arc::new(RuleInfo {
                id: RISK_RULE_ID.into(),
                name: "Entity Risk Threshold Reached".into(),
                author: vec!["secops".into()],
                version: 1,
                rule_type: RuleType::Correlation,
                severity: Severity::High,
                risk_score: 73,
                threat: Vec::new(),
            }),
        }
    }

    /// The risk alerts an alert raised for the first time brings about (none for the risk rule's own).
    pub fn observe(&mut self, alert: &Alert) -> Vec<Alert> {
        if alert.rule.id == RISK_RULE_ID {
            return Vec::new();
        }
        let Some(event) = alert.events.first() else {
            return Vec::new();
        };
        let text = |field: &str| {
            event
                .get(field)
                .and_then(Value::as_str)
                .filter(|t| !t.is_empty())
        };
        let host = text("secops.entity.host")
            .map(str::to_string)
            .or_else(|| text("host.name").and_then(|h| self.index.host(h)));
        let user = text("secops.entity.user").map(str::to_string).or_else(|| {
            text("user.name")
                .and_then(|n| UserName::from_parts(n, text("user.domain")))
                .map(|u| self.index.user(&u))
        });
        let at = alert.first.unix_nanos();
        let tactics: Vec<String> = alert
            .rule
            .tactics()
            .into_iter()
            .map(str::to_string)
            .collect();
        let mut raised = Vec::new();
        for (kind, id) in [("host", host), ("user", user)] {
            let Some(id) = id else { continue };
            let criticality = match kind {
                "host" => self.index.known_host(&id).map(|h| h.criticality),
                _ => self
                    .index
                    .known_user(&UserName::parse(&id).unwrap_or(UserName {
                        name: id.clone(),
                        domain: None,
                        form: secops_entity::UserForm::Bare,
                    }))
                    .map(|u| u.criticality),
            }
            .unwrap_or_default();
            let contribution = Contribution {
                alert_id: alert.id.clone(),
                rule: alert.rule.name.clone(),
                provenance: alert.provenance.first().cloned(),
                points: f64::from(alert.rule.risk_score) * risk::weight(criticality),
                at,
                tactics: tactics.clone(),
            };
            if let Some(crossing) = self.ledger.add(kind, &id, contribution) {
                raised.push(self.alert(&crossing));
            }
        }
        raised
    }

    /// The risk alert of a crossing: the entity as its group, one event per top contributor.
    fn alert(&self, crossing: &RiskCrossing) -> Alert {
        let field = format!("secops.entity.{}", crossing.kind);
        let first = crossing
            .top
            .iter()
            .map(|c| c.at)
            .min()
            .unwrap_or(crossing.at);
        let events: Vec<Event> = crossing
            .top
            .iter()
            .filter_map(|c| {
                let provenance = c.provenance.clone()?;
                let mut e = Event::new(provenance);
                e.set_timestamp(Timestamp::from_unix_nanos(c.at));
                e.insert("event.kind", "signal");
                e.insert(field.as_str(), crossing.entity.as_str());
                e.insert("risk.reason", crossing.reason.as_str());
                e.insert("risk.score", (crossing.score * 10.0).round() / 10.0);
                e.insert("risk.contributor.alert_id", c.alert_id.as_str());
                e.insert("risk.contributor.rule", c.rule.as_str());
                e.insert("risk.contributor.points", c.points);
                if !c.tactics.is_empty() {
                    e.insert(
                        "risk.contributor.tactics",
                        Value::Array(c.tactics.iter().map(|t| Value::from(t.as_str())).collect()),
                    );
                }
                Some(e)
            })
            .collect();
        let provenance = crossing
            .top
            .iter()
            .filter_map(|c| c.provenance.clone())
            .collect();
        Alert::raised_by(
            self.rule.clone(),
            events,
            vec![(field, crossing.entity.clone())],
            crossing.alerts as u64,
            Timestamp::from_unix_nanos(first),
            Timestamp::from_unix_nanos(crossing.at),
            provenance,
        )
    }
}
