//! A CI-sized run of the load tool's push scenario against the real hub: 200 booths on
//! WebSockets acking every event, dashboards following the outlet, lifecycles for 10 s, half
//! the booths dropped and resumed on the way. It
//! fails on any lost, skipped or duplicated event; it sets no timing threshold (figures are
//! measured by the full runs in docs/PERFORMANCE.md).

use std::time::Duration;

use boothhub_loadtest::hub::Hub;
use boothhub_loadtest::push::{self, Shape};

use crate::harness::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_booths_for_ten_seconds_lose_nothing() {
    let hub = TestHub::start();
    let cert = hub.data.path().join("tls/cert.pem");
    let mut client = Hub::new(
        &format!("https://localhost:{}", hub.addr.port()),
        Some(&cert),
        WEBHOOK_SECRET,
    )
    .unwrap();
    client.login(ROOT_EMAIL, ROOT_PASSWORD).await.unwrap();
    // Half the booths drop at once 4 s in, come back and resume.
    let shape = Shape {
        storm_percent: 50,
        storm_after: Duration::from_secs(4),
        ..Shape::steady(200, 5, 20.0, Duration::from_secs(10))
    };
    let report = push::run(std::slice::from_ref(&client), shape)
        .await
        .unwrap();
    assert!(
        report.lifecycles >= 150,
        "only {} lifecycles ran",
        report.lifecycles
    );
    // Repeats are allowed on booth streams (at-least-once), absences are not.
    assert!(
        report.booth_receipts >= report.lifecycles * 5,
        "booth events missing: {} of {}",
        report.booth_receipts,
        report.lifecycles * 5
    );
    assert_eq!((report.lost, report.gaps, report.duplicates), (0, 0, 0));
    let storm = report.storm.expect("the storm ran");
    assert_eq!(storm.dropped, 100);
    assert!(
        storm.all_back_within.is_some(),
        "only {} of 100 booths came back",
        storm.resumed
    );
}
