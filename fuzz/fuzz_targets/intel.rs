#![no_main]
//! Fuzz the intelligence importers: any text, read as STIX, MISP, CSV or a plain list, must give
//! indicators, rejections with reasons, or an error: never a panic.

use libfuzzer_sys::fuzz_target;
use secops_intel::csv::Mapping;
use secops_intel::{import_text, Format};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    for format in [Format::Stix, Format::Misp, Format::Csv, Format::List] {
        if let Ok(import) = import_text("fuzz", text, format, &Mapping::default()) {
            assert!(import.rejected.iter().all(|r| !r.reason.is_empty()));
        }
    }
});
