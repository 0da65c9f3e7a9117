//! Users, API keys and signing in: the decisions (which role exists, when a user is locked out, when
//! a key no longer works) over the store's records. Passwords are Argon2id; a key is kept as its
//! SHA-256 and shown once. Five failed logins in a row lock a user out for fifteen minutes; a locked
//! or disabled user is refused before the password is looked at, and an unknown user costs the same
//! time as a wrong password, so neither tells a guesser anything.

use secops_auth::{hash_password, same_digest, verify_password, ApiKeySecret, Roles};
use secops_store::{ApiKeyRecord, Store, UserRecord};

use crate::ServiceError;

/// Failed logins in a row that lock a user out.
pub const LOCKOUT_AFTER: i64 = 5;
/// How long a lockout lasts (nanoseconds).
pub const LOCKOUT_FOR: i64 = 15 * 60 * 1_000_000_000;

/// Who is acting, once signed in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub name: String,
    pub role: String,
    /// The key used (`None`: a password).
    pub key_id: Option<String>,
}

/// Why signing in failed. Unknown users and wrong passwords are one answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("wrong user name or password")]
    BadCredentials,
    /// This failure locked the user out.
    #[error("wrong user name or password; the user is locked out for 15 minutes")]
    LockedNow,
    #[error("the user is locked out until {0}")]
    Locked(String),
    #[error("the user is disabled")]
    Disabled,
    #[error("not a valid API key")]
    BadKey,
    #[error("the API key was revoked")]
    Revoked,
    #[error("the API key has expired")]
    Expired,
    #[error("{0}")]
    Store(String),
}

impl From<secops_store::StoreError> for AuthError {
    fn from(e: secops_store::StoreError) -> Self {
        AuthError::Store(e.to_string())
    }
}

/// A user name: 1 to 64 of lower-case letters, digits, `.`, `_`, `-`, `@`.
fn check_name(name: &str) -> Result<(), ServiceError> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-@".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(ServiceError::invalid(
            "user name",
            format!(
                "{:?}: 1 to 64 lower-case letters, digits, '.', '_', '-' or '@'",
                name
            ),
        ))
    }
}

fn check_role(roles: &Roles, role: &str) -> Result<(), ServiceError> {
    if roles.get(role).is_some() {
        return Ok(());
    }
    let names: Vec<&str> = roles.all().iter().map(|r| r.name.as_str()).collect();
    Err(ServiceError::invalid(
        "role",
        format!("no role {role:?} (the roles: {})", names.join(", ")),
    ))
}

fn password_error(e: secops_auth::PasswordError) -> ServiceError {
    ServiceError::invalid("password", e)
}

/// Adds a user with a role and a password.
pub fn add_user(
    store: &mut Store,
    roles: &Roles,
    name: &str,
    role: &str,
    password: &str,
    now: i64,
) -> Result<UserRecord, ServiceError> {
    check_name(name)?;
    check_role(roles, role)?;
    let hash = hash_password(password).map_err(password_error)?;
    Ok(store.add_user(name, role, &hash, now)?)
}

/// Sets a user's password (and lifts a lockout: the administrator has just spoken to them).
pub fn set_password(
    store: &mut Store,
    name: &str,
    password: &str,
    now: i64,
) -> Result<UserRecord, ServiceError> {
    let hash = hash_password(password).map_err(password_error)?;
    Ok(store.update_user(name, now, |u| {
        u.password_hash = hash.clone();
        u.failed_logins = 0;
        u.locked_until = None;
    })?)
}

pub fn set_role(
    store: &mut Store,
    roles: &Roles,
    name: &str,
    role: &str,
    now: i64,
) -> Result<UserRecord, ServiceError> {
    check_role(roles, role)?;
    Ok(store.update_user(name, now, |u| u.role = role.to_string())?)
}

pub fn set_disabled(
    store: &mut Store,
    name: &str,
    disabled: bool,
    now: i64,
) -> Result<UserRecord, ServiceError> {
    Ok(store.update_user(name, now, |u| u.disabled = disabled)?)
}

/// A hash of a password no one signs in with, verified against when the user is unknown so that the
/// answer takes as long as for a wrong password.
fn decoy_hash() -> &'static str {
    static DECOY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DECOY.get_or_init(|| hash_password("the decoy of an unknown user").unwrap_or_default())
}

/// Signs a user in with a password.
pub fn login(
    store: &mut Store,
    name: &str,
    password: &str,
    now: i64,
) -> Result<Principal, AuthError> {
    let Some(user) = store.user(name)? else {
        verify_password(password, decoy_hash());
        return Err(AuthError::BadCredentials);
    };
    if user.disabled {
        return Err(AuthError::Disabled);
    }
    if let Some(until) = user.locked_until.filter(|&u| u > now) {
        return Err(AuthError::Locked(
            secops_event::Timestamp::from_unix_nanos(until).to_rfc3339(),
        ));
    }
    if verify_password(password, &user.password_hash) {
        store.update_user(name, now, |u| {
            u.failed_logins = 0;
            u.locked_until = None;
            u.last_login = Some(now);
        })?;
        return Ok(Principal {
            name: user.name,
            role: user.role,
            key_id: None,
        });
    }
    let after = store.update_user(name, now, |u| {
        u.failed_logins += 1;
        if u.failed_logins >= LOCKOUT_AFTER {
            u.failed_logins = 0;
            u.locked_until = Some(now + LOCKOUT_FOR);
        }
    })?;
    Err(if after.locked_until.is_some_and(|u| u > now) {
        AuthError::LockedNow
    } else {
        AuthError::BadCredentials
    })
}

/// Makes an API key acting with `role`; the key's text is in the answer and nowhere else.
pub fn create_key(
    store: &mut Store,
    roles: &Roles,
    name: &str,
    role: &str,
    owner: &str,
    expires_at: Option<i64>,
    now: i64,
) -> Result<(ApiKeyRecord, String), ServiceError> {
    check_role(roles, role)?;
    if name.trim().is_empty() {
        return Err(ServiceError::invalid("--name", "an API key needs a name"));
    }
    let secret = ApiKeySecret::generate().map_err(|e| ServiceError::invalid("API key", e))?;
    let record = ApiKeyRecord {
        key_id: secret.id.clone(),
        name: name.to_string(),
        role: role.to_string(),
        owner: owner.to_string(),
        created_at: now,
        expires_at,
        revoked_at: None,
        last_used_at: None,
        last_used_from: None,
    };
    store.add_api_key(&record, &secret.digest)?;
    Ok((record, secret.text))
}

/// Signs a program in with an API key presented from `from`; its use is recorded.
pub fn authenticate_key(
    store: &mut Store,
    text: &str,
    from: &str,
    now: i64,
) -> Result<Principal, AuthError> {
    let (id, digest) = ApiKeySecret::presented(text).map_err(|_| AuthError::BadKey)?;
    let Some((key, kept)) = store.api_key_digest(&id)? else {
        return Err(AuthError::BadKey);
    };
    if !same_digest(&digest, &kept) {
        return Err(AuthError::BadKey);
    }
    if key.revoked_at.is_some() {
        return Err(AuthError::Revoked);
    }
    if key.expires_at.is_some_and(|e| e <= now) {
        return Err(AuthError::Expired);
    }
    store.touch_api_key(&id, now, from)?;
    Ok(Principal {
        name: key.owner,
        role: key.role,
        key_id: Some(key.key_id),
    })
}
