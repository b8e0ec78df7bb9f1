//! Every error code of the contract, one vocabulary for HTTP answers (§2), WebSocket `error`
//! messages (§7) and the reasons recorded in events (`SESSION_REJECTED`'s `data.reason`).

use serde::Serialize;

use super::status::Refusal;

/// An error code as the contract spells it (`SCREAMING_SNAKE_CASE` on the wire).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ErrorCode {
    MalformedJson,
    UnknownField,
    InvalidQuery,
    UnsupportedMediaType,
    PayloadTooLarge,
    RequestTimeout,
    ValidationFailed,
    Unauthenticated,
    InvalidCredentials,
    InvalidSignature,
    Forbidden,
    CsrfTokenInvalid,
    WrongBooth,
    NotFound,
    MethodNotAllowed,
    InvalidQr,
    TooEarly,
    Expired,
    NotPaid,
    InvalidTransition,
    BookingExpired,
    BookingTimePassed,
    BookingTooFar,
    SlotTaken,
    EmailTaken,
    LastSuperAdmin,
    OutletInactive,
    NotRefundable,
    AmountMismatch,
    EventIdReused,
    RateLimited,
    UnsupportedSubprotocol,
    UpgradeRequired,
    Unavailable,
    Internal,
    /// WebSocket: a message the hub cannot read.
    MalformedMessage,
    /// WebSocket: a stream name that names no stream.
    BadStream,
    /// WebSocket: a subscription past the per-connection stream cap.
    TooManyStreams,
}

impl ErrorCode {
    /// Every code, for the checks that the API's documents name them all.
    pub const ALL: [ErrorCode; 38] = [
        ErrorCode::MalformedJson,
        ErrorCode::UnknownField,
        ErrorCode::InvalidQuery,
        ErrorCode::UnsupportedMediaType,
        ErrorCode::PayloadTooLarge,
        ErrorCode::RequestTimeout,
        ErrorCode::ValidationFailed,
        ErrorCode::Unauthenticated,
        ErrorCode::InvalidCredentials,
        ErrorCode::InvalidSignature,
        ErrorCode::Forbidden,
        ErrorCode::CsrfTokenInvalid,
        ErrorCode::WrongBooth,
        ErrorCode::NotFound,
        ErrorCode::MethodNotAllowed,
        ErrorCode::InvalidQr,
        ErrorCode::TooEarly,
        ErrorCode::Expired,
        ErrorCode::NotPaid,
        ErrorCode::InvalidTransition,
        ErrorCode::BookingExpired,
        ErrorCode::BookingTimePassed,
        ErrorCode::BookingTooFar,
        ErrorCode::SlotTaken,
        ErrorCode::EmailTaken,
        ErrorCode::LastSuperAdmin,
        ErrorCode::OutletInactive,
        ErrorCode::NotRefundable,
        ErrorCode::AmountMismatch,
        ErrorCode::EventIdReused,
        ErrorCode::RateLimited,
        ErrorCode::UnsupportedSubprotocol,
        ErrorCode::UpgradeRequired,
        ErrorCode::Unavailable,
        ErrorCode::Internal,
        ErrorCode::MalformedMessage,
        ErrorCode::BadStream,
        ErrorCode::TooManyStreams,
    ];

    /// The code as the contract writes it.
    pub fn as_str(self) -> &'static str {
        use ErrorCode::*;
        match self {
            MalformedJson => "MALFORMED_JSON",
            UnknownField => "UNKNOWN_FIELD",
            InvalidQuery => "INVALID_QUERY",
            UnsupportedMediaType => "UNSUPPORTED_MEDIA_TYPE",
            PayloadTooLarge => "PAYLOAD_TOO_LARGE",
            RequestTimeout => "REQUEST_TIMEOUT",
            ValidationFailed => "VALIDATION_FAILED",
            Unauthenticated => "UNAUTHENTICATED",
            InvalidCredentials => "INVALID_CREDENTIALS",
            InvalidSignature => "INVALID_SIGNATURE",
            Forbidden => "FORBIDDEN",
            CsrfTokenInvalid => "CSRF_TOKEN_INVALID",
            WrongBooth => "WRONG_BOOTH",
            NotFound => "NOT_FOUND",
            MethodNotAllowed => "METHOD_NOT_ALLOWED",
            InvalidQr => "INVALID_QR",
            TooEarly => "TOO_EARLY",
            Expired => "EXPIRED",
            NotPaid => "NOT_PAID",
            InvalidTransition => "INVALID_TRANSITION",
            BookingExpired => "BOOKING_EXPIRED",
            BookingTimePassed => "BOOKING_TIME_PASSED",
            BookingTooFar => "BOOKING_TOO_FAR",
            SlotTaken => "SLOT_TAKEN",
            EmailTaken => "EMAIL_TAKEN",
            LastSuperAdmin => "LAST_SUPER_ADMIN",
            OutletInactive => "OUTLET_INACTIVE",
            NotRefundable => "NOT_REFUNDABLE",
            AmountMismatch => "AMOUNT_MISMATCH",
            EventIdReused => "EVENT_ID_REUSED",
            RateLimited => "RATE_LIMITED",
            UnsupportedSubprotocol => "UNSUPPORTED_SUBPROTOCOL",
            UpgradeRequired => "UPGRADE_REQUIRED",
            Unavailable => "UNAVAILABLE",
            Internal => "INTERNAL",
            MalformedMessage => "MALFORMED_MESSAGE",
            BadStream => "BAD_STREAM",
            TooManyStreams => "TOO_MANY_STREAMS",
        }
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Refusal {
    /// The contract's code for this refusal.
    pub fn code(self) -> ErrorCode {
        match self {
            Refusal::TooEarly => ErrorCode::TooEarly,
            Refusal::Expired => ErrorCode::Expired,
            Refusal::NotPaid => ErrorCode::NotPaid,
            Refusal::InvalidTransition => ErrorCode::InvalidTransition,
            Refusal::BookingExpired => ErrorCode::BookingExpired,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_code_is_written_as_serde_writes_it() {
        for code in ErrorCode::ALL {
            let json = serde_json::to_value(code).unwrap();
            assert_eq!(json, code.as_str(), "{code:?}");
        }
    }

    #[test]
    fn each_refusal_has_its_own_code() {
        let refusals = [
            (Refusal::TooEarly, "TOO_EARLY"),
            (Refusal::Expired, "EXPIRED"),
            (Refusal::NotPaid, "NOT_PAID"),
            (Refusal::InvalidTransition, "INVALID_TRANSITION"),
            (Refusal::BookingExpired, "BOOKING_EXPIRED"),
        ];
        for (refusal, code) in refusals {
            assert_eq!(refusal.code().as_str(), code);
        }
    }
}
