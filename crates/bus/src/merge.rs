//! A re-key unit receives the events re-keyed rules selected from every events partition, each
//! partition's in its input's order but interleaved anyhow with the others'. The merge puts them back
//! into the order ingest read them (per input, by sequence number): an event is released once every
//! partition is known to hold nothing earlier, either because its next waiting event is later or
//! because its `through` mark has passed (see [`crate::frame`]). What waits is part of the unit's
//! checkpoint.

use std::collections::{BTreeMap, VecDeque};

use secops_event::codec::{encode, Decoder};
use serde::{Deserialize, Serialize};

use crate::frame::{Frame, Framed};

/// The merge of one re-key unit (see the module's documentation).
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct Merge {
    partitions: u32,
    inputs: BTreeMap<String, Input>,
}

#[derive(Debug, Default, Clone, Serialize, Deserialize)]
struct Input {
    /// Per source partition: what it is known to hold nothing more before (inclusive).
    through: Vec<Option<u64>>,
    /// Per source partition: the last sequence number taken in (a repeat is skipped).
    taken: Vec<Option<u64>>,
    /// Per source partition: events waiting, in sequence order.
    waiting: Vec<VecDeque<Held>>,
}

/// A waiting event, encoded (it is saved with the checkpoint).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Held {
    seq: u64,
    received: i64,
    event: Vec<u8>,
    selected: Vec<u32>,
    excepted: Vec<u32>,
    rules: Vec<u32>,
}

impl Merge {
    pub fn new(partitions: u32) -> Merge {
        Merge {
            partitions: partitions.max(1),
            inputs: BTreeMap::new(),
        }
    }

    /// Takes in a frame from source partition `from`; returns the events skipped as repeats.
    pub fn push(&mut self, from: u32, frame: Frame) -> u64 {
        let n = self.partitions as usize;
        let Some(slot) = usize::try_from(from).ok().filter(|&s| s < n) else {
            return 0;
        };
        let fresh = || Input {
            through: vec![None; n],
            taken: vec![None; n],
            waiting: vec![VecDeque::new(); n],
        };
        let mut repeats = 0;
        let mut body = Vec::new();
        for framed in frame.events {
            let Some(mark) = frame.marks.get(usize::from(framed.input)) else {
                continue;
            };
            let input = self.inputs.entry(mark.input.clone()).or_insert_with(fresh);
            if input.taken[slot].is_some_and(|t| framed.seq <= t) {
                repeats += 1;
                continue;
            }
            input.taken[slot] = Some(framed.seq);
            body.clear();
            encode(&framed.event, &mut body);
            input.waiting[slot].push_back(Held {
                seq: framed.seq,
                received: framed.received,
                event: body.clone(),
                selected: framed.selected,
                excepted: framed.excepted,
                rules: framed.rules,
            });
        }
        for mark in frame.marks {
            let input = self.inputs.entry(mark.input).or_insert_with(fresh);
            let through = &mut input.through[slot];
            *through = Some(through.map_or(mark.through, |t| t.max(mark.through)));
        }
        repeats
    }

    /// Events waiting from source partition `from` (the unit stops pulling from a partition that is
    /// far ahead of the others, so memory stays bounded).
    pub fn waiting_from(&self, from: u32) -> usize {
        self.inputs
            .values()
            .filter_map(|i| i.waiting.get(from as usize))
            .map(VecDeque::len)
            .sum()
    }

    /// Every event waiting.
    pub fn waiting(&self) -> usize {
        self.inputs
            .values()
            .flat_map(|i| i.waiting.iter())
            .map(VecDeque::len)
            .sum()
    }

    /// The events now known to come next, in order, each with its input; an event that no longer decodes is returned as
    /// its error (with its input and sequence number) and dropped from the merge.
    pub fn release(&mut self) -> Vec<Result<(String, Framed), String>> {
        let mut out = Vec::new();
        let mut decoder = Decoder::new();
        for (name, input) in &mut self.inputs {
            loop {
                let next = input
                    .waiting
                    .iter()
                    .enumerate()
                    .filter_map(|(i, w)| w.front().map(|h| (h.seq, i)))
                    .min();
                let Some((seq, from)) = next else { break };
                let ready = input
                    .waiting
                    .iter()
                    .zip(&input.through)
                    .all(|(w, t)| !w.is_empty() || t.is_some_and(|t| t >= seq));
                if !ready {
                    break;
                }
                let Some(held) = input.waiting[from].pop_front() else {
                    break;
                };
                out.push(
                    decoder
                        .decode(&mut held.event.as_slice())
                        .map(|event| {
                            (
                                name.clone(),
                                Framed {
                                    input: 0,
                                    seq: held.seq,
                                    received: held.received,
                                    event,
                                    selected: held.selected,
                                    excepted: held.excepted,
                                    rules: held.rules,
                                },
                            )
                        })
                        .map_err(|e| format!("{name} event {}: {e}", held.seq)),
                );
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use secops_event::{Event, Location, Provenance};

    fn frame(through: u64, seqs: &[u64]) -> Frame {
        Frame {
            marks: vec![crate::frame::Mark {
                input: "ingest/auth@1".into(),
                through,
            }],
            source: None,
            events: seqs
                .iter()
                .map(|&seq| Framed {
                    input: 0,
                    seq,
                    received: 0,
                    event: Event::new(Provenance::new("auth.log", Location::Line(seq))),
                    selected: vec![2],
                    excepted: vec![],
                    rules: vec![2],
                })
                .collect(),
        }
    }

    fn seqs(released: Vec<Result<(String, Framed), String>>) -> Vec<u64> {
        released.into_iter().map(|r| r.unwrap().1.seq).collect()
    }

    #[test]
    fn events_come_out_in_input_order_once_every_partition_has_caught_up() {
        let mut merge = Merge::new(3);
        merge.push(0, frame(10, &[1, 4, 9]));
        assert!(merge.release().is_empty(), "partitions 1 and 2 unheard");
        merge.push(1, frame(5, &[2, 5]));
        assert!(merge.release().is_empty(), "partition 2 unheard");
        merge.push(2, frame(3, &[]));
        // 1 and 2 are ready (partition 2 holds nothing up to 3); 4 waits for partition 2 to pass 4.
        assert_eq!(seqs(merge.release()), vec![1, 2]);
        merge.push(2, frame(12, &[11]));
        // Partition 1 holds nothing after 5 up to 5: 4 and 5 go; 9 waits for partition 1.
        assert_eq!(seqs(merge.release()), vec![4, 5]);
        merge.push(1, frame(12, &[]));
        // 11 waits for partition 0, which is complete only through 10.
        assert_eq!(seqs(merge.release()), vec![9]);
        merge.push(0, frame(12, &[]));
        assert_eq!(seqs(merge.release()), vec![11]);
        assert_eq!(merge.waiting(), 0);
    }

    #[test]
    fn a_repeated_frame_is_skipped_and_the_state_survives_a_checkpoint() {
        let mut merge = Merge::new(2);
        merge.push(0, frame(6, &[1, 6]));
        assert_eq!(merge.push(0, frame(6, &[1, 6])), 2);
        assert_eq!(merge.waiting_from(0), 2);
        let saved = postcard::to_stdvec(&merge).unwrap();
        let mut back: Merge = postcard::from_bytes(&saved).unwrap();
        back.push(1, frame(7, &[3]));
        assert_eq!(seqs(back.release()), vec![1, 3, 6]);
    }
}
