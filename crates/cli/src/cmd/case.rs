//! `secops case ...`: incident response cases in the store. Each change is one transaction with its
//! line in the case's event log (`case show` lists it); illegal moves and incomplete closings are
//! refused with what is allowed or missing.

use std::fmt::Write as _;
use std::path::PathBuf;

use anyhow::{bail, Context};
use secops_case::metrics::{self, human, Stat};
use secops_case::playbook::Playbooks;
use secops_case::report::{self, CaseFile};
use secops_case::{Actor, CaseState, Closing, FromAlerts, Resolution, Severity, TaskStatus, Tlp};
use secops_store::{CaseFilter, NewTask, NewTimelineEntry, Store};

use crate::cmd::alerts::time;
use crate::store::{actor, StoreArgs};
use crate::Outcome;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    store: StoreArgs,
    /// Who is acting (default: $SECOPS_USER, else $USER).
    #[arg(long = "as", global = true)]
    actor: Option<String>,
    /// A folder of playbooks (TOML) besides the bundled ones.
    #[arg(long, global = true)]
    playbooks: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Open a case: from stored alerts (`--from-alerts 3,4`, with the best-fitting playbook unless
    /// `--playbook` names one), or by hand (`--title`).
    New {
        #[arg(long = "from-alerts", value_delimiter = ',')]
        from_alerts: Vec<i64>,
        #[arg(long)]
        title: Option<String>,
        #[arg(long, default_value = "")]
        description: String,
        #[arg(long)]
        playbook: Option<String>,
        #[arg(long, value_parser = parse_severity)]
        severity: Option<Severity>,
        #[arg(long, value_parser = parse_tlp)]
        tlp: Option<Tlp>,
        #[arg(long)]
        assignee: Option<String>,
    },
    /// List cases, newest first.
    List {
        #[arg(long)]
        state: Option<String>,
        /// Leave out closed cases.
        #[arg(long)]
        open: bool,
    },
    /// One case: summary, tasks, observables, timeline, alerts, notes and event log.
    Show { number: i64 },
    /// Assign a case (`--none` to unassign).
    Assign {
        number: i64,
        user: Option<String>,
        #[arg(long)]
        none: bool,
    },
    /// Move a case along its lifecycle: triage, in_progress, containment, eradication, recovery,
    /// post_incident.
    Move { number: i64, state: String },
    /// Set a task's status (todo, in_progress, blocked, done, cancelled), or add a task with --add.
    Task {
        number: i64,
        id: Option<i64>,
        status: Option<String>,
        #[arg(long)]
        add: Option<String>,
        #[arg(long, default_value = "other")]
        group: String,
        #[arg(long)]
        assignee: Option<String>,
    },
    /// Add a note.
    Note { number: i64, text: String },
    /// Add an observable (ip-src, ip-dst, domain, hostname, url, md5, sha1, sha256, email-src,
    /// user-agent, filename, target-user, target-machine); defanged values are accepted.
    Observable {
        number: i64,
        kind: String,
        value: String,
        /// Not an indicator of compromise (by default: by its kind).
        #[arg(long)]
        not_ioc: bool,
        #[arg(long, default_value = "")]
        description: String,
    },
    /// Add a timeline entry at a time (RFC 3339).
    Timeline {
        number: i64,
        at: String,
        title: String,
        #[arg(long, default_value = "")]
        body: String,
        #[arg(long)]
        tactic: Option<String>,
        #[arg(long)]
        technique: Option<String>,
    },
    /// Close a case: needs a resolution, the root cause, the lessons learned, and every task finished.
    Close {
        number: i64,
        #[arg(long, value_parser = parse_resolution)]
        resolution: Resolution,
        #[arg(long = "root-cause", default_value = "")]
        root_cause: String,
        #[arg(long, default_value = "")]
        lessons: String,
    },
    /// Reopen a closed case.
    Reopen {
        number: i64,
        #[arg(long)]
        reason: String,
    },
    /// Write the case report: Markdown or printable HTML.
    Report {
        number: i64,
        #[arg(long, default_value = "md", value_parser = ["md", "html"])]
        format: String,
        /// Write to this file instead of standard output.
        #[arg(long, short = 'o')]
        out: Option<PathBuf>,
    },
    /// MTTD, MTTA, MTTC and MTTR from the case event logs: median and 90th percentile, overall, per
    /// severity and per playbook.
    Metrics {
        #[arg(long, default_value = "table", value_parser = ["table", "json"])]
        format: String,
    },
    /// Open one case per group of related open alerts not yet in a case (same host, user or source
    /// within the window).
    Group {
        /// How far apart related alerts may be (`30m`, `2h`, `1d`).
        #[arg(long, default_value = "1h")]
        window: String,
        /// The entity fields that relate alerts.
        #[arg(
            long,
            value_delimiter = ',',
            default_value = "host.name,user.name,source.ip"
        )]
        by: Vec<String>,
    },
}

fn parse_severity(text: &str) -> Result<Severity, String> {
    Severity::parse(text).ok_or_else(|| format!("{text:?}: use {}", Severity::choices()))
}

fn parse_tlp(text: &str) -> Result<Tlp, String> {
    Tlp::parse(text).ok_or_else(|| format!("{text:?}: use {}", Tlp::choices()))
}

fn parse_resolution(text: &str) -> Result<Resolution, String> {
    Resolution::parse(text).ok_or_else(|| format!("{text:?}: use {}", Resolution::choices()))
}

pub fn run(args: Args) -> anyhow::Result<Outcome> {
    let mut store = args.store.open()?;
    let who = actor(args.actor.as_deref()).name;
    let playbooks = match &args.playbooks {
        Some(dir) => Playbooks::with_folder(dir)?,
        None => Playbooks::bundled()?,
    };
    let act = || Actor {
        name: &who,
        now: secops_store::now_nanos(),
    };
    match args.command {
        Command::New {
            from_alerts,
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
                let case = secops_case::open(
                    &mut store,
                    &title,
                    &description,
                    severity.unwrap_or(Severity::Medium),
                    tlp.unwrap_or(Tlp::Amber),
                    act(),
                )?;
                if let Some(user) = assignee {
                    secops_case::assign(&mut store, case.number, Some(&user), act())?;
                }
                case
            } else {
                let request = FromAlerts {
                    alert_ids: from_alerts,
                    title,
                    playbook,
                    severity,
                    assignee,
                };
                secops_case::open_from_alerts(&mut store, &playbooks, &request, act())?
            };
            println!(
                "case {}: {} ({}, playbook {})",
                case.number,
                case.title,
                case.severity,
                case.playbook.as_deref().unwrap_or("none")
            );
        }
        Command::List { state, open } => {
            let cases = store.cases(&CaseFilter {
                state,
                open_only: open,
                ..CaseFilter::default()
            })?;
            println!(
                "{:>5}  {:<14}  {:<8}  {:<12}  {:<20}  TITLE",
                "CASE", "STATE", "SEVERITY", "ASSIGNEE", "OPENED"
            );
            for c in &cases {
                println!(
                    "{:>5}  {:<14}  {:<8}  {:<12}  {:<20}  {}",
                    c.number,
                    c.state,
                    c.severity,
                    c.assignee.as_deref().unwrap_or("-"),
                    time(c.created_at),
                    c.title
                );
            }
            eprintln!("{} case(s)", cases.len());
        }
        Command::Show { number } => print!("{}", show(&mut store, number)?),
        Command::Assign { number, user, none } => {
            if user.is_none() && !none {
                bail!("name the user, or --none to unassign");
            }
            let case = secops_case::assign(&mut store, number, user.as_deref(), act())?;
            println!(
                "case {number}: assigned to {}",
                case.assignee.as_deref().unwrap_or("nobody")
            );
        }
        Command::Move { number, state } => {
            let to = CaseState::parse(&state).with_context(|| {
                format!(
                    "unknown state {state:?}: the states are {}",
                    CaseState::ALL.map(|s| s.as_str()).join(", ")
                )
            })?;
            let case = secops_case::move_to(&mut store, number, to, act())?;
            println!("case {number}: {}", case.state);
        }
        Command::Task {
            number,
            id,
            status,
            add,
            group,
            assignee,
        } => match (add, id, status) {
            (Some(title), None, None) => {
                let task = store.add_task(
                    number,
                    &NewTask {
                        group,
                        title,
                        description: String::new(),
                    },
                    &who,
                    secops_store::now_nanos(),
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
                let task = secops_case::set_task(
                    &mut store,
                    number,
                    id,
                    status,
                    assignee.as_deref(),
                    act(),
                )?;
                println!(
                    "case {number}: task {} {}: {}",
                    task.id, task.title, task.status
                );
            }
            _ => bail!("give a task id and a status, or --add TITLE"),
        },
        Command::Note { number, text } => {
            store.add_comment(number, &text, &who, secops_store::now_nanos())?;
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
            let (o, added) = secops_case::add_observable(
                &mut store,
                number,
                &kind,
                &value,
                ioc,
                &description,
                act(),
            )?;
            println!(
                "case {number}: {} {} {}",
                o.kind,
                o.value,
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
            store.add_timeline_entry(
                number,
                &NewTimelineEntry {
                    at: at.unix_nanos(),
                    title,
                    body,
                    source: "analyst".into(),
                    tactic,
                    technique,
                },
                &who,
                secops_store::now_nanos(),
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
            let case = secops_case::close(&mut store, number, &closing, act())?;
            println!(
                "case {number}: closed ({})",
                case.resolution.as_deref().unwrap_or("-")
            );
        }
        Command::Reopen { number, reason } => {
            let case = secops_case::reopen(&mut store, number, &reason, act())?;
            println!("case {number}: {}", case.state);
        }
        Command::Report {
            number,
            format,
            out,
        } => {
            let file = CaseFile::load(&mut store, number)?;
            let text = if format == "html" {
                report::html(&file)
            } else {
                report::markdown(&file)
            };
            match out {
                Some(path) => {
                    std::fs::write(&path, text)
                        .with_context(|| format!("writing {}", path.display()))?;
                    eprintln!("wrote {}", path.display());
                }
                None => print!("{text}"),
            }
        }
        Command::Metrics { format } => {
            let cases = store.cases(&CaseFilter::default())?;
            let events = store.all_case_events()?;
            let rows = metrics::report(&cases, &events);
            print!("{}", render_metrics(&rows, &format));
        }
        Command::Group { window, by } => {
            let window: secops_rules::Duration = window
                .parse()
                .map_err(|e| anyhow::anyhow!("--window: {e}"))?;
            let window = i64::try_from(window.as_nanos()).unwrap_or(i64::MAX);
            let opened = secops_service::cases::group_into_cases(
                &mut store,
                &playbooks,
                &by,
                window,
                &secops_service::Actor::user(who),
                &secops_service::SystemClock,
            )?;
            for o in &opened {
                println!(
                    "case {}: {} ({} alerts)",
                    o.case.number,
                    o.case.title,
                    o.alert_ids.len()
                );
            }
            eprintln!("{} case(s) opened", opened.len());
        }
    }
    Ok(Outcome::Clean)
}

fn show(store: &mut Store, number: i64) -> anyhow::Result<String> {
    let file = CaseFile::load(store, number)?;
    let c = &file.case;
    let mut out = String::new();
    writeln!(out, "case {}: {}", c.number, c.title)?;
    writeln!(
        out,
        "  state {}  severity {}  TLP:{}  PAP:{}  assignee {}  playbook {}",
        c.state,
        c.severity,
        c.tlp.to_uppercase(),
        c.pap.to_uppercase(),
        c.assignee.as_deref().unwrap_or("-"),
        c.playbook.as_deref().unwrap_or("-")
    )?;
    if let Some(r) = &c.resolution {
        writeln!(out, "  resolution {r}")?;
    }
    writeln!(out, "\ntasks:")?;
    for t in &file.tasks {
        writeln!(
            out,
            "  {:>4}  {:<11}  {:<15}  {}",
            t.id, t.status, t.group, t.title
        )?;
    }
    writeln!(out, "\nobservables:")?;
    for o in &file.observables {
        writeln!(
            out,
            "  {:<15}  {}{}",
            o.kind,
            o.value,
            if o.is_ioc { "  (IoC)" } else { "" }
        )?;
    }
    writeln!(out, "\ntimeline:")?;
    for t in &file.timeline {
        writeln!(
            out,
            "  {}  {}  {}",
            time(t.at),
            t.technique.as_deref().unwrap_or("-"),
            t.title
        )?;
    }
    writeln!(
        out,
        "\nalerts: {}",
        file.alerts
            .iter()
            .map(|a| a.id.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    )?;
    writeln!(out, "\nlog:")?;
    for e in &file.events {
        write!(out, "  {}  {:<10}  {}", time(e.at), e.actor, e.kind)?;
        if let (Some(before), Some(after)) = (&e.before, &e.after) {
            write!(out, "  {before} -> {after}")?;
        } else if let Some(after) = &e.after {
            write!(out, "  {after}")?;
        }
        writeln!(out)?;
    }
    Ok(out)
}

fn render_metrics(rows: &[(String, metrics::Summary)], format: &str) -> String {
    let stat_json = |s: &Stat| serde_json::json!({"n": s.n, "median_seconds": s.median.map(|v| v / 1_000_000_000), "p90_seconds": s.p90.map(|v| v / 1_000_000_000)});
    if format == "json" {
        let doc: serde_json::Map<String, serde_json::Value> = rows
            .iter()
            .map(|(name, s)| {
                (
                    name.clone(),
                    serde_json::json!({
                        "cases": s.cases,
                        "mttd": stat_json(&s.detect),
                        "mtta": stat_json(&s.acknowledge),
                        "mttc": stat_json(&s.contain),
                        "mttr": stat_json(&s.resolve),
                    }),
                )
            })
            .collect();
        return format!("{}\n", serde_json::Value::Object(doc));
    }
    let cell = |s: &Stat| match (s.median, s.p90) {
        (Some(m), Some(p)) => format!("{} / {} ({})", human(m), human(p), s.n),
        _ => "-".into(),
    };
    let mut out = format!(
        "{:<34} {:>5}  {:<22} {:<22} {:<22} {:<22}\n",
        "CASES (median / p90 (n))", "N", "MTTD", "MTTA", "MTTC", "MTTR"
    );
    for (name, s) in rows {
        let _ = writeln!(
            out,
            "{:<34} {:>5}  {:<22} {:<22} {:<22} {:<22}",
            name,
            s.cases,
            cell(&s.detect),
            cell(&s.acknowledge),
            cell(&s.contain),
            cell(&s.resolve)
        );
    }
    out
}
