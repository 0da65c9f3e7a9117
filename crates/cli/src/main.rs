//! `secops`: the command line of the secops security-operations platform.
//!
//! Each subcommand lives in its own file under `cmd/`; this file only parses arguments and maps results to
//! exit codes: 0 success, 1 error or failed checks, 2 usage error, 3 finished but some inputs or records
//! were rejected.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod alerts_out;
mod args;
mod cmd;
// Parsing allocates many small strings across threads; mimalloc measured faster than the system allocator
// here and does not fragment across long multi-format runs (see README, Performance).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod memory;
mod output;
mod progress;
mod store;

#[derive(Debug, Parser)]
#[command(
    name = "secops",
    version,
    about = "Security operations: ingest, detect, respond."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Read logs and print them as normalized (ECS) events, with a summary per input.
    Ingest(cmd::ingest::Args),
    /// Run detection rules over logs and print the alerts, with a summary.
    Detect(Box<cmd::detect::Args>),
    /// Inspect rules.
    #[command(subcommand)]
    Rules(cmd::rules::Rules),
    /// List the log formats secops reads.
    Formats,
    /// Measure throughput and peak memory.
    #[command(subcommand)]
    Bench(cmd::bench::Bench),
    /// Work with stored alerts: list, show, acknowledge, close.
    #[command(subcommand)]
    Alerts(cmd::alerts::Alerts),
    /// Incident response cases: open from alerts, work, close, report, metrics.
    Case(cmd::case::Args),
    /// Threat intelligence: import indicators (STIX, TAXII, MISP, CSV), list, export, retro-hunt.
    Intel(cmd::intel::Args),
    /// Convert Sigma rules to native rules, and export native rules as Sigma.
    #[command(subcommand)]
    Sigma(cmd::sigma::Sigma),
    /// ATT&CK coverage of the rules: terminal matrix, Navigator layer, HTML heatmap, gaps.
    Coverage(cmd::coverage::Args),
    /// Hosts, users and addresses across log sources: check the inventory, show what a name resolves to.
    #[command(subcommand)]
    Entity(cmd::entity::Entity),
    /// The event lake: merge small files, remove old days (write it with `ingest --lake`).
    #[command(subcommand)]
    Lake(cmd::lake::Lake),
    /// Hunt over the event lake with a pipe query language (ES|QL-shaped).
    #[command(subcommand)]
    Hunt(cmd::hunt::Hunt),
    /// Users who sign in to the server: add, list, set a password or role, disable.
    User(cmd::users::UserArgs),
    /// API keys for programs: create (shown once), list, revoke.
    Key(cmd::users::KeyArgs),
    /// Roles and the permissions they grant (built-in, and custom ones from --roles).
    #[command(subcommand)]
    Role(RoleCommand),
    /// The tamper-evident audit log: verify the chain, print its head, export it as ECS.
    Audit(cmd::audit::AuditArgs),
    /// The HTTP API for analysts and programs: users, roles, API keys, sessions, the audit log.
    Serve(Box<cmd::serve::Args>),
    /// Listen for logs (syslog over UDP, TCP, TLS; HTTP; followed files) and detect continuously,
    /// restart-safe.
    Run(cmd::run::Args),
    /// What a running `secops run` last reported: rates, drops, spool, checkpoint age, latency.
    Status(cmd::run::StatusArgs),
    /// Run the rules over what `secops run` publishes to the bus (`[bus]` in the config): one of
    /// several processes sharing the partitions.
    Worker(cmd::run::WorkerArgs),
    /// Vulnerability management: import scanner reports, refresh KEV/EPSS/SSVC, the findings queue
    /// by risk and deadline, accept risk, close.
    Vuln(cmd::vuln::Args),
    /// Response automation: request actions, evaluate alerts against the workflows, carry out
    /// what is due, explain an alert's actions, replay alerts in dry run.
    Respond(Box<cmd::respond::Args>),
}

#[derive(Debug, clap::Subcommand)]
enum RoleCommand {
    /// Every role with its permissions.
    List(cmd::users::RoleArgs),
}

/// How a command ended, when it did not fail outright.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Clean,
    /// Some inputs could not be read or some records were rejected; the rest was processed.
    Rejections,
    /// Checks ran and some failed (rule tests, validation).
    Failures,
}

fn main() -> ExitCode {
    quiet_on_closed_pipe();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Ingest(args) => cmd::ingest::run(args),
        Command::Detect(args) => cmd::detect::run(*args),
        Command::Rules(rules) => cmd::rules::run(rules),
        Command::Formats => cmd::formats::run(),
        Command::Bench(bench) => cmd::bench::run(bench),
        Command::Coverage(args) => cmd::coverage::run(args),
        Command::Sigma(command) => cmd::sigma::run(command),
        Command::Alerts(command) => cmd::alerts::run(command),
        Command::Case(args) => cmd::case::run(args),
        Command::Intel(args) => cmd::intel::run(args),
        Command::Entity(command) => cmd::entity::run(command),
        Command::Lake(command) => cmd::lake::run(command),
        Command::Hunt(command) => cmd::hunt::run(command),
        Command::User(args) => cmd::users::user(args),
        Command::Key(args) => cmd::users::key(args),
        Command::Role(RoleCommand::List(args)) => cmd::users::role(args),
        Command::Audit(args) => cmd::audit::run(args),
        Command::Serve(args) => cmd::serve::run(*args),
        Command::Run(args) => cmd::run::run(args),
        Command::Status(args) => cmd::run::status(args),
        Command::Worker(args) => cmd::run::worker(args),
        Command::Vuln(args) => cmd::vuln::run(args),
        Command::Respond(args) => cmd::respond::run(*args),
    };
    match result {
        Ok(Outcome::Clean) => ExitCode::SUCCESS,
        Ok(Outcome::Rejections) => ExitCode::from(3),
        Ok(Outcome::Failures) => ExitCode::FAILURE,
        Err(error) => {
            eprintln!("secops: {}", output::safe(&format!("{error:#}")));
            ExitCode::FAILURE
        }
    }
}

/// `secops ... | head` closes the pipe early; Rust's printing then panics. End quietly instead, with
/// the status a shell gives a program killed by SIGPIPE, as other command-line tools do.
fn quiet_on_closed_pipe() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let message = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or("");
        if message.starts_with("failed printing to stdout") && message.contains("Broken pipe") {
            std::process::exit(141);
        }
        default(info);
    }));
}
