//! Selected events of more inputs than the pipeline reads at once, put in time order in bounded memory:
//! they are kept until [`RUN`] have gathered, then sorted and written to a temporary file as one run;
//! at the end the runs are merged (at most [`MAX_RUNS`] at a time, merging runs into longer runs first
//! when there are more). Equal times keep the order the events arrived in, as one stable sort of them
//! all would.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Seek, SeekFrom, Write};

use secops_event::codec::{encode, Decoder};
use secops_event::{Event, Timestamp};

/// Events kept in memory before a run is written.
pub const RUN: usize = 4_096;

/// Runs merged at once (one read buffer each).
pub const MAX_RUNS: usize = 64;

/// An event some rule selected, with the rules that selected it (none: evidence for entity
/// resolution alone).
#[derive(Debug, Clone)]
pub(crate) struct Hit {
    pub event: Event,
    pub rules: Vec<u32>,
    /// Evidence for entity resolution (known on the readers' threads; recomputed when read back
    /// from disk).
    pub evidence: bool,
}

#[derive(Debug)]
pub(crate) struct Sorter {
    buffer: Vec<Hit>,
    runs: Vec<File>,
    run: usize,
    max_runs: usize,
    /// Why events stayed in memory instead of going to disk.
    problem: Option<String>,
}

impl Default for Sorter {
    fn default() -> Self {
        Sorter::new(RUN, MAX_RUNS)
    }
}

impl Sorter {
    fn new(run: usize, max_runs: usize) -> Self {
        Sorter {
            buffer: Vec::new(),
            runs: Vec::new(),
            run: run.max(1),
            max_runs: max_runs.max(2),
            problem: None,
        }
    }

    pub fn push(&mut self, hit: Hit) {
        self.buffer.push(hit);
        if self.buffer.len() >= self.run && self.problem.is_none() {
            let mut hits = std::mem::take(&mut self.buffer);
            hits.sort_by_key(|h| h.event.timestamp());
            match write_run(hits.iter()) {
                Ok(file) => self.runs.push(file),
                Err(e) => {
                    self.problem = Some(format!(
                        "sorting selected events on disk failed ({e}): they are kept in memory"
                    ));
                    self.buffer = hits;
                }
            }
        }
    }

    /// Hands every event to `feed` in time order; returns what went wrong, if anything did.
    pub fn drain(mut self, feed: &mut dyn FnMut(&Hit)) -> Option<String> {
        self.buffer.sort_by_key(|h| h.event.timestamp());
        if self.runs.is_empty() {
            self.buffer.iter().for_each(&mut *feed);
            return self.problem;
        }
        // More runs than one merge takes: merge the earliest into one longer run, and again.
        while self.runs.len() + 1 > self.max_runs {
            let group: Vec<File> = self.runs.drain(..self.max_runs).collect();
            match merge_to_file(group) {
                Ok(file) => self.runs.insert(0, file),
                Err(e) => {
                    return Some(format!(
                        "merging sorted runs of selected events failed: {e}"
                    ))
                }
            }
        }
        match merge(std::mem::take(&mut self.runs), self.buffer, feed) {
            Ok(()) => self.problem,
            Err(e) => Some(format!(
                "reading sorted runs of selected events back failed: {e}"
            )),
        }
    }
}

fn merge_to_file(runs: Vec<File>) -> std::io::Result<File> {
    let mut out = BufWriter::new(tempfile::tempfile()?);
    let mut failed = None;
    merge(runs, Vec::new(), &mut |hit| {
        if failed.is_none() {
            if let Err(e) = write_record(&mut out, &encode_hit(hit)) {
                failed = Some(e);
            }
        }
    })?;
    if let Some(e) = failed {
        return Err(e);
    }
    rewind(out)
}

fn write_record(out: &mut impl Write, record: &[u8]) -> std::io::Result<()> {
    out.write_all(&(record.len() as u32).to_le_bytes())?;
    out.write_all(record)
}

fn rewind(out: BufWriter<File>) -> std::io::Result<File> {
    let mut file = out.into_inner().map_err(|e| e.into_error())?;
    file.seek(SeekFrom::Start(0))?;
    Ok(file)
}

fn encode_hit(hit: &Hit) -> Vec<u8> {
    let mut record = Vec::with_capacity(1024);
    record.extend_from_slice(&(hit.rules.len() as u32).to_le_bytes());
    for rule in &hit.rules {
        record.extend_from_slice(&rule.to_le_bytes());
    }
    encode(&hit.event, &mut record);
    record
}

fn write_run<'a>(hits: impl Iterator<Item = &'a Hit>) -> std::io::Result<File> {
    let mut out = BufWriter::new(tempfile::tempfile()?);
    for hit in hits {
        write_record(&mut out, &encode_hit(hit))?;
    }
    rewind(out)
}

/// One run being read back.
struct RunReader {
    input: BufReader<File>,
    decoder: Decoder,
    record: Vec<u8>,
}

impl RunReader {
    fn next(&mut self) -> std::io::Result<Option<Hit>> {
        let mut len = [0u8; 4];
        match self.input.read_exact(&mut len) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
            Err(e) => return Err(e),
        }
        self.record.resize(u32::from_le_bytes(len) as usize, 0);
        self.input.read_exact(&mut self.record)?;
        let invalid = |what: String| std::io::Error::new(std::io::ErrorKind::InvalidData, what);
        let mut input = self.record.as_slice();
        let count = take_u32(&mut input).ok_or_else(|| invalid("cut record".into()))?;
        let mut rules = Vec::with_capacity((count as usize).min(input.len() / 4));
        for _ in 0..count {
            rules.push(take_u32(&mut input).ok_or_else(|| invalid("cut record".into()))?);
        }
        let event = self
            .decoder
            .decode(&mut input)
            .map_err(|e| invalid(e.to_string()))?;
        Ok(Some(Hit {
            evidence: secops_entity::Resolver::carries_evidence(&event),
            event,
            rules,
        }))
    }
}

fn take_u32(input: &mut &[u8]) -> Option<u32> {
    let (head, rest) = input.split_first_chunk::<4>()?;
    *input = rest;
    Some(u32::from_le_bytes(*head))
}

/// Merges sorted runs and a sorted in-memory tail (which came last) by time.
fn merge(runs: Vec<File>, tail: Vec<Hit>, feed: &mut dyn FnMut(&Hit)) -> std::io::Result<()> {
    let mut readers: Vec<RunReader> = runs
        .into_iter()
        .map(|file| RunReader {
            input: BufReader::with_capacity(64 * 1024, file),
            decoder: Decoder::new(),
            record: Vec::new(),
        })
        .collect();
    let tail_index = readers.len();
    let mut tail = tail.into_iter();
    // Heads by (time, source index): equal times come in the order their runs were written.
    let mut heads: BinaryHeap<Reverse<(Option<Timestamp>, usize)>> = BinaryHeap::new();
    let mut current: Vec<Option<Hit>> = Vec::with_capacity(tail_index + 1);
    for (index, reader) in readers.iter_mut().enumerate() {
        let hit = reader.next()?;
        if let Some(h) = &hit {
            heads.push(Reverse((h.event.timestamp(), index)));
        }
        current.push(hit);
    }
    let first = tail.next();
    if let Some(h) = &first {
        heads.push(Reverse((h.event.timestamp(), tail_index)));
    }
    current.push(first);
    while let Some(Reverse((_, index))) = heads.pop() {
        let Some(hit) = current.get_mut(index).and_then(Option::take) else {
            continue;
        };
        feed(&hit);
        let next = match readers.get_mut(index) {
            Some(reader) => reader.next()?,
            None => tail.next(),
        };
        if let Some(h) = &next {
            heads.push(Reverse((h.event.timestamp(), index)));
        }
        current[index] = next;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use secops_event::{Location, Provenance};

    fn hit(time: Option<i64>, n: u64) -> Hit {
        let mut event = Event::new(Provenance::new("in.log", Location::Line(n)));
        if let Some(t) = time {
            event.set_timestamp(Timestamp::from_unix_nanos(t));
        }
        Hit {
            event,
            rules: vec![n as u32, 7],
            evidence: false,
        }
    }

    /// Order as one stable sort of every event would give, however many runs were written.
    #[test]
    fn many_runs_merge_into_one_stable_time_order() {
        let (run, max_runs) = (100, 8);
        let count = run * (max_runs * 3 + 2) + 5;
        let time = |n: usize| (n * 7919 % 1000) as i64;
        let mut sorter = Sorter::new(run, max_runs);
        for n in 0..count {
            let t = (n % 97 != 0).then(|| time(n));
            sorter.push(hit(t, n as u64));
        }
        assert_eq!(sorter.runs.len(), max_runs * 3 + 2);
        let mut expected: Vec<(Option<i64>, u64)> = (0..count)
            .map(|n| ((n % 97 != 0).then(|| time(n)), n as u64))
            .collect();
        expected.sort_by_key(|(t, _)| *t);
        let mut got = Vec::new();
        let problem = sorter.drain(&mut |h| {
            let Location::Line(n) = h.event.provenance().location else {
                panic!("location")
            };
            assert_eq!(h.rules, [n as u32, 7]);
            got.push((h.event.timestamp().map(|t| t.unix_nanos()), n));
        });
        assert_eq!(problem, None);
        assert_eq!(got.len(), expected.len());
        assert!(got == expected, "not the stable time order");
    }
}
