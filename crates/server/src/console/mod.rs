//! The web console: pages rendered on the server (askama templates, every value escaped), each
//! control a real link or form first so every page works without JavaScript, and htmx (vendored,
//! embedded) swapping fragments when it is there (`HX-Request`, answered with `Vary: HX-Request`).
//! Pages call the service as the signed-in person, as the JSON API does; a page's permission is
//! declared beside its route below and enforced by the same check as the API's, with the session's
//! CSRF token read from the form (or htmx's header) for every change.
//!
//! Read in this order: this file (the routes and their permissions, the guard, answering with a
//! page), `view.rs` (the layout and the text a page shows), `form.rs` (form fields), then one module
//! per area.

mod admin;
mod alerts;
pub mod assets;
mod cases;
mod form;
mod hunts;
mod insight;
mod responses;
mod rules;
mod session;
mod view;
mod vulns;

use axum::extract::{Request, State};
use axum::handler::Handler;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Router;
use secops_auth::role;

use crate::auth;
use crate::error::ApiError;
use crate::permissions::Access;
use crate::state::AppState;

pub use view::PageError;

/// The Content-Security-Policy of every page: scripts, styles and requests to this server only, no
/// inline script or style, no framing, forms posted only here.
pub const PAGE_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; \
     base-uri 'none'";

/// The console's routes and the access each needs, built together so neither can miss one.
#[derive(Debug)]
pub struct Pages {
    router: Router<AppState>,
    table: Vec<(&'static str, &'static str, Access)>,
}

impl Pages {
    fn new() -> Pages {
        Pages {
            router: Router::new(),
            table: Vec::new(),
        }
    }

    fn get<H, T>(mut self, path: &'static str, access: Access, handler: H) -> Pages
    where
        H: Handler<T, AppState>,
        T: 'static,
    {
        self.router = self.router.route(path, axum::routing::get(handler));
        self.table.push(("get", path, access));
        self
    }

    fn post<H, T>(mut self, path: &'static str, access: Access, handler: H) -> Pages
    where
        H: Handler<T, AppState>,
        T: 'static,
    {
        self.router = self.router.route(path, axum::routing::post(handler));
        self.table.push(("post", path, access));
        self
    }

    /// Every route's method, path and access.
    pub fn table(&self) -> &[(&'static str, &'static str, Access)] {
        &self.table
    }

    /// The router, each route behind the console's guard.
    pub fn into_router(self, state: AppState) -> Router<AppState> {
        self.router
            .route_layer(axum::middleware::from_fn_with_state(state, guard))
    }
}

/// Every page and form of the console.
pub fn pages() -> Pages {
    use Access::{Needs, Public, SignedIn};
    Pages::new()
        .get("/static/{name}", Public, assets::serve)
        .get("/favicon.ico", Public, assets::favicon)
        .get("/login", Public, session::login_page)
        .post("/login", Public, session::login)
        .post("/logout", SignedIn, session::logout)
        .get("/", SignedIn, session::home)
        .get("/alerts", Needs(role::ALERTS_READ), alerts::queue)
        .get(
            "/alerts/export.csv",
            Needs(role::ALERTS_READ),
            alerts::export,
        )
        .post("/alerts/bulk", Needs(role::ALERTS_TRIAGE), alerts::bulk)
        .post("/alerts/view", Needs(role::ALERTS_READ), alerts::save_view)
        .get("/alerts/{id}", Needs(role::ALERTS_READ), alerts::detail)
        .get(
            "/alerts/{id}/top",
            Needs(role::ALERTS_READ),
            alerts::top_values,
        )
        .post(
            "/alerts/{id}/acknowledge",
            Needs(role::ALERTS_TRIAGE),
            alerts::acknowledge,
        )
        .post(
            "/alerts/{id}/close",
            Needs(role::ALERTS_TRIAGE),
            alerts::close,
        )
        .post(
            "/alerts/{id}/assign",
            Needs(role::ALERTS_TRIAGE),
            alerts::assign,
        )
        .post("/alerts/{id}/tags", Needs(role::ALERTS_TRIAGE), alerts::tag)
        .post(
            "/alerts/{id}/escalate",
            Needs(role::CASES_WRITE),
            alerts::escalate,
        )
        .post(
            "/alerts/{id}/exception",
            Needs(role::ALERTS_TRIAGE),
            alerts::add_exception,
        )
        .post(
            "/alerts/{id}/noisy",
            Needs(role::ALERTS_TRIAGE),
            alerts::noisy,
        )
        .get("/responses", Needs(role::ALERTS_READ), responses::list)
        .post(
            "/responses",
            Needs(role::RESPONSES_REQUEST),
            responses::request,
        )
        .get(
            "/responses/simulate",
            Needs(role::RESPONSES_REQUEST),
            responses::simulate,
        )
        .get(
            "/responses/{id}",
            Needs(role::ALERTS_READ),
            responses::detail,
        )
        .post(
            "/responses/{id}/decide",
            Needs(role::RESPONSES_APPROVE),
            responses::decide,
        )
        .post(
            "/responses/{id}/rollback",
            Needs(role::RESPONSES_REQUEST),
            responses::rollback,
        )
        .get("/vulns", Needs(role::VULNS_READ), vulns::queue)
        .post("/vulns/bulk", Needs(role::VULNS_ACCEPT), vulns::bulk)
        .get("/vulns/{id}", Needs(role::VULNS_READ), vulns::detail)
        .get("/cases", Needs(role::CASES_READ), cases::list)
        .post("/cases", Needs(role::CASES_WRITE), cases::open)
        .get("/cases/id/{id}", Needs(role::CASES_READ), cases::by_id)
        .get("/cases/{number}", Needs(role::CASES_READ), cases::show)
        .post(
            "/cases/{number}/state",
            Needs(role::CASES_WRITE),
            cases::move_to,
        )
        .post(
            "/cases/{number}/assign",
            Needs(role::CASES_WRITE),
            cases::assign,
        )
        .post(
            "/cases/{number}/tasks",
            Needs(role::CASES_WRITE),
            cases::add_task,
        )
        .post(
            "/cases/{number}/tasks/{task}",
            Needs(role::CASES_WRITE),
            cases::set_task,
        )
        .post(
            "/cases/{number}/observables",
            Needs(role::CASES_WRITE),
            cases::add_observable,
        )
        .post(
            "/cases/{number}/timeline",
            Needs(role::CASES_WRITE),
            cases::add_timeline_entry,
        )
        .post(
            "/cases/{number}/notes",
            Needs(role::CASES_WRITE),
            cases::add_note,
        )
        .post(
            "/cases/{number}/alerts",
            Needs(role::CASES_WRITE),
            cases::add_alerts,
        )
        .post(
            "/cases/{number}/close",
            Needs(role::CASES_CLOSE),
            cases::close,
        )
        .post(
            "/cases/{number}/reopen",
            Needs(role::CASES_CLOSE),
            cases::reopen,
        )
        .get("/hunts", Needs(role::HUNTS_RUN), hunts::form)
        .post("/hunts", Needs(role::HUNTS_RUN), hunts::run)
        .post("/hunts/save", Needs(role::HUNTS_SAVE), hunts::save)
        .post("/hunts/attach", Needs(role::CASES_WRITE), hunts::attach)
        .get("/rules", Needs(role::RULES_READ), rules::list)
        .get("/rules/coverage", Needs(role::RULES_READ), rules::coverage)
        .get(
            "/rules/exceptions.toml",
            Needs(role::RULES_READ),
            rules::export_exceptions,
        )
        .post(
            "/rules/tickets/{id}/close",
            Needs(role::RULES_WRITE),
            rules::close_ticket,
        )
        .post(
            "/rules/exceptions/{id}/remove",
            Needs(role::RULES_WRITE),
            rules::remove_exception,
        )
        .get("/intel", Needs(role::INTEL_READ), insight::intel)
        .get("/risk", Needs(role::ALERTS_READ), insight::risk)
        .get(
            "/entities/{kind}/{name}",
            Needs(role::ALERTS_READ),
            insight::entity,
        )
        .get("/metrics", Needs(role::CASES_READ), insight::metrics)
        .get("/admin/users", Needs(role::USERS_ADMIN), admin::list)
        .post("/admin/users", Needs(role::USERS_ADMIN), admin::add)
        .post(
            "/admin/users/{name}",
            Needs(role::USERS_ADMIN),
            admin::change,
        )
        .post("/admin/keys", Needs(role::USERS_ADMIN), admin::create_key)
        .post(
            "/admin/keys/{key_id}/revoke",
            Needs(role::USERS_ADMIN),
            admin::revoke_key,
        )
        .get("/admin/audit", Needs(role::AUDIT_READ), admin::audit)
}

/// A request htmx made for a fragment (not a boosted page load).
pub fn wants_fragment(headers: &HeaderMap) -> bool {
    headers.contains_key("hx-request") && !headers.contains_key("hx-boosted")
}

/// The console's guard on every route: who is calling (the session cookie), the CSRF token of a
/// change (htmx's header or the form's `csrf` field), the route's permission. Someone not signed in
/// is sent to the sign-in page; a refusal is a page saying why.
pub async fn guard(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let fragment = wants_fragment(request.headers());
    let (mut request, token) = match form::csrf_token(&state, request).await {
        Ok(read) => read,
        Err(e) => return e.into_response(),
    };
    match auth::identify(&state, &mut request, token).await {
        Ok(caller) => auth::admit(request, next, caller).await,
        Err(e) if e.status == StatusCode::UNAUTHORIZED => {
            let back = if request.method() == Method::GET {
                request
                    .uri()
                    .path_and_query()
                    .map(|p| p.as_str().to_string())
            } else {
                None
            };
            to_sign_in(back.as_deref(), fragment)
        }
        Err(e) => PageError::from(e).into_response(),
    }
}

/// To the sign-in page, coming back to `back` afterwards.
fn to_sign_in(back: Option<&str>, fragment: bool) -> Response {
    let target = match back.filter(|b| view::local_path(b)) {
        Some(back) if back != "/" => format!("/login?{}", view::query([("next", back)])),
        _ => "/login".to_string(),
    };
    if fragment {
        // htmx follows this header with a full page load.
        let mut response = StatusCode::OK.into_response();
        if let Ok(value) = HeaderValue::from_str(&target) {
            response.headers_mut().insert("hx-redirect", value);
        }
        return response;
    }
    view::see_other(&target)
}

/// A route nothing answers, as a page.
pub fn not_found() -> Response {
    PageError::from(ApiError::not_found("no such page")).into_response()
}
