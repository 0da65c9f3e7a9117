//! Reading many inputs in parallel while handing results to the caller in input order.
//!
//! Worker tasks on the rayon pool take inputs in order, turn each record into a `T` (formatting, counting,
//! later detection: the expensive part, done in parallel) and send batches through a small bounded channel
//! per input. The calling thread drains the channels in input order, so output is deterministic and at most
//! a few batches per worker are buffered. A single input is read on the calling thread, which lets the EVTX
//! reader use its own chunk-level threads.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};

use secops_event::Event;

use crate::{read_input, IngestError, Input, Options, Rejection, Summary};

const BATCH: usize = 512;

enum Message<T> {
    Batch(Vec<T>),
    Done(Result<Summary, IngestError>),
}

/// What the caller receives, in input order.
pub trait Consumer<T> {
    /// One mapped record of input `index`.
    fn record(&mut self, index: usize, item: T);
    /// Input `index` is finished (or could not be read).
    fn done(&mut self, index: usize, summary: Result<Summary, IngestError>);
}

/// Reads `inputs` with `threads` workers (0: the rayon pool's size), mapping each record with `map` on the
/// workers and handing the results to `consumer` on this thread, in input order.
pub fn read_all<T, M, C>(
    inputs: &[Input],
    options: &Options,
    threads: usize,
    map: M,
    consumer: &mut C,
) where
    T: Send,
    M: Fn(Result<Event, Rejection>) -> Option<T> + Sync,
    C: Consumer<T>,
{
    if inputs.len() == 1 {
        let summary = read_input(&inputs[0], options, &mut |record| {
            if let Some(item) = map(record) {
                consumer.record(0, item);
            }
        });
        consumer.done(0, summary);
        return;
    }
    let workers = if threads == 0 {
        rayon::current_num_threads()
    } else {
        threads
    }
    .clamp(1, inputs.len().max(1));
    let (senders, receivers): (Vec<_>, Vec<Receiver<Message<T>>>) =
        inputs.iter().map(|_| sync_channel(4)).unzip();
    let next = AtomicUsize::new(0);
    rayon::in_place_scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|_| work(inputs, options, &next, &senders, &map));
        }
        for (index, receiver) in receivers.iter().enumerate() {
            // A closed channel without Done means the worker died; report rather than hang or lose it.
            let mut finished = false;
            for message in receiver.iter() {
                match message {
                    Message::Batch(items) => items
                        .into_iter()
                        .for_each(|item| consumer.record(index, item)),
                    Message::Done(summary) => {
                        consumer.done(index, summary);
                        finished = true;
                        break;
                    }
                }
            }
            if !finished {
                consumer.done(
                    index,
                    Err(IngestError::Io {
                        path: inputs[index].name().into(),
                        source: std::io::Error::other("the reader stopped unexpectedly"),
                    }),
                );
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
        let mut batch = Vec::with_capacity(BATCH);
        let summary = read_input(input, options, &mut |record| {
            if let Some(item) = map(record) {
                batch.push(item);
                if batch.len() == BATCH {
                    // The receiver lives until every input is drained; a send error cannot happen first.
                    let _ = sender.send(Message::Batch(std::mem::replace(
                        &mut batch,
                        Vec::with_capacity(BATCH),
                    )));
                }
            }
        });
        if !batch.is_empty() {
            let _ = sender.send(Message::Batch(batch));
        }
        let _ = sender.send(Message::Done(summary));
    }
}
