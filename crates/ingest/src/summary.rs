//! Per-input accounting: every record is either parsed or rejected with a reason.

use std::fmt;

use crate::{Format, Rejection};

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
        }
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

/// `path (format): 2000 read, 1998 parsed, 2 rejected [invalid JSON: 2, first at path:17: ...]`
impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} ({}): {} read, {} parsed, {} rejected",
            self.source, self.format, self.read, self.parsed, self.rejected
        )?;
        for group in &self.rejections {
            write!(
                f,
                "\n  {} x{}, first: {}",
                group.kind, group.count, group.first
            )?;
        }
        Ok(())
    }
}
