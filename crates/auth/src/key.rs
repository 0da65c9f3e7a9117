//! API key secrets: `secops_<id>_<secret>`, the id (8 lower-case hex digits) visible in listings and
//! logs, the secret 256 random bits (64 hex digits). Only the SHA-256 of the whole key is kept; the
//! key is shown once, when made.

use sha2::{Digest, Sha256};

const PREFIX: &str = "secops_";

/// A key as made: the text to hand over (once), its id, and the digest to keep.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKeySecret {
    pub text: String,
    pub id: String,
    pub digest: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("no random numbers from the system: {0}")]
    Random(String),
    #[error("not an API key of this server (secops_<id>_<secret>)")]
    Malformed,
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl ApiKeySecret {
    /// A new key from the system's random numbers.
    pub fn generate() -> Result<ApiKeySecret, KeyError> {
        let mut bytes = [0u8; 36];
        getrandom::fill(&mut bytes).map_err(|e| KeyError::Random(e.to_string()))?;
        let id = hex(&bytes[..4]);
        let text = format!("{PREFIX}{id}_{}", hex(&bytes[4..]));
        Ok(ApiKeySecret {
            digest: digest(&text),
            id,
            text,
        })
    }

    /// A presented key's id and digest (to look up, then compare); a text not shaped as a key is
    /// refused before any lookup.
    pub fn presented(text: &str) -> Result<(String, String), KeyError> {
        let rest = text
            .trim()
            .strip_prefix(PREFIX)
            .ok_or(KeyError::Malformed)?;
        let (id, secret) = rest.split_once('_').ok_or(KeyError::Malformed)?;
        let hexes = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_hexdigit());
        if !hexes(id, 8) || !hexes(secret, 64) {
            return Err(KeyError::Malformed);
        }
        Ok((id.to_ascii_lowercase(), digest(text.trim())))
    }
}

/// A session's secret: the cookie's value (64 hex digits), kept as its digest; the CSRF token a page
/// sends back with each change is derived from it, so a site that cannot read the cookie cannot make
/// the token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionSecret {
    pub text: String,
    pub digest: String,
}

impl SessionSecret {
    pub fn generate() -> Result<SessionSecret, KeyError> {
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes).map_err(|e| KeyError::Random(e.to_string()))?;
        let text = hex(&bytes);
        Ok(SessionSecret {
            digest: digest(&text),
            text,
        })
    }

    /// A presented cookie's digest; a value not shaped as a session secret is refused.
    pub fn presented(text: &str) -> Result<String, KeyError> {
        if text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit()) {
            Ok(digest(&text.to_ascii_lowercase()))
        } else {
            Err(KeyError::Malformed)
        }
    }

    /// The CSRF token of the session whose secret is `text`.
    pub fn csrf(text: &str) -> String {
        digest(&format!("secops csrf\0{}", text.to_ascii_lowercase()))
    }
}

/// The digest kept for a key.
pub fn digest(text: &str) -> String {
    hex(&Sha256::digest(text.as_bytes()))
}

/// Compares two digests in time independent of where they differ.
pub fn same_digest(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_is_found_by_its_id_and_proved_by_its_digest() {
        let key = ApiKeySecret::generate().unwrap();
        assert!(key.text.starts_with(&format!("secops_{}_", key.id)));
        assert_eq!(key.text.len(), "secops_".len() + 8 + 1 + 64);
        let (id, presented) = ApiKeySecret::presented(&key.text).unwrap();
        assert_eq!(id, key.id);
        assert!(same_digest(&presented, &key.digest));
        let other = ApiKeySecret::generate().unwrap();
        assert_ne!(other.id, key.id);
        assert!(!same_digest(&other.digest, &key.digest));
        for bad in [
            "",
            "secops_",
            "secops_zz_00",
            "Bearer x",
            &key.text[..key.text.len() - 1],
        ] {
            assert_eq!(
                ApiKeySecret::presented(bad),
                Err(KeyError::Malformed),
                "{bad}"
            );
        }
    }
}
