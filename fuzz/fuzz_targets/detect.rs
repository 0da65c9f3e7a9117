#![no_main]
//! Fuzz format detection followed by parsing in the detected format.

use libfuzzer_sys::fuzz_target;
use secops_ingest::{read_input, Input, Options};

fuzz_target!(|data: &[u8]| {
    let Ok(dir) = std::env::temp_dir().join(format!("secops-fuzz-{}", std::process::id())).canonicalize().or_else(|_| {
        let d = std::env::temp_dir().join(format!("secops-fuzz-{}", std::process::id()));
        std::fs::create_dir_all(&d).map(|_| d)
    }) else {
        return;
    };
    let path = dir.join("input");
    if std::fs::write(&path, data).is_err() {
        return;
    }
    if let Ok(summary) = read_input(&Input::File(path), &Options::default(), &mut |_| {}) {
        assert_eq!(summary.read, summary.parsed + summary.rejected);
    }
});
