//! The HTTP API of contract §3–§6: `router()` merges one router per resource and adds the
//! cross-cutting layers (body limit, CORS, request id, tracing, metrics). Handlers translate
//! between the wire and the hub; they decide nothing.

pub mod audit;
pub mod auth;
pub mod bookings;
pub mod booths;
pub mod dead_letters;
pub mod extract;
pub mod health;
pub mod outlets;
pub mod payments;
pub mod ratelimit;
pub mod sessions;
pub mod system_config;
pub mod users;

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::{HeaderName, HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::Response;
use boothhub_actors::hub::Hub;
use boothhub_actors::store::PageRequest;
use chrono::{DateTime, SecondsFormat, Utc};
use metrics_exporter_prometheus::PrometheusHandle;
use serde::Deserialize;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::{DefaultOnResponse, TraceLayer};

use crate::config::Config;
use crate::error::{ApiError, ErrorCode};
use crate::ws::socket::SocketSettings;
use crate::ws::tokens::TokenSockets;
use ratelimit::IpLimiter;

/// The largest body the hub reads.
pub const BODY_LIMIT: usize = 64 * 1024;
const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub hub: Arc<Hub>,
    pub config: Arc<Config>,
    pub metrics: Option<PrometheusHandle>,
    pub booking_limiter: Arc<IpLimiter>,
    pub login_limiter: Arc<IpLimiter>,
    /// Failed logins per e-mail address (contract §2).
    pub account_limiter: Arc<ratelimit::AccountLimiter>,
    pub sockets: SocketSettings,
    /// Open WebSockets per token (at most `ws.max_connections_per_token`).
    pub token_sockets: Arc<TokenSockets>,
}

impl AppState {
    pub fn new(hub: Arc<Hub>, config: Arc<Config>, metrics: Option<PrometheusHandle>) -> Self {
        let limits = &config.rate_limits;
        let ws = config.ws;
        AppState {
            sockets: SocketSettings {
                ping_interval: Duration::from_secs(ws.ping_interval_seconds),
                idle_timeout: Duration::from_secs(ws.idle_timeout_seconds),
                queue_capacity: ws.queue_capacity,
            },
            token_sockets: Arc::new(TokenSockets::new(ws.max_connections_per_token)),
            booking_limiter: Arc::new(IpLimiter::new(limits.booking)),
            login_limiter: Arc::new(IpLimiter::new(limits.login)),
            account_limiter: Arc::new(ratelimit::AccountLimiter::new(
                limits.login_failures_per_account,
                limits.login_failure_window_minutes,
            )),
            hub,
            config,
            metrics,
        }
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.hub.context().clock.now()
    }
}

/// Every route the hub serves, with its layers.
pub fn router(state: AppState) -> Router {
    let cors = cors(&state.config.cors_origins);
    Router::new()
        .merge(health::routes())
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
    metrics::histogram!("boothhub_http_request_duration_seconds", "route" => route.clone(), "method" => method.clone())
        .record(started.elapsed().as_secs_f64());
    metrics::counter!("boothhub_http_requests_total", "route" => route, "method" => method, "status" => status)
        .increment(1);
    response
}

/// `limit` and `cursor` of every list endpoint.
#[derive(Debug, Default, Deserialize)]
pub struct PageQuery {
    pub limit: Option<String>,
    pub cursor: Option<String>,
}

impl PageQuery {
    pub fn request(self) -> Result<PageRequest, ApiError> {
        let limit = match self.limit {
            None => 50,
            Some(raw) => raw
                .parse::<u32>()
                .ok()
                .filter(|n| (1..=200).contains(n))
                .ok_or_else(|| {
                    ApiError::invalid_query("limit must be a whole number from 1 to 200")
                })?,
        };
        let cursor = self.cursor.filter(|c| !c.is_empty());
        Ok(PageRequest { limit, cursor })
    }
}

/// An optional id in a query string: absent or empty is `None`, anything but an id is a 400.
pub fn query_id<T: std::str::FromStr>(
    raw: Option<&str>,
    name: &str,
) -> Result<Option<T>, ApiError> {
    match raw {
        None | Some("") => Ok(None),
        Some(raw) => raw
            .parse()
            .map(Some)
            .map_err(|_| ApiError::invalid_query(format!("{name} must be an id"))),
    }
}

/// A time as the API writes it: RFC 3339, UTC, milliseconds.
pub fn time(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

pub fn opt_time(at: Option<DateTime<Utc>>) -> Option<String> {
    at.map(time)
}

/// Parses an RFC 3339 time with offset into UTC (to the millisecond).
pub fn parse_time(raw: &str) -> Option<DateTime<Utc>> {
    let parsed = DateTime::parse_from_rfc3339(raw).ok()?.with_timezone(&Utc);
    DateTime::from_timestamp_millis(parsed.timestamp_millis())
}

/// Answers a list in the contract's shape.
pub fn list<T: serde::Serialize>(
    items: Vec<T>,
    next_cursor: Option<String>,
) -> axum::Json<serde_json::Value> {
    axum::Json(serde_json::json!({ "items": items, "next_cursor": next_cursor }))
}

pub type AppStateRef = State<AppState>;
