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

use crate::auth::{self, BOOTH_PREFIX, SESSION_COOKIE};
use crate::error::{ApiError, ErrorCode};
use crate::metrics::HTTP_BODY_TIMEOUTS;
use crate::state::AppState;

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
        // The whole body must arrive within the connection's body deadline (a client that
        // trickles it byte by byte holds the connection no longer than that).
        let deadline = crate::conn::of(req.extensions()).map(|conn| conn.body_timeout());
        let read = Bytes::from_request(req, state);
        let read = match deadline {
            Some(deadline) => tokio::time::timeout(deadline, read)
                .await
                .map_err(|_| body_timed_out(deadline))?,
            None => read.await,
        };
        let bytes = read.map_err(|rejection| {
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

fn body_timed_out(deadline: std::time::Duration) -> ApiError {
    metrics::counter!(HTTP_BODY_TIMEOUTS).increment(1);
    ApiError::new(
        StatusCode::REQUEST_TIMEOUT,
        ErrorCode::RequestTimeout,
        format!(
            "the request body did not arrive within {} s",
            deadline.as_secs()
        ),
    )
}

/// Parses JSON into `T` with the contract's answers for each way it can fail: 400
/// `MALFORMED_JSON` for bad syntax, 400 `UNKNOWN_FIELD`, and 422 `VALIDATION_FAILED` with
/// `details.fields` keyed by the field's path (`amount`, `user.phone`) for a value of the wrong
/// type or a missing field.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(&mut deserializer)
        .map_err(|err| (err.path().to_string(), err.into_inner()))
        .and_then(|value| {
            let trailing = deserializer.end();
            trailing
                .map(|()| value)
                .map_err(|err| (".".to_owned(), err))
        })
        .map_err(|(path, err)| json_error(&path, &err))
}

/// The answer for JSON that failed to parse at `path`.
fn json_error(path: &str, err: &serde_json::Error) -> ApiError {
    use serde_json::error::Category;
    let message = without_position(&err.to_string()).to_owned();
    match err.classify() {
        Category::Syntax | Category::Eof | Category::Io => ApiError::new(
            StatusCode::BAD_REQUEST,
            ErrorCode::MalformedJson,
            format!("malformed JSON: {err}"),
        ),
        Category::Data if message.starts_with("unknown field") => {
            ApiError::new(StatusCode::BAD_REQUEST, ErrorCode::UnknownField, message)
                .with_details(json!({ "field": path }))
        }
        Category::Data => ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            ErrorCode::ValidationFailed,
            "invalid values",
        )
        .with_details(json!({ "fields": { field_of(path, &message): human(&message) } })),
    }
}

/// serde_json's message without its ` at line 1 column 9` (the last one: a field name quoted
/// in the message may contain the words too).
fn without_position(message: &str) -> &str {
    message
        .rsplit_once(" at line ")
        .map_or(message, |(text, _)| text)
}

/// The path of the field a data error is about: the value's path (`user.phone`), or for a
/// missing field the path of the field that is missing (`user.email`). The body itself (the
/// wrong JSON type at the top) is `body`.
fn field_of(path: &str, message: &str) -> String {
    let missing = message
        .strip_prefix("missing field `")
        .and_then(|rest| rest.split_once('`'))
        .map(|(name, _)| name);
    match (path, missing) {
        (".", Some(name)) => name.to_owned(),
        (".", None) => "body".to_owned(),
        (parent, Some(name)) => format!("{parent}.{name}"),
        (path, None) => path.to_owned(),
    }
}

/// A data error said for people: `invalid type: integer `5`, expected a string` → `must be a
/// string`; other errors keep serde's words.
fn human(message: &str) -> String {
    if message.starts_with("missing field") {
        return "is required".to_owned();
    }
    if let Some((_, expected)) = message
        .strip_prefix("unknown variant ")
        .and_then(|rest| rest.split_once(", expected "))
    {
        return format!("must be {expected}");
    }
    let wrong_shape =
        message.starts_with("invalid type: ") || message.starts_with("invalid length ");
    let Some((_, expected)) = message.rsplit_once(", expected ").filter(|_| wrong_shape) else {
        return message.to_owned();
    };
    let kind = match expected {
        "i8" | "i16" | "i32" | "i64" | "i128" | "isize" | "u8" | "u16" | "u32" | "u64" | "u128"
        | "usize" => "a whole number",
        "f32" | "f64" => "a number",
        "a boolean" => "true or false",
        "a sequence" => "an array",
        "a map" => "an object",
        other if other.starts_with("struct ") => "an object",
        other if other.starts_with("tuple") => "an array",
        other => other,
    };
    format!("must be {kind}")
}

/// For a field that may be left out but not set to `null`: with `#[serde(default,
/// deserialize_with = "present")]` on an `Option<T>`, a missing field is `None` and `null` is a
/// wrong-type error on that field (422 with its path).
pub fn present<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::Deserialize<'de>,
{
    T::deserialize(deserializer).map(Some)
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

/// When the login token of the request expires (a request extension set by [`Caller`]; booth
/// tokens have none).
#[derive(Clone, Copy, Debug)]
pub struct LoginExpiry(pub chrono::DateTime<chrono::Utc>);

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
            let login = directory.principal_for_login(&hash).await?;
            login.map(|(principal, expires_at)| {
                parts.extensions.insert(LoginExpiry(expires_at));
                principal
            })
        };
        let principal = principal.ok_or_else(ApiError::unauthenticated)?;
        if let Some(conn) = crate::conn::of(&parts.extensions) {
            conn.authenticated();
        }
        Ok(Caller(Some(principal)))
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;
    use serde_json::Value;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code, reason = "only parsed")]
    struct User {
        name: String,
        phone: String,
        email: String,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code, reason = "only parsed")]
    struct Body {
        user: User,
        amount: i64,
        booking_time: String,
        paid: Option<bool>,
        tags: Option<Vec<String>>,
        #[serde(default, deserialize_with = "present")]
        minutes: Option<u32>,
    }

    const GOOD: &str = r#"{"user":{"name":"Sari","phone":"0812345","email":"s@x.id"},"amount":5,"booking_time":"t"}"#;

    fn answer(body: &str) -> (StatusCode, ErrorCode, Value) {
        let mut value: Value = serde_json::from_str(GOOD).unwrap_or_default();
        let patch: Value = serde_json::from_str(body).unwrap_or_default();
        if let (Some(value), Some(patch)) = (value.as_object_mut(), patch.as_object()) {
            for (key, field) in patch {
                match key.split_once('.') {
                    Some((outer, inner)) => value[outer][inner] = field.clone(),
                    None => {
                        value.insert(key.clone(), field.clone());
                    }
                }
            }
        }
        let bytes = serde_json::to_vec(&value).unwrap_or_default();
        raw_answer(&bytes)
    }

    fn raw_answer(bytes: &[u8]) -> (StatusCode, ErrorCode, Value) {
        match parse_json::<Body>(bytes) {
            Ok(_) => (StatusCode::OK, ErrorCode::Internal, Value::Null),
            Err(err) => (err.status, err.code, err.details.unwrap_or_default()),
        }
    }

    #[test]
    fn a_value_of_the_wrong_type_is_a_field_error_at_its_path() {
        let cases = [
            (r#"{"amount":"5"}"#, "amount", "must be a whole number"),
            (r#"{"amount":12.5}"#, "amount", "must be a whole number"),
            (r#"{"user.phone":812345}"#, "user.phone", "must be a string"),
            (r#"{"user.email":null}"#, "user.email", "must be a string"),
            (
                r#"{"booking_time":[1]}"#,
                "booking_time",
                "must be a string",
            ),
            (r#"{"paid":"yes"}"#, "paid", "must be true or false"),
            (r#"{"user":"Sari"}"#, "user", "must be an object"),
            (r#"{"tags":{}}"#, "tags", "must be an array"),
            (r#"{"tags":["a",2]}"#, "tags[1]", "must be a string"),
            (
                r#"{"minutes":-1}"#,
                "minutes",
                "invalid value: integer `-1`, expected u32",
            ),
        ];
        for (patch, field, message) in cases {
            let (status, code, details) = answer(patch);
            assert_eq!(
                (status, code),
                (
                    StatusCode::UNPROCESSABLE_ENTITY,
                    ErrorCode::ValidationFailed
                ),
                "{patch}"
            );
            assert_eq!(details, json!({ "fields": { field: message } }), "{patch}");
        }
    }

    #[test]
    fn a_missing_field_is_named_by_its_own_path() {
        let (status, _, details) =
            raw_answer(br#"{"user":{"name":"S","phone":"0812345"},"amount":5,"booking_time":"t"}"#);
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(
            details,
            json!({ "fields": { "user.email": "is required" } })
        );
        let (_, _, details) = raw_answer(
            br#"{"user":{"name":"S","phone":"0812345","email":"e"},"booking_time":"t"}"#,
        );
        assert_eq!(details, json!({ "fields": { "amount": "is required" } }));
    }

    #[test]
    fn null_for_a_field_that_may_only_be_left_out_is_a_field_error() {
        let (status, _, details) = answer(r#"{"minutes":null}"#);
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(
            details,
            json!({ "fields": { "minutes": "must be a whole number" } })
        );
        assert_eq!(answer(r#"{"minutes":7}"#).0, StatusCode::OK);
        assert_eq!(answer("{}").0, StatusCode::OK, "left out");
    }

    #[test]
    fn unknown_fields_and_bad_syntax_stay_400() {
        let (status, code, details) = answer(r#"{"user.nickname":"S"}"#);
        assert_eq!(
            (status, code),
            (StatusCode::BAD_REQUEST, ErrorCode::UnknownField)
        );
        assert_eq!(details, json!({ "field": "user.nickname" }));
        let trailing = format!("{GOOD} x");
        let huge = GOOD.replace("\"amount\":5", "\"amount\":1e400");
        for bad in [
            &b"{\"user\":"[..],
            trailing.as_bytes(),
            huge.as_bytes(),
            b"",
            b"\xff",
        ] {
            let (status, code, _) = raw_answer(bad);
            assert_eq!(
                (status, code),
                (StatusCode::BAD_REQUEST, ErrorCode::MalformedJson),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn the_wrong_type_for_the_whole_body_names_the_body() {
        let (status, _, details) = raw_answer(b"[]");
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(
            details,
            json!({ "fields": { "body": "must be an object" } })
        );
    }

    #[test]
    fn a_field_name_quoting_the_position_words_is_not_cut() {
        assert_eq!(
            without_position("unknown field `a at line 3`, expected x at line 1 column 9"),
            "unknown field `a at line 3`, expected x"
        );
        assert_eq!(without_position("no position"), "no position");
    }
}
