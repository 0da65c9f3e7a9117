//! Alerts: what a rule found, with everything an analyst needs to act and trace it back.

use std::sync::Arc;

use secops_event::{Event, Provenance, Timestamp};
use secops_rules::{CheckedRule, RuleType, Severity, Threat};

/// Events kept whole in an alert; the provenance of up to [`MAX_PROVENANCE`] is kept besides.
pub const MAX_EVENTS: usize = 10;
pub const MAX_PROVENANCE: usize = 1000;

/// The rule behind an alert (shared by all its alerts).
#[derive(Debug, Clone)]
pub struct RuleInfo {
    pub id: String,
    pub name: String,
    pub author: Vec<String>,
    pub version: u32,
    pub rule_type: RuleType,
    pub severity: Severity,
    pub risk_score: u8,
    pub threat: Vec<Threat>,
    /// The rule's own tags (Sigma's `tags`, a TOML rule's `tags`), as written.
    pub tags: Vec<String>,
}

impl RuleInfo {
    /// The alert metadata of a native (TOML) rule, at its locked version.
    pub fn of_rule(checked: &CheckedRule) -> RuleInfo {
        let rule = &checked.file.rule;
        RuleInfo {
            id: rule.id.clone(),
            name: rule.name.clone(),
            author: rule.author.clone(),
            version: checked.version,
            rule_type: rule.rule_type,
            severity: rule.severity,
            risk_score: rule.risk_score,
            threat: rule.threat.clone(),
            tags: rule.tags.clone(),
        }
    }

    /// ATT&CK technique and sub-technique ids, in order.
    pub fn techniques(&self) -> Vec<&str> {
        self.threat
            .iter()
            .flat_map(|t| &t.technique)
            .flat_map(|t| {
                std::iter::once(t.id.as_str()).chain(t.subtechnique.iter().map(|s| s.id.as_str()))
            })
            .collect()
    }

    pub fn tactics(&self) -> Vec<&str> {
        self.threat.iter().map(|t| t.tactic.id.as_str()).collect()
    }
}

#[derive(Debug, Clone)]
pub struct Alert {
    pub id: String,
    pub rule: Arc<RuleInfo>,
    /// The time of the last event that made the alert.
    pub timestamp: Timestamp,
    pub first: Timestamp,
    /// Group-by fields and their values (threshold rules).
    pub group: Vec<(String, String)>,
    /// Events counted (weighted by `count_field` for thresholds).
    pub count: u64,
    /// The first events, whole.
    pub events: Vec<Event>,
    /// Where every counted event came from (up to [`MAX_PROVENANCE`]).
    pub provenance: Vec<Provenance>,
    /// Later alerts of the same entity and group folded into this one by alert aggregation
    /// (suppression), and their events.
    pub suppressed: u64,
    pub suppressed_count: u64,
    /// The entity repeats fold by (field and value per slot the event filled), and the window in
    /// nanoseconds: set when the alert opened under aggregation.
    pub entity: Vec<(String, String)>,
    pub window: Option<i64>,
    /// The time of the last event, suppressed ones included.
    pub last_seen: Timestamp,
    /// Indicator matches (`threat_match` rules): the event field and value, and the indicator.
    pub enrichments: Vec<Enrichment>,
    /// The risk of the alert's host and user with this alert counted (set by risk scoring).
    pub risk: Vec<secops_alert::EntityRisk>,
}

/// What an indicator match found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Enrichment {
    /// The event field, and the value in it that matched.
    pub field: String,
    pub atomic: String,
    pub indicator: std::sync::Arc<secops_intel::Indicator>,
}

impl Alert {
    /// An alert of `rule` from its first events, group, count, first and last times and provenance;
    /// its id from the rule, group, first time and first provenance. The engine's rules make them, and
    /// so does what rules' alerts feed (entity risk).
    pub fn new(
        rule: Arc<RuleInfo>,
        events: Vec<Event>,
        group: Vec<(String, String)>,
        count: u64,
        first: Timestamp,
        last: Timestamp,
        provenance: Vec<Provenance>,
    ) -> Self {
        let source = provenance.first().map(|p| p.to_string());
        Alert {
            id: secops_alert::alert_id(&rule.id, &group, first.unix_nanos(), source.as_deref()),
            rule,
            timestamp: last,
            first,
            group,
            count,
            events,
            provenance,
            suppressed: 0,
            suppressed_count: 0,
            entity: Vec::new(),
            window: None,
            last_seen: last,
            enrichments: Vec::new(),
            risk: Vec::new(),
        }
    }

    /// Marks the alert as opened under aggregation: the entity it folds repeats by, and the window.
    pub(crate) fn aggregated(&mut self, entity: &[Option<(String, String)>], window: i64) {
        self.entity = entity.iter().flatten().cloned().collect();
        self.window = Some(window);
    }

    /// Folds a later alert of the same entity and group into this one (alert aggregation): its
    /// count, time, first events while fewer than [`MAX_EVENTS`] are kept, and provenance (the caller
    /// opens a new alert rather than pass [`MAX_PROVENANCE`]).
    pub(crate) fn absorb(&mut self, later: &Alert) {
        self.suppressed += 1;
        self.suppressed_count += later.count;
        self.last_seen = self.last_seen.max(later.timestamp);
        let room = MAX_EVENTS.saturating_sub(self.events.len());
        self.events.extend(later.events.iter().take(room).cloned());
        let room = MAX_PROVENANCE.saturating_sub(self.provenance.len());
        self.provenance
            .extend(later.provenance.iter().take(room).cloned());
        for e in &later.enrichments {
            if !self.enrichments.contains(e) {
                self.enrichments.push(e.clone());
            }
        }
    }

    /// Whether repeats were folded into this alert: raised as [`Raised::Closed`], it then supersedes the
    /// alert first raised with the same id.
    pub fn is_update(&self) -> bool {
        self.suppressed > 0
    }

    /// The group values joined, for display and tests (`203.0.113.7`, `alice|10.0.0.1`); an alert
    /// without group-by values shows the entity it aggregates by.
    pub fn group_key(&self) -> String {
        let pairs = if self.group.is_empty() {
            &self.entity
        } else {
            &self.group
        };
        pairs
            .iter()
            .map(|(_, v)| v.as_str())
            .collect::<Vec<_>>()
            .join("|")
    }
}

/// An alert as it becomes known. A rule with alert suppression raises an alert as `Opened` the moment its
/// condition holds (never delayed by the window), folds repeats of the same group into it for the
/// suppression duration, and raises it again, with the same id, as `Closed` when the window has passed
/// (or the input ends, or the rule holds too many open windows). Every other alert is `Final` at once.
#[derive(Debug, Clone)]
pub enum Raised {
    Final(Alert),
    Opened(Alert),
    Closed(Alert),
}

impl Raised {
    pub fn alert(&self) -> &Alert {
        match self {
            Raised::Final(a) | Raised::Opened(a) | Raised::Closed(a) => a,
        }
    }

    pub fn alert_mut(&mut self) -> &mut Alert {
        match self {
            Raised::Final(a) | Raised::Opened(a) | Raised::Closed(a) => a,
        }
    }

    /// Whether the alert is complete: nothing more will fold into it.
    pub fn is_final(&self) -> bool {
        !matches!(self, Raised::Opened(_))
    }
}

/// Where rules put what they raise (see [`Raised`]).
pub trait AlertSink {
    fn raise(&mut self, raised: Raised);
}

/// The final alerts, in the order they were raised: an `Opened` alert takes its place at once and is
/// replaced by its `Closed` self (for tests and small runs; a stream writes them out instead).
impl AlertSink for Vec<Alert> {
    fn raise(&mut self, raised: Raised) {
        match raised {
            Raised::Final(alert) | Raised::Opened(alert) => self.push(alert),
            Raised::Closed(alert) => match self.iter().rposition(|a| a.id == alert.id) {
                Some(index) => self[index] = alert,
                None => self.push(alert),
            },
        }
    }
}
