//! Who may do what. Permissions are `resource:action` (`alerts:triage`); roles bundle them (viewer,
//! analyst, responder, engineer, admin, auditor built in; custom roles in TOML, each inheriting from
//! others); passwords are Argon2id PHC strings; API keys are random secrets with a visible prefix,
//! kept as their SHA-256. Nothing here reads a store or a clock: the store keeps users and keys, the
//! service decides.

pub mod key;
pub mod password;
pub mod role;
pub mod totp;

pub use key::{same_digest, ApiKeySecret, KeyError, SessionSecret};
pub use password::{hash_password, verify_password, PasswordError, MIN_PASSWORD_CHARS};
pub use role::{Permission, Role, RoleError, Roles, EVENTS_WRITE, PERMISSIONS};
pub use totp::{TotpError, TotpSecret};
