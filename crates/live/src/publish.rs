//! `secops run` with `[bus]`: what the inputs read goes to the bus instead of to rules here. Each
//! event is numbered in its input (the numbers are saved with the inputs' positions, so events read
//! again after a restart get the same ones), assigned to the partition of its key field, and framed;
//! a partition's frame goes out when it is full, and every partition's at each commit (an idle
//! partition's frame carries only marks: see `secops_bus::frame`). A commit saves the inputs'
//! positions once everything before them is stored on the bus.
//!
//! One subject per partition for this process (`<prefix>.events.<partition>.<name>`), published in
//! order with the subject's expected last sequence. On start, and after any failure, each subject's
//! last frame says what it already holds: events up to its marks are not published again.

use std::time::Duration;

use bytes::Bytes;
use secops_bus::{Bus, BusError, Chain, Frame, Framed, Mark, Subject};
use secops_detect::partition_of;
use secops_event::Event;
use serde::{Deserialize, Serialize};

use crate::config::BusConfig;
use crate::log;

/// What the checkpoint keeps of the publisher: the inputs' epoch and next numbers.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Numbering {
    pub epoch: i64,
    /// Per input name, the number its next event gets.
    pub next: Vec<(String, u64)>,
}

/// Counts since start.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PublishCounts {
    pub events: u64,
    pub frames: u64,
    /// Frame bytes sent (compressed).
    pub bytes: u64,
    /// Events the bus already held (read again after a restart).
    pub held: u64,
    /// Publishes that failed and were tried again.
    pub retries: u64,
}

impl PublishCounts {
    /// Copies the counts into the process's bus metrics.
    pub fn report(&self, metrics: &crate::metrics::BusMetrics) {
        use std::sync::atomic::Ordering::Relaxed;
        metrics.frames_out.store(self.frames, Relaxed);
        metrics.bytes_out.store(self.bytes, Relaxed);
        metrics.held.store(self.held, Relaxed);
        metrics.retries.store(self.retries, Relaxed);
    }
}

/// One partition's subject as this process writes it.
#[derive(Debug, Default)]
struct Partition {
    subject: String,
    /// The subject's last sequence (0: empty).
    last: u64,
    /// Per input id, through which number the subject holds its events.
    held: Vec<(String, u64)>,
    /// Events waiting for the next frame.
    events: Vec<Framed>,
    /// The marks of the last frame sent.
    sent: Vec<u64>,
}

/// The ingest side of the bus (see the module's documentation).
pub struct Publisher {
    bus: Bus,
    name: String,
    key: String,
    frame_events: usize,
    numbering: Numbering,
    /// Input ids (`<name>/<input>@<epoch>`), in the order of `numbering.next`.
    ids: Vec<String>,
    partitions: Vec<Partition>,
    pub counts: PublishCounts,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl std::fmt::Debug for Publisher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Publisher")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl Publisher {
    /// Connects, numbers the inputs from the checkpoint's numbering (without one, the numbering the
    /// bus holds for this process; with `reset` or on a first run, a new epoch), and reads what each
    /// subject already holds.
    pub fn start(
        config: &BusConfig,
        name: &str,
        inputs: &[String],
        saved: Option<Numbering>,
        reset: bool,
        stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    ) -> Result<Publisher, BusError> {
        let bus = Bus::connect(&config.settings(), &format!("secops run {name}"))?;
        let fresh = saved.is_none();
        let mut numbering = saved.unwrap_or_else(|| Numbering {
            epoch: secops_event::Timestamp::now().unix_nanos(),
            next: Vec::new(),
        });
        if fresh && !reset {
            // No checkpoint (killed before its first, or never run): the numbering the bus holds
            // for this process goes on, so that what it published is not published again.
            let mut found: Option<i64> = None;
            for p in 0..config.partitions {
                if let Some(last) = bus.last(Subject::Events, &bus.events_subject(p, name))? {
                    for mark in last.frame.marks {
                        let epoch = mark
                            .input
                            .strip_prefix(&format!("{name}/"))
                            .and_then(|rest| rest.rsplit_once('@'))
                            .and_then(|(_, epoch)| epoch.parse::<i64>().ok());
                        if let Some(epoch) = epoch {
                            found = Some(found.map_or(epoch, |f| f.max(epoch)));
                        }
                    }
                }
            }
            if let Some(epoch) = found {
                numbering.epoch = epoch;
            }
        }
        // Inputs keep their numbers by name; a new one starts at 1.
        numbering.next = inputs
            .iter()
            .map(|input| {
                let next = numbering
                    .next
                    .iter()
                    .find(|(n, _)| n == input)
                    .map_or(1, |(_, next)| *next);
                (input.clone(), next)
            })
            .collect();
        let ids = inputs
            .iter()
            .map(|input| format!("{name}/{input}@{}", numbering.epoch))
            .collect();
        let partitions = (0..config.partitions)
            .map(|p| Partition {
                subject: bus.events_subject(p, name),
                sent: vec![0; inputs.len()],
                ..Partition::default()
            })
            .collect();
        let mut publisher = Publisher {
            bus,
            name: name.to_string(),
            key: config.key.clone(),
            frame_events: config.frame_events.max(1),
            numbering,
            ids,
            partitions,
            counts: PublishCounts::default(),
            stop,
        };
        for p in 0..publisher.partitions.len() {
            publisher.resync(p)?;
        }
        Ok(publisher)
    }

    /// The numbering to save with the inputs' positions (valid once [`Publisher::flush`] succeeded).
    pub fn numbering(&self) -> &Numbering {
        &self.numbering
    }

    /// Numbers and frames events of input `input` (an index into the names given at start); full
    /// frames go out before this returns.
    pub fn add(&mut self, input: usize, events: Vec<(Event, i64)>) {
        let Some((_, next)) = self.numbering.next.get_mut(input) else {
            return;
        };
        let count = self.partitions.len() as u32;
        let index = u16::try_from(input).unwrap_or(u16::MAX);
        let mut full = Vec::new();
        for (event, received) in events {
            let seq = *next;
            *next += 1;
            let p = partition_of(event.get(&self.key), count) as usize;
            let Some(partition) = self.partitions.get_mut(p) else {
                continue;
            };
            let held = partition
                .held
                .iter()
                .find(|(id, _)| id == &self.ids[input])
                .map_or(0, |(_, through)| *through);
            if seq <= held {
                self.counts.held += 1;
                continue;
            }
            partition.events.push(Framed {
                input: index,
                seq,
                received,
                event,
                selected: Vec::new(),
                excepted: Vec::new(),
                rules: Vec::new(),
            });
            if partition.events.len() >= self.frame_events && !full.contains(&p) {
                full.push(p);
            }
        }
        if !full.is_empty() {
            self.send(&full);
        }
    }

    /// Sends every partition's waiting events, and marks where they moved; returns once the bus has
    /// stored them all (trying again while it fails, unless the run is stopping: then `false`).
    pub fn flush(&mut self) -> bool {
        let marks = self.marks();
        let due: Vec<usize> = (0..self.partitions.len())
            .filter(|&p| {
                let partition = &self.partitions[p];
                !partition.events.is_empty()
                    || partition
                        .sent
                        .iter()
                        .zip(&marks)
                        .any(|(sent, mark)| sent != &mark.through)
            })
            .collect();
        self.send(&due)
    }

    /// Every input's mark: the last number given.
    fn marks(&self) -> Vec<Mark> {
        self.ids
            .iter()
            .zip(&self.numbering.next)
            .map(|(id, (_, next))| Mark {
                input: id.clone(),
                through: next.saturating_sub(1),
            })
            .collect()
    }

    /// Sends the waiting events of `due` partitions, in frames of at most `frame_events`; tries
    /// again (after reading what the subject holds) until stored or stopping.
    fn send(&mut self, due: &[usize]) -> bool {
        let mut delay = Duration::from_millis(50);
        let mut attempts = 0;
        let mut due = due.to_vec();
        loop {
            let marks = self.marks();
            let mut chains = Vec::new();
            let mut framed = Vec::new();
            for &p in &due {
                let partition = &self.partitions[p];
                let mut frames = Vec::new();
                let mut sizes = Vec::new();
                let chunks: Vec<&[Framed]> = if partition.events.is_empty() {
                    vec![&[]]
                } else {
                    partition.events.chunks(self.frame_events).collect()
                };
                let count = chunks.len();
                for (i, chunk) in chunks.into_iter().enumerate() {
                    // A frame followed by others of the same partition is complete only up to the
                    // first event of each input they hold.
                    let mut chunk_marks = marks.clone();
                    if i + 1 < count {
                        let later = &partition.events[(i + 1) * self.frame_events..];
                        for (j, mark) in chunk_marks.iter_mut().enumerate() {
                            if let Some(first) = later.iter().find(|f| usize::from(f.input) == j) {
                                mark.through = mark.through.min(first.seq.saturating_sub(1));
                            }
                        }
                    }
                    let frame = Frame {
                        marks: chunk_marks.clone(),
                        source: None,
                        events: chunk.to_vec(),
                    };
                    match frame.encode() {
                        Ok(bytes) => {
                            let id = message_id(&self.name, p, &chunk_marks, chunk);
                            sizes.push((chunk.len(), bytes.len()));
                            frames.push((id, Bytes::from(bytes)));
                        }
                        Err(e) => log::line("error", &self.name, "bus", &e.to_string(), 0),
                    }
                }
                chains.push(Chain {
                    subject: partition.subject.clone(),
                    expected: partition.last,
                    frames,
                });
                framed.push((p, sizes));
            }
            let results = self.bus.publish(chains);
            let mut failed = Vec::new();
            for ((p, sizes), result) in framed.into_iter().zip(results) {
                let stored = result.sequences.len();
                if let Some(&last) = result.sequences.last() {
                    self.partitions[p].last = last;
                }
                let mut sent_events = 0;
                for (events, bytes) in sizes.iter().take(stored) {
                    sent_events += events;
                    self.counts.events += *events as u64;
                    self.counts.frames += 1;
                    self.counts.bytes += *bytes as u64;
                }
                let partition = &mut self.partitions[p];
                partition
                    .events
                    .drain(..sent_events.min(partition.events.len()));
                if let Some(error) = result.error {
                    failed.push((p, error));
                } else {
                    partition.sent = marks.iter().map(|m| m.through).collect();
                    partition.held = marks.iter().map(|m| (m.input.clone(), m.through)).collect();
                }
            }
            if failed.is_empty() {
                return true;
            }
            for (p, error) in &failed {
                self.counts.retries += 1;
                log::line(
                    "warning",
                    &self.name,
                    "bus",
                    &format!("partition {p}: {error} (tried again)"),
                    0,
                );
            }
            attempts += 1;
            if self.stop.load(std::sync::atomic::Ordering::SeqCst) && attempts >= 5 {
                // Stopping: the checkpoint stays where it was, and a restart sends these again.
                return false;
            }
            std::thread::sleep(delay);
            delay = (delay * 2).min(Duration::from_secs(2));
            due.clear();
            for (p, _) in failed {
                if let Err(e) = self.resync(p) {
                    log::line("warning", &self.name, "bus", &e.to_string(), 0);
                }
                due.push(p);
            }
        }
    }

    /// Reads what partition `p`'s subject holds: its last sequence and marks; waiting events it
    /// already holds are dropped.
    fn resync(&mut self, p: usize) -> Result<(), BusError> {
        let last = self
            .bus
            .last(Subject::Events, &self.partitions[p].subject)?;
        let partition = &mut self.partitions[p];
        match last {
            Some(last) => {
                partition.last = last.sequence;
                partition.held = last
                    .frame
                    .marks
                    .iter()
                    .map(|m| (m.input.clone(), m.through))
                    .collect();
            }
            None => {
                partition.last = 0;
                partition.held.clear();
            }
        }
        // Marks the subject holds need not be sent again.
        partition.sent = self
            .ids
            .iter()
            .map(|id| {
                partition
                    .held
                    .iter()
                    .find(|(i, _)| i == id)
                    .map_or(0, |(_, through)| *through)
            })
            .collect();
        let (ids, held) = (&self.ids, &partition.held);
        let before = partition.events.len();
        partition.events.retain(|f| {
            let id = &ids[usize::from(f.input)];
            held.iter()
                .find(|(i, _)| i == id)
                .is_none_or(|(_, through)| f.seq > *through)
        });
        self.counts.held += (before - partition.events.len()) as u64;
        Ok(())
    }

    /// Events waiting for their frame to go out.
    pub fn waiting(&self) -> usize {
        self.partitions.iter().map(|p| p.events.len()).sum()
    }
}

/// A frame's message id: the writer, partition, marks and events (the same frame sent twice has the
/// same id, so the stream's duplicate window drops the second).
fn message_id(name: &str, partition: usize, marks: &[Mark], events: &[Framed]) -> String {
    let mut hash = secops_alert::Fnv::new();
    for mark in marks {
        hash.write(mark.input.as_bytes());
        hash.write(&mark.through.to_le_bytes());
    }
    let hash = hash.finish();
    match (events.first(), events.last()) {
        (Some(first), Some(last)) => format!(
            "{name}.{partition}.{}.{}-{}.{hash:016x}",
            first.input, first.seq, last.seq
        ),
        _ => format!("{name}.{partition}.marks.{hash:016x}"),
    }
}
