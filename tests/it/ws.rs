//! The WebSocket hub of contract §7 over WSS, against the real binary.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::harness::*;
use crate::ws_client::{Connect, Received};

fn kinds(events: &[Value]) -> Vec<&str> {
    events
        .iter()
        .map(|e| e["event"].as_str().unwrap_or(""))
        .collect()
}

fn seqs(events: &[Value]) -> Vec<u64> {
    events
        .iter()
        .map(|e| e["seq"].as_u64().unwrap_or(0))
        .collect()
}

/// A paid booking in the arrival window, and the scan that approves it.
async fn paid_booking(hub: &TestHub, outlet: &Outlet) -> Value {
    let (status, booking) = hub.book(None, booking_body(&outlet.id, None, 0)).await;
    assert_eq!(status, StatusCode::CREATED, "{booking}");
    hub.pay(&booking).await;
    booking
}

async fn scan(hub: &TestHub, token: &str, booking: &Value) -> StatusCode {
    let path = format!("/session/{}/arrival", id(booking));
    hub.post(
        &path,
        Some(token),
        json!({ "qr_token": booking["qr_token"] }),
    )
    .await
    .0
}

#[tokio::test]
async fn a_booth_gets_its_approval_pushed_in_messagepack() {
    let hub = TestHub::start();
    let root = hub.root().await;
    let outlet = hub.outlet(&root, "Mall WS").await;
    let mut booth = hub.ws(&outlet.booth.token, None).await;
    let booking = paid_booking(&hub, &outlet).await;
    assert_eq!(
        scan(&hub, &outlet.booth.token, &booking).await,
        StatusCode::OK
    );
    let event = booth.event().await;
    assert_eq!(event["event"], "SESSION_APPROVED");
    assert_eq!(event["stream"], format!("booth:{}", outlet.booth.id));
    assert_eq!(event["booking_id"], booking["id"]);
    assert_eq!(event["booth_id"], outlet.booth.id.as_str());
    assert_eq!(event["outlet_id"], outlet.id.as_str());
    assert_eq!(event["status"], "ARRIVED");
    assert!(event["seq"].as_u64().is_some_and(|s| s >= 1));
    assert!(event["at"].as_str().is_some_and(|at| at.ends_with('Z')));
    booth.ack(&event).await;
}

#[tokio::test]
async fn a_dashboard_sees_the_whole_lifecycle_in_order_in_json() {
    let hub = TestHub::start();
    let root = hub.root().await;
    let outlet = hub.outlet(&root, "Mall Dashboard").await;
    let mut dashboard = hub.ws(&outlet.admin, Some("boothhub.json")).await;
    let stream = format!("outlet:{}", outlet.id);
    let subscribed = dashboard.subscribe(&[&stream], None).await;
    assert_eq!(subscribed["type"], "subscribed", "{subscribed}");
    let head = subscribed["streams"][0]["seq"].as_u64().unwrap();

    let booking = paid_booking(&hub, &outlet).await;
    let id = id(&booking);
    assert_eq!(
        scan(&hub, &outlet.booth.token, &booking).await,
        StatusCode::OK
    );
    hub.post(
        &format!("/session/{id}/start"),
        Some(&outlet.booth.token),
        json!({}),
    )
    .await;
    hub.post(
        &format!("/session/{id}/finish"),
        Some(&outlet.booth.token),
        json!({}),
    )
    .await;

    let mut events = vec![];
    while events.len() < 5 {
        events.push(dashboard.event().await);
    }
    let about_booking: Vec<Value> = events
        .iter()
        .filter(|e| e["booking_id"] == booking["id"])
        .cloned()
        .collect();
    assert_eq!(
        kinds(&about_booking),
        vec![
            "BOOKING_CREATED",
            "PAYMENT_CONFIRMED",
            "SESSION_APPROVED",
            "SESSION_STARTED",
            "SESSION_DONE"
        ]
    );
    let expected: Vec<u64> = (head + 1..=head + 5).collect();
    assert_eq!(seqs(&events), expected, "seq grows by exactly one");
    assert!(events.iter().all(|e| e["stream"] == stream.as_str()));
}

#[tokio::test]
async fn streams_outside_the_callers_scope_are_forbidden() {
    let hub = TestHub::start();
    let root = hub.root().await;
    let a = hub.outlet(&root, "Mall A").await;
    let b = hub.outlet(&root, "Mall B").await;

    let mut admin_b = hub.ws(&b.admin, Some("boothhub.json")).await;
    for stream in [
        format!("outlet:{}", a.id),
        format!("booth:{}", a.booth.id),
        "all".to_owned(),
        format!("booth:{}", uuid::Uuid::now_v7()),
    ] {
        let answer = admin_b.subscribe(&[&stream], None).await;
        assert_eq!(
            (answer["type"].as_str(), answer["code"].as_str()),
            (Some("error"), Some("FORBIDDEN")),
            "{stream}: {answer}"
        );
    }
    let own = admin_b
        .subscribe(&[&format!("booth:{}", b.booth.id)], None)
        .await;
    assert_eq!(
        own["type"], "subscribed",
        "an admin may follow a booth of its outlet"
    );
    let garbage = admin_b.subscribe(&["outlets:everything"], None).await;
    assert_eq!(garbage["type"], "error");

    let mut booth = hub.ws(&a.booth.token, Some("boothhub.json")).await;
    assert_eq!(
        booth.message().await["type"],
        "subscribed",
        "its own stream, at connect"
    );
    let answer = booth.subscribe(&[&format!("outlet:{}", a.id)], None).await;
    assert_eq!(answer["code"], "FORBIDDEN");

    let mut sup = hub.ws(&root, Some("boothhub.json")).await;
    let answer = sup
        .subscribe(&["all", &format!("outlet:{}", a.id)], None)
        .await;
    assert_eq!(answer["type"], "subscribed");
    assert_eq!(answer["streams"].as_array().map(Vec::len), Some(2));

    // Nothing of outlet A reaches admin B.
    let (_, booking) = hub.book(None, booking_body(&a.id, None, 0)).await;
    let events = admin_b.drain_events(Duration::from_millis(500)).await;
    assert!(
        events.iter().all(|e| e["booking_id"] != booking["id"]),
        "{events:?}"
    );

    assert_eq!(
        hub.ws_connect(Connect {
            cookie: None,
            token: None,
            protocol: None,
            recv_buffer: None,
            origin: None,
        })
        .await
        .err(),
        Some(401)
    );
    assert_eq!(
        hub.ws_connect(Connect {
            cookie: None,
            token: Some("bhl_forged"),
            protocol: None,
            recv_buffer: None,
            origin: None,
        })
        .await
        .err(),
        Some(401)
    );
    // The web UI authenticates with its session cookie, from the hub's own origin.
    let (set_cookie, _) = hub.login_with_cookie().await;
    let cookie = set_cookie.split(';').next().unwrap_or("").to_owned();
    let same_origin = format!("https://localhost:{}", hub.addr.port());
    let mut web = hub
        .ws_connect(Connect {
            cookie: Some(&cookie),
            protocol: Some("boothhub.json"),
            origin: Some(&same_origin),
            ..Connect::default()
        })
        .await
        .unwrap();
    assert_eq!(web.subscribe(&["all"], None).await["type"], "subscribed");
    let unsupported = Connect {
        cookie: None,
        token: Some(&root),
        protocol: Some("graphql-ws"),
        recv_buffer: None,
        origin: None,
    };
    assert_eq!(hub.ws_connect(unsupported).await.err(), Some(400));
}

#[tokio::test]
async fn resume_after_a_disconnect_returns_exactly_the_missed_events() {
    let hub = TestHub::start();
    let root = hub.root().await;
    let outlet = hub.outlet(&root, "Mall Resume").await;
    for n in 2..=6 {
        hub.booth(&root, &outlet.id, &format!("Booth {n}")).await;
    }
    let stream = format!("outlet:{}", outlet.id);
    let mut dashboard = hub.ws(&outlet.admin, None).await;
    dashboard.subscribe(&[&stream], Some((&stream, 0))).await;
    hub.book(None, booking_body(&outlet.id, None, 30)).await;
    let seen = dashboard.drain_events(Duration::from_millis(500)).await;
    let last = seen.last().unwrap()["seq"].as_u64().unwrap();
    assert_eq!(
        seqs(&seen),
        (1..=last).collect::<Vec<_>>(),
        "resume from 0 replays everything"
    );
    dashboard.close().await;

    for minutes in [60, 90, 120] {
        hub.book(None, booking_body(&outlet.id, None, minutes))
            .await;
    }
    let mut again = hub.ws(&outlet.admin, None).await;
    let answer = again.subscribe(&[&stream], Some((&stream, last))).await;
    let head = answer["streams"][0]["seq"].as_u64().unwrap();
    assert_eq!(head, last + 3);
    // Live events right behind the replay: no gap and no duplicate at the seam.
    hub.book(None, booking_body(&outlet.id, None, 150)).await;
    let missed = again.drain_events(Duration::from_millis(500)).await;
    assert_eq!(seqs(&missed), (last + 1..=last + 4).collect::<Vec<_>>());
    assert_eq!(kinds(&missed), vec!["BOOKING_CREATED"; 4]);
}

#[tokio::test]
async fn resume_after_a_kill_9_restart_returns_exactly_the_missed_events() {
    let mut hub = TestHub::start();
    let root = hub.root().await;
    let outlet = hub.outlet(&root, "Mall Crash").await;
    for n in 2..=4 {
        hub.booth(&root, &outlet.id, &format!("Booth {n}")).await;
    }
    let stream = format!("outlet:{}", outlet.id);
    let mut dashboard = hub.ws(&root, Some("boothhub.json")).await;
    dashboard.subscribe(&[&stream], Some((&stream, 0))).await;
    hub.book(None, booking_body(&outlet.id, None, 30)).await;
    let seen = dashboard.drain_events(Duration::from_millis(500)).await;
    let last = seen.last().unwrap()["seq"].as_u64().unwrap();
    for minutes in [60, 90] {
        hub.book(None, booking_body(&outlet.id, None, minutes))
            .await;
    }
    hub.kill();
    drop(dashboard);
    hub.restart();
    let mut again = hub.ws(&root, Some("boothhub.json")).await;
    again.subscribe(&[&stream], Some((&stream, last))).await;
    let missed = again.drain_events(Duration::from_millis(500)).await;
    let missed_kinds: Vec<&str> = kinds(&missed);
    assert_eq!(
        seqs(&missed),
        (last + 1..=last + missed.len() as u64).collect::<Vec<_>>(),
        "gapless"
    );
    assert_eq!(
        missed_kinds
            .iter()
            .filter(|k| **k == "BOOKING_CREATED")
            .count(),
        2,
        "{missed_kinds:?}"
    );
}

#[tokio::test]
async fn an_unacked_booth_event_is_sent_six_times_then_dead_lettered() {
    let hub = TestHub::start_with(&[("BOOTHHUB_WS_RETRY_BASE_MS", "50")]);
    let root = hub.root().await;
    let outlet = hub.outlet(&root, "Mall Retry").await;
    let mut dashboard = hub.ws(&outlet.admin, Some("boothhub.json")).await;
    dashboard
        .subscribe(&[&format!("outlet:{}", outlet.id)], None)
        .await;
    let mut booth = hub.ws(&outlet.booth.token, Some("boothhub.json")).await;
    let booking = paid_booking(&hub, &outlet).await;
    assert_eq!(
        scan(&hub, &outlet.booth.token, &booking).await,
        StatusCode::OK
    );

    // The booth never acks: the approval comes 6 times (the first and 5 retries), then stops.
    let deliveries = booth.drain_events(Duration::from_secs(3)).await;
    let approvals: Vec<&Value> = deliveries
        .iter()
        .filter(|e| e["event"] == "SESSION_APPROVED")
        .collect();
    assert_eq!(approvals.len(), 6, "{deliveries:?}");
    assert!(
        approvals.iter().all(|e| e["seq"] == approvals[0]["seq"]),
        "the same event each time"
    );

    let events = dashboard.drain_events(Duration::from_millis(500)).await;
    let failed: Vec<&Value> = events
        .iter()
        .filter(|e| e["event"] == "DELIVERY_FAILED")
        .collect();
    assert_eq!(failed.len(), 1, "{events:?}");
    assert_eq!(failed[0]["booth_id"], outlet.booth.id.as_str());
    assert_eq!(failed[0]["data"]["seq"], approvals[0]["seq"]);
    assert_eq!(failed[0]["data"]["deliveries"], 6);

    let (status, letters) = hub.get("/dead-letters", Some(&outlet.admin)).await;
    assert_eq!(status, StatusCode::OK, "{letters}");
    assert_eq!(letters["items"][0]["seq"], approvals[0]["seq"]);
    assert_eq!(letters["items"][0]["event"]["event"], "SESSION_APPROVED");

    // An acked event is not sent again.
    hub.booth(&root, &outlet.id, "Booth 2").await;
    let second = paid_booking(&hub, &outlet).await;
    assert_eq!(
        scan(&hub, &outlet.booth.token, &second).await,
        StatusCode::OK
    );
    let event = booth.event().await;
    booth.ack(&event).await;
    let after = booth.drain_events(Duration::from_secs(1)).await;
    assert!(after.iter().all(|e| e["seq"] != event["seq"]), "{after:?}");
}

#[tokio::test]
async fn a_stalled_reader_is_closed_with_4008_while_others_keep_receiving() {
    let hub = TestHub::start_with(&[
        ("BOOTHHUB_WS_QUEUE_CAPACITY", "8"),
        ("BOOTHHUB_SOCKET_SEND_BUFFER_BYTES", "16384"),
    ]);
    let root = hub.root().await;
    let outlet = hub.outlet(&root, "Mall Stall").await;
    let stream = format!("outlet:{}", outlet.id);
    let stalled_options = Connect {
        cookie: None,
        token: Some(&root),
        protocol: Some("boothhub.json"),
        recv_buffer: Some(2048),
        origin: None,
    };
    let mut stalled = hub.ws_connect(stalled_options).await.unwrap();
    stalled.subscribe(&[&stream], None).await;
    let mut healthy = hub.ws(&outlet.admin, Some("boothhub.json")).await;
    healthy.subscribe(&[&stream], None).await;

    // The stalled client reads nothing while 300 events (override reasons make them large) go out.
    let (_, booking) = hub.book(None, booking_body(&outlet.id, None, 0)).await;
    let path = format!("/session/{}/override", id(&booking));
    let reason = "r".repeat(480);
    let overrides = async {
        for _ in 0..300 {
            let body = json!({ "status": "AWAITING_CUSTOMER", "reason": reason });
            let (status, _) = hub.post(&path, Some(&root), body).await;
            assert_eq!(status, StatusCode::OK);
        }
    };
    let reading = async {
        let mut events = vec![];
        while events.len() < 301 {
            match healthy.receive(Duration::from_secs(10)).await {
                Received::Message(message) if message["type"] == "event" => events.push(message),
                Received::Message(_) => {}
                other => panic!("the healthy client lost its connection: {other:?}"),
            }
        }
        events
    };
    let ((), events) = tokio::join!(overrides, reading);
    assert_eq!(events.len(), 301, "the healthy client gets every event");
    let last_healthy = events.last().unwrap()["seq"].as_u64().unwrap();

    // The stalled one, read at last: some events, then the close with 4008.
    let mut got = vec![];
    let code = loop {
        match stalled.receive(Duration::from_secs(10)).await {
            Received::Message(message) if message["type"] == "event" => {
                got.push(message["seq"].as_u64().unwrap())
            }
            Received::Message(_) => {}
            Received::Closed(code) => break code,
            Received::Nothing => break None,
        }
    };
    assert_eq!(code, Some(4008), "after {} events", got.len());
    assert!((got.len() as u64) < last_healthy, "it was cut off early");
    // It resumes from its last seq and misses nothing.
    let last = got.last().copied().unwrap_or(0);
    let mut resumed = hub.ws(&root, Some("boothhub.json")).await;
    resumed.subscribe(&[&stream], Some((&stream, last))).await;
    let rest = resumed.drain_events(Duration::from_millis(800)).await;
    assert_eq!(seqs(&rest), (last + 1..=last_healthy).collect::<Vec<_>>());
}

#[tokio::test]
async fn garbage_frames_get_errors_and_hurt_nobody() {
    use tokio_tungstenite::tungstenite::Message;
    let hub = TestHub::start();
    let root = hub.root().await;
    let outlet = hub.outlet(&root, "Mall Garbage").await;
    let stream = format!("outlet:{}", outlet.id);
    let mut bystander = hub.ws(&outlet.admin, None).await;
    bystander.subscribe(&[&stream], None).await;

    let mut rude = hub.ws(&root, Some("boothhub.json")).await;
    for frame in [
        Message::text("{not json"),
        Message::text(r#"{"type":"dance"}"#),
        Message::text(r#"{"type":"subscribe","streams":"all"}"#),
        Message::binary(vec![0xc1, 0x00, 0xff]),
        Message::binary(Vec::new()),
    ] {
        rude.send_raw(frame).await;
        let answer = rude.message().await;
        assert_eq!(answer["type"], "error", "{answer}");
        assert!(answer["code"].is_string());
    }
    // Still served after the garbage.
    assert_eq!(rude.subscribe(&["all"], None).await["type"], "subscribed");

    let mut evil = hub.ws(&root, Some("boothhub.json")).await;
    let invalid_utf8 = tokio_tungstenite::tungstenite::protocol::frame::Frame::message(
        vec![0xff, 0xfe],
        tokio_tungstenite::tungstenite::protocol::frame::coding::OpCode::Data(
            tokio_tungstenite::tungstenite::protocol::frame::coding::Data::Text,
        ),
        true,
    );
    evil.send_raw(Message::Frame(invalid_utf8)).await;
    assert_eq!(
        evil.receive(Duration::from_secs(5)).await,
        Received::Closed(Some(1007))
    );

    let (_, booking) = hub.book(None, booking_body(&outlet.id, None, 0)).await;
    let event = bystander.event().await;
    assert_eq!(event["booking_id"], booking["id"]);
    let (status, _) = hub.get("/healthz", None).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn presence_online_offline_and_last_seen() {
    let hub = TestHub::start();
    let root = hub.root().await;
    let outlet = hub.outlet(&root, "Mall Presence").await;
    let mut dashboard = hub.ws(&outlet.admin, Some("boothhub.json")).await;
    dashboard
        .subscribe(&[&format!("outlet:{}", outlet.id)], None)
        .await;

    let (_, booths) = hub.get("/booths", Some(&outlet.admin)).await;
    assert_eq!(booths["items"][0]["online"], false);

    let first = hub.ws(&outlet.booth.token, None).await;
    let second = hub.ws(&outlet.booth.token, Some("boothhub.json")).await;
    let online = dashboard.event().await;
    assert_eq!(
        (online["event"].as_str(), online["booth_id"].as_str()),
        (Some("BOOTH_ONLINE"), Some(outlet.booth.id.as_str()))
    );
    let (_, booths) = hub.get("/booths", Some(&outlet.admin)).await;
    assert_eq!(booths["items"][0]["online"], true);
    assert!(booths["items"][0]["last_seen_at"].is_string());

    first.close().await;
    assert!(
        dashboard
            .drain_events(Duration::from_millis(500))
            .await
            .is_empty(),
        "one connection is still open"
    );
    second.close().await;
    let offline = dashboard.event().await;
    assert_eq!(offline["event"], "BOOTH_OFFLINE");
    let (_, booths) = hub.get("/booths", Some(&outlet.admin)).await;
    assert_eq!(booths["items"][0]["online"], false);
    assert!(booths["items"][0]["last_seen_at"].is_string());
}

#[tokio::test]
async fn a_silent_connection_is_closed_and_its_booth_goes_offline() {
    let hub = TestHub::start_with(&[
        ("BOOTHHUB_WS_PING_INTERVAL_SECONDS", "1"),
        ("BOOTHHUB_WS_IDLE_TIMEOUT_SECONDS", "2"),
    ]);
    let root = hub.root().await;
    let outlet = hub.outlet(&root, "Mall Silent").await;
    let mut dashboard = hub.ws(&outlet.admin, Some("boothhub.json")).await;
    dashboard
        .subscribe(&[&format!("outlet:{}", outlet.id)], None)
        .await;
    // A live client answers pings (the client library pongs while it reads) and stays.
    let mut booth = hub.ws(&outlet.booth.token, None).await;
    let subscribed = booth.message().await;
    assert_eq!(
        subscribed["type"], "subscribed",
        "a booth is subscribed to its stream at connect"
    );
    assert_eq!(
        subscribed["streams"][0]["stream"],
        format!("booth:{}", outlet.booth.id)
    );
    assert_eq!(dashboard.event().await["event"], "BOOTH_ONLINE");
    let (booth_side, dashboard_side) = tokio::join!(
        booth.receive(Duration::from_secs(3)),
        dashboard.receive(Duration::from_secs(3))
    );
    assert_eq!(
        booth_side,
        Received::Nothing,
        "still open after 3 s of pings"
    );
    assert_eq!(dashboard_side, Received::Nothing);
    // A silent one (reads nothing, so answers nothing) is closed after the idle timeout; the
    // dashboard, reading, stays.
    let offline = dashboard.event().await;
    assert_eq!(offline["event"], "BOOTH_OFFLINE");
    assert!(matches!(
        booth.receive(Duration::from_secs(2)).await,
        Received::Closed(_)
    ));
}

/// Many upgrades at once, with their subscribes, while bookings commit: every one is answered
/// quickly on either store (on the CQL store an upgrade once waited more than 20 s).
#[tokio::test]
async fn many_connections_opened_at_once_are_all_answered_quickly() {
    let hub = TestHub::start();
    let root = hub.root().await;
    let mut outlets = vec![];
    for n in 0..5 {
        outlets.push(hub.outlet(&root, &format!("Mall Crowd {n}")).await);
    }
    let hub = &hub;
    let open = |token: String, stream: String| async move {
        let started = std::time::Instant::now();
        let mut socket = tokio::time::timeout(
            Duration::from_secs(10),
            hub.ws(&token, Some("boothhub.json")),
        )
        .await
        .expect("the upgrade was answered within 10 s");
        let answer = tokio::time::timeout(
            Duration::from_secs(10),
            socket.subscribe(&[stream.as_str()], None),
        )
        .await
        .expect("the subscribe was answered within 10 s");
        assert_eq!(answer["type"], "subscribed", "{answer}");
        (started.elapsed(), socket)
    };
    let mut opening = vec![];
    for _ in 0..20 {
        opening.push(open(root.clone(), "all".into()));
    }
    for outlet in &outlets {
        for _ in 0..4 {
            opening.push(open(outlet.admin.clone(), format!("outlet:{}", outlet.id)));
        }
    }
    let booths = outlets.iter().map(|outlet| async {
        let started = std::time::Instant::now();
        let mut booth = tokio::time::timeout(
            Duration::from_secs(10),
            hub.ws(&outlet.booth.token, Some("boothhub.json")),
        )
        .await
        .expect("the booth's upgrade was answered within 10 s");
        assert_eq!(booth.message().await["type"], "subscribed");
        (started.elapsed(), booth)
    });
    let bookings = outlets.iter().map(|outlet| paid_booking(hub, outlet));
    let (sockets, booths, _) = tokio::join!(
        futures::future::join_all(opening),
        futures::future::join_all(booths),
        futures::future::join_all(bookings)
    );
    let slowest = sockets
        .iter()
        .map(|(took, _)| *took)
        .chain(booths.iter().map(|(took, _)| *took))
        .max()
        .unwrap_or_default();
    assert!(
        slowest < Duration::from_secs(5),
        "the slowest of {} connections took {slowest:?}",
        sockets.len() + booths.len()
    );
}
