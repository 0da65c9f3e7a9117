//! UTC timestamps with nanosecond precision.

use std::fmt;

use chrono::{DateTime, NaiveDateTime, SecondsFormat, TimeZone, Utc};

/// Nanoseconds since the Unix epoch, UTC. Covers the years 1678 to 2262, which is every log we will read.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(transparent)]
pub struct Timestamp(i64);

/// Why text could not be read as a timestamp.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid timestamp {text:?}: {reason}")]
pub struct TimestampError {
    pub text: String,
    pub reason: &'static str,
}

impl Timestamp {
    pub const fn from_unix_nanos(nanos: i64) -> Self {
        Timestamp(nanos)
    }

    pub const fn unix_nanos(self) -> i64 {
        self.0
    }

    /// From fractional Unix seconds (Zeek's `ts`), rounded to the microsecond those logs carry.
    pub fn from_unix_seconds_f64(seconds: f64) -> Option<Self> {
        // Whole microseconds first: f64 cannot hold nanoseconds since 1970 exactly.
        let micros = (seconds * 1e6).round();
        if !micros.is_finite() || micros.abs() >= (i64::MAX / 1000) as f64 {
            return None;
        }
        (micros as i64).checked_mul(1000).map(Timestamp)
    }

    /// The system clock's time now: the one clock of the workspace (services take it through an
    /// injectable clock, so tests can pin it). A clock before 1970 reads as 1970, one past 2262 as 2262.
    pub fn now() -> Self {
        let nanos = match std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
            Ok(d) => i64::try_from(d.as_nanos()).unwrap_or(i64::MAX),
            Err(_) => 0,
        };
        Timestamp(nanos)
    }

    pub fn from_unix_millis(millis: i64) -> Option<Self> {
        millis.checked_mul(1_000_000).map(Timestamp)
    }

    pub fn from_datetime<Tz: TimeZone>(datetime: &DateTime<Tz>) -> Option<Self> {
        datetime.timestamp_nanos_opt().map(Timestamp)
    }

    /// A date and time without zone, taken as UTC.
    pub fn from_naive_utc(naive: &NaiveDateTime) -> Option<Self> {
        naive.and_utc().timestamp_nanos_opt().map(Timestamp)
    }

    /// Parses RFC 3339 (`2024-03-01T12:00:00.5Z`, `2024-03-01 12:00:00+02:00`); text without a zone
    /// (`2024-03-01T12:00:00.123`) is taken as UTC, as EVTX and Sysmon write it.
    pub fn parse_rfc3339(text: &str) -> Result<Self, TimestampError> {
        let error = |reason| TimestampError {
            text: text.to_string(),
            reason,
        };
        if let Ok(dt) = DateTime::parse_from_rfc3339(text) {
            return Timestamp::from_datetime(&dt).ok_or_else(|| error("out of range"));
        }
        for format in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f"] {
            if let Ok(naive) = NaiveDateTime::parse_from_str(text, format) {
                return Timestamp::from_naive_utc(&naive).ok_or_else(|| error("out of range"));
            }
        }
        if let Ok(dt) = DateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S%.f%:z") {
            return Timestamp::from_datetime(&dt).ok_or_else(|| error("out of range"));
        }
        Err(error("expected an RFC 3339 date and time"))
    }

    pub fn to_datetime(self) -> DateTime<Utc> {
        DateTime::from_timestamp_nanos(self.0)
    }

    /// RFC 3339 in UTC with as many fraction digits as needed (0, 3, 6 or 9).
    pub fn to_rfc3339(self) -> String {
        self.to_datetime()
            .to_rfc3339_opts(SecondsFormat::AutoSi, true)
    }

    /// To the second, the one form people read times in (tables, listings, exports):
    /// `2024-05-14T09:21:13Z`.
    pub fn to_seconds(self) -> String {
        self.to_datetime().format("%Y-%m-%dT%H:%M:%SZ").to_string()
    }

    /// The same instant laid out for printed documents (case reports): `2024-05-14 09:21:13 UTC`.
    pub fn to_printable(self) -> String {
        self.to_datetime()
            .format("%Y-%m-%d %H:%M:%S UTC")
            .to_string()
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_rfc3339())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_round_trips_with_nanoseconds() {
        let ts = Timestamp::parse_rfc3339("2025-11-27T07:40:10.165324123Z").unwrap_or(Timestamp(0));
        assert_eq!(ts.to_rfc3339(), "2025-11-27T07:40:10.165324123Z");
    }

    #[test]
    fn offsets_are_converted_to_utc() {
        let ts = Timestamp::parse_rfc3339("2024-01-01T02:00:00+02:00");
        assert_eq!(
            ts.map(|t| t.to_rfc3339()),
            Ok("2024-01-01T00:00:00Z".into())
        );
    }

    #[test]
    fn text_without_zone_is_utc() {
        let ts = Timestamp::parse_rfc3339("2025-11-27 07:40:10.132");
        assert_eq!(
            ts.map(|t| t.to_rfc3339()),
            Ok("2025-11-27T07:40:10.132Z".into())
        );
    }

    #[test]
    fn zeek_float_seconds_keep_their_microseconds_exactly() {
        let ts = Timestamp::from_unix_seconds_f64(1_715_677_199.859_066);
        assert_eq!(
            ts.map(|t| t.to_rfc3339()),
            Some("2024-05-14T08:59:59.859066Z".into())
        );
    }

    #[test]
    fn garbage_is_an_error_naming_the_text() {
        let err = Timestamp::parse_rfc3339("yesterday").err();
        assert_eq!(
            err.map(|e| e.to_string()),
            Some("invalid timestamp \"yesterday\": expected an RFC 3339 date and time".into())
        );
    }
}
