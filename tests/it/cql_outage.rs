//! The CQL backend survives its server going away: `/readyz` answers 503 and requests 503
//! while it is down, the hub reconnects by itself, and what was answered 2xx is still there.
//! Runs its own CQL server (scripts/cql-test-server) on other ports, to stop it at will.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use reqwest::StatusCode;

use crate::harness::*;

struct CqlServer {
    dir: PathBuf,
}

impl CqlServer {
    fn script() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scripts/cql-test-server")
    }

    fn run(&self, verb: &str) {
        let status = Command::new(Self::script())
            .args([verb, "--dir"])
            .arg(&self.dir)
            .args(["--port", "9043", "--storage-port", "7043"])
            .status()
            .expect("run scripts/cql-test-server");
        assert!(status.success(), "cql-test-server {verb} failed");
    }
}

impl Drop for CqlServer {
    fn drop(&mut self) {
        let _ = Command::new(Self::script())
            .args(["wipe", "--dir"])
            .arg(&self.dir)
            .status();
    }
}

async fn wait_ready(hub: &TestHub, want: StatusCode, within: Duration) {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let (status, _) = hub.get("/readyz", None).await;
        if status == want {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "/readyz stayed {status}, wanted {want}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn cql_outage_is_survived_without_losing_what_was_answered() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/cql-outage");
    let server = CqlServer { dir };
    server.run("start");
    let keyspace = format!("outage_{}", uuid::Uuid::new_v4().simple());
    let hub = TestHub::start_with(&[
        ("BOOTHHUB_STORE", "scylla"),
        ("BOOTHHUB_SCYLLA_NODES", "127.0.0.1:9043"),
        ("BOOTHHUB_SCYLLA_KEYSPACE", &keyspace),
    ]);
    let root = hub.root().await;
    let outlet = hub.outlet(&root, "Mall Outage").await;
    let (status, kept) = hub.book(None, booking_body(&outlet.id, None, 30)).await;
    assert_eq!(status, StatusCode::CREATED);

    server.run("stop");
    wait_ready(
        &hub,
        StatusCode::SERVICE_UNAVAILABLE,
        Duration::from_secs(15),
    )
    .await;
    let (status, body) = hub.book(None, booking_body(&outlet.id, None, 90)).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["error"]["code"], "UNAVAILABLE");
    let (status, _) = hub.get("/healthz", None).await;
    assert_eq!(status, StatusCode::OK, "the process still serves");

    server.run("start");
    wait_ready(&hub, StatusCode::OK, Duration::from_secs(60)).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let created = loop {
        let (status, body) = hub.book(None, booking_body(&outlet.id, None, 150)).await;
        if status == StatusCode::CREATED || tokio::time::Instant::now() > deadline {
            break (status, body);
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    assert_eq!(created.0, StatusCode::CREATED, "{}", created.1);
    let status = hub
        .wait_status(&root, &id(&kept), "PENDING_PAYMENT", Duration::ZERO)
        .await;
    assert_eq!(
        status["id"], kept["id"],
        "what was answered before the outage is there"
    );
}
