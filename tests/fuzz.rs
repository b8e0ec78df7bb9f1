//! Property-based fuzzing of everything that decodes client bytes (contract §2: "a 5xx never
//! happens on client input"): JSON bodies of every route that takes one, sent through the real
//! router on a real embedded store; the webhook's signature header; WebSocket messages in both
//! encodings and their fragments. Each property checks "no panic, no 5xx" (and the bound it
//! owns) on a bounded number of cases (`PROPTEST_CASES` raises it for a longer run).
#![allow(
    clippy::disallowed_methods,
    reason = "tests read the wall clock and the environment"
)]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a broken test setup panics with its message"
)]

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use boothhub::app::router;
use boothhub::auth::webhook;
use boothhub::config::Config;
use boothhub::state::AppState;
use boothhub::token_sockets::TokenSockets;
use boothhub::ws::message::{Assembler, Fragment, MAX_MESSAGE};
use boothhub::ws::protocol::decode;
use boothhub_actors::clock::SystemClock;
use boothhub_actors::cluster::Cluster;
use boothhub_actors::context::HubSettings;
use boothhub_actors::directory::UserInput;
use boothhub_actors::domain::records::Role;
use boothhub_actors::hub::Hub;
use boothhub_actors::store::embedded::EmbeddedStore;
use proptest::prelude::*;
use serde_json::{Value, json};
use tower::ServiceExt;

const SECRET: &str = "fuzz-webhook-secret-0123456789";
const ROOT_EMAIL: &str = "root@fuzz.example";
const ROOT_PASSWORD: &str = "fuzz-password-1";

/// One hub for every case: a runtime, the router on an embedded store, a super admin's
/// token, an outlet and a booking to aim at.
struct Rig {
    runtime: tokio::runtime::Runtime,
    app: Router,
    token: String,
    outlet: String,
    booking: String,
    _dir: tempfile::TempDir,
}

fn rig() -> &'static Rig {
    static RIG: OnceLock<Rig> = OnceLock::new();
    RIG.get_or_init(|| {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let (app, token, outlet, booking) = runtime.block_on(async {
            let env: BTreeMap<&str, &str> = [
                ("BOOTHHUB_WEBHOOK_SECRET", SECRET),
                ("BOOTHHUB_RATE_BOOKING_BURST", "100000"),
                ("BOOTHHUB_RATE_LOGIN_BURST", "100000"),
                ("BOOTHHUB_RATE_LOGIN_FAILURES_PER_ACCOUNT", "100000"),
            ]
            .into();
            let config =
                Config::from_sources(None, &|name| env.get(name).map(|v| (*v).to_owned())).unwrap();
            let store = Arc::new(EmbeddedStore::open(dir.path()).unwrap());
            let hub = Arc::new(
                Hub::start(store, Arc::new(SystemClock), HubSettings::default())
                    .await
                    .unwrap(),
            );
            let hash = boothhub::auth::password::hash(ROOT_PASSWORD.into())
                .await
                .unwrap();
            let input = UserInput {
                name: "Root".into(),
                email: ROOT_EMAIL.into(),
                role: Role::SuperAdmin,
                outlet_id: None,
            };
            hub.directory()
                .create_user(None, input, hash)
                .await
                .unwrap();
            let sockets = Arc::new(TokenSockets::new(config.ws.max_connections_per_token));
            let cluster = Cluster::solo(
                config.listen.to_string(),
                Arc::clone(hub.context()),
                Arc::clone(hub.children()),
                Arc::new(|| 0),
            );
            let app = router(AppState::new(
                hub,
                Arc::new(config),
                None,
                sockets,
                cluster,
                None,
            ));
            let login = json!({ "email": ROOT_EMAIL, "password": ROOT_PASSWORD });
            let (_, body) = call(&app, "POST", "/auth/login", None, &login.to_string(), None).await;
            let token = body["token"].as_str().unwrap().to_owned();
            let outlet = json!({ "name": "Fuzz", "location": "Lab", "timezone": "Asia/Jakarta" });
            let (_, body) = call(
                &app,
                "POST",
                "/outlets",
                Some(&token),
                &outlet.to_string(),
                None,
            )
            .await;
            let outlet = body["id"].as_str().unwrap().to_owned();
            let booth = json!({ "outlet_id": outlet, "name": "Booth" });
            call(
                &app,
                "POST",
                "/booths",
                Some(&token),
                &booth.to_string(),
                None,
            )
            .await;
            let (_, body) = call(
                &app,
                "POST",
                "/booking",
                Some(&token),
                &valid_booking(&outlet).to_string(),
                None,
            )
            .await;
            let booking = body["id"]
                .as_str()
                .unwrap_or_else(|| panic!("a booking to aim at: {body}"))
                .to_owned();
            (app, token, outlet, booking)
        });
        Rig {
            runtime,
            app,
            token,
            outlet,
            booking,
            _dir: dir,
        }
    })
}

async fn call(
    app: &Router,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: &str,
    signature: Option<&str>,
) -> (StatusCode, Value) {
    let mut request = Request::builder()
        .method(method)
        .uri(path)
        .header("content-type", "application/json");
    if let Some(token) = token {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    if let Some(signature) = signature {
        request = request.header("x-signature", signature);
    }
    let request = request.body(Body::from(body.to_owned())).unwrap();
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .unwrap();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

fn valid_booking(outlet: &str) -> Value {
    let at = chrono::Utc::now() + chrono::Duration::days(3);
    json!({
        "user": { "name": "Sari", "phone": "0812 3456 789", "email": "sari@example.com" },
        "outlet_id": outlet,
        "booking_time": at.to_rfc3339(),
        "amount": 50000,
    })
}

/// Any JSON value, a few levels deep.
fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>().prop_map(|n| json!(n)),
        ".{0,40}".prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(".{0,12}", inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// A valid body with one field (at any depth) replaced by any JSON value, or removed.
fn mutated(base: Value) -> impl Strategy<Value = Value> {
    let paths = leaf_paths(&base);
    (0..paths.len().max(1), any_json(), any::<bool>()).prop_map(move |(at, value, remove)| {
        let mut body = base.clone();
        if let Some(path) = paths.get(at) {
            set(&mut body, path, if remove { None } else { Some(value) });
        }
        body
    })
}

fn leaf_paths(value: &Value) -> Vec<Vec<String>> {
    match value {
        Value::Object(map) => map
            .iter()
            .flat_map(|(key, inner)| {
                let mut nested = leaf_paths(inner);
                nested.iter_mut().for_each(|p| p.insert(0, key.clone()));
                nested.push(vec![key.clone()]);
                nested
            })
            .collect(),
        _ => vec![],
    }
}

fn set(body: &mut Value, path: &[String], value: Option<Value>) {
    let Some((last, parents)) = path.split_last() else {
        return;
    };
    let mut at = body;
    for key in parents {
        match at.get_mut(key) {
            Some(inner) => at = inner,
            None => return,
        }
    }
    if let Value::Object(map) = at {
        match value {
            Some(value) => {
                map.insert(last.clone(), value);
            }
            None => {
                map.remove(last);
            }
        }
    }
}

/// A route that reads a JSON body, and a mutation of its valid body.
fn route_and_mutated_body() -> impl Strategy<Value = (usize, Value)> {
    let count = routes(rig()).len();
    (0..count).prop_flat_map(|pick| {
        let base = routes(rig())[pick].3.clone();
        (Just(pick), mutated(base))
    })
}

/// Asserts the hub's answer to client input: never a 5xx, always the contract's error shape.
fn assert_client_answer(route: &str, body: &str, status: StatusCode, answer: &Value) {
    assert!(
        !status.is_server_error(),
        "{route} answered {status} to {body}: {answer}"
    );
    if status.is_client_error() {
        assert!(
            answer["error"]["code"].is_string(),
            "{route} answered {status} without an error code to {body}: {answer}"
        );
    }
}

/// The routes that read a JSON body, with a valid body to mutate.
fn routes(rig: &Rig) -> Vec<(&'static str, String, Option<String>, Value)> {
    let booking = &rig.booking;
    let token = Some(rig.token.clone());
    vec![
        ("POST", "/booking".into(), None, valid_booking(&rig.outlet)),
        (
            "POST",
            "/booking".into(),
            token.clone(),
            valid_booking(&rig.outlet),
        ),
        (
            "POST",
            "/auth/login".into(),
            None,
            json!({ "email": "nobody@example.com", "password": "wrong-password" }),
        ),
        (
            "POST",
            "/outlets".into(),
            token.clone(),
            json!({ "name": "Fuzz", "location": "Lab", "timezone": "Asia/Jakarta" }),
        ),
        (
            "POST",
            "/admin-users".into(),
            token.clone(),
            json!({ "name": "A", "email": "a@example.com", "password": "password-123", "role": "admin", "outlet_id": rig.outlet }),
        ),
        (
            "POST",
            "/booths".into(),
            token.clone(),
            json!({ "outlet_id": rig.outlet, "name": "Booth" }),
        ),
        (
            "POST",
            format!("/session/{booking}/arrival"),
            token.clone(),
            json!({ "qr_token": "x" }),
        ),
        (
            "POST",
            format!("/session/{booking}/override"),
            token.clone(),
            json!({ "status": "OVERRIDDEN", "reason": "fuzz" }),
        ),
        (
            "PUT",
            "/config/system".into(),
            token,
            json!({ "session_duration_minutes": 15, "arrival_tolerance_minutes": 15 }),
        ),
    ]
}

fn webhook_body(booking: &str) -> Value {
    json!({
        "event_id": "evt_fuzz",
        "booking_id": booking,
        "status": "SUCCESS",
        "amount": 50000,
        "currency": "IDR",
        "paid_at": "2026-12-05T10:00:00Z",
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn mutated_bodies_never_get_a_5xx((pick, body) in route_and_mutated_body()) {
        let rig = rig();
        let routes = routes(rig);
        let (method, path, token, _) = &routes[pick];
        let body = body.to_string();
        let (status, answer) = rig
            .runtime
            .block_on(call(&rig.app, method, path, token.as_deref(), &body, None));
        assert_client_answer(path, &body, status, &answer);
    }

    #[test]
    fn any_bytes_as_a_body_never_get_a_5xx(
        pick in 0usize..9,
        bytes in prop::collection::vec(any::<u8>(), 0..512),
    ) {
        let rig = rig();
        let routes = routes(rig);
        let (method, path, token, _) = &routes[pick % routes.len()];
        let body = String::from_utf8_lossy(&bytes).into_owned();
        let (status, answer) = rig
            .runtime
            .block_on(call(&rig.app, method, path, token.as_deref(), &body, None));
        assert_client_answer(path, &body, status, &answer);
    }

    #[test]
    fn signed_webhook_bodies_never_get_a_5xx(
        body in mutated(webhook_body("00000000-0000-4000-8000-000000000000")),
        known_booking in any::<bool>(),
    ) {
        let rig = rig();
        let mut body = body;
        if known_booking && body.get("booking_id").is_some_and(Value::is_string) {
            body["booking_id"] = json!(rig.booking);
        }
        let raw = body.to_string();
        let now = chrono::Utc::now().timestamp();
        let signature = webhook::sign(SECRET.as_bytes(), now, raw.as_bytes());
        let (status, answer) = rig.runtime.block_on(call(
            &rig.app,
            "POST",
            "/payment/confirm",
            None,
            &raw,
            Some(&signature),
        ));
        assert_client_answer("/payment/confirm", &raw, status, &answer);
    }

    #[test]
    fn any_signature_header_is_refused_or_verified_without_panic(
        header in prop_oneof![
            ".{0,600}",
            prop::collection::vec("(t=[0-9]{0,12}|v1=[0-9a-f]{0,70}|[a-z0-9=]{0,10})", 0..40)
                .prop_map(|parts| parts.join(",")),
        ],
        body in prop::collection::vec(any::<u8>(), 0..256),
    ) {
        let now = 1_800_000_000;
        let verified = webhook::verify(SECRET.as_bytes(), Some(&header), &body, now);
        // Only a header carrying the right MAC can verify.
        let genuine = webhook::sign(SECRET.as_bytes(), now, &body);
        if verified.is_ok() {
            let tag = genuine.split("v1=").nth(1).unwrap_or_default();
            prop_assert!(header.contains(tag));
        }
    }

    #[test]
    fn websocket_messages_decode_or_are_refused_without_panic(
        bytes in prop::collection::vec(any::<u8>(), 0..1024),
        text in any::<bool>(),
    ) {
        let _ = decode(&bytes, text);
    }

    #[test]
    fn mutated_websocket_messages_decode_or_are_refused_without_panic(
        message in mutated(json!({"type": "subscribe", "streams": ["all"], "resume": {"all": 7}})),
        msgpack in any::<bool>(),
    ) {
        let bytes = if msgpack {
            rmp_serde::to_vec_named(&message).unwrap_or_default()
        } else {
            message.to_string().into_bytes()
        };
        let _ = decode(&bytes, !msgpack);
    }

    #[test]
    fn fragments_never_assemble_past_the_limit(
        frames in prop::collection::vec(
            (0u8..3, any::<bool>(), 0usize..(MAX_MESSAGE / 2)),
            1..40,
        ),
    ) {
        let mut assembler = Assembler::default();
        let chunk = vec![b'a'; MAX_MESSAGE / 2];
        for (kind, fin, len) in frames {
            let kind = match kind {
                0 => Fragment::Text,
                1 => Fragment::Binary,
                _ => Fragment::Continuation,
            };
            match assembler.push(kind, fin, &chunk[..len]) {
                Ok(Some((_, message))) => prop_assert!(message.len() <= MAX_MESSAGE),
                Ok(None) => {}
                Err(_) => assembler = Assembler::default(),
            }
        }
    }
}
