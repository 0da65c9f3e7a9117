//! Time-based one-time passwords (RFC 6238 over RFC 4226's HOTP): HMAC-SHA1, 30-second steps, six
//! digits, as authenticator apps expect by default. A secret is 20 random bytes, shown to the user
//! in base32 (RFC 4648, no padding) and as an `otpauth://` URI for a QR code. A code is accepted one
//! step either side of now (clock drift), and never twice: the caller keeps the last step used.

use hmac::{Hmac, Mac};
use sha1::Sha1;

/// Seconds per step.
pub const STEP: i64 = 30;
/// Digits per code.
pub const DIGITS: u32 = 6;
/// Steps accepted either side of the current one.
pub const DRIFT: i64 = 1;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TotpError {
    #[error("no random numbers: {0}")]
    Random(String),
    #[error("not a base32 secret")]
    Secret,
}

/// A TOTP secret.
#[derive(Clone, PartialEq, Eq)]
pub struct TotpSecret(Vec<u8>);

impl std::fmt::Debug for TotpSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TotpSecret(..)")
    }
}

const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

impl TotpSecret {
    /// A new random secret (160 bits, the length RFC 4226 recommends).
    pub fn generate() -> Result<TotpSecret, TotpError> {
        let mut bytes = vec![0u8; 20];
        getrandom::fill(&mut bytes).map_err(|e| TotpError::Random(e.to_string()))?;
        Ok(TotpSecret(bytes))
    }

    pub fn from_bytes(bytes: &[u8]) -> TotpSecret {
        TotpSecret(bytes.to_vec())
    }

    /// The secret in base32, without padding (what apps take typed in).
    pub fn base32(&self) -> String {
        let mut out = String::new();
        let mut buffer: u32 = 0;
        let mut bits = 0;
        for byte in &self.0 {
            buffer = (buffer << 8) | u32::from(*byte);
            bits += 8;
            while bits >= 5 {
                bits -= 5;
                out.push(char::from(ALPHABET[((buffer >> bits) & 31) as usize]));
            }
        }
        if bits > 0 {
            out.push(char::from(ALPHABET[((buffer << (5 - bits)) & 31) as usize]));
        }
        out
    }

    /// A secret from base32 (case and spaces ignored, padding allowed).
    pub fn from_base32(text: &str) -> Result<TotpSecret, TotpError> {
        let mut out = Vec::new();
        let mut buffer: u32 = 0;
        let mut bits = 0;
        for c in text.chars().filter(|c| !c.is_whitespace() && *c != '=') {
            let c = c.to_ascii_uppercase();
            let value = ALPHABET
                .iter()
                .position(|a| char::from(*a) == c)
                .ok_or(TotpError::Secret)?;
            buffer = (buffer << 5) | value as u32;
            bits += 5;
            if bits >= 8 {
                bits -= 8;
                out.push((buffer >> bits) as u8);
            }
            buffer &= (1 << bits) - 1;
        }
        if out.is_empty() {
            return Err(TotpError::Secret);
        }
        Ok(TotpSecret(out))
    }

    /// The `otpauth://` URI an authenticator app reads (from a QR code) for `user` of `issuer`.
    pub fn uri(&self, issuer: &str, user: &str) -> String {
        let issuer = percent(issuer);
        format!(
            "otpauth://totp/{issuer}:{}?secret={}&issuer={issuer}&algorithm=SHA1&digits={DIGITS}&period={STEP}",
            percent(user),
            self.base32()
        )
    }

    /// The code of a step (HOTP of the step counter), `digits` long.
    pub fn code_at_step(&self, step: i64, digits: u32) -> String {
        let Ok(mut mac) = Hmac::<Sha1>::new_from_slice(&self.0) else {
            return String::new();
        };
        mac.update(&step.to_be_bytes());
        let hash = mac.finalize().into_bytes();
        // Dynamic truncation (RFC 4226 section 5.3).
        let offset = usize::from(hash[hash.len() - 1] & 0x0f);
        let binary = (u32::from(hash[offset] & 0x7f) << 24)
            | (u32::from(hash[offset + 1]) << 16)
            | (u32::from(hash[offset + 2]) << 8)
            | u32::from(hash[offset + 3]);
        let code = binary % 10u32.pow(digits);
        format!("{code:0width$}", width = digits as usize)
    }

    /// The six-digit code at a time (Unix seconds).
    pub fn code_at(&self, unix_seconds: i64) -> String {
        self.code_at_step(unix_seconds.div_euclid(STEP), DIGITS)
    }

    /// The step `code` belongs to, if it is the code of a step within [`DRIFT`] of `unix_seconds`'s
    /// and after `last_used` (a code is good once).
    pub fn verify(&self, code: &str, unix_seconds: i64, last_used: Option<i64>) -> Option<i64> {
        let code = code.trim();
        if code.len() != DIGITS as usize || !code.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let now = unix_seconds.div_euclid(STEP);
        let mut found = None;
        // Every candidate is computed and compared in full, whichever matches.
        for step in now - DRIFT..=now + DRIFT {
            let expected = self.code_at_step(step, DIGITS);
            let same = expected
                .bytes()
                .zip(code.bytes())
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0;
            if same && last_used.is_none_or(|last| step > last) {
                found = Some(step);
            }
        }
        found
    }
}

/// Percent-encodes all but unreserved characters (RFC 3986) for the URI's label and issuer.
fn percent(text: &str) -> String {
    let mut out = String::new();
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238 appendix B, SHA-1 rows (secret "12345678901234567890", eight digits).
    #[test]
    fn codes_match_the_rfc_6238_test_vectors() {
        let secret = TotpSecret::from_bytes(b"12345678901234567890");
        for (time, code) in [
            (59, "94287082"),
            (1_111_111_109, "07081804"),
            (1_111_111_111, "14050471"),
            (1_234_567_890, "89005924"),
            (2_000_000_000, "69279037"),
            (20_000_000_000, "65353130"),
        ] {
            assert_eq!(secret.code_at_step(time / STEP, 8), code, "at {time}");
        }
    }

    #[test]
    fn base32_round_trips_and_matches_rfc_4648() {
        // RFC 4648 section 10: "foobar" is MZXW6YTBOI (padding dropped).
        assert_eq!(TotpSecret::from_bytes(b"foobar").base32(), "MZXW6YTBOI");
        assert_eq!(
            TotpSecret::from_base32("mzxw 6ytb oi==").unwrap(),
            TotpSecret::from_bytes(b"foobar")
        );
        let secret = TotpSecret::generate().unwrap();
        assert_eq!(TotpSecret::from_base32(&secret.base32()).unwrap(), secret);
        assert_eq!(
            TotpSecret::from_base32("not base32!"),
            Err(TotpError::Secret)
        );
    }

    #[test]
    fn a_code_is_good_within_one_step_and_only_once() {
        let secret = TotpSecret::from_bytes(b"12345678901234567890");
        let now = 1_234_567_890;
        let code = secret.code_at(now);
        let step = now / STEP;
        assert_eq!(secret.verify(&code, now, None), Some(step));
        assert_eq!(secret.verify(&code, now + STEP, None), Some(step));
        assert_eq!(secret.verify(&code, now + 2 * STEP, None), None);
        // Used once: refused after.
        assert_eq!(secret.verify(&code, now, Some(step)), None);
        assert_eq!(secret.verify("12345", now, None), None);
        assert_eq!(secret.verify("abcdef", now, None), None);
        assert!(secret
            .uri("secops", "ana@example.org")
            .starts_with("otpauth://totp/secops:ana%40example.org?secret="));
    }
}
