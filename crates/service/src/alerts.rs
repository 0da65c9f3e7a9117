//! Stored alerts: listed a page at a time (newest first, by a keyset cursor, so a console pages over
//! millions of alerts at the same cost per page), acknowledged and closed by an actor. Every change is
//! in the alert's event log.

use secops_store::{AlertCursor, AlertFilter, AlertRecord, BulkChange, Store};

use crate::{Actor, Clock, ServiceError};

/// One page of a listing, and where the next one starts (none: this was the last).
#[derive(Debug, Clone)]
pub struct Page<T, C> {
    pub items: Vec<T>,
    pub next: Option<C>,
}

/// At most `size` alerts matching `filter` after `filter.after` (its own `limit` is replaced).
pub fn list(
    store: &mut Store,
    filter: &AlertFilter,
    size: u32,
) -> Result<Page<AlertRecord, AlertCursor>, ServiceError> {
    let size = size.max(1);
    // One more than asked tells whether another page follows without a count.
    let mut items = store.alerts(&AlertFilter {
        limit: Some(size.saturating_add(1)),
        ..filter.clone()
    })?;
    let more = items.len() > size as usize;
    items.truncate(size as usize);
    let next = if more {
        items.last().map(AlertRecord::cursor)
    } else {
        None
    };
    Ok(Page { items, next })
}

/// Marks an open alert as seen by someone who is on it.
pub fn acknowledge(
    store: &mut Store,
    id: i64,
    actor: &Actor,
    clock: &dyn Clock,
) -> Result<AlertRecord, ServiceError> {
    Ok(store.acknowledge_alert(id, &actor.name, clock.now().unix_nanos())?)
}

/// Closes an alert with a resolution (`false_positive`, `true_positive`, `benign`, `duplicate`, ...).
pub fn close(
    store: &mut Store,
    id: i64,
    resolution: &str,
    actor: &Actor,
    clock: &dyn Clock,
) -> Result<AlertRecord, ServiceError> {
    Ok(store.close_alert(id, &actor.name, resolution, clock.now().unix_nanos())?)
}

/// One alert changed as a bulk change changes many: refused with the reason when it cannot be.
fn change_one(
    store: &mut Store,
    id: i64,
    change: BulkChange<'_>,
    actor: &Actor,
    clock: &dyn Clock,
) -> Result<AlertRecord, ServiceError> {
    let mut done =
        store.bulk_change_alerts(&[id], change, &actor.name, clock.now().unix_nanos())?;
    if let Some((_, why)) = done.refused.pop() {
        return Err(match store.alert(id) {
            Err(e) => e.into(),
            Ok(_) => ServiceError::invalid("alert", why),
        });
    }
    done.changed
        .pop()
        .ok_or_else(|| ServiceError::Missing(format!("alert {id} was not changed")))
}

/// Assigns an alert to a user, or (`None`) to no one.
pub fn assign(
    store: &mut Store,
    id: i64,
    assignee: Option<&str>,
    actor: &Actor,
    clock: &dyn Clock,
) -> Result<AlertRecord, ServiceError> {
    change_one(store, id, BulkChange::Assign { assignee }, actor, clock)
}

/// Adds and removes tags.
pub fn tag(
    store: &mut Store,
    id: i64,
    add: &[String],
    remove: &[String],
    actor: &Actor,
    clock: &dyn Clock,
) -> Result<AlertRecord, ServiceError> {
    change_one(store, id, BulkChange::Tag { add, remove }, actor, clock)
}

/// Alerts per rule over a period, in periods of equal length.
#[derive(Debug, Clone, PartialEq)]
pub struct Volume {
    /// Each period's start (UTC nanoseconds), oldest first, every period of the span (empty ones too).
    pub periods: Vec<i64>,
    /// The rules with most alerts over the span, most first: (id, name, alerts per period).
    pub rules: Vec<(String, String, Vec<i64>)>,
    /// Alerts per period of the rules beyond the `top` shown.
    pub others: Vec<i64>,
}

/// Most periods one volume request may span.
pub const VOLUME_PERIODS: i64 = 1000;

/// Alert volume from `since` to `until` in periods of `period` nanoseconds (at most
/// [`VOLUME_PERIODS`]), the `top` rules by count shown apart and the rest summed.
pub fn volume(
    store: &mut Store,
    since: i64,
    until: i64,
    period: i64,
    top: usize,
) -> Result<Volume, ServiceError> {
    if period <= 0 {
        return Err(ServiceError::invalid("period", "must be longer than zero"));
    }
    if until <= since {
        return Err(ServiceError::invalid("until", "must be after since"));
    }
    let first = since - since.rem_euclid(period);
    // In 128 bits: the span between two extreme times does not fit in 64.
    let count =
        (i128::from(until) - i128::from(first) + i128::from(period) - 1) / i128::from(period);
    if count > i128::from(VOLUME_PERIODS) {
        return Err(ServiceError::invalid(
            "period",
            format!("{count} periods; at most {VOLUME_PERIODS} (choose a longer period)"),
        ));
    }
    let periods: Vec<i64> = (0..count as i64).map(|i| first + i * period).collect();
    let rows = store.alert_volume(since, until, period)?;
    let mut per_rule: std::collections::HashMap<String, (String, Vec<i64>)> =
        std::collections::HashMap::new();
    for row in rows {
        let slot = usize::try_from((row.start - first) / period).unwrap_or(usize::MAX);
        let (_, counts) = per_rule
            .entry(row.rule_id)
            .or_insert_with(|| (row.rule_name, vec![0; periods.len()]));
        if let Some(n) = counts.get_mut(slot) {
            *n += row.alerts;
        }
    }
    let mut rules: Vec<(String, String, Vec<i64>)> = per_rule
        .into_iter()
        .map(|(id, (name, counts))| (id, name, counts))
        .collect();
    // Most alerts over the span first, then by id.
    rules.sort_by_cached_key(|(id, _, counts)| {
        (std::cmp::Reverse(counts.iter().sum::<i64>()), id.clone())
    });
    let mut others = vec![0; periods.len()];
    for (_, _, counts) in rules.iter().skip(top) {
        for (o, n) in others.iter_mut().zip(counts) {
            *o += n;
        }
    }
    rules.truncate(top);
    Ok(Volume {
        periods,
        rules,
        others,
    })
}
