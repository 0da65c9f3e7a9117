#![no_main]
//! Fuzz the evtx parser: any bytes must yield events or located rejections, never a panic.

use libfuzzer_sys::fuzz_target;
use secops_ingest::{read_bytes, Format, Options};

fuzz_target!(|data: &[u8]| {
    let options = Options { year: Some(2024), ..Options::default() };
    let summary = read_bytes(Format::Evtx, "fuzz", data, &options, &mut |_| {});
    assert_eq!(summary.read, summary.parsed + summary.rejected);
});
