//! Users, API keys and signing in: the decisions (which role exists, when a user is locked out, when
//! a key no longer works) over the store's records. Passwords are Argon2id; a key is kept as its
//! SHA-256 and shown once. Five failed logins in a row lock a user out for fifteen minutes; a locked
//! or disabled user is refused before the password is looked at, and an unknown user costs the same
//! time as a wrong password, so neither tells a guesser anything.

use secops_auth::{
    hash_password, same_digest, verify_password, ApiKeySecret, Roles, SessionSecret, TotpSecret,
};
use secops_store::{ApiKeyRecord, AuditKey, Audited, NewAudit, SessionRecord, Store, UserRecord};

use crate::ServiceError;

/// Failed logins in a row that lock a user out.
pub const LOCKOUT_AFTER: i64 = 5;
/// How long a lockout lasts (nanoseconds).
pub const LOCKOUT_FOR: i64 = 15 * 60 * 1_000_000_000;

/// The audit chain's key, who acts and from where: each change is recorded in the audit log in the
/// transaction that makes it.
#[derive(Debug, Clone, Copy)]
pub struct AuditContext<'a> {
    pub key: &'a AuditKey,
    pub actor: &'a str,
    /// `cli`, or the address a request came from.
    pub source: &'a str,
}

impl AuditContext<'_> {
    fn audited(&self, now: i64, action: &str, target: String, outcome: &str) -> Audited<'_> {
        Audited {
            key: self.key,
            record: NewAudit {
                at: now,
                actor: self.actor.to_string(),
                source: self.source.to_string(),
                action: action.to_string(),
                target,
                outcome: outcome.to_string(),
                before: None,
                after: None,
            },
        }
    }
}

fn audited<'a>(
    audit: Option<&'a AuditContext<'a>>,
    now: i64,
    action: &str,
    target: String,
) -> Option<Audited<'a>> {
    audit.map(|a| a.audited(now, action, target, "success"))
}

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
    /// The password was right and the user signs in with a one-time code too: ask for it.
    #[error("a one-time code (TOTP) is needed as well")]
    CodeNeeded,
    #[error("wrong or already used one-time code")]
    BadCode,
    #[error("not a valid API key")]
    BadKey,
    #[error("the API key was revoked")]
    Revoked,
    #[error("the API key has expired")]
    Expired,
    #[error("not a session of this server")]
    BadSession,
    #[error("the session has ended ({0})")]
    SessionEnded(&'static str),
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
    audit: Option<&AuditContext<'_>>,
) -> Result<UserRecord, ServiceError> {
    check_name(name)?;
    check_role(roles, role)?;
    let hash = hash_password(password).map_err(password_error)?;
    let record = audited(audit, now, "user.add", format!("user {name}"));
    Ok(store.add_user(name, role, &hash, now, record.as_ref())?)
}

/// Sets a user's password (and lifts a lockout: the administrator has just spoken to them).
pub fn set_password(
    store: &mut Store,
    name: &str,
    password: &str,
    now: i64,
    audit: Option<&AuditContext<'_>>,
) -> Result<UserRecord, ServiceError> {
    let hash = hash_password(password).map_err(password_error)?;
    let record = audited(audit, now, "user.password", format!("user {name}"));
    let user = store.update_user(
        name,
        now,
        |u| {
            u.password_hash = hash.clone();
            u.failed_logins = 0;
            u.locked_until = None;
        },
        record.as_ref(),
    )?;
    // Whoever knew the old password is signed out.
    store.revoke_sessions(name, None, now)?;
    Ok(user)
}

pub fn set_role(
    store: &mut Store,
    roles: &Roles,
    name: &str,
    role: &str,
    now: i64,
    audit: Option<&AuditContext<'_>>,
) -> Result<UserRecord, ServiceError> {
    check_role(roles, role)?;
    let record = audited(audit, now, "user.role", format!("user {name}"));
    Ok(store.update_user(name, now, |u| u.role = role.to_string(), record.as_ref())?)
}

pub fn set_disabled(
    store: &mut Store,
    name: &str,
    disabled: bool,
    now: i64,
    audit: Option<&AuditContext<'_>>,
) -> Result<UserRecord, ServiceError> {
    let action = if disabled {
        "user.disable"
    } else {
        "user.enable"
    };
    let record = audited(audit, now, action, format!("user {name}"));
    let user = store.update_user(name, now, |u| u.disabled = disabled, record.as_ref())?;
    if disabled {
        store.revoke_sessions(name, None, now)?;
    }
    Ok(user)
}

/// A hash of a password no one signs in with, verified against when the user is unknown so that the
/// answer takes as long as for a wrong password.
fn decoy_hash() -> &'static str {
    static DECOY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DECOY.get_or_init(|| hash_password("the decoy of an unknown user").unwrap_or_default())
}

/// Signs a user in with a password; every attempt, failed or not, is in the audit log. A user with
/// a one-time password needs [`login_with_code`].
pub fn login(
    store: &mut Store,
    name: &str,
    password: &str,
    now: i64,
    audit: Option<&AuditContext<'_>>,
) -> Result<Principal, AuthError> {
    login_with_code(store, name, password, None, now, audit)
}

/// Signs a user in with a password and, for a user with a TOTP secret, a one-time code (asked for
/// only once the password is right; a wrong code counts as a failed sign-in, a code is good once).
pub fn login_with_code(
    store: &mut Store,
    name: &str,
    password: &str,
    code: Option<&str>,
    now: i64,
    audit: Option<&AuditContext<'_>>,
) -> Result<Principal, AuthError> {
    let target = format!("user {name}");
    // A refusal that changes nothing is recorded on its own.
    let refused = |store: &mut Store, why: &AuthError| -> Result<(), AuthError> {
        if let Some(a) = audit {
            let mut record = a.audited(now, "login", target.clone(), "failure").record;
            record.after = Some(serde_json::json!({ "reason": why.to_string() }).to_string());
            store.audit(a.key, &record)?;
        }
        Ok(())
    };
    let Some(user) = store.user(name)? else {
        verify_password(password, decoy_hash());
        refused(store, &AuthError::BadCredentials)?;
        return Err(AuthError::BadCredentials);
    };
    let refusal = if user.disabled {
        Some(AuthError::Disabled)
    } else {
        user.locked_until.filter(|&u| u > now).map(|until| {
            AuthError::Locked(secops_event::Timestamp::from_unix_nanos(until).to_rfc3339())
        })
    };
    if let Some(why) = refusal {
        refused(store, &why)?;
        return Err(why);
    }
    let mut wrong_code = false;
    if verify_password(password, &user.password_hash) {
        let mut step = None;
        if let Some(secret) = &user.totp_secret {
            let Some(code) = code else {
                refused(store, &AuthError::CodeNeeded)?;
                return Err(AuthError::CodeNeeded);
            };
            step = TotpSecret::from_base32(secret)
                .ok()
                .and_then(|s| s.verify(code, now.div_euclid(1_000_000_000), user.totp_last_step));
            wrong_code = step.is_none();
        }
        if !wrong_code {
            let record = audit.map(|a| a.audited(now, "login", target.clone(), "success"));
            store.update_user(
                name,
                now,
                |u| {
                    u.failed_logins = 0;
                    u.locked_until = None;
                    u.last_login = Some(now);
                    if step.is_some() {
                        u.totp_last_step = step;
                    }
                },
                record.as_ref(),
            )?;
            return Ok(Principal {
                name: user.name,
                role: user.role,
                key_id: None,
            });
        }
    }
    let record = audit.map(|a| a.audited(now, "login", target.clone(), "failure"));
    let after = store.update_user(
        name,
        now,
        |u| {
            u.failed_logins += 1;
            if u.failed_logins >= LOCKOUT_AFTER {
                u.failed_logins = 0;
                u.locked_until = Some(now + LOCKOUT_FOR);
            }
        },
        record.as_ref(),
    )?;
    Err(if after.locked_until.is_some_and(|u| u > now) {
        AuthError::LockedNow
    } else if wrong_code {
        AuthError::BadCode
    } else {
        AuthError::BadCredentials
    })
}

/// A TOTP secret given to a user to enrol their authenticator with: kept as pending (sign-in does
/// not need it) until [`confirm_totp`] sees a code of it.
pub fn begin_totp(
    store: &mut Store,
    name: &str,
    now: i64,
    audit: Option<&AuditContext<'_>>,
) -> Result<TotpSecret, ServiceError> {
    let secret = TotpSecret::generate().map_err(|e| ServiceError::invalid("TOTP", e))?;
    let text = secret.base32();
    let record = audited(audit, now, "user.totp", format!("user {name}"));
    store.update_user(
        name,
        now,
        |u| u.totp_pending = Some(text.clone()),
        record.as_ref(),
    )?;
    Ok(secret)
}

/// Turns the pending TOTP secret on, given a code of it: from then on, sign-in needs a code.
pub fn confirm_totp(
    store: &mut Store,
    name: &str,
    code: &str,
    now: i64,
    audit: Option<&AuditContext<'_>>,
) -> Result<UserRecord, ServiceError> {
    let user = store
        .user(name)?
        .ok_or_else(|| ServiceError::Missing(format!("user {name} does not exist")))?;
    let Some(pending) = user.totp_pending.as_deref() else {
        return Err(ServiceError::invalid(
            "code",
            "no one-time password is being set up for this user (begin first)",
        ));
    };
    let step = TotpSecret::from_base32(pending)
        .ok()
        .and_then(|s| s.verify(code, now.div_euclid(1_000_000_000), None))
        .ok_or_else(|| ServiceError::invalid("code", "not the current code of the new secret"))?;
    let record = audited(audit, now, "user.totp", format!("user {name}"));
    Ok(store.update_user(
        name,
        now,
        |u| {
            u.totp_secret = u.totp_pending.take();
            u.totp_last_step = Some(step);
        },
        record.as_ref(),
    )?)
}

/// Turns a user's one-time password off (they lost their device, or chose to).
pub fn reset_totp(
    store: &mut Store,
    name: &str,
    now: i64,
    audit: Option<&AuditContext<'_>>,
) -> Result<UserRecord, ServiceError> {
    let record = audited(audit, now, "user.totp", format!("user {name}"));
    Ok(store.update_user(
        name,
        now,
        |u| {
            u.totp_secret = None;
            u.totp_pending = None;
            u.totp_last_step = None;
        },
        record.as_ref(),
    )?)
}

/// What a new API key is: what it is for, the role it acts with, the user responsible, its expiry.
#[derive(Debug, Clone)]
pub struct NewKey<'a> {
    pub name: &'a str,
    pub role: &'a str,
    pub owner: &'a str,
    pub expires_at: Option<i64>,
}

/// Makes an API key; the key's text is in the answer and nowhere else.
pub fn create_key(
    store: &mut Store,
    roles: &Roles,
    new: &NewKey<'_>,
    now: i64,
    audit: Option<&AuditContext<'_>>,
) -> Result<(ApiKeyRecord, String), ServiceError> {
    let NewKey {
        name,
        role,
        owner,
        expires_at,
    } = *new;
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
    let audit_record = audited(audit, now, "key.create", format!("key {}", record.key_id));
    store.add_api_key(&record, &secret.digest, audit_record.as_ref())?;
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
    // A disabled user's keys stop with them.
    if store.user(&key.owner)?.is_some_and(|u| u.disabled) {
        return Err(AuthError::Disabled);
    }
    // The last use is kept to the minute: a busy key does not write on every request.
    if key.last_used_at.is_none_or(|t| now - t >= TOUCH_EVERY)
        || key.last_used_from.as_deref() != Some(from)
    {
        store.touch_api_key(&id, now, from)?;
    }
    Ok(Principal {
        name: key.owner,
        role: key.role,
        key_id: Some(key.key_id),
    })
}

/// Revokes a key: it stops working at once.
pub fn revoke_key(
    store: &mut Store,
    key_id: &str,
    now: i64,
    audit: Option<&AuditContext<'_>>,
) -> Result<ApiKeyRecord, ServiceError> {
    let record = audited(audit, now, "key.revoke", format!("key {key_id}"));
    Ok(store.revoke_api_key(key_id, now, record.as_ref())?)
}

/// How often a key's or a session's last use is written (nanoseconds).
const TOUCH_EVERY: i64 = 60 * 1_000_000_000;

/// How long a session lasts: idle, and at most.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionPolicy {
    /// Ended after this long without a request (nanoseconds).
    pub idle: i64,
    /// Ended this long after sign-in whatever happens (nanoseconds).
    pub absolute: i64,
}

impl Default for SessionPolicy {
    /// 30 minutes idle, 12 hours at most (a shift).
    fn default() -> Self {
        SessionPolicy {
            idle: 30 * 60 * 1_000_000_000,
            absolute: 12 * 3600 * 1_000_000_000,
        }
    }
}

/// A new session: its record, the cookie's secret and the CSRF token (both handed over once).
#[derive(Debug, Clone)]
pub struct NewSession {
    pub record: SessionRecord,
    pub secret: String,
    pub csrf: String,
}

/// Opens a session for a user who has just signed in.
pub fn open_session(
    store: &mut Store,
    user: &str,
    source: &str,
    now: i64,
    policy: SessionPolicy,
) -> Result<NewSession, ServiceError> {
    let secret = SessionSecret::generate().map_err(|e| ServiceError::invalid("session", e))?;
    let record = store.add_session(
        &secret.digest,
        user,
        now,
        now.saturating_add(policy.absolute),
        source,
    )?;
    Ok(NewSession {
        record,
        csrf: SessionSecret::csrf(&secret.text),
        secret: secret.text,
    })
}

/// The user a session cookie signs in, if the session holds: not revoked, not idle past the limit,
/// not past its end, its user neither gone nor disabled. The role is the user's now.
pub fn authenticate_session(
    store: &mut Store,
    secret: &str,
    now: i64,
    policy: SessionPolicy,
) -> Result<(Principal, SessionRecord), AuthError> {
    let digest = SessionSecret::presented(secret).map_err(|_| AuthError::BadSession)?;
    let Some((session, user)) = store.session_by_digest(&digest)? else {
        return Err(AuthError::BadSession);
    };
    if session.revoked_at.is_some() {
        return Err(AuthError::SessionEnded("signed out or revoked"));
    }
    if session.expires_at <= now {
        return Err(AuthError::SessionEnded("expired"));
    }
    if session.last_seen.saturating_add(policy.idle) <= now {
        return Err(AuthError::SessionEnded("idle too long"));
    }
    if user.disabled {
        return Err(AuthError::Disabled);
    }
    if now - session.last_seen >= TOUCH_EVERY {
        store.touch_session(session.id, now)?;
    }
    Ok((
        Principal {
            name: user.name,
            role: user.role,
            key_id: None,
        },
        session,
    ))
}
