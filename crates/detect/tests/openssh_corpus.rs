//! Acceptance on the real OpenSSH log: brute-force alerts for the heavy sources, none for light ones.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::path::Path;

use secops_detect::Engine;
use secops_event::Timestamp;
use secops_ingest::{read_input, Input, Options};
use secops_rules::RuleFile;

/// The events of a corpus log whose lines are of 2016.
fn read_2016(path: std::path::PathBuf, events: &mut Vec<secops_event::Event>) {
    let options = Options {
        year: Some(2016),
        ..Options::default()
    };
    read_input(&Input::File(path), &options, &mut |r| events.extend(r.ok())).unwrap();
}

#[test]
fn brute_force_rule_flags_heavy_sources_and_not_light_ones() {
    let Some(corpus) = secops_testkit::shared("corpus/linux/OpenSSH_2k.log") else {
        return;
    };
    let rule_path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../rules/credential_access/credential_access_ssh_password_brute_force.toml");
    let text = std::fs::read_to_string(&rule_path).unwrap();
    let checked = RuleFile::parse(&rule_path, &text)
        .and_then(|f| f.check(&rule_path, &text))
        .unwrap();
    let (mut engine, errors) = Engine::new(
        std::slice::from_ref(&checked),
        Timestamp::parse_rfc3339("2026-11-22T00:00:00Z").unwrap(),
    );
    assert!(errors.is_empty(), "{errors:?}");

    let mut events = Vec::new();
    read_2016(corpus, &mut events);
    let mut alerts = Vec::new();
    for event in &events {
        engine.process(event, &mut alerts);
    }

    // Failures per source, as the rule counts them (message-repeated lines weigh their count).
    let mut failures: BTreeMap<String, u64> = BTreeMap::new();
    for e in &events {
        let counted = e.get_str("event.outcome") == Some("failure")
            && matches!(
                e.get_str("event.action"),
                Some("ssh_login" | "ssh_invalid_user")
            );
        if let (true, Some(ip)) = (counted, e.get("source.ip")) {
            *failures.entry(ip.to_string()).or_default() +=
                e.get("event.count").and_then(|c| c.as_i64()).unwrap_or(1) as u64;
        }
    }
    let alerted: BTreeMap<String, usize> = alerts.iter().fold(BTreeMap::new(), |mut m, a| {
        *m.entry(a.group_key()).or_default() += 1;
        m
    });
    for heavy in ["183.62.140.253", "187.141.143.180", "103.99.0.122"] {
        assert!(
            alerted.contains_key(heavy),
            "{heavy} not alerted; alerts: {alerted:?}"
        );
    }
    for (source, count) in &failures {
        if *count < 10 {
            assert!(
                !alerted.contains_key(source),
                "{source} has only {count} failures but alerted"
            );
        }
    }
    // Every alert reaches the threshold, within five minutes, and traces back to corpus lines.
    for alert in &alerts {
        assert!(alert.count >= 10, "{alert:?}");
        assert!(alert.timestamp.unix_nanos() - alert.first.unix_nanos() <= 300_000_000_000);
        assert!(alert
            .provenance
            .iter()
            .all(|p| p.source.ends_with("OpenSSH_2k.log")));
        assert_eq!(alert.rule.techniques(), ["T1110", "T1110.001"]);
    }
}

/// The bundled pack over the real OpenSSH and Linux logs, stopped at several points: the rules' state
/// saved, put into an engine compiled afresh, and the rest of the log fed to it. The alerts are exactly
/// those of one uninterrupted run: the brute-force thresholds, sequences and folded repeats whose
/// windows span the stop included.
#[test]
fn a_run_restored_from_its_checkpoint_gives_the_alerts_of_an_uninterrupted_one() {
    let mut events = Vec::new();
    for log in ["OpenSSH_2k.log", "Linux_2k.log"] {
        let Some(corpus) = secops_testkit::shared(&format!("corpus/linux/{log}")) else {
            return;
        };
        read_2016(corpus, &mut events);
    }
    let rules_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../rules");
    let (rules, errors) = secops_rules::load::load_dir(&rules_dir);
    assert!(errors.is_empty(), "{errors:?}");
    let now = Timestamp::parse_rfc3339("2026-11-22T00:00:00Z").unwrap();
    let engine = || {
        let (mut engine, errors) = Engine::new(&rules, now);
        assert!(errors.is_empty(), "{errors:?}");
        engine.aggregate(&secops_detect::AggregatePolicy::default());
        engine
    };
    let fingerprint = |alerts: &[secops_detect::Alert]| {
        alerts
            .iter()
            .map(|a| {
                let provenance: Vec<String> = a.provenance.iter().map(|p| p.to_string()).collect();
                (a.id.clone(), a.count, a.suppressed, a.last_seen, provenance)
            })
            .collect::<Vec<_>>()
    };

    let mut whole = engine();
    let mut reference = Vec::new();
    for event in &events {
        whole.process(event, &mut reference);
    }
    whole.finish(&mut reference);
    assert!(reference.len() > 20, "{}", reference.len());
    assert!(reference.iter().any(|a| a.suppressed > 0));

    for stop in [1, 357, 1000, 2001, 3333] {
        let mut first = engine();
        let mut alerts = Vec::new();
        for event in &events[..stop] {
            first.process(event, &mut alerts);
        }
        let saved = first.save_state().unwrap();
        drop(first);
        let mut second = engine();
        let restored = second.restore_state(&saved).unwrap();
        assert!(restored.fresh.is_empty(), "{restored:?}");
        assert_eq!(restored.restored, rules.len());
        for event in &events[stop..] {
            second.process(event, &mut alerts);
        }
        second.finish(&mut alerts);
        assert_eq!(
            fingerprint(&alerts),
            fingerprint(&reference),
            "stopped at {stop}"
        );
        // A second restore of the same bytes agrees, and damaged bytes are refused, not half-read.
        let mut third = engine();
        assert!(third.restore_state(&saved).is_ok());
        assert!(engine().restore_state(&saved[..saved.len() / 2]).is_err());
    }
}
