//! The payment webhook's signature (contract §6):
//! `X-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>`, accepted
//! within 300 seconds of now. Pure: the caller passes the time.
//!
//! The header is the client's: it is bounded (512 bytes, 4 `v1=` entries) before anything is
//! computed, and the MAC is computed once per request, then compared in constant time with
//! each candidate, so the cost of a request does not grow with its header.

use hmac::digest::{CtOutput, Output};
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// How far the signature's time may be from now, either way.
pub const TOLERANCE_SECONDS: i64 = 300;
/// The longest `X-Signature` header looked at.
pub const MAX_HEADER_BYTES: usize = 512;
/// The most `v1=` entries a header may carry (providers send two while rotating secrets).
pub const MAX_SIGNATURES: usize = 4;

type HmacSha256 = Hmac<Sha256>;

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the X-Signature header is missing")]
    Missing,
    #[error(
        "the X-Signature header is over 512 bytes, holds more than 4 signatures, or is repeated"
    )]
    OutOfBounds,
    #[error("the X-Signature header is malformed")]
    Malformed,
    #[error("the signature's timestamp is outside the 300 second window")]
    Stale,
    #[error("the signature does not match")]
    Mismatch,
}

impl SignatureError {
    /// A label for the rejection metric.
    pub fn reason(&self) -> &'static str {
        match self {
            SignatureError::Missing => "missing",
            SignatureError::OutOfBounds => "out_of_bounds",
            SignatureError::Malformed => "malformed",
            SignatureError::Stale => "stale",
            SignatureError::Mismatch => "mismatch",
        }
    }
}

#[cfg(test)]
thread_local! {
    /// MACs computed on this thread, so that a test can count them.
    static MACS: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// The tag of `"<timestamp>.<body>"`: the one MAC of a request.
fn tag(secret: &[u8], timestamp: &str, body: &[u8]) -> CtOutput<HmacSha256> {
    #[cfg(test)]
    MACS.with(|macs| macs.set(macs.get() + 1));
    let mut mac = HmacSha256::new_from_slice(secret)
        .unwrap_or_else(|_| unreachable!("HMAC accepts keys of any length"));
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    mac.finalize()
}

/// The header a provider would send for `body` at `timestamp`.
pub fn sign(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    let tag = tag(secret, &timestamp.to_string(), body).into_bytes();
    format!("t={timestamp},v1={}", hex::encode(tag))
}

/// Refuses a header over [`MAX_HEADER_BYTES`] or with more than [`MAX_SIGNATURES`] `v1=`
/// entries. Cheap and bounded: it looks at no more than 512 bytes.
pub fn check_bounds(header: &str) -> Result<(), SignatureError> {
    if header.len() > MAX_HEADER_BYTES {
        return Err(SignatureError::OutOfBounds);
    }
    let signatures = header
        .split(',')
        .filter(|part| part.trim_start().starts_with("v1="))
        .count();
    if signatures > MAX_SIGNATURES {
        return Err(SignatureError::OutOfBounds);
    }
    Ok(())
}

/// A bounded header, taken apart: its time and up to [`MAX_SIGNATURES`] candidate tags.
struct Parsed<'a> {
    timestamp: &'a str,
    seconds: i64,
    candidates: [Option<&'a str>; MAX_SIGNATURES],
}

fn parse(header: &str) -> Result<Parsed<'_>, SignatureError> {
    check_bounds(header)?;
    let mut timestamp = None;
    let mut candidates = [None; MAX_SIGNATURES];
    let mut count = 0;
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", t)) => timestamp = Some(t),
            Some(("v1", candidate)) => {
                // `check_bounds` let at most MAX_SIGNATURES through.
                if let Some(slot) = candidates.get_mut(count) {
                    *slot = Some(candidate);
                    count += 1;
                }
            }
            _ => {}
        }
    }
    let timestamp = timestamp.ok_or(SignatureError::Malformed)?;
    let seconds = timestamp.parse().map_err(|_| SignatureError::Malformed)?;
    if count == 0 {
        return Err(SignatureError::Malformed);
    }
    Ok(Parsed {
        timestamp,
        seconds,
        candidates,
    })
}

/// Whether the hex `candidate` is `expected`, compared in constant time.
fn is_tag(candidate: &str, expected: &CtOutput<HmacSha256>) -> bool {
    let mut bytes = Output::<HmacSha256>::default();
    hex::decode_to_slice(candidate, &mut bytes).is_ok() && CtOutput::new(bytes) == *expected
}

/// Checks `header` against `body` at unix time `now`: bounds first, then the window, then one
/// MAC compared with each candidate.
pub fn verify(
    secret: &[u8],
    header: Option<&str>,
    body: &[u8],
    now: i64,
) -> Result<(), SignatureError> {
    let header = header.ok_or(SignatureError::Missing)?;
    let parsed = parse(header)?;
    if (now - parsed.seconds).abs() > TOLERANCE_SECONDS {
        return Err(SignatureError::Stale);
    }
    let expected = tag(secret, parsed.timestamp, body);
    // Every candidate is compared (no early exit): the time does not say which one matched.
    let matches = parsed
        .candidates
        .iter()
        .flatten()
        .fold(false, |found, candidate| {
            is_tag(candidate, &expected) | found
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

    fn good() -> String {
        sign(SECRET, NOW, BODY)
    }

    /// The good header padded with an unknown field to exactly `len` bytes.
    fn padded(len: usize) -> String {
        let header = format!("{},x=", good());
        let pad = len - header.len();
        format!("{header}{}", "a".repeat(pad))
    }

    /// `count` wrong `v1=` entries, each starting with a comma.
    fn wrong(count: usize) -> String {
        (0..count)
            .map(|n| format!(",v1={}", format!("{n:02}").repeat(32)))
            .collect()
    }

    /// A header with `count` wrong signatures and then the right one.
    fn with_entries(count: usize) -> String {
        let good = good();
        let right = good.split_once(",v1=").map(|(_, tag)| tag).unwrap_or("");
        format!("t={NOW}{},v1={right}", wrong(count))
    }

    fn macs_during(f: impl FnOnce()) -> usize {
        let before = MACS.with(std::cell::Cell::get);
        f();
        MACS.with(std::cell::Cell::get) - before
    }

    #[test]
    fn signatures() {
        type Case<'a> = (Option<String>, &'a [u8], i64, Result<(), SignatureError>);
        let cases: Vec<Case<'_>> = vec![
            (Some(good()), BODY, NOW, Ok(())),
            (Some(good()), BODY, NOW + 300, Ok(())),
            (Some(good()), BODY, NOW - 300, Ok(())),
            (Some(good()), BODY, NOW + 301, Err(SignatureError::Stale)),
            (Some(good()), BODY, NOW - 301, Err(SignatureError::Stale)),
            (
                Some(good()),
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
            (Some(format!("v1=00,{}", good())), BODY, NOW, Ok(())),
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
            // The right tag, one hex digit short or long.
            (
                Some(good()[..good().len() - 1].to_owned()),
                BODY,
                NOW,
                Err(SignatureError::Mismatch),
            ),
            (
                Some(format!("{}0", good())),
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

    #[test]
    fn the_header_is_bounded_before_any_mac() {
        let cases = [
            ("512 bytes", padded(MAX_HEADER_BYTES), Ok(())),
            (
                "513 bytes",
                padded(MAX_HEADER_BYTES + 1),
                Err(SignatureError::OutOfBounds),
            ),
            ("1 entry", with_entries(0), Ok(())),
            ("4 entries, the right one last", with_entries(3), Ok(())),
            (
                "5 entries, the right one last",
                with_entries(4),
                Err(SignatureError::OutOfBounds),
            ),
            (
                "5 entries, the right one first",
                format!("{},v1=00,v1=01,v1=02,v1=03", good()),
                Err(SignatureError::OutOfBounds),
            ),
            (
                "60,000 entries",
                format!("t={NOW}{}", ",v1=0".repeat(60_000)),
                Err(SignatureError::OutOfBounds),
            ),
        ];
        for (case, header, want) in cases {
            let wanted_macs = usize::from(want.is_ok());
            let mut got = Err(SignatureError::Missing);
            let macs = macs_during(|| got = verify(SECRET, Some(&header), BODY, NOW));
            assert_eq!(got, want, "{case} ({} bytes)", header.len());
            assert_eq!(macs, wanted_macs, "{case}: MACs computed");
            assert_eq!(
                check_bounds(&header).is_ok(),
                want.is_ok(),
                "{case}: check_bounds alone"
            );
        }
        assert_eq!(padded(MAX_HEADER_BYTES).len(), 512);
        assert_eq!(with_entries(3).matches("v1=").count(), 4);
    }

    #[test]
    fn one_mac_per_call_whatever_the_header_holds() {
        let cases = [
            ("1 wrong", format!("t={NOW}{}", wrong(1)), false),
            ("4 wrong", format!("t={NOW}{}", wrong(4)), false),
            ("3 wrong then right", with_entries(3), true),
            (
                "right then 3 wrong",
                format!("{}{}", good(), wrong(3)),
                true,
            ),
        ];
        for (case, header, ok) in cases {
            assert!(header.matches("v1=").count() <= MAX_SIGNATURES, "{case}");
            let mut got = Err(SignatureError::Missing);
            let macs = macs_during(|| got = verify(SECRET, Some(&header), BODY, NOW));
            assert_eq!(got.is_ok(), ok, "{case}: {got:?}");
            assert_eq!(macs, 1, "{case}: one MAC");
        }
        let header = good();
        let stale = macs_during(|| {
            assert_eq!(
                verify(SECRET, Some(&header), BODY, NOW + 301),
                Err(SignatureError::Stale)
            );
        });
        assert_eq!(stale, 0, "a stale header costs no MAC");
    }
}
