//! `GET /audit`: every change made by a person (logins, outlets, users, booths, tokens,
//! config, overrides, refunds), newest first, filtered by action, person, booking and time.
//! Admins see their outlet's entries; super admins everything, config changes included.

use axum::extract::State;
use axum::routing::get;
use axum::{Json as AxumJson, Router};
use boothhub_actors::domain::ids::{BookingId, OutletId, UserId};
use boothhub_actors::domain::records::{AuditEntry, AuditKind, AuditTarget};
use boothhub_actors::store::AuditFilter;
use serde::Deserialize;
use serde_json::{Value, json};

use super::extract::{Authed, Query};
use super::query::{PageQuery, query_id, query_time};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use crate::wire::{list, time};

pub fn routes() -> Router<AppState> {
    Router::new().route("/audit", get(list_audit))
}

fn audit_body(entry: &AuditEntry) -> Value {
    // Entries written before targets were kept are about their booking, if any.
    let target = entry
        .target
        .or(entry.booking_id.map(AuditTarget::Booking))
        .or((entry.kind == AuditKind::ConfigUpdated).then_some(AuditTarget::Config));
    json!({
        "id": entry.id,
        "at": time(entry.at),
        "actor_id": entry.actor_id,
        "actor_email": entry.actor_email,
        "action": entry.kind,
        "target": target,
        "details": { "from": entry.from, "to": entry.to, "reason": entry.reason },
        // As before the full trail: the same facts under their first names.
        "kind": entry.kind,
        "outlet_id": entry.outlet_id,
        "booking_id": entry.booking_id,
        "from": entry.from,
        "to": entry.to,
        "reason": entry.reason,
    })
}

#[derive(Deserialize)]
struct AuditQuery {
    outlet_id: Option<String>,
    booking_id: Option<String>,
    action: Option<String>,
    actor_id: Option<String>,
    from: Option<String>,
    to: Option<String>,
    limit: Option<String>,
    cursor: Option<String>,
}

async fn list_audit(
    State(state): State<AppState>,
    Authed(caller): Authed,
    Query(query): Query<AuditQuery>,
) -> ApiResult<AxumJson<Value>> {
    let outlet_id = query_id::<OutletId>(query.outlet_id.as_deref(), "outlet_id")?;
    let booking_id = query_id::<BookingId>(query.booking_id.as_deref(), "booking_id")?;
    let actor_id = query_id::<UserId>(query.actor_id.as_deref(), "actor_id")?;
    let action = match query.action.as_deref() {
        None | Some("") => None,
        Some(raw) => Some(
            AuditKind::parse(raw)
                .ok_or_else(|| ApiError::invalid_query(format!("unknown action {raw:?}")))?,
        ),
    };
    let (from, to) = (
        query_time(query.from.as_deref(), "from")?,
        query_time(query.to.as_deref(), "to")?,
    );
    let page = PageQuery {
        limit: query.limit,
        cursor: query.cursor,
    }
    .request()?;
    let page = state
        .hub
        .list_audit(
            &caller,
            AuditFilter {
                outlet_id,
                booking_id,
                action,
                actor_id,
                from,
                to,
            },
            &page,
        )
        .await?;
    let items: Vec<Value> = page.items.iter().map(audit_body).collect();
    Ok(list(items, page.next_cursor))
}
