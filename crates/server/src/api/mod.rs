//! The JSON API under `/api/v1`: one module per resource, each handler a thin layer over the service
//! (typed request in, the service called on a blocking thread as the caller, typed response out).

pub mod admin;
pub mod alerts;
pub mod cases;
pub mod entities;
pub mod hunts;
pub mod intel;
pub mod responses;
pub mod rules;
pub mod session;
pub mod system;
pub mod vulns;

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts};
use secops_event::Timestamp;
use secops_store::Store;

use crate::auth::Caller;
use crate::error::ApiError;
use crate::state::AppState;

/// A JSON body; a body that does not parse is a `400 invalid` naming why.
#[derive(Debug, FromRequest)]
#[from_request(via(axum::Json), rejection(ApiError))]
pub struct Body<T>(pub T);

/// Query parameters, refused as the body is.
#[derive(Debug, FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(ApiError))]
pub struct Query<T>(pub T);

/// Path parameters, refused as the body is.
#[derive(Debug, FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(ApiError))]
pub struct Path<T>(pub T);

impl From<JsonRejection> for ApiError {
    fn from(e: JsonRejection) -> Self {
        use axum::http::StatusCode;
        let (status, code) = match e.status() {
            StatusCode::PAYLOAD_TOO_LARGE => (StatusCode::PAYLOAD_TOO_LARGE, "too_large"),
            StatusCode::UNSUPPORTED_MEDIA_TYPE => {
                (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type")
            }
            // Syntax and shape alike: the message says which.
            _ => (StatusCode::BAD_REQUEST, "invalid"),
        };
        ApiError::new(status, code, format!("the request body: {}", e.body_text()))
    }
}

impl From<QueryRejection> for ApiError {
    fn from(e: QueryRejection) -> Self {
        ApiError::invalid(format!("the query: {}", e.body_text()))
    }
}

impl From<PathRejection> for ApiError {
    fn from(e: PathRejection) -> Self {
        ApiError::invalid(format!("the path: {}", e.body_text()))
    }
}

/// A time as the API writes it (RFC 3339, UTC).
pub fn time(nanos: i64) -> String {
    Timestamp::from_unix_nanos(nanos).to_rfc3339()
}

pub fn opt_time(nanos: Option<i64>) -> Option<String> {
    nanos.map(time)
}

/// A time the API was given.
pub fn parse_time(name: &str, text: &str) -> Result<i64, ApiError> {
    Timestamp::parse_rfc3339(text)
        .map(Timestamp::unix_nanos)
        .map_err(|e| ApiError::invalid(format!("{name}: {text:?} is not an RFC 3339 time: {e}")))
}

/// Runs service work as the caller: on a store connection from the pool, every change audited as
/// theirs.
pub async fn as_caller<T, F>(state: &AppState, caller: &Caller, work: F) -> Result<T, ApiError>
where
    T: Send + 'static,
    F: FnOnce(&mut Store) -> Result<T, ApiError> + Send + 'static,
{
    state.pool.run(Some(caller.auditor(state)), work).await
}

/// The service's actor for a caller.
pub fn actor(caller: &Caller) -> secops_service::Actor {
    match &caller.principal.key_id {
        Some(_) => secops_service::Actor::api_key(caller.principal.name.clone()),
        None => secops_service::Actor::user(caller.principal.name.clone()),
    }
}

/// The service's audit context for identity changes, as the caller's auditor.
pub fn audit_context(auditor: &secops_store::Auditor) -> secops_service::users::AuditContext<'_> {
    secops_service::users::AuditContext {
        key: &auditor.key,
        actor: &auditor.actor,
        source: &auditor.source,
    }
}

/// Runs work on the caller's own user (their name, the time, the audit context), as the caller.
pub async fn on_self<T, F>(state: &AppState, caller: &Caller, work: F) -> Result<T, ApiError>
where
    T: Send + 'static,
    F: FnOnce(
            &mut Store,
            &str,
            i64,
            &secops_service::users::AuditContext<'_>,
        ) -> Result<T, ApiError>
        + Send
        + 'static,
{
    let now = state.now();
    let user = caller.principal.name.clone();
    let auditor = caller.auditor(state);
    as_caller(state, caller, move |store| {
        work(store, &user, now, &audit_context(&auditor))
    })
    .await
}

/// Runs identity work as the caller with what it needs: the roles, the time, the audit context
/// (users and keys changed by an administrator, from the API or the console).
pub async fn administer<T, F>(state: &AppState, caller: &Caller, work: F) -> Result<T, ApiError>
where
    T: Send + 'static,
    F: FnOnce(
            &mut Store,
            &secops_auth::Roles,
            i64,
            &secops_service::users::AuditContext<'_>,
        ) -> Result<T, ApiError>
        + Send
        + 'static,
{
    let now = state.now();
    let roles = state.settings.roles.clone();
    let auditor = caller.auditor(state);
    as_caller(state, caller, move |store| {
        work(store, &roles, now, &audit_context(&auditor))
    })
    .await
}
