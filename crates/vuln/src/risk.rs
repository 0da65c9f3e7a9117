//! Prioritisation, two outputs per finding, each shown with its inputs:
//!
//! - the **deadline**: CISA BOD 26-04's timeline (KEV, exposure, automatable, technical impact), or
//!   the severity's SLA when the inputs are not known, the KEV due date when earlier;
//! - the **order**: a continuous score equal to Grype's `risk` (`min(threat × severity × kev, 1) ×
//!   100`, threat 1 in KEV else EPSS) without asset context, multiplied by the asset's criticality
//!   and exposure weights (policy, configurable).

use secops_entity::inventory::{Criticality, Exposure};
use serde::{Deserialize, Serialize};

use crate::cvss::{self, CvssScore};
use crate::finding::{Finding, FindingKind, KevMark, Severity};
use crate::ssvc::{self, Inputs, Timeline};

const DAY: i64 = 86_400 * 1_000_000_000;

/// Grype's midpoint of a severity word (0-10): negligible 0.5, low 3, medium 5, high 7.5,
/// critical 9, unknown 5.
fn severity_midpoint(severity: Severity) -> f64 {
    match severity {
        Severity::None => 0.5,
        Severity::Low => 3.0,
        Severity::Medium => 5.0,
        Severity::High => 7.5,
        Severity::Critical => 9.0,
        Severity::Unknown => 5.0,
    }
}

/// Grype's severity factor (0-1): the mean of the word's midpoint and the mean of the positive
/// CVSS base scores, each over 10; the word alone without scores.
pub fn severity_factor(severity: Severity, scores: &[CvssScore]) -> f64 {
    let word = severity_midpoint(severity) / 10.0;
    let positive: Vec<f64> = scores
        .iter()
        .filter_map(CvssScore::score)
        .filter(|s| *s > 0.0)
        .collect();
    if positive.is_empty() {
        return word;
    }
    let mean = positive.iter().sum::<f64>() / positive.len() as f64;
    (word + mean / 10.0) / 2.0
}

/// Grype's `risk` (0-100) from the finding's severity and CVSS, its KEV entry and EPSS score.
pub fn vuln_risk(
    severity: Severity,
    scores: &[CvssScore],
    kev: Option<&KevMark>,
    epss: Option<f64>,
) -> f64 {
    let threat = if kev.is_some() {
        1.0
    } else {
        epss.unwrap_or(0.0)
    };
    let modifier = match kev {
        Some(k) if k.ransomware => 1.1,
        Some(_) => 1.05,
        None => 1.0,
    };
    (threat * severity_factor(severity, scores) * modifier).min(1.0) * 100.0
}

/// Weights of an asset's criticality and exposure in the score (our policy, configurable).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Weights {
    pub critical: f64,
    pub high: f64,
    pub medium: f64,
    pub low: f64,
    pub internet: f64,
    pub dmz: f64,
    pub internal: f64,
}

impl Default for Weights {
    fn default() -> Weights {
        Weights {
            critical: 1.0,
            high: 0.8,
            medium: 0.6,
            low: 0.4,
            internet: 1.0,
            dmz: 0.8,
            internal: 0.6,
        }
    }
}

impl Weights {
    pub fn criticality(&self, c: Criticality) -> f64 {
        match c {
            Criticality::Critical => self.critical,
            Criticality::High => self.high,
            Criticality::Medium => self.medium,
            Criticality::Low => self.low,
        }
    }

    pub fn exposure(&self, e: Exposure) -> f64 {
        match e {
            Exposure::Internet => self.internet,
            Exposure::Dmz => self.dmz,
            Exposure::Internal => self.internal,
        }
    }
}

/// What the inventory says of a finding's asset (nothing when it does not list it: then both
/// weights are 1 and the score is Grype's `risk`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct AssetContext {
    pub criticality: Option<Criticality>,
    pub exposure: Option<Exposure>,
}

/// Days to remediate by severity (DefectDojo's defaults 7/30/90/120), and for a malicious package.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SlaPolicy {
    pub critical: i64,
    pub high: i64,
    pub medium: i64,
    pub low: i64,
    /// A malicious package is a compromise: remove it now.
    pub malicious: i64,
}

impl Default for SlaPolicy {
    fn default() -> SlaPolicy {
        SlaPolicy {
            critical: 7,
            high: 30,
            medium: 90,
            low: 120,
            malicious: 1,
        }
    }
}

impl SlaPolicy {
    /// Days for a severity; none for informational findings; unknown severity counts as medium.
    pub fn days(&self, severity: Severity) -> Option<i64> {
        match severity {
            Severity::Critical => Some(self.critical),
            Severity::High => Some(self.high),
            Severity::Medium | Severity::Unknown => Some(self.medium),
            Severity::Low => Some(self.low),
            Severity::None => None,
        }
    }
}

/// What the deadline came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeadlineBasis {
    Ssvc,
    Severity,
    KevDue,
    Malicious,
}

impl DeadlineBasis {
    pub fn as_str(self) -> &'static str {
        match self {
            DeadlineBasis::Ssvc => "ssvc",
            DeadlineBasis::Severity => "severity",
            DeadlineBasis::KevDue => "kev due date",
            DeadlineBasis::Malicious => "malicious package",
        }
    }
}

/// A finding's priority with everything it was computed from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Priority {
    /// Grype's `risk` (0-100): no asset context.
    pub vuln_risk: f64,
    pub epss: Option<f64>,
    pub in_kev: bool,
    pub ransomware: bool,
    pub severity_factor: f64,
    pub criticality_weight: f64,
    pub exposure_weight: f64,
    /// `vuln_risk × criticality weight × exposure weight`, two decimals.
    pub risk: f64,
    /// The BOD 26-04 inputs when all are known (automatable and impact from a v3 or v4 vector).
    pub ssvc: Option<Inputs>,
    pub timeline: Option<Timeline>,
    /// Days from first detection to the deadline, and what set it.
    pub sla_days: Option<i64>,
    pub basis: Option<DeadlineBasis>,
    /// The KEV catalog's due date (UTC nanoseconds), when in KEV.
    pub kev_due: Option<i64>,
}

/// What is known of a vulnerability's exploitation beyond the report.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Exploit {
    pub kev: Option<KevMark>,
    pub epss: Option<f64>,
}

/// Prioritises a finding on an asset.
pub fn prioritise(
    finding: &Finding,
    exploit: &Exploit,
    asset: AssetContext,
    weights: &Weights,
    sla: &SlaPolicy,
) -> Priority {
    let kev = exploit.kev.as_ref().or(finding.exploitation.kev.as_ref());
    let epss = exploit
        .epss
        .or(finding.exploitation.epss.as_ref().map(|e| e.score));
    // An asset the inventory does not describe weighs 1: the score is then Grype's own.
    let criticality_weight = asset.criticality.map_or(1.0, |c| weights.criticality(c));
    let exposure_weight = asset.exposure.map_or(1.0, |e| weights.exposure(e));
    let severity_factor = severity_factor(finding.severity, &finding.cvss);
    let vuln_risk = if finding.kind == FindingKind::Malicious {
        100.0
    } else {
        vuln_risk(finding.severity, &finding.cvss, kev, epss)
    };
    let risk = (vuln_risk * criticality_weight * exposure_weight * 100.0).round() / 100.0;
    let preferred = cvss::preferred(&finding.cvss);
    let ssvc = match (
        preferred.and_then(cvss::automatable),
        preferred.and_then(cvss::total_impact),
    ) {
        (Some(automatable), Some(total_impact)) if finding.kind == FindingKind::Vulnerability => {
            Some(Inputs {
                in_kev: kev.is_some(),
                publicly_exposed: asset.exposure == Some(Exposure::Internet),
                automatable,
                total_impact,
            })
        }
        _ => None,
    };
    let timeline = ssvc.map(ssvc::bod_26_04);
    let kev_due = kev
        .and_then(|k| k.due_date.as_deref())
        .and_then(crate::parse_time);
    let (mut sla_days, mut basis) = if finding.kind == FindingKind::Malicious {
        (Some(sla.malicious), Some(DeadlineBasis::Malicious))
    } else {
        match timeline.and_then(Timeline::days) {
            Some(days) => (Some(days), Some(DeadlineBasis::Ssvc)),
            // Fix-on-upgrade and unknown inputs fall back to the severity's SLA.
            None => (
                sla.days(finding.severity),
                sla.days(finding.severity).map(|_| DeadlineBasis::Severity),
            ),
        }
    };
    if kev_due.is_some() && sla_days.is_none() {
        basis = Some(DeadlineBasis::KevDue);
        sla_days = None;
    }
    Priority {
        vuln_risk,
        epss,
        in_kev: kev.is_some(),
        ransomware: kev.is_some_and(|k| k.ransomware),
        severity_factor,
        criticality_weight,
        exposure_weight,
        risk,
        ssvc,
        timeline,
        sla_days,
        basis,
        kev_due,
    }
}

impl Priority {
    /// Why the risk is what it is, in one line: `threat 1 (in KEV) x severity 0.7500 x 1.05 (KEV)`.
    pub fn explain_risk(&self) -> String {
        let threat = if self.in_kev {
            "1 (in KEV)".to_string()
        } else {
            self.epss
                .map_or("0 (no EPSS)".into(), |e| format!("{e} (EPSS)"))
        };
        let modifier = if self.ransomware {
            " x 1.10 (ransomware)"
        } else if self.in_kev {
            " x 1.05 (KEV)"
        } else {
            ""
        };
        format!(
            "threat {threat} x severity {:.4}{modifier}",
            self.severity_factor
        )
    }

    /// Why the deadline is what it is: the BOD 26-04 inputs, or the days and what set them.
    pub fn explain_deadline(&self) -> String {
        match (self.ssvc, self.timeline) {
            (Some(i), Some(t)) => {
                let yes = |b: bool| if b { "yes" } else { "no" };
                format!(
                    "{t} (BOD 26-04: in KEV {}, exposed {}, automatable {}, impact {})",
                    yes(i.in_kev),
                    yes(i.publicly_exposed),
                    yes(i.automatable),
                    if i.total_impact { "total" } else { "partial" }
                )
            }
            _ => format!(
                "{} by {} (BOD 26-04 not decided: no CVSS v3 or v4 vector)",
                self.sla_days
                    .map_or("no days".into(), |d| format!("{d} days")),
                self.basis.map_or("nothing", DeadlineBasis::as_str)
            ),
        }
    }

    /// The deadline (UTC nanoseconds) of a finding first detected at `start`: its SLA days on,
    /// or the KEV due date when earlier.
    pub fn deadline(&self, start: i64) -> Option<i64> {
        let by_days = self
            .sla_days
            .map(|d| start.saturating_add(d.saturating_mul(DAY)));
        match (by_days, self.kev_due) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Whether the KEV due date set the deadline for a finding first detected at `start`.
    pub fn kev_due_wins(&self, start: i64) -> bool {
        match (self.kev_due, self.deadline(start)) {
            (Some(due), Some(deadline)) => due == deadline,
            _ => false,
        }
    }
}
