//! `GET /booths`, `POST /booths`, `PUT /booths/{id}` (rename, deactivate) and
//! `POST /booths/{id}/token` (rotate): a booth's token is shown once, when made, and stored
//! hashed. Rotation and deactivation end the old token at once: its WebSockets close with 4401.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post, put};
use axum::{Json as AxumJson, Router};
use boothhub_actors::directory::BoothUpdate;
use boothhub_actors::domain::ids::{BoothId, OutletId};
use boothhub_actors::domain::records::Booth;
use boothhub_actors::store::{Presence, Revocation};
use serde::Deserialize;
use serde_json::{Value, json};

use super::extract::{Authed, Id, Json, Query};
use super::query::{PageQuery, query_id};
use crate::auth::{self, BOOTH_PREFIX};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use crate::wire::time;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/booths", get(list_booths).post(create_booth))
        .route("/booths/{id}", put(update_booth))
        .route("/booths/{id}/token", post(rotate_token))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BoothChanges {
    name: Option<String>,
    active: Option<bool>,
}

async fn update_booth(
    State(state): State<AppState>,
    Authed(caller): Authed,
    Id(id): Id<BoothId>,
    Json(body): Json<BoothChanges>,
) -> ApiResult<AxumJson<Value>> {
    let update = BoothUpdate {
        name: body.name,
        active: body.active,
    };
    let booth = state
        .hub
        .directory()
        .update_booth(&caller, id, update)
        .await?;
    if !booth.active {
        state.revoke(Revocation::Booth {
            booth: booth.id,
            reason: "the booth was deactivated".into(),
        });
    }
    Ok(AxumJson(booth_body(&booth, state.hub.presence(booth.id))))
}

/// A new token for the booth, shown once; the old one stops working now.
async fn rotate_token(
    State(state): State<AppState>,
    Authed(caller): Authed,
    Id(id): Id<BoothId>,
) -> ApiResult<(StatusCode, AxumJson<Value>)> {
    let token = auth::new_token(BOOTH_PREFIX);
    let booth = state
        .hub
        .directory()
        .rotate_booth_token(&caller, id, &auth::token_hash(&token))
        .await?;
    state.revoke(Revocation::Booth {
        booth: booth.id,
        reason: "the booth's token was replaced".into(),
    });
    let mut body = booth_body(&booth, state.hub.presence(booth.id));
    body["token"] = json!(token);
    Ok((StatusCode::CREATED, AxumJson(body)))
}

/// A booth as the API shows it, with what this hub knows of its presence.
fn booth_body(booth: &Booth, presence: Option<Presence>) -> Value {
    let online = presence.is_some_and(|p| p.online);
    let last_seen = presence.map(|p| p.at).or(booth.last_seen_at);
    json!({
        "id": booth.id,
        "outlet_id": booth.outlet_id,
        "name": booth.name,
        "active": booth.active,
        "created_at": time(booth.created_at),
        "online": online,
        "last_seen_at": last_seen.map(time),
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewBooth {
    outlet_id: String,
    name: String,
}

async fn create_booth(
    State(state): State<AppState>,
    Authed(caller): Authed,
    Json(body): Json<NewBooth>,
) -> ApiResult<(StatusCode, AxumJson<Value>)> {
    boothhub_actors::domain::access::permits(
        Some(&caller),
        boothhub_actors::domain::access::Action::ManageBooths,
    )?;
    let outlet = body
        .outlet_id
        .parse::<OutletId>()
        .map_err(|_| ApiError::not_found("outlet"))?;
    let token = auth::new_token(BOOTH_PREFIX);
    let booth = state
        .hub
        .register_booth(&caller, outlet, body.name, &auth::token_hash(&token))
        .await?;
    let mut body = booth_body(&booth, None);
    body["token"] = json!(token);
    Ok((StatusCode::CREATED, AxumJson(body)))
}

#[derive(Deserialize)]
struct BoothQuery {
    outlet_id: Option<String>,
    limit: Option<String>,
    cursor: Option<String>,
}

async fn list_booths(
    State(state): State<AppState>,
    Authed(caller): Authed,
    Query(query): Query<BoothQuery>,
) -> ApiResult<AxumJson<Value>> {
    let outlet = query_id::<OutletId>(query.outlet_id.as_deref(), "outlet_id")?;
    let page = PageQuery {
        limit: query.limit,
        cursor: query.cursor,
    }
    .request()?;
    let page = state
        .hub
        .directory()
        .list_booths(&caller, outlet, &page)
        .await?;
    let items: Vec<Value> = page
        .items
        .iter()
        .map(|b| booth_body(b, state.hub.presence(b.id)))
        .collect();
    Ok(crate::wire::list(items, page.next_cursor))
}
