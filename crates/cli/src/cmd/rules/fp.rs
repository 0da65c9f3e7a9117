//! `secops rules fp --benign LOGS`: false positives measured, alerts per rule per million benign events,
//! as a bar chart; rules over `--budget` fail.

use std::io::IsTerminal;

use crate::Outcome;

#[derive(Debug, clap::Args)]
pub struct FpArgs {
    /// Benign logs: files, folders or glob patterns.
    #[arg(long = "benign", required = true)]
    benign: Vec<String>,
    #[command(flatten)]
    rules: crate::args::RuleArgs,
    /// Year of the first line of syslog files without years.
    #[arg(long)]
    year: Option<i32>,
    /// The most alerts per million events a rule may raise; rules above it fail (exit 1).
    #[arg(long)]
    budget: Option<f64>,
}

/// Width of the bars in `rules fp`.
const BAR: usize = 30;

pub fn run(args: FpArgs) -> anyhow::Result<Outcome> {
    let loaded = args.rules.load()?;
    for rejection in &loaded.rejected {
        eprintln!("rejected: {rejection}");
    }
    let now = super::parse_now(None)?;
    let rule_count = loaded.rule_count();
    let (mut engine, compile_errors) = secops_detect::Engine::with_sigma(
        &loaded.native,
        loaded.sigma,
        now,
        &secops_detect::IndicatorSet::default(),
    );
    for (id, error) in &compile_errors {
        eprintln!("error: rule {id}: {error}");
    }
    let (inputs, input_errors) = secops_ingest::expand(&args.benign);
    if let Some(e) = input_errors.first() {
        anyhow::bail!("{e}");
    }
    let options = secops_ingest::Options {
        format: None,
        year: args.year,
        timezone: None,
        evtx_recover: false,
        counters: None,
    };
    let mut per_rule = crate::cmd::AlertsPerRule::default();
    let run = crate::cmd::run_pipeline(
        &mut engine,
        &inputs,
        &options,
        &mut per_rule,
        std::io::stderr().is_terminal(),
    );
    let mut rows: Vec<((String, String), u64)> = per_rule.0.into_iter().collect();
    rows.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    let per_million = |n: u64| n as f64 * 1_000_000.0 / run.events.max(1) as f64;
    let most = rows.first().map_or(1, |r| r.1).max(1);
    let mut over = 0;
    if !rows.is_empty() {
        println!("{:>8} {:>12}  {:<BAR$}  RULE", "ALERTS", "PER MILLION", "");
    }
    for ((name, id), n) in &rows {
        let rate = per_million(*n);
        let bar = "█".repeat(((*n as f64 / most as f64) * BAR as f64).ceil() as usize);
        let flag = match args.budget {
            Some(budget) if rate > budget => {
                over += 1;
                "  OVER BUDGET"
            }
            _ => "",
        };
        println!("{n:>8} {rate:>12.1}  {bar:<BAR$}  {name} ({id}){flag}");
    }
    println!(
        "{} events ({} rejected) from {} inputs; {} of {rule_count} rules raised {} alerts",
        run.events,
        run.rejected,
        inputs.len(),
        rows.len(),
        run.alerts
    );
    if let Some(budget) = args.budget {
        println!("{over} rules over the budget of {budget} alerts per million events");
    }
    Ok(if over > 0 {
        Outcome::Failures
    } else if run.rejected > 0 || !loaded.rejected.is_empty() {
        Outcome::Rejections
    } else {
        Outcome::Clean
    })
}
