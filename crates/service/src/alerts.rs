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
