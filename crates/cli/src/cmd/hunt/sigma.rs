//! `hunt sigma`: Sigma rules run as hunts over the lake's events.

use std::io::Write;
use std::path::PathBuf;

use crate::output::safe;
use crate::Outcome;

#[derive(Debug, clap::Args)]
pub struct SigmaArgs {
    /// Sigma rule files or folders.
    #[arg(required = true)]
    rules: Vec<PathBuf>,
    /// The lake, a folder or `s3://bucket/prefix`.
    #[arg(long, value_name = "DIR|S3_URL")]
    lake: String,
    /// `table` (time, rule, host, event code, where it was read) or `jsonl` (each event whole, with
    /// the rule's id, name and level).
    #[arg(long, value_enum, default_value = "table")]
    output: SigmaOutput,
    /// Show at most this many matches (the count printed says whether there were more).
    #[arg(long = "max-rows")]
    max_rows: Option<u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SigmaOutput {
    Table,
    Jsonl,
}

/// `hunt sigma`: Sigma rules over the lake's events, one row per match.
pub fn sigma(args: &SigmaArgs) -> anyhow::Result<Outcome> {
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let mut rows: Vec<[String; 5]> = Vec::new();
    let mut failed: Option<std::io::Error> = None;
    let stats =
        secops_service::hunt_sigma::run(&args.rules, &args.lake, args.max_rows, &mut |m| {
            match args.output {
                SigmaOutput::Jsonl => {
                    let mut doc = match m.event.to_json() {
                        serde_json::Value::Object(map) => map,
                        _ => serde_json::Map::new(),
                    };
                    doc.insert("rule.id".into(), m.rule_id.into());
                    doc.insert("rule.name".into(), m.rule_name.into());
                    doc.insert("rule.severity".into(), m.severity.into());
                    doc.insert(
                        "event.provenance".into(),
                        m.event.provenance().to_string().into(),
                    );
                    // JSON escapes control characters itself.
                    if failed.is_none() {
                        if let Err(e) = writeln!(out, "{}", serde_json::Value::Object(doc)) {
                            failed = Some(e);
                        }
                    }
                }
                SigmaOutput::Table => rows.push([
                    m.event
                        .timestamp()
                        .map(|t| t.to_seconds())
                        .unwrap_or_else(|| "-".into()),
                    safe(&m.rule_name).into_owned(),
                    safe(m.event.get_str("host.name").unwrap_or("-")).into_owned(),
                    safe(m.event.get_str("event.code").unwrap_or("-")).into_owned(),
                    safe(&m.event.provenance().to_string()).into_owned(),
                ]),
            }
        })?;
    if let Some(e) = failed {
        return Err(e.into());
    }
    if args.output == SigmaOutput::Table && !rows.is_empty() {
        let widths: Vec<usize> = (0..4)
            .map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0))
            .collect();
        for r in &rows {
            writeln!(
                out,
                "{:<w0$}  {:<w1$}  {:<w2$}  {:<w3$}  {}",
                r[0],
                r[1],
                r[2],
                r[3],
                r[4],
                w0 = widths[0],
                w1 = widths[1],
                w2 = widths[2],
                w3 = widths[3]
            )?;
        }
    }
    out.flush()?;
    for why in stats.left_out.iter().chain(&stats.unreadable) {
        eprintln!("{}", safe(why));
    }
    eprintln!(
        "{} match(es) of {} rule(s) over {} event(s){}{}",
        stats.matches,
        stats.rules,
        stats.events,
        if stats.capped {
            format!(", stopped at --max-rows {}", args.max_rows.unwrap_or(0))
        } else {
            String::new()
        },
        if stats.left_out.is_empty() {
            String::new()
        } else {
            format!("; {} rule(s) left out", stats.left_out.len())
        }
    );
    Ok(if stats.unreadable.is_empty() {
        Outcome::Clean
    } else {
        Outcome::Rejections
    })
}
