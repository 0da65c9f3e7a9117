//! Peak memory of this process.

/// The peak resident set size in bytes (Linux `VmHWM`), if the platform tells.
pub fn peak_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// `123.4 MB`, or `n/a`.
pub fn format_peak() -> String {
    peak_rss_bytes().map_or_else(
        || "n/a".to_string(),
        |b| format!("{:.1} MB", b as f64 / 1e6),
    )
}
