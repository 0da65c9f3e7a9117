//! One conformance suite, run against SQLite (a temporary file) and PostgreSQL (127.0.0.1:5432,
//! database `test`, or `SECOPS_TEST_DATABASE_URL`; each test in a schema of its own, dropped after).
//! Without a reachable PostgreSQL the PostgreSQL half says SKIPPED, except under CI (`CI` set), where
//! it fails: CI's machine runs PostgreSQL.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers

use std::sync::atomic::{AtomicU32, Ordering};

use secops_intel::{Indicator, Kind};
use secops_store::{
    AlertFilter, AlertFold, AlertStatus, CaseFilter, CaseUpdate, Checkpoint, EpssRow,
    FindingFilter, ImportCounts, Imported, IndicatorFilter, KevRow, NewAlert, NewCase, NewFinding,
    NewIndicator, NewObservable, NewTask, NewTimelineEntry, PriorityColumns, Recorded, Store,
    StoreError, Stored,
};

/// Where a test's store lives; dropping it removes a PostgreSQL schema.
enum Place {
    Sqlite(tempfile::TempDir),
    Postgres { url: String, schema: String },
}

impl Place {
    fn target(&self) -> String {
        match self {
            Place::Sqlite(dir) => dir.path().join("secops.db").display().to_string(),
            Place::Postgres { url, schema } => format!("{url}?schema={schema}"),
        }
    }

    fn open(&self) -> Store {
        Store::open(&self.target()).unwrap()
    }
}

impl Drop for Place {
    fn drop(&mut self) {
        if let Place::Postgres { url, schema } = self {
            if let Ok(mut client) = postgres_client(url) {
                let _ = client.batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"));
            }
        }
    }
}

fn postgres_client(url: &str) -> Result<postgres::Client, postgres::Error> {
    postgres::Client::connect(url, postgres::NoTls)
}

static SCHEMAS: AtomicU32 = AtomicU32::new(0);

fn sqlite() -> Place {
    Place::Sqlite(tempfile::tempdir().unwrap())
}

/// A fresh schema on the test PostgreSQL, or `None` (with a message) when there is none outside CI.
fn postgres(test: &str) -> Option<Place> {
    let url = secops_testkit::postgres_url(test)?;
    let n = SCHEMAS.fetch_add(1, Ordering::SeqCst);
    let schema = format!("t{}_{n}_{test}", std::process::id());
    Some(Place::Postgres { url, schema })
}

/// Each check runs on SQLite and on PostgreSQL.
macro_rules! conformance {
    ($($name:ident),* $(,)?) => {
        mod on_sqlite {
            $(#[test] fn $name() { super::$name(&super::sqlite()); })*
        }
        mod on_postgres {
            $(#[test] fn $name() {
                if let Some(place) = super::postgres(stringify!($name)) {
                    super::$name(&place);
                }
            })*
        }
    };
}

conformance!(
    migrations_apply_once_and_a_newer_schema_is_refused,
    alerts_are_deduplicated_across_runs_and_merged_within_the_window,
    alert_changes_follow_their_lifecycle_and_are_logged,
    alerts_are_listed_by_status_rule_and_time,
    cases_number_in_order_and_keep_tasks_alerts_and_a_log,
    a_failed_change_leaves_nothing_behind,
    case_updates_log_before_and_after_and_refusals_change_nothing,
    observables_timeline_and_comments,
    concurrent_writers_lose_nothing,
    a_writer_killed_mid_transaction_leaves_whole_batches,
    indicators_are_refreshed_not_duplicated_and_expire,
    alerts_and_cases_page_by_keyset_without_gaps_or_repeats,
    any_number_of_alert_ids_can_be_asked_for,
    repeats_folded_in_after_recording_move_the_alert_on_and_are_logged,
    risk_contributions_are_kept_once_per_entity_and_alert,
    a_scheduled_hunt_keeps_the_end_of_what_it_covered,
    evidence_comes_with_its_timeline_entry_and_log_line,
    users_and_api_keys_are_kept_and_changed_whole,
    the_audit_chain_breaks_where_the_log_was_edited_deleted_or_recomputed,
    every_change_made_with_an_auditor_is_one_audit_record_in_its_transaction,
    alerts_keep_assignees_tags_and_entities_and_are_filtered_by_them,
    alerts_recorded_before_entities_were_kept_are_read_when_the_store_migrates,
    what_the_api_counts_is_counted_alike,
    saved_hunts_are_kept_by_name_replaced_and_deleted,
    alerts_are_grouped_by_up_to_three_fields,
    exceptions_tickets_and_views_are_kept_and_audited,
    a_checkpoint_is_saved_with_its_alerts_or_not_at_all,
    findings_merge_close_reopen_and_keep_their_history,
    catalogs_replace_their_entries_and_findings_are_reprioritised,
    response_runs_are_keyed_claimed_once_and_rolled_back,
);

/// Runs SQL on the test database with the database's own client, behind the store's back.
fn tamper(place: &Place, sql: &str) {
    match place {
        Place::Sqlite(dir) => {
            let c = rusqlite::Connection::open(dir.path().join("secops.db")).unwrap();
            c.execute_batch(sql).unwrap();
        }
        Place::Postgres { url, schema } => {
            let mut c = postgres_client(url).unwrap();
            c.batch_execute(&format!("SET search_path TO {schema}; {sql}"))
                .unwrap();
        }
    }
}

/// The ids of alerts recorded as new (any other outcome fails the test).
fn inserted(recorded: &[Recorded]) -> Vec<i64> {
    recorded
        .iter()
        .map(|r| match r {
            Recorded::Inserted(id) => *id,
            other => panic!("{other:?}"),
        })
        .collect()
}

/// An alert document naming a source address, a user and a host (its group, then its events).
fn named(rule: &str, ip: &str, user: &str, host: &str) -> NewAlert {
    let mut a = alert(rule, ip, 0, 0, 1, 0);
    a.document = serde_json::json!({
        "@timestamp": "2024-05-14T09:21:13Z", "alert.id": format!("{rule}-{ip}"),
        "alert.first": "2024-05-14T09:21:13Z", "rule.id": rule, "rule.name": rule,
        "source.ip": ip,
        "events": [
            {"user.name": user, "host.name": host, "source.ip": ip},
            {"user.name": user.to_uppercase(), "host.name": "-"},
        ],
    })
    .to_string();
    a
}

/// Entities are read from the documents when alerts are recorded; assignments and tags change in
/// bulk (refusals answered per alert); each narrows a listing.
fn alerts_keep_assignees_tags_and_entities_and_are_filtered_by_them(place: &Place) {
    let mut store = place.open();
    let ids = store
        .record_alerts(
            &[
                named("spray", "203.0.113.7", "Ana", "WEB1"),
                named("spray", "198.51.100.9", "bob", "web1"),
                named("brute", "203.0.113.7", "root", "db1"),
            ],
            "detect",
            10,
        )
        .unwrap();
    let ids = inserted(&ids);
    assert_eq!(
        store.alert_entities(ids[0]).unwrap(),
        [
            ("host".to_string(), "web1".to_string()),
            ("ip".into(), "203.0.113.7".into()),
            ("user".into(), "ana".into()),
        ]
    );
    let listed = |store: &mut Store, filter: AlertFilter| -> Vec<i64> {
        let mut ids: Vec<i64> = store
            .alerts(&filter)
            .unwrap()
            .iter()
            .map(|a| a.id)
            .collect();
        ids.sort();
        ids
    };
    let entity = |kind: &str, value: &str| AlertFilter {
        entity: Some((kind.into(), value.into())),
        ..AlertFilter::default()
    };
    assert_eq!(
        listed(&mut store, entity("ip", "203.0.113.7")),
        [ids[0], ids[2]]
    );
    assert_eq!(listed(&mut store, entity("host", "web1")), [ids[0], ids[1]]);
    assert_eq!(listed(&mut store, entity("user", "root")), [ids[2]]);

    use secops_store::BulkChange;
    let assigned = store
        .bulk_change_alerts(
            &ids[..2],
            BulkChange::Assign {
                assignee: Some("ana"),
            },
            "lead",
            20,
        )
        .unwrap();
    assert_eq!(assigned.changed.len(), 2);
    store.close_alert(ids[2], "lead", "benign", 21).unwrap();
    let again = store
        .bulk_change_alerts(
            &ids,
            BulkChange::Assign {
                assignee: Some("ana"),
            },
            "lead",
            22,
        )
        .unwrap();
    assert!(again.changed.is_empty());
    assert_eq!(again.refused.len(), 3, "{:?}", again.refused);
    let tags = ["spray".to_string(), "ticket-42".to_string()];
    let tagged = store
        .bulk_change_alerts(
            &ids,
            BulkChange::Tag {
                add: &tags,
                remove: &[],
            },
            "ana",
            23,
        )
        .unwrap();
    assert_eq!(tagged.changed.len(), 3);
    store
        .bulk_change_alerts(
            &[ids[1]],
            BulkChange::Tag {
                add: &[],
                remove: &tags[..1],
            },
            "ana",
            24,
        )
        .unwrap();
    let first = store.alert(ids[0]).unwrap();
    assert_eq!(
        (first.assignee.as_deref(), first.tags.clone()),
        (Some("ana"), tags.to_vec())
    );
    assert_eq!(store.alert(ids[1]).unwrap().tags, ["ticket-42"]);
    let by = |assignee: Option<&str>, tag: Option<&str>| AlertFilter {
        assignee: assignee.map(str::to_string),
        tag: tag.map(str::to_string),
        ..AlertFilter::default()
    };
    assert_eq!(listed(&mut store, by(Some("ana"), None)), [ids[0], ids[1]]);
    assert_eq!(listed(&mut store, by(Some(""), None)), [ids[2]]);
    assert_eq!(
        listed(&mut store, by(None, Some("spray"))),
        [ids[0], ids[2]]
    );
    assert_eq!(listed(&mut store, by(Some("ana"), Some("spray"))), [ids[0]]);
    // Each change is in the alert's log.
    let kinds: Vec<String> = store
        .alert_events(ids[1])
        .unwrap()
        .into_iter()
        .map(|e| e.kind)
        .collect();
    assert_eq!(kinds, ["created", "assigned", "tagged", "tagged"]);
    // Bad tags and empty changes are refused before anything changes.
    for bad in [
        vec![String::new()],
        vec!["a\nb".to_string()],
        vec!["x".repeat(65)],
    ] {
        assert!(store
            .bulk_change_alerts(
                &ids,
                BulkChange::Tag {
                    add: &bad,
                    remove: &[]
                },
                "ana",
                30
            )
            .is_err());
    }
}

/// A store whose alerts were recorded before migration 13 gets their entities when it migrates.
fn alerts_recorded_before_entities_were_kept_are_read_when_the_store_migrates(place: &Place) {
    let mut store = place.open();
    let recorded = store
        .record_alerts(
            &[named("spray", "203.0.113.7", "ana", "web1")],
            "detect",
            10,
        )
        .unwrap();
    let Recorded::Inserted(id) = recorded[0] else {
        panic!("{recorded:?}")
    };
    drop(store);
    // Back to schema 12, as an older secops left it (undoing the migrations after 13 too).
    tamper(
        place,
        "DROP TABLE response_cursors; DROP TABLE response_evaluations; DROP TABLE response_runs; \
         DROP TABLE vuln_advisories; DROP TABLE vuln_catalogs; DROP TABLE vuln_epss; DROP TABLE vuln_kev; \
         DROP TABLE vuln_acceptances; DROP TABLE vuln_finding_events; DROP TABLE vuln_imports; \
         DROP TABLE vuln_detections; DROP TABLE vuln_finding_cves; DROP TABLE vuln_findings; \
         DROP TABLE live_checkpoints; \
         DROP INDEX alerts_by_status_rule; DROP TABLE rule_exceptions; DROP TABLE tuning_tickets; \
         DROP TABLE user_views; \
         DROP INDEX alerts_by_first_seen; DROP TABLE saved_hunts; \
         ALTER TABLE users DROP COLUMN totp_secret; ALTER TABLE users DROP COLUMN totp_pending; \
         ALTER TABLE users DROP COLUMN totp_last_step; \
         DROP INDEX alerts_by_assignee; ALTER TABLE alerts DROP COLUMN assignee; \
         DROP TABLE alert_tags; DROP TABLE alert_entities; DROP INDEX alerts_by_status_page; \
         CREATE INDEX alerts_by_status ON alerts (status, last_seen); \
         DELETE FROM schema_migrations WHERE version >= 13",
    );
    let mut store = place.open();
    assert_eq!(store.alert_entities(id).unwrap().len(), 3);
    assert_eq!(store.alert(id).unwrap().assignee, None);
}

/// With an auditor set, each transaction that changes something appends one record naming every
/// target (a bulk change is one record); reads and refused changes append none; the chain verifies.
fn every_change_made_with_an_auditor_is_one_audit_record_in_its_transaction(place: &Place) {
    let key = secops_store::AuditKey::from_hex(&"3c".repeat(32)).unwrap();
    let mut store = place.open();
    // Without an auditor nothing is recorded.
    store
        .record_alerts(&[alert("quiet", "0", 0, 0, 1, 0)], "detect", 1)
        .unwrap();
    assert!(store.audit_records(0, 10).unwrap().is_empty());
    store.set_auditor(Some(secops_store::Auditor {
        key: key.clone(),
        actor: "ana".into(),
        source: "192.0.2.7".into(),
    }));
    let ids = store
        .record_alerts(
            &[
                alert("a", "1", 0, 0, 1, 0),
                alert("a", "2", 0, 0, 1, 0),
                alert("a", "3", 0, 0, 1, 0),
            ],
            "detect",
            10,
        )
        .unwrap();
    let ids = inserted(&ids);
    store.acknowledge_alert(ids[1], "ana", 20).unwrap();
    // Refused: nothing recorded.
    assert!(store.close_alert(ids[1], "ana", "", 25).is_err());
    store.close_alert(ids[0], "ana", "benign", 30).unwrap();
    assert!(store.close_alert(ids[0], "ana", "benign", 31).is_err());
    store.alerts(&AlertFilter::default()).unwrap();
    let case = store
        .create_case(&new_case("Spray", vec![ids[1], ids[2]]), "ana", 40)
        .unwrap();
    let records = store.audit_records(0, 10).unwrap();
    let seen: Vec<(i64, &str, &str, &str, &str)> = records
        .iter()
        .map(|r| {
            let r = &r.record;
            (
                r.at,
                r.actor.as_str(),
                r.source.as_str(),
                r.action.as_str(),
                r.target.as_str(),
            )
        })
        .collect();
    let (a, b, c) = (ids[0], ids[1], ids[2]);
    assert_eq!(seen.len(), 4, "{seen:#?}");
    assert_eq!(
        seen[0],
        (
            10,
            "ana",
            "192.0.2.7",
            "alert.created",
            format!("alerts {a}-{c}").as_str()
        )
    );
    assert_eq!(
        seen[1],
        (
            20,
            "ana",
            "192.0.2.7",
            "alert.acknowledged",
            format!("alert {b}").as_str()
        )
    );
    assert_eq!(seen[2].3, "alert.closed");
    assert_eq!(seen[3].4, format!("case {}; alerts {b}-{c}", case.number));
    assert!(seen[3].3.starts_with("case.case_created"), "{}", seen[3].3);
    assert!(seen[3].3.contains("alert.linked_to_case"), "{}", seen[3].3);
    // One change: its own before and after; several: each named.
    let ack = &records[1].record;
    assert!(ack.before.as_deref().unwrap().contains("\"open\""));
    assert!(ack.after.as_deref().unwrap().contains("\"acknowledged\""));
    let linked = records[3].record.after.as_deref().unwrap();
    assert!(
        linked.contains(&format!("\"target\":\"alert {c}\"")),
        "{linked}"
    );
    let check = store.verify_audit(&key, None).unwrap();
    assert_eq!((check.records, check.broken), (4, None));
}

/// The audit chain: a normal log verifies; editing a record, deleting one in the middle, deleting
/// the newest (against the exported head) and recomputing the chain without the key each fail,
/// naming the first bad record.
fn the_audit_chain_breaks_where_the_log_was_edited_deleted_or_recomputed(place: &Place) {
    let key = secops_store::AuditKey::from_hex(&"5a".repeat(32)).unwrap();
    let append = |store: &mut Store, n: i64| {
        store
            .audit(
                &key,
                &secops_store::NewAudit {
                    at: n,
                    actor: "ana".into(),
                    source: "cli".into(),
                    action: "case.move".into(),
                    target: format!("case {n}"),
                    outcome: "success".into(),
                    before: Some("{\"state\":\"new\"}".into()),
                    after: None,
                },
            )
            .unwrap()
    };
    let fresh = |place: &Place| {
        let mut store = place.open();
        tamper(place, "DELETE FROM audit_log");
        let records: Vec<_> = (1..=5).map(|n| append(&mut store, n)).collect();
        (store, records)
    };
    let (mut store, records) = fresh(place);
    let head = store.audit_head().unwrap().unwrap();
    assert_eq!(head, (records[4].id, records[4].mac.clone()));
    let ok = store.verify_audit(&key, Some((head.0, &head.1))).unwrap();
    assert_eq!((ok.records, ok.broken.clone()), (5, None));
    // Another key does not verify it.
    let other = secops_store::AuditKey::from_hex(&"a5".repeat(32)).unwrap();
    assert!(store.verify_audit(&other, None).unwrap().broken.is_some());
    let broken_at = |store: &mut Store, head: Option<(i64, &str)>| match store
        .verify_audit(&key, head)
        .unwrap()
        .broken
    {
        Some(secops_store::AuditBreak::Record { id, .. }) => id,
        Some(secops_store::AuditBreak::Head { id }) => -id,
        None => 0,
    };
    // An edited record.
    tamper(
        place,
        &format!(
            "UPDATE audit_log SET actor = 'mallory' WHERE id = {}",
            records[2].id
        ),
    );
    assert_eq!(broken_at(&mut store, None), records[2].id);
    // A record deleted in the middle: the next one's link fails.
    let (mut store, records) = fresh(place);
    tamper(
        place,
        &format!("DELETE FROM audit_log WHERE id = {}", records[1].id),
    );
    assert_eq!(broken_at(&mut store, None), records[2].id);
    // The newest deleted: only the exported head tells.
    let (mut store, records) = fresh(place);
    let head = store.audit_head().unwrap().unwrap();
    tamper(
        place,
        &format!("DELETE FROM audit_log WHERE id = {}", records[4].id),
    );
    assert_eq!(broken_at(&mut store, None), 0);
    assert_eq!(
        broken_at(&mut store, Some((head.0, &head.1))),
        -records[4].id
    );
    // The chain recomputed without the key (a plain digest in place of the HMAC) from record 2 on.
    let (mut store, records) = fresh(place);
    tamper(
        place,
        &format!(
            "UPDATE audit_log SET actor = 'mallory', mac = '{}' WHERE id = {}",
            "0".repeat(64),
            records[1].id
        ),
    );
    tamper(
        place,
        &format!(
            "UPDATE audit_log SET prev_mac = '{}' WHERE id = {}",
            "0".repeat(64),
            records[2].id
        ),
    );
    assert_eq!(broken_at(&mut store, None), records[1].id);
}

/// Users: added once, changed in one transaction; API keys: found by id with their digest, revoked
/// once (the first time kept), their use recorded.
fn users_and_api_keys_are_kept_and_changed_whole(place: &Place) {
    let mut store = place.open();
    let ana = store
        .add_user("ana", "analyst", "$argon2id$hash", 10, None)
        .unwrap();
    assert_eq!(
        (ana.role.as_str(), ana.disabled, ana.failed_logins),
        ("analyst", false, 0)
    );
    assert!(store.add_user("ana", "admin", "$x", 11, None).is_err());
    store.add_user("bob", "viewer", "$y", 12, None).unwrap();
    let changed = store
        .update_user(
            "ana",
            20,
            |u| {
                u.failed_logins = 3;
                u.locked_until = Some(99);
                u.disabled = true;
            },
            None,
        )
        .unwrap();
    assert_eq!(store.user("ana").unwrap(), Some(changed.clone()));
    assert_eq!(
        (
            changed.failed_logins,
            changed.locked_until,
            changed.updated_at
        ),
        (3, Some(99), 20)
    );
    let names: Vec<String> = store.users().unwrap().into_iter().map(|u| u.name).collect();
    assert_eq!(names, ["ana", "bob"]);
    assert!(store.update_user("nobody", 21, |_| {}, None).is_err());
    let key = secops_store::ApiKeyRecord {
        key_id: "0a1b2c3d".into(),
        name: "soar".into(),
        role: "analyst".into(),
        owner: "ana".into(),
        created_at: 30,
        expires_at: Some(1_000),
        revoked_at: None,
        last_used_at: None,
        last_used_from: None,
    };
    store.add_api_key(&key, "d1g3st", None).unwrap();
    let (found, digest) = store.api_key_digest("0a1b2c3d").unwrap().unwrap();
    assert_eq!((found, digest.as_str()), (key.clone(), "d1g3st"));
    store.touch_api_key("0a1b2c3d", 40, "10.0.0.5").unwrap();
    assert_eq!(
        store
            .revoke_api_key("0a1b2c3d", 50, None)
            .unwrap()
            .revoked_at,
        Some(50)
    );
    let again = store.revoke_api_key("0a1b2c3d", 60, None).unwrap();
    assert_eq!(
        (
            again.revoked_at,
            again.last_used_at,
            again.last_used_from.as_deref()
        ),
        (Some(50), Some(40), Some("10.0.0.5"))
    );
    assert!(store.revoke_api_key("ffffffff", 60, None).is_err());
    assert_eq!(store.api_keys().unwrap().len(), 1);
}

/// Evidence on a case: read back whole, with its timeline entry and its line in the case's log; on a
/// case that does not exist, nothing is added.
fn evidence_comes_with_its_timeline_entry_and_log_line(place: &Place) {
    let mut store = place.open();
    store
        .create_case(&new_case("Case", vec![]), "ana", 1)
        .unwrap();
    let evidence = secops_store::NewEvidence {
        kind: "hunt".into(),
        title: "SSH sources first seen".into(),
        query: "FROM logs-system.auth-* | LIMIT 3".into(),
        data_from: Some(100),
        data_to: None,
        query_now: 500,
        rows: 3,
        path: "evidence/case-1/rows.csv".into(),
        format: "csv".into(),
        sha256: "ab".repeat(32),
    };
    let entry = NewTimelineEntry {
        at: 500,
        title: "Hunt: SSH sources first seen (3 rows)".into(),
        body: String::new(),
        source: "hunt".into(),
        tactic: None,
        technique: Some("T1078".into()),
    };
    let added = store.add_evidence(1, &evidence, &entry, "ana", 7).unwrap();
    assert_eq!(added.evidence, evidence);
    let listed = store.evidence(1).unwrap();
    assert_eq!(listed, vec![added]);
    assert_eq!(listed[0].added_by, "ana");
    let timeline = store.timeline(1).unwrap();
    assert_eq!(timeline.len(), 1);
    assert_eq!(timeline[0].source, "hunt");
    let log: Vec<String> = store
        .case_events(1)
        .unwrap()
        .into_iter()
        .map(|e| e.kind)
        .collect();
    assert!(log.contains(&"evidence_added".to_string()), "{log:?}");
    assert!(store.add_evidence(9, &evidence, &entry, "ana", 8).is_err());
    assert_eq!(store.evidence(1).unwrap().len(), 1);
}

/// A scheduled hunt's record: created by its first run, moved on by later ones, never moved back by
/// a run over an earlier range; runs and alerts added up.
fn a_scheduled_hunt_keeps_the_end_of_what_it_covered(place: &Place) {
    let mut store = place.open();
    assert_eq!(store.hunt_schedule("h#1").unwrap(), None);
    let first = store.record_hunt_run("h#1", 1_000, 600, 5, 3).unwrap();
    assert_eq!(
        (
            first.covered_to,
            first.look_back,
            first.last_run,
            first.runs,
            first.alerts
        ),
        (1_000, 600, 5, 1, 3)
    );
    let later = store.record_hunt_run("h#1", 4_000, 600, 9, 2).unwrap();
    assert_eq!((later.covered_to, later.runs, later.alerts), (4_000, 2, 5));
    let earlier = store.record_hunt_run("h#1", 2_000, 600, 12, 0).unwrap();
    assert_eq!(
        (earlier.covered_to, earlier.last_run, earlier.runs),
        (4_000, 12, 3)
    );
    store.record_hunt_run("g#1", 7, 1, 1, 0).unwrap();
    let all: Vec<String> = store
        .hunt_schedules()
        .unwrap()
        .into_iter()
        .map(|h| h.hunt)
        .collect();
    assert_eq!(all, ["g#1", "h#1"]);
}

/// Risk contributions: recorded once per entity and alert, read back by entity and time.
fn risk_contributions_are_kept_once_per_entity_and_alert(place: &Place) {
    let mut store = place.open();
    let c = |entity: &str, alert: &str, at: i64| secops_store::RiskContribution {
        kind: "host".into(),
        entity: entity.into(),
        alert_id: alert.into(),
        rule: "Sudo Failure".into(),
        points: 31.5,
        at,
        tactics: vec!["TA0004".into(), "TA0008".into()],
        sources: vec!["system.auth".into(), "zeek.conn".into()],
    };
    let first = [
        c("web1", "a1", 100),
        c("web1", "a2", 200),
        c("web2", "a1", 150),
    ];
    assert_eq!(store.record_risk(&first).unwrap(), 3);
    // The same alerts again (a second run over the same logs) add nothing; a new one is added.
    assert_eq!(
        store
            .record_risk(&[c("web1", "a2", 200), c("web1", "a3", 300)])
            .unwrap(),
        1
    );
    let web1 = store.risk_contributions("host", "web1", 0, 300).unwrap();
    assert_eq!(web1, vec![c("web1", "a1", 100), c("web1", "a2", 200)]);
    assert_eq!(
        store
            .risk_contributions("host", "web1", 150, i64::MAX)
            .unwrap()
            .len(),
        2
    );
    assert!(store
        .risk_contributions("user", "web1", 0, i64::MAX)
        .unwrap()
        .is_empty());
}

/// An alert recorded when raised, and the repeats folded into it recorded when its window closes.
fn repeats_folded_in_after_recording_move_the_alert_on_and_are_logged(place: &Place) {
    let mut store = place.open();
    let recorded = store
        .record_alerts(&[alert("r", "g", 0, 10, 10, 60 * MINUTE)], "detect", 100)
        .unwrap();
    let Recorded::Inserted(id) = recorded[0] else {
        panic!("{recorded:?}")
    };
    let closed = "{\"rule\":\"r\",\"alert.suppression.events\":20}".to_string();
    store
        .fold_into_alerts(
            &[AlertFold {
                id,
                last_seen: 40 * MINUTE,
                events: 20,
                document: Some(closed.clone()),
            }],
            "detect",
            200,
        )
        .unwrap();
    let stored = store.alert(id).unwrap();
    assert_eq!(
        (stored.last_seen, stored.event_count, stored.updated_at),
        (40 * MINUTE, 30, 200)
    );
    assert_eq!(stored.document, closed);
    // Without a document (an alert that merged into an earlier one), only the counts move on; an
    // earlier last-seen never moves it back.
    store
        .fold_into_alerts(
            &[AlertFold {
                id,
                last_seen: 5,
                events: 2,
                document: None,
            }],
            "detect",
            300,
        )
        .unwrap();
    let stored = store.alert(id).unwrap();
    assert_eq!((stored.last_seen, stored.event_count), (40 * MINUTE, 32));
    assert_eq!(stored.document, closed);
    let log: Vec<String> = store
        .alert_events(id)
        .unwrap()
        .into_iter()
        .map(|e| format!("{} {}", e.kind, e.after.unwrap_or_default()))
        .collect();
    assert_eq!(
        log,
        [
            "created ".to_string(),
            format!(
                "merged {{\"last_seen\":{},\"event_count\":30}}",
                40 * MINUTE
            ),
            format!(
                "merged {{\"last_seen\":{},\"event_count\":32}}",
                40 * MINUTE
            ),
        ]
    );
    // An alert that is not there is an error, and nothing changes.
    assert!(store
        .fold_into_alerts(
            &[AlertFold {
                id: id + 1000,
                last_seen: 0,
                events: 1,
                document: None,
            }],
            "detect",
            400,
        )
        .is_err());
}

/// An incident of tens of thousands of alerts: more ids than either database takes as parameters.
fn any_number_of_alert_ids_can_be_asked_for(place: &Place) {
    let mut store = place.open();
    let alerts: Vec<NewAlert> = (0..3)
        .map(|i| alert("r", &format!("g{i}"), i * MINUTE, i * MINUTE, 1, 0))
        .collect();
    store.record_alerts(&alerts, "detect", 1).unwrap();
    let stored: Vec<i64> = store
        .alerts(&AlertFilter::default())
        .unwrap()
        .iter()
        .map(|a| a.id)
        .collect();
    // 70,000 ids (SQLite takes 32,766 parameters, PostgreSQL 65,535), the stored ones among them.
    let mut ids: Vec<i64> = (1_000_000..1_070_000).collect();
    ids.extend(&stored);
    let found = store
        .alerts(&AlertFilter {
            ids,
            limit: Some(2),
            ..AlertFilter::default()
        })
        .unwrap();
    assert_eq!(
        found.iter().map(|a| a.id).collect::<Vec<_>>(),
        stored[..2].to_vec(),
        "newest first, limited"
    );
}

/// Pages of `size` through alerts whose times tie in places: every alert once, in the listing's order.
fn alerts_and_cases_page_by_keyset_without_gaps_or_repeats(place: &Place) {
    let mut store = place.open();
    let alerts: Vec<NewAlert> = (0..11)
        .map(|i| {
            alert(
                "r",
                &format!("g{i}"),
                (i / 3) * MINUTE,
                (i / 3) * MINUTE,
                1,
                0,
            )
        })
        .collect();
    store.record_alerts(&alerts, "detect", 1).unwrap();
    let all: Vec<i64> = store
        .alerts(&AlertFilter::default())
        .unwrap()
        .iter()
        .map(|a| a.id)
        .collect();
    assert_eq!(all.len(), 11);
    let (mut paged, mut after, mut pages) = (Vec::new(), None, 0);
    loop {
        let page = store
            .alerts(&AlertFilter {
                after,
                limit: Some(4),
                ..AlertFilter::default()
            })
            .unwrap();
        paged.extend(page.iter().map(|a| a.id));
        pages += 1;
        match page.last() {
            Some(last) if page.len() == 4 => after = Some(last.cursor()),
            _ => break,
        }
    }
    assert_eq!(paged, all);
    assert_eq!(pages, 3);
    for n in 0..5 {
        store
            .create_case(
                &NewCase {
                    title: format!("case {n}"),
                    ..NewCase::default()
                },
                "ana",
                1,
            )
            .unwrap();
    }
    let mut page = |before: Option<i64>| -> Vec<i64> {
        store
            .cases(&CaseFilter {
                before_number: before,
                limit: Some(2),
                ..CaseFilter::default()
            })
            .unwrap()
            .iter()
            .map(|c| c.number)
            .collect()
    };
    assert_eq!(page(None), [5, 4]);
    assert_eq!(page(Some(4)), [3, 2]);
    assert_eq!(page(Some(2)), [1]);
}

fn alert(rule: &str, group: &str, first: i64, last: i64, count: u64, window: i64) -> NewAlert {
    NewAlert {
        rule_id: rule.into(),
        rule_name: format!("Rule {rule}"),
        rule_version: 2,
        severity: "high".into(),
        risk_score: 73,
        group_key: group.into(),
        first_seen: first,
        last_seen: last,
        event_count: count,
        dedupe_window: window,
        document: format!("{{\"rule\":\"{rule}\",\"group\":\"{group}\"}}"),
    }
}

const MINUTE: i64 = 60_000_000_000;

fn migrations_apply_once_and_a_newer_schema_is_refused(place: &Place) {
    let store = place.open();
    drop(store);
    // Opening again applies nothing and keeps the data.
    let mut store = place.open();
    store
        .record_alerts(&[alert("r", "g", 0, 0, 1, 0)], "t", 1)
        .unwrap();
    drop(store);
    let mut store = place.open();
    assert_eq!(store.alerts(&AlertFilter::default()).unwrap().len(), 1);
    drop(store);
    // A database from a newer secops is refused, not misread.
    match place {
        Place::Sqlite(dir) => {
            let c = rusqlite::Connection::open(dir.path().join("secops.db")).unwrap();
            c.execute(
                "INSERT INTO schema_migrations (version, name, applied_at) VALUES (999, 'future', 0)",
                [],
            )
            .unwrap();
        }
        Place::Postgres { url, schema } => {
            let mut c = postgres_client(url).unwrap();
            c.batch_execute(&format!(
                "INSERT INTO {schema}.schema_migrations (version, name, applied_at) VALUES (999, 'future', 0)"
            ))
            .unwrap();
        }
    }
    let error = Store::open(&place.target()).unwrap_err();
    assert!(
        matches!(error, StoreError::Newer { found: 999, .. }),
        "{error}"
    );
}

fn alerts_are_deduplicated_across_runs_and_merged_within_the_window(place: &Place) {
    let mut store = place.open();
    let first = alert("brute", "203.0.113.7", 0, MINUTE, 12, 10 * MINUTE);
    let recorded = store
        .record_alerts(std::slice::from_ref(&first), "detect", 100)
        .unwrap();
    let Recorded::Inserted(id) = recorded[0] else {
        panic!("{recorded:?}")
    };
    // A second run over the same logs: the same alert again, nothing added.
    assert_eq!(
        store
            .record_alerts(std::slice::from_ref(&first), "detect", 200)
            .unwrap(),
        vec![Recorded::Duplicate(id)]
    );
    // Five minutes later, same rule and group, within the window: folded in.
    let repeat = alert(
        "brute",
        "203.0.113.7",
        6 * MINUTE,
        7 * MINUTE,
        5,
        10 * MINUTE,
    );
    assert_eq!(
        store
            .record_alerts(std::slice::from_ref(&repeat), "detect", 300)
            .unwrap(),
        vec![Recorded::Merged(id)]
    );
    // And a re-run of that repeat is a duplicate, not counted twice.
    assert_eq!(
        store.record_alerts(&[repeat], "detect", 400).unwrap(),
        vec![Recorded::Duplicate(id)]
    );
    let stored = store.alert(id).unwrap();
    assert_eq!((stored.event_count, stored.last_seen), (17, 7 * MINUTE));
    // Another group, or outside the window: alerts of their own.
    let other = store
        .record_alerts(
            &[
                alert(
                    "brute",
                    "198.51.100.9",
                    6 * MINUTE,
                    7 * MINUTE,
                    5,
                    10 * MINUTE,
                ),
                alert(
                    "brute",
                    "203.0.113.7",
                    30 * MINUTE,
                    31 * MINUTE,
                    5,
                    10 * MINUTE,
                ),
            ],
            "detect",
            500,
        )
        .unwrap();
    assert!(
        matches!(other[..], [Recorded::Inserted(a), Recorded::Inserted(b)] if a != id && b != id && a != b)
    );
    // A closed alert does not take repeats.
    store.close_alert(id, "ana", "true_positive", 600).unwrap();
    let after_close = alert(
        "brute",
        "203.0.113.7",
        8 * MINUTE,
        9 * MINUTE,
        2,
        10 * MINUTE,
    );
    assert!(matches!(
        store.record_alerts(&[after_close], "detect", 700).unwrap()[0],
        Recorded::Inserted(_)
    ));
    // Without a window only exact repeats are one.
    let single = alert("query", "", 50 * MINUTE, 50 * MINUTE, 1, 0);
    let next = alert("query", "", 51 * MINUTE, 51 * MINUTE, 1, 0);
    let r = store.record_alerts(&[single, next], "detect", 800).unwrap();
    assert!(matches!(
        r[..],
        [Recorded::Inserted(_), Recorded::Inserted(_)]
    ));
    assert_eq!(store.alerts(&AlertFilter::default()).unwrap().len(), 6);
}

fn alert_changes_follow_their_lifecycle_and_are_logged(place: &Place) {
    let mut store = place.open();
    let id = match store
        .record_alerts(&[alert("r", "g", 0, 0, 1, 0)], "detect", 10)
        .unwrap()[0]
    {
        Recorded::Inserted(id) => id,
        other => panic!("{other:?}"),
    };
    let acked = store.acknowledge_alert(id, "ana", 20).unwrap();
    assert_eq!(acked.status, AlertStatus::Acknowledged);
    let again = store.acknowledge_alert(id, "ana", 30).unwrap_err();
    assert!(again.to_string().contains("only open alerts"), "{again}");
    let empty = store.close_alert(id, "ana", " ", 40).unwrap_err();
    assert!(empty.to_string().contains("needs a resolution"), "{empty}");
    let closed = store.close_alert(id, "bob", "false_positive", 50).unwrap();
    assert_eq!(
        (closed.status, closed.resolution.as_deref()),
        (AlertStatus::Closed, Some("false_positive"))
    );
    assert!(store.close_alert(id, "bob", "x", 60).is_err());
    let log = store.alert_events(id).unwrap();
    let kinds: Vec<(&str, &str)> = log
        .iter()
        .map(|e| (e.kind.as_str(), e.actor.as_str()))
        .collect();
    assert_eq!(
        kinds,
        vec![
            ("created", "detect"),
            ("acknowledged", "ana"),
            ("closed", "bob")
        ]
    );
    assert!(log[2]
        .before
        .as_deref()
        .unwrap()
        .contains("\"acknowledged\""));
    assert!(log[2].after.as_deref().unwrap().contains("false_positive"));
    let missing = store.alert(id + 1000).unwrap_err();
    assert!(
        matches!(missing, StoreError::NotFound { what: "alert", .. }),
        "{missing}"
    );
}

fn alerts_are_listed_by_status_rule_and_time(place: &Place) {
    let mut store = place.open();
    let alerts: Vec<NewAlert> = (0..5)
        .map(|i| {
            alert(
                if i % 2 == 0 { "even" } else { "odd" },
                &format!("g{i}"),
                i * MINUTE,
                i * MINUTE,
                1,
                0,
            )
        })
        .collect();
    store.record_alerts(&alerts, "detect", 1).unwrap();
    let all = store.alerts(&AlertFilter::default()).unwrap();
    assert_eq!(all.len(), 5);
    assert!(
        all.windows(2).all(|w| w[0].last_seen >= w[1].last_seen),
        "newest first"
    );
    let even = store
        .alerts(&AlertFilter {
            rule: Some("even".into()),
            ..AlertFilter::default()
        })
        .unwrap();
    assert_eq!(even.len(), 3);
    store.acknowledge_alert(even[0].id, "ana", 2).unwrap();
    let open = store
        .alerts(&AlertFilter {
            status: Some(AlertStatus::Open),
            since: Some(MINUTE),
            limit: Some(10),
            ..AlertFilter::default()
        })
        .unwrap();
    assert_eq!(open.len(), 3, "{open:?}");
    let by_id = store
        .alerts(&AlertFilter {
            ids: vec![all[0].id, all[1].id],
            ..AlertFilter::default()
        })
        .unwrap();
    assert_eq!(by_id.len(), 2);
    assert_eq!(by_id[0].document, all[0].document);
}

fn new_case(title: &str, alert_ids: Vec<i64>) -> NewCase {
    NewCase {
        title: title.into(),
        description: "From alerts".into(),
        severity: "high".into(),
        tlp: "amber".into(),
        pap: "amber".into(),
        state: "new".into(),
        playbook: Some("brute_force".into()),
        tags: vec!["ssh".into()],
        detected_at: Some(5),
        alert_ids,
        tasks: vec![
            NewTask {
                group: "identification".into(),
                title: "Scope the source".into(),
                description: String::new(),
            },
            NewTask {
                group: "containment".into(),
                title: "Block the source".into(),
                description: String::new(),
            },
        ],
        ..NewCase::default()
    }
}

fn cases_number_in_order_and_keep_tasks_alerts_and_a_log(place: &Place) {
    let mut store = place.open();
    let ids: Vec<i64> = store
        .record_alerts(
            &[alert("a", "1", 0, 0, 1, 0), alert("a", "2", 0, 0, 1, 0)],
            "detect",
            1,
        )
        .unwrap()
        .into_iter()
        .map(|r| match r {
            Recorded::Inserted(id) => id,
            other => panic!("{other:?}"),
        })
        .collect();
    let first = store
        .create_case(&new_case("One", ids.clone()), "ana", 10)
        .unwrap();
    let second = store
        .create_case(&new_case("Two", vec![]), "ana", 11)
        .unwrap();
    assert_eq!((first.number, second.number), (1, 2));
    assert_eq!(first.tags, vec!["ssh".to_string()]);
    assert_eq!(store.case_alert_ids(1).unwrap(), ids);
    assert_eq!(store.alert(ids[0]).unwrap().case_id, Some(first.id));
    // An alert belongs to one case.
    let taken = store.link_alerts(2, &ids[..1], "ana", 12).unwrap_err();
    assert!(
        taken.to_string().contains("belongs to another case"),
        "{taken}"
    );
    let tasks = store.tasks(1).unwrap();
    assert_eq!(
        tasks
            .iter()
            .map(|t| (t.position, t.title.as_str(), t.status.as_str()))
            .collect::<Vec<_>>(),
        vec![
            (1, "Scope the source", "todo"),
            (2, "Block the source", "todo")
        ]
    );
    let kinds: Vec<String> = store
        .case_events(1)
        .unwrap()
        .into_iter()
        .map(|e| e.kind)
        .collect();
    assert_eq!(
        kinds,
        vec![
            "case_created",
            "task_created",
            "task_created",
            "alert_linked",
            "alert_linked"
        ]
    );
    let listed = store.cases(&CaseFilter::default()).unwrap();
    assert_eq!(
        listed.iter().map(|c| c.number).collect::<Vec<_>>(),
        vec![2, 1]
    );
    let missing = store.case(99).unwrap_err();
    assert!(
        matches!(missing, StoreError::NotFound { what: "case", .. }),
        "{missing}"
    );
}

fn a_failed_change_leaves_nothing_behind(place: &Place) {
    let mut store = place.open();
    // A case naming an alert that does not exist is refused whole: no case, no tasks, no number used.
    let error = store
        .create_case(&new_case("Broken", vec![4242]), "ana", 1)
        .unwrap_err();
    assert!(
        matches!(error, StoreError::NotFound { what: "alert", .. }),
        "{error}"
    );
    assert!(store.cases(&CaseFilter::default()).unwrap().is_empty());
    let ok = store
        .create_case(&new_case("Fine", vec![]), "ana", 2)
        .unwrap();
    assert_eq!(ok.number, 1);
    assert_eq!(
        store
            .all_case_events()
            .unwrap()
            .iter()
            .filter(|e| e.case_id == ok.id)
            .count(),
        3
    );
}

fn case_updates_log_before_and_after_and_refusals_change_nothing(place: &Place) {
    let mut store = place.open();
    store
        .create_case(&new_case("Case", vec![]), "ana", 1)
        .unwrap();
    let moved = store
        .update_case(1, "bob", 2, |case| {
            assert_eq!(case.state, "new");
            Ok((
                "state_changed".into(),
                CaseUpdate {
                    state: Some("triage".into()),
                    assignee: Some(Some("bob".into())),
                    ..CaseUpdate::default()
                },
            ))
        })
        .unwrap();
    assert_eq!(
        (moved.state.as_str(), moved.assignee.as_deref()),
        ("triage", Some("bob"))
    );
    let refused = store
        .update_case(1, "eve", 3, |_| {
            Err(StoreError::Invalid("not allowed".into()))
        })
        .unwrap_err();
    assert_eq!(refused, StoreError::Invalid("not allowed".into()));
    assert_eq!(store.case(1).unwrap().updated_at, 2);
    let events = store.case_events(1).unwrap();
    let last = events.last().unwrap();
    assert_eq!(
        (last.kind.as_str(), last.actor.as_str(), last.at),
        ("state_changed", "bob", 2)
    );
    let before: serde_json::Value = serde_json::from_str(last.before.as_deref().unwrap()).unwrap();
    let after: serde_json::Value = serde_json::from_str(last.after.as_deref().unwrap()).unwrap();
    assert_eq!(
        before,
        serde_json::json!({"state": "new", "assignee": null})
    );
    assert_eq!(
        after,
        serde_json::json!({"state": "triage", "assignee": "bob"})
    );
    // Tasks change with a log line too.
    let task = store.tasks(1).unwrap()[0].clone();
    let done = store
        .update_task(1, task.id, "bob", 4, |_, t| {
            assert_eq!(t.status, "todo");
            Ok(("done".into(), None))
        })
        .unwrap();
    assert_eq!(done.status, "done");
    assert_eq!(
        store.case_events(1).unwrap().last().unwrap().kind,
        "task_status_changed"
    );
    let wrong_case = store
        .create_case(&new_case("Other", vec![]), "ana", 5)
        .unwrap();
    assert!(store
        .update_task(wrong_case.number, task.id, "bob", 6, |_, _| Ok((
            "done".into(),
            None
        )))
        .is_err());
}

fn observables_timeline_and_comments(place: &Place) {
    let mut store = place.open();
    store
        .create_case(&new_case("Case", vec![]), "ana", 1)
        .unwrap();
    let ip = NewObservable {
        kind: "ip-src".into(),
        value: "203.0.113.7".into(),
        is_ioc: true,
        tlp: "amber".into(),
        description: "brute-force source".into(),
    };
    let (first, added) = store.add_observable(1, &ip, "ana", 2).unwrap();
    assert!(added && first.is_ioc);
    let (again, added) = store.add_observable(1, &ip, "ana", 3).unwrap();
    assert!(!added);
    assert_eq!(again.id, first.id);
    for (at, title) in [
        (30, "Login succeeded"),
        (10, "First failure"),
        (20, "Burst"),
    ] {
        store
            .add_timeline_entry(
                1,
                &NewTimelineEntry {
                    at,
                    title: title.into(),
                    body: String::new(),
                    source: "alert".into(),
                    tactic: Some("TA0006".into()),
                    technique: Some("T1110".into()),
                },
                "ana",
                4,
            )
            .unwrap();
    }
    let titles: Vec<String> = store
        .timeline(1)
        .unwrap()
        .into_iter()
        .map(|t| t.title)
        .collect();
    assert_eq!(titles, vec!["First failure", "Burst", "Login succeeded"]);
    store
        .add_comment(1, "Blocked at the edge.", "bob", 5)
        .unwrap();
    assert!(store.add_comment(1, "  ", "bob", 6).is_err());
    let comments = store.comments(1).unwrap();
    assert_eq!(
        (comments[0].author.as_str(), comments[0].body.as_str()),
        ("bob", "Blocked at the edge.")
    );
    let kinds: Vec<String> = store
        .case_events(1)
        .unwrap()
        .into_iter()
        .map(|e| e.kind)
        .collect();
    assert_eq!(kinds.iter().filter(|k| *k == "observable_added").count(), 1);
    assert_eq!(
        kinds
            .iter()
            .filter(|k| *k == "timeline_entry_added")
            .count(),
        3
    );
    assert_eq!(kinds.last().map(String::as_str), Some("comment_created"));
}

fn concurrent_writers_lose_nothing(place: &Place) {
    drop(place.open()); // migrated once before the writers start
    let threads: Vec<_> = (0..4)
        .map(|w| {
            let target = place.target();
            std::thread::spawn(move || {
                let mut store = Store::open(&target).unwrap();
                for i in 0..8 {
                    let group = format!("w{w}-{i}");
                    let alerts: Vec<NewAlert> = (0..5)
                        .map(|k| alert("conc", &group, k * MINUTE, k * MINUTE, 1, 0))
                        .collect();
                    store.record_alerts(&alerts, "detect", 1).unwrap();
                    store
                        .create_case(&new_case(&group, vec![]), "ana", 2)
                        .unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let mut store = place.open();
    assert_eq!(
        store.alerts(&AlertFilter::default()).unwrap().len(),
        4 * 8 * 5
    );
    let mut numbers: Vec<i64> = store
        .cases(&CaseFilter::default())
        .unwrap()
        .into_iter()
        .map(|c| c.number)
        .collect();
    numbers.sort_unstable();
    assert_eq!(numbers, (1..=32).collect::<Vec<i64>>());
}

/// The child process of [`a_writer_killed_mid_transaction_leaves_whole_batches`]: writes batches of
/// 20 alerts to `SECOPS_STORE_CRASH_TARGET` until killed. Ignored in normal runs; the parent runs it
/// with `--ignored`.
#[test]
#[ignore = "a child process of the crash test, not a test of its own"]
fn crash_writer() {
    let target = std::env::var("SECOPS_STORE_CRASH_TARGET")
        .expect("SECOPS_STORE_CRASH_TARGET names the store to write to");
    let mut store = Store::open(&target).unwrap();
    println!("writing");
    for batch in 0.. {
        let alerts: Vec<NewAlert> = (0..20)
            .map(|k| {
                alert(
                    "crash",
                    &format!("batch{batch}"),
                    k * MINUTE,
                    k * MINUTE,
                    1,
                    0,
                )
            })
            .collect();
        store.record_alerts(&alerts, "detect", 1).unwrap();
    }
}

fn a_writer_killed_mid_transaction_leaves_whole_batches(place: &Place) {
    drop(place.open());
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "crash_writer", "--ignored", "--nocapture"])
        .env("SECOPS_STORE_CRASH_TARGET", place.target())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut store = place.open();
    // Let it write a good number of batches, then kill it without warning.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while store.alerts(&AlertFilter::default()).unwrap().len() < 200
        && std::time::Instant::now() < deadline
    {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    drop(store);
    let mut store = place.open();
    let alerts = store.alerts(&AlertFilter::default()).unwrap();
    assert!(
        alerts.len() >= 200,
        "the writer wrote {} alerts",
        alerts.len()
    );
    let mut per_batch = std::collections::HashMap::new();
    for a in &alerts {
        *per_batch.entry(a.group_key.clone()).or_insert(0) += 1;
    }
    assert!(
        per_batch.values().all(|&n| n == 20),
        "a batch was cut: {per_batch:?}"
    );
    // The database is whole and takes writes.
    store
        .record_alerts(&[alert("after", "x", 0, 0, 1, 0)], "detect", 2)
        .unwrap();
    if let Place::Sqlite(dir) = place {
        let c = rusqlite::Connection::open(dir.path().join("secops.db")).unwrap();
        let check: String = c
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .unwrap();
        assert_eq!(check, "ok");
    }
}

/// An indicator valid until `expires_at` (the tests' expiry is the validity).
fn ioc(kind: Kind, value: &str, source: &str, expires_at: i64) -> NewIndicator {
    let mut indicator = Indicator::new(kind, value.into(), source);
    indicator.first_seen = Some(100);
    indicator.confidence = Some(50);
    indicator.tags = vec!["c2".into()];
    indicator.valid_until = Some(expires_at);
    NewIndicator {
        indicator,
        warninglists: Vec::new(),
    }
}

fn validity(i: &Indicator) -> i64 {
    i.valid_until.unwrap_or(i64::MAX)
}

fn indicators_are_refreshed_not_duplicated_and_expire(place: &Place) {
    let mut store = place.open();
    let mut public_dns = ioc(Kind::Ip, "8.8.8.8", "feed-a", 10_000);
    public_dns.warninglists = vec!["List of known IPv4 public DNS resolvers".into()];
    let first = store
        .store_indicators(
            &[
                ioc(Kind::Ip, "203.0.113.7", "feed-a", 1_000),
                ioc(Kind::Domain, "evil.example", "feed-a", 5_000),
                ioc(Kind::Ip, "203.0.113.7", "feed-b", 2_000),
                public_dns,
            ],
            10,
            &validity,
        )
        .unwrap();
    assert!(first.iter().all(|s| matches!(s, Stored::Added(_))));
    // The same indicator again from feed-a: refreshed, with the later expiry and higher confidence.
    let mut again = ioc(Kind::Ip, "203.0.113.7", "feed-a", 3_000);
    again.indicator.confidence = Some(90);
    again.indicator.first_seen = Some(50);
    again.indicator.tags = vec!["pikabot".into()];
    let Stored::Updated(id) = store.store_indicators(&[again], 20, &validity).unwrap()[0] else {
        panic!("not updated")
    };
    let record = store.indicator(id).unwrap();
    assert_eq!(record.expires_at, 3_000);
    assert_eq!(record.indicator.confidence, Some(90));
    assert_eq!(record.indicator.first_seen, Some(50));
    assert_eq!(
        record.indicator.tags,
        vec!["c2".to_string(), "pikabot".to_string()]
    );
    assert_eq!(
        store.indicators(&IndicatorFilter::default()).unwrap().len(),
        4
    );
    // What matches at a time: unexpired, for detection, not warninglisted.
    let active = |store: &mut Store, at| {
        store
            .indicators(&IndicatorFilter {
                active_at: Some(at),
                ..IndicatorFilter::default()
            })
            .unwrap()
            .into_iter()
            .map(|r| (r.indicator.value, r.indicator.source))
            .collect::<Vec<_>>()
    };
    assert_eq!(active(&mut store, 2_500).len(), 2);
    assert_eq!(
        active(&mut store, 4_000),
        vec![("evil.example".to_string(), "feed-a".to_string())]
    );
    let found = store
        .indicators(&IndicatorFilter {
            search: Some("EVIL".into()),
            ..IndicatorFilter::default()
        })
        .unwrap();
    assert_eq!(found.len(), 1);
    let literal = store
        .indicators(&IndicatorFilter {
            search: Some("%".into()),
            ..IndicatorFilter::default()
        })
        .unwrap();
    assert!(
        literal.is_empty(),
        "LIKE wildcards in the search are literal"
    );
    // Only feed-b's copy had expired by then.
    assert_eq!(store.prune_indicators(2_500).unwrap(), 1);
    assert_eq!(
        store.indicators(&IndicatorFilter::default()).unwrap().len(),
        3
    );
    assert_eq!(store.intel_state("taxii").unwrap(), None);
    store
        .set_intel_state("taxii", "2024-01-01T00:00:00Z")
        .unwrap();
    store
        .set_intel_state("taxii", "2024-02-01T00:00:00Z")
        .unwrap();
    assert_eq!(
        store.intel_state("taxii").unwrap().as_deref(),
        Some("2024-02-01T00:00:00Z")
    );
}

/// Alert volume per rule and period (times before 1970 too), entities by recorded points, and
/// indicators by kind, source and state: the same on both databases.
fn what_the_api_counts_is_counted_alike(place: &Place) {
    let mut store = place.open();
    let hour = 60 * MINUTE;
    let alerts = vec![
        alert("a", "g1", -hour / 2, -hour / 2, 1, 0),
        alert("a", "g2", hour / 2, hour / 2, 1, 0),
        alert("a", "g3", hour + 1, hour + 1, 1, 0),
        alert("b", "g1", hour + 2, hour + 2, 1, 0),
        alert("b", "g2", 5 * hour, 5 * hour, 1, 0),
    ];
    store.record_alerts(&alerts, "detect", 1).unwrap();
    let counts: Vec<(String, i64, i64)> = store
        .alert_volume(-hour, 2 * hour, hour)
        .unwrap()
        .into_iter()
        .map(|v| (v.rule_id, v.start, v.alerts))
        .collect();
    assert_eq!(
        counts,
        vec![
            ("a".to_string(), -hour, 1),
            ("a".to_string(), 0, 1),
            ("a".to_string(), hour, 1),
            ("b".to_string(), hour, 1),
        ]
    );
    let c = |entity: &str, alert: &str, points: f64, at: i64| secops_store::RiskContribution {
        kind: "host".into(),
        entity: entity.into(),
        alert_id: alert.into(),
        rule: "r".into(),
        points,
        at,
        tactics: vec![],
        sources: vec![],
    };
    store
        .record_risk(&[
            c("web1", "a1", 10.5, 100),
            c("web1", "a2", 10.25, 200),
            c("db1", "a3", 30.0, 300),
            c("old", "a4", 99.0, 10),
        ])
        .unwrap();
    let leaders: Vec<(String, f64, i64, i64)> = store
        .risk_leaders("host", 50, 10)
        .unwrap()
        .into_iter()
        .map(|l| (l.entity, l.points, l.contributions, l.latest))
        .collect();
    assert_eq!(
        leaders,
        vec![
            ("db1".to_string(), 30.0, 1, 300),
            ("web1".to_string(), 20.75, 2, 200)
        ]
    );
    let mut listed = ioc(Kind::Ip, "8.8.8.8", "feed-a", 10_000);
    listed.warninglists = vec!["public DNS".into()];
    let mut context = ioc(Kind::Domain, "example.org", "feed-b", 10_000);
    context.indicator.to_ids = false;
    store
        .store_indicators(
            &[
                ioc(Kind::Ip, "203.0.113.7", "feed-a", 10_000),
                ioc(Kind::Ip, "203.0.113.8", "feed-a", 10_000),
                ioc(Kind::Ip, "203.0.113.9", "feed-a", 500),
                listed,
                context,
            ],
            100,
            &validity,
        )
        .unwrap();
    let counts: Vec<(String, String, String, i64)> = store
        .indicator_counts(1_000)
        .unwrap()
        .into_iter()
        .map(|c| (c.kind, c.source, c.state, c.count))
        .collect();
    let row =
        |k: &str, s: &str, st: &str, n: i64| (k.to_string(), s.to_string(), st.to_string(), n);
    assert_eq!(
        counts,
        vec![
            row("domain", "feed-b", "context", 1),
            row("ip", "feed-a", "active", 2),
            row("ip", "feed-a", "expired", 1),
            row("ip", "feed-a", "listed", 1),
        ]
    );
}

/// A saved hunt is kept by name: saving under the name again replaces its query (same id, first
/// creation time), deleting an unknown one is `NotFound`; each change is audited.
fn saved_hunts_are_kept_by_name_replaced_and_deleted(place: &Place) {
    let mut store = place.open();
    store.set_auditor(Some(secops_store::Auditor {
        key: secops_store::AuditKey::from_hex(&"ab".repeat(32)).unwrap(),
        actor: "ana".into(),
        source: "test".into(),
    }));
    let first = store
        .save_hunt("ssh failures", "FROM logs-* | LIMIT 1", "first", "ana", 100)
        .unwrap();
    let other = store
        .save_hunt("a hunt", "FROM logs-* | LIMIT 2", "", "bo", 150)
        .unwrap();
    let replaced = store
        .save_hunt("ssh failures", "FROM logs-* | LIMIT 3", "second", "bo", 200)
        .unwrap();
    assert_eq!(replaced.id, first.id);
    assert_eq!(replaced.created_at, 100);
    assert_eq!(replaced.updated_at, 200);
    assert_eq!(replaced.owner, "bo");
    let names: Vec<String> = store
        .saved_hunts()
        .unwrap()
        .into_iter()
        .map(|h| h.name)
        .collect();
    assert_eq!(names, ["a hunt", "ssh failures"]);
    store.delete_saved_hunt(other.id, 300).unwrap();
    assert!(matches!(
        store.delete_saved_hunt(other.id, 300),
        Err(StoreError::NotFound { .. })
    ));
    let actions: Vec<String> = store
        .audit_records(0, 100)
        .unwrap()
        .into_iter()
        .map(|r| r.record.action)
        .collect();
    assert_eq!(
        actions,
        [
            "saved_hunt.saved",
            "saved_hunt.saved",
            "saved_hunt.replaced",
            "saved_hunt.deleted"
        ]
    );
}

/// Groups of alerts by their own columns and by their tags and entities (an alert in each group of
/// its values, in the group of no value without one), biggest first, filtered as listings are.
fn alerts_are_grouped_by_up_to_three_fields(place: &Place) {
    use secops_store::{AlertField, AlertGroup, BulkChange};
    let mut store = place.open();
    let ids = inserted(
        &store
            .record_alerts(
                &[
                    named("spray", "203.0.113.7", "ana", "web1"),
                    named("spray", "203.0.113.8", "bo", "web1"),
                    named("brute", "203.0.113.9", "root", "db1"),
                ],
                "detect",
                10,
            )
            .unwrap(),
    );
    let tags = ["a".to_string(), "b".to_string()];
    store
        .bulk_change_alerts(
            &ids[..1],
            BulkChange::Tag {
                add: &tags,
                remove: &[],
            },
            "ana",
            20,
        )
        .unwrap();
    let group = |values: &[Option<&str>], alerts: i64| AlertGroup {
        values: values.iter().map(|v| v.map(str::to_string)).collect(),
        alerts,
    };
    let all = AlertFilter::default();
    assert_eq!(
        store.alert_groups(&all, &[AlertField::Rule], 10).unwrap(),
        [
            group(&[Some("Rule spray")], 2),
            group(&[Some("Rule brute")], 1)
        ]
    );
    assert_eq!(
        store
            .alert_groups(&all, &[AlertField::Host, AlertField::Rule], 10)
            .unwrap(),
        [
            group(&[Some("web1"), Some("Rule spray")], 2),
            group(&[Some("db1"), Some("Rule brute")], 1)
        ]
    );
    // Two tags on one alert: it counts in each; alerts without tags in the group of none.
    assert_eq!(
        store.alert_groups(&all, &[AlertField::Tag], 10).unwrap(),
        [
            group(&[None], 2),
            group(&[Some("a")], 1),
            group(&[Some("b")], 1)
        ]
    );
    assert_eq!(
        store
            .alert_groups(
                &AlertFilter {
                    rule: Some("spray".into()),
                    ..AlertFilter::default()
                },
                &[AlertField::Status, AlertField::Assignee, AlertField::User],
                1,
            )
            .unwrap()
            .len(),
        1
    );
    assert!(store.alert_groups(&all, &[], 10).is_err());
}

/// The console's records: exceptions (in force until they expire, removed ones kept aside),
/// tuning tickets (closed once, with an outcome), each user's default view (replaced, forgotten);
/// every change one audit record.
fn exceptions_tickets_and_views_are_kept_and_audited(place: &Place) {
    let key = secops_store::AuditKey::from_hex(&"5d".repeat(32)).unwrap();
    let mut store = place.open();
    store.set_auditor(Some(secops_store::Auditor {
        key: key.clone(),
        actor: "ana".into(),
        source: "192.0.2.7".into(),
    }));
    let exception = |rule: &str, value: &str, expires_at| secops_store::NewException {
        rule_id: rule.into(),
        field: "user.name".into(),
        value: value.into(),
        reason: "the backup account".into(),
        alert_id: Some(7),
        expires_at,
    };
    let kept = store
        .add_exception(&exception("spray", "svc_backup", Some(100)), "ana", 10)
        .unwrap();
    store
        .add_exception(&exception("spray", "svc_scan", None), "ana", 11)
        .unwrap();
    store
        .add_exception(&exception("other", "x", None), "ana", 12)
        .unwrap();
    assert_eq!(kept.expires_at, Some(100));
    assert_eq!(store.exceptions(Some("spray"), None).unwrap().len(), 2);
    // At 100 the first has expired.
    let in_force = store.exceptions(Some("spray"), Some(100)).unwrap();
    assert_eq!(in_force.len(), 1);
    assert_eq!(in_force[0].value, "svc_scan");
    assert_eq!(store.exceptions(None, Some(50)).unwrap().len(), 3);
    let removed = store.remove_exception(kept.id, 20).unwrap();
    assert_eq!(removed.removed_at, Some(20));
    assert_eq!(store.exceptions(None, None).unwrap().len(), 2);
    assert!(matches!(
        store.remove_exception(kept.id, 21),
        Err(StoreError::NotFound { .. })
    ));
    let ticket = store
        .open_ticket(
            &secops_store::NewTicket {
                rule_id: "spray".into(),
                rule_name: "Password spraying".into(),
                alert_id: Some(7),
                reason: "fires on every backup".into(),
            },
            "ana",
            30,
        )
        .unwrap();
    assert_eq!(store.tickets(true).unwrap(), vec![ticket.clone()]);
    let closed = store
        .close_ticket(ticket.id, "excluded the backup host", "eve", 40)
        .unwrap();
    assert_eq!(closed.state, "closed");
    assert_eq!(closed.closed_by.as_deref(), Some("eve"));
    assert!(store.tickets(true).unwrap().is_empty());
    assert_eq!(store.tickets(false).unwrap().len(), 1);
    assert!(store.close_ticket(ticket.id, "again", "eve", 41).is_err());
    assert_eq!(store.view("ana", "alerts").unwrap(), None);
    store
        .save_view("ana", "alerts", "status=open&group=rule", 50)
        .unwrap();
    store
        .save_view("ana", "alerts", "status=open&severity=high", 51)
        .unwrap();
    store
        .save_view("bob", "alerts", "status=closed", 52)
        .unwrap();
    assert_eq!(
        store.view("ana", "alerts").unwrap().as_deref(),
        Some("status=open&severity=high")
    );
    store.save_view("ana", "alerts", "", 53).unwrap();
    assert_eq!(store.view("ana", "alerts").unwrap(), None);
    assert_eq!(
        store.view("bob", "alerts").unwrap().as_deref(),
        Some("status=closed")
    );
    // Each change above is one audit record (the refused ones none), and the chain verifies.
    let records = store.audit_records(0, 100).unwrap();
    let actions: Vec<&str> = records.iter().map(|r| r.record.action.as_str()).collect();
    assert_eq!(records.len(), 10, "{actions:?}");
    assert!(store.verify_audit(&key, None).unwrap().broken.is_none());
}

/// `secops run`'s commits: alerts, folds and the checkpoint in one transaction; a checkpoint out of
/// sequence (a second process under the name) refused with nothing written; bytes kept exactly.
fn a_checkpoint_is_saved_with_its_alerts_or_not_at_all(place: &Place) {
    let mut store = place.open();
    assert_eq!(store.checkpoint("edge").unwrap(), None);
    let state: Vec<u8> = (0..=255u8).cycle().take(70_000).collect();
    let checkpoint = |sequence| Checkpoint {
        name: "edge".into(),
        state: Vec::new(),
        sequence,
        saved_at: 1_000 + sequence,
    };
    let mut seen = Vec::new();
    let recorded = store
        .commit_checkpoint(
            &[alert("r", "g1", 0, 10, 1, 60 * MINUTE)],
            &[],
            &checkpoint(1),
            "run",
            &mut |results| {
                seen = results.to_vec();
                Ok(state.clone())
            },
            None,
        )
        .unwrap();
    assert_eq!(
        recorded, seen,
        "the state is made knowing what became of the alerts"
    );
    let Recorded::Inserted(id) = recorded[0] else {
        panic!("{recorded:?}")
    };
    let saved = store.checkpoint("edge").unwrap().unwrap();
    assert_eq!((saved.sequence, saved.saved_at), (1, 1_001));
    assert_eq!(saved.state, state, "bytes come back exactly");

    // Out of sequence: refused, nothing of it written.
    let refused = store.commit_checkpoint(
        &[alert("r", "g2", 0, 10, 1, 60 * MINUTE)],
        &[],
        &checkpoint(5),
        "run",
        &mut |_| Ok(vec![1]),
        None,
    );
    assert!(refused.is_err());
    // The state cannot be made: refused too.
    let failed = store.commit_checkpoint(
        &[alert("r", "g3", 0, 10, 1, 60 * MINUTE)],
        &[],
        &checkpoint(2),
        "run",
        &mut |_| Err("no state".into()),
        None,
    );
    assert!(failed.unwrap_err().to_string().contains("no state"));
    assert_eq!(store.alerts(&AlertFilter::default()).unwrap().len(), 1);
    assert_eq!(store.checkpoint("edge").unwrap().unwrap().sequence, 1);

    // The next one: a fold into the first alert, a new alert, the state replaced.
    let fold = AlertFold {
        id,
        last_seen: 20,
        events: 4,
        document: None,
    };
    store
        .commit_checkpoint(
            &[alert("r", "g4", 0, 10, 1, 60 * MINUTE)],
            &[fold],
            &checkpoint(2),
            "run",
            &mut |_| Ok(vec![7; 3]),
            None,
        )
        .unwrap();
    assert_eq!(store.alert(id).unwrap().event_count, 5);
    assert_eq!(store.alerts(&AlertFilter::default()).unwrap().len(), 2);
    let saved = store.checkpoint("edge").unwrap().unwrap();
    assert_eq!((saved.sequence, saved.state), (2, vec![7; 3]));
    assert!(store.drop_checkpoint("edge").unwrap());
    assert_eq!(store.checkpoint("edge").unwrap(), None);
}

const DAY: i64 = 86_400 * 1_000_000_000;

fn finding(cve: &str, asset: &str, tool: &str, scope: &str, key: &str) -> NewFinding {
    NewFinding {
        identity: format!("{asset}|{cve}"),
        detection_key: key.into(),
        kind: "vulnerability".into(),
        primary_id: cve.into(),
        vuln_id: cve.into(),
        cves: vec![cve.into()],
        title: format!("{cve} in openssl"),
        severity: "high".into(),
        fix_state: "fixed".into(),
        asset_kind: "image".into(),
        asset_name: asset.into(),
        package: Some("openssl".into()),
        package_version: Some("1.1.1c".into()),
        tool: tool.into(),
        scope: scope.into(),
        record: "Results[0].Vulnerabilities[0]".into(),
        priority: PriorityColumns {
            risk: 12.5,
            vuln_risk: 12.5,
            epss: Some(0.2),
            sla_days: Some(30),
            detail: "{}".into(),
            ..PriorityColumns::default()
        },
        document: format!(r#"{{"id":"{cve}","asset":"{asset}"}}"#),
        advisory: format!(r#"{{"title":"{cve} in openssl"}}"#),
        advisory_digest: format!("advisory-{cve}"),
        ..NewFinding::default()
    }
}

fn statuses(store: &mut Store) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = store
        .vuln_findings(&FindingFilter::default())
        .unwrap()
        .into_iter()
        .map(|f| (f.primary_id, f.status))
        .collect();
    out.sort();
    out
}

fn findings_merge_close_reopen_and_keep_their_history(place: &Place) {
    let mut store = place.open();
    let scope = vec![("trivy".to_string(), "app:1".to_string())];
    // Import 1: two CVEs from Trivy, the first also from Grype (another tool, one finding).
    let import = store.begin_vuln_import("a.json", "trivy", "t", 0).unwrap();
    let done = store
        .import_findings(
            import,
            &[
                finding("CVE-1", "app:1", "trivy", "app:1", "k1"),
                finding("CVE-2", "app:1", "trivy", "app:1", "k2"),
            ],
            "t",
            0,
        )
        .unwrap();
    assert!(matches!(done[..], [Imported::New(_), Imported::New(_)]));
    store
        .finish_vuln_import(import, &scope, ImportCounts::default(), "t", 0)
        .unwrap();
    let grype = store.begin_vuln_import("g.json", "grype", "t", 0).unwrap();
    let merged = store
        .import_findings(
            grype,
            &[finding("CVE-1", "app:1", "grype", "app:1", "g1")],
            "t",
            0,
        )
        .unwrap();
    assert_eq!(merged, vec![Imported::Merged(done[0].id())]);
    // The advisory, stored once, is read back joined to the finding's own document.
    let whole: serde_json::Value =
        serde_json::from_str(&store.vuln_finding(done[0].id()).unwrap().document).unwrap();
    assert_eq!(
        whole,
        serde_json::json!({"id": "CVE-1", "asset": "app:1", "title": "CVE-1 in openssl"})
    );
    // Import 2 of Trivy's scope without CVE-2: CVE-2 closes; CVE-1 stays (Trivy still has it).
    let import = store
        .begin_vuln_import("b.json", "trivy", "t", DAY)
        .unwrap();
    store
        .import_findings(
            import,
            &[finding("CVE-1", "app:1", "trivy", "app:1", "k1")],
            "t",
            DAY,
        )
        .unwrap();
    let closed = store
        .finish_vuln_import(import, &scope, ImportCounts::default(), "t", DAY)
        .unwrap();
    assert_eq!(closed, 1);
    assert_eq!(
        statuses(&mut store),
        [
            ("CVE-1".into(), "open".into()),
            ("CVE-2".into(), "mitigated".into())
        ]
    );
    // Import 3: CVE-2 back: reopened; its deadline still from day 0.
    let import = store
        .begin_vuln_import("c.json", "trivy", "t", 2 * DAY)
        .unwrap();
    let back = store
        .import_findings(
            import,
            &[finding("CVE-2", "app:1", "trivy", "app:1", "k2")],
            "t",
            2 * DAY,
        )
        .unwrap();
    assert_eq!(back, vec![Imported::Reopened(done[1].id())]);
    let f = store.vuln_finding(done[1].id()).unwrap();
    assert_eq!((f.status.as_str(), f.due_at), ("open", Some(30 * DAY)));
    assert_eq!(f.priority.epss, Some(0.2));
    let trail = store.vuln_finding_trail(f.id).unwrap();
    let kinds: Vec<&str> = trail.events.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(kinds, ["created", "mitigated", "reopened"]);
    assert_eq!(trail.detections.len(), 1);
    // Accepted for 5 days from day 3; expired on day 8: open, the deadline 5 days later.
    store
        .accept_finding(f.id, "owner", "reason", 8 * DAY, "t", 3 * DAY)
        .unwrap();
    assert_eq!(
        store.expire_acceptances("t", 7 * DAY).unwrap(),
        Vec::<i64>::new()
    );
    assert_eq!(store.expire_acceptances("t", 9 * DAY).unwrap(), vec![f.id]);
    let f = store.vuln_finding(f.id).unwrap();
    assert_eq!(
        (f.status.as_str(), f.paused, f.due_at),
        ("open", 5 * DAY, Some(35 * DAY))
    );
    // Overdue on day 40, ordered by deadline; closed as a false positive it is not.
    let overdue = store
        .vuln_findings(&FindingFilter {
            due_before: Some(40 * DAY),
            by_due: true,
            ..FindingFilter::default()
        })
        .unwrap();
    assert_eq!(
        overdue
            .iter()
            .map(|f| f.primary_id.as_str())
            .collect::<Vec<_>>(),
        ["CVE-1", "CVE-2"]
    );
    store
        .close_finding(f.id, "false_positive", "test", "t", 41 * DAY)
        .unwrap();
    assert!(store
        .close_finding(f.id, "fixed", "", "t", 41 * DAY)
        .is_err());
    let by_cve = store
        .vuln_findings(&FindingFilter {
            vuln_id: Some("CVE-1".into()),
            ..FindingFilter::default()
        })
        .unwrap();
    assert_eq!(by_cve.len(), 1);
    assert_eq!(by_cve[0].tools, ["trivy", "grype"]);
    let imports = store.vuln_imports(10).unwrap();
    assert_eq!(imports.len(), 4);
    assert_eq!(imports[1].closed, 1);
}

fn catalogs_replace_their_entries_and_findings_are_reprioritised(place: &Place) {
    let mut store = place.open();
    let kev = |cve: &str, ransomware: bool| KevRow {
        cve: cve.into(),
        vendor: "v".into(),
        product: "p".into(),
        name: "n".into(),
        date_added: "2025-01-01".into(),
        due_date: Some("2025-01-22".into()),
        ransomware,
        required_action: "patch".into(),
    };
    assert_eq!(
        store
            .store_kev(&[kev("CVE-1", false), kev("CVE-2", false)], Some("v1"), 0)
            .unwrap(),
        2
    );
    assert_eq!(
        store
            .store_kev(&[kev("CVE-1", true)], Some("v2"), 1)
            .unwrap(),
        0
    );
    let all = store.kev_entries().unwrap();
    assert_eq!(all.len(), 2);
    assert!(all["CVE-1"].ransomware);
    let epss = |cve: &str, score: f64| EpssRow {
        cve: cve.into(),
        score,
        percentile: 0.5,
        scored_on: "2026-08-20".into(),
    };
    store
        .store_epss(&[epss("CVE-1", 0.1), epss("CVE-3", 0.3)], 0)
        .unwrap();
    store
        .store_epss(&[epss("CVE-1", 0.5), epss("CVE-1", 0.9)], 1)
        .unwrap();
    let scores = store.epss_scores(&["CVE-1", "CVE-3", "CVE-4"]).unwrap();
    assert_eq!(scores.len(), 2);
    assert_eq!(scores["CVE-1"].score, 0.9);
    store.store_vuln_catalog("ssvc", "bod", "{}", 0).unwrap();
    store
        .store_vuln_catalog("ssvc", "bod", "{\"v\":2}", 1)
        .unwrap();
    assert_eq!(store.vuln_catalog("ssvc").unwrap()["bod"], "{\"v\":2}");
    let import = store.begin_vuln_import("a.json", "trivy", "t", 0).unwrap();
    let id = store
        .import_findings(
            import,
            &[finding("CVE-1", "app:1", "trivy", "app:1", "k1")],
            "t",
            0,
        )
        .unwrap()[0]
        .id();
    let priority = PriorityColumns {
        risk: 99.0,
        vuln_risk: 99.0,
        in_kev: true,
        timeline: Some("3DF".into()),
        sla_days: Some(3),
        kev_due: Some(DAY),
        detail: "{}".into(),
        ..PriorityColumns::default()
    };
    store.reprioritise_findings(&[(id, priority)], 5).unwrap();
    let f = store.vuln_finding(id).unwrap();
    assert_eq!(
        (f.priority.risk, f.priority.in_kev, f.due_at),
        (99.0, true, Some(DAY))
    );
    assert_eq!(f.priority.epss, None);
}

/// A response run's life: recorded once per key, approved (not twice), claimed by one process,
/// finished with its rollback time, undone by its inverse; waiting ones expire; every change a
/// line in the alert's log; the counts guards read.
fn response_runs_are_keyed_claimed_once_and_rolled_back(place: &Place) {
    use secops_store::{Decision, NewResponseRun, ResponseEvaluation, ResponseFilter};
    let mut store = place.open();
    let recorded = store
        .record_alerts(
            &[alert("ssh", "185.220.101.47", 10, 20, 12, 0)],
            "detect",
            30,
        )
        .unwrap();
    let alert_id = inserted(&recorded)[0];
    let new = |key: &str, state: &str| NewResponseRun {
        run_key: key.into(),
        action_id: "block-source".into(),
        operation: "do".into(),
        target_kind: "ip".into(),
        target: "185.220.101.47".into(),
        alert_id: Some(alert_id),
        state: state.into(),
        requested_by: "secops-run".into(),
        approval_due: Some(1_000),
        hold_ns: Some(3_600),
        ..NewResponseRun::default()
    };
    let (run, fresh) = store
        .add_response_run(&new("k1", "awaiting_approval"), "secops-run", 100)
        .unwrap();
    assert!(fresh);
    let (again, fresh) = store
        .add_response_run(&new("k1", "awaiting_approval"), "secops-run", 101)
        .unwrap();
    assert!(!fresh);
    assert_eq!(again.id, run.id);
    let approved = store
        .decide_response(run.id, Decision::Approve, "bob", Some("ok"), 200)
        .unwrap();
    assert_eq!(
        (approved.state.as_str(), approved.decided_by.as_deref()),
        ("approved", Some("bob"))
    );
    assert!(store
        .decide_response(run.id, Decision::Reject, "carol", None, 210)
        .is_err());
    assert_eq!(store.runnable_responses().unwrap(), vec![run.id]);
    let claimed = store
        .claim_response(run.id, "{}", "secops-run", 300)
        .unwrap()
        .unwrap();
    assert_eq!((claimed.state.as_str(), claimed.attempts), ("running", 1));
    assert!(store
        .claim_response(run.id, "{}", "other", 301)
        .unwrap()
        .is_none());
    let done = store
        .finish_response(
            run.id,
            true,
            "{\"status\":\"exit 0\"}",
            Some(3_900),
            "secops-run",
            400,
        )
        .unwrap();
    assert_eq!(done.state, "succeeded");
    assert!(store.rollbacks_due(3_899).unwrap().is_empty());
    assert_eq!(store.rollbacks_due(3_900).unwrap()[0].id, run.id);
    let (undo, _) = store
        .add_response_run(
            &NewResponseRun {
                operation: "undo".into(),
                action_id: "unblock-source".into(),
                state: "queued".into(),
                rollback_of: Some(run.id),
                approval_due: None,
                hold_ns: None,
                ..new("k1/undo", "queued")
            },
            "secops-run",
            3_900,
        )
        .unwrap();
    store
        .claim_response(undo.id, "{}", "secops-run", 3_901)
        .unwrap()
        .unwrap();
    store
        .finish_response(undo.id, true, "{}", None, "secops-run", 3_902)
        .unwrap();
    let undone = store.response_run(run.id).unwrap();
    assert_eq!(
        (undone.state.as_str(), undone.rolled_back_by),
        ("rolled_back", Some(undo.id))
    );
    assert!(store.rollbacks_due(i64::MAX).unwrap().is_empty());

    // A request nobody decides expires unrun, and cannot be approved after.
    let (waiting, _) = store
        .add_response_run(&new("k2", "awaiting_approval"), "secops-run", 500)
        .unwrap();
    assert!(store
        .expire_responses(999, "secops-run")
        .unwrap()
        .is_empty());
    let expired = store.expire_responses(1_000, "secops-run").unwrap();
    assert_eq!(
        expired.iter().map(|r| r.id).collect::<Vec<_>>(),
        vec![waiting.id]
    );
    assert!(store
        .decide_response(waiting.id, Decision::Approve, "bob", None, 1_001)
        .is_err());

    // Counts: the succeeded (rolled back) run counts, the expired request does not.
    let counts = store
        .response_counts("block-source", "ip", "185.220.101.47", 0, 0, 3)
        .unwrap();
    assert_eq!(
        (
            counts.action_runs,
            counts.target_runs,
            counts.target_successes
        ),
        (1, 1, 1)
    );
    assert_eq!(counts.latest_outcomes[0].0, "rolled_back");

    let listed = store
        .response_runs(&ResponseFilter {
            alert_id: Some(alert_id),
            ..ResponseFilter::default()
        })
        .unwrap();
    assert_eq!(listed.len(), 3);
    store
        .add_response_evaluation(&ResponseEvaluation {
            at: 100,
            alert_id: Some(alert_id),
            action_id: "block-source".into(),
            target: Some("ip 10.0.0.5".into()),
            outcome: "stopped".into(),
            guard: Some("special range".into()),
            detail: "10.0.0.0/8 (private, RFC 1918)".into(),
            ..ResponseEvaluation::default()
        })
        .unwrap();
    let evaluations = store.response_evaluations(alert_id).unwrap();
    assert_eq!(evaluations[0].guard.as_deref(), Some("special range"));
    // Every change is in the alert's event log.
    let kinds: Vec<String> = store
        .alert_events(alert_id)
        .unwrap()
        .into_iter()
        .map(|e| e.kind)
        .filter(|k| k.starts_with("response."))
        .collect();
    assert_eq!(
        kinds,
        [
            "response.awaiting_approval",
            "response.approved",
            "response.running",
            "response.succeeded",
            "response.queued",
            "response.running",
            "response.succeeded",
            "response.rolled_back",
            "response.awaiting_approval",
            "response.expired",
        ]
    );
}
