//! The HTTP API of contract §3–§6: one router per resource, merged by [`routes`] (the
//! cross-cutting layers are added in `crate::app`). Handlers translate between the wire and
//! the hub; they decide nothing.

pub mod audit;
pub mod auth;
pub mod bookings;
pub mod booths;
pub mod cluster;
pub mod dead_letters;
pub mod extract;
pub mod health;
pub mod outlets;
pub mod payments;
pub mod query;
pub mod sessions;
pub mod system_config;
pub mod users;

use axum::Router;

use crate::state::AppState;

/// Every route of the HTTP API.
pub fn routes() -> Router<AppState> {
    Router::new()
        .merge(health::routes())
        .merge(cluster::routes())
        .merge(auth::routes())
        .merge(outlets::routes())
        .merge(users::routes())
        .merge(booths::routes())
        .merge(bookings::routes())
        .merge(sessions::routes())
        .merge(payments::routes())
        .merge(system_config::routes())
        .merge(audit::routes())
        .merge(dead_letters::routes())
}
