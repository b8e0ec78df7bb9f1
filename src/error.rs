//! The one place where errors become HTTP answers: status + the contract's
//! `{"error":{"code","message","details"}}`. 5xx bodies hide internals; they are logged here.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use boothhub_actors::domain::payment::NotRefundable;
use boothhub_actors::domain::status::Refusal;
use boothhub_actors::error::HubError;
use boothhub_actors::store::StoreError;
use serde_json::{Value, json};

/// Every error code the API answers with: the one vocabulary of HTTP, WebSocket and events.
pub use boothhub_actors::domain::code::ErrorCode;

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: ErrorCode,
    pub message: String,
    pub details: Option<Value>,
    pub retry_after: Option<u64>,
    /// Another node of the cluster acts for the request's booking (contract §8): its cluster
    /// address, for the forwarding layer (`crate::peer`), which hands the request over. The
    /// answer itself (503) is what the client gets when that node cannot be reached.
    pub forward_to: Option<String>,
}

/// The cluster address of the node to hand a request to, on the answer that says so.
#[derive(Clone, Debug)]
pub struct ForwardTo(pub String);

impl ApiError {
    pub fn new(status: StatusCode, code: ErrorCode, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            details: None,
            retry_after: None,
            forward_to: None,
        }
    }

    pub fn with_details(mut self, details: Value) -> Self {
        self.details = Some(details);
        self
    }

    pub fn not_found(what: &str) -> Self {
        ApiError::new(
            StatusCode::NOT_FOUND,
            ErrorCode::NotFound,
            format!("{what} not found"),
        )
    }

    pub fn unauthenticated() -> Self {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            ErrorCode::Unauthenticated,
            "valid credentials are required",
        )
    }

    pub fn forbidden() -> Self {
        ApiError::new(
            StatusCode::FORBIDDEN,
            ErrorCode::Forbidden,
            "your role may not do this",
        )
    }

    pub fn csrf() -> Self {
        ApiError::new(
            StatusCode::FORBIDDEN,
            ErrorCode::CsrfTokenInvalid,
            "a state-changing call with the session cookie needs the X-CSRF-Token header from the boothhub_csrf cookie",
        )
    }

    pub fn invalid_query(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::BAD_REQUEST, ErrorCode::InvalidQuery, message)
    }

    pub fn validation(field: &str, message: &str) -> Self {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            ErrorCode::ValidationFailed,
            "invalid values",
        )
        .with_details(json!({ "fields": { field: message } }))
    }

    pub fn rate_limited(retry_after: u64) -> Self {
        let mut err = ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            ErrorCode::RateLimited,
            "too many requests; retry later",
        );
        err.retry_after = Some(retry_after.max(1));
        err
    }

    fn unavailable(detail: &dyn std::fmt::Display) -> Self {
        tracing::error!(error = %detail, "request failed inside the hub");
        let mut err = ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::Unavailable,
            "the hub cannot serve this right now; retry",
        );
        // Contract §8: a 503 says when to come back (a store hiccup or a takeover is short).
        err.retry_after = Some(1);
        err
    }
}

fn refusal(refusal: Refusal, status: &str) -> ApiError {
    let message = match refusal {
        Refusal::TooEarly => "the arrival window has not opened yet",
        Refusal::Expired => "the booking has expired",
        Refusal::NotPaid => "the booking is not paid",
        Refusal::InvalidTransition => "the current status does not allow this",
        Refusal::BookingExpired => "the booking expired before it was paid",
    };
    let code = refusal.code();
    ApiError::new(StatusCode::CONFLICT, code, message).with_details(json!({ "status": status }))
}

impl From<HubError> for ApiError {
    fn from(err: HubError) -> Self {
        use StatusCode as S;
        match err {
            HubError::NotFound(what) => ApiError::not_found(what),
            HubError::Forbidden => ApiError::forbidden(),
            HubError::Unauthenticated => ApiError::unauthenticated(),
            HubError::WrongBooth => ApiError::new(
                S::FORBIDDEN,
                ErrorCode::WrongBooth,
                "this booth may not act on this booking",
            ),
            HubError::InvalidQr => ApiError::new(
                S::UNPROCESSABLE_ENTITY,
                ErrorCode::InvalidQr,
                "the QR token does not belong to this booking",
            ),
            HubError::Refused { refusal: r, status } => refusal(r, status.as_str()),
            HubError::Invalid(fields) => ApiError::new(
                S::UNPROCESSABLE_ENTITY,
                ErrorCode::ValidationFailed,
                "invalid values",
            )
            .with_details(json!({ "fields": fields.0 })),
            HubError::BookingTimePassed => ApiError::new(
                S::UNPROCESSABLE_ENTITY,
                ErrorCode::BookingTimePassed,
                "the booking time is earlier than now minus the arrival tolerance",
            )
            .with_details(json!({ "fields": { "booking_time": "has passed" } })),
            HubError::BookingTooFar => ApiError::new(
                S::UNPROCESSABLE_ENTITY,
                ErrorCode::BookingTooFar,
                format!(
                    "the booking time is more than {} days ahead",
                    boothhub_actors::domain::booking::MAX_DAYS_AHEAD
                ),
            )
            .with_details(json!({ "fields": { "booking_time": "is too far ahead" } })),
            HubError::SlotTaken => ApiError::new(
                S::CONFLICT,
                ErrorCode::SlotTaken,
                "no booth is free for that time",
            ),
            HubError::EmailTaken => ApiError::new(
                S::CONFLICT,
                ErrorCode::EmailTaken,
                "the e-mail address is taken",
            ),
            HubError::OutletInactive => ApiError::new(
                S::UNPROCESSABLE_ENTITY,
                ErrorCode::OutletInactive,
                "the outlet takes no bookings",
            )
            .with_details(json!({ "fields": { "outlet_id": "takes no bookings" } })),
            HubError::NotThePrice { price } => ApiError::new(
                S::UNPROCESSABLE_ENTITY,
                ErrorCode::AmountMismatch,
                format!("a session at this outlet costs {price} rupiah"),
            )
            .with_details(json!({
                "price": price,
                "fields": { "amount": format!("must be the outlet's price, {price}, or left out") }
            })),
            HubError::NotRefundable(why) => {
                let message = match why {
                    NotRefundable::NotFlagged => {
                        "the payment is not flagged for refund: its booking took it"
                    }
                    NotRefundable::AlreadyRefunded => "the payment is already marked refunded",
                };
                ApiError::new(S::CONFLICT, ErrorCode::NotRefundable, message)
            }
            HubError::LastSuperAdmin => ApiError::new(
                S::CONFLICT,
                ErrorCode::LastSuperAdmin,
                "the last active super admin cannot be deactivated or demoted",
            ),
            HubError::WrongPassword => ApiError::new(
                S::UNAUTHORIZED,
                ErrorCode::InvalidCredentials,
                "the current password is wrong",
            ),
            HubError::EventIdReused => ApiError::new(
                S::CONFLICT,
                ErrorCode::EventIdReused,
                "this event_id was already used with another body",
            ),
            HubError::RateLimited { retry_after } => ApiError::rate_limited(retry_after),
            HubError::Store(StoreError::BadCursor) => {
                ApiError::invalid_query("the cursor is not one this hub gave out")
            }
            HubError::Store(store) => ApiError::unavailable(&store),
            HubError::Unavailable(why) => ApiError::unavailable(&why),
            HubError::Elsewhere { address } => {
                let mut err = ApiError::new(
                    S::SERVICE_UNAVAILABLE,
                    ErrorCode::Unavailable,
                    "the node that acts for this booking cannot be reached; retry",
                );
                err.retry_after = Some(1);
                err.forward_to = Some(address);
                err
            }
        }
    }
}

impl From<boothhub_actors::domain::access::Denied> for ApiError {
    fn from(denied: boothhub_actors::domain::access::Denied) -> Self {
        ApiError::from(HubError::from(denied))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut error = json!({ "code": self.code, "message": self.message });
        if let Some(details) = self.details {
            error["details"] = details;
        }
        let mut response = (self.status, axum::Json(json!({ "error": error }))).into_response();
        if let Some(seconds) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        if let Some(address) = self.forward_to {
            response.extensions_mut().insert(ForwardTo(address));
        }
        response
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
