//! `GET /admin-users`, `POST /admin-users` (super admin only).

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json as AxumJson, Router};
use boothhub_actors::directory::UserInput;
use boothhub_actors::domain::access::{Action, permits};
use boothhub_actors::domain::ids::OutletId;
use boothhub_actors::domain::records::{Role, User};
use serde::Deserialize;
use serde_json::{Value, json};

use super::extract::{Authed, Json, Query};
use super::query::PageQuery;
use crate::auth::password;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use crate::wire::list;

pub fn routes() -> Router<AppState> {
    Router::new().route("/admin-users", get(list_users).post(create_user))
}

/// A user as the API shows it: never the password hash.
pub fn user_body(user: &User) -> Value {
    json!({
        "id": user.id,
        "name": user.name,
        "email": user.email,
        "role": user.role,
        "outlet_id": user.outlet_id,
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewUser {
    name: String,
    email: String,
    password: String,
    role: String,
    outlet_id: Option<String>,
}

async fn create_user(
    State(state): State<AppState>,
    Authed(caller): Authed,
    Json(body): Json<NewUser>,
) -> ApiResult<(StatusCode, AxumJson<Value>)> {
    permits(Some(&caller), Action::ManageAdminUsers)?;
    let role = Role::parse(&body.role)
        .ok_or_else(|| ApiError::validation("role", "must be admin or super_admin"))?;
    let outlet_id = match body.outlet_id.as_deref() {
        None | Some("") => None,
        Some(raw) => Some(
            raw.parse::<OutletId>()
                .map_err(|_| ApiError::validation("outlet_id", "must be an outlet id"))?,
        ),
    };
    User::validate(
        &body.name,
        body.email.trim(),
        &body.password,
        role,
        outlet_id,
    )
    .map_err(boothhub_actors::error::HubError::Invalid)?;
    let hash = password::hash(body.password).await.map_err(|e| {
        ApiError::from(boothhub_actors::error::HubError::Unavailable(e.to_string()))
    })?;
    let input = UserInput {
        name: body.name,
        email: body.email.trim().to_owned(),
        role,
        outlet_id,
    };
    let user = state
        .hub
        .directory()
        .create_user(Some(&caller), input, hash)
        .await?;
    Ok((StatusCode::CREATED, AxumJson(user_body(&user))))
}

async fn list_users(
    State(state): State<AppState>,
    Authed(caller): Authed,
    Query(page): Query<PageQuery>,
) -> ApiResult<AxumJson<Value>> {
    permits(Some(&caller), Action::ManageAdminUsers)?;
    let page = state
        .hub
        .directory()
        .list_users(&caller, &page.request()?)
        .await?;
    let items: Vec<Value> = page.items.iter().map(user_body).collect();
    Ok(list(items, page.next_cursor))
}
