//! Threshold windows, cardinality, exceptions with expiry and alert suppression: the alert case, the
//! no-alert case and the boundary of each.

#![allow(clippy::unwrap_used, clippy::panic)] // test helpers outside #[test] functions

use secops_testkit::events::at;

mod common;

use secops_detect::{Alert, CompiledRule};
use secops_event::{Event, Timestamp};
use secops_rules::CheckedRule;

const NOW: &str = "2026-11-22T00:00:00Z";

fn rule(threshold: &str, extra: &str) -> CheckedRule {
    common::fixture(
        "threshold",
        "kql",
        "event.outcome:failure",
        extra,
        &format!("[rule.threshold]\n{threshold}"),
    )
}

fn failure(seconds: i64, ip: &str, user: &str) -> Event {
    at(seconds)
        .texts(&[
            ("event.module", "system"),
            ("event.outcome", "failure"),
            ("source.ip", ip),
            ("user.name", user),
        ])
        .build()
}

fn run(rule: &CheckedRule, events: &[Event]) -> (Vec<Alert>, secops_detect::RuleStats) {
    let mut compiled = CompiledRule::compile(rule, Timestamp::parse_rfc3339(NOW).unwrap()).unwrap();
    let mut alerts = Vec::new();
    for e in events {
        compiled.process(e, &mut alerts);
    }
    compiled.finish(&mut alerts);
    (alerts, compiled.stats())
}

const TEN_IN_5M: &str = "field = [\"source.ip\"]\nvalue = 10\nwindow = \"5m\"";

#[test]
fn sliding_window_includes_its_boundary_and_excludes_past_it() {
    let rule = rule(TEN_IN_5M, "");
    // 10 events, 9 gaps: at 300 s exactly the first is still inside the window
    let inside: Vec<Event> = (0..10)
        .map(|i| failure(i * 300 / 9, "203.0.113.7", "root"))
        .collect();
    assert_eq!(
        inside.last().unwrap().timestamp().unwrap().unix_nanos()
            - inside[0].timestamp().unwrap().unix_nanos(),
        300_000_000_000
    );
    let (alerts, _) = run(&rule, &inside);
    assert_eq!(alerts.len(), 1);
    assert_eq!(
        (alerts[0].count, alerts[0].group_key().as_str()),
        (10, "203.0.113.7")
    );
    let outside: Vec<Event> = (0..10)
        .map(|i| failure(i * 34, "203.0.113.7", "root"))
        .collect();
    assert!(
        run(&rule, &outside).0.is_empty(),
        "306 s is past the window"
    );
    let nine: Vec<Event> = (0..9).map(|i| failure(i, "203.0.113.7", "root")).collect();
    assert!(run(&rule, &nine).0.is_empty(), "N-1 events");
}

#[test]
fn groups_are_counted_apart_and_start_over_after_an_alert() {
    let rule = rule(TEN_IN_5M, "");
    let mut events: Vec<Event> = (0..10).map(|i| failure(i, "203.0.113.7", "root")).collect();
    events.extend((0..9).map(|i| failure(i, "198.51.100.9", "root")));
    events.extend((10..29).map(|i| failure(i, "203.0.113.7", "root")));
    events.sort_by_key(|e| e.timestamp());
    let (alerts, stats) = run(&rule, &events);
    let groups: Vec<String> = alerts.iter().map(Alert::group_key).collect();
    assert_eq!(
        groups,
        ["203.0.113.7", "203.0.113.7"],
        "29 events: alert at 10 and 20, not at 29"
    );
    assert_eq!(stats.matched, 38);
}

#[test]
fn tumbling_window_alerts_once_per_bucket_and_not_across_buckets() {
    let rule = rule(
        "field = [\"source.ip\"]\nvalue = 10\nwindow = \"5m\"\nwindow_mode = \"tumbling\"",
        "",
    );
    // 25 events inside one bucket -> one alert
    let (alerts, _) = run(
        &rule,
        &(0..25)
            .map(|i| failure(i, "203.0.113.7", "root"))
            .collect::<Vec<_>>(),
    );
    assert_eq!(alerts.len(), 1);
    // 10 events straddling a bucket edge (5 before, 5 after 300 s) -> none
    let straddle: Vec<Event> = (0..10)
        .map(|i| failure(295 + i, "203.0.113.7", "root"))
        .collect();
    assert!(run(&rule, &straddle).0.is_empty());
}

#[test]
fn cardinality_catches_spraying_across_users_only() {
    let rule = rule("field = [\"source.ip\"]\nvalue = 5\nwindow = \"10m\"\n[[rule.threshold.cardinality]]\nfield = \"user.name\"\nvalue = 5", "");
    let spray: Vec<Event> = (0..5)
        .map(|i| failure(i * 10, "203.0.113.7", &format!("user{i}")))
        .collect();
    let (alerts, _) = run(&rule, &spray);
    assert_eq!(alerts.len(), 1);
    let one_user: Vec<Event> = (0..12)
        .map(|i| failure(i * 10, "203.0.113.7", "root"))
        .collect();
    assert!(
        run(&rule, &one_user).0.is_empty(),
        "many failures, one user: not spraying"
    );
    let four_users: Vec<Event> = (0..8)
        .map(|i| failure(i * 10, "203.0.113.7", &format!("user{}", i % 4)))
        .collect();
    assert!(
        run(&rule, &four_users).0.is_empty(),
        "boundary: 4 distinct users"
    );
}

fn exception(expire: &str) -> String {
    format!(
        "\n[[rule.exceptions]]\ndescription = \"scanner\"\n{expire}\n[[rule.exceptions.entries]]\nfield = \"source.ip\"\ntype = \"cidr\"\nvalue = \"10.20.0.0/28\"\n"
    )
}

#[test]
fn exceptions_apply_until_they_expire() {
    let events: Vec<Event> = (0..10).map(|i| failure(i, "10.20.0.5", "root")).collect();
    let live = rule(
        TEN_IN_5M,
        &exception("expire_time = \"2027-01-01T00:00:00Z\""),
    );
    let (alerts, stats) = run(&live, &events);
    assert!(alerts.is_empty());
    assert_eq!(stats.excepted, 10);
    let expired = rule(
        TEN_IN_5M,
        &exception("expire_time = \"2026-01-01T00:00:00Z\""),
    );
    assert_eq!(
        run(&expired, &events).0.len(),
        1,
        "an expired exception no longer applies"
    );
    let outside: Vec<Event> = (0..10).map(|i| failure(i, "10.20.0.16", "root")).collect();
    assert_eq!(
        run(&live, &outside).0.len(),
        1,
        "first address past the /28"
    );
}

#[test]
fn suppression_keeps_one_alert_per_group_per_duration() {
    let suppress = "\n[rule.alert_suppression]\ngroup_by = [\"source.ip\"]\nduration = { value = 1, unit = \"h\" }\n";
    let rule = rule(TEN_IN_5M, suppress);
    // three crossings 20 minutes apart, then one 61 minutes after the first
    let mut events = Vec::new();
    for start in [0, 1200, 2400, 3660] {
        events.extend((0..10).map(|i| failure(start + i, "203.0.113.7", "root")));
    }
    let (alerts, stats) = run(&rule, &events);
    assert_eq!(
        alerts.len(),
        2,
        "{:?}",
        alerts.iter().map(|a| a.timestamp).collect::<Vec<_>>()
    );
    assert_eq!(stats.suppressed, 2);
    assert_eq!((alerts[0].suppressed, alerts[0].suppressed_count), (2, 20));
    assert_eq!(alerts[0].last_seen, at(2409).build().timestamp().unwrap());
    assert_eq!(alerts[1].suppressed, 0);
}

/// Records what a rule raises, in order.
#[derive(Default)]
struct Raises(Vec<(&'static str, String, u64)>);

impl secops_detect::AlertSink for Raises {
    fn raise(&mut self, raised: secops_detect::Raised) {
        let kind = match &raised {
            secops_detect::Raised::Final(_) => "final",
            secops_detect::Raised::Opened(_) => "opened",
            secops_detect::Raised::Closed(_) => "closed",
        };
        let a = raised.alert();
        self.0.push((kind, a.id.clone(), a.suppressed));
    }
}

#[test]
fn a_suppressed_alert_is_raised_at_once_and_again_when_its_window_closes() {
    let suppress = "\n[rule.alert_suppression]\ngroup_by = [\"source.ip\"]\nduration = { value = 1, unit = \"h\" }\n";
    let rule = rule(TEN_IN_5M, suppress);
    let mut compiled =
        CompiledRule::compile(&rule, Timestamp::parse_rfc3339(NOW).unwrap()).unwrap();
    let mut raises = Raises::default();
    let mut feed = |start: i64, ip: &str, raises: &mut Raises| {
        for i in 0..10 {
            compiled.process(&failure(start + i, ip, "root"), raises);
        }
    };
    feed(0, "203.0.113.7", &mut raises);
    // The first crossing is out the moment the condition holds, not when its window closes.
    assert_eq!(raises.0.len(), 1);
    assert_eq!(raises.0[0].0, "opened");
    let first = raises.0[0].1.clone();
    feed(1200, "203.0.113.7", &mut raises);
    feed(2400, "203.0.113.7", &mut raises);
    assert_eq!(raises.0.len(), 1, "repeats fold in silently");
    // Another source's crossing an hour later: its own alert; the first source's window stays open
    // until event time passes it on one of this rule's events.
    feed(3000, "198.51.100.4", &mut raises);
    assert_eq!(raises.0.len(), 2);
    feed(3660, "203.0.113.7", &mut raises);
    let kinds: Vec<&str> = raises.0.iter().map(|r| r.0).collect();
    assert_eq!(kinds, ["opened", "opened", "closed", "opened"]);
    assert_eq!((raises.0[2].1.as_str(), raises.0[2].2), (first.as_str(), 2));
    compiled.finish(&mut raises);
    let kinds: Vec<&str> = raises.0.iter().map(|r| r.0).collect();
    assert_eq!(
        kinds,
        ["opened", "opened", "closed", "opened", "closed", "closed"]
    );
    assert!(raises.0[4..].iter().all(|r| r.2 == 0));
}

/// However many entities repeat at once, one rule's open alerts hold at most 100,000 events'
/// provenance: the oldest close early and the next repeat opens a new alert. No match is lost, and
/// no alert holds more than 1,000.
#[test]
fn aggregation_holds_bounded_provenance_and_loses_no_match() {
    let suppress = "\n[rule.alert_suppression]\ngroup_by = [\"source.ip\"]\nduration = { value = 1, unit = \"h\" }\n";
    let rule = common::fixture("query", "kql", "event.outcome:failure", suppress, "");
    // 101 sources, 1,000 failures each, interleaved within the hour.
    let events: Vec<Event> = (0..101_000i64)
        .map(|i| {
            at(i / 30)
                .texts(&[
                    ("event.module", "system"),
                    ("event.outcome", "failure"),
                    ("source.ip", &format!("203.0.113.{}", i % 101)),
                ])
                .from("auth.log", secops_event::Location::Line(i as u64 + 1))
                .build()
        })
        .collect();
    let (alerts, stats) = run(&rule, &events);
    let held: usize = alerts.iter().map(|a| a.provenance.len()).sum();
    assert_eq!(held, 101_000);
    assert!(alerts.iter().all(|a| a.provenance.len() <= 1000));
    // Without the bound 101 alerts of 1,000 would be open at the end; with it some closed early.
    assert!(
        stats.evicted > 0 && alerts.len() > 101,
        "{} {stats:?}",
        alerts.len()
    );
    assert_eq!(stats.alerts as usize, alerts.len());
}
