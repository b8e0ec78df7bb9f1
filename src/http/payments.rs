//! `POST /payment/confirm`, the provider's signed webhook (contract §6), and
//! `GET /payments`, where admins see payments (those flagged for refund among them).

use axum::extract::{FromRequestParts, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json as AxumJson, Router};
use boothhub_actors::domain::ids::{BookingId, OutletId, PaymentId};
use boothhub_actors::domain::payment::{Payment, PaymentNotice, PaymentOutcome, PaymentStatus};
use boothhub_actors::store::PaymentFilter;
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::extract::{Authed, Id, Json, Query, RawJson, parse_json};
use super::query::{PageQuery, query_id};
use crate::auth::webhook;
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::metrics::{WEBHOOK_DURATION, WEBHOOK_REJECTED};
use crate::state::AppState;
use crate::wire::{list, parse_time, time};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/payment/confirm", post(confirm))
        .route("/payments", get(list_payments))
        .route("/payments/{id}/refund", post(refund))
}

/// The fields the hub reads; any others are allowed and kept in the raw body.
#[derive(Deserialize)]
struct Notification {
    event_id: String,
    booking_id: String,
    status: PaymentStatus,
    amount: i64,
    currency: String,
    paid_at: Option<String>,
}

/// The `X-Signature` header, bounded before the body is read or any MAC computed: a header
/// over 512 bytes, with more than 4 `v1=` entries, or sent twice is refused at once.
struct SignatureHeader(Option<String>);

impl<S: Send + Sync> FromRequestParts<S> for SignatureHeader {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        let mut values = parts.headers.get_all("x-signature").iter();
        let first = values.next();
        if values.next().is_some() {
            return Err(rejected(&webhook::SignatureError::OutOfBounds));
        }
        let Some(value) = first else {
            return Ok(SignatureHeader(None));
        };
        if value.len() > webhook::MAX_HEADER_BYTES {
            return Err(rejected(&webhook::SignatureError::OutOfBounds));
        }
        let header = value
            .to_str()
            .map_err(|_| rejected(&webhook::SignatureError::Malformed))?;
        webhook::check_bounds(header).map_err(|err| rejected(&err))?;
        Ok(SignatureHeader(Some(header.to_owned())))
    }
}

/// 401 `INVALID_SIGNATURE`, counted by reason.
fn rejected(err: &webhook::SignatureError) -> ApiError {
    metrics::counter!(WEBHOOK_REJECTED, "reason" => err.reason()).increment(1);
    ApiError::new(
        StatusCode::UNAUTHORIZED,
        ErrorCode::InvalidSignature,
        err.to_string(),
    )
}

/// Extractors run in order: the header is bounded before `RawJson` reads the body.
async fn confirm(
    State(state): State<AppState>,
    SignatureHeader(header): SignatureHeader,
    RawJson(body): RawJson,
) -> ApiResult<Response> {
    let secret = state
        .config
        .webhook
        .secret
        .as_deref()
        .unwrap_or_default()
        .as_bytes();
    let started = std::time::Instant::now();
    webhook::verify(secret, header.as_deref(), &body, state.now().timestamp())
        .map_err(|err| rejected(&err))?;
    let notice: Notification = parse_json(&body)?;
    let event_id = notice.event_id.trim().to_owned();
    if event_id.is_empty() || event_id.len() > 200 {
        return Err(ApiError::validation(
            "event_id",
            "must be 1 to 200 characters",
        ));
    }
    let booking_id = notice
        .booking_id
        .parse::<BookingId>()
        .map_err(|_| ApiError::not_found("booking"))?;
    let paid_at = match notice.paid_at.as_deref() {
        None => None,
        Some(raw) => Some(
            parse_time(raw)
                .ok_or_else(|| ApiError::validation("paid_at", "must be an RFC 3339 time"))?,
        ),
    };
    let raw = String::from_utf8_lossy(&body).into_owned();
    let notice = PaymentNotice {
        event_id,
        booking_id,
        status: notice.status,
        amount: notice.amount,
        currency: notice.currency,
        paid_at,
        body_hash: hex::encode(Sha256::digest(&body)),
        raw,
    };
    let outcome = state.hub.confirm_payment(notice.clone()).await?;
    metrics::histogram!(WEBHOOK_DURATION).record(started.elapsed().as_secs_f64());
    answer(&notice, outcome)
}

/// The answer for an outcome: the same outcome always answers the same, so a replayed event id
/// gets the first answer again.
fn answer(notice: &PaymentNotice, outcome: PaymentOutcome) -> ApiResult<Response> {
    // A replay has the first delivery's body, hence its status.
    let refunds = outcome.needs_refund(notice.status);
    let ok = |result: &str, status: &str| {
        let body = json!({
            "event_id": notice.event_id,
            "booking_id": notice.booking_id,
            "result": result,
            "booking_status": status,
        });
        Ok((StatusCode::OK, AxumJson(body)).into_response())
    };
    match outcome {
        PaymentOutcome::Confirmed { booking_status } => ok("CONFIRMED", booking_status.as_str()),
        PaymentOutcome::Failed { booking_status } => ok("FAILED_RECORDED", booking_status.as_str()),
        PaymentOutcome::AmountMismatch {
            expected,
            received,
            expected_currency: Some(want),
            received_currency: Some(got),
        } => {
            let kept = if refunds {
                "kept and flagged for refund"
            } else {
                "kept"
            };
            Err(ApiError::new(
                StatusCode::CONFLICT,
                ErrorCode::AmountMismatch,
                format!(
                    "expected {expected} {want}, received {received} {got}; the booking is \
                     unchanged and the payment {kept}"
                ),
            )
            .with_details(json!({
                "expected": expected,
                "received": received,
                "expected_currency": want,
                "received_currency": got,
                "refund_required": refunds,
            })))
        }
        // Stored before the currency was checked: answered as it was then.
        PaymentOutcome::AmountMismatch {
            expected, received, ..
        } => Err(ApiError::new(
            StatusCode::CONFLICT,
            ErrorCode::AmountMismatch,
            "the amount does not match the booking; the payment is kept",
        )
        .with_details(json!({ "expected": expected, "received": received }))),
        PaymentOutcome::BookingExpired => Err(ApiError::new(
            StatusCode::CONFLICT,
            ErrorCode::BookingExpired,
            "the booking expired before it was paid; the payment is kept and flagged for refund",
        )
        .with_details(json!({ "status": "EXPIRED", "refund_required": true }))),
        PaymentOutcome::InvalidTransition { booking_status } => Err(ApiError::new(
            StatusCode::CONFLICT,
            ErrorCode::InvalidTransition,
            "the booking is past payment; the payment is kept and flagged for refund",
        )
        .with_details(json!({ "status": booking_status, "refund_required": true }))),
        PaymentOutcome::UnknownBooking => Err(ApiError::not_found("booking")),
    }
}

fn payment_body(payment: &Payment) -> Value {
    let raw: Value =
        serde_json::from_str(&payment.raw).unwrap_or(Value::String(payment.raw.clone()));
    json!({
        "id": payment.id(),
        "event_id": payment.event_id,
        "booking_id": payment.booking_id,
        "outlet_id": payment.outlet_id,
        "status": payment.status,
        "amount": payment.amount,
        "currency": payment.currency,
        "outcome": payment.outcome,
        "refund_required": payment.refund_required,
        "received_at": time(payment.received_at),
        "refunded_at": payment.refunded_at.map(time),
        "refunded_by": payment.refunded_by,
        "refund_reason": payment.refund_reason,
        "raw": raw,
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RefundBody {
    reason: String,
}

/// `POST /payments/{id}/refund`: a flagged payment marked refunded (the money is returned
/// outside the hub); 409 `NOT_REFUNDABLE` for one that is not flagged or already refunded.
async fn refund(
    State(state): State<AppState>,
    Authed(caller): Authed,
    Id(id): Id<PaymentId>,
    Json(body): Json<RefundBody>,
) -> ApiResult<AxumJson<Value>> {
    let payment = state
        .hub
        .refund_payment(&caller, id, body.reason.trim())
        .await?;
    Ok(AxumJson(payment_body(&payment)))
}

#[derive(Deserialize)]
struct PaymentQuery {
    outlet_id: Option<String>,
    booking_id: Option<String>,
    refund_required: Option<String>,
    limit: Option<String>,
    cursor: Option<String>,
}

async fn list_payments(
    State(state): State<AppState>,
    Authed(caller): Authed,
    Query(query): Query<PaymentQuery>,
) -> ApiResult<AxumJson<Value>> {
    let outlet_id = query_id::<OutletId>(query.outlet_id.as_deref(), "outlet_id")?;
    let booking_id = query_id::<BookingId>(query.booking_id.as_deref(), "booking_id")?;
    let refund_required = match query.refund_required.as_deref() {
        None | Some("") => None,
        Some("true") => Some(true),
        Some("false") => Some(false),
        Some(_) => {
            return Err(ApiError::invalid_query(
                "refund_required must be true or false",
            ));
        }
    };
    let page = PageQuery {
        limit: query.limit,
        cursor: query.cursor,
    }
    .request()?;
    let filter = PaymentFilter {
        outlet_id,
        refund_required,
        booking_id,
    };
    let page = state.hub.list_payments(&caller, filter, &page).await?;
    let items: Vec<Value> = page.items.iter().map(payment_body).collect();
    Ok(list(items, page.next_cursor))
}
