//! Several nodes on one keyspace (contract §8), each a real `boothhub serve` on the CQL test
//! server: membership through the store and events pushed across nodes. On the embedded store
//! a cluster address is refused at start, with the reason.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::harness::*;

const SECRET: &str = "cluster-secret-for-tests";

fn node_env(keyspace: &str, cluster_port: u16) -> Vec<(String, String)> {
    vec![
        ("BOOTHHUB_SCYLLA_KEYSPACE".into(), keyspace.into()),
        (
            "BOOTHHUB_CLUSTER_LISTEN".into(),
            format!("127.0.0.1:{cluster_port}"),
        ),
        ("BOOTHHUB_CLUSTER_SECRET".into(), SECRET.into()),
    ]
}

fn start_node(keyspace: &str, cluster_port: u16) -> TestHub {
    let env = node_env(keyspace, cluster_port);
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    TestHub::start_with(&env)
}

/// The cluster addresses `GET /cluster` lists on `hub`, sorted.
async fn addresses(hub: &TestHub, token: &str) -> Vec<String> {
    let (status, body) = hub.get("/cluster", Some(token)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let mut listed: Vec<String> = body["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .map(|n| n["address"].as_str().unwrap_or("").to_owned())
        .collect();
    listed.sort();
    listed
}

/// Waits until `hub` lists exactly `want`; answers how long that took.
async fn until_listed(hub: &TestHub, token: &str, want: &[&str], within: Duration) -> Duration {
    let started = Instant::now();
    loop {
        let listed = addresses(hub, token).await;
        if listed == want {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < within,
            "after {within:?} the nodes are {listed:?}, not {want:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// `boothhub cluster status` on the CQL test server's `keyspace`: what it prints.
fn cluster_status(keyspace: &str) -> String {
    let nodes =
        std::env::var("BOOTHHUB_TEST_SCYLLA_NODES").unwrap_or_else(|_| "127.0.0.1:9042".into());
    let data = tempfile::tempdir().unwrap();
    let config = data.path().join("empty.toml");
    std::fs::write(&config, "").unwrap();
    let output = std::process::Command::new(binary())
        .args(["cluster", "status"])
        .env_clear()
        .env("BOOTHHUB_DATA_DIR", data.path())
        .env("BOOTHHUB_CONFIG", &config)
        .env("BOOTHHUB_STORE", "scylla")
        .env("BOOTHHUB_SCYLLA_NODES", nodes)
        .env("BOOTHHUB_SCYLLA_KEYSPACE", keyspace)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

#[tokio::test]
async fn a_cluster_address_needs_the_cql_store() {
    if !on_embedded_store() {
        return; // the CQL runs start clusters below
    }
    let data = tempfile::tempdir().unwrap();
    let config = data.path().join("empty.toml");
    std::fs::write(&config, "").unwrap();
    let output = std::process::Command::new(binary())
        .arg("serve")
        .env_clear()
        .env("BOOTHHUB_DATA_DIR", data.path())
        .env("BOOTHHUB_CONFIG", &config)
        .env("BOOTHHUB_WEBHOOK_SECRET", WEBHOOK_SECRET)
        .env("BOOTHHUB_CLUSTER_LISTEN", "127.0.0.1:7443")
        .env("BOOTHHUB_CLUSTER_SECRET", SECRET)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    assert!(
        stderr.contains("BOOTHHUB_CLUSTER_LISTEN") && stderr.contains("store = scylla"),
        "{stderr}"
    );
}

#[tokio::test]
async fn a_node_alone_lists_itself() {
    let hub = TestHub::start();
    let root = hub.root().await;
    let (status, body) = hub.get("/cluster", Some(&root)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let nodes = body["nodes"].as_array().unwrap();
    assert_eq!(nodes.len(), 1, "{body}");
    assert_eq!(nodes[0]["address"], hub.addr.to_string());
    let outlet = hub.outlet(&root, "Mall Cluster Alone").await;
    let (status, _) = hub.get("/cluster", Some(&outlet.admin)).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "super admins only");
    let (status, _) = hub.get("/cluster", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn nodes_on_one_keyspace_list_each_other_and_push_each_others_events() {
    if on_embedded_store() {
        return; // a cluster needs the CQL store (refusal tested above)
    }
    let keyspace = format!("it_{}", uuid::Uuid::new_v4().simple());
    let a = start_node(&keyspace, 17_401);
    let mut b = start_node(&keyspace, 17_402);
    let (root_a, root_b) = (a.root().await, b.root().await);
    let both = ["127.0.0.1:17401", "127.0.0.1:17402"];
    until_listed(&a, &root_a, &both, Duration::from_secs(5)).await;
    until_listed(&b, &root_b, &both, Duration::from_secs(5)).await;
    for node in [&a, &b] {
        let (status, body) = node.get("/readyz", None).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    let listed = cluster_status(&keyspace);
    assert!(listed.contains("2 live node(s)"), "{listed}");
    for address in both {
        assert!(listed.contains(address), "{listed}");
    }

    // A dashboard on each node; the changes are made on node a only.
    let outlet = a.outlet(&root_a, "Mall Cluster").await;
    let mut near = a.ws(&root_a, Some("boothhub.json")).await;
    let mut far = b.ws(&root_b, Some("boothhub.json")).await;
    assert_eq!(near.subscribe(&["all"], None).await["type"], "subscribed");
    assert_eq!(far.subscribe(&["all"], None).await["type"], "subscribed");
    let mut outlet_far = b.ws(&outlet.admin, Some("boothhub.json")).await;
    let stream = format!("outlet:{}", outlet.id);
    let subscribed = outlet_far.subscribe(&[stream.as_str()], None).await;
    assert_eq!(subscribed["type"], "subscribed", "{subscribed}");

    let mut made = vec![];
    for minutes in [0, 60, 120] {
        let (status, booking) = a
            .book(Some(&root_a), booking_body(&outlet.id, None, minutes))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{booking}");
        a.pay(&booking).await;
        made.push(id(&booking));
    }
    // Each booking: BOOKING_CREATED and PAYMENT_CONFIRMED, on `all` and on the outlet stream.
    let mut seen_near: Vec<Value> = vec![];
    let mut seen_far: Vec<Value> = vec![];
    let mut outlet_events: Vec<Value> = vec![];
    for _ in 0..6 {
        seen_near.push(near.event().await);
        seen_far.push(far.event().await);
        outlet_events.push(outlet_far.event().await);
    }
    let key = |e: &Value| {
        (
            e["seq"].as_u64().unwrap_or(0),
            e["event"].as_str().unwrap_or("").to_owned(),
            e["booking_id"].as_str().unwrap_or("").to_owned(),
        )
    };
    let near_keys: Vec<_> = seen_near.iter().map(key).collect();
    let far_keys: Vec<_> = seen_far.iter().map(key).collect();
    assert_eq!(
        far_keys, near_keys,
        "the far dashboard sees what the near one does"
    );
    let seqs: Vec<u64> = outlet_events
        .iter()
        .map(|e| e["seq"].as_u64().unwrap_or(0))
        .collect();
    let first = seqs[0];
    assert_eq!(
        seqs,
        (first..first + 6).collect::<Vec<_>>(),
        "in seq order, no gap"
    );
    for booking in &made {
        assert!(
            outlet_events
                .iter()
                .any(|e| e["booking_id"] == json!(booking) && e["event"] == "PAYMENT_CONFIRMED"),
            "{booking} paid, seen on node b"
        );
    }
    // Nothing more (no duplicate) arrives.
    assert_eq!(
        far.receive(Duration::from_millis(500)).await,
        crate::ws_client::Received::Nothing
    );

    // A logout on node a closes the token's socket on node b with 4401 within 2 s.
    let token = a.login(ROOT_EMAIL, ROOT_PASSWORD).await;
    let mut elsewhere = b.ws(&token, Some("boothhub.json")).await;
    assert_eq!(
        elsewhere.subscribe(&["all"], None).await["type"],
        "subscribed"
    );
    let (status, body) = a.post("/auth/logout", Some(&token), json!({})).await;
    assert!(status.is_success(), "{status}: {body}");
    assert_eq!(
        elsewhere.close_code_within(Duration::from_secs(2)).await,
        Some(4401)
    );

    // SIGTERM: b leaves at once; a lists itself alone.
    b.terminate();
    let took = until_listed(&a, &root_a, &["127.0.0.1:17401"], Duration::from_secs(5)).await;
    assert!(took < Duration::from_secs(5), "left after {took:?}");

    // kill -9: c's heartbeat stops and a forgets it within the heartbeat's TTL.
    let mut c = start_node(&keyspace, 17_403);
    until_listed(
        &a,
        &root_a,
        &["127.0.0.1:17401", "127.0.0.1:17403"],
        Duration::from_secs(5),
    )
    .await;
    // A booth connected only to c: a dashboard on a sees it come online, and go offline
    // within 20 s of c's death (contract §8).
    let mut watcher = a.ws(&outlet.admin, Some("boothhub.json")).await;
    let subscribed = watcher.subscribe(&[stream.as_str()], None).await;
    assert_eq!(subscribed["type"], "subscribed", "{subscribed}");
    let mut booth = c.ws(&outlet.booth.token, Some("boothhub.json")).await;
    assert_eq!(booth.message().await["type"], "subscribed");
    let online = watcher.event().await;
    assert_eq!(online["event"], "BOOTH_ONLINE", "{online}");
    c.kill();
    let killed = Instant::now();
    let took = until_listed(&a, &root_a, &["127.0.0.1:17401"], Duration::from_secs(15)).await;
    assert!(took <= Duration::from_secs(15), "forgot after {took:?}");
    let offline = tokio::time::timeout(Duration::from_secs(20), watcher.event())
        .await
        .expect("BOOTH_OFFLINE within 20 s");
    assert_eq!(offline["event"], "BOOTH_OFFLINE", "{offline}");
    assert_eq!(offline["booth_id"], json!(outlet.booth.id));
    assert!(killed.elapsed() < Duration::from_secs(20));
    let (status, listed) = a.get("/booths", Some(&outlet.admin)).await;
    assert_eq!(status, StatusCode::OK, "{listed}");
    assert_eq!(listed["items"][0]["online"], false, "{listed}");
    b.kill();
}

/// One booking, two nodes, the same scan on both at once: the node that does not hold the
/// booking hands its scan to the one that does, whose session actor takes the two in turn (the
/// second is a repeated scan, answered as one node would), so the booking is approved once
/// and its history holds one `SESSION_APPROVED`.
#[tokio::test]
async fn the_same_scan_on_two_nodes_at_once_approves_once() {
    if on_embedded_store() {
        return; // a cluster needs the CQL store
    }
    let (a, b) = two_nodes(17_411).await;
    let root = a.root().await;
    let mut dashboard = b.ws(&root, Some("boothhub.json")).await;
    assert_eq!(
        dashboard.subscribe(&["all"], None).await["type"],
        "subscribed"
    );
    for n in 0..4 {
        let outlet = a.outlet(&root, &format!("Mall Cluster Race {n}")).await;
        let (status, booking) = a
            .book(
                Some(&root),
                booking_body(&outlet.id, Some(&outlet.booth.id), 0),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{booking}");
        a.pay(&booking).await;
        let path = format!("/session/{}/arrival", id(&booking));
        let body = json!({ "qr_token": booking["qr_token"] });
        let token = outlet.booth.token.as_str();
        let ((on_a, _), (on_b, _)) = tokio::join!(
            a.post(&path, Some(token), body.clone()),
            b.post(&path, Some(token), body.clone())
        );
        // The second scan of an arrived booking is a repeat: 200, no new event.
        assert_eq!([on_a.as_u16(), on_b.as_u16()], [200, 200]);
        let (status, history) = b
            .get(&format!("/bookings/{}/events", id(&booking)), Some(&root))
            .await;
        assert_eq!(status, StatusCode::OK, "{history}");
        let approvals = history["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["event"] == "SESSION_APPROVED")
            .count();
        assert_eq!(approvals, 1, "{history}");
    }
    // No gap, in order.
    let (events, _) = drain(&mut dashboard, Duration::from_secs(2)).await;
    let seqs = seqs_of(&events);
    let first = seqs[0];
    assert_eq!(seqs, (first..first + seqs.len() as u64).collect::<Vec<_>>());
    // One of each pair of scans reached the node that does not hold the booking: handed over.
    let forwarded = r#"boothhub_cluster_forwarded_requests_total{result="answered"}"#;
    let handed = a.metric(forwarded).await + b.metric(forwarded).await;
    assert!(handed >= 4.0, "{handed} requests handed over");

    // The node-to-node listener serves peers only: unsigned, or signed with another secret,
    // a request is refused.
    let client = reqwest::Client::builder()
        .danger_accept_invalid_certs(true)
        .build()
        .unwrap();
    let forged = format!(
        "{}.nonce.{}",
        chrono::Utc::now().timestamp(),
        "ab".repeat(32)
    );
    for auth in [None, Some(forged)] {
        let mut request = client
            .get("https://127.0.0.1:17411/cluster")
            .bearer_auth(&root);
        if let Some(auth) = auth {
            request = request.header("x-boothhub-peer-auth", auth);
        }
        let answer = request
            .send()
            .await
            .expect("the node-to-node listener answers");
        assert_eq!(answer.status(), StatusCode::UNAUTHORIZED);
    }
}

/// Two nodes on a new keyspace, with cluster ports `port` and `port + 1`, once they share the
/// shards' leases.
async fn two_nodes(port: u16) -> (TestHub, TestHub) {
    let keyspace = format!("it_{}", uuid::Uuid::new_v4().simple());
    let a = start_node(&keyspace, port);
    let b = start_node(&keyspace, port + 1);
    until_shared(&[&a, &b], Duration::from_secs(10)).await;
    (a, b)
}

/// Waits until the shards' leases are shared among `nodes`: all 32 held, each node some.
async fn until_shared(nodes: &[&TestHub], within: Duration) {
    let started = Instant::now();
    loop {
        let mut held = vec![];
        for node in nodes {
            held.push(node.metric("boothhub_cluster_leases_held").await);
        }
        if held.iter().sum::<f64>() == 32.0 && held.iter().all(|h| *h > 0.0) {
            // Every node reads the leases four times a second: then each knows every holder.
            tokio::time::sleep(Duration::from_millis(600)).await;
            return;
        }
        assert!(
            started.elapsed() < within,
            "after {within:?} the nodes hold {held:?} leases"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A node paused (SIGSTOP) past its leases: the other takes its bookings over and applies the
/// deadlines that fell due meanwhile; woken up (SIGCONT), the paused node applies none of them
/// again (its leases lapsed; the store fences its token), then serves again as a member.
#[tokio::test]
async fn a_paused_node_acts_on_nothing_it_lost() {
    if on_embedded_store() {
        return; // a cluster needs the CQL store
    }
    let (a, b) = two_nodes(17_441).await;
    let root = b.root().await;
    let (status, body) = b
        .put(
            "/config/system",
            Some(&root),
            json!({ "arrival_tolerance_minutes": 0 }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // Unpaid, each due in 6 s, made on `a`: a node makes bookings in shards it holds.
    let due = chrono::Utc::now() + chrono::Duration::seconds(6);
    let mut doomed = vec![];
    for n in 0..4 {
        let outlet = a.outlet(&root, &format!("Mall Paused {n}")).await;
        let (status, booking) = a
            .book(
                Some(&root),
                booking_at(&outlet.id, Some(&outlet.booth.id), due),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{booking}");
        doomed.push(id(&booking));
    }
    // Their actors (and timers) run on `a`, started beside the answers.
    let started = Instant::now();
    while a.metric("boothhub_session_actors").await < doomed.len() as f64 {
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "the node that made the bookings runs their actors"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    a.signal("STOP");
    let paused = Instant::now();
    for booking in &doomed {
        b.wait_status(&root, booking, "EXPIRED", Duration::from_secs(25))
            .await;
    }
    let took_over = paused.elapsed();
    assert!(took_over < Duration::from_secs(25), "{took_over:?}");
    a.signal("CONT");
    // Its timers fire late and its leases come back to it: nothing is applied twice.
    until_shared(&[&a, &b], Duration::from_secs(20)).await;
    for booking in &doomed {
        let (status, history) = a
            .get(&format!("/bookings/{booking}/events"), Some(&root))
            .await;
        assert_eq!(status, StatusCode::OK, "{history}");
        let kinds: Vec<&str> = history["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|e| e["event"].as_str())
            .collect();
        assert_eq!(kinds, ["BOOKING_CREATED", "SESSION_EXPIRED"], "{booking}");
    }
}

/// Reads events from `client` until it has been quiet for `quiet` (or closed): their seqs.
async fn drain(client: &mut crate::ws_client::WsClient, quiet: Duration) -> (Vec<Value>, bool) {
    let mut events = vec![];
    loop {
        match client.receive(quiet).await {
            crate::ws_client::Received::Message(message) if message["type"] == "event" => {
                events.push(message);
            }
            crate::ws_client::Received::Message(_) => {}
            crate::ws_client::Received::Nothing => return (events, false),
            crate::ws_client::Received::Closed(_) => return (events, true),
        }
    }
}

fn seqs_of(events: &[Value]) -> Vec<u64> {
    events
        .iter()
        .map(|e| e["seq"].as_u64().unwrap_or(0))
        .collect()
}

/// Three nodes, a dashboard on each, bookings made through all of them; the timekeeper is
/// killed (-9) while an unpaid booking's arrival deadline falls due. The dead node's
/// dashboard reconnects to another node and resumes from its last seq: every dashboard ends
/// with the same gapless `all` stream, every booking answered 201 is in it, and the deadline
/// is applied once, by the new timekeeper. The killed node then rejoins.
#[tokio::test]
async fn killing_the_timekeeper_under_load_loses_nothing_and_its_deadline_fires_once() {
    if on_embedded_store() {
        return; // a cluster needs the CQL store
    }
    let keyspace = format!("it_{}", uuid::Uuid::new_v4().simple());
    let mut a = start_node(&keyspace, 17_421);
    let b = start_node(&keyspace, 17_422);
    let c = start_node(&keyspace, 17_423);
    let root = a.root().await;
    let all = ["127.0.0.1:17421", "127.0.0.1:17422", "127.0.0.1:17423"];
    until_listed(&a, &root, &all, Duration::from_secs(5)).await;
    let outlet = a.outlet(&root, "Mall Failover").await;
    let (status, body) = a
        .put(
            "/config/system",
            Some(&root),
            json!({ "arrival_tolerance_minutes": 0 }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let mut dashboards = vec![];
    for node in [&a, &b, &c] {
        let mut dashboard = node.ws(&root, Some("boothhub.json")).await;
        assert_eq!(
            dashboard.subscribe(&["all"], None).await["type"],
            "subscribed"
        );
        dashboards.push(dashboard);
    }
    // Unpaid, due in 6 s: its deadline falls due while the timekeeper (a, the oldest) is dead.
    let due = chrono::Utc::now() + chrono::Duration::seconds(6);
    let (status, doomed) = b
        .book(
            Some(&root),
            booking_at(&outlet.id, Some(&outlet.booth.id), due),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{doomed}");
    let doomed = id(&doomed);

    let mut made = vec![];
    let paid_body = |n: i64| {
        let mut body = booking_body(&outlet.id, None, 30 * n);
        body["paid"] = json!(true);
        body
    };
    for n in 1..=3 {
        let (status, booking) = a.book(Some(&root), paid_body(n)).await;
        assert_eq!(status, StatusCode::CREATED, "{booking}");
        made.push(id(&booking));
    }
    // The first dashboard's node dies; what it read so far is its resume point.
    let (before, _) = drain(&mut dashboards[0], Duration::from_millis(500)).await;
    let last = *seqs_of(&before).last().expect("events before the kill");
    a.kill();
    let killed = Instant::now();
    for n in 4..=12 {
        let node = if n % 2 == 0 { &b } else { &c };
        let (status, booking) = node.book(Some(&root), paid_body(n)).await;
        if status == StatusCode::CREATED {
            made.push(id(&booking));
        } else {
            assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{booking}");
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let (_, closed) = drain(&mut dashboards[0], Duration::from_millis(200)).await;
    assert!(closed, "the dead node's socket closed");
    let mut resumed = b.ws(&root, Some("boothhub.json")).await;
    let answer = resumed.subscribe(&["all"], Some(("all", last))).await;
    assert_eq!(answer["type"], "subscribed", "{answer}");

    // The deadline is applied by the new timekeeper, once.
    let expired = b
        .wait_status(&root, &doomed, "EXPIRED", Duration::from_secs(20))
        .await;
    assert_eq!(expired["status"], "EXPIRED");
    let waited = killed.elapsed();
    assert!(
        waited < Duration::from_secs(20),
        "applied {waited:?} after the kill"
    );

    let quiet = Duration::from_secs(2);
    let (on_b, _) = drain(&mut dashboards[1], quiet).await;
    let (on_c, _) = drain(&mut dashboards[2], quiet).await;
    let (after, _) = drain(&mut resumed, quiet).await;
    let mut on_a = before.clone();
    on_a.extend(after);
    for (name, events) in [("b", &on_b), ("c", &on_c), ("a, resumed on b", &on_a)] {
        let seqs = seqs_of(events);
        let first = seqs[0];
        assert_eq!(
            seqs,
            (first..first + seqs.len() as u64).collect::<Vec<_>>(),
            "dashboard {name}: in order, no gap, no duplicate"
        );
    }
    assert_eq!(
        seqs_of(&on_b).last(),
        seqs_of(&on_a).last(),
        "all end at the head"
    );
    assert_eq!(
        seqs_of(&on_c).last(),
        seqs_of(&on_a).last(),
        "all end at the head"
    );
    for booking in &made {
        assert!(
            on_a.iter()
                .any(|e| e["booking_id"] == json!(booking) && e["event"] == "BOOKING_CREATED"),
            "{booking} was answered 201 and is pushed"
        );
    }
    let expiries = on_b
        .iter()
        .filter(|e| e["booking_id"] == json!(doomed) && e["event"] == "SESSION_EXPIRED")
        .count();
    assert_eq!(expiries, 1, "the deadline applied once");

    // The killed node comes back: it rejoins as a new member and serves again.
    a.restart();
    until_listed(&b, &root, &all, Duration::from_secs(10)).await;
    let (status, body) = a
        .get(&format!("/session/{doomed}/status"), Some(&root))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "EXPIRED");
}

/// A flagged payment refunded through two nodes at once: recorded once (the refund claims the
/// payment across nodes), the other answered 409.
#[tokio::test]
async fn one_refund_through_two_nodes_at_once_is_recorded_once() {
    if on_embedded_store() {
        return; // a cluster needs the CQL store
    }
    let keyspace = format!("it_{}", uuid::Uuid::new_v4().simple());
    let a = start_node(&keyspace, 17_431);
    let b = start_node(&keyspace, 17_432);
    let root = a.root().await;
    let outlet = a.outlet(&root, "Mall Cluster Refund").await;
    let (status, booking) = a.book(None, booking_body(&outlet.id, None, 30)).await;
    assert_eq!(status, StatusCode::CREATED, "{booking}");
    let mut wrong = payment(&booking, &uuid::Uuid::new_v4().to_string(), "SUCCESS");
    wrong["amount"] = json!(1);
    let (status, body) = a.webhook(&wrong).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    let (status, listed) = b
        .get(
            &format!("/payments?booking_id={}", id(&booking)),
            Some(&root),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{listed}");
    let path = format!("/payments/{}/refund", id(&listed["items"][0]));
    let (on_a, on_b) = tokio::join!(
        a.post(&path, Some(&root), json!({ "reason": "first" })),
        b.post(&path, Some(&root), json!({ "reason": "second" })),
    );
    let mut statuses = [on_a.0.as_u16(), on_b.0.as_u16()];
    statuses.sort_unstable();
    assert_eq!(statuses, [200, 409], "{on_a:?} {on_b:?}");
    let (_, audit) = b
        .get(
            &format!("/audit?booking_id={}&action=PAYMENT_REFUNDED", id(&booking)),
            Some(&root),
        )
        .await;
    assert_eq!(audit["items"].as_array().map(Vec::len), Some(1), "{audit}");
}
