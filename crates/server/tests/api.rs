//! The API as clients meet it: the whole router in process (every route walked for its permission),
//! and the server on a real socket over HTTP and HTTPS. The store is real (SQLite, and PostgreSQL
//! where named), filled by detection over the repository's sample logs.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use http_body_util::BodyExt;
use secops_auth::Roles;
use secops_event::Timestamp;
use secops_server::permissions::{Access, RoutePermissions};
use secops_service::users::{self, NewKey, SessionPolicy};
use secops_service::Clock;
use secops_store::{AuditKey, Store};
use serde_json::{json, Value};
use tower::ServiceExt;

mod console;

const MINUTE: i64 = 60 * 1_000_000_000;
const PASSWORD: &str = "correct horse battery staple";

/// A clock the test moves.
#[derive(Debug)]
struct TestClock(AtomicI64);

impl Clock for TestClock {
    fn now(&self) -> Timestamp {
        Timestamp::from_unix_nanos(self.0.load(Ordering::SeqCst))
    }
}

impl TestClock {
    fn advance(&self, nanos: i64) {
        self.0.fetch_add(nanos, Ordering::SeqCst);
    }
}

/// One role per permission (`only_alerts_read`), and one with none.
fn roles_file() -> String {
    let mut text = String::from("[role.nothing]\npermissions = []\n");
    for p in secops_auth::PERMISSIONS {
        text.push_str(&format!(
            "[role.{}]\npermissions = [\"{p}\"]\n",
            role_of(p.as_str())
        ));
    }
    text
}

fn role_of(permission: &str) -> String {
    format!("only_{}", permission.replace(':', "_"))
}

/// Runs blocking work, from inside a runtime or not.
fn blocking<T>(f: impl FnOnce() -> T) -> T {
    match tokio::runtime::Handle::try_current() {
        Ok(_) => tokio::task::block_in_place(f),
        Err(_) => f(),
    }
}

/// A store with users (`root`, an admin; `ana`, an analyst), alerts from detection over the sample
/// logs, and the app over it.
struct Harness {
    app: axum::Router,
    state: secops_server::state::AppState,
    clock: Arc<TestClock>,
    target: String,
    key: AuditKey,
    roles: Roles,
    _dir: tempfile::TempDir,
}

impl Harness {
    fn sqlite() -> Harness {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("secops.db").display().to_string();
        Harness::on(target, dir, Settings::default())
    }

    fn on(target: String, dir: tempfile::TempDir, tune: Settings) -> Harness {
        let roles = Roles::with_file(&roles_file()).unwrap();
        let key = AuditKey::load_or_create(&dir.path().join("audit-key")).unwrap();
        let clock = Arc::new(TestClock(AtomicI64::new(
            Timestamp::parse_rfc3339("2026-12-06T09:00:00Z")
                .unwrap()
                .unix_nanos(),
        )));
        let now = clock.now().unix_nanos();
        blocking(|| {
            let mut store = Store::open(&target).unwrap();
            users::add_user(&mut store, &roles, "root", "admin", PASSWORD, now, None).unwrap();
            users::add_user(&mut store, &roles, "ana", "analyst", PASSWORD, now, None).unwrap();
            detect_samples(&mut store);
        });
        let mut settings = secops_server::Settings::new(target.clone(), key.clone(), roles.clone());
        settings.access_log = false;
        settings.sessions = SessionPolicy {
            idle: 30 * MINUTE,
            absolute: 12 * 60 * MINUTE,
        };
        if let Some(limit) = tune.body_limit {
            settings.body_limit = limit;
        }
        settings.lake = tune.lake;
        settings.attack = tune.attack;
        settings.respond = tune.respond;
        settings.evidence_dir = dir.path().join("evidence");
        // Rule tests read `shared/...` from beside the repository.
        settings.data_root = secops_testkit::repo_root().join("..");
        let (app, state) = secops_server::app_with_state(settings, clock.clone()).unwrap();
        Harness {
            app,
            state,
            clock,
            target,
            key,
            roles,
            _dir: dir,
        }
    }

    fn store(&self) -> Store {
        Store::open(&self.target).unwrap()
    }

    /// Runs `f` on the store; inside a test's runtime on a thread allowed to block (the
    /// PostgreSQL client blocks).
    fn with_store<T>(&self, f: impl FnOnce(&mut Store) -> T) -> T {
        blocking(|| f(&mut self.store()))
    }

    /// A new API key acting with `role`, owned by `owner`.
    fn key_for(&self, owner: &str, role: &str) -> String {
        let (_, secret) = self
            .with_store(|store| {
                users::create_key(
                    store,
                    &self.roles,
                    &NewKey {
                        name: role,
                        role,
                        owner,
                        expires_at: None,
                    },
                    self.clock.now().unix_nanos(),
                    None,
                )
            })
            .unwrap();
        secret
    }

    async fn call(&self, method: Method, path: &str, auth: &Auth, body: Option<Value>) -> Answer {
        let mut request = Request::builder().method(method).uri(path);
        match auth {
            Auth::None => {}
            Auth::Key(key) => request = request.header("authorization", format!("Bearer {key}")),
            Auth::Cookie { secret, csrf } => {
                request = request.header("cookie", format!("other=1; secops_session={secret}"));
                if let Some(token) = csrf {
                    request = request.header("x-csrf-token", token.as_str());
                }
            }
        }
        let request = match body {
            Some(body) => request
                .header("content-type", "application/json")
                .body(Body::from(body.to_string())),
            None => request.body(Body::empty()),
        }
        .unwrap();
        let response = self.app.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Answer {
            status,
            headers,
            body,
        }
    }

    /// Signs in with a password: the session cookie's secret and the CSRF token.
    async fn login(&self, user: &str) -> (String, String) {
        let answer = self
            .call(
                Method::POST,
                "/api/v1/login",
                &Auth::None,
                Some(json!({"user": user, "password": PASSWORD})),
            )
            .await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
        let cookie = answer.headers["set-cookie"].to_str().unwrap().to_string();
        for attribute in ["HttpOnly", "SameSite=Strict", "Path=/"] {
            assert!(cookie.contains(attribute), "{cookie}");
        }
        let secret = cookie
            .split(';')
            .next()
            .unwrap()
            .strip_prefix("secops_session=")
            .unwrap()
            .to_string();
        (
            secret,
            answer.body["csrf_token"].as_str().unwrap().to_string(),
        )
    }
}

#[derive(Default)]
struct Settings {
    body_limit: Option<usize>,
    lake: Option<String>,
    attack: Option<std::path::PathBuf>,
    respond: Option<secops_service::respond::ResponderSources>,
}

enum Auth {
    None,
    Key(String),
    Cookie {
        secret: String,
        csrf: Option<String>,
    },
}

#[derive(Debug)]
struct Answer {
    status: StatusCode,
    headers: axum::http::HeaderMap,
    body: Value,
}

/// Detection over the repository's sample logs into the store (real alerts from real lines).
fn detect_samples(store: &mut Store) {
    struct Quiet;
    impl secops_service::detect::Observer for Quiet {}
    let root = secops_testkit::repo_root();
    let request = secops_service::detect::DetectRequest {
        paths: vec![root.join("samples").display().to_string()],
        pipeline: secops_service::pipeline::PipelineOptions {
            read: secops_ingest::Options {
                year: Some(2023),
                ..secops_ingest::Options::default()
            },
            ..Default::default()
        },
        ..Default::default()
    };
    let judges = secops_service::intel::Judges::load(&Default::default()).unwrap();
    let report = secops_service::detect::detect(
        &request,
        secops_service::detect::Context {
            store: Some(store),
            judges: &judges,
            actor: &secops_service::Actor::service("detect"),
            clock: &secops_service::SystemClock,
            cancel: &secops_service::Cancel::new(),
        },
        &mut Quiet,
        &secops_service::NoProgress,
    )
    .unwrap();
    assert!(report.alerts >= 10, "{} alerts", report.alerts);
}

/// A route's path with its parameters filled.
fn concrete(path: &str) -> String {
    path.replace("{id}", "1")
        .replace("{number}", "1")
        .replace("{name}", "ana")
        .replace("{key_id}", "00000000")
        .replace("{task}", "1")
        .replace("{kind}", "user")
}

fn method(name: &str) -> Method {
    Method::from_bytes(name.as_bytes()).unwrap()
}

/// Every route of the document: 401 without credentials (unless public), 403 with a role that lacks
/// its permission, neither with a role that holds exactly that permission; a route the document
/// does not name answers 404, and the router has no route outside the document.
#[tokio::test(flavor = "multi_thread")]
async fn every_route_declares_a_permission_and_the_server_enforces_it() {
    let h = Harness::sqlite();
    let routes = RoutePermissions::from_openapi(secops_server::doc::document()).unwrap();
    let all = routes.all();
    assert!(all.len() >= 30, "{} routes", all.len());
    let nothing = h.key_for("ana", "nothing");
    let mut holders = std::collections::HashMap::new();
    for p in secops_auth::PERMISSIONS {
        holders.insert(p.as_str(), h.key_for("ana", &role_of(p.as_str())));
    }
    let mut public = 0;
    for (m, path, access) in &all {
        let uri = concrete(path);
        let body = (m != "GET" && m != "DELETE").then(|| json!({}));
        let anonymous = h.call(method(m), &uri, &Auth::None, body.clone()).await;
        let denied = h
            .call(method(m), &uri, &Auth::Key(nothing.clone()), body.clone())
            .await;
        match access {
            Access::Public => {
                public += 1;
                assert_ne!(anonymous.status, StatusCode::UNAUTHORIZED, "{m} {path}");
                assert_ne!(anonymous.status, StatusCode::FORBIDDEN, "{m} {path}");
            }
            Access::SignedIn => {
                assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED, "{m} {path}");
                assert_eq!(anonymous.body["error"], "unauthenticated", "{m} {path}");
                assert!(anonymous.headers.contains_key("www-authenticate"));
                assert_ne!(denied.status, StatusCode::UNAUTHORIZED, "{m} {path}");
                assert_ne!(denied.status, StatusCode::FORBIDDEN, "{m} {path}");
            }
            Access::Needs(permission) => {
                assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED, "{m} {path}");
                assert_eq!(denied.status, StatusCode::FORBIDDEN, "{m} {path}");
                assert!(
                    denied.body["message"]
                        .as_str()
                        .unwrap()
                        .contains(permission.as_str()),
                    "{m} {path}: {}",
                    denied.body
                );
                let holder = holders[permission.as_str()].clone();
                let allowed = h.call(method(m), &uri, &Auth::Key(holder), body).await;
                assert_ne!(allowed.status, StatusCode::UNAUTHORIZED, "{m} {path}");
                assert_ne!(
                    allowed.status,
                    StatusCode::FORBIDDEN,
                    "{m} {path} with {permission}: {}",
                    allowed.body
                );
            }
        }
    }
    assert_eq!(public, 4, "health, ready, openapi.json, login");
    // No route outside the document.
    let stray = h
        .call(Method::GET, "/api/v1/nothing-here", &Auth::None, None)
        .await;
    assert_eq!(stray.status, StatusCode::NOT_FOUND);
    // Each refusal for want of a permission is in the audit log, as the caller.
    let denials = h
        .with_store(|s| s.audit_records(0, 10_000))
        .unwrap()
        .into_iter()
        .filter(|r| r.record.action == "access.denied")
        .count();
    let protected = all
        .iter()
        .filter(|(_, _, a)| matches!(a, Access::Needs(_)))
        .count();
    assert_eq!(denials, protected);
}

/// A change made with a session cookie needs the session's CSRF token; a read does not; an API key
/// needs none (a browser does not send it by itself).
#[tokio::test(flavor = "multi_thread")]
async fn a_cookie_request_that_changes_something_needs_the_csrf_token() {
    let h = Harness::sqlite();
    let (secret, csrf) = h.login("ana").await;
    let read = h
        .call(
            Method::GET,
            "/api/v1/alerts?limit=1",
            &Auth::Cookie {
                secret: secret.clone(),
                csrf: None,
            },
            None,
        )
        .await;
    assert_eq!(read.status, StatusCode::OK, "{}", read.body);
    let id = read.body["alerts"][0]["id"].as_i64().unwrap();
    let ack = format!("/api/v1/alerts/{id}/acknowledge");
    for token in [None, Some("0".repeat(64)), Some(csrf.to_uppercase() + "x")] {
        let refused = h
            .call(
                Method::POST,
                &ack,
                &Auth::Cookie {
                    secret: secret.clone(),
                    csrf: token,
                },
                None,
            )
            .await;
        assert_eq!(refused.status, StatusCode::FORBIDDEN);
        assert_eq!(refused.body["error"], "csrf");
    }
    let done = h
        .call(
            Method::POST,
            &ack,
            &Auth::Cookie {
                secret,
                csrf: Some(csrf),
            },
            None,
        )
        .await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.body);
    assert_eq!(done.body["status"], "acknowledged");
    // The change is ana's in the alert's history and in the audit log.
    let record = h.with_store(|s| s.audit_records(0, 10_000)).unwrap();
    let last = &record.last().unwrap().record;
    assert_eq!(
        (
            last.actor.as_str(),
            last.action.as_str(),
            last.target.clone()
        ),
        ("ana", "alert.acknowledged", format!("alert {id}"))
    );
}

/// Revoking a key or a session, signing out, or disabling a user stops the credential at the next
/// request.
#[tokio::test(flavor = "multi_thread")]
async fn revoked_keys_and_sessions_stop_working_at_once() {
    let h = Harness::sqlite();
    let admin = h.key_for("root", "admin");
    let analyst = h.key_for("ana", "analyst");
    let me = |key: &str| Auth::Key(key.to_string());
    assert_eq!(
        h.call(Method::GET, "/api/v1/me", &me(&analyst), None)
            .await
            .status,
        StatusCode::OK
    );
    let key_id = &analyst["secops_".len().."secops_".len() + 8];
    let revoked = h
        .call(
            Method::DELETE,
            &format!("/api/v1/keys/{key_id}"),
            &me(&admin),
            None,
        )
        .await;
    assert_eq!(revoked.status, StatusCode::OK, "{}", revoked.body);
    assert!(revoked.body["revoked_at"].is_string());
    let after = h.call(Method::GET, "/api/v1/me", &me(&analyst), None).await;
    assert_eq!(after.status, StatusCode::UNAUTHORIZED);
    assert!(after.body["message"].as_str().unwrap().contains("revoked"));

    // A session revoked by an administrator.
    let (secret, _) = h.login("ana").await;
    let cookie = |s: &str| Auth::Cookie {
        secret: s.to_string(),
        csrf: None,
    };
    let mine = h
        .call(Method::GET, "/api/v1/me", &cookie(&secret), None)
        .await;
    assert_eq!(mine.status, StatusCode::OK);
    let session = mine.body["session"].as_i64().unwrap();
    let listed = h
        .call(Method::GET, "/api/v1/sessions?user=ana", &me(&admin), None)
        .await;
    assert_eq!(listed.body["sessions"][0]["id"], session);
    let gone = h
        .call(
            Method::DELETE,
            &format!("/api/v1/sessions/{session}?user=ana"),
            &me(&admin),
            None,
        )
        .await;
    assert_eq!(gone.status, StatusCode::OK, "{}", gone.body);
    let after = h
        .call(Method::GET, "/api/v1/me", &cookie(&secret), None)
        .await;
    assert_eq!(after.status, StatusCode::UNAUTHORIZED);

    // Signing out.
    let (secret, csrf) = h.login("ana").await;
    let out = h
        .call(
            Method::POST,
            "/api/v1/logout",
            &Auth::Cookie {
                secret: secret.clone(),
                csrf: Some(csrf),
            },
            None,
        )
        .await;
    assert_eq!(out.status, StatusCode::OK);
    assert!(out.headers["set-cookie"]
        .to_str()
        .unwrap()
        .contains("Max-Age=0"));
    let after = h
        .call(Method::GET, "/api/v1/me", &cookie(&secret), None)
        .await;
    assert_eq!(after.status, StatusCode::UNAUTHORIZED);

    // Disabling a user ends their sessions and their keys.
    let (secret, _) = h.login("ana").await;
    let key = h.key_for("ana", "analyst");
    let disabled = h
        .call(
            Method::PATCH,
            "/api/v1/users/ana",
            &me(&admin),
            Some(json!({"disabled": true})),
        )
        .await;
    assert_eq!(disabled.status, StatusCode::OK, "{}", disabled.body);
    for auth in [cookie(&secret), me(&key)] {
        let after = h.call(Method::GET, "/api/v1/me", &auth, None).await;
        assert_eq!(after.status, StatusCode::UNAUTHORIZED);
    }
    let login = h
        .call(
            Method::POST,
            "/api/v1/login",
            &Auth::None,
            Some(json!({"user": "ana", "password": PASSWORD})),
        )
        .await;
    assert_eq!(login.status, StatusCode::UNAUTHORIZED);
    assert!(login.body["message"].as_str().unwrap().contains("disabled"));
}

/// A session ends after the idle limit without a request, and at its absolute end however busy;
/// a role changed meanwhile applies at the next request.
#[tokio::test(flavor = "multi_thread")]
async fn sessions_end_when_idle_or_at_their_end_and_follow_role_changes() {
    let h = Harness::sqlite();
    let cookie = |s: &str| Auth::Cookie {
        secret: s.to_string(),
        csrf: None,
    };
    let (idle, _) = h.login("ana").await;
    h.clock.advance(29 * MINUTE);
    assert_eq!(
        h.call(Method::GET, "/api/v1/me", &cookie(&idle), None)
            .await
            .status,
        StatusCode::OK
    );
    h.clock.advance(29 * MINUTE);
    assert_eq!(
        h.call(Method::GET, "/api/v1/me", &cookie(&idle), None)
            .await
            .status,
        StatusCode::OK,
        "used 29 minutes ago: still open"
    );
    h.clock.advance(31 * MINUTE);
    let ended = h
        .call(Method::GET, "/api/v1/me", &cookie(&idle), None)
        .await;
    assert_eq!(ended.status, StatusCode::UNAUTHORIZED);
    assert!(ended.body["message"].as_str().unwrap().contains("idle"));

    let (busy, _) = h.login("ana").await;
    for _ in 0..(12 * 60 / 20) {
        let me = h
            .call(Method::GET, "/api/v1/me", &cookie(&busy), None)
            .await;
        assert_eq!(me.status, StatusCode::OK);
        h.clock.advance(20 * MINUTE);
    }
    let ended = h
        .call(Method::GET, "/api/v1/me", &cookie(&busy), None)
        .await;
    assert_eq!(ended.status, StatusCode::UNAUTHORIZED);
    assert!(ended.body["message"].as_str().unwrap().contains("expired"));

    let (secret, _) = h.login("ana").await;
    let alerts = h
        .call(Method::GET, "/api/v1/alerts", &cookie(&secret), None)
        .await;
    assert_eq!(alerts.status, StatusCode::OK);
    let now = h.clock.now().unix_nanos();
    h.with_store(|s| users::set_role(s, &h.roles, "ana", "nothing", now, None))
        .unwrap();
    let alerts = h
        .call(Method::GET, "/api/v1/alerts", &cookie(&secret), None)
        .await;
    assert_eq!(alerts.status, StatusCode::FORBIDDEN);
}

/// Triage through the API: pages without gaps or repeats, a detail with events and history,
/// acknowledge, close, a bulk close (one transaction and one audit record naming its targets, the
/// alerts that cannot change listed with why), a case from alerts and alerts merged into it; the
/// audit chain verifies through the API.
async fn triage(h: &Harness) {
    let key = h.key_for("ana", "admin");
    let auth = Auth::Key(key.clone());
    let mut seen = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let uri = match &after {
            Some(a) => format!("/api/v1/alerts?limit=3&after={a}"),
            None => "/api/v1/alerts?limit=3".to_string(),
        };
        let page = h.call(Method::GET, &uri, &auth, None).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        for a in page.body["alerts"].as_array().unwrap() {
            seen.push(a["id"].as_i64().unwrap());
        }
        match page.body["next"].as_str() {
            Some(next) => after = Some(next.to_string()),
            None => break,
        }
    }
    let stored = h
        .with_store(|s| s.alerts(&secops_store::AlertFilter::default()))
        .unwrap();
    let expected: Vec<i64> = stored.iter().map(|a| a.id).collect();
    assert_eq!(seen, expected, "newest first, each once");

    let first = expected[0];
    let detail = h
        .call(Method::GET, &format!("/api/v1/alerts/{first}"), &auth, None)
        .await;
    assert_eq!(detail.status, StatusCode::OK);
    assert!(!detail.body["events"].as_array().unwrap().is_empty());
    assert_eq!(detail.body["history"][0]["kind"], "created");

    // Assigned, tagged in bulk, and found by assignee, tag and entity.
    let assigned = h
        .call(
            Method::POST,
            &format!("/api/v1/alerts/{first}/assign"),
            &auth,
            Some(json!({"assignee": "ana"})),
        )
        .await;
    assert_eq!(assigned.body["assignee"], "ana", "{}", assigned.body);
    let tagged = h
        .call(
            Method::POST,
            "/api/v1/alerts/bulk",
            &auth,
            Some(
                json!({"ids": [expected[0], expected[1]], "action": "tag", "add_tags": ["spray"]}),
            ),
        )
        .await;
    assert_eq!(
        tagged.body["changed"].as_array().unwrap().len(),
        2,
        "{}",
        tagged.body
    );
    let ids_of = |answer: &Answer| -> Vec<i64> {
        let mut ids: Vec<i64> = answer.body["alerts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["id"].as_i64().unwrap())
            .collect();
        ids.sort();
        ids
    };
    let mut both = vec![expected[0], expected[1]];
    both.sort();
    let by_tag = h
        .call(Method::GET, "/api/v1/alerts?tag=spray", &auth, None)
        .await;
    assert_eq!(ids_of(&by_tag), both);
    let mine = h
        .call(Method::GET, "/api/v1/alerts?assignee=ana", &auth, None)
        .await;
    assert_eq!(ids_of(&mine), [first]);
    assert_eq!(mine.body["alerts"][0]["tags"], json!(["spray"]));
    let entity = detail.body["entities"]
        .as_array()
        .unwrap()
        .first()
        .cloned()
        .expect("the alert names an entity");
    let named = h
        .call(
            Method::GET,
            &format!(
                "/api/v1/alerts?{}={}&limit=500",
                entity["kind"].as_str().unwrap(),
                entity["value"].as_str().unwrap()
            ),
            &auth,
            None,
        )
        .await;
    assert!(ids_of(&named).contains(&first), "{}", named.body);
    assert!(ids_of(&named).len() < expected.len());

    let closed = h
        .call(
            Method::POST,
            &format!("/api/v1/alerts/{first}/close"),
            &auth,
            Some(json!({"resolution": "benign"})),
        )
        .await;
    assert_eq!(closed.body["status"], "closed");
    let before = h.with_store(|s| s.audit_records(0, 100_000)).unwrap().len();
    let bulk = h
        .call(
            Method::POST,
            "/api/v1/alerts/bulk",
            &auth,
            Some(json!({"ids": expected, "action": "close", "resolution": "false_positive"})),
        )
        .await;
    assert_eq!(bulk.status, StatusCode::OK, "{}", bulk.body);
    assert_eq!(
        bulk.body["changed"].as_array().unwrap().len(),
        expected.len() - 1
    );
    assert_eq!(bulk.body["refused"][0]["id"], first);
    assert!(bulk.body["refused"][0]["reason"]
        .as_str()
        .unwrap()
        .contains("closed already"));
    let records = h.with_store(|s| s.audit_records(0, 100_000)).unwrap();
    assert_eq!(records.len(), before + 1, "one record for the bulk action");
    let bulk_record = &records.last().unwrap().record;
    assert_eq!(bulk_record.action, "alert.closed");
    assert_eq!(bulk_record.actor, "ana");
    assert!(bulk_record.source.contains(&format!("key {}", &key[7..15])));
    assert!(
        bulk_record.target.starts_with("alerts "),
        "{}",
        bulk_record.target
    );
    let open = h
        .call(Method::GET, "/api/v1/alerts?status=open", &auth, None)
        .await;
    assert!(open.body["alerts"].as_array().unwrap().is_empty());

    // A case from two alerts, a third merged into it.
    let case = h
        .call(
            Method::POST,
            "/api/v1/cases",
            &auth,
            Some(json!({"alert_ids": [expected[1], expected[2]], "title": "From the API"})),
        )
        .await;
    assert_eq!(case.status, StatusCode::CREATED, "{}", case.body);
    let number = case.body["number"].as_i64().unwrap();
    let merged = h
        .call(
            Method::POST,
            &format!("/api/v1/cases/{number}/alerts"),
            &auth,
            Some(json!({"alert_ids": [expected[3]]})),
        )
        .await;
    assert_eq!(merged.status, StatusCode::OK, "{}", merged.body);
    let shown = h
        .call(Method::GET, &format!("/api/v1/cases/{number}"), &auth, None)
        .await;
    assert_eq!(shown.body["alerts"].as_array().unwrap().len(), 3);
    assert!(!shown.body["tasks"].as_array().unwrap().is_empty());
    // Closing needs its requirements: 409 naming what is missing.
    let refused = h
        .call(
            Method::POST,
            &format!("/api/v1/cases/{number}/close"),
            &auth,
            Some(json!({"resolution": "benign", "root_cause": "", "lessons_learned": ""})),
        )
        .await;
    assert_eq!(refused.status, StatusCode::CONFLICT, "{}", refused.body);
    let verified = h
        .call(Method::GET, "/api/v1/audit/verify", &auth, None)
        .await;
    assert_eq!(verified.body["intact"], true, "{}", verified.body);
    assert!(verified.body["records"].as_u64().unwrap() >= 4);
    let key = h.key.clone();
    assert!(h
        .with_store(|s| s.verify_audit(&key, None))
        .unwrap()
        .broken
        .is_none());
}

#[tokio::test(flavor = "multi_thread")]
async fn triage_through_the_api_on_sqlite() {
    triage(&Harness::sqlite()).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn triage_through_the_api_on_postgres() {
    let Some(url) = blocking(|| secops_testkit::postgres_url("server triage")) else {
        return;
    };
    let schema = format!("server_{}", std::process::id());
    let target = format!("{url}?schema={schema}");
    let h = Harness::on(target, tempfile::tempdir().unwrap(), Settings::default());
    triage(&h).await;
    blocking(|| {
        postgres_client(&url)
            .batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
            .unwrap()
    });
}

fn postgres_client(url: &str) -> postgres::Client {
    postgres::Client::connect(url, postgres::NoTls).unwrap()
}

/// Bodies past the limit, bodies that are not JSON, unknown fields, and bad parameters are refused
/// with a `Problem` naming why; nothing reaches the service.
#[tokio::test(flavor = "multi_thread")]
async fn bad_requests_are_refused_with_a_reason() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("secops.db").display().to_string();
    let h = Harness::on(
        target,
        dir,
        Settings {
            body_limit: Some(4096),
            ..Settings::default()
        },
    );
    let auth = Auth::Key(h.key_for("ana", "admin"));
    let big = h
        .call(
            Method::POST,
            "/api/v1/alerts/bulk",
            &auth,
            Some(json!({"ids": vec![1; 5000], "action": "acknowledge"})),
        )
        .await;
    assert_eq!(big.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", big.body);
    assert_eq!(big.body["error"], "too_large");
    let cases = [
        (
            Method::POST,
            "/api/v1/alerts/bulk",
            json!({"ids": [1], "action": "delete"}),
        ),
        (
            Method::POST,
            "/api/v1/alerts/bulk",
            json!({"ids": [1], "action": "close", "extra": 1}),
        ),
        (
            Method::POST,
            "/api/v1/alerts/bulk",
            json!({"ids": [], "action": "acknowledge"}),
        ),
        (
            Method::POST,
            "/api/v1/alerts/1/close",
            json!({"resolution": ""}),
        ),
        (
            Method::POST,
            "/api/v1/cases/1/state",
            json!({"state": "done"}),
        ),
    ];
    for (m, path, body) in cases {
        let answer = h.call(m, path, &auth, Some(body.clone())).await;
        assert_eq!(
            answer.status,
            StatusCode::BAD_REQUEST,
            "{path} {body}: {}",
            answer.body
        );
        assert_eq!(answer.body["error"], "invalid");
        assert!(!answer.body["message"].as_str().unwrap().is_empty());
    }
    for uri in [
        "/api/v1/alerts?limit=0",
        "/api/v1/alerts?status=gone",
        "/api/v1/alerts?after=xyz",
        "/api/v1/alerts?since=yesterday",
        "/api/v1/alerts/abc",
    ] {
        let answer = h.call(Method::GET, uri, &auth, None).await;
        assert_eq!(
            answer.status,
            StatusCode::BAD_REQUEST,
            "{uri}: {}",
            answer.body
        );
    }
    let missing = h
        .call(Method::GET, "/api/v1/alerts/999999", &auth, None)
        .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
}

/// The document is OpenAPI 3.1, every operation names its security, and every schema is typed: no
/// free-form objects, no open `additionalProperties`.
#[test]
fn the_openapi_document_is_typed_throughout() {
    let doc = secops_server::doc::document();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
    let mut operations = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            operations += 1;
            assert!(op.get("security").is_some(), "{method} {path}");
            for (status, response) in op["responses"].as_object().unwrap() {
                if let Some(content) = response.get("content") {
                    for (kind, media) in content.as_object().unwrap() {
                        if path.ends_with("openapi.json") {
                            continue;
                        }
                        assert!(
                            media.get("schema").is_some(),
                            "{method} {path} {status} {kind}"
                        );
                    }
                }
            }
        }
    }
    assert!(operations >= 30);
    fn walk(at: &str, value: &Value) {
        match value {
            Value::Object(map) => {
                if let Some(extra) = map.get("additionalProperties") {
                    assert_eq!(
                        extra,
                        &Value::Bool(false),
                        "{at}: open additionalProperties"
                    );
                }
                if map.get("type") == Some(&json!("object")) {
                    assert!(
                        map.contains_key("properties"),
                        "{at}: an object without properties"
                    );
                }
                for (k, v) in map {
                    walk(&format!("{at}/{k}"), v);
                }
            }
            Value::Array(items) => items.iter().for_each(|v| walk(at, v)),
            _ => {}
        }
    }
    walk("#/components/schemas", &doc["components"]["schemas"]);
    // Every response schema the API declares is in the components.
    for name in [
        "Alert",
        "AlertPage",
        "AlertDetail",
        "Case",
        "CaseDetail",
        "Problem",
        "BulkResult",
    ] {
        assert!(doc["components"]["schemas"].get(name).is_some(), "{name}");
    }
}

/// A real server on a socket: HTTPS with a certificate made here, the client's address recorded
/// against the key it used, and a graceful stop.
#[test]
fn serves_https_and_records_where_a_key_was_used() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = secops_testkit::tls_certificate(dir.path());
    let h = Harness::sqlite();
    let api_key = h.key_for("ana", "analyst");
    let tls = secops_server::TlsFiles {
        certificate: cert.clone(),
        key,
    };
    let server =
        secops_server::spawn(h.app.clone(), "127.0.0.1:0".parse().unwrap(), Some(tls)).unwrap();
    let bound = server.address;
    let pem = std::fs::read(&cert).unwrap();
    let root = ureq::tls::Certificate::from_pem(&pem).unwrap();
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .tls_config(
            ureq::tls::TlsConfig::builder()
                .root_certs(ureq::tls::RootCerts::Specific(Arc::new(vec![root])))
                .build(),
        )
        .build()
        .into();
    let url = format!("https://localhost:{}/api/v1", bound.port());
    let mut health = agent.get(format!("{url}/health")).call().unwrap();
    assert_eq!(health.status(), 200);
    assert!(health.body_mut().read_to_string().unwrap().contains("ok"));
    let mut page = agent
        .get(format!("{url}/alerts?limit=2"))
        .header("authorization", format!("Bearer {api_key}"))
        .call()
        .unwrap();
    assert_eq!(page.status(), 200);
    let body: Value = serde_json::from_str(&page.body_mut().read_to_string().unwrap()).unwrap();
    assert_eq!(body["alerts"].as_array().unwrap().len(), 2);
    let unsigned = agent.get(format!("{url}/alerts")).call().unwrap();
    assert_eq!(unsigned.status(), 401);
    // Plain HTTP to the TLS port is not served.
    let plain = ureq::get(format!("http://127.0.0.1:{}/api/v1/health", bound.port())).call();
    assert!(plain.is_err());
    let keys = h.store().api_keys().unwrap();
    let used = keys.iter().find(|k| api_key.contains(&k.key_id)).unwrap();
    assert_eq!(used.last_used_from.as_deref(), Some("127.0.0.1"));
    server.stop().unwrap();
}

/// The API fuzzed from its own OpenAPI document by schemathesis (PyPI): no 5xx, no response that
/// breaks the document (status, content type, schema), in a bounded time. Under CI a missing
/// schemathesis fails the test; elsewhere it is skipped with a message.
#[test]
fn schemathesis_finds_no_server_error_and_no_response_outside_the_document() {
    let found = std::process::Command::new("schemathesis")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        assert!(
            !secops_testkit::under_ci(),
            "schemathesis is not installed (.ci/run installs it from PyPI)"
        );
        eprintln!("SKIPPED: schemathesis is not installed (pip install schemathesis)");
        return;
    }
    let h = Harness::sqlite();
    // Owned by no user, so no fuzzed change to a user can stop it.
    let key = h.key_for("schemathesis", "admin");
    let server = secops_server::spawn(h.app.clone(), "127.0.0.1:0".parse().unwrap(), None).unwrap();
    let bound = server.address;
    let reports = tempfile::tempdir().unwrap();
    let out = std::process::Command::new("schemathesis")
        .arg("run")
        .arg(format!("http://{bound}/api/v1/openapi.json"))
        .args(["--header", &format!("Authorization: Bearer {key}")])
        .args([
            "--checks",
            "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance",
        ])
        .args(["--max-examples", "25", "--max-time", "90", "--seed", "20261206"])
        // One worker: hypothesis describing strategies from two threads at once fails inside
        // schemathesis (a tool error, not a finding).
        .args(["--workers", "1", "--no-color", "--generation-database", "none"])
        // The key above is the credential; generated ones would only be refused.
        .args(["--generation-with-security-parameters", "false"])
        // Signing out with the key ends nothing; the fuzz would only repeat that. Revoking keys is
        // left out too: the fuzz finds its own key's id in GET /keys and revokes it (the revocation
        // test covers the route).
        .args(["--exclude-path", "/api/v1/logout"])
        .args(["--exclude-path", "/api/v1/keys/{key_id}"])
        .arg("--report-dir")
        .arg(reports.path())
        // Its caches (.schemathesis/) go to the scratch folder, not the source tree.
        .current_dir(reports.path())
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    server.stop().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "schemathesis found problems:\n{text}");
    // Only generated passwords are refused throughout (signing in, and the password given again
    // to change how one signs in): the key held everywhere. Which of those schemathesis lists
    // depends on whether it also sent bodies that fail earlier, so each listed one is checked.
    let allowed = [
        "POST /api/v1/login",
        "POST /api/v1/me/password",
        "POST /api/v1/me/totp",
        "POST /api/v1/me/totp/reset",
    ];
    if let Some(warning) = text.split("\nAuthentication failed:").nth(1) {
        let listed: Vec<&str> = warning
            .lines()
            .skip(1)
            .skip_while(|l| l.trim().is_empty())
            .take_while(|l| {
                l.trim().is_empty()
                    || l.starts_with("  - ")
                    || l.starts_with("401 ")
                    || l.starts_with("403 ")
            })
            .filter_map(|l| l.strip_prefix("  - "))
            .collect();
        assert!(!listed.is_empty(), "{text}");
        for operation in listed {
            assert!(allowed.contains(&operation.trim()), "{operation}: {text}");
        }
    }
    eprintln!("{text}");
    // Every operation but the two left out was exercised.
    let selected = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("Selected: "))
        .and_then(|s| s.split_once('/'))
        .map(|(a, b)| {
            (
                a.trim().parse::<usize>().unwrap(),
                b.trim().parse::<usize>().unwrap(),
            )
        });
    let (selected, all) = selected.expect("schemathesis names the operations it selected");
    assert_eq!(selected + 2, all, "{text}");
    assert!(all >= 30, "{text}");
    assert!(text.contains(&format!("Tested: {selected}")), "{text}");
}

/// The repository's sample logs as a lake in `dir`.
fn sample_lake(dir: &std::path::Path) -> String {
    let samples = secops_testkit::repo_root().join("samples");
    let (inputs, errors) = secops_ingest::input::expand(&[samples.display().to_string()]);
    assert!(errors.is_empty(), "{errors:?}");
    let lake = dir.join("lake").display().to_string();
    let options = secops_ingest::Options {
        year: Some(2023),
        ..secops_ingest::Options::default()
    };
    secops_service::lake::ingest(
        &inputs,
        &options,
        0,
        &lake,
        &secops_service::NoProgress,
        &secops_service::Cancel::new(),
    )
    .unwrap();
    lake
}

/// The audit records of an action, oldest first.
fn audited(h: &Harness, action: &str) -> Vec<secops_store::NewAudit> {
    h.with_store(|s| s.audit_records(0, 100_000))
        .unwrap()
        .into_iter()
        .map(|r| r.record)
        .filter(|r| r.action == action)
        .collect()
}

/// Hunts through the API: rows from the lake as the CLI gives them, limits kept (rows, files on the
/// server's disk refused), every query audited with its outcome (refused ones too); saved hunts
/// kept, replaced and deleted, each change audited.
#[tokio::test(flavor = "multi_thread")]
async fn hunts_run_over_the_lake_within_limits_and_every_query_is_audited() {
    let scratch = tempfile::tempdir().unwrap();
    let lake = blocking(|| sample_lake(scratch.path()));
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("secops.db").display().to_string();
    let h = Harness::on(
        target,
        dir,
        Settings {
            lake: Some(lake.clone()),
            ..Settings::default()
        },
    );
    let hunter = Auth::Key(h.key_for("ana", "analyst"));
    let query = "FROM logs-* | WHERE event.outcome == \"failure\" AND source.ip IS NOT NULL \
                 | STATS attempts = COUNT(*) BY source.ip | SORT attempts DESC, source.ip";
    let run = h
        .call(
            Method::POST,
            "/api/v1/hunts/run",
            &hunter,
            Some(json!({"query": query})),
        )
        .await;
    assert_eq!(run.status, StatusCode::OK, "{}", run.body);
    assert_eq!(run.body["columns"], json!(["attempts", "source.ip"]));
    let rows = run.body["rows"].as_array().unwrap();
    assert!(!rows.is_empty());
    assert_eq!(run.body["capped"], false);
    // The same rows as the service gives the command line.
    let mut out = Vec::new();
    let options = secops_service::hunt::HuntOptions {
        now: Some(h.clock.now()),
        ..Default::default()
    };
    blocking(|| {
        secops_service::hunt::run(
            query,
            Some(&lake),
            &options,
            secops_service::hunt::Output::Jsonl,
            &mut out,
        )
        .unwrap()
    });
    let expected: Vec<Value> = String::from_utf8(out)
        .unwrap()
        .lines()
        .map(|l| {
            let row: Value = serde_json::from_str(l).unwrap();
            json!([row["attempts"].to_string(), row["source.ip"]])
        })
        .collect();
    assert_eq!(rows, &expected);
    // At most max_rows, and it says there were more.
    let capped = h
        .call(
            Method::POST,
            "/api/v1/hunts/run",
            &hunter,
            Some(json!({"query": "FROM logs-* | KEEP @timestamp", "max_rows": 2})),
        )
        .await;
    assert_eq!(capped.status, StatusCode::OK, "{}", capped.body);
    assert_eq!(capped.body["rows"].as_array().unwrap().len(), 2);
    assert_eq!(capped.body["capped"], true);
    // Files on the server's disk are not a hunt's to read; a query that does not parse says where.
    let files = h
        .call(
            Method::POST,
            "/api/v1/hunts/run",
            &hunter,
            Some(json!({"query": "FROM \"/etc/passwd\" | LIMIT 1"})),
        )
        .await;
    assert_eq!(files.status, StatusCode::BAD_REQUEST, "{}", files.body);
    assert!(files.body["message"]
        .as_str()
        .unwrap()
        .contains("reads files"));
    let broken = h
        .call(
            Method::POST,
            "/api/v1/hunts/run",
            &hunter,
            Some(json!({"query": "FROM logs-* | WHERE"})),
        )
        .await;
    assert_eq!(broken.status, StatusCode::BAD_REQUEST, "{}", broken.body);
    let too_many = h
        .call(
            Method::POST,
            "/api/v1/hunts/run",
            &hunter,
            Some(json!({"query": query, "max_rows": 10001})),
        )
        .await;
    assert_eq!(too_many.status, StatusCode::BAD_REQUEST);
    // As many hunts as the server allows are running (both slots held here): one more is refused,
    // not queued.
    let held = h
        .state
        .hunt_slots
        .clone()
        .try_acquire_many_owned(2)
        .unwrap();
    let busy = h
        .call(
            Method::POST,
            "/api/v1/hunts/run",
            &hunter,
            Some(json!({"query": query})),
        )
        .await;
    assert_eq!(busy.status, StatusCode::TOO_MANY_REQUESTS, "{}", busy.body);
    assert_eq!(busy.body["error"], "busy");
    drop(held);
    // A hunt's time: what it asks, at most the server's limit, kept under the request's.
    let limits = &h.state.settings;
    let secs = std::time::Duration::from_secs;
    assert_eq!(limits.hunt_limit(None), secs(25));
    assert_eq!(limits.hunt_limit(Some(secs(5))), secs(5));
    assert_eq!(limits.hunt_limit(Some(secs(600))), secs(25));
    let mut tight = (**limits).clone();
    tight.request_timeout = secs(10);
    assert_eq!(tight.hunt_limit(None), secs(9));
    // Every query is in the audit log as the caller, with how it ended.
    let records = audited(&h, "hunt.run");
    assert_eq!(records.len(), 6, "{records:#?}");
    assert!(records.iter().all(|r| r.actor == "ana"));
    let outcomes: Vec<&str> = records.iter().map(|r| r.outcome.as_str()).collect();
    assert_eq!(
        outcomes,
        ["success", "success", "failure", "failure", "failure", "failure"]
    );
    let first: Value = serde_json::from_str(records[0].after.as_deref().unwrap()).unwrap();
    assert_eq!(first["query"], query);
    assert_eq!(first["rows"], rows.len());
    let refused: Value = serde_json::from_str(records[2].after.as_deref().unwrap()).unwrap();
    assert!(refused["error"].as_str().unwrap().contains("/etc/passwd"));
    // Saved hunts: kept, replaced under the same name, listed, deleted; running them needs only
    // hunts:run, saving needs hunts:save.
    let saver = Auth::Key(h.key_for("ana", "engineer"));
    let save =
        |name: &str, query: &str| json!({"name": name, "query": query, "description": "ssh"});
    let saved = h
        .call(
            Method::POST,
            "/api/v1/hunts/saved",
            &saver,
            Some(save("failures", query)),
        )
        .await;
    assert_eq!(saved.status, StatusCode::OK, "{}", saved.body);
    let id = saved.body["id"].as_i64().unwrap();
    let replaced = h
        .call(
            Method::POST,
            "/api/v1/hunts/saved",
            &saver,
            Some(save("failures", "FROM logs-* | LIMIT 5")),
        )
        .await;
    assert_eq!(replaced.body["id"], id);
    let unparsed = h
        .call(
            Method::POST,
            "/api/v1/hunts/saved",
            &saver,
            Some(save("bad", "FROM |")),
        )
        .await;
    assert_eq!(unparsed.status, StatusCode::BAD_REQUEST);
    let list = h
        .call(Method::GET, "/api/v1/hunts/saved", &hunter, None)
        .await;
    assert_eq!(list.body["hunts"].as_array().unwrap().len(), 1);
    assert_eq!(list.body["hunts"][0]["query"], "FROM logs-* | LIMIT 5");
    let path = format!("/api/v1/hunts/saved/{id}");
    assert_eq!(
        h.call(Method::DELETE, &path, &hunter, None).await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        h.call(Method::DELETE, &path, &saver, None).await.status,
        StatusCode::OK
    );
    assert_eq!(
        h.call(Method::DELETE, &path, &saver, None).await.status,
        StatusCode::NOT_FOUND
    );
    let kinds: Vec<String> = h
        .with_store(|s| s.audit_records(0, 100_000))
        .unwrap()
        .into_iter()
        .map(|r| r.record.action)
        .filter(|a| a.starts_with("saved_hunt"))
        .collect();
    assert_eq!(
        kinds,
        [
            "saved_hunt.saved",
            "saved_hunt.replaced",
            "saved_hunt.deleted"
        ]
    );
    // Without a lake the server says so.
    let bare = Harness::sqlite();
    let none = bare
        .call(
            Method::POST,
            "/api/v1/hunts/run",
            &Auth::Key(bare.key_for("ana", "analyst")),
            Some(json!({"query": query})),
        )
        .await;
    assert_eq!(none.status, StatusCode::CONFLICT, "{}", none.body);
}

/// Rules, their tests and their ATT&CK coverage; intelligence imported, searched and counted;
/// entities' risk and the alerts naming them; alert volume per rule over time.
#[tokio::test(flavor = "multi_thread")]
async fn rules_intel_entities_and_volume_through_the_api() {
    let attack = secops_testkit::shared("corpus/attack");
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("secops.db").display().to_string();
    let h = Harness::on(
        target,
        dir,
        Settings {
            attack: attack.clone(),
            ..Settings::default()
        },
    );
    let reader = Auth::Key(h.key_for("ana", "analyst"));
    // The rules: the bundled pack, every rule loaded.
    let rules = h.call(Method::GET, "/api/v1/rules", &reader, None).await;
    assert_eq!(rules.status, StatusCode::OK, "{}", rules.body);
    let loaded = blocking(|| {
        secops_service::ruleset::load(&secops_service::ruleset::RuleSelection::default()).unwrap()
    });
    let listed = rules.body["rules"].as_array().unwrap();
    assert_eq!(listed.len(), loaded.rule_count());
    assert_eq!(rules.body["rejected"], json!([]));
    let brute = listed
        .iter()
        .find(|r| {
            r["techniques"]
                .as_array()
                .unwrap()
                .iter()
                .any(|t| t == "T1110")
        })
        .expect("a rule mapped to T1110 (brute force)");
    assert!(brute["tests"].as_u64().unwrap() > 0);
    // Their tests pass.
    let tests = h
        .call(Method::GET, "/api/v1/rules/tests", &reader, None)
        .await;
    assert_eq!(tests.status, StatusCode::OK, "{}", tests.body);
    assert!(tests.body["passed"].as_u64().unwrap() > 0, "{}", tests.body);
    assert_eq!(tests.body["failed"], 0, "{}", tests.body);
    // With ../shared beside the repository, no test lacks its data.
    if secops_testkit::shared("corpus").is_some() {
        assert_eq!(tests.body["skipped"], 0, "{}", tests.body);
    }
    let cases = tests.body["cases"].as_array().unwrap();
    assert_eq!(
        cases.len() as u64,
        tests.body["passed"].as_u64().unwrap()
            + tests.body["failed"].as_u64().unwrap()
            + tests.body["skipped"].as_u64().unwrap()
    );
    // The coverage layer: the Navigator's format, brute force scored by the rules that map it.
    let layer = h
        .call(Method::GET, "/api/v1/rules/coverage", &reader, None)
        .await;
    match attack {
        Some(_) => {
            assert_eq!(layer.status, StatusCode::OK, "{}", layer.body);
            assert_eq!(layer.body["domain"], "enterprise-attack");
            assert_eq!(layer.body["versions"]["layer"], "4.5");
            let mapping = listed
                .iter()
                .filter(|r| {
                    r["techniques"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .any(|t| t == "T1110")
                })
                .count() as u64;
            let scored = layer.body["techniques"]
                .as_array()
                .unwrap()
                .iter()
                .find(|t| t["techniqueID"] == "T1110" && t["tactic"] == "credential-access")
                .expect("T1110 in the layer");
            assert_eq!(scored["score"].as_u64().unwrap(), mapping);
        }
        None => assert_eq!(layer.status, StatusCode::CONFLICT, "{}", layer.body),
    }
    // Intelligence: a list imported (a line that is no indicator rejected with its place), found
    // by search, counted; imported again, refreshed rather than doubled.
    let intel = Auth::Key(h.key_for("ana", "engineer"));
    let text = "203.0.113.77\nevil.example\nnot an indicator at all\n\
                44d88612fea8a8f36de82e1278abb02f\n";
    let body = json!({"source": "analyst list", "format": "list", "text": text});
    let imported = h
        .call(
            Method::POST,
            "/api/v1/intel/import",
            &intel,
            Some(body.clone()),
        )
        .await;
    assert_eq!(imported.status, StatusCode::OK, "{}", imported.body);
    assert_eq!(imported.body["added"], 3, "{}", imported.body);
    assert_eq!(imported.body["rejected_count"], 1, "{}", imported.body);
    assert!(imported.body["rejected"][0]["location"]
        .as_str()
        .unwrap()
        .contains('3'));
    let again = h
        .call(Method::POST, "/api/v1/intel/import", &intel, Some(body))
        .await;
    assert_eq!(again.body["added"], 0);
    assert_eq!(again.body["updated"], 3);
    let found = h
        .call(
            Method::GET,
            "/api/v1/intel/indicators?search=EVIL",
            &reader,
            None,
        )
        .await;
    assert_eq!(found.status, StatusCode::OK, "{}", found.body);
    let hits = found.body["indicators"].as_array().unwrap();
    assert_eq!(hits.len(), 1);
    assert_eq!(hits[0]["kind"], "domain");
    assert_eq!(hits[0]["state"], "active");
    let ips = h
        .call(
            Method::GET,
            "/api/v1/intel/indicators?kind=ip",
            &reader,
            None,
        )
        .await;
    assert!(ips.body["indicators"]
        .as_array()
        .unwrap()
        .iter()
        .any(|i| i["value"] == "203.0.113.77"));
    let bad_kind = h
        .call(
            Method::GET,
            "/api/v1/intel/indicators?kind=planet",
            &reader,
            None,
        )
        .await;
    assert_eq!(bad_kind.status, StatusCode::BAD_REQUEST);
    let stats = h
        .call(Method::GET, "/api/v1/intel/stats", &reader, None)
        .await;
    let in_store = h
        .with_store(|s| s.indicators(&Default::default()))
        .unwrap()
        .len() as i64;
    assert_eq!(stats.body["total"], in_store);
    assert!(stats.body["active"].as_i64().unwrap() >= 3);
    // The import is one audited change, as the caller.
    let stored = audited(&h, "indicators.stored");
    assert_eq!(stored.len(), 2);
    assert_eq!(stored[0].actor, "ana");
    // Entities: a host the alerts name, with those alerts.
    let host = h
        .with_store(|s| {
            s.alerts(&Default::default())
                .unwrap()
                .into_iter()
                .find_map(|a| {
                    s.alert_entities(a.id)
                        .unwrap()
                        .into_iter()
                        .find(|(k, _)| k == "host")
                })
        })
        .expect("an alert naming a host")
        .1;
    let entity = h
        .call(
            Method::GET,
            &format!("/api/v1/entities/host/{host}"),
            &reader,
            None,
        )
        .await;
    assert_eq!(entity.status, StatusCode::OK, "{}", entity.body);
    let naming = entity.body["alerts"].as_array().unwrap();
    assert!(!naming.is_empty());
    for a in naming {
        let id = a["id"].as_i64().unwrap();
        let entities = h.with_store(|s| s.alert_entities(id)).unwrap();
        assert!(entities.contains(&("host".to_string(), host.clone())));
    }
    // Risk: contributions recorded for two hosts rank them by decayed points.
    let at = h.clock.now().unix_nanos();
    let contribution =
        |entity: &str, alert: &str, points: f64, hours_ago: i64| secops_store::RiskContribution {
            kind: "host".into(),
            entity: entity.into(),
            alert_id: alert.into(),
            rule: "rule-a".into(),
            points,
            at: at - hours_ago * 60 * MINUTE,
            tactics: vec![],
            sources: vec![],
        };
    h.with_store(|s| {
        s.record_risk(&[
            contribution("web-1", "a1", 40.0, 48),
            contribution("web-1", "a2", 40.0, 48),
            contribution("db-1", "a3", 50.0, 1),
        ])
    })
    .unwrap();
    let leaders = h
        .call(Method::GET, "/api/v1/risk?kind=host", &reader, None)
        .await;
    assert_eq!(leaders.status, StatusCode::OK, "{}", leaders.body);
    let names: Vec<&str> = leaders.body["entities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["entity"].as_str().unwrap())
        .collect();
    // 80 points two half-lives ago are 20 now; 50 an hour ago are more.
    assert_eq!(names, ["db-1", "web-1"]);
    let web = &leaders.body["entities"][1];
    assert!(
        (web["score"].as_f64().unwrap() - 20.0).abs() < 0.01,
        "{web}"
    );
    assert_eq!(web["alerts"], 2);
    let detail = h
        .call(Method::GET, "/api/v1/entities/host/web-1", &reader, None)
        .await;
    assert_eq!(detail.body["risk"]["rules"][0]["rule"], "rule-a");
    // Alert volume: every alert counted once, per rule and period, over the span of them all.
    let all = h.with_store(|s| s.alerts(&Default::default())).unwrap();
    let start = all.iter().map(|a| a.first_seen).min().unwrap();
    let end = all.iter().map(|a| a.first_seen).max().unwrap() + 1;
    let volume = h
        .call(
            Method::GET,
            &format!(
                "/api/v1/alerts/volume?since={}&until={}&period=30d&top=3",
                Timestamp::from_unix_nanos(start).to_rfc3339(),
                Timestamp::from_unix_nanos(end).to_rfc3339()
            ),
            &reader,
            None,
        )
        .await;
    assert_eq!(volume.status, StatusCode::OK, "{}", volume.body);
    let in_span = all.len() as i64;
    let counted: i64 = volume.body["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["total"].as_i64().unwrap())
        .sum::<i64>()
        + volume.body["others"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n.as_i64().unwrap())
            .sum::<i64>();
    assert_eq!(counted, in_span);
    assert!(volume.body["rules"].as_array().unwrap().len() <= 3);
    let periods = volume.body["periods"].as_array().unwrap().len();
    assert!(volume.body["rules"]
        .as_array()
        .unwrap()
        .iter()
        .all(|r| r["counts"].as_array().unwrap().len() == periods));
    // Groups: by rule, every alert once; by rule and host, the biggest first; a field that is not
    // one refused.
    let by_rule = h
        .call(
            Method::GET,
            "/api/v1/alerts/groups?by=rule&limit=500",
            &reader,
            None,
        )
        .await;
    assert_eq!(by_rule.status, StatusCode::OK, "{}", by_rule.body);
    let groups = by_rule.body["groups"].as_array().unwrap();
    let grouped: i64 = groups.iter().map(|g| g["alerts"].as_i64().unwrap()).sum();
    assert_eq!(grouped, all.len() as i64);
    for pair in groups.windows(2) {
        assert!(pair[0]["alerts"].as_i64() >= pair[1]["alerts"].as_i64());
    }
    let by_two = h
        .call(
            Method::GET,
            "/api/v1/alerts/groups?by=rule,host&status=open&limit=2",
            &reader,
            None,
        )
        .await;
    assert_eq!(by_two.status, StatusCode::OK, "{}", by_two.body);
    assert_eq!(by_two.body["by"], json!(["rule", "host"]));
    assert!(by_two.body["groups"].as_array().unwrap().len() <= 2);
    assert!(by_two.body["groups"]
        .as_array()
        .unwrap()
        .iter()
        .all(|g| g["values"].as_array().unwrap().len() == 2));
    let unknown = h
        .call(
            Method::GET,
            "/api/v1/alerts/groups?by=planet",
            &reader,
            None,
        )
        .await;
    assert_eq!(unknown.status, StatusCode::BAD_REQUEST);
    let too_fine = h
        .call(
            Method::GET,
            "/api/v1/alerts/volume?since=2020-01-01T00:00:00Z&until=2024-01-01T00:00:00Z&period=1m",
            &reader,
            None,
        )
        .await;
    assert_eq!(too_fine.status, StatusCode::BAD_REQUEST);
}

/// A user changes their own password with the current one: a wrong one is refused (and counts as a
/// failed sign-in), the right one ends every session of theirs, and the new password signs in.
#[tokio::test(flavor = "multi_thread")]
async fn users_change_their_own_password_and_their_sessions_end() {
    let h = Harness::sqlite();
    let (secret, csrf) = h.login("ana").await;
    let cookie = || Auth::Cookie {
        secret: secret.clone(),
        csrf: Some(csrf.clone()),
    };
    let new = "a much longer passphrase now";
    let wrong = h
        .call(
            Method::POST,
            "/api/v1/me/password",
            &cookie(),
            Some(json!({"current_password": "not it at all", "new_password": new})),
        )
        .await;
    assert_eq!(wrong.status, StatusCode::FORBIDDEN, "{}", wrong.body);
    let user = h.with_store(|s| s.user("ana")).unwrap().unwrap();
    assert_eq!(user.failed_logins, 1);
    let short = h
        .call(
            Method::POST,
            "/api/v1/me/password",
            &cookie(),
            Some(json!({"current_password": PASSWORD, "new_password": "short"})),
        )
        .await;
    assert_eq!(short.status, StatusCode::BAD_REQUEST, "{}", short.body);
    let changed = h
        .call(
            Method::POST,
            "/api/v1/me/password",
            &cookie(),
            Some(json!({"current_password": PASSWORD, "new_password": new})),
        )
        .await;
    assert_eq!(changed.status, StatusCode::OK, "{}", changed.body);
    let after = h.call(Method::GET, "/api/v1/me", &cookie(), None).await;
    assert_eq!(after.status, StatusCode::UNAUTHORIZED);
    let old = h
        .call(
            Method::POST,
            "/api/v1/login",
            &Auth::None,
            Some(json!({"user": "ana", "password": PASSWORD})),
        )
        .await;
    assert_eq!(old.status, StatusCode::UNAUTHORIZED);
    let fresh = h
        .call(
            Method::POST,
            "/api/v1/login",
            &Auth::None,
            Some(json!({"user": "ana", "password": new})),
        )
        .await;
    assert_eq!(fresh.status, StatusCode::OK, "{}", fresh.body);
    assert_eq!(audited(&h, "user.password").len(), 1);
}

/// One-time passwords through the API: set up with the password again, confirmed with a code; then
/// signing in asks for a code (`totp_required`) and takes one once; an administrator turns it off.
#[tokio::test(flavor = "multi_thread")]
async fn sign_in_with_a_one_time_password() {
    let h = Harness::sqlite();
    let (secret, csrf) = h.login("ana").await;
    let cookie = Auth::Cookie {
        secret,
        csrf: Some(csrf),
    };
    let wrong = h
        .call(
            Method::POST,
            "/api/v1/me/totp",
            &cookie,
            Some(json!({"password": "not the password"})),
        )
        .await;
    assert_eq!(wrong.status, StatusCode::FORBIDDEN, "{}", wrong.body);
    let begun = h
        .call(
            Method::POST,
            "/api/v1/me/totp",
            &cookie,
            Some(json!({"password": PASSWORD})),
        )
        .await;
    assert_eq!(begun.status, StatusCode::OK, "{}", begun.body);
    assert!(begun.body["uri"]
        .as_str()
        .unwrap()
        .starts_with("otpauth://totp/secops:ana?secret="));
    let totp =
        secops_auth::TotpSecret::from_base32(begun.body["secret"].as_str().unwrap()).unwrap();
    let code = || totp.code_at(h.clock.now().unix_nanos() / 1_000_000_000);
    let confirmed = h
        .call(
            Method::POST,
            "/api/v1/me/totp/confirm",
            &cookie,
            Some(json!({"code": code()})),
        )
        .await;
    assert_eq!(confirmed.status, StatusCode::OK, "{}", confirmed.body);
    assert_eq!(confirmed.body["totp"], "on");
    h.clock.advance(MINUTE);
    let sign_in = |totp: Option<String>| {
        let mut body = json!({"user": "ana", "password": PASSWORD});
        if let Some(code) = totp {
            body["totp"] = json!(code);
        }
        h.call(Method::POST, "/api/v1/login", &Auth::None, Some(body))
    };
    let asked = sign_in(None).await;
    assert_eq!(asked.status, StatusCode::UNAUTHORIZED);
    assert_eq!(asked.body["error"], "totp_required");
    assert_eq!(sign_in(Some(code())).await.status, StatusCode::OK);
    // The same code again is refused.
    let again = sign_in(Some(code())).await;
    assert_eq!(again.status, StatusCode::UNAUTHORIZED);
    assert_eq!(again.body["error"], "unauthenticated");
    // An administrator turns it off; the password alone signs in again.
    let admin = Auth::Key(h.key_for("root", "admin"));
    let users = h.call(Method::GET, "/api/v1/users", &admin, None).await;
    let ana = users.body["users"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["name"] == "ana")
        .unwrap()
        .clone();
    assert_eq!(ana["totp"], "on");
    let reset = h
        .call(
            Method::PATCH,
            "/api/v1/users/ana",
            &admin,
            Some(json!({"reset_totp": true})),
        )
        .await;
    assert_eq!(reset.status, StatusCode::OK, "{}", reset.body);
    assert_eq!(reset.body["totp"], "off");
    assert_eq!(sign_in(None).await.status, StatusCode::OK);
    assert!(!audited(&h, "user.totp").is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vulnerability_findings_through_the_api() {
    let Some(corpus) = secops_testkit::shared("corpus/vuln") else {
        return;
    };
    let h = Harness::sqlite();
    let files = vec![
        corpus.join("nessus/dd-nessus_with_cvssv3.nessus"),
        corpus.join("trivy/alpine-310.json"),
    ];
    blocking(|| {
        h.with_store(|store| {
            secops_service::vulns::import(
                store,
                &secops_service::vulns::ImportOptions {
                    files,
                    ..Default::default()
                },
                &secops_service::Actor::user("importer"),
                &secops_service::SystemClock,
                &secops_service::NoProgress,
            )
            .unwrap()
        })
    });
    let viewer = Auth::Key(h.key_for("vic", "viewer"));
    let responder = Auth::Key(h.key_for("rita", "responder"));
    // The queue: open findings, highest risk first; filtered by severity and tool.
    let queue = h
        .call(Method::GET, "/api/v1/vulns?limit=5", &viewer, None)
        .await;
    assert_eq!(queue.status, StatusCode::OK, "{}", queue.body);
    let rows = queue.body["findings"].as_array().unwrap();
    assert_eq!(rows.len(), 5);
    let risks: Vec<f64> = rows.iter().map(|r| r["risk"].as_f64().unwrap()).collect();
    assert!(risks.windows(2).all(|w| w[0] >= w[1]), "{risks:?}");
    let trivy = h
        .call(
            Method::GET,
            "/api/v1/vulns?tool=trivy&severity=medium,low",
            &viewer,
            None,
        )
        .await;
    let trivy = trivy.body["findings"].as_array().unwrap();
    assert!(!trivy.is_empty());
    assert!(trivy.iter().all(|f| f["tools"][0] == "trivy"));
    // Every finding a page at a time by id: as many as the store holds.
    let mut seen = 0;
    let mut after: Option<i64> = None;
    loop {
        let path = match after {
            Some(a) => format!("/api/v1/vulns?status=all&sort=id&limit=7&after={a}"),
            None => "/api/v1/vulns?status=all&sort=id&limit=7".to_string(),
        };
        let page = h.call(Method::GET, &path, &viewer, None).await;
        seen += page.body["findings"].as_array().unwrap().len();
        match page.body["next"].as_i64() {
            Some(n) => after = Some(n),
            None => break,
        }
    }
    let stored = h.with_store(|s| s.vuln_findings(&Default::default()).unwrap().len());
    assert_eq!(seen, stored);
    // One finding with its inputs and history.
    let id = rows[0]["id"].as_i64().unwrap();
    let one = h
        .call(Method::GET, &format!("/api/v1/vulns/{id}"), &viewer, None)
        .await;
    assert_eq!(one.status, StatusCode::OK, "{}", one.body);
    assert_eq!(one.body["history"][0]["kind"], "created");
    assert_eq!(one.body["detections"][0]["present"], true);
    assert!(one.body["priority"]["severity_factor"].as_f64().unwrap() > 0.0);
    let missing = h
        .call(Method::GET, "/api/v1/vulns/999999", &viewer, None)
        .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    // Accepting needs vulns:accept: a viewer is refused, a responder accepts; the finding leaves
    // the open queue; a second acceptance of it is refused for that finding only.
    let until = "2099-01-01T00:00:00Z";
    let body =
        json!({"ids": [id, 999999], "owner": "web team", "reason": "WAF rule", "until": until});
    let refused = h
        .call(
            Method::POST,
            "/api/v1/vulns/accept",
            &viewer,
            Some(body.clone()),
        )
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    let accepted = h
        .call(Method::POST, "/api/v1/vulns/accept", &responder, Some(body))
        .await;
    assert_eq!(accepted.status, StatusCode::OK, "{}", accepted.body);
    assert_eq!(accepted.body["changed"], 1);
    assert_eq!(accepted.body["results"][0]["status"], "accepted");
    assert_eq!(accepted.body["results"][1]["done"], false);
    let open = h
        .call(
            Method::GET,
            "/api/v1/vulns?status=open&limit=500",
            &viewer,
            None,
        )
        .await;
    assert!(open.body["findings"]
        .as_array()
        .unwrap()
        .iter()
        .all(|f| f["id"] != id));
    let past = json!({"ids": [id], "owner": "x", "reason": "y", "until": "2001-01-01T00:00:00Z"});
    let bad = h
        .call(Method::POST, "/api/v1/vulns/accept", &responder, Some(past))
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    // Closing in bulk as false positives; the SLA standing counts what is left.
    let second = rows[1]["id"].as_i64().unwrap();
    let closed = h
        .call(
            Method::POST,
            "/api/v1/vulns/close",
            &responder,
            Some(json!({"ids": [second], "resolution": "false_positive", "note": "lab host"})),
        )
        .await;
    assert_eq!(
        closed.body["results"][0]["status"], "false_positive",
        "{}",
        closed.body
    );
    let sla = h
        .call(Method::GET, "/api/v1/vulns/sla", &viewer, None)
        .await;
    assert_eq!(sla.status, StatusCode::OK, "{}", sla.body);
    let open_now = h.with_store(|s| {
        s.vuln_findings(&secops_store::FindingFilter {
            statuses: vec!["open".into()],
            ..Default::default()
        })
        .unwrap()
        .len() as u64
    });
    assert_eq!(sla.body["open"].as_u64().unwrap(), open_now);
    // Per owner: imported without an inventory, every open finding is nobody's yet.
    let owners = sla.body["owners"].as_array().unwrap();
    assert_eq!(owners.len(), 1, "{}", sla.body);
    assert_eq!(owners[0]["owner"], "(no owner in the inventory)");
    assert_eq!(owners[0]["open"].as_u64().unwrap(), open_now);
    // Both changes are audited as the responder.
    let accepts = audited(&h, "finding.accepted");
    assert_eq!(accepts.len(), 1);
    assert_eq!(accepts[0].actor, "rita");
}

/// Response automation through the API: a request by hand waits for approval; its requester
/// cannot approve it, nor can an API key; another signed-in responder can; the run's record holds
/// the exact request; an alert's responses explain it; a guard's refusal is named; a replay counts.
#[tokio::test(flavor = "multi_thread")]
async fn responses_are_requested_approved_by_another_person_and_explained() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("respond.toml");
    std::fs::write(
        &config,
        r#"
[[connector]]
name = "helpdesk"
kind = "command"
program = "/usr/bin/python3"
args = ["-c", "import sys; print(sys.argv[1:])"]

[[action]]
id = "disable-account"
target = "user"
connector = "helpdesk"
approval = "always"
params = { args = ["{{ target }}", "{{ alert.rule.name }}"] }

[[action]]
id = "block-source"
target = "ip"
connector = "helpdesk"
params = { args = ["block", "{{ target }}"] }

[[workflow]]
id = "block-everything"
on = "alert"
steps = [{ action = "block-source" }]
"#,
    )
    .unwrap();
    let h = Harness::on(
        dir.path().join("secops.db").display().to_string(),
        dir,
        Settings {
            respond: Some(secops_service::respond::ResponderSources {
                config,
                ..Default::default()
            }),
            ..Settings::default()
        },
    );
    let now = h.clock.now().unix_nanos();
    h.with_store(|store| {
        users::add_user(store, &h.roles, "rita", "responder", PASSWORD, now, None).unwrap()
    });
    let (root_secret, root_csrf) = h.login("root").await;
    let root = Auth::Cookie {
        secret: root_secret,
        csrf: Some(root_csrf),
    };
    let (rita_secret, rita_csrf) = h.login("rita").await;
    let rita = Auth::Cookie {
        secret: rita_secret,
        csrf: Some(rita_csrf),
    };
    let asked = h
        .call(
            Method::POST,
            "/api/v1/responses",
            &root,
            Some(json!({"action": "disable-account", "target": "svc-backup", "alert": 1})),
        )
        .await;
    assert_eq!(asked.status, StatusCode::OK, "{}", asked.body);
    assert_eq!(asked.body["outcome"], "awaiting_approval");
    let run = asked.body["run"]["id"].as_i64().unwrap();
    assert_eq!(asked.body["run"]["requested_by"], "root");
    let approve = format!("/api/v1/responses/{run}/approve");
    let own = h
        .call(Method::POST, &approve, &root, Some(json!({"note": "mine"})))
        .await;
    assert_eq!(own.status, StatusCode::BAD_REQUEST, "{}", own.body);
    assert!(own.body["message"]
        .as_str()
        .unwrap()
        .contains("cannot approve"));
    let key = Auth::Key(h.key_for("rita", "responder"));
    let by_key = h.call(Method::POST, &approve, &key, Some(json!({}))).await;
    assert_eq!(by_key.status, StatusCode::BAD_REQUEST, "{}", by_key.body);
    let viewer = Auth::Key(h.key_for("vic", "viewer"));
    let forbidden = h
        .call(Method::POST, &approve, &viewer, Some(json!({})))
        .await;
    assert_eq!(forbidden.status, StatusCode::FORBIDDEN);
    let approved = h
        .call(
            Method::POST,
            &approve,
            &rita,
            Some(json!({"note": "owner confirmed"})),
        )
        .await;
    assert_eq!(approved.status, StatusCode::OK, "{}", approved.body);
    assert_eq!(
        (
            approved.body["state"].as_str(),
            approved.body["decided_by"].as_str()
        ),
        (Some("approved"), Some("rita"))
    );
    // Approved once: a second decision is refused.
    let again = h
        .call(
            Method::POST,
            &format!("/api/v1/responses/{run}/reject"),
            &rita,
            Some(json!({})),
        )
        .await;
    assert_eq!(again.status, StatusCode::BAD_REQUEST);

    // `secops run` carries it out; the record holds what was sent.
    let responder = h.state.responder.clone().unwrap();
    blocking(|| {
        h.with_store(|store| {
            secops_service::respond::tick(
                store,
                &responder,
                secops_service::respond::Recover::Stale,
                &secops_service::Actor::service("secops-run"),
                h.clock.as_ref(),
                &secops_service::Cancel::new(),
            )
            .unwrap()
        })
    });
    let shown = h
        .call(
            Method::GET,
            &format!("/api/v1/responses/{run}"),
            &viewer,
            None,
        )
        .await;
    assert_eq!(shown.body["state"], "succeeded", "{}", shown.body);
    let argv = &shown.body["request"]["invocations"][0]["argv"];
    assert_eq!(argv[2], "--");
    assert_eq!(argv[3], "svc-backup");
    let why = h
        .call(Method::GET, "/api/v1/alerts/1/responses", &viewer, None)
        .await;
    assert_eq!(
        why.body["evaluations"][0]["outcome"], "awaiting_approval",
        "{}",
        why.body
    );
    assert_eq!(why.body["runs"][0]["id"], run);

    // A guard's refusal names the guard; nothing is recorded to run.
    let private = h
        .call(
            Method::POST,
            "/api/v1/responses",
            &rita,
            Some(json!({"action": "block-source", "target": "192.168.1.20"})),
        )
        .await;
    assert_eq!(private.body["outcome"], "stopped", "{}", private.body);
    assert_eq!(private.body["guard"], "special range");
    assert!(private.body["run"].is_null());
    let bad = h
        .call(
            Method::POST,
            "/api/v1/responses",
            &rita,
            Some(json!({"action": "block-source", "target": "1.2.3.4; rm -rf /"})),
        )
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST, "{}", bad.body);

    let listed = h
        .call(
            Method::GET,
            "/api/v1/responses?state=succeeded",
            &viewer,
            None,
        )
        .await;
    assert_eq!(
        listed.body["runs"].as_array().unwrap().len(),
        1,
        "{}",
        listed.body
    );
    let sim = h
        .call(
            Method::POST,
            "/api/v1/responses/simulate",
            &rita,
            Some(json!({"since": "100000d"})),
        )
        .await;
    assert_eq!(sim.status, StatusCode::OK, "{}", sim.body);
    assert_eq!(sim.body["actions"][0]["action"], "block-source");
    assert!(sim.body["alerts_read"].as_u64().unwrap() > 0);
}
