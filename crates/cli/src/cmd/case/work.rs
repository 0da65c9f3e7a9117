//! Changing cases: open, assign, move, tasks, notes, observables, timeline entries, close, reopen,
//! and cases for groups of related alerts. Each goes through the service's `Desk`.

use anyhow::{bail, Context};
use secops_case::playbook::Playbooks;
use secops_case::{ByHand, CaseState, Closing, FromAlerts, TaskStatus};
use secops_service::cases::{Desk, NewCase};
use secops_store::{NewTask, NewTimelineEntry};

use super::Command;
use crate::output::safe;

pub fn run(desk: &mut Desk<'_>, playbooks: &Playbooks, command: Command) -> anyhow::Result<()> {
    match command {
        Command::New {
            from_finding: Some(finding),
            playbook,
            ..
        } => {
            let case = secops_service::vulns::open_case(
                desk.store, playbooks, finding, playbook, desk.actor, desk.clock,
            )?;
            println!(
                "case {}: {} ({}, for finding {finding})",
                case.number,
                safe(&case.title),
                case.severity
            );
        }
        Command::New {
            from_alerts,
            from_finding: None,
            title,
            description,
            playbook,
            severity,
            tlp,
            assignee,
        } => {
            let case = if from_alerts.is_empty() {
                let Some(title) = title else {
                    bail!("name the alerts (--from-alerts 1,2) or give the case a --title");
                };
                desk.open(
                    playbooks,
                    &NewCase {
                        case: ByHand {
                            title,
                            description,
                            severity,
                            tlp,
                            playbook,
                        },
                        assignee,
                    },
                )?
            } else {
                let request = FromAlerts {
                    alert_ids: from_alerts,
                    title,
                    playbook,
                    severity,
                    assignee,
                };
                desk.open_from_alerts(playbooks, &request)?
            };
            println!(
                "case {}: {} ({}, playbook {})",
                case.number,
                safe(&case.title),
                case.severity,
                safe(case.playbook.as_deref().unwrap_or("none"))
            );
        }
        Command::Assign { number, user, none } => {
            if user.is_none() && !none {
                bail!("name the user, or --none to unassign");
            }
            let case = desk.assign(number, user.as_deref())?;
            println!(
                "case {number}: assigned to {}",
                safe(case.assignee.as_deref().unwrap_or("nobody"))
            );
        }
        Command::Move { number, state } => {
            let to = CaseState::parse(&state).with_context(|| {
                format!(
                    "unknown state {state:?}: the states are {}",
                    CaseState::ALL.map(|s| s.as_str()).join(", ")
                )
            })?;
            let case = desk.move_to(number, to)?;
            println!("case {number}: {}", case.state);
        }
        Command::Task {
            number,
            id,
            status,
            add,
            group,
            assignee,
        } => task(desk, number, (id, status, add), group, assignee)?,
        Command::Note { number, text } => {
            desk.add_note(number, &text)?;
            println!("case {number}: note added");
        }
        Command::Observable {
            number,
            kind,
            value,
            not_ioc,
            description,
        } => {
            let ioc = not_ioc.then_some(false);
            let (o, added) = desk.add_observable(number, &kind, &value, ioc, &description)?;
            println!(
                "case {number}: {} {} {}",
                o.kind,
                safe(&o.value),
                if added {
                    "added"
                } else {
                    "already on the case"
                }
            );
        }
        Command::Timeline {
            number,
            at,
            title,
            body,
            tactic,
            technique,
        } => {
            let at = secops_event::Timestamp::parse_rfc3339(&at)
                .map_err(|e| anyhow::anyhow!("the time {at:?}: {e}"))?;
            desk.add_timeline_entry(
                number,
                &NewTimelineEntry {
                    at: at.unix_nanos(),
                    title,
                    body,
                    source: "analyst".into(),
                    tactic,
                    technique,
                },
            )?;
            println!("case {number}: timeline entry added");
        }
        Command::Close {
            number,
            resolution,
            root_cause,
            lessons,
        } => {
            let closing = Closing {
                resolution,
                root_cause,
                lessons_learned: lessons,
            };
            let case = desk.close(number, &closing)?;
            println!(
                "case {number}: closed ({})",
                safe(case.resolution.as_deref().unwrap_or("-"))
            );
        }
        Command::Reopen { number, reason } => {
            let case = desk.reopen(number, &reason)?;
            println!("case {number}: {}", case.state);
        }
        Command::Group { window, by } => {
            let window: secops_rules::Duration = window
                .parse()
                .map_err(|e| anyhow::anyhow!("--window: {e}"))?;
            let window = i64::try_from(window.as_nanos()).unwrap_or(i64::MAX);
            let opened = secops_service::cases::group_into_cases(
                desk.store, playbooks, &by, window, desk.actor, desk.clock,
            )?;
            for o in &opened {
                println!(
                    "case {}: {} ({} alerts)",
                    o.case.number,
                    safe(&o.case.title),
                    o.alert_ids.len()
                );
            }
            eprintln!("{} case(s) opened", opened.len());
        }
        // Reading commands change nothing: `mod.rs` runs them without a desk.
        Command::List { .. }
        | Command::Show { .. }
        | Command::Report { .. }
        | Command::Metrics { .. } => {}
    }
    Ok(())
}

/// `case task`: a new task (`--add TITLE`), or a task's status.
fn task(
    desk: &mut Desk<'_>,
    number: i64,
    (id, status, add): (Option<i64>, Option<String>, Option<String>),
    group: String,
    assignee: Option<String>,
) -> anyhow::Result<()> {
    match (add, id, status) {
        (Some(title), None, None) => {
            let task = desk.add_task(
                number,
                &NewTask {
                    group,
                    title,
                    description: String::new(),
                },
            )?;
            println!("case {number}: task {} added", task.id);
        }
        (None, Some(id), Some(status)) => {
            let status = TaskStatus::parse(&status).with_context(|| {
                format!(
                    "unknown task status {status:?}: use {}",
                    TaskStatus::choices()
                )
            })?;
            let task = desk.set_task(number, id, status, assignee.as_deref())?;
            println!(
                "case {number}: task {} {}: {}",
                task.id,
                safe(&task.title),
                task.status
            );
        }
        _ => bail!("give a task id and a status, or --add TITLE"),
    }
    Ok(())
}
