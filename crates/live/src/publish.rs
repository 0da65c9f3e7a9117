//! `secops run` with `[bus]`: the rules' selection runs here, once, as in one process (entities
//! resolved as one process resolves them), and each event some rule selects goes straight to where
//! its rules run: the events partition of its key field (the rules whose every group lies within one
//! partition) and the re-key partition of each other rule's own key, with the selections (see
//! `secops_detect::Placement`). Events no rule selects are not published (the lake, when there is one,
//! still gets every event). Each event is numbered in its input (the numbers are saved with the
//! inputs' positions, so events read again after a restart get the same ones); a subject's frame goes
//! out when it is full, and every subject's waiting events at each commit. A commit saves the inputs'
//! positions, the numbering and what the resolver learned once everything before them is stored on
//! the bus.
//!
//! One subject per partition for this process (`<prefix>.events.<partition>.<name>` and, when some
//! rule is re-keyed, `<prefix>.rekey.<partition>.<name>`), published in order with the subject's
//! expected last sequence. On start, and after any failure, each subject's last frame says what it
//! already holds: events up to its marks are not published again.

use std::cell::Cell;
use std::time::Duration;

use bytes::Bytes;
use secops_bus::{
    event_bytes, shared, Bus, BusError, Chain, Encoded, Frame, Indices, Mark, Subject,
};
use secops_detect::{partition_of, Placement, RekeyKey};
use secops_event::Event;
use secops_service::live::{Route, Session};
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
    /// Events stored on the events partitions, and on the re-key partitions (an event selected by
    /// rules of both kinds, or by re-keyed rules of several partitions, is counted on each).
    pub published: u64,
    pub rekeyed: u64,
    pub frames: u64,
    /// Frame bytes sent (compressed).
    pub bytes: u64,
    /// Events the bus already held (read again after a restart).
    pub held: u64,
    /// Publishes that failed and were tried again.
    pub retries: u64,
    /// Events framed and not yet published (as of the last add or flush).
    pub waiting: u64,
}

impl PublishCounts {
    /// Copies the counts into the process's bus metrics.
    pub fn report(&self, metrics: &crate::metrics::BusMetrics) {
        use std::sync::atomic::Ordering::Relaxed;
        metrics.frames_out.store(self.frames, Relaxed);
        metrics.bytes_out.store(self.bytes, Relaxed);
        metrics.published.store(self.published, Relaxed);
        metrics.forwarded.store(self.rekeyed, Relaxed);
        metrics.waiting.store(self.waiting, Relaxed);
        metrics.held.store(self.held, Relaxed);
        metrics.retries.store(self.retries, Relaxed);
    }
}

/// Where each rule runs when events are partitioned by the bus's key field.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Per engine index: the key of a re-keyed rule (none: it runs in the events units).
    pub keys: Vec<Option<RekeyKey>>,
    /// The rule set's digest: workers run a frame's selections only under the same.
    pub digest: u64,
    /// Per engine index, the rule's name (for the log).
    pub names: Vec<String>,
    /// Per engine index, `false`: no rule runs where ingest is.
    none: Vec<bool>,
}

impl Plan {
    /// The plan of the rules `session` loaded, for events partitioned by `key`.
    pub fn of(session: &Session, key: &str) -> Plan {
        let keys: Vec<Option<RekeyKey>> = session
            .placements(key)
            .into_iter()
            .map(|p| match p {
                Placement::Local => None,
                Placement::Rekey(key) => Some(key),
            })
            .collect();
        Plan {
            none: vec![false; keys.len()],
            keys,
            digest: session.rules_digest(),
            names: session.rule_names(),
        }
    }

    /// Whether some rule is re-keyed (there are re-key units).
    pub fn rekeys(&self) -> bool {
        self.keys.iter().any(Option::is_some)
    }

    /// Logs each re-keyed rule and its key, and the counts.
    pub fn log(&self, who: &str, partitions: u32, key: &str) {
        for (rule, rekey) in self.names.iter().zip(&self.keys) {
            if let Some(rekey) = rekey {
                log::info(
                    who,
                    &format!("rule {rule}: re-keyed by {}", describe(rekey)),
                );
            }
        }
        let rekeyed = self.keys.iter().filter(|k| k.is_some()).count();
        log::info(
            who,
            &format!(
                "{} rules run where the events are, {rekeyed} re-keyed; {partitions} partitions by \
                 {key}",
                self.keys.len() - rekeyed
            ),
        );
    }
}

/// A re-key key as the log says it.
fn describe(key: &RekeyKey) -> String {
    match key {
        RekeyKey::Fields(fields) => fields.join(", "),
        RekeyKey::Entity(aggregation) => format!(
            "its aggregation entity ({})",
            aggregation
                .by
                .iter()
                .map(|slot| slot.join(" or "))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        RekeyKey::Constant => "nothing (one partition sees all its events)".into(),
    }
}

/// One subject as this process writes it.
#[derive(Debug)]
struct Partition {
    stream: Subject,
    subject: String,
    /// The subject's last sequence (0: empty).
    last: u64,
    /// Per input (as `ids`), through which number the subject holds its events.
    held: Vec<u64>,
    /// Events waiting for the next frame.
    events: Vec<Encoded>,
    /// The rules of the last event framed here (shared with the next that has the same).
    recent_rules: Indices,
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
    /// The events partitions' subjects, then (when some rule is re-keyed) the re-key partitions'.
    subjects: Vec<Partition>,
    partitions: u32,
    plan: Plan,
    pub counts: PublishCounts,
    /// Nanoseconds spent framing and publishing (the bus's own work).
    pub send_nanos: u64,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    /// Scratch: (subject, rule) pairs of one event, and an event's encoding.
    scratch: Vec<(u32, u32)>,
    buffer: Vec<u8>,
    rule_scratch: Vec<u32>,
    /// The last event's selections (shared with the next that has the same).
    recent: (Indices, Indices),
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
    /// subject already holds. `plan` says where the rules run.
    pub fn start(
        config: &BusConfig,
        name: &str,
        inputs: &[String],
        plan: Plan,
        saved: Option<Numbering>,
        reset: bool,
        stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    ) -> Result<Publisher, BusError> {
        let bus = Bus::connect(&config.settings(), &format!("secops run {name}"))?;
        let partitions = config.partitions.max(1);
        let mut subjects: Vec<(Subject, String)> = (0..partitions)
            .map(|p| (Subject::Events, bus.events_subject(p, name)))
            .collect();
        if plan.rekeys() {
            subjects.extend((0..partitions).map(|q| (Subject::Rekey, bus.rekey_subject(q, name))));
        }
        let fresh = saved.is_none();
        let mut numbering = saved.unwrap_or_else(|| Numbering {
            epoch: secops_event::Timestamp::now().unix_nanos(),
            next: Vec::new(),
        });
        if fresh && !reset {
            // No checkpoint (killed before its first, or never run): the numbering the bus holds
            // for this process goes on, so that what it published is not published again.
            let mut found: Option<i64> = None;
            for (stream, subject) in &subjects {
                if let Some(last) = bus.last(*stream, subject)? {
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
        let subjects = subjects
            .into_iter()
            .map(|(stream, subject)| Partition {
                stream,
                subject,
                last: 0,
                held: vec![0; inputs.len()],
                events: Vec::new(),
                recent_rules: Indices::from([]),
            })
            .collect();
        let mut publisher = Publisher {
            bus,
            name: name.to_string(),
            key: config.key.clone(),
            frame_events: config.frame_events.max(1),
            numbering,
            ids,
            subjects,
            partitions,
            plan,
            counts: PublishCounts::default(),
            send_nanos: 0,
            stop,
            scratch: Vec::new(),
            buffer: Vec::new(),
            rule_scratch: Vec::new(),
            recent: (Indices::from([]), Indices::from([])),
        };
        for s in 0..publisher.subjects.len() {
            publisher.resync(s)?;
        }
        Ok(publisher)
    }

    /// The numbering to save with the inputs' positions (valid once [`Publisher::flush`] succeeded).
    pub fn numbering(&self) -> &Numbering {
        &self.numbering
    }

    /// Numbers the events of input `input` (an index into the names given at start), runs the
    /// rules' selection over them in `session` (no rule runs here) and frames what they select for
    /// the subjects of their rules; full frames go out before this returns.
    pub fn add(&mut self, session: &mut Session, input: usize, events: Vec<(Event, i64)>) {
        let Some((_, next)) = self.numbering.next.get_mut(input) else {
            return;
        };
        let current = Cell::new(0u64);
        let mut router = Router {
            input: u16::try_from(input).unwrap_or(u16::MAX),
            current: &current,
            subjects: &mut self.subjects,
            plan: &self.plan,
            key: &self.key,
            partitions: self.partitions,
            frame_events: self.frame_events,
            scratch: &mut self.scratch,
            buffer: &mut self.buffer,
            rule_scratch: &mut self.rule_scratch,
            recent: &mut self.recent,
            held: &mut self.counts.held,
            full: Vec::new(),
        };
        let numbered = events.into_iter().inspect(|_| {
            current.set(*next);
            *next += 1;
        });
        session.feed_routed(numbered, Some(&mut router));
        let full = router.full;
        if !full.is_empty() {
            self.send(&full);
        }
        self.counts.waiting = self.waiting() as u64;
    }

    /// Sends every subject's waiting events; returns once the bus has stored them all (trying again
    /// while it fails, unless the run is stopping: then `false`). A subject with nothing waiting gets
    /// no frame: no unit waits on marks, and a subject's last frame says enough of what it holds
    /// (every event of an input up to the frame's marks that belongs there).
    pub fn flush(&mut self) -> bool {
        let due: Vec<usize> = (0..self.subjects.len())
            .filter(|&s| !self.subjects[s].events.is_empty())
            .collect();
        if due.is_empty() {
            return true;
        }
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

    /// Sends the waiting events of `due` subjects, in frames of at most `frame_events`; tries again
    /// (after reading what the subject holds) until stored or stopping.
    fn send(&mut self, due: &[usize]) -> bool {
        let started = std::time::Instant::now();
        let stored = self.send_all(due);
        self.send_nanos += started.elapsed().as_nanos() as u64;
        self.counts.waiting = self.waiting() as u64;
        stored
    }

    fn send_all(&mut self, due: &[usize]) -> bool {
        let mut delay = Duration::from_millis(50);
        let mut attempts = 0;
        let mut due = due.to_vec();
        loop {
            let marks = self.marks();
            let mut chains = Vec::new();
            let mut framed = Vec::new();
            for &s in &due {
                let subject = &self.subjects[s];
                let mut frames = Vec::new();
                let mut sizes = Vec::new();
                let chunks: Vec<&[Encoded]> = subject.events.chunks(self.frame_events).collect();
                let count = chunks.len();
                for (i, chunk) in chunks.into_iter().enumerate() {
                    // A frame followed by others of the same subject is complete only up to the
                    // first event of each input they hold.
                    let mut chunk_marks = marks.clone();
                    if i + 1 < count {
                        let later = &subject.events[(i + 1) * self.frame_events..];
                        for (j, mark) in chunk_marks.iter_mut().enumerate() {
                            if let Some(first) = later.iter().find(|f| usize::from(f.input) == j) {
                                mark.through = mark.through.min(first.seq.saturating_sub(1));
                            }
                        }
                    }
                    match Frame::encode_parts(&chunk_marks, self.plan.digest, chunk) {
                        Ok(bytes) => {
                            let id = message_id(&subject.subject, &chunk_marks, chunk);
                            sizes.push((chunk.len(), bytes.len()));
                            frames.push((id, Bytes::from(bytes)));
                        }
                        Err(e) => log::line("error", &self.name, "bus", &e.to_string(), 0),
                    }
                }
                chains.push(Chain {
                    subject: subject.subject.clone(),
                    expected: subject.last,
                    frames,
                });
                framed.push((s, sizes));
            }
            let results = self.bus.publish(chains);
            let mut failed = Vec::new();
            for ((s, sizes), result) in framed.into_iter().zip(results) {
                let stored = result.sequences.len();
                let subject = &mut self.subjects[s];
                if let Some(&last) = result.sequences.last() {
                    subject.last = last;
                }
                let mut sent_events = 0;
                for (events, bytes) in sizes.iter().take(stored) {
                    sent_events += events;
                    match subject.stream {
                        Subject::Events => self.counts.published += *events as u64,
                        Subject::Rekey => self.counts.rekeyed += *events as u64,
                    }
                    self.counts.frames += 1;
                    self.counts.bytes += *bytes as u64;
                }
                subject
                    .events
                    .drain(..sent_events.min(subject.events.len()));
                match result.error {
                    Some(error) => failed.push((s, error)),
                    None => subject.held = marks.iter().map(|m| m.through).collect(),
                }
            }
            if failed.is_empty() {
                return true;
            }
            for (s, error) in &failed {
                self.counts.retries += 1;
                log::line(
                    "warning",
                    &self.name,
                    "bus",
                    &format!("{}: {error} (tried again)", self.subjects[*s].subject),
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
            for (s, _) in failed {
                if let Err(e) = self.resync(s) {
                    log::line("warning", &self.name, "bus", &e.to_string(), 0);
                }
                due.push(s);
            }
        }
    }

    /// Reads what subject `s` holds: its last sequence and marks; waiting events it already holds
    /// are dropped.
    fn resync(&mut self, s: usize) -> Result<(), BusError> {
        let last = {
            let subject = &self.subjects[s];
            self.bus.last(subject.stream, &subject.subject)?
        };
        let subject = &mut self.subjects[s];
        subject.held = vec![0; self.ids.len()];
        subject.last = 0;
        if let Some(last) = last {
            subject.last = last.sequence;
            for mark in &last.frame.marks {
                if let Some(i) = self.ids.iter().position(|id| id == &mark.input) {
                    subject.held[i] = mark.through;
                }
            }
        }
        let held = &subject.held;
        let before = subject.events.len();
        subject
            .events
            .retain(|f| held.get(usize::from(f.input)).is_none_or(|h| f.seq > *h));
        self.counts.held += (before - subject.events.len()) as u64;
        Ok(())
    }

    /// Events waiting for their frame to go out.
    pub fn waiting(&self) -> usize {
        self.subjects.iter().map(|s| s.events.len()).sum()
    }
}

/// Frames the events the selection hands on for the subjects of their rules.
struct Router<'a> {
    input: u16,
    /// The number of the event being selected.
    current: &'a Cell<u64>,
    subjects: &'a mut [Partition],
    plan: &'a Plan,
    key: &'a str,
    partitions: u32,
    frame_events: usize,
    scratch: &'a mut Vec<(u32, u32)>,
    /// Scratch for encoding an event.
    buffer: &'a mut Vec<u8>,
    rule_scratch: &'a mut Vec<u32>,
    recent: &'a mut (Indices, Indices),
    held: &'a mut u64,
    /// Subjects whose waiting events fill a frame.
    full: Vec<usize>,
}

impl Route for Router<'_> {
    fn active(&self) -> &[bool] {
        &self.plan.none
    }

    fn forward(&mut self, event: Event, received: i64, selected: &[u32], excepted: &[u32]) {
        let seq = self.current.get();
        self.scratch.clear();
        let mut local = None;
        for &rule in selected.iter().chain(excepted) {
            let subject = match self.plan.keys.get(rule as usize) {
                Some(Some(key)) => {
                    self.partitions + (key.hash(&event) % u64::from(self.partitions)) as u32
                }
                Some(None) => {
                    *local.get_or_insert_with(|| partition_of(event.get(self.key), self.partitions))
                }
                None => continue,
            };
            self.scratch.push((subject, rule));
        }
        self.scratch.sort_unstable();
        self.scratch.dedup();
        // Encoded once, whatever the subjects it goes to.
        let mut body = None;
        let mut selections = None;
        let mut start = 0;
        while start < self.scratch.len() {
            let s = self.scratch[start].0;
            let end = self.scratch[start..]
                .iter()
                .position(|(other, _)| *other != s)
                .map_or(self.scratch.len(), |n| start + n);
            self.rule_scratch.clear();
            self.rule_scratch
                .extend(self.scratch[start..end].iter().map(|(_, r)| *r));
            start = end;
            let Some(subject) = self.subjects.get_mut(s as usize) else {
                continue;
            };
            if subject
                .held
                .get(usize::from(self.input))
                .is_some_and(|held| seq <= *held)
            {
                // Read again after a restart: the subject holds it.
                *self.held += 1;
                continue;
            }
            let body = body
                .get_or_insert_with(|| event_bytes(&event, self.buffer))
                .clone();
            let (selected, excepted) = selections
                .get_or_insert_with(|| {
                    (
                        shared(&mut self.recent.0, selected),
                        shared(&mut self.recent.1, excepted),
                    )
                })
                .clone();
            subject.events.push(Encoded {
                input: self.input,
                seq,
                received,
                body,
                selected,
                excepted,
                rules: shared(&mut subject.recent_rules, self.rule_scratch),
            });
            if subject.events.len() >= self.frame_events && !self.full.contains(&(s as usize)) {
                self.full.push(s as usize);
            }
        }
    }
}

/// A frame's message id: the subject, marks and events (the same frame sent twice has the same id,
/// so the stream's duplicate window drops the second).
fn message_id(subject: &str, marks: &[Mark], events: &[Encoded]) -> String {
    let mut hash = secops_alert::Fnv::new();
    for mark in marks {
        hash.write(mark.input.as_bytes());
        hash.write(&mark.through.to_le_bytes());
    }
    let hash = hash.finish();
    match (events.first(), events.last()) {
        (Some(first), Some(last)) => format!(
            "{subject}.{}.{}-{}.{hash:016x}",
            first.input, first.seq, last.seq
        ),
        _ => format!("{subject}.marks.{hash:016x}"),
    }
}
