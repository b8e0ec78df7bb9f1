//! The payment webhook of contract §6: signature, replay window, idempotency, amount check,
//! refund flag.

use chrono::Utc;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::harness::*;

async fn payments(hub: &TestHub, token: &str, query: &str) -> Vec<Value> {
    let (status, body) = hub.get(&format!("/payments{query}"), Some(token)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["items"].as_array().cloned().unwrap_or_default()
}

#[tokio::test]
async fn bad_signatures_are_refused_and_nothing_is_stored() {
    let hub = TestHub::start();
    let root = hub.root().await;
    let outlet = hub.outlet(&root, "Mall Signatures").await;
    let (_, booking) = hub.book(None, booking_body(&outlet.id, None, 0)).await;
    let body = payment(&booking, "evt-sig", "SUCCESS");
    let raw = serde_json::to_vec(&body).unwrap();
    let now = Utc::now().timestamp();
    let cases = [
        ("missing", None),
        ("wrong secret", Some(sign(b"not-the-secret", now, &raw))),
        (
            "stale",
            Some(sign(WEBHOOK_SECRET.as_bytes(), now - 301, &raw)),
        ),
        (
            "future",
            Some(sign(WEBHOOK_SECRET.as_bytes(), now + 301, &raw)),
        ),
        (
            "other body",
            Some(sign(WEBHOOK_SECRET.as_bytes(), now, b"{}")),
        ),
        ("garbage", Some("t=abc,v1=xyz".to_owned())),
    ];
    for (case, signature) in cases {
        let (status, answer) = hub.webhook_raw(raw.clone(), signature).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{case}: {answer}");
        assert_eq!(answer["error"]["code"], "INVALID_SIGNATURE", "{case}");
    }
    assert!(
        payments(&hub, &root, "").await.is_empty(),
        "nothing may be stored"
    );
    hub.wait_status(
        &root,
        &id(&booking),
        "PENDING_PAYMENT",
        std::time::Duration::ZERO,
    )
    .await;
    // Inside the window either way is accepted.
    let (status, _) = hub.webhook_at(&body, now - 290, WEBHOOK_SECRET).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn a_repeated_event_answers_the_same_and_happens_once() {
    let hub = TestHub::start();
    let root = hub.root().await;
    let outlet = hub.outlet(&root, "Mall Replay").await;
    let (_, booking) = hub.book(None, booking_body(&outlet.id, None, 0)).await;
    let body = payment(&booking, "evt-replay", "SUCCESS");
    let first = hub.webhook(&body).await;
    assert_eq!(first.0, StatusCode::OK, "{}", first.1);
    assert_eq!(first.1["result"], "CONFIRMED");
    let again = hub.webhook(&body).await;
    assert_eq!(again, first);
    assert_eq!(payments(&hub, &root, "").await.len(), 1);

    let mut changed = body.clone();
    changed["amount"] = json!(1);
    let (status, answer) = hub.webhook(&changed).await;
    assert_eq!(
        (status, &answer["error"]["code"]),
        (StatusCode::CONFLICT, &json!("EVENT_ID_REUSED"))
    );
    assert_eq!(payments(&hub, &root, "").await.len(), 1);
}

#[tokio::test]
async fn concurrent_deliveries_of_one_event_apply_once() {
    let hub = TestHub::start();
    let root = hub.root().await;
    let outlet = hub.outlet(&root, "Mall Concurrent").await;
    let (_, booking) = hub.book(None, booking_body(&outlet.id, None, 0)).await;
    let body = payment(&booking, "evt-concurrent", "SUCCESS");
    let answers = futures_join(&hub, &body).await;
    for answer in &answers {
        assert_eq!(answer, &answers[0]);
    }
    assert_eq!(answers[0].0, StatusCode::OK);
    assert_eq!(payments(&hub, &root, "").await.len(), 1);
}

async fn futures_join(hub: &TestHub, body: &Value) -> Vec<(StatusCode, Value)> {
    let (a, b, c, d) = tokio::join!(
        hub.webhook(body),
        hub.webhook(body),
        hub.webhook(body),
        hub.webhook(body)
    );
    vec![a, b, c, d]
}

#[tokio::test]
async fn amount_mismatch_keeps_the_payment_and_the_booking() {
    let hub = TestHub::start();
    let root = hub.root().await;
    let outlet = hub.outlet(&root, "Mall Amounts").await;
    let (_, booking) = hub.book(None, booking_body(&outlet.id, None, 0)).await;
    let mut body = payment(&booking, "evt-short", "SUCCESS");
    body["amount"] = json!(49_000);
    let (status, answer) = hub.webhook(&body).await;
    assert_eq!(
        (status, &answer["error"]["code"]),
        (StatusCode::CONFLICT, &json!("AMOUNT_MISMATCH"))
    );
    assert_eq!(answer["error"]["details"]["expected"], 50_000);
    hub.wait_status(
        &root,
        &id(&booking),
        "PENDING_PAYMENT",
        std::time::Duration::ZERO,
    )
    .await;
    let kept = payments(&hub, &outlet.admin, "").await;
    assert_eq!(kept.len(), 1);
    assert_eq!(
        kept[0]["raw"]["provider"]["channel"], "qris",
        "the raw JSON is kept, unknown fields too"
    );

    let (status, answer) = hub
        .webhook(&payment(&booking, "evt-failed", "FAILED"))
        .await;
    assert_eq!(
        (status, &answer["result"]),
        (StatusCode::OK, &json!("FAILED_RECORDED"))
    );
    hub.wait_status(
        &root,
        &id(&booking),
        "PENDING_PAYMENT",
        std::time::Duration::ZERO,
    )
    .await;

    let (status, _) = hub.webhook(&json!({ "event_id": "evt-ghost", "booking_id": uuid::Uuid::now_v7(), "status": "SUCCESS", "amount": 1, "currency": "IDR" })).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn payment_for_an_expired_booking_is_flagged_for_refund() {
    let hub = TestHub::start();
    let root = hub.root().await;
    let outlet = hub.outlet(&root, "Mall Refunds").await;
    hub.put(
        "/config/system",
        Some(&root),
        json!({ "arrival_tolerance_minutes": 0 }),
    )
    .await;
    let soon = Utc::now() + chrono::Duration::milliseconds(500);
    let (_, booking) = hub.book(None, booking_at(&outlet.id, None, soon)).await;
    hub.wait_status(
        &root,
        &id(&booking),
        "EXPIRED",
        std::time::Duration::from_secs(10),
    )
    .await;
    let (status, answer) = hub
        .webhook(&payment(&booking, "evt-too-late", "SUCCESS"))
        .await;
    assert_eq!(
        (status, &answer["error"]["code"]),
        (StatusCode::CONFLICT, &json!("BOOKING_EXPIRED"))
    );
    let flagged = payments(&hub, &outlet.admin, "?refund_required=true").await;
    assert_eq!(flagged.len(), 1);
    assert_eq!(flagged[0]["event_id"], "evt-too-late");
    assert_eq!(flagged[0]["booking_id"], booking["id"]);
    let other = hub.outlet(&root, "Mall Other").await;
    assert!(
        payments(&hub, &other.admin, "?refund_required=true")
            .await
            .is_empty(),
        "scoped to the outlet"
    );
}
