//! An import's batch of findings in a few set-based statements (a round trip costs more than a
//! row on PostgreSQL): the batch's detections and identities looked up together, new findings,
//! detections, CVEs and history lines inserted many rows a statement, findings seen again and
//! unchanged moved on together; only a finding whose facts changed, or that reopens, is updated
//! on its own.

use std::collections::HashMap;

use crate::backend::{Row, Tx, Value};
use crate::vulns::{due_at, event, priority_params, Imported, NewFinding};
use crate::StoreError;

/// Rows per multi-row statement (SQLite allows 32,766 parameters, PostgreSQL 65,535).
const ROWS: usize = 400;

struct Known {
    id: i64,
    status: String,
    tools: String,
    sla_start: i64,
    paused: i64,
    resolution: Option<String>,
    document: String,
    advisory: Option<String>,
    owner: Option<String>,
    detail: String,
    severity: String,
    fix_state: String,
    title: String,
}

fn known_of(row: &Row) -> Result<(String, Known), StoreError> {
    Ok((
        row.text(1)?,
        Known {
            id: row.int(0)?,
            status: row.text(2)?,
            tools: row.text(3)?,
            sla_start: row.int(4)?,
            paused: row.int(5)?,
            resolution: row.opt_text(6)?,
            document: row.text(7)?,
            detail: row.text(8)?,
            severity: row.text(9)?,
            fix_state: row.text(10)?,
            title: row.text(11)?,
            advisory: row.opt_text(12)?,
            owner: row.opt_text(13)?,
        },
    ))
}

const KNOWN: &str = "SELECT id, identity, status, tools, sla_start, paused, resolution, document, \
    priority, severity, fix_state, title, advisory, owner FROM vuln_findings";

/// Where each finding of the batch goes.
enum Target {
    /// A finding in the store (by id), its detection known (its id and record) or not.
    Stored(i64, Option<(i64, String)>),
    /// A finding new in this batch (by its index among the new ones).
    New(usize),
}

fn marks(n: usize) -> String {
    vec!["?"; n].join(", ")
}

pub(crate) fn import_batch(
    tx: &mut dyn Tx,
    import: i64,
    findings: &[NewFinding],
    actor: &str,
    now: i64,
) -> Result<Vec<Imported>, StoreError> {
    // 1. The detections the batch's tools already have, by (tool, scope, key).
    let mut detections: HashMap<(String, String, String), (i64, i64, String)> = HashMap::new();
    let mut by_scope: HashMap<(&str, &str), Vec<&str>> = HashMap::new();
    for f in findings {
        by_scope
            .entry((&f.tool, &f.scope))
            .or_default()
            .push(&f.detection_key);
    }
    // By key alone: PostgreSQL's generic plan for `tool = ? AND scope = ? AND key IN (...)` walks
    // the whole scope through its index instead; the tool and scope are checked here.
    for ((tool, scope), keys) in &by_scope {
        for chunk in keys.chunks(ROWS) {
            let sql = format!(
                "SELECT id, finding_id, detection_key, record, tool, scope FROM vuln_detections \
                 WHERE detection_key IN ({})",
                marks(chunk.len())
            );
            let params: Vec<Value> = chunk.iter().map(|k| Value::from(*k)).collect();
            for row in tx.query(&sql, &params)? {
                if row.text(4)? != *tool || row.text(5)? != *scope {
                    continue;
                }
                detections.insert(
                    (tool.to_string(), scope.to_string(), row.text(2)?),
                    (row.int(0)?, row.int(1)?, row.text(3)?),
                );
            }
        }
    }
    // 2. The findings they belong to, and those of the batch's identities.
    let mut known: HashMap<String, Known> = HashMap::new();
    let ids: Vec<i64> = detections.values().map(|(_, f, _)| *f).collect();
    for chunk in ids.chunks(ROWS) {
        let sql = format!("{KNOWN} WHERE id IN ({})", marks(chunk.len()));
        let params: Vec<Value> = chunk.iter().map(|i| Value::Int(*i)).collect();
        for row in tx.query(&sql, &params)? {
            let (identity, k) = known_of(&row)?;
            known.insert(identity, k);
        }
    }
    let identities: Vec<&str> = findings
        .iter()
        .map(|f| f.identity.as_str())
        .filter(|i| !known.contains_key(*i))
        .collect();
    for chunk in identities.chunks(ROWS) {
        let sql = format!("{KNOWN} WHERE identity IN ({})", marks(chunk.len()));
        let params: Vec<Value> = chunk.iter().map(|i| Value::from(*i)).collect();
        for row in tx.query(&sql, &params)? {
            let (identity, k) = known_of(&row)?;
            known.insert(identity, k);
        }
    }
    let by_id: HashMap<i64, String> = known.iter().map(|(i, k)| (k.id, i.clone())).collect();
    // 3. Each finding's place, in order: a finding twice in the batch merges into the first.
    let mut targets = Vec::with_capacity(findings.len());
    let mut new: Vec<&NewFinding> = Vec::new();
    let mut new_index: HashMap<&str, usize> = HashMap::new();
    for f in findings {
        let key = (f.tool.clone(), f.scope.clone(), f.detection_key.clone());
        let target = match detections.get(&key) {
            Some((detection, finding, record)) => {
                Target::Stored(*finding, Some((*detection, record.clone())))
            }
            None => match known.get(&f.identity) {
                Some(k) => Target::Stored(k.id, None),
                None => match new_index.get(f.identity.as_str()) {
                    Some(i) => Target::New(*i),
                    None => {
                        new_index.insert(&f.identity, new.len());
                        new.push(f);
                        Target::New(new.len() - 1)
                    }
                },
            },
        };
        targets.push(target);
    }
    // 4. The advisories not stored yet (each distinct one once), new findings, then their ids.
    insert_advisories(tx, findings)?;
    let new_ids = insert_new(tx, &new, actor, now)?;
    // 5. Findings seen again: updated alone when something changed or they reopen; the rest
    //    moved on together.
    let mut outcomes = Vec::with_capacity(findings.len());
    let mut seen_again: Vec<i64> = Vec::new();
    let mut updated: HashMap<i64, Imported> = HashMap::new();
    let mut first_new = vec![true; new.len()];
    for (f, target) in findings.iter().zip(&targets) {
        let outcome = match target {
            Target::New(i) if first_new[*i] => {
                first_new[*i] = false;
                Imported::New(new_ids[*i])
            }
            Target::New(i) => Imported::Merged(new_ids[*i]),
            Target::Stored(id, _) => match updated.get(id) {
                Some(_) => Imported::Merged(*id),
                None => {
                    let identity = by_id.get(id).cloned().unwrap_or_default();
                    let outcome = match known.get(&identity) {
                        Some(k) => seen(tx, k, f, actor, now, &mut seen_again)?,
                        None => Imported::Merged(*id),
                    };
                    updated.insert(*id, outcome);
                    outcome
                }
            },
        };
        outcomes.push(outcome);
    }
    for chunk in seen_again.chunks(ROWS) {
        let sql = format!(
            "UPDATE vuln_findings SET last_seen = ?, updated_at = ? WHERE id IN ({})",
            marks(chunk.len())
        );
        let mut params = vec![Value::Int(now), Value::Int(now)];
        params.extend(chunk.iter().map(|i| Value::Int(*i)));
        tx.execute(&sql, &params)?;
    }
    // 6. Detections: known ones marked present in this import, new ones inserted.
    let mut present: Vec<i64> = Vec::new();
    let mut inserts: Vec<(i64, &NewFinding)> = Vec::new();
    let mut inserted_keys: HashMap<(&str, &str, &str), ()> = HashMap::new();
    for ((f, target), outcome) in findings.iter().zip(&targets).zip(&outcomes) {
        match target {
            Target::Stored(_, Some((detection, record))) => {
                present.push(*detection);
                if *record != f.record {
                    tx.execute(
                        "UPDATE vuln_detections SET record = ? WHERE id = ?",
                        &[Value::from(f.record.as_str()), Value::Int(*detection)],
                    )?;
                }
            }
            _ => {
                let key = (f.tool.as_str(), f.scope.as_str(), f.detection_key.as_str());
                if inserted_keys.insert(key, ()).is_none() {
                    inserts.push((outcome.id(), f));
                }
            }
        }
    }
    for chunk in present.chunks(ROWS) {
        let sql = format!(
            "UPDATE vuln_detections SET present = 1, last_seen = ?, last_import = ? WHERE id IN ({})",
            marks(chunk.len())
        );
        let mut params = vec![Value::Int(now), Value::Int(import)];
        params.extend(chunk.iter().map(|i| Value::Int(*i)));
        tx.execute(&sql, &params)?;
    }
    for chunk in inserts.chunks(ROWS) {
        let sql = format!(
            "INSERT INTO vuln_detections (finding_id, tool, scope, detection_key, present, \
             first_seen, last_seen, last_import, record) VALUES {}",
            vec!["(?, ?, ?, ?, 1, ?, ?, ?, ?)"; chunk.len()].join(", ")
        );
        let mut params = Vec::with_capacity(chunk.len() * 8);
        for (id, f) in chunk {
            params.extend([
                Value::Int(*id),
                Value::from(f.tool.as_str()),
                Value::from(f.scope.as_str()),
                Value::from(f.detection_key.as_str()),
                Value::Int(now),
                Value::Int(now),
                Value::Int(import),
                Value::from(f.record.as_str()),
            ]);
        }
        tx.execute(&sql, &params)?;
    }
    // 7. The CVEs each finding names (a merged one may name more).
    let mut cves: Vec<(i64, &str)> = Vec::new();
    for (f, outcome) in findings.iter().zip(&outcomes) {
        cves.extend(f.cves.iter().map(|c| (outcome.id(), c.as_str())));
    }
    cves.sort_unstable();
    cves.dedup();
    for chunk in cves.chunks(ROWS) {
        let sql = format!(
            "INSERT INTO vuln_finding_cves (finding_id, cve) VALUES {} ON CONFLICT DO NOTHING",
            vec!["(?, ?)"; chunk.len()].join(", ")
        );
        let params: Vec<Value> = chunk
            .iter()
            .flat_map(|(id, cve)| [Value::Int(*id), Value::from(*cve)])
            .collect();
        tx.execute(&sql, &params)?;
    }
    Ok(outcomes)
}

/// Stores the batch's advisories the store does not hold yet: a report names a few hundred
/// distinct ones for its thousands of findings.
fn insert_advisories(tx: &mut dyn Tx, findings: &[NewFinding]) -> Result<(), StoreError> {
    let mut distinct: HashMap<&str, &str> = HashMap::new();
    for f in findings {
        distinct.insert(&f.advisory_digest, &f.advisory);
    }
    let digests: Vec<&str> = distinct.keys().copied().collect();
    for chunk in digests.chunks(ROWS) {
        let sql = format!(
            "SELECT digest FROM vuln_advisories WHERE digest IN ({})",
            marks(chunk.len())
        );
        let params: Vec<Value> = chunk.iter().map(|d| Value::from(*d)).collect();
        for row in tx.query(&sql, &params)? {
            distinct.remove(row.text(0)?.as_str());
        }
    }
    let mut missing: Vec<(&str, &str)> = distinct.into_iter().collect();
    missing.sort_unstable();
    for chunk in missing.chunks(ROWS) {
        let sql = format!(
            "INSERT INTO vuln_advisories (digest, document) VALUES {} ON CONFLICT DO NOTHING",
            vec!["(?, ?)"; chunk.len()].join(", ")
        );
        let params: Vec<Value> = chunk
            .iter()
            .flat_map(|(digest, document)| [Value::from(*digest), Value::from(*document)])
            .collect();
        tx.execute(&sql, &params)?;
    }
    Ok(())
}

/// Inserts findings new to the store, with their `created` history lines; returns their ids.
fn insert_new(
    tx: &mut dyn Tx,
    new: &[&NewFinding],
    actor: &str,
    now: i64,
) -> Result<Vec<i64>, StoreError> {
    const COLUMNS: usize = 32;
    for chunk in new.chunks(ROWS) {
        let row = format!("({}, 0)", marks(COLUMNS));
        let sql = format!(
            "INSERT INTO vuln_findings (identity, kind, primary_id, vuln_id, title, severity, \
             fix_state, asset_kind, asset_name, asset_address, package, package_version, location, \
             tools, status, first_seen, last_seen, sla_start, sla_days, kev_due, due_at, risk, \
             vuln_risk, epss, in_kev, timeline, priority, document, advisory, owner, created_at, \
             updated_at, paused) \
             VALUES {}",
            vec![row; chunk.len()].join(", ")
        );
        let mut params = Vec::with_capacity(chunk.len() * COLUMNS);
        for f in chunk {
            let p = &f.priority;
            let status = if f.not_affected {
                "not_affected"
            } else {
                "open"
            };
            params.extend([
                Value::from(f.identity.as_str()),
                Value::from(f.kind.as_str()),
                Value::from(f.primary_id.as_str()),
                Value::from(f.vuln_id.as_str()),
                Value::from(f.title.as_str()),
                Value::from(f.severity.as_str()),
                Value::from(f.fix_state.as_str()),
                Value::from(f.asset_kind.as_str()),
                Value::from(f.asset_name.as_str()),
                Value::from(f.asset_address.clone()),
                Value::from(f.package.clone()),
                Value::from(f.package_version.clone()),
                Value::from(f.location.clone()),
                Value::from(format!(",{},", f.tool)),
                Value::from(status),
                Value::Int(now),
                Value::Int(now),
                Value::Int(now),
                Value::from(p.sla_days),
                Value::from(p.kev_due),
                Value::from(due_at(now, 0, p.sla_days, p.kev_due)),
                Value::Float(p.risk),
                Value::Float(p.vuln_risk),
                p.epss.map_or(Value::Null, Value::Float),
                Value::Int(p.in_kev.into()),
                Value::from(p.timeline.clone()),
                Value::from(p.detail.as_str()),
                Value::from(f.document.as_str()),
                Value::from(f.advisory_digest.as_str()),
                Value::from(p.owner.clone()),
                Value::Int(now),
                Value::Int(now),
            ]);
        }
        tx.execute(&sql, &params)?;
    }
    let mut ids: HashMap<String, i64> = HashMap::new();
    for chunk in new.chunks(ROWS) {
        let sql = format!(
            "SELECT identity, id FROM vuln_findings WHERE identity IN ({})",
            marks(chunk.len())
        );
        let params: Vec<Value> = chunk
            .iter()
            .map(|f| Value::from(f.identity.as_str()))
            .collect();
        for row in tx.query(&sql, &params)? {
            ids.insert(row.text(0)?, row.int(1)?);
        }
    }
    let ids: Vec<i64> = new
        .iter()
        .map(|f| {
            ids.get(&f.identity)
                .copied()
                .ok_or_else(|| StoreError::Corrupt("a finding inserted and not found".into()))
        })
        .collect::<Result<_, _>>()?;
    for (chunk, id_chunk) in new.chunks(ROWS).zip(ids.chunks(ROWS)) {
        let sql = format!(
            "INSERT INTO vuln_finding_events (finding_id, at, actor, kind, before, after) VALUES {}",
            vec!["(?, ?, ?, 'created', NULL, ?)"; chunk.len()].join(", ")
        );
        let mut params = Vec::with_capacity(chunk.len() * 4);
        for (f, id) in chunk.iter().zip(id_chunk) {
            let status = if f.not_affected {
                "not_affected"
            } else {
                "open"
            };
            params.extend([
                Value::Int(*id),
                Value::Int(now),
                Value::from(actor),
                Value::from(status),
            ]);
            if tx.recording() {
                tx.changed(crate::backend::Change {
                    object: "finding",
                    id: id.to_string(),
                    kind: "created".into(),
                    at: now,
                    before: None,
                    after: Some(status.into()),
                });
            }
        }
        tx.execute(&sql, &params)?;
    }
    Ok(ids)
}

/// A stored finding seen again: its latest facts and priority kept when they changed, reopened
/// when it had been closed as gone from its scans or fixed by someone's word (mitigated by hand, a
/// control the scanner cannot see, or a false positive stays as it is). An unchanged one only
/// moves on (`seen_again`).
fn seen(
    tx: &mut dyn Tx,
    k: &Known,
    f: &NewFinding,
    actor: &str,
    now: i64,
    seen_again: &mut Vec<i64>,
) -> Result<Imported, StoreError> {
    let reopen = k.status == "mitigated"
        && matches!(
            k.resolution.as_deref(),
            Some("gone from scan") | Some("fixed")
        );
    let tool = format!(",{},", f.tool);
    let new_tool = !k.tools.contains(&tool);
    let changed = reopen
        || new_tool
        || k.document != f.document
        || k.advisory.as_deref() != Some(f.advisory_digest.as_str())
        || k.detail != f.priority.detail
        || k.owner != f.priority.owner
        || k.severity != f.severity
        || k.fix_state != f.fix_state
        || k.title != f.title;
    if !changed {
        seen_again.push(k.id);
        return Ok(Imported::Merged(k.id));
    }
    let mut tools = k.tools.clone();
    if new_tool {
        tools.push_str(&f.tool);
        tools.push(',');
    }
    let status = if reopen { "open" } else { k.status.as_str() };
    let p = &f.priority;
    let due = due_at(k.sla_start, k.paused, p.sla_days, p.kev_due);
    let mut params = vec![
        Value::from(f.title.as_str()),
        Value::from(f.severity.as_str()),
        Value::from(f.fix_state.as_str()),
        Value::from(tools),
        Value::from(status),
        Value::Int(now),
        Value::from(f.document.as_str()),
        Value::from(f.advisory_digest.as_str()),
    ];
    params.extend(priority_params(p, due, now, k.id));
    tx.execute(
        "UPDATE vuln_findings SET title = ?, severity = ?, fix_state = ?, tools = ?, status = ?, \
         last_seen = ?, document = ?, advisory = ?, risk = ?, vuln_risk = ?, epss = ?, in_kev = ?, timeline = ?, \
         sla_days = ?, kev_due = ?, due_at = ?, priority = ?, owner = ?, updated_at = ? WHERE id = ?",
        &params,
    )?;
    if !reopen {
        return Ok(Imported::Merged(k.id));
    }
    tx.execute(
        "UPDATE vuln_findings SET resolution = NULL, closed_at = NULL WHERE id = ?",
        &[Value::Int(k.id)],
    )?;
    event(
        tx,
        k.id,
        actor,
        now,
        "reopened",
        Some(k.resolution.clone().unwrap_or_else(|| "mitigated".into())),
        Some(format!("seen again by {} in {}", f.tool, f.scope)),
    )?;
    Ok(Imported::Reopened(k.id))
}
