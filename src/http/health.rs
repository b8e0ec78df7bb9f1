//! `/healthz` (the process serves), `/readyz` (the store answers and the node has joined),
//! `/metrics` (Prometheus).

use std::time::Duration;

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;

use super::extract::Caller;
use crate::error::ApiError;
use crate::state::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
}

async fn healthz() -> Json<serde_json::Value> {
    Json(json!({ "status": "ok" }))
}

async fn readyz(State(state): State<AppState>) -> Response {
    // A node of a cluster is ready once it has joined (contract §8); it leaves at SIGTERM.
    if !state.cluster.is_joined() {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({ "status": "not joined" })),
        )
            .into_response();
    }
    let ping = tokio::time::timeout(Duration::from_secs(2), state.hub.store().ping()).await;
    match ping {
        Ok(Ok(())) => Json(json!({ "status": "ready" })).into_response(),
        Ok(Err(err)) => {
            tracing::warn!(error = %err, "store not ready");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({ "status": "unavailable" })),
            )
                .into_response()
        }
        Err(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({ "status": "unavailable" })),
        )
            .into_response(),
    }
}

async fn metrics(
    State(state): State<AppState>,
    Caller(caller): Caller,
) -> Result<Response, ApiError> {
    if !state.config.metrics_public {
        match caller {
            Some(boothhub_actors::domain::access::Principal::SuperAdmin { .. }) => {}
            Some(_) => return Err(ApiError::forbidden()),
            None => return Err(ApiError::unauthenticated()),
        }
    }
    let body = state
        .metrics
        .as_ref()
        .map(|handle| handle.render())
        .unwrap_or_default();
    Ok(([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], body).into_response())
}
