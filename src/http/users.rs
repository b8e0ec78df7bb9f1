//! `GET /admin-users`, `POST /admin-users`, `PUT /admin-users/{id}` and
//! `POST /admin-users/{id}/password` (super admin only). Deactivating a user or setting its
//! password ends its logins, and their WebSockets close with 4401.

use axum::extract::State;
use axum::http::HeaderMap;
use axum::http::StatusCode;
use axum::routing::{get, post, put};
use axum::{Json as AxumJson, Router};
use boothhub_actors::directory::{Revoked, UserInput, UserUpdate};
use boothhub_actors::domain::access::{Action, permits};
use boothhub_actors::domain::ids::{OutletId, UserId};
use boothhub_actors::domain::records::{Role, User};
use boothhub_actors::store::Revocation;
use serde::Deserialize;
use serde_json::{Value, json};

use super::extract::{Authed, Id, Json, Query, presented_token};
use super::query::PageQuery;
use crate::auth::{self, password};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use crate::wire::list;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/admin-users", get(list_users).post(create_user))
        .route("/admin-users/{id}", put(update_user))
        .route("/admin-users/{id}/password", post(set_password))
}

/// Closes the WebSockets of the logins a change ended (4401), and those of a user whose scope
/// changed (they reconnect with the new one).
pub fn close_revoked(state: &AppState, change: &Revoked<User>, reason: &str) {
    if !change.ended_logins.is_empty() {
        state.revoke(Revocation::Tokens {
            hashes: change.ended_logins.clone(),
            reason: reason.to_owned(),
        });
    }
    if change.scope_changed {
        state.revoke(Revocation::Rescope {
            user: change.record.id,
        });
    }
}

/// A password as a client sends it, hashed once it is valid (10 to 200 characters).
pub async fn new_password_hash(field: &str, password: String) -> ApiResult<String> {
    if !User::is_valid_password(&password) {
        return Err(ApiError::validation(field, "must be 10 to 200 characters"));
    }
    password::hash(password)
        .await
        .map_err(|e| ApiError::from(boothhub_actors::error::HubError::Unavailable(e.to_string())))
}

/// A user as the API shows it: never the password hash.
pub fn user_body(user: &User) -> Value {
    json!({
        "id": user.id,
        "name": user.name,
        "email": user.email,
        "role": user.role,
        "outlet_id": user.outlet_id,
        "active": user.active,
    })
}

fn parse_role(raw: &str) -> ApiResult<Role> {
    Role::parse(raw).ok_or_else(|| ApiError::validation("role", "must be admin or super_admin"))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UserChanges {
    name: Option<String>,
    role: Option<String>,
    outlet_id: Option<String>,
    active: Option<bool>,
}

async fn update_user(
    State(state): State<AppState>,
    Authed(caller): Authed,
    Id(id): Id<UserId>,
    Json(body): Json<UserChanges>,
) -> ApiResult<AxumJson<Value>> {
    permits(Some(&caller), Action::ManageAdminUsers)?;
    let update = UserUpdate {
        name: body.name,
        role: body.role.as_deref().map(parse_role).transpose()?,
        outlet_id: parse_outlet(body.outlet_id.as_deref())?,
        active: body.active,
    };
    let change = state
        .hub
        .directory()
        .update_user(&caller, id, update)
        .await?;
    close_revoked(&state, &change, "the account was deactivated");
    Ok(AxumJson(user_body(&change.record)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PasswordBody {
    password: String,
}

async fn set_password(
    State(state): State<AppState>,
    Authed(caller): Authed,
    Id(id): Id<UserId>,
    headers: HeaderMap,
    Json(body): Json<PasswordBody>,
) -> ApiResult<AxumJson<Value>> {
    permits(Some(&caller), Action::ManageAdminUsers)?;
    let hash = new_password_hash("password", body.password).await?;
    let own = presented_token(&headers).map(|token| auth::token_hash(&token));
    let change = state
        .hub
        .directory()
        .set_password(&caller, id, hash, own.as_deref())
        .await?;
    close_revoked(&state, &change, "the password was changed");
    Ok(AxumJson(user_body(&change.record)))
}

fn parse_outlet(raw: Option<&str>) -> ApiResult<Option<OutletId>> {
    match raw {
        None | Some("") => Ok(None),
        Some(raw) => raw
            .parse::<OutletId>()
            .map(Some)
            .map_err(|_| ApiError::validation("outlet_id", "must be an outlet id")),
    }
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
    let role = parse_role(&body.role)?;
    let outlet_id = parse_outlet(body.outlet_id.as_deref())?;
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
