//! Peak memory and CPU time of this process, and how promptly the allocator gives freed memory back.

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

/// CPU time this process has used (user and system, all threads), in seconds, if the platform
/// tells (Linux `/proc/self/stat`, in the kernel's 100 ticks a second).
pub fn cpu_seconds() -> Option<f64> {
    cpu_seconds_of("self")
}

/// CPU time process `pid` (`self`: this one) has used, as [`cpu_seconds`].
pub fn cpu_seconds_of(pid: &str) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The fields after the command name (which may hold spaces, so read from its closing paren).
    let rest = stat.get(stat.rfind(')')? + 1..)?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the whole line: 12 and 13 after the name.
    let user: u64 = fields.get(11)?.parse().ok()?;
    let system: u64 = fields.get(12)?.parse().ok()?;
    Some((user + system) as f64 / 100.0)
}

// mimalloc's option API (the `mimalloc` crate links the library; its bindings crate names the
// options by number).
extern "C" {
    #[cfg(test)]
    fn mi_option_get(option: std::os::raw::c_int) -> std::os::raw::c_long;
    fn mi_option_set(option: std::os::raw::c_int, value: std::os::raw::c_long);
}

/// `mi_option_purge_delay` in mimalloc's option list (milliseconds before freed pages go back to
/// the system; 1,000 in this build). mimalloc keeps option numbers stable (retired options keep
/// their place as `deprecated_*`).
const PURGE_DELAY: std::os::raw::c_int = 15;

/// Has the allocator give freed memory back to the system at once instead of a second later. Hunts
/// free and allocate hundreds of megabytes of batches a second on several threads; with the delay,
/// freed pages pile up faster than they are returned, and a hunt's peak memory doubled (measured on
/// the 20-million-event bench: stacking 920 MB against 480 MB, beaconing 1,040 MB against 650 MB,
/// each about 10% slower). Left alone when `MIMALLOC_PURGE_DELAY` sets the delay.
#[allow(unsafe_code)]
pub fn return_freed_memory_promptly() {
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_some() {
        return;
    }
    // SAFETY: stores one integer in mimalloc's option table, which mimalloc documents as settable
    // at run time.
    unsafe { mi_option_set(PURGE_DELAY, 0) }
}

#[cfg(test)]
mod tests {
    #[test]
    #[allow(unsafe_code)]
    fn the_purge_delay_is_the_option_set_to_nothing() {
        if std::env::var_os("MIMALLOC_PURGE_DELAY").is_some() {
            return;
        }
        // SAFETY: reads one integer of mimalloc's option table.
        let before = unsafe { super::mi_option_get(super::PURGE_DELAY) };
        assert_eq!(
            before, 1000,
            "the option at this number is not the purge delay"
        );
        super::return_freed_memory_promptly();
        // SAFETY: as above.
        let after = unsafe { super::mi_option_get(super::PURGE_DELAY) };
        assert_eq!(after, 0);
    }

    #[test]
    fn cpu_time_is_read_and_grows_with_work() {
        let before = super::cpu_seconds().unwrap_or_default();
        let mut x = 0u64;
        for i in 0..50_000_000u64 {
            x = x.wrapping_mul(31).wrapping_add(i);
        }
        std::hint::black_box(x);
        let after = super::cpu_seconds().unwrap_or_default();
        assert!(after >= before && after > 0.0, "{before} then {after}");
    }
}
