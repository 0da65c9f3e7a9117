//! `secops formats`: the format registry, as a table.

use secops_ingest::FORMATS;

use crate::Outcome;

pub fn run() -> anyhow::Result<Outcome> {
    println!("{:<14} {:<10} DESCRIPTION", "FORMAT", "EXTENSIONS");
    for info in FORMATS {
        let extensions = if info.extensions.is_empty() {
            "-".to_string()
        } else {
            info.extensions.join(",")
        };
        println!("{:<14} {:<10} {}", info.name, extensions, info.description);
    }
    println!("\nFormats are detected per input from the extension, magic bytes and first lines; gzip is undone first.");
    Ok(Outcome::Clean)
}
