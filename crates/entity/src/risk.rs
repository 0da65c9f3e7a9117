//! Risk per entity, the risk-based alerting pattern (Splunk RBA, Elastic entity risk): every alert adds
//! its rule's risk score to the hosts and users it names, weighted by their criticality, and the sum
//! decays with a half-life; an entity whose score crosses the threshold, or that collects alerts of
//! several ATT&CK tactics, or from several log sources, within a day, raises one risk alert naming its
//! top contributors. Ten low alerts on one host in a day cross; the same ten spread over ten hosts do
//! not.
//!
//! Defaults: scores as rules state them (21, 47, 73, 99 by severity in the bundled pack), a 24-hour
//! half-life, a threshold of 100, three distinct tactics or three distinct log sources (the alerts'
//! `event.dataset`) within 24 hours, criticality weights low 0.5,
//! medium 1, high 1.5, critical 2. An entity that fired is re-armed once its alerts' score falls below
//! half the threshold.
//!
//! A host's open vulnerability findings add to the same score (one score per entity): their risk as
//! the findings queue ranks them, summed and halved, at most half the threshold, standing (not
//! decaying) while they are open. Vulnerabilities alone never raise a risk alert; a host carrying a
//! known-exploited one needs about half the alerts to cross.

use std::collections::HashMap;

use crate::inventory::Criticality;

const HOUR: i64 = 3_600_000_000_000;

/// How risk adds up and when it alerts.
#[derive(Debug, Clone, PartialEq)]
pub struct RiskModel {
    /// Nanoseconds over which a contribution halves.
    pub half_life: i64,
    /// The score at which an entity alerts.
    pub threshold: f64,
    /// Distinct tactics within `tactic_window` at which an entity alerts (0: never on tactics).
    pub tactics: usize,
    /// Distinct log sources within `tactic_window` at which an entity alerts (0: never on sources).
    pub sources: usize,
    pub tactic_window: i64,
}

impl Default for RiskModel {
    fn default() -> Self {
        RiskModel {
            half_life: 24 * HOUR,
            threshold: 100.0,
            tactics: 3,
            sources: 3,
            tactic_window: 24 * HOUR,
        }
    }
}

impl RiskModel {
    /// What `points` added at `from` are worth at `to` (later: halved every half-life).
    pub fn decayed(&self, points: f64, from: i64, to: i64) -> f64 {
        if to <= from || self.half_life <= 0 {
            return points;
        }
        points * 0.5f64.powf((to - from) as f64 / self.half_life as f64)
    }
}

/// The share of a host's open findings' summed risk that its score carries.
pub const VULNERABILITY_SHARE: f64 = 0.5;

impl RiskModel {
    /// What open findings whose risks sum to `summed` add to a host's score: their share, at most
    /// half the threshold.
    pub fn vulnerability_points(&self, summed: f64) -> f64 {
        (summed.max(0.0) * VULNERABILITY_SHARE).min(self.threshold / 2.0)
    }
}

/// How much an entity's criticality multiplies what alerts add.
pub fn weight(criticality: Criticality) -> f64 {
    match criticality {
        Criticality::Low => 0.5,
        Criticality::Medium => 1.0,
        Criticality::High => 1.5,
        Criticality::Critical => 2.0,
    }
}

/// One alert's part in an entity's risk.
#[derive(Debug, Clone, PartialEq)]
pub struct Contribution {
    pub alert_id: String,
    pub rule: String,
    /// Where the alert's first event came from.
    pub provenance: Option<secops_event::Provenance>,
    /// Points added (the rule's risk score times the entity's weight), at `at`.
    pub points: f64,
    pub at: i64,
    pub tactics: Vec<String>,
    /// The log sources of the alert's events (`zeek.conn`, `windows.security`).
    pub sources: Vec<String>,
}

/// An entity crossing into risk: why, and the alerts that brought it there, most points first.
#[derive(Debug, Clone, PartialEq)]
pub struct RiskCrossing {
    /// `host` or `user`.
    pub kind: &'static str,
    pub entity: String,
    pub score: f64,
    pub at: i64,
    /// Distinct tactics within the tactic window.
    pub tactics: Vec<String>,
    /// Distinct log sources within the tactic window.
    pub sources: Vec<String>,
    pub reason: String,
    pub top: Vec<Contribution>,
    /// All the alerts counted while it was armed.
    pub alerts: usize,
    /// The part of `score` its open vulnerabilities add.
    pub vulnerabilities: f64,
}

#[derive(Debug, Default)]
struct State {
    /// What alerts added, decayed to `at`.
    score: f64,
    at: i64,
    armed: bool,
    /// What its open vulnerabilities add (not decaying), as a contribution to name.
    standing: Option<Contribution>,
    /// The contributions still worth naming (bounded).
    recent: Vec<Contribution>,
    alerts: usize,
}

/// Contributions kept per entity for naming top contributors.
const KEPT: usize = 64;
/// Contributors a risk alert names.
const NAMED: usize = 10;

/// An entity's state, made armed at `at` when it has none yet.
fn state_of<'a>(
    entities: &'a mut HashMap<(&'static str, String), State>,
    kind: &'static str,
    entity: &str,
    at: i64,
) -> &'a mut State {
    entities
        .entry((kind, entity.to_string()))
        .or_insert_with(|| State {
            armed: true,
            at,
            ..State::default()
        })
}

/// Scores per entity, fed alerts in time order.
#[derive(Debug, Default)]
pub struct RiskLedger {
    model: RiskModel,
    entities: HashMap<(&'static str, String), State>,
}

impl RiskLedger {
    pub fn new(model: RiskModel) -> RiskLedger {
        RiskLedger {
            model,
            entities: HashMap::new(),
        }
    }

    pub fn model(&self) -> &RiskModel {
        &self.model
    }

    /// The score of an entity at `now`: its alerts' points decayed, and its vulnerabilities'.
    pub fn score(&self, kind: &'static str, entity: &str, now: i64) -> f64 {
        self.entities
            .get(&(kind, entity.to_string()))
            .map_or(0.0, |s| {
                self.model.decayed(s.score, s.at, now)
                    + s.standing.as_ref().map_or(0.0, |c| c.points)
            })
    }

    /// Sets what an entity's open vulnerabilities add to its score (`exposure.points`, already
    /// `RiskModel::vulnerability_points`; capped here again at half the threshold). It raises
    /// nothing by itself: the next alert on the entity is judged with it counted.
    pub fn expose(&mut self, kind: &'static str, entity: &str, mut exposure: Contribution) {
        exposure.points = exposure.points.clamp(0.0, self.model.threshold / 2.0);
        let state = state_of(&mut self.entities, kind, entity, exposure.at);
        state.standing = (exposure.points > 0.0).then_some(exposure);
    }

    /// Whether an entity has state in this ledger yet.
    pub fn knows(&self, kind: &'static str, entity: &str) -> bool {
        self.entities.contains_key(&(kind, entity.to_string()))
    }

    /// Starts an entity from what earlier runs added (oldest first), without alerting: an entity
    /// already over the threshold is taken to have alerted then, and stays disarmed until its score
    /// falls below half of it.
    pub fn seed(&mut self, kind: &'static str, entity: &str, earlier: Vec<Contribution>) {
        let Some(first) = earlier.first().map(|c| c.at) else {
            return;
        };
        let model = &self.model;
        let state = state_of(&mut self.entities, kind, entity, first);
        for c in earlier {
            let at = c.at.max(state.at);
            state.score = model.decayed(state.score, state.at, at) + c.points;
            state.at = at;
            state.recent.push(c);
            if state.recent.len() > KEPT {
                state.recent.remove(0);
            }
        }
        state.armed = state.score < model.threshold;
        state.alerts = state.recent.len();
    }

    /// Adds one alert's contribution to an entity; says when the entity crosses into risk.
    pub fn add(
        &mut self,
        kind: &'static str,
        entity: &str,
        contribution: Contribution,
    ) -> Option<RiskCrossing> {
        let model = self.model.clone();
        let state = state_of(&mut self.entities, kind, entity, contribution.at);
        let at = contribution.at.max(state.at);
        state.score = model.decayed(state.score, state.at, at) + contribution.points;
        state.at = at;
        let standing = state.standing.as_ref().map_or(0.0, |c| c.points);
        let total = state.score + standing;
        if !state.armed && state.score < model.threshold / 2.0 {
            state.armed = true;
            state.alerts = 0;
        }
        state.alerts += 1;
        state.recent.push(contribution);
        state
            .recent
            .retain(|c| at - c.at <= model.tactic_window.max(model.half_life * 4));
        if state.recent.len() > KEPT {
            state.recent.remove(0);
        }
        // What the contributions within the window name, each once.
        let distinct = |list: fn(&Contribution) -> &Vec<String>| {
            let mut all: Vec<String> = state
                .recent
                .iter()
                .filter(|c| at - c.at <= model.tactic_window)
                .flat_map(|c| list(c).iter().cloned())
                .collect();
            all.sort();
            all.dedup();
            all
        };
        let tactics = distinct(|c| &c.tactics);
        let sources = distinct(|c| &c.sources);
        if !state.armed {
            return None;
        }
        let reason = if total >= model.threshold && standing > 0.0 {
            format!(
                "risk score {total:.0} reached the threshold {:.0} ({standing:.0} from open \
                 vulnerabilities)",
                model.threshold
            )
        } else if total >= model.threshold {
            format!(
                "risk score {total:.0} reached the threshold {:.0}",
                model.threshold
            )
        } else if model.tactics > 0 && tactics.len() >= model.tactics {
            format!(
                "{} ATT&CK tactics within {} hours",
                tactics.len(),
                model.tactic_window / HOUR
            )
        } else if model.sources > 0 && sources.len() >= model.sources {
            format!(
                "alerts from {} log sources within {} hours",
                sources.len(),
                model.tactic_window / HOUR
            )
        } else {
            return None;
        };
        state.armed = false;
        let mut top = state.recent.clone();
        top.extend(state.standing.clone());
        top.sort_by(|a, b| b.points.total_cmp(&a.points).then(a.at.cmp(&b.at)));
        top.truncate(NAMED);
        Some(RiskCrossing {
            kind,
            entity: entity.to_string(),
            score: total,
            at,
            tactics,
            sources,
            reason,
            top,
            alerts: state.alerts,
            vulnerabilities: standing,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn low(n: i64, at: i64) -> Contribution {
        Contribution {
            alert_id: format!("a{n}"),
            rule: "Sudo Failure".into(),
            provenance: None,
            points: 21.0,
            at,
            tactics: vec!["TA0004".into()],
            sources: vec!["system.auth".into()],
        }
    }

    #[test]
    fn ten_lows_on_one_host_cross_and_ten_hosts_do_not() {
        let mut one = RiskLedger::default();
        let crossings: Vec<RiskCrossing> = (0..10)
            .filter_map(|n| one.add("host", "web1", low(n, n * HOUR)))
            .collect();
        assert_eq!(crossings.len(), 1);
        // 21 + decayed earlier ones passes 100 at the sixth alert.
        assert_eq!(crossings[0].alerts, 6);
        assert!(crossings[0].score >= 100.0);
        let mut spread = RiskLedger::default();
        assert!((0..10)
            .filter_map(|n| spread.add("host", &format!("web{n}"), low(n, n * HOUR)))
            .next()
            .is_none());
        // A day and a half later the score has halved and more: the entity is re-armed.
        assert!(one.score("host", "web1", 10 * HOUR + 48 * HOUR) < 50.0);
    }

    #[test]
    fn open_vulnerabilities_bring_a_host_closer_but_never_cross_alone() {
        let model = RiskModel::default();
        // One known-exploited critical (risk 95) and some others: 60 halved... capped at 50.
        assert_eq!(model.vulnerability_points(95.0), 47.5);
        assert_eq!(model.vulnerability_points(400.0), 50.0);
        let exposure = |points: f64| Contribution {
            alert_id: String::new(),
            rule: "open vulnerabilities: CVE-2021-44228".into(),
            provenance: None,
            points,
            at: 0,
            tactics: Vec::new(),
            sources: Vec::new(),
        };
        let mut exposed = RiskLedger::default();
        exposed.expose("host", "web1", exposure(model.vulnerability_points(95.0)));
        assert_eq!(
            exposed.score("host", "web1", 100 * HOUR),
            47.5,
            "it does not decay"
        );
        // Alone it has raised nothing; three lows an hour apart now cross (six without it).
        let crossings: Vec<RiskCrossing> = (0..10)
            .filter_map(|n| exposed.add("host", "web1", low(n, n * HOUR)))
            .collect();
        assert_eq!(crossings.len(), 1);
        assert_eq!(crossings[0].alerts, 3);
        assert_eq!(crossings[0].vulnerabilities, 47.5);
        assert!(crossings[0].score >= 100.0);
        assert!(
            crossings[0]
                .reason
                .ends_with("(48 from open vulnerabilities)"),
            "{}",
            crossings[0].reason
        );
        assert_eq!(
            crossings[0].top[0].rule,
            "open vulnerabilities: CVE-2021-44228"
        );
        // More than half the threshold is never carried.
        let mut capped = RiskLedger::default();
        capped.expose("host", "db1", exposure(500.0));
        assert_eq!(capped.score("host", "db1", 0), 50.0);
        capped.expose("host", "db1", exposure(0.0));
        assert_eq!(
            capped.score("host", "db1", 0),
            0.0,
            "all fixed: nothing stands"
        );
    }

    #[test]
    fn three_log_sources_in_a_day_cross_without_the_score() {
        let mut ledger = RiskLedger::default();
        let mut fired = Vec::new();
        for (n, source) in ["zeek.conn", "windows.security", "zeek.conn", "system.auth"]
            .iter()
            .enumerate()
        {
            let c = Contribution {
                sources: vec![source.to_string()],
                points: 5.0,
                ..low(n as i64, n as i64 * HOUR)
            };
            fired.extend(ledger.add("host", "ws-0042", c));
        }
        assert_eq!(fired.len(), 1, "{fired:?}");
        assert_eq!(
            fired[0].alerts, 4,
            "the third source came with the fourth alert"
        );
        assert_eq!(
            fired[0].sources,
            ["system.auth", "windows.security", "zeek.conn"]
        );
        assert_eq!(fired[0].reason, "alerts from 3 log sources within 24 hours");
        // Two sources a day apart are not three within a day.
        let mut apart = RiskLedger::default();
        for (n, source) in ["zeek.conn", "windows.security", "system.auth"]
            .iter()
            .enumerate()
        {
            let c = Contribution {
                sources: vec![source.to_string()],
                points: 5.0,
                ..low(n as i64, n as i64 * 25 * HOUR)
            };
            assert!(apart.add("host", "ws-0042", c).is_none());
        }
    }

    #[test]
    fn three_tactics_in_a_day_cross_without_the_score() {
        let mut ledger = RiskLedger::default();
        let mut fired = None;
        for (n, tactic) in ["TA0001", "TA0002", "TA0008"].iter().enumerate() {
            let c = Contribution {
                tactics: vec![tactic.to_string()],
                points: 5.0,
                ..low(n as i64, n as i64 * HOUR)
            };
            fired = fired.or(ledger.add("user", "alice", c));
        }
        let fired = fired.unwrap();
        assert_eq!(fired.tactics, ["TA0001", "TA0002", "TA0008"]);
        assert!(
            fired.reason.contains("3 ATT&CK tactics"),
            "{}",
            fired.reason
        );
    }
}
