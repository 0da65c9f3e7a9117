//! Who is calling, and may they: every request to a route that is not public carries an API key
//! (`Authorization: Bearer secops_...` or `X-API-Key`) or a session cookie; a cookie request that
//! changes something also carries the session's CSRF token (`X-CSRF-Token`), which a page on another
//! site cannot know. The route's permission (from the OpenAPI document) is checked against the
//! caller's role as it is now: a revoked key or session, a disabled user, a changed role take effect
//! at the next request. A refusal for want of a permission is audited.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::{HeaderMap, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use secops_auth::{same_digest, SessionSecret};
use secops_service::users::{self, AuthError, Principal};
use secops_store::Auditor;

use crate::error::ApiError;
use crate::permissions::Access;
use crate::state::AppState;

pub const SESSION_COOKIE: &str = "secops_session";
pub const CSRF_HEADER: &str = "x-csrf-token";

/// The caller of a request that passed: who, from where, by which credential.
#[derive(Debug, Clone)]
pub struct Caller {
    pub principal: Principal,
    /// The client's address.
    pub address: String,
    /// The session the request came with, if a cookie signed it in.
    pub session: Option<i64>,
    /// That session's CSRF token (the console's forms carry it).
    pub csrf: Option<String>,
}

impl Caller {
    /// Who the audit log names: the user, from the address, by the key if one was used.
    pub fn auditor(&self, state: &AppState) -> Auditor {
        let source = match &self.principal.key_id {
            Some(key) => format!("{} key {key}", self.address),
            None => self.address.clone(),
        };
        Auditor {
            key: state.settings.audit_key.clone(),
            actor: self.principal.name.clone(),
            source,
        }
    }
}

/// The name of the caller, left on the response for the access log.
#[derive(Debug, Clone)]
pub struct CallerName(pub String);

enum Credential {
    Key(String),
    Session(String),
}

/// The client's address, as the connection gave it.
pub fn address(request: &Request) -> String {
    request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map_or_else(|| "unknown".to_string(), |c| c.0.ip().to_string())
}

/// The client's address as a handler's argument (`unknown` when the connection gave none).
#[derive(Debug, Clone)]
pub struct Client(pub String);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for Client {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _: &S,
    ) -> Result<Self, Self::Rejection> {
        Ok(Client(
            parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map_or_else(|| "unknown".to_string(), |c| c.0.ip().to_string()),
        ))
    }
}

/// A cookie's value from the `Cookie` headers.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

fn credential(headers: &HeaderMap) -> Result<Option<Credential>, ApiError> {
    if let Some(value) = headers.get(axum::http::header::AUTHORIZATION) {
        let text = value
            .to_str()
            .map_err(|_| ApiError::unauthenticated("an Authorization header that is not text"))?;
        let key = text
            .strip_prefix("Bearer ")
            .or_else(|| text.strip_prefix("bearer "))
            .ok_or_else(|| {
                ApiError::unauthenticated("Authorization takes `Bearer secops_<id>_<secret>`")
            })?;
        return Ok(Some(Credential::Key(key.trim().to_string())));
    }
    if let Some(value) = headers.get("x-api-key") {
        let text = value
            .to_str()
            .map_err(|_| ApiError::unauthenticated("an X-API-Key header that is not text"))?;
        return Ok(Some(Credential::Key(text.trim().to_string())));
    }
    Ok(cookie(headers, SESSION_COOKIE).map(|s| Credential::Session(s.to_string())))
}

fn refused(e: AuthError) -> ApiError {
    match e {
        AuthError::Store(detail) => ApiError::internal(detail),
        other => ApiError::unauthenticated(other.to_string()),
    }
}

/// Methods that change nothing: no CSRF token needed.
fn safe_method(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// The middleware on every route.
pub async fn authorize(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    let token = header_token(request.headers());
    match identify(&state, &mut request, token).await {
        Ok(caller) => admit(request, next, caller).await,
        Err(e) => e.into_response(),
    }
}

/// Passes a request that was let in to its handler with the caller beside it, and leaves the
/// caller's name on the response for the access log.
pub async fn admit(mut request: Request, next: Next, caller: Option<Caller>) -> Response {
    let name = caller.as_ref().map(|c| c.principal.name.clone());
    if let Some(caller) = caller {
        request.extensions_mut().insert(caller);
    }
    let mut response = next.run(request).await;
    if let Some(name) = name {
        response.extensions_mut().insert(CallerName(name));
    }
    response
}

/// The CSRF token a request sent as a header.
pub fn header_token(headers: &HeaderMap) -> Option<String> {
    headers
        .get(CSRF_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

/// Who is calling and whether they may: the credential checked, a change made with a session
/// cookie checked against `token` (the session's CSRF token, from a header or a form), the route's
/// permission checked against the caller's role as it is now.
pub async fn identify(
    state: &AppState,
    request: &mut Request,
    token: Option<String>,
) -> Result<Option<Caller>, ApiError> {
    let path = request
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_string())
        .unwrap_or_default();
    let method = request.method().clone();
    // A route the table does not know is refused (fail closed).
    let access = state
        .permissions
        .get(&method, &path)
        .ok_or_else(|| ApiError::forbidden("this route declares no permission"))?;
    if access == Access::Public {
        return Ok(None);
    }
    let address = address(&*request);
    let now = state.now();
    let caller = match credential(request.headers())? {
        None => {
            return Err(ApiError::unauthenticated(
                "sign in (POST /api/v1/login), or send an API key as `Authorization: Bearer secops_...`",
            ))
        }
        Some(Credential::Key(text)) => {
            let from = address.clone();
            let principal = state
                .pool
                .run(None, move |store| {
                    users::authenticate_key(store, &text, &from, now).map_err(refused)
                })
                .await?;
            Caller {
                principal,
                address,
                session: None,
                csrf: None,
            }
        }
        Some(Credential::Session(secret)) => {
            let policy = state.settings.sessions;
            let csrf = SessionSecret::csrf(&secret);
            let check_csrf = !safe_method(&method);
            let (principal, session) = state
                .pool
                .run(None, move |store| {
                    let signed_in = users::authenticate_session(store, &secret, now, policy)
                        .map_err(refused)?;
                    if check_csrf {
                        let expected = SessionSecret::csrf(&secret);
                        if !token.is_some_and(|t| same_digest(&t, &expected)) {
                            return Err(ApiError::new(
                                axum::http::StatusCode::FORBIDDEN,
                                "csrf",
                                "a change made with a session cookie needs the session's X-CSRF-Token header",
                            ));
                        }
                    }
                    Ok(signed_in)
                })
                .await?;
            Caller {
                principal,
                address,
                session: Some(session.id),
                csrf: Some(csrf),
            }
        }
    };
    if let Access::Needs(permission) = access {
        if !state
            .settings
            .roles
            .allows(&caller.principal.role, permission)
        {
            let auditor = caller.auditor(state);
            let target = format!("{} {path}", method.as_str());
            let role = caller.principal.role.clone();
            state
                .pool
                .run(Some(auditor), move |store| {
                    let detail =
                        serde_json::json!({"permission": permission.as_str(), "role": role});
                    Ok(store.audit_action(
                        now,
                        "access.denied",
                        &target,
                        "failure",
                        Some(detail.to_string()),
                    )?)
                })
                .await?;
            return Err(ApiError::forbidden(format!(
                "the role {} lacks {permission}",
                caller.principal.role
            )));
        }
    }
    Ok(Some(caller))
}
