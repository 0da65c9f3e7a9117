//! `intel retro-hunt LOGS`: logs already collected searched for indicators that arrived recently (the
//! service's `retro_hunt`); past sightings printed, and recorded with `--record`.

use std::fmt::Write as _;

use secops_event::Timestamp;
use secops_ingest::Options;
use secops_service::intel::Judges;
use secops_service::pipeline::PipelineOptions;
use secops_service::retro_hunt::{retro_hunt, RetroHuntRequest};
use secops_service::FixedClock;
use secops_store::Store;

use super::RetroHuntArgs;
use crate::output::time;
use crate::progress::InputsBar;
use crate::Outcome;

pub fn run(
    store: &mut Store,
    judges: &Judges,
    now: i64,
    hunt: &RetroHuntArgs,
) -> anyhow::Result<Outcome> {
    let since = match Timestamp::parse_rfc3339(&hunt.since) {
        Ok(t) => t.unix_nanos(),
        Err(_) => {
            let d: secops_rules::Duration = hunt
                .since
                .parse()
                .map_err(|e| anyhow::anyhow!("--since: {e} (or an RFC 3339 time)"))?;
            now - i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)
        }
    };
    let request = RetroHuntRequest {
        paths: hunt.paths.clone(),
        since,
        rules: hunt.rules.selection(),
        pipeline: PipelineOptions {
            read: Options {
                format: None,
                year: hunt.year,
                timezone: None,
                evtx_recover: false,
                counters: None,
            },
            ..PipelineOptions::default()
        },
        record: hunt.record,
    };
    let clock = FixedClock(Timestamp::from_unix_nanos(now));
    let found = retro_hunt(store, judges, &request, &clock, &InputsBar::new())?;
    eprintln!(
        "retro-hunt: {} indicator(s) new or updated since {}",
        found.indicators,
        time(since)
    );
    for (id, e) in &found.not_running {
        eprintln!("error: rule {id}: {e}");
    }
    for e in &found.input_errors {
        eprintln!("error: {e}");
    }
    let mut out = String::new();
    for a in &found.alerts {
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
    if let Some((recorded, sightings)) = &found.recorded {
        eprintln!("store: {} alert(s) recorded", recorded.total());
        eprintln!("intel: {sightings} indicator(s) sighted (last seen and expiry moved on)");
    }
    eprintln!(
        "retro-hunt: {} event(s) searched, {} past sighting(s)",
        found.events,
        found.alerts.len()
    );
    Ok(if found.rejected > 0 || !found.input_errors.is_empty() {
        Outcome::Rejections
    } else {
        Outcome::Clean
    })
}
