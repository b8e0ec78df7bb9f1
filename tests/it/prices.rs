//! Outlet prices and active flags (contract v1.2 §4, §5): a booking costs its outlet's price,
//! whatever amount a customer sends; an inactive outlet takes no bookings; bookings made
//! before a price keep their amount.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::harness::*;

fn without_amount(outlet: &str, minutes: i64) -> Value {
    let mut body = booking_body(outlet, None, minutes);
    if let Some(fields) = body.as_object_mut() {
        fields.remove("amount");
    }
    body
}

#[tokio::test]
async fn a_booking_costs_the_outlets_price() {
    let hub = TestHub::start();
    let root = hub.root().await;
    let outlet = hub.outlet(&root, "Mall Priced").await;
    let path = format!("/outlets/{}", outlet.id);
    let (status, body) = hub
        .put(
            &path,
            Some(&root),
            json!({ "name": "Mall Priced", "price": 35_000 }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        (body["price"].as_i64(), body["active"].as_bool()),
        (Some(35_000), Some(true))
    );

    let (status, booking) = hub.book(None, without_amount(&outlet.id, 30)).await;
    assert_eq!(status, StatusCode::CREATED, "{booking}");
    assert_eq!(booking["amount"], 35_000);
    let mut exact = booking_body(&outlet.id, None, 60);
    exact["amount"] = json!(35_000);
    assert_eq!(hub.book(None, exact).await.0, StatusCode::CREATED);

    // The 1-rupiah booking: refused before it exists, so no 1-rupiah payment can match it.
    let mut cheap = booking_body(&outlet.id, None, 90);
    cheap["amount"] = json!(1);
    let (status, body) = hub.book(None, cheap).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["error"]["code"], "AMOUNT_MISMATCH");
    assert_eq!(body["error"]["details"]["price"], 35_000);
    assert!(
        body["error"]["details"]["fields"]["amount"].is_string(),
        "{body}"
    );

    hub.pay(&booking).await;
}

#[tokio::test]
async fn without_a_price_the_booking_says_what_it_costs() {
    let hub = TestHub::start();
    let root = hub.root().await;
    let outlet = hub.outlet(&root, "Mall Unpriced").await;
    let (status, body) = hub.book(None, without_amount(&outlet.id, 30)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(
        body["error"]["details"]["fields"]["amount"].is_string(),
        "{body}"
    );
    let (status, body) = hub.book(None, booking_body(&outlet.id, None, 30)).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["amount"], 50_000);
}

#[tokio::test]
async fn a_booking_made_before_a_price_keeps_its_amount() {
    let hub = TestHub::start();
    let root = hub.root().await;
    let outlet = hub.outlet(&root, "Mall Repriced").await;
    let (status, booking) = hub.book(None, booking_body(&outlet.id, None, 30)).await;
    assert_eq!(status, StatusCode::CREATED, "{booking}");
    let path = format!("/outlets/{}", outlet.id);
    let (status, _) = hub
        .put(
            &path,
            Some(&root),
            json!({ "name": "Mall Repriced", "price": 35_000 }),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let read = hub
        .get(&format!("/session/{}/status", id(&booking)), Some(&root))
        .await
        .1;
    assert_eq!(read["amount"], 50_000, "{read}");
    // Paid at the amount it was booked for.
    hub.pay(&booking).await;
    // The price can be removed again with null, and a name-only update keeps it.
    let (_, kept) = hub
        .put(&path, Some(&root), json!({ "name": "Renamed" }))
        .await;
    assert_eq!(kept["price"], 35_000, "{kept}");
    let (_, cleared) = hub
        .put(
            &path,
            Some(&root),
            json!({ "name": "Renamed", "price": null }),
        )
        .await;
    assert_eq!(cleared["price"], Value::Null, "{cleared}");
}

#[tokio::test]
async fn prices_must_be_positive_whole_rupiah() {
    let hub = TestHub::start();
    let root = hub.root().await;
    for price in [json!(0), json!(-1), json!(100_000_001)] {
        let (status, body) = hub
            .post(
                "/outlets",
                Some(&root),
                json!({ "name": "Bad Price", "price": price }),
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{price}: {body}");
        assert!(
            body["error"]["details"]["fields"]["price"].is_string(),
            "{body}"
        );
    }
    let (status, body) = hub
        .post(
            "/outlets",
            Some(&root),
            json!({ "name": "Bad Price", "price": "35000" }),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "a string is not a price: {body}"
    );
    let (status, body) = hub
        .post(
            "/outlets",
            Some(&root),
            json!({ "name": "Good Price", "price": 35_000 }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(
        (body["price"].as_i64(), body["active"].as_bool()),
        (Some(35_000), Some(true))
    );
}

#[tokio::test]
async fn an_inactive_outlet_takes_no_bookings() {
    let hub = TestHub::start();
    let root = hub.root().await;
    let outlet = hub.outlet(&root, "Mall Closed").await;
    let path = format!("/outlets/{}", outlet.id);
    let (status, body) = hub
        .put(
            &path,
            Some(&root),
            json!({ "name": "Mall Closed", "active": false }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["active"], false);
    for token in [None, Some(outlet.admin.as_str()), Some(root.as_str())] {
        let (status, body) = hub.book(token, booking_body(&outlet.id, None, 30)).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_eq!(body["error"]["code"], "OUTLET_INACTIVE");
    }
    let (status, _) = hub
        .put(
            &path,
            Some(&root),
            json!({ "name": "Mall Closed", "active": true }),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        hub.book(None, booking_body(&outlet.id, None, 30)).await.0,
        StatusCode::CREATED
    );
}
