//! Indicators in the store: listed, searched, one shown whole, counted, exported.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;

use anyhow::Context;
use secops_intel::Kind;

use secops_service::intel::Judges;
use secops_store::{IndicatorFilter, IndicatorRecord, Store};

use crate::output::{cell, safe, time};
use crate::Outcome;

pub fn list(
    store: &mut Store,
    now: i64,
    kind: Option<Kind>,
    source: Option<String>,
    active: bool,
    limit: u32,
) -> anyhow::Result<Outcome> {
    let records = store.indicators(&IndicatorFilter {
        kind,
        source,
        active_at: active.then_some(now),
        limit: Some(limit),
        ..IndicatorFilter::default()
    })?;
    print!("{}", table(&records, now));
    eprintln!("{} indicator(s)", records.len());
    Ok(Outcome::Clean)
}

pub fn search(store: &mut Store, now: i64, text: String) -> anyhow::Result<Outcome> {
    let records = store.indicators(&IndicatorFilter {
        search: Some(text),
        ..IndicatorFilter::default()
    })?;
    print!("{}", table(&records, now));
    eprintln!("{} indicator(s)", records.len());
    Ok(Outcome::Clean)
}

pub fn show(store: &mut Store, judges: &Judges, now: i64, id: i64) -> anyhow::Result<Outcome> {
    let r = store.indicator(id)?;
    print!("{}", show_one(&r, judges, now));
    Ok(Outcome::Clean)
}

pub fn stats(store: &mut Store, now: i64) -> anyhow::Result<Outcome> {
    let all = store.indicators(&IndicatorFilter::default())?;
    print!("{}", stats_of(&all, now));
    Ok(Outcome::Clean)
}

/// As a STIX 2.1 bundle or CSV, on standard output or into a file.
pub fn export(
    store: &mut Store,
    now: i64,
    format: &str,
    active: bool,
    out: Option<PathBuf>,
) -> anyhow::Result<Outcome> {
    let records = store.indicators(&IndicatorFilter {
        active_at: active.then_some(now),
        ..IndicatorFilter::default()
    })?;
    let indicators: Vec<_> = records.into_iter().map(|r| r.indicator).collect();
    let text = if format == "csv" {
        secops_intel::csv::export(&indicators)
    } else {
        format!("{}\n", secops_intel::stix::export(&indicators))
    };
    match out {
        Some(path) => {
            std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
            eprintln!(
                "wrote {} indicator(s) to {}",
                indicators.len(),
                path.display()
            );
        }
        None => print!("{text}"),
    }
    Ok(Outcome::Clean)
}

fn table(records: &[IndicatorRecord], now: i64) -> String {
    let mut out = format!(
        "{:>6}  {:<8}  {:<44}  {:>4}  {:<6}  {:<20}  {:<8}  SOURCE\n",
        "ID", "KIND", "VALUE", "CONF", "TLP", "EXPIRES", "STATE"
    );
    for r in records {
        let i = &r.indicator;
        let _ = writeln!(
            out,
            "{:>6}  {:<8}  {}  {:>4}  {:<6}  {:<20}  {:<8}  {}",
            r.id,
            i.kind.as_str(),
            cell(&i.value, 44),
            i.confidence
                .map(|c| c.to_string())
                .unwrap_or_else(|| "-".into()),
            i.tlp,
            time(r.expires_at),
            r.state(now).as_str(),
            safe(&i.source)
        );
    }
    out
}

fn show_one(r: &IndicatorRecord, judges: &Judges, now: i64) -> String {
    let i = &r.indicator;
    let or_dash = |t: Option<i64>| t.map(time).unwrap_or_else(|| "-".into());
    let mut out = String::new();
    let _ = writeln!(out, "indicator {}: {} {}", r.id, i.kind, safe(&i.value));
    let _ = writeln!(out, "  state        {}", r.state(now).as_str());
    let _ = writeln!(
        out,
        "  source       {} ({})",
        safe(&i.source),
        safe(i.native_id.as_deref().unwrap_or("-"))
    );
    let _ = writeln!(
        out,
        "  confidence   {}  score now {:.1}",
        i.confidence
            .map(|c| c.to_string())
            .unwrap_or_else(|| "-".into()),
        judges.models.score_at(i, now)
    );
    let _ = writeln!(out, "  TLP          {}", i.tlp.as_str().to_uppercase());
    let _ = writeln!(out, "  first seen   {}", or_dash(i.first_seen));
    let _ = writeln!(out, "  last seen    {}", or_dash(i.last_seen));
    let _ = writeln!(out, "  valid until  {}", or_dash(i.valid_until));
    let _ = writeln!(
        out,
        "  expires      {} ({})",
        time(r.expires_at),
        judges.models.for_kind(i.kind).name
    );
    let _ = writeln!(
        out,
        "  for matching {}",
        if i.to_ids { "yes" } else { "no (context)" }
    );
    if !r.warninglists.is_empty() {
        let _ = writeln!(out, "  warninglists {}", safe(&r.warninglists.join(", ")));
    }
    if !i.tags.is_empty() {
        let _ = writeln!(out, "  tags         {}", safe(&i.tags.join(", ")));
    }
    if !i.description.is_empty() {
        let _ = writeln!(out, "  description  {}", safe(&i.description));
    }
    let _ = writeln!(
        out,
        "  imported     {}  updated {}",
        time(i.imported_at),
        time(r.updated_at)
    );
    out
}

/// Counts with bars: by kind, by source, by state.
fn stats_of(records: &[IndicatorRecord], now: i64) -> String {
    let mut by_kind: BTreeMap<String, usize> = BTreeMap::new();
    let mut by_source: BTreeMap<String, usize> = BTreeMap::new();
    let mut by_state: BTreeMap<String, usize> = BTreeMap::new();
    for r in records {
        *by_kind.entry(r.indicator.kind.to_string()).or_default() += 1;
        *by_source.entry(r.indicator.source.clone()).or_default() += 1;
        *by_state
            .entry(r.state(now).as_str().to_string())
            .or_default() += 1;
    }
    let mut out = format!("{} indicator(s)\n", records.len());
    for (title, map) in [
        ("by state", &by_state),
        ("by kind", &by_kind),
        ("by source", &by_source),
    ] {
        let _ = writeln!(out, "\n{title}:");
        let max = map.values().copied().max().unwrap_or(1).max(1);
        let mut rows: Vec<(&String, &usize)> = map.iter().collect();
        rows.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
        for (name, n) in rows.into_iter().take(20) {
            let bar = "█".repeat((n * 30).div_ceil(max));
            let _ = writeln!(out, "  {} {:>7}  {bar}", cell(name, 40), n);
        }
    }
    out
}
