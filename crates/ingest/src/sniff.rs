//! Format detection from a file's name and first bytes.

use std::path::Path;

use crate::formats::{apache_access, apache_error, cef, syslog};
use crate::{Format, FORMATS};

/// The EVTX file header magic.
pub(crate) const EVTX_MAGIC: &[u8] = b"ElfFile\0";

/// Why a format could not be detected.
pub type Undetected = &'static str;

/// Detects the format of `head`, the first bytes of an input (after gzip), named `name`.
pub fn detect(name: &str, head: &[u8]) -> Result<Format, Undetected> {
    if head.starts_with(EVTX_MAGIC) {
        return Ok(Format::Evtx);
    }
    if let Some(format) = by_extension(name) {
        return Ok(format);
    }
    if head.is_empty() {
        return Err("the input is empty");
    }
    if looks_binary(head) {
        return Err("binary data");
    }
    let text = String::from_utf8_lossy(head);
    let trimmed = text.trim_start_matches('\u{feff}').trim_start();
    if trimmed.starts_with("#separator") || trimmed.starts_with("#fields") {
        return Ok(Format::Zeek);
    }
    let first_line = trimmed.lines().next().unwrap_or("");
    if first_line.starts_with('[') && apache_error::is_error_line(first_line) {
        return Ok(Format::ApacheError);
    }
    if trimmed.starts_with('{') || trimmed.starts_with('[') {
        let start = &trimmed[..trimmed.len().min(512)];
        return Ok(if is_cloudtrail_document(start) {
            Format::CloudTrail
        } else {
            Format::Json
        });
    }
    let lines: Vec<&str> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .take(5)
        .collect();
    // Full lines only: the last one may be cut by the sniff length.
    let complete = if lines.len() > 1 {
        &lines[..lines.len() - 1]
    } else {
        &lines[..]
    };
    let all = |test: fn(&str) -> bool| !complete.is_empty() && complete.iter().all(|l| test(l));
    if all(cef::is_cef_line) {
        return Ok(Format::Cef);
    }
    if all(apache_error::is_error_line) {
        return Ok(Format::ApacheError);
    }
    if all(apache_access::is_access_line) {
        return Ok(Format::ApacheAccess);
    }
    if all(syslog::is_syslog_line) {
        return Ok(Format::Syslog);
    }
    Err("no known format matches its first lines")
}

fn by_extension(name: &str) -> Option<Format> {
    let lower = name.to_ascii_lowercase();
    let lower = lower.strip_suffix(".gz").unwrap_or(&lower);
    let ext = Path::new(lower).extension()?.to_str()?;
    FORMATS
        .iter()
        .find(|i| i.extensions.contains(&ext))
        .map(|i| i.format)
}

fn is_cloudtrail_document(start: &str) -> bool {
    let compact: String = start
        .chars()
        .filter(|c| !c.is_whitespace())
        .take(64)
        .collect();
    compact.starts_with("{\"Records\":[") || compact.starts_with("{\"Records\":[]")
}

/// NUL bytes, or mostly bytes that are neither printable ASCII nor valid UTF-8.
pub(crate) fn looks_binary(head: &[u8]) -> bool {
    let sample = &head[..head.len().min(4096)];
    if sample.contains(&0) {
        return true;
    }
    let text = String::from_utf8_lossy(sample);
    let bad = text
        .chars()
        .filter(|&c| c == '\u{fffd}' || (c.is_control() && !c.is_whitespace()))
        .count();
    bad * 10 > text.chars().count().max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_text_format_is_detected_from_its_first_lines() {
        let cases: &[(&str, Format)] = &[
            ("Dec 10 06:55:46 LabSZ sshd[24200]: Invalid user webmaster from 173.234.31.186\nDec 10 06:55:48 LabSZ sshd[24200]: Connection closed by 173.234.31.186 [preauth]\n", Format::Syslog),
            ("<34>1 2003-10-11T22:14:15.003Z mymachine.example.com su - ID47 - 'su root' failed for lonvick on /dev/pts/8\n", Format::Syslog),
            ("192.0.2.1 - - [10/Oct/2000:13:55:36 -0700] \"GET /a.gif HTTP/1.0\" 200 2326\n", Format::ApacheAccess),
            ("[Sun Dec 04 04:47:44 2005] [notice] workerEnv.init() ok /etc/httpd/conf/workers2.properties\n", Format::ApacheError),
            ("{\"Records\": [{\"eventVersion\": \"1.08\"}]}", Format::CloudTrail),
            ("{\"a\": 1}\n{\"a\": 2}\n", Format::Json),
            ("#separator \\x09\n#set_separator\t,\n", Format::Zeek),
            ("CEF:0|Security|threatmanager|1.0|100|worm successfully stopped|10|src=10.0.0.1\n", Format::Cef),
            ("Sep 19 08:26:10 host CEF:0|Security|threatmanager|1.0|100|worm stopped|10|src=10.0.0.1\n", Format::Cef),
        ];
        for (text, format) in cases {
            assert_eq!(detect("input", text.as_bytes()), Ok(*format), "{text}");
        }
    }

    #[test]
    fn evtx_magic_wins_over_extension() {
        assert_eq!(detect("x.log", b"ElfFile\0rest"), Ok(Format::Evtx));
    }

    #[test]
    fn binary_and_unknown_text_are_not_guessed() {
        assert_eq!(
            detect("x", &[0x7f, b'E', b'L', b'F', 2, 1, 1, 0, 0]),
            Err("binary data")
        );
        assert_eq!(
            detect("README.md", b"# secops\n\nSome prose.\n"),
            Err("no known format matches its first lines")
        );
        assert_eq!(detect("x", b""), Err("the input is empty"));
    }
}
