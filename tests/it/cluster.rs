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
    c.kill();
    let took = until_listed(&a, &root_a, &["127.0.0.1:17401"], Duration::from_secs(15)).await;
    assert!(took <= Duration::from_secs(15), "forgot after {took:?}");
    b.kill();
}

/// One booking, two nodes, the same scan on both at once: the booking is approved once (one
/// node's change is decided first; the other finds the booking changed, reads it again and
/// answers as one node would: a repeated scan), and its history holds one
/// `SESSION_APPROVED`.
#[tokio::test]
async fn the_same_scan_on_two_nodes_at_once_approves_once() {
    if on_embedded_store() {
        return; // a cluster needs the CQL store
    }
    let keyspace = format!("it_{}", uuid::Uuid::new_v4().simple());
    let a = start_node(&keyspace, 17_411);
    let b = start_node(&keyspace, 17_412);
    let root = a.root().await;
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
}
