//! Who calls: login and booth tokens (random, stored only as SHA-256), passwords (argon2id),
//! the web session cookie, and the payment webhook's signature.

pub mod password;
pub mod webhook;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use sha2::{Digest, Sha256};

/// The name of the web UI's session cookie.
pub const SESSION_COOKIE: &str = "boothhub_session";
/// Login tokens start with this; booth tokens with [`BOOTH_PREFIX`].
pub const LOGIN_PREFIX: &str = "bhl_";
pub const BOOTH_PREFIX: &str = "bhb_";

/// A new random token (256 bits) with a prefix that tells its kind.
pub fn new_token(prefix: &str) -> String {
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    format!("{prefix}{}", URL_SAFE_NO_PAD.encode(bytes))
}

/// What the store keeps of a token: its SHA-256, hex. Tokens carry 256 random bits, so a fast
/// hash is enough (a slow one would only slow every request).
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// The `Set-Cookie` value that opens a web session.
pub fn session_cookie(token: &str, max_age_seconds: i64) -> String {
    format!(
        "{SESSION_COOKIE}={token}; HttpOnly; Secure; SameSite=Strict; Path=/; Max-Age={max_age_seconds}"
    )
}

/// The `Set-Cookie` value that ends it.
pub fn cleared_cookie() -> String {
    format!("{SESSION_COOKIE}=; HttpOnly; Secure; SameSite=Strict; Path=/; Max-Age=0")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_prefixed_and_hash_stably() {
        let a = new_token(LOGIN_PREFIX);
        let b = new_token(LOGIN_PREFIX);
        assert!(a.starts_with(LOGIN_PREFIX));
        assert_ne!(a, b);
        assert_eq!(token_hash(&a), token_hash(&a));
        assert_ne!(token_hash(&a), token_hash(&b));
        assert_eq!(token_hash(&a).len(), 64);
    }
}
