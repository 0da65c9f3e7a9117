//! `vuln refresh FILE|URL`: the catalogs that prioritise findings, loaded into the store (offline
//! files work as well as URLs): CISA's KEV catalog (JSON or CSV), FIRST's EPSS scores (CSV, gzipped
//! or not), SSVC decision tables (CERT/CC's CSV), OSV records (one, an array, or an osv-scanner
//! report). Every open or accepted finding is prioritised again afterwards.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;

use secops_store::{EpssRow, FindingFilter, KevRow, Store};
use secops_vuln::assets::AssetIndex;
use secops_vuln::import::Rejected;
use secops_vuln::ssvc::DecisionTable;
use secops_vuln::{catalog, osv, Finding, VulnError};

use crate::vulns::{prioritise, Knowledge, VulnPolicy};
use crate::{Clock, ServiceError};

/// The catalogs `refresh` recognises.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Catalog {
    Kev,
    Epss,
    Ssvc,
    Osv,
}

impl Catalog {
    pub fn as_str(self) -> &'static str {
        match self {
            Catalog::Kev => "KEV",
            Catalog::Epss => "EPSS",
            Catalog::Ssvc => "SSVC",
            Catalog::Osv => "OSV",
        }
    }
}

/// What a refresh loaded.
#[derive(Debug, Clone)]
pub struct Refreshed {
    pub source: String,
    pub catalog: Catalog,
    /// Entries loaded (KEV entries, EPSS scores, table rows, OSV records).
    pub entries: u64,
    /// Of them, new to the store (KEV).
    pub new: u64,
    /// The catalog's version or date (KEV `catalogVersion`, EPSS `score_date`).
    pub version: Option<String>,
    pub rejected: Vec<Rejected>,
    /// What else to know (an SSVC table disagreeing with the built-in BOD 26-04 rows).
    pub notes: Vec<String>,
    /// Findings prioritised again.
    pub reprioritised: u64,
}

/// Loads one catalog from a file or an http(s) URL and prioritises the open findings again.
pub fn refresh(
    store: &mut Store,
    source: &str,
    assets: Option<&AssetIndex>,
    policy: &VulnPolicy,
    clock: &dyn Clock,
) -> Result<Refreshed, ServiceError> {
    let bytes = read(source)?;
    let bytes = gunzip(source, bytes)?;
    let now = clock.now().unix_nanos();
    let text = String::from_utf8_lossy(&bytes);
    let mut refreshed = match detect(&text) {
        Some(Catalog::Kev) => {
            let kev = catalog::read_kev(source, &text)?;
            let rows: Vec<KevRow> = kev
                .entries
                .iter()
                .map(|e| KevRow {
                    cve: e.cve.clone(),
                    vendor: e.vendor.clone(),
                    product: e.product.clone(),
                    name: e.name.clone(),
                    date_added: e.date_added.clone(),
                    due_date: e.due_date.clone(),
                    ransomware: e.ransomware,
                    required_action: e.required_action.clone(),
                })
                .collect();
            let new = store.store_kev(&rows, kev.version.as_deref(), now)?;
            loaded(
                source,
                Catalog::Kev,
                rows.len(),
                new,
                kev.version,
                kev.rejected,
            )
        }
        Some(Catalog::Epss) => {
            let scores = catalog::read_epss(source, text.as_bytes())?;
            let date = scores.date.clone().unwrap_or_default();
            let rows: Vec<EpssRow> = scores
                .scores
                .iter()
                .map(|(cve, score, percentile)| EpssRow {
                    cve: cve.clone(),
                    score: *score,
                    percentile: *percentile,
                    scored_on: date.clone(),
                })
                .collect();
            for chunk in rows.chunks(20_000) {
                store.store_epss(chunk, now)?;
            }
            loaded(
                source,
                Catalog::Epss,
                rows.len(),
                0,
                scores.date,
                scores.rejected,
            )
        }
        Some(Catalog::Ssvc) => {
            let name = source
                .rsplit(['/', '\\'])
                .next()
                .unwrap_or(source)
                .trim_end_matches(".csv")
                .to_string();
            let table = DecisionTable::from_csv(&name, &text)?;
            let mut refreshed = loaded(source, Catalog::Ssvc, table.rows.len(), 0, None, vec![]);
            match table.bod_26_04_differences() {
                Some(d) if d.is_empty() => refreshed
                    .notes
                    .push("the BOD 26-04 table: the same as the built-in rows".into()),
                Some(d) => {
                    refreshed.notes.push(format!(
                        "the BOD 26-04 table differs from the built-in rows in {} row(s); \
                         deadlines keep the built-in rows:",
                        d.len()
                    ));
                    refreshed.notes.extend(d);
                }
                None => refreshed.notes.push(format!(
                    "decision points: {}; outcome: {}",
                    table.points.join(", "),
                    table.outcome
                )),
            }
            let document = serde_json::to_string(&table).unwrap_or_default();
            store.store_vuln_catalog("ssvc", &name, &document, now)?;
            refreshed
        }
        Some(Catalog::Osv) => {
            let records = osv::read_records(source, &text)?;
            for r in &records {
                let document = serde_json::to_string(r).unwrap_or_default();
                store.store_vuln_catalog("osv", &r.id, &document, now)?;
            }
            loaded(source, Catalog::Osv, records.len(), 0, None, vec![])
        }
        None => {
            return Err(VulnError::Format {
                file: source.to_string(),
                reason: "none of the catalogs refresh reads (KEV JSON or CSV, EPSS CSV, an SSVC \
                         decision table in CSV, OSV records); scanner reports go to `vuln import`"
                    .into(),
            }
            .into())
        }
    };
    refreshed.reprioritised = reprioritise(store, assets, policy, now)?;
    Ok(refreshed)
}

fn loaded(
    source: &str,
    catalog: Catalog,
    entries: usize,
    new: u64,
    version: Option<String>,
    rejected: Vec<Rejected>,
) -> Refreshed {
    Refreshed {
        source: source.to_string(),
        catalog,
        entries: entries as u64,
        new,
        version,
        rejected,
        notes: Vec::new(),
        reprioritised: 0,
    }
}

fn read(source: &str) -> Result<Vec<u8>, ServiceError> {
    if source.starts_with("http://") || source.starts_with("https://") {
        return Ok(secops_intel::taxii::fetch_bytes(source)?);
    }
    std::fs::read(source).map_err(|e| ServiceError::Read {
        path: source.into(),
        source: e,
    })
}

/// Gzip (EPSS publishes `.csv.gz`) opened by its magic bytes.
fn gunzip(source: &str, bytes: Vec<u8>) -> Result<Vec<u8>, ServiceError> {
    if !bytes.starts_with(&[0x1f, 0x8b]) {
        return Ok(bytes);
    }
    let mut out = Vec::new();
    flate2::read::MultiGzDecoder::new(&bytes[..])
        .take(2 << 30)
        .read_to_end(&mut out)
        .map_err(|e| {
            ServiceError::from(VulnError::Format {
                file: source.to_string(),
                reason: format!("gzip: {e}"),
            })
        })?;
    Ok(out)
}

/// Which catalog a text is, by its opening.
pub fn detect(text: &str) -> Option<Catalog> {
    let head: String = text
        .trim_start_matches('\u{feff}')
        .trim_start()
        .chars()
        .take(8192)
        .collect();
    if head.starts_with('{') || head.starts_with('[') {
        if head.contains("\"catalogVersion\"") || head.contains("\"cveID\"") {
            return Some(Catalog::Kev);
        }
        if head.contains("\"id\"") {
            return Some(Catalog::Osv);
        }
        return None;
    }
    let first = head.lines().next().unwrap_or("").trim();
    if first.starts_with("#model_version") || first.to_ascii_lowercase().starts_with("cve,epss") {
        return Some(Catalog::Epss);
    }
    if first.starts_with("cveID,") || first.contains(",cveID,") {
        return Some(Catalog::Kev);
    }
    if first.starts_with("row,") {
        return Some(Catalog::Ssvc);
    }
    None
}

/// Prioritises every open or accepted finding again with the catalogs the store now holds.
pub fn reprioritise(
    store: &mut Store,
    assets: Option<&AssetIndex>,
    policy: &VulnPolicy,
    now: i64,
) -> Result<u64, ServiceError> {
    let knowledge = Knowledge::load(store)?;
    let mut after = None;
    let mut count = 0;
    loop {
        let page = store.vuln_findings(&FindingFilter {
            statuses: vec!["open".into(), "accepted".into()],
            by_id: true,
            after_id: after,
            limit: Some(2000),
            ..FindingFilter::default()
        })?;
        let Some(last) = page.last() else { break };
        after = Some(last.id);
        let findings: Vec<(i64, Finding)> = page
            .iter()
            .filter_map(|r| Some((r.id, serde_json::from_str::<Finding>(&r.document).ok()?)))
            .collect();
        let cves: BTreeSet<&str> = findings.iter().flat_map(|(_, f)| f.cves()).collect();
        let cves: Vec<&str> = cves.into_iter().collect();
        let epss: BTreeMap<String, EpssRow> = store.epss_scores(&cves)?;
        let priorities: Vec<_> = findings
            .iter()
            .map(|(id, f)| (*id, prioritise(f, &knowledge, &epss, assets, policy).1))
            .collect();
        store.reprioritise_findings(&priorities, now)?;
        count += priorities.len() as u64;
    }
    Ok(count)
}
