//! `GET /audit`: the audit trail of overrides and config changes, newest first. Admins see
//! their outlet's entries; super admins everything, config changes included.

use axum::extract::State;
use axum::routing::get;
use axum::{Json as AxumJson, Router};
use boothhub_actors::domain::ids::{BookingId, OutletId};
use boothhub_actors::domain::records::AuditEntry;
use boothhub_actors::store::AuditFilter;
use serde::Deserialize;
use serde_json::{Value, json};

use super::extract::{Authed, Query};
use super::query::{PageQuery, query_id};
use crate::error::ApiResult;
use crate::state::AppState;
use crate::wire::{list, time};

pub fn routes() -> Router<AppState> {
    Router::new().route("/audit", get(list_audit))
}

fn audit_body(entry: &AuditEntry) -> Value {
    json!({
        "id": entry.id,
        "kind": entry.kind,
        "at": time(entry.at),
        "actor_id": entry.actor_id,
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
            },
            &page,
        )
        .await?;
    let items: Vec<Value> = page.items.iter().map(audit_body).collect();
    Ok(list(items, page.next_cursor))
}
