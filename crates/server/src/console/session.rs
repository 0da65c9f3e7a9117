//! Signing in (password, and the one-time code of a user who has one) and out.

use askama::Template;
use axum::extract::State;
use axum::http::header::SET_COOKIE;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Extension;

use super::form::{query_fields, Fields};
use super::view::{self, html, html_status, Chrome};
use super::PageError;
use crate::api::session::{cleared_cookie, session_cookie, sign_in};
use crate::auth::{Caller, Client};
use crate::error::ApiError;
use crate::state::AppState;

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    chrome: Chrome,
    user: String,
    next: String,
    /// Why the last attempt failed.
    problem: String,
    /// The password was right; the one-time code is what is missing.
    code_needed: bool,
}

/// Where to go after signing in: the page asked for, if it is one of ours.
fn next_of(fields: &Fields) -> String {
    fields
        .get("next")
        .filter(|n| view::local_path(n))
        .unwrap_or_else(|| "/alerts".to_string())
}

/// `GET /login`.
pub async fn login_page(uri: axum::http::Uri) -> Response {
    let fields = query_fields(uri.query());
    html(&LoginPage {
        chrome: Chrome::anonymous("Sign in"),
        user: String::new(),
        next: next_of(&fields),
        problem: String::new(),
        code_needed: false,
    })
}

/// A sign-in form posted from another site is refused: nobody is signed in by a page they did not
/// mean to use (login CSRF). Browsers say where a form came from.
fn same_site(headers: &HeaderMap) -> bool {
    let site = headers
        .get("sec-fetch-site")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("same-origin");
    if site == "cross-site" || site == "same-site" {
        return false;
    }
    match (
        headers.get("origin").and_then(|v| v.to_str().ok()),
        headers.get("host").and_then(|v| v.to_str().ok()),
    ) {
        (Some(origin), Some(host)) => origin
            .split_once("://")
            .is_some_and(|(_, rest)| rest.eq_ignore_ascii_case(host)),
        _ => true,
    }
}

/// `POST /login`: a session cookie and on to the page asked for; a refusal shows the form again
/// with why (the password is never sent back).
pub async fn login(
    State(state): State<AppState>,
    Client(address): Client,
    headers: HeaderMap,
    fields: Fields,
) -> Result<Response, PageError> {
    if !same_site(&headers) {
        return Err(PageError(ApiError::forbidden(
            "a sign-in form from another site",
        )));
    }
    let user = fields.text("user").trim().to_string();
    let next = next_of(&fields);
    let password = fields.text("password");
    let code = fields.get("totp");
    match sign_in(&state, address, user.clone(), password, code).await {
        Ok((_, session)) => {
            let mut response = view::see_other(&next);
            response
                .headers_mut()
                .insert(SET_COOKIE, session_cookie(&state, &session.secret)?);
            Ok(response)
        }
        Err(e) if e.status == StatusCode::UNAUTHORIZED => Ok(html_status(
            StatusCode::UNAUTHORIZED,
            &LoginPage {
                chrome: Chrome::anonymous("Sign in"),
                code_needed: e.code == "totp_required",
                user,
                next,
                problem: e.message,
            },
        )),
        Err(e) => Err(e.into()),
    }
}

/// `POST /logout`: the session ends, the cookie is cleared.
pub async fn logout(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
) -> Result<Response, PageError> {
    let now = state.now();
    let user = caller.principal.name.clone();
    if let Some(id) = caller.session {
        crate::api::as_caller(&state, &caller, move |store| {
            Ok(store.revoke_sessions(&user, Some(id), now)?)
        })
        .await?;
    }
    let mut response = view::see_other("/login");
    response
        .headers_mut()
        .insert(SET_COOKIE, cleared_cookie(&state)?);
    Ok(response)
}

/// `GET /`: the alert queue.
pub async fn home() -> impl IntoResponse {
    view::see_other("/alerts")
}
