//! Per-input accounting: every record is either parsed or rejected with a reason, and records an input
//! promised but that could not be read at all (an EVTX chunk cut off or damaged) are counted as lost.

use std::fmt;

use crate::{Format, Rejection};

/// At most this many [`Loss`]es are listed per input; [`Summary::lost`] counts them all.
pub const MAX_LOSSES: usize = 100;

/// What happened to one input.
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    pub source: String,
    pub format: Format,
    /// Records seen: always `parsed + rejected`.
    pub read: u64,
    pub parsed: u64,
    pub rejected: u64,
    /// Rejections grouped by [`crate::Reason::kind`], in order of first appearance, each with its count and
    /// first example.
    pub rejections: Vec<RejectionGroup>,
    /// Records the input's own structure promised (an EVTX file header or chunk header) that could not be
    /// read, not even as a rejection: they are not in `read`.
    pub lost: u64,
    /// Where and why, one entry per damaged or missing stretch (the first [`MAX_LOSSES`]).
    pub losses: Vec<Loss>,
    /// What the reader noticed about the input as a whole: an EVTX log not closed cleanly, or one that
    /// has wrapped around.
    pub notes: Vec<String>,
}

/// Records an input promised that could not be read: where (chunk numbers and file offset), which (a
/// range of record ids, when the headers around them tell), and why.
#[derive(Debug, Clone, PartialEq)]
pub struct Loss {
    /// The chunks (numbers in the file, in record order) the records were in.
    pub chunks: Vec<u64>,
    /// The file offset of the first of them.
    pub offset: u64,
    /// The first and last record id lost, when known.
    pub records: Option<(u64, u64)>,
    pub cause: String,
}

impl Loss {
    /// How many records: the size of the id range (0 when it is not known).
    pub fn count(&self) -> u64 {
        self.records.map_or(0, |(first, last)| last - first + 1)
    }
}

/// `chunks 9-14 (file offset 0x91000): records 320-565 lost: the file ends before them`
impl fmt::Display for Loss {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let contiguous = self.chunks.windows(2).all(|w| w[1] == w[0] + 1);
        match self.chunks.as_slice() {
            [] => f.write_str("no chunk")?,
            [one] => write!(f, "chunk {one}")?,
            [first, .., last] if contiguous => write!(f, "chunks {first}-{last}")?,
            many => {
                let list: Vec<String> = many.iter().map(u64::to_string).collect();
                write!(f, "chunks {}", list.join(", "))?
            }
        }
        if !self.chunks.is_empty() {
            write!(f, " (file offset {:#x})", self.offset)?;
        }
        match self.records {
            Some((first, last)) if first == last => write!(f, ": record {first} lost")?,
            Some((first, last)) => {
                write!(f, ": records {first}-{last} lost ({})", last - first + 1)?
            }
            None => f.write_str(": records unknown lost")?,
        }
        write!(f, ": {}", self.cause)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct RejectionGroup {
    pub kind: &'static str,
    pub count: u64,
    pub first: Rejection,
}

impl Summary {
    pub fn new(source: String, format: Format) -> Self {
        Summary {
            source,
            format,
            read: 0,
            parsed: 0,
            rejected: 0,
            rejections: Vec::new(),
            lost: 0,
            losses: Vec::new(),
            notes: Vec::new(),
        }
    }

    pub(crate) fn count_lost(&mut self, loss: Loss) {
        self.lost += loss.count();
        if self.losses.len() < MAX_LOSSES {
            self.losses.push(loss);
        }
    }

    /// Whether anything in the input did not become an event: rejected or lost records, or damage found.
    pub fn incomplete(&self) -> bool {
        self.rejected > 0 || !self.losses.is_empty()
    }

    /// Counts one record, parsed or rejected.
    pub(crate) fn count(&mut self, record: &Result<secops_event::Event, Rejection>) {
        match record {
            Ok(_) => self.count_parsed(),
            Err(rejection) => self.count_rejected(rejection),
        }
    }

    /// Adds the records another summary counted (of a later stretch of the same input) to these: kinds of
    /// rejection new here come after those seen before, as if counted one after another.
    pub(crate) fn absorb(&mut self, later: Summary) {
        self.read += later.read;
        self.parsed += later.parsed;
        self.rejected += later.rejected;
        for group in later.rejections {
            match self.rejections.iter_mut().find(|g| g.kind == group.kind) {
                Some(mine) => mine.count += group.count,
                None => self.rejections.push(group),
            }
        }
        self.lost += later.lost;
        for loss in later.losses {
            if self.losses.len() < MAX_LOSSES {
                self.losses.push(loss);
            }
        }
        self.notes.extend(later.notes);
    }

    pub(crate) fn count_parsed(&mut self) {
        self.read += 1;
        self.parsed += 1;
    }

    pub(crate) fn count_rejected(&mut self, rejection: &Rejection) {
        self.read += 1;
        self.rejected += 1;
        let kind = rejection.reason.kind();
        match self.rejections.iter_mut().find(|g| g.kind == kind) {
            Some(group) => group.count += 1,
            None => self.rejections.push(RejectionGroup {
                kind,
                count: 1,
                first: rejection.clone(),
            }),
        }
    }
}

impl Summary {
    /// The summary as lines for a person: the counts, then a line per kind of rejection (its count and
    /// first example), per loss and per note. Each line may quote log text; the caller escapes it.
    pub fn lines(&self) -> Vec<String> {
        let mut head = format!(
            "{} ({}): {} read, {} parsed, {} rejected",
            self.source, self.format, self.read, self.parsed, self.rejected
        );
        if !self.losses.is_empty() {
            head.push_str(&format!(", {} lost", self.lost));
        }
        let mut lines = vec![head];
        for group in &self.rejections {
            lines.push(format!(
                "  {} x{}, first: {}",
                group.kind, group.count, group.first
            ));
        }
        for loss in &self.losses {
            lines.push(format!("  lost: {loss}"));
        }
        if self.losses.len() == MAX_LOSSES {
            lines.push(format!(
                "  lost: (only the first {MAX_LOSSES} stretches are listed)"
            ));
        }
        for note in &self.notes {
            lines.push(format!("  note: {note}"));
        }
        lines
    }
}

/// [`Summary::lines`], one after another.
impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.lines().join("\n"))
    }
}
