//! QR tokens: `<booking id>.<MAC>`, where the MAC is HMAC-SHA256 under the hub's secret, so a
//! token names its booking and cannot be forged without that secret.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::ids::BookingId;

type HmacSha256 = Hmac<Sha256>;

/// Signs and checks QR tokens with one secret.
#[derive(Clone)]
pub struct QrSigner {
    secret: Vec<u8>,
}

impl std::fmt::Debug for QrSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("QrSigner(..)")
    }
}

impl QrSigner {
    pub fn new(secret: Vec<u8>) -> Self {
        QrSigner { secret }
    }

    fn mac(&self, booking: BookingId) -> HmacSha256 {
        // HMAC takes a key of any length, so this cannot fail.
        let mut mac = HmacSha256::new_from_slice(&self.secret)
            .unwrap_or_else(|_| unreachable!("HMAC accepts keys of any length"));
        mac.update(b"boothhub-qr-v1:");
        mac.update(booking.0.as_bytes());
        mac
    }

    pub fn sign(&self, booking: BookingId) -> String {
        let tag = self.mac(booking).finalize().into_bytes();
        format!("{}.{}", booking, URL_SAFE_NO_PAD.encode(tag))
    }

    /// Whether `token` is this hub's token for `booking` (constant-time comparison).
    pub fn verify(&self, booking: BookingId, token: &str) -> bool {
        let Some((id, tag)) = token.split_once('.') else {
            return false;
        };
        if id.parse::<BookingId>().ok() != Some(booking) {
            return false;
        }
        let Ok(tag) = URL_SAFE_NO_PAD.decode(tag) else {
            return false;
        };
        self.mac(booking).verify_slice(&tag).is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_verifies_only_for_its_booking_and_secret() {
        let signer = QrSigner::new(b"secret".to_vec());
        let booking = BookingId::new();
        let token = signer.sign(booking);
        assert!(signer.verify(booking, &token));
        assert!(!signer.verify(BookingId::new(), &token));
        assert!(!QrSigner::new(b"other".to_vec()).verify(booking, &token));
        let forged = format!("{booking}.AAAA");
        assert!(!signer.verify(booking, &forged));
        for garbage in ["", ".", "x.y", &booking.to_string()] {
            assert!(!signer.verify(booking, garbage), "{garbage}");
        }
    }
}
