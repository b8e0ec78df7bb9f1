//! `POST /booking`, `GET /bookings` and `GET /bookings/{id}/events`: the booking object of
//! contract §5, and a booking's history (its events, as the WebSocket hub sends them).

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json as AxumJson, Router};
use boothhub_actors::domain::booking::{Customer, NewBooking};
use boothhub_actors::domain::ids::{BookingId, BoothId, OutletId};
use boothhub_actors::domain::status::Status;
use boothhub_actors::store::BookingFilter;
use serde::Deserialize;
use serde_json::{Value, json};

use super::extract::{Authed, Caller, ClientIp, Id, Json, Query};
use super::query::{PageQuery, query_id, query_time};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use crate::wire::ServerMessage;
use crate::wire::{booking_body, list, parse_time};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/booking", post(create_booking))
        .route("/bookings", get(list_bookings))
        .route("/bookings/{id}/events", get(booking_events))
}

/// A booking's events, oldest first, each as the WebSocket hub sends it (on the `all` stream).
async fn booking_events(
    State(state): State<AppState>,
    Authed(caller): Authed,
    Id(id): Id<BookingId>,
) -> ApiResult<AxumJson<Value>> {
    let events = state.hub.booking_events(caller, id).await?;
    let items: Vec<ServerMessage> = events.iter().map(ServerMessage::event).collect();
    Ok(AxumJson(json!({ "items": items })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UserBody {
    name: String,
    phone: String,
    email: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewBookingBody {
    user: UserBody,
    outlet_id: String,
    booth_id: Option<String>,
    booking_time: String,
    amount: Option<i64>,
    #[serde(default)]
    paid: bool,
}

impl NewBookingBody {
    fn parse(self) -> Result<NewBooking, ApiError> {
        let outlet_id = self
            .outlet_id
            .parse::<OutletId>()
            .map_err(|_| ApiError::not_found("outlet"))?;
        let booth_id = match self.booth_id.as_deref() {
            None => None,
            Some(raw) => Some(
                raw.parse::<BoothId>()
                    .map_err(|_| ApiError::validation("booth_id", "must be a booth id"))?,
            ),
        };
        let booking_time = parse_time(&self.booking_time).ok_or_else(|| {
            ApiError::validation("booking_time", "must be an RFC 3339 time with offset")
        })?;
        Ok(NewBooking {
            user: Customer {
                name: self.user.name.trim().to_owned(),
                phone: self.user.phone.trim().to_owned(),
                email: self.user.email.trim().to_owned(),
            },
            outlet_id,
            booth_id,
            booking_time,
            amount: self.amount,
            paid: self.paid,
        })
    }
}

async fn create_booking(
    State(state): State<AppState>,
    Caller(caller): Caller,
    ClientIp(ip): ClientIp,
    Json(body): Json<NewBookingBody>,
) -> ApiResult<(StatusCode, AxumJson<Value>)> {
    if caller.is_none() {
        state.booking_limiter.check(ip, state.now())?;
    }
    let new = body.parse()?;
    let booking = state.hub.create_booking(caller.as_ref(), new).await?;
    Ok((StatusCode::CREATED, AxumJson(booking_body(&booking))))
}

#[derive(Deserialize)]
struct ListQuery {
    status: Option<String>,
    outlet_id: Option<String>,
    from: Option<String>,
    to: Option<String>,
    limit: Option<String>,
    cursor: Option<String>,
}

async fn list_bookings(
    State(state): State<AppState>,
    Authed(caller): Authed,
    Query(query): Query<ListQuery>,
) -> ApiResult<AxumJson<Value>> {
    let status = match query.status.as_deref() {
        None | Some("") => None,
        Some(raw) => Some(
            Status::parse(raw)
                .ok_or_else(|| ApiError::invalid_query(format!("unknown status {raw:?}")))?,
        ),
    };
    let outlet_id = query_id::<OutletId>(query.outlet_id.as_deref(), "outlet_id")?;
    let filter = BookingFilter {
        outlet_id,
        status,
        from: query_time(query.from.as_deref(), "from")?,
        to: query_time(query.to.as_deref(), "to")?,
    };
    let page = PageQuery {
        limit: query.limit,
        cursor: query.cursor,
    }
    .request()?;
    let page = state.hub.list_bookings(&caller, filter, &page).await?;
    let items: Vec<Value> = page.items.iter().map(booking_body).collect();
    Ok(list(items, page.next_cursor))
}
