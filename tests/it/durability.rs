//! `kill -9` loses nothing that was answered 2xx, and deadlines that pass while the hub is
//! down are applied when it starts again.

use std::time::Duration;

use chrono::Utc;
use reqwest::StatusCode;
use serde_json::json;

use crate::harness::*;

#[tokio::test]
async fn kill_9_loses_nothing_answered_and_applies_missed_deadlines() {
    let mut hub = TestHub::start();
    let root = hub.root().await;
    let outlet = hub.outlet(&root, "Mall Durable").await;
    for n in 2..=40 {
        hub.booth(&root, &outlet.id, &format!("Booth {n}")).await;
    }
    hub.put(
        "/config/system",
        Some(&root),
        json!({ "arrival_tolerance_minutes": 0 }),
    )
    .await;

    // A burst of concurrent writes, each answered 2xx, then kill -9 at once.
    let mut created = vec![];
    let requests: Vec<_> = (0..30)
        .map(|n| hub.book(None, booking_body(&outlet.id, None, 60 + n)))
        .collect();
    for (status, booking) in futures::future::join_all(requests).await {
        assert_eq!(status, StatusCode::CREATED, "{booking}");
        created.push(booking);
    }
    // One booking is paid, arrived and started: its state must survive too.
    let mut body = booking_body(&outlet.id, Some(&outlet.booth.id), 0);
    body["booking_time"] = json!(rfc3339(Utc::now() + chrono::Duration::seconds(30)));
    let (_, running) = hub.book(None, body).await;
    hub.pay(&running).await;
    // Tolerance 0 and a booking time 2 s away: its deadline passes while the hub is down.
    let (_, doomed) = hub
        .book(
            None,
            booking_at(&outlet.id, None, Utc::now() + chrono::Duration::seconds(2)),
        )
        .await;
    let notification = payment(&doomed, "evt-durable", "SUCCESS");
    let (status, paid) = hub.webhook(&notification).await;
    assert_eq!(status, StatusCode::OK, "{paid}");
    hub.kill();

    tokio::time::sleep(Duration::from_secs(3)).await;
    hub.restart();

    // Login tokens survive the restart.
    let (status, listed) = hub.get("/bookings?limit=200", Some(&root)).await;
    assert_eq!(status, StatusCode::OK, "{listed}");
    let ids: Vec<&str> = listed["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|b| b["id"].as_str())
        .collect();
    for booking in &created {
        assert!(
            ids.contains(&booking["id"].as_str().unwrap()),
            "lost {}",
            booking["id"]
        );
    }
    hub.wait_status(&root, &id(&running), "AWAITING_CUSTOMER", Duration::ZERO)
        .await;
    let expired = hub
        .wait_status(&root, &id(&doomed), "EXPIRED", Duration::from_secs(5))
        .await;
    assert!(
        expired["paid_at"].is_string(),
        "the payment answered before the kill is kept"
    );
    // The replayed webhook answers as before the crash.
    let (status, again) = hub.webhook(&notification).await;
    assert_eq!(
        (status, again["result"].clone()),
        (StatusCode::OK, paid["result"].clone())
    );
}
