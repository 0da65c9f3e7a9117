//! The catalogs `vuln refresh` loads (migration 18): CISA's KEV entries and FIRST's EPSS scores,
//! each replaced by a newer load of the same CVE, and other documents by kind and name (SSVC
//! decision tables, OSV records).

use std::collections::BTreeMap;

use crate::backend::{Change, Value};
use crate::{Store, StoreError};

/// A KEV entry as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KevRow {
    pub cve: String,
    pub vendor: String,
    pub product: String,
    pub name: String,
    pub date_added: String,
    pub due_date: Option<String>,
    pub ransomware: bool,
    pub required_action: String,
}

/// An EPSS score as stored: probability, percentile, the day it was scored.
#[derive(Debug, Clone, PartialEq)]
pub struct EpssRow {
    pub cve: String,
    pub score: f64,
    pub percentile: f64,
    pub scored_on: String,
}

impl Store {
    /// Stores a KEV catalog's entries (each replacing the CVE's earlier one). Returns how many were
    /// new to the store.
    pub fn store_kev(
        &mut self,
        rows: &[KevRow],
        catalog: Option<&str>,
        now: i64,
    ) -> Result<u64, StoreError> {
        self.transaction(true, |tx| {
            let mut added = 0;
            for r in rows {
                let known = tx
                    .query_one("SELECT 1 FROM vuln_kev WHERE cve = ?", &[Value::from(r.cve.as_str())])?
                    .is_some();
                if known {
                    tx.execute("DELETE FROM vuln_kev WHERE cve = ?", &[Value::from(r.cve.as_str())])?;
                } else {
                    added += 1;
                }
                tx.execute(
                    "INSERT INTO vuln_kev (cve, vendor, product, name, date_added, due_date, ransomware, \
                     required_action, catalog, loaded_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    &[
                        Value::from(r.cve.as_str()),
                        Value::from(r.vendor.as_str()),
                        Value::from(r.product.as_str()),
                        Value::from(r.name.as_str()),
                        Value::from(r.date_added.as_str()),
                        Value::from(r.due_date.clone()),
                        Value::Int(r.ransomware.into()),
                        Value::from(r.required_action.as_str()),
                        Value::from(catalog),
                        Value::Int(now),
                    ],
                )?;
            }
            tx.changed(Change {
                object: "vuln_catalog",
                id: "kev".into(),
                kind: "loaded".into(),
                at: now,
                before: None,
                after: Some(serde_json::json!({"entries": rows.len(), "new": added, "catalog": catalog}).to_string()),
            });
            Ok(added)
        })
    }

    /// Every stored KEV entry, by CVE.
    pub fn kev_entries(&mut self) -> Result<BTreeMap<String, KevRow>, StoreError> {
        self.transaction(false, |tx| {
            let mut out = BTreeMap::new();
            for r in tx.query(
                "SELECT cve, vendor, product, name, date_added, due_date, ransomware, required_action \
                 FROM vuln_kev",
                &[],
            )? {
                let row = KevRow {
                    cve: r.text(0)?,
                    vendor: r.text(1)?,
                    product: r.text(2)?,
                    name: r.text(3)?,
                    date_added: r.text(4)?,
                    due_date: r.opt_text(5)?,
                    ransomware: r.int(6)? != 0,
                    required_action: r.text(7)?,
                };
                out.insert(row.cve.clone(), row);
            }
            Ok(out)
        })
    }

    /// Stores EPSS scores (each replacing the CVE's earlier one), in one transaction.
    pub fn store_epss(&mut self, rows: &[EpssRow], now: i64) -> Result<(), StoreError> {
        self.transaction(true, |tx| {
            // Many rows a statement (a day's file is about 300,000 CVEs); a CVE listed twice
            // keeps its last row (one statement may not update a row twice).
            let mut last: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
            for (i, r) in rows.iter().enumerate() {
                last.insert(r.cve.as_str(), i);
            }
            let unique: Vec<&EpssRow> = rows
                .iter()
                .enumerate()
                .filter(|(i, r)| last.get(r.cve.as_str()) == Some(i))
                .map(|(_, r)| r)
                .collect();
            for chunk in unique.chunks(500) {
                let sql = format!(
                    "INSERT INTO vuln_epss (cve, score, percentile, scored_on, loaded_at) VALUES {} \
                     ON CONFLICT (cve) DO UPDATE SET score = excluded.score, \
                     percentile = excluded.percentile, scored_on = excluded.scored_on, \
                     loaded_at = excluded.loaded_at",
                    vec!["(?, ?, ?, ?, ?)"; chunk.len()].join(", ")
                );
                let mut params = Vec::with_capacity(chunk.len() * 5);
                for r in chunk {
                    params.extend([
                        Value::from(r.cve.as_str()),
                        Value::Float(r.score),
                        Value::Float(r.percentile),
                        Value::from(r.scored_on.as_str()),
                        Value::Int(now),
                    ]);
                }
                tx.execute(&sql, &params)?;
            }
            if let Some(first) = rows.first() {
                tx.changed(Change {
                    object: "vuln_catalog",
                    id: "epss".into(),
                    kind: "loaded".into(),
                    at: now,
                    before: None,
                    after: Some(serde_json::json!({"scores": rows.len(), "scored_on": first.scored_on}).to_string()),
                });
            }
            Ok(())
        })
    }

    /// The EPSS scores of some CVEs.
    pub fn epss_scores(&mut self, cves: &[&str]) -> Result<BTreeMap<String, EpssRow>, StoreError> {
        let mut out = BTreeMap::new();
        for chunk in cves.chunks(500) {
            let marks = vec!["?"; chunk.len()].join(", ");
            let sql = format!(
                "SELECT cve, score, percentile, scored_on FROM vuln_epss WHERE cve IN ({marks})"
            );
            let params: Vec<Value> = chunk.iter().map(|c| Value::from(*c)).collect();
            let rows = self.transaction(false, |tx| tx.query(&sql, &params))?;
            for r in rows {
                let row = EpssRow {
                    cve: r.text(0)?,
                    score: r.float(1)?,
                    percentile: r.float(2)?,
                    scored_on: r.text(3)?,
                };
                out.insert(row.cve.clone(), row);
            }
        }
        Ok(out)
    }

    /// Stores a document of a kind (`ssvc`, `osv`) under its name, replacing an earlier one.
    pub fn store_vuln_catalog(
        &mut self,
        kind: &str,
        name: &str,
        document: &str,
        now: i64,
    ) -> Result<(), StoreError> {
        self.transaction(true, |tx| {
            tx.execute(
                "DELETE FROM vuln_catalogs WHERE kind = ? AND name = ?",
                &[Value::from(kind), Value::from(name)],
            )?;
            tx.execute(
                "INSERT INTO vuln_catalogs (kind, name, document, loaded_at) VALUES (?, ?, ?, ?)",
                &[
                    Value::from(kind),
                    Value::from(name),
                    Value::from(document),
                    Value::Int(now),
                ],
            )?;
            tx.changed(Change {
                object: "vuln_catalog",
                id: format!("{kind}:{name}"),
                kind: "loaded".into(),
                at: now,
                before: None,
                after: None,
            });
            Ok(())
        })
    }

    /// The documents of a kind, by name.
    pub fn vuln_catalog(&mut self, kind: &str) -> Result<BTreeMap<String, String>, StoreError> {
        self.transaction(false, |tx| {
            let mut out = BTreeMap::new();
            for r in tx.query(
                "SELECT name, document FROM vuln_catalogs WHERE kind = ? ORDER BY name",
                &[Value::from(kind)],
            )? {
                out.insert(r.text(0)?, r.text(1)?);
            }
            Ok(out)
        })
    }
}
