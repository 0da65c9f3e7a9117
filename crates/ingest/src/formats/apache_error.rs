//! Apache httpd error log: `[Sun Dec 04 04:47:44 2005] [notice] message` (2.2) and
//! `[Thu Jun 27 10:02:01.123456 2019] [core:error] [pid 1234:tid 5678] [client 1.2.3.4:5678] AH00124: message`
//! (2.4). Times carry no zone and are taken as UTC.

use chrono::NaiveDateTime;
use secops_event::{Event, Location, Provenance, Timestamp};

use super::util::insert_host;
use crate::Reason;

const FORMAT: &str = "an Apache error log line";

pub(crate) fn is_error_line(line: &str) -> bool {
    line.starts_with('[') && parse(line, Provenance::new("-", Location::Line(1))).is_ok()
}

fn parse_time(text: &str) -> Option<Timestamp> {
    ["%a %b %d %H:%M:%S%.f %Y", "%a %b %e %H:%M:%S%.f %Y"]
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(text, f).ok())
        .and_then(|naive| Timestamp::from_naive_utc(&naive))
}

pub(crate) fn parse(line: &str, provenance: Provenance) -> Result<Event, Reason> {
    let bad = |detail| Reason::malformed(FORMAT, detail);
    let rest = line.strip_prefix('[').ok_or(bad("no [time]"))?;
    let (time, mut rest) = rest.split_once("] ").ok_or(bad("no [time]"))?;
    let timestamp = parse_time(time).ok_or(bad("time is not like Sun Dec 04 04:47:44 2005"))?;
    let mut event = Event::new(provenance);
    event.set_timestamp(timestamp);
    event.insert("event.kind", "event");
    event.insert("event.module", "apache");
    event.insert("event.dataset", "apache.error");
    event.insert("event.category", "web");
    event.insert("event.type", "error");
    let mut level_seen = false;
    while let Some(group) = rest.strip_prefix('[') {
        let Some((inside, after)) = group.split_once(']') else {
            break;
        };
        if let Some(ids) = inside.strip_prefix("pid ") {
            let (pid, tid) = ids.split_once(":tid ").unwrap_or((ids, ""));
            if let Ok(pid) = pid.parse::<i64>() {
                event.insert("process.pid", pid);
            }
            if let Ok(tid) = tid.parse::<i64>() {
                event.insert("process.thread.id", tid);
            }
        } else if let Some(client) = inside
            .strip_prefix("client ")
            .or_else(|| inside.strip_prefix("remote "))
        {
            let (host, port) = match client.rsplit_once(':') {
                Some((h, p)) if !h.contains(':') || h.starts_with('[') => {
                    (h.trim_matches(['[', ']']), p.parse::<i64>().ok())
                }
                _ => (client, None),
            };
            insert_host(&mut event, host, "source.ip", "source.domain");
            if let Some(port) = port {
                event.insert("source.port", port);
            }
        } else if !level_seen {
            level_seen = true;
            let (module, level) = inside.split_once(':').unwrap_or(("", inside));
            event.insert("log.level", level);
            event.insert_opt("apache.error.module", Some(module));
        }
        rest = after.trim_start();
    }
    if !level_seen {
        return Err(bad("no [level]"));
    }
    if let Some((code, message)) = rest
        .split_once(": ")
        .filter(|(c, _)| c.len() == 7 && c.starts_with("AH"))
    {
        event.insert("error.code", code);
        event.insert("message", message);
    } else {
        event.insert("message", rest);
    }
    Ok(event)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(line: &str) -> Result<Event, Reason> {
        parse(line, Provenance::new("error_log", Location::Line(1)))
    }

    #[test]
    fn apache_22_line() {
        let e = event("[Sun Dec 04 04:47:44 2005] [notice] workerEnv.init() ok /etc/httpd/conf/workers2.properties").unwrap();
        assert_eq!(
            e.timestamp().map(|t| t.to_rfc3339()),
            Some("2005-12-04T04:47:44Z".into())
        );
        assert_eq!(e.get_str("log.level"), Some("notice"));
        assert_eq!(
            e.get_str("message"),
            Some("workerEnv.init() ok /etc/httpd/conf/workers2.properties")
        );
    }

    #[test]
    fn apache_24_line_with_module_pid_client_and_code() {
        let e = event("[Thu Jun 27 10:02:01.123456 2019] [core:error] [pid 1234:tid 5678] [client 192.0.2.5:50012] AH00126: Invalid URI in request GET /../../etc/passwd HTTP/1.1").unwrap();
        assert_eq!(e.get_str("apache.error.module"), Some("core"));
        assert_eq!(e.get_str("log.level"), Some("error"));
        assert_eq!(e.get("process.pid").and_then(|v| v.as_i64()), Some(1234));
        assert_eq!(
            e.get("process.thread.id").and_then(|v| v.as_i64()),
            Some(5678)
        );
        assert_eq!(
            e.get("source.ip").map(|v| v.to_string()),
            Some("192.0.2.5".into())
        );
        assert_eq!(e.get("source.port").and_then(|v| v.as_i64()), Some(50012));
        assert_eq!(e.get_str("error.code"), Some("AH00126"));
        assert!(e
            .get_str("message")
            .is_some_and(|m| m.starts_with("Invalid URI")));
    }

    #[test]
    fn lines_without_time_or_level_are_rejected() {
        assert_eq!(
            event("[error] x").err(),
            Some(Reason::malformed(
                FORMAT,
                "time is not like Sun Dec 04 04:47:44 2005"
            ))
        );
        assert_eq!(
            event("error x").err(),
            Some(Reason::malformed(FORMAT, "no [time]"))
        );
        assert_eq!(
            event("[Sun Dec 04 04:47:44 2005] message only").err(),
            Some(Reason::malformed(FORMAT, "no [level]"))
        );
    }
}
