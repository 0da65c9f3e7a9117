//! `secops rules list`: the loaded rules with type, severity, ATT&CK ids and what the static field
//! check says of them (proven: every field a match needs is carried by the events it runs on;
//! unverified: the mapping lists no fields for some of them); `--rejected` lists the rule files that
//! will not run, each with the reason; `--unverified` the unverified rules and where; `--by-logsource`
//! the counts per log source.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Arc;

use secops_detect::sigma::FieldCheck;
use secops_detect::RuleInfo;
use secops_service::ruleset::Loaded;

use crate::output::{cell, safe};
use crate::Outcome;

#[derive(Debug, clap::Args)]
pub struct ListArgs {
    #[command(flatten)]
    rules: crate::args::RuleArgs,
    /// List the rejected rule files and why, instead of the loaded rules.
    #[arg(long, conflicts_with_all = ["unverified", "by_logsource"])]
    rejected: bool,
    /// List only the rules the field check could not verify, and the events whose fields the
    /// mapping does not list.
    #[arg(long, conflicts_with = "by_logsource")]
    unverified: bool,
    /// Count proven, unverified and rejected rules per log source.
    #[arg(long = "by-logsource")]
    by_logsource: bool,
}

pub fn run(args: ListArgs) -> anyhow::Result<Outcome> {
    let loaded = args.rules.load()?;
    if args.rejected {
        for rejection in &loaded.rejected {
            println!("{}", safe(&rejection.to_string()));
        }
    } else if args.by_logsource {
        print!("{}", by_logsource(&loaded));
    } else {
        print!("{}", listing(&loaded, args.unverified));
    }
    eprintln!(
        "{} rules loaded, {} rejected, {} left out by --status/--level/--tag ({:.2} s); field check: {}",
        loaded.rule_count(),
        loaded.rejected.len(),
        loaded.filtered,
        loaded.load_seconds,
        loaded.check_counts()
    );
    Ok(if loaded.rejected.is_empty() {
        Outcome::Clean
    } else {
        Outcome::Rejections
    })
}

fn listing(loaded: &Loaded, only_unverified: bool) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<36}  {:<12} {:<8} {:<10} {:<22} NAME",
        "ID", "TYPE", "SEVERITY", "FIELDS", "ATT&CK"
    );
    let mut infos: Vec<Arc<RuleInfo>> = Vec::new();
    infos.extend(
        loaded
            .native
            .iter()
            .map(|rule| Arc::new(RuleInfo::of_rule(rule))),
    );
    infos.extend(loaded.sigma.rules.iter().cloned());
    infos.extend(loaded.sigma.correlations.iter().map(|c| c.info.clone()));
    for (info, (_, check)) in infos.iter().zip(loaded.field_checks()) {
        if only_unverified && check == FieldCheck::Proven {
            continue;
        }
        let _ = write!(
            out,
            "{:<36}  {:<12} {:<8} {:<10} {:<22} {}",
            safe(&info.id),
            info.rule_type.as_str(),
            info.severity.as_str(),
            check.as_str(),
            safe(&info.techniques().join(",")),
            safe(&info.name)
        );
        if let (true, FieldCheck::Unverified(unlisted)) = (only_unverified, &check) {
            let _ = write!(out, "  (no field list: {})", safe(&unlisted.join("; ")));
        }
        out.push('\n');
    }
    out
}

/// Proven, unverified and rejected rules per log source, the most rules first.
fn by_logsource(loaded: &Loaded) -> String {
    let mut rows: BTreeMap<String, [usize; 3]> = BTreeMap::new();
    for (logsource, check) in loaded.field_checks() {
        let row = rows.entry(logsource.label()).or_default();
        match check {
            FieldCheck::Proven => row[0] += 1,
            FieldCheck::Unverified(_) => row[1] += 1,
        }
    }
    for rejection in &loaded.rejected {
        let label = rejection
            .logsource
            .as_ref()
            .map_or_else(|| "(not a rule that parsed)".to_string(), |l| l.label());
        rows.entry(label).or_default()[2] += 1;
    }
    let mut rows: Vec<(String, [usize; 3])> = rows.into_iter().collect();
    rows.sort_by_key(|(label, n)| (std::cmp::Reverse(n.iter().sum::<usize>()), label.clone()));
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<48} {:>7} {:>10} {:>8}",
        "LOG SOURCE", "PROVEN", "UNVERIFIED", "REJECTED"
    );
    let mut total = [0usize; 3];
    for (label, n) in &rows {
        let _ = writeln!(
            out,
            "{} {:>7} {:>10} {:>8}",
            cell(label, 48),
            n[0],
            n[1],
            n[2]
        );
        for (t, v) in total.iter_mut().zip(n) {
            *t += v;
        }
    }
    let _ = writeln!(
        out,
        "{:<48} {:>7} {:>10} {:>8}",
        "total", total[0], total[1], total[2]
    );
    out
}
