//! `secops intel ...`: indicators into the store (files, folders, URLs, TAXII), judged by warninglists
//! and decay; listed, searched, shown, counted, pruned and exported; and retro-hunts of new
//! indicators through logs already collected.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;

use anyhow::{bail, Context};
use secops_intel::csv::Mapping;
use secops_intel::taxii::Client;
use secops_intel::{format_time, Format, Import, Kind};
use secops_store::{IndicatorFilter, IndicatorRecord, Store, Stored};

use crate::args::JudgeArgs;
use crate::output::clip;
use crate::store::StoreArgs;
use crate::Outcome;
use secops_service::intel::{judge, Judges};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    store: StoreArgs,
    #[command(flatten)]
    judges: JudgeArgs,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Import indicators from files, folders (a MISP feed, or files of any format) or http(s) URLs:
    /// STIX 2.1, MISP events, CSV feeds, plain lists. Prints counts per kind and every record that
    /// did not become an indicator, with the reason.
    Import {
        #[arg(required = true)]
        sources: Vec<String>,
        /// stix, misp, misp-feed, csv or list (default: recognized per file).
        #[arg(long)]
        format: Option<String>,
        /// CSV columns: value=COL,kind=ip|domain|...,kind_column=COL,first_seen=COL,last_seen=COL,
        /// confidence=COL,tags=COL (known feeds are recognized by their header).
        #[arg(long)]
        columns: Option<String>,
    },
    /// Pull a TAXII 2.1 server's collections (all readable ones, or --collection), from where the
    /// last pull stopped.
    Taxii {
        #[command(subcommand)]
        command: Taxii,
    },
    /// List indicators.
    List {
        #[arg(long, value_parser = parse_kind)]
        kind: Option<Kind>,
        #[arg(long)]
        source: Option<String>,
        /// Only those that match now (unexpired, for detection, on no warninglist).
        #[arg(long)]
        active: bool,
        #[arg(long, default_value_t = 100)]
        limit: u32,
    },
    /// Indicators whose value contains the text.
    Search { text: String },
    /// One indicator, whole: provenance, times, score now, expiry, warninglists.
    Show { id: i64 },
    /// Counts by kind and source, active, expired and warninglisted.
    Stats,
    /// Delete indicators that have expired.
    Prune,
    /// Write indicators as a STIX 2.1 bundle or CSV.
    Export {
        #[arg(long, default_value = "stix", value_parser = ["stix", "csv"])]
        format: String,
        /// Only those that match now.
        #[arg(long)]
        active: bool,
        #[arg(long, short = 'o')]
        out: Option<PathBuf>,
    },
    /// Search logs already collected for indicators that arrived recently, with the threat_match
    /// rules, and raise alerts for past sightings.
    RetroHunt(RetroHuntArgs),
}

#[derive(Debug, clap::Subcommand)]
enum Taxii {
    /// Pull objects and import their indicators.
    Pull {
        /// The server (`https://taxii.example` or `http://127.0.0.1:5000`).
        url: String,
        /// An API root path (default: every root the discovery lists).
        #[arg(long = "api-root")]
        api_root: Option<String>,
        /// A collection id (default: every readable collection).
        #[arg(long)]
        collection: Option<String>,
        #[arg(long)]
        user: Option<String>,
        /// The password (also $SECOPS_TAXII_PASSWORD).
        #[arg(long)]
        password: Option<String>,
        /// Objects per page.
        #[arg(long, default_value_t = 100)]
        limit: u32,
        /// Pull everything again, not only what was added since the last pull.
        #[arg(long)]
        all: bool,
    },
}

#[derive(Debug, clap::Args)]
pub struct RetroHuntArgs {
    /// Logs to search: files, folders, globs.
    #[arg(required = true)]
    paths: Vec<String>,
    /// Indicators that arrived in this period (`30d`, `12h`) or since this time (RFC 3339).
    #[arg(long, default_value = "30d")]
    since: String,
    #[command(flatten)]
    rules: crate::args::RuleArgs,
    /// Year of the first line of syslog files without years.
    #[arg(long)]
    year: Option<i32>,
    /// Record the alerts in the store as `detect --store` does.
    #[arg(long = "record")]
    record: bool,
}

fn parse_kind(text: &str) -> Result<Kind, String> {
    Kind::parse(text).ok_or_else(|| {
        format!(
            "{text:?}: use one of {}",
            Kind::ALL.map(|k| k.as_str()).join(", ")
        )
    })
}

pub fn run(args: Args) -> anyhow::Result<Outcome> {
    let mut store = args.store.open()?;
    let judges = args.judges.load()?;
    for (file, reason) in &judges.refused {
        eprintln!("warninglist refused: {file}: {reason}");
    }
    let now = secops_intel::now_nanos();
    match args.command {
        Command::Import {
            sources,
            format,
            columns,
        } => {
            let format = format
                .map(|f| {
                    Format::parse(&f).with_context(|| {
                        format!("--format {f:?}: use stix, misp, misp-feed, csv or list")
                    })
                })
                .transpose()?;
            let mapping = columns
                .map(|c| Mapping::parse(&c))
                .transpose()?
                .unwrap_or_default();
            let mut rejected = 0;
            for source in &sources {
                let import = read_source(source, format, &mapping)?;
                rejected += import.rejected.len();
                print!(
                    "{}",
                    store_import(&mut store, source, &import, &judges, now)?
                );
            }
            Ok(if rejected > 0 {
                Outcome::Rejections
            } else {
                Outcome::Clean
            })
        }
        Command::Taxii { command } => match command {
            Taxii::Pull {
                url,
                api_root,
                collection,
                user,
                password,
                limit,
                all,
            } => taxii_pull(
                &mut store, &judges, now, &url, api_root, collection, user, password, limit, all,
            ),
        },
        Command::List {
            kind,
            source,
            active,
            limit,
        } => {
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
        Command::Search { text } => {
            let records = store.indicators(&IndicatorFilter {
                search: Some(text),
                ..IndicatorFilter::default()
            })?;
            print!("{}", table(&records, now));
            eprintln!("{} indicator(s)", records.len());
            Ok(Outcome::Clean)
        }
        Command::Show { id } => {
            let r = store.indicator(id)?;
            print!("{}", show(&r, &judges, now));
            Ok(Outcome::Clean)
        }
        Command::Stats => {
            let all = store.indicators(&IndicatorFilter::default())?;
            print!("{}", stats(&all, now));
            Ok(Outcome::Clean)
        }
        Command::Prune => {
            let removed = store.prune_indicators(now)?;
            println!("{removed} expired indicator(s) removed");
            Ok(Outcome::Clean)
        }
        Command::Export {
            format,
            active,
            out,
        } => {
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
                    std::fs::write(&path, text)
                        .with_context(|| format!("writing {}", path.display()))?;
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
        Command::RetroHunt(hunt) => retro_hunt(&mut store, &judges, now, &hunt),
    }
}

/// A file, folder or http(s) URL, imported.
fn read_source(source: &str, format: Option<Format>, mapping: &Mapping) -> anyhow::Result<Import> {
    if source.starts_with("http://") || source.starts_with("https://") {
        let text = ureq_get(source)?;
        let name = source.rsplit('/').find(|s| !s.is_empty()).unwrap_or(source);
        let format =
            format.unwrap_or_else(|| secops_intel::detect(std::path::Path::new(name), Some(&text)));
        return Ok(secops_intel::import_text(source, &text, format, mapping)?);
    }
    let path = PathBuf::from(source);
    if !path.exists() {
        bail!("{source} does not exist");
    }
    Ok(secops_intel::import_path(&path, format, mapping)?)
}

fn ureq_get(url: &str) -> anyhow::Result<String> {
    let mut response = ureq::get(url)
        .call()
        .with_context(|| format!("fetching {url}"))?;
    response
        .body_mut()
        .with_config()
        .limit(512 * 1024 * 1024)
        .read_to_string()
        .with_context(|| format!("reading {url}"))
}

/// Judges and stores an import; returns the report.
fn store_import(
    store: &mut Store,
    name: &str,
    import: &Import,
    judges: &Judges,
    now: i64,
) -> anyhow::Result<String> {
    let judged = judge(import, judges, now);
    let stored = store.store_indicators(&judged.indicators, now)?;
    let added = stored
        .iter()
        .filter(|s| matches!(s, Stored::Added(_)))
        .count();
    let mut out = String::new();
    let counts: Vec<String> = import
        .counts()
        .iter()
        .map(|(k, n)| format!("{k} {n}"))
        .collect();
    writeln!(
        out,
        "{name}: {} indicator(s) ({}); {added} new, {} updated; {} not indicators",
        import.indicators.len(),
        if counts.is_empty() {
            "none".into()
        } else {
            counts.join(", ")
        },
        stored.len() - added,
        import.rejected.len(),
    )?;
    for (what, n) in &import.other {
        writeln!(out, "  other: {n} {what}")?;
    }
    for r in import.rejected.iter().take(50) {
        writeln!(out, "  not an indicator: {}: {}", r.location, r.reason)?;
    }
    if import.rejected.len() > 50 {
        writeln!(
            out,
            "  ... and {} more not indicators",
            import.rejected.len() - 50
        )?;
    }
    for (kind, value, lists) in judged.warninglisted.iter().take(20) {
        writeln!(
            out,
            "  warninglisted (kept, never matched): {kind} {value}: {}",
            lists.join(", ")
        )?;
    }
    if judged.warninglisted.len() > 20 {
        writeln!(
            out,
            "  ... and {} more warninglisted",
            judged.warninglisted.len() - 20
        )?;
    }
    if judged.expired > 0 {
        writeln!(
            out,
            "  {} already expired (kept, not matched; `intel prune` removes them)",
            judged.expired
        )?;
    }
    Ok(out)
}

#[allow(clippy::too_many_arguments)]
fn taxii_pull(
    store: &mut Store,
    judges: &Judges,
    now: i64,
    url: &str,
    api_root: Option<String>,
    collection: Option<String>,
    user: Option<String>,
    password: Option<String>,
    limit: u32,
    all: bool,
) -> anyhow::Result<Outcome> {
    let password = password.or_else(|| std::env::var("SECOPS_TAXII_PASSWORD").ok());
    let credentials = match (&user, &password) {
        (Some(u), Some(p)) => Some((u.as_str(), p.as_str())),
        (Some(_), None) => bail!("--user needs --password (or $SECOPS_TAXII_PASSWORD)"),
        _ => None,
    };
    let client = Client::new(url, credentials)?;
    let roots = match api_root {
        Some(root) => vec![root],
        None => client.api_roots()?,
    };
    let mut rejected = 0;
    for root in roots {
        let collections = match &collection {
            Some(id) => vec![id.clone()],
            None => client
                .collections(&root)?
                .into_iter()
                .filter(|c| c.can_read)
                .map(|c| c.id)
                .collect(),
        };
        for id in collections {
            let key = format!("taxii {url} {root} {id}");
            let after = if all { None } else { store.intel_state(&key)? };
            let pulled = client.objects(&root, &id, after.as_deref(), limit)?;
            let envelope = serde_json::json!({ "objects": pulled.objects });
            let source = format!("taxii:{root}collections/{id}");
            let import = secops_intel::stix::import(&source, &envelope.to_string())?;
            rejected += import.rejected.len();
            println!(
                "{root} collection {id}: {} object(s) in {} page(s) since {}",
                pulled.objects.len(),
                pulled.pages,
                after.as_deref().unwrap_or("the beginning")
            );
            print!("{}", store_import(store, &source, &import, judges, now)?);
            if let Some(last) = pulled.added_last {
                store.set_intel_state(&key, &last)?;
            }
        }
    }
    Ok(if rejected > 0 {
        Outcome::Rejections
    } else {
        Outcome::Clean
    })
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
            "{:>6}  {:<8}  {:<44}  {:>4}  {:<6}  {:<20}  {:<8}  {}",
            r.id,
            i.kind.as_str(),
            clip(&i.value, 44),
            i.confidence
                .map(|c| c.to_string())
                .unwrap_or_else(|| "-".into()),
            i.tlp,
            format_time(r.expires_at),
            state(r, now),
            i.source
        );
    }
    out
}

fn state(r: &IndicatorRecord, now: i64) -> &'static str {
    if !r.warninglists.is_empty() {
        "listed"
    } else if r.expires_at <= now {
        "expired"
    } else if !r.indicator.to_ids {
        "context"
    } else {
        "active"
    }
}

fn show(r: &IndicatorRecord, judges: &Judges, now: i64) -> String {
    let i = &r.indicator;
    let time = |t: Option<i64>| t.map(format_time).unwrap_or_else(|| "-".into());
    let mut out = String::new();
    let _ = writeln!(out, "indicator {}: {} {}", r.id, i.kind, i.value);
    let _ = writeln!(out, "  state        {}", state(r, now));
    let _ = writeln!(
        out,
        "  source       {} ({})",
        i.source,
        i.native_id.as_deref().unwrap_or("-")
    );
    let _ = writeln!(
        out,
        "  confidence   {}  score now {:.1}",
        i.confidence
            .map(|c| c.to_string())
            .unwrap_or_else(|| "-".into()),
        judges.models.score_at(i, now)
    );
    let _ = writeln!(out, "  TLP          {}", i.tlp.to_uppercase());
    let _ = writeln!(out, "  first seen   {}", time(i.first_seen));
    let _ = writeln!(out, "  last seen    {}", time(i.last_seen));
    let _ = writeln!(out, "  valid until  {}", time(i.valid_until));
    let _ = writeln!(
        out,
        "  expires      {} ({})",
        format_time(r.expires_at),
        judges.models.for_kind(i.kind).name
    );
    let _ = writeln!(
        out,
        "  for matching {}",
        if i.to_ids { "yes" } else { "no (context)" }
    );
    if !r.warninglists.is_empty() {
        let _ = writeln!(out, "  warninglists {}", r.warninglists.join(", "));
    }
    if !i.tags.is_empty() {
        let _ = writeln!(out, "  tags         {}", i.tags.join(", "));
    }
    if !i.description.is_empty() {
        let _ = writeln!(out, "  description  {}", i.description);
    }
    let _ = writeln!(
        out,
        "  imported     {}  updated {}",
        format_time(i.imported_at),
        format_time(r.updated_at)
    );
    out
}

/// Counts with bars: by kind, by source, by state.
fn stats(records: &[IndicatorRecord], now: i64) -> String {
    let mut by_kind: BTreeMap<String, usize> = BTreeMap::new();
    let mut by_source: BTreeMap<String, usize> = BTreeMap::new();
    let mut by_state: BTreeMap<String, usize> = BTreeMap::new();
    for r in records {
        *by_kind.entry(r.indicator.kind.to_string()).or_default() += 1;
        *by_source.entry(r.indicator.source.clone()).or_default() += 1;
        *by_state.entry(state(r, now).to_string()).or_default() += 1;
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
            let _ = writeln!(out, "  {:<40} {:>7}  {bar}", clip(name, 40), n);
        }
    }
    out
}

fn retro_hunt(
    store: &mut Store,
    judges: &Judges,
    now: i64,
    hunt: &RetroHuntArgs,
) -> anyhow::Result<Outcome> {
    let since = match secops_event::Timestamp::parse_rfc3339(&hunt.since) {
        Ok(t) => t.unix_nanos(),
        Err(_) => {
            let d: secops_rules::Duration = hunt
                .since
                .parse()
                .map_err(|e| anyhow::anyhow!("--since: {e} (or an RFC 3339 time)"))?;
            now - i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)
        }
    };
    let mut index = secops_intel::IndicatorIndex::new();
    if let Some(lists) = &judges.lists {
        index = index.with_warninglists(lists.clone());
    }
    let fresh = store.indicators(&IndicatorFilter {
        active_at: Some(now),
        changed_since: Some(since),
        ..IndicatorFilter::default()
    })?;
    eprintln!(
        "retro-hunt: {} indicator(s) new or updated since {}",
        fresh.len(),
        format_time(since)
    );
    for r in fresh {
        index.add(r.indicator);
    }
    let indicators = secops_detect::IndicatorSet::from_index(index);
    let mut loaded = hunt.rules.load()?;
    loaded
        .native
        .retain(|r| r.file.rule.rule_type == secops_rules::RuleType::ThreatMatch);
    if loaded.native.is_empty() {
        bail!("no threat_match rule among the rules: a retro-hunt runs those");
    }
    let (mut engine, errors) = secops_detect::Engine::with_indicators(
        &loaded.native,
        secops_event::Timestamp::from_unix_nanos(now),
        &indicators,
    );
    for (id, e) in &errors {
        eprintln!("error: rule {id}: {e}");
    }
    let (inputs, input_errors) = secops_ingest::expand(&hunt.paths);
    for e in &input_errors {
        eprintln!("error: {e}");
    }
    let options = secops_ingest::Options {
        format: None,
        year: hunt.year,
    };
    let run = crate::cmd::run_pipeline(&mut engine, &inputs, &options, true);
    let mut alerts = run.alerts;
    alerts.sort_by_key(|a| a.timestamp);
    let mut out = String::new();
    for a in &alerts {
        let matched: Vec<String> = a
            .enrichments
            .iter()
            .map(|e| {
                format!(
                    "{}={} ({} {}, {})",
                    e.field, e.atomic, e.indicator.kind, e.indicator.value, e.indicator.source
                )
            })
            .collect();
        writeln!(
            out,
            "{}  {}  {}  {}",
            a.timestamp.to_rfc3339(),
            a.rule.name,
            matched.join("; "),
            a.provenance
                .first()
                .map(|p| p.to_string())
                .unwrap_or_default()
        )?;
    }
    print!("{out}");
    if hunt.record {
        let suppressions = secops_service::record::suppressions(&loaded.native);
        let recorded = secops_service::record::record(
            store,
            &alerts,
            &suppressions,
            &secops_service::Actor::service("retro-hunt"),
            now,
        )?;
        eprintln!("store: {} alert(s) recorded", recorded.total());
        let sightings = secops_service::intel::record_sightings(store, &alerts, judges, now)?;
        eprintln!("intel: {sightings} indicator(s) sighted (last seen and expiry moved on)");
    }
    eprintln!(
        "retro-hunt: {} event(s) searched, {} past sighting(s)",
        run.events,
        alerts.len()
    );
    Ok(if run.rejected > 0 || !input_errors.is_empty() {
        Outcome::Rejections
    } else {
        Outcome::Clean
    })
}
