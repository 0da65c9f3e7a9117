//! One file per subcommand.

pub mod alerts;
pub mod audit;
pub mod bench;
pub mod case;
pub mod coverage;
pub mod detect;
pub mod entity;
pub mod formats;
pub mod hunt;
pub mod ingest;
pub mod intel;
pub mod lake;
pub mod respond;
pub mod rules;
pub mod run;
pub mod serve;
pub mod sigma;
pub mod users;
pub mod vuln;

use secops_event::Event;
use secops_service::pipeline::{PipelineOptions, PipelineRun};

/// Runs the detection pipeline over `inputs` with nothing more than their read options, handing the
/// alerts to `out` as raised, with a progress bar when `progress` is set (and standard error is a
/// terminal).
pub fn run_pipeline(
    engine: &mut secops_detect::Engine,
    inputs: &[secops_ingest::Input],
    read: &secops_ingest::Options,
    out: &mut dyn secops_detect::AlertSink,
    progress: bool,
) -> PipelineRun {
    run_pipeline_resolving(engine, inputs, read, out, progress, None)
}

/// [`run_pipeline`] with entity resolution on when a resolver is given.
pub fn run_pipeline_resolving(
    engine: &mut secops_detect::Engine,
    inputs: &[secops_ingest::Input],
    read: &secops_ingest::Options,
    out: &mut dyn secops_detect::AlertSink,
    progress: bool,
    resolver: Option<&mut secops_entity::Resolver>,
) -> PipelineRun {
    let options = PipelineOptions {
        read: read.clone(),
        ..PipelineOptions::default()
    };
    let cancel = secops_service::Cancel::new();
    if progress {
        secops_service::pipeline::run_resolving(
            engine,
            inputs,
            &options,
            out,
            &crate::progress::InputsBar::new(),
            &cancel,
            resolver,
            None,
        )
    } else {
        secops_service::pipeline::run_resolving(
            engine,
            inputs,
            &options,
            out,
            &secops_service::NoProgress,
            &cancel,
            resolver,
            None,
        )
    }
}

/// Alerts counted by rule (name, id), each once however often it is raised again.
#[derive(Debug, Default)]
pub struct AlertsPerRule(pub std::collections::BTreeMap<(String, String), u64>);

impl secops_detect::AlertSink for AlertsPerRule {
    fn raise(&mut self, raised: secops_detect::Raised) {
        if let secops_detect::Raised::Final(a) | secops_detect::Raised::Opened(a) = raised {
            *self
                .0
                .entry((a.rule.name.clone(), a.rule.id.clone()))
                .or_default() += 1;
        }
    }
}

/// What [`each_event`] read.
#[derive(Debug, Clone, Copy, Default)]
pub struct EventCounts {
    pub inputs: usize,
    pub events: u64,
    pub rejected: u64,
}

/// Calls `f` with every event of the logs (files, folders, globs), in input order. Inputs that cannot
/// be read are reported and skipped; rejected records are counted, and the first reason of each input
/// reported.
pub fn each_event(
    paths: &[String],
    year: Option<i32>,
    f: &mut dyn FnMut(Event),
) -> anyhow::Result<EventCounts> {
    let (inputs, errors) = secops_ingest::expand(paths);
    if let Some(e) = errors.first() {
        anyhow::bail!("{e}");
    }
    let options = secops_ingest::Options {
        format: None,
        year,
        timezone: None,
        evtx_recover: false,
        counters: None,
    };
    let mut counts = EventCounts {
        inputs: inputs.len(),
        ..EventCounts::default()
    };
    for input in &inputs {
        let mut first_rejection = None;
        let read = secops_ingest::read_input(input, &options, &mut |record| match record {
            Ok(event) => {
                counts.events += 1;
                f(event);
            }
            Err(rejection) => {
                counts.rejected += 1;
                first_rejection.get_or_insert(rejection.to_string());
            }
        });
        if let Err(e) = read {
            eprintln!("skipped: {e}");
        }
        if let Some(rejection) = first_rejection {
            eprintln!("rejected: {rejection}");
        }
    }
    Ok(counts)
}

/// `--timezone`: an offset or an IANA zone name.
pub fn parse_zone(text: &str) -> Result<secops_ingest::Zone, String> {
    secops_ingest::Zone::parse(text)
}
