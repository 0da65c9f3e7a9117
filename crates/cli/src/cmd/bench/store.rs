//! `bench store`: alerts recorded, recorded again, listed and cases opened, on SQLite and PostgreSQL.

use std::time::Instant;

use anyhow::Context;

use crate::Outcome;

use super::*;

pub fn run(args: StoreBenchArgs) -> anyhow::Result<Outcome> {
    let dir = tempfile::tempdir().context("creating a scratch folder")?;
    let mut targets = vec![(
        "SQLite (WAL, full sync)".to_string(),
        dir.path().join("bench.db").display().to_string(),
    )];
    let schema = format!("bench_{}", std::process::id());
    if let Some(url) = &args.database_url {
        targets.push((
            "PostgreSQL".to_string(),
            format!(
                "{url}{}schema={schema}",
                if url.contains('?') { "&" } else { "?" }
            ),
        ));
    }
    let alerts: Vec<secops_store::NewAlert> = (0..args.alerts)
        .map(|n| secops_store::NewAlert {
            rule_id: format!("rule-{}", n % 50),
            rule_name: format!("Rule {}", n % 50),
            rule_version: 1,
            severity: "medium".into(),
            risk_score: 47,
            group_key: format!("source.ip=198.51.{}.{}", (n / 256) % 256, n % 256),
            first_seen: n as i64 * 1_000_000_000,
            last_seen: n as i64 * 1_000_000_000 + 60_000_000_000,
            event_count: 10,
            dedupe_window: 0,
            document: format!(
                "{{\"rule.id\":\"rule-{}\",\"n\":{n},\"events\":[{{\"message\":\"{}\"}}]}}",
                n % 50,
                "x".repeat(200)
            ),
        })
        .collect();
    println!(
        "{:<26} {:>9} {:>12} {:>12} {:>12} {:>12}",
        "STORE", "ALERTS", "RECORD/S", "AGAIN/S", "LIST MS", "CASES/S"
    );
    for (name, target) in &targets {
        let mut store = secops_store::Store::open(target)?;
        let rate = |n: usize, start: Instant| n as f64 / start.elapsed().as_secs_f64();
        let start = Instant::now();
        for chunk in alerts.chunks(args.batch.max(1)) {
            store.record_alerts(chunk, "bench", 1)?;
        }
        let record = rate(alerts.len(), start);
        let start = Instant::now();
        for chunk in alerts.chunks(args.batch.max(1)) {
            store.record_alerts(chunk, "bench", 2)?;
        }
        let again = rate(alerts.len(), start);
        let start = Instant::now();
        let listed = store.alerts(&secops_store::AlertFilter {
            status: Some(secops_store::AlertStatus::Open),
            limit: Some(500),
            ..secops_store::AlertFilter::default()
        })?;
        let list_ms = start.elapsed().as_secs_f64() * 1000.0;
        let cases = 200.min(listed.len());
        let start = Instant::now();
        for alert in listed.iter().take(cases) {
            store.create_case(
                &secops_store::NewCase {
                    title: format!("Case for alert {}", alert.id),
                    severity: "medium".into(),
                    tlp: "amber".into(),
                    pap: "amber".into(),
                    state: "new".into(),
                    alert_ids: vec![alert.id],
                    tasks: (0..7)
                        .map(|t| secops_store::NewTask {
                            group: "triage".into(),
                            title: format!("Task {t}"),
                            description: String::new(),
                        })
                        .collect(),
                    ..secops_store::NewCase::default()
                },
                "bench",
                3,
            )?;
        }
        let case_rate = rate(cases, start);
        println!(
            "{name:<26} {:>9} {record:>12.0} {again:>12.0} {list_ms:>12.1} {case_rate:>12.0}",
            alerts.len()
        );
    }
    if let Some(url) = &args.database_url {
        let mut client = postgres::Client::connect(url, postgres::NoTls)?;
        client.batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))?;
    }
    println!(
        "batches of {} alerts a transaction; AGAIN: the same alerts recorded again (all duplicates); CASES: each with 7 tasks and a linked alert",
        args.batch
    );
    Ok(Outcome::Clean)
}
