//! `intel import` and `intel taxii pull`: indicators into the store, with a report per source.

use std::fmt::Write as _;

use anyhow::Context;
use secops_intel::csv::Mapping;
use secops_intel::{Format, Import};
use secops_service::feeds::{read_source, store_import, StoredImport, TaxiiPull};
use secops_service::intel::Judges;
use secops_store::Store;

use crate::output::safe;
use crate::Outcome;

pub fn import(
    store: &mut Store,
    judges: &Judges,
    now: i64,
    sources: &[String],
    format: Option<String>,
    columns: Option<String>,
) -> anyhow::Result<Outcome> {
    let format = format
        .map(|f| {
            Format::parse(&f)
                .with_context(|| format!("--format {f:?}: use stix, misp, misp-feed, csv or list"))
        })
        .transpose()?;
    let mapping = columns
        .map(|c| Mapping::parse(&c))
        .transpose()?
        .unwrap_or_default();
    let mut rejected = 0;
    for source in sources {
        let import = read_source(source, format, &mapping)?;
        rejected += import.rejected.len();
        let stored = store_import(store, &import, judges, now)?;
        print!("{}", report(source, &import, &stored));
    }
    Ok(if rejected > 0 {
        Outcome::Rejections
    } else {
        Outcome::Clean
    })
}

pub fn taxii_pull(
    store: &mut Store,
    judges: &Judges,
    now: i64,
    pull: &TaxiiPull,
) -> anyhow::Result<Outcome> {
    let mut rejected = 0;
    secops_service::feeds::taxii_pull(store, judges, now, pull, &mut |p| {
        rejected += p.import.rejected.len();
        println!(
            "{} collection {}: {} object(s) in {} page(s) since {}",
            p.root,
            p.collection,
            p.objects,
            p.pages,
            p.after.as_deref().unwrap_or("the beginning")
        );
        print!("{}", report(&p.source, &p.import, &p.stored));
    })?;
    Ok(if rejected > 0 {
        Outcome::Rejections
    } else {
        Outcome::Clean
    })
}

/// What an import brought: counts per kind, new and updated, and every record that did not become an
/// indicator, with the reason.
fn report(name: &str, import: &Import, stored: &StoredImport) -> String {
    let judged = &stored.judged;
    let mut out = String::new();
    let counts: Vec<String> = import
        .counts()
        .iter()
        .map(|(k, n)| format!("{k} {n}"))
        .collect();
    let _ = writeln!(
        out,
        "{name}: {} indicator(s) ({}); {} new, {} updated; {} not indicators",
        import.indicators.len(),
        if counts.is_empty() {
            "none".into()
        } else {
            counts.join(", ")
        },
        stored.added,
        stored.updated,
        import.rejected.len(),
    );
    for (what, n) in &import.other {
        let _ = writeln!(out, "  other: {n} {what}");
    }
    for location in import.split.iter().take(50) {
        let _ = writeln!(
            out,
            "  split: {}: one file's hashes AND-ed, one indicator per hash",
            safe(location)
        );
    }
    if import.split.len() > 50 {
        let _ = writeln!(out, "  ... and {} more split", import.split.len() - 50);
    }
    for r in import.rejected.iter().take(50) {
        let _ = writeln!(
            out,
            "  not an indicator: {}: {}",
            safe(&r.location),
            safe(&r.reason)
        );
    }
    if import.rejected.len() > 50 {
        let _ = writeln!(
            out,
            "  ... and {} more not indicators",
            import.rejected.len() - 50
        );
    }
    for (kind, value, lists) in judged.warninglisted.iter().take(20) {
        let _ = writeln!(
            out,
            "  warninglisted (kept, never matched): {kind} {}: {}",
            safe(value),
            safe(&lists.join(", "))
        );
    }
    if judged.warninglisted.len() > 20 {
        let _ = writeln!(
            out,
            "  ... and {} more warninglisted",
            judged.warninglisted.len() - 20
        );
    }
    if judged.expired > 0 {
        let _ = writeln!(
            out,
            "  {} already expired (kept, not matched; `intel prune` removes them)",
            judged.expired
        );
    }
    out
}
