//! Payments and refunds (contract v1.2 §4): every payment has a stable id; a payment flagged
//! for refund is marked refunded once, with a reason, by an admin of its outlet, and the audit
//! trail keeps it.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::harness::*;

async fn payments(hub: &TestHub, token: &str, query: &str) -> Vec<Value> {
    let (status, body) = hub.get(&format!("/payments{query}"), Some(token)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["items"].as_array().cloned().unwrap_or_default()
}

/// A payment of the wrong amount for a booking of `outlet`: kept and flagged for refund.
async fn flagged_payment(hub: &TestHub, outlet: &Outlet, minutes: i64) -> (Value, Value) {
    let (status, booking) = hub
        .book(None, booking_body(&outlet.id, None, minutes))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{booking}");
    let mut wrong = payment(&booking, &uuid::Uuid::new_v4().to_string(), "SUCCESS");
    wrong["amount"] = json!(1);
    let (status, body) = hub.webhook(&wrong).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    let listed = payments(hub, &outlet.admin, &format!("?booking_id={}", id(&booking))).await;
    assert_eq!(listed.len(), 1, "{listed:?}");
    (booking, listed[0].clone())
}

#[tokio::test]
async fn a_flagged_payment_is_marked_refunded_once_with_its_reason() {
    let hub = TestHub::start();
    let root = hub.root().await;
    let outlet = hub.outlet(&root, "Mall Refunds").await;
    let (booking, flagged) = flagged_payment(&hub, &outlet, 30).await;
    for field in [
        "id",
        "event_id",
        "booking_id",
        "status",
        "amount",
        "currency",
        "received_at",
        "refund_required",
        "refunded_at",
        "refunded_by",
        "refund_reason",
    ] {
        assert!(flagged.get(field).is_some(), "no {field}: {flagged}");
    }
    assert_eq!(flagged["refund_required"], true);
    assert_eq!(flagged["refunded_at"], Value::Null);
    let payment_id = id(&flagged);
    assert!(uuid::Uuid::parse_str(&payment_id).is_ok(), "{payment_id}");
    let path = format!("/payments/{payment_id}/refund");

    let (status, body) = hub
        .post(&path, Some(&outlet.admin), json!({ "reason": "" }))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(
        body["error"]["details"]["fields"]["reason"].is_string(),
        "{body}"
    );
    let other = hub.outlet(&root, "Mall Elsewhere").await;
    let (status, _) = hub
        .post(&path, Some(&other.admin), json!({ "reason": "not mine" }))
        .await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "another outlet's payment is not found"
    );

    let (status, refunded) = hub
        .post(
            &path,
            Some(&outlet.admin),
            json!({ "reason": "returned in cash at the counter" }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{refunded}");
    assert_eq!(refunded["id"], payment_id.as_str(), "the id stays");
    assert!(refunded["refunded_at"].is_string(), "{refunded}");
    assert!(refunded["refunded_by"].is_string(), "{refunded}");
    assert_eq!(refunded["refund_reason"], "returned in cash at the counter");

    let (status, body) = hub
        .post(&path, Some(&root), json!({ "reason": "twice" }))
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"]["code"], "NOT_REFUNDABLE");

    // The listing shows it refunded, with the same id; the audit trail keeps who and why.
    let listed = payments(&hub, &root, "?refund_required=true").await;
    let row = listed
        .iter()
        .find(|p| p["id"] == payment_id.as_str())
        .cloned();
    assert_eq!(
        row.map(|p| p["refund_reason"].clone()),
        Some(json!("returned in cash at the counter"))
    );
    let (_, audit) = hub
        .get(
            &format!("/audit?booking_id={}", id(&booking)),
            Some(&outlet.admin),
        )
        .await;
    let kinds: Vec<&str> = audit["items"]
        .as_array()
        .map(|items| items.iter().filter_map(|e| e["kind"].as_str()).collect())
        .unwrap_or_default();
    assert!(kinds.contains(&"PAYMENT_REFUNDED"), "{audit}");
}

#[tokio::test]
async fn a_payment_the_booking_took_is_not_refundable() {
    let hub = TestHub::start();
    let root = hub.root().await;
    let outlet = hub.outlet(&root, "Mall Paid").await;
    let (status, booking) = hub.book(None, booking_body(&outlet.id, None, 30)).await;
    assert_eq!(status, StatusCode::CREATED);
    hub.pay(&booking).await;
    let listed = payments(
        &hub,
        &outlet.admin,
        &format!("?booking_id={}", id(&booking)),
    )
    .await;
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0]["refund_required"], false);
    let path = format!("/payments/{}/refund", id(&listed[0]));
    let (status, body) = hub
        .post(&path, Some(&root), json!({ "reason": "changed mind" }))
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"]["code"], "NOT_REFUNDABLE");
    let unknown = "/payments/00000000-0000-8000-8000-000000000000/refund";
    let (status, _) = hub
        .post(unknown, Some(&root), json!({ "reason": "x" }))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_payment_for_no_known_booking_is_refunded_by_a_super_admin_only() {
    let hub = TestHub::start();
    let root = hub.root().await;
    let outlet = hub.outlet(&root, "Mall Orphans").await;
    let ghost = json!({ "id": uuid::Uuid::now_v7().to_string(), "amount": 50_000 });
    let (status, _) = hub.webhook(&payment(&ghost, "evt-orphan", "SUCCESS")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let listed = payments(&hub, &root, "?refund_required=true").await;
    let orphan = listed
        .iter()
        .find(|p| p["event_id"] == "evt-orphan")
        .cloned()
        .unwrap_or_default();
    let path = format!("/payments/{}/refund", id(&orphan));
    let (status, _) = hub
        .post(&path, Some(&outlet.admin), json!({ "reason": "not ours" }))
        .await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "an outlet admin cannot see it"
    );
    let (status, body) = hub
        .post(&path, Some(&root), json!({ "reason": "bounced" }))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn two_admins_marking_one_refund_at_once_record_it_once() {
    let hub = TestHub::start();
    let root = hub.root().await;
    let outlet = hub.outlet(&root, "Mall Race").await;
    let (booking, flagged) = flagged_payment(&hub, &outlet, 30).await;
    let path = format!("/payments/{}/refund", id(&flagged));
    let (a, b) = tokio::join!(
        hub.post(&path, Some(&outlet.admin), json!({ "reason": "first" })),
        hub.post(&path, Some(&root), json!({ "reason": "second" })),
    );
    let mut statuses = [a.0.as_u16(), b.0.as_u16()];
    statuses.sort_unstable();
    assert_eq!(statuses, [200, 409], "{a:?} {b:?}");
    let (_, audit) = hub
        .get(
            &format!("/audit?booking_id={}&action=PAYMENT_REFUNDED", id(&booking)),
            Some(&root),
        )
        .await;
    assert_eq!(audit["items"].as_array().map(Vec::len), Some(1), "{audit}");
}
