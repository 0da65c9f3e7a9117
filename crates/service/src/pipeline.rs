//! The streaming detection pipeline: inputs read in parallel, every rule's stateless part (log source,
//! condition, exceptions) on the readers' threads, and the stateful part on the calling thread, fed
//! the selected events in time order so a threshold spanning two files counts right.
//!
//! One input streams in its own order; up to [`MAX_MERGED`] inputs are read at once and merged by time
//! (each taken to be in time order), in bounded memory; with more, the selected events are sorted in
//! bounded memory (sorted runs on disk, `spill.rs`) and fed at the end.
//!
//! Alerts leave as the rules raise them ([`AlertOrder::Raised`]): the caller's sink gets each alert the
//! moment its condition holds, and an alert held open for repeats (alert suppression) again, with the
//! same id, when its window closes. [`AlertOrder::Time`] instead holds complete alerts in a bounded
//! reorder buffer and writes each once, in time order.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};

use secops_detect::{feed, Alert, AlertSink, Engine, EngineSelector, Raised, Runtime};
use secops_entity::{Index, Resolver};
use secops_event::{Event, Timestamp};
use secops_ingest::parallel::{read_all, read_merged, Consumer, Order, MAX_MERGED};
use secops_ingest::{IngestError, Input, Options, Rejection, Summary};

use crate::spill::{Hit, Sorter};
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
    /// In which order alerts reach the sink.
    pub order: AlertOrder,
}

/// In which order alerts reach the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AlertOrder {
    /// As raised: an alert the moment its rule's condition holds ([`Raised::Final`] or, for a rule with
    /// alert suppression, [`Raised::Opened`]), and an opened alert again as [`Raised::Closed`] when
    /// its window closes, with the repeats folded into it.
    #[default]
    Raised,
    /// Each alert once, complete ([`Raised::Final`]), in time order (stable: alerts of one time in the
    /// order raised). Alerts wait in a reorder buffer of at most [`REORDER_BUFFER`] until no earlier
    /// alert can come: every window open for repeats is later, and the events read are [`REORDER_LAG`]
    /// past them. An alert the buffer had to let go early, or raised for an event more than the lag out
    /// of order, is written late and counted ([`PipelineRun::out_of_order`]).
    Time,
}

/// Alerts [`AlertOrder::Time`] holds at most.
pub const REORDER_BUFFER: usize = 10_000;

/// How far (event time, nanoseconds) the events read must be past an alert before
/// [`AlertOrder::Time`] writes it: inputs are read in their own order, which is time order give or
/// take a little.
pub const REORDER_LAG: i64 = 5 * 60 * 1_000_000_000;

/// What one run over some inputs produced (the alerts went to the sink).
#[derive(Debug)]
pub struct PipelineRun {
    /// Something went wrong on the way that the inputs' summaries do not say (sorting the selected
    /// events of many inputs on disk).
    pub problem: Option<String>,
    /// Alerts raised (an alert opened and later closed counts once).
    pub alerts: u64,
    /// [`AlertOrder::Time`]: alerts written after a later one.
    pub out_of_order: u64,
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
    /// How long after the run started the first alert reached the sink.
    pub first_alert: Option<std::time::Duration>,
}

/// Reads `inputs`, runs `engine` over them and hands the alerts to `out` (see the module's
/// documentation).
pub fn run(
    engine: &mut Engine,
    inputs: &[Input],
    options: &PipelineOptions,
    out: &mut dyn AlertSink,
    progress: &dyn Progress,
    cancel: &Cancel,
) -> PipelineRun {
    run_resolving(engine, inputs, options, out, progress, cancel, None, None)
}

/// [`run`], resolving entities on the way: events that say which host held an address or where a
/// user worked from reach `resolver` in time order (selected by a rule or not), and every selected
/// event is enriched by it (`secops.entity.*`, `related.*`) before the rules' stateful part sees it,
/// so joins and groups can use resolved entities. `tap` sees every event read (on the readers'
/// threads), selected or not.
#[allow(clippy::too_many_arguments)]
pub fn run_resolving(
    engine: &mut Engine,
    inputs: &[Input],
    options: &PipelineOptions,
    out: &mut dyn AlertSink,
    progress: &dyn Progress,
    cancel: &Cancel,
    resolver: Option<&mut Resolver>,
    tap: Option<&(dyn Fn(&Event) + Sync)>,
) -> PipelineRun {
    // Only events a rule reads resolved entities from are enriched before the rules see them; the
    // events of every alert are enriched when it is raised.
    let readers = engine.entity_readers().to_vec();
    let (selector, runtimes) = engine.split();
    // The name-based half of enrichment runs on the readers' threads; addresses need the claims
    // learned so far, in time order, on this one.
    let index = resolver.as_ref().map(|r| r.index());
    let merge = inputs.len() > 1 && inputs.len() <= MAX_MERGED;
    let suppressing = (0..runtimes.len())
        .filter(|&i| runtimes[i].suppresses())
        .collect();
    let mut collector = Collector {
        stream: inputs.len() <= MAX_MERGED,
        runtimes,
        suppressing,
        alerts: Stream::new(options.order, out),
        latest: None,
        fed: 0,
        hits: Sorter::default(),
        selected: 0,
        summaries: Vec::new(),
        progress,
        resolver,
        readers: &readers,
    };
    progress.start(inputs.len() as u64);
    let mut read = options.read.clone();
    if let [Input::File(path)] = inputs {
        // One input: progress by its bytes.
        let counters = std::sync::Arc::new(secops_ingest::Counters::default());
        let bytes = std::fs::metadata(path).map_or(0, |m| m.len());
        progress.reading(&counters, bytes);
        read.counters = Some(counters);
    }
    let pick = |record: Result<Event, Rejection>| {
        // Every event read, whatever the rules select (`detect --lake` writes them).
        if let (Some(tap), Ok(event)) = (tap, &record) {
            tap(event);
        }
        select(
            record,
            &selector,
            options,
            cancel,
            index.as_deref().map(|i| (i, readers.as_slice())),
        )
    };
    if merge {
        read_merged(inputs, &read, pick, Item::time, &mut collector);
    } else {
        read_all(
            inputs,
            &read,
            Order::Completion,
            options.threads,
            pick,
            &mut collector,
        );
    }
    progress.finish();
    // Stateful rules need time order; a stable sort keeps each input's order among equal times.
    let hits = std::mem::take(&mut collector.hits);
    let problem = hits.drain(&mut |hit| {
        if collector.resolver.is_some() {
            let mut hit = hit.clone();
            collector.resolve(&mut hit);
            collector.feed(&hit);
        } else {
            collector.feed(hit);
        }
    });
    collector.finish();
    let (events, rejected, lost) = collector
        .summaries
        .iter()
        .filter_map(|(_, s)| s.as_ref().ok())
        .fold((0, 0, 0), |(e, r, l), s| {
            (e + s.parsed, r + s.rejected, l + s.lost)
        });
    PipelineRun {
        problem,
        alerts: collector.alerts.raised,
        out_of_order: collector.alerts.out_of_order,
        events,
        rejected,
        lost,
        selected: collector.selected,
        summaries: collector.summaries,
        cancelled: cancel.is_cancelled(),
        first_alert: collector.alerts.first,
    }
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
struct Collector<'r, 'p, 'o> {
    stream: bool,
    runtimes: Vec<&'r mut Runtime>,
    /// The runtimes that hold alerts open for repeats.
    suppressing: Vec<usize>,
    alerts: Stream<'o>,
    /// The latest event time fed.
    latest: Option<Timestamp>,
    /// Events fed since windows were last looked at.
    fed: u32,
    hits: Sorter,
    selected: u64,
    summaries: Vec<(usize, Result<Summary, IngestError>)>,
    progress: &'p dyn Progress,
    /// Entity resolution, when asked for.
    resolver: Option<&'r mut Resolver>,
    /// Per engine index: whether the rule reads resolved entities ([`Engine::entity_readers`]).
    readers: &'r [bool],
}

/// Selected events fed between looks at open windows and the reorder buffer.
const LOOK_EVERY: u32 = 256;

impl Collector<'_, '_, '_> {
    /// Learns what the event says about entities (in time order), then names the hosts holding its
    /// addresses (the readers' threads did the names).
    fn resolve(&mut self, hit: &mut Hit) {
        if let Some(resolver) = self.resolver.as_deref_mut() {
            if hit.evidence {
                resolver.learn(&hit.event);
            }
            if resolver.has_claims() && reads_entities(self.readers, &hit.rules) {
                resolver.enrich_addresses(&mut hit.event);
            }
        }
    }

    /// Where the rules' alerts go: the stream, through entity enrichment when resolving.
    fn sink<'s, 'o>(
        alerts: &'s mut Stream<'o>,
        resolver: Option<&'s Resolver>,
    ) -> Enriching<'s, Stream<'o>> {
        Enriching {
            resolver,
            out: alerts,
        }
    }

    fn feed(&mut self, hit: &Hit) {
        feed(
            &mut self.runtimes,
            &hit.event,
            &hit.rules,
            &[],
            &mut Self::sink(&mut self.alerts, self.resolver.as_deref()),
        );
        if let Some(time) = hit.event.timestamp() {
            self.latest = Some(self.latest.map_or(time, |l| l.max(time)));
        }
        self.fed += 1;
        if self.fed >= LOOK_EVERY || self.alerts.held.len() > REORDER_BUFFER {
            self.fed = 0;
            self.look();
        }
    }

    /// Closes the windows event time has passed, and writes what the reorder buffer may let go.
    fn look(&mut self) {
        let Some(latest) = self.latest else {
            // No event had a time: nothing can be placed, but the buffer keeps its bound.
            self.alerts
                .release(Some(Timestamp::from_unix_nanos(i64::MIN)));
            return;
        };
        let mut sink = Self::sink(&mut self.alerts, self.resolver.as_deref());
        for &index in &self.suppressing {
            self.runtimes[index].advance(latest, &mut sink);
        }
        if self.alerts.order == AlertOrder::Time {
            let open = self
                .suppressing
                .iter()
                .filter_map(|&i| self.runtimes[i].earliest_open())
                .min();
            let settled =
                Timestamp::from_unix_nanos(latest.unix_nanos().saturating_sub(REORDER_LAG));
            self.alerts
                .release(Some(open.map_or(settled, |o| o.min(settled))));
        }
    }

    /// The input has ended: every open alert closes, and the reorder buffer empties.
    fn finish(&mut self) {
        let mut sink = Self::sink(&mut self.alerts, self.resolver.as_deref());
        for runtime in &mut self.runtimes {
            runtime.finish(&mut sink);
        }
        self.alerts.release(None);
    }
}

/// Whether a rule among `rules` reads resolved entities (an unknown index is taken to).
fn reads_entities(readers: &[bool], rules: &[u32]) -> bool {
    rules
        .iter()
        .any(|&r| readers.get(r as usize).copied().unwrap_or(true))
}

/// Alerts with their events' entities resolved (names, and the hosts holding their addresses at their
/// time), whether or not their rule read them: what an analyst and risk scoring see.
struct Enriching<'s, S: AlertSink> {
    resolver: Option<&'s Resolver>,
    out: &'s mut S,
}

impl<S: AlertSink> AlertSink for Enriching<'_, S> {
    fn raise(&mut self, mut raised: Raised) {
        if let Some(resolver) = self.resolver {
            for event in &mut raised.alert_mut().events {
                resolver.enrich(event);
            }
        }
        self.out.raise(raised);
    }
}

/// Alerts on their way to the caller's sink, in the order asked for.
struct Stream<'o> {
    order: AlertOrder,
    out: &'o mut dyn AlertSink,
    started: std::time::Instant,
    first: Option<std::time::Duration>,
    raised: u64,
    /// [`AlertOrder::Time`]: complete alerts by (time, order raised).
    held: BinaryHeap<Reverse<Held>>,
    sequence: u64,
    /// Alerts open for repeats, by id: their place in the order raised.
    opened: HashMap<String, u64>,
    written_up_to: Option<Timestamp>,
    out_of_order: u64,
}

struct Held {
    sequence: u64,
    alert: Alert,
}

impl Held {
    fn key(&self) -> (Timestamp, u64) {
        (self.alert.timestamp, self.sequence)
    }
}

impl PartialEq for Held {
    fn eq(&self, other: &Self) -> bool {
        self.key() == other.key()
    }
}

impl Eq for Held {}

impl PartialOrd for Held {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Held {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.key().cmp(&other.key())
    }
}

impl<'o> Stream<'o> {
    fn new(order: AlertOrder, out: &'o mut dyn AlertSink) -> Self {
        Stream {
            order,
            out,
            started: std::time::Instant::now(),
            first: None,
            raised: 0,
            held: BinaryHeap::new(),
            sequence: 0,
            opened: HashMap::new(),
            written_up_to: None,
            out_of_order: 0,
        }
    }

    fn write(&mut self, raised: Raised) {
        if self.first.is_none() {
            self.first = Some(self.started.elapsed());
        }
        self.out.raise(raised);
    }

    /// [`AlertOrder::Time`]: writes the held alerts up to `until` (all of them when `None`), and any
    /// beyond the buffer's bound.
    fn release(&mut self, until: Option<Timestamp>) {
        while let Some(Reverse(top)) = self.held.peek() {
            let due =
                until.is_none_or(|u| top.alert.timestamp <= u) || self.held.len() > REORDER_BUFFER;
            if !due {
                break;
            }
            let Some(Reverse(held)) = self.held.pop() else {
                break;
            };
            let time = held.alert.timestamp;
            if self.written_up_to.is_some_and(|w| time < w) {
                self.out_of_order += 1;
            }
            self.written_up_to = Some(self.written_up_to.map_or(time, |w| w.max(time)));
            self.write(Raised::Final(held.alert));
        }
    }
}

impl AlertSink for Stream<'_> {
    fn raise(&mut self, raised: Raised) {
        if !matches!(raised, Raised::Closed(_)) {
            self.raised += 1;
        }
        match (self.order, raised) {
            (AlertOrder::Raised, raised) => self.write(raised),
            // The runtime holds an opened alert until it closes, complete; it keeps its place.
            (AlertOrder::Time, Raised::Opened(alert)) => {
                self.sequence += 1;
                self.opened.insert(alert.id, self.sequence);
            }
            (AlertOrder::Time, Raised::Final(alert) | Raised::Closed(alert)) => {
                self.sequence += 1;
                let sequence = self.opened.remove(&alert.id).unwrap_or(self.sequence);
                self.held.push(Reverse(Held { sequence, alert }));
            }
        }
    }
}

impl Consumer<Item> for Collector<'_, '_, '_> {
    fn record(&mut self, _index: usize, item: Item) {
        match item {
            Item::Hit(mut hit) => {
                // An event only the resolver wanted (evidence no rule selected) has no rules.
                self.selected += u64::from(!hit.rules.is_empty());
                if self.stream {
                    self.resolve(&mut hit);
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
    entities: Option<(&Index, &[bool])>,
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
    let evidence = entities.is_some() && Resolver::carries_evidence(&event);
    match (selected.is_empty(), excepted.is_empty()) {
        // Evidence for the resolver, selected by no rule: it crosses to be learned in time order.
        (true, true) if evidence => Some(Item::Hit(Hit {
            event,
            rules: Vec::new(),
            evidence,
        })),
        // Nothing for the runtimes: no item crosses threads (events are counted from the summaries).
        (true, true) => None,
        (true, false) => Some(Item::Miss { excepted }),
        (false, _) => {
            let mut event = event;
            if let Some((index, readers)) = entities {
                if reads_entities(readers, &selected) {
                    index.enrich(&mut event);
                }
            }
            Some(Item::Hit(Hit {
                event,
                rules: selected,
                evidence,
            }))
        }
    }
}
