//! The hub's one router: the HTTP API, the WebSocket upgrade and the web UI, with the
//! cross-cutting layers (body limit, CORS, request id, tracing, metrics, security headers).

use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request};
use axum::http::{HeaderName, HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::Response;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::{DefaultOnResponse, TraceLayer};

use crate::conn::BODY_LIMIT;
use crate::error::{ApiError, ErrorCode};
use crate::metrics::{HTTP_REQUEST_DURATION, HTTP_REQUESTS};
use crate::peer::PeerLink;
use crate::state::AppState;

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Every route the hub serves, with its layers.
pub fn router(state: AppState) -> Router {
    let cors = cors(&state.config.cors_origins);
    let api = match &state.peer {
        // A request for a booking another node acts for is handed to it.
        Some(peer) => crate::http::routes().layer(middleware::from_fn_with_state(
            Arc::clone(peer),
            crate::peer::forward,
        )),
        None => crate::http::routes(),
    };
    Router::new()
        .merge(api)
        .route("/ws", axum::routing::get(crate::ws::socket::upgrade))
        .merge(crate::web::routes())
        .fallback(|| async { ApiError::not_found("route") })
        .method_not_allowed_fallback(|| async {
            ApiError::new(StatusCode::METHOD_NOT_ALLOWED, ErrorCode::MethodNotAllowed, "method not allowed on this route")
        })
        .layer(middleware::from_fn(record_metrics))
        .layer(middleware::from_fn(security_headers))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(cors)
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(|req: &Request| {
                    let id = req.headers().get(REQUEST_ID).and_then(|v| v.to_str().ok()).unwrap_or("-");
                    tracing::info_span!("request", method = %req.method(), path = %req.uri().path(), request_id = %id)
                })
                .on_response(DefaultOnResponse::new().level(tracing::Level::INFO)),
        )
        .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
        .with_state(state)
}

/// What the node-to-node listener serves (contract §8): the API, to peers only.
pub fn peer_router(state: AppState, peer: Arc<PeerLink>) -> Router {
    crate::http::routes()
        .fallback(|| async { ApiError::not_found("route") })
        .layer(middleware::from_fn_with_state(
            peer,
            crate::peer::authenticate,
        ))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .with_state(state)
}

fn cors(origins: &[String]) -> CorsLayer {
    let allowed: Vec<HeaderValue> = origins
        .iter()
        .filter_map(|o| HeaderValue::from_str(o).ok())
        .collect();
    CorsLayer::new()
        .allow_origin(AllowOrigin::list(allowed))
        .allow_methods([Method::GET, Method::POST, Method::PUT, Method::OPTIONS])
        .allow_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            HeaderName::from_static("x-signature"),
        ])
        .allow_credentials(true)
}

/// Every answer tells browsers to use HTTPS only; an API answer is never stored by a cache
/// (it may hold a token or a customer's details). The web UI's assets set their own
/// caching and keep it.
async fn security_headers(req: Request, next: Next) -> Response {
    let mut response = next.run(req).await;
    let headers = response.headers_mut();
    headers.insert(
        header::STRICT_TRANSPORT_SECURITY,
        HeaderValue::from_static("max-age=31536000"),
    );
    if !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

/// Counts requests and their latency by matched route (never by raw path or id).
async fn record_metrics(req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let method = req.method().to_string();
    let started = Instant::now();
    let response = next.run(req).await;
    let status = response.status().as_u16().to_string();
    metrics::histogram!(HTTP_REQUEST_DURATION, "route" => route.clone(), "method" => method.clone())
        .record(started.elapsed().as_secs_f64());
    metrics::counter!(HTTP_REQUESTS, "route" => route, "method" => method, "status" => status)
        .increment(1);
    response
}
