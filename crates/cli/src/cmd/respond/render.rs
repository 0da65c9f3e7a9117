//! What `secops respond` prints: runs as a table, evaluations one a line, a run whole, an alert's
//! story, the configuration's summary. Every value from a log or a request goes through `safe`,
//! `clip` or `cell`.

use secops_service::respond::{self, Evaluated, Responder};
use secops_store::{ResponseFilter, ResponseRun};

use crate::output::{cell, clip, safe, time};
use crate::Outcome;

pub(super) fn list(
    store: &mut secops_store::Store,
    state: Vec<String>,
    alert: Option<i64>,
    limit: u32,
) -> anyhow::Result<Outcome> {
    let runs = respond::runs(
        store,
        &ResponseFilter {
            states: state,
            alert_id: alert,
            limit: Some(limit),
            ..ResponseFilter::default()
        },
    )?;
    print_runs(&runs);
    Ok(Outcome::Clean)
}

pub(super) fn why(store: &mut secops_store::Store, alert: i64) -> anyhow::Result<Outcome> {
    let why = respond::why(store, alert)?;
    if let Some(a) = &why.alert {
        println!(
            "alert {} {} [{}] {}",
            a.id,
            clip(&a.rule_name, 80),
            safe(&a.severity),
            clip(&a.group_key, 60)
        );
    }
    if why.evaluations.is_empty() {
        println!("no response workflow evaluated it");
    }
    for e in &why.evaluations {
        println!(
            "{}  {} {} {} {}{}",
            time(e.at),
            cell(e.workflow.as_deref().unwrap_or("(by hand)"), 24),
            cell(&e.action_id, 18),
            cell(&e.outcome, 17),
            e.guard
                .as_deref()
                .map(|g| format!("[{}] ", safe(g)))
                .unwrap_or_default(),
            clip(&e.detail, 120)
        );
    }
    if !why.runs.is_empty() {
        println!("runs:");
        print_runs(&why.runs);
    }
    Ok(Outcome::Clean)
}

pub(super) fn check(responder: &Responder) -> anyhow::Result<Outcome> {
    let c = &responder.config;
    println!(
        "{} connector(s), {} action(s), {} workflow(s)",
        c.connectors.len(),
        c.actions.len(),
        c.workflows.len()
    );
    for a in c.actions.values() {
        let holds = if a.durations_ns.is_empty() {
            String::new()
        } else {
            format!(
                ", holds {}",
                a.durations_ns
                    .iter()
                    .map(|d| format!("{}s", d / secops_respond::SECOND))
                    .collect::<Vec<_>>()
                    .join(" then ")
            )
        };
        println!(
            "action {} ({} on {}, via {}{}{}{})",
            a.id,
            a.blast_radius.as_str(),
            a.target,
            a.connector,
            a.inverse
                .as_deref()
                .map(|i| format!(", undone by {i}"))
                .unwrap_or_default(),
            holds,
            match a.approval {
                secops_respond::Approval::Never => "",
                _ => ", needs approval",
            }
        );
    }
    for w in &c.workflows {
        println!(
            "workflow {} on {}: {}",
            w.id,
            w.on.as_str(),
            w.steps
                .iter()
                .map(|s| s.action.as_str())
                .collect::<Vec<_>>()
                .join(" -> ")
        );
    }
    let missing = responder.missing_secrets();
    for (connector, secret) in &missing {
        eprintln!("connector {connector}: secret {secret:?} is not in the secrets file");
    }
    Ok(if missing.is_empty() {
        Outcome::Clean
    } else {
        Outcome::Failures
    })
}

pub(super) fn print_evaluations(evaluated: &[Evaluated]) {
    for e in evaluated {
        println!(
            "{} {} {} {} {}{}",
            cell(e.workflow.as_deref().unwrap_or("(by hand)"), 24),
            cell(&e.action, 18),
            cell(e.target.as_deref().unwrap_or("-"), 26),
            cell(&e.outcome, 17),
            e.guard
                .as_deref()
                .map(|g| format!("[{}] ", safe(g)))
                .unwrap_or_default(),
            clip(&e.detail, 120)
        );
    }
}

pub(super) fn print_runs(runs: &[ResponseRun]) {
    if runs.is_empty() {
        return;
    }
    println!(
        "{:>5} {} {} {} {} {:>6} requested",
        "run",
        cell("action", 18),
        cell("target", 26),
        cell("state", 17),
        cell("by", 16),
        "alert"
    );
    for r in runs {
        println!(
            "{:>5} {} {} {} {} {:>6} {}",
            r.id,
            cell(&r.action_id, 18),
            cell(&format!("{} {}", r.target_kind, r.target), 26),
            cell(&r.state, 17),
            cell(&r.requested_by, 16),
            r.alert_id.map_or("-".into(), |a| a.to_string()),
            time(r.requested_at)
        );
    }
}

/// Several lines, each made safe for a terminal on its own.
pub(super) fn print_lines(text: &str) {
    for line in text.lines() {
        println!("  {}", safe(line));
    }
}

pub(super) fn pretty(json: Option<&str>) -> String {
    json.and_then(|j| serde_json::from_str::<serde_json::Value>(j).ok())
        .and_then(|v| serde_json::to_string_pretty(&v).ok())
        .unwrap_or_else(|| "-".into())
}

pub(super) fn show(run: &ResponseRun) {
    println!(
        "run {}: {} {} on {} {}",
        run.id,
        safe(&run.action_id),
        run.operation,
        safe(&run.target_kind),
        safe(&run.target)
    );
    println!(
        "state:      {}{}",
        safe(&run.state),
        if run.dry_run { " (dry run)" } else { "" }
    );
    println!(
        "requested:  {} by {}",
        time(run.requested_at),
        safe(&run.requested_by)
    );
    if let Some(w) = &run.workflow {
        println!("workflow:   {}", safe(w));
    }
    if let Some(a) = run.alert_id {
        println!("alert:      {a}");
    }
    if let Some(c) = run.case_number {
        println!("case:       {c}");
    }
    if let Some(due) = run.approval_due {
        println!("approve by: {}", time(due));
    }
    if let (Some(by), Some(at)) = (&run.decided_by, run.decided_at) {
        println!(
            "decided:    {} by {}{}",
            time(at),
            safe(by),
            run.decision_note
                .as_deref()
                .map(|n| format!(": {}", clip(n, 200)))
                .unwrap_or_default()
        );
    }
    if let Some(h) = run.hold_ns {
        println!("holds:      {} s", h / secops_respond::SECOND);
    }
    if let Some(at) = run.rollback_at {
        println!("rollback:   {}", time(at));
    }
    if let Some(of) = run.rollback_of {
        println!("undoes:     run {of}");
    }
    if let Some(by) = run.rolled_back_by {
        println!("undone by:  run {by}");
    }
    println!("request:");
    print_lines(&pretty(run.request.as_deref()));
    println!("response:");
    print_lines(&pretty(run.response.as_deref()));
}
