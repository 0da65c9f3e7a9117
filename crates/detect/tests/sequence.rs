//! EQL sequences: failures then a success from the same source fires; not past maxspan, not after the
//! until event, not across sources; single-event EQL rules alert per event.

#![allow(clippy::unwrap_used, clippy::panic)] // test helpers outside #[test] functions

mod common;

use secops_detect::{Alert, CompiledRule};
use secops_event::{Event, Location, Timestamp};
use secops_testkit::events::at;

fn rule(query: &str) -> CompiledRule {
    let checked = common::fixture("eql", "eql", query, "", "");
    CompiledRule::compile(
        &checked,
        Timestamp::parse_rfc3339("2026-11-22T00:00:00Z").unwrap(),
    )
    .unwrap()
}

const BRUTE_THEN_SUCCESS: &str = r#"sequence by source.ip with maxspan=10m
  [authentication where event.outcome == "failure"] with runs=3
  [authentication where event.outcome == "success"]
until [authentication where event.action == "source_blocked"]"#;

fn auth(seconds: i64, ip: &str, outcome: &str) -> Event {
    at(seconds)
        .from("auth.log", Location::Line(seconds as u64 + 1))
        .texts(&[
            ("event.module", "system"),
            ("event.category", "authentication"),
            ("event.action", "ssh_login"),
            ("event.outcome", outcome),
            ("source.ip", ip),
        ])
        .build()
}

fn blocked(seconds: i64, ip: &str) -> Event {
    let mut e = auth(seconds, ip, "unknown");
    e.insert("event.action", "source_blocked");
    e
}

fn run(rule: &mut CompiledRule, events: &[Event]) -> Vec<Alert> {
    let mut alerts = Vec::new();
    for e in events {
        rule.process(e, &mut alerts);
    }
    alerts
}

#[test]
fn failures_then_success_from_one_source_fires_once() {
    let mut r = rule(BRUTE_THEN_SUCCESS);
    let events = [
        auth(0, "203.0.113.7", "failure"),
        auth(10, "203.0.113.7", "failure"),
        auth(20, "203.0.113.7", "failure"),
        auth(30, "203.0.113.7", "success"),
    ];
    let alerts = run(&mut r, &events);
    assert_eq!(alerts.len(), 1);
    let a = &alerts[0];
    assert_eq!((a.group_key().as_str(), a.count), ("203.0.113.7", 4));
    assert_eq!(a.events.len(), 4);
    let lines: Vec<String> = a.provenance.iter().map(|p| p.to_string()).collect();
    assert_eq!(
        lines,
        ["auth.log:1", "auth.log:11", "auth.log:21", "auth.log:31"]
    );
    assert_eq!(
        a.timestamp.unix_nanos() - a.first.unix_nanos(),
        30_000_000_000
    );
}

#[test]
fn too_few_failures_or_success_first_do_not_fire() {
    let mut r = rule(BRUTE_THEN_SUCCESS);
    assert!(run(
        &mut r,
        &[
            auth(0, "203.0.113.7", "failure"),
            auth(10, "203.0.113.7", "failure"),
            auth(30, "203.0.113.7", "success")
        ]
    )
    .is_empty());
    let mut r = rule(BRUTE_THEN_SUCCESS);
    let events = [
        auth(0, "203.0.113.7", "success"),
        auth(10, "203.0.113.7", "failure"),
        auth(20, "203.0.113.7", "failure"),
        auth(30, "203.0.113.7", "failure"),
    ];
    assert!(run(&mut r, &events).is_empty());
}

#[test]
fn success_after_maxspan_does_not_fire_and_inside_it_does() {
    let mut r = rule(BRUTE_THEN_SUCCESS);
    let late = [
        auth(0, "203.0.113.7", "failure"),
        auth(10, "203.0.113.7", "failure"),
        auth(20, "203.0.113.7", "failure"),
        auth(601, "203.0.113.7", "success"),
    ];
    assert!(
        run(&mut r, &late).is_empty(),
        "601 s after the first failure is past maxspan=10m"
    );
    let mut r = rule(BRUTE_THEN_SUCCESS);
    let edge = [
        auth(0, "203.0.113.7", "failure"),
        auth(10, "203.0.113.7", "failure"),
        auth(20, "203.0.113.7", "failure"),
        auth(600, "203.0.113.7", "success"),
    ];
    assert_eq!(run(&mut r, &edge).len(), 1, "exactly maxspan is inside");
}

#[test]
fn success_after_the_until_event_does_not_fire_for_that_source_only() {
    let mut r = rule(BRUTE_THEN_SUCCESS);
    let mut events = vec![];
    for ip in ["203.0.113.7", "198.51.100.9"] {
        events.extend([
            auth(0, ip, "failure"),
            auth(10, ip, "failure"),
            auth(20, ip, "failure"),
        ]);
    }
    events.push(blocked(25, "203.0.113.7"));
    events.push(auth(30, "203.0.113.7", "success"));
    events.push(auth(31, "198.51.100.9", "success"));
    let alerts = run(&mut r, &events);
    let groups: Vec<String> = alerts.iter().map(Alert::group_key).collect();
    assert_eq!(groups, ["198.51.100.9"]);
}

#[test]
fn success_from_another_source_does_not_complete_the_sequence() {
    let mut r = rule(BRUTE_THEN_SUCCESS);
    let events = [
        auth(0, "203.0.113.7", "failure"),
        auth(10, "203.0.113.7", "failure"),
        auth(20, "203.0.113.7", "failure"),
        auth(30, "198.51.100.9", "success"),
    ];
    assert!(run(&mut r, &events).is_empty());
}

#[test]
fn a_longer_burst_still_completes_with_the_latest_failures() {
    let mut r = rule(BRUTE_THEN_SUCCESS);
    let mut events: Vec<Event> = (0..20)
        .map(|i| auth(i * 5, "203.0.113.7", "failure"))
        .collect();
    events.push(auth(200, "203.0.113.7", "success"));
    let alerts = run(&mut r, &events);
    assert_eq!(alerts.len(), 1);
    assert_eq!(
        alerts[0].first.unix_nanos() - 1_767_225_600_000_000_000,
        75_000_000_000,
        "each failure joins one run of three; the last complete run is 75 s, 80 s, 85 s (90 s and 95 s are a partial run)"
    );
}

#[test]
fn single_event_eql_alerts_per_event_and_respects_case_rules() {
    let mut r =
        rule(r#"authentication where event.outcome == "success" and source.ip : "203.0.113.*""#);
    let events = [
        auth(0, "203.0.113.7", "success"),
        auth(1, "203.0.113.8", "SUCCESS"),
        auth(2, "198.51.100.9", "success"),
    ];
    let alerts = run(&mut r, &events);
    assert_eq!(alerts.len(), 1, "== is case-sensitive; : is a wildcard");
}
