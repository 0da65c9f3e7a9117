//! Threat intelligence for operations: the warninglists and decay models that judge indicators, the
//! lookup set `threat_match` rules use (from the store's active indicators, intelligence files and ECS
//! indicator documents), and sightings (matches move an indicator's last seen and expiry).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use secops_detect::{Alert, IndicatorSet};
use secops_intel::decay::Models;
use secops_intel::warninglist::Warninglists;
use secops_intel::{Import, Indicator, IndicatorIndex};
use secops_store::{IndicatorFilter, NewIndicator, Store};

use crate::ServiceError;

/// Where the judges come from: a folder of MISP warninglists (`<name>/list.json`) and a folder of MISP
/// decaying models (built-in defaults per kind without one).
#[derive(Debug, Clone, Default)]
pub struct JudgeSources {
    pub warninglists: Option<PathBuf>,
    pub decay_models: Option<PathBuf>,
}

/// The loaded warninglists and models.
#[derive(Debug)]
pub struct Judges {
    pub lists: Option<Arc<Warninglists>>,
    pub models: Models,
    /// Warninglist files that were refused: (file, reason).
    pub refused: Vec<(String, String)>,
}

impl Judges {
    pub fn load(sources: &JudgeSources) -> Result<Judges, ServiceError> {
        let (lists, refused) = match &sources.warninglists {
            Some(dir) => {
                let (lists, report) = Warninglists::load(dir)?;
                (Some(Arc::new(lists)), report.refused)
            }
            None => (None, Vec::new()),
        };
        let models = match &sources.decay_models {
            Some(dir) => Models::load(dir)?,
            None => Models::default(),
        };
        Ok(Judges {
            lists,
            models,
            refused,
        })
    }
}

/// What judging an import found besides the indicators to keep.
#[derive(Debug, Default)]
pub struct Judged {
    pub indicators: Vec<NewIndicator>,
    /// Indicators a warninglist covers: (kind, value, lists).
    pub warninglisted: Vec<(String, String, Vec<String>)>,
    pub expired: usize,
}

/// Gives each imported indicator its expiry and warninglist hits.
pub fn judge(import: &Import, judges: &Judges, now: i64) -> Judged {
    let mut judged = Judged::default();
    for indicator in &import.indicators {
        let mut indicator = indicator.clone();
        if indicator.imported_at == 0 {
            // Read just now (TAXII objects, documents in memory): decay starts here.
            indicator.imported_at = now;
        }
        let hits: Vec<String> = judges
            .lists
            .as_ref()
            .map(|l| {
                l.hits(indicator.kind, &indicator.value)
                    .into_iter()
                    .map(|h| h.list)
                    .collect()
            })
            .unwrap_or_default();
        if !hits.is_empty() {
            judged.warninglisted.push((
                indicator.kind.to_string(),
                indicator.value.clone(),
                hits.clone(),
            ));
        }
        if judges.models.expires_at(&indicator) <= now {
            judged.expired += 1;
        }
        judged.indicators.push(NewIndicator {
            indicator,
            warninglists: hits,
        });
    }
    judged
}

/// Where the indicators detection matches come from.
#[derive(Debug, Clone, Default)]
pub struct IndicatorSources {
    /// Intelligence files or folders (STIX, MISP, CSV feeds, lists): their unexpired indicators meant
    /// for detection and on no warninglist.
    pub files: Vec<PathBuf>,
    /// ECS indicator documents (`threat.indicator.*` fields), one per line or as an array.
    pub ecs_files: Vec<PathBuf>,
}

/// The lookup set, and what went into it.
#[derive(Debug)]
pub struct BuiltIndicators {
    pub set: IndicatorSet,
    pub from_store: usize,
    pub from_files: usize,
    pub from_ecs: usize,
    /// Expired, warninglisted or not for detection.
    pub left_out: usize,
    /// Problems with single records, each naming its file (the rest was used).
    pub notes: Vec<String>,
}

/// Builds the indicator set: the store's active indicators and those of the sources.
pub fn indicator_set(
    store: Option<&mut Store>,
    sources: &IndicatorSources,
    judges: &Judges,
    now: i64,
) -> Result<BuiltIndicators, ServiceError> {
    let mut index = IndicatorIndex::new();
    if let Some(lists) = &judges.lists {
        index = index.with_warninglists(lists.clone());
    }
    let mut notes = Vec::new();
    let mut from_store = 0;
    if let Some(store) = store {
        for record in store.indicators(&IndicatorFilter {
            active_at: Some(now),
            ..IndicatorFilter::default()
        })? {
            index.add(record.indicator);
            from_store += 1;
        }
    }
    let (mut from_files, mut left_out) = (0, 0);
    for file in &sources.files {
        let import = secops_intel::import_path(file, None, &secops_intel::csv::Mapping::default())
            .map_err(|e| {
                ServiceError::invalid(&format!("reading indicators from {}", file.display()), e)
            })?;
        if !import.rejected.is_empty() {
            notes.push(format!(
                "intel: {}: {} record(s) not indicators (`secops intel import` lists why)",
                file.display(),
                import.rejected.len()
            ));
        }
        for n in judge(&import, judges, now).indicators {
            let active = judges.models.expires_at(&n.indicator) > now;
            if active && n.indicator.to_ids && n.warninglists.is_empty() {
                index.add(n.indicator);
                from_files += 1;
            } else {
                left_out += 1;
            }
        }
    }
    let mut set = IndicatorSet::from_index(index);
    let mut from_ecs = 0;
    for file in &sources.ecs_files {
        from_ecs += load_ecs(&mut set, file, &mut notes)?;
    }
    Ok(BuiltIndicators {
        set,
        from_store,
        from_files,
        from_ecs,
        left_out,
        notes,
    })
}

/// ECS indicator fields read from indicator documents.
const ECS_FIELDS: &[&str] = &[
    "threat.indicator.ip",
    "threat.indicator.url.domain",
    "threat.indicator.url.full",
    "threat.indicator.file.hash.md5",
    "threat.indicator.file.hash.sha1",
    "threat.indicator.file.hash.sha256",
    "threat.indicator.email.address",
];

/// Adds the values of one ECS indicator file; returns how many.
fn load_ecs(
    set: &mut IndicatorSet,
    file: &Path,
    notes: &mut Vec<String>,
) -> Result<usize, ServiceError> {
    let mut added = 0;
    let mut documents = Vec::new();
    let summary = secops_ingest::read_input(
        &secops_ingest::Input::File(file.to_path_buf()),
        &secops_ingest::Options {
            format: Some(secops_ingest::Format::Json),
            year: None,
            timezone: None,
            evtx_recover: false,
            counters: None,
        },
        &mut |r| documents.extend(r.ok()),
    )?;
    if summary.rejected > 0 {
        notes.push(summary.to_string());
    }
    for doc in &documents {
        for field in ECS_FIELDS {
            let values: Vec<String> = match doc.get(field) {
                Some(secops_event::Value::Array(items)) => {
                    items.iter().map(|v| v.to_string()).collect()
                }
                Some(value) => vec![value.to_string()],
                None => Vec::new(),
            };
            for value in values {
                match set.add(field, &value) {
                    Ok(()) => added += 1,
                    Err(e) => notes.push(format!("{}: {field}: {e}", file.display())),
                }
            }
        }
    }
    Ok(added)
}

/// An indicator as sightings know it: kind, value, source.
pub type SightedIndicator = (String, String, String);

/// Matches are sightings: each matched indicator's last-seen time moves to the latest event that
/// matched it (never backwards: a retro-hunt over old logs leaves a later sighting in place), and its
/// expiry is computed again from the result. Returns the indicators seen.
pub fn record_sightings<'a>(
    store: &mut Store,
    alerts: impl IntoIterator<Item = &'a Alert>,
    judges: &Judges,
    now: i64,
) -> Result<Vec<SightedIndicator>, ServiceError> {
    let mut seen: HashMap<SightedIndicator, Indicator> = HashMap::new();
    for alert in alerts {
        let at = alert.last_seen.unix_nanos();
        for e in &alert.enrichments {
            let i = &e.indicator;
            let key = (i.kind.to_string(), i.value.clone(), i.source.clone());
            let entry = seen.entry(key).or_insert_with(|| (**i).clone());
            entry.last_seen = entry.last_seen.max(Some(at));
        }
    }
    let (sighted, updates): (Vec<SightedIndicator>, Vec<NewIndicator>) = seen
        .into_iter()
        .map(|(key, indicator)| {
            let update = NewIndicator {
                indicator,
                warninglists: Vec::new(),
            };
            (key, update)
        })
        .unzip();
    if !updates.is_empty() {
        store.store_indicators(&updates, now, &|i| judges.models.expires_at(i))?;
    }
    Ok(sighted)
}
