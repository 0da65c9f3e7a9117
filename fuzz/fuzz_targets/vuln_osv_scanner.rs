#![no_main]
//! Fuzz the osv-scanner report importer: any bytes must give an error naming the file, or
//! every entry the format lists accounted for (a finding or a located rejection), never a panic.

use libfuzzer_sys::fuzz_target;
use secops_vuln::import::{import_reader, Collect};
use secops_vuln::Format;

fuzz_target!(|data: &[u8]| {
    let mut found = Collect::default();
    if let Ok(tally) = import_reader("fuzz", data, Some(Format::OsvScanner), &mut found) {
        let kept = found.findings.len() as u64;
        assert!(kept + tally.rejected.len() as u64 >= tally.read);
        for f in &found.findings {
            assert!(found.scopes.iter().any(|(t, s)| *t == f.tool && *s == f.scope));
        }
    }
});
