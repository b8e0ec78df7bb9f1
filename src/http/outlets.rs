//! `GET /outlets`, `POST /outlets`, `PUT /outlets/{id}`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, put};
use axum::{Json as AxumJson, Router};
use boothhub_actors::directory::OutletInput;
use boothhub_actors::domain::ids::OutletId;
use boothhub_actors::domain::records::Outlet;
use serde::Deserialize;
use serde_json::Value;

use super::extract::{Authed, Id, Json, Query};
use super::query::PageQuery;
use crate::error::ApiResult;
use crate::state::AppState;
use crate::wire::list;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/outlets", get(list_outlets).post(create_outlet))
        .route("/outlets/{id}", put(update_outlet))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OutletBody {
    name: String,
    #[serde(default)]
    location: String,
    timezone: Option<String>,
    /// Absent: unchanged (none for a new outlet); `null`: no price.
    #[serde(default, deserialize_with = "present")]
    price: Option<Option<i64>>,
    active: Option<bool>,
}

/// A field that may be absent (outer `None`) or `null` (inner `None`).
fn present<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

impl From<OutletBody> for OutletInput {
    fn from(body: OutletBody) -> Self {
        OutletInput {
            name: body.name,
            location: body.location,
            timezone: body.timezone,
            price: body.price,
            active: body.active,
        }
    }
}

async fn create_outlet(
    State(state): State<AppState>,
    Authed(caller): Authed,
    Json(body): Json<OutletBody>,
) -> ApiResult<(StatusCode, AxumJson<Outlet>)> {
    let outlet = state
        .hub
        .directory()
        .create_outlet(&caller, body.into())
        .await?;
    Ok((StatusCode::CREATED, AxumJson(outlet)))
}

async fn update_outlet(
    State(state): State<AppState>,
    Authed(caller): Authed,
    Id(id): Id<OutletId>,
    Json(body): Json<OutletBody>,
) -> ApiResult<AxumJson<Outlet>> {
    let outlet = state
        .hub
        .directory()
        .update_outlet(&caller, id, body.into())
        .await?;
    Ok(AxumJson(outlet))
}

async fn list_outlets(
    State(state): State<AppState>,
    Authed(caller): Authed,
    Query(page): Query<PageQuery>,
) -> ApiResult<AxumJson<Value>> {
    let page = state
        .hub
        .directory()
        .list_outlets(&caller, &page.request()?)
        .await?;
    Ok(list(page.items, page.next_cursor))
}
