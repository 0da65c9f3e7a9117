//! Small text helpers shared by the parsers.

use secops_event::{Event, Value};

/// The next space-delimited token and the rest after one space.
pub(crate) fn token(s: &str) -> Option<(&str, &str)> {
    if s.is_empty() {
        return None;
    }
    Some(match s.find(' ') {
        Some(i) => (&s[..i], &s[i + 1..]),
        None => (s, ""),
    })
}

/// Sets `ip_key` when `text` is an IP address, else `domain_key` (hosts given by name, such as a PAM
/// `rhost` that was resolved).
pub(crate) fn insert_host(
    event: &mut Event,
    text: &str,
    ip_key: &'static str,
    domain_key: &'static str,
) {
    match Value::ip(text) {
        Some(ip) => event.insert(ip_key, ip),
        None if !text.is_empty() && text != "-" => event.insert(domain_key, text),
        None => {}
    }
}

/// The value of `key=` in a `k=v k2=v2` or `k=v, k2=v2` list (PAM, useradd), up to the next space or comma.
pub(crate) fn kv<'a>(text: &'a str, key: &str) -> Option<&'a str> {
    let mut rest = text;
    while let Some(i) = rest.find(key) {
        let at_boundary = i == 0 || matches!(rest.as_bytes()[i - 1], b' ' | b',' | b';' | b'\t');
        let after = &rest[i + key.len()..];
        if at_boundary && after.starts_with('=') {
            let value = &after[1..];
            let end = value.find([' ', ',', ';']).unwrap_or(value.len());
            return Some(&value[..end]);
        }
        rest = after;
    }
    None
}

/// The last path component of a Unix or Windows path.
pub(crate) fn basename(path: &str) -> &str {
    path.rsplit(['/', '\\']).next().unwrap_or(path)
}

pub(crate) fn month_number(abbrev: &str) -> Option<u32> {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    MONTHS
        .iter()
        .position(|m| m.eq_ignore_ascii_case(abbrev))
        .map(|i| i as u32 + 1)
}

/// Parses `HH:MM:SS` with an optional `.fraction`, as seconds of the day and nanoseconds.
pub(crate) fn parse_clock(text: &str) -> Option<(u32, u32, u32, u32)> {
    let b = text.as_bytes();
    if b.len() < 8 || b[2] != b':' || b[5] != b':' {
        return None;
    }
    let two = |i: usize| -> Option<u32> {
        let (h, l) = (b[i], b[i + 1]);
        (h.is_ascii_digit() && l.is_ascii_digit())
            .then(|| u32::from(h - b'0') * 10 + u32::from(l - b'0'))
    };
    let (hour, minute, second) = (two(0)?, two(3)?, two(6)?);
    let mut nanos = 0;
    if b.len() > 8 {
        let frac = text.get(9..)?;
        if b[8] != b'.'
            || frac.is_empty()
            || frac.len() > 9
            || !frac.bytes().all(|c| c.is_ascii_digit())
        {
            return None;
        }
        nanos = frac.parse::<u32>().ok()? * 10u32.pow(9 - frac.len() as u32);
    }
    (hour < 24 && minute < 60 && second < 61).then_some((hour, minute, second, nanos))
}

/// The user in login(1)'s process title, which older systems log as its syslog tag (`-- root`,
/// `login -- alice`); `None` for any other tag.
pub(crate) fn login_title_user(tag: &str) -> Option<&str> {
    tag.strip_prefix("login ")
        .unwrap_or(tag)
        .strip_prefix("-- ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kv_finds_keys_at_word_boundaries_only() {
        let pam = "logname= uid=0 euid=0 tty=ssh ruser= rhost=5.36.59.76  user=root";
        assert_eq!(kv(pam, "uid"), Some("0"));
        assert_eq!(kv(pam, "rhost"), Some("5.36.59.76"));
        assert_eq!(kv(pam, "user"), Some("root"));
        assert_eq!(kv(pam, "ruser"), Some(""));
        assert_eq!(kv("name=bob, UID=1001", "UID"), Some("1001"));
        assert_eq!(kv("x=1", "missing"), None);
    }

    #[test]
    fn clock_accepts_fractions_and_rejects_garbage() {
        assert_eq!(parse_clock("06:55:46"), Some((6, 55, 46, 0)));
        assert_eq!(parse_clock("06:55:46.25"), Some((6, 55, 46, 250_000_000)));
        assert_eq!(parse_clock("6:55:46x"), None);
        assert_eq!(parse_clock("25:00:00"), None);
    }
}
