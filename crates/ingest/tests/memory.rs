//! Memory stays bounded whatever the input's size or shape. These checks count what the process
//! allocates (a peak-tracking allocator), so they run in this binary of their own, one after another:
//! no other test allocates at the same time.

#![allow(clippy::unwrap_used)]

mod common;

use std::io::Write;

use peak_alloc::PeakAlloc;
use secops_ingest::{read_bytes, read_input, Format, Input, Options};

#[global_allocator]
static ALLOCATOR: PeakAlloc = PeakAlloc;

/// The most `f` had allocated at once, beyond what was allocated before it.
fn peak_bytes<T>(f: impl FnOnce() -> T) -> (T, usize) {
    let base = ALLOCATOR.current_usage();
    ALLOCATOR.reset_peak_usage();
    let out = f();
    (out, ALLOCATOR.peak_usage().saturating_sub(base))
}

#[test]
fn memory_stays_bounded_whatever_the_input() {
    a_document_of_any_size_is_read_one_record_at_a_time();
    a_gzip_bomb_is_read_in_bounded_memory();
}

/// One pretty-printed document of any size (CloudTrail's `{"Records": [...]}`, or a top-level array) is
/// read one record at a time: the records all arrive and what is held at once stays a few records' worth,
/// far below the document's size. Before, the document was buffered whole, re-parsed at every line
/// starting with `}` (quadratic: 3.5 MB took five minutes) and refused past 256 MB.
fn a_document_of_any_size_is_read_one_record_at_a_time() {
    let record = |i: usize| {
        format!(
            "  {{\n   \"eventVersion\": \"1.08\",\n   \"eventTime\": \"2024-05-14T09:{:02}:{:02}Z\",\n   \"eventSource\": \"signin.amazonaws.com\",\n   \"eventName\": \"ConsoleLogin\",\n   \"sourceIPAddress\": \"198.51.100.{}\",\n   \"userIdentity\": {{\"type\": \"IAMUser\", \"userName\": \"user{i}\"}},\n   \"responseElements\": {{\"ConsoleLogin\": \"Failure\"}}\n  }}",
            i / 60 % 60,
            i % 60,
            i % 250
        )
    };
    let count = 60_000;
    let mut cloudtrail = String::from("{\n \"Records\": [\n");
    let mut array = String::from("[\n");
    for i in 0..count {
        let sep = if i + 1 < count { ",\n" } else { "\n" };
        cloudtrail.push_str(&record(i));
        cloudtrail.push_str(sep);
        array.push_str(&record(i));
        array.push_str(sep);
    }
    cloudtrail.push_str(" ]\n}\n");
    array.push_str("]\n");
    assert!(cloudtrail.len() > 16 << 20, "{}", cloudtrail.len());
    for (format, text) in [(Format::CloudTrail, &cloudtrail), (Format::Json, &array)] {
        let mut parsed = 0u64;
        let (summary, peak) = peak_bytes(|| {
            read_bytes(
                format,
                "big.json",
                text.as_bytes(),
                &Options::default(),
                &mut |r| parsed += u64::from(r.is_ok()),
            )
        });
        assert_eq!(
            (summary.parsed, summary.rejected),
            (count as u64, 0),
            "{summary}"
        );
        assert_eq!(parsed, count as u64);
        assert!(
            peak < 2 << 20,
            "{format}: {peak} bytes held for a {} byte document",
            text.len()
        );
    }
}

/// A gzip bomb (a small file that inflates to hundreds of megabytes, in one endless line and in many
/// lines) is read in bounded memory: the long line is rejected with its number, the lines are read.
fn a_gzip_bomb_is_read_in_bounded_memory() {
    let dir = tempfile::tempdir().unwrap();
    let bomb = |name: &str, chunk: &[u8], times: usize| {
        let path = dir.path().join(name);
        let file = std::fs::File::create(&path).unwrap();
        let mut gz = flate2::write::GzEncoder::new(file, flate2::Compression::best());
        for _ in 0..times {
            gz.write_all(chunk).unwrap();
        }
        gz.finish().unwrap();
        path
    };
    let zeros = bomb("zeros.log.gz", &[0u8; 1 << 20], 64);
    let lines = bomb(
        "auth.log.gz",
        &b"Dec 10 07:13:43 LabSZ sshd[24227]: Failed password for root from 5.36.59.76 port 42393 ssh2\n"
            .repeat(10_000),
        20,
    );
    assert!(std::fs::metadata(&zeros).unwrap().len() < 1 << 20);
    let options = Options {
        year: Some(2016),
        format: Some(Format::Syslog),
        timezone: None,
        evtx_recover: false,
        counters: None,
    };
    let (read, peak) = peak_bytes(|| common::read_path(&zeros, &options));
    assert_eq!(read.summary.rejected, 1, "{}", read.summary);
    assert!(
        read.rejections[0].to_string().contains("line longer than"),
        "{}",
        read.summary
    );
    assert!(peak < 16 << 20, "{peak} bytes held for a 64 MiB line");
    let mut parsed = 0u64;
    let (summary, peak) = peak_bytes(|| {
        read_input(&Input::File(lines.clone()), &options, &mut |r| {
            parsed += u64::from(r.is_ok())
        })
        .unwrap()
    });
    assert_eq!(summary.parsed, 200_000, "{summary}");
    assert!(
        peak < 4 << 20,
        "{peak} bytes held while reading 200,000 lines"
    );
}
