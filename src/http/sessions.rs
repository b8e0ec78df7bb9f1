//! `POST /session/{id}/arrival|start|finish|override` and `GET /session/{id}/status`: every
//! request goes to the booking's session actor through the hub.

use axum::extract::State;
use axum::routing::{get, post};
use axum::{Json as AxumJson, Router};
use boothhub_actors::domain::ids::BookingId;
use boothhub_actors::domain::status::OverrideTarget;
use serde::Deserialize;
use serde_json::Value;

use super::extract::{Authed, EmptyBody, Id, Json};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use crate::wire::booking_body;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/session/{id}/arrival", post(arrival))
        .route("/session/{id}/start", post(start))
        .route("/session/{id}/finish", post(finish))
        .route("/session/{id}/override", post(override_session))
        .route("/session/{id}/status", get(status))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ArrivalBody {
    qr_token: String,
}

async fn arrival(
    State(state): State<AppState>,
    Authed(caller): Authed,
    Id(id): Id<BookingId>,
    Json(body): Json<ArrivalBody>,
) -> ApiResult<AxumJson<Value>> {
    let booking = state.hub.arrival(caller, id, body.qr_token).await?;
    Ok(AxumJson(booking_body(&booking)))
}

async fn start(
    State(state): State<AppState>,
    Authed(caller): Authed,
    Id(id): Id<BookingId>,
    _body: EmptyBody,
) -> ApiResult<AxumJson<Value>> {
    let booking = state.hub.start_session(caller, id).await?;
    Ok(AxumJson(booking_body(&booking)))
}

async fn finish(
    State(state): State<AppState>,
    Authed(caller): Authed,
    Id(id): Id<BookingId>,
    _body: EmptyBody,
) -> ApiResult<AxumJson<Value>> {
    let booking = state.hub.finish_session(caller, id).await?;
    Ok(AxumJson(booking_body(&booking)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OverrideBody {
    status: Option<String>,
    reason: String,
}

async fn override_session(
    State(state): State<AppState>,
    Authed(caller): Authed,
    Id(id): Id<BookingId>,
    Json(body): Json<OverrideBody>,
) -> ApiResult<AxumJson<Value>> {
    let target = match body.status.as_deref() {
        None => OverrideTarget::Overridden,
        Some(raw) => serde_json::from_value(Value::String(raw.to_owned())).map_err(|_| {
            ApiError::validation(
                "status",
                "must be AWAITING_CUSTOMER, ARRIVED, DONE or OVERRIDDEN",
            )
        })?,
    };
    let booking = state
        .hub
        .override_session(caller, id, target, body.reason)
        .await?;
    Ok(AxumJson(booking_body(&booking)))
}

async fn status(
    State(state): State<AppState>,
    Authed(caller): Authed,
    Id(id): Id<BookingId>,
) -> ApiResult<AxumJson<Value>> {
    let booking = state.hub.session_status(caller, id).await?;
    Ok(AxumJson(booking_body(&booking)))
}
