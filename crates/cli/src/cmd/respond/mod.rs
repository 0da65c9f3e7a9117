//! `secops respond ...`: response automation. Check a configuration; request an action by hand (or
//! only see the request it would send); evaluate the alerts recorded since last time against the
//! workflows; carry out what is due (approved and queued runs, rollbacks when holds end, requests
//! nobody approved in time expired); list runs; explain what happened to an alert's actions; replay
//! stored alerts in dry run. Approvals are given by another signed-in user, in the console or the
//! API (`secops serve`), never here.

use std::path::PathBuf;

use anyhow::Context;
use secops_service::respond::{self, HandRequest, Recover, Responder, ResponderSources};
use secops_service::{Actor, Cancel, Clock};

use self::render::{check, list, pretty, print_evaluations, print_lines, print_runs, show, why};
use crate::output::{cell, safe, time};
use crate::store::{actor, StoreArgs};

mod render;
use crate::Outcome;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    store: StoreArgs,
    /// The response configuration: a TOML file or a folder of them (`[guards]`,
    /// `[[connector]]`, `[[action]]`, `[[workflow]]`; docs/respond.md). `list`, `show` and `why`
    /// read the store alone without it.
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    /// The connectors' secrets (`name = "value"`; only its owner may read it).
    #[arg(long, global = true)]
    secrets: Option<PathBuf>,
    /// MISP warninglists (a folder): values they cover are never acted on.
    #[arg(long, global = true)]
    warninglists: Option<PathBuf>,
    /// The asset and identity inventory: its networks, hosts and VIP accounts are never acted on.
    #[arg(long, global = true)]
    inventory: Vec<PathBuf>,
    /// Act as of this time (RFC 3339) instead of the clock.
    #[arg(long, global = true)]
    now: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Check the configuration: connectors, actions, workflows, and secrets it names but the
    /// secrets file lacks.
    Check,
    /// Request an action by hand on a target. The guards apply as for automatic runs; an action
    /// that needs approval waits for another user's.
    Run {
        action: String,
        #[arg(long)]
        target: String,
        /// The alert it answers (its fields fill the action's templates).
        #[arg(long)]
        alert: Option<i64>,
        #[arg(long)]
        case: Option<i64>,
        /// Only show the exact request it would send; send nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Evaluate the alerts recorded, and the cases moved along their lifecycle, since the last
    /// evaluation against the workflows (the first one starts watching cases from then).
    Evaluate,
    /// Carry out what is due: approved and queued runs, rollbacks of holds that ended; expire
    /// requests nobody approved in time.
    Tick,
    /// Runs, newest first.
    List {
        /// awaiting_approval, approved, queued, running, succeeded, failed, rolled_back, rejected,
        /// expired, dry_run (repeatable).
        #[arg(long)]
        state: Vec<String>,
        #[arg(long)]
        alert: Option<i64>,
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
    /// One run whole: the exact request, the response, who decided.
    Show { id: i64 },
    /// What happened to an alert's actions: each evaluation (fired, stopped by which guard,
    /// awaiting approval, expired) and each run.
    Why { alert: i64 },
    /// Roll a succeeded run back now, through its action's inverse.
    Rollback { id: i64 },
    /// Replay the alerts of a period through the workflows in dry run: what would have run,
    /// against how many targets, how often each guard stopped it. Nothing is sent or recorded.
    Simulate {
        /// How far back (`30d`, `12h`).
        #[arg(long, default_value = "30d")]
        since: String,
    },
}

fn load(args: &Args) -> anyhow::Result<Responder> {
    let config = args
        .config
        .clone()
        .context("--config: the response configuration (a TOML file or folder)")?;
    Ok(Responder::load(&ResponderSources {
        config,
        secrets: args.secrets.clone(),
        warninglists: args.warninglists.clone(),
        inventory: args.inventory.clone(),
    })?)
}

pub fn run(args: Args) -> anyhow::Result<Outcome> {
    let clock = crate::args::clock(args.now.as_deref())?;
    // Listing and explaining read the store alone; everything else needs the configuration.
    if args.config.is_none()
        && matches!(
            args.command,
            Command::List { .. } | Command::Show { .. } | Command::Why { .. }
        )
    {
        return read_only(args);
    }
    let responder = load(&args)?;
    if let Command::Check = args.command {
        return check(&responder);
    }
    let reading = matches!(
        args.command,
        Command::List { .. }
            | Command::Show { .. }
            | Command::Why { .. }
            | Command::Simulate { .. }
    );
    let mut store = if reading {
        args.store
            .open_existing_audited()?
            .context("no store: record alerts with `secops detect --store` first")?
    } else {
        args.store.open()?
    };
    let who = actor(None);
    let cancel = Cancel::new();
    match args.command {
        Command::Check => check(&responder),
        Command::Run {
            action,
            target,
            alert,
            case,
            dry_run,
        } => {
            let e = respond::request(
                &mut store,
                &responder,
                &HandRequest {
                    action,
                    target,
                    alert_id: alert,
                    case_number: case,
                    dry_run,
                },
                &who,
                clock.as_ref(),
            )?;
            print_evaluations(std::slice::from_ref(&e));
            if let Some(run) = e.run.as_ref().filter(|r| r.state == "dry_run") {
                println!("request:");
                print_lines(&pretty(run.request.as_deref()));
            }
            Ok(if e.outcome == "error" {
                Outcome::Failures
            } else {
                Outcome::Clean
            })
        }
        Command::Evaluate => {
            let (read, evaluated) = respond::evaluate_new_alerts(
                &mut store,
                &responder,
                "cli",
                respond::FirstLook::Oldest,
                &Actor::service("secops-respond"),
                clock.as_ref(),
                &cancel,
            )?;
            let moved = respond::evaluate_case_moves(
                &mut store,
                &responder,
                "cli",
                &Actor::service("secops-respond"),
                clock.as_ref(),
            )?;
            print_evaluations(&evaluated);
            print_evaluations(&moved);
            println!(
                "{read} alert(s) read, {} evaluation(s)",
                evaluated.len() + moved.len()
            );
            Ok(Outcome::Clean)
        }
        Command::Tick => tick(&mut store, &responder, &who, clock.as_ref(), &cancel),
        command @ (Command::List { .. } | Command::Show { .. } | Command::Why { .. }) => {
            read(&mut store, command)
        }
        Command::Rollback { id } => {
            let undo = respond::roll_back(&mut store, &responder, id, &who, clock.as_ref())?;
            print_runs(std::slice::from_ref(&undo));
            Ok(if undo.state == "succeeded" {
                Outcome::Clean
            } else {
                Outcome::Failures
            })
        }
        Command::Simulate { since } => {
            let span = secops_respond::action::parse_duration(&since)
                .map_err(|m| anyhow::anyhow!("--since: {m}"))?;
            let from = clock.now().unix_nanos() - span;
            let sim = respond::simulate(&mut store, &responder, from, &cancel)?;
            println!(
                "{} alert(s) last seen since {} replayed in dry run (nothing sent or recorded)",
                sim.alerts_read,
                time(from)
            );
            println!(
                "{} {:>7} {:>9} {:>9} {:>9} {:>8} {:>8}  stopped by",
                cell("action", 22),
                "alerts",
                "would run",
                "approval",
                "in effect",
                "targets",
                "no target"
            );
            for (action, s) in &sim.actions {
                let stopped = s
                    .stopped
                    .iter()
                    .map(|(g, n)| format!("{g} {n}"))
                    .collect::<Vec<_>>()
                    .join(", ");
                println!(
                    "{} {:>7} {:>9} {:>9} {:>9} {:>8} {:>8}  {}",
                    cell(action, 22),
                    s.alerts,
                    s.would_run,
                    s.awaiting_approval,
                    s.in_effect,
                    s.targets,
                    s.errors,
                    if stopped.is_empty() {
                        "-".into()
                    } else {
                        stopped
                    }
                );
            }
            Ok(Outcome::Clean)
        }
    }
}

/// `list`, `show` and `why` without a configuration: the store alone.
fn read_only(args: Args) -> anyhow::Result<Outcome> {
    let mut store = args
        .store
        .open_existing_audited()?
        .context("no store: record alerts with `secops detect --store` first")?;
    read(&mut store, args.command)
}

/// `list`, `show` and `why`, which read the store alone.
fn read(store: &mut secops_store::Store, command: Command) -> anyhow::Result<Outcome> {
    match command {
        Command::List {
            state,
            alert,
            limit,
        } => list(store, state, alert, limit),
        Command::Show { id } => {
            show(&store.response_run(id)?);
            Ok(Outcome::Clean)
        }
        Command::Why { alert } => why(store, alert),
        _ => anyhow::bail!("--config: the response configuration (a TOML file or folder)"),
    }
}

fn tick(
    store: &mut secops_store::Store,
    responder: &Responder,
    who: &Actor,
    clock: &dyn Clock,
    cancel: &Cancel,
) -> anyhow::Result<Outcome> {
    let t = respond::tick(store, responder, Recover::Stale, who, clock, cancel)?;
    for run in &t.expired {
        println!("run {} expired: nobody approved it in time", run.id);
    }
    for run in &t.recovered {
        println!("run {} was cut off mid-run: now {}", run.id, run.state);
    }
    print_runs(&t.ran);
    for e in &t.errors {
        eprintln!("{}", safe(e));
    }
    println!(
        "{} run(s) carried out, {} expired, {} recovered",
        t.ran.len(),
        t.expired.len(),
        t.recovered.len()
    );
    Ok(
        if t.errors.is_empty() && t.ran.iter().all(|r| r.state == "succeeded") {
            Outcome::Clean
        } else {
            Outcome::Failures
        },
    )
}
