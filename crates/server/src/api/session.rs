//! Signing in and out with a password, the caller's own profile, and sessions (a user's own; an
//! administrator's view of everyone's).

use axum::extract::State;
use axum::http::header::SET_COOKIE;
use axum::http::{HeaderMap, HeaderValue};
use axum::response::IntoResponse;
use axum::{Extension, Json};
use secops_service::users::{self, AuditContext, AuthError};
use secops_store::{Auditor, SessionRecord};

use super::{as_caller, on_self, time, Body, Path, Query};
use crate::auth::{Caller, Client, SESSION_COOKIE};
use crate::error::ApiError;
use crate::state::AppState;

#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Login {
    pub user: String,
    pub password: String,
    /// The one-time code (TOTP) of a user who has one (a `401` with `totp_required` asks for it).
    pub totp: Option<String>,
}

#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignedIn {
    pub user: String,
    pub role: String,
    /// Send back as `X-CSRF-Token` with every change made with the session cookie.
    pub csrf_token: String,
    pub session: i64,
    /// The session's absolute end.
    pub expires_at: String,
}

#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Me {
    pub user: String,
    pub role: String,
    /// The permissions the role holds.
    pub permissions: Vec<String>,
    /// The API key the request came with, if any.
    pub key_id: Option<String>,
    /// The session the request came with, if any.
    pub session: Option<i64>,
}

#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Session {
    pub id: i64,
    pub user: String,
    pub created_at: String,
    pub last_seen: String,
    pub expires_at: String,
    /// The address it was opened from.
    pub source: String,
}

impl From<SessionRecord> for Session {
    fn from(s: SessionRecord) -> Self {
        Session {
            id: s.id,
            user: s.user,
            created_at: time(s.created_at),
            last_seen: time(s.last_seen),
            expires_at: time(s.expires_at),
            source: s.source,
        }
    }
}

#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Sessions {
    pub sessions: Vec<Session>,
}

#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SessionQuery {
    /// Another user's sessions (needs users:admin).
    pub user: Option<String>,
}

#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Revoked {
    /// Sessions or keys that stopped working.
    pub revoked: u64,
}

fn cookie(state: &AppState, value: &str, max_age: i64) -> Result<HeaderValue, ApiError> {
    let secure = if state.settings.secure_cookies {
        "; Secure"
    } else {
        ""
    };
    HeaderValue::from_str(&format!(
        "{SESSION_COOKIE}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age}{secure}"
    ))
    .map_err(ApiError::internal)
}

/// Signs in with a password: a session cookie (HttpOnly, SameSite=Strict, Secure under TLS) and the
/// CSRF token to send with changes. Five failures in a row lock the user out for 15 minutes; every
/// attempt is audited.
#[utoipa::path(post, path = "/api/v1/login", tag = "session", security(()), request_body = Login,
    responses((status = 200, description = "Signed in; the cookie is set", body = SignedIn),
              (status = 401, description = "Wrong user or password, locked out, or disabled", body = crate::error::Problem)))]
pub async fn login(
    State(state): State<AppState>,
    Client(address): Client,
    Body(login): Body<Login>,
) -> Result<impl IntoResponse, ApiError> {
    let (principal, session) =
        sign_in(&state, address, login.user, login.password, login.totp).await?;
    let mut headers = HeaderMap::new();
    headers.insert(SET_COOKIE, session_cookie(&state, &session.secret)?);
    Ok((
        headers,
        Json(SignedIn {
            user: principal.name,
            role: principal.role,
            csrf_token: session.csrf,
            session: session.record.id,
            expires_at: time(session.record.expires_at),
        }),
    ))
}

/// Checks a password (and one-time code) and opens a session, every attempt audited: the API's
/// and the console's sign-in.
pub(crate) async fn sign_in(
    state: &AppState,
    address: String,
    user: String,
    password: String,
    totp: Option<String>,
) -> Result<(users::Principal, users::NewSession), ApiError> {
    let now = state.now();
    let key = state.settings.audit_key.clone();
    let policy = state.settings.sessions;
    let source = address;
    state
        .pool
        .run(None, move |store| {
            let audit = AuditContext {
                key: &key,
                actor: &user,
                source: &source,
            };
            let principal =
                users::login_with_code(store, &user, &password, totp.as_deref(), now, Some(&audit))
                    .map_err(sign_in_error)?;
            store.set_auditor(Some(Auditor {
                key: key.clone(),
                actor: principal.name.clone(),
                source: source.clone(),
            }));
            let session = users::open_session(store, &principal.name, &source, now, policy)?;
            Ok((principal, session))
        })
        .await
}

/// The cookie that carries a new session.
pub(crate) fn session_cookie(state: &AppState, secret: &str) -> Result<HeaderValue, ApiError> {
    cookie(
        state,
        secret,
        state.settings.sessions.absolute / 1_000_000_000,
    )
}

/// The cookie that clears the session's.
pub(crate) fn cleared_cookie(state: &AppState) -> Result<HeaderValue, ApiError> {
    cookie(state, "", 0)
}

/// A refused sign-in: `totp_required` when only the one-time code is missing.
fn sign_in_error(e: AuthError) -> ApiError {
    match e {
        AuthError::Store(detail) => ApiError::internal(detail),
        AuthError::CodeNeeded => ApiError::new(
            axum::http::StatusCode::UNAUTHORIZED,
            "totp_required",
            e.to_string(),
        ),
        other => ApiError::unauthenticated(other.to_string()),
    }
}

/// Ends the caller's session and clears the cookie.
#[utoipa::path(post, path = "/api/v1/logout", tag = "session", security(("api_key" = [])),
    responses((status = 200, description = "Signed out", body = Revoked)))]
pub async fn logout(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
) -> Result<impl IntoResponse, ApiError> {
    let now = state.now();
    let user = caller.principal.name.clone();
    let session = caller.session;
    let revoked = match session {
        Some(id) => {
            as_caller(&state, &caller, move |store| {
                Ok(store.revoke_sessions(&user, Some(id), now)?)
            })
            .await?
        }
        None => 0,
    };
    let mut headers = HeaderMap::new();
    headers.insert(SET_COOKIE, cleared_cookie(&state)?);
    Ok((headers, Json(Revoked { revoked })))
}

/// Who the caller is and what their role allows.
#[utoipa::path(get, path = "/api/v1/me", tag = "session", security(("api_key" = [])),
    responses((status = 200, description = "The caller", body = Me)))]
pub async fn me(State(state): State<AppState>, Extension(caller): Extension<Caller>) -> Json<Me> {
    let permissions = state
        .settings
        .roles
        .get(&caller.principal.role)
        .map(|r| {
            r.permissions
                .iter()
                .map(|p| p.as_str().to_string())
                .collect()
        })
        .unwrap_or_default();
    Json(Me {
        user: caller.principal.name.clone(),
        role: caller.principal.role.clone(),
        permissions,
        key_id: caller.principal.key_id.clone(),
        session: caller.session,
    })
}

/// Open sessions: the caller's own, or with `user` (users:admin) another user's.
#[utoipa::path(get, path = "/api/v1/sessions", tag = "session", security(("api_key" = [])),
    params(SessionQuery),
    responses((status = 200, description = "Open sessions, newest first", body = Sessions)))]
pub async fn sessions(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Query(query): Query<SessionQuery>,
) -> Result<Json<Sessions>, ApiError> {
    let user = whose(&state, &caller, query.user)?;
    let now = state.now();
    let list = as_caller(&state, &caller, move |store| {
        Ok(store.sessions(Some(&user), now)?)
    })
    .await?;
    Ok(Json(Sessions {
        sessions: list.into_iter().map(Session::from).collect(),
    }))
}

/// The user whose sessions a request concerns: the caller's own, or another's for an administrator.
fn whose(state: &AppState, caller: &Caller, user: Option<String>) -> Result<String, ApiError> {
    match user {
        Some(user) if user != caller.principal.name => {
            if state
                .settings
                .roles
                .allows(&caller.principal.role, secops_auth::role::USERS_ADMIN)
            {
                Ok(user)
            } else {
                Err(ApiError::forbidden(
                    "another user's sessions need users:admin",
                ))
            }
        }
        _ => Ok(caller.principal.name.clone()),
    }
}

/// Revokes a session (the caller's own, or with `user` (users:admin) another user's): it stops
/// working at its next request.
#[utoipa::path(delete, path = "/api/v1/sessions/{id}", tag = "session", security(("api_key" = [])),
    params(("id" = i64, Path, description = "The session's id"), SessionQuery),
    responses((status = 200, description = "Revoked", body = Revoked),
              (status = 404, description = "No such open session", body = crate::error::Problem)))]
pub async fn revoke_session(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<i64>,
    Query(query): Query<SessionQuery>,
) -> Result<Json<Revoked>, ApiError> {
    let user = whose(&state, &caller, query.user)?;
    let now = state.now();
    let revoked = as_caller(&state, &caller, move |store| {
        Ok(store.revoke_sessions(&user, Some(id), now)?)
    })
    .await?;
    if revoked == 0 {
        return Err(ApiError::not_found(format!("no open session {id}")));
    }
    Ok(Json(Revoked { revoked }))
}

#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordChange {
    pub current_password: String,
    /// The one-time code, for a user who has one.
    pub totp: Option<String>,
    /// At least 12 characters.
    #[schema(min_length = 12)]
    pub new_password: String,
}

#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordChanged {
    pub user: String,
    /// Every session of the user ended with the change (this one too): sign in again.
    pub sessions_ended: bool,
}

/// Changes the caller's own password, given the current one (a wrong one counts towards the
/// lockout as a failed sign-in does). Every session of theirs ends; their API keys stay.
#[utoipa::path(post, path = "/api/v1/me/password", tag = "session", security(("api_key" = [])),
    request_body = PasswordChange,
    responses((status = 200, description = "Changed", body = PasswordChanged),
              (status = 403, description = "The current password is wrong, or the caller is locked out", body = crate::error::Problem)))]
pub async fn change_password(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Body(change): Body<PasswordChange>,
) -> Result<Json<PasswordChanged>, ApiError> {
    on_self(&state, &caller, move |store, user, now, audit| {
        reauthenticate(
            store,
            user,
            &change.current_password,
            change.totp.as_deref(),
            now,
            audit,
        )?;
        users::set_password(store, user, &change.new_password, now, Some(audit))?;
        Ok(())
    })
    .await?;
    Ok(Json(PasswordChanged {
        user: caller.principal.name.clone(),
        sessions_ended: true,
    }))
}

/// The caller's own password (and code, when they have one) checked again before a change to how
/// they sign in; a wrong one counts towards the lockout as a failed sign-in does.
fn reauthenticate(
    store: &mut secops_store::Store,
    user: &str,
    password: &str,
    code: Option<&str>,
    now: i64,
    audit: &AuditContext<'_>,
) -> Result<(), ApiError> {
    users::login_with_code(store, user, password, code, now, Some(audit))
        .map(|_| ())
        .map_err(|e| match e {
            AuthError::Store(detail) => ApiError::internal(detail),
            // The caller is signed in; what they gave is what is refused.
            other => ApiError::forbidden(format!("the current password: {other}")),
        })
}

#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Reauthenticate {
    pub password: String,
    /// The current one-time code, for a user who has one already.
    pub totp: Option<String>,
}

impl Reauthenticate {
    fn check(
        &self,
        store: &mut secops_store::Store,
        user: &str,
        now: i64,
        audit: &AuditContext<'_>,
    ) -> Result<(), ApiError> {
        reauthenticate(
            store,
            user,
            &self.password,
            self.totp.as_deref(),
            now,
            audit,
        )
    }
}

#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TotpEnrolment {
    /// The secret in base32, to type into an authenticator.
    pub secret: String,
    /// The `otpauth://` URI, for a QR code.
    pub uri: String,
}

#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TotpCode {
    /// Six digits from the authenticator.
    pub code: String,
}

#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TotpState {
    pub user: String,
    /// `on`, `pending` (given out, not confirmed) or `off`.
    pub totp: String,
}

impl From<&secops_store::UserRecord> for TotpState {
    fn from(u: &secops_store::UserRecord) -> Self {
        TotpState {
            user: u.name.clone(),
            totp: totp_state(u).into(),
        }
    }
}

/// Sets up a one-time password for the caller (given their password again): a new secret, pending
/// until `POST /api/v1/me/totp/confirm` sees a code of it.
#[utoipa::path(post, path = "/api/v1/me/totp", tag = "session", security(("api_key" = [])),
    request_body = Reauthenticate,
    responses((status = 200, description = "The secret, shown this once", body = TotpEnrolment),
              (status = 403, description = "The password or code is wrong", body = crate::error::Problem)))]
pub async fn begin_totp(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Body(body): Body<Reauthenticate>,
) -> Result<Json<TotpEnrolment>, ApiError> {
    let secret = on_self(&state, &caller, move |store, user, now, audit| {
        body.check(store, user, now, audit)?;
        Ok(users::begin_totp(store, user, now, Some(audit))?)
    })
    .await?;
    Ok(Json(TotpEnrolment {
        secret: secret.base32(),
        uri: secret.uri("secops", &caller.principal.name),
    }))
}

/// Turns the caller's pending one-time password on, given a code of it.
#[utoipa::path(post, path = "/api/v1/me/totp/confirm", tag = "session", security(("api_key" = [])),
    request_body = TotpCode,
    responses((status = 200, description = "On", body = TotpState)))]
pub async fn confirm_totp(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Body(body): Body<TotpCode>,
) -> Result<Json<TotpState>, ApiError> {
    let record = on_self(&state, &caller, move |store, user, now, audit| {
        Ok(users::confirm_totp(
            store,
            user,
            &body.code,
            now,
            Some(audit),
        )?)
    })
    .await?;
    Ok(Json(TotpState::from(&record)))
}

/// Turns the caller's one-time password off (given their password and a code again).
#[utoipa::path(post, path = "/api/v1/me/totp/reset", tag = "session", security(("api_key" = [])),
    request_body = Reauthenticate,
    responses((status = 200, description = "Off", body = TotpState),
              (status = 403, description = "The password or code is wrong", body = crate::error::Problem)))]
pub async fn reset_totp(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Body(body): Body<Reauthenticate>,
) -> Result<Json<TotpState>, ApiError> {
    let record = on_self(&state, &caller, move |store, user, now, audit| {
        body.check(store, user, now, audit)?;
        Ok(users::reset_totp(store, user, now, Some(audit))?)
    })
    .await?;
    Ok(Json(TotpState::from(&record)))
}

/// A user's one-time password: `on`, `pending` or `off`.
pub fn totp_state(u: &secops_store::UserRecord) -> &'static str {
    if u.totp_secret.is_some() {
        "on"
    } else if u.totp_pending.is_some() {
        "pending"
    } else {
        "off"
    }
}
