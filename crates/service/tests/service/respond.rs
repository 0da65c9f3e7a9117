//! Response automation end to end on loopback: the bundled SSH brute-force rule over the real
//! OpenSSH log of the shared corpus, its alerts evaluated against a workflow that notifies a
//! webhook receiver (signatures checked) and blocks the source with nftables inside a network
//! namespace the test creates; the hold rolled back when it ends; a repeat offender held longer;
//! the same alert with its source in RFC 1918 space, on a warninglist or in the inventory not acted
//! on, the guard named; approvals by another user, expiry unrun; a replay whose counts match an
//! independent SQL count.

use std::path::{Path, PathBuf};
use std::time::Duration;

use secops_event::Timestamp;
use secops_ingest::Options;
use secops_respond::connector::verify;
use secops_service::detect::{detect, Context, DetectRequest, Observer};
use secops_service::intel::{JudgeSources, Judges};
use secops_service::pipeline::PipelineOptions;
use secops_service::respond::{self, HandRequest, Recover, Responder, ResponderSources};
use secops_service::{Actor, Cancel, FixedClock, NoProgress};
use secops_store::{AlertFilter, Decision, NewAlert, Recorded, ResponseFilter, Store};
use serde_json::Value;

const RULE: &str = "SSH Password Brute Force from a Single Source";
const HOUR: i64 = 3_600_000_000_000;
const SIGNING: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

struct Quiet;
impl Observer for Quiet {}

fn at(text: &str) -> FixedClock {
    FixedClock(Timestamp::parse_rfc3339(text).unwrap())
}

/// The shared corpus's OpenSSH log through the bundled rules into `store`.
fn ssh_alerts(store: &mut Store, corpus: &Path) {
    let request = DetectRequest {
        paths: vec![corpus.join("OpenSSH_2k.log").display().to_string()],
        pipeline: PipelineOptions {
            read: Options {
                format: None,
                year: Some(2015),
                timezone: None,
                evtx_recover: false,
                counters: None,
            },
            ..PipelineOptions::default()
        },
        ..DetectRequest::default()
    };
    let judges = Judges::load(&JudgeSources::default()).unwrap();
    detect(
        &request,
        Context {
            store: Some(store),
            judges: &judges,
            actor: &Actor::user("tester"),
            clock: &at("2026-12-01T09:00:00Z"),
            cancel: &Cancel::new(),
        },
        &mut Quiet,
        &NoProgress,
    )
    .unwrap();
}

fn source_ip(document: &str) -> String {
    let doc: Value = serde_json::from_str(document).unwrap();
    doc["source.ip"].as_str().unwrap_or_default().to_string()
}

/// A brute-force alert again, from another source (`source.ip` and the group changed), seen later.
fn variant(store: &mut Store, template: &secops_store::AlertRecord, ip: &str, shift: i64) -> i64 {
    let mut doc: Value = serde_json::from_str(&template.document).unwrap();
    doc["source.ip"] = Value::String(ip.into());
    let recorded = store
        .record_alerts(
            &[NewAlert {
                rule_id: template.rule_id.clone(),
                rule_name: template.rule_name.clone(),
                rule_version: template.rule_version,
                severity: template.severity.clone(),
                risk_score: template.risk_score,
                group_key: format!("{ip}/{shift}"),
                first_seen: template.first_seen + shift,
                last_seen: template.last_seen + shift,
                event_count: template.event_count,
                dedupe_window: 0,
                document: doc.to_string(),
            }],
            "tester",
            template.created_at + shift,
        )
        .unwrap();
    match recorded[0] {
        Recorded::Inserted(id) => id,
        ref other => panic!("{other:?}"),
    }
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

fn responder(dir: &Path, hook: &str, netns: &str, warninglists: &Path) -> Responder {
    let config = write(
        dir,
        "respond.toml",
        &format!(
            r#"
[guards]
approval_hours = 24

[[connector]]
name = "soc"
kind = "webhook"
url = "{hook}/secops"
signing_secret = "soc-signing"

[[connector]]
name = "edge"
kind = "nftables"
table = "inet secops"
set = "blocked"
netns = "{netns}"
create = true

[[connector]]
name = "helpdesk"
kind = "command"
program = "/usr/bin/python3"
args = ["-c", "import sys; sys.exit(0)"]

[[action]]
id = "notify-soc"
target = "ip"
connector = "soc"
params = {{ rule = "{{{{ alert.rule.name }}}}", attempts = "{{{{ alert.threshold.count }}}}" }}

[[action]]
id = "block-source"
name = "Block the source at the edge"
target = "ip"
connector = "edge"
params = {{ operation = "add" }}
inverse = "unblock-source"
escalation = ["1h", "24h"]

[[action]]
id = "unblock-source"
target = "ip"
connector = "edge"
params = {{ operation = "delete" }}

[[action]]
id = "disable-account"
target = "user"
connector = "helpdesk"
approval = "always"
params = {{ args = ["{{{{ target }}}}"] }}

[[workflow]]
id = "contain-ssh-brute-force"
on = "alert"
rules = ["{RULE}"]
steps = [{{ action = "notify-soc" }}, {{ action = "block-source" }}]
"#
        ),
    );
    let secrets = write(
        dir,
        "secrets.toml",
        &format!("soc-signing = \"{SIGNING}\"\n"),
    );
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&secrets, std::fs::Permissions::from_mode(0o600)).unwrap();
    let inventory = write(
        dir,
        "inventory.toml",
        "[[network]]\nname = \"partner-vpn\"\ncidr = \"45.33.32.0/24\"\n",
    );
    Responder::load(&ResponderSources {
        config,
        secrets: Some(secrets),
        warninglists: Some(warninglists.to_path_buf()),
        inventory: vec![inventory],
    })
    .unwrap()
}

#[test]
fn a_brute_force_alert_blocks_its_source_once_and_the_block_is_lifted_when_it_ends() {
    let Some(corpus) = secops_testkit::shared("corpus/linux") else {
        return;
    };
    let warninglists = secops_testkit::shared("corpus/intel/warninglists").unwrap();
    let Some(netns) = secops_testkit::Netns::new("service") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(&dir.path().join("secops.db").to_string_lossy()).unwrap();
    ssh_alerts(&mut store, &corpus);
    let brute: Vec<_> = store
        .alerts(&AlertFilter {
            rule: Some(RULE.into()),
            ..AlertFilter::default()
        })
        .unwrap();
    assert!(brute.len() >= 3, "{} brute-force alerts", brute.len());
    let (hook, deliveries) = secops_testkit::http_receiver(vec![200]);
    let responder = responder(dir.path(), &hook, &netns.0, &warninglists);
    assert!(responder.missing_secrets().is_empty());

    // The same alert with its source in RFC 1918 space, on a warninglist, in the inventory.
    let template = &brute[0];
    let private = variant(&mut store, template, "10.20.30.40", 1);
    let resolver = variant(&mut store, template, "8.8.8.8", 2);
    let partner = variant(&mut store, template, "45.33.32.156", 3);

    let service = Actor::service("secops-run");
    let t0 = at("2026-12-01T10:00:00Z");
    let (read, evaluated) = respond::evaluate_new_alerts(
        &mut store,
        &responder,
        "test",
        respond::FirstLook::Oldest,
        &service,
        &t0,
        &Cancel::new(),
    )
    .unwrap();
    assert_eq!(
        read as usize,
        store.alerts(&AlertFilter::default()).unwrap().len()
    );
    // Read again: nothing new.
    let (again, _) = respond::evaluate_new_alerts(
        &mut store,
        &responder,
        "test",
        respond::FirstLook::Oldest,
        &service,
        &t0,
        &Cancel::new(),
    )
    .unwrap();
    assert_eq!(again, 0);

    let guard_of = |store: &mut Store, alert: i64| -> Vec<(String, Option<String>)> {
        respond::why(store, alert)
            .unwrap()
            .evaluations
            .into_iter()
            .map(|e| (e.outcome, e.guard))
            .collect()
    };
    let stopped = |guard: &str| vec![("stopped".to_string(), Some(guard.to_string())); 2];
    assert_eq!(guard_of(&mut store, private), stopped("special range"));
    assert_eq!(guard_of(&mut store, resolver), stopped("warninglist"));
    assert_eq!(guard_of(&mut store, partner), stopped("asset"));
    let why = respond::why(&mut store, private).unwrap();
    assert!(
        why.evaluations[0].detail.contains("10.0.0.0/8"),
        "{:?}",
        why.evaluations
    );
    assert!(why.runs.is_empty());

    let mut sources: Vec<String> = brute.iter().map(|a| source_ip(&a.document)).collect();
    sources.sort();
    sources.dedup();
    // Every alert notifies; a source is blocked once, its later alerts noted against that run.
    let count = |action: &str, outcome: &str| {
        evaluated
            .iter()
            .filter(|e| e.action == action && e.outcome == outcome)
            .count()
    };
    assert_eq!(count("notify-soc", "fired"), brute.len(), "{evaluated:#?}");
    assert_eq!(count("block-source", "fired"), sources.len());
    assert_eq!(
        count("block-source", "in_effect"),
        brute.len() - sources.len()
    );

    // The scheduler carries them out: every webhook signed, every source in the set.
    let tick = respond::tick(
        &mut store,
        &responder,
        Recover::All,
        &service,
        &t0,
        &Cancel::new(),
    )
    .unwrap();
    assert!(tick.errors.is_empty(), "{:?}", tick.errors);
    assert_eq!(tick.ran.len(), brute.len() + sources.len());
    assert!(
        tick.ran.iter().all(|r| r.state == "succeeded"),
        "{:#?}",
        tick.ran
    );
    let mut notified = Vec::new();
    for _ in 0..brute.len() {
        let got = deliveries.recv_timeout(Duration::from_secs(10)).unwrap();
        assert_eq!(got.path, "/secops");
        let ts: i64 = got.header("webhook-timestamp").unwrap().parse().unwrap();
        assert!(verify(
            SIGNING,
            got.header("webhook-id").unwrap(),
            ts,
            &got.body,
            got.header("webhook-signature").unwrap(),
            ts,
        ));
        let body: Value = serde_json::from_str(&got.body).unwrap();
        assert_eq!(body["data"]["params"]["rule"], RULE);
        notified.push(
            body["data"]["target"]["value"]
                .as_str()
                .unwrap()
                .to_string(),
        );
    }
    notified.sort();
    notified.dedup();
    assert_eq!(notified, sources);
    let set = netns.nft_set("inet", "secops", "blocked");
    for ip in &sources {
        assert!(set.contains(ip.as_str()), "{ip} not in {set}");
    }
    assert!(!set.contains("10.20.30.40") && !set.contains("8.8.8.8"));
    // A second pass runs nothing again.
    let idle = respond::tick(
        &mut store,
        &responder,
        Recover::Stale,
        &service,
        &t0,
        &Cancel::new(),
    )
    .unwrap();
    assert!(idle.ran.is_empty());

    // The first hold is an hour: after it, the inverse lifts every block.
    let later = at("2026-12-01T11:00:01Z");
    let tick = respond::tick(
        &mut store,
        &responder,
        Recover::Stale,
        &service,
        &later,
        &Cancel::new(),
    )
    .unwrap();
    assert_eq!(tick.ran.len(), sources.len(), "{:#?}", tick.ran);
    assert!(tick
        .ran
        .iter()
        .all(|r| r.operation == "undo" && r.state == "succeeded"));
    let set = netns.nft_set("inet", "secops", "blocked");
    for ip in &sources {
        assert!(!set.contains(ip.as_str()), "{ip} still in {set}");
    }
    let blocks = store
        .response_runs(&ResponseFilter {
            action_id: Some("block-source".into()),
            ..ResponseFilter::default()
        })
        .unwrap();
    assert!(blocks
        .iter()
        .all(|r| r.state == "rolled_back" && r.hold_ns == Some(HOUR)));

    // A repeat offender is held for the next duration.
    let repeat_ip = source_ip(&brute[0].document);
    let repeat = variant(&mut store, template, &repeat_ip, 7 * HOUR);
    let (_, evaluated) = respond::evaluate_new_alerts(
        &mut store,
        &responder,
        "test",
        respond::FirstLook::Oldest,
        &service,
        &later,
        &Cancel::new(),
    )
    .unwrap();
    let block = evaluated
        .iter()
        .find(|e| e.action == "block-source")
        .and_then(|e| e.run.clone())
        .unwrap();
    assert_eq!(
        (block.alert_id, block.hold_ns),
        (Some(repeat), Some(24 * HOUR))
    );
    let tick = respond::tick(
        &mut store,
        &responder,
        Recover::Stale,
        &service,
        &later,
        &Cancel::new(),
    )
    .unwrap();
    assert!(tick.ran.iter().all(|r| r.state == "succeeded"));
    assert!(netns
        .nft_set("inet", "secops", "blocked")
        .contains(repeat_ip.as_str()));
    let undone = respond::tick(
        &mut store,
        &responder,
        Recover::Stale,
        &service,
        &at("2026-12-02T11:00:00Z"),
        &Cancel::new(),
    )
    .unwrap();
    assert!(undone.ran.is_empty(), "held 24 h, not yet over");
    let undone = respond::tick(
        &mut store,
        &responder,
        Recover::Stale,
        &service,
        &at("2026-12-02T11:00:02Z"),
        &Cancel::new(),
    )
    .unwrap();
    assert_eq!(undone.ran.len(), 1);
    assert!(!netns
        .nft_set("inet", "secops", "blocked")
        .contains(repeat_ip.as_str()));

    // Every step is in the alert's event log.
    let kinds: Vec<String> = store
        .alert_events(brute[0].id)
        .unwrap()
        .into_iter()
        .map(|e| e.kind)
        .filter(|k| k.starts_with("response."))
        .collect();
    assert!(
        kinds.contains(&"response.rolled_back".to_string()),
        "{kinds:?}"
    );

    // Approvals: the requester cannot approve; another user can; a request nobody decides expires.
    let alice = Actor::user("alice");
    let bob = Actor::user("bob");
    let asked = respond::request(
        &mut store,
        &responder,
        &HandRequest {
            action: "disable-account".into(),
            target: "admin".into(),
            alert_id: Some(brute[1].id),
            ..HandRequest::default()
        },
        &alice,
        &later,
    )
    .unwrap();
    assert_eq!(asked.outcome, "awaiting_approval");
    let run = asked.run.unwrap();
    let own = respond::decide(&mut store, run.id, Decision::Approve, None, &alice, &later);
    assert!(own.unwrap_err().to_string().contains("cannot approve it"));
    let key = respond::decide(
        &mut store,
        run.id,
        Decision::Approve,
        None,
        &Actor::api_key("ci"),
        &later,
    );
    assert!(key.is_err());
    let nothing = respond::tick(
        &mut store,
        &responder,
        Recover::Stale,
        &service,
        &later,
        &Cancel::new(),
    )
    .unwrap();
    assert!(nothing.ran.is_empty(), "not approved yet");
    respond::decide(
        &mut store,
        run.id,
        Decision::Approve,
        Some("confirmed with the owner"),
        &bob,
        &later,
    )
    .unwrap();
    let ran = respond::tick(
        &mut store,
        &responder,
        Recover::Stale,
        &service,
        &later,
        &Cancel::new(),
    )
    .unwrap();
    assert_eq!(
        ran.ran
            .iter()
            .map(|r| (r.id, r.state.as_str()))
            .collect::<Vec<_>>(),
        [(run.id, "succeeded")]
    );

    let ignored = respond::request(
        &mut store,
        &responder,
        &HandRequest {
            action: "disable-account".into(),
            target: "guest".into(),
            ..HandRequest::default()
        },
        &alice,
        &later,
    )
    .unwrap()
    .run
    .unwrap();
    let next_day = at("2026-12-02T11:00:02Z");
    let expired = respond::tick(
        &mut store,
        &responder,
        Recover::Stale,
        &service,
        &next_day,
        &Cancel::new(),
    )
    .unwrap();
    assert_eq!(
        expired.expired.iter().map(|r| r.id).collect::<Vec<_>>(),
        [ignored.id]
    );
    assert!(expired.ran.is_empty());
    assert!(respond::decide(
        &mut store,
        ignored.id,
        Decision::Approve,
        None,
        &bob,
        &next_day
    )
    .is_err());

    // A dry run by hand returns the exact request and sends nothing.
    let dry = respond::request(
        &mut store,
        &responder,
        &HandRequest {
            action: "block-source".into(),
            target: "183.62.140.253".into(),
            dry_run: true,
            ..HandRequest::default()
        },
        &alice,
        &next_day,
    )
    .unwrap();
    assert_eq!(dry.outcome, "dry_run");
    let request: Value =
        serde_json::from_str(dry.run.unwrap().request.as_deref().unwrap()).unwrap();
    let last = request["invocations"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(
        last["argv"],
        serde_json::json!([
            "netns",
            "exec",
            netns.0,
            "nft",
            "add",
            "element",
            "inet",
            "secops",
            "blocked",
            "{ 183.62.140.253 }"
        ])
    );
    assert!(!netns
        .nft_set("inet", "secops", "blocked")
        .contains("183.62.140.253"));
}

#[test]
fn a_replay_of_the_corpus_alerts_counts_what_an_independent_sql_count_finds() {
    let Some(corpus) = secops_testkit::shared("corpus/linux") else {
        return;
    };
    let warninglists = secops_testkit::shared("corpus/intel/warninglists").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("secops.db");
    let mut store = Store::open(&db.to_string_lossy()).unwrap();
    ssh_alerts(&mut store, &corpus);
    let brute = store
        .alerts(&AlertFilter {
            rule: Some(RULE.into()),
            ..AlertFilter::default()
        })
        .unwrap();
    // Some of them on the guard lists.
    variant(&mut store, &brute[0], "192.168.7.7", 11);
    variant(&mut store, &brute[0], "1.1.1.1", 12);
    variant(&mut store, &brute[0], "45.33.32.156", 13);
    let responder = responder(dir.path(), "http://127.0.0.1:9", "unused", &warninglists);
    let simulated = respond::simulate(&mut store, &responder, 0, &Cancel::new()).unwrap();
    let block = &simulated.actions["block-source"];

    // The same counts straight from the database, with the guard lists as SQL.
    let db = rusqlite::Connection::open(&db).unwrap();
    let count =
        |sql: &str| -> u64 { db.query_row(sql, [], |r| r.get::<_, i64>(0)).unwrap() as u64 };
    let ip = "json_extract(document, '$.\"source.ip\"')";
    let of_rule = format!("FROM alerts WHERE rule_name = '{RULE}'");
    let private = format!("({ip} LIKE '10.%' OR {ip} LIKE '192.168.%' OR {ip} LIKE '127.%')");
    let listed = format!("{ip} IN ('1.1.1.1', '8.8.8.8', '8.8.4.4')");
    let asset = format!("{ip} LIKE '45.33.32.%'");
    let clean = format!("NOT {private} AND NOT {listed} AND NOT {asset}");
    assert_eq!(block.alerts, count(&format!("SELECT COUNT(*) {of_rule}")));
    let clean_alerts = count(&format!("SELECT COUNT(*) {of_rule} AND {clean}"));
    // Each clean alert notifies; it blocks unless a block of its source still holds.
    assert_eq!(simulated.actions["notify-soc"].would_run, clean_alerts);
    assert_eq!(block.would_run + block.in_effect, clean_alerts);
    // Blocks hold an hour, then a day: a source's alerts within the hold of its last block are
    // in effect (the alerts' last-seen times, in id order as the replay reads them).
    let mut held_until: std::collections::HashMap<String, (i64, u32)> = Default::default();
    let mut blocks = 0;
    let mut stmt = db
        .prepare(&format!(
            "SELECT {ip}, last_seen {of_rule} AND {clean} ORDER BY id"
        ))
        .unwrap();
    let rows: Vec<(String, i64)> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    for (source, seen) in rows {
        let (until, n) = held_until.entry(source).or_insert((i64::MIN, 0));
        if seen < *until {
            continue;
        }
        blocks += 1;
        *until = seen + if *n == 0 { HOUR } else { 24 * HOUR };
        *n += 1;
    }
    assert_eq!(block.would_run, blocks);
    assert_eq!(
        block.targets,
        count(&format!(
            "SELECT COUNT(DISTINCT {ip}) {of_rule} AND {clean}"
        ))
    );
    assert_eq!(
        block.stopped.get("special range").copied().unwrap_or(0),
        count(&format!("SELECT COUNT(*) {of_rule} AND {private}"))
    );
    assert_eq!(
        block.stopped.get("warninglist").copied().unwrap_or(0),
        count(&format!("SELECT COUNT(*) {of_rule} AND {listed}"))
    );
    assert_eq!(
        block.stopped.get("asset").copied().unwrap_or(0),
        count(&format!("SELECT COUNT(*) {of_rule} AND {asset}"))
    );
    assert_eq!(block.awaiting_approval, 0);
    // Nothing was recorded or sent.
    assert!(store
        .response_runs(&ResponseFilter::default())
        .unwrap()
        .is_empty());
}

/// A workflow started by a rule tag: the bundled rules' own tags travel in their alerts
/// (`rule.tags`), so a workflow on `Data Source: OpenSSH` starts on exactly the alerts of the rules
/// that carry it (read from the rule files), and one on a tag no rule has starts on none.
#[test]
fn a_workflow_on_a_rule_tag_starts_on_the_alerts_of_the_rules_that_carry_it() {
    let Some(corpus) = secops_testkit::shared("corpus/linux") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("secops.db");
    let mut store = Store::open(&db.to_string_lossy()).unwrap();
    ssh_alerts(&mut store, &corpus);
    let config = write(
        dir.path(),
        "respond.toml",
        r#"
[[connector]]
name = "soc"
kind = "webhook"
url = "http://127.0.0.1:9/secops"

[[action]]
id = "page-oncall"
target = "ip"
connector = "soc"

[[action]]
id = "open-ticket"
target = "ip"
connector = "soc"

[[workflow]]
id = "openssh"
on = "alert"
tags = ["data source: openssh"]
steps = [{ action = "page-oncall" }]

[[workflow]]
id = "nothing-carries-this"
on = "alert"
tags = ["Data Source: Mainframe"]
steps = [{ action = "open-ticket" }]
"#,
    );
    let responder = Responder::load(&ResponderSources {
        config,
        secrets: None,
        warninglists: None,
        inventory: Vec::new(),
    })
    .unwrap();
    let simulated = respond::simulate(&mut store, &responder, 0, &Cancel::new()).unwrap();

    // The rules carrying the tag, from their files.
    let rules = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../rules");
    let mut tagged = Vec::new();
    for dir in std::fs::read_dir(&rules).unwrap() {
        let dir = dir.unwrap().path();
        if !dir.is_dir() {
            continue;
        }
        for file in std::fs::read_dir(&dir).unwrap() {
            let text = std::fs::read_to_string(file.unwrap().path()).unwrap();
            let rule: toml::Table = toml::from_str(&text).unwrap();
            let rule = rule["rule"].as_table().unwrap();
            let carries = rule
                .get("tags")
                .and_then(|t| t.as_array())
                .is_some_and(|t| t.iter().any(|t| t.as_str() == Some("Data Source: OpenSSH")));
            if carries {
                tagged.push(rule["name"].as_str().unwrap().to_string());
            }
        }
    }
    assert!(tagged.iter().any(|r| r == RULE), "{tagged:?}");
    let db = rusqlite::Connection::open(&db).unwrap();
    let names = tagged
        .iter()
        .map(|n| format!("'{}'", n.replace('\'', "''")))
        .collect::<Vec<_>>()
        .join(", ");
    let expected: i64 = db
        .query_row(
            &format!("SELECT COUNT(*) FROM alerts WHERE rule_name IN ({names})"),
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(expected > 0);
    assert_eq!(simulated.actions["page-oncall"].alerts, expected as u64);
    assert!(!simulated.actions.contains_key("open-ticket"));
}

/// A case workflow: when a case reaches containment, each distinct source of its alerts is blocked
/// (once), and a case at PAP:RED is never acted on.
#[test]
fn a_case_reaching_containment_blocks_the_sources_of_its_alerts() {
    let Some(corpus) = secops_testkit::shared("corpus/linux") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(&dir.path().join("secops.db").to_string_lossy()).unwrap();
    ssh_alerts(&mut store, &corpus);
    let brute = store
        .alerts(&AlertFilter {
            rule: Some(RULE.into()),
            ..AlertFilter::default()
        })
        .unwrap();
    let config = write(
        dir.path(),
        "respond.toml",
        r#"
[[connector]]
name = "ticket"
kind = "command"
program = "/usr/bin/python3"
args = ["-c", "import sys; print(sys.argv[1:])"]

[[action]]
id = "block-source"
target = "ip"
connector = "ticket"
params = { args = ["block", "{{ target }}", "case {{ case.number }}"] }

[[workflow]]
id = "contain"
on = "case"
case_states = ["containment"]
steps = [{ action = "block-source" }]
"#,
    );
    let responder = Responder::load(&ResponderSources {
        config,
        ..ResponderSources::default()
    })
    .unwrap();
    let clock = at("2026-12-01T10:00:00Z");
    let analyst = Actor::user("ana");
    let service = Actor::service("secops-run");
    let playbooks = secops_case::playbook::Playbooks::bundled().unwrap();
    let open = |store: &mut Store, ids: Vec<i64>| {
        secops_service::cases::open_from_alerts(
            store,
            &playbooks,
            &secops_case::FromAlerts {
                alert_ids: ids,
                ..secops_case::FromAlerts::default()
            },
            &analyst,
            &clock,
        )
        .unwrap()
    };
    let case = open(&mut store, brute.iter().map(|a| a.id).collect());
    // The first look only starts watching.
    assert!(
        respond::evaluate_case_moves(&mut store, &responder, "t", &service, &clock)
            .unwrap()
            .is_empty()
    );
    let mut desk = secops_service::cases::Desk {
        store: &mut store,
        actor: &analyst,
        clock: &clock,
    };
    desk.move_to(case.number, secops_case::CaseState::Triage)
        .unwrap();
    desk.move_to(case.number, secops_case::CaseState::InProgress)
        .unwrap();
    desk.move_to(case.number, secops_case::CaseState::Containment)
        .unwrap();
    let evaluated =
        respond::evaluate_case_moves(&mut store, &responder, "t", &service, &clock).unwrap();
    let mut sources: Vec<String> = brute.iter().map(|a| source_ip(&a.document)).collect();
    sources.sort();
    sources.dedup();
    assert_eq!(evaluated.len(), sources.len(), "{evaluated:#?}");
    assert!(evaluated.iter().all(|e| e.outcome == "fired"));
    let tick = respond::tick(
        &mut store,
        &responder,
        Recover::All,
        &service,
        &clock,
        &Cancel::new(),
    )
    .unwrap();
    assert_eq!(tick.ran.len(), sources.len());
    let reply: Value = serde_json::from_str(tick.ran[0].response.as_deref().unwrap()).unwrap();
    assert!(
        reply["response"]
            .as_str()
            .unwrap()
            .contains(&format!("'case {}'", case.number)),
        "{reply}"
    );
    // The case's timeline shows the runs.
    let lines: Vec<String> = store
        .case_events(case.number)
        .unwrap()
        .into_iter()
        .map(|e| e.kind)
        .filter(|k| k.starts_with("response."))
        .collect();
    assert_eq!(
        lines.iter().filter(|k| *k == "response.succeeded").count(),
        sources.len()
    );
    // Nothing more until another move.
    assert!(
        respond::evaluate_case_moves(&mut store, &responder, "t", &service, &clock)
            .unwrap()
            .is_empty()
    );
}

/// Three failed runs in a row open the circuit: the next request is stopped until the cooldown
/// after the last failure has passed. A case at PAP:RED, or above an action's TLP ceiling, is never
/// acted on.
#[test]
fn repeated_failures_open_the_circuit_and_case_markings_set_ceilings() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(&dir.path().join("secops.db").to_string_lossy()).unwrap();
    let config = write(
        dir.path(),
        "respond.toml",
        r#"
[[connector]]
name = "broken"
kind = "command"
program = "/usr/bin/python3"
args = ["-c", "import sys; sys.exit(3)"]

[[connector]]
name = "fine"
kind = "command"
program = "/usr/bin/python3"
args = ["-c", "pass"]

[[action]]
id = "flaky"
target = "ip"
connector = "broken"
retries = 0
circuit_failures = 3
circuit_cooldown = "10m"

[[action]]
id = "share"
target = "ip"
connector = "fine"
max_tlp = "green"
"#,
    );
    let responder = Responder::load(&ResponderSources {
        config,
        ..ResponderSources::default()
    })
    .unwrap();
    let ana = Actor::user("ana");
    let service = Actor::service("secops-run");
    let ask =
        |store: &mut Store, action: &str, target: &str, case: Option<i64>, clock: &FixedClock| {
            respond::request(
                store,
                &responder,
                &HandRequest {
                    action: action.into(),
                    target: target.into(),
                    case_number: case,
                    ..HandRequest::default()
                },
                &ana,
                clock,
            )
            .unwrap()
        };
    let t = |s: &str| at(s);
    for (i, target) in ["45.33.32.1", "45.33.32.2", "45.33.32.3"]
        .iter()
        .enumerate()
    {
        let clock = t(&format!("2026-12-01T10:0{i}:00Z"));
        assert_eq!(
            ask(&mut store, "flaky", target, None, &clock).outcome,
            "fired"
        );
        let tick = respond::tick(
            &mut store,
            &responder,
            Recover::Stale,
            &service,
            &clock,
            &Cancel::new(),
        )
        .unwrap();
        assert_eq!(tick.ran[0].state, "failed");
        let reply: Value = serde_json::from_str(tick.ran[0].response.as_deref().unwrap()).unwrap();
        assert!(
            reply["status"].as_str().unwrap().contains("exit status: 3"),
            "{reply}"
        );
    }
    let stopped = ask(
        &mut store,
        "flaky",
        "45.33.32.4",
        None,
        &t("2026-12-01T10:05:00Z"),
    );
    assert_eq!(
        (stopped.outcome.as_str(), stopped.guard.as_deref()),
        ("stopped", Some("circuit breaker"))
    );
    let later = ask(
        &mut store,
        "flaky",
        "45.33.32.4",
        None,
        &t("2026-12-01T10:12:01Z"),
    );
    assert_eq!(later.outcome, "fired", "{later:?}");

    // Cases marked PAP:RED, or TLP above the action's ceiling.
    let clock = t("2026-12-01T11:00:00Z");
    let case = |store: &mut Store, tlp: &str, pap: &str| {
        store
            .create_case(
                &secops_store::NewCase {
                    title: format!("TLP {tlp} PAP {pap}"),
                    severity: "high".into(),
                    tlp: tlp.into(),
                    pap: pap.into(),
                    state: "new".into(),
                    ..secops_store::NewCase::default()
                },
                "ana",
                clock.0.unix_nanos(),
            )
            .unwrap()
            .number
    };
    let red = case(&mut store, "green", "red");
    let amber = case(&mut store, "amber", "green");
    let green = case(&mut store, "green", "green");
    let e = ask(&mut store, "share", "45.33.32.9", Some(red), &clock);
    assert_eq!(e.guard.as_deref(), Some("pap"), "{e:?}");
    let e = ask(&mut store, "share", "45.33.32.9", Some(amber), &clock);
    assert_eq!(e.guard.as_deref(), Some("tlp"), "{e:?}");
    let e = ask(&mut store, "share", "45.33.32.9", Some(green), &clock);
    assert_eq!(e.outcome, "fired", "{e:?}");
    // What a guard stopped is on the case's timeline, the guard named.
    let stopped: Vec<_> = store
        .case_events(red)
        .unwrap()
        .into_iter()
        .filter(|e| e.kind == "response.stopped")
        .collect();
    assert_eq!(stopped.len(), 1, "{stopped:?}");
    let line: Value = serde_json::from_str(stopped[0].after.as_deref().unwrap()).unwrap();
    assert_eq!(line["guard"], "pap");
    assert_eq!(line["target"], "ip 45.33.32.9");
}
