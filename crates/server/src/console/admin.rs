//! Users and API keys for administrators, the audit log for auditors: every change through the
//! same service calls as the API and the CLI, each audited.

use askama::Template;
use axum::extract::State;
use axum::http::Uri;
use axum::response::Response;
use axum::Extension;
use secops_service::users;

use super::form::{query_fields, Fields};
use super::view::{self, html, shown, when, Chrome};
use super::PageError;
use crate::api::{administer, as_caller};
use crate::auth::Caller;
use crate::error::ApiError;
use crate::state::AppState;

pub struct UserRow {
    pub name: String,
    pub roles: Vec<(String, bool)>,
    pub disabled: bool,
    pub totp: &'static str,
    pub locked: String,
    pub last_login: String,
    pub action: String,
}

pub struct KeyRow {
    pub key_id: String,
    pub name: String,
    pub role: String,
    pub owner: String,
    pub expires: String,
    pub state: &'static str,
    pub last_used: String,
}

#[derive(Template)]
#[template(path = "users.html")]
struct UsersPage {
    chrome: Chrome,
    users: Vec<UserRow>,
    keys: Vec<KeyRow>,
    roles: Vec<String>,
    notice: String,
    /// A key's secret, shown once, right after it is made.
    secret: String,
    csrf: String,
}

async fn users_page(
    state: &AppState,
    caller: &Caller,
    notice: String,
    secret: String,
) -> Result<Response, PageError> {
    let now = state.now();
    let (list, keys) = as_caller(state, caller, |store| {
        Ok((store.users()?, store.api_keys()?))
    })
    .await?;
    let roles: Vec<String> = state
        .settings
        .roles
        .all()
        .iter()
        .map(|r| r.name.clone())
        .collect();
    let page = UsersPage {
        chrome: Chrome::new(state, caller, "/admin/users", "Users and keys"),
        users: list
            .iter()
            .map(|u| UserRow {
                action: format!("/admin/users/{}", view::segment(&u.name)),
                name: shown(&u.name).into_owned(),
                roles: roles.iter().map(|r| (r.clone(), *r == u.role)).collect(),
                disabled: u.disabled,
                totp: if u.totp_secret.is_some() {
                    "on"
                } else if u.totp_pending.is_some() {
                    "pending"
                } else {
                    "off"
                },
                locked: u
                    .locked_until
                    .filter(|t| *t > now)
                    .map(when)
                    .unwrap_or_default(),
                last_login: u.last_login.map(when).unwrap_or_default(),
            })
            .collect(),
        keys: keys
            .iter()
            .map(|k| KeyRow {
                key_id: k.key_id.clone(),
                name: shown(&k.name).into_owned(),
                role: k.role.clone(),
                owner: shown(&k.owner).into_owned(),
                expires: k.expires_at.map(when).unwrap_or_else(|| "never".into()),
                state: if k.revoked_at.is_some() {
                    "revoked"
                } else if k.expires_at.is_some_and(|e| e <= now) {
                    "expired"
                } else {
                    "active"
                },
                last_used: match (&k.last_used_at, &k.last_used_from) {
                    (Some(at), Some(from)) => format!("{} from {}", when(*at), shown(from)),
                    (Some(at), None) => when(*at),
                    _ => String::new(),
                },
            })
            .collect(),
        roles,
        notice,
        secret,
        csrf: caller.csrf.clone().unwrap_or_default(),
    };
    Ok(html(&page))
}

/// `GET /admin/users`.
pub async fn list(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    uri: Uri,
) -> Result<Response, PageError> {
    let notice = match query_fields(uri.query()).get("done").as_deref() {
        Some("added") => "User added".to_string(),
        Some("changed") => "User changed".to_string(),
        Some("revoked") => "Key revoked".to_string(),
        _ => String::new(),
    };
    users_page(&state, &caller, notice, String::new()).await
}

/// `POST /admin/users`: a user with a role and a first password.
pub async fn add(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    fields: Fields,
) -> Result<Response, PageError> {
    let name = fields.text("name").trim().to_string();
    let role = fields.text("role");
    let password = fields.text("password");
    administer(&state, &caller, move |store, roles, now, audit| {
        Ok(users::add_user(
            store,
            roles,
            &name,
            &role,
            &password,
            now,
            Some(audit),
        )?)
    })
    .await?;
    Ok(view::see_other("/admin/users?done=added"))
}

/// `POST /admin/users/{name}`: role, disabled, one-time password reset.
pub async fn change(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    axum::extract::Path(name): axum::extract::Path<String>,
    fields: Fields,
) -> Result<Response, PageError> {
    let role = fields.get("role");
    let disabled = fields.get("disabled").is_some();
    let reset_totp = fields.get("reset_totp").is_some();
    administer(&state, &caller, move |store, roles, now, audit| {
        let user = store
            .user(&name)?
            .ok_or_else(|| ApiError::not_found(format!("user {name} does not exist")))?;
        if let Some(role) = role.filter(|r| *r != user.role) {
            users::set_role(store, roles, &name, &role, now, Some(audit))?;
        }
        if disabled != user.disabled {
            users::set_disabled(store, &name, disabled, now, Some(audit))?;
        }
        if reset_totp {
            users::reset_totp(store, &name, now, Some(audit))?;
        }
        Ok(())
    })
    .await?;
    Ok(view::see_other("/admin/users?done=changed"))
}

/// `POST /admin/keys`: a key acting with a role; its secret shown once, on the page that answers.
pub async fn create_key(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    fields: Fields,
) -> Result<Response, PageError> {
    let name = fields.text("name").trim().to_string();
    let role = fields.text("role");
    let days = fields.number("days")?;
    let now = state.now();
    let expires_at = match days {
        None => None,
        Some(d) if (1..=3650).contains(&d) => Some(now.saturating_add(d * 86_400 * 1_000_000_000)),
        Some(_) => return Err(PageError::invalid("days: 1 to 3,650")),
    };
    let (_, secret) = crate::api::admin::make_key(&state, &caller, name, role, expires_at).await?;
    users_page(
        &state,
        &caller,
        "Key created: copy its secret now, it is not shown again".into(),
        secret,
    )
    .await
}

/// `POST /admin/keys/{key_id}/revoke`.
pub async fn revoke_key(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    axum::extract::Path(key_id): axum::extract::Path<String>,
) -> Result<Response, PageError> {
    administer(&state, &caller, move |store, _, now, audit| {
        Ok(users::revoke_key(store, &key_id, now, Some(audit))?)
    })
    .await?;
    Ok(view::see_other("/admin/users?done=revoked"))
}

pub struct AuditRow {
    pub id: i64,
    pub at: String,
    pub actor: String,
    pub source: String,
    pub action: String,
    pub target: String,
    pub outcome: String,
    pub detail: String,
}

#[derive(Template)]
#[template(path = "audit.html")]
struct AuditPage {
    chrome: Chrome,
    rows: Vec<AuditRow>,
    verified: bool,
    intact: bool,
    records: u64,
    broken: String,
    older: String,
    newer: String,
    action: String,
}

/// Audit records a page shows.
const AUDIT_PAGE: i64 = 100;

/// `GET /admin/audit?before=&action=&verify=`: the newest records first; the chain checked on
/// request.
pub async fn audit(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    uri: Uri,
) -> Result<Response, PageError> {
    let fields = query_fields(uri.query());
    let before = fields.number("before")?;
    let action = fields.get("action").unwrap_or_default();
    let verify = fields.get("verify").is_some();
    let key = state.settings.audit_key.clone();
    let wanted = action.clone();
    let (check, records) = as_caller(&state, &caller, move |store| {
        // Checking the chain reads all of it: on request.
        let check = if verify {
            Some(store.verify_audit(&key, None)?)
        } else {
            None
        };
        let head = store.audit_head()?.map_or(0, |h| h.0);
        let end = before.unwrap_or(head + 1).min(head + 1);
        // Read back from the end a window at a time until the page is full (an action filter
        // may skip many).
        let mut found = Vec::new();
        let mut upto = end;
        while upto > 1 && (found.len() as i64) < AUDIT_PAGE {
            let from = (upto - 1000).max(1);
            let mut window = store.audit_records(from - 1, upto - from)?;
            window.retain(|r| wanted.is_empty() || r.record.action == wanted);
            window.reverse();
            found.extend(window);
            upto = from;
        }
        found.truncate(AUDIT_PAGE as usize);
        Ok((check, found))
    })
    .await?;
    let older = records
        .last()
        .filter(|r| r.id > 1)
        .map(|r| {
            format!(
                "/admin/audit?{}",
                view::query([
                    ("before", r.id.to_string().as_str()),
                    ("action", action.as_str())
                ])
            )
        })
        .unwrap_or_default();
    let newer = if before.is_some() {
        format!(
            "/admin/audit?{}",
            view::query([("action", action.as_str())])
        )
    } else {
        String::new()
    };
    let page = AuditPage {
        chrome: Chrome::new(&state, &caller, "/admin/audit", "Audit log"),
        rows: records
            .into_iter()
            .map(|r| AuditRow {
                id: r.id,
                at: when(r.record.at),
                actor: shown(&r.record.actor).into_owned(),
                source: shown(&r.record.source).into_owned(),
                action: shown(&r.record.action).into_owned(),
                target: shown(&r.record.target).into_owned(),
                outcome: r.record.outcome.clone(),
                detail: shown(r.record.after.as_deref().unwrap_or_default()).into_owned(),
            })
            .collect(),
        verified: check.is_some(),
        intact: check.as_ref().is_some_and(|c| c.broken.is_none()),
        records: check.as_ref().map_or(0, |c| c.records),
        broken: check
            .and_then(|c| c.broken)
            .map(|b| b.to_string())
            .unwrap_or_default(),
        older,
        newer,
        action: shown(&action).into_owned(),
    };
    Ok(html(&page))
}
