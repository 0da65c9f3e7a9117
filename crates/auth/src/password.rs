//! Passwords as Argon2id PHC strings (`$argon2id$v=19$m=19456,t=2,p=1$salt$hash`): OWASP's minimum
//! parameters, a random salt per password. The hash carries its parameters, so stronger ones later
//! still verify old hashes. (The workspace builds `argon2` optimised even in debug builds.)

use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use argon2::Argon2;

/// Passwords shorter than this are refused.
pub const MIN_PASSWORD_CHARS: usize = 12;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PasswordError {
    #[error("a password needs at least {MIN_PASSWORD_CHARS} characters")]
    TooShort,
    #[error("the password hash cannot be made: {0}")]
    Hash(String),
}

/// The PHC string of a new password (checked for length first).
pub fn hash_password(password: &str) -> Result<String, PasswordError> {
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(PasswordError::TooShort);
    }
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| PasswordError::Hash(e.to_string()))
}

/// Whether `password` is the one `hash` was made from; a hash that does not parse matches nothing.
pub fn verify_password(password: &str, hash: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(hash) else {
        return false;
    };
    Argon2::default()
        .verify_password(password.as_bytes(), &parsed)
        .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_password_verifies_against_its_own_hash_only() {
        let hash = hash_password("correct horse battery").unwrap();
        assert!(hash.starts_with("$argon2id$v=19$"));
        assert!(verify_password("correct horse battery", &hash));
        assert!(!verify_password("correct horse batterz", &hash));
        // A fresh salt each time.
        assert_ne!(hash, hash_password("correct horse battery").unwrap());
        assert!(!verify_password("anything at all", "not a hash"));
        assert_eq!(hash_password("short"), Err(PasswordError::TooShort));
    }
}
