//! The backoffice UI, built from `web/` by `build.rs` and embedded in the binary. The hub
//! answers every path of the UI's route table (`web/src/routes.json`, shared with the app)
//! with the app shell, so deep links and reloads work; assets have content-hashed names and
//! are cached for a year, the shell is never cached. No second server: same origin as the API.

use std::sync::LazyLock;

use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use serde::Deserialize;

use crate::error::ApiError;
use crate::state::AppState;

mod assets {
    include!(concat!(env!("OUT_DIR"), "/web_assets.rs"));
}

/// Where the UI lives.
pub const BASE: &str = "/app";

const SHELL: &str = "index.html";
const IMMUTABLE: &str = "public, max-age=31536000, immutable";
const NO_CACHE: &str = "no-cache";
/// Scripts, styles and connections from this origin only (chartist sets inline SVG styles).
const CSP: &str = "default-src 'self'; connect-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'";

#[derive(Deserialize)]
struct RouteTable {
    base: String,
    routes: Vec<RouteEntry>,
}

#[derive(Deserialize)]
struct RouteEntry {
    path: String,
}

static ROUTES: LazyLock<Vec<String>> = LazyLock::new(|| {
    let table: RouteTable =
        serde_json::from_str(include_str!("../web/src/routes.json")).unwrap_or(RouteTable {
            base: BASE.to_owned(),
            routes: vec![],
        });
    debug_assert_eq!(table.base, BASE);
    table.routes.into_iter().map(|r| r.path).collect()
});

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(|| async { Redirect::to("/app/") }))
        .route("/app", get(|| async { shell(StatusCode::OK) }))
        .route("/app/", get(|| async { shell(StatusCode::OK) }))
        .route("/app/{*path}", get(app_path))
}

/// Whether `path` (after the base, with a leading `/`) is a route of the app.
pub fn is_app_route(path: &str) -> bool {
    ROUTES.iter().any(|pattern| matches(pattern, path))
}

/// `/bookings/:id` matches `/bookings/123`; segments match one for one.
fn matches(pattern: &str, path: &str) -> bool {
    let want: Vec<&str> = pattern.split('/').filter(|s| !s.is_empty()).collect();
    let have: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    want.len() == have.len()
        && want
            .iter()
            .zip(&have)
            .all(|(w, h)| w.starts_with(':') || w == h)
}

fn asset(name: &str) -> Option<(&'static str, &'static [u8])> {
    assets::ASSETS
        .iter()
        .find(|(path, _, _)| *path == name)
        .map(|(_, kind, bytes)| (*kind, *bytes))
}

async fn app_path(Path(path): Path<String>) -> Response {
    if path.starts_with("assets/") {
        return match asset(&path) {
            Some((kind, bytes)) => (
                [
                    (header::CONTENT_TYPE, HeaderValue::from_static(kind)),
                    (header::CACHE_CONTROL, HeaderValue::from_static(IMMUTABLE)),
                    (
                        header::X_CONTENT_TYPE_OPTIONS,
                        HeaderValue::from_static("nosniff"),
                    ),
                ],
                bytes,
            )
                .into_response(),
            None => ApiError::not_found("asset").into_response(),
        };
    }
    if is_app_route(&format!("/{path}")) {
        shell(StatusCode::OK)
    } else {
        // The app shows its own "not found" page; the status says so too.
        shell(StatusCode::NOT_FOUND)
    }
}

fn shell(status: StatusCode) -> Response {
    let Some((kind, bytes)) = asset(SHELL) else {
        return ApiError::not_found("web UI").into_response();
    };
    (
        status,
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(kind)),
            (header::CACHE_CONTROL, HeaderValue::from_static(NO_CACHE)),
            (
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static(CSP),
            ),
            (
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            ),
            (header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")),
            (
                header::REFERRER_POLICY,
                HeaderValue::from_static("same-origin"),
            ),
        ],
        bytes,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_route_table_decides_what_is_an_app_page() {
        let cases = [
            ("/", true),
            ("/login", true),
            ("/bookings", true),
            ("/bookings/new", true),
            ("/bookings/0b6f3c1e-0000-4000-8000-000000000000", true),
            ("/bookings/1/2", false),
            ("/outlets", true),
            ("/admin-users", true),
            ("/config", true),
            ("/account/password", true),
            ("/refunds", true),
            ("/audit", true),
            ("/nope", false),
        ];
        for (path, expected) in cases {
            assert_eq!(is_app_route(path), expected, "{path}");
        }
    }

    #[test]
    fn the_shell_and_its_assets_are_embedded() {
        let (kind, shell) = asset(SHELL).expect("index.html");
        assert!(kind.starts_with("text/html"));
        let shell = String::from_utf8_lossy(shell);
        let script = shell
            .split("src=\"/app/")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .expect("the shell loads a script");
        assert!(asset(script).is_some(), "{script} is embedded");
    }
}
