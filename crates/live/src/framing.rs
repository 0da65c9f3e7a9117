//! Syslog over a stream (RFC 6587): a frame is either octet-counted (`MSG-LEN SP MSG`, chosen when
//! the frame starts with a digit 1-9 and its digits end in a space, as rsyslog decides) or ends at a
//! line feed (non-transparent framing; a CR before it is dropped, as is a NUL some senders use instead).
//! Bounded whatever arrives: a message over the maximum is skipped (to its counted end, or to the next
//! line feed) and reported, never buffered.

/// What the framer made of the bytes.
#[derive(Debug, PartialEq, Eq)]
pub enum Frame<'a> {
    Message(&'a [u8]),
    /// A message longer than the maximum (its length when counted, else what was seen of it).
    Oversize(usize),
    /// The stream ended inside an octet-counted frame.
    Truncated {
        expected: usize,
        got: usize,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Skip {
    None,
    /// Drop bytes up to and including the next line feed.
    Line,
    /// Drop this many more bytes.
    Bytes(usize),
}

/// Splits one connection's bytes into messages.
#[derive(Debug)]
pub struct Framer {
    max: usize,
    buf: Vec<u8>,
    skip: Skip,
}

/// Digits of a length prefix: at most this many (a billion bytes is far past any maximum).
const MAX_DIGITS: usize = 10;

impl Framer {
    pub fn new(max: usize) -> Self {
        Framer {
            max: max.max(1),
            buf: Vec::new(),
            skip: Skip::None,
        }
    }

    /// Bytes waiting for the rest of their frame (bounded by the maximum and a length prefix).
    pub fn pending(&self) -> usize {
        self.buf.len()
    }

    /// Feeds bytes read from the connection; each complete frame goes to `out`.
    pub fn push(&mut self, data: &[u8], out: &mut dyn FnMut(Frame<'_>)) {
        let mut data = data;
        // Skipping needs no buffering.
        loop {
            match self.skip {
                Skip::None => break,
                Skip::Bytes(n) => {
                    let take = n.min(data.len());
                    data = &data[take..];
                    self.skip = if n > take {
                        Skip::Bytes(n - take)
                    } else {
                        Skip::None
                    };
                    if n > take {
                        return;
                    }
                }
                Skip::Line => match memchr::memchr(b'\n', data) {
                    Some(i) => {
                        data = &data[i + 1..];
                        self.skip = Skip::None;
                    }
                    None => return,
                },
            }
        }
        self.buf.extend_from_slice(data);
        let mut at = 0;
        while at < self.buf.len() {
            match self.next_frame(at, out) {
                Some(next) => at = next,
                None => break,
            }
            if self.skip != Skip::None {
                // The rest of the buffer is what the skip applies to.
                let rest = self.buf.split_off(at);
                self.buf.clear();
                let skip = self.skip;
                self.skip = Skip::None;
                at = 0;
                match skip {
                    Skip::Bytes(n) if n <= rest.len() => self.buf.extend_from_slice(&rest[n..]),
                    Skip::Bytes(n) => self.skip = Skip::Bytes(n - rest.len()),
                    Skip::Line => match memchr::memchr(b'\n', &rest) {
                        Some(i) => self.buf.extend_from_slice(&rest[i + 1..]),
                        None => self.skip = Skip::Line,
                    },
                    Skip::None => {}
                }
            }
        }
        self.buf.drain(..at);
    }

    /// The frame starting at `at`: emits it and returns where the next starts, or `None` when it is
    /// not complete yet. May set `skip` (an oversize frame), returning where skipping starts.
    fn next_frame(&mut self, at: usize, out: &mut dyn FnMut(Frame<'_>)) -> Option<usize> {
        let rest = &self.buf[at..];
        if let Some(counted) = octet_count(rest) {
            let (len, header) = counted?;
            if len > self.max {
                out(Frame::Oversize(len));
                self.skip = Skip::Bytes(len);
                return Some(at + header);
            }
            if rest.len() < header + len {
                return None;
            }
            out(Frame::Message(&rest[header..header + len]));
            return Some(at + header + len);
        }
        match memchr::memchr2(b'\n', 0, rest) {
            Some(end) => {
                let line = &rest[..end];
                let line = line.strip_suffix(b"\r").unwrap_or(line);
                if line.len() > self.max {
                    out(Frame::Oversize(line.len()));
                } else if !line.is_empty() {
                    out(Frame::Message(line));
                }
                Some(at + end + 1)
            }
            None if rest.len() > self.max => {
                out(Frame::Oversize(rest.len()));
                self.skip = Skip::Line;
                Some(self.buf.len())
            }
            None => None,
        }
    }

    /// The connection has closed: a last line without its line feed is a message; an octet-counted
    /// frame cut short is reported.
    pub fn finish(&mut self, out: &mut dyn FnMut(Frame<'_>)) {
        let rest = std::mem::take(&mut self.buf);
        if let Skip::Bytes(n) = self.skip {
            out(Frame::Truncated {
                expected: n,
                got: 0,
            });
        }
        self.skip = Skip::None;
        if rest.is_empty() {
            return;
        }
        match octet_count(&rest) {
            Some(Some((len, header))) => out(Frame::Truncated {
                expected: len,
                got: rest.len() - header,
            }),
            _ => {
                let line = rest.strip_suffix(b"\r").unwrap_or(&rest);
                if !line.is_empty() && line.len() <= self.max {
                    out(Frame::Message(line));
                }
            }
        }
    }
}

/// `None`: not an octet-counted frame. `Some(None)`: it may be one, more bytes are needed.
/// `Some(Some((length, header length)))`: it is one.
fn octet_count(bytes: &[u8]) -> Option<Option<(usize, usize)>> {
    match bytes.first() {
        Some(b'1'..=b'9') => {}
        _ => return None,
    }
    let digits = bytes.iter().take_while(|b| b.is_ascii_digit()).count();
    if digits > MAX_DIGITS {
        return None;
    }
    match bytes.get(digits) {
        None => Some(None),
        Some(b' ') => {
            let len = bytes[..digits]
                .iter()
                .fold(0usize, |n, d| n * 10 + usize::from(d - b'0'));
            Some(Some((len, digits + 1)))
        }
        Some(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frames(max: usize, chunks: &[&[u8]]) -> Vec<String> {
        let mut framer = Framer::new(max);
        let mut out = Vec::new();
        let mut take = |f: Frame<'_>| {
            out.push(match f {
                Frame::Message(m) => String::from_utf8_lossy(m).into_owned(),
                Frame::Oversize(n) => format!("oversize {n}"),
                Frame::Truncated { expected, got } => format!("truncated {got}/{expected}"),
            })
        };
        for chunk in chunks {
            framer.push(chunk, &mut take);
        }
        framer.finish(&mut take);
        assert!(framer.pending() == 0);
        out
    }

    #[test]
    fn both_framings_whatever_the_chunks() {
        let counted = "<13>1 2026-12-06T10:00:00Z h app - - - a\nb c";
        let stream = format!(
            "<34>Oct 11 22:14:15 mymachine su: 'su root' failed\r\n{} {counted}\
             <13>Dec 10 06:55:46 LabSZ sshd[1]: x\x00<13>last line",
            counted.len()
        );
        let want = vec![
            "<34>Oct 11 22:14:15 mymachine su: 'su root' failed",
            counted,
            "<13>Dec 10 06:55:46 LabSZ sshd[1]: x",
            "<13>last line",
        ];
        let stream = stream.as_bytes();
        assert_eq!(frames(1000, &[stream]), want);
        for size in [1, 2, 3, 7, 50] {
            let chunks: Vec<&[u8]> = stream.chunks(size).collect();
            assert_eq!(frames(1000, &chunks), want, "chunks of {size}");
        }
    }

    #[test]
    fn oversize_messages_are_skipped_and_reported_without_buffering() {
        let long = vec![b'x'; 5000];
        let mut stream = b"<13>short\n".to_vec();
        stream.extend_from_slice(&long);
        stream.extend_from_slice(b"\n<13>after\n9999 ");
        stream.extend_from_slice(&long);
        stream.extend_from_slice(&vec![b'y'; 4999]);
        stream.extend_from_slice(b"<13>tail\n");
        for size in [1, 100, 4096, 20_000] {
            let mut framer = Framer::new(100);
            let mut out = Vec::new();
            let shown = |f: Frame<'_>| match f {
                Frame::Message(m) => String::from_utf8_lossy(m).into_owned(),
                other => format!("{other:?}"),
            };
            for chunk in stream.chunks(size) {
                framer.push(chunk, &mut |f| out.push(shown(f)));
                assert!(
                    framer.pending() <= 200 + size.min(200),
                    "{}",
                    framer.pending()
                );
            }
            framer.finish(&mut |f| out.push(shown(f)));
            assert_eq!(out.len(), 5, "{out:?}");
            assert!(
                out[0].contains("short") && out[2].contains("after"),
                "{out:?}"
            );
            assert!(out[1].starts_with("Oversize") && out[3] == "Oversize(9999)");
            assert!(out[4].contains("tail"), "{out:?}");
        }
    }

    #[test]
    fn a_counted_frame_cut_short_is_reported() {
        assert_eq!(frames(100, &[b"20 <13>only part"]), vec!["truncated 13/20"]);
        assert_eq!(frames(100, &[b"12345678901 x\n"]), vec!["12345678901 x"]);
    }
}
