//! Offboarding (contract v1.2 §4): every way a token stops working answers 401 on its next
//! request and closes its WebSockets with 4401 within 2 s; users and booths are edited,
//! deactivated and given new secrets; the last active super admin stays.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::harness::*;
use crate::ws_client::WsClient;

const WITHIN: Duration = Duration::from_secs(2);

/// A second admin of `outlet` with its own login; answers its id, e-mail and token.
async fn admin_of(hub: &TestHub, root: &str, outlet: &str, name: &str) -> (String, String, String) {
    let email = format!("{name}@boothhub.test");
    let (status, user) = hub
        .post(
            "/admin-users",
            Some(root),
            json!({ "name": name, "email": email, "password": "admin-password-1", "role": "admin", "outlet_id": outlet }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{user}");
    let token = hub.login(&email, "admin-password-1").await;
    (id(&user), email, token)
}

/// A subscribed dashboard socket of `token` on `outlet`'s stream.
async fn dashboard(hub: &TestHub, token: &str, outlet: &str) -> WsClient {
    let mut socket = hub.ws(token, Some("boothhub.json")).await;
    let subscribed = socket.subscribe(&[&format!("outlet:{outlet}")], None).await;
    assert_eq!(subscribed["type"], "subscribed", "{subscribed}");
    socket
}

async fn login_status(hub: &TestHub, email: &str, password: &str) -> StatusCode {
    hub.post(
        "/auth/login",
        None,
        json!({ "email": email, "password": password }),
    )
    .await
    .0
}

#[tokio::test]
async fn logout_ends_the_token_and_closes_its_sockets_with_4401() {
    let hub = TestHub::start();
    let root = hub.root().await;
    let outlet = hub.outlet(&root, "Mall Logout").await;
    let other = hub.login(ROOT_EMAIL, ROOT_PASSWORD).await;
    let mut socket = dashboard(&hub, &root, &outlet.id).await;
    let mut other_socket = dashboard(&hub, &other, &outlet.id).await;

    let (status, _) = hub.post("/auth/logout", Some(&root), json!({})).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(socket.close_code_within(WITHIN).await, Some(4401));
    assert_eq!(
        hub.get("/outlets", Some(&root)).await.0,
        StatusCode::UNAUTHORIZED
    );
    // The same user's other login is not touched.
    assert_eq!(hub.get("/outlets", Some(&other)).await.0, StatusCode::OK);
    let subscribed = other_socket.subscribe(&["all"], None).await;
    assert_eq!(subscribed["type"], "subscribed", "{subscribed}");
}

#[tokio::test]
async fn a_deactivated_admin_is_signed_out_everywhere_at_once() {
    let hub = TestHub::start();
    let root = hub.root().await;
    let outlet = hub.outlet(&root, "Mall Offboard").await;
    let (user, email, token) = admin_of(&hub, &root, &outlet.id, "leaver").await;
    let second = hub.login(&email, "admin-password-1").await;
    let mut socket = dashboard(&hub, &token, &outlet.id).await;
    let mut second_socket = dashboard(&hub, &second, &outlet.id).await;

    let (status, body) = hub
        .put(
            &format!("/admin-users/{user}"),
            Some(&root),
            json!({ "active": false }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["active"], false);
    assert_eq!(socket.close_code_within(WITHIN).await, Some(4401));
    assert_eq!(second_socket.close_code_within(WITHIN).await, Some(4401));
    for token in [&token, &second] {
        assert_eq!(
            hub.get("/bookings", Some(token)).await.0,
            StatusCode::UNAUTHORIZED
        );
    }
    assert_eq!(
        login_status(&hub, &email, "admin-password-1").await,
        StatusCode::UNAUTHORIZED,
        "a deactivated user cannot log in"
    );
    let listed = hub.get("/admin-users", Some(&root)).await.1;
    let row = listed["items"]
        .as_array()
        .and_then(|items| items.iter().find(|u| u["id"] == user.as_str()))
        .cloned()
        .unwrap_or_default();
    assert_eq!(row["active"], false, "{listed}");

    let (status, _) = hub
        .put(
            &format!("/admin-users/{user}"),
            Some(&root),
            json!({ "active": true }),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        login_status(&hub, &email, "admin-password-1").await,
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_password_set_by_the_super_admin_ends_every_login_of_the_user() {
    let hub = TestHub::start();
    let root = hub.root().await;
    let outlet = hub.outlet(&root, "Mall Reset").await;
    let (user, email, token) = admin_of(&hub, &root, &outlet.id, "forgetful").await;
    let mut socket = dashboard(&hub, &token, &outlet.id).await;

    let path = format!("/admin-users/{user}/password");
    let (status, body) = hub
        .post(&path, Some(&root), json!({ "password": "short" }))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(
        body["error"]["details"]["fields"]["password"].is_string(),
        "{body}"
    );
    let (status, _) = hub
        .post(
            &path,
            Some(&root),
            json!({ "password": "a-new-password-2" }),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(socket.close_code_within(WITHIN).await, Some(4401));
    assert_eq!(
        hub.get("/bookings", Some(&token)).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        login_status(&hub, &email, "admin-password-1").await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        login_status(&hub, &email, "a-new-password-2").await,
        StatusCode::OK
    );
    // The super admin's own token made the change and still works.
    assert_eq!(hub.get("/admin-users", Some(&root)).await.0, StatusCode::OK);
}

#[tokio::test]
async fn changing_ones_own_password_keeps_this_login_and_ends_the_others() {
    let hub = TestHub::start();
    let root = hub.root().await;
    let outlet = hub.outlet(&root, "Mall Own").await;
    let (_, email, token) = admin_of(&hub, &root, &outlet.id, "careful").await;
    let elsewhere = hub.login(&email, "admin-password-1").await;
    let mut here = dashboard(&hub, &token, &outlet.id).await;
    let mut there = dashboard(&hub, &elsewhere, &outlet.id).await;

    let change =
        |current: &str, new: &str| json!({ "current_password": current, "new_password": new });
    let (status, body) = hub
        .put(
            "/auth/password",
            Some(&token),
            change("wrong-password-9", "another-password-3"),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(body["error"]["code"], "INVALID_CREDENTIALS");
    let (status, body) = hub
        .put(
            "/auth/password",
            Some(&token),
            change("admin-password-1", "short"),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(
        body["error"]["details"]["fields"]["new_password"].is_string(),
        "{body}"
    );

    let (status, body) = hub
        .put(
            "/auth/password",
            Some(&token),
            change("admin-password-1", "another-password-3"),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(there.close_code_within(WITHIN).await, Some(4401));
    assert_eq!(
        hub.get("/bookings", Some(&elsewhere)).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(hub.get("/bookings", Some(&token)).await.0, StatusCode::OK);
    let subscribed = here
        .subscribe(&[&format!("outlet:{}", outlet.id)], None)
        .await;
    assert_eq!(
        subscribed["type"], "subscribed",
        "this login's socket stays: {subscribed}"
    );
    assert_eq!(
        login_status(&hub, &email, "another-password-3").await,
        StatusCode::OK
    );
    // A booth has no password of its own.
    let (status, _) = hub
        .put(
            "/auth/password",
            Some(&outlet.booth.token),
            change("x", "another-password-3"),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn a_rotated_booth_token_stops_at_once_and_the_new_one_works() {
    let hub = TestHub::start();
    let root = hub.root().await;
    let outlet = hub.outlet(&root, "Mall Rotate").await;
    let mut kiosk = hub.ws(&outlet.booth.token, None).await;
    let _subscribed = kiosk.message().await;

    let path = format!("/booths/{}/token", outlet.booth.id);
    let (status, body) = hub.post(&path, Some(&outlet.admin), json!({})).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let new_token = body["token"].as_str().unwrap_or_default().to_owned();
    assert!(new_token.starts_with("bhb_"), "{body}");
    assert_ne!(new_token, outlet.booth.token);
    assert_eq!(kiosk.close_code_within(WITHIN).await, Some(4401));
    let status_path = "/bookings";
    assert_eq!(
        hub.get(status_path, Some(&outlet.booth.token)).await.0,
        StatusCode::UNAUTHORIZED
    );
    // The new token opens the booth's socket (bookings are not a booth's to list: 403).
    assert_eq!(
        hub.get(status_path, Some(&new_token)).await.0,
        StatusCode::FORBIDDEN
    );
    let mut again = hub.ws(&new_token, None).await;
    assert_eq!(again.message().await["type"], "subscribed");

    // Another outlet's admin cannot see the booth; a booth cannot rotate anything.
    let other = hub.outlet(&root, "Mall Elsewhere").await;
    assert_eq!(
        hub.post(&path, Some(&other.admin), json!({})).await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        hub.post(&path, Some(&new_token), json!({})).await.0,
        StatusCode::FORBIDDEN
    );
}

#[tokio::test]
async fn a_deactivated_booth_is_refused_and_gets_no_bookings() {
    let hub = TestHub::start();
    let root = hub.root().await;
    let outlet = hub.outlet(&root, "Mall Retire").await;
    let mut kiosk = hub.ws(&outlet.booth.token, None).await;
    let _subscribed = kiosk.message().await;
    let path = format!("/booths/{}", outlet.booth.id);

    let (status, body) = hub
        .put(
            &path,
            Some(&outlet.admin),
            json!({ "name": "Booth by the door", "active": false }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        (body["name"].as_str(), body["active"].as_bool()),
        (Some("Booth by the door"), Some(false))
    );
    assert_eq!(kiosk.close_code_within(WITHIN).await, Some(4401));
    let scan = json!({ "qr_token": "x" });
    let (status, _) = hub
        .post(
            "/session/00000000-0000-7000-8000-000000000000/arrival",
            Some(&outlet.booth.token),
            scan,
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, body) = hub
        .book(None, booking_body(&outlet.id, Some(&outlet.booth.id), 30))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(
        body["error"]["details"]["fields"]["booth_id"].is_string(),
        "{body}"
    );
    let (status, body) = hub.book(None, booking_body(&outlet.id, None, 30)).await;
    assert_eq!(
        status,
        StatusCode::CONFLICT,
        "no active booth serves the outlet: {body}"
    );

    let (status, _) = hub
        .put(&path, Some(&outlet.admin), json!({ "active": true }))
        .await;
    assert_eq!(status, StatusCode::OK);
    let mut back = hub.ws(&outlet.booth.token, None).await;
    assert_eq!(back.message().await["type"], "subscribed");
    let (status, body) = hub.book(None, booking_body(&outlet.id, None, 30)).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
}

#[tokio::test]
async fn the_last_active_super_admin_stays_one() {
    let hub = TestHub::start();
    let root = hub.root().await;
    let me = id(&hub.me(&root).await);
    let path = format!("/admin-users/{me}");
    let outlet = hub.outlet(&root, "Mall Last").await;
    for change in [
        json!({ "active": false }),
        json!({ "role": "admin", "outlet_id": outlet.id }),
    ] {
        let (status, body) = hub.put(&path, Some(&root), change).await;
        assert_eq!(status, StatusCode::CONFLICT, "{body}");
        assert_eq!(body["error"]["code"], "LAST_SUPER_ADMIN");
    }
    let (status, second) = hub
        .post(
            "/admin-users",
            Some(&root),
            json!({ "name": "Deputy", "email": "deputy@boothhub.test", "password": "deputy-password-1", "role": "super_admin" }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{second}");
    let (status, body) = hub
        .put(
            &path,
            Some(&root),
            json!({ "role": "admin", "outlet_id": outlet.id }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "with a second super admin: {body}");
    assert_eq!(body["role"], "admin");
    let deputy = hub.login("deputy@boothhub.test", "deputy-password-1").await;
    let (status, body) = hub
        .put(
            &format!("/admin-users/{}", id(&second)),
            Some(&deputy),
            json!({ "active": false }),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::CONFLICT,
        "the deputy is the last one now: {body}"
    );
}

#[tokio::test]
async fn user_and_booth_edits_check_their_input() {
    let hub = TestHub::start();
    let root = hub.root().await;
    let outlet = hub.outlet(&root, "Mall Input").await;
    let (user, _, _) = admin_of(&hub, &root, &outlet.id, "edited").await;
    let path = format!("/admin-users/{user}");
    let cases: [(Value, StatusCode, &str); 5] = [
        (
            json!({ "name": "" }),
            StatusCode::UNPROCESSABLE_ENTITY,
            "name",
        ),
        (
            json!({ "role": "king" }),
            StatusCode::UNPROCESSABLE_ENTITY,
            "role",
        ),
        (
            json!({ "outlet_id": "00000000-0000-7000-8000-000000000000" }),
            StatusCode::UNPROCESSABLE_ENTITY,
            "outlet_id",
        ),
        (json!({ "email": "new@x.id" }), StatusCode::BAD_REQUEST, ""),
        (
            json!({ "active": "no" }),
            StatusCode::UNPROCESSABLE_ENTITY,
            "active",
        ),
    ];
    for (body, want, field) in cases {
        let (status, answer) = hub
            .call(Method::PUT, &path, Some(&root), Some(body.clone()))
            .await;
        assert_eq!(status, want, "{body} → {answer}");
        if !field.is_empty() {
            assert!(
                answer["error"]["details"]["fields"][field].is_string(),
                "{body} → {answer}"
            );
        }
    }
    let (status, body) = hub
        .put(
            &path,
            Some(&root),
            json!({ "name": "Renamed", "role": "super_admin" }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        (body["name"].as_str(), body["role"].as_str()),
        (Some("Renamed"), Some("super_admin"))
    );
    assert_eq!(
        body["outlet_id"],
        Value::Null,
        "a super admin has no outlet"
    );
    let unknown = "/admin-users/00000000-0000-7000-8000-000000000000";
    assert_eq!(
        hub.put(unknown, Some(&root), json!({ "name": "x" }))
            .await
            .0,
        StatusCode::NOT_FOUND
    );
    let booth = format!("/booths/{}", outlet.booth.id);
    let (status, body) = hub.put(&booth, Some(&root), json!({ "name": "" })).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
}

#[tokio::test]
async fn a_new_role_or_outlet_closes_the_users_sockets_so_they_reconnect_with_it() {
    let hub = TestHub::start();
    let root = hub.root().await;
    let first = hub.outlet(&root, "Mall First").await;
    let second = hub.outlet(&root, "Mall Second").await;
    let (user, _, token) = admin_of(&hub, &root, &first.id, "mover").await;
    let mut socket = dashboard(&hub, &token, &first.id).await;
    let (status, body) = hub
        .put(
            &format!("/admin-users/{user}"),
            Some(&root),
            json!({ "outlet_id": second.id }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(socket.close_code_within(WITHIN).await, Some(1008));
    // The token still works, now for the new outlet only.
    let mut again = hub.ws(&token, Some("boothhub.json")).await;
    let refused = again
        .subscribe(&[&format!("outlet:{}", first.id)], None)
        .await;
    assert_eq!(refused["type"], "error", "{refused}");
    let moved = again
        .subscribe(&[&format!("outlet:{}", second.id)], None)
        .await;
    assert_eq!(moved["type"], "subscribed", "{moved}");
    // Both outlets' admins see the move in their audit trail.
    for outlet in [&first, &second] {
        let (_, audit) = hub
            .get("/audit?action=USER_UPDATED", Some(&outlet.admin))
            .await;
        let seen = audit["items"].as_array().map_or(0, |items| {
            items
                .iter()
                .filter(|e| e["target"]["id"] == user.as_str())
                .count()
        });
        assert_eq!(seen, 1, "{audit}");
    }
}

#[tokio::test]
async fn two_super_admins_demoting_each_other_at_once_leave_one() {
    let hub = TestHub::start();
    let root = hub.root().await;
    let me = id(&hub.me(&root).await);
    let (status, deputy) = hub
        .post(
            "/admin-users",
            Some(&root),
            json!({ "name": "Deputy", "email": "deputy@boothhub.test", "password": "deputy-password-1", "role": "super_admin" }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{deputy}");
    let deputy_token = hub.login("deputy@boothhub.test", "deputy-password-1").await;
    let off = json!({ "active": false });
    let (deputy_path, my_path) = (
        format!("/admin-users/{}", id(&deputy)),
        format!("/admin-users/{me}"),
    );
    let (a, b) = tokio::join!(
        hub.put(&deputy_path, Some(&root), off.clone()),
        hub.put(&my_path, Some(&deputy_token), off.clone()),
    );
    // One demotion lands; the other finds the last super admin (409) or, when the deputy was
    // deactivated first, a token that no longer works (401).
    let mut statuses = [a.0.as_u16(), b.0.as_u16()];
    statuses.sort_unstable();
    assert!(
        statuses == [200, 409] || statuses == [200, 401],
        "{a:?} {b:?}"
    );
    let (_, users) = hub.get("/admin-users", Some(&root)).await;
    let users = if a.0 == StatusCode::OK {
        users
    } else {
        hub.get("/admin-users", Some(&deputy_token)).await.1
    };
    let active_supers = users["items"]
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter(|u| u["role"] == "super_admin" && u["active"] == true)
                .count()
        })
        .unwrap_or_default();
    assert_eq!(active_supers, 1, "{users}");
}

#[tokio::test]
async fn an_expired_login_is_refused_and_its_sockets_closed_with_4401() {
    if !on_embedded_store() {
        return; // The login's expiry is moved in the embedded store's file.
    }
    let hub = TestHub::start();
    let root = hub.root().await;
    let outlet = hub.outlet(&root, "Mall Expiry").await;
    let token = hub.login(ROOT_EMAIL, ROOT_PASSWORD).await;
    // Logins last at least an hour: make this one end in two seconds, as if it had been made
    // that long ago, before its socket opens (the socket learns its expiry at the upgrade).
    let hash = {
        use sha2::{Digest, Sha256};
        hex::encode(Sha256::digest(token.as_bytes()))
    };
    let ends = chrono::Utc::now() + chrono::Duration::seconds(2);
    let db = rusqlite::Connection::open(hub.data.path().join("boothhub.sqlite3")).unwrap();
    db.busy_timeout(Duration::from_secs(5)).unwrap();
    let moved = db
        .execute(
            "UPDATE login_tokens SET expires_at = ?1 WHERE token_hash = ?2",
            rusqlite::params![ends.timestamp_millis(), hash],
        )
        .unwrap();
    assert_eq!(moved, 1, "the login is in the store");
    drop(db);
    let mut socket = dashboard(&hub, &token, &outlet.id).await;
    assert_eq!(hub.get("/outlets", Some(&token)).await.0, StatusCode::OK);
    // Expired at `ends`; closed by the sweep (every second) within the contract's 2 s.
    assert_eq!(
        socket
            .close_code_within(Duration::from_secs(2) + WITHIN)
            .await,
        Some(4401)
    );
    assert!(chrono::Utc::now() >= ends, "not closed before it expired");
    assert_eq!(
        hub.get("/outlets", Some(&token)).await.0,
        StatusCode::UNAUTHORIZED
    );
}
