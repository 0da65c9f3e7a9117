//! Cases opened from related alerts.

use secops_case::playbook::Playbooks;
use secops_case::FromAlerts;
use secops_store::{AlertFilter, AlertStatus, CaseRecord, Store};

use crate::{Actor, Clock, ServiceError};

/// A case opened from a group of alerts.
#[derive(Debug, Clone)]
pub struct Opened {
    pub case: CaseRecord,
    pub alert_ids: Vec<i64>,
}

/// Opens a case for each group of related open alerts that are in no case: alerts sharing a value of
/// one of `fields` within `window` nanoseconds of each other, each case with its best-fitting playbook.
pub fn group_into_cases(
    store: &mut Store,
    playbooks: &Playbooks,
    fields: &[String],
    window: i64,
    actor: &Actor,
    clock: &dyn Clock,
) -> Result<Vec<Opened>, ServiceError> {
    let alerts: Vec<_> = store
        .alerts(&AlertFilter {
            status: Some(AlertStatus::Open),
            ..AlertFilter::default()
        })?
        .into_iter()
        .filter(|a| a.case_id.is_none())
        .collect();
    let fields: Vec<&str> = fields.iter().map(String::as_str).collect();
    let mut opened = Vec::new();
    for alert_ids in secops_case::grouping::group(&alerts, &fields, window) {
        let case = secops_case::open_from_alerts(
            store,
            playbooks,
            &FromAlerts {
                alert_ids: alert_ids.clone(),
                ..FromAlerts::default()
            },
            secops_case::Actor {
                name: &actor.name,
                now: clock.now().unix_nanos(),
            },
        )?;
        opened.push(Opened { case, alert_ids });
    }
    Ok(opened)
}

/// Opens a case from stored alerts (`request.alert_ids`), with the best-fitting playbook unless the
/// request names one.
pub fn open_from_alerts(
    store: &mut Store,
    playbooks: &Playbooks,
    request: &FromAlerts,
    actor: &Actor,
    clock: &dyn Clock,
) -> Result<CaseRecord, ServiceError> {
    Ok(secops_case::open_from_alerts(
        store,
        playbooks,
        request,
        secops_case::Actor {
            name: &actor.name,
            now: clock.now().unix_nanos(),
        },
    )?)
}
