//! How events are printed: JSON lines for machines, a table for people.

use clap::ValueEnum;
use secops_event::{Event, Value};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum EventOutput {
    /// One JSON object per event; `@timestamp` first, provenance under `log.source`.
    Jsonl,
    /// One aligned line per event.
    Table,
    /// Nothing but the summary.
    None,
}

/// Renders one event as a line (without newline).
pub fn render(event: &Event, output: EventOutput) -> Option<String> {
    match output {
        EventOutput::Jsonl => {
            let mut json = event.to_json();
            if let Some(map) = json.as_object_mut() {
                map.insert("log.source".into(), event.provenance().to_string().into());
            }
            Some(json.to_string())
        }
        EventOutput::Table => Some(table_row(event)),
        EventOutput::None => None,
    }
}

pub const TABLE_HEADER: &str =
    "TIME                      DATASET             ACTION                       OUTCOME  DETAILS";

fn table_row(event: &Event) -> String {
    let text = |path: &str| event.get(path).map(Value::to_string).unwrap_or_default();
    let time = event
        .timestamp()
        .map(|t| t.to_rfc3339())
        .unwrap_or_else(|| "-".into());
    let mut details = Vec::new();
    for (label, path) in [
        ("user", "user.name"),
        ("src", "source.ip"),
        ("dst", "destination.ip"),
        ("host", "host.name"),
    ] {
        if let Some(value) = event.get(path) {
            details.push(format!("{label}={value}"));
        }
    }
    for path in ["process.command_line", "url.original", "message"] {
        if let Some(value) = event.get(path) {
            details.push(value.to_string());
            break;
        }
    }
    let action = text("event.action");
    format!(
        "{time:<25} {} {} {} {}",
        cell(&text("event.dataset"), 19),
        cell(if action.is_empty() { "-" } else { &action }, 28),
        cell(&text("event.outcome"), 8),
        clip(&details.join(" ").replace(['\n', '\r', '\t'], " "), 160)
    )
}

/// `text` made safe for a terminal (control characters and bidi overrides shown as escapes) and cut to
/// `width` characters, with an ellipsis when cut; an escape is never split.
pub fn clip(text: &str, width: usize) -> String {
    secops_event::escape::terminal_clipped(text, width)
}

/// [`clip`] padded to exactly `width` terminal columns, for a table column that stays aligned whatever
/// the text's script (`{:<N}` counts characters, and a wide character takes two columns).
pub fn cell(text: &str, width: usize) -> String {
    secops_event::escape::terminal_cell(text, width)
}

/// `text` made safe for a terminal: log text is attacker-controlled, so every human-readable line that
/// carries it goes through here (or [`clip`]).
pub fn safe(text: &str) -> std::borrow::Cow<'_, str> {
    secops_event::escape::terminal(text)
}

/// A time (UTC nanoseconds) to the second, as analysts read times in tables.
pub fn time(nanos: i64) -> String {
    secops_event::Timestamp::from_unix_nanos(nanos).to_seconds()
}
