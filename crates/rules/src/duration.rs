//! Durations as rules write them: `30s`, `5m`, `1h`, `14d`, and Elastic's `now-14d`; Sigma's timespans
//! (which add weeks, months and years) through the same parser with Sigma's units.

use std::fmt;
use std::str::FromStr;

/// A positive span of time, in nanoseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Duration(u64);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid duration {text:?}: expected a whole number and a unit ({units}), like \"5m\"")]
pub struct DurationError {
    pub text: String,
    /// The units that were allowed, as a list to read.
    pub units: String,
}

const SECOND: u64 = 1_000_000_000;

/// The units of the native rule format and the command line.
pub const UNITS: &[(&str, u64)] = &[
    ("ms", 1_000_000),
    ("s", SECOND),
    ("m", 60 * SECOND),
    ("h", 3600 * SECOND),
    ("d", 86_400 * SECOND),
];

/// Sigma's timespan units, as pySigma reads them: weeks, months of 30 days and years of 365 besides
/// seconds to days (`M` is months, `m` minutes).
pub const SIGMA_UNITS: &[(&str, u64)] = &[
    ("s", SECOND),
    ("m", 60 * SECOND),
    ("h", 3600 * SECOND),
    ("d", 86_400 * SECOND),
    ("w", 7 * 86_400 * SECOND),
    ("M", 30 * 86_400 * SECOND),
    ("y", 365 * 86_400 * SECOND),
];

impl Duration {
    pub const fn from_secs(seconds: u64) -> Self {
        Duration(seconds * 1_000_000_000)
    }

    pub const fn from_nanos(nanos: u64) -> Self {
        Duration(nanos)
    }

    pub const fn as_nanos(self) -> u64 {
        self.0
    }

    /// Parses a whole number and one of `units` (`5m`); zero and overflow are errors.
    pub fn parse_in(text: &str, units: &[(&str, u64)]) -> Result<Self, DurationError> {
        let error = || DurationError {
            text: text.to_string(),
            units: units.iter().map(|(u, _)| *u).collect::<Vec<_>>().join(", "),
        };
        let trimmed = text.trim();
        let split = trimmed
            .find(|c: char| !c.is_ascii_digit())
            .ok_or_else(error)?;
        let (number, unit) = trimmed.split_at(split);
        let number: u64 = number.parse().map_err(|_| error())?;
        let nanos_per = units
            .iter()
            .find(|(name, _)| *name == unit)
            .map(|(_, nanos)| *nanos)
            .ok_or_else(error)?;
        let nanos = number
            .checked_mul(nanos_per)
            .filter(|&n| n > 0)
            .ok_or_else(error)?;
        Ok(Duration(nanos))
    }

    /// Parses `now-14d` as `14d` (Elastic's history and lookback syntax).
    pub fn parse_lookback(text: &str) -> Result<Self, DurationError> {
        text.trim().strip_prefix("now-").unwrap_or(text).parse()
    }
}

impl FromStr for Duration {
    type Err = DurationError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Duration::parse_in(text, UNITS)
    }
}

impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const UNITS: [(u64, &str); 5] = [
            (86_400_000_000_000, "d"),
            (3_600_000_000_000, "h"),
            (60_000_000_000, "m"),
            (1_000_000_000, "s"),
            (1_000_000, "ms"),
        ];
        for (size, unit) in UNITS {
            if self.0.is_multiple_of(size) {
                return write!(f, "{}{unit}", self.0 / size);
            }
        }
        write!(f, "{}ns", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_parse_and_print_back() {
        for text in ["500ms", "30s", "5m", "1h", "14d"] {
            assert_eq!(
                text.parse::<Duration>().map(|d| d.to_string()),
                Ok(text.to_string())
            );
        }
        assert_eq!(
            "90s".parse::<Duration>().map(|d| d.to_string()),
            Ok("90s".into())
        );
        assert_eq!(Duration::parse_lookback("now-14d"), "14d".parse());
    }

    #[test]
    fn zero_missing_units_and_garbage_are_rejected() {
        for text in [
            "0s",
            "5",
            "m",
            "5 weeks",
            "-5m",
            "99999999999999999999d",
            "",
        ] {
            assert!(text.parse::<Duration>().is_err(), "{text}");
        }
    }
}
