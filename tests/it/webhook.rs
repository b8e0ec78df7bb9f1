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
            // Well past the 300 s tolerance: the hub reads its clock later than this test.
            Some(sign(WEBHOOK_SECRET.as_bytes(), now + 330, &raw)),
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

/// The valid signature of `raw` now, padded with an unknown field to exactly `len` bytes.
fn padded_signature(raw: &[u8], len: usize) -> String {
    let header = format!(
        "{},x=",
        sign(WEBHOOK_SECRET.as_bytes(), Utc::now().timestamp(), raw)
    );
    let pad = len - header.len();
    format!("{header}{}", "a".repeat(pad))
}

/// `wrong` wrong `v1=` entries around the valid signature of `raw`, the valid one at `at`.
fn signature_among(raw: &[u8], wrong: usize, at: usize) -> String {
    let now = Utc::now().timestamp();
    let good = sign(WEBHOOK_SECRET.as_bytes(), now, raw);
    let right = good.split_once(",v1=").map(|(_, tag)| tag).unwrap_or("");
    let mut tags: Vec<String> = (0..wrong).map(|n| format!("{n:02}").repeat(32)).collect();
    tags.insert(at, right.to_owned());
    let entries: String = tags.iter().map(|tag| format!(",v1={tag}")).collect();
    format!("t={now}{entries}")
}

#[tokio::test]
async fn the_signature_header_is_bounded() {
    let hub = TestHub::start();
    let root = hub.root().await;
    let outlet = hub.outlet(&root, "Mall Bounds").await;
    let (_, booking) = hub.book(None, booking_body(&outlet.id, None, 0)).await;
    let body = payment(&booking, "evt-bounds", "SUCCESS");
    let raw = serde_json::to_vec(&body).unwrap();
    let refused = [
        ("513 bytes", padded_signature(&raw, 513)),
        ("5 entries, the valid one last", signature_among(&raw, 4, 4)),
        (
            "5 entries, the valid one first",
            signature_among(&raw, 4, 0),
        ),
    ];
    for (case, signature) in refused {
        let (status, answer) = hub.webhook_raw(raw.clone(), Some(signature)).await;
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

    // At the bounds it is accepted, the valid signature anywhere among four.
    let (status, first) = hub
        .webhook_raw(raw.clone(), Some(padded_signature(&raw, 512)))
        .await;
    assert_eq!(status, StatusCode::OK, "512 bytes: {first}");
    assert_eq!(first["result"], "CONFIRMED");
    for at in 0..4 {
        let answer = hub
            .webhook_raw(raw.clone(), Some(signature_among(&raw, 3, at)))
            .await;
        assert_eq!(
            answer,
            (StatusCode::OK, first.clone()),
            "4 entries, valid at {at}"
        );
    }
    assert_eq!(payments(&hub, &root, "").await.len(), 1);
}

#[tokio::test]
async fn a_huge_signature_header_is_refused_cheaply() {
    let hub = TestHub::start();
    let raw = serde_json::to_vec(&json!({ "event_id": "evt-huge", "pad": "x".repeat(60 * 1024) }))
        .unwrap();
    assert!(raw.len() < 64 * 1024);
    let now = Utc::now().timestamp();
    // Each entry is valid hex, so a hub that computed a MAC per entry would compute them all.
    let header = format!("t={now}{}", ",v1=00".repeat(60_000));
    let started = std::time::Instant::now();
    let requests = (0..50).map(|_| hub.webhook_raw(raw.clone(), Some(header.clone())));
    let answers = futures::future::join_all(requests).await;
    let took = started.elapsed();
    for (status, answer) in answers {
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{answer}");
        assert_eq!(answer["error"]["code"], "INVALID_SIGNATURE");
    }
    // Generous: 50 such requests cost 50 header scans, not 3 million MACs.
    assert!(took < std::time::Duration::from_secs(10), "took {took:?}");
    hub.assert_still_serves().await;
}

#[tokio::test]
async fn payments_that_pay_for_nothing_are_kept_and_flagged_for_refund() {
    let hub = TestHub::start();
    let root = hub.root().await;
    let outlet = hub.outlet(&root, "Mall Flags").await;
    let (_, booking) = hub.book(None, booking_body(&outlet.id, None, 0)).await;

    let mut usd = payment(&booking, "evt-usd", "SUCCESS");
    usd["currency"] = json!("USD");
    let (status, answer) = hub.webhook(&usd).await;
    assert_eq!(status, StatusCode::CONFLICT, "{answer}");
    assert_eq!(answer["error"]["code"], "AMOUNT_MISMATCH");
    assert_eq!(
        answer["error"]["details"],
        json!({
            "expected": 50_000, "received": 50_000,
            "expected_currency": "IDR", "received_currency": "USD",
            "refund_required": true,
        })
    );
    assert_eq!(
        hub.webhook(&usd).await,
        (status, answer),
        "a replay answers the same"
    );

    let mut short = payment(&booking, "evt-short-success", "SUCCESS");
    short["amount"] = json!(49_000);
    let (status, answer) = hub.webhook(&short).await;
    assert_eq!(status, StatusCode::CONFLICT, "{answer}");
    assert_eq!(answer["error"]["code"], "AMOUNT_MISMATCH");
    assert_eq!(answer["error"]["details"]["received"], 49_000);
    assert_eq!(answer["error"]["details"]["refund_required"], true);

    let mut short_failed = payment(&booking, "evt-short-failed", "FAILED");
    short_failed["amount"] = json!(49_000);
    let (status, answer) = hub.webhook(&short_failed).await;
    assert_eq!(status, StatusCode::CONFLICT, "{answer}");
    assert_eq!(answer["error"]["code"], "AMOUNT_MISMATCH");
    assert_eq!(answer["error"]["details"]["refund_required"], false);

    let ghost = uuid::Uuid::now_v7().to_string();
    let unknown = |event_id: &str, status: &str| json!({ "event_id": event_id, "booking_id": ghost, "status": status, "amount": 50_000, "currency": "IDR" });
    let (status, answer) = hub.webhook(&unknown("evt-ghost-success", "SUCCESS")).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{answer}");
    let (status, answer) = hub.webhook(&unknown("evt-ghost-failed", "FAILED")).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{answer}");

    hub.wait_status(
        &root,
        &id(&booking),
        "PENDING_PAYMENT",
        std::time::Duration::ZERO,
    )
    .await;
    let event_ids = |items: Vec<Value>| {
        let mut ids: Vec<String> = items
            .iter()
            .map(|p| p["event_id"].as_str().unwrap_or("").to_owned())
            .collect();
        ids.sort();
        ids
    };
    assert_eq!(
        event_ids(payments(&hub, &root, "?refund_required=true").await),
        ["evt-ghost-success", "evt-short-success", "evt-usd"],
        "every SUCCESS that paid for nothing, and nothing else"
    );
    assert_eq!(
        event_ids(payments(&hub, &root, "?refund_required=false").await),
        ["evt-ghost-failed", "evt-short-failed"],
        "a FAILED moved no money"
    );
    let usd_kept = payments(&hub, &outlet.admin, "?refund_required=true").await;
    assert_eq!(
        event_ids(usd_kept.clone()),
        ["evt-short-success", "evt-usd"],
        "the outlet's admin sees the outlet's"
    );
    let kept = usd_kept
        .iter()
        .find(|p| p["event_id"] == "evt-usd")
        .cloned()
        .unwrap_or_default();
    assert_eq!(kept["currency"], "USD");
    assert_eq!(kept["raw"]["currency"], "USD", "kept as received");

    // The booking is still payable in full, in rupiah.
    let (status, answer) = hub
        .webhook(&payment(&booking, "evt-right", "SUCCESS"))
        .await;
    assert_eq!(
        (status, &answer["result"]),
        (StatusCode::OK, &json!("CONFIRMED"))
    );
}
