//! Inputs: paths, directories, glob patterns and standard input, opened with gzip undone.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Cursor, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use crate::IngestError;

/// How many leading bytes are kept for format detection.
pub(crate) const SNIFF_LEN: usize = 16 * 1024;

/// One thing to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    Stdin,
    File(PathBuf),
}

impl Input {
    /// The name events carry as their source: the path as given, or `-`.
    pub fn name(&self) -> String {
        match self {
            Input::Stdin => "-".to_string(),
            Input::File(path) => path.display().to_string(),
        }
    }

    /// Whether `error` only means this input is not a log: a file of unknown format met while walking a
    /// directory (a README, a licence) is skipped, not a failure; a file named itself (`named`, the
    /// arguments as given) must be readable.
    pub fn skipped_in_walk(&self, named: &[String], error: &crate::IngestError) -> bool {
        matches!(error, crate::IngestError::UnknownFormat { .. })
            && !named.iter().any(|n| *n == self.name())
    }

    /// The size in bytes, when known (for progress).
    pub fn size_bytes(&self) -> Option<u64> {
        match self {
            Input::Stdin => None,
            Input::File(path) => std::fs::metadata(path).ok().map(|m| m.len()),
        }
    }
}

/// The inputs named on a command line, in order: `-` is standard input, a directory is walked (sorted, files
/// only), a pattern with `*`, `?` or `[` is expanded. Problems with one argument do not stop the others.
pub fn expand(args: &[impl AsRef<str>]) -> (Vec<Input>, Vec<IngestError>) {
    let mut inputs = Vec::new();
    let mut errors = Vec::new();
    for arg in args {
        let arg = arg.as_ref();
        if arg == "-" {
            inputs.push(Input::Stdin);
        } else if arg.contains(['*', '?', '[']) && !Path::new(arg).exists() {
            expand_glob(arg, &mut inputs, &mut errors);
        } else {
            expand_path(Path::new(arg), &mut inputs, &mut errors);
        }
    }
    (inputs, errors)
}

fn expand_glob(pattern: &str, inputs: &mut Vec<Input>, errors: &mut Vec<IngestError>) {
    let paths = match glob::glob(pattern) {
        Ok(paths) => paths,
        Err(e) => {
            errors.push(IngestError::Glob {
                pattern: pattern.to_string(),
                reason: e.msg.to_string(),
            });
            return;
        }
    };
    let before = inputs.len();
    for entry in paths {
        match entry {
            Ok(path) => expand_path(&path, inputs, errors),
            Err(e) => errors.push(IngestError::Io {
                path: e.path().to_path_buf(),
                source: io::Error::new(e.error().kind(), e.error().to_string()),
            }),
        }
    }
    if inputs.len() == before {
        errors.push(IngestError::NoMatch {
            pattern: pattern.to_string(),
        });
    }
}

fn expand_path(path: &Path, inputs: &mut Vec<Input>, errors: &mut Vec<IngestError>) {
    match std::fs::metadata(path) {
        Ok(meta) if meta.is_dir() => {
            let walk = walkdir::WalkDir::new(path)
                .sort_by_file_name()
                .follow_links(true);
            for entry in walk {
                match entry {
                    Ok(entry) if entry.file_type().is_file() => {
                        inputs.push(Input::File(entry.into_path()))
                    }
                    Ok(_) => {}
                    Err(e) => errors.push(IngestError::Io {
                        path: e.path().unwrap_or(path).to_path_buf(),
                        source: io::Error::other(e.to_string()),
                    }),
                }
            }
        }
        Ok(_) => inputs.push(Input::File(path.to_path_buf())),
        Err(source) => errors.push(IngestError::Io {
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// An opened input: its first bytes (after gzip) for detection, and a reader that still yields them.
pub(crate) struct Opened {
    pub head: Vec<u8>,
    pub reader: Box<dyn BufRead + Send>,
    pub gzip: bool,
    pub modified: Option<SystemTime>,
}

pub(crate) fn open(
    input: &Input,
    counters: Option<Arc<crate::Counters>>,
) -> Result<Opened, IngestError> {
    let io_error = |source| IngestError::Io {
        path: PathBuf::from(input.name()),
        source,
    };
    let (raw, modified): (Box<dyn Read + Send>, _) = match input {
        Input::Stdin => (Box::new(io::stdin()), None),
        Input::File(path) => {
            // Opening a FIFO waits for a writer, for ever if none comes: only regular files (and
            // `-` for a pipe) are read. `metadata` follows links, so a link to a file is a file.
            let meta = std::fs::metadata(path).map_err(io_error)?;
            if !meta.is_file() {
                return Err(io_error(io::Error::other(
                    "not a regular file (a pipe, socket or device); pipe it to `-` instead",
                )));
            }
            let file = File::open(path).map_err(io_error)?;
            let modified = file.metadata().and_then(|m| m.modified()).ok();
            match counters {
                Some(counters) => (
                    Box::new(Counted {
                        inner: file,
                        counters,
                    }),
                    modified,
                ),
                None => (Box::new(file), modified),
            }
        }
    };
    let mut raw = BufReader::with_capacity(64 * 1024, raw);
    let gzip = raw.fill_buf().map_err(io_error)?.starts_with(&[0x1f, 0x8b]);
    let mut inner: Box<dyn Read + Send> = if gzip {
        Box::new(flate2::read::MultiGzDecoder::new(raw))
    } else {
        Box::new(raw)
    };
    let mut head = Vec::with_capacity(SNIFF_LEN);
    (&mut inner)
        .take(SNIFF_LEN as u64)
        .read_to_end(&mut head)
        .map_err(io_error)?;
    let reader = BufReader::with_capacity(64 * 1024, Cursor::new(head.clone()).chain(inner));
    Ok(Opened {
        head,
        reader: Box::new(reader),
        gzip,
        modified,
    })
}

/// A reader that counts the bytes it reads into shared counters.
struct Counted<R> {
    inner: R,
    counters: Arc<crate::Counters>,
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.counters
            .bytes
            .fetch_add(n as u64, std::sync::atomic::Ordering::Relaxed);
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn directories_are_walked_in_name_order() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        for name in ["b.log", "a.log", "sub/c.log"] {
            File::create(dir.path().join(name)).unwrap();
        }
        let (inputs, errors) = expand(&[dir.path().to_str().unwrap()]);
        assert!(errors.is_empty());
        let names: Vec<_> = inputs
            .iter()
            .map(|i| {
                i.name()
                    .trim_start_matches(dir.path().to_str().unwrap())
                    .to_string()
            })
            .collect();
        assert_eq!(names, ["/a.log", "/b.log", "/sub/c.log"]);
    }

    #[test]
    fn globs_expand_and_a_missing_path_is_an_error_for_that_path_only() {
        let dir = tempfile::tempdir().unwrap();
        File::create(dir.path().join("x.log")).unwrap();
        File::create(dir.path().join("y.txt")).unwrap();
        let pattern = format!("{}/*.log", dir.path().display());
        let missing = format!("{}/nope.log", dir.path().display());
        let (inputs, errors) = expand(&[pattern.as_str(), missing.as_str()]);
        assert_eq!(inputs, [Input::File(dir.path().join("x.log"))]);
        assert_eq!(errors.len(), 1);
        assert!(errors[0].to_string().contains("nope.log"), "{}", errors[0]);
    }

    #[test]
    fn gzip_is_undone_and_head_is_replayed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("auth.log.gz");
        let mut gz = flate2::write::GzEncoder::new(
            File::create(&path).unwrap(),
            flate2::Compression::fast(),
        );
        gz.write_all(b"line one\nline two\n").unwrap();
        gz.finish().unwrap();
        let mut opened = open(&Input::File(path), None).unwrap();
        assert!(opened.gzip);
        assert_eq!(opened.head, b"line one\nline two\n");
        let mut all = String::new();
        opened.reader.read_to_string(&mut all).unwrap();
        assert_eq!(all, "line one\nline two\n");
    }
}
