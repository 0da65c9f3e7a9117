//! Threat intelligence for commands: where indicators come from (`--intel` files, the store's
//! active indicators, ECS `--indicators` documents), the warninglists and decay models that judge
//! them, and the lookup set `threat_match` rules use.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use secops_detect::IndicatorSet;
use secops_intel::decay::Models;
use secops_intel::warninglist::Warninglists;
use secops_intel::{Import, IndicatorIndex};
use secops_store::{IndicatorFilter, NewIndicator, Store};

/// Warninglists and decay models, shared by `detect` and `intel`.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct JudgeArgs {
    /// MISP warninglists: a folder of `<name>/list.json` (default: $SECOPS_WARNINGLISTS). Values they
    /// cover are never indicators, at import and at match time.
    #[arg(long, global = true)]
    pub warninglists: Option<PathBuf>,
    /// MISP decaying models: a folder of model JSON files (default: $SECOPS_DECAY_MODELS; built-in
    /// defaults per kind otherwise).
    #[arg(long = "decay-models", global = true)]
    pub decay_models: Option<PathBuf>,
}

/// The loaded warninglists and models.
#[derive(Debug)]
pub struct Judges {
    pub lists: Option<Arc<Warninglists>>,
    pub models: Models,
}

impl JudgeArgs {
    pub fn load(&self) -> anyhow::Result<Judges> {
        let env = |name: &str| std::env::var_os(name).map(PathBuf::from);
        let lists = match self
            .warninglists
            .clone()
            .or_else(|| env("SECOPS_WARNINGLISTS"))
        {
            Some(dir) => {
                let (lists, report) = Warninglists::load(&dir)?;
                for (file, reason) in &report.refused {
                    eprintln!("warninglist refused: {file}: {reason}");
                }
                Some(Arc::new(lists))
            }
            None => None,
        };
        let models = match self
            .decay_models
            .clone()
            .or_else(|| env("SECOPS_DECAY_MODELS"))
        {
            Some(dir) => Models::load(&dir)?,
            None => Models::default(),
        };
        Ok(Judges { lists, models })
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
        let expires_at = judges.models.expires_at(&indicator);
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
        if expires_at <= now {
            judged.expired += 1;
        }
        judged.indicators.push(NewIndicator {
            indicator,
            expires_at,
            warninglists: hits,
        });
    }
    judged
}

/// The indicators detection matches: the store's active ones, and those of `--intel` files that are
/// unexpired, meant for detection and on no warninglist. Reports what it left out.
pub fn indicator_set(
    store: Option<&mut Store>,
    files: &[PathBuf],
    ecs_files: &[PathBuf],
    judges: &Judges,
    now: i64,
) -> anyhow::Result<IndicatorSet> {
    let mut index = IndicatorIndex::new();
    if let Some(lists) = &judges.lists {
        index = index.with_warninglists(lists.clone());
    }
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
    for file in files {
        let import = secops_intel::import_path(file, None, &secops_intel::csv::Mapping::default())
            .with_context(|| format!("reading indicators from {}", file.display()))?;
        if !import.rejected.is_empty() {
            eprintln!(
                "intel: {}: {} record(s) not indicators (`secops intel import` lists why)",
                file.display(),
                import.rejected.len()
            );
        }
        for n in judge(&import, judges, now).indicators {
            if n.expires_at > now && n.indicator.to_ids && n.warninglists.is_empty() {
                index.add(n.indicator);
                from_files += 1;
            } else {
                left_out += 1;
            }
        }
    }
    let mut set = IndicatorSet::from_index(index);
    let from_ecs = load_ecs(&mut set, ecs_files)?;
    if from_store + from_files + from_ecs > 0 || left_out > 0 {
        eprintln!(
            "indicators: {} for matching ({from_store} from the store, {from_files} from --intel, {from_ecs} from --indicators); \
             {left_out} expired, warninglisted or not for detection left out",
            set.len()
        );
    }
    Ok(set)
}

/// ECS indicator fields read from `--indicators` documents.
const ECS_FIELDS: &[&str] = &[
    "threat.indicator.ip",
    "threat.indicator.url.domain",
    "threat.indicator.url.full",
    "threat.indicator.file.hash.md5",
    "threat.indicator.file.hash.sha1",
    "threat.indicator.file.hash.sha256",
    "threat.indicator.email.address",
];

/// Adds the values of ECS indicator documents (JSON, one per line or an array); returns how many.
fn load_ecs(set: &mut IndicatorSet, files: &[PathBuf]) -> anyhow::Result<usize> {
    let mut added = 0;
    for file in files {
        let mut documents = Vec::new();
        let summary = secops_ingest::read_input(
            &secops_ingest::Input::File(file.clone()),
            &secops_ingest::Options {
                format: Some(secops_ingest::Format::Json),
                year: None,
            },
            &mut |r| documents.extend(r.ok()),
        )?;
        if summary.rejected > 0 {
            eprintln!("{summary}");
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
                        Err(e) => eprintln!("{}: {field}: {e}", file.display()),
                    }
                }
            }
        }
    }
    Ok(added)
}

/// Matches are sightings: each matched indicator's last-seen time moves to the latest event that
/// matched it, and its expiry is computed again from there. Returns how many indicators were seen.
pub fn record_sightings(
    store: &mut Store,
    alerts: &[secops_detect::Alert],
    judges: &Judges,
    now: i64,
) -> anyhow::Result<usize> {
    let mut seen: std::collections::HashMap<(String, String, String), secops_intel::Indicator> =
        std::collections::HashMap::new();
    for alert in alerts {
        let at = alert.last_seen.unix_nanos();
        for e in &alert.enrichments {
            let i = &e.indicator;
            let key = (i.kind.to_string(), i.value.clone(), i.source.clone());
            let entry = seen.entry(key).or_insert_with(|| (**i).clone());
            entry.last_seen = entry.last_seen.max(Some(at));
        }
    }
    let updates: Vec<NewIndicator> = seen
        .into_values()
        .map(|indicator| NewIndicator {
            expires_at: judges.models.expires_at(&indicator),
            indicator,
            warninglists: Vec::new(),
        })
        .collect();
    if !updates.is_empty() {
        store.store_indicators(&updates, now)?;
    }
    Ok(updates.len())
}
