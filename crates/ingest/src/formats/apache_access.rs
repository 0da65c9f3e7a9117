//! Apache httpd and nginx access logs: Common Log Format and Combined
//! (`%h %l %u %t "%r" %>s %b "%{Referer}i" "%{User-agent}i"`).

use chrono::DateTime;
use secops_event::{Event, Location, Timestamp};

use super::util::{insert_host, token};
use crate::Reason;

const FORMAT: &str = "an access log line";

pub(crate) fn is_access_line(line: &str) -> bool {
    let provenance = secops_event::Provenance::new("-", Location::Line(1));
    parse(line, provenance).is_ok()
}

/// `"quoted \" text" rest` -> (unescaped text, rest).
fn quoted(text: &str) -> Option<(String, &str)> {
    let body = text.strip_prefix('"')?;
    let mut value = String::new();
    let mut chars = body.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some((_, '"')) => value.push('"'),
                Some((_, '\\')) => value.push('\\'),
                Some((_, other)) => {
                    value.push('\\');
                    value.push(other);
                }
                None => value.push('\\'),
            },
            '"' => return Some((value, body[i + 1..].trim_start())),
            c => value.push(c),
        }
    }
    None
}

pub(crate) fn parse(line: &str, provenance: secops_event::Provenance) -> Result<Event, Reason> {
    let bad = |detail| Reason::malformed(FORMAT, detail);
    let (client, rest) = token(line).ok_or(bad("empty line"))?;
    let (_ident, rest) = token(rest).ok_or(bad("no ident field"))?;
    let (user, rest) = token(rest).ok_or(bad("no user field"))?;
    let rest = rest.strip_prefix('[').ok_or(bad("no [time]"))?;
    let (time, rest) = rest.split_once("] ").ok_or(bad("no [time]"))?;
    let time = DateTime::parse_from_str(time, "%d/%b/%Y:%H:%M:%S %z")
        .map_err(|_| bad("time is not dd/Mon/yyyy:HH:MM:SS +zzzz"))?;
    let (request, rest) = quoted(rest).ok_or(bad("no quoted request"))?;
    let (status, rest) = token(rest).ok_or(bad("no status"))?;
    let status: Option<i64> = match status {
        "-" => None,
        s => Some(s.parse().map_err(|_| bad("status is not a number"))?),
    };
    let (bytes, rest) = token(rest).unwrap_or(("-", ""));
    let referrer_and_agent =
        quoted(rest).map(|(referrer, rest)| (referrer, quoted(rest).map(|(agent, _)| agent)));

    let mut event = Event::new(provenance);
    event.set_timestamp(Timestamp::from_datetime(&time).ok_or(bad("time out of range"))?);
    event.insert("event.kind", "event");
    event.insert("event.module", "apache");
    event.insert("event.dataset", "apache.access");
    event.insert("event.category", "web");
    event.insert("event.type", "access");
    insert_host(&mut event, client, "source.ip", "source.domain");
    event.insert_opt("user.name", Some(user));
    let mut parts = request.splitn(3, ' ');
    match (parts.next(), parts.next(), parts.next()) {
        (Some(method), Some(target), Some(version)) if version.starts_with("HTTP/") => {
            event.insert("http.request.method", method);
            event.insert("url.original", target);
            let (path, query) = target.split_once('?').unwrap_or((target, ""));
            event.insert("url.path", path);
            event.insert_opt("url.query", Some(query));
            event.insert("http.version", version.trim_start_matches("HTTP/"));
        }
        // Garbage requests (TLS on a plain port, scanners) are kept verbatim.
        _ => event.insert_opt("url.original", Some(request.as_str())),
    }
    if let Some(status) = status {
        event.insert("http.response.status_code", status);
        event.insert(
            "event.outcome",
            if status < 400 { "success" } else { "failure" },
        );
    }
    if let Ok(bytes) = bytes.parse::<i64>() {
        event.insert("http.response.body.bytes", bytes);
    }
    if let Some((referrer, agent)) = referrer_and_agent {
        event.insert_opt("http.request.referrer", Some(referrer));
        event.insert_opt("user_agent.original", agent);
    }
    Ok(event)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(line: &str) -> Result<Event, Reason> {
        parse(
            line,
            secops_event::Provenance::new("access.log", Location::Line(1)),
        )
    }

    #[test]
    fn combined_line_maps_to_ecs() {
        let e = event(r#"203.0.113.7 - frank [10/Oct/2000:13:55:36 -0700] "GET /apache_pb.gif?x=1 HTTP/1.0" 200 2326 "http://www.example.com/start.html" "Mozilla/4.08 [en] (Win98; I ;Nav)""#).unwrap();
        assert_eq!(
            e.timestamp().map(|t| t.to_rfc3339()),
            Some("2000-10-10T20:55:36Z".into())
        );
        assert_eq!(
            e.get("source.ip").map(|v| v.to_string()),
            Some("203.0.113.7".into())
        );
        assert_eq!(e.get_str("user.name"), Some("frank"));
        assert_eq!(e.get_str("http.request.method"), Some("GET"));
        assert_eq!(e.get_str("url.path"), Some("/apache_pb.gif"));
        assert_eq!(e.get_str("url.query"), Some("x=1"));
        assert_eq!(
            e.get("http.response.status_code").and_then(|v| v.as_i64()),
            Some(200)
        );
        assert_eq!(
            e.get_str("user_agent.original"),
            Some("Mozilla/4.08 [en] (Win98; I ;Nav)")
        );
        assert_eq!(e.get_str("event.outcome"), Some("success"));
    }

    #[test]
    fn common_format_with_dashes_and_escaped_quotes() {
        let e =
            event(r#"::1 - - [01/Jan/2024:00:00:00 +0000] "GET /a\"b HTTP/1.1" 404 -"#).unwrap();
        assert_eq!(e.get_str("user.name"), None);
        assert_eq!(e.get_str("url.original"), Some("/a\"b"));
        assert_eq!(e.get("http.response.body.bytes"), None);
        assert_eq!(e.get_str("event.outcome"), Some("failure"));
    }

    #[test]
    fn garbage_request_is_kept_verbatim() {
        let e = event(
            r#"198.51.100.2 - - [01/Jan/2024:00:00:00 +0000] "\x16\x03\x01" 400 226 "-" "-""#,
        )
        .unwrap();
        assert_eq!(e.get_str("url.original"), Some("\\x16\\x03\\x01"));
        assert_eq!(e.get_str("http.request.method"), None);
    }

    #[test]
    fn malformed_lines_name_what_is_wrong() {
        assert_eq!(
            event("1.2.3.4 - - 10/Oct/2000 x").err(),
            Some(Reason::malformed(FORMAT, "no [time]"))
        );
        assert_eq!(
            event(r#"1.2.3.4 - - [10/Oct/2000:13:55:36 -0700] "GET / HTTP/1.0" ok 1"#).err(),
            Some(Reason::malformed(FORMAT, "status is not a number"))
        );
    }
}
