//! Shared wire shapes and helpers of the HTTP API and the WebSocket: times as the contract
//! writes them, lists, a booking's JSON, and the messages the hub sends on a WebSocket (an
//! event has one shape wherever it is shown). Translates only; below every transport.

use boothhub_actors::domain::booking::Booking;
use boothhub_actors::domain::event::{StoredEvent, Stream};
use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// A time as the API writes it: RFC 3339, UTC, milliseconds.
pub fn time(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

pub fn opt_time(at: Option<DateTime<Utc>>) -> Option<String> {
    at.map(time)
}

/// Parses an RFC 3339 time with offset into UTC (to the millisecond).
pub fn parse_time(raw: &str) -> Option<DateTime<Utc>> {
    let parsed = DateTime::parse_from_rfc3339(raw).ok()?.with_timezone(&Utc);
    DateTime::from_timestamp_millis(parsed.timestamp_millis())
}

/// Answers a list in the contract's shape.
pub fn list<T: Serialize>(items: Vec<T>, next_cursor: Option<String>) -> axum::Json<Value> {
    axum::Json(json!({ "items": items, "next_cursor": next_cursor }))
}

/// The booking as the API shows it: exactly the fields of contract §5.
pub fn booking_body(b: &Booking) -> Value {
    json!({
        "id": b.id,
        "user": { "name": b.user.name, "phone": b.user.phone, "email": b.user.email },
        "outlet_id": b.outlet_id,
        "booth_id": b.booth_id,
        "status": b.status,
        "booking_time": time(b.booking_time),
        "amount": b.amount,
        "paid_at": opt_time(b.paid_at),
        "arrival_deadline": time(b.arrival_deadline),
        "expired_at": opt_time(b.expired_at),
        "started_at": opt_time(b.started_at),
        "ends_at": opt_time(b.ends_at),
        "finished_at": opt_time(b.finished_at),
        "override_by": b.override_by,
        "override_at": opt_time(b.override_at),
        "override_reason": b.override_reason,
        "qr_token": b.qr_token,
    })
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StreamSeq {
    pub stream: Stream,
    pub seq: u64,
}

/// What the hub sends.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerMessage {
    Subscribed {
        streams: Vec<StreamSeq>,
    },
    Event {
        stream: Stream,
        seq: u64,
        event: String,
        booking_id: Option<String>,
        booth_id: Option<String>,
        outlet_id: Option<String>,
        status: Option<String>,
        at: String,
        data: serde_json::Value,
    },
    Error {
        code: String,
        message: String,
    },
}

impl ServerMessage {
    pub fn event(stored: &StoredEvent) -> ServerMessage {
        let event = &stored.event;
        ServerMessage::Event {
            stream: stored.stream,
            seq: stored.seq,
            event: serde_json::to_value(event.event)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default(),
            booking_id: event.booking_id.map(|id| id.to_string()),
            booth_id: event.booth_id.map(|id| id.to_string()),
            outlet_id: event.outlet_id.map(|id| id.to_string()),
            status: event.status.map(|s| s.as_str().to_owned()),
            at: time(event.at),
            data: event.data.clone(),
        }
    }
}
