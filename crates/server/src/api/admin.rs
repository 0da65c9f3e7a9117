//! Users, API keys and the audit log, for administrators (users:admin) and auditors (audit:read).
//! The same service calls as `secops user`, `secops key` and `secops audit`; each change audited.

use axum::extract::State;
use axum::{Extension, Json};
use secops_service::users::{self, NewKey};
use secops_store::{ApiKeyRecord, UserRecord};

use super::{as_caller, opt_time, time, Body, Path, Query};
use crate::auth::Caller;
use crate::error::ApiError;
use crate::state::AppState;

#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct User {
    pub name: String,
    pub role: String,
    pub disabled: bool,
    pub failed_logins: i64,
    pub locked_until: Option<String>,
    pub last_login: Option<String>,
    pub created_at: String,
    /// One-time password: `on`, `pending` or `off`.
    pub totp: String,
}

impl From<&UserRecord> for User {
    fn from(u: &UserRecord) -> Self {
        User {
            name: u.name.clone(),
            role: u.role.clone(),
            disabled: u.disabled,
            failed_logins: u.failed_logins,
            locked_until: opt_time(u.locked_until),
            last_login: opt_time(u.last_login),
            created_at: time(u.created_at),
            totp: super::session::totp_state(u).to_string(),
        }
    }
}

#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Users {
    pub users: Vec<User>,
}

#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewUser {
    /// 1 to 64 of lower-case letters, digits, `.`, `_`, `-`, `@`.
    #[schema(pattern = "^[a-z0-9._@-]{1,64}$")]
    pub name: String,
    /// A role that exists (`GET /api/v1/me` lists the caller's; `secops role list` all).
    pub role: String,
    /// At least 12 characters.
    #[schema(min_length = 12)]
    pub password: String,
}

/// A change to a user: any of role, disabled, password.
#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserChange {
    pub role: Option<String>,
    pub disabled: Option<bool>,
    pub password: Option<String>,
    /// `true`: turn the user's one-time password off (a lost authenticator).
    pub reset_totp: Option<bool>,
}

#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Key {
    /// The 8 hex digits after `secops_`.
    pub key_id: String,
    pub name: String,
    pub role: String,
    pub owner: String,
    pub created_at: String,
    pub expires_at: Option<String>,
    pub revoked_at: Option<String>,
    pub last_used_at: Option<String>,
    pub last_used_from: Option<String>,
}

impl From<&ApiKeyRecord> for Key {
    fn from(k: &ApiKeyRecord) -> Self {
        Key {
            key_id: k.key_id.clone(),
            name: k.name.clone(),
            role: k.role.clone(),
            owner: k.owner.clone(),
            created_at: time(k.created_at),
            expires_at: opt_time(k.expires_at),
            revoked_at: opt_time(k.revoked_at),
            last_used_at: opt_time(k.last_used_at),
            last_used_from: k.last_used_from.clone(),
        }
    }
}

#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Keys {
    pub keys: Vec<Key>,
}

#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewApiKey {
    /// What it is for (`soar`, `shipper-web1`).
    #[schema(min_length = 1)]
    pub name: String,
    pub role: String,
    /// When it stops working (RFC 3339); absent: never.
    pub expires_at: Option<String>,
}

#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreatedKey {
    pub key: Key,
    /// The key itself, shown this once: send it as `Authorization: Bearer <secret>`.
    pub secret: String,
}

#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AuditEntry {
    pub id: i64,
    pub at: String,
    pub actor: String,
    pub source: String,
    pub action: String,
    pub target: String,
    pub outcome: String,
    pub before: Option<String>,
    pub after: Option<String>,
    pub mac: String,
}

#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AuditPage {
    pub records: Vec<AuditEntry>,
    /// Pass as `after` for the next page; absent on the last.
    pub next: Option<i64>,
}

#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// Records after this id (oldest first).
    pub after: Option<i64>,
    /// Records per page, 1 to 1000 (default 100).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<i64>,
}

#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AuditVerification {
    pub records: u64,
    /// The chain holds.
    pub intact: bool,
    /// The first bad record and why.
    pub broken: Option<String>,
    pub head_id: Option<i64>,
    pub head_mac: Option<String>,
}

/// Every user.
#[utoipa::path(get, path = "/api/v1/users", tag = "admin", security(("api_key" = ["users:admin"])),
    responses((status = 200, description = "The users", body = Users)))]
pub async fn list_users(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
) -> Result<Json<Users>, ApiError> {
    let list = as_caller(&state, &caller, |store| Ok(store.users()?)).await?;
    Ok(Json(Users {
        users: list.iter().map(User::from).collect(),
    }))
}

/// Adds a user.
#[utoipa::path(post, path = "/api/v1/users", tag = "admin", security(("api_key" = ["users:admin"])),
    request_body = NewUser,
    responses((status = 201, description = "Added", body = User)))]
pub async fn add_user(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Body(body): Body<NewUser>,
) -> Result<(axum::http::StatusCode, Json<User>), ApiError> {
    let user = super::administer(&state, &caller, move |store, roles, now, audit| {
        Ok(users::add_user(
            store,
            roles,
            &body.name,
            &body.role,
            &body.password,
            now,
            Some(audit),
        )?)
    })
    .await?;
    Ok((axum::http::StatusCode::CREATED, Json(User::from(&user))))
}

/// Changes a user's role, disables or enables them, or sets their password (disabling and a new
/// password end their sessions).
#[utoipa::path(patch, path = "/api/v1/users/{name}", tag = "admin",
    security(("api_key" = ["users:admin"])), request_body = UserChange,
    params(("name" = String, Path, description = "The user's name")),
    responses((status = 200, description = "Changed", body = User),
              (status = 404, description = "No such user", body = crate::error::Problem)))]
pub async fn change_user(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
    Body(body): Body<UserChange>,
) -> Result<Json<User>, ApiError> {
    let user = super::administer(&state, &caller, move |store, roles, now, audit| {
        if store.user(&name)?.is_none() {
            return Err(ApiError::not_found(format!("user {name} does not exist")));
        }
        if let Some(role) = &body.role {
            users::set_role(store, roles, &name, role, now, Some(audit))?;
        }
        if let Some(disabled) = body.disabled {
            users::set_disabled(store, &name, disabled, now, Some(audit))?;
        }
        if let Some(password) = &body.password {
            users::set_password(store, &name, password, now, Some(audit))?;
        }
        if body.reset_totp == Some(true) {
            users::reset_totp(store, &name, now, Some(audit))?;
        }
        store
            .user(&name)?
            .ok_or_else(|| ApiError::not_found(format!("user {name} does not exist")))
    })
    .await?;
    Ok(Json(User::from(&user)))
}

/// Every API key (never the keys themselves).
#[utoipa::path(get, path = "/api/v1/keys", tag = "admin", security(("api_key" = ["users:admin"])),
    responses((status = 200, description = "The keys", body = Keys)))]
pub async fn list_keys(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
) -> Result<Json<Keys>, ApiError> {
    let list = as_caller(&state, &caller, |store| Ok(store.api_keys()?)).await?;
    Ok(Json(Keys {
        keys: list.iter().map(Key::from).collect(),
    }))
}

/// Makes an API key owned by the caller; the key is in the answer and nowhere else.
#[utoipa::path(post, path = "/api/v1/keys", tag = "admin", security(("api_key" = ["users:admin"])),
    request_body = NewApiKey,
    responses((status = 201, description = "Made", body = CreatedKey)))]
pub async fn create_key(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Body(body): Body<NewApiKey>,
) -> Result<(axum::http::StatusCode, Json<CreatedKey>), ApiError> {
    let expires_at = body
        .expires_at
        .as_deref()
        .map(|t| super::parse_time("expires_at", t))
        .transpose()?;
    let (key, secret) = make_key(&state, &caller, body.name, body.role, expires_at).await?;
    Ok((
        axum::http::StatusCode::CREATED,
        Json(CreatedKey {
            key: Key::from(&key),
            secret,
        }),
    ))
}

/// Revokes an API key: it stops working at once.
#[utoipa::path(delete, path = "/api/v1/keys/{key_id}", tag = "admin",
    security(("api_key" = ["users:admin"])),
    params(("key_id" = String, Path, description = "The key's id")),
    responses((status = 200, description = "Revoked", body = Key),
              (status = 404, description = "No such key", body = crate::error::Problem)))]
pub async fn revoke_key(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(key_id): Path<String>,
) -> Result<Json<Key>, ApiError> {
    let key = super::administer(&state, &caller, move |store, _, now, audit| {
        Ok(users::revoke_key(store, &key_id, now, Some(audit))?)
    })
    .await?;
    Ok(Json(Key::from(&key)))
}

/// Makes an API key owned by the caller: its record and its secret (shown once).
pub(crate) async fn make_key(
    state: &AppState,
    caller: &Caller,
    name: String,
    role: String,
    expires_at: Option<i64>,
) -> Result<(secops_store::ApiKeyRecord, String), ApiError> {
    let owner = caller.principal.name.clone();
    super::administer(state, caller, move |store, roles, now, audit| {
        Ok(users::create_key(
            store,
            roles,
            &NewKey {
                name: &name,
                role: &role,
                owner: &owner,
                expires_at,
            },
            now,
            Some(audit),
        )?)
    })
    .await
}

/// The audit log, oldest first, a page at a time.
#[utoipa::path(get, path = "/api/v1/audit", tag = "admin", security(("api_key" = ["audit:read"])),
    params(AuditQuery),
    responses((status = 200, description = "A page of records", body = AuditPage)))]
pub async fn audit(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Query(query): Query<AuditQuery>,
) -> Result<Json<AuditPage>, ApiError> {
    let limit = query.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::invalid("limit: 1 to 1000"));
    }
    let after = query.after.unwrap_or(0);
    let records = as_caller(&state, &caller, move |store| {
        Ok(store.audit_records(after, limit + 1)?)
    })
    .await?;
    let more = records.len() as i64 > limit;
    let records: Vec<AuditEntry> = records
        .into_iter()
        .take(limit as usize)
        .map(|r| AuditEntry {
            id: r.id,
            at: time(r.record.at),
            actor: r.record.actor,
            source: r.record.source,
            action: r.record.action,
            target: r.record.target,
            outcome: r.record.outcome,
            before: r.record.before,
            after: r.record.after,
            mac: r.mac,
        })
        .collect();
    Ok(Json(AuditPage {
        next: if more {
            records.last().map(|r| r.id)
        } else {
            None
        },
        records,
    }))
}

/// Walks the audit chain with the server's key.
#[utoipa::path(get, path = "/api/v1/audit/verify", tag = "admin",
    security(("api_key" = ["audit:read"])),
    responses((status = 200, description = "What the walk found", body = AuditVerification)))]
pub async fn verify_audit(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
) -> Result<Json<AuditVerification>, ApiError> {
    let key = state.settings.audit_key.clone();
    let check = as_caller(&state, &caller, move |store| {
        Ok(store.verify_audit(&key, None)?)
    })
    .await?;
    Ok(Json(AuditVerification {
        records: check.records,
        intact: check.broken.is_none(),
        broken: check.broken.map(|b| b.to_string()),
        head_id: check.head.as_ref().map(|h| h.0),
        head_mac: check.head.map(|h| h.1),
    }))
}
