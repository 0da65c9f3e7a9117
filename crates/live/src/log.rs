//! Log lines of a running process, as ECS JSON lines on standard error (escaped by the JSON encoder:
//! what senders wrote never reaches a terminal raw). Warnings of one kind from one listener are limited
//! to one per ten seconds, with the number suppressed since the last one.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

const EVERY: Duration = Duration::from_secs(10);

/// Per source and kind: when the last line was logged, and how many were held back since.
type Last = HashMap<(String, &'static str), (Instant, u64)>;

/// Rate-limited warnings.
#[derive(Debug, Default)]
pub struct Warnings {
    last: Mutex<Last>,
}

impl Warnings {
    /// Logs `message` for `source` unless one of `kind` was logged in the last ten seconds (then it is
    /// counted into the next).
    pub fn warn(&self, source: &str, kind: &'static str, message: &str) {
        let Ok(mut last) = self.last.lock() else {
            return;
        };
        let now = Instant::now();
        let entry = last
            .entry((source.to_string(), kind))
            .or_insert((now - EVERY - Duration::from_millis(1), 0));
        if now.duration_since(entry.0) < EVERY {
            entry.1 += 1;
            return;
        }
        let suppressed = std::mem::take(&mut entry.1);
        entry.0 = now;
        drop(last);
        line("warning", source, kind, message, suppressed);
    }
}

/// One log line.
pub fn line(level: &str, source: &str, kind: &str, message: &str, suppressed: u64) {
    let mut record = serde_json::json!({
        "@timestamp": secops_event::Timestamp::now().to_rfc3339(),
        "log.level": level,
        "log.logger": "secops.run",
        "event.kind": kind,
        "observer.ingress.name": source,
        "message": message,
    });
    if suppressed > 0 {
        record["event.count"] = serde_json::json!(suppressed + 1);
    }
    eprintln!("{record}");
}

/// An informational line.
pub fn info(source: &str, message: &str) {
    line("info", source, "status", message, 0);
}
