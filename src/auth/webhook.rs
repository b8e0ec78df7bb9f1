//! The payment webhook's signature (contract §6):
//! `X-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>`, accepted
//! within 300 seconds of now. Pure: the caller passes the time.

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// How far the signature's time may be from now, either way.
pub const TOLERANCE_SECONDS: i64 = 300;

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the X-Signature header is missing")]
    Missing,
    #[error("the X-Signature header is malformed")]
    Malformed,
    #[error("the signature's timestamp is outside the 300 second window")]
    Stale,
    #[error("the signature does not match")]
    Mismatch,
}

fn mac(secret: &[u8], timestamp: &str, body: &[u8]) -> Hmac<Sha256> {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret)
        .unwrap_or_else(|_| unreachable!("HMAC accepts keys of any length"));
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

/// The header a provider would send for `body` at `timestamp`.
pub fn sign(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    let tag = mac(secret, &timestamp.to_string(), body)
        .finalize()
        .into_bytes();
    format!("t={timestamp},v1={}", hex::encode(tag))
}

/// Checks `header` against `body` at unix time `now` (constant-time comparison).
pub fn verify(
    secret: &[u8],
    header: Option<&str>,
    body: &[u8],
    now: i64,
) -> Result<(), SignatureError> {
    let header = header.ok_or(SignatureError::Missing)?;
    let mut timestamp = None;
    let mut candidates = vec![];
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", t)) => timestamp = Some(t),
            Some(("v1", sig)) => candidates.push(sig),
            _ => {}
        }
    }
    let timestamp = timestamp.ok_or(SignatureError::Malformed)?;
    let seconds: i64 = timestamp.parse().map_err(|_| SignatureError::Malformed)?;
    if candidates.is_empty() {
        return Err(SignatureError::Malformed);
    }
    if (now - seconds).abs() > TOLERANCE_SECONDS {
        return Err(SignatureError::Stale);
    }
    let matches = candidates.iter().any(|candidate| {
        hex::decode(candidate)
            .is_ok_and(|tag| mac(secret, timestamp, body).verify_slice(&tag).is_ok())
    });
    if matches {
        Ok(())
    } else {
        Err(SignatureError::Mismatch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"whsec_test_0123456789";
    const BODY: &[u8] = br#"{"event_id":"evt_1"}"#;
    const NOW: i64 = 1_800_000_000;

    #[test]
    fn signatures() {
        let good = sign(SECRET, NOW, BODY);
        type Case<'a> = (Option<String>, &'a [u8], i64, Result<(), SignatureError>);
        let cases: Vec<Case<'_>> = vec![
            (Some(good.clone()), BODY, NOW, Ok(())),
            (Some(good.clone()), BODY, NOW + 300, Ok(())),
            (Some(good.clone()), BODY, NOW - 300, Ok(())),
            (
                Some(good.clone()),
                BODY,
                NOW + 301,
                Err(SignatureError::Stale),
            ),
            (
                Some(good.clone()),
                BODY,
                NOW - 301,
                Err(SignatureError::Stale),
            ),
            (
                Some(good.clone()),
                br#"{"event_id":"evt_2"}"#,
                NOW,
                Err(SignatureError::Mismatch),
            ),
            (
                Some(sign(b"other secret", NOW, BODY)),
                BODY,
                NOW,
                Err(SignatureError::Mismatch),
            ),
            (Some(format!("v1=00,{good}")), BODY, NOW, Ok(())),
            (None, BODY, NOW, Err(SignatureError::Missing)),
            (
                Some("garbage".into()),
                BODY,
                NOW,
                Err(SignatureError::Malformed),
            ),
            (
                Some(format!("t={NOW}")),
                BODY,
                NOW,
                Err(SignatureError::Malformed),
            ),
            (
                Some("t=abc,v1=00".into()),
                BODY,
                NOW,
                Err(SignatureError::Malformed),
            ),
            (
                Some(format!("t={NOW},v1=zz")),
                BODY,
                NOW,
                Err(SignatureError::Mismatch),
            ),
        ];
        for (header, body, now, want) in cases {
            assert_eq!(
                verify(SECRET, header.as_deref(), body, now),
                want,
                "{header:?} at {now}"
            );
        }
    }
}
