//! The console as a browser without JavaScript meets it: pages and their forms over HTTP, in process,
//! on the same harness as the API (a real store filled by detection over the sample logs). Every
//! page's access is walked; forms are posted as browsers post them (url-encoded, the CSRF token a
//! hidden field); attacker-written alert text is checked to come out inert on every page and in the
//! CSV export.

use std::collections::HashMap;

use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::BodyExt;
use secops_server::permissions::Access;
use secops_service::users;
use secops_service::Clock;
use tower::ServiceExt;

use super::{Harness, PASSWORD};

/// A page as the server answered it.
#[derive(Debug)]
struct Page {
    status: StatusCode,
    headers: HeaderMap,
    text: String,
}

impl Page {
    fn location(&self) -> &str {
        self.headers
            .get("location")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }
}

/// A signed-in browser: its cookie and the CSRF token its pages carry.
#[derive(Debug, Clone)]
struct Session {
    cookie: String,
    csrf: String,
}

fn encode(form: &[(&str, &str)]) -> String {
    let mut out = form_urlencoded::Serializer::new(String::new());
    for (k, v) in form {
        out.append_pair(k, v);
    }
    out.finish()
}

impl Harness {
    async fn page(
        &self,
        method: Method,
        path: &str,
        session: Option<&Session>,
        form: Option<&[(&str, &str)]>,
        headers: &[(&str, &str)],
    ) -> Page {
        let mut request = Request::builder().method(method).uri(path);
        if let Some(s) = session {
            request = request.header("cookie", format!("secops_session={}", s.cookie));
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let request = match form {
            Some(form) => request
                .header("content-type", "application/x-www-form-urlencoded")
                .body(Body::from(encode(form))),
            None => request.body(Body::empty()),
        }
        .unwrap();
        let response = self.app.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        Page {
            status,
            headers,
            text: String::from_utf8_lossy(&bytes).into_owned(),
        }
    }

    async fn get(&self, path: &str, session: &Session) -> Page {
        self.page(Method::GET, path, Some(session), None, &[]).await
    }

    /// Posts a form with the session's CSRF token in it, as the console's forms do.
    async fn post(&self, path: &str, session: &Session, form: &[(&str, &str)]) -> Page {
        let mut fields = vec![("csrf", session.csrf.as_str())];
        fields.extend_from_slice(form);
        self.page(Method::POST, path, Some(session), Some(&fields), &[])
            .await
    }

    /// Signs in through the sign-in form; the CSRF token is read off a page, as a browser has it.
    async fn sign_in(&self, user: &str) -> Session {
        let answer = self
            .page(
                Method::POST,
                "/login",
                None,
                Some(&[("user", user), ("password", PASSWORD), ("next", "/cases")]),
                &[],
            )
            .await;
        assert_eq!(answer.status, StatusCode::SEE_OTHER, "{}", answer.text);
        assert_eq!(answer.location(), "/cases");
        let cookie = answer.headers["set-cookie"].to_str().unwrap().to_string();
        assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"));
        let cookie = cookie
            .split(';')
            .next()
            .unwrap()
            .strip_prefix("secops_session=")
            .unwrap()
            .to_string();
        let mut session = Session {
            cookie,
            csrf: String::new(),
        };
        let page = self.get("/alerts?status=open", &session).await;
        session.csrf = match attribute(&page.text, "data-csrf") {
            Some(token) => token,
            // A role that may open no page still has its session's token.
            None => secops_auth::SessionSecret::csrf(&session.cookie),
        };
        session
    }

    fn alert_ids(&self, filter: secops_store::AlertFilter) -> Vec<i64> {
        self.with_store(|s| s.alert_ids(&filter)).unwrap()
    }
}

/// The value of the first `name="..."` attribute in a page.
fn attribute(text: &str, name: &str) -> Option<String> {
    let start = text.find(&format!("{name}=\""))? + name.len() + 2;
    let end = text[start..].find('"')? + start;
    Some(text[start..end].to_string())
}

fn concrete(path: &str) -> String {
    path.replace("{id}", "1")
        .replace("{number}", "1")
        .replace("{task}", "1")
        .replace("{name}", "console.css")
}

fn open_alerts() -> secops_store::AlertFilter {
    secops_store::AlertFilter {
        status: Some(secops_store::AlertStatus::Open),
        ..secops_store::AlertFilter::default()
    }
}

/// Every page and form: someone not signed in is sent to the sign-in page (back to the page after),
/// a role without the page's permission is refused with a page naming it (and audited), the role
/// with exactly that permission is let through; a change without the CSRF token is refused.
#[tokio::test(flavor = "multi_thread")]
async fn every_console_route_declares_its_access_and_the_guard_enforces_it() {
    let h = Harness::sqlite();
    let pages = secops_server::console::pages();
    let table = pages.table().to_vec();
    assert!(table.len() >= 25, "{} console routes", table.len());
    let now = h.clock.now().unix_nanos();
    let mut sessions: HashMap<String, Session> = HashMap::new();
    let mut roles = vec!["nothing".to_string()];
    roles.extend(
        secops_auth::PERMISSIONS
            .iter()
            .map(|p| super::role_of(p.as_str())),
    );
    for role in &roles {
        let user = format!("u-{}", role.replace('_', "-"));
        h.with_store(|s| users::add_user(s, &h.roles, &user, role, PASSWORD, now, None))
            .unwrap();
        sessions.insert(role.clone(), h.sign_in(&user).await);
    }
    let denied_before = denials(&h);
    let mut denied_elsewhere = 0;
    for (method, path, access) in &table {
        let m = super::method(&method.to_uppercase());
        let uri = concrete(path);
        let form: Option<&[(&str, &str)]> = (m == Method::POST).then_some(&[]);
        let anonymous = h.page(m.clone(), &uri, None, form, &[]).await;
        let call = |role: &str| {
            let session = sessions[role].clone();
            let m = m.clone();
            let uri = uri.clone();
            let h = &h;
            async move {
                if m == Method::POST {
                    h.post(&uri, &session, &[]).await
                } else {
                    h.get(&uri, &session).await
                }
            }
        };
        let to_login =
            |p: &Page| p.status == StatusCode::SEE_OTHER && p.location().starts_with("/login");
        match access {
            Access::Public => {
                assert!(!to_login(&anonymous), "{method} {path}");
                assert_ne!(anonymous.status, StatusCode::FORBIDDEN, "{method} {path}");
            }
            Access::SignedIn => {
                assert!(
                    to_login(&anonymous),
                    "{method} {path}: {:?}",
                    anonymous.status
                );
                if *path == "/logout" {
                    // Signing out goes to the sign-in page by design: a session of its own.
                    let before = denials(&h);
                    let own = h.sign_in("u-nothing").await;
                    // Signing in reads a page the role may not open.
                    denied_elsewhere += denials(&h) - before;
                    let out = h.post(path, &own, &[]).await;
                    assert!(out.headers["set-cookie"]
                        .to_str()
                        .unwrap()
                        .contains("Max-Age=0"));
                } else {
                    let any = call("nothing").await;
                    assert!(
                        !to_login(&any) && any.status != StatusCode::FORBIDDEN,
                        "{method} {path}"
                    );
                }
            }
            Access::Needs(permission) => {
                assert!(
                    to_login(&anonymous),
                    "{method} {path}: {:?}",
                    anonymous.status
                );
                if m == Method::GET && !path.contains('{') {
                    let back = form_urlencoded::parse(
                        anonymous.location().split_once('?').unwrap().1.as_bytes(),
                    )
                    .find(|(k, _)| k == "next")
                    .map(|(_, v)| v.into_owned());
                    assert_eq!(back.as_deref(), Some(uri.as_str()), "{method} {path}");
                }
                let denied = call("nothing").await;
                assert_eq!(denied.status, StatusCode::FORBIDDEN, "{method} {path}");
                assert!(denied.text.contains(permission.as_str()), "{method} {path}");
                assert!(
                    denied.text.contains("<h1"),
                    "a refusal is a page: {method} {path}"
                );
                let allowed = call(&super::role_of(permission.as_str())).await;
                assert!(
                    !to_login(&allowed) && allowed.status != StatusCode::FORBIDDEN,
                    "{method} {path} with {permission}: {:?} {}",
                    allowed.status,
                    allowed.text.chars().take(300).collect::<String>()
                );
            }
        }
        if m == Method::POST && *access != Access::Public {
            // The cookie alone is not enough: a page on another site could make the browser send it.
            let forged = h
                .page(
                    m.clone(),
                    &uri,
                    Some(&sessions["only_alerts_triage"]),
                    Some(&[("x", "1")]),
                    &[],
                )
                .await;
            assert_eq!(forged.status, StatusCode::FORBIDDEN, "{method} {path}");
            assert!(
                forged.text.contains("CSRF") || forged.text.contains("csrf"),
                "{method} {path}"
            );
        }
    }
    // Refusals for want of a permission are audited, as the API's are.
    let protected = table
        .iter()
        .filter(|(_, _, a)| matches!(a, Access::Needs(_)))
        .count();
    assert_eq!(denials(&h) - denied_before - denied_elsewhere, protected);
    // A page nobody serves is a page too.
    let stray = h.get("/nothing-here", &sessions["nothing"]).await;
    assert_eq!(stray.status, StatusCode::NOT_FOUND);
    assert!(stray.text.contains("<h1"));
}

fn denials(h: &Harness) -> usize {
    h.with_store(|s| s.audit_records(0, 100_000))
        .unwrap()
        .into_iter()
        .filter(|r| r.record.action == "access.denied")
        .count()
}

/// Signing in: a wrong password shows the form again with why; the one-time code is asked for when
/// the user has one; the page asked for is where the browser goes next, never another site; a
/// sign-in form posted from another site is refused; signing out ends the session.
#[tokio::test(flavor = "multi_thread")]
async fn signing_in_and_out_through_the_form() {
    let h = Harness::sqlite();
    let form = h
        .page(
            Method::GET,
            "/login?next=%2Falerts%3Fstatus%3Dclosed",
            None,
            None,
            &[],
        )
        .await;
    assert_eq!(form.status, StatusCode::OK);
    assert!(form.text.contains(r#"name="password""#));
    assert!(form.text.contains(r#"value="/alerts?status=closed""#));
    let wrong = h
        .page(
            Method::POST,
            "/login",
            None,
            Some(&[("user", "ana"), ("password", "nope")]),
            &[],
        )
        .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert!(wrong.text.contains("wrong user name or password"));
    assert!(
        !wrong.text.contains("nope"),
        "the password is never sent back"
    );
    assert!(!wrong.headers.contains_key("set-cookie"));
    for (next, expected) in [
        ("//evil.example/x", "/alerts"),
        ("https://evil.example/", "/alerts"),
        ("/cases/1", "/cases/1"),
    ] {
        let ok = h
            .page(
                Method::POST,
                "/login",
                None,
                Some(&[("user", "ana"), ("password", PASSWORD), ("next", next)]),
                &[],
            )
            .await;
        assert_eq!(ok.status, StatusCode::SEE_OTHER);
        assert_eq!(ok.location(), expected, "next={next}");
    }
    let cross = h
        .page(
            Method::POST,
            "/login",
            None,
            Some(&[("user", "ana"), ("password", PASSWORD)]),
            &[("sec-fetch-site", "cross-site")],
        )
        .await;
    assert_eq!(cross.status, StatusCode::FORBIDDEN);
    // A user with a one-time password is asked for the code, then let in with it.
    let now = h.clock.now().unix_nanos();
    let secret = h
        .with_store(|s| users::begin_totp(s, "ana", now, None))
        .unwrap();
    let code = secret.code_at(now / 1_000_000_000);
    h.with_store(|s| users::confirm_totp(s, "ana", &code, now, None))
        .unwrap();
    h.clock.advance(super::MINUTE);
    let asked = h
        .page(
            Method::POST,
            "/login",
            None,
            Some(&[("user", "ana"), ("password", PASSWORD)]),
            &[],
        )
        .await;
    assert_eq!(asked.status, StatusCode::UNAUTHORIZED);
    assert!(asked.text.contains("one-time code"));
    assert!(asked.text.contains(r#"name="totp""#) && asked.text.contains("required autofocus"));
    let code = secret.code_at(h.clock.now().unix_nanos() / 1_000_000_000);
    let let_in = h
        .page(
            Method::POST,
            "/login",
            None,
            Some(&[("user", "ana"), ("password", PASSWORD), ("totp", &code)]),
            &[],
        )
        .await;
    assert_eq!(let_in.status, StatusCode::SEE_OTHER, "{}", let_in.text);
    // Signing out ends the session: the cookie no longer opens a page.
    let session = h.sign_in("root").await;
    let out = h.post("/logout", &session, &[]).await;
    assert_eq!(out.status, StatusCode::SEE_OTHER);
    assert!(out.headers["set-cookie"]
        .to_str()
        .unwrap()
        .contains("Max-Age=0"));
    let after = h.get("/alerts", &session).await;
    assert_eq!(after.status, StatusCode::SEE_OTHER);
    assert!(after.location().starts_with("/login"));
}

/// The queue without JavaScript: filters in the address, groups with counts that drill down, pages
/// by keyset, a default view kept per user, and bulk changes by the boxes checked or by every alert
/// the filters match, each saying what it did.
#[tokio::test(flavor = "multi_thread")]
async fn the_queue_filters_groups_pages_and_triages_in_bulk() {
    let h = Harness::sqlite();
    let ana = h.sign_in("ana").await;
    let open = h.alert_ids(open_alerts());
    assert!(open.len() >= 10, "{} open alerts", open.len());
    let queue = h.get("/alerts", &ana).await;
    assert_eq!(queue.status, StatusCode::OK);
    let rows = queue.text.matches("data-alert=\"").count();
    assert_eq!(rows, open.len().min(50));
    assert!(queue.text.contains(&format!("id=\"alert-{}\"", open[0])));
    // Grouped by rule: each group's count is the number of its alerts, and its link narrows to them.
    let grouped = h.get("/alerts?status=open&group=rule", &ana).await;
    assert!(
        grouped.text.contains("Alerts grouped by rule"),
        "{}",
        grouped.text
    );
    let all = h.with_store(|s| s.alerts(&open_alerts())).unwrap();
    let first_rule = all[0].rule_name.clone();
    let in_rule = all.iter().filter(|a| a.rule_name == first_rule).count();
    assert!(
        grouped.text.contains(&format!(">{in_rule}</a>")),
        "{first_rule}: {in_rule}"
    );
    // Paging: two a page, the next page starts after the last row.
    let page1 = h.get("/alerts?status=open&limit=2", &ana).await;
    assert_eq!(page1.text.matches("data-alert=\"").count(), 2);
    let next = attribute(
        &page1.text[page1
            .text
            .find("rel=\"next\"")
            .map(|i| i.saturating_sub(400))
            .unwrap()..],
        "href",
    )
    .unwrap()
    .replace("&amp;", "&");
    let page2 = h.get(&next, &ana).await;
    assert!(
        page2.text.contains(&format!("id=\"alert-{}\"", open[2])),
        "{next}"
    );
    // A default view per user, kept in the store.
    let saved = h
        .post(
            "/alerts/view",
            &ana,
            &[("status", "open"), ("severity", "high"), ("group", "rule")],
        )
        .await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER);
    let mine = h.get("/alerts", &ana).await;
    assert!(mine.text.contains("Alerts grouped by rule"));
    assert!(mine.text.contains(r#"<option value="high" selected>"#));
    let root = h.sign_in("root").await;
    let theirs = h.get("/alerts", &root).await;
    assert!(
        !theirs.text.contains("Alerts grouped by"),
        "a view is its owner's"
    );
    // Bulk: the two boxes checked are closed with the reason, the page says so.
    let (a, b) = (open[0].to_string(), open[1].to_string());
    let closed = h
        .post(
            "/alerts/bulk",
            &ana,
            &[
                ("return", "/alerts?status=open"),
                ("scope", "selected"),
                ("action", "close"),
                ("resolution", "false_positive"),
                ("id", &a),
                ("id", &b),
            ],
        )
        .await;
    assert_eq!(closed.status, StatusCode::SEE_OTHER, "{}", closed.text);
    assert_eq!(closed.location(), "/alerts?status=open&done=closed&n=2");
    let after = h.get(closed.location(), &ana).await;
    assert!(after.text.contains("2 alerts closed"));
    assert!(!after.text.contains(&format!("id=\"alert-{a}\"")));
    let record = h.with_store(|s| s.alert(open[0])).unwrap();
    assert_eq!(record.resolution.as_deref(), Some("false_positive"));
    // Closing without a reason is refused, and says why.
    let refused = h
        .post(
            "/alerts/bulk",
            &ana,
            &[("action", "close"), ("id", &open[2].to_string())],
        )
        .await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    assert!(refused.text.contains("choose a reason"));
    // Assigned and tagged in bulk, from the queue's form (which also echoes the filters, an
    // empty assignee and tag among them).
    let c = open[2].to_string();
    for (action, field, value) in [
        ("assign", "assign_to", "ana"),
        ("tag", "add_tags", "vpn, spraying"),
    ] {
        let done = h
            .post(
                "/alerts/bulk",
                &ana,
                &[
                    ("status", "open"),
                    ("assignee", ""),
                    ("tag", ""),
                    ("action", action),
                    (field, value),
                    ("id", &c),
                ],
            )
            .await;
        assert_eq!(
            done.status,
            StatusCode::SEE_OTHER,
            "{action}: {}",
            done.text
        );
    }
    let changed = h.with_store(|s| s.alert(open[2])).unwrap();
    assert_eq!(changed.assignee.as_deref(), Some("ana"));
    assert_eq!(
        changed.tags,
        vec!["spraying".to_string(), "vpn".to_string()]
    );
    // Every alert a filter matches: the rule's open alerts, acknowledged at once.
    let rule = all[2].rule_id.clone();
    let matching = h.alert_ids(secops_store::AlertFilter {
        rule: Some(rule.clone()),
        ..open_alerts()
    });
    let acked = h
        .post(
            "/alerts/bulk",
            &ana,
            &[
                ("scope", "matching"),
                ("status", "open"),
                ("rule", &rule),
                ("action", "acknowledge"),
            ],
        )
        .await;
    assert_eq!(acked.status, StatusCode::SEE_OTHER, "{}", acked.text);
    assert!(acked
        .location()
        .contains(&format!("done=acknowledged&n={}", matching.len())));
    for id in matching {
        assert_eq!(
            h.with_store(|s| s.alert(id)).unwrap().status,
            secops_store::AlertStatus::Acknowledged
        );
    }
    // Escalated in bulk to a new case, then more merged into it, with a comment.
    let rest = h.alert_ids(open_alerts());
    let (c, d) = (rest[0].to_string(), rest[1].to_string());
    let escalated = h
        .post(
            "/alerts/bulk",
            &ana,
            &[
                ("action", "escalate"),
                ("id", &c),
                ("comment", "same source, same hour"),
            ],
        )
        .await;
    assert_eq!(
        escalated.status,
        StatusCode::SEE_OTHER,
        "{}",
        escalated.text
    );
    let number: i64 = escalated
        .location()
        .rsplit("case=")
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let merged = h
        .post(
            "/alerts/bulk",
            &ana,
            &[
                ("action", "merge"),
                ("case", &format!("#{number}")),
                ("id", &d),
            ],
        )
        .await;
    assert_eq!(merged.status, StatusCode::SEE_OTHER, "{}", merged.text);
    let linked = h.with_store(|s| s.case_alert_ids(number)).unwrap();
    assert!(linked.contains(&rest[0]) && linked.contains(&rest[1]));
    let case = h.get(&format!("/cases/{number}"), &ana).await;
    assert!(case.text.contains("same source, same hour"));
}

/// Alert text is attacker-written: script tags, attribute breakouts, terminal escapes and
/// spreadsheet formulas come out as text on every page that shows them, and neutralized in the CSV.
#[tokio::test(flavor = "multi_thread")]
async fn hostile_alert_text_renders_inert_everywhere() {
    let h = Harness::sqlite();
    let id = hostile_alert(&h);
    let ana = h.sign_in("ana").await;
    let pages = [
        "/alerts?status=open".to_string(),
        "/alerts?status=open&group=rule,user".to_string(),
        format!("/alerts/{id}"),
        format!("/alerts/{id}/top?field=user.name"),
    ];
    for path in &pages {
        let page = h.get(path, &ana).await;
        assert_eq!(page.status, StatusCode::OK, "{path}");
        assert_inert(&page.text, path);
        assert!(
            page.text.contains("&#60;script&#62;") || page.text.contains("&lt;script&gt;"),
            "{path}: the text is shown, escaped: {}",
            &page.text[page.text.find("HYPERLINK").unwrap_or(0)..][..400.min(page.text.len())]
        );
    }
    // The alert's case page too, once it is escalated.
    let escalated = h
        .post(
            &format!("/alerts/{id}/escalate"),
            &ana,
            &[("comment", HOSTILE)],
        )
        .await;
    assert_eq!(
        escalated.status,
        StatusCode::SEE_OTHER,
        "{}",
        escalated.text
    );
    let number: i64 = escalated
        .location()
        .rsplit("case=")
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let case = h.get(&format!("/cases/{number}"), &ana).await;
    assert_inert(&case.text, "the case");
    let export = h.get("/alerts/export.csv?status=", &ana).await;
    assert_eq!(export.headers["content-type"], "text/csv; charset=utf-8");
    assert_eq!(
        export.headers["content-disposition"],
        "attachment; filename=\"alerts.csv\""
    );
    let line = export
        .text
        .lines()
        .find(|l| l.contains("HYPERLINK"))
        .unwrap();
    assert!(line.contains(",\"'=HYPERLINK"), "{line}");
    assert!(line.contains(",\"'@SUM"), "{line}");
    assert!(!export.text.contains('\u{1b}'));
}

/// Attacker-written text as an alert would carry it.
const HOSTILE: &str = "<script>window.__pwned=1</script>\"><img src=x onerror=\"window.__pwned=2\">\u{1b}[31mred\u{1b}[0m";

/// An alert whose rule name, key, group and event fields hold hostile text (recorded as detection
/// records alerts, from a real alert's document).
fn hostile_alert(h: &Harness) -> i64 {
    let real = h
        .with_store(|s| s.alerts(&open_alerts()))
        .unwrap()
        .remove(0);
    let mut document: serde_json::Value = serde_json::from_str(&real.document).unwrap();
    document["group"] = serde_json::json!({ "user.name": HOSTILE });
    document["events"] = serde_json::json!([{
        "@timestamp": "2026-12-06T08:00:00Z",
        "message": HOSTILE,
        "user": {"name": format!("=HYPERLINK(\"http://evil.example\",\"x\"){HOSTILE}")},
        "host": {"name": "web-1"},
        "source": {"ip": "198.51.100.7"}
    }]);
    let now = h.clock.now().unix_nanos();
    let alert = secops_store::NewAlert {
        rule_id: real.rule_id.clone(),
        rule_name: format!("=HYPERLINK(\"http://evil.example\",\"x\") {HOSTILE}"),
        rule_version: 1,
        severity: "high".into(),
        risk_score: 73,
        group_key: format!("@SUM(1+1)*cmd|' /C calc'!A0 {HOSTILE}"),
        first_seen: now - super::MINUTE,
        last_seen: now,
        event_count: 1,
        dedupe_window: 0,
        document: document.to_string(),
    };
    let recorded = h
        .with_store(|s| s.record_alerts(&[alert], "test", now))
        .unwrap();
    match recorded[0] {
        secops_store::Recorded::Inserted(id) => id,
        other => panic!("the hostile alert was not recorded anew: {other:?}"),
    }
}

/// No markup from the hostile text survives as markup, and no terminal escape reaches the page raw.
fn assert_inert(text: &str, place: &str) {
    assert!(!text.contains("<script>window"), "{place}: a script tag");
    assert!(!text.contains("<img src=x"), "{place}: an image tag");
    assert!(!text.contains("onerror=\"window"), "{place}: an attribute");
    assert!(!text.contains('\u{1b}'), "{place}: a raw escape character");
    // Scripts come from this server's files only.
    for (at, _) in text.match_indices("<script") {
        let tag = &text[at..at + text[at..].find('>').unwrap()];
        assert!(tag.contains("src=\"/static/"), "{place}: {tag}");
    }
}

/// An alert's page: its events field by field with hunts to pivot to, the top values of a field,
/// similar alerts by shared entities, the rule's guide; an exception with an expiry and a tuning
/// ticket from it; triage forms that work without JavaScript; htmx gets the row back.
#[tokio::test(flavor = "multi_thread")]
async fn an_alert_page_pivots_tunes_and_triages() {
    let h = Harness::sqlite();
    let ana = h.sign_in("ana").await;
    let all = h.with_store(|s| s.alerts(&open_alerts())).unwrap();
    // An alert naming an entity other alerts name too.
    let (alert, shared) = all
        .iter()
        .find_map(|a| {
            let entities = h.with_store(|s| s.alert_entities(a.id)).unwrap();
            entities.into_iter().find_map(|(kind, value)| {
                let others = h.alert_ids(secops_store::AlertFilter {
                    entity: Some((kind, value)),
                    ..secops_store::AlertFilter::default()
                });
                (others.len() > 1).then(|| (a.clone(), others))
            })
        })
        .unwrap();
    let page = h.get(&format!("/alerts/{}", alert.id), &ana).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.text.contains("Similar alerts"));
    let similar = shared.iter().find(|id| **id != alert.id).unwrap();
    assert!(
        page.text.contains(&format!("id=\"alert-{similar}\"")),
        "a similar alert is listed"
    );
    assert!(
        page.text.contains("/hunts?q=FROM+events"),
        "fields pivot to hunts"
    );
    assert!(page.text.contains("Investigation guide"));
    // Top values of a field of the alert's events, over the rule's alerts.
    let field = attribute(
        &page.text[page.text.find("top?field=").unwrap() - 40..],
        "href",
    )
    .unwrap()
    .replace("&amp;", "&");
    let top = h
        .page(
            Method::GET,
            &field,
            Some(&ana),
            None,
            &[("hx-request", "true")],
        )
        .await;
    assert_eq!(top.status, StatusCode::OK);
    assert!(top.text.contains("Top values of"));
    assert!(!top.text.contains("<html"), "htmx gets the fragment");
    assert!(top.text.contains("%</td>"));
    // An exception with an expiry, shown on the alert's page, kept in the store.
    let exception = h
        .post(
            &format!("/alerts/{}/exception", alert.id),
            &ana,
            &[
                ("field", "host.name"),
                ("value", "build-server-7"),
                ("days", "30"),
                ("reason", "the nightly build"),
            ],
        )
        .await;
    assert_eq!(
        exception.status,
        StatusCode::SEE_OTHER,
        "{}",
        exception.text
    );
    let kept = h
        .with_store(|s| s.exceptions(Some(&alert.rule_id), None))
        .unwrap();
    assert_eq!(kept.len(), 1);
    assert_eq!(
        kept[0].expires_at,
        Some(h.clock.now().unix_nanos() + 30 * 86_400 * 1_000_000_000)
    );
    let again = h.get(exception.location(), &ana).await;
    assert!(again.text.contains("build-server-7") && again.text.contains("Exception added"));
    // "This rule is noisy": a ticket for detection engineering.
    let noisy = h
        .post(
            &format!("/alerts/{}/noisy", alert.id),
            &ana,
            &[("reason", "fires on every backup")],
        )
        .await;
    assert_eq!(noisy.status, StatusCode::SEE_OTHER);
    let tickets = h.with_store(|s| s.tickets(true)).unwrap();
    assert_eq!(tickets[0].rule_id, alert.rule_id);
    assert_eq!(tickets[0].reason, "fires on every backup");
    // The keyboard's acknowledge, as htmx sends it: the row comes back, acknowledged.
    let row = h
        .page(
            Method::POST,
            &format!("/alerts/{}/acknowledge", alert.id),
            Some(&ana),
            Some(&[]),
            &[
                ("hx-request", "true"),
                ("hx-target", &format!("alert-{}", alert.id)),
                ("x-csrf-token", &ana.csrf),
            ],
        )
        .await;
    assert_eq!(row.status, StatusCode::OK, "{}", row.text);
    assert!(row.text.trim_start().starts_with("<tr id=\"alert-"));
    assert!(row.text.contains("acknowledged"));
    // Assign and tag through the alert page's forms.
    let here = format!("/alerts/{}", alert.id);
    let assigned = h
        .post(
            &format!("/alerts/{}/assign", alert.id),
            &ana,
            &[("assignee", "ana"), ("return", &here)],
        )
        .await;
    assert_eq!(assigned.status, StatusCode::SEE_OTHER, "{}", assigned.text);
    let tagged = h
        .post(
            &format!("/alerts/{}/tags", alert.id),
            &ana,
            &[("add", "vpn, noisy"), ("remove", ""), ("return", &here)],
        )
        .await;
    assert_eq!(tagged.status, StatusCode::SEE_OTHER, "{}", tagged.text);
    let record = h.with_store(|s| s.alert(alert.id)).unwrap();
    assert_eq!(record.assignee.as_deref(), Some("ana"));
    assert_eq!(record.tags, vec!["noisy".to_string(), "vpn".to_string()]);
    // The close form without JavaScript: back to the alert, closed, the comment in its history.
    let closed = h
        .post(
            &format!("/alerts/{}/close", alert.id),
            &ana,
            &[
                ("resolution", "benign"),
                ("comment", "expected admin work"),
                ("return", &format!("/alerts/{}", alert.id)),
            ],
        )
        .await;
    assert_eq!(closed.status, StatusCode::SEE_OTHER, "{}", closed.text);
    let shown = h.get(closed.location(), &ana).await;
    assert!(shown.text.contains("1 alert closed"));
    assert!(shown.text.contains("expected admin work"));
}

/// A case worked through its forms: tasks, an observable, a timeline entry, a note, alerts merged in;
/// closing refused while something it needs is missing (the page says what), then closed; its
/// report downloads with a safe name.
#[tokio::test(flavor = "multi_thread")]
async fn a_case_is_worked_and_closed_through_its_forms() {
    let h = Harness::sqlite();
    let ana = h.sign_in("ana").await;
    let opened = h
        .post(
            "/cases",
            &ana,
            &[
                ("title", "Password spraying from 203.0.113.9"),
                ("severity", "high"),
            ],
        )
        .await;
    assert_eq!(opened.status, StatusCode::SEE_OTHER, "{}", opened.text);
    let path = opened.location().to_string();
    let number: i64 = path.rsplit('/').next().unwrap().parse().unwrap();
    let open = h.alert_ids(open_alerts());
    let ids = format!("{}, {}", open[0], open[1]);
    for (to, form) in [
        (
            "tasks",
            vec![("group", "containment"), ("title", "Block the source")],
        ),
        (
            "observables",
            vec![("kind", "ip-src"), ("value", "203.0.113.9"), ("ioc", "1")],
        ),
        (
            "timeline",
            vec![
                ("at", "2026-12-06T08:30"),
                ("title", "First failed logon"),
                ("technique", "T1110.003"),
            ],
        ),
        ("notes", vec![("text", "The source is a VPS")]),
        ("alerts", vec![("ids", ids.as_str())]),
        ("state", vec![("state", "triage")]),
        ("assign", vec![("assignee", "ana")]),
    ] {
        let done = h.post(&format!("/cases/{number}/{to}"), &ana, &form).await;
        assert_eq!(done.status, StatusCode::SEE_OTHER, "{to}: {}", done.text);
    }
    let page = h.get(&path, &ana).await;
    for text in [
        "Block the source",
        "203.0.113.9",
        "First failed logon",
        "T1110.003",
        "The source is a VPS",
        "triage",
    ] {
        assert!(page.text.contains(text), "{text}");
    }
    assert!(page.text.contains(&format!("id=\"alert-{}\"", open[0])));
    // An analyst cannot close (cases:close); a responder can, once what closing needs is there.
    assert!(!page.text.contains("Close the case"));
    let root = h.sign_in("root").await;
    let refused = h
        .post(
            &format!("/cases/{number}/close"),
            &root,
            &[
                ("resolution", "true_positive_without_impact"),
                ("root_cause", "weak passwords"),
                ("lessons_learned", "MFA"),
            ],
        )
        .await;
    assert_eq!(refused.status, StatusCode::CONFLICT, "{}", refused.text);
    assert!(
        refused.text.contains("task"),
        "the page says what is missing: {}",
        refused.text
    );
    let tasks = h.with_store(|s| s.tasks(number)).unwrap();
    for task in &tasks {
        let set = h
            .post(
                &format!("/cases/{number}/tasks/{}", task.id),
                &root,
                &[("status", "done")],
            )
            .await;
        assert_eq!(set.status, StatusCode::SEE_OTHER, "{}", set.text);
    }
    let closed = h
        .post(
            &format!("/cases/{number}/close"),
            &root,
            &[
                ("resolution", "true_positive_without_impact"),
                ("root_cause", "weak passwords"),
                ("lessons_learned", "MFA"),
            ],
        )
        .await;
    assert_eq!(closed.status, StatusCode::SEE_OTHER, "{}", closed.text);
    let page = h.get(closed.location(), &root).await;
    assert!(page.text.contains("The case is closed") && page.text.contains("weak passwords"));
    // Reopened with the reason, then closed again.
    let reopened = h
        .post(
            &format!("/cases/{number}/reopen"),
            &root,
            &[("reason", "the source came back")],
        )
        .await;
    assert_eq!(reopened.status, StatusCode::SEE_OTHER, "{}", reopened.text);
    assert_ne!(h.with_store(|s| s.case(number)).unwrap().state, "closed");
    let closed = h
        .post(
            &format!("/cases/{number}/close"),
            &root,
            &[
                ("resolution", "true_positive_without_impact"),
                ("root_cause", "weak passwords"),
                ("lessons_learned", "MFA"),
            ],
        )
        .await;
    assert_eq!(closed.status, StatusCode::SEE_OTHER, "{}", closed.text);
    let report = h
        .get(&format!("/api/v1/cases/{number}/report?format=html"), &root)
        .await;
    assert_eq!(report.status, StatusCode::OK);
    assert_eq!(
        report.headers["content-disposition"],
        format!("attachment; filename=\"case-{number}.html\"").as_str()
    );
    // An alert names its case by the store's id: the link finds the case.
    let via = h
        .get(
            &format!("/cases/id/{}", h.with_store(|s| s.case(number)).unwrap().id),
            &root,
        )
        .await;
    assert_eq!(via.location(), path);
}

/// Every page: a strict Content-Security-Policy (no inline script or style), `Vary: HX-Request`, HTML
/// as UTF-8; htmx's requests get the fragment, not the page; the assets are the embedded ones.
#[tokio::test(flavor = "multi_thread")]
async fn pages_carry_a_strict_policy_and_htmx_gets_fragments() {
    let h = Harness::sqlite();
    let ana = h.sign_in("ana").await;
    let id = h.alert_ids(open_alerts())[0];
    for path in ["/alerts", "/cases", "/login", &format!("/alerts/{id}")] {
        let page = h.get(path, &ana).await;
        assert_eq!(page.status, StatusCode::OK, "{path}");
        let policy = page.headers["content-security-policy"].to_str().unwrap();
        assert!(
            policy.contains("script-src 'self'") && policy.contains("style-src 'self'"),
            "{policy}"
        );
        assert!(!policy.contains("unsafe-inline") && !policy.contains("unsafe-eval"));
        assert!(policy.contains("frame-ancestors 'none'"));
        assert_eq!(page.headers["vary"], "HX-Request");
        assert_eq!(page.headers["content-type"], "text/html; charset=utf-8");
        assert!(!page.text.contains("style=\""), "{path}: an inline style");
        for handler in [
            " onclick=",
            " onload=",
            " onsubmit=",
            " onerror=",
            "javascript:",
        ] {
            assert!(!page.text.contains(handler), "{path}: {handler}");
        }
    }
    let fragment = h
        .page(
            Method::GET,
            "/alerts?status=open",
            Some(&ana),
            None,
            &[("hx-request", "true")],
        )
        .await;
    assert!(fragment
        .text
        .trim_start()
        .starts_with("<div id=\"results\">"));
    assert!(!fragment.text.contains("<html"));
    for (name, kind) in [
        ("htmx-2.0.11.min.js", "text/javascript; charset=utf-8"),
        ("console.js", "text/javascript; charset=utf-8"),
        ("console.css", "text/css; charset=utf-8"),
    ] {
        let asset = h
            .page(Method::GET, &format!("/static/{name}"), None, None, &[])
            .await;
        assert_eq!(asset.status, StatusCode::OK, "{name}");
        assert_eq!(asset.headers["content-type"], kind);
    }
    let htmx = h
        .page(Method::GET, "/static/htmx-2.0.11.min.js", None, None, &[])
        .await;
    assert!(htmx.text.contains("2.0.11"));
}

/// Hunts from the console: a pivot fills the query box, a run shows the rows with their value
/// actions (and is audited), a query's fault is shown beside it, the hunt is saved by name and
/// attached to a case as evidence; the audit page lists the runs.
#[tokio::test(flavor = "multi_thread")]
async fn hunts_run_save_and_attach_from_the_console() {
    let dir = tempfile::tempdir().unwrap();
    let lake = super::sample_lake(dir.path());
    let target = dir.path().join("secops.db").display().to_string();
    let h = Harness::on(
        target,
        dir,
        super::Settings {
            lake: Some(lake),
            ..super::Settings::default()
        },
    );
    let root = h.sign_in("root").await;
    let pivot = h.get("/hunts?q=FROM+events+%7C+LIMIT+5", &root).await;
    assert!(pivot.text.contains(">FROM events | LIMIT 5</textarea>"));
    let query = "FROM events\n| WHERE event.outcome == \"failure\"\n| STATS n = count(*) BY source.ip\n| SORT n DESC";
    let ran = h
        .post("/hunts", &root, &[("q", query), ("max_rows", "100")])
        .await;
    assert_eq!(ran.status, StatusCode::OK, "{}", ran.text);
    assert!(
        ran.text.contains("<th scope=\"col\">source.ip</th>"),
        "{}",
        ran.text
    );
    assert!(ran.text.contains("title=\"Only rows with this value\""));
    // Text values are quoted in the queries the actions lead to; numbers are not.
    assert!(
        ran.text.contains("WHERE+source.ip+%3D%3D+%22"),
        "{}",
        ran.text
    );
    assert!(ran.text.contains("WHERE+n+%3D%3D+") && !ran.text.contains("WHERE+n+%3D%3D+%22"));
    let fault = h
        .post("/hunts", &root, &[("q", "FROM events | WHERE")])
        .await;
    assert_eq!(fault.status, StatusCode::OK);
    assert!(
        fault.text.contains("problem-text"),
        "the query's fault is shown beside it"
    );
    let saved = h
        .post(
            "/hunts/save",
            &root,
            &[
                ("q", query),
                ("name", "Failed logons by source"),
                ("description", "spraying"),
            ],
        )
        .await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.text);
    let listed = h.get(saved.location(), &root).await;
    assert!(listed.text.contains("Failed logons by source") && listed.text.contains("Hunt saved"));
    let opened = h.post("/cases", &root, &[("title", "Spraying")]).await;
    let number = opened.location().rsplit('/').next().unwrap().to_string();
    let attached = h
        .post(
            "/hunts/attach",
            &root,
            &[
                ("q", query),
                ("case", &number),
                ("title", "Failed logons by source"),
            ],
        )
        .await;
    assert_eq!(attached.status, StatusCode::SEE_OTHER, "{}", attached.text);
    let case = h.get(attached.location(), &root).await;
    assert!(case.text.contains("attached as evidence"));
    assert!(case.text.contains("Failed logons by source"));
    let evidence = h
        .with_store(|s| s.evidence(number.parse().unwrap()))
        .unwrap();
    assert_eq!(evidence.len(), 1);
    assert!(evidence[0].evidence.rows > 0);
    // The rows are in the file the evidence names, below the server's evidence folder.
    let path = std::path::Path::new(&evidence[0].evidence.path);
    assert!(
        path.starts_with(&h.state.settings.evidence_dir),
        "{}",
        path.display()
    );
    assert!(std::fs::read_to_string(path).unwrap().contains("source.ip"));
    // A query the server refuses to attach (it reads a file on the server's disk) attaches nothing
    // and is audited as a failure, as every refused hunt is.
    let refused = h
        .post(
            "/hunts/attach",
            &root,
            &[("q", "FROM \"/etc/passwd\" | LIMIT 1"), ("case", &number)],
        )
        .await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{}", refused.text);
    assert!(refused.text.contains("reads files"));
    let failed = super::audited(&h, "hunt.run")
        .into_iter()
        .filter(|r| {
            r.outcome == "failure"
                && r.after
                    .as_deref()
                    .unwrap_or_default()
                    .contains("/etc/passwd")
        })
        .count();
    assert_eq!(failed, 1);
    assert_eq!(
        h.with_store(|s| s.evidence(number.parse().unwrap()))
            .unwrap()
            .len(),
        1
    );
    // Every run is in the audit log, shown to auditors.
    let audit = h.get("/admin/audit?action=hunt.run", &root).await;
    assert_eq!(audit.status, StatusCode::OK);
    assert!(
        audit.text.matches("<td>hunt.run</td>").count() >= 3,
        "{}",
        audit.text
    );
    let verified = h.get("/admin/audit?verify=1", &root).await;
    assert!(verified.text.contains("is intact"));
}

/// Rules: the tickets analysts opened (closed with an outcome), the exceptions in force (exported
/// as rule TOML that the rule format reads back, removed), the coverage heatmap from ATT&CK.
#[tokio::test(flavor = "multi_thread")]
async fn rules_pages_show_tickets_exceptions_and_coverage() {
    // ATT&CK from ../shared (a failure under CI when missing; elsewhere the heatmap is skipped).
    let attack = secops_testkit::shared("corpus/attack");
    let have_attack = attack.is_some();
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("secops.db").display().to_string();
    let h = Harness::on(
        target,
        dir,
        super::Settings {
            attack,
            ..super::Settings::default()
        },
    );
    let ana = h.sign_in("ana").await;
    let alert = h
        .with_store(|s| s.alerts(&open_alerts()))
        .unwrap()
        .remove(0);
    h.post(
        &format!("/alerts/{}/noisy", alert.id),
        &ana,
        &[("reason", "backups")],
    )
    .await;
    h.post(
        &format!("/alerts/{}/exception", alert.id),
        &ana,
        &[
            ("field", "user.name"),
            ("value", "svc_backup \"nightly\""),
            ("days", "7"),
            ("reason", "the backup account"),
        ],
    )
    .await;
    let root = h.sign_in("root").await;
    let rules = h.get("/rules", &root).await;
    assert_eq!(rules.status, StatusCode::OK);
    assert!(rules.text.contains("backups") && rules.text.contains("the backup account"));
    let toml_text = h
        .get(
            &format!("/rules/exceptions.toml?rule={}", alert.rule_id),
            &root,
        )
        .await;
    assert_eq!(
        toml_text.headers["content-disposition"],
        "attachment; filename=\"exceptions.toml\""
    );
    #[derive(serde::Deserialize)]
    struct Items {
        exceptions: Vec<secops_rules::ExceptionItem>,
    }
    let items: Items = toml::from_str(&toml_text.text).unwrap();
    assert_eq!(items.exceptions.len(), 1);
    let item = &items.exceptions[0];
    assert_eq!(item.entries[0].field, "user.name");
    assert_eq!(
        item.entries[0].value,
        Some(toml::Value::String("svc_backup \"nightly\"".into()))
    );
    assert!(item.expire_time.is_some());
    let ticket = h.with_store(|s| s.tickets(true)).unwrap().remove(0);
    let closed = h
        .post(
            &format!("/rules/tickets/{}/close", ticket.id),
            &root,
            &[("outcome", "excluded the backup host")],
        )
        .await;
    assert_eq!(closed.status, StatusCode::SEE_OTHER);
    assert!(h.with_store(|s| s.tickets(true)).unwrap().is_empty());
    let exception = h
        .with_store(|s| s.exceptions(None, None))
        .unwrap()
        .remove(0);
    let removed = h
        .post(
            &format!("/rules/exceptions/{}/remove", exception.id),
            &root,
            &[],
        )
        .await;
    assert_eq!(removed.status, StatusCode::SEE_OTHER);
    assert!(h
        .with_store(|s| s.exceptions(None, None))
        .unwrap()
        .is_empty());
    let coverage = h.get("/rules/coverage", &root).await;
    assert_eq!(coverage.status, StatusCode::OK);
    if have_attack {
        assert!(
            coverage.text.contains("Credential Access"),
            "tactics as columns"
        );
        assert!(
            coverage.text.contains("class=\"heat-1\"")
                || coverage.text.contains("class=\"heat-2\"")
        );
        assert!(coverage.text.contains("T1110"));
    }
}

/// An exception kept in the store applies when detection next loads the rules (with a store), and
/// not once it has expired.
#[test]
fn store_exceptions_apply_when_detection_loads_the_rules() {
    let reference = tempfile::tempdir().unwrap();
    let mut store =
        secops_store::Store::open(&reference.path().join("a.db").display().to_string()).unwrap();
    super::detect_samples(&mut store);
    let alerts = store.alerts(&secops_store::AlertFilter::default()).unwrap();
    // A native rule's alert and a value of one of its events.
    let (rule, field, value) = alerts
        .iter()
        .find_map(|a| {
            let document: serde_json::Value = serde_json::from_str(&a.document).ok()?;
            // Events are kept with their fields flat, by their dotted names.
            let ip = document["events"][0]["source.ip"].as_str()?.to_string();
            Some((a.rule_id.clone(), "source.ip".to_string(), ip))
        })
        .unwrap();
    let count = |s: &mut secops_store::Store| {
        s.alerts(&secops_store::AlertFilter {
            rule: Some(rule.clone()),
            ..secops_store::AlertFilter::default()
        })
        .unwrap()
        .len()
    };
    let before = count(&mut store);
    let run = |expires_at: Option<i64>| {
        let dir = tempfile::tempdir().unwrap();
        let mut store =
            secops_store::Store::open(&dir.path().join("b.db").display().to_string()).unwrap();
        store
            .add_exception(
                &secops_store::NewException {
                    rule_id: rule.clone(),
                    field: field.clone(),
                    value: value.clone(),
                    reason: "test".into(),
                    alert_id: None,
                    expires_at,
                },
                "ana",
                0,
            )
            .unwrap();
        super::detect_samples(&mut store);
        count(&mut store)
    };
    let excepted = run(None);
    assert!(
        excepted < before,
        "{rule}: {excepted} alerts with the exception, {before} without"
    );
    let expired = run(Some(1));
    assert_eq!(expired, before, "an expired exception changes nothing");
}

/// Intel search, the risk ranking and an entity's page, the metrics with the volume chart, the
/// users page (a user added, a key whose secret is shown once, then revoked).
#[tokio::test(flavor = "multi_thread")]
async fn intel_entities_metrics_and_administration_pages() {
    let h = Harness::sqlite();
    let root = h.sign_in("root").await;
    let engineer = super::Auth::Key(h.key_for("root", "engineer"));
    let body = serde_json::json!({"source": "feed", "format": "list", "text": "203.0.113.9\nevil.example\n"});
    let imported = h
        .call(Method::POST, "/api/v1/intel/import", &engineer, Some(body))
        .await;
    assert_eq!(imported.status, StatusCode::OK, "{}", imported.body);
    let intel = h.get("/intel?value=203.0.113", &root).await;
    assert_eq!(intel.status, StatusCode::OK, "{}", intel.text);
    assert!(intel.text.contains("203.0.113.9") && !intel.text.contains("evil.example"));
    // Risk as detection with entities records it, on a host the alerts name.
    let host = h
        .with_store(|s| s.alerts(&open_alerts()))
        .unwrap()
        .iter()
        .find_map(|a| {
            h.with_store(|s| s.alert_entities(a.id))
                .unwrap()
                .into_iter()
                .find(|(k, _)| k == "host")
        })
        .unwrap()
        .1;
    h.with_store(|s| {
        s.record_risk(&[secops_store::RiskContribution {
            kind: "host".into(),
            entity: host.clone(),
            alert_id: "a1".into(),
            rule: "Brute force <b>".into(),
            points: 40.0,
            at: h.clock.now().unix_nanos() - super::MINUTE,
            tactics: vec![],
            sources: vec![],
        }])
    })
    .unwrap();
    let risk = h.get("/risk?kind=host", &root).await;
    assert!(
        risk.text.contains("Brute force &#60;b&#62;")
            || risk.text.contains("Brute force &lt;b&gt;")
    );
    assert_eq!(risk.status, StatusCode::OK);
    let href = attribute(
        &risk.text[risk.text.find("/entities/host/").unwrap() - 10..],
        "href",
    )
    .unwrap();
    let entity = h.get(&href, &root).await;
    assert_eq!(entity.status, StatusCode::OK);
    assert!(
        entity.text.contains("Newest alerts naming it") && entity.text.contains("data-alert=\"")
    );
    // A name with a space and a backslash links to its own page, not to a name with a `+`.
    h.with_store(|s| {
        s.record_risk(&[secops_store::RiskContribution {
            kind: "host".into(),
            entity: "build host\\7".into(),
            alert_id: "a2".into(),
            rule: "Brute force".into(),
            points: 10.0,
            at: h.clock.now().unix_nanos() - super::MINUTE,
            tactics: vec![],
            sources: vec![],
        }])
    })
    .unwrap();
    let risk = h.get("/risk?kind=host", &root).await;
    assert!(
        risk.text
            .contains("href=\"/entities/host/build%20host%5C7\""),
        "{}",
        risk.text
    );
    let spaced = h.get("/entities/host/build%20host%5C7", &root).await;
    assert!(
        spaced.text.contains("build host\\7") && spaced.text.contains("<dd>10.0</dd>"),
        "{}",
        spaced.text
    );
    let metrics = h.get("/metrics?days=90", &root).await;
    assert_eq!(metrics.status, StatusCode::OK);
    assert!(metrics.text.contains("MTTD"));
    let users = h
        .post(
            "/admin/users",
            &root,
            &[
                ("name", "bob"),
                ("role", "responder"),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(users.status, StatusCode::SEE_OTHER, "{}", users.text);
    // Bob's role changed and his account disabled through the row's form.
    let changed = h
        .post(
            "/admin/users/bob",
            &root,
            &[("role", "viewer"), ("disabled", "1")],
        )
        .await;
    assert_eq!(changed.status, StatusCode::SEE_OTHER, "{}", changed.text);
    let bob = h.with_store(|s| s.user("bob")).unwrap().unwrap();
    assert_eq!(bob.role, "viewer");
    assert!(bob.disabled);
    let key = h
        .post(
            "/admin/keys",
            &root,
            &[("name", "soar"), ("role", "analyst"), ("days", "30")],
        )
        .await;
    assert_eq!(key.status, StatusCode::OK, "{}", key.text);
    let secret = attribute(
        &format!("x=\"{}", &key.text[key.text.find("secops_").unwrap()..]),
        "x",
    )
    .unwrap();
    let secret = secret.split('<').next().unwrap().to_string();
    assert!(secret.starts_with("secops_"));
    let again = h.get("/admin/users", &root).await;
    assert!(
        !again.text.contains(&secret),
        "a key's secret is shown once"
    );
    assert!(again.text.contains(">bob<"));
    let key_id = h
        .with_store(|s| s.api_keys())
        .unwrap()
        .into_iter()
        .find(|k| k.name == "soar")
        .unwrap()
        .key_id;
    let revoked = h
        .post(&format!("/admin/keys/{key_id}/revoke"), &root, &[])
        .await;
    assert_eq!(revoked.status, StatusCode::SEE_OTHER);
    assert!(h
        .with_store(|s| s.api_keys())
        .unwrap()
        .iter()
        .any(|k| k.key_id == key_id && k.revoked_at.is_some()));
    // An analyst sees neither page.
    let ana = h.sign_in("ana").await;
    assert_eq!(
        h.get("/admin/users", &ana).await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        h.get("/admin/audit", &ana).await.status,
        StatusCode::FORBIDDEN
    );
}

/// Alerts of a rule made for a drill: `n` of them, each from its own source address, last seen
/// `age` before now (recorded as detection records alerts, from a real alert's document).
fn drill_alerts(h: &Harness, rule_id: &str, rule_name: &str, n: usize, age: i64) {
    let real = h
        .with_store(|s| s.alerts(&open_alerts()))
        .unwrap()
        .remove(0);
    let now = h.clock.now().unix_nanos();
    let alerts: Vec<secops_store::NewAlert> = (0..n)
        .map(|i| {
            let ip = format!("203.0.113.{}", i % 250 + 1);
            let user = format!("vpn-user-{i:03}");
            let mut document: serde_json::Value = serde_json::from_str(&real.document).unwrap();
            document["group"] = serde_json::json!({ "source.ip": ip });
            document["events"] = serde_json::json!([{
                "@timestamp": "2026-12-06T08:00:00Z",
                "event.outcome": "failure",
                "source.ip": ip,
                "user.name": user,
                "host.name": "vpn-gw-1",
            }]);
            let at = now - age - i as i64 * 1_000_000_000;
            secops_store::NewAlert {
                rule_id: rule_id.into(),
                rule_name: rule_name.into(),
                rule_version: 1,
                severity: if i % 3 == 0 { "high" } else { "medium" }.into(),
                risk_score: 60,
                group_key: format!("source.ip={ip}"),
                first_seen: at - super::MINUTE,
                last_seen: at,
                event_count: 5 + i as u64 % 7,
                dedupe_window: 0,
                document: document.to_string(),
            }
        })
        .collect();
    h.with_store(|s| s.record_alerts(&alerts, "drill", now))
        .unwrap();
}

/// Where the browser test's npm packages are.
fn browser_dir() -> std::path::PathBuf {
    secops_testkit::repo_root().join("crates/server/tests/browser")
}

/// An analyst's session in headless Chromium (Playwright from npm, Debian's chromium): signing in,
/// keyboard triage (30 acknowledged, timed), a close and an escalation from the dialogs, a merge
/// into an existing case, 100 alerts closed in bulk with a reason, an alert's page, a hunt run and
/// attached, the case worked, its report downloaded and the case closed, the audit entries, and
/// the same queue without JavaScript; attacker-written text checked inert in the DOM. The store
/// is checked afterwards for every change the session made.
#[test]
fn the_console_in_a_real_browser() {
    let dir = browser_dir();
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    let ready = dir.join("node_modules/playwright-core").exists()
        && std::path::Path::new(&chromium).exists();
    let why = || {
        format!(
            "the browser test needs `npm ci` in {} and Chromium at {chromium} (.ci/run installs both)",
            dir.display()
        )
    };
    if secops_testkit::require(ready.then_some(()), why).is_none() {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let lake = super::sample_lake(work.path());
    let target = work.path().join("secops.db").display().to_string();
    let respond = work.path().join("respond.toml");
    std::fs::write(
        &respond,
        r#"
[[connector]]
name = "helpdesk"
kind = "command"
program = "/usr/bin/python3"
args = ["-c", "pass"]

[[action]]
id = "disable-account"
target = "user"
connector = "helpdesk"
approval = "always"
params = { args = ["{{ target }}"] }
"#,
    )
    .unwrap();
    let h = Harness::on(
        target,
        work,
        super::Settings {
            lake: Some(lake),
            respond: Some(secops_service::respond::ResponderSources {
                config: respond,
                ..Default::default()
            }),
            ..super::Settings::default()
        },
    );
    // A response ana asked for, for root to approve in the browser.
    let responder = h.state.responder.clone().unwrap();
    let clock = h.clock.clone();
    let response_run = super::blocking(|| {
        h.with_store(|store| {
            secops_service::respond::request(
                store,
                &responder,
                &secops_service::respond::HandRequest {
                    action: "disable-account".into(),
                    target: "svc-backup".into(),
                    ..Default::default()
                },
                &secops_service::Actor::user("ana"),
                clock.as_ref(),
            )
            .unwrap()
            .run
            .unwrap()
            .id
        })
    });
    // The hostile alert first: it takes the rule of the newest sample alert, not a drill's.
    let hostile = hostile_alert(&h);
    drill_alerts(
        &h,
        "console-keyboard-drill",
        "VPN logon failures (keyboard drill)",
        40,
        super::MINUTE,
    );
    drill_alerts(
        &h,
        "console-bulk-drill",
        "VPN logon failures (bulk drill)",
        100,
        2 * 86_400 * 1_000_000_000,
    );
    let server = secops_server::spawn(h.app.clone(), "127.0.0.1:0".parse().unwrap(), None).unwrap();
    let mut node = std::process::Command::new("node");
    // Screenshots for the README when asked (SECOPS_SHOTS=docs/console).
    if let Ok(shots) = std::env::var("SECOPS_SHOTS") {
        node.env("SECOPS_SHOTS", secops_testkit::repo_root().join(shots));
    }
    let output = node
        .arg(dir.join("console.mjs"))
        .env("SECOPS_URL", format!("http://{}", server.address))
        .env("SECOPS_USER", "root")
        .env("SECOPS_PASSWORD", PASSWORD)
        .env("SECOPS_KB_RULE", "console-keyboard-drill")
        .env("SECOPS_BULK_RULE", "console-bulk-drill")
        .env("SECOPS_HOSTILE", hostile.to_string())
        .env("SECOPS_RUN", response_run.to_string())
        .env(
            "SECOPS_HUNT",
            "FROM events\n| WHERE event.outcome == \"failure\"\n| STATS n = count(*) BY source.ip\n| SORT n DESC",
        )
        .env("CHROMIUM", &chromium)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "the browser session failed:\n{stderr}"
    );
    let measured: serde_json::Value = serde_json::from_slice(output.stdout.trim_ascii()).unwrap();
    eprintln!("{stderr}measured: {measured}");
    // The keyboard keeps up with an analyst: at least 30 triage actions a minute.
    assert!(
        measured["triage_per_minute"].as_f64().unwrap() >= 30.0,
        "{measured}"
    );
    // What the session did is in the store.
    let of = |rule: &str, status| {
        h.alert_ids(secops_store::AlertFilter {
            rule: Some(rule.into()),
            status: Some(status),
            ..secops_store::AlertFilter::default()
        })
        .len()
    };
    use secops_store::AlertStatus::{Acknowledged, Closed};
    assert_eq!(of("console-bulk-drill", Closed), 100);
    let closed = h
        .with_store(|s| {
            s.alerts(&secops_store::AlertFilter {
                rule: Some("console-bulk-drill".into()),
                ..secops_store::AlertFilter::default()
            })
        })
        .unwrap();
    assert!(closed
        .iter()
        .all(|a| a.resolution.as_deref() == Some("benign")));
    // 30 from the keyboard, one through the form without JavaScript.
    assert_eq!(of("console-keyboard-drill", Acknowledged), 31);
    // One closed from the dialog; the two merged into the case closed with it.
    assert_eq!(of("console-keyboard-drill", Closed), 3);
    let number = measured["case"].as_i64().unwrap();
    let case = h.with_store(|s| s.case(number)).unwrap();
    assert_eq!(case.state, "closed");
    assert_eq!(h.with_store(|s| s.case_alert_ids(number)).unwrap().len(), 2);
    assert_eq!(h.with_store(|s| s.evidence(number)).unwrap().len(), 1);
    let approved = h.with_store(|s| s.response_run(response_run)).unwrap();
    assert_eq!(
        (approved.state.as_str(), approved.decided_by.as_deref()),
        ("approved", Some("root"))
    );
    assert_eq!(
        approved.decision_note.as_deref(),
        Some("owner confirmed by phone")
    );
    server.stop().unwrap();
}

/// The pages as a person reads them, kept as snapshots: the sign-in page, a queue grouped and
/// listed, an alert's page, a case's page, a refusal. Ids, the CSRF token and the build's version
/// are masked; the data is the drill's, the clock the harness's.
#[tokio::test(flavor = "multi_thread")]
async fn pages_read_as_their_snapshots() {
    let h = Harness::sqlite();
    drill_alerts(
        &h,
        "console-keyboard-drill",
        "VPN logon failures (keyboard drill)",
        6,
        super::MINUTE,
    );
    let ana = h.sign_in("ana").await;
    let drill = h.alert_ids(secops_store::AlertFilter {
        rule: Some("console-keyboard-drill".into()),
        ..secops_store::AlertFilter::default()
    });
    let opened = h
        .post(
            "/cases",
            &ana,
            &[
                ("title", "Password spraying against the VPN"),
                ("severity", "high"),
            ],
        )
        .await;
    let case = opened.location().to_string();
    h.post(
        &format!("{case}/notes"),
        &ana,
        &[("text", "Source 203.0.113.9 tried 40 accounts.")],
    )
    .await;
    h.post(
        &format!("{case}/alerts"),
        &ana,
        &[("ids", &drill[0].to_string())],
    )
    .await;
    let login = h.page(Method::GET, "/login", None, None, &[]).await;
    let queue = h
        .get(
            "/alerts?status=open&rule=console-keyboard-drill&group=severity&limit=4",
            &ana,
        )
        .await;
    let alert = h.get(&format!("/alerts/{}", drill[1]), &ana).await;
    let case_page = h.get(&case, &ana).await;
    let refused = h.get("/admin/audit", &ana).await;
    let filters = vec![
        (r#"data-csrf="[0-9a-f]+""#, r#"data-csrf="[csrf]""#),
        (
            r#"X-CSRF-Token": "[0-9a-f]+""#,
            r#"X-CSRF-Token": "[csrf]""#,
        ),
        (
            r#"name="csrf" value="[0-9a-f]+""#,
            r#"name="csrf" value="[csrf]""#,
        ),
        (r"\?v=[0-9.]+", "?v=[version]"),
        (r"alert-\d+", "alert-[id]"),
        (r"/alerts/\d+", "/alerts/[id]"),
        (r"/cases/id/\d+", "/cases/id/[id]"),
        (r#"value="\d+""#, r#"value="[id]""#),
        (r"Select alert \d+", "Select alert [id]"),
        (r"(alert|Alert) \d+", "$1 [id]"),
        (r"after=[0-9.]+", "after=[cursor]"),
    ];
    insta::with_settings!({ filters => filters }, {
        insta::assert_snapshot!("login", login.text);
        insta::assert_snapshot!("queue", queue.text);
        insta::assert_snapshot!("alert", alert.text);
        insta::assert_snapshot!("case", case_page.text);
        insta::assert_snapshot!("refused", refused.text);
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vulnerability_pages_filter_accept_close_and_show_findings_inert() {
    let Some(corpus) = secops_testkit::shared("corpus/vuln") else {
        return;
    };
    let h = Harness::sqlite();
    // The real Nessus scan, and a Trivy report whose first title is markup and a terminal escape.
    let dir = tempfile::tempdir().unwrap();
    let mut trivy: serde_json::Value =
        serde_json::from_slice(&std::fs::read(corpus.join("trivy/alpine-310.json")).unwrap())
            .unwrap();
    trivy["Results"][0]["Vulnerabilities"][0]["Title"] =
        serde_json::Value::from("<script>alert(1)</script> \u{1b}[31mred");
    let hostile = dir.path().join("trivy.json");
    std::fs::write(&hostile, serde_json::to_vec(&trivy).unwrap()).unwrap();
    let files = vec![corpus.join("nessus/dd-nessus_with_cvssv3.nessus"), hostile];
    super::blocking(|| {
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
            .unwrap();
            secops_service::vuln_refresh::refresh(
                store,
                &corpus
                    .join("kev/known_exploited_vulnerabilities.json")
                    .display()
                    .to_string(),
                None,
                &Default::default(),
                &secops_service::SystemClock,
            )
            .unwrap()
        })
    });
    let now = h.clock.now().unix_nanos();
    h.with_store(|s| users::add_user(s, &h.roles, "rita", "responder", PASSWORD, now, None))
        .unwrap();
    let rita = h.sign_in("rita").await;
    let ana = h.sign_in("ana").await;
    // No alert on the scanned host: its risk is what its open findings add (half their summed
    // risk: the KEV one's, the rest having no EPSS score), named by the riskiest.
    let (open_risk, open_count) = h.with_store(|s| {
        let open = s
            .vuln_findings(&secops_store::FindingFilter {
                statuses: vec!["open".into()],
                asset: Some("testphp.vulnweb.com".into()),
                ..Default::default()
            })
            .unwrap();
        (
            open.iter().map(|f| f.priority.risk).sum::<f64>(),
            open.len(),
        )
    });
    assert!(open_risk > 0.0);
    let host = h.get("/entities/host/testphp.vulnweb.com", &rita).await;
    assert!(
        host.text.contains(&format!(
            "<dt>From open vulnerabilities</dt><dd>{:.1} ({open_count} open vulnerabilities: \
             CVE-2012-1823",
            (open_risk / 2.0).min(50.0)
        )),
        "{}",
        host.text
    );
    // The queue, riskiest first; the KEV filter leaves the one KEV finding.
    let queue = h.get("/vulns", &rita).await;
    assert_eq!(queue.status, StatusCode::OK, "{}", queue.text);
    assert!(queue.text.contains("CVE-2012-1823"));
    assert!(queue
        .text
        .contains("<legend>Change the findings checked</legend>"));
    let kev = h.get("/vulns?kev=1", &rita).await;
    assert_eq!(
        kev.text.matches("class=\"pick\"><label>").count(),
        1,
        "{}",
        kev.text
    );
    // An analyst reads the queue but has no controls to change it.
    let read_only = h.get("/vulns", &ana).await;
    assert_eq!(read_only.status, StatusCode::OK);
    assert!(!read_only.text.contains("Change the findings checked"));
    // Hostile text from a report is inert on the queue and the finding's page.
    let hostile_id = h.with_store(|s| {
        s.vuln_findings(&secops_store::FindingFilter {
            tool: Some("trivy".into()),
            ..Default::default()
        })
        .unwrap()
        .into_iter()
        .find(|f| f.title.contains("<script>"))
        .unwrap()
        .id
    });
    let all = h.get("/vulns?tool=trivy", &rita).await;
    for page in [&all, &h.get(&format!("/vulns/{hostile_id}"), &rita).await] {
        assert_inert(&page.text, "a finding's title");
        assert!(!page.text.contains("<script>alert(1)"), "{}", page.text);
        assert!(
            page.text.contains("alert(1)"),
            "the title is shown, as text"
        );
    }
    // Bulk: two accepted until a date, then one closed as a false positive; the page says so.
    let ids = h.with_store(|s| {
        s.vuln_findings(&secops_store::FindingFilter {
            statuses: vec!["open".into()],
            tool: Some("nessus".into()),
            limit: Some(3),
            ..Default::default()
        })
        .unwrap()
        .into_iter()
        .map(|f| f.id.to_string())
        .collect::<Vec<_>>()
    });
    let accepted = h
        .post(
            "/vulns/bulk",
            &rita,
            &[
                ("action", "accept"),
                ("id", &ids[0]),
                ("id", &ids[1]),
                ("owner", "web team"),
                ("reason", "behind the WAF"),
                ("until", "2099-12-31"),
                ("return", "/vulns?tool=nessus"),
            ],
        )
        .await;
    assert_eq!(accepted.status, StatusCode::SEE_OTHER, "{}", accepted.text);
    let back = h.get(accepted.location(), &rita).await;
    assert!(back.text.contains("2 findings accepted"), "{}", back.text);
    let closed = h
        .post(
            "/vulns/bulk",
            &rita,
            &[
                ("action", "close"),
                ("id", &ids[2]),
                ("id", &ids[0]),
                ("resolution", "false_positive"),
                ("note", "lab"),
            ],
        )
        .await;
    let back = h.get(closed.location(), &rita).await;
    assert!(back.text.contains("2 findings closed"), "{}", back.text);
    let statuses: Vec<String> = ids
        .iter()
        .map(|id| h.with_store(|s| s.vuln_finding(id.parse().unwrap()).unwrap().status))
        .collect();
    assert_eq!(statuses, ["false_positive", "accepted", "false_positive"]);
    // The analyst's bulk change is refused by the guard.
    let refused = h
        .post(
            "/vulns/bulk",
            &ana,
            &[
                ("action", "close"),
                ("id", &ids[1]),
                ("resolution", "fixed"),
            ],
        )
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    // The finding's page shows why it ranks and its history; the host's page its findings.
    let detail = h.get(&format!("/vulns/{}", ids[1]), &rita).await;
    assert!(detail.text.contains("Why this risk") && detail.text.contains("accepted"));
    let host = h.get("/entities/host/testphp.vulnweb.com", &rita).await;
    assert_eq!(host.status, StatusCode::OK, "{}", host.text);
    assert!(host.text.contains("Open vulnerability findings"));
    let still_open = h.with_store(|s| {
        s.vuln_findings(&secops_store::FindingFilter {
            statuses: vec!["open".into()],
            tool: Some("nessus".into()),
            limit: Some(1),
            ..Default::default()
        })
        .unwrap()[0]
            .id
    });
    assert!(
        host.text.contains(&format!("/vulns/{still_open}\"")),
        "{}",
        host.text
    );
    assert!(
        !host.text.contains("CVE-2012-1823"),
        "closed findings are not listed"
    );
    let filters = vec![
        (r#"data-csrf="[0-9a-f]+""#, r#"data-csrf="[csrf]""#),
        (
            r#"X-CSRF-Token": "[0-9a-f]+""#,
            r#"X-CSRF-Token": "[csrf]""#,
        ),
        (
            r#"name="csrf" value="[0-9a-f]+""#,
            r#"name="csrf" value="[csrf]""#,
        ),
        (r"\?v=[0-9.]+", "?v=[version]"),
        (r"\d{4}-\d\d-\d\d( \d\d:\d\d:\d\d)?", "[date]"),
        (r"\d+ days late", "[n] days late"),
    ];
    let kev_page = h.get("/vulns?kev=1", &rita).await;
    let one = h.get(&format!("/vulns/{}", ids[1]), &rita).await;
    insta::with_settings!({ filters => filters }, {
        insta::assert_snapshot!("vulns", kev_page.text);
        insta::assert_snapshot!("vuln", one.text);
    });
}

/// Response automation's pages: the runs, an alert's evaluations with the guard that stopped one,
/// a run whole with its exact request (hostile alert text inert in it), approval refused to the
/// requester and to a role without it, given by another responder, and the notice that follows.
#[tokio::test(flavor = "multi_thread")]
async fn response_pages_list_explain_and_take_another_persons_approval() {
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
params = { args = ["{{ target }}", "for {{ alert.user.name }}"] }

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
        super::Settings {
            respond: Some(secops_service::respond::ResponderSources {
                config,
                ..Default::default()
            }),
            ..super::Settings::default()
        },
    );
    let hostile = hostile_alert(&h);
    let now = h.clock.now().unix_nanos();
    h.with_store(|s| users::add_user(s, &h.roles, "rita", "responder", PASSWORD, now, None))
        .unwrap();
    let responder = h.state.responder.clone().unwrap();
    let clock = h.clock.clone();
    let (asked, evaluated) = super::blocking(|| {
        h.with_store(|store| {
            let asked = secops_service::respond::request(
                store,
                &responder,
                &secops_service::respond::HandRequest {
                    action: "disable-account".into(),
                    target: "svc-backup".into(),
                    alert_id: Some(hostile),
                    ..Default::default()
                },
                &secops_service::Actor::user("root"),
                clock.as_ref(),
            )
            .unwrap();
            let alert = store.alert(hostile).unwrap();
            let evaluated = secops_service::respond::evaluate_alert(
                store,
                &responder,
                &alert,
                &secops_service::Actor::service("secops-run"),
                clock.as_ref(),
            )
            .unwrap();
            (asked, evaluated)
        })
    });
    let run = asked.run.unwrap().id;
    // The hostile alert's source is a documentation address: the guard stops the block.
    assert_eq!(evaluated[0].guard.as_deref(), Some("special range"));
    let root = h.sign_in("root").await;
    let rita = h.sign_in("rita").await;
    let ana = h.sign_in("ana").await;

    let list = h.get("/responses", &rita).await;
    assert_eq!(list.status, StatusCode::OK, "{}", list.text);
    assert!(list.text.contains(&format!("href=\"/responses/{run}\"")));
    let why = h.get(&format!("/responses?alert={hostile}"), &rita).await;
    assert!(why.text.contains("special range") && why.text.contains("awaiting_approval"));
    assert_inert(&why.text, "an alert's responses");
    let one = h.get(&format!("/responses/{run}"), &rita).await;
    assert!(one.text.contains("data-request") && one.text.contains("svc-backup"));
    assert!(one.text.contains("Approve"), "{}", one.text);
    assert_inert(&one.text, "a run's request");
    // The alert's page links to it.
    let alert_page = h.get(&format!("/alerts/{hostile}"), &rita).await;
    assert!(alert_page
        .text
        .contains(&format!("/responses?alert={hostile}")));

    let decide = format!("/responses/{run}/decide");
    let own = h.post(&decide, &root, &[("decision", "approve")]).await;
    assert_eq!(own.status, StatusCode::BAD_REQUEST);
    assert!(own.text.contains("cannot approve it"), "{}", own.text);
    let analyst = h.post(&decide, &ana, &[("decision", "approve")]).await;
    assert_eq!(analyst.status, StatusCode::FORBIDDEN);
    let approved = h
        .post(
            &decide,
            &rita,
            &[("decision", "approve"), ("note", "owner confirmed")],
        )
        .await;
    assert_eq!(approved.status, StatusCode::SEE_OTHER, "{}", approved.text);
    assert_eq!(
        approved.location(),
        format!("/responses/{run}?done=approved")
    );
    let after = h.get(approved.location(), &rita).await;
    assert!(after.text.contains("Approved: secops run carries it out"));
    assert!(after.text.contains("owner confirmed"));
    assert!(
        !after.text.contains("name=\"decision\""),
        "no second decision"
    );

    // A request by hand from the form: offered to a responder, not to an analyst; a documentation
    // address stopped by its guard (the notice says which), a dry run on to its recorded request.
    assert!(list.text.contains("data-request-form"), "{}", list.text);
    assert!(
        list.text.contains("value=\"block-source\"") && !list.text.contains("value=\"unblock"),
        "{}",
        list.text
    );
    let analyst_list = h.get("/responses", &ana).await;
    assert!(!analyst_list.text.contains("data-request-form"));
    let by_analyst = h
        .post(
            "/responses",
            &ana,
            &[("action", "block-source"), ("target", "203.0.113.50")],
        )
        .await;
    assert_eq!(by_analyst.status, StatusCode::FORBIDDEN);
    let stopped = h
        .post(
            "/responses",
            &rita,
            &[("action", "block-source"), ("target", "203.0.113.50")],
        )
        .await;
    assert_eq!(stopped.status, StatusCode::SEE_OTHER, "{}", stopped.text);
    assert!(stopped.location().starts_with("/responses?done=stopped"));
    let told = h.get(stopped.location(), &rita).await;
    assert!(
        told.text.contains("Not run: the special range guard")
            && told.text.contains("203.0.113.0/24"),
        "{}",
        told.text
    );
    let unusable = h
        .post(
            "/responses",
            &rita,
            &[("action", "block-source"), ("target", "not an address")],
        )
        .await;
    assert_eq!(
        unusable.status,
        StatusCode::BAD_REQUEST,
        "{}",
        unusable.text
    );
    let dry = h
        .post(
            "/responses",
            &rita,
            &[
                ("action", "disable-account"),
                ("target", "svc-<b>report</b>"),
                ("alert", &hostile.to_string()),
                ("dry_run", "1"),
            ],
        )
        .await;
    assert_eq!(dry.status, StatusCode::SEE_OTHER, "{}", dry.text);
    assert!(
        dry.location().ends_with("?done=dry_run"),
        "{}",
        dry.location()
    );
    let dry_page = h.get(dry.location(), &rita).await;
    assert!(dry_page
        .text
        .contains("Dry run: the request below was built"));
    assert!(
        dry_page.text.contains("svc-&#60;b&#62;report"),
        "{}",
        dry_page.text
    );
    assert!(!dry_page.text.contains("<b>report"));
    assert_inert(&dry_page.text, "a dry run's request");

    // The replay: per action, what would have run and what stopped it; nothing recorded.
    let runs_before = h.with_store(|s| s.response_runs(&Default::default()).unwrap().len());
    let replay = h.get("/responses/simulate?since=3650d", &rita).await;
    assert_eq!(replay.status, StatusCode::OK, "{}", replay.text);
    assert!(
        replay.text.contains("data-action=\"block-source\""),
        "{}",
        replay.text
    );
    // Every stored alert starts the catch-all workflow; the documentation addresses among their
    // sources are stopped by the special-range guard.
    let total = h.with_store(|s| s.alerts(&Default::default()).unwrap().len());
    assert!(
        replay.text.contains(&format!(
            "<td>block-source</td><td class=\"num\">{total}</td>"
        )),
        "{}",
        replay.text
    );
    assert!(
        replay.text.contains("<td>special range "),
        "{}",
        replay.text
    );
    assert!(replay.text.contains("class=\"stopped\""), "{}", replay.text);
    let runs_after = h.with_store(|s| s.response_runs(&Default::default()).unwrap().len());
    assert_eq!(runs_before, runs_after);
    let bad_period = h.get("/responses/simulate?since=soon", &rita).await;
    assert_eq!(bad_period.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        h.get("/responses/simulate", &ana).await.status,
        StatusCode::FORBIDDEN
    );

    let filters = vec![
        (r#"data-csrf="[0-9a-f]+""#, r#"data-csrf="[csrf]""#),
        (
            r#"X-CSRF-Token": "[0-9a-f]+""#,
            r#"X-CSRF-Token": "[csrf]""#,
        ),
        (
            r#"name="csrf" value="[0-9a-f]+""#,
            r#"name="csrf" value="[csrf]""#,
        ),
        (r"\?v=[0-9.]+", "?v=[version]"),
        (r"\d{4}-\d\d-\d\d( \d\d:\d\d:\d\d)?", "[date]"),
    ];
    insta::with_settings!({ filters => filters }, {
        insta::assert_snapshot!("responses", why.text);
        insta::assert_snapshot!("response", after.text);
        insta::assert_snapshot!("responses_simulate", replay.text);
    });
}
