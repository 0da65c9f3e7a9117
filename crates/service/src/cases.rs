//! Cases: opened by hand, from alerts, or for groups of related alerts, and worked through their
//! lifecycle at a [`Desk`].

use secops_case::playbook::Playbooks;
use secops_case::{CaseState, Closing, FromAlerts, TaskStatus};
use secops_store::{
    AlertFilter, AlertStatus, CaseRecord, CommentRecord, NewTask, NewTimelineEntry,
    ObservableRecord, Store, TaskRecord, TimelineRecord,
};

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

/// A case opened by hand (what is not given comes from the playbook, if one is named).
#[derive(Debug, Clone)]
pub struct NewCase {
    pub case: secops_case::ByHand,
    pub assignee: Option<String>,
}

/// Case work by one actor on one store, each change stamped with the clock's time and the actor's
/// name in the case's event log. The rules (lifecycle, closing requirements) are `secops-case`'s.
#[derive(Debug)]
pub struct Desk<'a> {
    pub store: &'a mut Store,
    pub actor: &'a Actor,
    pub clock: &'a dyn Clock,
}

/// The case crate's actor: the name and the time now.
fn act<'a>(actor: &'a Actor, clock: &dyn Clock) -> secops_case::Actor<'a> {
    secops_case::Actor {
        name: &actor.name,
        now: clock.now().unix_nanos(),
    }
}

impl Desk<'_> {
    pub fn open(
        &mut self,
        playbooks: &Playbooks,
        new: &NewCase,
    ) -> Result<CaseRecord, ServiceError> {
        let actor = act(self.actor, self.clock);
        let case = secops_case::open(self.store, playbooks, &new.case, actor)?;
        match &new.assignee {
            Some(user) => self.assign(case.number, Some(user)),
            None => Ok(case),
        }
    }

    pub fn open_from_alerts(
        &mut self,
        playbooks: &Playbooks,
        request: &FromAlerts,
    ) -> Result<CaseRecord, ServiceError> {
        open_from_alerts(self.store, playbooks, request, self.actor, self.clock)
    }

    /// Assigns the case (`None`: unassigns it).
    pub fn assign(&mut self, number: i64, user: Option<&str>) -> Result<CaseRecord, ServiceError> {
        let actor = act(self.actor, self.clock);
        Ok(secops_case::assign(self.store, number, user, actor)?)
    }

    /// Merges more alerts into the case (none may be in another case).
    pub fn add_alerts(
        &mut self,
        number: i64,
        alert_ids: &[i64],
    ) -> Result<CaseRecord, ServiceError> {
        let now = self.clock.now().unix_nanos();
        self.store
            .link_alerts(number, alert_ids, &self.actor.name, now)?;
        Ok(self.store.case(number)?)
    }

    /// Moves the case along its lifecycle (closing is [`Desk::close`]).
    pub fn move_to(&mut self, number: i64, to: CaseState) -> Result<CaseRecord, ServiceError> {
        let actor = act(self.actor, self.clock);
        Ok(secops_case::move_to(self.store, number, to, actor)?)
    }

    pub fn add_task(&mut self, number: i64, task: &NewTask) -> Result<TaskRecord, ServiceError> {
        let actor = act(self.actor, self.clock);
        Ok(secops_case::add_task(self.store, number, task, actor)?)
    }

    pub fn set_task(
        &mut self,
        number: i64,
        task: i64,
        status: TaskStatus,
        assignee: Option<&str>,
    ) -> Result<TaskRecord, ServiceError> {
        let actor = act(self.actor, self.clock);
        Ok(secops_case::set_task(
            self.store, number, task, status, assignee, actor,
        )?)
    }

    pub fn add_note(&mut self, number: i64, text: &str) -> Result<CommentRecord, ServiceError> {
        let actor = act(self.actor, self.clock);
        Ok(secops_case::add_note(self.store, number, text, actor)?)
    }

    /// Adds an observable (defanged values are accepted); returns it and whether it is new to the case.
    pub fn add_observable(
        &mut self,
        number: i64,
        kind: &str,
        value: &str,
        ioc: Option<bool>,
        description: &str,
    ) -> Result<(ObservableRecord, bool), ServiceError> {
        let actor = act(self.actor, self.clock);
        Ok(secops_case::add_observable(
            self.store,
            number,
            kind,
            value,
            ioc,
            description,
            actor,
        )?)
    }

    pub fn add_timeline_entry(
        &mut self,
        number: i64,
        entry: &NewTimelineEntry,
    ) -> Result<TimelineRecord, ServiceError> {
        let actor = act(self.actor, self.clock);
        Ok(secops_case::add_timeline_entry(
            self.store, number, entry, actor,
        )?)
    }

    /// Closes the case: it needs a resolution, the root cause, the lessons learned and every task
    /// finished.
    pub fn close(&mut self, number: i64, closing: &Closing) -> Result<CaseRecord, ServiceError> {
        let actor = act(self.actor, self.clock);
        Ok(secops_case::close(self.store, number, closing, actor)?)
    }

    pub fn reopen(&mut self, number: i64, reason: &str) -> Result<CaseRecord, ServiceError> {
        let actor = act(self.actor, self.clock);
        Ok(secops_case::reopen(self.store, number, reason, actor)?)
    }
}

/// A case with everything on it (tasks, observables, timeline, alerts, notes, event log), as reports
/// show it.
pub fn file(store: &mut Store, number: i64) -> Result<secops_case::report::CaseFile, ServiceError> {
    Ok(secops_case::report::CaseFile::load(store, number)?)
}

/// MTTD, MTTA, MTTC and MTTR from the case event logs, overall, per severity and per playbook.
pub fn metrics(
    store: &mut Store,
) -> Result<Vec<(String, secops_case::metrics::Summary)>, ServiceError> {
    let cases = store.cases(&secops_store::CaseFilter::default())?;
    let events = store.all_case_events()?;
    Ok(secops_case::metrics::report(&cases, &events))
}
