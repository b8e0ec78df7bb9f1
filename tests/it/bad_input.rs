//! Bad input never gives a 5xx: malformed JSON, unknown fields, oversized bodies, bad ids,
//! invalid enums, out-of-range config, wrong media types, and plain garbage.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::harness::*;

async fn raw(
    hub: &TestHub,
    method: Method,
    path: &str,
    token: Option<&str>,
    content_type: Option<&str>,
    body: Vec<u8>,
) -> (StatusCode, Value) {
    let mut request = hub.client.request(method, hub.url(path)).body(body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(content_type) = content_type {
        request = request.header("content-type", content_type);
    }
    let response = request.send().await.expect("request");
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

fn code(answer: &(StatusCode, Value)) -> &str {
    answer.1["error"]["code"].as_str().unwrap_or("")
}

#[tokio::test]
async fn each_kind_of_bad_input_has_its_answer() {
    let hub = TestHub::start();
    let root = hub.root().await;
    let outlet = hub.outlet(&root, "Mall Input").await;
    let json_ct = Some("application/json");

    let answer = raw(
        &hub,
        Method::POST,
        "/booking",
        None,
        json_ct,
        b"{\"user\":".to_vec(),
    )
    .await;
    assert_eq!(
        (answer.0, code(&answer)),
        (StatusCode::BAD_REQUEST, "MALFORMED_JSON")
    );

    let mut body = booking_body(&outlet.id, None, 30);
    body["coupon"] = json!("FREE");
    let answer = hub.book(None, body).await;
    assert_eq!(
        (answer.0, code(&answer)),
        (StatusCode::BAD_REQUEST, "UNKNOWN_FIELD"),
        "{}",
        answer.1
    );

    let mut body = booking_body(&outlet.id, None, 30);
    body["user"]["nickname"] = json!("S");
    let answer = hub.book(None, body).await;
    assert_eq!(
        (answer.0, code(&answer)),
        (StatusCode::BAD_REQUEST, "UNKNOWN_FIELD"),
        "nested unknown fields too"
    );

    let big = serde_json::to_vec(&json!({ "name": "x".repeat(70 * 1024) })).unwrap();
    let answer = raw(&hub, Method::POST, "/outlets", Some(&root), json_ct, big).await;
    assert_eq!(
        (answer.0, code(&answer)),
        (StatusCode::PAYLOAD_TOO_LARGE, "PAYLOAD_TOO_LARGE")
    );

    let answer = raw(
        &hub,
        Method::POST,
        "/outlets",
        Some(&root),
        Some("text/plain"),
        b"{\"name\":\"x\"}".to_vec(),
    )
    .await;
    assert_eq!(
        (answer.0, code(&answer)),
        (StatusCode::UNSUPPORTED_MEDIA_TYPE, "UNSUPPORTED_MEDIA_TYPE")
    );
    let answer = raw(
        &hub,
        Method::POST,
        "/outlets",
        Some(&root),
        None,
        b"{\"name\":\"x\"}".to_vec(),
    )
    .await;
    assert_eq!(answer.0, StatusCode::UNSUPPORTED_MEDIA_TYPE);

    for path in [
        "/session/not-a-uuid/status",
        "/session/123/status",
        &format!("/session/{}/status", uuid::Uuid::new_v4()),
    ] {
        let answer = hub.get(path, Some(&root)).await;
        assert_eq!(
            (answer.0, code(&answer)),
            (StatusCode::NOT_FOUND, "NOT_FOUND"),
            "{path}"
        );
    }
    let answer = hub
        .put("/outlets/nope", Some(&root), json!({ "name": "x" }))
        .await;
    assert_eq!(answer.0, StatusCode::NOT_FOUND);

    let answer = hub.get("/bookings?status=SLEEPING", Some(&root)).await;
    assert_eq!(
        (answer.0, code(&answer)),
        (StatusCode::BAD_REQUEST, "INVALID_QUERY")
    );
    for query in [
        "from=yesterday",
        "limit=0",
        "limit=abc",
        "limit=1000",
        "cursor=%%%",
        "cursor=bm90LWEtY3Vyc29y",
        "outlet_id=x",
    ] {
        let answer = hub.get(&format!("/bookings?{query}"), Some(&root)).await;
        assert_eq!(answer.0, StatusCode::BAD_REQUEST, "{query}: {}", answer.1);
    }

    for bad in [
        json!({ "session_duration_minutes": 0 }),
        json!({ "session_duration_minutes": 241 }),
        json!({ "arrival_tolerance_minutes": -1 }),
        json!({ "arrival_tolerance_minutes": 121 }),
    ] {
        let answer = hub.put("/config/system", Some(&root), bad.clone()).await;
        assert_eq!(
            (answer.0, code(&answer)),
            (StatusCode::UNPROCESSABLE_ENTITY, "VALIDATION_FAILED"),
            "{bad}"
        );
    }
    let answer = hub
        .put(
            "/config/system",
            Some(&root),
            json!({ "session_duration_minutes": "ten" }),
        )
        .await;
    assert_eq!(answer.0, StatusCode::UNPROCESSABLE_ENTITY);

    let mut body = booking_body(&outlet.id, None, 30);
    body["booking_time"] = json!("tomorrow at noon");
    assert_eq!(
        hub.book(None, body).await.0,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    let mut body = booking_body(&outlet.id, None, 30);
    body["amount"] = json!(12.5);
    assert_eq!(
        hub.book(None, body).await.0,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    let answer = hub
        .post(
            "/admin-users",
            Some(&root),
            json!({ "name": "A", "email": "a@b.co", "password": "password-1", "role": "king" }),
        )
        .await;
    assert_eq!(answer.0, StatusCode::UNPROCESSABLE_ENTITY);
    let answer = hub.post("/admin-users", Some(&root), json!({ "name": "A", "email": ROOT_EMAIL, "password": "password-1", "role": "super_admin" })).await;
    assert_eq!(
        (answer.0, code(&answer)),
        (StatusCode::CONFLICT, "EMAIL_TAKEN")
    );
    let answer = hub
        .post(
            "/admin-users",
            Some(&root),
            json!({ "name": "A", "email": "b@b.co", "password": "password-1", "role": "admin" }),
        )
        .await;
    assert_eq!(
        (answer.0, code(&answer)),
        (StatusCode::UNPROCESSABLE_ENTITY, "VALIDATION_FAILED"),
        "admin without outlet"
    );

    let answer = hub.get("/nowhere", None).await;
    assert_eq!(
        (answer.0, code(&answer)),
        (StatusCode::NOT_FOUND, "NOT_FOUND")
    );
    let answer = hub
        .call(Method::DELETE, "/outlets", Some(&root), None)
        .await;
    assert_eq!(answer.0, StatusCode::METHOD_NOT_ALLOWED);

    for header in [
        "Bearer",
        "Basic abc",
        "Bearer nonsense",
        "Bearer bhb_forged",
    ] {
        let response = hub
            .client
            .get(hub.url("/outlets"))
            .header("authorization", header)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{header}");
    }
    let response = hub
        .client
        .get(hub.url(&format!("/outlets?token={root}")))
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status(),
        StatusCode::UNAUTHORIZED,
        "a token in the URL is never accepted"
    );
}

#[tokio::test]
async fn garbage_on_every_endpoint_never_gives_a_5xx() {
    let hub = TestHub::start();
    let root = hub.root().await;
    let outlet = hub.outlet(&root, "Mall Garbage").await;
    let (_, booking) = hub.book(None, booking_body(&outlet.id, None, 0)).await;
    let id = id(&booking);
    let endpoints = [
        (Method::POST, "/auth/login".to_owned()),
        (Method::POST, "/auth/logout".to_owned()),
        (Method::POST, "/booking".to_owned()),
        (Method::POST, "/payment/confirm".to_owned()),
        (Method::POST, format!("/session/{id}/arrival")),
        (Method::POST, format!("/session/{id}/start")),
        (Method::POST, format!("/session/{id}/finish")),
        (Method::POST, format!("/session/{id}/override")),
        (Method::POST, "/outlets".to_owned()),
        (Method::PUT, format!("/outlets/{}", outlet.id)),
        (Method::POST, "/admin-users".to_owned()),
        (Method::POST, "/booths".to_owned()),
        (Method::PUT, "/config/system".to_owned()),
    ];
    let bodies: Vec<Vec<u8>> = vec![
        vec![],
        b"null".to_vec(),
        b"[]".to_vec(),
        b"\"text\"".to_vec(),
        b"{}".to_vec(),
        b"{\"a\":".to_vec(),
        vec![0xff, 0xfe, 0x00, 0x80],
        b"{\"name\":null,\"email\":1e309,\"reason\":{}}".to_vec(),
        serde_json::to_vec(
            &json!({ "qr_token": "\u{0}".repeat(100), "reason": "\u{202e}", "status": "DONE" }),
        )
        .unwrap(),
        format!("{}1{}", "[".repeat(200), "]".repeat(200)).into_bytes(),
    ];
    let mut seen = vec![];
    for (method, path) in &endpoints {
        for body in &bodies {
            for token in [None, Some(root.as_str()), Some(outlet.booth.token.as_str())] {
                let (status, answer) = raw(
                    &hub,
                    method.clone(),
                    path,
                    token,
                    Some("application/json"),
                    body.clone(),
                )
                .await;
                assert!(
                    !status.is_server_error(),
                    "{method} {path} {:?}: {status} {answer}",
                    String::from_utf8_lossy(body)
                );
                if status.is_client_error() {
                    assert!(
                        answer["error"]["code"].is_string(),
                        "{method} {path}: {answer}"
                    );
                }
                seen.push(status);
            }
        }
    }
    assert!(seen.iter().any(|s| s.is_client_error()));
    hub.assert_still_serves().await;
}

#[tokio::test]
async fn a_value_of_the_wrong_type_is_a_422_naming_the_field_by_its_path() {
    let hub = TestHub::start();
    let root = hub.root().await;
    let outlet = hub.outlet(&root, "Mall Types").await;
    /// What the case is, how it spoils a good booking, and the fields the 422 names.
    type Case = (&'static str, fn(&mut Value), Value);
    let cases: [Case; 6] = [
        (
            "amount as a string",
            |b| b["amount"] = json!("50000"),
            json!({ "amount": "must be a whole number" }),
        ),
        (
            "amount with a fraction",
            |b| b["amount"] = json!(12.5),
            json!({ "amount": "must be a whole number" }),
        ),
        (
            "phone as a number",
            |b| b["user"]["phone"] = json!(812_345_678),
            json!({ "user.phone": "must be a string" }),
        ),
        (
            "booking_time null",
            |b| b["booking_time"] = Value::Null,
            json!({ "booking_time": "must be a string" }),
        ),
        (
            "user as a string",
            |b| b["user"] = json!("Sari"),
            json!({ "user": "must be an object" }),
        ),
        (
            "email left out",
            |b| {
                b["user"].as_object_mut().unwrap().remove("email");
            },
            json!({ "user.email": "is required" }),
        ),
    ];
    for (case, change, fields) in cases {
        let mut body = booking_body(&outlet.id, None, 30);
        change(&mut body);
        let answer = hub.book(None, body).await;
        assert_eq!(
            (answer.0, code(&answer)),
            (StatusCode::UNPROCESSABLE_ENTITY, "VALIDATION_FAILED"),
            "{case}: {}",
            answer.1
        );
        assert_eq!(answer.1["error"]["details"]["fields"], fields, "{case}");
    }
    let answer = hub
        .put(
            "/config/system",
            Some(&root),
            json!({ "session_duration_minutes": "ten" }),
        )
        .await;
    assert_eq!(
        answer.1["error"]["details"]["fields"],
        json!({ "session_duration_minutes": "must be a whole number" })
    );
}

#[tokio::test]
async fn a_null_config_value_is_refused_and_a_missing_one_is_kept() {
    let hub = TestHub::start();
    let root = hub.root().await;
    let both = json!({ "session_duration_minutes": 30, "arrival_tolerance_minutes": 20 });
    let (status, body) = hub.put("/config/system", Some(&root), both).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let null = json!({ "session_duration_minutes": null, "arrival_tolerance_minutes": 15 });
    let answer = hub.put("/config/system", Some(&root), null).await;
    assert_eq!(
        (answer.0, code(&answer)),
        (StatusCode::UNPROCESSABLE_ENTITY, "VALIDATION_FAILED"),
        "{}",
        answer.1
    );
    let fields = &answer.1["error"]["details"]["fields"];
    assert!(fields.get("session_duration_minutes").is_some(), "{fields}");
    let (_, config) = hub.get("/config/system", Some(&root)).await;
    assert_eq!(
        (
            &config["session_duration_minutes"],
            &config["arrival_tolerance_minutes"]
        ),
        (&json!(30), &json!(20)),
        "nothing changed"
    );

    let only_tolerance = json!({ "arrival_tolerance_minutes": 10 });
    let (status, config) = hub.put("/config/system", Some(&root), only_tolerance).await;
    assert_eq!(status, StatusCode::OK, "{config}");
    assert_eq!(
        (
            &config["session_duration_minutes"],
            &config["arrival_tolerance_minutes"]
        ),
        (&json!(30), &json!(10)),
        "the value left out is kept"
    );
}

#[tokio::test]
async fn a_booking_more_than_ninety_days_ahead_is_too_far() {
    let hub = TestHub::start();
    let root = hub.root().await;
    let outlet = hub.outlet(&root, "Mall Far").await;
    let ninety_days = chrono::Utc::now() + chrono::Duration::days(90);
    let far = booking_at(&outlet.id, None, ninety_days + chrono::Duration::minutes(5));
    let answer = hub.book(None, far).await;
    assert_eq!(
        (answer.0, code(&answer)),
        (StatusCode::UNPROCESSABLE_ENTITY, "BOOKING_TOO_FAR"),
        "{}",
        answer.1
    );
    assert_eq!(
        answer.1["error"]["details"]["fields"],
        json!({ "booking_time": "is too far ahead" })
    );
    let (status, list) = hub.get("/bookings", Some(&root)).await;
    assert_eq!(
        (status, &list["items"]),
        (StatusCode::OK, &json!([])),
        "nothing was booked"
    );

    let near = booking_at(&outlet.id, None, ninety_days - chrono::Duration::minutes(5));
    let (status, booking) = hub.book(None, near).await;
    assert_eq!(status, StatusCode::CREATED, "{booking}");
}
