//! `secops ingest PATH...`: read logs, print normalized events, end with a summary per input.

use crate::cmd::parse_zone;
use std::io::{BufWriter, Write};

use anyhow::Context;
use secops_ingest::parallel::{read_all, Consumer, Order};
use secops_ingest::{expand, Format, IngestError, Input, Options, Rejection, Summary};

use crate::output::{render, safe, EventOutput, TABLE_HEADER};
use crate::progress::inputs_bar;
use crate::Outcome;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Files, directories (walked), glob patterns, or `-` for standard input. Gzip is undone.
    #[arg(required = true)]
    paths: Vec<String>,
    /// Read every input as this format instead of detecting it (see `secops formats`).
    #[arg(long, value_parser = parse_format)]
    format: Option<Format>,
    /// How to print events.
    #[arg(long, value_enum, default_value = "jsonl")]
    output: EventOutput,
    /// Year of the first line of syslog files without years (default: the file's modification time).
    #[arg(long)]
    year: Option<i32>,
    /// The time zone of syslog lines without one (RFC 3164): `+02:00` or an IANA name such as
    /// `Europe/Berlin` (default UTC).
    #[arg(long, value_parser = parse_zone)]
    timezone: Option<secops_ingest::Zone>,
    /// EVTX: also read records the checksums cannot vouch for (chunks whose header or records fail
    /// their CRC32) and carve records from unused chunk space, tagged `recovered`.
    #[arg(long)]
    evtx_recover: bool,
    /// Print every rejected record on standard error (by default, the summary shows the first per reason).
    #[arg(long)]
    show_rejects: bool,
    /// Print inputs one after another in the order given (deterministic; by default the records of
    /// inputs read in parallel interleave in batches, each input's own order kept).
    #[arg(long)]
    ordered: bool,
    /// Worker threads (default: one per core).
    #[arg(long, default_value_t = 0)]
    threads: usize,
    /// Write the events into the event lake at this folder or `s3://bucket/prefix` (Parquet, by day
    /// and source; an event the lake already holds is not written again) instead of printing them.
    #[arg(long, value_name = "DIR|S3_URL")]
    lake: Option<String>,
}

pub fn parse_format(name: &str) -> Result<Format, String> {
    name.parse().map_err(|e: IngestError| e.to_string())
}

enum Item {
    Line(String),
    Rejected(Rejection),
}

struct Printer<W: Write> {
    out: W,
    show_rejects: bool,
    /// By input index; filled as inputs finish.
    summaries: Vec<Option<Result<Summary, IngestError>>>,
    bar: indicatif::ProgressBar,
    error: Option<std::io::Error>,
}

impl<W: Write> Consumer<Item> for Printer<W> {
    fn record(&mut self, _index: usize, item: Item) {
        match item {
            Item::Line(line) if self.error.is_none() => {
                if let Err(e) = writeln!(self.out, "{line}") {
                    self.error = Some(e);
                }
            }
            Item::Line(_) => {}
            Item::Rejected(rejection) => {
                if self.show_rejects {
                    self.bar.suspend(|| eprintln!("rejected: {rejection}"));
                }
            }
        }
    }

    fn done(&mut self, index: usize, summary: Result<Summary, IngestError>) {
        if let Ok(s) = &summary {
            self.bar.set_message(s.source.clone());
        }
        self.bar.inc(1);
        if let Some(slot) = self.summaries.get_mut(index) {
            *slot = Some(summary);
        }
    }
}

pub fn run(args: Args) -> anyhow::Result<Outcome> {
    let (inputs, errors) = expand(&args.paths);
    for error in &errors {
        eprintln!("error: {error}");
    }
    let options = Options {
        format: args.format,
        year: args.year,
        timezone: args.timezone,
        evtx_recover: args.evtx_recover,
        counters: None,
    };
    if let Some(lake) = &args.lake {
        return into_lake(&args, &inputs, &options, lake, errors.len());
    }
    let stdout = std::io::stdout().lock();
    let mut printer = Printer {
        out: BufWriter::with_capacity(256 * 1024, stdout),
        show_rejects: args.show_rejects,
        summaries: inputs.iter().map(|_| None).collect(),
        bar: inputs_bar(inputs.len()),
        error: None,
    };
    if args.output == EventOutput::Table {
        writeln!(printer.out, "{TABLE_HEADER}")?;
    }
    let output = args.output;
    let order = if args.ordered {
        Order::Input
    } else {
        Order::Completion
    };
    read_all(
        &inputs,
        &options,
        order,
        args.threads,
        |record| match record {
            Ok(event) => render(&event, output).map(Item::Line),
            Err(rejection) => Some(Item::Rejected(rejection)),
        },
        &mut printer,
    );
    printer.bar.finish_and_clear();
    if let Some(error) = printer.error.take() {
        // A closed pipe (`| head`) is the reader's choice, not a failure.
        if error.kind() != std::io::ErrorKind::BrokenPipe {
            return Err(error).context("writing events");
        }
    } else {
        printer.out.flush().context("writing events")?;
    }
    let summaries: Vec<Result<Summary, IngestError>> = inputs
        .iter()
        .zip(printer.summaries)
        .map(|(input, summary)| summary.unwrap_or_else(|| Err(unfinished(input))))
        .collect();
    Ok(report(&inputs, &args.paths, &summaries, errors.len()))
}

/// `--lake`: the events into the lake, the inputs' summaries and what the lake took.
fn into_lake(
    args: &Args,
    inputs: &[Input],
    options: &Options,
    lake: &str,
    argument_errors: usize,
) -> anyhow::Result<Outcome> {
    let cancel = secops_service::Cancel::new();
    let run = secops_service::lake::ingest(
        inputs,
        options,
        args.threads,
        lake,
        &crate::progress::InputsBar::new(),
        &cancel,
    )?;
    let mut by_input: Vec<Option<Result<Summary, IngestError>>> =
        inputs.iter().map(|_| None).collect();
    for (index, summary) in run.summaries {
        if let Some(slot) = by_input.get_mut(index) {
            *slot = Some(summary);
        }
    }
    let summaries: Vec<Result<Summary, IngestError>> = inputs
        .iter()
        .zip(by_input)
        .map(|(input, summary)| summary.unwrap_or_else(|| Err(unfinished(input))))
        .collect();
    let outcome = report(inputs, &args.paths, &summaries, argument_errors);
    let s = run.stats;
    eprintln!(
        "lake {}: {} events written in {} files, {} already in the lake, {} values kept in _fields (not of their column's type)",
        safe(lake),
        s.written,
        s.files,
        s.duplicates,
        s.fallbacks
    );
    Ok(outcome)
}

/// An input the reader never reported on (a worker that died); counted as unreadable, never dropped.
fn unfinished(input: &Input) -> IngestError {
    IngestError::Io {
        path: input.name().into(),
        source: std::io::Error::other("the reader stopped before finishing this input"),
    }
}

/// Prints the per-input summaries and totals on standard error.
fn report(
    inputs: &[Input],
    named: &[String],
    summaries: &[Result<Summary, IngestError>],
    argument_errors: usize,
) -> Outcome {
    let (mut read, mut parsed, mut rejected, mut failed, mut skips) = (0, 0, 0, argument_errors, 0);
    let (mut lost, mut losses, mut damaged) = (0, false, false);
    let mut by_format: std::collections::BTreeMap<Format, (usize, u64)> = Default::default();
    for (input, summary) in inputs.iter().zip(summaries) {
        match summary {
            Err(e) if input.skipped_in_walk(named, e) => {
                eprintln!("skipped: {e}");
                skips += 1;
            }
            Ok(s) => {
                for line in s.lines() {
                    eprintln!("{}", safe(&line));
                }
                read += s.read;
                parsed += s.parsed;
                rejected += s.rejected;
                lost += s.lost;
                losses |= !s.losses.is_empty();
                damaged |= s.incomplete();
                let entry = by_format.entry(s.format).or_default();
                entry.0 += 1;
                entry.1 += s.parsed;
            }
            Err(e) => {
                eprintln!("error: {e}");
                failed += 1;
            }
        }
    }
    let formats: Vec<String> = by_format
        .iter()
        .map(|(f, (n, p))| format!("{f}: {n} inputs, {p} events"))
        .collect();
    let lost = if losses {
        format!(", {lost} lost")
    } else {
        String::new()
    };
    eprintln!(
        "total: {} inputs ({failed} unreadable, {skips} skipped), {read} records read, {parsed} parsed, {rejected} rejected{lost} [{}]",
        summaries.len() + argument_errors,
        formats.join("; ")
    );
    if damaged || failed > 0 {
        Outcome::Rejections
    } else {
        Outcome::Clean
    }
}
