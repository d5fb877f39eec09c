//! Secrets: staff password hashes (argon2id), and long random tokens for
//! API keys and patients' links, stored only as their SHA-256.

use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use argon2::{Algorithm, Argon2, Params, Version};
use base64::Engine;
use sha2::{Digest, Sha256};

fn argon2() -> Argon2<'static> {
    // OWASP's argon2id minimum: 19 MiB, 2 passes, 1 lane.
    let params = Params::new(19 * 1024, 2, 1, None).unwrap_or_default();
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// An argon2id hash of a staff password, as a PHC string.
pub fn hash_password(password: &str) -> anyhow::Result<String> {
    let mut salt = [0u8; 16];
    rand::fill(&mut salt);
    let hash = argon2()
        .hash_password_with_salt(password.as_bytes(), &salt)
        .map_err(|e| anyhow::anyhow!("cannot hash the password: {e}"))?;
    Ok(hash.to_string())
}

pub fn verify_password(password: &str, phc: &str) -> bool {
    argon2().verify_password(password.as_bytes(), phc).is_ok()
}

/// A new secret token: 32 random bytes, URL-safe base64, with a prefix that
/// says what it is (`prom_key_`, `prom_inv_`).
pub fn new_token(prefix: &str) -> String {
    let mut bytes = [0u8; 32];
    rand::fill(&mut bytes);
    format!(
        "{prefix}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    )
}

/// How a token is stored: its SHA-256, in hex. Tokens carry 256 random bits,
/// so a fast hash is enough; passwords use argon2id.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// A generated password: 18 random bytes, URL-safe base64 (24 characters).
/// Whether a secret given by a client is the configured one, without a
/// comparison whose time depends on where they differ.
pub fn same_secret(given: &str, expected: &str) -> bool {
    token_hash(given) == token_hash(expected)
}

pub fn new_password() -> String {
    let mut bytes = [0u8; 18];
    rand::fill(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// A token the server signs (`purpose`, an expiry in Unix seconds, a
/// random part and an HMAC-SHA-256 of the three with `key`): a client
/// cannot make one, and the server keeps nothing to check it.
pub fn signed_token(key: &[u8; 32], purpose: &str, expires: i64) -> String {
    let nonce = new_token("");
    let mac = token_mac(key, purpose, expires, &nonce);
    format!("{expires}.{nonce}.{mac}")
}

/// Whether `token` was signed by `signed_token` with `key` for `purpose`
/// and has not expired at `now` (Unix seconds).
pub fn signed_token_ok(key: &[u8; 32], purpose: &str, token: &str, now: i64) -> bool {
    let mut parts = token.splitn(3, '.');
    let (Some(exp), Some(nonce), Some(mac)) = (parts.next(), parts.next(), parts.next()) else {
        return false;
    };
    let Ok(expires) = exp.parse::<i64>() else {
        return false;
    };
    expires > now && same_secret(mac, &token_mac(key, purpose, expires, nonce))
}

fn token_mac(key: &[u8; 32], purpose: &str, expires: i64, nonce: &str) -> String {
    use hmac::{KeyInit, Mac};
    // INVARIANT: HMAC takes a key of any length.
    let mut m = <hmac::Hmac<Sha256> as KeyInit>::new_from_slice(key)
        .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
    m.update(format!("{purpose}\0{expires}\0{nonce}").as_bytes());
    hex::encode(m.finalize().into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_hash_with_argon2id_and_verify() {
        let h = hash_password("correct horse").expect("hash");
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_password("correct horse", &h));
        assert!(!verify_password("wrong horse", &h));
    }

    #[test]
    fn tokens_are_long_random_and_stored_hashed() {
        let a = new_token("prom_key_");
        assert!(a.len() > 40 && a != new_token("prom_key_"));
        assert_eq!(token_hash(&a).len(), 64);
    }

    #[test]
    fn signed_tokens_hold_for_their_purpose_and_time_only() {
        let key = [7u8; 32];
        let t = signed_token(&key, "login", 1_000);
        assert!(signed_token_ok(&key, "login", &t, 999));
        assert!(!signed_token_ok(&key, "login", &t, 1_000), "expired");
        assert!(!signed_token_ok(&key, "other", &t, 999), "another purpose");
        assert!(
            !signed_token_ok(&[8u8; 32], "login", &t, 999),
            "another key"
        );
        let forged = format!("2000{}", &t[4..]);
        assert!(
            !signed_token_ok(&key, "login", &forged, 999),
            "a changed expiry"
        );
        assert!(!signed_token_ok(&key, "login", &"x".repeat(60), 0));
    }
}
