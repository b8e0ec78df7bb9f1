//! `GET /cluster` (super admin): the live nodes of the cluster (contract §8), or this node
//! alone.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use boothhub_actors::domain::access::{Action, permits};
use boothhub_actors::domain::records::NodeInfo;
use serde_json::{Value, json};

use super::extract::Authed;
use crate::error::ApiResult;
use crate::state::AppState;
use crate::wire::time;

pub fn routes() -> Router<AppState> {
    Router::new().route("/cluster", get(list))
}

fn node_body(node: &NodeInfo) -> Value {
    json!({
        "id": node.id,
        "address": node.address,
        "started_at": time(node.started_at),
        "last_seen_at": time(node.last_seen_at),
        "connections": node.connections,
        "sessions": node.sessions,
    })
}

async fn list(State(state): State<AppState>, Authed(caller): Authed) -> ApiResult<Json<Value>> {
    permits(Some(&caller), Action::ViewCluster)?;
    let nodes = state.cluster.nodes().await?;
    Ok(Json(json!({
        "nodes": nodes.iter().map(node_body).collect::<Vec<_>>(),
    })))
}
