//! Every refused transition of contract §5 answers its status, code and current status.

use std::time::Duration;

use chrono::Utc;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::harness::*;

fn assert_error(answer: &(StatusCode, Value), status: StatusCode, code: &str) {
    assert_eq!(answer.0, status, "{}", answer.1);
    assert_eq!(answer.1["error"]["code"], code, "{}", answer.1);
    assert!(answer.1["error"]["message"].is_string(), "{}", answer.1);
}

#[tokio::test]
async fn arrival_refusals_in_contract_order() {
    let hub = TestHub::start();
    let root = hub.root().await;
    let outlet = hub.outlet(&root, "Mall Refusals").await;
    let other = hub.outlet(&root, "Mall Elsewhere").await;
    let booth = &outlet.booth.token;

    // Unpaid: NOT_PAID, with the current status named.
    // The outlet has one booth: bookings 15 minutes apart do not overlap.
    let (_, unpaid) = hub.book(None, booking_body(&outlet.id, None, -14)).await;
    let path = format!("/session/{}/arrival", id(&unpaid));
    let answer = hub
        .post(
            &path,
            Some(booth),
            json!({ "qr_token": unpaid["qr_token"] }),
        )
        .await;
    assert_error(&answer, StatusCode::CONFLICT, "NOT_PAID");
    assert_eq!(answer.1["error"]["details"]["status"], "PENDING_PAYMENT");

    // The QR is checked before the status: a forged QR on an unpaid booking is INVALID_QR.
    let forged = format!(
        "{}.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        id(&unpaid)
    );
    let answer = hub
        .post(&path, Some(booth), json!({ "qr_token": forged }))
        .await;
    assert_error(&answer, StatusCode::UNPROCESSABLE_ENTITY, "INVALID_QR");

    // Another booking's QR does not open this one.
    let (_, paid) = hub.book(None, booking_body(&outlet.id, None, 1)).await;
    hub.pay(&paid).await;
    let answer = hub
        .post(
            &format!("/session/{}/arrival", id(&paid)),
            Some(booth),
            json!({ "qr_token": unpaid["qr_token"] }),
        )
        .await;
    assert_error(&answer, StatusCode::UNPROCESSABLE_ENTITY, "INVALID_QR");

    // The scope comes first: a booth of another outlet is WRONG_BOOTH even with a forged QR.
    let answer = hub
        .post(
            &format!("/session/{}/arrival", id(&paid)),
            Some(&other.booth.token),
            json!({ "qr_token": "forged" }),
        )
        .await;
    assert_error(&answer, StatusCode::FORBIDDEN, "WRONG_BOOTH");

    // Too early: the window opens 15 minutes before the booking time.
    let (_, later) = hub.book(None, booking_body(&outlet.id, None, 60)).await;
    hub.pay(&later).await;
    let answer = hub
        .post(
            &format!("/session/{}/arrival", id(&later)),
            Some(booth),
            json!({ "qr_token": later["qr_token"] }),
        )
        .await;
    assert_error(&answer, StatusCode::CONFLICT, "TOO_EARLY");
    assert_eq!(answer.1["error"]["details"]["status"], "AWAITING_CUSTOMER");
    hub.wait_status(&root, &id(&later), "AWAITING_CUSTOMER", Duration::ZERO)
        .await;
}

#[tokio::test]
async fn a_booking_assigned_to_a_booth_refuses_other_booths_of_the_outlet() {
    let hub = TestHub::start();
    let root = hub.root().await;
    let outlet = hub.outlet(&root, "Mall Assigned").await;
    let second = hub.booth(&root, &outlet.id, "Booth 2").await;
    let (_, booking) = hub
        .book(None, booking_body(&outlet.id, Some(&outlet.booth.id), 0))
        .await;
    hub.pay(&booking).await;
    let path = format!("/session/{}/arrival", id(&booking));
    let answer = hub
        .post(
            &path,
            Some(&second.token),
            json!({ "qr_token": booking["qr_token"] }),
        )
        .await;
    assert_error(&answer, StatusCode::FORBIDDEN, "WRONG_BOOTH");
    let (status, _) = hub
        .post(
            &path,
            Some(&outlet.booth.token),
            json!({ "qr_token": booking["qr_token"] }),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn deadlines_expire_bookings_and_arrivals_after_them_are_refused() {
    let hub = TestHub::start();
    let root = hub.root().await;
    let outlet = hub.outlet(&root, "Mall Deadlines").await;
    hub.booth(&root, &outlet.id, "Booth 2").await;
    let (status, _) = hub
        .put(
            "/config/system",
            Some(&root),
            json!({ "arrival_tolerance_minutes": 0 }),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let soon = Utc::now() + chrono::Duration::milliseconds(1500);
    let (_, unpaid) = hub.book(None, booking_at(&outlet.id, None, soon)).await;
    let (_, paid) = hub.book(None, booking_at(&outlet.id, None, soon)).await;
    hub.pay(&paid).await;
    assert_eq!(
        unpaid["arrival_deadline"], unpaid["booking_time"],
        "tolerance 0: the deadline is the booking time"
    );

    // Both expire by their timers, without any request.
    let expired = hub
        .wait_status(&root, &id(&unpaid), "EXPIRED", Duration::from_secs(10))
        .await;
    assert!(expired["expired_at"].is_string());
    hub.wait_status(&root, &id(&paid), "EXPIRED", Duration::from_secs(10))
        .await;

    let answer = hub
        .post(
            &format!("/session/{}/arrival", id(&paid)),
            Some(&outlet.booth.token),
            json!({ "qr_token": paid["qr_token"] }),
        )
        .await;
    assert_error(&answer, StatusCode::CONFLICT, "EXPIRED");
}

#[tokio::test]
async fn start_and_finish_out_of_order_are_invalid_transitions() {
    let hub = TestHub::start();
    let root = hub.root().await;
    let outlet = hub.outlet(&root, "Mall Order").await;
    let booth = Some(outlet.booth.token.as_str());
    let (_, booking) = hub.book(None, booking_body(&outlet.id, None, 0)).await;
    let id = id(&booking);
    let start = format!("/session/{id}/start");
    let finish = format!("/session/{id}/finish");
    let arrival = format!("/session/{id}/arrival");

    assert_error(
        &hub.post(&start, booth, json!({})).await,
        StatusCode::CONFLICT,
        "INVALID_TRANSITION",
    );
    assert_error(
        &hub.post(&finish, booth, json!({})).await,
        StatusCode::CONFLICT,
        "INVALID_TRANSITION",
    );
    hub.pay(&booking).await;
    assert_error(
        &hub.post(&start, booth, json!({})).await,
        StatusCode::CONFLICT,
        "INVALID_TRANSITION",
    );
    let scan = json!({ "qr_token": booking["qr_token"] });
    assert_eq!(
        hub.post(&arrival, booth, scan.clone()).await.0,
        StatusCode::OK
    );
    let answer = hub.post(&finish, booth, json!({})).await;
    assert_error(&answer, StatusCode::CONFLICT, "INVALID_TRANSITION");
    assert_eq!(answer.1["error"]["details"]["status"], "ARRIVED");
    assert_eq!(hub.post(&start, booth, json!({})).await.0, StatusCode::OK);
    assert_error(
        &hub.post(&arrival, booth, scan.clone()).await,
        StatusCode::CONFLICT,
        "INVALID_TRANSITION",
    );
    assert_eq!(hub.post(&finish, booth, json!({})).await.0, StatusCode::OK);
    assert_error(
        &hub.post(&start, booth, json!({})).await,
        StatusCode::CONFLICT,
        "INVALID_TRANSITION",
    );
    assert_error(
        &hub.post(&arrival, booth, scan).await,
        StatusCode::CONFLICT,
        "INVALID_TRANSITION",
    );
    // A second payment for a finished booking is refused and flagged for refund.
    let (status, body) = hub
        .webhook(&payment(&booking, "evt-late-double", "SUCCESS"))
        .await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (StatusCode::CONFLICT, &json!("INVALID_TRANSITION"))
    );
}

#[tokio::test]
async fn booking_creation_refusals() {
    let hub = TestHub::start();
    let root = hub.root().await;
    let outlet = hub.outlet(&root, "Mall Slots").await;

    let answer = hub.book(None, booking_body(&outlet.id, None, -16)).await;
    assert_error(
        &answer,
        StatusCode::UNPROCESSABLE_ENTITY,
        "BOOKING_TIME_PASSED",
    );
    let (status, _) = hub.book(None, booking_body(&outlet.id, None, -14)).await;
    assert_eq!(
        status,
        StatusCode::CREATED,
        "inside the tolerance the booking time may be past"
    );

    // The outlet has one booth: the unassigned booking above fills [t, t + 15 min).
    let answer = hub.book(None, booking_body(&outlet.id, None, -10)).await;
    assert_error(&answer, StatusCode::CONFLICT, "SLOT_TAKEN");

    // With a booth: only that booth's live bookings count.
    let at = Utc::now() + chrono::Duration::hours(2);
    let (status, first) = hub
        .book(None, booking_at(&outlet.id, Some(&outlet.booth.id), at))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let overlapping = at - chrono::Duration::minutes(14);
    let answer = hub
        .book(
            None,
            booking_at(&outlet.id, Some(&outlet.booth.id), overlapping),
        )
        .await;
    assert_error(&answer, StatusCode::CONFLICT, "SLOT_TAKEN");
    let adjacent = at + chrono::Duration::minutes(15);
    let (status, _) = hub
        .book(
            None,
            booking_at(&outlet.id, Some(&outlet.booth.id), adjacent),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "slots are half-open");

    // A booking that is no longer live frees its slot.
    let (status, _) = hub
        .post(
            &format!("/session/{}/override", id(&first)),
            Some(&root),
            json!({ "reason": "customer cancelled" }),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = hub
        .book(
            None,
            booking_at(&outlet.id, Some(&outlet.booth.id), overlapping),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);

    // Field errors are 422 with the fields named.
    let mut bad = booking_body(&outlet.id, None, 30);
    bad["user"]["phone"] = json!("12");
    bad["user"]["email"] = json!("not-an-email");
    bad["amount"] = json!(0);
    let answer = hub.book(None, bad).await;
    assert_error(
        &answer,
        StatusCode::UNPROCESSABLE_ENTITY,
        "VALIDATION_FAILED",
    );
    let fields = &answer.1["error"]["details"]["fields"];
    for field in ["user.phone", "user.email", "amount"] {
        assert!(fields.get(field).is_some(), "{field} not named: {fields}");
    }
    let mut cash = booking_body(&outlet.id, None, 45);
    cash["paid"] = json!(true);
    assert_error(
        &hub.book(None, cash).await,
        StatusCode::FORBIDDEN,
        "FORBIDDEN",
    );
}

#[tokio::test]
async fn overrides_are_audited_and_can_reopen_the_window() {
    let hub = TestHub::start();
    let root = hub.root().await;
    let outlet = hub.outlet(&root, "Mall Override").await;
    let (_, booking) = hub.book(None, booking_body(&outlet.id, None, 0)).await;
    let id = id(&booking);
    let path = format!("/session/{id}/override");

    assert_error(
        &hub.post(&path, Some(&outlet.admin), json!({ "reason": "" }))
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "VALIDATION_FAILED",
    );
    assert_error(
        &hub.post(
            &path,
            Some(&outlet.admin),
            json!({ "reason": "x".repeat(501) }),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "VALIDATION_FAILED",
    );
    assert_error(
        &hub.post(
            &path,
            Some(&outlet.admin),
            json!({ "reason": "r", "status": "ONGOING" }),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "VALIDATION_FAILED",
    );

    let (status, reopened) = hub
        .post(
            &path,
            Some(&outlet.admin),
            json!({ "status": "AWAITING_CUSTOMER", "reason": "paid in cash, receipt 88" }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{reopened}");
    assert_eq!(reopened["status"], "AWAITING_CUSTOMER");
    assert_eq!(reopened["override_reason"], "paid in cash, receipt 88");
    assert!(reopened["override_by"].is_string() && reopened["override_at"].is_string());
    let scan = json!({ "qr_token": booking["qr_token"] });
    let (status, _) = hub
        .post(
            &format!("/session/{id}/arrival"),
            Some(&outlet.booth.token),
            scan,
        )
        .await;
    assert_eq!(
        status,
        StatusCode::OK,
        "the re-opened window admits the customer"
    );

    let (status, done) = hub
        .post(
            &path,
            Some(&root),
            json!({ "status": "DONE", "reason": "printer jam, session refunded" }),
        )
        .await;
    assert_eq!((status, &done["status"]), (StatusCode::OK, &json!("DONE")));

    let (status, audit) = hub
        .get(&format!("/audit?booking_id={id}"), Some(&outlet.admin))
        .await;
    assert_eq!(status, StatusCode::OK, "{audit}");
    let items = audit["items"].as_array().unwrap();
    assert_eq!(items.len(), 2, "{audit}");
    assert_eq!(items[0]["from"], "ARRIVED");
    assert_eq!(items[0]["to"], "DONE");
    assert_eq!(items[0]["reason"], "printer jam, session refunded");
    assert_eq!(items[1]["from"], "PENDING_PAYMENT");
    assert_eq!(items[1]["to"], "AWAITING_CUSTOMER");
    assert_eq!(items[1]["kind"], "SESSION_OVERRIDE");
}

#[tokio::test]
async fn a_tolerance_change_rearms_waiting_deadlines() {
    let hub = TestHub::start();
    let root = hub.root().await;
    let outlet = hub.outlet(&root, "Mall Retune").await;
    let (_, booking) = hub.book(None, booking_body(&outlet.id, None, 0)).await;
    let id = id(&booking);
    let (status, config) = hub
        .put(
            "/config/system",
            Some(&root),
            json!({ "arrival_tolerance_minutes": 30 }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{config}");
    assert_eq!(config["arrival_tolerance_minutes"], 30);
    assert!(config["updated_by"].is_string());
    let deadline = |b: &Value| {
        chrono::DateTime::parse_from_rfc3339(b["arrival_deadline"].as_str().unwrap()).unwrap()
    };
    let booking_time =
        chrono::DateTime::parse_from_rfc3339(booking["booking_time"].as_str().unwrap()).unwrap();
    let deadline_start = tokio::time::Instant::now();
    loop {
        let (_, now) = hub.get(&format!("/session/{id}/status"), Some(&root)).await;
        if deadline(&now) - booking_time == chrono::Duration::minutes(30) {
            break;
        }
        assert!(
            deadline_start.elapsed() < Duration::from_secs(5),
            "deadline not re-armed: {now}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Shrinking the tolerance to 0 expires it at once: its booking time has passed.
    hub.put(
        "/config/system",
        Some(&root),
        json!({ "arrival_tolerance_minutes": 0 }),
    )
    .await;
    hub.wait_status(&root, &id, "EXPIRED", Duration::from_secs(5))
        .await;
    let (_, audit) = hub.get("/audit", Some(&root)).await;
    assert_eq!(audit["items"][0]["kind"], "CONFIG_UPDATED");
    assert_eq!(audit["items"][0]["to"]["arrival_tolerance_minutes"], 0);
}
