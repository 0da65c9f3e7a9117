//! Syslog: RFC 3164 (BSD) and RFC 5424, and the RFC 3339-stamped lines rsyslog writes by default.
//!
//! RFC 3164 timestamps carry no year. The first line's year is `--year` when given; otherwise it is the
//! file's modification year, minus one when the first line's date lies more than a day after the
//! modification date (the file was started last year: it holds no line from after its last write; the
//! day is slack for local times ahead of UTC). Inside one file the year advances when the month jumps
//! back by more than half a year (December to January); a line that jumps forward by as much, after a
//! rollover, is a late line of the previous year. Times without a zone are taken as UTC.

use std::time::SystemTime;

use chrono::{Datelike, NaiveDate};
use secops_event::{Event, Location, Timestamp};

use super::linux_auth;
use super::util::{login_title_user, month_number, parse_clock, token};
use crate::lines::{Emit, LineParser};
use crate::Reason;

const FORMAT: &str = "syslog";

/// Where RFC 3164 years come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct YearHint {
    pub year: i32,
    /// The date (month, day) of the reference time, when the year was read off a clock (file time,
    /// now) rather than given: a first line dated after it (by more than a day, for time zones: syslog
    /// writes local time) belongs to the year before, since a file holds no line from after its last
    /// write.
    pub date: Option<(u32, u32)>,
}

impl YearHint {
    pub fn given(year: i32) -> Self {
        YearHint { year, date: None }
    }

    pub fn from_time(time: SystemTime) -> Self {
        let date = chrono::DateTime::<chrono::Utc>::from(time);
        YearHint {
            year: date.year(),
            date: Some((date.month(), date.day())),
        }
    }

    /// The year of a first line dated `month`/`day`.
    fn first_year(&self, month: u32, day: u32) -> i32 {
        let Some((reference_month, reference_day)) = self.date else {
            return self.year;
        };
        // Days counted as in a leap year, so that 29 February has its place; a day of slack.
        let ordinal = |m: u32, d: u32| {
            chrono::NaiveDate::from_ymd_opt(2000, m, d).map_or(0, |date| date.ordinal())
        };
        if ordinal(month, day) > ordinal(reference_month, reference_day) + 1 {
            self.year - 1
        } else {
            self.year
        }
    }
}

/// The year a file time falls in.
pub(crate) fn year_of(time: SystemTime) -> YearHint {
    YearHint::from_time(time)
}

/// The time zone RFC 3164 times (which carry none) are read in: a fixed offset (`+02:00`, `-0530`,
/// `UTC`) or a zone of the IANA database (`Europe/Berlin`), daylight saving time included. A local time
/// that occurs twice (the hour clocks go back) is taken the first time; one that never occurs (the hour
/// they go forward) is taken an hour later.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Zone {
    Fixed(chrono::FixedOffset),
    Named(chrono_tz::Tz),
}

impl Zone {
    pub fn parse(text: &str) -> Result<Zone, String> {
        let t = text.trim();
        if t.eq_ignore_ascii_case("utc") || t == "Z" {
            return chrono::FixedOffset::east_opt(0)
                .map(Zone::Fixed)
                .ok_or_else(|| "UTC".to_string());
        }
        if let Some(sign) = t.chars().next().filter(|c| *c == '+' || *c == '-') {
            let digits: String = t[1..].chars().filter(|c| *c != ':').collect();
            let (h, m) = match digits.len() {
                2 => (digits.parse::<i32>().ok(), Some(0)),
                4 => (
                    digits[..2].parse::<i32>().ok(),
                    digits[2..].parse::<i32>().ok(),
                ),
                _ => (None, None),
            };
            let seconds = h
                .zip(m)
                .filter(|(h, m)| *h <= 23 && *m <= 59)
                .map(|(h, m)| h * 3600 + m * 60);
            let seconds =
                seconds.ok_or_else(|| format!("{text:?} is not an offset such as +02:00"))?;
            let seconds = if sign == '-' { -seconds } else { seconds };
            return chrono::FixedOffset::east_opt(seconds)
                .map(Zone::Fixed)
                .ok_or_else(|| format!("{text:?}: offset out of range"));
        }
        t.parse::<chrono_tz::Tz>().map(Zone::Named).map_err(|_| {
            format!("{text:?} is neither an offset (+02:00) nor an IANA zone (Europe/Berlin)")
        })
    }

    /// The UTC time of a local time in this zone.
    pub fn to_utc(&self, local: &chrono::NaiveDateTime) -> Option<Timestamp> {
        use chrono::{LocalResult, TimeZone};
        fn pick<T: TimeZone>(
            zone: &T,
            local: &chrono::NaiveDateTime,
        ) -> Option<chrono::NaiveDateTime> {
            match zone.from_local_datetime(local) {
                LocalResult::Single(t) | LocalResult::Ambiguous(t, _) => Some(t.naive_utc()),
                LocalResult::None => match zone
                    .from_local_datetime(&(*local + chrono::Duration::hours(1)))
                {
                    LocalResult::Single(t) | LocalResult::Ambiguous(t, _) => Some(t.naive_utc()),
                    LocalResult::None => None,
                },
            }
        }
        let utc = match self {
            Zone::Fixed(offset) => pick(offset, local)?,
            Zone::Named(tz) => pick(tz, local)?,
        };
        Timestamp::from_naive_utc(&utc)
    }
}

/// Tracks the year across the lines of one file, and the zone its times are in.
#[derive(Debug)]
pub(crate) struct YearTracker {
    hint: YearHint,
    current: Option<(i32, u32)>,
    pub zone: Option<Zone>,
}

impl YearTracker {
    pub fn new(hint: YearHint) -> Self {
        YearTracker {
            hint,
            current: None,
            zone: None,
        }
    }

    /// The year and month of the last line, once there is one.
    pub fn current(&self) -> Option<(i32, u32)> {
        self.current
    }

    pub fn resume(&mut self, current: (i32, u32)) {
        self.current = Some(current);
    }

    /// The year of a line dated `month`/`day`.
    pub fn year_for(&mut self, month: u32, day: u32) -> i32 {
        match self.current {
            None => {
                let year = self.hint.first_year(month, day);
                self.current = Some((year, month));
                year
            }
            Some((year, last)) if month + 6 < last => {
                self.current = Some((year + 1, month));
                year + 1
            }
            Some((year, last)) if month > last + 6 => year - 1,
            Some((year, _)) => {
                self.current = Some((year, month));
                year
            }
        }
    }
}

/// The parts of a syslog header.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct Header<'a> {
    pub priority: Option<u8>,
    pub timestamp: Option<Timestamp>,
    pub hostname: Option<&'a str>,
    pub program: Option<&'a str>,
    pub pid: Option<&'a str>,
    pub msgid: Option<&'a str>,
    pub structured_data: Option<&'a str>,
    pub rfc5424: bool,
    pub message: &'a str,
}

/// Parses a syslog header; `years` supplies RFC 3164 years.
pub(crate) fn parse_header<'a>(
    line: &'a str,
    years: &mut YearTracker,
) -> Result<Header<'a>, Reason> {
    let (priority, rest) = parse_priority(line)?;
    if let Some(rest) = rest.strip_prefix("1 ") {
        return parse_5424(priority, rest);
    }
    let (timestamp, rest) = match parse_bsd_time(rest) {
        Some((month, day, clock, rest)) => (
            bsd_timestamp(
                years.year_for(month, day),
                month,
                day,
                clock,
                years.zone.as_ref(),
            )?,
            rest,
        ),
        None => {
            let (text, rest) = token(rest).ok_or(Reason::malformed(FORMAT, "empty line"))?;
            if !looks_iso(text) {
                return Err(Reason::malformed(
                    FORMAT,
                    "no RFC 3164 or RFC 3339 timestamp",
                ));
            }
            (Timestamp::parse_rfc3339(text)?, rest)
        }
    };
    let mut header = Header {
        priority,
        timestamp: Some(timestamp),
        ..Header::default()
    };
    let rest = rest.trim_start_matches(' ');
    // A first word ending in ':' or holding '[' is a tag: the host name was left out.
    let (first, after) = token(rest).unwrap_or(("", ""));
    let rest = if first.ends_with(':') || first.contains('[') {
        rest
    } else {
        header.hostname = (!first.is_empty()).then_some(first);
        // Some writers pad the tag (`combo  -- root[2421]:`).
        after.trim_start_matches(' ')
    };
    parse_tag(rest, &mut header);
    Ok(header)
}

fn parse_priority(line: &str) -> Result<(Option<u8>, &str), Reason> {
    let Some(rest) = line.strip_prefix('<') else {
        return Ok((None, line));
    };
    let end = rest.find('>').filter(|&e| (1..=3).contains(&e));
    let priority = end
        .and_then(|e| rest[..e].parse::<u8>().ok())
        .filter(|&p| p <= 191);
    match (end, priority) {
        (Some(e), Some(p)) => Ok((Some(p), &rest[e + 1..])),
        _ => Err(Reason::malformed(FORMAT, "invalid <priority>")),
    }
}

/// `Mmm dd hh:mm:ss[.frac] ` -> month, day, clock, rest.
/// Hours, minutes, seconds, nanoseconds.
type Clock = (u32, u32, u32, u32);

fn parse_bsd_time(text: &str) -> Option<(u32, u32, Clock, &str)> {
    let month = month_number(text.get(..3)?)?;
    let rest = text.get(3..)?.strip_prefix(' ')?.trim_start_matches(' ');
    let (day, rest) = token(rest)?;
    let day: u32 = day.parse().ok().filter(|d| (1..=31).contains(d))?;
    let (clock, rest) = token(rest)?;
    Some((month, day, parse_clock(clock)?, rest))
}

fn bsd_timestamp(
    year: i32,
    month: u32,
    day: u32,
    (h, m, s, nanos): (u32, u32, u32, u32),
    zone: Option<&Zone>,
) -> Result<Timestamp, Reason> {
    NaiveDate::from_ymd_opt(year, month, day)
        .and_then(|d| d.and_hms_nano_opt(h, m, s.min(59), nanos))
        .and_then(|dt| match zone {
            Some(zone) => zone.to_utc(&dt),
            None => Timestamp::from_naive_utc(&dt),
        })
        .ok_or(Reason::malformed(
            FORMAT,
            "day does not exist in that month",
        ))
}

fn looks_iso(text: &str) -> bool {
    let b = text.as_bytes();
    b.len() >= 19
        && b[4] == b'-'
        && b[7] == b'-'
        && (b[10] == b'T' || b[10] == b' ')
        && b[..4].iter().all(u8::is_ascii_digit)
}

/// `tag[pid]: message`, `tag: message`, or a bare message (tags hold no spaces).
fn parse_tag<'a>(rest: &'a str, header: &mut Header<'a>) {
    let split = rest
        .split_once(": ")
        .or_else(|| rest.strip_suffix(':').map(|tag| (tag, "")));
    let Some((tag, message)) = split.filter(|(tag, _)| !tag.is_empty() && tag_shape(tag)) else {
        header.message = rest;
        return;
    };
    header.message = message;
    match tag.strip_suffix(']').and_then(|t| t.rsplit_once('[')) {
        Some((program, pid)) => {
            header.program = Some(program);
            header.pid = Some(pid);
        }
        None => header.program = Some(tag),
    }
}

/// Tags hold no spaces, except the process title login(1) gives itself on older systems (`-- root`,
/// `login -- alice`), which it logs as its tag.
fn tag_shape(tag: &str) -> bool {
    match login_title_user(tag) {
        Some(user) => !user.is_empty() && !user.contains(' '),
        None => !tag.contains(' '),
    }
}

/// `TIMESTAMP HOSTNAME APP-NAME PROCID MSGID STRUCTURED-DATA [MSG]`, `-` for nil.
fn nil(s: &str) -> Option<&str> {
    (s != "-").then_some(s)
}

fn parse_5424(priority: Option<u8>, rest: &str) -> Result<Header<'_>, Reason> {
    let missing = || Reason::malformed(FORMAT, "RFC 5424 header is missing fields");
    let (ts, rest) = token(rest).ok_or_else(missing)?;
    let (host, rest) = token(rest).ok_or_else(missing)?;
    let (app, rest) = token(rest).ok_or_else(missing)?;
    let (procid, rest) = token(rest).ok_or_else(missing)?;
    let (msgid, rest) = token(rest).ok_or_else(missing)?;
    let (sd, message) = split_structured_data(rest)?;
    let timestamp = match nil(ts) {
        Some(ts) => Some(Timestamp::parse_rfc3339(ts)?),
        None => None,
    };
    Ok(Header {
        priority,
        timestamp,
        hostname: nil(host),
        program: nil(app),
        pid: nil(procid),
        msgid: nil(msgid),
        structured_data: nil(sd),
        rfc5424: true,
        message: message.trim_start_matches('\u{feff}'),
    })
}

/// Splits `[id k="v"][id2 ...] message` (or `- message`) after the structured data, honouring `\]`.
fn split_structured_data(rest: &str) -> Result<(&str, &str), Reason> {
    if !rest.starts_with('[') {
        return token(rest).map_or(Ok(("-", "")), Ok);
    }
    let bytes = rest.as_bytes();
    let (mut i, mut in_quotes) = (0, false);
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 1,
            b'"' => in_quotes = !in_quotes,
            b']' if !in_quotes && bytes.get(i + 1) != Some(&b'[') => {
                let message = rest.get(i + 1..).unwrap_or("");
                return Ok((&rest[..=i], message.strip_prefix(' ').unwrap_or(message)));
            }
            _ => {}
        }
        i += 1;
    }
    Err(Reason::malformed(
        FORMAT,
        "unterminated RFC 5424 structured data",
    ))
}

/// Sets `log.syslog.structured_data.<id>.<param>` for each parameter.
fn insert_structured_data(event: &mut Event, sd: &str) {
    for element in sd.split("][") {
        let element = element.trim_start_matches('[').trim_end_matches(']');
        let Some((id, mut params)) = element.split_once(' ') else {
            continue;
        };
        while let Some((name, after)) = params.trim_start().split_once("=\"") {
            let (value, next) = take_quoted(after);
            event.insert(format!("log.syslog.structured_data.{id}.{name}"), value);
            params = next;
        }
    }
}

fn take_quoted(text: &str) -> (String, &str) {
    let mut value = String::new();
    let mut chars = text.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '\\' => value.extend(chars.next().map(|(_, c)| c)),
            '"' => return (value, &text[i + 1..]),
            c => value.push(c),
        }
    }
    (value, "")
}

/// Whether `line` starts with a syslog header (for format detection).
pub(crate) fn is_syslog_line(line: &str) -> bool {
    let mut years = YearTracker::new(YearHint::given(2000));
    matches!(parse_header(line, &mut years), Ok(h) if h.rfc5424 || h.program.is_some())
}

/// Fills the event with the header's ECS fields.
pub(crate) fn fill_header(event: &mut Event, header: &Header<'_>) {
    if let Some(ts) = header.timestamp {
        event.set_timestamp(ts);
    }
    if let Some(p) = header.priority {
        event.insert("log.syslog.priority", i64::from(p));
        event.insert("log.syslog.facility.code", i64::from(p >> 3));
        event.insert("log.syslog.severity.code", i64::from(p & 7));
    }
    if let Some(host) = header.hostname {
        event.insert("host.hostname", host);
        event.insert("host.name", host);
    }
    if let Some(program) = header.program {
        event.insert("log.syslog.appname", program);
        // `sshd(pam_unix)` is sshd's PAM module speaking.
        let name = program.split_once('(').map_or(program, |(p, _)| p);
        // login(1)'s process title (`-- root`) is login speaking.
        let name = if login_title_user(name).is_some() {
            "login"
        } else {
            name
        };
        event.insert("process.name", name);
    }
    if let Some(pid) = header.pid {
        match pid.parse::<i64>() {
            Ok(pid) => event.insert("process.pid", pid),
            Err(_) => event.insert("log.syslog.procid", pid),
        }
    }
    event.insert_opt("log.syslog.msgid", header.msgid);
    if let Some(sd) = header.structured_data {
        insert_structured_data(event, sd);
    }
    event.insert("message", header.message);
}

/// The syslog line parser.
#[derive(Debug)]
pub(crate) struct SyslogParser {
    years: YearTracker,
}

impl SyslogParser {
    pub fn new(hint: YearHint, zone: Option<Zone>) -> Self {
        let mut years = YearTracker::new(hint);
        years.zone = zone;
        SyslogParser { years }
    }

    fn parse(&mut self, line: &str, emit: &Emit<'_>, number: u64) -> Result<Option<Event>, Reason> {
        let header = parse_header(line, &mut self.years)?;
        let mut event = Event::new(emit.provenance(Location::Line(number)));
        event.insert("event.kind", "event");
        event.insert("event.module", "system");
        fill_header(&mut event, &header);
        let program = header.program.unwrap_or("");
        let dataset = if linux_auth::map(program, header.message, &mut event) {
            "system.auth"
        } else {
            "system.syslog"
        };
        event.insert("event.dataset", dataset);
        Ok(Some(event))
    }
}

impl LineParser for SyslogParser {
    fn line(&mut self, line: &str, number: u64, emit: &mut Emit<'_>) {
        let result = self.parse(line, emit, number);
        emit.result(Location::Line(number), result);
    }

    fn years(&self) -> Option<(i32, u32)> {
        self.years.current()
    }

    fn resume_years(&mut self, years: (i32, u32)) {
        self.years.resume(years);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_3164_times_in_a_named_zone_follow_its_daylight_saving_time() {
        let zone = Zone::parse("Europe/Berlin").unwrap();
        let mut years = YearTracker::new(YearHint::given(2026));
        years.zone = Some(zone);
        let at = |line: &str, years: &mut YearTracker| {
            parse_header(line, years)
                .unwrap()
                .timestamp
                .unwrap()
                .to_rfc3339()
        };
        assert_eq!(
            at("Jan 10 12:00:00 h p: x", &mut years),
            "2026-01-10T11:00:00Z"
        );
        assert_eq!(
            at("Jul 10 12:00:00 h p: x", &mut years),
            "2026-07-10T10:00:00Z"
        );
        // 25 October 2026, 02:30 happens twice: the first (summer time).
        assert_eq!(
            at("Oct 25 02:30:00 h p: x", &mut years),
            "2026-10-25T00:30:00Z"
        );
        // 29 March 2026, 02:30 never happens: an hour later.
        let mut spring = YearTracker::new(YearHint::given(2026));
        spring.zone = Some(zone);
        assert_eq!(
            at("Mar 29 02:30:00 h p: x", &mut spring),
            "2026-03-29T01:30:00Z"
        );
        // Offsets, and RFC 3339 times keep their own.
        years.zone = Some(Zone::parse("-05:30").unwrap());
        assert_eq!(
            at("Dec 10 06:55:46 h p: x", &mut years),
            "2026-12-10T12:25:46Z"
        );
        assert_eq!(
            at("2026-12-10T06:55:46+01:00 h p: x", &mut years),
            "2026-12-10T05:55:46Z"
        );
        assert!(Zone::parse("Mars/Olympus").is_err() && Zone::parse("+25:00").is_err());
        assert_eq!(Zone::parse("utc").unwrap(), Zone::parse("+0000").unwrap());
    }

    fn header(line: &str) -> Result<Header<'_>, Reason> {
        parse_header(line, &mut YearTracker::new(YearHint::given(2016)))
    }

    #[test]
    fn bsd_header_with_pid() {
        let h =
            header("Dec 10 06:55:46 LabSZ sshd[24200]: Invalid user webmaster from 173.234.31.186")
                .unwrap();
        assert_eq!(
            h.timestamp.map(|t| t.to_rfc3339()),
            Some("2016-12-10T06:55:46Z".into())
        );
        assert_eq!(
            (h.hostname, h.program, h.pid),
            (Some("LabSZ"), Some("sshd"), Some("24200"))
        );
        assert_eq!(h.message, "Invalid user webmaster from 173.234.31.186");
    }

    #[test]
    fn bsd_header_with_space_padded_day_and_priority() {
        let h = header("<38>Jun  4 15:16:01 combo sshd(pam_unix)[19939]: check pass; user unknown")
            .unwrap();
        assert_eq!(h.priority, Some(38));
        assert_eq!(
            h.timestamp.map(|t| t.to_rfc3339()),
            Some("2016-06-04T15:16:01Z".into())
        );
        assert_eq!(h.program, Some("sshd(pam_unix)"));
    }

    #[test]
    fn tag_without_pid_and_kernel_messages() {
        let h = header("Jun 14 15:16:01 combo kernel: Linux version 2.6.5-1.358").unwrap();
        assert_eq!(
            (h.program, h.pid, h.message),
            (Some("kernel"), None, "Linux version 2.6.5-1.358")
        );
    }

    #[test]
    fn rsyslog_rfc3339_timestamp() {
        let h = header("2024-03-01T10:00:00.123456+01:00 web1 sudo: alice : TTY=pts/0 ; PWD=/ ; USER=root ; COMMAND=/bin/id").unwrap();
        assert_eq!(
            h.timestamp.map(|t| t.to_rfc3339()),
            Some("2024-03-01T09:00:00.123456Z".into())
        );
        assert_eq!((h.hostname, h.program), (Some("web1"), Some("sudo")));
    }

    #[test]
    fn rfc5424_with_structured_data() {
        let line = r#"<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 [exampleSDID@32473 iut="3" eventSource="Appli\"cation"] An application event"#;
        let h = header(line).unwrap();
        assert!(h.rfc5424);
        assert_eq!(
            (h.program, h.pid, h.msgid),
            (Some("evntslog"), None, Some("ID47"))
        );
        assert_eq!(h.message, "An application event");
        let mut event = Event::new(secops_event::Provenance::new("t", Location::Line(1)));
        fill_header(&mut event, &h);
        assert_eq!(
            event.get_str("log.syslog.structured_data.exampleSDID@32473.eventSource"),
            Some("Appli\"cation")
        );
        assert_eq!(
            event
                .get("log.syslog.facility.code")
                .and_then(|v| v.as_i64()),
            Some(20)
        );
    }

    #[test]
    fn rfc5424_nil_fields_and_unterminated_data() {
        let h = header("<34>1 - - su - - - 'su root' failed").unwrap();
        assert_eq!(
            (h.timestamp, h.hostname, h.program),
            (None, None, Some("su"))
        );
        assert_eq!(h.message, "'su root' failed");
        assert!(header("<34>1 2003-10-11T22:14:15Z host app - - [x a=\"1\" no end").is_err());
    }

    #[test]
    fn garbage_is_rejected_with_a_reason() {
        assert_eq!(
            header("hello world").err(),
            Some(Reason::malformed(
                FORMAT,
                "no RFC 3164 or RFC 3339 timestamp"
            ))
        );
        assert_eq!(
            header("<999>Dec 10 06:55:46 x y: z").err(),
            Some(Reason::malformed(FORMAT, "invalid <priority>"))
        );
        assert!(header("Feb 30 06:55:46 host x: y").is_err());
    }

    #[test]
    fn year_rolls_over_at_new_year_and_late_lines_stay_in_the_old_year() {
        let mut years = YearTracker::new(YearHint::given(2016));
        assert_eq!(years.year_for(12, 31), 2016);
        assert_eq!(years.year_for(12, 31), 2016);
        assert_eq!(years.year_for(1, 1), 2017);
        assert_eq!(years.year_for(12, 31), 2016, "a late December line");
        assert_eq!(years.year_for(2, 3), 2017);
    }

    #[test]
    fn file_time_year_goes_back_when_the_file_started_last_year() {
        // modified in February 2017, first line in December: the file started in 2016
        let mut years = YearTracker::new(YearHint {
            year: 2017,
            date: Some((2, 14)),
        });
        assert_eq!(years.year_for(12, 30), 2016);
        assert_eq!(years.year_for(1, 2), 2017);
        let mut same = YearTracker::new(YearHint {
            year: 2017,
            date: Some((6, 1)),
        });
        assert_eq!(same.year_for(3, 9), 2017);
    }

    /// A file modified on 3 December whose first line is dated 31 December cannot have been written
    /// this December: the line is from the year before (it was dated in the future, 2027, before).
    /// A day's slack covers local times ahead of UTC.
    #[test]
    fn a_first_line_dated_after_the_file_time_is_from_the_year_before() {
        let hint = |month, day| YearHint {
            year: 2026,
            date: Some((month, day)),
        };
        assert_eq!(YearTracker::new(hint(12, 3)).year_for(12, 31), 2025);
        assert_eq!(YearTracker::new(hint(12, 3)).year_for(12, 5), 2025);
        assert_eq!(
            YearTracker::new(hint(12, 3)).year_for(12, 4),
            2026,
            "one day ahead: a time zone"
        );
        assert_eq!(YearTracker::new(hint(12, 3)).year_for(12, 3), 2026);
        assert_eq!(YearTracker::new(hint(12, 3)).year_for(11, 30), 2026);
        assert_eq!(YearTracker::new(hint(2, 28)).year_for(2, 29), 2026);
        assert_eq!(YearTracker::new(hint(3, 1)).year_for(3, 2), 2026);
        // The rollover inside the file goes on from there.
        let mut years = YearTracker::new(hint(1, 2));
        assert_eq!(years.year_for(12, 31), 2025);
        assert_eq!(years.year_for(1, 1), 2026);
    }
}
