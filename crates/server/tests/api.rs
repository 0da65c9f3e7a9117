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
        let app = secops_server::app(settings, clock.clone()).unwrap();
        Harness {
            app,
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
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    let made = std::process::Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
        ])
        .args(["-nodes", "-days", "1", "-subj", "/CN=localhost"])
        .args(["-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"])
        .args(["-addext", "basicConstraints=critical,CA:FALSE"])
        .args(["-addext", "extendedKeyUsage=serverAuth"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .unwrap();
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    let h = Harness::sqlite();
    let api_key = h.key_for("ana", "analyst");
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let (bound_tx, bound_rx) = std::sync::mpsc::channel();
    let tls = secops_server::TlsFiles {
        certificate: cert.clone(),
        key,
    };
    let app = h.app.clone();
    let server = runtime.spawn(async move {
        secops_server::serve(
            app,
            "127.0.0.1:0".parse().unwrap(),
            Some(tls),
            async {
                let _ = stopped.await;
            },
            move |bound| bound_tx.send(bound).unwrap(),
        )
        .await
    });
    let bound = bound_rx.recv().unwrap();
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
    stop.send(()).unwrap();
    runtime.block_on(server).unwrap().unwrap();
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
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let (bound_tx, bound_rx) = std::sync::mpsc::channel();
    let app = h.app.clone();
    let server = runtime.spawn(async move {
        secops_server::serve(
            app,
            "127.0.0.1:0".parse().unwrap(),
            None,
            async {
                let _ = stopped.await;
            },
            move |bound| bound_tx.send(bound).unwrap(),
        )
        .await
    });
    let bound = bound_rx.recv().unwrap();
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
    stop.send(()).unwrap();
    runtime.block_on(server).unwrap().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "schemathesis found problems:\n{text}");
    // Only signing in with generated passwords is refused throughout: the key held everywhere.
    if text.contains("Authentication failed") {
        assert!(
            text.contains("401 Unauthorized (1 operation)")
                && text.contains("- POST /api/v1/login"),
            "{text}"
        );
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
