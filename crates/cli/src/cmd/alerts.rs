//! `secops alerts list|show|ack|close`: the alerts `detect --store` recorded, and the analyst's work on
//! them; every change is in the alert's event log (`show`).

use std::fmt::Write as _;

use anyhow::Context;
use secops_service::{alerts, Actor, ServiceError, SystemClock};
use secops_store::{AlertFilter, AlertRecord, AlertStatus};

use crate::output::{cell, clip, safe, time};
use crate::store::{actor, StoreArgs};
use crate::Outcome;

#[derive(Debug, clap::Subcommand)]
pub enum Alerts {
    /// List stored alerts, newest first.
    List(ListArgs),
    /// One alert: its fields, the alert document and its event log.
    Show(IdArgs),
    /// Acknowledge open alerts (someone is on them).
    Ack(ChangeArgs),
    /// Close alerts with a resolution.
    Close(CloseArgs),
}

#[derive(Debug, clap::Args)]
pub struct ListArgs {
    #[command(flatten)]
    store: StoreArgs,
    /// open, acknowledged or closed.
    #[arg(long, value_parser = parse_status)]
    status: Option<AlertStatus>,
    /// Only this rule (id or name).
    #[arg(long)]
    rule: Option<String>,
    /// At most this many.
    #[arg(long, default_value_t = 50)]
    limit: u32,
    /// table or jsonl (the stored alert documents with their store fields).
    #[arg(long, default_value = "table", value_parser = ["table", "jsonl"])]
    output: String,
}

#[derive(Debug, clap::Args)]
pub struct IdArgs {
    #[command(flatten)]
    store: StoreArgs,
    id: i64,
}

#[derive(Debug, clap::Args)]
pub struct ChangeArgs {
    #[command(flatten)]
    store: StoreArgs,
    #[arg(required = true)]
    ids: Vec<i64>,
    /// Who is acting (default: $SECOPS_USER, else $USER).
    #[arg(long = "as")]
    actor: Option<String>,
}

#[derive(Debug, clap::Args)]
pub struct CloseArgs {
    #[command(flatten)]
    change: ChangeArgs,
    /// true_positive, false_positive, benign, duplicate, or your own word.
    #[arg(long)]
    resolution: String,
}

fn parse_status(text: &str) -> Result<AlertStatus, String> {
    AlertStatus::parse(text).ok_or_else(|| format!("{text:?}: use open, acknowledged or closed"))
}

pub fn run(command: Alerts) -> anyhow::Result<Outcome> {
    match command {
        Alerts::List(args) => list(&args),
        Alerts::Show(args) => show(&args),
        Alerts::Ack(args) => change(&args, |store, id, who| {
            alerts::acknowledge(store, id, who, &SystemClock)
        }),
        Alerts::Close(args) => {
            let resolution = args.resolution.clone();
            change(&args.change, move |store, id, who| {
                alerts::close(store, id, &resolution, who, &SystemClock)
            })
        }
    }
}

fn list(args: &ListArgs) -> anyhow::Result<Outcome> {
    let mut store = args.store.open_existing()?;
    let filter = AlertFilter {
        status: args.status,
        rule: args.rule.clone(),
        ..AlertFilter::default()
    };
    let alerts = alerts::list(&mut store, &filter, args.limit)?.items;
    let mut out = String::new();
    if args.output == "jsonl" {
        for a in &alerts {
            let mut doc: serde_json::Value =
                serde_json::from_str(&a.document).unwrap_or(serde_json::Value::Null);
            if let serde_json::Value::Object(map) = &mut doc {
                map.insert("store.id".into(), a.id.into());
                map.insert("store.status".into(), a.status.as_str().into());
                map.insert("store.resolution".into(), a.resolution.clone().into());
                map.insert("store.case_id".into(), a.case_id.into());
                map.insert("store.event_count".into(), a.event_count.into());
            }
            writeln!(out, "{doc}")?;
        }
    } else {
        writeln!(
            out,
            "{:>6}  {:<20}  {:<8}  {:<12}  {:>6}  {:<44}  GROUP",
            "ID", "LAST SEEN", "SEVERITY", "STATUS", "EVENTS", "RULE"
        )?;
        for a in &alerts {
            writeln!(
                out,
                "{:>6}  {:<20}  {:<8}  {:<12}  {:>6}  {}  {}",
                a.id,
                time(a.last_seen),
                a.severity,
                a.status.as_str(),
                a.event_count,
                cell(&a.rule_name, 44),
                clip(&a.group_key, 60),
            )?;
        }
    }
    print!("{out}");
    eprintln!("{} alert(s)", alerts.len());
    Ok(Outcome::Clean)
}

fn show(args: &IdArgs) -> anyhow::Result<Outcome> {
    let mut store = args.store.open_existing()?;
    let a = store.alert(args.id)?;
    let mut out = String::new();
    describe(&a, &mut out)?;
    writeln!(out, "\nlog:")?;
    for e in store.alert_events(a.id)? {
        write!(out, "  {}  {:<12}  {}", time(e.at), safe(&e.actor), e.kind)?;
        if let (Some(before), Some(after)) = (&e.before, &e.after) {
            write!(out, "  {} -> {}", safe(before), safe(after))?;
        }
        writeln!(out)?;
    }
    let doc: serde_json::Value = serde_json::from_str(&a.document).context("the alert document")?;
    writeln!(out, "\ndocument:\n{}", serde_json::to_string_pretty(&doc)?)?;
    print!("{out}");
    Ok(Outcome::Clean)
}

fn describe(a: &AlertRecord, out: &mut String) -> std::fmt::Result {
    writeln!(out, "alert {}: {}", a.id, safe(&a.rule_name))?;
    writeln!(
        out,
        "  rule       {} (version {})",
        safe(&a.rule_id),
        a.rule_version
    )?;
    writeln!(out, "  severity   {} (risk {})", a.severity, a.risk_score)?;
    writeln!(out, "  group      {}", safe(&a.group_key))?;
    if let Ok(doc) = secops_alert::AlertDocument::parse(&a.document) {
        if !doc.risk.is_empty() {
            writeln!(
                out,
                "  risk       {}",
                crate::alerts_out::risk_summary(&doc.risk)
            )?;
        }
    }
    writeln!(
        out,
        "  seen       {} .. {} ({} events)",
        time(a.first_seen),
        time(a.last_seen),
        a.event_count
    )?;
    write!(out, "  status     {}", a.status.as_str())?;
    if let Some(r) = &a.resolution {
        write!(out, " ({})", safe(r))?;
    }
    writeln!(out)?;
    if let Some(case) = a.case_id {
        writeln!(out, "  case id    {case}")?;
    }
    Ok(())
}

fn change(
    args: &ChangeArgs,
    apply: impl Fn(&mut secops_store::Store, i64, &Actor) -> Result<AlertRecord, ServiceError>,
) -> anyhow::Result<Outcome> {
    let who = actor(args.actor.as_deref());
    let mut store = args.store.open_as(&who)?;
    let mut failed = 0;
    for &id in &args.ids {
        match apply(&mut store, id, &who) {
            Ok(a) => println!("alert {id}: {}", a.status.as_str()),
            Err(e) => {
                failed += 1;
                eprintln!("alert {id}: {e}");
            }
        }
    }
    Ok(if failed > 0 {
        Outcome::Failures
    } else {
        Outcome::Clean
    })
}
