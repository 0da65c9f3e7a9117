//! The journal: what a network listener received, on disk before anything else happens to it, so that
//! a message a sender handed over is not lost when the process dies, and the engine can fall behind (or
//! the store stop) without memory growing: the journal is the spool.
//!
//! One journal per listener, a folder of segment files named by the offset of their first byte in the
//! listener's stream (`00000000000000000000.seg`). A record is `[length u32][crc32 u32][received i64]
//! [message]`, little-endian; the CRC32 covers the received time and the message. Records are appended
//! by one writer and read back by the engine from the position its last checkpoint covers; segments
//! wholly before that position are removed. A record cut short by a crash (the tail of the last segment)
//! is cut off when the journal is opened again, and counted.

use std::fs::{self, File, OpenOptions};
use std::io::{BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// A segment is closed and a new one begun past this size.
pub const SEGMENT_BYTES: u64 = 64 * 1024 * 1024;
const HEADER: usize = 16;
/// Larger records are refused by the writer (listeners bound messages far lower).
pub const MAX_RECORD: usize = 16 * 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error("journal {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("journal {path}: {reason}")]
    Damaged { path: String, reason: String },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> JournalError + '_ {
    move |source| JournalError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// Where the writer has got to and the engine has consumed up to, shared between them.
#[derive(Debug, Default)]
pub struct Marks {
    /// Bytes written and flushed (readable).
    pub written: AtomicU64,
    /// Bytes covered by the last checkpoint.
    pub consumed: AtomicU64,
    /// Records cut off when the journal was opened (a crash mid-write).
    pub torn: AtomicU64,
}

impl Marks {
    /// What is on disk and not yet covered by a checkpoint.
    pub fn spooled(&self) -> u64 {
        self.written
            .load(Ordering::Acquire)
            .saturating_sub(self.consumed.load(Ordering::Acquire))
    }
}

fn segment_name(start: u64) -> String {
    format!("{start:020}.seg")
}

/// The segments of a journal folder, by their starting offset.
fn segments(dir: &Path) -> Result<Vec<(u64, PathBuf)>, JournalError> {
    let mut found = Vec::new();
    for entry in fs::read_dir(dir).map_err(io(dir))? {
        let entry = entry.map_err(io(dir))?;
        let name = entry.file_name();
        let Some(start) = name
            .to_str()
            .and_then(|n| n.strip_suffix(".seg"))
            .and_then(|n| n.parse::<u64>().ok())
        else {
            continue;
        };
        found.push((start, entry.path()));
    }
    found.sort();
    Ok(found)
}

/// The offset of the oldest record a journal still holds (0 for a new one).
pub fn first_offset(dir: &Path) -> u64 {
    segments(dir)
        .ok()
        .and_then(|s| s.first().map(|(start, _)| *start))
        .unwrap_or(0)
}

/// Appends records; one per journal.
#[derive(Debug)]
pub struct Writer {
    dir: PathBuf,
    file: BufWriter<File>,
    /// Offset of the current segment's first byte, and of the next record.
    start: u64,
    end: u64,
    marks: Arc<Marks>,
    segment_bytes: u64,
}

impl Writer {
    /// Segments of `bytes` instead of [`SEGMENT_BYTES`] (for tests).
    pub fn segment_size(mut self, bytes: u64) -> Self {
        self.segment_bytes = bytes.max(1);
        self
    }

    /// Opens the journal in `dir` (created when missing) for appending: a torn record at the end of
    /// the last segment is cut off.
    pub fn open(dir: &Path, marks: Arc<Marks>) -> Result<Writer, JournalError> {
        fs::create_dir_all(dir).map_err(io(dir))?;
        let existing = segments(dir)?;
        let (start, path) = match existing.last() {
            Some((start, path)) => (*start, path.clone()),
            None => (0, dir.join(segment_name(0))),
        };
        let mut file = OpenOptions::new()
            .create(true)
            .read(true)
            .append(true)
            .open(&path)
            .map_err(io(&path))?;
        let (good, torn) = valid_length(&mut file, &path)?;
        let length = file.metadata().map_err(io(&path))?.len();
        if good < length {
            file.set_len(good).map_err(io(&path))?;
        }
        marks.torn.fetch_add(torn, Ordering::Relaxed);
        let end = start + good;
        marks.written.store(end, Ordering::Release);
        Ok(Writer {
            dir: dir.to_path_buf(),
            file: BufWriter::with_capacity(1 << 20, file),
            start,
            end,
            marks,
            segment_bytes: SEGMENT_BYTES,
        })
    }

    /// Appends one record (not yet readable: see [`Writer::flush`]).
    pub fn append(&mut self, received: i64, message: &[u8]) -> Result<(), JournalError> {
        let message = &message[..message.len().min(MAX_RECORD)];
        if self.end - self.start >= self.segment_bytes {
            self.roll()?;
        }
        let mut crc = crc32fast::Hasher::new();
        crc.update(&received.to_le_bytes());
        crc.update(message);
        let path = self.dir.clone();
        let mut header = [0u8; HEADER];
        header[..4].copy_from_slice(&(message.len() as u32).to_le_bytes());
        header[4..8].copy_from_slice(&crc.finalize().to_le_bytes());
        header[8..].copy_from_slice(&received.to_le_bytes());
        self.file.write_all(&header).map_err(io(&path))?;
        self.file.write_all(message).map_err(io(&path))?;
        self.end += (HEADER + message.len()) as u64;
        Ok(())
    }

    /// Hands what was appended to the operating system (it outlives the process from here on) and
    /// makes it readable.
    pub fn flush(&mut self) -> Result<(), JournalError> {
        self.file.flush().map_err(io(&self.dir))?;
        self.marks.written.store(self.end, Ordering::Release);
        Ok(())
    }

    /// Also asks the disk to keep it (power loss), for journals configured so.
    pub fn sync(&mut self) -> Result<(), JournalError> {
        self.flush()?;
        self.file.get_ref().sync_data().map_err(io(&self.dir))
    }

    fn roll(&mut self) -> Result<(), JournalError> {
        self.flush()?;
        let path = self.dir.join(segment_name(self.end));
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(io(&path))?;
        self.file = BufWriter::with_capacity(1 << 20, file);
        self.start = self.end;
        Ok(())
    }

    /// Removes the segments wholly before `position` (covered by a checkpoint).
    pub fn release(dir: &Path, position: u64) -> Result<(), JournalError> {
        let all = segments(dir)?;
        for pair in all.windows(2) {
            let ((_, path), (next, _)) = (&pair[0], &pair[1]);
            if *next <= position {
                fs::remove_file(path).map_err(io(path))?;
            }
        }
        Ok(())
    }
}

/// The length of the intact records at the start of a segment, and how many records were torn.
fn valid_length(file: &mut File, path: &Path) -> Result<(u64, u64), JournalError> {
    file.seek(SeekFrom::Start(0)).map_err(io(path))?;
    let mut reader = std::io::BufReader::with_capacity(1 << 20, &mut *file);
    let mut good = 0u64;
    let mut buf = Vec::new();
    loop {
        match read_record(&mut reader, &mut buf) {
            Ok(Some((_, len))) => good += len as u64,
            Ok(None) => return Ok((good, 0)),
            Err(_) => return Ok((good, 1)),
        }
    }
}

/// Reads one record into `buf`: `Ok(None)` at a clean end, an error for a torn or damaged record.
/// Returns the received time and the record's length on disk.
fn read_record(reader: &mut impl Read, buf: &mut Vec<u8>) -> Result<Option<(i64, usize)>, String> {
    let mut header = [0u8; HEADER];
    let mut got = 0;
    while got < HEADER {
        match reader.read(&mut header[got..]) {
            Ok(0) if got == 0 => return Ok(None),
            Ok(0) => return Err("record header cut short".into()),
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e.to_string()),
        }
    }
    let len = u32::from_le_bytes([header[0], header[1], header[2], header[3]]) as usize;
    let crc = u32::from_le_bytes([header[4], header[5], header[6], header[7]]);
    let mut received = [0u8; 8];
    received.copy_from_slice(&header[8..]);
    if len > MAX_RECORD {
        return Err(format!("record of {len} bytes"));
    }
    buf.clear();
    buf.resize(len, 0);
    reader
        .read_exact(buf)
        .map_err(|_| "record cut short".to_string())?;
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(&received);
    hasher.update(buf);
    if hasher.finalize() != crc {
        return Err("record checksum".into());
    }
    Ok(Some((i64::from_le_bytes(received), HEADER + len)))
}

/// Reads records back from a position, up to what the writer has flushed.
#[derive(Debug)]
pub struct Reader {
    dir: PathBuf,
    marks: Arc<Marks>,
    /// The offset of the next record to read.
    position: u64,
    current: Option<(u64, std::io::BufReader<File>)>,
    buf: Vec<u8>,
}

impl Reader {
    pub fn new(dir: &Path, marks: Arc<Marks>, position: u64) -> Reader {
        Reader {
            dir: dir.to_path_buf(),
            marks,
            position,
            current: None,
            buf: Vec::new(),
        }
    }

    /// The offset of the next record (what a checkpoint records once the records before are done).
    pub fn position(&self) -> u64 {
        self.position
    }

    /// Hands up to `max` records to `each` (the record's offset, received time, message); returns how
    /// many.
    pub fn read(
        &mut self,
        max: usize,
        each: &mut dyn FnMut(u64, i64, &[u8]),
    ) -> Result<usize, JournalError> {
        let mut count = 0;
        while count < max {
            let written = self.marks.written.load(Ordering::Acquire);
            if self.position >= written {
                break;
            }
            let position = self.position;
            let mut buf = std::mem::take(&mut self.buf);
            let reader = self.segment_for(position)?;
            let mut limited = Read::take(reader, written - position);
            let result = read_record(&mut limited, &mut buf);
            self.buf = buf;
            match result {
                Ok(Some((received, len))) => {
                    self.position += len as u64;
                    if let Some((at, _)) = &mut self.current {
                        *at = self.position;
                    }
                    count += 1;
                    each(position, received, &self.buf);
                }
                // The end of a segment: the next one starts here.
                Ok(None) => {
                    self.current = None;
                    if !self.dir.join(segment_name(self.position)).exists() {
                        break;
                    }
                }
                Err(reason) => {
                    return Err(JournalError::Damaged {
                        path: self.dir.display().to_string(),
                        reason: format!("at offset {}: {reason}", self.position),
                    })
                }
            }
        }
        Ok(count)
    }

    /// The segment file holding `position`, positioned there.
    fn segment_for(
        &mut self,
        position: u64,
    ) -> Result<&mut std::io::BufReader<File>, JournalError> {
        let stale = self.current.as_ref().is_none_or(|(at, _)| *at != position);
        if stale {
            let all = segments(&self.dir)?;
            let Some((start, path)) = all.iter().rev().find(|(start, _)| *start <= position) else {
                return Err(JournalError::Damaged {
                    path: self.dir.display().to_string(),
                    reason: format!("no segment holds offset {position}"),
                });
            };
            let mut file = File::open(path).map_err(io(path))?;
            file.seek(SeekFrom::Start(position - start))
                .map_err(io(path))?;
            self.current = Some((position, std::io::BufReader::with_capacity(1 << 20, file)));
        }
        match &mut self.current {
            Some((_, reader)) => Ok(reader),
            None => Err(JournalError::Damaged {
                path: self.dir.display().to_string(),
                reason: "segment not open".into(),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_all(reader: &mut Reader) -> Vec<(i64, Vec<u8>)> {
        let mut out = Vec::new();
        reader
            .read(usize::MAX, &mut |_, t, m| out.push((t, m.to_vec())))
            .unwrap();
        out
    }

    #[test]
    fn records_come_back_in_order_across_segments_and_from_a_position() {
        let dir = tempfile::tempdir().unwrap();
        let marks = Arc::new(Marks::default());
        let mut writer = Writer::open(dir.path(), marks.clone())
            .unwrap()
            .segment_size(10);
        let mut reader = Reader::new(dir.path(), marks.clone(), 0);
        writer.append(1, b"first").unwrap();
        // Not yet flushed: not readable.
        assert!(read_all(&mut reader).is_empty());
        writer.flush().unwrap();
        assert_eq!(read_all(&mut reader), vec![(1, b"first".to_vec())]);
        let after_first = reader.position();
        // Past the segment size: a new segment.
        writer.append(2, b"second").unwrap();
        writer.flush().unwrap();
        assert_eq!(segments(dir.path()).unwrap().len(), 2);
        assert_eq!(read_all(&mut reader), vec![(2, b"second".to_vec())]);
        let mut again = Reader::new(dir.path(), marks, after_first);
        assert_eq!(read_all(&mut again), vec![(2, b"second".to_vec())]);
        Writer::release(dir.path(), reader.position()).unwrap();
        assert_eq!(segments(dir.path()).unwrap().len(), 1);
    }

    #[test]
    fn a_record_torn_by_a_crash_is_cut_off_and_counted() {
        let dir = tempfile::tempdir().unwrap();
        let marks = Arc::new(Marks::default());
        let mut writer = Writer::open(dir.path(), marks.clone()).unwrap();
        writer.append(1, b"whole").unwrap();
        writer.append(2, b"torn apart").unwrap();
        writer.flush().unwrap();
        drop(writer);
        let path = dir.path().join(segment_name(0));
        let len = fs::metadata(&path).unwrap().len();
        OpenOptions::new()
            .write(true)
            .open(&path)
            .unwrap()
            .set_len(len - 3)
            .unwrap();
        let marks = Arc::new(Marks::default());
        let mut writer = Writer::open(dir.path(), marks.clone()).unwrap();
        assert_eq!(marks.torn.load(Ordering::Relaxed), 1);
        writer.append(3, b"after").unwrap();
        writer.flush().unwrap();
        let mut reader = Reader::new(dir.path(), marks, 0);
        assert_eq!(
            read_all(&mut reader),
            vec![(1, b"whole".to_vec()), (3, b"after".to_vec())]
        );
    }
}
