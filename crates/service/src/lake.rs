//! Logs into the event lake: inputs read in parallel, every event written once into its day and
//! source partition (`secops ingest LOGS --lake DIR`). Rejected records are counted in the inputs'
//! summaries, as `ingest` counts them; a lake that cannot be written stops the run with the file.
//!
//! `detect --lake` writes the events it reads too, and each alert, once complete, as an event of the
//! source `secops.alerts` ([`alert_event`]): hunts read them as `.alerts-security.*`, with the Kibana
//! alert field names Elastic's own alert queries use.

use secops_detect::Alert;
use secops_event::{Event, Location, Object, Provenance, Value};
use secops_ingest::parallel::{read_all, Consumer, Order};
use secops_ingest::{IngestError, Input, Options, Summary};
use secops_lake::{LakeWriter, Prepared, WriteStats};

use crate::{Cancel, Progress, ServiceError};

/// What a run into the lake did.
#[derive(Debug)]
pub struct LakeIngest {
    /// By input index, each input's summary (or why it could not be read).
    pub summaries: Vec<(usize, Result<Summary, IngestError>)>,
    pub stats: WriteStats,
    /// The run was asked to stop: events read after that were not written.
    pub cancelled: bool,
}

struct Writer<'p> {
    lake: LakeWriter,
    failed: Option<secops_lake::LakeError>,
    summaries: Vec<(usize, Result<Summary, IngestError>)>,
    progress: &'p dyn Progress,
    cancel: &'p Cancel,
}

impl Consumer<Prepared> for Writer<'_> {
    fn record(&mut self, _index: usize, row: Prepared) {
        if self.failed.is_some() || self.cancel.is_cancelled() {
            return;
        }
        if let Err(e) = self.lake.write_prepared(row) {
            self.failed = Some(e);
            self.cancel.cancel();
        }
    }

    fn done(&mut self, index: usize, summary: Result<Summary, IngestError>) {
        self.progress.advance();
        self.summaries.push((index, summary));
    }
}

/// Reads `inputs` and writes their events into the lake at `lake` (a folder, or `s3://bucket/prefix`).
pub fn ingest(
    inputs: &[Input],
    options: &Options,
    threads: usize,
    lake: &str,
    progress: &dyn Progress,
    cancel: &Cancel,
) -> Result<LakeIngest, ServiceError> {
    let mut writer = Writer {
        lake: LakeWriter::open(secops_lake::Lake::open(lake)?),
        failed: None,
        summaries: Vec::new(),
        progress,
        cancel,
    };
    progress.start(inputs.len() as u64);
    read_all(
        inputs,
        options,
        Order::Completion,
        threads,
        // The costly part of writing (JSON, digest, columns) on the readers' threads.
        |record| record.ok().map(|event| secops_lake::prepare(&event)),
        &mut writer,
    );
    progress.finish();
    if let Some(e) = writer.failed {
        return Err(e.into());
    }
    let stats = writer.lake.finish()?;
    writer.summaries.sort_by_key(|(i, _)| *i);
    Ok(LakeIngest {
        summaries: writer.summaries,
        stats,
        cancelled: cancel.is_cancelled(),
    })
}

/// Merges each partition's small files (see [`secops_lake::compact`]).
pub fn compact(lake: &str) -> Result<secops_lake::CompactStats, ServiceError> {
    Ok(secops_lake::compact(&secops_lake::Lake::open(lake)?)?)
}

/// Removes the days that ended more than `older_than` (nanoseconds) before `now`: a day goes when
/// all of it is older (with 30 days on 2026-12-04, days up to 2026-11-03 go).
pub fn prune(
    lake: &str,
    older_than: i64,
    now: secops_event::Timestamp,
) -> Result<secops_lake::PruneStats, ServiceError> {
    if older_than <= 0 {
        return Err(ServiceError::invalid(
            "--older-than",
            "a retention age is more than nothing",
        ));
    }
    let cutoff =
        secops_event::Timestamp::from_unix_nanos(now.unix_nanos().saturating_sub(older_than));
    let before: String = cutoff.to_rfc3339().chars().take(10).collect();
    Ok(secops_lake::prune(
        &secops_lake::Lake::open(lake)?,
        &before,
    )?)
}

/// The source alerts are written under.
pub const ALERTS_DATASET: &str = "secops.alerts";

/// An alert as a lake event: its document's keys (`rule.name`, `alert.id`, ...), the ECS fields of
/// its first event that hunts group alerts by (host, user, addresses, process, module, category),
/// and Kibana's names (`kibana.alert.rule.name`, `kibana.alert.severity`, ...).
pub fn alert_event(alert: &Alert) -> Event {
    let document = alert.document();
    let mut fields = Object::new();
    if let Ok(serde_json::Value::Object(map)) = serde_json::to_value(&document) {
        for (key, value) in map {
            // The events travel separately in the lake; the alert keeps their provenance.
            if key == "events" || key == "@timestamp" {
                continue;
            }
            fields.insert(key, Value::from(value));
        }
    }
    if let Some(first) = alert.events.first() {
        for key in COPIED {
            if let Some(value) = first.get(key) {
                if fields.get(key).is_none() {
                    fields.insert(*key, value.clone());
                }
            }
        }
        if let Some(dataset) = first.get("event.dataset") {
            fields.insert("kibana.alert.original_event.dataset", dataset.clone());
        }
    }
    let rule = &alert.rule;
    fields.insert("event.kind", "signal");
    fields.insert("event.dataset", ALERTS_DATASET);
    fields.insert("kibana.alert.uuid", alert.id.clone());
    fields.insert("kibana.alert.rule.name", rule.name.clone());
    fields.insert("kibana.alert.rule.rule_id", rule.id.clone());
    fields.insert("kibana.alert.rule.uuid", rule.id.clone());
    fields.insert("kibana.alert.rule.type", rule.rule_type.as_str());
    fields.insert("kibana.alert.severity", rule.severity.as_str());
    fields.insert("kibana.alert.risk_score", i64::from(rule.risk_score));
    fields.insert("kibana.alert.workflow_status", "open");
    fields.insert("kibana.alert.original_time", alert.first.to_rfc3339());
    let tactics: Vec<Value> = rule.tactics().into_iter().map(Value::from).collect();
    if !tactics.is_empty() {
        fields.insert("kibana.alert.rule.threat.tactic.id", Value::Array(tactics));
    }
    let techniques: Vec<Value> = rule.techniques().into_iter().map(Value::from).collect();
    if !techniques.is_empty() {
        fields.insert(
            "kibana.alert.rule.threat.technique.id",
            Value::Array(techniques),
        );
    }
    if !rule.tags.is_empty() {
        let tags: Vec<Value> = rule.tags.iter().map(|t| Value::from(t.as_str())).collect();
        fields.insert("kibana.alert.rule.tags", Value::Array(tags));
    }
    let mut event = Event::from_fields(
        fields,
        Provenance::new(format!("alert {}", alert.id), Location::Line(1)),
    );
    event.set_timestamp(alert.timestamp);
    event
}

/// The first event's fields an alert carries, as Elastic's alert documents carry the source event's.
const COPIED: &[&str] = &[
    "host.name",
    "host.id",
    "user.name",
    "user.domain",
    "source.ip",
    "destination.ip",
    "process.name",
    "process.executable",
    "process.command_line",
    "process.entity_id",
    "process.parent.name",
    "event.module",
    "event.category",
    "event.action",
    "message",
];
