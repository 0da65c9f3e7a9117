//! Response metrics from the case event log (shared/reference/ir-intel-vuln.md section 1.5), so they
//! stay right when cases are reopened:
//!
//! | metric | from | to |
//! | --- | --- | --- |
//! | MTTD, time to detect | `incident_start` (earliest malicious activity) | `detected_at` |
//! | MTTA, time to acknowledge | case created | first assignment, or first move to in_progress |
//! | MTTC, time to contain | `detected_at` | first move to eradication (containment done) |
//! | MTTR, time to resolve | case created | last `case_closed` |
//!
//! Reported as count, median and 90th percentile (nearest rank), over all cases and per severity and
//! per playbook. Cases closed as false positive, benign or duplicate are reported apart, not mixed
//! into the response times of real incidents.

use std::collections::BTreeMap;

use secops_store::{CaseEvent, CaseRecord};

/// One case's durations (nanoseconds), where its log has both ends.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CaseTimes {
    pub number: i64,
    pub detect: Option<i64>,
    pub acknowledge: Option<i64>,
    pub contain: Option<i64>,
    pub resolve: Option<i64>,
}

/// The four metrics over a set of cases.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Summary {
    pub cases: usize,
    pub detect: Stat,
    pub acknowledge: Stat,
    pub contain: Stat,
    pub resolve: Stat,
}

/// Count, median and 90th percentile of durations, in nanoseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stat {
    pub n: usize,
    pub median: Option<i64>,
    pub p90: Option<i64>,
}

impl Stat {
    /// Count, median and 90th percentile (nearest rank) of `values`.
    pub fn of(mut values: Vec<i64>) -> Stat {
        values.sort_unstable();
        let rank = |q: f64| -> Option<i64> {
            if values.is_empty() {
                return None;
            }
            // Nearest rank: the smallest value with at least q of the values at or below it.
            let k = ((q * values.len() as f64).ceil() as usize).clamp(1, values.len());
            values.get(k - 1).copied()
        };
        Stat {
            n: values.len(),
            median: rank(0.5),
            p90: rank(0.9),
        }
    }
}

/// The durations of each case.
pub fn case_times(cases: &[CaseRecord], events: &[CaseEvent]) -> Vec<CaseTimes> {
    cases
        .iter()
        .map(|case| {
            let log: Vec<&CaseEvent> = events.iter().filter(|e| e.case_id == case.id).collect();
            let after = |e: &CaseEvent, key: &str| -> Option<serde_json::Value> {
                let doc: serde_json::Value = serde_json::from_str(e.line.after.as_deref()?).ok()?;
                doc.get(key).cloned()
            };
            let moved_to = |state: &str| {
                log.iter()
                    .find(|e| {
                        e.line.kind == "state_changed"
                            && after(e, "state").and_then(|v| v.as_str().map(str::to_string))
                                == Some(state.to_string())
                    })
                    .map(|e| e.line.at)
            };
            let assigned = log
                .iter()
                .find(|e| {
                    e.line.kind == "assignee_changed"
                        && after(e, "assignee").is_some_and(|v| !v.is_null())
                })
                .map(|e| e.line.at);
            let acknowledged = [assigned, moved_to("in_progress")]
                .into_iter()
                .flatten()
                .min();
            let closed = log
                .iter()
                .rev()
                .find(|e| e.line.kind == "case_closed")
                .map(|e| e.line.at);
            let since = |end: Option<i64>, start: Option<i64>| Some(end? - start?);
            CaseTimes {
                number: case.number,
                detect: since(case.detected_at, case.incident_start),
                acknowledge: since(acknowledged, Some(case.created_at)),
                contain: since(moved_to("eradication"), case.detected_at),
                resolve: since(closed, Some(case.created_at)),
            }
        })
        .collect()
}

fn summary(times: &[&CaseTimes]) -> Summary {
    let pick =
        |f: fn(&CaseTimes) -> Option<i64>| Stat::of(times.iter().filter_map(|t| f(t)).collect());
    Summary {
        cases: times.len(),
        detect: pick(|t| t.detect),
        acknowledge: pick(|t| t.acknowledge),
        contain: pick(|t| t.contain),
        resolve: pick(|t| t.resolve),
    }
}

/// The metrics: rows named `all`, `severity=<s>`, `playbook=<p>`, and `false positives` for cases
/// closed as false positive, benign or duplicate (which the other rows leave out).
pub fn report(cases: &[CaseRecord], events: &[CaseEvent]) -> Vec<(String, Summary)> {
    let times = case_times(cases, events);
    let not_incident = |c: &CaseRecord| {
        matches!(
            c.resolution.as_deref(),
            Some("false_positive" | "benign" | "duplicate")
        )
    };
    let mut groups: BTreeMap<String, Vec<&CaseTimes>> = BTreeMap::new();
    let mut all = Vec::new();
    let mut false_positives = Vec::new();
    for (case, t) in cases.iter().zip(&times) {
        if not_incident(case) {
            false_positives.push(t);
            continue;
        }
        all.push(t);
        groups
            .entry(format!("severity={}", case.severity))
            .or_default()
            .push(t);
        groups
            .entry(format!(
                "playbook={}",
                case.playbook.as_deref().unwrap_or("none")
            ))
            .or_default()
            .push(t);
    }
    let mut out = vec![("all".to_string(), summary(&all))];
    out.extend(groups.iter().map(|(k, v)| (k.clone(), summary(v))));
    if !false_positives.is_empty() {
        out.push(("false positives".into(), summary(&false_positives)));
    }
    out
}

/// A duration as people read it: `45s`, `12m`, `3h 20m`, `2d 4h`.
pub fn human(nanos: i64) -> String {
    let s = nanos / 1_000_000_000;
    let (d, h, m) = (s / 86_400, (s % 86_400) / 3600, (s % 3600) / 60);
    match (d, h, m) {
        (0, 0, 0) => format!("{s}s"),
        (0, 0, m) => format!("{m}m"),
        (0, h, 0) => format!("{h}h"),
        (0, h, m) => format!("{h}h {m}m"),
        (d, 0, _) => format!("{d}d"),
        (d, h, _) => format!("{d}d {h}h"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank() {
        let s = Stat::of(vec![5, 1, 4, 2, 3, 10, 9, 8, 7, 6]);
        assert_eq!((s.n, s.median, s.p90), (10, Some(5), Some(9)));
        let one = Stat::of(vec![7]);
        assert_eq!((one.median, one.p90), (Some(7), Some(7)));
        assert_eq!(Stat::of(vec![]).median, None);
        assert_eq!(
            human(3 * 3600 * 1_000_000_000 + 20 * 60 * 1_000_000_000),
            "3h 20m"
        );
        assert_eq!(human(45 * 1_000_000_000), "45s");
        assert_eq!(
            human(2 * 86_400 * 1_000_000_000 + 4 * 3600 * 1_000_000_000),
            "2d 4h"
        );
    }
}
