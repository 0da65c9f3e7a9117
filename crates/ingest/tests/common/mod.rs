//! Helpers shared by the integration tests.
#![allow(dead_code, clippy::panic, clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use secops_event::Event;
use secops_ingest::{read_bytes, read_input, Format, Input, Options, Rejection, Summary};

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

pub fn sample(name: &str) -> PathBuf {
    repo_root().join("samples").join(name)
}

/// `../shared/corpus/<sub>` (see [`secops_testkit::shared`]).
pub fn shared(sub: &str) -> Option<PathBuf> {
    secops_testkit::shared(&format!("corpus/{sub}"))
}

pub struct Read {
    pub summary: Summary,
    pub events: Vec<Event>,
    pub rejections: Vec<Rejection>,
}

pub fn read_path(path: &Path, options: &Options) -> Read {
    let mut events = Vec::new();
    let mut rejections = Vec::new();
    let summary = read_input(
        &Input::File(path.to_path_buf()),
        options,
        &mut |r| match r {
            Ok(e) => events.push(e),
            Err(r) => rejections.push(r),
        },
    )
    .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    Read {
        summary,
        events,
        rejections,
    }
}

pub fn read_text(format: Format, text: &str, options: &Options) -> Read {
    let mut events = Vec::new();
    let mut rejections = Vec::new();
    let summary = read_bytes(
        format,
        "test.log",
        text.as_bytes(),
        options,
        &mut |r| match r {
            Ok(e) => events.push(e),
            Err(r) => rejections.push(r),
        },
    );
    Read {
        summary,
        events,
        rejections,
    }
}

pub fn year(y: i32) -> Options {
    Options {
        year: Some(y),
        ..Options::default()
    }
}

pub fn text(event: &Event, path: &str) -> Option<String> {
    event.get_value(path).map(|v| v.to_string())
}
