//! `GET /config/system`, `PUT /config/system` (super admin only).

use axum::extract::State;
use axum::routing::get;
use axum::{Json as AxumJson, Router};
use boothhub_actors::domain::access::{Action, permits};
use boothhub_actors::domain::config::SystemConfig;
use serde::Deserialize;
use serde_json::{Value, json};

use super::extract::{Authed, Json, present};
use crate::error::ApiResult;
use crate::state::AppState;
use crate::wire::opt_time;

pub fn routes() -> Router<AppState> {
    Router::new().route("/config/system", get(read).put(update))
}

fn config_body(config: &SystemConfig) -> Value {
    json!({
        "session_duration_minutes": config.session_duration_minutes,
        "arrival_tolerance_minutes": config.arrival_tolerance_minutes,
        "updated_at": opt_time(config.updated_at),
        "updated_by": config.updated_by,
    })
}

async fn read(State(state): State<AppState>, Authed(caller): Authed) -> ApiResult<AxumJson<Value>> {
    permits(Some(&caller), Action::SystemConfig)?;
    Ok(AxumJson(config_body(&state.hub.system_config())))
}

/// Either value may be left out to keep it as it is; `null` is not a value (422).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigBody {
    #[serde(default, deserialize_with = "present")]
    session_duration_minutes: Option<i64>,
    #[serde(default, deserialize_with = "present")]
    arrival_tolerance_minutes: Option<i64>,
}

async fn update(
    State(state): State<AppState>,
    Authed(caller): Authed,
    Json(body): Json<ConfigBody>,
) -> ApiResult<AxumJson<Value>> {
    permits(Some(&caller), Action::SystemConfig)?;
    let current = state.hub.system_config();
    let duration = body
        .session_duration_minutes
        .unwrap_or(current.session_duration_minutes);
    let tolerance = body
        .arrival_tolerance_minutes
        .unwrap_or(current.arrival_tolerance_minutes);
    let updated = state
        .hub
        .update_system_config(&caller, duration, tolerance)
        .await?;
    Ok(AxumJson(config_body(&updated)))
}
