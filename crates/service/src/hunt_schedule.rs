//! Scheduled hunts: a hunt run over the lake like a rule, each row an alert in the store. A run
//! covers the event time from where the last run of that hunt ended (or, the first time, its
//! look-back) to now, so a run after downtime covers the gap instead of skipping it; the store
//! keeps where each hunt got to. An alert is known by the hunt, the row's text values and its first
//! time, so a range covered twice raises its alerts once.

use secops_event::Timestamp;
use secops_hunt_lang::{Command, Query, Stage};
use secops_store::{HuntSchedule, NewAlert, Recorded};
use serde_json::{Map, Value as Json};

use crate::hunt::{HuntOptions, Output};
use crate::hunt_library::HuntEntry;
use crate::ServiceError;

/// What a scheduled run needs besides the hunt.
#[derive(Debug, Clone)]
pub struct ScheduleOptions {
    /// Which of the hunt's queries (from 0).
    pub query: usize,
    /// The end of the range (and `now()` for the query).
    pub now: Timestamp,
    /// How far back a hunt's first run looks (nanoseconds).
    pub look_back: i64,
    /// Run from here instead of where the last run ended (a range run again by hand).
    pub from: Option<Timestamp>,
    /// The lake (a folder or `s3://bucket/prefix`).
    pub lake: String,
    /// The store's target (`--db` or `--database-url`), for the query's tables.
    pub store: String,
    /// Who the alerts are recorded by.
    pub actor: String,
    /// Rows turned into alerts at most per run (the rest are counted, not raised).
    pub max_rows: u64,
}

/// What one scheduled run did.
#[derive(Debug, Clone)]
pub struct ScheduledRun {
    /// `<hunt id>#<query number>`: the key of the hunt's record in the store.
    pub key: String,
    pub from: Timestamp,
    pub to: Timestamp,
    /// The range was empty (the last run ended at now or later): nothing ran.
    pub nothing_due: bool,
    pub rows: u64,
    /// Rows beyond `max_rows`: not raised.
    pub capped: bool,
    pub new_alerts: usize,
    /// Rows already raised by an earlier run over the same range.
    pub repeats: usize,
    /// Event time beyond one look-back covered because the hunt had not run (downtime), nanoseconds.
    pub gap_filled: i64,
    /// The hunt's record after the run.
    pub record: Option<HuntSchedule>,
}

/// Runs a hunt once over the range due, raising its rows as alerts.
pub fn run_once(
    entry: &HuntEntry,
    options: &ScheduleOptions,
    store: &mut secops_store::Store,
) -> Result<ScheduledRun, ServiceError> {
    let hunt = &entry.file.hunt;
    let text = hunt.query.get(options.query).ok_or_else(|| {
        ServiceError::invalid(
            "--number",
            format!(
                "the hunt has {} quer{} in the hunt language",
                hunt.query.len(),
                if hunt.query.len() == 1 { "y" } else { "ies" }
            ),
        )
    })?;
    let key = format!("{}#{}", hunt.uuid, options.query + 1);
    let last = store.hunt_schedule(&key)?;
    let to = options.now;
    let first_from = to.unix_nanos().saturating_sub(options.look_back);
    let from = match (options.from, &last) {
        (Some(from), _) => from.unix_nanos(),
        (None, Some(last)) => last.covered_to,
        (None, None) => first_from,
    };
    let gap_filled = match (&options.from, &last) {
        (None, Some(last)) => (to.unix_nanos() - last.covered_to - options.look_back).max(0),
        _ => 0,
    };
    let mut run = ScheduledRun {
        key: key.clone(),
        from: Timestamp::from_unix_nanos(from),
        to,
        nothing_due: from >= to.unix_nanos(),
        rows: 0,
        capped: false,
        new_alerts: 0,
        repeats: 0,
        gap_filled,
        record: last,
    };
    if run.nothing_due {
        return Ok(run);
    }
    let query = in_range(text, run.from, to)?;
    let hunt_options = HuntOptions {
        now: Some(to),
        store: Some(options.store.clone()),
        limits: secops_hunt::Limits {
            max_rows: Some(options.max_rows),
            ..secops_hunt::Limits::default()
        },
        ..HuntOptions::default()
    };
    let mut out = Vec::new();
    let stats = crate::hunt::run(
        &query,
        Some(&options.lake),
        &hunt_options,
        Output::Jsonl,
        &mut out,
    )?;
    run.rows = stats.rows;
    run.capped = stats.capped;
    let rows: Vec<Json> = String::from_utf8_lossy(&out)
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(serde_json::from_str)
        .collect::<Result<_, _>>()
        .map_err(|e| ServiceError::Missing(format!("a row the hunt wrote: {e}")))?;
    let alerts: Vec<NewAlert> = rows
        .iter()
        .map(|row| alert_of(entry, row, run.from, to))
        .collect();
    let now = Timestamp::now().unix_nanos();
    for recorded in store.record_alerts(&alerts, &options.actor, now)? {
        match recorded {
            Recorded::Duplicate(_) => run.repeats += 1,
            Recorded::Inserted(_) | Recorded::Merged(_) => run.new_alerts += 1,
        }
    }
    run.record = Some(store.record_hunt_run(
        &key,
        to.unix_nanos(),
        options.look_back,
        now,
        i64::try_from(run.new_alerts).unwrap_or(i64::MAX),
    )?);
    Ok(run)
}

/// The hunt's query over `[from, to)` only: a WHERE on `@timestamp` right after its FROM (a
/// first-seen hunt's history subquery keeps reading before it).
fn in_range(text: &str, from: Timestamp, to: Timestamp) -> Result<String, ServiceError> {
    let invalid = |e: String| ServiceError::invalid("the hunt's query", e);
    let mut query = secops_hunt_lang::parse(text).map_err(|e| invalid(e.describe(text)))?;
    if !matches!(
        query.stages.first().map(|s| &s.command),
        Some(Command::From { .. })
    ) {
        return Err(invalid(
            "a scheduled hunt reads the lake: its query must start with FROM".into(),
        ));
    }
    let range = format!(
        "FROM events | WHERE @timestamp >= to_datetime(\"{}\") AND @timestamp < to_datetime(\"{}\")",
        from.to_rfc3339(),
        to.to_rfc3339()
    );
    let Query { stages } =
        secops_hunt_lang::parse(&range).map_err(|e| invalid(e.describe(&range)))?;
    let Some(Stage {
        command: Command::Where(condition),
        span,
    }) = stages.into_iter().nth(1)
    else {
        return Err(invalid("the range did not parse as a WHERE".into()));
    };
    query.stages.insert(
        1,
        Stage {
            command: Command::Where(condition),
            span,
        },
    );
    Ok(query.to_string())
}

/// A row as an alert: the hunt is the rule; the row's text values are the group (so the same row
/// from the same range is the same alert); its time is the row's `@timestamp`, else the range's start.
fn alert_of(entry: &HuntEntry, row: &Json, from: Timestamp, to: Timestamp) -> NewAlert {
    let hunt = &entry.file.hunt;
    let empty = Map::new();
    let fields = row.as_object().unwrap_or(&empty);
    let time = fields
        .get("@timestamp")
        .and_then(Json::as_str)
        .and_then(crate::hunt_library::instant);
    let first = time.unwrap_or(from);
    // The alert document's own keys stay its own; such columns are still in the row (its event).
    let reserved = |k: &str| {
        k == "@timestamp"
            || k == "events"
            || k == "schema_version"
            || [
                "rule.",
                "alert.",
                "threat.",
                "secops.",
                "event.provenance",
                "host.risk.",
                "user.risk.",
            ]
            .iter()
            .any(|p| k.starts_with(p))
    };
    let group: Vec<(String, String)> = fields
        .iter()
        .filter(|(k, _)| !reserved(k))
        .filter_map(|(k, v)| v.as_str().map(|s| (k.clone(), s.to_string())))
        .collect();
    let id = secops_alert::alert_id(&hunt.uuid, &group, first.unix_nanos(), None);
    let document = secops_alert::AlertDocument {
        timestamp: time.unwrap_or(to).to_rfc3339(),
        id: id.clone(),
        first: first.to_rfc3339(),
        rule_id: hunt.uuid.clone(),
        rule_name: hunt.name.clone(),
        rule_author: hunt.author.clone(),
        rule_version: 1,
        rule_type: "hunt".into(),
        severity: "medium".into(),
        risk_score: 47,
        techniques: hunt.mitre.clone(),
        group: group
            .iter()
            .map(|(k, v)| (k.clone(), Json::String(v.clone())))
            .collect(),
        provenance: vec![format!(
            "hunt {} over {} to {}",
            hunt.uuid,
            from.to_rfc3339(),
            to.to_rfc3339()
        )],
        events: vec![row.clone()],
        ..secops_alert::AlertDocument::default()
    };
    NewAlert {
        rule_id: hunt.uuid.clone(),
        rule_name: hunt.name.clone(),
        rule_version: 1,
        severity: "medium".into(),
        risk_score: 47,
        group_key: secops_alert::group_key(&group, &id),
        first_seen: first.unix_nanos(),
        last_seen: time.unwrap_or(first).unix_nanos(),
        event_count: 1,
        dedupe_window: 0,
        document: document.to_line(),
    }
}
