//! Risk-based alerting in a detection run: each alert, when first raised, adds its rule's risk score to
//! the host and the user its first event names (their resolved ids when entities are resolved; the
//! inventory's criticality weighs it), and an entity crossing into risk raises one alert of the
//! [`RISK_RULE_ID`] rule that names its top contributors.

use std::collections::HashMap;
use std::sync::Arc;

use secops_alert::EntityRisk;

use secops_detect::{Alert, RuleInfo};
use secops_entity::{risk, Contribution, Index, RiskCrossing, RiskLedger, RiskModel, UserName};
use secops_event::{Event, Location, Provenance, Timestamp, Value};
use secops_rules::{RuleType, Severity};
use secops_store::{RiskContribution, Store};

use crate::ServiceError;

/// The id of the risk rule (its alerts never add to risk themselves).
pub const RISK_RULE_ID: &str = "9f3b2c1e-6a4d-4c8e-b1f7-2d5e8a0c4b63";

/// Risk scoring over one run, continuing from the store's earlier contributions when there is one.
#[derive(Debug)]
pub struct Risk {
    ledger: RiskLedger,
    index: Arc<Index>,
    rule: Arc<RuleInfo>,
    /// Contributions of this run, for the store.
    pending: Vec<RiskContribution>,
    /// Alerts open for repeats: the risk they were raised with, for when they close.
    opened: HashMap<String, Vec<EntityRisk>>,
}

/// How far back (in half-lives) earlier contributions still count: 2^-10 of their points is left.
const HISTORY_HALF_LIVES: i64 = 10;

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
                tags: Vec::new(),
            }),
            pending: Vec::new(),
            opened: HashMap::new(),
        }
    }

    /// This run's contributions not yet stored.
    pub fn take_pending(&mut self) -> Vec<RiskContribution> {
        std::mem::take(&mut self.pending)
    }

    /// An alert raised again when its window closed gets the risk it was first raised with.
    pub fn carry(&mut self, alert: &mut Alert) {
        if let Some(risk) = self.opened.remove(&alert.id) {
            alert.risk = risk;
        }
    }

    /// The risk alerts an alert raised for the first time brings about (none for the risk rule's own),
    /// and the alert's host and user risk with it counted (`alert.risk`). An entity met for the first
    /// time in the run starts from the store's contributions before it.
    pub fn observe(
        &mut self,
        alert: &mut Alert,
        opened: bool,
        mut store: Option<&mut Store>,
    ) -> Result<Vec<Alert>, ServiceError> {
        if alert.rule.id == RISK_RULE_ID {
            return Ok(Vec::new());
        }
        let Some(event) = alert.events.first() else {
            return Ok(Vec::new());
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
        // The log sources the alert's events came from (a correlation's may be several).
        let mut sources: Vec<String> = alert
            .events
            .iter()
            .filter_map(|e| {
                e.get_str("event.dataset")
                    .or_else(|| e.get_str("event.module"))
                    .filter(|d| !d.is_empty())
                    .map(str::to_string)
            })
            .collect();
        sources.sort();
        sources.dedup();
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
                _ => UserName::parse(&id)
                    .and_then(|u| self.index.known_user(&u))
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
                sources: sources.clone(),
            };
            if let (false, Some(store)) = (self.ledger.knows(kind, &id), store.as_deref_mut()) {
                let since = at.saturating_sub(
                    self.ledger
                        .model()
                        .half_life
                        .saturating_mul(HISTORY_HALF_LIVES),
                );
                let earlier = store
                    .risk_contributions(kind, &id, since, at)?
                    .into_iter()
                    .map(|c| Contribution {
                        alert_id: c.alert_id,
                        rule: c.rule,
                        provenance: None,
                        points: c.points,
                        at: c.at,
                        tactics: c.tactics,
                        sources: c.sources,
                    })
                    .collect();
                self.ledger.seed(kind, &id, earlier);
                if kind == "host" {
                    if let Some(exposure) =
                        vulnerability_contribution(store, &id, self.ledger.model(), at)?
                    {
                        self.ledger.expose(kind, &id, exposure);
                    }
                }
            }
            if store.is_some() {
                // Kept for the store only when there is one: a run without it holds nothing more.
                self.pending.push(RiskContribution {
                    kind: kind.to_string(),
                    entity: id.clone(),
                    alert_id: contribution.alert_id.clone(),
                    rule: contribution.rule.clone(),
                    points: contribution.points,
                    at,
                    tactics: contribution.tactics.clone(),
                    sources: contribution.sources.clone(),
                });
            }
            let crossing = self.ledger.add(kind, &id, contribution);
            let score = self.ledger.score(kind, &id, at);
            alert.risk.push(EntityRisk::new(
                kind,
                &id,
                score,
                self.ledger.model().threshold,
            ));
            if let Some(crossing) = crossing {
                raised.push(self.alert(&crossing));
            }
        }
        if opened && !alert.risk.is_empty() {
            self.opened.insert(alert.id.clone(), alert.risk.clone());
        }
        Ok(raised)
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
            .enumerate()
            .map(|(n, c)| {
                // A contribution an earlier run stored names its alert, not its event; the
                // host's open vulnerabilities name no alert.
                let origin = if c.alert_id.is_empty() {
                    "vulnerability findings"
                } else {
                    "earlier run"
                };
                let provenance = c
                    .provenance
                    .clone()
                    .unwrap_or_else(|| Provenance::new(origin, Location::Ordinal(n as u64 + 1)));
                let mut e = Event::new(provenance);
                e.set_timestamp(Timestamp::from_unix_nanos(c.at));
                e.insert("event.kind", "signal");
                e.insert(field.as_str(), crossing.entity.as_str());
                e.insert("risk.reason", crossing.reason.as_str());
                e.insert("risk.score", (crossing.score * 10.0).round() / 10.0);
                if !c.alert_id.is_empty() {
                    e.insert("risk.contributor.alert_id", c.alert_id.as_str());
                }
                e.insert("risk.contributor.rule", c.rule.as_str());
                e.insert("risk.contributor.points", c.points);
                for (field, list) in [
                    ("risk.contributor.tactics", &c.tactics),
                    ("risk.contributor.sources", &c.sources),
                ] {
                    if !list.is_empty() {
                        e.insert(
                            field,
                            Value::Array(list.iter().map(|t| Value::from(t.as_str())).collect()),
                        );
                    }
                }
                e
            })
            .collect();
        let provenance = events.iter().map(|e| e.provenance().clone()).collect();
        let mut alert = Alert::new(
            self.rule.clone(),
            events,
            vec![(field, crossing.entity.clone())],
            crossing.alerts as u64,
            Timestamp::from_unix_nanos(first),
            Timestamp::from_unix_nanos(crossing.at),
            provenance,
        );
        alert.risk.push(EntityRisk::new(
            crossing.kind,
            &crossing.entity,
            crossing.score,
            self.ledger.model().threshold,
        ));
        alert
    }
}

/// What a host's open vulnerability findings add to its risk (`RiskModel::vulnerability_points`
/// of their summed risk), named by the riskiest of them; none when it has none.
pub fn vulnerability_contribution(
    store: &mut Store,
    host: &str,
    model: &RiskModel,
    at: i64,
) -> Result<Option<Contribution>, ServiceError> {
    let found = store.vuln_host_risk(host)?;
    let points = model.vulnerability_points(found.risk);
    if found.open == 0 || points <= 0.0 {
        return Ok(None);
    }
    let more = found.open.saturating_sub(found.riskiest.len() as u64);
    let mut rule = format!(
        "{} open vulnerabilit{}: {}",
        found.open,
        if found.open == 1 { "y" } else { "ies" },
        found.riskiest.join(", ")
    );
    if more > 0 {
        rule.push_str(&format!(" and {more} more"));
    }
    Ok(Some(Contribution {
        alert_id: String::new(),
        rule,
        provenance: None,
        points,
        at,
        tactics: Vec::new(),
        sources: Vec::new(),
    }))
}
