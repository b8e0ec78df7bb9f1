//! `GET /dead-letters`: booth events sent six times and never acked, newest first (admins see
//! their outlet's).

use axum::extract::State;
use axum::routing::get;
use axum::{Json as AxumJson, Router};
use boothhub_actors::domain::ids::{BoothId, OutletId};
use boothhub_actors::domain::records::DeadLetter;
use boothhub_actors::store::DeadLetterFilter;
use serde::Deserialize;
use serde_json::{Value, json};

use super::extract::{Authed, Query};
use super::query::{PageQuery, query_id};
use crate::error::ApiResult;
use crate::state::AppState;
use crate::wire::ServerMessage;
use crate::wire::{list, time};

pub fn routes() -> Router<AppState> {
    Router::new().route("/dead-letters", get(list_dead_letters))
}

fn dead_letter_body(letter: &DeadLetter) -> Value {
    let stored = boothhub_actors::domain::event::StoredEvent {
        stream: letter.stream,
        seq: letter.seq,
        event: letter.event.clone(),
    };
    json!({
        "id": letter.id,
        "booth_id": letter.booth_id,
        "outlet_id": letter.outlet_id,
        "stream": letter.stream,
        "seq": letter.seq,
        "deliveries": letter.deliveries,
        "at": time(letter.at),
        "event": ServerMessage::event(&stored),
    })
}

#[derive(Deserialize)]
struct DeadLetterQuery {
    outlet_id: Option<String>,
    booth_id: Option<String>,
    limit: Option<String>,
    cursor: Option<String>,
}

async fn list_dead_letters(
    State(state): State<AppState>,
    Authed(caller): Authed,
    Query(query): Query<DeadLetterQuery>,
) -> ApiResult<AxumJson<Value>> {
    let filter = DeadLetterFilter {
        outlet_id: query_id::<OutletId>(query.outlet_id.as_deref(), "outlet_id")?,
        booth_id: query_id::<BoothId>(query.booth_id.as_deref(), "booth_id")?,
    };
    let page = PageQuery {
        limit: query.limit,
        cursor: query.cursor,
    }
    .request()?;
    let page = state.hub.list_dead_letters(&caller, filter, &page).await?;
    let items: Vec<Value> = page.items.iter().map(dead_letter_body).collect();
    Ok(list(items, page.next_cursor))
}
