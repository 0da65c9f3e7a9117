//! The service as an interface other than the command line uses it: detection over `samples/` into a
//! SQLite store, a case opened from the alerts, with no binary involved. What it gives must be what the
//! command line gives: the alert documents and case contents are checked against the command line's own
//! snapshots (`crates/cli/tests/snapshots/`).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers

use std::path::Path;

use secops_case::playbook::Playbooks;
use secops_case::FromAlerts;
use secops_event::Timestamp;
use secops_ingest::Options;
use secops_service::detect::{detect, Context, DetectRequest, Notice, Observer};
use secops_service::intel::{JudgeSources, Judges};
use secops_service::pipeline::PipelineOptions;
use secops_service::{Actor, Cancel, FixedClock, NoProgress};
use secops_store::{AlertFilter, Store};
use secops_testkit::repo_root;

#[path = "service/respond.rs"]
mod respond;
#[path = "service/vulns.rs"]
mod vulns;

/// The command line's snapshot `name`, without its header.
fn cli_snapshot(name: &str) -> String {
    let path = repo_root().join(format!("crates/cli/tests/snapshots/{name}.snap"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.splitn(3, "---\n")
        .nth(2)
        .unwrap_or_default()
        .to_string()
}

/// The lines of a transcript's section: after `--- stdout` up to the next `--- ` or `$ ` line.
fn stdout_of(transcript: &str, command: &str) -> Vec<String> {
    let start = transcript
        .find(&format!("$ secops {command}"))
        .unwrap_or_else(|| panic!("no `{command}` in the snapshot"));
    transcript[start..]
        .lines()
        .skip_while(|l| *l != "--- stdout")
        .skip(1)
        .take_while(|l| !l.starts_with("--- ") && !l.starts_with("$ "))
        .map(str::to_string)
        .collect()
}

/// The notices, and the alert documents as given (what `detect --output jsonl` writes).
#[derive(Default)]
struct Notices(Vec<String>, Vec<String>);

impl Observer for Notices {
    fn notice(&mut self, notice: Notice) {
        self.0.push(notice.to_string());
    }

    fn alert(&mut self, alert: &secops_detect::Raised) {
        self.1.push(alert.alert().document().to_line());
    }
}

fn samples_request() -> DetectRequest {
    DetectRequest {
        paths: vec!["samples".into()],
        pipeline: PipelineOptions {
            read: Options {
                format: None,
                year: Some(2023),
                timezone: None,
                evtx_recover: false,
                counters: None,
            },
            ..PipelineOptions::default()
        },
        ..DetectRequest::default()
    }
}

#[test]
fn detection_into_a_store_and_a_case_give_what_the_command_line_gives() {
    // The command line ran in the repository's root: inputs are named as it named them.
    std::env::set_current_dir(repo_root()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(&dir.path().join("secops.db").to_string_lossy()).unwrap();
    let judges = Judges::load(&JudgeSources::default()).unwrap();
    let clock = FixedClock(Timestamp::parse_rfc3339("2026-12-01T09:00:00Z").unwrap());
    let analyst = Actor::user("tester");
    let mut notices = Notices::default();
    let report = detect(
        &samples_request(),
        Context {
            store: Some(&mut store),
            judges: &judges,
            actor: &analyst,
            clock: &clock,
            cancel: &Cancel::new(),
        },
        &mut notices,
        &NoProgress,
    )
    .unwrap();
    // The bundled lateral-movement rules join on resolved entities: resolution turns itself on.
    assert_eq!(
        notices.0,
        ["entities: resolved, since a loaded rule reads secops.entity.* (as with --entities)"]
    );
    assert_eq!(
        (report.events, report.rejected, report.unreadable()),
        (93, 0, 0)
    );

    // The same alert documents, in the same order, as `secops detect samples --output jsonl`.
    let cli = stdout_of(&cli_snapshot("detect_jsonl"), "detect samples");
    assert_eq!(notices.1, cli);
    assert_eq!(report.alerts, 24);

    let recorded = report.recorded.unwrap();
    assert_eq!(
        (recorded.inserted, recorded.merged, recorded.known),
        (24, 0, 0)
    );
    let stored = store.alerts(&AlertFilter::default()).unwrap();
    assert_eq!(stored.len(), 24);
    assert!(stored.iter().all(|a| a.created_at == clock.0.unix_nanos()));

    // A case from the first two alerts, as `secops case new --from-alerts 1,2` opened it.
    let case = secops_service::cases::open_from_alerts(
        &mut store,
        &Playbooks::bundled().unwrap(),
        &FromAlerts {
            alert_ids: vec![1, 2],
            ..FromAlerts::default()
        },
        &analyst,
        &clock,
    )
    .unwrap();
    let cases = cli_snapshot("cases");
    let opened = stdout_of(&cases, "case new --from-alerts 1,2");
    assert_eq!(
        opened,
        [format!(
            "case {}: {} ({}, playbook {})",
            case.number,
            case.title,
            case.severity,
            case.playbook.as_deref().unwrap_or("none")
        )]
    );
    assert_eq!(case.created_at, clock.0.unix_nanos());
    let shown = stdout_of(&cases, "case show 1");
    for o in store.observables(case.number).unwrap() {
        let line = format!("  {:<15}  {}", o.kind, o.value);
        assert!(shown.contains(&line), "{line:?} not in {shown:#?}");
    }
    let timeline = store.timeline(case.number).unwrap();
    assert_eq!(timeline.len(), 2);
    for t in timeline {
        let line = format!(
            "  {}Z  {}  {}",
            &Timestamp::from_unix_nanos(t.at).to_rfc3339()[..19],
            t.technique.as_deref().unwrap_or("-"),
            t.title
        );
        assert!(shown.contains(&line), "{line:?} not in {shown:#?}");
    }
    let log = store.case_events(case.number).unwrap();
    assert!(log
        .iter()
        .all(|e| e.actor == "tester" && e.at == clock.0.unix_nanos()));
}

#[test]
fn a_cancelled_run_reads_nothing_more_and_says_so() {
    std::env::set_current_dir(repo_root()).unwrap();
    let judges = Judges::load(&JudgeSources::default()).unwrap();
    let cancel = Cancel::new();
    cancel.cancel();
    let report = detect(
        &samples_request(),
        Context {
            store: None,
            judges: &judges,
            actor: &Actor::service("test"),
            clock: &FixedClock(Timestamp::from_unix_nanos(0)),
            cancel: &cancel,
        },
        &mut Notices::default(),
        &NoProgress,
    )
    .unwrap();
    assert!(report.cancelled);
    assert_eq!(report.alerts, 0);
    assert!(report.recorded.is_none());
    assert!(Path::new("samples").is_dir());
}

/// The times of the alerts given, in order, and how many were given per id.
#[derive(Default)]
struct Given(Vec<Timestamp>, std::collections::HashMap<String, usize>);

impl Observer for Given {
    fn alert(&mut self, alert: &secops_detect::Raised) {
        assert!(
            matches!(alert, secops_detect::Raised::Final(_)),
            "time order gives final alerts"
        );
        let alert = alert.alert();
        self.0.push(alert.timestamp);
        *self.1.entry(alert.id.clone()).or_default() += 1;
    }
}

/// `su` to root, one a second, forwards or backwards in time from noon.
fn su_log(dir: &Path, name: &str, count: u32, backwards: bool) -> String {
    let mut text = String::new();
    for i in 0..count {
        let s = if backwards { 43_200 - i } else { 43_200 + i };
        text.push_str(&format!(
            "Mar  3 {:02}:{:02}:{:02} bastion su: (to root) deploy{i} on pts/0\n",
            s / 3600,
            s / 60 % 60,
            s % 60
        ));
    }
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.to_string_lossy().into_owned()
}

#[test]
fn time_order_gives_each_alert_once_in_time_order_and_counts_what_its_bound_let_slip() {
    let dir = tempfile::tempdir().unwrap();
    let judges = Judges::load(&JudgeSources::default()).unwrap();
    let clock = FixedClock(Timestamp::from_unix_nanos(0));
    let run = |path: String| {
        let request = DetectRequest {
            paths: vec![path],
            pipeline: PipelineOptions {
                read: Options {
                    year: Some(2026),
                    ..Options::default()
                },
                order: secops_service::pipeline::AlertOrder::Time,
                ..PipelineOptions::default()
            },
            ..DetectRequest::default()
        };
        let mut given = Given::default();
        let context = Context {
            store: None,
            judges: &judges,
            actor: &Actor::service("test"),
            clock: &clock,
            cancel: &Cancel::new(),
        };
        let report = detect(&request, context, &mut given, &NoProgress).unwrap();
        (report, given)
    };
    // In time order: every alert once, in order, none late.
    let (report, given) = run(su_log(dir.path(), "forwards.log", 3_000, false));
    assert_eq!((report.alerts, given.0.len()), (3_000, 3_000));
    assert!(given.1.values().all(|&n| n == 1));
    assert!(given.0.windows(2).all(|w| w[0] <= w[1]));
    assert_eq!(report.out_of_order, 0);
    // Backwards over more alerts than the buffer holds: each still once, and what had to be let go
    // before a later-raised earlier alert is counted, not hidden.
    let count = secops_service::pipeline::REORDER_BUFFER as u32 + 2_000;
    let (report, given) = run(su_log(dir.path(), "backwards.log", count, true));
    assert_eq!(
        (report.alerts, given.0.len()),
        (count as u64, count as usize)
    );
    assert!(given.1.values().all(|&n| n == 1));
    let late = given.0.windows(2).filter(|w| w[1] < w[0]).count() as u64;
    assert!(
        late > 0 && report.out_of_order >= late,
        "{late} {}",
        report.out_of_order
    );
}

/// Entity resolution is paid only where it is read: of the bundled pack, the rules whose state joins
/// or counts by `secops.entity.*` and the rules a correlation reads them from; the alerts of every rule
/// are enriched when raised.
#[test]
fn only_rules_that_read_resolved_entities_have_their_events_enriched_first() {
    let loaded =
        secops_service::ruleset::load(&secops_service::ruleset::RuleSelection::default()).unwrap();
    assert!(loaded.reads_entities());
    let now = Timestamp::parse_rfc3339("2026-12-04T00:00:00Z").unwrap();
    let (engine, errors) = secops_detect::Engine::with_sigma(
        &loaded.native,
        loaded.sigma,
        now,
        &secops_detect::IndicatorSet::default(),
    );
    assert!(errors.is_empty(), "{errors:?}");
    let readers: std::collections::BTreeMap<String, bool> = engine
        .rules()
        .iter()
        .zip(engine.entity_readers())
        .map(|(r, &reads)| (r.info.name.clone(), reads))
        .collect();
    let reads = |name: &str| {
        *readers
            .get(name)
            .unwrap_or_else(|| panic!("no rule {name:?} in {readers:#?}"))
    };
    // Joins by resolved host or user.
    assert!(reads(
        "SSH Pivot Chain: A Login to a Host, Then a Login From It to Another"
    ));
    assert!(reads(
        "Service Installed Right After a Network Logon From Another Host"
    ));
    assert!(reads(
        "SSH Account Brute-Forced, Then the Host Connects Out"
    ));
    // The correlation's base rule it reads the brute-forced host from.
    assert!(reads("SSH Brute Force Followed by a Successful Login"));
    // Rules that read only what the log says.
    assert!(!reads("Spike in Authentication Failures on a Linux Host"));
    assert!(!reads("SSH Scanning for Invalid User Names"));
    let count = readers.values().filter(|r| **r).count();
    assert!(
        count < readers.len() / 3,
        "{count} of {} rules read entities",
        readers.len()
    );
}

/// The bundled hunt library: every hunt reads, has no problems and at least one case, and every case
/// passes (its events through the parsers into a lake of its own, its query, its rows); the six
/// hunt families and the attack classes the shared corpora hold are there.
#[test]
fn every_bundled_hunt_reads_and_passes_its_cases() {
    let library = secops_service::hunt_library::Library::load(&[]).unwrap();
    assert!(library.unreadable.is_empty(), "{:?}", library.unreadable);
    let folders: std::collections::BTreeSet<String> = library
        .hunts
        .iter()
        .filter_map(|h| h.path.parent()?.file_name()?.to_str().map(str::to_string))
        .collect();
    for family in [
        "stacking",
        "long_tail",
        "first_seen",
        "beaconing",
        "process_tree",
        "lateral_movement",
        "credential_access",
        "persistence",
        "defense_evasion",
        "cloud",
    ] {
        assert!(folders.contains(family), "no {family} hunt: {folders:?}");
    }
    let mut cases = 0;
    for entry in &library.hunts {
        let problems = entry.file.problems();
        assert!(
            problems.is_empty(),
            "{}: {problems:?}",
            entry.path.display()
        );
        assert!(
            !entry.file.tests.is_empty(),
            "{} has no cases",
            entry.path.display()
        );
        for outcome in secops_service::hunt_library::run_tests(entry, &repo_root().join("..")) {
            assert!(
                outcome.passed(),
                "{} / {}: {:?}\n{:?}",
                outcome.hunt,
                outcome.test,
                outcome.failures,
                outcome.actual
            );
            cases += 1;
        }
    }
    assert!(cases >= library.hunts.len());
}

/// One-time passwords: a secret given out is pending (sign-in needs no code) until a code of it is
/// confirmed; then sign-in needs a code after the password (asked for only once the password is
/// right), a wrong code counts as a failed sign-in, a code is good once; a reset turns it off.
#[test]
fn a_user_with_a_one_time_password_signs_in_with_a_code_used_once() {
    use secops_service::users::{self, AuthError};
    const SECOND: i64 = 1_000_000_000;
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(&dir.path().join("s.db").display().to_string()).unwrap();
    let roles = secops_auth::Roles::built_in();
    let key = secops_store::AuditKey::from_hex(&"42".repeat(32)).unwrap();
    let context = users::AuditContext {
        key: &key,
        actor: "ana",
        source: "cli",
    };
    let audit = Some(&context);
    let pass = "a long passphrase";
    users::add_user(&mut store, &roles, "ana", "analyst", pass, 1, audit).unwrap();
    let now = 1_700_000_000 * SECOND;
    let secret = users::begin_totp(&mut store, "ana", now, audit).unwrap();
    // Pending: the password alone still signs in.
    assert!(users::login(&mut store, "ana", pass, now, audit).is_ok());
    let code = |at: i64| secret.code_at(at / SECOND);
    let wrong = if code(now) == "000000" {
        "111111"
    } else {
        "000000"
    };
    assert!(users::confirm_totp(&mut store, "ana", wrong, now, audit).is_err());
    users::confirm_totp(&mut store, "ana", &code(now), now, audit).unwrap();
    let later = now + 90 * SECOND;
    assert_eq!(
        users::login(&mut store, "ana", pass, later, audit),
        Err(AuthError::CodeNeeded)
    );
    // A wrong password says nothing of the code.
    assert_eq!(
        users::login_with_code(&mut store, "ana", "wrong", Some(&code(later)), later, audit),
        Err(AuthError::BadCredentials)
    );
    let wrong = if code(later) == "000000" {
        "111111"
    } else {
        "000000"
    };
    assert_eq!(
        users::login_with_code(&mut store, "ana", pass, Some(wrong), later, audit),
        Err(AuthError::BadCode)
    );
    assert_eq!(store.user("ana").unwrap().unwrap().failed_logins, 2);
    assert!(
        users::login_with_code(&mut store, "ana", pass, Some(&code(later)), later, audit).is_ok()
    );
    // The same code again, within its step: refused.
    assert_eq!(
        users::login_with_code(
            &mut store,
            "ana",
            pass,
            Some(&code(later)),
            later + SECOND,
            audit
        ),
        Err(AuthError::BadCode)
    );
    let user = store.user("ana").unwrap().unwrap();
    assert_eq!(user.totp_secret.as_deref(), Some(secret.base32().as_str()));
    users::reset_totp(&mut store, "ana", later, audit).unwrap();
    assert!(users::login(&mut store, "ana", pass, later + 2 * SECOND, audit).is_ok());
    // The secret is never in the audit log; that it is on, pending or off is.
    let records = store.audit_records(0, 1000).unwrap();
    assert!(records
        .iter()
        .all(|r| { !format!("{:?}", r.record).contains(&secret.base32()) }));
    assert!(records.iter().any(|r| r.record.action == "user.totp"
        && r.record
            .after
            .as_deref()
            .unwrap_or("")
            .contains("\"totp\":\"on\"")));
}

/// Signing in: a right password signs in; five wrong ones in a row lock the user out (the right
/// password is refused while locked, and works after); an unknown user gets the wrong-password answer;
/// a disabled user is refused. Keys: shown once, kept as a digest, refused once revoked or expired.
#[test]
fn logins_lock_out_after_five_failures_and_keys_stop_when_revoked() {
    use secops_service::users::{self, AuthError, LOCKOUT_FOR};
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(&dir.path().join("s.db").display().to_string()).unwrap();
    let roles = secops_auth::Roles::built_in();
    let key = secops_store::AuditKey::from_hex(&"42".repeat(32)).unwrap();
    let context = users::AuditContext {
        key: &key,
        actor: "admin",
        source: "10.0.0.1",
    };
    let audit = Some(&context);
    users::add_user(
        &mut store,
        &roles,
        "ana",
        "analyst",
        "a long passphrase",
        1,
        audit,
    )
    .unwrap();
    assert!(users::add_user(
        &mut store,
        &roles,
        "bob",
        "wizard",
        "a long passphrase",
        1,
        audit
    )
    .is_err());
    assert!(users::add_user(
        &mut store,
        &roles,
        "Bob Smith",
        "viewer",
        "a long passphrase",
        1,
        audit
    )
    .is_err());
    assert!(users::add_user(&mut store, &roles, "bob", "viewer", "short", 1, audit).is_err());
    let ana = users::login(&mut store, "ana", "a long passphrase", 10, audit).unwrap();
    assert_eq!((ana.name.as_str(), ana.role.as_str()), ("ana", "analyst"));
    assert_eq!(
        users::login(&mut store, "nobody", "a long passphrase", 11, audit),
        Err(AuthError::BadCredentials)
    );
    for n in 1..=4 {
        assert_eq!(
            users::login(&mut store, "ana", "wrong", 20 + n, audit),
            Err(AuthError::BadCredentials)
        );
    }
    assert_eq!(
        users::login(&mut store, "ana", "wrong", 30, audit),
        Err(AuthError::LockedNow)
    );
    assert!(matches!(
        users::login(&mut store, "ana", "a long passphrase", 31, audit),
        Err(AuthError::Locked(_))
    ));
    assert!(users::login(
        &mut store,
        "ana",
        "a long passphrase",
        30 + LOCKOUT_FOR,
        audit
    )
    .is_ok());
    users::set_disabled(&mut store, "ana", true, 40, audit).unwrap();
    assert_eq!(
        users::login(&mut store, "ana", "a long passphrase", 41, audit),
        Err(AuthError::Disabled)
    );
    let new = users::NewKey {
        name: "soar",
        role: "analyst",
        owner: "ana",
        expires_at: Some(1_000),
    };
    let (api, text) = users::create_key(&mut store, &roles, &new, 50, audit).unwrap();
    assert!(!Store::open(&dir.path().join("s.db").display().to_string())
        .unwrap()
        .api_key_digest(&api.key_id)
        .unwrap()
        .unwrap()
        .1
        .contains(&text[10..]));
    // A disabled user's keys stop with them, and work again when they are enabled.
    assert_eq!(
        users::authenticate_key(&mut store, &text, "10.0.0.5", 55),
        Err(AuthError::Disabled)
    );
    users::set_disabled(&mut store, "ana", false, 56, audit).unwrap();
    let who = users::authenticate_key(&mut store, &text, "10.0.0.5", 60).unwrap();
    assert_eq!((who.name.as_str(), who.role.as_str()), ("ana", "analyst"));
    assert_eq!(
        store
            .api_key_digest(&api.key_id)
            .unwrap()
            .unwrap()
            .0
            .last_used_from
            .as_deref(),
        Some("10.0.0.5")
    );
    let mut forged = text.clone();
    forged.pop();
    forged.push(if text.ends_with('0') { '1' } else { '0' });
    assert_eq!(
        users::authenticate_key(&mut store, &forged, "x", 61),
        Err(AuthError::BadKey)
    );
    assert_eq!(
        users::authenticate_key(&mut store, &text, "x", 1_000),
        Err(AuthError::Expired)
    );
    users::revoke_key(&mut store, &api.key_id, 70, audit).unwrap();
    assert_eq!(
        users::authenticate_key(&mut store, &text, "x", 71),
        Err(AuthError::Revoked)
    );
    // Every change and every sign-in attempt is in the audit log, and the chain holds.
    let check = store.verify_audit(&key, None).unwrap();
    assert_eq!(check.broken, None);
    let actions: Vec<(String, String)> = store
        .audit_records(0, 100)
        .unwrap()
        .into_iter()
        .map(|r| (r.record.action, r.record.outcome))
        .collect();
    let count = |action: &str, outcome: &str| {
        actions
            .iter()
            .filter(|(a, o)| a == action && o == outcome)
            .count()
    };
    assert_eq!(count("user.add", "success"), 1);
    assert_eq!(count("login", "success"), 2);
    // Unknown user, five wrong passwords, one while locked, one disabled.
    assert_eq!(count("login", "failure"), 8);
    assert_eq!(count("user.disable", "success"), 1);
    assert_eq!(count("user.enable", "success"), 1);
    assert_eq!(count("key.create", "success"), 1);
    assert_eq!(count("key.revoke", "success"), 1);
    assert_eq!(check.records as usize, actions.len());
}
