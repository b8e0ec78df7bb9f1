//! The role table of contract §3, walked endpoint by endpoint for five callers: anonymous, a
//! booth of outlet A, the admin of outlet A, the admin of outlet B, and a super admin.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::harness::*;

const CALLERS: [&str; 5] = ["anonymous", "booth A", "admin A", "admin B", "super admin"];

/// A name, a method, a path, a body maker, and the expected status per caller.
type Request = (
    &'static str,
    Method,
    String,
    Option<Box<dyn Fn() -> Value>>,
    [u16; 5],
);

struct World {
    a: Outlet,
    b: Outlet,
    root: String,
}

impl World {
    fn tokens(&self) -> [Option<&str>; 5] {
        [
            None,
            Some(&self.a.booth.token),
            Some(&self.a.admin),
            Some(&self.b.admin),
            Some(&self.root),
        ]
    }
}

/// A live, paid booking of outlet A, unassigned, in its arrival window.
async fn paid_booking(hub: &TestHub, world: &World) -> Value {
    let (status, booking) = hub
        .book(Some(&world.root), {
            let mut body = booking_body(&world.a.id, None, 0);
            body["paid"] = json!(true);
            body
        })
        .await;
    assert_eq!(status, StatusCode::CREATED, "{booking}");
    booking
}

fn check(results: &[(String, [u16; 5], [u16; 5])]) {
    let wrong: Vec<String> = results
        .iter()
        .filter(|(_, want, got)| want != got)
        .map(|(name, want, got)| {
            let cells: Vec<String> = CALLERS
                .iter()
                .zip(want.iter().zip(got))
                .filter(|(_, (w, g))| w != g)
                .map(|(caller, (w, g))| format!("{caller}: want {w}, got {g}"))
                .collect();
            format!("{name}: {}", cells.join("; "))
        })
        .collect();
    assert!(
        wrong.is_empty(),
        "the role table is broken:\n{}",
        wrong.join("\n")
    );
}

#[tokio::test]
async fn every_endpoint_for_every_role() {
    let hub = TestHub::start();
    let root = hub.root().await;
    let a = hub.outlet(&root, "Outlet A").await;
    let b = hub.outlet(&root, "Outlet B").await;
    // Capacity for the unassigned bookings below, all in the arrival window at once.
    let mut spare = None;
    for n in 2..=30 {
        spare = Some(hub.booth(&root, &a.id, &format!("Booth {n}")).await.id);
    }
    let spare = spare.unwrap_or_default();
    let (status, extra_user) = hub
        .post(
            "/admin-users",
            Some(&root),
            json!({ "name": "Extra", "email": "extra@boothhub.test", "password": "extra-password-1", "role": "admin", "outlet_id": a.id }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{extra_user}");
    let extra_user = id(&extra_user);
    let ghost = json!({ "id": uuid::Uuid::now_v7().to_string(), "amount": 50_000 });
    let (status, _) = hub
        .webhook(&payment(&ghost, "evt-rbac-orphan", "SUCCESS"))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let orphan_payment = {
        let (_, listed) = hub.get("/payments?refund_required=true", Some(&root)).await;
        listed["items"]
            .as_array()
            .and_then(|items| items.iter().find(|p| p["event_id"] == "evt-rbac-orphan"))
            .map(id)
            .unwrap_or_default()
    };
    let world = World { a, b, root };
    let tokens = world.tokens();
    let mut results = vec![];

    // Stateless endpoints: the same request for each caller.
    let next_hour = std::sync::atomic::AtomicI64::new(2);
    let requests: Vec<Request> = vec![
        (
            "GET /healthz",
            Method::GET,
            "/healthz".into(),
            None,
            [200, 200, 200, 200, 200],
        ),
        (
            "GET /readyz",
            Method::GET,
            "/readyz".into(),
            None,
            [200, 200, 200, 200, 200],
        ),
        (
            "GET /bookings",
            Method::GET,
            "/bookings".into(),
            None,
            [401, 403, 200, 200, 200],
        ),
        (
            "GET /outlets",
            Method::GET,
            "/outlets".into(),
            None,
            [401, 403, 200, 200, 200],
        ),
        (
            "POST /outlets",
            Method::POST,
            "/outlets".into(),
            Some(Box::new(|| json!({ "name": "New" }))),
            [401, 403, 403, 403, 201],
        ),
        (
            "PUT /outlets/{id}",
            Method::PUT,
            format!("/outlets/{}", world.a.id),
            Some(Box::new(
                || json!({ "name": "Outlet A", "location": "Jakarta" }),
            )),
            [401, 403, 403, 403, 200],
        ),
        (
            "GET /admin-users",
            Method::GET,
            "/admin-users".into(),
            None,
            [401, 403, 403, 403, 200],
        ),
        (
            "POST /admin-users",
            Method::POST,
            "/admin-users".into(),
            Some(Box::new(
                || json!({ "name": "N", "email": format!("{}@x.id", uuid::Uuid::new_v4()), "password": "password-123", "role": "super_admin" }),
            )),
            [401, 403, 403, 403, 201],
        ),
        (
            "GET /booths",
            Method::GET,
            "/booths".into(),
            None,
            [401, 403, 200, 200, 200],
        ),
        (
            "POST /booths",
            Method::POST,
            "/booths".into(),
            Some(Box::new({
                let id = world.a.id.clone();
                move || json!({ "outlet_id": id, "name": "Extra" })
            })),
            [401, 403, 201, 404, 201],
        ),
        (
            "PUT /admin-users/{id}",
            Method::PUT,
            format!("/admin-users/{extra_user}"),
            Some(Box::new(|| json!({ "name": "Extra Renamed" }))),
            [401, 403, 403, 403, 200],
        ),
        (
            "POST /admin-users/{id}/password",
            Method::POST,
            format!("/admin-users/{extra_user}/password"),
            Some(Box::new(|| json!({ "password": "extra-password-2" }))),
            [401, 403, 403, 403, 200],
        ),
        (
            // The admins' current password is right; the super admin's is another (401).
            "PUT /auth/password",
            Method::PUT,
            "/auth/password".into(),
            Some(Box::new(
                || json!({ "current_password": "admin-password-1", "new_password": "admin-password-1" }),
            )),
            [401, 403, 200, 200, 401],
        ),
        (
            "PUT /booths/{id}",
            Method::PUT,
            format!("/booths/{spare}"),
            Some(Box::new(|| json!({ "name": "Spare" }))),
            [401, 403, 200, 404, 200],
        ),
        (
            "POST /booths/{id}/token",
            Method::POST,
            format!("/booths/{spare}/token"),
            Some(Box::new(|| json!({}))),
            [401, 403, 201, 404, 201],
        ),
        (
            "GET /config/system",
            Method::GET,
            "/config/system".into(),
            None,
            [401, 403, 403, 403, 200],
        ),
        (
            "PUT /config/system",
            Method::PUT,
            "/config/system".into(),
            Some(Box::new(|| json!({ "session_duration_minutes": 15 }))),
            [401, 403, 403, 403, 200],
        ),
        (
            "GET /audit",
            Method::GET,
            "/audit".into(),
            None,
            [401, 403, 200, 200, 200],
        ),
        (
            "GET /auth/me",
            Method::GET,
            "/auth/me".into(),
            None,
            [401, 403, 200, 200, 200],
        ),
        (
            "GET /payments",
            Method::GET,
            "/payments".into(),
            None,
            [401, 403, 200, 200, 200],
        ),
        (
            // A payment of no one's booking is flagged; only a super admin sees it (404 for
            // the admins); the second super admin call finds it refunded already (409).
            "POST /payments/{id}/refund",
            Method::POST,
            format!("/payments/{orphan_payment}/refund"),
            Some(Box::new(|| json!({ "reason": "returned" }))),
            [401, 403, 404, 404, 200],
        ),
        (
            "GET /metrics",
            Method::GET,
            "/metrics".into(),
            None,
            [200, 200, 200, 200, 200],
        ),
        (
            "POST /booking",
            Method::POST,
            "/booking".into(),
            Some(Box::new({
                let id = world.a.id.clone();
                move || {
                    booking_body(
                        &id,
                        None,
                        60 * next_hour.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
                    )
                }
            })),
            [201, 403, 201, 404, 201],
        ),
    ];
    for (name, method, path, body, want) in &requests {
        let mut got = [0u16; 5];
        for (index, token) in tokens.iter().enumerate() {
            let (status, _) = hub
                .call(
                    method.clone(),
                    path,
                    *token,
                    body.as_ref().map(|make| make()),
                )
                .await;
            got[index] = status.as_u16();
        }
        results.push(((*name).to_owned(), *want, got));
    }

    // Session endpoints: each caller acts on a booking of its own in the right state.
    let session_cases: [(&str, &str, Option<&str>, [u16; 5]); 6] = [
        (
            "POST /session/{id}/arrival",
            "arrival",
            None,
            [401, 200, 200, 404, 200],
        ),
        (
            "POST /session/{id}/start",
            "start",
            Some("arrival"),
            [401, 200, 200, 404, 200],
        ),
        (
            "POST /session/{id}/finish",
            "finish",
            Some("start"),
            [401, 200, 200, 404, 200],
        ),
        (
            "POST /session/{id}/override",
            "override",
            None,
            [401, 403, 200, 404, 200],
        ),
        (
            "GET /session/{id}/status",
            "status",
            None,
            [401, 200, 200, 404, 200],
        ),
        (
            "GET /bookings/{id}/events",
            "events",
            None,
            [401, 403, 200, 404, 200],
        ),
    ];
    for (name, action, before, want) in session_cases {
        let mut got = [0u16; 5];
        for (index, token) in tokens.iter().enumerate() {
            let booking = paid_booking(&hub, &world).await;
            let id = id(&booking);
            let scan = json!({ "qr_token": booking["qr_token"] });
            let booth = Some(world.a.booth.token.as_str());
            if before.is_some() {
                let (status, body) = hub
                    .post(&format!("/session/{id}/arrival"), booth, scan.clone())
                    .await;
                assert_eq!(status, StatusCode::OK, "{body}");
            }
            if before == Some("start") {
                let (status, body) = hub
                    .post(&format!("/session/{id}/start"), booth, json!({}))
                    .await;
                assert_eq!(status, StatusCode::OK, "{body}");
            }
            let (method, body) = match action {
                "arrival" => (Method::POST, Some(scan)),
                "status" | "events" => (Method::GET, None),
                "override" => (Method::POST, Some(json!({ "reason": "rbac walk" }))),
                _ => (Method::POST, Some(json!({}))),
            };
            let path = match action {
                "status" => format!("/session/{id}/status"),
                "events" => format!("/bookings/{id}/events"),
                _ => format!("/session/{id}/{action}"),
            };
            let (status, _) = hub.call(method, &path, *token, body).await;
            got[index] = status.as_u16();
        }
        results.push((name.to_owned(), want, got));
    }

    // Logout last: it ends the session of the token used.
    let fresh = [
        None,
        Some(world.a.booth.token.clone()),
        Some(
            hub.login(
                &format!("admin-{}@boothhub.test", &world.a.id[24..]),
                "admin-password-1",
            )
            .await,
        ),
        Some(
            hub.login(
                &format!("admin-{}@boothhub.test", &world.b.id[24..]),
                "admin-password-1",
            )
            .await,
        ),
        Some(hub.root().await),
    ];
    let mut got = [0u16; 5];
    for (index, token) in fresh.iter().enumerate() {
        got[index] = hub
            .post("/auth/logout", token.as_deref(), json!({}))
            .await
            .0
            .as_u16();
    }
    results.push(("POST /auth/logout".into(), [401, 403, 204, 204, 204], got));
    let (status, _) = hub.get("/outlets", fresh[4].as_deref()).await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "a logged-out token is refused"
    );

    check(&results);
}

#[tokio::test]
async fn admins_see_only_their_outlet() {
    let hub = TestHub::start();
    let root = hub.root().await;
    let a = hub.outlet(&root, "Outlet A").await;
    let b = hub.outlet(&root, "Outlet B").await;
    let (_, booking) = hub.book(None, booking_body(&a.id, None, 0)).await;

    let (_, outlets) = hub.get("/outlets", Some(&b.admin)).await;
    let ids: Vec<&Value> = outlets["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| &o["id"])
        .collect();
    assert_eq!(ids, vec![&json!(b.id)]);
    let (_, all) = hub.get("/outlets", Some(&root)).await;
    assert_eq!(all["items"].as_array().unwrap().len(), 2);

    let (_, bookings) = hub.get("/bookings", Some(&b.admin)).await;
    assert!(bookings["items"].as_array().unwrap().is_empty());
    let (_, bookings) = hub
        .get(&format!("/bookings?outlet_id={}", a.id), Some(&b.admin))
        .await;
    assert!(
        bookings["items"].as_array().unwrap().is_empty(),
        "asking for another outlet shows nothing"
    );
    let (_, bookings) = hub.get("/bookings", Some(&a.admin)).await;
    assert_eq!(bookings["items"][0]["id"], booking["id"]);

    let (_, booths) = hub.get("/booths", Some(&b.admin)).await;
    assert_eq!(booths["items"].as_array().unwrap().len(), 1);
    assert_eq!(booths["items"][0]["outlet_id"], json!(b.id));
    assert!(
        booths["items"][0].get("token").is_none(),
        "a booth token is shown only once"
    );

    let path = format!("/session/{}/status", id(&booking));
    let (status, body) = hub.get(&path, Some(&b.admin)).await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (StatusCode::NOT_FOUND, &json!("NOT_FOUND"))
    );
    let (status, _) = hub.get(&path, Some(&b.booth.token)).await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "a booth of another outlet does not see it either"
    );
}
