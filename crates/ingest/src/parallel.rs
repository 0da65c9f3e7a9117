//! Reading many inputs in parallel and handing the results to the calling thread.
//!
//! Worker tasks on the rayon pool take inputs in order and turn each record into a `T` (formatting,
//! counting, later detection: the expensive part, done in parallel); batches of `T` go to the calling
//! thread through bounded channels, so memory stays bounded. Two delivery orders:
//!
//! - [`Order::Completion`]: batches arrive as they are made, through one shared channel. Each input's
//!   records stay in order; batches of different inputs interleave. Every worker keeps running.
//! - [`Order::Input`]: input 0's records, then input 1's, and so on (deterministic output). A later input
//!   may run ahead by [`INPUT_ORDER_BUFFER`] batches; past that its worker waits, so a few large inputs
//!   are read one after another.
//!
//! A single input is parsed on one thread (parsing carries state from record to record: the syslog
//! year, Zeek's header, a multi-line JSON document; it is also the cheap part), and its records are
//! mapped by the workers, batch by batch, and handed over in the input's own order.
//! [`read_merged`] instead reads a bounded number of inputs at once, one thread each, and merges their
//! records by a key (time), for consumers that need one time order across inputs.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};

use secops_event::Event;

use crate::lines::{count_progress, Emit, Item};
use crate::read::read_items;
use crate::{read_input, IngestError, Input, Options, Rejection, Summary};

const BATCH: usize = 512;

/// Batches a later input may buffer ahead in [`Order::Input`].
pub const INPUT_ORDER_BUFFER: usize = 64;

/// In which order the caller receives the inputs' records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Order {
    #[default]
    Completion,
    Input,
}

enum Message<T> {
    Batch(usize, Vec<T>),
    Done(usize, Result<Summary, IngestError>),
}

/// What the caller receives.
pub trait Consumer<T> {
    /// One mapped record of input `index`.
    fn record(&mut self, index: usize, item: T);
    /// Input `index` is finished (or could not be read).
    fn done(&mut self, index: usize, summary: Result<Summary, IngestError>);
}

/// Reads `inputs` with `threads` workers (0: the rayon pool's size), mapping each record with `map` on the
/// workers and handing the results to `consumer` on this thread in the given `order`.
pub fn read_all<T, M, C>(
    inputs: &[Input],
    options: &Options,
    order: Order,
    threads: usize,
    map: M,
    consumer: &mut C,
) where
    T: Send,
    M: Fn(Result<Event, Rejection>) -> Option<T> + Sync,
    C: Consumer<T>,
{
    let workers = if threads == 0 {
        rayon::current_num_threads()
    } else {
        threads
    };
    if inputs.len() == 1 {
        read_single(&inputs[0], options, workers, &map, consumer);
        return;
    }
    let workers = workers.clamp(1, inputs.len().max(1));
    let next = AtomicUsize::new(0);
    match order {
        Order::Completion => {
            let (sender, receiver) = sync_channel(4 * workers);
            let senders: Vec<_> = (0..inputs.len()).map(|_| sender.clone()).collect();
            drop(sender);
            rayon::in_place_scope(|scope| {
                for _ in 0..workers {
                    scope.spawn(|_| work(inputs, options, &next, &senders, &map));
                }
                drain(&receiver, inputs.len(), consumer);
            });
            drop(senders);
        }
        Order::Input => {
            let (senders, receivers): (Vec<_>, Vec<Receiver<Message<T>>>) = inputs
                .iter()
                .map(|_| sync_channel(INPUT_ORDER_BUFFER))
                .unzip();
            rayon::in_place_scope(|scope| {
                for _ in 0..workers {
                    scope.spawn(|_| work(inputs, options, &next, &senders, &map));
                }
                for receiver in &receivers {
                    drain(receiver, 1, consumer);
                }
            });
        }
    }
}

/// Batches of one input being mapped at once, beyond those the workers hold.
const IN_FLIGHT: usize = 4;

/// Reads one input on a thread of its own, maps its records on `workers` threads, and hands the results
/// to `consumer` on this thread in the input's order. Lines that parse on their own (JSON lines) are
/// parsed by the workers too, so the reading thread only splits the input. With one worker the
/// records are parsed and mapped on the reading thread.
fn read_single<T, M, C>(input: &Input, options: &Options, workers: usize, map: &M, consumer: &mut C)
where
    T: Send,
    M: Fn(Result<Event, Rejection>) -> Option<T> + Sync,
    C: Consumer<T>,
{
    type Batch = (u64, Vec<Item>);
    if workers <= 1 {
        let summary = read_input(input, options, &mut |record| {
            if let Some(item) = map(record) {
                consumer.record(0, item);
            }
        });
        consumer.done(0, summary);
        return;
    }
    let (batches, to_map) = sync_channel::<Batch>(IN_FLIGHT);
    let to_map = std::sync::Mutex::new(to_map);
    let (mapped, results) = sync_channel::<(u64, Vec<T>, Summary)>(IN_FLIGHT + workers);
    std::thread::scope(|scope| {
        let reader = scope.spawn(move || {
            let mut sequence = 0u64;
            let mut batch = Vec::with_capacity(BATCH);
            let summary = read_items(input, options, true, &mut |item| {
                batch.push(item);
                if batch.len() >= BATCH {
                    // The workers only stop when this sender is gone: a send cannot fail before.
                    let _ = batches.send((
                        sequence,
                        std::mem::replace(&mut batch, Vec::with_capacity(BATCH)),
                    ));
                    sequence += 1;
                }
            });
            if !batch.is_empty() {
                let _ = batches.send((sequence, batch));
            }
            summary
        });
        for _ in 0..workers {
            let (to_map, mapped) = (&to_map, mapped.clone());
            scope.spawn(move || loop {
                let next = match to_map.lock() {
                    Ok(receiver) => receiver.recv(),
                    Err(_) => return,
                };
                let Ok((sequence, items)) = next else {
                    return;
                };
                let (mapped_items, counted) = finish_batch(items, options, map);
                if mapped.send((sequence, mapped_items, counted)).is_err() {
                    return;
                }
            });
        }
        drop(mapped);
        // Batches finish out of order by at most the number in flight: put them back in order, and
        // count their records in that order.
        let mut counted: Option<Summary> = None;
        let mut waiting = std::collections::BTreeMap::new();
        let mut next = 0u64;
        for (sequence, items, batch_counts) in results {
            waiting.insert(sequence, (items, batch_counts));
            while let Some((items, batch_counts)) = waiting.remove(&next) {
                match &mut counted {
                    Some(counted) => counted.absorb(batch_counts),
                    None => counted = Some(batch_counts),
                }
                items.into_iter().for_each(|item| consumer.record(0, item));
                next += 1;
            }
        }
        match reader.join() {
            Ok(summary) => consumer.done(
                0,
                summary.map(|mut summary| {
                    if let Some(counted) = counted {
                        summary.absorb(counted);
                    }
                    summary
                }),
            ),
            Err(panic) => std::panic::resume_unwind(panic),
        }
    });
}

/// On a worker: parses a batch's deferred lines, counts every record in order, and maps them.
fn finish_batch<T>(
    items: Vec<Item>,
    options: &Options,
    map: &(dyn Fn(Result<Event, Rejection>) -> Option<T> + Sync),
) -> (Vec<T>, Summary) {
    let mut counted = Summary::new(String::new(), crate::Format::Json);
    let mut mapped = Vec::with_capacity(items.len());
    let counters = options.counters.as_deref();
    for item in items {
        match item {
            Item::Record(record) => {
                counted.count(&record);
                count_progress(counters);
                mapped.extend(map(record));
            }
            Item::Deferred(line) => {
                let mut sink = |item| {
                    if let Item::Record(record) = item {
                        mapped.extend(map(record));
                    }
                };
                let mut emit = Emit::new(line.source.clone(), &mut sink, &mut counted);
                emit.counters = options.counters.clone();
                line.finish(&mut emit);
            }
        }
    }
    (mapped, counted)
}

/// Hands messages to the consumer until `inputs` inputs are done.
fn drain<T, C: Consumer<T>>(receiver: &Receiver<Message<T>>, inputs: usize, consumer: &mut C) {
    let mut done = 0;
    while done < inputs {
        // Workers hold senders until they finish; a closed channel before every Done cannot happen, but
        // if it did the loop would end rather than hang.
        let Ok(message) = receiver.recv() else {
            return;
        };
        match message {
            Message::Batch(index, items) => items
                .into_iter()
                .for_each(|item| consumer.record(index, item)),
            Message::Done(index, summary) => {
                consumer.done(index, summary);
                done += 1;
            }
        }
    }
}

/// Inputs [`read_merged`] reads at once, one thread each.
pub const MAX_MERGED: usize = 64;

/// Reads up to [`MAX_MERGED`] inputs at once, one thread each, and hands the mapped records to `consumer`
/// merged by `key` (the earliest head first; items without a key go first). Each input is taken to be in
/// `key` order already (log files are written in time order), so memory stays bounded: a few batches per
/// input. Use it when records of different inputs must meet in time order; with more inputs than
/// [`MAX_MERGED`], sort instead.
pub fn read_merged<T, K, M, C>(
    inputs: &[Input],
    options: &Options,
    map: M,
    key: impl Fn(&T) -> Option<K>,
    consumer: &mut C,
) where
    T: Send,
    K: Ord,
    M: Fn(Result<Event, Rejection>) -> Option<T> + Sync,
    C: Consumer<T>,
{
    std::thread::scope(|scope| {
        let receivers: Vec<Receiver<Message<T>>> = inputs
            .iter()
            .take(MAX_MERGED)
            .enumerate()
            .map(|(index, input)| {
                let (sender, receiver) = sync_channel(4);
                let map = &map;
                scope.spawn(move || read_one(index, input, options, &sender, map));
                receiver
            })
            .collect();
        let mut pending: Vec<std::collections::VecDeque<T>> =
            receivers.iter().map(|_| Default::default()).collect();
        let mut finished = vec![false; receivers.len()];
        loop {
            // Every input still running needs a head before the earliest can be chosen.
            for (index, receiver) in receivers.iter().enumerate() {
                while pending[index].is_empty() && !finished[index] {
                    match receiver.recv() {
                        Ok(Message::Batch(_, items)) => pending[index].extend(items),
                        Ok(Message::Done(_, summary)) => {
                            consumer.done(index, summary);
                            finished[index] = true;
                        }
                        Err(_) => finished[index] = true,
                    }
                }
            }
            let earliest = (0..pending.len())
                .filter(|&i| !pending[i].is_empty())
                .min_by(|&a, &b| {
                    match (
                        pending[a].front().and_then(&key),
                        pending[b].front().and_then(&key),
                    ) {
                        (Some(x), Some(y)) => x.cmp(&y),
                        (None, Some(_)) => std::cmp::Ordering::Less,
                        (Some(_), None) => std::cmp::Ordering::Greater,
                        (None, None) => std::cmp::Ordering::Equal,
                    }
                });
            let Some(index) = earliest else { break };
            if let Some(item) = pending[index].pop_front() {
                consumer.record(index, item);
            }
        }
    });
}

fn work<T: Send>(
    inputs: &[Input],
    options: &Options,
    next: &AtomicUsize,
    senders: &[SyncSender<Message<T>>],
    map: &(dyn Fn(Result<Event, Rejection>) -> Option<T> + Sync),
) {
    loop {
        let index = next.fetch_add(1, Ordering::Relaxed);
        let (Some(input), Some(sender)) = (inputs.get(index), senders.get(index)) else {
            return;
        };
        read_one(index, input, options, sender, map);
    }
}

/// Reads one input, sending its mapped records in batches and then its summary.
fn read_one<T: Send>(
    index: usize,
    input: &Input,
    options: &Options,
    sender: &SyncSender<Message<T>>,
    map: &(dyn Fn(Result<Event, Rejection>) -> Option<T> + Sync),
) {
    let mut batch = Vec::with_capacity(BATCH);
    let summary = read_input(input, options, &mut |record| {
        if let Some(item) = map(record) {
            batch.push(item);
            if batch.len() == BATCH {
                // The receiver outlives the readers, so a send cannot fail.
                let full = std::mem::replace(&mut batch, Vec::with_capacity(BATCH));
                let _ = sender.send(Message::Batch(index, full));
            }
        }
    });
    if !batch.is_empty() {
        let _ = sender.send(Message::Batch(index, batch));
    }
    let _ = sender.send(Message::Done(index, summary));
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    struct Seen {
        records: Vec<(usize, u64)>,
        done: Vec<usize>,
    }

    impl Consumer<u64> for Seen {
        fn record(&mut self, index: usize, line: u64) {
            self.records.push((index, line));
        }
        fn done(&mut self, index: usize, summary: Result<Summary, IngestError>) {
            assert!(summary.is_ok());
            self.done.push(index);
        }
    }

    fn inputs(dir: &std::path::Path, files: usize, lines: usize) -> Vec<Input> {
        (0..files)
            .map(|f| {
                let path = dir.join(format!("{f}.jsonl"));
                let mut out = std::fs::File::create(&path).unwrap();
                for i in 0..lines {
                    writeln!(out, "{{\"file\": {f}, \"i\": {i}}}").unwrap();
                }
                Input::File(path)
            })
            .collect()
    }

    fn line(record: Result<Event, Rejection>) -> Option<u64> {
        let event = record.ok()?;
        match event.provenance().location {
            secops_event::Location::Line(n) => Some(n),
            _ => None,
        }
    }

    #[test]
    fn merged_reading_interleaves_inputs_by_key() {
        let dir = tempfile::tempdir().unwrap();
        // three inputs whose `i` values interleave: file f holds f, f+3, f+6, ...
        let inputs: Vec<Input> = (0..3)
            .map(|f| {
                let path = dir.path().join(format!("{f}.jsonl"));
                let mut out = std::fs::File::create(&path).unwrap();
                for i in (f..3000).step_by(3) {
                    writeln!(out, "{{\"i\": {i}}}").unwrap();
                }
                Input::File(path)
            })
            .collect();
        let mut seen = Seen {
            records: Vec::new(),
            done: Vec::new(),
        };
        let value = |record: Result<Event, Rejection>| {
            record
                .ok()
                .and_then(|e| e.get("i").and_then(|v| v.as_i64()))
                .map(|i| i as u64)
        };
        read_merged(
            &inputs,
            &Options::default(),
            value,
            |i: &u64| Some(*i),
            &mut seen,
        );
        let order: Vec<u64> = seen.records.iter().map(|(_, i)| *i).collect();
        assert_eq!(
            order,
            (0..3000).collect::<Vec<_>>(),
            "merged in key order across inputs"
        );
        let mut done = seen.done.clone();
        done.sort_unstable();
        assert_eq!(done, [0, 1, 2]);
    }

    #[test]
    fn input_order_delivers_each_input_whole_in_turn() {
        let dir = tempfile::tempdir().unwrap();
        let inputs = inputs(dir.path(), 5, 2000);
        let mut seen = Seen {
            records: Vec::new(),
            done: Vec::new(),
        };
        read_all(
            &inputs,
            &Options::default(),
            Order::Input,
            2,
            line,
            &mut seen,
        );
        let expected: Vec<(usize, u64)> = (0..5)
            .flat_map(|f| (1..=2000).map(move |l| (f, l)))
            .collect();
        assert_eq!(seen.records, expected);
        assert_eq!(seen.done, [0, 1, 2, 3, 4]);
    }

    #[test]
    fn completion_order_keeps_each_input_in_order_and_loses_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let inputs = inputs(dir.path(), 5, 3000);
        let mut seen = Seen {
            records: Vec::new(),
            done: Vec::new(),
        };
        read_all(
            &inputs,
            &Options::default(),
            Order::Completion,
            2,
            line,
            &mut seen,
        );
        assert_eq!(seen.records.len(), 15_000);
        for f in 0..5 {
            let lines: Vec<u64> = seen
                .records
                .iter()
                .filter(|(i, _)| *i == f)
                .map(|(_, l)| *l)
                .collect();
            assert_eq!(lines, (1..=3000).collect::<Vec<_>>(), "input {f}");
        }
        let mut done = seen.done.clone();
        done.sort_unstable();
        assert_eq!(done, [0, 1, 2, 3, 4]);
    }
}
