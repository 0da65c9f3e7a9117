//! The streaming detection pipeline: inputs read in parallel, every rule's stateless part (log source,
//! condition, exceptions) on the readers' threads, and the stateful part on the calling thread, fed
//! the selected events in time order so a threshold spanning two files counts right.
//!
//! One input streams in its own order; up to [`MAX_MERGED`] inputs are read at once and merged by time
//! (each taken to be in time order), in bounded memory; with more, the selected events are kept and
//! sorted at the end.

use secops_detect::{feed, Alert, Engine, EngineSelector, Runtime};
use secops_event::{Event, Timestamp};
use secops_ingest::parallel::{read_all, read_merged, Consumer, Order, MAX_MERGED};
use secops_ingest::{IngestError, Input, Options, Rejection, Summary};

use crate::{Cancel, Progress};

/// How to run the pipeline.
#[derive(Debug, Clone, Default)]
pub struct PipelineOptions {
    /// How to read the inputs (forced format, syslog year).
    pub read: Options,
    /// Worker threads (0: one per core).
    pub threads: usize,
    /// Only events at or after this time.
    pub since: Option<Timestamp>,
    /// Only events before this time.
    pub until: Option<Timestamp>,
}

/// What one run over some inputs produced.
#[derive(Debug)]
pub struct PipelineRun {
    /// In the order the rules raised them.
    pub alerts: Vec<Alert>,
    pub events: u64,
    pub rejected: u64,
    /// Records inputs promised that could not be read (see [`Summary::lost`]).
    pub lost: u64,
    /// Events some rule selected.
    pub selected: u64,
    /// By input index, in the order inputs finished.
    pub summaries: Vec<(usize, Result<Summary, IngestError>)>,
    /// The run was asked to stop: events read after that were not looked at.
    pub cancelled: bool,
    /// How long after the run started the rules raised the first alert (the engine's side: today the
    /// alerts are handed over when the run ends).
    pub first_alert: Option<std::time::Duration>,
}

/// Reads `inputs` and runs `engine` over them (see the module's documentation).
pub fn run(
    engine: &mut Engine,
    inputs: &[Input],
    options: &PipelineOptions,
    progress: &dyn Progress,
    cancel: &Cancel,
) -> PipelineRun {
    let (selector, runtimes) = engine.split();
    let merge = inputs.len() > 1 && inputs.len() <= MAX_MERGED;
    let mut collector = Collector {
        started: std::time::Instant::now(),
        first_alert: None,
        stream: inputs.len() <= MAX_MERGED,
        runtimes,
        alerts: Vec::new(),
        hits: Vec::new(),
        selected: 0,
        summaries: Vec::new(),
        progress,
    };
    progress.start(inputs.len() as u64);
    let pick = |record| select(record, &selector, options, cancel);
    if merge {
        read_merged(inputs, &options.read, pick, Item::time, &mut collector);
    } else {
        read_all(
            inputs,
            &options.read,
            Order::Completion,
            options.threads,
            pick,
            &mut collector,
        );
    }
    progress.finish();
    // Stateful rules need time order; a stable sort keeps each input's order among equal times.
    let mut hits = std::mem::take(&mut collector.hits);
    hits.sort_by_key(|h| h.event.timestamp());
    for hit in &hits {
        collector.feed(hit);
    }
    let (events, rejected, lost) = collector
        .summaries
        .iter()
        .filter_map(|(_, s)| s.as_ref().ok())
        .fold((0, 0, 0), |(e, r, l), s| {
            (e + s.parsed, r + s.rejected, l + s.lost)
        });
    PipelineRun {
        alerts: collector.alerts,
        events,
        rejected,
        lost,
        selected: collector.selected,
        summaries: collector.summaries,
        cancelled: cancel.is_cancelled(),
        first_alert: collector.first_alert,
    }
}

/// An event some rule selected, with the rules that selected it.
struct Hit {
    event: Event,
    rules: Vec<u32>,
}

/// Per-record result sent back from the workers.
enum Item {
    Hit(Hit),
    /// An event no rule selected but some rule's exception covered (`excepted`).
    Miss {
        excepted: Vec<u32>,
    },
}

impl Item {
    /// The merge key: selected events by time; the rest carry nothing to order.
    fn time(&self) -> Option<Timestamp> {
        match self {
            Item::Hit(hit) => hit.event.timestamp(),
            Item::Miss { .. } => None,
        }
    }
}

/// Receives the workers' results. With one input, or a few merged, events arrive in time order, so
/// selected events go straight to the rules' runtimes; with more, they are kept and sorted first.
struct Collector<'r, 'p> {
    started: std::time::Instant,
    first_alert: Option<std::time::Duration>,
    stream: bool,
    runtimes: Vec<&'r mut Runtime>,
    alerts: Vec<Alert>,
    hits: Vec<Hit>,
    selected: u64,
    summaries: Vec<(usize, Result<Summary, IngestError>)>,
    progress: &'p dyn Progress,
}

impl Collector<'_, '_> {
    fn feed(&mut self, hit: &Hit) {
        feed(
            &mut self.runtimes,
            &hit.event,
            &hit.rules,
            &[],
            &mut self.alerts,
        );
        if self.first_alert.is_none() && !self.alerts.is_empty() {
            self.first_alert = Some(self.started.elapsed());
        }
    }
}

impl Consumer<Item> for Collector<'_, '_> {
    fn record(&mut self, _index: usize, item: Item) {
        match item {
            Item::Hit(hit) => {
                self.selected += 1;
                if self.stream {
                    self.feed(&hit);
                } else {
                    self.hits.push(hit);
                }
            }
            Item::Miss { excepted } => {
                for index in excepted {
                    if let Some(runtime) = self.runtimes.get_mut(index as usize) {
                        runtime.stats.matched += 1;
                        runtime.stats.excepted += 1;
                    }
                }
            }
        }
    }

    fn done(&mut self, index: usize, summary: Result<Summary, IngestError>) {
        self.progress.advance();
        self.summaries.push((index, summary));
    }
}

/// The workers' part: time filter, then every rule's selector.
fn select(
    record: Result<Event, Rejection>,
    selector: &EngineSelector<'_>,
    options: &PipelineOptions,
    cancel: &Cancel,
) -> Option<Item> {
    // Rejections are counted (with their reasons) in the input summaries.
    let event = record.ok()?;
    if cancel.is_cancelled() {
        return None;
    }
    let time = event.timestamp();
    if options.since.is_some_and(|s| time.is_none_or(|t| t < s))
        || options.until.is_some_and(|u| time.is_none_or(|t| t >= u))
    {
        return None;
    }
    let (mut selected, mut excepted) = (Vec::new(), Vec::new());
    selector.select(&event, &mut selected, &mut excepted);
    match (selected.is_empty(), excepted.is_empty()) {
        // Nothing for the runtimes: no item crosses threads (events are counted from the summaries).
        (true, true) => None,
        (true, false) => Some(Item::Miss { excepted }),
        (false, _) => Some(Item::Hit(Hit {
            event,
            rules: selected,
        })),
    }
}
