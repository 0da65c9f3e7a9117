//! Loads SigmaHQ's rule folders from `../shared/corpus/sigma` (skipped, with a message, without it).

use std::collections::BTreeMap;
use std::path::PathBuf;

use secops_rules::load::load_sigma;
use secops_rules::sigma::{Placeholders, SigmaDocument};

fn corpus() -> Option<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpus/sigma");
    if dir.is_dir() {
        Some(dir)
    } else {
        eprintln!("SKIPPED: ../shared/corpus/sigma is not present");
        None
    }
}

#[test]
fn sigmahq_rule_folders_load() {
    let Some(dir) = corpus() else { return };
    let mut reasons: BTreeMap<String, usize> = BTreeMap::new();
    let mut loaded = 0;
    for folder in [
        "rules",
        "rules-emerging-threats",
        "rules-threat-hunting",
        "rules-compliance",
    ] {
        let (docs, errors) = load_sigma(&dir.join(folder), &Placeholders::new());
        loaded += docs.len();
        for e in &errors {
            eprintln!("rejected: {e}");
            *reasons.entry(e.message.clone()).or_default() += 1;
        }
        assert!(docs.iter().all(|d| matches!(d, SigmaDocument::Rule(_))));
    }
    eprintln!("loaded {loaded}; rejected by reason: {reasons:#?}");
    assert!(loaded > 3700, "only {loaded} rules loaded");
}

#[test]
fn unsupported_folder_probe() {
    let Some(dir) = corpus() else { return };
    let (docs, errors) = load_sigma(&dir.join("unsupported"), &Placeholders::new());
    let mut reasons: BTreeMap<String, usize> = BTreeMap::new();
    for e in &errors {
        *reasons
            .entry(format!("{:?} {}", e.key, e.message))
            .or_default() += 1;
    }
    for d in &docs {
        eprintln!("LOADED {}", d.file().display());
    }
    eprintln!("{reasons:#?}");
}
