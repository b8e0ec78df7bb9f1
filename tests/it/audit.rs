//! The audit trail (contract v1.2 §4): every change made by a person, with actor, action,
//! target and details; filtered by action, person, booking and time; an admin sees its outlet's.

use std::collections::BTreeSet;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::harness::*;

async fn audit(hub: &TestHub, token: &str, query: &str) -> Vec<Value> {
    let (status, body) = hub.get(&format!("/audit{query}"), Some(token)).await;
    assert_eq!(status, StatusCode::OK, "{query}: {body}");
    body["items"].as_array().cloned().unwrap_or_default()
}

fn actions(entries: &[Value]) -> BTreeSet<String> {
    entries
        .iter()
        .filter_map(|e| e["action"].as_str().map(str::to_owned))
        .collect()
}

#[tokio::test]
async fn every_change_by_a_person_is_in_the_audit_trail() {
    let hub = TestHub::start();
    let root = hub.root().await;
    let me = id(&hub.me(&root).await);
    let started = chrono::Utc::now();
    let outlet = hub.outlet(&root, "Mall Audited").await; // outlet, admin user, booth
    let path = format!("/outlets/{}", outlet.id);
    assert_eq!(
        hub.put(&path, Some(&root), json!({ "name": "Mall Renamed" }))
            .await
            .0,
        StatusCode::OK
    );
    let booth = format!("/booths/{}", outlet.booth.id);
    assert_eq!(
        hub.put(&booth, Some(&outlet.admin), json!({ "name": "Door" }))
            .await
            .0,
        StatusCode::OK
    );
    let rotate = format!("/booths/{}/token", outlet.booth.id);
    assert_eq!(
        hub.post(&rotate, Some(&outlet.admin), json!({})).await.0,
        StatusCode::CREATED
    );
    let (status, _) = hub
        .put(
            "/config/system",
            Some(&root),
            json!({ "arrival_tolerance_minutes": 20 }),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = hub
        .post(
            "/auth/login",
            None,
            json!({ "email": "nobody@boothhub.test", "password": "wrong-password-1" }),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = hub
        .post(
            "/auth/login",
            None,
            json!({ "email": ROOT_EMAIL, "password": "wrong-password-1" }),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let spare = hub.login(ROOT_EMAIL, ROOT_PASSWORD).await;
    assert_eq!(
        hub.post("/auth/logout", Some(&spare), json!({})).await.0,
        StatusCode::NO_CONTENT
    );
    let change = json!({ "current_password": ROOT_PASSWORD, "new_password": "root-password-2" });
    assert_eq!(
        hub.put("/auth/password", Some(&root), change).await.0,
        StatusCode::OK
    );
    let (status, booking) = hub
        .book(Some(&root), {
            let mut body = booking_body(&outlet.id, None, 30);
            body["paid"] = json!(true);
            body
        })
        .await;
    assert_eq!(status, StatusCode::CREATED, "{booking}");
    let override_path = format!("/session/{}/override", id(&booking));
    let (status, _) = hub
        .post(
            &override_path,
            Some(&root),
            json!({ "reason": "customer asked" }),
        )
        .await;
    assert_eq!(status, StatusCode::OK);

    let me_admin = hub.me(&outlet.admin).await;
    let user_path = format!("/admin-users/{}", id(&me_admin));
    let (status, _) = hub
        .put(&user_path, Some(&root), json!({ "name": "Renamed Admin" }))
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = hub
        .post(
            &format!("{user_path}/password"),
            Some(&root),
            json!({ "password": "admin-password-9" }),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let admin_email = me_admin["email"].as_str().unwrap_or_default();
    let admin = hub.login(admin_email, "admin-password-9").await;
    let all = audit(&hub, &root, "?limit=200").await;
    let want: BTreeSet<String> = [
        "LOGIN",
        "LOGIN_FAILED",
        "LOGOUT",
        "PASSWORD_CHANGED",
        "OUTLET_CREATED",
        "OUTLET_UPDATED",
        "USER_CREATED",
        "BOOTH_CREATED",
        "BOOTH_UPDATED",
        "BOOTH_TOKEN_ROTATED",
        "CONFIG_UPDATED",
        "SESSION_OVERRIDE",
        "USER_UPDATED",
        "PASSWORD_SET",
    ]
    .into_iter()
    .map(str::to_owned)
    .collect();
    let seen = actions(&all);
    let missing: Vec<&String> = want.difference(&seen).collect();
    assert!(missing.is_empty(), "missing {missing:?} in {all:#?}");
    for entry in &all {
        for field in [
            "id",
            "at",
            "actor_id",
            "actor_email",
            "action",
            "target",
            "details",
        ] {
            assert!(entry.get(field).is_some(), "no {field}: {entry}");
        }
    }
    // Who: the root's own changes carry its id and address; a failed login the address tried.
    let renamed = all
        .iter()
        .find(|e| e["action"] == "OUTLET_UPDATED")
        .cloned()
        .unwrap_or_default();
    assert_eq!(
        (
            renamed["actor_id"].as_str(),
            renamed["actor_email"].as_str()
        ),
        (Some(me.as_str()), Some(ROOT_EMAIL))
    );
    assert_eq!(
        renamed["target"],
        json!({ "type": "outlet", "id": outlet.id })
    );
    assert_eq!(renamed["details"]["to"]["name"], "Mall Renamed");
    let failures = audit(&hub, &root, "?action=LOGIN_FAILED").await;
    let tried: BTreeSet<&str> = failures
        .iter()
        .filter_map(|e| e["actor_email"].as_str())
        .collect();
    assert_eq!(tried, BTreeSet::from(["nobody@boothhub.test", ROOT_EMAIL]));
    assert!(
        failures.iter().all(|e| e["actor_id"].is_null()),
        "no one is known to have tried"
    );

    // Filters: action, person, booking, time.
    assert_eq!(
        actions(&audit(&hub, &root, "?action=BOOTH_TOKEN_ROTATED").await),
        BTreeSet::from(["BOOTH_TOKEN_ROTATED".to_owned()])
    );
    let by_me = audit(&hub, &root, &format!("?actor_id={me}&limit=200")).await;
    assert!(!by_me.is_empty() && by_me.iter().all(|e| e["actor_id"] == me.as_str()));
    assert!(
        !actions(&by_me).contains("BOOTH_UPDATED"),
        "the outlet admin renamed the booth"
    );
    let of_booking = audit(&hub, &root, &format!("?booking_id={}", id(&booking))).await;
    assert_eq!(
        actions(&of_booking),
        BTreeSet::from(["SESSION_OVERRIDE".to_owned()])
    );
    let later = (chrono::Utc::now() + chrono::Duration::hours(1)).to_rfc3339();
    assert!(
        audit(&hub, &root, &format!("?from={}", urlencode(&later)))
            .await
            .is_empty()
    );
    let since = audit(
        &hub,
        &root,
        &format!("?from={}&limit=200", urlencode(&started.to_rfc3339())),
    )
    .await;
    assert!(actions(&since).contains("OUTLET_CREATED"));
    assert!(
        since.len() < all.len(),
        "the root's first login came before `started`"
    );
    assert!(
        audit(
            &hub,
            &root,
            &format!(
                "?to={}",
                urlencode(&(started - chrono::Duration::hours(1)).to_rfc3339())
            )
        )
        .await
        .is_empty()
    );
    let (status, _) = hub.get("/audit?action=NOPE", Some(&root)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // An outlet admin sees its outlet's entries only: not the config, not another outlet's.
    let other = hub.outlet(&root, "Mall Other").await;
    let mine = audit(&hub, &admin, "?limit=200").await;
    assert!(actions(&mine).contains("BOOTH_TOKEN_ROTATED"), "{mine:#?}");
    assert!(!actions(&mine).contains("CONFIG_UPDATED"));
    let others = audit(&hub, &other.admin, "?limit=200").await;
    assert!(
        !actions(&others).contains("BOOTH_TOKEN_ROTATED"),
        "{others:#?}"
    );
}

fn urlencode(raw: &str) -> String {
    raw.replace('+', "%2B").replace(':', "%3A")
}
