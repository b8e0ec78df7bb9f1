//! Extractors that check before a handler runs: our `Json` (415, 413, 400 on malformed JSON or
//! unknown fields, 422 on wrong values), ids in paths (404 when not an id), query strings,
//! and who the caller is (`Caller` may be anonymous, `Authed` may not).

use std::str::FromStr;

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Path, Request};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use boothhub_actors::domain::access::Principal;
use serde::de::DeserializeOwned;
use serde_json::json;

use super::AppState;
use crate::auth::{self, BOOTH_PREFIX, SESSION_COOKIE};
use crate::error::{ApiError, ErrorCode};

/// The raw bytes of a JSON body: the content type is checked and the size limit answered in
/// the contract's shape. An empty body is allowed where the handler says so.
pub struct RawJson(pub Bytes);

impl<S: Send + Sync> FromRequest<S> for RawJson {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let content_type = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok());
        let is_json = content_type.is_some_and(|ct| {
            let essence = ct
                .split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase();
            essence == "application/json"
                || (essence.starts_with("application/") && essence.ends_with("+json"))
        });
        let has_body = content_type.is_some()
            || req
                .headers()
                .get(header::CONTENT_LENGTH)
                .is_some_and(|v| v.as_bytes() != b"0");
        let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    ErrorCode::PayloadTooLarge,
                    "the body is over 64 KiB",
                )
            } else {
                ApiError::new(
                    StatusCode::BAD_REQUEST,
                    ErrorCode::MalformedJson,
                    "the body could not be read",
                )
            }
        })?;
        if !is_json && (has_body || !bytes.is_empty()) {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                ErrorCode::UnsupportedMediaType,
                "send the body as application/json",
            ));
        }
        Ok(RawJson(bytes))
    }
}

/// Parses JSON into `T` with the contract's answers for each way it can fail.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(bytes).map_err(|err| {
        use serde_json::error::Category;
        let message = err.to_string();
        match err.classify() {
            Category::Syntax | Category::Eof | Category::Io => ApiError::new(
                StatusCode::BAD_REQUEST,
                ErrorCode::MalformedJson,
                format!("malformed JSON: {message}"),
            ),
            Category::Data if message.starts_with("unknown field") => {
                ApiError::new(StatusCode::BAD_REQUEST, ErrorCode::UnknownField, message)
            }
            Category::Data => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                ErrorCode::ValidationFailed,
                "invalid values",
            )
            .with_details(json!({ "fields": { field_of(&message): message } })),
        }
    })
}

/// Best effort: the field a serde message names (`missing field `x``, `... for key `x``).
fn field_of(message: &str) -> String {
    message
        .split('`')
        .nth(1)
        .filter(|_| message.starts_with("missing field"))
        .map_or_else(|| "body".to_owned(), str::to_owned)
}

/// A JSON body of type `T` (whose serde derive denies unknown fields).
pub struct Json<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Json<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let RawJson(bytes) = RawJson::from_request(req, state).await?;
        parse_json(&bytes).map(Json)
    }
}

/// A body that may be absent; when present it must be a JSON object with no fields.
pub struct EmptyBody;

impl<S: Send + Sync> FromRequest<S> for EmptyBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let RawJson(bytes) = RawJson::from_request(req, state).await?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(EmptyBody);
        }
        #[derive(serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Nothing {}
        parse_json::<Nothing>(&bytes).map(|_| EmptyBody)
    }
}

/// An id in the path; anything that is not an id is an unknown id (404).
pub struct Id<T>(pub T);

impl<S: Send + Sync, T: FromStr> FromRequestParts<S> for Id<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Path(raw) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|_| ApiError::not_found("resource"))?;
        raw.parse()
            .map(Id)
            .map_err(|_| ApiError::not_found("resource"))
    }
}

/// A query string of type `T`; a bad one is a 400 in the contract's shape.
pub struct Query<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for Query<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Query::<T>::try_from_uri(&parts.uri)
            .map(|q| Query(q.0))
            .map_err(|e| ApiError::invalid_query(e.body_text()))
    }
}

/// The bearer token or session cookie of a request, if any. Never from the URL.
pub fn presented_token(headers: &axum::http::HeaderMap) -> Option<String> {
    if let Some(value) = headers.get(header::AUTHORIZATION) {
        let text = value.to_str().ok()?;
        let (scheme, token) = text.split_once(' ')?;
        return scheme
            .eq_ignore_ascii_case("bearer")
            .then(|| token.trim().to_owned());
    }
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|cookies| {
            cookies.split(';').find_map(|pair| {
                let (name, value) = pair.trim().split_once('=')?;
                (name == SESSION_COOKIE && !value.is_empty()).then(|| value.to_owned())
            })
        })
}

/// Whether the Authorization header is present but unusable (answered 401 even where
/// anonymous callers are welcome, so that a broken client learns of it).
fn bad_authorization(parts: &Parts) -> bool {
    parts.headers.get(header::AUTHORIZATION).is_some() && presented_token(&parts.headers).is_none()
}

/// The caller, or anonymous. A presented but invalid token is answered 401.
pub struct Caller(pub Option<Principal>);

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        if bad_authorization(parts) {
            return Err(ApiError::unauthenticated());
        }
        let Some(token) = presented_token(&parts.headers) else {
            return Ok(Caller(None));
        };
        check_csrf(parts, &token)?;
        let hash = auth::token_hash(&token);
        let directory = state.hub.directory();
        let principal = if token.starts_with(BOOTH_PREFIX) {
            directory.principal_for_booth(&hash).await?
        } else {
            directory.principal_for_login(&hash).await?
        };
        principal
            .map(|p| Caller(Some(p)))
            .ok_or_else(ApiError::unauthenticated)
    }
}

/// A state-changing call authenticated by the session cookie (not by a bearer header) must
/// carry the session's CSRF token in `X-CSRF-Token`: a page of another site can make the
/// browser send the cookie, but cannot read the token to send it along.
fn check_csrf(parts: &Parts, session_token: &str) -> Result<(), ApiError> {
    let safe = matches!(
        parts.method,
        axum::http::Method::GET | axum::http::Method::HEAD | axum::http::Method::OPTIONS
    );
    if safe || parts.headers.contains_key(header::AUTHORIZATION) {
        return Ok(());
    }
    let presented = parts
        .headers
        .get(auth::CSRF_HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if auth::csrf_matches(session_token, presented) {
        Ok(())
    } else {
        Err(ApiError::csrf())
    }
}

/// An authenticated caller: 401 without valid credentials.
pub struct Authed(pub Principal);

impl FromRequestParts<AppState> for Authed {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let Caller(caller) = Caller::from_request_parts(parts, state).await?;
        caller.map(Authed).ok_or_else(ApiError::unauthenticated)
    }
}

/// The client's IP address, for per-IP rate limits.
pub struct ClientIp(pub std::net::IpAddr);

impl<S: Send + Sync> FromRequestParts<S> for ClientIp {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let connect = parts
            .extensions
            .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>();
        let ip = connect.map_or(std::net::IpAddr::from([0, 0, 0, 0]), |c| c.0.ip());
        Ok(ClientIp(ip))
    }
}
