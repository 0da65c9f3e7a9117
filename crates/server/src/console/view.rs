//! What every page shares: the layout around it (who is signed in, what they may open, the CSRF
//! token their forms carry), answering with a page or a fragment, errors as pages, and text made
//! safe to show (askama escapes HTML; control characters and bidirectional overrides are shown as
//! visible escapes, so log text cannot reorder or hide what is around it).

use std::borrow::Cow;

use askama::Template;
use axum::http::header::{CONTENT_TYPE, LOCATION};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use secops_auth::{role, Permission};

use crate::auth::Caller;
use crate::error::ApiError;
use crate::state::AppState;

/// A link of the navigation bar.
#[derive(Debug, Clone)]
pub struct Nav {
    pub href: &'static str,
    pub label: &'static str,
    pub current: bool,
}

/// The layout's part of a page.
#[derive(Debug, Clone, Default)]
pub struct Chrome {
    pub title: String,
    /// Signed in as (empty on the sign-in page).
    pub user: String,
    pub role: String,
    /// The session's CSRF token, in every form that changes something.
    pub csrf: String,
    pub nav: Vec<Nav>,
    /// Appended to asset addresses so a new build is fetched anew.
    pub version: &'static str,
}

const NAV: &[(&str, &str, Permission)] = &[
    ("/alerts", "Alerts", role::ALERTS_READ),
    ("/cases", "Cases", role::CASES_READ),
    ("/hunts", "Hunts", role::HUNTS_RUN),
    ("/rules", "Rules", role::RULES_READ),
    ("/intel", "Intel", role::INTEL_READ),
    ("/vulns", "Vulns", role::VULNS_READ),
    ("/responses", "Responses", role::ALERTS_READ),
    ("/risk", "Entities", role::ALERTS_READ),
    ("/metrics", "Metrics", role::CASES_READ),
    ("/admin/users", "Users", role::USERS_ADMIN),
    ("/admin/audit", "Audit", role::AUDIT_READ),
];

impl Chrome {
    /// The layout for `caller` on the page under `section` (`/alerts`).
    pub fn new(
        state: &AppState,
        caller: &Caller,
        section: &str,
        title: impl Into<String>,
    ) -> Chrome {
        let roles = &state.settings.roles;
        Chrome {
            title: title.into(),
            user: caller.principal.name.clone(),
            role: caller.principal.role.clone(),
            csrf: caller.csrf.clone().unwrap_or_default(),
            nav: NAV
                .iter()
                .filter(|(_, _, p)| roles.allows(&caller.principal.role, *p))
                .map(|(href, label, _)| Nav {
                    href,
                    label,
                    current: *href == section,
                })
                .collect(),
            version: env!("CARGO_PKG_VERSION"),
        }
    }

    /// The layout of a page for someone not signed in.
    pub fn anonymous(title: impl Into<String>) -> Chrome {
        Chrome {
            title: title.into(),
            version: env!("CARGO_PKG_VERSION"),
            ..Chrome::default()
        }
    }
}

/// May the caller do what `permission` allows (to show a control only to those who can use it)?
pub fn may(state: &AppState, caller: &Caller, permission: Permission) -> bool {
    state
        .settings
        .roles
        .allows(&caller.principal.role, permission)
}

/// A rendered page (or fragment) with the headers every page has.
pub fn html(template: &impl Template) -> Response {
    html_status(StatusCode::OK, template)
}

pub fn html_status(status: StatusCode, template: &impl Template) -> Response {
    match template.render() {
        Ok(body) => {
            let mut response = (status, body).into_response();
            let h = response.headers_mut();
            h.insert(
                CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            );
            h.insert(
                "content-security-policy",
                HeaderValue::from_static(super::PAGE_POLICY),
            );
            h.insert("vary", HeaderValue::from_static("HX-Request"));
            h.insert("referrer-policy", HeaderValue::from_static("same-origin"));
            response
        }
        Err(e) => ApiError::internal(format!("rendering a page: {e}")).into_response(),
    }
}

/// `303 See Other` to a path of this server.
pub fn see_other(target: &str) -> Response {
    let target = if local_path(target) { target } else { "/" };
    let mut response = StatusCode::SEE_OTHER.into_response();
    if let Ok(value) = HeaderValue::from_str(target) {
        response.headers_mut().insert(LOCATION, value);
    }
    response
}

/// A path on this server (`/alerts?...`), not another site (`//evil`, `https://...`, `/\evil`).
pub fn local_path(target: &str) -> bool {
    target.starts_with('/')
        && !target.starts_with("//")
        && !target.starts_with("/\\")
        && !target.chars().any(|c| c.is_control())
}

/// Text as a page shows it: control characters and bidirectional overrides as visible escapes
/// (askama then escapes the HTML).
pub fn shown(text: &str) -> Cow<'_, str> {
    secops_event::escape::terminal(text)
}

/// A time as pages show it: `2026-12-06 16:37:25` (UTC).
pub fn when(nanos: i64) -> String {
    let text = secops_event::Timestamp::from_unix_nanos(nanos).to_seconds();
    text.trim_end_matches('Z').replacen('T', " ", 1)
}

/// What a path segment keeps as it is: RFC 3986's unreserved characters.
const SEGMENT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Text as one segment of a path (`/entities/user/NT%20AUTHORITY%5CSYSTEM`): everything but
/// unreserved characters percent-encoded, which the router decodes back (a form's `+` for a space
/// would not be).
pub fn segment(text: &str) -> String {
    percent_encoding::utf8_percent_encode(text, SEGMENT).to_string()
}

/// A query string from pairs, empty values left out.
pub fn query<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    let mut out = form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        if !v.is_empty() {
            out.append_pair(k, v);
        }
    }
    out.finish()
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    chrome: Chrome,
    status: u16,
    reason: &'a str,
    message: &'a str,
}

/// A request the console could not serve, answered as a page saying why (or, for htmx, a fragment
/// saying why, which it shows in the page's notice area).
#[derive(Debug, Clone)]
pub struct PageError(pub ApiError);

impl PageError {
    pub fn invalid(message: impl Into<String>) -> PageError {
        PageError(ApiError::invalid(message))
    }
}

impl From<ApiError> for PageError {
    fn from(e: ApiError) -> Self {
        PageError(e)
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let e = self.0;
        let reason = e.status.canonical_reason().unwrap_or("Error");
        let page = ErrorPage {
            chrome: Chrome::anonymous(reason),
            status: e.status.as_u16(),
            reason,
            message: &e.message,
        };
        let mut response = html_status(e.status, &page);
        // htmx swaps error answers in only when told to (the page's script shows them).
        response
            .headers_mut()
            .insert("hx-reswap", HeaderValue::from_static("none"));
        response
    }
}
