//! The happy path of contract §5, end to end, and the serialisation of concurrent scans.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;

use crate::harness::*;

#[tokio::test]
async fn a_booking_goes_from_creation_to_done() {
    let hub = TestHub::start();
    let root = hub.root().await;
    let outlet = hub.outlet(&root, "Mall Kelapa Gading").await;

    let (status, booking) = hub.book(None, booking_body(&outlet.id, None, 5)).await;
    assert_eq!(status, StatusCode::CREATED, "{booking}");
    assert_eq!(booking["status"], "PENDING_PAYMENT");
    assert_eq!(booking["booth_id"], serde_json::Value::Null);
    assert!(booking["qr_token"].as_str().is_some_and(|qr| qr.len() > 40));
    for field in [
        "id",
        "user",
        "outlet_id",
        "booth_id",
        "status",
        "booking_time",
        "amount",
        "paid_at",
        "arrival_deadline",
        "expired_at",
        "started_at",
        "ends_at",
        "finished_at",
        "override_by",
        "override_at",
        "override_reason",
        "qr_token",
    ] {
        assert!(
            booking.get(field).is_some(),
            "the booking has no {field}: {booking}"
        );
    }
    let id = id(&booking);

    hub.pay(&booking).await;
    let paid = hub
        .wait_status(&outlet.admin, &id, "AWAITING_CUSTOMER", Duration::ZERO)
        .await;
    assert!(paid["paid_at"].is_string());

    let scan = json!({ "qr_token": booking["qr_token"] });
    let (status, arrived) = hub
        .post(
            &format!("/session/{id}/arrival"),
            Some(&outlet.booth.token),
            scan.clone(),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{arrived}");
    assert_eq!(arrived["status"], "ARRIVED");
    assert_eq!(
        arrived["booth_id"],
        outlet.booth.id.as_str(),
        "the scanning booth takes the booking"
    );

    // A booth retrying its scan gets the same answer.
    let (status, again) = hub
        .post(
            &format!("/session/{id}/arrival"),
            Some(&outlet.booth.token),
            scan,
        )
        .await;
    assert_eq!(
        (status, &again["status"]),
        (StatusCode::OK, &json!("ARRIVED"))
    );

    let (status, started) = hub
        .post(
            &format!("/session/{id}/start"),
            Some(&outlet.booth.token),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{started}");
    assert_eq!(started["status"], "ONGOING");
    let started_at =
        chrono::DateTime::parse_from_rfc3339(started["started_at"].as_str().unwrap()).unwrap();
    let ends_at =
        chrono::DateTime::parse_from_rfc3339(started["ends_at"].as_str().unwrap()).unwrap();
    assert_eq!(
        ends_at - started_at,
        chrono::Duration::minutes(15),
        "ends_at = started_at + duration"
    );

    let (status, _) = hub
        .post(
            &format!("/session/{id}/start"),
            Some(&outlet.booth.token),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "a repeated start is a safe retry");

    let (status, done) = hub
        .post(
            &format!("/session/{id}/finish"),
            Some(&outlet.booth.token),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{done}");
    assert_eq!(done["status"], "DONE");
    assert!(done["finished_at"].is_string());

    let (status, listed) = hub.get("/bookings?status=DONE", Some(&outlet.admin)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(listed["items"][0]["id"], id.as_str());
    assert_eq!(listed["next_cursor"], serde_json::Value::Null);

    // Its history: every event once, in the order it happened, as the hub pushed it.
    let (status, history) = hub
        .get(&format!("/bookings/{id}/events"), Some(&outlet.admin))
        .await;
    assert_eq!(status, StatusCode::OK, "{history}");
    let items = history["items"].as_array().cloned().unwrap_or_default();
    let kinds: Vec<&str> = items.iter().filter_map(|e| e["event"].as_str()).collect();
    assert_eq!(
        kinds,
        [
            "BOOKING_CREATED",
            "PAYMENT_CONFIRMED",
            "SESSION_APPROVED",
            "SESSION_STARTED",
            "SESSION_DONE"
        ]
    );
    assert!(
        items
            .iter()
            .all(|e| e["booking_id"] == id.as_str() && e["stream"] == "all")
    );
    let seqs: Vec<u64> = items.iter().filter_map(|e| e["seq"].as_u64()).collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");
}

#[tokio::test]
async fn an_admin_booking_paid_at_the_counter_awaits_the_customer_at_once() {
    let hub = TestHub::start();
    let root = hub.root().await;
    let outlet = hub.outlet(&root, "Mall Paid").await;
    let mut body = booking_body(&outlet.id, Some(&outlet.booth.id), 0);
    body["paid"] = json!(true);
    let (status, booking) = hub.book(Some(&outlet.admin), body).await;
    assert_eq!(status, StatusCode::CREATED, "{booking}");
    assert_eq!(booking["status"], "AWAITING_CUSTOMER");
    assert!(booking["paid_at"].is_string());
    assert_eq!(booking["booth_id"], outlet.booth.id.as_str());
}

#[tokio::test]
async fn two_booths_scanning_one_qr_at_once_give_exactly_one_arrival() {
    let hub = TestHub::start();
    let root = hub.root().await;
    let outlet = hub.outlet(&root, "Mall Race").await;
    let second = hub.booth(&root, &outlet.id, "Booth 2").await;
    let (_, booking) = hub.book(None, booking_body(&outlet.id, None, 0)).await;
    hub.pay(&booking).await;
    let id = id(&booking);
    let path = format!("/session/{id}/arrival");
    let scan = json!({ "qr_token": booking["qr_token"] });
    let (a, b) = tokio::join!(
        hub.post(&path, Some(&outlet.booth.token), scan.clone()),
        hub.post(&path, Some(&second.token), scan.clone()),
    );
    let answers = [a, b];
    let arrived: Vec<_> = answers
        .iter()
        .filter(|(s, _)| *s == StatusCode::OK)
        .collect();
    let refused: Vec<_> = answers
        .iter()
        .filter(|(s, _)| *s == StatusCode::FORBIDDEN)
        .collect();
    assert_eq!(arrived.len(), 1, "{answers:?}");
    assert_eq!(refused.len(), 1, "{answers:?}");
    assert_eq!(refused[0].1["error"]["code"], "WRONG_BOOTH");
    let winner = &arrived[0].1["booth_id"];
    let status = hub.wait_status(&root, &id, "ARRIVED", Duration::ZERO).await;
    assert_eq!(&status["booth_id"], winner);
}

#[tokio::test]
async fn an_ongoing_session_ends_by_itself_when_its_time_is_up() {
    // The shortest session is one minute; the ends_at timer must fire without any request.
    let hub = TestHub::start();
    let root = hub.root().await;
    let outlet = hub.outlet(&root, "Mall Timer").await;
    let (status, _) = hub
        .put(
            "/config/system",
            Some(&root),
            json!({ "session_duration_minutes": 1 }),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let mut body = booking_body(&outlet.id, Some(&outlet.booth.id), 0);
    body["paid"] = json!(true);
    let (_, booking) = hub.book(Some(&root), body).await;
    let id = id(&booking);
    let scan = json!({ "qr_token": booking["qr_token"] });
    hub.post(
        &format!("/session/{id}/arrival"),
        Some(&outlet.booth.token),
        scan,
    )
    .await;
    let (status, started) = hub
        .post(
            &format!("/session/{id}/start"),
            Some(&outlet.booth.token),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{started}");
    let done = hub
        .wait_status(&root, &id, "DONE", Duration::from_secs(75))
        .await;
    assert!(done["finished_at"].is_string(), "{done}");
}

#[tokio::test]
async fn the_metrics_page_says_what_each_metric_measures() {
    let hub = TestHub::start();
    let root = hub.root().await;
    let outlet = hub.outlet(&root, "Metrics Mall").await;
    let (status, _) = hub.book(None, booking_body(&outlet.id, None, 5)).await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, page) = hub.get("/metrics", None).await;
    assert_eq!(status, StatusCode::OK);
    let page = page.as_str().unwrap_or_default().to_owned();
    for line in [
        "# HELP boothhub_bookings_created_total Bookings created (customer or walk-in).",
        "# TYPE boothhub_bookings_created_total counter",
        "# HELP boothhub_http_requests_total HTTP requests answered",
        "# HELP boothhub_events_published_total Committed events handed to the stream router",
    ] {
        assert!(page.contains(line), "{line:?} missing from:\n{page}");
    }
}

/// The spans of a log line, by name.
fn span<'a>(line: &'a serde_json::Value, name: &str) -> Option<&'a serde_json::Value> {
    line["spans"]
        .as_array()?
        .iter()
        .find(|span| span["name"] == name)
}

#[tokio::test]
async fn an_arrival_can_be_followed_in_the_logs_from_http_to_the_store_to_the_push() {
    let hub = TestHub::start_with(&[("RUST_LOG", "info,boothhub=debug,boothhub_actors=debug")]);
    let root = hub.root().await;
    let outlet = hub.outlet(&root, "Traced Mall").await;
    let (status, booking) = hub
        .book(Some(&outlet.admin), {
            let mut body = booking_body(&outlet.id, None, 5);
            body["paid"] = serde_json::json!(true);
            body
        })
        .await;
    assert_eq!(status, StatusCode::CREATED, "{booking}");
    let id = id(&booking);
    let mut booth = hub.ws(&outlet.booth.token, None).await;
    let _subscribed = booth.message().await;

    let response = hub
        .client
        .post(hub.url(&format!("/session/{id}/arrival")))
        .bearer_auth(&outlet.booth.token)
        .header("x-request-id", "follow-me-1")
        .json(&serde_json::json!({ "qr_token": booking["qr_token"] }))
        .send()
        .await
        .expect("arrival");
    assert_eq!(response.status(), StatusCode::OK);
    let approved = booth.event().await;
    assert_eq!(approved["booking_id"], id.as_str());

    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        let logs = hub.logs();
        // The commit, logged in the session actor's span, under the request that caused it.
        let committed = logs.iter().find(|line| {
            line["message"] == "committed"
                && span(line, "request").is_some_and(|s| s["request_id"] == "follow-me-1")
                && span(line, "arrival").is_some_and(|s| s["booking_id"] == id.as_str())
                && span(line, "session").is_some_and(|s| s["msg"] == "arrival")
        });
        // The push of the event to the booth's socket, by the same booking.
        let pushed = logs.iter().find(|line| {
            line["message"] == "pushed"
                && line["booking_id"] == id.as_str()
                && span(line, "socket").is_some_and(|s| s["booth_id"] == outlet.booth.id.as_str())
        });
        if committed.is_some() && pushed.is_some() {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "committed: {committed:?}, pushed: {pushed:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
