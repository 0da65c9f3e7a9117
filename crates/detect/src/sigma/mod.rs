//! Sigma rules in the engine: each rule compiled per log-source target ([`mapping`], [`mod@compile`]) into
//! one indexed [`SigmaSet`]; correlation rules ([`correlation`]) run on the stateful side over the matches
//! of the rules they reference.

pub mod compile;
pub mod correlation;
pub mod mapping;
pub mod set;
mod text;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use secops_rules::sigma::tags::attack_from_tags;
use secops_rules::sigma::{Meta, SigmaCorrelation, SigmaDocument, SigmaRule};
use secops_rules::{LogSource, RuleType, Severity};

use crate::alert::RuleInfo;
pub use correlation::{CorrelationError, CorrelationState, Ref, RefSpec};
pub use mapping::{Mapping, MappingError, Target};
pub use set::SigmaSet;

/// A Sigma document that cannot run, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejected {
    pub file: PathBuf,
    pub title: String,
    pub reason: String,
    /// A rule's log source (correlations have none).
    pub logsource: Option<LogSource>,
}

/// What the static field check could say of a rule that loaded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FieldCheck {
    /// Every target it runs on lists the fields its events carry, and the rule finds there the
    /// fields a match needs.
    Proven,
    /// It runs on targets whose events' fields the mapping does not list (named): the fields it reads
    /// could not be checked there.
    Unverified(Vec<String>),
}

impl FieldCheck {
    /// The check of a rule running on `targets`.
    pub fn of(targets: &[Target]) -> FieldCheck {
        let mut unlisted: Vec<String> = targets
            .iter()
            .filter(|t| t.event_fields().is_none())
            .map(Target::label)
            .collect();
        unlisted.dedup();
        if unlisted.is_empty() {
            FieldCheck::Proven
        } else {
            FieldCheck::Unverified(unlisted)
        }
    }

    /// Proven when every check is.
    fn all<'a>(checks: impl IntoIterator<Item = &'a FieldCheck>) -> FieldCheck {
        let mut unlisted: Vec<String> = Vec::new();
        for check in checks {
            if let FieldCheck::Unverified(labels) = check {
                for label in labels {
                    if !unlisted.contains(label) {
                        unlisted.push(label.clone());
                    }
                }
            }
        }
        if unlisted.is_empty() {
            FieldCheck::Proven
        } else {
            FieldCheck::Unverified(unlisted)
        }
    }

    pub fn as_str(&self) -> &'static str {
        match self {
            FieldCheck::Proven => "proven",
            FieldCheck::Unverified(_) => "unverified",
        }
    }
}

/// Sigma rules compiled for the engine: base rules (in [`SigmaSet`] order) and correlations.
#[derive(Debug, Default)]
pub struct CompiledSigma {
    pub set: SigmaSet,
    pub rules: Vec<Arc<RuleInfo>>,
    /// Each base rule's log source (in `rules` order).
    pub logsources: Vec<LogSource>,
    /// Each base rule's field check (in `rules` order).
    pub checks: Vec<FieldCheck>,
    /// What each base rule says about alert aggregation (in `rules` order).
    pub declared: Vec<crate::Declared>,
    /// Base rules referenced by a correlation that does not `generate` them: they match but do not alert.
    pub silent: Vec<bool>,
    /// Correlations in dependency order (a chained correlation after those it references).
    pub correlations: Vec<CompiledCorrelation>,
    pub rejected: Vec<Rejected>,
    /// The mapping the rules were compiled with (`None`: the bundled one); native rules in the Sigma
    /// language compile with the same.
    pub mapping: Option<Arc<Mapping>>,
}

/// A compiled correlation rule.
#[derive(Debug)]
pub struct CompiledCorrelation {
    pub info: Arc<RuleInfo>,
    pub state: CorrelationState,
    /// Referenced by another correlation that does not `generate` it: it fires without alerting.
    pub silent: bool,
    /// Proven when every rule it counts is.
    pub check: FieldCheck,
    /// What it says about alert aggregation.
    pub declared: crate::Declared,
}

const HINT: &str =
    "if your logs carry them, list them under event_fields in a --sigma-mapping file";

/// Why a Sigma rule cannot run here.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SigmaCompileError {
    /// Its log source has nowhere to run.
    #[error(transparent)]
    Mapping(#[from] MappingError),
    /// On every target, events lack fields its every match needs (each reason names the target).
    #[error("can never match: {}; {HINT}", .0.join("; "))]
    NeverMatches(Vec<String>),
    /// On every target, some search loses all effect for want of a field.
    #[error("{}; {HINT}", .0.join("; "))]
    SearchesDead(Vec<String>),
    #[error("invalid CIDR block {0:?}")]
    Cidr(String),
}

/// Compiles documents against a log-source mapping. Rules that cannot run are returned in `rejected`.
pub fn compile(documents: &[SigmaDocument], mapping: &Mapping) -> CompiledSigma {
    let mut out = CompiledSigma {
        mapping: Some(Arc::new(mapping.clone())),
        ..CompiledSigma::default()
    };
    let mut units = Vec::new();
    let mut base: Vec<&SigmaRule> = Vec::new();
    let mut targets_of: Vec<Vec<Target>> = Vec::new();
    for document in documents {
        let SigmaDocument::Rule(rule) = document else {
            continue;
        };
        let index = base.len() as u32;
        let compiled = mapping
            .resolve(&rule.logsource)
            .map_err(SigmaCompileError::from)
            .and_then(|targets| {
                let targets = reachable(rule, targets)?;
                let compiled = targets
                    .iter()
                    .map(|t| compile::compile(rule, index, t))
                    .collect::<Result<Vec<_>, _>>()?;
                Ok((targets, compiled))
            });
        match compiled {
            Ok((targets, compiled)) => {
                units.extend(compiled);
                base.push(rule);
                out.checks.push(FieldCheck::of(&targets));
                targets_of.push(targets);
                out.logsources.push(rule.logsource.clone());
                out.declared
                    .push(crate::Declared::of_sigma(rule.meta.aggregation.as_ref()));
                out.rules.push(Arc::new(info(
                    &rule.meta,
                    rule.file.clone(),
                    RuleType::Query,
                )));
            }
            Err(reason) => out.rejected.push(Rejected {
                file: rule.file.clone(),
                title: rule.meta.title.clone(),
                reason: reason.to_string(),
                logsource: Some(rule.logsource.clone()),
            }),
        }
    }
    out.silent = vec![false; base.len()];
    out.set = SigmaSet::new(units);
    // Correlations: names and ids of everything that can be referenced.
    let correlations: Vec<&SigmaCorrelation> = documents
        .iter()
        .filter_map(|d| match d {
            SigmaDocument::Correlation(c) => Some(c),
            SigmaDocument::Rule(_) => None,
        })
        .collect();
    let mut names: HashMap<&str, Reference> = HashMap::new();
    for (i, rule) in base.iter().enumerate() {
        for key in [rule.meta.id.as_deref(), rule.meta.name.as_deref()]
            .into_iter()
            .flatten()
        {
            names.insert(key, Reference::Rule(i));
        }
    }
    for (i, c) in correlations.iter().enumerate() {
        for key in [c.meta.id.as_deref(), c.meta.name.as_deref()]
            .into_iter()
            .flatten()
        {
            names.insert(key, Reference::Correlation(i));
        }
    }
    // Order correlations so each comes after the correlations it references; cycles are rejected.
    let mut order: Vec<usize> = Vec::new();
    let mut state = vec![0u8; correlations.len()];
    let mut failed: HashMap<usize, String> = HashMap::new();
    for i in 0..correlations.len() {
        visit(
            i,
            &correlations,
            &names,
            &mut state,
            &mut order,
            &mut failed,
        );
    }
    let mut position: HashMap<usize, usize> = HashMap::new();
    for i in order {
        let c = correlations[i];
        let reject = |out: &mut CompiledSigma, reason: String| {
            out.rejected.push(Rejected {
                file: c.file.clone(),
                title: c.meta.title.clone(),
                reason,
                logsource: None,
            })
        };
        if let Some(reason) = failed.get(&i) {
            reject(&mut out, reason.clone());
            continue;
        }
        let mut specs = Vec::new();
        let mut bases = Vec::new();
        let mut problem = None;
        for name in &c.rules {
            match names.get(name.as_str()) {
                Some(Reference::Rule(r)) => {
                    specs.push(RefSpec {
                        reference: Ref::Rule(*r as u32),
                        target: targets_of.get(*r).and_then(|t| t.first()).cloned(),
                        name: base[*r].meta.name.clone(),
                        id: base[*r].meta.id.clone(),
                    });
                    bases.push(*r as u32);
                }
                Some(Reference::Correlation(k)) => match position.get(k) {
                    Some(&p) => {
                        let inner = &out.correlations[p].state;
                        let target = inner
                            .bases()
                            .first()
                            .and_then(|&r| targets_of.get(r as usize))
                            .and_then(|t| t.first())
                            .cloned();
                        bases.extend_from_slice(inner.bases());
                        specs.push(RefSpec {
                            reference: Ref::Correlation(p as u32),
                            target,
                            name: correlations[*k].meta.name.clone(),
                            id: correlations[*k].meta.id.clone(),
                        });
                    }
                    None => {
                        problem = Some(format!("references correlation '{name}', which cannot run"))
                    }
                },
                None => {
                    problem = Some(format!(
                        "references '{name}', which is not a loaded rule (by id or name)"
                    ))
                }
            }
        }
        bases.sort_unstable();
        bases.dedup();
        let built = match problem {
            Some(reason) => Err(reason),
            None => CorrelationState::new(c, specs, bases).map_err(|e| e.to_string()),
        };
        match built {
            Ok(state) => {
                if !c.generate {
                    for reference in state.refs() {
                        match reference {
                            Ref::Rule(r) => {
                                if let Some(s) = out.silent.get_mut(*r as usize) {
                                    *s = true;
                                }
                            }
                            Ref::Correlation(p) => {
                                if let Some(inner) = out.correlations.get_mut(*p as usize) {
                                    inner.silent = true;
                                }
                            }
                            // Sigma files reference Sigma rules only.
                            Ref::Engine(_) => {}
                        }
                    }
                }
                position.insert(i, out.correlations.len());
                let check = FieldCheck::all(
                    state
                        .bases()
                        .iter()
                        .filter_map(|&r| out.checks.get(r as usize)),
                );
                out.correlations.push(CompiledCorrelation {
                    info: Arc::new(info(&c.meta, c.file.clone(), RuleType::Correlation)),
                    state,
                    silent: false,
                    check,
                    declared: crate::Declared::of_sigma(c.meta.aggregation.as_ref()),
                });
            }
            Err(reason) => reject(&mut out, reason),
        }
    }
    out
}

/// One rule's detection on its own (a native rule with `language = "sigma"`): its targets through
/// `mapping`, checked for reach as Sigma files are, indexed in a set of its own.
pub fn compile_detection(
    rule: &SigmaRule,
    mapping: &Mapping,
) -> Result<SigmaSet, SigmaCompileError> {
    let targets = reachable(rule, mapping.resolve(&rule.logsource)?)?;
    let units = targets
        .iter()
        .map(|t| compile::compile(rule, 0, t))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(SigmaSet::new(units))
}

/// The targets on which the rule can match, given the fields their events carry. An error when there
/// are none, or when on every one a search of carried fields loses all effect for want of a field:
/// such a rule was written for events that carry more (enriched logs), and would not do here what it
/// says.
fn reachable(rule: &SigmaRule, targets: Vec<Target>) -> Result<Vec<Target>, SigmaCompileError> {
    let mut kept = Vec::new();
    let mut never = Vec::new();
    let mut dead = Vec::new();
    let mut whole = false;
    for target in targets {
        match compile::reach(rule, &target) {
            compile::Reach::Full => {
                whole = true;
                kept.push(target);
            }
            compile::Reach::Never { fields } => never.push(format!(
                "{} events carry no {}",
                target.label(),
                fields.join(", ")
            )),
            compile::Reach::Dead { searches, fields } => {
                dead.push(format!(
                    "{} can never take effect on {} events, which carry no {}",
                    searches.join(", "),
                    target.label(),
                    fields.join(", ")
                ));
                kept.push(target);
            }
        }
    }
    if kept.is_empty() {
        return Err(SigmaCompileError::NeverMatches(never));
    }
    if !whole {
        return Err(SigmaCompileError::SearchesDead(dead));
    }
    Ok(kept)
}

#[derive(Debug, Clone, Copy)]
enum Reference {
    Rule(usize),
    Correlation(usize),
}

fn visit(
    i: usize,
    correlations: &[&SigmaCorrelation],
    names: &HashMap<&str, Reference>,
    state: &mut [u8],
    order: &mut Vec<usize>,
    failed: &mut HashMap<usize, String>,
) {
    match state[i] {
        2 => return,
        1 => {
            failed.insert(i, "correlation references form a cycle".into());
            return;
        }
        _ => {}
    }
    state[i] = 1;
    for name in &correlations[i].rules {
        if let Some(Reference::Correlation(k)) = names.get(name.as_str()) {
            if state[*k] == 1 {
                failed.insert(
                    i,
                    format!("correlation references form a cycle through '{name}'"),
                );
                continue;
            }
            visit(*k, correlations, names, state, order, failed);
        }
    }
    state[i] = 2;
    order.push(i);
}

/// Alert metadata from a Sigma document: id, title, authors, level, ATT&CK from tags.
fn info(meta: &Meta, file: PathBuf, rule_type: RuleType) -> RuleInfo {
    let (severity, risk_score) = match meta.level.as_deref() {
        Some("critical") => (Severity::Critical, 99),
        Some("high") => (Severity::High, 73),
        Some("medium") => (Severity::Medium, 47),
        Some("low") => (Severity::Low, 21),
        Some("informational") => (Severity::Informational, 5),
        // no level
        _ => (Severity::Low, 5),
    };
    let id = meta.id.clone().unwrap_or_else(|| {
        file.file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default()
    });
    RuleInfo {
        id,
        name: meta.title.clone(),
        author: meta.authors(),
        version: 1,
        rule_type,
        severity,
        risk_score,
        threat: attack_from_tags(&meta.tags),
        tags: meta.tags.clone(),
    }
}
