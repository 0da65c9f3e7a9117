//! new_terms, anomaly and threat_match: the alert case, the no-alert case and the boundary of each.

#![allow(clippy::unwrap_used, clippy::panic)] // test helpers outside #[test] functions

mod common;

use secops_detect::{Alert, CompiledRule, IndicatorSet};
use secops_event::{Event, Timestamp};
use secops_testkit::events::at;

const DAY: i64 = 86_400;

fn rule(kind: &str, query: &str, table: &str, indicators: &IndicatorSet) -> CompiledRule {
    let checked = common::fixture(kind, "kql", query, "", table);
    CompiledRule::compile_with(
        &checked,
        Timestamp::parse_rfc3339("2026-11-22T00:00:00Z").unwrap(),
        indicators,
    )
    .unwrap()
}

fn event(seconds: i64, fields: &[(&str, &str)]) -> Event {
    at(seconds)
        .text("event.module", "system")
        .texts(fields)
        .build()
}

fn run(rule: &mut CompiledRule, events: &[Event]) -> Vec<Alert> {
    let mut alerts = Vec::new();
    for e in events {
        rule.process(e, &mut alerts);
    }
    alerts
}

const NEW_TERMS: &str =
    "[rule.new_terms]\nfields = [\"user.name\", \"source.ip\"]\nhistory_window_start = \"now-7d\"";

#[test]
fn new_terms_alerts_on_a_first_seen_combination_after_learning() {
    let mut r = rule(
        "new_terms",
        "event.outcome:success",
        NEW_TERMS,
        &IndicatorSet::new(),
    );
    let login = |t, user, ip| {
        event(
            t,
            &[
                ("event.outcome", "success"),
                ("user.name", user),
                ("source.ip", ip),
            ],
        )
    };
    let mut events = vec![
        login(0, "alice", "192.0.2.10"),
        login(DAY, "bob", "192.0.2.11"),
        login(6 * DAY, "alice", "192.0.2.10"),
    ];
    // during the first 7 days everything is learning
    events.push(login(3 * DAY, "carol", "192.0.2.12"));
    // after learning: known combinations are quiet, a new one alerts once
    events.push(login(8 * DAY, "alice", "192.0.2.10"));
    events.push(login(8 * DAY + 60, "alice", "203.0.113.99"));
    events.push(login(8 * DAY + 120, "alice", "203.0.113.99"));
    let alerts = run(&mut r, &events);
    let groups: Vec<String> = alerts.iter().map(Alert::group_key).collect();
    assert_eq!(groups, ["alice|203.0.113.99"]);
}

#[test]
fn new_terms_value_unseen_for_longer_than_the_window_is_new_again() {
    let mut r = rule(
        "new_terms",
        "event.outcome:success",
        NEW_TERMS,
        &IndicatorSet::new(),
    );
    let login = |t| {
        event(
            t,
            &[
                ("event.outcome", "success"),
                ("user.name", "bob"),
                ("source.ip", "192.0.2.11"),
            ],
        )
    };
    let quiet = run(&mut r, &[login(0), login(7 * DAY), login(14 * DAY)]);
    assert!(
        quiet.is_empty(),
        "seen every 7 days, exactly the window: never new"
    );
    let mut r = rule(
        "new_terms",
        "event.outcome:success",
        NEW_TERMS,
        &IndicatorSet::new(),
    );
    let back = run(&mut r, &[login(0), login(7 * DAY), login(14 * DAY + 1)]);
    assert_eq!(back.len(), 1, "one second past the window: new again");
}

const ANOMALY: &str =
    "[rule.anomaly]\nby = [\"user.name\"]\nbucket = \"1h\"\nmin_history = 6\nthreshold = 3.5";

fn hourly(r: &mut CompiledRule, counts: &[u32]) -> Vec<Alert> {
    let mut events = Vec::new();
    for (hour, &n) in counts.iter().enumerate() {
        for i in 0..n {
            events.push(event(
                hour as i64 * 3600 + i64::from(i),
                &[("event.action", "file_read"), ("user.name", "alice")],
            ));
        }
    }
    run(r, &events)
}

#[test]
fn anomaly_alerts_on_a_spike_against_the_entity_baseline() {
    let mut r = rule(
        "anomaly",
        "event.action:file_read",
        ANOMALY,
        &IndicatorSet::new(),
    );
    let alerts = hourly(&mut r, &[10, 12, 9, 11, 10, 13, 11, 60]);
    assert_eq!(alerts.len(), 1, "one alert for the spiking hour");
    assert_eq!(alerts[0].group_key(), "alice");
    assert!(
        alerts[0].count < 60,
        "fires as soon as the score is crossed, not at the end of the bucket"
    );
}

#[test]
fn anomaly_stays_quiet_on_normal_variation_and_before_min_history() {
    let mut r = rule(
        "anomaly",
        "event.action:file_read",
        ANOMALY,
        &IndicatorSet::new(),
    );
    assert!(
        hourly(&mut r, &[10, 12, 9, 11, 10, 13, 11, 14, 9, 12]).is_empty(),
        "normal variation"
    );
    let mut r = rule(
        "anomaly",
        "event.action:file_read",
        ANOMALY,
        &IndicatorSet::new(),
    );
    assert!(
        hourly(&mut r, &[10, 12, 9, 11, 10, 60]).is_empty(),
        "a spike in the sixth bucket: only 5 buckets of history"
    );
    let mut r = rule(
        "anomaly",
        "event.action:file_read",
        ANOMALY,
        &IndicatorSet::new(),
    );
    assert!(
        hourly(&mut r, &[10, 10, 10, 10, 10, 10, 1]).is_empty(),
        "a drop is not a spike"
    );
}

#[test]
fn anomaly_flat_baseline_needs_a_real_jump_and_ewma_works_too() {
    // flat baseline of 10: MAD is 0, so one event of spread is assumed: 16 scores 0.6745*6 = 4.05 > 3.5,
    // 15 scores 3.37 <= 3.5
    let mut r = rule(
        "anomaly",
        "event.action:file_read",
        ANOMALY,
        &IndicatorSet::new(),
    );
    assert!(hourly(&mut r, &[10, 10, 10, 10, 10, 10, 15]).is_empty());
    let mut r = rule(
        "anomaly",
        "event.action:file_read",
        ANOMALY,
        &IndicatorSet::new(),
    );
    assert_eq!(hourly(&mut r, &[10, 10, 10, 10, 10, 10, 16]).len(), 1);
    let ewma = "[rule.anomaly]\nby = [\"user.name\"]\nbucket = \"1h\"\nmethod = \"ewma\"\nmin_history = 6\nthreshold = 4.0";
    let mut r = rule(
        "anomaly",
        "event.action:file_read",
        ewma,
        &IndicatorSet::new(),
    );
    assert_eq!(hourly(&mut r, &[10, 12, 9, 11, 10, 13, 11, 60]).len(), 1);
}

const THREAT: &str = "[[rule.threat_mapping]]\n[[rule.threat_mapping.entries]]\nfield = \"destination.ip\"\ntype = \"mapping\"\nvalue = \"threat.indicator.ip\"\n\n[[rule.threat_mapping]]\n[[rule.threat_mapping.entries]]\nfield = \"dns.question.name\"\ntype = \"mapping\"\nvalue = \"threat.indicator.url.domain\"";

fn indicators() -> IndicatorSet {
    let mut set = IndicatorSet::new();
    set.add("threat.indicator.ip", "203.0.113.200").unwrap();
    set.add("threat.indicator.ip", "198.51.100.0/24").unwrap();
    set.add("threat.indicator.url.domain", "Evil.Example.NET")
        .unwrap();
    set
}

#[test]
fn threat_match_matches_exact_cidr_and_domain_indicators() {
    let mut r = rule(
        "threat_match",
        "destination.ip:* or dns.question.name:*",
        THREAT,
        &indicators(),
    );
    let events = [
        event(0, &[("destination.ip", "203.0.113.200")]),
        event(1, &[("destination.ip", "198.51.100.77")]),
        event(2, &[("dns.question.name", "evil.example.net")]),
        event(3, &[("destination.ip", "203.0.113.201")]),
        event(4, &[("dns.question.name", "example.net")]),
    ];
    let alerts = run(&mut r, &events);
    let matched: Vec<String> = alerts
        .iter()
        .map(|a| format!("{}={}", a.group[0].0, a.group[0].1))
        .collect();
    assert_eq!(
        matched,
        [
            "destination.ip=203.0.113.200",
            "destination.ip=198.51.100.77",
            "dns.question.name=evil.example.net"
        ]
    );
}

#[test]
fn threat_match_without_indicators_is_silent() {
    let mut r = rule(
        "threat_match",
        "destination.ip:*",
        THREAT,
        &IndicatorSet::new(),
    );
    assert!(run(&mut r, &[event(0, &[("destination.ip", "203.0.113.200")])]).is_empty());
}
