//! Entities for operations: the asset and identity inventory read and checked, and a resolver that has
//! learned from logs what they say about hosts, addresses and users.

use std::path::{Path, PathBuf};

use secops_entity::{Inventory, Resolver};
use secops_ingest::{Input, Options};

use crate::spill::{Hit, Sorter};
use crate::ServiceError;

/// Reads and checks an inventory: a file (TOML, or CSV by its name), or a folder whose `.toml` and
/// `.csv` files are read as one inventory, in name order.
pub fn load_inventory(path: &Path) -> Result<Inventory, ServiceError> {
    load_inventories(&[path.to_path_buf()])
}

/// Reads several inventory files or folders and checks them as one (an id, name, alias or address
/// claimed twice is reported across files too).
pub fn load_inventories(paths: &[PathBuf]) -> Result<Inventory, ServiceError> {
    let read = |path: &Path| {
        std::fs::read_to_string(path).map_err(|source| ServiceError::Read {
            path: path.to_path_buf(),
            source,
        })
    };
    let mut files: Vec<(String, String)> = Vec::new();
    for path in paths {
        if path.is_dir() {
            let listing = std::fs::read_dir(path).map_err(|source| ServiceError::Read {
                path: path.clone(),
                source,
            })?;
            let mut found: Vec<PathBuf> = listing
                .filter_map(|entry| entry.ok().map(|e| e.path()))
                .filter(|p| {
                    p.is_file()
                        && p.extension().and_then(|e| e.to_str()).is_some_and(|e| {
                            e.eq_ignore_ascii_case("toml") || e.eq_ignore_ascii_case("csv")
                        })
                })
                .collect();
            found.sort();
            if found.is_empty() {
                return Err(ServiceError::Inventory(vec![
                    secops_entity::InventoryError {
                        file: path.display().to_string(),
                        line: None,
                        message: "a folder without .toml or .csv inventory files".into(),
                    },
                ]));
            }
            for file in found {
                files.push((file.display().to_string(), read(&file)?));
            }
        } else {
            files.push((path.display().to_string(), read(path)?));
        }
    }
    let refs: Vec<(&str, &str)> = files
        .iter()
        .map(|(f, t)| (f.as_str(), t.as_str()))
        .collect();
    Inventory::parse_all(&refs).map_err(ServiceError::Inventory)
}

/// A resolver and what it learned from.
#[derive(Debug)]
pub struct Learned {
    pub resolver: Resolver,
    pub inputs: usize,
    pub events: u64,
    /// Events that carried evidence (DHCP leases, logons, Kerberos and NTLM authentications).
    pub evidence: usize,
    pub rejected: u64,
    /// Inputs that could not be read, each with the reason (the others were read).
    pub unreadable: Vec<String>,
    /// Sorting the evidence on disk went wrong (it was kept in memory, or some could not be read back).
    pub problem: Option<String>,
}

/// Builds a resolver from an inventory (none: an empty one) and the logs: evidence is learned in event
/// time order across all inputs; every other event only counts for first and last seen.
pub fn learn(
    inventory: Option<&Path>,
    inputs: &[Input],
    options: &Options,
) -> Result<Learned, ServiceError> {
    let inventory = match inventory {
        Some(path) => load_inventory(path)?,
        None => Inventory::default(),
    };
    let mut learned = Learned {
        resolver: Resolver::new(inventory),
        inputs: inputs.len(),
        events: 0,
        evidence: 0,
        rejected: 0,
        unreadable: Vec::new(),
        problem: None,
    };
    // Evidence is learned in time order across inputs: sorted in bounded memory (runs on disk, as
    // detection sorts the selected events of many inputs), however many logons the logs hold.
    let mut evidence = Sorter::default();
    for input in inputs {
        let read = secops_ingest::read_input(input, options, &mut |record| match record {
            Ok(event) => {
                learned.events += 1;
                if Resolver::carries_evidence(&event) {
                    learned.evidence += 1;
                    evidence.push(Hit {
                        event,
                        rules: Vec::new(),
                        evidence: true,
                    });
                } else {
                    learned.resolver.learn(&event);
                }
            }
            Err(_) => learned.rejected += 1,
        });
        if let Err(e) = read {
            learned.unreadable.push(e.to_string());
        }
    }
    let resolver = &mut learned.resolver;
    learned.problem = evidence.drain(&mut |hit| resolver.learn(&hit.event));
    Ok(learned)
}

/// An entity's risk as the store has it, at a time.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredRisk {
    pub score: f64,
    /// When it is taken (the time asked for, else the latest contribution's).
    pub at: i64,
    /// Contributions counted (within ten half-lives before `at`).
    pub alerts: usize,
    /// Rules by the points they added (decayed to `at`), most first.
    pub rules: Vec<(String, f64)>,
    /// What a host's open vulnerability findings add (in `score`; they stand while open, so as
    /// they are now), and what they are.
    pub vulnerabilities: Option<secops_entity::Contribution>,
}

/// The stored risk of a host or user (`kind`), at `at` or at its latest contribution, a host's open
/// vulnerability findings counted; `None` when it has no contributions and, at the time asked, no
/// open findings.
pub fn stored_risk(
    store: &mut secops_store::Store,
    kind: &str,
    entity: &str,
    at: Option<i64>,
    model: &secops_entity::RiskModel,
) -> Result<Option<StoredRisk>, ServiceError> {
    let until = at.map_or(i64::MAX, |t| t.saturating_add(1));
    let all = store.risk_contributions(kind, entity, i64::MIN, until)?;
    // Without a time asked, the risk is taken at the latest contribution: none, no risk.
    let Some(at) = at.or(all.last().map(|c| c.at)) else {
        return Ok(None);
    };
    let vulnerabilities = match kind {
        "host" => crate::risk::vulnerability_contribution(store, entity, model, at)?,
        _ => None,
    };
    if all.is_empty() && vulnerabilities.is_none() {
        return Ok(None);
    }
    let since = at.saturating_sub(model.half_life.saturating_mul(10));
    let mut score = 0.0;
    let mut alerts = 0;
    let mut rules: Vec<(String, f64)> = Vec::new();
    for c in all.iter().filter(|c| c.at >= since) {
        let points = model.decayed(c.points, c.at, at);
        score += points;
        alerts += 1;
        match rules.iter_mut().find(|(r, _)| *r == c.rule) {
            Some((_, p)) => *p += points,
            None => rules.push((c.rule.clone(), points)),
        }
    }
    rules.sort_by(|a, b| b.1.total_cmp(&a.1));
    score += vulnerabilities.as_ref().map_or(0.0, |v| v.points);
    Ok(Some(StoredRisk {
        score,
        at,
        alerts,
        rules,
        vulnerabilities,
    }))
}

/// `stored_risk` as a page shows it: at `at` when asked, else at the latest contribution, else (a host
/// with open findings and no alerts) now.
pub fn current_risk(
    store: &mut secops_store::Store,
    kind: &str,
    entity: &str,
    at: Option<i64>,
    now: i64,
    model: &secops_entity::RiskModel,
) -> Result<Option<StoredRisk>, ServiceError> {
    match stored_risk(store, kind, entity, at, model)? {
        None if at.is_none() => stored_risk(store, kind, entity, Some(now), model),
        risk => Ok(risk),
    }
}

/// The entities of a kind (`host`, `user`) with the highest risk at `at`, highest first, at most
/// `limit`. Candidates are those with most points recorded over the ten half-lives before `at`
/// (three times `limit` of them), then ranked by their risk decayed to `at`.
pub fn risk_leaders(
    store: &mut secops_store::Store,
    kind: &str,
    at: i64,
    model: &secops_entity::RiskModel,
    limit: u32,
) -> Result<Vec<(String, StoredRisk)>, ServiceError> {
    let since = at.saturating_sub(model.half_life.saturating_mul(10));
    let candidates = store.risk_leaders(kind, since, limit.saturating_mul(3))?;
    let mut out = Vec::new();
    for candidate in candidates {
        if let Some(risk) = stored_risk(store, kind, &candidate.entity, Some(at), model)? {
            if risk.alerts > 0 {
                out.push((candidate.entity, risk));
            }
        }
    }
    out.sort_by(|a, b| b.1.score.total_cmp(&a.1.score).then_with(|| a.0.cmp(&b.0)));
    out.truncate(limit as usize);
    Ok(out)
}
