//! What the rules claim of ATT&CK (for `secops-attack`'s coverage), and which rules the logs one has
//! can feed at all (the visibility gap).

use std::collections::BTreeMap;

use secops_attack::coverage::RuleMapping;
use secops_detect::sigma::CompiledSigma;
use secops_detect::{LogSourceFilter, RuleInfo};
use secops_event::Event;
use secops_rules::CheckedRule;

/// The ATT&CK claims of every rule: native rules (tested when they carry cases), Sigma rules and
/// Sigma correlations.
pub fn mappings(native: &[CheckedRule], sigma: &CompiledSigma) -> Vec<RuleMapping> {
    let mut out: Vec<RuleMapping> = native
        .iter()
        .map(|rule| mapping(&RuleInfo::of_rule(rule), !rule.file.tests.is_empty()))
        .collect();
    out.extend(sigma.rules.iter().map(|info| mapping(info, false)));
    out.extend(sigma.correlations.iter().map(|c| mapping(&c.info, false)));
    out
}

fn mapping(info: &RuleInfo, tested: bool) -> RuleMapping {
    let mut techniques = Vec::new();
    for threat in &info.threat {
        let tactic = (!threat.tactic.id.is_empty()).then(|| threat.tactic.id.clone());
        for technique in &threat.technique {
            techniques.push((tactic.clone(), technique.id.clone()));
            for sub in &technique.subtechnique {
                techniques.push((tactic.clone(), sub.id.clone()));
            }
        }
    }
    RuleMapping {
        id: info.id.clone(),
        name: info.name.clone(),
        tested,
        techniques,
    }
}

/// Which rules sample logs can feed: each rule's log source (Sigma rules through their routing) is
/// checked against every event seen.
#[derive(Debug)]
pub struct Visibility<'a> {
    native: &'a [CheckedRule],
    sigma: &'a CompiledSigma,
    filters: Vec<LogSourceFilter>,
    native_seen: Vec<bool>,
    sigma_seen: Vec<bool>,
    routed: Vec<u32>,
}

impl<'a> Visibility<'a> {
    pub fn new(native: &'a [CheckedRule], sigma: &'a CompiledSigma) -> Self {
        Visibility {
            native,
            sigma,
            filters: native
                .iter()
                .map(|r| LogSourceFilter::new(&r.file.rule.log_source))
                .collect(),
            native_seen: vec![false; native.len()],
            sigma_seen: vec![false; sigma.rules.len()],
            routed: Vec::new(),
        }
    }

    pub fn see(&mut self, event: &Event) {
        for (seen, filter) in self.native_seen.iter_mut().zip(&self.filters) {
            *seen = *seen || filter.matches(event);
        }
        self.routed.clear();
        self.sigma.set.routed(event, &mut self.routed);
        for &r in &self.routed {
            if let Some(seen) = self.sigma_seen.get_mut(r as usize) {
                *seen = true;
            }
        }
    }

    /// How many rules were checked.
    pub fn rules(&self) -> usize {
        self.native_seen.len() + self.sigma_seen.len()
    }

    /// The rules no event reached, by log source (`product / category / service`), the largest group
    /// first.
    pub fn blind(&self) -> Vec<(String, Vec<&'a str>)> {
        let mut blind: BTreeMap<String, Vec<&'a str>> = BTreeMap::new();
        for (rule, seen) in self.native.iter().zip(&self.native_seen) {
            if !seen {
                blind
                    .entry(rule.file.rule.log_source.label())
                    .or_default()
                    .push(&rule.file.rule.name);
            }
        }
        let sigma = self.sigma.rules.iter().zip(&self.sigma.logsources);
        for ((info, source), seen) in sigma.zip(&self.sigma_seen) {
            if !seen {
                blind.entry(source.label()).or_default().push(&info.name);
            }
        }
        let mut sources: Vec<(String, Vec<&str>)> = blind.into_iter().collect();
        sources.sort_by(|a, b| b.1.len().cmp(&a.1.len()).then_with(|| a.0.cmp(&b.0)));
        sources
    }

    /// Rules across log sources (correlations over rules of more than one source) that miss one of
    /// their sources in these logs: each with the sources no event reached.
    pub fn partial(&self) -> Vec<(&'a str, Vec<String>)> {
        let (sigma, native): (&'a CompiledSigma, &'a [CheckedRule]) = (self.sigma, self.native);
        let mut out = Vec::new();
        let mut judge = |name: &'a str, bases: Vec<(String, bool)>| {
            let mut sources: BTreeMap<String, bool> = BTreeMap::new();
            for (label, seen) in bases {
                *sources.entry(label).or_default() |= seen;
            }
            let missing: Vec<String> = sources
                .iter()
                .filter(|(_, seen)| !**seen)
                .map(|(label, _)| label.clone())
                .collect();
            if sources.len() > 1 && !missing.is_empty() {
                out.push((name, missing));
            }
        };
        for c in &sigma.correlations {
            let bases = c
                .state
                .bases()
                .iter()
                .filter_map(|&b| {
                    let b = b as usize;
                    Some((sigma.logsources.get(b)?.label(), *self.sigma_seen.get(b)?))
                })
                .collect();
            judge(&c.info.name, bases);
        }
        for rule in native {
            let Some(correlation) = &rule.correlation else {
                continue;
            };
            let bases =
                correlation
                    .rules
                    .iter()
                    .filter_map(|reference| {
                        let native = self.native.iter().zip(&self.native_seen).find(|(r, _)| {
                            r.file.rule.id == *reference || r.file.rule.name == *reference
                        });
                        if let Some((r, seen)) = native {
                            return Some((r.file.rule.log_source.label(), *seen));
                        }
                        let (i, _) =
                            self.sigma.rules.iter().enumerate().find(|(_, info)| {
                                info.id == *reference || info.name == *reference
                            })?;
                        Some((
                            self.sigma.logsources.get(i)?.label(),
                            *self.sigma_seen.get(i)?,
                        ))
                    })
                    .collect();
            judge(&rule.file.rule.name, bases);
        }
        out
    }
}
