//! Starts the real `boothhub serve` on 127.0.0.1:0 with a temp data dir, and talks to it over
//! HTTPS as clients do. The webhook is signed here with our own HMAC, as a provider would.
#![allow(
    clippy::disallowed_methods,
    reason = "tests read the wall clock and the environment"
)]

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use hmac::{Hmac, Mac};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sha2::Sha256;

pub const WEBHOOK_SECRET: &str = "whsec_integration_0123456789";
pub const ROOT_EMAIL: &str = "root@boothhub.test";
pub const ROOT_PASSWORD: &str = "root-password-1";

/// A running hub process and a client that trusts its certificate.
pub struct TestHub {
    pub data: tempfile::TempDir,
    pub addr: SocketAddr,
    pub client: reqwest::Client,
    child: Child,
    extra_env: Vec<(String, String)>,
    logs: Logs,
}

/// The hub's log lines (JSON), as they came.
type Logs = Arc<Mutex<Vec<Value>>>;

impl Drop for TestHub {
    fn drop(&mut self) {
        if std::thread::panicking() {
            // What went wrong inside the hub, for the failing test's output.
            for line in self
                .logs()
                .iter()
                .filter(|l| matches!(l["level"].as_str(), Some("WARN" | "ERROR")))
            {
                eprintln!("hub {}: {line}", self.addr);
            }
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        drop_keyspace(&self.extra_env);
    }
}

/// On the CQL backend each hub has a keyspace of its own; it goes with the hub, so that a
/// long suite does not fill the test server's memory with tables.
fn drop_keyspace(env: &[(String, String)]) {
    // The last setting of a key wins, as in the process environment (a test may override).
    let find = |key: &str| {
        env.iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
    };
    let (Some(nodes), Some(keyspace)) = (
        find("BOOTHHUB_SCYLLA_NODES"),
        find("BOOTHHUB_SCYLLA_KEYSPACE"),
    ) else {
        return;
    };
    let dropped = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .ok()?;
        runtime.block_on(async {
            let session = scylla::client::session_builder::SessionBuilder::new()
                .known_nodes(nodes.split(','))
                .build()
                .await
                .ok()?;
            session
                .query_unpaged(format!("DROP KEYSPACE IF EXISTS {keyspace}"), ())
                .await
                .ok()
        })
    });
    let _ = dropped.join();
}

/// The store the suite runs on: embedded, or with `BOOTHHUB_TEST_STORE=scylla` the CQL server
/// at `BOOTHHUB_TEST_SCYLLA_NODES`, on a fresh keyspace per hub.
fn store_env() -> Vec<(String, String)> {
    match std::env::var("BOOTHHUB_TEST_STORE").as_deref() {
        Ok("scylla") => {
            let nodes = std::env::var("BOOTHHUB_TEST_SCYLLA_NODES")
                .unwrap_or_else(|_| "127.0.0.1:9042".into());
            let keyspace = format!("it_{}", uuid::Uuid::new_v4().simple());
            vec![
                ("BOOTHHUB_STORE".into(), "scylla".into()),
                ("BOOTHHUB_SCYLLA_NODES".into(), nodes),
                ("BOOTHHUB_SCYLLA_KEYSPACE".into(), keyspace),
            ]
        }
        Ok("embedded") | Err(_) => vec![],
        Ok(other) => panic!("BOOTHHUB_TEST_STORE={other}: use embedded or scylla"),
    }
}

/// Whether the suite runs on the embedded store (a test that edits the store's file as an
/// operator's tool would is for that store only).
pub fn on_embedded_store() -> bool {
    store_env().is_empty()
}

pub fn binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_boothhub"))
}

fn spawn(data: &Path, extra_env: &[(String, String)], logs: Logs) -> (Child, SocketAddr) {
    let mut command = Command::new(binary());
    command
        .arg("serve")
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("BOOTHHUB_LISTEN", "127.0.0.1:0")
        .env("BOOTHHUB_DATA_DIR", data)
        .env(
            "BOOTHHUB_CONFIG",
            "/nonexistent-so-built-in-defaults-apply.toml",
        )
        .env("BOOTHHUB_LOG_FORMAT", "json")
        .env("BOOTHHUB_WEBHOOK_SECRET", WEBHOOK_SECRET)
        .env("BOOTHHUB_SUPER_ADMIN_EMAIL", ROOT_EMAIL)
        .env("BOOTHHUB_SUPER_ADMIN_PASSWORD", ROOT_PASSWORD)
        .env("RUST_LOG", "info")
        // Tests drive many requests from one IP and one booth; the protection tests set their own.
        .env("BOOTHHUB_RATE_BOOKING_BURST", "1000")
        .env("BOOTHHUB_RATE_LOGIN_BURST", "1000")
        .env("BOOTHHUB_RATE_ARRIVAL_BURST", "1000")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    // A missing config file named by BOOTHHUB_CONFIG is an error; point at an empty one.
    let config = data.join("empty.toml");
    std::fs::write(&config, "").expect("write empty config");
    command.env("BOOTHHUB_CONFIG", &config);
    for (key, value) in extra_env {
        command.env(key, value);
    }
    let mut child = command.spawn().expect("start boothhub");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut sent = false;
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            let entry = serde_json::from_str::<Value>(&line).unwrap_or_default();
            if !sent && entry["message"] == "listening" {
                let addr: SocketAddr = entry["addr"].as_str().unwrap_or("").parse().expect("addr");
                let _ = tx.send(addr);
                sent = true;
            }
            if std::env::var_os("BOOTHHUB_TEST_LOGS").is_some() {
                eprintln!("hub: {line}");
            }
            if let Ok(mut logs) = logs.lock() {
                logs.push(entry);
            }
        }
    });
    let addr = rx
        .recv_timeout(Duration::from_secs(60))
        .expect("the hub did not start listening");
    (child, addr)
}

fn client_for(data: &Path) -> reqwest::Client {
    let pem = std::fs::read(data.join("tls/cert.pem")).expect("generated cert");
    let cert = reqwest::Certificate::from_pem(&pem).expect("pem");
    reqwest::Client::builder()
        .add_root_certificate(cert)
        .tls_built_in_root_certs(false)
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client")
}

impl TestHub {
    pub fn start() -> TestHub {
        TestHub::start_with(&[])
    }

    pub fn start_with(env: &[(&str, &str)]) -> TestHub {
        let data = tempfile::tempdir().expect("temp dir");
        let mut extra_env = store_env();
        extra_env.extend(env.iter().map(|(k, v)| ((*k).into(), (*v).into())));
        let logs = Logs::default();
        let (child, addr) = spawn(data.path(), &extra_env, Arc::clone(&logs));
        let client = client_for(data.path());
        TestHub {
            data,
            addr,
            client,
            child,
            extra_env,
            logs,
        }
    }

    /// The user a login token belongs to (`GET /auth/me`).
    pub async fn me(&self, token: &str) -> Value {
        let (status, body) = self.get("/auth/me", Some(token)).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body["user"].clone()
    }

    /// The hub's log lines so far, each a JSON object.
    pub fn logs(&self) -> Vec<Value> {
        self.logs
            .lock()
            .map(|logs| logs.clone())
            .unwrap_or_default()
    }

    /// `kill -9` (SIGKILL: no shutdown path runs).
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM: the graceful shutdown path.
    pub fn terminate(&self) {
        self.signal("TERM");
    }

    /// Sends `signal` (`TERM`, `STOP`, `CONT`) to the hub's process.
    pub fn signal(&self, signal: &str) {
        let status = std::process::Command::new("kill")
            .args([&format!("-{signal}"), &self.child.id().to_string()])
            .status()
            .expect("kill");
        assert!(status.success(), "kill -{signal} failed");
    }

    /// The sum of the samples of `metric` (a name, or a name and its labels as Prometheus
    /// prints them) in `GET /metrics`.
    pub async fn metric(&self, metric: &str) -> f64 {
        let (status, page) = self.get("/metrics", None).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        page.as_str()
            .unwrap_or_default()
            .lines()
            .filter(|line| {
                line.strip_prefix(metric)
                    .is_some_and(|rest| rest.starts_with([' ', '{']))
            })
            .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    }

    /// Starts again on the same data dir.
    pub fn restart(&mut self) {
        let (child, addr) = spawn(self.data.path(), &self.extra_env, Arc::clone(&self.logs));
        self.child = child;
        self.addr = addr;
    }

    /// Asserts `/healthz` answers 200 on a new connection: after requests the hub refused
    /// without reading their bodies (and so closed), a pooled connection may still look
    /// open to the client.
    pub async fn assert_still_serves(&self) {
        let fresh = client_for(self.data.path());
        let health = fresh
            .get(self.url("/healthz"))
            .send()
            .await
            .expect("healthz");
        assert_eq!(health.status(), StatusCode::OK, "the hub still serves");
    }

    pub fn url(&self, path: &str) -> String {
        format!("https://localhost:{}{path}", self.addr.port())
    }

    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let (status, _, body) = self.call_full(method, path, token, body).await;
        (status, body)
    }

    /// As [`TestHub::call`], with the answer's headers.
    pub async fn call_full(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, reqwest::header::HeaderMap, Value) {
        let mut request = self.client.request(method, self.url(path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("request");
        let status = response.status();
        let headers = response.headers().clone();
        let text = response.text().await.unwrap_or_default();
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        (status, headers, body)
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> (StatusCode, Value) {
        self.call(Method::GET, path, token, None).await
    }

    pub async fn post(&self, path: &str, token: Option<&str>, body: Value) -> (StatusCode, Value) {
        self.call(Method::POST, path, token, Some(body)).await
    }

    pub async fn put(&self, path: &str, token: Option<&str>, body: Value) -> (StatusCode, Value) {
        self.call(Method::PUT, path, token, Some(body)).await
    }

    pub async fn login(&self, email: &str, password: &str) -> String {
        let (status, body) = self
            .post(
                "/auth/login",
                None,
                json!({ "email": email, "password": password }),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "login {email}: {body}");
        body["token"].as_str().expect("token").to_owned()
    }

    /// Logs the super admin in as the web UI does: the `Set-Cookie` header and the body.
    pub async fn login_with_cookie(&self) -> (String, Value) {
        let body = json!({ "email": ROOT_EMAIL, "password": ROOT_PASSWORD });
        let response = self
            .client
            .post(self.url("/auth/login"))
            .json(&body)
            .send()
            .await
            .expect("login");
        let cookie = response
            .headers()
            .get("set-cookie")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        (cookie, response.json().await.unwrap_or(Value::Null))
    }

    pub async fn root(&self) -> String {
        self.login(ROOT_EMAIL, ROOT_PASSWORD).await
    }

    /// A world: one outlet with one booth, and their tokens.
    pub async fn outlet(&self, root: &str, name: &str) -> Outlet {
        let (status, outlet) = self
            .post(
                "/outlets",
                Some(root),
                json!({ "name": name, "location": "Jakarta" }),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{outlet}");
        let id = outlet["id"].as_str().expect("id").to_owned();
        let booth = self.booth(root, &id, "Booth 1").await;
        let email = format!("admin-{}@boothhub.test", &id[24..]);
        let (status, admin) = self
            .post(
                "/admin-users",
                Some(root),
                json!({ "name": "Outlet Admin", "email": email, "password": "admin-password-1", "role": "admin", "outlet_id": id }),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{admin}");
        let admin_token = self.login(&email, "admin-password-1").await;
        Outlet {
            id,
            booth,
            admin: admin_token,
        }
    }

    pub async fn booth(&self, token: &str, outlet: &str, name: &str) -> Booth {
        let (status, booth) = self
            .post(
                "/booths",
                Some(token),
                json!({ "outlet_id": outlet, "name": name }),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{booth}");
        Booth {
            id: booth["id"].as_str().expect("id").into(),
            token: booth["token"].as_str().expect("token").into(),
        }
    }

    pub async fn book(&self, token: Option<&str>, body: Value) -> (StatusCode, Value) {
        self.post("/booking", token, body).await
    }

    /// Sends the payment webhook signed at `at`.
    pub async fn webhook_at(&self, body: &Value, at: i64, secret: &str) -> (StatusCode, Value) {
        let raw = serde_json::to_vec(body).expect("json");
        let signature = sign(secret.as_bytes(), at, &raw);
        self.webhook_raw(raw, Some(signature)).await
    }

    pub async fn webhook(&self, body: &Value) -> (StatusCode, Value) {
        self.webhook_at(body, Utc::now().timestamp(), WEBHOOK_SECRET)
            .await
    }

    pub async fn webhook_raw(
        &self,
        raw: Vec<u8>,
        signature: Option<String>,
    ) -> (StatusCode, Value) {
        let mut request = self
            .client
            .post(self.url("/payment/confirm"))
            .header("content-type", "application/json")
            .body(raw);
        if let Some(signature) = signature {
            request = request.header("x-signature", signature);
        }
        let response = request.send().await.expect("webhook");
        let status = response.status();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// Pays `booking` through the signed webhook and checks it is confirmed.
    pub async fn pay(&self, booking: &Value) {
        let (status, body) = self
            .webhook(&payment(
                booking,
                &uuid::Uuid::new_v4().to_string(),
                "SUCCESS",
            ))
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["booking_status"], "AWAITING_CUSTOMER");
    }

    /// Polls the booking's status until `want` or the deadline. A 503 (a node of a cluster
    /// taking the booking over, contract §8) must carry `Retry-After` and is asked again.
    pub async fn wait_status(&self, token: &str, id: &str, want: &str, within: Duration) -> Value {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let (status, headers, body) = self
                .call_full(
                    Method::GET,
                    &format!("/session/{id}/status"),
                    Some(token),
                    None,
                )
                .await;
            if status == StatusCode::SERVICE_UNAVAILABLE && tokio::time::Instant::now() < deadline {
                assert!(headers.contains_key("retry-after"), "{body}");
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
            assert_eq!(status, StatusCode::OK, "{body}");
            if body["status"] == want || tokio::time::Instant::now() > deadline {
                assert_eq!(body["status"], want, "waited {within:?}");
                return body;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

pub struct Outlet {
    pub id: String,
    pub booth: Booth,
    pub admin: String,
}

pub struct Booth {
    pub id: String,
    pub token: String,
}

pub fn sign(secret: &[u8], at: i64, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("key");
    mac.update(format!("{at}.").as_bytes());
    mac.update(body);
    format!("t={at},v1={}", hex::encode(mac.finalize().into_bytes()))
}

pub fn rfc3339(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// A booking request `minutes` from now.
pub fn booking_body(outlet: &str, booth: Option<&str>, minutes: i64) -> Value {
    let at = Utc::now() + chrono::Duration::minutes(minutes);
    booking_at(outlet, booth, at)
}

pub fn booking_at(outlet: &str, booth: Option<&str>, at: DateTime<Utc>) -> Value {
    let mut body = json!({
        "user": { "name": "Sari Dewi", "phone": "+62 812-3456-7890", "email": "sari@example.com" },
        "outlet_id": outlet,
        "booking_time": rfc3339(at),
        "amount": 50000,
    });
    if let Some(booth) = booth {
        body["booth_id"] = json!(booth);
    }
    body
}

/// A webhook body paying `booking` in full.
pub fn payment(booking: &Value, event_id: &str, status: &str) -> Value {
    json!({
        "event_id": event_id,
        "booking_id": booking["id"],
        "status": status,
        "amount": booking["amount"],
        "currency": "IDR",
        "paid_at": rfc3339(Utc::now()),
        "provider": { "channel": "qris" },
    })
}

pub fn id(value: &Value) -> String {
    value["id"].as_str().expect("id").to_owned()
}
