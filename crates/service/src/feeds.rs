//! Indicators into the store: files, folders and http(s) URLs (STIX, MISP, CSV feeds, lists), and
//! TAXII 2.1 collections pulled from where the last pull stopped. Every import is judged (warninglists,
//! decay) before it is stored.

use std::path::{Path, PathBuf};

use secops_intel::csv::Mapping;
use secops_intel::taxii::Client;
use secops_intel::{Format, Import};
use secops_store::{Store, Stored};

use crate::intel::{judge, Judged, Judges};
use crate::ServiceError;

/// Reads a file, a folder or an http(s) URL; the format is recognized unless given.
pub fn read_source(
    source: &str,
    format: Option<Format>,
    mapping: &Mapping,
) -> Result<Import, ServiceError> {
    if source.starts_with("http://") || source.starts_with("https://") {
        let text = secops_intel::taxii::fetch(source)?;
        let name = source.rsplit('/').find(|s| !s.is_empty()).unwrap_or(source);
        let format = format.unwrap_or_else(|| secops_intel::detect(Path::new(name), Some(&text)));
        return Ok(secops_intel::import_text(source, &text, format, mapping)?);
    }
    let path = PathBuf::from(source);
    if !path.exists() {
        return Err(ServiceError::Missing(format!("{source} does not exist")));
    }
    Ok(secops_intel::import_path(&path, format, mapping)?)
}

/// What storing an import did.
#[derive(Debug)]
pub struct StoredImport {
    /// Indicators new to the store.
    pub added: usize,
    /// Indicators the store had (refreshed).
    pub updated: usize,
    pub judged: Judged,
}

/// Judges an import at `now` (UTC nanoseconds) and stores its indicators.
pub fn store_import(
    store: &mut Store,
    import: &Import,
    judges: &Judges,
    now: i64,
) -> Result<StoredImport, ServiceError> {
    let judged = judge(import, judges, now);
    let stored =
        store.store_indicators(&judged.indicators, now, &|i| judges.models.expires_at(i))?;
    let added = stored
        .iter()
        .filter(|s| matches!(s, Stored::Added(_)))
        .count();
    Ok(StoredImport {
        added,
        updated: stored.len() - added,
        judged,
    })
}

/// Which TAXII collections to pull.
#[derive(Debug, Clone, Default)]
pub struct TaxiiPull {
    /// The server (`https://taxii.example`, `http://127.0.0.1:5000`).
    pub url: String,
    /// An API root path (none: every root the discovery lists).
    pub api_root: Option<String>,
    /// A collection id (none: every readable collection).
    pub collection: Option<String>,
    pub credentials: Option<(String, String)>,
    /// Objects per page.
    pub limit: u32,
    /// Pull everything again, not only what was added since the last pull.
    pub all: bool,
}

/// One collection pulled.
#[derive(Debug)]
pub struct Pulled {
    pub root: String,
    pub collection: String,
    pub objects: usize,
    pub pages: usize,
    /// Where the pull started (`added_after` of the last one), if anywhere.
    pub after: Option<String>,
    /// The collection's name as an indicator source.
    pub source: String,
    pub import: Import,
    pub stored: StoredImport,
}

/// Pulls the collections and stores their indicators; each collection's position is kept, so the
/// next pull starts where this one stopped. `each` sees every collection as it is done.
pub fn taxii_pull(
    store: &mut Store,
    judges: &Judges,
    now: i64,
    pull: &TaxiiPull,
    each: &mut dyn FnMut(&Pulled),
) -> Result<(), ServiceError> {
    let credentials = pull
        .credentials
        .as_ref()
        .map(|(u, p)| (u.as_str(), p.as_str()));
    let client = Client::new(&pull.url, credentials)?;
    let roots = match &pull.api_root {
        Some(root) => vec![root.clone()],
        None => client.api_roots()?,
    };
    for root in roots {
        let collections = match &pull.collection {
            Some(id) => vec![id.clone()],
            None => client
                .collections(&root)?
                .into_iter()
                .filter(|c| c.can_read)
                .map(|c| c.id)
                .collect(),
        };
        for id in collections {
            let key = format!("taxii {} {root} {id}", pull.url);
            let after = if pull.all {
                None
            } else {
                store.intel_state(&key)?
            };
            let pulled = client.objects(&root, &id, after.as_deref(), pull.limit)?;
            let envelope = serde_json::json!({ "objects": pulled.objects });
            let source = format!("taxii:{root}collections/{id}");
            let import = secops_intel::stix::import(&source, &envelope.to_string())?;
            let stored = store_import(store, &import, judges, now)?;
            if let Some(last) = &pulled.added_last {
                store.set_intel_state(&key, last)?;
            }
            each(&Pulled {
                root: root.clone(),
                collection: id,
                objects: pulled.objects.len(),
                pages: pulled.pages,
                after,
                source,
                import,
                stored,
            });
        }
    }
    Ok(())
}
