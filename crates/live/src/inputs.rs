//! What the engine reads: a listener's journal, or a file it follows. Each parses its records through
//! the ingest crate's [`LineStream`] (the events `secops ingest` makes of the same lines) and says where
//! it has got to, as a [`Position`] the checkpoint keeps.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::SystemTime;

use secops_event::Event;
use secops_ingest::{Format, LineStream, Rejection};
use serde::{Deserialize, Serialize};

use crate::journal::{JournalError, Marks, Reader, Writer};
use crate::metrics::SourceMetrics;

/// Where an input has got to: every record before it has reached the rules.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Position {
    Journal {
        offset: u64,
        /// Records read (the next one's number).
        records: u64,
        years: Option<(i32, u32)>,
    },
    Tail {
        file: Option<FileId>,
        offset: u64,
        line: u64,
        years: Option<(i32, u32)>,
    },
}

/// A file, as found again after a restart: device and inode, and a digest of its first bytes (an
/// inode number is reused once a file is deleted).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileId {
    pub dev: u64,
    pub ino: u64,
    /// CRC32 of the first [`HEAD`] bytes, and how many there were.
    pub head: u32,
    pub head_len: u32,
}

/// Bytes of a file's start its identity covers.
pub const HEAD: usize = 1024;

/// How an input's bytes are read: the format (a followed file's is detected when not given), the
/// year and zone of RFC 3164 times, the encoding when not UTF-8.
#[derive(Debug, Clone, Copy, Default)]
pub struct Reading {
    pub format: Option<Format>,
    pub year: Option<i32>,
    pub zone: Option<secops_ingest::Zone>,
    pub encoding: Option<&'static encoding_rs::Encoding>,
}

impl Reading {
    fn stream(&self, format: Format, source: &str, now: SystemTime) -> LineStream {
        LineStream::new(format, source, self.year, self.zone, now)
    }
}

/// Parses one line's bytes, decoded first when the source is not UTF-8.
fn parse_line(
    stream: &mut LineStream,
    encoding: Option<&'static encoding_rs::Encoding>,
    bytes: &[u8],
    number: u64,
    sink: &mut dyn FnMut(Result<Event, Rejection>),
) {
    match encoding {
        None => stream.line(bytes, number, sink),
        Some(encoding) => {
            let (text, _, _) = encoding.decode(bytes);
            stream.line(text.as_bytes(), number, sink);
        }
    }
}

/// A record or a rejection, with the time its bytes arrived.
#[derive(Debug)]
pub struct Parsed {
    pub record: Result<Event, Rejection>,
    pub received: i64,
    /// Read again after a restart for the lake only: the rules saw it before the checkpoint.
    pub replay: bool,
}

/// Something the engine reads.
pub trait Input: std::fmt::Debug + Send {
    fn name(&self) -> &str;
    /// Parses up to `max` records into `out`; returns how many records were read.
    fn poll(&mut self, max: usize, out: &mut Vec<Parsed>) -> Result<usize, InputError>;
    fn position(&self) -> Position;
    /// The checkpoint covering [`Input::position`] is saved: what it covers may go.
    fn committed(&mut self, position: &Position) -> Result<(), InputError>;
    /// Records before `engine` (read again for the lake, which lags the rules) are marked replays.
    fn replay_until(&mut self, engine: &Position);
}

#[derive(Debug, thiserror::Error)]
pub enum InputError {
    #[error(transparent)]
    Journal(#[from] JournalError),
    #[error("{path}: {source}")]
    File {
        path: String,
        source: std::io::Error,
    },
}

/// A listener's journal.
#[derive(Debug)]
pub struct JournalInput {
    name: String,
    dir: PathBuf,
    reader: Reader,
    marks: Arc<Marks>,
    stream: LineStream,
    encoding: Option<&'static encoding_rs::Encoding>,
    records: u64,
    metrics: Arc<SourceMetrics>,
    /// Records before this offset are replays.
    engine_from: Option<u64>,
}

impl JournalInput {
    /// Reads the journal in `dir` from `position` (none: its start).
    pub fn new(
        name: &str,
        dir: &Path,
        marks: Arc<Marks>,
        format: Format,
        reading: Reading,
        position: Option<&Position>,
        metrics: Arc<SourceMetrics>,
    ) -> JournalInput {
        let mut stream = reading.stream(format, name, SystemTime::now());
        let (offset, records) = match position {
            Some(Position::Journal {
                offset,
                records,
                years,
            }) => {
                if let Some(years) = years {
                    stream.resume_years(*years);
                }
                (*offset, *records)
            }
            // Nothing covered yet: from the oldest record kept.
            _ => (crate::journal::first_offset(dir), 0),
        };
        marks.consumed.store(offset, Ordering::Release);
        JournalInput {
            name: name.to_string(),
            dir: dir.to_path_buf(),
            reader: Reader::new(dir, marks.clone(), offset),
            marks,
            stream,
            encoding: reading.encoding,
            records,
            metrics,
            engine_from: None,
        }
    }
}

impl Input for JournalInput {
    fn name(&self) -> &str {
        &self.name
    }

    fn poll(&mut self, max: usize, out: &mut Vec<Parsed>) -> Result<usize, InputError> {
        let (stream, records, metrics) = (&mut self.stream, &mut self.records, &self.metrics);
        let (encoding, engine_from) = (self.encoding, &mut self.engine_from);
        let read = self.reader.read(max, &mut |offset, received, message| {
            *records += 1;
            let replay = engine_from.is_some_and(|e| offset < e);
            if !replay {
                *engine_from = None;
            }
            parse_line(stream, encoding, message, *records, &mut |record| {
                if !replay {
                    count(metrics, &record);
                }
                out.push(Parsed {
                    record,
                    received,
                    replay,
                });
            });
        })?;
        Ok(read)
    }

    fn position(&self) -> Position {
        Position::Journal {
            offset: self.reader.position(),
            records: self.records,
            years: self.stream.years(),
        }
    }

    fn committed(&mut self, position: &Position) -> Result<(), InputError> {
        if let Position::Journal { offset, .. } = position {
            self.marks.consumed.store(*offset, Ordering::Release);
            Writer::release(&self.dir, *offset)?;
        }
        Ok(())
    }

    fn replay_until(&mut self, engine: &Position) {
        if let Position::Journal { offset, .. } = engine {
            self.engine_from = Some(*offset);
        }
    }
}

fn count(metrics: &SourceMetrics, record: &Result<Event, Rejection>) {
    match record {
        Ok(_) => metrics.events.fetch_add(1, Ordering::Relaxed),
        Err(_) => metrics.rejected.fetch_add(1, Ordering::Relaxed),
    };
}

/// A followed file: read as it grows, through rotation (renamed away: the old file is read to its
/// end, then the new one from its start) and truncation (read again from the start).
#[derive(Debug)]
pub struct TailInput {
    name: String,
    path: PathBuf,
    reading: Reading,
    open: Option<Open>,
    /// A file renamed away while the process was down, to finish first.
    rotated: Option<Open>,
    metrics: Arc<SourceMetrics>,
    /// Truncations seen.
    pub truncations: u64,
    /// Lines before this place (device, inode, offset) are replays.
    engine_from: Option<(u64, u64, u64)>,
}

#[derive(Debug)]
struct Open {
    file: File,
    id: FileId,
    stream: LineStream,
    /// Offset of the next byte to read, and of the end of the last complete line handed on.
    read: u64,
    done: u64,
    line: u64,
    /// Bytes after the last line feed.
    partial: Vec<u8>,
}

/// Reads per poll at most this much of a file.
const CHUNK: usize = 1 << 20;

impl TailInput {
    pub fn new(
        name: &str,
        path: &Path,
        reading: Reading,
        position: Option<&Position>,
        metrics: Arc<SourceMetrics>,
    ) -> Result<TailInput, InputError> {
        let mut tail = TailInput {
            name: name.to_string(),
            path: path.to_path_buf(),
            reading,
            open: None,
            rotated: None,
            metrics,
            truncations: 0,
            engine_from: None,
        };
        if let Some(Position::Tail {
            file: Some(id),
            offset,
            line,
            years,
        }) = position
        {
            // The file the checkpoint was in: the path itself, or (rotated while down) a file
            // beside it with the same identity.
            if same_file(path, id) {
                tail.open = tail.resume(path, *id, *offset, *line, *years)?;
            } else if let Some(found) = find_rotated(path, id) {
                tail.rotated = tail.resume(&found, *id, *offset, *line, *years)?;
            }
        }
        Ok(tail)
    }

    fn resume(
        &mut self,
        path: &Path,
        id: FileId,
        offset: u64,
        line: u64,
        years: Option<(i32, u32)>,
    ) -> Result<Option<Open>, InputError> {
        let Some(mut open) = self.open_file(path, Some(id))? else {
            return Ok(None);
        };
        let replay = matches!(
            open.stream.format(),
            Format::Zeek | Format::Json | Format::CloudTrail | Format::Evtx
        );
        if replay {
            // The parser's state is more than a year: read the lines before the position again,
            // their records set aside.
            let mut skipped = Vec::new();
            while open.done < offset {
                let before = open.done;
                let left = (offset - open.done) as usize;
                self.read_lines(&mut open, left, &mut skipped)?;
                skipped.clear();
                if open.done == before {
                    break;
                }
            }
        } else {
            open.file
                .seek(SeekFrom::Start(offset))
                .map_err(|e| self.error(e))?;
            open.read = offset;
            open.done = offset;
            open.line = line;
            if let Some(years) = years {
                open.stream.resume_years(years);
            }
        }
        Ok(Some(open))
    }

    fn error(&self, source: std::io::Error) -> InputError {
        InputError::File {
            path: self.path.display().to_string(),
            source,
        }
    }

    /// Opens `path` (when `expect` is given, only if it is still that file).
    fn open_file(&self, path: &Path, expect: Option<FileId>) -> Result<Option<Open>, InputError> {
        let (id, file) = match identify(path) {
            Ok(found) => found,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(self.error(e)),
        };
        if expect.is_some_and(|e| !same_file(path, &e)) {
            return Ok(None);
        }
        let format = match self.reading.format {
            Some(format) => format,
            None => {
                let mut head = Vec::new();
                let _ = (&file).take(16 * 1024).read_to_end(&mut head);
                let name = path.display().to_string();
                secops_ingest::sniff::detect(&name, &head).unwrap_or(Format::Syslog)
            }
        };
        let mut file = file;
        file.seek(SeekFrom::Start(0)).map_err(|e| self.error(e))?;
        let stream = self.reading.stream(
            format,
            &self.path.display().to_string(),
            file.metadata()
                .and_then(|m| m.modified())
                .unwrap_or_else(|_| SystemTime::now()),
        );
        Ok(Some(Open {
            file,
            id,
            stream,
            read: 0,
            done: 0,
            line: 0,
            partial: Vec::new(),
        }))
    }

    /// Reads up to `limit` bytes from `open`, parsing its complete lines into `out`; returns the bytes
    /// read.
    fn read_lines(
        &mut self,
        open: &mut Open,
        limit: usize,
        out: &mut Vec<Parsed>,
    ) -> Result<usize, InputError> {
        self.read_some(open, limit, usize::MAX, out)
    }

    /// [`TailInput::read_lines`], stopping after `lines` lines (the bytes after them are read again
    /// next time).
    fn read_some(
        &mut self,
        open: &mut Open,
        limit: usize,
        lines: usize,
        out: &mut Vec<Parsed>,
    ) -> Result<usize, InputError> {
        let mut buf = vec![0; limit.clamp(1, CHUNK)];
        let n = open.file.read(&mut buf).map_err(|e| self.error(e))?;
        open.read += n as u64;
        let now = secops_event::Timestamp::now().unix_nanos();
        let mut records = 0u64;
        let mut rest = &buf[..n];
        while let Some(end) = memchr::memchr(b'\n', rest) {
            if records as usize >= lines {
                // Enough: the rest is read again from the end of the last line taken.
                open.file
                    .seek(SeekFrom::Start(open.done))
                    .map_err(|e| self.error(e))?;
                open.read = open.done;
                self.metrics.received.fetch_add(records, Ordering::Relaxed);
                return Ok(n);
            }
            let (line, after) = rest.split_at(end + 1);
            rest = after;
            open.line += 1;
            records += 1;
            let length = open.partial.len() + line.len();
            let replay = self.engine_from.is_some_and(|(dev, ino, offset)| {
                (dev, ino) != (open.id.dev, open.id.ino) || open.done < offset
            });
            if !replay {
                self.engine_from = None;
            }
            let metrics = (!replay).then_some(&*self.metrics);
            let whole;
            let line = if open.partial.is_empty() {
                line
            } else {
                let mut joined = std::mem::take(&mut open.partial);
                joined.extend_from_slice(line);
                whole = joined;
                &whole[..]
            };
            let encoding = self.reading.encoding;
            emit(
                &mut open.stream,
                encoding,
                line,
                open.line,
                now,
                metrics,
                replay,
                out,
            );
            open.done += length as u64;
        }
        // A line longer than the line limit is handed on cut (and rejected as too long).
        if open.partial.len() + rest.len() > secops_ingest::MAX_LINE + 1 {
            open.partial.clear();
        }
        open.partial.extend_from_slice(rest);
        self.metrics.received.fetch_add(records, Ordering::Relaxed);
        self.metrics.bytes.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }

    /// Hands on the last line of a file that will not grow again (rotated away).
    fn finish(&mut self, mut open: Open, out: &mut Vec<Parsed>) {
        let now = secops_event::Timestamp::now().unix_nanos();
        if !open.partial.is_empty() {
            open.line += 1;
            let partial = std::mem::take(&mut open.partial);
            let encoding = self.reading.encoding;
            let metrics = Some(&*self.metrics);
            emit(
                &mut open.stream,
                encoding,
                &partial,
                open.line,
                now,
                metrics,
                false,
                out,
            );
        }
        open.stream.finish(&mut |record| {
            out.push(Parsed {
                record,
                received: now,
                replay: false,
            })
        });
    }
}

#[allow(clippy::too_many_arguments)]
fn emit(
    stream: &mut LineStream,
    encoding: Option<&'static encoding_rs::Encoding>,
    line: &[u8],
    number: u64,
    received: i64,
    metrics: Option<&SourceMetrics>,
    replay: bool,
    out: &mut Vec<Parsed>,
) {
    parse_line(stream, encoding, line, number, &mut |record| {
        if let Some(metrics) = metrics {
            count(metrics, &record);
        }
        out.push(Parsed {
            record,
            received,
            replay,
        });
    });
}

impl Input for TailInput {
    fn name(&self) -> &str {
        &self.name
    }

    fn poll(&mut self, max: usize, out: &mut Vec<Parsed>) -> Result<usize, InputError> {
        let budget = CHUNK;
        let before = out.len();
        // First what rotated away while the process was down.
        if let Some(mut old) = self.rotated.take() {
            if self.read_some(&mut old, budget, max, out)? > 0 {
                self.rotated = Some(old);
                return Ok(out.len() - before);
            }
            self.finish(old, out);
        }
        if self.open.is_none() {
            self.open = self.open_file(&self.path.clone(), None)?;
        }
        let Some(mut open) = self.open.take() else {
            return Ok(out.len() - before);
        };
        if self.read_some(&mut open, budget, max, out)? > 0 {
            self.open = Some(open);
            return Ok(out.len() - before);
        }
        // Nothing new: has the file been rotated or truncated?
        match identify(&self.path) {
            Ok((id, _)) if id.dev != open.id.dev || id.ino != open.id.ino => {
                // Renamed away and replaced: the old one may have had a last write.
                while self.read_lines(&mut open, CHUNK, out)? > 0 {}
                self.finish(open, out);
                self.open = self.open_file(&self.path.clone(), None)?;
            }
            Ok(_) if file_len(&open.file) < open.read => {
                self.truncations += 1;
                self.open = self.open_file(&self.path.clone(), None)?;
            }
            _ => self.open = Some(open),
        }
        Ok(out.len() - before)
    }

    fn position(&self) -> Position {
        match &self.open {
            Some(open) if self.rotated.is_none() => Position::Tail {
                file: Some(open.id),
                offset: open.done,
                line: open.line,
                years: open.stream.years(),
            },
            _ => match &self.rotated {
                Some(old) => Position::Tail {
                    file: Some(old.id),
                    offset: old.done,
                    line: old.line,
                    years: old.stream.years(),
                },
                None => Position::Tail {
                    file: None,
                    offset: 0,
                    line: 0,
                    years: None,
                },
            },
        }
    }

    fn committed(&mut self, _position: &Position) -> Result<(), InputError> {
        Ok(())
    }

    fn replay_until(&mut self, engine: &Position) {
        if let Position::Tail {
            file: Some(id),
            offset,
            ..
        } = engine
        {
            self.engine_from = Some((id.dev, id.ino, *offset));
        }
    }
}

fn file_len(file: &File) -> u64 {
    file.metadata().map(|m| m.len()).unwrap_or(0)
}

/// Opens `path` and says which file it is.
fn identify(path: &Path) -> std::io::Result<(FileId, File)> {
    use std::os::unix::fs::MetadataExt;
    let mut file = File::open(path)?;
    let meta = file.metadata()?;
    let mut head = Vec::with_capacity(HEAD);
    (&mut file).take(HEAD as u64).read_to_end(&mut head)?;
    file.seek(SeekFrom::Start(0))?;
    Ok((
        FileId {
            dev: meta.dev(),
            ino: meta.ino(),
            head: crc32fast::hash(&head),
            head_len: head.len() as u32,
        },
        file,
    ))
}

/// Whether `path` is the file `id`: same device and inode, and the bytes its digest covered.
fn same_file(path: &Path, id: &FileId) -> bool {
    use std::os::unix::fs::MetadataExt;
    let Ok(mut file) = File::open(path) else {
        return false;
    };
    let Ok(meta) = file.metadata() else {
        return false;
    };
    if meta.dev() != id.dev || meta.ino() != id.ino {
        return false;
    }
    let mut head = vec![0; id.head_len as usize];
    file.read_exact(&mut head).is_ok() && crc32fast::hash(&head) == id.head
}

/// A file beside `path` (its rotated names: `auth.log.1` and the like) that is the file `id`.
fn find_rotated(path: &Path, id: &FileId) -> Option<PathBuf> {
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty())?;
    let entries = std::fs::read_dir(dir).ok()?;
    entries
        .flatten()
        .map(|entry| entry.path())
        .find(|candidate| same_file(candidate, id))
}
