//! `POST /auth/login`, `POST /auth/logout`, `PUT /auth/password` (one's own) and `GET /auth/me`
//! (who the session belongs to, for the web UI after a reload: the session cookie is HttpOnly). Login is limited per client
//! IP and per e-mail address (failed logins, contract §2), both before the password is checked.

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{AppendHeaders, IntoResponse, Response};
use axum::routing::{get, post, put};
use boothhub_actors::directory::principal_of;
use boothhub_actors::domain::access::{Action, Principal, permits};
use boothhub_actors::store::Revocation;
use chrono::Duration;
use serde::Deserialize;
use serde_json::json;

use super::extract::{Authed, ClientIp, Json, presented_token};
use super::users::{close_revoked, new_password_hash, user_body};
use crate::auth::{self, LOGIN_PREFIX, password};
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::state::AppState;
use crate::wire::time;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/auth/login", post(login))
        .route("/auth/logout", post(logout))
        .route("/auth/me", get(me))
        .route("/auth/password", put(change_password))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LoginBody {
    email: String,
    password: String,
}

fn invalid_credentials() -> ApiError {
    ApiError::new(
        StatusCode::UNAUTHORIZED,
        ErrorCode::InvalidCredentials,
        "unknown e-mail or wrong password",
    )
}

async fn login(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    Json(body): Json<LoginBody>,
) -> ApiResult<Response> {
    state.login_limiter.check(ip, state.now())?;
    let attempt = state.account_limiter.begin(&body.email, state.now())?;
    let user = state
        .hub
        .directory()
        .user_by_email(body.email.trim())
        .await?;
    let hash = user.as_ref().map(|u| u.password_hash.clone());
    let verified = password::verify(body.password, hash).await;
    let directory = state.hub.directory();
    let tried = user.clone();
    let Some(user) = user.filter(|u| verified && u.active && principal_of(u).is_some()) else {
        attempt.failed(state.now());
        // An address longer than any real one (254) is no one's: not kept in the trail.
        let email = body.email.trim();
        if email.len() <= 254 {
            directory.audit_login(tried.as_ref(), email, false).await;
        }
        return Err(invalid_credentials());
    };
    attempt.succeeded();
    directory.audit_login(Some(&user), &user.email, true).await;
    let token = auth::new_token(LOGIN_PREFIX);
    let ttl_hours = state.config.login_token_ttl_hours;
    let expires_at = state.now() + Duration::hours(ttl_hours);
    state
        .hub
        .directory()
        .remember_login(&auth::token_hash(&token), user.id, expires_at)
        .await?;
    let max_age = ttl_hours * 3600;
    let cookies = AppendHeaders([
        (header::SET_COOKIE, auth::session_cookie(&token, max_age)),
        (header::SET_COOKIE, auth::csrf_cookie(&token, max_age)),
    ]);
    let body = json!({ "token": token, "expires_at": time(expires_at), "user": user_body(&user) });
    Ok((cookies, axum::Json(body)).into_response())
}

async fn logout(
    State(state): State<AppState>,
    Authed(caller): Authed,
    headers: axum::http::HeaderMap,
) -> ApiResult<Response> {
    permits(Some(&caller), Action::Logout)?;
    if let Some(token) = presented_token(&headers) {
        let hash = auth::token_hash(&token);
        state.hub.directory().forget_login(&hash).await?;
        state.revoke(Revocation::Tokens {
            hashes: vec![hash],
            reason: "signed out".into(),
        });
        state.hub.directory().audit_logout(&caller).await;
    }
    Ok((
        StatusCode::NO_CONTENT,
        AppendHeaders([
            (header::SET_COOKIE, auth::cleared_cookie()),
            (header::SET_COOKIE, auth::cleared_csrf_cookie()),
        ]),
    )
        .into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PasswordChange {
    current_password: String,
    new_password: String,
}

/// The caller's own password: the current one must be right (401 otherwise); every other
/// login of the caller ends.
async fn change_password(
    State(state): State<AppState>,
    Authed(caller): Authed,
    headers: axum::http::HeaderMap,
    Json(body): Json<PasswordChange>,
) -> ApiResult<Response> {
    permits(Some(&caller), Action::ChangeOwnPassword)?;
    let user_id = caller.user_id().ok_or_else(ApiError::forbidden)?;
    let directory = state.hub.directory();
    let user = directory
        .user(user_id)
        .await?
        .ok_or_else(ApiError::unauthenticated)?;
    // Guesses of the current password count like failed logins of the account (contract §2):
    // a stolen session cannot guess without bound.
    let attempt = state.account_limiter.begin(&user.email, state.now())?;
    if !password::verify(body.current_password, Some(user.password_hash)).await {
        attempt.failed(state.now());
        return Err(boothhub_actors::error::HubError::WrongPassword.into());
    }
    attempt.succeeded();
    let hash = new_password_hash("new_password", body.new_password).await?;
    let own = presented_token(&headers).map(|token| auth::token_hash(&token));
    let change = directory
        .set_password(&caller, user_id, hash, own.as_deref())
        .await?;
    close_revoked(&state, &change, "the password was changed");
    Ok(axum::Json(json!({ "user": user_body(&change.record) })).into_response())
}

/// The user of the presented login (a booth token is not a user: 403).
async fn me(State(state): State<AppState>, Authed(caller): Authed) -> ApiResult<Response> {
    let user_id = match caller {
        Principal::SuperAdmin { user_id } | Principal::Admin { user_id, .. } => user_id,
        Principal::Booth { .. } => return Err(ApiError::forbidden()),
    };
    let user = state
        .hub
        .directory()
        .user(user_id)
        .await?
        .ok_or_else(ApiError::unauthenticated)?;
    Ok(axum::Json(json!({ "user": user_body(&user) })).into_response())
}
