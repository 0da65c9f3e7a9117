#![no_main]
//! Fuzz the catalogs `vuln refresh` reads (KEV JSON and CSV, EPSS CSV, SSVC tables, OSV records):
//! any text must load or give an error, never a panic.

use libfuzzer_sys::fuzz_target;
use secops_vuln::{catalog, osv, ssvc};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let _ = catalog::read_kev("fuzz", &text);
    let _ = catalog::read_epss("fuzz", data);
    if let Ok(table) = ssvc::DecisionTable::from_csv("fuzz", &text) {
        let _ = table.bod_26_04_differences();
    }
    let _ = osv::read_records("fuzz", &text);
});
