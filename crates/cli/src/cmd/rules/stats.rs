//! `secops rules stats`: tuning from alerts already raised (alert files or the store): alerts per rule
//! over time as sparklines, suggested exceptions, rules that never fired. The analysis is
//! `secops_lab::tuning`'s.

use secops_lab::tuning::{summarize, AlertSample, KnownRule, Role, Tuning, TuningOptions};

use crate::args::RuleArgs;
use crate::output::safe;
use crate::Outcome;

#[derive(Debug, clap::Args)]
pub struct StatsArgs {
    /// Alert files (JSON lines from `secops detect --output jsonl`), or `-` for standard input.
    #[arg(required_unless_present_any = ["store", "db", "database_url"])]
    alerts: Vec<String>,
    /// Read the alerts recorded in the store (`detect --store`) instead of files.
    #[arg(long, conflicts_with = "alerts")]
    store: bool,
    #[command(flatten)]
    store_at: crate::store::StoreArgs,
    /// The rules to report as never fired (default: the bundled pack).
    #[command(flatten)]
    rules: RuleArgs,
    /// How many rules to show.
    #[arg(long, default_value_t = 20)]
    top: usize,
    /// Suggest exceptions only for rules with at least this many alerts.
    #[arg(long = "min-alerts", default_value_t = 3)]
    min_alerts: usize,
}

/// Sparkline levels, low to high.
const SPARK: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
/// Columns of a rule's alerts-over-time sparkline.
const SPAN: usize = 24;

pub fn run(args: StatsArgs) -> anyhow::Result<Outcome> {
    let from_store =
        args.store || args.store_at.db.is_some() || args.store_at.database_url.is_some();
    let (inputs, errors) = if from_store {
        (Vec::new(), Vec::new())
    } else {
        secops_ingest::expand(&args.alerts)
    };
    if let Some(e) = errors.first() {
        anyhow::bail!("{e}");
    }
    let mut alerts = Vec::new();
    let mut bad = 0usize;
    if from_store {
        let mut store = args.store_at.open_existing()?;
        for stored in store.alerts(&secops_store::AlertFilter::default())? {
            match AlertSample::from_document(&stored.document) {
                Ok(sample) => alerts.push(sample),
                Err(reason) => {
                    bad += 1;
                    eprintln!("stored alert {}: not an alert: {reason}", stored.id);
                }
            }
        }
    }
    let mut seen: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    for input in &inputs {
        let name = input.name();
        let text = match input {
            secops_ingest::Input::Stdin => {
                let mut text = String::new();
                std::io::Read::read_to_string(&mut std::io::stdin(), &mut text)?;
                text
            }
            _ => std::fs::read_to_string(&name)
                .map_err(|e| anyhow::anyhow!("reading {name}: {e}"))?,
        };
        for (number, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            match AlertSample::from_document(line) {
                // A later line with the same alert id supersedes the earlier (`detect` writes an alert
                // again when repeats folded into it).
                Ok(sample) => match seen.get(&sample.id) {
                    Some(&index) => alerts[index] = sample,
                    None => {
                        if !sample.id.is_empty() {
                            seen.insert(sample.id.clone(), alerts.len());
                        }
                        alerts.push(sample)
                    }
                },
                Err(reason) => {
                    bad += 1;
                    eprintln!("{name}:{}: not an alert: {reason}", number + 1);
                }
            }
        }
    }
    let loaded = args.rules.load()?;
    let known: Vec<KnownRule> = loaded
        .native
        .iter()
        .map(|r| KnownRule {
            id: &r.file.rule.id,
            name: &r.file.rule.name,
            rule: Some(r),
        })
        .chain(loaded.sigma.rules.iter().map(|i| KnownRule {
            id: &i.id,
            name: &i.name,
            rule: None,
        }))
        .collect();
    let options = TuningOptions {
        buckets: SPAN,
        top: args.top,
        min_alerts: args.min_alerts,
    };
    let outcome = if bad > 0 {
        Outcome::Rejections
    } else {
        Outcome::Clean
    };
    let Some(tuning) = summarize(&alerts, &known, &options) else {
        println!(
            "no alerts with a time in {} inputs ({bad} lines rejected)",
            inputs.len()
        );
        return Ok(outcome);
    };
    print(&tuning, &args, loaded.rule_count());
    if bad > 0 {
        println!("{bad} lines were not alerts");
    }
    Ok(outcome)
}

fn print(tuning: &Tuning, args: &StatsArgs, loaded_rules: usize) {
    println!(
        "{} alerts from {} rules, {} to {}",
        tuning.alerts,
        tuning.rules.len(),
        tuning.start.to_rfc3339(),
        tuning.end.to_rfc3339()
    );
    println!("{:>7}  {:<SPAN$}  RULE", "ALERTS", "OVER TIME");
    for rule in tuning.rules.iter().take(args.top) {
        let most = rule.over_time.iter().copied().max().unwrap_or(0).max(1);
        let line: String = rule
            .over_time
            .iter()
            .map(|&n| match n {
                0 => ' ',
                n => SPARK[((n * (SPARK.len() - 1)) / most).min(SPARK.len() - 1)],
            })
            .collect();
        println!("{:>7}  {line}  {}", rule.alerts, safe(&rule.rule_name));
    }
    if tuning.rules.len() > args.top {
        println!(
            "        ... and {} more rules",
            tuning.rules.len() - args.top
        );
    }
    println!("\nSuggested exceptions (a value behind most of a rule's alerts):");
    for s in &tuning.suggestions {
        let candidates: Vec<String> = s
            .candidates
            .iter()
            .map(|c| {
                let warning = if c.role == Role::Target {
                    " (the monitored side: excepting it would silence the rule there)"
                } else {
                    ""
                };
                format!(
                    "{} = {} in {} of {}{warning}",
                    c.field,
                    toml_string(&c.value),
                    c.alerts,
                    s.alerts
                )
            })
            .collect();
        println!(
            "  {} ({}): {}",
            safe(&s.rule_name),
            safe(&s.rule_id),
            safe(&candidates.join("; "))
        );
        match s.proposed() {
            Some(c) => {
                // TOML strings, each line escaped again for the terminal (TOML keeps bidi controls)
                for line in [
                    "[[rule.exceptions]]".to_string(),
                    format!(
                        "description = {}",
                        toml_string(&format!("TODO: why {} {} is benign", c.field, c.value))
                    ),
                    "[[rule.exceptions.entries]]".to_string(),
                    format!("field = {}", toml_string(&c.field)),
                    "type = \"match\"".to_string(),
                    format!("value = {}", toml_string(&c.value)),
                ] {
                    println!("    {}", safe(&line));
                }
            }
            None => {
                println!("    no exception proposed: the only common value is the monitored side")
            }
        }
    }
    if tuning.suggestions.is_empty() {
        println!(
            "  none: no value lies behind most alerts of a rule with {} or more",
            args.min_alerts
        );
    }
    println!(
        "\n{} of {} loaded rules never fired:",
        tuning.silent.len(),
        loaded_rules
    );
    for (name, id) in tuning.silent.iter().take(args.top) {
        println!("  {} ({})", safe(name), safe(id));
    }
    if tuning.silent.len() > args.top {
        println!("  ... and {} more", tuning.silent.len() - args.top);
    }
}

/// A TOML basic string.
fn toml_string(text: &str) -> String {
    toml::Value::String(text.to_string()).to_string()
}
