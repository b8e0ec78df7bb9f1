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
/// The cookie the web UI reads its CSRF token from (not HttpOnly: the page sends it back in
/// [`CSRF_HEADER`]; a page of another site can neither read it nor send the header).
pub const CSRF_COOKIE: &str = "boothhub_csrf";
pub const CSRF_HEADER: &str = "x-csrf-token";
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

/// The CSRF token of a web session: bound to its session token (a value planted by someone
/// else does not match), and derived, so it needs no storage and survives a restart.
pub fn csrf_token(session_token: &str) -> String {
    let mut hasher = Sha256::new();
    hasher.update(b"boothhub-csrf\0");
    hasher.update(session_token.as_bytes());
    hex::encode(&hasher.finalize()[..16])
}

/// Whether `presented` is the CSRF token of `session_token` (compared in constant time).
pub fn csrf_matches(session_token: &str, presented: &str) -> bool {
    let expected = csrf_token(session_token);
    expected.len() == presented.len()
        && expected
            .bytes()
            .zip(presented.bytes())
            .fold(0u8, |diff, (a, b)| diff | (a ^ b))
            == 0
}

/// The `Set-Cookie` value that hands the page its CSRF token.
pub fn csrf_cookie(session_token: &str, max_age_seconds: i64) -> String {
    format!(
        "{CSRF_COOKIE}={}; Secure; SameSite=Strict; Path=/; Max-Age={max_age_seconds}",
        csrf_token(session_token)
    )
}

pub fn cleared_csrf_cookie() -> String {
    format!("{CSRF_COOKIE}=; Secure; SameSite=Strict; Path=/; Max-Age=0")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_csrf_token_matches_only_its_own_session() {
        let session = new_token(LOGIN_PREFIX);
        let other = new_token(LOGIN_PREFIX);
        let token = csrf_token(&session);
        assert!(csrf_matches(&session, &token));
        assert!(!csrf_matches(&other, &token));
        assert!(!csrf_matches(&session, ""));
        assert!(!csrf_matches(&session, &token[1..]));
        assert!(csrf_cookie(&session, 60).starts_with(&format!("{CSRF_COOKIE}={token};")));
    }

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
