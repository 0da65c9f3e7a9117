//! The registry of log formats: one row per format, one parser file per format under `formats/`.

use std::fmt;
use std::str::FromStr;

use crate::IngestError;

/// A log format `secops` reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Format {
    Evtx,
    Json,
    Syslog,
    ApacheAccess,
    ApacheError,
    CloudTrail,
    Zeek,
    Cef,
}

/// What `secops formats` prints about a format.
#[derive(Debug)]
pub struct FormatInfo {
    pub format: Format,
    pub name: &'static str,
    pub description: &'static str,
    /// Extensions that select the format on their own (others are sniffed from the content).
    pub extensions: &'static [&'static str],
}

pub const FORMATS: &[FormatInfo] = &[
    FormatInfo {
        format: Format::Evtx,
        name: "evtx",
        description: "Windows XML Event Log files (binary EVTX); Event.System.* and Event.EventData.* kept",
        extensions: &["evtx"],
    },
    FormatInfo {
        format: Format::Json,
        name: "json",
        description: "JSON lines or JSON documents: ECS documents pass through; evtx_dump, CloudTrail and Zeek records are recognized per record",
        extensions: &["jsonl", "ndjson"],
    },
    FormatInfo {
        format: Format::Syslog,
        name: "syslog",
        description: "syslog RFC 3164 (BSD, no year: --year or file time) and RFC 5424; sshd, sudo, su, pam, useradd, cron, logind mapped to ECS",
        extensions: &[],
    },
    FormatInfo {
        format: Format::ApacheAccess,
        name: "apache_access",
        description: "Apache and nginx access logs, common and combined",
        extensions: &[],
    },
    FormatInfo {
        format: Format::ApacheError,
        name: "apache_error",
        description: "Apache httpd error log (2.2 and 2.4 layouts)",
        extensions: &[],
    },
    FormatInfo {
        format: Format::CloudTrail,
        name: "cloudtrail",
        description: "AWS CloudTrail: {\"Records\": [...]} files or one record per line",
        extensions: &[],
    },
    FormatInfo {
        format: Format::Zeek,
        name: "zeek",
        description: "Zeek logs, TSV with #fields headers or JSON (conn, dns, http, ssl, files and others)",
        extensions: &[],
    },
    FormatInfo {
        format: Format::Cef,
        name: "cef",
        description: "ArcSight Common Event Format, alone or behind a syslog header",
        extensions: &["cef"],
    },
];

impl Format {
    pub fn info(self) -> &'static FormatInfo {
        // Every variant has a row; the registry test below keeps it that way.
        FORMATS
            .iter()
            .find(|i| i.format == self)
            .unwrap_or(&FORMATS[0])
    }

    pub fn name(self) -> &'static str {
        self.info().name
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Format {
    type Err = IngestError;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        let wanted = name.trim().to_ascii_lowercase().replace('-', "_");
        FORMATS
            .iter()
            .find(|i| i.name == wanted)
            .map(|i| i.format)
            .ok_or_else(|| IngestError::UnknownFormatName {
                name: name.to_string(),
                known: FORMATS
                    .iter()
                    .map(|i| i.name)
                    .collect::<Vec<_>>()
                    .join(", "),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_format_has_one_registry_row() {
        let all = [
            Format::Evtx,
            Format::Json,
            Format::Syslog,
            Format::ApacheAccess,
            Format::ApacheError,
            Format::CloudTrail,
            Format::Zeek,
            Format::Cef,
        ];
        assert_eq!(all.len(), FORMATS.len());
        for format in all {
            assert_eq!(
                FORMATS.iter().filter(|i| i.format == format).count(),
                1,
                "{format:?}"
            );
            assert_eq!(format.info().format, format);
        }
    }

    #[test]
    fn names_parse_back_to_formats() {
        for info in FORMATS {
            assert_eq!(info.name.parse::<Format>().ok(), Some(info.format));
        }
        assert_eq!(
            "Apache-Access".parse::<Format>().ok(),
            Some(Format::ApacheAccess)
        );
    }

    #[test]
    fn unknown_name_lists_the_known_ones() {
        let err = "windows"
            .parse::<Format>()
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("unknown format \"windows\""), "{err}");
        assert!(err.contains("evtx, json, syslog"), "{err}");
    }
}
